//! The report over a store filled with a known synthetic history through the store's own
//! write path: 10 services with a daily-seasonal request rate, one error-prone service, one
//! slow operation, a filesystem filling linearly, two latency episodes and an alert.

use std::collections::BTreeMap;

use prost::Message;

use super::{Format, build, render};
use crate::core::Signal;
use crate::core::recent::AlertRecord;
use crate::exporters::store::{HOUR_NS, Store, StoreConfig, alert_request};
use lookout_proto::otlp::collector::{logs, metrics, trace};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// The end of the history: 2026-12-06 10:00 UTC.
const END: i64 = 1_796_551_200 * 1_000_000_000;
const DAY: i64 = 24 * HOUR_NS;
const MS: i64 = 1_000_000;
/// The filesystem: 40 % full 7 days before `END`, +5 points a day: full 5 days after `END`.
const FILL_START: f64 = 0.40;
const FILL_PER_DAY: f64 = 0.05;
/// Its noise: uniform in ±1 point.
const FILL_NOISE: f64 = 0.01;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", s(service))],
        ..Default::default()
    })
}

/// Deterministic noise in [-1, 1).
fn noise(i: u64) -> f64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % 2_000_001) as f64 / 1_000_000.0 - 1.0
}

/// Spans per service in hour `h` (hours before `END`, counted from 72): a daily wave.
fn per_hour(service: usize, h: i64) -> usize {
    let phase = 2.0 * std::f64::consts::PI * (h as f64) / 24.0;
    ((10 + 2 * service) as f64 * (1.0 + 0.5 * phase.sin())).round() as usize
}

struct Written {
    /// (service, hour start, count, errors) of everything written.
    spans: Vec<(usize, i64, usize, usize)>,
    /// `slow` spans of svc9 between `EPISODE_A` bounds.
    slow_in_a: u64,
}

const EPISODE_A: (i64, i64) = (END - 10 * HOUR_NS, END - 8 * HOUR_NS);
const EPISODE_B: (i64, i64) = (END - 20 * HOUR_NS, END - 2 * HOUR_NS);

