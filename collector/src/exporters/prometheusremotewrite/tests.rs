//! Translation of each metric kind, request splitting, and the exporter against a local HTTP
//! server that decodes what it receives (snappy, then protobuf) as Prometheus does.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use lookout_proto::otlp::metrics::v1::{
    AggregationTemporality, DataPointFlags, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, SummaryDataPoint, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use lookout_proto::otlp::resource::v1::Resource;
use prometheus_client::metrics::counter::Counter;
use prost::Message;

use super::PrometheusRemoteWriteConfig;
use super::exporter::{DroppedCounters, PrometheusRemoteWriteExporter, split};
use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use super::translate::{Dropped, STALE_NAN, translate};
use crate::component::Validate;
use crate::core::{Batch, Signal};
use crate::exporters::Export;

// === OTLP builders ===

fn s(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// 2026-01-01T00:00:00Z plus `ms` milliseconds, in nanoseconds.
fn at(ms: u64) -> u64 {
    (1_767_225_600_000 + ms) * 1_000_000
}

fn ms(offset: i64) -> i64 {
    1_767_225_600_000 + offset
}

fn point(attrs: Vec<KeyValue>, v: f64, time: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        value: Some(number_data_point::Value::AsDouble(v)),
        time_unix_nano: time,
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn sum(points: Vec<NumberDataPoint>, monotonic: bool, t: AggregationTemporality) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: t as i32,
        is_monotonic: monotonic,
    })
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "shop"),
                    s("service.namespace", "prod"),
                    s("service.instance.id", "i-1"),
                    s("host.name", "web-1"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "meter".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn options() -> super::translate::Options {
    PrometheusRemoteWriteConfig::default().options()
}

// === reading series back ===

/// `name{k="v",...}` with labels in the order sent.
fn key(ts: &TimeSeries) -> String {
    let name = ts
        .labels
        .iter()
        .find(|l| l.name == "__name__")
        .map_or("", |l| l.value.as_str());
    let rest: Vec<String> = ts
        .labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| format!("{}=\"{}\"", l.name, l.value))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

fn find<'a>(series: &'a [TimeSeries], want: &str) -> &'a TimeSeries {
    series.iter().find(|ts| key(ts) == want).unwrap_or_else(|| {
        let all: Vec<String> = series.iter().map(key).collect();
        panic!("no series {want}; have:\n{}", all.join("\n"))
    })
}

fn values(ts: &TimeSeries) -> Vec<(f64, i64)> {
    ts.samples.iter().map(|s| (s.value, s.timestamp)).collect()
}

const ID: &str =
    "instance=\"i-1\",job=\"prod/shop\",otel_scope_name=\"meter\",otel_scope_version=\"1.0\"";

// === translation ===

#[test]
fn gauges_and_sums_become_named_labelled_series() {
    let req = request(vec![
        metric(
            "system.memory.usage",
            "By",
            Data::Gauge(Gauge {
                data_points: vec![point(vec![s("state", "used")], 1024.0, at(0))],
            }),
        ),
        metric(
            "http.requests",
            "{request}",
            sum(
                vec![point(vec![s("http.route", "/pay")], 7.0, at(5))],
                true,
                AggregationTemporality::Cumulative,
            ),
        ),
        metric(
            "queue.length",
            "1",
            sum(
                vec![point(vec![], 3.0, at(9))],
                false,
                AggregationTemporality::Cumulative,
            ),
        ),
        metric(
            "cache.hit",
            "1",
            Data::Gauge(Gauge {
                data_points: vec![point(vec![], 0.5, at(1))],
            }),
        ),
    ]);
    let out = translate(&req, &options(), 0);
    assert_eq!(out.dropped, Dropped::default());
    let series = &out.series;
    assert_eq!(
        values(find(
            series,
            &format!("system_memory_usage_bytes{{{ID},state=\"used\"}}")
        )),
        [(1024.0, ms(0))]
    );
    assert_eq!(
        values(find(
            series,
            &format!("http_requests_total{{http_route=\"/pay\",{ID}}}")
        )),
        [(7.0, ms(5))]
    );
    // An up-down sum is a gauge, without `_ratio`; a unit-1 gauge gets it.
    assert_eq!(
        values(find(series, &format!("queue_length{{{ID}}}"))),
        [(3.0, ms(9))]
    );
    assert_eq!(
        values(find(series, &format!("cache_hit_ratio{{{ID}}}"))),
        [(0.5, ms(1))]
    );
    // One target_info for the resource, at its latest point's time.
    assert_eq!(
        values(find(
            series,
            "target_info{host_name=\"web-1\",instance=\"i-1\",job=\"prod/shop\"}"
        )),
        [(1.0, ms(9))]
    );
    assert_eq!(series.len(), 5);
    // Labels are sorted by name, `__name__` first.
    for ts in series {
        assert_eq!(ts.labels[0].name, "__name__");
        assert!(ts.labels.windows(2).all(|w| w[0].name < w[1].name));
    }
}

