//! The `store` exporter against the real binary: spans and a log line sent over OTLP/HTTP are
//! answered by the Jaeger API from the store alone (no `correlate`); after kill -9 the
//! acknowledged data is replayed from the write-ahead log; a damaged segment is moved to
//! `quarantine/`, counted, and the rest still answers; a range with no data answers empty.

mod support;

use std::path::Path;
use std::time::Duration;

use support::store_api::{get_json, jaeger_trace, send};
use support::{Lookout, otlp_receiver, service, wait_until};

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn config(p: &support::Ports, dir: &Path, flush: &str) -> String {
    format!(
        "{receivers}exporters:\n  store:\n    directory: {dir}\n    flush_interval: {flush}\n{service}",
        receivers = otlp_receiver(p, "", ""),
        dir = dir.display(),
        service = service(
            p,
            "    traces:\n      receivers: [otlp]\n      exporters: [store]\n    logs:\n      receivers: [otlp]\n      exporters: [store]\n",
        ),
    )
}

fn segments(dir: &Path, kind: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join(kind))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn history_survives_kill_9_and_a_damaged_segment() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    let expected = (
        vec!["POST /pay".to_string(), "charge".to_string()],
        vec!["card declined".to_string()],
    );

    // 1. No flush before the kill: what was acknowledged is only in the write-ahead log.
    let first = Lookout::start(|p| config(p, &dir, "1h")).await;
    send(&first, TRACE, "checkout").await;
    // The receiver answers once the data is in the pipeline; the store has it a moment later.
    let mut from_head = None;
    for _ in 0..100 {
        from_head = jaeger_trace(&first, TRACE).await;
        if from_head.as_ref() == Some(&expected) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(from_head, Some(expected.clone()), "from the head");
    let (_, services) = get_json(&first, "/api/services").await;
    assert_eq!(services["data"], serde_json::json!(["checkout"]));
    first.signal("KILL");
    assert_eq!(first.wait_exit().await.code(), None, "killed by a signal");
    assert!(segments(&dir, "spans").is_empty(), "nothing was flushed");

    // 2. Restarted: replayed; then flushed to segments.
    let second = Lookout::start(|p| config(p, &dir, "200ms")).await;
    assert_eq!(
        jaeger_trace(&second, TRACE).await,
        Some(expected.clone()),
        "after kill -9"
    );
    let m = second.metrics().await;
    assert_eq!(
        m.value(
            "lookout_store_replayed_batches_total",
            &[("exporter", "store")]
        ),
        2.0
    );
    wait_until("segments written", Duration::from_secs(20), || {
        !segments(&dir, "spans").is_empty() && !segments(&dir, "logs").is_empty()
    })
    .await;
    let logs = second.stop_ok().await;
    assert!(!logs.contains("ERROR"), "{logs}");

    // 3. A damaged log segment: moved aside, counted; the spans still answer.
    for seg in segments(&dir, "logs") {
        std::fs::write(&seg, b"PAR1 this is not a parquet file PAR1").unwrap();
    }
    let third = Lookout::start(|p| config(p, &dir, "1h")).await;
    let (names, logs) = jaeger_trace(&third, TRACE)
        .await
        .expect("the trace, from its segment");
    assert_eq!(names, expected.0);
    assert!(
        logs.is_empty(),
        "the damaged segment's log line is gone: {logs:?}"
    );
    let m = third.metrics().await;
    assert!(
        m.value(
            "lookout_store_corrupt_segments_total",
            &[("exporter", "store")]
        ) >= 1.0
    );
    assert!(std::fs::read_dir(dir.join("quarantine")).unwrap().count() >= 1);
    assert!(third.logs().contains("damaged segment"), "{}", third.logs());

    // 4. A range with no data answers empty, not an error.
    let (status, red) = get_json(&third, "/api/v1/services/red?start=1000&end=2000").await;
    assert_eq!(status, 200);
    assert_eq!(red["services"], serde_json::json!([]));
    let (status, series) = get_json(
        &third,
        "/api/v1/metrics/series?name=cpu&start=1000&end=2000&step=60",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(series["series"], serde_json::json!([]));
    let (_, red) = get_json(&third, "/api/v1/services/red?start=0&end=99999999999").await;
    assert_eq!(red["services"][0]["service"], "checkout");
    assert_eq!(red["services"][0]["count"], 2);
    third.stop_ok().await;
}
