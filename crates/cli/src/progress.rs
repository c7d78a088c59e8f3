//! Progress bars (indicatif), drawn on stderr only when [`crate::UiArgs`]
//! says so (a terminal, no `--quiet`), and never through a record.
//!
//! Records go to stdout, which is often the same terminal. A record
//! written while the bar is drawn would land in the middle of the bar's
//! line, so every writer of a run that shows a bar is wrapped in
//! [`Suspending`]: it hides the bar, writes, and lets the bar redraw
//! (indicatif's `suspend`). A hidden bar costs nothing.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar on stderr with `template` (indicatif's syntax), redrawn at most
/// 4 times a second and ticking on its own; hidden unless `enabled`.
pub fn bar(enabled: bool, template: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A writer that hides `bar` while it writes, so records stay whole.
#[derive(Debug)]
pub struct Suspending<W> {
    inner: W,
    bar: ProgressBar,
}

impl<W> Suspending<W> {
    /// Wraps `inner`; writes hide `bar` first.
    pub fn new(bar: &ProgressBar, inner: W) -> Self {
        Suspending {
            inner,
            bar: bar.clone(),
        }
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for Suspending<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Suspending { inner, bar } = self;
        bar.suspend(|| inner.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let Suspending { inner, bar } = self;
        bar.suspend(|| inner.write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pass_through_whole() {
        let bar = bar(false, "{pos}/{len}");
        assert!(bar.is_hidden());
        let mut w = Suspending::new(&bar, Vec::new());
        w.write_all(b"host1: line\n").unwrap();
        w.write_all(b"host2: line\n").unwrap();
        w.flush().unwrap();
        assert_eq!(w.get_ref(), b"host1: line\nhost2: line\n");
    }
}
