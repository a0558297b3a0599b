//! The receiver in-process against a hand-driven pipeline: backpressure pauses reading
//! without loss and is counted; checkpoints follow acknowledgements; failed deliveries are
//! read again; lost file notices become a counted rescan; a directory missing at start-up
//! falls back to polling, counted once.

use std::time::{Duration, Instant};

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{self, Checkpoints};
use super::watch::QUEUE;
use super::{FileLogConfig, start, start_with_queue};
use crate::core::ComponentId;
use crate::core::{Batch, Consumer};
use crate::extensions::file_storage::{FileStorageConfig, StorageClient};
use crate::receivers::ReceiverContext;
use crate::telemetry::Telemetry;

struct Harness {
    rx: mpsc::Receiver<Batch>,
    telemetry: Telemetry,
    shutdown: CancellationToken,
    storage: FileStorageConfig,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

async fn harness(lines: usize, queue: usize) -> Harness {
    let text: String = (0..lines).map(|i| format!("line {i}\n")).collect();
    harness_with(text.as_bytes(), "", queue).await
}

async fn harness_with(content: &[u8], extra: &str, queue: usize) -> Harness {
    harness_full(
        content,
        "*.log",
        &format!("poll_interval: 10ms\n{extra}"),
        queue,
        QUEUE,
    )
    .await
}

/// A receiver tailing `include` (relative to a new directory holding `a.log` with `content`),
/// with `queue` batches of room in its pipeline and `notice_queue` file notices.
async fn harness_full(
    content: &[u8],
    include: &str,
    extra: &str,
    queue: usize,
    notice_queue: usize,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.log");
    std::fs::write(&file, content).unwrap();
    let yaml = format!(
        "include: ['{}/{include}']\nstart_at: beginning\n{extra}",
        dir.path().display()
    );
    let config: FileLogConfig = serde_yaml_ng::from_str(&yaml).unwrap();
    let storage = FileStorageConfig {
        directory: dir.path().join("state"),
        create_directory: true,
    };
    let (tx, rx) = mpsc::channel(queue);
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let ctx = ReceiverContext::new(
        ComponentId::parse("filelog").unwrap(),
        [None, None, Some(Consumer::new(vec![tx]))],
        telemetry.clone(),
        shutdown.clone(),
    );
    let tasks = start_with_queue(
        &config,
        Some(&crate::extensions::file_storage::FileStorage::new(
            storage.clone(),
        )),
        ctx,
        notice_queue,
    )
    .await
    .unwrap();
    Harness {
        rx,
        telemetry,
        shutdown,
        storage,
        tasks,
        _dir: dir,
        file,
    }
}

impl Harness {
    fn checkpoint_offset(&self) -> u64 {
        let client = StorageClient::open(&self.storage, "receiver_filelog_filelog").unwrap();
        client
            .get(checkpoint::KEY)
            .unwrap()
            .map(|b| Checkpoints::decode(&b).unwrap())
            .and_then(|c| c.files.first().map(|f| f.offset))
            .unwrap_or(0)
    }

    async fn wait_offset(&self, want: u64) -> u64 {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) && self.checkpoint_offset() != want {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.checkpoint_offset()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        drop(self.rx);
        for t in self.tasks {
            t.await.unwrap();
        }
    }
}

/// The sum of the self-metric series `name` (all label sets).
fn counter(telemetry: &Telemetry, name: &str) -> u64 {
    telemetry
        .render()
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Takes batches (acknowledging them) until `want` distinct bodies arrived or 10 s passed.
async fn collect_bodies(h: &mut Harness, want: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(batch)) = tokio::time::timeout(left, h.rx.recv()).await else {
            break;
        };
        seen.extend(bodies(&batch));
        batch.acks.settle(true);
        seen.sort();
        seen.dedup();
    }
    seen
}

