//! A destination far slower than the intake (issue 13's fault list: "a destination that
//! accepts at 10 % of the incoming rate"): clients offer spans as fast as Lookout answers,
//! the destination serves one export at a time. Back-pressure must reach the clients as
//! retryable refusals only (gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After), and
//! when the clients are done retrying every span Lookout accepted has arrived, once: nothing
//! dropped, nothing counted as failed or refused by an exporter queue.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::offer::{offer, span_names};
use support::sink::Sink;
use support::{Lookout, encode, otlp_receiver, service, trace_request, wait_until};
use tokio::sync::Mutex;

/// The destination's pace: one export at a time, this long per 1,000 spans (5,000 spans/s:
/// slow enough that clients on a loaded machine still outrun it; at 20,000 spans/s they did
/// not, and were never pushed back).
const PER_THOUSAND: Duration = Duration::from_millis(200);
const CLIENTS: usize = 4;
const REQUESTS_PER_CLIENT: usize = 30;
const SPANS: usize = 500;
const PADDING: usize = 100;
/// A refused client waits this long before offering the same request again.
const CLIENT_BACKOFF: Duration = Duration::from_millis(20);
/// Bound on the whole exchange (60,000 spans at 5,000/s take about 12 s at the destination).
const LIMIT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Tally {
    accepted: Vec<String>,
    attempts: u64,
    refusals: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_destination_pushes_back_with_retryable_refusals_and_loses_nothing() {
    let sink = Sink::start_serial(PER_THOUSAND).await;
    let sink_port = sink.port;
    let lookout = Arc::new(
        Lookout::start(|p| {
            format!(
                "{}processors:\n  batch:\n    send_batch_size: 1000\n    send_batch_max_size: 1000\n    timeout: 20ms\n\
                 exporters:\n  otlp:\n    endpoint: 127.0.0.1:{sink_port}\n    tls:\n      insecure: true\n    compression: none\n\
                 \x20   timeout: 10s\n\
                 \x20   sending_queue:\n      queue_size: 1MiB\n      num_consumers: 2\n{}",
                otlp_receiver(p, "", ""),
                service(
                    p,
                    "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n"
                )
            )
        })
        .await,
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (lookout, tally) = (Arc::clone(&lookout), Arc::clone(&tally));
            tokio::spawn(async move {
                for i in 0..REQUESTS_PER_CLIENT {
                    let request = trace_request(&format!("slow-{client}-{i}"), SPANS, PADDING);
                    let payload = Bytes::from(encode(&request));
                    let grpc = (client + i) % 2 == 0;
                    loop {
                        assert!(
                            started.elapsed() < LIMIT,
                            "clients still refused after {LIMIT:?}"
                        );
                        let accepted = offer(&lookout, grpc, &payload).await;
                        let mut tally = tally.lock().await;
                        tally.attempts += 1;
                        if accepted {
                            tally.accepted.extend(span_names(&request));
                            break;
                        }
                        tally.refusals += 1;
                        drop(tally);
                        tokio::time::sleep(CLIENT_BACKOFF).await;
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
    let (accepted, attempts, refusals) = {
        let tally = tally.lock().await;
        (tally.accepted.clone(), tally.attempts, tally.refusals)
    };
    let expected = CLIENTS * REQUESTS_PER_CLIENT * SPANS;
    assert_eq!(
        accepted.len(),
        expected,
        "every request was accepted in the end"
    );

    wait_until(
        "the destination has every accepted span",
        Duration::from_secs(60),
        || sink.span_count() >= expected,
    )
    .await;
    // A short grace for anything that would arrive twice.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut arrived: BTreeMap<String, usize> = BTreeMap::new();
    for request in sink.traces() {
        for name in span_names(&request) {
            *arrived.entry(name).or_default() += 1;
        }
    }
    let metrics = lookout.metrics().await;
    let context = format!("metrics:\n{}\nlog:\n{}", metrics.text(), lookout.logs());
    let lost = accepted
        .iter()
        .filter(|n| !arrived.contains_key(*n))
        .count();
    let duplicated: usize = arrived.values().map(|c| c - 1).sum();
    let busy = sink
        .served()
        .map_or(0.0, |(first, last)| (last - first).as_secs_f64());
    eprintln!(
        "{attempts} offers of {} requests: {refusals} refused (retryable), all {expected} spans accepted; \
         delivered {}, lost {lost}, duplicated {duplicated}; destination busy {busy:.1} s; \
         {:.1} s in all, peak RSS {} KiB",
        CLIENTS * REQUESTS_PER_CLIENT,
        sink.span_count(),
        started.elapsed().as_secs_f64(),
        lookout.peak_rss_kib(),
    );
    assert!(
        refusals > 0,
        "the intake outran the destination, so clients were pushed back; {context}"
    );
    assert_eq!(lost, 0, "every accepted span arrived; {context}");
    assert_eq!(duplicated, 0, "no span arrived twice; {context}");
    assert_eq!(arrived.len(), expected, "nothing else arrived; {context}");
    for failure in [
        "lookout_exporter_send_failed_spans_total",
        "lookout_exporter_enqueue_failed_spans_total",
    ] {
        assert_eq!(
            metrics.get(failure, &[("exporter", "otlp")]).unwrap_or(0.0),
            0.0,
            "{failure}; {context}"
        );
    }
    assert_eq!(
        ["grpc", "http"]
            .iter()
            .map(|transport| {
                metrics
                    .get(
                        "lookout_receiver_refused_requests_total",
                        &[("receiver", "otlp"), ("transport", transport)],
                    )
                    .unwrap_or(0.0)
            })
            .sum::<f64>(),
        refusals as f64,
        "lookout counts exactly the refusals the clients saw; {context}"
    );
}
