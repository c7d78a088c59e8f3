//! Expansion of pdsh/clush host patterns into [`HostName`]s.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use indexmap::IndexSet;
use regex::Regex;

use crate::excerpt::excerpt;
use crate::wildcard::wildcard;

/// The most hosts a whole selection (every `-w`, `^FILE`, group and
/// inventory host of a run, duplicates removed) may hold.
pub const MAX_HOSTS: u64 = 1_000_000;

/// The longest line a `^FILE` may have, in bytes (as fetch-titles' lists).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The most bytes all the `^FILE`s of one selection may hold together.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// How deep `^FILE` items may include other `^FILE` items.
const MAX_FILE_DEPTH: usize = 8;

/// One target as written by the user: `[user@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostName {
    /// Login name given with `user@`, if any.
    pub user: Option<String>,
    /// Host name or address (IPv6 literals without brackets).
    pub host: String,
    /// Port given with `:port`, if any.
    pub port: Option<u16>,
}

impl HostName {
    /// A bare host name without user or port.
    pub fn new(host: impl Into<String>) -> Self {
        HostName {
            user: None,
            host: host.into(),
            port: None,
        }
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match self.port {
            Some(port) if self.host.contains(':') => write!(f, "[{}]:{port}", self.host),
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl std::str::FromStr for HostName {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_target(s)
    }
}

/// Why a host pattern could not be expanded. Quoted patterns are
/// excerpts: at most 200 characters of the text at fault.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// The pattern (or one item of it) is empty.
    #[error("empty host pattern")]
    Empty,
    /// `[` without its `]`.
    #[error("unclosed bracket in host pattern `{}`", excerpt(.0))]
    UnclosedBracket(String),
    /// `]` without a `[`.
    #[error("unexpected `]` in host pattern `{}`", excerpt(.0))]
    UnexpectedBracket(String),
    /// `[` inside `[...]`.
    #[error("nested brackets in host pattern `{}`", excerpt(.0))]
    NestedBracket(String),
    /// `[]` or an empty element such as `[1,,2]`.
    #[error("empty range in host pattern `{}`", excerpt(.0))]
    EmptyRange(String),
    /// A range element that is not `N`, `N-M` or `N-M/STEP`.
    #[error(
        "invalid range `{}` in host pattern `{}`",
        excerpt(range),
        excerpt(pattern)
    )]
    InvalidRange {
        /// The offending element.
        range: String,
        /// The whole item.
        pattern: String,
    },
    /// `N-M` with `N > M`.
    #[error("reversed range `{lo}-{hi}` in host pattern `{}`", excerpt(pattern))]
    ReversedRange {
        /// Start of the range.
        lo: u64,
        /// End of the range.
        hi: u64,
        /// The whole item.
        pattern: String,
    },
    /// One item alone would produce more than [`MAX_HOSTS`] hosts.
    #[error(
        "host pattern `{pattern}` expands to {} hosts, more than the {} a selection may hold",
        thousands(*count), thousands(*max)
    )]
    ItemTooLarge {
        /// The item (an excerpt).
        pattern: String,
        /// Its size as written (saturated at `u64::MAX`).
        count: u64,
        /// The cap ([`MAX_HOSTS`]).
        max: u64,
    },
    /// An item would take the selection past [`MAX_HOSTS`] hosts.
    #[error(
        "`{item}` would bring the selection to {} hosts ({} before it), more than the {} \
         a selection may hold",
        thousands(*total), thousands(*before), thousands(*max)
    )]
    TooManyHosts {
        /// The item that crossed the cap (an excerpt).
        item: String,
        /// Distinct hosts selected before it.
        before: u64,
        /// Distinct hosts with it.
        total: u64,
        /// The cap ([`MAX_HOSTS`]).
        max: u64,
    },
    /// `host:port` where port is not 1..=65535.
    #[error("invalid port in `{}`", excerpt(.0))]
    InvalidPort(String),
    /// `user@` or `@host` with an empty side, or a host that is empty.
    #[error("invalid host `{}`", excerpt(.0))]
    InvalidHost(String),
    /// A `^FILE` could not be read.
    #[error("cannot read host file {}: {source}", excerpt(&path.to_string_lossy()))]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a `^FILE` is not a valid pattern.
    #[error("{}:{line}: {source}", excerpt(&path.to_string_lossy()))]
    InFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        #[source]
        source: Box<PatternError>,
    },
    /// A `^FILE` line longer than [`MAX_LINE_BYTES`].
    #[error("line longer than {} KiB", MAX_LINE_BYTES / 1024)]
    LineTooLong,
    /// The `^FILE`s of one selection hold more than [`MAX_FILE_BYTES`].
    #[error("host files hold more than {} MiB in all", max / (1024 * 1024))]
    FilesTooLarge {
        /// The cap in bytes ([`MAX_FILE_BYTES`]).
        max: u64,
    },
    /// A `^FILE` line that is not UTF-8.
    #[error("line is not valid UTF-8")]
    NotUtf8,
    /// `^FILE` items nested too deeply (probably a loop).
    #[error("host files nested more than {MAX_FILE_DEPTH} deep at {}", excerpt(&.0.to_string_lossy()))]
    FileDepth(PathBuf),
    /// A character that cannot be part of a host name, user name or IPv6
    /// address, such as `$` in `h$x` or `;`.
    #[error(
        "invalid character {ch:?} in {what} `{}` ({})",
        excerpt(word),
        allowed(what)
    )]
    BadChar {
        /// The character.
        ch: char,
        /// `host name`, `user name` or `IPv6 address`.
        what: &'static str,
        /// The word it is in (an excerpt).
        word: String,
    },
    /// An operator (`!`, `&`, `^`, or `-` for a pdsh exclusion) without
    /// the operand it needs.
    #[error("`{op}` needs a host pattern after it in `{}`", excerpt(pattern))]
    MissingOperand {
        /// The operator.
        op: char,
        /// The whole pattern.
        pattern: String,
    },
    /// A pdsh filter (`-ITEM`, `/regex/`, `-/regex/`) next to `!`, `&` or
    /// `^`: filters are whole comma-separated items.
    #[error(
        "`{}` is a pdsh filter and must be a whole comma-separated item (not an operand of \
         `!`, `&` or `^`) in `{}`",
        excerpt(item),
        excerpt(pattern)
    )]
    FilterPlacement {
        /// The filter item.
        item: String,
        /// The whole pattern.
        pattern: String,
    },
    /// `-ITEM` or `-/regex/` in `-x`, where every item already excludes.
    #[error("`{}`: -x items already exclude; drop the `-`", excerpt(.0))]
    ExclusionInExclude(String),
    /// A `/regex/` that does not compile.
    #[error("invalid regex `/{}/`: {message}", excerpt(regex))]
    Regex {
        /// The regex as written (without its slashes).
        regex: String,
        /// The regex crate's explanation.
        message: String,
    },
    /// `@group` where no inventory groups can be resolved.
    #[error("`@{}`: inventory groups cannot be used here", excerpt(.0))]
    NoGroups(String),
    /// `@group` that the inventory could not resolve.
    #[error("`@{}`: {message}", excerpt(name))]
    Group {
        /// The group name.
        name: String,
        /// Why it could not be resolved (names the inventory).
        message: String,
    },
}

