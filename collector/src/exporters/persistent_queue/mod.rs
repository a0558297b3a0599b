//! The persistent sending queue (`sending_queue: storage: file_storage/<name>`): batches are
//! appended to a segment log on disk ([`log`]) before their acknowledgements are settled, and
//! the exporter's senders read them back from there.
//!
//! One thread of its own owns the log and does every file operation; the pipelines hand it
//! batches through a bounded channel, the senders ask it for records and acknowledge them
//! through another. The batch's acknowledgement (what the receiver waits for before answering
//! its client) is settled once the batch is written — after an fsync with
//! `fsync: every_batch` — and its memory is given back then: from there on the data is the
//! disk's. A record leaves the disk once the destination accepted it (or refused it for good);
//! one still being retried at shutdown stays and is sent after the next start.

#[cfg(test)]
mod full_disk_tests;
pub(crate) mod log;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::log::{LogError, LogOptions, Record, SegmentLog};
use crate::config::shared::FsyncMode;
use crate::core::Batch;
use crate::telemetry::{ExporterMetrics, PersistentQueueMetrics};

/// Batches gathered into one write and one fsync at most.
const GROUP: usize = 256;

/// Bytes of just-written batches kept in memory for the senders, so that a queue whose
/// destination keeps up never reads back what it wrote. They stay in the memory budget
/// (the batch's reservation is kept with them) until sent; beyond this, records are read
/// back from disk.
const CACHE_BYTES: u64 = 8 << 20;
/// How long `block_on_overflow` waits for room at the disk limit before batches are refused
/// with a retryable status: well inside the OTel SDKs' 10 s export timeout, so a client is
/// told to retry instead of timing out and sending again blind.
const BLOCK_AT_LIMIT: Duration = Duration::from_secs(2);

/// Requests from the senders.
#[derive(Debug)]
enum Command {
    /// The next record to send (`None`: the queue is closed and empty).
    Next(oneshot::Sender<Option<Record>>),
    /// Record `id` is done with: delivered, or refused for good.
    Ack(u64),
}

/// Settings of one persistent queue.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The exporter's id, for logs.
    pub(crate) id: String,
    /// The queue's directory.
    pub(crate) dir: PathBuf,
    /// Bytes on disk at most.
    pub(crate) max_bytes: u64,
    /// When written data is synced.
    pub(crate) fsync: FsyncMode,
    /// How often, with [`FsyncMode::Interval`].
    pub(crate) fsync_interval: Duration,
    /// When full: wait for room (`true`) or refuse the batch.
    pub(crate) block_on_overflow: bool,
}

/// A sender's end of the queue. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Senders {
    commands: mpsc::Sender<Command>,
}

impl Senders {
    /// The next record to send; `None` once the queue is closed and everything was handed out.
    pub(crate) async fn next(&self) -> Option<Record> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Next(tx)).await.ok()?;
        rx.await.ok().flatten()
    }

    /// Record `id` is done with (delivered or refused for good): it leaves the disk.
    pub(crate) async fn ack(&self, id: u64) {
        // The queue's thread outlives every sender; nothing to do if it is gone.
        let _ = self.commands.send(Command::Ack(id)).await;
    }
}

