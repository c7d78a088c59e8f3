//! Cutting a large inventory into batches that parse on their own.
//!
//! toml's parser keeps every token and every event of a document in memory
//! before it builds the tree: a 50 MB inventory peaked at 1.25 GB inside
//! `toml::from_str` alone. A TOML document is a sequence of sections, each
//! opened by a `[table]` header whose keys are absolute, so a run of whole
//! sections is itself a document with the same meaning. [`split`] lexes the
//! text once with toml_parser's streaming lexer (which holds nothing) and
//! cuts it before `[hosts.KEY]` headers, about every [`BATCH_BYTES`]; the
//! inventory parses one batch at a time and keeps only what it built.
//!
//! Only what a batch cannot see is checked here: the same one-key header
//! (`[defaults]`, `[hosts]`, `[groups]`) opened in two batches, which toml
//! calls a `duplicate key`. Host entries defined twice are caught by the
//! inventory's own duplicate check. Anything unusual keeps the whole text in
//! one batch, so toml's rules apply unchanged: key/value lines before the
//! first header (dotted keys or inline tables there could be reopened by a
//! later header), `[[array]]` headers, quoted header keys with escapes, and
//! headers that do not lex as `[key.key…]`. So does any text shorter than
//! one batch.

use std::collections::HashMap;
use std::ops::Range;

use toml_parser::Source;
use toml_parser::lexer::{Lexer, Token, TokenKind};

/// The least text in a batch before it may be cut (1 MiB: toml's peak on
/// it is about 25 MiB).
pub(super) const BATCH_BYTES: usize = 1 << 20;

/// A one-key header opened in two batches: the byte offset of the second
/// header's key (where toml would report its `duplicate key`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Duplicate {
    pub offset: usize,
}

