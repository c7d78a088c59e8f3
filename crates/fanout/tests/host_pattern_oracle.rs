//! Oracle test: generated host patterns (fixed seed) expanded by
//! `netkit_fanout::hosts` and by the two peers ssh-fanout follows,
//! ClusterShell's `nodeset -e`/`-f` and `pdsh -w P -q` (which prints the
//! target list without connecting). CI installs both; a missing one fails
//! the test with a message saying so.
//!
//! To stay fast, patterns are batched: each pattern gets its own name space
//! (a `qXY-` prefix of letters), so one `nodeset -e P1 P2 ...` (which prints
//! the union of its arguments) or one `pdsh -w P1 -w P2 ...` holds many
//! patterns, and its output is split back by prefix. pdsh's `/regex/`
//! filters act on the whole target list, so those patterns run one pdsh
//! each.
//!
//! `HOSTS_ORACLE_PATTERNS=N` changes the number of patterns per family
//! (default 300); the figures are printed (`--nocapture`). Reproduce with
//! `cargo test -p netkit-fanout --test host_pattern_oracle -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use netkit_fanout::hosts::{self, HostName, Selection};
use netkit_testkit::rng::Rng;

/// The name space of pattern `i`: `qa-`, `qb-`, ... `qza-` (letters only,
/// so it adds no digit group to fold on).
fn space(i: usize) -> String {
    let mut letters = String::new();
    let mut n = i;
    loop {
        letters.insert(0, char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            break;
        }
        n -= 1;
    }
    format!("q{letters}-")
}

fn space_of(host: &str) -> &str {
    &host[..host.find('-').map_or(host.len(), |i| i + 1)]
}

/// What both peers accept: a prefix, then one or two bracket groups of
/// ranges (zero padding with equal widths, as nodeset requires), an
/// optional suffix.
struct Syntax {
    /// ClusterShell: whitespace inside brackets, steps.
    clustershell: bool,
    /// pdsh: padding widths that differ (`h[01-3]`).
    pdsh: bool,
    /// One bracket group a name: pdsh's regex filters miss names built
    /// from two (`-w 'a[1-2]-[9-10],/0/'` keeps `a1-9`).
    one_group: bool,
}

fn range(r: &mut Rng, syntax: &Syntax) -> String {
    let width = if r.chance(4) { 2 + r.below(2) } else { 0 };
    let lo = r.below(12) as u64;
    let hi = lo + r.below(8) as u64;
    let sp = |r: &mut Rng| {
        if syntax.clustershell && r.chance(6) {
            " "
        } else {
            ""
        }
    };
    let lo_text = format!("{lo:0width$}");
    let hi_width = if syntax.pdsh && width > 0 && r.chance(3) {
        0
    } else {
        width
    };
    let mut text = if lo == hi && r.chance(2) {
        lo_text
    } else {
        format!("{lo_text}{}-{}{hi:0hi_width$}", sp(r), sp(r))
    };
    if syntax.clustershell && lo != hi && r.chance(8) {
        text.push_str(&format!("/{}", 1 + r.below(3)));
    }
    format!("{}{text}{}", sp(r), sp(r))
}

fn operand(r: &mut Rng, ns: &str, syntax: &Syntax) -> String {
    let prefix = r.pick(&["n", "web", "r", "db-"]);
    let suffix = r.pick(&["", "", "", ".lab", "-e"]);
    let mut text = format!("{ns}{prefix}");
    let groups = if !syntax.one_group && r.chance(4) {
        2
    } else {
        1
    };
    for g in 0..groups {
        if g == 1 {
            text.push_str(r.pick(&["n", "-", "x"]));
        }
        if r.chance(6) {
            text.push_str(&r.below(20).to_string());
            continue;
        }
        let count = 1 + r.below(3);
        let ranges: Vec<String> = (0..count).map(|_| range(r, syntax)).collect();
        text.push_str(&format!("[{}]", ranges.join(",")));
    }
    text.push_str(suffix);
    text
}

