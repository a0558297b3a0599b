//! Tests of the alert_rules processor: each part on the engine with an injected clock, and the
//! whole path (a real httpcheck receiver probing a local server that stops and comes back).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use lookout_proto::otlp::resource::v1::Resource;

use super::config::{AlertRulesConfig, default_rules};
use super::rule::{Condition, Rule, ValueKind};
use super::series::{Point, Series, quantile};
use super::{Engine, Metrics};
use crate::core::alert::{Alert, AlertSink};
use crate::core::otlp_build::{Num, Times, attr, gauge, sum};

// === helpers ===

#[derive(Debug, Default)]
struct TestSink(Mutex<Vec<Alert>>);

impl AlertSink for TestSink {
    fn send(&self, _source: &str, alert: Alert) {
        self.0.lock().unwrap().push(alert);
    }
}

impl TestSink {
    fn take(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn nanos(t: SystemTime) -> u64 {
    crate::core::otlp_build::unix_nanos(t)
}

fn config(yaml: &str) -> AlertRulesConfig {
    let mut c: AlertRulesConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.default_rules = false;
    c
}

fn engine(yaml: &str) -> Engine {
    Engine::new(&config(yaml), Metrics::default()).unwrap()
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn times(t: SystemTime) -> Times {
    Times {
        start: nanos(at(0)),
        now: nanos(t),
    }
}

/// One gauge point `value` of `metric` with `attrs` on host `host`, at `t`.
fn gauge_req(
    host: &str,
    metric: &str,
    attrs: &[(&str, &str)],
    value: f64,
    t: SystemTime,
) -> ExportMetricsServiceRequest {
    let attrs = attrs.iter().map(|(k, v)| attr(k, *v)).collect();
    request(
        vec![attr("host.name", host)],
        vec![gauge(
            metric,
            "",
            "1",
            times(t),
            vec![(attrs, Num::Double(value))],
        )],
    )
}

const FOR_RULE: &str = "
alerting: a
evaluation_interval: 1s
rules:
  - alert: TooHigh
    metric: m
    condition: '> 5'
    for: 10s
    keep_firing_for: 5s
    severity: critical
    labels: {team: infra}
    annotations: {summary: '{{ value }} above {{ threshold }} on {{ labels[\"host.name\"] }}'}
";

// === config and rules ===

#[test]
fn config_parses_the_brief_example_and_refuses_unknown_keys() {
    let c: AlertRulesConfig = serde_yaml_ng::from_str(include_str!("testdata/rules.yaml")).unwrap();
    crate::component::Validate::validate(&c).unwrap();
    assert_eq!(c.rules.len(), 2);
    let all = c.all_rules().unwrap();
    assert!(all.iter().any(|r| r.alert == "HttpCheckFailing"));
    assert!(all.iter().any(|r| r.alert == "HighCpu"));
    let bad = serde_yaml_ng::from_str::<AlertRulesConfig>(
        "alerting: a\nrules:\n  - {alert: X, metric: m, condition: '> 1', sevrity: x}\n",
    );
    assert!(bad.unwrap_err().to_string().contains("unknown field"));
    let c = config("alerting: a\nrules:\n  - {alert: X, metric: m, condition: '>> 1'}\n");
    let err = crate::component::Validate::validate(&c).unwrap_err();
    assert!(err.contains("rules[0] (X): condition"), "{err}");
    let c = config("rules: []\n");
    assert!(
        crate::component::Validate::validate(&c)
            .unwrap_err()
            .contains("alerting")
    );
}

#[test]
fn conditions_and_value_kinds_parse() {
    let c = Condition::parse(">= 1").unwrap();
    assert!(c.holds(1.0) && !c.holds(0.99));
    assert!(Condition::parse("!= 0").unwrap().holds(2.0));
    assert!(!Condition::parse("!= 0").unwrap().holds(f64::NAN));
    assert!(Condition::parse("<0.5").unwrap().holds(0.1));
    assert!(Condition::parse("== 3").unwrap().holds(3.0));
    assert!(Condition::parse("~ 3").is_err());
    let rule = |value: &str| {
        let c = config(&format!(
            "rules:\n  - {{alert: X, metric: m, condition: '> 1', value: '{value}'}}\n"
        ));
        Rule::compile(&c.rules[0]).map(|r| r.value)
    };
    assert_eq!(rule("p95").unwrap(), ValueKind::Quantile(0.95));
    assert_eq!(rule("rate").unwrap(), ValueKind::Rate);
    assert!(rule("p100").is_err() && rule("avg").is_err());
}

#[test]
fn default_rules_compile_and_read_metrics_lookout_produces() {
    use crate::receivers::hostmetrics::scrapers::{cpu, filesystem, load, memory};
    let produced: Vec<&str> = [
        cpu::METRICS,
        filesystem::METRICS,
        load::METRICS,
        memory::METRICS,
    ]
    .iter()
    .flat_map(|m| m.iter().map(|(n, _)| *n))
    .chain(["httpcheck.error", "httpcheck.status", "httpcheck.duration"])
    .collect();
    let rules = default_rules().unwrap();
    assert!(rules.len() >= 8);
    for r in &rules {
        Rule::compile(r).unwrap();
        assert!(
            produced.contains(&r.metric.as_str()),
            "{} reads {}",
            r.alert,
            r.metric
        );
    }
}

// === matchers ===

#[test]
fn matchers_test_resource_and_point_attributes() {
    let mut e = engine(
        "
alerting: a
rules:
  - alert: M
    metric: m
    match: {state: [idle, wait], host.name: '=~web-.*', mode: '!=ro', type: '!~tmp.*', absent: ''}
    condition: '> 0'
",
    );
    let t = at(0);
    e.apply(
        &gauge_req(
            "web-1",
            "m",
            &[("state", "idle"), ("mode", "rw"), ("type", "ext4")],
            1.0,
            t,
        ),
        t,
    );
    e.apply(&gauge_req("web-2", "m", &[("state", "wait")], 1.0, t), t);
    e.apply(&gauge_req("db-1", "m", &[("state", "idle")], 1.0, t), t);
    e.apply(&gauge_req("web-3", "m", &[("state", "user")], 1.0, t), t);
    e.apply(
        &gauge_req("web-4", "m", &[("state", "idle"), ("mode", "ro")], 1.0, t),
        t,
    );
    e.apply(
        &gauge_req(
            "web-5",
            "m",
            &[("state", "idle"), ("type", "tmpfs")],
            1.0,
            t,
        ),
        t,
    );
    e.apply(
        &gauge_req(
            "web-6",
            "m",
            &[("state", "idle"), ("absent", "here")],
            1.0,
            t,
        ),
        t,
    );
    let mut hosts: Vec<String> = e.rules[0]
        .series
        .values()
        .map(|s| s.labels["host.name"].clone())
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["web-1", "web-2"]);
}

// === aggregation ===

#[test]
fn aggregation_groups_by_labels() {
    let t = at(0);
    for (op, want) in [
        ("avg", 0.25),
        ("max", 0.4),
        ("min", 0.1),
        ("sum", 0.5),
        ("count", 2.0),
    ] {
        let mut e = engine(&format!(
            "alerting: a\nrules:\n  - {{alert: A, metric: cpu, aggregate: {{op: {op}, by: [host.name]}}, condition: '>= 0'}}\n"
        ));
        for (host, cpu, v) in [("a", "0", 0.1), ("a", "1", 0.4), ("b", "0", 0.9)] {
            e.apply(&gauge_req(host, "cpu", &[("cpu", cpu)], v, t), t);
        }
        let sink = TestSink::default();
        e.evaluate(t, &sink, "alert_rules");
        let alerts = sink.take();
        assert_eq!(alerts.len(), 2, "{op}");
        let a = alerts
            .iter()
            .find(|a| a.labels["host.name"] == "a")
            .unwrap();
        assert_eq!(a.evidence.figures[0], ("value".to_string(), want), "{op}");
        // Only the `by` labels, the rule's and the alert's own.
        let keys: Vec<&str> = a.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["alertname", "host.name", "severity"]);
    }
}

// === values: rate, delta, quantile ===

#[test]
fn rate_and_delta_are_reset_aware() {
    let mut s = Series::new(Default::default(), at(0));
    let cum = |t: u64, v: f64| Point::Number {
        time_ns: nanos(at(t)),
        start_ns: nanos(at(0)),
        value: v,
        cumulative: true,
        delta: false,
    };
    s.observe(cum(10, 100.0), ValueKind::Rate, at(10), None);
    assert_eq!(s.value, None, "a rate needs two points");
    s.observe(cum(20, 160.0), ValueKind::Rate, at(20), None);
    assert_eq!(s.value, Some(6.0));
    // The counter restarted: 30 since the reset, over 10 s.
    s.observe(cum(30, 30.0), ValueKind::Rate, at(30), None);
    assert_eq!(s.value, Some(3.0));
    s.observe(cum(40, 50.0), ValueKind::Delta, at(40), None);
    assert_eq!(s.value, Some(20.0));
    // A new start time after the previous point is a reset too, even if the value grew.
    s.observe(
        Point::Number {
            time_ns: nanos(at(50)),
            start_ns: nanos(at(45)),
            value: 70.0,
            cumulative: true,
            delta: false,
        },
        ValueKind::Delta,
        at(50),
        None,
    );
    assert_eq!(s.value, Some(70.0));
    // A delta point is its own increase, over its own interval.
    let mut d = Series::new(Default::default(), at(0));
    d.observe(
        Point::Number {
            time_ns: nanos(at(10)),
            start_ns: nanos(at(5)),
            value: 20.0,
            cumulative: false,
            delta: true,
        },
        ValueKind::Rate,
        at(10),
        None,
    );
    assert_eq!(d.value, Some(4.0));
}

#[test]
fn rate_rule_fires_on_a_cumulative_sum() {
    let mut e = engine(
        "alerting: a\nevaluation_interval: 1s\nrules:\n  - {alert: Errors, metric: errors, value: rate, condition: '> 1'}\n",
    );
    let sink = TestSink::default();
    for (t, v) in [(0, 0), (10, 5), (20, 30)] {
        let req = request(
            vec![],
            vec![sum(
                "errors",
                "",
                "1",
                true,
                times(at(t)),
                vec![(vec![], Num::Int(v))],
            )],
        );
        e.apply(&req, at(t));
        e.evaluate(at(t), &sink, "x");
    }
    let alerts = sink.take();
    assert_eq!(alerts.len(), 1, "0.5/s then 2.5/s: {alerts:?}");
    assert_eq!(alerts[0].evidence.figures[0].1, 2.5);
}

#[test]
fn quantile_interpolates_within_the_bucket() {
    // Buckets (-inf,10], (10,20], (20,40], (40,+inf): 10, 60, 20, 10.
    let bounds = [10.0, 20.0, 40.0];
    let counts = [10, 60, 20, 10];
    assert_eq!(
        quantile(0.5, &bounds, &counts),
        Some(10.0 + 10.0 * 40.0 / 60.0)
    );
    assert_eq!(quantile(0.1, &bounds, &counts), Some(10.0));
    assert_eq!(
        quantile(0.95, &bounds, &counts),
        Some(40.0),
        "overflow bucket reads as the top bound"
    );
    assert_eq!(quantile(0.5, &bounds, &[0, 0, 0, 0]), None);
    // Over the last interval of a cumulative histogram.
    let mut s = Series::new(Default::default(), at(0));
    let h = |counts: &'static [u64]| Point::Histogram {
        bounds: &[10.0, 20.0, 40.0],
        counts,
        cumulative: true,
    };
    s.observe(h(&[100, 0, 0, 0]), ValueKind::Quantile(0.5), at(1), None);
    assert_eq!(s.value, Some(5.0));
    s.observe(h(&[100, 0, 10, 0]), ValueKind::Quantile(0.5), at(2), None);
    assert_eq!(s.value, Some(30.0));
}

