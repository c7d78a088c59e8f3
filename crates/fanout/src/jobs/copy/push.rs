//! `--copy`: the plan's files, directories and links onto one host.
//!
//! Where things land: with one source file (no `--recursive`), `--dest`
//! names the file, unless it ends with `/` or is an existing directory on
//! the host; otherwise `--dest` is a directory (created if missing) and
//! each source lands in it under its own name, as with `cp`/`scp`.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use russh_sftp::protocol::{FileAttributes, OpenFlags};

use super::plan::{Entry, EntryKind, PushPlan, SourceFile};
use super::sftp::{Kind, Sftp, kind, sftp_error};
use super::{CopyError, CopySpec, CopyStats, verify};
use crate::connect::session::Connection;
use crate::output::ErrorKind;

/// The part of every temporary name that marks it as ours.
pub(crate) const TEMP_MARK: &str = ".netkit-";
const TEMP_SUFFIX: &str = ".tmp";
/// Temporaries of other targets older than this are stale.
const STALE_SECS: u64 = 3600;

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (".", path),
    }
}

/// Which target a temporary name belongs to (`.NAME.netkit-XXXXXXXX.tmp`).
fn temp_target(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let at = rest.rfind(TEMP_MARK)?;
    let tag = &rest[at + TEMP_MARK.len()..];
    (tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_hexdigit())).then(|| &rest[..at])
}

fn temp_name(dir: &str, name: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    let tag = h.finish() as u32;
    join(dir, &format!(".{name}{TEMP_MARK}{tag:08x}{TEMP_SUFFIX}"))
}

/// Per directory, from its one listing: target name -> the temporaries
/// of ours left for it.
#[derive(Default)]
struct Temps {
    listed: HashMap<String, HashMap<String, Vec<String>>>,
}

impl Temps {
    /// Removes the temporaries left for `name` in `dir` (and, on the first
    /// visit of `dir`, those of any target older than an hour).
    async fn clean(&mut self, sftp: &Sftp, dir: &str, name: &str) {
        if !self.listed.contains_key(dir) {
            let mut left: HashMap<String, Vec<String>> = HashMap::new();
            if let Ok(entries) = sftp.list(dir).await {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                for e in entries {
                    let Some(target) = temp_target(&e.filename) else {
                        continue;
                    };
                    let old = e
                        .attrs
                        .mtime
                        .is_some_and(|m| now.saturating_sub(u64::from(m)) > STALE_SECS);
                    if old && kind(&e.attrs) == Kind::File {
                        let _ = sftp.remove(&join(dir, &e.filename)).await;
                    } else {
                        left.entry(target.to_owned())
                            .or_default()
                            .push(e.filename.clone());
                    }
                }
            }
            self.listed.insert(dir.to_owned(), left);
        }
        let stale = self.listed.get_mut(dir).and_then(|m| m.remove(name));
        for file in stale.into_iter().flatten() {
            let _ = sftp.remove(&join(dir, &file)).await;
        }
    }
}

/// Pushes `plan` to `dest` on the host.
pub async fn push(
    sftp: &Sftp,
    conn: &Connection,
    plan: &PushPlan,
    spec: &CopySpec,
    dest: &str,
    stats: &CopyStats,
) -> Result<(), CopyError> {
    let dest = sftp.expand_tilde(dest).await?;
    let single_file = plan.roots.len() == 1
        && !spec.recursive
        && matches!(
            plan.roots[0].entries.first().map(|e| &e.kind),
            Some(EntryKind::File(_))
        );
    let into_dir = !single_file
        || dest.ends_with('/')
        || matches!(sftp.stat(&dest).await, Ok(a) if kind(&a) == Kind::Dir);
    if into_dir {
        sftp.mkdir_all(&dest).await?;
    }
    let mut temps = Temps::default();
    let mut dirs_to_time: Vec<(String, &Entry)> = Vec::new();
    let mut names = HashSet::new();
    for root in &plan.roots {
        let target = if into_dir {
            join(&dest, &root.name)
        } else {
            dest.clone()
        };
        if !names.insert(target.clone()) {
            return Err(CopyError::new(
                ErrorKind::Copy,
                format!("two sources would land on `{target}`"),
            ));
        }
        for entry in &root.entries {
            let path = if entry.rel.is_empty() {
                target.clone()
            } else {
                join(&target, &entry.rel)
            };
            match &entry.kind {
                EntryKind::Dir => {
                    sftp.mkdir(&path, spec.preserve.then_some(entry.mode))
                        .await?;
                    stats.add_file();
                    if spec.preserve {
                        dirs_to_time.push((path, entry));
                    }
                }
                EntryKind::File(id) => {
                    let file = plan.files.get(*id).ok_or_else(|| {
                        CopyError::new(ErrorKind::Copy, "internal error: no such plan file")
                    })?;
                    put_file(sftp, spec, file, entry, &path, &mut temps, stats).await?;
                    stats.add_file();
                    if spec.verify {
                        verify::pushed(sftp, conn, file, &path, stats).await?;
                    }
                }
                EntryKind::Symlink(to) => {
                    let (dir, name) = split(&path);
                    temps.clean(sftp, dir, name).await;
                    let temp = temp_name(dir, name);
                    sftp.symlink(&temp, to).await?;
                    if let Err(e) = sftp.replace(&temp, &path).await {
                        let _ = sftp.remove(&temp).await;
                        return Err(e);
                    }
                    stats.add_file();
                }
            }
        }
    }
    // Directory modes and times last, deepest first: writing into a
    // directory changes its modification time, and a read-only mode would
    // stop the writes.
    for (path, entry) in dirs_to_time.iter().rev() {
        sftp.set_attrs(path, times(entry, true)).await?;
    }
    Ok(())
}

