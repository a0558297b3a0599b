//! Finding files and deciding which tracked file each one is: full polls and looks at the
//! single paths notifications name, both skipping the open and the fingerprint read for any
//! path whose `stat` did not change; and sharing `max_concurrent_files` slots out in turns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::{Look, Parked, Tailer};
use crate::receivers::filelog::checkpoint::FileCheckpoint;
use crate::receivers::filelog::config::StartAt;
use crate::receivers::filelog::discover::{self, Listed, Stat, Unusable};
use crate::receivers::filelog::identity::{self, Candidate, Decision, Known, same_start};
use crate::receivers::filelog::reader::{self, Reader};

/// Full polls a vanished or replaced file is remembered for.
const FORGET_AFTER_POLLS: u32 = 5;
/// Unusable paths remembered so that each is logged once.
const MAX_UNUSABLE: usize = 4096;
/// Full polls a renamed file is listed for after notify reported the rename: fewer than
/// FORGET_AFTER_POLLS, so a file is never forgotten while still listed (and read again).
const FOLLOW_POLLS: u32 = 2;
/// Renamed files followed at once.
const MAX_FOLLOWED: usize = 1024;
/// How long a file with data keeps its slot while other files wait for one.
const TURN: Duration = Duration::from_secs(1);

/// Opens without blocking, so a FIFO renamed into a watched name cannot hang the open.
fn open(path: &Path) -> std::io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

impl Tailer {
    pub(super) fn new_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Lists `path` at the next full polls even if `include` does not match it.
    pub(super) fn follow(&mut self, path: PathBuf) {
        if self.followed.len() < MAX_FOLLOWED && !self.followed.iter().any(|(p, _)| *p == path) {
            self.followed.push((path, FOLLOW_POLLS));
        }
    }

    /// Whether `key` is tracked as the file `stat` describes, so an unchanged look at it needs
    /// no open; if so it is marked as seen at `path`.
    fn seen_unchanged(&mut self, key: u64, path: &Path, stat: &Stat) -> bool {
        if let Some(reader) = self.readers.get_mut(&key) {
            if !reader.is_open() || reader.id != stat.id {
                return false;
            }
            reader.missed_polls = 0;
            if reader.path != path {
                reader.path = path.to_path_buf();
            }
            return true;
        }
        if let Some(p) = self.parked.get_mut(&key) {
            if !p.known.by_inode || p.known.id != stat.id {
                return false;
            }
            p.missed_polls = 0;
            return true;
        }
        false
    }

    /// Whether `path`, last seen as `look`, needs opening and fingerprinting now. An open
    /// reader with a whole fingerprint that only grew needs neither: its own reads check that
    /// its start did not change.
    fn needs_candidate(&mut self, path: &Path, look: Option<Look>, stat: &Stat) -> bool {
        let Some(look) = look else {
            return true;
        };
        let Some(key) = look.key else {
            return true;
        };
        if look.stat == *stat {
            return !self.seen_unchanged(key, path, stat);
        }
        let full = self.s.settings.fingerprint_size;
        if look.stat.id == stat.id
            && stat.size >= look.stat.size
            && let Some(reader) = self.readers.get_mut(&key)
            && reader.is_open()
            && reader.id == stat.id
            && reader.fingerprint.len() >= full
        {
            reader.missed_polls = 0;
            reader.wants_read = true;
            if reader.path != path {
                reader.path = path.to_path_buf();
            }
            return false;
        }
        true
    }

    /// Opens `path` and reads its start, or says why not (`None` for nothing worth saying).
    fn candidate(
        &self,
        path: PathBuf,
    ) -> Result<(Candidate, File, Stat), Option<(PathBuf, String)>> {
        let file = match open(&path) {
            Ok(file) => file,
            // Gone between the listing and the open: nothing to say.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(None),
            Err(err) => return Err(Some((path, format!("cannot open: {err}")))),
        };
        let Ok(meta) = file.metadata() else {
            return Err(None);
        };
        if !meta.is_file() {
            return Err(Some((path, Unusable::NotAFile.to_string())));
        }
        let Ok(fingerprint) = reader::fingerprint(&file, self.s.settings.fingerprint_size) else {
            return Err(None);
        };
        // An empty file cannot be told apart from any other yet.
        if fingerprint.is_empty() {
            return Err(None);
        }
        let stat = Stat::of(&meta);
        Ok((
            Candidate {
                path,
                id: stat.id,
                size: stat.size,
                fingerprint,
            },
            file,
            stat,
        ))
    }

