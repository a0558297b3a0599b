//! A persistent queue on a filesystem that is really full (ENOSPC, not `max_size`): the test
//! mounts an 8 MiB tmpfs, puts the queue directory and a 4 MiB filler file on it, and sends at
//! steady load while the destination is down. When the filesystem is full clients get
//! retryable refusals (`UNAVAILABLE`); Lookout neither panics nor damages its segments. The
//! test then fills the last free bytes: a restart on the completely full filesystem starts,
//! replays every acknowledged record, finds nothing corrupted and refuses (retryably) what
//! does not fit. Once the filler is deleted the queue takes data again, and when the destination
//! is back every acknowledged span arrives, once, in order.
//!
//! Mounting needs root (`CAP_SYS_ADMIN`); without it the test prints why and passes.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::counting_client::{Seen, Shape, client, delivered};
use support::sink::Sink;
use support::{Lookout, otlp_exporter, otlp_receiver, service_with_storage, wait_until};

const CLIENTS: usize = 4;
const SPANS: usize = 50;
const PADDING: usize = 400;
const FILESYSTEM: &str = "8m";
const FILLER: usize = 4 << 20;
const SHAPE: Shape = Shape {
    spans: SPANS,
    padding: PADDING,
    timeout: Duration::from_secs(30),
};

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `Err` says why none could be mounted.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn config(p: &support::Ports, sink: u16, storage: &Path) -> String {
    // `max_size` far above the filesystem: the filesystem is the limit. One sender, so the
    // order on the wire is the order on disk.
    format!(
        "{receivers}processors:\n  batch:\n    send_batch_size: 500\n    timeout: 20ms\n\
         exporters:\n{exporter}    sending_queue:\n      storage: file_storage/queue\n      max_size: 1073741824\n      num_consumers: 1\n\
         \x20   retry_on_failure:\n      initial_interval: 100ms\n      max_interval: 500ms\n      max_elapsed_time: 0s\n{service}",
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

/// Runs the clients for `run`, their request numbers starting at `first`.
async fn load(lookout: &Lookout, first: usize, run: Duration) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(Mutex::new(Instant::now() + run));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            tokio::spawn(client(
                lookout.grpc_url(),
                id,
                first,
                SHAPE,
                Arc::clone(&seen),
                Arc::clone(&stop),
            ))
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    std::mem::take(&mut *seen.lock().unwrap())
}

/// Writes `path` until the filesystem has no room left; returns the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let page = [0u8; 4096];
    let mut written = 0;
    loop {
        match file.write(&page) {
            Ok(0) | Err(_) => return written,
            Ok(n) => written += n as u64,
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_filesystem_refuses_retryably_corrupts_nothing_and_recovers_when_space_returns() {
    let fs = match Tmpfs::mount(FILESYSTEM) {
        Ok(fs) => fs,
        Err(why) => {
            println!("SKIPPED: cannot mount a small filesystem for the queue ({why})");
            return;
        }
    };
    let storage = fs.dir.path().join("queue");
    let filler = fs.dir.path().join("filler");
    std::fs::write(&filler, vec![0u8; FILLER]).unwrap();
    let sink = Sink::start().await;
    sink.set_unavailable(true);
    let labels = [("exporter", "otlp")];

    // 1. The filesystem fills: refusals.
    let lookout = Lookout::start(|p| config(p, sink.port, &storage)).await;
    let full = load(&lookout, 0, Duration::from_secs(6)).await;
    let metrics = lookout.metrics().await;
    let enqueue_failed = metrics.value("lookout_exporter_enqueue_failed_spans_total", &labels);
    let records_full = metrics.value("lookout_exporter_persistent_queue_records", &labels);
    let bytes_full = metrics.value("lookout_exporter_persistent_queue_bytes", &labels);
    let logs = lookout.logs();
    let rss_first = lookout.peak_rss_kib();
    // What Lookout's batches no longer fit in, smaller writes still might: fill the rest, so
    // that not even a page is free (nothing is deleted while the destination is down).
    let squeeze = fs.dir.path().join("squeeze");
    let squeezed = fill(&squeeze);
    lookout.stop_ok().await;
    let refused_full: usize = full.refused.values().sum();
    println!(
        "full filesystem: sent {} requests, acknowledged {} spans, refused {refused_full} {:?}, \
         enqueue_failed {enqueue_failed} spans; queue {records_full} batches, {:.2} MiB; peak RSS {:.1} MiB; \
         then the last {squeezed} bytes filled",
        full.sent,
        full.acked.len() * SPANS,
        full.refused,
        bytes_full / f64::from(1 << 20),
        mib(rss_first)
    );
    assert!(
        logs.contains("No space left on device"),
        "the filesystem never filled:\n{logs}"
    );
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(refused_full > 0 && enqueue_failed > 0.0);
    assert!(
        full.refused.keys().all(|code| code == "Unavailable"),
        "every refusal is retryable (UNAVAILABLE): {:?}",
        full.refused
    );

    // 2. A restart on the still full filesystem: everything acknowledged replayed, nothing damaged.
    let lookout = Lookout::start(|p| config(p, sink.port, &storage)).await;
    let metrics = lookout.metrics().await;
    let replayed = metrics.value(
        "lookout_exporter_persistent_queue_replayed_records_total",
        &labels,
    );
    let corrupted = metrics.value(
        "lookout_exporter_persistent_queue_corrupted_bytes_total",
        &labels,
    );
    println!(
        "restart on the full filesystem: replayed {replayed} batches, {corrupted} bytes corrupted"
    );
    assert_eq!(replayed, records_full, "every written batch replayed");
    assert_eq!(corrupted, 0.0, "nothing damaged by the full filesystem");
    assert!(!storage.join("corrupted").exists());

    // 3. Still full: every request refused, retryably.
    let still_full = load(&lookout, 50_000, Duration::from_secs(2)).await;
    println!(
        "load on the full filesystem after the restart: sent {} requests, acknowledged {} spans, refused {:?}",
        still_full.sent,
        still_full.acked.len() * SPANS,
        still_full.refused
    );
    assert!(
        still_full.refused.keys().all(|code| code == "Unavailable")
            && still_full.refused.values().sum::<usize>() > 0,
        "{:?}",
        still_full.refused
    );

    // 4. Space returns: the queue takes data again (the destination still down).
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&squeeze).unwrap();
    let resumed = load(&lookout, 100_000, Duration::from_secs(3)).await;
    println!(
        "after the filler was deleted: sent {} requests, acknowledged {} spans, refused {:?}",
        resumed.sent,
        resumed.acked.len() * SPANS,
        resumed.refused
    );
    assert!(
        !resumed.acked.is_empty(),
        "nothing taken after space returned"
    );

    // 5. The destination is back: everything acknowledged arrives.
    sink.set_unavailable(false);
    let names: Vec<String> = full
        .acked
        .iter()
        .chain(&still_full.acked)
        .chain(&resumed.acked)
        .flat_map(|(c, n)| (0..SPANS).map(move |i| format!("c{c}-r{n}-{i}")))
        .collect();
    wait_until(
        "every acknowledged span at the sink",
        Duration::from_secs(60),
        || {
            let (delivered, _) = delivered(&sink);
            names.iter().all(|n| delivered.contains_key(n))
        },
    )
    .await;
    let rss_second = lookout.peak_rss_kib();
    let logs = lookout.logs();
    lookout.stop_ok().await;
    assert!(!logs.contains("panicked"), "{logs}");

    let (delivered, order) = delivered(&sink);
    let lost = names.iter().filter(|n| !delivered.contains_key(*n)).count();
    let duplicated: u32 = delivered.values().map(|n| n - 1).sum();
    let sent = full.sent + still_full.sent + resumed.sent;
    println!(
        "full filesystem result: sent {sent} requests ({} spans), acknowledged {} spans, refused \
         {} requests, delivered {} unique spans, duplicated {duplicated}, lost {lost}; peak RSS \
         {:.1} MiB (filling), {:.1} MiB (after the restart)",
        sent * SPANS,
        names.len(),
        refused_full
            + still_full.refused.values().sum::<usize>()
            + resumed.refused.values().sum::<usize>(),
        delivered.len(),
        mib(rss_first),
        mib(rss_second)
    );
    assert_eq!(lost, 0, "acknowledged spans never arrived");
    assert_eq!(duplicated, 0);
    for (client, numbers) in order {
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "client {client}'s requests arrived out of order: {numbers:?}"
        );
    }
}