#[test]
fn histograms_become_cumulative_buckets_sum_and_count() {
    let req = request(vec![metric(
        "http.server.duration",
        "ms",
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![s("http.route", "/pay")],
                time_unix_nano: at(20),
                count: 10,
                sum: Some(123.5),
                explicit_bounds: vec![5.0, 10.0, 100.5],
                bucket_counts: vec![1, 2, 3, 4],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    )]);
    let out = translate(&req, &options(), 0);
    let labels = format!("http_route=\"/pay\",{ID}");
    let bucket = |le: &str| {
        values(find(
            &out.series,
            // Sorted: `le` comes between `job` and `otel_scope_name`.
            &format!(
                "http_server_duration_milliseconds_bucket{{http_route=\"/pay\",instance=\"i-1\",\
                 job=\"prod/shop\",le=\"{le}\",otel_scope_name=\"meter\",otel_scope_version=\"1.0\"}}"
            ),
        ))
    };
    assert_eq!(bucket("5"), [(1.0, ms(20))]);
    assert_eq!(bucket("10"), [(3.0, ms(20))]);
    assert_eq!(bucket("100.5"), [(6.0, ms(20))]);
    assert_eq!(bucket("+Inf"), [(10.0, ms(20))]);
    assert_eq!(
        values(find(
            &out.series,
            &format!("http_server_duration_milliseconds_sum{{{labels}}}")
        )),
        [(123.5, ms(20))]
    );
    assert_eq!(
        values(find(
            &out.series,
            &format!("http_server_duration_milliseconds_count{{{labels}}}")
        )),
        [(10.0, ms(20))]
    );
    // 4 buckets, sum, count, target_info.
    assert_eq!(out.series.len(), 7);
}

#[test]
fn summaries_become_quantiles_sum_and_count() {
    let req = request(vec![metric(
        "rpc.latency",
        "s",
        Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: at(3),
                count: 4,
                sum: 2.0,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 0.25,
                    },
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: 0.9,
                    },
                ],
                ..Default::default()
            }],
        }),
    )]);
    let out = translate(&req, &options(), 0);
    assert_eq!(
        values(find(
            &out.series,
            &format!("rpc_latency_seconds{{{ID},quantile=\"0.99\"}}")
        )),
        [(0.9, ms(3))]
    );
    assert_eq!(
        values(find(
            &out.series,
            &format!("rpc_latency_seconds{{{ID},quantile=\"0.5\"}}")
        )),
        [(0.25, ms(3))]
    );
    assert_eq!(
        values(find(
            &out.series,
            &format!("rpc_latency_seconds_sum{{{ID}}}")
        )),
        [(2.0, ms(3))]
    );
    assert_eq!(
        values(find(
            &out.series,
            &format!("rpc_latency_seconds_count{{{ID}}}")
        )),
        [(4.0, ms(3))]
    );
}

