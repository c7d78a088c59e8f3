//! Reading config files into items, `Include` expanded in place (globs,
//! relative paths against `~/.ssh` or `/etc/ssh`, depth limit 16 as
//! `READCONF_MAX_DEPTH`). Which items apply to a host is decided later
//! ([`super::eval`]): an `Include` inside a `Host`/`Match` block applies
//! only while that block matches, as in readconf.c.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::words::{SplitError, SplitLine, split_line};
use super::{Origin, SshConfigError};
use crate::wildcard::glob_match;

/// OpenSSH's `READCONF_MAX_DEPTH`.
pub const MAX_DEPTH: usize = 16;

/// One line or one `Include` of a config file.
#[derive(Clone, Debug)]
pub enum Item {
    /// A keyword line.
    Line(Origin, SplitLine),
    /// An `Include` line and the files it read, in glob order.
    Include(Origin, Vec<Vec<Item>>),
}

/// Whether a file is the user's (relative includes under `~/.ssh`, `~`
/// allowed) or the system's (under `/etc/ssh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `~/.ssh/config` or `-F FILE`.
    User,
    /// `/etc/ssh/ssh_config`.
    System,
}

/// Reads `path`; `Ok(None)` when it does not exist.
pub fn read_file(
    path: &Path,
    kind: Kind,
    home: Option<&Path>,
    depth: usize,
) -> Result<Option<Vec<Item>>, SshConfigError> {
    if depth > MAX_DEPTH {
        return Err(SshConfigError::new(
            None,
            format!(
                "{}: too many recursive configuration includes",
                path.display()
            ),
        ));
    }
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(SshConfigError::new(
                None,
                format!("can't open config file {}: {e}", path.display()),
            ));
        }
    };
    parse_text(&text, Arc::from(path), kind, home, depth).map(Some)
}

/// Parses config text read from `file`.
pub fn parse_text(
    text: &str,
    file: Arc<Path>,
    kind: Kind,
    home: Option<&Path>,
    depth: usize,
) -> Result<Vec<Item>, SshConfigError> {
    let mut items = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let origin = Origin {
            file: file.clone(),
            line: index + 1,
        };
        let split = match split_line(raw) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(SplitError::NoArgument(k)) => {
                return Err(SshConfigError::new(
                    Some(origin),
                    format!("no argument after keyword \"{k}\""),
                ));
            }
            Err(SplitError::InvalidQuotes) => {
                return Err(SshConfigError::new(Some(origin), "invalid quotes".into()));
            }
        };
        if split.keyword != "include" {
            items.push(Item::Line(origin, split));
            continue;
        }
        let mut files = Vec::new();
        for arg in &split.words {
            if arg.is_empty() {
                return Err(SshConfigError::new(
                    Some(origin),
                    "keyword include empty argument".into(),
                ));
            }
            if arg.starts_with('~') && kind == Kind::System {
                return Err(SshConfigError::new(
                    Some(origin),
                    format!("bad include path {arg}"),
                ));
            }
            let full = if arg.starts_with('/') || arg.starts_with('~') {
                arg.clone()
            } else {
                match kind {
                    Kind::User => format!("~/.ssh/{arg}"),
                    Kind::System => format!("/etc/ssh/{arg}"),
                }
            };
            let full = crate::select::local_user::expand_tilde(&full, home);
            for path in glob(&full) {
                if let Some(sub) = read_file(&path, kind, home, depth + 1)
                    .map_err(|e| e.context_if_missing(&origin))?
                {
                    files.push(sub);
                }
            }
        }
        items.push(Item::Include(origin, files));
    }
    Ok(items)
}

/// `glob(3)` for `*` and `?` (no brackets, no braces): sorted, hidden
/// files only for patterns starting with `.`.
pub fn glob(path: &Path) -> Vec<PathBuf> {
    let mut current: Vec<PathBuf> = vec![if path.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            std::path::Component::CurDir => Some(".".into()),
            std::path::Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for dir in &current {
            if !part.contains(['*', '?']) {
                let p = dir.join(part);
                if (last && p.exists()) || (!last && p.is_dir()) {
                    next.push(p);
                }
                continue;
            }
            let read_from = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir.as_path()
            };
            let Ok(entries) = std::fs::read_dir(read_from) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| (!n.starts_with('.') || part.starts_with('.')) && glob_match(part, n))
                .collect();
            names.sort();
            for n in names {
                let p = dir.join(n);
                if last || p.is_dir() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    current
}
