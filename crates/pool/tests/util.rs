//! Helpers for the pool's tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// Tracks how many jobs run at once and the highest that count reached.
#[derive(Debug, Default, Clone)]
pub struct HighWater {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl HighWater {
    pub fn enter(&self) -> Guard {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        Guard(Arc::clone(&self.now))
    }

    pub fn max(&self) -> usize {
        self.max.load(SeqCst)
    }

    pub fn now(&self) -> usize {
        self.now.load(SeqCst)
    }
}

pub struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// An iterator that counts how far it has been advanced.
pub struct Counted<I> {
    pub inner: I,
    pub pulled: Arc<AtomicUsize>,
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next();
        if item.is_some() {
            self.pulled.fetch_add(1, SeqCst);
        }
        item
    }
}

pub fn counted<I: Iterator>(inner: I) -> (Counted<I>, Arc<AtomicUsize>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    (
        Counted {
            inner,
            pulled: Arc::clone(&pulled),
        },
        pulled,
    )
}