/// A ClusterShell pattern: operands joined by `,` `!` `&` `^`, with
/// whitespace around operators now and then.
fn clustershell_pattern(r: &mut Rng, ns: &str) -> String {
    let syntax = Syntax {
        clustershell: true,
        pdsh: false,
        one_group: false,
    };
    let mut text = operand(r, ns, &syntax);
    for _ in 0..r.below(5) {
        let op = r.pick(&[",", ",", "!", "&", "^"]);
        let (before, after) = if r.chance(4) { (" ", " ") } else { ("", "") };
        text.push_str(&format!("{before}{op}{after}{}", operand(r, ns, &syntax)));
    }
    text
}

/// Whether the items of a pdsh pattern name some host twice: pdsh keeps
/// duplicates and `-ITEM` removes one of them only (`h1,-h1,h1` is `h1`),
/// while ssh-fanout selects each host once.
fn has_duplicates(items: &[String]) -> bool {
    let positive: Vec<&str> = items
        .iter()
        .filter(|i| !i.starts_with(['-', '/']))
        .map(String::as_str)
        .collect();
    let written: u64 = positive.iter().map(|i| hosts::size(i).unwrap()).sum();
    let distinct = hosts::expand(&positive.join(",")).unwrap().len() as u64;
    written != distinct
}

/// A pdsh pattern: items joined by `,`, some `-ITEM` exclusions, no host
/// named twice.
fn pdsh_pattern(r: &mut Rng, ns: &str, regex: bool) -> String {
    loop {
        let items = pdsh_items(r, ns, regex);
        if !has_duplicates(&items) {
            return items.join(",");
        }
    }
}

fn pdsh_items(r: &mut Rng, ns: &str, regex: bool) -> Vec<String> {
    let syntax = Syntax {
        clustershell: false,
        pdsh: true,
        one_group: regex,
    };
    let mut items = vec![operand(r, ns, &syntax)];
    // pdsh ignores an exclusion with two bracket groups
    // (`-w 'w[2-3]-6,-w[2-3]-[5-6]'` keeps both), so exclusions have one.
    let one = Syntax {
        one_group: true,
        ..syntax
    };
    for _ in 0..r.below(4) {
        items.push(if r.chance(3) {
            format!("-{}", operand(r, ns, &one))
        } else {
            operand(r, ns, &syntax)
        });
    }
    if regex {
        // ERE that Rust's regex crate reads the same way.
        let re = match r.below(7) {
            0 => format!("/{ns}n/"),
            1 => "/[13]$/".to_owned(),
            2 => format!("/^{ns}(web|r)/"),
            3 => "/(1|2)(\\.lab)?$/".to_owned(),
            4 => "/0/".to_owned(),
            5 => "/n[2-4]/".to_owned(),
            _ => "/e$".to_owned(),
        };
        let re = if r.chance(3) { format!("-{re}") } else { re };
        let at = r.below(items.len() + 1);
        items.insert(at, re);
    }
    items
}

fn ours(pattern: &str) -> BTreeSet<String> {
    hosts::expand_names(pattern)
        .unwrap_or_else(|e| panic!("ssh-fanout refused {pattern:?}: {e}"))
        .into_iter()
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let program = format!("{:?}", cmd.get_program());
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): this test compares with ClusterShell's nodeset and \
             pdsh; install them (apt-get install clustershell pdsh)"
        )
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `nodeset -e` of many patterns at once, split back by name space.
fn nodeset_expand(patterns: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut cmd = Command::new("nodeset");
    cmd.args(["-S", "\n", "-e", "--"]).args(patterns);
    let mut by_space: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for host in run(&mut cmd).lines().filter(|l| !l.is_empty()) {
        by_space
            .entry(space_of(host).to_owned())
            .or_default()
            .insert(host.to_owned());
    }
    by_space
}

