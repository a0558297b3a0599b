//! Shared by the wire targets: prost-side item counts and id checks (the oracle the wire
//! functions are compared with).
#![allow(dead_code)]

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::logs::v1::LogRecord;
use lookout_proto::otlp::metrics::v1::{Exemplar, Metric, metric::Data};
use lookout_proto::otlp::trace::v1::Span;

pub fn spans(req: &ExportTraceServiceRequest) -> Vec<&Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

pub fn records(req: &ExportLogsServiceRequest) -> Vec<&LogRecord> {
    req.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect()
}

pub fn metrics(req: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect()
}

pub fn points(m: &Metric) -> usize {
    match &m.data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    }
}

pub fn data_points(req: &ExportMetricsServiceRequest) -> usize {
    metrics(req).into_iter().map(points).sum()
}

fn trace_id_ok(id: &[u8]) -> bool {
    id.is_empty() || id.len() == 16
}

fn span_id_ok(id: &[u8]) -> bool {
    id.is_empty() || id.len() == 8
}

/// The OTLP id-length rules the validator adds to prost's.
pub fn traces_ids_ok(req: &ExportTraceServiceRequest) -> bool {
    spans(req).iter().all(|s| {
        trace_id_ok(&s.trace_id)
            && span_id_ok(&s.span_id)
            && span_id_ok(&s.parent_span_id)
            && s.links
                .iter()
                .all(|l| trace_id_ok(&l.trace_id) && span_id_ok(&l.span_id))
    })
}

pub fn logs_ids_ok(req: &ExportLogsServiceRequest) -> bool {
    records(req)
        .iter()
        .all(|r| trace_id_ok(&r.trace_id) && span_id_ok(&r.span_id))
}

fn exemplars_ok(e: &[Exemplar]) -> bool {
    e.iter()
        .all(|e| trace_id_ok(&e.trace_id) && span_id_ok(&e.span_id))
}

pub fn metrics_ids_ok(req: &ExportMetricsServiceRequest) -> bool {
    metrics(req).iter().all(|m| match &m.data {
        None => true,
        Some(Data::Gauge(g)) => g.data_points.iter().all(|p| exemplars_ok(&p.exemplars)),
        Some(Data::Sum(s)) => s.data_points.iter().all(|p| exemplars_ok(&p.exemplars)),
        Some(Data::Histogram(h)) => h.data_points.iter().all(|p| exemplars_ok(&p.exemplars)),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter().all(|p| exemplars_ok(&p.exemplars))
        }
        Some(Data::Summary(_)) => true,
    })
}
