//! The trace APIs with both a `correlate` window and a `store`: a trace no longer in the
//! window (the collector restarted: the window is empty) is answered from the store, a trace
//! in both comes from the window, and the service lists of both are merged.

mod support;

use std::path::Path;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::Value as Json;
use support::{Lookout, encode, http_client, otlp_receiver, service};

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

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service_name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service_name)],
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
async fn send(lookout: &Lookout, trace: &str, service_name: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let trace_id = hex::decode(trace).unwrap();
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
            resource: resource(service_name),
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
            resource: resource(service_name),
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
async fn jaeger_trace(lookout: &Lookout, trace: &str) -> Option<(Vec<String>, Vec<String>)> {
    let (status, body) = get_json(lookout, &format!("/api/traces/{trace}")).await;
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
