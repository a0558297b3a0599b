//! The splitter (`wire::split_traces` / `split_logs` / `split_metrics`) on requests the
//! validator accepts. Input: one parameter byte (`p % 3`: traces, logs, metrics; `p >> 2`: the
//! maximum items per chunk, 0 = no limit), then the request.
//!
//! Every chunk must validate and hold at most the maximum; the counts must add up to the
//! input's; the chunks together must decode to the same items in the same order (spans and
//! log records compared whole; metrics compared per data point: metric name and point).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::metrics::v1::metric::Data;
use lookout_proto::wire::{
    split_logs, split_metrics, split_traces, validate_logs, validate_metrics, validate_traces,
};
use prost::Message;

#[path = "common.rs"]
mod common;

/// (metric name, encoded data point) for every point, in order.
fn metric_points(req: &ExportMetricsServiceRequest) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for m in common::metrics(req) {
        let points: Vec<Vec<u8>> = match &m.data {
            None => Vec::new(),
            Some(Data::Gauge(g)) => g.data_points.iter().map(|p| p.encode_to_vec()).collect(),
            Some(Data::Sum(s)) => s.data_points.iter().map(|p| p.encode_to_vec()).collect(),
            Some(Data::Histogram(h)) => h.data_points.iter().map(|p| p.encode_to_vec()).collect(),
            Some(Data::ExponentialHistogram(h)) => {
                h.data_points.iter().map(|p| p.encode_to_vec()).collect()
            }
            Some(Data::Summary(s)) => s.data_points.iter().map(|p| p.encode_to_vec()).collect(),
        };
        out.extend(points.into_iter().map(|p| (m.name.clone(), p)));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&p, buf)) = data.split_first() else {
        return;
    };
    let max = usize::from(p >> 2);
    let fits = |n: usize| max == 0 || n <= max;
    match p % 3 {
        0 => {
            let Ok(summary) = validate_traces(buf) else {
                return;
            };
            let chunks = split_traces(buf, max).expect("split of a validated request");
            let mut total = 0;
            for c in &chunks {
                let n = validate_traces(c).expect("chunk validates").spans;
                assert!(fits(n), "chunk of {n} spans, max {max}");
                total += n;
            }
            assert_eq!(total, summary.spans);
            let whole = ExportTraceServiceRequest::decode(buf).expect("validated");
            let joined = ExportTraceServiceRequest::decode(&chunks.concat()[..]).expect("chunks");
            let a: Vec<Vec<u8>> = common::spans(&whole)
                .iter()
                .map(|s| s.encode_to_vec())
                .collect();
            let b: Vec<Vec<u8>> = common::spans(&joined)
                .iter()
                .map(|s| s.encode_to_vec())
                .collect();
            assert!(a == b, "split changed the spans");
        }
        1 => {
            let Ok(summary) = validate_logs(buf) else {
                return;
            };
            let chunks = split_logs(buf, max).expect("split of a validated request");
            let mut total = 0;
            for c in &chunks {
                let n = validate_logs(c).expect("chunk validates").log_records;
                assert!(fits(n), "chunk of {n} records, max {max}");
                total += n;
            }
            assert_eq!(total, summary.log_records);
            let whole = ExportLogsServiceRequest::decode(buf).expect("validated");
            let joined = ExportLogsServiceRequest::decode(&chunks.concat()[..]).expect("chunks");
            let a: Vec<Vec<u8>> = common::records(&whole)
                .iter()
                .map(|s| s.encode_to_vec())
                .collect();
            let b: Vec<Vec<u8>> = common::records(&joined)
                .iter()
                .map(|s| s.encode_to_vec())
                .collect();
            assert!(a == b, "split changed the log records");
        }
        _ => {
            let Ok(summary) = validate_metrics(buf) else {
                return;
            };
            let chunks = split_metrics(buf, max).expect("split of a validated request");
            let mut total = 0;
            for c in &chunks {
                let n = validate_metrics(c).expect("chunk validates").data_points;
                assert!(fits(n), "chunk of {n} points, max {max}");
                total += n;
            }
            assert_eq!(total, summary.data_points);
            let whole = ExportMetricsServiceRequest::decode(buf).expect("validated");
            let joined = ExportMetricsServiceRequest::decode(&chunks.concat()[..]).expect("chunks");
            assert!(
                metric_points(&whole) == metric_points(&joined),
                "split changed the data points"
            );
        }
    }
});
