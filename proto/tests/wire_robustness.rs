//! Truncated, bit-flipped and random inputs: nothing panics, and `validate_*` accepts exactly
//! what prost accepts (restricted to inputs whose ids have valid OTLP lengths).

mod wire_common;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::wire::{
    AnyValueView, LogRecordEdit, LogsView, MetricsView, SpanEdit, TracesView,
    append_log_attributes, append_span_attributes, split_logs, split_metrics, split_traces,
    validate_logs, validate_metrics, validate_traces,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message;
use wire_common::*;

/// Applies byte overwrites, insertions and a truncation to a valid encoding.
fn mutate(
    mut buf: Vec<u8>,
    flips: &[(Index, u8)],
    inserts: &[(Index, u8)],
    cut: Option<Index>,
) -> Vec<u8> {
    if !buf.is_empty() {
        for (i, b) in flips {
            let i = i.index(buf.len());
            buf[i] = *b;
        }
    }
    for (i, b) in inserts {
        let i = i.index(buf.len() + 1);
        buf.insert(i, *b);
    }
    if let Some(c) = cut {
        buf.truncate(c.index(buf.len() + 1));
    }
    buf
}

/// Byte overwrites, byte insertions, optional truncation point.
type Mutations = (Vec<(Index, u8)>, Vec<(Index, u8)>, Option<Index>);

fn mutations() -> impl Strategy<Value = Mutations> {
    (
        vec(any::<(Index, u8)>(), 0..4),
        vec(any::<(Index, u8)>(), 0..2),
        proptest::option::weighted(0.3, any::<Index>()),
    )
}

fn tag() -> KeyValue {
    KeyValue {
        key: "tagged".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(true)),
        }),
        key_strindex: 0,
    }
}

/// Reads everything a view can read, ignoring errors; must not panic.
fn walk_value(v: AnyValueView<'_>, depth: u32) {
    if depth > 200 {
        return;
    }
    match v {
        AnyValueView::Array(a) => a.values().flatten().for_each(|v| walk_value(v, depth + 1)),
        AnyValueView::KvList(l) => l.values().flatten().for_each(|kv| {
            if let Some(v) = kv.value() {
                walk_value(v, depth + 1)
            }
        }),
        _ => {}
    }
}

fn check_traces(buf: &[u8]) -> Result<(), TestCaseError> {
    let ours = validate_traces(buf);
    match ExportTraceServiceRequest::decode(buf) {
        Ok(req) => prop_assert_eq!(ours.is_ok(), trace_ids_ok(&req), "{:?}", ours),
        Err(_) => prop_assert!(ours.is_err()),
    }
    // Views, editor and splitter never panic, whatever the bytes.
    let mut locations = Vec::new();
    let mut view_errors = 0;
    for rs in TracesView::new(buf).resource_spans() {
        let Ok(rs) = rs else {
            view_errors += 1;
            continue;
        };
        let _ = rs.service_name();
        // The one-pass reading agrees with the views on every span it reads.
        for span in rs.span_bytes() {
            let Ok(span) = span else { break };
            if let Ok(v) = span.read(|_| {}) {
                prop_assert_eq!(span.location(), v.location());
            }
        }
        rs.resource_attributes()
            .flatten()
            .filter_map(|kv| kv.value())
            .for_each(|v| walk_value(v, 0));
        for ss in rs.scope_spans() {
            let Ok(ss) = ss else {
                view_errors += 1;
                continue;
            };
            for s in ss.spans() {
                let Ok(s) = s else {
                    view_errors += 1;
                    continue;
                };
                s.attributes()
                    .flatten()
                    .filter_map(|kv| kv.value())
                    .for_each(|v| walk_value(v, 0));
                locations.push(s.location());
            }
        }
    }
    let edits: Vec<SpanEdit> = locations
        .iter()
        .map(|&location| SpanEdit {
            location,
            attributes: vec![tag()],
        })
        .collect();
    let edited = append_span_attributes(buf, &edits);
    let split = split_traces(buf, 2);
    if let Ok(req) = ExportTraceServiceRequest::decode(buf)
        && ours.is_ok()
    {
        // A valid buffer, however oddly encoded, reads, edits and splits cleanly.
        prop_assert_eq!(view_errors, 0);
        prop_assert_eq!(locations.len(), span_count(&req));
        let mut want = req.clone();
        want.resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
            .flat_map(|s| &mut s.spans)
            .for_each(|s| s.attributes.push(tag()));
        prop_assert_eq!(
            ExportTraceServiceRequest::decode(&edited.unwrap()[..]).unwrap(),
            want
        );
        let joined = split.unwrap().concat();
        prop_assert_eq!(
            flat_spans(&ExportTraceServiceRequest::decode(&joined[..]).unwrap()),
            flat_spans(&req)
        );
    }
    Ok(())
}

