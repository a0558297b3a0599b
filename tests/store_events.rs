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

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value as Json;
use support::spans::{Gen, request};
use support::store_api::{get_json, post};
use support::{Lookout, free_port, otlp_receiver, service};

const MS: u64 = 1_000_000;

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

/// Sends `spans` of the service `shop` over OTLP/HTTP; asserts 200.
async fn send(lookout: &Lookout, spans: Vec<Span>) {
    post(
        lookout,
        "/v1/traces",
        support::encode(&request("shop", spans)),
    )
    .await;
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
    // Spans in their own traces, on a span clock that starts a minute ago (the store keeps
    // recent hours; the history routes default to the last 24 h).
    let mut g = Gen {
        state: 7,
        clock: now.as_nanos() as u64 - 60_000 * MS,
        next_id: 0,
    };
    for _ in 0..10 {
        send(
            &lookout,
            (0..40).map(|_| g.span("GET /search", 10.0)).collect(),
        )
        .await;
    }
    // A lasting shift of `GET /search` (10 ms -> 40 ms).
    for _ in 0..5 {
        send(
            &lookout,
            (0..40).map(|_| g.span("GET /search", 40.0)).collect(),
        )
        .await;
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
