//! The workloads, each run in a child process for one backend; each returns its figures as
//! tab-separated `column=value` pairs.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::Settings;
use crate::backends::{self, Queue};

/// The columns, in print order.
const COLUMNS: &[&str] = &[
    "error",
    "records",
    "records/s",
    "records/s range",
    "MB/s",
    "p99 append µs",
    "p99 read+ack µs",
    "peak RSS MiB",
    "disk/payload",
    "disk MiB before",
    "disk MiB after",
    "open + first record ms",
    "read all s",
    "read MB/s",
    "disk after ack MiB",
    "disk after close MiB",
    "file",
    "opens",
    "kept",
    "usable after",
    "note",
];

pub(crate) fn column_order(key: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == key)
        .unwrap_or(COLUMNS.len())
}

/// Columns where more is better (they get a ratio to the segment log).
pub(crate) fn is_rate(key: &str) -> bool {
    matches!(key, "records/s" | "MB/s" | "read MB/s")
}

pub(crate) fn run(backend: &str, workload: &str, settings: &Settings) -> String {
    let dir = settings.dir.join(backend);
    let _ = fs::remove_dir_all(&dir);
    let (kind, arg) = workload.split_once(':').unwrap_or((workload, ""));
    let result = match kind {
        "every_batch" | "interval" => {
            append(backend, &dir, kind == "every_batch", size(arg), settings)
        }
        "steady" => steady(backend, &dir, size(arg), settings),
        "replay" => replay(backend, &dir, size(arg), settings),
        "torn" => torn(backend, &dir, arg == "garbage"),
        other => Err(format!("unknown workload {other}")),
    };
    let _ = fs::remove_dir_all(&dir);
    let mut fields = result.unwrap_or_else(|e| vec![("error".into(), e)]);
    fields.push(("peak RSS MiB".into(), format!("{:.1}", peak_rss_mib())));
    fields
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\t")
}

type Fields = Vec<(String, String)>;

fn size(arg: &str) -> usize {
    arg.parse().unwrap_or(20_000)
}

/// Eight random payloads of `size` bytes (encoded OTLP batches compress poorly once
/// compressed; random bytes stand for them), used in turn.
fn payloads(size: usize) -> Vec<Vec<u8>> {
    let mut rng = rand::rng();
    (0..8)
        .map(|_| {
            let mut p = vec![0u8; size];
            rng.fill_bytes(&mut p);
            p
        })
        .collect()
}

/// (1) and (2): appends for `secs` (or up to 1 GiB), fsync per record or every second.
fn append(
    backend: &str,
    dir: &Path,
    every_batch: bool,
    size: usize,
    settings: &Settings,
) -> Result<Fields, String> {
    let data = payloads(size);
    let mut q = backends::open(backend, dir)?.queue;
    let mut lat = Vec::new();
    let (start, mut last_sync) = (Instant::now(), Instant::now());
    let limit = Duration::from_secs_f64(settings.secs);
    let mut bytes = 0u64;
    while start.elapsed() < limit && bytes < 1 << 30 {
        let t = Instant::now();
        q.append(&data[lat.len() % data.len()], every_batch)?;
        lat.push(t.elapsed());
        bytes += size as u64;
        if !every_batch && last_sync.elapsed() >= Duration::from_secs(1) {
            q.sync()?;
            last_sync = Instant::now();
        }
    }
    q.sync()?;
    let secs = start.elapsed().as_secs_f64();
    let disk = disk_bytes(dir);
    drop(q);
    Ok(vec![
        ("records".into(), lat.len().to_string()),
        (
            "records/s".into(),
            format!("{:.0}", lat.len() as f64 / secs),
        ),
        ("MB/s".into(), format!("{:.1}", bytes as f64 / secs / 1e6)),
        ("p99 append µs".into(), p99_us(&mut lat)),
        (
            "disk/payload".into(),
            format!("{:.3}", disk as f64 / bytes as f64),
        ),
    ])
}