/// What a [`PatternError::BadChar`] word may hold.
fn allowed(what: &str) -> &'static str {
    match what {
        "host name" => {
            "a host name holds letters, digits, `-`, `.` and `_`, and does not start with `-`"
        }
        "IPv6 address" => "an IPv6 address holds hex digits, `:` and `.`, then `%ZONE`",
        _ => {
            "a user name holds no whitespace and none of ' \" ` ; & < > | ( ) { } , ! ^ * ? [ ] / # :, \
             and does not start with `-` or `@`"
        }
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Expands a host pattern into targets, in order, without duplicates.
///
/// Accepts `host[0-7]`, `web[01-10,15]`, `rack[1-2]-node[1-3]`, `h[1-9/2]`,
/// comma (or whitespace) separated lists, `user@host:port`, `[::1]:2222`,
/// `^FILE`, the ClusterShell operators `!` `&` `^` (left to right:
/// `a,b!a` is `b`) and the pdsh filters `-ITEM`, `/regex/` and `-/regex/`.
/// `@group` needs a [`Selection::add_with_groups`].
///
/// The pattern alone is a selection: see [`Selection`] for the caps. A run
/// adds all its patterns to one [`Selection`] instead.
pub fn expand(pattern: &str) -> Result<Vec<HostName>, PatternError> {
    let mut selection = Selection::new();
    selection.add(pattern)?;
    Ok(selection.into_hosts())
}

/// How many hosts `pattern` names as written (duplicates included), from
/// its range sizes alone: nothing is expanded. `^FILE` items count 0 (their
/// size is only known by reading them).
pub fn size(pattern: &str) -> Result<u64, PatternError> {
    let mut total = 0u64;
    for piece in parse_expr(pattern)? {
        if let Piece::Term(_, Operand::Item(item)) = piece {
            total = total.saturating_add(item_size(&parse_item(&item)?));
        }
    }
    Ok(total)
}

/// Checks every word of `pattern` as [`expand`] would, without keeping
/// any: an item naming more than [`MAX_HOSTS`] fails as it would there.
/// `^FILE` items are not read (their file is read when the pattern is
/// expanded). Inventory groups are checked this way at load time.
pub fn check(pattern: &str) -> Result<(), PatternError> {
    let pieces = parse_expr(pattern)?;
    if pieces.is_empty() {
        return Err(PatternError::Empty);
    }
    for piece in &pieces {
        match piece {
            Piece::Term(_, Operand::Group(name)) | Piece::Exclude(Operand::Group(name)) => {
                return Err(PatternError::NoGroups(name.clone()));
            }
            Piece::Term(_, Operand::Item(item)) | Piece::Exclude(Operand::Item(item))
                if !is_glob(item) =>
            {
                let (segments, _) = sized_item(item, MAX_HOSTS)?;
                for_each_word(&segments, |word| parse_target(word).map(drop))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// How `@group` operands are resolved: the group's hosts, or why not.
/// [`Selection::add`] and [`exclude`] use [`no_groups`].
pub type GroupHosts<'a> = dyn FnMut(&str) -> Result<Vec<HostName>, PatternError> + 'a;

/// The [`GroupHosts`] of a selection without an inventory: every `@group`
/// is [`PatternError::NoGroups`].
pub fn no_groups(name: &str) -> Result<Vec<HostName>, PatternError> {
    Err(PatternError::NoGroups(name.to_owned()))
}

/// Whether an item is a `-x` glob (`*` or `?`).
fn is_glob(item: &str) -> bool {
    item.contains(['*', '?'])
}

/// [`expand`], rendered back to strings with [`HostName`]'s `Display`.
pub fn expand_names(pattern: &str) -> Result<Vec<String>, PatternError> {
    Ok(expand(pattern)?.iter().map(ToString::to_string).collect())
}

/// The most globs one `-x` item may expand to (`web[1-4096]*`): each is
/// tried on every selected host.
pub const MAX_GLOB_WORDS: u64 = 4096;

/// Removes from `hosts` every host matched by `pattern`.
///
/// Items with `*` or `?` are globs matched against the host name and against
/// the full `user@host:port` form; other items are expanded like [`expand`].
/// An excluded item without user or port matches any user or port; one with
/// a port only that port, one with a user only that user. `/regex/` items
/// remove the hosts the regex matches (pdsh). Operators combine what the
/// items match, left to right: `-x 'web*!web1'` removes every `web*` host
/// but `web1`.
///
/// Literal items are looked up, not compared: each host costs at most four
/// hash lookups (its exact form, without its user, without its port, bare),
/// so excluding `m` names from `n` hosts is O(n + m), whatever users and
/// ports they carry. Only glob items are matched host by host, and each
/// `!`, `&` or `^` costs one more pass over the hosts.
pub fn exclude(hosts: Vec<HostName>, pattern: &str) -> Result<Vec<HostName>, PatternError> {
    exclude_with_groups(hosts, pattern, &mut no_groups)
}

/// [`exclude`], with `@group` operands resolved by `groups`.
pub fn exclude_with_groups(
    mut hosts: Vec<HostName>,
    pattern: &str,
    groups: &mut GroupHosts<'_>,
) -> Result<Vec<HostName>, PatternError> {
    let pieces = parse_expr(pattern)?;
    if pieces.is_empty() {
        return Err(PatternError::Empty);
    }
    // What the pieces so far remove (positions in `hosts`), and the run
    // of union operands since the last other operator (one set lookup per
    // host for the whole run). Each other operator costs what its operand
    // matches, not a pass over the hosts.
    let mut removed: HashSet<usize> = HashSet::new();
    let mut run = ExclusionBuilder::new(Selection::new());
    let mut index = HostIndex::default();
    let mut regexes = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Term(Op::Union, operand) => run.add(&operand, 0, groups)?,
            Piece::Term(op, operand) => {
                let left = std::mem::replace(&mut run, ExclusionBuilder::new(Selection::new()));
                removed.extend(left.finish().matching(&hosts, &mut index));
                let mut right = ExclusionBuilder::new(Selection::new());
                right.add(&operand, 0, groups)?;
                let right = right.finish().matching(&hosts, &mut index);
                match op {
                    Op::Union => removed.extend(right),
                    Op::Difference => {
                        for i in right {
                            removed.remove(&i);
                        }
                    }
                    Op::Intersection => {
                        removed = right.into_iter().filter(|i| removed.contains(i)).collect();
                    }
                    Op::Xor => {
                        for i in right {
                            if !removed.remove(&i) {
                                removed.insert(i);
                            }
                        }
                    }
                }
            }
            Piece::Keep(regex) => regexes.push(regex),
            Piece::Drop(regex) => {
                return Err(PatternError::ExclusionInExclude(format!(
                    "-/{}/",
                    regex.as_str()
                )));
            }
            Piece::Exclude(operand) => {
                return Err(PatternError::ExclusionInExclude(format!(
                    "-{}",
                    operand_text(&operand)
                )));
            }
        }
    }
    removed.extend(run.finish().matching(&hosts, &mut index));
    let mut position = 0;
    hosts.retain(|h| {
        let gone = removed.contains(&position) || regexes.iter().any(|r| regex_matches(r, h));
        position += 1;
        !gone
    });
    Ok(hosts)
}

/// Positions of hosts by the four forms a literal `-x` item can name
/// (exact, user and host, host and port, host alone), built on first use.
#[derive(Default)]
struct HostIndex<'a> {
    built: bool,
    exact: HashMap<Key<'a>, Vec<usize>>,
    user: HashMap<(&'a str, &'a str), Vec<usize>>,
    port: HashMap<(&'a str, u16), Vec<usize>>,
    bare: HashMap<&'a str, Vec<usize>>,
}

impl<'a> HostIndex<'a> {
    fn build(&mut self, hosts: &'a [HostName]) {
        if self.built {
            return;
        }
        self.built = true;
        for (i, h) in hosts.iter().enumerate() {
            let (user, host, port) = (h.user.as_deref(), h.host.as_str(), h.port);
            self.exact.entry((user, host, port)).or_default().push(i);
            if let Some(user) = user {
                self.user.entry((user, host)).or_default().push(i);
            }
            if let Some(port) = port {
                self.port.entry((host, port)).or_default().push(i);
            }
            self.bare.entry(host).or_default().push(i);
        }
    }

    /// The hosts an item matches: its user and port, where it has them,
    /// must be theirs.
    fn lookup<'s>(&'s self, x: &'s HostName) -> &'s [usize] {
        let found = match (x.user.as_deref(), x.port) {
            (Some(user), Some(port)) => self.exact.get(&(Some(user), x.host.as_str(), Some(port))),
            (Some(user), None) => self.user.get(&(user, x.host.as_str())),
            (None, Some(port)) => self.port.get(&(x.host.as_str(), port)),
            (None, None) => self.bare.get(x.host.as_str()),
        };
        found.map_or(&[], Vec::as_slice)
    }
}

/// An operand as written.
fn operand_text(operand: &Operand) -> String {
    match operand {
        Operand::Item(item) => item.clone(),
        Operand::File(path) => format!("^{path}"),
        Operand::Group(name) => format!("@{name}"),
    }
}

/// Whether a `/regex/` matches a host: its name, or its full
/// `user@host:port` form.
fn regex_matches(regex: &Regex, h: &HostName) -> bool {
    regex.is_match(&h.host)
        || ((h.user.is_some() || h.port.is_some()) && regex.is_match(&h.to_string()))
}

/// What an exclusion removes (a pdsh `-ITEM`, or one run of `-x` items):
/// literal hosts, looked up in a set, and globs.
#[derive(Debug, Default)]
struct Exclusion {
    literals: Vec<HostName>,
    globs: Vec<Glob>,
}

impl Exclusion {
    fn is_empty(&self) -> bool {
        self.literals.is_empty() && self.globs.is_empty()
    }

    /// Adds what `other` removes.
    fn merge(&mut self, other: Exclusion) {
        self.literals.extend(other.literals);
        self.globs.extend(other.globs);
    }

    /// The positions of the hosts it matches: looked up item by item when
    /// it is all literals and fewer than the hosts, else one pass.
    fn matching<'a>(&self, hosts: &'a [HostName], index: &mut HostIndex<'a>) -> Vec<usize> {
        if self.is_empty() {
            return Vec::new();
        }
        if self.globs.is_empty() && self.literals.len() < hosts.len() / 4 {
            index.build(hosts);
            let mut found: Vec<usize> = self
                .literals
                .iter()
                .flat_map(|x| index.lookup(x).iter().copied())
                .collect();
            found.sort_unstable();
            found.dedup();
            return found;
        }
        self.marks(hosts)
            .into_iter()
            .enumerate()
            .filter_map(|(i, gone)| gone.then_some(i))
            .collect()
    }

    /// Which of `hosts` it matches.
    fn marks(&self, hosts: &[HostName]) -> Vec<bool> {
        if self.literals.is_empty() && self.globs.is_empty() {
            return vec![false; hosts.len()];
        }
        let literal = Literals::new(&self.literals);
        hosts
            .iter()
            .map(|h| {
                if literal.matches(h) {
                    return true;
                }
                if self.globs.is_empty() {
                    return false;
                }
                // The full form is the host name alone without user or port.
                let display = (h.user.is_some() || h.port.is_some()).then(|| h.to_string());
                self.globs.iter().any(|g| {
                    g.matches(&h.host) || display.as_deref().is_some_and(|full| g.matches(full))
                })
            })
            .collect()
    }
}

/// An [`Exclusion`] being built: literal operands are expanded into a
/// [`Selection`] (so its caps hold), globs are kept aside.
struct ExclusionBuilder {
    exact: Selection,
    globs: Vec<Glob>,
}

impl ExclusionBuilder {
    fn new(exact: Selection) -> Self {
        ExclusionBuilder {
            exact,
            globs: Vec::new(),
        }
    }

    fn add(
        &mut self,
        operand: &Operand,
        depth: usize,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        match operand {
            Operand::Item(item) if is_glob(item) => {
                // `node0[0-4]*`: the ranges are expanded first, then each
                // word is a glob (node00* ... node04*). Each glob is tried
                // on every host, so their number is capped.
                let (segments, _) = sized_item(item, MAX_GLOB_WORDS)?;
                for_each_word(&segments, |word| {
                    self.globs.push(Glob::new(word));
                    Ok(())
                })
            }
            operand => self.exact.add_operand(operand, depth, groups),
        }
    }

    /// The exclusion, and the selection its literals were expanded in
    /// (which holds the `^FILE` bytes read).
    fn finish(self) -> Exclusion {
        self.finish_with_budget().0
    }

    fn finish_with_budget(self) -> (Exclusion, u64) {
        let bytes = self.exact.file_bytes;
        let exclusion = Exclusion {
            literals: self.exact.into_hosts(),
            globs: self.globs,
        };
        (exclusion, bytes)
    }
}

/// `(user, host, port)` as a hash key borrowing from a [`HostName`].
type Key<'a> = (Option<&'a str>, &'a str, Option<u16>);

/// The literal (non-glob) items of an exclusion, as a set of their exact
/// forms, and which forms occur (so a host only looks up those).
struct Literals<'a> {
    set: HashSet<Key<'a>>,
    /// Some item has a user and a port / a user only / a port only / neither.
    both: bool,
    user: bool,
    port: bool,
    bare: bool,
}

impl<'a> Literals<'a> {
    fn new(excluded: &'a [HostName]) -> Self {
        let mut literals = Literals {
            set: HashSet::with_capacity(excluded.len()),
            both: false,
            user: false,
            port: false,
            bare: false,
        };
        for x in excluded {
            match (&x.user, x.port) {
                (Some(_), Some(_)) => literals.both = true,
                (Some(_), None) => literals.user = true,
                (None, Some(_)) => literals.port = true,
                (None, None) => literals.bare = true,
            }
            literals
                .set
                .insert((x.user.as_deref(), x.host.as_str(), x.port));
        }
        literals
    }

    /// Whether some item matches `h`: an item's user and port, where it
    /// has them, must be `h`'s.
    fn matches(&self, h: &HostName) -> bool {
        if self.set.is_empty() {
            return false;
        }
        let (user, host, port) = (h.user.as_deref(), h.host.as_str(), h.port);
        let has = |key: Key<'_>| self.set.contains(&key);
        (self.bare && has((None, host, None)))
            || (self.user && user.is_some() && has((user, host, None)))
            || (self.port && port.is_some() && has((None, host, port)))
            || (self.both && user.is_some() && port.is_some() && has((user, host, port)))
    }
}

/// A glob item, split once into what the wildcard match compares.
#[derive(Debug)]
struct Glob {
    pattern: String,
    chars: Vec<char>,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.to_owned(),
            chars: pattern.chars().collect(),
        }
    }

    fn matches(&self, text: &str) -> bool {
        if self.pattern.is_ascii() && text.is_ascii() {
            wildcard(self.pattern.as_bytes(), text.as_bytes(), b'*', b'?')
        } else {
            let text: Vec<char> = text.chars().collect();
            wildcard(&self.chars, &text, '*', '?')
        }
    }
}

