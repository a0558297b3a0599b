//! Borrowed, allocation-free views over encoded OTLP requests.
//!
//! Views parse lazily: creating a [`TracesView`] costs nothing, and each iterator step reads
//! one message's own fields (not its children). They are meant for buffers that already passed
//! `validate_*`, but they never panic on any input: iterators yield `Err` for malformed
//! structure and stop, and lookups such as [`SpanView::attribute`] return `None` when the
//! attribute they would read is malformed.
//!
//! Where a singular field occurs several times, views report the last occurrence, as prost
//! does for scalars. (prost *merges* repeated occurrences of a singular message field; for
//! `Resource` and `InstrumentationScope` the views follow that, for an `AnyValue` body they
//! report the last occurrence.)

use super::error::{WireError, WireErrorKind};
use super::reader::{Field, FieldReader, RECURSION_LIMIT, WireValue};

type Result<T> = std::result::Result<T, WireError>;

// === field access ===

fn wrong(f: &Field<'_>, field: &'static str) -> WireError {
    WireError::new(
        WireErrorKind::WrongWireType {
            field,
            found: f.value.wire_type(),
        },
        f.offset,
    )
}

fn as_len<'a>(f: &Field<'a>, field: &'static str) -> Result<&'a [u8]> {
    match f.value {
        WireValue::Len(b) => Ok(b),
        _ => Err(wrong(f, field)),
    }
}

fn as_str<'a>(f: &Field<'a>, field: &'static str) -> Result<&'a str> {
    std::str::from_utf8(as_len(f, field)?)
        .map_err(|_| WireError::new(WireErrorKind::InvalidUtf8 { field }, f.value_offset))
}

fn as_varint(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Varint(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

fn as_fixed64(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Fixed64(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

fn as_fixed32(f: &Field<'_>, field: &'static str) -> Result<u32> {
    match f.value {
        WireValue::Fixed32(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

fn reader(body: &[u8], base: usize) -> FieldReader<'_> {
    FieldReader::nested(body, base, RECURSION_LIMIT)
}

/// Iterates the payloads of one repeated message field, skipping every other field.
#[derive(Debug, Clone)]
struct Repeated<'a> {
    r: FieldReader<'a>,
    number: u32,
    name: &'static str,
}

impl<'a> Repeated<'a> {
    fn new(body: &'a [u8], base: usize, number: u32, name: &'static str) -> Self {
        Self {
            r: reader(body, base),
            number,
            name,
        }
    }
}

impl<'a> Iterator for Repeated<'a> {
    /// Payload and its absolute offset.
    type Item = Result<(&'a [u8], usize)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.r.next()? {
                Err(e) => return Some(Err(e)),
                Ok(f) if f.number == self.number => {
                    let item = as_len(&f, self.name).map(|b| (b, f.value_offset));
                    if item.is_err() {
                        // Fuse: the rest of this message is not trustworthy.
                        self.r = reader(&[], 0);
                    }
                    return Some(item);
                }
                Ok(_) => {}
            }
        }
    }
}

// === impl AnyValueView ===

/// A borrowed `AnyValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyValueView<'a> {
    /// An `AnyValue` with no value set.
    Empty,
    /// `string_value`.
    String(&'a str),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// `bytes_value`.
    Bytes(&'a [u8]),
    /// `array_value`, read lazily.
    Array(ArrayView<'a>),
    /// `kvlist_value`, read lazily.
    KvList(KeyValueListView<'a>),
    /// `string_value_strindex` (profiles only).
    StringIndex(i32),
}

impl<'a> AnyValueView<'a> {
    /// Reads one encoded `AnyValue` message whose first byte is at absolute offset `base`.
    pub(crate) fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut v = AnyValueView::Empty;
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            v = match f.number {
                1 => AnyValueView::String(as_str(&f, "AnyValue.string_value")?),
                2 => AnyValueView::Bool(as_varint(&f, "AnyValue.bool_value")? != 0),
                3 => AnyValueView::Int(as_varint(&f, "AnyValue.int_value")? as i64),
                4 => AnyValueView::Double(f64::from_bits(as_fixed64(&f, "AnyValue.double_value")?)),
                5 => AnyValueView::Array(ArrayView {
                    body: as_len(&f, "AnyValue.array_value")?,
                    base: f.value_offset,
                }),
                6 => AnyValueView::KvList(KeyValueListView {
                    body: as_len(&f, "AnyValue.kvlist_value")?,
                    base: f.value_offset,
                }),
                7 => AnyValueView::Bytes(as_len(&f, "AnyValue.bytes_value")?),
                8 => AnyValueView::StringIndex(
                    as_varint(&f, "AnyValue.string_value_strindex")? as i32
                ),
                _ => continue,
            };
        }
        Ok(v)
    }

    /// The string, if this is a `string_value`.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            AnyValueView::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A borrowed `ArrayValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrayView<'a> {
    body: &'a [u8],
    base: usize,
}

impl<'a> ArrayView<'a> {
    /// The elements, in order.
    pub fn values(&self) -> impl Iterator<Item = Result<AnyValueView<'a>>> + 'a {
        Repeated::new(self.body, self.base, 1, "ArrayValue.values")
            .map(|r| r.and_then(|(b, off)| AnyValueView::parse(b, off)))
    }
}

/// A borrowed `KeyValueList`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyValueListView<'a> {
    body: &'a [u8],
    base: usize,
}

impl<'a> KeyValueListView<'a> {
    /// The entries, in order.
    pub fn values(&self) -> KeyValues<'a> {
        KeyValues::new(self.body, self.base, 1, "KeyValueList.values")
    }
}

/// A borrowed `KeyValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyValueView<'a> {
    key: &'a str,
    value: Option<AnyValueView<'a>>,
}

impl<'a> KeyValueView<'a> {
    fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut kv = KeyValueView {
            key: "",
            value: None,
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => kv.key = as_str(&f, "KeyValue.key")?,
                2 => {
                    kv.value = Some(AnyValueView::parse(
                        as_len(&f, "KeyValue.value")?,
                        f.value_offset,
                    )?)
                }
                _ => {}
            }
        }
        Ok(kv)
    }

    /// The attribute key.
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The value; `None` when the `KeyValue` has no `value` field at all.
    pub fn value(&self) -> Option<AnyValueView<'a>> {
        self.value
    }
}

