//! State shared by all connection jobs of one bench run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::BenchConfig;

/// When the run starts, when measuring starts, when sending stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline {
    pub(crate) start: Instant,
    pub(crate) measure_from: Instant,
    pub(crate) end: Instant,
}

impl Timeline {
    pub(crate) fn measured(&self, t: Instant) -> bool {
        t >= self.measure_from && t <= self.end
    }
}

/// Open loop: how early a message may be sent (timer granularity).
const EARLY: std::time::Duration = std::time::Duration::from_millis(1);

/// When one connection sends: in a closed loop, as soon as its window
/// allows; with `--rate`, on a fixed open-loop schedule, the connections'
/// schedules spread evenly over one interval. `--rate R` over `C`
/// connections and `--message-rate R/C` give the same schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    every: Option<std::time::Duration>,
    offset: std::time::Duration,
    start: Instant,
    end: Instant,
}

impl Schedule {
    pub(crate) fn new(config: &BenchConfig, id: u64, timeline: &Timeline) -> Self {
        let every = config.message_interval();
        let offset = every
            .map(|i| i.mul_f64(id as f64 / config.connections as f64))
            .unwrap_or_default();
        Self {
            every,
            offset,
            start: timeline.start,
            end: timeline.end,
        }
    }

    /// Waits until message `seq` is due. `None`: the schedule ends before
    /// it, returned once the run ends, so a connection whose rate leaves
    /// it nothing more to send is still held open for the whole run.
    /// `Some(None)`: closed loop, send now. `Some(Some(due))`: open loop,
    /// scheduled for `due`.
    pub(crate) async fn wait_for(&self, seq: u64) -> Option<Option<Instant>> {
        let Some(every) = self.every else {
            return Some(None);
        };
        let due = self.start + self.offset + every.mul_f64(seq as f64);
        if due >= self.end {
            tokio::time::sleep_until(self.end).await;
            return None;
        }
        // Timers tick in whole milliseconds: wake up to 1 ms early and send
        // then rather than up to 1 ms late.
        tokio::time::sleep_until(due.checked_sub(EARLY).unwrap_or(due)).await;
        Some(Some(due))
    }

    /// Where a message's latency starts: its scheduled time when sending is
    /// late (no coordinated omission), the real send when early or in a
    /// closed loop.
    pub(crate) fn latency_start(due: Option<Instant>, now: Instant) -> Instant {
        due.map_or(now, |d| d.min(now))
    }
}

/// Highest recordable latency: one hour in microseconds.
const MAX_US: u64 = 3_600_000_000;

pub(crate) fn new_histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_US, 3).map_err(|e| format!("histogram: {e}"))
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) latency: Mutex<Histogram<u64>>,
    pub(crate) connect: Mutex<Histogram<u64>>,
    /// Measured messages (completed inside the window).
    pub(crate) msgs: AtomicU64,
    /// Every verified message, warm-up and drain included (for progress).
    pub(crate) live_msgs: AtomicU64,
    pub(crate) mismatches: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) lost: AtomicU64,
    /// Messages sent, over the whole run.
    pub(crate) sent: AtomicU64,
    /// From the first connect to the last connection ready, microseconds.
    pub(crate) ramp_us: AtomicU64,
}

impl Shared {
    pub(crate) fn new(_config: &BenchConfig) -> Result<Self, String> {
        Ok(Self {
            latency: Mutex::new(new_histogram()?),
            connect: Mutex::new(new_histogram()?),
            msgs: AtomicU64::new(0),
            live_msgs: AtomicU64::new(0),
            mismatches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            ramp_us: AtomicU64::new(0),
        })
    }

    pub(crate) fn set_ramp(&self, ramp: std::time::Duration) {
        let us = u64::try_from(ramp.as_micros()).unwrap_or(u64::MAX);
        self.ramp_us.store(us, Relaxed);
    }

    pub(crate) fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Relaxed);
    }
}

/// A connection's latency samples, merged into [`Shared`] in batches.
#[derive(Debug)]
pub(crate) struct Recorder<'a> {
    shared: &'a Shared,
    samples: Vec<u64>,
    batch: usize,
    live: u64,
}

