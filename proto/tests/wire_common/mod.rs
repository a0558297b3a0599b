//! Shared proptest strategies and prost-side oracles for the `wire_*` tests.
#![allow(dead_code)]

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
    SummaryDataPoint, exemplar, exponential_histogram_data_point::Buckets, metric,
    number_data_point, summary_data_point::ValueAtQuantile,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use lookout_proto::wire::{AnyValueView, KeyValueView};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

// === common ===

/// An item with its resource, resource schema url, scope and scope schema url.
pub(crate) type Flat<T> = (
    Option<Resource>,
    String,
    Option<InstrumentationScope>,
    String,
    T,
);

pub(crate) fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z._]{0,10}", 1 => "\\PC{0,6}"]
}

fn double() -> impl Strategy<Value = f64> {
    // NaN would make prost equality fail for reasons unrelated to the code under test.
    prop_oneof![Just(0.0), -1e9f64..1e9f64]
}

pub(crate) fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = option::of(prop_oneof![
        text().prop_map(any_value::Value::StringValue),
        any::<bool>().prop_map(any_value::Value::BoolValue),
        any::<i64>().prop_map(any_value::Value::IntValue),
        double().prop_map(any_value::Value::DoubleValue),
        vec(any::<u8>(), 0..6).prop_map(any_value::Value::BytesValue),
    ])
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values }))
            }),
            vec((text(), option::of(inner)), 0..4).prop_map(|kvs| AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value,
                            key_strindex: 0
                        })
                        .collect(),
                })),
            }),
        ]
    })
}

pub(crate) fn key_value() -> impl Strategy<Value = KeyValue> {
    (text(), option::of(any_value())).prop_map(|(key, value)| KeyValue {
        key,
        value,
        key_strindex: 0,
    })
}

pub(crate) fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    vec(key_value(), 0..4)
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![1 => Just(Vec::new()), 4 => vec(any::<u8>(), len)]
}

fn resource() -> impl Strategy<Value = Option<Resource>> {
    option::of(
        (
            attributes(),
            any::<u32>(),
            vec(
                (text(), text(), vec(text(), 0..2), vec(text(), 0..2)).prop_map(
                    |(schema_url, r#type, id_keys, description_keys)| EntityRef {
                        schema_url,
                        r#type,
                        id_keys,
                        description_keys,
                    },
                ),
                0..2,
            ),
        )
            .prop_map(
                |(attributes, dropped_attributes_count, entity_refs)| Resource {
                    attributes,
                    dropped_attributes_count,
                    entity_refs,
                },
            ),
    )
}

fn scope() -> impl Strategy<Value = Option<InstrumentationScope>> {
    option::of((text(), text(), attributes(), any::<u32>()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ))
}

// === traces ===

fn event() -> impl Strategy<Value = span::Event> {
    (any::<u64>(), text(), attributes(), any::<u32>()).prop_map(
        |(time_unix_nano, name, attributes, d)| span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count: d,
        },
    )
}

fn link() -> impl Strategy<Value = span::Link> {
    (
        id(16),
        id(8),
        text(),
        attributes(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(trace_id, span_id, trace_state, attributes, d, flags)| span::Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count: d,
                flags,
            },
        )
}

pub(crate) fn span() -> impl Strategy<Value = Span> {
    (
        (id(16), id(8), text(), id(8), any::<u32>(), text(), 0i32..6),
        (any::<u64>(), any::<u64>(), attributes(), any::<u32>()),
        (
            vec(event(), 0..2),
            any::<u32>(),
            vec(link(), 0..2),
            any::<u32>(),
        ),
        option::of((text(), 0i32..3).prop_map(|(message, code)| Status { message, code })),
    )
        .prop_map(
            |(
                (trace_id, span_id, trace_state, parent_span_id, flags, name, kind),
                (start_time_unix_nano, end_time_unix_nano, attributes, dropped_attributes_count),
                (events, dropped_events_count, links, dropped_links_count),
                status,
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

pub(crate) fn traces_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope_spans =
        (scope(), vec(span(), 0..5), text()).prop_map(|(scope, spans, schema_url)| ScopeSpans {
            scope,
            spans,
            schema_url,
        });
    let resource_spans = (resource(), vec(scope_spans, 0..3), text()).prop_map(
        |(resource, scope_spans, schema_url)| ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        },
    );
    vec(resource_spans, 0..4)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

pub(crate) fn span_count(r: &ExportTraceServiceRequest) -> usize {
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

/// (resource, resource schema, scope, scope schema, span) for every span, in order.
pub(crate) fn flat_spans(r: &ExportTraceServiceRequest) -> Vec<Flat<Span>> {
    let mut out = Vec::new();
    for rs in &r.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push((
                    rs.resource.clone(),
                    rs.schema_url.clone(),
                    ss.scope.clone(),
                    ss.schema_url.clone(),
                    s.clone(),
                ));
            }
        }
    }
    out
}

