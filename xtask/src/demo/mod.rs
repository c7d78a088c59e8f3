//! `cargo xtask demo`: a short guided tour of every tool, on loopback only.

mod echo;
mod fanout;
mod fetch;

use std::process::Command;

use crate::{provision, shell};

pub fn run() -> anyhow::Result<()> {
    // As `cargo xtask test` does: install what is missing (as root with
    // apt-get) or say how, before anything is built.
    provision::ensure_demo_prerequisites()?;
    shell::step(
        "build the release binaries",
        &["build", "--release", "--workspace", "--bins", "--examples"],
    )?;
    let bin_dir = shell::root().join("target/release");
    println!("\n## The pool: 10,000 jobs, at most 64 at once, with timeouts, a panic and a retry");
    shell::run(
        "netkit-pool example",
        &mut Command::new(bin_dir.join("examples/pool_tour")),
    )?;
    println!("\n## echo-server and echo-client");
    echo::run(&bin_dir)?;
    println!("\n## fetch-titles");
    fetch::run(&bin_dir)?;
    println!("\n## ssh-fanout");
    fanout::run(&bin_dir)?;
    println!("\nDemo complete.");
    Ok(())
}
