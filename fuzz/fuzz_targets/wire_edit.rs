//! The attribute editor (`wire::append_span_attributes` / `append_log_attributes`) on requests
//! the validator accepts. Input: one parameter byte (bit 0: traces or logs; bits 1-2: edit every
//! 1st..4th item; bit 3: edit the first item twice), then the request.
//!
//! The output must validate with the same item counts, and decode to the input's decoding with
//! the attribute appended to exactly the chosen items (compared as re-encoded bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::wire::{
    LogRecordEdit, LogsView, SpanEdit, TracesView, append_log_attributes, append_span_attributes,
    validate_logs, validate_traces,
};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&p, buf)) = data.split_first() else {
        return;
    };
    let stride = usize::from((p >> 1) & 3) + 1;
    let twice = p & 8 != 0;
    let kv = KeyValue {
        key: format!("fuzz.{p}"),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(i64::from(p))),
        }),
        ..Default::default()
    };
    // How many copies of the attribute item `i` gets.
    let copies = |i: usize| {
        if i % stride != 0 {
            0
        } else if i == 0 && twice {
            2
        } else {
            1
        }
    };
    if p & 1 == 0 {
        let Ok(summary) = validate_traces(buf) else {
            return;
        };
        let mut locations = Vec::new();
        for r in TracesView::new(buf).resource_spans() {
            for s in r.expect("view of a validated request").scope_spans() {
                for span in s.expect("view of a validated request").spans() {
                    locations.push(span.expect("view of a validated request").location());
                }
            }
        }
        assert_eq!(locations.len(), summary.spans);
        let edits: Vec<SpanEdit> = locations
            .iter()
            .enumerate()
            .flat_map(|(i, l)| std::iter::repeat_n(*l, copies(i)))
            .map(|location| SpanEdit {
                location,
                attributes: vec![kv.clone()],
            })
            .collect();
        let out = append_span_attributes(buf, &edits).expect("edit of a validated request");
        assert_eq!(
            validate_traces(&out).expect("edited request validates"),
            summary
        );
        let mut want = ExportTraceServiceRequest::decode(buf).expect("validated");
        let mut i = 0;
        for rs in &mut want.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    for _ in 0..copies(i) {
                        span.attributes.push(kv.clone());
                    }
                    i += 1;
                }
            }
        }
        let got = ExportTraceServiceRequest::decode(&out[..]).expect("edited request decodes");
        assert!(
            got.encode_to_vec() == want.encode_to_vec(),
            "edit changed more than the attributes"
        );
    } else {
        let Ok(summary) = validate_logs(buf) else {
            return;
        };
        let mut locations = Vec::new();
        for r in LogsView::new(buf).resource_logs() {
            for s in r.expect("view of a validated request").scope_logs() {
                for rec in s.expect("view of a validated request").log_records() {
                    locations.push(rec.expect("view of a validated request").location());
                }
            }
        }
        assert_eq!(locations.len(), summary.log_records);
        let edits: Vec<LogRecordEdit> = locations
            .iter()
            .enumerate()
            .flat_map(|(i, l)| std::iter::repeat_n(*l, copies(i)))
            .map(|location| LogRecordEdit {
                location,
                attributes: vec![kv.clone()],
            })
            .collect();
        let out = append_log_attributes(buf, &edits).expect("edit of a validated request");
        assert_eq!(
            validate_logs(&out).expect("edited request validates"),
            summary
        );
        let mut want = ExportLogsServiceRequest::decode(buf).expect("validated");
        let mut i = 0;
        for rl in &mut want.resource_logs {
            for sl in &mut rl.scope_logs {
                for rec in &mut sl.log_records {
                    for _ in 0..copies(i) {
                        rec.attributes.push(kv.clone());
                    }
                    i += 1;
                }
            }
        }
        let got = ExportLogsServiceRequest::decode(&out[..]).expect("edited request decodes");
        assert!(
            got.encode_to_vec() == want.encode_to_vec(),
            "edit changed more than the attributes"
        );
    }
});
