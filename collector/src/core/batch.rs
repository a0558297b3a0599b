//! The unit of data that moves through pipelines, and the wire-level checks on it.

use bytes::Bytes;

use super::{Ack, AckSet, Hold, Signal};

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
    /// Room this data holds in the memory budget and in exporters' queues, given back when
    /// the last copy is dropped.
    pub hold: Hold,
    /// The sender was already told this data is delivered: a processor that holds data (the
    /// sampling `correlate`) settled its acknowledgements on receipt. Nobody upstream can
    /// send it again, so a full exporter queue pushes back on it instead of dropping it,
    /// whatever `sending_queue.block_on_overflow` says.
    pub taken_over: bool,
}

impl Batch {
    /// A batch with no acknowledgement attached.
    pub fn new(signal: Signal, payload: Bytes, items: usize) -> Batch {
        Batch {
            signal,
            payload,
            items,
            acks: AckSet::default(),
            hold: Hold::default(),
            taken_over: false,
        }
    }

    /// Marks this batch as data its sender was told is delivered (see [`Batch::taken_over`]).
    #[must_use]
    pub fn taken_over(mut self) -> Batch {
        self.taken_over = true;
        self
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
            hold: self.hold.clone(),
            taken_over: self.taken_over,
        }
    }
}

/// Checks that `payload` is a well-formed export request of `signal` (structure, UTF-8, id
/// lengths) and counts its items, without decoding it into a message tree.
pub(crate) fn validate(
    signal: Signal,
    payload: &[u8],
) -> Result<usize, lookout_proto::wire::WireError> {
    validate_with(signal, payload, &lookout_proto::Limits::NONE)
}

/// [`validate`], also refusing what breaks `limits` (nesting depth, attributes per element),
/// in the same pass.
pub(crate) fn validate_with(
    signal: Signal,
    payload: &[u8],
    limits: &lookout_proto::Limits,
) -> Result<usize, lookout_proto::wire::WireError> {
    use lookout_proto::wire;
    Ok(match signal {
        Signal::Traces => wire::validate_traces_with(payload, limits)?.spans,
        Signal::Metrics => wire::validate_metrics_with(payload, limits)?.data_points,
        Signal::Logs => wire::validate_logs_with(payload, limits)?.log_records,
    })
}

/// Splits an export request into requests of at most `max_items` items each, in order.
pub(crate) fn split(
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
