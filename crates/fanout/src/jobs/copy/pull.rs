//! `--rcopy`: remote paths from one host into its own local directory.
//!
//! Layout: without `{host}` in `--dest`, every source lands under
//! `DEST/HOST/` by its last name (pslurp's layout). With `{host}`, the
//! replaced `--dest` is that directory, or the file itself when there is
//! one source file (`--dest 'logs/syslog.{host}'`, clush's layout). Host
//! names are distinct, so hosts never write to the same place.
//!
//! Everything from the host is hostile input (see [`super::local_names`]):
//! refused entries (devices, fifos, sockets, escaping links) are skipped,
//! the rest is copied, and the host then fails with `unsafe_path` naming
//! the first one. Nothing is written through a symlink: a directory that
//! exists locally as a link is refused, and files are renamed over
//! whatever is there (a link is replaced, never followed).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use russh_sftp::protocol::{FileAttributes, OpenFlags};
use tokio::io::AsyncWriteExt;

use super::local_names::{base_name, component, host_component, unsafe_link};
use super::plan::excluded;
use super::sftp::{Kind, Sftp, kind};
use super::{CopyError, CopySpec, CopyStats, verify};
use crate::connect::session::Connection;
use crate::output::ErrorKind;

/// How deep a pulled tree may be.
const MAX_DEPTH: usize = 256;
/// How many entries one host may send in one pull.
const MAX_ENTRIES: u64 = 1_000_000;

/// Where one host's files go: `DEST/HOST`, or `DEST` with `{host}`
/// replaced.
pub fn local_base(dest: &str, host: &str) -> PathBuf {
    let host = host_component(host);
    if dest.contains("{host}") {
        PathBuf::from(dest.replace("{host}", &host))
    } else {
        Path::new(dest).join(host)
    }
}

fn local_error(what: &str, path: &Path, e: std::io::Error) -> CopyError {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        std::io::ErrorKind::StorageFull => ErrorKind::NoSpace,
        _ => ErrorKind::Copy,
    };
    CopyError::new(kind, format!("{what} `{}` here: {e}", path.display()))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

struct Pull<'a> {
    sftp: &'a Sftp,
    conn: &'a Connection,
    spec: &'a CopySpec,
    stats: &'a CopyStats,
    entries: u64,
    refused: u64,
    first_refused: Option<String>,
}

/// Pulls `sources` from the host into `base`.
pub async fn pull(
    sftp: &Sftp,
    conn: &Connection,
    sources: &[String],
    spec: &CopySpec,
    base: &Path,
    stats: &CopyStats,
) -> Result<(), CopyError> {
    let mut matches = Vec::new();
    for src in sources {
        let path = sftp.expand_tilde(src).await?;
        let found = glob(sftp, &path).await?;
        if found.is_empty() {
            return Err(CopyError::new(
                ErrorKind::NotFound,
                format!("no match for `{src}` on the host"),
            ));
        }
        matches.extend(found);
    }
    let mut p = Pull {
        sftp,
        conn,
        spec,
        stats,
        entries: 0,
        refused: 0,
        first_refused: None,
    };
    let as_file = spec.dest.contains("{host}")
        && !spec.dest.ends_with('/')
        && matches.len() == 1
        && kind(&matches[0].1) != Kind::Dir;
    if as_file {
        if let Some(parent) = base.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| local_error("cannot create directory", parent, e))?;
        }
        let (path, attrs) = &matches[0];
        p.file(path, attrs, base).await?;
    } else {
        std::fs::create_dir_all(base)
            .map_err(|e| local_error("cannot create directory", base, e))?;
        let mut seen = HashSet::new();
        for (path, attrs) in &matches {
            let Some(name) = component(base_name(path)) else {
                return Err(CopyError::new(
                    ErrorKind::Copy,
                    format!("`{path}` has no name to copy to (give a path below it)"),
                ));
            };
            if !seen.insert(name.clone()) {
                return Err(CopyError::new(
                    ErrorKind::Copy,
                    format!("two sources would land on `{}`", base.join(&name).display()),
                ));
            }
            p.entry(path, attrs, &base.join(name), "").await?;
        }
    }
    if p.refused > 0 {
        return Err(CopyError::new(
            ErrorKind::UnsafePath,
            format!(
                "refused {} entr{} from the host (the rest was copied); first: {}",
                p.refused,
                if p.refused == 1 { "y" } else { "ies" },
                p.first_refused.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// The remote paths matching `pattern` (globs in any component, matched
/// by listing directories; hidden names only by a pattern starting with
/// `.`), with their attributes (symlinks followed, as the user named
/// them). A path without glob characters is just checked.
async fn glob(sftp: &Sftp, pattern: &str) -> Result<Vec<(String, FileAttributes)>, CopyError> {
    if !has_glob(pattern) {
        return match sftp.stat(pattern).await {
            Ok(a) => Ok(vec![(pattern.to_owned(), a)]),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        };
    }
    let absolute = pattern.starts_with('/');
    let mut candidates = vec![if absolute {
        "/".to_owned()
    } else {
        String::new()
    }];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for prefix in &candidates {
            let join = |name: &str| {
                if prefix.is_empty() {
                    name.to_owned()
                } else if prefix.ends_with('/') {
                    format!("{prefix}{name}")
                } else {
                    format!("{prefix}/{name}")
                }
            };
            if !has_glob(part) {
                next.push(join(part));
                continue;
            }
            let dir = if prefix.is_empty() {
                "."
            } else {
                prefix.as_str()
            };
            let Ok(entries) = sftp.list(dir).await else {
                continue;
            };
            let mut names: Vec<String> = entries
                .into_iter()
                .map(|e| e.filename)
                .filter(|n| n != "." && n != ".." && !n.contains('/'))
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| crate::wildcard::glob_match(part, n))
                .collect();
            names.sort();
            next.extend(names.iter().map(|n| join(n)));
        }
        candidates = next;
        if candidates.len() > super::sftp::MAX_DIR_ENTRIES {
            return Err(CopyError::new(
                ErrorKind::TooLarge,
                format!("`{pattern}` matches too many paths"),
            ));
        }
    }
    let mut out = Vec::new();
    for c in candidates {
        if let Ok(a) = sftp.stat(&c).await {
            out.push((c, a));
        }
    }
    Ok(out)
}

/// Makes `path` a real local directory (never through a symlink).
fn local_dir(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) if m.file_type().is_symlink() => Err("is a symlink here".into()),
        Ok(_) => Err("exists here and is not a directory".into()),
        Err(_) => std::fs::create_dir(path).map_err(|e| e.to_string()),
    }
}

