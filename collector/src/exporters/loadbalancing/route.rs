//! Cutting an export request into one request per backend, by routing key, on the wire.
//!
//! Spans and log records sit at the same depth (request field 1 → resource level, its field 2
//! → scope level, its field 2 → item). Each piece re-wraps its items with the resource and
//! scope fields they came from, copied as encoded (the other fields first, then the children:
//! protobuf decoding does not depend on field order). A request whose items all go to one
//! backend is forwarded as it came, without a copy.
//!
//! Keys: a span routes by its trace id; a log record by its trace id too, so that a trace's
//! logs meet its spans on one backend (the contrib exporter routes logs at random, contrib
//! #27014); a record without a trace id routes by its resource's `service.name` (records of
//! one service stay together). With `routing_key: service`, and for metrics whatever the
//! key, whole resource levels route by `service.name` (a resource without one: by the empty
//! name, so all such resources go to one backend).

use bytes::Bytes;
use lookout_proto::wire::WireError;
use lookout_proto::wire::reader::{FieldReader, WireValue};
use prost::encoding::{WireType, encode_key, encode_varint};

use super::config::RoutingKey;
use super::ring::hash;
use crate::core::Signal;

/// One backend's piece of a request.
#[derive(Debug)]
pub(crate) struct Piece {
    /// Which backend (what `pick` returned).
    pub(crate) backend: usize,
    /// An encoded export request of the same signal.
    pub(crate) payload: Bytes,
    /// Its items, counted as the Collector counts them (spans, data points, log records).
    pub(crate) items: usize,
}

/// Cuts `payload` (an export request of `signal` holding `items` items) into one piece per
/// backend; `pick` maps a key's hash to a backend. Pieces come in the order of the backends'
/// first item.
pub(crate) fn route(
    signal: Signal,
    key: RoutingKey,
    payload: &Bytes,
    items: usize,
    pick: impl Fn(u64) -> usize,
) -> Result<Vec<Piece>, WireError> {
    let per_item = signal != Signal::Metrics && key == RoutingKey::TraceId;
    let mut out = Outputs::default();
    let mut r = FieldReader::new(payload);
    while let Some(level) = r.next_field()? {
        let (1, WireValue::Len(level_body)) = (level.number, level.value) else {
            continue;
        };
        let service = hash(service_name(level_body)?);
        if !per_item {
            out.whole(pick(service), level.raw);
            continue;
        }
        route_items(signal, level_body, service, &pick, &mut out)?;
    }
    // One backend takes everything: send the request as it came.
    if out.pieces.len() == 1 {
        return Ok(vec![Piece {
            backend: out.pieces[0].0,
            payload: payload.clone(),
            items,
        }]);
    }
    out.pieces
        .into_iter()
        .zip(out.counts)
        .map(|((backend, bytes), counted)| {
            // Items routed one by one were counted on the way; whole resource levels were not.
            let items = if per_item {
                counted
            } else {
                crate::core::validate(signal, &bytes)?
            };
            Ok(Piece {
                backend,
                payload: Bytes::from(bytes),
                items,
            })
        })
        .collect()
}

/// Routes the items of one resource level (spans or log records) one by one.
fn route_items(
    signal: Signal,
    level: &[u8],
    service: u64,
    pick: &impl Fn(u64) -> usize,
    out: &mut Outputs,
) -> Result<(), WireError> {
    // The trace id's field in a Span (1) and in a LogRecord (9).
    let trace_field = if signal == Signal::Traces { 1 } else { 9 };
    let mut resource_header = Vec::new();
    let mut lr = FieldReader::new(level);
    while let Some(f) = lr.next_field()? {
        if f.number != 2 {
            resource_header.extend_from_slice(f.raw);
        }
    }
    // Per backend: the scope levels built for it so far (this resource level's body), and
    // their items.
    let mut bodies: Vec<(usize, Vec<u8>, usize)> = Vec::new();
    let mut lr = FieldReader::new(level);
    while let Some(scope) = lr.next_field()? {
        let (2, WireValue::Len(scope)) = (scope.number, scope.value) else {
            continue;
        };
        let mut scope_header = Vec::new();
        let mut sr = FieldReader::new(scope);
        while let Some(f) = sr.next_field()? {
            if f.number != 2 {
                scope_header.extend_from_slice(f.raw);
            }
        }
        // Per backend: the items of this scope level, and how many.
        let mut scoped: Vec<(usize, Vec<u8>, usize)> = Vec::new();
        let mut sr = FieldReader::new(scope);
        while let Some(item) = sr.next_field()? {
            let (2, WireValue::Len(body)) = (item.number, item.value) else {
                continue;
            };
            let key = match trace_id(body, trace_field)? {
                Some(id) => hash(id),
                None => service,
            };
            let (items, count) = entry(&mut scoped, pick(key));
            items.extend_from_slice(item.raw);
            *count += 1;
        }
        for (backend, items, count) in scoped {
            let (body, total) = entry(&mut bodies, backend);
            *total += count;
            put_len(body, 2, scope_header.len() + items.len());
            body.extend_from_slice(&scope_header);
            body.extend_from_slice(&items);
        }
    }
    for (backend, body, count) in bodies {
        *out.count(backend) += count;
        let dst = out.piece(backend);
        put_len(dst, 1, resource_header.len() + body.len());
        dst.extend_from_slice(&resource_header);
        dst.extend_from_slice(&body);
    }
    Ok(())
}

