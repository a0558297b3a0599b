//! Log enrichment on the encoded request: a record whose trace (and span) is in the window
//! gets its span's resource attributes (when its own resource has no `service.name`), the
//! span's name and the trace's verdict, each only where the key is missing.
//!
//! Resource attributes belong to the `ResourceLogs`, and the records of one `ResourceLogs` may
//! belong to different services, so an enriched `ResourceLogs` is cut into runs of consecutive
//! records that get the same resource attributes; each run becomes a `ResourceLogs` of its own
//! (same resource plus the added keys, same scopes, same schema URL). Records keep their order;
//! `ResourceLogs` nobody enriches are copied as they are.

use lookout_anomaly::{ATTR_ANOMALY, ATTR_KIND, ATTR_ROOT_SPAN_ID};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::wire::reader::{FieldReader, WireValue};
use lookout_proto::wire::{LogsView, WireError};
use prost::encoding::{WireType, encode_key, encode_varint};

use super::window::{Resource, SpanId, Trace, TraceId, Value, Verdict, Window, span_id, trace_id};

/// The attribute carrying the span's name on an enriched record.
pub(crate) const ATTR_SPAN_NAME: &str = "span.name";

/// What a record refers to, as read when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) trace: TraceId,
    pub(crate) span: Option<SpanId>,
}

/// The records of a logs request that carry a trace id: what they wait for.
pub(crate) fn needs(payload: &[u8]) -> Result<Vec<Need>, WireError> {
    let mut out = Vec::new();
    for rl in LogsView::new(payload).resource_logs() {
        for sl in rl?.scope_logs() {
            for record in sl?.log_records() {
                let record = record?;
                if let Some(trace) = trace_id(record.trace_id()) {
                    out.push(Need {
                        trace,
                        span: span_id(record.span_id()),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Whether the window holds what `need` refers to: its span, or for a record without a span
/// id, some span of its trace.
pub(crate) fn resolvable(window: &Window, need: &Need) -> bool {
    let Some(trace) = window.get(&need.trace) else {
        return false;
    };
    match &need.span {
        Some(id) => trace.span(id).is_some(),
        None => trace.span_count() > 0,
    }
}

/// What enriching a request did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Enriched {
    /// The rebuilt request; `None` when no record changed.
    pub(crate) payload: Option<Vec<u8>>,
    /// Records that got at least one attribute.
    pub(crate) records: usize,
}

struct Found<'w> {
    resource: Option<&'w Resource>,
    span_name: Option<&'w str>,
    verdict: Option<Verdict<'w>>,
}

fn find<'w>(trace: &'w Trace, span: Option<&SpanId>) -> Option<Found<'w>> {
    match span {
        Some(id) => {
            let span = trace.span(id)?;
            Some(Found {
                resource: trace.resource_of(&span),
                span_name: Some(trace.name(&span)),
                verdict: trace.verdict_of(&span).or_else(|| trace.verdict()),
            })
        }
        None => {
            let root = trace.root()?;
            Some(Found {
                resource: trace.resource_of(&root),
                span_name: None,
                verdict: trace.verdict(),
            })
        }
    }
}

fn key_value(key: &str, value: &Value) -> KeyValue {
    let value = match value {
        Value::Str(s) => any_value::Value::StringValue(s.to_string()),
        Value::Int(i) => any_value::Value::IntValue(*i),
        Value::Double(d) => any_value::Value::DoubleValue(*d),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
    };
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn put_attr(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    prost::encoding::message::encode(field, &key_value(key, value), out);
}

/// Writes field `number` as a length-delimited field made of `parts`.
fn put_len(out: &mut Vec<u8>, number: u32, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    for p in parts {
        out.extend_from_slice(p);
    }
}

fn len_payload<'a>(value: &WireValue<'a>) -> Option<&'a [u8]> {
    match value {
        WireValue::Len(b) => Some(b),
        _ => None,
    }
}

/// The keys of the `KeyValue`s in field `number` of `message`.
fn attribute_keys(message: &[u8], number: u32) -> Result<Vec<&str>, WireError> {
    let mut keys = Vec::new();
    let mut r = FieldReader::new(message);
    while let Some(f) = r.next_field()? {
        if f.number != number {
            continue;
        }
        let Some(kv) = len_payload(&f.value) else {
            continue;
        };
        let mut kr = FieldReader::new(kv);
        while let Some(k) = kr.next_field()? {
            if k.number == 1
                && let Some(key) = len_payload(&k.value)
            {
                keys.push(std::str::from_utf8(key).unwrap_or(""));
            }
        }
    }
    Ok(keys)
}

/// Enriches the log records of `payload` (an encoded `ExportLogsServiceRequest` that passed
/// validation) from `window`.
pub(crate) fn enrich(payload: &[u8], window: &Window) -> Result<Enriched, WireError> {
    let mut out = Vec::new();
    let mut changed = false;
    let mut records = 0;
    let mut r = FieldReader::new(payload);
    while let Some(f) = r.next_field()? {
        let rebuilt = match (f.number, len_payload(&f.value)) {
            (1, Some(rl)) => enrich_resource_logs(rl, window, &mut records)?,
            _ => None,
        };
        match rebuilt {
            Some(bytes) => {
                if !changed {
                    out.reserve(payload.len() + bytes.len());
                    out.extend_from_slice(payload.get(..f.offset).unwrap_or_default());
                    changed = true;
                }
                out.extend_from_slice(&bytes);
            }
            None if changed => out.extend_from_slice(f.raw),
            None => {}
        }
    }
    Ok(Enriched {
        payload: changed.then_some(out),
        records,
    })
}

/// One scope of a `ResourceLogs`: its fields other than the records, and the records.
struct Scope<'a> {
    others: Vec<&'a [u8]>,
    records: Vec<&'a [u8]>,
}

/// A record as it will be written: its scope, its payload, the attributes appended to it,
/// and the resource attributes its run adds.
struct Out<'a> {
    scope: usize,
    record: Option<&'a [u8]>,
    extra: Vec<u8>,
    resource_extra: Vec<u8>,
}

