//! A fully resolved host to connect to: the inventory / `~/.ssh/config` /
//! `-w` layers are already merged by [`crate::config`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::HostKeyPolicy;

/// One host, ready to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Display name (prefix, JSON `host`, failed-hosts file).
    pub name: String,
    /// Address or DNS name to connect to.
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Identity files to try, in order (parsed once per run).
    pub identities: Vec<PathBuf>,
    /// `IdentitiesOnly yes`: offer the identity files only; agent keys only
    /// when they are the public half of one of them.
    pub identities_only: bool,
    /// User certificates (`CertificateFile`, and `<identity>-cert.pub` next
    /// to each identity file that has one), offered with the key they
    /// certify, before that key alone.
    pub certificates: Vec<PathBuf>,
    /// The ssh-agent socket (`SSH_AUTH_SOCK` unless `IdentityAgent` says
    /// otherwise); `None`: no agent.
    pub agent_socket: Option<PathBuf>,
    /// Environment variable holding this host's password.
    pub password_env: Option<String>,
    /// How this host's key is checked.
    pub host_keys: HostKeySettings,
    /// TCP + handshake + auth deadline.
    pub connect_timeout: Duration,
    /// Jump host to tunnel through (one shared connection per jump host).
    pub jump: Option<Arc<Target>>,
    /// `ProxyCommand`, tokens expanded: SSH runs over its stdin and stdout
    /// instead of TCP. Never set together with `jump`.
    pub proxy_command: Option<String>,
    /// When this host is a jump host: the most targets tunnelled through
    /// it at once (inventory `jump_concurrency`, default
    /// [`DEFAULT_JUMP_CONCURRENCY`]).
    pub jump_concurrency: usize,
}

/// Targets tunnelled through one jump host at once unless the inventory
/// says otherwise: each is a `direct-tcpip` channel, and so one TCP
/// connection from the jump host, for as long as the target's session
/// lasts. OpenSSH's sshd has no limit of its own on them (`MaxSessions`
/// counts sessions, not forwarded channels); 64 matches the default
/// `--fanout`, so a default run is never held back by it.
pub const DEFAULT_JUMP_CONCURRENCY: usize = 64;

impl Target {
    /// The key identifying a jump connection: everything that makes two
    /// jump hosts the same SSH session.
    pub fn connection_key(&self) -> String {
        let via = self
            .jump
            .as_ref()
            .map(|j| j.connection_key())
            .unwrap_or_default();
        format!("{}@{}:{}>{via}", self.user, self.address, self.port)
    }

    /// The name under which the host key is looked up and recorded:
    /// `HostKeyAlias` if set, else the address lowercased, as `[host]:port`
    /// unless the port is 22 (OpenSSH convention).
    pub fn known_hosts_name(&self) -> String {
        match &self.host_keys.alias {
            Some(alias) => alias.clone(),
            None => crate::connect::known_hosts::host_key_name(
                &self.address.to_ascii_lowercase(),
                self.port,
            ),
        }
    }
}

/// How a host's key is checked: OpenSSH's `StrictHostKeyChecking`,
/// `UserKnownHostsFile`, `GlobalKnownHostsFile` and `HostKeyAlias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeySettings {
    /// The policy.
    pub policy: HostKeyPolicy,
    /// Where the policy comes from, for messages (`--host-key-policy
    /// strict`, `StrictHostKeyChecking yes`).
    pub policy_origin: String,
    /// User files, in order; new keys go to the first. Empty for
    /// `UserKnownHostsFile none` (then new keys are refused).
    pub user_files: Vec<PathBuf>,
    /// Global files, read after the user files, never written.
    pub global_files: Vec<PathBuf>,
    /// `HostKeyAlias`: the name looked up and recorded instead of the host.
    pub alias: Option<String>,
}

impl HostKeySettings {
    /// `policy` over one user file and no global file (tests, embedding).
    pub fn with_file(policy: HostKeyPolicy, user_file: impl Into<PathBuf>) -> Self {
        HostKeySettings {
            policy,
            policy_origin: "--host-key-policy".to_owned(),
            user_files: vec![user_file.into()],
            global_files: Vec::new(),
            alias: None,
        }
    }
}
