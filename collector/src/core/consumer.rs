//! What a receiver hands its data to: the entry queues of every pipeline it feeds.

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Batch;

/// Hands batches to the pipelines a receiver feeds for one signal.
///
/// A batch is taken by all pipelines or by none: the receiver can then refuse the request as a
/// whole and the client's retry never duplicates data in the pipelines that had room.
#[derive(Clone, Debug)]
pub struct Consumer {
    pipelines: Arc<[mpsc::Sender<Batch>]>,
}

/// Why a batch was not taken. The batch comes back so nothing is lost by refusing.
pub struct Refused {
    /// The batch, unchanged.
    pub batch: Batch,
    closed: bool,
}

impl Refused {
    /// True when the pipeline is shutting down, false when it is only full (retry later).
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl fmt::Debug for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("items", &self.batch.items)
            .field("closed", &self.closed)
            .finish()
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            f.write_str("the collector is shutting down")
        } else {
            f.write_str("the pipeline is full, retry later")
        }
    }
}

impl Consumer {
    /// A consumer feeding the given pipeline entry queues.
    pub fn new(pipelines: Vec<mpsc::Sender<Batch>>) -> Consumer {
        Consumer {
            pipelines: pipelines.into(),
        }
    }

    /// Hands the batch on without waiting; refuses it whole if any pipeline is full.
    pub fn try_send(&self, batch: Batch) -> Result<(), Refused> {
        let mut permits = Vec::with_capacity(self.pipelines.len());
        for tx in self.pipelines.iter() {
            match tx.try_reserve() {
                Ok(permit) => permits.push(permit),
                Err(mpsc::error::TrySendError::Full(())) => {
                    return Err(Refused {
                        batch,
                        closed: false,
                    });
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    return Err(Refused {
                        batch,
                        closed: true,
                    });
                }
            }
        }
        deliver(permits, batch);
        Ok(())
    }

    /// Hands the batch on, waiting for room; for receivers that pull their data and can pause.
    pub async fn send(&self, batch: Batch) -> Result<(), Refused> {
        let mut permits = Vec::with_capacity(self.pipelines.len());
        for tx in self.pipelines.iter() {
            match tx.reserve().await {
                Ok(permit) => permits.push(permit),
                Err(_) => {
                    return Err(Refused {
                        batch,
                        closed: true,
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
    async fn closed_pipeline_is_reported_as_closed() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let consumer = Consumer::new(vec![tx]);
        assert!(consumer.try_send(batch()).unwrap_err().is_closed());
        assert!(consumer.send(batch()).await.unwrap_err().is_closed());
    }
}
