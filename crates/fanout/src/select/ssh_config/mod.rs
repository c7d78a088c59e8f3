//! The ssh client configuration, read as OpenSSH 9.2's `ssh` reads it.
//!
//! - **Files** ([`SshConfig::for_flag`]): `-F FILE` is the user config and
//!   then no system file (as `ssh -F`); `-F none` reads none; without `-F`,
//!   `~/.ssh/config` then `/etc/ssh/ssh_config`. `~` and `%d` are the
//!   passwd entry's home directory, not `$HOME`.
//! - **Words** ([`words`]): `argv_split` rules (double and single quotes,
//!   backslash escapes, `key=value`, `key = value`, `#` comments at word
//!   starts, on `Host` lines too). Keywords are case-insensitive; the
//!   first value wins, `IdentityFile` and `CertificateFile` accumulate.
//! - **Refusals**: an unknown keyword (unless `IgnoreUnknown` covers it),
//!   a bad value of a keyword read here, a missing argument or bad quotes
//!   is an error naming `file:line`, as OpenSSH refuses the whole config.
//! - **`Host`**: `*`, `?`, `!negation` (a negated match fails the line),
//!   matched case-sensitively against the name as typed (first pass) or
//!   the lowercased `HostName` (final pass), as ssh does.
//! - **`Include`** ([`read`]): globs, relative paths under `~/.ssh` (user
//!   file) or `/etc/ssh` (system file), nesting up to depth 16; inside a
//!   `Host`/`Match` block an include applies only while the block matches.
//! - **`Match`** ([`eval`]): `all`, `canonical`, `final`, `host`,
//!   `originalhost`, `user`, `localuser`, `exec`, each negatable with `!`.
//!   **Two passes**, as ssh.c: the first pass matches with the name as
//!   typed; `canonical` and `final` never match in it. If any `Match final`
//!   line was seen, a second pass reads the files again with the host set
//!   to the (lowercased, `%h`-expanded) `HostName`, keeping every value
//!   already set (first value wins); `canonical` and `final` match in that
//!   pass. `CanonicalizeHostname yes`/`always` also asks for that second
//!   pass, but the name is not looked up in the DNS (it stays the
//!   `HostName`), so `canonical` behaves as `final`. `exec` runs through `$SHELL -c`
//!   (else `/bin/sh`) with stdin and stdout on `/dev/null`, at most once per
//!   distinct expanded command for the life of the [`SshConfig`].
//!   Criteria of later OpenSSH versions (`tagged`, `localnetwork`,
//!   `version`, `sessiontype`, `command`) give a warning naming `file:line`
//!   and do not match; any other criterion is refused, as 9.2 does.

pub mod eval;
pub mod read;
pub mod tokens;
mod values;
pub mod words;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::select::local_user::local_user;
pub use crate::select::local_user::{LocalUser, expand_tilde};

use read::{Item, Kind};

/// Where a value was set: a file and a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: Arc<Path>,
    /// The line, from 1.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A config OpenSSH would refuse, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshConfigError {
    /// The offending line, when there is one.
    pub origin: Option<Origin>,
    /// What is wrong.
    pub message: String,
}

impl SshConfigError {
    fn new(origin: Option<Origin>, message: String) -> Self {
        SshConfigError { origin, message }
    }

    fn context_if_missing(mut self, origin: &Origin) -> Self {
        if self.origin.is_none() {
            self.origin = Some(origin.clone());
        }
        self
    }
}

impl std::fmt::Display for SshConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Some(o) => write!(f, "ssh config {o}: {}", self.message),
            None => write!(f, "ssh config: {}", self.message),
        }
    }
}

impl std::error::Error for SshConfigError {}

