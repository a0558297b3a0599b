//! The trace window: per trace id, span summaries, log summaries and exemplars, bounded in
//! traces, items per trace and accounted bytes, evicted by last activity.
//!
//! # Indexing spans
//!
//! One pass over the request: each span is read once ([`summarize_span`]: its fields and its
//! attribute entries together) into its record (a fixed header and its texts) at the end of a
//! run of consecutive spans of one trace, gathered in scratch buffers the window reuses. A run
//! (at most [`SETTLE_EVERY`] spans) then goes into its trace with one table lookup and one
//! copy of its records: spans of a trace usually arrive together, so an 8-span trace costs
//! one allocation (its records, exactly sized), and evicting it frees that one; its list of
//! resources stays inside the trace up to two of them. In the steady state of a full window
//! (each new trace evicts an old one) not even that: an evicted trace's buffer is emptied and
//! kept, and a new trace takes the smallest kept buffer its spans fit ([`Spare`]), so neither
//! the allocator nor the evicted trace's cold memory is touched at eviction. A run's resource
//! slots are set before its records are copied: the copy writes memory last touched a window
//! ago, and the atomic increment of a resource's count after it would wait for those writes.
//!
//! # Accounting
//!
//! `bytes` counts, per trace, a fixed overhead (its slot in the hash table at the table's
//! worst load, its entry in the activity index, the `Trace` itself with its inline resource
//! list), the capacity of its span records and of each of its vectors times the element size
//! (the resource list's only once it outgrew the trace), and the length of every string it
//! owns; a resource, shared by the traces of the request that brought it, is counted once
//! while any trace holds it. Strings are capped when copied in (names, bodies, attribute
//! values), so no single item can be large. What is not counted is the allocator's rounding
//! (each string, vector and boxed slice is one allocation), the spare capacity of the id
//! table and the slab after traces left them, and the emptied span-record buffers of evicted
//! traces kept for new traces to take ([`Spare`]: at most 64 of at most 16 KiB, 1 MiB). Bytes are checked against `max_bytes` after each
//! run of spans once [`SETTLE_EVERY`] items were added since the last check (and every
//! [`SETTLE_EVERY`] log records or exemplars), so the window overshoots by less than
//! `2 × SETTLE_EVERY` items before the least recently active traces are evicted.
//! BENCHMARKS.md compares the accounted bytes with the process's RSS.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::mem::size_of;
use std::sync::Arc;
use std::time::Instant;

use hashbrown::HashTable;
use lookout_proto::wire::{AnyValueView, KeyValueView, LogsView, TracesView, WireError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::config::CorrelateConfig;
pub(crate) use super::trace::{
    ERROR_SEVERITY, ExemplarSummary, LogSummary, Resource, SpanId, SpanSummary, Trace, TraceId,
    Value, Verdict, cap, span_id, trace_id,
};
use super::trace::{
    MAX_BODY, MAX_NAME, TRACE_OVERHEAD, resources_heap, set_resource, summarize_span,
};
use crate::telemetry::Telemetry;

/// Resource attributes kept per resource.
const MAX_RESOURCE_ATTRS: usize = 64;
/// Distinct resources kept per trace; spans of further resources keep no resource.
const MAX_RESOURCES_PER_TRACE: usize = 16;

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
    traces: Traces,
    /// Trace ids by last activity (oldest first).
    activity: BTreeMap<u64, TraceId>,
    seq: u64,
    bytes: usize,
    limits: Limits,
    metrics: WindowMetrics,
    /// Reused between requests: the run of spans being gathered ([`Run`]).
    run: Run,
    /// Span-record buffers of evicted traces, emptied, for new traces to take instead of
    /// allocating ([`Spare`]).
    spare: Spare,
}

