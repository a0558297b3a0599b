//! Split chunks respect the limit and together decode to the original items, in order, under
//! their original resource and scope.

mod wire_common;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::metrics::v1::{Metric, metric};
use lookout_proto::wire::{
    split_logs, split_metrics, split_traces, validate_logs, validate_metrics, validate_traces,
};
use proptest::prelude::*;
use prost::Message;
use wire_common::*;

/// Every metric, flattened to one entry per data point: (resource, scope, metric without its
/// points, the point's index within the flattened point list of that metric type).
fn flat_points(r: &ExportMetricsServiceRequest) -> Vec<(String, String, Metric)> {
    let mut out = Vec::new();
    for rm in &r.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let key = format!("{:?}|{}", rm.resource, rm.schema_url);
                let skey = format!("{:?}|{}", sm.scope, sm.schema_url);
                // One single-point metric per point, so pieces of a split metric compare equal
                // to the same points of the unsplit one.
                let mut push = |m: Metric| out.push((key.clone(), skey.clone(), m));
                match &m.data {
                    None => push(m.clone()),
                    Some(metric::Data::Gauge(g)) if g.data_points.is_empty() => push(m.clone()),
                    Some(metric::Data::Gauge(g)) => g.data_points.iter().for_each(|p| {
                        let mut g = g.clone();
                        g.data_points = vec![p.clone()];
                        push(Metric {
                            data: Some(metric::Data::Gauge(g)),
                            ..m.clone()
                        })
                    }),
                    Some(metric::Data::Sum(s)) if s.data_points.is_empty() => push(m.clone()),
                    Some(metric::Data::Sum(s)) => s.data_points.iter().for_each(|p| {
                        let mut s = s.clone();
                        s.data_points = vec![p.clone()];
                        push(Metric {
                            data: Some(metric::Data::Sum(s)),
                            ..m.clone()
                        })
                    }),
                    Some(metric::Data::Histogram(h)) if h.data_points.is_empty() => push(m.clone()),
                    Some(metric::Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
                        let mut h = h.clone();
                        h.data_points = vec![p.clone()];
                        push(Metric {
                            data: Some(metric::Data::Histogram(h)),
                            ..m.clone()
                        })
                    }),
                    Some(metric::Data::ExponentialHistogram(h)) if h.data_points.is_empty() => {
                        push(m.clone())
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        h.data_points.iter().for_each(|p| {
                            let mut h = h.clone();
                            h.data_points = vec![p.clone()];
                            push(Metric {
                                data: Some(metric::Data::ExponentialHistogram(h)),
                                ..m.clone()
                            })
                        })
                    }
                    Some(metric::Data::Summary(s)) if s.data_points.is_empty() => push(m.clone()),
                    Some(metric::Data::Summary(s)) => s.data_points.iter().for_each(|p| {
                        let mut s = s.clone();
                        s.data_points = vec![p.clone()];
                        push(Metric {
                            data: Some(metric::Data::Summary(s)),
                            ..m.clone()
                        })
                    }),
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn trace_chunks_are_bounded_and_complete(req in traces_request(), max in 1usize..7) {
        prop_assume!(trace_ids_ok(&req));
        let buf = req.encode_to_vec();
        let chunks = split_traces(&buf, max).unwrap();
        for c in &chunks {
            let n = validate_traces(c).unwrap().spans;
            prop_assert!(n <= max, "{n} > {max}");
        }
        // Only the last chunk may be short of the limit (except when spans run out).
        let total = span_count(&req);
        if total > 0 {
            prop_assert_eq!(chunks.len(), total.div_ceil(max));
        }
        let joined: Vec<u8> = chunks.concat();
        let back = ExportTraceServiceRequest::decode(&joined[..]).unwrap();
        prop_assert_eq!(flat_spans(&back), flat_spans(&req));
        if total <= max && !buf.is_empty() {
            // One chunk: the whole request, resources and scopes without spans included.
            prop_assert_eq!(back, req);
        }
    }

    #[test]
    fn log_chunks_are_bounded_and_complete(req in logs_request(), max in 1usize..7) {
        prop_assume!(log_ids_ok(&req));
        let buf = req.encode_to_vec();
        let chunks = split_logs(&buf, max).unwrap();
        for c in &chunks {
            prop_assert!(validate_logs(c).unwrap().log_records <= max);
        }
        let total = log_count(&req);
        if total > 0 {
            prop_assert_eq!(chunks.len(), total.div_ceil(max));
        }
        let back = ExportLogsServiceRequest::decode(&chunks.concat()[..]).unwrap();
        prop_assert_eq!(flat_logs(&back), flat_logs(&req));
    }

    #[test]
    fn metric_chunks_are_bounded_and_complete(req in metrics_request(), max in 1usize..7) {
        prop_assume!(metric_ids_ok(&req));
        let buf = req.encode_to_vec();
        let chunks = split_metrics(&buf, max).unwrap();
        for c in &chunks {
            prop_assert!(validate_metrics(c).unwrap().data_points <= max);
        }
        let total = point_count(&req);
        if total > 0 {
            prop_assert_eq!(chunks.len(), total.div_ceil(max));
        }
        let back = ExportMetricsServiceRequest::decode(&chunks.concat()[..]).unwrap();
        prop_assert_eq!(point_count(&back), total);
        prop_assert_eq!(flat_points(&back), flat_points(&req));
    }
}

#[test]
fn zero_limit_and_empty_input() {
    assert!(split_traces(&[], 5).unwrap().is_empty());
    let req = ExportTraceServiceRequest {
        resource_spans: vec![Default::default()],
    };
    let buf = req.encode_to_vec();
    assert_eq!(split_traces(&buf, 0).unwrap(), vec![buf.clone()]);
    // A request with no spans still yields its (empty) resource once.
    let chunks = split_traces(&buf, 3).unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        ExportTraceServiceRequest::decode(&chunks[0][..]).unwrap(),
        req
    );
}