/// The options ssh-fanout takes from the ssh config for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshHostConfig {
    /// `HostName`, `%h` substituted and lowercased (not for addresses), as
    /// ssh uses it.
    pub hostname: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// `User`.
    pub user: Option<String>,
    /// Every `IdentityFile` that applies, in order, `~` and tokens expanded.
    pub identity_files: Vec<PathBuf>,
    /// The same, as written (what `ssh -G` prints).
    pub identity_file_patterns: Vec<String>,
    /// `IdentitiesOnly`.
    pub identities_only: Option<bool>,
    /// `CertificateFile`s, `~` and tokens expanded.
    pub certificate_files: Vec<PathBuf>,
    /// `IdentityAgent`, as written.
    pub identity_agent: Option<String>,
    /// `IdentityAgent`, resolved: `none`, an environment variable
    /// (`SSH_AUTH_SOCK`, `$VAR`) or a socket path (`~`, tokens, `${ENV}`).
    pub agent: Option<IdentityAgent>,
    /// `ProxyJump` (`none` yields `None`), comma list as written.
    pub proxy_jump: Option<String>,
    /// `ProxyCommand` (`none` yields `None`), tokens expanded (`%h %n %p
    /// %r %%`).
    pub proxy_command: Option<String>,
    /// `ProxyCommand` as written (what `ssh -G` prints).
    pub proxy_command_template: Option<String>,
    /// `ConnectTimeout` (`none` yields `None`).
    pub connect_timeout: Option<Duration>,
    /// `StrictHostKeyChecking`.
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    /// `UserKnownHostsFile`, expanded; `Some(empty)` for `none`.
    pub user_known_hosts_files: Option<Vec<PathBuf>>,
    /// `GlobalKnownHostsFile`, `~` expanded; `Some(empty)` for `none`.
    pub global_known_hosts_files: Option<Vec<PathBuf>>,
    /// `HostKeyAlias`, as written.
    pub host_key_alias: Option<String>,
    /// Where each value was set, by lowercase keyword (`identityfile`
    /// holds the first).
    pub origins: BTreeMap<String, Origin>,
    /// Warnings (unsupported `Match` criteria), each naming `file:line`.
    pub warnings: Vec<String>,
}

/// Where `IdentityAgent` says the agent is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityAgent {
    /// `none`: no agent.
    None,
    /// The socket named by this environment variable (`SSH_AUTH_SOCK`, or
    /// `$VAR`); no agent when it is unset.
    Env(String),
    /// This socket.
    Socket(PathBuf),
}

/// OpenSSH's `StrictHostKeyChecking` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// `yes` (or `true`).
    Yes,
    /// `ask`.
    Ask,
    /// `accept-new`.
    AcceptNew,
    /// `no`, `off` (or `false`).
    No,
}

impl StrictHostKeyChecking {
    /// Parses a value as OpenSSH does (case-insensitive); `None` for a
    /// value OpenSSH rejects.
    pub fn try_parse(value: &str) -> Option<StrictHostKeyChecking> {
        Some(match value.to_ascii_lowercase().as_str() {
            "yes" | "true" => StrictHostKeyChecking::Yes,
            "ask" => StrictHostKeyChecking::Ask,
            "accept-new" => StrictHostKeyChecking::AcceptNew,
            "no" | "off" | "false" => StrictHostKeyChecking::No,
            _ => return None,
        })
    }

    /// [`Self::try_parse`], an unknown value counting as `yes`.
    pub fn parse(value: &str) -> StrictHostKeyChecking {
        Self::try_parse(value).unwrap_or(StrictHostKeyChecking::Yes)
    }

    /// The word `ssh -G` prints.
    pub fn ssh_g_word(self) -> &'static str {
        match self {
            StrictHostKeyChecking::Yes => "true",
            StrictHostKeyChecking::Ask => "ask",
            StrictHostKeyChecking::AcceptNew => "accept-new",
            StrictHostKeyChecking::No => "false",
        }
    }
}

/// A parsed ssh client configuration: the files read, in order.
#[derive(Clone, Debug, Default)]
pub struct SshConfig {
    files: Vec<Vec<Item>>,
    user: Option<LocalUser>,
    exec_cache: Arc<Mutex<HashMap<String, bool>>>,
}

impl SshConfig {
    /// Parses config text (as a user file). A config OpenSSH refuses
    /// yields an empty config and a warning; see [`Self::try_parse_with_home`].
    pub fn parse(text: &str) -> SshConfig {
        Self::parse_with_home(text, LocalUser::current().map(|u| u.home))
    }

    /// Parses config text, expanding `~` and `%d` to `home`.
    pub fn parse_with_home(text: &str, home: Option<PathBuf>) -> SshConfig {
        Self::try_parse_with_home(text, home).unwrap_or_else(|e| {
            tracing::warn!("{e}; ssh config ignored");
            SshConfig::default()
        })
    }

