//! Real OpenSSH `sshd` processes on 127.0.0.1, rendered from the template
//! `tests/hosts/sshd_config` at the repository root, for ssh-fanout's tests,
//! its benchmark and the lab's local backend:
//! - [`render`] substitutes the template's placeholders;
//! - [`Launch`] writes one config and starts one `sshd -D`; the [`Sshd`] it
//!   returns is killed on drop unless [`Sshd::detach`]ed;
//! - [`SshdLab`] is N of them with their own host keys and one authorized
//!   ed25519 client key, in a temp dir.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{free_port, keygen};

/// The server binary (Debian's openssh-server).
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long [`SshdLab`] waits for its servers' banners.
const READY_LIMIT: Duration = Duration::from_secs(15);

/// Fails with an install hint when [`SSHD`] is missing.
pub fn require_sshd() -> anyhow::Result<()> {
    if !Path::new(SSHD).exists() {
        bail!("{SSHD} is missing: install it with `sudo apt-get install -y openssh-server`");
    }
    Ok(())
}

/// The template's path: `tests/hosts/sshd_config` at the repository root.
pub fn template_path() -> PathBuf {
    crate::repo_root().join("tests/hosts/sshd_config")
}

/// The login name of this process's user (`id -un`).
pub fn current_user() -> anyhow::Result<String> {
    let out = Command::new("id")
        .arg("-un")
        .output()
        .context("running id -un")?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// The template's `PermitRootLogin` for servers that log in `user`:
/// `prohibit-password` for root (key only), else `no`.
pub fn permit_root_for(user: &str) -> &'static str {
    if user == "root" {
        "prohibit-password"
    } else {
        "no"
    }
}

/// Whether 127.0.0.1:`port` answers with an SSH banner.
pub fn banner_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    matches!(stream.read(&mut buf), Ok(n) if n >= 4 && buf.starts_with(b"SSH-"))
}

/// Values for the template's placeholders.
pub struct Render<'a> {
    /// `{{LISTEN}}`: the listen address.
    pub listen: &'a str,
    /// `{{PORT}}`.
    pub port: u16,
    /// `{{HOST_KEY}}`: the line that names it is written once per key.
    pub host_keys: &'a [PathBuf],
    /// `{{AUTHORIZED_KEYS}}`.
    pub authorized_keys: &'a Path,
    /// `{{PID_FILE}}`.
    pub pid_file: &'a Path,
    /// `{{PERMIT_ROOT}}` (see [`permit_root_for`]).
    pub permit_root: &'a str,
    /// `{{EXTRA}}`, which must stand on its own line: any number of lines.
    /// A `Subsystem` line here replaces the template's (sshd refuses two
    /// for one name): `Subsystem sftp internal-sftp -R` serves read-only,
    /// `Subsystem other internal-sftp` leaves the host without `sftp`.
    pub extra: &'a str,
    /// Replaces the template's `LogLevel` (sshd keeps the first one).
    pub log_level: Option<&'a str>,
}

/// Substitutes every placeholder of the template (outside comments, which
/// name the placeholders too); fails if one is left (sshd would refuse the
/// file).
pub fn render(template: &str, r: &Render<'_>) -> anyhow::Result<String> {
    let mut text = String::with_capacity(template.len() + r.extra.len());
    let own_subsystem = r
        .extra
        .lines()
        .any(|l| l.trim_start().starts_with("Subsystem "));
    for line in template.lines() {
        let trimmed = line.trim();
        if own_subsystem && trimmed.starts_with("Subsystem ") {
            continue;
        }
        if trimmed.starts_with('#') {
            // A multi-line EXTRA must not land in a comment.
            text.push_str(line);
        } else if trimmed == "{{EXTRA}}" {
            text.push_str(r.extra);
        } else if let (Some(level), true) = (r.log_level, trimmed.starts_with("LogLevel ")) {
            text.push_str(&format!("LogLevel {level}"));
        } else if line.contains("{{HOST_KEY}}") {
            if r.host_keys.is_empty() {
                bail!("sshd_config for port {}: no host key", r.port);
            }
            let mut lines = Vec::with_capacity(r.host_keys.len());
            for key in r.host_keys {
                let path = key.display().to_string();
                lines.push(substitute(&line.replace("{{HOST_KEY}}", &path), r)?);
            }
            text.push_str(&lines.join("\n"));
        } else {
            text.push_str(&substitute(line, r)?);
        }
        text.push('\n');
    }
    Ok(text)
}