fn id_ok(id: &[u8], len: usize) -> bool {
    id.is_empty() || id.len() == len
}

/// The OTLP id-length rules `validate_traces` enforces on top of prost.
pub(crate) fn trace_ids_ok(r: &ExportTraceServiceRequest) -> bool {
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .all(|s| {
            id_ok(&s.trace_id, 16)
                && id_ok(&s.span_id, 8)
                && id_ok(&s.parent_span_id, 8)
                && s.links
                    .iter()
                    .all(|l| id_ok(&l.trace_id, 16) && id_ok(&l.span_id, 8))
        })
}

// === logs ===

pub(crate) fn log_record() -> impl Strategy<Value = LogRecord> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            0i32..25,
            text(),
            option::of(any_value()),
        ),
        (
            attributes(),
            any::<u32>(),
            any::<u32>(),
            id(16),
            id(8),
            text(),
        ),
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

pub(crate) fn logs_request() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let scope_logs =
        (scope(), vec(log_record(), 0..5), text()).prop_map(|(scope, log_records, schema_url)| {
            ScopeLogs {
                scope,
                log_records,
                schema_url,
            }
        });
    let resource_logs = (resource(), vec(scope_logs, 0..3), text()).prop_map(
        |(resource, scope_logs, schema_url)| ResourceLogs {
            resource,
            scope_logs,
            schema_url,
        },
    );
    vec(resource_logs, 0..4).prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

pub(crate) fn log_count(r: &ExportLogsServiceRequest) -> usize {
    r.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum()
}

pub(crate) fn log_ids_ok(r: &ExportLogsServiceRequest) -> bool {
    r.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .all(|l| id_ok(&l.trace_id, 16) && id_ok(&l.span_id, 8))
}

/// (resource, resource schema, scope, scope schema, record) for every record, in order.
pub(crate) fn flat_logs(r: &ExportLogsServiceRequest) -> Vec<Flat<LogRecord>> {
    let mut out = Vec::new();
    for rl in &r.resource_logs {
        for sl in &rl.scope_logs {
            for l in &sl.log_records {
                out.push((
                    rl.resource.clone(),
                    rl.schema_url.clone(),
                    sl.scope.clone(),
                    sl.schema_url.clone(),
                    l.clone(),
                ));
            }
        }
    }
    out
}

// === metrics ===

fn exemplar() -> impl Strategy<Value = Exemplar> {
    (
        attributes(),
        any::<u64>(),
        id(8),
        id(16),
        option::of(prop_oneof![
            double().prop_map(exemplar::Value::AsDouble),
            any::<i64>().prop_map(exemplar::Value::AsInt)
        ]),
    )
        .prop_map(
            |(filtered_attributes, time_unix_nano, span_id, trace_id, value)| Exemplar {
                filtered_attributes,
                time_unix_nano,
                span_id,
                trace_id,
                value,
            },
        )
}

fn number_point() -> impl Strategy<Value = NumberDataPoint> {
    (
        attributes(),
        any::<u64>(),
        any::<u64>(),
        vec(exemplar(), 0..2),
        any::<u32>(),
        option::of(prop_oneof![
            double().prop_map(number_data_point::Value::AsDouble),
            any::<i64>().prop_map(number_data_point::Value::AsInt)
        ]),
    )
        .prop_map(
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
        )
}