/// Parses one expanded word as `[user@]host[:port]`, `[v6]:port` or a bare IPv6.
pub fn parse_target(word: &str) -> Result<HostName, PatternError> {
    let invalid = || PatternError::InvalidHost(word.to_owned());
    let (user, rest) = match word.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (Some(user.to_owned()), rest),
        Some(_) => return Err(invalid()),
        None => (None, word),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(invalid)?;
        match after {
            "" => (host, None),
            _ => {
                let port = after.strip_prefix(':').ok_or_else(invalid)?;
                (host, Some(port))
            }
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(invalid());
    }
    if let Some(user) = &user {
        check_user(user, word)?;
    }
    check_host(host, word)?;
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(PatternError::InvalidPort(word.to_owned())),
        },
        None => None,
    };
    Ok(HostName {
        user,
        host: host.to_owned(),
        port,
    })
}

/// A character of a host name: a letter, a digit, `-`, `.` or `_`.
fn host_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '.' | '_')
}

/// Characters a user name may not hold: OpenSSH's `valid_ruser` set,
/// whitespace, and the pattern syntax.
fn bad_user_char(c: char) -> bool {
    c.is_whitespace() || c.is_control() || "'\"`;&<>|(){},!^*?[]/#:".contains(c)
}

fn bad_char(ch: char, what: &'static str, word: &str) -> PatternError {
    PatternError::BadChar {
        ch,
        what,
        word: excerpt(word).into_owned(),
    }
}

/// A host name ([`host_char`]s, not starting with `-`), or an IPv6
/// address (hex digits, `:`, `.`, then an optional `%zone`).
fn check_host(host: &str, word: &str) -> Result<(), PatternError> {
    if host.contains(':') {
        let (address, zone) = host.split_once('%').unwrap_or((host, ""));
        if let Some(c) = address
            .chars()
            .find(|&c| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
        {
            return Err(bad_char(c, "IPv6 address", word));
        }
        if host.contains('%') && zone.is_empty() {
            return Err(bad_char('%', "IPv6 address", word));
        }
        if let Some(c) = zone.chars().find(|&c| !host_char(c)) {
            return Err(bad_char(c, "IPv6 address", word));
        }
        return Ok(());
    }
    if let Some(c) = host.chars().find(|&c| !host_char(c)) {
        return Err(bad_char(c, "host name", word));
    }
    if host.starts_with('-') {
        return Err(bad_char('-', "host name", word));
    }
    Ok(())
}

fn check_user(user: &str, word: &str) -> Result<(), PatternError> {
    if let Some(c) = user.chars().find(|&c| bad_user_char(c)) {
        return Err(bad_char(c, "user name", word));
    }
    // `-user@h` would read as a pdsh exclusion and `@x@h` as a group, so a
    // folded list holding them would not expand back.
    if let Some(c) = user.chars().next().filter(|c| matches!(c, '-' | '@')) {
        return Err(bad_char(c, "user name", word));
    }
    Ok(())
}

/// A host selection being built: every `-w` pattern, `^FILE` line, group and
/// inventory host of one run goes through one `Selection`, which keeps them
/// in order without duplicates and holds the whole selection to
/// [`MAX_HOSTS`].
///
/// Each item is sized before it is expanded (the product of its range
/// sizes, as written). When that size would take the selection past the
/// cap, its words are first counted against the hosts already selected
/// (without keeping them), so duplicates never make a legal selection fail
/// and an item that does cross the cap is refused before it is expanded. An
/// item identical to one already expanded adds nothing and is skipped. All
/// `^FILE` reads of a selection together are held to [`MAX_FILE_BYTES`].
#[derive(Debug)]
pub struct Selection {
    /// [`MAX_HOSTS`], smaller in tests.
    max_hosts: u64,
    /// [`MAX_FILE_BYTES`], smaller in tests.
    max_file_bytes: u64,
    /// The hosts in order, each once (one copy, hashed once).
    hosts: IndexSet<HostName>,
    /// Items already expanded: the same text again adds no host.
    done: HashSet<String>,
    /// Bytes read from `^FILE`s so far.
    file_bytes: u64,
    /// Positions in `hosts` removed by `!`, `&` or `^` while a pattern is
    /// evaluated (a host added again comes back at its place).
    dead: HashSet<usize>,
    /// The pdsh `/regex/` and `-/regex/` filters of every pattern added,
    /// applied by [`Selection::into_hosts`].
    filters: Vec<Filter>,
    /// Every pdsh `-ITEM` of every pattern added, as one exclusion.
    exclusion: Exclusion,
}

/// A pdsh regex filter of a [`Selection`].
#[derive(Debug)]
enum Filter {
    /// `/regex/`: keep the hosts it matches.
    Keep(Regex),
    /// `-/regex/`: remove the hosts it matches.
    Drop(Regex),
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            max_hosts: MAX_HOSTS,
            max_file_bytes: MAX_FILE_BYTES,
            hosts: IndexSet::new(),
            done: HashSet::new(),
            file_bytes: 0,
            dead: HashSet::new(),
            filters: Vec::new(),
            exclusion: Exclusion::default(),
        }
    }
}

impl Selection {
    /// An empty selection.
    pub fn new() -> Self {
        Selection::default()
    }

    /// An empty selection with smaller caps, so tests stay small.
    #[cfg(test)]
    fn with_caps(max_hosts: u64, max_file_bytes: u64) -> Self {
        Selection {
            max_hosts,
            max_file_bytes,
            ..Selection::default()
        }
    }

    /// Adds the hosts of `pattern` (see [`expand`]); `@group` operands are
    /// refused ([`no_groups`]).
    pub fn add(&mut self, pattern: &str) -> Result<(), PatternError> {
        self.add_pattern(pattern, 0, &mut no_groups)
    }

    /// Adds the hosts of `pattern`, with `@group` operands resolved by
    /// `groups`.
    pub fn add_with_groups(
        &mut self,
        pattern: &str,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        self.add_pattern(pattern, 0, groups)
    }

    /// Adds every line of `reader` as a pattern, as the lines of a
    /// `^FILE` are (pdsh's `-w -` reads stdin this way: one or more hosts
    /// a line, `#` comments). `name` stands for the file in errors
    /// (`stdin:3: ...`).
    pub fn add_reader(
        &mut self,
        name: &str,
        reader: impl Read,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        self.add_lines(Path::new(name), reader, 0, groups)
    }

    /// Adds hosts already expanded elsewhere (inventory groups and `-a`),
    /// refusing them all, before adding any, if the new ones would take the
    /// selection past [`MAX_HOSTS`]. `what` names them in the error.
    pub fn add_hosts(&mut self, what: &str, hosts: Vec<HostName>) -> Result<(), PatternError> {
        let before = self.len();
        let new = hosts.iter().filter(|h| !self.has(h)).count() as u64;
        if before.saturating_add(new) > self.max_hosts {
            return Err(PatternError::TooManyHosts {
                item: excerpt(what).into_owned(),
                before,
                total: before.saturating_add(new),
                max: self.max_hosts,
            });
        }
        for host in hosts {
            self.push(host);
        }
        Ok(())
    }

    /// How many distinct hosts are selected (before the pdsh filters).
    pub fn len(&self) -> u64 {
        (self.hosts.len() - self.dead.len()) as u64
    }

    /// Whether no host is selected (before the pdsh filters).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `host` is selected (before the pdsh filters).
    fn has(&self, host: &HostName) -> bool {
        self.hosts
            .get_index_of(host)
            .is_some_and(|i| !self.dead.contains(&i))
    }

    /// The selected hosts, in order, without the filters.
    fn take_live(&mut self) -> Vec<HostName> {
        let hosts = std::mem::take(&mut self.hosts);
        let dead = std::mem::take(&mut self.dead);
        if dead.is_empty() {
            return hosts.into_iter().collect();
        }
        hosts
            .into_iter()
            .enumerate()
            .filter_map(|(i, h)| (!dead.contains(&i)).then_some(h))
            .collect()
    }

    /// Takes over the filters of `other` (an operand's or a result's).
    fn absorb_filters(&mut self, other: &mut Selection) {
        self.filters.append(&mut other.filters);
        self.exclusion.merge(std::mem::take(&mut other.exclusion));
    }

    /// The selected hosts, in order, once the pdsh filters of every
    /// pattern added (`/regex/`, `-/regex/`, `-ITEM`) have been applied.
    pub fn into_hosts(mut self) -> Vec<HostName> {
        let mut hosts = self.take_live();
        if !self.exclusion.is_empty() {
            let mut gone = self.exclusion.marks(&hosts).into_iter();
            hosts.retain(|_| !gone.next().unwrap_or(false));
        }
        for filter in &self.filters {
            match filter {
                Filter::Keep(regex) => hosts.retain(|h| regex_matches(regex, h)),
                Filter::Drop(regex) => hosts.retain(|h| !regex_matches(regex, h)),
            }
        }
        hosts
    }

    /// An empty selection with this one's caps and what is left of its
    /// `^FILE` budget, for one operand or one operator's result.
    fn child(&self) -> Selection {
        Selection {
            max_hosts: self.max_hosts,
            max_file_bytes: self.max_file_bytes,
            file_bytes: self.file_bytes,
            ..Selection::default()
        }
    }

    fn push(&mut self, host: HostName) {
        let (i, new) = self.hosts.insert_full(host);
        if !new && !self.dead.is_empty() {
            self.dead.remove(&i);
        }
    }

    fn add_pattern(
        &mut self,
        pattern: &str,
        depth: usize,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        let pieces = parse_expr(pattern)?;
        if pieces.is_empty() {
            return Err(PatternError::Empty);
        }
        let unions_only = pieces
            .iter()
            .all(|p| !matches!(p, Piece::Term(op, _) if *op != Op::Union));
        if unions_only {
            // The common case: every operand goes straight into the
            // selection, each sized against the cap before it is expanded.
            for piece in pieces {
                self.add_piece(piece, depth, groups)?;
            }
            return Ok(());
        }
        // Left to right, as nodeset: `a,b!a` is `(a ∪ b) \ a`. The result
        // is built on its own, then added (and held to the cap) as a whole.
        let mut acc = self.child();
        for piece in pieces {
            match piece {
                Piece::Term(op @ (Op::Difference | Op::Intersection | Op::Xor), operand) => {
                    let mut right = acc.child();
                    right.add_operand(&operand, depth, groups)?;
                    acc.file_bytes = right.file_bytes;
                    acc.absorb_filters(&mut right);
                    acc.combine(op, right.take_live());
                }
                piece => acc.add_piece(piece, depth, groups)?,
            }
        }
        self.file_bytes = acc.file_bytes;
        self.absorb_filters(&mut acc);
        let hosts = acc.take_live();
        self.add_hosts(pattern, hosts)
    }