/// The one-line placeholders of `line`.
fn substitute(line: &str, r: &Render<'_>) -> anyhow::Result<String> {
    let line = line
        .replace("{{LISTEN}}", r.listen)
        .replace("{{PORT}}", &r.port.to_string())
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
    Ok(line)
}

/// Where a server's messages go.
#[derive(Clone, Copy)]
pub enum Log<'a> {
    /// Nowhere (`-e`, stderr discarded).
    Discard,
    /// `-e`, stdout and stderr to this file (created or truncated).
    File(&'a Path),
    /// `LogLevel DEBUG1` to this file (`-E`), which shows the key exchange.
    Debug(&'a Path),
}

/// One server to start: its config `DIR/NAME_sshd_config` and pid file
/// `DIR/NAME.pid`, rendered from the template on 127.0.0.1.
pub struct Launch<'a> {
    pub name: &'a str,
    pub dir: &'a Path,
    pub port: u16,
    pub host_keys: &'a [PathBuf],
    pub authorized_keys: &'a Path,
    pub permit_root: &'a str,
    pub extra: &'a str,
    pub log: Log<'a>,
    /// Its own process group, so Ctrl-C in the terminal leaves it running
    /// (the lab's `down` stops it).
    pub own_process_group: bool,
}

impl Launch<'_> {
    /// The config file this launch writes.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(format!("{}_sshd_config", self.name))
    }

    /// Writes the config and starts `sshd -D` (does not wait for it; see
    /// [`Sshd::wait_ready`]).
    pub fn spawn(&self) -> anyhow::Result<Sshd> {
        require_sshd()?;
        if is_root() {
            // The privilege separation directory sshd insists on as root.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let path = template_path();
        let template = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let text = render(
            &template,
            &Render {
                listen: "127.0.0.1",
                port: self.port,
                host_keys: self.host_keys,
                authorized_keys: self.authorized_keys,
                pid_file: &self.dir.join(format!("{}.pid", self.name)),
                permit_root: self.permit_root,
                extra: self.extra,
                log_level: matches!(self.log, Log::Debug(_)).then_some("DEBUG1"),
            },
        )?;
        let config = self.config_path();
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let mut command = Command::new(SSHD);
        command
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null());
        match self.log {
            Log::Discard => {
                command
                    .arg("-e")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
            Log::File(path) => {
                let log =
                    File::create(path).with_context(|| format!("creating {}", path.display()))?;
                command.arg("-e").stdout(log.try_clone()?).stderr(log);
            }
            Log::Debug(path) => {
                command
                    .arg("-E")
                    .arg(path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
        }
        if self.own_process_group {
            command.process_group(0);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {SSHD} for {}", self.name))?;
        Ok(Sshd {
            name: self.name.to_owned(),
            port: self.port,
            host_key: self.host_keys.first().cloned().unwrap_or_default(),
            config,
            child: Some(child),
        })
    }
}

/// Whether this process runs as root (the owner of `/proc/self` is the
/// effective uid).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// One running sshd, killed on drop.
pub struct Sshd {
    pub name: String,
    pub port: u16,
    /// The first host key.
    pub host_key: PathBuf,
    pub config: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills and reaps the process.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Leaves the process running after this value is gone; returns its PID.
    pub fn detach(mut self) -> Option<u32> {
        self.child.take().map(|child| child.id())
    }

    /// Whether it answers with its banner yet; fails if it has exited (with
    /// what `sshd -t` says about its config).
    pub fn poll_ready(&mut self) -> anyhow::Result<bool> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            let check = Command::new(SSHD)
                .arg("-t")
                .arg("-f")
                .arg(&self.config)
                .output();
            let why = check.map_or_else(
                |e| e.to_string(),
                |o| String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            );
            bail!(
                "sshd {} exited at start ({status}); config {}: {why}",
                self.name,
                self.config.display()
            );
        }
        Ok(banner_ok(self.port))
    }

    /// Waits until it answers with its banner, failing at `deadline` or if
    /// it exits.
    pub fn wait_ready(&mut self, deadline: Instant) -> anyhow::Result<()> {
        while !self.poll_ready()? {
            if Instant::now() > deadline {
                bail!("sshd {} on port {} not ready", self.name, self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// N running sshd `host0`, `host1`, ... on free ports, each with its own
/// ed25519 host key, one authorized ed25519 client key, all in a temp dir
/// (with room for a `known_hosts`). Killed on drop.
pub struct SshdLab {
    /// Keys, configs, pid files and whatever the caller writes.
    pub dir: tempfile::TempDir,
    /// The login user (the current user).
    pub user: String,
    /// The authorized client key.
    pub client_key: PathBuf,
    /// `DIR/known_hosts` (not created).
    pub known_hosts: PathBuf,
    pub hosts: Vec<Sshd>,
    extra: String,
}

impl SshdLab {
    /// Starts `n` servers; `extra` lines are appended to every config (the
    /// benchmark passes `SetEnv SHLVL=1`). Waits for every banner.
    pub fn start(n: usize, extra: &str) -> anyhow::Result<SshdLab> {
        require_sshd()?;
        let dir = tempfile::tempdir()?;
        let client_key = dir.path().join("id_ed25519");
        keygen(&client_key)?;
        std::fs::copy(
            client_key.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )?;
        let mut lab = SshdLab {
            known_hosts: dir.path().join("known_hosts"),
            dir,
            user: current_user()?,
            client_key,
            hosts: Vec::new(),
            extra: extra.to_owned(),
        };
        for i in 0..n {
            let name = format!("host{i}");
            let host_key = lab.dir.path().join(format!("{name}_key"));
            keygen(&host_key)?;
            let sshd = lab.spawn(&name, free_port()?, host_key)?;
            lab.hosts.push(sshd);
        }
        let deadline = Instant::now() + READY_LIMIT;
        for sshd in &mut lab.hosts {
            sshd.wait_ready(deadline)?;
        }
        Ok(lab)
    }

    /// The servers' ports, in order.
    pub fn ports(&self) -> Vec<u16> {
        self.hosts.iter().map(|h| h.port).collect()
    }

    /// Restarts host `i` on the same port with a freshly generated host key.
    pub fn rekey(&mut self, i: usize) -> anyhow::Result<()> {
        let Some(old) = self.hosts.get_mut(i) else {
            bail!("no host {i} in a lab of {}", self.hosts.len());
        };
        let (name, port) = (old.name.clone(), old.port);
        old.stop();
        let host_key = self.dir.path().join(format!("{name}_key2"));
        keygen(&host_key)?;
        let mut sshd = self.spawn(&name, port, host_key)?;
        sshd.wait_ready(Instant::now() + READY_LIMIT)?;
        self.hosts[i] = sshd;
        Ok(())
    }

    fn spawn(&self, name: &str, port: u16, host_key: PathBuf) -> anyhow::Result<Sshd> {
        Launch {
            name,
            dir: self.dir.path(),
            port,
            host_keys: &[host_key],
            authorized_keys: &self.dir.path().join("authorized_keys"),
            permit_root: permit_root_for(&self.user),
            extra: &self.extra,
            log: Log::Discard,
            own_process_group: false,
        }
        .spawn()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn render_lab_host(extra: &str) -> String {
        let template = std::fs::read_to_string(template_path()).unwrap();
        render(
            &template,
            &Render {
                listen: "127.0.0.1",
                port: 2203,
                host_keys: &[PathBuf::from("/k/host3")],
                authorized_keys: Path::new("/k/auth"),
                pid_file: Path::new("/k/pid"),
                permit_root: "no",
                extra,
                log_level: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn renders_every_placeholder_of_the_shared_template() {
        let extra = "Match all\n    PasswordAuthentication yes";
        let text = render_lab_host(extra);
        assert!(text.contains("Port 2203\n"), "{text}");
        assert!(text.contains("HostKey /k/host3\n"), "{text}");
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
    fn several_host_keys_and_a_log_level() {
        let template = "HostKey {{HOST_KEY}}\nLogLevel ERROR\n{{EXTRA}}\n";
        let keys = [PathBuf::from("/k/ed"), PathBuf::from("/k/ec")];
        let r = Render {
            listen: "",
            port: 1,
            host_keys: &keys,
            authorized_keys: Path::new(""),
            pid_file: Path::new(""),
            permit_root: "",
            extra: "SetEnv SHLVL=1",
            log_level: Some("DEBUG1"),
        };
        let text = render(template, &r).unwrap();
        assert_eq!(
            text,
            "HostKey /k/ed\nHostKey /k/ec\nLogLevel DEBUG1\nSetEnv SHLVL=1\n"
        );
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let r = Render {
            listen: "",
            port: 1,
            host_keys: &[],
            authorized_keys: Path::new(""),
            pid_file: Path::new(""),
            permit_root: "",
            extra: "",
            log_level: None,
        };
        let err = render("Port {{PORT}}\nX {{NEW}}\n", &r)
            .unwrap_err()
            .to_string();
        assert!(err.contains("{{NEW}}"), "{err}");
    }
}