/// The byte ranges of `text` to parse, in order; they cover all of it.
/// `batch_bytes` is [`BATCH_BYTES`] except in tests.
pub(super) fn split(text: &str, batch_bytes: usize) -> Result<Vec<Range<usize>>, Duplicate> {
    #[allow(clippy::single_range_in_vec_init)]
    let whole = || vec![0..text.len()];
    if text.len() <= batch_bytes {
        return Ok(whole());
    }
    let mut lexer = Source::new(text).lex();
    let mut starts = vec![0];
    // Which batch opened each one-key header.
    let mut opened: HashMap<String, usize> = HashMap::new();
    let mut depth = 0usize;
    let mut line_start = true;
    let mut line_offset = 0;
    let mut before_first_header = true;
    while let Some(token) = lexer.next() {
        match token.kind() {
            TokenKind::Eof => break,
            TokenKind::Whitespace | TokenKind::Comment => continue,
            TokenKind::Newline => {
                line_start = true;
                line_offset = token.span().end();
                continue;
            }
            TokenKind::LeftSquareBracket if depth == 0 && line_start => {
                before_first_header = false;
                let Some(keys) = header_keys(text, &mut lexer) else {
                    return Ok(whole());
                };
                let batch = starts.len() - 1;
                match keys.as_slice() {
                    [(name, offset)] => match opened.get(name) {
                        Some(&first) if first != batch => {
                            return Err(Duplicate { offset: *offset });
                        }
                        _ => {
                            opened.insert(name.clone(), batch);
                        }
                    },
                    [(section, _), _] if section == "hosts" => {
                        let current = starts.last().copied().unwrap_or(0);
                        if line_offset - current >= batch_bytes {
                            starts.push(line_offset);
                        }
                    }
                    _ => {}
                }
            }
            _ if before_first_header => return Ok(whole()),
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        line_start = false;
    }
    let mut ranges: Vec<Range<usize>> = starts.windows(2).map(|pair| pair[0]..pair[1]).collect();
    ranges.push(starts.last().copied().unwrap_or(0)..text.len());
    Ok(ranges)
}

/// The keys of a `[a.b…]` header whose `[` was just read, each with the byte
/// offset where it starts; `None` for anything else (`[[`, escapes, a
/// missing `]`), which the caller leaves to toml.
fn header_keys(text: &str, lexer: &mut Lexer<'_>) -> Option<Vec<(String, usize)>> {
    let mut keys = Vec::new();
    let mut want_key = true;
    for token in lexer.by_ref() {
        match token.kind() {
            TokenKind::Whitespace => {}
            TokenKind::RightSquareBracket if !want_key => return Some(keys),
            TokenKind::Dot if !want_key => want_key = true,
            TokenKind::Atom | TokenKind::BasicString | TokenKind::LiteralString if want_key => {
                keys.push((simple_key(text, token)?, token.span().start()));
                want_key = false;
            }
            _ => return None,
        }
    }
    None
}

/// A bare key, or a quoted key without escapes, as written.
fn simple_key(text: &str, token: Token) -> Option<String> {
    let raw = text.get(token.span().start()..token.span().end())?;
    let key = match token.kind() {
        TokenKind::Atom => raw,
        TokenKind::BasicString => raw.strip_prefix('"')?.strip_suffix('"')?,
        TokenKind::LiteralString => raw.strip_prefix('\'')?.strip_suffix('\'')?,
        _ => return None,
    };
    let bare = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let plain_quoted = token.kind() != TokenKind::Atom && !key.contains(['\\', '\n']);
    (bare || plain_quoted).then(|| key.to_owned())
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> String {
        (0..n)
            .map(|i| format!("[hosts.\"h{i}\"]\naddress = \"127.0.0.1\"\n\n"))
            .collect()
    }

    fn pieces<'a>(text: &'a str, ranges: &[Range<usize>]) -> Vec<&'a str> {
        ranges.iter().map(|r| &text[r.clone()]).collect()
    }

    #[test]
    fn cuts_before_host_headers_and_covers_the_text() {
        let text = format!(
            "[defaults]\nuser = \"u\"\n\n{}[groups]\nall = [\n  \"h1\",\n]\n",
            hosts(10)
        );
        let ranges = split(&text, 60).unwrap();
        assert!(ranges.len() > 2, "{ranges:?}");
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, text.len());
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for (i, piece) in pieces(&text, &ranges).iter().enumerate().skip(1) {
            assert!(piece.starts_with("[hosts.\"h"), "batch {i}: {piece:?}");
        }
        // Every batch is a document of its own.
        for piece in pieces(&text, &ranges) {
            toml::from_str::<toml::Table>(piece).unwrap();
        }
    }

    #[test]
    fn short_text_and_unusual_documents_stay_whole() {
        let body = hosts(10);
        let unusual = [
            format!("hosts.x.address = \"a\"\n{body}"),
            format!("title = 1\n{body}"),
            format!("[[hosts]]\n{body}"),
            format!("[\"ho\\u0073ts\"]\n{body}"),
            format!("{body}[hosts.\"broken\"\n"),
        ];
        for text in &unusual {
            assert_eq!(split(text, 60).unwrap(), vec![0..text.len()], "{text:?}");
        }
        assert_eq!(split(&body, body.len()).unwrap(), vec![0..body.len()]);
    }

    #[test]
    fn newlines_and_brackets_inside_values_are_not_headers() {
        let text = format!(
            "{}[groups]\nall = [\n[\"nested\"],\n\"\"\"\n[hosts.fake]\n\"\"\",\n]\n{}",
            hosts(5),
            hosts(5).replace("\"h", "\"k")
        );
        let ranges = split(&text, 40).unwrap();
        for piece in pieces(&text, &ranges).iter().skip(1) {
            assert!(piece.starts_with("[hosts.\""), "{piece:?}");
            assert!(!piece.starts_with("[hosts.fake]"));
        }
    }

    #[test]
    fn a_section_opened_in_two_batches_is_a_duplicate_key() {
        let text = format!("[groups]\na = []\n{}[ groups ]\nb = []\n", hosts(10));
        let offset = text.rfind("groups").unwrap();
        assert_eq!(split(&text, 60), Err(Duplicate { offset }));
        // In one batch, toml reports it itself.
        let one = split(&text, text.len()).unwrap();
        assert_eq!(one.len(), 1);
        assert!(toml::from_str::<toml::Table>(&text).is_err());
    }
}
