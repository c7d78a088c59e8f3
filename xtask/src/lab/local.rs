//! The local backend: the eight hosts as `/usr/sbin/sshd` processes on
//! 127.0.0.1:2200..2207, started by the launcher the ssh-fanout tests and
//! benchmark use (`netkit_testkit::sshd`, template `tests/hosts/sshd_config`),
//! with the same host keys, client key and password as the containers.
//!
//! As root, the login user is `netkit` (created with `useradd` when missing
//! and removed again by `down`), with the generated password enabled. As an
//! ordinary user, sshd can only log that user in, by key: the lab then writes
//! `.lab/hosts.toml` (the same hosts, `user` = you) and says so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use netkit_testkit::sshd::{Launch, Log, Sshd, current_user, require_sshd};

use super::files::{self, State};
use super::{HOSTS, PORT_BASE, USER, proc};
use crate::shell;

/// sshd keeps the first value of a global option and the template says
/// `PasswordAuthentication no`, so password login is enabled in a Match
/// block appended through `{{EXTRA}}` (the container does the same).
pub const PASSWORD_LOGIN: &str = "Match all\n    PasswordAuthentication yes";

fn config_path(n: u16) -> PathBuf {
    files::local_dir().join(format!("host{n}_sshd_config"))
}

/// Fails with a clear message if one of the lab ports is taken.
pub fn check_ports_free() -> anyhow::Result<()> {
    for n in 0..HOSTS {
        let port = PORT_BASE + n;
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!(
                "127.0.0.1:{port} (host{n}) is already in use; is another lab up? \
                 (`cargo xtask lab status`, `cargo xtask lab down`)"
            );
        }
    }
    Ok(())
}

/// Starts the eight sshd and records them in `.lab/state.json`.
pub fn up() -> anyhow::Result<State> {
    require_sshd()?;
    check_ports_free()?;
    let root = shell::is_root();
    let (user, created_user) = if root {
        let created = ensure_netkit_user()?;
        set_password(&files::password()?)?;
        let _ = std::fs::create_dir_all("/run/sshd");
        (USER.to_owned(), created)
    } else {
        let me = current_user()?;
        println!(
            "lab: not root, so the local hosts can only log in `{me}` (by key; no password login); \
             use the inventory .lab/hosts.toml (`ssh-fanout -i .lab/hosts.toml -g lab ...`)"
        );
        (me, false)
    };
    let inventory = if root {
        shell::root().join("hosts.toml")
    } else {
        write_user_inventory(&user)?
    };
    let mut state = State {
        backend: "local".into(),
        user,
        inventory,
        pids: Vec::new(),
        created_user,
    };

    let dir = files::local_dir();
    let _ = std::fs::remove_dir_all(&dir);
    files::mkdir(&dir, 0o755)?;
    let authorized = dir.join("authorized_keys");
    std::fs::copy(files::client_key().with_extension("pub"), &authorized)?;
    files::write_atomic(&authorized, &std::fs::read_to_string(&authorized)?, 0o644)?;
    let start = Instant::now();
    let result = start_all(&authorized, root, &mut state);
    // Record whatever started, even on failure, so `down` can stop it.
    state.save()?;
    result?;
    println!(
        "lab: 8 local sshd up on 127.0.0.1:{}-{} ({})",
        PORT_BASE,
        PORT_BASE + HOSTS - 1,
        proc::secs(start)
    );
    Ok(state)
}

fn start_all(authorized: &Path, root: bool, state: &mut State) -> anyhow::Result<()> {
    let dir = files::local_dir();
    let mut started = Vec::new();
    let mut result = Ok(());
    for n in 0..HOSTS {
        let log = dir.join(format!("host{n}.log"));
        let launch = Launch {
            name: &format!("host{n}"),
            dir: &dir,
            port: PORT_BASE + n,
            host_keys: &[files::host_key(n)],
            authorized_keys: authorized,
            permit_root: "no",
            extra: if root { PASSWORD_LOGIN } else { "" },
            log: Log::File(&log),
            own_process_group: true,
        };
        match launch.spawn() {
            Ok(sshd) => {
                state.pids.extend(sshd.pid());
                started.push(sshd);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() {
        result = wait_all(&mut started);
    }
    // The servers outlive this process (and a failed start, for `down`).
    for sshd in started {
        sshd.detach();
    }
    result
}

fn wait_all(started: &mut [Sshd]) -> anyhow::Result<()> {
    let dir = files::local_dir();
    let deadline = Instant::now() + Duration::from_secs(15);
    for sshd in started {
        let (name, port) = (sshd.name.clone(), sshd.port);
        let failed = |why: String| {
            let log = dir.join(format!("{name}.log"));
            anyhow::anyhow!(
                "sshd for {name} (127.0.0.1:{port}) did not start: {why}\n{}",
                proc::tail(&log, 10)
            )
        };
        while !sshd.poll_ready().map_err(|e| failed(format!("{e:#}")))? {
            proc::check_interrupt()?;
            if Instant::now() > deadline {
                return Err(failed("no banner within 15 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Stops the sshd recorded in `state` (only those, by PID), removes
/// `.lab/local/` and, if `up` created it, the user `netkit`.
pub fn down(state: &State) -> anyhow::Result<()> {
    for (n, &pid) in (0..).zip(&state.pids) {
        let marker = config_path(n).display().to_string();
        proc::stop(pid, &marker, Duration::from_secs(5));
    }
    let _ = std::fs::remove_dir_all(files::local_dir());
    if state.created_user {
        let out = proc::output(
            Command::new("userdel").args(["-r", USER]),
            Duration::from_secs(30),
        )?;
        if !out.status.success() {
            println!(
                "lab: warning: userdel -r {USER} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    if state.inventory == files::dir().join("hosts.toml") {
        let _ = std::fs::remove_file(&state.inventory);
    }
    println!("lab: stopped {} local sshd", state.pids.len());
    Ok(())
}

/// As root: makes sure the user `netkit` exists; true if it was created.
fn ensure_netkit_user() -> anyhow::Result<bool> {
    if proc::succeeds(
        Command::new("id").args(["-u", USER]),
        Duration::from_secs(10),
    ) {
        return Ok(false);
    }
    proc::run(
        &format!("useradd {USER}"),
        Command::new("useradd").args(["--create-home", "--shell", "/bin/bash", USER]),
        Duration::from_secs(30),
    )?;
    Ok(true)
}

fn set_password(password: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .context("running chpasswd")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(format!("{USER}:{password}\n").as_bytes())?;
    }
    if !child.wait()?.success() {
        bail!("chpasswd failed to set the password of {USER}");
    }
    Ok(())
}

/// `.lab/hosts.toml`: the lab inventory with `user` = the current user.
fn write_user_inventory(user: &str) -> anyhow::Result<PathBuf> {
    let text =
        std::fs::read_to_string(shell::root().join("hosts.toml")).context("reading hosts.toml")?;
    let text = text
        .replace(&format!("user = \"{USER}\""), &format!("user = \"{user}\""))
        .replace("\".lab/", "\"");
    let path = files::dir().join("hosts.toml");
    let header = "# Generated by `cargo xtask lab up` (local backend, not root): hosts.toml with\n\
                  # your user, since an unprivileged sshd can only log you in.\n";
    files::write_atomic(&path, &format!("{header}{text}"), 0o644)?;
    Ok(path)
}
