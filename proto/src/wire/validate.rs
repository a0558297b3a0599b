//! One structural pass over a whole request: accept exactly what prost would decode, plus the
//! OTLP id-length rules, and count items the way the OpenTelemetry Collector does.

use super::error::{WireError, WireErrorKind};
use super::reader::{Field, FieldReader, WireValue, read_varint};

type Result<T> = std::result::Result<T, WireError>;

/// Item counts of a valid `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracesSummary {
    /// Number of `ResourceSpans`.
    pub resource_spans: usize,
    /// Number of `ScopeSpans` over all resources.
    pub scope_spans: usize,
    /// Number of spans (the collector's item count for traces).
    pub spans: usize,
}

/// Item counts of a valid `ExportLogsServiceRequest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsSummary {
    /// Number of `ResourceLogs`.
    pub resource_logs: usize,
    /// Number of `ScopeLogs` over all resources.
    pub scope_logs: usize,
    /// Number of log records (the collector's item count for logs).
    pub log_records: usize,
}

/// Item counts of a valid `ExportMetricsServiceRequest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSummary {
    /// Number of `ResourceMetrics`.
    pub resource_metrics: usize,
    /// Number of `ScopeMetrics` over all resources.
    pub scope_metrics: usize,
    /// Number of `Metric` messages.
    pub metrics: usize,
    /// Data points over all metrics of all types (the collector's item count for metrics).
    pub data_points: usize,
}

// === field helpers ===

#[inline]
fn wrong(f: &Field<'_>, field: &'static str) -> WireError {
    WireError::new(
        WireErrorKind::WrongWireType {
            field,
            found: f.value.wire_type(),
        },
        f.offset,
    )
}

#[inline]
fn len<'a>(f: &Field<'a>, field: &'static str) -> Result<&'a [u8]> {
    match f.value {
        WireValue::Len(b) => Ok(b),
        _ => Err(wrong(f, field)),
    }
}

/// Checks a `string` field. Only validity matters here, so the common short-ASCII case is
/// answered by `is_ascii` (inlined) without calling into `from_utf8`.
#[inline]
fn string(f: &Field<'_>, field: &'static str) -> Result<()> {
    utf8(len(f, field)?, f.value_offset, field)
}

#[inline]
fn utf8(b: &[u8], offset: usize, field: &'static str) -> Result<()> {
    if b.is_ascii() {
        return Ok(());
    }
    std::str::from_utf8(b).map(drop).map_err(|e| {
        WireError::new(
            WireErrorKind::InvalidUtf8 { field },
            offset + e.valid_up_to(),
        )
    })
}