    fn too_old(&self, stat: &Stat) -> bool {
        let Some(cutoff) = self
            .s
            .config
            .exclude_older_than
            .and_then(|age| SystemTime::now().checked_sub(age))
        else {
            return false;
        };
        let cutoff_ns = cutoff
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        stat.mtime_ns < cutoff_ns
    }

    /// Lists every file and matches the changed ones to tracked files.
    pub(super) fn poll(&mut self) {
        // Everything notifications named is listed now.
        self.to_look.clear();
        let found = self.s.finder.find();
        // A directory matching `include` is only worth a warning where a file used to be.
        let mut problems: Vec<(PathBuf, String)> = found
            .skipped
            .into_iter()
            .filter(|(path, why)| *why != Unusable::Directory || self.was_file(path))
            .map(|(path, why)| (path, why.to_string()))
            .collect();
        let mut listed = found.files;
        let followed: Vec<PathBuf> = self.followed.iter().map(|(p, _)| p.clone()).collect();
        for (_, left) in &mut self.followed {
            *left -= 1;
        }
        self.followed.retain(|(_, left)| *left > 0);
        let present: HashSet<&Path> = if followed.is_empty() {
            HashSet::new()
        } else {
            listed.iter().map(|l| l.path.as_path()).collect()
        };
        let extra: Vec<PathBuf> = followed
            .into_iter()
            .filter(|p| !present.contains(p.as_path()))
            .collect();
        drop(present);
        for path in extra {
            if let Ok(stat) = discover::look(&path) {
                listed.push(Listed { path, stat });
            }
        }
        for reader in self.readers.values_mut() {
            reader.missed_polls += 1;
        }
        for parked in self.parked.values_mut() {
            parked.missed_polls += 1;
        }
        self.open_count = self.readers.values().filter(|r| r.is_open()).count();
        let mut old = std::mem::take(&mut self.looks);
        let mut looks = HashMap::with_capacity(listed.len());
        let mut candidates = Vec::new();
        for Listed { path, stat } in listed {
            if self.too_old(&stat) {
                continue;
            }
            let look = old.remove(&path);
            if !self.needs_candidate(&path, look, &stat) {
                looks.insert(
                    path,
                    Look {
                        stat,
                        key: look.and_then(|l| l.key),
                    },
                );
                continue;
            }
            match self.candidate(path) {
                Ok(c) => candidates.push(c),
                Err(Some(problem)) => problems.push(problem),
                Err(None) => {}
            }
        }
        self.looks = looks;
        self.report_unusable(problems);
        self.decide_and_apply(candidates, false);
        // Files read through a handle kept open after a rename or delete: a notification may
        // not have named them.
        for reader in self.readers.values_mut() {
            if reader.missed_polls > 0 && reader.is_open() {
                reader.wants_read = true;
            }
        }
        self.first_poll = false;
        let before = self.parked.len();
        self.parked
            .retain(|_, p| p.missed_polls < FORGET_AFTER_POLLS);
        let parked = &self.parked;
        self.waiting.retain(|k| parked.contains_key(k));
        self.dirty |= self.parked.len() != before;
        self.forget_and_delete();
    }

