//! The trace window: per trace id, span summaries, log summaries and exemplars, bounded in
//! traces, items per trace and accounted bytes, evicted by last activity.
//!
//! # Accounting
//!
//! `bytes` counts, per trace, a fixed overhead (its slot in the hash table at the table's
//! worst load, its entry in the activity index, the `Trace` itself), the capacity of each of
//! its vectors times the element size, and the length of every string it owns. Strings are
//! capped when copied in (names, bodies, attribute values), so no single item can be large.
//! What is not counted is the allocator's rounding (each string and boxed slice is one
//! allocation, so at most `3 + attributes` allocations per item) and the hash table's spare
//! capacity after traces left it. Bytes are checked against `max_bytes` every
//! [`SETTLE_EVERY`] items, so the window overshoots by at most that many items before the
//! least recently active traces are evicted. BENCHMARKS.md compares the accounted bytes with
//! the process's RSS.

use std::collections::{BTreeMap, HashMap};
use std::mem::size_of;
use std::sync::Arc;
use std::time::Instant;

use lookout_anomaly::{ATTR_ANOMALY, ATTR_KIND, ATTR_ROOT_SPAN_ID};
use lookout_proto::otlp::common::v1::{KeyValue, any_value};
use lookout_proto::wire::reader::{FieldReader, WireValue};
use lookout_proto::wire::{AnyValueView, KeyValueView, LogsView, TracesView, WireError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prost::Message;

use super::config::CorrelateConfig;
use crate::telemetry::Telemetry;

/// A 16-byte trace id.
pub(crate) type TraceId = [u8; 16];
/// An 8-byte span id.
pub(crate) type SpanId = [u8; 8];

/// Longest span, metric or operation name kept.
const MAX_NAME: usize = 256;
/// Longest attribute value or status message kept.
const MAX_VALUE: usize = 256;
/// Longest log body kept.
const MAX_BODY: usize = 1024;
/// Encoded span attributes kept per span (whole `KeyValue`s, in order, until this many bytes).
const MAX_SPAN_ATTR_BYTES: usize = 1024;
/// Resource attributes kept per resource.
const MAX_RESOURCE_ATTRS: usize = 64;
/// Distinct resources kept per trace; spans of further resources keep no resource.
const MAX_RESOURCES_PER_TRACE: usize = 16;
/// Severity number from which a log record counts as an error (`ERROR`).
pub(crate) const ERROR_SEVERITY: i32 = 17;

/// Bytes a trace costs besides its items: its hash-table slot at worst load (power-of-two
/// growth, 7/8 load factor), its activity-index entry, its key.
const TRACE_OVERHEAD: usize = 2 * (size_of::<TraceId>() + size_of::<Trace>() + 1)
    + 2 * (size_of::<u64>() + size_of::<TraceId>())
    + 32;

/// A scalar attribute value (arrays, maps and bytes are not kept).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `string_value`, capped.
    Str(Box<str>),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// `bool_value`.
    Bool(bool),
}

impl Value {
    fn from_view(v: AnyValueView<'_>) -> Option<Value> {
        Some(match v {
            AnyValueView::String(s) => Value::Str(cap(s, MAX_VALUE).into()),
            AnyValueView::Int(i) => Value::Int(i),
            AnyValueView::Double(d) => Value::Double(d),
            AnyValueView::Bool(b) => Value::Bool(b),
            _ => return None,
        })
    }

    fn heap(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            _ => 0,
        }
    }

    /// As text (for the APIs).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::from(&**s),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Double(d) => serde_json::Value::from(*d),
            Value::Bool(b) => serde_json::Value::from(*b),
        }
    }
}

/// One attribute.
pub(crate) type Attr = (Box<str>, Value);

fn attr_heap(attrs: &[Attr]) -> usize {
    attrs.capacity_bytes() + attrs.iter().map(|(k, v)| k.len() + v.heap()).sum::<usize>()
}

trait CapacityBytes {
    fn capacity_bytes(&self) -> usize;
}