/// Iterator over the `KeyValue`s of a repeated attributes field.
#[derive(Debug, Clone)]
pub struct KeyValues<'a>(Repeated<'a>);

impl<'a> KeyValues<'a> {
    fn new(body: &'a [u8], base: usize, number: u32, name: &'static str) -> Self {
        Self(Repeated::new(body, base, number, name))
    }

    /// First entry with this key; `None` if absent or if the entries before it are malformed.
    fn find(self, key: &str) -> Option<AnyValueView<'a>> {
        for kv in self {
            let kv = kv.ok()?;
            if kv.key == key {
                return Some(kv.value.unwrap_or(AnyValueView::Empty));
            }
        }
        None
    }
}

impl<'a> Iterator for KeyValues<'a> {
    type Item = Result<KeyValueView<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.0
                .next()?
                .and_then(|(b, off)| KeyValueView::parse(b, off)),
        )
    }
}

// === resource and scope levels (shared by all signals) ===

/// The part of `ResourceSpans` / `ResourceLogs` / `ResourceMetrics` that is the same for all
/// signals.
#[derive(Debug, Clone, Copy)]
struct ResourceLevel<'a> {
    body: &'a [u8],
    base: usize,
    schema_url: &'a str,
}

impl<'a> ResourceLevel<'a> {
    fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut out = ResourceLevel {
            body,
            base,
            schema_url: "",
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            if f.number == 3 {
                out.schema_url = as_str(&f, "schema_url")?;
            }
        }
        Ok(out)
    }

    /// Attributes of every `resource` occurrence, in order (prost merges them).
    fn attributes(&self) -> NestedKeyValues<'a> {
        NestedKeyValues {
            outer: Repeated::new(self.body, self.base, 1, "resource"),
            inner: None,
        }
    }
}

/// The common part of `ScopeSpans` / `ScopeLogs` / `ScopeMetrics`.
#[derive(Debug, Clone, Copy)]
struct ScopeLevel<'a> {
    body: &'a [u8],
    base: usize,
    name: &'a str,
    version: &'a str,
    schema_url: &'a str,
}

