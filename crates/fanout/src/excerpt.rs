//! Short excerpts of user input for error messages.
//!
//! An error names the file and line it comes from and quotes at most
//! [`MAX_CHARS`] characters of the offending text, never the whole of it: a
//! 50 MB line in a hostile inventory or `^FILE` must not become 50 MB of
//! stderr. The cut is on a character boundary and says how long the text was.

use std::borrow::Cow;

/// The most characters an error message quotes from one piece of input.
pub const MAX_CHARS: usize = 200;

/// `text` itself when it has at most [`MAX_CHARS`] characters; otherwise
/// its first [`MAX_CHARS`] characters followed by `… (N bytes in all)`.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_CHARS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} bytes in all)", &text[..cut], text.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(excerpt("host[1-3]"), "host[1-3]");
        let exact: String = "é".repeat(MAX_CHARS);
        assert_eq!(excerpt(&exact), exact);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_and_sized() {
        let long: String = "é".repeat(10_000);
        let cut = excerpt(&long);
        assert!(cut.starts_with(&"é".repeat(MAX_CHARS)));
        assert!(cut.ends_with("… (20000 bytes in all)"), "{cut}");
        assert!(cut.chars().count() < MAX_CHARS + 40);
    }
}
