//! The store end to end in one process: write, flush, reopen, retention, quarantine.

use std::time::Duration;

use prost::Message;

use super::config::{Limits, StoreConfig};
use super::db::Store;
use super::metrics::StoreMetrics;
use super::query::Search;
use super::rollup::{HOUR_NS, MINUTE_NS};
use super::segment::{self, Kind, Select};
use crate::core::Signal;
use crate::telemetry::Telemetry;
use lookout_proto::otlp::collector::{logs, metrics, trace};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// A fixed hour (2026-12-06 10:00 UTC) so that tests do not depend on the clock.
pub(super) const T0: i64 = 1_796_551_200 * 1_000_000_000;

pub(super) fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

pub(super) fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

fn tid(n: u8) -> Vec<u8> {
    vec![n; 16]
}

/// A request of one trace `n`: a root and a child (error) span of `service`.
fn spans(n: u8, service: &str, start: i64) -> Vec<u8> {
    let span = |sid: u8, parent: Vec<u8>, dur_ms: i64, code: i32| Span {
        trace_id: tid(n),
        span_id: vec![sid; 8],
        parent_span_id: parent,
        name: format!("op{sid}"),
        kind: 2,
        start_time_unix_nano: start as u64,
        end_time_unix_nano: (start + dur_ms * 1_000_000) as u64,
        attributes: vec![
            kv("http.route", "/x"),
            kv("lookout.latency.verdict", "slow"),
        ],
        status: Some(Status {
            code,
            ..Default::default()
        }),
        ..Default::default()
    };
    trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(1, vec![], 120, 0), span(2, vec![1; 8], 80, 2)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

pub(super) fn log(n: u8, ts: i64, body: &str) -> Vec<u8> {
    logs::v1::ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("api"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: ts as u64,
                    trace_id: tid(n),
                    span_id: vec![2; 8],
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(body.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gauge(name: &str, host: &str, points: &[(i64, f64)]) -> Vec<u8> {
    metrics::v1::ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host.name", host)],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points
                            .iter()
                            .map(|(t, v)| NumberDataPoint {
                                time_unix_nano: *t as u64,
                                value: Some(number_data_point::Value::AsDouble(*v)),
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

pub(super) fn config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig {
        directory: dir.to_path_buf(),
        ..StoreConfig::default()
    };
    // Fixed-time data would be older than any age limit.
    c.retention.max_age = None;
    c
}

pub(super) fn open(c: &StoreConfig) -> (Store, Telemetry) {
    let t = Telemetry::new();
    let s = Store::open(c, StoreMetrics::new(&t, "store")).unwrap();
    (s, t)
}

pub(super) fn metric(t: &Telemetry, line_start: &str) -> f64 {
    t.render()
        .lines()
        .filter(|l| l.starts_with(line_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn fill(s: &Store) {
    s.append(Signal::Traces, &spans(1, "api", T0 + 5 * MINUTE_NS))
        .unwrap();
    s.append(Signal::Traces, &spans(2, "db", T0 + HOUR_NS + MINUTE_NS))
        .unwrap();
    s.append(Signal::Logs, &log(1, T0 + 5 * MINUTE_NS, "boom"))
        .unwrap();
    let pts: Vec<(i64, f64)> = (0..120)
        .map(|i| (T0 + i * 30_000_000_000, i as f64))
        .collect();
    s.append(Signal::Metrics, &gauge("cpu", "h1", &pts))
        .unwrap();
    s.append(Signal::Metrics, &gauge("cpu", "h2", &pts[..2]))
        .unwrap();
}

/// What the queries answer, as one comparable value.
fn answers(s: &Store) -> String {
    let t1 = s.trace(&[1; 16]);
    let logs = s.trace_logs(&[1; 16]);
    let found = s.search(&Search {
        service: Some("api".into()),
        min_duration: Some(100_000_000),
        from: T0,
        to: T0 + 2 * HOUR_NS,
        limit: 10,
        ..Search::default()
    });
    let errors = s.search(&Search {
        error: Some(true),
        from: T0,
        to: T0 + 2 * HOUR_NS,
        limit: 10,
        ..Search::default()
    });
    let series = s.series("cpu", T0, T0 + HOUR_NS, 30 * MINUTE_NS);
    let raw = s.series("cpu", T0, T0 + 2 * MINUTE_NS, 30_000_000_000);
    let red = s.red(T0, T0 + 2 * HOUR_NS);
    format!(
        "{t1:?}\n{logs:?}\n{found:?}\n{errors:?}\n{series:?}\n{raw:?}\n{red:?}\n{:?}",
        s.services()
    )
}

#[test]
fn answers_the_same_from_the_head_from_segments_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, _t) = open(&c);
    fill(&s);
    let from_head = answers(&s);
    // The answers hold the data.
    let t1 = s.trace(&[1; 16]);
    assert_eq!(t1.len(), 2);
    assert_eq!(t1[0].service, "api");
    assert_eq!(t1[0].verdict, r#"{"lookout.latency.verdict":"slow"}"#);
    assert_eq!(t1[0].attrs, r#"{"http.route":"/x"}"#);
    assert_eq!(s.trace_logs(&[1; 16])[0].body, "boom");
    let series = s.series("cpu", T0, T0 + HOUR_NS, 30 * MINUTE_NS);
    assert_eq!(series.len(), 2);
    let h1 = &series[0].points;
    assert_eq!(h1.len(), 2);
    assert_eq!((h1[0].1.count, h1[0].1.min, h1[0].1.max), (60, 0.0, 59.0));
    let red = s.red(T0, T0 + 2 * HOUR_NS);
    assert_eq!(red.len(), 2);
    assert_eq!(
        (red[0].service.as_str(), red[0].count, red[0].errors),
        ("api", 2, 1)
    );
    assert_eq!(
        s.search(&Search {
            error: Some(true),
            from: T0,
            to: T0 + 2 * HOUR_NS,
            limit: 10,
            ..Search::default()
        }),
        vec![[2; 16], [1; 16]],
        "newest first"
    );

    s.flush().unwrap();
    assert!(!s.segments(Kind::Spans, T0, T0 + 2 * HOUR_NS).is_empty());
    assert_eq!(answers(&s), from_head, "segments answer as the head did");
    drop(s);
    let (s, _t) = open(&c);
    assert_eq!(answers(&s), from_head, "after reopening");
}

#[test]
fn what_was_acknowledged_is_replayed_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, _t) = open(&c);
    fill(&s);
    let before = answers(&s);
    // No flush: dropping the store is what kill -9 leaves (the log, no segments).
    drop(s);
    let (s, t) = open(&c);
    assert_eq!(answers(&s), before);
    assert_eq!(metric(&t, "lookout_store_replayed_batches_total"), 5.0);
    // A flush that wrote segments but did not delete its log: the segments go, the log
    // replays, nothing is doubled.
    s.flush().unwrap();
    let segs = s.segments(Kind::Spans, i64::MIN, i64::MAX);
    drop(s);
    let (s, _t) = open(&c);
    s.append(Signal::Traces, &spans(3, "api", T0)).unwrap();
    drop(s);
    let wal_dir = dir.path().join("wal");
    let wal = std::fs::read_dir(&wal_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let gen_ = wal.file_stem().unwrap().to_str().unwrap().to_string();
    let extra = dir
        .path()
        .join("spans")
        .join(format!("{}-{gen_}.parquet", T0 / HOUR_NS));
    std::fs::copy(&segs[0], &extra).unwrap();
    let (s, _t) = open(&c);
    assert_eq!(s.trace(&[3; 16]).len(), 2);
    assert!(
        !extra.exists(),
        "the interrupted flush's segment was dropped"
    );
    assert_eq!(s.trace(&[1; 16]).len(), 2);
}

#[test]
fn a_damaged_segment_is_moved_aside_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, _t) = open(&c);
    fill(&s);
    s.flush().unwrap();
    let seg = s.segments(Kind::Spans, T0, T0 + HOUR_NS)[0].clone();
    drop(s);
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&seg, &bytes).unwrap();
    let (s, t) = open(&c);
    assert_eq!(metric(&t, "lookout_store_corrupt_segments_total"), 1.0);
    assert!(!seg.exists());
    let q = dir.path().join("quarantine");
    assert_eq!(std::fs::read_dir(&q).unwrap().count(), 1);
    // The rest still answers; the damaged hour's spans are gone.
    assert!(s.trace(&[1; 16]).is_empty());
    assert_eq!(s.trace(&[2; 16]).len(), 2);
    assert_eq!(s.trace_logs(&[1; 16]).len(), 1);

    // Damage found while reading (after start-up) is handled the same way.
    let seg = s.segments(Kind::Logs, T0, T0 + HOUR_NS)[0].clone();
    std::fs::write(&seg, b"PAR1 not parquet PAR1").unwrap();
    assert!(s.trace_logs(&[1; 16]).is_empty());
    assert_eq!(metric(&t, "lookout_store_corrupt_segments_total"), 2.0);
    assert_eq!(std::fs::read_dir(&q).unwrap().count(), 2);
}

#[test]
fn retention_by_size_deletes_the_oldest_segments_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention.traces = Limits {
        max_age: None,
        max_bytes: Some(200_000),
    };
    let (s, t) = open(&c);
    for h in 0..40 {
        s.append(Signal::Traces, &spans(h as u8 + 1, "api", T0 + h * HOUR_NS))
            .unwrap();
        s.flush().unwrap();
        let bytes = metric(
            &t,
            "lookout_store_bytes{exporter=\"store\",signal=\"traces\"}",
        );
        assert!(bytes <= 200_000.0, "{bytes}");
    }
    assert!(
        metric(
            &t,
            "lookout_store_deleted_segments_total{exporter=\"store\",signal=\"traces\",reason=\"size\"}"
        ) > 0.0
    );
    // The newest trace is there, the oldest went first.
    assert_eq!(s.trace(&[40; 16]).len(), 2);
    assert!(s.trace(&[1; 16]).is_empty());
    let on_disk: u64 = ["spans", "red_1m", "wal"]
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.path().join(d)).unwrap())
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 200_000, "{on_disk}");
}

#[test]
fn retention_by_age_deletes_expired_hours() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention.max_age = Some(Duration::from_secs(3600));
    let (s, t) = open(&c);
    fill(&s);
    s.flush().unwrap();
    // `flush` expires by the real clock: the fixed-time data is far older than an hour.
    assert!(s.segments(Kind::Spans, i64::MIN, i64::MAX).is_empty());
    assert!(s.trace(&[1; 16]).is_empty());
    assert!(
        metric(
            &t,
            "lookout_store_deleted_segments_total{exporter=\"store\",signal=\"traces\",reason=\"age\"}"
        ) >= 2.0
    );

    // An hour's segment lives until its end + max_age: data of the previous hour.
    let base = (super::db::now_ns() / HOUR_NS - 1) * HOUR_NS;
    c.directory = dir.path().join("two");
    let (s, _t) = open(&c);
    s.append(Signal::Traces, &spans(1, "api", base)).unwrap();
    s.append(Signal::Traces, &spans(2, "api", base + HOUR_NS))
        .unwrap();
    s.flush().unwrap();
    assert_eq!(s.trace(&[1; 16]).len(), 2);
    s.expire(base + 2 * HOUR_NS - 1);
    assert_eq!(s.trace(&[1; 16]).len(), 2);
    s.expire(base + 2 * HOUR_NS);
    assert!(s.trace(&[1; 16]).is_empty());
    assert_eq!(s.trace(&[2; 16]).len(), 2, "the next hour stays");
}

