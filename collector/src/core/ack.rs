//! Delivery acknowledgement.
//!
//! A receiver that needs to know when its data is safe (the file-tail receiver advancing its
//! checkpoint, a disk queue deleting a segment) attaches an [`Ack`] to the batch it hands on. Every
//! fan-out copy holds a claim; each claim is settled as delivered or failed by whoever finishes
//! with it, and a claim dropped without being settled counts as failed, so data lost to a bug or a
//! panic can never look delivered. When the last claim is gone the receiver's [`Delivery`] resolves.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

/// The receiver's end: resolves to `true` when every copy of the data was delivered.
#[derive(Debug)]
pub struct Delivery {
    rx: oneshot::Receiver<bool>,
}

impl Delivery {
    /// Waits for the outcome. `false` if any copy failed or was dropped unsettled.
    pub async fn outcome(self) -> bool {
        self.rx.await.unwrap_or(false)
    }
}

#[derive(Debug)]
struct Shared {
    failed: AtomicBool,
    tx: Mutex<Option<oneshot::Sender<bool>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let ok = !self.failed.load(Ordering::Acquire);
        if let Ok(mut tx) = self.tx.lock()
            && let Some(tx) = tx.take()
        {
            // The receiver may have stopped waiting; nothing to tell then.
            let _ = tx.send(ok);
        }
    }
}

/// One claim on an acknowledgement.
#[derive(Debug)]
pub struct Ack {
    shared: Arc<Shared>,
    settled: bool,
}

impl Ack {
    /// A new acknowledgement and the receiver's end of it.
    pub fn new() -> (Ack, Delivery) {
        let (tx, rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            failed: AtomicBool::new(false),
            tx: Mutex::new(Some(tx)),
        });
        (
            Ack {
                shared,
                settled: false,
            },
            Delivery { rx },
        )
    }

    /// Another claim on the same acknowledgement.
    pub fn fork(&self) -> Ack {
        Ack {
            shared: Arc::clone(&self.shared),
            settled: false,
        }
    }

    /// Settles this claim.
    pub fn settle(mut self, delivered: bool) {
        if !delivered {
            self.shared.failed.store(true, Ordering::Release);
        }
        self.settled = true;
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if !self.settled {
            self.shared.failed.store(true, Ordering::Release);
        }
    }
}

/// The claims a batch carries (batches merged by the batch processor carry several).
#[derive(Debug, Default)]
pub struct AckSet {
    acks: Vec<Ack>,
}

impl AckSet {
    /// Adds a claim.
    pub fn push(&mut self, ack: Ack) {
        self.acks.push(ack);
    }

    /// Moves all claims of `other` into this set.
    pub fn extend(&mut self, other: AckSet) {
        self.acks.extend(other.acks);
    }

    /// A second claim on every acknowledgement in this set.
    pub fn fork(&self) -> AckSet {
        AckSet {
            acks: self.acks.iter().map(Ack::fork).collect(),
        }
    }

    /// Whether any claim is attached.
    pub fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    /// Settles every claim.
    pub fn settle(self, delivered: bool) {
        for ack in self.acks {
            ack.settle(delivered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn all_copies_delivered_resolves_true() {
        let (ack, delivery) = Ack::new();
        let copy = ack.fork();
        ack.settle(true);
        copy.settle(true);
        assert!(delivery.outcome().await);
    }

    #[tokio::test]
    async fn one_failed_copy_resolves_false() {
        let (ack, delivery) = Ack::new();
        let copy = ack.fork();
        ack.settle(true);
        copy.settle(false);
        assert!(!delivery.outcome().await);
    }

    #[tokio::test]
    async fn dropped_unsettled_counts_as_failed() {
        let (ack, delivery) = Ack::new();
        let mut set = AckSet::default();
        set.push(ack);
        let forked = set.fork();
        set.settle(true);
        drop(forked);
        assert!(!delivery.outcome().await);
    }

    #[tokio::test]
    async fn outcome_waits_for_the_last_claim() {
        let (ack, delivery) = Ack::new();
        let copy = ack.fork();
        ack.settle(true);
        let waiter = tokio::spawn(delivery.outcome());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        copy.settle(true);
        assert!(waiter.await.unwrap());
    }
}
