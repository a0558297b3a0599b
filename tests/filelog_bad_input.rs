//! Whole-process filelog bad input: binary garbage, a 50 MiB line, invalid UTF-8, a FIFO, a
//! dangling symlink, a file replaced by a directory and (when not running as root) a file
//! without read permission. Each gets a clear log line or is shipped as text, and the receiver
//! keeps tailing the other files.

mod filelog_support;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use filelog_support::{Collector, SinkHandle, config};

/// Lines of `good.log` written before and after the bad input.
const GOOD: usize = 2000;
/// The long line, in bytes (the default `max_log_size` is 1 MiB).
const HUGE: usize = 50 << 20;

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(bytes).expect("append");
}

fn good_lines(from: usize, to: usize) -> Vec<u8> {
    (from..to)
        .map(|n| format!("line {n} good\n"))
        .collect::<String>()
        .into_bytes()
}

/// 100-byte lines of bytes from a fixed xorshift stream, without `\n` or `\r`.
fn garbage(lines: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(lines * 100);
    for _ in 0..lines {
        for _ in 0..99 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 24) as u8;
            out.push(if b == b'\n' || b == b'\r' { 0 } else { b });
        }
        out.push(b'\n');
    }
    out
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_reported_and_the_others_still_tailed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let sink = SinkHandle::start(GOOD * 2).await;
    let include = format!("{}/*.log", d.display());
    let cfg = config(d, &include, sink.port, "");

    append(&d.join("good.log"), &good_lines(0, GOOD));
    append(&d.join("garbage.log"), &garbage(300));
    let mut huge = vec![b'x'; HUGE];
    huge.extend_from_slice(b"\nafter huge\n");
    append(&d.join("huge.log"), &huge);
    drop(huge);
    append(
        &d.join("invalid.log"),
        b"ok \xff\xfe bad utf8 \xc3\x28 end\n",
    );
    append(&d.join("replaced.log"), b"soon a directory\n");
    let made = std::process::Command::new("mkfifo")
        .arg(d.join("fifo.log"))
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo");
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling.log")).expect("symlink");
    let check_permissions = !is_root();
    if check_permissions {
        append(&d.join("unreadable.log"), b"secret\n");
        std::fs::set_permissions(
            d.join("unreadable.log"),
            std::os::unix::fs::PermissionsExt::from_mode(0o000),
        )
        .expect("chmod");
    } else {
        eprintln!(
            "running as root: permissions cannot make a file unreadable; that case is skipped"
        );
    }

    let collector = Collector::start(d, &cfg);
    let foreign = |file: &str| sink.with(|c| c.foreign_by_file.get(file).cloned());
    let arrived = wait_for(Duration::from_secs(120), || {
        sink.with(|c| c.seen(GOOD)) == GOOD
            && foreign("huge.log").is_some_and(|(n, _, _)| n >= 51)
            && foreign("replaced.log").is_some()
            && foreign("invalid.log").is_some()
            && foreign("garbage.log").is_some_and(|(n, _, _)| n >= 300)
    })
    .await;
    let log = || std::fs::read_to_string(d.join("lookout.log")).unwrap_or_default();
    assert!(
        arrived,
        "first round incomplete: {:?}\n{}",
        sink.with(|c| c
            .foreign_by_file
            .iter()
            .map(|(k, v)| (k.clone(), v.0, v.1))
            .collect::<Vec<_>>()),
        log()
    );

    // The file is replaced by a directory while tailed.
    std::fs::remove_file(d.join("replaced.log")).expect("remove");
    std::fs::create_dir(d.join("replaced.log")).expect("mkdir");
    tokio::time::sleep(Duration::from_millis(500)).await;
    append(&d.join("good.log"), &good_lines(GOOD, 2 * GOOD));
    let rest = wait_for(Duration::from_secs(60), || {
        sink.with(|c| c.seen(2 * GOOD)) == 2 * GOOD
    })
    .await;
    assert!(rest, "good.log stopped being tailed\n{}", log());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(collector.stop(), "collector did not stop cleanly");

    let (lost, dup) = sink.with(|c| c.summary(2 * GOOD));
    assert_eq!((lost, dup), (0, 0), "good.log lost / duplicated lines");

    // 50 MiB in 1 MiB pieces, then the next line: nothing dropped.
    let (records, chars, _) = foreign("huge.log").expect("huge.log records");
    assert_eq!(records, 51, "huge.log: 50 pieces + the line after");
    assert_eq!(chars as usize, HUGE + "after huge".len());
    // Garbage arrives as text, one record per line, invalid bytes replaced.
    let (records, chars, _) = foreign("garbage.log").expect("garbage.log records");
    assert_eq!(records, 300);
    assert!(chars >= 300 * 60, "garbage.log bodies too short: {chars}");
    let (_, _, bodies) = foreign("invalid.log").expect("invalid.log record");
    assert_eq!(
        bodies,
        vec!["ok \u{FFFD}\u{FFFD} bad utf8 \u{FFFD}( end".to_string()]
    );
    assert!(foreign("fifo.log").is_none() && foreign("dangling.log").is_none());

    let log = log();
    let warned = |name: &str, why: &str| {
        log.lines()
            .any(|l| l.contains("skipping a path") && l.contains(name) && l.contains(why))
    };
    assert!(
        warned("fifo.log", "not a regular file"),
        "no FIFO warning:\n{log}"
    );
    assert!(
        warned("dangling.log", "cannot stat"),
        "no dangling symlink warning:\n{log}"
    );
    assert!(
        warned("replaced.log", "is a directory"),
        "no directory warning:\n{log}"
    );
    if check_permissions {
        assert!(
            warned("unreadable.log", "Permission denied"),
            "no permission warning:\n{log}"
        );
        assert!(foreign("unreadable.log").is_none());
    }
    // Each is logged once, not at every poll.
    let fifo_warnings = log
        .lines()
        .filter(|l| l.contains("skipping a path") && l.contains("fifo.log"))
        .count();
    assert_eq!(fifo_warnings, 1, "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
