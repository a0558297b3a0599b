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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

/// Device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// A file found by this poll.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
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
pub(crate) struct Known {
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
pub(crate) enum Decision {
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
pub(crate) fn same_start(known: &[u8], candidate: &[u8]) -> bool {
    !known.is_empty() && candidate.starts_with(known)
}

/// Tracked files indexed for matching: by (device, inode) and by exact fingerprint, so a
/// poll costs O(files × distinct fingerprint lengths) instead of O(files²). Distinct lengths
/// are few in practice: every file longer than `fingerprint_size` has the full length.
struct Index<'a> {
    by_inode: HashMap<FileId, &'a Known>,
    by_start: HashMap<&'a [u8], &'a Known>,
    /// Distinct fingerprint lengths, longest first.
    lengths: Vec<usize>,
}

impl<'a> Index<'a> {
    fn new(known: &'a [Known]) -> Index<'a> {
        let mut by_inode = HashMap::with_capacity(known.len());
        let mut by_start: HashMap<&[u8], &Known> = HashMap::with_capacity(known.len());
        let mut lengths = Vec::new();
        for k in known {
            if k.by_inode {
                // The first one listed claims an inode, as a linear search would.
                by_inode.entry(k.id).or_insert(k);
            }
            if k.fingerprint.is_empty() {
                continue;
            }
            // Among equal fingerprints the last one listed wins, as `max_by_key` would.
            by_start.insert(k.fingerprint.as_slice(), k);
            lengths.push(k.fingerprint.len());
        }
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        Index {
            by_inode,
            by_start,
            lengths,
        }
    }

    /// The tracked file with the longest fingerprint that `fingerprint` starts with.
    fn longest_start(&self, fingerprint: &[u8]) -> Option<&'a Known> {
        self.lengths
            .iter()
            .filter(|&&len| len <= fingerprint.len())
            .find_map(|&len| {
                fingerprint
                    .get(..len)
                    .and_then(|start| self.by_start.get(start))
            })
            .copied()
    }
}

/// One decision per candidate, in order.
pub(crate) fn decide(known: &[Known], candidates: &[Candidate]) -> Vec<Decision> {
    let index = Index::new(known);
    let mut decisions = vec![Decision::New; candidates.len()];
    let mut claimed: HashSet<u64> = HashSet::new();
    for (d, c) in decisions.iter_mut().zip(candidates) {
        if let Some(k) = index.by_inode.get(&c.id) {
            if same_start(&k.fingerprint, &c.fingerprint) && c.size >= k.offset {
                *d = Decision::Same(k.key);
                claimed.insert(k.key);
            } else {
                *d = Decision::Truncated(k.key);
            }
        }
    }
    for (d, c) in decisions.iter_mut().zip(candidates) {
        if *d != Decision::New {
            continue;
        }
        let Some(k) = index.longest_start(&c.fingerprint) else {
            continue;
        };
        if claimed.contains(&k.key) || c.size < k.offset {
            *d = Decision::Duplicate;
        } else {
            *d = Decision::Moved(k.key);
            claimed.insert(k.key);
        }
    }
    skip_copies_among_new(candidates, &mut decisions);
    decisions
}

/// Two files never seen before that start alike are one file and its copy (copytruncate's
/// copy made, or being made, before the original is truncated): only one is read. The one
/// kept has the longest start, then the largest size (a copy in progress is never larger than
/// its original), then comes first; the others are skipped for this poll and, at the next,
/// match the kept reader's fingerprint like any copy of a tracked file.
///
/// Candidates are visited best first and kept unless a kept one starts with their start.
/// Sorted by fingerprint, the fingerprints that start with a given one follow it in one run,
/// so that test is a range query: O(n log n) rather than comparing every pair.
fn skip_copies_among_new(candidates: &[Candidate], decisions: &mut [Decision]) {
    // (position in `candidates`, candidate) for the candidates still `New`.
    let new: Vec<(usize, &Candidate)> = candidates
        .iter()
        .zip(decisions.iter())
        .enumerate()
        .filter(|(_, (_, d))| **d == Decision::New)
        .map(|(i, (c, _))| (i, c))
        .collect();
    if new.len() < 2 {
        return;
    }
    let mut sorted = new.clone();
    sorted.sort_by(|(_, a), (_, b)| a.fingerprint.cmp(&b.fingerprint));
    let position: HashMap<usize, usize> = sorted
        .iter()
        .enumerate()
        .map(|(pos, &(i, _))| (i, pos))
        .collect();
    let rank = |c: &Candidate| (c.fingerprint.len(), c.size);
    let mut order = new;
    order.sort_by(|&(a, ca), &(b, cb)| rank(cb).cmp(&rank(ca)).then(a.cmp(&b)));
    let mut kept: BTreeSet<usize> = BTreeSet::new();
    for (i, c) in order {
        let fp = &c.fingerprint;
        // An empty start tells nothing apart (see `same_start`).
        if fp.is_empty() {
            continue;
        }
        let Some((before, after)) = position
            .get(&i)
            .and_then(|&pos| sorted.split_at_checked(pos))
        else {
            continue;
        };
        // Equal fingerprints sort next to each other in any order: start at the first one.
        let from = before.partition_point(|(_, o)| o.fingerprint < *fp);
        let to = before.len() + after.partition_point(|(_, o)| o.fingerprint.starts_with(fp));
        // A kept candidate that ranks higher either starts with this one's start or is equal;
        // one that this one's start begins with is shorter and visited later.
        if kept.range(from..to).next().is_some() {
            if let Some(d) = decisions.get_mut(i) {
                *d = Decision::Duplicate;
            }
        } else {
            kept.insert(before.len());
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
    #[allow(clippy::string_slice)] // ASCII fingerprints
    fn ten_thousand_files_with_shared_prefixes_are_told_apart() {
        // Fingerprints of many lengths (small files) sharing prefixes of many lengths.
        let fp = |i: u64| format!("{{\"file\":{i:06},\"timestamp\":\"2026-01-01\"}}");
        let n = 10_000u64;
        let known: Vec<Known> = (0..n)
            .map(|i| known(i, 100_000 + i, &fp(i)[..20 + (i % 17) as usize], 20))
            .collect();
        let mut cands = Vec::new();
        let mut want = Vec::new();
        for i in 0..n {
            match i % 4 {
                // Still there, grown.
                0 => {
                    cands.push(cand("a", 100_000 + i, 500, &fp(i)));
                    want.push(Decision::Same(i));
                }
                // Restored from a checkpoint on another inode.
                1 => {
                    cands.push(cand("b", 300_000 + i, 500, &fp(i)));
                    want.push(Decision::Moved(i));
                }
                // Truncated in place and rewritten.
                2 => {
                    cands.push(cand("c", 100_000 + i, 5, "rewritten"));
                    want.push(Decision::Truncated(i));
                }
                _ => {}
            }
        }
        // A copy of a file seen in the same poll, and new files with unseen starts.
        cands.push(cand("copy", 900_000, 500, &fp(0)));
        want.push(Decision::Duplicate);
        for i in n..n + 100 {
            cands.push(cand("new", 500_000 + i, 500, &fp(i)));
            want.push(Decision::New);
        }
        assert_eq!(decide(&known, &cands), want);
    }

    #[test]
    fn empty_fingerprints_never_match() {
        assert!(!same_start(b"", b"abc"));
        let k = [known(1, 10, "", 0)];
        assert_eq!(decide(&k, &[cand("a", 11, 3, "abc")]), vec![Decision::New]);
    }
}
