//! Decoding accepts every spelling the proto3 JSON mapping allows, and the encoder writes the
//! canonical one.

use lookout_proto::json::{
    logs_from_json, logs_response_to_json, metrics_from_json, metrics_response_to_json,
    metrics_to_json, status_to_json, trace_response_to_json, traces_from_json, traces_to_json,
};
use lookout_proto::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use lookout_proto::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use lookout_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::metrics::v1::{metric::Data, number_data_point};

#[test]
fn snake_case_keys_enum_names_and_string_numbers() {
    let json = br#"{"resource_spans":[{"schema_url":"s","scope_spans":[{"scope":{"name":"lib","dropped_attributes_count":"7"},"spans":[{
        "trace_id":"0102030405060708090A0B0C0D0E0F10","span_id":"a1a2a3a4a5a6a7a8","parent_span_id":"",
        "trace_state":"k=v","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":"18446744073709551615",
        "end_time_unix_nano":1.5e9,"dropped_attributes_count":3,"dropped_events_count":"4","dropped_links_count":5,
        "flags":"256",
        "status":{"code":"STATUS_CODE_ERROR","message":"boom"},
        "events":[{"time_unix_nano":"12","name":"e","attributes":[{"key":"k","value":{"int_value":"-9223372036854775808"}}]}],
        "links":[{"trace_id":"ffffffffffffffffffffffffffffffff","span_id":"0000000000000001","trace_state":"x","flags":1}]
    }]}]}]}"#;
    let req = traces_from_json(json).unwrap();
    let rs = &req.resource_spans[0];
    assert_eq!(rs.schema_url, "s");
    let ss = &rs.scope_spans[0];
    assert_eq!(ss.scope.as_ref().unwrap().dropped_attributes_count, 7);
    let span = &ss.spans[0];
    assert_eq!(span.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(
        span.span_id,
        vec![0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8]
    );
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.trace_state, "k=v");
    assert_eq!(span.kind, 3);
    assert_eq!(span.start_time_unix_nano, u64::MAX);
    assert_eq!(span.end_time_unix_nano, 1_500_000_000);
    assert_eq!(span.dropped_attributes_count, 3);
    assert_eq!(span.dropped_events_count, 4);
    assert_eq!(span.dropped_links_count, 5);
    assert_eq!(span.flags, 256);
    let status = span.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "boom"));
    assert_eq!(span.events[0].time_unix_nano, 12);
    assert_eq!(
        span.events[0].attributes[0].value.as_ref().unwrap().value,
        Some(Value::IntValue(i64::MIN))
    );
    let link = &span.links[0];
    assert_eq!(link.trace_id, vec![0xff; 16]);
    assert_eq!(link.span_id, vec![0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!((link.trace_state.as_str(), link.flags), ("x", 1));

    // And the canonical output uses lowerCamelCase, lowercase hex, integer enums, string u64s.
    let mut out = Vec::new();
    traces_to_json(&req, &mut out);
    let out = String::from_utf8(out).unwrap();
    for expected in [
        r#""traceId":"0102030405060708090a0b0c0d0e0f10""#,
        r#""spanId":"a1a2a3a4a5a6a7a8""#,
        r#""kind":3"#,
        r#""startTimeUnixNano":"18446744073709551615""#,
        r#""endTimeUnixNano":"1500000000""#,
        r#""status":{"message":"boom","code":2}"#,
        r#""intValue":"-9223372036854775808""#,
        r#""droppedAttributesCount":7"#,
        r#""schemaUrl":"s""#,
    ] {
        assert!(out.contains(expected), "{expected} not in {out}");
    }
    assert!(
        !out.contains("parentSpanId"),
        "empty id must be omitted: {out}"
    );
    assert!(!out.contains('_'), "no snake_case keys expected: {out}");
}

#[test]
fn log_severity_names_bytes_and_special_doubles() {
    let json = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"severityNumber":"SEVERITY_NUMBER_WARN","eventName":"ev","flags":1,
         "body":{"kvlistValue":{"values":[
            {"key":"b","value":{"bytesValue":"AQID/w=="}},
            {"key":"b2","value":{"bytes_value":"AQID_w"}},
            {"key":"nan","value":{"doubleValue":"NaN"}},
            {"key":"inf","value":{"doubleValue":"-Infinity"}},
            {"key":"s","value":{"doubleValue":"2.5"}},
            {"key":"i","value":{"intValue":7}},
            {"key":"n","value":null},
            {"key":"e","value":{}}
         ]}}},
        {"severityNumber":17,"body":null,"unknownField":{"deep":[1,2,3]}}
    ]}]}]}"#;
    let req = logs_from_json(json).unwrap();
    let records = &req.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records[0].severity_number, 13);
    assert_eq!(records[0].event_name, "ev");
    assert_eq!(records[0].flags, 1);
    let Some(Value::KvlistValue(kv)) = &records[0].body.as_ref().unwrap().value else {
        panic!("expected kvlist body")
    };
    let get = |i: usize| kv.values[i].value.as_ref().and_then(|v| v.value.clone());
    assert_eq!(get(0), Some(Value::BytesValue(vec![1, 2, 3, 255])));
    assert_eq!(get(1), Some(Value::BytesValue(vec![1, 2, 3, 255])));
    assert!(matches!(get(2), Some(Value::DoubleValue(d)) if d.is_nan()));
    assert_eq!(get(3), Some(Value::DoubleValue(f64::NEG_INFINITY)));
    assert_eq!(get(4), Some(Value::DoubleValue(2.5)));
    assert_eq!(get(5), Some(Value::IntValue(7)));
    assert!(kv.values[6].value.is_none(), "null means unset");
    assert_eq!(kv.values[7].value.as_ref().unwrap().value, None);
    assert_eq!(records[1].severity_number, 17);
    assert!(records[1].body.is_none());
}