    /// Looks at the paths notifications named since the last pass.
    pub(super) fn look_at_named(&mut self) {
        self.open_count = self.readers.values().filter(|r| r.is_open()).count();
        let paths = std::mem::take(&mut self.to_look);
        let mut candidates = Vec::new();
        for path in paths {
            let Ok(stat) = discover::look(&path) else {
                // Gone, or not a file: full polls report what is worth reporting.
                continue;
            };
            if self.too_old(&stat) {
                continue;
            }
            let look = self.looks.get(&path).copied();
            if !self.needs_candidate(&path, look, &stat) {
                self.looks.insert(
                    path,
                    Look {
                        stat,
                        key: look.and_then(|l| l.key),
                    },
                );
                continue;
            }
            if let Ok(c) = self.candidate(path) {
                candidates.push(c);
            }
        }
        self.decide_and_apply(candidates, true);
    }

    /// Matches `candidates` to tracked files and acts on it. `partial`: only some paths were
    /// looked at, so a copy of a file whose reader is open may be a copy in progress of a file
    /// that was not looked at: it is left to the next full poll.
    fn decide_and_apply(&mut self, candidates: Vec<(Candidate, File, Stat)>, partial: bool) {
        if candidates.is_empty() {
            return;
        }
        let known: Vec<Known> = self
            .readers
            .values()
            .map(Reader::known)
            .chain(self.parked.values().map(|r| r.known.clone()))
            .collect();
        let (candidates, rest): (Vec<Candidate>, Vec<(File, Stat)>) =
            candidates.into_iter().map(|(c, f, s)| (c, (f, s))).unzip();
        let decisions = identity::decide(&known, &candidates);
        drop(known);
        for ((c, (file, stat)), decision) in candidates.into_iter().zip(rest).zip(decisions) {
            let deferred = partial
                && matches!(decision, Decision::Moved(k) if self.readers.get(&k).is_some_and(Reader::is_open));
            if deferred {
                continue;
            }
            let path = c.path.clone();
            let key = self.apply(decision, c, file);
            self.looks.insert(path, Look { stat, key });
        }
    }

