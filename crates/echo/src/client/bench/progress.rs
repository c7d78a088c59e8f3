//! The live progress line (only when stderr is a terminal).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::shared::{Shared, Timeline};

pub(crate) struct Progress {
    bar: ProgressBar,
    task: JoinHandle<()>,
}

pub(crate) fn spawn(shared: Arc<Shared>, timeline: Timeline) -> Progress {
    let total = timeline.end.saturating_duration_since(timeline.start);
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(total.as_millis()).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr_with_hz(4),
    );
    if let Ok(style) = ProgressStyle::with_template("{bar:20} {msg}") {
        bar.set_style(style);
    }
    let b = bar.clone();
    let task = tokio::spawn(async move {
        let mut last = (Instant::now(), 0u64);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let now = Instant::now();
            let msgs = shared.live_msgs.load(Relaxed);
            let rate = (msgs - last.1.min(msgs)) as f64
                / now.duration_since(last.0).as_secs_f64().max(1e-3);
            last = (now, msgs);
            let phase = if now < timeline.measure_from {
                "warm-up"
            } else if now <= timeline.end {
                "measuring"
            } else {
                "draining"
            };
            b.set_position(
                u64::try_from(now.saturating_duration_since(timeline.start).as_millis())
                    .unwrap_or(u64::MAX),
            );
            b.set_message(format!(
                "{phase} {:.1}s  {:.0} msgs/s  errors {}  mismatches {}",
                now.saturating_duration_since(timeline.start).as_secs_f64(),
                rate,
                shared.errors.load(Relaxed),
                shared.mismatches.load(Relaxed)
            ));
        }
    });
    Progress { bar, task }
}

impl Progress {
    pub(crate) async fn finish(self) {
        self.task.abort();
        let _ = self.task.await;
        self.bar.finish_and_clear();
    }
}
