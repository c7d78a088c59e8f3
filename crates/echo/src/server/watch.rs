//! What a connection's echo loop runs under: the context every connection
//! shares ([`ConnCtx`]), how a loop ends ([`End`], [`Stop`]), and the
//! [`Watch`] that turns idle timeouts, shutdown (drain) and force into a
//! clean stop. The echo loops (`raw.rs`, `line.rs`) and the set-up
//! (`conn.rs`) depend on it; it depends on neither.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::ServerConfig;
use super::phase::{Phase, PhaseListener, Phases};
use super::stats::Stats;

/// After shutdown starts, a connection whose peer sent nothing for this long
/// is closed (write side first, so the peer sees a clean EOF).
pub(crate) const DRAIN_QUIET: Duration = Duration::from_millis(200);

/// Shortest re-arm of the timer, so a deadline at "now" cannot spin.
const MIN_REARM: Duration = Duration::from_millis(1);

/// What every connection task shares.
#[derive(Debug, Clone)]
pub(crate) struct ConnCtx {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) stats: Arc<Stats>,
    /// Cancelled when shutdown starts (watched by the accept loop).
    pub(crate) drain: CancellationToken,
    /// Draining, then forced: what the connections watch.
    pub(crate) phases: Arc<Phases>,
}

/// Why an echo loop stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The grace period ended.
    Forced,
    /// Nothing moved for `--idle-timeout`.
    Idle,
    /// Shutdown started and the peer has gone quiet.
    Drained,
}

/// How an echo loop ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The peer closed its side; everything was echoed.
    PeerClosed,
    Stopped(Stop),
    /// Line mode: a line exceeded `--max-line`.
    LineTooLong,
    Io(std::io::Error),
}

/// Waits until the peer has sent a byte (or closed), without a buffer.
///
/// `readable()` alone can report a fresh socket ready before any byte came
/// in; a one-byte `peek` checks for real (and clears stale readiness).
pub(crate) async fn wait_for_data(stream: &TcpStream, watch: &mut Watch) -> Result<(), End> {
    let mut probe = [0u8; 1];
    match watch.run(stream.peek(&mut probe), true).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(End::Io(e)),
        Err(stop) => Err(End::Stopped(stop)),
    }
}

/// Waits on connection I/O while watching the shutdown phase and the idle /
/// drain-quiet deadline. The timer is created once per connection so the
/// hot path registers nothing new.
pub(crate) struct Watch {
    phase: PhaseListener,
    draining: bool,
    idle: Option<Duration>,
    last_activity: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Watch {
    pub(crate) fn new(ctx: &ConnCtx) -> Self {
        let mut watch = Self {
            phase: ctx.phases.listen(),
            draining: false,
            idle: ctx.config.idle_timeout,
            last_activity: Instant::now(),
            timer: None,
        };
        if watch.phase.current() >= Phase::Draining {
            watch.start_draining();
        }
        watch.arm();
        watch
    }

    /// Records that bytes moved.
    #[inline]
    pub(crate) fn activity(&mut self) {
        if self.timer.is_some() {
            self.last_activity = Instant::now();
        }
    }

    fn start_draining(&mut self) {
        self.draining = true;
        self.last_activity = Instant::now();
        self.arm();
        let deadline = self.deadline();
        if let (Some(timer), Some(deadline)) = (self.timer.as_mut(), deadline) {
            timer.as_mut().reset(deadline);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let idle = self.idle.map(|d| self.last_activity + d);
        let quiet = self.draining.then(|| self.last_activity + DRAIN_QUIET);
        match (idle, quiet) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn arm(&mut self) {
        if self.timer.is_none()
            && let Some(deadline) = self.deadline()
        {
            self.timer = Some(Box::pin(tokio::time::sleep_until(deadline)));
        }
    }

    /// Runs `io` to completion unless a stop condition comes first.
    /// `reading` says whether the connection is waiting for the peer (only
    /// then does a quiet peer end a draining connection).
    pub(crate) async fn run<F: Future>(&mut self, io: F, reading: bool) -> Result<F::Output, Stop> {
        let mut io = pin!(io);
        loop {
            let event = poll_fn(|cx| {
                // I/O first: when it is ready nothing else is polled.
                if let Poll::Ready(out) = io.as_mut().poll(cx) {
                    return Poll::Ready(Event::Done(out));
                }
                match self.phase.poll_phase(cx) {
                    Phase::Forced => return Poll::Ready(Event::Forced),
                    Phase::Draining if !self.draining => return Poll::Ready(Event::Drain),
                    _ => {}
                }
                let timer_fired = self
                    .timer
                    .as_mut()
                    .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
                if timer_fired {
                    Poll::Ready(Event::Timer)
                } else {
                    Poll::Pending
                }
            })
            .await;
            match event {
                Event::Done(out) => return Ok(out),
                Event::Forced => return Err(Stop::Forced),
                Event::Drain => self.start_draining(),
                Event::Timer => {
                    let now = Instant::now();
                    if self.idle.is_some_and(|d| now >= self.last_activity + d) {
                        return Err(Stop::Idle);
                    }
                    if reading && self.draining && now >= self.last_activity + DRAIN_QUIET {
                        return Err(Stop::Drained);
                    }
                    // Activity moved the deadline: sleep again until then.
                    let next = self
                        .deadline()
                        .map(|d| d.max(now + if reading { MIN_REARM } else { DRAIN_QUIET / 4 }));
                    if let (Some(t), Some(next)) = (self.timer.as_mut(), next) {
                        t.as_mut().reset(next);
                    }
                }
            }
        }
    }
}

enum Event<T> {
    Done(T),
    Forced,
    Drain,
    Timer,
}
