//! The local side of a push, scanned once before any host is contacted:
//! every source file, directory and symlink with its mode and times, in
//! the order the remote creates them (a directory before its contents).
//! A missing source, a directory without `--recursive`, a device or a
//! name that is not UTF-8 (SFTP names are strings) is a usage error.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::wildcard::glob_match;

/// How deep a pushed tree may be.
const MAX_DEPTH: usize = 256;

/// One local file of the plan.
#[derive(Debug)]
pub struct SourceFile {
    /// Index in [`PushPlan::files`] (the chunk cache key).
    pub id: usize,
    /// Where it is read from.
    pub path: PathBuf,
    /// Its size when scanned.
    pub size: u64,
    /// Its SHA-256, computed once when `--verify` first needs it.
    pub sha256: tokio::sync::OnceCell<[u8; 32]>,
}

/// What an entry is.
#[derive(Debug, Clone)]
pub enum EntryKind {
    /// A regular file (index into [`PushPlan::files`]).
    File(usize),
    /// A directory.
    Dir,
    /// A symlink, copied as a link (never followed).
    Symlink(String),
}

/// One entry below a source root.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path below the root, `/`-separated; empty for the root itself.
    pub rel: String,
    /// File, directory or link.
    pub kind: EntryKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Access and modification times (seconds).
    pub atime: u32,
    /// Modification time (seconds).
    pub mtime: u32,
}

/// One source as given on the command line.
#[derive(Debug)]
pub struct Root {
    /// Its last component (its name under a destination directory).
    pub name: String,
    /// The root first, then its contents, parents before children.
    pub entries: Vec<Entry>,
}

/// Every source of a push.
#[derive(Debug, Default)]
pub struct PushPlan {
    /// Sources, in command-line order.
    pub roots: Vec<Root>,
    /// Regular files, by [`SourceFile::id`].
    pub files: Vec<SourceFile>,
}

fn secs(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

fn utf8(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("--copy {}: the name is not UTF-8", path.display()))
}

/// Whether `--copy-exclude` globs skip `rel` (name `name`): a glob
/// without `/` matches the name, one with `/` the path below the source.
pub fn excluded(globs: &[String], name: &str, rel: &str) -> bool {
    globs.iter().any(|g| {
        if g.contains('/') {
            glob_match(g.trim_start_matches('/'), rel)
        } else {
            glob_match(g, name)
        }
    })
}

impl PushPlan {
    /// Scans `sources`. A top-level symlink is followed (as `scp` does);
    /// links inside a tree are kept as links.
    pub fn scan(
        sources: &[PathBuf],
        recursive: bool,
        exclude: &[String],
    ) -> Result<PushPlan, String> {
        let mut plan = PushPlan::default();
        for src in sources {
            let meta =
                std::fs::metadata(src).map_err(|e| format!("--copy {}: {e}", src.display()))?;
            let name = match src.file_name() {
                Some(n) => utf8(Path::new(n))?,
                None => {
                    // `.`, `..` or `/`: the directory's own name.
                    let canon = std::fs::canonicalize(src)
                        .map_err(|e| format!("--copy {}: {e}", src.display()))?;
                    match canon.file_name() {
                        Some(n) => utf8(Path::new(n))?,
                        None => return Err(format!("--copy {}: cannot copy `/`", src.display())),
                    }
                }
            };
            let mut root = Root {
                name,
                entries: Vec::new(),
            };
            if meta.is_dir() {
                if !recursive {
                    return Err(format!(
                        "--copy {}: is a directory (give --recursive)",
                        src.display()
                    ));
                }
                root.entries
                    .push(entry(String::new(), EntryKind::Dir, &meta));
                plan.walk(src, "", &mut root, exclude, 1)?;
            } else if meta.is_file() {
                let id = plan.add_file(src.clone(), meta.len());
                root.entries
                    .push(entry(String::new(), EntryKind::File(id), &meta));
            } else {
                return Err(format!(
                    "--copy {}: not a regular file or directory",
                    src.display()
                ));
            }
            plan.roots.push(root);
        }
        Ok(plan)
    }

    fn add_file(&mut self, path: PathBuf, size: u64) -> usize {
        let id = self.files.len();
        self.files.push(SourceFile {
            id,
            path,
            size,
            sha256: tokio::sync::OnceCell::new(),
        });
        id
    }

    fn walk(
        &mut self,
        dir: &Path,
        rel: &str,
        root: &mut Root,
        exclude: &[String],
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "--copy {}: deeper than {MAX_DEPTH} levels",
                dir.display()
            ));
        }
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("--copy {}: {e}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--copy {}: {e}", dir.display()))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let name = utf8(Path::new(&name))?;
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if excluded(exclude, &name, &child) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| format!("--copy {}: {e}", path.display()))?;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = std::fs::read_link(&path)
                    .map_err(|e| format!("--copy {}: {e}", path.display()))?;
                let target = utf8(&target)?;
                root.entries
                    .push(entry(child, EntryKind::Symlink(target), &meta));
            } else if ft.is_dir() {
                root.entries
                    .push(entry(child.clone(), EntryKind::Dir, &meta));
                self.walk(&path, &child, root, exclude, depth + 1)?;
            } else if ft.is_file() {
                let id = self.add_file(path, meta.len());
                root.entries.push(entry(child, EntryKind::File(id), &meta));
            } else {
                return Err(format!(
                    "--copy {}: not a regular file, directory or symlink (give \
                     --copy-exclude to skip it)",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    /// Bytes of file data in the plan.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

fn entry(rel: String, kind: EntryKind, meta: &std::fs::Metadata) -> Entry {
    Entry {
        rel,
        kind,
        mode: meta.mode() & 0o7777,
        atime: secs(meta.atime()),
        mtime: secs(meta.mtime()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_trees_parents_first_with_links_and_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        std::fs::create_dir_all(top.join("sub/deep")).unwrap();
        std::fs::write(top.join("a.txt"), b"a").unwrap();
        std::fs::write(top.join("skip.log"), b"x").unwrap();
        std::fs::write(top.join("sub/deep/b"), b"bb").unwrap();
        std::os::unix::fs::symlink("../a.txt", top.join("sub/link")).unwrap();
        let plan = PushPlan::scan(std::slice::from_ref(&top), true, &["*.log".into()]).unwrap();
        let rels: Vec<&str> = plan.roots[0]
            .entries
            .iter()
            .map(|e| e.rel.as_str())
            .collect();
        assert_eq!(
            rels,
            ["", "a.txt", "sub", "sub/deep", "sub/deep/b", "sub/link"]
        );
        assert_eq!(plan.roots[0].name, "top");
        assert_eq!(plan.total_bytes(), 3);
        assert!(matches!(&plan.roots[0].entries[5].kind, EntryKind::Symlink(t) if t == "../a.txt"));
        let e = PushPlan::scan(std::slice::from_ref(&top), false, &[]).unwrap_err();
        assert!(e.contains("is a directory (give --recursive)"), "{e}");
        let e = PushPlan::scan(&[dir.path().join("missing")], false, &[]).unwrap_err();
        assert!(e.contains("missing"), "{e}");
        let plan = PushPlan::scan(&[top], true, &["sub/deep".into()]).unwrap();
        assert_eq!(plan.roots[0].entries.len(), 5);
    }
}