/// pdsh's `-q` target list (`h[1-2,4],x[01-03]`), expanded by a small
/// reader of its own (pdsh prints one bracket group per name, with `N` and
/// `N-M` elements padded alike). `None` when pdsh truncated it (it prints
/// about 1 KiB of it at most).
fn pdsh_list(args: &[String]) -> Option<BTreeSet<String>> {
    let out = Command::new("pdsh")
        .args(["-R", "exec"])
        .args(args)
        .arg("-q")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run pdsh ({e}): this test compares with ClusterShell's nodeset and \
                 pdsh; install them (apt-get install clustershell pdsh)"
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("no remote hosts specified") {
        return Some(BTreeSet::new());
    }
    assert!(out.status.success(), "pdsh {args:?} failed: {stderr}");
    let out = String::from_utf8(out.stdout).unwrap();
    let list = out
        .split("-- Target nodes --")
        .nth(1)
        .unwrap_or_else(|| panic!("no target list in pdsh -q output: {out}"))
        .trim();
    if list.ends_with("[truncated]") {
        return None;
    }
    let mut hosts = BTreeSet::new();
    let mut item = String::new();
    let mut depth = 0;
    for c in list.chars().chain(std::iter::once(',')) {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                if !item.is_empty() {
                    pdsh_item(&std::mem::take(&mut item), &mut hosts);
                }
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    Some(hosts)
}

fn pdsh_targets(args: &[String]) -> BTreeSet<String> {
    pdsh_list(args).unwrap_or_else(|| panic!("pdsh truncated its list for {args:?}"))
}

/// `pdsh -w P1 -w P2 ... -q` split back by name space, halving the batch
/// while pdsh truncates its list; `None` for a pattern too long alone.
fn pdsh_batch(patterns: &[(usize, String)], out: &mut BTreeMap<usize, Option<BTreeSet<String>>>) {
    let args: Vec<String> = patterns
        .iter()
        .flat_map(|(_, p)| ["-w".to_owned(), p.clone()])
        .collect();
    match pdsh_list(&args) {
        Some(hosts) => {
            for (i, _) in patterns {
                out.insert(*i, Some(BTreeSet::new()));
            }
            let by_space: BTreeMap<String, usize> =
                patterns.iter().map(|(i, _)| (space(*i), *i)).collect();
            for host in hosts {
                let i = by_space[space_of(&host)];
                if let Some(Some(set)) = out.get_mut(&i) {
                    set.insert(host);
                }
            }
        }
        None if patterns.len() == 1 => {
            out.insert(patterns[0].0, None);
        }
        None => {
            let (a, b) = patterns.split_at(patterns.len() / 2);
            pdsh_batch(a, out);
            pdsh_batch(b, out);
        }
    }
}

fn pdsh_item(item: &str, hosts: &mut BTreeSet<String>) {
    let Some(open) = item.find('[') else {
        hosts.insert(item.to_owned());
        return;
    };
    let close = item.find(']').unwrap();
    let (prefix, inner, suffix) = (&item[..open], &item[open + 1..close], &item[close + 1..]);
    for element in inner.split(',') {
        let (lo, hi) = element.split_once('-').unwrap_or((element, element));
        let width = lo.len();
        let num = |t: &str| t.parse::<u64>().unwrap_or_else(|e| panic!("{item:?}: {e}"));
        for n in num(lo)..=num(hi) {
            hosts.insert(format!("{prefix}{n:0width$}{suffix}"));
        }
    }
}

fn patterns_per_family() -> usize {
    std::env::var("HOSTS_ORACLE_PATTERNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

#[test]
fn expansion_agrees_with_nodeset() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let n = patterns_per_family();
    let patterns: Vec<String> = (0..n)
        .map(|i| clustershell_pattern(&mut r, &space(i)))
        .collect();
    let mut theirs = BTreeMap::new();
    for chunk in patterns.chunks(100) {
        theirs.append(&mut nodeset_expand(chunk));
    }
    let mut agree = 0;
    let mut hosts = 0;
    let mut misses = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let want = theirs.remove(&space(i)).unwrap_or_default();
        let got = ours(pattern);
        hosts += want.len();
        if got == want {
            agree += 1;
        } else {
            misses.push(format!("{pattern:?}: ours {got:?}, nodeset {want:?}"));
        }
    }
    println!(
        "nodeset -e: {agree}/{n} patterns agree ({hosts} hosts in all, operators , ! & ^, \
         whitespace, steps)"
    );
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    assert!(hosts > n, "the patterns select hosts");
}

#[test]
fn expansion_agrees_with_pdsh() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let n = patterns_per_family();
    // Without regexes: batches of patterns, each in its name space.
    let patterns: Vec<(usize, String)> = (0..n)
        .map(|i| (i, pdsh_pattern(&mut r, &space(i), false)))
        .collect();
    let mut theirs = BTreeMap::new();
    for chunk in patterns.chunks(16) {
        pdsh_batch(chunk, &mut theirs);
    }
    let mut misses = Vec::new();
    let mut agree = 0;
    let mut too_long = 0;
    for (i, pattern) in &patterns {
        let Some(want) = theirs.remove(i).flatten() else {
            too_long += 1;
            continue;
        };
        let got = ours(pattern);
        if got == want {
            agree += 1;
        } else {
            misses.push(format!("{pattern:?}: ours {got:?}, pdsh {want:?}"));
        }
    }
    // With `/regex/` filters: one pdsh each (they filter every -w).
    let regex_count = n / 5;
    let mut regex_agree = 0;
    for i in 0..regex_count {
        let pattern = pdsh_pattern(&mut r, &space(i), true);
        let Some(want) = pdsh_list(&["-w".to_owned(), pattern.clone()]) else {
            too_long += 1;
            continue;
        };
        let got = ours(&pattern);
        if got == want {
            regex_agree += 1;
        } else {
            misses.push(format!("{pattern:?}: ours {got:?}, pdsh {want:?}"));
        }
    }
    // -x, against `pdsh -w P -x X`.
    let exclude_count = n / 5;
    let mut exclude_agree = 0;
    for i in 0..exclude_count {
        let ns = space(i);
        let pattern = pdsh_pattern(&mut r, &ns, true);
        let syntax = Syntax {
            clustershell: false,
            pdsh: true,
            one_group: true,
        };
        let x = if r.chance(3) {
            format!("{},/[24]$/", operand(&mut r, &ns, &syntax))
        } else {
            format!(
                "{},{}",
                operand(&mut r, &ns, &syntax),
                operand(&mut r, &ns, &syntax)
            )
        };
        let Some(want) = pdsh_list(&["-w".to_owned(), pattern.clone(), "-x".to_owned(), x.clone()])
        else {
            too_long += 1;
            continue;
        };
        let got: BTreeSet<String> = hosts::exclude(hosts::expand(&pattern).unwrap(), &x)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        if got == want {
            exclude_agree += 1;
        } else {
            misses.push(format!(
                "-w {pattern:?} -x {x:?}: ours {got:?}, pdsh {want:?}"
            ));
        }
    }
    println!(
        "pdsh -q: {agree}/{n} patterns agree (ranges, -ITEM), {regex_agree}/{regex_count} with \
         /regex/ filters, {exclude_agree}/{exclude_count} with -x; {too_long} skipped (pdsh \
         truncates lists over 1 KiB)"
    );
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    assert!(
        too_long < n / 10,
        "{too_long} patterns too long for pdsh -q"
    );
}