#[test]
fn deltas_exponential_histograms_and_reserved_labels_are_dropped_and_counted() {
    let req = request(vec![
        metric(
            "requests",
            "",
            sum(
                vec![point(vec![], 1.0, at(0)), point(vec![], 2.0, at(1))],
                true,
                AggregationTemporality::Delta,
            ),
        ),
        metric(
            "latency",
            "s",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    count: 1,
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        ),
        metric(
            "sizes",
            "By",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint::default()],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        ),
        metric(
            "unknown",
            "",
            sum(
                vec![point(vec![], 1.0, at(0))],
                true,
                AggregationTemporality::Unspecified,
            ),
        ),
        metric(
            "clash",
            "",
            Data::Gauge(Gauge {
                data_points: vec![point(vec![s("__name__", "x")], 1.0, at(0))],
            }),
        ),
    ]);
    let out = translate(&req, &options(), 0);
    assert_eq!(
        out.dropped,
        Dropped {
            delta: 3,
            unsupported: 2,
            reserved_label: 1,
        }
    );
    // Nothing was sent, so no target_info either.
    assert!(out.series.is_empty(), "{:?}", out.series);
}

#[test]
fn points_of_one_series_merge_in_time_order_and_unstamped_points_get_now() {
    let counter = |v: f64, t: u64| {
        metric(
            "hits",
            "",
            sum(
                vec![point(vec![], v, t)],
                true,
                AggregationTemporality::Cumulative,
            ),
        )
    };
    let req = request(vec![counter(5.0, at(20)), counter(3.0, at(10))]);
    let out = translate(&req, &options(), 0);
    assert_eq!(
        values(find(&out.series, &format!("hits_total{{{ID}}}"))),
        [(3.0, ms(10)), (5.0, ms(20))]
    );
    let out = translate(&request(vec![counter(1.0, 0)]), &options(), 42);
    assert_eq!(
        values(find(&out.series, &format!("hits_total{{{ID}}}"))),
        [(1.0, 42)]
    );
}

#[test]
fn no_recorded_value_becomes_a_staleness_marker() {
    let mut p = point(vec![], 0.0, at(0));
    p.flags = DataPointFlags::NoRecordedValueMask as u32;
    let req = request(vec![metric(
        "temp",
        "Cel",
        Data::Gauge(Gauge {
            data_points: vec![p],
        }),
    )]);
    let out = translate(&req, &options(), 0);
    let ts = find(&out.series, &format!("temp_celsius{{{ID}}}"));
    assert_eq!(ts.samples[0].value.to_bits(), STALE_NAN);
}

#[test]
fn options_namespace_external_labels_resource_labels_and_target_info_switch() {
    let config: PrometheusRemoteWriteConfig = serde_yaml_ng::from_str(
        "endpoint: http://x/api/v1/write\nnamespace: lk\nexternal_labels: {dc: eu}\n\
         resource_to_telemetry_conversion: {enabled: true}\nadd_metric_suffixes: false\n\
         target_info: {enabled: false}\n",
    )
    .unwrap();
    let req = request(vec![metric(
        "cpu.time",
        "s",
        sum(
            vec![point(vec![], 2.0, at(0))],
            true,
            AggregationTemporality::Cumulative,
        ),
    )]);
    let out = translate(&req, &config.options(), 0);
    assert_eq!(out.series.len(), 1, "no target_info");
    assert_eq!(
        key(&out.series[0]),
        "lk_cpu_time{dc=\"eu\",host_name=\"web-1\",instance=\"i-1\",job=\"prod/shop\",\
         otel_scope_name=\"meter\",otel_scope_version=\"1.0\",service_instance_id=\"i-1\",\
         service_name=\"shop\",service_namespace=\"prod\"}"
    );
    let mut config = config;
    config.target_info.enabled = true;
    let out = translate(&req, &config.options(), 0);
    find(
        &out.series,
        "lk_target_info{dc=\"eu\",host_name=\"web-1\",instance=\"i-1\",job=\"prod/shop\"}",
    );
}

// === requests ===

fn series(n: usize) -> Vec<TimeSeries> {
    (0..n)
        .map(|i| TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: format!("metric_{i}"),
            }],
            samples: vec![Sample {
                value: 1.0,
                timestamp: 1,
            }],
        })
        .collect()
}

