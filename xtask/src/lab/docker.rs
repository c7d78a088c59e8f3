//! The Docker backend: `docker-compose.yml` at the repository root, with
//! either the Compose v2 plugin (`docker compose up -d --wait`) or Debian's
//! docker-compose 1.29 (`docker-compose up -d`, then the healthchecks are
//! polled here). The project is always `-p netkit-lab`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::files::{self, State};
use super::{HOSTS, IMAGE, PORT_BASE, PROJECT, USER, proc};
use crate::shell;

/// Whether a Docker engine answers; the error says why not.
pub fn engine() -> Result<(), String> {
    if !shell::have("docker") {
        return Err("the `docker` client is not installed (apt-get install docker.io)".into());
    }
    match proc::output(
        Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]),
        Duration::from_secs(20),
    ) {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "no Docker engine answers: {}",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("docker version failed")
        )),
        Err(e) => Err(format!("no Docker engine answers: docker version: {e:#}")),
    }
}

/// The compose front end available here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compose {
    /// `docker compose` (v2 plugin): `up --wait` works.
    V2,
    /// `docker-compose` (1.x, Debian's 1.29): health is polled by the lab.
    V1,
}

impl Compose {
    pub fn detect() -> Option<Compose> {
        if proc::succeeds(
            Command::new("docker").args(["compose", "version"]),
            Duration::from_secs(20),
        ) {
            Some(Compose::V2)
        } else if shell::have("docker-compose")
            && proc::succeeds(
                Command::new("docker-compose").arg("version"),
                Duration::from_secs(20),
            )
        {
            Some(Compose::V1)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compose::V2 => "docker compose (v2)",
            Compose::V1 => "docker-compose (v1)",
        }
    }

    /// `docker compose -p netkit-lab -f docker-compose.yml` or the v1 form.
    pub fn command(self) -> Command {
        let mut command = match self {
            Compose::V2 => {
                let mut c = Command::new("docker");
                c.arg("compose");
                c
            }
            Compose::V1 => Command::new("docker-compose"),
        };
        command
            .args(["-p", PROJECT, "-f"])
            .arg(shell::root().join("docker-compose.yml"))
            .current_dir(shell::root());
        command
    }
}

/// Whether the host image is built.
pub fn image_exists(image: &str) -> bool {
    proc::succeeds(
        Command::new("docker").args(["image", "inspect", image]),
        Duration::from_secs(20),
    )
}

