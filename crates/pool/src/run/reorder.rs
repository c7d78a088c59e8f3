//! The ordered-output buffer ([`crate::PoolBuilder::ordered`]): reports
//! held until every earlier input has been reported.

use std::collections::BTreeMap;

use crate::outcome::Report;

/// Hands reports out in input order, holding early ones back. The window
/// bounds how far the intake may run ahead of the oldest unreported input,
/// and so how many reports this holds. Unordered, it passes reports
/// straight through and holds none.
pub(super) struct Reorder<I, T, E> {
    /// The window, when ordered.
    window: Option<u64>,
    held: BTreeMap<u64, Report<I, T, E>>,
    /// The index of the next report to hand out.
    next: u64,
}

impl<I, T, E> Reorder<I, T, E> {
    pub(super) fn new(ordered: bool, window: usize) -> Self {
        Reorder {
            window: ordered.then_some(window as u64),
            held: BTreeMap::new(),
            next: 0,
        }
    }

    /// May the input numbered `index` be taken now?
    #[inline]
    pub(super) fn admits(&self, index: u64) -> bool {
        self.window.is_none_or(|window| index < self.next + window)
    }

    /// A finished report: back at once when unordered; otherwise held, and
    /// the next report in order if there is one now.
    #[inline]
    pub(super) fn pass(&mut self, report: Report<I, T, E>) -> Option<Report<I, T, E>> {
        if self.window.is_none() {
            return Some(report);
        }
        self.held.insert(report.index, report);
        self.pop()
    }

    /// The next report in input order, if it is held.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Report<I, T, E>> {
        let report = self.held.remove(&self.next)?;
        self.next += 1;
        Some(report)
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}
