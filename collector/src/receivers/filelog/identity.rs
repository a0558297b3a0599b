//! Which file is which across polls: a fingerprint (the first `fingerprint_size` bytes) plus
//! device and inode, as the Collector's fileconsumer with inode as the tie-breaker.
//!
//! - Same inode, fingerprint still a prefix and no shrink: the same file (maybe renamed).
//! - Same inode, different start or shrunk: truncated in place (copytruncate). The old reader
//!   waits as an orphan; the new content is read from offset 0.
//! - Other inode with a known fingerprint: the known file moved or was copied. If the known
//!   file is still present under its own inode this is a copy in progress and is skipped (the
//!   data is being read from the original); otherwise the reader continues in the new file at
//!   its offset, which is how copytruncate's rotated copy delivers what was appended before the
//!   truncation.
//! - Several unknown files with the same start in one poll: a file and its copy (the collector
//!   started, or polled, between copytruncate's copy and its truncate); one is read.

// Checked index use is pending the tailer rework (issue 18).
#![allow(clippy::indexing_slicing, clippy::string_slice)]

use std::path::PathBuf;

/// Device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// A file found by this poll.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it was found.
    pub path: PathBuf,
    /// Its device and inode.
    pub id: FileId,
    /// Its size.
    pub size: u64,
    /// Its first bytes.
    pub fingerprint: Vec<u8>,
}

/// A file already tracked (an open reader or a checkpoint entry).
#[derive(Debug, Clone)]
pub struct Known {
    /// The tracker's key.
    pub key: u64,
    /// Device and inode when last seen.
    pub id: FileId,
    /// Its first bytes when last read.
    pub fingerprint: Vec<u8>,
    /// How far it was read.
    pub offset: u64,
    /// Whether its inode still identifies it (false once its content was replaced in place).
    pub by_inode: bool,
}

/// What to do with a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It is tracked file `key`.
    Same(u64),
    /// Its inode is tracked as `key` but its content was replaced: orphan `key`, read this
    /// from the start.
    Truncated(u64),
    /// Tracked file `key` now lives here (a rotated copy or a new device/inode): continue.
    Moved(u64),
    /// A copy of a tracked file that is still present: skip for now.
    Duplicate,
    /// A file never seen.
    New,
}

/// Whether `candidate` begins with the bytes `known` began with.
pub fn same_start(known: &[u8], candidate: &[u8]) -> bool {
    !known.is_empty() && candidate.starts_with(known)
}

/// One decision per candidate, in order.
pub fn decide(known: &[Known], candidates: &[Candidate]) -> Vec<Decision> {
    let mut decisions = vec![Decision::New; candidates.len()];
    let mut claimed: Vec<u64> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        if let Some(k) = known.iter().find(|k| k.by_inode && k.id == c.id) {
            if same_start(&k.fingerprint, &c.fingerprint) && c.size >= k.offset {
                decisions[i] = Decision::Same(k.key);
                claimed.push(k.key);
            } else {
                decisions[i] = Decision::Truncated(k.key);
            }
        }
    }
    for (i, c) in candidates.iter().enumerate() {
        if decisions[i] != Decision::New {
            continue;
        }
        let Some(k) = known
            .iter()
            .filter(|k| same_start(&k.fingerprint, &c.fingerprint))
            // The longest fingerprint is the most specific match.
            .max_by_key(|k| k.fingerprint.len())
        else {
            continue;
        };
        if claimed.contains(&k.key) || c.size < k.offset {
            decisions[i] = Decision::Duplicate;
        } else {
            decisions[i] = Decision::Moved(k.key);
            claimed.push(k.key);
        }
    }
    skip_copies_among_new(candidates, &mut decisions);
    decisions
}

