//! Backpressure: with the exporter's destination down, lookout's bounded queues fill and clients
//! get retryable refusals (gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After) instead
//! of lookout buffering without bound; `/metrics` counts exactly what clients were refused.
//! And in a fan-out, a dead exporter with queue room left does not hold back a healthy one.
//!
//! The dead destination is a port the test holds and that closes every connection at once (a
//! port merely left closed could be taken by a collector another test starts meanwhile).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use support::sink::Sink;
use support::{
    DeadEndpoint, GRPC_TRACES, Lookout, encode, grpc_call, grpc_frame, grpc_traces, http_client,
    otlp_receiver, service, trace_request, wait_until,
};
use tonic::Code;
use tonic_types::StatusExt;

/// Spans per request in the flood, and the size of each span's padding attribute.
const FLOOD_SPANS: usize = 50;
const FLOOD_PADDING: usize = 10_000;
/// At most this many requests (about 100 MB in all) and this long.
const FLOOD_REQUESTS: usize = 200;
const FLOOD_LIMIT: Duration = Duration::from_secs(180);
/// The collector's peak RSS must stay under this.
const RSS_LIMIT_KIB: u64 = 200 * 1024;

fn traces_pipeline(exporters: &str) -> String {
    format!(
        "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: {exporters}\n"
    )
}

