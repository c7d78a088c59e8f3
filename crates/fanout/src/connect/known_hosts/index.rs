//! A parsed known_hosts file and its lookup by host name.
//!
//! Lines whose names are all plain (no hash, glob or negation), which is
//! what `ssh` and `accept-new` write, are found through an exact-name
//! index; every other line is matched one by one. Both lists are in file
//! order and merged, so a lookup returns the matching lines in file order,
//! as OpenSSH's `hostkeys_foreach` visits them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::parse::{self, HostNames, Skip};
use super::{HostKeyEntry, KnownKey, Marker};

/// One valid line.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub line: usize,
    pub marker: Marker,
    pub names: HostNames,
    pub key: Arc<KnownKey>,
}

/// The valid lines of a file, indexed.
#[derive(Debug, Default)]
pub(crate) struct Index {
    entries: Vec<Entry>,
    /// Lowercase plain name -> indices (ascending) of the entries whose
    /// names are all plain.
    exact: HashMap<String, Vec<usize>>,
    /// Indices (ascending) of every other entry: globs, negations, hashes.
    scan: Vec<usize>,
}

/// A file's text, split into OpenSSH lines.
pub(crate) struct Text {
    /// Lines in the file, the last one counted even without its newline.
    pub lines: usize,
    /// The file ends without a newline.
    pub needs_newline: bool,
}

impl Index {
    /// Parses `bytes`; returns the index and the line count.
    pub fn parse(bytes: &[u8]) -> (Index, Text) {
        let mut index = Index::default();
        let mut lines = 0;
        let mut pieces = bytes.split(|&b| b == b'\n').peekable();
        while let Some(raw) = pieces.next() {
            if pieces.peek().is_none() && raw.is_empty() {
                break; // after the last newline
            }
            lines += 1;
            // A C string ends at the first NUL.
            let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
            match parse::parse_line(raw) {
                Ok(l) => index.push(Entry {
                    line: lines,
                    marker: l.marker,
                    names: l.names,
                    key: Arc::new(l.key),
                }),
                Err(Skip::Comment) => {}
                Err(why) => tracing::debug!(line = lines, ?why, "known_hosts: line skipped"),
            }
        }
        let text = Text {
            lines,
            needs_newline: !bytes.is_empty() && !bytes.ends_with(b"\n"),
        };
        (index, text)
    }

    pub fn push(&mut self, entry: Entry) {
        let at = self.entries.len();
        match entry.names.plain_names() {
            Some(names) => {
                for name in names {
                    let slot = self.exact.entry(name).or_default();
                    if slot.last() != Some(&at) {
                        slot.push(at);
                    }
                }
            }
            None => self.scan.push(at),
        }
        self.entries.push(entry);
    }

    /// The entries matching `name`, in file order.
    pub fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let exact = self
            .exact
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let scanned = self
            .scan
            .iter()
            .copied()
            .filter(move |&i| self.entries.get(i).is_some_and(|e| e.names.matches(name)));
        merge_ascending(exact.iter().copied(), scanned).filter_map(|i| self.entries.get(i))
    }

    /// [`Self::matching`] as public entries of the file at `path`.
    pub fn lookup(&self, path: &Arc<Path>, name: &str) -> Vec<HostKeyEntry> {
        self.matching(name)
            .map(|e| HostKeyEntry {
                path: path.clone(),
                line: e.line,
                marker: e.marker,
                key: e.key.clone(),
            })
            .collect()
    }
}

/// Merges two ascending index sequences into one, ascending, without
/// duplicates.
pub(crate) fn merge_ascending(
    a: impl Iterator<Item = usize>,
    b: impl Iterator<Item = usize>,
) -> impl Iterator<Item = usize> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek().copied(), b.peek().copied()) {
        (Some(x), Some(y)) if x == y => {
            b.next();
            a.next()
        }
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_order_without_duplicates() {
        assert_eq!(
            merge_ascending([1, 4, 6].into_iter(), [2, 4, 7].into_iter()).collect::<Vec<_>>(),
            [1, 2, 4, 6, 7]
        );
    }

    #[test]
    fn line_numbers_count_every_line() {
        let (_, t) = Index::parse(b"a\nb\n");
        assert_eq!((t.lines, t.needs_newline), (2, false));
        let (_, t) = Index::parse(b"a\nb");
        assert_eq!((t.lines, t.needs_newline), (2, true));
        let (_, t) = Index::parse(b"");
        assert_eq!((t.lines, t.needs_newline), (0, false));
        let (_, t) = Index::parse(b"\n\n");
        assert_eq!(t.lines, 2);
    }
}
