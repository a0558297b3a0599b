//! Property: any prost message survives prost → OTLP/JSON → prost unchanged, and the JSON
//! written for the decoded message is byte-identical to the first encoding.

use lookout_proto::json::{
    logs_from_json, logs_to_json, metrics_from_json, metrics_to_json, traces_from_json,
    traces_to_json,
};
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point, metric, number_data_point,
    summary_data_point,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use prost::Message;

fn text() -> impl Strategy<Value = String> {
    // (?s) lets '.' produce newlines and other control characters that need escaping.
    prop_oneof![Just(String::new()), "(?s).{0,8}", "[a-z._]{1,12}"]
}

fn u64s() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(1u64 << 53),
        Just((1u64 << 53) + 1),
        any::<u64>()
    ]
}

fn i64s() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(-1i64),
        any::<i64>()
    ]
}

fn u32s() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()]
}

fn i32s() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0i32), Just(i32::MIN), Just(i32::MAX), any::<i32>()]
}

/// NaNs are canonicalised because JSON's "NaN" cannot carry a payload.
fn f64s() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0f64),
        Just(-0.0f64),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        any::<f64>().prop_map(|f| if f.is_nan() { f64::NAN } else { f }),
    ]
}

fn trace_id() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(Vec::new()), vec(any::<u8>(), 16)]
}

fn span_id() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(Vec::new()), vec(any::<u8>(), 8)]
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        Just(None),
        text().prop_map(|s| Some(any_value::Value::StringValue(s))),
        any::<bool>().prop_map(|b| Some(any_value::Value::BoolValue(b))),
        i64s().prop_map(|i| Some(any_value::Value::IntValue(i))),
        f64s().prop_map(|d| Some(any_value::Value::DoubleValue(d))),
        vec(any::<u8>(), 0..10).prop_map(|b| Some(any_value::Value::BytesValue(b))),
        i32s().prop_map(|i| Some(any_value::Value::StringValueStrindex(i))),
    ]
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(|values| AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
            }),
            vec((text(), option::of(inner), i32s()), 0..3).prop_map(|kvs| AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, value, key_strindex)| KeyValue {
                            key,
                            value,
                            key_strindex,
                        })
                        .collect(),
                })),
            }),
        ]
    })
}

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    vec(
        (
            text(),
            option::of(any_value()),
            prop_oneof![Just(0), i32s()],
        )
            .prop_map(|(key, value, key_strindex)| KeyValue {
                key,
                value,
                key_strindex,
            }),
        0..3,
    )
}

fn resource() -> impl Strategy<Value = Option<Resource>> {
    let entity = (text(), text(), vec(text(), 0..2), vec(text(), 0..2)).prop_map(
        |(schema_url, r#type, id_keys, description_keys)| EntityRef {
            schema_url,
            r#type,
            id_keys,
            description_keys,
        },
    );
    option::of((attrs(), u32s(), vec(entity, 0..2)).prop_map(
        |(attributes, dropped_attributes_count, entity_refs)| Resource {
            attributes,
            dropped_attributes_count,
            entity_refs,
        },
    ))
}

fn scope() -> impl Strategy<Value = Option<InstrumentationScope>> {
    option::of((text(), text(), attrs(), u32s()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ))
}

fn span_strategy() -> impl Strategy<Value = Span> {
    let event = (u64s(), text(), attrs(), u32s()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    );
    let link = (trace_id(), span_id(), text(), attrs(), u32s(), u32s()).prop_map(
        |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
            span::Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count,
                flags,
            }
        },
    );
    let status = option::of(
        (text(), prop_oneof![0..3i32, i32s()]).prop_map(|(message, code)| Status { message, code }),
    );
    (
        (trace_id(), span_id(), text(), span_id(), u32s(), text()),
        (
            prop_oneof![0..6i32, i32s()],
            u64s(),
            u64s(),
            attrs(),
            u32s(),
        ),
        (vec(event, 0..3), u32s(), vec(link, 0..3), u32s(), status),
    )
        .prop_map(
            |(
                (trace_id, span_id, trace_state, parent_span_id, flags, name),
                (
                    kind,
                    start_time_unix_nano,
                    end_time_unix_nano,
                    attributes,
                    dropped_attributes_count,
                ),
                (events, dropped_events_count, links, dropped_links_count, status),
            )| Span {
                trace_id,
                span_id,
                trace_state,
                parent_span_id,
                flags,
                name,
                kind,
                start_time_unix_nano,
                end_time_unix_nano,
                attributes,
                dropped_attributes_count,
                events,
                dropped_events_count,
                links,
                dropped_links_count,
                status,
            },
        )
}

