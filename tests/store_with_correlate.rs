//! The trace APIs with both a `correlate` window and a `store`: a trace no longer in the
//! window (the collector restarted: the window is empty) is answered from the store, a trace
//! in both comes from the window, and the service lists of both are merged.

mod support;

use std::path::Path;

use support::store_api::{get_json, jaeger_trace, send};
use support::{Lookout, otlp_receiver, service};

const OLD: &str = "5b8efff798038103d269b633813fc60c";
const NEW: &str = "0af7651916cd43dd8448eb211c80319c";

fn config(p: &support::Ports, dir: &Path, flush: &str) -> String {
    format!(
        "{receivers}processors:\n  correlate:\n    log_wait: 100ms\nexporters:\n  store:\n    directory: {dir}\n    flush_interval: {flush}\n{service}",
        receivers = otlp_receiver(p, "", ""),
        dir = dir.display(),
        service = service(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [store]\n    logs:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [store]\n",
        ),
    )
}

#[tokio::test]
async fn older_traces_come_from_the_store_behind_the_window() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    let first = Lookout::start(|p| config(p, &dir, "1h")).await;
    send(&first, OLD, "checkout").await;
    let (status, body) = get_json(&first, &format!("/api/v1/traces/{OLD}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["bytes_held"].as_u64().unwrap() > 0,
        "from the window: {body}"
    );
    first.stop_ok().await;

    // Restarted: the window is empty, the store has the trace.
    let second = Lookout::start(|p| config(p, &dir, "1h")).await;
    send(&second, NEW, "payments").await;
    let expected = (
        vec!["POST /pay".to_string(), "charge".to_string()],
        vec!["card declined".to_string()],
    );
    assert_eq!(
        jaeger_trace(&second, OLD).await,
        Some(expected.clone()),
        "from the store"
    );
    assert_eq!(
        jaeger_trace(&second, NEW).await,
        Some(expected),
        "from the window"
    );
    let (status, body) = get_json(&second, &format!("/api/v1/traces/{OLD}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bytes_held"], 0, "the store's answer: {body}");
    assert_eq!(body["spans"][0]["name"], "POST /pay");
    assert_eq!(
        body["spans"][0]["children"][0]["logs"][0]["body"],
        "card declined"
    );
    let (_, services) = get_json(&second, "/api/services").await;
    assert_eq!(
        services["data"],
        serde_json::json!(["checkout", "payments"])
    );
    let (_, found) = get_json(&second, "/api/v1/traces?limit=10").await;
    let ids: Vec<&str> = found["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [NEW, OLD],
        "the window first, then the store, each once"
    );
    second.stop_ok().await;
}
