//! Batching is byte concatenation: N encoded requests decode as their union.

mod wire_common;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::wire::{validate_logs, validate_metrics, validate_traces};
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;
use wire_common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn traces_concatenate(reqs in vec(traces_request(), 0..4)) {
        let buf: Vec<u8> = reqs.iter().flat_map(|r| r.encode_to_vec()).collect();
        let union = ExportTraceServiceRequest {
            resource_spans: reqs.iter().flat_map(|r| r.resource_spans.clone()).collect(),
        };
        prop_assert_eq!(ExportTraceServiceRequest::decode(&buf[..]).unwrap(), union.clone());
        if trace_ids_ok(&union) {
            prop_assert_eq!(validate_traces(&buf).unwrap().spans, span_count(&union));
        }
    }

    #[test]
    fn logs_concatenate(reqs in vec(logs_request(), 0..4)) {
        let buf: Vec<u8> = reqs.iter().flat_map(|r| r.encode_to_vec()).collect();
        let union = ExportLogsServiceRequest {
            resource_logs: reqs.iter().flat_map(|r| r.resource_logs.clone()).collect(),
        };
        prop_assert_eq!(ExportLogsServiceRequest::decode(&buf[..]).unwrap(), union.clone());
        if log_ids_ok(&union) {
            prop_assert_eq!(validate_logs(&buf).unwrap().log_records, log_count(&union));
        }
    }

    #[test]
    fn metrics_concatenate(reqs in vec(metrics_request(), 0..4)) {
        let buf: Vec<u8> = reqs.iter().flat_map(|r| r.encode_to_vec()).collect();
        let union = ExportMetricsServiceRequest {
            resource_metrics: reqs.iter().flat_map(|r| r.resource_metrics.clone()).collect(),
        };
        prop_assert_eq!(ExportMetricsServiceRequest::decode(&buf[..]).unwrap(), union.clone());
        if metric_ids_ok(&union) {
            prop_assert_eq!(validate_metrics(&buf).unwrap().data_points, point_count(&union));
        }
    }
}
