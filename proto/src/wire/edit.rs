//! Appending attributes to chosen spans / log records without decoding the request.
//!
//! A repeated field may be split over several occurrences, so extra `attributes` entries
//! appended at the end of a span's payload decode exactly as if they had been added to the end
//! of its attribute list. Only the length prefixes on the path to each edited item change
//! (item, scope-level, resource-level), so the output is produced by one linear copy of the
//! input with those prefixes rewritten and the new bytes spliced in.

use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::error::{WireError, WireErrorKind};
use super::reader::{FieldReader, WireValue, put_varint, read_varint, varint_len};
use super::view::{LogRecordLocation, SpanLocation};

type Result<T> = std::result::Result<T, WireError>;

/// Attributes to append to one span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEdit {
    /// The span, from [`SpanView::location`](super::SpanView::location) on the same buffer.
    pub location: SpanLocation,
    /// Appended after the span's existing attributes, in this order.
    pub attributes: Vec<KeyValue>,
}

/// Attributes to append to one log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecordEdit {
    /// The record, from [`LogRecordView::location`](super::LogRecordView::location).
    pub location: LogRecordLocation,
    /// Appended after the record's existing attributes, in this order.
    pub attributes: Vec<KeyValue>,
}

/// Returns a copy of the encoded `ExportTraceServiceRequest` in which each edited span has the
/// edit's attributes appended (field 9). Several edits may name the same span; their
/// attributes are appended in edit order.
///
/// Only the request → `ResourceSpans` → `ScopeSpans` → `Span` framing is read; run
/// [`validate_traces`](super::validate_traces) first. Fails with an error if a location does
/// not match a span of `buf` exactly (e.g. it came from another buffer).
pub fn append_span_attributes(buf: &[u8], edits: &[SpanEdit]) -> Result<Vec<u8>> {
    let targets = edits
        .iter()
        .map(|e| (e.location.start, e.location.end, &e.attributes[..]));
    append_attributes(buf, targets, 9)
}

/// Returns a copy of the encoded `ExportLogsServiceRequest` in which each edited log record has
/// the edit's attributes appended (field 6). Same rules as [`append_span_attributes`].
pub fn append_log_attributes(buf: &[u8], edits: &[LogRecordEdit]) -> Result<Vec<u8>> {
    let targets = edits
        .iter()
        .map(|e| (e.location.start, e.location.end, &e.attributes[..]));
    append_attributes(buf, targets, 6)
}

struct Target {
    start: usize,
    end: usize,
    extra: Vec<u8>,
    matched: bool,
}

enum Event {
    /// Replace the length varint at `len_start..value_start` with `new_len`.
    Len {
        len_start: usize,
        value_start: usize,
        new_len: usize,
    },
    /// Splice target `target`'s bytes in at `at`.
    Insert { at: usize, target: usize },
}

fn encode_attributes(attrs: &[KeyValue], field: u32, out: &mut Vec<u8>) {
    for kv in attrs {
        prost::encoding::message::encode(field, kv, out);
    }
}

fn append_attributes<'e>(
    buf: &[u8],
    edits: impl Iterator<Item = (usize, usize, &'e [KeyValue])>,
    attr_field: u32,
) -> Result<Vec<u8>> {
    let mut targets: Vec<Target> = Vec::new();
    for (start, end, attrs) in edits {
        let mut extra = Vec::new();
        encode_attributes(attrs, attr_field, &mut extra);
        targets.push(Target {
            start,
            end,
            extra,
            matched: false,
        });
    }
    // Stable, so several edits of one span keep their order when merged.
    targets.sort_by_key(|t| (t.start, t.end));
    targets.dedup_by(|later, earlier| {
        if later.start == earlier.start && later.end == earlier.end {
            earlier.extra.append(&mut later.extra);
            true
        } else {
            false
        }
    });
    targets.retain(|t| !t.extra.is_empty());
    if targets.is_empty() {
        return Ok(buf.to_vec());
    }

    let mut events = Vec::new();
    walk_level(FieldReader::new(buf), 0, &mut targets, &mut events)?;
    if let Some(t) = targets.iter().find(|t| !t.matched) {
        return Err(WireError::new(WireErrorKind::InvalidLocation, t.start));
    }

    let added: usize = targets.iter().map(|t| t.extra.len()).sum();
    let mut out = Vec::with_capacity(buf.len() + added + events.len() * 2);
    let mut cursor = 0;
    for ev in &events {
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
            Event::Insert { at, target } => {
                out.extend_from_slice(buf.get(cursor..at).unwrap_or_default());
                let extra = targets
                    .get(target)
                    .map(|t| t.extra.as_slice())
                    .ok_or_else(|| WireError::new(WireErrorKind::InvalidLocation, at))?;
                out.extend_from_slice(extra);
                cursor = at;
            }
        }
    }
    out.extend_from_slice(buf.get(cursor..).unwrap_or_default());
    Ok(out)
}