#[test]
fn a_range_without_data_answers_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _t) = open(&config(dir.path()));
    let nothing = |s: &Store| {
        let far = T0 + 1000 * HOUR_NS;
        assert!(s.series("cpu", far, far + HOUR_NS, MINUTE_NS).is_empty());
        assert!(s.series("nope", T0, T0 + HOUR_NS, 1_000_000_000).is_empty());
        assert!(s.red(far, far + HOUR_NS).is_empty());
        assert!(
            s.search(&Search {
                from: far,
                to: far + HOUR_NS,
                limit: 5,
                ..Search::default()
            })
            .is_empty()
        );
        assert!(s.trace(&[9; 16]).is_empty());
    };
    nothing(&s);
    fill(&s);
    nothing(&s);
    s.flush().unwrap();
    nothing(&s);
}

#[test]
fn segments_are_pruned_by_hour() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _t) = open(&config(dir.path()));
    fill(&s);
    s.flush().unwrap();
    assert_eq!(s.segments(Kind::Spans, T0, T0 + HOUR_NS).len(), 1);
    assert_eq!(s.segments(Kind::Spans, T0, T0 + 2 * HOUR_NS).len(), 2);
    assert_eq!(
        s.segments(Kind::Spans, T0 + 3 * HOUR_NS, T0 + 4 * HOUR_NS)
            .len(),
        0
    );
    // Newest first.
    let both = s.segments(Kind::Spans, T0, T0 + 2 * HOUR_NS);
    assert!(
        both[0]
            .to_string_lossy()
            .contains(&format!("{}-", T0 / HOUR_NS + 1))
    );
}

