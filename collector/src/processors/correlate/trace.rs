//! What the window keeps per trace: span, log and exemplar summaries, the resources their
//! spans came from, and the one-pass reading of an encoded span into its summary.
//!
//! A trace's spans are records in one buffer ([`Trace::records`]): per span a fixed header
//! (ids, times, kind, status, text lengths, resource slot; [`SpanSummary::encode`]) followed
//! by its texts (attribute entries as encoded, name, status message, verdict). Indexing a
//! request's spans of one trace therefore costs one copy and at most one allocation, and
//! evicting the trace frees it at once; its first resources sit inside the trace.

use std::mem::size_of;
use std::sync::Arc;

use lookout_anomaly::{ATTR_ANOMALY, ATTR_KIND, ATTR_ROOT_SPAN_ID};
use lookout_proto::otlp::common::v1::{KeyValue, any_value};
use lookout_proto::wire::reader::{Field, FieldReader, WireValue};
use lookout_proto::wire::{AnyValueView, SpanBytes, WireError};
use prost::Message;
use smallvec::SmallVec;

/// A 16-byte trace id.
pub(crate) type TraceId = [u8; 16];
/// An 8-byte span id.
pub(crate) type SpanId = [u8; 8];

/// Longest span, metric or operation name kept.
pub(super) const MAX_NAME: usize = 256;
/// Longest attribute value or status message kept.
pub(super) const MAX_VALUE: usize = 256;
/// Longest log body kept.
pub(super) const MAX_BODY: usize = 1024;
/// Encoded span attributes kept per span (whole `KeyValue`s, in order, until this many bytes).
const MAX_SPAN_ATTR_BYTES: usize = 1024;
/// Severity number from which a log record counts as an error (`ERROR`).
pub(crate) const ERROR_SEVERITY: i32 = 17;

/// Bytes a trace costs besides its items: its slot in the id table at worst load (power-of-two
/// growth, 7/8 load factor: slab index, control byte), its slab slot and free-list entry
/// (both vectors at worst twice their length), its activity-index entry.
pub(super) const TRACE_OVERHEAD: usize = 2 * (size_of::<u32>() + 1)
    + 2 * (size_of::<Trace>() + size_of::<usize>())
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
    pub(super) fn from_view(v: AnyValueView<'_>) -> Option<Value> {
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

/// A resource's scalar attributes, as spans of a trace carried them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resource {
    /// `service.name`, or empty.
    pub(crate) service: Box<str>,
    /// Attributes in their order, capped.
    pub(crate) attrs: Box<[Attr]>,
}

impl Resource {
    /// Bytes on the heap.
    pub(super) fn heap(&self) -> usize {
        self.service.len()
            + size_of_val(&*self.attrs)
            + self
                .attrs
                .iter()
                .map(|(k, v)| k.len() + v.heap())
                .sum::<usize>()
    }
}

/// The `lookout.latency.*` verdict a span was tagged with (its texts are in the trace's
/// records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verdict<'t> {
    /// `lookout.latency.kind`.
    pub(crate) kind: &'t str,
    /// `lookout.latency.root_span_id`, or empty.
    pub(crate) root_span_id: &'t str,
}

/// Bytes of a span record's header in [`Trace::records`] (see [`SpanSummary::encode`]).
pub(super) const HEADER: usize = 52;
/// Where the header keeps the span's resource slot ([`NO_RESOURCE`] for none).
pub(super) const RESOURCE_AT: usize = 50;
/// The resource slot of a span without a resource.
const NO_RESOURCE: u8 = u8::MAX;