/// Walks one framing level (0 = request, 1 = resource-level, 2 = scope-level), descending only
/// into messages that contain a target, and returns how many bytes the level's payload grows.
fn walk_level(
    mut r: FieldReader<'_>,
    level: u8,
    targets: &mut [Target],
    events: &mut Vec<Event>,
) -> Result<usize> {
    let child_field = if level == 0 { 1 } else { 2 };
    let mut grown = 0;
    while let Some(f) = r.next_field()? {
        let WireValue::Len(payload) = f.value else {
            continue;
        };
        if f.number != child_field {
            continue;
        }
        let (start, end) = (f.value_offset, f.value_offset + payload.len());
        // Targets are sorted, so the first one at or after `start` decides.
        let first = targets.partition_point(|t| t.start < start);
        let Some(t) = targets.get(first) else {
            continue;
        };
        // Inclusive: an empty last item starts exactly where its container ends.
        if t.start > end {
            continue;
        }
        let mut key_len = 0;
        read_varint(f.raw, &mut key_len).map_err(|k| WireError::new(k, f.offset))?;
        let len_start = f.offset + key_len;
        let event_idx = events.len();
        events.push(Event::Len {
            len_start,
            value_start: start,
            new_len: 0,
        });
        let payload_growth = if level == 2 {
            let Some(t) = targets
                .get_mut(first)
                .filter(|t| t.start == start && t.end == end)
            else {
                // A target inside this span's range that is not the span itself.
                events.pop();
                continue;
            };
            t.matched = true;
            let n = t.extra.len();
            events.push(Event::Insert {
                at: end,
                target: first,
            });
            n
        } else {
            let child = FieldReader::nested(payload, start, r.depth_budget().saturating_sub(1));
            walk_level(child, level + 1, targets, events)?
        };
        let new_len = payload.len() + payload_growth;
        if let Some(ev) = events.get_mut(event_idx) {
            *ev = Event::Len {
                len_start,
                value_start: start,
                new_len,
            };
        }
        grown += payload_growth + varint_len(new_len as u64) - (start - len_start);
    }
    Ok(grown)
}

#[cfg(test)]
// In a test a failed unwrap is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_location_is_rejected() {
        // One resource, one scope, one empty span.
        let req = [0x0a, 0x04, 0x12, 0x02, 0x12, 0x00];
        let edit = SpanEdit {
            location: SpanLocation { start: 1, end: 3 },
            attributes: vec![KeyValue {
                key: "k".into(),
                value: None,
                key_strindex: 0,
            }],
        };
        let err = append_span_attributes(&req, &[edit]).unwrap_err();
        assert_eq!(err.kind(), &WireErrorKind::InvalidLocation);
    }

    #[test]
    fn empty_span_can_be_edited() {
        let req = [0x0a, 0x04, 0x12, 0x02, 0x12, 0x00];
        let edit = SpanEdit {
            location: SpanLocation { start: 6, end: 6 },
            attributes: vec![KeyValue {
                key: "k".into(),
                value: None,
                key_strindex: 0,
            }],
        };
        let out = append_span_attributes(&req, &[edit]).unwrap();
        // span payload = 0x4a 0x03 0x0a 0x01 'k'
        assert_eq!(
            out,
            [
                0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x4a, 0x03, 0x0a, 0x01, b'k'
            ]
        );
    }
}
