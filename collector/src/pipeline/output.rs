//! The end of a pipeline stage: hands each batch to the next stage, or fans it out to the
//! pipeline's exporters, each behind its own bounded queue.

use tokio::sync::mpsc;

use crate::core::Batch;
use crate::exporters::queue::QueueGate;
use crate::telemetry::ExporterMetrics;

/// An exporter's queue, as seen by the pipelines that feed it.
#[derive(Clone, Debug)]
pub struct ExporterInput {
    /// The exporter's id, for logs.
    pub id: String,
    pub(crate) tx: mpsc::Sender<Batch>,
    /// The queue's room in its sizer's unit (`None`: bounded by the channel alone).
    pub(crate) gate: Option<QueueGate>,
    pub(crate) block_on_overflow: bool,
    /// A persistent queue: its disk thread sets the queue gauge.
    pub(crate) persistent: bool,
    pub(crate) metrics: ExporterMetrics,
}

impl ExporterInput {
    pub(crate) fn update_queue_gauge(&self) {
        self.gauge().update();
    }

    /// What the queue gauge reads, without holding the queue open.
    pub(crate) fn gauge(&self) -> QueueGauge {
        QueueGauge {
            persistent: self.persistent,
            gate: self.gate.clone(),
            tx: self.tx.downgrade(),
            metrics: self.metrics.clone(),
        }
    }
}

/// Sets `lookout_exporter_queue_size` from what a queue holds.
pub(crate) struct QueueGauge {
    persistent: bool,
    gate: Option<QueueGate>,
    tx: mpsc::WeakSender<Batch>,
    metrics: ExporterMetrics,
}

impl QueueGauge {
    pub(crate) fn update(&self) {
        if self.persistent {
            return;
        }
        let used = match (&self.gate, self.tx.upgrade()) {
            (Some(gate), _) => gate.used(),
            (None, Some(tx)) => (tx.max_capacity() - tx.capacity()) as u64,
            (None, None) => 0,
        };
        self.metrics
            .queue_size
            .set(i64::try_from(used).unwrap_or(i64::MAX));
    }
}

/// Where a stage sends what it produces.
#[derive(Debug)]
pub enum Output {
    /// The next processor.
    Next(mpsc::Sender<Batch>),
    /// The pipeline's exporters (the last stage).
    Exporters(Vec<ExporterInput>),
}

impl Output {
    /// Sends a batch on. Waits for room where the policy is to push back; where it is to drop,
    /// drops and counts. A batch that cannot be handed on has its acknowledgements failed.
    pub async fn send(&self, batch: Batch) {
        match self {
            Output::Next(tx) => {
                if let Err(mpsc::error::SendError(batch)) = tx.send(batch).await {
                    batch.acks.settle(false);
                }
            }
            Output::Exporters(exporters) => {
                let Some((last, rest)) = exporters.split_last() else {
                    batch.acks.settle(false);
                    return;
                };
                for exporter in rest {
                    enqueue(exporter, batch.fork()).await;
                }
                enqueue(last, batch).await;
            }
        }
    }
}

/// Hands `batch` to one exporter's queue, as [`Output::send`] does for each of its exporters.
pub(crate) async fn enqueue(exporter: &ExporterInput, mut batch: Batch) {
    let signal = batch.signal;
    let items = batch.items as u64;
    // Data whose sender was already told it is delivered cannot be sent again: wait for room.
    let block = exporter.block_on_overflow || batch.taken_over;
    // Room in the queue's unit first (held by the batch until the exporter is done with it),
    // then a place in the channel.
    let room = match &exporter.gate {
        None => true,
        Some(gate) => {
            let permit = if block {
                gate.acquire(&batch).await
            } else {
                gate.try_acquire(&batch)
            };
            permit.map(|p| batch.hold.push_queue_permit(p)).is_some()
        }
    };
    // Err((batch, closed)): not queued; `closed` when the exporter has stopped.
    let result = if !room {
        Err((batch, exporter.tx.is_closed()))
    } else if block {
        exporter.tx.send(batch).await.map_err(|e| (e.0, true))
    } else {
        exporter.tx.try_send(batch).map_err(|e| match e {
            mpsc::error::TrySendError::Full(batch) => (batch, false),
            mpsc::error::TrySendError::Closed(batch) => (batch, true),
        })
    };
    if let Err((batch, closed)) = result {
        exporter.metrics.enqueue_failed(signal).inc_by(items);
        if closed {
            // Its senders stopped: a shutdown past its deadline, or a reload that replaced it.
            tracing::warn!(
                exporter = %exporter.id,
                items,
                "exporter has stopped; dropping the batch"
            );
        } else {
            tracing::warn!(
                exporter = %exporter.id,
                items,
                "sending queue is full; dropping the batch (set sending_queue.block_on_overflow: true to push back instead)"
            );
        }
        batch.acks.settle(false);
    }
    exporter.update_queue_gauge();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::config::shared::QueueSizer;
    use crate::core::{Ack, Signal};
    use crate::telemetry::Telemetry;

    /// A queue of one request that drops when full (`block_on_overflow: false`).
    fn dropping_queue() -> (ExporterInput, mpsc::Receiver<Batch>) {
        let (tx, rx) = mpsc::channel(1);
        let input = ExporterInput {
            id: "otlp".into(),
            tx,
            gate: Some(QueueGate::new(QueueSizer::Requests, 1)),
            block_on_overflow: false,
            persistent: false,
            metrics: Telemetry::new().exporter("otlp", None),
        };
        (input, rx)
    }

    fn batch() -> Batch {
        Batch::new(Signal::Traces, Bytes::from_static(b""), 1)
    }

    #[tokio::test]
    async fn a_full_queue_drops_what_its_sender_can_send_again() {
        let (input, mut rx) = dropping_queue();
        enqueue(&input, batch()).await;
        let (ack, delivery) = Ack::new();
        // Full: refused at once, and the sender is told so (it may retry).
        enqueue(&input, batch().with_ack(ack)).await;
        assert!(!delivery.outcome().await);
        assert_eq!(input.metrics.enqueue_failed(Signal::Traces).get(), 1);
        assert!(rx.recv().await.is_some());
    }

    #[tokio::test]
    async fn a_full_queue_waits_for_room_for_data_taken_over() {
        let (input, mut rx) = dropping_queue();
        enqueue(&input, batch()).await;
        let waiting = tokio::spawn({
            let input = input.clone();
            async move { enqueue(&input, batch().taken_over()).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "waits for room instead of dropping");
        // The exporter takes the first batch and is done with it: room for the second.
        drop(rx.recv().await);
        waiting.await.expect("enqueue");
        assert!(rx.recv().await.is_some_and(|b| b.taken_over));
        assert_eq!(input.metrics.enqueue_failed(Signal::Traces).get(), 0);
    }
}
