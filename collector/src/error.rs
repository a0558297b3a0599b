//! The collector library's error type.

use std::fmt;

use crate::config::ConfigError;

/// Why the collector could not start or run.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Config(ConfigError),
    Bind {
        what: String,
        endpoint: String,
        source: std::io::Error,
    },
    Component {
        id: String,
        message: String,
    },
}

impl Error {
    /// A listener could not be bound.
    pub fn bind(
        what: impl Into<String>,
        endpoint: impl Into<String>,
        source: std::io::Error,
    ) -> Error {
        Error {
            kind: ErrorKind::Bind {
                what: what.into(),
                endpoint: endpoint.into(),
                source,
            },
        }
    }

    /// A component could not be built from its configuration.
    pub fn component(id: impl fmt::Display, message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Component {
                id: id.to_string(),
                message: message.into(),
            },
        }
    }
}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Error {
        Error {
            kind: ErrorKind::Config(err),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Config(err) => err.fmt(f),
            ErrorKind::Bind {
                what,
                endpoint,
                source,
            } => write!(f, "{what}: cannot listen on {endpoint}: {source}"),
            ErrorKind::Component { id, message } => write!(f, "{id}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Config(err) => Some(err),
            ErrorKind::Bind { source, .. } => Some(source),
            ErrorKind::Component { .. } => None,
        }
    }
}
