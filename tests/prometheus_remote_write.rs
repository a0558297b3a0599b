//! The `prometheusremotewrite` exporter writing into a real Prometheus (Debian's package, with
//! `--web.enable-remote-write-receiver`). Into one exporter: the OpenTelemetry Python SDK's
//! metrics over OTLP/gRPC (a counter, an up-down counter, a histogram in ms, a gauge in °C)
//! and the RED metrics the `latency_anomaly` connector derives from the SDK's spans; into a
//! second one, with `resource_to_telemetry_conversion`, the `hostmetrics` receiver's CPU and
//! memory metrics. Prometheus's query API must then return every series with the names,
//! labels and values the OpenTelemetry → Prometheus compatibility rules give. Finally the SDK
//! sends again with delta temporality: those points are dropped, counted and logged once.
//!
//! Needs `prometheus` on the PATH (`.ci/run` installs it) and `LOOKOUT_PYTHON`. Without the
//! binary the test fails when `CI` or `LOOKOUT_REQUIRE_PEERS` is set and is skipped, with a
//! notice, otherwise.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::prometheus::{self, LIMIT, Prometheus};
use support::{Lookout, otlp_receiver, run_send_py, service};

type Series = (BTreeMap<String, String>, f64);

fn config(p: &support::Ports, prometheus_port: u16) -> String {
    let write = format!("http://127.0.0.1:{prometheus_port}/api/v1/write");
    format!(
        "{}  hostmetrics:\n    collection_interval: 1s\n    initial_delay: 0s\n    scrapers:\n      cpu:\n      memory:\n\
         processors:\n  latency_anomaly:\n\
         connectors:\n  latency_anomaly:\n    red_metrics:\n      flush_interval: 1s\n\
         exporters:\n  prometheusremotewrite:\n    endpoint: {write}\n    external_labels:\n      source: app\n\
         \x20 prometheusremotewrite/host:\n    endpoint: {write}\n    resource_to_telemetry_conversion:\n      enabled: true\n    external_labels:\n      source: host\n{}",
        otlp_receiver(p, "", ""),
        service(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly]\n      exporters: [latency_anomaly]\n\
             \x20   metrics:\n      receivers: [otlp, latency_anomaly]\n      exporters: [prometheusremotewrite]\n\
             \x20   metrics/host:\n      receivers: [hostmetrics]\n      exporters: [prometheusremotewrite/host]\n"
        )
    )
}

/// `labels` as a map, with `__name__`.
fn named(name: &str, labels: &[(&str, &str)]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .chain([("__name__".to_string(), name.to_string())])
        .collect()
}

/// The labels every series `send.py` sent has, plus `more`.
fn sdk(name: &str, more: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut all = vec![
        ("job", "lookout-python-peer"),
        ("instance", "peer-1"),
        ("otel_scope_name", "lookout.tests.python.meter"),
        ("otel_scope_version", "4.5.6"),
        ("source", "app"),
    ];
    all.extend_from_slice(more);
    named(name, &all)
}

/// Asserts that `result` holds exactly the series `want`.
fn assert_series(what: &str, result: &[Series], want: &[Series]) {
    let key = |a: &Series| format!("{:?}", a.0);
    let mut got = result.to_vec();
    let mut want = want.to_vec();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want, "{what}");
}

