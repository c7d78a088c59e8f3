//! The local backend: the eight hosts as `/usr/sbin/sshd` processes on
//! 127.0.0.1:2200..2207, rendered from the template shared with the
//! ssh-fanout test harness (`tests/hosts/sshd_config`), with the same host
//! keys, client key and password as the containers.
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

use super::files::{self, State};
use super::{HOSTS, PORT_BASE, USER, proc};
use crate::shell;

const SSHD: &str = "/usr/sbin/sshd";

/// Values for the template placeholders.
pub struct Render<'a> {
    pub listen: &'a str,
    pub port: u16,
    pub host_key: &'a Path,
    pub authorized_keys: &'a Path,
    pub pid_file: &'a Path,
    pub permit_root: &'a str,
    pub extra: &'a str,
}

/// Substitutes every placeholder of the shared template (outside comments;
/// `{{EXTRA}}` must stand on its own line); fails if one is left (sshd would
/// refuse the file).
pub fn render(template: &str, r: &Render<'_>) -> anyhow::Result<String> {
    let mut text = String::with_capacity(template.len() + r.extra.len());
    for line in template.lines() {
        if line.trim_start().starts_with('#') {
            // Comments name the placeholders; a multi-line EXTRA must not
            // land there.
            text.push_str(line);
        } else if line.trim() == "{{EXTRA}}" {
            text.push_str(r.extra);
        } else {
            let line = line
                .replace("{{LISTEN}}", r.listen)
                .replace("{{PORT}}", &r.port.to_string())
                .replace("{{HOST_KEY}}", &r.host_key.display().to_string())
                .replace(
                    "{{AUTHORIZED_KEYS}}",
                    &r.authorized_keys.display().to_string(),
                )
                .replace("{{PID_FILE}}", &r.pid_file.display().to_string())
                .replace("{{PERMIT_ROOT}}", r.permit_root);
            if let Some(at) = line.find("{{") {
                bail!(
                    "tests/hosts/sshd_config: unknown placeholder {}",
                    &line[at..]
                );
            }
            text.push_str(&line);
        }
        text.push('\n');
    }
    Ok(text)
}

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
    if !Path::new(SSHD).exists() {
        bail!("{SSHD} is missing: install it with `sudo apt-get install -y openssh-server`");
    }
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
    let template_path = shell::root().join("tests/hosts/sshd_config");
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let start = Instant::now();
    let result = start_all(&template, &authorized, root, &mut state);
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

fn start_all(
    template: &str,
    authorized: &Path,
    root: bool,
    state: &mut State,
) -> anyhow::Result<()> {
    let dir = files::local_dir();
    for n in 0..HOSTS {
        let pid_file = dir.join(format!("host{n}.pid"));
        let text = render(
            template,
            &Render {
                listen: "127.0.0.1",
                port: PORT_BASE + n,
                host_key: &files::host_key(n),
                authorized_keys: authorized,
                pid_file: &pid_file,
                permit_root: "no",
                extra: if root { PASSWORD_LOGIN } else { "" },
            },
        )?;
        let config = config_path(n);
        std::fs::write(&config, text)?;
        let log_path = dir.join(format!("host{n}.log"));
        let log = std::fs::File::create(&log_path)?;
        use std::os::unix::process::CommandExt;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: Ctrl-C in this terminal leaves it to `down`.
            .process_group(0)
            .spawn()
            .context("starting sshd")?;
        state.pids.push(child.id());
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for n in 0..HOSTS {
        let port = PORT_BASE + n;
        while !super::check::banner_ok(port) {
            proc::check_interrupt()?;
            let pid = state.pids.get(usize::from(n)).copied().unwrap_or_default();
            let log = dir.join(format!("host{n}.log"));
            if !proc::is_ours(pid, &config_path(n).display().to_string())
                || Instant::now() > deadline
            {
                bail!(
                    "sshd for host{n} (127.0.0.1:{port}) did not start:\n{}",
                    proc::tail(&log, 10)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Stops the sshd recorded in `state` (only those, by PID), removes
/// `.lab/local/` and, if `up` created it, the user `netkit`.
pub fn down(state: &State) -> anyhow::Result<()> {
    for (n, &pid) in state.pids.iter().enumerate() {
        let marker = files::local_dir()
            .join(format!("host{n}_sshd_config"))
            .display()
            .to_string();
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

fn current_user() -> anyhow::Result<String> {
    let out = proc::output(Command::new("id").arg("-un"), Duration::from_secs(10))?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder_of_the_shared_template() {
        let template =
            std::fs::read_to_string(shell::root().join("tests/hosts/sshd_config")).unwrap();
        let text = render(
            &template,
            &Render {
                listen: "127.0.0.1",
                port: 2203,
                host_key: Path::new("/k/host3"),
                authorized_keys: Path::new("/k/auth"),
                pid_file: Path::new("/k/pid"),
                permit_root: "no",
                extra: PASSWORD_LOGIN,
            },
        )
        .unwrap();
        assert!(text.contains("Port 2203\n"));
        assert!(text.contains("HostKey /k/host3\n"));
        assert!(text.ends_with("Match all\n    PasswordAuthentication yes\n"));
        let settings = text.lines().filter(|l| !l.trim_start().starts_with('#'));
        assert!(settings.clone().all(|l| !l.contains("{{")), "{text}");
        // The multi-line EXTRA lands only at the end, never in a comment.
        assert_eq!(
            settings
                .filter(|l| l.contains("PasswordAuthentication yes"))
                .count(),
            1
        );
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let r = Render {
            listen: "",
            port: 1,
            host_key: Path::new(""),
            authorized_keys: Path::new(""),
            pid_file: Path::new(""),
            permit_root: "",
            extra: "",
        };
        let err = render("Port {{PORT}}\nX {{NEW}}\n", &r).unwrap_err();
        assert!(err.to_string().contains("{{NEW}}"), "{err}");
    }
}
