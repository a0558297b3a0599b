//! The `prometheus` exporter scraped by a real Prometheus (Debian's package): the OpenTelemetry
//! Python SDK sends a counter, an up-down counter, a histogram in ms and a gauge in °C over
//! OTLP/gRPC; lookout serves them on two `prometheus` exporters, one in the text format 0.0.4
//! and one answering OpenMetrics when asked (Prometheus asks); Prometheus scrapes both every
//! second, and its query API must return every series with the names, labels and values the
//! OpenTelemetry → Prometheus compatibility rules give. The OpenMetrics exporter has a short
//! `metric_expiration`: its series must then leave the scrape and go stale in Prometheus.
//!
//! Needs `prometheus` on the PATH (`.ci/run` installs it) and `LOOKOUT_PYTHON`. Without the
//! binary the test fails when `CI` is set and is skipped, with a notice, otherwise.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::prometheus::{self, LIMIT, Prometheus};
use support::{Lookout, free_port, http_client, otlp_receiver, run_send_py, service};

/// `metric_expiration` of the OpenMetrics exporter.
const EXPIRATION: &str = "15s";

/// The labels every series from `send.py` has, plus `more`.
fn labels(format: &str, more: &[(&str, &str)]) -> BTreeMap<String, String> {
    [
        ("job", "lookout-python-peer"),
        ("instance", "peer-1"),
        ("otel_scope_name", "lookout.tests.python.meter"),
        ("otel_scope_version", "4.5.6"),
        ("format", format),
    ]
    .iter()
    .chain(more)
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect()
}

/// Asserts that `result` holds exactly the series `want` (labels → value).
fn assert_series(
    what: &str,
    result: &[(BTreeMap<String, String>, f64)],
    want: &[(BTreeMap<String, String>, f64)],
) {
    let mut got: Vec<_> = result.to_vec();
    let mut want: Vec<_> = want.to_vec();
    let key = |a: &(BTreeMap<String, String>, f64)| format!("{:?}", a.0);
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want, "{what}");
}

fn config(p: &support::Ports, text_port: u16, om_port: u16) -> String {
    format!(
        "{}exporters:\n  prometheus:\n    endpoint: 127.0.0.1:{text_port}\n    const_labels:\n      format: text\n  prometheus/om:\n    endpoint: 127.0.0.1:{om_port}\n    enable_open_metrics: true\n    metric_expiration: {EXPIRATION}\n    const_labels:\n      format: openmetrics\n{}",
        otlp_receiver(p, "", ""),
        service(
            p,
            "    metrics:\n      receivers: [otlp]\n      exporters: [prometheus, prometheus/om]\n"
        )
    )
}

