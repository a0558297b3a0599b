//! Replacing, removing and appending whole fields of nested messages without decoding the
//! request.
//!
//! [`append_span_attributes`](super::append_span_attributes) only adds bytes at the end of an
//! item. Redaction must also change a value in place (an attribute, a log body) or drop it.
//! Both are splices: bytes `start..end` of one message's payload — whole fields, found by the
//! caller with a [`FieldReader`] — are replaced with other bytes (none to remove, `start ==
//! end` to insert). As in `edit.rs`, only the length prefixes on the path from the request to
//! each changed message are rewritten, so the output is one linear copy of the input.

use super::error::{WireError, WireErrorKind};
use super::reader::{FieldReader, WireValue, put_varint, read_varint, varint_len};

type Result<T> = std::result::Result<T, WireError>;

/// Changes to the fields of one message, named by its payload's byte range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    /// Absolute byte range of the message's payload (after its length prefix): a span, a log
    /// record, a resource, a span event… Any length-delimited field whose payload encloses this
    /// range is treated as a message on the path to it.
    pub container: std::ops::Range<usize>,
    /// `(range, bytes)`: replace `range` — one or more whole, consecutive fields of the
    /// container, or an empty range at a field's start or at the payload's end — with
    /// `bytes` (already encoded fields, or nothing). In increasing order, not overlapping.
    pub splices: Vec<(std::ops::Range<usize>, Vec<u8>)>,
}

impl Patch {
    /// A patch of the message whose payload is `container`, with no change yet.
    pub fn new(container: std::ops::Range<usize>) -> Patch {
        Patch {
            container,
            splices: Vec::new(),
        }
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.splices.is_empty()
    }
}

enum Event {
    /// Replace the length varint at `len_start..value_start` with `new_len`.
    Len {
        len_start: usize,
        value_start: usize,
        new_len: usize,
    },
    /// Replace `start..end` with splice `splice` of patch `patch`.
    Splice {
        start: usize,
        end: usize,
        patch: usize,
        splice: usize,
    },
}

/// Returns a copy of the encoded request `buf` with every patch applied.
///
/// Containers must be messages of `buf` (from a walk of the same buffer) and nest or be
/// disjoint; several patches may not name the same container. Fails with
/// [`InvalidLocation`](WireErrorKind::InvalidLocation) if a container is not a message
/// reached from the request, or a splice does not fall on its fields' boundaries.
pub fn splice(buf: &[u8], patches: &[Patch]) -> Result<Vec<u8>> {
    let mut order: Vec<usize> = (0..patches.len())
        .filter(|&i| patches.get(i).is_some_and(|p| !p.is_empty()))
        .collect();
    if order.is_empty() {
        return Ok(buf.to_vec());
    }
    // Parents before the messages they enclose.
    order.sort_by_key(|&i| {
        let c = patches.get(i).map_or(0..0, |p| p.container.clone());
        (c.start, std::cmp::Reverse(c.end))
    });
    let mut walk = Walk {
        patches,
        order: &order,
        done: 0,
        events: Vec::new(),
    };
    walk.message(FieldReader::new(buf), 0..buf.len(), None)?;
    if walk.done != order.len() {
        let at = order
            .get(walk.done)
            .and_then(|&i| patches.get(i))
            .map_or(0, |p| p.container.start);
        return Err(WireError::new(WireErrorKind::InvalidLocation, at));
    }

    let added: usize = patches
        .iter()
        .flat_map(|p| p.splices.iter())
        .map(|(_, b)| b.len())
        .sum();
    let mut out = Vec::with_capacity(buf.len() + added + walk.events.len() * 2);
    let mut cursor = 0;
    for ev in &walk.events {
        match *ev {
            Event::Len {
                len_start,
                value_start,
                new_len,
            } => {
                out.extend_from_slice(buf.get(cursor..len_start).unwrap_or_default());
                put_varint(&mut out, new_len as u64);
                cursor = value_start;
            }
            Event::Splice {
                start,
                end,
                patch,
                splice,
            } => {
                out.extend_from_slice(buf.get(cursor..start).unwrap_or_default());
                let bytes = patches
                    .get(patch)
                    .and_then(|p| p.splices.get(splice))
                    .map(|(_, b)| b.as_slice())
                    .unwrap_or_default();
                out.extend_from_slice(bytes);
                cursor = end;
            }
        }
    }
    out.extend_from_slice(buf.get(cursor..).unwrap_or_default());
    Ok(out)
}

struct Walk<'p> {
    patches: &'p [Patch],
    /// Indexes of non-empty patches, parents first.
    order: &'p [usize],
    /// Patches of `order` reached so far (they are reached in order).
    done: usize,
    events: Vec<Event>,
}

