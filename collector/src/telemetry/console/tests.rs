use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value as Json;

use super::rates::{MAX_SAMPLES, Rates};
use super::*;
use crate::core::Signal;
use crate::telemetry::SeriesValue;

const CONFIG: &str = "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  batch:
exporters:
  debug:
  file:
    path: out.jsonl
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug, file]
    logs:
      receivers: [otlp]
      exporters: [debug]
";

fn config() -> Config {
    Config::parse("console.yaml", CONFIG).expect("config")
}

fn value(name: &str, labels: &[(&'static str, &str)], value: f64) -> SeriesValue {
    SeriesValue {
        name: name.to_string(),
        labels: labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
        value,
    }
}

async fn body(response: Response<Body>) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

// === rates ===

#[test]
fn rate_is_the_increase_over_the_window_from_a_zero_start() {
    let start = Instant::now();
    let mut rates = Rates::new(start);
    let key = (
        "receiver_accepted_spans".to_string(),
        vec![("receiver", "otlp".to_string())],
    );
    // 10 s after start, 500 accepted: 50/s against the all-zero start.
    let first = rates.observe(
        start + Duration::from_secs(10),
        vec![value(
            "receiver_accepted_spans",
            &[("receiver", "otlp")],
            500.0,
        )],
    );
    assert_eq!(first.rate(&key), Some(50.0));
    assert_eq!(first.seconds, Some(10.0));
    // 60 s later, +300 since the last sample: the window (30 s) dropped the start sample and the
    // 10 s one is the baseline.
    let later = rates.observe(
        start + Duration::from_secs(70),
        vec![value(
            "receiver_accepted_spans",
            &[("receiver", "otlp")],
            800.0,
        )],
    );
    assert_eq!(later.rate(&key), Some(5.0));
    // A missing series has no rate, not a zero one.
    let other = ("receiver_refused_spans".to_string(), Vec::new());
    assert_eq!(later.rate(&other), None);
}

#[test]
fn samples_are_spaced_and_bounded() {
    let start = Instant::now();
    let mut rates = Rates::new(start);
    // Many polls within one second add one sample.
    for ms in 0..50 {
        let _ = rates.observe(start + Duration::from_millis(1000 + ms), Vec::new());
    }
    assert_eq!(rates.len(), 2);
    // A poll a second for ten minutes keeps at most MAX_SAMPLES.
    for s in 2..600 {
        let _ = rates.observe(start + Duration::from_secs(s), Vec::new());
    }
    assert!(rates.len() <= MAX_SAMPLES, "{}", rates.len());
    // The same instant twice: no baseline younger than a second is used.
    let mut fresh = Rates::new(start);
    assert_eq!(fresh.observe(start, Vec::new()).seconds, None);
}

#[test]
fn a_counter_that_went_down_counts_from_its_new_value() {
    let start = Instant::now();
    let mut rates = Rates::new(start);
    let key = ("exporter_sent_spans".to_string(), Vec::new());
    let _ = rates.observe(
        start + Duration::from_secs(5),
        vec![value("exporter_sent_spans", &[], 100.0)],
    );
    // 40 s: the start sample left the window; the 100 at 5 s is the baseline, and the counter
    // restarted since (20 now): 20 over 35 s, never a negative rate.
    let after = rates.observe(
        start + Duration::from_secs(40),
        vec![value("exporter_sent_spans", &[], 20.0)],
    );
    assert_eq!(after.seconds, Some(35.0));
    assert_eq!(after.rate(&key), Some(20.0 / 35.0));
}

// === graph and routes ===

#[test]
fn graph_lists_each_pipelines_components_in_order() {
    let graph = Graph::of(&config());
    let ids: Vec<&str> = graph.pipelines.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["logs", "traces"]);
    let traces = &graph.pipelines[1];
    assert_eq!(traces.signal, Signal::Traces);
    assert_eq!(traces.receivers, ["otlp"]);
    assert_eq!(traces.processors, ["batch"]);
    assert_eq!(traces.exporters, ["debug", "file"]);
}

#[tokio::test]
async fn pipelines_route_reports_counters_of_the_running_components() {
    let telemetry = Telemetry::new();
    let console = Console::new(telemetry.clone(), &config(), Default::default());
    let received = telemetry.receiver("otlp", "grpc", Signal::Traces);
    received.accepted.inc_by(40);
    received.refused.inc_by(2);
    let exporter = telemetry.exporter("file", None);
    exporter.sent(Signal::Traces).inc_by(38);
    exporter.queue_size.set(25);
    exporter.queue_capacity.set(100);
    let routes = AdminRoutes::default();
    let owner = crate::core::ComponentId::parse("correlate").unwrap();
    let handler: crate::component::admin::Handler =
        std::sync::Arc::new(|_req| Box::pin(async { Response::new(net::full("")) }));
    routes.mount(&owner, "/api/v1/traces", handler).unwrap();
    let answer = console
        .answer(&Method::GET, "/api/v1/pipelines", None, &routes)
        .expect("owned");
    let (status, content_type, text) = body(answer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let json: Json = serde_json::from_str(&text).unwrap();
    let traces = &json["pipelines"][1];
    assert_eq!(traces["id"], "traces");
    assert_eq!(traces["items"], "spans");
    assert_eq!(traces["receivers"][0]["id"], "otlp");
    assert_eq!(traces["receivers"][0]["accepted_total"], 40.0);
    assert_eq!(traces["receivers"][0]["refused_total"], 2.0);
    let file = &traces["exporters"][1];
    assert_eq!(file["id"], "file");
    assert_eq!(file["sent_total"], 38.0);
    assert_eq!(file["queue_fill"], 0.25);
    // The logs pipeline's otlp receiver reports log records: none counted, none invented.
    let logs = &json["pipelines"][0];
    assert!(logs["receivers"][0]["accepted_total"].is_null(), "{logs}");
    assert!(
        json["process"]["rss_bytes"].as_u64().is_some_and(|b| b > 0),
        "{json}"
    );
}

#[tokio::test]
async fn a_reload_changes_the_graph() {
    let telemetry = Telemetry::new();
    let console = Console::new(telemetry, &config(), Default::default());
    let routes = AdminRoutes::default();
    let smaller = CONFIG.replace("      exporters: [debug, file]", "      exporters: [debug]");
    console.set_config(&Config::parse("console.yaml", &smaller).unwrap());
    let (_, _, text) = body(
        console
            .answer(&Method::GET, "/api/v1/pipelines", None, &routes)
            .unwrap(),
    )
    .await;
    let json: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["pipelines"][1]["exporters"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn alerts_route_counts_episodes_and_firing_rules() {
    let telemetry = Telemetry::new();
    let console = Console::new(telemetry.clone(), &config(), Default::default());
    let routes = AdminRoutes::default();
    let labels = || {
        vec![
            ("processor", "latency_anomaly".to_string()),
            ("pipeline", "traces".to_string()),
        ]
    };
    telemetry
        .gauge("latency_anomaly_open_episodes", "open", labels())
        .set(2);
    let mut fired = labels();
    fired.push(("status", "firing".to_string()));
    telemetry
        .counter("latency_anomaly_episodes", "eps", fired)
        .inc_by(3);
    telemetry
        .gauge(
            "alert_rules_firing",
            "firing",
            vec![("processor", "alert_rules".to_string())],
        )
        .set(1);
    let (status, _, text) = body(
        console
            .answer(&Method::GET, "/api/v1/alerts", None, &routes)
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let json: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(json["latency_anomaly"][0]["processor"], "latency_anomaly");
    assert_eq!(json["latency_anomaly"][0]["open_episodes"], 2.0);
    assert_eq!(json["latency_anomaly"][0]["fired_total"], 3.0);
    assert_eq!(json["alert_rules"][0]["firing"], 1.0);
}

#[tokio::test]
async fn pages_and_files_are_embedded() {
    let console = Console::new(Telemetry::new(), &config(), Default::default());
    let routes = AdminRoutes::default();
    let (status, content_type, html) =
        body(console.answer(&Method::GET, "/", None, &routes).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("/console/app.js"), "{html}");
    for asset in assets::ASSETS {
        let (status, content_type, text) = body(
            console
                .answer(&Method::GET, asset.path, None, &routes)
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", asset.path);
        assert_eq!(content_type, asset.content_type);
        assert!(!text.is_empty(), "{}", asset.path);
    }
    // Every module the page imports is served.
    for asset in assets::ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let text = String::from_utf8_lossy(asset.body);
        for import in text.split("from \"./").skip(1) {
            let file = import.split('"').next().unwrap_or_default();
            let path = format!("/console/{file}");
            assert!(
                assets::find(&path).is_some(),
                "{} imports missing {path}",
                asset.path
            );
        }
    }
    let (status, _, _) = body(
        console
            .answer(&Method::GET, "/console/nope.js", None, &routes)
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = body(console.answer(&Method::POST, "/", None, &routes).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        console
            .answer(&Method::GET, "/metrics", None, &routes)
            .is_none()
    );
    assert!(
        console
            .answer(&Method::GET, "/api/v1/traces", None, &routes)
            .is_none()
    );
    assert!(
        console
            .answer(&Method::GET, "/consolex", None, &routes)
            .is_none()
    );
}

#[tokio::test]
async fn alerts_route_lists_the_recorded_episodes_and_alerts() {
    use crate::core::recent::{AlertRecord, EpisodeRecord};
    let recent = Arc::new(Recent::default());
    let console = Console::new(Telemetry::new(), &config(), Arc::clone(&recent));
    let routes = AdminRoutes::default();
    let get = || async {
        let (status, _, text) = body(
            console
                .answer(&Method::GET, "/api/v1/alerts", None, &routes)
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_str::<Json>(&text).unwrap()
    };
    let json = get().await;
    assert_eq!(json["configured"]["latency_anomaly"], false);
    assert_eq!(json["configured"]["alerting"], false);
    assert_eq!(json["episodes"]["items"], serde_json::json!([]));
    let episode = |key: &str, end: Option<u64>| EpisodeRecord {
        source: "latency_anomaly".into(),
        key: key.into(),
        service: "search".into(),
        labels: Vec::new(),
        kind: "shift".into(),
        baseline_ms: 10.0,
        observed_ms: 40.0,
        max_ratio: 4.0,
        example_trace_ids: vec!["ab".repeat(16)],
        starts_at_ms: 1,
        ends_at_ms: end,
    };
    recent.episodes().record(episode("a", None));
    recent.episodes().record(episode("b", None));
    recent.episodes().record(episode("a", Some(5)));
    recent.alerts().record(AlertRecord {
        fingerprint: "f".into(),
        state: "firing",
        labels: [("alertname".to_string(), "Down".to_string())].into(),
        annotations: Default::default(),
        starts_at_ms: 1,
        ends_at_ms: None,
        updated_at_ms: 1,
        notifiers: vec!["log".into()],
        trace_ids: Vec::new(),
    });
    let json = get().await;
    let keys: Vec<&str> = json["episodes"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["b", "a"], "open first");
    assert_eq!(json["episodes"]["items"][0]["observed_ms"], 40.0);
    assert_eq!(json["episodes"]["capacity"], 1000);
    assert_eq!(json["episodes"]["evicted"], 0);
    assert_eq!(json["alerts"]["items"][0]["labels"]["alertname"], "Down");
    assert_eq!(json["alerts"]["items"][0]["notifiers"][0], "log");
}

#[tokio::test]
async fn the_configuration_says_whether_episodes_and_alerts_can_exist() {
    let yaml = CONFIG
        .replace("  batch:\n", "  batch:\n  latency_anomaly:\n")
        .replace("processors: [batch]", "processors: [latency_anomaly, batch]")
        .replace(
            "service:\n",
            "extensions:\n  alerting:\n    notifiers:\n      log: {console: {}}\n    route:\n      notifiers: [log]\nservice:\n  extensions: [alerting]\n",
        );
    let config = Config::parse("console.yaml", &yaml).expect("config");
    let graph = Graph::of(&config);
    assert!(graph.latency_anomaly && graph.alerting, "{graph:?}");
    let graph = Graph::of(&super::tests::config());
    assert!(!graph.latency_anomaly && !graph.alerting);
}

#[tokio::test]
async fn the_tail_route_follows_a_cursor_and_refuses_unknown_parameters() {
    use crate::core::recent::logs::LogLine;
    let recent = Arc::new(Recent::default());
    let console = Console::new(Telemetry::new(), &config(), Arc::clone(&recent));
    let routes = AdminRoutes::default();
    let line = |body: &str, severity_number: i32| LogLine {
        seq: 0,
        time_ms: 1,
        service: "svc".into(),
        severity_number,
        severity: String::new(),
        body: body.into(),
        trace_id: None,
        span_id: None,
    };
    recent.logs().push(line("first", 9));
    let get = |query: &'static str| {
        let response = console.answer(&Method::GET, "/api/v1/logs/tail", Some(query), &routes);
        async move {
            let (status, _, text) = body(response.unwrap()).await;
            (status, text)
        }
    };
    let (status, text) = get("").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let json: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(json["lines"][0]["body"], "first");
    assert_eq!(json["next"], 1);
    recent.logs().push(line("second one", 17));
    recent.logs().push(line("third", 9));
    let (_, text) = get("after=1&severity=error&contains=SECOND%20one").await;
    let json: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(json["lines"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["lines"][0]["body"], "second one");
    assert_eq!(json["next"], 3);
    let (status, text) = get("after=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Json>(&text).unwrap()["lines"],
        serde_json::json!([])
    );
    for bad in ["servce=svc", "after=x", "limit=-1"] {
        let (status, text) = get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {text}");
    }
}
