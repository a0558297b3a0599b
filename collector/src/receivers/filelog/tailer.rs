//! The receiver's loop: list files every `poll_interval` (and on notify events), decide which
//! tracked file each one is, read records in bounded batches, hand them on with an
//! acknowledgement, and persist checkpoints once batches are delivered.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
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
use super::config::{FileLogConfig, StartAt};
use super::discover::{Finder, Unusable};
use super::encode;
use super::identity::{self, Candidate, Decision, FileId, Known};
use super::reader::{self, ReadStatus, Reader, ReaderSettings};
use super::split::Record;
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
/// Polls a vanished or replaced file is remembered for.
const FORGET_AFTER_POLLS: u32 = 5;
/// Unusable paths remembered so that each is logged once.
const MAX_UNUSABLE: usize = 4096;
/// Checkpoints are written at most this often while data flows (and always at shutdown).
const PERSIST_EVERY: Duration = Duration::from_millis(100);
/// Polls a renamed file is listed for after notify reported the rename: fewer than
/// FORGET_AFTER_POLLS, so a file is never forgotten while still listed (and read again).
const FOLLOW_POLLS: u32 = 2;
/// Renamed files followed at once.
const MAX_FOLLOWED: usize = 1024;
/// The shortest gap between file listings prompted by notify events.
const NOTIFY_POLL_GAP: Duration = Duration::from_millis(20);
/// How long shutdown waits for batches in flight to be delivered.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

type AckFuture = Pin<Box<dyn Future<Output = (u64, u64, bool)> + Send>>;

/// Self-metrics of one filelog receiver.
#[derive(Debug, Clone)]
pub struct Metrics {
    receiver: ReceiverMetrics,
    open_files: Gauge,
    reading_files: Gauge,
    split_records: Counter,
    operator_errors: Counter,
    operator_dropped: Counter,
    invalid_trace_ids: Counter,
    delivery_failures: Counter,
    truncations: Counter,
}