/// Two files never seen before that start alike are one file and its copy (copytruncate's
/// copy made, or being made, before the original is truncated): only one is read. The one
/// kept has the longest start, then the largest size (a copy in progress is never larger than
/// its original); the others are skipped for this poll and, at the next, match the kept
/// reader's fingerprint like any copy of a tracked file.
fn skip_copies_among_new(candidates: &[Candidate], decisions: &mut [Decision]) {
    let rank = |c: &Candidate| (c.fingerprint.len(), c.size);
    for i in 0..candidates.len() {
        if decisions[i] != Decision::New {
            continue;
        }
        let c = &candidates[i];
        let beaten = candidates.iter().enumerate().any(|(j, other)| {
            j != i
                && decisions[j] == Decision::New
                && (same_start(&c.fingerprint, &other.fingerprint)
                    || same_start(&other.fingerprint, &c.fingerprint))
                && (rank(other) > rank(c) || (rank(other) == rank(c) && j < i))
        });
        if beaten {
            decisions[i] = Decision::Duplicate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(path: &str, ino: u64, size: u64, fp: &str) -> Candidate {
        Candidate {
            path: path.into(),
            id: FileId { dev: 1, ino },
            size,
            fingerprint: fp.as_bytes().to_vec(),
        }
    }

    fn known(key: u64, ino: u64, fp: &str, offset: u64) -> Known {
        Known {
            key,
            id: FileId { dev: 1, ino },
            fingerprint: fp.as_bytes().to_vec(),
            offset,
            by_inode: true,
        }
    }

    #[test]
    fn same_file_grows_and_fingerprint_extends() {
        let k = [known(1, 10, "line 1", 6)];
        assert_eq!(
            decide(&k, &[cand("a", 10, 20, "line 1\nline 2")]),
            vec![Decision::Same(1)]
        );
    }

    #[test]
    fn rename_and_create_rotation() {
        // app.log (ino 10) renamed to app.log.1; a new app.log (ino 11) created.
        let k = [known(1, 10, "first", 100)];
        let d = decide(
            &k,
            &[
                cand("app.log", 11, 5, "fresh"),
                cand("app.log.1", 10, 120, "first..."),
            ],
        );
        assert_eq!(d, vec![Decision::New, Decision::Same(1)]);
    }

    #[test]
    fn copytruncate_copy_seen_before_truncation_is_skipped() {
        let k = [known(1, 10, "first", 100)];
        let d = decide(
            &k,
            &[
                cand("app.log", 10, 150, "first..."),
                cand("app.log.1", 12, 150, "first..."),
            ],
        );
        assert_eq!(d, vec![Decision::Same(1), Decision::Duplicate]);
    }

    #[test]
    fn copytruncate_after_truncation_continues_in_the_copy() {
        let k = [known(1, 10, "first", 100)];
        let d = decide(
            &k,
            &[
                cand("app.log", 10, 4, "next"),
                cand("app.log.1", 12, 150, "first..."),
            ],
        );
        assert_eq!(d, vec![Decision::Truncated(1), Decision::Moved(1)]);
        // Truncated to empty and refilled past the old offset: still a truncation.
        let d = decide(&k, &[cand("app.log", 10, 500, "other")]);
        assert_eq!(d, vec![Decision::Truncated(1)]);
        // Once orphaned, the old reader no longer claims the inode.
        let mut orphan = known(1, 10, "first", 100);
        orphan.by_inode = false;
        let d = decide(
            &[orphan, known(2, 10, "next", 4)],
            &[cand("app.log", 10, 9, "next...")],
        );
        assert_eq!(d, vec![Decision::Same(2)]);
    }

    #[test]
    fn checkpoint_after_restart_matches_by_fingerprint_even_on_a_new_inode() {
        let k = [known(1, 99, "first", 100)];
        assert_eq!(
            decide(&k, &[cand("app.log", 12, 150, "first...")]),
            vec![Decision::Moved(1)]
        );
        // Only one candidate may continue a given file.
        let d = decide(
            &k,
            &[
                cand("a", 12, 150, "first..."),
                cand("b", 13, 150, "first..."),
            ],
        );
        assert_eq!(d, vec![Decision::Moved(1), Decision::Duplicate]);
    }

    #[test]
    fn a_copy_found_with_its_original_in_one_poll_is_read_once() {
        // copytruncate copied app.log before the collector ever saw either file.
        let d = decide(
            &[],
            &[
                cand("app.log", 10, 150, "gen two"),
                cand("app.log.1", 11, 90, "gen one"),
                cand("app.log.2", 12, 150, "gen two"),
            ],
        );
        assert_eq!(d, vec![Decision::New, Decision::New, Decision::Duplicate]);
        // The copy is still being written: shorter, its start a prefix of the original's.
        let d = decide(
            &[],
            &[
                cand("app.log.3", 13, 3, "gen"),
                cand("app.log", 10, 150, "gen three"),
            ],
        );
        assert_eq!(d, vec![Decision::Duplicate, Decision::New]);
        // Same start but diverging content: two files.
        let d = decide(
            &[],
            &[cand("a", 10, 9, "header a"), cand("b", 11, 9, "header b")],
        );
        assert_eq!(d, vec![Decision::New, Decision::New]);
        // A skipped copy is a copy of a tracked file at the next poll.
        let d = decide(
            &[known(0, 10, "gen two", 150)],
            &[
                cand("app.log", 10, 150, "gen two"),
                cand("app.log.2", 12, 150, "gen two"),
            ],
        );
        assert_eq!(d, vec![Decision::Same(0), Decision::Duplicate]);
    }

    #[test]
    fn empty_fingerprints_never_match() {
        assert!(!same_start(b"", b"abc"));
        let k = [known(1, 10, "", 0)];
        assert_eq!(decide(&k, &[cand("a", 11, 3, "abc")]), vec![Decision::New]);
    }
}