/// What the window keeps of a span, decoded from its record in [`Trace::records`]. Its name,
/// status message, attribute entries and verdict texts follow the record's header: read them
/// with [`Trace::name`], [`Trace::status_message`], [`Trace::attributes`] and
/// [`Trace::verdict_of`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanSummary {
    pub(crate) span_id: SpanId,
    /// All zero for a root.
    pub(crate) parent: SpanId,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) kind: i32,
    pub(crate) status: i32,
    /// Where the span's text starts in the records: its attribute entries (field 9 as
    /// encoded, key and length included, verdict keys left out), then the name, the status
    /// message, the verdict's kind and root span id.
    pub(super) text: usize,
    /// Bytes of attribute entries (at most [`MAX_SPAN_ATTR_BYTES`]).
    pub(super) attrs_len: u16,
    /// Bytes of the name (at most [`MAX_NAME`]).
    pub(super) name_len: u16,
    /// Bytes of the status message (at most [`MAX_VALUE`]).
    pub(super) status_len: u16,
    /// Bytes of the verdict's kind and root span id (each at most [`MAX_NAME`]); `None`
    /// without a verdict.
    pub(super) verdict: Option<(u16, u16)>,
    /// Index in [`Trace::resources`], `None` beyond the window's resources per trace.
    pub(crate) resource: Option<u8>,
}

impl SpanSummary {
    /// Bytes of text after the header.
    pub(super) fn text_len(&self) -> usize {
        let (k, r) = self.verdict.unwrap_or((0, 0));
        [self.attrs_len, self.name_len, self.status_len, k, r]
            .iter()
            .map(|&l| usize::from(l))
            .sum()
    }

    /// Duration in nanoseconds (0 when the end precedes the start).
    pub(crate) fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it has no parent.
    pub(crate) fn is_root(&self) -> bool {
        self.parent == [0; 8]
    }

    /// The record header: ids, times, kind, status, text lengths (little endian), the
    /// resource slot, whether there is a verdict.
    fn encode(&self) -> [u8; HEADER] {
        let mut h = [0; HEADER];
        let (vk, vr) = self.verdict.unwrap_or((0, 0));
        let parts: [&[u8]; 11] = [
            &self.span_id,
            &self.parent,
            &self.start.to_le_bytes(),
            &self.end.to_le_bytes(),
            &self.kind.to_le_bytes(),
            &self.status.to_le_bytes(),
            &self.attrs_len.to_le_bytes(),
            &self.name_len.to_le_bytes(),
            &self.status_len.to_le_bytes(),
            &vk.to_le_bytes(),
            &vr.to_le_bytes(),
        ];
        let mut at = 0;
        for p in parts {
            if let Some(dst) = h.get_mut(at..at + p.len()) {
                dst.copy_from_slice(p);
            }
            at += p.len();
        }
        h[RESOURCE_AT] = self.resource.unwrap_or(NO_RESOURCE);
        h[RESOURCE_AT + 1] = u8::from(self.verdict.is_some());
        h
    }

    /// The span whose record starts at `at` in `records`; `None` past the end.
    fn decode(records: &[u8], at: usize) -> Option<SpanSummary> {
        let h: &[u8; HEADER] = records.get(at..at + HEADER)?.try_into().ok()?;
        fn arr<const N: usize>(h: &[u8; HEADER], at: usize) -> [u8; N] {
            h.get(at..at + N)
                .and_then(|b| b.try_into().ok())
                .unwrap_or([0; N])
        }
        let u16_at = |i| u16::from_le_bytes(arr(h, i));
        Some(SpanSummary {
            span_id: arr(h, 0),
            parent: arr(h, 8),
            start: u64::from_le_bytes(arr(h, 16)),
            end: u64::from_le_bytes(arr(h, 24)),
            kind: i32::from_le_bytes(arr(h, 32)),
            status: i32::from_le_bytes(arr(h, 36)),
            text: at + HEADER,
            attrs_len: u16_at(40),
            name_len: u16_at(42),
            status_len: u16_at(44),
            verdict: (h[RESOURCE_AT + 1] != 0).then(|| (u16_at(46), u16_at(48))),
            resource: Some(h[RESOURCE_AT]).filter(|&r| r != NO_RESOURCE),
        })
    }
}

/// The spans of a trace, decoded in order from its records.
#[derive(Debug, Clone)]
pub(crate) struct Spans<'t> {
    records: &'t [u8],
    at: usize,
}

