//! Adaptive request concurrency against a destination that serves one request at a time, at
//! 20 ms per 1,000 spans (a backend that decodes slowly and does not scale with concurrency):
//! with `num_consumers: adaptive` and a short exporter timeout, every span arrives exactly once,
//! no request times out, and the limit stays low instead of piling requests up at the
//! destination.
//!
//! `LOOKOUT_ADAPTIVE_SWEEP=1` also runs fixed `num_consumers` 1, 2, 4, 8 and 16 against the same
//! destination, prints the throughput of each beside adaptive's, and checks that adaptive is
//! within 10 % of the best fixed setting; then against a sink that answers at once it prints
//! today's default (`num_consumers: 10`) beside adaptive.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use support::counting_client::{Shape, until_acknowledged};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, otlp_receiver, service, wait_until};

/// The destination's pace: one request at a time, this long per 1,000 spans.
const PER_THOUSAND: Duration = Duration::from_millis(20);
const SPANS_PER_REQUEST: usize = 1000;
const CLIENTS: usize = 4;
const REQUESTS_PER_CLIENT: usize = 40;
const PADDING: usize = 20;
/// The exporter's per-request deadline: 50 requests queued at the destination would pass it.
const EXPORTER_TIMEOUT: &str = "1s";

fn config(p: &support::Ports, sink: u16, num_consumers: &str) -> String {
    format!(
        "{receivers}processors:\n  batch:\n    send_batch_size: {SPANS_PER_REQUEST}\n    send_batch_max_size: {SPANS_PER_REQUEST}\n    timeout: 20ms\n\
         exporters:\n{exporter}    timeout: {EXPORTER_TIMEOUT}\n    sending_queue:\n      num_consumers: {num_consumers}\n      queue_size: 256MiB\n\
         \x20   retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 1s\n      max_elapsed_time: 0s\n{service}",
        receivers = otlp_receiver(p, "", ""),
        exporter = otlp_exporter("otlp", sink, "none"),
        service = service(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n"
        ),
    )
}

/// What one run saw.
#[derive(Debug)]
struct Run {
    sent: usize,
    delivered: usize,
    duplicated: usize,
    lost: usize,
    timeouts: f64,
    /// Spans per second the destination accepted, first to last request.
    throughput: f64,
    /// The highest `lookout_exporter_concurrency_limit` seen while it ran.
    peak_limit: f64,
}

/// One client: `REQUESTS_PER_CLIENT` requests, each sent again until acknowledged.
async fn client(url: String, id: usize) -> usize {
    let shape = Shape {
        spans: SPANS_PER_REQUEST,
        padding: PADDING,
        timeout: Duration::from_secs(20),
    };
    until_acknowledged(url, id, REQUESTS_PER_CLIENT, shape).await
}

/// Runs against the serial destination, or with `fast` a sink that answers at once.
async fn run(num_consumers: &str, fast: bool) -> Run {
    let sink = if fast {
        Sink::start().await
    } else {
        Sink::start_serial(PER_THOUSAND).await
    };
    let lookout = Lookout::start(|p| config(p, sink.port, num_consumers)).await;
    let sent = CLIENTS * REQUESTS_PER_CLIENT * SPANS_PER_REQUEST;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(lookout.grpc_url(), id)))
        .collect();
    let labels = [("exporter", "otlp")];
    let mut peak_limit: f64 = 0.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.span_count() < sent && Instant::now() < deadline {
        let limit = lookout
            .metrics()
            .await
            .get("lookout_exporter_concurrency_limit", &labels)
            .unwrap_or(0.0);
        peak_limit = peak_limit.max(limit);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut resent = 0;
    for c in clients {
        resent += c.await.unwrap();
    }
    assert_eq!(
        resent, 0,
        "the clients were refused: the test measures the exporter"
    );
    // Anything still being retried lands by now.
    wait_until("every span delivered", Duration::from_secs(10), || {
        sink.span_count() >= sent
    })
    .await;
    let mut seen: HashMap<String, u32> = HashMap::new();
    for request in sink.traces() {
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    *seen.entry(span.name).or_insert(0) += 1;
                }
            }
        }
    }
    let duplicated = seen.values().map(|&n| n as usize - 1).sum();
    let (first, last) = sink.served().expect("the sink served requests");
    let metrics = lookout.metrics().await;
    let timeouts = metrics.value("lookout_exporter_timed_out_requests_total", &labels);
    let run = Run {
        sent,
        delivered: seen.len(),
        duplicated,
        lost: sent - seen.len(),
        timeouts,
        throughput: sent as f64 / (last - first).as_secs_f64().max(1e-3),
        peak_limit,
    };
    lookout.stop_ok().await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_concurrency_delivers_once_without_timeouts_to_a_serial_destination() {
    let adaptive = run("adaptive", false).await;
    eprintln!("num_consumers: adaptive -> {adaptive:?}");
    assert_eq!(adaptive.lost, 0, "{adaptive:?}");
    assert_eq!(adaptive.duplicated, 0, "{adaptive:?}");
    assert_eq!(adaptive.timeouts, 0.0, "{adaptive:?}");
    assert_eq!(adaptive.delivered, adaptive.sent, "{adaptive:?}");
    assert!(
        adaptive.peak_limit >= 1.0,
        "the limit is reported: {adaptive:?}"
    );

    if std::env::var("LOOKOUT_ADAPTIVE_SWEEP").is_ok_and(|v| v == "1") {
        let mut best: f64 = 0.0;
        for n in [1, 2, 4, 8, 16] {
            let fixed = run(&n.to_string(), false).await;
            eprintln!(
                "num_consumers: {n:>8} -> {:>8.0} spans/s, {} duplicated, {} lost, {} timeouts",
                fixed.throughput, fixed.duplicated, fixed.lost, fixed.timeouts
            );
            best = best.max(fixed.throughput);
        }
        eprintln!(
            "num_consumers: adaptive -> {:>8.0} spans/s ({:.1} % of the best fixed), peak limit {}",
            adaptive.throughput,
            100.0 * adaptive.throughput / best,
            adaptive.peak_limit
        );
        assert!(
            adaptive.throughput >= 0.9 * best,
            "adaptive {:.0} spans/s against the best fixed {best:.0}",
            adaptive.throughput
        );
        for num_consumers in ["10", "adaptive"] {
            let fast = run(num_consumers, true).await;
            eprintln!(
                "fast sink, num_consumers: {num_consumers:>8} -> {:>8.0} spans/s, {} duplicated, {} lost, peak limit {}",
                fast.throughput, fast.duplicated, fast.lost, fast.peak_limit
            );
        }
    }
}
