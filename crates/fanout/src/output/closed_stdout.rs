//! Stdout whose reader may go away (`ssh-fanout … | head`).
//!
//! The first `EPIPE` marks stdout closed: the token is cancelled, which the
//! run watches to stop starting hosts, and every later write is dropped
//! without an error. So the run ends quietly, as ripgrep does, while the
//! side files (`--outdir`, `--errdir`, `--failed-hosts`) are still written
//! to the end.

use std::io::{self, Write};

use tokio_util::sync::CancellationToken;

use super::Writer;

/// A stdout writer that turns a closed pipe into a cancelled token.
pub(super) struct ClosableStdout {
    inner: Writer,
    closed: CancellationToken,
}

impl ClosableStdout {
    pub(super) fn new(inner: Writer, closed: CancellationToken) -> Self {
        ClosableStdout { inner, closed }
    }

    fn absorb(&self, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(e) if netkit_cli::exit::is_closed_pipe(&e) => {
                self.closed.cancel();
                Ok(())
            }
            other => other,
        }
    }
}

impl Write for ClosableStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed.is_cancelled() {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) => self.absorb(Err(e)).map(|()| buf.len()),
            ok => ok,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed.is_cancelled() {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_cancels_and_later_writes_are_dropped() {
        let token = CancellationToken::new();
        let mut out = ClosableStdout::new(Box::new(Closed), token.clone());
        assert_eq!(out.write(b"abc").unwrap(), 3);
        assert!(token.is_cancelled());
        out.write_all(b"more").unwrap();
        out.flush().unwrap();
    }

    #[test]
    fn other_errors_still_fail() {
        let token = CancellationToken::new();
        let mut out = ClosableStdout::new(Box::new(Full), token.clone());
        assert!(out.write(b"abc").is_err());
        assert!(!token.is_cancelled());
    }
}
