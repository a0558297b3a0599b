//! The one-pass validators on arbitrary bytes, against prost.
//!
//! The validators promise to accept exactly what prost's `decode` accepts, except requests
//! with ids of the wrong length (trace ids 0 or 16 bytes, span ids 0 or 8), and to count items
//! as the Collector does. Checked both ways on every input, for all three signals.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::wire::{validate_logs, validate_metrics, validate_traces};
use prost::Message;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let ours = validate_traces(data);
    match ExportTraceServiceRequest::decode(data) {
        Ok(req) if common::traces_ids_ok(&req) => {
            let s = ours.unwrap_or_else(|e| panic!("prost decodes, validator refuses: {e}"));
            assert_eq!(s.resource_spans, req.resource_spans.len());
            assert_eq!(s.spans, common::spans(&req).len());
        }
        Ok(_) => assert!(ours.is_err(), "validator accepts a wrong-length id"),
        Err(e) => assert!(ours.is_err(), "validator accepts what prost refuses: {e}"),
    }

    let ours = validate_logs(data);
    match ExportLogsServiceRequest::decode(data) {
        Ok(req) if common::logs_ids_ok(&req) => {
            let s = ours.unwrap_or_else(|e| panic!("prost decodes, validator refuses: {e}"));
            assert_eq!(s.resource_logs, req.resource_logs.len());
            assert_eq!(s.log_records, common::records(&req).len());
        }
        Ok(_) => assert!(ours.is_err(), "validator accepts a wrong-length id"),
        Err(e) => assert!(ours.is_err(), "validator accepts what prost refuses: {e}"),
    }

    let ours = validate_metrics(data);
    match ExportMetricsServiceRequest::decode(data) {
        Ok(req) if common::metrics_ids_ok(&req) => {
            let s = ours.unwrap_or_else(|e| panic!("prost decodes, validator refuses: {e}"));
            assert_eq!(s.resource_metrics, req.resource_metrics.len());
            assert_eq!(s.metrics, common::metrics(&req).len());
            assert_eq!(s.data_points, common::data_points(&req));
        }
        Ok(_) => assert!(ours.is_err(), "validator accepts a wrong-length id"),
        Err(e) => assert!(ours.is_err(), "validator accepts what prost refuses: {e}"),
    }
});
