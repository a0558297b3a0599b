//! Tests on crafted requests (built and decoded with prost, independently of the wire code).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, exemplar, metric,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use tokio::sync::mpsc;

use super::window::{Limits, Now, TraceId, Value, Window, WindowMetrics};
use super::*;
use crate::component::Validate;
use crate::component::trace_sources::schema::check_schema;
use crate::core::Ack;
use crate::pipeline::Output;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn bool_kv(k: &str, v: bool) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(v)),
        }),
        ..Default::default()
    }
}

fn tid(n: u64) -> Vec<u8> {
    let mut id = vec![0x0a; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    id
}

fn sid(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

fn span(trace: u64, id: u64, parent: u64, name: &str) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: sid(id),
        parent_span_id: if parent == 0 { vec![] } else { sid(parent) },
        name: name.into(),
        kind: 2,
        start_time_unix_nano: T0 + id * MS,
        end_time_unix_nano: T0 + id * MS + 10 * MS,
        ..Default::default()
    }
}

fn traces(service: &str, extra: Vec<KeyValue>, spans: Vec<Span>) -> Vec<u8> {
    let mut attributes = vec![kv("service.name", service)];
    attributes.extend(extra);
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn record(trace: Option<u64>, span: Option<u64>, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: T0,
        trace_id: trace.map(tid).unwrap_or_default(),
        span_id: span.map(sid).unwrap_or_default(),
        severity_number: 9,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        ..Default::default()
    }
}

