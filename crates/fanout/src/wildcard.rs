//! The one `*`/`?` wildcard match behind every pattern ssh-fanout reads:
//! `-x` exclusion globs, ssh_config `Host`/`Match` and `Include` globs, and
//! known_hosts host patterns.
//!
//! - [`match_pattern`] and [`match_pattern_list`] are OpenSSH's `match.c`
//!   (bytes; `!` negation; a matching negation wins; a sub-pattern of 1,023
//!   bytes or more fails the whole list, as `sub[1024]` does there);
//! - [`glob_match`] is the same match over characters, for text that is not
//!   OpenSSH's (host globs, file names).

/// OpenSSH copies each sub-pattern into a 1024-byte buffer and gives up on
/// the whole list when one does not fit.
pub(crate) const MAX_SUBPATTERN: usize = 1023;

/// The result of [`match_pattern_list`] (`match.c`: 0, 1 or -1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Match {
    None,
    Positive,
    Negative,
}

/// `match_pattern`: `*` any run, `?` any one byte, everything else
/// literal (no character classes). Case-sensitive.
pub(crate) fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    wildcard(p, s, b'*', b'?')
}

/// `match_pattern_list(string, pattern, dolower)`: comma-separated
/// sub-patterns, each optionally `!`-negated. With `lower`, each
/// sub-pattern is lowercased (the string is taken as given, as in OpenSSH,
/// whose callers lowercase host names first).
pub(crate) fn match_pattern_list(s: &[u8], list: &[u8], lower: bool) -> Match {
    let mut positive = false;
    let mut i = 0;
    // match.c's loop: a trailing comma ends the list (no empty last
    // sub-pattern), while `a,,b` holds an empty one.
    while i < list.len() {
        let negated = list[i] == b'!';
        if negated {
            i += 1;
        }
        let start = i;
        while i < list.len() && list[i] != b',' {
            i += 1;
        }
        let sub = &list[start..i];
        if sub.len() >= MAX_SUBPATTERN {
            return Match::None;
        }
        if i < list.len() {
            i += 1; // the comma
        }
        let matched = if lower && sub.iter().any(u8::is_ascii_uppercase) {
            match_pattern(s, &sub.to_ascii_lowercase())
        } else {
            match_pattern(s, sub)
        };
        if matched {
            if negated {
                return Match::Negative;
            }
            positive = true;
        }
    }
    if positive {
        Match::Positive
    } else {
        Match::None
    }
}

/// Shell-style glob over characters: `*` matches any run, `?` one
/// character. Case-sensitive.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        wildcard(pattern.as_bytes(), text.as_bytes(), b'*', b'?')
    } else {
        let pattern: Vec<char> = pattern.chars().collect();
        let text: Vec<char> = text.chars().collect();
        wildcard(&pattern, &text, '*', '?')
    }
}

/// The match itself, over bytes or chars: `star` matches any run, `any`
/// one element. Backtracks to the last star only, so it is
/// O(pattern × text) at worst, without recursion.
pub(crate) fn wildcard<T: Copy + PartialEq>(p: &[T], t: &[T], star_c: T, any: T) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = t.get(ti) {
        match p.get(pi) {
            Some(&c) if c == star_c => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == any || c == tc => {
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
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == star_c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_match_c() {
        assert!(match_pattern(b"web1.lab", b"*.lab"));
        assert!(match_pattern(b"web1", b"web?"));
        assert!(!match_pattern(b"web10", b"web?"));
        assert!(match_pattern(b"", b"*"));
        assert!(match_pattern(b"a*b", b"a*b"));
        assert!(!match_pattern(b"ab", b""));
        assert!(!match_pattern(b"Web", b"web"), "case-sensitive");
        // `?` is one byte, as in C: a two-byte character needs two.
        assert!(match_pattern("hó".as_bytes(), b"h??"));
        assert!(!match_pattern("hó".as_bytes(), b"h?"));
    }

    #[test]
    fn lists_negate_and_lowercase_sub_patterns() {
        let list = |s: &[u8], l: &[u8]| match_pattern_list(s, l, true);
        assert_eq!(list(b"x.lab", b"*.lab,!bad.lab"), Match::Positive);
        assert_eq!(list(b"bad.lab", b"*.lab,!bad.lab"), Match::Negative);
        assert_eq!(list(b"bad.lab", b"!bad.lab,*"), Match::Negative);
        assert_eq!(list(b"bad.lab", b"!bad.lab"), Match::Negative);
        assert_eq!(list(b"web", b"WEB"), Match::Positive);
        assert_eq!(match_pattern_list(b"web", b"WEB", false), Match::None);
        assert_eq!(match_pattern_list(b"WEB", b"web", true), Match::None);
        assert_eq!(list(b"c", b"a,,b,"), Match::None);
        assert_eq!(
            list(b"", b"a,,b"),
            Match::Positive,
            "an empty sub-pattern matches \"\""
        );
        assert_eq!(list(b"", b"a,"), Match::None, "a trailing comma adds none");
        assert_eq!(list(b"", b""), Match::None);
        let long = format!("x,{}", "y".repeat(MAX_SUBPATTERN));
        assert_eq!(list(b"x", long.as_bytes()), Match::None);
    }

    #[test]
    fn globs_count_characters() {
        assert!(glob_match("h?st", "hóst"));
        assert!(glob_match("*ó*", "xóy"));
        assert!(!glob_match("h?st", "hst"));
        assert!(glob_match("web*", "web12"));
        assert!(!glob_match("h?", "h12"));
    }
}
