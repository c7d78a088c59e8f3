//! Host key policy, applied from the russh handler's `check_server_key`,
//! and the host key algorithms offered to each host.
//!
//! The known_hosts rules live in [`crate::connect::known_hosts`] (the verdict is
//! OpenSSH 9.2's); this file keeps one parsed file per path for the whole
//! run (500 hosts do not re-read a file 500 times), gathers a host's files
//! (user files, then global files) and decides what a verdict means under
//! the host's policy: `strict` refuses new keys, `accept-new` records them
//! in the first user file, both refuse changed and revoked keys, `off`
//! checks nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::keys::PublicKeyOrCertificate;

use crate::cli::HostKeyPolicy;
use crate::connect::known_hosts::{
    Appended, HostKeyChanged, HostKeyEntry, HostKeyOrder, HostQuery, KnownHosts, KnownHostsError,
    Presented, Verdict, host_key_name, host_key_order, verify_files,
};
use crate::error::SshError;
use crate::select::target::Target;

/// The known_hosts files of a run, parsed on first use.
#[derive(Debug, Default)]
pub struct HostKeyStore {
    files: Mutex<HashMap<PathBuf, Arc<KnownHosts>>>,
}

impl HostKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        HostKeyStore::default()
    }

    fn file(&self, path: &Path) -> Result<Arc<KnownHosts>, SshError> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.get(path) {
            return Ok(f.clone());
        }
        let loaded =
            Arc::new(KnownHosts::load(path).map_err(|e| SshError::KnownHosts(e.to_string()))?);
        files.insert(path.to_path_buf(), loaded.clone());
        Ok(loaded)
    }

    /// The target's files: user files, then global files.
    fn files(&self, target: &Target) -> Result<Vec<Arc<KnownHosts>>, SshError> {
        let k = &target.host_keys;
        k.user_files
            .iter()
            .chain(&k.global_files)
            .map(|p| self.file(p))
            .collect()
    }

    fn lookup(files: &[Arc<KnownHosts>], name: &str) -> Vec<HostKeyEntry> {
        files.iter().flat_map(|f| f.lookup(name)).collect()
    }

    /// The host key algorithms to offer `target` (OpenSSH's
    /// `order_hostkeyalgs`); the default order under `off`.
    pub fn order(&self, target: &Target) -> Result<HostKeyOrder, SshError> {
        if target.host_keys.policy == HostKeyPolicy::Off {
            return Ok(HostKeyOrder::default());
        }
        let files = self.files(target)?;
        Ok(host_key_order(&Self::lookup(
            &files,
            &target.known_hosts_name(),
        )))
    }

    /// Checks the key or certificate `target` presented.
    pub fn verify(
        &self,
        target: &Target,
        presented: &PublicKeyOrCertificate,
    ) -> Result<(), SshError> {
        let settings = &target.host_keys;
        if settings.policy == HostKeyPolicy::Off {
            return Ok(());
        }
        let files = self.files(target)?;
        let presented = match presented {
            PublicKeyOrCertificate::PublicKey { key, .. } => Presented::Key(key.key_data()),
            PublicKeyOrCertificate::Certificate(cert) => Presented::Certificate(cert),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let query = HostQuery {
            host: &target.address,
            port: target.port,
            alias: settings.alias.as_deref(),
            can_record: !settings.user_files.is_empty(),
            now,
        };
        let verdict = verify_files(&files, &query, presented);
        match verdict {
            Verdict::Known { entry, certificate } => {
                tracing::debug!(
                    "{}: host {} matches line {}",
                    target.name,
                    if certificate {
                        "certificate's CA"
                    } else {
                        "key"
                    },
                    entry.location()
                );
                Ok(())
            }
            Verdict::New {
                name,
                key,
                unrecordable,
                certificate_problem,
            } => {
                let fingerprint = presented.fingerprint();
                let cert_note = certificate_problem
                    .map(|p| format!(" (host certificate not accepted: {p})"))
                    .unwrap_or_default();
                let first_user = settings
                    .user_files
                    .first()
                    .filter(|_| unrecordable.is_none());
                let Some(first_user) =
                    first_user.filter(|_| settings.policy == HostKeyPolicy::AcceptNew)
                else {
                    let why = match unrecordable {
                        Some(why) => format!("it cannot be recorded: {why}"),
                        None => format!(
                            "host key checking is strict ({}); add it to {} or use \
                             --host-key-policy accept-new",
                            settings.policy_origin,
                            settings.user_files.first().map_or_else(
                                || "a known_hosts file".to_owned(),
                                |p| p.display().to_string()
                            )
                        ),
                    };
                    return Err(SshError::HostKeyUnknown {
                        host: name,
                        fingerprint,
                        reason: format!("{why}{cert_note}"),
                    });
                };
                let file = files
                    .first()
                    .filter(|f| f.path() == first_user.as_path())
                    .cloned()
                    .map_or_else(|| self.file(first_user), Ok)?;
                match file.append(&name, &key) {
                    Ok(Appended::Written(line)) => tracing::info!(
                        "added {name} ({fingerprint}) to {}:{line}{cert_note}",
                        first_user.display()
                    ),
                    Ok(Appended::AlreadyThere(_)) => {}
                    // Another writer recorded another key for the name
                    // between our check and our append: the key changed.
                    Err(KnownHostsError::Conflict { path, name, line }) => {
                        return Err(SshError::HostKeyChanged(Box::new(HostKeyChanged {
                            name,
                            algorithm: presented.algorithm(),
                            fingerprint,
                            path,
                            line,
                            offending_type: None,
                            revoked: false,
                            certificate_problem: None,
                        })));
                    }
                    // As ssh ("Failed to add the host to the list of known
                    // hosts"): the key is new and accepted; only recording
                    // it failed.
                    Err(e) => tracing::warn!(
                        "{}: accepting the new host key of {name} ({fingerprint}) without \
                         recording it: {e}",
                        target.name
                    ),
                }
                Ok(())
            }
            Verdict::Changed { .. } | Verdict::Revoked { .. } => {
                match HostKeyChanged::from_verdict(&verdict, presented) {
                    Some(changed) => Err(SshError::HostKeyChanged(Box::new(changed))),
                    None => Err(SshError::Handshake(format!(
                        "host key verdict without an entry: {verdict:?}"
                    ))),
                }
            }
            Verdict::InvalidCertificate => Err(SshError::HostCertificateInvalid {
                host: host_key_name(&target.address, target.port),
            }),
        }
    }
}
