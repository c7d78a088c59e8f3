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
    Need {
        program: "man",
        package: "man-db",
        why: "the test that every generated man page renders (`man -l`)",
    },
    Need {
        program: "nodeset",
        package: "clustershell",
        why: "the host-pattern oracle (expansion and folding against ClusterShell's nodeset)",
    },
    Need {
        program: "pdsh",
        package: "pdsh",
        why: "the host-pattern oracle (expansion against `pdsh -q`)",
    },
];

/// What `cargo xtask demo` needs: the local lab's sshd hosts (when Docker
/// is not ready) and their keys.
const DEMO_NEEDS: &[Need] = &[
    Need {
        program: "/usr/sbin/sshd",
        package: "openssh-server",
        why: "the eight local SSH hosts of the ssh-fanout demo",
    },
    Need {
        program: "ssh-keygen",
        package: "openssh-client",
        why: "the lab's host and user keys",
    },
];

/// Installs missing test prerequisites, or explains how to.
pub fn ensure_test_prerequisites() -> anyhow::Result<()> {
    ensure(TEST_NEEDS)
}

/// Installs missing demo prerequisites, or explains how to, before the
/// demo builds anything.
pub fn ensure_demo_prerequisites() -> anyhow::Result<()> {
    ensure(DEMO_NEEDS)
}

/// The needs whose program is not installed.
fn missing(needs: &[Need]) -> Vec<&Need> {
    needs
        .iter()
        .filter(|need| !shell::have(need.program))
        .collect()
}

/// The command that installs `missing` (one package once).
fn install_instruction(missing: &[&Need]) -> String {
    let mut packages: Vec<&str> = missing.iter().map(|need| need.package).collect();
    packages.dedup();
    format!(
        "sudo apt-get update && sudo apt-get install -y {}",
        packages.join(" ")
    )
}

fn ensure(needs: &[Need]) -> anyhow::Result<()> {
    let missing = missing(needs);
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
            "missing prerequisites; install them with: {}",
            install_instruction(&missing)
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

/// The kubernetes-validate release the manifest check runs (pinned: it
/// bundles the schemas up to Kubernetes 1.37).
const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";

/// `kubernetes-validate` (PyPI), installed once into a virtual environment
/// under the target directory; returns the program to run. One already on
/// PATH at the pinned version is used as it is.
pub fn ensure_kubernetes_validate() -> anyhow::Result<std::path::PathBuf> {
    let pinned = |program: &std::path::Path| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|out| {
                out.status.success()
                    && String::from_utf8_lossy(&out.stdout).trim() == KUBERNETES_VALIDATE_VERSION
            })
    };
    let on_path = std::path::PathBuf::from("kubernetes-validate");
    if pinned(&on_path) {
        return Ok(on_path);
    }
    let venv = shell::target_dir().join("kubernetes-validate");
    let program = venv.join("bin/kubernetes-validate");
    if pinned(&program) {
        return Ok(program);
    }
    if !shell::have("python3") {
        ensure_packages(&[("python3", "python3")])?;
    }
    if !Command::new("python3")
        .args(["-m", "venv", "--help"])
        .output()
        .is_ok_and(|o| o.status.success())
        || !Command::new("python3")
            .args(["-c", "import ensurepip"])
            .output()
            .is_ok_and(|o| o.status.success())
    {
        // Debian splits venv and ensurepip out of python3.
        ensure_packages(&[("/usr/share/doc/python3-venv", "python3-venv")])?;
    }
    let _ = std::fs::remove_dir_all(&venv);
    shell::run(
        "python3 -m venv (for kubernetes-validate)",
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    )?;
    shell::run(
        &format!("pip install kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}"),
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(format!(
                "kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}"
            )),
    )?;
    if !pinned(&program) {
        bail!("{} does not run after pip install", program.display());
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_found_and_named_in_the_instruction() {
        let needs = [
            Need {
                program: "sh",
                package: "dash",
                why: "a program every machine has",
            },
            Need {
                program: "/nonexistent/netkit-no-such-program",
                package: "netkit-no-such-package",
                why: "the test",
            },
        ];
        let missing = missing(&needs);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].program, "/nonexistent/netkit-no-such-program");
        assert_eq!(
            install_instruction(&missing),
            "sudo apt-get update && sudo apt-get install -y netkit-no-such-package"
        );
    }
}
