//! The queues under test, behind one trait: Lookout's segment log and the candidate crates,
//! each used the way the persistent queue uses its log (append, read in order, acknowledge
//! the oldest, fsync per record or on a timer).

use std::path::Path;

/// One queue on disk, owned by one thread.
pub(crate) trait Queue {
    /// Appends a record; with `durable`, it is on the disk on return (`fsync: every_batch`).
    fn append(&mut self, payload: &[u8], durable: bool) -> Result<(), String>;
    /// Makes every appended record durable (the `interval` tick).
    fn sync(&mut self) -> Result<(), String>;
    /// The next record not read yet, in order (its length), without acknowledging it.
    fn next(&mut self) -> Result<Option<usize>, String>;
    /// Acknowledges the oldest unacknowledged record (deletes it from the head).
    fn ack(&mut self) -> Result<(), String>;
}

/// The backends by name.
pub(crate) const NAMES: &[&str] = &[
    "segment-log",
    "segment-log/ckpt-1s",
    #[cfg(feature = "queue-file")]
    "queue-file",
    #[cfg(feature = "redb")]
    "redb",
    #[cfg(feature = "fjall")]
    "fjall",
];

/// What opening found: the queue, and a note on what was dropped (for the torn-write test).
pub(crate) struct Opened {
    pub(crate) queue: Box<dyn Queue>,
    pub(crate) note: String,
}

/// Opens backend `name` in `dir` (created if needed).
pub(crate) fn open(name: &str, dir: &Path) -> Result<Opened, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    match name {
        "segment-log" => Segment::open(dir, true),
        "segment-log/ckpt-1s" => Segment::open(dir, false),
        #[cfg(feature = "queue-file")]
        "queue-file" => tape::open(dir),
        #[cfg(feature = "redb")]
        "redb" => btree::open(dir),
        #[cfg(feature = "fjall")]
        "fjall" => lsm::open(dir),
        other => Err(format!("unknown backend {other}")),
    }
}

/// Lookout's own log, through `lookout_collector::fuzzing::segment_log`. `max_size` 4 GiB, so
/// segments are 8 MiB as in any queue of 64 MiB or more.
struct Segment {
    log: lookout_collector::fuzzing::segment_log::SegmentLog,
    /// Ids read and not acknowledged yet, oldest first.
    read: std::collections::VecDeque<u64>,
    /// Rewrite the checkpoint after every acknowledgement (what the queue's thread does when
    /// one round of its loop sees one ack); otherwise only on `sync` (once a second).
    checkpoint_per_ack: bool,
}

impl Segment {
    fn open(dir: &Path, checkpoint_per_ack: bool) -> Result<Opened, String> {
        let (log, recovery) =
            lookout_collector::fuzzing::segment_log::SegmentLog::open(dir, 4 << 30)?;
        let note = if recovery.moved_aside.is_empty() {
            String::new()
        } else {
            format!("{} bytes moved to corrupted/", recovery.corrupted_bytes)
        };
        Ok(Opened {
            queue: Box::new(Segment {
                log,
                read: Default::default(),
                checkpoint_per_ack,
            }),
            note,
        })
    }
}

impl Queue for Segment {
    fn append(&mut self, payload: &[u8], durable: bool) -> Result<(), String> {
        self.log.append(payload)?;
        if durable {
            self.log.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), String> {
        self.log.sync()?;
        self.log.write_checkpoint()
    }

    fn next(&mut self) -> Result<Option<usize>, String> {
        match self.log.next_unread() {
            None => Ok(None),
            Some(Ok((id, payload))) => {
                self.read.push_back(id);
                Ok(Some(payload.len()))
            }
            Some(Err(why)) => Err(why),
        }
    }

    fn ack(&mut self) -> Result<(), String> {
        if let Some(id) = self.read.pop_front() {
            self.log.ack(id);
            if self.checkpoint_per_ack {
                self.log.write_checkpoint()?;
            }
        }
        Ok(())
    }
}

/// `queue-file` (a port of Square's Tape QueueFile): one ring-buffer file, CRC per element.
#[cfg(feature = "queue-file")]
mod tape {
    use super::{Opened, Queue};
    use queue_file::QueueFile;
    use std::path::Path;

    struct Tape {
        q: QueueFile,
        /// Records read ahead of the head.
        read: usize,
    }

    pub(super) fn open(dir: &Path) -> Result<Opened, String> {
        let mut q = QueueFile::open(dir.join("queue")).map_err(|e| e.to_string())?;
        // fsync only when asked (sync_all), like the segment log; removed records are not
        // zeroed (Tape's default overwrites them, which only costs writes here).
        q.set_sync_writes(false);
        q.set_skip_write_header_on_add(true);
        q.set_overwrite_on_remove(false);
        // Reading ahead of the head (records read, not yet acknowledged) walks from the head
        // unless positions are cached: cache every one.
        q.set_cache_offset_policy(queue_file::OffsetCacheKind::Linear { offset: 1 });
        Ok(Opened {
            queue: Box::new(Tape { q, read: 0 }),
            note: String::new(),
        })
    }

    impl Queue for Tape {
        fn append(&mut self, payload: &[u8], durable: bool) -> Result<(), String> {
            self.q.add(payload).map_err(|e| e.to_string())?;
            if durable {
                self.q.sync_all().map_err(|e| e.to_string())?;
            }
            Ok(())
        }

        fn sync(&mut self) -> Result<(), String> {
            self.q.sync_all().map_err(|e| e.to_string())
        }

        fn next(&mut self) -> Result<Option<usize>, String> {
            let got = if self.read == 0 {
                self.q.peek().map_err(|e| e.to_string())?
            } else {
                self.q.iter().nth(self.read)
            };
            Ok(got.map(|v| {
                self.read += 1;
                v.len()
            }))
        }

