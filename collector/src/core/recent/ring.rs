//! A list bounded by count that keeps records which are still open (an episode or alert not
//! resolved) in preference to closed ones, and counts what it evicts.

use std::collections::VecDeque;

use serde::Serialize;

/// A record that may still change (open) or is final (closed).
pub(crate) trait Openable {
    /// Whether it is still open.
    fn is_open(&self) -> bool;
}

/// At most `capacity` records, oldest first.
#[derive(Debug)]
pub(crate) struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
    evicted: u64,
}

/// A copy of a list for an answer: open records first, then closed ones, newest first.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Listed<T> {
    /// The records.
    pub(crate) items: Vec<T>,
    /// The most the list keeps.
    pub(crate) capacity: usize,
    /// Records dropped to make room since start.
    pub(crate) evicted: u64,
}

impl<T: Openable + Clone> Ring<T> {
    /// An empty ring of `capacity` (at least 1).
    pub(crate) fn new(capacity: usize) -> Ring<T> {
        Ring {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    /// Adds `item` as the newest, evicting the oldest closed record (the oldest record when
    /// all are open) when full.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() >= self.capacity {
            let victim = self.items.iter().position(|i| !i.is_open()).unwrap_or(0);
            self.items.remove(victim);
            self.evicted += 1;
        }
        self.items.push_back(item);
    }

    /// The newest open record `matches` accepts, to update it.
    pub(crate) fn newest_open_mut(&mut self, matches: impl Fn(&T) -> bool) -> Option<&mut T> {
        self.items
            .iter_mut()
            .rev()
            .find(|i| i.is_open() && matches(i))
    }

    /// How many records it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Open records first, then closed, each newest first (by insertion).
    pub(crate) fn listed(&self) -> Listed<T> {
        let open = self.items.iter().rev().filter(|i| i.is_open());
        let closed = self.items.iter().rev().filter(|i| !i.is_open());
        Listed {
            items: open.chain(closed).cloned().collect(),
            capacity: self.capacity,
            evicted: self.evicted,
        }
    }
}
