//! One tracked file: its open handle, identity, unread bytes, the multiline record being
//! assembled, and its delivery window.
//!
//! The handle stays open after the file is renamed or deleted, so a rotated file is read to
//! its end. Before each read the fingerprint is checked again, so a file truncated in place is
//! never read at a stale offset.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;

use super::acks::AckWindow;
use super::identity::{FileId, Known, same_start};
use super::split::{Aggregator, Encoding, LineBuffer, Multiline, Record};

/// Bytes read from a file per system call.
const CHUNK: usize = 64 * 1024;

/// How a reader is built.
#[derive(Debug, Clone)]
pub(crate) struct ReaderSettings {
    /// `fingerprint_size`.
    pub fingerprint_size: usize,
    /// `max_log_size`.
    pub max_log_size: usize,
    /// `encoding`.
    pub encoding: Encoding,
    /// Built `multiline`.
    pub multiline: Option<Multiline>,
    /// `force_flush_period`.
    pub force_flush: Duration,
    /// `compression: gzip`.
    pub gzip: bool,
}

enum Source {
    Plain(File),
    Gzip {
        file: File,
        decoder: Option<Box<(MultiGzDecoder<io::BufReader<File>>, u64)>>,
        /// Compressed size when the stream last ended; decoding restarts only if it changes.
        ended_at: Option<u64>,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Plain(_) => "Plain",
            Source::Gzip { .. } => "Gzip",
        })
    }
}

impl Source {
    fn file(&self) -> &File {
        match self {
            Source::Plain(f) | Source::Gzip { file: f, .. } => f,
        }
    }

