//! OpenSSH `known_hosts` checking and atomic appending.
//!
//! Design: russh ships `russh::keys::known_hosts`, but it stops at the first
//! unparsable line, treats `@revoked`/`@cert-authority` lines as host names,
//! does not support wildcards or negation, miscounts lines after comments and
//! appends without a lock, so this module has its own small parser. A file is
//! parsed once into entries ([`KnownHosts::load`]) and then checked in memory for
//! every host, so 500 hosts do not re-read the file 500 times.
//!
//! Matching follows OpenSSH: the name looked up is `host` for port 22 and
//! `[host]:port` otherwise; an entry's comma list may hold plain names, globs
//! (`*`, `?`), `!negations` and hashed `|1|salt|hash` names (HMAC-SHA1 of the
//! name keyed by the salt). A presented key is [`KeyCheck::Match`] when a
//! matching entry holds the same key, [`KeyCheck::Changed`] when matching
//! entries hold only other keys of the same algorithm, and
//! [`KeyCheck::Unknown`] otherwise (keys of other algorithms only are "new",
//! as in OpenSSH). A key listed in a matching `@revoked` line is always
//! [`KeyCheck::Revoked`]. `@cert-authority` lines and lines that do not parse
//! are skipped (with a `tracing` debug message), never fatal.
//!
//! [`KnownHosts::append`] adds a plain `[host]:port key` line: the parent
//! directory is created with mode 0700 and the file with 0600, the file is
//! locked (`flock`) and the line is written with one `O_APPEND` write;
//! existing content is never rewritten. Appends of one process queue on the
//! parsed set's mutex, which holds the file's last known identity (device,
//! inode, length, mtime, ctime); under the file lock the file is re-read
//! only when that identity changed, i.e. when another process (another
//! ssh-fanout, `ssh`, an editor) wrote it, so concurrent writers never add
//! the same key twice (a *different* key recorded meanwhile is
//! [`KnownHostsError::Conflict`], never a second entry), while the first
//! contact with 500 hosts costs 500 small appends, not 500 re-reads.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// The outcome of checking a server's host key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// A matching entry holds this key.
    Match,
    /// No entry for this host holds a key of this algorithm.
    Unknown,
    /// The host is known with a different key of the same algorithm.
    Changed {
        /// The known_hosts file.
        path: PathBuf,
        /// 1-based line of the first offending entry.
        line: usize,
    },
    /// The key is listed as `@revoked`.
    Revoked {
        /// The known_hosts file.
        path: PathBuf,
        /// 1-based line of the `@revoked` entry.
        line: usize,
    },
}

/// known_hosts I/O errors.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    /// Reading, creating, locking or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The known_hosts file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another writer recorded a different (or revoked) key for this host
    /// between our check and our append; nothing was written.
    #[error(
        "{}:{line}: a different host key for {name} was recorded meanwhile; not appending",
        path.display()
    )]
    Conflict {
        /// The known_hosts file.
        path: PathBuf,
        /// `host` or `[host]:port`.
        name: String,
        /// 1-based line of the conflicting entry.
        line: usize,
    },
    /// The key could not be encoded in OpenSSH format.
    #[error("cannot encode host key: {0}")]
    Encode(String),
}

/// The possible-MITM failure for a host whose key changed (or is revoked).
///
/// `Display` is one line (for `--json` and the summary); [`Self::banner`] is
/// the multi-line OpenSSH-style warning for a terminal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "REMOTE HOST IDENTIFICATION HAS CHANGED for {name}: possible man-in-the-middle attack; \
     server sent {algorithm} key {fingerprint}; {what} key in {}:{line}",
    path.display(),
    what = if *.revoked { "revoked" } else { "offending" }
)]
pub struct HostKeyChanged {
    /// `host` or `[host]:port`.
    pub name: String,
    /// Key algorithm, e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// SHA256 fingerprint of the presented key.
    pub fingerprint: String,
    /// The known_hosts file.
    pub path: PathBuf,
    /// 1-based line of the offending entry.
    pub line: usize,
    /// True for a `@revoked` key rather than a changed one.
    pub revoked: bool,
}

