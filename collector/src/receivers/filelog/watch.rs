//! Change notifications (inotify on Linux, through `notify`): which paths were written,
//! created, renamed or removed, so the tailer reads only those files and lists directories
//! rarely.
//!
//! Notifications are trusted only while they are complete. The kernel's queue overflowing
//! (`IN_Q_OVERFLOW`) or this module's own bounded queue filling up loses events: both ask for
//! a full rescan. A directory that cannot be watched (`fs.inotify.max_user_watches` reached, a
//! directory that does not exist yet, a filesystem without inotify) turns the receiver back to
//! polling every `poll_interval`; that is logged once and counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::discover::Finder;

/// Notices waiting for the tailer. Beyond this the tailer is told to rescan instead: one full
/// listing replaces any number of lost notices.
pub(crate) const QUEUE: usize = 8192;

/// What a notification said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Data was written to this path (or it was truncated, or its attributes changed).
    Written(PathBuf),
    /// Something appeared at this path (created, or renamed to it).
    Appeared(PathBuf),
    /// The file at this path went away (deleted, or renamed from it).
    Gone(PathBuf),
    /// A file `include` matches was renamed to a path it may not match: follow it there.
    Renamed {
        /// Its old path.
        from: PathBuf,
        /// Its new path.
        to: PathBuf,
    },
    /// Events were lost: list everything again.
    Rescan,
    /// Notifications stopped being complete for good (`why`): poll every `poll_interval`.
    Unreliable(String),
}

/// A running watch. Dropping it stops the notifications.
pub(crate) struct Watch {
    _watcher: Option<notify::RecommendedWatcher>,
    /// Whether every directory to list is watched (otherwise the tailer polls).
    pub complete: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("complete", &self.complete)
            .finish()
    }
}

fn translate(event: notify::Event, is_included: &dyn Fn(&Path) -> bool) -> Vec<Notice> {
    if event.need_rescan() {
        return vec![Notice::Rescan];
    }
    let mut paths = event.paths.into_iter();
    match event.kind {
        // Opens and reads, ours included, change nothing worth reading.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
            paths.map(Notice::Written).collect()
        }
        EventKind::Access(_) => Vec::new(),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            match (paths.next(), paths.next()) {
                (Some(from), Some(to)) if is_included(&from) => {
                    vec![Notice::Renamed { from, to }]
                }
                (Some(_), Some(to)) => vec![Notice::Appeared(to)],
                _ => Vec::new(),
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => paths.map(Notice::Gone).collect(),
        EventKind::Modify(ModifyKind::Name(_)) | EventKind::Create(_) => {
            paths.map(Notice::Appeared).collect()
        }
        EventKind::Modify(_) => paths.map(Notice::Written).collect(),
        EventKind::Remove(_) => paths.map(Notice::Gone).collect(),
        EventKind::Any | EventKind::Other => Vec::new(),
    }
}

/// Starts watching the directories `finder` lists. Never fails: without notifications the
/// tailer polls. `lost` is set when a notice did not fit in `tx`'s queue; the queue being full,
/// the tailer is awake and sees it once it has taken what is queued.
pub(crate) fn start(
    receiver: &str,
    finder: &Finder,
    tx: mpsc::Sender<Notice>,
    lost: Arc<AtomicBool>,
) -> Watch {
    let is_included = finder.matcher();
    let events = tx.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let notices = match event {
            Ok(event) => translate(event, &is_included),
            Err(err) if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) => {
                vec![Notice::Unreliable(
                    "fs.inotify.max_user_watches reached while watching a new directory".into(),
                )]
            }
            // Other errors (a read of the inotify descriptor failed) may have lost events.
            Err(_) => vec![Notice::Rescan],
        };
        for notice in notices {
            if let Err(mpsc::error::TrySendError::Full(_)) = events.try_send(notice) {
                lost.store(true, Ordering::Release);
                break;
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(err) => {
            let _ = tx.try_send(Notice::Unreliable(format!(
                "file notifications unavailable: {err}"
            )));
            tracing::debug!(receiver, error = %err, "no file notifications");
            return Watch {
                _watcher: None,
                complete: false,
            };
        }
    };
    let mut complete = true;
    for (root, recursive) in finder.watch_roots() {
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        let dir = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        };
        if let Err(err) = watcher.watch(dir, mode) {
            complete = false;
            let why = if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
                "fs.inotify.max_user_watches reached".to_string()
            } else {
                format!("cannot watch {}: {err}", dir.display())
            };
            let _ = tx.try_send(Notice::Unreliable(why));
        }
    }
    Watch {
        _watcher: Some(watcher),
        complete,
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, Flag, RemoveKind};

    use super::*;

    fn ev(kind: EventKind, paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    #[test]
    fn events_become_notices_and_our_own_opens_are_ignored() {
        let inc = |p: &Path| p.extension().is_some_and(|e| e == "log");
        let written = ev(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            &["a.log"],
        );
        assert_eq!(
            translate(written, &inc),
            vec![Notice::Written("a.log".into())]
        );
        let open = ev(
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            &["a.log"],
        );
        assert!(translate(open, &inc).is_empty());
        let created = ev(EventKind::Create(CreateKind::File), &["b.log"]);
        assert_eq!(
            translate(created, &inc),
            vec![Notice::Appeared("b.log".into())]
        );
        let removed = ev(EventKind::Remove(RemoveKind::File), &["b.log"]);
        assert_eq!(translate(removed, &inc), vec![Notice::Gone("b.log".into())]);
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(
            translate(ev(both, &["a.log", "a.1"]), &inc),
            vec![Notice::Renamed {
                from: "a.log".into(),
                to: "a.1".into()
            }]
        );
        assert_eq!(
            translate(ev(both, &["x.tmp", "c.log"]), &inc),
            vec![Notice::Appeared("c.log".into())]
        );
        let overflow = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert_eq!(translate(overflow, &inc), vec![Notice::Rescan]);
    }
}