#[test]
fn openapi_describes_the_store_answers() {
    use crate::component::trace_sources::schema::check_schema;
    use crate::component::trace_sources::{OPENAPI, TraceSource};
    use crate::net::query::parse_query;

    let dir = tempfile::tempdir().unwrap();
    let (s, _t) = open(&config(dir.path()));
    fill(&s);
    super::events_tests::fill(&s);
    s.flush().unwrap();
    let spec: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    let schema = |path: &str, code: &str| {
        spec["paths"][path]["get"]["responses"][code]["content"]["application/json"]["schema"]
            .clone()
    };
    let (t0, t2) = (T0 / 1_000_000_000, T0 / 1_000_000_000 + 7200);
    let trace_cases = [
        ("/api/v1/traces", "/api/v1/traces".to_string(), "200"),
        (
            "/api/v1/traces",
            format!("/api/v1/traces?start={t0}&end={t2}&error=true"),
            "200",
        ),
        (
            "/api/v1/traces",
            "/api/v1/traces?error=maybe".to_string(),
            "400",
        ),
        (
            "/api/v1/traces/{trace_id}",
            format!("/api/v1/traces/{}", hex::encode([1u8; 16])),
            "200",
        ),
        (
            "/api/v1/traces/{trace_id}",
            format!("/api/v1/traces/{}", hex::encode([9u8; 16])),
            "404",
        ),
        (
            "/api/v1/traces/{trace_id}",
            "/api/v1/traces/xyz".to_string(),
            "400",
        ),
    ];
    for (path, uri, code) in trace_cases {
        let (p, q) = uri.split_once('?').unwrap_or((&uri, ""));
        let (status, body) = TraceSource::answer(&s, p, &parse_query(q));
        assert_eq!(status.as_str(), code, "{uri}: {body}");
        check_schema(&spec, &schema(path, code), &body, &uri).unwrap();
    }
    // The tree: the child under the root, with its log line.
    let (_, body) = TraceSource::answer(
        &s,
        &format!("/api/v1/traces/{}", hex::encode([1u8; 16])),
        &parse_query(""),
    );
    assert_eq!(body["spans"][0]["children"][0]["name"], "op2");
    let own_cases = [
        (
            "/api/v1/metrics/series",
            format!("/api/v1/metrics/series?name=cpu&start={t0}&end={t2}&step=1h"),
            "200",
        ),
        (
            "/api/v1/metrics/series",
            "/api/v1/metrics/series?start=1&end=2".to_string(),
            "400",
        ),
        (
            "/api/v1/services/red",
            format!("/api/v1/services/red?start={t0}&end={t2}"),
            "200",
        ),
        (
            "/api/v1/services/red",
            "/api/v1/services/red?start=5&end=1".to_string(),
            "400",
        ),
        (
            "/api/v1/services/red",
            format!("/api/v1/services/red?start={t0}&end={t2}&service=api&step=15m"),
            "200",
        ),
        (
            "/api/v1/services/red",
            format!("/api/v1/services/red?start={t0}&end={t2}&step=30s"),
            "400",
        ),
        (
            "/api/v1/services/red",
            format!("/api/v1/services/red?start={t0}&end={t2}&step=bogus"),
            "400",
        ),
        (
            "/api/v1/services/red",
            "/api/v1/services/red?start=0&end=999999999&step=1m".to_string(),
            "400",
        ),
        (
            "/api/v1/history/episodes",
            format!("/api/v1/history/episodes?start={t0}&end={t2}&limit=5"),
            "200",
        ),
        (
            "/api/v1/history/episodes",
            "/api/v1/history/episodes?limit=x".to_string(),
            "400",
        ),
        (
            "/api/v1/history/alerts",
            format!("/api/v1/history/alerts?start={t0}&end={t2}"),
            "200",
        ),
        (
            "/api/v1/history/alerts",
            "/api/v1/history/alerts?start=5&end=1".to_string(),
            "400",
        ),
    ];
    for (path, uri, code) in own_cases {
        let req = http::Request::get(&uri).body(bytes::Bytes::new()).unwrap();
        let response = super::api::answer(&s, &req);
        let status = response.status();
        let bytes =
            futures::executor::block_on(http_body_util::BodyExt::collect(response.into_body()))
                .unwrap()
                .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status.as_str(), code, "{uri}: {body}");
        check_schema(&spec, &schema(path, code), &body, &uri).unwrap();
        if code == "200" && path.starts_with("/api/v1/history/") {
            let list = body.get("episodes").or(body.get("alerts")).unwrap();
            assert_eq!(list.as_array().map(Vec::len), Some(2), "{uri}: {body}");
        }
    }
}

