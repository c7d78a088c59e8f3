//! Expansion of pdsh/clush host patterns into [`HostName`]s.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The most hosts one pattern (including the files it reads) may produce.
pub const MAX_HOSTS: u64 = 1_000_000;

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

/// Why a host pattern could not be expanded.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// The pattern (or one item of it) is empty.
    #[error("empty host pattern")]
    Empty,
    /// `[` without its `]`.
    #[error("unclosed bracket in host pattern `{0}`")]
    UnclosedBracket(String),
    /// `]` without a `[`.
    #[error("unexpected `]` in host pattern `{0}`")]
    UnexpectedBracket(String),
    /// `[` inside `[...]`.
    #[error("nested brackets in host pattern `{0}`")]
    NestedBracket(String),
    /// `[]` or an empty element such as `[1,,2]`.
    #[error("empty range in host pattern `{0}`")]
    EmptyRange(String),
    /// A range element that is not `N`, `N-M` or `N-M/STEP`.
    #[error("invalid range `{range}` in host pattern `{pattern}`")]
    InvalidRange {
        /// The offending element.
        range: String,
        /// The whole item.
        pattern: String,
    },
    /// `N-M` with `N > M`.
    #[error("reversed range `{lo}-{hi}` in host pattern `{pattern}`")]
    ReversedRange {
        /// Start of the range.
        lo: u64,
        /// End of the range.
        hi: u64,
        /// The whole item.
        pattern: String,
    },
    /// The pattern would produce more than [`MAX_HOSTS`] hosts.
    #[error("host pattern `{pattern}` expands to more than {max} hosts", max = MAX_HOSTS)]
    TooManyHosts {
        /// The item that crossed the limit.
        pattern: String,
    },
    /// `host:port` where port is not 1..=65535.
    #[error("invalid port in `{0}`")]
    InvalidPort(String),
    /// `user@` or `@host` with an empty side, or a host that is empty.
    #[error("invalid host `{0}`")]
    InvalidHost(String),
    /// A `^FILE` could not be read.
    #[error("cannot read host file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a `^FILE` is not a valid pattern.
    #[error("{}:{line}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        #[source]
        source: Box<PatternError>,
    },
    /// `^FILE` items nested too deeply (probably a loop).
    #[error("host files nested more than {MAX_FILE_DEPTH} deep at {}", .0.display())]
    FileDepth(PathBuf),
}

/// Expands a host pattern into targets, in order, without duplicates.
///
/// Accepts `host[0-7]`, `web[01-10,15]`, `rack[1-2]-node[1-3]`, `h[1-9/2]`,
/// comma (or whitespace) separated lists, `user@host:port`, `[::1]:2222` and
/// `^FILE`.
pub fn expand(pattern: &str) -> Result<Vec<HostName>, PatternError> {
    let mut acc = Accumulator::default();
    expand_into(pattern, 0, &mut acc)?;
    Ok(acc.hosts)
}

/// [`expand`], rendered back to strings with [`HostName`]'s `Display`.
pub fn expand_names(pattern: &str) -> Result<Vec<String>, PatternError> {
    Ok(expand(pattern)?.iter().map(ToString::to_string).collect())
}

/// Removes from `hosts` every host matched by `pattern`.
///
/// Items with `*` or `?` are globs matched against the host name and against
/// the full `user@host:port` form; other items are expanded like [`expand`].
/// An excluded item without user or port matches any user or port.
pub fn exclude(hosts: Vec<HostName>, pattern: &str) -> Result<Vec<HostName>, PatternError> {
    let mut globs = Vec::new();
    let mut exact = Vec::new();
    for item in split_top_level(pattern)? {
        if item.contains(['*', '?']) {
            globs.push(item);
        } else {
            exact.extend(expand(&item)?);
        }
    }
    Ok(hosts
        .into_iter()
        .filter(|h| {
            let display = h.to_string();
            let by_glob = globs
                .iter()
                .any(|g| glob_match(g, &h.host) || glob_match(g, &display));
            let by_name = exact.iter().any(|x| {
                x.host == h.host
                    && (x.user.is_none() || x.user == h.user)
                    && (x.port.is_none() || x.port == h.port)
            });
            !(by_glob || by_name)
        })
        .collect())
}

/// Shell-style glob: `*` matches any run, `?` one character. Case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains(['/', '[', ']']) {
        return Err(invalid());
    }
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

#[derive(Default)]
struct Accumulator {
    hosts: Vec<HostName>,
    seen: HashSet<HostName>,
    /// Words produced so far, duplicates included (bounds the work).
    produced: u64,
}

impl Accumulator {
    fn push(&mut self, host: HostName) {
        if self.seen.insert(host.clone()) {
            self.hosts.push(host);
        }
    }
}

