//! Compaction: once an hour is over, the segments its flushes wrote (one per flush and kind)
//! are merged into one per kind, sorted as a flush sorts them, with rollup rows of the same
//! key merged. Queries then open one file per kind and hour, whatever the flush interval.
//!
//! The merged segment is named after the newest generation it holds, marked `-all`; it is
//! written (tmp, fsync, rename) before its sources are deleted, and `Store::open` deletes
//! sources a crash left beside it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::db::{Store, StoreError};
use super::rollup::{HOUR_NS, RedRow, RollupRow};
use super::segment::{self, Kind, SegmentName, Select};

impl Store {
    /// Merges the segments of each hour that ended before `now`; returns how many hours.
    pub(crate) fn compact(&self, now: i64) -> Result<usize, StoreError> {
        let all = Select {
            from: i64::MIN,
            to: i64::MAX,
            trace_id: None,
            footers: Some(self.footers()),
        };
        let mut merged = 0;
        for kind in Kind::ALL {
            for (hour, names) in self.compactable(kind, now.div_euclid(HOUR_NS)) {
                let dir = self.dir().join(kind.dir());
                let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n.file_name())).collect();
                let new = SegmentName {
                    hour,
                    gen_: names.iter().map(|n| n.gen_).max().unwrap_or(0),
                    compacted: true,
                };
                let path = dir.join(new.file_name());
                self.reserve(kind, self.bytes_of(kind, &names));
                let bytes = match kind {
                    Kind::Spans => {
                        let mut rows =
                            self.read_paths(kind, &paths, |p| segment::read_spans(p, &all));
                        rows.sort_by_key(|r| r.start);
                        segment::write_spans(&path, &rows)?
                    }
                    Kind::Logs => {
                        let mut rows =
                            self.read_paths(kind, &paths, |p| segment::read_logs(p, &all));
                        rows.sort_by_key(|r| r.ts);
                        segment::write_logs(&path, &rows)?
                    }
                    Kind::Points => {
                        let mut rows =
                            self.read_paths(kind, &paths, |p| segment::read_points(p, &all, None));
                        rows.sort_by(|a, b| {
                            (&a.name, a.series, a.ts).cmp(&(&b.name, b.series, b.ts))
                        });
                        segment::write_points(&path, &rows)?
                    }
                    Kind::Metrics1m | Kind::Metrics1h => {
                        let rows = self.read_paths(kind, &paths, |p| {
                            segment::read_rollups(p, kind, &all, None)
                        });
                        segment::write_rollups(&path, &merge_rollups(rows))?
                    }
                    Kind::Red1m => {
                        let rows = self.read_paths(kind, &paths, |p| segment::read_red(p, &all));
                        segment::write_red(&path, &merge_red(rows))?
                    }
                };
                self.replace(kind, &names, new, bytes);
                merged += 1;
            }
        }
        Ok(merged)
    }
}

/// One row per (series, bucket), sorted by (name, series, bucket).
fn merge_rollups(rows: Vec<RollupRow>) -> Vec<RollupRow> {
    let mut acc: BTreeMap<(u64, i64), RollupRow> = BTreeMap::new();
    for r in rows {
        match acc.get_mut(&(r.series, r.bucket)) {
            Some(a) => a.agg.merge(&r.agg),
            None => {
                acc.insert((r.series, r.bucket), r);
            }
        }
    }
    let mut out: Vec<RollupRow> = acc.into_values().collect();
    // Stable: (series, bucket) order within a name.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One row per (minute, service, operation), sorted so.
fn merge_red(rows: Vec<RedRow>) -> Vec<RedRow> {
    let mut acc: BTreeMap<(i64, String, String), RedRow> = BTreeMap::new();
    for r in rows {
        let key = (r.minute, r.service.clone(), r.operation.clone());
        match acc.get_mut(&key) {
            Some(a) => a.merge(&r),
            None => {
                acc.insert(key, r);
            }
        }
    }
    acc.into_values().collect()
}
