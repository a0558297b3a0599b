//! Hand-off of what the processor derives (episode log records, RED metrics) to the pipelines
//! its config names. The span path never waits here: a full or closed pipeline loses the
//! request (counted). Only the final flush at shutdown waits, briefly, for room.
//!
//! The processor holds senders into those pipelines' entry queues, so they stay open until the
//! processor has made its final flush and returned: shutdown order follows from ownership.

use std::time::Duration;

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use tokio::sync::mpsc;

use crate::core::{self, Batch, Signal};

/// The entry queues of the pipelines fed by one processor instance, from the wiring.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    /// `events.pipelines`.
    pub events: Vec<mpsc::Sender<Batch>>,
    /// `red_metrics.pipelines`.
    pub red_metrics: Vec<mpsc::Sender<Batch>>,
    /// The `alerting` extension named by `alerting:`.
    pub alerting: Option<super::alerts::source::AlertTarget>,
    /// The collector's recent episodes (for the console).
    pub recent: Option<std::sync::Arc<crate::core::recent::Recent>>,
}

/// Items handed on and items lost, for one signal.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandoffMetrics {
    /// Log records or data points taken by a pipeline (counted once per pipeline).
    pub(crate) sent: Counter,
    /// Log records or data points a full or closed pipeline did not take.
    pub(crate) dropped: Counter,
}

/// The pipelines one kind of derived data goes to.
#[derive(Debug)]
pub(crate) struct Link {
    signal: Signal,
    pipelines: Vec<mpsc::Sender<Batch>>,
    metrics: HandoffMetrics,
}

impl Link {
    /// `None` when no pipeline takes this data.
    pub(crate) fn new(
        signal: Signal,
        pipelines: Vec<mpsc::Sender<Batch>>,
        metrics: HandoffMetrics,
    ) -> Option<Link> {
        (!pipelines.is_empty()).then_some(Link {
            signal,
            pipelines,
            metrics,
        })
    }

    /// Hands `request` to every pipeline that has room now.
    pub(crate) fn offer(&self, request: &impl Message) {
        let Some(batch) = self.batch(request) else {
            return;
        };
        for tx in &self.pipelines {
            let copy = batch.fork();
            let items = copy.items as u64;
            match tx.try_send(copy) {
                Ok(()) => {
                    self.metrics.sent.inc_by(items);
                }
                Err(_) => {
                    self.metrics.dropped.inc_by(items);
                    tracing::debug!(
                        signal = %self.signal,
                        items,
                        "latency_anomaly: target pipeline full or closed; dropped"
                    );
                }
            }
        }
    }

    /// Hands `request` to every pipeline, waiting up to `wait` for room in each.
    pub(crate) async fn deliver(&self, request: &impl Message, wait: Duration) {
        let Some(batch) = self.batch(request) else {
            return;
        };
        for tx in &self.pipelines {
            let copy = batch.fork();
            let items = copy.items as u64;
            match tokio::time::timeout(wait, tx.send(copy)).await {
                Ok(Ok(())) => {
                    self.metrics.sent.inc_by(items);
                }
                _ => {
                    self.metrics.dropped.inc_by(items);
                    tracing::warn!(
                        signal = %self.signal,
                        items,
                        "latency_anomaly: target pipeline did not take the final flush"
                    );
                }
            }
        }
    }

    fn batch(&self, request: &impl Message) -> Option<Batch> {
        let payload = Bytes::from(request.encode_to_vec());
        match core::validate(self.signal, &payload) {
            Ok(0) => None,
            Ok(items) => Some(Batch::new(self.signal, payload, items)),
            Err(err) => {
                // Our own encoding: failing here is a bug, not bad input; report, keep running.
                tracing::error!(error = %err, signal = %self.signal, "latency_anomaly: produced an invalid request");
                None
            }
        }
    }
}