/// The host's total memory from `/proc/meminfo`, in bytes.
fn mem_total() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kib * 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_receives_what_lookout_writes() {
    if !prometheus::installed() {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("LOOKOUT_REQUIRE_PEERS").is_none(),
            "the `prometheus` binary is missing; CI must install it (`.ci/run` does: apt-get install -y prometheus)"
        );
        eprintln!(
            "NOTICE: prometheus_remote_write skipped: no `prometheus` binary on the PATH (apt-get install -y prometheus)"
        );
        return;
    }
    let prometheus = Prometheus::start(&[], &["--web.enable-remote-write-receiver"]).await;
    let lookout = Lookout::start(|p| config(p, prometheus.port())).await;
    let endpoint = format!("127.0.0.1:{}", lookout.ports.grpc);
    run_send_py("grpc", &endpoint, "metrics", &lookout, &[]).await;
    run_send_py("grpc", &endpoint, "traces", &lookout, &[]).await;

    // The SDK's metrics: the same series the `prometheus` exporter serves.
    let requests = prometheus
        .wait_for("requests_total{source=\"app\"}", 2)
        .await;
    assert_series(
        "requests_total",
        &requests,
        &[
            (
                sdk("requests_total", &[("route", "/a"), ("ok", "true")]),
                6.0,
            ),
            (
                sdk("requests_total", &[("route", "/b"), ("ok", "false")]),
                2.0,
            ),
        ],
    );
    let depth = prometheus.wait_for("queue_depth", 1).await;
    assert_series(
        "queue_depth",
        &depth,
        &[(sdk("queue_depth", &[("queue", "q1")]), 6.0)],
    );
    let temperature = prometheus.wait_for("temperature_celsius", 2).await;
    assert_series(
        "temperature_celsius",
        &temperature,
        &[
            (sdk("temperature_celsius", &[("room", "kitchen")]), 21.5),
            (sdk("temperature_celsius", &[("room", "cellar")]), -3.0),
        ],
    );
    let count = prometheus.wait_for("latency_milliseconds_count", 2).await;
    assert_series(
        "latency_milliseconds_count",
        &count,
        &[
            (sdk("latency_milliseconds_count", &[("route", "/a")]), 5.0),
            (sdk("latency_milliseconds_count", &[("route", "/b")]), 1.0),
        ],
    );
    let sum = prometheus.wait_for("latency_milliseconds_sum", 2).await;
    assert_series(
        "latency_milliseconds_sum",
        &sum,
        &[
            (sdk("latency_milliseconds_sum", &[("route", "/a")]), 273.25),
            (sdk("latency_milliseconds_sum", &[("route", "/b")]), 99.0),
        ],
    );
    // The SDK's default bounds 0, 5, 10, 25, 50, 75, 100, 250, ... 10000 and +Inf; /a saw
    // 0.5, 3, 12.5, 250, 7.25.
    let buckets = prometheus
        .wait_for("latency_milliseconds_bucket{route=\"/a\"}", 16)
        .await;
    let le = |bound: &str| {
        buckets
            .iter()
            .find(|(l, _)| l.get("le").map(String::as_str) == Some(bound))
            .map(|(l, v)| {
                assert_eq!(l["job"], "lookout-python-peer", "{l:?}");
                *v
            })
            .unwrap_or_else(|| panic!("no le={bound} bucket: {buckets:?}"))
    };
    for (bound, want) in [
        ("0", 0.0),
        ("5", 2.0),
        ("10", 3.0),
        ("25", 4.0),
        ("100", 4.0),
        ("250", 5.0),
        ("10000", 5.0),
        ("+Inf", 5.0),
    ] {
        assert_eq!(le(bound), want, "latency_milliseconds_bucket{{le={bound}}}");
    }
    // target_info: the resource's other attributes, with job and instance.
    let target = prometheus
        .wait_for("target_info{job=\"lookout-python-peer\"}", 1)
        .await;
    let (target_labels, value) = &target[0];
    assert_eq!(*value, 1.0);
    for (k, v) in [
        ("instance", "peer-1"),
        ("deployment_replicas", "3"),
        ("host_arm", "false"),
        ("telemetry_sdk_language", "python"),
        ("source", "app"),
    ] {
        assert_eq!(
            target_labels.get(k).map(String::as_str),
            Some(v),
            "target_info {k}: {target_labels:?}"
        );
    }

    // RED metrics of the SDK's spans (one trace: checkout → db.query (error) → retry, publish,
    // consume), job from the span's service.
    let red = |span: &str, kind: &str, status: &str| {
        format!(
            "job=\"lookout-python-peer\",span_name=\"{span}\",span_kind=\"{kind}\",status_code=\"{status}\""
        )
    };
    let checkout = red("checkout", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET");
    let calls = prometheus
        .wait_for(&format!("traces_span_metrics_calls_total{{{checkout}}}"), 1)
        .await;
    assert_eq!(calls[0].1, 1.0, "{calls:?}");
    let db = red("db.query", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR");
    let calls = prometheus
        .wait_for(&format!("traces_span_metrics_calls_total{{{db}}}"), 1)
        .await;
    assert_eq!(calls[0].1, 1.0, "{calls:?}");
    let duration = prometheus
        .wait_for(
            &format!("traces_span_metrics_duration_milliseconds_count{{{checkout}}}"),
            1,
        )
        .await;
    assert_eq!(duration[0].1, 1.0, "{duration:?}");
    let inf = prometheus
        .wait_for(
            &format!("traces_span_metrics_duration_milliseconds_bucket{{{checkout},le=\"+Inf\"}}"),
            1,
        )
        .await;
    assert_eq!(inf[0].1, 1.0, "{inf:?}");
    let spans = prometheus
        .wait_for("sum(traces_span_metrics_calls_total{source=\"app\"})", 1)
        .await;
    assert_eq!(spans[0].1, 5.0, "every span counted once: {spans:?}");

    // Host metrics, with the resource's attributes as labels.
    let host = sysinfo_host_name();
    let cpu = prometheus
        .wait_for(
            &format!(
                "count(system_cpu_time_seconds_total{{source=\"host\",state=\"user\",host_name=\"{host}\"}})"
            ),
            1,
        )
        .await;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    #[allow(clippy::cast_precision_loss)]
    let cpus = cpus as f64;
    assert!(
        cpu[0].1 >= cpus,
        "one user-time series per CPU ({cpus}): {cpu:?}"
    );
    let user = prometheus
        .wait_for(
            "sum(system_cpu_time_seconds_total{source=\"host\",state=\"user\"})",
            1,
        )
        .await;
    assert!(user[0].1 > 0.0, "CPU user time grows: {user:?}");
    let memory = prometheus
        .wait_for("sum(system_memory_usage_bytes{source=\"host\"})", 1)
        .await;
    let total = mem_total();
    assert!(
        (memory[0].1 - total).abs() <= total * 0.05,
        "the memory states add up to MemTotal {total}: {memory:?}"
    );
    let used = prometheus
        .wait_for(
            &format!("system_memory_usage_bytes{{source=\"host\",state=\"used\",os_type=\"linux\",host_name=\"{host}\"}}"),
            1,
        )
        .await;
    assert!(used[0].1 > 0.0 && used[0].1 < total, "{used:?}");

    // Deltas: remote write carries cumulative series; the SDK's delta counter (2 points) and
    // histogram (2 points) are dropped and counted, each time, and logged once.
    for _ in 0..2 {
        run_send_py(
            "grpc",
            &endpoint,
            "metrics",
            &lookout,
            &[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")],
        )
        .await;
    }
    let counted = Instant::now();
    loop {
        let dropped = lookout
            .metrics()
            .await
            .get(
                "lookout_exporter_prometheusremotewrite_dropped_points_total",
                &[("exporter", "prometheusremotewrite"), ("reason", "delta")],
            )
            .unwrap_or(0.0);
        if dropped == 8.0 {
            break;
        }
        assert!(
            dropped < 8.0 && counted.elapsed() < LIMIT,
            "delta points dropped: {dropped}, want 8\n{}",
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = lookout.logs();
    assert_eq!(
        logs.matches("delta sums and histograms are dropped")
            .count(),
        1,
        "{logs}"
    );
    // The delta sends did not disturb the cumulative series.
    let requests = prometheus
        .query("requests_total{source=\"app\",route=\"/a\"}")
        .await;
    assert_eq!(requests.len(), 1, "{requests:?}");

    let metrics = lookout.metrics().await;
    for reason in ["unsupported", "reserved_label"] {
        assert_eq!(
            metrics.value(
                "lookout_exporter_prometheusremotewrite_dropped_points_total",
                &[("exporter", "prometheusremotewrite"), ("reason", reason)]
            ),
            0.0,
            "{reason}"
        );
    }
    drop(prometheus);
    lookout.stop_ok().await;
}

/// The host name the hostmetrics receiver reports (`host.name`).
fn sysinfo_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .expect("read /proc/sys/kernel/hostname")
}
