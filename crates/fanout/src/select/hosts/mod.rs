//! Host selection: the pdsh/clush host-list syntax and its inverse.
//!
//! Design:
//! - A pattern such as `web[01-10,15]!web3,root@db[1-2]:2222,^more.txt` is
//!   parsed into **operands** and **operators** (`parse_expr`): an operand is
//!   a range item, `^FILE` or `@group`; the operators are ClusterShell's `,`
//!   (union; whitespace alone between two operands too, as pdsh), `!`
//!   (difference), `&` (intersection) and `^` (symmetric difference), with
//!   one precedence, evaluated left to right as `nodeset` does (`a,b!a` is
//!   `b`). Whitespace around operators and inside brackets is dropped
//!   (`n[ 9 - 11 ]`). Commas inside `[...]` are range lists.
//! - `^` and `@` are told apart by position: at the start of an operand
//!   (start of the pattern, or right after an operator) `^FILE` is a file
//!   and `@name` an inventory group (resolved by the caller's
//!   [`GroupHosts`]; [`no_groups`] refuses them); after an operand `^` is
//!   xor, and inside a word `@` is `user@`.
//! - pdsh filters are whole comma-separated items: `-ITEM` removes hosts as
//!   `-x ITEM` does, `/regex/` keeps only matching hosts, `-/regex/` removes
//!   them (`regex` crate; matched against the host name and the full
//!   `user@host:port`). A [`Selection`] keeps them aside and applies them to
//!   all its hosts in [`Selection::into_hosts`], as pdsh applies them to the
//!   whole target list.
//! - Each range item is expanded as the cartesian product of its bracket
//!   groups (leftmost group varies slowest, as pdsh and clush do), and only
//!   then is every resulting word split into `user@host:port`
//!   ([`parse_target`]), which refuses a character that cannot be in a host
//!   name (letters, digits, `-`, `.`, `_`), an IPv6 address or a user name
//!   ([`PatternError::BadChar`]): `h$x` fails here, not at DNS time. Sizes
//!   are computed before anything is materialised, so `h[0-99999999]` is
//!   rejected without allocating.
//! - A [`Selection`] is one run's hosts: every `-w`, `^FILE` line, `-w -`
//!   line ([`Selection::add_reader`]), group and `-a` goes through it, so
//!   the [`MAX_HOSTS`] cap holds for the whole run, not per flag. Each item
//!   is sized before it is expanded; only when that size would cross the
//!   cap are its words counted (one at a time, nothing kept) against the
//!   hosts already selected, so duplicates never fail a legal selection and
//!   the item that crosses is refused, by name, before it is expanded.
//!   Repeated items are skipped. A pattern with `!`, `&` or `^` is
//!   evaluated on its own and its result added as a whole.
//! - Set operations are hashed and cost the size of their operand: the
//!   selection keeps its hosts in one `IndexSet` (one copy, one hash per
//!   host), `!` and `^` mark removed positions dead, `&` rebuilds from the
//!   operand's hits, so 50,000 chained operands on 100,000 hosts take
//!   milliseconds, not minutes.
//! - `^FILE` items read one pattern per line (blank lines and `#` comments are
//!   ignored); files may include other files up to a small depth. Reads are
//!   bounded: [`MAX_LINE_BYTES`] per line, [`MAX_FILE_BYTES`] for all the
//!   files of a selection, so `^/dev/zero` fails at once with file and line.
//!   Errors quote at most 200 characters (`excerpt.rs`).
//! - `[::1]` is an IPv6 literal, not a range: a bracket group whose content is
//!   not made of digits, `-`, `,` and `/` but contains `:` is kept verbatim.
//! - [`exclude`] removes hosts given by another pattern (globs `*`/`?`,
//!   operators and `/regex/` allowed). A run of union items is looked up in
//!   a set of `(user, host, port)` keys (at most four lookups a host), so
//!   only glob items cost a match per host; the operand of `!`, `&`, `^` is
//!   looked up in an index of the hosts, built once.
//! - [`fold`] is the inverse used for headers and summaries, as `nodeset -f`:
//!   names are folded on every run of digits (`a[1-2]b[1-2]`), keeping zero
//!   padding, sorted naturally, and the folded text expands back to exactly
//!   the same hosts.