#[derive(Default, Debug)]
struct Seen {
    accepted_spans: u64,
    refused_spans: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_exporter_pushes_back_with_retryable_refusals_and_bounded_memory() {
    let dead = DeadEndpoint::start().await;
    let dead_port = dead.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}processors:\n  batch:\n    send_batch_size: {FLOOD_SPANS}\n    send_batch_max_size: {FLOOD_SPANS}\n    timeout: 10ms\n\
             exporters:\n  otlp:\n    endpoint: 127.0.0.1:{dead_port}\n    tls:\n      insecure: true\n    compression: none\n\
             \x20   sending_queue:\n      sizer: requests\n      queue_size: 2\n      num_consumers: 1\n\
             \x20   retry_on_failure:\n      initial_interval: 1s\n      max_interval: 1s\n      max_elapsed_time: 0s\n{}",
            otlp_receiver(p, "", ""),
            service(p, &traces_pipeline("[otlp]"))
        )
    })
    .await;

    let payload = Bytes::from(encode(&trace_request("flood", FLOOD_SPANS, FLOOD_PADDING)));
    let frame = grpc_frame(&payload, false);
    let client = http_client();
    let (mut grpc, mut http) = (Seen::default(), Seen::default());
    let mut sent_bytes = 0usize;
    let started = Instant::now();
    for i in 0..FLOOD_REQUESTS {
        assert!(
            started.elapsed() < FLOOD_LIMIT,
            "the flood took longer than {FLOOD_LIMIT:?}"
        );
        sent_bytes += payload.len();
        if i % 2 == 0 {
            let reply = grpc_call(
                lookout.ports.grpc,
                GRPC_TRACES,
                "application/grpc",
                None,
                frame.clone(),
            )
            .await;
            let status = reply
                .status
                .as_ref()
                .unwrap_or_else(|| panic!("no grpc-status: {reply:?}"));
            match status.code() {
                Code::Ok => grpc.accepted_spans += FLOOD_SPANS as u64,
                Code::Unavailable => {
                    let retry = status.get_details_retry_info();
                    assert!(
                        retry.is_some_and(|r| r.retry_delay.is_some()),
                        "UNAVAILABLE carries a RetryInfo delay: {status:?}"
                    );
                    grpc.refused_spans += FLOOD_SPANS as u64;
                }
                other => panic!("unexpected gRPC answer {other:?}: {status:?}"),
            }
        } else {
            let response = client
                .post(lookout.http_url("/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(payload.clone())
                .send()
                .await
                .expect("HTTP request");
            match response.status().as_u16() {
                200 => http.accepted_spans += FLOOD_SPANS as u64,
                503 => {
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    assert!(
                        retry_after.is_some(),
                        "503 carries Retry-After: {response:?}"
                    );
                    http.refused_spans += FLOOD_SPANS as u64;
                }
                other => panic!("unexpected HTTP answer {other}"),
            }
        }
    }
    assert!(sent_bytes >= 90 << 20, "sent {sent_bytes} bytes");
    assert!(
        grpc.refused_spans > 0,
        "gRPC client was never refused: {grpc:?}"
    );
    assert!(
        http.refused_spans > 0,
        "HTTP client was never refused: {http:?}"
    );

    let peak = lookout.peak_rss_kib();
    assert!(
        peak < RSS_LIMIT_KIB,
        "peak RSS {peak} KiB after {sent_bytes} bytes offered (limit {RSS_LIMIT_KIB} KiB)"
    );

    eprintln!("offered {sent_bytes} bytes; grpc {grpc:?}; http {http:?}; peak RSS {peak} KiB");
    let metrics = lookout.metrics().await;
    for (transport, seen) in [("grpc", &grpc), ("http", &http)] {
        let labels = [("receiver", "otlp"), ("transport", transport)];
        assert_eq!(
            metrics.value("lookout_receiver_refused_spans_total", &labels),
            seen.refused_spans as f64,
            "{transport} refused spans: client saw {seen:?}"
        );
        assert_eq!(
            metrics.value("lookout_receiver_accepted_spans_total", &labels),
            seen.accepted_spans as f64,
            "{transport} accepted spans: client saw {seen:?}"
        );
    }
    let exporter = [("exporter", "otlp")];
    let capacity = metrics.value("lookout_exporter_queue_capacity", &exporter);
    let size = metrics.value("lookout_exporter_queue_size", &exporter);
    assert_eq!(capacity, 2.0, "queue capacity");
    assert!(size <= capacity, "queue size {size} > capacity {capacity}");
    assert_eq!(
        metrics.value("lookout_exporter_sent_spans_total", &exporter),
        0.0,
        "nothing can have been sent"
    );
    assert!(
        dead.closed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the exporter tried the dead destination"
    );
    // Dropped at SIGKILL: a dead destination cannot drain, and this test is about intake.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_exporter_does_not_hold_back_a_healthy_one_in_a_fan_out() {
    const REQUESTS: usize = 20;
    const SPANS: usize = 10;
    let sink = Sink::start().await;
    let dead = DeadEndpoint::start().await;
    let dead_port = dead.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}processors:\n  batch:\n    send_batch_size: {SPANS}\n    send_batch_max_size: {SPANS}\n    timeout: 10ms\n\
             exporters:\n  otlp/dead:\n    endpoint: 127.0.0.1:{dead_port}\n    tls:\n      insecure: true\n\
             \x20   sending_queue:\n      sizer: requests\n      queue_size: 100\n      num_consumers: 1\n\
             \x20   retry_on_failure:\n      initial_interval: 1s\n      max_interval: 1s\n      max_elapsed_time: 0s\n\
             \x20 otlp/healthy:\n    endpoint: 127.0.0.1:{}\n    tls:\n      insecure: true\n{}",
            otlp_receiver(p, "", ""),
            sink.port,
            service(p, &traces_pipeline("[otlp/dead, otlp/healthy]"))
        )
    })
    .await;
    for i in 0..REQUESTS {
        let payload = encode(&trace_request(&format!("fan-{i}"), SPANS, 0));
        let reply = grpc_traces(lookout.ports.grpc, &payload).await;
        assert_eq!(reply.code(), Code::Ok, "request {i}: {reply:?}");
    }
    let want = REQUESTS * SPANS;
    wait_until(
        "the healthy exporter to deliver every span",
        Duration::from_secs(30),
        || sink.span_count() >= want,
    )
    .await;
    // The exporter counts a batch as sent once the sink's answer is back, just after the sink
    // recorded it: poll until the counter has caught up (bounded).
    let started = std::time::Instant::now();
    let metrics = loop {
        let metrics = lookout.metrics().await;
        let sent = metrics.value(
            "lookout_exporter_sent_spans_total",
            &[("exporter", "otlp/healthy")],
        );
        if sent >= want as f64 || started.elapsed() > Duration::from_secs(30) {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let context = format!("metrics:\n{}\nlog:\n{}", metrics.text(), lookout.logs());
    assert_eq!(
        metrics.value(
            "lookout_exporter_sent_spans_total",
            &[("exporter", "otlp/healthy")]
        ),
        want as f64,
        "{context}"
    );
    assert_eq!(
        metrics.value(
            "lookout_exporter_sent_spans_total",
            &[("exporter", "otlp/dead")]
        ),
        0.0,
        "{context}"
    );
    assert!(
        metrics.value("lookout_exporter_queue_size", &[("exporter", "otlp/dead")]) >= 1.0,
        "the dead exporter holds its data queued; {context}"
    );
    assert_eq!(sink.span_count(), want, "no duplicates at the healthy sink");
    wait_until(
        "the dead exporter to try its destination",
        Duration::from_secs(30),
        || dead.closed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
    )
    .await;
}
