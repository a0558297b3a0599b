//! Lookout: an OpenTelemetry collector.
//!
//! The folder layout is the data path: [`receivers`] take OTLP in, [`pipeline`] moves encoded
//! batches through [`processors`] to [`exporters`]; [`config`] reads the Collector-shaped YAML;
//! [`telemetry`] counts everything; [`service`] starts and stops it all.

// No unwrap/expect outside tests: bad input or a bug must not stop the collector.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod component;
pub mod compression;
pub mod config;
pub mod connectors;
pub mod core;
mod error;
pub mod exporters;
pub mod extensions;
pub mod net;
pub mod pipeline;
pub mod processors;
pub mod receivers;
pub mod service;
pub mod telemetry;

pub use error::Error;