mod fold;
mod pattern;

pub use fold::{fold, natural_cmp};
pub use pattern::{
    GroupHosts, HostName, MAX_FILE_BYTES, MAX_GLOB_WORDS, MAX_HOSTS, MAX_LINE_BYTES, PatternError,
    Selection, check, exclude, exclude_with_groups, expand, expand_names, no_groups, parse_target,
    size,
};

#[cfg(test)]
mod scale {
    //! Issue 18: selections of 100,000 hosts. `scale_timings` is ignored by
    //! default; run it in release to print the timings of the README table:
    //! `cargo test --release -p netkit-fanout --lib -- --ignored scale_timings --nocapture`.

    use std::time::{Duration, Instant};

    use super::*;

    /// Median (and min) wall time of `f` over up to 5 runs; one run only
    /// when the first takes more than 2 s.
    fn time<T>(what: &str, mut f: impl FnMut() -> T) -> T {
        let mut times = Vec::new();
        let mut out = None;
        for _ in 0..5 {
            let start = Instant::now();
            let value = f();
            times.push(start.elapsed());
            out = Some(value);
            if times[0] > Duration::from_secs(2) {
                break;
            }
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{what:<62} median {:>9.1} ms  min {:>9.1} ms  ({} runs)",
            median.as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times.len()
        );
        out.unwrap()
    }

    fn strings(hosts: &[HostName]) -> Vec<String> {
        hosts.iter().map(ToString::to_string).collect()
    }