// === states: for, keep_firing_for, stale ===

#[test]
fn for_then_keep_firing_for_then_resolved_once() {
    let mut e = engine(FOR_RULE);
    let sink = TestSink::default();
    let step = |e: &mut Engine, t: u64, v: f64| {
        e.apply(&gauge_req("h1", "m", &[], v, at(t)), at(t));
        e.evaluate(at(t), &sink, "alert_rules");
        sink.take()
    };
    assert!(step(&mut e, 0, 6.0).is_empty(), "pending");
    assert!(step(&mut e, 5, 7.0).is_empty(), "still pending");
    let fired = step(&mut e, 10, 8.0);
    assert_eq!(fired.len(), 1);
    let a = &fired[0];
    assert_eq!(a.name(), "TooHigh");
    assert_eq!(a.starts_at, at(0));
    assert!(a.ends_at.is_none());
    assert_eq!(a.labels["severity"], "critical");
    assert_eq!(a.labels["team"], "infra");
    assert_eq!(a.labels["host.name"], "h1");
    assert_eq!(a.annotations["summary"], "8.0 above 5.0 on h1");
    assert_eq!(
        a.evidence.figures,
        vec![("value".into(), 8.0), ("threshold".into(), 5.0)]
    );
    let values: Vec<f64> = a.evidence.values.iter().map(|v| v.1).collect();
    assert_eq!(values, [6.0, 7.0, 8.0], "the for: window's values");
    assert_eq!(step(&mut e, 11, 9.0).len(), 1, "re-sent while firing");
    // Condition false: keeps firing for 5 s after it last held (11).
    assert!(step(&mut e, 12, 1.0)[0].ends_at.is_none());
    assert!(step(&mut e, 15, 1.0)[0].ends_at.is_none());
    let resolved = step(&mut e, 16, 1.0);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].ends_at, Some(at(16)));
    assert!(step(&mut e, 17, 1.0).is_empty(), "resolved is sent once");
    // A pending alert whose condition stops holding is never sent.
    assert!(step(&mut e, 18, 6.0).is_empty());
    assert!(step(&mut e, 19, 1.0).is_empty());
    assert!(
        step(&mut e, 30, 6.0).is_empty(),
        "pending starts over at 30"
    );
}

