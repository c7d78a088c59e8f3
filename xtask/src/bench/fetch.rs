//! `cargo xtask bench fetch`: fetch-titles side by side with the usual
//! alternatives, against a local nginx on 127.0.0.1 serving a generated
//! corpus (sizes 2 KB .. 2 MB, several charsets, titles in the head).
//!
//! Contenders, all at the same concurrency (`-c`, default 50):
//! - `fetch-titles` (release build);
//! - a Python aiohttp + BeautifulSoup script with a semaphore (installed
//!   with pip at run time when missing);
//! - `xargs -P 50 curl` with `sed` title extraction;
//! - `wrk`, the ceiling: it parses nothing.
//!
//! Every contender runs under `/usr/bin/time` for peak RSS and CPU seconds;
//! each is run `--runs` times (default 3) and medians are reported. The
//! small-page runs of fetch-titles and wrk, whose rates make a goal,
//! alternate so that both meet the same load on a shared machine. Extra
//! checks: bytes read for a 2 MB page whose title is in the head, and peak
//! RSS with 1,000,000 input URLs.
//!
//! Flags: `--pages N` (20000), `--runs N` (3), `-c N` (50), `--wrk-secs N`
//! (10), `--million N` (1000000, 0 skips), `--skip-python`, `--skip-curl`,
//! `--slow-subset N` (2000; 0 = all): the Python script and xargs curl are
//! 100× slower, so by default they fetch the first N URLs of the same
//! corpus (same size and charset mix) and are compared by URLs/s.
//! `--small-urls N` (100000): URLs in the small-page run, so that
//! fetch-titles runs for seconds, like wrk, and its start-up and ramp-up
//! do not weigh on the rate.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::charsets::{cp1251, latin1};
use crate::shell;

struct Options {
    pages: usize,
    runs: usize,
    concurrency: usize,
    wrk_secs: u64,
    million: usize,
    skip_python: bool,
    skip_curl: bool,
    subset: usize,
    small_urls: usize,
}

fn parse_args(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        pages: 20_000,
        runs: 3,
        concurrency: 50,
        wrk_secs: 10,
        million: 1_000_000,
        skip_python: false,
        skip_curl: false,
        subset: 2000,
        small_urls: 100_000,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> anyhow::Result<usize> {
            it.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--pages" => o.pages = num("--pages")?,
            "--runs" => o.runs = num("--runs")?.max(1),
            "-c" | "--concurrency" => o.concurrency = num("-c")?.max(1),
            "--wrk-secs" => o.wrk_secs = u64::try_from(num("--wrk-secs")?)?,
            "--million" => o.million = num("--million")?,
            "--skip-python" => o.skip_python = true,
            "--skip-curl" => o.skip_curl = true,
            "--slow-subset" => o.subset = num("--slow-subset")?,
            "--small-urls" => o.small_urls = num("--small-urls")?.max(1),
            other => {
                bail!("unknown flag {other:?} (see the module docs of xtask/src/bench/fetch.rs)")
            }
        }
    }
    Ok(o)
}

// ---------------------------------------------------------------- corpus

/// Tiny deterministic PRNG (xorshift64*), so the corpus is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + usize::try_from(self.next() % u64::try_from(hi - lo).unwrap_or(1)).unwrap_or(0)
    }
}

/// Turns a page's text into its bytes in the page's charset.
type Encoder = fn(&str) -> Vec<u8>;

/// One page of `size` bytes; charset chosen by `i % 4`.
fn make_page(i: usize, size: usize) -> Vec<u8> {
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

fn page_size(rng: &mut Rng) -> usize {
    match rng.range(0, 100) {
        0..80 => rng.range(2 * 1024, 8 * 1024),
        80..95 => rng.range(8 * 1024, 64 * 1024),
        95..99 => rng.range(64 * 1024, 512 * 1024),
        _ => rng.range(512 * 1024, 2 * 1024 * 1024),
    }
}

struct Corpus {
    www: PathBuf,
    total_bytes: u64,
}

fn generate_corpus(dir: &Path, pages: usize) -> anyhow::Result<Corpus> {
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
    Ok(Corpus { www, total_bytes })
}

// ---------------------------------------------------------------- nginx

struct Nginx {
    child: Child,
    prefix: PathBuf,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("nginx")
            .arg("-p")
            .arg(&self.prefix)
            .arg("-c")
            .arg(self.prefix.join("nginx.conf"))
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_nginx(dir: &Path, www: &Path) -> anyhow::Result<Nginx> {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp"))?;
    std::fs::create_dir_all(prefix.join("logs"))?;
    let port = free_port()?;
    let p = prefix.display();
    let user = if shell::is_root() { "user root;" } else { "" };
    let conf = format!(
        "{user}
worker_processes 2;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60;
    types {{ text/html html; }}
    default_type application/octet-stream;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
        location / {{ }}
    }}
}}
",
        www = www.display()
    );
    std::fs::write(prefix.join("nginx.conf"), conf)?;
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .arg("-e")
        .arg(prefix.join("error.log"))
        .stdin(Stdio::null())
        .spawn()
        .context("starting nginx (apt-get install nginx)")?;
    let nginx = Nginx {
        child,
        prefix,
        port,
    };
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(nginx);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nginx did not start listening on 127.0.0.1:{port}")
}

