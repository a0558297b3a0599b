//! OTLP encoding support for Lookout: the generated OTLP types, a wire-level reader and editor
//! that work on request bytes without decoding them into a message tree, and OTLP/JSON.

pub use opentelemetry_proto::tonic as otlp;

pub mod json;
pub mod wire;
