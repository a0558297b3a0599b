//! kill -9 under steady load with the persistent sending queue (`fsync: every_batch`), then a
//! restart on the same directory: every span a client saw acknowledged reaches the sink.
//! Duplicates (spans delivered twice: sent before the kill, acknowledged on disk after) are
//! counted and reported, and must stay within 1 % of what was acknowledged.
//!
//! The sink refuses for the first part of the load, so the kill finds a backlog on disk and
//! senders in the middle of draining it. `LOOKOUT_FAULT_LONG=1` runs the load longer.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::sink::Sink;
use support::{
    Lookout, otlp_exporter, otlp_receiver, service_with_storage, trace_request, wait_until,
};

/// Concurrent clients, and spans per request.
const CLIENTS: usize = 4;
const SPANS: usize = 50;

fn config(p: &support::Ports, sink: u16, storage: &std::path::Path) -> String {
    format!(
        "{receivers}processors:\n  batch:\n    send_batch_size: 200\n    timeout: 20ms\n\
         exporters:\n{exporter}    sending_queue:\n      storage: file_storage/queue\n      fsync: every_batch\n      num_consumers: 2\n\
         \x20   retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 200ms\n      max_elapsed_time: 0s\n\
         {service}",
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

/// What the clients did.
#[derive(Default)]
struct Ledger {
    sent: u64,
    acknowledged: Vec<String>,
}

/// One client: sends requests of `SPANS` uniquely named spans until `stop`, recording which
/// were acknowledged. Errors (refusals, the collector gone) are not retried: those spans were
/// never acknowledged.
async fn client(url: String, id: usize, ledger: Arc<Mutex<Ledger>>, stop: Instant) {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url) else {
        return;
    };
    let channel = endpoint
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    let mut client = TraceServiceClient::new(channel);
    let mut request_no = 0usize;
    while Instant::now() < stop {
        let prefix = format!("c{id}-r{request_no}");
        request_no += 1;
        let request = trace_request(&prefix, SPANS, 64);
        ledger.lock().unwrap().sent += SPANS as u64;
        match client.export(request).await {
            Ok(_) => {
                let mut ledger = ledger.lock().unwrap();
                ledger
                    .acknowledged
                    .extend((0..SPANS).map(|i| format!("{prefix}-{i}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn delivered(sink: &Sink) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    for request in sink.traces() {
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    *seen.entry(span.name).or_insert(0) += 1;
                }
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let long = std::env::var("LOOKOUT_FAULT_LONG").is_ok_and(|v| v == "1");
    let (refusing, before_kill) = if long {
        (Duration::from_secs(10), Duration::from_secs(30))
    } else {
        (Duration::from_millis(1500), Duration::from_secs(4))
    };
    let storage = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let first = Lookout::start(|p| config(p, sink.port, storage.path())).await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();
    let stop = started + before_kill + Duration::from_secs(1);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(first.grpc_url(), id, Arc::clone(&ledger), stop)))
        .collect();
    tokio::time::sleep(refusing).await;
    sink.set_unavailable(false);
    tokio::time::sleep(before_kill.saturating_sub(refusing)).await;
    let before = first.metrics().await;
    let backlog = before.value(
        "lookout_exporter_persistent_queue_records",
        &[("exporter", "otlp")],
    );
    let first_peak_kib = first.peak_rss_kib();
    first.signal("KILL");
    let status = first.wait_exit().await;
    assert_eq!(status.code(), None, "killed by a signal: {status}");
    for c in clients {
        c.await.unwrap();
    }
    let delivered_at_kill: u32 = delivered(&sink).values().sum();

    let second = Lookout::start(|p| config(p, sink.port, storage.path())).await;
    let (sent, acknowledged) = {
        let ledger = ledger.lock().unwrap();
        (ledger.sent, ledger.acknowledged.clone())
    };
    assert!(
        acknowledged.len() > 1000,
        "the load was too light to say anything: {} spans acknowledged",
        acknowledged.len()
    );
    wait_until(
        "every acknowledged span at the sink",
        Duration::from_secs(30),
        || {
            let seen = delivered(&sink);
            acknowledged.iter().all(|name| seen.contains_key(name))
        },
    )
    .await;
    let after = second.metrics().await;
    let replayed = after.value(
        "lookout_exporter_persistent_queue_replayed_records_total",
        &[("exporter", "otlp")],
    );
    let second_peak_kib = second.peak_rss_kib();
    let logs = second.stop_ok().await;

    let seen = delivered(&sink);
    let lost = acknowledged
        .iter()
        .filter(|name| !seen.contains_key(*name))
        .count();
    let delivered_unique = seen.len();
    let duplicated: u32 = seen.values().map(|n| n - 1).sum();
    let ratio = f64::from(duplicated) / acknowledged.len() as f64;
    println!(
        "kill -9 result: sent {sent}, acknowledged {}, delivered {delivered_unique} \
         (of which {delivered_at_kill} before the kill), duplicated {duplicated} \
         ({:.3} % of acknowledged), lost {lost}; backlog at kill {backlog} batches, \
         replayed {replayed} batches; peak RSS {:.1} MiB before the kill, {:.1} MiB after",
        acknowledged.len(),
        ratio * 100.0,
        first_peak_kib as f64 / 1024.0,
        second_peak_kib as f64 / 1024.0
    );
    assert_eq!(lost, 0, "acknowledged spans lost");
    assert!(replayed > 0.0, "the restart found nothing on disk:\n{logs}");
    assert!(
        ratio <= 0.01,
        "{duplicated} duplicates over {} acknowledged spans",
        acknowledged.len()
    );
}
