//! One signal helper for every binary.
//!
//! The first SIGINT or SIGTERM cancels the run's token: the run starts no
//! more work, lets what is in flight finish (each tool's grace), flushes
//! every finished record and returns; the binary then exits with
//! 128 + the signal's number ([`Interrupts::exit_code`]: 130 for SIGINT,
//! 143 for SIGTERM), as a shell reports a process killed by it. A second
//! signal exits at once with 128 + its number.
//!
//! The handlers are registered by [`Interrupts::watch`] before it returns,
//! so a signal sent as soon as a server prints its listening line is never
//! left to the default action.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio_util::sync::CancellationToken;

/// SIGINT's number (Ctrl-C).
pub const SIGINT: i32 = 2;
/// SIGTERM's number (`kill`, container runtimes, systemd).
pub const SIGTERM: i32 = 15;

/// The exit status of a process stopped by signal `signo`: 128 + `signo`.
pub fn signal_exit_code(signo: i32) -> u8 {
    u8::try_from(128 + signo.clamp(0, 127)).unwrap_or(u8::MAX)
}

/// Which signal, if any, cut the run short.
#[derive(Clone, Debug, Default)]
pub struct Interrupts {
    first: Arc<AtomicI32>,
}

impl Interrupts {
    /// Registers SIGINT and SIGTERM handlers now and watches them on the
    /// current runtime: the first signal calls `on_first` with its number
    /// (to print a notice) and cancels `token`; a second one prints
    /// `PROGRAM: aborted` and exits with 128 + its number. Must be called
    /// inside a tokio runtime.
    pub fn watch(
        program: &'static str,
        token: CancellationToken,
        on_first: impl FnOnce(i32) + Send + 'static,
    ) -> std::io::Result<Interrupts> {
        let interrupts = Interrupts::default();
        let mut signals = Signals::new()?;
        let first = interrupts.first.clone();
        tokio::spawn(async move {
            let signo = signals.recv().await;
            first.store(signo, Ordering::SeqCst);
            on_first(signo);
            token.cancel();
            let signo = signals.recv().await;
            crate::prompt::restore_terminal();
            eprintln!("{program}: aborted");
            std::process::exit(i32::from(signal_exit_code(signo)));
        });
        Ok(interrupts)
    }

    /// The first signal received, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.first.load(Ordering::SeqCst) {
            0 => None,
            signo => Some(signo),
        }
    }

    /// 128 + the first signal's number, if a signal was received.
    pub fn exit_code(&self) -> Option<u8> {
        self.signal().map(signal_exit_code)
    }
}

/// SIGINT and SIGTERM, registered once.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal and returns its number.
    #[cfg(unix)]
    async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => SIGINT,
            _ = self.term.recv() => SIGTERM,
        }
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> i32 {
        let _ = tokio::signal::ctrl_c().await;
        SIGINT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(signal_exit_code(SIGINT), 130);
        assert_eq!(signal_exit_code(SIGTERM), 143);
        assert_eq!(signal_exit_code(500), 255);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn first_signal_cancels_and_is_remembered() {
        let token = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let interrupts = Interrupts::watch("test", token.clone(), move |signo| {
            let _ = tx.send(signo);
        })
        .unwrap();
        assert_eq!(interrupts.exit_code(), None);
        rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM)
            .unwrap();
        let signo = tokio::time::timeout(std::time::Duration::from_secs(10), rx)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(signo, SIGTERM);
        assert!(token.is_cancelled());
        assert_eq!(interrupts.exit_code(), Some(143));
    }
}
