//! Differential tests of the streaming title extractor against an oracle:
//! html5ever's full tree as scraper builds it, walked by hand (HTML
//! namespace `title` only, template contents skipped, ASCII whitespace
//! stripped and collapsed). Plus named regressions for issue 15.

use encoding_rs::UTF_8;
use netkit_fetch::title::{ExtractOptions, Extraction, TitleExtractor};
use scraper::{Html, Node};

const MAX: usize = 1024;

fn collapse(s: &str) -> String {
    s.split([' ', '\t', '\n', '\x0c', '\r'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `document.title` from html5ever's complete tree.
fn oracle(text: &str) -> Option<String> {
    let html = Html::parse_document(text);
    let mut stack = vec![html.tree.root()];
    while let Some(node) = stack.pop() {
        if let Node::Element(el) = node.value() {
            let html_ns = &*el.name.ns == "http://www.w3.org/1999/xhtml";
            if html_ns && &*el.name.local == "template" {
                continue; // template contents are not in the document
            }
            if html_ns && &*el.name.local == "title" {
                let mut raw = String::new();
                for child in node.children() {
                    if let Node::Text(t) = child.value() {
                        raw.push_str(&t.text);
                    }
                }
                let mut title = collapse(&raw);
                if let Some((idx, _)) = title.char_indices().nth(MAX) {
                    title.truncate(idx);
                    let trimmed = title.trim_end_matches(' ').len();
                    title.truncate(trimmed);
                }
                return Some(title);
            }
        }
        let children: Vec<_> = node.children().collect();
        stack.extend(children.into_iter().rev());
    }
    None
}

/// Feeds `body` in the given chunk sizes (cycled), stopping when told to.
/// Returns the extraction and how many bytes were fed.
fn extract_chunked(body: &[u8], sizes: &[usize], header_utf8: bool) -> (Extraction, usize) {
    let mut ex = TitleExtractor::new(ExtractOptions {
        max_title_len: MAX,
        header_charset: header_utf8.then_some(UTF_8),
        xml: false,
    });
    let mut pos = 0;
    let mut i = 0;
    while pos < body.len() {
        let size = sizes[i % sizes.len()].max(1);
        i += 1;
        let end = (pos + size).min(body.len());
        let more = ex.feed(&body[pos..end]);
        pos = end;
        if !more {
            break;
        }
    }
    (ex.finish(), pos)
}

fn title_of(body: &[u8]) -> Option<String> {
    extract_chunked(body, &[usize::MAX], true).0.title
}

/// Asserts extractor == oracle for `doc` in several chunkings.
fn check(doc: &[u8], sizes: &[usize]) {
    let text = String::from_utf8_lossy(doc);
    let want = oracle(&text);
    for split in [sizes, &[1][..], &[usize::MAX][..]] {
        let (got, _) = extract_chunked(doc, split, true);
        assert_eq!(
            got.title,
            want,
            "chunks {split:?}\ndoc: {:?}",
            String::from_utf8_lossy(doc)
        );
    }
    if doc.is_ascii() {
        // Undeclared: the ASCII fast path before any encoding decision.
        let (got, _) = extract_chunked(doc, sizes, false);
        assert_eq!(got.title, want, "undeclared, doc: {text:?}");
    }
}

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FRAGMENTS: &[&str] = &[
    "<b>Warning</b>:  Undefined variable $x in /var/www/index.php on line 3<br />\n",
    "Notice: ",
    "<!DOCTYPE html>",
    "<!doctype html public \"-//W3C//DTD HTML 4.01//EN\">",
    "<html>",
    "<html lang=en>",
    "</html>",
    "<head>",
    "</head>",
    "<body>",
    "</body>",
    "<table>",
    "</table>",
    "<caption>",
    "</caption>",
    "<tr><td>",
    "<td>",
    "</td></tr>",
    "<tbody>",
    "<colgroup><col>",
    "<th>",
    "<ul><li>",
    "<li>",
    "</li></ul>",
    "<ol>",
    "<dl><dt>",
    "<b>",
    "</b>",
    "<i>",
    "</i>",
    "<a href=x>",
    "</a>",
    "<nobr>",
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "<span>",
    "<svg>",
    "</svg>",
    "<svg><title>svg title</title></svg>",
    "<svg><foreignObject>",
    "</foreignObject>",
    "<svg><desc>",
    "<math>",
    "</math>",
    "<math><mi>",
    "<math><annotation-xml>",
    "<template>",
    "</template>",
    "<template><title>in template</title></template>",
    "<noscript>",
    "</noscript>",
    "<noscript><title>in noscript</title></noscript>",
    "<plaintext>",
    "<textarea>",
    "</textarea>",
    "<xmp>",
    "</xmp>",
    "<iframe>",
    "</iframe>",
    "<noembed>",
    "</noembed>",
    "<noframes>",
    "</noframes>",
    "<script>var s = '<title>no</title>';</script>",
    "<script>",
    "</script>",
    "<script><!--",
    "<style>",
    "</style>",
    "<!-- <title>comment</title> -->",
    "<!-->",
    "<!--",
    "-->",
    "<!",
    "<?php echo 1; ?>",
    "<![CDATA[<title>cdata</title>]]>",
    "<frameset>",
    "</frameset>",
    "<frame>",
    "<select>",
    "<option>",
    "</select>",
    "<meta charset=utf-8>",
    "<meta http-equiv=Content-Type content=\"text/html; charset=utf-8\">",
    "<link rel=stylesheet href=a.css>",
    "<base href=/>",
    "&amp;",
    "&lt;title&gt;",
    "&#x41;",
    "&notit;",
    "\0",
    "\u{FFFD}",
    "<title>",
    "</title>",
    "<TITLE>",
    "</TiTlE >",
    "<title/>",
    "<title x='>'>",
    "</title x>",
    " x ",
    "junk text",
    "\n  \t",
    "<",
    ">",
    "</",
    "<input type=hidden>",
    "<input>",
    "<img>",
    "<hr>",
    "<br>",
    "<pre>",
    "<form>",
    "</form>",
    "<button>",
    "<object>",
    "<marquee>",
    "<h1>",
    "</h1>",
    "<title>Real Title</title>",
    "<title> A  B \n C </title>",
    "<title>Tom &amp; Jerry &lt;3</title>",
];

const TITLE_TEXTS: &[&str] = &[
    "Real Title",
    "  spaced \t out \n ",
    "",
    "&amp; &eacute &#9731;",
    "<b>not markup</b>",
    "</titl",
    "\u{A0}nbsp\u{3000}",
    "日本語",
];

fn gen_doc(rng: &mut Rng) -> Vec<u8> {
    let mut doc = Vec::new();
    let n = 1 + rng.below(14);
    for _ in 0..n {
        match rng.below(10) {
            0 => {
                doc.extend_from_slice(b"<title>");
                doc.extend_from_slice(rng.pick(TITLE_TEXTS).as_bytes());
                if rng.below(4) != 0 {
                    doc.extend_from_slice(b"</title>");
                }
            }
            1 if rng.below(20) == 0 => {
                // Big inline script with titles in strings.
                doc.extend_from_slice(b"<script>");
                for _ in 0..(200 + rng.below(2000)) {
                    doc.extend_from_slice(b"var t = \"<title>no</title>\"; ");
                }
                doc.extend_from_slice(b"</script>");
            }
            2 if rng.below(10) == 0 => doc.push(0xFF), // an invalid byte
            _ => doc.extend_from_slice(rng.pick(FRAGMENTS).as_bytes()),
        }
    }
    doc
}

#[test]
fn differential_against_html5ever_tree() {
    let cases: usize = std::env::var("TITLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let seed: u64 = std::env::var("TITLE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_1515);
    let mut rng = Rng(seed);
    let started = std::time::Instant::now();
    for _ in 0..cases {
        let doc = gen_doc(&mut rng);
        let count = 1 + rng.below(5);
        let sizes: Vec<usize> = (0..count)
            .map(|_| {
                let top = if rng.below(2) == 0 { 8 } else { 300 };
                1 + rng.below(top)
            })
            .collect();
        check(&doc, &sizes);
    }
    eprintln!("{cases} cases in {:?}", started.elapsed());
}

// ---- Named regressions (issue 15) ----

fn assert_title(doc: &str, want: Option<&str>) {
    assert_eq!(oracle(doc).as_deref(), want, "oracle disagrees: {doc:?}");
    check(doc.as_bytes(), &[1, 7, 64]);
    assert_eq!(title_of(doc.as_bytes()).as_deref(), want, "{doc:?}");
}

#[test]
fn php_notice_before_doctype() {
    assert_title(
        "<b>Warning</b>: Undefined variable $x in /var/www/index.php on line 3<br />\n\
         <!DOCTYPE html><html><head><title>Real Title</title></head><body>x</body></html>",
        Some("Real Title"),
    );
}

#[test]
fn text_or_markup_before_html() {
    assert_title("hello <p>world<html><title>T</title>", Some("T"));
    assert_title("<div>x</div><!DOCTYPE html><title>T</title>", Some("T"));
}

#[test]
fn title_inside_the_body() {
    assert_title("<html><body><p>x</p><title>Body</title>", Some("Body"));
}

#[test]
fn title_after_table_list_and_formatting() {
    assert_title(
        "<table><tr><td>x</td></tr></table><title>T</title>",
        Some("T"),
    );
    assert_title("<ul><li>a<li>b</ul><title>L</title>", Some("L"));
    assert_title("<b><i><a href=x>y<title>F</title>", Some("F"));
    assert_title("<b><p>x</b>y<title>AAA</title>", Some("AAA"));
}

#[test]
fn title_after_200kb_of_script_or_json() {
    let mut doc = String::from("<html><head><script>");
    while doc.len() < 200 * 1024 {
        doc.push_str("var t = \"<title>no</title>\"; ");
    }
    doc.push_str("</script><title>After Script</title>");
    assert_title(&doc, Some("After Script"));
    let mut doc = String::from("<script type=application/json>{\"a\":[");
    while doc.len() < 200 * 1024 {
        doc.push_str("\"</tit\",");
    }
    doc.push_str("0]}</script><title>After JSON</title>");
    assert_title(&doc, Some("After JSON"));
}

#[test]
fn template_contents_are_not_in_the_tree() {
    assert_title(
        "<head><template><title>T</title></template><title>Real</title>",
        Some("Real"),
    );
    assert_title("<template><title>T</title></template>", None);
}

#[test]
fn svg_and_math_titles_and_integration_points() {
    assert_title(
        "<svg><title>icon</title></svg><title>Real</title>",
        Some("Real"),
    );
    assert_title("<math><title>m</title></math>", None);
    assert_title(
        "<svg><foreignObject><title>in fo</title></foreignObject></svg>",
        Some("in fo"),
    );
    assert_title("<math><mi><title>mi</title></mi></math>", Some("mi"));
    // scraper 0.29's sink does not implement the annotation-xml
    // integration-point hook, so the oracle is wrong here; the spec (and
    // html5ever with a sink that implements it) makes this an HTML title.
    let doc = "<math><annotation-xml encoding=\"text/html\"><title>ax</title>";
    assert_eq!(title_of(doc.as_bytes()).as_deref(), Some("ax"));
    assert_eq!(oracle(doc), None, "scraper fixed? then use assert_title");
    assert_title("<math><annotation-xml><title>no</title>", None);
    assert_title("<svg><p><title>breakout</title>", Some("breakout"));
}

#[test]
fn noscript_in_head_is_raw_text_with_scripting() {
    assert_title(
        "<head><noscript><title>ns</title></noscript><title>Real</title>",
        Some("Real"),
    );
}

#[test]
fn plaintext_textarea_xmp_iframe_noembed_noframes() {
    assert_title("<plaintext><title>no</title>", None);
    for el in ["textarea", "xmp", "iframe", "noembed", "noframes"] {
        assert_title(
            &format!("<body><{el}><title>no</title></{el}><title>yes</title>"),
            Some("yes"),
        );
    }
}

#[test]
fn foster_parenting_out_of_tables() {
    assert_title(
        "<table><caption><title>A</title></caption><title>B</title>",
        Some("B"),
    );
    assert_title(
        "<table><tr><td><title>A</title></td></tr></table>",
        Some("A"),
    );
    assert_title("<table><title>F</title><tr><td>x", Some("F"));
}

#[test]
fn title_after_end_of_html() {
    assert_title(
        "<html><body>x</body></html><title>After</title>",
        Some("After"),
    );
}

#[test]
fn frameset_can_remove_the_body_title() {
    // An implicit body with frameset-ok still "ok": `<frameset>` removes it.
    assert_title("<div><title>A</title></div><frameset><frame>", None);
    // An explicit `<body>` sets frameset-ok to "not ok".
    assert_title("<body><title>A</title><frameset><frame>", Some("A"));
    assert_title("<head><title>H</title></head><frameset>", Some("H"));
}

#[test]
fn no_title_is_null() {
    assert_title(
        "<html><head></head><body><p>nothing</p></body></html>",
        None,
    );
    assert_title("", None);
}

#[test]
fn early_stop_for_head_titles() {
    let mut doc = b"<html><head><title>Early</title></head><body>".to_vec();
    doc.extend(std::iter::repeat_n(b'x', 1_000_000));
    let (got, read) = extract_chunked(&doc, &[8192], false);
    assert_eq!(got.title.as_deref(), Some("Early"));
    assert_eq!(read, 8192);
    // The PHP-notice page: the title is in the body, after non-whitespace
    // text (frameset-ok is "not ok"), so it is final at once too.
    let mut doc = b"<b>Warning</b>: x<!DOCTYPE html><title>Real</title>".to_vec();
    doc.extend(std::iter::repeat_n(b'x', 1_000_000));
    let (got, read) = extract_chunked(&doc, &[8192], false);
    assert_eq!(got.title.as_deref(), Some("Real"));
    assert_eq!(read, 8192);
}

#[test]
fn no_early_stop_inside_a_table() {
    let mut doc = b"<table><caption><title>A</title></caption>".to_vec();
    doc.extend(std::iter::repeat_n(b'x', 100_000));
    doc.extend_from_slice(b"<title>B</title>");
    let (got, read) = extract_chunked(&doc, &[8192], false);
    assert_eq!(got.title.as_deref(), Some("B"));
    assert_eq!(read, doc.len());
}
