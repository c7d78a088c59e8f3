//! The contenders: fetch-titles, a Python aiohttp + BeautifulSoup script,
//! `xargs curl` and wrk.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::*;

pub(super) fn run_fetch_titles(
    bin: &Path,
    dir: &Path,
    urls: &Path,
    c: usize,
    threads: Option<usize>,
) -> anyhow::Result<Measured> {
    let out = dir.join("ft.jsonl");
    let threads = threads.map_or_else(String::new, |n| format!(" --threads {n}"));
    let script = format!(
        "{}{threads} -c {c} --per-host {c} --timeout 60s --format jsonl -q -o {} {} ; true",
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

pub(super) fn ensure_python_deps() -> anyhow::Result<()> {
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

pub(super) fn run_python(dir: &Path, urls: &Path, c: usize) -> anyhow::Result<Measured> {
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

pub(super) fn run_curl(dir: &Path, urls: &Path, www: &Path, c: usize) -> anyhow::Result<Measured> {
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

pub(super) fn run_wrk(
    dir: &Path,
    paths: &Path,
    port: u16,
    c: usize,
    secs: u64,
) -> anyhow::Result<Measured> {
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
