//! The destination down under steady load with a persistent queue, then back: the backlog goes
//! to disk, not to memory (peak RSS stays bounded while the queue files grow), and once the
//! destination is back the queue drains in order with nothing lost and nothing duplicated.
//!
//! Down 5 s by default; `LOOKOUT_FAULT_LONG=1` keeps it down 2 minutes.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::counting_client::{Seen, Shape, client, delivered};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, otlp_receiver, service_with_storage, wait_until};

const CLIENTS: usize = 4;
const SPANS: usize = 50;
/// Bytes of padding per span: a backlog of megabytes within seconds.
const PADDING: usize = 400;
/// Peak RSS allowed while the backlog is on disk.
const RSS_LIMIT_KIB: u64 = 150 * 1024;
const SHAPE: Shape = Shape {
    spans: SPANS,
    padding: PADDING,
    timeout: Duration::from_secs(10),
};

fn config(p: &support::Ports, sink: u16, storage: &std::path::Path) -> String {
    // One sender, so the order on the wire is the order on disk.
    format!(
        "{receivers}processors:\n  batch:\n    send_batch_size: 500\n    timeout: 20ms\n\
         exporters:\n{exporter}    sending_queue:\n      storage: file_storage/queue\n      num_consumers: 1\n\
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
async fn an_outage_goes_to_disk_and_drains_in_order_with_nothing_lost() {
    let long = std::env::var("LOOKOUT_FAULT_LONG").is_ok_and(|v| v == "1");
    let down = if long {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(5)
    };
    let storage = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let lookout = Lookout::start(|p| config(p, sink.port, storage.path())).await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(Mutex::new(Instant::now() + down + Duration::from_secs(2)));
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
    tokio::time::sleep(down).await;
    let during = lookout.metrics().await;
    let labels = [("exporter", "otlp")];
    let backlog_bytes = during.value("lookout_exporter_persistent_queue_bytes", &labels);
    let backlog_records = during.value("lookout_exporter_persistent_queue_records", &labels);
    sink.set_unavailable(false);
    for c in clients {
        c.await.unwrap();
    }
    let acked = std::mem::take(&mut seen.lock().unwrap().acked);
    let names: Vec<String> = acked
        .iter()
        .flat_map(|(c, n)| (0..SPANS).map(move |i| format!("c{c}-r{n}-{i}")))
        .collect();
    wait_until(
        "every acknowledged span at the sink",
        Duration::from_secs(if long { 300 } else { 60 }),
        || {
            let (seen, _) = delivered(&sink);
            names.iter().all(|n| seen.contains_key(n))
        },
    )
    .await;
    let peak_rss_kib = lookout.peak_rss_kib();
    lookout.stop_ok().await;

    let (seen, order) = delivered(&sink);
    let lost = names.iter().filter(|n| !seen.contains_key(*n)).count();
    let duplicated: u32 = seen.values().map(|n| n - 1).sum();
    println!(
        "outage result ({down:?} down): acknowledged {} spans, delivered {}, duplicated \
         {duplicated}, lost {lost}; on disk when the destination came back: {backlog_records} \
         batches, {:.1} MiB; peak RSS {:.1} MiB",
        names.len(),
        seen.len(),
        backlog_bytes / f64::from(1 << 20),
        peak_rss_kib as f64 / 1024.0
    );
    assert_eq!(lost, 0);
    assert_eq!(duplicated, 0, "an outage alone causes no duplicates");
    assert!(
        backlog_bytes > 4.0 * f64::from(1 << 20),
        "the outage should have built a backlog on disk: {backlog_bytes} bytes"
    );
    assert!(
        peak_rss_kib < RSS_LIMIT_KIB,
        "peak RSS {peak_rss_kib} KiB with the backlog on disk"
    );
    for (client, numbers) in order {
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "client {client}'s requests arrived out of order: {numbers:?}"
        );
    }
}
