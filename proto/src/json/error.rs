use std::fmt;

/// An OTLP/JSON document that could not be decoded.
///
/// The message names the JSON path of the offending value, for example
/// `resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters, got 30`,
/// so it can be returned verbatim to the client in a `google.rpc.Status` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    kind: JsonErrorKind,
    path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonErrorKind {
    /// Not JSON at all; serde_json's message already carries line and column.
    Syntax(String),
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    IdLength {
        expected: usize,
        got: usize,
    },
    InvalidHex,
    InvalidBase64(String),
    InvalidNumber {
        expected: &'static str,
        got: String,
    },
    UnknownEnum {
        enum_name: &'static str,
        got: String,
    },
    OneofConflict {
        other: String,
    },
    TooDeep {
        limit: u32,
    },
    TooManyAttributes {
        limit: u32,
    },
}

impl JsonError {
    pub(crate) fn new(kind: JsonErrorKind, path: String) -> Self {
        Self { kind, path }
    }

    /// The JSON path of the value that was rejected, e.g. `resourceLogs[0].scopeLogs[0].logRecords[2].body`.
    ///
    /// Empty when the document as a whole is not valid JSON.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// True when the input was not syntactically valid JSON (as opposed to valid JSON that is not valid OTLP).
    pub fn is_syntax(&self) -> bool {
        matches!(self.kind, JsonErrorKind::Syntax(_))
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        match &self.kind {
            JsonErrorKind::Syntax(msg) => write!(f, "invalid JSON: {msg}"),
            JsonErrorKind::WrongType { expected, got } => {
                write!(f, "expected {expected}, got {got}")
            }
            JsonErrorKind::IdLength { expected, got } => {
                write!(f, "expected {expected} hex characters, got {got}")
            }
            JsonErrorKind::InvalidHex => f.write_str("invalid hex string"),
            JsonErrorKind::InvalidBase64(msg) => write!(f, "invalid base64: {msg}"),
            JsonErrorKind::InvalidNumber { expected, got } => {
                write!(f, "expected {expected}, got {got}")
            }
            JsonErrorKind::UnknownEnum { enum_name, got } => {
                write!(f, "unknown {enum_name} value {got}")
            }
            JsonErrorKind::OneofConflict { other } => {
                write!(f, "conflicts with {other}: only one of them may be set")
            }
            JsonErrorKind::TooDeep { limit } => {
                write!(
                    f,
                    "AnyValue nested deeper than max_nesting_depth ({limit} levels)"
                )
            }
            JsonErrorKind::TooManyAttributes { limit } => {
                write!(
                    f,
                    "more than max_attributes ({limit}) attributes on one element"
                )
            }
        }
    }
}

impl std::error::Error for JsonError {}
