//! Decisions remembered after their trace left the held buffer, so that spans and records
//! arriving late follow them. Bounded: the oldest decision is forgotten first (FIFO).

use std::collections::{HashMap, VecDeque};

use super::super::window::TraceId;

/// A bounded map from trace id to "kept?", forgetting the oldest entry beyond its capacity.
#[derive(Debug)]
pub(crate) struct DecisionCache {
    /// Trace ids are chosen by clients: a seeded hasher.
    map: HashMap<TraceId, bool, foldhash::fast::RandomState>,
    order: VecDeque<TraceId>,
    capacity: usize,
}

impl DecisionCache {
    /// An empty cache for `capacity` decisions (at least one).
    pub(crate) fn new(capacity: usize) -> DecisionCache {
        DecisionCache {
            map: HashMap::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers a decision; returns how many older ones were forgotten to make room.
    pub(crate) fn insert(&mut self, id: TraceId, keep: bool) -> usize {
        if let Some(old) = self.map.get_mut(&id) {
            *old = keep;
            return 0;
        }
        let mut evicted = 0;
        while self.map.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&oldest);
            evicted += 1;
        }
        self.map.insert(id, keep);
        self.order.push_back(id);
        evicted
    }

    /// The decision on `id`, if remembered.
    pub(crate) fn get(&self, id: &TraceId) -> Option<bool> {
        self.map.get(id).copied()
    }

    /// Decisions remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TraceId {
        [n; 16]
    }

    #[test]
    fn remembers_up_to_capacity_and_forgets_the_oldest() {
        let mut c = DecisionCache::new(3);
        assert_eq!(c.insert(id(1), true), 0);
        assert_eq!(c.insert(id(2), false), 0);
        assert_eq!(c.insert(id(3), true), 0);
        assert_eq!(c.insert(id(4), false), 1);
        assert_eq!(c.get(&id(1)), None);
        assert_eq!(c.get(&id(2)), Some(false));
        assert_eq!(c.get(&id(4)), Some(false));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn deciding_again_updates_without_growing() {
        let mut c = DecisionCache::new(2);
        c.insert(id(1), false);
        assert_eq!(c.insert(id(1), true), 0);
        assert_eq!(c.get(&id(1)), Some(true));
        assert_eq!(c.len(), 1);
        c.insert(id(2), true);
        c.insert(id(3), true);
        assert_eq!(c.get(&id(1)), None);
        assert_eq!(c.len(), 2);
    }
}
