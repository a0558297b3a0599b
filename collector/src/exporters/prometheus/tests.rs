//! The store and the renderer together: what a scrape shows after given OTLP points.

use std::time::{Duration, Instant};

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use lookout_proto::otlp::metrics::v1::{
    AggregationTemporality, DataPointFlags, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, SummaryDataPoint, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use lookout_proto::otlp::resource::v1::Resource;

use super::render::{Format, render};
use super::store::{Naming, Store};

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn point(attrs: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, description: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(data),
        ..Default::default()
    }
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

fn sum(points: Vec<NumberDataPoint>, monotonic: bool, temporality: AggregationTemporality) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality as i32,
        is_monotonic: monotonic,
    })
}

/// The labels every series of [`request`] has. Labels render sorted by name, so this run
/// stands together only where no attribute sorts between them.
/// A cumulative monotonic sum with one point.
fn counter(name: &str, unit: &str, p: NumberDataPoint) -> Metric {
    metric(
        name,
        unit,
        "",
        sum(vec![p], true, AggregationTemporality::Cumulative),
    )
}

const ID: &str =
    "instance=\"i-1\",job=\"prod/shop\",otel_scope_name=\"meter\",otel_scope_version=\"1.0\"";

#[test]
fn every_kind_renders_with_job_instance_scope_and_target_info() {
    let mut store = Store::default();
    let naming = Naming {
        suffixes: true,
        ..Naming::default()
    };
    let hist = Data::Histogram(Histogram {
        data_points: vec![HistogramDataPoint {
            attributes: vec![s("http.route", "/a")],
            count: 6,
            sum: Some(273.25),
            bucket_counts: vec![1, 2, 3],
            explicit_bounds: vec![1.0, 10.0],
            ..Default::default()
        }],
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    });
    let summary = Data::Summary(Summary {
        data_points: vec![SummaryDataPoint {
            count: 4,
            sum: 10.0,
            quantile_values: vec![
                ValueAtQuantile {
                    quantile: 0.5,
                    value: 2.0,
                },
                ValueAtQuantile {
                    quantile: 0.99,
                    value: 4.0,
                },
            ],
            ..Default::default()
        }],
    });
    let dropped = store.update(
        &request(vec![
            metric(
                "requests",
                "1",
                "requests served",
                sum(
                    vec![point(
                        vec![
                            s("route", "/a"),
                            kv("ok", any_value::Value::BoolValue(true)),
                        ],
                        5.0,
                    )],
                    true,
                    AggregationTemporality::Cumulative,
                ),
            ),
            metric(
                "queue.depth",
                "{item}",
                "queued",
                sum(
                    vec![point(vec![], 6.0)],
                    false,
                    AggregationTemporality::Cumulative,
                ),
            ),
            metric("latency", "ms", "request latency", hist),
            metric("rpc.duration", "s", "", summary),
            metric(
                "tags",
                "",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![point(
                        vec![kv(
                            "list",
                            any_value::Value::ArrayValue(ArrayValue {
                                values: vec![AnyValue {
                                    value: Some(any_value::Value::IntValue(1)),
                                }],
                            }),
                        )],
                        1.0,
                    )],
                }),
            ),
        ]),
        &naming,
        Instant::now(),
    );
    assert_eq!(dropped.points, 0);
    let want = format!(
        "# TYPE latency_milliseconds histogram
latency_milliseconds_bucket{{http_route=\"/a\",{ID},le=\"1\"}} 1
latency_milliseconds_bucket{{http_route=\"/a\",{ID},le=\"10\"}} 3
latency_milliseconds_bucket{{http_route=\"/a\",{ID},le=\"+Inf\"}} 6
latency_milliseconds_sum{{http_route=\"/a\",{ID}}} 273.25
latency_milliseconds_count{{http_route=\"/a\",{ID}}} 6
# HELP queue_depth queued
# TYPE queue_depth gauge
queue_depth{{{ID}}} 6
# HELP requests_total requests served
# TYPE requests_total counter
requests_total{{instance=\"i-1\",job=\"prod/shop\",ok=\"true\",otel_scope_name=\"meter\",otel_scope_version=\"1.0\",route=\"/a\"}} 5
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{{{ID},quantile=\"0.5\"}} 2
rpc_duration_seconds{{{ID},quantile=\"0.99\"}} 4
rpc_duration_seconds_sum{{{ID}}} 10
rpc_duration_seconds_count{{{ID}}} 4
# TYPE tags gauge
tags{{instance=\"i-1\",job=\"prod/shop\",list=\"[1]\",otel_scope_name=\"meter\",otel_scope_version=\"1.0\"}} 1
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{{host_name=\"web-1\",instance=\"i-1\",job=\"prod/shop\"}} 1
"
    )
    .replace(
        "# TYPE latency_milliseconds histogram",
        "# HELP latency_milliseconds request latency\n# TYPE latency_milliseconds histogram",
    );
    assert_eq!(render(&store, Format::Prometheus), want);
    let om = render(&store, Format::OpenMetrics);
    assert!(
        om.contains("# TYPE requests counter\nrequests_total{"),
        "{om}"
    );
    assert!(om.contains("# TYPE target info\n"), "{om}");
    assert!(om.ends_with("# EOF\n"), "{om}");
}

#[test]
fn deltas_add_up_and_what_prometheus_cannot_carry_is_counted() {
    let mut store = Store::default();
    let naming = Naming {
        suffixes: true,
        ..Naming::default()
    };
    let now = Instant::now();
    for v in [2.0, 3.0] {
        let d = store.update(
            &request(vec![metric(
                "hits",
                "",
                "",
                sum(vec![point(vec![], v)], true, AggregationTemporality::Delta),
            )]),
            &naming,
            now,
        );
        assert_eq!(d.points, 0);
    }
    let delta_hist = |counts: Vec<u64>| {
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                count: counts.iter().sum(),
                sum: Some(1.0),
                bucket_counts: counts,
                explicit_bounds: vec![1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })
    };
    store.update(
        &request(vec![metric("h", "", "", delta_hist(vec![1, 0]))]),
        &naming,
        now,
    );
    store.update(
        &request(vec![metric("h", "", "", delta_hist(vec![2, 4]))]),
        &naming,
        now,
    );
    let dropped = store.update(
        &request(vec![
            metric(
                "level",
                "",
                "",
                sum(
                    vec![point(vec![], 1.0), point(vec![], 2.0)],
                    false,
                    AggregationTemporality::Delta,
                ),
            ),
            metric(
                "sizes",
                "",
                "",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint::default()],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                }),
            ),
            // `hits_total` is a counter already: a gauge of that name is refused.
            metric(
                "hits.total",
                "",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![point(vec![], 9.0)],
                }),
            ),
        ]),
        &naming,
        now,
    );
    // Two points of `level`, one of `sizes`, one of `hits.total`.
    assert_eq!(dropped.points, 4);
    let text = render(&store, Format::Prometheus);
    assert!(text.contains(&format!("hits_total{{{ID}}} 5\n")), "{text}");
    assert!(
        text.contains(&format!("h_bucket{{{ID},le=\"1\"}} 3\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("h_bucket{{{ID},le=\"+Inf\"}} 7\n")),
        "{text}"
    );
    assert!(text.contains(&format!("h_sum{{{ID}}} 2\n")), "{text}");
    assert!(!text.contains("level"), "{text}");
}

#[test]
fn series_expire_and_a_no_recorded_value_point_ends_a_series() {
    let mut store = Store::default();
    let naming = Naming::default();
    let t0 = Instant::now();
    let gauge = |name: &str, flags: u32| {
        metric(
            name,
            "",
            "",
            Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    flags,
                    ..point(vec![], 1.0)
                }],
            }),
        )
    };
    store.update(
        &request(vec![gauge("old", 0), gauge("gone", 0)]),
        &naming,
        t0,
    );
    store.update(
        &request(vec![gauge("fresh", 0)]),
        &naming,
        t0 + Duration::from_secs(60),
    );
    store.update(
        &request(vec![gauge(
            "gone",
            DataPointFlags::NoRecordedValueMask as u32,
        )]),
        &naming,
        t0 + Duration::from_secs(60),
    );
    store.expire(t0 + Duration::from_secs(90), Duration::from_secs(60));
    let text = render(&store, Format::Prometheus);
    assert!(text.contains("fresh{"), "{text}");
    assert!(!text.contains("old"), "{text}");
    assert!(!text.contains("gone"), "{text}");
    // `fresh` and the resource's `target_info`.
    assert_eq!(store.series_count(), 2);
    store.expire(t0 + Duration::from_secs(200), Duration::from_secs(60));
    assert_eq!(store.series_count(), 0);
    assert_eq!(render(&store, Format::Prometheus), "");
}

#[test]
fn namespace_const_labels_resource_labels_and_colliding_keys() {
    let mut store = Store::default();
    let naming = Naming {
        namespace: "edge".into(),
        const_labels: vec![("dc".into(), "eu".into())],
        resource_labels: true,
        suffixes: true,
    };
    store.update(
        &request(vec![counter(
            "bytes.sent",
            "By",
            point(vec![s("a.b", "1"), s("a_b", "2")], 10.0),
        )]),
        &naming,
        Instant::now(),
    );
    let text = render(&store, Format::Prometheus);
    assert!(
        // `bytes` is in the name already: the unit adds no second one.
        text.contains("edge_bytes_sent_total{a_b=\"1;2\",dc=\"eu\",host_name=\"web-1\","),
        "{text}"
    );
    assert!(
        text.contains(
            "target_info{dc=\"eu\",host_name=\"web-1\",instance=\"i-1\",job=\"prod/shop\"} 1\n"
        ),
        "{text}"
    );
}

fn gauge_at(name: &str, attrs: Vec<KeyValue>, v: f64, time: u64) -> Metric {
    metric(
        name,
        "",
        "",
        Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: time,
                ..point(attrs, v)
            }],
        }),
    )
}

#[test]
fn the_series_cap_refuses_new_series_and_keeps_updating_old_ones() {
    // Room for `target_info` and two series.
    let mut store = Store::new(3);
    let naming = Naming::default();
    let now = Instant::now();
    let d = store.update(
        &request(vec![
            gauge_at("g", vec![s("k", "1")], 1.0, 0),
            gauge_at("g", vec![s("k", "2")], 2.0, 0),
            gauge_at("g", vec![s("k", "3")], 3.0, 0),
            gauge_at("other", vec![], 4.0, 0),
        ]),
        &naming,
        now,
    );
    assert_eq!(d.series, 2);
    assert_eq!(d.points, 0);
    assert_eq!(store.series_count(), 3);
    let d = store.update(
        &request(vec![gauge_at("g", vec![s("k", "1")], 10.0, 0)]),
        &naming,
        now,
    );
    assert_eq!(d.series, 0);
    let text = render(&store, Format::Prometheus);
    assert!(
        text.contains(
            "g{instance=\"i-1\",job=\"prod/shop\",k=\"1\",otel_scope_name=\"meter\",otel_scope_version=\"1.0\"} 10\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "g{instance=\"i-1\",job=\"prod/shop\",k=\"2\",otel_scope_name=\"meter\",otel_scope_version=\"1.0\"} 2\n"
        ),
        "{text}"
    );
    assert!(!text.contains("k=\"3\""), "{text}");
    assert!(!text.contains("other"), "{text}");
    // Expiry makes room again, also without a scrape (the exporter sweeps before updates).
    store.sweep(now + Duration::from_secs(120), Duration::from_secs(60));
    assert_eq!(store.series_count(), 0);
    let d = store.update(
        &request(vec![gauge_at("other", vec![], 4.0, 0)]),
        &naming,
        now + Duration::from_secs(120),
    );
    assert_eq!(d.series, 0);
    assert_eq!(store.series_count(), 2);
}

#[test]
fn older_points_and_resent_deltas_are_ignored() {
    let mut store = Store::default();
    let naming = Naming {
        suffixes: true,
        ..Naming::default()
    };
    let now = Instant::now();
    for (v, t) in [(5.0, 200), (7.0, 100)] {
        store.update(&request(vec![gauge_at("g", vec![], v, t)]), &naming, now);
    }
    let delta = |v: f64, t: u64| {
        metric(
            "hits",
            "",
            "",
            sum(
                vec![NumberDataPoint {
                    time_unix_nano: t,
                    ..point(vec![], v)
                }],
                true,
                AggregationTemporality::Delta,
            ),
        )
    };
    for (v, t) in [(1.0, 100), (2.0, 200), (2.0, 200), (4.0, 150), (8.0, 300)] {
        store.update(&request(vec![delta(v, t)]), &naming, now);
    }
    let text = render(&store, Format::Prometheus);
    assert!(text.contains(&format!("g{{{ID}}} 5\n")), "{text}");
    assert!(text.contains(&format!("hits_total{{{ID}}} 11\n")), "{text}");
}

#[test]
fn open_metrics_counters_always_end_in_total() {
    let mut store = Store::default();
    let naming = Naming::default();
    store.update(
        &request(vec![counter("requests", "1", point(vec![], 3.0))]),
        &naming,
        Instant::now(),
    );
    let text = render(&store, Format::Prometheus);
    assert!(
        text.contains(&format!("# TYPE requests counter\nrequests{{{ID}}} 3\n")),
        "{text}"
    );
    let om = render(&store, Format::OpenMetrics);
    assert!(
        om.contains(&format!(
            "# TYPE requests counter\nrequests_total{{{ID}}} 3\n"
        )),
        "{om}"
    );
}

#[test]
fn testdata_config_parses_and_bad_settings_are_refused() {
    use crate::config::Config;
    let text = include_str!("testdata/config.yaml");
    let config = Config::parse("testdata/config.yaml", text).unwrap();
    let id = crate::core::ComponentId::parse("prometheus").unwrap();
    let Some(settings) = config
        .exporters
        .get(&id)
        .and_then(|c| c.settings::<super::PrometheusExporterConfig>())
    else {
        panic!("prometheus must be a prometheus exporter")
    };
    assert_eq!(settings.endpoint, "127.0.0.1:8889");
    assert_eq!(settings.metric_expiration, Duration::from_secs(300));
    assert_eq!(settings.max_series, 100_000);
    assert!(settings.enable_open_metrics);

    for (bad, want) in [
        ("    max_series: 0\n", "max_series must be at least 1"),
        (
            "    metric_expiration: 0s\n",
            "metric_expiration must be more than 0",
        ),
        ("    endpoint: 8889\n", "is not host:port"),
        (
            "    const_labels:\n      __x: y\n",
            "is not a Prometheus label name",
        ),
        ("    max_serie: 5\n", "unknown field `max_serie`"),
    ] {
        let text = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  prometheus:\n{bad}service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
        );
        let msg = Config::parse("p.yaml", &text).unwrap_err().to_string();
        assert!(msg.contains(want), "{bad:?}: {msg}");
        assert!(msg.contains("exporters.prometheus"), "{bad:?}: {msg}");
    }
}

#[test]
fn points_with_labels_the_format_reserves_are_dropped() {
    let mut store = Store::default();
    let naming = Naming::default();
    let hist = |attrs: Vec<KeyValue>| {
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: attrs,
                count: 1,
                sum: Some(1.0),
                bucket_counts: vec![1, 0],
                explicit_bounds: vec![1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })
    };
    let dropped = store.update(
        &request(vec![
            metric("h", "", "", hist(vec![s("le", "x")])),
            metric("h", "", "", hist(vec![s("route", "/a")])),
            gauge_at("g", vec![s("__name__", "x")], 1.0, 0),
            // `le` is an ordinary label on a gauge.
            gauge_at("g", vec![s("le", "x")], 2.0, 0),
        ]),
        &naming,
        Instant::now(),
    );
    assert_eq!(dropped.points, 2);
    let text = render(&store, Format::Prometheus);
    assert!(text.contains("route=\"/a\""), "{text}");
    assert!(text.contains("le=\"x\",otel_scope_name"), "{text}");
    assert!(!text.contains("__name__"), "{text}");
    assert_eq!(text.matches("le=\"x\"").count(), 1, "{text}");
}
