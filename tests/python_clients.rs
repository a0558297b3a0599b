//! Real clients nobody here wrote: the OpenTelemetry Python SDK's OTLP exporters (gRPC and
//! HTTP protobuf, both gzip-compressed, and HTTP JSON) send spans, metrics and logs to
//! `lookout`, which batches them and exports them over OTLP/gRPC (gzip) to the test sink. Every
//! item the SDK emitted must arrive once, with ids, names, timestamps, attributes, resource and
//! scope intact, and lookout's accepted counter must match.
//!
//! Needs `LOOKOUT_PYTHON` and `LOOKOUT_PYTHON_JSON` (set by `.ci/run`); fails without them.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::normalize::{self, assert_same_items};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, python, python_dir, simple_config};

/// Runs `send.py` and returns the items it says it emitted.
async fn run_python(protocol: &str, endpoint: &str, signal: &str, lookout: &Lookout) -> Vec<Value> {
    let interpreter = python(protocol == "json");
    let script = python_dir().join("send.py");
    let mut command = tokio::process::Command::new(&interpreter);
    command
        .arg(&script)
        .args([
            "--protocol",
            protocol,
            "--endpoint",
            endpoint,
            "--signal",
            signal,
        ])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    // The protobuf exporters compress with gzip (exercising lookout's decompression with a
    // real client); the JSON exporter sends plain bodies.
    if protocol != "json" {
        command.env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{interpreter} send.py did not finish within 120 s"))
        .unwrap_or_else(|err| panic!("cannot run {interpreter}: {err}"));
    assert!(
        output.status.success(),
        "send.py --protocol {protocol} --signal {signal} failed ({}):\n{}\nlookout log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        lookout.logs()
    );
    let emitted: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "send.py printed no JSON ({err}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let items = emitted["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "send.py emitted nothing: {emitted}");
    items
}

async fn roundtrip(protocol: &str, signal: &str) {
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| {
        simple_config(
            p,
            "    timeout: 50ms\n",
            &otlp_exporter("otlp", sink.port, "gzip"),
            "[otlp]",
        )
    })
    .await;
    let (endpoint, transport) = match protocol {
        "grpc" => (format!("127.0.0.1:{}", lookout.ports.grpc), "grpc"),
        _ => (format!("http://127.0.0.1:{}", lookout.ports.http), "http"),
    };
    let expected = run_python(protocol, &endpoint, signal, &lookout).await;

    let item_name = match signal {
        "traces" => "spans",
        "metrics" => "metric_points",
        _ => "log_records",
    };
    let accepted = lookout.metrics().await.value(
        &format!("lookout_receiver_accepted_{item_name}_total"),
        &[("receiver", "otlp"), ("transport", transport)],
    );
    assert_eq!(
        accepted,
        expected.len() as f64,
        "lookout_receiver_accepted_{item_name}_total{{transport={transport}}}"
    );

    // A clean stop drains everything lookout accepted: after it, the sink holds all it will get.
    lookout.stop_ok().await;
    let actual = match signal {
        "traces" => normalize::spans(&sink.traces()),
        "metrics" => normalize::points(&sink.metrics()),
        _ => normalize::log_records(&sink.logs()),
    };
    assert_same_items(&format!("{protocol} {signal}"), &actual, &expected);
    let encodings = sink.encodings();
    assert!(
        !encodings.is_empty() && encodings.iter().all(|e| e == "gzip"),
        "lookout's exporter was configured for gzip, sink saw {encodings:?}"
    );
}

macro_rules! roundtrip_tests {
    ($($name:ident: $protocol:literal, $signal:literal;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                roundtrip($protocol, $signal).await;
            }
        )*
    };
}

roundtrip_tests! {
    grpc_traces: "grpc", "traces";
    grpc_metrics: "grpc", "metrics";
    grpc_logs: "grpc", "logs";
    http_protobuf_traces: "http", "traces";
    http_protobuf_metrics: "http", "metrics";
    http_protobuf_logs: "http", "logs";
    http_json_traces: "json", "traces";
    http_json_metrics: "json", "metrics";
    http_json_logs: "json", "logs";
}
