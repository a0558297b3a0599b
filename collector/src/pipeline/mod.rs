//! Pipeline plumbing: the unit of data that flows ([`Batch`]), delivery acknowledgement
//! ([`ack`]), the receiver-facing fan-out ([`Consumer`]) and the wiring that builds running
//! pipelines from the configuration ([`build`]).
//!
//! Data moves as encoded OTLP export requests (`bytes::Bytes`), never as decoded message trees:
//! an `Export*ServiceRequest` has a single repeated field, so concatenating encodings is batching.

pub mod ack;
pub mod build;
pub mod consumer;
pub mod output;

use std::fmt;

use bytes::Bytes;

pub use ack::{Ack, AckSet, Delivery};
pub use consumer::{Consumer, Refused};
pub use output::{ExporterInput, Output};

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals, in a stable order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The name used in configuration (`service.pipelines.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The unit the Collector's self-metrics count for this signal.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    /// Parses a pipeline signal name.
    pub fn parse(s: &str) -> Option<Signal> {
        match s {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One unit of telemetry moving through a pipeline: an encoded OTLP export request of one
/// signal, how many items (spans, data points, log records) it holds, and the acknowledgements
/// owed to whoever handed it in.
#[derive(Debug)]
pub struct Batch {
    /// Which signal `payload` encodes.
    pub signal: Signal,
    /// An encoded `ExportTraceServiceRequest`, `ExportMetricsServiceRequest` or
    /// `ExportLogsServiceRequest`.
    pub payload: Bytes,
    /// Items in `payload`, counted the way the Collector counts them.
    pub items: usize,
    /// Acknowledgements resolved when every exporter that got this data is done with it.
    pub acks: AckSet,
}

impl Batch {
    /// A batch with no acknowledgement attached.
    pub fn new(signal: Signal, payload: Bytes, items: usize) -> Batch {
        Batch {
            signal,
            payload,
            items,
            acks: AckSet::default(),
        }
    }

    /// Attaches an acknowledgement that resolves once this batch is delivered (or fails).
    #[must_use]
    pub fn with_ack(mut self, ack: Ack) -> Batch {
        self.acks.push(ack);
        self
    }

    /// A copy for a second consumer (fan-out): shares the payload bytes and holds its own
    /// claim on every acknowledgement, so the sender learns of delivery only when all copies
    /// are done.
    pub fn fork(&self) -> Batch {
        Batch {
            signal: self.signal,
            payload: self.payload.clone(),
            items: self.items,
            acks: self.acks.fork(),
        }
    }
}

/// Checks that `payload` is a well-formed export request of `signal` (structure, UTF-8, id
/// lengths) and counts its items, without decoding it into a message tree.
pub fn validate(signal: Signal, payload: &[u8]) -> Result<usize, lookout_proto::wire::WireError> {
    use lookout_proto::wire;
    Ok(match signal {
        Signal::Traces => wire::validate_traces(payload)?.spans,
        Signal::Metrics => wire::validate_metrics(payload)?.data_points,
        Signal::Logs => wire::validate_logs(payload)?.log_records,
    })
}

/// Splits an export request into requests of at most `max_items` items each, in order.
pub fn split(
    signal: Signal,
    payload: &[u8],
    max_items: usize,
) -> Result<Vec<Vec<u8>>, lookout_proto::wire::WireError> {
    use lookout_proto::wire;
    match signal {
        Signal::Traces => wire::split_traces(payload, max_items),
        Signal::Metrics => wire::split_metrics(payload, max_items),
        Signal::Logs => wire::split_logs(payload, max_items),
    }
}
