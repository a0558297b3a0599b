//! OTLP/JSON → prost. Parses into `serde_json::Value` first, then walks the tree with a
//! stack-allocated path so that successful decodes never pay for path strings.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use super::MAX_ANY_VALUE_DEPTH;
use super::error::{JsonError, JsonErrorKind};
use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use crate::otlp::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, exponential_histogram_data_point, metric,
    number_data_point, summary_data_point,
};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};

type R<T> = Result<T, JsonError>;

/// Location of the value being decoded, as a linked list living on the call stack.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// `any_id_length`: accept hex ids of any even length (the lenient entry points).
    Root {
        any_id_length: bool,
    },
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn key(&'a self, k: &'a str) -> Path<'a> {
        Path::Key(self, k)
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    fn any_id_length(&self) -> bool {
        match self {
            Path::Root { any_id_length } => *any_id_length,
            Path::Key(parent, _) | Path::Index(parent, _) => parent.any_id_length(),
        }
    }

    fn render(&self) -> String {
        let mut s = String::new();
        self.render_into(&mut s);
        s
    }

    fn render_into(&self, s: &mut String) {
        match self {
            Path::Root { .. } => {}
            Path::Key(parent, k) => {
                parent.render_into(s);
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Path::Index(parent, i) => {
                parent.render_into(s);
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }

    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError::new(kind, self.render())
    }

    fn wrong_type(&self, expected: &'static str, got: &Value) -> JsonError {
        self.err(JsonErrorKind::WrongType {
            expected,
            got: type_name(got),
        })
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Quotes and truncates an offending value so error messages stay bounded.
fn snippet(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push_str("...");
        t
    } else {
        s
    }
}

fn parse(bytes: &[u8]) -> R<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| JsonError::new(JsonErrorKind::Syntax(e.to_string()), String::new()))
}

/// Iterates an object's members, skipping `null` members because proto3 JSON treats
/// `null` as "field not set". A `null` object is an unset message.
fn fields<'v>(v: &'v Value, p: &Path<'_>) -> R<impl Iterator<Item = (&'v str, &'v Value)>> {
    let map: Option<&Map<String, Value>> = match v {
        Value::Object(m) => Some(m),
        Value::Null => None,
        other => return Err(p.wrong_type("object", other)),
    };
    Ok(map
        .into_iter()
        .flat_map(|m| m.iter())
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str(), v)))
}

fn list<T>(v: &Value, p: &Path<'_>, mut f: impl FnMut(&Value, &Path<'_>) -> R<T>) -> R<Vec<T>> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| f(item, &p.index(i)))
            .collect(),
        other => Err(p.wrong_type("array", other)),
    }
}

fn string(v: &Value, p: &Path<'_>) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(p.wrong_type("string", other)),
    }
}

fn boolean(v: &Value, p: &Path<'_>) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(p.wrong_type("boolean", other)),
    }
}

/// Integer-valued floats (`3.0`, `1e3`) are valid proto3 JSON for integer fields, so both
/// number forms and their string spellings funnel through here.
fn integral_f64(f: f64, lo: f64, hi_exclusive: f64) -> Option<f64> {
    (f.is_finite() && f.fract() == 0.0 && f >= lo && f < hi_exclusive).then_some(f)
}

const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

fn bad_number(p: &Path<'_>, expected: &'static str, v: &Value) -> JsonError {
    p.err(JsonErrorKind::InvalidNumber {
        expected,
        got: snippet(v),
    })
}

fn uint64(v: &Value, p: &Path<'_>) -> R<u64> {
    let parsed = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .and_then(|f| integral_f64(f, 0.0, TWO_POW_64))
                .map(|f| f as u64)
        }),
        Value::String(s) => s.parse::<u64>().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|f| integral_f64(f, 0.0, TWO_POW_64))
                .map(|f| f as u64)
        }),
        other => return Err(p.wrong_type("uint64 as number or string", other)),
    };
    parsed.ok_or_else(|| bad_number(p, "uint64", v))
}