fn spans_request(service: usize, hour: i64, n: usize) -> (Vec<u8>, usize, u64) {
    let mut spans = Vec::new();
    let mut errors = 0;
    let mut slow_in_a = 0;
    for k in 0..n {
        let start = hour + k as i64 * 1_000_000_000;
        // svc9's every fourth span is the slow operation (500 ms); others last (i+1)·10 ms.
        let slow = service == 9 && k % 4 == 0;
        let dur = if slow { 500 } else { (service as i64 + 1) * 10 } * MS;
        // svc3 fails one span in ten.
        let error = service == 3 && k % 10 == 0;
        errors += usize::from(error);
        if slow && start >= EPISODE_A.0 && start < EPISODE_A.1 {
            slow_in_a += 1;
        }
        let mut tid = [0u8; 16];
        tid[..8].copy_from_slice(&(start as u64).to_be_bytes());
        tid[8] = service as u8;
        spans.push(Span {
            trace_id: tid.to_vec(),
            span_id: vec![1; 8],
            name: if slow { "slow".into() } else { "handle".into() },
            kind: 2,
            start_time_unix_nano: start as u64,
            end_time_unix_nano: (start + dur) as u64,
            status: Some(Status {
                code: if error { 2 } else { 0 },
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let body = trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(&format!("svc{service}")),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    (body, errors, slow_in_a)
}

fn gauge(name: &str, attrs: Vec<KeyValue>, points: &[(i64, f64)]) -> Vec<u8> {
    metrics::v1::ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host.name", s("h1"))],
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
                                attributes: attrs.clone(),
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

fn logs_request(service: &str, records: Vec<LogRecord>) -> Vec<u8> {
    logs::v1::ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn error_log(ts: i64, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: ts as u64,
        severity_number: 17,
        severity_text: "ERROR".into(),
        trace_id: vec![7; 16],
        body: Some(AnyValue {
            value: Some(s(body)),
        }),
        ..Default::default()
    }
}

/// An episode record as the `latency_anomaly` connector writes it.
fn episode(ts: i64, service: &str, op: &str, status: &str, baseline_ms: f64) -> LogRecord {
    LogRecord {
        time_unix_nano: ts as u64,
        severity_number: 13,
        event_name: crate::processors::latency_anomaly::event_log::EVENT_NAME.into(),
        body: Some(AnyValue {
            value: Some(s(&format!("{service} {op} slower than {baseline_ms} ms"))),
        }),
        attributes: vec![
            kv("service.name", s(service)),
            kv("span.name", s(op)),
            kv(lookout_anomaly::ATTR_KIND, s("shift")),
            kv("lookout.latency.status", s(status)),
            kv(
                lookout_anomaly::ATTR_BASELINE_MS,
                any_value::Value::DoubleValue(baseline_ms),
            ),
            kv(
                "lookout.latency.max_ratio",
                any_value::Value::DoubleValue(5.0),
            ),
        ],
        ..Default::default()
    }
}

fn fill(t: i64) -> f64 {
    FILL_START + FILL_PER_DAY * (t - (END - 7 * DAY)) as f64 / DAY as f64
}

fn write_history(store: &Store) -> Written {
    let mut written = Written {
        spans: Vec::new(),
        slow_in_a: 0,
    };
    for h in 0..72 {
        let hour = END - (72 - h) * HOUR_NS;
        for service in 0..10 {
            let n = per_hour(service, h);
            let (body, errors, slow) = spans_request(service, hour, n);
            store.append(Signal::Traces, &body).unwrap();
            written.spans.push((service, hour, n, errors));
            written.slow_in_a += slow;
        }
    }
    // Host metrics every 10 minutes over 7 days.
    let mut fs = Vec::new();
    let mut root = Vec::new();
    let mut mem = Vec::new();
    let mut idle = Vec::new();
    let mut t = END - 7 * DAY;
    let mut i = 0u64;
    while t < END {
        fs.push((t, fill(t) + FILL_NOISE * noise(i)));
        root.push((t, 0.30));
        mem.push((t, 0.50 + 0.01 * noise(i + 1_000_000)));
        idle.push((t, 0.75));
        t += 10 * 60 * 1_000_000_000;
        i += 1;
    }
    let mount = |m: &str| vec![kv("mountpoint", s(m)), kv("device", s("sda1"))];
    for (name, attrs, pts) in [
        ("system.filesystem.utilization", mount("/data"), &fs),
        ("system.filesystem.utilization", mount("/"), &root),
        (
            "system.memory.utilization",
            vec![kv("state", s("used"))],
            &mem,
        ),
        (
            "system.cpu.utilization",
            vec![kv("state", s("idle")), kv("cpu", s("cpu0"))],
            &idle,
        ),
    ] {
        for chunk in pts.chunks(500) {
            store
                .append(Signal::Metrics, &gauge(name, attrs.clone(), chunk))
                .unwrap();
        }
    }
    // Error logs: svc3 fails payments (ids differ, one message), svc1 times out.
    let payments: Vec<LogRecord> = (0..30)
        .map(|k| {
            error_log(
                END - 3 * HOUR_NS + k * MS * 1000,
                &format!("payment {k} failed for order {}", 1000 + k),
            )
        })
        .collect();
    store
        .append(Signal::Logs, &logs_request("svc3", payments))
        .unwrap();
    let timeouts: Vec<LogRecord> = (0..5)
        .map(|k| error_log(END - 2 * HOUR_NS + k, "upstream timeout"))
        .collect();
    store
        .append(Signal::Logs, &logs_request("svc1", timeouts))
        .unwrap();
    // Episode A: svc9 `slow` at 500 ms against a 100 ms baseline; B: svc0 `handle` at 10 ms
    // against 9 ms (more requests, far less added time).
    let episodes = vec![
        episode(EPISODE_A.0, "svc9", "slow", "firing", 100.0),
        episode(EPISODE_A.1, "svc9", "slow", "resolved", 100.0),
        episode(EPISODE_B.0, "svc0", "handle", "firing", 9.0),
        episode(EPISODE_B.1, "svc0", "handle", "resolved", 9.0),
    ];
    store
        .append(Signal::Logs, &logs_request("lookout", episodes))
        .unwrap();
    let alert = AlertRecord {
        fingerprint: "f1".into(),
        state: "firing",
        labels: BTreeMap::from([("alertname".to_string(), "FilesystemFillingUp".to_string())]),
        annotations: BTreeMap::from([("summary".to_string(), "/data fills in 5 days".to_string())]),
        starts_at_ms: ((END - HOUR_NS) / MS) as u64,
        ends_at_ms: None,
        updated_at_ms: ((END - HOUR_NS) / MS) as u64,
        notifiers: vec![],
        trace_ids: vec![],
    };
    let req = alert_request(&alert, ((END - HOUR_NS) / MS) as u64).encode_to_vec();
    store.append(Signal::Logs, &req).unwrap();
    written
}

fn open_filled() -> (tempfile::TempDir, Store, Written) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig {
        directory: dir.path().to_path_buf(),
        ..StoreConfig::default()
    };
    config.retention.max_age = None;
    let telemetry = crate::telemetry::Telemetry::new();
    let store = Store::open(
        &config,
        crate::exporters::store::StoreMetrics::new(&telemetry, "store"),
    )
    .unwrap();
    let written = write_history(&store);
    // Most of it in segments, as a day of history would be.
    store.flush_at(END).unwrap();
    (dir, store, written)
}

#[test]
fn a_report_over_a_known_history_is_right() {
    let (dir, writer, written) = open_filled();
    // Read as `lookout report` does: read-only, beside the writer.
    let store = Store::open_read_only(dir.path()).unwrap();
    let from = END - DAY;
    let report = build(&store, from, END);

    // RED: counts, error rate, busiest first, the slow operation first in svc9.
    assert_eq!(report.services.len(), 10);
    for svc in &report.services {
        let i: usize = svc.service.trim_start_matches("svc").parse().unwrap();
        let (n, e) = written
            .spans
            .iter()
            .filter(|w| w.0 == i && w.1 >= from)
            .fold((0, 0), |(n, e), w| (n + w.2, e + w.3));
        assert_eq!(svc.requests as usize, n, "{}", svc.service);
        assert_eq!(svc.errors as usize, e, "{}", svc.service);
        assert!((svc.rate_per_s - n as f64 / 86_400.0).abs() < 1e-9);
        assert!((svc.error_rate - e as f64 / n as f64).abs() < 1e-12);
    }
    assert_eq!(report.services[0].service, "svc9");
    let svc3 = report
        .services
        .iter()
        .find(|s| s.service == "svc3")
        .unwrap();
    assert!(svc3.error_rate > 0.1, "{}", svc3.error_rate);
    let svc9 = &report.services[0];
    assert_eq!(svc9.slowest_operations[0].operation, "slow");
    assert!((svc9.slowest_operations[0].mean_ms - 500.0).abs() < 1e-6);

    // Episodes ranked by added time: A (400 ms × its requests) before B.
    assert_eq!(report.episodes.len(), 2, "{:?}", report.episodes);
    let a = &report.episodes[0];
    assert_eq!(
        (a.rank, a.service.as_str(), a.operation.as_str()),
        (1, "svc9", "slow")
    );
    assert_eq!(a.requests, written.slow_in_a);
    assert!(
        (a.extra_latency_s - 0.4 * written.slow_in_a as f64).abs() < 1e-6,
        "{a:?}"
    );
    let b = &report.episodes[1];
    assert_eq!(b.service, "svc0");
    assert!(
        b.requests > a.requests && b.extra_latency_s < a.extra_latency_s,
        "{b:?}"
    );
    assert!(
        (b.extra_latency_s - 0.001 * b.requests as f64).abs() < 1e-6,
        "{b:?}"
    );

    // Error-log hot spots: the 30 payment failures fold into one message.
    assert_eq!(report.error_logs[0].service, "svc3");
    assert_eq!(report.error_logs[0].count, 30);
    assert_eq!(report.error_logs[0].message, "payment # failed for order #");
    assert_eq!(report.error_logs[1].count, 5);

    // Host: CPU busy 25 %, /data between its fill at the range's ends.
    let host = |m: &str, sub: &str| {
        report
            .host
            .iter()
            .find(|f| f.metric == m && f.subject == sub)
            .unwrap()
            .clone()
    };
    assert!((host("cpu", "").avg - 0.25).abs() < 1e-9);
    let data = host("filesystem", "/data");
    assert!(
        (data.avg - (fill(from) + fill(END)) / 2.0).abs() < 0.01,
        "{data:?}"
    );
    assert_eq!(report.alerts.len(), 1);
    assert_eq!(report.alerts[0].alertname, "FilesystemFillingUp");

    // The linear fill: full 5 days after the end, within the stated bound, and that bound
    // is the backtest's error (about half the noise amplitude), not a guess.
    let fc = report
        .forecasts
        .iter()
        .find(|f| f.metric == "filesystem" && f.subject == "/data")
        .unwrap();
    assert_eq!(fc.method, "theil-sen");
    let bt = fc.backtest.unwrap();
    // Hourly means of 6 points with uniform noise of ±a: σ = a/√3/√6, and the mean absolute
    // error of a normal error is σ·√(2/π) ≈ 0.00188 here.
    let expected = FILL_NOISE / 3f64.sqrt() / 6f64.sqrt() * (2.0 / std::f64::consts::PI).sqrt();
    assert!(
        (bt.mae - expected).abs() < 0.35 * expected,
        "{bt:?} vs {expected}"
    );
    let c = fc.limit.as_ref().unwrap();
    let truth = (1.0 - fill(END)) / FILL_PER_DAY;
    assert!((truth - 5.0).abs() < 1e-9);
    assert!(
        c.days_low <= truth && truth <= c.days_high.unwrap(),
        "{c:?} vs {truth}"
    );
    assert!((c.days - truth).abs() < 0.25, "{c:?}");
    assert!(c.days_high.unwrap() - c.days_low < 1.0, "{c:?}");
    // The flat filesystem never fills.
    let root = report.forecasts.iter().find(|f| f.subject == "/").unwrap();
    assert!(root.limit.is_none());
    // The daily wave of requests: Holt-Winters beats a line on the held-out day.
    let rate = report
        .forecasts
        .iter()
        .find(|f| f.metric == "request_rate")
        .unwrap();
    assert_eq!(rate.method, "holt-winters-daily", "{rate:?}");
    assert!(rate.backtest.unwrap().mape.unwrap() < 5.0, "{rate:?}");
    assert!(
        report
            .forecasts
            .iter()
            .any(|f| f.metric == "p95_latency" && f.subject == "svc9")
    );

    // The formats: JSON parses with the documented fields, HTML is self-contained.
    let json: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
    for key in [
        "services",
        "episodes",
        "error_logs",
        "host",
        "alerts",
        "forecasts",
        "from_ms",
        "to_ms",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let html = render(&report, Format::Html);
    assert!(html.contains("svc9") && html.contains("theil-sen"));
    assert!(!html.contains("src=") && !html.contains("href=\"http"));
    let csv = render(&report, Format::Csv);
    assert!(csv.contains("# forecasts\n") && csv.contains("\nsvc9,"));
    drop(writer);
}

#[test]
fn a_short_history_is_said_not_forecast() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig {
        directory: dir.path().to_path_buf(),
        ..StoreConfig::default()
    };
    config.retention.max_age = None;
    let telemetry = crate::telemetry::Telemetry::new();
    let store = Store::open(
        &config,
        crate::exporters::store::StoreMetrics::new(&telemetry, "s"),
    )
    .unwrap();
    let pts: Vec<(i64, f64)> = (0..5)
        .map(|h| (END - (5 - h) * HOUR_NS, 0.5 + 0.01 * h as f64))
        .collect();
    let attrs = vec![kv("mountpoint", s("/x"))];
    store
        .append(
            Signal::Metrics,
            &gauge("system.filesystem.utilization", attrs, &pts),
        )
        .unwrap();
    let report = build(&store, END - DAY, END);
    let fc = &report.forecasts[0];
    assert_eq!(fc.method, "none");
    assert!(fc.limit.is_none() && fc.in_7_days.is_none());
    assert!(fc.note.contains("history too short"), "{}", fc.note);
}

/// The cost of a report (ignored; run in release):
/// `cargo test -p lookout-collector --release --lib report_cost -- --ignored --nocapture`.
/// `REPORT_BENCH_DAYS` (default 7) days of 10 services, `REPORT_BENCH_SPANS` (default 20)
/// spans per service and minute in two operations, 2 filesystems, memory and CPU every 10 s,
/// written through `Store::append` with a flush per simulated hour; then the store is opened
/// read-only (as `lookout report` does) and the reports of the last 24 h and 7 days are built
/// and rendered, three times each (the median is printed).
#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn report_cost() {
    use std::time::Instant;
    let env = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (days, per_min) = (env("REPORT_BENCH_DAYS", 7), env("REPORT_BENCH_SPANS", 20));
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig {
        directory: dir.path().to_path_buf(),
        ..StoreConfig::default()
    };
    config.retention.max_age = None;
    config.retention.max_bytes = None;
    config.fsync = crate::exporters::store::FsyncPolicy::Never;
    let telemetry = crate::telemetry::Telemetry::new();
    let store = Store::open(
        &config,
        crate::exporters::store::StoreMetrics::new(&telemetry, "store"),
    )
    .unwrap();
    let start = END - days * DAY;
    let (mut spans, mut points) = (0u64, 0u64);
    let written = Instant::now();
    for hour in 0..days * 24 {
        let h0 = start + hour * HOUR_NS;
        for minute in 0..60 {
            let m0 = h0 + minute * 60 * 1_000_000_000;
            for service in 0..10 {
                let (body, _, _) = spans_request(service, m0, per_min as usize);
                store.append(Signal::Traces, &body).unwrap();
                spans += per_min as u64;
            }
        }
        let step = 10 * 1_000_000_000;
        let pts = |f: &dyn Fn(i64) -> f64| -> Vec<(i64, f64)> {
            (0..360)
                .map(|k| (h0 + k * step, f(h0 + k * step)))
                .collect()
        };
        let mount = |m: &str| vec![kv("mountpoint", s(m))];
        store
            .append(
                Signal::Metrics,
                &gauge("system.filesystem.utilization", mount("/data"), &pts(&fill)),
            )
            .unwrap();
        store
            .append(
                Signal::Metrics,
                &gauge("system.filesystem.utilization", mount("/"), &pts(&|_| 0.3)),
            )
            .unwrap();
        store
            .append(
                Signal::Metrics,
                &gauge(
                    "system.memory.utilization",
                    vec![kv("state", s("used"))],
                    &pts(&|_| 0.5),
                ),
            )
            .unwrap();
        store
            .append(
                Signal::Metrics,
                &gauge(
                    "system.cpu.utilization",
                    vec![kv("state", s("idle"))],
                    &pts(&|_| 0.7),
                ),
            )
            .unwrap();
        points += 4 * 360;
        store.flush_at(h0 + HOUR_NS).unwrap();
    }
    eprintln!(
        "report_cost: wrote {spans} spans and {points} points over {days} days in {:.1} s",
        written.elapsed().as_secs_f64()
    );
    drop(store);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let opened = Instant::now();
    let reader = Store::open_read_only(dir.path()).unwrap();
    eprintln!(
        "report_cost: open read-only {:.1} ms",
        opened.elapsed().as_secs_f64() * 1e3
    );
    for (name, range) in [("24h", DAY), ("7d", 7 * DAY)] {
        let mut build_ms = Vec::new();
        let mut html_ms = Vec::new();
        let mut size = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let report = build(&reader, END - range, END);
            build_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            size = render(&report, Format::Html).len();
            html_ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(report.services.len(), 10);
        }
        eprintln!(
            "report_cost: report {name}: build {:.0} ms (median of 3), html {:.1} ms, {size} bytes",
            median(build_ms),
            median(html_ms)
        );
    }
}