    /// Reads (decompressed) bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(file) => file.read_at(buf, offset),
            Source::Gzip {
                file,
                decoder,
                ended_at,
            } => {
                let size = file.metadata()?.len();
                if *ended_at == Some(size) {
                    return Ok(0);
                }
                if decoder.as_ref().is_none_or(|state| state.1 != offset) {
                    let mut raw = file.try_clone()?;
                    raw.seek(SeekFrom::Start(0))?;
                    let mut d = MultiGzDecoder::new(io::BufReader::new(raw));
                    let skipped = io::copy(&mut (&mut d).take(offset), &mut io::sink())?;
                    if skipped < offset {
                        *ended_at = Some(size);
                        return Ok(0);
                    }
                    *decoder = Some(Box::new((d, offset)));
                }
                let Some(state) = decoder.as_mut() else {
                    return Ok(0);
                };
                let (d, pos) = &mut **state;
                match d.read(buf) {
                    Ok(0) => {
                        *decoder = None;
                        *ended_at = Some(size);
                        Ok(0)
                    }
                    Ok(n) => {
                        *pos += n as u64;
                        Ok(n)
                    }
                    // A member still being written: wait for the rest.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        *decoder = None;
                        *ended_at = Some(size);
                        Ok(0)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadStatus {
    /// The batch limits were reached; there is more to read.
    More,
    /// The end of the file.
    Eof,
    /// The file was truncated or replaced in place: this reader must not read its handle again.
    Replaced,
}

/// One tracked file.
#[derive(Debug)]
pub(crate) struct Reader {
    /// Tracker key.
    pub key: u64,
    /// Last path it was seen at.
    pub path: PathBuf,
    /// Device and inode of the handle.
    pub id: FileId,
    /// First bytes.
    pub fingerprint: Vec<u8>,
    source: Option<Source>,
    lines: LineBuffer,
    aggregator: Aggregator,
    /// Delivery tracking.
    pub acks: AckWindow,
    /// End of the last record handed on.
    pub emitted: u64,
    last_growth: Instant,
    /// Consecutive polls in which the file was not found.
    pub missed_polls: u32,
    /// Whether the last read reached the end of the file with nothing held back.
    pub drained: bool,
    /// Don't read before this (after a delivery failure).
    pub retry_at: Option<Instant>,
    /// Something may be left to read: set by notifications, polls and partial reads; only
    /// such readers are read, so idle files cost nothing between polls.
    pub wants_read: bool,
    /// When it took its slot (for turns when more files wait than `max_concurrent_files`).
    pub opened_at: Instant,
    /// It had its turn and is no longer read, so that its batches drain and its slot goes to
    /// a waiting file.
    pub yielding: bool,
    settings: ReaderSettings,
}

impl Reader {
    /// Opens `path` for reading from `offset`.
    pub(crate) fn open(
        key: u64,
        path: &Path,
        file: File,
        fingerprint: Vec<u8>,
        offset: u64,
        settings: &ReaderSettings,
    ) -> io::Result<Reader> {
        let meta = file.metadata()?;
        let source = if settings.gzip {
            Source::Gzip {
                file,
                decoder: None,
                ended_at: None,
            }
        } else {
            Source::Plain(file)
        };
        Ok(Reader {
            key,
            path: path.to_path_buf(),
            id: FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            fingerprint,
            source: Some(source),
            lines: LineBuffer::new(settings.encoding, settings.max_log_size, offset),
            aggregator: Aggregator::new(settings.multiline.clone(), settings.max_log_size),
            acks: AckWindow::new(offset),
            emitted: offset,
            last_growth: Instant::now(),
            missed_polls: 0,
            drained: false,
            retry_at: None,
            wants_read: true,
            opened_at: Instant::now(),
            yielding: false,
            settings: settings.clone(),
        })
    }

    /// Identity for matching against this poll's files.
    pub(crate) fn known(&self) -> Known {
        Known {
            key: self.key,
            id: self.id,
            fingerprint: self.fingerprint.clone(),
            offset: self.emitted,
            by_inode: self.source.is_some(),
        }
    }

    /// Whether it still holds an open handle it may read.
    pub(crate) fn is_open(&self) -> bool {
        self.source.is_some()
    }

    /// Stops reading the handle (the content was replaced); the reader waits for a copy.
    pub(crate) fn orphan(&mut self) {
        self.source = None;
    }

    /// Continues in another file that holds the same content (a rotated copy).
    pub(crate) fn adopt(
        &mut self,
        path: &Path,
        file: File,
        fingerprint: Vec<u8>,
    ) -> io::Result<()> {
        let meta = file.metadata()?;
        self.id = FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        self.path = path.to_path_buf();
        self.fingerprint = fingerprint;
        self.source = Some(if self.settings.gzip {
            Source::Gzip {
                file,
                decoder: None,
                ended_at: None,
            }
        } else {
            Source::Plain(file)
        });
        self.drained = false;
        self.wants_read = true;
        Ok(())
    }

    /// Extends a short fingerprint as the file grows.
    pub(crate) fn refresh_fingerprint(&mut self, fingerprint: Vec<u8>) {
        if fingerprint.len() > self.fingerprint.len() && fingerprint.starts_with(&self.fingerprint)
        {
            self.fingerprint = fingerprint;
        }
    }

    /// Forgets everything after `offset` and reads from there again (a delivery failed).
    pub(crate) fn rewind(&mut self, offset: u64) {
        self.lines = LineBuffer::new(self.settings.encoding, self.settings.max_log_size, offset);
        self.aggregator =
            Aggregator::new(self.settings.multiline.clone(), self.settings.max_log_size);
        self.emitted = offset;
        self.drained = false;
        self.wants_read = true;
    }

    /// Reads records into `out` until `max_records` or `max_bytes` of text, or the end.
    pub(crate) fn read(
        &mut self,
        now: Instant,
        max_records: usize,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> io::Result<ReadStatus> {
        if self.source.is_none() {
            return Ok(ReadStatus::Eof);
        }
        if !self.settings.gzip && self.replaced()? {
            self.source = None;
            return Ok(ReadStatus::Replaced);
        }
        let mut bytes = 0usize;
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if out.len() >= max_records || bytes >= max_bytes {
                self.drained = false;
                return Ok(ReadStatus::More);
            }
            if let Some(line) = self.lines.next_line(false) {
                if let Some(record) = self.aggregator.push(line) {
                    bytes += record.text.len();
                    self.emitted = record.end;
                    out.push(record);
                }
                continue;
            }
            let want = CHUNK.min(self.lines.room().max(1));
            let offset = self.lines.end();
            let Some(source) = self.source.as_mut() else {
                return Ok(ReadStatus::Eof);
            };
            let n = source.read_at(offset, chunk.get_mut(..want).unwrap_or_default())?;
            // Checked after the read: a copytruncate that happened before it shows as changed
            // first bytes now, so bytes of the new content are never taken for the old.
            if n > 0 && !self.settings.gzip && self.head_changed()? {
                self.source = None;
                return Ok(ReadStatus::Replaced);
            }
            if n > 0 {
                self.lines.extend(chunk.get(..n).unwrap_or_default());
                self.last_growth = now;
                continue;
            }
            // End of file: what is held back is flushed once the file stopped growing.
            if now.duration_since(self.last_growth) >= self.settings.force_flush {
                while let Some(line) = self.lines.next_line(true) {
                    if let Some(record) = self.aggregator.push(line) {
                        self.emitted = record.end;
                        out.push(record);
                    }
                }
                if let Some(record) = self.aggregator.flush() {
                    self.emitted = record.end;
                    out.push(record);
                }
            }
            self.drained = self.lines.is_empty() && !self.aggregator.has_pending();
            return Ok(ReadStatus::Eof);
        }
    }

    /// Whether the handle's file no longer holds what this reader read: it shrank below the
    /// read position or its first bytes changed.
    fn replaced(&self) -> io::Result<bool> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        let file = source.file();
        if file.metadata()?.len() < self.lines.end() {
            return Ok(true);
        }
        self.head_changed()
    }

    /// Whether the handle's file no longer starts with the fingerprint.
    fn head_changed(&self) -> io::Result<bool> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        if self.fingerprint.is_empty() {
            return Ok(false);
        }
        let mut head = vec![0u8; self.fingerprint.len()];
        let n = read_full_at(source.file(), &mut head, 0)?;
        head.truncate(n);
        Ok(!same_start(&self.fingerprint, &head))
    }

    /// The size of the open file (compressed size for gzip).
    pub(crate) fn size(&self) -> Option<u64> {
        let source = self.source.as_ref()?;
        source.file().metadata().ok().map(|m| m.len())
    }

    /// Whether the file was read to its end and everything read was delivered.
    pub(crate) fn finished(&self) -> bool {
        self.drained && self.acks.is_empty() && self.acks.committed() == self.emitted
    }
}

/// Reads the first `size` bytes (fewer if the file is shorter).
pub(crate) fn fingerprint(file: &File, size: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let n = read_full_at(file, &mut buf, 0)?;
    buf.truncate(n);
    Ok(buf)
}

fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(
            buf.get_mut(done..).unwrap_or_default(),
            offset + done as u64,
        ) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn settings() -> ReaderSettings {
        ReaderSettings {
            fingerprint_size: 16,
            max_log_size: 1024,
            encoding: Encoding::Utf8,
            multiline: None,
            force_flush: Duration::ZERO,
            gzip: false,
        }
    }