// ---------------------------------------------------------------- measuring

#[derive(Debug, Clone, Default)]
struct Measured {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
    urls: u64,
    bytes: u64,
    titles: u64,
    errors: u64,
}

impl Measured {
    fn rate(&self) -> f64 {
        if self.wall > 0.0 {
            self.urls as f64 / self.wall
        } else {
            0.0
        }
    }
}

/// Runs `sh -c script` under /usr/bin/time; returns (wall, cpu, rss KiB).
fn timed(dir: &Path, script: &str) -> anyhow::Result<(f64, f64, u64)> {
    let time_file = dir.join("time.txt");
    let start = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%U %S %M")
        .arg("-o")
        .arg(&time_file)
        .args(["sh", "-c", script])
        .stdin(Stdio::null())
        .status()
        .context("running /usr/bin/time (apt-get install time)")?;
    let wall = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&time_file)?;
    let last = text.lines().last().unwrap_or_default();
    let f: Vec<&str> = last.split_whitespace().collect();
    if f.len() != 3 {
        bail!("unexpected /usr/bin/time output {text:?} (exit {status}) for {script}");
    }
    let cpu = f[0].parse::<f64>()? + f[1].parse::<f64>()?;
    Ok((wall, cpu, f[2].parse()?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn median_of(runs: &[Measured]) -> Measured {
    let m = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    Measured {
        wall: m(|r| r.wall),
        cpu: m(|r| r.cpu),
        rss_kib: m(|r| r.rss_kib as f64) as u64,
        urls: m(|r| r.urls as f64) as u64,
        bytes: m(|r| r.bytes as f64) as u64,
        titles: m(|r| r.titles as f64) as u64,
        errors: m(|r| r.errors as f64) as u64,
    }
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

fn run_fetch_titles(bin: &Path, dir: &Path, urls: &Path, c: usize) -> anyhow::Result<Measured> {
    let out = dir.join("ft.jsonl");
    let script = format!(
        "{} -c {c} --per-host {c} --timeout 60s --format jsonl -q -o {} {} ; true",
        q(bin),
        q(&out),
        q(urls)
    );
    let (wall, cpu, rss_kib) = timed(dir, &script)?;
    let mut m = Measured {
        wall,
        cpu,
        rss_kib,
        ..Measured::default()
    };
    for line in std::fs::read_to_string(&out)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        m.urls += 1;
        m.bytes += v["bytes_read"].as_u64().unwrap_or(0);
        m.titles += u64::from(v["title"].as_str().is_some_and(|t| !t.is_empty()));
        m.errors += u64::from(!v["error"].is_null());
    }
    Ok(m)
}

const PY_SCRIPT: &str = r#"
import asyncio, sys
import aiohttp
from bs4 import BeautifulSoup

async def fetch(session, sem, url, stats, out):
    async with sem:
        try:
            async with session.get(url) as resp:
                body = await resp.read()
                stats[0] += len(body)
                soup = BeautifulSoup(body, "html.parser")
                title = soup.title.get_text() if soup.title else None
                stats[1] += 1 if title else 0
                out.write(f"{url}\t{resp.status}\t{' '.join((title or '').split())}\n")
        except Exception as e:
            stats[2] += 1
            out.write(f"{url}\tERR\t{e!r}\n")

async def main():
    urls = [l.strip() for l in open(sys.argv[1]) if l.strip()]
    n = int(sys.argv[2])
    sem = asyncio.Semaphore(n)
    stats = [0, 0, 0]
    with open(sys.argv[3], "w") as out:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as s:
            await asyncio.gather(*(fetch(s, sem, u, stats, out) for u in urls))
    print(f"{len(urls)} {stats[0]} {stats[1]} {stats[2]}", file=sys.stderr)

asyncio.run(main())
"#;

fn ensure_python_deps() -> anyhow::Result<()> {
    let ok = |py: &str| {
        Command::new("python3")
            .args(["-c", py])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok("import aiohttp, bs4") {
        return Ok(());
    }
    println!("installing aiohttp and beautifulsoup4 from PyPI (pip)...");
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "aiohttp",
                "beautifulsoup4",
            ])
            .args(extra)
            .status()?;
        if status.success() && ok("import aiohttp, bs4") {
            return Ok(());
        }
    }
    bail!("could not install aiohttp + beautifulsoup4 with pip")
}