fn traces() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let ss =
        (scope(), vec(span_strategy(), 0..3), text()).prop_map(|(scope, spans, schema_url)| {
            ScopeSpans {
                scope,
                spans,
                schema_url,
            }
        });
    let rs = (resource(), vec(ss, 0..3), text()).prop_map(|(resource, scope_spans, schema_url)| {
        ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        }
    });
    vec(rs, 0..3).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

fn log_record() -> impl Strategy<Value = LogRecord> {
    (
        (
            u64s(),
            u64s(),
            prop_oneof![0..25i32, i32s()],
            text(),
            option::of(any_value()),
        ),
        (attrs(), u32s(), u32s(), trace_id(), span_id(), text()),
    )
        .prop_map(
            |(
                (time_unix_nano, observed_time_unix_nano, severity_number, severity_text, body),
                (attributes, dropped_attributes_count, flags, trace_id, span_id, event_name),
            )| LogRecord {
                time_unix_nano,
                observed_time_unix_nano,
                severity_number,
                severity_text,
                body,
                attributes,
                dropped_attributes_count,
                flags,
                trace_id,
                span_id,
                event_name,
            },
        )
}

fn logs() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let sl =
        (scope(), vec(log_record(), 0..3), text()).prop_map(|(scope, log_records, schema_url)| {
            ScopeLogs {
                scope,
                log_records,
                schema_url,
            }
        });
    let rl = (resource(), vec(sl, 0..3), text()).prop_map(|(resource, scope_logs, schema_url)| {
        ResourceLogs {
            resource,
            scope_logs,
            schema_url,
        }
    });
    vec(rl, 0..3).prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

fn exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
    let value = prop_oneof![
        Just(None),
        f64s().prop_map(|d| Some(exemplar::Value::AsDouble(d))),
        i64s().prop_map(|i| Some(exemplar::Value::AsInt(i))),
    ];
    vec(
        (attrs(), u64s(), span_id(), trace_id(), value).prop_map(
            |(filtered_attributes, time_unix_nano, span_id, trace_id, value)| Exemplar {
                filtered_attributes,
                time_unix_nano,
                span_id,
                trace_id,
                value,
            },
        ),
        0..2,
    )
}

fn temporality() -> impl Strategy<Value = i32> {
    prop_oneof![0..3i32, i32s()]
}

fn number_points() -> impl Strategy<Value = Vec<NumberDataPoint>> {
    let value = prop_oneof![
        Just(None),
        f64s().prop_map(|d| Some(number_data_point::Value::AsDouble(d))),
        i64s().prop_map(|i| Some(number_data_point::Value::AsInt(i))),
    ];
    vec(
        (attrs(), u64s(), u64s(), exemplars(), u32s(), value).prop_map(
            |(attributes, start_time_unix_nano, time_unix_nano, exemplars, flags, value)| {
                NumberDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    exemplars,
                    flags,
                    value,
                }
            },
        ),
        0..3,
    )
}

fn histogram_points() -> impl Strategy<Value = Vec<HistogramDataPoint>> {
    vec(
        (
            (attrs(), u64s(), u64s(), u64s(), option::of(f64s())),
            (vec(u64s(), 0..4), vec(f64s(), 0..4), exemplars(), u32s()),
            (option::of(f64s()), option::of(f64s())),
        )
            .prop_map(
                |(
                    (attributes, start_time_unix_nano, time_unix_nano, count, sum),
                    (bucket_counts, explicit_bounds, exemplars, flags),
                    (min, max),
                )| HistogramDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    bucket_counts,
                    explicit_bounds,
                    exemplars,
                    flags,
                    min,
                    max,
                },
            ),
        0..3,
    )
}

fn exp_buckets() -> impl Strategy<Value = Option<exponential_histogram_data_point::Buckets>> {
    option::of(
        (i32s(), vec(u64s(), 0..4)).prop_map(|(offset, bucket_counts)| {
            exponential_histogram_data_point::Buckets {
                offset,
                bucket_counts,
            }
        }),
    )
}

fn exp_histogram_points() -> impl Strategy<Value = Vec<ExponentialHistogramDataPoint>> {
    vec(
        (
            (attrs(), u64s(), u64s(), u64s(), option::of(f64s()), i32s()),
            (u64s(), exp_buckets(), exp_buckets(), u32s(), exemplars()),
            (option::of(f64s()), option::of(f64s()), f64s()),
        )
            .prop_map(
                |(
                    (attributes, start_time_unix_nano, time_unix_nano, count, sum, scale),
                    (zero_count, positive, negative, flags, exemplars),
                    (min, max, zero_threshold),
                )| ExponentialHistogramDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    scale,
                    zero_count,
                    positive,
                    negative,
                    flags,
                    exemplars,
                    min,
                    max,
                    zero_threshold,
                },
            ),
        0..3,
    )
}

