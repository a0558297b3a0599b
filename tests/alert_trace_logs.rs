//! A latency alert reaches a webhook with the log lines of its example traces: spans sent over
//! OTLP/HTTP shift `GET /search` from 10 ms to 40 ms, and every span's trace also logs one
//! ERROR line, sent over OTLP/HTTP into a logs pipeline. The `latency_anomaly` processor opens
//! an episode and sends it to the `alerting` extension with example trace ids; the `correlate`
//! processor listed in the traces and logs pipelines holds those traces' spans and log lines;
//! when the group is flushed the extension looks the lines up there, and the `webhook`
//! notifier (format `json`) posts them as `evidence.logs` to a local server. Without a
//! `correlate` processor the same alert arrives with its trace ids and no lines.

mod support;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use support::sink::Sink;
use support::spans::Gen;
use support::webhook::{Hooks, start_webhook};
use support::{Lookout, http_client, otlp_exporter, otlp_receiver, service};

const LIMIT: Duration = Duration::from_secs(60);

// === the webhook ===

// === spans and their log lines ===

/// The line every trace logs (the test finds it again in the alert).
fn line_of(trace_hex: &str) -> String {
    format!("search backend timed out for {trace_hex}")
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue("shop".into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

async fn post_to(client: &reqwest::Client, lookout: &Lookout, path: &str, body: Vec<u8>) {
    let response = client
        .post(lookout.http_url(path))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert_eq!(response.status(), reqwest::StatusCode::OK, "POST {path}");
}

/// Sends the spans, then one ERROR line on each span.
async fn send(client: &reqwest::Client, lookout: &Lookout, spans: Vec<Span>) {
    let records: Vec<LogRecord> = spans
        .iter()
        .map(|s| LogRecord {
            time_unix_nano: s.end_time_unix_nano,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(line_of(&hex::encode(&s.trace_id)))),
            }),
            trace_id: s.trace_id.clone(),
            span_id: s.span_id.clone(),
            ..Default::default()
        })
        .collect();
    let traces = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    post_to(client, lookout, "/v1/traces", support::encode(&traces)).await;
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    post_to(client, lookout, "/v1/logs", support::encode(&logs)).await;
}

/// With `correlate`, the processor sits in the traces and the logs pipelines; without, the
/// logs pipeline only forwards.
fn config(p: &support::Ports, sink: u16, hook: u16, correlate: bool) -> String {
    // group_wait gives the log lines of the example traces time to reach the window.
    let alerting = format!(
        "extensions:\n  alerting:\n    notifiers:\n      hook:\n        webhook: {{endpoint: 'http://127.0.0.1:{hook}/hook', format: json, timeout: 5s}}\n    route:\n      notifiers: [hook]\n      group_by: [alertname]\n      group_wait: 2s\n      group_interval: 1s\n      repeat_interval: 1h\n  health_check:"
    );
    let pipelines = if correlate {
        "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly, correlate]\n      exporters: [otlp]\n    logs:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [otlp]\n"
    } else {
        "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly]\n      exporters: [otlp]\n    logs:\n      receivers: [otlp]\n      exporters: [otlp]\n"
    };
    format!(
        "{}processors:\n  latency_anomaly:\n    min_samples: 50\n    sequential_min_samples: 100\n    episodes:\n      resolve_after: 2s\n    alerting: alerting\n  correlate:\n    log_wait: 1s\nexporters:\n{}{}",
        otlp_receiver(p, "", ""),
        otlp_exporter("otlp", sink, "none"),
        service(p, pipelines)
            .replacen("extensions:\n  health_check:", &alerting, 1)
            .replacen(
                "  extensions: [health_check]",
                "  extensions: [health_check, alerting]",
                1
            ),
    )
}

/// The first LatencyAnomaly alert of `GET /search` the webhook received, if any.
fn latency_alert(hooks: &Hooks) -> Option<serde_json::Value> {
    hooks
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .find(|a| {
            a["labels"]["alertname"] == "LatencyAnomaly"
                && a["labels"]["span.name"] == "GET /search"
                && a["status"] == "firing"
        })
}

/// Sends a warm-up at 10 ms, then a lasting shift to 40 ms (each trace logging its line), and
/// waits for the first firing LatencyAnomaly alert at the webhook.
async fn provoke(lookout: &Lookout, hooks: &Hooks) -> serde_json::Value {
    let client = http_client();
    let mut g = Gen {
        state: 42,
        clock: 1_700_000_000_000_000_000,
        next_id: 0,
    };
    for _ in 0..10 {
        let spans = (0..40).map(|_| g.span("GET /search", 10.0)).collect();
        send(&client, lookout, spans).await;
    }
    for _ in 0..5 {
        let spans = (0..40).map(|_| g.span("GET /search", 40.0)).collect();
        send(&client, lookout, spans).await;
    }
    let started = Instant::now();
    loop {
        if let Some(alert) = latency_alert(hooks) {
            return alert;
        }
        assert!(
            started.elapsed() < LIMIT,
            "no LatencyAnomaly alert at the webhook after {LIMIT:?}; got {:#?}\nlookout log:\n{}",
            hooks.lock().unwrap(),
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The example trace ids of an alert.
fn trace_ids(alert: &serde_json::Value) -> Vec<String> {
    alert["evidence"]["trace_ids"]
        .as_array()
        .expect("trace_ids")
        .iter()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_alert_carries_the_log_lines_of_its_example_traces() {
    let (hook_port, hooks, hook_task) = start_webhook().await;
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| config(p, sink.port, hook_port, true)).await;
    let alert = provoke(&lookout, &hooks).await;

    // The first firing notification already carries the lines.
    let trace_ids = trace_ids(&alert);
    assert!(!trace_ids.is_empty(), "{alert:#}");
    let logs = alert["evidence"]["logs"].as_array().expect("evidence.logs");
    assert!(
        !logs.is_empty(),
        "log lines of the example traces: {alert:#}"
    );
    assert!(logs.len() <= 10, "at most 10 lines per alert: {alert:#}");
    for log in logs {
        let trace = log["trace_id"].as_str().expect("trace_id");
        assert!(
            trace_ids[..trace_ids.len().min(3)]
                .iter()
                .any(|t| t == trace),
            "a line of one of the first three example traces: {alert:#}"
        );
        assert_eq!(log["body"], line_of(trace), "{alert:#}");
        assert_eq!(log["severity"], "ERROR", "{alert:#}");
        assert_eq!(log["span_id"].as_str().map(str::len), Some(16), "{alert:#}");
        assert!(
            log["time"]
                .as_str()
                .is_some_and(|t| t.starts_with("2023-11-14T")),
            "the record's own time: {alert:#}"
        );
    }

    drop(hook_task);
    lookout.stop_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_correlate_the_alert_carries_its_trace_ids_alone() {
    let (hook_port, hooks, hook_task) = start_webhook().await;
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| config(p, sink.port, hook_port, false)).await;
    let alert = provoke(&lookout, &hooks).await;
    assert!(!trace_ids(&alert).is_empty(), "{alert:#}");
    assert_eq!(
        alert["evidence"]["logs"].as_array().map(Vec::len),
        Some(0),
        "{alert:#}"
    );
    drop(hook_task);
    lookout.stop_ok().await;
}
