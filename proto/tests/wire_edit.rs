//! The editor's output decodes (with prost) to the original plus the appended attributes.

mod wire_common;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::wire::{
    LogRecordEdit, LogsView, SpanEdit, TracesView, append_log_attributes, append_span_attributes,
    validate_traces,
};
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;
use wire_common::*;

/// For item i, `picks[i % picks.len()]` gives the attribute lists to append (possibly several
/// edits for one item, possibly none).
fn picks() -> impl Strategy<Value = Vec<Vec<Vec<KeyValue>>>> {
    vec(vec(vec(key_value(), 1..3), 0..3), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn appended_span_attributes_decode_as_expected(req in traces_request(), picks in picks()) {
        let buf = req.encode_to_vec();
        let mut expected = req.clone();
        let mut edits = Vec::new();
        let locations: Vec<_> = TracesView::new(&buf)
            .resource_spans()
            .flat_map(|r| r.unwrap().scope_spans().collect::<Vec<_>>())
            .flat_map(|s| s.unwrap().spans().collect::<Vec<_>>())
            .map(|s| s.unwrap().location())
            .collect();
        let mut i = 0;
        for rs in &mut expected.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    for attrs in &picks[i % picks.len()] {
                        edits.push(SpanEdit { location: locations[i], attributes: attrs.clone() });
                        span.attributes.extend(attrs.iter().cloned());
                    }
                    i += 1;
                }
            }
        }
        // Edits may come in any span order; per-span order is what must be kept (stable sort).
        edits.sort_by_key(|e| std::cmp::Reverse(e.location));
        let out = append_span_attributes(&buf, &edits).unwrap();
        prop_assert_eq!(ExportTraceServiceRequest::decode(&out[..]).unwrap(), expected);
        if trace_ids_ok(&req) {
            prop_assert_eq!(validate_traces(&out).unwrap().spans, span_count(&req));
        }
    }

    #[test]
    fn appended_log_attributes_decode_as_expected(req in logs_request(), picks in picks()) {
        let buf = req.encode_to_vec();
        let mut expected = req.clone();
        let mut edits = Vec::new();
        let locations: Vec<_> = LogsView::new(&buf)
            .resource_logs()
            .flat_map(|r| r.unwrap().scope_logs().collect::<Vec<_>>())
            .flat_map(|s| s.unwrap().log_records().collect::<Vec<_>>())
            .map(|s| s.unwrap().location())
            .collect();
        let mut i = 0;
        for rl in &mut expected.resource_logs {
            for sl in &mut rl.scope_logs {
                for rec in &mut sl.log_records {
                    for attrs in &picks[i % picks.len()] {
                        edits.push(LogRecordEdit { location: locations[i], attributes: attrs.clone() });
                        rec.attributes.extend(attrs.iter().cloned());
                    }
                    i += 1;
                }
            }
        }
        let out = append_log_attributes(&buf, &edits).unwrap();
        prop_assert_eq!(ExportLogsServiceRequest::decode(&out[..]).unwrap(), expected);
    }

    /// A location taken from another buffer is rejected (or, by coincidence, names a real
    /// span of this one) — it never produces output that fails to decode.
    #[test]
    fn foreign_locations_never_corrupt(a in traces_request(), b in traces_request(), attrs in vec(key_value(), 1..2)) {
        let (ba, bb) = (a.encode_to_vec(), b.encode_to_vec());
        let edits: Vec<SpanEdit> = TracesView::new(&bb)
            .resource_spans()
            .flat_map(|r| r.unwrap().scope_spans().collect::<Vec<_>>())
            .flat_map(|s| s.unwrap().spans().collect::<Vec<_>>())
            .map(|s| SpanEdit { location: s.unwrap().location(), attributes: attrs.clone() })
            .collect();
        if let Ok(out) = append_span_attributes(&ba, &edits) {
            prop_assert!(ExportTraceServiceRequest::decode(&out[..]).is_ok());
        }
    }
}