impl Iterator for Spans<'_> {
    type Item = SpanSummary;

    fn next(&mut self) -> Option<SpanSummary> {
        let span = SpanSummary::decode(self.records, self.at)?;
        self.at = span.text + span.text_len();
        Some(span)
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
    pub(super) fn heap(&self) -> usize {
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

/// Resources a trace holds without an allocation of their own (most traces have one).
pub(super) const INLINE_RESOURCES: usize = 2;

/// One trace in the window.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// Shared with the other traces of the request that brought it; the first
    /// [`INLINE_RESOURCES`] inside the trace.
    pub(crate) resources: SmallVec<[Arc<Resource>; INLINE_RESOURCES]>,
    /// One record per span, one after the other: a [`HEADER`] (the summary) and its text.
    /// A trace's spans are one allocation.
    pub(super) records: Vec<u8>,
    /// Spans in `records`.
    pub(super) span_count: usize,
    pub(crate) logs: Vec<LogSummary>,
    pub(crate) exemplars: Vec<ExemplarSummary>,
    /// Accounted bytes (see the window's module docs).
    pub(super) bytes: usize,
    /// Its id (the window's table holds only its slot in the slab).
    pub(super) id: TraceId,
    /// Position in the activity index.
    pub(super) seq: u64,
    pub(super) last_active: Option<std::time::Instant>,
    /// Wall-clock nanoseconds of the last activity (for "newest first").
    pub(crate) last_wall: u64,
}

impl Trace {
    /// The accounted bytes recomputed from scratch (the window keeps them incrementally).
    #[cfg(test)]
    pub(crate) fn account(&self) -> usize {
        TRACE_OVERHEAD
            + resources_heap(&self.resources)
            + self.records.capacity()
            + self.logs.capacity() * size_of::<LogSummary>()
            + self.logs.iter().map(LogSummary::heap).sum::<usize>()
            + self.exemplars.capacity() * size_of::<ExemplarSummary>()
            + self.exemplars.iter().map(|e| e.metric.len()).sum::<usize>()
    }

    /// The spans, in the order they arrived.
    pub(crate) fn spans(&self) -> Spans<'_> {
        Spans {
            records: &self.records,
            at: 0,
        }
    }

    /// How many spans it holds.
    pub(crate) fn span_count(&self) -> usize {
        self.span_count
    }

    /// The span with this id (the first, if ids collide).
    pub(crate) fn span(&self, id: &SpanId) -> Option<SpanSummary> {
        self.spans().find(|s| &s.span_id == id)
    }

    /// The resource of a span.
    pub(crate) fn resource_of(&self, span: &SpanSummary) -> Option<&Resource> {
        span.resource
            .and_then(|i| self.resources.get(usize::from(i)))
            .map(|r| &**r)
    }

    /// The root span, or else the earliest span.
    pub(crate) fn root(&self) -> Option<SpanSummary> {
        self.spans()
            .find(|s| s.is_root())
            .or_else(|| self.spans().min_by_key(|s| s.start))
    }

    /// The first tagged span's verdict.
    pub(crate) fn verdict(&self) -> Option<Verdict<'_>> {
        self.spans().find_map(|s| self.verdict_of(&s))
    }

    /// A span's verdict, if it was tagged.
    pub(crate) fn verdict_of(&self, span: &SpanSummary) -> Option<Verdict<'_>> {
        let (kind, root) = span.verdict?;
        let at =
            usize::from(span.attrs_len) + usize::from(span.name_len) + usize::from(span.status_len);
        let text = |at, len| std::str::from_utf8(self.text_of(span, at, len)).unwrap_or("");
        Some(Verdict {
            kind: text(at, kind),
            root_span_id: text(at + usize::from(kind), root),
        })
    }

    /// Accounted bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// `len` bytes of text at `at` bytes after the start of `span`'s text.
    fn text_of(&self, span: &SpanSummary, at: usize, len: u16) -> &[u8] {
        let start = span.text + at;
        self.records
            .get(start..start + usize::from(len))
            .unwrap_or_default()
    }

    /// A span's name (capped at [`MAX_NAME`] bytes).
    pub(crate) fn name(&self, span: &SpanSummary) -> &str {
        let b = self.text_of(span, usize::from(span.attrs_len), span.name_len);
        std::str::from_utf8(b).unwrap_or("")
    }

    /// A span's status message (capped at [`MAX_VALUE`] bytes).
    pub(crate) fn status_message(&self, span: &SpanSummary) -> &str {
        let at = usize::from(span.attrs_len) + usize::from(span.name_len);
        std::str::from_utf8(self.text_of(span, at, span.status_len)).unwrap_or("")
    }

    /// A span's scalar attributes kept (verdict attributes excluded), decoded.
    pub(crate) fn attributes(&self, span: &SpanSummary) -> Vec<Attr> {
        let mut out = Vec::new();
        let mut r = FieldReader::new(self.text_of(span, 0, span.attrs_len));
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
}

