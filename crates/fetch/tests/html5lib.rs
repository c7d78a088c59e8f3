//! html5lib-tests through the title extractor (vendored under
//! `tests/html5lib/`, MIT):
//! - every tree-construction case whose input contains `title`: the title
//!   the extractor returns must be `document.title` of the expected tree
//!   (the first HTML `title` in tree order, template contents skipped, its
//!   text children joined, ASCII whitespace stripped and collapsed);
//! - the encoding cases: where the extractor settles the encoding from the
//!   document (BOM, the `<meta>` prescan, or a `<meta>` the tree builder
//!   meets after 1024 bytes), it must be the expected one; where nothing
//!   in the document declares one, the test data expects the default
//!   (windows-1252) and the extractor may detect instead, which is counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use netkit_fetch::title::{CharsetSource, ExtractOptions, TitleExtractor};

/// `#data` and the `#document` dump of each case, with where it came from.
struct TreeCase {
    origin: String,
    data: String,
    document: Vec<String>,
    script_off: bool,
}

fn tree_cases() -> Vec<TreeCase> {
    let text = include_str!("html5lib/tree-construction-titles.dat");
    let mut cases = Vec::new();
    for block in text.split("## ").filter(|b| !b.trim().is_empty()) {
        let (origin, rest) = block.split_once('\n').unwrap();
        let rest = rest.strip_prefix("#data\n").unwrap();
        let (data, rest) = rest.split_once("\n#errors\n").unwrap();
        let script_off = rest.contains("\n#script-off\n");
        let (_, document) = rest.split_once("#document\n").unwrap();
        cases.push(TreeCase {
            origin: origin.to_owned(),
            data: data.to_owned(),
            document: document.lines().map(str::to_owned).collect(),
            script_off,
        });
    }
    cases
}

