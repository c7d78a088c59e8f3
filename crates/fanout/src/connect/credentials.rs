//! Credentials, loaded ONCE per run and shared by every host.
//!
//! - Identity files are parsed once (deduplicated by path) into `Arc`'d
//!   keys; no per-host file reading or key parsing. ed25519 keys are also
//!   prepared for signing once ([`crate::connect::signer`]). An encrypted key's
//!   passphrase comes from `$NETKIT_SSH_PASSPHRASE`, or is asked once on
//!   the terminal and reused for every encrypted key.
//! - User certificates (`CertificateFile`, `<identity>-cert.pub`) are
//!   parsed once, and offered with the key they certify.
//! - Each ssh-agent socket (`SSH_AUTH_SOCK`, or a host's `IdentityAgent`)
//!   is asked for its identities once; each host then opens its own agent
//!   connection only to sign.
//! - Passwords come from an environment variable named by the inventory's
//!   `password_env`, or from `--ask-pass` (asked once). Never argv.
//! - Prompts go through [`netkit_cli::prompt`]: echo off by termios, the
//!   terminal restored however the prompt ends (a Ctrl-C while typing
//!   gives the prompt up at once).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::{Certificate, PrivateKey, PublicKey};
use tokio_util::sync::CancellationToken;

use crate::connect::signer::Ed25519Identity;

/// Environment variable holding the passphrase of encrypted identity files.
pub const PASSPHRASE_ENV: &str = "NETKIT_SSH_PASSPHRASE";

/// Errors while loading credentials (reported as usage errors, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The identity file could not be read or parsed.
    #[error("identity file {path}: {message}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A prompt could not be shown (no terminal).
    #[error("cannot ask for {what}: {message}")]
    Prompt {
        /// Passphrase or password.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// `password_env` names a variable that is not set.
    #[error("password_env {0} is not set in the environment")]
    MissingPasswordEnv(String),
}

/// Every credential of the run.
#[derive(Default)]
pub struct Credentials {
    /// Parsed identity files by path.
    keys: HashMap<PathBuf, Identity>,
    /// Per agent socket: the identities it holds (public halves); sockets
    /// that hold none or could not be asked are absent.
    agents: HashMap<PathBuf, Vec<PublicKey>>,
    /// Parsed user certificates by path.
    certificates: HashMap<PathBuf, Certificate>,
    /// Password from `--ask-pass`.
    pub ask_pass: Option<Arc<str>>,
    /// Passwords read from the environment, by variable name.
    env_passwords: HashMap<String, Arc<str>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .field(
                "certificates",
                &self.certificates.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// One parsed identity file.
#[derive(Clone)]
pub struct Identity {
    /// The key, as russh signs with it.
    pub key: Arc<PrivateKey>,
    /// The same key prepared for signing, when it is ed25519.
    pub ed25519: Option<Arc<Ed25519Identity>>,
}

/// What a run's hosts need, each listed once.
pub struct Wanted<'a> {
    /// Identity files.
    pub identities: &'a [&'a Path],
    /// User certificate files.
    pub certificates: &'a [&'a Path],
    /// ssh-agent sockets.
    pub agents: &'a [&'a Path],
    /// Environment variables holding passwords.
    pub password_envs: &'a [&'a str],
    /// `--ask-pass`: ask for a password once.
    pub ask_pass: bool,
}