/// Appends `mib` MiB without fsync, then syncs: a backlog.
fn fill(q: &mut dyn Queue, data: &[Vec<u8>], mib: u64) -> Result<u64, String> {
    let size = data[0].len() as u64;
    let n = (mib << 20) / size;
    for i in 0..n {
        q.append(&data[i as usize % data.len()], false)?;
    }
    q.sync()?;
    Ok(n)
}

/// (3): a backlog of `backlog_mib`; a producer appends and a consumer reads the oldest record
/// and acknowledges it, one for one, for `secs`, with an fsync every second.
fn steady(backend: &str, dir: &Path, size: usize, settings: &Settings) -> Result<Fields, String> {
    let data = payloads(size);
    let mut q = backends::open(backend, dir)?.queue;
    fill(q.as_mut(), &data, settings.backlog_mib)?;
    let before = disk_bytes(dir);
    let (mut lat, mut lat_read) = (Vec::new(), Vec::new());
    let (start, mut last_sync) = (Instant::now(), Instant::now());
    let limit = Duration::from_secs_f64(settings.secs);
    while start.elapsed() < limit {
        let t = Instant::now();
        q.append(&data[lat.len() % data.len()], false)?;
        lat.push(t.elapsed());
        let t = Instant::now();
        if q.next()?.is_none() {
            return Err("backlog ran dry".into());
        }
        q.ack()?;
        lat_read.push(t.elapsed());
        if last_sync.elapsed() >= Duration::from_secs(1) {
            q.sync()?;
            last_sync = Instant::now();
        }
    }
    q.sync()?;
    let secs = start.elapsed().as_secs_f64();
    let after = disk_bytes(dir);
    let n = lat.len();
    Ok(vec![
        ("records".into(), n.to_string()),
        ("records/s".into(), format!("{:.0}", n as f64 / secs)),
        (
            "MB/s".into(),
            format!("{:.1}", (n * size) as f64 / secs / 1e6),
        ),
        ("p99 append µs".into(), p99_us(&mut lat)),
        ("p99 read+ack µs".into(), p99_us(&mut lat_read)),
        ("disk MiB before".into(), mib(before)),
        ("disk MiB after".into(), mib(after)),
    ])
}

/// (4) and (5): a backlog of `replay_mib` written, closed, dropped from the page cache,
/// reopened and read to the end; then acknowledged, and the disk measured.
fn replay(backend: &str, dir: &Path, size: usize, settings: &Settings) -> Result<Fields, String> {
    let data = payloads(size);
    let mut q = backends::open(backend, dir)?.queue;
    let n = fill(q.as_mut(), &data, settings.replay_mib)?;
    drop(q);
    let payload = n * size as u64;
    let disk = disk_bytes(dir);
    evict(dir);
    let start = Instant::now();
    let mut q = backends::open(backend, dir)?.queue;
    let mut first = None;
    let mut count = 0u64;
    while let Some(len) = q.next()? {
        first.get_or_insert_with(|| start.elapsed());
        if len != size {
            return Err(format!("record {count} has {len} bytes"));
        }
        count += 1;
    }
    let all = start.elapsed().as_secs_f64();
    if count != n {
        return Err(format!("read {count} of {n} records"));
    }
    for _ in 0..count {
        q.ack()?;
    }
    q.sync()?;
    let after_ack = disk_bytes(dir);
    drop(q);
    let after_close = disk_bytes(dir);
    Ok(vec![
        ("records".into(), n.to_string()),
        (
            "open + first record ms".into(),
            format!("{:.1}", first.unwrap_or_default().as_secs_f64() * 1e3),
        ),
        ("read all s".into(), format!("{all:.2}")),
        (
            "read MB/s".into(),
            format!("{:.0}", payload as f64 / all / 1e6),
        ),
        (
            "disk/payload".into(),
            format!("{:.3}", disk as f64 / payload as f64),
        ),
        ("disk after ack MiB".into(), mib(after_ack)),
        ("disk after close MiB".into(), mib(after_close)),
    ])
}

