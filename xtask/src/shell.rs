//! Running commands with a visible header and a clear failure message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the root)
/// when set, else `target/` in the repository root.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// Runs `cargo ARGS` in the repository root, failing with the step's name.
pub fn step(name: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut command = cargo();
    command.args(args).current_dir(root());
    run(name, &mut command)
}

/// A `cargo` command (the toolchain's own, from `$CARGO`) without the
/// variables `cargo run` set for xtask itself (`CARGO_PKG_*`,
/// `CARGO_MANIFEST_*`, `CARGO_CRATE_NAME`, ...). Left in place they describe
/// the wrong package to the child, and a subcommand such as cargo-machete,
/// which reads `CARGO_PKG_NAME` to tell `cargo machete` from `cargo run`,
/// then takes its own name for a path.
pub fn cargo() -> Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(key);
        }
    }
    command
}

/// Runs a command, printing a header and the time it took.
pub fn run(name: &str, command: &mut Command) -> anyhow::Result<()> {
    println!("==> {name}");
    let start = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("could not start: {name}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("step failed after {secs:.1}s ({status}): {name}");
    }
    println!("<== {name} ({secs:.1}s)");
    Ok(())
}

/// Whether `program` is on PATH (or is an existing absolute path).
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether this process runs as root (the owner of `/proc/self` is the
/// effective uid).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}