    #[test]
    #[ignore = "timings; run in release with --nocapture"]
    fn scale_timings() {
        let all = time("expand node[000001-100000]", || {
            expand("node[000001-100000]").unwrap()
        });
        assert_eq!(all.len(), 100_000);

        let kept = time("exclude -x node[000001-050000] (range)", || {
            exclude(all.clone(), "node[000001-050000]").unwrap()
        });
        assert_eq!(kept.len(), 50_000);

        let list = (1..=50_000)
            .map(|i| format!("node{:06}", 2 * i))
            .collect::<Vec<_>>()
            .join(",");
        let kept = time("exclude 50,000 names as a comma list", || {
            exclude(all.clone(), &list).unwrap()
        });
        assert_eq!(kept.len(), 50_000);
        assert_eq!(kept[0].host, "node000001");

        let kept = time("exclude -x 'node*7' (glob)", || {
            exclude(all.clone(), "node*7").unwrap()
        });
        assert_eq!(kept.len(), 90_000);

        let names = strings(&all);
        let folded = time("fold 100,000 names (one range)", || fold(&names));
        assert_eq!(folded, "node[000001-100000]");
        let sparse = strings(&kept);
        let folded = time("fold 90,000 names (10,001 ranges)", || fold(&sparse));
        assert_eq!(folded.matches(',').count(), 10_000);
        let mut shuffled = names.clone();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in (1..shuffled.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            shuffled.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        let folded = time("fold 100,000 names, shuffled", || fold(&shuffled));
        assert_eq!(folded, "node[000001-100000]");
        let plain: Vec<String> = (0..100_000).map(|i| format!("h{i}x{}", i % 7)).collect();
        let folded = time("fold 100,000 names, 100,000 prefixes", || fold(&plain));
        assert_eq!(folded.matches(',').count(), 99_999);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts.txt");
        std::fs::write(&file, names.join("\n") + "\n").unwrap();
        let from_file = time("expand ^FILE of 100,000 lines", || {
            expand(&format!("^{}", file.display())).unwrap()
        });
        assert_eq!(from_file, all);

        let users = expand("u[000001-100000]@h").unwrap();
        let kept = time(
            "exclude -x u[000001-050000]@h from u[000001-100000]@h",
            || exclude(users.clone(), "u[000001-050000]@h").unwrap(),
        );
        assert_eq!(kept.len(), 50_000);
        let ports = expand("h:[1-65535]").unwrap();
        let kept = time("exclude -x h:[1-32768] from h:[1-65535]", || {
            exclude(ports.clone(), "h:[1-32768]").unwrap()
        });
        assert_eq!(kept.len(), 32_767);

        // Issue 14: set operators, pdsh filters and -x operators on
        // 100,000 hosts, all hashed (one pass a set).
        let diff = time("-w 'node[000001-100000]!node[000001-050000]'", || {
            expand("node[000001-100000]!node[000001-050000]").unwrap()
        });
        assert_eq!(diff.len(), 50_000);
        assert_eq!(diff[0].host, "node050001");
        assert_eq!(diff[49_999].host, "node100000");
        let and = time("-w 'node[000001-100000]&node[050001-150000]'", || {
            expand("node[000001-100000]&node[050001-150000]").unwrap()
        });
        assert_eq!(and, diff);
        let xor = time("-w 'node[000001-100000]^node[050001-150000]'", || {
            expand("node[000001-100000]^node[050001-150000]").unwrap()
        });
        assert_eq!(xor.len(), 100_000);
        assert_eq!(xor[0].host, "node000001");
        assert_eq!(xor[49_999].host, "node050000");
        assert_eq!(xor[50_000].host, "node100001");
        assert_eq!(xor[99_999].host, "node150000");
        let odd = (1..=50_000)
            .map(|i| format!("node{:06}", 2 * i - 1))
            .collect::<Vec<_>>()
            .join(",");
        let even = time("-w 'node[000001-100000]!' + 50,000 names", || {
            expand(&format!("node[000001-100000]!{}", odd.replace(',', "!"))).unwrap()
        });
        assert_eq!(even.len(), 50_000);
        assert!(
            even.iter()
                .all(|h| h.host.ends_with(['0', '2', '4', '6', '8']))
        );
        let minus = time(
            "-w 'node[000001-100000],-node[000001-050000]' (pdsh)",
            || expand("node[000001-100000],-node[000001-050000]").unwrap(),
        );
        assert_eq!(minus, diff);
        let regex = time("-w 'node[000001-100000],/7$/' (pdsh regex)", || {
            expand("node[000001-100000],/7$/").unwrap()
        });
        assert_eq!(regex.len(), 10_000);
        assert!(regex.iter().all(|h| h.host.ends_with('7')));
        let kept = time(
            "exclude -x 'node*!' + 50,000 names (50,000 operators)",
            || exclude(all.clone(), &format!("node*!{}", odd.replace(',', "!"))).unwrap(),
        );
        assert_eq!(kept.len(), 50_000);
        assert!(
            kept.iter()
                .all(|h| h.host.ends_with(['1', '3', '5', '7', '9']))
        );
        let kept = time("exclude -x 'node*!node*7' (glob minus glob)", || {
            exclude(all.clone(), "node*!node*7").unwrap()
        });
        assert_eq!(kept, regex);
        let kept = time(
            "exclude -x 'node[000001-100000]&node[050001-150000]'",
            || exclude(all.clone(), "node[000001-100000]&node[050001-150000]").unwrap(),
        );
        assert_eq!(kept.len(), 50_000);
        assert_eq!(kept[49_999].host, "node050000");
        let kept = time(
            "exclude -x 'node[000001-060000]^node[040001-100000]'",
            || exclude(all.clone(), "node[000001-060000]^node[040001-100000]").unwrap(),
        );
        assert_eq!(kept.len(), 20_000);
        assert_eq!(kept[0].host, "node040001");
        let grid: Vec<String> = (1..=100)
            .flat_map(|a| (1..=1000).map(move |b| format!("r{a}n{b}")))
            .collect();
        let folded = time("fold 100,000 names on two digit groups", || fold(&grid));
        assert_eq!(folded, "r[1-100]n[1-1000]");

        let total = time(
            "total: -w node[000001-100000] -x node[000001-050000] -x 'node*7' + fold",
            || {
                let mut selection = Selection::new();
                selection.add("node[000001-100000]").unwrap();
                let hosts = selection.into_hosts();
                let hosts = exclude(hosts, "node[000001-050000]").unwrap();
                let hosts = exclude(hosts, "node*7").unwrap();
                fold(&strings(&hosts))
            },
        );
        assert!(total.starts_with("node[050001-050006,050008-"), "{total}");
    }
}