fn check_logs(buf: &[u8]) -> Result<(), TestCaseError> {
    let ours = validate_logs(buf);
    match ExportLogsServiceRequest::decode(buf) {
        Ok(req) => prop_assert_eq!(ours.is_ok(), log_ids_ok(&req), "{:?}", ours),
        Err(_) => prop_assert!(ours.is_err()),
    }
    let mut locations = Vec::new();
    for rl in LogsView::new(buf).resource_logs().flatten() {
        for sl in rl.scope_logs().flatten() {
            for l in sl.log_records().flatten() {
                if let Some(b) = l.body() {
                    walk_value(b, 0);
                }
                locations.push(l.location());
            }
        }
    }
    let edits: Vec<LogRecordEdit> = locations
        .iter()
        .map(|&location| LogRecordEdit {
            location,
            attributes: vec![tag()],
        })
        .collect();
    let edited = append_log_attributes(buf, &edits);
    let split = split_logs(buf, 3);
    if let Ok(req) = ExportLogsServiceRequest::decode(buf)
        && ours.is_ok()
    {
        let mut want = req.clone();
        want.resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
            .for_each(|l| l.attributes.push(tag()));
        prop_assert_eq!(
            ExportLogsServiceRequest::decode(&edited.unwrap()[..]).unwrap(),
            want
        );
        let joined = split.unwrap().concat();
        prop_assert_eq!(
            flat_logs(&ExportLogsServiceRequest::decode(&joined[..]).unwrap()),
            flat_logs(&req)
        );
    }
    Ok(())
}

fn check_metrics(buf: &[u8]) -> Result<(), TestCaseError> {
    let ours = validate_metrics(buf);
    match ExportMetricsServiceRequest::decode(buf) {
        Ok(req) => {
            prop_assert_eq!(ours.is_ok(), metric_ids_ok(&req), "{:?}", ours);
            if let Ok(s) = &ours {
                prop_assert_eq!(s.data_points, point_count(&req));
            }
        }
        Err(_) => prop_assert!(ours.is_err()),
    }
    for rm in MetricsView::new(buf).resource_metrics().flatten() {
        for sm in rm.scope_metrics().flatten() {
            sm.metrics()
                .flatten()
                .for_each(|m| assert!(m.data_point_count() < usize::MAX));
        }
    }
    let split = split_metrics(buf, 2);
    if let Ok(req) = ExportMetricsServiceRequest::decode(buf)
        && ours.is_ok()
    {
        let chunks = split.unwrap();
        let joined = chunks.concat();
        prop_assert_eq!(
            point_count(&ExportMetricsServiceRequest::decode(&joined[..]).unwrap()),
            point_count(&req)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_traces((req, (flips, inserts, cut)) in (traces_request(), mutations())) {
        check_traces(&mutate(req.encode_to_vec(), &flips, &inserts, cut))?;
    }

    #[test]
    fn mutated_logs((req, (flips, inserts, cut)) in (logs_request(), mutations())) {
        check_logs(&mutate(req.encode_to_vec(), &flips, &inserts, cut))?;
    }

    #[test]
    fn mutated_metrics((req, (flips, inserts, cut)) in (metrics_request(), mutations())) {
        check_metrics(&mutate(req.encode_to_vec(), &flips, &inserts, cut))?;
    }

    #[test]
    fn random_garbage(buf in vec(any::<u8>(), 0..96)) {
        check_traces(&buf)?;
        check_logs(&buf)?;
        check_metrics(&buf)?;
    }
}