fn int64(v: &Value, p: &Path<'_>) -> R<i64> {
    let parsed = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .and_then(|f| integral_f64(f, -TWO_POW_63, TWO_POW_63))
                .map(|f| f as i64)
        }),
        Value::String(s) => s.parse::<i64>().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|f| integral_f64(f, -TWO_POW_63, TWO_POW_63))
                .map(|f| f as i64)
        }),
        other => return Err(p.wrong_type("int64 as number or string", other)),
    };
    parsed.ok_or_else(|| bad_number(p, "int64", v))
}

fn uint32(v: &Value, p: &Path<'_>) -> R<u32> {
    let wide = match v {
        Value::Number(_) | Value::String(_) => {
            int64(v, p).map_err(|_| bad_number(p, "uint32", v))?
        }
        other => return Err(p.wrong_type("uint32 as number or string", other)),
    };
    u32::try_from(wide).map_err(|_| bad_number(p, "uint32", v))
}

fn int32(v: &Value, p: &Path<'_>) -> R<i32> {
    let wide = match v {
        Value::Number(_) | Value::String(_) => {
            int64(v, p).map_err(|_| bad_number(p, "int32", v))?
        }
        other => return Err(p.wrong_type("int32 as number or string", other)),
    };
    i32::try_from(wide).map_err(|_| bad_number(p, "int32", v))
}

fn double(v: &Value, p: &Path<'_>) -> R<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad_number(p, "double", v)),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            // Rust also accepts "inf"/"nan" spellings, which proto3 JSON does not.
            other
                if other
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                    && !other.is_empty() =>
            {
                other.parse::<f64>().map_err(|_| bad_number(p, "double", v))
            }
            _ => Err(bad_number(p, "double", v)),
        },
        other => Err(p.wrong_type("double as number or string", other)),
    }
}

fn enumeration(
    v: &Value,
    p: &Path<'_>,
    enum_name: &'static str,
    from_name: fn(&str) -> Option<i32>,
) -> R<i32> {
    match v {
        Value::String(s) => match from_name(s) {
            Some(n) => Ok(n),
            None => int32(v, p).map_err(|_| {
                p.err(JsonErrorKind::UnknownEnum {
                    enum_name,
                    got: snippet(v),
                })
            }),
        },
        Value::Number(_) => int32(v, p),
        other => Err(p.wrong_type("enum as integer or name", other)),
    }
}

/// Decodes a hex trace or span id; `bytes` is the required decoded length.
fn id(v: &Value, p: &Path<'_>, bytes: usize) -> R<Vec<u8>> {
    let s = match v {
        Value::String(s) => s,
        other => return Err(p.wrong_type("hex string", other)),
    };
    if s.is_empty() {
        return Ok(Vec::new());
    }
    if s.len() != bytes * 2 && !(p.any_id_length() && s.len() % 2 == 0) {
        return Err(p.err(JsonErrorKind::IdLength {
            expected: bytes * 2,
            got: s.chars().count(),
        }));
    }
    hex::decode(s).map_err(|_| p.err(JsonErrorKind::InvalidHex))
}

fn trace_id(v: &Value, p: &Path<'_>) -> R<Vec<u8>> {
    id(v, p, 16)
}

fn span_id(v: &Value, p: &Path<'_>) -> R<Vec<u8>> {
    id(v, p, 8)
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

fn bytes(v: &Value, p: &Path<'_>) -> R<Vec<u8>> {
    let s = match v {
        Value::String(s) => s,
        other => return Err(p.wrong_type("base64 string", other)),
    };
    // proto3 JSON parsers must accept both alphabets; the two never share a character
    // that means different things, so the presence of '-' or '_' picks the alphabet.
    let engine = if s.bytes().any(|b| b == b'-' || b == b'_') {
        &URL_SAFE_LENIENT
    } else {
        &STANDARD_LENIENT
    };
    engine
        .decode(s)
        .map_err(|e| p.err(JsonErrorKind::InvalidBase64(e.to_string())))
}

/// Records which member of a oneof has been seen so a second one is rejected, as proto3 JSON requires.
fn claim_oneof<'k>(seen: &mut Option<&'k str>, key: &'k str, p: &Path<'_>) -> R<()> {
    if let Some(other) = seen {
        return Err(p.err(JsonErrorKind::OneofConflict {
            other: (*other).to_owned(),
        }));
    }
    *seen = Some(key);
    Ok(())
}