    /// `self op right`, with hashed lookups: the cost is the size of
    /// `right`, not of the selection (removed hosts are marked dead).
    fn combine(&mut self, op: Op, right: Vec<HostName>) {
        // Items expanded before may be needed again: `h[1-3]!h2,h[1-3]`.
        self.done.clear();
        match op {
            Op::Union => {
                for h in right {
                    self.push(h);
                }
            }
            Op::Difference => {
                for h in &right {
                    if let Some(i) = self.hosts.get_index_of(h) {
                        self.dead.insert(i);
                    }
                }
            }
            Op::Xor => {
                for h in right {
                    match self.hosts.get_index_of(&h) {
                        Some(i) => {
                            if !self.dead.remove(&i) {
                                self.dead.insert(i);
                            }
                        }
                        None => {
                            self.hosts.insert(h);
                        }
                    }
                }
            }
            Op::Intersection => {
                let mut keep: Vec<usize> = right
                    .iter()
                    .filter_map(|h| self.hosts.get_index_of(h))
                    .filter(|i| !self.dead.contains(i))
                    .collect();
                keep.sort_unstable();
                let kept: IndexSet<HostName> = keep
                    .into_iter()
                    .filter_map(|i| self.hosts.get_index(i).cloned())
                    .collect();
                self.hosts = kept;
                self.dead.clear();
            }
        }
    }

    /// Adds a union operand or keeps a filter.
    fn add_piece(
        &mut self,
        piece: Piece,
        depth: usize,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        match piece {
            Piece::Term(_, operand) => self.add_operand(&operand, depth, groups)?,
            Piece::Keep(regex) => self.filters.push(Filter::Keep(regex)),
            Piece::Drop(regex) => self.filters.push(Filter::Drop(regex)),
            Piece::Exclude(operand) => {
                let mut builder = ExclusionBuilder::new(self.child());
                builder.add(&operand, depth, groups)?;
                let (exclusion, bytes) = builder.finish_with_budget();
                self.file_bytes = bytes;
                self.exclusion.merge(exclusion);
            }
        }
        Ok(())
    }

    fn add_operand(
        &mut self,
        operand: &Operand,
        depth: usize,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        match operand {
            Operand::Item(item) => self.add_item(item),
            Operand::File(path) => self.add_file(Path::new(path), depth, groups),
            Operand::Group(name) => {
                let hosts = groups(name)?;
                self.add_hosts(&format!("@{name}"), hosts)
            }
        }
    }

    fn add_item(&mut self, item: &str) -> Result<(), PatternError> {
        if self.done.contains(item) {
            return Ok(());
        }
        let (segments, count) = sized_item(item, self.max_hosts)?;
        let before = self.len();
        if before + count > self.max_hosts {
            // Maybe duplicates: count the hosts this item really adds,
            // without keeping them, before expanding it.
            let mut new = 0u64;
            for_each_word(&segments, |word| {
                if !self.has(&parse_target(word)?) {
                    new += 1;
                }
                Ok(())
            })?;
            if before + new > self.max_hosts {
                return Err(PatternError::TooManyHosts {
                    item: excerpt(item).into_owned(),
                    before,
                    total: before + new,
                    max: self.max_hosts,
                });
            }
        }
        for_each_word(&segments, |word| {
            self.push(parse_target(word)?);
            Ok(())
        })?;
        if count > 1 {
            // (A single host is skipped by the set anyway.)
            self.done.insert(item.to_owned());
        }
        Ok(())
    }

    fn add_file(
        &mut self,
        path: &Path,
        depth: usize,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        if depth >= MAX_FILE_DEPTH {
            return Err(PatternError::FileDepth(path.to_owned()));
        }
        let file = File::open(path).map_err(|source| PatternError::File {
            path: path.to_owned(),
            source,
        })?;
        self.add_lines(path, file, depth, groups)
    }

    /// Adds the lines of `reader` (a `^FILE` or stdin), one pattern a line.
    fn add_lines(
        &mut self,
        path: &Path,
        reader: impl Read,
        depth: usize,
        groups: &mut GroupHosts<'_>,
    ) -> Result<(), PatternError> {
        let file_error = |source| PatternError::File {
            path: path.to_owned(),
            source,
        };
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        let mut number = 0usize;
        loop {
            number += 1;
            buf.clear();
            // One byte more than allowed tells a line too long from one
            // that just fits; never read past the selection's total.
            let left = self.max_file_bytes.saturating_sub(self.file_bytes);
            let limit = (MAX_LINE_BYTES as u64 + 2).min(left.saturating_add(1));
            let read = (&mut reader)
                .take(limit)
                .read_until(b'\n', &mut buf)
                .map_err(file_error)?;
            if read == 0 {
                return Ok(());
            }
            let in_file = |source| PatternError::InFile {
                path: path.to_owned(),
                line: number,
                source: Box::new(source),
            };
            self.file_bytes += read as u64;
            if self.file_bytes > self.max_file_bytes {
                return Err(in_file(PatternError::FilesTooLarge {
                    max: self.max_file_bytes,
                }));
            }
            let ended = buf.last() == Some(&b'\n');
            let content = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.len() > MAX_LINE_BYTES || (!ended && read as u64 == limit) {
                return Err(in_file(PatternError::LineTooLong));
            }
            let text = std::str::from_utf8(content).map_err(|_| in_file(PatternError::NotUtf8))?;
            let line = match text.find('#') {
                Some(at) => &text[..at],
                None => text,
            }
            .trim();
            if line.is_empty() {
                continue;
            }
            self.add_pattern(line, depth + 1, groups)
                .map_err(|e| match e {
                    // Keep the innermost file's position for nested includes.
                    e @ (PatternError::InFile { .. }
                    | PatternError::File { .. }
                    | PatternError::FileDepth(_)) => e,
                    e => in_file(e),
                })?;
        }
    }
}

/// A set operator between two operands of a pattern, evaluated left to
/// right as ClusterShell's `nodeset` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `,` (or whitespace between two operands).
    Union,
    /// `!`.
    Difference,
    /// `&`.
    Intersection,
    /// `^` after an operand.
    Xor,
}

/// One operand: a range item, `^FILE` or `@group`.
#[derive(Debug, PartialEq, Eq)]
enum Operand {
    Item(String),
    File(String),
    Group(String),
}

/// A parsed pattern, piece by piece, in order.
#[derive(Debug)]
enum Piece {
    /// An operand and the operator before it (`Union` for the first).
    Term(Op, Operand),
    /// pdsh `/regex/`: keep only the hosts it matches.
    Keep(Regex),
    /// pdsh `-/regex/`: remove the hosts it matches.
    Drop(Regex),
    /// pdsh `-ITEM`: remove these hosts, as `-x ITEM` does.
    Exclude(Operand),
}

/// The characters that are operators outside brackets.
const OPERATORS: [char; 4] = [',', '!', '&', '^'];

/// Parses a pattern into [`Piece`]s: operands separated by `,` `!` `&`
/// `^` (whitespace around them ignored; whitespace alone between two
/// operands is a union, as in pdsh), and pdsh filters as whole
/// comma-separated items. Brackets are checked here; ranges are parsed
/// later, per item.
fn parse_expr(pattern: &str) -> Result<Vec<Piece>, PatternError> {
    let mut pieces = Vec::new();
    let mut rest = pattern;
    // The explicit operator waiting for its operand, if any.
    let mut pending: Option<char> = None;
    // Whether an operand (or filter) was just read, and whether it was a
    // filter.
    let mut after_operand = false;
    let mut after_filter = false;
    let missing = |op: char| {
        if op == ',' {
            PatternError::Empty
        } else {
            PatternError::MissingOperand {
                op,
                pattern: pattern.to_owned(),
            }
        }
    };
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            break;
        };
        if after_operand && OPERATORS.contains(&c) {
            if after_filter && c != ',' {
                return Err(filter_placement(pieces.last(), pattern));
            }
            pending = Some(c);
            after_operand = false;
            rest = &rest[1..];
            continue;
        }
        if !after_operand && matches!(c, ',' | '!' | '&') {
            return Err(missing(pending.unwrap_or(c)));
        }
        let op = match pending.take() {
            None | Some(',') => Op::Union,
            Some('!') => Op::Difference,
            Some('&') => Op::Intersection,
            Some(_) => Op::Xor,
        };
        let start = rest;
        let (piece, after) = match c {
            '-' | '/' => {
                let body = if c == '-' { &rest[1..] } else { rest };
                let (piece, after) = if let Some(regex) = body.strip_prefix('/') {
                    let (source, after) = read_regex(regex);
                    let regex = compile(source)?;
                    (
                        if c == '-' {
                            Piece::Drop(regex)
                        } else {
                            Piece::Keep(regex)
                        },
                        after,
                    )
                } else {
                    if body.is_empty() || body.starts_with(char::is_whitespace) {
                        return Err(missing('-'));
                    }
                    let (operand, after) = read_operand(body, pattern)?;
                    (Piece::Exclude(operand), after)
                };
                if op != Op::Union {
                    let item = &start[..start.len() - after.len()];
                    return Err(PatternError::FilterPlacement {
                        item: excerpt(item).into_owned(),
                        pattern: pattern.to_owned(),
                    });
                }
                after_filter = true;
                (piece, after)
            }
            _ => {
                let (operand, after) = read_operand(rest, pattern)?;
                after_filter = false;
                (Piece::Term(op, operand), after)
            }
        };
        pieces.push(piece);
        rest = after;
        after_operand = true;
    }
    match pending {
        // A trailing comma is tolerated, as it always was.
        Some(op) if op != ',' => Err(missing(op)),
        _ => Ok(pieces),
    }
}

/// The error for a filter used as an operand of `!`, `&` or `^`.
fn filter_placement(last: Option<&Piece>, pattern: &str) -> PatternError {
    let item = match last {
        Some(Piece::Keep(r)) => format!("/{}/", r.as_str()),
        Some(Piece::Drop(r)) => format!("-/{}/", r.as_str()),
        Some(Piece::Exclude(Operand::Item(i))) => format!("-{i}"),
        Some(Piece::Exclude(Operand::File(f))) => format!("-^{f}"),
        Some(Piece::Exclude(Operand::Group(g))) => format!("-@{g}"),
        _ => String::new(),
    };
    PatternError::FilterPlacement {
        item: excerpt(&item).into_owned(),
        pattern: pattern.to_owned(),
    }
}

fn compile(source: &str) -> Result<Regex, PatternError> {
    if source.is_empty() {
        return Err(PatternError::Regex {
            regex: String::new(),
            message: "empty regex".into(),
        });
    }
    Regex::new(source).map_err(|e| PatternError::Regex {
        regex: excerpt(source).into_owned(),
        message: e.to_string(),
    })
}

