//! What one send attempt says about the destination's load: the one place where export
//! results are classified for the concurrency controller.

use crate::exporters::ExportError;

/// The outcome of one send attempt, as the controller reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feedback {
    /// The destination processed the request: its response time is a valid sample.
    Accepted,
    /// The destination is overloaded or too slow: a timeout, HTTP 429/503/504, gRPC
    /// RESOURCE_EXHAUSTED/UNAVAILABLE/DEADLINE_EXCEEDED, or a requested retry delay.
    BackPressure,
    /// A failure that says nothing about load (refused data, a refused connection, an
    /// exporter bug): neither a response time nor a reason to back off.
    Failed,
}

impl Feedback {
    /// Classifies an export result.
    pub(crate) fn of(result: &Result<(), ExportError>) -> Feedback {
        match result {
            Ok(()) => Feedback::Accepted,
            Err(e) if e.is_timeout() || e.is_overload() || e.throttle().is_some() => {
                Feedback::BackPressure
            }
            Err(_) => Feedback::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timeouts_overloads_and_requested_delays_are_back_pressure() {
        assert_eq!(Feedback::of(&Ok(())), Feedback::Accepted);
        let of = |e: ExportError| Feedback::of(&Err(e));
        assert_eq!(of(ExportError::timed_out("t")), Feedback::BackPressure);
        assert_eq!(
            of(ExportError::retryable("busy").overloaded()),
            Feedback::BackPressure
        );
        assert_eq!(
            of(ExportError::retryable("later").with_throttle(Some(Duration::from_secs(1)))),
            Feedback::BackPressure
        );
        assert_eq!(of(ExportError::retryable("refused")), Feedback::Failed);
        assert_eq!(of(ExportError::permanent("bad data")), Feedback::Failed);
    }
}
