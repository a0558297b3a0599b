//! `validate_*` counts items exactly as the prost tree does, for random valid requests.

mod wire_common;

use lookout_proto::wire::{validate_logs, validate_metrics, validate_traces};
use proptest::prelude::*;
use prost::Message;
use wire_common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn trace_counts_match_prost(req in traces_request()) {
        let buf = req.encode_to_vec();
        let s = validate_traces(&buf);
        prop_assert_eq!(s.is_ok(), trace_ids_ok(&req), "{:?}", s);
        if let Ok(s) = s {
            prop_assert_eq!(s.spans, span_count(&req));
            prop_assert_eq!(s.resource_spans, req.resource_spans.len());
            prop_assert_eq!(s.scope_spans, req.resource_spans.iter().map(|r| r.scope_spans.len()).sum::<usize>());
        }
    }

    #[test]
    fn log_counts_match_prost(req in logs_request()) {
        let buf = req.encode_to_vec();
        let s = validate_logs(&buf);
        prop_assert_eq!(s.is_ok(), log_ids_ok(&req), "{:?}", s);
        if let Ok(s) = s {
            prop_assert_eq!(s.log_records, log_count(&req));
            prop_assert_eq!(s.resource_logs, req.resource_logs.len());
        }
    }

    #[test]
    fn metric_counts_match_prost(req in metrics_request()) {
        let buf = req.encode_to_vec();
        let s = validate_metrics(&buf);
        prop_assert_eq!(s.is_ok(), metric_ids_ok(&req), "{:?}", s);
        if let Ok(s) = s {
            prop_assert_eq!(s.data_points, point_count(&req));
            prop_assert_eq!(s.metrics, metric_count(&req));
            prop_assert_eq!(s.resource_metrics, req.resource_metrics.len());
        }
    }

    /// The oneof rules: two `data` fields of different types keep only the last; two of the
    /// same type merge their points.
    #[test]
    fn metric_with_several_data_fields_counts_like_prost(a in metric(), b in metric(), c in metric()) {
        let mut buf = Vec::new();
        for m in [&a, &b, &c] {
            // Concatenated Metric encodings decode as one merged Metric.
            buf.extend_from_slice(&m.encode_to_vec());
        }
        let merged = lookout_proto::otlp::metrics::v1::Metric::decode(&buf[..]).unwrap();
        let mut req_buf = Vec::new();
        // Wrap the raw concatenation (not the re-encoded merge) as request > resource > scope > metric.
        let wrap = |field: u8, payload: &[u8]| {
            let mut out = vec![(field << 3) | 2];
            prost::encoding::encode_varint(payload.len() as u64, &mut out);
            out.extend_from_slice(payload);
            out
        };
        req_buf.extend(wrap(1, &wrap(2, &wrap(2, &buf))));
        let s = validate_metrics(&req_buf);
        let want = lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest::decode(&req_buf[..]).unwrap();
        prop_assert_eq!(s.is_ok(), metric_ids_ok(&want));
        if let Ok(s) = s {
            prop_assert_eq!(s.data_points, metric_points(&merged));
        }
    }
}
