//! Folding host names back into ranges (`host[0-3,5]`, `a[1-2]b[1-2]`),
//! clush NodeSet style.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Folds host names into a compact pattern such as `host[0-3,5],web[01-02]`.
///
/// Names are split into their runs of digits (outside `[...]`, so an IPv6
/// literal stays whole) and the text between them; names with the same text
/// are folded together on every digit run, as `nodeset -f` does:
/// `a1b1,a1b2,a2b1,a2b2` is `a[1-2]b[1-2]`. The last run is folded first,
/// then each other run merges the groups that agree everywhere else, until
/// nothing merges. Zero padding is kept: `web01` and `web10` fold to
/// `web[01,10]`, while `web1` and `web01` are different hosts and fold to
/// `web[1,01]` (unpadded numbers first). Duplicates are dropped and groups
/// are sorted naturally. Every group is an exact product of its ranges, so
/// the result expands back to the same set with [`super::expand`].
pub fn fold<S: AsRef<str>>(hosts: &[S]) -> String {
    let mut plain: BTreeSet<&str> = BTreeSet::new();
    // The text around the digit runs -> each name's numbers.
    let mut templates: BTreeMap<Vec<&str>, Vec<Vec<Number>>> = BTreeMap::new();
    for name in hosts {
        let name = name.as_ref();
        let (pieces, numbers) = split_digits(name);
        if numbers.is_empty() {
            plain.insert(name);
        } else {
            templates.entry(pieces).or_default().push(numbers);
        }
    }

    // (the group's template's smallest name, its size, its smallest name,
    // the rendered group): as nodeset, templates sort naturally, and the
    // groups of one template largest first.
    let mut groups: Vec<(String, usize, String, String)> = plain
        .into_iter()
        .map(|n| (n.to_owned(), 1, n.to_owned(), n.to_owned()))
        .collect();
    for (pieces, names) in templates {
        let dims = pieces.len() - 1;
        // A number is printed with its width when it is padded, or when
        // it has as many digits as a padded one in the same place (`10`
        // beside `09`); otherwise unpadded (width 0).
        let mut padded_widths = vec![BTreeSet::new(); dims];
        for numbers in &names {
            for (k, &(_, digits, padded)) in numbers.iter().enumerate() {
                if padded {
                    padded_widths[k].insert(digits);
                }
            }
        }
        let classify = |k: usize, &(value, digits, padded): &Number| -> Value {
            let width = if padded || padded_widths[k].contains(&digits) {
                digits
            } else {
                0
            };
            (width, value)
        };
        if dims == 1 {
            // One digit run (most lists): one set of values, no points.
            let values: BTreeSet<Value> = names.iter().map(|n| classify(0, &n[0])).collect();
            let product = vec![values];
            let key = sort_key(&pieces, &product);
            let size = product[0].len();
            groups.push((key.clone(), size, key, render(&pieces, &product)));
            continue;
        }
        let points: BTreeSet<Vec<Value>> = names
            .iter()
            .map(|numbers| {
                numbers
                    .iter()
                    .enumerate()
                    .map(|(k, number)| classify(k, number))
                    .collect()
            })
            .collect();
        let products = fold_points(points, dims);
        let keys: Vec<String> = products.iter().map(|p| sort_key(&pieces, p)).collect();
        let Some(first) = keys.iter().min_by(|a, b| natural_cmp(a, b)).cloned() else {
            continue;
        };
        for (product, key) in products.iter().zip(keys) {
            let size = product.iter().map(BTreeSet::len).product();
            groups.push((first.clone(), size, key, render(&pieces, product)));
        }
    }
    groups.sort_by(|a, b| {
        natural_cmp(&a.0, &b.0)
            .then_with(|| b.1.cmp(&a.1))
            .then_with(|| natural_cmp(&a.2, &b.2))
    });
    groups
        .into_iter()
        .map(|(_, _, _, rendered)| rendered)
        .collect::<Vec<_>>()
        .join(",")
}

/// (value, number of digits, zero-padded) of one digit run.
type Number = (u64, usize, bool);

/// (width, value) of one number: width 0 is unpadded.
type Value = (usize, u64);

/// One folded group: a set of values per digit run, standing for their
/// product.
type Product = Vec<BTreeSet<Value>>;

/// The longest digit run folded: longer ones stay text (no overflow).
const MAX_DIGITS: usize = 18;

