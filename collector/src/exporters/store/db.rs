//! The store itself: the write-ahead log and the in-memory head of the current generation,
//! the heads being flushed, and the closed Parquet segments; start-up recovery, flush,
//! retention and quarantine. Queries (`query.rs`) read through it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::config::StoreConfig;
use super::events;
use super::metrics::StoreMetrics;
use super::rollup::{self, HOUR_NS, MINUTE_NS};
use super::rows::{self, Rows};
use super::segment::{self, Footers, Kind, Pack, SegmentError, SegmentName};
use super::wal::{self, Wal};
use crate::core::Signal;
use crate::core::dir_lock::{DirLock, DirLockError};

/// The lock file in the data directory, `flock`ed while a store has it open.
const LOCK: &str = "lock";

/// A flush is asked for early once a signal's head holds this many WAL bytes (or a quarter
/// of its `max_bytes`, if smaller): the head's memory is bounded.
const MAX_HEAD_BYTES: u64 = 64 << 20;
/// What one segment file costs beyond its rows (footer, statistics, bloom filter): counted
/// when making room before a flush.
const SEGMENT_OVERHEAD: u64 = 16 << 10;

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The batch is not valid OTLP (retrying will not help).
    #[error(transparent)]
    Decode(#[from] rows::DecodeError),
    /// The write-ahead log alone would exceed the signal's `max_bytes`.
    #[error("the store's {0} write-ahead log is at its size limit")]
    Full(&'static str),
    /// A file operation failed.
    #[error("store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing a segment failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// The store was opened read-only (`lookout report`): it never writes.
    #[error("the store at {0} is open read-only")]
    ReadOnly(PathBuf),
    /// The data directory is in use by another process (or another store of this one).
    #[error("the store's data directory cannot be used: {0}")]
    Lock(#[from] DirLockError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// Rows of one generation, in memory until its segments are written.
#[derive(Debug, Default)]
pub(crate) struct Head {
    /// The rows.
    pub rows: Rows,
    /// Write-ahead log bytes per signal.
    wal_bytes: [u64; 3],
}

/// A head whose write-ahead log is closed and whose segments are being written.
#[derive(Debug)]
struct Frozen {
    gen_: u64,
    head: Head,
}

/// A segment a flush is about to write: its kind, its name, and the writer of its rows.
type PendingFile<'a> = (
    Kind,
    SegmentName,
    Box<dyn Fn(&Path) -> Result<u64, SegmentError> + 'a>,
);

/// A closed segment.
#[derive(Debug, Clone)]
struct Seg {
    name: SegmentName,
    bytes: u64,
}

struct State {
    gen_: u64,
    /// `None` when open read-only.
    wal: Option<Wal>,
    head: Head,
    frozen: Vec<Arc<Frozen>>,
    segments: BTreeMap<Kind, Vec<Seg>>,
}

/// The store of one `store` exporter.
pub(crate) struct Store {
    dir: PathBuf,
    config: StoreConfig,
    metrics: StoreMetrics,
    state: Mutex<State>,
    /// One flush at a time.
    flushing: Mutex<()>,
    /// Woken when a head grew past its threshold.
    pub(crate) flush_wanted: tokio::sync::Notify,
    /// Parsed segment footers.
    footers: Footers,
    /// Opened by [`Store::open_read_only`]: nothing is written, moved or deleted.
    read_only: bool,
    /// The data directory's lock, held while the store is open (`None` read-only: a
    /// reader never locks the writer out).
    _lock: Option<DirLock>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Now, in unix nanoseconds.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens the data directory: checks every segment (moving damaged ones to
    /// `quarantine/`), drops segments of an interrupted flush, and replays the write-ahead
    /// log into the head.
    pub(crate) fn open(config: &StoreConfig, metrics: StoreMetrics) -> Result<Store, StoreError> {
        let dir = config.directory.clone();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // Before anything is read or deleted: a second process must not recover (delete the
        // segments of) a flush the first one is writing.
        let dir_lock = DirLock::acquire(&dir, LOCK)?;
        for sub in Kind::ALL
            .iter()
            .map(|k| k.dir())
            .chain(["wal", "quarantine"])
        {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let wal_dir = dir.join("wal");
        let pending = wal::generations(&wal_dir).map_err(io(&wal_dir))?;
        let mut segments: BTreeMap<Kind, Vec<Seg>> = BTreeMap::new();
        let mut max_gen = pending.last().copied().unwrap_or(0);
        for kind in Kind::ALL {
            let kdir = dir.join(kind.dir());
            let list = segments.entry(kind).or_default();
            for entry in std::fs::read_dir(&kdir).map_err(io(&kdir))? {
                let entry = entry.map_err(io(&kdir))?;
                let path = entry.path();
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.ends_with(".tmp") {
                    // An interrupted write: its rows are still in the write-ahead log.
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                let Some(name) = SegmentName::parse(&file) else {
                    continue;
                };
                if pending.contains(&name.gen_) {
                    // Written by a flush that did not finish: the log replays its rows.
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                max_gen = max_gen.max(name.gen_);
                match segment::check(&path) {
                    Ok(_) => {
                        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
                        list.push(Seg { name, bytes });
                    }
                    Err(err) => quarantine(&dir, kind, &path, &err, &metrics),
                }
            }
            list.sort_by(|a, b| a.name.cmp(&b.name));
            // A compaction that stopped after writing its segment: what it merged goes.
            let merged: Vec<SegmentName> = list
                .iter()
                .filter(|s| s.name.compacted)
                .map(|s| s.name.clone())
                .collect();
            list.retain(|s| {
                let replaced = merged
                    .iter()
                    .any(|m| m.hour == s.name.hour && s.name.gen_ <= m.gen_ && *m != s.name);
                if replaced {
                    let _ = std::fs::remove_file(kdir.join(s.name.file_name()));
                }
                !replaced
            });
        }
        let gen_ = max_gen + 1;
        let mut wal = Wal::create(&wal_dir, gen_).map_err(io(&wal_dir))?;
        let mut head = Head::default();
        for old in &pending {
            let path = wal::path(&wal_dir, *old);
            let replay = wal::replay(&path).map_err(io(&path))?;
            if replay.dropped_bytes > 0 {
                tracing::warn!(
                    path = %path.display(),
                    bytes = replay.dropped_bytes,
                    "store: the write-ahead log ends with an incomplete or damaged record (an append cut short); dropped"
                );
            }
            for (signal, payload) in replay.records {
                match rows::decode(signal, &payload) {
                    Ok(rows) => {
                        let n = wal
                            .append(signal, &payload, false)
                            .map_err(io(wal.path()))?;
                        head.wal_bytes[index(signal)] += n;
                        extend(&mut head.rows, rows);
                        metrics.replayed.inc();
                    }
                    Err(err) => {
                        tracing::warn!(%err, "store: a logged batch does not decode; dropped")
                    }
                }
            }
        }
        wal.append_sync().map_err(io(&wal_dir))?;
        for old in &pending {
            let _ = std::fs::remove_file(wal::path(&wal_dir, *old));
        }
        let store = Store {
            dir,
            config: config.clone(),
            metrics,
            state: Mutex::new(State {
                gen_,
                wal: Some(wal),
                head,
                frozen: Vec::new(),
                segments,
            }),
            flushing: Mutex::new(()),
            flush_wanted: tokio::sync::Notify::new(),
            footers: Footers::default(),
            read_only: false,
            _lock: Some(dir_lock),
        };
        store.update_gauges(&lock(&store.state));
        Ok(store)
    }

    /// Opens the data directory of a store another process may be writing, for reading
    /// only (`lookout report`): lists the closed segments and replays the write-ahead logs
    /// into memory without creating, moving or deleting any file and without taking a lock,
    /// so the writer is never disturbed. Segments of a generation whose log is still there
    /// are skipped (the log holds the same rows), as are segments a finished compaction
    /// replaced. A log the writer deletes while this reads it (its flush committed) makes
    /// the listing start again, at most a few times. A damaged segment is skipped, not
    /// quarantined.
    pub(crate) fn open_read_only(dir: &Path) -> Result<Store, StoreError> {
        if !dir.is_dir() {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no store directory here",
                ),
            });
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match read_only_state(dir) {
                Ok(state) => {
                    let telemetry = crate::telemetry::Telemetry::new();
                    return Ok(Store {
                        dir: dir.to_path_buf(),
                        config: StoreConfig {
                            directory: dir.to_path_buf(),
                            ..StoreConfig::default()
                        },
                        metrics: StoreMetrics::new(&telemetry, "report"),
                        state: Mutex::new(state),
                        flushing: Mutex::new(()),
                        flush_wanted: tokio::sync::Notify::new(),
                        footers: Footers::default(),
                        read_only: true,
                        _lock: None,
                    });
                }
                // A log went away between listing and reading it: list again.
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < 5 => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The footer cache queries read segments through.
    pub(crate) fn footers(&self) -> &Footers {
        &self.footers
    }

    /// Stores one batch: decoded, appended to the write-ahead log (fsynced per the policy),
    /// added to the head. When this returns `Ok` the batch is durable.
    pub(crate) fn append(&self, signal: Signal, payload: &[u8]) -> Result<usize, StoreError> {
        let rows = rows::decode(signal, payload)?;
        let items = rows.spans.len() + rows.logs.len() + rows.points.len();
        let sync = self.config.fsync == super::config::FsyncPolicy::EveryBatch;
        let mut state = lock(&self.state);
        let need = payload.len() as u64 + 9;
        if let Some(limit) = self.config.retention.limits(signal).max_bytes {
            self.make_room(&mut state, signal, need, limit);
            if wal_bytes(&state, signal) + need > limit {
                self.metrics.signal(signal).refused.inc();
                self.flush_wanted.notify_one();
                return Err(StoreError::Full(signal.as_str()));
            }
        }
        let Some(wal) = state.wal.as_mut() else {
            return Err(StoreError::ReadOnly(self.dir.clone()));
        };
        let n = wal.append(signal, payload, sync).map_err(io(&self.dir))?;
        let i = index(signal);
        state.head.wal_bytes[i] += n;
        extend(&mut state.head.rows, rows);
        self.metrics.signal(signal).items.inc_by(items as u64);
        let threshold = self
            .config
            .retention
            .limits(signal)
            .max_bytes
            .map_or(MAX_HEAD_BYTES, |m| (m / 4).clamp(1, MAX_HEAD_BYTES));
        if state.head.wal_bytes[i] >= threshold {
            self.flush_wanted.notify_one();
        }
        self.update_gauges(&state);
        Ok(items)
    }

    /// Deletes `signal`'s oldest segments until its bytes plus `extra` fit `limit` (or none
    /// is left).
    fn make_room(&self, state: &mut State, signal: Signal, extra: u64, limit: u64) {
        while segment_bytes(state, signal) + wal_bytes(state, signal) + extra > limit {
            // The oldest segment of the signal, over all its kinds.
            let oldest = Kind::ALL
                .iter()
                .filter(|k| k.signal() == signal)
                .filter_map(|k| state.segments[k].first().map(|s| (s.name.clone(), *k)))
                .min();
            let Some((_, kind)) = oldest else {
                return;
            };
            let seg = state.segments.get_mut(&kind).map(|l| l.remove(0));
            if let Some(seg) = seg {
                let path = self.dir.join(kind.dir()).join(seg.name.file_name());
                self.footers.forget(&path);
                if let Err(err) = std::fs::remove_file(&path)
                    && err.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %path.display(), %err, "store: cannot delete a segment");
                }
                self.metrics.signal(signal).deleted_size.inc();
            }
        }
    }

    /// Writes the head (and any head a failed flush left) out as segments, then applies
    /// retention by age and compacts the hours that ended. Blocking: call from a blocking
    /// thread.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.flush_at(now_ns())
    }

    /// [`Store::flush`] with the clock at `now` (unix nanoseconds).
    pub(crate) fn flush_at(&self, now: i64) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly(self.dir.clone()));
        }
        let _one = lock(&self.flushing);
        {
            let mut state = lock(&self.state);
            let empty = state.head.wal_bytes.iter().all(|&b| b == 0);
            if !empty {
                let wal_dir = self.dir.join("wal");
                let next = Wal::create(&wal_dir, state.gen_ + 1).map_err(io(&wal_dir))?;
                let head = std::mem::take(&mut state.head);
                let gen_ = state.gen_;
                state.wal = Some(next);
                state.gen_ += 1;
                state.frozen.push(Arc::new(Frozen { gen_, head }));
            }
        }
        let frozen: Vec<Arc<Frozen>> = lock(&self.state).frozen.clone();
        for f in frozen {
            self.write_frozen(&f)?;
        }
        self.expire(now);
        self.compact(now)?;
        Ok(())
    }

    fn write_frozen(&self, f: &Frozen) -> Result<(), StoreError> {
        let rows = &f.head.rows;
        let mut files: Vec<PendingFile<'_>> = Vec::new();
        let name = |hour: i64| SegmentName {
            hour,
            gen_: f.gen_,
            compacted: false,
        };
        for (hour, mut spans) in by_hour(&rows.spans, |s| s.start) {
            spans.sort_by_key(|s| s.start);
            let red = rollup::red_rollup(spans.iter().copied());
            files.push((
                Kind::Red1m,
                name(hour),
                Box::new(move |p| segment::write_red(p, &red, Pack::Fast)),
            ));
            files.push((
                Kind::Spans,
                name(hour),
                Box::new(move |p| segment::write_spans(p, &spans, Pack::Fast)),
            ));
        }
        for (hour, mut logs) in by_hour(&rows.logs, |l| l.ts) {
            logs.sort_by_key(|l| l.ts);
            files.push((
                Kind::Logs,
                name(hour),
                Box::new(move |p| segment::write_logs(p, &logs, Pack::Fast)),
            ));
        }
        for (hour, mut events) in by_hour(&rows.events, |e| e.ts) {
            events.sort_by_key(|e| e.ts);
            files.push((
                Kind::Events,
                name(hour),
                Box::new(move |p| events::write_events(p, &events)),
            ));
        }
        for (hour, mut points) in by_hour(&rows.points, |p| p.ts) {
            // By name first: a query for one metric reads only the row groups of its name.
            points.sort_by(|a, b| (&a.name, a.series, a.ts).cmp(&(&b.name, b.series, b.ts)));
            let m1 = rollup::metric_rollup(points.iter().copied(), MINUTE_NS);
            let h1 = rollup::metric_rollup(points.iter().copied(), HOUR_NS);
            files.push((
                Kind::Metrics1m,
                name(hour),
                Box::new(move |p| segment::write_rollups(p, Kind::Metrics1m, &m1, Pack::Fast)),
            ));
            files.push((
                Kind::Metrics1h,
                name(hour),
                Box::new(move |p| segment::write_rollups(p, Kind::Metrics1h, &h1, Pack::Fast)),
            ));
            files.push((
                Kind::Points,
                name(hour),
                Box::new(move |p| segment::write_points(p, &points, Pack::Fast)),
            ));
        }
        // Room first: the new segments (estimated as the log bytes they replace, plus each
        // file's overhead) must fit beside the rest.
        {
            let mut state = lock(&self.state);
            for signal in Signal::ALL {
                if let Some(limit) = self.config.retention.limits(signal).max_bytes {
                    let n = files.iter().filter(|f| f.0.signal() == signal).count() as u64;
                    let extra = f.head.wal_bytes[index(signal)] + n * SEGMENT_OVERHEAD;
                    self.make_room(&mut state, signal, extra, limit);
                }
            }
        }
        let mut written = Vec::new();
        for (kind, name, write) in &files {
            let path = self.dir.join(kind.dir()).join(name.file_name());
            match write(&path) {
                Ok(bytes) => written.push((
                    *kind,
                    Seg {
                        name: name.clone(),
                        bytes,
                    },
                )),
                Err(err) => {
                    for (kind, seg) in &written {
                        let _ = std::fs::remove_file(
                            self.dir.join(kind.dir()).join(seg.name.file_name()),
                        );
                    }
                    return Err(err.into());
                }
            }
        }
        // Committed: the segments are on disk, the log of this generation goes.
        let mut state = lock(&self.state);
        for (kind, seg) in written {
            let list = state.segments.entry(kind).or_default();
            list.push(seg);
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        state.frozen.retain(|x| x.gen_ != f.gen_);
        let wal_path = wal::path(&self.dir.join("wal"), f.gen_);
        if let Err(err) = std::fs::remove_file(&wal_path) {
            tracing::warn!(path = %wal_path.display(), %err, "store: cannot delete a flushed write-ahead log");
        }
        for signal in Signal::ALL {
            if let Some(limit) = self.config.retention.limits(signal).max_bytes {
                self.make_room(&mut state, signal, 0, limit);
            }
        }
        self.update_gauges(&state);
        Ok(())
    }

    /// Deletes segments whose hour ended before `now - max_age`.
    pub(crate) fn expire(&self, now: i64) {
        let mut state = lock(&self.state);
        for kind in Kind::ALL {
            let signal = kind.signal();
            let Some(age) = self.config.retention.limits(signal).max_age else {
                continue;
            };
            let cutoff = now.saturating_sub(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX));
            let dir = self.dir.join(kind.dir());
            let list = state.segments.entry(kind).or_default();
            let (metrics, footers) = (&self.metrics, &self.footers);
            list.retain(|seg| {
                let end = seg.name.hour.saturating_add(1).saturating_mul(HOUR_NS);
                if end > cutoff {
                    return true;
                }
                let path = dir.join(seg.name.file_name());
                footers.forget(&path);
                let _ = std::fs::remove_file(path);
                metrics.signal(signal).deleted_age.inc();
                false
            });
        }
        self.update_gauges(&state);
    }

    /// The hours of `kind` before `before_hour` with more than one segment, and their
    /// segments.
    pub(super) fn compactable(&self, kind: Kind, before_hour: i64) -> Vec<(i64, Vec<SegmentName>)> {
        let state = lock(&self.state);
        let mut hours: BTreeMap<i64, Vec<SegmentName>> = BTreeMap::new();
        for s in state.segments.get(&kind).into_iter().flatten() {
            if s.name.hour < before_hour {
                hours.entry(s.name.hour).or_default().push(s.name.clone());
            }
        }
        hours.into_iter().filter(|(_, v)| v.len() > 1).collect()
    }

    /// Makes room for `bytes` more of `kind`'s signal (a compaction's output, before its
    /// sources go).
    pub(super) fn reserve(&self, kind: Kind, bytes: u64) {
        let signal = kind.signal();
        if let Some(limit) = self.config.retention.limits(signal).max_bytes {
            let mut state = lock(&self.state);
            self.make_room(&mut state, signal, bytes, limit);
        }
    }

    /// The bytes of segments `names` of `kind`.
    pub(super) fn bytes_of(&self, kind: Kind, names: &[SegmentName]) -> u64 {
        let state = lock(&self.state);
        state
            .segments
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(|s| names.contains(&s.name))
            .map(|s| s.bytes)
            .sum()
    }

    /// Puts segment `new` (`bytes` long, on disk) in place of `old`, whose files go.
    pub(super) fn replace(&self, kind: Kind, old: &[SegmentName], new: SegmentName, bytes: u64) {
        let mut state = lock(&self.state);
        let dir = self.dir.join(kind.dir());
        let list = state.segments.entry(kind).or_default();
        list.retain(|s| {
            let gone = old.contains(&s.name);
            if gone {
                let path = dir.join(s.name.file_name());
                self.footers.forget(&path);
                let _ = std::fs::remove_file(path);
            }
            !gone
        });
        list.push(Seg { name: new, bytes });
        list.sort_by(|a, b| a.name.cmp(&b.name));
        self.update_gauges(&state);
    }

    fn update_gauges(&self, state: &State) {
        for signal in Signal::ALL {
            let m = self.metrics.signal(signal);
            let bytes = segment_bytes(state, signal) + wal_bytes(state, signal);
            m.bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
            let n: usize = Kind::ALL
                .iter()
                .filter(|k| k.signal() == signal)
                .map(|k| state.segments.get(k).map_or(0, Vec::len))
                .sum();
            m.segments.set(n as i64);
        }
    }

    // === for queries ===

    /// Runs `f` over the rows in memory (the head and the heads being flushed).
    pub(crate) fn with_heads<T>(&self, mut f: impl FnMut(&Rows) -> T) -> Vec<T> {
        let state = lock(&self.state);
        let mut out = vec![f(&state.head.rows)];
        for fr in &state.frozen {
            out.push(f(&fr.head.rows));
        }
        out
    }

    /// The segments of `kind` whose hour overlaps `[from, to)`, newest first.
    pub(crate) fn segments(&self, kind: Kind, from: i64, to: i64) -> Vec<PathBuf> {
        let state = lock(&self.state);
        let dir = self.dir.join(kind.dir());
        let mut out: Vec<PathBuf> = state
            .segments
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(|s| {
                let start = s.name.hour.saturating_mul(HOUR_NS);
                start < to && start.saturating_add(HOUR_NS) > from
            })
            .map(|s| dir.join(s.name.file_name()))
            .collect();
        out.reverse();
        out
    }

    /// Reads each segment of `kind` over `[from, to)` with `read`; a damaged one is moved to
    /// quarantine and skipped, one deleted meanwhile (retention) is skipped.
    pub(crate) fn read<T>(
        &self,
        kind: Kind,
        from: i64,
        to: i64,
        read: impl FnMut(&Path) -> Result<Vec<T>, SegmentError>,
    ) -> Vec<T> {
        self.read_paths(kind, &self.segments(kind, from, to), read)
    }

    /// [`Store::read`] over the segments `paths` of `kind`.
    pub(crate) fn read_paths<T>(
        &self,
        kind: Kind,
        paths: &[PathBuf],
        mut read: impl FnMut(&Path) -> Result<Vec<T>, SegmentError>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for path in paths {
            match read(path) {
                Ok(rows) => out.extend(rows),
                Err(err) if err.is_corrupt() && self.read_only => {
                    // Not ours to move: the process that writes the store quarantines it.
                    tracing::warn!(path = %path.display(), %err, "store: a damaged segment is skipped");
                }
                Err(err) if err.is_corrupt() => {
                    self.footers.forget(path);
                    quarantine(&self.dir, kind, path, &err, &self.metrics);
                    let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
                    if let Some(name) = file.as_deref().and_then(SegmentName::parse) {
                        let mut state = lock(&self.state);
                        if let Some(list) = state.segments.get_mut(&kind) {
                            list.retain(|s| s.name != name);
                        }
                        self.update_gauges(&state);
                    }
                }
                Err(err) => tracing::debug!(%err, "store: a segment went away while read"),
            }
        }
        out
    }
}