/// GETs `/metrics` of an exporter with `accept`; returns the content type and the body.
async fn scrape(port: u16, accept: &str) -> (String, String) {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let response = http_client()
        .get(&url)
        .header("accept", accept)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"));
    assert_eq!(response.status(), reqwest::StatusCode::OK, "GET {url}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (content_type, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_what_the_python_sdk_sent() {
    if !prometheus::installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the `prometheus` binary is missing; CI must install it (`.ci/run` does: apt-get install -y prometheus)"
        );
        eprintln!(
            "NOTICE: prometheus_scrape skipped: no `prometheus` binary on the PATH (apt-get install -y prometheus)"
        );
        return;
    }
    let (text_port, om_port) = (free_port(), free_port());
    let lookout = Lookout::start(|p| config(p, text_port, om_port)).await;
    let prometheus =
        Prometheus::start(&[("lookout-text", text_port), ("lookout-om", om_port)], &[]).await;

    let endpoint = format!("127.0.0.1:{}", lookout.ports.grpc);
    let emitted = run_send_py("grpc", &endpoint, "metrics", &lookout, &[]).await;
    assert!(
        emitted.iter().any(|p| p["metric"] == "latency"),
        "send.py emitted no latency histogram: {emitted:?}"
    );

    // What each exporter serves, read directly: the negotiated format.
    let om_accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (content_type, body) = scrape(text_port, om_accept).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(body.contains("# TYPE requests_total counter\n"), "{body}");
    let (content_type, body) = scrape(om_port, om_accept).await;
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    assert!(body.contains("# TYPE requests counter\n"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    let (content_type, _) = scrape(om_port, "text/plain").await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );

    let client = http_client();
    let other = client
        .get(format!("http://127.0.0.1:{text_port}/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(other.status(), reqwest::StatusCode::NOT_FOUND);
    let post = client
        .post(format!("http://127.0.0.1:{text_port}/metrics"))
        .send()
        .await
        .expect("POST /metrics");
    assert_eq!(post.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);

    for format in ["text", "openmetrics"] {
        let sel = format!("format=\"{format}\"");
        let requests = prometheus
            .wait_for(&format!("requests_total{{{sel}}}"), 2)
            .await;
        assert_series(
            &format!("requests_total ({format})"),
            &requests,
            &[
                (
                    labels(format, &[("route", "/a"), ("ok", "true")])
                        .into_iter()
                        .chain([("__name__".to_string(), "requests_total".to_string())])
                        .collect(),
                    6.0,
                ),
                (
                    labels(format, &[("route", "/b"), ("ok", "false")])
                        .into_iter()
                        .chain([("__name__".to_string(), "requests_total".to_string())])
                        .collect(),
                    2.0,
                ),
            ],
        );

        let named = |name: &str, more: &[(&str, &str)]| -> BTreeMap<String, String> {
            labels(format, more)
                .into_iter()
                .chain([("__name__".to_string(), name.to_string())])
                .collect()
        };
        // An up-down counter is a gauge; `{item}` adds no unit word.
        let depth = prometheus
            .wait_for(&format!("queue_depth{{{sel}}}"), 1)
            .await;
        assert_series(
            "queue_depth",
            &depth,
            &[(named("queue_depth", &[("queue", "q1")]), 6.0)],
        );
        let temperature = prometheus
            .wait_for(&format!("temperature_celsius{{{sel}}}"), 2)
            .await;
        assert_series(
            "temperature_celsius",
            &temperature,
            &[
                (named("temperature_celsius", &[("room", "kitchen")]), 21.5),
                (named("temperature_celsius", &[("room", "cellar")]), -3.0),
            ],
        );

        // Histogram: the SDK's default bounds 0, 5, 10, 25, 50, 75, 100, 250, ... (upper
        // bounds inclusive); /a saw 0.5, 3, 12.5, 250, 7.25 and /b saw 99.
        let count = prometheus
            .wait_for(&format!("latency_milliseconds_count{{{sel}}}"), 2)
            .await;
        assert_series(
            "latency_milliseconds_count",
            &count,
            &[
                (named("latency_milliseconds_count", &[("route", "/a")]), 5.0),
                (named("latency_milliseconds_count", &[("route", "/b")]), 1.0),
            ],
        );
        let sum = prometheus
            .wait_for(&format!("latency_milliseconds_sum{{{sel}}}"), 2)
            .await;
        assert_series(
            "latency_milliseconds_sum",
            &sum,
            &[
                (
                    named("latency_milliseconds_sum", &[("route", "/a")]),
                    273.25,
                ),
                (named("latency_milliseconds_sum", &[("route", "/b")]), 99.0),
            ],
        );
        let buckets = prometheus
            .wait_for(
                &format!("latency_milliseconds_bucket{{{sel},route=\"/a\"}}"),
                16,
            )
            .await;
        let by_le: BTreeMap<String, f64> = buckets
            .iter()
            .map(|(l, v)| (l.get("le").cloned().unwrap_or_default(), *v))
            .collect();
        // OpenMetrics bounds are canonical floats ("5.0"), text-format ones as sent ("5");
        // Prometheus keeps what it read.
        let le = |b: &str| {
            by_le
                .iter()
                .find(|(k, _)| k.parse::<f64>().ok() == b.parse::<f64>().ok())
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("no le={b} bucket ({format}): {by_le:?}"))
        };
        for (bound, want) in [
            ("0", 0.0),
            ("5", 2.0),
            ("10", 3.0),
            ("25", 4.0),
            ("50", 4.0),
            ("100", 4.0),
            ("250", 5.0),
            ("500", 5.0),
            ("10000", 5.0),
            ("+Inf", 5.0),
        ] {
            assert_eq!(
                le(bound),
                want,
                "latency_milliseconds_bucket{{le={bound}}} ({format})"
            );
        }
        let b_buckets = prometheus
            .wait_for(
                &format!("latency_milliseconds_bucket{{{sel},route=\"/b\"}}"),
                16,
            )
            .await;
        let b_le = |b: f64| {
            b_buckets
                .iter()
                .find(|(l, _)| l.get("le").and_then(|v| v.parse::<f64>().ok()) == Some(b))
                .map(|(_, v)| *v)
        };
        assert_eq!(
            (b_le(75.0), b_le(100.0), b_le(f64::INFINITY)),
            (Some(0.0), Some(1.0), Some(1.0)),
            "route /b buckets ({format}): {b_buckets:?}"
        );

        // target_info: the resource's other attributes, with job and instance.
        let target = prometheus
            .wait_for(&format!("target_info{{{sel}}}"), 1)
            .await;
        let (target_labels, value) = &target[0];
        assert_eq!(*value, 1.0);
        for (k, v) in [
            ("job", "lookout-python-peer"),
            ("instance", "peer-1"),
            ("deployment_replicas", "3"),
            ("host_arm", "false"),
            ("telemetry_sdk_language", "python"),
        ] {
            assert_eq!(
                target_labels.get(k).map(String::as_str),
                Some(v),
                "target_info {k} ({format}): {target_labels:?}"
            );
        }
        assert!(
            !target_labels.contains_key("service_name"),
            "service.name is the job, not a label: {target_labels:?}"
        );
    }

    // Staleness: the OpenMetrics exporter forgets the series `metric_expiration` after their
    // last point; Prometheus then marks them stale, while the text exporter keeps serving.
    let started = Instant::now();
    loop {
        let (_, body) = scrape(om_port, om_accept).await;
        if !body.contains("requests_total") {
            assert_eq!(body, "# EOF\n", "everything expired together");
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "series still served {LIMIT:?} after the last point:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    prometheus
        .wait_for("requests_total{format=\"openmetrics\"}", 0)
        .await;
    prometheus
        .wait_for("target_info{format=\"openmetrics\"}", 0)
        .await;
    let still = prometheus.query("requests_total{format=\"text\"}").await;
    assert_eq!(still.len(), 2, "the text exporter still serves: {still:?}");

    let metrics = lookout.metrics().await;
    assert_eq!(
        metrics.value(
            "lookout_exporter_prometheus_dropped_points_total",
            &[("exporter", "prometheus")]
        ),
        0.0
    );
    drop(prometheus);
    lookout.stop_ok().await;
}
