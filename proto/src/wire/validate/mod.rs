//! One structural pass over a whole request: accept exactly what prost would decode, plus the
//! OTLP id-length rules, and count items the way the OpenTelemetry Collector does.
//!
//! One file per job: `fields` holds the per-field checks (wire type, UTF-8, ids, packed
//! scalars), `common` the resource, scope and attribute messages every signal shares, and
//! `traces`, `logs` and `metrics` the signal-specific messages.

mod common;
mod fields;
mod logs;
mod metrics;
mod traces;

use super::error::WireError;
use super::reader::FieldReader;
use crate::Limits;
use fields::message;

type Result<T> = std::result::Result<T, WireError>;

/// Item counts of a valid `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracesSummary {
    /// Number of `ResourceSpans`.
    pub resource_spans: usize,
    /// Number of `ScopeSpans` over all resources.
    pub scope_spans: usize,
    /// Number of spans (the collector's item count for traces).
    pub spans: usize,
}

/// Item counts of a valid `ExportLogsServiceRequest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsSummary {
    /// Number of `ResourceLogs`.
    pub resource_logs: usize,
    /// Number of `ScopeLogs` over all resources.
    pub scope_logs: usize,
    /// Number of log records (the collector's item count for logs).
    pub log_records: usize,
}

/// Item counts of a valid `ExportMetricsServiceRequest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSummary {
    /// Number of `ResourceMetrics`.
    pub resource_metrics: usize,
    /// Number of `ScopeMetrics` over all resources.
    pub scope_metrics: usize,
    /// Number of `Metric` messages.
    pub metrics: usize,
    /// Data points over all metrics of all types (the collector's item count for metrics).
    pub data_points: usize,
}
// === requests ===

/// Validates an encoded `ExportTraceServiceRequest` (or `TracesData`) and counts its items.
///
/// Accepts exactly the inputs `ExportTraceServiceRequest::decode` accepts, except that it
/// also rejects trace ids that are not 0 or 16 bytes and span ids (span, parent, link) that
/// are not 0 or 8 bytes.
pub fn validate_traces(buf: &[u8]) -> Result<TracesSummary> {
    validate_traces_with(buf, &Limits::NONE)
}

/// Like [`validate_traces`], and also refuses what breaks `limits`: an `AnyValue` nested
/// deeper than `max_nesting_depth` or an element with more than `max_attributes` attributes
/// (in the same pass).
pub fn validate_traces_with(buf: &[u8], limits: &Limits) -> Result<TracesSummary> {
    let mut s = TracesSummary::default();
    let mut r = FieldReader::new(buf);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                traces::resource_spans(
                    message(&r, &f, "ExportTraceServiceRequest.resource_spans")?,
                    &mut s,
                    limits,
                )?;
                s.resource_spans += 1;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(s)
}

/// Validates an encoded `ExportLogsServiceRequest` (or `LogsData`) and counts its items.
///
/// Accepts exactly what prost accepts, except log records whose trace id is not 0 or 16
/// bytes or whose span id is not 0 or 8 bytes.
pub fn validate_logs(buf: &[u8]) -> Result<LogsSummary> {
    validate_logs_with(buf, &Limits::NONE)
}

/// Like [`validate_logs`], and also refuses what breaks `limits`: an `AnyValue` nested
/// deeper than `max_nesting_depth` or an element with more than `max_attributes` attributes
/// (in the same pass).
pub fn validate_logs_with(buf: &[u8], limits: &Limits) -> Result<LogsSummary> {
    let mut s = LogsSummary::default();
    let mut r = FieldReader::new(buf);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                logs::resource_logs(
                    message(&r, &f, "ExportLogsServiceRequest.resource_logs")?,
                    &mut s,
                    limits,
                )?;
                s.resource_logs += 1;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(s)
}

/// Validates an encoded `ExportMetricsServiceRequest` (or `MetricsData`) and counts its items.
///
/// Accepts exactly what prost accepts, except exemplars with wrong-length trace/span ids.
/// Data points are counted on the value prost would produce: when a `Metric` carries several
/// `data` oneof fields, the last variant wins and repeated occurrences of it merge.
pub fn validate_metrics(buf: &[u8]) -> Result<MetricsSummary> {
    validate_metrics_with(buf, &Limits::NONE)
}

/// Like [`validate_metrics`], and also refuses what breaks `limits`: an `AnyValue` nested
/// deeper than `max_nesting_depth` or an element with more than `max_attributes` attributes
/// (in the same pass).
pub fn validate_metrics_with(buf: &[u8], limits: &Limits) -> Result<MetricsSummary> {
    let mut s = MetricsSummary::default();
    let mut r = FieldReader::new(buf);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                metrics::resource_metrics(
                    message(&r, &f, "ExportMetricsServiceRequest.resource_metrics")?,
                    &mut s,
                    limits,
                )?;
                s.resource_metrics += 1;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(s)
}

/// Data-point count of one encoded `Metric`, with prost's oneof semantics. Shared with the
/// views and the splitter so all three agree with [`validate_metrics`].
pub(crate) fn metric_data_points(r: FieldReader<'_>) -> Result<usize> {
    metrics::metric(r, &Limits::NONE)
}

#[cfg(test)]
// In a test a failed unwrap is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rejects_short_trace_id() {
        // ResourceSpans { ScopeSpans { Span { trace_id: [1,2,3] } } }
        let span = [0x0a, 0x03, 1, 2, 3];
        let mut scope = vec![0x12, span.len() as u8];
        scope.extend_from_slice(&span);
        let mut rs = vec![0x12, scope.len() as u8];
        rs.extend_from_slice(&scope);
        let mut req = vec![0x0a, rs.len() as u8];
        req.extend_from_slice(&rs);
        let err = validate_traces(&req).unwrap_err();
        assert!(err.is_semantic());
        assert_eq!(err.field(), Some("Span.trace_id"));
        assert!(
            err.to_string().contains("must be empty or 16 bytes, got 3"),
            "{err}"
        );
    }

    #[test]
    fn last_id_occurrence_wins() {
        // Span { trace_id: [1,2,3], trace_id: [] }: prost keeps the empty one.
        let span = [0x0a, 0x03, 1, 2, 3, 0x0a, 0x00];
        let mut scope = vec![0x12, span.len() as u8];
        scope.extend_from_slice(&span);
        let mut rs = vec![0x12, scope.len() as u8];
        rs.extend_from_slice(&scope);
        let mut req = vec![0x0a, rs.len() as u8];
        req.extend_from_slice(&rs);
        assert_eq!(validate_traces(&req).unwrap().spans, 1);
    }
}
