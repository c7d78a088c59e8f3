//! The end-of-run summary (stderr) and `--failed-hosts FILE`.
//!
//! Memory is O(failed hosts): ok hosts are only counted.
//!
//! ```text
//! ssh-fanout: 8 hosts: 5 ok, 2 failed, 1 error
//! ssh-fanout: failed (exit 1): host[3,5]
//! ssh-fanout: failed (no_space): host6
//! ssh-fanout: error (connect_refused): host7
//! ```

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use crate::select::hosts::{fold, natural_cmp};

use super::{EXIT_OK, HostResult, Status};

/// Counts by outcome and the failed hosts grouped by reason.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    ok: usize,
    failed: usize,
    errors: usize,
    exit: u8,
    /// (0 = failed, 1 = error, reason) -> hosts
    reasons: BTreeMap<(u8, String), Vec<String>>,
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Self {
        Summary::default()
    }

    /// Records one host's result.
    pub fn add(&mut self, r: &HostResult) {
        self.exit = self.exit.max(r.exit_class());
        let key = match r.status() {
            Status::Ok => {
                self.ok += 1;
                return;
            }
            Status::Failed => {
                self.failed += 1;
                let reason = match (&r.error, &r.signal, r.exit_code) {
                    // A reached host whose copy failed.
                    (Some(e), _, _) => e.kind.as_str().to_owned(),
                    (None, Some(sig), _) => format!("signal {sig}"),
                    (None, None, Some(code)) => format!("exit {code}"),
                    (None, None, None) => "no exit status".to_owned(),
                };
                (0, reason)
            }
            Status::Error => {
                self.errors += 1;
                let kind = r.error.as_ref().map_or("error", |e| e.kind.as_str());
                (1, kind.to_owned())
            }
        };
        self.reasons.entry(key).or_default().push(r.host.clone());
    }

    /// Hosts whose commands all exited 0.
    pub fn ok(&self) -> usize {
        self.ok
    }

    /// Hosts with a non-zero exit or a signal.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Hosts with a typed error.
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// All hosts recorded.
    pub fn total(&self) -> usize {
        self.ok + self.failed + self.errors
    }

    /// The process exit code (0, 1 or 3), see [`super::exit_code`].
    pub fn exit_code(&self) -> u8 {
        if self.total() == 0 {
            EXIT_OK
        } else {
            self.exit
        }
    }

    /// Hosts that were not ok (failed or error), sorted naturally.
    pub fn failed_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.reasons.values().flatten().cloned().collect();
        hosts.sort_by(|a, b| natural_cmp(a, b));
        hosts.dedup();
        hosts
    }

    /// Writes [`Self::failed_hosts`] one per line (usable with `-w ^FILE`),
    /// replacing the file atomically (temporary file + rename).
    pub fn write_failed_hosts(&self, path: &Path) -> io::Result<()> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        let mut text = String::new();
        for h in self.failed_hosts() {
            text.push_str(&h);
            text.push('\n');
        }
        tmp.write_all(text.as_bytes())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Writes the summary lines.
    pub fn render(&self, out: &mut dyn Write) -> io::Result<()> {
        let total = self.total();
        let mut text = format!(
            "ssh-fanout: {total} host{}: {} ok, {} failed, {} error{}\n",
            if total == 1 { "" } else { "s" },
            self.ok,
            self.failed,
            self.errors,
            if self.errors == 1 { "" } else { "s" },
        );
        for ((class, reason), hosts) in &self.reasons {
            let label = if *class == 0 { "failed" } else { "error" };
            text.push_str(&format!(
                "ssh-fanout: {label} ({reason}): {}\n",
                fold(hosts)
            ));
        }
        out.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{ErrorKind, HostError};
    use std::time::Duration;

    fn summary() -> Summary {
        let d = Duration::ZERO;
        let mut s = Summary::new();
        for h in ["host0", "host1", "host2", "host4"] {
            s.add(&HostResult::exited(h, 0, d));
        }
        s.add(&HostResult::exited("host5", 1, d));
        s.add(&HostResult::exited("host3", 1, d));
        s.add(&HostResult::signalled("host6", "KILL", d));
        s.add(&HostResult::failed(
            "host7",
            HostError::new(ErrorKind::ConnectRefused, "refused"),
            d,
        ));
        s
    }

    #[test]
    fn counts_and_render() {
        let s = summary();
        assert_eq!((s.ok(), s.failed(), s.errors(), s.total()), (4, 3, 1, 8));
        let mut out = Vec::new();
        s.render(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ssh-fanout: 8 hosts: 4 ok, 3 failed, 1 error\n\
             ssh-fanout: failed (exit 1): host[3,5]\n\
             ssh-fanout: failed (signal KILL): host6\n\
             ssh-fanout: error (connect_refused): host7\n"
        );
        assert_eq!(s.exit_code(), 3);
    }

    #[test]
    fn exit_codes() {
        let d = Duration::ZERO;
        let mut s = Summary::new();
        assert_eq!(s.exit_code(), 0);
        s.add(&HostResult::exited("a", 0, d));
        assert_eq!(s.exit_code(), 0);
        s.add(&HostResult::exited("b", 2, d));
        assert_eq!(s.exit_code(), 1);
        s.add(&HostResult::signalled("c", "TERM", d));
        assert_eq!(s.exit_code(), 1);
        let err = HostError::new(ErrorKind::ConnectTimeout, "t");
        s.add(&HostResult::failed("d", err, d));
        assert_eq!(s.exit_code(), 3, "an error outranks a failed command");
        s.add(&HostResult::exited("e", 1, d));
        assert_eq!(s.exit_code(), 3);
        let mut copy = Summary::new();
        copy.add(&HostResult::failed(
            "f",
            HostError::new(ErrorKind::NoSpace, "full"),
            d,
        ));
        assert_eq!(
            copy.exit_code(),
            1,
            "a reached host's failed copy is exit 1"
        );
        let mut out = Vec::new();
        copy.render(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("failed (no_space): f"), "{text}");
        assert_eq!(copy.failed_hosts(), ["f"]);
    }

    #[test]
    fn failed_hosts_file_roundtrips_through_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failed.txt");
        std::fs::write(&path, "old content\n").unwrap();
        summary().write_failed_hosts(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "host3\nhost5\nhost6\nhost7\n"
        );
        let again = crate::select::hosts::expand_names(&format!("^{}", path.display())).unwrap();
        assert_eq!(again, ["host3", "host5", "host6", "host7"]);
    }
}
