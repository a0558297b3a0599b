//! Exporters: where data leaves. Each implements [`Export`] (send one batch, say whether a
//! failure is worth retrying); [`queue`] runs it behind a bounded sending queue with retries.

pub(crate) mod debug;
pub(crate) mod file;
mod grpc_client;
pub(crate) mod otlp;
pub(crate) mod otlphttp;
mod partial_success;
pub(crate) mod persistent_queue;
pub(crate) mod prometheus;
pub(crate) mod prometheusremotewrite;
pub(crate) mod queue;
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
}

impl ExportError {
    /// A failure worth retrying (the destination is down or busy).
    pub fn retryable(message: impl Into<String>) -> ExportError {
        ExportError {
            message: message.into(),
            retryable: true,
            throttle: None,
        }
    }

    /// A failure that will repeat (the destination rejected the data).
    pub fn permanent(message: impl Into<String>) -> ExportError {
        ExportError {
            message: message.into(),
            retryable: false,
            throttle: None,
        }
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
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExportError {}