// ---- common ----

fn any_value(v: &Value, p: &Path<'_>, depth: usize) -> R<AnyValue> {
    if depth > MAX_ANY_VALUE_DEPTH {
        return Err(p.err(JsonErrorKind::TooDeep {
            limit: MAX_ANY_VALUE_DEPTH,
        }));
    }
    let mut out = AnyValue::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        let value = match k {
            "stringValue" | "string_value" => any_value::Value::StringValue(string(val, &fp)?),
            "boolValue" | "bool_value" => any_value::Value::BoolValue(boolean(val, &fp)?),
            "intValue" | "int_value" => any_value::Value::IntValue(int64(val, &fp)?),
            "doubleValue" | "double_value" => any_value::Value::DoubleValue(double(val, &fp)?),
            "arrayValue" | "array_value" => {
                any_value::Value::ArrayValue(array_value(val, &fp, depth)?)
            }
            "kvlistValue" | "kvlist_value" => {
                any_value::Value::KvlistValue(kvlist_value(val, &fp, depth)?)
            }
            "bytesValue" | "bytes_value" => any_value::Value::BytesValue(bytes(val, &fp)?),
            "stringValueStrindex" | "string_value_strindex" => {
                any_value::Value::StringValueStrindex(int32(val, &fp)?)
            }
            _ => continue,
        };
        claim_oneof(&mut seen, k, &fp)?;
        out.value = Some(value);
    }
    Ok(out)
}

fn array_value(v: &Value, p: &Path<'_>, depth: usize) -> R<ArrayValue> {
    let mut out = ArrayValue::default();
    for (k, val) in fields(v, p)? {
        if k == "values" {
            out.values = list(val, &p.key(k), |v, p| any_value(v, p, depth + 1))?;
        }
    }
    Ok(out)
}

fn kvlist_value(v: &Value, p: &Path<'_>, depth: usize) -> R<KeyValueList> {
    let mut out = KeyValueList::default();
    for (k, val) in fields(v, p)? {
        if k == "values" {
            out.values = list(val, &p.key(k), |v, p| key_value(v, p, depth + 1))?;
        }
    }
    Ok(out)
}

