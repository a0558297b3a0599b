//! The receiver's loop: take change notifications, look at the files they name, read the
//! files that have something to read in bounded batches, hand them on with an
//! acknowledgement, and persist checkpoints once batches are delivered. [`scan`] finds and
//! identifies files (full polls and looks at single paths) and shares the open-file slots out.
//!
//! Cost at rest: with notifications working, an idle file costs one `stat` per full poll
//! (every `max(poll_interval, RESCAN_INTERVAL)`) and nothing in between; a written file costs
//! its reads. Without them (`fs.inotify.max_user_watches` reached, a directory that did not
//! exist at start, no inotify), full polls run every `poll_interval`, still one `stat` per
//! unchanged file.

mod scan;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::acks::Settled;
use super::checkpoint::{self, Checkpoints, FileCheckpoint};
use super::config::FileLogConfig;
use super::discover::{Finder, Stat};
use super::encode;
use super::identity::Known;
use super::reader::{ReadStatus, Reader, ReaderSettings};
use super::split::Record;
use super::watch::Notice;
use crate::core::{Ack, Batch, Consumer, Signal};
use crate::extensions::file_storage::StorageClient;
use crate::receivers::filelog::operators::{Attributes, Entry, Pipeline};
use crate::telemetry::{ReceiverMetrics, Telemetry};

/// Records per batch.
const MAX_RECORDS: usize = 1000;
/// Text bytes per batch.
const MAX_BYTES: usize = 1024 * 1024;
/// Bytes of one file read and handed on but not yet acknowledged. Delivery is acknowledged only
/// after export, so this must hold more records than a default batch processor batch (8192
/// records, ~2.3 MiB of 285-byte lines): with less, every batch waited for the processor's
/// timeout, capping one file at ~40k lines per second.
const MAX_IN_FLIGHT_BYTES: u64 = 4 << 20;
/// Batches of one file in flight at once. A file written slowly is read in small batches (one
/// per write, every few ms); a count limit near the processor's batch would stall reading
/// until its timeout fired, adding that timeout to the latency of every line.
const MAX_IN_FLIGHT: usize = 256;
/// Checkpoints are written at most this often while data flows (and always at shutdown).
const PERSIST_EVERY: Duration = Duration::from_millis(100);
/// How long shutdown waits for batches in flight to be delivered.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// The shortest time between full polls while notifications are complete. They only catch
/// what notifications cannot see (writes through another host on a network filesystem, files
/// renamed out of the watched directories), so one second bounds that delay while 10,000 idle
/// files cost about 10,000 `stat`s a second.
pub(crate) const RESCAN_INTERVAL: Duration = Duration::from_secs(1);
/// Paths named by notifications and looked at in one pass; more wait for the next pass.
const MAX_LOOKS: usize = 4096;

type AckFuture = Pin<Box<dyn Future<Output = (u64, u64, bool)> + Send>>;

/// Self-metrics of one filelog receiver.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    receiver: ReceiverMetrics,
    open_files: Gauge,
    reading_files: Gauge,
    tracked_files: Gauge,
    waiting_files: Gauge,
    split_records: Counter,
    operator_errors: Counter,
    operator_dropped: Counter,
    invalid_trace_ids: Counter,
    delivery_failures: Counter,
    truncations: Counter,
    rescans: Counter,
    notify_fallbacks: Counter,
}