    /// Parses config text, expanding `~` and `%d` to `home`.
    pub fn try_parse_with_home(
        text: &str,
        home: Option<PathBuf>,
    ) -> Result<SshConfig, SshConfigError> {
        let user = with_home(LocalUser::current(), home);
        let file: Arc<Path> = Arc::from(Path::new("(config)"));
        let items = read::parse_text(text, file, Kind::User, Some(user.home.as_path()), 0)?;
        Ok(SshConfig {
            files: vec![items],
            user: Some(user),
            exec_cache: Arc::default(),
        })
    }

    /// Reads a user config file (`ssh -F FILE`); a missing file is an error.
    pub fn load(path: &Path) -> Result<SshConfig, SshConfigError> {
        let user = LocalUser::current();
        let home = user.as_ref().map(|u| u.home.clone());
        match read::read_file(path, Kind::User, home.as_deref(), 0)? {
            Some(items) => Ok(SshConfig {
                files: vec![items],
                user,
                exec_cache: Arc::default(),
            }),
            None => Err(SshConfigError::new(
                None,
                format!("can't open user config file {}: not found", path.display()),
            )),
        }
    }

    /// The files `ssh -F flag` reads: `None` is `~/.ssh/config` then
    /// `/etc/ssh/ssh_config`; `none` is none; a path is that file only.
    pub fn for_flag(flag: Option<&Path>) -> Result<SshConfig, SshConfigError> {
        match flag {
            Some(p) if p.as_os_str().eq_ignore_ascii_case("none") => Ok(SshConfig::default()),
            Some(p) => Self::load(p),
            None => Self::try_load_default(),
        }
    }

    /// `~/.ssh/config` then `/etc/ssh/ssh_config`, either may be missing.
    pub fn try_load_default() -> Result<SshConfig, SshConfigError> {
        Self::load_default_files(&[], Path::new("/etc/ssh/ssh_config"))
    }

    /// `~/.ssh/config` (or `user_files` when not empty, for tests) then
    /// `system` (a system file: relative includes under `/etc/ssh`).
    pub fn load_default_files(
        user_files: &[PathBuf],
        system: &Path,
    ) -> Result<SshConfig, SshConfigError> {
        let user = LocalUser::current();
        let home = user.as_ref().map(|u| u.home.clone());
        let mut files = Vec::new();
        let default_user = home.as_ref().map(|h| h.join(".ssh").join("config"));
        let users: Vec<PathBuf> = if user_files.is_empty() {
            default_user.into_iter().collect()
        } else {
            user_files.to_vec()
        };
        for f in users {
            if let Some(items) = read::read_file(&f, Kind::User, home.as_deref(), 0)? {
                files.push(items);
            }
        }
        if let Some(items) = read::read_file(system, Kind::System, home.as_deref(), 0)? {
            files.push(items);
        }
        Ok(SshConfig {
            files,
            user,
            exec_cache: Arc::default(),
        })
    }

    /// [`Self::try_load_default`], an error logged and read as empty.
    pub fn load_default() -> SshConfig {
        Self::try_load_default().unwrap_or_else(|e| {
            tracing::warn!("{e}; ssh config ignored");
            SshConfig::default()
        })
    }

    /// The options that apply to `host`; errors (a refused line, a failed
    /// `Match exec`, a bad token) name `file:line`.
    pub fn try_lookup(&self, host: &str) -> Result<SshHostConfig, SshConfigError> {
        eval::resolve(self, host, None, None)
    }

    /// [`Self::try_lookup`] for `user@host:port` as typed: like `ssh -l
    /// user -p port`, the typed values are set before the files are read,
    /// so `Match user` and `%r`/`%p` see them (and they win).
    pub fn try_lookup_for(
        &self,
        host: &str,
        user: Option<&str>,
        port: Option<u16>,
    ) -> Result<SshHostConfig, SshConfigError> {
        eval::resolve(self, host, user, port)
    }

    /// [`Self::try_lookup`], an error logged and read as no options.
    pub fn lookup(&self, host: &str) -> SshHostConfig {
        self.try_lookup(host).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            SshHostConfig::default()
        })
    }
}

fn with_home(user: Option<LocalUser>, home: Option<PathBuf>) -> LocalUser {
    let mut u = user.unwrap_or(LocalUser {
        name: local_user().unwrap_or_else(|| "root".into()),
        uid: 0,
        home: PathBuf::from("/"),
    });
    if let Some(h) = home {
        u.home = h;
    }
    u
}

#[cfg(test)]
mod tests;
