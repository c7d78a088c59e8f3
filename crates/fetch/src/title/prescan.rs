//! The WHATWG "prescan a byte stream to determine its encoding" algorithm
//! (<https://html.spec.whatwg.org/multipage/parsing.html#prescan-a-byte-stream-to-determine-its-encoding>),
//! applied to the first 1024 bytes: `<meta charset>` and
//! `<meta http-equiv="content-type" content="...; charset=...">`.

use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How many bytes the prescan looks at.
pub(crate) const PRESCAN_LEN: usize = 1024;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

fn starts_with_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Runs the prescan over `bytes` (callers pass at most the first 1024).
pub(crate) fn prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.starts_with(b"<!--") {
            // Points at the '>' of the first "-->" after "<!".
            match find(bytes, b"-->", pos + 2) {
                Some(end) => pos = end + 2,
                None => return None,
            }
        } else if starts_with_ci(rest, b"<meta")
            && rest.get(5).is_some_and(|&b| is_ws(b) || b == b'/')
        {
            pos += 5;
            if let Some(enc) = meta_element(bytes, &mut pos) {
                return Some(enc);
            }
        } else if (rest.len() >= 2 && rest[0] == b'<' && rest[1].is_ascii_alphabetic())
            || (rest.len() >= 3 && rest.starts_with(b"</") && rest[2].is_ascii_alphabetic())
        {
            while pos < bytes.len() && !is_ws(bytes[pos]) && bytes[pos] != b'>' {
                pos += 1;
            }
            while get_attribute(bytes, &mut pos).is_some() {}
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            match bytes[pos..].iter().position(|&b| b == b'>') {
                Some(off) => pos += off,
                None => return None,
            }
        }
        pos += 1;
    }
    None
}

fn meta_element(bytes: &[u8], pos: &mut usize) -> Option<&'static Encoding> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut got_pragma = false;
    let mut need_pragma: Option<bool> = None;
    let mut charset: Option<&'static Encoding> = None;
    while let Some((name, value)) = get_attribute(bytes, pos) {
        if seen.contains(&name) {
            continue;
        }
        match name.as_slice() {
            b"http-equiv" if value == b"content-type" => got_pragma = true,
            b"content" => {
                if charset.is_none()
                    && let Some(enc) = charset_from_content(&value)
                {
                    charset = Some(enc);
                    need_pragma = Some(true);
                }
            }
            b"charset" => {
                charset = Encoding::for_label(&value);
                need_pragma = Some(false);
            }
            _ => {}
        }
        seen.push(name);
    }
    let need_pragma = need_pragma?;
    if need_pragma && !got_pragma {
        return None;
    }
    let enc = charset?;
    Some(normalize_meta_encoding(enc))
}

/// The meta-specific overrides: UTF-16 in a meta is a lie (the bytes are
/// ASCII-compatible or we could not have read it), and x-user-defined means
/// windows-1252.
pub(crate) fn normalize_meta_encoding(enc: &'static Encoding) -> &'static Encoding {
    if enc == UTF_16BE || enc == UTF_16LE {
        UTF_8
    } else if enc == X_USER_DEFINED {
        WINDOWS_1252
    } else {
        enc
    }
}

/// The "get an attribute" algorithm. Returns `None` at `>` or end of input.
fn get_attribute(bytes: &[u8], pos: &mut usize) -> Option<(Vec<u8>, Vec<u8>)> {
    while *pos < bytes.len() && (is_ws(bytes[*pos]) || bytes[*pos] == b'/') {
        *pos += 1;
    }
    let &first = bytes.get(*pos)?;
    if first == b'>' {
        return None;
    }
    let mut name = Vec::new();
    let mut value = Vec::new();
    // Name.
    loop {
        let &b = bytes.get(*pos)?;
        if b == b'=' && !name.is_empty() {
            *pos += 1;
            break;
        } else if is_ws(b) {
            while bytes.get(*pos).is_some_and(|&b| is_ws(b)) {
                *pos += 1;
            }
            if bytes.get(*pos) != Some(&b'=') {
                return Some((name, value));
            }
            *pos += 1;
            break;
        } else if b == b'/' || b == b'>' {
            return Some((name, value));
        }
        name.push(b.to_ascii_lowercase());
        *pos += 1;
    }
    // Value.
    while bytes.get(*pos).is_some_and(|&b| is_ws(b)) {
        *pos += 1;
    }
    let &b = bytes.get(*pos)?;
    if b == b'"' || b == b'\'' {
        *pos += 1;
        loop {
            let &c = bytes.get(*pos)?;
            *pos += 1;
            if c == b {
                return Some((name, value));
            }
            value.push(c.to_ascii_lowercase());
        }
    }
    if b == b'>' {
        return Some((name, value));
    }
    loop {
        let Some(&c) = bytes.get(*pos) else {
            return Some((name, value));
        };
        if is_ws(c) || c == b'>' {
            return Some((name, value));
        }
        value.push(c.to_ascii_lowercase());
        *pos += 1;
    }
}

/// "Extract a character encoding from a meta element" (the `content` value).
pub(crate) fn charset_from_content(content: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    loop {
        let idx = content[pos..]
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?;
        pos += idx + 7;
        while content.get(pos).is_some_and(|&b| is_ws(b)) {
            pos += 1;
        }
        if content.get(pos) != Some(&b'=') {
            continue;
        }
        pos += 1;
        while content.get(pos).is_some_and(|&b| is_ws(b)) {
            pos += 1;
        }
        let &b = content.get(pos)?;
        let label = if b == b'"' || b == b'\'' {
            let end = content[pos + 1..].iter().position(|&c| c == b)?;
            &content[pos + 1..pos + 1 + end]
        } else {
            let end = content[pos..]
                .iter()
                .position(|&c| is_ws(c) || c == b';')
                .unwrap_or(content.len() - pos);
            &content[pos..pos + end]
        };
        return Encoding::for_label(label).filter(|e| *e != REPLACEMENT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{EUC_JP, SHIFT_JIS, WINDOWS_1251};

    #[test]
    fn meta_charset() {
        assert_eq!(
            prescan(b"<html><head><meta charset=\"shift_jis\">"),
            Some(SHIFT_JIS)
        );
        assert_eq!(prescan(b"<META CHARSET=windows-1251>"), Some(WINDOWS_1251));
        assert_eq!(prescan(b"<meta/charset='euc-jp'>"), Some(EUC_JP));
    }

    #[test]
    fn http_equiv_needs_pragma() {
        let doc = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=EUC-JP\">";
        assert_eq!(prescan(doc), Some(EUC_JP));
        assert_eq!(
            prescan(b"<meta content=\"text/html; charset=EUC-JP\">"),
            None
        );
    }

    #[test]
    fn skips_comments_and_attribute_values() {
        assert_eq!(
            prescan(b"<!-- <meta charset=euc-jp> --><meta charset=shift_jis>"),
            Some(SHIFT_JIS)
        );
        assert_eq!(
            prescan(b"<div title='<meta charset=euc-jp>'><meta charset=shift_jis>"),
            Some(SHIFT_JIS)
        );
    }

    #[test]
    fn utf16_in_meta_means_utf8() {
        assert_eq!(prescan(b"<meta charset=utf-16le>"), Some(UTF_8));
        assert_eq!(
            prescan(b"<meta charset=x-user-defined>"),
            Some(WINDOWS_1252)
        );
    }

    #[test]
    fn unknown_label_is_ignored() {
        assert_eq!(
            prescan(b"<meta charset=klingon><meta charset=euc-jp>"),
            Some(EUC_JP)
        );
    }
}
