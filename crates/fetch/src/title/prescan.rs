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

/// What one step of the prescan found.
enum Attr {
    /// An attribute: its name and value, ASCII-lowercased.
    Found(Vec<u8>, Vec<u8>),
    /// A `>`: the tag has no more attributes.
    End,
}

/// The bytes ran out (the end of the input or of the prescan window)
/// before the construct did: the spec aborts the whole prescan.
struct OutOfBytes;

/// Runs the prescan over `bytes` (callers pass at most the first 1024).
///
/// Running out of bytes anywhere (inside a comment, a tag, an attribute)
/// aborts the prescan, as the spec says: a `<meta charset=euc-jp` cut off
/// by the end of the input or of the window is no declaration. An aborted
/// prescan falls back to "get an XML encoding" (`<?xml ... encoding="...">`
/// at the very start).
pub(crate) fn prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    match scan(bytes) {
        Ok(found) => Some(found),
        Err(OutOfBytes) => xml_encoding(bytes),
    }
}

fn scan(bytes: &[u8]) -> Result<&'static Encoding, OutOfBytes> {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.starts_with(b"<!--") {
            // Points at the '>' of the first "-->" after "<!".
            pos = find(bytes, b"-->", pos + 2).ok_or(OutOfBytes)? + 2;
        } else if starts_with_ci(rest, b"<meta")
            && rest.get(5).is_some_and(|&b| is_ws(b) || b == b'/')
        {
            pos += 5;
            if let Some(enc) = meta_element(bytes, &mut pos)? {
                return Ok(enc);
            }
        } else if (rest.len() >= 2 && rest[0] == b'<' && rest[1].is_ascii_alphabetic())
            || (rest.len() >= 3 && rest.starts_with(b"</") && rest[2].is_ascii_alphabetic())
        {
            while pos < bytes.len() && !is_ws(bytes[pos]) && bytes[pos] != b'>' {
                pos += 1;
            }
            while let Attr::Found(..) = get_attribute(bytes, &mut pos)? {}
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            pos += rest.iter().position(|&b| b == b'>').ok_or(OutOfBytes)?;
        }
        pos += 1;
    }
    Err(OutOfBytes)
}

/// The attributes of a `<meta` from `pos` (just after the name) to its
/// `>`, and the encoding they declare, if any.
fn meta_element(bytes: &[u8], pos: &mut usize) -> Result<Option<&'static Encoding>, OutOfBytes> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut got_pragma = false;
    let mut need_pragma: Option<bool> = None;
    let mut charset: Option<&'static Encoding> = None;
    while let Attr::Found(name, value) = get_attribute(bytes, pos)? {
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
    let Some(need_pragma) = need_pragma else {
        return Ok(None);
    };
    if need_pragma && !got_pragma {
        return Ok(None);
    }
    Ok(charset.map(normalize_meta_encoding))
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

/// The "get an attribute" algorithm: an attribute, the tag's `>`, or
/// [`OutOfBytes`] when the bytes end first (the value included: an
/// unquoted value must end with a space or `>` inside the bytes).
fn get_attribute(bytes: &[u8], pos: &mut usize) -> Result<Attr, OutOfBytes> {
    let at = |pos: usize| bytes.get(pos).copied().ok_or(OutOfBytes);
    while is_ws(at(*pos)?) || at(*pos)? == b'/' {
        *pos += 1;
    }
    if at(*pos)? == b'>' {
        return Ok(Attr::End);
    }
    let mut name = Vec::new();
    let mut value = Vec::new();
    // Name.
    loop {
        let b = at(*pos)?;
        if b == b'=' && !name.is_empty() {
            *pos += 1;
            break;
        } else if is_ws(b) {
            while is_ws(at(*pos)?) {
                *pos += 1;
            }
            if at(*pos)? != b'=' {
                return Ok(Attr::Found(name, value));
            }
            *pos += 1;
            break;
        } else if b == b'/' || b == b'>' {
            return Ok(Attr::Found(name, value));
        }
        name.push(b.to_ascii_lowercase());
        *pos += 1;
    }
    // Value.
    while is_ws(at(*pos)?) {
        *pos += 1;
    }
    let b = at(*pos)?;
    if b == b'"' || b == b'\'' {
        loop {
            *pos += 1;
            let c = at(*pos)?;
            if c == b {
                *pos += 1;
                return Ok(Attr::Found(name, value));
            }
            value.push(c.to_ascii_lowercase());
        }
    }
    if b == b'>' {
        return Ok(Attr::Found(name, value));
    }
    value.push(b.to_ascii_lowercase());
    *pos += 1;
    loop {
        let c = at(*pos)?;
        if is_ws(c) || c == b'>' {
            return Ok(Attr::Found(name, value));
        }
        value.push(c.to_ascii_lowercase());
        *pos += 1;
    }
}

/// "Get an XML encoding": `<?xml` at the very start, then `encoding`,
/// `=`, and a quoted label, before the first `>`.
pub(crate) fn xml_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    if !bytes.starts_with(b"<?xml") {
        return None;
    }
    let decl_end = bytes.iter().position(|&b| b == b'>')?;
    let decl = &bytes[..decl_end];
    let mut pos = find(decl, b"encoding", 0)? + b"encoding".len();
    while decl.get(pos).is_some_and(|&b| b <= 0x20) {
        pos += 1;
    }
    if decl.get(pos) != Some(&b'=') {
        return None;
    }
    pos += 1;
    while decl.get(pos).is_some_and(|&b| b <= 0x20) {
        pos += 1;
    }
    let quote = *decl.get(pos).filter(|&&q| q == b'"' || q == b'\'')?;
    pos += 1;
    let len = decl.get(pos..)?.iter().position(|&b| b == quote)?;
    let label = decl.get(pos..pos + len)?;
    if label.iter().any(|&b| b <= 0x20) {
        return None;
    }
    let enc = Encoding::for_label(label)?;
    Some(if enc == UTF_16BE || enc == UTF_16LE {
        UTF_8
    } else {
        enc
    })
}

