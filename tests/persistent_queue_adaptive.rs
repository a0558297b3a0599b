//! Adaptive request concurrency behind a persistent queue: `num_consumers: adaptive` with
//! `storage:` (`fsync: every_batch`) against a destination that serves one request at a time
//! at 20 ms per 1,000 spans. Every acknowledged span arrives, none is lost, duplicates are
//! counted (and must stay under 1 %), and no request times out. The same load through the
//! in-memory queue runs first, for the throughput beside it.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use support::counting_client::{Shape, until_acknowledged};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, otlp_receiver, service, service_with_storage, wait_until};

/// The destination's pace: one request at a time, this long per 1,000 spans.
const PER_THOUSAND: Duration = Duration::from_millis(20);
const SPANS_PER_REQUEST: usize = 1000;
const CLIENTS: usize = 4;
const REQUESTS_PER_CLIENT: usize = 40;
const PADDING: usize = 20;
/// The exporter's per-request deadline: 50 requests queued at the destination would pass it.
const EXPORTER_TIMEOUT: &str = "1s";

/// The adaptive exporter, its queue on disk in `storage` or (`None`) in memory.
fn config(p: &support::Ports, sink: u16, storage: Option<&Path>) -> String {
    let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n";
    let (queue, service) = match storage {
        Some(dir) => (
            "      storage: file_storage/queue\n      fsync: every_batch\n".to_string(),
            service_with_storage(p, pipelines, "queue", dir),
        ),
        None => (
            "      queue_size: 256MiB\n".to_string(),
            service(p, pipelines),
        ),
    };
    format!(
        "{receivers}processors:\n  batch:\n    send_batch_size: {SPANS_PER_REQUEST}\n    send_batch_max_size: {SPANS_PER_REQUEST}\n    timeout: 20ms\n\
         exporters:\n{exporter}    timeout: {EXPORTER_TIMEOUT}\n    sending_queue:\n      num_consumers: adaptive\n{queue}\
         \x20   retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 1s\n      max_elapsed_time: 0s\n{service}",
        receivers = otlp_receiver(p, "", ""),
        exporter = otlp_exporter("otlp", sink, "none"),
    )
}

/// What one run saw.
#[derive(Debug)]
struct Run {
    sent: usize,
    /// Requests a client had to send again (refused or timed out).
    resent: usize,
    delivered: usize,
    duplicated: usize,
    lost: usize,
    timeouts: f64,
    /// Spans per second the destination accepted, first to last request.
    throughput: f64,
    /// The highest `lookout_exporter_concurrency_limit` seen while it ran.
    peak_limit: f64,
    peak_rss_mib: f64,
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

async fn run(storage: Option<&Path>) -> Run {
    let sink = Sink::start_serial(PER_THOUSAND).await;
    let lookout = Lookout::start(|p| config(p, sink.port, storage)).await;
    let sent = CLIENTS * REQUESTS_PER_CLIENT * SPANS_PER_REQUEST;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(lookout.grpc_url(), id)))
        .collect();
    let labels = [("exporter", "otlp")];
    let mut peak_limit: f64 = 0.0;
    let deadline = Instant::now() + Duration::from_secs(90);
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
    wait_until("every span delivered", Duration::from_secs(30), || {
        let mut names = std::collections::HashSet::new();
        for request in sink.traces() {
            for rs in request.resource_spans {
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        names.insert(span.name);
                    }
                }
            }
        }
        names.len() >= sent
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
    let (first, last) = sink.served().expect("the sink served requests");
    let metrics = lookout.metrics().await;
    let run = Run {
        sent,
        resent,
        delivered: seen.len(),
        duplicated: seen.values().map(|&n| n as usize - 1).sum(),
        lost: sent - seen.len(),
        timeouts: metrics.value("lookout_exporter_timed_out_requests_total", &labels),
        throughput: sent as f64 / (last - first).as_secs_f64().max(1e-3),
        peak_limit,
        peak_rss_mib: lookout.peak_rss_kib() as f64 / 1024.0,
    };
    lookout.stop_ok().await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_senders_behind_a_persistent_queue_lose_nothing_against_a_serial_destination() {
    let memory = run(None).await;
    println!("adaptive, queue in memory -> {memory:?}");
    let storage = tempfile::tempdir().unwrap();
    let disk = run(Some(storage.path())).await;
    println!("adaptive, queue on disk (fsync: every_batch) -> {disk:?}");
    println!(
        "adaptive on disk: {:.0} spans/s, {:.1} % of in memory ({:.0}); sent {}, resent by the \
         clients {}, delivered {}, duplicated {} ({:.2} %), lost {}, timeouts {}, peak limit {}, \
         peak RSS {:.1} MiB (in memory: {:.1} MiB)",
        disk.throughput,
        100.0 * disk.throughput / memory.throughput,
        memory.throughput,
        disk.sent,
        disk.resent,
        disk.delivered,
        disk.duplicated,
        100.0 * disk.duplicated as f64 / disk.sent as f64,
        disk.lost,
        disk.timeouts,
        disk.peak_limit,
        disk.peak_rss_mib,
        memory.peak_rss_mib
    );
    for run in [&memory, &disk] {
        assert_eq!(run.lost, 0, "{run:?}");
        assert_eq!(run.delivered, run.sent, "{run:?}");
        assert!(
            run.duplicated * 100 <= run.sent,
            "more than 1 % duplicated: {run:?}"
        );
        assert_eq!(run.timeouts, 0.0, "{run:?}");
        assert!(run.peak_limit >= 1.0, "the limit is reported: {run:?}");
    }
}
