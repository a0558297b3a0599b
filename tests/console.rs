//! Whole process: the web console on the admin listener, in a real browser. Lookout runs with
//! `correlate` on a traces and a logs pipeline; the OpenTelemetry Python SDK sends spans over
//! OTLP/gRPC and their log lines are tailed from a file; then `tests/console/drive.mjs` loads
//! every page in Debian's headless chromium (through `playwright-core`) and checks that no page
//! logs a console error, that the overview draws the pipeline graph with rates above zero, that
//! the known trace's waterfall shows its spans with its log line inline and the latency verdict
//! its `db.query` span was sent with, and that the logs page
//! lists that line linked to its trace.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`). The browser part needs `chromium` and
//! `tests/console/node_modules` (`.ci/run` installs both); without them it is skipped with a
//! message, except under `CI=true`, where it fails. `LOOKOUT_CONSOLE_SCREENSHOTS=<dir>` saves
//! one PNG per page there (the ones in `docs/console/` were made so).

mod support;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;
use support::browser::{assert_driven, assert_screenshots, drive, driver_or_skip, screenshot_dir};
use support::sink::Sink;
use support::{Lookout, http_client, otlp_exporter, otlp_receiver, python, python_dir, service};

/// The first trace `correlate_spans.py` sends: ids chosen by the script.
const TRACE: &str = "c0ffee00000000000000000000000001";
const ROOT: &str = "0000000000001001";
const CHILD: &str = "0000000000001002";

fn append(path: &Path, lines: &[Json]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the log file");
    for line in lines {
        writeln!(file, "{line}").expect("write a line");
    }
}