fn collapse(s: &str) -> String {
    s.split([' ', '\t', '\n', '\x0c', '\r'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `document.title` of an html5lib tree dump.
fn expected_title(dump: &[String]) -> Option<String> {
    // (depth, text) per node line; a text node may span lines.
    let mut nodes: Vec<(usize, String)> = Vec::new();
    let mut lines = dump.iter();
    while let Some(line) = lines.next() {
        let Some(body) = line.strip_prefix("| ") else {
            continue;
        };
        let depth = (body.len() - body.trim_start_matches(' ').len()) / 2;
        let mut node = body.trim_start_matches(' ').to_owned();
        if node.starts_with('"') {
            while node.len() < 2 || !node.ends_with('"') {
                match lines.next() {
                    Some(more) => {
                        node.push('\n');
                        node.push_str(more);
                    }
                    None => break,
                }
            }
        }
        nodes.push((depth, node));
    }
    let mut in_content: Option<usize> = None;
    for (i, (depth, node)) in nodes.iter().enumerate() {
        if in_content.is_some_and(|d| *depth <= d) {
            in_content = None;
        }
        if in_content.is_some() {
            continue;
        }
        if node == "content" {
            in_content = Some(*depth);
            continue;
        }
        if node == "<title>" {
            let mut raw = String::new();
            for (d, child) in &nodes[i + 1..] {
                if *d <= *depth {
                    break;
                }
                if *d == depth + 1 && child.starts_with('"') {
                    raw.push_str(&child[1..child.len() - 1]);
                }
            }
            return Some(collapse(&raw));
        }
    }
    None
}

fn extract(data: &[u8], header_utf8: bool) -> netkit_fetch::title::Extraction {
    let mut ex = TitleExtractor::new(ExtractOptions {
        max_title_len: 1 << 20,
        header_charset: header_utf8.then_some(encoding_rs::UTF_8),
        xml: false,
    });
    for chunk in data.chunks(7) {
        if !ex.feed(chunk) {
            break;
        }
    }
    ex.finish()
}

#[test]
fn tree_construction_cases_with_a_title_give_document_title() {
    let cases = tree_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        // The extractor parses with scripting enabled, as browsers do.
        if case.script_off {
            continue;
        }
        checked += 1;
        let want = expected_title(&case.document);
        let got = extract(case.data.as_bytes(), true).title;
        if got != want {
            failures.push(format!(
                "{}: {:?}: want {want:?}, got {got:?}",
                case.origin, case.data
            ));
        }
    }
    eprintln!(
        "{checked} html5lib tree-construction cases, {} differ",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn encoding_cases_declared_in_the_document_are_found() {
    let mut checked = 0;
    let mut detected = 0;
    let mut failures = Vec::new();
    let mut late = Vec::new();
    let mut followed = 0;
    for file in [
        &include_bytes!("html5lib/encoding-tests1.dat")[..],
        &include_bytes!("html5lib/encoding-tests2.dat")[..],
    ] {
        // Bytes: some cases are not UTF-8.
        for block in split_bytes(file, b"#data\n") {
            let Some(at) = find(block, b"\n#encoding\n") else {
                continue;
            };
            let data = &block[..at];
            let rest = String::from_utf8_lossy(&block[at + 11..]);
            let want = rest.lines().next().unwrap_or_default().trim();
            let want = encoding_rs::Encoding::for_label(want.as_bytes()).unwrap();
            let got = extract(data, false);
            match got.charset_source {
                CharsetSource::Bom | CharsetSource::Meta | CharsetSource::ParserMeta => {
                    checked += 1;
                    if late_declaration(data) {
                        followed += 1;
                    }
                    if got.encoding != want {
                        failures.push(format!(
                            "{}: want {}, got {} ({:?})",
                            short(data),
                            want.name(),
                            got.encoding.name(),
                            got.charset_source
                        ));
                    }
                }
                _ if want == encoding_rs::WINDOWS_1252 => detected += 1,
                // Declared after the prescan's 1024 bytes: found by the
                // parser's "change the encoding" step.
                _ if late_declaration(data) => late.push(short(data)),
                _ => failures.push(format!(
                    "{}: want {} from the document, got {} ({:?})",
                    short(data),
                    want.name(),
                    got.encoding.name(),
                    got.charset_source
                )),
            }
        }
    }
    eprintln!(
        "{checked} declared encodings checked, {detected} undeclared (default or detected), \
         {} declared after 1024 bytes and not followed:\n{}",
        late.len(),
        late.join("\n")
    );
    assert!(late.is_empty(), "not followed:\n{}", late.join("\n"));
    assert!(
        followed >= 7,
        "{followed} declarations after 1024 bytes followed"
    );
    assert!(checked >= 40, "{checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_meta_cut_off_by_the_end_of_the_input_is_no_declaration() {
    // html5lib's encoding-tests2.dat expects windows-1252 (the default)
    // here: the tag never ends, so neither the prescan nor the tokenizer
    // sees a declaration.
    for data in [
        &b"<meta charset=euc-jp"[..],
        b"<meta charset=\"euc-jp\"",
        b"<title>\xc6\xfc</title><meta charset=euc-jp",
    ] {
        let got = extract(data, false);
        assert_ne!(got.encoding, encoding_rs::EUC_JP, "{}", short(data));
        assert_ne!(got.charset_source, CharsetSource::Meta, "{}", short(data));
    }
    let got = extract(b"<title>\xc6\xfc</title><meta charset=euc-jp>", false);
    assert_eq!(got.encoding, encoding_rs::EUC_JP);
    assert_eq!(got.title.as_deref(), Some("\u{65e5}"));
}

/// Whether the first `<meta` of `data` starts after byte 1024.
fn late_declaration(data: &[u8]) -> bool {
    find(data, b"<meta").is_some_and(|i| i >= 1024)
}

/// At most 60 characters of a case, for messages.
fn short(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    format!("{s:?}")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The non-empty pieces of `hay` between occurrences of `sep`.
fn split_bytes<'a>(mut hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, sep) {
        if !hay[..i].iter().all(u8::is_ascii_whitespace) {
            out.push(&hay[..i]);
        }
        hay = &hay[i + sep.len()..];
    }
    if !hay.iter().all(u8::is_ascii_whitespace) {
        out.push(hay);
    }
    out
}