fn logs(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn limits() -> Limits {
    Limits::from(&CorrelateConfig::default())
}

fn window(limits: Limits) -> (Window, Telemetry) {
    let telemetry = Telemetry::new();
    let metrics = WindowMetrics::new(&telemetry, "correlate");
    (Window::new(limits, metrics), telemetry)
}

fn metric_value(telemetry: &Telemetry, name_and_labels: &str) -> f64 {
    telemetry
        .render()
        .lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn decode_logs(payload: &[u8]) -> ExportLogsServiceRequest {
    lookout_proto::wire::validate_logs(payload).expect("valid OTLP");
    ExportLogsServiceRequest::decode(payload).expect("decodes")
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

// === window ===

#[test]
fn one_trace_with_very_many_spans_keeps_max_spans_and_counts_the_rest() {
    let limits = Limits {
        max_spans_per_trace: 100,
        ..limits()
    };
    let (mut w, telemetry) = window(limits);
    for batch in 0..100u64 {
        let spans = (0..1000)
            .map(|i| span(1, batch * 1000 + i + 1, 0, "op"))
            .collect();
        w.add_spans(&traces("svc", vec![], spans), Now::current())
            .unwrap();
    }
    let trace = w.get(&tid(1).try_into().unwrap()).unwrap();
    assert_eq!(trace.span_count(), 100);
    assert_eq!(
        metric_value(
            &telemetry,
            "lookout_correlate_overflow_spans_total{processor=\"correlate\"}"
        ),
        99_900.0
    );
    // The trace, and once each the 100 requests' (equal) resources it does not hold: the
    // first is held, the others left with their requests.
    let resource = window::resource_charge(&trace.resources[0]);
    assert_eq!(trace.resources.len(), 1);
    assert_eq!(w.bytes(), trace.bytes() + resource);
    assert_eq!(
        trace.bytes(),
        trace.account(),
        "incremental accounting drifted"
    );
    assert!(w.bytes() < 100 * 1024, "{} bytes for 100 spans", w.bytes());
}

#[test]
fn very_many_one_span_traces_stay_within_num_traces_and_max_bytes() {
    let max_bytes = 2 << 20;
    let limits = Limits {
        num_traces: 1_000_000,
        max_bytes,
        ..limits()
    };
    let (mut w, telemetry) = window(limits);
    for batch in 0..200u64 {
        let spans = (0..1000)
            .map(|i| span(batch * 1000 + i + 1, 1, 0, "GET /a/rather/long/route/name"))
            .collect();
        w.add_spans(
            &traces("svc", vec![kv("host.name", "h")], spans),
            Now::current(),
        )
        .unwrap();
        assert!(w.bytes() <= max_bytes, "{} > {max_bytes}", w.bytes());
    }
    let held = w.len();
    assert!(held > 100, "only {held} traces held in {max_bytes} bytes");
    let evicted = metric_value(
        &telemetry,
        "lookout_correlate_evicted_traces_total{processor=\"correlate\",reason=\"bytes\"}",
    );
    assert_eq!(evicted as usize + held, 200_000);
    // The newest traces are the ones held.
    assert!(w.get(&tid(200_000).try_into().unwrap()).is_some());
    assert!(w.get(&tid(1).try_into().unwrap()).is_none());
}

#[test]
fn num_traces_evicts_the_least_recently_active() {
    let limits = Limits {
        num_traces: 3,
        ..limits()
    };
    let (mut w, telemetry) = window(limits);
    for t in 1..=3 {
        w.add_spans(
            &traces("svc", vec![], vec![span(t, 1, 0, "a")]),
            Now::current(),
        )
        .unwrap();
    }
    // Trace 1 becomes the most recent: trace 2 is the one to go.
    w.add_spans(
        &traces("svc", vec![], vec![span(1, 2, 1, "b")]),
        Now::current(),
    )
    .unwrap();
    w.add_spans(
        &traces("svc", vec![], vec![span(4, 1, 0, "a")]),
        Now::current(),
    )
    .unwrap();
    assert!(w.get(&tid(2).try_into().unwrap()).is_none());
    for t in [1, 3, 4] {
        assert!(w.get(&tid(t).try_into().unwrap()).is_some(), "trace {t}");
    }
    assert_eq!(
        metric_value(
            &telemetry,
            "lookout_correlate_evicted_traces_total{processor=\"correlate\",reason=\"capacity\"}"
        ),
        1.0
    );
}

#[test]
fn traces_active_again_in_turn_keep_their_activity_order() {
    let limits = Limits {
        num_traces: 4,
        ..limits()
    };
    let (mut w, _telemetry) = window(limits);
    let add = |w: &mut Window, t: u64, s: u64| {
        w.add_spans(
            &traces("svc", vec![], vec![span(t, s, 0, "a")]),
            Now::current(),
        )
        .unwrap();
    };
    for t in 1..=4 {
        add(&mut w, t, 1);
    }
    // Traces 1 and 3 active again in turn (never consecutively).
    for s in 2..200 {
        add(&mut w, if s % 2 == 0 { 1 } else { 3 }, s);
        assert_eq!(w.len(), 4);
    }
    let order: Vec<TraceId> = w.newest_first().map(|(id, _)| *id).collect();
    let ids =
        |ts: &[u64]| -> Vec<TraceId> { ts.iter().map(|&t| tid(t).try_into().unwrap()).collect() };
    assert_eq!(order, ids(&[3, 1, 4, 2]));
    // Least recently active first: 2, 4, then 1 (3 was active last).
    for (new, gone) in [(5, 2), (6, 4), (7, 1)] {
        add(&mut w, new, 1);
        assert!(
            w.get(&tid(gone).try_into().unwrap()).is_none(),
            "trace {gone}"
        );
        assert_eq!(w.len(), 4);
    }
    let order: Vec<TraceId> = w.newest_first().map(|(id, _)| *id).collect();
    assert_eq!(order, ids(&[7, 6, 5, 3]));
}

#[test]
fn ttl_evicts_idle_traces() {
    let limits = Limits {
        ttl: Duration::from_secs(5),
        ..limits()
    };
    let (mut w, _telemetry) = window(limits);
    let now = Now::current();
    w.add_spans(&traces("svc", vec![], vec![span(1, 1, 0, "a")]), now)
        .unwrap();
    w.enforce(now.mono + Duration::from_secs(4));
    assert_eq!(w.len(), 1);
    w.enforce(now.mono + Duration::from_secs(5));
    assert_eq!(w.len(), 0);
    assert_eq!(w.bytes(), 0);
}

/// Trace `t` of `n` root-level spans of one route.
fn shaped(t: u64, n: u64) -> Vec<u8> {
    let spans = (1..=n).map(|i| span(t, i, 0, "GET /a/route")).collect();
    traces("svc", vec![], spans)
}

#[test]
fn a_new_trace_takes_an_evicted_traces_buffer_and_spare_buffers_stay_bounded() {
    // One trace at a time: each new trace evicts the previous one.
    let limits = Limits {
        num_traces: 1,
        ..limits()
    };
    let (mut w, _telemetry) = window(limits);
    w.add_spans(&shaped(1, 8), Now::current()).unwrap();
    let eight = w.get(&tid(1).try_into().unwrap()).unwrap().bytes();
    // Seven spans fit in the eight-span buffer trace 1 left: the new trace holds that buffer
    // (its capacity is accounted), not an exactly sized one of its own.
    w.add_spans(&shaped(2, 7), Now::current()).unwrap();
    let trace = w.get(&tid(2).try_into().unwrap()).unwrap();
    assert_eq!(trace.span_count(), 7);
    assert_eq!(
        trace.bytes(),
        eight,
        "the evicted trace's buffer was not reused"
    );
    assert_eq!(
        trace.bytes(),
        trace.account(),
        "incremental accounting drifted"
    );
    // A buffer much larger than a new trace needs is not given to it.
    w.add_spans(&shaped(3, 200), Now::current()).unwrap();
    w.add_spans(&shaped(4, 200), Now::current()).unwrap();
    w.add_spans(&shaped(5, 1), Now::current()).unwrap();
    let one = w.get(&tid(5).try_into().unwrap()).unwrap();
    assert!(one.bytes() < eight, "{} bytes for one span", one.bytes());
    assert_eq!(one.bytes(), one.account());
}

#[test]
fn a_new_trace_takes_the_spare_buffer_that_fits_not_only_the_last_one_kept() {
    // Two traces at a time: each new trace evicts the least recently active one.
    let limits = Limits {
        num_traces: 2,
        ..limits()
    };
    let (mut w, _telemetry) = window(limits);
    w.add_spans(&shaped(1, 8), Now::current()).unwrap();
    let eight = w.get(&tid(1).try_into().unwrap()).unwrap().bytes();
    w.add_spans(&shaped(2, 30), Now::current()).unwrap();
    // Trace 3 evicts trace 1; its one span does not fit trace 1's buffer, which stays kept.
    w.add_spans(&shaped(3, 1), Now::current()).unwrap();
    // Trace 4 evicts trace 2: of the two buffers kept, the last (30 spans) is too large for
    // seven spans, the first (eight spans) fits, and trace 4 takes it.
    w.add_spans(&shaped(4, 7), Now::current()).unwrap();
    let trace = w.get(&tid(4).try_into().unwrap()).unwrap();
    assert_eq!(trace.span_count(), 7);
    assert_eq!(
        trace.bytes(),
        eight,
        "the fitting spare buffer was not taken"
    );
    assert_eq!(trace.bytes(), trace.account());
}

#[test]
fn spare_buffers_of_evicted_traces_are_capped_in_number_and_size() {
    let limits = Limits {
        num_traces: 1_000_000,
        max_bytes: 64 << 10,
        ..limits()
    };
    let (mut w, _telemetry) = window(limits);
    // About a hundred three-span traces fill the window.
    let spans = (1..=300u64).map(|i| span(1 + (i - 1) / 3, i, 0, "GET /a/route"));
    w.add_spans(&traces("svc", vec![], spans.collect()), Now::current())
        .unwrap();
    let small = w.get(&tid(100).try_into().unwrap()).unwrap();
    let small_buffer = small.bytes() - super::trace::TRACE_OVERHEAD;
    assert!(w.len() > 64, "{} traces held", w.len());
    // Two traces of half the window each (records beyond 16 KiB) evict all the small ones,
    // then the first of them: 64 small buffers are kept, the large one is not.
    for t in [5000, 5001] {
        let spans = (1..=300u64).map(|i| span(t, i, 0, "GET /a/route"));
        w.add_spans(&traces("svc", vec![], spans.collect()), Now::current())
            .unwrap();
    }
    assert_eq!(w.len(), 1);
    assert!(w.get(&tid(5001).try_into().unwrap()).is_some());
    assert_eq!(w.spare_bytes(), 64 * small_buffer);

    // A buffer beyond 16 KiB is freed, not kept.
    let (mut w, _telemetry) = window(Limits {
        ttl: Duration::from_secs(60),
        ..super::tests::limits()
    });
    let now = Now::current();
    let spans = (1..=300u64).map(|i| span(1, i, 0, "GET /a/route"));
    w.add_spans(&traces("svc", vec![], spans.collect()), now)
        .unwrap();
    assert!(w.get(&tid(1).try_into().unwrap()).unwrap().bytes() > 16 << 10);
    w.enforce(now.mono + Duration::from_secs(60));
    assert_eq!(w.len(), 0);
    assert_eq!(w.spare_bytes(), 0);
}

#[test]
fn only_canonical_attributes_with_other_keys_skip_the_verdict_check() {
    use super::trace::may_be_verdict;
    let enc = |kv: KeyValue| kv.encode_to_vec();
    assert!(!may_be_verdict(&enc(kv("http.route", "/a"))));
    assert!(!may_be_verdict(&enc(kv("http.route", &"x".repeat(300)))));
    assert!(may_be_verdict(&enc(bool_kv(
        lookout_anomaly::ATTR_ANOMALY,
        true
    ))));
    assert!(may_be_verdict(&enc(kv("lookout.latency.other", "x"))));
    // The value before the key, or a second key (the last wins): read in full.
    let value = enc(kv("", "v"));
    let key = enc(kv("lookout.latency.kind", ""));
    assert!(may_be_verdict(&[value.clone(), key.clone()].concat()));
    assert!(may_be_verdict(&[enc(kv("a", "")), key].concat()));
    assert!(may_be_verdict(&[0x0a, 5, b'a']));
}

#[test]
fn ids_colliding_across_services_keep_each_spans_resource() {
    let (mut w, _telemetry) = window(limits());
    // Two services reuse trace id 7 and even span id 1.
    w.add_spans(
        &traces(
            "cart",
            vec![kv("service.version", "1")],
            vec![span(7, 1, 0, "cart-op")],
        ),
        Now::current(),
    )
    .unwrap();
    w.add_spans(
        &traces(
            "shop",
            vec![kv("service.version", "2")],
            vec![span(7, 1, 0, "shop-op"), span(7, 2, 1, "shop-child")],
        ),
        Now::current(),
    )
    .unwrap();
    let trace = w.get(&tid(7).try_into().unwrap()).unwrap();
    assert_eq!(trace.span_count(), 3);
    assert_eq!(trace.resources.len(), 2);
    assert_eq!(
        trace.bytes(),
        trace.account(),
        "incremental accounting drifted"
    );
    let child = trace.span(&sid(2).try_into().unwrap()).unwrap();
    assert_eq!(&*trace.resource_of(&child).unwrap().service, "shop");
    // A log of span 2 gets shop's resource.
    let out = enrich::enrich(&logs(vec![], vec![record(Some(7), Some(2), "x")]), &w).unwrap();
    let req = decode_logs(&out.payload.unwrap());
    let res = &req.resource_logs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(str_attr(res, "service.name"), Some("shop"));
    assert_eq!(str_attr(res, "service.version"), Some("2"));
}

#[test]
fn interleaved_and_long_runs_keep_each_spans_own_text() {
    // One request: 150 spans of trace 1 (runs are cut every 64 spans) with trace 2's spans
    // between them, each span with its own name, status message and attributes; then a second
    // request adds to both traces.
    let (mut w, _telemetry) = window(limits());
    let with_text = |t: u64, i: u64| Span {
        status: Some(Status {
            message: format!("status {t}/{i}"),
            code: 2,
        }),
        attributes: vec![
            kv("index", &format!("{t}/{i}")),
            bool_kv(lookout_anomaly::ATTR_ANOMALY, i == 3),
            kv(lookout_anomaly::ATTR_KIND, &format!("slow {t}/{i}")),
            kv(lookout_anomaly::ATTR_ROOT_SPAN_ID, &format!("root {t}")),
        ],
        ..span(t, i, 0, &format!("op {t}/{i}"))
    };
    let mut spans = Vec::new();
    for i in 1..=150 {
        spans.push(with_text(1, i));
        if i % 50 == 0 {
            spans.push(with_text(2, i));
        }
    }
    w.add_spans(&traces("svc", vec![], spans), Now::current())
        .unwrap();
    w.add_spans(
        &traces("other", vec![], vec![with_text(1, 151), with_text(2, 151)]),
        Now::current(),
    )
    .unwrap();
    for (t, ids) in [
        (1, (1..=151).collect::<Vec<u64>>()),
        (2, vec![50, 100, 150, 151]),
    ] {
        let trace = w.get(&tid(t).try_into().unwrap()).unwrap();
        assert_eq!(trace.span_count(), ids.len(), "trace {t}");
        for i in ids {
            let span = &trace.span(&sid(i).try_into().unwrap()).unwrap();
            assert_eq!(trace.name(span), format!("op {t}/{i}"));
            assert_eq!(trace.status_message(span), format!("status {t}/{i}"));
            assert_eq!(span.status, 2);
            let attrs = trace.attributes(span);
            assert_eq!(attrs.len(), 1, "verdict keys are not listed");
            assert_eq!(
                attrs[0],
                ("index".into(), Value::Str(format!("{t}/{i}").into()))
            );
            // The verdict's texts sit in the span's record, between its text and the next.
            let verdict = trace.verdict_of(span).map(|v| (v.kind, v.root_span_id));
            let (kind, root) = (format!("slow {t}/{i}"), format!("root {t}"));
            assert_eq!(verdict, (i == 3).then_some((kind.as_str(), root.as_str())));
            let service = if i == 151 { "other" } else { "svc" };
            assert_eq!(&*trace.resource_of(span).unwrap().service, service);
        }
        assert_eq!(
            trace.bytes(),
            trace.account(),
            "incremental accounting drifted"
        );
    }
    let sum: usize = [1, 2]
        .map(|t| w.get(&tid(t).try_into().unwrap()).unwrap().bytes())
        .iter()
        .sum();
    // Each request's resource is charged once, not once per trace holding it.
    let t1 = w.get(&tid(1).try_into().unwrap()).unwrap();
    let resources: usize = t1
        .resources
        .iter()
        .map(|r| window::resource_charge(r))
        .sum();
    assert_eq!(t1.resources.len(), 2);
    assert_eq!(w.bytes(), sum + resources);
    // Evicting both traces releases the resources too.
    w.enforce(Now::current().mono + Duration::from_secs(3600));
    assert_eq!((w.len(), w.bytes()), (0, 0));
}

#[test]
fn many_resources_in_one_trace_are_capped_and_counted() {
    let (mut w, telemetry) = window(limits());
    for i in 0..100u64 {
        let svc = format!("svc-{i}");
        w.add_spans(
            &traces(&svc, vec![], vec![span(9, i + 1, 0, "op")]),
            Now::current(),
        )
        .unwrap();
    }
    let trace = w.get(&tid(9).try_into().unwrap()).unwrap();
    assert_eq!(trace.span_count(), 100);
    assert_eq!(trace.resources.len(), 16);
    // Beyond the inline two, the resource list's heap is accounted.
    assert_eq!(trace.bytes(), trace.account(), "accounting drifted");
    assert_eq!(
        metric_value(
            &telemetry,
            "lookout_correlate_overflow_resources_total{processor=\"correlate\"}"
        ),
        84.0
    );
}

#[test]
fn logs_and_exemplars_are_indexed_and_capped() {
    let limits = Limits {
        max_logs_per_trace: 3,
        ..limits()
    };
    let (mut w, telemetry) = window(limits);
    let records = (0..5)
        .map(|i| record(Some(3), Some(1), &format!("line {i}")))
        .collect();
    w.add_logs(&logs(vec![], records), Now::current()).unwrap();
    let trace = w.get(&tid(3).try_into().unwrap()).unwrap();
    assert_eq!(trace.logs.len(), 3);
    assert_eq!(&*trace.logs[2].body, "line 2");
    assert_eq!(
        metric_value(
            &telemetry,
            "lookout_correlate_overflow_log_records_total{processor=\"correlate\"}"
        ),
        2.0
    );

    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "latency".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            exemplars: vec![
                                Exemplar {
                                    trace_id: tid(3),
                                    span_id: sid(1),
                                    time_unix_nano: T0,
                                    value: Some(exemplar::Value::AsDouble(2.5)),
                                    ..Default::default()
                                },
                                Exemplar {
                                    value: Some(exemplar::Value::AsInt(1)),
                                    ..Default::default()
                                },
                            ],
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let found = exemplars::exemplars(&metrics).unwrap();
    assert_eq!(found.len(), 1);
    w.add_exemplars(found, Now::current());
    let trace = w.get(&tid(3).try_into().unwrap()).unwrap();
    assert_eq!(trace.exemplars.len(), 1);
    assert_eq!(&*trace.exemplars[0].metric, "latency");
    assert_eq!(trace.exemplars[0].value, 2.5);
}

// === enrichment ===

fn window_with_checkout() -> Window {
    let (mut w, _t) = window(limits());
    let mut tagged = span(1, 2, 1, "charge");
    tagged.attributes = vec![
        bool_kv("lookout.latency.anomaly", true),
        kv("lookout.latency.kind", "spike"),
        kv("lookout.latency.root_span_id", "0000000000000002"),
    ];
    w.add_spans(
        &traces(
            "checkout",
            vec![kv("service.version", "1.2"), kv("host.name", "web-1")],
            vec![span(1, 1, 0, "GET /checkout"), tagged],
        ),
        Now::current(),
    )
    .unwrap();
    w
}

#[test]
fn a_tailed_record_gets_its_spans_resource_name_and_verdict() {
    let w = window_with_checkout();
    let payload = logs(
        vec![kv("log.file.name", "app.log")],
        vec![
            record(Some(1), Some(2), "charging"),
            record(Some(1), Some(1), "done"),
        ],
    );
    let out = enrich::enrich(&payload, &w).unwrap();
    assert_eq!(out.records, 2);
    let req = decode_logs(&out.payload.unwrap());
    // Both records get the same resource additions: one ResourceLogs.
    assert_eq!(req.resource_logs.len(), 1);
    let rl = &req.resource_logs[0];
    let res = &rl.resource.as_ref().unwrap().attributes;
    assert_eq!(str_attr(res, "log.file.name"), Some("app.log"));
    assert_eq!(str_attr(res, "service.name"), Some("checkout"));
    assert_eq!(str_attr(res, "service.version"), Some("1.2"));
    assert_eq!(str_attr(res, "host.name"), Some("web-1"));
    let records = &rl.scope_logs[0].log_records;
    assert_eq!(
        str_attr(&records[0].attributes, "span.name"),
        Some("charge")
    );
    assert_eq!(
        attr(&records[0].attributes, "lookout.latency.anomaly"),
        Some(&any_value::Value::BoolValue(true))
    );
    assert_eq!(
        str_attr(&records[0].attributes, "lookout.latency.kind"),
        Some("spike")
    );
    assert_eq!(
        str_attr(&records[0].attributes, "lookout.latency.root_span_id"),
        Some("0000000000000002")
    );
    // The root was not tagged, but its trace was.
    assert_eq!(
        str_attr(&records[1].attributes, "span.name"),
        Some("GET /checkout")
    );
    assert_eq!(
        str_attr(&records[1].attributes, "lookout.latency.kind"),
        Some("spike")
    );
}

#[test]
fn only_missing_keys_are_added_and_a_resource_with_service_keeps_it() {
    let w = window_with_checkout();
    let mut r = record(Some(1), Some(2), "x");
    r.attributes = vec![kv("span.name", "mine")];
    let payload = logs(vec![kv("service.name", "legacy")], vec![r]);
    let req = decode_logs(&enrich::enrich(&payload, &w).unwrap().payload.unwrap());
    let rl = &req.resource_logs[0];
    let res = &rl.resource.as_ref().unwrap().attributes;
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(str_attr(res, "service.name"), Some("legacy"));
    let attrs = &rl.scope_logs[0].log_records[0].attributes;
    assert_eq!(attrs.iter().filter(|kv| kv.key == "span.name").count(), 1);
    assert_eq!(str_attr(attrs, "span.name"), Some("mine"));
    assert_eq!(str_attr(attrs, "lookout.latency.kind"), Some("spike"));
}

#[test]
fn records_of_different_services_are_cut_into_runs_in_order() {
    let (mut w, _t) = window(limits());
    w.add_spans(
        &traces("a", vec![], vec![span(1, 1, 0, "a-op")]),
        Now::current(),
    )
    .unwrap();
    w.add_spans(
        &traces("b", vec![], vec![span(2, 1, 0, "b-op")]),
        Now::current(),
    )
    .unwrap();
    let bodies = ["1", "2", "3", "4", "5"];
    let owners = [Some(1), Some(1), Some(2), None, Some(1)];
    let records = bodies
        .iter()
        .zip(owners)
        .map(|(b, t)| record(t, t.map(|_| 1), b))
        .collect();
    let payload = logs(vec![kv("log.file.name", "f")], records);
    let req = decode_logs(&enrich::enrich(&payload, &w).unwrap().payload.unwrap());
    let seen: Vec<(String, Option<String>)> = req
        .resource_logs
        .iter()
        .flat_map(|rl| {
            let service = str_attr(&rl.resource.as_ref().unwrap().attributes, "service.name")
                .map(str::to_string);
            rl.scope_logs.iter().flat_map(move |sl| {
                let service = service.clone();
                sl.log_records.iter().map(move |r| {
                    let Some(any_value::Value::StringValue(b)) =
                        r.body.as_ref().and_then(|b| b.value.as_ref())
                    else {
                        panic!("body")
                    };
                    (b.clone(), service.clone())
                })
            })
        })
        .collect();
    let expected: Vec<(String, Option<String>)> = [
        ("1", Some("a")),
        ("2", Some("a")),
        ("3", Some("b")),
        ("4", None),
        ("5", Some("a")),
    ]
    .iter()
    .map(|(b, s)| (b.to_string(), s.map(str::to_string)))
    .collect();
    assert_eq!(seen, expected);
    assert_eq!(req.resource_logs.len(), 4);
    for rl in &req.resource_logs {
        let res = &rl.resource.as_ref().unwrap().attributes;
        assert_eq!(str_attr(res, "log.file.name"), Some("f"));
    }
}

#[test]
fn nothing_is_invented() {
    let w = window_with_checkout();
    // A span id without a trace id, and an unknown trace.
    let payload = logs(
        vec![],
        vec![record(None, Some(2), "x"), record(Some(99), Some(2), "y")],
    );
    let out = enrich::enrich(&payload, &w).unwrap();
    assert_eq!(out, enrich::Enriched::default());
}

// === the stage ===

struct Stage {
    tx: mpsc::Sender<Batch>,
    rx: mpsc::Receiver<Batch>,
    task: tokio::task::JoinHandle<()>,
}

fn stage(shared: &Arc<Correlator>, pipeline: &str, signal: Signal) -> Stage {
    let (tx, input) = mpsc::channel(16);
    let (out, rx) = mpsc::channel(16);
    let telemetry = Telemetry::new();
    let ctx = ProcessorContext {
        id: "correlate".into(),
        pipeline: pipeline.into(),
        input,
        output: Output::Next(out),
        metrics: telemetry.processor("correlate", pipeline, signal),
    };
    let task = tokio::spawn(run(Arc::clone(shared), ctx));
    Stage { tx, rx, task }
}

fn correlator(config: CorrelateConfig) -> (Arc<Correlator>, Telemetry) {
    let telemetry = Telemetry::new();
    (
        Arc::new(Correlator::new(config, &telemetry, "correlate")),
        telemetry,
    )
}

fn batch(signal: Signal, payload: Vec<u8>, items: usize) -> Batch {
    Batch::new(signal, Bytes::from(payload), items)
}

#[tokio::test(start_paused = true)]
async fn a_log_before_its_span_waits_and_is_enriched_with_its_ack() {
    let (shared, telemetry) = correlator(CorrelateConfig::default());
    let mut traces_stage = stage(&shared, "traces", Signal::Traces);
    let mut logs_stage = stage(&shared, "logs", Signal::Logs);

    let (ack, delivery) = Ack::new();
    let early = logs(vec![], vec![record(Some(5), Some(1), "before")]);
    logs_stage
        .tx
        .send(batch(Signal::Logs, early, 1).with_ack(ack))
        .await
        .unwrap();
    // A later batch of the same source must not overtake it.
    let later = logs(vec![], vec![record(None, None, "no trace")]);
    logs_stage
        .tx
        .send(batch(Signal::Logs, later, 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        logs_stage.rx.try_recv().is_err(),
        "the log waits for its span"
    );

    traces_stage
        .tx
        .send(batch(
            Signal::Traces,
            traces("pay", vec![], vec![span(5, 1, 0, "pay")]),
            1,
        ))
        .await
        .unwrap();
    let spans = traces_stage.rx.recv().await.unwrap();
    assert_eq!(spans.items, 1);
    let first = logs_stage.rx.recv().await.unwrap();
    let req = decode_logs(&first.payload);
    let rl = &req.resource_logs[0];
    assert_eq!(
        str_attr(&rl.resource.as_ref().unwrap().attributes, "service.name"),
        Some("pay")
    );
    assert_eq!(
        str_attr(&rl.scope_logs[0].log_records[0].attributes, "span.name"),
        Some("pay")
    );
    let second = logs_stage.rx.recv().await.unwrap();
    assert!(
        decode_logs(&second.payload).resource_logs[0].scope_logs[0].log_records[0]
            .trace_id
            .is_empty()
    );
    first.acks.settle(true);
    second.acks.settle(true);
    assert!(delivery.outcome().await);
    assert_eq!(
        metric_value(
            &telemetry,
            "lookout_correlate_waiting_log_records_total{processor=\"correlate\"}"
        ),
        1.0
    );
    drop((traces_stage.tx, logs_stage.tx));
    traces_stage.task.await.unwrap();
    logs_stage.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_log_whose_span_never_comes_goes_on_after_log_wait() {
    let config = CorrelateConfig {
        log_wait: Duration::from_secs(2),
        ..CorrelateConfig::default()
    };
    let (shared, telemetry) = correlator(config);
    let mut logs_stage = stage(&shared, "logs", Signal::Logs);
    let payload = logs(vec![], vec![record(Some(8), Some(1), "orphan")]);
    logs_stage
        .tx
        .send(batch(Signal::Logs, payload.clone(), 1))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let out = logs_stage.rx.recv().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(&out.payload[..], &payload[..], "forwarded unchanged");
    assert_eq!(
        metric_value(
            &telemetry,
            "lookout_correlate_log_wait_expired_log_records_total{processor=\"correlate\"}"
        ),
        1.0
    );
    drop(logs_stage.tx);
    logs_stage.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn waiting_beyond_max_waiting_logs_releases_the_oldest_in_order() {
    let config = CorrelateConfig {
        max_waiting_logs: 2,
        ..CorrelateConfig::default()
    };
    let (shared, telemetry) = correlator(config);
    let mut logs_stage = stage(&shared, "logs", Signal::Logs);
    for i in 0..4u64 {
        let payload = logs(vec![], vec![record(Some(100 + i), Some(1), &i.to_string())]);
        logs_stage
            .tx
            .send(batch(Signal::Logs, payload, 1))
            .await
            .unwrap();
    }
    // Without time passing, the first ones leave because too many wait.
    for i in 0..2u64 {
        let out = tokio::time::timeout(Duration::from_millis(1), logs_stage.rx.recv())
            .await
            .expect("released early")
            .unwrap();
        let req = decode_logs(&out.payload);
        assert_eq!(
            req.resource_logs[0].scope_logs[0].log_records[0].trace_id,
            tid(100 + i)
        );
    }
    assert_eq!(
        metric_value(
            &telemetry,
            "lookout_correlate_log_wait_overflow_log_records_total{processor=\"correlate\"}"
        ),
        2.0
    );
    drop(logs_stage.tx);
    // Closing the input sends the rest on.
    assert!(logs_stage.rx.recv().await.is_some());
    assert!(logs_stage.rx.recv().await.is_some());
    logs_stage.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn batches_queued_behind_a_waiting_one_count_against_max_waiting_logs() {
    let config = CorrelateConfig {
        max_waiting_logs: 2,
        ..CorrelateConfig::default()
    };
    let (shared, _telemetry) = correlator(config);
    let mut logs_stage = stage(&shared, "logs", Signal::Logs);
    let head = logs(vec![], vec![record(Some(200), Some(1), "waits")]);
    logs_stage
        .tx
        .send(batch(Signal::Logs, head, 1))
        .await
        .unwrap();
    for i in 0..2 {
        let plain = logs(vec![], vec![record(None, None, &format!("plain {i}"))]);
        logs_stage
            .tx
            .send(batch(Signal::Logs, plain, 1))
            .await
            .unwrap();
    }
    // Three records held, two allowed: the waiting head leaves without its span, in order.
    let out = tokio::time::timeout(Duration::from_millis(1), logs_stage.rx.recv())
        .await
        .expect("released early")
        .unwrap();
    let req = decode_logs(&out.payload);
    assert_eq!(
        req.resource_logs[0].scope_logs[0].log_records[0].trace_id,
        tid(200)
    );
    drop(logs_stage.tx);
    logs_stage.task.await.unwrap();
}

// === API ===

fn get(shared: &Correlator, uri: &str) -> (u16, serde_json::Value) {
    let req = http::Request::get(uri).body(Bytes::new()).unwrap();
    let response = api::answer(shared, &req);
    let status = response.status().as_u16();
    let body = futures::executor::block_on(http_body_util::BodyExt::collect(response.into_body()))
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

fn api_fixture() -> Arc<Correlator> {
    let (shared, _t) = correlator(CorrelateConfig::default());
    let mut child = span(1, 2, 1, "charge");
    child.status = Some(Status {
        code: 2,
        message: "declined".into(),
    });
    child.attributes = vec![
        kv("db.system", "pg"),
        bool_kv("lookout.latency.anomaly", false),
    ];
    shared
        .window()
        .add_spans(
            &traces(
                "checkout",
                vec![],
                vec![span(1, 1, 0, "GET /checkout"), child],
            ),
            Now::current(),
        )
        .unwrap();
    let mut late = record(Some(1), Some(2), "second");
    late.time_unix_nano = T0 + 5;
    let mut error = record(Some(1), None, "trace-level");
    error.severity_number = 17;
    shared
        .window()
        .add_logs(
            &logs(vec![], vec![late, record(Some(1), Some(2), "first"), error]),
            Now::current(),
        )
        .unwrap();
    shared
        .window()
        .add_spans(
            &traces("other", vec![], vec![span(2, 1, 0, "idle")]),
            Now::current(),
        )
        .unwrap();
    shared
}

#[test]
fn lookup_returns_the_tree_with_logs_on_their_spans() {
    let shared = api_fixture();
    let (status, body) = get(&shared, &format!("/api/v1/traces/{}", hex::encode(tid(1))));
    assert_eq!(status, 200);
    let root = &body["spans"][0];
    assert_eq!(body["spans"].as_array().unwrap().len(), 1);
    assert_eq!(root["name"], "GET /checkout");
    assert_eq!(root["service"], "checkout");
    let child = &root["children"][0];
    assert_eq!(child["span_id"], hex::encode(sid(2)));
    assert_eq!(child["status"]["code"], 2);
    assert_eq!(child["attributes"], serde_json::json!({"db.system": "pg"}));
    assert_eq!(child["logs"][0]["body"], "first");
    assert_eq!(child["logs"][1]["body"], "second");
    assert_eq!(body["logs_without_span"][0]["body"], "trace-level");

    assert_eq!(
        get(&shared, &format!("/api/v1/traces/{}", hex::encode(tid(3)))).0,
        404
    );
    assert_eq!(get(&shared, "/api/v1/traces/xyz").0, 400);
    assert_eq!(
        get(&shared, "/api/v1/traces/00000000000000000000000000000000").0,
        400
    );
}

#[test]
fn search_filters_newest_first() {
    let shared = api_fixture();
    let (status, body) = get(&shared, "/api/v1/traces");
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [hex::encode(tid(2)), hex::encode(tid(1))]);
    let (_, body) = get(&shared, "/api/v1/traces?error=true&has_error_logs=true");
    assert_eq!(body["traces"].as_array().unwrap().len(), 1);
    let (_, body) = get(&shared, "/api/v1/traces?service=other&operation=idle");
    assert_eq!(body["traces"][0]["trace_id"], hex::encode(tid(2)));
    let (_, body) = get(&shared, "/api/v1/traces?min_duration_ms=11");
    assert_eq!(body["traces"].as_array().unwrap().len(), 0);
    let (_, body) = get(&shared, "/api/v1/traces?limit=1");
    assert_eq!(body["traces"].as_array().unwrap().len(), 1);
    assert_eq!(get(&shared, "/api/v1/traces?error=maybe").0, 400);
}

#[test]
fn openapi_describes_the_answers() {
    let shared = api_fixture();
    let (status, spec) = get(&shared, "/api/v1/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.0.3");
    let schema = |path: &str, code: &str| {
        spec["paths"][path]["get"]["responses"][code]["content"]["application/json"]["schema"]
            .clone()
    };
    let cases = [
        ("/api/v1/traces", "/api/v1/traces".to_string(), "200"),
        (
            "/api/v1/traces",
            "/api/v1/traces?error=maybe".to_string(),
            "400",
        ),
        (
            "/api/v1/traces/{trace_id}",
            format!("/api/v1/traces/{}", hex::encode(tid(1))),
            "200",
        ),
        (
            "/api/v1/traces/{trace_id}",
            format!("/api/v1/traces/{}", hex::encode(tid(2))),
            "200",
        ),
        (
            "/api/v1/traces/{trace_id}",
            "/api/v1/traces/xyz".to_string(),
            "400",
        ),
        (
            "/api/v1/traces/{trace_id}",
            format!("/api/v1/traces/{}", hex::encode(tid(9))),
            "404",
        ),
    ];
    for (path, uri, code) in cases {
        let (status, body) = get(&shared, &uri);
        assert_eq!(status.to_string(), code, "{uri}");
        check_schema(&spec, &schema(path, code), &body, &uri).unwrap();
    }
    // The checker does catch a difference.
    let (_, mut body) = get(&shared, &format!("/api/v1/traces/{}", hex::encode(tid(1))));
    body["spans"][0]["surprise"] = serde_json::json!(1);
    assert!(
        check_schema(
            &spec,
            &schema("/api/v1/traces/{trace_id}", "200"),
            &body,
            "t"
        )
        .is_err()
    );
}

#[test]
fn jaeger_api_answers_in_jaegers_shape() {
    let shared = api_fixture();
    let (_, services) = get(&shared, "/api/services");
    assert_eq!(services["data"], serde_json::json!(["checkout", "other"]));
    assert!(services["errors"].is_null());
    let (_, ops) = get(&shared, "/api/services/checkout/operations");
    assert_eq!(ops["data"], serde_json::json!(["GET /checkout", "charge"]));

    let (status, body) = get(&shared, &format!("/api/traces/{}", hex::encode(tid(1))));
    assert_eq!(status, 200);
    assert!(body["errors"].is_null());
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], hex::encode(tid(1)));
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let child = spans
        .iter()
        .find(|s| s["operationName"] == "charge")
        .unwrap();
    assert_eq!(child["references"][0]["refType"], "CHILD_OF");
    assert_eq!(child["references"][0]["spanID"], hex::encode(sid(1)));
    assert_eq!(child["duration"], 10_000);
    assert_eq!(child["startTime"], (T0 + 2 * MS) / 1000);
    let pid = child["processID"].as_str().unwrap();
    assert_eq!(trace["processes"][pid]["serviceName"], "checkout");
    assert!(
        child["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "error" && t["value"] == true)
    );
    assert_eq!(child["logs"][0]["fields"][0]["value"], "first");
    assert!(
        child["tags"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"key": "db.system", "type": "string", "value": "pg"}))
    );

    let (_, found) = get(
        &shared,
        "/api/traces?service=checkout&lookback=1h&minDuration=5ms&limit=20",
    );
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    let (_, custom) = get(
        &shared,
        "/api/traces?service=checkout&lookback=custom&start=0&limit=20",
    );
    assert_eq!(custom["data"].as_array().unwrap().len(), 1);
    let future = (T0 / 1000) * 2;
    let (_, none) = get(
        &shared,
        &format!("/api/traces?service=checkout&start={future}"),
    );
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    // `end` (µs): the trace started at T0 + 1 ms at the earliest.
    let (_, before) = get(
        &shared,
        &format!("/api/traces?service=checkout&start=0&end={}", T0 / 1000),
    );
    assert_eq!(before["data"].as_array().unwrap().len(), 0);
    let (_, within) = get(
        &shared,
        &format!(
            "/api/traces?service=checkout&start=0&end={}",
            (T0 + 3 * MS) / 1000
        ),
    );
    assert_eq!(within["data"].as_array().unwrap().len(), 1);
    assert_eq!(get(&shared, "/api/traces?end=yesterday").0, 400);
    let (status, missing) = get(&shared, &format!("/api/traces/{}", hex::encode(tid(3))));
    assert_eq!(status, 404);
    assert_eq!(missing["errors"][0]["code"], 404);
    assert_eq!(get(&shared, "/api/traces?minDuration=fast").0, 400);
}

#[test]
fn a_parent_cycle_still_lists_every_span() {
    let (shared, _t) = correlator(CorrelateConfig::default());
    shared
        .window()
        .add_spans(
            &traces("s", vec![], vec![span(4, 1, 2, "a"), span(4, 2, 1, "b")]),
            Now::current(),
        )
        .unwrap();
    let (status, body) = get(&shared, &format!("/api/v1/traces/{}", hex::encode(tid(4))));
    assert_eq!(status, 200);
    let text = body.to_string();
    assert!(
        text.contains("\"name\":\"a\"") && text.contains("\"name\":\"b\""),
        "{text}"
    );
}

// === evidence for alerts ===

#[test]
fn an_alerts_trace_gets_its_most_severe_lines_oldest_first_and_cut() {
    use crate::core::alert::{EVIDENCE_BODY_MAX, TraceLogs};
    let (shared, _telemetry) = correlator(CorrelateConfig::default());
    // Twelve INFO lines, two ERROR lines among them (one with severity text, one without),
    // and a long body; a record of another trace and one without any.
    let mut records: Vec<LogRecord> = (0..12u64)
        .map(|i| {
            let mut r = record(Some(7), Some(2), &format!("step {i}"));
            r.time_unix_nano = T0 + i * MS;
            r.severity_text = "INFO".into();
            r
        })
        .collect();
    records[9].severity_number = 17;
    records[9].severity_text = String::new();
    records[4].severity_number = 18;
    records[4].severity_text = "ERROR2".into();
    records[4].body = Some(AnyValue {
        value: Some(any_value::Value::StringValue("x".repeat(1000))),
    });
    records.push(record(Some(8), None, "other trace"));
    records.push(record(None, None, "no trace"));
    let n = records.len();
    shared.index(&batch(
        Signal::Logs,
        logs(vec![kv("service.name", "shop")], records),
        n,
    ));

    let id: [u8; 16] = tid(7).try_into().unwrap();
    let got = shared.logs(&id, 4);
    assert_eq!(got.len(), 4);
    let bodies: Vec<&str> = got.iter().map(|l| &l.body[..6.min(l.body.len())]).collect();
    // Both errors kept, then the earliest INFO lines; listed oldest first.
    assert_eq!(bodies, ["step 0", "step 1", "xxxxxx", "step 9"], "{got:#?}");
    assert_eq!(got[2].severity, "ERROR2");
    assert_eq!(
        got[3].severity, "ERROR",
        "severity text made from the number"
    );
    assert_eq!(got[0].severity, "INFO");
    assert!(got[2].body.len() <= EVIDENCE_BODY_MAX && got[2].body.ends_with('…'));
    assert_eq!(got[0].trace_id, hex::encode(tid(7)));
    assert_eq!(got[0].span_id, hex::encode(sid(2)));
    assert_eq!(
        got[1].time,
        std::time::SystemTime::UNIX_EPOCH + Duration::from_nanos(T0 + MS)
    );
    assert_eq!(shared.logs(&id, 100).len(), 12, "all, when fewer than max");
    assert!(shared.logs(&id, 0).is_empty());
    let other: [u8; 16] = tid(8).try_into().unwrap();
    assert_eq!(shared.logs(&other, 10)[0].span_id, "", "no span id");
    assert!(shared.logs(&[9; 16], 10).is_empty(), "a trace not held");
}

// === config ===

#[test]
fn testdata_config_loads_and_bad_settings_are_refused() {
    let text = include_str!("testdata/config.yaml");
    crate::config::Config::parse("testdata/config.yaml", text).unwrap();
    let bad = CorrelateConfig {
        num_traces: 0,
        ..CorrelateConfig::default()
    };
    assert!(bad.validate().unwrap_err().contains("num_traces"));
    let text = text.replace("log_wait: 2s", "log_wait: 2s\n    wait_forever: true");
    assert!(crate::config::Config::parse("x.yaml", &text).is_err());
}

// === sample mode ===

fn sample_config(normal_percent: f64) -> CorrelateConfig {
    CorrelateConfig {
        mode: Mode::Sample,
        normal_percent,
        ..CorrelateConfig::default()
    }
}

fn decode_traces(payload: &[u8]) -> Vec<Span> {
    lookout_proto::wire::validate_traces(payload).expect("valid OTLP");
    ExportTraceServiceRequest::decode(payload)
        .expect("decodes")
        .resource_spans
        .into_iter()
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

fn error_span(trace: u64, id: u64, parent: u64) -> Span {
    Span {
        status: Some(Status {
            code: 2,
            ..Default::default()
        }),
        ..span(trace, id, parent, "fail")
    }
}

#[tokio::test(start_paused = true)]
async fn sample_keeps_an_error_trace_whole_with_its_logs_and_late_spans() {
    let (shared, telemetry) = correlator(sample_config(0.0));
    let mut traces_stage = stage(&shared, "traces", Signal::Traces);
    let mut logs_stage = stage(&shared, "logs", Signal::Logs);

    // The log comes first; its client is answered on receipt, not after the decision.
    let (ack, delivery) = Ack::new();
    let log = logs(vec![], vec![record(Some(1), Some(2), "on the child")]);
    logs_stage
        .tx
        .send(batch(Signal::Logs, log, 1).with_ack(ack))
        .await
        .unwrap();
    assert!(delivery.outcome().await);

    let (ack, delivery) = Ack::new();
    let spans = traces(
        "pay",
        vec![],
        vec![error_span(1, 2, 1), span(2, 5, 0, "ok")],
    );
    traces_stage
        .tx
        .send(batch(Signal::Traces, spans, 2).with_ack(ack))
        .await
        .unwrap();
    assert!(delivery.outcome().await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Without its root, trace 1 is not complete: nothing leaves before max_wait.
    assert!(traces_stage.rx.try_recv().is_err());
    let root_sent = tokio::time::Instant::now();
    let root = traces("pay", vec![], vec![span(1, 1, 0, "root")]);
    traces_stage
        .tx
        .send(batch(Signal::Traces, root, 1))
        .await
        .unwrap();

    let kept = traces_stage.rx.recv().await.unwrap();
    let waited = root_sent.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "decided after quiet_period: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(2),
        "decided soon after quiet_period: {waited:?}"
    );
    let mut spans = decode_traces(&kept.payload);
    spans.sort_by_key(|s| s.span_id.clone());
    assert_eq!(kept.items, 2);
    assert_eq!(
        spans.len(),
        2,
        "trace 1 whole, trace 2 (normal, 0 %) dropped"
    );
    assert!(spans.iter().all(|s| s.trace_id == tid(1)));
    assert_eq!(
        attr(&spans[1].attributes, "lookout.logs.count"),
        Some(&any_value::Value::IntValue(1))
    );
    assert_eq!(attr(&spans[0].attributes, "lookout.logs.count"), None);
    let released = logs_stage.rx.recv().await.unwrap();
    let req = decode_logs(&released.payload);
    let rl = &req.resource_logs[0];
    assert_eq!(rl.scope_logs[0].log_records[0].trace_id, tid(1));
    assert_eq!(
        str_attr(&rl.resource.as_ref().unwrap().attributes, "service.name"),
        Some("pay"),
        "released logs are enriched"
    );

    // Late spans follow their trace's decision.
    let late = traces(
        "pay",
        vec![],
        vec![span(1, 3, 1, "late"), span(2, 6, 5, "late")],
    );
    traces_stage
        .tx
        .send(batch(Signal::Traces, late, 2))
        .await
        .unwrap();
    let through = traces_stage.rx.recv().await.unwrap();
    let spans = decode_traces(&through.payload);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span_id, sid(3));

    let m = |s: &str| metric_value(&telemetry, &format!("lookout_correlate_sample_{s}"));
    assert_eq!(
        m("traces_total{processor=\"correlate\",decision=\"kept\",reason=\"error_span\"}"),
        1.0
    );
    assert_eq!(
        m("traces_total{processor=\"correlate\",decision=\"dropped\",reason=\"normal\"}"),
        1.0
    );
    assert_eq!(
        m("late_items_total{processor=\"correlate\",item=\"spans\",decision=\"kept\"}"),
        1.0
    );
    assert_eq!(
        m("late_items_total{processor=\"correlate\",item=\"spans\",decision=\"dropped\"}"),
        1.0
    );
    assert_eq!(
        m("dropped_items_total{processor=\"correlate\",item=\"spans\"}"),
        2.0
    );
    assert_eq!(m("held_traces{processor=\"correlate\"}"), 0.0);
    // The window holds what was sent on: the kept trace, not the dropped one.
    let id = |n| <[u8; 16]>::try_from(tid(n)).unwrap();
    assert_eq!(shared.window().get(&id(1)).map(|t| t.span_count()), Some(3));
    assert!(shared.window().get(&id(2)).is_none());
    drop((traces_stage.tx, logs_stage.tx));
    traces_stage.task.await.unwrap();
    logs_stage.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn sample_decides_an_anomalous_or_error_logged_trace_to_keep() {
    let (shared, telemetry) = correlator(sample_config(0.0));
    let mut traces_stage = stage(&shared, "traces", Signal::Traces);
    let mut logs_stage = stage(&shared, "logs", Signal::Logs);
    let mut tagged = span(1, 1, 0, "slow");
    tagged
        .attributes
        .push(bool_kv("lookout.latency.anomaly", true));
    let mut error_log = record(Some(2), None, "boom");
    error_log.severity_number = 17;
    logs_stage
        .tx
        .send(batch(Signal::Logs, logs(vec![], vec![error_log]), 1))
        .await
        .unwrap();
    let spans = traces(
        "pay",
        vec![],
        vec![tagged, span(2, 2, 0, "ok"), span(3, 3, 0, "ok")],
    );
    traces_stage
        .tx
        .send(batch(Signal::Traces, spans, 3))
        .await
        .unwrap();
    let kept = traces_stage.rx.recv().await.unwrap();
    let mut ids: Vec<_> = decode_traces(&kept.payload)
        .into_iter()
        .map(|s| s.trace_id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec![tid(1), tid(2)]);
    assert_eq!(logs_stage.rx.recv().await.unwrap().items, 1);
    let m = |s: &str| metric_value(&telemetry, &format!("lookout_correlate_sample_{s}"));
    assert_eq!(
        m("traces_total{processor=\"correlate\",decision=\"kept\",reason=\"anomaly\"}"),
        1.0
    );
    assert_eq!(
        m("traces_total{processor=\"correlate\",decision=\"kept\",reason=\"error_log\"}"),
        1.0
    );
    drop((traces_stage.tx, logs_stage.tx));
    traces_stage.task.await.unwrap();
    logs_stage.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn sample_over_max_held_bytes_decides_the_oldest_early() {
    let config = CorrelateConfig {
        max_held_bytes: 4096,
        ..sample_config(100.0)
    };
    let (shared, telemetry) = correlator(config);
    let mut traces_stage = stage(&shared, "traces", Signal::Traces);
    let start = tokio::time::Instant::now();
    let mut out = 0;
    for n in 1..=40 {
        // Rootless: never quiet-complete, so only the byte budget decides them before max_wait.
        let spans = traces("pay", vec![], vec![span(n, 2, 1, "child")]);
        traces_stage
            .tx
            .send(batch(Signal::Traces, spans, 1))
            .await
            .unwrap();
        while let Ok(b) = traces_stage.rx.try_recv() {
            out += b.items;
        }
    }
    while out < 30 {
        out += traces_stage.rx.recv().await.unwrap().items;
    }
    assert!(start.elapsed() < Duration::from_secs(30), "before max_wait");
    let early = metric_value(
        &telemetry,
        "lookout_correlate_sample_early_decisions_total{processor=\"correlate\",reason=\"max_held_bytes\"}",
    );
    assert!(early >= 30.0, "{early}");
    let held = metric_value(
        &telemetry,
        "lookout_correlate_sample_held_bytes{processor=\"correlate\"}",
    );
    assert!(held <= 4096.0, "{held}");
    // At shutdown the rest is decided and sent.
    drop(traces_stage.tx);
    while let Some(b) = traces_stage.rx.recv().await {
        out += b.items;
    }
    assert_eq!(out, 40);
    traces_stage.task.await.unwrap();
}

#[test]
fn sample_testdata_loads_and_bad_settings_are_refused() {
    let text = include_str!("testdata/sample.yaml");
    crate::config::Config::parse("testdata/sample.yaml", text).unwrap();
    for (bad, key) in [
        (sample_config(150.0), "normal_percent"),
        (sample_config(f64::NAN), "normal_percent"),
        (
            CorrelateConfig {
                max_wait: Duration::from_millis(500),
                ..sample_config(10.0)
            },
            "max_wait",
        ),
        (
            CorrelateConfig {
                decision_cache: 0,
                ..sample_config(10.0)
            },
            "decision_cache",
        ),
    ] {
        assert!(bad.validate().unwrap_err().contains(key), "{key}");
    }
    let text = text.replace("mode: sample", "mode: tail");
    assert!(crate::config::Config::parse("x.yaml", &text).is_err());
}

#[test]
fn sample_mode_is_refused_in_two_pipelines_of_one_signal() {
    let text = include_str!("testdata/sample.yaml");
    let second = "    traces/2:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [debug]\n";
    let two = format!("{text}{second}");
    let error = crate::config::Config::parse("x.yaml", &two)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("one traces pipeline, not 2 (traces, traces/2)"),
        "{error}"
    );
    // Enrichment mode shares one window among any number of pipelines.
    let enrich = two.replace("    mode: sample\n", "");
    let enrich: String = enrich
        .lines()
        .filter(|l| {
            !l.contains("quiet_period")
                && !l.contains("max_wait")
                && !l.contains("normal_percent")
                && !l.contains("min_duration")
                && !l.contains("hash_seed")
                && !l.contains("max_held_bytes")
                && !l.contains("decision_cache")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::config::Config::parse("x.yaml", &enrich).unwrap();
}

#[test]
fn sample_late_items_follow_remembered_decisions_and_forgotten_ones_are_held_again() {
    let telemetry = Telemetry::new();
    let config = CorrelateConfig {
        decision_cache: 1,
        ..sample_config(100.0)
    };
    let mut sampler = super::sample::Sampler::new(&config, &telemetry, "correlate");
    let t0 = tokio::time::Instant::now();
    let root = |n| traces("pay", vec![], vec![span(n, 1, 0, "root")]);
    assert_eq!(sampler.accept(Signal::Traces, &root(1), t0).unwrap(), None);
    sampler.decide(t0 + Duration::from_secs(1));
    assert_eq!(sampler.accept(Signal::Traces, &root(2), t0).unwrap(), None);
    sampler.decide(t0 + Duration::from_secs(2));
    let m = |s: &str| metric_value(&telemetry, &format!("lookout_correlate_sample_{s}"));
    assert_eq!(m("cache_evictions_total{processor=\"correlate\"}"), 1.0);
    assert_eq!(m("held_traces{processor=\"correlate\"}"), 0.0);

    // Trace 2's decision is remembered: its late log goes on at once.
    let late_log = logs(vec![], vec![record(Some(2), Some(1), "late")]);
    let (payload, items) = sampler
        .accept(Signal::Logs, &late_log, t0 + Duration::from_secs(3))
        .unwrap()
        .unwrap();
    assert_eq!(items, 1);
    assert_eq!(
        decode_logs(&payload).resource_logs[0].scope_logs[0].log_records[0].trace_id,
        tid(2)
    );
    // Trace 1's was forgotten: its late span is held as a new trace.
    let late_span = traces("pay", vec![], vec![span(1, 2, 1, "late")]);
    assert_eq!(
        sampler
            .accept(Signal::Traces, &late_span, t0 + Duration::from_secs(3))
            .unwrap(),
        None
    );
    assert_eq!(m("held_traces{processor=\"correlate\"}"), 1.0);
    assert_eq!(
        m("late_items_total{processor=\"correlate\",item=\"log_records\",decision=\"kept\"}"),
        1.0
    );
}