    /// Acts on one decision; returns the tracked file the candidate is now, if any.
    fn apply(&mut self, decision: Decision, c: Candidate, file: File) -> Option<u64> {
        match decision {
            Decision::Same(key) | Decision::Moved(key) if self.parked.contains_key(&key) => {
                let p = self.parked.get_mut(&key)?;
                p.missed_polls = 0;
                p.known.id = c.id;
                p.known.by_inode = true;
                p.entry.id = c.id;
                p.entry.path = c.path.to_string_lossy().into_owned();
                if p.idle_size != Some(c.size) && !p.queued {
                    p.queued = true;
                    self.waiting.push_back(key);
                }
                Some(key)
            }
            Decision::Same(key) => {
                let reader = self.readers.get_mut(&key)?;
                reader.missed_polls = 0;
                reader.path = c.path;
                reader.wants_read = true;
                reader.refresh_fingerprint(c.fingerprint);
                Some(key)
            }
            Decision::Moved(key) => {
                let reader = self.readers.get_mut(&key)?;
                tracing::debug!(from = %reader.path.display(), to = %c.path.display(), "file continues in another file");
                reader.missed_polls = 0;
                let was_open = reader.is_open();
                if let Err(err) = reader.adopt(&c.path, file, c.fingerprint) {
                    tracing::warn!(path = %c.path.display(), error = %err, "cannot follow file");
                } else if !was_open {
                    self.open_count += 1;
                }
                Some(key)
            }
            Decision::Truncated(key) => {
                self.s.metrics.truncations.inc();
                if let Some(reader) = self.readers.get_mut(&key) {
                    tracing::debug!(path = %c.path.display(), "file truncated or replaced; reading it from the start");
                    if reader.is_open() {
                        self.open_count = self.open_count.saturating_sub(1);
                    }
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
                Some(new)
            }
            Decision::Duplicate => {
                tracing::debug!(path = %c.path.display(), "copy of a file being read; skipped");
                None
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
                Some(key)
            }
        }
    }

    fn has_slot(&self) -> bool {
        self.open_count < self.s.config.max_concurrent_files
    }

    fn open_reader(&mut self, key: u64, c: &Candidate, file: File, offset: u64) {
        // Files already waiting go first.
        if !self.has_slot() || !self.waiting.is_empty() {
            if !self.warned_limit {
                self.warned_limit = true;
                tracing::info!(receiver = %self.s.id, limit = self.s.config.max_concurrent_files, "max_concurrent_files reached; files are read in turns");
            }
            // Remembered with its start offset, so waiting does not change where it is read from.
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
                    queued: true,
                },
            );
            self.waiting.push_back(key);
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
                self.open_count += 1;
                self.dirty = true;
            }
            Err(err) => tracing::warn!(path = %c.path.display(), error = %err, "cannot open file"),
        }
    }

    /// While files wait for a slot: files read to the end close at once, files that had their
    /// turn stop being read and close once their batches are delivered (so they are reopened
    /// exactly where delivery stopped), and waiting files take the freed slots in order.
    pub(super) fn share_slots(&mut self) {
        if self.waiting.is_empty() {
            // Nobody waits any more: files that were giving up their slot keep it.
            for r in self.readers.values_mut() {
                r.yielding = false;
            }
            return;
        }
        let now = Instant::now();
        let mut close = Vec::new();
        for (key, r) in self.readers.iter_mut() {
            if !r.is_open() {
                continue;
            }
            if r.finished() {
                close.push((*key, true));
            } else if r.yielding || now.duration_since(r.opened_at) >= TURN {
                r.yielding = true;
                if r.acks.is_empty() && r.acks.committed() == r.emitted {
                    close.push((*key, false));
                }
            }
        }
        for (key, idle) in close {
            self.park(key, idle);
        }
        self.open_count = self.readers.values().filter(|r| r.is_open()).count();
        while self.has_slot() {
            let Some(key) = self.waiting.pop_front() else {
                break;
            };
            self.reopen(key);
        }
    }

    /// Closes reader `key`, keeping its delivered position. `idle`: it was read to the end and
    /// waits for a change; otherwise it goes to the back of the queue.
    fn park(&mut self, key: u64, idle: bool) {
        let Some(r) = self.readers.remove(&key) else {
            return;
        };
        let mut known = r.known();
        known.offset = r.acks.committed();
        let entry = FileCheckpoint {
            path: r.path.to_string_lossy().into_owned(),
            id: r.id,
            fingerprint: hex::encode(&r.fingerprint),
            offset: r.acks.committed(),
        };
        let idle_size = if idle { r.size() } else { None };
        self.parked.insert(
            key,
            Parked {
                known,
                entry,
                missed_polls: r.missed_polls,
                idle_size,
                queued: !idle,
            },
        );
        if !idle {
            self.waiting.push_back(key);
        }
    }

    /// Opens parked file `key` at its position if its path still holds it; otherwise it stays
    /// parked and its path is examined again by the next poll.
    fn reopen(&mut self, key: u64) {
        let Some(p) = self.parked.get_mut(&key) else {
            return;
        };
        p.queued = false;
        let path = PathBuf::from(&p.entry.path);
        let offset = p.entry.offset;
        let verified = open(&path).ok().and_then(|file| {
            let meta = file.metadata().ok()?;
            let fingerprint = reader::fingerprint(&file, self.s.settings.fingerprint_size).ok()?;
            let stat = Stat::of(&meta);
            let same = meta.is_file()
                && stat.id == p.known.id
                && stat.size >= offset
                && same_start(&p.known.fingerprint, &fingerprint);
            same.then_some((file, fingerprint))
        });
        let Some((file, fingerprint)) = verified else {
            self.looks.remove(&path);
            return;
        };
        match Reader::open(key, &path, file, fingerprint, offset, &self.s.settings) {
            Ok(reader) => {
                self.parked.remove(&key);
                tracing::debug!(path = %path.display(), offset, "resuming");
                self.readers.insert(key, reader);
                self.open_count += 1;
                self.dirty = true;
            }
            Err(err) => tracing::warn!(path = %path.display(), error = %err, "cannot open file"),
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

    /// Whether `path` is, or was until recently, a tracked file.
    fn was_file(&self, path: &Path) -> bool {
        self.looks.get(path).is_some_and(|l| l.key.is_some())
            || self.readers.values().any(|r| r.path == path)
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
}
