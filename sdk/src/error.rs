//! The error type returned by the SDK.

use std::fmt;

/// An error returned when setting up or shutting down telemetry.
///
/// The error is opaque on purpose: match on its [`Display`](fmt::Display)
/// text or walk [`source`](std::error::Error::source) for details, so new
/// failure modes can be added without a breaking change.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

#[derive(Debug)]
pub(crate) enum ErrorKind {
    /// An environment variable or builder value could not be understood.
    InvalidConfig {
        what: String,
        value: String,
        reason: String,
    },
    /// An OTLP exporter could not be built.
    Exporter(opentelemetry_otlp::ExporterBuildError),
    /// The background runtime or one of its threads could not be started.
    Runtime(std::io::Error),
    /// A global `tracing` subscriber was already installed.
    AlreadyInstalled(tracing::dispatcher::SetGlobalDefaultError),
    /// The JSON log file could not be opened.
    LogFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// Shutdown or flush did not complete before the deadline.
    Timeout {
        operation: &'static str,
        after: std::time::Duration,
    },
    /// One or more providers reported a failure while shutting down or flushing.
    Signals {
        operation: &'static str,
        failures: Vec<String>,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    pub(crate) fn invalid(what: &str, value: &str, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig {
            what: what.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        })
    }

    /// Returns `true` if a flush or shutdown gave up because its deadline passed.
    ///
    /// ```
    /// # fn demo(err: lookout_sdk::Error) {
    /// if err.is_timeout() {
    ///     eprintln!("some telemetry may have been lost: {err}");
    /// }
    /// # }
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout { .. })
    }

    /// Returns `true` if the error comes from invalid configuration (an
    /// environment variable or builder value).
    ///
    /// ```
    /// let err = lookout_sdk::builder()
    ///     .endpoint("not a url")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.is_config());
    /// ```
    pub fn is_config(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::InvalidConfig { .. } | ErrorKind::Exporter(_)
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidConfig {
                what,
                value,
                reason,
            } => {
                write!(f, "invalid {what} {value:?}: {reason}")
            }
            ErrorKind::Exporter(_) => f.write_str("failed to build an OTLP exporter"),
            ErrorKind::Runtime(_) => f.write_str("failed to start the telemetry export runtime"),
            ErrorKind::AlreadyInstalled(_) => {
                f.write_str("a global tracing subscriber is already installed")
            }
            ErrorKind::LogFile { path, .. } => {
                write!(f, "failed to open JSON log file {}", path.display())
            }
            ErrorKind::Timeout { operation, after } => {
                write!(f, "telemetry {operation} did not finish within {after:?}")
            }
            ErrorKind::Signals {
                operation,
                failures,
            } => {
                write!(f, "telemetry {operation} failed: {}", failures.join("; "))
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Exporter(e) => Some(e),
            ErrorKind::Runtime(e) => Some(e),
            ErrorKind::AlreadyInstalled(e) => Some(e),
            ErrorKind::LogFile { source, .. } => Some(source),
            ErrorKind::InvalidConfig { .. }
            | ErrorKind::Timeout { .. }
            | ErrorKind::Signals { .. } => None,
        }
    }
}
