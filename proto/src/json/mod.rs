//! OTLP/JSON: the JSON Protobuf Encoding of the OTLP specification, between bytes and the
//! generated prost types.
//!
//! Decoding is deliberately lenient where the proto3 JSON mapping allows it: keys may be
//! lowerCamelCase or the original snake_case names, unknown keys are ignored, `null` means
//! "not set", 64-bit integers may be strings or numbers, enums may be integers or names,
//! doubles may be numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`, and `bytesValue` may use the
//! standard or URL-safe base64 alphabet with or without padding. Trace and span ids are hex
//! (any case), as OTLP requires instead of proto3's base64; `""` is an empty id.
//!
//! Encoding is canonical OTLP/JSON: lowerCamelCase keys, lowercase hex ids, enums as integers,
//! 64-bit integers as decimal strings, default scalars omitted, compact single-line output
//! without a trailing newline. Because `TracesData`/`LogsData`/`MetricsData` have the same
//! single field as the export requests, the request functions also read and write the
//! file-exporter line format.
//!
//! `opentelemetry-proto`'s own serde support is not used: it loses metric data points
//! (opentelemetry-rust #3527).

mod decode;
mod encode;
mod error;

pub use error::JsonError;

use crate::Limits;
use crate::otlp::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use crate::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use crate::otlp::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};

/// Deepest `AnyValue` nesting the plain decoding functions accept; a top-level attribute
/// value or log body is depth 1. It is [`Limits::MAX_NESTING_DEPTH`]: the deepest that prost
/// can decode again once encoded.
///
/// serde_json refuses documents nested more than 128 levels, and each `AnyValue` level costs
/// three (arrays) or four (kvlists) JSON levels, so a much larger limit could never be
/// reached; at 31, too-deep values get this error with a path instead of a bare parser error.
pub const MAX_ANY_VALUE_DEPTH: usize = Limits::MAX_NESTING_DEPTH as usize;

/// How the `*_with` functions decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Accept trace and span ids of the wrong length (still valid hex), as the
    /// `*_any_id_length` functions do, so a receiver can reject just their items.
    pub any_id_length: bool,
    /// `AnyValue` nesting and attributes per element; a document breaking them is refused
    /// whole.
    pub limits: Limits,
}

impl DecodeOptions {
    /// What the plain functions use: strict ids, nesting up to [`MAX_ANY_VALUE_DEPTH`], any
    /// number of attributes.
    pub const STRICT: DecodeOptions = DecodeOptions {
        any_id_length: false,
        limits: Limits {
            max_nesting_depth: Limits::MAX_NESTING_DEPTH,
            max_attributes: u32::MAX,
        },
    };

    /// Like [`DecodeOptions::STRICT`] but with ids of any length.
    pub const ANY_ID_LENGTH: DecodeOptions = DecodeOptions {
        any_id_length: true,
        ..DecodeOptions::STRICT
    };
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (also the `TracesData` file format).
pub fn traces_from_json(input: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    decode::traces(input, &DecodeOptions::STRICT)
}

/// Like [`traces_from_json`], but trace and span ids of the wrong length (still valid hex) are
/// decoded as they are instead of failing the whole request, so a receiver can reject just the
/// items that carry them (OTLP partial success).
pub fn traces_from_json_any_id_length(
    input: &[u8],
) -> Result<ExportTraceServiceRequest, JsonError> {
    decode::traces(input, &DecodeOptions::ANY_ID_LENGTH)
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` (also the `LogsData` file format).
pub fn logs_from_json(input: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    decode::logs(input, &DecodeOptions::STRICT)
}

/// Like [`logs_from_json`], but trace and span ids of the wrong length (still valid hex) are
/// decoded as they are instead of failing the whole request, so a receiver can reject just the
/// items that carry them (OTLP partial success).
pub fn logs_from_json_any_id_length(input: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    decode::logs(input, &DecodeOptions::ANY_ID_LENGTH)
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` (also the `MetricsData` file format).
pub fn metrics_from_json(input: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    decode::metrics(input, &DecodeOptions::STRICT)
}

/// Like [`metrics_from_json`], but trace and span ids of the wrong length (still valid hex) are
/// decoded as they are instead of failing the whole request, so a receiver can reject just the
/// items that carry them (OTLP partial success).
pub fn metrics_from_json_any_id_length(
    input: &[u8],
) -> Result<ExportMetricsServiceRequest, JsonError> {
    decode::metrics(input, &DecodeOptions::ANY_ID_LENGTH)
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` as `options` say.
pub fn traces_from_json_with(
    input: &[u8],
    options: &DecodeOptions,
) -> Result<ExportTraceServiceRequest, JsonError> {
    decode::traces(input, options)
}

/// Appends `req` as compact OTLP/JSON to `out` (no trailing newline).
pub fn traces_to_json(req: &ExportTraceServiceRequest, out: &mut Vec<u8>) {
    encode::traces(req, out);
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` as `options` say.
pub fn logs_from_json_with(
    input: &[u8],
    options: &DecodeOptions,
) -> Result<ExportLogsServiceRequest, JsonError> {
    decode::logs(input, options)
}

/// Appends `req` as compact OTLP/JSON to `out` (no trailing newline).
pub fn logs_to_json(req: &ExportLogsServiceRequest, out: &mut Vec<u8>) {
    encode::logs(req, out);
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` as `options` say.
pub fn metrics_from_json_with(
    input: &[u8],
    options: &DecodeOptions,
) -> Result<ExportMetricsServiceRequest, JsonError> {
    decode::metrics(input, options)
}

/// Appends `req` as compact OTLP/JSON to `out` (no trailing newline).
pub fn metrics_to_json(req: &ExportMetricsServiceRequest, out: &mut Vec<u8>) {
    encode::metrics(req, out);
}

/// Appends an OTLP/HTTP trace export response body, e.g.
/// `{"partialSuccess":{"rejectedSpans":"2","errorMessage":"..."}}`, or `{}` for full success.
pub fn trace_response_to_json(resp: &ExportTraceServiceResponse, out: &mut Vec<u8>) {
    encode::trace_response(resp, out);
}

/// Appends an OTLP/HTTP logs export response body (`rejectedLogRecords`, `errorMessage`).
pub fn logs_response_to_json(resp: &ExportLogsServiceResponse, out: &mut Vec<u8>) {
    encode::logs_response(resp, out);
}

/// Appends an OTLP/HTTP metrics export response body (`rejectedDataPoints`, `errorMessage`).
pub fn metrics_response_to_json(resp: &ExportMetricsServiceResponse, out: &mut Vec<u8>) {
    encode::metrics_response(resp, out);
}

/// Appends a `google.rpc.Status` error body, `{"code":3,"message":"..."}`, where `code` is a
/// gRPC status code (3 = INVALID_ARGUMENT).
pub fn status_to_json(code: i32, message: &str, out: &mut Vec<u8>) {
    encode::status(code, message, out);
}
