//! Memory limit: with the destination stalled, a flood far larger than the `memory_limiter`'s
//! limit is offered over gRPC and HTTP. Lookout takes what fits in its budget and refuses the
//! rest with retryable statuses only (gRPC UNAVAILABLE with RetryInfo, HTTP 503 with
//! Retry-After), its peak RSS stays under the limit plus a documented margin, and once the
//! destination is back every span it accepted arrives, once. A real client — the OpenTelemetry
//! Python SDK's gRPC exporter — refused meanwhile retries on its own, and its spans arrive too.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`); fails without it.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use support::offer::{offer, span_names};
use support::sink::Sink;
use support::{
    Lookout, encode, otlp_receiver, python, python_dir, service, trace_request, wait_until,
};
use tokio::sync::Mutex;

/// The memory_limiter's limit and spike, in MiB: new requests are admitted while the bytes in
/// flight stay under 48 − 16 = 32 MiB.
const LIMIT_MIB: u64 = 48;
const SPIKE_MIB: u64 = 16;
/// What is not accounted — the binary and its runtime, connection and HTTP/2 buffers, the
/// allocator's slack — as documented in the README's memory_limiter section.
const MARGIN_MIB: u64 = 64;
/// The flood: 4 clients, 25 requests each, 200 spans of ~10 kB each (2 MB a request): about
/// 200 MB offered,
/// four times the limit.
const CLIENTS: usize = 4;
const REQUESTS_PER_CLIENT: usize = 25;
const SPANS: usize = 200;
const PADDING: usize = 10_000;

#[derive(Default)]
struct Seen {
    accepted: Vec<String>,
    /// Requests refused, per transport.
    refused_grpc: u64,
    refused_http: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_destination_gets_retryable_refusals_bounded_memory_and_no_loss() {
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let sink_port = sink.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}processors:\n  memory_limiter:\n    check_interval: 100ms\n    limit_mib: {LIMIT_MIB}\n    spike_limit_mib: {SPIKE_MIB}\n\
             \x20 batch:\n    send_batch_size: 200\n    send_batch_max_size: 200\n    timeout: 10ms\n\
             exporters:\n  otlp:\n    endpoint: 127.0.0.1:{sink_port}\n    tls:\n      insecure: true\n    compression: none\n\
             \x20   sending_queue:\n      queue_size: 8MiB\n      num_consumers: 2\n\
             \x20   retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 200ms\n      max_elapsed_time: 0s\n{}",
            otlp_receiver(p, "", ""),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [memory_limiter, batch]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;