/// Emptied span-record buffers of evicted traces, by size class (a quarter power of two of
/// their capacity; at most [`SPARE_BUFFERS`] in all, each at most [`SPARE_CAPACITY`] bytes):
/// a new trace takes the smallest that fits its first spans, so in the steady state (each new
/// trace evicts an old one) a trace costs no allocation and its eviction no free. Finding one
/// looks at five classes, not at every buffer kept. The best fit matters beyond the bytes it
/// saves: a looser fit (any large enough buffer of the need's class or of the three above)
/// missed more often, and the allocations and frees of the misses fragmented the heap: at
/// 100k traces held, peak RSS was ≈ 40 MiB higher for 35 more accounted bytes per trace.
#[derive(Debug)]
struct Spare {
    /// Per class, its buffers in the order they came, each with its number in that order.
    classes: Vec<Vec<(u64, Vec<u8>)>>,
    /// Buffers kept.
    count: usize,
    /// Buffers ever kept: the next one's number.
    seq: u64,
}

impl Default for Spare {
    fn default() -> Spare {
        Spare {
            classes: (0..=size_class(SPARE_CAPACITY))
                .map(|_| Vec::new())
                .collect(),
            count: 0,
            seq: 0,
        }
    }
}

/// Buffers kept in [`Spare`].
const SPARE_BUFFERS: usize = 64;
/// Largest buffer kept in [`Spare`], bytes.
const SPARE_CAPACITY: usize = 16 << 10;

/// The size class of a capacity: `4 × log2` rounded down, so the capacities of one class are
/// within a factor 2^¼ of each other and those of four classes up at most 2^(5/4) as large.
fn size_class(capacity: usize) -> usize {
    let log = (usize::BITS - 1 - capacity.max(1).leading_zeros()) as usize;
    let quarter = if log >= 2 {
        (capacity >> (log - 2)) & 3
    } else {
        0
    };
    4 * log + quarter
}

impl Spare {
    /// Keeps `buffer` (emptied) if it is small, in place of the buffer kept longest if
    /// [`SPARE_BUFFERS`] are kept (so sizes no new trace needs do not stay); else frees it.
    fn put(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() == 0 || buffer.capacity() > SPARE_CAPACITY {
            return;
        }
        if self.count >= SPARE_BUFFERS {
            // The buffer kept longest leaves: the oldest of some class's first.
            let oldest = self
                .classes
                .iter_mut()
                .filter(|c| !c.is_empty())
                .min_by_key(|c| c.first().map_or(u64::MAX, |(seq, _)| *seq));
            if let Some(class) = oldest {
                drop(class.remove(0));
                self.count -= 1;
            }
        }
        if let Some(class) = self.classes.get_mut(size_class(buffer.capacity())) {
            buffer.clear();
            self.seq += 1;
            class.push((self.seq, buffer));
            self.count += 1;
        }
    }

    /// The smallest buffer kept that holds `need` bytes without wasting more than as much
    /// again (plus 256 B), looked for in `need`'s class and the four above it (smallest
    /// first); else an empty one (the caller allocates).
    fn take(&mut self, need: usize) -> Vec<u8> {
        let fits = |c: usize| c >= need && c <= 2 * need + 256;
        let first = size_class(need);
        for c in first..=first + 4 {
            let Some(class) = self.classes.get_mut(c) else {
                break;
            };
            let best = class
                .iter()
                .enumerate()
                .filter(|(_, (_, b))| fits(b.capacity()))
                .min_by_key(|(_, (_, b))| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                self.count -= 1;
                return class.remove(i).1;
            }
        }
        Vec::new()
    }

    /// Bytes kept (outside the window's accounting; at most
    /// `SPARE_BUFFERS × SPARE_CAPACITY`).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.classes
            .iter()
            .flatten()
            .map(|(_, b)| b.capacity())
            .sum()
    }
}

/// The traces held: a table from trace id to a slot of a slab of traces. The table holds
/// only the slot (4 bytes and a control byte per bucket; the id is compared in the slab, and
/// only when the control byte's hash bits match), so at 100k traces it stays in cache where
/// a table of ids and slots (25 bytes per bucket) did not; a new trace takes the slot the
/// last evicted one left, which is still in cache too.
#[derive(Debug, Default)]
struct Traces {
    index: HashTable<u32>,
    /// Trace ids are chosen by clients, so the table keeps a seeded hasher (foldhash: fast on
    /// 16-byte keys, unlike SipHash, and still randomised per process).
    hasher: foldhash::fast::RandomState,
    slab: Vec<Trace>,
    /// Slots of the slab no trace uses (each an empty `Trace`, nothing allocated).
    free: Vec<usize>,
}