/// The rebuilt `ResourceLogs` entries (as field-1 entries of the request), or `None` when
/// no record of it changes.
fn enrich_resource_logs(
    rl: &[u8],
    window: &Window,
    count: &mut usize,
) -> Result<Option<Vec<u8>>, WireError> {
    let mut resource: Vec<&[u8]> = Vec::new();
    let mut others: Vec<&[u8]> = Vec::new();
    let mut scopes: Vec<Scope<'_>> = Vec::new();
    let mut r = FieldReader::new(rl);
    while let Some(f) = r.next_field()? {
        match (f.number, len_payload(&f.value)) {
            (1, Some(res)) => resource.push(res),
            (2, Some(sl)) => {
                let mut scope = Scope {
                    others: Vec::new(),
                    records: Vec::new(),
                };
                let mut sr = FieldReader::new(sl);
                while let Some(sf) = sr.next_field()? {
                    match (sf.number, len_payload(&sf.value)) {
                        (2, Some(rec)) => scope.records.push(rec),
                        _ => scope.others.push(sf.raw),
                    }
                }
                scopes.push(scope);
            }
            _ => others.push(f.raw),
        }
    }
    let mut resource_keys = Vec::new();
    for res in &resource {
        resource_keys.extend(attribute_keys(res, 1)?);
    }
    let has_service = resource_keys.contains(&"service.name");

    let mut outs: Vec<Out<'_>> = Vec::new();
    let mut any = false;
    for (index, scope) in scopes.iter().enumerate() {
        if scope.records.is_empty() {
            outs.push(Out {
                scope: index,
                record: None,
                extra: Vec::new(),
                resource_extra: outs
                    .last()
                    .map(|o| o.resource_extra.clone())
                    .unwrap_or_default(),
            });
            continue;
        }
        for record in &scope.records {
            let (extra, resource_extra) =
                record_additions(record, window, has_service, &resource_keys)?;
            if !extra.is_empty() || !resource_extra.is_empty() {
                any = true;
                *count += 1;
            }
            outs.push(Out {
                scope: index,
                record: Some(record),
                extra,
                resource_extra,
            });
        }
    }
    if !any {
        return Ok(None);
    }

    let mut result = Vec::new();
    let mut start = 0;
    while start < outs.len() {
        let run_key = outs
            .get(start)
            .map(|o| o.resource_extra.as_slice())
            .unwrap_or_default();
        let end = outs
            .iter()
            .skip(start)
            .position(|o| o.resource_extra != run_key)
            .map_or(outs.len(), |p| start + p);
        let run = outs.get(start..end).unwrap_or_default();
        let mut body = Vec::new();
        if !resource.is_empty() || !run_key.is_empty() {
            let mut parts: Vec<&[u8]> = resource.clone();
            parts.push(run_key);
            put_len(&mut body, 1, &parts);
        }
        let mut i = 0;
        while i < run.len() {
            let scope_index = run.get(i).map_or(0, |o| o.scope);
            let mut scope_body = Vec::new();
            if let Some(scope) = scopes.get(scope_index) {
                for other in &scope.others {
                    scope_body.extend_from_slice(other);
                }
            }
            while let Some(o) = run.get(i).filter(|o| o.scope == scope_index) {
                if let Some(record) = o.record {
                    put_len(&mut scope_body, 2, &[record, &o.extra]);
                }
                i += 1;
            }
            put_len(&mut body, 2, &[&scope_body]);
        }
        for other in &others {
            body.extend_from_slice(other);
        }
        put_len(&mut result, 1, &[&body]);
        start = end;
    }
    Ok(Some(result))
}