#[inline]
fn varint(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Varint(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
fn fixed64(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Fixed64(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
fn fixed32(f: &Field<'_>, field: &'static str) -> Result<u32> {
    match f.value {
        WireValue::Fixed32(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
fn message<'a>(r: &FieldReader<'a>, f: &Field<'a>, field: &'static str) -> Result<FieldReader<'a>> {
    let b = len(f, field)?;
    r.child(f, b)
}

/// Remembers the last occurrence of an id field: prost keeps the last one, so that is the
/// value the OTLP length rule applies to.
#[derive(Clone, Copy, Default)]
struct LastId {
    len: usize,
    offset: usize,
}

impl LastId {
    #[inline]
    fn set(&mut self, f: &Field<'_>, field: &'static str) -> Result<()> {
        self.len = len(f, field)?.len();
        self.offset = f.value_offset;
        Ok(())
    }

    #[inline]
    fn check(self, field: &'static str, expected: usize) -> Result<()> {
        if self.len == 0 || self.len == expected {
            Ok(())
        } else {
            Err(WireError::new(
                WireErrorKind::InvalidIdLength {
                    field,
                    len: self.len,
                    expected,
                },
                self.offset,
            ))
        }
    }
}

/// A repeated fixed-width scalar: prost accepts both the packed and the unpacked encoding.
#[inline]
fn packed_fixed64(f: &Field<'_>, field: &'static str) -> Result<()> {
    match f.value {
        WireValue::Fixed64(_) => Ok(()),
        WireValue::Len(b) if b.len() % 8 == 0 => Ok(()),
        WireValue::Len(_) => Err(WireError::new(
            WireErrorKind::PackedLength { field },
            f.offset,
        )),
        _ => Err(wrong(f, field)),
    }
}

/// A repeated varint scalar, packed or not. Packed payloads must hold whole varints.
fn packed_varint(f: &Field<'_>, field: &'static str) -> Result<()> {
    match f.value {
        WireValue::Varint(_) => Ok(()),
        WireValue::Len(b) => {
            let mut pos = 0;
            while pos < b.len() {
                let at = pos;
                read_varint(b, &mut pos).map_err(|k| WireError::new(k, f.value_offset + at))?;
            }
            Ok(())
        }
        _ => Err(wrong(f, field)),
    }
}

// === requests ===

/// Validates an encoded `ExportTraceServiceRequest` (or `TracesData`) and counts its items.
///
/// Accepts exactly the inputs `ExportTraceServiceRequest::decode` accepts, except that it
/// also rejects trace ids that are not 0 or 16 bytes and span ids (span, parent, link) that
/// are not 0 or 8 bytes.
pub fn validate_traces(buf: &[u8]) -> Result<TracesSummary> {
    let mut s = TracesSummary::default();
    let mut r = FieldReader::new(buf);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                resource_spans(
                    message(&r, &f, "ExportTraceServiceRequest.resource_spans")?,
                    &mut s,
                )?;
                s.resource_spans += 1;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(s)
}

/// Validates an encoded `ExportLogsServiceRequest` (or `LogsData`) and counts its items.
///
/// Accepts exactly what prost accepts, except log records whose trace id is not 0 or 16
/// bytes or whose span id is not 0 or 8 bytes.
pub fn validate_logs(buf: &[u8]) -> Result<LogsSummary> {
    let mut s = LogsSummary::default();
    let mut r = FieldReader::new(buf);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                resource_logs(
                    message(&r, &f, "ExportLogsServiceRequest.resource_logs")?,
                    &mut s,
                )?;
                s.resource_logs += 1;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(s)
}

/// Validates an encoded `ExportMetricsServiceRequest` (or `MetricsData`) and counts its items.
///
/// Accepts exactly what prost accepts, except exemplars with wrong-length trace/span ids.
/// Data points are counted on the value prost would produce: when a `Metric` carries several
/// `data` oneof fields, the last variant wins and repeated occurrences of it merge.
pub fn validate_metrics(buf: &[u8]) -> Result<MetricsSummary> {
    let mut s = MetricsSummary::default();
    let mut r = FieldReader::new(buf);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                resource_metrics(
                    message(&r, &f, "ExportMetricsServiceRequest.resource_metrics")?,
                    &mut s,
                )?;
                s.resource_metrics += 1;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(s)
}

// === traces ===

fn resource_spans(mut r: FieldReader<'_>, s: &mut TracesSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => resource(message(&r, &f, "ResourceSpans.resource")?)?,
            2 => {
                scope_spans(message(&r, &f, "ResourceSpans.scope_spans")?, s)?;
                s.scope_spans += 1;
            }
            3 => {
                string(&f, "ResourceSpans.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn scope_spans(mut r: FieldReader<'_>, s: &mut TracesSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => scope(message(&r, &f, "ScopeSpans.scope")?)?,
            2 => {
                span(message(&r, &f, "ScopeSpans.spans")?)?;
                s.spans += 1;
            }
            3 => {
                string(&f, "ScopeSpans.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn span(mut r: FieldReader<'_>) -> Result<()> {
    let (mut trace_id, mut span_id, mut parent) =
        (LastId::default(), LastId::default(), LastId::default());
    loop {
        // Attributes dominate span bytes; take them without building a `Field`.
        if let Some((b, off)) = r.take_short_len(0x4a) {
            key_value(r.child_at(b, off)?)?;
            continue;
        }
        let Some(f) = r.next_field()? else { break };
        match f.number {
            1 => trace_id.set(&f, "Span.trace_id")?,
            2 => span_id.set(&f, "Span.span_id")?,
            3 => {
                string(&f, "Span.trace_state")?;
            }
            4 => parent.set(&f, "Span.parent_span_id")?,
            5 => {
                string(&f, "Span.name")?;
            }
            6 => {
                varint(&f, "Span.kind")?;
            }
            7 => {
                fixed64(&f, "Span.start_time_unix_nano")?;
            }
            8 => {
                fixed64(&f, "Span.end_time_unix_nano")?;
            }
            9 => key_value(message(&r, &f, "Span.attributes")?)?,
            10 => {
                varint(&f, "Span.dropped_attributes_count")?;
            }
            11 => event(message(&r, &f, "Span.events")?)?,
            12 => {
                varint(&f, "Span.dropped_events_count")?;
            }
            13 => link(message(&r, &f, "Span.links")?)?,
            14 => {
                varint(&f, "Span.dropped_links_count")?;
            }
            15 => status(message(&r, &f, "Span.status")?)?,
            16 => {
                fixed32(&f, "Span.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("Span.trace_id", 16)?;
    span_id.check("Span.span_id", 8)?;
    parent.check("Span.parent_span_id", 8)
}

fn event(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                fixed64(&f, "Span.Event.time_unix_nano")?;
            }
            2 => {
                string(&f, "Span.Event.name")?;
            }
            3 => key_value(message(&r, &f, "Span.Event.attributes")?)?,
            4 => {
                varint(&f, "Span.Event.dropped_attributes_count")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn link(mut r: FieldReader<'_>) -> Result<()> {
    let (mut trace_id, mut span_id) = (LastId::default(), LastId::default());
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => trace_id.set(&f, "Span.Link.trace_id")?,
            2 => span_id.set(&f, "Span.Link.span_id")?,
            3 => {
                string(&f, "Span.Link.trace_state")?;
            }
            4 => key_value(message(&r, &f, "Span.Link.attributes")?)?,
            5 => {
                varint(&f, "Span.Link.dropped_attributes_count")?;
            }
            6 => {
                fixed32(&f, "Span.Link.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("Span.Link.trace_id", 16)?;
    span_id.check("Span.Link.span_id", 8)
}

fn status(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            2 => {
                string(&f, "Status.message")?;
            }
            3 => {
                varint(&f, "Status.code")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

// === common ===

fn resource(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => key_value(message(&r, &f, "Resource.attributes")?)?,
            2 => {
                varint(&f, "Resource.dropped_attributes_count")?;
            }
            3 => entity_ref(message(&r, &f, "Resource.entity_refs")?)?,
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn entity_ref(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                string(&f, "EntityRef.schema_url")?;
            }
            2 => {
                string(&f, "EntityRef.type")?;
            }
            3 => {
                string(&f, "EntityRef.id_keys")?;
            }
            4 => {
                string(&f, "EntityRef.description_keys")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn scope(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                string(&f, "InstrumentationScope.name")?;
            }
            2 => {
                string(&f, "InstrumentationScope.version")?;
            }
            3 => key_value(message(&r, &f, "InstrumentationScope.attributes")?)?,
            4 => {
                varint(&f, "InstrumentationScope.dropped_attributes_count")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn key_value(mut r: FieldReader<'_>) -> Result<()> {
    loop {
        if let Some((b, off)) = r.take_short_len(0x0a) {
            utf8(b, off, "KeyValue.key")?;
            continue;
        }
        if let Some((b, off)) = r.take_short_len(0x12) {
            any_value(r.child_at(b, off)?)?;
            continue;
        }
        let Some(f) = r.next_field()? else { break };
        match f.number {
            1 => {
                string(&f, "KeyValue.key")?;
            }
            2 => any_value(message(&r, &f, "KeyValue.value")?)?,
            3 => {
                varint(&f, "KeyValue.key_strindex")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

/// Recursion here is bounded by the reader's depth budget: every nested message costs one
/// level, so hostile nesting ends in `RecursionLimit` long before the stack is at risk.
fn any_value(mut r: FieldReader<'_>) -> Result<()> {
    loop {
        if let Some((b, off)) = r.take_short_len(0x0a) {
            utf8(b, off, "AnyValue.string_value")?;
            continue;
        }
        let Some(f) = r.next_field()? else { break };
        match f.number {
            1 => {
                string(&f, "AnyValue.string_value")?;
            }
            2 => {
                varint(&f, "AnyValue.bool_value")?;
            }
            3 => {
                varint(&f, "AnyValue.int_value")?;
            }
            4 => {
                fixed64(&f, "AnyValue.double_value")?;
            }
            5 => {
                let mut a = message(&r, &f, "AnyValue.array_value")?;
                while let Some(g) = a.next_field()? {
                    match g.number {
                        1 => any_value(message(&a, &g, "ArrayValue.values")?)?,
                        _ => a.skip_unknown(&g)?,
                    }
                }
            }
            6 => {
                let mut l = message(&r, &f, "AnyValue.kvlist_value")?;
                while let Some(g) = l.next_field()? {
                    match g.number {
                        1 => key_value(message(&l, &g, "KeyValueList.values")?)?,
                        _ => l.skip_unknown(&g)?,
                    }
                }
            }
            7 => {
                len(&f, "AnyValue.bytes_value")?;
            }
            8 => {
                varint(&f, "AnyValue.string_value_strindex")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

// === logs ===

fn resource_logs(mut r: FieldReader<'_>, s: &mut LogsSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => resource(message(&r, &f, "ResourceLogs.resource")?)?,
            2 => {
                scope_logs(message(&r, &f, "ResourceLogs.scope_logs")?, s)?;
                s.scope_logs += 1;
            }
            3 => {
                string(&f, "ResourceLogs.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn scope_logs(mut r: FieldReader<'_>, s: &mut LogsSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => scope(message(&r, &f, "ScopeLogs.scope")?)?,
            2 => {
                log_record(message(&r, &f, "ScopeLogs.log_records")?)?;
                s.log_records += 1;
            }
            3 => {
                string(&f, "ScopeLogs.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn log_record(mut r: FieldReader<'_>) -> Result<()> {
    let (mut trace_id, mut span_id) = (LastId::default(), LastId::default());
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                fixed64(&f, "LogRecord.time_unix_nano")?;
            }
            11 => {
                fixed64(&f, "LogRecord.observed_time_unix_nano")?;
            }
            2 => {
                varint(&f, "LogRecord.severity_number")?;
            }
            3 => {
                string(&f, "LogRecord.severity_text")?;
            }
            5 => any_value(message(&r, &f, "LogRecord.body")?)?,
            6 => key_value(message(&r, &f, "LogRecord.attributes")?)?,
            7 => {
                varint(&f, "LogRecord.dropped_attributes_count")?;
            }
            8 => {
                fixed32(&f, "LogRecord.flags")?;
            }
            9 => trace_id.set(&f, "LogRecord.trace_id")?,
            10 => span_id.set(&f, "LogRecord.span_id")?,
            12 => {
                string(&f, "LogRecord.event_name")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("LogRecord.trace_id", 16)?;
    span_id.check("LogRecord.span_id", 8)
}

// === metrics ===

fn resource_metrics(mut r: FieldReader<'_>, s: &mut MetricsSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => resource(message(&r, &f, "ResourceMetrics.resource")?)?,
            2 => {
                scope_metrics(message(&r, &f, "ResourceMetrics.scope_metrics")?, s)?;
                s.scope_metrics += 1;
            }
            3 => {
                string(&f, "ResourceMetrics.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn scope_metrics(mut r: FieldReader<'_>, s: &mut MetricsSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => scope(message(&r, &f, "ScopeMetrics.scope")?)?,
            2 => {
                s.data_points += metric(message(&r, &f, "ScopeMetrics.metrics")?)?;
                s.metrics += 1;
            }
            3 => {
                string(&f, "ScopeMetrics.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

/// Returns the data point count of the metric's final `data` value.
fn metric(mut r: FieldReader<'_>) -> Result<usize> {
    let mut variant = 0u32;
    let mut points = 0usize;
    while let Some(f) = r.next_field()? {
        let n = match f.number {
            1 => {
                string(&f, "Metric.name")?;
                continue;
            }
            2 => {
                string(&f, "Metric.description")?;
                continue;
            }
            3 => {
                string(&f, "Metric.unit")?;
                continue;
            }
            12 => {
                key_value(message(&r, &f, "Metric.metadata")?)?;
                continue;
            }
            5 => data(message(&r, &f, "Metric.gauge")?, DataKind::Gauge)?,
            7 => data(message(&r, &f, "Metric.sum")?, DataKind::Sum)?,
            9 => data(message(&r, &f, "Metric.histogram")?, DataKind::Histogram)?,
            10 => data(
                message(&r, &f, "Metric.exponential_histogram")?,
                DataKind::ExpHistogram,
            )?,
            11 => data(message(&r, &f, "Metric.summary")?, DataKind::Summary)?,
            _ => {
                r.skip_unknown(&f)?;
                continue;
            }
        };
        // prost merges a repeated occurrence of the same oneof variant and replaces on change.
        if f.number == variant {
            points += n;
        } else {
            variant = f.number;
            points = n;
        }
    }
    Ok(points)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DataKind {
    Gauge,
    Sum,
    Histogram,
    ExpHistogram,
    Summary,
}

fn data(mut r: FieldReader<'_>, kind: DataKind) -> Result<usize> {
    let mut n = 0;
    while let Some(f) = r.next_field()? {
        match (kind, f.number) {
            (DataKind::Gauge | DataKind::Sum, 1) => {
                number_data_point(message(&r, &f, "NumberDataPoint")?)?;
                n += 1;
            }
            (DataKind::Histogram, 1) => {
                histogram_data_point(message(&r, &f, "HistogramDataPoint")?)?;
                n += 1;
            }
            (DataKind::ExpHistogram, 1) => {
                exp_histogram_data_point(message(&r, &f, "ExponentialHistogramDataPoint")?)?;
                n += 1;
            }
            (DataKind::Summary, 1) => {
                summary_data_point(message(&r, &f, "SummaryDataPoint")?)?;
                n += 1;
            }
            (DataKind::Sum | DataKind::Histogram | DataKind::ExpHistogram, 2) => {
                varint(&f, "aggregation_temporality")?;
            }
            (DataKind::Sum, 3) => {
                varint(&f, "Sum.is_monotonic")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(n)
}

fn number_data_point(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            7 => key_value(message(&r, &f, "NumberDataPoint.attributes")?)?,
            2 => {
                fixed64(&f, "NumberDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "NumberDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "NumberDataPoint.as_double")?;
            }
            6 => {
                fixed64(&f, "NumberDataPoint.as_int")?;
            }
            5 => exemplar(message(&r, &f, "NumberDataPoint.exemplars")?)?,
            8 => {
                varint(&f, "NumberDataPoint.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn histogram_data_point(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            9 => key_value(message(&r, &f, "HistogramDataPoint.attributes")?)?,
            2 => {
                fixed64(&f, "HistogramDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "HistogramDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "HistogramDataPoint.count")?;
            }
            5 => {
                fixed64(&f, "HistogramDataPoint.sum")?;
            }
            6 => packed_fixed64(&f, "HistogramDataPoint.bucket_counts")?,
            7 => packed_fixed64(&f, "HistogramDataPoint.explicit_bounds")?,
            8 => exemplar(message(&r, &f, "HistogramDataPoint.exemplars")?)?,
            10 => {
                varint(&f, "HistogramDataPoint.flags")?;
            }
            11 => {
                fixed64(&f, "HistogramDataPoint.min")?;
            }
            12 => {
                fixed64(&f, "HistogramDataPoint.max")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn exp_histogram_data_point(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => key_value(message(&r, &f, "ExponentialHistogramDataPoint.attributes")?)?,
            2 => {
                fixed64(&f, "ExponentialHistogramDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "ExponentialHistogramDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "ExponentialHistogramDataPoint.count")?;
            }
            5 => {
                fixed64(&f, "ExponentialHistogramDataPoint.sum")?;
            }
            6 => {
                varint(&f, "ExponentialHistogramDataPoint.scale")?;
            }
            7 => {
                fixed64(&f, "ExponentialHistogramDataPoint.zero_count")?;
            }
            8 => buckets(message(&r, &f, "ExponentialHistogramDataPoint.positive")?)?,
            9 => buckets(message(&r, &f, "ExponentialHistogramDataPoint.negative")?)?,
            10 => {
                varint(&f, "ExponentialHistogramDataPoint.flags")?;
            }
            11 => exemplar(message(&r, &f, "ExponentialHistogramDataPoint.exemplars")?)?,
            12 => {
                fixed64(&f, "ExponentialHistogramDataPoint.min")?;
            }
            13 => {
                fixed64(&f, "ExponentialHistogramDataPoint.max")?;
            }
            14 => {
                fixed64(&f, "ExponentialHistogramDataPoint.zero_threshold")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn buckets(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                varint(&f, "Buckets.offset")?;
            }
            2 => packed_varint(&f, "Buckets.bucket_counts")?,
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn summary_data_point(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            7 => key_value(message(&r, &f, "SummaryDataPoint.attributes")?)?,
            2 => {
                fixed64(&f, "SummaryDataPoint.start_time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "SummaryDataPoint.time_unix_nano")?;
            }
            4 => {
                fixed64(&f, "SummaryDataPoint.count")?;
            }
            5 => {
                fixed64(&f, "SummaryDataPoint.sum")?;
            }
            6 => {
                let mut q = message(&r, &f, "SummaryDataPoint.quantile_values")?;
                while let Some(g) = q.next_field()? {
                    match g.number {
                        1 => {
                            fixed64(&g, "ValueAtQuantile.quantile")?;
                        }
                        2 => {
                            fixed64(&g, "ValueAtQuantile.value")?;
                        }
                        _ => q.skip_unknown(&g)?,
                    }
                }
            }
            8 => {
                varint(&f, "SummaryDataPoint.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn exemplar(mut r: FieldReader<'_>) -> Result<()> {
    let (mut trace_id, mut span_id) = (LastId::default(), LastId::default());
    while let Some(f) = r.next_field()? {
        match f.number {
            7 => key_value(message(&r, &f, "Exemplar.filtered_attributes")?)?,
            2 => {
                fixed64(&f, "Exemplar.time_unix_nano")?;
            }
            3 => {
                fixed64(&f, "Exemplar.as_double")?;
            }
            6 => {
                fixed64(&f, "Exemplar.as_int")?;
            }
            4 => span_id.set(&f, "Exemplar.span_id")?,
            5 => trace_id.set(&f, "Exemplar.trace_id")?,
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("Exemplar.trace_id", 16)?;
    span_id.check("Exemplar.span_id", 8)
}

/// Data-point count of one encoded `Metric`, with prost's oneof semantics. Shared with the
/// views and the splitter so all three agree with [`validate_metrics`].
pub(crate) fn metric_data_points(r: FieldReader<'_>) -> Result<usize> {
    metric(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rejects_short_trace_id() {
        // ResourceSpans { ScopeSpans { Span { trace_id: [1,2,3] } } }
        let span = [0x0a, 0x03, 1, 2, 3];
        let mut scope = vec![0x12, span.len() as u8];
        scope.extend_from_slice(&span);
        let mut rs = vec![0x12, scope.len() as u8];
        rs.extend_from_slice(&scope);
        let mut req = vec![0x0a, rs.len() as u8];
        req.extend_from_slice(&rs);
        let err = validate_traces(&req).unwrap_err();
        assert!(err.is_semantic());
        assert_eq!(err.field(), Some("Span.trace_id"));
        assert!(
            err.to_string().contains("must be empty or 16 bytes, got 3"),
            "{err}"
        );
    }

    #[test]
    fn last_id_occurrence_wins() {
        // Span { trace_id: [1,2,3], trace_id: [] }: prost keeps the empty one.
        let span = [0x0a, 0x03, 1, 2, 3, 0x0a, 0x00];
        let mut scope = vec![0x12, span.len() as u8];
        scope.extend_from_slice(&span);
        let mut rs = vec![0x12, scope.len() as u8];
        rs.extend_from_slice(&scope);
        let mut req = vec![0x0a, rs.len() as u8];
        req.extend_from_slice(&rs);
        assert_eq!(validate_traces(&req).unwrap().spans, 1);
    }

    #[test]
    fn packed_lengths() {
        let f = |b: &'static [u8]| Field {
            number: 6,
            value: WireValue::Len(b),
            raw: b,
            offset: 0,
            value_offset: 0,
        };
        assert!(packed_fixed64(&f(&[0; 16]), "x").is_ok());
        assert!(packed_fixed64(&f(&[0; 12]), "x").is_err());
        assert!(packed_varint(&f(&[0x01, 0x80, 0x01]), "x").is_ok());
        assert!(packed_varint(&f(&[0x01, 0x80]), "x").is_err());
    }
}