/// Opens the queue in `settings.dir` (replaying what an earlier run left there) and starts
/// its thread, which takes batches from `batches` until it closes and the senders are done.
pub(crate) async fn start(
    settings: Settings,
    batches: mpsc::Receiver<Batch>,
    metrics: ExporterMetrics,
    queue_metrics: PersistentQueueMetrics,
) -> Result<(Senders, JoinHandle<()>), LogError> {
    let dir = settings.dir.clone();
    let options = LogOptions::for_limit(settings.max_bytes);
    let opened = tokio::task::spawn_blocking(move || SegmentLog::open(&dir, options))
        .await
        .map_err(|e| LogError::Io {
            what: "open",
            path: settings.dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;
    let (log, recovery) = opened;
    for line in &recovery.moved_aside {
        tracing::error!(exporter = %settings.id, "persistent queue: unreadable data moved aside: {line}");
    }
    if recovery.replayed > 0 {
        tracing::info!(exporter = %settings.id, records = recovery.replayed, "persistent queue: resending what an earlier run left unacknowledged");
    }
    queue_metrics.replayed.inc_by(recovery.replayed);
    queue_metrics
        .corrupted_bytes
        .inc_by(recovery.corrupted_bytes);
    metrics
        .queue_capacity
        .set(i64::try_from(settings.max_bytes).unwrap_or(i64::MAX));
    let (commands, rx) = mpsc::channel(1024);
    let disk = Disk {
        log,
        settings,
        metrics,
        queue_metrics,
        waiters: VecDeque::new(),
        held: None,
        full_since: None,
        cache: HashMap::new(),
        cache_bytes: 0,
        refused_in_a_row: 0,
        checkpoint_failing: false,
    };
    let runtime = tokio::runtime::Handle::current();
    // Blocking file I/O (writes, fsync, reads) stays off the runtime's workers: this task has
    // a blocking-pool thread to itself for the queue's lifetime.
    let handle = tokio::task::spawn_blocking(move || runtime.block_on(disk.run(batches, rx)));
    Ok((Senders { commands }, handle))
}

struct Disk {
    log: SegmentLog,
    settings: Settings,
    metrics: ExporterMetrics,
    queue_metrics: PersistentQueueMetrics,
    /// Senders waiting for a record.
    waiters: VecDeque<oneshot::Sender<Option<Record>>>,
    /// A batch that did not fit, waiting for room (`block_on_overflow`).
    held: Option<Batch>,
    /// Since when writes have found the queue at its limit (`None` once one fits).
    full_since: Option<Instant>,
    /// Records written and not yet handed to a sender, still in memory, by id.
    cache: HashMap<u64, Record>,
    cache_bytes: u64,
    /// Batches refused in a row because they could not be written (a full filesystem): only
    /// the first is logged, and the count once writing works again.
    refused_in_a_row: u64,
    /// The last checkpoint write failed (logged once until one succeeds).
    checkpoint_failing: bool,
}

impl Disk {
    async fn run(
        mut self,
        mut batches: mpsc::Receiver<Batch>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let interval = matches!(self.settings.fsync, FsyncMode::Interval);
        // Syncs with `fsync: interval`; keeps the oldest-age gauge moving either way.
        let mut tick = tokio::time::interval(if interval {
            self.settings.fsync_interval
        } else {
            Duration::from_secs(1)
        });
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        let mut unsynced = false;
        self.update_metrics();
        loop {
            let mut written = Vec::new();
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    // Every sender is gone: shutting down.
                    None => break,
                },
                batch = batches.recv(), if open && self.held.is_none() => match batch {
                    Some(batch) => {
                        self.write(batch, &mut written);
                        while written.len() < GROUP && self.held.is_none() {
                            let Ok(batch) = batches.try_recv() else { break };
                            self.write(batch, &mut written);
                        }
                    }
                    None => open = false,
                },
                _ = tick.tick() => {
                    if interval && std::mem::take(&mut unsynced) && let Err(err) = self.log.sync() {
                        tracing::error!(exporter = %self.settings.id, error = %err, "persistent queue: fsync failed");
                    }
                }
            }
            while let Ok(command) = commands.try_recv() {
                self.command(command);
            }
            if let Some(batch) = self.held.take() {
                self.write(batch, &mut written);
            }
            if !written.is_empty() {
                let durable = match self.settings.fsync {
                    FsyncMode::EveryBatch => self.log.sync().map_err(|err| {
                        tracing::error!(exporter = %self.settings.id, error = %err, "persistent queue: fsync failed; the batches are refused (they may be sent anyway)");
                    }).is_ok(),
                    FsyncMode::Interval => {
                        unsynced = true;
                        true
                    }
                };
                for batch in written {
                    // Dropping the batch gives its memory back: the disk holds it now.
                    batch.acks.settle(durable);
                }
            }
            self.serve(open);
            self.checkpoint();
            self.update_metrics();
        }
        if let Some(batch) = self.held.take() {
            batch.acks.settle(false);
        }
        if let Err(err) = self.log.sync().and_then(|()| self.log.write_checkpoint()) {
            tracing::warn!(exporter = %self.settings.id, error = %err, "persistent queue: final sync");
        }
    }

    /// Writes the checkpoint if it changed; a failure is logged once until one succeeds.
    fn checkpoint(&mut self) {
        match self.log.write_checkpoint() {
            Ok(()) if std::mem::take(&mut self.checkpoint_failing) => {
                tracing::info!(exporter = %self.settings.id, "persistent queue: checkpoint written again");
            }
            Ok(()) => {}
            Err(err) if !self.checkpoint_failing => {
                self.checkpoint_failing = true;
                tracing::warn!(exporter = %self.settings.id, error = %err, "persistent queue: checkpoint not written (records may be sent twice after a restart; tried again on every change)");
            }
            Err(_) => {}
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Next(reply) => self.waiters.push_back(reply),
            Command::Ack(id) => self.log.ack(id),
        }
    }

    /// Appends `batch`; on success it joins `written` (settled after the sync).
    fn write(&mut self, batch: Batch, written: &mut Vec<Batch>) {
        match self.log.append(batch.signal, batch.items, &batch.payload) {
            Ok(id) => {
                self.full_since = None;
                if self.refused_in_a_row > 0 {
                    tracing::info!(exporter = %self.settings.id, refused = std::mem::take(&mut self.refused_in_a_row), "persistent queue: writing again after refusing batches");
                }
                let len = batch.payload.len() as u64;
                if self.cache_bytes + len <= CACHE_BYTES {
                    self.cache_bytes += len;
                    self.cache.insert(
                        id,
                        Record {
                            id,
                            signal: batch.signal,
                            items: batch.items,
                            payload: batch.payload.clone(),
                            hold: batch.hold.clone(),
                        },
                    );
                }
                written.push(batch);
            }
            // Wait for room, but not for ever: the clients behind a persistent queue wait for
            // its acknowledgement, and few clients never fill the pipeline enough to be
            // refused by their receiver. Past `BLOCK_AT_LIMIT` at the limit, batches are
            // refused (retryable) until one fits again.
            Err(LogError::Full { .. })
                if self.settings.block_on_overflow
                    && self.full_since.get_or_insert_with(Instant::now).elapsed()
                        < BLOCK_AT_LIMIT =>
            {
                self.held = Some(batch);
            }
            Err(err) => {
                self.metrics
                    .enqueue_failed(batch.signal)
                    .inc_by(batch.items as u64);
                if self.refused_in_a_row == 0 {
                    tracing::warn!(exporter = %self.settings.id, items = batch.items, error = %err, "persistent queue: batch refused (the sender is told to retry; further refusals are counted, not logged, until a write succeeds)");
                }
                self.refused_in_a_row += 1;
                batch.acks.settle(false);
            }
        }
    }

    /// Hands records to waiting senders; tells them the queue is done once it is closed and
    /// empty.
    fn serve(&mut self, open: bool) {
        while !self.waiters.is_empty() {
            let (cache, cache_bytes) = (&mut self.cache, &mut self.cache_bytes);
            let next = self.log.next_unread_with(|id| {
                let record = cache.remove(&id)?;
                *cache_bytes = cache_bytes.saturating_sub(record.payload.len() as u64);
                Some(record)
            });
            match next {
                Some(Ok(record)) => {
                    let id = record.id;
                    let Some(waiter) = self.waiters.pop_front() else {
                        self.log.unread_again(id);
                        break;
                    };
                    if waiter.send(Some(record)).is_err() {
                        // That sender stopped waiting (shutting down): the next one takes it.
                        self.log.unread_again(id);
                    }
                }
                Some(Err((why, bytes))) => {
                    self.queue_metrics.corrupted_bytes.inc_by(bytes);
                    tracing::error!(exporter = %self.settings.id, "persistent queue: record dropped: {why}");
                }
                None if !open && self.held.is_none() => {
                    for waiter in self.waiters.drain(..) {
                        let _ = waiter.send(None);
                    }
                }
                None => break,
            }
        }
    }

    fn update_metrics(&self) {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.queue_metrics.bytes.set(gauge(self.log.disk_bytes()));
        self.queue_metrics.records.set(gauge(self.log.records()));
        let age = self.log.oldest_millis().map_or(0, |then| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            now.saturating_sub(then) / 1000
        });
        self.queue_metrics.oldest_age_seconds.set(gauge(age));
        self.metrics.queue_size.set(gauge(self.log.pending_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use futures::future::BoxFuture;
    use tokio_util::sync::CancellationToken;

    use crate::config::shared::{QueueConfig, RetryConfig};
    use crate::core::{Ack, Batch, Signal};
    use crate::exporters::queue::spawn_persistent;
    use crate::exporters::{Export, ExportError};
    use crate::pipeline::{ExporterInput, Output};
    use crate::telemetry::Telemetry;

    /// Records what it is sent; refuses (retryably) while `down`.
    #[derive(Default)]
    struct Recorder {
        down: AtomicBool,
        got: Mutex<Vec<Bytes>>,
    }

    impl Export for Recorder {
        fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
            Box::pin(async move {
                if self.down.load(Ordering::SeqCst) {
                    return Err(ExportError::retryable("down"));
                }
                self.got.lock().unwrap().push(batch.payload.clone());
                Ok(())
            })
        }
    }

    fn retry() -> RetryConfig {
        RetryConfig {
            initial_interval: std::time::Duration::from_millis(5),
            max_interval: std::time::Duration::from_millis(10),
            ..RetryConfig::default()
        }
    }

    async fn start(
        dir: &std::path::Path,
        exporter: Arc<Recorder>,
        queue: QueueConfig,
        telemetry: &Telemetry,
        abort: &CancellationToken,
    ) -> (ExporterInput, Vec<tokio::task::JoinHandle<()>>) {
        spawn_persistent(
            "q".into(),
            exporter,
            &queue,
            dir.to_path_buf(),
            retry(),
            telemetry,
            abort.clone(),
        )
        .await
        .unwrap()
    }

    /// Waits for the disk thread's gauges to show `needle` (they are set after the acks).
    async fn eventually(telemetry: &Telemetry, needle: &str) {
        for _ in 0..200 {
            if telemetry.render().contains(needle) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("never saw {needle}: {}", telemetry.render());
    }

    fn batch(text: &str) -> Batch {
        Batch::new(Signal::Traces, Bytes::from(text.to_string()), 1)
    }

    async fn send(output: &Output, text: &str) -> bool {
        let (ack, delivery) = Ack::new();
        output.send(batch(text).with_ack(ack)).await;
        delivery.outcome().await
    }

    fn queue() -> QueueConfig {
        QueueConfig {
            num_consumers: crate::config::shared::NumConsumers::Fixed(2),
            storage: Some(crate::core::ComponentId::parse("file_storage/q").unwrap()),
            ..QueueConfig::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn adaptive_senders_deliver_everything_once_and_report_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new();
        let up = Arc::new(Recorder::default());
        let abort = CancellationToken::new();
        let config = QueueConfig {
            num_consumers: crate::config::shared::NumConsumers::Adaptive,
            ..queue()
        };
        let (input, handles) = start(tmp.path(), up.clone(), config, &telemetry, &abort).await;
        let output = Output::Exporters(vec![input]);
        let names: Vec<String> = (0..20).map(|i| format!("b{i:02}")).collect();
        for name in &names {
            assert!(send(&output, name).await);
        }
        drop(output);
        for h in handles {
            h.await.unwrap();
        }
        let mut got: Vec<Bytes> = up.got.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, names);
        let rendered = telemetry.render();
        assert!(
            rendered.contains(r#"lookout_exporter_in_flight_requests{exporter="q"} 0"#),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"lookout_exporter_concurrency_limit{exporter="q"}"#),
            "{rendered}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_once_on_disk_and_what_was_not_delivered_is_sent_after_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new();
        let down = Arc::new(Recorder::default());
        down.down.store(true, Ordering::SeqCst);
        let abort = CancellationToken::new();
        let (input, handles) = start(tmp.path(), down.clone(), queue(), &telemetry, &abort).await;
        let output = Output::Exporters(vec![input]);
        // The destination is down, yet each batch is acknowledged: it is on disk.
        for text in ["one", "two", "three"] {
            assert!(send(&output, text).await, "{text} acknowledged");
        }
        eventually(
            &telemetry,
            r#"lookout_exporter_persistent_queue_records{exporter="q"} 3"#,
        )
        .await;
        // Shut down while retrying: nothing is dropped, it stays on disk.
        drop(output);
        abort.cancel();
        for h in handles {
            h.await.unwrap();
        }
        assert!(down.got.lock().unwrap().is_empty());

        let telemetry = Telemetry::new();
        let up = Arc::new(Recorder::default());
        let abort = CancellationToken::new();
        let (input, handles) = start(tmp.path(), up.clone(), queue(), &telemetry, &abort).await;
        let output = Output::Exporters(vec![input]);
        assert!(send(&output, "four").await);
        drop(output);
        for h in handles {
            h.await.unwrap();
        }
        let mut got: Vec<Bytes> = up.got.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, ["four", "one", "three", "two"]);
        let rendered = telemetry.render();
        assert!(
            rendered.contains(
                r#"lookout_exporter_persistent_queue_replayed_records_total{exporter="q"} 3"#
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"lookout_exporter_persistent_queue_records{exporter="q"} 0"#),
            "{rendered}"
        );

        // Everything was delivered: a third start has nothing to send.
        let telemetry = Telemetry::new();
        let third = Arc::new(Recorder::default());
        let (input, handles) = start(tmp.path(), third.clone(), queue(), &telemetry, &abort).await;
        drop(input);
        for h in handles {
            h.await.unwrap();
        }
        assert!(third.got.lock().unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_fsync_interval_batches_are_acknowledged_once_written_and_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let interval = QueueConfig {
            fsync: crate::config::shared::FsyncMode::Interval,
            fsync_interval: std::time::Duration::from_millis(20),
            ..queue()
        };
        let telemetry = Telemetry::new();
        let down = Arc::new(Recorder::default());
        down.down.store(true, Ordering::SeqCst);
        let abort = CancellationToken::new();
        let (input, handles) = start(tmp.path(), down, interval.clone(), &telemetry, &abort).await;
        let output = Output::Exporters(vec![input]);
        for text in ["a", "b"] {
            assert!(send(&output, text).await);
        }
        drop(output);
        abort.cancel();
        for h in handles {
            h.await.unwrap();
        }
        let up = Arc::new(Recorder::default());
        let (input, handles) = start(
            tmp.path(),
            up.clone(),
            interval,
            &Telemetry::new(),
            &CancellationToken::new(),
        )
        .await;
        drop(input);
        for h in handles {
            h.await.unwrap();
        }
        let mut got = up.got.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, ["a", "b"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_kept_in_memory_stay_in_the_budget_and_the_rest_is_read_back_from_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new();
        let exporter = Arc::new(Recorder::default());
        exporter.down.store(true, Ordering::SeqCst);
        let abort = CancellationToken::new();
        let (input, handles) = start(
            tmp.path(),
            exporter.clone(),
            QueueConfig {
                num_consumers: crate::config::shared::NumConsumers::Fixed(1),
                ..queue()
            },
            &telemetry,
            &abort,
        )
        .await;
        let output = Output::Exporters(vec![input]);
        let budget = crate::core::MemoryBudget::unlimited();
        // Four batches of 3 MiB: the sender holds one (retrying), two fit in the 8 MiB
        // cache, the fourth is only on disk and is read back.
        let size = 3 << 20;
        for n in 0..4u8 {
            let mut batch = Batch::new(Signal::Logs, Bytes::from(vec![n; size]), 1);
            batch
                .hold
                .push_reservation(budget.try_reserve(size as u64).unwrap());
            let (ack, delivery) = Ack::new();
            output.send(batch.with_ack(ack)).await;
            assert!(delivery.outcome().await);
        }
        // Written: the fourth batch's memory is given back (just after its ack is settled);
        // the ones in memory hold theirs.
        for _ in 0..100 {
            if budget.used() <= 3 * size as u64 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(budget.used(), 3 * size as u64);
        exporter.down.store(false, Ordering::SeqCst);
        drop(output);
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(budget.used(), 0, "all sent: nothing held");
        let got = exporter.got.lock().unwrap().clone();
        assert_eq!(got.len(), 4);
        for (n, payload) in got.iter().enumerate() {
            assert_eq!(payload.len(), size);
            assert!(
                payload.iter().all(|&b| usize::from(b) == n),
                "batch {n} intact"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_refuses_upstream_and_takes_data_again_once_delivered() {
        let tmp = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new();
        let exporter = Arc::new(Recorder::default());
        exporter.down.store(true, Ordering::SeqCst);
        let abort = CancellationToken::new();
        let queue = QueueConfig {
            max_size: Some(100),
            block_on_overflow: false,
            ..queue()
        };
        let (input, handles) = start(tmp.path(), exporter.clone(), queue, &telemetry, &abort).await;
        let output = Output::Exporters(vec![input]);
        let big = "x".repeat(60);
        assert!(send(&output, &big).await);
        assert!(
            !send(&output, &big).await,
            "no room on disk: refused, so the receiver tells its client to retry"
        );
        let rendered = telemetry.render();
        assert!(
            rendered.contains(r#"lookout_exporter_enqueue_failed_spans_total{exporter="q"} 1"#),
            "{rendered}"
        );
        exporter.down.store(false, Ordering::SeqCst);
        // Once the first is delivered its space comes back.
        let mut accepted = false;
        for _ in 0..200 {
            if send(&output, &big).await {
                accepted = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(accepted);
        drop(output);
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(exporter.got.lock().unwrap().len(), 2);
    }
}
