//! Shutdown: SIGTERM (or SIGINT) while data is still inside lookout, held by the batch
//! processor or queued in an exporter retrying a refusing destination, exits 0 only after that
//! data reached the sink, once each.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::sink::Sink;
use support::{Lookout, encode, grpc_traces, otlp_receiver, service, trace_request, wait_until};
use tonic::Code;

const REQUESTS: usize = 5;
const SPANS: usize = 10;

fn config(p: &support::Ports, sink: u16, batch: &str) -> String {
    format!(
        "{}processors:\n  batch:\n{batch}exporters:\n  otlp:\n    endpoint: 127.0.0.1:{sink}\n    tls:\n      insecure: true\n\
         \x20   retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 100ms\n      max_elapsed_time: 60s\n{}",
        otlp_receiver(p, "", ""),
        service(
            p,
            "    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n"
        )
    )
}

async fn send(lookout: &Lookout) {
    for i in 0..REQUESTS {
        let payload = encode(&trace_request(&format!("req{i}"), SPANS, 0));
        let reply = grpc_traces(lookout.ports.grpc, &payload).await;
        assert_eq!(reply.code(), Code::Ok, "request {i}: {reply:?}");
    }
}

/// Every span sent arrived exactly once.
fn assert_all_arrived_once(sink: &Sink) {
    let names: Vec<String> = sink
        .traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect();
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(
        names.len(),
        REQUESTS * SPANS,
        "spans at the sink: {names:?}"
    );
    assert_eq!(
        unique.len(),
        names.len(),
        "duplicates at the sink: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_data_queued_behind_a_refusing_destination() {
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let lookout = Lookout::start(|p| config(p, sink.port, "    timeout: 10ms\n")).await;
    send(&lookout).await;
    wait_until(
        "the exporter to be refused at least once",
        Duration::from_secs(30),
        || sink.refused_calls() >= 1,
    )
    .await;
    assert_eq!(
        sink.span_count(),
        0,
        "nothing delivered while the sink refuses"
    );
    lookout.signal("TERM");
    // Once shutdown has begun (health turns 503), let the destination recover: the data
    // still queued must now be drained, not dropped.
    lookout.wait_unhealthy().await;
    sink.set_unavailable(false);
    lookout.wait_exit_ok().await;
    assert_all_arrived_once(&sink);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_flushes_the_batch_processor() {
    let sink = Sink::start().await;
    // A batch that would only be sent after a minute or 100000 spans.
    let lookout = Lookout::start(|p| {
        config(
            p,
            sink.port,
            "    timeout: 60s\n    send_batch_size: 100000\n",
        )
    })
    .await;
    send(&lookout).await;
    assert_eq!(
        sink.span_count(),
        0,
        "the batch processor is holding the data"
    );
    lookout.signal("INT");
    lookout.wait_exit_ok().await;
    assert_all_arrived_once(&sink);
}