/// `compose up` and wait until the eight containers are healthy and answer
/// on 127.0.0.1.
pub fn up(compose: Compose) -> anyhow::Result<State> {
    if !image_exists(IMAGE) {
        bail!("the image {IMAGE} is not built: run `cargo xtask lab image` first");
    }
    super::local::check_ports_free()?;
    let state = State {
        backend: "docker".into(),
        user: USER.into(),
        inventory: shell::root().join("hosts.toml"),
        pids: Vec::new(),
        created_user: false,
    };
    // Recorded first, so `down` cleans up even a half-started project.
    state.save()?;
    let start = Instant::now();
    let limit = Duration::from_secs(180);
    match compose {
        Compose::V2 => proc::quiet(
            "docker compose up -d --wait",
            compose.command().args(["up", "-d", "--wait", "--no-build"]),
            limit,
        )?,
        Compose::V1 => {
            proc::quiet(
                "docker-compose up -d",
                compose.command().args(["up", "-d", "--no-build"]),
                limit,
            )?;
            wait_healthy(compose, limit)?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 0..HOSTS {
        while !super::check::banner_ok(PORT_BASE + n) {
            proc::check_interrupt()?;
            if Instant::now() > deadline {
                bail!(
                    "host{n} is healthy but 127.0.0.1:{} does not answer",
                    PORT_BASE + n
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!(
        "lab: 8 containers up on 127.0.0.1:{}-{} ({})",
        PORT_BASE,
        PORT_BASE + HOSTS - 1,
        proc::secs(start)
    );
    Ok(state)
}

/// Polls `docker inspect` until every container of the project is healthy.
fn wait_healthy(compose: Compose, limit: Duration) -> anyhow::Result<()> {
    println!("==> waiting for the healthchecks of 8 containers");
    let start = Instant::now();
    let mut last = String::new();
    loop {
        proc::check_interrupt()?;
        let ids = proc::output(
            compose.command().args(["ps", "-q"]),
            Duration::from_secs(30),
        )?;
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let out = proc::output(
                Command::new("docker")
                    .args(["inspect", "--format", "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"])
                    .args(&ids),
                Duration::from_secs(30),
            )?;
            last = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let healthy = last.lines().filter(|l| l.ends_with(" healthy")).count();
            if healthy == usize::from(HOSTS) {
                println!("<== 8 containers healthy ({})", proc::secs(start));
                return Ok(());
            }
            if let Some(dead) = last
                .lines()
                .find(|l| l.contains(" exited") || l.contains(" dead") || l.ends_with(" unhealthy"))
            {
                bail!(
                    "container failed: {dead}; see `docker logs` of it, e.g.:\n{}",
                    logs_hint(compose)
                );
            }
        }
        if start.elapsed() > limit {
            bail!(
                "containers not healthy after {}s:\n{last}\n{}",
                limit.as_secs(),
                logs_hint(compose)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn logs_hint(compose: Compose) -> String {
    proc::output(
        compose.command().args(["logs", "--tail", "5"]),
        Duration::from_secs(30),
    )
    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    .unwrap_or_default()
}

/// `compose down`: removes the containers and the network of the project.
pub fn down(compose: Option<Compose>) -> anyhow::Result<()> {
    let Some(compose) = compose.or_else(Compose::detect) else {
        bail!("neither `docker compose` nor `docker-compose` is available to take the lab down");
    };
    proc::quiet(
        &format!("{} down", compose.name()),
        compose
            .command()
            .args(["down", "--remove-orphans", "--timeout", "5"]),
        Duration::from_secs(120),
    )
}

/// A `dockerd` this process started (for the CI smoke test); stopped again
/// by [`Dockerd::stop`] or on drop.
pub struct Dockerd {
    child: Child,
    pub log: PathBuf,
}

impl Dockerd {
    /// Starts `dockerd` in the background with its own log file and waits
    /// up to `limit` for it to answer.
    pub fn start(limit: Duration) -> anyhow::Result<Dockerd> {
        if !shell::is_root() {
            bail!(
                "no Docker engine answers and this is not root, so dockerd cannot be started here \
                   (start Docker, or add yourself to the `docker` group, or run as root)"
            );
        }
        if !shell::have("dockerd") {
            bail!("dockerd is not installed (apt-get install docker.io)");
        }
        files::mkdir(&files::dir(), 0o755)?;
        let log = files::dir().join("dockerd.log");
        let file = std::fs::File::create(&log)?;
        println!("==> starting dockerd (log: {})", log.display());
        let start = Instant::now();
        use std::os::unix::process::CommandExt;
        let child = Command::new("dockerd")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .process_group(0)
            .spawn()
            .context("starting dockerd")?;
        let mut dockerd = Dockerd { child, log };
        loop {
            if let Some(status) = dockerd.child.try_wait()? {
                bail!(
                    "dockerd exited ({status}) before answering; the engine cannot run here:\n{}",
                    proc::tail(&dockerd.log, 15)
                );
            }
            if engine().is_ok() {
                println!("<== dockerd answers ({})", proc::secs(start));
                return Ok(dockerd);
            }
            if start.elapsed() > limit || proc::interrupted() {
                dockerd.stop();
                bail!(
                    "dockerd did not answer within {}s:\n{}",
                    limit.as_secs(),
                    proc::tail(&dockerd.log, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stops the dockerd this process started (TERM, then KILL after 20 s).
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            println!("==> stopping the dockerd started for the test");
            proc::signal(self.child.id(), "TERM");
            let start = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) {
                if start.elapsed() > Duration::from_secs(20) {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.wait();
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}
