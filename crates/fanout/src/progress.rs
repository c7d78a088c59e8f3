//! The progress line on stderr (only when stderr is a terminal and not
//! `--quiet`).
//!
//! The output task owns stdout and stderr, so the progress line must never
//! end up in the middle of a record. [`Progress::wrap`] gives the output
//! task writers that erase the progress line (`\r\x1b[K`) before any record
//! reaches the terminal; a ticker ([`Progress::draw`], every 250 ms) draws
//! it again. Records therefore stay whole, and the line only ever sits below
//! the last record.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// Shared state of the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    shown: Mutex<bool>,
}

const ERASE: &[u8] = b"\r\x1b[K";

impl Progress {
    /// A progress line, not yet drawn.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    /// Draws `text` in place of the current progress line.
    pub fn draw(&self, text: &str) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = io::stderr().lock();
        let mut record = ERASE.to_vec();
        record.extend_from_slice(text.as_bytes());
        if err.write_all(&record).and_then(|()| err.flush()).is_ok() {
            *shown = true;
        }
    }

    /// Erases the progress line if it is shown.
    pub fn clear(&self) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        Self::erase(&mut shown);
    }

    fn erase(shown: &mut bool) {
        if *shown {
            let mut err = io::stderr().lock();
            let _ = err.write_all(ERASE).and_then(|()| err.flush());
            *shown = false;
        }
    }

    /// Wraps a writer of the output task so that the progress line is
    /// erased before anything is written through it.
    pub fn wrap<W: Write + Send + 'static>(self: &Arc<Self>, inner: W) -> ProgressAware<W> {
        ProgressAware {
            inner,
            progress: self.clone(),
        }
    }
}

/// A writer that erases the progress line before writing.
#[derive(Debug)]
pub struct ProgressAware<W> {
    inner: W,
    progress: Arc<Progress>,
}

impl<W: Write> ProgressAware<W> {
    /// Erases the progress line, then writes while holding the lock, so the
    /// ticker cannot draw mid-record.
    fn erased<T>(&mut self, write: impl FnOnce(&mut W) -> io::Result<T>) -> io::Result<T> {
        let mut shown = self
            .progress
            .shown
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Progress::erase(&mut shown);
        write(&mut self.inner)
    }
}

impl<W: Write> Write for ProgressAware<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.erased(|inner| inner.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.erased(|inner| inner.write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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
        assert_eq!(w.inner, b"host1: line\n");
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
