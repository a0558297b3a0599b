//! Bounds and clear errors: nesting depth, id lengths, UTF-8.

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use lookout_proto::wire::{TracesView, validate_logs, validate_traces};
use prost::Message;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    let mut out = Vec::new();
    varint(v, &mut out);
    out.len()
}

/// Writes nested length-delimited fields outermost first, without quadratic copying.
/// `keys[i]` is the key byte of level i; `leaf` is the innermost payload.
fn nest(keys: &[u8], leaf: &[u8]) -> Vec<u8> {
    let mut sizes = vec![0usize; keys.len() + 1];
    sizes[keys.len()] = leaf.len();
    for i in (0..keys.len()).rev() {
        sizes[i] = 1 + varint_len(sizes[i + 1] as u64) + sizes[i + 1];
    }
    let mut out = Vec::with_capacity(sizes[0]);
    for (i, k) in keys.iter().enumerate() {
        out.push(*k);
        varint(sizes[i + 1] as u64, &mut out);
    }
    out.extend_from_slice(leaf);
    out
}

/// request > ResourceSpans > ScopeSpans > Span > KeyValue(attributes) > AnyValue, then `levels`
/// times ArrayValue > AnyValue.
fn nested_any_value(levels: usize) -> Vec<u8> {
    let mut keys = vec![0x0a, 0x12, 0x12, 0x4a, 0x12];
    for _ in 0..levels {
        keys.extend([0x2a, 0x0a]);
    }
    nest(&keys, &[])
}

#[test]
fn nesting_limit_matches_prost_exactly() {
    for levels in 40..52 {
        let buf = nested_any_value(levels);
        let prost_ok = ExportTraceServiceRequest::decode(&buf[..]).is_ok();
        let ours = validate_traces(&buf);
        assert_eq!(ours.is_ok(), prost_ok, "levels {levels}: {ours:?}");
    }
    // The boundary is inside that range.
    assert!(validate_traces(&nested_any_value(40)).is_ok());
    assert!(validate_traces(&nested_any_value(51)).is_err());
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let buf = nested_any_value(200_000);
    let err = validate_traces(&buf).unwrap_err();
    assert!(err.to_string().contains("nested deeper than 100"), "{err}");
    // Views are lazy, so they only go as deep as the caller asks.
    let rs = TracesView::new(&buf)
        .resource_spans()
        .next()
        .unwrap()
        .unwrap();
    let s = rs
        .scope_spans()
        .next()
        .unwrap()
        .unwrap()
        .spans()
        .next()
        .unwrap()
        .unwrap();
    assert!(s.attribute("").is_some());
}

#[test]
fn hostile_unknown_groups_are_an_error() {
    // Field 20 start-group, 100k times, inside the request.
    let mut buf = [0xa3, 0x01].repeat(100_000);
    buf.extend([0xa4, 0x01].repeat(100_000));
    let err = validate_traces(&buf).unwrap_err();
    assert!(ExportTraceServiceRequest::decode(&buf[..]).is_err());
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

fn one_span(span: Span) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[test]
fn wrong_length_ids_are_rejected_with_the_field_name() {
    let cases: Vec<(Span, &str, &str)> = vec![
        (
            Span {
                trace_id: vec![1; 8],
                ..Default::default()
            },
            "Span.trace_id",
            "must be empty or 16 bytes, got 8",
        ),
        (
            Span {
                span_id: vec![1; 16],
                ..Default::default()
            },
            "Span.span_id",
            "must be empty or 8 bytes, got 16",
        ),
        (
            Span {
                parent_span_id: vec![1; 3],
                ..Default::default()
            },
            "Span.parent_span_id",
            "got 3",
        ),
        (
            Span {
                links: vec![span::Link {
                    trace_id: vec![1; 15],
                    ..Default::default()
                }],
                ..Default::default()
            },
            "Span.Link.trace_id",
            "got 15",
        ),
    ];
    for (span, field, msg) in cases {
        let err = validate_traces(&one_span(span)).unwrap_err();
        assert_eq!(err.field(), Some(field));
        assert!(err.is_semantic());
        assert!(err.to_string().contains(msg), "{err}");
    }
    assert!(
        validate_traces(&one_span(Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        }))
        .is_ok()
    );

    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    span_id: vec![0; 7],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let err = validate_logs(&logs.encode_to_vec()).unwrap_err();
    assert_eq!(err.field(), Some("LogRecord.span_id"));
}

#[test]
fn invalid_utf8_is_rejected_like_prost() {
    let mut buf = one_span(Span {
        name: "ab\u{e9}".into(),
        ..Default::default()
    });
    // Break the 2-byte sequence for 'é' (its last byte is the final byte of the buffer).
    let last = buf.len() - 1;
    buf[last] = 0xff;
    assert!(ExportTraceServiceRequest::decode(&buf[..]).is_err());
    let err = validate_traces(&buf).unwrap_err();
    assert_eq!(err.field(), Some("Span.name"));
    assert!(!err.is_semantic());
    assert!(
        err.to_string()
            .contains("string field Span.name is not valid UTF-8"),
        "{err}"
    );
    assert_eq!(
        err.offset(),
        last - 1,
        "points at the first invalid byte sequence"
    );
}

#[test]
fn huge_claimed_length_fails_fast() {
    // A resource_spans field claiming ~2^63 bytes.
    let mut buf = vec![0x0a];
    varint(u64::MAX >> 1, &mut buf);
    let err = validate_traces(&buf).unwrap_err();
    assert!(err.to_string().contains("length exceeds"), "{err}");
    assert_eq!(err.offset(), 1);
}
