//! A criterion-free micro-measure of the title engine (ignored by default):
//!
//! ```sh
//! cargo test --release -p netkit-fetch --test title_bench -- --ignored --nocapture
//! ```
//!
//! Each page is fed in 16 KiB chunks until the extractor says stop, like the
//! fetcher does; the figures are pages/s and MB/s of bytes actually fed.

use std::time::{Duration, Instant};

use netkit_fetch::title::{ExtractOptions, TitleExtractor};

fn typical_page(i: usize) -> Vec<u8> {
    let mut doc = format!(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\">\
         <link rel=stylesheet href=/s{i}.css><title>Page number {i} &amp; friends</title>\
         <script>window.x = {i};</script></head><body><div class=wrap><ul>"
    );
    let target = 2048 + (i * 7919) % 6144;
    while doc.len() < target {
        doc.push_str("<li><a href=/p>Lorem ipsum dolor sit amet</a> <b>consectetur</b></li>\n");
    }
    doc.push_str("</ul></div></body></html>");
    doc.into_bytes()
}

fn extract(page: &[u8]) -> (Option<String>, usize) {
    let mut ex = TitleExtractor::new(ExtractOptions::default());
    let mut fed = 0;
    for chunk in page.chunks(16 * 1024) {
        fed += chunk.len();
        if !ex.feed(chunk) {
            break;
        }
    }
    (ex.finish().title, fed)
}

fn measure(name: &str, pages: &[Vec<u8>], min: Duration) {
    let started = Instant::now();
    let mut n = 0usize;
    let mut bytes = 0usize;
    let mut titles = 0usize;
    while started.elapsed() < min {
        for p in pages {
            let (t, fed) = extract(p);
            titles += usize::from(t.is_some());
            bytes += fed;
            n += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<28} {:>10.0} pages/s {:>9.1} MB/s fed  {:>9} bytes fed/page  titles {}/{}",
        n as f64 / secs,
        bytes as f64 / secs / 1e6,
        bytes / n.max(1),
        titles,
        n
    );
}

#[test]
#[ignore = "a measurement, run with --release --ignored --nocapture"]
fn title_engine_speed() {
    let min = Duration::from_secs(2);
    let typical: Vec<Vec<u8>> = (0..200).map(typical_page).collect();
    measure("typical 2-8 KB pages", &typical, min);

    let mut big = b"<html><head><title>Big Page</title></head><body>".to_vec();
    while big.len() < 2 * 1024 * 1024 {
        big.extend_from_slice(b"<p>filler text</p>\n");
    }
    measure("2 MB, title in head", &[big], min);

    let mut late = b"<html><head>".to_vec();
    while late.len() < 900 * 1024 {
        late.extend_from_slice(b"<meta name=pad content=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\">\n");
    }
    late.extend_from_slice(b"<title>Late</title></head><body>x</body>");
    measure("900 KB, late title", &[late], min);

    let mut none = b"<html><head></head><body>".to_vec();
    while none.len() < 1024 * 1024 {
        none.extend_from_slice(b"<div><p>no title here <a href=/x>link</a></p></div>\n");
    }
    measure("1 MB, no title", &[none.clone()], min);

    let mut svg_only = b"<html><head></head><body><svg><title>icon</title></svg>".to_vec();
    svg_only.extend_from_slice(&none);
    measure("1 MB, svg title only", &[svg_only], min);
}
