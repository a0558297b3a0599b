//! What the store tests send and read: one two-span trace with a log line of its child, over
//! OTLP/HTTP, and the admin listener's JSON answers (the Jaeger API among them).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde_json::Value as Json;

use super::spans::resource;
use super::{Lookout, encode, http_client};

/// A string attribute.
pub(crate) fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// POSTs a protobuf body to the OTLP/HTTP receiver; asserts 200.
pub(crate) async fn post(lookout: &Lookout, path: &str, body: Vec<u8>) {
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
pub(crate) async fn send(lookout: &Lookout, trace: &str, service_name: &str) {
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

/// GETs `path` from the admin listener: (status, JSON body).
pub(crate) async fn get_json(lookout: &Lookout, path: &str) -> (u16, Json) {
    let url = format!("http://127.0.0.1:{}{path}", lookout.ports.metrics);
    let response = http_client().get(&url).send().await.expect("GET");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, json)
}

/// The trace from the Jaeger API: (span names, log messages).
pub(crate) async fn jaeger_trace(
    lookout: &Lookout,
    trace: &str,
) -> Option<(Vec<String>, Vec<String>)> {
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
