//! An exclusive lock on a data directory (`flock` on a lock file in it), held while a
//! component has the directory open, so that a second process (or a second instance in this
//! one) on the same directory is refused instead of interleaving writes with the first. Used
//! by the persistent queue and the `store` exporter. The lock goes with the process: a
//! crashed or killed holder leaves nothing to clean up.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long [`DirLock::acquire`] keeps trying while the lock is held: longer than a child
/// process takes from `fork` to `exec`, far shorter than a second lookout's lifetime.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// Why a directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirLockError {
    /// Someone else holds the lock.
    #[error("{} is locked by another process (or another component of this one) using it", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the exclusive `flock` of `dir/<name>` (created if missing). "Would block" is
    /// retried for up to [`LOCK_WAIT`]: a process spawned by any thread of this one holds a
    /// copy of every open file (close-on-exec files too) from `fork` until its `exec`, so a
    /// directory closed and at once reopened in one process (a config reload) could find its
    /// own old lock still held for that moment — the `queue_segment` fuzzer hit it once, and
    /// 248 of 20,000 immediate reopens did beside a thread spawning processes. Only a lock
    /// still held after the wait means another holder; any other failure of the lock call is
    /// reported as itself.
    pub(crate) fn acquire(dir: &Path, name: &str) -> Result<DirLock, DirLockError> {
        let path = dir.join(name);
        let io = |source: std::io::Error| DirLockError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(DirLockError::Locked { path });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(io(e.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), "lock").unwrap();
        let err = DirLock::acquire(dir.path(), "lock").unwrap_err();
        assert!(matches!(err, DirLockError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("is locked by another process"));
        drop(first);
        DirLock::acquire(dir.path(), "lock").unwrap();
    }
}
