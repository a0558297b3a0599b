//! Whole-process filelog restarts with the same `file_storage`: after SIGKILL nothing is lost
//! (duplicates are counted and reported); after a clean stop nothing is lost or duplicated.

mod filelog_support;

use std::time::{Duration, Instant};

use filelog_support::{Collector, Rotation, SinkHandle, config, sizes, write_lines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_loses_nothing() {
    let (total, every) = sizes();
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = SinkHandle::start(total).await;
    let include = format!("{}/app.log*", dir.path().display());
    let cfg = config(dir.path(), &include, sink.port, "");
    let collector = Collector::start(dir.path(), &cfg);
    let path = dir.path().to_path_buf();
    let writer = tokio::task::spawn_blocking(move || {
        write_lines(&path, 0, total, every, Rotation::Rename, false)
    });
    // Kill once a good part arrived, while the writer may still be going.
    assert!(
        sink.wait_at_least(total / 3, Duration::from_secs(120))
            .await,
        "nothing arrived"
    );
    collector.kill();
    let before_restart = sink.with(|c| c.seen(total));
    writer.await.expect("writer");
    let started = Instant::now();
    let collector = Collector::start(dir.path(), &cfg);
    let complete = sink.wait_all(total, Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(collector.stop(), "collector did not stop cleanly");
    let (lost, dup) = sink.with(|c| c.summary(total));
    eprintln!(
        "SIGKILL restart: {total} lines; {before_restart} had arrived at the kill; complete after restart in {:?}: {complete}; lost {lost}, duplicated {dup} (allowed after a crash)",
        started.elapsed()
    );
    assert_eq!(lost, 0, "lines lost across SIGKILL");
    assert_eq!(sink.with(|c| c.foreign), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_restart_is_exactly_once() {
    let (total, every) = sizes();
    let half = total / 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = SinkHandle::start(total).await;
    let include = format!("{}/app.log*", dir.path().display());
    let cfg = config(dir.path(), &include, sink.port, "");
    let collector = Collector::start(dir.path(), &cfg);
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_lines(&path, 0, half, every, Rotation::Rename, false)
    })
    .await
    .expect("writer");
    assert!(
        sink.wait_all(half, Duration::from_secs(60)).await,
        "first half did not arrive"
    );
    assert!(collector.stop(), "collector did not stop cleanly");
    // Written while the collector is down, then read by the restarted one from its checkpoints.
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_lines(&path, half, total, every, Rotation::Rename, false)
    })
    .await
    .expect("writer");
    let collector = Collector::start(dir.path(), &cfg);
    let complete = sink.wait_all(total, Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(collector.stop(), "collector did not stop cleanly");
    let (lost, dup) = sink.with(|c| c.summary(total));
    eprintln!("clean restart: {total} lines; complete {complete}; lost {lost}, duplicated {dup}");
    assert_eq!((lost, dup), (0, 0));
}

/// copytruncate while the collector is down; also, in the first half, the collector often
/// starts after the writer made a copy but before it truncated the original, so its first poll
/// finds a file and its copy together (once a duplicated batch, see `identity.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_while_stopped_is_exactly_once() {
    let (total, every) = sizes();
    let half = total / 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = SinkHandle::start(total).await;
    let include = format!("{}/app.log*", dir.path().display());
    let cfg = config(dir.path(), &include, sink.port, "");
    let collector = Collector::start(dir.path(), &cfg);
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_lines(&path, 0, half, every, Rotation::CopyTruncate, false)
    })
    .await
    .expect("writer");
    if !sink.wait_all(half, Duration::from_secs(60)).await {
        let log = std::fs::read_to_string(dir.path().join("lookout.log")).unwrap_or_default();
        let missing: Vec<usize> =
            sink.with(|c| (0..half).filter(|n| c.per_line[*n] == 0).take(5).collect());
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        panic!(
            "first half did not arrive; first missing {missing:?}; files {files:?}\n{}",
            log.lines()
                .filter(|l| l.contains("filelog"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(collector.stop(), "collector did not stop cleanly");
    // Rotated by copytruncate while stopped: the checkpointed file's content now lives in a
    // copy, and the original starts over.
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_lines(&path, half, total, every, Rotation::CopyTruncate, false)
    })
    .await
    .expect("writer");
    let collector = Collector::start(dir.path(), &cfg);
    let complete = sink.wait_all(total, Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(collector.stop(), "collector did not stop cleanly");
    let (lost, dup) = sink.with(|c| c.summary(total));
    eprintln!(
        "copytruncate while stopped: {total} lines; complete {complete}; lost {lost}, duplicated {dup}"
    );
    assert_eq!((lost, dup), (0, 0));
}