#[test]
fn batches_split_by_encoded_size_and_keep_every_series_in_order() {
    let all = series(100);
    let max = 200;
    let requests = split(all.clone(), max);
    assert!(requests.len() > 1);
    for r in &requests {
        assert!(r.encoded_len() <= max, "{} > {max}", r.encoded_len());
    }
    let joined: Vec<TimeSeries> = requests.into_iter().flat_map(|r| r.timeseries).collect();
    assert_eq!(joined, all);
    // A series larger than the limit goes alone rather than being lost.
    let requests = split(series(3), 1);
    assert_eq!(requests.len(), 3);
    // The default limit holds a whole small batch in one request.
    assert_eq!(split(series(100), 3_000_000).len(), 1);
    assert!(split(Vec::new(), 10).is_empty());
}

#[test]
fn config_is_validated() {
    let parse = |yaml: &str| serde_yaml_ng::from_str::<PrometheusRemoteWriteConfig>(yaml);
    let ok = parse("endpoint: https://prom.example/api/v1/write\n").unwrap();
    ok.validate().unwrap();
    assert_eq!(ok.max_batch_size_bytes, 3_000_000);
    assert!(ok.add_metric_suffixes && ok.target_info.enabled);
    let err = |yaml: &str| parse(yaml).unwrap().validate().unwrap_err();
    assert!(err("{}").contains("endpoint is required"));
    assert!(err("endpoint: ftp://x/").contains("http:// or https://"));
    assert!(err("endpoint: not a url").contains("endpoint"));
    assert!(err("endpoint: http://x/\nmax_batch_size_bytes: 0").contains("max_batch_size_bytes"));
    assert!(err("endpoint: http://x/\nexternal_labels: {a.b: c}").contains("external_labels"));
    assert!(
        parse("endpoint: http://x/\nremote_write_queue: {}")
            .unwrap_err()
            .to_string()
            .contains("unknown field")
    );
}

// === the exporter against a server ===

