//! `wire::splice` (the redaction processor's editor) on requests the validator accepts.
//! Input: one parameter byte, then the request. Bit 0: traces or logs. Bits 1-2: the change made
//! to every span / log record — remove its k-th field, replace it with an attribute, insert an
//! attribute at the end, or insert one before the k-th field; bits 3-7: k (mod the item's field
//! count).
//!
//! The output must validate with the same item counts, and every item must decode to what its
//! own payload, spliced locally, decodes to (compared as re-encoded bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::logs::v1::LogRecord;
use lookout_proto::otlp::trace::v1::Span;
use lookout_proto::wire::reader::FieldReader;
use lookout_proto::wire::{LogsView, Patch, TracesView, splice, validate_logs, validate_traces};
use prost::Message;
use std::ops::Range;

#[path = "common.rs"]
mod common;

/// The encoded attribute field (`attr_field`) the splices insert.
fn attribute(attr_field: u32, p: u8) -> Vec<u8> {
    let kv = KeyValue {
        key: "fuzz.redacted".to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!("****{p}"))),
        }),
        ..Default::default()
    };
    let body = kv.encode_to_vec();
    let mut out = Vec::new();
    prost::encoding::encode_key(
        attr_field,
        prost::encoding::WireType::LengthDelimited,
        &mut out,
    );
    prost::encoding::encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(&body);
    out
}

/// The patch for the item whose payload is `range`, and the item's payload after it.
fn patch(buf: &[u8], range: Range<usize>, p: u8, attr_field: u32) -> (Patch, Vec<u8>) {
    let payload = &buf[range.clone()];
    let mut fields = Vec::new();
    let mut r = FieldReader::new(payload);
    while let Some(f) = r.next_field().expect("fields of a validated item") {
        fields.push(f.offset..f.offset + f.raw.len());
    }
    let attr = attribute(attr_field, p);
    let mut patch = Patch::new(range.clone());
    let local: Option<(Range<usize>, Vec<u8>)> = match ((p >> 1) & 3, fields.len()) {
        (2, _) => Some((payload.len()..payload.len(), attr)),
        (_, 0) => None,
        (mode, n) => {
            let k = fields[usize::from(p >> 3) % n].clone();
            match mode {
                0 => Some((k, Vec::new())),
                1 => Some((k, attr)),
                _ => Some((k.start..k.start, attr)),
            }
        }
    };
    let mut spliced = payload.to_vec();
    if let Some((at, bytes)) = local {
        spliced.splice(at.clone(), bytes.iter().copied());
        patch
            .splices
            .push((range.start + at.start..range.start + at.end, bytes));
    }
    (patch, spliced)
}

fuzz_target!(|data: &[u8]| {
    let Some((&p, buf)) = data.split_first() else {
        return;
    };
    if p & 1 == 0 {
        let Ok(summary) = validate_traces(buf) else {
            return;
        };
        let mut patches = Vec::new();
        let mut want = Vec::new();
        for r in TracesView::new(buf).resource_spans() {
            for s in r.expect("view of a validated request").scope_spans() {
                for span in s.expect("view of a validated request").spans() {
                    let range = span
                        .expect("view of a validated request")
                        .location()
                        .byte_range();
                    let (patch, spliced) = patch(buf, range, p, 9);
                    patches.push(patch);
                    want.push(
                        Span::decode(&spliced[..])
                            .expect("spliced span")
                            .encode_to_vec(),
                    );
                }
            }
        }
        let out = splice(buf, &patches).expect("splice of a validated request");
        assert_eq!(
            validate_traces(&out).expect("spliced request validates"),
            summary
        );
        let got = ExportTraceServiceRequest::decode(&out[..]).expect("spliced request decodes");
        let got: Vec<Vec<u8>> = common::spans(&got)
            .iter()
            .map(|s| s.encode_to_vec())
            .collect();
        assert!(got == want, "splice changed more than the spliced fields");
    } else {
        let Ok(summary) = validate_logs(buf) else {
            return;
        };
        let mut patches = Vec::new();
        let mut want = Vec::new();
        for r in LogsView::new(buf).resource_logs() {
            for s in r.expect("view of a validated request").scope_logs() {
                for rec in s.expect("view of a validated request").log_records() {
                    let range = rec
                        .expect("view of a validated request")
                        .location()
                        .byte_range();
                    let (patch, spliced) = patch(buf, range, p, 6);
                    patches.push(patch);
                    want.push(
                        LogRecord::decode(&spliced[..])
                            .expect("spliced record")
                            .encode_to_vec(),
                    );
                }
            }
        }
        let out = splice(buf, &patches).expect("splice of a validated request");
        assert_eq!(
            validate_logs(&out).expect("spliced request validates"),
            summary
        );
        let got = ExportLogsServiceRequest::decode(&out[..]).expect("spliced request decodes");
        let got: Vec<Vec<u8>> = common::records(&got)
            .iter()
            .map(|s| s.encode_to_vec())
            .collect();
        assert!(got == want, "splice changed more than the spliced fields");
    }
});