/// The pieces being built, by backend, in order of first use, with the items routed one by
/// one into each (`counts[i]` is for `pieces[i]`).
#[derive(Default)]
struct Outputs {
    pieces: Vec<(usize, Vec<u8>)>,
    counts: Vec<usize>,
}

impl Outputs {
    fn index(&mut self, backend: usize) -> usize {
        match self.pieces.iter().position(|(b, _)| *b == backend) {
            Some(i) => i,
            None => {
                self.pieces.push((backend, Vec::new()));
                self.counts.push(0);
                self.pieces.len() - 1
            }
        }
    }

    fn piece(&mut self, backend: usize) -> &mut Vec<u8> {
        let i = self.index(backend);
        &mut self.pieces[i].1
    }

    fn count(&mut self, backend: usize) -> &mut usize {
        let i = self.index(backend);
        &mut self.counts[i]
    }

    fn whole(&mut self, backend: usize, raw: &[u8]) {
        self.piece(backend).extend_from_slice(raw);
    }
}

/// The bytes and item count of `backend` in a per-backend list, added if missing.
fn entry(list: &mut Vec<(usize, Vec<u8>, usize)>, backend: usize) -> (&mut Vec<u8>, &mut usize) {
    let i = match list.iter().position(|(b, _, _)| *b == backend) {
        Some(i) => i,
        None => {
            list.push((backend, Vec::new(), 0));
            list.len() - 1
        }
    };
    let (_, bytes, count) = &mut list[i];
    (bytes, count)
}

fn put_len(dst: &mut Vec<u8>, field: u32, len: usize) {
    encode_key(field, WireType::LengthDelimited, dst);
    encode_varint(len as u64, dst);
}

/// The item's trace id, when it has a non-empty one.
fn trace_id(item: &[u8], field: u32) -> Result<Option<&[u8]>, WireError> {
    let mut r = FieldReader::new(item);
    while let Some(f) = r.next_field()? {
        if let (n, WireValue::Len(id)) = (f.number, f.value)
            && n == field
            && !id.is_empty()
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The `service.name` string of a resource level (`ResourceSpans`, `ResourceLogs`,
/// `ResourceMetrics`), or empty.
fn service_name(level: &[u8]) -> Result<&[u8], WireError> {
    let mut r = FieldReader::new(level);
    while let Some(f) = r.next_field()? {
        let (1, WireValue::Len(resource)) = (f.number, f.value) else {
            continue;
        };
        let mut rr = FieldReader::new(resource);
        while let Some(kv) = rr.next_field()? {
            let (1, WireValue::Len(kv)) = (kv.number, kv.value) else {
                continue;
            };
            let (mut key, mut value) = (&[][..], &[][..]);
            let mut kr = FieldReader::new(kv);
            while let Some(x) = kr.next_field()? {
                match (x.number, x.value) {
                    (1, WireValue::Len(k)) => key = k,
                    (2, WireValue::Len(v)) => value = v,
                    _ => {}
                }
            }
            if key != b"service.name" {
                continue;
            }
            let mut vr = FieldReader::new(value);
            while let Some(x) = vr.next_field()? {
                if let (1, WireValue::Len(s)) = (x.number, x.value) {
                    return Ok(s);
                }
            }
        }
    }
    Ok(&[])
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
