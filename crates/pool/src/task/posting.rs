//! The outer shape of every job task: run the work, post what it returns.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::Finished;
use super::attempt::panic_message;
use crate::completions::Ticket;
use crate::outcome::Outcome;

pin_project! {
    /// A job task: runs `work` and posts what it returns with the ticket.
    /// A panic anywhere in `work` is caught and posted as `Panicked`; if
    /// the task is aborted instead, the ticket's drop posts that.
    pub(super) struct Posting<W, T, E> {
        #[pin]
        work: W,
        ticket: Option<Ticket<Finished<T, E>>>,
    }
}

impl<W, T, E> Posting<W, T, E> {
    pub(super) fn new(work: W, ticket: Ticket<Finished<T, E>>) -> Self {
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
