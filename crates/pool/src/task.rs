//! The futures that job tasks run.
//!
//! They are written by hand, not as `async` blocks: an `async` block keeps
//! its captures and its suspended locals in separate fields, which made the
//! pool's task future 144 bytes around a 16-byte job. Every byte of it is
//! allocated, moved and freed once per job, so the hot path's task shape,
//! [`Posting`] around [`Timed`], adds only a clock reading and a ticket to
//! the job's own future.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::completions::Ticket;
use crate::outcome::Outcome;

/// What a job task hands back; the task times itself, off the driver.
pub(crate) struct Finished<T, E> {
    pub(crate) outcome: Outcome<T, E>,
    /// 0 when the task panicked outside an attempt and could not count.
    pub(crate) attempts: u32,
    pub(crate) elapsed: Duration,
}

pin_project! {
    /// A job task: runs `work` and posts what it returns with the ticket.
    /// A panic anywhere in `work` is caught and posted as `Panicked`; if
    /// the task is aborted instead, the ticket's drop posts that.
    pub(crate) struct Posting<W, T, E> {
        #[pin]
        work: W,
        ticket: Option<Ticket<Finished<T, E>>>,
    }
}

impl<W, T, E> Posting<W, T, E> {
    pub(crate) fn new(work: W, ticket: Ticket<Finished<T, E>>) -> Self {
        Posting {
            work,
            ticket: Some(ticket),
        }
    }
}

impl<W, T, E> Future for Posting<W, T, E>
where
    W: Future<Output = Finished<T, E>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let work = this.work;
        let finished = match std::panic::catch_unwind(AssertUnwindSafe(|| work.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(finished)) => finished,
            // Outside the job's own future (a retry classifier, say): the
            // attempt count is left for the driver to fill in.
            Err(payload) => Finished {
                outcome: Outcome::Panicked(panic_message(payload)),
                attempts: 0,
                elapsed: Duration::ZERO,
            },
        };
        if let Some(ticket) = this.ticket.take() {
            ticket.post(finished);
        }
        Poll::Ready(())
    }
}

pin_project! {
    /// One attempt with neither timeout nor retries, timed from its first
    /// poll to its end; a panic in it becomes `Panicked`.
    pub(crate) struct Timed<Fut> {
        #[pin]
        attempt: Fut,
        start: Option<Instant>,
    }
}

impl<Fut> Timed<Fut> {
    pub(crate) fn new(attempt: Fut) -> Self {
        Timed {
            attempt,
            start: None,
        }
    }
}

impl<Fut, T, E> Future for Timed<Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Finished<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Finished<T, E>> {
        let this = self.project();
        let start = *this.start.get_or_insert_with(Instant::now);
        let attempt = this.attempt;
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| attempt.poll(cx))) {
            Ok(result) => Outcome::from_result(ready!(result)),
            Err(payload) => Outcome::Panicked(panic_message(payload)),
        };
        Poll::Ready(Finished {
            outcome,
            attempts: 1,
            elapsed: start.elapsed(),
        })
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