/// What a `meta` element the tree builder inserts declares: its `charset`
/// attribute when that names an encoding, else `http-equiv=Content-Type`
/// with a `content` that has a `charset=` (the "in head" rule for `meta`);
/// normalized as the prescan's result is. The replacement encoding is
/// ignored, as the prescan ignores it here.
pub(crate) fn meta_declaration(
    charset: Option<&[u8]>,
    http_equiv: Option<&[u8]>,
    content: Option<&[u8]>,
) -> Option<&'static Encoding> {
    if let Some(enc) = charset
        .and_then(Encoding::for_label)
        .filter(|e| *e != REPLACEMENT)
    {
        return Some(normalize_meta_encoding(enc));
    }
    if http_equiv.is_some_and(|v| v.eq_ignore_ascii_case(b"content-type"))
        && let Some(enc) = content.and_then(charset_from_content)
    {
        return Some(normalize_meta_encoding(enc));
    }
    None
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
    fn a_tag_cut_off_by_the_end_is_no_declaration() {
        for cut in [
            &b"<meta charset=euc-jp"[..],
            b"<meta charset=\"euc-jp\"",
            b"<meta charset='euc-jp' ",
            b"<meta http-equiv=content-type content=\"text/html; charset=euc-jp\"",
            b"<p title='x'><meta charset=euc-jp",
        ] {
            assert_eq!(prescan(cut), None, "{}", String::from_utf8_lossy(cut));
        }
        // The same tags closed are declarations.
        assert_eq!(prescan(b"<meta charset=euc-jp>"), Some(EUC_JP));
        assert_eq!(prescan(b"<meta charset=\"euc-jp\">"), Some(EUC_JP));
        // A meta whose `>` lies beyond the window: the caller passes the
        // window, so it is cut off there.
        let mut doc = vec![b' '; PRESCAN_LEN - 20];
        doc.extend_from_slice(b"<meta charset=euc-jp>");
        assert_eq!(prescan(&doc[..PRESCAN_LEN]), None);
        assert_eq!(prescan(&doc), Some(EUC_JP));
    }

    #[test]
    fn an_aborted_prescan_takes_the_xml_declaration() {
        assert_eq!(
            prescan(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><p>"),
            Some(SHIFT_JIS)
        );
        assert_eq!(
            prescan(b"<?xml version='1.0' encoding='utf-16'?>"),
            Some(UTF_8)
        );
        // A meta wins; the declaration counts only at the very start.
        assert_eq!(
            prescan(b"<?xml encoding=\"Shift_JIS\"?><meta charset=euc-jp>"),
            Some(EUC_JP)
        );
        assert_eq!(prescan(b" <?xml encoding=\"Shift_JIS\"?>"), None);
        assert_eq!(prescan(b"<?xml encoding=Shift_JIS?>"), None);
    }

    #[test]
    fn unknown_label_is_ignored() {
        assert_eq!(
            prescan(b"<meta charset=klingon><meta charset=euc-jp>"),
            Some(EUC_JP)
        );
    }
}