#[test]
fn a_series_that_stops_reporting_resolves() {
    let mut e = engine(
        "alerting: a\nevaluation_interval: 1s\nstale_after: 5s\nrules:\n  - {alert: Up, metric: m, condition: '> 0'}\n",
    );
    let sink = TestSink::default();
    for t in 0..3 {
        e.apply(&gauge_req("h", "m", &[], 1.0, at(t)), at(t));
        e.evaluate(at(t), &sink, "x");
    }
    assert_eq!(sink.take().len(), 3);
    e.evaluate(at(7), &sink, "x");
    assert!(
        sink.take()[0].ends_at.is_none(),
        "silent for 5 s: not stale yet"
    );
    e.evaluate(at(8), &sink, "x");
    let alerts = sink.take();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].ends_at, Some(at(8)));
    assert!(e.rules[0].series.is_empty());
}

#[test]
fn stale_after_stretches_to_the_series_own_interval() {
    let mut s = Series::new(Default::default(), at(0));
    let p = Point::Number {
        time_ns: 0,
        start_ns: 0,
        value: 1.0,
        cumulative: false,
        delta: false,
    };
    s.observe(p, ValueKind::Gauge, at(60), None);
    assert!(
        !s.is_stale(at(140), Duration::from_secs(25)),
        "reports every 60 s"
    );
    assert!(s.is_stale(at(211), Duration::from_secs(25)));
}

