//! The local account, as OpenSSH sees it: the passwd entry of the current
//! uid (`~` and `%d` in ssh_config come from it, not from `$HOME`), the
//! login name, `$HOME` for the default file locations, and `~` expansion.
//! Used by the inventory and by ssh_config.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The local account: login name, uid and home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalUser {
    /// `pw_name`.
    pub name: String,
    /// `pw_uid`.
    pub uid: u32,
    /// `pw_dir`.
    pub home: PathBuf,
}

impl LocalUser {
    /// The passwd entry of the current uid (from `/etc/passwd`), else
    /// `$USER`/`$HOME`.
    pub fn current() -> Option<LocalUser> {
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        if let Ok(text) = std::fs::read_to_string("/etc/passwd") {
            for line in text.lines() {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) {
                    return Some(LocalUser {
                        name: f[0].to_owned(),
                        uid,
                        home: PathBuf::from(f[5]),
                    });
                }
            }
        }
        Some(LocalUser {
            name: local_user()?,
            uid,
            home: home_dir()?,
        })
    }
}

/// Expands a leading `~` or `~/` to `home`; other paths are returned as is.
pub fn expand_tilde(path: &str, home: Option<&Path>) -> PathBuf {
    match (path, home) {
        ("~", Some(home)) => home.to_owned(),
        (p, Some(home)) if p.starts_with("~/") => home.join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

/// `$HOME`, if set and non-empty (the default known_hosts location).
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The local login name (`$USER`, then `$LOGNAME`).
pub fn local_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

/// The shell OpenSSH runs `Match exec` and `ProxyCommand` with: `$SHELL`,
/// else `/bin/sh` (`_PATH_BSHELL`).
pub fn user_shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into())
}