impl<T> CapacityBytes for [T] {
    fn capacity_bytes(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// A resource's scalar attributes, as spans of a trace carried them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resource {
    /// `service.name`, or empty.
    pub(crate) service: Box<str>,
    /// Attributes in their order, capped.
    pub(crate) attrs: Box<[Attr]>,
}

impl Resource {
    fn heap(&self) -> usize {
        self.service.len() + attr_heap(&self.attrs)
    }
}

/// The `lookout.latency.*` verdict a span was tagged with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// `lookout.latency.kind`.
    pub(crate) kind: Box<str>,
    /// `lookout.latency.root_span_id`, or empty.
    pub(crate) root_span_id: Box<str>,
}

/// What the window keeps of a span.
#[derive(Debug, Clone)]
pub(crate) struct SpanSummary {
    pub(crate) span_id: SpanId,
    /// All zero for a root.
    pub(crate) parent: SpanId,
    /// Index in [`Trace::resources`], `None` beyond [`MAX_RESOURCES_PER_TRACE`].
    pub(crate) resource: Option<u8>,
    pub(crate) kind: i32,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) status: i32,
    /// The name, the status message and the span's `attributes` entries as encoded (field 9,
    /// key and length included), one after the other in one allocation: indexing a span costs
    /// one exact-size copy, and attributes are decoded only when an API asks
    /// ([`SpanSummary::attributes`]).
    text: Box<[u8]>,
    /// Bytes of the name at the start of `text` (at most [`MAX_NAME`]).
    name_len: u16,
    /// Bytes of the status message after the name (at most [`MAX_VALUE`]).
    status_len: u16,
    pub(crate) verdict: Option<Verdict>,
}

impl SpanSummary {
    fn heap(&self) -> usize {
        self.text.len()
            + self
                .verdict
                .as_ref()
                .map_or(0, |v| v.kind.len() + v.root_span_id.len())
    }