/// Splits `name` into the text around its digit runs (one more piece than
/// runs) and the runs. Digits inside `[...]` (an IPv6 literal) and runs
/// longer than [`MAX_DIGITS`] are text.
fn split_digits(name: &str) -> (Vec<&str>, Vec<Number>) {
    let bytes = name.as_bytes();
    let mut pieces = Vec::new();
    let mut numbers = Vec::new();
    let mut piece_start = 0;
    let mut in_bracket = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' => in_bracket = true,
            b']' => in_bracket = false,
            b'0'..=b'9' if !in_bracket => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(bytes.len(), |n| i + n);
                let digits = end - i;
                if digits <= MAX_DIGITS
                    && let Ok(value) = name[i..end].parse::<u64>()
                {
                    pieces.push(&name[piece_start..i]);
                    numbers.push((value, digits, digits > 1 && bytes[i] == b'0'));
                    piece_start = end;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    pieces.push(&name[piece_start..]);
    (pieces, numbers)
}

/// Folds points (one value per digit run) into products: on the last run
/// first, then merging along each run the products equal on all others,
/// until a pass merges nothing. Products stay disjoint and each is exactly
/// covered by the points, so folding loses and adds nothing.
fn fold_points(points: BTreeSet<Vec<Value>>, dims: usize) -> Vec<Product> {
    let mut by_rest: BTreeMap<Vec<Value>, BTreeSet<Value>> = BTreeMap::new();
    for mut point in points {
        if let Some(last) = point.pop() {
            by_rest.entry(point).or_default().insert(last);
        }
    }
    let mut products: Vec<Product> = by_rest
        .into_iter()
        .map(|(rest, last)| {
            rest.into_iter()
                .map(|v| BTreeSet::from([v]))
                .chain(std::iter::once(last))
                .collect()
        })
        .collect();
    if dims < 2 {
        return products;
    }
    loop {
        let before = products.len();
        for k in (0..dims).rev() {
            products = merge_along(products, k);
        }
        if products.len() == before {
            return products;
        }
    }
}

/// Merges the products that are equal except on run `k`.
fn merge_along(products: Vec<Product>, k: usize) -> Vec<Product> {
    let mut merged: BTreeMap<Product, BTreeSet<Value>> = BTreeMap::new();
    for mut product in products {
        let values = product.remove(k);
        merged.entry(product).or_default().extend(values);
    }
    merged
        .into_iter()
        .map(|(mut rest, values)| {
            rest.insert(k, values);
            rest
        })
        .collect()
}

/// The product's smallest name, to sort groups by.
fn sort_key(pieces: &[&str], product: &Product) -> String {
    let mut out = String::new();
    for (piece, values) in pieces.iter().zip(product) {
        out.push_str(piece);
        if let Some(&(width, value)) = values.iter().min_by_key(|(_, v)| *v) {
            out.push_str(&format!("{value:0width$}"));
        }
    }
    out.push_str(pieces.last().copied().unwrap_or_default());
    out
}

/// `a[1-2]b3.lab`: each run as its one value or as `[ranges]`.
fn render(pieces: &[&str], product: &Product) -> String {
    let mut out = String::new();
    for (piece, values) in pieces.iter().zip(product) {
        out.push_str(piece);
        match values.iter().next() {
            Some(&(width, value)) if values.len() == 1 => {
                out.push_str(&format!("{value:0width$}"));
            }
            _ => {
                out.push('[');
                out.push_str(&ranges(values));
                out.push(']');
            }
        }
    }
    out.push_str(pieces.last().copied().unwrap_or_default());
    out
}

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

/// `0-3,5,01-02` for {(0,0..=3), (0,5), (2,1..=2)}: runs of consecutive
/// values of one width, unpadded ones first.
fn ranges(values: &BTreeSet<Value>) -> String {
    let mut out = Vec::new();
    let mut iter = values.iter().copied();
    let Some((mut width, mut lo)) = iter.next() else {
        return String::new();
    };
    let mut hi = lo;
    let mut push = |width: usize, lo: u64, hi: u64| {
        if lo == hi {
            out.push(format!("{lo:0width$}"));
        } else {
            out.push(format!("{lo:0width$}-{hi:0width$}"));
        }
    };
    for (w, v) in iter {
        if w == width && hi.checked_add(1) == Some(v) {
            hi = v;
        } else {
            push(width, lo, hi);
            width = w;
            lo = v;
            hi = v;
        }
    }
    push(width, lo, hi);
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
        // Different hosts, one group, unpadded first (as nodeset -f).
        assert_eq!(f(&["web1", "web01", "web2"]), "web[1-2,01]");
        assert_eq!(f(&["h1", "h01", "h001"]), "h[1,01,001]");
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
    fn folds_on_several_digit_groups() {
        assert_eq!(f(&["a1b1", "a1b2", "a2b1", "a2b2"]), "a[1-2]b[1-2]");
        assert_eq!(f(&["a1b1", "a2b2"]), "a1b1,a2b2");
        assert_eq!(
            f(&["x1y1z1", "x1y1z2", "x2y1z1", "x2y1z2", "x3y5z1"]),
            "x[1-2]y1z[1-2],x3y5z1"
        );
        assert_eq!(
            f(&[
                "a0b1", "a0b2", "a0b3", "a0b4", "a1b2", "a1b4", "a2b1", "a2b2", "a2b3", "a2b4"
            ]),
            "a[0,2]b[1-4],a1b[2,4]"
        );
        assert_eq!(f(&["a0b1", "a1b1", "a2b1"]), "a[0-2]b1");
        assert_eq!(
            f(&["r1-n01.lab", "r2-n01.lab", "r1-n02.lab", "r2-n02.lab"]),
            "r[1-2]-n[01-02].lab"
        );
        // Ports and IPv6 literals: digits inside brackets stay text.
        assert_eq!(f(&["h1:2200", "h2:2200"]), "h[1-2]:2200");
        assert_eq!(f(&["[::1]:2200", "[::1]:2201"]), "[::1]:[2200-2201]");
        // A run too long for u64 is text.
        let long = ["n123456789012345678901", "n123456789012345678902"];
        assert_eq!(f(&long), "n123456789012345678901,n123456789012345678902");
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

    /// The fold of `names` expands back to them, once each.
    fn expands_back(names: &[String]) -> Result<(), proptest::test_runner::TestCaseError> {
        let folded = fold(names);
        let mut want = names.to_vec();
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
        Ok(())
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
            expands_back(&names)?;
        }

        #[test]
        fn fold_on_several_groups_then_expand_is_identity(
            names in proptest::collection::vec(
                (0u64..4, 0usize..3, 0u64..12, 0usize..3, 0u64..3),
                0..60,
            )
        ) {
            // Up to three digit runs, padded or not, so groups merge along
            // any of them.
            let names: Vec<String> = names
                .into_iter()
                .map(|(a, wa, b, wb, c)| format!("r{a:0wa$}-n{b:0wb$}.c{c}"))
                .collect();
            expands_back(&names)?;
        }
    }
}