/// What the server saw, and the statuses it answers with (then 204).
#[derive(Default)]
struct Seen {
    requests: Vec<(HeaderMap, Bytes)>,
    script: Vec<(u16, Option<&'static str>)>,
}

type Shared = Arc<Mutex<Seen>>;

async fn receive(
    State(seen): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let mut s = seen.lock().unwrap();
    s.requests.push((headers, body));
    let (code, retry_after) = if s.script.is_empty() {
        (204, None)
    } else {
        s.script.remove(0)
    };
    let mut out = HeaderMap::new();
    if let Some(v) = retry_after {
        out.insert("retry-after", v.parse().unwrap());
    }
    (StatusCode::from_u16(code).unwrap(), out)
}

struct Server {
    url: String,
    seen: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server(script: Vec<(u16, Option<&'static str>)>) -> Server {
    let seen: Shared = Arc::new(Mutex::new(Seen {
        script,
        ..Seen::default()
    }));
    let app = Router::new()
        .route("/api/v1/write", post(receive))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { url, seen, task }
}

fn build(config: &PrometheusRemoteWriteConfig) -> (PrometheusRemoteWriteExporter, Counter) {
    let delta = Counter::default();
    let dropped = DroppedCounters {
        delta: delta.clone(),
        unsupported: Counter::default(),
        reserved_label: Counter::default(),
    };
    let exporter = PrometheusRemoteWriteExporter::new("prw".into(), config, dropped).unwrap();
    (exporter, delta)
}

fn batch(req: &ExportMetricsServiceRequest) -> Batch {
    Batch::new(Signal::Metrics, Bytes::from(req.encode_to_vec()), 1)
}

#[tokio::test]
async fn sends_snappy_protobuf_with_remote_write_headers() {
    let srv = server(vec![]).await;
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("X-Scope-OrgID".to_string(), "tenant-1".to_string());
    let config = PrometheusRemoteWriteConfig {
        endpoint: srv.url.clone(),
        headers,
        ..Default::default()
    };
    let (exporter, delta) = build(&config);
    let req = request(vec![
        metric(
            "hits",
            "",
            sum(
                vec![point(vec![s("code", "200")], 9.0, at(1))],
                true,
                AggregationTemporality::Cumulative,
            ),
        ),
        metric(
            "misses",
            "",
            sum(
                vec![point(vec![], 1.0, at(1))],
                true,
                AggregationTemporality::Delta,
            ),
        ),
    ]);
    exporter.export(&batch(&req)).await.unwrap();
    assert_eq!(delta.get(), 1, "the delta sum is counted");
    let seen = srv.seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 1);
    let (h, body) = &seen.requests[0];
    assert_eq!(h["content-encoding"], "snappy");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(h["x-scope-orgid"], "tenant-1");
    assert!(h["user-agent"].to_str().unwrap().starts_with("lookout/"));
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    let sent = WriteRequest::decode(raw.as_slice()).unwrap();
    // What arrived is exactly what the translation produced.
    let want = translate(&req, &config.options(), 0).series;
    assert_eq!(sent.timeseries, want);
    find(
        &sent.timeseries,
        &format!("hits_total{{code=\"200\",{ID}}}"),
    );
}

#[tokio::test]
async fn big_batches_go_as_several_requests() {
    let srv = server(vec![]).await;
    let config = PrometheusRemoteWriteConfig {
        endpoint: srv.url.clone(),
        max_batch_size_bytes: 300,
        ..Default::default()
    };
    let (exporter, _) = build(&config);
    let points: Vec<NumberDataPoint> = (0..50)
        .map(|i| point(vec![s("n", &i.to_string())], 1.0, at(0)))
        .collect();
    let req = request(vec![metric(
        "g",
        "",
        Data::Gauge(Gauge {
            data_points: points,
        }),
    )]);
    exporter.export(&batch(&req)).await.unwrap();
    let seen = srv.seen.lock().unwrap();
    assert!(seen.requests.len() > 1);
    let mut total = 0;
    for (_, body) in &seen.requests {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        assert!(raw.len() <= 300);
        total += WriteRequest::decode(raw.as_slice())
            .unwrap()
            .timeseries
            .len();
    }
    assert_eq!(total, 51, "50 gauge series and target_info");
}

#[tokio::test]
async fn server_errors_and_429_are_retryable_other_4xx_permanent() {
    let srv = server(vec![
        (503, Some("7")),
        (429, None),
        (400, None),
        (500, None),
    ])
    .await;
    let config = PrometheusRemoteWriteConfig {
        endpoint: srv.url.clone(),
        ..Default::default()
    };
    let (exporter, _) = build(&config);
    let req = request(vec![metric(
        "g",
        "",
        Data::Gauge(Gauge {
            data_points: vec![point(vec![], 1.0, at(0))],
        }),
    )]);
    let b = batch(&req);
    let e = exporter.export(&b).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.throttle(), Some(std::time::Duration::from_secs(7)));
    assert!(exporter.export(&b).await.unwrap_err().is_retryable());
    let e = exporter.export(&b).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("400"));
    assert!(exporter.export(&b).await.unwrap_err().is_retryable());
    exporter.export(&b).await.unwrap();
    // Nothing listening: retryable.
    drop(srv);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let config = PrometheusRemoteWriteConfig {
        endpoint: "http://127.0.0.1:1/api/v1/write".into(),
        ..Default::default()
    };
    let (down, _) = build(&config);
    assert!(down.export(&b).await.unwrap_err().is_retryable());
}

#[tokio::test]
async fn speaks_tls_with_a_configured_ca_and_refuses_an_untrusted_certificate() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::exporters::tls_tests::{tls_server, trusted};

    let received = Arc::new(AtomicUsize::new(0));
    let port = tls_server(Arc::clone(&received)).await;
    let req = request(vec![metric(
        "g",
        "",
        Data::Gauge(Gauge {
            data_points: vec![point(vec![], 1.0, at(0))],
        }),
    )]);
    let config = PrometheusRemoteWriteConfig {
        endpoint: format!("https://localhost:{port}/api/v1/write"),
        tls: trusted(),
        ..Default::default()
    };
    let (exporter, _) = build(&config);
    exporter.export(&batch(&req)).await.unwrap();
    assert!(
        received.load(Ordering::SeqCst) > 0,
        "a body arrived over TLS"
    );
    // The web PKI roots do not include the self-signed test certificate: retryable, as any
    // connection failure.
    let config = PrometheusRemoteWriteConfig {
        endpoint: format!("https://localhost:{port}/api/v1/write"),
        ..Default::default()
    };
    let (untrusted, _) = build(&config);
    let err = untrusted.export(&batch(&req)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
