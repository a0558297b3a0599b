//! The official OTLP/JSON examples decode to exactly the values they spell out.
//!
//! The data files are copied from open-telemetry/opentelemetry-proto `examples/`
//! (Apache-2.0); see `data/README.md`.

use lookout_proto::json::{logs_from_json, metrics_from_json, traces_from_json};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value::Value};
use lookout_proto::otlp::metrics::v1::{metric::Data, number_data_point};

const TRACE: &[u8] = include_bytes!("data/trace.json");
const METRICS: &[u8] = include_bytes!("data/metrics.json");
const LOGS: &[u8] = include_bytes!("data/logs.json");

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(v.to_owned())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        key_strindex: 0,
    }
}

fn check_resource_and_scope(
    resource: Option<&lookout_proto::otlp::resource::v1::Resource>,
    scope: Option<&lookout_proto::otlp::common::v1::InstrumentationScope>,
) {
    let resource = resource.expect("resource");
    assert_eq!(
        resource.attributes,
        vec![kv("service.name", s("my.service"))]
    );
    assert_eq!(resource.dropped_attributes_count, 0);
    assert!(resource.entity_refs.is_empty());
    let scope = scope.expect("scope");
    assert_eq!(scope.name, "my.library");
    assert_eq!(scope.version, "1.0.0");
    assert_eq!(
        scope.attributes,
        vec![kv("my.scope.attribute", s("some scope attribute"))]
    );
}

#[test]
fn trace_example() {
    let req = traces_from_json(TRACE).unwrap();
    assert_eq!(req.resource_spans.len(), 1);
    let rs = &req.resource_spans[0];
    assert_eq!(rs.scope_spans.len(), 1);
    let ss = &rs.scope_spans[0];
    check_resource_and_scope(rs.resource.as_ref(), ss.scope.as_ref());
    assert_eq!(ss.spans.len(), 1);
    let span = &ss.spans[0];
    assert_eq!(
        span.trace_id,
        [
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    assert_eq!(
        span.span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
    );
    assert_eq!(
        span.parent_span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73]
    );
    assert_eq!(span.name, "I'm a server span");
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(span.kind, 2);
    assert_eq!(span.attributes, vec![kv("my.span.attr", s("some value"))]);
    assert!(span.events.is_empty() && span.links.is_empty() && span.status.is_none());
    assert_eq!(span.flags, 0);
    assert_eq!(span.trace_state, "");
}

#[test]
fn metrics_example() {
    let req = metrics_from_json(METRICS).unwrap();
    assert_eq!(req.resource_metrics.len(), 1);
    let rm = &req.resource_metrics[0];
    assert_eq!(rm.scope_metrics.len(), 1);
    let sm = &rm.scope_metrics[0];
    check_resource_and_scope(rm.resource.as_ref(), sm.scope.as_ref());
    assert_eq!(sm.metrics.len(), 3);

    let counter = &sm.metrics[0];
    assert_eq!(counter.name, "my.counter");
    assert_eq!(counter.unit, "1");
    assert_eq!(counter.description, "I am a Counter");
    let Some(Data::Sum(sum)) = &counter.data else {
        panic!("expected sum, got {:?}", counter.data)
    };
    assert_eq!(sum.aggregation_temporality, 1);
    assert!(sum.is_monotonic);
    assert_eq!(sum.data_points.len(), 1);
    let dp = &sum.data_points[0];
    assert_eq!(dp.value, Some(number_data_point::Value::AsDouble(5.0)));
    assert_eq!(dp.start_time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(dp.time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(dp.attributes, vec![kv("my.counter.attr", s("some value"))]);

    let gauge = &sm.metrics[1];
    assert_eq!(gauge.name, "my.gauge");
    assert_eq!(gauge.description, "I am a Gauge");
    let Some(Data::Gauge(g)) = &gauge.data else {
        panic!("expected gauge, got {:?}", gauge.data)
    };
    assert_eq!(g.data_points.len(), 1);
    let dp = &g.data_points[0];
    assert_eq!(dp.value, Some(number_data_point::Value::AsDouble(10.0)));
    assert_eq!(dp.start_time_unix_nano, 0);
    assert_eq!(dp.time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(dp.attributes, vec![kv("my.gauge.attr", s("some value"))]);

    let hist = &sm.metrics[2];
    assert_eq!(hist.name, "my.histogram");
    assert_eq!(hist.description, "I am a Histogram");
    let Some(Data::Histogram(h)) = &hist.data else {
        panic!("expected histogram, got {:?}", hist.data)
    };
    assert_eq!(h.aggregation_temporality, 1);
    assert_eq!(h.data_points.len(), 1);
    let dp = &h.data_points[0];
    assert_eq!(dp.start_time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(dp.time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(dp.count, 2);
    assert_eq!(dp.sum, Some(2.0));
    assert_eq!(dp.bucket_counts, vec![1, 1]);
    assert_eq!(dp.explicit_bounds, vec![1.0]);
    assert_eq!(dp.min, Some(0.0));
    assert_eq!(dp.max, Some(2.0));
    assert_eq!(
        dp.attributes,
        vec![kv("my.histogram.attr", s("some value"))]
    );
}

#[test]
fn logs_example() {
    let req = logs_from_json(LOGS).unwrap();
    assert_eq!(req.resource_logs.len(), 1);
    let rl = &req.resource_logs[0];
    assert_eq!(rl.scope_logs.len(), 1);
    let sl = &rl.scope_logs[0];
    check_resource_and_scope(rl.resource.as_ref(), sl.scope.as_ref());
    assert_eq!(sl.log_records.len(), 1);
    let r = &sl.log_records[0];
    assert_eq!(r.time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(r.observed_time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(r.severity_text, "Information");
    assert_eq!(r.severity_number, 0);
    assert_eq!(hex(&r.trace_id), "5b8efff798038103d269b633813fc60c");
    assert_eq!(hex(&r.span_id), "eee19b7ec3c1b174");
    assert_eq!(r.body, s("Example log record"));
    let any = |v: Value| Some(AnyValue { value: Some(v) });
    assert_eq!(
        r.attributes,
        vec![
            kv("string.attribute", s("some string")),
            kv("boolean.attribute", any(Value::BoolValue(true))),
            kv("int.attribute", any(Value::IntValue(10))),
            kv("double.attribute", any(Value::DoubleValue(637.704))),
            kv(
                "array.attribute",
                any(Value::ArrayValue(
                    lookout_proto::otlp::common::v1::ArrayValue {
                        values: vec![s("many").unwrap(), s("values").unwrap()],
                    }
                ))
            ),
            kv(
                "map.attribute",
                any(Value::KvlistValue(
                    lookout_proto::otlp::common::v1::KeyValueList {
                        values: vec![kv("some.map.key", s("some value"))],
                    }
                ))
            ),
        ]
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
