//! Host key policy, applied from the russh handler's `check_server_key`.
//!
//! The known_hosts parsing, lookup index and atomic appending live in
//! [`crate::known_hosts`]; this file keeps one parsed file per path for the
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
    files: Mutex<HashMap<std::path::PathBuf, Arc<KnownHosts>>>,
}

impl HostKeyStore {
    /// A store applying `policy`.
    pub fn new(policy: HostKeyPolicy) -> Self {
        HostKeyStore {
            policy,
            files: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, path: &Path) -> Result<Arc<KnownHosts>, SshError> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.get(path) {
            return Ok(f.clone());
        }
        let loaded = Arc::new(
            KnownHosts::load(path).map_err(|e| SshError::Handshake(format!("known_hosts: {e}")))?,
        );
        files.insert(path.to_path_buf(), loaded.clone());
        Ok(loaded)
    }

    /// Checks `key` offered by `target` against its known_hosts file.
    pub fn verify(&self, target: &Target, key: &PublicKey) -> Result<(), SshError> {
        if self.policy == HostKeyPolicy::Off {
            return Ok(());
        }
        let file = self.file(&target.known_hosts)?;
        let check = file.check(&target.address, target.port, key);
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
                file.append(&target.address, target.port, key)
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
