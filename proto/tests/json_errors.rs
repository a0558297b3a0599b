//! Every class of bad input is an `Err` naming the JSON path, and no input panics.

use lookout_proto::json::{
    JsonError, MAX_ANY_VALUE_DEPTH, logs_from_json, metrics_from_json, traces_from_json,
};
use proptest::prelude::*;

fn trace_err(json: &str) -> JsonError {
    match traces_from_json(json.as_bytes()) {
        Ok(req) => panic!("expected an error for {json}, got {req:?}"),
        Err(e) => e,
    }
}

fn metrics_err(json: &str) -> JsonError {
    match metrics_from_json(json.as_bytes()) {
        Ok(req) => panic!("expected an error for {json}, got {req:?}"),
        Err(e) => e,
    }
}

fn logs_err(json: &str) -> JsonError {
    match logs_from_json(json.as_bytes()) {
        Ok(req) => panic!("expected an error for {json}, got {req:?}"),
        Err(e) => e,
    }
}

fn span_json(span: &str) -> String {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{}},{{"spans":[{{}},{{}},{{}},{span}]}}]}}]}}"#)
}

#[test]
fn wrong_id_length_names_the_path() {
    let e = trace_err(&span_json(
        r#"{"traceId":"5b8efff798038103d269b633813fc6"}"#,
    ));
    assert_eq!(
        e.to_string(),
        "resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters, got 30"
    );
    assert_eq!(e.path(), "resourceSpans[0].scopeSpans[1].spans[3].traceId");
    assert!(!e.is_syntax());

    let e = trace_err(&span_json(r#"{"links":[{"span_id":"abc"}]}"#));
    assert_eq!(
        e.to_string(),
        "resourceSpans[0].scopeSpans[1].spans[3].links[0].span_id: expected 16 hex characters, got 3"
    );
}

#[test]
fn bad_hex() {
    let e = trace_err(&span_json(r#"{"spanId":"zzzzzzzzzzzzzzzz"}"#));
    assert_eq!(
        e.to_string(),
        "resourceSpans[0].scopeSpans[1].spans[3].spanId: invalid hex string"
    );
    // Ids are hex, never base64, even though proto3 JSON would use base64 for bytes.
    let e = trace_err(&span_json(r#"{"traceId":"W47/95gDgQPSabYzgT/GDA=="}"#));
    assert!(
        e.to_string()
            .contains("traceId: expected 32 hex characters"),
        "{e}"
    );
    let e = logs_err(
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"eee19b7ec3c1b17g"}]}]}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "resourceLogs[0].scopeLogs[0].logRecords[0].spanId: invalid hex string"
    );
    let e = metrics_err(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"exemplars":[{"traceId":7}]}]}}]}]}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].exemplars[0].traceId: expected hex string, got number"
    );
}

#[test]
fn bad_base64() {
    let e = logs_err(
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"not base64!"}}]}]}]}"#,
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "resourceLogs[0].scopeLogs[0].logRecords[0].body.bytesValue: invalid base64"
        ),
        "{msg}"
    );
}

#[test]
fn wrong_json_types() {
    let cases: &[(&str, &str)] = &[
        (r#"[]"#, "expected object, got array"),
        (
            r#"{"resourceSpans":{}}"#,
            "resourceSpans: expected array, got object",
        ),
        (
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":1}]}}]}"#,
            "resourceSpans[0].resource.attributes[0].key: expected string, got number",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":true}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].name: expected string, got boolean",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected uint64, got \"soon\"",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":-1}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected uint64, got -1",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"endTimeUnixNano":1.5}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: expected uint64, got 1.5",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"droppedLinksCount":4294967296}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].droppedLinksCount: expected uint32, got 4294967296",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SERVER"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].kind: unknown SpanKind value \"SERVER\"",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"status":{"code":[]}}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].status.code: expected enum as integer or name, got array",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"intValue":"1","stringValue":"x"}}]}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.stringValue: conflicts with intValue: only one of them may be set",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"doubleValue":"nan"}}]}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.doubleValue: expected double, got \"nan\"",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"intValue":"9223372036854775808"}}]}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: expected int64, got \"9223372036854775808\"",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(trace_err(json).to_string(), *expected, "input {json}");
    }

    let e = metrics_err(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{},"sum":{}}]}]}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "resourceMetrics[0].scopeMetrics[0].metrics[0].sum: conflicts with gauge: only one of them may be set"
    );
    let e = metrics_err(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"bucketCounts":["1",null]}]}}]}]}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0].bucketCounts[1]: expected uint64 as number or string, got null"
    );
    let e = metrics_err(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"isMonotonic":"true"}}]}]}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.isMonotonic: expected boolean, got string"
    );
}

