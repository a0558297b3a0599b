//! Typed errors of the anomaly crate.

/// Errors raised when a [`crate::DetectorConfig`] is rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// A numeric field is outside the range it must lie in.
    #[error("config field `{field}` = {value} is out of range: {expected}")]
    OutOfRange {
        /// Name of the offending field.
        field: &'static str,
        /// The rejected value, rendered as text.
        value: String,
        /// Human-readable description of the accepted range.
        expected: &'static str,
    },
}