        fn ack(&mut self) -> Result<(), String> {
            if self.read > 0 {
                self.q.remove().map_err(|e| e.to_string())?;
                self.read -= 1;
            }
            Ok(())
        }
    }
}

/// `redb` as a FIFO, as the Collector uses bbolt: key = sequence number.
#[cfg(feature = "redb")]
mod btree {
    use super::{Opened, Queue};
    use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
    use std::path::Path;

    const TABLE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("queue");

    struct Btree {
        db: Database,
        next_write: u64,
        next_read: u64,
        head: u64,
    }

    pub(super) fn open(dir: &Path) -> Result<Opened, String> {
        let db = Database::create(dir.join("queue.redb")).map_err(|e| e.to_string())?;
        let (mut head, mut next_write) = (0, 0);
        {
            let tx = db.begin_write().map_err(|e| e.to_string())?;
            {
                let table = tx.open_table(TABLE).map_err(|e| e.to_string())?;
                if let Some((k, _)) = table.first().map_err(|e| e.to_string())? {
                    head = k.value();
                }
                if let Some((k, _)) = table.last().map_err(|e| e.to_string())? {
                    next_write = k.value() + 1;
                }
            }
            tx.commit().map_err(|e| e.to_string())?;
        }
        Ok(Opened {
            queue: Box::new(Btree {
                db,
                next_write,
                next_read: head,
                head,
            }),
            note: String::new(),
        })
    }

    impl Btree {
        fn write(
            &mut self,
            durable: bool,
            f: impl FnOnce(&mut redb::Table<'_, u64, &[u8]>) -> Result<(), redb::StorageError>,
        ) -> Result<(), String> {
            let mut tx = self.db.begin_write().map_err(|e| e.to_string())?;
            tx.set_durability(if durable {
                Durability::Immediate
            } else {
                Durability::None
            })
            .map_err(|e| e.to_string())?;
            {
                let mut table = tx.open_table(TABLE).map_err(|e| e.to_string())?;
                f(&mut table).map_err(|e| e.to_string())?;
            }
            tx.commit().map_err(|e| e.to_string())
        }
    }

    impl Queue for Btree {
        fn append(&mut self, payload: &[u8], durable: bool) -> Result<(), String> {
            let key = self.next_write;
            self.write(durable, |t| t.insert(key, payload).map(|_| ()))?;
            self.next_write += 1;
            Ok(())
        }

        fn sync(&mut self) -> Result<(), String> {
            self.write(true, |_| Ok(()))
        }

        fn next(&mut self) -> Result<Option<usize>, String> {
            let tx = self.db.begin_read().map_err(|e| e.to_string())?;
            let table = tx.open_table(TABLE).map_err(|e| e.to_string())?;
            let got = table.get(self.next_read).map_err(|e| e.to_string())?;
            Ok(got.map(|v| {
                self.next_read += 1;
                v.value().len()
            }))
        }

        fn ack(&mut self) -> Result<(), String> {
            if self.head < self.next_read {
                let key = self.head;
                self.write(false, |t| t.remove(key).map(|_| ()))?;
                self.head += 1;
            }
            Ok(())
        }
    }
}

/// `fjall` (an LSM tree) as a FIFO: key = big-endian sequence number, values in blob files
/// (key-value separation, what fjall offers for large values), journal fsynced on demand.
#[cfg(feature = "fjall")]
mod lsm {
    use super::{Opened, Queue};
    use fjall::{Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode};
    use std::path::Path;

    struct Lsm {
        db: Database,
        ks: Keyspace,
        next_write: u64,
        next_read: u64,
        head: u64,
    }

    pub(super) fn open(dir: &Path) -> Result<Opened, String> {
        let db = Database::builder(dir.join("db"))
            .manual_journal_persist(true)
            .open()
            .map_err(|e| e.to_string())?;
        let ks = db
            .keyspace("queue", || {
                KeyspaceCreateOptions::default()
                    .with_kv_separation(Some(KvSeparationOptions::default()))
            })
            .map_err(|e| e.to_string())?;
        let key = |g: fjall::Guard| -> Result<u64, String> {
            let k = g.key().map_err(|e| e.to_string())?;
            let b: [u8; 8] = k.as_ref().try_into().map_err(|_| "bad key".to_string())?;
            Ok(u64::from_be_bytes(b))
        };
        let head = match ks.first_key_value() {
            Some(g) => key(g)?,
            None => 0,
        };
        let next_write = match ks.last_key_value() {
            Some(g) => key(g)? + 1,
            None => 0,
        };
        Ok(Opened {
            queue: Box::new(Lsm {
                db,
                ks,
                next_write,
                next_read: head,
                head,
            }),
            note: String::new(),
        })
    }

    impl Queue for Lsm {
        fn append(&mut self, payload: &[u8], durable: bool) -> Result<(), String> {
            self.ks
                .insert(self.next_write.to_be_bytes(), payload)
                .map_err(|e| e.to_string())?;
            self.next_write += 1;
            if durable {
                self.sync()?;
            }
            Ok(())
        }

        fn sync(&mut self) -> Result<(), String> {
            self.db
                .persist(PersistMode::SyncData)
                .map_err(|e| e.to_string())
        }

        fn next(&mut self) -> Result<Option<usize>, String> {
            let got = self
                .ks
                .get(self.next_read.to_be_bytes())
                .map_err(|e| e.to_string())?;
            Ok(got.map(|v| {
                self.next_read += 1;
                v.len()
            }))
        }

        fn ack(&mut self) -> Result<(), String> {
            if self.head < self.next_read {
                self.ks
                    .remove(self.head.to_be_bytes())
                    .map_err(|e| e.to_string())?;
                self.head += 1;
            }
            Ok(())
        }
    }
}