    fn texts(records: &[Record]) -> Vec<&str> {
        records.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn reads_in_batches_and_detects_in_place_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let file = File::open(&path).unwrap();
        let fp = fingerprint(&file, 16).unwrap();
        let mut r = Reader::open(1, &path, file, fp, 0, &settings()).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            r.read(Instant::now(), 2, 1 << 20, &mut out).unwrap(),
            ReadStatus::More
        );
        assert_eq!(texts(&out), ["one", "two"]);
        assert_eq!(r.emitted, 8);
        out.clear();
        assert_eq!(
            r.read(Instant::now(), 10, 1 << 20, &mut out).unwrap(),
            ReadStatus::Eof
        );
        assert_eq!(texts(&out), ["three"]);
        // copytruncate: the same inode now starts with other bytes.
        std::fs::write(&path, "new\n").unwrap();
        out.clear();
        assert_eq!(
            r.read(Instant::now(), 10, 1 << 20, &mut out).unwrap(),
            ReadStatus::Replaced
        );
        assert!(out.is_empty() && !r.is_open());
    }

    #[test]
    fn renamed_file_is_read_to_its_end_through_the_open_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut w = File::create(&path).unwrap();
        w.write_all(b"first\n").unwrap();
        let file = File::open(&path).unwrap();
        let fp = fingerprint(&file, 16).unwrap();
        let mut r = Reader::open(1, &path, file, fp, 0, &settings()).unwrap();
        let mut out = Vec::new();
        r.read(Instant::now(), 10, 1 << 20, &mut out).unwrap();
        std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
        w.write_all(b"last\n").unwrap();
        r.read(Instant::now(), 10, 1 << 20, &mut out).unwrap();
        assert_eq!(texts(&out), ["first", "last"]);
        assert!(r.drained);
    }

    #[test]
    fn gzip_files_are_decompressed_and_resumed() {
        use flate2::{Compression, write::GzEncoder};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log.gz");
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"alpha\nbeta\ngamma\n").unwrap();
        std::fs::write(&path, e.finish().unwrap()).unwrap();
        let gz = ReaderSettings {
            gzip: true,
            ..settings()
        };
        let open = |offset| {
            let file = File::open(&path).unwrap();
            let fp = fingerprint(&file, 16).unwrap();
            Reader::open(1, &path, file, fp, offset, &gz).unwrap()
        };
        let mut out = Vec::new();
        open(0).read(Instant::now(), 10, 1 << 20, &mut out).unwrap();
        assert_eq!(texts(&out), ["alpha", "beta", "gamma"]);
        out.clear();
        open(6).read(Instant::now(), 10, 1 << 20, &mut out).unwrap();
        assert_eq!(texts(&out), ["beta", "gamma"]);
    }

    #[test]
    fn unterminated_last_line_waits_for_force_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "done\npartial").unwrap();
        let file = File::open(&path).unwrap();
        let s = ReaderSettings {
            force_flush: Duration::from_secs(3600),
            ..settings()
        };
        let mut r = Reader::open(1, &path, file, b"done".to_vec(), 0, &s).unwrap();
        let mut out = Vec::new();
        r.read(Instant::now(), 10, 1 << 20, &mut out).unwrap();
        assert_eq!(texts(&out), ["done"]);
        assert!(!r.drained);
        let later = Instant::now() + Duration::from_secs(3601);
        r.read(later, 10, 1 << 20, &mut out).unwrap();
        assert_eq!(texts(&out), ["done", "partial"]);
        assert_eq!(r.emitted, 12);
    }
}
