//! Reading the `partial_success` of an OTLP export response: the destination took the request
//! but rejected some items. Per the OTLP spec these are not retried; Lookout logs them.

use prost::Message;

use crate::core::Signal;
use lookout_proto::otlp::collector;

/// Rejected item count and message, if the response reports a partial success.
pub(crate) fn rejected(signal: Signal, response: &[u8]) -> Option<(i64, String)> {
    let (count, message) = match signal {
        Signal::Traces => {
            let r = collector::trace::v1::ExportTraceServiceResponse::decode(response).ok()?;
            let p = r.partial_success?;
            (p.rejected_spans, p.error_message)
        }
        Signal::Metrics => {
            let r = collector::metrics::v1::ExportMetricsServiceResponse::decode(response).ok()?;
            let p = r.partial_success?;
            (p.rejected_data_points, p.error_message)
        }
        Signal::Logs => {
            let r = collector::logs::v1::ExportLogsServiceResponse::decode(response).ok()?;
            let p = r.partial_success?;
            (p.rejected_log_records, p.error_message)
        }
    };
    (count > 0 || !message.is_empty()).then_some((count, message))
}

/// Logs a partial success reported by `exporter`'s destination.
pub(crate) fn report(exporter: &str, signal: Signal, response: &[u8]) {
    if let Some((count, message)) = rejected(signal, response) {
        tracing::warn!(
            exporter,
            rejected = count,
            message = %message,
            "destination accepted the {signal} request only partially; rejected items are not retried"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};

    #[test]
    fn reads_rejected_counts() {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "bad ids".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(rejected(Signal::Traces, &body), Some((3, "bad ids".into())));
        assert_eq!(rejected(Signal::Traces, &[]), None);
    }
}
