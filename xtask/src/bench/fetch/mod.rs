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
//! do not weigh on the rate. `--threads N` passes `--threads N` to every
//! fetch-titles run (default: the tool's own default, one per CPU).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::shell;

mod contenders;
mod corpus;
mod measure;
mod nginx;

use contenders::*;
use corpus::*;
use measure::*;
use nginx::*;

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
    /// `--threads` for fetch-titles (`None`: its default).
    threads: Option<usize>,
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
        threads: None,
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
            "--threads" => o.threads = Some(num("--threads")?.max(1)),
            other => {
                bail!("unknown flag {other:?} (see the module docs of xtask/src/bench/fetch.rs)")
            }
        }
    }
    Ok(o)
}

// ---------------------------------------------------------------- corpus

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
    let (target, bin) = prepare(&o)?;

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

    let bench = Bench {
        o: &o,
        bin: &bin,
        dir,
        port,
        base: format!("http://127.0.0.1:{port}"),
    };
    let urls = bench.write_url_files()?;
    // Warm the page cache and nginx.
    run_fetch_titles(&bin, dir, &urls.mixed_urls, o.concurrency, o.threads)?;
    let mixed = bench.mixed(&urls, &corpus.www)?;
    let small = bench.small(&urls)?;
    let big = bench.big()?;
    let hard = bench.hard_cases()?;
    let million = bench.million()?;
    drop(nginx);

    let mut table = results_table(&o, &corpus, urls.slow_n, &mixed, &small);
    hard_table(&mut table, &hard);
    goals(&mut table, &mixed, &small, &big, million.as_ref());
    println!("\n{table}");
    let report = target.join("bench-fetch.md");
    std::fs::write(&report, &table)?;
    println!("(also written to {})", report.display());
    Ok(())
}

/// Installs the peers (as root; otherwise says how), builds fetch-titles and installs the Python script's
/// packages; returns the target dir and the binary.
fn prepare(o: &Options) -> anyhow::Result<(PathBuf, PathBuf)> {
    // As root, apt-get installs what is missing; otherwise the exact line.
    crate::provision::ensure_packages(&[
        ("nginx", "nginx"),
        ("wrk", "wrk"),
        ("curl", "curl"),
        ("xargs", "findutils"),
        ("/usr/bin/time", "time"),
    ])?;
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
    Ok((target, bin))
}

/// One benchmark run's fixed inputs: the options, the binary, the temp
/// dir and nginx's port and base URL.
struct Bench<'a> {
    o: &'a Options,
    bin: &'a Path,
    dir: &'a Path,
    port: u16,
    base: String,
}

/// The URL lists (full URLs for the fetchers, paths for wrk).
struct UrlFiles {
    mixed_paths: PathBuf,
    mixed_urls: PathBuf,
    small_paths: PathBuf,
    small_urls: PathBuf,
    /// The first `slow_n` mixed URLs, for the Python script and curl.
    slow_urls: PathBuf,
    slow_n: usize,
}

/// The mixed corpus: every contender (`None`: skipped).
struct Mixed {
    ft: Measured,
    py: Option<Measured>,
    curl: Option<Measured>,
    wrk: Measured,
}

/// The small pages: fetch-titles and wrk, run alternately.
struct Small {
    ft: Measured,
    wrk: Measured,
}

