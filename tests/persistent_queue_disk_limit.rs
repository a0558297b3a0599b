//! A persistent queue at its disk limit (`max_size`) with the destination down: clients get a
//! retryable refusal (gRPC UNAVAILABLE with RetryInfo), nothing accepted is dropped, the files
//! stay within the limit, and once the destination is back everything accepted arrives and new
//! data is taken again.

mod support;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use support::sink::Sink;
use support::{
    GRPC_TRACES, Lookout, encode, grpc_call, grpc_frame, otlp_exporter, otlp_receiver,
    service_with_storage, trace_request, wait_until,
};
use tonic_types::StatusExt;

const SPANS: usize = 50;
const MAX_SIZE: u64 = 256 << 10;

fn config(p: &support::Ports, sink: u16, storage: &Path) -> String {
    format!(
        "{receivers}exporters:\n{exporter}    sending_queue:\n      storage: file_storage/queue\n      max_size: {MAX_SIZE}\n      block_on_overflow: false\n      num_consumers: 1\n\
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_with_a_retryable_status_and_drops_nothing_accepted() {
    let storage = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let lookout = Lookout::start(|p| config(p, sink.port, storage.path())).await;
    let send = |i: usize| {
        let payload = encode(&trace_request(&format!("r{i:03}"), SPANS, 400));
        grpc_call(
            lookout.ports.grpc,
            GRPC_TRACES,
            "application/grpc",
            None,
            grpc_frame(&Bytes::from(payload), false),
        )
    };
    let mut accepted = 0;
    let mut refusal = None;
    for i in 0..100 {
        let reply = send(i).await;
        match reply.code() {
            tonic::Code::Ok => accepted += 1,
            _ => {
                refusal = reply.status;
                break;
            }
        }
    }
    let refusal = refusal.expect("the disk limit was never reached");
    assert_eq!(refusal.code(), tonic::Code::Unavailable, "{refusal:?}");
    assert!(
        refusal.get_details_retry_info().is_some(),
        "the refusal carries RetryInfo: {refusal:?}"
    );
    // About 22 KB per request: the limit holds roughly a dozen.
    assert!((5..20).contains(&accepted), "accepted {accepted}");
    let metrics = lookout.metrics().await;
    let labels = [("exporter", "otlp")];
    let bytes = metrics.value("lookout_exporter_persistent_queue_bytes", &labels);
    assert!(bytes <= MAX_SIZE as f64, "{bytes} bytes on disk");
    assert_eq!(
        metrics.value("lookout_exporter_persistent_queue_records", &labels),
        accepted as f64
    );
    assert_eq!(
        metrics.value("lookout_exporter_enqueue_failed_spans_total", &labels),
        SPANS as f64
    );

    sink.set_unavailable(false);
    wait_until(
        "everything accepted at the sink",
        Duration::from_secs(30),
        || sink.span_count() >= accepted * SPANS,
    )
    .await;
    let reply = send(1000).await;
    assert_eq!(reply.code(), tonic::Code::Ok, "room again once delivered");
    wait_until("the new request", Duration::from_secs(10), || {
        sink.span_count() >= (accepted + 1) * SPANS
    })
    .await;
    let peak_kib = lookout.peak_rss_kib();
    lookout.stop_ok().await;
    assert_eq!(sink.span_count(), (accepted + 1) * SPANS, "no duplicates");
    println!(
        "disk limit result: {accepted} requests of {SPANS} spans accepted within {MAX_SIZE} bytes, \
         the next refused with UNAVAILABLE + RetryInfo; delivered {}, lost 0; peak RSS {:.1} MiB",
        sink.span_count(),
        peak_kib as f64 / 1024.0
    );
}
