//! Entry points for the `cargo fuzz` targets in `fuzz/` (at the repository root).
//!
//! Compiled only with the `fuzzing` feature, which no normal build enables; not a stable API.
//! Each function wraps one crate-private piece that reads hostile input, with plain types in
//! and out so the fuzz crate needs none of the collector's internals:
//!
//! * [`grpc_unframe`] — the OTLP/gRPC receiver's unframing and decompression of a unary body.
//! * [`decompress`] — the shared decompressor (gRPC and HTTP bodies) under a size limit.
//! * [`FilelogOperators`] — the filelog receiver's `operators:` (parsers, field operators,
//!   routers) built from YAML and run on lines; [`filelog_expr`] — its `expr` language alone.
//! * [`segment_log`] — the persistent queue's segment log, for `bench/queue-eval/` (not a fuzz
//!   target: the evaluation against queue crates in RELIABILITY.md).

pub mod segment_log;

use bytes::Bytes;

use crate::compression::{self, Codec};
use crate::receivers::filelog::operators::{Entry, OperatorConfig, Pipeline, expr::Expr};

/// The codecs [`grpc_unframe`] and [`decompress`] take, by index (`i % 4`).
pub fn codec_name(i: u8) -> &'static str {
    match i % 4 {
        0 => "identity",
        1 => "gzip",
        2 => "deflate",
        _ => "zstd",
    }
}

/// Unframes (and decompresses, per `encoding`) one gRPC unary request body as the OTLP
/// receiver does, refusing messages over `limit` bytes. Returns the message, or the gRPC
/// status code and message of the refusal.
pub fn grpc_unframe(body: &[u8], encoding: &str, limit: usize) -> Result<Vec<u8>, String> {
    let codec = Codec::from_name(encoding).ok_or_else(|| format!("unknown codec {encoding}"))?;
    crate::receivers::otlp::grpc::unframe(Bytes::copy_from_slice(body), codec, limit)
        .map(|b| b.to_vec())
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
}

/// Decompresses `data` with `encoding` under `limit`, as every receiver does.
pub fn decompress(data: &[u8], encoding: &str, limit: usize) -> Result<Vec<u8>, String> {
    let codec = Codec::from_name(encoding).ok_or_else(|| format!("unknown codec {encoding}"))?;
    compression::decompress(codec, Bytes::copy_from_slice(data), limit)
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

/// A filelog `operators:` list, built.
pub struct FilelogOperators(Pipeline);

impl FilelogOperators {
    /// Builds the operators from the YAML of an `operators:` list (the receiver's checks).
    pub fn new(yaml: &str) -> Result<FilelogOperators, String> {
        let configs: Vec<OperatorConfig> =
            serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        Pipeline::new(&configs).map(FilelogOperators)
    }

    /// Runs the operators on one line; returns (kept, errors).
    pub fn process(&self, line: &str) -> (bool, usize) {
        let mut entry = Entry::from_line(line.to_owned());
        let outcome = self.0.process(&mut entry);
        (outcome.keep, outcome.errors)
    }
}

/// Parses `source` as a filelog `expr` and evaluates it on a record whose body is `line`.
pub fn filelog_expr(source: &str, line: &str) -> Result<bool, String> {
    let expr = Expr::parse(source)?;
    Ok(expr.is_true(&Entry::from_line(line.to_owned())))
}
