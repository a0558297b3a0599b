//! The hostmetrics and httpcheck receivers in a running `lookout`: their metrics reach an OTLP
//! exporter like any receiver's, and the self-metrics count them.

mod support;

use std::time::Duration;

use support::sink::Sink;
use support::{Lookout, free_port, otlp_exporter, service, wait_until};

fn names(sink: &Sink) -> Vec<String> {
    sink.metrics()
        .iter()
        .flat_map(|r| r.resource_metrics.iter())
        .flat_map(|rm| rm.scope_metrics.iter())
        .flat_map(|sm| sm.metrics.iter())
        .map(|m| m.name.clone())
        .collect()
}

#[tokio::test]
async fn scraped_metrics_reach_the_exporter_and_are_counted() {
    let sink = Sink::start().await;
    let lookout = Lookout::start(|p| {
        // A port nothing listens on. `free_port` releases the port it found, so it may hand
        // out one of lookout's own ports again: the check would then get an HTTP answer and
        // no `httpcheck.error` (the likely cause of one 30 s timeout seen in a CI run).
        let closed = std::iter::repeat_with(free_port)
            .find(|c| ![p.grpc, p.http, p.health, p.metrics].contains(c))
            .expect("an endless iterator");
        format!(
            "receivers:\n  hostmetrics:\n    collection_interval: 100ms\n    initial_delay: 0s\n    scrapers:\n      cpu:\n      memory:\n      network:\n\
             \x20 httpcheck:\n    collection_interval: 100ms\n    initial_delay: 0s\n    timeout: 1s\n    targets:\n      - endpoint: http://127.0.0.1:{closed}/\n\
             exporters:\n{}{}",
            otlp_exporter("otlp", sink.port, "none"),
            service(
                p,
                "    metrics:\n      receivers: [hostmetrics, httpcheck]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;
    wait_until(
        "host and httpcheck metrics at the sink",
        Duration::from_secs(30),
        || {
            let names = names(&sink);
            [
                "system.cpu.time",
                "system.memory.usage",
                "system.network.io",
                "httpcheck.error",
            ]
            .iter()
            .all(|n| names.iter().any(|m| m == n))
        },
    )
    .await;
    let resource_keys: Vec<String> = sink
        .metrics()
        .iter()
        .flat_map(|r| r.resource_metrics.iter())
        .filter_map(|rm| rm.resource.as_ref())
        .flat_map(|r| r.attributes.iter().map(|kv| kv.key.clone()))
        .collect();
    assert!(
        resource_keys.iter().any(|k| k == "host.name"),
        "{resource_keys:?}"
    );
    let metrics = lookout.metrics().await;
    for receiver in ["hostmetrics", "httpcheck"] {
        let accepted = metrics
            .get(
                "lookout_receiver_accepted_metric_points_total",
                &[("receiver", receiver)],
            )
            .unwrap_or(0.0);
        assert!(accepted > 0.0, "{receiver} accepted nothing");
    }
    let status = lookout.stop().await;
    assert!(status.success(), "lookout exited with {status:?}");
    sink.stop().await;
}