impl Walk<'_> {
    /// The next patch not yet reached, if its container lies within `range`.
    fn next_within(&self, range: &std::ops::Range<usize>) -> Option<usize> {
        let &i = self.order.get(self.done)?;
        let c = &self.patches.get(i)?.container;
        (range.start <= c.start && c.end <= range.end).then_some(i)
    }

    /// Walks the message whose payload is `range` (read by `r`), applying `own` patch's
    /// splices to its fields and descending into children that enclose other patches;
    /// returns how many bytes the payload grows (negative: shrinks).
    fn message(
        &mut self,
        mut r: FieldReader<'_>,
        range: std::ops::Range<usize>,
        own: Option<usize>,
    ) -> Result<isize> {
        let splices = own
            .and_then(|i| self.patches.get(i))
            .map_or(&[][..], |p| &p.splices[..]);
        let mut next_splice = 0;
        let mut grown = 0isize;
        // A splice open at the current field: its end and where it was recorded.
        let mut open: Option<usize> = None;
        loop {
            let at = r.offset();
            // Splices that start here (inserts first, then at most one replacement).
            while open.is_none()
                && let Some((s, bytes)) = splices.get(next_splice)
                && s.start == at
            {
                if s.start > s.end {
                    return Err(WireError::new(WireErrorKind::InvalidLocation, s.start));
                }
                self.events.push(Event::Splice {
                    start: s.start,
                    end: s.end,
                    patch: own.unwrap_or_default(),
                    splice: next_splice,
                });
                grown += bytes.len() as isize - (s.end - s.start) as isize;
                next_splice += 1;
                if s.end > s.start {
                    open = Some(s.end);
                }
            }
            if let Some(end) = open {
                if at == end {
                    open = None;
                    continue;
                }
                if at > end {
                    return Err(WireError::new(WireErrorKind::InvalidLocation, end));
                }
            }
            let Some(f) = r.next_field()? else { break };
            if open.is_some() {
                continue;
            }
            if let Some((s, _)) = splices.get(next_splice)
                && s.start < r.offset()
            {
                // A splice starting inside this field.
                return Err(WireError::new(WireErrorKind::InvalidLocation, s.start));
            }
            let WireValue::Len(payload) = f.value else {
                continue;
            };
            let child = f.value_offset..f.value_offset + payload.len();
            let Some(next) = self.next_within(&child) else {
                continue;
            };
            let own_child =
                (self.patches.get(next).map(|p| &p.container) == Some(&child)).then(|| {
                    self.done += 1;
                    next
                });
            let mut key_len = 0;
            read_varint(f.raw, &mut key_len).map_err(|k| WireError::new(k, f.offset))?;
            let len_start = f.offset + key_len;
            let event_idx = self.events.len();
            self.events.push(Event::Len {
                len_start,
                value_start: child.start,
                new_len: 0,
            });
            let budget = r.depth_budget().saturating_sub(1);
            let reader = FieldReader::nested(payload, child.start, budget);
            let growth = self.message(reader, child.clone(), own_child)?;
            let new_len = payload
                .len()
                .checked_add_signed(growth)
                .ok_or_else(|| WireError::new(WireErrorKind::InvalidLocation, child.start))?;
            if let Some(ev) = self.events.get_mut(event_idx) {
                *ev = Event::Len {
                    len_start,
                    value_start: child.start,
                    new_len,
                };
            }
            grown +=
                growth + varint_len(new_len as u64) as isize - (child.start - len_start) as isize;
        }
        if open.is_some() || next_splice != splices.len() {
            let at = splices.get(next_splice).map_or(range.end, |(s, _)| s.start);
            return Err(WireError::new(WireErrorKind::InvalidLocation, at));
        }
        Ok(grown)
    }
}

