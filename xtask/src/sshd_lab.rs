//! N local OpenSSH sshd for the ssh-fanout benchmark and demo, from the
//! template `tests/hosts/sshd_config` shared with the crate's test harness
//! (`crates/fanout/tests/util.rs`) and the docker lab. Included with
//! `#[path]` by `bench/fanout.rs` and `demo/fanout.rs`.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::shell;

/// N running sshd on 127.0.0.1, one authorized ed25519 client key.
pub struct Lab {
    /// Temp dir with keys, configs and client files.
    pub dir: tempfile::TempDir,
    /// The login user (the current user).
    pub user: String,
    /// The authorized client key.
    pub key: PathBuf,
    /// One port per sshd.
    pub ports: Vec<u16>,
    sshd: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.sshd {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn keygen(path: &Path) -> anyhow::Result<()> {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .context("ssh-keygen")?;
    if !st.success() {
        bail!("ssh-keygen failed");
    }
    Ok(())
}

fn banner_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4];
    matches!(s.read(&mut buf), Ok(4) if &buf == b"SSH-")
}

/// Starts `n` sshd from the shared template; `extra` lines are appended
/// (the benchmark passes `SetEnv SHLVL=1`).
pub fn start_lab(n: usize, extra: &str) -> anyhow::Result<Lab> {
    if !Path::new("/usr/sbin/sshd").exists() {
        bail!(
            "/usr/sbin/sshd is missing: install it with `sudo apt-get install -y openssh-server`"
        );
    }
    let dir = tempfile::tempdir()?;
    let user = String::from_utf8(Command::new("id").arg("-un").output()?.stdout)?
        .trim()
        .to_owned();
    if user == "root" {
        let _ = std::fs::create_dir_all("/run/sshd");
    }
    let key = dir.path().join("id_ed25519");
    keygen(&key)?;
    let auth = dir.path().join("authorized_keys");
    std::fs::copy(key.with_extension("pub"), &auth)?;
    let template = std::fs::read_to_string(shell::root().join("tests/hosts/sshd_config"))
        .context("tests/hosts/sshd_config")?;
    let mut lab = Lab {
        dir,
        user,
        key,
        ports: Vec::new(),
        sshd: Vec::new(),
    };
    for i in 0..n {
        let port = crate::shell::free_port()?;
        let host_key = lab.dir.path().join(format!("host{i}_key"));
        keygen(&host_key)?;
        let text = template
            .replace("{{LISTEN}}", "127.0.0.1")
            .replace("{{PORT}}", &port.to_string())
            .replace("{{HOST_KEY}}", &host_key.display().to_string())
            .replace("{{AUTHORIZED_KEYS}}", &auth.display().to_string())
            .replace(
                "{{PID_FILE}}",
                &lab.dir
                    .path()
                    .join(format!("host{i}.pid"))
                    .display()
                    .to_string(),
            )
            .replace(
                "{{PERMIT_ROOT}}",
                if lab.user == "root" {
                    "prohibit-password"
                } else {
                    "no"
                },
            )
            .replace("{{EXTRA}}", extra);
        let cfg = lab.dir.path().join(format!("host{i}_sshd_config"));
        std::fs::write(&cfg, text)?;
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start sshd")?;
        lab.sshd.push(child);
        lab.ports.push(port);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for &p in &lab.ports {
        while !banner_ok(p) {
            if Instant::now() > deadline {
                bail!("sshd on port {p} did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(lab)
}

impl Lab {
    /// Writes an ssh-fanout inventory naming the hosts `h0`, `h1`, ...
    pub fn write_inventory(&self, path: &Path) -> anyhow::Result<()> {
        let mut inv = format!(
            "[defaults]\nuser = \"{}\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\n\n[groups]\nlab = [\"h[0-{}]\"]\n",
            self.user,
            self.key.display(),
            self.dir.path().join("known_hosts").display(),
            self.ports.len().saturating_sub(1)
        );
        for (i, p) in self.ports.iter().enumerate() {
            inv.push_str(&format!(
                "\n[hosts.h{i}]\naddress = \"127.0.0.1\"\nport = {p}\n"
            ));
        }
        std::fs::write(path, inv)?;
        Ok(())
    }
}