impl HostKeyChanged {
    /// Builds the error from a [`KeyCheck::Changed`] or [`KeyCheck::Revoked`];
    /// `None` for the other outcomes.
    pub fn from_check(check: &KeyCheck, host: &str, port: u16, key: &PublicKey) -> Option<Self> {
        let (path, line, revoked) = match check {
            KeyCheck::Changed { path, line } => (path, *line, false),
            KeyCheck::Revoked { path, line } => (path, *line, true),
            KeyCheck::Match | KeyCheck::Unknown => return None,
        };
        Some(HostKeyChanged {
            name: host_key_name(host, port),
            algorithm: key.algorithm().as_str().to_owned(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            path: path.clone(),
            line,
            revoked,
        })
    }

    /// The OpenSSH-style warning, several lines, no trailing newline.
    pub fn banner(&self) -> String {
        let bar = "@".repeat(59);
        let title = if self.revoked {
            "@       WARNING: REVOKED HOST KEY DETECTED!               @"
        } else {
            "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"
        };
        format!(
            "{bar}\n{title}\n{bar}\n\
             IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
             Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
             It is also possible that a host key has just been changed.\n\
             The fingerprint for the {} key sent by the remote host {} is\n{}.\n\
             Offending key in {}:{}\n\
             Host key verification failed.",
            self.algorithm,
            self.name,
            self.fingerprint,
            self.path.display(),
            self.line
        )
    }
}

/// The name OpenSSH records: `host` for port 22, `[host]:port` otherwise.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks `key` for `host:port` against the file at `path` (missing = empty).
pub fn check(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<KeyCheck, KnownHostsError> {
    Ok(KnownHosts::load(path)?.check(host, port, key))
}

/// Appends `host:port key` to the file at `path` (see [`KnownHosts::append`]).
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> Result<(), KnownHostsError> {
    KnownHosts::load(path)?.append(host, port, key)
}

/// One known_hosts file, parsed once; safe to share between tasks.
///
/// Lookups go through an exact-name index for entries whose names are all
/// plain (no glob, negation or hash), which is what `accept-new` and
/// `ssh` write; only the other entries are pattern-matched one by one. The
/// parsed state also remembers the file's identity (device, inode, length,
/// mtime, ctime) when it was last read or written, so [`KnownHosts::append`]
/// re-reads the file only when something else changed it.
#[derive(Debug)]
pub struct KnownHosts {
    path: PathBuf,
    /// Held while checking, and for the whole of an append (in-process
    /// appenders queue here; other processes queue on the file lock).
    state: Mutex<Parsed>,
}

/// The parsed file.
#[derive(Debug, Default)]
struct Parsed {
    entries: Vec<Entry>,
    /// Lowercase plain name -> indices (ascending) of the entries whose
    /// names are all plain.
    exact: HashMap<String, Vec<usize>>,
    /// Indices (ascending) of every other entry: globs, negations, hashes.
    scan: Vec<usize>,
    /// Lines in the file, the last one counted even without its newline.
    lines: usize,
    /// The file ends without a newline (an append must add one first).
    needs_newline: bool,
    /// The file this state reflects.
    stamp: Stamp,
}

/// What a file looked like when it was last read or written by us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stamp {
    /// Parsed from text, or the file changed under us: re-read before use.
    #[default]
    Unknown,
    /// The file did not exist.
    Missing,
    /// The file, as `fstat` saw it.
    File {
        dev: u64,
        ino: u64,
        len: u64,
        mtime: (i64, i64),
        ctime: (i64, i64),
    },
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp::File {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn len(&self) -> Option<u64> {
        match self {
            Stamp::File { len, .. } => Some(*len),
            Stamp::Unknown | Stamp::Missing => None,
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    line: usize,
    revoked: bool,
    patterns: Vec<NamePattern>,
    key: PublicKey,
}

#[derive(Clone, Debug)]
enum NamePattern {
    Plain { negated: bool, glob: String },
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

impl KnownHosts {
    /// Reads and parses `path`; a missing file is an empty set.
    pub fn load(path: impl AsRef<Path>) -> Result<KnownHosts, KnownHostsError> {
        let path = path.as_ref();
        let io = |source| KnownHostsError::Io {
            path: path.to_owned(),
            source,
        };
        let parsed = match std::fs::File::open(path) {
            Ok(mut file) => Parsed::read(&mut file).map_err(io)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Parsed {
                stamp: Stamp::Missing,
                ..Parsed::default()
            },
            Err(source) => return Err(io(source)),
        };
        Ok(KnownHosts {
            path: path.to_owned(),
            state: Mutex::new(parsed),
        })
    }

    /// Parses known_hosts text; `path` is reported in [`KeyCheck`]s (and
    /// read again before the first append).
    pub fn parse(text: &str, path: &Path) -> KnownHosts {
        KnownHosts {
            path: path.to_owned(),
            state: Mutex::new(Parsed::from_text(text, Stamp::Unknown)),
        }
    }

    /// `~/.ssh/known_hosts` (`None` without `$HOME`).
    pub fn default_path() -> Option<PathBuf> {
        crate::ssh_config::home_dir().map(|h| h.join(".ssh").join("known_hosts"))
    }

    /// The file this set was read from and appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> MutexGuard<'_, Parsed> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the key a server presented.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> KeyCheck {
        self.state().check(&self.path, host, port, key)
    }

    /// Algorithms of the keys known for `host:port`, in file order, so a
    /// client can prefer them during key exchange (as OpenSSH does).
    pub fn known_algorithms(&self, host: &str, port: u16) -> Vec<Algorithm> {
        let name = lookup_name(host, port);
        let state = self.state();
        let mut out: Vec<Algorithm> = Vec::new();
        for e in state.matching(&name).filter(|e| !e.revoked) {
            let alg = e.key.algorithm();
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
        out
    }

    /// Appends `host:port key` to the file (atomically, see the module docs)
    /// and to this in-memory set. Does nothing if the key is already there.
    pub fn append(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), KnownHostsError> {
        let io = |source| KnownHostsError::Io {
            path: self.path.clone(),
            source,
        };
        let encoded = key
            .to_openssh()
            .map_err(|e| KnownHostsError::Encode(e.to_string()))?;
        let name = host_key_name(host, port);
        let mut state = self.state();
        if state.stamp != Stamp::Unknown
            && state.check(&self.path, host, port, key) == KeyCheck::Match
        {
            // Another task of this run recorded it meanwhile.
            return Ok(());
        }
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        // Under the lock: catch up with other writers, but only when the
        // file is not the one we last read or wrote.
        let seen = Stamp::of(&file.metadata().map_err(io)?);
        if seen != state.stamp {
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            *state = Parsed::read(&mut file).map_err(io)?;
        }
        match state.check(&self.path, host, port, key) {
            KeyCheck::Match => return Ok(()),
            KeyCheck::Changed { line, .. } | KeyCheck::Revoked { line, .. } => {
                return Err(KnownHostsError::Conflict {
                    path: self.path.clone(),
                    name,
                    line,
                });
            }
            KeyCheck::Unknown => {}
        }
        let mut record = Vec::with_capacity(name.len() + encoded.len() + 3);
        if state.needs_newline {
            record.push(b'\n');
        }
        record.extend_from_slice(name.as_bytes());
        record.push(b' ');
        record.extend_from_slice(encoded.as_bytes());
        record.push(b'\n');
        file.write_all(&record).map_err(io)?;
        let before = state.stamp.len();
        let after = Stamp::of(&file.metadata().map_err(io)?);
        drop(file); // releases the lock
        state.stamp = match (before, after.len()) {
            // Exactly our line was added: we still know the whole file.
            (Some(b), Some(a)) if a == b + record.len() as u64 => after,
            // Someone who does not take the lock wrote too.
            _ => Stamp::Unknown,
        };
        state.lines += 1;
        state.needs_newline = false;
        let line = state.lines;
        state.push(Entry {
            line,
            revoked: false,
            patterns: vec![NamePattern::Plain {
                negated: false,
                glob: name.to_ascii_lowercase(),
            }],
            key: key.clone(),
        });
        Ok(())
    }
}

impl Parsed {
    /// Reads `file` from its current position, stamped as it was before the
    /// read (a concurrent append makes the stamp stale, never wrong).
    fn read(file: &mut std::fs::File) -> std::io::Result<Parsed> {
        let stamp = Stamp::of(&file.metadata()?);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let stamp = if stamp.len() == Some(bytes.len() as u64) {
            stamp
        } else {
            Stamp::Unknown
        };
        Ok(Parsed::from_text(&String::from_utf8_lossy(&bytes), stamp))
    }

    fn from_text(text: &str, stamp: Stamp) -> Parsed {
        let mut parsed = Parsed {
            lines: text.lines().count(),
            needs_newline: !text.is_empty() && !text.ends_with('\n'),
            stamp,
            ..Parsed::default()
        };
        for entry in parse_entries(text) {
            parsed.push(entry);
        }
        parsed
    }

    fn push(&mut self, entry: Entry) {
        let index = self.entries.len();
        let plain = entry.patterns.iter().all(|p| {
            matches!(p, NamePattern::Plain { negated: false, glob } if !glob.contains(['*', '?']))
        });
        if plain {
            for p in &entry.patterns {
                if let NamePattern::Plain { glob, .. } = p {
                    let slot = self.exact.entry(glob.clone()).or_default();
                    if slot.last() != Some(&index) {
                        slot.push(index);
                    }
                }
            }
        } else {
            self.scan.push(index);
        }
        self.entries.push(entry);
    }

    /// The entries matching `name` (lowercase), in file order.
    fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let exact = self.exact.get(name).map(Vec::as_slice).unwrap_or_default();
        let scanned = self
            .scan
            .iter()
            .copied()
            .filter(move |&i| self.entries.get(i).is_some_and(|e| e.matches(name)));
        merge_ascending(exact.iter().copied(), scanned).filter_map(|i| self.entries.get(i))
    }

    fn check(&self, path: &Path, host: &str, port: u16, key: &PublicKey) -> KeyCheck {
        let name = lookup_name(host, port);
        let mut changed: Option<usize> = None;
        let mut matched = false;
        for entry in self.matching(&name) {
            let same_key = entry.key.key_data() == key.key_data();
            if entry.revoked {
                if same_key {
                    return KeyCheck::Revoked {
                        path: path.to_owned(),
                        line: entry.line,
                    };
                }
            } else if same_key {
                matched = true;
            } else if changed.is_none() && entry.key.algorithm() == key.algorithm() {
                changed = Some(entry.line);
            }
        }
        match (matched, changed) {
            (true, _) => KeyCheck::Match,
            (false, Some(line)) => KeyCheck::Changed {
                path: path.to_owned(),
                line,
            },
            (false, None) => KeyCheck::Unknown,
        }
    }
}

/// The lowercase name looked up for `host:port`.
fn lookup_name(host: &str, port: u16) -> String {
    let mut name = host_key_name(host, port);
    name.make_ascii_lowercase();
    name
}

/// Merges two ascending index sequences into one, ascending, without
/// duplicates.
fn merge_ascending(
    a: impl Iterator<Item = usize>,
    b: impl Iterator<Item = usize>,
) -> impl Iterator<Item = usize> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek().copied(), b.peek().copied()) {
        (Some(x), Some(y)) if x == y => {
            b.next();
            a.next()
        }
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

impl Entry {
    /// OpenSSH semantics: a negated match excludes, else any positive match.
    fn matches(&self, name: &str) -> bool {
        let mut positive = false;
        for p in &self.patterns {
            match p {
                NamePattern::Plain { negated, glob } => {
                    if crate::hosts::glob_match(glob, name) {
                        if *negated {
                            return false;
                        }
                        positive = true;
                    }
                }
                NamePattern::Hashed { salt, hash } => {
                    if !positive && hashed_matches(salt, hash, name) {
                        positive = true;
                    }
                }
            }
        }
        positive
    }
}

fn hashed_matches(salt: &[u8], hash: &[u8], name: &str) -> bool {
    match Hmac::<Sha1>::new_from_slice(salt) {
        Ok(mac) => mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok(),
        Err(_) => false,
    }
}

/// `|1|base64(salt)|base64(hmac)` for `name`, as `ssh-keygen -H` writes it.
pub fn hash_name(name: &str, salt: &[u8]) -> String {
    let digest = match Hmac::<Sha1>::new_from_slice(salt) {
        Ok(mac) => mac
            .chain_update(name.as_bytes())
            .finalize()
            .into_bytes()
            .to_vec(),
        Err(_) => Vec::new(),
    };
    format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(&digest))
}

fn parse_entries(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut fields = trimmed.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let mut revoked = false;
        if let Some(marker) = first.strip_prefix('@') {
            match marker {
                "revoked" => revoked = true,
                "cert-authority" => {
                    tracing::debug!(line, "known_hosts: @cert-authority entry skipped");
                    continue;
                }
                other => {
                    tracing::debug!(
                        line,
                        marker = other,
                        "known_hosts: unknown marker, line skipped"
                    );
                    continue;
                }
            }
            first = fields.next().unwrap_or_default();
        }
        let (Some(algorithm), Some(blob)) = (fields.next(), fields.next()) else {
            tracing::debug!(line, "known_hosts: malformed line skipped");
            continue;
        };
        let key = match PublicKey::from_openssh(&format!("{algorithm} {blob}")) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(line, error = %e, "known_hosts: unparsable key skipped");
                continue;
            }
        };
        let patterns = first
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| parse_name_pattern(p, line))
            .collect::<Vec<_>>();
        if patterns.is_empty() {
            continue;
        }
        entries.push(Entry {
            line,
            revoked,
            patterns,
            key,
        });
    }
    entries
}