/// (6): 64 records of 20 KB, each fsynced; the process "dies"; the file written last is cut
/// in the middle of its last record (or gets 4 KiB of garbage at its end); reopen and read.
fn torn(backend: &str, dir: &Path, garbage: bool) -> Result<Fields, String> {
    let data = payloads(20_000);
    let mut q = backends::open(backend, dir)?.queue;
    for i in 0..64 {
        q.append(&data[i % data.len()], true)?;
    }
    drop(q);
    let Some(victim) = last_written(dir) else {
        return Err("no data file".into());
    };
    let len = fs::metadata(&victim).map_err(|e| e.to_string())?.len();
    // Where the data written last ends: the last non-zero byte (files preallocated with zeros,
    // fjall's journal and queue-file's ring, end in free space).
    let contents = fs::read(&victim).map_err(|e| e.to_string())?;
    let end = contents.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1) as u64;
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .map_err(|e| e.to_string())?;
    if garbage {
        let mut junk = vec![0u8; 4096];
        rand::rng().fill_bytes(&mut junk);
        std::os::unix::fs::FileExt::write_all_at(&file, &junk, end).map_err(|e| e.to_string())?;
    } else {
        file.set_len(end.saturating_sub(10_000))
            .map_err(|e| e.to_string())?;
    }
    drop(file);
    let name = victim
        .strip_prefix(dir)
        .unwrap_or(&victim)
        .display()
        .to_string();
    let what = if garbage {
        "4 KiB written at"
    } else {
        "cut 10,000 B before"
    };
    let mut fields = vec![("file".into(), format!("{name} ({len} B, {what} {end})"))];
    let opened = match backends::open(backend, dir) {
        Ok(o) => o,
        Err(e) => {
            fields.push(("opens".into(), "no".into()));
            fields.push(("note".into(), e.replace(['\t', '\n'], " ")));
            return Ok(fields);
        }
    };
    let mut q = opened.queue;
    fields.push(("opens".into(), "yes".into()));
    let mut kept = 0;
    let mut note = opened.note;
    loop {
        match q.next() {
            Ok(Some(_)) => kept += 1,
            Ok(None) => break,
            Err(e) => {
                note = format!("{note} read error after {kept}: {e}");
                break;
            }
        }
    }
    fields.push(("kept".into(), format!("{kept} of 64")));
    // Usable: a new record goes in and comes back out after the old ones.
    let usable = q
        .append(&data[0], true)
        .and_then(|()| q.next())
        .map(|r| {
            if r.is_some() {
                "yes"
            } else {
                "no: not read back"
            }
            .to_string()
        })
        .unwrap_or_else(|e| format!("no: {e}"));
    fields.push(("usable after".into(), usable.replace(['\t', '\n'], " ")));
    fields.push(("note".into(), note.replace(['\t', '\n'], " ")));
    Ok(fields)
}

/// The most recently modified file of at least 20 KB under `dir` (where records were written).
fn last_written(dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for path in files(dir) {
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.len() < 20_000 {
            continue;
        }
        let Ok(mtime) = meta.modified() else { continue };
        if best.as_ref().is_none_or(|(t, _)| mtime >= *t) {
            best = Some((mtime, path));
        }
    }
    best.map(|(_, p)| p)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Bytes allocated on disk under `dir` (blocks, not lengths: sparse files count as used).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    files(dir)
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Drops `dir`'s files from the page cache, so a replay reads from the disk.
fn evict(dir: &Path) {
    use std::os::fd::AsRawFd;
    for path in files(dir) {
        if let Ok(file) = fs::File::open(&path) {
            let _ = file.sync_all();
            fadvise_dontneed(file.as_raw_fd());
        }
    }
}

#[allow(unsafe_code)]
fn fadvise_dontneed(fd: i32) {
    // SAFETY: `fd` is an open descriptor for the duration of the call.
    unsafe {
        libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

fn peak_rss_mib() -> f64 {
    #[allow(unsafe_code)]
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    usage.ru_maxrss as f64 / 1024.0
}

fn p99_us(lat: &mut [Duration]) -> String {
    if lat.is_empty() {
        return "-".into();
    }
    lat.sort_unstable();
    let i = ((lat.len() as f64 * 0.99).ceil() as usize).clamp(1, lat.len()) - 1;
    format!("{}", lat[i].as_micros())
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}