// === predict_linear ===

fn filesystem_fill(horizon: &str) -> Vec<Alert> {
    let mut e = engine(&format!(
        "
alerting: a
evaluation_interval: 1s
stale_after: 5m
rules:
  - alert: FilesystemFullIn
    metric: system.filesystem.utilization
    predict_linear: {{window: 1h, horizon: {horizon}}}
    condition: '>= 1'
"
    ));
    let sink = TestSink::default();
    // A linear fill from 0.6 an hour ago to 0.7 now: 0.1/h, so full (1.0) in 3 h.
    for minute in 0..=60u64 {
        let t = at(minute * 60);
        let v = 0.6 + 0.1 * minute as f64 / 60.0;
        e.apply(
            &gauge_req(
                "h",
                "system.filesystem.utilization",
                &[("mountpoint", "/")],
                v,
                t,
            ),
            t,
        );
        e.evaluate(t, &sink, "x");
    }
    sink.take()
        .into_iter()
        .filter(|a| a.ends_at.is_none())
        .collect()
}

#[test]
fn predict_linear_fires_when_the_trend_crosses_within_the_horizon() {
    let fired = filesystem_fill("4h");
    let last = fired.last().expect("fills within 4 h: fires");
    assert_eq!(last.labels["mountpoint"], "/");
    let predicted = last.evidence.figures[0].1;
    assert!(
        (predicted - 1.1).abs() < 1e-6,
        "0.7 + 4 × 0.1 = {predicted}"
    );
    assert!(
        filesystem_fill("2h").is_empty(),
        "0.9 in 2 h: does not fire"
    );
    // Too few samples predict nothing.
    let s = Series::new(Default::default(), at(0));
    assert_eq!(
        s.predict(at(0), Duration::from_secs(60), Duration::from_secs(60), 5),
        None
    );
}

