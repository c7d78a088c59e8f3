//! Running a contender under `/usr/bin/time` and the medians of runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

#[derive(Debug, Clone, Default)]
pub(super) struct Measured {
    pub(super) wall: f64,
    pub(super) cpu: f64,
    pub(super) rss_kib: u64,
    pub(super) urls: u64,
    pub(super) bytes: u64,
    pub(super) titles: u64,
    pub(super) errors: u64,
}

impl Measured {
    pub(super) fn rate(&self) -> f64 {
        if self.wall > 0.0 {
            self.urls as f64 / self.wall
        } else {
            0.0
        }
    }
}

/// Runs `sh -c script` under /usr/bin/time; returns (wall, cpu, rss KiB).
pub(super) fn timed(dir: &Path, script: &str) -> anyhow::Result<(f64, f64, u64)> {
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

pub(super) fn median_of(runs: &[Measured]) -> Measured {
    let m =
        |f: fn(&Measured) -> f64| netkit_testkit::median(&runs.iter().map(f).collect::<Vec<_>>());
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

pub(super) fn q(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}