async fn get(url: &str) -> (u16, String, String) {
    let response = http_client().get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn console_pages_show_the_pipeline_and_the_trace_with_its_logs() {
    let driver = driver_or_skip();
    let interpreter = python(false);
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let include = log.display().to_string();
    let sink_port = sink.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}  filelog:\n    include: [{include}]\n    start_at: beginning\n    poll_interval: 50ms\n    operators:\n      - type: json_parser\n        severity: {{parse_from: attributes.level}}\n      - type: trace_parser\n\
             processors:\n  latency_anomaly:\n  correlate:\n    log_wait: 60s\n  batch:\n    timeout: 50ms\n\
             exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink_port, "none"),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly, correlate, batch]\n      exporters: [otlp]\n\
                 \x20   logs:\n      receivers: [filelog]\n      processors: [correlate]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;

    // Three traces from the real SDK, then a line on the first trace's child span and an error
    // line on its root.
    let output = tokio::process::Command::new(&interpreter)
        .arg(python_dir().join("correlate_spans.py"))
        .args(["--endpoint", &format!("127.0.0.1:{}", lookout.ports.grpc)])
        .args(["--traces", "3", "--verdict"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run correlate_spans.py");
    assert!(
        output.status.success(),
        "correlate_spans.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = "order 0 loaded from the primary";
    append(
        &log,
        &[
            serde_json::json!({"msg": line, "level": "info", "trace_id": TRACE, "span_id": CHILD}),
            serde_json::json!({"msg": "payment declined", "level": "error", "trace_id": TRACE, "span_id": ROOT}),
        ],
    );
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    let mut trace = Json::Null;
    for _ in 0..300 {
        let (status, _, body) = get(&format!("{base}/api/v1/traces/{TRACE}")).await;
        if status == 200 {
            trace = serde_json::from_str(&body).expect("trace json");
            if trace["spans"][0]["children"][0]["logs"]
                .as_array()
                .is_some_and(|l| !l.is_empty())
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        trace.to_string().contains(line),
        "the line reached the window: {trace}\n{}",
        lookout.logs()
    );

    // The console's own routes, over plain HTTP.
    let (status, content_type, html) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("/console/app.js"), "{html}");
    // A rate needs a second between samples: ask until the first answer with one.
    let mut pipelines = Json::Null;
    for _ in 0..100 {
        let (status, _, body) = get(&format!("{base}/api/v1/pipelines")).await;
        assert_eq!(status, 200, "{body}");
        pipelines = serde_json::from_str(&body).expect("pipelines json");
        if !pipelines["rate_window_seconds"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let traces = pipelines["pipelines"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == "traces"))
        .expect("traces pipeline");
    assert_eq!(traces["receivers"][0]["id"], "otlp");
    assert_eq!(traces["receivers"][0]["accepted_total"], 6.0, "{pipelines}");
    assert!(
        traces["receivers"][0]["accepted_per_second"]
            .as_f64()
            .is_some_and(|r| r > 0.0),
        "{pipelines}"
    );
    assert_eq!(traces["processors"][1]["id"], "correlate");
    let (status, _, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("lookout_receiver_accepted_spans_total"));

    let Some(driver) = driver else {
        lookout.stop_ok().await;
        return;
    };
    let shots = tempfile::tempdir().expect("tempdir");
    let screenshots = screenshot_dir(shots.path());
    let output = drive(
        &driver,
        "drive.mjs",
        &[
            ("LOOKOUT_CONSOLE_URL", base.as_str()),
            ("LOOKOUT_TRACE_ID", TRACE),
            ("LOOKOUT_SPAN_NAMES", "GET /order/0,db.query"),
            ("LOOKOUT_LOG_LINE", line),
            ("LOOKOUT_SERVICE", "orders"),
            ("LOOKOUT_VERDICT_SPAN", "db.query"),
            ("LOOKOUT_SCREENSHOTS", &screenshots.display().to_string()),
        ],
    )
    .await;
    assert_driven(&output, "the console", &lookout.logs());
    assert_screenshots(&screenshots, &["overview", "traces", "trace", "logs"]);
    lookout.stop_ok().await;
}

#[tokio::test]
async fn without_correlate_each_page_says_what_to_configure() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| {
        format!(
            "{}exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink.port, "none"),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    // No component serves the trace API: the console is told so, and asks for nothing else.
    let (_, _, body) = get(&format!("{base}/api/v1/pipelines")).await;
    let pipelines: Json = serde_json::from_str(&body).expect("pipelines json");
    assert_eq!(pipelines["routes"], serde_json::json!([]), "{pipelines}");
    let output = drive(
        &driver,
        "drive.mjs",
        &[
            ("LOOKOUT_CONSOLE_URL", base.as_str()),
            ("LOOKOUT_EXPECT", "no-correlate"),
        ],
    )
    .await;
    assert_driven(&output, "the console without correlate", &lookout.logs());
    lookout.stop_ok().await;
}

/// The ids of the pipelines `/api/v1/pipelines` lists.
async fn pipeline_ids(base: &str) -> Vec<String> {
    let (status, _, body) = get(&format!("{base}/api/v1/pipelines")).await;
    assert_eq!(status, 200, "{body}");
    let answer: Json = serde_json::from_str(&body).expect("pipelines json");
    answer["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_config_reload_redraws_the_pipeline_graph() {
    let sink = Sink::start().await;
    let config = |p: &support::Ports, logs: bool| {
        let logs = if logs {
            "    logs:\n      receivers: [otlp]\n      exporters: [otlp]\n"
        } else {
            ""
        };
        format!(
            "{}exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink.port, "none"),
            service(
                p,
                &format!("    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n{logs}")
            )
        )
    };
    let lookout = Lookout::start(|p| config(p, false)).await;
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    assert_eq!(pipeline_ids(&base).await, ["traces"]);
    std::fs::write(
        lookout.dir().join("lookout.yaml"),
        config(&lookout.ports, true),
    )
    .expect("rewrite the config");
    lookout.signal("HUP");
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids = pipeline_ids(&base).await;
        if ids.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids, ["logs", "traces"], "{}", lookout.logs());
    lookout.stop_ok().await;
}

/// `fault.signal` gauge points (value 1), which the `FaultSignal` rule fires on.
fn fault_signal() -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
        number_data_point,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    support::encode(&ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "fault.signal".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: now,
                            value: Some(number_data_point::Value::AsDouble(1.0)),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    })
}

/// `spans` of the service `search`, encoded.
fn search_spans(spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    support::encode(&ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("search".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

async fn post(url: &str, body: Vec<u8>) {
    let response = http_client()
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert_eq!(response.status().as_u16(), 200, "POST {url}");
}

/// A real lookout whose `latency_anomaly` opens an episode (`GET /search` shifts from 10 ms to
/// 40 ms) and whose `alert_rules` fires `FaultSignal` (a gauge above zero), both sent to an
/// `alerting` extension with a `console` notifier; log lines are tailed from a file through
/// `correlate`. `/api/v1/alerts` lists the open episode and the firing alert; in the browser
/// the Anomalies & alerts page shows them, and the Logs page, once loaded, shows a line the
/// driver appends to the file afterwards, without a reload, linked to its trace. The same run
/// has `hostmetrics` (every second) and a `store`: the store's RED route answers the 600
/// spans of `search` per operation and per step, the Host page charts host metrics with points,
/// and the Services page lists `search` with its count, its operation, and the episode's band.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_page_shows_episodes_and_alerts_and_the_log_tail_follows() {
    let driver = driver_or_skip();
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").expect("create the log file");
    let include = log.display().to_string();
    let store = dir.path().join("store").display().to_string();
    let lookout = Lookout::start(|p| {
        let alerting = "extensions:\n  alerting:\n    notifiers:\n      log: {console: {}}\n    route:\n      notifiers: [log]\n      group_by: [alertname]\n      group_wait: 1s\n      group_interval: 1s\n      repeat_interval: 1h\n  health_check:";
        let service = service(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly, correlate]\n      exporters: [otlp, store]\n\
             \x20   logs:\n      receivers: [filelog, otlp]\n      processors: [correlate]\n      exporters: [otlp]\n\
             \x20   metrics:\n      receivers: [otlp, hostmetrics]\n      processors: [alert_rules]\n      exporters: [otlp, store]\n",
        )
        .replacen("extensions:\n  health_check:", alerting, 1)
        .replacen(
            "  extensions: [health_check]",
            "  extensions: [health_check, alerting]",
            1,
        );
        format!(
            "{}  filelog:\n    include: [{include}]\n    start_at: beginning\n    poll_interval: 50ms\n    operators:\n      - type: json_parser\n        severity: {{parse_from: attributes.level}}\n      - type: trace_parser\n\
             \x20 hostmetrics:\n    collection_interval: 1s\n    initial_delay: 0s\n    scrapers:\n      cpu:\n      memory:\n      load:\n      filesystem:\n      disk:\n      network:\n\
             processors:\n  latency_anomaly:\n    min_samples: 50\n    sequential_min_samples: 100\n    episodes:\n      resolve_after: 10m\n    alerting: alerting\n\
             \x20 correlate:\n    log_wait: 1s\n\
             \x20 alert_rules:\n    alerting: alerting\n    evaluation_interval: 100ms\n    default_rules: false\n    rules:\n      - alert: FaultSignal\n        metric: fault.signal\n        aggregate: {{op: max}}\n        condition: \"> 0\"\n        severity: critical\n        annotations: {{summary: the fault signal is up}}\n\
             exporters:\n{}  store:\n    directory: {store}\n{service}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink.port, "none"),
        )
    })
    .await;
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    // Spans of the last minute, so that the store's RED of the Services page holds them.
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    let mut g = support::spans::Gen {
        state: 42,
        clock: now_ns - 30_000_000_000,
        next_id: 0,
    };
    for round in 0..15 {
        let ms = if round < 10 { 10.0 } else { 40.0 };
        let spans = (0..40).map(|_| g.span("GET /search", ms)).collect();
        post(&lookout.http_url("/v1/traces"), search_spans(spans)).await;
    }
    // The gauge stays up while the test runs (a series not sent again goes stale and its
    // alert resolves).
    let metrics_url = lookout.http_url("/v1/metrics");
    let keep_up = tokio::spawn(async move {
        loop {
            post(&metrics_url, fault_signal()).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    // A line in the file before any page looks: the tail has it.
    let early = "early line through correlate";
    append(
        &log,
        &[serde_json::json!({"msg": early, "level": "error", "trace_id": TRACE, "span_id": ROOT})],
    );
    let mut alerts = Json::Null;
    let mut tail = Json::Null;
    let mut missing = Vec::new();
    for _ in 0..300 {
        let (status, _, body) = get(&format!("{base}/api/v1/alerts")).await;
        assert_eq!(status, 200, "{body}");
        alerts = serde_json::from_str(&body).expect("alerts json");
        let (status, _, body) = get(&format!(
            "{base}/api/v1/logs/tail?contains=EARLY+LINE&severity=error&service="
        ))
        .await;
        assert_eq!(status, 200, "{body}");
        tail = serde_json::from_str(&body).expect("tail json");
        missing.clear();
        if alerts["episodes"]["items"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            missing.push("an episode");
        }
        if !alerts["alerts"]["items"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["labels"]["alertname"] == "FaultSignal" && a["state"] == "firing")
        }) {
            missing.push("the FaultSignal alert");
        }
        if !tail["lines"][0]["body"]
            .as_str()
            .is_some_and(|b| b.contains(early))
        {
            missing.push("the early log line in the tail");
        }
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        missing.is_empty(),
        "missing {missing:?}: {alerts}\n{tail}\n{}",
        lookout.logs()
    );
    assert_eq!(tail["lines"][0]["trace_id"], TRACE, "{tail}");
    let (status, _, body) = get(&format!("{base}/api/v1/logs/tail?bogus=1")).await;
    assert_eq!(status, 400, "an unknown parameter is refused: {body}");
    let episode = &alerts["episodes"]["items"][0];
    assert_eq!(episode["service"], "search", "{alerts}\n{}", lookout.logs());
    assert_eq!(episode["ends_at_ms"], Json::Null, "open: {alerts}");
    assert!(
        episode["observed_ms"].as_f64() > episode["baseline_ms"].as_f64(),
        "{alerts}"
    );
    assert!(
        episode["example_trace_ids"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{alerts}"
    );
    let fault = alerts["alerts"]["items"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["labels"]["alertname"] == "FaultSignal"))
        .unwrap_or_else(|| panic!("FaultSignal recorded: {alerts}\n{}", lookout.logs()));
    assert_eq!(fault["labels"]["severity"], "critical", "{alerts}");
    assert_eq!(fault["notifiers"], serde_json::json!(["log"]), "{alerts}");
    assert_eq!(alerts["configured"]["latency_anomaly"], true);
    assert_eq!(alerts["configured"]["alerting"], true);
    assert!(
        alerts["latency_anomaly"][0]["open_episodes"].as_f64() >= Some(1.0),
        "the counts stay: {alerts}"
    );

    // The store answers the Services and Host pages' routes: RED of `search` per operation
    // (all 600 spans, in the last 15 minutes) and host metrics.
    let (start, end) = (now_ns / 1_000_000_000 - 840, now_ns / 1_000_000_000 + 60);
    let red_url =
        format!("{base}/api/v1/services/red?start={start}&end={end}&service=search&step=1m");
    let mut red = Json::Null;
    let mut memory = Json::Null;
    for _ in 0..300 {
        let (status, _, body) = get(&red_url).await;
        assert_eq!(status, 200, "{body}");
        red = serde_json::from_str(&body).expect("red json");
        let (status, _, body) = get(&format!(
            "{base}/api/v1/metrics/series?name=system.memory.usage&start={start}&end={end}&step=10s"
        ))
        .await;
        assert_eq!(status, 200, "{body}");
        memory = serde_json::from_str(&body).expect("series json");
        if red["operations"][0]["count"] == 600
            && memory["series"].as_array().is_some_and(|s| !s.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(red["services"][0]["service"], "search", "{red}");
    assert_eq!(red["services"][0]["count"], 600, "{red}");
    assert_eq!(red["operations"][0]["operation"], "GET /search", "{red}");
    assert_eq!(red["operations"][0]["count"], 600, "{red}");
    assert!(
        red["services"][0]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{red}"
    );
    assert!(
        memory["series"][0]["labels"]["state"].is_string(),
        "memory usage per state: {memory}"
    );

    let Some(driver) = driver else {
        keep_up.abort();
        lookout.stop_ok().await;
        return;
    };
    let shots = tempfile::tempdir().expect("tempdir");
    let screenshots = screenshot_dir(shots.path());
    let trace = "c0ffee000000000000000000000000aa";
    let output = drive(
        &driver,
        "drive.mjs",
        &[
            ("LOOKOUT_CONSOLE_URL", base.as_str()),
            ("LOOKOUT_EXPECT", "anomalies"),
            ("LOOKOUT_EPISODE_SERVICE", "search"),
            ("LOOKOUT_ALERT_NAME", "FaultSignal"),
            ("LOOKOUT_RED_SERVICE", "search"),
            ("LOOKOUT_RED_OPERATION", "GET /search"),
            ("LOOKOUT_RED_COUNT", "600"),
            ("LOOKOUT_LOG_FILE", include.as_str()),
            ("LOOKOUT_TRACE_ID", trace),
            ("LOOKOUT_SCREENSHOTS", &screenshots.display().to_string()),
        ],
    )
    .await;
    assert_driven(
        &output,
        "the anomalies page or the live tail",
        &lookout.logs(),
    );
    assert_screenshots(
        &screenshots,
        &["anomalies", "logs-tail", "host", "services"],
    );
    keep_up.abort();
    lookout.stop_ok().await;
}

/// The Reports page with a `store` exporter: a span of `search` sent over OTLP is in the
/// report the page shows (in its frame) and in the JSON its download link returns; the window
/// selector changes the links. (Without a store, the bare test checks the page says to add
/// one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_page_shows_the_report_with_download_links() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let store = data.path().join("store");
    let lookout = Lookout::start(|p| {
        format!(
            "{}exporters:\n  store:\n    directory: {}\n{}",
            otlp_receiver(p, "", ""),
            store.display(),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      exporters: [store]\n"
            )
        )
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    let span = opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: vec![5; 16],
        span_id: vec![6; 8],
        name: "GET /search".into(),
        kind: 2,
        start_time_unix_nano: now - 2_000_000_000,
        end_time_unix_nano: now - 1_990_000_000,
        ..Default::default()
    };
    post(&lookout.http_url("/v1/traces"), search_spans(vec![span])).await;
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    // The receiver answers before the store has written: wait (bounded) until it has.
    let mut stored = false;
    for _ in 0..200 {
        let (_, _, body) = get(&format!("{base}/api/v1/report?since=1h&format=json")).await;
        if body.contains("\"search\"") {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "the span is not in the report: {}", lookout.logs());
    let shots = tempfile::tempdir().expect("tempdir");
    let screenshots = screenshot_dir(shots.path());
    let output = drive(
        &driver,
        "drive.mjs",
        &[
            ("LOOKOUT_CONSOLE_URL", base.as_str()),
            ("LOOKOUT_EXPECT", "reports"),
            ("LOOKOUT_SERVICE", "search"),
            ("LOOKOUT_SCREENSHOTS", &screenshots.display().to_string()),
        ],
    )
    .await;
    assert_driven(&output, "the reports page", &lookout.logs());
    assert_screenshots(&screenshots, &["reports"]);
    lookout.stop_ok().await;
}
