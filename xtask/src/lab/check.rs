//! Health checks on 127.0.0.1 only: the SSH banner, and a real SSH login
//! with OpenSSH (`ssh -o BatchMode=yes ... true`) using the lab's key and
//! known_hosts file (never the user's own files or ssh_config).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{HOSTS, PORT_BASE, files, proc};

/// Whether 127.0.0.1:`port` answers with an SSH banner.
pub use netkit_testkit::sshd::banner_ok;

/// One host's check.
pub struct HostCheck {
    pub host: String,
    pub port: u16,
    pub result: Result<Duration, String>,
}

/// Logs in to every host as `user` with the lab key (strict host keys from
/// `.lab/known_hosts`) and runs `true`, all hosts at once.
pub fn ssh_all(user: &str) -> Vec<HostCheck> {
    let handles: Vec<_> = (0..HOSTS)
        .map(|n| {
            let user = user.to_owned();
            std::thread::spawn(move || {
                let port = PORT_BASE + n;
                let start = Instant::now();
                let result = ssh_true(&user, port, &files::client_key(), &files::known_hosts())
                    .map(|()| start.elapsed());
                HostCheck {
                    host: format!("host{n}"),
                    port,
                    result,
                }
            })
        })
        .collect();
    handles
        .into_iter()
        .enumerate()
        .map(|(n, h)| {
            h.join().unwrap_or_else(|_| HostCheck {
                host: format!("host{n}"),
                port: PORT_BASE + u16::try_from(n).unwrap_or_default(),
                result: Err("check thread panicked".into()),
            })
        })
        .collect()
}

fn ssh_true(user: &str, port: u16, key: &Path, known_hosts: &Path) -> Result<(), String> {
    if !crate::shell::have("ssh") {
        return Err("OpenSSH `ssh` is missing (apt-get install openssh-client)".into());
    }
    let out = proc::output(
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-T",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .arg("-i")
            .arg(key)
            .args(["-p", &port.to_string(), "-l", user, "127.0.0.1", "true"]),
        Duration::from_secs(15),
    )
    .map_err(|e| format!("{e:#}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "ssh failed ({}): {}",
            out.status,
            err.trim().replace('\n', "; ")
        ))
    }
}
