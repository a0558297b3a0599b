//! The receiver's limits (`lookout_proto::Limits`): `AnyValue` nesting depth and attributes per
//! element, enforced alike by the wire validator and the OTLP/JSON decoder.

use lookout_proto::Limits;
use lookout_proto::json::{self, DecodeOptions};
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, metric,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use lookout_proto::wire::{validate_logs_with, validate_metrics_with, validate_traces_with};
use prost::Message;

/// An `AnyValue` at depth 1 whose innermost value sits at `depth`: kvlists down to it, and
/// there an empty kvlist (one more nested message than a scalar would cost).
fn nested_kvlist(depth: u32) -> AnyValue {
    let mut v = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList::default())),
    };
    for _ in 1..depth {
        v = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(v),
                    ..Default::default()
                }],
            })),
        };
    }
    v
}

/// The same depth through arrays, ending in a string.
fn nested_array(depth: u32) -> AnyValue {
    let mut v = AnyValue {
        value: Some(any_value::Value::StringValue("leaf".into())),
    };
    for _ in 1..depth {
        v = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
        };
    }
    v
}

fn attr(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn attrs(n: usize) -> Vec<KeyValue> {
    (0..n)
        .map(|i| {
            attr(
                &format!("a{i}"),
                AnyValue {
                    value: Some(any_value::Value::IntValue(i as i64)),
                },
            )
        })
        .collect()
}

/// The deepest place an attribute can sit: an exemplar of a histogram data point.
fn exemplar_request(exemplar_attributes: Vec<KeyValue>) -> ExportMetricsServiceRequest {
    metrics_request(
        Metric {
            name: "m".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    exemplars: vec![Exemplar {
                        filtered_attributes: exemplar_attributes,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        },
        Resource::default(),
    )
}

fn metrics_request(metric: Metric, resource: Resource) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn log_request(record: LogRecord) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn trace_request(resource: Resource, scope: InstrumentationScope, span: Span) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope),
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[test]
fn the_deepest_nesting_accepted_still_decodes_with_prost() {
    let limits = Limits::default();
    assert_eq!(limits.max_nesting_depth, Limits::MAX_NESTING_DEPTH);
    let at_limit = exemplar_request(vec![attr("deep", nested_kvlist(Limits::MAX_NESTING_DEPTH))])
        .encode_to_vec();
    validate_metrics_with(&at_limit, &limits).unwrap();
    // No later stage fails on what the receiver took: prost decodes it, and it round-trips.
    let decoded = ExportMetricsServiceRequest::decode(&at_limit[..]).unwrap();
    assert_eq!(decoded.encode_to_vec(), at_limit);

    // One deeper is refused by the validator with the limit named, and prost could not have
    // decoded it either: the maximum is the tightest bound that keeps prost working.
    let over = exemplar_request(vec![attr(
        "deep",
        nested_kvlist(Limits::MAX_NESTING_DEPTH + 1),
    )])
    .encode_to_vec();
    let err = validate_metrics_with(&over, &limits).unwrap_err();
    assert!(
        err.to_string()
            .contains("AnyValue nested deeper than max_nesting_depth (31 levels)"),
        "{err}"
    );
    assert!(ExportMetricsServiceRequest::decode(&over[..]).is_err());
}

#[test]
fn nesting_is_refused_one_past_the_configured_depth_in_every_signal() {
    let limits = Limits {
        max_nesting_depth: 5,
        ..Limits::default()
    };
    for (depth, ok) in [(5, true), (6, false)] {
        for value in [nested_kvlist(depth), nested_array(depth)] {
            let traces = trace_request(
                Resource::default(),
                InstrumentationScope::default(),
                Span {
                    attributes: vec![attr("v", value.clone())],
                    ..Default::default()
                },
            );
            assert_eq!(
                validate_traces_with(&traces, &limits).is_ok(),
                ok,
                "{depth}"
            );
            let body = log_request(LogRecord {
                body: Some(value.clone()),
                ..Default::default()
            })
            .encode_to_vec();
            assert_eq!(validate_logs_with(&body, &limits).is_ok(), ok, "{depth}");
            let metrics = exemplar_request(vec![attr("v", value)]).encode_to_vec();
            assert_eq!(
                validate_metrics_with(&metrics, &limits).is_ok(),
                ok,
                "{depth}"
            );
        }
    }
}

#[test]
fn too_many_attributes_on_any_element_refuse_the_request() {
    let limits = Limits {
        max_attributes: 3,
        ..Limits::default()
    };
    let with = |n: usize, at: usize| -> Vec<u8> {
        let pick = |i: usize| if i == at { attrs(n) } else { attrs(1) };
        trace_request(
            Resource {
                attributes: pick(0),
                ..Default::default()
            },
            InstrumentationScope {
                attributes: pick(1),
                ..Default::default()
            },
            Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                attributes: pick(2),
                events: vec![span::Event {
                    attributes: pick(3),
                    ..Default::default()
                }],
                links: vec![span::Link {
                    attributes: pick(4),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
    };
    let names = [
        "Resource.attributes",
        "InstrumentationScope.attributes",
        "Span.attributes",
        "Span.Event.attributes",
        "Span.Link.attributes",
    ];
    for (at, name) in names.iter().enumerate() {
        validate_traces_with(&with(3, at), &limits).unwrap();
        let err = validate_traces_with(&with(4, at), &limits).unwrap_err();
        assert_eq!(err.field(), Some(*name));
        assert!(
            err.to_string().contains("more than max_attributes (3)"),
            "{err}"
        );
        // Without limits, the same request is what it always was: valid.
        validate_traces_with(&with(4, at), &Limits::NONE).unwrap();
    }

    // Repeated occurrences of the attributes field add up (that is how they encode).
    let log = |n| {
        log_request(LogRecord {
            attributes: attrs(n),
            ..Default::default()
        })
        .encode_to_vec()
    };
    validate_logs_with(&log(3), &limits).unwrap();
    let err = validate_logs_with(&log(4), &limits).unwrap_err();
    assert_eq!(err.field(), Some("LogRecord.attributes"));

    let point = |n| {
        metrics_request(
            Metric {
                data: Some(metric::Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        attributes: attrs(n),
                        ..Default::default()
                    }],
                    ..Default::default()
                })),
                ..Default::default()
            },
            Resource::default(),
        )
        .encode_to_vec()
    };
    validate_metrics_with(&point(3), &limits).unwrap();
    let err = validate_metrics_with(&point(4), &limits).unwrap_err();
    assert_eq!(err.field(), Some("NumberDataPoint.attributes"));
    let err =
        validate_metrics_with(&exemplar_request(attrs(4)).encode_to_vec(), &limits).unwrap_err();
    assert_eq!(err.field(), Some("Exemplar.filtered_attributes"));

    // Many elements each under the limit are fine: the count is per element.
    let many = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    Span {
                        attributes: attrs(3),
                        ..Default::default()
                    };
                    10
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    validate_traces_with(&many, &limits).unwrap();
}

#[test]
fn json_decoding_enforces_the_same_limits() {
    let options = |max_nesting_depth, max_attributes| DecodeOptions {
        any_id_length: true,
        limits: Limits {
            max_nesting_depth,
            max_attributes,
        },
    };
    // serde_json refuses documents nested deeper than 128 JSON levels, so an exemplar's
    // kvlists cannot reach depth 31 in JSON; a log body's arrays (3 JSON levels each) can.
    let mut out = Vec::new();
    let deepest = log_request(LogRecord {
        body: Some(nested_array(Limits::MAX_NESTING_DEPTH)),
        ..Default::default()
    });
    json::logs_to_json(&deepest, &mut out);
    let back = json::logs_from_json_with(&out, &options(31, 4096)).unwrap();
    assert_eq!(back, deepest);
    validate_logs_with(&back.encode_to_vec(), &Limits::default()).unwrap();
    let err = json::logs_from_json_with(&out, &options(30, 4096)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("AnyValue nested deeper than max_nesting_depth (30 levels)"),
        "{err}"
    );

    let mut out = Vec::new();
    json::logs_to_json(
        &log_request(LogRecord {
            body: Some(nested_array(4)),
            attributes: attrs(5),
            ..Default::default()
        }),
        &mut out,
    );
    json::logs_from_json_with(&out, &options(4, 5)).unwrap();
    assert!(json::logs_from_json_with(&out, &options(3, 5)).is_err());
    let err = json::logs_from_json_with(&out, &options(4, 4)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resourceLogs[0].scopeLogs[0].logRecords[0].attributes: more than max_attributes (4) attributes on one element"
    );

    let mut out = Vec::new();
    json::traces_to_json(
        &ExportTraceServiceRequest::decode(
            &trace_request(
                Resource {
                    attributes: attrs(5),
                    ..Default::default()
                },
                InstrumentationScope::default(),
                Span::default(),
            )[..],
        )
        .unwrap(),
        &mut out,
    );
    json::traces_from_json_with(&out, &options(31, 5)).unwrap();
    let err = json::traces_from_json_with(&out, &options(31, 4)).unwrap_err();
    assert_eq!(err.path(), "resourceSpans[0].resource.attributes");
}
