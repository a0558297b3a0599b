//! Per-event cost of the JSON log layer and per-span cost of lookout-sdk
//! against a hand-written opentelemetry-rust pipeline with the same batch
//! settings, both exporting over OTLP/gRPC to a local receiver.
//!
//! Run with `cargo bench -p lookout-sdk --bench sdk`.

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const QUEUE: usize = 2048;
const BATCH: usize = 512;
const DELAY: Duration = Duration::from_millis(200);

fn lookout_pipeline(endpoint: &str) -> lookout_sdk::Guard {
    lookout_sdk::builder()
        .service_name("bench")
        .endpoint(endpoint)
        .stderr(false)
        .logs(false)
        .metrics(false)
        .span_batch(Some(DELAY), Some(QUEUE), Some(BATCH))
        .env(|_| None)
        .build()
        .expect("pipeline")
}

/// What a user writes by hand with opentelemetry-rust: exporter built on a
/// Tokio runtime, batch processor, tracer provider, tracing-opentelemetry
/// layer and an `info` EnvFilter.
fn hand_written(endpoint: &str) -> (tokio::runtime::Runtime, SdkTracerProvider, Dispatch) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_metadata(tonic::metadata::MetadataMap::new())
        .build()
        .unwrap();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(QUEUE)
                .with_max_export_batch_size(BATCH)
                .with_scheduled_delay(DELAY)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("bench")
                .build(),
        )
        .build();
    let tracer = provider.tracer("bench");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_opentelemetry::layer().with_tracer(tracer));
    drop(_enter);
    (rt, provider, Dispatch::new(subscriber))
}

fn one_span() {
    let span = tracing::info_span!("op", item = 7u64);
    let _entered = span.enter();
    black_box(&span);
}

fn spans(c: &mut Criterion) {
    let sink = common::Sink::grpc();
    let mut group = c.benchmark_group("span");

    let guard = lookout_pipeline(&sink.endpoint());
    let dispatch = guard.dispatch().clone();
    group.bench_function("lookout_sdk", |b| {
        tracing::dispatcher::with_default(&dispatch, || b.iter(one_span));
    });
    drop(dispatch);
    let _ = guard.shutdown_blocking();

    let (rt, provider, dispatch) = hand_written(&sink.endpoint());
    group.bench_function("hand_written_otel", |b| {
        tracing::dispatcher::with_default(&dispatch, || b.iter(one_span));
    });
    drop(dispatch);
    let _ = provider.shutdown();
    rt.shutdown_background();
    group.finish();
}

fn json_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_log_event");

    let plain = Dispatch::new(
        tracing_subscriber::registry()
            .with(lookout_sdk::JsonLogLayer::new(std::io::sink(), "bench")),
    );
    group.bench_function("no_span", |b| {
        tracing::dispatcher::with_default(&plain, || {
            b.iter(|| tracing::info!(order_id = 42u64, user = "ann", "order placed"));
        });
    });

    // Inside an exported span, so trace_id/span_id are looked up and written.
    // Export is off (no traces pipeline besides the span context itself).
    let provider = SdkTracerProvider::builder().build();
    let with_otel = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
            .with(lookout_sdk::JsonLogLayer::new(std::io::sink(), "bench")),
    );
    group.bench_function("in_otel_span", |b| {
        tracing::dispatcher::with_default(&with_otel, || {
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            b.iter(|| tracing::info!(order_id = 42u64, user = "ann", "order placed"));
        });
    });

    // The same span setup without the JSON layer: subtract it from
    // `in_otel_span` to get the layer's own cost (tracing-opentelemetry also
    // records each event on the span).
    let otel_only = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    );
    group.bench_function("in_otel_span_baseline_without_json", |b| {
        tracing::dispatcher::with_default(&otel_only, || {
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            b.iter(|| tracing::info!(order_id = 42u64, user = "ann", "order placed"));
        });
    });

    // The same event through tracing-subscriber's own JSON formatter, for
    // scale.
    let fmt_json = Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::sink),
        ),
    );
    group.bench_function("tracing_subscriber_fmt_json", |b| {
        tracing::dispatcher::with_default(&fmt_json, || {
            b.iter(|| tracing::info!(order_id = 42u64, user = "ann", "order placed"));
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = spans, json_events
}
criterion_main!(benches);