/// Reads an operand at the start of `text`: `^FILE`, `@group` or an item.
fn read_operand<'a>(text: &'a str, pattern: &str) -> Result<(Operand, &'a str), PatternError> {
    if let Some(path) = text.strip_prefix('^') {
        let (path, after) = read_word(path, pattern)?;
        if path.is_empty() {
            return Err(PatternError::MissingOperand {
                op: '^',
                pattern: pattern.to_owned(),
            });
        }
        return Ok((Operand::File(path), after));
    }
    if let Some(name) = text.strip_prefix('@') {
        let (name, after) = read_word(name, pattern)?;
        if name.is_empty() {
            return Err(PatternError::InvalidHost(text.chars().take(1).collect()));
        }
        return Ok((Operand::Group(name), after));
    }
    let (word, after) = read_word(text, pattern)?;
    Ok((Operand::Item(word), after))
}

/// Reads one word up to whitespace or an operator outside brackets.
/// Whitespace inside brackets is dropped (`n[ 9 - 11 ]` is `n[9-11]`).
fn read_word<'a>(text: &'a str, pattern: &str) -> Result<(String, &'a str), PatternError> {
    let mut word = String::new();
    let mut in_bracket = false;
    for (at, c) in text.char_indices() {
        match c {
            '[' if in_bracket => return Err(PatternError::NestedBracket(pattern.to_owned())),
            '[' => in_bracket = true,
            ']' if !in_bracket => return Err(PatternError::UnexpectedBracket(pattern.to_owned())),
            ']' => in_bracket = false,
            c if c.is_whitespace() && in_bracket => continue,
            c if !in_bracket && (c.is_whitespace() || OPERATORS.contains(&c)) => {
                return Ok((word, &text[at..]));
            }
            _ => {}
        }
        word.push(c);
    }
    if in_bracket {
        return Err(PatternError::UnclosedBracket(pattern.to_owned()));
    }
    Ok((word, ""))
}

/// Reads a regex after its opening `/`: up to a `,` or whitespace outside
/// `[...]`, `(...)` and `{...}` (so `/h(1|2)/` and `/h{1,3}/` are one
/// regex), with its closing `/` dropped if there is one (pdsh makes it
/// optional).
fn read_regex(text: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let mut in_class = false;
    let mut escaped = false;
    let mut end = text.len();
    for (at, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ']' if in_class => in_class = false,
            _ if in_class => {}
            '[' => in_class = true,
            '(' | '{' => depth += 1,
            ')' | '}' => depth = depth.saturating_sub(1),
            c if depth == 0 && (c == ',' || c.is_whitespace()) => {
                end = at;
                break;
            }
            _ => {}
        }
    }
    let (source, after) = text.split_at(end);
    let source = match source.strip_suffix('/') {
        Some(inner) if !inner.ends_with('\\') || inner.ends_with("\\\\") => inner,
        _ => source,
    };
    (source, after)
}

/// One numeric range `lo..=hi` by `step`, printed with `width` zero padding.
#[derive(Debug)]
struct Range {
    lo: u64,
    hi: u64,
    step: u64,
    width: usize,
}

impl Range {
    fn count(&self) -> u64 {
        ((self.hi - self.lo) / self.step).saturating_add(1)
    }
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Ranges(Vec<Range>),
}

impl Segment {
    fn count(&self) -> u64 {
        match self {
            Segment::Literal(_) => 1,
            Segment::Ranges(ranges) => ranges
                .iter()
                .map(Range::count)
                .fold(0u64, u64::saturating_add),
        }
    }
}

/// Parses one top-level item (brackets already known to be balanced).
fn parse_item(item: &str) -> Result<Vec<Segment>, PatternError> {
    let mut segments = Vec::new();
    let mut rest = item;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| open + c)
            .ok_or_else(|| PatternError::UnclosedBracket(item.to_owned()))?;
        if open > 0 {
            segments.push(Segment::Literal(rest[..open].to_owned()));
        }
        let inner = &rest[open + 1..close];
        let is_numeric = inner
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | ',' | '/' | ' '));
        if inner.contains(':') && !is_numeric {
            // IPv6 literal such as `[::1]:22`: keep the brackets.
            segments.push(Segment::Literal(rest[open..=close].to_owned()));
        } else {
            segments.push(Segment::Ranges(parse_ranges(inner, item)?));
        }
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Literal(rest.to_owned()));
    }
    Ok(segments)
}