impl Metrics {
    /// Registers the receiver's metrics.
    pub fn new(telemetry: &Telemetry, id: &str) -> Metrics {
        let labels = || vec![("receiver", id.to_string())];
        Metrics {
            receiver: telemetry.receiver(id, "file", Signal::Logs),
            open_files: telemetry.gauge("filelog_open_files", "Files held open by the filelog receiver.", labels()),
            reading_files: telemetry.gauge(
                "filelog_reading_files",
                "Files with data not yet read to the end.",
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
        }
    }
}

/// Everything the loop needs, built and checked by `start`.
#[derive(Debug)]
pub struct Setup {
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
    /// New names of renamed files that matched `include` (from notify).
    pub renames: Option<mpsc::Receiver<PathBuf>>,
    /// Where records go (taken by the tailer, which drops it at shutdown).
    pub consumer: Option<Consumer>,
    /// Metrics.
    pub metrics: Metrics,
}

/// A file tracked without an open handle: restored from checkpoints at start-up, or parked
/// to stay within `max_concurrent_files`. It is reopened at its offset when found again and a
/// slot is free.
struct Parked {
    known: Known,
    entry: FileCheckpoint,
    missed_polls: u32,
    /// File size when it was closed for being read to the end: it is reopened only once the
    /// size changes, so idle files do not take the slots of files waiting to be read.
    idle_size: Option<u64>,
}

/// The running receiver.
pub struct Tailer {
    s: Setup,
    consumer: Option<Consumer>,
    readers: BTreeMap<u64, Reader>,
    parked: BTreeMap<u64, Parked>,
    /// A file could not be opened for lack of a slot in the last poll.
    starved: bool,
    renames: Option<mpsc::Receiver<PathBuf>>,
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
    pub fn new(mut s: Setup) -> Tailer {
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
                            let missed_polls = 0;
                            parked.insert(
                                next_key,
                                Parked {
                                    known,
                                    entry,
                                    missed_polls,
                                    idle_size: None,
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
        let renames = s.renames.take();
        Tailer {
            s,
            consumer,
            readers: BTreeMap::new(),
            parked,
            starved: false,
            renames,
            followed: Vec::new(),
            next_key,
            first_poll: true,
            acks: FuturesUnordered::new(),
            dirty: false,
            last_persist: Instant::now(),
            warned_limit: false,
            unusable: BTreeMap::new(),
            static_attributes,
            static_resource,
        }
    }

    /// Runs until `shutdown`, then waits for batches in flight and saves checkpoints.
    pub async fn run(mut self, shutdown: CancellationToken, mut wake: mpsc::Receiver<()>) {
        let poll_interval = self.s.config.poll_interval.max(Duration::from_millis(1));
        let mut next_poll = Instant::now();
        let mut last_poll = Instant::now();
        let mut woke = false;
        loop {
            let now = Instant::now();
            // A notify event also lists files (new or rotated ones), but not more often than
            // NOTIFY_POLL_GAP so a busy file's stream of events costs no extra listing.
            if now >= next_poll || (woke && now.duration_since(last_poll) >= NOTIFY_POLL_GAP) {
                self.poll();
                last_poll = Instant::now();
                next_poll = last_poll + poll_interval;
                woke = false;
            }
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
            if more {
                tokio::task::yield_now().await;
                continue;
            }
            let wake_at = if woke {
                next_poll.min(last_poll + NOTIFY_POLL_GAP)
            } else {
                next_poll
            };
            let deadline = tokio::time::Instant::from_std(wake_at);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some((key, seq, ok)) = self.acks.next(), if !self.acks.is_empty() => self.settle(key, seq, ok),
                _ = wake.recv() => woke = true,
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
        self.finish().await;
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

    fn new_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Lists files and matches them to tracked ones.
    fn poll(&mut self) {
        let found = self.s.finder.find();
        let mut paths = found.files;
        // A directory matching `include` is only worth a warning where a file used to be.
        let mut problems: Vec<(PathBuf, String)> = found
            .skipped
            .into_iter()
            .filter(|(path, why)| *why != Unusable::Directory || self.was_file(path))
            .map(|(path, why)| (path, why.to_string()))
            .collect();
        if let Some(renames) = &mut self.renames {
            while let Ok(path) = renames.try_recv() {
                if self.followed.len() < MAX_FOLLOWED
                    && !self.followed.iter().any(|(p, _)| *p == path)
                {
                    self.followed.push((path, FOLLOW_POLLS));
                }
            }
        }
        for (path, left) in &mut self.followed {
            *left -= 1;
            if !paths.contains(path) {
                paths.push(path.clone());
            }
        }
        self.followed.retain(|(_, left)| *left > 0);
        let cutoff = self
            .s
            .config
            .exclude_older_than
            .and_then(|age| SystemTime::now().checked_sub(age));
        let mut candidates = Vec::with_capacity(paths.len());
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            // Non-blocking, so a FIFO renamed into a watched name cannot hang the open.
            let file = match File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(file) => file,
                Err(err) => {
                    // Gone between the listing and the open: nothing to say.
                    if err.kind() != std::io::ErrorKind::NotFound {
                        problems.push((path, format!("cannot open: {err}")));
                    }
                    continue;
                }
            };
            let Ok(meta) = file.metadata() else {
                continue;
            };
            if !meta.is_file() {
                problems.push((path, Unusable::NotAFile.to_string()));
                continue;
            }
            if let (Some(cutoff), Ok(modified)) = (cutoff, meta.modified())
                && modified < cutoff
            {
                continue;
            }
            let Ok(fingerprint) = reader::fingerprint(&file, self.s.settings.fingerprint_size)
            else {
                continue;
            };
            // An empty file cannot be told apart from any other yet.
            if fingerprint.is_empty() {
                continue;
            }
            candidates.push(Candidate {
                path,
                id: FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                },
                size: meta.len(),
                fingerprint,
            });
            files.push(file);
        }
        self.report_unusable(problems);
        let known: Vec<Known> = self
            .readers
            .values()
            .map(Reader::known)
            .chain(self.parked.values().map(|r| r.known.clone()))
            .collect();
        let decisions = identity::decide(&known, &candidates);
        for reader in self.readers.values_mut() {
            reader.missed_polls += 1;
        }
        for parked in self.parked.values_mut() {
            parked.missed_polls += 1;
        }
        self.starved = false;
        for ((candidate, file), decision) in candidates.into_iter().zip(files).zip(decisions) {
            self.apply(decision, candidate, file);
        }
        self.first_poll = false;
        let before = self.parked.len();
        self.parked
            .retain(|_, p| p.missed_polls < FORGET_AFTER_POLLS);
        self.dirty |= self.parked.len() != before;
        self.forget_and_delete();
        if self.starved {
            self.park_finished();
        }
    }

    /// Whether `path` is, or was until recently, a tracked file.
    fn was_file(&self, path: &Path) -> bool {
        self.readers.values().any(|r| r.path == path)
            || self
                .parked
                .values()
                .any(|p| Path::new(&p.entry.path) == path)
    }

    /// Logs each unusable matching path once (again if the reason changes); the other files
    /// are read as usual.
    fn report_unusable(&mut self, problems: Vec<(PathBuf, String)>) {
        let mut now = BTreeMap::new();
        for (path, why) in problems {
            if now.len() == MAX_UNUSABLE {
                break;
            }
            if self.unusable.get(&path) != Some(&why) {
                tracing::warn!(receiver = %self.s.id, path = %path.display(), "skipping a path that include matches: {why}");
            }
            now.insert(path, why);
        }
        self.unusable = now;
    }

    fn apply(&mut self, decision: Decision, c: Candidate, file: File) {
        match decision {
            Decision::Same(key) | Decision::Moved(key) if self.parked.contains_key(&key) => {
                let idle = self.parked.get(&key).and_then(|p| p.idle_size) == Some(c.size);
                if !idle && self.has_slot() {
                    if let Some(p) = self.parked.remove(&key) {
                        tracing::debug!(path = %c.path.display(), offset = p.entry.offset, "resuming from checkpoint");
                        self.open_reader(key, &c, file, p.entry.offset);
                    }
                } else if let Some(p) = self.parked.get_mut(&key) {
                    self.starved |= !idle;
                    p.missed_polls = 0;
                    p.known.id = c.id;
                    p.known.by_inode = true;
                    p.entry.id = c.id;
                    p.entry.path = c.path.to_string_lossy().into_owned();
                }
            }
            Decision::Same(key) => {
                if let Some(reader) = self.readers.get_mut(&key) {
                    reader.missed_polls = 0;
                    reader.path = c.path;
                    reader.refresh_fingerprint(c.fingerprint);
                }
            }
            Decision::Moved(key) => {
                if let Some(reader) = self.readers.get_mut(&key) {
                    tracing::debug!(from = %reader.path.display(), to = %c.path.display(), "file continues in another file");
                    reader.missed_polls = 0;
                    if let Err(err) = reader.adopt(&c.path, file, c.fingerprint) {
                        tracing::warn!(path = %c.path.display(), error = %err, "cannot follow file");
                    }
                }
            }
            Decision::Truncated(key) => {
                self.s.metrics.truncations.inc();
                if let Some(reader) = self.readers.get_mut(&key) {
                    tracing::debug!(path = %c.path.display(), "file truncated or replaced; reading it from the start");
                    reader.orphan();
                }
                if let Some(p) = self.parked.get_mut(&key) {
                    // Its inode now holds other content; only a copy can continue it.
                    p.known.by_inode = false;
                }
                // A checkpointed file stays restorable: its rotated copy may be further down
                // this same poll.
                let new = self.new_key();
                self.open_reader(new, &c, file, 0);
            }
            Decision::Duplicate => {
                tracing::debug!(path = %c.path.display(), "copy of a file being read; skipped");
            }
            Decision::New => {
                let offset = if self.first_poll
                    && self.s.config.start_at == StartAt::End
                    && !self.s.settings.gzip
                {
                    c.size
                } else {
                    0
                };
                let key = self.new_key();
                tracing::debug!(path = %c.path.display(), offset, "new file");
                self.open_reader(key, &c, file, offset);
            }
        }
    }

    fn has_slot(&self) -> bool {
        let open = self.readers.values().filter(|r| r.is_open()).count();
        open < self.s.config.max_concurrent_files
    }

    fn open_reader(&mut self, key: u64, c: &Candidate, file: File, offset: u64) {
        if !self.has_slot() {
            if !self.warned_limit {
                self.warned_limit = true;
                tracing::info!(receiver = %self.s.id, limit = self.s.config.max_concurrent_files, "max_concurrent_files reached; files that were read to the end are closed to make room");
            }
            // Remembered with its start offset, so waiting does not change where it is read from.
            self.starved = true;
            let entry = FileCheckpoint {
                path: c.path.to_string_lossy().into_owned(),
                id: c.id,
                fingerprint: hex::encode(&c.fingerprint),
                offset,
            };
            let known = Known {
                key,
                id: c.id,
                fingerprint: c.fingerprint.clone(),
                offset,
                by_inode: true,
            };
            self.parked.insert(
                key,
                Parked {
                    known,
                    entry,
                    missed_polls: 0,
                    idle_size: None,
                },
            );
            self.dirty = true;
            return;
        }
        match Reader::open(
            key,
            &c.path,
            file,
            c.fingerprint.clone(),
            offset,
            &self.s.settings,
        ) {
            Ok(reader) => {
                self.readers.insert(key, reader);
                self.dirty = true;
            }
            Err(err) => tracing::warn!(path = %c.path.display(), error = %err, "cannot open file"),
        }
    }

    /// Closes files that are read to the end and delivered, keeping their place, so files
    /// waiting for a slot get one at the next poll.
    fn park_finished(&mut self) {
        let idle: Vec<u64> = self
            .readers
            .iter()
            .filter(|(_, r)| r.is_open() && r.finished())
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            if let Some(r) = self.readers.remove(&key) {
                let mut known = r.known();
                known.offset = r.acks.committed();
                let entry = FileCheckpoint {
                    path: r.path.to_string_lossy().into_owned(),
                    id: r.id,
                    fingerprint: hex::encode(&r.fingerprint),
                    offset: r.acks.committed(),
                };
                self.parked.insert(
                    key,
                    Parked {
                        known,
                        entry,
                        missed_polls: 0,
                        idle_size: r.size(),
                    },
                );
            }
        }
    }

