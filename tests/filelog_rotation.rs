//! Whole-process filelog reliability: lines written at full speed while the file is rotated by
//! rename+create or by copytruncate must all arrive exactly once.
//!
//! CI size: 200,000 lines rotated every 20,000; `LOOKOUT_FILELOG_FULL=1` runs the issue's
//! 1,000,000 lines rotated every 100,000.

mod filelog_support;

use std::time::{Duration, Instant};

use filelog_support::{Collector, Rotation, SinkHandle, config, sizes, write_lines};

async fn run(rotation: Rotation, multiline: bool, live_only: bool) {
    let (total, every) = sizes();
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = SinkHandle::start(total).await;
    // `app.log*` keeps rotated files listed; `app.log` alone relies on open handles and on
    // notify's rename events for generations rotated away between two listings.
    let pattern = if live_only { "app.log" } else { "app.log*" };
    let include = format!("{}/{pattern}", dir.path().display());
    let extra = if multiline {
        "    multiline:\n      line_start_pattern: '^line '\n"
    } else {
        ""
    };
    let collector = Collector::start(dir.path(), &config(dir.path(), &include, sink.port, extra));
    // The first line proves the collector is watching before the fast part starts: with only
    // the live name included, generations rotated away before it starts could never be found.
    write_lines(dir.path(), 0, 1, every, rotation, multiline);
    assert!(
        sink.wait_at_least(1, Duration::from_secs(60)).await,
        "collector did not start reading"
    );
    let path = dir.path().to_path_buf();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || write_lines(&path, 1, total, every, rotation, multiline))
        .await
        .expect("writer");
    let written = started.elapsed();
    let complete = sink.wait_all(total, Duration::from_secs(120)).await;
    let delivered = started.elapsed();
    // Give duplicates, if any, the time to show up before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(collector.stop(), "collector did not stop cleanly");
    let (lost, dup) = sink.with(|c| c.summary(total));
    let (foreign, multi, broken) = sink.with(|c| (c.foreign, c.multi, c.broken_multi));
    eprintln!(
        "{rotation:?} multiline={multiline} live_only={live_only}: {total} lines, rotation every {every}: written in {written:?}, all delivered after {delivered:?}; lost {lost}, duplicated {dup}, multiline records {multi}"
    );
    if !complete {
        let log = std::fs::read_to_string(dir.path().join("lookout.log")).unwrap_or_default();
        eprintln!("collector log:\n{log}");
    }
    assert_eq!((lost, dup), (0, 0), "lines lost / duplicated");
    assert_eq!(foreign, 0, "records that are not test lines");
    assert_eq!(broken, 0, "multiline records split apart");
    if multiline {
        assert_eq!(
            multi as usize,
            total / 10,
            "every 10th line is a 3-line record"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_create_rotation_loses_and_duplicates_nothing() {
    run(Rotation::Rename, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_with_only_the_live_name_included() {
    run(Rotation::Rename, false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_rotation_loses_and_duplicates_nothing() {
    run(Rotation::CopyTruncate, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiline_records_survive_rotation_whole() {
    run(Rotation::Rename, true, false).await;
}
