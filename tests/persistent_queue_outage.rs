//! The destination down under steady load with a persistent queue, then back: the backlog goes
//! to disk, not to memory (peak RSS stays bounded while the queue files grow), and once the
//! destination is back the queue drains in order with nothing lost and nothing duplicated.
//!
//! Down 5 s by default; `LOOKOUT_FAULT_LONG=1` keeps it down 2 minutes.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::sink::Sink;
use support::{
    Lookout, otlp_exporter, otlp_receiver, service_with_storage, trace_request, wait_until,
};

const CLIENTS: usize = 4;
const SPANS: usize = 50;
/// Bytes of padding per span: a backlog of megabytes within seconds.
const PADDING: usize = 400;
/// Peak RSS allowed while the backlog is on disk.
const RSS_LIMIT_KIB: u64 = 150 * 1024;

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

/// One client: requests of `SPANS` spans named `c<id>-r<n>-<i>` until `stop`; records the
/// request numbers acknowledged.
async fn client(url: String, id: usize, acked: Arc<Mutex<Vec<(usize, usize)>>>, stop: Instant) {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url) else {
        return;
    };
    let mut client = TraceServiceClient::new(
        endpoint
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .connect_lazy(),
    );
    let mut n = 0usize;
    while Instant::now() < stop {
        let request = trace_request(&format!("c{id}-r{n}"), SPANS, PADDING);
        match client.export(request).await {
            Ok(_) => acked.lock().unwrap().push((id, n)),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        n += 1;
    }
}

/// Span name → times delivered, and each client's request numbers in the order they arrived.
fn delivered(sink: &Sink) -> (HashMap<String, u32>, HashMap<usize, Vec<usize>>) {
    let mut seen = HashMap::new();
    let mut order: HashMap<usize, Vec<usize>> = HashMap::new();
    for request in sink.traces() {
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let mut parts = span.name.split('-');
                    let client = parts.next().and_then(|c| c.strip_prefix('c')?.parse().ok());
                    let number = parts.next().and_then(|r| r.strip_prefix('r')?.parse().ok());
                    if let (Some(client), Some(number)) = (client, number) {
                        let list = order.entry(client).or_default();
                        if list.last() != Some(&number) {
                            list.push(number);
                        }
                    }
                    *seen.entry(span.name).or_insert(0) += 1;
                }
            }
        }
    }
    (seen, order)
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

    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Instant::now() + down + Duration::from_secs(2);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(lookout.grpc_url(), id, Arc::clone(&acked), stop)))
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
    let acked = acked.lock().unwrap().clone();
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
