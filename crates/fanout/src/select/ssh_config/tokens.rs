//! `~` and `%` token expansion, and the local account (`~` and `%d` come
//! from the passwd entry, as in OpenSSH, not from `$HOME`).

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
            name: super::local_user()?,
            uid,
            home: super::home_dir()?,
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

/// Expands `%x` tokens from `table` (`%%` is always `%`). An unknown
/// token is an error, as in OpenSSH's `percent_expand`.
pub fn percent_expand(text: &str, table: &[(char, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match table.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => return Err(format!("unknown key %{t} in \"{text}\"")),
            },
            None => return Err(format!("invalid format \"{text}\"")),
        }
    }
    Ok(out)
}

/// The local host name (`%l`) and its first label (`%L`).
pub fn local_host_names() -> (String, String) {
    let long = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let short = long.split('.').next().unwrap_or_default().to_owned();
    (long, short)
}

/// `%C`: SHA-1 of `%l%h%p%r`, hex, as `ssh_connection_hash`.
pub fn connection_hash(local: &str, host: &str, port: &str, user: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(local.as_bytes());
    h.update(host.as_bytes());
    h.update(port.as_bytes());
    h.update(user.as_bytes());
    data_encoding::HEXLOWER.encode(&h.finalize())
}