#[test]
fn metric_types_from_hand_written_json() {
    let json = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"g","gauge":{"dataPoints":[{"asInt":"42","exemplars":[{"asInt":3,"spanId":"0102030405060708","traceId":"0102030405060708090a0b0c0d0e0f10","filteredAttributes":[{"key":"f","value":{"boolValue":false}}],"timeUnixNano":"5"}]}]}},
      {"name":"s","metadata":[{"key":"m","value":{"stringValue":"x"}}],"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","is_monotonic":true,"data_points":[{"as_double":"Infinity","flags":1}]}},
      {"name":"h","histogram":{"aggregation_temporality":1,"dataPoints":[{"count":"3","bucketCounts":["1",2,"0"],"explicitBounds":[0.5,"1.5"],"sum":null,"min":-1}]}},
      {"name":"e","exponential_histogram":{"aggregationTemporality":2,"dataPoints":[{"count":6,"scale":-3,"zeroCount":"1","zeroThreshold":0.001,"positive":{"offset":-2,"bucketCounts":["2","3"]},"negative":{},"sum":1.25,"max":9}]}},
      {"name":"q","summary":{"dataPoints":[{"count":"10","sum":99.5,"quantileValues":[{"quantile":0.5,"value":"NaN"},{"quantile":1,"value":100}]}]}}
    ]}]}]}"#;
    let req = metrics_from_json(json).unwrap();
    let m = &req.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(m.len(), 5);

    let Some(Data::Gauge(g)) = &m[0].data else {
        panic!()
    };
    let dp = &g.data_points[0];
    assert_eq!(dp.value, Some(number_data_point::Value::AsInt(42)));
    let ex = &dp.exemplars[0];
    assert_eq!(
        ex.value,
        Some(lookout_proto::otlp::metrics::v1::exemplar::Value::AsInt(3))
    );
    assert_eq!(ex.span_id, (1..=8).collect::<Vec<u8>>());
    assert_eq!(ex.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(ex.time_unix_nano, 5);
    assert_eq!(ex.filtered_attributes[0].key, "f");

    let Some(Data::Sum(s)) = &m[1].data else {
        panic!()
    };
    assert_eq!(m[1].metadata[0].key, "m");
    assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, true));
    assert_eq!(
        s.data_points[0].value,
        Some(number_data_point::Value::AsDouble(f64::INFINITY))
    );
    assert_eq!(s.data_points[0].flags, 1);

    let Some(Data::Histogram(h)) = &m[2].data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, 1);
    let dp = &h.data_points[0];
    assert_eq!(dp.count, 3);
    assert_eq!(dp.bucket_counts, vec![1, 2, 0]);
    assert_eq!(dp.explicit_bounds, vec![0.5, 1.5]);
    assert_eq!((dp.sum, dp.min, dp.max), (None, Some(-1.0), None));

    let Some(Data::ExponentialHistogram(e)) = &m[3].data else {
        panic!()
    };
    assert_eq!(e.aggregation_temporality, 2);
    let dp = &e.data_points[0];
    assert_eq!((dp.count, dp.scale, dp.zero_count), (6, -3, 1));
    assert_eq!(dp.zero_threshold, 0.001);
    let pos = dp.positive.as_ref().unwrap();
    assert_eq!((pos.offset, pos.bucket_counts.clone()), (-2, vec![2, 3]));
    assert_eq!(dp.negative, Some(Default::default()));
    assert_eq!((dp.sum, dp.min, dp.max), (Some(1.25), None, Some(9.0)));

    let Some(Data::Summary(q)) = &m[4].data else {
        panic!()
    };
    let dp = &q.data_points[0];
    assert_eq!((dp.count, dp.sum), (10, 99.5));
    assert_eq!(dp.quantile_values[0].quantile, 0.5);
    assert!(dp.quantile_values[0].value.is_nan());
    assert_eq!(
        (dp.quantile_values[1].quantile, dp.quantile_values[1].value),
        (1.0, 100.0)
    );

    // Histogram counts are written as strings, bounds as numbers, min/max kept when present.
    let mut out = Vec::new();
    metrics_to_json(&req, &mut out);
    let out = String::from_utf8(out).unwrap();
    for expected in [
        r#""bucketCounts":["1","2","0"],"explicitBounds":[0.5,1.5]"#,
        r#""min":-1.0"#,
        r#""asInt":"42""#,
        r#""asDouble":"Infinity""#,
        r#""value":"NaN""#,
        r#""negative":{}"#,
        r#""positive":{"offset":-2,"bucketCounts":["2","3"]}"#,
        r#""aggregationTemporality":2,"isMonotonic":true"#,
    ] {
        assert!(out.contains(expected), "{expected} not in {out}");
    }
}