fn parse_ranges(inner: &str, item: &str) -> Result<Vec<Range>, PatternError> {
    let mut ranges = Vec::new();
    for element in inner.split(',') {
        let element = element.trim();
        if element.is_empty() {
            return Err(PatternError::EmptyRange(item.to_owned()));
        }
        let invalid = || PatternError::InvalidRange {
            range: element.to_owned(),
            pattern: item.to_owned(),
        };
        let (span, step) = match element.split_once('/') {
            Some((span, step)) => (span, number(step).ok_or_else(invalid)?),
            None => (element, 1),
        };
        if step == 0 {
            return Err(invalid());
        }
        let (lo_text, hi_text) = span.split_once('-').unwrap_or((span, span));
        let lo = number(lo_text).ok_or_else(invalid)?;
        let hi = number(hi_text).ok_or_else(invalid)?;
        if lo > hi {
            return Err(PatternError::ReversedRange {
                lo,
                hi,
                pattern: item.to_owned(),
            });
        }
        let width = if lo_text.len() > 1 && lo_text.starts_with('0') {
            lo_text.len()
        } else {
            0
        };
        ranges.push(Range {
            lo,
            hi,
            step,
            width,
        });
    }
    Ok(ranges)
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// How many words an item produces, as written (duplicates included),
/// saturating instead of overflowing.
/// Parses one item and sizes it, refusing one that names more than `max`
/// hosts on its own.
fn sized_item(item: &str, max: u64) -> Result<(Vec<Segment>, u64), PatternError> {
    let segments = parse_item(item)?;
    let count = item_size(&segments);
    if count > max {
        return Err(PatternError::ItemTooLarge {
            pattern: excerpt(item).into_owned(),
            count,
            max,
        });
    }
    Ok((segments, count))
}

fn item_size(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(Segment::count)
        .fold(1u64, u64::saturating_mul)
}

/// Calls `f` with every word of an item, one at a time and without keeping
/// them; the leftmost range varies slowest (an odometer, rightmost digit
/// first).
fn for_each_word(
    segments: &[Segment],
    mut f: impl FnMut(&str) -> Result<(), PatternError>,
) -> Result<(), PatternError> {
    // Per segment: which range of the bracket, and its current value.
    let mut position: Vec<(usize, u64)> = segments
        .iter()
        .map(|s| match s {
            Segment::Ranges(ranges) => (0, ranges.first().map_or(0, |r| r.lo)),
            Segment::Literal(_) => (0, 0),
        })
        .collect();
    let mut word = String::new();
    loop {
        word.clear();
        for (segment, &(index, value)) in segments.iter().zip(&position) {
            match segment {
                Segment::Literal(text) => word.push_str(text),
                Segment::Ranges(ranges) => {
                    let width = ranges.get(index).map_or(0, |r| r.width);
                    let _ = write!(word, "{value:0width$}");
                }
            }
        }
        f(&word)?;
        // Advance the rightmost bracket that can; reset those after it.
        let mut i = segments.len();
        loop {
            if i == 0 {
                return Ok(());
            }
            i -= 1;
            let Segment::Ranges(ranges) = &segments[i] else {
                continue;
            };
            let (index, value) = &mut position[i];
            let Some(range) = ranges.get(*index) else {
                return Ok(());
            };
            if let Some(next) = value.checked_add(range.step)
                && next <= range.hi
            {
                *value = next;
                break;
            }
            if let Some(next) = ranges.get(*index + 1) {
                *index += 1;
                *value = next.lo;
                break;
            }
            *index = 0;
            *value = ranges.first().map_or(0, |r| r.lo);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::wildcard::glob_match;

    fn names(pattern: &str) -> Vec<String> {
        expand_names(pattern).unwrap()
    }

    #[test]
    fn simple_range() {
        assert_eq!(
            names("host[0-3]"),
            ["host0", "host1", "host2", "host3"].map(String::from)
        );
    }

    #[test]
    fn zero_padding_and_lists_inside_brackets() {
        assert_eq!(
            names("web[01-03,15]"),
            ["web01", "web02", "web03", "web15"].map(String::from)
        );
        assert_eq!(names("web[08-10]"), ["web08", "web09", "web10"]);
        assert_eq!(names("n[007]"), ["n007"]);
    }

    #[test]
    fn cartesian_product_leftmost_slowest() {
        assert_eq!(
            names("rack[1-2]-node[1-3]"),
            [
                "rack1-node1",
                "rack1-node2",
                "rack1-node3",
                "rack2-node1",
                "rack2-node2",
                "rack2-node3"
            ]
        );
    }

    #[test]
    fn top_level_commas_and_whitespace() {
        assert_eq!(names("a,b[1-2],c"), ["a", "b1", "b2", "c"]);
        assert_eq!(names("a b\tc"), ["a", "b", "c"]);
    }

    #[test]
    fn step() {
        assert_eq!(names("h[1-7/3]"), ["h1", "h4", "h7"]);
    }

    #[test]
    fn user_and_port_kept_attached() {
        let hosts = expand("root@db[1-2]:2222,plain,u@x").unwrap();
        assert_eq!(
            hosts[0],
            HostName {
                user: Some("root".into()),
                host: "db1".into(),
                port: Some(2222)
            }
        );
        assert_eq!(hosts[1].to_string(), "root@db2:2222");
        assert_eq!(hosts[2], HostName::new("plain"));
        assert_eq!(hosts[3].user.as_deref(), Some("u"));
        assert_eq!(hosts[3].port, None);
    }

    #[test]
    fn ranged_ports() {
        assert_eq!(
            names("127.0.0.1:[2200-2202]"),
            ["127.0.0.1:2200", "127.0.0.1:2201", "127.0.0.1:2202"]
        );
    }

    #[test]
    fn ipv6_literals() {
        let hosts = expand("[::1]:2222,::1,u@[fe80::1]").unwrap();
        assert_eq!(hosts[0].host, "::1");
        assert_eq!(hosts[0].port, Some(2222));
        assert_eq!(hosts[0].to_string(), "[::1]:2222");
        assert_eq!(hosts[1], HostName::new("::1"));
        assert_eq!(hosts[2].host, "fe80::1");
        assert_eq!(hosts[2].user.as_deref(), Some("u"));
    }

    #[test]
    fn duplicates_removed_keeping_first_order() {
        assert_eq!(
            names("b,a,h[1-2],b,h1,h[0-2]"),
            ["b", "a", "h1", "h2", "h0"]
        );
        // Same host on another port is another target.
        assert_eq!(names("h:22,h:23,h:22"), ["h:22", "h:23"]);
    }

    #[test]
    fn file_items() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner.txt");
        std::fs::write(&inner, "z9\n").unwrap();
        let file = dir.path().join("hosts.txt");
        std::fs::write(
            &file,
            format!(
                "# comment\n\nweb[1-2]\n  db1  # trailing\nroot@x:2200\n^{}\n",
                inner.display()
            ),
        )
        .unwrap();
        assert_eq!(
            names(&format!("first,^{}", file.display())),
            ["first", "web1", "web2", "db1", "root@x:2200", "z9"]
        );
    }

    #[test]
    fn file_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.txt");
        std::fs::write(&file, "ok\nweb[1-\n").unwrap();
        let err = expand(&format!("^{}", file.display())).unwrap_err();
        assert!(matches!(err, PatternError::InFile { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("bad.txt:2"), "{err}");
        let missing = expand(&format!("^{}", dir.path().join("nope").display())).unwrap_err();
        assert!(matches!(missing, PatternError::File { .. }));
    }

    #[test]
    fn file_loop_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("loop.txt");
        std::fs::write(&file, format!("^{}\n", file.display())).unwrap();
        let err = expand(&format!("^{}", file.display())).unwrap_err();
        assert!(matches!(err, PatternError::FileDepth(_)), "{err}");
    }

    #[test]
    fn errors() {
        assert!(matches!(
            expand("host[1-3"),
            Err(PatternError::UnclosedBracket(_))
        ));
        assert!(matches!(
            expand("host1-3]"),
            Err(PatternError::UnexpectedBracket(_))
        ));
        assert!(matches!(
            expand("h[1-[2]]"),
            Err(PatternError::NestedBracket(_))
        ));
        assert!(matches!(
            expand("host[5-1]"),
            Err(PatternError::ReversedRange { lo: 5, hi: 1, .. })
        ));
        assert!(matches!(expand("h[]"), Err(PatternError::EmptyRange(_))));
        assert!(matches!(
            expand("h[1,,2]"),
            Err(PatternError::EmptyRange(_))
        ));
        assert!(matches!(
            expand("h[a-b]"),
            Err(PatternError::InvalidRange { .. })
        ));
        assert!(matches!(
            expand("h[1-4/0]"),
            Err(PatternError::InvalidRange { .. })
        ));
        assert!(matches!(expand(""), Err(PatternError::Empty)));
        assert!(matches!(expand("a,,b"), Err(PatternError::Empty)));
        assert!(matches!(expand("h:0"), Err(PatternError::InvalidPort(_))));
        assert!(matches!(
            expand("h:99999"),
            Err(PatternError::InvalidPort(_))
        ));
        // `@name` at the start of an operand is an inventory group.
        assert!(matches!(expand("@h"), Err(PatternError::NoGroups(ref g)) if g == "h"));
        assert!(matches!(expand("u@"), Err(PatternError::InvalidHost(_))));
    }

    fn err(pattern: &str) -> String {
        match expand(pattern) {
            Ok(hosts) => panic!("{pattern:?} expanded to {hosts:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn pdsh_minus_items_exclude() {
        assert_eq!(names("h[1-5],-h3"), ["h1", "h2", "h4", "h5"]);
        // Order does not matter, as in pdsh: exclusions apply to the whole
        // selection, after every item.
        assert_eq!(names("-h3,h[1-5]"), ["h1", "h2", "h4", "h5"]);
        assert_eq!(names("h[1-5],-h[2-3],h9"), ["h1", "h4", "h5", "h9"]);
        // Like -x: a bare name removes it whatever its user or port, globs
        // are allowed.
        assert_eq!(names("root@h[1-3]:22,-h2"), ["root@h1:22", "root@h3:22"]);
        assert_eq!(names("web[1-3],db1,-web*"), ["db1"]);
        let mut selection = Selection::new();
        selection.add("h[1-3]").unwrap();
        selection.add("-h2").unwrap();
        selection.add("h4").unwrap();
        assert_eq!(
            selection.into_hosts(),
            ["h1", "h3", "h4"].map(HostName::new),
            "across patterns (several -w)"
        );
        // Nothing after the `-`, or a filter used as an operand.
        assert!(matches!(
            expand("h1,-"),
            Err(PatternError::MissingOperand { op: '-', .. })
        ));
        assert!(matches!(
            expand("h[1-3]!-h2"),
            Err(PatternError::FilterPlacement { .. })
        ));
        assert!(err("h[1-3],-h2&h1").contains("`-h2` is a pdsh filter"));
    }

    #[test]
    fn pdsh_regex_filters() {
        assert_eq!(names("h[1-5],/h[13]/"), ["h1", "h3"]);
        assert_eq!(names("/h[13]/,h[1-5]"), ["h1", "h3"]);
        // The closing slash is optional; several regexes must all match.
        assert_eq!(names("h[1-12],/h1"), ["h1", "h10", "h11", "h12"]);
        assert_eq!(names("h[1-12],/h1/,/2/"), ["h12"]);
        // Commas inside (), {} and [] belong to the regex.
        assert_eq!(names("h[1-5],/^h(1|4)$/"), ["h1", "h4"]);
        assert_eq!(names("h[1-5],/^h[1,5]$/"), ["h1", "h5"]);
        assert_eq!(names("a,aa,aaa,/^a{2,3}$/"), ["aa", "aaa"]);
        // `-/regex/` removes.
        assert_eq!(names("h[1-5],-/h[13]/,h9"), ["h2", "h4", "h5", "h9"]);
        // Matched against the host name or the full form.
        assert_eq!(names("root@h1,h2,/^root@/"), ["root@h1"]);
        assert!(matches!(
            expand("h[1-3],/h(/"),
            Err(PatternError::Regex { .. })
        ));
        assert!(err("h1,//").contains("empty regex"));
        assert!(matches!(
            expand("h[1-3]&/h1/"),
            Err(PatternError::FilterPlacement { .. })
        ));
        // In -x, `/regex/` removes what it matches.
        let hosts = expand("h[1-5]").unwrap();
        let kept = exclude(hosts.clone(), "h2,/h[13]/").unwrap();
        assert_eq!(kept, ["h4", "h5"].map(HostName::new));
        assert!(matches!(
            exclude(hosts.clone(), "-h2"),
            Err(PatternError::ExclusionInExclude(_))
        ));
        assert!(matches!(
            exclude(hosts, "-/h2/"),
            Err(PatternError::ExclusionInExclude(_))
        ));
    }

    #[test]
    fn clustershell_operators_left_to_right() {
        assert_eq!(names("a,b!a"), ["b"]);
        assert_eq!(names("h[1-5]!h3"), ["h1", "h2", "h4", "h5"]);
        assert_eq!(names("h[1-3]&h[2-4]"), ["h2", "h3"]);
        assert_eq!(names("h[1-3]^h[2-4]"), ["h1", "h4"]);
        // Left to right, one precedence: ((h1..3 \ h2) ∪ h9).
        assert_eq!(names("h[1-3]!h2,h9"), ["h1", "h3", "h9"]);
        assert_eq!(names("a,b&a,c"), ["a", "c"]);
        assert_eq!(names("h[1-2],h[3-4]!h3^h[3-5]"), ["h1", "h2", "h3", "h5"]);
        assert_eq!(names("a!b!c"), ["a"]);
        // Operators compare whole targets.
        assert_eq!(names("root@h[1-2]!h1"), ["root@h1", "root@h2"]);
        assert_eq!(names("root@h[1-2]!root@h1"), ["root@h2"]);
        // Several patterns (several -w) are a union of their results.
        let mut selection = Selection::new();
        selection.add("a").unwrap();
        selection.add("b!a").unwrap();
        assert_eq!(selection.into_hosts(), ["a", "b"].map(HostName::new));
        // A missing operand is an error naming the operator.
        for (pattern, op) in [
            ("x!", '!'),
            ("!x", '!'),
            ("a&", '&'),
            ("a^", '^'),
            ("a!&b", '!'),
        ] {
            match expand(pattern) {
                Err(PatternError::MissingOperand { op: got, .. }) => {
                    assert_eq!(got, op, "{pattern}");
                }
                other => panic!("{pattern}: {other:?}"),
            }
        }
        assert_eq!(err("a!"), "`!` needs a host pattern after it in `a!`");
        // The cap holds on the result.
        let err = with_cap("h[1-600]^g[1-600]", 1000).unwrap_err();
        assert_eq!(too_many(&err).2, 1200);
        assert_eq!(
            with_cap("h[1-600]^h[1-600],g[1-600]", 1000).unwrap().len(),
            600
        );
    }

    #[test]
    fn caret_and_at_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("more.txt");
        std::fs::write(&file, "h2\nh9\n").unwrap();
        let f = file.display();
        // `^` at the start of an operand is a file, elsewhere xor.
        assert_eq!(names(&format!("^{f}")), ["h2", "h9"]);
        assert_eq!(names(&format!("h[1-3],^{f}")), ["h1", "h2", "h3", "h9"]);
        assert_eq!(names(&format!("h[1-3]!^{f}")), ["h1", "h3"]);
        assert_eq!(names(&format!("h[1-3]^^{f}")), ["h1", "h3", "h9"]);
        assert_eq!(names(&format!("h[1-3] ^ ^{f}")), ["h1", "h3", "h9"]);
        assert!(matches!(
            expand("h1,^"),
            Err(PatternError::MissingOperand { op: '^', .. })
        ));
        // `@` at the start of an operand is a group, elsewhere `user@`.
        let mut groups = |name: &str| match name {
            "web" => Ok(vec![HostName::new("w1"), HostName::new("w2")]),
            other => Err(PatternError::Group {
                name: other.to_owned(),
                message: "unknown group".into(),
            }),
        };
        let mut selection = Selection::new();
        selection
            .add_with_groups("u@h1,@web!w1,-@web&x", &mut groups)
            .unwrap_err();
        let mut selection = Selection::new();
        selection
            .add_with_groups("u@h1,@web!w1,a@b@c", &mut groups)
            .unwrap();
        let got: Vec<String> = selection
            .into_hosts()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["u@h1", "w2", "a@b@c"]);
        let mut selection = Selection::new();
        selection
            .add_with_groups("h1,w[1-3],-@web", &mut groups)
            .unwrap();
        assert_eq!(selection.into_hosts(), ["h1", "w3"].map(HostName::new));
        let mut selection = Selection::new();
        let e = selection
            .add_with_groups("h1,@db", &mut groups)
            .unwrap_err();
        assert_eq!(e.to_string(), "`@db`: unknown group");
        let kept = exclude_with_groups(expand("w[1-3]").unwrap(), "@web!w2", &mut groups).unwrap();
        assert_eq!(kept, ["w2", "w3"].map(HostName::new));
        assert!(matches!(
            exclude(expand("w1").unwrap(), "@web"),
            Err(PatternError::NoGroups(_))
        ));
    }

    #[test]
    fn whitespace_as_clustershell() {
        assert_eq!(names("web1 , web2"), ["web1", "web2"]);
        assert_eq!(names("n[ 9 - 11 ]"), ["n9", "n10", "n11"]);
        assert_eq!(names("n[9 -11, 13 ]"), ["n9", "n10", "n11", "n13"]);
        assert_eq!(names("  a  ,  b  "), ["a", "b"]);
        assert_eq!(names("h[1-3] ! h2"), ["h1", "h3"]);
        assert_eq!(names("h[1-3] &h[2-3]"), ["h2", "h3"]);
        assert_eq!(names("[ ::1 ]:22"), ["[::1]:22"]);
        // Whitespace alone between two names separates them (pdsh), it is
        // never part of a name.
        assert_eq!(names("a b\nc"), ["a", "b", "c"]);
        assert!(matches!(expand("a, ,b"), Err(PatternError::Empty)));
    }

    #[test]
    fn bad_characters_are_parse_errors() {
        for (pattern, ch) in [
            ("h$x", '$'),
            ("a;b", ';'),
            ("web[1-2]$", '$'),
            ("h|x", '|'),
            ("h'x", '\''),
            ("h(1)", '('),
            ("h*", '*'),
            ("h?", '?'),
            ("h/x", '/'),
            ("h#1", '#'),
            ("h=1", '='),
            ("h\u{0}x", '\u{0}'),
        ] {
            match expand(pattern) {
                Err(PatternError::BadChar { ch: got, what, .. }) => {
                    assert_eq!(got, ch, "{pattern}");
                    assert_eq!(what, "host name", "{pattern}");
                }
                other => panic!("{pattern}: {other:?}"),
            }
        }
        assert_eq!(
            err("web1,h$x"),
            "invalid character '$' in host name `h$x` (a host name holds letters, digits, \
             `-`, `.` and `_`, and does not start with `-`)"
        );
        assert!(err("ro;ot@h").starts_with("invalid character ';' in user name `ro;ot@h`"));
        assert!(
            err("u@-h").contains("in host name `u@-h`"),
            "{}",
            err("u@-h")
        );
        assert!(matches!(
            parse_target("@u@h"),
            Err(PatternError::BadChar { ch: '@', .. })
        ));
        assert!(matches!(
            parse_target("-u@h"),
            Err(PatternError::BadChar {
                ch: '-',
                what: "user name",
                ..
            })
        ));
        assert!(err("[::g1]:22").starts_with("invalid character 'g' in IPv6 address"));
        assert!(err("[fe80::1%]:22").contains("IPv6 address"));
        // What stays valid: IPv6 with a zone, user@host:port, underscores,
        // dots, non-ASCII letters, `@` in a user name.
        assert_eq!(
            names("[::1]:22,[fe80::1%eth0]:2222,fe80::2%en0,u@h:2200,my_host.lab,hóst,a@corp@h1"),
            [
                "[::1]:22",
                "[fe80::1%eth0]:2222",
                "fe80::2%en0",
                "u@h:2200",
                "my_host.lab",
                "hóst",
                "a@corp@h1"
            ]
        );
        // Through parse_target too (ProxyJump hops).
        assert!(matches!(
            parse_target("b a"),
            Err(PatternError::BadChar { ch: ' ', .. })
        ));
        assert!(check("h[1-3]$").is_err());
        assert!(check("h[1-3],-h2").is_ok());
    }

    #[test]
    fn reader_lines_as_pdsh_stdin() {
        let mut selection = Selection::new();
        let input = "h1 h2,h3\nh[4-5]  # comment\n#x\n\nh6\n-h2\n";
        selection
            .add_reader("stdin", input.as_bytes(), &mut no_groups)
            .unwrap();
        assert_eq!(
            selection.into_hosts(),
            ["h1", "h3", "h4", "h5", "h6"].map(HostName::new)
        );
        let mut selection = Selection::new();
        let e = selection
            .add_reader("stdin", "ok\nh$x\n".as_bytes(), &mut no_groups)
            .unwrap_err();
        assert!(
            e.to_string().starts_with("stdin:2: invalid character '$'"),
            "{e}"
        );
    }

    #[test]
    fn exclude_with_operators() {
        let hosts = expand("web[1-4],db[1-2]").unwrap();
        let kept = |pattern: &str| -> Vec<String> {
            exclude(hosts.clone(), pattern)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(kept("web*!web1"), ["web1", "db1", "db2"]);
        assert_eq!(kept("web[1-3]&web[2-4]"), ["web1", "web4", "db1", "db2"]);
        assert_eq!(kept("web[1-2]^web[2-3]"), ["web2", "web4", "db1", "db2"]);
        assert_eq!(kept("web*!web1,db1"), ["web1", "db2"]);
        assert_eq!(kept("web1 , db1"), ["web2", "web3", "web4", "db2"]);
    }

    #[test]
    fn absurd_sizes_rejected_before_allocation() {
        assert!(matches!(
            expand("h[0-1000000]"),
            Err(PatternError::ItemTooLarge {
                count: 1_000_001,
                ..
            })
        ));
        assert!(matches!(
            expand("a[1-1000]b[1-1001]"),
            Err(PatternError::ItemTooLarge {
                count: 1_001_000,
                ..
            })
        ));
        assert!(matches!(
            expand("h[0-18446744073709551615]"),
            Err(PatternError::ItemTooLarge {
                count: u64::MAX,
                ..
            })
        ));
        assert_eq!(size("a[1-3]b[1-2],c,^nofile").unwrap(), 7);
        // Exactly the limit is fine in terms of counting (not expanded here).
        let segments = parse_item("h[1-1000000]").unwrap();
        assert_eq!(
            segments.iter().map(Segment::count).product::<u64>(),
            MAX_HOSTS
        );
    }

    fn too_many(err: &PatternError) -> (&str, u64, u64) {
        match err {
            PatternError::TooManyHosts {
                item,
                before,
                total,
                ..
            } => (item.as_str(), *before, *total),
            PatternError::InFile { source, .. } => too_many(source),
            other => panic!("not TooManyHosts: {other}"),
        }
    }

    fn with_cap(pattern: &str, cap: u64) -> Result<Vec<HostName>, PatternError> {
        let mut selection = Selection::with_caps(cap, MAX_FILE_BYTES);
        selection.add(pattern)?;
        Ok(selection.into_hosts())
    }

    #[test]
    fn cap_is_on_the_whole_selection_and_names_the_item_that_crosses() {
        // Two items of one pattern: the second is refused before it is
        // expanded, and it is the one named.
        let err = with_cap("a[1-500] b[1-501]", 1000).unwrap_err();
        assert_eq!(too_many(&err), ("b[1-501]", 500, 1001));
        let text = err.to_string();
        assert_eq!(
            text,
            "`b[1-501]` would bring the selection to 1,001 hosts (500 before it), more than \
             the 1,000 a selection may hold"
        );
        // Several patterns added to one selection (several -w) share the cap.
        let mut selection = Selection::with_caps(1000, MAX_FILE_BYTES);
        selection.add("x[1-334]").unwrap();
        selection.add("y[1-333]").unwrap();
        let err = selection.add("z[1-334]").unwrap_err();
        assert_eq!(too_many(&err), ("z[1-334]", 667, 1001));
        assert_eq!(selection.len(), 667, "nothing of z was added");
        // Exactly the cap is fine, and so are duplicates past it.
        selection.add("z[1-333],x[1-334],y1").unwrap();
        assert_eq!(selection.len(), 1000);
        let err = selection
            .add_hosts(
                "the inventory",
                vec![HostName::new("x1"), HostName::new("new")],
            )
            .unwrap_err();
        assert_eq!(too_many(&err), ("the inventory", 1000, 1001));
        selection
            .add_hosts("the inventory", vec![HostName::new("x1")])
            .unwrap();
        assert_eq!(selection.len(), 1000);
    }

    #[test]
    fn duplicates_from_files_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.txt");
        std::fs::write(&big, "h[1-600]\n").unwrap();
        let overlap = dir.path().join("overlap.txt");
        // Overlaps h[1-600]: 1,200 as written, 900 distinct.
        std::fs::write(&overlap, "h[301-900]\nh[1-600]\n").unwrap();
        let twice = dir.path().join("twice.txt");
        std::fs::write(
            &twice,
            format!("^{0}\n^{0}\n^{1}\n", big.display(), overlap.display()),
        )
        .unwrap();
        let list = format!("^{},h[1-600],h1", twice.display());
        let hosts = with_cap(&list, 1000).unwrap();
        assert_eq!(hosts.len(), 900);
        assert_eq!(hosts[0].host, "h1");
        assert_eq!(hosts[899].host, "h900");
        assert_eq!(with_cap(&list, 900).unwrap().len(), 900);
        // One host more, on line 2 of a file: refused there, by name.
        let over = dir.path().join("over.txt");
        std::fs::write(&over, "h5\nh[900-1001]\n").unwrap();
        let err = with_cap(&format!("^{},^{}", twice.display(), over.display()), 1000).unwrap_err();
        assert!(matches!(err, PatternError::InFile { line: 2, .. }), "{err}");
        assert_eq!(too_many(&err), ("h[900-1001]", 900, 1001));
        assert!(
            err.to_string().contains("over.txt:2: `h[900-1001]`"),
            "{err}"
        );
    }

    #[test]
    fn file_lines_and_total_bytes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let fits = dir.path().join("fits.txt");
        let just = format!("a{}", "b".repeat(MAX_LINE_BYTES - 1));
        std::fs::write(&fits, format!("{just}\n{just}\r\n{just}")).unwrap();
        assert_eq!(expand(&format!("^{}", fits.display())).unwrap().len(), 1);
        let long = dir.path().join("long.txt");
        std::fs::write(&long, format!("ok\na{}\n", "b".repeat(MAX_LINE_BYTES))).unwrap();
        let err = expand(&format!("^{}", long.display())).unwrap_err();
        assert!(
            matches!(&err, PatternError::InFile { line: 2, source, .. }
                if matches!(**source, PatternError::LineTooLong)),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("long.txt:2: line longer than 64 KiB")
        );
        let last = dir.path().join("last.txt");
        std::fs::write(&last, format!("a{}", "b".repeat(MAX_LINE_BYTES))).unwrap();
        let err = expand(&format!("^{}", last.display())).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("last.txt:1: line longer than 64 KiB")
        );
        // No newline at all, and endless: stops at the line cap.
        let err = expand("^/dev/zero").unwrap_err();
        assert_eq!(err.to_string(), "/dev/zero:1: line longer than 64 KiB");
        // The total is over every file of the selection, includes counted
        // each time they are read.
        let half = dir.path().join("half.txt");
        std::fs::write(&half, "# padding\n".repeat(512 * 1024 / 10 + 1)).unwrap();
        let many = dir.path().join("many.txt");
        std::fs::write(&many, format!("^{}\n", half.display()).repeat(4)).unwrap();
        let mut selection = Selection::with_caps(MAX_HOSTS, 2 * 1024 * 1024);
        let err = selection.add(&format!("^{}", many.display())).unwrap_err();
        assert!(
            err.to_string()
                .contains("host files hold more than 2 MiB in all"),
            "{err}"
        );
        assert!(err.to_string().starts_with(&format!("{}:", half.display())));
        let mut selection = Selection::with_caps(MAX_HOSTS, 3 * 1024 * 1024);
        selection.add(&format!("^{}", many.display())).unwrap();
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, b"ok\n\xff\n").unwrap();
        let err = expand(&format!("^{}", bad.display())).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("bad.txt:2: line is not valid UTF-8")
        );
    }

    #[test]
    fn errors_quote_an_excerpt_only() {
        let long = format!("h{}[1-", "x".repeat(100_000));
        let err = expand(&long).unwrap_err().to_string();
        assert!(err.len() < 400, "{} bytes", err.len());
        assert!(err.contains("(100004 bytes in all)"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts.txt");
        std::fs::write(&file, format!("h{}[1-\n", "x".repeat(60_000))).unwrap();
        let err = expand(&format!("^{}", file.display()))
            .unwrap_err()
            .to_string();
        assert!(
            err.len() < 400 + file.as_os_str().len(),
            "{} bytes",
            err.len()
        );
        assert!(err.contains("hosts.txt:1: unclosed bracket"), "{err}");
        let err = expand(&format!("h[1-2000000]{}", "y".repeat(10_000)))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 400, "{err}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_001), "1,000,001");
    }

    #[test]
    fn exclude_by_pattern_and_glob() {
        let hosts = expand("web[1-5],db1,root@db2:2200").unwrap();
        let kept = exclude(hosts.clone(), "web[2-3],db*").unwrap();
        let kept: Vec<String> = kept.iter().map(ToString::to_string).collect();
        assert_eq!(kept, ["web1", "web4", "web5"]);
        // Ranges in a glob item are expanded first: web[2-3]* is web2*, web3*.
        let kept = exclude(hosts.clone(), "web[2-3]*,d?[1-1]").unwrap();
        let kept: Vec<String> = kept.iter().map(ToString::to_string).collect();
        assert_eq!(kept, ["web1", "web4", "web5", "root@db2:2200"]);
        assert!(
            exclude(hosts.clone(), "w[1-5000]*").is_err(),
            "over MAX_GLOB_WORDS"
        );
        // An exclusion with a port only removes that port.
        let kept = exclude(hosts, "db2:2201,db2:2200").unwrap();
        assert_eq!(kept.len(), 6);
        assert!(!kept.iter().any(|h| h.host == "db2"));
    }

    #[test]
    fn exclude_50000_literal_names_from_100000() {
        let hosts = expand("n[1-100000]").unwrap();
        // Every even host, as one comma list of 50,000 literal names.
        let list = (1..=50_000)
            .map(|i| format!("n{}", 2 * i))
            .collect::<Vec<_>>()
            .join(",");
        let kept = exclude(hosts.clone(), &list).unwrap();
        let want: Vec<HostName> = (0..50_000)
            .map(|i| HostName::new(format!("n{}", 2 * i + 1)))
            .collect();
        assert_eq!(kept, want);
        // The same names as a range pattern, with duplicates and names that
        // are not selected.
        let kept = exclude(hosts, "n[1-50000],n[1-50000/2],absent[1-1000]").unwrap();
        let want: Vec<HostName> = (50_001..=100_000)
            .map(|i| HostName::new(format!("n{i}")))
            .collect();
        assert_eq!(kept, want);
    }

    #[test]
    fn exclude_mixes_globs_users_and_ports() {
        let hosts = expand(
            "web[1-3],root@web[1-3],web[1-3]:2222,root@web[1-3]:2222,admin@web1:2222,\
             db[1-2],root@db[1-2]:22,x.lab,root@y.lab:2200,[::1]:2222,::1",
        )
        .unwrap();
        let kept = |pattern: &str| -> Vec<String> {
            exclude(hosts.clone(), pattern)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        // Bare name: any user, any port.
        assert_eq!(
            kept("web1,db*,*.lab"),
            [
                "web2",
                "web3",
                "root@web2",
                "root@web3",
                "web2:2222",
                "web3:2222",
                "root@web2:2222",
                "root@web3:2222",
                "[::1]:2222",
                "::1",
            ]
        );
        // A user: that user only, any port. A port: that port only, any user.
        assert_eq!(
            kept("root@web[1-3],web[2-3]:2222,db1:22,root@db2:23,[::1]:2222"),
            [
                "web1",
                "web2",
                "web3",
                "web1:2222",
                "admin@web1:2222",
                "db1",
                "db2",
                "root@db2:22",
                "x.lab",
                "root@y.lab:2200",
                "::1",
            ]
        );
        // Both: that user on that port only. Globs match the host name
        // (any user, any port) or the full form.
        assert_eq!(kept("web?").len(), 8);
        assert_eq!(
            kept("root@web[1-2]:2222,*@web3*,web?:2222,*:22,[::1]:2222,root@*.lab:2200"),
            [
                "web1",
                "web2",
                "web3",
                "root@web1",
                "root@web2",
                "admin@web1:2222",
                "db1",
                "db2",
                "x.lab",
                "::1",
            ]
        );
        // Nothing to exclude from, or nothing matched.
        assert_eq!(exclude(Vec::new(), "a,b*").unwrap(), []);
        assert_eq!(kept("nothing,zz*").len(), hosts.len());
    }

    /// The exclusion rule, host by item, as it was before it was indexed.
    fn exclude_naive(hosts: &[HostName], pattern: &str) -> Vec<HostName> {
        let items: Vec<String> = pattern.split(',').map(String::from).collect();
        let (globs, literals): (Vec<_>, Vec<_>) =
            items.into_iter().partition(|i| i.contains(['*', '?']));
        let exact: Vec<HostName> = literals.iter().flat_map(|i| expand(i).unwrap()).collect();
        hosts
            .iter()
            .filter(|h| {
                !exact.iter().any(|x| {
                    x.host == h.host
                        && (x.user.is_none() || x.user == h.user)
                        && (x.port.is_none() || x.port == h.port)
                }) && !globs
                    .iter()
                    .any(|g| glob_match(g, &h.host) || glob_match(g, &h.to_string()))
            })
            .cloned()
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn exclude_is_the_naive_rule(
            hosts in proptest::collection::vec((0usize..3, 0usize..4, 0usize..3), 0..40),
            items in proptest::collection::vec((0usize..3, 0usize..6, 0usize..3), 1..8),
        ) {
            let users = ["", "root@", "u@"];
            let names = ["h1", "h2", "web1", "db1"];
            let ports = ["", ":22", ":2222"];
            let word = |(u, n, p): (usize, usize, usize), names: &[&str]| {
                format!("{}{}{}", users[u], names[n], ports[p])
            };
            let hosts: Vec<HostName> = hosts
                .into_iter()
                .map(|(u, n, p)| parse_target(&word((u, n, p), &names)).unwrap())
                .collect();
            let item_names = ["h1", "h[1-2]", "web1", "h*", "*1", "?b1"];
            let pattern = items
                .into_iter()
                .map(|i| word(i, &item_names))
                .collect::<Vec<_>>()
                .join(",");
            let got = exclude(hosts.clone(), &pattern).unwrap();
            proptest::prop_assert_eq!(got, exclude_naive(&hosts, &pattern), "{}", pattern);
        }
    }

    proptest::proptest! {
        #[test]
        fn exclude_operators_are_the_naive_rule(
            hosts in proptest::collection::vec((0usize..3, 0usize..6, 0usize..3), 0..60),
            items in proptest::collection::vec((0usize..4, (0usize..3, 0usize..6, 0usize..3)), 1..6),
        ) {
            let users = ["", "root@", "u@"];
            let names = ["h1", "h2", "web1", "db1", "h3", "x"];
            let ports = ["", ":22", ":2222"];
            let word = |(u, n, p): (usize, usize, usize), names: &[&str]| {
                format!("{}{}{}", users[u], names[n], ports[p])
            };
            let hosts: Vec<HostName> = hosts
                .into_iter()
                .map(|t| parse_target(&word(t, &names)).unwrap())
                .collect();
            let item_names = ["h1", "h[1-2]", "web1", "h*", "*1", "x"];
            let ops = [",", "!", "&", "^"];
            let mut pattern = String::new();
            // Left to right over the sets of positions each item removes.
            let mut removed: BTreeSet<usize> = BTreeSet::new();
            for (k, (op, item)) in items.into_iter().enumerate() {
                let item = word(item, &item_names);
                let kept = exclude_naive(&hosts, &item);
                let matched: BTreeSet<usize> = (0..hosts.len())
                    .filter(|&i| !kept.contains(&hosts[i]))
                    .collect();
                let op = if k == 0 { 0 } else { op };
                if k > 0 {
                    pattern.push_str(ops[op]);
                }
                pattern.push_str(&item);
                removed = match op {
                    0 => removed.union(&matched).copied().collect(),
                    1 => removed.difference(&matched).copied().collect(),
                    2 => removed.intersection(&matched).copied().collect(),
                    _ => removed.symmetric_difference(&matched).copied().collect(),
                };
            }
            let want: Vec<HostName> = hosts
                .iter()
                .enumerate()
                .filter(|(i, _)| !removed.contains(i))
                .map(|(_, h)| h.clone())
                .collect();
            let got = exclude(hosts.clone(), &pattern).unwrap();
            proptest::prop_assert_eq!(got, want, "{}", pattern);
        }
    }

    #[test]
    fn operators_bring_back_removed_hosts_in_place() {
        // `done` does not skip an item needed again after `!`.
        assert_eq!(names("h[1-3]!h2,h[1-3]"), ["h1", "h2", "h3"]);
        assert_eq!(names("h[1-3]!h[1-3],h[1-3]"), ["h1", "h2", "h3"]);
        assert_eq!(names("h[1-3]^h2^h2"), ["h1", "h2", "h3"]);
        assert_eq!(names("h[1-3]^h[2-5]"), ["h1", "h4", "h5"]);
        assert_eq!(names("h[1-5]&h[4-9]&h[1-4]"), ["h4"]);
        assert_eq!(names("h[1-5]!h[1-5]"), Vec::<String>::new());
        // The cap counts hosts removed by `!` as gone.
        assert_eq!(
            with_cap("h[1-1000]!h[1-500],g[1-500]", 1000).unwrap().len(),
            1000
        );
    }

    #[test]
    fn glob_non_ascii() {
        assert!(glob_match("h?st", "hóst"));
        assert!(glob_match("*ó*", "xóy"));
        assert!(!glob_match("h?st", "hst"));
        assert!(glob_match("h*", "hé"));
    }

    #[test]
    fn glob() {
        assert!(glob_match("web*", "web12"));
        assert!(glob_match("*.example.com", "a.example.com"));
        assert!(glob_match("h?", "h1"));
        assert!(!glob_match("h?", "h12"));
        assert!(glob_match("*a*b", "xxaxxb"));
        assert!(!glob_match("*a*b", "xxaxxbc"));
        assert!(glob_match("*", ""));
    }
}
