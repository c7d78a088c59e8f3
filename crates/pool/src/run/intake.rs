//! The intake: inputs pulled from the source, numbered and keyed.

use std::task::{Context, Poll};

use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};

use super::KeyFn;

/// An input taken from the source but not started yet.
pub(super) struct Pending<I> {
    pub(super) index: u64,
    pub(super) input: I,
    pub(super) key: Option<String>,
}

/// The input source, until it ends or the run stops, and what turns each
/// item into a [`Pending`] input: its index and its key.
pub(super) struct Intake<I> {
    source: Option<BoxStream<'static, I>>,
    key_of: Option<KeyFn<I>>,
    next_index: u64,
}

impl<I> Intake<I> {
    pub(super) fn new(source: BoxStream<'static, I>, key_of: Option<KeyFn<I>>) -> Self {
        Intake {
            source: Some(source),
            key_of,
            next_index: 0,
        }
    }

    /// The source may still give input.
    #[inline]
    pub(super) fn is_open(&self) -> bool {
        self.source.is_some()
    }

    /// Drops the source: it ended, or the run stopped.
    pub(super) fn close(&mut self) {
        self.source = None;
    }

    /// The index the next input will get.
    #[inline]
    pub(super) fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The next input if the source has one ready now (an iterator always
    /// has); closes the intake when the source ends.
    #[inline]
    pub(super) fn next_now(&mut self) -> Option<I> {
        let source = self.source.as_mut()?;
        match source.next().now_or_never() {
            Some(Some(item)) => Some(item),
            Some(None) => {
                self.source = None;
                None
            }
            None => None,
        }
    }

    /// Polls the source (`Pending` if it is closed); the caller closes the
    /// intake on `Ready(None)`.
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<I>> {
        match self.source.as_mut() {
            Some(source) => source.poll_next_unpin(cx),
            None => Poll::Pending,
        }
    }

    /// Numbers and keys one input taken from the source.
    #[inline]
    pub(super) fn pending(&mut self, input: I) -> Pending<I> {
        let index = self.next_index;
        self.next_index += 1;
        let key = self.key_of.as_ref().map(|key_of| key_of(&input));
        Pending { index, input, key }
    }
}