/// Samples a connection keeps before merging them: 512, fewer when there
/// are many connections, so all of them together hold at most 256 Ki
/// samples (2 MiB), not 8 KiB per connection (19,000 connections: 16 each).
fn batch_for(connections: usize) -> usize {
    (256 * 1024 / connections.max(1)).clamp(16, 512)
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(shared: &'a Shared, connections: usize) -> Self {
        Self {
            shared,
            samples: Vec::new(),
            batch: batch_for(connections),
            live: 0,
        }
    }

    /// One verified message that completed at `done`, due at `due`.
    pub(crate) fn message(&mut self, timeline: &Timeline, due: Instant, done: Instant) {
        self.live += 1;
        if timeline.measured(done) {
            let us = done.saturating_duration_since(due).as_micros();
            self.samples
                .push(u64::try_from(us).unwrap_or(u64::MAX).max(1));
        }
        if self.live >= 64 {
            self.shared.live_msgs.fetch_add(self.live, Relaxed);
            self.live = 0;
        }
        if self.samples.len() >= self.batch {
            self.flush();
        }
    }

    pub(crate) fn mismatch(&self) {
        self.shared.mismatches.fetch_add(1, Relaxed);
    }

    pub(crate) fn lost(&self, n: u64) {
        self.shared.lost.fetch_add(n, Relaxed);
    }

    pub(crate) fn flush(&mut self) {
        self.shared.live_msgs.fetch_add(self.live, Relaxed);
        self.live = 0;
        if self.samples.is_empty() {
            return;
        }
        self.shared
            .msgs
            .fetch_add(self.samples.len() as u64, Relaxed);
        if let Ok(mut h) = self.shared.latency.lock() {
            for &s in &self.samples {
                h.saturating_record(s);
            }
        }
        self.samples.clear();
    }
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every due time of every connection's schedule, in paused time.
    async fn due_times(config: &BenchConfig, run_for: Duration) -> Vec<Vec<Duration>> {
        let start = Instant::now();
        let timeline = Timeline {
            start,
            measure_from: start,
            end: start + run_for,
        };
        let mut all = Vec::new();
        for id in 0..config.connections as u64 {
            let schedule = Schedule::new(config, id, &timeline);
            let mut dues = Vec::new();
            let mut seq = 0;
            while let Some(due) = schedule.wait_for(seq).await {
                let due = due.expect("open loop");
                // Never sent more than the 1 ms early allowance.
                assert!(Instant::now() + EARLY >= due);
                dues.push(due - start);
                seq += 1;
            }
            all.push(dues);
        }
        all
    }

    fn config(connections: usize) -> BenchConfig {
        BenchConfig {
            connections,
            ..BenchConfig::new("127.0.0.1:9".parse().unwrap())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn message_rate_is_per_connection() {
        let config = BenchConfig {
            message_rate: Some(10.0),
            ..config(4)
        };
        assert_eq!(config.total_rate(), Some(40.0));
        let dues = due_times(&config, Duration::from_secs(2)).await;
        // 10 per second on each of the 4 connections, for 2 s.
        assert_eq!(dues.iter().map(Vec::len).sum::<usize>(), 80);
        for conn in &dues {
            assert_eq!(conn.len(), 20);
            for pair in conn.windows(2) {
                assert_eq!(pair[1] - pair[0], Duration::from_millis(100));
            }
        }
        // The connections are spread evenly over one interval.
        let firsts: Vec<Duration> = dues.iter().map(|c| c[0]).collect();
        assert_eq!(firsts, [0, 25, 50, 75].map(Duration::from_millis).to_vec());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_schedule_holds_its_connection_until_the_run_ends() {
        // 0.25 msg/s over 3 s: one message, due at the start; the next would
        // fall after the end, so the schedule ends only when the run does.
        let config = BenchConfig {
            message_rate: Some(0.25),
            ..config(1)
        };
        let start = Instant::now();
        let dues = due_times(&config, Duration::from_secs(3)).await;
        assert_eq!(dues, vec![vec![Duration::ZERO]]);
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn total_rate_and_message_rate_give_the_same_schedule() {
        let total = BenchConfig {
            rate: Some(40.0),
            ..config(4)
        };
        let per = BenchConfig {
            message_rate: Some(10.0),
            ..config(4)
        };
        assert_eq!(total.per_connection_rate(), Some(10.0));
        let a = due_times(&total, Duration::from_secs(1)).await;
        let b = due_times(&per, Duration::from_secs(1)).await;
        assert_eq!(a, b);
    }

    #[test]
    fn rate_and_message_rate_together_are_refused() {
        let both = BenchConfig {
            rate: Some(40.0),
            message_rate: Some(10.0),
            ..config(4)
        };
        let err = both.validate().unwrap_err();
        assert!(
            err.contains("--rate") && err.contains("--message-rate"),
            "{err}"
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let c = BenchConfig {
                message_rate: Some(bad),
                ..config(4)
            };
            assert!(c.validate().is_err(), "{bad}");
            let c = BenchConfig {
                connect_rate: Some(bad),
                ..config(4)
            };
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn sources_must_match_the_server_family_and_are_used_in_turn() {
        let v6 = BenchConfig {
            sources: vec!["::1".parse().unwrap()],
            ..config(4)
        };
        assert!(v6.validate().unwrap_err().contains("IP version"));
        let three = BenchConfig {
            sources: crate::client::bench::parse_sources("127.0.0.2-4").unwrap(),
            ..config(4)
        };
        let used: Vec<String> = (0..6)
            .map(|id| three.source_for(id).unwrap().to_string())
            .collect();
        assert_eq!(
            used,
            [
                "127.0.0.2",
                "127.0.0.3",
                "127.0.0.4",
                "127.0.0.2",
                "127.0.0.3",
                "127.0.0.4"
            ]
        );
        assert_eq!(config(4).source_for(0), None);
    }
}
