//! Real clients nobody here wrote: the OpenTelemetry Python SDK's OTLP exporters (gRPC and
//! HTTP protobuf, both gzip-compressed, and HTTP JSON) send spans, metrics and logs to
//! `lookout`, which batches them and exports them over OTLP/gRPC (gzip) to the test sink. Every
//! item the SDK emitted must arrive once, with ids, names, timestamps, attributes, resource and
//! scope intact, and lookout's accepted counter must match.
//!
//! Needs `LOOKOUT_PYTHON` and `LOOKOUT_PYTHON_JSON` (set by `.ci/run`); fails without them.

mod support;

use support::normalize::{self, assert_same_items};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, run_send_py, simple_config};

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
    let expected = run_send_py(protocol, &endpoint, signal, &lookout, &[]).await;

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