fn parse_name_pattern(p: &str, line: usize) -> Option<NamePattern> {
    if let Some(rest) = p.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        match (
            BASE64.decode(salt.as_bytes()),
            BASE64.decode(hash.as_bytes()),
        ) {
            (Ok(salt), Ok(hash)) => Some(NamePattern::Hashed { salt, hash }),
            _ => {
                tracing::debug!(line, "known_hosts: bad hashed host name skipped");
                None
            }
        }
    } else if let Some(glob) = p.strip_prefix('!') {
        Some(NamePattern::Plain {
            negated: true,
            glob: glob.to_ascii_lowercase(),
        })
    } else {
        Some(NamePattern::Plain {
            negated: false,
            glob: p.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::PrivateKey;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use std::os::unix::fs::PermissionsExt;

    fn key(seed: u8) -> PublicKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
            .public_key()
            .clone()
    }

    fn openssh(k: &PublicKey) -> String {
        k.to_openssh().unwrap()
    }

    fn kh(text: &str) -> KnownHosts {
        KnownHosts::parse(text, Path::new("/kh"))
    }

    #[test]
    fn plain_comma_lists_and_ports() {
        let (a, b) = (key(1), key(2));
        let k = kh(&format!(
            "# comment\n\nalpha,beta {}\n[alpha]:2200 {}\n",
            openssh(&a),
            openssh(&b)
        ));
        assert_eq!(k.check("alpha", 22, &a), KeyCheck::Match);
        assert_eq!(k.check("BETA", 22, &a), KeyCheck::Match);
        assert_eq!(k.check("alpha", 2200, &b), KeyCheck::Match);
        assert_eq!(k.check("gamma", 22, &a), KeyCheck::Unknown);
        assert_eq!(k.check("alpha", 2201, &a), KeyCheck::Unknown);
        // Same algorithm, different key: changed, with the right line number
        // (comments and blank lines count).
        assert_eq!(
            k.check("alpha", 2200, &a),
            KeyCheck::Changed {
                path: PathBuf::from("/kh"),
                line: 4
            }
        );
        assert_eq!(
            k.check("beta", 22, &b),
            KeyCheck::Changed {
                path: PathBuf::from("/kh"),
                line: 3
            }
        );
    }

    #[test]
    fn hashed_entries() {
        let a = key(3);
        let line1 = format!(
            "{} {}",
            hash_name("[127.0.0.1]:2222", b"0123456789abcdefghij"),
            openssh(&a)
        );
        let line2 = format!(
            "{} {}",
            hash_name("h", b"saltsaltsaltsaltsalt"),
            openssh(&a)
        );
        let k = kh(&format!("{line1}\n{line2}\n"));
        assert_eq!(k.check("127.0.0.1", 2222, &a), KeyCheck::Match);
        assert_eq!(k.check("h", 22, &a), KeyCheck::Match);
        assert_eq!(k.check("127.0.0.1", 22, &a), KeyCheck::Unknown);
        assert!(matches!(
            k.check("h", 22, &key(4)),
            KeyCheck::Changed { line: 2, .. }
        ));
    }

    #[test]
    fn hashed_entries_from_ssh_keygen() {
        let Ok(out) = std::process::Command::new("ssh-keygen").arg("-?").output() else {
            eprintln!("ssh-keygen not installed; skipping");
            return;
        };
        drop(out);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let a = key(5);
        std::fs::write(
            &path,
            format!("[127.0.0.1]:2201 {}\nplain {}\n", openssh(&a), openssh(&a)),
        )
        .unwrap();
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-H", "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("|1|"), "{text}");
        assert!(!text.contains("127.0.0.1"));
        assert_eq!(
            check(&path, "127.0.0.1", 2201, &a).unwrap(),
            KeyCheck::Match
        );
        assert_eq!(check(&path, "plain", 22, &a).unwrap(), KeyCheck::Match);
        assert!(matches!(
            check(&path, "plain", 22, &key(6)).unwrap(),
            KeyCheck::Changed { .. }
        ));
    }

    #[test]
    fn wildcards_and_negation() {
        let a = key(7);
        let k = kh(&format!("*.lab,!bad.lab {}\n", openssh(&a)));
        assert_eq!(k.check("x.lab", 22, &a), KeyCheck::Match);
        assert_eq!(k.check("bad.lab", 22, &a), KeyCheck::Unknown);
    }

    #[test]
    fn markers_and_garbage_are_skipped_safely() {
        let (a, b) = (key(8), key(9));
        let text = format!(
            "@cert-authority *.lab {}\n\
             garbage line\n\
             h ssh-ed25519 not-base64!!\n\
             @weird h {}\n\
             @revoked * {}\n\
             h {}\n",
            openssh(&a),
            openssh(&a),
            openssh(&b),
            openssh(&a)
        );
        let k = kh(&text);
        assert_eq!(k.check("h", 22, &a), KeyCheck::Match);
        // cert-authority key is not trusted as a host key.
        assert_eq!(k.check("x.lab", 22, &a), KeyCheck::Unknown);
        // Revoked wins even over a plain entry holding the same key.
        let k2 = kh(&format!("{text}h {}\n", openssh(&b)));
        assert_eq!(
            k2.check("h", 22, &b),
            KeyCheck::Revoked {
                path: PathBuf::from("/kh"),
                line: 5
            }
        );
    }

    #[test]
    fn other_algorithm_is_unknown_not_changed() {
        let a = key(10);
        let ecdsa_line = "h ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGZRwyWC9fbXbfLKZ9GUf/KHYHrrFuSICeQZddKEKKpsPjMW+9pbe3evxKPFP6hwX/VXqytopuCYc9+1r8evwpk= x";
        let k = kh(&format!("{ecdsa_line}\n"));
        assert_eq!(k.check("h", 22, &a), KeyCheck::Unknown);
        assert_eq!(k.known_algorithms("h", 22).len(), 1);
        assert_eq!(
            k.known_algorithms("h", 22)[0].as_str(),
            "ecdsa-sha2-nistp256"
        );
    }

    #[test]
    fn append_creates_private_file_and_keeps_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("known_hosts");
        let (a, b) = (key(11), key(12));
        append(&path, "127.0.0.1", 2200, &a).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        // A file without a trailing newline keeps its last line intact.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("# no newline");
        std::fs::write(&path, &text).unwrap();
        let set = KnownHosts::load(&path).unwrap();
        set.append("h", 22, &b).unwrap();
        // Appending the same key again is a no-op.
        set.append("h", 22, &b).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(after.lines().count(), 3, "{after}");
        assert!(after.starts_with(&format!("[127.0.0.1]:2200 {}\n# no newline\n", openssh(&a))));
        assert_eq!(after.lines().nth(2).unwrap(), format!("h {}", openssh(&b)));
        // In memory and on disk agree.
        assert_eq!(set.check("h", 22, &b), KeyCheck::Match);
        assert_eq!(check(&path, "h", 22, &b).unwrap(), KeyCheck::Match);
        assert_eq!(
            check(&path, "127.0.0.1", 2200, &a).unwrap(),
            KeyCheck::Match
        );
    }

    #[test]
    fn concurrent_appends_do_not_tear_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let threads: Vec<_> = (0..8u8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    append(&path, &format!("h{i}"), 2200, &key(20 + i)).unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let k = KnownHosts::load(&path).unwrap();
        for i in 0..8u8 {
            assert_eq!(
                k.check(&format!("h{i}"), 2200, &key(20 + i)),
                KeyCheck::Match
            );
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 8);
    }

    #[test]
    fn append_refuses_when_another_writer_recorded_a_different_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let stale = KnownHosts::load(&path).unwrap(); // loaded while empty
        append(&path, "h", 2200, &key(30)).unwrap(); // someone else records a key
        let err = stale.append("h", 2200, &key(31)).unwrap_err();
        assert!(
            matches!(err, KnownHostsError::Conflict { line: 1, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn exact_names_are_indexed_and_patterns_still_apply() {
        let (a, b) = (key(40), key(41));
        let k = kh(&format!(
            "[127.0.0.1]:2200,Web {}\n*.glob {}\nh?st,!hxst {}\n",
            openssh(&a),
            openssh(&a),
            openssh(&b)
        ));
        assert_eq!(k.check("127.0.0.1", 2200, &a), KeyCheck::Match);
        assert_eq!(k.check("WEB", 22, &a), KeyCheck::Match, "case-insensitive");
        assert!(matches!(
            k.check("web", 22, &b),
            KeyCheck::Changed { line: 1, .. }
        ));
        assert_eq!(k.check("x.glob", 22, &a), KeyCheck::Match);
        assert_eq!(k.check("host", 22, &b), KeyCheck::Match);
        assert_eq!(k.check("hxst", 22, &b), KeyCheck::Unknown, "negated");
        // A revoked pattern entry wins over an indexed plain entry.
        let k = kh(&format!(
            "web {}\n@revoked * {}\n",
            openssh(&a),
            openssh(&a)
        ));
        assert!(matches!(
            k.check("web", 22, &a),
            KeyCheck::Revoked { line: 2, .. }
        ));
        // Matching entries are reported in file order across both kinds.
        let k = kh(&format!("w* {}\nweb {}\n", openssh(&b), openssh(&b)));
        assert!(matches!(
            k.check("web", 22, &a),
            KeyCheck::Changed { line: 1, .. }
        ));
        assert_eq!(
            merge_ascending([1, 4, 6].into_iter(), [2, 4, 7].into_iter()).collect::<Vec<_>>(),
            [1, 2, 4, 6, 7]
        );
    }

    #[test]
    fn two_writers_interleave_without_duplicates_or_lost_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let one = KnownHosts::load(&path).unwrap();
        let two = KnownHosts::load(&path).unwrap();
        for i in 0..20u8 {
            let writer = if i % 3 == 0 { &two } else { &one };
            writer.append(&format!("h{i}"), 2200, &key(50 + i)).unwrap();
            // The other writer's host, already on disk: no second line.
            if i > 0 {
                let prev = i - 1;
                one.append(&format!("h{prev}"), 2200, &key(50 + prev))
                    .unwrap();
            }
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 20, "{text}");
        // Each writer caught up with the other's lines when it appended.
        assert_eq!(one.check("h18", 2200, &key(68)), KeyCheck::Match);
        assert_eq!(two.check("h17", 2200, &key(67)), KeyCheck::Match);
        // Line numbers stay right after catching up.
        let fresh = KnownHosts::load(&path).unwrap();
        assert!(matches!(
            one.check("h7", 2200, &key(1)),
            KeyCheck::Changed { line: 8, .. }
        ));
        assert!(matches!(
            fresh.check("h7", 2200, &key(1)),
            KeyCheck::Changed { line: 8, .. }
        ));
    }

    #[test]
    fn appends_in_one_process_keep_the_file_and_memory_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, "# comment without newline").unwrap();
        let set = std::sync::Arc::new(KnownHosts::load(&path).unwrap());
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let set = set.clone();
                std::thread::spawn(move || {
                    for i in 0..25u8 {
                        let n = t * 25 + i;
                        set.append(&format!("h{n}"), 2200, &key(n)).unwrap();
                        set.append(&format!("h{n}"), 2200, &key(n)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 101, "{text}");
        assert!(text.starts_with("# comment without newline\n["));
        let fresh = KnownHosts::load(&path).unwrap();
        for n in 0..100u8 {
            assert_eq!(
                fresh.check(&format!("h{n}"), 2200, &key(n)),
                KeyCheck::Match
            );
            assert_eq!(
                set.check(&format!("h{n}"), 2200, &key(n.wrapping_add(1))),
                fresh.check(&format!("h{n}"), 2200, &key(n.wrapping_add(1))),
                "memory and disk agree on line numbers"
            );
        }
    }

    #[test]
    fn missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            check(&dir.path().join("none"), "h", 22, &key(1)).unwrap(),
            KeyCheck::Unknown
        );
    }

    #[test]
    fn changed_message_is_clear() {
        let a = key(13);
        let check = KeyCheck::Changed {
            path: PathBuf::from("/home/u/.ssh/known_hosts"),
            line: 7,
        };
        let err = HostKeyChanged::from_check(&check, "127.0.0.1", 2200, &a).unwrap();
        let one = err.to_string();
        assert!(
            one.contains("REMOTE HOST IDENTIFICATION HAS CHANGED for [127.0.0.1]:2200"),
            "{one}"
        );
        assert!(one.contains("man-in-the-middle"));
        assert!(one.contains("/home/u/.ssh/known_hosts:7"));
        assert!(one.contains("SHA256:"));
        assert!(!one.contains('\n'));
        let banner = err.banner();
        assert!(banner.contains("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @"));
        assert!(banner.contains("Offending key in /home/u/.ssh/known_hosts:7"));
        assert!(HostKeyChanged::from_check(&KeyCheck::Match, "h", 22, &a).is_none());
    }
}
