//! The compose smoke test of `cargo xtask test`: a real Docker engine, the
//! real image, `docker-compose.yml`, and `ssh-fanout -g lab --json true`
//! (key login, then password login) with strict host keys from
//! `.lab/known_hosts`. Every step is bounded; an engine that cannot run is a
//! failure with its reason, never a silent pass.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::docker::{self, Compose, Dockerd};
use super::{HOSTS, PASSWORD_ENV, files, image, proc};
use crate::{provision, shell};

/// Runs the smoke test with the `ssh-fanout` binary in `bin_dir` (e.g.
/// `target/debug` after `cargo test --workspace`).
pub fn smoke_test(bin_dir: &Path) -> anyhow::Result<()> {
    proc::catch_interrupts();
    let start = Instant::now();
    println!("==> lab smoke test: docker compose hosts + ssh-fanout");
    let fanout = bin_dir.join("ssh-fanout");
    if !fanout.is_file() {
        bail!(
            "lab smoke test: {} is missing (build it: cargo build -p netkit-fanout)",
            fanout.display()
        );
    }
    if files::State::load()?.is_some() {
        bail!(
            "lab smoke test: a lab is already up (.lab/state.json); run `cargo xtask lab down` first"
        );
    }

    // 1. Packages (as root; otherwise ensure_packages explains what to install).
    if docker::engine().is_err() {
        provision::ensure_packages(&[("dockerd", "docker.io")])?;
    }
    if !shell::have("docker") {
        provision::ensure_packages(&[("docker", "docker.io")])?;
    }
    if Compose::detect().is_none() {
        provision::ensure_packages(&[("docker-compose", "docker-compose")])?;
    }
    let compose = Compose::detect()
        .context("lab smoke test: no compose front end after installing docker-compose")?;

    // 2. An engine: the running one, or a dockerd started (and stopped) here.
    let _dockerd: Option<Dockerd> = match docker::engine() {
        Ok(()) => None,
        Err(why) => {
            println!("lab: {why}; starting dockerd for the test");
            Some(
                Dockerd::start(Duration::from_secs(90))
                    .context("lab smoke test: the Docker engine cannot run")?,
            )
        }
    };

    // 3. The image (offline base if needed).
    files::ensure_keys()?;
    image::build().context("lab smoke test: building the image")?;

    // 3b. The netkit image on the same engine and base, run as the
    // Kubernetes Job's pods would.
    super::k8s::sharded_run().context("sharded run of the netkit image")?;

    // 4. Up, then ssh-fanout with the key and with the password.
    println!("lab: backend docker, {}", compose.name());
    let _down = DownOnDrop;
    docker::up(compose).context("lab smoke test: compose up")?;
    let inventory = shell::root().join("hosts.toml");
    expect_all_ok(&fanout, &inventory, "lab", &[])?;
    let password = files::password()?;
    expect_all_ok(
        &fanout,
        &inventory,
        "lab-password",
        &[(PASSWORD_ENV, password.as_str())],
    )?;
    drop(_down);
    drop(_dockerd);
    println!("<== lab smoke test passed ({})", proc::secs(start));
    Ok(())
}

/// `ssh-fanout -i hosts.toml -g GROUP --json --host-key-policy strict true`
/// must report `"status":"ok"` for all eight hosts.
fn expect_all_ok(
    fanout: &Path,
    inventory: &Path,
    group: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<()> {
    let what = format!("ssh-fanout -g {group} --json --host-key-policy strict true");
    println!("==> {what}");
    let started = Instant::now();
    let mut command = Command::new(fanout);
    command
        .arg("-i")
        .arg(inventory)
        .args([
            "-g",
            group,
            "--json",
            "--host-key-policy",
            "strict",
            "-t",
            "20s",
            "true",
        ])
        .env_remove("SSH_AUTH_SOCK");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = proc::output(&mut command, Duration::from_secs(90)).with_context(|| what.clone())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("result"))
        .collect();
    let ok = results
        .iter()
        .filter(|v| v.get("status").and_then(Value::as_str) == Some("ok"))
        .count();
    if ok != usize::from(HOSTS) || !out.status.success() {
        bail!(
            "{what}: {ok} of {HOSTS} hosts ok (exit {:?})\nstdout:\n{stdout}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("<== {what}: {ok} of {HOSTS} ok ({})", proc::secs(started));
    Ok(())
}

/// Takes the lab down when the test ends, passed or not.
struct DownOnDrop;

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if let Err(e) = super::down() {
            eprintln!("lab smoke test: teardown failed: {e:#}");
        }
    }
}
