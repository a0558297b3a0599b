//! Whole process: `lookout` with no configuration file — the README's run command — on its
//! embedded default configuration. It serves the console, joins a trace with its log line,
//! tags an intermittent burst of slow spans and opens an anomaly episode for it, and keeps the
//! episode, the host's metrics and the spans in the embedded store, all under `./lookout-data`.

mod support;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value as Json;
use support::spans::{Gen, request};
use support::{Lookout, http_client};

/// Median of `GET /checkout`, ms.
const MEDIAN_MS: f64 = 20.0;

async fn get_json(url: &str) -> Option<Json> {
    let response = http_client().get(url).send().await.ok()?;
    if response.status() != reqwest::StatusCode::OK {
        return None;
    }
    response.json().await.ok()
}

/// Polls `url` (every 200 ms, up to `limit`) until its JSON answer satisfies `done`; returns
/// that answer.
async fn wait_json(what: &str, limit: Duration, url: &str, done: impl Fn(&Json) -> bool) -> Json {
    let started = std::time::Instant::now();
    loop {
        if let Some(answer) = get_json(url).await
            && done(&answer)
        {
            return answer;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what} at {url}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_config_serves_console_tags_anomalies_and_keeps_history() {
    let lookout = Lookout::start_default().await;
    let client = http_client();

    // The console is the admin listener's landing page.
    let page = client
        .get(lookout.admin_url("/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("<html"),
        "the console's page"
    );

    let post = |path: &'static str, body: Vec<u8>| {
        let request = client
            .post(lookout.http_url(path))
            .header("content-type", "application/x-protobuf")
            .body(body);
        async move {
            let response = request.send().await.expect("send");
            assert_eq!(response.status(), reqwest::StatusCode::OK, "POST {path}");
        }
    };

    // Spans on the wall clock (the store keeps them by time; the detector decays on span ends).
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut g = Gen {
        state: 29,
        clock: now.as_nanos() as u64 - 3_000 * 50_000_000,
        next_id: 0,
    };
    // Warm-up past the default min_samples (100) and sequential_min_samples (200).
    let mut sent = 0;
    for _ in 0..6 {
        let spans: Vec<Span> = (0..100)
            .map(|_| g.span_every("GET /checkout", MEDIAN_MS, 50))
            .collect();
        sent += spans.len();
        post("/v1/traces", support::encode(&request("shop", spans))).await;
    }
    // One request in 40 takes 20× its median.
    let mut slow_traces = HashSet::new();
    let mut last_slow = (Vec::new(), Vec::new());
    for _ in 0..12 {
        let spans: Vec<Span> = (0..100)
            .map(|i| {
                if (i + sent) % 40 == 39 {
                    let s = g.span_every("GET /checkout", 20.0 * MEDIAN_MS, 50);
                    slow_traces.insert(hex::encode(&s.trace_id));
                    last_slow = (s.trace_id.clone(), s.span_id.clone());
                    s
                } else {
                    g.span_every("GET /checkout", MEDIAN_MS, 50)
                }
            })
            .collect();
        sent += spans.len();
        post("/v1/traces", support::encode(&request("shop", spans))).await;
    }
    // A log line of the last slow trace, without a resource (as a tailed file's would be).
    let (trace_id, span_id) = last_slow;
    let trace_hex = hex::encode(&trace_id);
    assert_eq!(slow_traces.len(), 30);
    let log = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: g.clock,
                    severity_number: 17,
                    body: Some(AnyValue {
                        value: Some(Value::StringValue("payment backend timed out".into())),
                    }),
                    trace_id,
                    span_id,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    post("/v1/logs", support::encode(&log)).await;

    // The slow trace, joined with its log line, tagged by latency_anomaly.
    let url = lookout.admin_url(&format!("/api/v1/traces/{trace_hex}"));
    let trace = wait_json(
        "the slow trace with its log",
        Duration::from_secs(30),
        &url,
        // The log may reach the window before its span (the spans pass latency_anomaly first).
        |t| {
            t["spans"].as_array().is_some_and(|s| !s.is_empty())
                && t["spans"][0]["logs"]
                    .to_string()
                    .contains("payment backend timed out")
        },
    )
    .await;
    let text = trace.to_string();
    assert!(text.contains("\"anomaly\":true"), "tagged: {text}");
    assert!(text.contains("\"shop\""), "{text}");

    // The intermittent episode, opened by the default detector.
    wait_json(
        "an intermittent episode",
        Duration::from_secs(30),
        &lookout.admin_url("/api/v1/alerts"),
        |a| a.to_string().contains("intermittent"),
    )
    .await;

    // The episode's firing record, through the latency_anomaly connector, kept by the store.
    let episodes = wait_json(
        "the episode in the store's history",
        Duration::from_secs(30),
        &lookout.admin_url("/api/v1/history/episodes"),
        |h| {
            h["episodes"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x["kind"] == "intermittent"))
        },
    )
    .await;
    let stored = &episodes["episodes"][0];
    assert_eq!(stored["service"], "shop", "{episodes}");
    assert_eq!(stored["status"], "firing", "{episodes}");
    assert!(
        stored["example_trace_ids"].as_array().is_some_and(|ids| ids
            .iter()
            .all(|id| slow_traces.contains(id.as_str().unwrap_or_default()))),
        "{episodes}"
    );

    // History: the store answers the Jaeger API and holds the host's metrics (collected every
    // 10 s by the default config).
    let services = get_json(&lookout.admin_url("/api/services"))
        .await
        .expect("/api/services");
    assert!(services.to_string().contains("\"shop\""), "{services}");
    wait_json(
        "host CPU points in the store",
        Duration::from_secs(45),
        &lookout.admin_url("/api/v1/metrics/series?name=system.cpu.utilization&step=10s"),
        |s| {
            s["series"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["points"].as_array().is_some_and(|p| !p.is_empty()))
            })
        },
    )
    .await;
    assert!(lookout.dir().join("lookout-data/store").is_dir());
    assert!(lookout.dir().join("lookout-data/otlp.jsonl").is_file());
    assert!(
        !lookout.logs().contains("ERROR"),
        "no error logged:\n{}",
        lookout.logs()
    );
}