fn run_python(dir: &Path, urls: &Path, c: usize) -> anyhow::Result<Measured> {
    let script = dir.join("titles.py");
    std::fs::write(&script, PY_SCRIPT)?;
    let stats = dir.join("py.stats");
    let cmd = format!(
        "python3 {} {} {c} {} 2> {}",
        q(&script),
        q(urls),
        q(&dir.join("py.out")),
        q(&stats)
    );
    let (wall, cpu, rss_kib) = timed(dir, &cmd)?;
    let text = std::fs::read_to_string(&stats)?;
    let f: Vec<u64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if f.len() != 4 {
        bail!("python script failed: {text}");
    }
    Ok(Measured {
        wall,
        cpu,
        rss_kib,
        urls: f[0],
        bytes: f[1],
        titles: f[2],
        errors: f[3],
    })
}

fn run_curl(dir: &Path, urls: &Path, www: &Path, c: usize) -> anyhow::Result<Measured> {
    let out = dir.join("curl.out");
    let cmd = format!(
        "xargs -P {c} -n 1 sh -c 'curl -s \"$0\" | sed -n \"s:.*<title>\\(.*\\)</title>.*:\\1:p\"' < {} > {}",
        q(urls),
        q(&out)
    );
    let (wall, cpu, rss_kib) = timed(dir, &cmd)?;
    // curl downloads every body in full: bytes read = the files' sizes.
    let list = std::fs::read_to_string(urls)?;
    let mut bytes = 0;
    let mut count = 0;
    for url in list.lines().filter(|l| !l.is_empty()) {
        count += 1;
        let path = url.splitn(4, '/').nth(3).unwrap_or_default();
        bytes += std::fs::metadata(www.join(path)).map_or(0, |m| m.len());
    }
    let titles = std::fs::read_to_string(&out)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    Ok(Measured {
        wall,
        cpu,
        rss_kib,
        urls: count,
        bytes,
        titles,
        errors: 0,
    })
}