fn key_value(v: &Value, p: &Path<'_>, depth: usize) -> R<KeyValue> {
    let mut out = KeyValue::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "key" => out.key = string(val, &fp)?,
            "value" => out.value = Some(any_value(val, &fp, depth)?),
            "keyStrindex" | "key_strindex" => out.key_strindex = int32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn attributes(v: &Value, p: &Path<'_>) -> R<Vec<KeyValue>> {
    list(v, p, |v, p| key_value(v, p, 1))
}

fn strings(v: &Value, p: &Path<'_>) -> R<Vec<String>> {
    list(v, p, string)
}

fn entity_ref(v: &Value, p: &Path<'_>) -> R<EntityRef> {
    let mut out = EntityRef::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            "type" => out.r#type = string(val, &fp)?,
            "idKeys" | "id_keys" => out.id_keys = strings(val, &fp)?,
            "descriptionKeys" | "description_keys" => out.description_keys = strings(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn resource(v: &Value, p: &Path<'_>) -> R<Resource> {
    let mut out = Resource::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "entityRefs" | "entity_refs" => out.entity_refs = list(val, &fp, entity_ref)?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope(v: &Value, p: &Path<'_>) -> R<InstrumentationScope> {
    let mut out = InstrumentationScope::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "name" => out.name = string(val, &fp)?,
            "version" => out.version = string(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            _ => {}
        }
    }
    Ok(out)
}

// ---- traces ----

pub(crate) fn traces(input: &[u8], any_id_length: bool) -> R<ExportTraceServiceRequest> {
    let v = parse(input)?;
    let root = Path::Root { any_id_length };
    let mut out = ExportTraceServiceRequest::default();
    for (k, val) in fields(&v, &root)? {
        if matches!(k, "resourceSpans" | "resource_spans") {
            out.resource_spans = list(val, &root.key(k), resource_spans)?;
        }
    }
    Ok(out)
}

fn resource_spans(v: &Value, p: &Path<'_>) -> R<ResourceSpans> {
    let mut out = ResourceSpans::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "resource" => out.resource = Some(resource(val, &fp)?),
            "scopeSpans" | "scope_spans" => out.scope_spans = list(val, &fp, scope_spans)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_spans(v: &Value, p: &Path<'_>) -> R<ScopeSpans> {
    let mut out = ScopeSpans::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "scope" => out.scope = Some(scope(val, &fp)?),
            "spans" => out.spans = list(val, &fp, span)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn span_kind(name: &str) -> Option<i32> {
    span::SpanKind::from_str_name(name).map(|k| k as i32)
}

fn status_code(name: &str) -> Option<i32> {
    status::StatusCode::from_str_name(name).map(|c| c as i32)
}

fn span(v: &Value, p: &Path<'_>) -> R<Span> {
    let mut out = Span::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "traceState" | "trace_state" => out.trace_state = string(val, &fp)?,
            "parentSpanId" | "parent_span_id" => out.parent_span_id = span_id(val, &fp)?,
            "flags" => out.flags = uint32(val, &fp)?,
            "name" => out.name = string(val, &fp)?,
            "kind" => out.kind = enumeration(val, &fp, "SpanKind", span_kind)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "endTimeUnixNano" | "end_time_unix_nano" => out.end_time_unix_nano = uint64(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "events" => out.events = list(val, &fp, event)?,
            "droppedEventsCount" | "dropped_events_count" => {
                out.dropped_events_count = uint32(val, &fp)?
            }
            "links" => out.links = list(val, &fp, link)?,
            "droppedLinksCount" | "dropped_links_count" => {
                out.dropped_links_count = uint32(val, &fp)?
            }
            "status" => out.status = Some(span_status(val, &fp)?),
            _ => {}
        }
    }
    Ok(out)
}

fn event(v: &Value, p: &Path<'_>) -> R<span::Event> {
    let mut out = span::Event::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "name" => out.name = string(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn link(v: &Value, p: &Path<'_>) -> R<span::Link> {
    let mut out = span::Link::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "traceState" | "trace_state" => out.trace_state = string(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "flags" => out.flags = uint32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn span_status(v: &Value, p: &Path<'_>) -> R<Status> {
    let mut out = Status::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "message" => out.message = string(val, &fp)?,
            "code" => out.code = enumeration(val, &fp, "StatusCode", status_code)?,
            _ => {}
        }
    }
    Ok(out)
}

// ---- logs ----

pub(crate) fn logs(input: &[u8], any_id_length: bool) -> R<ExportLogsServiceRequest> {
    let v = parse(input)?;
    let root = Path::Root { any_id_length };
    let mut out = ExportLogsServiceRequest::default();
    for (k, val) in fields(&v, &root)? {
        if matches!(k, "resourceLogs" | "resource_logs") {
            out.resource_logs = list(val, &root.key(k), resource_logs)?;
        }
    }
    Ok(out)
}

fn resource_logs(v: &Value, p: &Path<'_>) -> R<ResourceLogs> {
    let mut out = ResourceLogs::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "resource" => out.resource = Some(resource(val, &fp)?),
            "scopeLogs" | "scope_logs" => out.scope_logs = list(val, &fp, scope_logs)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_logs(v: &Value, p: &Path<'_>) -> R<ScopeLogs> {
    let mut out = ScopeLogs::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "scope" => out.scope = Some(scope(val, &fp)?),
            "logRecords" | "log_records" => out.log_records = list(val, &fp, log_record)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn severity_number(name: &str) -> Option<i32> {
    SeverityNumber::from_str_name(name).map(|s| s as i32)
}

fn log_record(v: &Value, p: &Path<'_>) -> R<LogRecord> {
    let mut out = LogRecord::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "observedTimeUnixNano" | "observed_time_unix_nano" => {
                out.observed_time_unix_nano = uint64(val, &fp)?
            }
            "severityNumber" | "severity_number" => {
                out.severity_number = enumeration(val, &fp, "SeverityNumber", severity_number)?
            }
            "severityText" | "severity_text" => out.severity_text = string(val, &fp)?,
            "body" => out.body = Some(any_value(val, &fp, 1)?),
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "flags" => out.flags = uint32(val, &fp)?,
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "eventName" | "event_name" => out.event_name = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

// ---- metrics ----

pub(crate) fn metrics(input: &[u8], any_id_length: bool) -> R<ExportMetricsServiceRequest> {
    let v = parse(input)?;
    let root = Path::Root { any_id_length };
    let mut out = ExportMetricsServiceRequest::default();
    for (k, val) in fields(&v, &root)? {
        if matches!(k, "resourceMetrics" | "resource_metrics") {
            out.resource_metrics = list(val, &root.key(k), resource_metrics)?;
        }
    }
    Ok(out)
}

fn resource_metrics(v: &Value, p: &Path<'_>) -> R<ResourceMetrics> {
    let mut out = ResourceMetrics::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "resource" => out.resource = Some(resource(val, &fp)?),
            "scopeMetrics" | "scope_metrics" => out.scope_metrics = list(val, &fp, scope_metrics)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_metrics(v: &Value, p: &Path<'_>) -> R<ScopeMetrics> {
    let mut out = ScopeMetrics::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "scope" => out.scope = Some(scope(val, &fp)?),
            "metrics" => out.metrics = list(val, &fp, metric)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn temporality(name: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(name).map(|t| t as i32)
}

fn metric(v: &Value, p: &Path<'_>) -> R<Metric> {
    let mut out = Metric::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        let data = match k {
            "name" => {
                out.name = string(val, &fp)?;
                continue;
            }
            "description" => {
                out.description = string(val, &fp)?;
                continue;
            }
            "unit" => {
                out.unit = string(val, &fp)?;
                continue;
            }
            "metadata" => {
                out.metadata = attributes(val, &fp)?;
                continue;
            }
            "gauge" => metric::Data::Gauge(gauge(val, &fp)?),
            "sum" => metric::Data::Sum(sum(val, &fp)?),
            "histogram" => metric::Data::Histogram(histogram(val, &fp)?),
            "exponentialHistogram" | "exponential_histogram" => {
                metric::Data::ExponentialHistogram(exponential_histogram(val, &fp)?)
            }
            "summary" => metric::Data::Summary(summary(val, &fp)?),
            _ => continue,
        };
        claim_oneof(&mut seen, k, &fp)?;
        out.data = Some(data);
    }
    Ok(out)
}

fn gauge(v: &Value, p: &Path<'_>) -> R<Gauge> {
    let mut out = Gauge::default();
    for (k, val) in fields(v, p)? {
        if matches!(k, "dataPoints" | "data_points") {
            out.data_points = list(val, &p.key(k), number_data_point)?;
        }
    }
    Ok(out)
}

fn sum(v: &Value, p: &Path<'_>) -> R<Sum> {
    let mut out = Sum::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "dataPoints" | "data_points" => out.data_points = list(val, &fp, number_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(val, &fp, "AggregationTemporality", temporality)?
            }
            "isMonotonic" | "is_monotonic" => out.is_monotonic = boolean(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn histogram(v: &Value, p: &Path<'_>) -> R<Histogram> {
    let mut out = Histogram::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "dataPoints" | "data_points" => out.data_points = list(val, &fp, histogram_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(val, &fp, "AggregationTemporality", temporality)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn exponential_histogram(v: &Value, p: &Path<'_>) -> R<ExponentialHistogram> {
    let mut out = ExponentialHistogram::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "dataPoints" | "data_points" => {
                out.data_points = list(val, &fp, exponential_histogram_data_point)?
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                out.aggregation_temporality =
                    enumeration(val, &fp, "AggregationTemporality", temporality)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn summary(v: &Value, p: &Path<'_>) -> R<Summary> {
    let mut out = Summary::default();
    for (k, val) in fields(v, p)? {
        if matches!(k, "dataPoints" | "data_points") {
            out.data_points = list(val, &p.key(k), summary_data_point)?;
        }
    }
    Ok(out)
}

fn number_data_point(v: &Value, p: &Path<'_>) -> R<NumberDataPoint> {
    let mut out = NumberDataPoint::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "asDouble" | "as_double" => {
                let d = double(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(number_data_point::Value::AsDouble(d));
            }
            "asInt" | "as_int" => {
                let i = int64(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(number_data_point::Value::AsInt(i));
            }
            "exemplars" => out.exemplars = list(val, &fp, exemplar)?,
            "flags" => out.flags = uint32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn histogram_data_point(v: &Value, p: &Path<'_>) -> R<HistogramDataPoint> {
    let mut out = HistogramDataPoint::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "count" => out.count = uint64(val, &fp)?,
            "sum" => out.sum = Some(double(val, &fp)?),
            "bucketCounts" | "bucket_counts" => out.bucket_counts = list(val, &fp, uint64)?,
            "explicitBounds" | "explicit_bounds" => out.explicit_bounds = list(val, &fp, double)?,
            "exemplars" => out.exemplars = list(val, &fp, exemplar)?,
            "flags" => out.flags = uint32(val, &fp)?,
            "min" => out.min = Some(double(val, &fp)?),
            "max" => out.max = Some(double(val, &fp)?),
            _ => {}
        }
    }
    Ok(out)
}

fn exponential_histogram_data_point(v: &Value, p: &Path<'_>) -> R<ExponentialHistogramDataPoint> {
    let mut out = ExponentialHistogramDataPoint::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "count" => out.count = uint64(val, &fp)?,
            "sum" => out.sum = Some(double(val, &fp)?),
            "scale" => out.scale = int32(val, &fp)?,
            "zeroCount" | "zero_count" => out.zero_count = uint64(val, &fp)?,
            "positive" => out.positive = Some(buckets(val, &fp)?),
            "negative" => out.negative = Some(buckets(val, &fp)?),
            "flags" => out.flags = uint32(val, &fp)?,
            "exemplars" => out.exemplars = list(val, &fp, exemplar)?,
            "min" => out.min = Some(double(val, &fp)?),
            "max" => out.max = Some(double(val, &fp)?),
            "zeroThreshold" | "zero_threshold" => out.zero_threshold = double(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn buckets(v: &Value, p: &Path<'_>) -> R<exponential_histogram_data_point::Buckets> {
    let mut out = exponential_histogram_data_point::Buckets::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "offset" => out.offset = int32(val, &fp)?,
            "bucketCounts" | "bucket_counts" => out.bucket_counts = list(val, &fp, uint64)?,
            _ => {}
        }
    }
    Ok(out)
}

fn summary_data_point(v: &Value, p: &Path<'_>) -> R<SummaryDataPoint> {
    let mut out = SummaryDataPoint::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "count" => out.count = uint64(val, &fp)?,
            "sum" => out.sum = double(val, &fp)?,
            "quantileValues" | "quantile_values" => {
                out.quantile_values = list(val, &fp, value_at_quantile)?
            }
            "flags" => out.flags = uint32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn value_at_quantile(v: &Value, p: &Path<'_>) -> R<summary_data_point::ValueAtQuantile> {
    let mut out = summary_data_point::ValueAtQuantile::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "quantile" => out.quantile = double(val, &fp)?,
            "value" => out.value = double(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn exemplar(v: &Value, p: &Path<'_>) -> R<Exemplar> {
    let mut out = Exemplar::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "filteredAttributes" | "filtered_attributes" => {
                out.filtered_attributes = attributes(val, &fp)?
            }
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "asDouble" | "as_double" => {
                let d = double(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(exemplar::Value::AsDouble(d));
            }
            "asInt" | "as_int" => {
                let i = int64(val, &fp)?;
                claim_oneof(&mut seen, k, &fp)?;
                out.value = Some(exemplar::Value::AsInt(i));
            }
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}
