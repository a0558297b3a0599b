//! What a receiver hands its data to: the entry queues of every pipeline it feeds.

use std::fmt;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use super::{Batch, Hold, MemoryBudget, OverBudget};

/// Hands batches to the pipelines a receiver feeds for one signal.
///
/// A batch is taken by all pipelines or by none: the receiver can then refuse the request as a
/// whole and the client's retry never duplicates data in the pipelines that had room.
///
/// Every batch holds room in the process's [`MemoryBudget`] while it is in flight: a receiver
/// that reserved it while reading the request attaches it (see [`Consumer::budget`]); for one
/// that did not, the consumer reserves the payload's size before handing it on.
///
/// Clones share one route: a config reload [`retarget`](Consumer::retarget)s a running
/// receiver's consumers at the new pipelines without restarting it.
#[derive(Clone, Debug)]
pub struct Consumer {
    route: Arc<RwLock<Arc<Route>>>,
    budget: MemoryBudget,
}

/// Where a consumer's batches go; replaced whole by [`Consumer::retarget`]. A send in progress
/// keeps the route it started with, so the old pipelines still get (and drain) its batch.
#[derive(Debug)]
struct Route {
    pipelines: Arc<[mpsc::Sender<Batch>]>,
    waits_for_queues: bool,
}

/// Why a batch was not taken. The batch comes back so nothing is lost by refusing.
pub struct Refused {
    /// The batch, unchanged.
    pub batch: Batch,
    closed: bool,
    over_budget: Option<OverBudget>,
}

impl Refused {
    /// True when the pipeline is shutting down, false when it is only full or over the memory
    /// budget (retry later).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The memory budget refused the batch (`None`: a pipeline was full or closed).
    pub fn over_budget(&self) -> Option<OverBudget> {
        self.over_budget
    }
}

impl fmt::Debug for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("items", &self.batch.items)
            .field("closed", &self.closed)
            .field("over_budget", &self.over_budget)
            .finish()
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            f.write_str("the collector is shutting down")
        } else if let Some(over) = self.over_budget {
            write!(f, "{over}")
        } else {
            f.write_str("the pipeline is full, retry later")
        }
    }
}

impl Consumer {
    /// A consumer feeding the given pipeline entry queues, with no memory limit.
    pub fn new(pipelines: Vec<mpsc::Sender<Batch>>) -> Consumer {
        Consumer::with_budget(pipelines, MemoryBudget::unlimited())
    }

    /// A consumer feeding the given pipeline entry queues, holding room in `budget`.
    pub fn with_budget(pipelines: Vec<mpsc::Sender<Batch>>, budget: MemoryBudget) -> Consumer {
        Consumer {
            route: Arc::new(RwLock::new(Arc::new(Route {
                pipelines: pipelines.into(),
                waits_for_queues: false,
            }))),
            budget,
        }
    }

    fn route(&self) -> Arc<Route> {
        let route = self
            .route
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&route)
    }

    /// Points this consumer and its clones at other pipeline entry queues (a config reload).
    /// Sends already under way finish on the old queues, which then drain and close.
    pub(crate) fn retarget(&self, pipelines: Vec<mpsc::Sender<Batch>>, waits_for_queues: bool) {
        let route = Arc::new(Route {
            pipelines: pipelines.into(),
            waits_for_queues,
        });
        let old = std::mem::replace(
            &mut *self
                .route
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            route,
        );
        // Dropped outside the lock: it may hold the last sender of an old pipeline.
        drop(old);
    }

    /// Marks a consumer whose pipelines end in a persistent sending queue: a receiver that
    /// answers its client should then attach an [`Ack`](super::Ack) and answer only once it
    /// resolves — the data is then on disk (or delivered, for an exporter without one).
    #[must_use]
    pub fn waiting_for_queues(self, waits: bool) -> Consumer {
        let pipelines = Arc::clone(&self.route().pipelines);
        *self
            .route
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Route {
            pipelines,
            waits_for_queues: waits,
        });
        self
    }

    /// Whether a receiver should wait for its batches' acknowledgements before answering its
    /// client (see [`Consumer::waiting_for_queues`]).
    pub fn waits_for_queues(&self) -> bool {
        self.route().waits_for_queues
    }

    /// The memory budget: a receiver reserves room in it before it buffers a request.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Hands the batch on without waiting; refuses it whole if any pipeline is full or the
    /// memory budget has no room for it.
    pub fn try_send(&self, mut batch: Batch) -> Result<(), Refused> {
        if !batch.hold.is_reserved() {
            match self.budget.try_reserve(batch.payload.len() as u64) {
                Ok(reservation) => batch.hold.extend(Hold::reserved(reservation)),
                Err(over) => {
                    return Err(Refused {
                        batch,
                        closed: false,
                        over_budget: Some(over),
                    });
                }
            }
        }
        let route = self.route();
        let mut permits = Vec::with_capacity(route.pipelines.len());
        for tx in route.pipelines.iter() {
            match tx.try_reserve() {
                Ok(permit) => permits.push(permit),
                Err(mpsc::error::TrySendError::Full(())) => {
                    return Err(Refused {
                        batch,
                        closed: false,
                        over_budget: None,
                    });
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    return Err(Refused {
                        batch,
                        closed: true,
                        over_budget: None,
                    });
                }
            }
        }
        deliver(permits, batch);
        Ok(())
    }

    /// Hands the batch on, waiting for room in the memory budget and in every pipeline; for
    /// receivers that pull their data and can pause.
    pub async fn send(&self, mut batch: Batch) -> Result<(), Refused> {
        if !batch.hold.is_reserved() {
            let reservation = self.budget.reserve(batch.payload.len() as u64).await;
            batch.hold.extend(Hold::reserved(reservation));
        }
        let route = self.route();
        let mut permits = Vec::with_capacity(route.pipelines.len());
        for tx in route.pipelines.iter() {
            match tx.reserve().await {
                Ok(permit) => permits.push(permit),
                Err(_) => {
                    return Err(Refused {
                        batch,
                        closed: true,
                        over_budget: None,
                    });
                }
            }
        }
        deliver(permits, batch);
        Ok(())
    }
}

