//! Lookout: an OpenTelemetry collector.
//!
//! The folder layout is the data path: `receivers` take OTLP in, `pipeline` moves encoded
//! batches through `processors` to `exporters`; [`config`] reads the Collector-shaped YAML;
//! `telemetry` counts everything; [`service`] starts and stops it all.
//!
//! The library's public surface is what the `lookout` binary needs: [`config::Config`] to load
//! and check a configuration, [`service::Service`] to run it, and [`describe`] to list the
//! component types, and [`reports::cli`] for `lookout report`. Everything else is crate-private, so it can change without a release note.

// No unwrap/expect outside tests: bad input or a bug must not stop the collector.
#![warn(clippy::unwrap_used, clippy::expect_used)]

#[doc(hidden)]
pub mod bench;
pub(crate) mod component;
pub(crate) mod compression;
pub mod config;
pub(crate) mod connectors;
pub(crate) mod core;
mod error;
pub(crate) mod exporters;
pub(crate) mod extensions;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod net;
pub(crate) mod pipeline;
pub(crate) mod processors;
pub(crate) mod receivers;
pub mod reports;
pub mod service;
pub(crate) mod telemetry;

pub use component::registry::describe;
pub use error::Error;
