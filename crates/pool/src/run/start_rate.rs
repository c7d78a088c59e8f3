//! The start-rate limit ([`crate::PoolBuilder::rate`]): `governor`'s GCRA,
//! read through tokio's clock so that `tokio::time::pause()` drives it in
//! tests like every other timer, and the wait for the next allowed start.

use std::num::NonZeroU32;
use std::task::Context;
use std::time::Duration;

use governor::clock::Clock;
use governor::{Quota, RateLimiter};

use super::timer::Timer;

/// governor clock backed by `tokio::time::Instant`.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    TokioClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

/// Allows `per_second` starts per second on average, `burst` at once.
#[derive(Debug)]
struct Gcra {
    limiter: Limiter,
    clock: TokioClock,
}

impl Gcra {
    fn new(per_second: f64, burst: u32) -> Gcra {
        let per_second = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            f64::MIN_POSITIVE
        };
        let period = Duration::from_secs_f64((1.0 / per_second).min(1.0e9));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        Gcra {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// `None` if a job may start now (and takes the slot), otherwise how
    /// long to wait before asking again.
    fn try_start(&self) -> Option<Duration> {
        match self.limiter.check() {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
    }
}

/// The run's start rate: no limit, or the limiter and, while it refuses,
/// the timer for when to ask again.
pub(super) struct StartRate {
    limit: Option<Gcra>,
    wait: Timer,
}

impl StartRate {
    pub(super) fn new(rate: Option<(f64, u32)>) -> StartRate {
        StartRate {
            limit: rate.map(|(per_second, burst)| Gcra::new(per_second, burst)),
            wait: Timer::default(),
        }
    }

    /// Refused a start and waiting for the limiter: no job starts and no
    /// input is pulled until [`StartRate::poll_ready`] says so.
    #[inline]
    pub(super) fn is_waiting(&self) -> bool {
        self.wait.is_set()
    }

    /// Takes a start if the limit allows one now; otherwise arms the wait
    /// and returns `false`.
    #[inline]
    pub(super) fn try_start(&mut self) -> bool {
        match self.limit.as_ref().and_then(Gcra::try_start) {
            None => true,
            Some(wait) => {
                self.wait.set(wait);
                false
            }
        }
    }

    /// `true` once the wait is over (and clears it).
    pub(super) fn poll_ready(&mut self, cx: &mut Context<'_>) -> bool {
        self.wait.poll_fired(cx)
    }

    /// The run stopped: no more starts to wait for.
    pub(super) fn stop(&mut self) {
        self.wait.clear();
    }
}
