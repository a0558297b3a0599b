//! The destination down longer than the persistent queue's disk limit, at steady load: the
//! queue fills to `max_size`, from then on clients get retryable refusals (gRPC `UNAVAILABLE`,
//! counted), nothing that was acknowledged is lost, and once the destination is back the queue
//! drains in order and every acknowledged span arrives, once. Peak RSS stays bounded.
//!
//! `max_size` 4 MiB and 5 s past the limit by default (about 20 s in a debug build);
//! `LOOKOUT_FAULT_LONG=1`: `max_size` 64 MiB and 100 s past the limit.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::counting_client::{Seen, Shape, client, delivered};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, otlp_receiver, service_with_storage, wait_until};

const CLIENTS: usize = 4;
const SPANS: usize = 50;
/// Bytes of padding per span: about 22 KB per request.
const PADDING: usize = 400;
/// Peak RSS allowed while the queue is full on disk.
const RSS_LIMIT_KIB: u64 = 150 * 1024;
const SHAPE: Shape = Shape {
    spans: SPANS,
    padding: PADDING,
    timeout: Duration::from_secs(30),
};

fn config(
    p: &support::Ports,
    sink: u16,
    storage: &std::path::Path,
    max_size: u64,
    block: bool,
) -> String {
    // One sender, so the order on the wire is the order on disk. `block_on_overflow: false`
    // (the Collector's default): a full queue refuses the batch at once; Lookout's default
    // (`true`) waits up to 2 s for room, then refuses.
    let overflow = if block {
        ""
    } else {
        "      block_on_overflow: false\n"
    };
    format!(
        "{receivers}processors:\n  batch:\n    send_batch_size: 500\n    timeout: 20ms\n\
         exporters:\n{exporter}    sending_queue:\n      storage: file_storage/queue\n      max_size: {max_size}\n{overflow}      num_consumers: 1\n\
         \x20   retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 500ms\n      max_elapsed_time: 0s\n{service}",
        receivers = otlp_receiver(p, "", ""),
        exporter = otlp_exporter("otlp", sink, "none"),
        service = service_with_storage(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n",
            "queue",
            storage,
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_the_disk_limit_refuses_retryably_and_loses_nothing_acknowledged() {
    outage_past_the_limit(false).await;
}

/// With Lookout's default `block_on_overflow: true` the clients, waiting for the queue's
/// acknowledgement, must still be told to retry (not left to time out): a client-side
/// timeout would show up as a refusal other than `UNAVAILABLE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_at_the_disk_limit_still_refuses_retryably_within_seconds() {
    outage_past_the_limit(true).await;
}

async fn outage_past_the_limit(block: bool) {
    let long = std::env::var("LOOKOUT_FAULT_LONG").is_ok_and(|v| v == "1");
    let (max_size, past_limit) = if long {
        (64u64 << 20, Duration::from_secs(100))
    } else {
        (4u64 << 20, Duration::from_secs(5))
    };
    let storage = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let lookout = Lookout::start(|p| config(p, sink.port, storage.path(), max_size, block)).await;
    let labels = [("exporter", "otlp")];

    let seen = Arc::new(Mutex::new(Seen::default()));
    // The clients stop at the latest then; the test moves it earlier.
    let hard_stop = Instant::now() + Duration::from_secs(if long { 600 } else { 120 });
    let stop = Arc::new(Mutex::new(hard_stop));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            tokio::spawn(client(
                lookout.grpc_url(),
                id,
                0,
                SHAPE,
                Arc::clone(&seen),
                Arc::clone(&stop),
            ))
        })
        .collect();
    // Until the first refusal: the queue is at its limit.
    let fill_limit = Duration::from_secs(if long { 200 } else { 40 });
    wait_until("the queue full and refusing", fill_limit, || {
        !seen.lock().unwrap().refused.is_empty()
    })
    .await;
    let full_after = started.elapsed();
    let at_limit = lookout.metrics().await;
    let acked_at_limit = seen.lock().unwrap().acked.len();
    tokio::time::sleep(past_limit).await;
    let before_back = lookout.metrics().await;
    let backlog_bytes = before_back.value("lookout_exporter_persistent_queue_bytes", &labels);
    let backlog_records = before_back.value("lookout_exporter_persistent_queue_records", &labels);
    let acked_before_back = seen.lock().unwrap().acked.len();
    sink.set_unavailable(false);
    // Load goes on for 3 s while the queue drains, then stops.
    *stop.lock().unwrap() = Instant::now() + Duration::from_secs(3);
    for c in clients {
        c.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let names: Vec<String> = seen
        .acked
        .iter()
        .flat_map(|(c, n)| (0..SPANS).map(move |i| format!("c{c}-r{n}-{i}")))
        .collect();
    wait_until(
        "every acknowledged span at the sink",
        Duration::from_secs(if long { 300 } else { 60 }),
        || {
            let (delivered, _) = delivered(&sink);
            names.iter().all(|n| delivered.contains_key(n))
        },
    )
    .await;
    let peak_rss_kib = lookout.peak_rss_kib();
    let end = lookout.metrics().await;
    lookout.stop_ok().await;

    let (delivered, order) = delivered(&sink);
    let lost = names.iter().filter(|n| !delivered.contains_key(*n)).count();
    let duplicated: u32 = delivered.values().map(|n| n - 1).sum();
    let refused: usize = seen.refused.values().sum();
    let enqueue_failed = end.value("lookout_exporter_enqueue_failed_spans_total", &labels);
    println!(
        "over-limit result (block_on_overflow {block}, max_size {} MiB, full after {:.1} s, {past_limit:?} past the limit): \
         sent {} requests ({} spans), acknowledged {} spans ({} while full and down), refused {refused} \
         requests {:?}, enqueue_failed {enqueue_failed} spans; delivered {} unique spans ({} not \
         acknowledged), duplicated {duplicated}, lost {lost}; on disk before the destination came \
         back: {backlog_records} batches, {:.2} MiB; peak RSS {:.1} MiB",
        max_size >> 20,
        full_after.as_secs_f64(),
        seen.sent,
        seen.sent * SPANS,
        names.len(),
        (acked_before_back - acked_at_limit) * SPANS,
        seen.refused,
        delivered.len(),
        delivered.len() - (names.len() - lost),
        backlog_bytes / f64::from(1 << 20),
        peak_rss_kib as f64 / 1024.0
    );
    assert_eq!(lost, 0, "acknowledged spans never arrived");
    assert_eq!(duplicated, 0, "an outage alone causes no duplicates");
    assert!(
        seen.refused.keys().all(|code| code == "Unavailable"),
        "every refusal is retryable (UNAVAILABLE): {:?}",
        seen.refused
    );
    assert!(refused > 0 && enqueue_failed > 0.0);
    assert!(
        backlog_bytes <= max_size as f64 && backlog_bytes >= 0.75 * max_size as f64,
        "the queue held {backlog_bytes} bytes at the end of the outage (limit {max_size})"
    );
    assert!(at_limit.value("lookout_exporter_persistent_queue_bytes", &labels) <= max_size as f64);
    assert!(
        peak_rss_kib < RSS_LIMIT_KIB,
        "peak RSS {peak_rss_kib} KiB with the queue full on disk"
    );
    for (client, numbers) in order {
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "client {client}'s requests arrived out of order: {numbers:?}"
        );
    }
}
