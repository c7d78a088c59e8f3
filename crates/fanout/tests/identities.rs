//! Which identities are offered, as ssh 9.2 decides: `IdentitiesOnly`,
//! `IdentityAgent` and user certificates (`CertificateFile` and
//! `<identity>-cert.pub`), against a real sshd and a real `ssh-agent`.
//!
//! One sshd trusts a user CA (`TrustedUserCAKeys`) and authorizes one key
//! (`authorized`). Every case runs the binary with `-F cfg` only, so nothing
//! of this machine's ssh config or agent takes part.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

struct Agent {
    socket: PathBuf,
    child: Child,
}

impl Agent {
    /// `ssh-agent -D -a SOCKET` holding `key`.
    fn start(dir: &Path, key: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let st = Command::new("ssh-add")
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &socket)
            .status()
            .unwrap();
        assert!(st.success());
        Agent { socket, child }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Lab {
    dir: tempfile::TempDir,
    sshd: Sshd,
    user: String,
    /// Authorized in `authorized_keys`.
    authorized: PathBuf,
    /// Not authorized; has `stranger-cert.pub`, signed by the trusted CA.
    stranger: PathBuf,
    /// Not authorized, no certificate.
    nobody: PathBuf,
}

impl Lab {
    fn start() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host = d.join("host_ed25519");
        keygen(&host);
        let ca = d.join("user_ca");
        keygen(&ca);
        let authorized = d.join("authorized");
        keygen(&authorized);
        let stranger = d.join("stranger");
        keygen(&stranger);
        let nobody = d.join("nobody");
        keygen(&nobody);
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        let st = Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(&ca)
            .args(["-I", "netkit-test", "-n", &user, "-V", "-5m:+1h"])
            .arg(stranger.with_extension("pub"))
            .status()
            .unwrap();
        assert!(st.success());
        assert!(d.join("stranger-cert.pub").is_file());
        let extra = format!(
            "SetEnv SHLVL=1\nTrustedUserCAKeys {}\n",
            ca.with_extension("pub").display()
        );
        let sshd = custom_sshd(
            d,
            "identities",
            &[host],
            &authorized.with_extension("pub"),
            &extra,
            None,
        );
        Lab {
            dir,
            sshd,
            user,
            authorized,
            stranger,
            nobody,
        }
    }

    /// Runs `true` on the sshd with this ssh config body (after `Host *`
    /// lines for the address, port, user and host key file) and `env`.
    fn run(&self, body: &str, env: &[(&str, &str)]) -> (i32, String) {
        let cfg = self.dir.path().join("ssh_config");
        std::fs::write(
            &cfg,
            format!(
                "Host lab\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  UserKnownHostsFile {}\n{body}",
                self.sshd.port,
                self.user,
                self.dir.path().join("known_hosts").display(),
            ),
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap().to_owned();
        let args = [
            "-F",
            cfg.as_str(),
            "-w",
            "lab",
            "--json",
            "-t",
            "10s",
            "true",
        ];
        let (code, out, err) = std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(run_async(&args, env, None))
            })
            .join()
            .unwrap()
        });
        let recs = json_lines(&out);
        let kind = result_of(&recs, "lab")["error"]["kind"]
            .as_str()
            .unwrap_or("ok")
            .to_owned();
        (code, format!("{kind} {err}"))
    }
}

#[test]
fn a_user_certificate_next_to_the_key_or_named_by_certificatefile_is_offered() {
    let lab = Lab::start();
    let id = |p: &Path| format!("  IdentityFile {}\n", p.display());
    // The key alone is not authorized: only its certificate gets in.
    let (code, out) = lab.run(&id(&lab.stranger), &[]);
    assert_eq!(code, 0, "stranger-cert.pub beside the key: {out}");
    // The same certificate under another name, through CertificateFile.
    let moved = lab.dir.path().join("elsewhere.pub");
    std::fs::rename(lab.dir.path().join("stranger-cert.pub"), &moved).unwrap();
    let (code, out) = lab.run(&id(&lab.stranger), &[]);
    assert_eq!(code, 3, "without its certificate the key is refused: {out}");
    assert!(out.starts_with("auth "), "{out}");
    let body = format!(
        "{}  CertificateFile {}\n",
        id(&lab.stranger),
        moved.display()
    );
    let (code, out) = lab.run(&body, &[]);
    assert_eq!(code, 0, "CertificateFile: {out}");
    // A certificate of another key is not offered with this one.
    let body = format!("{}  CertificateFile {}\n", id(&lab.nobody), moved.display());
    let (code, out) = lab.run(&body, &[]);
    assert_eq!(code, 3, "{out}");
}

#[test]
fn identities_only_and_identity_agent_choose_the_agent_keys() {
    let lab = Lab::start();
    let agent = Agent::start(lab.dir.path(), &lab.authorized);
    let sock = agent.socket.to_str().unwrap().to_owned();
    let only_nobody = format!("  IdentityFile {}\n", lab.nobody.display());
    // SSH_AUTH_SOCK's agent holds the authorized key: it gets in.
    let (code, out) = lab.run(&only_nobody, &[("SSH_AUTH_SOCK", &sock)]);
    assert_eq!(code, 0, "{out}");
    // IdentitiesOnly: agent keys only if they are an IdentityFile's.
    let body = format!("{only_nobody}  IdentitiesOnly yes\n");
    let (code, out) = lab.run(&body, &[("SSH_AUTH_SOCK", &sock)]);
    assert_eq!(
        code, 3,
        "IdentitiesOnly must not offer the agent's key: {out}"
    );
    assert!(out.starts_with("auth "), "{out}");
    let body = format!(
        "  IdentityFile {}\n  IdentitiesOnly yes\n",
        lab.authorized.with_extension("pub").display()
    );
    // The agent's key is the IdentityFile's (public half only on disk is
    // not loadable as a key: the private file is named instead).
    let body = body.replace(".pub", "");
    let (code, out) = lab.run(&body, &[("SSH_AUTH_SOCK", &sock)]);
    assert_eq!(code, 0, "{out}");
    // IdentityAgent none: no agent at all.
    let body = format!("{only_nobody}  IdentityAgent none\n");
    let (code, out) = lab.run(&body, &[("SSH_AUTH_SOCK", &sock)]);
    assert_eq!(code, 3, "{out}");
    // IdentityAgent PATH, SSH_AUTH_SOCK unset; and $VAR.
    let body = format!("{only_nobody}  IdentityAgent {sock}\n");
    let (code, out) = lab.run(&body, &[]);
    assert_eq!(code, 0, "IdentityAgent path: {out}");
    let body = format!("{only_nobody}  IdentityAgent $LAB_AGENT\n");
    let (code, out) = lab.run(&body, &[("LAB_AGENT", &sock)]);
    assert_eq!(code, 0, "IdentityAgent $VAR: {out}");
    // ${ENV} in IdentityAgent's path.
    let body = format!("{only_nobody}  IdentityAgent ${{LAB_DIR}}/agent.sock\n");
    let dir = lab.dir.path().to_str().unwrap().to_owned();
    let (code, out) = lab.run(&body, &[("LAB_DIR", &dir)]);
    assert_eq!(code, 0, "IdentityAgent ${{ENV}}: {out}");
}