/// The RED answer of `uri` (a store route), as JSON.
fn red_answer(s: &Store, uri: &str) -> serde_json::Value {
    let req = http::Request::get(uri).body(bytes::Bytes::new()).unwrap();
    let response = super::api::answer(s, &req);
    assert_eq!(response.status(), http::StatusCode::OK, "{uri}");
    let bytes = futures::executor::block_on(http_body_util::BodyExt::collect(response.into_body()))
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn red_answers_per_operation_and_per_step_from_the_head_and_from_segments() {
    use super::query::RedQuery;

    let dir = tempfile::tempdir().unwrap();
    let (s, _t) = open(&config(dir.path()));
    // api: one trace at minute 5 and two at minute 20 (each a root op1, 120 ms, and an error
    // child op2, 80 ms); db: one at minute 20.
    s.append(Signal::Traces, &spans(1, "api", T0 + 5 * MINUTE_NS))
        .unwrap();
    s.append(Signal::Traces, &spans(2, "api", T0 + 20 * MINUTE_NS))
        .unwrap();
    s.append(Signal::Traces, &spans(4, "db", T0 + 20 * MINUTE_NS))
        .unwrap();
    // One flushed, one still in the head: both count.
    s.flush().unwrap();
    s.append(Signal::Traces, &spans(3, "api", T0 + 20 * MINUTE_NS + 1))
        .unwrap();
    let q = RedQuery {
        from: T0,
        to: T0 + HOUR_NS,
        service: Some("api".into()),
        step: Some(15 * MINUTE_NS),
    };
    let red = s.red_query(&q);
    assert_eq!(red.services.len(), 1, "only the asked service: {red:?}");
    let api = &red.services[0];
    assert_eq!((api.name.as_str(), api.count, api.errors), ("api", 6, 3));
    let steps: Vec<(i64, u64)> = api.points.iter().map(|p| (p.t, p.count)).collect();
    assert_eq!(steps, [(T0, 2), (T0 + 15 * MINUTE_NS, 4)], "per step");
    let ops: Vec<(&str, u64, u64)> = red
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.count, o.errors))
        .collect();
    assert_eq!(ops, [("op1", 3, 0), ("op2", 3, 3)], "per operation");
    // op1 lasts 120 ms, op2 80 ms: each operation's p95 is its own bucket's bound.
    assert!(red.operations[0].p95 > 120e6 && red.operations[0].p95 < 170e6);
    assert!(red.operations[1].p95 > 80e6 && red.operations[1].p95 < 120e6);
    assert_eq!(red.operations[0].points.len(), 2);
    // Without a service: every service, no operations, no points without a step.
    let all = s.red_query(&RedQuery {
        service: None,
        step: None,
        ..q.clone()
    });
    let names: Vec<&str> = all.services.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["api", "db"]);
    assert!(all.operations.is_empty() && all.services[0].points.is_empty());
    // An unknown service or a range without data answers empty.
    assert!(
        s.red_query(&RedQuery {
            service: Some("nobody".into()),
            ..q.clone()
        })
        .services
        .is_empty()
    );
    assert!(
        s.red_query(&RedQuery {
            from: T0 + 2 * HOUR_NS,
            to: T0 + 3 * HOUR_NS,
            ..q.clone()
        }) == super::query::RedAnswer {
            services: Vec::new(),
            operations: Vec::new()
        }
    );

    // Over HTTP: rates per second of each step (the last one cut by the range's end).
    let (t0, end) = (T0 / 1_000_000_000, T0 / 1_000_000_000 + 1500);
    let body = red_answer(
        &s,
        &format!("/api/v1/services/red?start={t0}&end={end}&service=api&step=15m"),
    );
    assert_eq!(body["service"], "api");
    assert_eq!(body["step"], 900.0);
    assert_eq!(body["services"][0]["count"], 6);
    let points = &body["services"][0]["points"];
    assert_eq!(points[0]["t"], t0 as f64);
    assert_eq!(points[0]["count"], 2);
    assert_eq!(points[0]["rate"], 2.0 / 900.0);
    assert_eq!(points[1]["rate"], 4.0 / 600.0, "the last step lasts 600 s");
    assert_eq!(points[1]["error_rate"], 0.5);
    assert_eq!(body["operations"][1]["operation"], "op2");
    assert_eq!(body["operations"][1]["error_rate"], 1.0);
    let plain = red_answer(&s, &format!("/api/v1/services/red?start={t0}&end={end}"));
    assert!(plain["services"][0].get("points").is_none(), "{plain}");
    assert_eq!(plain["operations"], serde_json::json!([]));
}

