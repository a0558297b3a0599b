//! Whole process: the `correlate` processor joins spans sent by the OpenTelemetry Python SDK
//! over OTLP/gRPC with JSON log lines tailed from a file by the filelog receiver, through one
//! window shared by the traces and logs pipelines.
//!
//! Lines are written before their spans exist (they must wait for them: the test proves they
//! are waiting, through lookout's own counter, before the spans are sent) and after. Every line
//! must reach the exporter with the right `service.name` and span name; the lookup API must
//! return each trace as a tree with each line on its span; the Jaeger API must answer with the
//! same spans.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`); fails without it.

mod support;

use std::io::Write;
use std::time::Duration;

use lookout_proto::otlp::common::v1::{KeyValue, any_value::Value};
use serde_json::Value as Json;
use support::sink::Sink;
use support::{Lookout, http_client, otlp_exporter, otlp_receiver, python, python_dir, service};

const TRACES: u64 = 5;

fn trace_hex(i: u64) -> String {
    format!("c0ffee0000000000{:016x}", i + 1)
}

fn root_hex(i: u64) -> String {
    format!("{:016x}", 0x1000 + 16 * i + 1)
}

fn child_hex(i: u64) -> String {
    format!("{:016x}", 0x1000 + 16 * i + 2)
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the log file");
    for line in lines {
        writeln!(file, "{line}").expect("write a line");
    }
}

fn line(msg: &str, level: &str, trace: &str, span: Option<&str>) -> String {
    let mut v = serde_json::json!({"msg": msg, "level": level, "trace_id": trace});
    if let Some(span) = span {
        v["span_id"] = Json::from(span);
    }
    v.to_string()
}

fn string<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

/// One exported log record: (msg, service.name, span.name).
type Seen = (String, Option<String>, Option<String>);

fn exported(sink: &Sink) -> Vec<Seen> {
    let mut out = Vec::new();
    for request in sink.logs() {
        for rl in &request.resource_logs {
            let res = rl
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            for sl in &rl.scope_logs {
                for r in &sl.log_records {
                    let msg = string(&r.attributes, "msg").unwrap_or_default().to_string();
                    out.push((
                        msg,
                        string(res, "service.name").map(str::to_string),
                        string(&r.attributes, "span.name").map(str::to_string),
                    ));
                }
            }
        }
    }
    out
}

async fn get_json(url: &str) -> (u16, Json) {
    let response = http_client().get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, json)
}

