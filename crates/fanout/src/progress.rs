//! The progress line on stderr (only when stderr is a terminal and not
//! `--quiet`): an indicatif bar ([`netkit_cli::progress`]) whose message a
//! ticker in the run replaces every 250 ms.
//!
//! The output task owns stdout and stderr, so the progress line must never
//! end up in the middle of a record. [`Progress::wrap`] gives the output
//! task writers that hide the bar while a record is written (indicatif's
//! `suspend`); the bar then redraws below the last record.

use std::io::Write;
use std::sync::Arc;

use netkit_cli::progress::Suspending;

/// The run's progress line.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A progress line on stderr, drawn once there is something to say.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            bar: netkit_cli::progress::bar(true, "{msg}"),
        })
    }

    /// Shows `text` as the progress line.
    pub fn draw(&self, text: &str) {
        self.bar.set_message(text.to_owned());
    }

    /// Erases the progress line for good.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }

    /// Wraps a writer of the output task so that the progress line is
    /// hidden while anything is written through it.
    pub fn wrap<W: Write + Send + 'static>(self: &Arc<Self>, inner: W) -> Suspending<W> {
        Suspending::new(&self.bar, inner)
    }
}

/// The text of the progress line.
pub fn line(total: usize, snap: &netkit_pool::CountersSnapshot) -> String {
    format!(
        "ssh-fanout: {}/{total} done, {} running, {} with errors",
        snap.done, snap.running, snap.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pass_through_whole_and_progress_text_is_stable() {
        let progress = Progress::new();
        let mut w = progress.wrap(Vec::new());
        w.write_all(b"host1: line\n").unwrap();
        w.flush().unwrap();
        assert_eq!(w.get_ref(), b"host1: line\n");
        let snap = netkit_pool::CountersSnapshot {
            done: 3,
            running: 2,
            failed: 1,
            ..Default::default()
        };
        assert_eq!(
            line(10, &snap),
            "ssh-fanout: 3/10 done, 2 running, 1 with errors"
        );
    }
}