#[test]
fn an_hour_of_flushes_is_compacted_into_one_segment_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, _t) = open(&c);
    s.append(Signal::Traces, &spans(1, "api", T0 + MINUTE_NS))
        .unwrap();
    let pts: Vec<(i64, f64)> = (0..4).map(|i| (T0 + i * MINUTE_NS, i as f64)).collect();
    s.append(Signal::Metrics, &gauge("cpu", "h1", &pts[..2]))
        .unwrap();
    s.flush().unwrap();
    s.append(Signal::Traces, &spans(2, "api", T0 + 2 * MINUTE_NS))
        .unwrap();
    // The same minute and operations as trace 1, in another flush (a second later: search
    // order is by start).
    s.append(
        Signal::Traces,
        &spans(3, "api", T0 + MINUTE_NS + 1_000_000_000),
    )
    .unwrap();
    s.append(Signal::Metrics, &gauge("cpu", "h1", &pts[2..]))
        .unwrap();
    s.append(Signal::Logs, &log(1, T0 + 5 * MINUTE_NS, "boom"))
        .unwrap();
    let before = answers(&s);
    s.flush().unwrap();
    // The hour is long over: each kind holds one merged segment.
    for kind in [
        Kind::Spans,
        Kind::Red1m,
        Kind::Points,
        Kind::Metrics1m,
        Kind::Metrics1h,
    ] {
        let segs = s.segments(kind, T0, T0 + HOUR_NS);
        assert_eq!(segs.len(), 1, "{kind:?}: {segs:?}");
        assert!(
            segs[0].to_string_lossy().ends_with("-all.parquet"),
            "{segs:?}"
        );
    }
    assert_eq!(answers(&s), before);
    let red = s.red(T0, T0 + HOUR_NS);
    assert_eq!(
        (red[0].count, red[0].errors),
        (6, 3),
        "rollup rows merged, not doubled"
    );
    // The hour's rollup rows of the two flushes are one row in the merged segment.
    let h1 = s.segments(Kind::Metrics1h, T0, T0 + HOUR_NS);
    let all = Select {
        from: i64::MIN,
        to: i64::MAX,
        trace_id: None,
        footers: None,
    };
    let rows = segment::read_rollups(&h1[0], Kind::Metrics1h, &all, None).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].agg.count, rows[0].agg.sum), (4, 6.0));
    let red_rows = segment::read_red(&s.segments(Kind::Red1m, T0, T0 + HOUR_NS)[0], &all).unwrap();
    assert_eq!(
        red_rows.len(),
        4,
        "one row per operation and minute: {red_rows:?}"
    );
    assert_eq!(red_rows.iter().map(|r| r.count).sum::<u64>(), 6);

    // A compaction cut short after writing: its sources are still there at start-up.
    let merged = s.segments(Kind::Spans, T0, T0 + HOUR_NS)[0].clone();
    drop(s);
    let source = dir
        .path()
        .join("spans")
        .join(format!("{}-{:016x}.parquet", T0 / HOUR_NS, 1));
    std::fs::copy(&merged, &source).unwrap();
    let (s, _t) = open(&c);
    assert!(
        !source.exists(),
        "the merged source was deleted at start-up"
    );
    assert_eq!(answers(&s), before);
}

