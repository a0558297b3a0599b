//! Processors: stages between receivers and exporters. Each runs as a task reading a bounded
//! queue and writing to the next stage; when its input closes it flushes and returns.

pub(crate) mod alert_rules;
pub(crate) mod batch;
pub(crate) mod correlate;
pub(crate) mod latency_anomaly;
pub(crate) mod memory_limiter;
pub(crate) mod redaction;

use tokio::sync::mpsc;

use crate::core::Batch;
use crate::pipeline::Output;
use crate::telemetry::ProcessorMetrics;

/// What a processor task gets.
#[derive(Debug)]
pub struct ProcessorContext {
    /// The processor's id (`batch/big`).
    pub id: String,
    /// The pipeline this stage belongs to (`traces/2`).
    pub pipeline: String,
    /// Its input queue.
    pub input: mpsc::Receiver<Batch>,
    /// The next stage.
    pub output: Output,
    /// Item counters.
    pub metrics: ProcessorMetrics,
}
