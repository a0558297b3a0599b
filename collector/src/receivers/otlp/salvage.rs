//! Partial acceptance: a request whose only fault is items with wrong-length trace or span ids
//! keeps its good items, and the client learns how many were rejected through the OTLP
//! `partial_success` response, instead of losing the whole request to one bad item.
//!
//! This is the slow path of bad input only: the request is decoded, filtered and re-encoded.

use bytes::Bytes;
use prost::Message;

use crate::core::Signal;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::trace::v1::Span;

/// A request with its bad items removed.
pub(super) struct Salvaged {
    /// The re-encoded request holding the good items.
    pub(super) payload: Bytes,
    /// How many items were removed.
    pub(super) rejected: i64,
    /// Why, for the client.
    pub(super) message: String,
}

fn id_ok(id: &[u8], len: usize) -> bool {
    id.is_empty() || id.len() == len
}

fn span_ok(span: &Span) -> bool {
    id_ok(&span.trace_id, 16)
        && id_ok(&span.span_id, 8)
        && id_ok(&span.parent_span_id, 8)
        && span
            .links
            .iter()
            .all(|l| id_ok(&l.trace_id, 16) && id_ok(&l.span_id, 8))
}

/// Removes spans or log records with wrong-length ids. `None` when the request cannot be
/// salvaged this way (metrics, or not decodable at all).
pub(super) fn salvage(signal: Signal, payload: &[u8]) -> Option<Salvaged> {
    match signal {
        Signal::Traces => {
            let mut request = ExportTraceServiceRequest::decode(payload).ok()?;
            let mut rejected = 0i64;
            for rs in &mut request.resource_spans {
                for ss in &mut rs.scope_spans {
                    let before = ss.spans.len();
                    ss.spans.retain(span_ok);
                    rejected += (before - ss.spans.len()) as i64;
                }
            }
            Some(Salvaged {
                payload: Bytes::from(request.encode_to_vec()),
                rejected,
                message: format!(
                    "{rejected} span(s) rejected: trace_id must be 16 bytes and span_id / parent_span_id 8 bytes"
                ),
            })
        }
        Signal::Logs => {
            let mut request = ExportLogsServiceRequest::decode(payload).ok()?;
            let mut rejected = 0i64;
            for rl in &mut request.resource_logs {
                for sl in &mut rl.scope_logs {
                    let before = sl.log_records.len();
                    sl.log_records
                        .retain(|r| id_ok(&r.trace_id, 16) && id_ok(&r.span_id, 8));
                    rejected += (before - sl.log_records.len()) as i64;
                }
            }
            Some(Salvaged {
                payload: Bytes::from(request.encode_to_vec()),
                rejected,
                message: format!(
                    "{rejected} log record(s) rejected: trace_id must be 16 bytes and span_id 8 bytes"
                ),
            })
        }
        Signal::Metrics => None,
    }
}

/// The encoded `Export*ServiceResponse` reporting a partial success.
pub(super) fn response_protobuf(signal: Signal, rejected: i64, message: &str) -> Vec<u8> {
    use lookout_proto::otlp::collector::{logs, metrics, trace};
    let message = message.to_string();
    match signal {
        Signal::Traces => trace::v1::ExportTraceServiceResponse {
            partial_success: Some(trace::v1::ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        }
        .encode_to_vec(),
        Signal::Metrics => metrics::v1::ExportMetricsServiceResponse {
            partial_success: Some(metrics::v1::ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            }),
        }
        .encode_to_vec(),
        Signal::Logs => logs::v1::ExportLogsServiceResponse {
            partial_success: Some(logs::v1::ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }
        .encode_to_vec(),
    }
}

/// The same response in OTLP/JSON.
pub(super) fn response_json(signal: Signal, rejected: i64, message: &str) -> Vec<u8> {
    use lookout_proto::otlp::collector::{logs, metrics, trace};
    let message = message.to_string();
    let mut out = Vec::new();
    match signal {
        Signal::Traces => lookout_proto::json::trace_response_to_json(
            &trace::v1::ExportTraceServiceResponse {
                partial_success: Some(trace::v1::ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                }),
            },
            &mut out,
        ),
        Signal::Metrics => lookout_proto::json::metrics_response_to_json(
            &metrics::v1::ExportMetricsServiceResponse {
                partial_success: Some(metrics::v1::ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message,
                }),
            },
            &mut out,
        ),
        Signal::Logs => lookout_proto::json::logs_response_to_json(
            &logs::v1::ExportLogsServiceResponse {
                partial_success: Some(logs::v1::ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                }),
            },
            &mut out,
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans};

    #[test]
    fn keeps_good_spans_and_counts_bad_ones() {
        let span = |trace_len: usize, name: &str| Span {
            trace_id: vec![1; trace_len],
            span_id: vec![2; 8],
            name: name.into(),
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(16, "good"), span(15, "bad"), span(16, "good2")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let salvaged = salvage(Signal::Traces, &request.encode_to_vec()).unwrap();
        assert_eq!(salvaged.rejected, 1);
        let kept = ExportTraceServiceRequest::decode(&salvaged.payload[..]).unwrap();
        let names: Vec<_> = kept.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["good", "good2"]);
        assert!(crate::core::validate(Signal::Traces, &salvaged.payload).is_ok());
    }

    #[test]
    fn undecodable_or_metrics_are_not_salvaged() {
        assert!(salvage(Signal::Traces, b"\x0a\xff").is_none());
        assert!(salvage(Signal::Metrics, b"").is_none());
    }
}
