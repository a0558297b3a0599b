//! The `store` exporter against the real binary: spans and a log line sent over OTLP/HTTP are
//! answered by the Jaeger API from the store alone (no `correlate`); after kill -9 the
//! acknowledged data is replayed from the write-ahead log; a damaged segment is moved to
//! `quarantine/`, counted, and the rest still answers; a range with no data answers empty.

mod support;

use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::Value as Json;
use support::{Lookout, encode, http_client, otlp_receiver, service, wait_until};

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn config(p: &support::Ports, dir: &Path, flush: &str) -> String {
    format!(
        "{receivers}exporters:\n  store:\n    directory: {dir}\n    flush_interval: {flush}\n{service}",
        receivers = otlp_receiver(p, "", ""),
        dir = dir.display(),
        service = service(
            p,
            "    traces:\n      receivers: [otlp]\n      exporters: [store]\n    logs:\n      receivers: [otlp]\n      exporters: [store]\n",
        ),
    )
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", "checkout")],
        ..Default::default()
    })
}

async fn post(lookout: &Lookout, path: &str, body: Vec<u8>) {
    let response = http_client()
        .post(lookout.http_url(path))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200, "{path}");
}

/// One trace (a root span and a child) and a log line of the child, sent and acknowledged.
async fn send(lookout: &Lookout) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let trace_id = hex::decode(TRACE).unwrap();
    let span = |id: u8, parent: Vec<u8>, name: &str| Span {
        trace_id: trace_id.clone(),
        span_id: vec![id; 8],
        parent_span_id: parent,
        name: name.into(),
        kind: 2,
        start_time_unix_nano: now,
        end_time_unix_nano: now + 250_000_000,
        attributes: vec![kv("http.route", "/pay")],
        ..Default::default()
    };
    let traces = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(1, vec![], "POST /pay"), span(2, vec![1; 8], "charge")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    post(lookout, "/v1/traces", encode(&traces)).await;
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: now + 1000,
                    trace_id: trace_id.clone(),
                    span_id: vec![2; 8],
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("card declined".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    post(lookout, "/v1/logs", encode(&logs)).await;
}

async fn get_json(lookout: &Lookout, path: &str) -> (u16, Json) {
    let url = format!("http://127.0.0.1:{}{path}", lookout.ports.metrics);
    let response = http_client().get(&url).send().await.expect("GET");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, json)
}

/// The trace from the Jaeger API: (span names, log messages).
async fn jaeger_trace(lookout: &Lookout) -> Option<(Vec<String>, Vec<String>)> {
    let (status, body) = get_json(lookout, &format!("/api/traces/{TRACE}")).await;
    if status != 200 {
        return None;
    }
    let spans = body["data"][0]["spans"].as_array()?.clone();
    let mut names: Vec<String> = spans
        .iter()
        .map(|s| s["operationName"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    let logs = spans
        .iter()
        .flat_map(|s| s["logs"].as_array().cloned().unwrap_or_default())
        .map(|l| {
            l["fields"][0]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    Some((names, logs))
}

fn segments(dir: &Path, kind: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join(kind))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn history_survives_kill_9_and_a_damaged_segment() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    let expected = (
        vec!["POST /pay".to_string(), "charge".to_string()],
        vec!["card declined".to_string()],
    );

    // 1. No flush before the kill: what was acknowledged is only in the write-ahead log.
    let first = Lookout::start(|p| config(p, &dir, "1h")).await;
    send(&first).await;
    // The receiver answers once the data is in the pipeline; the store has it a moment later.
    let mut from_head = None;
    for _ in 0..100 {
        from_head = jaeger_trace(&first).await;
        if from_head.as_ref() == Some(&expected) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(from_head, Some(expected.clone()), "from the head");
    let (_, services) = get_json(&first, "/api/services").await;
    assert_eq!(services["data"], serde_json::json!(["checkout"]));
    first.signal("KILL");
    assert_eq!(first.wait_exit().await.code(), None, "killed by a signal");
    assert!(segments(&dir, "spans").is_empty(), "nothing was flushed");

    // 2. Restarted: replayed; then flushed to segments.
    let second = Lookout::start(|p| config(p, &dir, "200ms")).await;
    assert_eq!(
        jaeger_trace(&second).await,
        Some(expected.clone()),
        "after kill -9"
    );
    let m = second.metrics().await;
    assert_eq!(
        m.value(
            "lookout_store_replayed_batches_total",
            &[("exporter", "store")]
        ),
        2.0
    );
    wait_until("segments written", Duration::from_secs(20), || {
        !segments(&dir, "spans").is_empty() && !segments(&dir, "logs").is_empty()
    })
    .await;
    let logs = second.stop_ok().await;
    assert!(!logs.contains("ERROR"), "{logs}");

    // 3. A damaged log segment: moved aside, counted; the spans still answer.
    for seg in segments(&dir, "logs") {
        std::fs::write(&seg, b"PAR1 this is not a parquet file PAR1").unwrap();
    }
    let third = Lookout::start(|p| config(p, &dir, "1h")).await;
    let (names, logs) = jaeger_trace(&third)
        .await
        .expect("the trace, from its segment");
    assert_eq!(names, expected.0);
    assert!(
        logs.is_empty(),
        "the damaged segment's log line is gone: {logs:?}"
    );
    let m = third.metrics().await;
    assert!(
        m.value(
            "lookout_store_corrupt_segments_total",
            &[("exporter", "store")]
        ) >= 1.0
    );
    assert!(std::fs::read_dir(dir.join("quarantine")).unwrap().count() >= 1);
    assert!(third.logs().contains("damaged segment"), "{}", third.logs());

    // 4. A range with no data answers empty, not an error.
    let (status, red) = get_json(&third, "/api/v1/services/red?start=1000&end=2000").await;
    assert_eq!(status, 200);
    assert_eq!(red["services"], serde_json::json!([]));
    let (status, series) = get_json(
        &third,
        "/api/v1/metrics/series?name=cpu&start=1000&end=2000&step=60",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(series["series"], serde_json::json!([]));
    let (_, red) = get_json(&third, "/api/v1/services/red?start=0&end=99999999999").await;
    assert_eq!(red["services"][0]["service"], "checkout");
    assert_eq!(red["services"][0]["count"], 2);
    third.stop_ok().await;
}
