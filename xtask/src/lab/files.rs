//! What `cargo xtask lab` keeps in the git-ignored `.lab/` folder:
//!
//! - `.lab/keys/id_ed25519` (+ `.pub`): the client key `hosts.toml` uses;
//! - `.lab/keys/host<N>_ed25519`: each host's host key, shared by both
//!   backends, so `.lab/known_hosts` stays valid when the backend changes;
//! - `.lab/keys/password`: the generated password of the user `netkit`
//!   (export it as `NETKIT_LAB_PASSWORD` for the password path);
//! - `.lab/known_hosts`: the eight host keys, written here (never the user's
//!   `~/.ssh/known_hosts`), so `--host-key-policy strict` works at once;
//! - `.lab/state.json`: which backend is up, the effective user, and the
//!   PIDs of the local sshd processes;
//! - `.lab/local/`: rendered sshd configs and logs of the local backend;
//! - `.lab/hosts.toml`: an inventory for the local backend run as an
//!   ordinary user (who can only log in as themself).
//!
//! Everything is generated on first use and never committed (`/.lab/` is
//! in `.gitignore`).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use netkit_testkit::keygen_commented;
use serde_json::{Value, json};

use super::{HOSTS, PORT_BASE};
use crate::shell;

/// The `.lab/` folder.
pub fn dir() -> PathBuf {
    shell::root().join(".lab")
}

pub fn keys_dir() -> PathBuf {
    dir().join("keys")
}

pub fn client_key() -> PathBuf {
    keys_dir().join("id_ed25519")
}

pub fn host_key(n: u16) -> PathBuf {
    keys_dir().join(format!("host{n}_ed25519"))
}

pub fn password_file() -> PathBuf {
    keys_dir().join("password")
}

pub fn known_hosts() -> PathBuf {
    dir().join("known_hosts")
}

pub fn state_file() -> PathBuf {
    dir().join("state.json")
}

pub fn local_dir() -> PathBuf {
    dir().join("local")
}

/// Creates the keys, the password and `.lab/known_hosts` if missing.
pub fn ensure_keys() -> anyhow::Result<()> {
    if !shell::have("ssh-keygen") {
        bail!("ssh-keygen is missing: install it with `sudo apt-get install -y openssh-client`");
    }
    mkdir(&dir(), 0o755)?;
    mkdir(&keys_dir(), 0o700)?;
    let mut created = Vec::new();
    if !client_key().exists() {
        keygen_commented(&client_key(), "netkit-lab client")?;
        created.push("the client key .lab/keys/id_ed25519".to_owned());
    }
    for n in 0..HOSTS {
        if !host_key(n).exists() {
            keygen_commented(&host_key(n), &format!("netkit-lab host{n}"))?;
            created.push(format!("host key .lab/keys/host{n}_ed25519"));
        }
    }
    if !password_file().exists() {
        let password = generate_password()?;
        write_private(&password_file(), &password)?;
        created.push("the password .lab/keys/password".to_owned());
    }
    if !created.is_empty() {
        println!("lab: generated {}", created.join(", "));
    }
    let mut lines = String::from("# The lab's host keys, written by `cargo xtask lab`.\n");
    for n in 0..HOSTS {
        let public = std::fs::read_to_string(host_key(n).with_extension("pub"))
            .with_context(|| format!("reading {}.pub", host_key(n).display()))?;
        let mut fields = public.split_whitespace();
        let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
            bail!("{}.pub: not an OpenSSH public key", host_key(n).display());
        };
        lines.push_str(&format!("[127.0.0.1]:{} {kind} {blob}\n", PORT_BASE + n));
    }
    let existing = std::fs::read_to_string(known_hosts()).unwrap_or_default();
    if existing != lines {
        write_atomic(&known_hosts(), &lines, 0o644)?;
    }
    Ok(())
}

/// The generated password.
pub fn password() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(password_file())
        .with_context(|| format!("reading {}", password_file().display()))?
        .trim()
        .to_owned())
}

/// 20 random alphanumerics from /dev/urandom.
fn generate_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 64];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    // 64 bytes give at least 20 unbiased draws (reject >= 228 = 4 * 57).
    let limit = 256 - 256 % ALPHABET.len();
    let password: String = bytes
        .iter()
        .map(|&b| usize::from(b))
        .filter(|&b| b < limit)
        .take(20)
        .map(|b| char::from(ALPHABET[b % ALPHABET.len()]))
        .collect();
    if password.len() < 20 {
        bail!("not enough randomness for a password");
    }
    Ok(password)
}

pub fn mkdir(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    write_atomic(path, &format!("{text}\n"), 0o600)
}

/// Writes through a temporary file and a rename, with `mode`.
pub fn write_atomic(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// What `lab up` started, as recorded in `.lab/state.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// `docker` or `local`.
    pub backend: String,
    /// The login user of the hosts.
    pub user: String,
    /// The inventory that works with this backend.
    pub inventory: PathBuf,
    /// PIDs of the local sshd processes (empty for docker).
    pub pids: Vec<u32>,
    /// Whether `lab up` created the user `netkit` (then `down` removes it).
    pub created_user: bool,
}

impl State {
    pub fn load() -> anyhow::Result<Option<State>> {
        let path = state_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let text_of = |key: &str| {
            v.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Some(State {
            backend: text_of("backend"),
            user: text_of("user"),
            inventory: PathBuf::from(text_of("inventory")),
            pids: v
                .get("pids")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_u64)
                        .filter_map(|p| u32::try_from(p).ok())
                        .collect()
                })
                .unwrap_or_default(),
            created_user: v
                .get("created_user")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }))
    }

    pub fn save(&self) -> anyhow::Result<()> {
        let v = json!({
            "backend": self.backend,
            "user": self.user,
            "inventory": self.inventory,
            "pids": self.pids,
            "created_user": self.created_user,
        });
        write_atomic(&state_file(), &format!("{v:#}\n"), 0o644)
    }

    pub fn remove() -> anyhow::Result<()> {
        match std::fs::remove_file(state_file()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", state_file().display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_20_distinct_alphanumerics() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
