//! `cargo xtask bench fetch-input [LINES]`: the input stage of fetch-titles
//! alone (read, normalise, dedupe) on a generated list of LINES URLs
//! (default 30,000,000, one in ten a repeat), with and without dedupe, for
//! its peak memory; fetching that many URLs here would take about 40
//! minutes. Runs `examples/input_stage` under `/usr/bin/time`.

use std::io::Write as _;
use std::process::Command;

use anyhow::{Context, bail};

use crate::shell;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let lines: u64 = match args.first() {
        Some(n) => n.parse().context("LINES must be a number")?,
        None => 30_000_000,
    };
    shell::step(
        "build the input-stage example (release)",
        &[
            "build",
            "--release",
            "-p",
            "netkit-fetch",
            "--example",
            "input_stage",
        ],
    )?;
    let bin = shell::target_dir().join("release/examples/input_stage");
    let dir = tempfile::tempdir()?;
    let list = dir.path().join("urls.txt");
    println!("==> writing {lines} URLs to {}", list.display());
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&list)?);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..lines {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // One line in ten repeats an earlier URL.
            let j = if i % 10 == 0 && i > 0 { x % i } else { i };
            writeln!(
                out,
                "https://host{}.example/path/{j}?q={}",
                j % 50_000,
                j * 7
            )?;
        }
        out.flush()?;
    }
    println!("| dedupe | jobs | peak RSS | user CPU | wall |");
    println!("|---|---|---|---|---|");
    for dedupe in [true, false] {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "%M %U %e"]).arg(&bin).arg(&list);
        if !dedupe {
            cmd.arg("--no-dedupe");
        }
        let out = cmd
            .output()
            .context("running /usr/bin/time (apt-get install time)")?;
        if !out.status.success() {
            bail!(
                "input_stage failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let f: Vec<&str> = stderr
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let [rss, user, wall] = f[..] else {
            bail!("unexpected /usr/bin/time output {stderr:?}");
        };
        let mib = rss.parse::<f64>()? / 1024.0;
        let jobs = stdout.split_whitespace().next().unwrap_or("?");
        println!(
            "| {} | {jobs} | {mib:.0} MiB | {user} s | {wall} s |",
            if dedupe { "on" } else { "off" }
        );
    }
    Ok(())
}