impl Metrics {
    /// Registers the receiver's metrics.
    pub(crate) fn new(telemetry: &Telemetry, id: &str) -> Metrics {
        let labels = || vec![("receiver", id.to_string())];
        Metrics {
            receiver: telemetry.receiver(id, "file", Signal::Logs),
            open_files: telemetry.gauge("filelog_open_files", "Files held open by the filelog receiver.", labels()),
            reading_files: telemetry.gauge(
                "filelog_reading_files",
                "Files with data not yet read to the end.",
                labels(),
            ),
            tracked_files: telemetry.gauge(
                "filelog_tracked_files",
                "Files the receiver remembers, open or closed.",
                labels(),
            ),
            waiting_files: telemetry.gauge(
                "filelog_waiting_files",
                "Files with data to read waiting for one of max_concurrent_files slots.",
                labels(),
            ),
            split_records: telemetry.counter(
                "filelog_split_records",
                "Records cut because they were longer than max_log_size.",
                labels(),
            ),
            operator_errors: telemetry.counter(
                "filelog_operator_errors",
                "Operator failures (the record was sent on unchanged unless on_error drops it).",
                labels(),
            ),
            operator_dropped: telemetry.counter(
                "filelog_operator_dropped_records",
                "Records dropped by the operators as configured: on_error drop or drop_quiet, or a router no route matched and without a default.",
                labels(),
            ),
            invalid_trace_ids: telemetry.counter(
                "filelog_invalid_trace_ids",
                "Trace or span ids that were present but invalid (left in attributes).",
                labels(),
            ),
            delivery_failures: telemetry.counter(
                "filelog_delivery_failures",
                "Batches the pipeline failed to deliver; the file is read again from its checkpoint.",
                labels(),
            ),
            truncations: telemetry.counter(
                "filelog_truncations",
                "Files found truncated or replaced in place (copytruncate).",
                labels(),
            ),
            rescans: telemetry.counter(
                "filelog_notify_rescans",
                "Full rescans because file notifications were lost (inotify queue overflow, IN_Q_OVERFLOW, or the receiver's own notice queue full).",
                labels(),
            ),
            notify_fallbacks: telemetry.counter(
                "filelog_notify_fallbacks",
                "Times file notifications became incomplete (fs.inotify.max_user_watches reached, a directory not watchable) and the receiver went back to polling every poll_interval.",
                labels(),
            ),
        }
    }
}

/// Everything the loop needs, built and checked by `start`.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The receiver id.
    pub id: String,
    /// The configuration.
    pub config: FileLogConfig,
    /// Built include / exclude.
    pub finder: Finder,
    /// Built reader settings.
    pub settings: ReaderSettings,
    /// Built operators.
    pub pipeline: Pipeline,
    /// Checkpoint storage, if configured.
    pub storage: Option<StorageClient>,
    /// Change notifications (see [`super::watch`]); `None`: poll only.
    pub notices: Option<mpsc::Receiver<Notice>>,
    /// Set when a notice was lost for lack of room in `notices`.
    pub lost: Arc<AtomicBool>,
    /// Where records go (taken by the tailer, which drops it at shutdown).
    pub consumer: Option<Consumer>,
    /// Metrics.
    pub metrics: Metrics,
}

/// A file tracked without an open handle: restored from checkpoints at start-up, or parked
/// to stay within `max_concurrent_files`. It is reopened at its offset when it has data and
/// its turn comes.
struct Parked {
    known: Known,
    entry: FileCheckpoint,
    missed_polls: u32,
    /// File size when it was closed for being read to the end: it waits for a slot only once
    /// the size changes, so idle files do not take the slots of files with data.
    idle_size: Option<u64>,
    /// In the queue of files waiting for a slot.
    queued: bool,
}

/// What the last look at a path saw, and which tracked file it was.
#[derive(Debug, Clone, Copy)]
struct Look {
    stat: Stat,
    key: Option<u64>,
}

/// The running receiver.
pub(crate) struct Tailer {
    s: Setup,
    consumer: Option<Consumer>,
    readers: BTreeMap<u64, Reader>,
    parked: BTreeMap<u64, Parked>,
    /// Parked files with data, in the order they started waiting: slots go first come, first
    /// served, so no file is starved.
    waiting: VecDeque<u64>,
    /// Open readers, counted at each scan and kept up to date by it.
    open_count: usize,
    notices: Option<mpsc::Receiver<Notice>>,
    /// Notifications cover every directory listed: full polls can be rare.
    notify_complete: bool,
    /// A full poll is due at once (notifications were lost).
    rescan: bool,
    /// The last look at every listed path.
    looks: HashMap<PathBuf, Look>,
    /// Paths notifications named, looked at in the next pass.
    to_look: BTreeSet<PathBuf>,
    /// Renamed files listed even if `include` no longer matches them, with polls left.
    followed: Vec<(PathBuf, u32)>,
    next_key: u64,
    first_poll: bool,
    acks: FuturesUnordered<AckFuture>,
    dirty: bool,
    last_persist: Instant,
    warned_limit: bool,
    /// Matching paths that cannot be read, with the reason last logged for each.
    unusable: BTreeMap<PathBuf, String>,
    /// Readers with held-back data or a delivery retry: the next pass is due by then.
    recheck_at: Option<Instant>,
    static_attributes: Attributes,
    static_resource: Attributes,
}

