//! Delta temporality into the `prometheus` exporter: the OpenTelemetry Python SDK, told to
//! prefer delta temporality, runs twice as the same service (same resource, same series);
//! lookout must serve the counters and histograms as the sum of both runs (Prometheus only
//! knows cumulative series), and the up-down counter (which the SDK keeps cumulative) as the
//! last value. What the exporter serves is read from its `/metrics` directly; its format is
//! checked against a real Prometheus in `prometheus_scrape.rs`.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`).

mod support;

use support::{Lookout, Metrics, free_port, http_client, otlp_receiver, run_send_py, service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_counters_and_histograms_add_up_across_exports() {
    let port = free_port();
    let lookout = Lookout::start(|p| {
        format!(
            "{}exporters:\n  prometheus:\n    endpoint: 127.0.0.1:{port}\n{}",
            otlp_receiver(p, "", ""),
            service(
                p,
                "    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
            )
        )
    })
    .await;
    let endpoint = format!("127.0.0.1:{}", lookout.ports.grpc);
    let delta = [("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")];
    for _ in 0..2 {
        let emitted = run_send_py("grpc", &endpoint, "metrics", &lookout, &delta).await;
        let requests = emitted
            .iter()
            .find(|p| p["metric"] == "requests")
            .unwrap_or_else(|| panic!("no requests point in {emitted:?}"));
        // AGGREGATION_TEMPORALITY_DELTA
        assert_eq!(
            requests["temporality"], 1,
            "the SDK sent deltas: {requests}"
        );
    }

    // The exporter takes a batch off its queue after the receiver acknowledged it: poll.
    let url = format!("http://127.0.0.1:{port}/metrics");
    let id = [
        ("job", "lookout-python-peer"),
        ("instance", "peer-1"),
        ("otel_scope_name", "lookout.tests.python.meter"),
    ];
    let with = |more: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        id.iter().chain(more).copied().collect()
    };
    let started = std::time::Instant::now();
    let metrics = loop {
        let text = http_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"))
            .text()
            .await
            .expect("body");
        let metrics = Metrics::parse(&text);
        if metrics.get("latency_milliseconds_count", &with(&[("route", "/a")])) == Some(10.0) {
            break metrics;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the second run never showed up:\n{text}\nlookout log:\n{}",
            lookout.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    for (name, labels, want) in [
        (
            "requests_total",
            with(&[("route", "/a"), ("ok", "true")]),
            12.0,
        ),
        (
            "requests_total",
            with(&[("route", "/b"), ("ok", "false")]),
            4.0,
        ),
        // Up-down counters stay cumulative in the SDK: the last value, not a sum.
        ("queue_depth", with(&[("queue", "q1")]), 6.0),
        ("latency_milliseconds_count", with(&[("route", "/a")]), 10.0),
        ("latency_milliseconds_sum", with(&[("route", "/a")]), 546.5),
        (
            "latency_milliseconds_bucket",
            with(&[("route", "/a"), ("le", "5")]),
            4.0,
        ),
        (
            "latency_milliseconds_bucket",
            with(&[("route", "/a"), ("le", "+Inf")]),
            10.0,
        ),
        ("latency_milliseconds_count", with(&[("route", "/b")]), 2.0),
        ("temperature_celsius", with(&[("room", "kitchen")]), 21.5),
    ] {
        assert_eq!(
            metrics.value(name, &labels),
            want,
            "{name}{labels:?}:\n{}",
            metrics.text()
        );
    }
    let own = lookout.metrics().await;
    assert_eq!(
        own.value(
            "lookout_exporter_prometheus_dropped_points_total",
            &[("exporter", "prometheus")]
        ),
        0.0
    );
    lookout.stop_ok().await;
}
