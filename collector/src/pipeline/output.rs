//! The end of a pipeline stage: hands each batch to the next stage, or fans it out to the
//! pipeline's exporters, each behind its own bounded queue.

use tokio::sync::mpsc;

use crate::core::Batch;
use crate::telemetry::ExporterMetrics;

/// An exporter's queue, as seen by the pipelines that feed it.
#[derive(Clone, Debug)]
pub struct ExporterInput {
    /// The exporter's id, for logs.
    pub id: String,
    pub(crate) tx: mpsc::Sender<Batch>,
    pub(crate) block_on_overflow: bool,
    pub(crate) metrics: ExporterMetrics,
}

impl ExporterInput {
    pub(crate) fn update_queue_gauge(&self) {
        let used = self.tx.max_capacity() - self.tx.capacity();
        self.metrics.queue_size.set(used as i64);
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

async fn enqueue(exporter: &ExporterInput, batch: Batch) {
    let signal = batch.signal;
    let items = batch.items as u64;
    let result = if exporter.block_on_overflow {
        exporter.tx.send(batch).await.map_err(|e| e.0)
    } else {
        exporter.tx.try_send(batch).map_err(|e| match e {
            mpsc::error::TrySendError::Full(batch) | mpsc::error::TrySendError::Closed(batch) => {
                batch
            }
        })
    };
    if let Err(batch) = result {
        exporter.metrics.enqueue_failed(signal).inc_by(items);
        tracing::warn!(
            exporter = %exporter.id,
            items,
            "sending queue is full; dropping the batch (set sending_queue.block_on_overflow: true to push back instead)"
        );
        batch.acks.settle(false);
    }
    exporter.update_queue_gauge();
}
