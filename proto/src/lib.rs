//! OTLP encoding support for Lookout: the generated OTLP types, a wire-level reader and editor
//! that work on request bytes without decoding them into a message tree, and OTLP/JSON.

// Request bytes come from the network: an index, a slice or an unwrap that can fail on them
// would be a remote panic, so every bound is checked and reported as a typed error instead.
// Test modules opt back in locally.
#![warn(clippy::indexing_slicing, clippy::string_slice)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub use opentelemetry_proto::tonic as otlp;

pub mod json;
mod limits;
pub mod wire;

pub use limits::Limits;