    // The flood, while the destination refuses everything.
    let lookout = Arc::new(lookout);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let offered = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (lookout, seen, offered) = (
                Arc::clone(&lookout),
                Arc::clone(&seen),
                Arc::clone(&offered),
            );
            tokio::spawn(async move {
                for i in 0..REQUESTS_PER_CLIENT {
                    let request = trace_request(&format!("flood-{client}-{i}"), SPANS, PADDING);
                    let payload = Bytes::from(encode(&request));
                    offered.fetch_add(payload.len() as u64, Ordering::Relaxed);
                    let grpc = (client + i) % 2 == 0;
                    let accepted = offer(&lookout, grpc, &payload).await;
                    let mut seen = seen.lock().await;
                    if accepted {
                        seen.accepted.extend(span_names(&request));
                    } else if grpc {
                        seen.refused_grpc += 1;
                    } else {
                        seen.refused_http += 1;
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("flood client");
    }
    let offered = offered.load(Ordering::Relaxed);
    assert!(
        offered > 4 * (LIMIT_MIB << 20),
        "offered only {offered} bytes"
    );

    // Small requests until one is refused: nothing drains while the destination is down, so
    // from then on every request is refused.
    let mut probes = 0;
    loop {
        probes += 1;
        assert!(probes <= 10_000, "a probe was never refused");
        let request = trace_request(&format!("probe-{probes}"), 1, 0);
        if offer(&lookout, true, &Bytes::from(encode(&request))).await {
            seen.lock().await.accepted.extend(span_names(&request));
        } else {
            seen.lock().await.refused_grpc += 1;
            break;
        }
    }

    let peak_kib = lookout.peak_rss_kib();
    let metrics = lookout.metrics().await;
    let context = format!("metrics:\n{}\nlog:\n{}", metrics.text(), lookout.logs());
    let (accepted, refused_grpc, refused_http) = {
        let seen = seen.lock().await;
        (seen.accepted.clone(), seen.refused_grpc, seen.refused_http)
    };
    eprintln!(
        "offered {offered} bytes; accepted {} spans, refused {refused_grpc} (gRPC) + {refused_http} (HTTP) requests; peak RSS {peak_kib} KiB",
        accepted.len()
    );
    assert!(!accepted.is_empty(), "nothing was accepted; {context}");
    assert!(
        refused_grpc > 0 && refused_http > 0,
        "both transports refused; {context}"
    );
    assert!(
        peak_kib < (LIMIT_MIB + MARGIN_MIB) << 10,
        "peak RSS {peak_kib} KiB over limit_mib {LIMIT_MIB} + margin {MARGIN_MIB} MiB; {context}"
    );
    for (transport, refused) in [("grpc", refused_grpc), ("http", refused_http)] {
        assert_eq!(
            metrics.value(
                "lookout_receiver_refused_requests_total",
                &[("receiver", "otlp"), ("transport", transport)]
            ),
            refused as f64,
            "{transport}: lookout counts what clients saw refused; {context}"
        );
    }

    // A real client, refused while the destination is down, retries on its own.
    let mut command = tokio::process::Command::new(python(false));
    command
        .arg(python_dir().join("send.py"))
        .args([
            "--protocol",
            "grpc",
            "--signal",
            "traces",
            "--timeout",
            "120",
        ])
        .args(["--endpoint", &format!("127.0.0.1:{}", lookout.ports.grpc)])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let client = tokio::spawn(command.output());
    let refused_before = refused_grpc as f64;
    let started = std::time::Instant::now();
    loop {
        let refused = lookout.metrics().await.value(
            "lookout_receiver_refused_requests_total",
            &[("receiver", "otlp"), ("transport", "grpc")],
        );
        if refused > refused_before {
            break;
        }
        if client.is_finished() {
            let output = client.await.expect("the Python client task");
            let stderr = output.map_or_else(
                |e| format!("could not run it: {e}"),
                |o| String::from_utf8_lossy(&o.stderr).into_owned(),
            );
            panic!(
                "the Python client finished without being refused; its stderr:\n{stderr}\nlookout log:\n{}",
                lookout.logs()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the Python client was not refused within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The destination comes back: everything accepted drains, and the client gets through.
    sink.set_unavailable(false);
    let output = tokio::time::timeout(Duration::from_secs(150), client)
        .await
        .expect("the Python client finished within 150 s")
        .expect("the Python client task")
        .expect("run the Python client");
    assert!(
        output.status.success(),
        "send.py failed ({}):\n{}\nlookout log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        lookout.logs()
    );
    let emitted: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("send.py prints JSON");
    let python_spans = emitted["items"].as_array().map_or(0, Vec::len);
    assert!(python_spans > 0, "send.py emitted nothing");

    let want = accepted.len() + python_spans;
    wait_until(
        "every accepted span to reach the sink",
        Duration::from_secs(60),
        || sink.span_count() >= want,
    )
    .await;
    let received: Vec<String> = sink.traces().iter().flat_map(span_names).collect();
    assert_eq!(received.len(), want, "each accepted span arrives once");
    // The test's own span names are unique: none may arrive twice.
    let ours: Vec<&String> = received
        .iter()
        .filter(|n| n.starts_with("flood-") || n.starts_with("probe-"))
        .collect();
    let distinct: BTreeSet<&String> = ours.iter().copied().collect();
    assert_eq!(distinct.len(), ours.len(), "no span arrives twice");
    let missing: Vec<&String> = accepted.iter().filter(|n| !distinct.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "accepted but never delivered: {missing:?}"
    );
    assert!(
        sink.refused_calls() > 0,
        "the exporter met the stalled destination"
    );
}