#[test]
fn compaction_keeps_spans_in_time_order_whether_flushes_arrived_in_order_or_not() {
    // In order: each flush's spans start after the previous flush's (written as they are).
    // Late: the second flush holds spans older than the first's (merged and sorted).
    for late in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (s, _t) = open(&config(dir.path()));
        let (first, second) = if late {
            (T0 + 30 * MINUTE_NS, T0 + MINUTE_NS)
        } else {
            (T0 + MINUTE_NS, T0 + 30 * MINUTE_NS)
        };
        s.append(Signal::Traces, &spans(1, "api", first)).unwrap();
        s.append(Signal::Traces, &spans(2, "api", first + 1_000))
            .unwrap();
        s.flush().unwrap();
        s.append(Signal::Traces, &spans(3, "api", second)).unwrap();
        s.append(Signal::Traces, &spans(4, "api", second + 1_000))
            .unwrap();
        s.flush().unwrap();
        let segs = s.segments(Kind::Spans, T0, T0 + HOUR_NS);
        assert_eq!(segs.len(), 1, "late {late}: {segs:?}");
        let all = Select {
            from: i64::MIN,
            to: i64::MAX,
            trace_id: None,
            footers: None,
        };
        let rows = segment::read_spans(&segs[0], &all).unwrap();
        let starts: Vec<i64> = rows.iter().map(|r| r.start).collect();
        assert_eq!(starts.len(), 8, "late {late}: every span kept once");
        assert!(
            starts.is_sorted(),
            "late {late}: the merged segment is sorted by start: {starts:?}"
        );
        let mut traces: Vec<u8> = rows.iter().map(|r| r.trace_id[0]).collect();
        traces.dedup();
        let want = if late { [3, 4, 1, 2] } else { [1, 2, 3, 4] };
        assert_eq!(traces, want, "late {late}");
    }
}

#[test]
fn a_data_directory_has_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, _t) = open(&c);
    fill(&s);
    let t = Telemetry::new();
    let err = Store::open(&c, StoreMetrics::new(&t, "second")).unwrap_err();
    assert!(
        matches!(err, super::db::StoreError::Lock(_)),
        "a second store on the directory is refused: {err}"
    );
    assert!(
        err.to_string().contains("is locked by another process"),
        "{err}"
    );
    // The first one's data was not touched (a second open would have replayed its log).
    assert_eq!(s.trace(&[1; 16]).len(), 2);
    drop(s);
    let (s, _t) = open(&c);
    assert_eq!(s.trace(&[1; 16]).len(), 2);
}
