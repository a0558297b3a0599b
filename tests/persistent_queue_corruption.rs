//! Restart on a damaged persistent queue: a flipped bit in the first segment, a torn last
//! segment (power loss mid-write) and a garbage file in the directory. Lookout starts, sends
//! every record that reads back intact, moves the rest aside to `corrupted/`, and reports it in
//! its log and in `lookout_exporter_persistent_queue_corrupted_bytes_total`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::sink::Sink;
use support::{
    Lookout, encode, grpc_traces, otlp_exporter, otlp_receiver, service_with_storage,
    trace_request, wait_until,
};

const REQUESTS: usize = 20;
const SPANS: usize = 50;
/// The record header: len, crc32, id, unix ms, signal, items.
const HEADER: usize = 4 + 4 + 8 + 8 + 1 + 4;
const MAGIC: usize = 8;

fn config(p: &support::Ports, sink: u16, storage: &Path) -> String {
    // No batch processor: each request is one record on disk, in order.
    format!(
        "{receivers}exporters:\n{exporter}    sending_queue:\n      storage: file_storage/queue\n      max_size: 1MiB\n      num_consumers: 1\n\
         \x20   retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 200ms\n      max_elapsed_time: 0s\n{service}",
        receivers = otlp_receiver(p, "", ""),
        exporter = otlp_exporter("otlp", sink, "none"),
        service = service_with_storage(
            p,
            "    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n",
            "queue",
            storage,
        ),
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("segment-"))
        })
        .collect();
    found.sort();
    found
}

/// Offsets of the records in a segment file.
fn record_offsets(data: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = MAGIC;
    while at + HEADER <= data.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        at += HEADER + len;
    }
    offsets
}

fn delivered_prefixes(sink: &Sink) -> BTreeSet<String> {
    let mut prefixes = BTreeSet::new();
    for request in sink.traces() {
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                for span in ss.spans {
                    if let Some((prefix, _)) = span.name.rsplit_once('-') {
                        prefixes.insert(prefix.to_string());
                    }
                }
            }
        }
    }
    prefixes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_queue_starts_keeps_what_reads_back_and_reports_the_rest() {
    let storage = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let first = Lookout::start(|p| config(p, sink.port, storage.path())).await;
    for i in 0..REQUESTS {
        let payload = encode(&trace_request(&format!("r{i:02}"), SPANS, 400));
        let reply = grpc_traces(first.ports.grpc, &payload).await;
        assert_eq!(reply.code(), tonic::Code::Ok, "request {i}");
    }
    first.signal("KILL");
    first.wait_exit().await;

    let queue_dir = storage.path().join("exporter_otlp_queue");
    let files = segments(&queue_dir);
    assert!(files.len() >= 3, "{files:?}");
    // A flipped bit in the second record of the first segment: that record and the rest of
    // the segment are lost.
    let mut data = std::fs::read(&files[0]).unwrap();
    let offsets = record_offsets(&data);
    assert!(offsets.len() >= 3, "{offsets:?}");
    data[offsets[1] + HEADER + 100] ^= 0x04;
    std::fs::write(&files[0], &data).unwrap();
    // The last record of the last segment cut short.
    let last = files.last().unwrap();
    let last_data = std::fs::read(last).unwrap();
    let last_records = record_offsets(&last_data).len();
    std::fs::write(last, &last_data[..last_data.len() - 7]).unwrap();
    std::fs::write(queue_dir.join("garbage.bin"), b"not a queue file").unwrap();

    let lost = (offsets.len() - 1) + 1;
    let expected: BTreeSet<String> = (0..REQUESTS)
        .filter(|&i| i == 0 || (i >= offsets.len() && i != REQUESTS - 1))
        .map(|i| format!("r{i:02}"))
        .collect();
    assert_eq!(expected.len(), REQUESTS - lost);
    assert!(last_records >= 1);

    sink.set_unavailable(false);
    let second = Lookout::start(|p| config(p, sink.port, storage.path())).await;
    wait_until(
        "the intact records at the sink",
        Duration::from_secs(30),
        || delivered_prefixes(&sink).len() >= expected.len(),
    )
    .await;
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(delivered_prefixes(&sink), expected);
    assert_eq!(sink.span_count(), expected.len() * SPANS, "no duplicates");

    let metrics = second.metrics().await;
    let labels = [("exporter", "otlp")];
    assert_eq!(
        metrics.value(
            "lookout_exporter_persistent_queue_replayed_records_total",
            &labels
        ),
        expected.len() as f64
    );
    let corrupted = metrics.value(
        "lookout_exporter_persistent_queue_corrupted_bytes_total",
        &labels,
    );
    let peak_kib = second.peak_rss_kib();
    let logs = second.stop_ok().await;
    assert!(corrupted > 1000.0, "corrupted bytes {corrupted}");
    assert_eq!(
        logs.matches("unreadable data moved aside").count(),
        3,
        "one line per damaged place:\n{logs}"
    );
    let aside: BTreeSet<String> = std::fs::read_dir(queue_dir.join("corrupted"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(aside.len(), 3, "{aside:?}");
    assert!(aside.contains("garbage.bin"), "{aside:?}");
    println!(
        "corruption result: sent {REQUESTS} requests of {SPANS} spans, acknowledged {REQUESTS}, \
         delivered {}, duplicated 0, lost {lost} (the damaged ones), {corrupted} bytes moved aside; \
         peak RSS after the restart {:.1} MiB",
        expected.len(),
        peak_kib as f64 / 1024.0
    );
}
