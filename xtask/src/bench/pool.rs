//! `cargo xtask bench pool`: runs the pool's benchmark binary
//! (`crates/pool/benches/overhead.rs`) in release mode.
//!
//! The overhead comparison starts one process per measurement (the bench
//! binary re-runs itself); the memory check runs one process per job count
//! so that each peak RSS is its own.

use std::process::Command;

use anyhow::{Context, bail};

use crate::shell;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    shell::step(
        "build the pool benchmark (release)",
        &[
            "bench",
            "-p",
            "netkit-pool",
            "--bench",
            "overhead",
            "--no-run",
        ],
    )?;
    let binary = bench_binary()?;
    let mut command = Command::new(&binary);
    if args.is_empty() {
        command.arg("overhead");
    } else {
        command.args(args);
    }
    shell::run(
        "pool overhead: netkit-pool vs JoinSet+Semaphore vs buffer_unordered",
        &mut command,
    )?;
    if args.is_empty() {
        for jobs in ["1000000", "10000000"] {
            shell::run(
                &format!("pool memory: {jobs} trivial jobs at N=1000"),
                Command::new(&binary).args(["rss", jobs, "1000"]),
            )?;
        }
    }
    Ok(())
}

/// Finds the compiled bench executable (`target/release/deps/overhead-*`).
fn bench_binary() -> anyhow::Result<std::path::PathBuf> {
    let deps = shell::root().join("target/release/deps");
    let mut candidates: Vec<_> = std::fs::read_dir(&deps)
        .with_context(|| format!("reading {}", deps.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            name.starts_with("overhead-") && path.extension().is_none()
        })
        .collect();
    candidates.sort_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok());
    match candidates.pop() {
        Some(path) => Ok(path),
        None => bail!("no overhead bench binary in {}", deps.display()),
    }
}
