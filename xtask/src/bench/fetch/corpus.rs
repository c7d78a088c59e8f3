//! The generated corpus: pages of 2 KB .. 2 MB in several charsets, with
//! their titles, served by nginx.

use std::path::{Path, PathBuf};

use crate::charsets::{cp1251, latin1};

/// Tiny deterministic PRNG (xorshift64*), so the corpus is the same every run.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + usize::try_from(self.next() % u64::try_from(hi - lo).unwrap_or(1)).unwrap_or(0)
    }
}

/// Turns a page's text into its bytes in the page's charset.
type Encoder = fn(&str) -> Vec<u8>;

/// One page of `size` bytes; charset chosen by `i % 4`.
pub(super) fn make_page(i: usize, size: usize) -> Vec<u8> {
    let (meta, title, enc): (&str, String, Encoder) = match i % 4 {
        0 => (
            "<meta charset=\"utf-8\">",
            format!("Страница {i} — тест ☃ 日本語"),
            |s| s.as_bytes().to_vec(),
        ),
        1 => (
            "<meta charset=\"windows-1251\">",
            format!("Новости {i} — главное"),
            cp1251,
        ),
        2 => (
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">",
            format!("Café {i} crème brûlée"),
            latin1,
        ),
        _ => ("", format!("Plain ASCII page {i}"), |s| {
            s.as_bytes().to_vec()
        }),
    };
    let head = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head>{meta}\n<title>{title}</title>\n\
         <link rel=\"stylesheet\" href=\"/s.css\"><script>var x = {i};</script></head>\n<body>\n"
    );
    let mut page = enc(&head);
    let para = enc(
        "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n",
    );
    while page.len() + para.len() < size {
        page.extend_from_slice(&para);
    }
    page.extend_from_slice(b"</body></html>\n");
    page
}

pub(super) fn page_size(rng: &mut Rng) -> usize {
    match rng.range(0, 100) {
        0..80 => rng.range(2 * 1024, 8 * 1024),
        80..95 => rng.range(8 * 1024, 64 * 1024),
        95..99 => rng.range(64 * 1024, 512 * 1024),
        _ => rng.range(512 * 1024, 2 * 1024 * 1024),
    }
}

pub(super) struct Corpus {
    pub(super) www: PathBuf,
    pub(super) total_bytes: u64,
}

pub(super) fn generate_corpus(dir: &Path, pages: usize) -> anyhow::Result<Corpus> {
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("p"))?;
    std::fs::create_dir_all(www.join("s"))?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut total_bytes = 0u64;
    for i in 0..pages {
        let page = make_page(i, page_size(&mut rng));
        total_bytes += page.len() as u64;
        std::fs::write(www.join(format!("p/{i}.html")), page)?;
    }
    for i in 0..2000 {
        std::fs::write(www.join(format!("s/{i}.html")), make_page(i, 2 * 1024))?;
    }
    std::fs::write(www.join("big2mb.html"), make_page(0, 2 * 1024 * 1024))?;
    for kind in HardCase::ALL {
        std::fs::create_dir_all(www.join(kind.dir()))?;
        for i in 0..HARD_PAGES {
            std::fs::write(www.join(format!("{}/{i}.html", kind.dir())), kind.page(i))?;
        }
    }
    Ok(Corpus { www, total_bytes })
}

/// Pages per hard case.
pub(super) const HARD_PAGES: usize = 500;

/// Pages that make the title engine work (issue 15): it must read on, and
/// what it costs is reported.
#[derive(Clone, Copy, Debug)]
pub(super) enum HardCase {
    /// 32 KB of body and no title anywhere: read to the end.
    NoTitle,
    /// The title after 200 KB of inline script in the head.
    LateTitle,
    /// windows-1251 bytes, no BOM, no header or meta charset: detected.
    Undeclared,
}

impl HardCase {
    pub(super) const ALL: [HardCase; 3] =
        [HardCase::NoTitle, HardCase::LateTitle, HardCase::Undeclared];

    pub(super) fn dir(self) -> &'static str {
        match self {
            HardCase::NoTitle => "nt",
            HardCase::LateTitle => "late",
            HardCase::Undeclared => "und",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            HardCase::NoTitle => "no title (32 KB)",
            HardCase::LateTitle => "title after 200 KB of script",
            HardCase::Undeclared => "undeclared windows-1251 (8 KB)",
        }
    }

    fn page(self, i: usize) -> Vec<u8> {
        let para = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n";
        match self {
            HardCase::NoTitle => {
                let mut p =
                    format!("<!DOCTYPE html><html><head><meta charset=utf-8></head><body>{i}\n");
                while p.len() < 32 * 1024 {
                    p.push_str(para);
                }
                p.push_str("</body></html>\n");
                p.into_bytes()
            }
            HardCase::LateTitle => {
                let mut p =
                    String::from("<!DOCTYPE html><html><head><meta charset=utf-8><script>\n");
                while p.len() < 200 * 1024 {
                    p.push_str("var data = {\"k\": \"<title>not this</title>\"};\n");
                }
                p.push_str(&format!(
                    "</script><title>Late title {i}</title></head><body>x</body></html>\n"
                ));
                p.into_bytes()
            }
            HardCase::Undeclared => {
                let mut p = format!(
                    "<!DOCTYPE html><html><head><title>Новости {i} — главное</title></head><body>\n"
                );
                while p.len() < 8 * 1024 {
                    p.push_str("<p>Привет, это обычная страница новостей на русском языке.</p>\n");
                }
                p.push_str("</body></html>\n");
                cp1251(&p)
            }
        }
    }
}
