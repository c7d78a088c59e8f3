//! Splitting a config line into a keyword and words, as OpenSSH 9.2's
//! `process_config_line_depth` (`strdelim` for the keyword) and `argv_split`
//! (with `terminate_on_comment`) do.

use crate::wildcard::{self, Match};

/// A line split into its lowercased keyword, the raw text after the
/// keyword separator, and the words of that text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitLine {
    /// The keyword, lowercased.
    pub keyword: String,
    /// The text after the keyword and its separator (` `, `=`, ` = `),
    /// trailing whitespace removed; `ProxyCommand` takes it verbatim.
    pub rest: String,
    /// The words of `rest`: quotes and escapes removed, stopped at a `#`
    /// that starts a word.
    pub words: Vec<String>,
}

/// Why a line could not be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// A keyword with nothing after it.
    NoArgument(String),
    /// An unterminated quote.
    InvalidQuotes,
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

/// Splits one line. `Ok(None)` for blank and comment lines.
pub fn split_line(line: &str) -> Result<Option<SplitLine>, SplitError> {
    let line = line.trim_end_matches(|c: char| is_ws(c) || c == '\x0c');
    let line = line.trim_start_matches(is_ws);
    let end = line
        .find(|c: char| is_ws(c) || c == '=' || c == '"')
        .unwrap_or(line.len());
    let keyword = &line[..end];
    if keyword.is_empty() || keyword.starts_with('#') {
        return Ok(None);
    }
    let keyword = keyword.to_ascii_lowercase();
    let mut rest = &line[end..];
    // strdelim: skip whitespace, at most one `=`, whitespace again.
    rest = rest.trim_start_matches(is_ws);
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(is_ws);
    }
    if rest.is_empty() {
        return Err(SplitError::NoArgument(keyword));
    }
    let words = argv_split(rest)?;
    Ok(Some(SplitLine {
        keyword,
        rest: rest.to_owned(),
        words,
    }))
}

/// `argv_split(s, .., terminate_on_comment = 1)` from OpenSSH's misc.c.
pub fn argv_split(s: &str) -> Result<Vec<String>, SplitError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        let mut quote: Option<char> = None;
        let mut arg = String::new();
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if c == '\\' {
                match next {
                    Some(n)
                        if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') =>
                    {
                        i += 1;
                        arg.push(n);
                    }
                    _ => arg.push(c),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote.is_some() {
            return Err(SplitError::InvalidQuotes);
        }
        out.push(arg);
    }
    Ok(out)
}

/// OpenSSH's `match_pattern_list` as readconf.c uses it: matched when a
/// sub-pattern matches and no `!`-negated one does. With `lower`, the host
/// name and the patterns are compared in lower case.
pub fn match_pattern_list(s: &str, list: &str, lower: bool) -> bool {
    let matched = if lower && s.bytes().any(|b| b.is_ascii_uppercase()) {
        wildcard::match_pattern_list(s.to_ascii_lowercase().as_bytes(), list.as_bytes(), lower)
    } else {
        wildcard::match_pattern_list(s.as_bytes(), list.as_bytes(), lower)
    };
    matched == Match::Positive
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        match split_line(s) {
            Ok(Some(l)) => {
                let mut v = vec![l.keyword];
                v.extend(l.words);
                v
            }
            _ => Vec::new(),
        }
    }

    #[test]
    fn words_quotes_equals_comments() {
        assert_eq!(w("Host bastion # the jump box"), ["host", "bastion"]);
        assert_eq!(w("  Port=22"), ["port", "22"]);
        assert_eq!(w("Port = 22"), ["port", "22"]);
        assert_eq!(
            w("IdentityFile \"/a b\" 'c d' e\\ f"),
            ["identityfile", "/a b", "c d", "e f"]
        );
        assert_eq!(w("User a#b"), ["user", "a#b"]);
        assert_eq!(w("# x"), Vec::<String>::new());
        assert_eq!(
            split_line("Port"),
            Err(SplitError::NoArgument("port".into()))
        );
        assert_eq!(split_line("User \"x"), Err(SplitError::InvalidQuotes));
    }

    #[test]
    fn patterns() {
        assert!(match_pattern_list("WEB1", "db,web*", true));
        assert!(!match_pattern_list("web1", "web*,!web1", true));
    }
}