impl<'a> ScopeLevel<'a> {
    fn parse(body: &'a [u8], base: usize) -> Result<Self> {
        let mut out = ScopeLevel {
            body,
            base,
            name: "",
            version: "",
            schema_url: "",
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => {
                    let mut s = reader(as_len(&f, "scope")?, f.value_offset);
                    while let Some(g) = s.next_field()? {
                        match g.number {
                            1 => out.name = as_str(&g, "InstrumentationScope.name")?,
                            2 => out.version = as_str(&g, "InstrumentationScope.version")?,
                            _ => {}
                        }
                    }
                }
                3 => out.schema_url = as_str(&f, "schema_url")?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn attributes(&self) -> NestedKeyValues<'a> {
        NestedKeyValues {
            outer: Repeated::new(self.body, self.base, 1, "scope"),
            inner: None,
        }
    }
}

/// Attributes (field 1) of every occurrence of a singular message field, in order.
#[derive(Debug, Clone)]
pub struct NestedKeyValues<'a> {
    outer: Repeated<'a>,
    inner: Option<KeyValues<'a>>,
}

impl<'a> NestedKeyValues<'a> {
    fn find(self, key: &str) -> Option<AnyValueView<'a>> {
        for kv in self {
            let kv = kv.ok()?;
            if kv.key == key {
                return Some(kv.value.unwrap_or(AnyValueView::Empty));
            }
        }
        None
    }
}

impl<'a> Iterator for NestedKeyValues<'a> {
    type Item = Result<KeyValueView<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(inner) = &mut self.inner {
                if let Some(kv) = inner.next() {
                    return Some(kv);
                }
                self.inner = None;
            }
            match self.outer.next()? {
                Err(e) => return Some(Err(e)),
                Ok((b, off)) => self.inner = Some(KeyValues::new(b, off, 1, "attributes")),
            }
        }
    }
}

/// Iterator over the messages of one repeated field, each parsed into a view.
///
/// Yields `Err` once for malformed structure, then stops.
#[derive(Clone)]
pub struct ViewIter<'a, V> {
    inner: Repeated<'a>,
    parse: fn(&'a [u8], usize) -> Result<V>,
}

impl<V> std::fmt::Debug for ViewIter<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewIter")
            .field("offset", &self.inner.r.offset())
            .finish()
    }
}

impl<'a, V> ViewIter<'a, V> {
    fn new(
        body: &'a [u8],
        base: usize,
        number: u32,
        name: &'static str,
        parse: fn(&'a [u8], usize) -> Result<V>,
    ) -> Self {
        Self {
            inner: Repeated::new(body, base, number, name),
            parse,
        }
    }
}

impl<'a, V> Iterator for ViewIter<'a, V> {
    type Item = Result<V>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?.and_then(|(b, off)| (self.parse)(b, off));
        if item.is_err() {
            self.inner = Repeated::new(&[], 0, 0, "");
        }
        Some(item)
    }
}

