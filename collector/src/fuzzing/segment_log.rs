//! The persistent queue's segment log (`exporters/persistent_queue/log.rs`) with plain types in
//! and out, for the evaluation against queue crates in `bench/queue-eval/` (RELIABILITY.md,
//! "Why a hand-written segment log"). A thin wrapper: every call goes straight to the log.

use std::path::Path;

use bytes::Bytes;

use crate::core::Signal;
use crate::exporters::persistent_queue::log::{self, LogOptions};

/// What [`SegmentLog::open`] found on disk.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Unacknowledged records kept, to be read again.
    pub replayed: u64,
    /// Bytes moved to `corrupted/`.
    pub corrupted_bytes: u64,
    /// One line per file or tail moved aside.
    pub moved_aside: Vec<String>,
}

/// The segment log, as the persistent queue's thread drives it.
#[derive(Debug)]
pub struct SegmentLog(log::SegmentLog);

impl SegmentLog {
    /// Opens (or creates) the log in `dir` with the queue's `max_size` of `max_bytes` (segment
    /// size as the exporter derives it), replaying what is there.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(SegmentLog, Recovery), String> {
        let (log, recovery) = log::SegmentLog::open(dir, LogOptions::for_limit(max_bytes))
            .map_err(|e| e.to_string())?;
        let recovery = Recovery {
            replayed: recovery.replayed,
            corrupted_bytes: recovery.corrupted_bytes,
            moved_aside: recovery.moved_aside,
        };
        Ok((SegmentLog(log), recovery))
    }

    /// Appends one record (a traces payload); returns its id.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, String> {
        self.0
            .append(Signal::Traces, 1, payload)
            .map_err(|e| e.to_string())
    }

    /// fsync of what was appended.
    pub fn sync(&mut self) -> Result<(), String> {
        self.0.sync().map_err(|e| e.to_string())
    }

    /// The next record not read yet, in order: its id and payload.
    pub fn next_unread(&mut self) -> Option<Result<(u64, Bytes), String>> {
        self.0
            .next_unread_with(|_| None)
            .map(|r| r.map(|rec| (rec.id, rec.payload)).map_err(|(why, _)| why))
    }

    /// Acknowledges record `id` (segments wholly acknowledged are deleted).
    pub fn ack(&mut self, id: u64) {
        self.0.ack(id);
    }

    /// Rewrites the checkpoint if acknowledgements changed it (the queue does so once per
    /// round of its loop).
    pub fn write_checkpoint(&mut self) -> Result<(), String> {
        self.0.write_checkpoint().map_err(|e| e.to_string())
    }

    /// Unacknowledged records.
    pub fn records(&self) -> u64 {
        self.0.records()
    }

    /// Bytes of segment files on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.0.disk_bytes()
    }
}