impl Pull<'_> {
    fn refuse(&mut self, remote: &str, why: &str) {
        self.refused += 1;
        if self.first_refused.is_none() {
            self.first_refused = Some(format!("`{remote}`: {why}"));
        }
    }

    fn count(&mut self) -> Result<(), CopyError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(CopyError::new(
                ErrorKind::TooLarge,
                format!("the host sent more than {MAX_ENTRIES} entries"),
            ));
        }
        Ok(())
    }

    /// One remote entry into `local`; `rel` is its path below the source
    /// it came from (empty for the source itself, which is followed if it
    /// is a link, as the user named it).
    async fn entry(
        &mut self,
        remote: &str,
        attrs: &FileAttributes,
        local: &Path,
        rel: &str,
    ) -> Result<(), CopyError> {
        self.count()?;
        let depth = if rel.is_empty() {
            0
        } else {
            rel.split('/').count()
        };
        let what = kind(attrs);
        if what == Kind::File {
            return self.file(remote, attrs, local).await;
        }
        if what == Kind::Dir {
            if !self.spec.recursive {
                return Err(CopyError::new(
                    ErrorKind::Copy,
                    format!("`{remote}` is a directory (give --recursive)"),
                ));
            }
            if depth > MAX_DEPTH {
                self.refuse(remote, "deeper than 256 levels");
                return Ok(());
            }
            if let Err(why) = local_dir(local) {
                self.refuse(remote, &format!("`{}` {why}", local.display()));
                return Ok(());
            }
            self.stats.add_file();
            let mut entries = self.sftp.list(remote).await?;
            entries.sort_by(|a, b| a.filename.cmp(&b.filename));
            for e in entries {
                let Some(name) = component(&e.filename) else {
                    continue;
                };
                let child_rel = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                if excluded(&self.spec.exclude, &name, &child_rel) {
                    continue;
                }
                let child = if remote.ends_with('/') {
                    format!("{remote}{}", e.filename)
                } else {
                    format!("{remote}/{}", e.filename)
                };
                Box::pin(self.entry(&child, &e.attrs, &local.join(&name), &child_rel)).await?;
            }
            if self.spec.preserve {
                set_local_attrs(local, attrs, true);
            }
            return Ok(());
        }
        if what == Kind::Symlink && depth > 0 {
            let target = self.sftp.read_link(remote).await?;
            // An entry at depth d lives d directories below the host's one.
            if let Some(why) = unsafe_link(&target, depth) {
                self.refuse(remote, &format!("{why} (`{target}`)"));
                return Ok(());
            }
            let parent = local.parent().unwrap_or(Path::new("."));
            let temp = parent.join(format!(
                ".{}.netkit-link.tmp",
                local
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            let _ = std::fs::remove_file(&temp);
            std::os::unix::fs::symlink(&target, &temp)
                .and_then(|()| std::fs::rename(&temp, local))
                .map_err(|e| local_error("cannot create symlink", local, e))?;
            self.stats.add_file();
            return Ok(());
        }
        self.refuse(
            remote,
            "not a regular file, directory or symlink (device, fifo or socket)",
        );
        Ok(())
    }

    async fn file(
        &mut self,
        remote: &str,
        attrs: &FileAttributes,
        local: &Path,
    ) -> Result<(), CopyError> {
        if std::fs::symlink_metadata(local).is_ok_and(|m| m.is_dir()) {
            return Err(CopyError::new(
                ErrorKind::Copy,
                format!("cannot write `{}` here: it is a directory", local.display()),
            ));
        }
        let parent = match local.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let prefix = format!(".{name}.netkit-");
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(&prefix)
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let temp = builder
            .tempfile_in(parent)
            .map_err(|e| local_error("cannot create a file in", parent, e))?;
        let handle = self.sftp.open_file(remote, OpenFlags::READ, None).await?;
        let copied = self.receive(remote, &handle, &temp).await;
        let _ = self.sftp.close_handle(handle, remote).await;
        let received = copied?;
        temp.persist(local)
            .map_err(|e| local_error("cannot write", local, e.error))?;
        if self.spec.preserve {
            set_local_attrs(local, attrs, false);
        }
        self.stats.add_file();
        if self.spec.verify {
            verify::pulled(self.sftp, self.conn, remote, &received, self.stats).await?;
        }
        Ok(())
    }

    /// Writes the remote file into `temp`; returns the SHA-256 of what was
    /// written (hashed on the way, so `--verify` reads nothing twice).
    async fn receive(
        &mut self,
        remote: &str,
        handle: &str,
        temp: &tempfile::NamedTempFile,
    ) -> Result<[u8; 32], CopyError> {
        use sha2::Digest;
        let mut hash = self.spec.verify.then(sha2::Sha256::new);
        let std_file = temp
            .as_file()
            .try_clone()
            .map_err(|e| local_error("cannot write", temp.path(), e))?;
        let mut out = tokio::fs::File::from_std(std_file);
        let mut reader = self.sftp.reader(handle, remote);
        while let Some(chunk) = reader.next_chunk().await? {
            let so_far = self.stats.bytes.load(std::sync::atomic::Ordering::Relaxed);
            if so_far.saturating_add(chunk.len() as u64) > self.spec.max_bytes {
                return Err(CopyError::new(
                    ErrorKind::TooLarge,
                    format!(
                        "the host sent more than --max-bytes {} (at `{remote}`)",
                        self.spec.max_bytes
                    ),
                ));
            }
            if let Some(h) = &mut hash {
                h.update(&chunk);
            }
            out.write_all(&chunk)
                .await
                .map_err(|e| local_error("cannot write", temp.path(), e))?;
            self.stats.add_bytes(chunk.len() as u64);
        }
        out.flush()
            .await
            .map_err(|e| local_error("cannot write", temp.path(), e))?;
        Ok(hash.map(|h| h.finalize().into()).unwrap_or_default())
    }
}

/// `--preserve` on a pulled entry: the times, and the permission bits
/// without set-uid, set-gid and sticky (a host must not hand out set-uid
/// files here). Best effort: a failure leaves the defaults.
fn set_local_attrs(path: &Path, attrs: &FileAttributes, dir: bool) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(mtime) = attrs.mtime {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.into());
        let times = std::fs::FileTimes::new().set_modified(t).set_accessed(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(attrs.atime.unwrap_or(mtime).into()),
        );
        let opened = if dir {
            std::fs::File::open(path)
        } else {
            std::fs::OpenOptions::new().write(true).open(path)
        };
        if let Ok(f) = opened {
            let _ = f.set_times(times);
        }
    }
    if let Some(mode) = attrs.permissions {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o777));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_gets_its_own_place() {
        assert_eq!(local_base("out", "web1"), PathBuf::from("out/web1"));
        assert_eq!(
            local_base("logs/syslog.{host}", "web1"),
            PathBuf::from("logs/syslog.web1")
        );
        assert_eq!(
            local_base("out/{host}/", "a@b:22"),
            PathBuf::from("out/a@b:22/")
        );
        assert_ne!(local_base("out", "a"), local_base("out", "b"));
    }
}
