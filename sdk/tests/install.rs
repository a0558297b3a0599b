//! Process-wide installation. Kept in its own test binary (= process)
//! because the global `tracing` subscriber can be set only once.

mod common;

use common::Sink;
use opentelemetry::trace::{Tracer, TracerProvider as _};

#[test]
fn install_sets_globals_and_reads_the_environment() {
    let sink = Sink::grpc();
    let endpoint = sink.endpoint();
    let env = move |key: &str| match key {
        "OTEL_SERVICE_NAME" => Some("from-env".to_owned()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        "OTEL_RESOURCE_ATTRIBUTES" => Some("deployment.environment.name=test".to_owned()),
        _ => None,
    };
    // "trace" makes the HTTP/2 stack under the exporter chatty: none of that
    // may be exported back (it would loop), while application events must.
    let guard = lookout_sdk::builder()
        .stderr(false)
        .default_log_filter("trace")
        .env(env.clone())
        .install()
        .unwrap();

    // Plain `tracing` and the global OpenTelemetry APIs both export.
    tracing::info_span!("via tracing").in_scope(|| tracing::info!("hello"));
    opentelemetry::global::tracer_provider()
        .tracer("raw")
        .in_span("via global", |_| {});
    opentelemetry::global::meter("m")
        .u64_counter("global.counter")
        .build()
        .add(1, &[]);

    let second = lookout_sdk::builder().stderr(false).env(env).install();
    let err = second.expect_err("a second install must fail");
    assert!(err.to_string().contains("already installed"), "{err}");

    // Exports happen before shutdown too, so the exporter's own events have
    // a chance to be captured.
    guard.flush_blocking().unwrap();
    tracing::info!("after flush");
    guard.shutdown_blocking().unwrap();

    let spans = sink.received.spans();
    for name in ["via tracing", "via global"] {
        let span = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(span.resource_attr("service.name"), Some("from-env"));
        assert_eq!(
            span.resource_attr("deployment.environment.name"),
            Some("test")
        );
    }
    assert!(
        sink.received
            .metric_names()
            .iter()
            .any(|n| n == "global.counter")
    );
    assert!(
        sink.received
            .log_records()
            .iter()
            .any(|(body, _)| body == "hello")
    );
    assert!(
        sink.received
            .log_records()
            .iter()
            .any(|(body, _)| body == "after flush")
    );
    let scopes = sink.received.log_scopes();
    for stack in ["h2", "hyper", "tonic", "tower"] {
        assert!(
            !scopes.iter().any(|s| s.starts_with(stack)),
            "exporter's own {stack} events were exported: {scopes:?}"
        );
    }
}
