//! Instrument a Rust service for Lookout (or any OpenTelemetry collector)
//! in one call.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let telemetry = lookout_sdk::builder().service_name("checkout").install()?;
//!     tracing::info!("listening");
//!     // ... run the service ...
//!     telemetry.shutdown().await?;
//!     Ok(())
//! }
//! ```
//!
//! That call sets up:
//!
//! * **traces**: `tracing` spans become OpenTelemetry spans
//!   (via `tracing-opentelemetry`), batched and exported over OTLP;
//! * **metrics**: a meter provider with a periodic reader, installed as
//!   the global one (`opentelemetry::global::meter`) and reachable through
//!   [`Guard::meter`];
//! * **logs**: `tracing` events (and `log` records) exported as OTLP log
//!   records carrying the active trace and span ids;
//! * human-readable output on stderr, filtered by `RUST_LOG` (default
//!   `info`), and optionally a [JSON log file](Builder::json_log_file);
//! * a resource with `service.name`, `service.version` (when given),
//!   `service.instance.id` (a random UUID), `host.name`, `process.pid` and
//!   `telemetry.sdk.*`;
//! * W3C `traceparent`/`tracestate` and baggage propagation, with helpers
//!   in [`propagation`] and a server-span layer in [`http`].
//!
//! # Why not use opentelemetry-rust directly?
//!
//! OTLP exporters need a live Tokio reactor. Built on the application's
//! runtime, `force_flush`/`shutdown` deadlock on a current-thread runtime or
//! inside `tokio::spawn` (opentelemetry-rust #3176, #2715, #868), and the
//! blocking HTTP client panics inside async code (#2400). lookout-sdk runs
//! all exporter I/O on a small runtime of its own (one worker thread), and
//! shutdown runs on helper threads bounded by a deadline, so it returns in
//! time in every context, with or without a reachable collector. It also
//! pins matching versions of `opentelemetry`, `opentelemetry_sdk` and
//! `tracing-opentelemetry`, re-exported here so your code uses the same ones.
//!
//! # Configuration
//!
//! Builder settings override environment variables, which override
//! defaults.
//!
//! | Variable | Builder method | Default |
//! |---|---|---|
//! | `OTEL_SERVICE_NAME` | [`service_name`](Builder::service_name) | `unknown_service:<exe>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | [`resource_attribute`](Builder::resource_attribute) | |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | [`endpoint`](Builder::endpoint) | `http://localhost:4317` (gRPC), `http://localhost:4318` (HTTP) |
//! | `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` | (the builder's endpoint covers all) | |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf`) | [`protocol`](Builder::protocol) | `grpc` |
//! | `OTEL_EXPORTER_OTLP_HEADERS` | [`header`](Builder::header) | |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | [`sampler`](Builder::sampler) | `parentbased_always_on` |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | [`metrics_interval`](Builder::metrics_interval) | 60 s |
//! | `OTEL_SDK_DISABLED` | [`disabled`](Builder::disabled) | `false` |
//! | `RUST_LOG` | [`default_log_filter`](Builder::default_log_filter) (used when unset) | `info` |
//!
//! The per-signal endpoint variables are used as given; the generic one is
//! a base URL to which HTTP adds `/v1/traces` etc. An invalid protocol or
//! endpoint is an error; an unknown sampler is reported as a warning and
//! the default is used, as the OpenTelemetry specification asks.
//!
//! Caveat: the underlying exporter also reads `OTEL_EXPORTER_OTLP_HEADERS`
//! (and the per-signal `_HEADERS`) itself, so a header set both there and on
//! the builder is sent with the environment's value.
//!
//! # Metrics
//!
//! ```no_run
//! let telemetry = lookout_sdk::init()?;
//! let orders = opentelemetry::global::meter("checkout").u64_counter("orders.placed").build();
//! orders.add(1, &[opentelemetry::KeyValue::new("payment.method", "card")]);
//! # drop(telemetry);
//! # Ok::<(), lookout_sdk::Error>(())
//! ```
//!
//! # Propagation between services
//!
//! Server side (axum), continuing the caller's trace:
//!
//! ```
//! use axum::{Router, extract::MatchedPath, routing::get};
//!
//! let app: Router = Router::new().route("/stock/{sku}", get(|| async { "3" })).route_layer(
//!     lookout_sdk::http::ServerLayer::new()
//!         .with_route(|ext| ext.get::<MatchedPath>().map(|p| p.as_str().to_owned())),
//! );
//! # drop(app);
//! ```
//!
//! Client side (e.g. reqwest), passing the current span on:
//!
//! ```
//! #[tracing::instrument]
//! fn call_inventory() -> http::HeaderMap {
//!     let mut headers = http::HeaderMap::new();
//!     lookout_sdk::propagation::inject_context(&mut headers);
//!     headers // reqwest: client.get(url).headers(headers).send().await
//! }
//! # call_inventory();
//! ```
//!
//! For gRPC use [`propagation::GrpcInjector`] on tonic clients and
//! [`http::ServerLayer`] (or [`propagation::GrpcExtractor`]) on servers.
//! Failures are recorded on spans with [`http::record_error`].
//!
//! # JSON log file
//!
//! ```no_run
//! let telemetry = lookout_sdk::builder()
//!     .service_name("checkout")
//!     .json_log_file("checkout.log.json")
//!     .install()?;
//! let span = tracing::info_span!("place order");
//! let _entered = span.enter();
//! tracing::info!(order_id = 7, "order placed"); // line carries this span's trace_id and span_id
//! # drop(telemetry);
//! # Ok::<(), lookout_sdk::Error>(())
//! ```
//!
//! # Tests and embedding
//!
//! [`Builder::build`] creates the same pipeline without installing anything
//! globally; run code under it with [`Guard::dispatch`].

mod builder;
mod config;
mod error;
mod guard;
pub mod http;
mod json_log;
pub mod propagation;
mod runtime;

pub use builder::Builder;
pub use config::Protocol;
pub use error::Error;
pub use guard::Guard;
pub use json_log::JsonLogLayer;

/// The `opentelemetry` API crate this SDK is built against.
pub use opentelemetry;
/// The `opentelemetry_sdk` crate this SDK is built against.
pub use opentelemetry_sdk;
/// The `tracing-opentelemetry` crate this SDK is built against; use its
/// [`OpenTelemetrySpanExt`](tracing_opentelemetry::OpenTelemetrySpanExt) to
/// reach a `tracing` span's OpenTelemetry context.
pub use tracing_opentelemetry;

// Keeps the README's "5 lines" example compiling.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Starts configuring telemetry.
///
/// ```no_run
/// let _telemetry = lookout_sdk::builder().service_name("checkout").install()?;
/// # Ok::<(), lookout_sdk::Error>(())
/// ```
pub fn builder() -> Builder {
    Builder::default()
}

/// Sets up telemetry from the environment alone; the same as
/// `builder().install()`.
///
/// ```no_run
/// let _telemetry = lookout_sdk::init()?;
/// tracing::info!("configured from OTEL_* variables");
/// # Ok::<(), lookout_sdk::Error>(())
/// ```
pub fn init() -> Result<Guard, Error> {
    builder().install()
}