    fn forget_and_delete(&mut self) {
        let delete = self.s.config.delete_after_read;
        let mut gone = Vec::new();
        for (key, reader) in &self.readers {
            if !reader.acks.is_empty() {
                continue;
            }
            if delete && reader.missed_polls == 0 && reader.finished() {
                match std::fs::remove_file(&reader.path) {
                    Ok(()) => gone.push(*key),
                    Err(err) => {
                        tracing::warn!(path = %reader.path.display(), error = %err, "delete_after_read failed")
                    }
                }
                continue;
            }
            let idle = reader.finished() || !reader.is_open();
            if reader.missed_polls >= FORGET_AFTER_POLLS && idle {
                gone.push(*key);
            }
        }
        for key in gone {
            self.readers.remove(&key);
            self.dirty = true;
        }
    }

    /// Reads one batch from each file that has data and room in flight. `true`: more is
    /// waiting.
    async fn read_pass(&mut self, shutdown: &CancellationToken) -> FlowMore {
        let now = Instant::now();
        let keys: Vec<u64> = self.readers.keys().copied().collect();
        let mut more = false;
        for key in keys {
            let Some(reader) = self.readers.get_mut(&key) else {
                continue;
            };
            if !reader.is_open()
                || reader.acks.len() >= MAX_IN_FLIGHT
                || reader.emitted.saturating_sub(reader.acks.committed()) >= MAX_IN_FLIGHT_BYTES
            {
                continue;
            }
            if reader.retry_at.is_some_and(|t| now < t) {
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
            if status == ReadStatus::Replaced {
                self.s.metrics.truncations.inc();
                // The next poll finds the new content (and the copy, if rotated).
            }
            if status == ReadStatus::More {
                more = true;
            }
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
    }
}

enum FlowMore {
    Continue(bool),
    Stop,
}
