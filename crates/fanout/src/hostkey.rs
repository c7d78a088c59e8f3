//! Host key policy, applied from the russh handler's `check_server_key`.
//!
//! The known_hosts parsing and atomic appending live in
//! [`crate::known_hosts`]; this file caches one parsed file per path for the
//! whole run (500 hosts do not re-read it 500 times) and decides what a
//! verdict means under `--host-key-policy`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use russh::keys::PublicKey;

use crate::cli::HostKeyPolicy;
use crate::error::SshError;
use crate::known_hosts::{HostKeyChanged, KeyCheck, KnownHosts};
use crate::target::Target;

/// The known_hosts files of a run, parsed on first use.
#[derive(Debug)]
pub struct HostKeyStore {
    policy: HostKeyPolicy,
    files: Mutex<HashMap<std::path::PathBuf, Arc<KnownFile>>>,
}

/// One parsed file plus an exact-name index for the common case.
#[derive(Debug)]
struct KnownFile {
    full: KnownHosts,
    fast: ExactIndex,
}

/// Fast path for the steady state of a big fan-out: `name -> "alg base64"`
/// for entries whose names are plain (no glob, negation or hash). A hit is a
/// [`KeyCheck::Match`] without scanning every entry (the full check is
/// linear in the file, so 500 hosts would cost 500 x 500 glob matches).
/// Disabled when the file has `@revoked` lines, so revocation always goes
/// through the full check; misses always do.
#[derive(Debug, Default)]
struct ExactIndex {
    enabled: bool,
    keys: HashMap<String, Vec<String>>,
}

impl ExactIndex {
    fn build(path: &Path) -> ExactIndex {
        let Ok(text) = std::fs::read_to_string(path) else {
            return ExactIndex::default();
        };
        let mut index = ExactIndex {
            enabled: true,
            keys: HashMap::new(),
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("@revoked") {
                return ExactIndex::default();
            }
            if line.starts_with('@') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(names), Some(alg), Some(blob)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            for name in names.split(',') {
                if name.is_empty() || name.contains(['*', '?', '!', '|']) {
                    continue;
                }
                index
                    .keys
                    .entry(name.to_ascii_lowercase())
                    .or_default()
                    .push(format!("{alg} {blob}"));
            }
        }
        index
    }

    fn is_match(&self, name: &str, key: &PublicKey) -> bool {
        if !self.enabled {
            return false;
        }
        let Some(known) = self.keys.get(&name.to_ascii_lowercase()) else {
            return false;
        };
        let Ok(encoded) = key.to_openssh() else {
            return false;
        };
        // "alg base64" without any comment.
        let mut parts = encoded.split_whitespace();
        let (Some(alg), Some(blob)) = (parts.next(), parts.next()) else {
            return false;
        };
        known.iter().any(|k| {
            k.len() == alg.len() + 1 + blob.len() && k.starts_with(alg) && k.ends_with(blob)
        })
    }
}

impl HostKeyStore {
    /// A store applying `policy`.
    pub fn new(policy: HostKeyPolicy) -> Self {
        HostKeyStore {
            policy,
            files: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, path: &Path) -> Result<Arc<KnownFile>, SshError> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.get(path) {
            return Ok(f.clone());
        }
        let loaded = Arc::new(KnownFile {
            full: KnownHosts::load(path)
                .map_err(|e| SshError::Handshake(format!("known_hosts: {e}")))?,
            fast: ExactIndex::build(path),
        });
        files.insert(path.to_path_buf(), loaded.clone());
        Ok(loaded)
    }

    /// Checks `key` offered by `target` against its known_hosts file.
    pub fn verify(&self, target: &Target, key: &PublicKey) -> Result<(), SshError> {
        if self.policy == HostKeyPolicy::Off {
            return Ok(());
        }
        let file = self.file(&target.known_hosts)?;
        if file.fast.is_match(&target.known_hosts_name(), key) {
            return Ok(());
        }
        let check = file.full.check(&target.address, target.port, key);
        match check {
            KeyCheck::Match => Ok(()),
            KeyCheck::Changed { .. } | KeyCheck::Revoked { .. } => {
                let message = HostKeyChanged::from_check(&check, &target.address, target.port, key)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "host key changed".to_owned());
                Err(SshError::HostKeyChanged(message))
            }
            KeyCheck::Unknown => {
                let name = target.known_hosts_name();
                let fingerprint = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
                if self.policy == HostKeyPolicy::Strict {
                    return Err(SshError::HostKeyUnknown {
                        host: name,
                        fingerprint,
                        known_hosts: target.known_hosts.display().to_string(),
                    });
                }
                file.full
                    .append(&target.address, target.port, key)
                    .map_err(|e| {
                        SshError::Handshake(format!("cannot record the host key of {name}: {e}"))
                    })?;
                tracing::info!(
                    "added {name} ({fingerprint}) to {}",
                    target.known_hosts.display()
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: &str) -> PublicKey {
        // Two fixed ed25519 public keys.
        let blob = match seed {
            "a" => "AAAAC3NzaC1lZDI1NTE5AAAAIFQSu8gIkepn7jW7JoDAPJvz9tS0FbIcyKNc0VL/YoFZ",
            _ => "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        };
        PublicKey::from_openssh(&format!("ssh-ed25519 {blob}")).unwrap()
    }

    #[test]
    fn exact_index_matches_plain_names_only_and_yields_to_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let a = key("a").to_openssh().unwrap();
        std::fs::write(&path, format!("[127.0.0.1]:2200,Web {a}\n*.glob {a}\n")).unwrap();
        let idx = ExactIndex::build(&path);
        assert!(idx.is_match("[127.0.0.1]:2200", &key("a")));
        assert!(idx.is_match("web", &key("a")), "names are case-insensitive");
        assert!(
            !idx.is_match("[127.0.0.1]:2200", &key("b")),
            "other key: full check"
        );
        assert!(!idx.is_match("x.glob", &key("a")), "globs: full check");
        std::fs::write(&path, format!("web {a}\n@revoked * {a}\n")).unwrap();
        assert!(!ExactIndex::build(&path).is_match("web", &key("a")));
    }
}