fn run_wrk(dir: &Path, paths: &Path, port: u16, c: usize, secs: u64) -> anyhow::Result<Measured> {
    let lua = dir.join("paths.lua");
    std::fs::write(
        &lua,
        format!(
            "local paths = {{}}\nfor line in io.lines(\"{}\") do paths[#paths + 1] = line end\n\
             local i = 0\nrequest = function()\n  i = i + 1\n  if i > #paths then i = 1 end\n  \
             return wrk.format(\"GET\", paths[i])\nend\n",
            paths.display()
        ),
    )?;
    let out = dir.join("wrk.out");
    let threads = c.min(2);
    let cmd = format!(
        "wrk -t{threads} -c{c} -d{secs}s -s {} http://127.0.0.1:{port} > {}",
        q(&lua),
        q(&out)
    );
    let (_wall, cpu, rss_kib) = timed(dir, &cmd)?;
    let text = std::fs::read_to_string(&out)?;
    // "  123456 requests in 10.00s, 1.23GB read"
    let line = text
        .lines()
        .find(|l| l.contains("requests in"))
        .with_context(|| format!("unexpected wrk output: {text}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let urls: u64 = words.first().and_then(|w| w.parse().ok()).unwrap_or(0);
    let wall: f64 = words
        .get(3)
        .map(|w| w.trim_end_matches(','))
        .and_then(|w| w.trim_end_matches('s').parse().ok())
        .unwrap_or(secs as f64);
    let bytes = words.get(4).map_or(0, |w| parse_size(w));
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map_or(0, |_| 1);
    Ok(Measured {
        wall,
        cpu,
        rss_kib,
        urls,
        bytes,
        titles: 0,
        errors,
    })
}

fn parse_size(s: &str) -> u64 {
    let (num, mult) = if let Some(n) = s.strip_suffix("GB") {
        (n, 1u64 << 30)
    } else if let Some(n) = s.strip_suffix("MB") {
        (n, 1 << 20)
    } else if let Some(n) = s.strip_suffix("KB") {
        (n, 1 << 10)
    } else {
        (s.trim_end_matches('B'), 1)
    };
    num.parse::<f64>().map_or(0, |n| (n * mult as f64) as u64)
}

fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    Ok(())
}

fn print_run(name: &str, r: usize, runs: usize, m: &Measured) {
    println!(
        "  {name} run {r}/{runs}: {} URLs in {:.2}s = {:.0} URLs/s, {:.1} MiB read, RSS {:.1} MiB, CPU {:.2}s, titles {}, errors {}",
        m.urls,
        m.wall,
        m.rate(),
        m.bytes as f64 / 1048576.0,
        m.rss_kib as f64 / 1024.0,
        m.cpu,
        m.titles,
        m.errors
    );
}

fn repeat_runs(
    name: &str,
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<Measured>,
) -> anyhow::Result<Measured> {
    let mut all = Vec::new();
    for r in 1..=runs {
        let m = f()?;
        print_run(name, r, runs, &m);
        all.push(m);
    }
    Ok(median_of(&all))
}

/// Like [`repeat_runs`] for two contenders whose rates are compared, run
/// alternately (a, b, a, b, ...) so that both see the same machine load on
/// a shared box instead of one getting a quieter stretch than the other.
fn repeat_pairs(
    names: (&str, &str),
    runs: usize,
    mut a: impl FnMut() -> anyhow::Result<Measured>,
    mut b: impl FnMut() -> anyhow::Result<Measured>,
) -> anyhow::Result<(Measured, Measured)> {
    let (mut all_a, mut all_b) = (Vec::new(), Vec::new());
    for r in 1..=runs {
        let m = a()?;
        print_run(names.0, r, runs, &m);
        all_a.push(m);
        let m = b()?;
        print_run(names.1, r, runs, &m);
        all_b.push(m);
    }
    Ok((median_of(&all_a), median_of(&all_b)))
}

fn row(table: &mut String, name: &str, m: &Measured, reference: Option<&Measured>) {
    let ratio = reference.map_or_else(
        || "—".to_owned(),
        |r| format!("{:.1}×", r.rate() / m.rate().max(1e-9)),
    );
    let _ = writeln!(
        table,
        "| {name} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {} | {ratio} |",
        m.urls,
        m.rate(),
        m.bytes as f64 / 1048576.0,
        m.rss_kib as f64 / 1024.0,
        m.cpu,
        m.titles,
    );
}

const HEADER: &str = "| contender | URLs | URLs/s | MiB read | peak RSS MiB | CPU s | titles | fetch-titles is |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let o = parse_args(args)?;
    for tool in ["nginx", "wrk", "curl", "xargs", "/usr/bin/time"] {
        if !shell::have(tool) {
            bail!("{tool} is required (apt-get install nginx wrk curl findutils time)");
        }
    }
    shell::step(
        "build fetch-titles (release)",
        &["build", "--release", "-p", "netkit-fetch"],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| shell::root().join("target"), PathBuf::from);
    let bin = target.join("release/fetch-titles");
    if !o.skip_python {
        ensure_python_deps()?;
    }

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    println!(
        "generating {} pages (2 KB .. 2 MB, 4 charset styles) in {}",
        o.pages,
        dir.display()
    );
    let corpus = generate_corpus(dir, o.pages)?;
    println!("corpus: {:.1} MiB", corpus.total_bytes as f64 / 1048576.0);
    let nginx = start_nginx(dir, &corpus.www)?;
    let port = nginx.port;
    println!("nginx on 127.0.0.1:{port}");

    let base = format!("http://127.0.0.1:{port}");
    let mixed_paths = dir.join("mixed.paths");
    write_lines(&mixed_paths, (0..o.pages).map(|i| format!("/p/{i}.html")))?;
    let mixed_urls = dir.join("mixed.urls");
    write_lines(
        &mixed_urls,
        (0..o.pages).map(|i| format!("{base}/p/{i}.html")),
    )?;
    let small_n = o.small_urls;
    let small_paths = dir.join("small.paths");
    write_lines(
        &small_paths,
        (0..small_n).map(|i| format!("/s/{}.html?r={i}", i % 2000)),
    )?;
    let small_urls = dir.join("small.urls");
    write_lines(
        &small_urls,
        (0..small_n).map(|i| format!("{base}/s/{}.html?r={i}", i % 2000)),
    )?;

    let slow_n = if o.subset == 0 {
        o.pages
    } else {
        o.subset.min(o.pages)
    };
    let slow_urls = dir.join("slow.urls");
    write_lines(
        &slow_urls,
        (0..slow_n).map(|i| format!("{base}/p/{i}.html")),
    )?;
    let c = o.concurrency;
    // Warm the page cache and nginx.
    run_fetch_titles(&bin, dir, &mixed_urls, c)?;

    println!("\n## mixed corpus: {} pages, concurrency {c}", o.pages);
    let ft = repeat_runs("fetch-titles", o.runs, || {
        run_fetch_titles(&bin, dir, &mixed_urls, c)
    })?;
    let py = if o.skip_python {
        None
    } else {
        Some(repeat_runs("aiohttp+bs4", o.runs, || {
            run_python(dir, &slow_urls, c)
        })?)
    };
    let curl = if o.skip_curl {
        None
    } else {
        Some(repeat_runs("xargs curl", o.runs, || {
            run_curl(dir, &slow_urls, &corpus.www, c)
        })?)
    };
    let wrk = repeat_runs("wrk", o.runs, || {
        run_wrk(dir, &mixed_paths, port, c, o.wrk_secs)
    })?;

    println!("\n## small pages (2 KB): {small_n} URLs, concurrency {c}");
    let (ft_small, wrk_small) = repeat_pairs(
        ("fetch-titles", "wrk"),
        o.runs,
        || run_fetch_titles(&bin, dir, &small_urls, c),
        || run_wrk(dir, &small_paths, port, c, o.wrk_secs),
    )?;

    println!("\n## one 2 MB page with its title in the head");
    let big_urls = dir.join("big.urls");
    write_lines(&big_urls, std::iter::once(format!("{base}/big2mb.html")))?;
    let big = run_fetch_titles(&bin, dir, &big_urls, 1)?;
    println!("  bytes read: {} (goal <= 65536)", big.bytes);

    let million = if o.million > 0 {
        println!("\n## {} input URLs (peak RSS)", o.million);
        let urls = dir.join("million.urls");
        write_lines(
            &urls,
            (0..o.million).map(|i| format!("{base}/s/{}.html?m={i}", i % 2000)),
        )?;
        let m = run_fetch_titles(&bin, dir, &urls, c)?;
        println!(
            "  {} URLs in {:.1}s ({:.0}/s), peak RSS {:.1} MiB (goal <= 256 MiB)",
            m.urls,
            m.wall,
            m.rate(),
            m.rss_kib as f64 / 1024.0
        );
        Some(m)
    } else {
        None
    };
    drop(nginx);

    let mut table = String::new();
    let _ = writeln!(
        table,
        "Mixed corpus ({} pages, {:.0} MiB, 2 KB..2 MB, concurrency {c}, median of {} runs; \
         the Python script and xargs curl fetch the first {slow_n} of them):\n",
        o.pages,
        corpus.total_bytes as f64 / 1048576.0,
        o.runs
    );
    table.push_str(HEADER);
    row(&mut table, "fetch-titles", &ft, None);
    if let Some(py) = &py {
        row(&mut table, "aiohttp + BeautifulSoup", py, Some(&ft));
    }
    if let Some(curl) = &curl {
        row(&mut table, "xargs -P curl + sed", curl, Some(&ft));
    }
    row(&mut table, "wrk (ceiling, no parsing)", &wrk, Some(&ft));
    let _ = writeln!(
        table,
        "\nSmall pages (2 KB, {small_n} URLs, median of {} runs):\n",
        o.runs
    );
    table.push_str(HEADER);
    row(&mut table, "fetch-titles", &ft_small, None);
    row(
        &mut table,
        "wrk (ceiling, no parsing)",
        &wrk_small,
        Some(&ft_small),
    );
    let _ = writeln!(table, "\nGoals:");
    if let Some(py) = &py {
        let _ = writeln!(
            table,
            "- vs aiohttp + BeautifulSoup: {:.1}× (goal >= 20×)",
            ft.rate() / py.rate().max(1e-9)
        );
    }
    if let Some(curl) = &curl {
        let _ = writeln!(
            table,
            "- vs xargs curl: {:.1}× (goal >= 3×)",
            ft.rate() / curl.rate().max(1e-9)
        );
    }
    let _ = writeln!(
        table,
        "- small pages vs wrk: {:.0}% of wrk's rate (goal >= 50%)",
        100.0 * ft_small.rate() / wrk_small.rate().max(1e-9)
    );
    let _ = writeln!(
        table,
        "- 2 MB page, title in head: {} bytes read (goal <= 65536)",
        big.bytes
    );
    if let Some(m) = &million {
        let _ = writeln!(
            table,
            "- {} input URLs: peak RSS {:.1} MiB (goal <= 256 MiB), {:.0} URLs/s",
            m.urls,
            m.rss_kib as f64 / 1024.0,
            m.rate()
        );
    }
    println!("\n{table}");
    let report = target.join("bench-fetch.md");
    std::fs::write(&report, &table)?;
    println!("(also written to {})", report.display());
    Ok(())
}