fn bodies(batch: &Batch) -> Vec<String> {
    let req = ExportLogsServiceRequest::decode(batch.payload.as_ref()).unwrap();
    req.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter_map(|l| match l.body.as_ref()?.value.as_ref()? {
            lookout_proto::otlp::common::v1::any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn backpressure_pauses_reading_and_checkpoints_follow_acks() {
    let mut h = harness(5000, 1).await;
    // Nobody drains: the queue fills and the reader must wait, counting the refusal.
    let refused = || {
        h.telemetry
            .render()
            .lines()
            .find(|l| l.starts_with("lookout_receiver_refused_log_records_total{"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let start = Instant::now();
    while refused() == 0 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused() > 0, "{}", h.telemetry.render());
    assert_eq!(h.checkpoint_offset(), 0, "nothing was delivered yet");

    // Take one batch but do not settle it: the checkpoint must not move.
    let held = h.rx.recv().await.unwrap();
    let mut seen = bodies(&held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.checkpoint_offset(), 0);

    // Settle everything: every line arrives once and the checkpoint reaches the end.
    held.acks.settle(true);
    let size = std::fs::metadata(&h.file).unwrap().len();
    while seen.len() < 5000 {
        let batch = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
            .await
            .unwrap()
            .unwrap();
        seen.extend(bodies(&batch));
        batch.acks.settle(true);
    }
    let expected: Vec<String> = (0..5000).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(h.wait_offset(size).await, size);
    h.stop().await;
}

#[tokio::test]
async fn failed_delivery_is_read_again() {
    let mut h = harness(10, 8).await;
    let first = h.rx.recv().await.unwrap();
    let lines = bodies(&first);
    assert_eq!(lines.len(), 10);
    first.acks.settle(false);
    let again = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bodies(&again), lines);
    assert_eq!(h.checkpoint_offset(), 0);
    again.acks.settle(true);
    let size = std::fs::metadata(&h.file).unwrap().len();
    assert_eq!(h.wait_offset(size).await, size);
    h.stop().await;
}

#[tokio::test]
async fn utf16_multiline_and_delete_after_read() {
    let text = "2024 start é\n  more\n2024 next\n";
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let extra = "encoding: utf-16le\ndelete_after_read: true\nforce_flush_period: 10ms\nmultiline:\n  line_start_pattern: '^2024'\n";
    let mut h = harness_with(&bytes, extra, 8).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let batch = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
            .await
            .unwrap()
            .unwrap();
        seen.extend(bodies(&batch));
        batch.acks.settle(true);
    }
    assert_eq!(seen, ["2024 start é\n  more", "2024 next"]);
    let start = Instant::now();
    while h.file.exists() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!h.file.exists(), "delivered file was not deleted");
    h.stop().await;
}

#[tokio::test]
async fn invalid_settings_are_refused_at_start() {
    for extra in [
        "delete_after_read: true\nstart_at: end\n",
        "multiline:\n  line_start_pattern: a\n  line_end_pattern: b\n",
        "multiline:\n  line_start_pattern: '('\n",
        "encoding: latin-9\n",
        "compression: zip\n",
        "fingerprint_size: 8\n",
        "operators:\n  - type: regex_parser\n    regex: 'no names'\n",
    ] {
        let yaml = format!("include: ['/nonexistent/*.log']\n{extra}");
        let config: FileLogConfig = serde_yaml_ng::from_str(&yaml).unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let ctx = ReceiverContext::new(
            ComponentId::parse("filelog").unwrap(),
            [None, None, Some(Consumer::new(vec![tx]))],
            Telemetry::new(),
            CancellationToken::new(),
        );
        assert!(
            start(&config, None, ctx).await.is_err(),
            "accepted: {extra}"
        );
    }
}

#[tokio::test]
async fn more_files_than_max_concurrent_files_are_all_read() {
    let text: String = (0..300).map(|i| format!("a {i}\n")).collect();
    let mut h = harness_with(text.as_bytes(), "max_concurrent_files: 2\n", 64).await;
    let dir = h.file.parent().unwrap().to_path_buf();
    for name in ["b", "c", "d", "e", "f"] {
        let text: String = (0..300).map(|i| format!("{name} {i}\n")).collect();
        std::fs::write(dir.join(format!("{name}.log")), text).unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 1800 {
        let batch = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
            .await
            .expect("all files are read in turn")
            .unwrap();
        seen.extend(bodies(&batch));
        batch.acks.settle(true);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1800);
    h.stop().await;
}

#[tokio::test]
async fn files_not_modified_within_exclude_older_than_are_skipped_until_written() {
    let mut h = harness_with(b"fresh 0\n", "exclude_older_than: 1h\n", 64).await;
    let dir = h.file.parent().unwrap().to_path_buf();
    // Made outside the pattern, aged, then renamed in (a rename keeps the mtime), so no poll
    // sees it young.
    std::fs::write(dir.join("old.tmp"), "old 0\n").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(dir.join("old.tmp"))
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    std::fs::rename(dir.join("old.tmp"), dir.join("old.log")).unwrap();

    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_millis(500);
    while let Ok(Some(batch)) = tokio::time::timeout_at(until.into(), h.rx.recv()).await {
        seen.extend(bodies(&batch));
        batch.acks.settle(true);
    }
    assert_eq!(seen, vec!["fresh 0".to_string()], "the aged file was read");

    // Written to: modified now, so it is read (from the start, as a new file).
    let mut f = std::fs::File::options()
        .append(true)
        .open(dir.join("old.log"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"old 1\n").unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
        .await
        .expect("the file is read once modified")
        .unwrap();
    seen = bodies(&batch);
    batch.acks.settle(true);
    assert_eq!(seen, vec!["old 0".to_string(), "old 1".to_string()]);
    h.stop().await;
}

#[tokio::test]
async fn resolved_file_name_and_path_follow_symlinks() {
    // The pattern matches only the link; its target lives in a subdirectory.
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    std::fs::write(real_dir.join("app-2026.txt"), "hello\n").unwrap();
    let mut h = harness_with(
        b"",
        "include_file_path: true\ninclude_file_name_resolved: true\ninclude_file_path_resolved: true\n",
        64,
    )
    .await;
    let link = h.file.parent().unwrap().join("current.log");
    std::os::unix::fs::symlink(real_dir.join("app-2026.txt"), &link).unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(10), h.rx.recv())
        .await
        .expect("the linked file is read")
        .unwrap();
    let req = ExportLogsServiceRequest::decode(batch.payload.as_ref()).unwrap();
    batch.acks.settle(true);
    let record = &req.resource_logs[0].scope_logs[0].log_records[0];
    let attr = |k: &str| {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                lookout_proto::otlp::common::v1::any_value::Value::StringValue(s) => {
                    Some(s.clone())
                }
                _ => None,
            })
    };
    let real = std::fs::canonicalize(real_dir.join("app-2026.txt")).unwrap();
    assert_eq!(attr("log.file.name").as_deref(), Some("current.log"));
    assert_eq!(
        attr("log.file.path"),
        Some(link.to_string_lossy().into_owned())
    );
    assert_eq!(
        attr("log.file.name_resolved").as_deref(),
        Some("app-2026.txt")
    );
    assert_eq!(
        attr("log.file.path_resolved"),
        Some(real.to_string_lossy().into_owned())
    );
    h.stop().await;
}

#[tokio::test]
async fn lost_notices_become_a_counted_rescan_that_finds_every_file() {
    // The safety poll is ten minutes away: only notices and rescans find new files. The
    // pipeline has room for one batch and is not drained, so the tailer stops taking notices
    // while it waits for room, and a one-notice queue overflows.
    let first: String = (0..20_000).map(|i| format!("a {i}\n")).collect();
    let mut h = harness_full(first.as_bytes(), "*.log", "poll_interval: 10m\n", 1, 1).await;
    let dir = h.file.parent().unwrap().to_path_buf();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
        let text: String = (0..10).map(|i| format!("{name} {i}\n")).collect();
        std::fs::write(dir.join(format!("{name}.log")), text).unwrap();
    }
    let seen = collect_bodies(&mut h, 20_080).await;
    assert_eq!(seen.len(), 20_080, "every line of every file arrives");
    let rescans = counter(&h.telemetry, "lookout_filelog_notify_rescans_total");
    assert!(rescans >= 1, "{}", h.telemetry.render());
    assert_eq!(
        counter(&h.telemetry, "lookout_filelog_notify_fallbacks_total"),
        0,
        "lost notices are not a fallback to polling"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_directory_missing_at_start_falls_back_to_polling_once_and_is_read() {
    let mut h = harness_full(b"", "later/*.log", "poll_interval: 50ms\n", 64, QUEUE).await;
    let dir = h.file.parent().unwrap().join("later");
    let start = Instant::now();
    while counter(&h.telemetry, "lookout_filelog_notify_fallbacks_total") == 0
        && start.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::create_dir(&dir).unwrap();
    for name in ["x", "y"] {
        let text: String = (0..100).map(|i| format!("{name} {i}\n")).collect();
        std::fs::write(dir.join(format!("{name}.log")), text).unwrap();
    }
    let seen = collect_bodies(&mut h, 200).await;
    assert_eq!(
        seen.len(),
        200,
        "files in the late directory are found by polling"
    );
    assert_eq!(
        counter(&h.telemetry, "lookout_filelog_notify_fallbacks_total"),
        1,
        "counted once: {}",
        h.telemetry.render()
    );
    h.stop().await;
}
