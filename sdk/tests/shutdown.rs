//! Shutdown delivers everything and never hangs, in every calling context:
//! multi-thread runtime, current-thread runtime, inside `tokio::spawn`, and
//! no runtime at all; with a live collector, a closed port and a collector
//! that accepts connections but never answers.

mod common;

use std::time::Duration;

use common::{Sink, closed_endpoint, must_finish, silent_endpoint};
use lookout_sdk::{Guard, Protocol};

/// Far above every deadline used here; only a hang trips it.
const HANG: Duration = Duration::from_secs(60);

fn pipeline(endpoint: &str, protocol: Protocol, deadline: Duration) -> Guard {
    lookout_sdk::builder()
        .service_name("shutdown-test")
        .service_version("1.2.3")
        .endpoint(endpoint)
        .protocol(protocol)
        .stderr(false)
        // Exports to a silent collector must be cut short by the shutdown
        // deadline, not by the export timeout.
        .export_timeout(Duration::from_secs(30))
        .shutdown_timeout(deadline)
        // Long enough that nothing is exported before shutdown, so the
        // assertions below really test the flush on shutdown.
        .span_batch(Some(Duration::from_secs(3600)), None, None)
        .metrics_interval(Duration::from_secs(3600))
        .env(|_| None)
        .build()
        .expect("pipeline builds")
}

fn emit(guard: &Guard, context: &str) {
    let counter = guard
        .meter("shutdown-test")
        .u64_counter("test.requests")
        .build();
    tracing::dispatcher::with_default(guard.dispatch(), || {
        let span = tracing::info_span!("work", test.context = context);
        span.in_scope(|| {
            tracing::info!(context, "inside work");
            counter.add(1, &[]);
        });
    });
}

fn assert_delivered(sink: &Sink, context: &str) {
    let spans = sink.received.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "work" && s.attr("test.context") == Some(context))
        .unwrap_or_else(|| panic!("span for {context} not exported; got {spans:?}"));
    assert_eq!(span.resource_attr("service.name"), Some("shutdown-test"));
    assert_eq!(span.resource_attr("service.version"), Some("1.2.3"));
    for key in [
        "service.instance.id",
        "process.pid",
        "telemetry.sdk.language",
        "host.name",
    ] {
        assert!(span.resource_attr(key).is_some(), "resource lacks {key}");
    }
    let logs = sink.received.log_records();
    assert!(
        logs.iter()
            .any(|(body, trace_id)| body == "inside work" && *trace_id == span.trace_id),
        "log record with the span's trace id not exported; got {logs:?}"
    );
    assert!(
        sink.received
            .metric_names()
            .iter()
            .any(|n| n == "test.requests"),
        "metric not exported"
    );
}

#[test]
fn multi_thread_runtime_delivers_on_async_shutdown() {
    let sink = Sink::grpc();
    let endpoint = sink.endpoint();
    must_finish(HANG, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let guard = pipeline(&endpoint, Protocol::Grpc, Duration::from_secs(10));
            emit(&guard, "multi_thread");
            guard.shutdown().await.expect("clean shutdown");
        });
    });
    assert_delivered(&sink, "multi_thread");
}

#[test]
fn current_thread_runtime_delivers_when_guard_is_dropped() {
    let sink = Sink::grpc();
    let endpoint = sink.endpoint();
    must_finish(HANG, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let guard = pipeline(&endpoint, Protocol::Grpc, Duration::from_secs(10));
            emit(&guard, "current_thread");
            // A blocking shutdown on the runtime's only thread: with exporters
            // on the caller's runtime this is the classic deadlock.
            drop(guard);
        });
    });
    assert_delivered(&sink, "current_thread");
}

#[test]
fn inside_tokio_spawn_delivers_on_blocking_shutdown() {
    let sink = Sink::grpc();
    let endpoint = sink.endpoint();
    must_finish(HANG, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let task = tokio::spawn(async move {
                let guard = pipeline(&endpoint, Protocol::Grpc, Duration::from_secs(10));
                emit(&guard, "spawned");
                guard.shutdown_blocking()
            });
            task.await.unwrap().expect("clean shutdown");
        });
    });
    assert_delivered(&sink, "spawned");
}

