//! Trace views: the request / resource / scope levels and [`SpanView`].

use super::any_value::{AnyValueView, KeyValues};
use super::levels::{NestedKeyValues, ResourceLevel, ScopeLevel, signal_views};
use super::{
    Repeated, Result, ViewIter, as_fixed32, as_fixed64, as_len, as_str, as_varint, reader,
};
use crate::wire::reader::Field;

signal_views!(
    TracesView,
    "A borrowed view of an encoded `ExportTraceServiceRequest`.",
    resource_spans,
    ResourceSpansView,
    "A borrowed `ResourceSpans`.",
    scope_spans,
    ScopeSpansView,
    "A borrowed `ScopeSpans`.",
    spans,
    SpanView
);

/// Where a span sits in the buffer it was read from; hand it to
/// [`append_span_attributes`](crate::wire::append_span_attributes).
///
/// Only meaningful for the exact buffer the view was created over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanLocation {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl SpanLocation {
    /// Byte range of the span's payload (after its length prefix) in the buffer.
    pub fn byte_range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// A borrowed `Span`. Scalar fields are read when the view is created.
#[derive(Debug, Clone, Copy)]
pub struct SpanView<'a> {
    body: &'a [u8],
    base: usize,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent_span_id: &'a [u8],
    trace_state: &'a str,
    name: &'a str,
    kind: i32,
    start: u64,
    end: u64,
    flags: u32,
    status_code: i32,
    status_message: &'a str,
}

impl<'a> ScopeSpansView<'a> {
    /// The spans of this scope, unread: each one's encoding, for a reader that wants the
    /// span's fields and its attribute entries in one pass ([`SpanBytes::read`]).
    pub fn span_bytes(&self) -> ViewIter<'a, SpanBytes<'a>> {
        ViewIter::new(
            self.level.body,
            self.level.base,
            2,
            "spans",
            SpanBytes::from_payload,
        )
    }
}

impl<'a> ResourceSpansView<'a> {
    /// The spans of every scope, in order, unread — the scopes are not read either (no
    /// [`ScopeSpansView`] is made), for a reader that needs only the spans.
    pub fn span_bytes(&self) -> AllSpanBytes<'a> {
        AllSpanBytes {
            scopes: Repeated::new(self.level.body, self.level.base, 2, "scope_spans"),
            spans: None,
        }
    }
}

/// The spans of every scope of a [`ResourceSpansView`]; yields `Err` once for malformed
/// structure, then stops.
#[derive(Debug, Clone)]
pub struct AllSpanBytes<'a> {
    scopes: Repeated<'a>,
    spans: Option<ViewIter<'a, SpanBytes<'a>>>,
}

impl<'a> Iterator for AllSpanBytes<'a> {
    type Item = Result<SpanBytes<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(spans) = &mut self.spans {
                match spans.next() {
                    Some(Ok(span)) => return Some(Ok(span)),
                    Some(Err(e)) => {
                        self.scopes = Repeated::new(&[], 0, 0, "");
                        self.spans = None;
                        return Some(Err(e));
                    }
                    None => self.spans = None,
                }
            }
            match self.scopes.next()? {
                Err(e) => return Some(Err(e)),
                Ok((body, base)) => {
                    self.spans = Some(ViewIter::new(
                        body,
                        base,
                        2,
                        "spans",
                        SpanBytes::from_payload,
                    ));
                }
            }
        }
    }
}

/// One encoded `Span` of a [`ScopeSpansView`], not read yet.
#[derive(Debug, Clone, Copy)]
pub struct SpanBytes<'a> {
    body: &'a [u8],
    base: usize,
}