// === bound ===

#[test]
fn series_beyond_max_series_are_dropped_and_counted() {
    let metrics = Metrics::default();
    let mut c =
        config("alerting: a\nmax_series: 2\nrules:\n  - {alert: B, metric: m, condition: '> 0'}\n");
    c.max_series = 2;
    let mut e = Engine::new(&c, metrics.clone()).unwrap();
    for host in ["a", "b", "c", "d"] {
        e.apply(&gauge_req(host, "m", &[], 1.0, at(0)), at(0));
    }
    // Known series still update.
    e.apply(&gauge_req("a", "m", &[], 2.0, at(1)), at(1));
    assert_eq!(e.rules[0].series.len(), 2);
    assert_eq!(metrics.dropped.get(), 2);
    let sink = TestSink::default();
    e.evaluate(at(1), &sink, "x");
    assert_eq!(metrics.series.get(), 2);
    assert_eq!(metrics.firing.get(), 2);
    assert_eq!(metrics.evaluations.get(), 1);
}

// === the whole path ===

/// A server answering 200 and closing each connection (so no kept-alive connection outlives
/// it when it stops).
async fn health_server(listener: tokio::net::TcpListener) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let mut buf = [0u8; 2048];
        let _ = sock.read(&mut buf).await;
        let _ = sock
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await;
    }
}