enum Flow {
    Continue,
    Stop,
}

impl Tailer {
    /// Loads checkpoints (a corrupt document is reported and ignored: files are then read
    /// according to `start_at`).
    pub(crate) fn new(mut s: Setup) -> Tailer {
        let mut parked = BTreeMap::new();
        let mut next_key = 0;
        if let Some(storage) = &s.storage {
            match storage.get(checkpoint::KEY) {
                Ok(Some(bytes)) => match Checkpoints::decode(&bytes) {
                    Ok(doc) => {
                        for entry in doc.files {
                            let Ok(fingerprint) = hex::decode(&entry.fingerprint) else {
                                continue;
                            };
                            let known = Known {
                                key: next_key,
                                id: entry.id,
                                fingerprint,
                                offset: entry.offset,
                                by_inode: true,
                            };
                            parked.insert(
                                next_key,
                                Parked {
                                    known,
                                    entry,
                                    missed_polls: 0,
                                    idle_size: None,
                                    queued: false,
                                },
                            );
                            next_key += 1;
                        }
                        tracing::info!(receiver = %s.id, files = parked.len(), "filelog checkpoints restored");
                    }
                    Err(err) => {
                        tracing::error!(receiver = %s.id, error = %err, "ignoring unreadable filelog checkpoints")
                    }
                },
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(receiver = %s.id, error = %err, "cannot read filelog checkpoints")
                }
            }
        }
        let static_attributes = s.config.attributes.clone().into_iter().collect();
        let static_resource = s.config.resource.clone().into_iter().collect();
        let consumer = s.consumer.take();
        let notices = s.notices.take();
        let notify_complete = notices.is_some();
        Tailer {
            s,
            consumer,
            readers: BTreeMap::new(),
            parked,
            waiting: VecDeque::new(),
            open_count: 0,
            notices,
            notify_complete,
            rescan: false,
            looks: HashMap::new(),
            to_look: BTreeSet::new(),
            followed: Vec::new(),
            next_key,
            first_poll: true,
            acks: FuturesUnordered::new(),
            dirty: false,
            last_persist: Instant::now(),
            warned_limit: false,
            unusable: BTreeMap::new(),
            recheck_at: None,
            static_attributes,
            static_resource,
        }
    }

    /// Time between full polls.
    fn poll_every(&self) -> Duration {
        let poll = self.s.config.poll_interval.max(Duration::from_millis(1));
        if self.notify_complete {
            poll.max(RESCAN_INTERVAL)
        } else {
            poll
        }
    }

    /// Runs until `shutdown`, then waits for batches in flight and saves checkpoints.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut next_poll = Instant::now();
        loop {
            self.take_notices();
            let now = Instant::now();
            if self.rescan || now >= next_poll {
                self.rescan = false;
                self.poll();
                next_poll = Instant::now() + self.poll_every();
            } else if !self.to_look.is_empty() {
                self.look_at_named();
            }
            self.share_slots();
            let more = match self.read_pass(&shutdown).await {
                FlowMore::Continue(more) => more,
                FlowMore::Stop => break,
            };
            while let Some(Some((key, seq, ok))) =
                futures::FutureExt::now_or_never(self.acks.next())
            {
                self.settle(key, seq, ok);
            }
            self.maybe_persist(false);
            self.update_gauges();
            if shutdown.is_cancelled() {
                break;
            }
            if more || !self.to_look.is_empty() {
                tokio::task::yield_now().await;
                continue;
            }
            // A notifications fallback shortens the wait for the next full poll.
            next_poll = next_poll.min(Instant::now() + self.poll_every());
            let wake_at = self.recheck_at.map_or(next_poll, |t| t.min(next_poll));
            let deadline = tokio::time::Instant::from_std(wake_at);
            let notices = self.notices.as_mut();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some((key, seq, ok)) = self.acks.next(), if !self.acks.is_empty() => self.settle(key, seq, ok),
                notice = async { match notices { Some(n) => n.recv().await, None => std::future::pending().await } } => match notice {
                    Some(notice) => self.on_notice(notice),
                    None => {
                        self.notices = None;
                        self.on_notice(Notice::Unreliable("file notifications ended".into()));
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
        self.finish().await;
    }

    /// Takes every queued notice, and asks for a rescan if some did not fit in the queue.
    fn take_notices(&mut self) {
        while let Some(notice) = self.notices.as_mut().and_then(|n| n.try_recv().ok()) {
            self.on_notice(notice);
        }
        if self.s.lost.swap(false, Ordering::AcqRel) {
            self.on_notice(Notice::Rescan);
        }
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Written(path) => {
                if let Some(key) = self.looks.get(&path).and_then(|l| l.key)
                    && let Some(reader) = self.readers.get_mut(&key)
                    && reader.is_open()
                    && reader.path == path
                {
                    // The open handle is read as is; a truncation shows in the read.
                    reader.wants_read = true;
                } else {
                    self.want_look(path);
                }
            }
            Notice::Appeared(path) => self.want_look(path),
            Notice::Gone(path) => {
                // Read to its end through the open handle; the next full poll forgets it.
                if let Some(key) = self.looks.remove(&path).and_then(|l| l.key)
                    && let Some(reader) = self.readers.get_mut(&key)
                {
                    reader.wants_read = true;
                }
            }
            Notice::Renamed { from, to } => {
                if let Some(key) = self.looks.get(&from).and_then(|l| l.key)
                    && let Some(reader) = self.readers.get_mut(&key)
                {
                    reader.wants_read = true;
                }
                self.follow(to.clone());
                self.want_look(to);
            }
            Notice::Rescan => {
                self.s.metrics.rescans.inc();
                self.rescan = true;
            }
            Notice::Unreliable(why) => {
                if self.notify_complete {
                    self.notify_complete = false;
                    self.s.metrics.notify_fallbacks.inc();
                    tracing::warn!(receiver = %self.s.id, reason = %why, poll_interval = ?self.s.config.poll_interval, "file notifications incomplete; polling every poll_interval");
                }
            }
        }
    }

    /// Queues a look at `path` if it is, or may become, one of the files read.
    fn want_look(&mut self, path: PathBuf) {
        let wanted = self.looks.contains_key(&path)
            || self.s.finder.is_match(&path)
            || self.followed.iter().any(|(p, _)| *p == path);
        if wanted && self.to_look.len() < MAX_LOOKS {
            self.to_look.insert(path);
        } else if wanted {
            // Too many at once: one listing replaces them all.
            self.rescan = true;
        }
    }

    async fn finish(mut self) {
        // The consumer goes first so the pipeline can close and flush what it holds.
        self.consumer = None;
        let wait = tokio::time::sleep(SHUTDOWN_WAIT);
        tokio::pin!(wait);
        while !self.acks.is_empty() {
            tokio::select! {
                Some((key, seq, ok)) = self.acks.next() => self.settle(key, seq, ok),
                _ = &mut wait => {
                    tracing::warn!(receiver = %self.s.id, batches = self.acks.len(), "shutdown: batches still undelivered; they will be read again at the next start");
                    break;
                }
            }
        }
        self.maybe_persist(true);
        self.s.metrics.open_files.set(0);
        self.s.metrics.reading_files.set(0);
    }

    /// Reads one batch from each file that has something to read and room in flight.
    /// `true`: more is waiting.
    async fn read_pass(&mut self, shutdown: &CancellationToken) -> FlowMore {
        let now = Instant::now();
        self.recheck_at = None;
        let recheck = self
            .s
            .config
            .poll_interval
            .min(self.s.config.force_flush_period)
            .max(Duration::from_millis(1));
        let keys: Vec<u64> = self
            .readers
            .iter()
            .filter(|(_, r)| r.wants_read && r.is_open() && !r.yielding)
            .map(|(k, _)| *k)
            .collect();
        let mut more = false;
        for key in keys {
            let Some(reader) = self.readers.get_mut(&key) else {
                continue;
            };
            // Settled acknowledgements wake the loop, which reads it again.
            if reader.acks.len() >= MAX_IN_FLIGHT
                || reader.emitted.saturating_sub(reader.acks.committed()) >= MAX_IN_FLIGHT_BYTES
            {
                continue;
            }
            if let Some(at) = reader.retry_at.filter(|t| now < *t) {
                self.recheck_at = Some(self.recheck_at.map_or(at, |r| r.min(at)));
                continue;
            }
            reader.retry_at = None;
            let mut records = Vec::new();
            let status = match reader.read(now, MAX_RECORDS, MAX_BYTES, &mut records) {
                Ok(status) => status,
                Err(err) => {
                    tracing::warn!(path = %reader.path.display(), error = %err, "read failed");
                    ReadStatus::Eof
                }
            };
            match status {
                ReadStatus::More => more = true,
                ReadStatus::Eof if reader.drained => reader.wants_read = false,
                ReadStatus::Eof => {
                    // Held back until force_flush_period: looked at again by then.
                    let at = now + recheck;
                    self.recheck_at = Some(self.recheck_at.map_or(at, |r| r.min(at)));
                }
                ReadStatus::Replaced => {
                    self.s.metrics.truncations.inc();
                    reader.wants_read = false;
                    // The new content (and the copy, if rotated) is found by a look.
                    let path = reader.path.clone();
                    self.to_look.insert(path);
                }
            }
            let Some(reader) = self.readers.get(&key) else {
                continue;
            };
            if records.is_empty() {
                continue;
            }
            let end = reader.emitted;
            let path = reader.path.clone();
            let entries = self.entries(&path, records);
            if let Flow::Stop = self.send(key, entries, end, shutdown).await {
                return FlowMore::Stop;
            }
        }
        FlowMore::Continue(more)
    }

    fn entries(&self, path: &Path, records: Vec<Record>) -> Vec<Entry> {
        let config = &self.s.config;
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        // Symlinks resolved, once per batch (the file may be gone: then the attributes are left
        // out rather than guessed).
        let resolved = (config.include_file_name_resolved || config.include_file_path_resolved)
            .then(|| std::fs::canonicalize(path).ok())
            .flatten();
        let mut entries = Vec::with_capacity(records.len());
        let mut split = 0u64;
        let mut errors = 0u64;
        let mut dropped = 0u64;
        let mut invalid = 0u64;
        for record in records {
            if record.split {
                split += 1;
            }
            let mut text = record.text;
            if !config.preserve_leading_whitespaces && text.starts_with(char::is_whitespace) {
                text = text.trim_start().to_string();
            }
            if !config.preserve_trailing_whitespaces {
                text.truncate(text.trim_end().len());
            }
            let mut entry = Entry::from_line(text);
            entry.attributes = self.static_attributes.clone();
            entry.resource = self.static_resource.clone();
            if config.include_file_name
                && let Some(name) = &file_name
            {
                entry
                    .attributes
                    .insert("log.file.name".into(), Value::String(name.clone()));
            }
            if config.include_file_path {
                entry.attributes.insert(
                    "log.file.path".into(),
                    Value::String(path.to_string_lossy().into_owned()),
                );
            }
            if let Some(resolved) = &resolved {
                if config.include_file_name_resolved
                    && let Some(name) = resolved.file_name()
                {
                    entry.attributes.insert(
                        "log.file.name_resolved".into(),
                        Value::String(name.to_string_lossy().into_owned()),
                    );
                }
                if config.include_file_path_resolved {
                    entry.attributes.insert(
                        "log.file.path_resolved".into(),
                        Value::String(resolved.to_string_lossy().into_owned()),
                    );
                }
            }
            let outcome = self.s.pipeline.process(&mut entry);
            errors += outcome.errors as u64;
            invalid += outcome.invalid_trace_ids as u64;
            if outcome.keep {
                entries.push(entry);
            } else {
                dropped += 1;
            }
        }
        self.s.metrics.operator_dropped.inc_by(dropped);
        self.s.metrics.split_records.inc_by(split);
        self.s.metrics.operator_errors.inc_by(errors);
        self.s.metrics.invalid_trace_ids.inc_by(invalid);
        entries
    }

    /// Hands a batch on, waiting while the pipeline is full (never dropping), and tracks its
    /// delivery.
    async fn send(
        &mut self,
        key: u64,
        entries: Vec<Entry>,
        end: u64,
        shutdown: &CancellationToken,
    ) -> Flow {
        let items = entries.len();
        if items == 0 {
            // Everything was dropped by on_error: drop; the offset still moves.
            if let Some(reader) = self.readers.get_mut(&key) {
                let seq = reader.acks.push(end);
                self.settle(key, seq, true);
            }
            return Flow::Continue;
        }
        let observed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let payload = encode::encode(entries, observed);
        let (ack, delivery) = Ack::new();
        let batch = Batch::new(Signal::Logs, payload.into(), items).with_ack(ack);
        let Some(consumer) = self.consumer.clone() else {
            return Flow::Stop;
        };
        match consumer.try_send(batch) {
            Ok(()) => {}
            Err(refused) if refused.is_closed() => return Flow::Stop,
            Err(refused) => {
                self.s.metrics.receiver.refused.inc_by(items as u64);
                tokio::select! {
                    sent = consumer.send(refused.batch) => {
                        if sent.is_err() {
                            return Flow::Stop;
                        }
                    }
                    _ = shutdown.cancelled() => return Flow::Stop,
                }
            }
        }
        self.s.metrics.receiver.accepted.inc_by(items as u64);
        if let Some(reader) = self.readers.get_mut(&key) {
            let seq = reader.acks.push(end);
            self.acks.push(Box::pin(
                async move { (key, seq, delivery.outcome().await) },
            ));
        }
        Flow::Continue
    }

    fn settle(&mut self, key: u64, seq: u64, ok: bool) {
        let Some(reader) = self.readers.get_mut(&key) else {
            return;
        };
        match reader.acks.settle(seq, ok) {
            Settled::Advanced(_) => self.dirty = true,
            Settled::Rewind(offset) => {
                self.s.metrics.delivery_failures.inc();
                tracing::warn!(path = %reader.path.display(), offset, "batch not delivered; reading again from the last delivered offset");
                reader.rewind(offset);
                reader.retry_at = Some(Instant::now() + Duration::from_secs(1));
            }
            Settled::Waiting | Settled::Unknown => {}
        }
    }

    fn maybe_persist(&mut self, force: bool) {
        let Some(storage) = &self.s.storage else {
            return;
        };
        if !self.dirty || (!force && self.last_persist.elapsed() < PERSIST_EVERY) {
            return;
        }
        let mut files: Vec<FileCheckpoint> = self
            .readers
            .values()
            .map(|r| FileCheckpoint {
                path: r.path.to_string_lossy().into_owned(),
                id: r.id,
                fingerprint: hex::encode(&r.fingerprint),
                offset: r.acks.committed(),
            })
            .collect();
        files.extend(self.parked.values().map(|r| r.entry.clone()));
        let doc = Checkpoints { version: 1, files };
        match storage.set(checkpoint::KEY, &doc.encode()) {
            Ok(()) => {
                self.dirty = false;
                self.last_persist = Instant::now();
            }
            Err(err) => {
                tracing::error!(receiver = %self.s.id, error = %err, "cannot save filelog checkpoints")
            }
        }
    }

    fn update_gauges(&self) {
        let open = self.readers.values().filter(|r| r.is_open()).count();
        let reading = self
            .readers
            .values()
            .filter(|r| r.is_open() && !r.drained)
            .count();
        self.s.metrics.open_files.set(open as i64);
        self.s.metrics.reading_files.set(reading as i64);
        self.s
            .metrics
            .tracked_files
            .set((self.readers.len() + self.parked.len()) as i64);
        self.s.metrics.waiting_files.set(self.waiting.len() as i64);
    }
}

enum FlowMore {
    Continue(bool),
    Stop,
}
