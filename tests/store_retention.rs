//! The `store` exporter's retention against the real binary: with a size limit on traces the
//! store's bytes (segments + write-ahead log, as reported and as found on disk) never exceed
//! it while data keeps arriving, the oldest segments going first; with an age limit, segments
//! of hours older than it are deleted and counted.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{Lookout, encode, http_client, otlp_receiver, service, trace_request, wait_until};

const LIMIT: u64 = 400_000;

fn config(p: &support::Ports, dir: &Path, retention: &str) -> String {
    format!(
        "{receivers}exporters:\n  store:\n    directory: {dir}\n    flush_interval: 100ms\n    retention:\n{retention}{service}",
        receivers = otlp_receiver(p, "", ""),
        dir = dir.display(),
        service = service(
            p,
            "    traces:\n      receivers: [otlp]\n      exporters: [store]\n",
        ),
    )
}

/// Bytes of the files under the traces' folders.
fn traces_on_disk(dir: &Path) -> u64 {
    ["spans", "red_1m", "wal"]
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.join(d)).into_iter().flatten())
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

async fn post(lookout: &Lookout, body: Vec<u8>) -> u16 {
    http_client()
        .post(lookout.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("POST")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_size_limit_holds_while_data_keeps_arriving() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    // The requests' spans are of 2023: no age limit here.
    let retention = format!("      max_age: 100000h\n      traces:\n        max_bytes: {LIMIT}\n");
    let lookout = Lookout::start(|p| config(p, &dir, &retention)).await;
    let mut accepted = 0;
    let mut peak_reported = 0.0f64;
    let mut peak_disk = 0;
    for i in 0..150 {
        // ~40 KB of OTLP per request: 100 spans with 300-byte attributes.
        let status = post(&lookout, encode(&trace_request(&format!("r{i}"), 100, 300))).await;
        accepted += usize::from(status == 200);
        let m = lookout.metrics().await;
        let reported = m.value("lookout_store_bytes", &[("signal", "traces")]);
        peak_reported = peak_reported.max(reported);
        peak_disk = peak_disk.max(traces_on_disk(&dir));
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    let m = lookout.metrics().await;
    let deleted = m.value(
        "lookout_store_deleted_segments_total",
        &[("signal", "traces"), ("reason", "size")],
    );
    println!(
        "accepted {accepted}/150 requests (~6 MB of OTLP); peak bytes {peak_reported} reported, \
         {peak_disk} on disk; {deleted} segments deleted for size; limit {LIMIT}"
    );
    assert!(accepted > 100, "most requests are accepted: {accepted}");
    assert!(deleted > 0.0, "the limit was reached and segments deleted");
    assert!(peak_reported <= LIMIT as f64, "{peak_reported}");
    assert!(peak_disk <= LIMIT, "{peak_disk}");
    lookout.stop_ok().await;
}

#[tokio::test]
async fn segments_older_than_max_age_are_deleted() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    let lookout = Lookout::start(|p| config(p, &dir, "      max_age: 1h\n")).await;
    // Spans of 2023: their hour ended long before now - 1 h.
    assert_eq!(
        post(&lookout, encode(&trace_request("old", 10, 0))).await,
        200
    );
    // One span segment and its RED rollup, deleted by the flush that wrote them.
    let started = std::time::Instant::now();
    let deleted = loop {
        let m = lookout.metrics().await;
        let deleted = m
            .get(
                "lookout_store_deleted_segments_total",
                &[("signal", "traces"), ("reason", "age")],
            )
            .unwrap_or(0.0);
        if deleted >= 2.0 || started.elapsed() > Duration::from_secs(20) {
            break deleted;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(deleted, 2.0);
    wait_until("the old files gone", Duration::from_secs(5), || {
        traces_on_disk(&dir) == 0
    })
    .await;
    let url = format!(
        "http://127.0.0.1:{}/api/traces/11111111111111110000000000000001",
        lookout.ports.metrics
    );
    assert_eq!(
        http_client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    lookout.stop_ok().await;
}
