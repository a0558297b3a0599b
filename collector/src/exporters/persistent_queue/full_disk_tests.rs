//! The segment log on a filesystem that is really full (ENOSPC, not `max_size`): a small tmpfs
//! mounted for the test. Appends are refused without leaving a torn record or an empty segment
//! behind, start-up works on the full filesystem, and once space returns appends are taken
//! again and everything read back intact.
//!
//! Mounting needs root (`CAP_SYS_ADMIN`); without it the test prints why and passes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::log::{LogError, LogOptions, SegmentLog};
use crate::core::Signal;

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `Err` says why none could be mounted.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn is_enospc(err: &LogError) -> bool {
    matches!(err, LogError::Io { source, .. } if source.raw_os_error() == Some(28) || source.kind() == io::ErrorKind::StorageFull)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("segment-")
        })
        .collect();
    files.sort();
    files
}

fn payload(n: u64, len: usize) -> Vec<u8> {
    let mut p = format!("record-{n:06}-").into_bytes();
    p.resize(len, b'x');
    p
}

#[test]
fn a_full_filesystem_refuses_appends_without_damage_and_takes_them_again_when_space_returns() {
    let fs = match Tmpfs::mount("1m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED: cannot mount a small filesystem ({why})");
            return;
        }
    };
    let dir = fs.path().join("queue");
    let filler = fs.path().join("filler");
    fs::write(&filler, vec![0u8; 256 << 10]).unwrap();
    // `max_size` far above the filesystem: the filesystem is the limit here.
    let options = LogOptions {
        max_bytes: 1 << 30,
        segment_bytes: 64 << 10,
    };
    let (mut log, _) = SegmentLog::open(&dir, options).unwrap();

    // Records of 10 KiB until the filesystem refuses one.
    let mut appended: Vec<(u64, Vec<u8>)> = Vec::new();
    let err = loop {
        let n = appended.len() as u64;
        let data = payload(n, 10 << 10);
        match log.append(Signal::Traces, 1, &data) {
            Ok(id) => appended.push((id, data)),
            Err(err) => break err,
        }
        assert!(appended.len() < 1000, "a 1 MiB filesystem never filled");
    };
    assert!(is_enospc(&err), "{err}");
    // Then 1-byte records until not even those fit: the last page is used up too.
    let mut small = 0;
    while small < 10_000 {
        let data = payload(appended.len() as u64, 1);
        match log.append(Signal::Traces, 1, &data) {
            Ok(id) => appended.push((id, data)),
            Err(err) => {
                assert!(is_enospc(&err), "{err}");
                break;
            }
        }
        small += 1;
    }
    // A record that needs a new segment: creating it succeeds, its header does not fit.
    let segments_before = segment_files(&dir);
    let err = log
        .append(Signal::Traces, 1, &payload(9999, 64 << 10))
        .unwrap_err();
    assert!(is_enospc(&err), "{err}");
    assert_eq!(
        segment_files(&dir),
        segments_before,
        "a segment whose header could not be written is removed"
    );
    assert_eq!(log.records(), appended.len() as u64);
    // Segment files hold exactly the accepted records (no torn tail left behind).
    let on_disk: u64 = segment_files(&dir)
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(on_disk, log.disk_bytes());
    log.sync().unwrap();
    drop(log);

    // Start-up on the still full filesystem keeps every record and finds nothing damaged.
    let (mut log, recovery) = SegmentLog::open(&dir, options).unwrap();
    assert_eq!(recovery.replayed, appended.len() as u64, "{recovery:?}");
    assert_eq!(recovery.corrupted_bytes, 0, "{recovery:?}");
    assert!(recovery.moved_aside.is_empty(), "{recovery:?}");

    // Space returns: appends are taken again, in a new segment too.
    fs::remove_file(&filler).unwrap();
    for _ in 0..3 {
        let data = payload(appended.len() as u64, 64 << 10);
        let id = log.append(Signal::Traces, 1, &data).unwrap();
        appended.push((id, data));
    }
    let read: Vec<(u64, Vec<u8>)> = std::iter::from_fn(|| log.next_unread_with(|_| None))
        .map(|r| {
            let r = r.unwrap();
            (r.id, r.payload.to_vec())
        })
        .collect();
    assert_eq!(read.len(), appended.len());
    assert!(read == appended, "every record reads back intact, in order");
    for (id, _) in &read {
        log.ack(*id);
    }
    assert_eq!(log.records(), 0);
}