fn collected(id: &str) -> Vec<Alert> {
    use crate::component::test_components::alert_sink::REGISTRY;
    let registry = REGISTRY.lock().unwrap();
    registry
        .iter()
        .filter(|(i, _)| i == id)
        .flat_map(|(_, c)| {
            c.alerts
                .lock()
                .unwrap()
                .iter()
                .map(|(_, a)| a.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn wait_for(id: &str, what: impl Fn(&Alert) -> bool, limit: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if collected(id).iter().any(&what) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_failing_fires_when_the_server_stops_and_resolves_when_it_is_back() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(health_server(listener));
    let url = format!("http://{addr}/health");
    let yaml = format!(
        "
receivers:
  httpcheck:
    collection_interval: 500ms
    initial_delay: 0s
    timeout: 1s
    targets:
      - endpoint: {url}
processors:
  alert_rules:
    alerting: test_alert_sink/httpcheck
    evaluation_interval: 500ms
exporters:
  test_memory/alert_rules:
extensions:
  test_alert_sink/httpcheck:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  extensions: [test_alert_sink/httpcheck]
  pipelines:
    metrics:
      receivers: [httpcheck]
      processors: [alert_rules]
      exporters: [test_memory/alert_rules]
"
    );
    let config = crate::config::Config::parse("test.yaml", &yaml).unwrap();
    let service = crate::service::Service::start(config).await.unwrap();
    let sink = "test_alert_sink/httpcheck";
    let failing = |a: &Alert| a.name() == "HttpCheckFailing";

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(collected(sink).is_empty(), "healthy: no alert");

    server.abort();
    let _ = server.await;
    let fired = wait_for(
        sink,
        |a| failing(a) && a.ends_at.is_none(),
        Duration::from_secs(8),
    )
    .await
    .expect("HttpCheckFailing fires");
    eprintln!("HttpCheckFailing fired {fired:?} after the server stopped");
    assert!(fired >= Duration::from_secs(3), "for: 3s holds ({fired:?})");
    assert!(
        fired < Duration::from_millis(5500),
        "fires within ~3-4 s ({fired:?})"
    );
    let alert = collected(sink).into_iter().find(|a| failing(a)).unwrap();
    assert_eq!(alert.labels["http.url"], url);
    assert_eq!(alert.labels["severity"], "critical");
    assert!(alert.annotations["summary"].contains(&url));
    assert!(!alert.evidence.values.is_empty());

    // Back on the same port: the errors stop, the series goes stale, the alert resolves.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = tokio::spawn(health_server(listener));
    let resolved = wait_for(
        sink,
        |a| failing(a) && a.ends_at.is_some(),
        Duration::from_secs(10),
    )
    .await
    .expect("HttpCheckFailing resolves");
    eprintln!("HttpCheckFailing resolved {resolved:?} after the server came back");
    assert!(service.shutdown(Duration::from_secs(5)).await);
    server.abort();

    // The data passed through unchanged to the exporter.
    let exporters = crate::component::test_components::memory_exporter::REGISTRY
        .lock()
        .unwrap();
    let batches: usize = exporters
        .iter()
        .filter(|(e, _)| e == "test_memory/alert_rules")
        .map(|(_, r)| r.batches.lock().unwrap().len())
        .sum();
    assert!(batches >= 8, "{batches} batches passed through");
}

#[test]
fn testdata_config_loads_and_a_missing_extension_is_named() {
    let text = include_str!("testdata/config.yaml");
    crate::config::Config::parse("testdata/config.yaml", text).unwrap();
    let without = text.replace("  extensions: [health_check]\n", "");
    let err = crate::config::Config::parse("testdata/config.yaml", &without)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("alerting: extension health_check is not enabled"),
        "{err}"
    );
}

#[test]
fn the_wire_path_decodes_only_watched_metrics_and_keeps_resource_attributes() {
    use prost::Message;
    let mut e = engine("alerting: a\nrules:\n  - {alert: W, metric: watched, condition: '> 0'}\n");
    let t = at(0);
    let mut req = gauge_req("h1", "watched", &[("k", "v")], 1.0, t);
    let other = gauge("other", "", "1", times(t), vec![(vec![], Num::Double(1.0))]);
    req.resource_metrics[0].scope_metrics[0]
        .metrics
        .insert(0, other);
    req.resource_metrics[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(crate::core::otlp_build::attr_int("process.pid", 42));
    let w = Engine::extract(&e.watched(), &req.encode_to_vec()).unwrap();
    assert!(!w.is_empty());
    e.apply_watched(&w, t);
    let series: Vec<_> = e.rules[0].series.values().collect();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels["host.name"], "h1");
    assert_eq!(series[0].labels["process.pid"], "42");
    assert_eq!(series[0].labels["k"], "v");
    // The same series as the decoded path (same key).
    e.apply(&req, at(1));
    assert_eq!(e.rules[0].series.len(), 1);
    let unwatched = gauge_req("h1", "other", &[], 1.0, t);
    assert!(
        Engine::extract(&e.watched(), &unwatched.encode_to_vec())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_absent_rule_fires_when_a_remembered_group_stops_reporting() {
    let mut e = engine(
        "
alerting: a
evaluation_interval: 1s
stale_after: 3s
rules:
  - alert: ProcessGone
    metric: process.memory.usage
    match: {process.executable.name: [nginx, postgres]}
    aggregate: {op: count, by: [host.name, process.executable.name]}
    absent: true
    condition: '== 1'
    for: 2s
",
    );
    let sink = TestSink::default();
    let report = |e: &mut Engine, t: u64, names: &[&str]| {
        for n in names {
            e.apply(
                &gauge_req(
                    "h1",
                    "process.memory.usage",
                    &[("process.executable.name", n)],
                    1e6,
                    at(t),
                ),
                at(t),
            );
        }
        e.evaluate(at(t), &sink, "x");
        sink.take()
    };
    for t in 0..3 {
        assert!(report(&mut e, t, &["nginx", "postgres", "bash"]).is_empty());
    }
    // nginx exits at 3: stale after 3 s (at 6), then `for: 2s`.
    for t in 3..8 {
        assert!(report(&mut e, t, &["postgres"]).is_empty(), "at {t}");
    }
    let fired = report(&mut e, 8, &["postgres"]);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].labels["process.executable.name"], "nginx");
    assert_eq!(fired[0].labels["host.name"], "h1");
    // Back: resolved.
    let back = report(&mut e, 9, &["postgres", "nginx"]);
    assert_eq!(back.len(), 1);
    assert!(back[0].ends_at.is_some());
    assert!(report(&mut e, 10, &["postgres", "nginx"]).is_empty());
}
