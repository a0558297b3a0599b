//! Whole-process filelog reliability at scale: 1,000 files written round by round, all of them
//! rotated at the same moment after every round (rename+create, or copytruncate), must deliver
//! every line exactly once. With the rotated generations 4,000+ files match `include`, more
//! than `max_concurrent_files` (1,024), so files are also read in turns.
//!
//! CI size: 200,000 lines (200 per file, rotated every 50); `LOOKOUT_FILELOG_FULL=1` runs
//! 1,000,000 lines (1,000 per file, rotated every 100).

mod filelog_support;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use filelog_support::{Collector, Rotation, SinkHandle, config};

const FILES: usize = 1000;

fn sizes() -> (usize, usize) {
    if std::env::var_os("LOOKOUT_FILELOG_FULL").is_some() {
        (1_000_000, 100)
    } else {
        (200_000, 50)
    }
}

fn live(dir: &Path, file: usize) -> std::path::PathBuf {
    dir.join(format!("app-{file:04}.log"))
}

/// Writes lines `0..total` in rounds of `every` lines per file, line `n` of a round going to
/// file `n % FILES`, and rotates every file after each round but the last.
fn write_all(dir: &Path, total: usize, every: usize, rotation: Rotation) {
    let per_round = every * FILES;
    let rounds = total / per_round;
    for round in 0..rounds {
        let mut outs: Vec<BufWriter<File>> = (0..FILES)
            .map(|f| {
                BufWriter::new(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(live(dir, f))
                        .expect("open log"),
                )
            })
            .collect();
        for n in round * per_round..(round + 1) * per_round {
            writeln!(
                outs[n % FILES],
                "line {n} lorem ipsum dolor sit amet, consectetur adipiscing elit"
            )
            .expect("write");
        }
        for out in &mut outs {
            out.flush().expect("flush");
        }
        if round + 1 == rounds {
            break;
        }
        for (f, out) in outs.iter().enumerate() {
            let rotated = dir.join(format!("app-{f:04}.log.{}", round + 1));
            match rotation {
                Rotation::Rename => std::fs::rename(live(dir, f), &rotated).expect("rename"),
                Rotation::CopyTruncate => {
                    std::fs::copy(live(dir, f), &rotated).expect("copy");
                    out.get_ref().set_len(0).expect("truncate");
                }
            }
        }
    }
}

async fn run(rotation: Rotation) {
    let (total, every) = sizes();
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = SinkHandle::start(total).await;
    let include = format!("{}/app-*.log*", dir.path().display());
    let collector = Collector::start(dir.path(), &config(dir.path(), &include, sink.port, ""));
    // Give it time to list the (empty) directory and watch it before the burst.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let path = dir.path().to_path_buf();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || write_all(&path, total, every, rotation))
        .await
        .expect("writer");
    let written = started.elapsed();
    let complete = sink.wait_all(total, Duration::from_secs(300)).await;
    let delivered = started.elapsed();
    // Give duplicates, if any, the time to show up before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(collector.stop(), "collector did not stop cleanly");
    let (lost, dup) = sink.with(|c| c.summary(total));
    let foreign = sink.with(|c| c.foreign);
    eprintln!(
        "{rotation:?}: {FILES} files, {total} lines, all rotated every {every} lines per file: written in {written:?}, delivered after {delivered:?}; lost {lost}, duplicated {dup}"
    );
    if !complete {
        let log = std::fs::read_to_string(dir.path().join("lookout.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
        eprintln!("collector log (last lines, newest first):\n{tail}");
    }
    assert_eq!((lost, dup), (0, 0), "lines lost / duplicated");
    assert_eq!(foreign, 0, "records that are not test lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_files_renamed_at_once_lose_and_duplicate_nothing() {
    run(Rotation::Rename).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_files_copytruncated_at_once_lose_and_duplicate_nothing() {
    run(Rotation::CopyTruncate).await;
}
