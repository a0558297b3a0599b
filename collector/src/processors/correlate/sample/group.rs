//! Export requests taken apart into items of one trace each, and put back together.
//!
//! Spans and log records sit at the same depth in their requests: request field 1 is the
//! resource level (`ResourceSpans`/`ResourceLogs`), whose field 2 is the scope level, whose
//! field 2 is the item. Everything else at the two upper levels (resource, scope, schema URLs)
//! is a *header*, copied as encoded; an item is copied as encoded too, so what leaves is what
//! came in, regrouped.

use std::sync::Arc;

use lookout_proto::wire::WireError;
use lookout_proto::wire::reader::{FieldReader, WireValue};
use prost::encoding::{WireType, encode_key, encode_varint};

use super::super::window::{SpanId, TraceId, span_id, trace_id};

/// One span or log record of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a> {
    /// The resource level's fields other than its scopes, as encoded (one allocation per
    /// resource level of the request, shared by the groups made from it).
    pub(crate) resource: &'a Arc<[u8]>,
    /// The scope level's fields other than its items, as encoded (shared likewise).
    pub(crate) scope: &'a Arc<[u8]>,
    /// The item's payload (without its key and length).
    pub(crate) body: &'a [u8],
}

/// Calls `f` with every item of an encoded export request of `signal` (traces or logs), in
/// order. `scratch` holds the headers (reused between calls).
pub(crate) fn items(
    payload: &[u8],
    scratch: &mut Headers,
    mut f: impl FnMut(Item<'_>),
) -> Result<(), WireError> {
    let mut r = FieldReader::new(payload);
    while let Some(level) = r.next_field()? {
        let (1, WireValue::Len(level)) = (level.number, level.value) else {
            continue;
        };
        scratch.resource.clear();
        let mut lr = FieldReader::new(level);
        while let Some(field) = lr.next_field()? {
            if field.number != 2 {
                scratch.resource.extend_from_slice(field.raw);
            }
        }
        let resource: Arc<[u8]> = Arc::from(scratch.resource.as_slice());
        let mut lr = FieldReader::new(level);
        while let Some(scope) = lr.next_field()? {
            let (2, WireValue::Len(scope)) = (scope.number, scope.value) else {
                continue;
            };
            scratch.scope.clear();
            let mut sr = FieldReader::new(scope);
            while let Some(field) = sr.next_field()? {
                if field.number != 2 {
                    scratch.scope.extend_from_slice(field.raw);
                }
            }
            let scope_header: Arc<[u8]> = Arc::from(scratch.scope.as_slice());
            let mut sr = FieldReader::new(scope);
            while let Some(item) = sr.next_field()? {
                if let (2, WireValue::Len(body)) = (item.number, item.value) {
                    f(Item {
                        resource: &resource,
                        scope: &scope_header,
                        body,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Reused buffers for [`items`].
#[derive(Debug, Default)]
pub(crate) struct Headers {
    resource: Vec<u8>,
    scope: Vec<u8>,
}

/// What sample mode reads of a span.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpanFacts {
    pub(crate) trace: Option<TraceId>,
    pub(crate) span: Option<SpanId>,
    pub(crate) root: bool,
    pub(crate) error: bool,
    pub(crate) anomaly: bool,
    pub(crate) duration: u64,
}

/// `Status.code` of an error.
const STATUS_ERROR: u64 = 2;

/// Reads the facts of an encoded `Span`.
pub(crate) fn span_facts(body: &[u8]) -> SpanFacts {
    let mut facts = SpanFacts {
        root: true,
        ..SpanFacts::default()
    };
    let (mut start, mut end) = (0, 0);
    let mut r = FieldReader::new(body);
    while let Ok(Some(f)) = r.next_field() {
        match (f.number, f.value) {
            (1, WireValue::Len(b)) => facts.trace = trace_id(b),
            (2, WireValue::Len(b)) => facts.span = span_id(b),
            (4, WireValue::Len(b)) => facts.root = span_id(b).is_none(),
            (7, WireValue::Fixed64(t)) => start = t,
            (8, WireValue::Fixed64(t)) => end = t,
            (9, WireValue::Len(kv)) => facts.anomaly |= is_anomaly(kv),
            (15, WireValue::Len(status)) => {
                let mut sr = FieldReader::new(status);
                while let Ok(Some(s)) = sr.next_field() {
                    if let (3, WireValue::Varint(code)) = (s.number, s.value) {
                        facts.error = code == STATUS_ERROR;
                    }
                }
            }
            _ => {}
        }
    }
    facts.duration = end.saturating_sub(start);
    facts
}

/// Whether an encoded `KeyValue` is `lookout.latency.anomaly = true`.
fn is_anomaly(kv: &[u8]) -> bool {
    let (mut key, mut value) = (&[][..], false);
    let mut r = FieldReader::new(kv);
    while let Ok(Some(f)) = r.next_field() {
        match (f.number, f.value) {
            // The key comes first in every encoder: most attributes end here.
            (1, WireValue::Len(k)) if k != lookout_anomaly::ATTR_ANOMALY.as_bytes() => {
                return false;
            }
            (1, WireValue::Len(k)) => key = k,
            (2, WireValue::Len(v)) => {
                // AnyValue.bool_value is field 2.
                let mut vr = FieldReader::new(v);
                while let Ok(Some(x)) = vr.next_field() {
                    value = matches!((x.number, x.value), (2, WireValue::Varint(b)) if b != 0);
                }
            }
            _ => {}
        }
    }
    value && key == lookout_anomaly::ATTR_ANOMALY.as_bytes()
}

/// What sample mode reads of a log record.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogFacts {
    pub(crate) trace: Option<TraceId>,
    pub(crate) span: Option<SpanId>,
    pub(crate) severity: i32,
}

/// Reads the facts of an encoded `LogRecord`.
pub(crate) fn log_facts(body: &[u8]) -> LogFacts {
    let mut facts = LogFacts::default();
    let mut r = FieldReader::new(body);
    while let Ok(Some(f)) = r.next_field() {
        match (f.number, f.value) {
            (2, WireValue::Varint(s)) => facts.severity = i32::try_from(s).unwrap_or(0),
            (9, WireValue::Len(b)) => facts.trace = trace_id(b),
            (10, WireValue::Len(b)) => facts.span = span_id(b),
            _ => {}
        }
    }
    facts
}

/// The items of one resource and scope, encoded one after the other (key and length
/// included): the unit a held trace and an outgoing request are made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) resource: Arc<[u8]>,
    pub(crate) scope: Arc<[u8]>,
    pub(crate) items: Vec<u8>,
}

impl Group {
    /// Bytes it accounts for: its items' capacity and the headers, which are charged in full
    /// to every group sharing them (an over-count: the traces of one request share one copy).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Group>()
            + self.resource.len()
            + self.scope.len()
            + self.items.capacity()
    }
}

/// Appends item `body` to the group of its resource and scope in `groups` (the last one with
/// the same headers, or a new one); returns the bytes the groups grew by.
pub(crate) fn push(groups: &mut Vec<Group>, item: &Item<'_>, extra: &[u8]) -> usize {
    let before_groups = groups.capacity();
    let mut grown = 0;
    let same = |g: &Group| {
        (Arc::ptr_eq(&g.resource, item.resource) || *g.resource == **item.resource)
            && (Arc::ptr_eq(&g.scope, item.scope) || *g.scope == **item.scope)
    };
    let index = match groups.iter().rposition(same) {
        Some(i) => i,
        None => {
            groups.push(Group {
                resource: Arc::clone(item.resource),
                scope: Arc::clone(item.scope),
                items: Vec::new(),
            });
            grown += item.resource.len() + item.scope.len();
            groups.len() - 1
        }
    };
    grown += (groups.capacity() - before_groups) * std::mem::size_of::<Group>();
    if let Some(group) = groups.get_mut(index) {
        let before = group.items.capacity();
        put_len(&mut group.items, 2, &[item.body, extra]);
        grown += group.items.capacity() - before;
    }
    grown
}

/// Writes field `number` as a length-delimited field made of `parts`.
pub(crate) fn put_len(out: &mut Vec<u8>, number: u32, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// Encodes groups as one export request of `signal` (the levels' layout is the same for
/// traces and logs).
pub(crate) fn encode(groups: &[Group]) -> Vec<u8> {
    let mut out = Vec::with_capacity(groups.iter().map(|g| g.bytes() + 16).sum());
    let mut scope = Vec::new();
    for g in groups {
        scope.clear();
        put_len(&mut scope, 2, &[&g.scope[..], &g.items]);
        put_len(&mut out, 1, &[&g.resource[..], &scope]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_regrouped_encode_to_the_same_request() {
        use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
        use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let span = |n: u8| Span {
            trace_id: vec![n; 16],
            span_id: vec![n; 8],
            name: format!("s{n}"),
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Default::default()),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(1), span(2)],
                    schema_url: "s".into(),
                    ..Default::default()
                }],
                schema_url: "r".into(),
            }],
        };
        let payload = request.encode_to_vec();
        let mut groups = Vec::new();
        let mut headers = Headers::default();
        let mut traces = Vec::new();
        items(&payload, &mut headers, |item| {
            traces.push(span_facts(item.body).trace);
            push(&mut groups, &item, &[]);
        })
        .unwrap();
        assert_eq!(traces, vec![Some([1; 16]), Some([2; 16])]);
        assert_eq!(groups.len(), 1);
        let back = ExportTraceServiceRequest::decode(&*encode(&groups)).unwrap();
        assert_eq!(back, request);
    }
}