/// Generates the request / resource / scope views of one signal; they differ only in names.
macro_rules! signal_views {
    (
        $request:ident, $request_doc:literal, $resources_fn:ident,
        $resource:ident, $resource_doc:literal, $scopes_fn:ident,
        $scope:ident, $scope_doc:literal, $items_fn:ident, $item:ident
    ) => {
        #[doc = $request_doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $request<'a> {
            buf: &'a [u8],
        }

        impl<'a> $request<'a> {
            /// Wraps an encoded request. Nothing is read until iteration.
            pub fn new(buf: &'a [u8]) -> Self {
                Self { buf }
            }

            /// The resource-level entries, in order.
            pub fn $resources_fn(&self) -> ViewIter<'a, $resource<'a>> {
                ViewIter::new(
                    self.buf,
                    0,
                    1,
                    stringify!($resources_fn),
                    $resource::from_payload,
                )
            }
        }

        #[doc = $resource_doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $resource<'a> {
            level: ResourceLevel<'a>,
        }

        impl<'a> $resource<'a> {
            fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
                Ok(Self {
                    level: ResourceLevel::parse(body, base)?,
                })
            }
        }

        impl<'a> $resource<'a> {
            /// The first resource attribute with this key (`None` if absent or malformed).
            pub fn resource_attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
                self.level.attributes().find(key)
            }

            /// All resource attributes, in order.
            pub fn resource_attributes(&self) -> NestedKeyValues<'a> {
                self.level.attributes()
            }

            /// The `service.name` resource attribute, when it is a string.
            pub fn service_name(&self) -> Option<&'a str> {
                self.resource_attribute("service.name")?.as_str()
            }

            /// The resource-level `schema_url`.
            pub fn schema_url(&self) -> &'a str {
                self.level.schema_url
            }

            /// The scope-level entries, in order.
            pub fn $scopes_fn(&self) -> ViewIter<'a, $scope<'a>> {
                ViewIter::new(
                    self.level.body,
                    self.level.base,
                    2,
                    stringify!($scopes_fn),
                    $scope::from_payload,
                )
            }
        }

        #[doc = $scope_doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $scope<'a> {
            level: ScopeLevel<'a>,
        }

        impl<'a> $scope<'a> {
            fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
                Ok(Self {
                    level: ScopeLevel::parse(body, base)?,
                })
            }
        }

        impl<'a> $scope<'a> {
            /// `InstrumentationScope.name` (empty when there is no scope).
            pub fn scope_name(&self) -> &'a str {
                self.level.name
            }

            /// `InstrumentationScope.version`.
            pub fn scope_version(&self) -> &'a str {
                self.level.version
            }

            /// The first scope attribute with this key.
            pub fn scope_attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
                self.level.attributes().find(key)
            }

            /// The scope-level `schema_url`.
            pub fn schema_url(&self) -> &'a str {
                self.level.schema_url
            }

            /// The items of this scope, in order.
            pub fn $items_fn(&self) -> ViewIter<'a, $item<'a>> {
                ViewIter::new(
                    self.level.body,
                    self.level.base,
                    2,
                    stringify!($items_fn),
                    $item::from_payload,
                )
            }
        }
    };
}

// === traces ===

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
/// [`append_span_attributes`](super::append_span_attributes).
///
/// Only meaningful for the exact buffer the view was created over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanLocation {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Where a log record sits in the buffer it was read from; hand it to
/// [`append_log_attributes`](super::append_log_attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogRecordLocation {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl SpanLocation {
    /// Byte range of the span's payload (after its length prefix) in the buffer.
    pub fn byte_range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

impl LogRecordLocation {
    /// Byte range of the record's payload (after its length prefix) in the buffer.
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

impl<'a> SpanView<'a> {
    fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
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

// === logs ===

signal_views!(
    LogsView,
    "A borrowed view of an encoded `ExportLogsServiceRequest`.",
    resource_logs,
    ResourceLogsView,
    "A borrowed `ResourceLogs`.",
    scope_logs,
    ScopeLogsView,
    "A borrowed `ScopeLogs`.",
    log_records,
    LogRecordView
);

/// A borrowed `LogRecord`. Scalar fields and the body are read when the view is created.
#[derive(Debug, Clone, Copy)]
pub struct LogRecordView<'a> {
    body_bytes: &'a [u8],
    base: usize,
    time: u64,
    observed_time: u64,
    severity_number: i32,
    severity_text: &'a str,
    body: Option<AnyValueView<'a>>,
    flags: u32,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    event_name: &'a str,
}

impl<'a> LogRecordView<'a> {
    fn from_payload(bytes: &'a [u8], base: usize) -> Result<Self> {
        let mut l = LogRecordView {
            body_bytes: bytes,
            base,
            time: 0,
            observed_time: 0,
            severity_number: 0,
            severity_text: "",
            body: None,
            flags: 0,
            trace_id: &[],
            span_id: &[],
            event_name: "",
        };
        let mut r = reader(bytes, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => l.time = as_fixed64(&f, "LogRecord.time_unix_nano")?,
                11 => l.observed_time = as_fixed64(&f, "LogRecord.observed_time_unix_nano")?,
                2 => l.severity_number = as_varint(&f, "LogRecord.severity_number")? as i32,
                3 => l.severity_text = as_str(&f, "LogRecord.severity_text")?,
                5 => {
                    l.body = Some(AnyValueView::parse(
                        as_len(&f, "LogRecord.body")?,
                        f.value_offset,
                    )?)
                }
                8 => l.flags = as_fixed32(&f, "LogRecord.flags")?,
                9 => l.trace_id = as_len(&f, "LogRecord.trace_id")?,
                10 => l.span_id = as_len(&f, "LogRecord.span_id")?,
                12 => l.event_name = as_str(&f, "LogRecord.event_name")?,
                _ => {}
            }
        }
        Ok(l)
    }
}

