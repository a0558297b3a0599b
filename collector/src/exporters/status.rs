//! A destination's statuses as [`ExportError`]s, in one place for every exporter: which are
//! worth retrying (as the OTLP specification lists them) and which say the destination is
//! overloaded or too slow (what adaptive concurrency backs off on).

use std::time::Duration;

use tonic::Code;

use super::ExportError;

/// An HTTP status other than success, with the server's `Retry-After` if it gave one.
pub(crate) fn http(status: u16, message: String, retry_after: Option<Duration>) -> ExportError {
    match status {
        429 | 503 => ExportError::retryable(message)
            .with_throttle(retry_after)
            .overloaded(),
        504 => ExportError::timed_out(message).with_throttle(retry_after),
        502 => ExportError::retryable(message).with_throttle(retry_after),
        _ => ExportError::permanent(message),
    }
}

/// A gRPC status other than OK, with the delay of its `RetryInfo` if it carried one.
pub(crate) fn grpc(code: Code, message: String, retry_delay: Option<Duration>) -> ExportError {
    match code {
        Code::Unavailable => ExportError::retryable(message)
            .with_throttle(retry_delay)
            .overloaded(),
        // Retryable only when the server says when to come back; overloaded either way.
        Code::ResourceExhausted if retry_delay.is_some() => ExportError::retryable(message)
            .with_throttle(retry_delay)
            .overloaded(),
        Code::ResourceExhausted => ExportError::permanent(message).overloaded(),
        Code::DeadlineExceeded => ExportError::timed_out(message).with_throttle(retry_delay),
        Code::Cancelled | Code::Aborted | Code::OutOfRange | Code::DataLoss => {
            ExportError::retryable(message).with_throttle(retry_delay)
        }
        _ => ExportError::permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses() {
        let e = http(429, "x".into(), Some(Duration::from_secs(2)));
        assert!(e.is_retryable() && e.is_overload());
        assert_eq!(e.throttle(), Some(Duration::from_secs(2)));
        assert!(http(503, "x".into(), None).is_overload());
        let e = http(504, "x".into(), None);
        assert!(e.is_retryable() && e.is_timeout());
        let e = http(502, "x".into(), None);
        assert!(e.is_retryable() && !e.is_overload() && !e.is_timeout());
        let e = http(400, "x".into(), None);
        assert!(!e.is_retryable() && !e.is_overload());
    }

    #[test]
    fn grpc_codes() {
        let e = grpc(Code::Unavailable, "x".into(), None);
        assert!(e.is_retryable() && e.is_overload());
        let e = grpc(Code::ResourceExhausted, "x".into(), None);
        assert!(!e.is_retryable() && e.is_overload());
        let e = grpc(
            Code::ResourceExhausted,
            "x".into(),
            Some(Duration::from_secs(1)),
        );
        assert!(e.is_retryable() && e.is_overload());
        assert!(grpc(Code::DeadlineExceeded, "x".into(), None).is_timeout());
        let e = grpc(Code::InvalidArgument, "x".into(), None);
        assert!(!e.is_retryable() && !e.is_overload());
    }
}