/// Bytes a trace's resource list has on the heap (none while they fit inline).
pub(super) fn resources_heap(resources: &SmallVec<[Arc<Resource>; INLINE_RESOURCES]>) -> usize {
    if resources.spilled() {
        resources.capacity() * size_of::<Arc<Resource>>()
    } else {
        0
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

/// Whether an encoded `KeyValue` may have a verdict key: `false` only when it is laid out as
/// encoders write it (the key first, with a one-byte length, then at most the value as its
/// only other field) and its key does not start with [`VERDICT_PREFIX`]. Anything else is
/// read in full ([`key_and_value`]: the last key wins, as protobuf merges), so the answer is
/// exact, and a usual attribute costs a few byte comparisons.
pub(super) fn may_be_verdict(kv: &[u8]) -> bool {
    let [0x0a, n, rest @ ..] = kv else {
        return true;
    };
    let n = usize::from(*n);
    if n >= 0x80 {
        return true;
    }
    let (Some(key), Some(after)) = (rest.get(..n), rest.get(n..)) else {
        return true;
    };
    key.starts_with(VERDICT_PREFIX) || !only_a_value(after)
}

/// Whether `b` is empty or exactly one `value` field (tag 2, length-delimited, a length of
/// one or two bytes).
fn only_a_value(b: &[u8]) -> bool {
    match b {
        [] => true,
        [0x12, l, rest @ ..] if *l < 0x80 => rest.len() == usize::from(*l),
        [0x12, l0, l1, rest @ ..] if *l0 >= 0x80 && *l1 < 0x80 => {
            rest.len() == usize::from(*l0 & 0x7f) | (usize::from(*l1) << 7)
        }
        _ => false,
    }
}

/// The fields of a span that its summary keeps, read in one pass (texts as bytes: the
/// receiver checked their UTF-8; one that is not reads back as empty).
#[derive(Default)]
struct Fields<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent: &'a [u8],
    name: &'a [u8],
    kind: u64,
    start: u64,
    end: u64,
    status_message: &'a [u8],
    status_code: u64,
}

/// Reads a span's fields, handing each attribute entry to `attribute`; `None` for anything
/// [`SpanBytes::read`] might refuse (a wrong wire type, a malformed field), which the caller
/// then reads that way for its error.
#[inline(always)]
fn read_fields<'a>(body: &'a [u8], mut attribute: impl FnMut(Field<'a>)) -> Option<Fields<'a>> {
    let mut s = Fields::default();
    let mut r = FieldReader::new(body);
    while let Some(f) = r.next_field().ok()? {
        match (f.number, f.value) {
            (1, WireValue::Len(b)) => s.trace_id = b,
            (2, WireValue::Len(b)) => s.span_id = b,
            (3, WireValue::Len(_)) => {}
            (4, WireValue::Len(b)) => s.parent = b,
            (5, WireValue::Len(b)) => s.name = b,
            (6, WireValue::Varint(v)) => s.kind = v,
            (7, WireValue::Fixed64(v)) => s.start = v,
            (8, WireValue::Fixed64(v)) => s.end = v,
            // The caller skips entries that are not length-delimited, as the view does.
            (9, _) => attribute(f),
            (15, WireValue::Len(b)) => {
                let mut st = FieldReader::new(b);
                while let Some(g) = st.next_field().ok()? {
                    match (g.number, g.value) {
                        (2, WireValue::Len(m)) => s.status_message = m,
                        (3, WireValue::Varint(c)) => s.status_code = c,
                        (2 | 3, _) => return None,
                        _ => {}
                    }
                }
            }
            (16, WireValue::Fixed32(_)) => {}
            (1..=8 | 15 | 16, _) => return None,
            _ => {}
        }
    }
    Some(s)
}

/// Reads a span in one pass and appends its record (header and text, see
/// [`Trace::records`]) to `records`, its resource slot left empty; returns its trace id.
/// `None` (nothing appended) for a span without valid trace and span ids; an error for a
/// malformed span (what [`lookout_proto::wire::SpanView`] refuses, but the UTF-8 of its texts,
/// which the receiver checked: a text that is not UTF-8 is kept and reads back as empty).
///
/// Attribute entries are copied whole, in order, until [`MAX_SPAN_ATTR_BYTES`]; only keys
/// that may start with the verdict prefix are read ([`may_be_verdict`]) and only the
/// verdict's values decoded.
pub(super) fn summarize_span(
    span: &SpanBytes<'_>,
    records: &mut Vec<u8>,
) -> Result<Option<TraceId>, WireError> {
    let record = records.len();
    records.extend_from_slice(&[0; HEADER]);
    let text = records;
    let start = text.len();
    let (mut anomaly, mut kind, mut root) = (false, None, None);
    let body = span.payload();
    // Entries kept are usually adjacent in the span: copy each stretch of them at once.
    let mut kept = 0;
    let mut stretch = 0..0;
    let read = read_fields(body, |f| {
        let WireValue::Len(kv) = f.value else {
            return;
        };
        if may_be_verdict(kv) {
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
                    return;
                }
            }
        }
        if kept + f.raw.len() <= MAX_SPAN_ATTR_BYTES {
            kept += f.raw.len();
            let at = f.offset;
            if at != stretch.end {
                text.extend_from_slice(body.get(stretch.clone()).unwrap_or_default());
                stretch = at..at;
            }
            stretch.end = at + f.raw.len();
        }
    });
    let Some(view) = read else {
        text.truncate(record);
        // Not as encoders write spans: the view's reading says what is wrong (or reads it).
        span.read(|_| {})?;
        // Unreachable: the view refuses all that this reading does. Skip the span.
        return Ok(None);
    };
    text.extend_from_slice(body.get(stretch).unwrap_or_default());
    let (Some(tid), Some(sid)) = (trace_id(view.trace_id), span_id(view.span_id)) else {
        text.truncate(record);
        return Ok(None);
    };
    let attrs_len = text.len() - start;
    let name = cap_bytes(view.name, MAX_NAME);
    let status_message = cap_bytes(view.status_message, MAX_VALUE);
    text.extend_from_slice(name);
    text.extend_from_slice(status_message);
    let verdict = anomaly.then(|| {
        let (kind, root) = (kind.unwrap_or(""), root.unwrap_or(""));
        text.extend_from_slice(kind.as_bytes());
        text.extend_from_slice(root.as_bytes());
        (len16(kind.len()), len16(root.len()))
    });
    let summary = SpanSummary {
        span_id: sid,
        parent: view.parent.try_into().unwrap_or([0; 8]),
        start: view.start,
        end: view.end,
        kind: view.kind as i32,
        status: view.status_code as i32,
        text: start,
        attrs_len: len16(attrs_len),
        name_len: len16(name.len()),
        status_len: len16(status_message.len()),
        verdict,
        resource: None,
    };
    if let Some(header) = text.get_mut(record..start) {
        header.copy_from_slice(&summary.encode());
    }
    Ok(Some(tid))
}

/// `b` cut to at most `max` bytes, on a character boundary when it is UTF-8.
fn cap_bytes(b: &[u8], max: usize) -> &[u8] {
    if b.len() <= max {
        return b;
    }
    let mut end = max;
    // A UTF-8 continuation byte (10xxxxxx) is no boundary.
    while end > 0 && b.get(end).is_some_and(|&c| c & 0xc0 == 0x80) {
        end -= 1;
    }
    b.get(..end).unwrap_or_default()
}

/// A text length (each is capped far below `u16::MAX`).
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(0)
}

/// Sets the resource slot of the span record at `record` in `records`.
pub(super) fn set_resource(records: &mut [u8], record: usize, slot: Option<u8>) {
    if let Some(b) = records.get_mut(record + RESOURCE_AT) {
        *b = slot.unwrap_or(NO_RESOURCE);
    }
}
