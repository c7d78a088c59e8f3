//! [`KnownHosts`]: one known_hosts file, read once and shared by every
//! host of a run, and its atomic append (see the module docs).

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use russh::keys::PublicKey;
use russh::keys::ssh_key::public::KeyData;

use super::index::{Entry, Index};
use super::parse::HostNames;
use super::{HostKeyEntry, KnownHostsError, KnownKey, Marker};

/// One known_hosts file, parsed once; safe to share between tasks.
///
/// The parsed state also remembers the file's identity (device, inode,
/// length, mtime, ctime) when it was last read or written, so
/// [`KnownHosts::append`] re-reads the file only when something else
/// changed it.
#[derive(Debug)]
pub struct KnownHosts {
    path: Arc<Path>,
    /// Held while looking up, and for the whole of an append (in-process
    /// appenders queue here; other processes queue on the file lock).
    state: Mutex<Parsed>,
}

/// What [`KnownHosts::append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// The line was written at this (1-based) line.
    Written(usize),
    /// The key was already recorded for the name at this line (another
    /// task or process recorded it meanwhile); nothing was written.
    AlreadyThere(usize),
}

/// The parsed file.
#[derive(Debug, Default)]
struct Parsed {
    index: Index,
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
            path: Arc::from(path),
            state: Mutex::new(parsed),
        })
    }

    /// Parses known_hosts text; `path` is reported in entries (and read
    /// again before the first append).
    pub fn parse(text: &str, path: &Path) -> KnownHosts {
        KnownHosts {
            path: Arc::from(path),
            state: Mutex::new(Parsed::from_bytes(text.as_bytes(), Stamp::Unknown)),
        }
    }

    /// The file this set was read from and appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> MutexGuard<'_, Parsed> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every valid line matching `name` (`host`, `[host]:port` or an
    /// alias), markers included, in file order.
    pub fn lookup(&self, name: &str) -> Vec<HostKeyEntry> {
        self.state().index.lookup(&self.path, name)
    }

    /// Appends `name key` (name lowercased, as OpenSSH writes it) to the
    /// file, atomically (see the module docs), and to this in-memory set.
    ///
    /// Under the file lock, and after catching up with other writers, the
    /// name's lines in this file are checked again: the same key recorded
    /// meanwhile is [`Appended::AlreadyThere`]; another key, or this key
    /// `@revoked`, is [`KnownHostsError::Conflict`] and nothing is written.
    pub fn append(&self, name: &str, key: &KeyData) -> Result<Appended, KnownHostsError> {
        let io = |source| KnownHostsError::Io {
            path: self.path.to_path_buf(),
            source,
        };
        let encoded = PublicKey::new(key.clone(), "")
            .to_openssh()
            .map_err(|e| KnownHostsError::Encode(e.to_string()))?;
        let record_name = name.to_ascii_lowercase();
        let mut state = self.state();
        if state.stamp != Stamp::Unknown
            && let Some(line) = state.recorded(name, key)
        {
            // Another task of this run recorded it meanwhile.
            return Ok(Appended::AlreadyThere(line));
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
        if let Some(line) = state.recorded(name, key) {
            return Ok(Appended::AlreadyThere(line));
        }
        if let Some(line) = state.conflict(name, key) {
            return Err(KnownHostsError::Conflict {
                path: self.path.to_path_buf(),
                name: name.to_owned(),
                line,
            });
        }
        let mut record = Vec::with_capacity(record_name.len() + encoded.len() + 3);
        if state.needs_newline {
            record.push(b'\n');
        }
        record.extend_from_slice(record_name.as_bytes());
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
        // A missing final newline was the end of the last (counted) line.
        state.lines += 1;
        state.needs_newline = false;
        let line = state.lines;
        state.index.push(Entry {
            line,
            marker: Marker::None,
            names: HostNames::Patterns(record_name.into_bytes().into()),
            key: Arc::new(KnownKey {
                data: key.clone(),
                certificate: false,
            }),
        });
        Ok(Appended::Written(line))
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
        Ok(Parsed::from_bytes(&bytes, stamp))
    }

    fn from_bytes(bytes: &[u8], stamp: Stamp) -> Parsed {
        let (index, text) = Index::parse(bytes);
        Parsed {
            index,
            lines: text.lines,
            needs_newline: text.needs_newline,
            stamp,
        }
    }

    /// The line recording exactly `key` (unmarked) for `name`.
    fn recorded(&self, name: &str, key: &KeyData) -> Option<usize> {
        self.index
            .matching(name)
            .find(|e| e.marker == Marker::None && e.key.equals(key))
            .map(|e| e.line)
    }

    /// The first line that makes recording `key` for `name` wrong: another
    /// unmarked key, or this key `@revoked`.
    fn conflict(&self, name: &str, key: &KeyData) -> Option<usize> {
        self.index
            .matching(name)
            .find(|e| match e.marker {
                Marker::None => !e.key.equals(key),
                Marker::Revoked => e.key.equals_public(key),
                Marker::CertAuthority => false,
            })
            .map(|e| e.line)
    }
}
