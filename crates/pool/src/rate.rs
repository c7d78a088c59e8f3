//! The start-rate limiter: `governor`'s GCRA, read through tokio's clock so
//! that `tokio::time::pause()` drives it in tests like every other timer.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{Quota, RateLimiter};

/// governor clock backed by `tokio::time::Instant`.
#[derive(Debug, Clone)]
pub(crate) struct TokioClock {
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
pub(crate) struct StartRate {
    limiter: Limiter,
    clock: TokioClock,
}

impl StartRate {
    pub(crate) fn new(per_second: f64, burst: u32) -> StartRate {
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
        StartRate {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// `None` if a job may start now (and takes the slot), otherwise how
    /// long to wait before asking again.
    pub(crate) fn try_start(&self) -> Option<Duration> {
        match self.limiter.check() {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
    }
}
