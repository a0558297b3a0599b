//! Views read the same values prost decodes, field by field.

mod wire_common;

use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::metric;
use lookout_proto::wire::reader::WireValue;
use lookout_proto::wire::{LogsView, MetricDataType, MetricsView, TracesView};
use proptest::prelude::*;
use prost::Message;
use wire_common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn span_views_match_prost(req in traces_request()) {
        let buf = req.encode_to_vec();
        let view = TracesView::new(&buf);
        let mut resources = view.resource_spans();
        for rs in &req.resource_spans {
            let rv = resources.next().unwrap().unwrap();
            prop_assert_eq!(rv.schema_url(), rs.schema_url.as_str());
            let attrs: Vec<KeyValue> = rv.resource_attributes().map(|kv| key_value_to_prost(kv.unwrap())).collect();
            let want: &[KeyValue] = rs.resource.as_ref().map_or(&[], |r| &r.attributes);
            prop_assert_eq!(&attrs[..], want);
            for kv in want {
                let first = want.iter().find(|k| k.key == kv.key).unwrap();
                let got = rv.resource_attribute(&kv.key).map(any_value_to_prost);
                prop_assert_eq!(got, Some(first.value.clone().unwrap_or_default()));
            }
            let mut scopes = rv.scope_spans();
            for ss in &rs.scope_spans {
                let sv = scopes.next().unwrap().unwrap();
                prop_assert_eq!(sv.scope_name(), ss.scope.as_ref().map_or("", |s| s.name.as_str()));
                prop_assert_eq!(sv.scope_version(), ss.scope.as_ref().map_or("", |s| s.version.as_str()));
                prop_assert_eq!(sv.schema_url(), ss.schema_url.as_str());
                let mut spans = sv.spans();
                for s in &ss.spans {
                    let v = spans.next().unwrap().unwrap();
                    prop_assert_eq!(v.trace_id(), &s.trace_id[..]);
                    prop_assert_eq!(v.span_id(), &s.span_id[..]);
                    prop_assert_eq!(v.parent_span_id(), &s.parent_span_id[..]);
                    prop_assert_eq!(v.trace_state(), s.trace_state.as_str());
                    prop_assert_eq!(v.name(), s.name.as_str());
                    prop_assert_eq!(v.kind(), s.kind);
                    prop_assert_eq!(v.start_time_unix_nano(), s.start_time_unix_nano);
                    prop_assert_eq!(v.end_time_unix_nano(), s.end_time_unix_nano);
                    prop_assert_eq!(v.flags(), s.flags);
                    prop_assert_eq!(v.status_code(), s.status.as_ref().map_or(0, |st| st.code));
                    prop_assert_eq!(v.status_message(), s.status.as_ref().map_or("", |st| st.message.as_str()));
                    let attrs: Vec<KeyValue> = v.attributes().map(|kv| key_value_to_prost(kv.unwrap())).collect();
                    prop_assert_eq!(&attrs, &s.attributes);
                    for kv in &s.attributes {
                        let first = s.attributes.iter().find(|k| k.key == kv.key).unwrap();
                        prop_assert_eq!(
                            v.attribute(&kv.key).map(any_value_to_prost),
                            Some(first.value.clone().unwrap_or_default())
                        );
                    }
                    prop_assert!(v.attribute("\x01absent").is_none());
                }
                prop_assert!(spans.next().is_none());
            }
            prop_assert!(scopes.next().is_none());
            // The one-pass reading: every span of every scope, each attribute entry handed
            // over as encoded.
            let want: Vec<_> = rs.scope_spans.iter().flat_map(|ss| &ss.spans).collect();
            let mut got = 0;
            for (span, s) in rv.span_bytes().zip(&want) {
                let mut attrs = Vec::new();
                let v = span.unwrap().read(|f| attrs.push(KeyValue::decode(match f.value {
                    WireValue::Len(b) => b,
                    _ => &[][..],
                }).unwrap())).unwrap();
                prop_assert_eq!(v.span_id(), &s.span_id[..]);
                prop_assert_eq!(v.name(), s.name.as_str());
                prop_assert_eq!(&attrs, &s.attributes);
                got += 1;
            }
            prop_assert_eq!(got, want.len());
            prop_assert_eq!(rv.span_bytes().count(), want.len());
        }
        prop_assert!(resources.next().is_none());
    }

    #[test]
    fn log_views_match_prost(req in logs_request()) {
        let buf = req.encode_to_vec();
        let view = LogsView::new(&buf);
        let mut resources = view.resource_logs();
        for rl in &req.resource_logs {
            let rv = resources.next().unwrap().unwrap();
            prop_assert_eq!(rv.schema_url(), rl.schema_url.as_str());
            let mut scopes = rv.scope_logs();
            for sl in &rl.scope_logs {
                let sv = scopes.next().unwrap().unwrap();
                prop_assert_eq!(sv.scope_name(), sl.scope.as_ref().map_or("", |s| s.name.as_str()));
                let mut records = sv.log_records();
                for l in &sl.log_records {
                    let v = records.next().unwrap().unwrap();
                    prop_assert_eq!(v.time_unix_nano(), l.time_unix_nano);
                    prop_assert_eq!(v.observed_time_unix_nano(), l.observed_time_unix_nano);
                    prop_assert_eq!(v.severity_number(), l.severity_number);
                    prop_assert_eq!(v.severity_text(), l.severity_text.as_str());
                    prop_assert_eq!(v.body().map(any_value_to_prost), l.body.clone());
                    prop_assert_eq!(v.trace_id(), &l.trace_id[..]);
                    prop_assert_eq!(v.span_id(), &l.span_id[..]);
                    prop_assert_eq!(v.flags(), l.flags);
                    prop_assert_eq!(v.event_name(), l.event_name.as_str());
                    let attrs: Vec<KeyValue> = v.attributes().map(|kv| key_value_to_prost(kv.unwrap())).collect();
                    prop_assert_eq!(&attrs, &l.attributes);
                }
                prop_assert!(records.next().is_none());
            }
            prop_assert!(scopes.next().is_none());
        }
        prop_assert!(resources.next().is_none());
    }

    #[test]
    fn metric_views_match_prost(req in metrics_request()) {
        let buf = req.encode_to_vec();
        let got: Vec<_> = MetricsView::new(&buf)
            .resource_metrics()
            .flat_map(|r| r.unwrap().scope_metrics().collect::<Vec<_>>())
            .flat_map(|s| s.unwrap().metrics().collect::<Vec<_>>())
            .map(|m| m.unwrap())
            .map(|m| (m.name().to_owned(), m.description().to_owned(), m.unit().to_owned(), m.data_type(), m.data_point_count()))
            .collect();
        let want: Vec<_> = req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| {
                let t = match m.data {
                    None => MetricDataType::Empty,
                    Some(metric::Data::Gauge(_)) => MetricDataType::Gauge,
                    Some(metric::Data::Sum(_)) => MetricDataType::Sum,
                    Some(metric::Data::Histogram(_)) => MetricDataType::Histogram,
                    Some(metric::Data::ExponentialHistogram(_)) => MetricDataType::ExponentialHistogram,
                    Some(metric::Data::Summary(_)) => MetricDataType::Summary,
                };
                (m.name.clone(), m.description.clone(), m.unit.clone(), t, metric_points(m))
            })
            .collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn service_name_reads_the_resource_attribute() {
    use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use lookout_proto::otlp::common::v1::{AnyValue, any_value};
    use lookout_proto::otlp::resource::v1::Resource;
    use lookout_proto::otlp::trace::v1::ResourceSpans;
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        key_strindex: 0,
    };
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("host.name", "h"), kv("service.name", "checkout")],
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    let buf = req.encode_to_vec();
    let rs = TracesView::new(&buf)
        .resource_spans()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(rs.service_name(), Some("checkout"));
    assert_eq!(
        rs.resource_attribute("host.name").and_then(|v| v.as_str()),
        Some("h")
    );
}