impl Traces {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn hash(&self, id: &TraceId) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The slot of trace `id`, whose hash is `hash`.
    fn find(&self, hash: u64, id: &TraceId) -> Option<usize> {
        let slab = &self.slab;
        self.index
            .find(hash, |&i| slab.get(i as usize).is_some_and(|t| t.id == *id))
            .map(|&i| i as usize)
    }

    fn get(&self, id: &TraceId) -> Option<&Trace> {
        self.find(self.hash(id), id).and_then(|i| self.slab.get(i))
    }

    fn contains_key(&self, id: &TraceId) -> bool {
        self.find(self.hash(id), id).is_some()
    }

    /// The slot of trace `id`; an empty trace (`seq` 0) in a free slot if absent.
    fn slot_or_insert(&mut self, id: TraceId) -> usize {
        let hash = self.hash(&id);
        if let Some(i) = self.find(hash, &id) {
            return i;
        }
        let i = self.free.pop().unwrap_or_else(|| {
            self.slab.push(Trace::default());
            self.slab.len() - 1
        });
        if i >= self.slab.len() {
            // Unreachable: every free slot is in the slab. Keep the invariant anyway.
            self.slab.resize_with(i + 1, Trace::default);
        }
        if let Some(t) = self.slab.get_mut(i) {
            t.id = id;
        }
        let Traces {
            index,
            hasher,
            slab,
            ..
        } = self;
        // The window holds at most `num_traces` (at most `u32::MAX`), so a slot fits.
        let slot = u32::try_from(i).unwrap_or(u32::MAX);
        index.insert_unique(hash, slot, |&j| {
            slab.get(j as usize).map_or(0, |t| hasher.hash_one(t.id))
        });
        i
    }

    /// Takes the trace `id` out, leaving its slot free.
    fn remove(&mut self, id: &TraceId) -> Option<Trace> {
        let hash = self.hash(id);
        let Traces { index, slab, .. } = self;
        let entry = index
            .find_entry(hash, |&i| slab.get(i as usize).is_some_and(|t| t.id == *id))
            .ok()?;
        let (i, _) = entry.remove();
        let i = i as usize;
        let trace = std::mem::take(self.slab.get_mut(i)?);
        self.free.push(i);
        Some(trace)
    }
}

/// Consecutive spans of one trace read from a request, not yet in the window.
#[derive(Debug, Default)]
struct Run {
    trace: TraceId,
    /// Where each span's record starts in `text`, with the index of its resource in
    /// `resources`.
    spans: Vec<(usize, usize)>,
    /// The spans' records ([`Trace`]'s layout), one after the other.
    text: Vec<u8>,
    /// The request's resources, in order of their first span.
    resources: Vec<Arc<Resource>>,
    /// Per resource: whether it was charged to the window ([`resource_charge`]).
    charged: Vec<bool>,
}

/// What a resource held by traces costs the window: charged once, when a trace first holds
/// it, and released when the last trace holding it leaves. (The traces of one request share
/// its resources, so charging each trace would count them many times over.)
pub(super) fn resource_charge(resource: &Resource) -> usize {
    // The Arc's two counts, the Resource, its strings and attribute slice.
    2 * size_of::<usize>() + size_of::<Resource>() + resource.heap()
}

