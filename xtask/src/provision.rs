//! System prerequisites of the test suite: what `cargo xtask test` installs
//! when it runs as root with apt-get, and the exact instruction otherwise.

use std::process::Command;

use anyhow::bail;

use crate::shell;

/// A program the tests need and the Debian package that provides it.
struct Need {
    program: &'static str,
    package: &'static str,
    why: &'static str,
}

const TEST_NEEDS: &[Need] = &[
    Need {
        program: "/usr/sbin/sshd",
        package: "openssh-server",
        why: "real OpenSSH hosts for the ssh-fanout tests",
    },
    Need {
        program: "ssh-keygen",
        package: "openssh-client",
        why: "host and user keys for the sshd harness",
    },
    Need {
        program: "ss",
        package: "iproute2",
        why: "the echo-client --source test (which addresses the connections come from)",
    },
];

/// Installs missing test prerequisites, or explains how to.
pub fn ensure_test_prerequisites() -> anyhow::Result<()> {
    ensure(TEST_NEEDS)
}

fn ensure(needs: &[Need]) -> anyhow::Result<()> {
    let missing: Vec<&Need> = needs
        .iter()
        .filter(|need| !shell::have(need.program))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|need| need.package).collect();
    for need in &missing {
        println!(
            "xtask: missing {} ({}), needed for {}",
            need.program, need.package, need.why
        );
    }
    if !(shell::is_root() && shell::have("apt-get")) {
        bail!(
            "missing prerequisites; install them with: sudo apt-get update && sudo apt-get install -y {}",
            packages.join(" ")
        );
    }
    shell::run(
        "apt-get update",
        Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    shell::run(
        &format!("apt-get install {}", packages.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|need| !shell::have(need.program))
        .map(|need| need.program)
        .collect();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join(", "));
    }
    Ok(())
}

/// Makes sure benchmark peers are installed (best effort as root).
pub fn ensure_packages(pairs: &[(&'static str, &'static str)]) -> anyhow::Result<()> {
    let needs: Vec<Need> = pairs
        .iter()
        .map(|&(program, package)| Need {
            program,
            package,
            why: "the benchmark",
        })
        .collect();
    ensure(&needs)
}

/// The cargo-machete release the unused-dependency check runs (pinned, so a
/// new release cannot change what CI reports).
const MACHETE_VERSION: &str = "0.9.2";

/// Installs cargo-machete with `cargo install` when it is missing (an
/// unoptimised build: the check scans a few dozen files, and a debug build
/// compiles in a fraction of the time).
pub fn ensure_cargo_machete() -> anyhow::Result<()> {
    let installed = shell::cargo()
        .args(["machete", "--version"])
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == MACHETE_VERSION
        });
    if installed {
        return Ok(());
    }
    shell::run(
        &format!("cargo install cargo-machete@{MACHETE_VERSION}"),
        shell::cargo().args([
            "install",
            "--locked",
            "--debug",
            &format!("cargo-machete@{MACHETE_VERSION}"),
        ]),
    )
}
