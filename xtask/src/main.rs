//! `cargo xtask`: the project's automation, in Rust so it runs anywhere
//! cargo does.
//!
//! - `cargo xtask test`: provisions system prerequisites (as root, via
//!   apt-get), then `cargo fmt --check`, `cargo machete` (no unused
//!   dependencies; installed with `cargo install` when missing), `cargo clippy --workspace
//!   --all-targets -- -D warnings` and `cargo test --workspace`. This is the
//!   single test command, and `.ci/run` calls nothing else. It ends with the
//!   lab's compose smoke test (eight containerised sshd hosts, one
//!   `ssh-fanout --json` run).
//! - `cargo xtask demo`: builds the release binaries and runs each tool's
//!   main job on local defaults, with no internet.
//! - `cargo xtask lab image|up|down|status`: the eight SSH test hosts.
//! - `cargo xtask bench pool|echo|fetch|fanout`: side-by-side benchmarks.
//! - `cargo xtask image`: the `netkit:VERSION` / `netkit:latest` container
//!   image from `deploy/image/Dockerfile`, built offline.
//! - `cargo xtask dist`: release binaries, completions, man pages and
//!   SHA-256 sums in one directory.

mod bench;
mod charsets;
mod demo;
mod dist;
mod fuzz;
mod lab;
mod provision;
mod shell;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test                      provision prerequisites, then fmt, clippy and every test
  demo                      build release binaries and run each tool on local defaults
  lab image|up [--docker|--local]|status|down
                            the eight SSH test hosts of hosts.toml
  image                     the netkit:VERSION and netkit:latest images (release binaries,
                            CA certificates, non-root user, /bin/sh), offline; prints the size
  k8s                       validate deploy/kubernetes offline, then run netkit:test as the
                            Job's 4 pods against a loopback server (part of test)
  dist                      release binaries, shell completions, man pages and SHA256SUMS
                            in target/dist/netkit-VERSION-ARCH-linux/
  bench pool|echo|fetch|fetch-input|fanout|copy [ARGS...]
                            side-by-side benchmarks (not part of the tests)
  fuzz titles [--minutes M] [--cases N]
                            the title extractor's differential test, long (not part of the tests)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => run_tests(),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("lab") => lab::run(&args[1..]),
        Some("dist") => dist::run(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("image") => lab::netkit_image::run(),
        Some("k8s") => lab::k8s::check(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_tests() -> anyhow::Result<()> {
    provision::ensure_test_prerequisites()?;
    shell::step("cargo fmt --check", &["fmt", "--all", "--check"])?;
    provision::ensure_cargo_machete()?;
    shell::step("cargo machete (unused dependencies)", &["machete"])?;
    shell::step(
        "cargo clippy --workspace --all-targets -- -D warnings",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    shell::step("cargo test --workspace", &["test", "--workspace"])?;
    lab::k8s::validate_manifests()?;
    lab::smoke_test(&shell::target_dir().join("debug"))?;
    println!("xtask: all checks passed");
    Ok(())
}