/// Host sets to fold: each generated pattern's hosts, and products of two
/// digit groups with holes.
fn fold_inputs(r: &mut Rng, n: usize) -> Vec<Vec<String>> {
    let mut inputs = Vec::new();
    for i in 0..n {
        let ns = space(i);
        let names: Vec<String> = if i % 2 == 0 {
            ours(&clustershell_pattern(r, &ns)).into_iter().collect()
        } else {
            let a = 1 + r.below(4);
            let b = 1 + r.below(4);
            let width = if r.chance(3) { 2 } else { 0 };
            let mut names = Vec::new();
            for x in 0..a {
                for y in 0..b {
                    if !r.chance(5) {
                        names.push(format!("{ns}a{x}b{:0width$}", y + 1));
                    }
                }
            }
            names
        };
        inputs.push(names);
    }
    inputs
}

#[test]
fn folding_agrees_with_nodeset() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    let n = patterns_per_family();
    let inputs = fold_inputs(&mut r, n);
    let mut theirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in inputs.chunks(100) {
        let args: Vec<String> = chunk
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| v.join(","))
            .collect();
        let mut cmd = Command::new("nodeset");
        cmd.args(["-f", "--"]).args(&args);
        let out = run(&mut cmd);
        // Split the folded list at top-level commas, by name space.
        let mut depth = 0;
        let mut group = String::new();
        for c in out.trim().chars().chain(std::iter::once(',')) {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ',' if depth == 0 => {
                    let g = std::mem::take(&mut group);
                    theirs.entry(space_of(&g).to_owned()).or_default().push(g);
                    continue;
                }
                _ => {}
            }
            group.push(c);
        }
    }
    let mut same_text = 0;
    let mut same_set = 0;
    let mut tried = 0;
    let mut misses = Vec::new();
    let mut differ = Vec::new();
    for (i, names) in inputs.iter().enumerate() {
        if names.is_empty() {
            continue;
        }
        tried += 1;
        let folded = hosts::fold(names);
        let want_text = theirs.remove(&space(i)).unwrap_or_default().join(",");
        let want: BTreeSet<String> = names.iter().cloned().collect();
        let back: BTreeSet<String> = ours(&folded);
        if back == want {
            same_set += 1;
        } else {
            misses.push(format!("{names:?}: folded {folded:?} expands to {back:?}"));
        }
        if folded == want_text {
            same_text += 1;
        } else if differ.len() < 5 {
            differ.push(format!("ours {folded:?}, nodeset -f {want_text:?}"));
        }
    }
    println!(
        "nodeset -f: {same_set}/{tried} folds expand back to the same hosts, {same_text}/{tried} \
         are nodeset's exact text; first differences:\n  {}",
        differ.join("\n  ")
    );
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// The peers disagree on a few inputs; ssh-fanout follows the one the
/// README names. Each case is checked against that peer here.
#[test]
fn where_the_peers_differ() {
    // `h[01-3]`: pdsh pads the end like the start, nodeset refuses it.
    assert_eq!(
        pdsh_targets(&["-w".to_owned(), "h[01-3]".to_owned()]),
        ours("h[01-3]")
    );
    // `h[1-5],-h3`: pdsh excludes, nodeset makes a host `-h3`.
    assert_eq!(
        pdsh_targets(&["-w".to_owned(), "h[1-5],-h3".to_owned()]),
        ours("h[1-5],-h3")
    );
    // `a,b!a`: nodeset's difference, pdsh a host `b!a`.
    assert_eq!(
        nodeset_expand(&["qa-a,qa-b!qa-a".to_owned()])["qa-"],
        ours("qa-a,qa-b!qa-a")
    );
    // `n[ 9 - 11 ]`: nodeset ignores the spaces, pdsh refuses them.
    assert_eq!(
        nodeset_expand(&["qa-n[ 9 - 11 ]".to_owned()])["qa-"],
        ours("qa-n[ 9 - 11 ]")
    );
    // `a b`: pdsh two hosts, nodeset one host `a b`.
    assert_eq!(
        pdsh_targets(&["-w".to_owned(), "a b".to_owned()]),
        ours("a b")
    );
    // `-ITEM` with two bracket groups: pdsh ignores it, ssh-fanout
    // excludes what it names (as `-x` does).
    assert_eq!(
        pdsh_targets(&["-w".to_owned(), "w[2-3]-6,-w[2-3]-[5-6]".to_owned()]),
        ["w2-6", "w3-6"].map(String::from).into()
    );
    assert!(ours("w[2-3]-6,w9,-w[2-3]-[5-6]") == ["w9".to_owned()].into());
    // `h$x`: both take it as a host name; ssh-fanout refuses it.
    assert!(matches!(
        hosts::expand("h$x"),
        Err(hosts::PatternError::BadChar { ch: '$', .. })
    ));
    // `-w -` reads the same lines as pdsh does from stdin.
    let input = "h1 h2,h3\nh[4-5]  # comment\nh6\n";
    let mut child = Command::new("pdsh")
        .args(["-R", "exec", "-w", "-", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let list = out
        .split("-- Target nodes --")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let mut want = BTreeSet::new();
    pdsh_item("h[1-6]", &mut want);
    assert_eq!(list, "h[1-6]");
    let mut selection = Selection::new();
    selection
        .add_reader("stdin", input.as_bytes(), &mut hosts::no_groups)
        .unwrap();
    let got: BTreeSet<String> = selection
        .into_hosts()
        .iter()
        .map(HostName::to_string)
        .collect();
    assert_eq!(got, want);
}