fn histogram_point() -> impl Strategy<Value = HistogramDataPoint> {
    (
        (
            attributes(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            option::of(double()),
        ),
        (
            vec(any::<u64>(), 0..4),
            vec(double(), 0..4),
            vec(exemplar(), 0..2),
            any::<u32>(),
        ),
        (option::of(double()), option::of(double())),
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
        )
}

fn buckets() -> impl Strategy<Value = Option<Buckets>> {
    option::of(
        (any::<i32>(), vec(any::<u64>(), 0..4)).prop_map(|(offset, bucket_counts)| Buckets {
            offset,
            bucket_counts,
        }),
    )
}

fn exp_histogram_point() -> impl Strategy<Value = ExponentialHistogramDataPoint> {
    (
        (
            attributes(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            option::of(double()),
            any::<i32>(),
        ),
        (
            any::<u64>(),
            buckets(),
            buckets(),
            any::<u32>(),
            vec(exemplar(), 0..2),
        ),
        (option::of(double()), option::of(double()), double()),
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
        )
}

fn summary_point() -> impl Strategy<Value = SummaryDataPoint> {
    (
        attributes(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        double(),
        vec(
            (double(), double()).prop_map(|(quantile, value)| ValueAtQuantile { quantile, value }),
            0..3,
        ),
        any::<u32>(),
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
        )
}

fn metric_data() -> impl Strategy<Value = Option<metric::Data>> {
    option::of(prop_oneof![
        vec(number_point(), 0..5)
            .prop_map(|data_points| metric::Data::Gauge(Gauge { data_points })),
        (vec(number_point(), 0..5), 0i32..3, any::<bool>()).prop_map(
            |(data_points, aggregation_temporality, is_monotonic)| {
                metric::Data::Sum(Sum {
                    data_points,
                    aggregation_temporality,
                    is_monotonic,
                })
            }
        ),
        (vec(histogram_point(), 0..5), 0i32..3).prop_map(
            |(data_points, aggregation_temporality)| {
                metric::Data::Histogram(Histogram {
                    data_points,
                    aggregation_temporality,
                })
            }
        ),
        (vec(exp_histogram_point(), 0..5), 0i32..3).prop_map(
            |(data_points, aggregation_temporality)| {
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points,
                    aggregation_temporality,
                })
            }
        ),
        vec(summary_point(), 0..5)
            .prop_map(|data_points| metric::Data::Summary(Summary { data_points })),
    ])
}

pub(crate) fn metric() -> impl Strategy<Value = Metric> {
    (text(), text(), text(), attributes(), metric_data()).prop_map(
        |(name, description, unit, metadata, data)| Metric {
            name,
            description,
            unit,
            metadata,
            data,
        },
    )
}

pub(crate) fn metrics_request() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    let scope_metrics =
        (scope(), vec(metric(), 0..4), text()).prop_map(|(scope, metrics, schema_url)| {
            ScopeMetrics {
                scope,
                metrics,
                schema_url,
            }
        });
    let resource_metrics = (resource(), vec(scope_metrics, 0..3), text()).prop_map(
        |(resource, scope_metrics, schema_url)| ResourceMetrics {
            resource,
            scope_metrics,
            schema_url,
        },
    );
    vec(resource_metrics, 0..3)
        .prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}

pub(crate) fn metric_points(m: &Metric) -> usize {
    match &m.data {
        None => 0,
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
    }
}

pub(crate) fn point_count(r: &ExportMetricsServiceRequest) -> usize {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(metric_points)
        .sum()
}

pub(crate) fn metric_count(r: &ExportMetricsServiceRequest) -> usize {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .map(|sm| sm.metrics.len())
        .sum()
}

pub(crate) fn metric_ids_ok(r: &ExportMetricsServiceRequest) -> bool {
    let ex_ok = |e: &Exemplar| id_ok(&e.trace_id, 16) && id_ok(&e.span_id, 8);
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .all(|m| match &m.data {
            None => true,
            Some(metric::Data::Gauge(g)) => {
                g.data_points.iter().flat_map(|p| &p.exemplars).all(ex_ok)
            }
            Some(metric::Data::Sum(s)) => {
                s.data_points.iter().flat_map(|p| &p.exemplars).all(ex_ok)
            }
            Some(metric::Data::Histogram(h)) => {
                h.data_points.iter().flat_map(|p| &p.exemplars).all(ex_ok)
            }
            Some(metric::Data::ExponentialHistogram(h)) => {
                h.data_points.iter().flat_map(|p| &p.exemplars).all(ex_ok)
            }
            Some(metric::Data::Summary(_)) => true,
        })
}

// === view -> prost conversions ===

pub(crate) fn any_value_to_prost(v: AnyValueView<'_>) -> AnyValue {
    let value = match v {
        AnyValueView::Empty => None,
        AnyValueView::String(s) => Some(any_value::Value::StringValue(s.to_owned())),
        AnyValueView::Bool(b) => Some(any_value::Value::BoolValue(b)),
        AnyValueView::Int(i) => Some(any_value::Value::IntValue(i)),
        AnyValueView::Double(d) => Some(any_value::Value::DoubleValue(d)),
        AnyValueView::Bytes(b) => Some(any_value::Value::BytesValue(b.to_vec())),
        AnyValueView::StringIndex(i) => Some(any_value::Value::StringValueStrindex(i)),
        AnyValueView::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.values().map(|v| any_value_to_prost(v.unwrap())).collect(),
        })),
        AnyValueView::KvList(l) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: l
                .values()
                .map(|kv| key_value_to_prost(kv.unwrap()))
                .collect(),
        })),
    };
    AnyValue { value }
}

pub(crate) fn key_value_to_prost(kv: KeyValueView<'_>) -> KeyValue {
    KeyValue {
        key: kv.key().to_owned(),
        value: kv.value().map(any_value_to_prost),
        key_strindex: 0,
    }
}