    /// The span's name (capped at [`MAX_NAME`] bytes).
    pub(crate) fn name(&self) -> &str {
        let end = usize::from(self.name_len);
        self.text
            .get(..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The status message (capped at [`MAX_VALUE`] bytes).
    pub(crate) fn status_message(&self) -> &str {
        let start = usize::from(self.name_len);
        let end = start + usize::from(self.status_len);
        self.text
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The encoded attribute entries kept.
    fn attrs(&self) -> &[u8] {
        let start = usize::from(self.name_len) + usize::from(self.status_len);
        self.text.get(start..).unwrap_or_default()
    }

    /// The scalar attributes kept (verdict attributes excluded), decoded.
    pub(crate) fn attributes(&self) -> Vec<Attr> {
        let mut out = Vec::new();
        let mut r = FieldReader::new(self.attrs());
        while let Ok(Some(f)) = r.next_field() {
            let WireValue::Len(b) = f.value else { continue };
            let Ok(kv) = KeyValue::decode(b) else {
                continue;
            };
            let value = match kv.value.and_then(|v| v.value) {
                Some(any_value::Value::StringValue(s)) => Value::Str(s.into()),
                Some(any_value::Value::IntValue(i)) => Value::Int(i),
                Some(any_value::Value::DoubleValue(d)) => Value::Double(d),
                Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
                _ => continue,
            };
            if ![ATTR_ANOMALY, ATTR_KIND, ATTR_ROOT_SPAN_ID].contains(&kv.key.as_str()) {
                out.push((kv.key.into(), value));
            }
        }
        out
    }

    /// Duration in nanoseconds (0 when the end precedes the start).
    pub(crate) fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it has no parent.
    pub(crate) fn is_root(&self) -> bool {
        self.parent == [0; 8]
    }
}

/// What the window keeps of a log record.
#[derive(Debug, Clone)]
pub(crate) struct LogSummary {
    /// `time_unix_nano`, or the observed time when unset.
    pub(crate) time: u64,
    pub(crate) severity: i32,
    pub(crate) severity_text: Box<str>,
    /// The body as text (strings as they are, other scalars printed), capped.
    pub(crate) body: Box<str>,
    pub(crate) span_id: Option<SpanId>,
}

impl LogSummary {
    fn heap(&self) -> usize {
        self.severity_text.len() + self.body.len()
    }
}

/// What the window keeps of a metric exemplar.
#[derive(Debug, Clone)]
pub(crate) struct ExemplarSummary {
    pub(crate) metric: Box<str>,
    pub(crate) time: u64,
    pub(crate) value: f64,
    pub(crate) span_id: Option<SpanId>,
}

/// One trace in the window.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// Shared with the other traces of the request that brought it.
    pub(crate) resources: Vec<Arc<Resource>>,
    pub(crate) spans: Vec<SpanSummary>,
    pub(crate) logs: Vec<LogSummary>,
    pub(crate) exemplars: Vec<ExemplarSummary>,
    /// Accounted bytes (see the module docs).
    bytes: usize,
    /// Position in the activity index.
    seq: u64,
    last_active: Option<Instant>,
    /// Wall-clock nanoseconds of the last activity (for "newest first").
    pub(crate) last_wall: u64,
}

impl Trace {
    /// The accounted bytes recomputed from scratch (the window keeps them incrementally).
    #[cfg(test)]
    pub(crate) fn account(&self) -> usize {
        TRACE_OVERHEAD
            + self.resources.capacity() * size_of::<Arc<Resource>>()
            + self
                .resources
                .iter()
                .map(|r| r.heap() + size_of::<Resource>())
                .sum::<usize>()
            + self.spans.capacity() * size_of::<SpanSummary>()
            + self.spans.iter().map(SpanSummary::heap).sum::<usize>()
            + self.logs.capacity() * size_of::<LogSummary>()
            + self.logs.iter().map(LogSummary::heap).sum::<usize>()
            + self.exemplars.capacity() * size_of::<ExemplarSummary>()
            + self.exemplars.iter().map(|e| e.metric.len()).sum::<usize>()
    }

    /// The span with this id (the first, if ids collide).
    pub(crate) fn span(&self, id: &SpanId) -> Option<&SpanSummary> {
        self.spans.iter().find(|s| &s.span_id == id)
    }

    /// The resource of a span.
    pub(crate) fn resource_of(&self, span: &SpanSummary) -> Option<&Resource> {
        span.resource
            .and_then(|i| self.resources.get(usize::from(i)))
            .map(|r| &**r)
    }

    /// The root span, or else the earliest span.
    pub(crate) fn root(&self) -> Option<&SpanSummary> {
        self.spans
            .iter()
            .find(|s| s.is_root())
            .or_else(|| self.spans.iter().min_by_key(|s| s.start))
    }

    /// The first tagged span's verdict.
    pub(crate) fn verdict(&self) -> Option<&Verdict> {
        self.spans.iter().find_map(|s| s.verdict.as_ref())
    }

    /// Accounted bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Self-metrics of the window (`lookout_correlate_*`).
#[derive(Debug, Clone)]
pub(crate) struct WindowMetrics {
    /// Traces evicted, by reason: capacity, bytes, ttl.
    pub(crate) evicted: [Counter; 3],
    /// Spans not held because their trace had `max_spans_per_trace`.
    pub(crate) spans_overflow: Counter,
    /// Log records not held because their trace had `max_logs_per_trace`.
    pub(crate) logs_overflow: Counter,
    /// Exemplars not held because their trace had `max_exemplars_per_trace`.
    pub(crate) exemplars_overflow: Counter,
    /// Spans whose resource was not kept (a trace with too many distinct resources).
    pub(crate) resources_overflow: Counter,
    /// Traces held.
    pub(crate) traces: Gauge,
    /// Accounted bytes held.
    pub(crate) bytes: Gauge,
}

/// Eviction reasons, in [`WindowMetrics::evicted`] order.
const REASONS: [&str; 3] = ["capacity", "bytes", "ttl"];

impl WindowMetrics {
    /// Registers the series of processor `id`.
    pub(crate) fn new(telemetry: &Telemetry, id: &str) -> WindowMetrics {
        let labels = || vec![("processor", id.to_string())];
        let evicted = REASONS.map(|reason| {
            let mut l = labels();
            l.push(("reason", reason.to_string()));
            telemetry.counter(
                "correlate_evicted_traces",
                "Traces evicted from the correlation window, by reason (capacity, bytes, ttl).",
                l,
            )
        });
        WindowMetrics {
            evicted,
            spans_overflow: telemetry.counter(
                "correlate_overflow_spans",
                "Spans not held in the window because their trace had max_spans_per_trace (they still flow).",
                labels(),
            ),
            logs_overflow: telemetry.counter(
                "correlate_overflow_log_records",
                "Log records not held in the window because their trace had max_logs_per_trace (they still flow).",
                labels(),
            ),
            exemplars_overflow: telemetry.counter(
                "correlate_overflow_exemplars",
                "Exemplars not held in the window because their trace had max_exemplars_per_trace.",
                labels(),
            ),
            resources_overflow: telemetry.counter(
                "correlate_overflow_resources",
                "Spans held without their resource because their trace had too many distinct resources.",
                labels(),
            ),
            traces: telemetry.gauge(
                "correlate_traces",
                "Traces held in the correlation window.",
                labels(),
            ),
            bytes: telemetry.gauge(
                "correlate_bytes",
                "Bytes held in the correlation window, as accounted against max_bytes.",
                labels(),
            ),
        }
    }
}

/// The window.
#[derive(Debug)]
pub(crate) struct Window {
    /// Trace ids are chosen by clients, so the table keeps a seeded hasher (foldhash: fast on
    /// 16-byte keys, unlike SipHash, and still randomised per process).
    traces: HashMap<TraceId, Trace, foldhash::fast::RandomState>,
    /// Trace ids by last activity (oldest first).
    activity: BTreeMap<u64, TraceId>,
    seq: u64,
    bytes: usize,
    limits: Limits,
    metrics: WindowMetrics,
    /// Reused to gather a span's text before its one allocation ([`summarize_span`]).
    scratch: Vec<u8>,
}

/// The bounds of a window.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) num_traces: usize,
    pub(crate) max_spans_per_trace: usize,
    pub(crate) max_logs_per_trace: usize,
    pub(crate) max_exemplars_per_trace: usize,
    pub(crate) max_bytes: usize,
    pub(crate) ttl: std::time::Duration,
}

impl From<&CorrelateConfig> for Limits {
    fn from(c: &CorrelateConfig) -> Limits {
        Limits {
            num_traces: c.num_traces,
            max_spans_per_trace: c.max_spans_per_trace,
            max_logs_per_trace: c.max_logs_per_trace,
            max_exemplars_per_trace: c.max_exemplars_per_trace,
            max_bytes: c.max_bytes,
            ttl: c.ttl,
        }
    }
}

/// The time an insertion happens at: monotonic for the TTL, wall for "newest first".
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub(crate) mono: Instant,
    pub(crate) wall: u64,
}

impl Now {
    /// The current time.
    pub(crate) fn current() -> Now {
        Now {
            mono: Instant::now(),
            wall: crate::core::otlp_build::unix_nanos(std::time::SystemTime::now()),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// A valid (16 bytes, not all zero) trace id.
pub(crate) fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id: TraceId = bytes.try_into().ok()?;
    (id != [0; 16]).then_some(id)
}

/// A valid (8 bytes, not all zero) span id.
pub(crate) fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id: SpanId = bytes.try_into().ok()?;
    (id != [0; 8]).then_some(id)
}

fn resource_of<'a>(attrs: impl Iterator<Item = Result<KeyValueView<'a>, WireError>>) -> Resource {
    let mut service: Box<str> = "".into();
    let mut kept = Vec::new();
    for kv in attrs.flatten() {
        let Some(value) = kv.value().and_then(Value::from_view) else {
            continue;
        };
        if kv.key() == "service.name"
            && let Value::Str(s) = &value
        {
            service = s.clone();
        }
        if kept.len() < MAX_RESOURCE_ATTRS {
            kept.push((cap(kv.key(), MAX_NAME).into(), value));
        }
    }
    Resource {
        service,
        attrs: kept.into_boxed_slice(),
    }
}

fn body_text(body: Option<AnyValueView<'_>>) -> Box<str> {
    match body {
        Some(AnyValueView::String(s)) => cap(s, MAX_BODY).into(),
        Some(AnyValueView::Int(i)) => i.to_string().into(),
        Some(AnyValueView::Double(d)) => d.to_string().into(),
        Some(AnyValueView::Bool(b)) => b.to_string().into(),
        _ => "".into(),
    }
}

// === impl Window ===

impl Window {
    /// An empty window.
    pub(crate) fn new(limits: Limits, metrics: WindowMetrics) -> Window {
        Window {
            traces: HashMap::default(),
            activity: BTreeMap::new(),
            seq: 0,
            bytes: 0,
            limits,
            metrics,
            scratch: Vec::new(),
        }
    }

