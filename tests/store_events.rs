//! Episodes and alerts kept in the `store` against the real binary: a latency shift injected
//! into spans sent over OTLP/HTTP opens (then resolves) an anomaly episode; the
//! `latency_anomaly` connector's episode records reach the store through a logs pipeline, and
//! the `alerting` extension's alert state changes reach it through the alert history sink.
//! `/api/v1/history/episodes` and `/api/v1/history/alerts` answer them, and answer the same
//! after the process is stopped and started again on the same data directory (and after a
//! kill -9). A second process on the same data directory is refused (its lock).

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::Value as Json;
use support::{Lookout, free_port, http_client, otlp_receiver, service};

const MS: u64 = 1_000_000;

/// Deterministic log-normal durations (σ = 0.3) around a median.
struct Durations(u64);

impl Durations {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn around(&mut self, median_ms: f64) -> u64 {
        let n = (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        (median_ms * (0.3 * n).exp() * MS as f64) as u64
    }
}

/// Spans of `GET /search` in their own traces, on a span clock that starts a minute ago (the
/// store keeps recent hours; the history routes default to the last 24 h).
struct Gen {
    clock: u64,
    next_id: u64,
    durations: Durations,
}

impl Gen {
    fn single(&mut self, median_ms: f64) -> Span {
        self.clock += 5 * MS;
        self.next_id += 1;
        let dur = self.durations.around(median_ms);
        let mut trace_id = [0x5au8; 16];
        trace_id[8..].copy_from_slice(&self.next_id.to_be_bytes());
        Span {
            trace_id: trace_id.to_vec(),
            span_id: self.next_id.to_be_bytes().to_vec(),
            name: "GET /search".into(),
            kind: 2,
            start_time_unix_nano: self.clock - dur,
            end_time_unix_nano: self.clock,
            ..Default::default()
        }
    }
}

fn config(p: &support::Ports, dir: &Path) -> String {
    let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly]\n      exporters: [store, latency_anomaly]\n    logs/anomaly:\n      receivers: [latency_anomaly]\n      exporters: [store]\n";
    let service = service(p, pipelines)
        .replacen(
            "\nservice:\n",
            "\n  alerting:\n    notifiers:\n      log:\n        console: {}\n    route:\n      notifiers: [log]\n      group_wait: 0s\nservice:\n",
            1,
        )
        .replacen(
            "  extensions: [health_check]",
            "  extensions: [health_check, alerting]",
            1,
        );
    format!(
        "{receivers}processors:\n  latency_anomaly:\n    min_samples: 50\n    sequential_min_samples: 100\n    episodes:\n      resolve_after: 1s\n    alerting: alerting\nconnectors:\n  latency_anomaly: {{}}\nexporters:\n  store:\n    directory: {dir}\n    flush_interval: 1s\n{service}",
        receivers = otlp_receiver(p, "", ""),
        dir = dir.display(),
    )
}

async fn send(lookout: &Lookout, spans: Vec<Span>) {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue("shop".into())),
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
    };
    let response = http_client()
        .post(lookout.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(support::encode(&request))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200);
}

async fn get_json(lookout: &Lookout, path: &str) -> (u16, Json) {
    let url = format!("http://127.0.0.1:{}{path}", lookout.ports.metrics);
    let response = http_client().get(&url).send().await.expect("GET");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, json)
}

/// The states listed by a history route (`status` of episodes, `state` of alerts).
fn states(body: &Json, list: &str, field: &str) -> Vec<String> {
    body[list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e[field].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Both history lists over the last day, once each shows a firing then a resolved entry
/// (bounded wait: the episode resolves a second after the shift, and the store writes what
/// it is sent a moment after the sender was answered).
async fn histories(lookout: &Lookout, range: &str) -> (Json, Json) {
    let want = vec!["firing".to_string(), "resolved".to_string()];
    let mut last = (Json::Null, Json::Null);
    for _ in 0..300 {
        let (s1, episodes) = get_json(lookout, &format!("/api/v1/history/episodes{range}")).await;
        let (s2, alerts) = get_json(lookout, &format!("/api/v1/history/alerts{range}")).await;
        assert_eq!((s1, s2), (200, 200), "{episodes} {alerts}");
        if states(&episodes, "episodes", "status") == want
            && states(&alerts, "alerts", "state") == want
        {
            return (episodes, alerts);
        }
        last = (episodes, alerts);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the history never showed a firing then resolved episode and alert: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_shift_is_kept_as_an_episode_and_an_alert_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let start_s = now.as_secs() - 3600;
    let range = format!("?start={start_s}&end={}", now.as_secs() + 3600);
    let lookout = Lookout::start(|p| config(p, &dir)).await;
    let mut g = Gen {
        clock: now.as_nanos() as u64 - 60_000 * MS,
        next_id: 0,
        durations: Durations(7),
    };
    for _ in 0..10 {
        send(&lookout, (0..40).map(|_| g.single(10.0)).collect()).await;
    }
    // A lasting shift of `GET /search` (10 ms -> 40 ms).
    for _ in 0..5 {
        send(&lookout, (0..40).map(|_| g.single(40.0)).collect()).await;
    }
    let (episodes, alerts) = histories(&lookout, &range).await;
    let firing = &episodes["episodes"][0];
    assert_eq!(firing["service"], "shop");
    assert_eq!(firing["operation"], "GET /search");
    assert!(
        matches!(firing["kind"].as_str(), Some("shift" | "degradation")),
        "{firing}"
    );
    let baseline = firing["baseline_ms"].as_f64().unwrap_or_default();
    assert!((7.0..13.0).contains(&baseline), "baseline {baseline}");
    assert!(
        firing["example_trace_ids"][0]
            .as_str()
            .is_some_and(|t| t.starts_with("5a5a5a5a")),
        "{firing}"
    );
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["notifiers"], serde_json::json!(["log"]));
    assert!(alert["labels"]["alertname"].is_string(), "{alert}");
    assert_eq!(alert["fingerprint"], alerts["alerts"][1]["fingerprint"]);
    assert!(alerts["alerts"][1]["ends_at_ms"].is_i64(), "{alerts}");
    // Nothing before the range.
    let (_, before) = get_json(
        &lookout,
        &format!(
            "/api/v1/history/episodes?start={}&end={start_s}",
            start_s - 3600
        ),
    )
    .await;
    assert_eq!(before["episodes"], serde_json::json!([]));
    assert!(lookout.stop().await.success());

    // Started again on the same directory: the same answers.
    let again = Lookout::start(|p| config(p, &dir)).await;
    assert_eq!(
        histories(&again, &range).await,
        (episodes.clone(), alerts.clone())
    );
    // And after kill -9 (whatever was not flushed yet is replayed from the log).
    again.signal("KILL");
    assert_eq!(again.wait_exit().await.code(), None, "killed by a signal");
    let third = Lookout::start(|p| config(p, &dir)).await;
    assert_eq!(histories(&third, &range).await, (episodes, alerts));

    // A second process on the same data directory is refused at start, and says why.
    let ports = support::Ports {
        grpc: free_port(),
        http: free_port(),
        health: free_port(),
        metrics: free_port(),
    };
    let file = data.path().join("second.yaml");
    std::fs::write(&file, config(&ports, &dir)).unwrap();
    let second = tokio::process::Command::new(support::lookout_bin())
        .arg("--config")
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the second process exits")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("is locked by another process"),
        "the error says the directory is in use: {stderr}"
    );
    assert!(third.stop().await.success());
}