#[test]
fn empty_and_null_documents_are_empty_requests() {
    assert!(traces_from_json(b"{}").unwrap().resource_spans.is_empty());
    assert!(traces_from_json(b"null").unwrap().resource_spans.is_empty());
    assert!(
        logs_from_json(br#"{"resourceLogs":null}"#)
            .unwrap()
            .resource_logs
            .is_empty()
    );
    assert!(
        metrics_from_json(br#" {"resourceMetrics":[]} "#)
            .unwrap()
            .resource_metrics
            .is_empty()
    );
    let mut out = Vec::new();
    traces_to_json(&Default::default(), &mut out);
    assert_eq!(out, b"{}");
}

#[test]
fn responses_and_status() {
    let mut out = Vec::new();
    trace_response_to_json(&ExportTraceServiceResponse::default(), &mut out);
    assert_eq!(std::str::from_utf8(&out).unwrap(), "{}");

    out.clear();
    trace_response_to_json(
        &ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 5,
                error_message: "too \"old\"".into(),
            }),
        },
        &mut out,
    );
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"partialSuccess":{"rejectedSpans":"5","errorMessage":"too \"old\""}}"#
    );

    out.clear();
    logs_response_to_json(
        &ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: i64::MAX,
                error_message: String::new(),
            }),
        },
        &mut out,
    );
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"partialSuccess":{"rejectedLogRecords":"9223372036854775807"}}"#
    );

    out.clear();
    metrics_response_to_json(
        &ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 1,
                error_message: "x".into(),
            }),
        },
        &mut out,
    );
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"partialSuccess":{"rejectedDataPoints":"1","errorMessage":"x"}}"#
    );

    out.clear();
    status_to_json(3, "bad\nthing", &mut out);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"code":3,"message":"bad\nthing"}"#
    );
}

#[test]
fn output_is_appended_not_overwritten() {
    let mut out = b"prefix ".to_vec();
    status_to_json(0, "", &mut out);
    assert_eq!(out, br#"prefix {"code":0,"message":""}"#);
}