impl Credentials {
    /// Loads every identity and certificate (once each), queries each
    /// agent, reads the password variables and asks for a password if
    /// `ask_pass`. Prompts (`--ask-pass`, an encrypted key's passphrase) are
    /// given up when `cancel` fires, with the terminal's echo restored.
    pub async fn load(
        wanted: Wanted<'_>,
        cancel: &CancellationToken,
    ) -> Result<Self, CredentialError> {
        let mut creds = Credentials::default();
        let mut passphrase: Option<String> = std::env::var(PASSPHRASE_ENV).ok();
        for &path in wanted.certificates {
            match russh::keys::load_openssh_certificate(path) {
                Ok(cert) => {
                    creds.certificates.insert(path.to_path_buf(), cert);
                }
                // ssh warns and goes on without it.
                Err(e) => tracing::warn!("certificate {}: {e}; not offered", path.display()),
            }
        }
        for &path in wanted.identities {
            if creds.keys.contains_key(path) {
                continue;
            }
            if !path.exists() {
                // Like OpenSSH: a configured but missing identity is skipped
                // (hosts needing it then fail with `auth`), with a warning.
                tracing::warn!("identity file {} does not exist; skipped", path.display());
                continue;
            }
            let key = load_identity(path, &mut passphrase, cancel).await?;
            let identity = Identity {
                ed25519: Ed25519Identity::new(&key).map(Arc::new),
                key: Arc::new(key),
            };
            creds.keys.insert(path.to_path_buf(), identity);
        }
        for &var in wanted.password_envs {
            if creds.env_passwords.contains_key(var) {
                continue;
            }
            let value =
                std::env::var(var).map_err(|_| CredentialError::MissingPasswordEnv(var.into()))?;
            creds.env_passwords.insert(var.to_owned(), value.into());
        }
        if wanted.ask_pass {
            let pw = netkit_cli::prompt::ask_hidden("SSH password: ".to_owned(), cancel)
                .await
                .map_err(|message| CredentialError::Prompt {
                    what: "password",
                    message,
                })?;
            creds.ask_pass = Some(pw.into());
        }
        for &sock in wanted.agents {
            match query_agent(sock).await {
                Ok(keys) if !keys.is_empty() => {
                    creds.agents.insert(sock.to_path_buf(), keys);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("ssh-agent at {} unusable: {e}", sock.display()),
            }
        }
        Ok(creds)
    }

    /// The parsed key for an identity path (loaded by [`Credentials::load`]).
    pub fn key(&self, path: &Path) -> Option<&Identity> {
        self.keys.get(path)
    }

    /// The identities the agent at `socket` holds (none if it holds none or
    /// could not be asked).
    pub fn agent_keys(&self, socket: &Path) -> &[PublicKey] {
        self.agents.get(socket).map_or(&[], Vec::as_slice)
    }

    /// The loaded certificates among `paths` that certify `key`.
    pub fn certificates_for<'a>(
        &'a self,
        paths: &'a [PathBuf],
        key: &'a PublicKey,
    ) -> impl Iterator<Item = &'a Certificate> + 'a {
        paths
            .iter()
            .filter_map(|p| self.certificates.get(p))
            .filter(move |c| c.public_key() == key.key_data())
    }

    /// The password for a host: its `password_env` value, else `--ask-pass`.
    pub fn password(&self, password_env: Option<&str>) -> Option<Arc<str>> {
        password_env
            .and_then(|v| self.env_passwords.get(v).cloned())
            .or_else(|| self.ask_pass.clone())
    }
}

async fn load_identity(
    path: &Path,
    passphrase: &mut Option<String>,
    cancel: &CancellationToken,
) -> Result<PrivateKey, CredentialError> {
    let err = |message: String| CredentialError::Identity {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    match russh::keys::decode_secret_key(&text, None) {
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            if passphrase.is_none() {
                let prompt = format!("Passphrase for {}: ", path.display());
                let asked = netkit_cli::prompt::ask_hidden(prompt, cancel)
                    .await
                    .map_err(|message| CredentialError::Prompt {
                        what: "passphrase",
                        message: format!("{message} (or set {PASSPHRASE_ENV})"),
                    })?;
                *passphrase = Some(asked);
            }
            russh::keys::decode_secret_key(&text, passphrase.as_deref())
                .map_err(|e| err(format!("cannot decrypt: {e}")))
        }
        Err(e) => Err(err(e.to_string())),
    }
}

async fn query_agent(sock: &Path) -> Result<Vec<PublicKey>, russh::keys::Error> {
    let mut agent = russh::keys::agent::client::AgentClient::connect_uds(sock).await?;
    let ids = agent.request_identities().await?;
    Ok(ids
        .into_iter()
        .filter_map(|id| match id {
            russh::keys::agent::AgentIdentity::PublicKey { key, .. } => Some(key),
            _ => None,
        })
        .collect())
}