    /// Accounted bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Traces held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.traces.len()
    }

    /// The trace, if held.
    pub(crate) fn get(&self, id: &TraceId) -> Option<&Trace> {
        self.traces.get(id)
    }

    /// Traces, most recently active first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = (&TraceId, &Trace)> {
        self.activity
            .values()
            .rev()
            .filter_map(|id| self.traces.get(id).map(|t| (id, t)))
    }

    /// The trace `id`, created (evicting to make room) if absent, its activity refreshed.
    fn touch(&mut self, id: TraceId, now: Now) -> &mut Trace {
        // Consecutive items of one trace (the usual order) skip the activity index.
        let newest = self.seq != 0 && self.activity.last_key_value() == Some((&self.seq, &id));
        if newest {
            let trace = self.traces.entry(id).or_default();
            trace.last_active = Some(now.mono);
            trace.last_wall = now.wall;
            return trace;
        }
        self.seq += 1;
        let seq = self.seq;
        if !self.traces.contains_key(&id) {
            while self.traces.len() >= self.limits.num_traces {
                if !self.evict_oldest(0) {
                    break;
                }
            }
            let trace = Trace {
                bytes: TRACE_OVERHEAD,
                ..Trace::default()
            };
            self.bytes += trace.bytes;
            self.traces.insert(id, trace);
        }
        let trace = self.traces.entry(id).or_default();
        if trace.seq != 0 {
            self.activity.remove(&trace.seq);
        }
        trace.seq = seq;
        trace.last_active = Some(now.mono);
        trace.last_wall = now.wall;
        self.activity.insert(seq, id);
        trace
    }

    /// Evicts the least recently active trace; `false` if the window is empty.
    fn evict_oldest(&mut self, reason: usize) -> bool {
        let Some((_, id)) = self.activity.pop_first() else {
            return false;
        };
        if let Some(trace) = self.traces.remove(&id) {
            self.bytes = self.bytes.saturating_sub(trace.bytes);
        }
        if let Some(c) = self.metrics.evicted.get(reason) {
            c.inc();
        }
        true
    }

    /// Evicts expired traces and, beyond `max_bytes`, the least recently active ones.
    pub(crate) fn enforce(&mut self, now: Instant) {
        while let Some((_, id)) = self.activity.first_key_value() {
            let expired = self
                .traces
                .get(id)
                .and_then(|t| t.last_active)
                .is_none_or(|t| now.saturating_duration_since(t) >= self.limits.ttl);
            if !expired {
                break;
            }
            self.evict_oldest(2);
        }
        while self.bytes > self.limits.max_bytes {
            if !self.evict_oldest(1) {
                break;
            }
        }
        self.metrics.traces.set(self.traces.len() as i64);
        self.metrics.bytes.set(self.bytes as i64);
    }

    /// Indexes the spans of an encoded `ExportTraceServiceRequest`.
    pub(crate) fn add_spans(&mut self, payload: &[u8], now: Now) -> Result<(), WireError> {
        let mut pending = 0;
        for rs in TracesView::new(payload).resource_spans() {
            let rs = rs?;
            let mut resource: Option<Arc<Resource>> = None;
            for ss in rs.scope_spans() {
                for span in ss?.spans() {
                    let span = span?;
                    let (Some(tid), Some(sid)) =
                        (trace_id(span.trace_id()), span_id(span.span_id()))
                    else {
                        continue;
                    };
                    let resource = resource
                        .get_or_insert_with(|| Arc::new(resource_of(rs.resource_attributes())));
                    let raw = payload
                        .get(span.location().byte_range())
                        .unwrap_or_default();
                    self.push_span(tid, resource, now, |scratch| {
                        summarize_span(&span, raw, sid, scratch)
                    });
                    pending += 1;
                    if pending >= SETTLE_EVERY {
                        self.settle(&mut pending, now);
                    }
                }
            }
        }
        self.settle(&mut pending, now);
        Ok(())
    }

    /// Adds the span `summarize` makes (with the window's scratch buffer) to trace `tid`,
    /// unless the trace is full: a span over `max_spans_per_trace` is not even summarized.
    fn push_span(
        &mut self,
        tid: TraceId,
        resource: &Arc<Resource>,
        now: Now,
        summarize: impl FnOnce(&mut Vec<u8>) -> SpanSummary,
    ) {
        let max_spans = self.limits.max_spans_per_trace;
        let mut scratch = std::mem::take(&mut self.scratch);
        let trace = self.touch(tid, now);
        if trace.spans.len() >= max_spans {
            self.scratch = scratch;
            self.metrics.spans_overflow.inc();
            return;
        }
        let mut span = summarize(&mut scratch);
        let mut delta = 0;
        let same = |r: &Arc<Resource>| Arc::ptr_eq(r, resource) || **r == **resource;
        span.resource = match trace.resources.iter().position(same) {
            Some(i) => u8::try_from(i).ok(),
            None if trace.resources.len() < MAX_RESOURCES_PER_TRACE => {
                let before = trace.resources.capacity();
                trace.resources.push(Arc::clone(resource));
                delta += (trace.resources.capacity() - before) * size_of::<Arc<Resource>>()
                    + size_of::<Resource>()
                    + resource.heap();
                u8::try_from(trace.resources.len() - 1).ok()
            }
            None => None,
        };
        let unresourced = span.resource.is_none();
        let before = trace.spans.capacity();
        delta += span.heap();
        trace.spans.push(span);
        delta += (trace.spans.capacity() - before) * size_of::<SpanSummary>();
        trace.bytes += delta;
        self.bytes += delta;
        self.scratch = scratch;
        if unresourced {
            self.metrics.resources_overflow.inc();
        }
    }

    /// Evicts what the items added since the last call made too much.
    fn settle(&mut self, pending: &mut usize, now: Now) {
        *pending = 0;
        self.enforce(now.mono);
    }

    /// Indexes the log records of an encoded `ExportLogsServiceRequest` that carry a trace id.
    pub(crate) fn add_logs(&mut self, payload: &[u8], now: Now) -> Result<(), WireError> {
        let mut pending = 0;
        for rl in LogsView::new(payload).resource_logs() {
            for sl in rl?.scope_logs() {
                for record in sl?.log_records() {
                    let record = record?;
                    let Some(tid) = trace_id(record.trace_id()) else {
                        continue;
                    };
                    let time = match record.time_unix_nano() {
                        0 => record.observed_time_unix_nano(),
                        t => t,
                    };
                    let log = LogSummary {
                        time,
                        severity: record.severity_number(),
                        severity_text: cap(record.severity_text(), MAX_NAME).into(),
                        body: body_text(record.body()),
                        span_id: span_id(record.span_id()),
                    };
                    self.push_log(tid, log, now);
                    pending += 1;
                    if pending >= SETTLE_EVERY {
                        self.settle(&mut pending, now);
                    }
                }
            }
        }
        self.settle(&mut pending, now);
        Ok(())
    }

    fn push_log(&mut self, tid: TraceId, log: LogSummary, now: Now) {
        let max_logs = self.limits.max_logs_per_trace;
        let trace = self.touch(tid, now);
        if trace.logs.len() >= max_logs {
            self.metrics.logs_overflow.inc();
            return;
        }
        let before = trace.logs.capacity();
        let mut delta = log.heap();
        trace.logs.push(log);
        delta += (trace.logs.capacity() - before) * size_of::<LogSummary>();
        trace.bytes += delta;
        self.bytes += delta;
    }

    /// Indexes exemplars that carry a trace id.
    pub(crate) fn add_exemplars(&mut self, exemplars: Vec<(TraceId, ExemplarSummary)>, now: Now) {
        let mut pending = 0;
        for (tid, mut exemplar) in exemplars {
            let max = self.limits.max_exemplars_per_trace;
            let trace = self.touch(tid, now);
            if trace.exemplars.len() >= max {
                self.metrics.exemplars_overflow.inc();
                continue;
            }
            exemplar.metric = cap(&exemplar.metric, MAX_NAME).into();
            let before = trace.exemplars.capacity();
            let mut delta = exemplar.metric.len();
            trace.exemplars.push(exemplar);
            delta += (trace.exemplars.capacity() - before) * size_of::<ExemplarSummary>();
            trace.bytes += delta;
            self.bytes += delta;
            pending += 1;
            if pending >= SETTLE_EVERY {
                self.settle(&mut pending, now);
            }
        }
        self.settle(&mut pending, now);
    }
}