fn deliver(mut permits: Vec<mpsc::Permit<'_, Batch>>, batch: Batch) {
    let Some(last) = permits.pop() else {
        // No pipeline takes this signal: the batch's claims are dropped unsettled (failed).
        return;
    };
    for permit in permits {
        permit.send(batch.fork());
    }
    last.send(batch);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::core::Signal;

    fn batch() -> Batch {
        Batch::new(Signal::Traces, Bytes::from_static(b"x"), 1)
    }

    #[tokio::test]
    async fn all_or_nothing_when_one_pipeline_is_full() {
        let (a_tx, mut a_rx) = mpsc::channel(4);
        let (b_tx, mut b_rx) = mpsc::channel(1);
        let consumer = Consumer::new(vec![a_tx, b_tx]);
        consumer.try_send(batch()).unwrap();
        let refused = consumer.try_send(batch()).unwrap_err();
        assert!(!refused.is_closed());
        assert!(a_rx.recv().await.is_some());
        assert!(b_rx.recv().await.is_some());
        // Pipeline a got only the first batch: the refused one went nowhere.
        assert!(a_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn over_budget_is_refused_whole_and_room_travels_with_the_batch() {
        let (a_tx, mut a_rx) = mpsc::channel(4);
        let (b_tx, mut b_rx) = mpsc::channel(4);
        let budget = MemoryBudget::with_limits(2, 2);
        let consumer = Consumer::with_budget(vec![a_tx, b_tx], budget.clone());
        let two = || Batch::new(Signal::Traces, Bytes::from_static(b"xy"), 1);
        consumer.try_send(two()).unwrap();
        assert_eq!(budget.used(), 2);
        let refused = consumer.try_send(two()).unwrap_err();
        assert!(!refused.is_closed());
        assert!(refused.over_budget().is_some());
        assert!(!refused.batch.hold.is_reserved());
        // Both pipelines hold a copy; the room is given back when the last copy is dropped.
        let a = a_rx.recv().await.unwrap();
        let b = b_rx.recv().await.unwrap();
        assert!(a_rx.try_recv().is_err() && b_rx.try_recv().is_err());
        drop(a);
        assert_eq!(budget.used(), 2);
        drop(b);
        assert_eq!(budget.used(), 0);
        consumer.try_send(two()).unwrap();
    }

    #[tokio::test]
    async fn send_waits_for_room_in_the_budget() {
        let (tx, mut rx) = mpsc::channel(4);
        let budget = MemoryBudget::with_limits(1, 1);
        let consumer = Consumer::with_budget(vec![tx], budget.clone());
        consumer.send(batch()).await.unwrap();
        let second = tokio::spawn({
            let consumer = consumer.clone();
            async move { consumer.send(batch()).await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "no room until the first batch is done"
        );
        assert!(rx.try_recv().is_ok());
        assert!(second.await.unwrap());
        assert_eq!(budget.used(), 1);
    }

    #[tokio::test]
    async fn retarget_moves_every_clone_and_lets_the_old_queue_close() {
        let (old_tx, mut old_rx) = mpsc::channel(4);
        let (new_tx, mut new_rx) = mpsc::channel(4);
        let consumer = Consumer::new(vec![old_tx]);
        let clone = consumer.clone();
        consumer.try_send(batch()).unwrap();
        clone.retarget(vec![new_tx], true);
        assert!(consumer.waits_for_queues());
        consumer.try_send(batch()).unwrap();
        // The old queue keeps what it took, then closes: no consumer holds its sender.
        assert!(old_rx.recv().await.is_some());
        assert!(old_rx.recv().await.is_none());
        assert!(new_rx.recv().await.is_some());
    }

    #[tokio::test]
    async fn closed_pipeline_is_reported_as_closed() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let consumer = Consumer::new(vec![tx]);
        assert!(consumer.try_send(batch()).unwrap_err().is_closed());
        assert!(consumer.send(batch()).await.unwrap_err().is_closed());
    }
}