/// The attributes to append to one record, and the resource attributes its resource lacks.
fn record_additions(
    record: &[u8],
    window: &Window,
    has_service: bool,
    resource_keys: &[&str],
) -> Result<(Vec<u8>, Vec<u8>), WireError> {
    let mut tid = None;
    let mut sid = None;
    let mut r = FieldReader::new(record);
    while let Some(f) = r.next_field()? {
        match (f.number, len_payload(&f.value)) {
            (9, Some(b)) => tid = trace_id(b),
            (10, Some(b)) => sid = span_id(b),
            _ => {}
        }
    }
    let mut extra = Vec::new();
    let mut resource_extra = Vec::new();
    let Some(found) = tid
        .and_then(|t| window.get(&t))
        .and_then(|trace| find(trace, sid.as_ref()))
    else {
        return Ok((extra, resource_extra));
    };
    let keys = attribute_keys(record, 6)?;
    let missing = |k: &str| !keys.contains(&k);
    if let Some(name) = found.span_name
        && missing(ATTR_SPAN_NAME)
    {
        put_attr(&mut extra, 6, ATTR_SPAN_NAME, &Value::Str(name.into()));
    }
    if let Some(v) = found.verdict
        && missing(ATTR_ANOMALY)
    {
        put_attr(&mut extra, 6, ATTR_ANOMALY, &Value::Bool(true));
        if !v.kind.is_empty() && missing(ATTR_KIND) {
            put_attr(&mut extra, 6, ATTR_KIND, &Value::Str(v.kind.into()));
        }
        if !v.root_span_id.is_empty() && missing(ATTR_ROOT_SPAN_ID) {
            put_attr(
                &mut extra,
                6,
                ATTR_ROOT_SPAN_ID,
                &Value::Str(v.root_span_id.into()),
            );
        }
    }
    if !has_service && let Some(resource) = found.resource {
        for (key, value) in resource.attrs.iter() {
            if !resource_keys.contains(&&**key) {
                put_attr(&mut resource_extra, 1, key, value);
            }
        }
    }
    Ok((extra, resource_extra))
}
