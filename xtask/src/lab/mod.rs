//! `cargo xtask lab image|up|down|status`: eight SSH test hosts `host0` ..
//! `host7` on 127.0.0.1:2200..2207 for `hosts.toml` (group `lab`).
//!
//! Two backends, one inventory:
//! - **docker**: `docker-compose.yml` (image `netkit-lab-host` from
//!   `tests/hosts/Dockerfile`), chosen when a Docker engine answers, a
//!   compose front end exists and the image is built (`lab up --docker`
//!   builds it if needed);
//! - **local**: eight `/usr/sbin/sshd` processes rendered from the same
//!   template `tests/hosts/sshd_config` (see [`local`]).
//!
//! Both use the keys in `.lab/keys` (see [`files`]), so `.lab/known_hosts`
//! is valid whichever backend is up. Only 127.0.0.1 is ever addressed.

mod check;
mod docker;
mod files;
mod image;
pub mod k8s;
mod local;
pub mod netkit_image;
mod proc;
mod smoke;

use std::path::PathBuf;

use anyhow::bail;

pub use proc::{catch_interrupts, interrupted};
pub use smoke::smoke_test;

/// Number of hosts.
pub const HOSTS: u16 = 8;
/// host<N> listens on 127.0.0.1:`PORT_BASE + N`.
pub const PORT_BASE: u16 = 2200;
/// The login user of the hosts (as root, or in the containers).
pub const USER: &str = "netkit";
/// The environment variable `hosts.toml` reads the password from.
pub const PASSWORD_ENV: &str = "NETKIT_LAB_PASSWORD";
/// The host image.
pub const IMAGE: &str = "netkit-lab-host:latest";
/// Its base image, created offline when it cannot be pulled.
pub const BASE_IMAGE: &str = "debian:bookworm-slim";
/// The compose project name.
pub const PROJECT: &str = "netkit-lab";

const USAGE: &str = "usage: cargo xtask lab <command>

commands:
  image               build the host image (creates debian:bookworm-slim with
                      debootstrap from your apt mirror if it cannot be pulled)
  up [--docker|--local]
                      start host0..host7 on 127.0.0.1:2200-2207 (default: docker
                      when an engine answers and the image is built, else local sshd)
  status              show the backend and log in to every host over SSH
  down                stop and remove everything `up` started";

/// Which backend `up` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Docker if it is ready (engine, compose, image), else local sshd.
    Auto,
    /// Docker (builds the image if missing); fails if there is no engine.
    Docker,
    /// Local sshd processes.
    Local,
}

/// A lab that is up.
#[derive(Clone, Debug)]
pub struct Running {
    /// `docker` or `local`.
    pub backend: String,
    /// The inventory to pass to `ssh-fanout -i`.
    pub inventory: PathBuf,
    /// The login user.
    pub user: String,
    /// False when the lab was already up (then the caller should leave it up).
    pub started_here: bool,
}

/// `cargo xtask lab ARGS...`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    // Ctrl-C during `up` or `image` must not leave half a lab behind.
    catch_interrupts();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["image"] => image::build(),
        ["up"] => up(Choice::Auto).map(|r| print_usage_hint(&r)),
        ["up", "--docker"] => up(Choice::Docker).map(|r| print_usage_hint(&r)),
        ["up", "--local"] => up(Choice::Local).map(|r| print_usage_hint(&r)),
        ["down"] => down(),
        ["status"] => status(),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown lab command {:?}\n{USAGE}", args.join(" ")),
    }
}

fn print_usage_hint(r: &Running) {
    let inv = r
        .inventory
        .strip_prefix(crate::shell::root())
        .unwrap_or(&r.inventory);
    let flag = if inv == std::path::Path::new("hosts.toml") {
        String::new()
    } else {
        format!("-i {} ", inv.display())
    };
    println!(
        "lab: {} backend up; try: ssh-fanout {flag}-g lab uptime",
        r.backend
    );
    if r.backend == "docker" || crate::shell::is_root() {
        println!(
            "lab: password login: export {PASSWORD_ENV}=\"$(cat .lab/keys/password)\"; ssh-fanout {flag}-g lab-password uptime"
        );
    }
}

