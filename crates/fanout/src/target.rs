//! A fully resolved host to connect to: the inventory / `~/.ssh/config` /
//! `-w` layers are already merged by [`crate::config`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Environment variable holding this host's password.
    pub password_env: Option<String>,
    /// known_hosts file for this host (default `~/.ssh/known_hosts`).
    pub known_hosts: PathBuf,
    /// TCP + handshake + auth deadline.
    pub connect_timeout: Duration,
    /// Jump host to tunnel through (one shared connection per jump host).
    pub jump: Option<Arc<Target>>,
}

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

    /// The name under which the host key is recorded: `host` for port 22,
    /// `[host]:port` otherwise (OpenSSH convention).
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.address.clone()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }
}