#[cfg(test)]
// In a test a failed unwrap is the failure report.
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::Event};
    use prost::Message;

    use super::*;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    /// `(whole field range, payload range)` of the `index`-th occurrence of each field
    /// number along `path`.
    fn find(buf: &[u8], path: &[(u32, usize)]) -> (Range, Range) {
        let mut payload = 0..buf.len();
        let mut whole = 0..buf.len();
        for &(number, index) in path {
            let body = &buf[payload.clone()];
            let mut r = FieldReader::nested(body, payload.start, 100);
            let mut seen = 0;
            loop {
                let f = r.next_field().unwrap().unwrap();
                if f.number == number {
                    if seen == index {
                        let WireValue::Len(p) = f.value else { panic!() };
                        whole = f.offset..f.offset + f.raw.len();
                        payload = f.value_offset..f.value_offset + p.len();
                        break;
                    }
                    seen += 1;
                }
            }
        }
        (whole, payload)
    }

    type Range = std::ops::Range<usize>;

    fn field(number: u32, msg: &impl Message) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::message::encode(number, msg, &mut out);
        out
    }

    fn traces() -> ExportTraceServiceRequest {
        let span = |name: &str| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name.into(),
            attributes: vec![kv("card", "4111 1111 1111 1111"), kv("keep", "x")],
            events: vec![Event {
                name: "e".into(),
                attributes: vec![kv("token", "Bearer abc")],
                ..Default::default()
            }],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "svc"), kv("email", "a@b.c")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("one"), span("two")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn replaces_removes_and_appends_at_every_level() {
        let req = traces();
        let buf = req.encode_to_vec();
        let long = "*".repeat(300); // grows every prefix on the path past one varint byte
        // Resource: replace the email attribute.
        let (email, _) = find(&buf, &[(1, 0), (1, 0), (1, 1)]);
        let (_, resource) = find(&buf, &[(1, 0), (1, 0)]);
        let mut p_res = Patch::new(resource);
        p_res.splices.push((email, field(1, &kv("email", "****"))));
        // Span two: replace the card, remove `keep`, append a count; its event too.
        let span2 = [(1, 0), (2, 0), (2, 1)];
        let (_, span) = find(&buf, &span2);
        let (card, _) = find(&buf, &[span2[0], span2[1], span2[2], (9, 0)]);
        let (keep, _) = find(&buf, &[span2[0], span2[1], span2[2], (9, 1)]);
        let mut p_span = Patch::new(span.clone());
        p_span.splices.push((card, field(9, &kv("card", &long))));
        p_span.splices.push((keep, Vec::new()));
        p_span.splices.push((
            span.end..span.end,
            field(9, &kv("redaction.masked.count", "1")),
        ));
        let (_, event) = find(&buf, &[span2[0], span2[1], span2[2], (11, 0)]);
        let (token, _) = find(&buf, &[span2[0], span2[1], span2[2], (11, 0), (3, 0)]);
        let mut p_event = Patch::new(event);
        p_event
            .splices
            .push((token, field(3, &kv("token", "Bearer ****"))));

        let out = splice(&buf, &[p_event, p_span, p_res]).unwrap();
        let got = ExportTraceServiceRequest::decode(&out[..]).unwrap();

        let mut want = req;
        let rs = &mut want.resource_spans[0];
        rs.resource.as_mut().unwrap().attributes[1] = kv("email", "****");
        let s = &mut rs.scope_spans[0].spans[1];
        s.attributes = vec![kv("card", &long), kv("redaction.masked.count", "1")];
        s.events[0].attributes[0] = kv("token", "Bearer ****");
        assert_eq!(got, want);
    }

    #[test]
    fn replaces_a_log_body() {
        let record = LogRecord {
            body: Some(AnyValue {
                value: Some(Value::StringValue("paid with 4111111111111111".into())),
            }),
            attributes: vec![kv("a", "b")],
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record.clone(), record],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let buf = req.encode_to_vec();
        let path = [(1, 0), (2, 0), (2, 0)];
        let (_, rec) = find(&buf, &path);
        let (body, _) = find(&buf, &[path[0], path[1], path[2], (5, 0)]);
        let new_body = AnyValue {
            value: Some(Value::StringValue("paid with ****".into())),
        };
        let mut p = Patch::new(rec);
        p.splices.push((body, field(5, &new_body)));
        let out = splice(&buf, &[p]).unwrap();
        let got = ExportLogsServiceRequest::decode(&out[..]).unwrap();
        let mut want = req;
        want.resource_logs[0].scope_logs[0].log_records[0].body = Some(new_body);
        assert_eq!(got, want);
    }

    #[test]
    fn no_patch_copies_the_input() {
        let buf = traces().encode_to_vec();
        assert_eq!(splice(&buf, &[]).unwrap(), buf);
        assert_eq!(splice(&buf, &[Patch::new(3..9)]).unwrap(), buf);
    }

    #[test]
    fn misplaced_patches_are_rejected() {
        let buf = traces().encode_to_vec();
        let span2 = [(1, 0), (2, 0), (2, 1)];
        let (_, span) = find(&buf, &span2);
        let (card, _) = find(&buf, &[span2[0], span2[1], span2[2], (9, 0)]);
        let bad = [
            // Not a message of the buffer.
            (span.start + 1..span.end, card.clone()),
            // A splice that does not start on a field.
            (span.clone(), card.start + 1..card.end),
            // A splice that ends inside a field.
            (span.clone(), card.start..card.end - 1),
            // A splice outside the container.
            (span.clone(), span.end + 1..span.end + 1),
        ];
        for (container, range) in bad {
            let mut p = Patch::new(container);
            p.splices.push((range, Vec::new()));
            let err = splice(&buf, &[p]).unwrap_err();
            assert_eq!(err.kind(), &WireErrorKind::InvalidLocation);
        }
    }
}
