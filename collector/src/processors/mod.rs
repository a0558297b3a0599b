//! Processors: stages between receivers and exporters. Each runs as a task reading a bounded
//! queue and writing to the next stage; when its input closes it flushes and returns.

pub mod batch;
pub mod latency_anomaly;

use tokio::sync::mpsc;

use crate::pipeline::{Batch, Output};
use crate::telemetry::ProcessorMetrics;

/// What a processor task gets.
#[derive(Debug)]
pub struct ProcessorContext {
    /// Its input queue.
    pub input: mpsc::Receiver<Batch>,
    /// The next stage.
    pub output: Output,
    /// Item counters.
    pub metrics: ProcessorMetrics,
}
