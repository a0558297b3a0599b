//! Per-file delivery tracking: batches are acknowledged out of order, the checkpoint advances
//! only over an unbroken run of delivered batches.

use std::collections::VecDeque;

#[derive(Debug)]
struct InFlight {
    seq: u64,
    end: u64,
    delivered: bool,
}

/// The batches of one file that were handed on and not yet settled.
#[derive(Debug)]
pub(crate) struct AckWindow {
    next_seq: u64,
    inflight: VecDeque<InFlight>,
    committed: u64,
}

/// What settling a batch changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// The committed offset moved.
    Advanced(u64),
    /// Recorded; the committed offset waits for an earlier batch.
    Waiting,
    /// A batch failed: read again from this offset (later batches in flight are forgotten,
    /// so they may arrive twice: at-least-once).
    Rewind(u64),
    /// Not a batch of this window (forgotten after a rewind).
    Unknown,
}

impl AckWindow {
    /// A window whose data up to `committed` is already delivered.
    pub(crate) fn new(committed: u64) -> AckWindow {
        AckWindow {
            next_seq: 0,
            inflight: VecDeque::new(),
            committed,
        }
    }

    /// The offset up to which everything is delivered.
    pub(crate) fn committed(&self) -> u64 {
        self.committed
    }

    /// Batches not yet settled.
    pub(crate) fn len(&self) -> usize {
        self.inflight.len()
    }

    /// Whether nothing is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.inflight.is_empty()
    }

    /// Records a batch ending at `end`; returns its sequence number.
    pub(crate) fn push(&mut self, end: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.inflight.push_back(InFlight {
            seq,
            end,
            delivered: false,
        });
        seq
    }

    /// Settles batch `seq`.
    pub(crate) fn settle(&mut self, seq: u64, delivered: bool) -> Settled {
        let Some(entry) = self.inflight.iter_mut().find(|e| e.seq == seq) else {
            return Settled::Unknown;
        };
        if !delivered {
            self.inflight.clear();
            return Settled::Rewind(self.committed);
        }
        entry.delivered = true;
        let before = self.committed;
        while let Some(front) = self.inflight.front()
            && front.delivered
        {
            self.committed = front.end;
            self.inflight.pop_front();
        }
        if self.committed != before {
            Settled::Advanced(self.committed)
        } else {
            Settled::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_only_over_contiguous_deliveries() {
        let mut w = AckWindow::new(10);
        let a = w.push(20);
        let b = w.push(30);
        let c = w.push(40);
        assert_eq!(w.settle(b, true), Settled::Waiting);
        assert_eq!(w.committed(), 10);
        assert_eq!(w.settle(a, true), Settled::Advanced(30));
        assert_eq!(w.settle(c, true), Settled::Advanced(40));
        assert!(w.is_empty());
    }

    #[test]
    fn failure_rewinds_to_the_last_committed_offset() {
        let mut w = AckWindow::new(0);
        let a = w.push(10);
        let b = w.push(20);
        let c = w.push(30);
        assert_eq!(w.settle(a, true), Settled::Advanced(10));
        assert_eq!(w.settle(b, false), Settled::Rewind(10));
        assert_eq!(w.settle(c, true), Settled::Unknown);
        assert_eq!(w.committed(), 10);
        assert_eq!(w.len(), 0);
    }
}
