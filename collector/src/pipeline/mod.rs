//! Pipeline plumbing: the end of each stage ([`output`]) and the wiring that builds running
//! pipelines from the configuration ([`build`]). The data moving through them ([`crate::core`])
//! is encoded OTLP export requests (`bytes::Bytes`), never decoded message trees: an
//! `Export*ServiceRequest` has a single repeated field, so concatenating encodings is batching.

pub(crate) mod build;
pub(crate) mod diff;
mod exporter_run;
pub(crate) mod output;

pub(crate) use output::{ExporterInput, Output};
