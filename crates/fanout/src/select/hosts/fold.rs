//! Folding host names back into ranges (`host[0-3,5]`), clush NodeSet style.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Folds host names into a compact pattern such as `host[0-3,5],web[01-02]`.
///
/// Names are folded on their last run of digits. Zero padding is kept: `web01`
/// and `web10` fold to `web[01,10]`, while `web1` and `web01` stay in separate
/// groups. Duplicates are dropped and groups are sorted naturally. The result
/// expands back to the same set with [`super::expand`].
pub fn fold<S: AsRef<str>>(hosts: &[S]) -> String {
    let mut numbered: BTreeMap<(&str, &str), Vec<Number>> = BTreeMap::new();
    let mut plain: BTreeSet<&str> = BTreeSet::new();
    for name in hosts {
        let name = name.as_ref();
        match last_digits(name) {
            Some((start, end)) => match name[start..end].parse::<u64>() {
                Ok(value) => {
                    let digits = end - start;
                    let padded = digits > 1 && name.as_bytes()[start] == b'0';
                    numbered
                        .entry((&name[..start], &name[end..]))
                        .or_default()
                        .push((value, digits, padded));
                }
                Err(_) => {
                    plain.insert(name);
                }
            },
            None => {
                plain.insert(name);
            }
        }
    }

    // (representative name for sorting, rendered group)
    let mut groups: Vec<(String, String)> = plain
        .into_iter()
        .map(|n| (n.to_owned(), n.to_owned()))
        .collect();
    for ((prefix, suffix), numbers) in numbered {
        let padded_widths: BTreeSet<usize> = numbers
            .iter()
            .filter(|(_, _, padded)| *padded)
            .map(|(_, digits, _)| *digits)
            .collect();
        let mut by_width: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
        for (value, digits, padded) in numbers {
            let width = if padded || padded_widths.contains(&digits) {
                digits
            } else {
                0
            };
            by_width.entry(width).or_default().insert(value);
        }
        for (width, values) in by_width {
            let first = values.first().copied().unwrap_or_default();
            let sort_key = format!("{prefix}{first:0width$}{suffix}");
            let rendered = if values.len() == 1 {
                sort_key.clone()
            } else {
                format!("{prefix}[{}]{suffix}", ranges(&values, width))
            };
            groups.push((sort_key, rendered));
        }
    }
    groups.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    groups
        .into_iter()
        .map(|(_, rendered)| rendered)
        .collect::<Vec<_>>()
        .join(",")
}

/// (value, number of digits, zero-padded) of a name's last digit run.
type Number = (u64, usize, bool);

/// Natural order: runs of digits compare by value, the rest byte-wise.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let ta = trim_zeros(da);
                let tb = trim_zeros(db);
                let ord = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| na.cmp(&nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

/// Byte range of the last run of ASCII digits in `name`.
fn last_digits(name: &str) -> Option<(usize, usize)> {
    let bytes = name.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
    let start = bytes[..end]
        .iter()
        .rposition(|c| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    Some((start, end))
}

/// `0-3,5` for {0,1,2,3,5}.
fn ranges(values: &BTreeSet<u64>, width: usize) -> String {
    let mut out = Vec::new();
    let mut iter = values.iter().copied();
    let Some(mut lo) = iter.next() else {
        return String::new();
    };
    let mut hi = lo;
    let mut push = |lo: u64, hi: u64| {
        if lo == hi {
            out.push(format!("{lo:0width$}"));
        } else {
            out.push(format!("{lo:0width$}-{hi:0width$}"));
        }
    };
    for v in iter {
        if hi.checked_add(1) == Some(v) {
            hi = v;
        } else {
            push(lo, hi);
            lo = v;
            hi = v;
        }
    }
    push(lo, hi);
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::hosts::expand_names;

    fn f(names: &[&str]) -> String {
        fold(names)
    }

    #[test]
    fn folds_ranges() {
        assert_eq!(
            f(&["host0", "host1", "host2", "host3", "host5"]),
            "host[0-3,5]"
        );
        assert_eq!(
            f(&["host5", "host3", "host1", "host2", "host0"]),
            "host[0-3,5]"
        );
        assert_eq!(f(&["host7"]), "host7");
        assert_eq!(f(&["a", "b"]), "a,b");
        let empty: [&str; 0] = [];
        assert_eq!(fold(&empty), "");
    }

    #[test]
    fn keeps_padding() {
        assert_eq!(f(&["web01", "web02"]), "web[01-02]");
        assert_eq!(f(&["web01", "web10", "web09"]), "web[01,09-10]");
        assert_eq!(f(&["web1", "web01", "web2"]), "web[1-2],web01");
    }

    #[test]
    fn several_prefixes_sorted_naturally() {
        assert_eq!(
            f(&["web2", "db1", "web10", "db2", "web1", "login"]),
            "db[1-2],login,web[1-2,10]"
        );
        assert_eq!(
            f(&["rack1-node1", "rack1-node2", "rack2-node1"]),
            "rack1-node[1-2],rack2-node1"
        );
        assert_eq!(f(&["n1.lab", "n2.lab", "n3.lab"]), "n[1-3].lab");
    }

    #[test]
    fn duplicates_dropped() {
        assert_eq!(f(&["h1", "h1", "h2", "x", "x"]), "h[1-2],x");
    }

    #[test]
    fn roundtrips_through_expand() {
        let names: Vec<String> = expand_names("web[01-13,20],db[1-3,7-9],h[0-2]-x,plain").unwrap();
        let folded = fold(&names);
        let mut back = expand_names(&folded).unwrap();
        let mut orig = names.clone();
        back.sort();
        orig.sort();
        assert_eq!(back, orig, "folded: {folded}");
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["h10", "h9", "h1", "g2", "h01"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["g2", "h1", "h01", "h9", "h10"]);
    }

    proptest::proptest! {
        #[test]
        fn fold_then_expand_is_identity(
            names in proptest::collection::vec(
                (0usize..4, 0u64..300, 0usize..4, proptest::bool::ANY),
                0..60,
            )
        ) {
            let prefixes = ["n", "web", "r1-n", "x.lab"];
            let names: Vec<String> = names
                .into_iter()
                .map(|(p, n, width, suffix)| {
                    let s = if suffix { ".dc" } else { "" };
                    format!("{}{n:0width$}{s}", prefixes[p])
                })
                .collect();
            let folded = fold(&names);
            let mut want: Vec<String> = names.clone();
            want.sort();
            want.dedup();
            let mut got = if folded.is_empty() {
                Vec::new()
            } else {
                expand_names(&folded).unwrap()
            };
            let unique = got.len();
            got.sort();
            got.dedup();
            proptest::prop_assert_eq!(unique, got.len(), "duplicates in {}", folded);
            proptest::prop_assert_eq!(got, want, "folded: {}", folded);
        }
    }
}