/// The segments and the replayed logs of `dir`, read without writing anything.
fn read_only_state(dir: &Path) -> Result<State, StoreError> {
    let wal_dir = dir.join("wal");
    let pending = if wal_dir.is_dir() {
        wal::generations(&wal_dir).map_err(io(&wal_dir))?
    } else {
        Vec::new()
    };
    let mut segments: BTreeMap<Kind, Vec<Seg>> = BTreeMap::new();
    for kind in Kind::ALL {
        let kdir = dir.join(kind.dir());
        let list = segments.entry(kind).or_default();
        let Ok(entries) = std::fs::read_dir(&kdir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = SegmentName::parse(&file) else {
                continue;
            };
            if pending.contains(&name.gen_) {
                continue;
            }
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            list.push(Seg { name, bytes });
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        let merged: Vec<SegmentName> = list
            .iter()
            .filter(|s| s.name.compacted)
            .map(|s| s.name.clone())
            .collect();
        list.retain(|s| {
            !merged
                .iter()
                .any(|m| m.hour == s.name.hour && s.name.gen_ <= m.gen_ && *m != s.name)
        });
    }
    let mut head = Head::default();
    for g in &pending {
        let path = wal::path(&wal_dir, *g);
        let replay = wal::replay(&path).map_err(io(&path))?;
        for (signal, payload) in replay.records {
            if let Ok(rows) = rows::decode(signal, &payload) {
                head.wal_bytes[index(signal)] += payload.len() as u64;
                extend(&mut head.rows, rows);
            }
        }
    }
    Ok(State {
        gen_: pending.last().copied().unwrap_or(0),
        wal: None,
        head,
        frozen: Vec::new(),
        segments,
    })
}

fn extend(head: &mut Rows, rows: Rows) {
    head.spans.extend(rows.spans);
    head.logs.extend(rows.logs);
    head.points.extend(rows.points);
    head.events.extend(rows.events);
}

fn segment_bytes(state: &State, signal: Signal) -> u64 {
    Kind::ALL
        .iter()
        .filter(|k| k.signal() == signal)
        .flat_map(|k| state.segments.get(k).into_iter().flatten())
        .map(|s| s.bytes)
        .sum()
}

fn wal_bytes(state: &State, signal: Signal) -> u64 {
    let i = index(signal);
    state.head.wal_bytes[i]
        + state
            .frozen
            .iter()
            .map(|f| f.head.wal_bytes[i])
            .sum::<u64>()
}

/// `rows` by the hour of their time (references: a flush copies no row).
fn by_hour<T>(rows: &[T], ts: impl Fn(&T) -> i64) -> BTreeMap<i64, Vec<&T>> {
    let mut out: BTreeMap<i64, Vec<&T>> = BTreeMap::new();
    for r in rows {
        out.entry(ts(r).div_euclid(HOUR_NS)).or_default().push(r);
    }
    out
}

/// Moves a damaged segment to `quarantine/`, logs it and counts it.
fn quarantine(dir: &Path, kind: Kind, path: &Path, err: &SegmentError, metrics: &StoreMetrics) {
    let file = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let to = dir
        .join("quarantine")
        .join(format!("{}-{file}", kind.dir()));
    let moved = std::fs::rename(path, &to);
    tracing::error!(
        path = %path.display(),
        quarantine = %to.display(),
        %err,
        moved = moved.is_ok(),
        "store: a damaged segment was moved aside and is skipped"
    );
    metrics.corrupt_segments.inc();
}
