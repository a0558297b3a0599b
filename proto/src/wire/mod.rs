//! Wire-level OTLP: read, validate, edit and split export requests without decoding them.
//!
//! # Why bytes
//!
//! The collector's hot path receives `ExportTraceServiceRequest` / `ExportLogsServiceRequest`
//! / `ExportMetricsServiceRequest` encodings and forwards them. Decoding each request into a
//! prost tree allocates for every span, attribute and string, and re-encoding costs as much
//! again. Here requests stay as bytes:
//!
//! * [`validate_traces`] (and logs/metrics) makes one pass that accepts exactly the inputs
//!   prost accepts — same varint, key, wire-type, length and UTF-8 rules, unknown fields
//!   (groups included) skipped, prost's recursion limit of
//!   [`RECURSION_LIMIT`](reader::RECURSION_LIMIT) nested messages — plus the OTLP rule that
//!   trace ids are 0 or 16 bytes and span ids 0 or 8. It returns the item counts the
//!   OpenTelemetry Collector uses (spans, log records, metric data points).
//! * Views ([`TracesView`], [`LogsView`], [`MetricsView`]) read just the fields a processor
//!   needs, borrowing strings and ids from the buffer.
//! * [`append_span_attributes`] / [`append_log_attributes`] add attributes to chosen items by
//!   splicing bytes and rewriting the enclosing length prefixes; [`splice`] replaces, removes
//!   or appends whole fields of any nested message the same way (redaction).
//! * [`split_traces`] / [`split_logs`] / [`split_metrics`] cut a request into chunks of at most
//!   N items for `send_batch_max_size`.
//!
//! # Why concatenation batches
//!
//! Each request message has a single field, the repeated field 1. In protobuf, occurrences of
//! a repeated field accumulate wherever they appear, so the concatenation of N encoded
//! requests is itself an encoding of one request holding all their resource entries in order.
//! Batching is therefore `Vec::extend_from_slice`. The same rule lets the editor append
//! attributes to a span as extra field-9 entries after its existing fields.
//!
//! # Bounds
//!
//! Every length prefix is checked against the bytes remaining in its enclosing message before
//! anything is sliced; nothing allocates in proportion to a claimed length; recursion (nested
//! `AnyValue` arrays and kvlists, unknown groups) is bounded by the recursion limit, and errors
//! carry the byte offset where the input went wrong. No input makes this module panic.

mod edit;
mod error;
pub mod reader;
mod splice;
mod split;
mod validate;
mod view;

pub use edit::{LogRecordEdit, SpanEdit, append_log_attributes, append_span_attributes};
pub use error::WireError;
pub use splice::{Patch, splice};
pub use split::{split_logs, split_metrics, split_traces};
pub use validate::{
    LogsSummary, MetricsSummary, TracesSummary, validate_logs, validate_logs_with,
    validate_metrics, validate_metrics_with, validate_traces, validate_traces_with,
};
pub use view::{
    AllSpanBytes, AnyValueView, ArrayView, KeyValueListView, KeyValueView, KeyValues,
    LogRecordLocation, LogRecordView, LogsView, MetricDataType, MetricView, MetricsView,
    NestedKeyValues, ResourceLogsView, ResourceMetricsView, ResourceSpansView, ScopeLogsView,
    ScopeMetricsView, ScopeSpansView, SpanBytes, SpanLocation, SpanView, TracesView, ViewIter,
};