/// Starts the lab (keys first). If it is already up, says so and returns it
/// with `started_here == false`.
pub fn up(choice: Choice) -> anyhow::Result<Running> {
    files::ensure_keys()?;
    if let Some(state) = files::State::load()? {
        let alive = (0..HOSTS).all(|n| check::banner_ok(PORT_BASE + n));
        if alive {
            println!(
                "lab: already up ({} backend); `cargo xtask lab down` first to switch",
                state.backend
            );
            return Ok(Running {
                backend: state.backend,
                inventory: state.inventory,
                user: state.user,
                started_here: false,
            });
        }
        println!("lab: cleaning up a stale {} lab", state.backend);
        down()?;
    }
    let started = start(choice);
    if started.is_err() && files::State::load().ok().flatten().is_some() {
        println!("lab: start failed; taking down what was started");
        if let Err(e) = down() {
            eprintln!("lab: cleanup failed too: {e:#}");
        }
    }
    let state = started?;
    Ok(Running {
        backend: state.backend,
        inventory: state.inventory,
        user: state.user,
        started_here: true,
    })
}

fn start(choice: Choice) -> anyhow::Result<files::State> {
    let docker_ready = || -> Result<docker::Compose, String> {
        docker::engine()?;
        docker::Compose::detect()
            .ok_or_else(|| "neither `docker compose` nor `docker-compose` is installed".to_owned())
    };
    Ok(match choice {
        Choice::Local => local::up()?,
        Choice::Docker => {
            let compose = docker_ready().map_err(anyhow::Error::msg)?;
            if !docker::image_exists(IMAGE) {
                image::build()?;
            }
            println!("lab: backend docker, {}", compose.name());
            docker::up(compose)?
        }
        Choice::Auto => match docker_ready() {
            Ok(compose) if docker::image_exists(IMAGE) => {
                println!("lab: backend docker, {}", compose.name());
                docker::up(compose)?
            }
            Ok(_) => {
                println!(
                    "lab: backend local sshd (a Docker engine answers, but {IMAGE} is not built: `cargo xtask lab image`)"
                );
                local::up()?
            }
            Err(why) => {
                println!("lab: backend local sshd ({why})");
                local::up()?
            }
        },
    })
}

/// Stops whatever `up` started (recorded in `.lab/state.json`).
pub fn down() -> anyhow::Result<()> {
    let Some(state) = files::State::load()? else {
        println!("lab: nothing to take down (no .lab/state.json)");
        return Ok(());
    };
    match state.backend.as_str() {
        "docker" => docker::down(None)?,
        _ => local::down(&state)?,
    }
    files::State::remove()?;
    println!("lab: down");
    Ok(())
}

/// Prints the backend and checks every host with a real SSH login.
pub fn status() -> anyhow::Result<()> {
    let Some(state) = files::State::load()? else {
        let answering: Vec<String> = (0..HOSTS)
            .filter(|&n| check::banner_ok(PORT_BASE + n))
            .map(|n| format!("{}", PORT_BASE + n))
            .collect();
        println!("lab: down (no .lab/state.json)");
        if !answering.is_empty() {
            println!(
                "lab: note: something else answers SSH on 127.0.0.1 port(s) {}",
                answering.join(", ")
            );
        }
        return Ok(());
    };
    println!(
        "lab: backend {}, user {}, inventory {}",
        state.backend,
        state.user,
        state.inventory.display()
    );
    let checks = check::ssh_all(&state.user);
    let mut failed = 0;
    for c in &checks {
        match &c.result {
            Ok(took) => println!(
                "  {:<6} 127.0.0.1:{}  ok  (ssh login {:.0} ms)",
                c.host,
                c.port,
                took.as_secs_f64() * 1000.0
            ),
            Err(why) => {
                failed += 1;
                println!("  {:<6} 127.0.0.1:{}  FAILED  {why}", c.host, c.port);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {HOSTS} hosts failed the SSH check");
    }
    println!("lab: all {HOSTS} hosts accept SSH logins");
    Ok(())
}

/// For `cargo xtask demo`: brings the lab up with the automatic backend
/// (never builds images), catching Ctrl-C so the caller can clean up.
pub fn up_for_demo() -> anyhow::Result<Running> {
    catch_interrupts();
    up(Choice::Auto)
}

/// For `cargo xtask demo`: takes the lab down if `up_for_demo` started it.
pub fn down_after_demo(running: &Running) -> anyhow::Result<()> {
    if running.started_here { down() } else { Ok(()) }
}

/// Runs a command (inherited stdio) for at most `limit`; returns its status.
pub fn run_bounded(
    command: &mut std::process::Command,
    limit: std::time::Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    proc::status(command, limit)
}
