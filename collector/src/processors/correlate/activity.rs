//! The window's activity index: trace ids in order of last activity, oldest first.
//!
//! A FIFO of `(seq, id)` entries with lazy deletion: a trace active again gets a new entry at
//! the back (a higher `seq`) and its old one stays where it was, stale. An entry is live while
//! its trace's current `seq` is the entry's ([`Activity::pop_oldest`] and the iterators are
//! told how to check); stale entries are skipped when met at the front and dropped all at once
//! ([`Activity::compact`]) when they outnumber the live ones, so the queue holds at most about
//! twice as many entries as there are traces. Each operation is O(1) amortised and touches
//! only the queue's ends, where a `BTreeMap` walked and rebalanced nodes per new trace.

use std::collections::VecDeque;

use super::trace::TraceId;

/// Trace ids by last activity (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct Activity {
    queue: VecDeque<(u64, TraceId)>,
    /// Entries of the queue that are stale (exactly: an entry goes stale only when its trace
    /// gets a newer one, and leaves only from the front or at compaction).
    stale: usize,
}

impl Activity {
    /// The most recent entry.
    pub(super) fn newest(&self) -> Option<&(u64, TraceId)> {
        self.queue.back()
    }

    /// Records that trace `id` is active at `seq` (higher than any before); `was` is the
    /// trace's previous `seq` if it was held, whose entry becomes stale.
    pub(super) fn push(&mut self, seq: u64, id: TraceId, was: Option<u64>) {
        if was.is_some() {
            self.stale += 1;
        }
        self.queue.push_back((seq, id));
    }

    /// Whether stale entries outnumber the `live` ones (then [`Activity::compact`]).
    pub(super) fn needs_compaction(&self, live: usize) -> bool {
        self.stale > live
    }

    /// Drops the stale entries (`live(seq, id)` tells), keeping the order of the others.
    pub(super) fn compact(&mut self, live: impl Fn(u64, &TraceId) -> bool) {
        self.queue.retain(|(seq, id)| live(*seq, id));
        self.stale = 0;
    }

    /// The least recently active live entry, stale entries before it dropped; it stays.
    pub(super) fn oldest(
        &mut self,
        live: impl Fn(u64, &TraceId) -> bool,
    ) -> Option<&(u64, TraceId)> {
        // Without stale entries (every entry is a held trace's: the usual case, traces not
        // active again after others) the front is live: no lookup.
        while self.stale > 0
            && let Some((seq, id)) = self.queue.front()
        {
            if live(*seq, id) {
                break;
            }
            self.queue.pop_front();
            self.stale = self.stale.saturating_sub(1);
        }
        self.queue.front()
    }

    /// Takes out the least recently active live entry, stale entries before it dropped.
    pub(super) fn pop_oldest(&mut self, live: impl Fn(u64, &TraceId) -> bool) -> Option<TraceId> {
        self.oldest(live)?;
        self.queue.pop_front().map(|(_, id)| id)
    }

    /// Live entries, most recently active first.
    pub(super) fn newest_first<'a>(
        &'a self,
        live: impl Fn(u64, &TraceId) -> bool + 'a,
    ) -> impl Iterator<Item = &'a TraceId> + 'a {
        self.queue
            .iter()
            .rev()
            .filter(move |(seq, id)| live(*seq, id))
            .map(|(_, id)| id)
    }

    /// Entries held, stale ones included.
    #[cfg(test)]
    pub(super) fn entries(&self) -> usize {
        self.queue.len()
    }
}
