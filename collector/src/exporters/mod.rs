//! Exporters: where data leaves. Each implements [`Export`] (send one batch, say whether a
//! failure is worth retrying); [`queue`] runs it behind a bounded sending queue with retries.

pub(crate) mod concurrency;
pub(crate) mod debug;
pub(crate) mod file;
mod grpc_client;
pub(crate) mod loadbalancing;
pub(crate) mod otlp;
pub(crate) mod otlphttp;
mod partial_success;
pub(crate) mod persistent_queue;
pub(crate) mod prometheus;
pub(crate) mod prometheusremotewrite;
pub(crate) mod queue;
pub(crate) mod status;
pub(crate) mod store;
#[cfg(test)]
mod tls_tests;

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::core::Batch;

/// Sends batches somewhere.
pub trait Export: Send + Sync + 'static {
    /// Sends one batch.
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>>;
}

/// A failed send, and whether trying again may help.
#[derive(Debug)]
pub struct ExportError {
    message: String,
    retryable: bool,
    throttle: Option<Duration>,
    cause: Cause,
}

/// What a failure says about the destination's load (what adaptive concurrency reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// Nothing about its load (refused data, a broken connection, ...).
    Other,
    /// No answer within the deadline.
    TimedOut,
    /// The destination said it is overloaded (HTTP 429/503, gRPC RESOURCE_EXHAUSTED/UNAVAILABLE).
    Overloaded,
    /// Not sent on purpose: whoever queued the batch takes it back to send elsewhere (the
    /// `loadbalancing` exporter, for a backend taken off its ring).
    HandedBack,
}

impl ExportError {
    /// A failure worth retrying (the destination is down or busy).
    pub fn retryable(message: impl Into<String>) -> ExportError {
        ExportError {
            message: message.into(),
            retryable: true,
            throttle: None,
            cause: Cause::Other,
        }
    }

    /// No answer within the request deadline (retryable; the destination may be overloaded).
    pub fn timed_out(message: impl Into<String>) -> ExportError {
        ExportError {
            cause: Cause::TimedOut,
            ..ExportError::retryable(message)
        }
    }

    /// A failure that will repeat (the destination rejected the data).
    pub fn permanent(message: impl Into<String>) -> ExportError {
        ExportError {
            message: message.into(),
            retryable: false,
            throttle: None,
            cause: Cause::Other,
        }
    }

    /// Not sent, and not to be retried here: the batch's acknowledgements fail so that the
    /// component that queued it sends it elsewhere. Not counted or logged as lost data.
    pub fn handed_back(message: impl Into<String>) -> ExportError {
        ExportError {
            cause: Cause::HandedBack,
            ..ExportError::permanent(message)
        }
    }

    /// Marks the failure as the destination saying it is overloaded.
    #[must_use]
    pub fn overloaded(mut self) -> ExportError {
        self.cause = Cause::Overloaded;
        self
    }

    /// The destination asked to wait this long before retrying.
    #[must_use]
    pub fn with_throttle(mut self, delay: Option<Duration>) -> ExportError {
        self.throttle = delay;
        self
    }

    /// Whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The server's requested delay, if any.
    pub fn throttle(&self) -> Option<Duration> {
        self.throttle
    }

    /// Whether the request got no answer within its deadline.
    pub fn is_timeout(&self) -> bool {
        self.cause == Cause::TimedOut
    }

    /// Whether the batch goes back to whoever queued it ([`ExportError::handed_back`]).
    pub fn is_handed_back(&self) -> bool {
        self.cause == Cause::HandedBack
    }

    /// Whether the destination said it is overloaded.
    pub fn is_overload(&self) -> bool {
        self.cause == Cause::Overloaded
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExportError {}