#[tokio::test]
async fn spans_and_tailed_lines_meet_in_one_window() {
    let interpreter = python(false);
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let sink_port = sink.port;
    let include = log.display().to_string();
    let lookout = Lookout::start(|p| {
        format!(
            "{}  filelog:\n    include: [{include}]\n    start_at: beginning\n    poll_interval: 50ms\n    operators:\n      - type: json_parser\n        severity: {{parse_from: attributes.level}}\n      - type: trace_parser\n\
             processors:\n  correlate:\n    log_wait: 60s\n\
             exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink_port, "none"),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [otlp]\n\
                 \x20   logs:\n      receivers: [filelog]\n      processors: [correlate]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;

    // Before the spans: one line per trace on its child span, and they must be waiting.
    let before: Vec<String> = (0..TRACES)
        .map(|i| {
            line(
                &format!("before {i}"),
                "info",
                &trace_hex(i),
                Some(&child_hex(i)),
            )
        })
        .collect();
    append(&log, &before);
    let waiting = "lookout_correlate_waiting_log_records_total";
    let mut seen_waiting = 0.0;
    for _ in 0..600 {
        seen_waiting = lookout
            .metrics()
            .await
            .get(waiting, &[("processor", "correlate")])
            .unwrap_or(0.0);
        if seen_waiting >= TRACES as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen_waiting,
        TRACES as f64,
        "early lines waiting\n{}",
        lookout.logs()
    );
    assert!(sink.logs().is_empty(), "no line leaves before its span");

    // The spans, from the real SDK.
    let output = tokio::process::Command::new(&interpreter)
        .arg(python_dir().join("correlate_spans.py"))
        .args(["--endpoint", &format!("127.0.0.1:{}", lookout.ports.grpc)])
        .args(["--traces", &TRACES.to_string()])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run correlate_spans.py");
    assert!(
        output.status.success(),
        "correlate_spans.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // After the spans: one line per trace on its root, and an error line without a span.
    let after: Vec<String> = (0..TRACES)
        .flat_map(|i| {
            [
                line(
                    &format!("after {i}"),
                    "info",
                    &trace_hex(i),
                    Some(&root_hex(i)),
                ),
                line(&format!("trace-only {i}"), "error", &trace_hex(i), None),
            ]
        })
        .collect();
    append(&log, &after);
    let total = (3 * TRACES) as usize;
    for _ in 0..600 {
        if sink.log_count() >= total && sink.span_count() >= (2 * TRACES) as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sink.span_count(), (2 * TRACES) as usize, "spans exported");
    let mut seen = exported(&sink);
    seen.sort();
    let mut expected: Vec<Seen> = (0..TRACES)
        .flat_map(|i| {
            [
                (
                    format!("after {i}"),
                    Some("orders".into()),
                    Some(format!("GET /order/{i}")),
                ),
                (
                    format!("before {i}"),
                    Some("orders".into()),
                    Some("db.query".into()),
                ),
                (format!("trace-only {i}"), Some("orders".into()), None),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "lookout log:\n{}", lookout.logs());

    // The lookup API: each trace a tree, each line on its span.
    let base = format!("http://127.0.0.1:{}", lookout.ports.metrics);
    for i in 0..TRACES {
        let (status, trace) = get_json(&format!("{base}/api/v1/traces/{}", trace_hex(i))).await;
        assert_eq!(status, 200, "{trace}");
        let roots = trace["spans"].as_array().expect("spans");
        assert_eq!(roots.len(), 1, "{trace}");
        let root = &roots[0];
        assert_eq!(root["span_id"], root_hex(i));
        assert_eq!(root["name"], format!("GET /order/{i}"));
        assert_eq!(root["service"], "orders");
        assert_eq!(
            root["logs"][0]["body"]
                .as_str()
                .map(|b| b.contains(&format!("after {i}"))),
            Some(true)
        );
        let child = &root["children"][0];
        assert_eq!(child["span_id"], child_hex(i));
        assert_eq!(child["name"], "db.query");
        assert_eq!(child["logs"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            child["logs"][0]["body"]
                .as_str()
                .map(|b| b.contains(&format!("before {i}"))),
            Some(true)
        );
        assert_eq!(trace["logs_without_span"].as_array().map(Vec::len), Some(1));
    }
    let (status, _) = get_json(&format!("{base}/api/v1/traces/{}", "0".repeat(31) + "1")).await;
    assert_eq!(status, 404);
    let (status, _) = get_json(&format!("{base}/api/v1/traces/not-hex")).await;
    assert_eq!(status, 400);
    let (_, found) = get_json(&format!(
        "{base}/api/v1/traces?service=orders&has_error_logs=true"
    ))
    .await;
    assert_eq!(
        found["traces"].as_array().map(Vec::len),
        Some(TRACES as usize)
    );

    // The Jaeger API: the same spans, in Jaeger's shape.
    let (_, services) = get_json(&format!("{base}/api/services")).await;
    assert_eq!(services["data"], serde_json::json!(["orders"]));
    let (_, operations) = get_json(&format!("{base}/api/services/orders/operations")).await;
    assert!(
        operations["data"]
            .as_array()
            .expect("ops")
            .contains(&Json::from("db.query"))
    );
    for i in 0..TRACES {
        let (status, body) = get_json(&format!("{base}/api/traces/{}", trace_hex(i))).await;
        assert_eq!(status, 200);
        assert!(body["errors"].is_null());
        let trace = &body["data"][0];
        assert_eq!(trace["traceID"], trace_hex(i));
        let mut ids: Vec<String> = trace["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|s| s["spanID"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        assert_eq!(ids, [root_hex(i), child_hex(i)]);
        let child = trace["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["spanID"] == child_hex(i)))
            .expect("child");
        assert_eq!(child["references"][0]["spanID"], root_hex(i));
        let pid = child["processID"].as_str().unwrap_or_default();
        assert_eq!(trace["processes"][pid]["serviceName"], "orders");
    }
    let (_, listed) = get_json(&format!(
        "{base}/api/traces?service=orders&lookback=1h&limit=20"
    ))
    .await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(TRACES as usize)
    );

    lookout.stop_ok().await;
}
