//! Page bytes in legacy charsets for the fetch demo and benchmark, encoded
//! with encoding_rs (characters a charset lacks become `&#NNNN;`).

/// windows-1251 (Cyrillic).
pub fn cp1251(text: &str) -> Vec<u8> {
    encoding_rs::WINDOWS_1251.encode(text).0.into_owned()
}

/// ISO-8859-1, which browsers and fetch-titles read as windows-1252.
pub fn latin1(text: &str) -> Vec<u8> {
    encoding_rs::WINDOWS_1252.encode(text).0.into_owned()
}

/// UTF-16LE with a byte-order mark.
pub fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}
