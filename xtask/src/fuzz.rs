//! `cargo xtask fuzz titles [--minutes M] [--cases N]`: the long run of the
//! title extractor's differential test (`crates/fetch/tests/titles.rs`,
//! streaming extractor in random chunkings against html5ever's tree). CI
//! runs 4,000 cases of one seed; this runs batches of `--cases` (default
//! 20,000) with a new seed each, in release, until `--minutes` (default 10)
//! have passed or a batch fails, and says how long it ran clean. A failure
//! prints the seed that reproduces it:
//! `TITLE_SEED=S TITLE_CASES=N cargo test --release -p netkit-fetch --test titles`.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;

use crate::bench::arg;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    if args.first().map(String::as_str) != Some("titles") {
        bail!("usage: cargo xtask fuzz titles [--minutes M] [--cases N]");
    }
    let minutes: f64 = arg(args, "--minutes").unwrap_or("10").parse()?;
    let cases: u64 = arg(args, "--cases").unwrap_or("20000").parse()?;
    let budget = Duration::from_secs_f64(minutes * 60.0);
    let started = Instant::now();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let (mut batches, mut total) = (0u64, 0u64);
    while started.elapsed() < budget {
        let status = Command::new(env!("CARGO"))
            .args([
                "test",
                "--release",
                "-q",
                "-p",
                "netkit-fetch",
                "--test",
                "titles",
                "differential_against_html5ever_tree",
            ])
            .env("TITLE_SEED", seed.to_string())
            .env("TITLE_CASES", cases.to_string())
            .status()?;
        if !status.success() {
            bail!(
                "seed {seed} failed after {batches} clean batches ({total} cases, {:.0?}): \
                 TITLE_SEED={seed} TITLE_CASES={cases} cargo test --release -p netkit-fetch --test titles",
                started.elapsed()
            );
        }
        batches += 1;
        total += cases;
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    println!(
        "fuzz titles: {total} cases in {batches} batches, clean, in {:.0?}",
        started.elapsed()
    );
    Ok(())
}