impl<'a> SpanBytes<'a> {
    fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
        Ok(SpanBytes { body, base })
    }

    /// The span's payload (after its length prefix).
    pub fn payload(&self) -> &'a [u8] {
        self.body
    }

    /// Where the span sits in the request.
    pub fn location(&self) -> SpanLocation {
        SpanLocation {
            start: self.base,
            end: self.base + self.body.len(),
        }
    }

    /// The span as a [`SpanView`] (same checks, same errors), read in one pass that also hands
    /// each `attributes` entry (field 9: key, length prefix and `KeyValue` payload, as
    /// encoded) to `attribute`, in order. Saves the second pass over the span that
    /// [`SpanView::attributes`] makes.
    #[inline]
    pub fn read(&self, attribute: impl FnMut(Field<'a>)) -> Result<SpanView<'a>> {
        SpanView::parse(self.body, self.base, attribute)
    }
}

impl<'a> SpanView<'a> {
    fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
        Self::parse(body, base, |_| {})
    }

    #[inline(always)]
    fn parse(body: &'a [u8], base: usize, mut attribute: impl FnMut(Field<'a>)) -> Result<Self> {
        let mut s = SpanView {
            body,
            base,
            trace_id: &[],
            span_id: &[],
            parent_span_id: &[],
            trace_state: "",
            name: "",
            kind: 0,
            start: 0,
            end: 0,
            flags: 0,
            status_code: 0,
            status_message: "",
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => s.trace_id = as_len(&f, "Span.trace_id")?,
                2 => s.span_id = as_len(&f, "Span.span_id")?,
                3 => s.trace_state = as_str(&f, "Span.trace_state")?,
                4 => s.parent_span_id = as_len(&f, "Span.parent_span_id")?,
                5 => s.name = as_str(&f, "Span.name")?,
                6 => s.kind = as_varint(&f, "Span.kind")? as i32,
                7 => s.start = as_fixed64(&f, "Span.start_time_unix_nano")?,
                8 => s.end = as_fixed64(&f, "Span.end_time_unix_nano")?,
                15 => {
                    let mut st = reader(as_len(&f, "Span.status")?, f.value_offset);
                    while let Some(g) = st.next_field()? {
                        match g.number {
                            2 => s.status_message = as_str(&g, "Status.message")?,
                            3 => s.status_code = as_varint(&g, "Status.code")? as i32,
                            _ => {}
                        }
                    }
                }
                9 => attribute(f),
                16 => s.flags = as_fixed32(&f, "Span.flags")?,
                _ => {}
            }
        }
        Ok(s)
    }
}

impl<'a> SpanView<'a> {
    /// `trace_id` bytes (16 in valid OTLP, or empty).
    pub fn trace_id(&self) -> &'a [u8] {
        self.trace_id
    }
    /// `span_id` bytes (8 in valid OTLP, or empty).
    pub fn span_id(&self) -> &'a [u8] {
        self.span_id
    }
    /// `parent_span_id` bytes (empty for a root span).
    pub fn parent_span_id(&self) -> &'a [u8] {
        self.parent_span_id
    }
    /// W3C `trace_state`.
    pub fn trace_state(&self) -> &'a str {
        self.trace_state
    }
    /// Span name.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// `SpanKind` as its wire value.
    pub fn kind(&self) -> i32 {
        self.kind
    }
    /// Start time, ns since the Unix epoch.
    pub fn start_time_unix_nano(&self) -> u64 {
        self.start
    }
    /// End time, ns since the Unix epoch.
    pub fn end_time_unix_nano(&self) -> u64 {
        self.end
    }
    /// `flags` (W3C trace flags in the low byte).
    pub fn flags(&self) -> u32 {
        self.flags
    }
    /// `Status.code` as its wire value (0 = unset).
    pub fn status_code(&self) -> i32 {
        self.status_code
    }
    /// `Status.message`.
    pub fn status_message(&self) -> &'a str {
        self.status_message
    }
    /// The first attribute with this key (`None` if absent or malformed).
    pub fn attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
        self.attributes().find(key)
    }
    /// All attributes, in order.
    pub fn attributes(&self) -> KeyValues<'a> {
        KeyValues::new(self.body, self.base, 9, "Span.attributes")
    }
    /// Handle for the editor.
    pub fn location(&self) -> SpanLocation {
        SpanLocation {
            start: self.base,
            end: self.base + self.body.len(),
        }
    }
}