fn nested_array_body(levels: usize) -> String {
    let mut v = String::from(r#"{"stringValue":"leaf"}"#);
    for _ in 1..levels {
        v = format!(r#"{{"arrayValue":{{"values":[{v}]}}}}"#);
    }
    format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{v}}}]}}]}}]}}"#)
}

#[test]
fn nesting_limit() {
    assert!(logs_from_json(nested_array_body(MAX_ANY_VALUE_DEPTH).as_bytes()).is_ok());
    let e = logs_err(&nested_array_body(MAX_ANY_VALUE_DEPTH + 1));
    let msg = e.to_string();
    assert!(
        msg.starts_with("resourceLogs[0].scopeLogs[0].logRecords[0].body.arrayValue.values[0]."),
        "{msg}"
    );
    assert!(
        msg.ends_with(": AnyValue nested deeper than max_nesting_depth (31 levels)"),
        "{msg}"
    );

    // Far deeper than anything legitimate: must be an error, not a stack overflow.
    let deep = "[".repeat(100_000);
    assert!(traces_from_json(deep.as_bytes()).unwrap_err().is_syntax());
    let kv = nested_kvlist_attr(10_000);
    assert!(traces_from_json(kv.as_bytes()).is_err());
}

fn nested_kvlist_attr(levels: usize) -> String {
    let open = r#"{"kvlistValue":{"values":[{"key":"k","value":"#;
    let close = "}]}}";
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"k","value":{}{{}}{}}}]}}}}]}}"#,
        open.repeat(levels),
        close.repeat(levels)
    )
}

#[test]
fn invalid_json() {
    for bad in [
        &b""[..],
        b"{",
        b"{\"resourceSpans\":[}",
        b"\xff\xfe",
        b"{} trailing",
        b"NaN",
    ] {
        let e = traces_from_json(bad).unwrap_err();
        assert!(e.is_syntax(), "{e}");
        assert!(e.to_string().starts_with("invalid JSON: "), "{e}");
        assert_eq!(e.path(), "");
    }
    let e = traces_from_json(b"{\n\"resourceSpans\": [,]}").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn error_is_std_error() {
    fn takes(_: &dyn std::error::Error) {}
    takes(&trace_err("1"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = traces_from_json(&bytes);
        let _ = logs_from_json(&bytes);
        let _ = metrics_from_json(&bytes);
    }

    /// Structured garbage reaches far deeper into the decoder than random bytes do.
    #[test]
    fn arbitrary_json_never_panics(doc in json_value()) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        let _ = traces_from_json(&bytes);
        let _ = logs_from_json(&bytes);
        let _ = metrics_from_json(&bytes);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    const KEYS: &[&str] = &[
        "resourceSpans",
        "resourceLogs",
        "resourceMetrics",
        "resource",
        "scopeSpans",
        "scopeLogs",
        "scopeMetrics",
        "scope",
        "spans",
        "logRecords",
        "metrics",
        "attributes",
        "key",
        "value",
        "stringValue",
        "intValue",
        "doubleValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
        "values",
        "traceId",
        "spanId",
        "gauge",
        "sum",
        "histogram",
        "exponentialHistogram",
        "summary",
        "dataPoints",
        "asInt",
        "asDouble",
        "bucketCounts",
        "positive",
        "quantileValues",
        "exemplars",
        "kind",
        "status",
        "code",
        "body",
        "count",
        "scale",
        "entityRefs",
        "links",
        "events",
        "min",
        "max",
        "severityNumber",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("NaN".to_owned()),
            Just("0102030405060708".to_owned()),
            Just("SPAN_KIND_SERVER".to_owned()),
            "[0-9a-fA-F]{0,34}",
            ".{0,6}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6).prop_map(
                |kvs| Value::Object(kvs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

#[test]
fn any_id_length_variant_passes_wrong_length_hex_through() {
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"01020304050607"}]}]}]}"#;
    assert!(lookout_proto::json::traces_from_json(json).is_err());
    let request = lookout_proto::json::traces_from_json_any_id_length(json).unwrap();
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id, vec![1, 2]);
    assert_eq!(span.span_id, vec![1, 2, 3, 4, 5, 6, 7]);
    // Odd-length or non-hex ids are still errors.
    let odd = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"010"}]}]}]}"#;
    assert!(lookout_proto::json::traces_from_json_any_id_length(odd).is_err());
}
