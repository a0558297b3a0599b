//! `lookout report` against the store directory of a running lookout: HTML, JSON and CSV
//! come out with what was sent (spans, errors, ERROR logs), the JSON has the documented
//! fields, the store is found through `--config` too, reading it changes no file and the
//! running process keeps writing; `GET /api/v1/report` answers the same report.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value as Json;
use support::store_api::{kv, post};
use support::{Lookout, encode, http_client, lookout_bin, otlp_receiver, service};

/// Spans per batch, of which errors.
const SPANS: u64 = 20;
const ERRORS: u64 = 2;
/// ERROR log records per batch.
const ERROR_LOGS: u64 = 3;

fn config(p: &support::Ports, dir: &Path) -> String {
    format!(
        "{receivers}exporters:\n  store:\n    directory: {dir}\n    flush_interval: 1h\n{service}",
        receivers = otlp_receiver(p, "", ""),
        dir = dir.display(),
        service = service(
            p,
            "    traces:\n      receivers: [otlp]\n      exporters: [store]\n    logs:\n      receivers: [otlp]\n      exporters: [store]\n",
        ),
    )
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", "checkout")],
        ..Default::default()
    })
}

/// `SPANS` spans (`ERRORS` failed) and `ERROR_LOGS` error records, acknowledged.
async fn send(lookout: &Lookout, round: u8) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: vec![
                round,
                i as u8 + 1,
                3,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                11,
                12,
                13,
                14,
                15,
                16,
            ],
            span_id: vec![i as u8 + 1; 8],
            name: if i % 2 == 0 { "POST /pay" } else { "GET /cart" }.into(),
            kind: 2,
            start_time_unix_nano: now - 60_000_000_000 + i * 1_000_000,
            end_time_unix_nano: now - 60_000_000_000 + i * 1_000_000 + 50_000_000,
            status: Some(Status {
                code: if i < ERRORS { 2 } else { 0 },
                ..Default::default()
            }),
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
    post(lookout, "/v1/traces", encode(&traces)).await;
    let records = (0..ERROR_LOGS)
        .map(|i| LogRecord {
            time_unix_nano: now - 30_000_000_000 + i,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!("card {i} declined"))),
            }),
            ..Default::default()
        })
        .collect();
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
    post(lookout, "/v1/logs", encode(&logs)).await;
}

/// Waits (bounded) until the store holds `rounds` of what `send` sends: the receiver
/// answers before the exporter writes.
async fn stored(lookout: &Lookout, rounds: u64) {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/report?since=1h&format=json",
        lookout.ports.metrics
    );
    let started = std::time::Instant::now();
    loop {
        let json: Json = http_client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let spans = json["services"][0]["requests"].as_u64();
        let logs = json["error_logs"][0]["count"].as_u64();
        if spans == Some(SPANS * rounds) && logs == Some(ERROR_LOGS * rounds) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the store does not hold round {rounds} after 10 s: {json}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every file under `dir` with its size.
fn listing(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.display().to_string(), e.metadata().unwrap().len());
            }
        }
    }
    out
}

/// Runs `lookout [pre] report args`, returns stdout.
fn report(pre: &[&str], args: &[&str]) -> String {
    let out = Command::new(lookout_bin())
        .args(pre)
        .arg("report")
        .args(args)
        .output()
        .expect("run lookout report");
    assert!(
        out.status.success(),
        "lookout report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn check_json(json: &Json, rounds: u64) {
    for key in [
        "generated_at",
        "from_ms",
        "to_ms",
        "services",
        "episodes",
        "error_logs",
        "host",
        "alerts",
        "forecasts",
        "notes",
    ] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
    }
    let svc = &json["services"][0];
    assert_eq!(svc["service"], "checkout", "{json}");
    assert_eq!(svc["requests"].as_u64(), Some(SPANS * rounds), "{json}");
    assert_eq!(svc["errors"].as_u64(), Some(ERRORS * rounds), "{json}");
    let ops: Vec<&str> = svc["slowest_operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["operation"].as_str().unwrap())
        .collect();
    assert!(
        ops.contains(&"POST /pay") && ops.contains(&"GET /cart"),
        "{ops:?}"
    );
    let hot = &json["error_logs"][0];
    assert_eq!(hot["service"], "checkout");
    assert_eq!(hot["message"], "card # declined");
    assert_eq!(hot["count"].as_u64(), Some(ERROR_LOGS * rounds));
    // An hour of history is too short to forecast: said, not guessed.
    for f in json["forecasts"].as_array().unwrap() {
        assert_eq!(f["method"], "none", "{f}");
        assert!(f["note"].as_str().unwrap().contains("too short"), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_reads_a_running_store_in_every_format() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    let lookout = Lookout::start(|p| config(p, &store)).await;
    send(&lookout, 1).await;
    stored(&lookout, 1).await;
    let before = listing(&store);
    let dir = store.to_str().unwrap();

    let out = data.path().join("r/report.json");
    report(
        &[],
        &[
            "--store",
            dir,
            "--since",
            "1h",
            "--format",
            "json",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    let json: Json = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    check_json(&json, 1);

    let html = report(&[], &["--store", dir, "--since", "1h", "--format", "html"]);
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("checkout") && html.contains("card # declined"));
    assert!(
        !html.contains("src=") && !html.contains("<link") && !html.contains("<script"),
        "not self-contained: {html}"
    );
    let csv = report(&[], &["--store", dir, "--since", "1h", "--format", "csv"]);
    assert!(csv.starts_with("# services\nservice,requests,"), "{csv}");
    assert!(csv.contains(&format!("\ncheckout,{SPANS},")), "{csv}");

    // The store found through the running lookout's own config file.
    let config_file = lookout.dir().join("lookout.yaml");
    let via_config = report(
        &["--config", config_file.to_str().unwrap()],
        &["--since", "1h", "--format", "json"],
    );
    check_json(&serde_json::from_str(&via_config).unwrap(), 1);

    // Reading changed nothing on disk; the writer still writes.
    assert_eq!(listing(&store), before);
    send(&lookout, 2).await;
    stored(&lookout, 2).await;
    let again = report(&[], &["--store", dir, "--since", "1h", "--format", "json"]);
    check_json(&serde_json::from_str(&again).unwrap(), 2);

    // The same report from the admin listener.
    let base = format!("http://127.0.0.1:{}/api/v1/report", lookout.ports.metrics);
    let response = http_client()
        .get(format!("{base}?since=1h&format=json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    check_json(&response.json().await.unwrap(), 2);
    let response = http_client()
        .get(format!("{base}?since=1h&format=html&download=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let bad = http_client()
        .get(format!("{base}?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // A missing store is an error, not an empty report.
    let out = Command::new(lookout_bin())
        .args(["report", "--store"])
        .arg(data.path().join("nothing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store directory"));
    lookout.stop().await;
}