fn expand_into(pattern: &str, depth: usize, acc: &mut Accumulator) -> Result<(), PatternError> {
    let items = split_top_level(pattern)?;
    if items.is_empty() {
        return Err(PatternError::Empty);
    }
    for item in items {
        if let Some(file) = item.strip_prefix('^') {
            expand_file(Path::new(file), depth, acc)?;
            continue;
        }
        let segments = parse_item(&item)?;
        let count = segments
            .iter()
            .map(Segment::count)
            .fold(1u64, u64::saturating_mul);
        acc.produced = acc.produced.saturating_add(count);
        if count > MAX_HOSTS || acc.produced > MAX_HOSTS {
            return Err(PatternError::TooManyHosts { pattern: item });
        }
        for word in cartesian(&segments) {
            acc.push(parse_target(&word)?);
        }
    }
    Ok(())
}

fn expand_file(path: &Path, depth: usize, acc: &mut Accumulator) -> Result<(), PatternError> {
    if depth >= MAX_FILE_DEPTH {
        return Err(PatternError::FileDepth(path.to_owned()));
    }
    let text = std::fs::read_to_string(path).map_err(|source| PatternError::File {
        path: path.to_owned(),
        source,
    })?;
    for (index, raw) in text.lines().enumerate() {
        let line = match raw.find('#') {
            Some(at) => &raw[..at],
            None => raw,
        }
        .trim();
        if line.is_empty() {
            continue;
        }
        expand_into(line, depth + 1, acc).map_err(|e| match e {
            // Keep the innermost file's position for nested includes.
            e @ (PatternError::InFile { .. }
            | PatternError::File { .. }
            | PatternError::FileDepth(_)) => e,
            e => PatternError::InFile {
                path: path.to_owned(),
                line: index + 1,
                source: Box::new(e),
            },
        })?;
    }
    Ok(())
}

/// Splits at commas and whitespace outside brackets; checks bracket balance.
fn split_top_level(pattern: &str) -> Result<Vec<String>, PatternError> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut in_bracket = false;
    for c in pattern.chars() {
        match c {
            '[' if in_bracket => return Err(PatternError::NestedBracket(pattern.to_owned())),
            '[' => in_bracket = true,
            ']' if !in_bracket => {
                return Err(PatternError::UnexpectedBracket(pattern.to_owned()));
            }
            ']' => in_bracket = false,
            ',' if !in_bracket => {
                if current.is_empty() {
                    return Err(PatternError::Empty);
                }
                items.push(std::mem::take(&mut current));
                continue;
            }
            c if c.is_whitespace() && !in_bracket => {
                if !current.is_empty() {
                    items.push(std::mem::take(&mut current));
                }
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if in_bracket {
        return Err(PatternError::UnclosedBracket(pattern.to_owned()));
    }
    if !current.is_empty() {
        items.push(current);
    }
    Ok(items)
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

/// All words of an item; the leftmost range varies slowest.
fn cartesian(segments: &[Segment]) -> Vec<String> {
    let mut words = vec![String::new()];
    for segment in segments {
        words = match segment {
            Segment::Literal(text) => {
                for w in &mut words {
                    w.push_str(text);
                }
                words
            }
            Segment::Ranges(ranges) => {
                let mut next = Vec::with_capacity(words.len().saturating_mul(2));
                for w in &words {
                    for r in ranges {
                        let mut n = r.lo;
                        while n <= r.hi {
                            next.push(format!("{w}{n:0width$}", width = r.width));
                            match n.checked_add(r.step) {
                                Some(m) => n = m,
                                None => break,
                            }
                        }
                    }
                }
                next
            }
        };
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(expand("@h"), Err(PatternError::InvalidHost(_))));
        assert!(matches!(expand("u@"), Err(PatternError::InvalidHost(_))));
    }

    #[test]
    fn absurd_sizes_rejected_before_allocation() {
        assert!(matches!(
            expand("h[0-1000000]"),
            Err(PatternError::TooManyHosts { .. })
        ));
        assert!(matches!(
            expand("a[1-1000]b[1-1001]"),
            Err(PatternError::TooManyHosts { .. })
        ));
        assert!(matches!(
            expand("h[0-18446744073709551615]"),
            Err(PatternError::TooManyHosts { .. })
        ));
        // Exactly the limit is fine in terms of counting (not expanded here).
        let segments = parse_item("h[1-1000000]").unwrap();
        assert_eq!(
            segments.iter().map(Segment::count).product::<u64>(),
            MAX_HOSTS
        );
    }

    #[test]
    fn exclude_by_pattern_and_glob() {
        let hosts = expand("web[1-5],db1,root@db2:2200").unwrap();
        let kept = exclude(hosts.clone(), "web[2-3],db*").unwrap();
        let kept: Vec<String> = kept.iter().map(ToString::to_string).collect();
        assert_eq!(kept, ["web1", "web4", "web5"]);
        // An exclusion with a port only removes that port.
        let kept = exclude(hosts, "db2:2201,db2:2200").unwrap();
        assert_eq!(kept.len(), 6);
        assert!(!kept.iter().any(|h| h.host == "db2"));
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
