//! The error type shared by every wire-level operation.

use std::fmt;

/// An OTLP request (or a location handed to the editor) that the wire-level code rejected.
///
/// The error is opaque on purpose: callers log it or turn it into an `InvalidArgument`
/// response, and the set of reasons may grow. [`WireError::offset`] gives the byte offset in
/// the request where the problem was found, which is what one needs to debug a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    // Boxed so `Result<T, WireError>` stays small on the hot, error-free path.
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: WireErrorKind,
    offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireErrorKind {
    /// A length prefix or fixed-width value runs past the end of its enclosing message.
    Truncated,
    /// More than 10 varint bytes, or a 10th byte that overflows `u64`.
    InvalidVarint,
    /// A field key larger than `u32::MAX`.
    InvalidKey,
    /// Field number 0.
    InvalidTag,
    /// Wire type 6 or 7.
    InvalidWireType(u8),
    /// An end-group marker with no matching start, or with a different field number.
    UnexpectedEndGroup,
    /// A known field encoded with the wrong wire type.
    WrongWireType { field: &'static str, found: u8 },
    /// A packed repeated fixed-width field whose length is not a multiple of the width.
    PackedLength { field: &'static str },
    /// A `string` field holding bytes that are not UTF-8.
    InvalidUtf8 { field: &'static str },
    /// A trace or span id that is neither empty nor of the length OTLP requires.
    InvalidIdLength {
        field: &'static str,
        len: usize,
        expected: usize,
    },
    /// Messages nested deeper than the recursion limit.
    RecursionLimit,
    /// An `AnyValue` nested deeper than [`Limits::max_nesting_depth`](crate::Limits).
    NestingTooDeep { limit: u32 },
    /// An element with more attributes than [`Limits::max_attributes`](crate::Limits).
    TooManyAttributes { field: &'static str, limit: u32 },
    /// An editor location that does not name a span or log record of this buffer.
    InvalidLocation,
}

// === impl WireError ===

impl WireError {
    #[cold]
    #[inline(never)]
    pub(crate) fn new(kind: WireErrorKind, offset: usize) -> Self {
        Self {
            inner: Box::new(Inner { kind, offset }),
        }
    }

    /// Byte offset in the input buffer where the problem was detected.
    pub fn offset(&self) -> usize {
        self.inner.offset
    }

    /// The OTLP field involved (for example `"Span.trace_id"`), when the error is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self.inner.kind {
            WireErrorKind::WrongWireType { field, .. }
            | WireErrorKind::PackedLength { field }
            | WireErrorKind::InvalidUtf8 { field }
            | WireErrorKind::InvalidIdLength { field, .. }
            | WireErrorKind::TooManyAttributes { field, .. } => Some(field),
            _ => None,
        }
    }

    /// True when the bytes are valid protobuf that prost would decode, but break an OTLP rule
    /// (a trace id or span id of the wrong length).
    pub fn is_semantic(&self) -> bool {
        matches!(self.inner.kind, WireErrorKind::InvalidIdLength { .. })
    }

    #[cfg(test)]
    pub(crate) fn kind(&self) -> &WireErrorKind {
        &self.inner.kind
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid OTLP protobuf: ")?;
        match &self.inner.kind {
            WireErrorKind::Truncated => f.write_str("length exceeds the remaining bytes")?,
            WireErrorKind::InvalidVarint => f.write_str("invalid varint")?,
            WireErrorKind::InvalidKey => f.write_str("field key does not fit in 32 bits")?,
            WireErrorKind::InvalidTag => f.write_str("field number 0")?,
            WireErrorKind::InvalidWireType(wt) => write!(f, "invalid wire type {wt}")?,
            WireErrorKind::UnexpectedEndGroup => f.write_str("unexpected end-group marker")?,
            WireErrorKind::WrongWireType { field, found } => {
                write!(f, "field {field} has wrong wire type {found}")?
            }
            WireErrorKind::PackedLength { field } => write!(
                f,
                "packed field {field} has a length that is not a multiple of its element size"
            )?,
            WireErrorKind::InvalidUtf8 { field } => {
                write!(f, "string field {field} is not valid UTF-8")?
            }
            WireErrorKind::InvalidIdLength {
                field,
                len,
                expected,
            } => write!(
                f,
                "{field} must be empty or {expected} bytes, got {len} bytes"
            )?,
            WireErrorKind::RecursionLimit => write!(
                f,
                "messages nested deeper than {} levels",
                super::reader::RECURSION_LIMIT
            )?,
            WireErrorKind::NestingTooDeep { limit } => write!(
                f,
                "AnyValue nested deeper than max_nesting_depth ({limit} levels)"
            )?,
            WireErrorKind::TooManyAttributes { field, limit } => write!(
                f,
                "{field}: more than max_attributes ({limit}) attributes on one element"
            )?,
            WireErrorKind::InvalidLocation => {
                f.write_str("edit location does not name an item of this buffer")?
            }
        }
        write!(f, " (at byte {})", self.inner.offset)
    }
}

impl std::error::Error for WireError {}
