//! The write-ahead log: every accepted batch's OTLP bytes, appended (and fsynced, per the
//! policy) before the batch is acknowledged. One file per flush generation
//! (`wal/<gen>.wal`); a generation's file is deleted once all its segments are written, which
//! is what commits the flush. Record: length (u32 LE), CRC32 of signal + payload (u32 LE),
//! signal (u8), payload.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::core::Signal;

const HEADER: usize = 9;
/// Largest record replay accepts (a longer length is a torn or damaged header).
const MAX_RECORD: usize = 256 << 20;

/// An open write-ahead log file.
#[derive(Debug)]
pub(crate) struct Wal {
    file: File,
    path: PathBuf,
    /// Bytes written so far.
    pub(crate) len: u64,
}

fn signal_byte(signal: Signal) -> u8 {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

fn signal_of(byte: u8) -> Option<Signal> {
    match byte {
        0 => Some(Signal::Traces),
        1 => Some(Signal::Metrics),
        2 => Some(Signal::Logs),
        _ => None,
    }
}

/// `dir/<gen>.wal`.
pub(crate) fn path(dir: &Path, gen_: u64) -> PathBuf {
    dir.join(format!("{gen_:016x}.wal"))
}

/// The generations of the log files in `dir`, oldest first.
pub(crate) fn generations(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(gen_) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|g| u64::from_str_radix(g, 16).ok())
        {
            out.push(gen_);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Wal {
    /// Creates (or appends to) generation `gen_`'s file.
    pub(crate) fn create(dir: &Path, gen_: u64) -> std::io::Result<Wal> {
        let path = path(dir, gen_);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Wal { file, path, len })
    }

    /// Appends one batch; with `sync` it is on disk when this returns.
    pub(crate) fn append(
        &mut self,
        signal: Signal,
        payload: &[u8],
        sync: bool,
    ) -> std::io::Result<u64> {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[signal_byte(signal)]);
        crc.update(payload);
        let len = u32::try_from(payload.len())
            .map_err(|_| std::io::Error::other("batch larger than 4 GiB"))?;
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc.finalize().to_le_bytes());
        record.push(signal_byte(signal));
        record.extend_from_slice(payload);
        self.file.write_all(&record)?;
        if sync {
            self.file.sync_data()?;
        }
        self.len += record.len() as u64;
        Ok(record.len() as u64)
    }

    /// Forces what was appended to disk.
    pub(crate) fn append_sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// What replaying one file found.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// The intact records, in order.
    pub records: Vec<(Signal, Vec<u8>)>,
    /// Bytes after the last intact record (a torn last append, or damage): dropped.
    pub dropped_bytes: u64,
}

/// Reads every intact record of `path`, stopping at the first that is not.
pub(crate) fn replay(path: &Path) -> std::io::Result<Replay> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut out = Replay::default();
    let mut at = 0;
    while data.len() - at >= HEADER {
        let len = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let crc = u32::from_le_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]);
        let Some(signal) = signal_of(data[at + 8]) else {
            break;
        };
        if len > MAX_RECORD || data.len() - at - HEADER < len {
            break;
        }
        let body = &data[at + HEADER..at + HEADER + len];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[data[at + 8]]);
        hasher.update(body);
        if hasher.finalize() != crc {
            break;
        }
        out.records.push((signal, body.to_vec()));
        at += HEADER + len;
    }
    out.dropped_bytes = (data.len() - at) as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_intact_records_and_stops_at_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 7).unwrap();
        wal.append(Signal::Traces, b"one", true).unwrap();
        wal.append(Signal::Logs, b"two", false).unwrap();
        let p = wal.path().to_path_buf();
        drop(wal);
        // A torn third append.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2]).unwrap();
        let r = replay(&p).unwrap();
        assert_eq!(
            r.records,
            vec![
                (Signal::Traces, b"one".to_vec()),
                (Signal::Logs, b"two".to_vec())
            ]
        );
        assert_eq!(r.dropped_bytes, 6);
        assert_eq!(generations(dir.path()).unwrap(), vec![7]);

        // A flipped payload byte ends the replay at that record.
        let mut data = std::fs::read(&p).unwrap();
        data[HEADER + 1] ^= 0xff;
        std::fs::write(&p, &data).unwrap();
        assert!(replay(&p).unwrap().records.is_empty());
    }
}