fn times(entry: &Entry, with_mode: bool) -> FileAttributes {
    let mut attrs = FileAttributes::empty();
    attrs.atime = Some(entry.atime);
    attrs.mtime = Some(entry.mtime);
    if with_mode {
        attrs.permissions = Some(entry.mode);
    }
    attrs
}

/// Writes one file to a temporary name next to `path`, then moves it over
/// `path`. On any failure the temporary is removed (best effort) and the
/// old `path` is untouched.
async fn put_file(
    sftp: &Sftp,
    spec: &CopySpec,
    file: &SourceFile,
    entry: &Entry,
    path: &str,
    temps: &mut Temps,
    stats: &CopyStats,
) -> Result<(), CopyError> {
    let (dir, name) = split(path);
    temps.clean(sftp, dir, name).await;
    let temp = temp_name(dir, name);
    let flags = OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE | OpenFlags::TRUNCATE;
    // The source's permission bits (as scp gives new files; the host's
    // umask applies), set exactly with --preserve.
    let handle = sftp
        .open_file(&temp, flags, Some(entry.mode & 0o777))
        .await
        .map_err(|e| {
            // Name the target, not its temporary.
            let message = e.message.replacen(
                &format!("cannot open `{temp}`"),
                &format!("cannot create `{path}`"),
                1,
            );
            CopyError::new(e.kind, message)
        })?;
    let written = write_all(sftp, spec, &handle, file, path, stats).await;
    let finished = match written {
        Ok(()) => {
            let attrs = spec.preserve.then(|| times(entry, true));
            let set = match attrs {
                Some(a) => sftp.set_handle_attrs(&handle, a, path).await,
                None => Ok(()),
            };
            let closed = sftp.close_handle(handle, path).await;
            set.and(closed)
        }
        Err(e) => {
            let _ = sftp.close_handle(handle, path).await;
            Err(e)
        }
    };
    let moved = match finished {
        Ok(()) => sftp.replace(&temp, path).await,
        Err(e) => Err(e),
    };
    if let Err(mut e) = moved {
        let _ = sftp.remove(&temp).await;
        if e.kind == ErrorKind::Copy && sftp.out_of_space(dir, file.size).await {
            e = CopyError::new(
                ErrorKind::NoSpace,
                format!(
                    "no space left on the host for `{path}` ({} bytes)",
                    file.size
                ),
            );
        }
        return Err(e);
    }
    Ok(())
}

async fn write_all(
    sftp: &Sftp,
    spec: &CopySpec,
    handle: &str,
    file: &SourceFile,
    path: &str,
    stats: &CopyStats,
) -> Result<(), CopyError> {
    let len = u64::from(sftp.io_len);
    let mut inflight = FuturesOrdered::new();
    let mut offset = 0u64;
    loop {
        while inflight.len() < sftp.depth && offset < file.size {
            let n = len.min(file.size - offset);
            let piece = spec.chunks.get(file, offset, n as u32).await?;
            let sent = stats.bytes.load(std::sync::atomic::Ordering::Relaxed);
            if sent.saturating_add(n) > spec.max_bytes {
                return Err(CopyError::new(
                    ErrorKind::TooLarge,
                    format!(
                        "the copy exceeds --max-bytes {} for this host",
                        spec.max_bytes
                    ),
                ));
            }
            inflight.push_back(sftp.write(handle, offset, piece.to_vec()));
            offset += n;
        }
        match inflight.next().await {
            None => return Ok(()),
            Some(Ok(n)) => stats.add_bytes(n),
            Some(Err(e)) => {
                return Err(sftp_error(e, "cannot write", path));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_for_their_target_only() {
        let t = temp_name("/etc", "app.conf");
        let (dir, name) = split(&t);
        assert_eq!(dir, "/etc");
        assert_eq!(temp_target(name), Some("app.conf"));
        assert_eq!(temp_target(".app.conf.netkit-zzzzzzzz.tmp"), None);
        assert_eq!(temp_target("app.conf"), None);
        assert_eq!(temp_target(".a.netkit-0123abcd.tmp"), Some("a"));
        assert_eq!(split("x"), (".", "x"));
        assert_eq!(split("/x"), ("/", "x"));
        assert_eq!(join(".", "x"), "x");
        assert_eq!(join("/", "x"), "/x");
    }
}
