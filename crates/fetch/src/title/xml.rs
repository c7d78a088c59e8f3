//! XHTML served as `application/xhtml+xml`: a browser parses it as XML, so
//! `document.title` is the first `title` element in the XHTML namespace
//! (`http://www.w3.org/1999/xhtml`, however it is prefixed) in document
//! order, and its child text content (text and CDATA children, not the
//! text of nested elements), ASCII whitespace stripped and collapsed.
//! quick-xml's namespace-aware reader does the reading; only well-formed
//! documents are read this way (see [`XmlTitle::Malformed`]).

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

use super::tree::TitleText;

/// The XHTML namespace.
const XHTML: &str = "http://www.w3.org/1999/xhtml";

/// What a read of (a prefix of) the document found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum XmlTitle {
    /// The first XHTML title, closed: its collapsed text and whether it was
    /// cut at the cap. Nothing later can change it.
    Found(String, bool),
    /// A well-formed document without an XHTML title.
    None,
    /// The prefix ends before the answer (not at the end of the input).
    NeedMore,
    /// Not well-formed before the title ended (a browser shows its XML
    /// error page): the caller falls back to HTML rules.
    Malformed,
}

/// Reads `text` (the whole document when `eof`, else a prefix of it).
pub(super) fn xml_title(text: &str, eof: bool, max_chars: usize) -> XmlTitle {
    let mut reader = NsReader::from_str(text);
    // Inside the first XHTML title: its collected text and how deep
    // inside nested elements the reader is.
    let mut title: Option<(TitleText, usize)> = None;
    loop {
        let event = match reader.read_resolved_event() {
            Ok((ns, event)) => {
                let xhtml = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == XHTML);
                (xhtml, event)
            }
            // An error at the cut of a prefix is the cut; at the end of
            // the input it is a malformed document.
            Err(_) if eof => return XmlTitle::Malformed,
            Err(_) => return XmlTitle::NeedMore,
        };
        match (event, title.as_mut()) {
            ((true, Event::Start(start)), None) if start.local_name().as_ref() == "title" => {
                title = Some((TitleText::default(), 0));
            }
            ((_, Event::Start(_)), Some((_, depth))) => *depth += 1,
            ((_, Event::End(_)), Some((text, depth))) => {
                if *depth == 0 {
                    let (t, cut) = std::mem::take(text).finish(max_chars);
                    return XmlTitle::Found(t, cut);
                }
                *depth -= 1;
            }
            ((_, Event::Text(t)), Some((text, 0))) => text.push(&t.xml10_content(), max_chars),
            ((_, Event::CData(t)), Some((text, 0))) => text.push(&t.xml10_content(), max_chars),
            ((_, Event::GeneralRef(r)), Some((text, 0))) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match r.xml10_content().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        // An entity no DTD here defines: not well-formed.
                        _ => return XmlTitle::Malformed,
                    },
                    Err(_) => return XmlTitle::Malformed,
                };
                let mut buf = [0u8; 4];
                text.push(c.encode_utf8(&mut buf), max_chars);
            }
            ((_, Event::Eof), open) => {
                return match (open, eof) {
                    (_, false) => XmlTitle::NeedMore,
                    (None, true) => XmlTitle::None,
                    // The title never ended: not well-formed.
                    (Some(_), true) => XmlTitle::Malformed,
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(doc: &str) -> XmlTitle {
        xml_title(doc, true, 1024)
    }

    fn found(s: &str) -> XmlTitle {
        XmlTitle::Found(s.to_owned(), false)
    }

    #[test]
    fn the_first_xhtml_title_under_xml_rules() {
        let doc = r#"<?xml version="1.0"?>
            <html xmlns="http://www.w3.org/1999/xhtml"><head>
            <title> A &amp; <b>not this</b> <![CDATA[<B>]]>&#x263A; </title>
            <title>second</title></head></html>"#;
        assert_eq!(title(doc), found("A & <B>\u{263a}"));
        // Any prefix; a title in another namespace, or in none, is not it.
        let doc = r#"<root><title>no namespace</title>
            <svg xmlns="http://www.w3.org/2000/svg"><title>svg</title></svg>
            <h:title xmlns:h="http://www.w3.org/1999/xhtml">Prefixed</h:title></root>"#;
        assert_eq!(title(doc), found("Prefixed"));
        assert_eq!(
            title(r#"<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>"#),
            XmlTitle::None
        );
    }

    #[test]
    fn prefixes_wait_and_malformed_documents_say_so() {
        let doc = r#"<html xmlns="http://www.w3.org/1999/xhtml"><title>Done</title><p>"#;
        for cut in [10, 45, 52] {
            assert_eq!(xml_title(&doc[..cut], false, 1024), XmlTitle::NeedMore);
        }
        assert_eq!(xml_title(doc, false, 1024), found("Done"));
        for bad in [
            r#"<html xmlns="http://www.w3.org/1999/xhtml"><title>a</p></title>"#,
            r#"<html xmlns="http://www.w3.org/1999/xhtml"><title>&nbsp;</title>"#,
            r#"<html xmlns="http://www.w3.org/1999/xhtml"><title>open"#,
        ] {
            assert_eq!(title(bad), XmlTitle::Malformed, "{bad}");
        }
    }
}