#[test]
fn inside_tokio_spawn_delivers_on_async_shutdown() {
    let sink = Sink::grpc();
    let endpoint = sink.endpoint();
    must_finish(HANG, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let task = tokio::spawn(async move {
                let guard = pipeline(&endpoint, Protocol::Grpc, Duration::from_secs(10));
                emit(&guard, "spawned_async");
                guard.flush().await.expect("flush");
                guard.shutdown().await
            });
            task.await.unwrap().expect("clean shutdown");
        });
    });
    assert_delivered(&sink, "spawned_async");
}

#[test]
fn no_runtime_delivers_on_blocking_shutdown() {
    let sink = Sink::grpc();
    let endpoint = sink.endpoint();
    must_finish(HANG, move || {
        let guard = pipeline(&endpoint, Protocol::Grpc, Duration::from_secs(10));
        emit(&guard, "no_runtime");
        guard.shutdown_blocking().expect("clean shutdown");
    });
    assert_delivered(&sink, "no_runtime");
}

#[test]
fn http_protobuf_without_runtime_delivers() {
    // The async HTTP client needs a reactor; here the caller has none.
    let sink = Sink::http();
    let endpoint = sink.endpoint();
    must_finish(HANG, move || {
        let guard = pipeline(&endpoint, Protocol::HttpProtobuf, Duration::from_secs(10));
        emit(&guard, "http_no_runtime");
        guard.shutdown_blocking().expect("clean shutdown");
    });
    assert_delivered(&sink, "http_no_runtime");
}

#[test]
fn http_protobuf_on_current_thread_runtime_delivers() {
    let sink = Sink::http();
    let endpoint = sink.endpoint();
    must_finish(HANG, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let guard = pipeline(&endpoint, Protocol::HttpProtobuf, Duration::from_secs(10));
            emit(&guard, "http_current_thread");
            guard.shutdown_blocking().expect("clean shutdown");
        });
    });
    assert_delivered(&sink, "http_current_thread");
}

type Shutdown = fn(Guard) -> Result<(), lookout_sdk::Error>;

/// Dead collectors: shutdown must return (an error is fine) in every context.
fn dead_endpoint_returns(endpoint: String, protocol: Protocol) {
    let deadline = Duration::from_millis(500);
    let contexts: [(&str, Shutdown); 4] = [
        ("multi_thread", |g| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(g.shutdown())
        }),
        ("current_thread", |g| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move { g.shutdown_blocking() })
        }),
        ("spawn", |g| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move { tokio::spawn(g.shutdown()).await.unwrap() })
        }),
        ("no_runtime", |g| g.shutdown_blocking()),
    ];
    for (name, shutdown) in contexts {
        let endpoint = endpoint.clone();
        let result = must_finish(HANG, move || {
            let guard = pipeline(&endpoint, protocol, deadline);
            emit(&guard, name);
            shutdown(guard)
        });
        assert!(
            result.is_err(),
            "{name}: nothing could be delivered, yet shutdown reported success"
        );
    }
}

#[test]
fn closed_port_grpc_shutdown_returns() {
    dead_endpoint_returns(closed_endpoint(), Protocol::Grpc);
}

#[test]
fn closed_port_http_shutdown_returns() {
    dead_endpoint_returns(closed_endpoint(), Protocol::HttpProtobuf);
}

#[test]
fn silent_collector_grpc_shutdown_returns_by_deadline() {
    let (_listener, endpoint) = silent_endpoint();
    dead_endpoint_returns(endpoint, Protocol::Grpc);
}

#[test]
fn silent_collector_http_shutdown_returns_by_deadline() {
    let (_listener, endpoint) = silent_endpoint();
    dead_endpoint_returns(endpoint, Protocol::HttpProtobuf);
}

#[test]
fn dropping_guard_with_silent_collector_returns() {
    let (_listener, endpoint) = silent_endpoint();
    must_finish(HANG, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let guard = pipeline(&endpoint, Protocol::Grpc, Duration::from_millis(300));
            emit(&guard, "drop_silent");
            drop(guard);
        });
    });
}

#[test]
fn failed_build_inside_async_code_returns_an_error() {
    // The SDK's runtime is already running when the exporter fails to
    // build; cleaning it up must not panic inside the caller's runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        lookout_sdk::builder()
            .endpoint("https://127.0.0.1:1")
            .stderr(false)
            .env(|_| None)
            .build()
    });
    let err = result.expect_err("https needs a TLS feature that is not enabled");
    assert!(err.is_config(), "{err}");
}