/// The charges of a leaving trace's resources that no other trace (or request being
/// indexed) holds.
fn released(trace: &Trace) -> usize {
    trace
        .resources
        .iter()
        .filter(|r| Arc::strong_count(r) == 1)
        .map(|r| resource_charge(r))
        .sum()
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
        // The id table holds slab slots as `u32`.
        let limits = Limits {
            num_traces: limits.num_traces.min(u32::MAX as usize),
            ..limits
        };
        Window {
            traces: Traces::default(),
            activity: BTreeMap::new(),
            seq: 0,
            bytes: 0,
            limits,
            metrics,
            run: Run::default(),
            spare: Spare::default(),
        }
    }

    /// Accounted bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of the evicted traces' buffers kept for new traces (not accounted).
    #[cfg(test)]
    pub(crate) fn spare_bytes(&self) -> usize {
        self.spare.bytes()
    }

    /// Traces held.
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
        let i = self.touch_slot(id, now);
        &mut self.traces.slab[i]
    }

    /// [`Window::touch`], returning the trace's slot in the slab.
    fn touch_slot(&mut self, id: TraceId, now: Now) -> usize {
        // Consecutive items of one trace (the usual order) skip the activity index.
        let newest = self.seq != 0 && self.activity.last_key_value() == Some((&self.seq, &id));
        if newest {
            let i = self.traces.slot_or_insert(id);
            let trace = &mut self.traces.slab[i];
            trace.last_active = Some(now.mono);
            trace.last_wall = now.wall;
            return i;
        }
        self.seq += 1;
        let seq = self.seq;
        // Below `num_traces` a new trace needs no eviction first: one probe of the table.
        if self.traces.len() >= self.limits.num_traces && !self.traces.contains_key(&id) {
            while self.traces.len() >= self.limits.num_traces {
                if !self.evict_oldest(0) {
                    break;
                }
            }
        }
        let i = self.traces.slot_or_insert(id);
        let trace = &mut self.traces.slab[i];
        if trace.seq == 0 {
            // New (a held trace always has a position in the activity index).
            trace.bytes = TRACE_OVERHEAD;
            self.bytes += TRACE_OVERHEAD;
        }
        if trace.seq != 0 {
            self.activity.remove(&trace.seq);
        }
        trace.seq = seq;
        trace.last_active = Some(now.mono);
        trace.last_wall = now.wall;
        self.activity.insert(seq, id);
        i
    }

    /// Evicts the least recently active trace; `false` if the window is empty.
    fn evict_oldest(&mut self, reason: usize) -> bool {
        let Some((_, id)) = self.activity.pop_first() else {
            return false;
        };
        if let Some(mut trace) = self.traces.remove(&id) {
            self.bytes = self.bytes.saturating_sub(trace.bytes + released(&trace));
            self.spare.put(std::mem::take(&mut trace.records));
        }
        if let Some(c) = self.metrics.evicted.get(reason) {
            c.inc();
        }
        true
    }

    /// Reads the table entries and slab slots of the [`EVICT_AHEAD`] least recently active
    /// traces, so that evicting them finds them in cache: each lookup's loads miss (the
    /// traces were last touched a window ago), and lookups of several traces in a row,
    /// independent of each other, overlap their misses where one eviction after another
    /// would wait for each in turn.
    fn warm_oldest(&self) {
        for id in self.activity.values().take(EVICT_AHEAD) {
            let slot = self.traces.find(self.traces.hash(id), id);
            let trace = slot.and_then(|i| self.traces.slab.get(i));
            std::hint::black_box(trace.map(|t| (t.records.capacity(), t.resources.len())));
        }
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
        'evict: while self.bytes > self.limits.max_bytes {
            self.warm_oldest();
            for _ in 0..EVICT_AHEAD {
                if self.bytes <= self.limits.max_bytes || !self.evict_oldest(1) {
                    break 'evict;
                }
            }
        }
        self.metrics.traces.set(self.traces.len() as i64);
        self.metrics.bytes.set(self.bytes as i64);
    }

    /// Indexes the spans of an encoded `ExportTraceServiceRequest`. Spans read before a
    /// malformed part are indexed.
    pub(crate) fn add_spans(&mut self, payload: &[u8], now: Now) -> Result<(), WireError> {
        let mut run = std::mem::take(&mut self.run);
        let mut pending = 0;
        let read = self.read_spans(payload, now, &mut run, &mut pending);
        let all = run.text.len();
        self.flush(&mut run, all, now, &mut pending);
        // Resources charged whose traces all left while the request was read.
        for (r, charged) in run.resources.drain(..).zip(run.charged.drain(..)) {
            if charged && Arc::strong_count(&r) == 1 {
                self.bytes = self.bytes.saturating_sub(resource_charge(&r));
            }
        }
        self.run = run;
        self.settle(&mut pending, now);
        read
    }

    /// Reads the spans of `payload` into runs, each flushed into its trace when the next span
    /// belongs to another trace or the run is [`SETTLE_EVERY`] spans long.
    fn read_spans(
        &mut self,
        payload: &[u8],
        now: Now,
        run: &mut Run,
        pending: &mut usize,
    ) -> Result<(), WireError> {
        for rs in TracesView::new(payload).resource_spans() {
            let rs = rs?;
            let mut resource: Option<usize> = None;
            for span in rs.span_bytes() {
                let mut start = run.text.len();
                let Some(tid) = summarize_span(&span?, &mut run.text)? else {
                    continue;
                };
                if !run.spans.is_empty() && (run.trace != tid || run.spans.len() >= SETTLE_EVERY) {
                    // The others' text is before this span's: flush them first.
                    self.flush(run, start, now, pending);
                    start = 0;
                }
                run.trace = tid;
                let r = *resource.get_or_insert_with(|| {
                    run.resources
                        .push(Arc::new(resource_of(rs.resource_attributes())));
                    run.charged.push(false);
                    run.resources.len() - 1
                });
                run.spans.push((start, r));
            }
        }
        Ok(())
    }

    /// Adds the run's spans, whose text is the first `upto` bytes of the run's, to their
    /// trace (touched even if it is full) as far as `max_spans_per_trace` allows; removes them
    /// and their text from the run.
    fn flush(&mut self, run: &mut Run, upto: usize, now: Now, pending: &mut usize) {
        if run.spans.is_empty() {
            return;
        }
        let max_spans = self.limits.max_spans_per_trace;
        let count = run.spans.len();
        let slot = self.touch_slot(run.trace, now);
        let trace = &mut self.traces.slab[slot];
        let take = max_spans.saturating_sub(trace.span_count).min(count);
        // Records of the spans taken: up to the first one left out.
        let records_end = run.spans.get(take).map_or(upto, |&(at, _)| at);
        let mut delta = 0;
        // Resources charged to the window rather than the trace.
        let mut shared = 0;
        let mut unresourced = 0;
        if take > 0 {
            let (records_before, resources_before) =
                (trace.records.capacity(), resources_heap(&trace.resources));
            // Resource slots first, set in the scratch records: cloning a resource's `Arc` is
            // a locked instruction, which waits for every store before it, and the copy below
            // writes into memory last touched a window ago; after it, the copy's stores drain
            // while the next spans are read.
            // The request resource last mapped, and its index in the trace.
            let mut last: Option<(usize, Option<u8>)> = None;
            for &(at, r) in run.spans.get(..take).unwrap_or_default() {
                let slot = match last {
                    Some((lr, slot)) if lr == r => slot,
                    _ => {
                        let resource = run.resources.get(r);
                        let same = |t: &Arc<Resource>| {
                            resource.is_some_and(|r| Arc::ptr_eq(t, r) || **t == **r)
                        };
                        let slot = match (trace.resources.iter().position(same), resource) {
                            (Some(i), _) => u8::try_from(i).ok(),
                            (None, Some(resource))
                                if trace.resources.len() < MAX_RESOURCES_PER_TRACE =>
                            {
                                trace.resources.push(Arc::clone(resource));
                                if let Some(charged @ false) = run.charged.get_mut(r) {
                                    *charged = true;
                                    shared += resource_charge(resource);
                                }
                                u8::try_from(trace.resources.len() - 1).ok()
                            }
                            _ => None,
                        };
                        last = Some((r, slot));
                        slot
                    }
                };
                unresourced += usize::from(slot.is_none());
                set_resource(&mut run.text, at, slot);
            }
            // Exact for a new trace (its spans usually arrive together; an evicted trace's
            // buffer if one fits), amortised after.
            if trace.span_count == 0 {
                if trace.records.capacity() == 0 {
                    trace.records = self.spare.take(records_end);
                }
                trace.records.reserve_exact(records_end);
            }
            trace
                .records
                .extend_from_slice(run.text.get(..records_end).unwrap_or_default());
            trace.span_count += take;
            delta += (trace.records.capacity() - records_before)
                + (resources_heap(&trace.resources) - resources_before);
        }
        trace.bytes += delta;
        self.bytes += delta + shared;
        let overflow = count - take;
        if overflow > 0 {
            self.metrics.spans_overflow.inc_by(overflow as u64);
        }
        if unresourced > 0 {
            self.metrics.resources_overflow.inc_by(unresourced as u64);
        }
        run.spans.clear();
        run.text.drain(..upto.min(run.text.len()));
        *pending += count;
        if *pending >= SETTLE_EVERY {
            self.settle(pending, now);
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

/// Traces whose eviction [`Window::warm_oldest`] prepares at once.
const EVICT_AHEAD: usize = 8;

/// Items indexed between two checks of `max_bytes`: bounds the overshoot to this many items.
const SETTLE_EVERY: usize = 64;

#[cfg(test)]
mod spare_tests {
    use super::{SPARE_BUFFERS, SPARE_CAPACITY, Spare, size_class};

    #[test]
    fn size_classes_grow_with_capacity_and_span_a_quarter_power_of_two() {
        // Below 4 bytes a power of two has no quarters: 1 is class 0, 2 and 3 class 4.
        let mut last = size_class(4);
        for capacity in 5..=SPARE_CAPACITY {
            let class = size_class(capacity);
            assert!(class >= last, "class fell at {capacity}");
            assert!(class <= last + 1, "class skipped at {capacity}");
            last = class;
        }
        // Every capacity of a class lies within 2^¼ of the class's smallest.
        for capacity in [64usize, 100, 480, 1000, 4096, 12_000] {
            let lowest = (1..=capacity)
                .rev()
                .take_while(|&c| size_class(c) == size_class(capacity))
                .last()
                .unwrap_or(capacity);
            assert!(capacity as f64 <= lowest as f64 * 2f64.powf(0.25) + 1.0);
        }
    }

    fn buffer(capacity: usize) -> Vec<u8> {
        Vec::with_capacity(capacity)
    }

    #[test]
    fn a_need_takes_the_smallest_buffer_that_fits_never_a_smaller_or_far_larger_one() {
        let mut spare = Spare::default();
        spare.put(buffer(1100));
        spare.put(buffer(1000));
        spare.put(buffer(300));
        // 1000 and 1100 both hold 600 without wasting more than as much again: the smaller.
        assert_eq!(spare.take(600).capacity(), 1000);
        // 300 does not hold 400, and 1100 wastes too much for it.
        assert_eq!(spare.take(400).capacity(), 0);
        // 300 is too large for 100 (more than four classes up): not taken.
        assert_eq!(spare.take(100).capacity(), 0);
        assert_eq!(spare.take(290).capacity(), 300);
        assert_eq!(spare.take(1050).capacity(), 1100);
        assert_eq!(spare.count, 0);
    }

    #[test]
    fn a_full_pool_keeps_a_new_buffer_in_place_of_the_one_kept_longest() {
        let mut spare = Spare::default();
        // The oldest is of another class than the rest.
        spare.put(buffer(2000));
        for _ in 1..SPARE_BUFFERS {
            spare.put(buffer(500));
        }
        assert_eq!(spare.count, SPARE_BUFFERS);
        // A buffer of a size no kept one has is kept; the 2000-byte one (the oldest) leaves,
        // not one of the more recent 500-byte ones.
        spare.put(buffer(4000));
        assert_eq!(spare.count, SPARE_BUFFERS);
        assert_eq!(
            spare.bytes(),
            (SPARE_BUFFERS - 1) * 500 + 4000,
            "the oldest buffer stayed"
        );
        assert_eq!(spare.take(3500).capacity(), 4000);
        assert_eq!(spare.bytes(), (SPARE_BUFFERS - 1) * 500);
        // Beyond SPARE_CAPACITY nothing is kept.
        spare.put(buffer(SPARE_CAPACITY + 1));
        assert_eq!(spare.count, SPARE_BUFFERS - 1);
    }
}