fn summary_points() -> impl Strategy<Value = Vec<SummaryDataPoint>> {
    let q = (f64s(), f64s())
        .prop_map(|(quantile, value)| summary_data_point::ValueAtQuantile { quantile, value });
    vec(
        (
            attrs(),
            u64s(),
            u64s(),
            u64s(),
            f64s(),
            vec(q, 0..3),
            u32s(),
        )
            .prop_map(
                |(
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    quantile_values,
                    flags,
                )| {
                    SummaryDataPoint {
                        attributes,
                        start_time_unix_nano,
                        time_unix_nano,
                        count,
                        sum,
                        quantile_values,
                        flags,
                    }
                },
            ),
        0..3,
    )
}

fn metric_data() -> impl Strategy<Value = Option<metric::Data>> {
    prop_oneof![
        Just(None),
        number_points().prop_map(|data_points| Some(metric::Data::Gauge(Gauge { data_points }))),
        (number_points(), temporality(), any::<bool>()).prop_map(
            |(data_points, aggregation_temporality, is_monotonic)| {
                Some(metric::Data::Sum(Sum {
                    data_points,
                    aggregation_temporality,
                    is_monotonic,
                }))
            }
        ),
        (histogram_points(), temporality()).prop_map(|(data_points, aggregation_temporality)| {
            Some(metric::Data::Histogram(Histogram {
                data_points,
                aggregation_temporality,
            }))
        }),
        (exp_histogram_points(), temporality()).prop_map(
            |(data_points, aggregation_temporality)| {
                Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points,
                    aggregation_temporality,
                }))
            }
        ),
        summary_points()
            .prop_map(|data_points| Some(metric::Data::Summary(Summary { data_points }))),
    ]
}

fn metrics() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    let m = (text(), text(), text(), attrs(), metric_data()).prop_map(
        |(name, description, unit, metadata, data)| Metric {
            name,
            description,
            unit,
            metadata,
            data,
        },
    );
    let sm =
        (scope(), vec(m, 0..4), text()).prop_map(|(scope, metrics, schema_url)| ScopeMetrics {
            scope,
            metrics,
            schema_url,
        });
    let rm =
        (resource(), vec(sm, 0..3), text()).prop_map(|(resource, scope_metrics, schema_url)| {
            ResourceMetrics {
                resource,
                scope_metrics,
                schema_url,
            }
        });
    vec(rm, 0..3).prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}

/// Compares protobuf encodings rather than using PartialEq, because NaN != NaN.
fn same<M: Message>(a: &M, b: &M) -> bool {
    a.encode_to_vec() == b.encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn traces_round_trip(req in traces()) {
        let mut json = Vec::new();
        traces_to_json(&req, &mut json);
        let back = traces_from_json(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} in {}", String::from_utf8_lossy(&json))))?;
        prop_assert!(same(&req, &back), "{req:?}\n!=\n{back:?}");
        let mut again = Vec::new();
        traces_to_json(&back, &mut again);
        prop_assert_eq!(json, again);
    }

    #[test]
    fn logs_round_trip(req in logs()) {
        let mut json = Vec::new();
        logs_to_json(&req, &mut json);
        let back = logs_from_json(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} in {}", String::from_utf8_lossy(&json))))?;
        prop_assert!(same(&req, &back), "{req:?}\n!=\n{back:?}");
        let mut again = Vec::new();
        logs_to_json(&back, &mut again);
        prop_assert_eq!(json, again);
    }

    #[test]
    fn metrics_round_trip(req in metrics()) {
        let mut json = Vec::new();
        metrics_to_json(&req, &mut json);
        let back = metrics_from_json(&json)
            .map_err(|e| TestCaseError::fail(format!("{e} in {}", String::from_utf8_lossy(&json))))?;
        prop_assert!(same(&req, &back), "{req:?}\n!=\n{back:?}");
        let mut again = Vec::new();
        metrics_to_json(&back, &mut again);
        prop_assert_eq!(json, again);
    }

    /// Output must be a single line: the file exporter writes one request per line.
    #[test]
    fn output_is_one_line(req in logs()) {
        let mut json = Vec::new();
        logs_to_json(&req, &mut json);
        prop_assert!(!json.contains(&b'\n'));
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
    }
}