/// Items indexed between two checks of `max_bytes`: bounds the overshoot to this many items.
const SETTLE_EVERY: usize = 64;

/// The key and the encoded value of an encoded `KeyValue` (the last of each, as protobuf
/// merges them).
fn key_and_value(kv: &[u8]) -> (&[u8], &[u8]) {
    let (mut key, mut value): (&[u8], &[u8]) = (&[], &[]);
    let mut r = FieldReader::new(kv);
    while let Ok(Some(f)) = r.next_field() {
        match (f.number, f.value) {
            (1, WireValue::Len(b)) => key = b,
            (2, WireValue::Len(b)) => value = b,
            _ => {}
        }
    }
    (key, value)
}

/// An encoded `AnyValue` as a borrowed view (only read for the few verdict attributes).
fn any_value(value: &[u8]) -> Option<AnyValueView<'_>> {
    let mut out = None;
    let mut r = FieldReader::new(value);
    while let Ok(Some(f)) = r.next_field() {
        out = match (f.number, f.value) {
            (1, WireValue::Len(b)) => std::str::from_utf8(b).ok().map(AnyValueView::String),
            (2, WireValue::Varint(v)) => Some(AnyValueView::Bool(v != 0)),
            _ => None,
        };
    }
    out
}

/// Attribute keys of the verdict share this prefix; only those keys' values are read.
const VERDICT_PREFIX: &[u8] = b"lookout.latency.";