impl<'a> LogRecordView<'a> {
    /// `time_unix_nano` (0 = unknown).
    pub fn time_unix_nano(&self) -> u64 {
        self.time
    }
    /// `observed_time_unix_nano`.
    pub fn observed_time_unix_nano(&self) -> u64 {
        self.observed_time
    }
    /// `severity_number` as its wire value.
    pub fn severity_number(&self) -> i32 {
        self.severity_number
    }
    /// `severity_text`.
    pub fn severity_text(&self) -> &'a str {
        self.severity_text
    }
    /// The body; `None` when the record has no `body` field.
    pub fn body(&self) -> Option<AnyValueView<'a>> {
        self.body
    }
    /// `flags`.
    pub fn flags(&self) -> u32 {
        self.flags
    }
    /// `trace_id` bytes (16 or empty in valid OTLP).
    pub fn trace_id(&self) -> &'a [u8] {
        self.trace_id
    }
    /// `span_id` bytes (8 or empty in valid OTLP).
    pub fn span_id(&self) -> &'a [u8] {
        self.span_id
    }
    /// `event_name`.
    pub fn event_name(&self) -> &'a str {
        self.event_name
    }
    /// The first attribute with this key (`None` if absent or malformed).
    pub fn attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
        self.attributes().find(key)
    }
    /// All attributes, in order.
    pub fn attributes(&self) -> KeyValues<'a> {
        KeyValues::new(self.body_bytes, self.base, 6, "LogRecord.attributes")
    }
    /// Handle for the editor.
    pub fn location(&self) -> LogRecordLocation {
        LogRecordLocation {
            start: self.base,
            end: self.base + self.body_bytes.len(),
        }
    }
}

// === metrics ===

signal_views!(
    MetricsView,
    "A borrowed view of an encoded `ExportMetricsServiceRequest`.",
    resource_metrics,
    ResourceMetricsView,
    "A borrowed `ResourceMetrics`.",
    scope_metrics,
    ScopeMetricsView,
    "A borrowed `ScopeMetrics`.",
    metrics,
    MetricView
);

/// Which `data` oneof variant a metric carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricDataType {
    /// No `data` field.
    Empty,
    /// `gauge`.
    Gauge,
    /// `sum`.
    Sum,
    /// `histogram`.
    Histogram,
    /// `exponential_histogram`.
    ExponentialHistogram,
    /// `summary`.
    Summary,
}

/// A borrowed `Metric`.
#[derive(Debug, Clone, Copy)]
pub struct MetricView<'a> {
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    data_type: MetricDataType,
    data_points: usize,
}

impl<'a> MetricView<'a> {
    fn from_payload(body: &'a [u8], base: usize) -> Result<Self> {
        let mut m = MetricView {
            name: "",
            description: "",
            unit: "",
            data_type: MetricDataType::Empty,
            data_points: 0,
        };
        let mut r = reader(body, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => m.name = as_str(&f, "Metric.name")?,
                2 => m.description = as_str(&f, "Metric.description")?,
                3 => m.unit = as_str(&f, "Metric.unit")?,
                5 => m.data_type = MetricDataType::Gauge,
                7 => m.data_type = MetricDataType::Sum,
                9 => m.data_type = MetricDataType::Histogram,
                10 => m.data_type = MetricDataType::ExponentialHistogram,
                11 => m.data_type = MetricDataType::Summary,
                _ => {}
            }
        }
        // Counting needs the full oneof merge rules; reuse the validator's.
        m.data_points = super::validate::metric_data_points(reader(body, base))?;
        Ok(m)
    }
}

impl<'a> MetricView<'a> {
    /// `name`.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// `description`.
    pub fn description(&self) -> &'a str {
        self.description
    }
    /// `unit`.
    pub fn unit(&self) -> &'a str {
        self.unit
    }
    /// The `data` variant (the last one, as prost keeps).
    pub fn data_type(&self) -> MetricDataType {
        self.data_type
    }
    /// Number of data points, counted like [`validate_metrics`](super::validate_metrics).
    pub fn data_point_count(&self) -> usize {
        self.data_points
    }
}