impl Bench<'_> {
    fn write_url_files(&self) -> anyhow::Result<UrlFiles> {
        let (o, dir, base) = (self.o, self.dir, &self.base);
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
        Ok(UrlFiles {
            mixed_paths,
            mixed_urls,
            small_paths,
            small_urls,
            slow_urls,
            slow_n,
        })
    }

    fn mixed(&self, urls: &UrlFiles, www: &Path) -> anyhow::Result<Mixed> {
        let (o, bin, dir, c) = (self.o, self.bin, self.dir, self.o.concurrency);
        println!("\n## mixed corpus: {} pages, concurrency {c}", o.pages);
        let ft = repeat_runs("fetch-titles", o.runs, || {
            run_fetch_titles(bin, dir, &urls.mixed_urls, c, o.threads)
        })?;
        let py = if o.skip_python {
            None
        } else {
            Some(repeat_runs("aiohttp+bs4", o.runs, || {
                run_python(dir, &urls.slow_urls, c)
            })?)
        };
        let curl = if o.skip_curl {
            None
        } else {
            Some(repeat_runs("xargs curl", o.runs, || {
                run_curl(dir, &urls.slow_urls, www, c)
            })?)
        };
        let wrk = repeat_runs("wrk", o.runs, || {
            run_wrk(dir, &urls.mixed_paths, self.port, c, o.wrk_secs)
        })?;
        Ok(Mixed { ft, py, curl, wrk })
    }

    fn small(&self, urls: &UrlFiles) -> anyhow::Result<Small> {
        let (o, bin, dir, c) = (self.o, self.bin, self.dir, self.o.concurrency);
        println!(
            "\n## small pages (2 KB): {} URLs, concurrency {c}",
            o.small_urls
        );
        let (ft, wrk) = repeat_pairs(
            ("fetch-titles", "wrk"),
            o.runs,
            || run_fetch_titles(bin, dir, &urls.small_urls, c, o.threads),
            || run_wrk(dir, &urls.small_paths, self.port, c, o.wrk_secs),
        )?;
        Ok(Small { ft, wrk })
    }

    fn big(&self) -> anyhow::Result<Measured> {
        println!("\n## one 2 MB page with its title in the head");
        let big_urls = self.dir.join("big.urls");
        write_lines(
            &big_urls,
            std::iter::once(format!("{}/big2mb.html", self.base)),
        )?;
        let big = run_fetch_titles(self.bin, self.dir, &big_urls, 1, self.o.threads)?;
        println!("  bytes read: {} (goal <= 65536)", big.bytes);
        Ok(big)
    }

    /// The hard cases, one run each of [`HARD_PAGES`] URLs (median of
    /// `--runs`).
    fn hard_cases(&self) -> anyhow::Result<Vec<(HardCase, Measured)>> {
        let mut out = Vec::new();
        for kind in HardCase::ALL {
            println!("\n## {}", kind.label());
            let urls = self.dir.join(format!("{}.urls", kind.dir()));
            write_lines(
                &urls,
                (0..HARD_PAGES).map(|i| format!("{}/{}/{i}.html", self.base, kind.dir())),
            )?;
            let m = repeat_runs(kind.dir(), self.o.runs, || {
                run_fetch_titles(
                    self.bin,
                    self.dir,
                    &urls,
                    self.o.concurrency,
                    self.o.threads,
                )
            })?;
            println!(
                "  {:.0} URLs/s, {} bytes read per page, {} of {} titled",
                m.rate(),
                m.bytes / m.urls.max(1),
                m.titles,
                m.urls
            );
            out.push((kind, m));
        }
        Ok(out)
    }

    /// Peak RSS with `--million` input URLs (`None` when 0).
    fn million(&self) -> anyhow::Result<Option<Measured>> {
        let (o, base) = (self.o, &self.base);
        if o.million == 0 {
            return Ok(None);
        }
        println!("\n## {} input URLs (peak RSS)", o.million);
        let urls = self.dir.join("million.urls");
        write_lines(
            &urls,
            (0..o.million).map(|i| format!("{base}/s/{}.html?m={i}", i % 2000)),
        )?;
        let m = run_fetch_titles(self.bin, self.dir, &urls, o.concurrency, o.threads)?;
        println!(
            "  {} URLs in {:.1}s ({:.0}/s), peak RSS {:.1} MiB (goal <= 256 MiB)",
            m.urls,
            m.wall,
            m.rate(),
            m.rss_kib as f64 / 1024.0
        );
        Ok(Some(m))
    }
}

/// The two result tables (mixed corpus, small pages).
fn results_table(
    o: &Options,
    corpus: &Corpus,
    slow_n: usize,
    mixed: &Mixed,
    small: &Small,
) -> String {
    let c = o.concurrency;
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
    row(&mut table, "fetch-titles", &mixed.ft, None);
    if let Some(py) = &mixed.py {
        row(&mut table, "aiohttp + BeautifulSoup", py, Some(&mixed.ft));
    }
    if let Some(curl) = &mixed.curl {
        row(&mut table, "xargs -P curl + sed", curl, Some(&mixed.ft));
    }
    row(
        &mut table,
        "wrk (ceiling, no parsing)",
        &mixed.wrk,
        Some(&mixed.ft),
    );
    let _ = writeln!(
        table,
        "\nSmall pages (2 KB, {} URLs, median of {} runs):\n",
        o.small_urls, o.runs
    );
    table.push_str(HEADER);
    row(&mut table, "fetch-titles", &small.ft, None);
    row(
        &mut table,
        "wrk (ceiling, no parsing)",
        &small.wrk,
        Some(&small.ft),
    );
    table
}

/// The hard cases: what reading on costs.
fn hard_table(table: &mut String, hard: &[(HardCase, Measured)]) {
    let _ = writeln!(
        table,
        "\nHard pages ({HARD_PAGES} URLs each, fetch-titles, median of runs):\n"
    );
    let _ = writeln!(
        table,
        "| page | URLs/s | CPU s | bytes read per page | titled |\n|---|---|---|---|---|"
    );
    for (kind, m) in hard {
        let _ = writeln!(
            table,
            "| {} | {:.0} | {:.2} | {} | {}/{} |",
            kind.label(),
            m.rate(),
            m.cpu,
            m.bytes / m.urls.max(1),
            m.titles,
            m.urls
        );
    }
}

/// Appends the goals and how far each was met.
fn goals(
    table: &mut String,
    mixed: &Mixed,
    small: &Small,
    big: &Measured,
    million: Option<&Measured>,
) {
    let ft = &mixed.ft;
    let _ = writeln!(table, "\nGoals:");
    if let Some(py) = &mixed.py {
        let _ = writeln!(
            table,
            "- vs aiohttp + BeautifulSoup: {:.1}× (goal >= 20×)",
            ft.rate() / py.rate().max(1e-9)
        );
    }
    if let Some(curl) = &mixed.curl {
        let _ = writeln!(
            table,
            "- vs xargs curl: {:.1}× (goal >= 3×)",
            ft.rate() / curl.rate().max(1e-9)
        );
    }
    let _ = writeln!(
        table,
        "- small pages vs wrk: {:.0}% of wrk's rate (goal >= 50%)",
        100.0 * small.ft.rate() / small.wrk.rate().max(1e-9)
    );
    let _ = writeln!(
        table,
        "- 2 MB page, title in head: {} bytes read (goal <= 65536)",
        big.bytes
    );
    if let Some(m) = million {
        let _ = writeln!(
            table,
            "- {} input URLs: peak RSS {:.1} MiB (goal <= 256 MiB), {:.0} URLs/s",
            m.urls,
            m.rss_kib as f64 / 1024.0,
            m.rate()
        );
    }
}
