//! `--outdir DIR` / `--errdir DIR`: one file per host, like pssh `-o`/`-e`.
//!
//! Bytes are written raw (no line splitting, no prefix) to `DIR/<host>`,
//! truncating any previous file. Every host that reports a result gets its
//! file, empty if it printed nothing, so `ls DIR` lists every host. Host
//! names are made file-safe by replacing `/` and NUL with `_`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Stream;

/// Per-host output files.
#[derive(Debug)]
pub struct FileSink {
    dirs: [Option<PathBuf>; 2],
    open: HashMap<String, [Option<File>; 2]>,
}

impl FileSink {
    /// Creates the directories (with parents) that are given.
    pub fn new(outdir: Option<PathBuf>, errdir: Option<PathBuf>) -> io::Result<Self> {
        for dir in [&outdir, &errdir].into_iter().flatten() {
            std::fs::create_dir_all(dir).map_err(|e| with_path(dir, e))?;
        }
        Ok(FileSink {
            dirs: [outdir, errdir],
            open: HashMap::new(),
        })
    }

    /// Appends raw bytes to the host's file for `stream` (if that dir is set).
    pub fn data(&mut self, host: &str, stream: Stream, data: &[u8]) -> io::Result<()> {
        let slot = stream.index();
        let Some(dir) = &self.dirs[slot] else {
            return Ok(());
        };
        if !self.open.contains_key(host) {
            self.open.insert(host.to_owned(), [None, None]);
        }
        let Some(files) = self.open.get_mut(host) else {
            return Ok(());
        };
        let path = dir.join(file_name(host));
        if files[slot].is_none() {
            files[slot] = Some(File::create(&path).map_err(|e| with_path(&path, e))?);
        }
        match &mut files[slot] {
            Some(file) => file.write_all(data).map_err(|e| with_path(&path, e)),
            None => Ok(()),
        }
    }

    /// Makes sure the host's files exist, then closes them.
    pub fn finish_host(&mut self, host: &str) -> io::Result<()> {
        let files = self.open.remove(host).unwrap_or([None, None]);
        for (slot, file) in files.into_iter().enumerate() {
            if file.is_none()
                && let Some(dir) = &self.dirs[slot]
            {
                let path = dir.join(file_name(host));
                File::create(&path).map_err(|e| with_path(&path, e))?;
            }
        }
        Ok(())
    }
}

/// The file name used for `host`.
pub fn file_name(host: &str) -> String {
    let name: String = host
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    match name.as_str() {
        "" | "." | ".." => format!("_{name}"),
        _ => name,
    }
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_per_host_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let (o, e) = (dir.path().join("out"), dir.path().join("nested/err"));
        let mut s = FileSink::new(Some(o.clone()), Some(e.clone())).unwrap();
        s.data("web1", Stream::Stdout, b"par").unwrap();
        s.data("web1", Stream::Stdout, b"tial\nno newline").unwrap();
        s.data("web1", Stream::Stderr, b"warn\n").unwrap();
        s.finish_host("web1").unwrap();
        s.finish_host("quiet").unwrap();
        assert_eq!(
            std::fs::read(o.join("web1")).unwrap(),
            b"partial\nno newline"
        );
        assert_eq!(std::fs::read(e.join("web1")).unwrap(), b"warn\n");
        assert_eq!(std::fs::read(o.join("quiet")).unwrap(), b"");
        assert_eq!(std::fs::read(e.join("quiet")).unwrap(), b"");
    }

    #[test]
    fn only_outdir() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileSink::new(Some(dir.path().to_owned()), None).unwrap();
        s.data("h", Stream::Stderr, b"ignored").unwrap();
        s.data("h", Stream::Stdout, b"kept").unwrap();
        s.finish_host("h").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert_eq!(std::fs::read(dir.path().join("h")).unwrap(), b"kept");
    }

    #[test]
    fn safe_names() {
        assert_eq!(file_name("root@h:22"), "root@h:22");
        assert_eq!(file_name("../x"), ".._x");
        assert_eq!(file_name(".."), "_..");
    }
}