/// The summary of a span; `raw` is its encoded payload. One pass over its attribute entries
/// finds the verdict and copies the others whole, until [`MAX_SPAN_ATTR_BYTES`]; the name,
/// status message and attributes are gathered in `scratch` (reused between spans) and copied
/// out in one allocation of their exact size.
fn summarize_span(
    span: &lookout_proto::wire::SpanView<'_>,
    raw: &[u8],
    sid: SpanId,
    scratch: &mut Vec<u8>,
) -> SpanSummary {
    let name = cap(span.name(), MAX_NAME);
    let status_message = cap(span.status_message(), MAX_VALUE);
    scratch.clear();
    scratch.extend_from_slice(name.as_bytes());
    scratch.extend_from_slice(status_message.as_bytes());
    let attrs_start = scratch.len();
    let (mut anomaly, mut kind, mut root) = (false, None, None);
    let mut r = FieldReader::new(raw);
    while let Ok(Some(f)) = r.next_field() {
        let (9, WireValue::Len(kv)) = (f.number, f.value) else {
            continue;
        };
        let (key, value) = key_and_value(kv);
        if key.starts_with(VERDICT_PREFIX) {
            match (key, any_value(value)) {
                (k, Some(AnyValueView::Bool(b))) if k == ATTR_ANOMALY.as_bytes() => anomaly = b,
                (k, Some(AnyValueView::String(s))) if k == ATTR_KIND.as_bytes() => {
                    kind = Some(cap(s, MAX_NAME))
                }
                (k, Some(AnyValueView::String(s))) if k == ATTR_ROOT_SPAN_ID.as_bytes() => {
                    root = Some(cap(s, MAX_NAME))
                }
                _ => {}
            }
            if [ATTR_ANOMALY, ATTR_KIND, ATTR_ROOT_SPAN_ID]
                .iter()
                .any(|a| a.as_bytes() == key)
            {
                continue;
            }
        }
        if scratch.len() - attrs_start + f.raw.len() <= MAX_SPAN_ATTR_BYTES {
            scratch.extend_from_slice(f.raw);
        }
    }
    let verdict = anomaly.then(|| Verdict {
        kind: kind.unwrap_or("").into(),
        root_span_id: root.unwrap_or("").into(),
    });
    SpanSummary {
        span_id: sid,
        parent: span.parent_span_id().try_into().unwrap_or([0; 8]),
        resource: None,
        kind: span.kind(),
        start: span.start_time_unix_nano(),
        end: span.end_time_unix_nano(),
        status: span.status_code(),
        text: Box::from(scratch.as_slice()),
        // Both are capped far below u16::MAX.
        name_len: u16::try_from(name.len()).unwrap_or(0),
        status_len: u16::try_from(status_message.len()).unwrap_or(0),
        verdict,
    }
}
