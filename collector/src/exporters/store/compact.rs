//! Compaction: once an hour is over, the segments its flushes wrote (one per flush and kind)
//! are merged into one per kind, sorted as a flush sorts them, with rollup rows of the same
//! key merged. Queries then open one file per kind and hour, whatever the flush interval.
//!
//! The merged segment is named after the newest generation it holds, marked `-all`; it is
//! written (tmp, fsync, rename) before its sources are deleted, and `Store::open` deletes
//! sources a crash left beside it.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{
    ArrayRef, BinaryArray, Float64Array, Int64Array, RecordBatch, UInt32Array, UInt64Array,
};
use arrow_schema::ArrowError;
use arrow_select::concat::concat_batches;
use arrow_select::take::{take, take_record_batch};

use super::db::{Store, StoreError};
use super::rollup::{HOUR_NS, RedRow};
use super::segment::{self, Kind, Pack, SegmentError, SegmentName};

impl Store {
    /// Merges the segments of each hour that ended before `now`; returns how many hours.
    pub(crate) fn compact(&self, now: i64) -> Result<usize, StoreError> {
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
                // Columns, not rows: the sources' batches are concatenated, sorted (and, for
                // rollups, merged) by index and written; no row is built.
                let batches = self.read_paths(kind, &paths, |p| {
                    segment::read_batches(p, kind, Some(self.footers()))
                });
                let bytes = if in_order(kind, &batches) {
                    // Flushes of a real-time load: each source's rows come after the previous
                    // one's, so they are written as they are, neither concatenated nor sorted.
                    segment::write_batches(&path, kind, &batches, Pack::Small)?
                } else {
                    let batch = merge(kind, &batches).map_err(|e| SegmentError::Format {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                    segment::write_batch(&path, kind, &batch, Pack::Small)?
                };
                self.replace(kind, &names, new, bytes);
                merged += 1;
            }
        }
        Ok(merged)
    }
}

/// Whether `batches` (segments of `kind`, in generation order) are, one after the other,
/// already sorted as [`merge`] sorts them: spans, logs and events whose times never go back.
/// Rollups (whose rows of one key are merged) and points (sorted by name first) never are.
fn in_order(kind: Kind, batches: &[RecordBatch]) -> bool {
    let time = match kind {
        Kind::Spans => 6,
        Kind::Logs | Kind::Events => 0,
        Kind::Red1m | Kind::Points | Kind::Metrics1m | Kind::Metrics1h => return false,
    };
    let mut last = i64::MIN;
    for b in batches {
        let Some(t) = b.column(time).as_primitive_opt::<Int64Type>() else {
            return false;
        };
        for &v in t.values().iter() {
            if v < last {
                return false;
            }
            last = v;
        }
    }
    true
}

/// The rows of `batches` (segments of `kind`) as one batch sorted as a flush sorts them:
/// spans by start, logs by time, points by (name, series, time); rollup rows of the same
/// (name, series, bucket) and RED rows of the same (minute, service, operation) merged into
/// one.
fn merge(kind: Kind, batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let all = concat_batches(&segment::schema_of(kind), batches)?;
    let col = |i: usize| all.column(i);
    let wrong = || ArrowError::SchemaError("unexpected column type".into());
    let i64s = |i: usize| col(i).as_primitive_opt::<Int64Type>().ok_or_else(wrong);
    let u64s = |i: usize| col(i).as_primitive_opt::<UInt64Type>().ok_or_else(wrong);
    let strs = |i: usize| col(i).as_string_opt::<i32>().ok_or_else(wrong);
    let mut idx: Vec<u32> = (0..all.num_rows() as u32).collect();
    let at = |i: &u32| *i as usize;
    match kind {
        Kind::Spans | Kind::Logs | Kind::Events => {
            let t = i64s(if kind == Kind::Spans { 6 } else { 0 })?;
            idx.sort_by_key(|i| t.value(at(i)));
            take_record_batch(&all, &UInt32Array::from(idx))
        }
        Kind::Points => {
            let (series, name, ts) = (u64s(0)?, strs(1)?, i64s(3)?);
            let key = |i: &u32| (name.value(at(i)), series.value(at(i)), ts.value(at(i)));
            idx.sort_by(|a, b| key(a).cmp(&key(b)));
            take_record_batch(&all, &UInt32Array::from(idx))
        }
        Kind::Metrics1m | Kind::Metrics1h => {
            let (series, name, bucket) = (u64s(0)?, strs(1)?, i64s(3)?);
            let key = |i: &u32| (name.value(at(i)), series.value(at(i)), bucket.value(at(i)));
            idx.sort_by(|a, b| key(a).cmp(&key(b)));
            let f64s = |i: usize| col(i).as_primitive_opt::<Float64Type>().ok_or_else(wrong);
            let (min, max, sum, count) = (f64s(4)?, f64s(5)?, f64s(6)?, u64s(7)?);
            let mut firsts: Vec<u32> = Vec::new();
            let (mut mins, mut maxs, mut sums, mut counts) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for i in &idx {
                let r = at(i);
                match firsts.last() {
                    Some(f) if key(f) == key(i) => {
                        let n = firsts.len() - 1;
                        mins[n] = f64::min(mins[n], min.value(r));
                        maxs[n] = f64::max(maxs[n], max.value(r));
                        sums[n] += sum.value(r);
                        counts[n] += count.value(r);
                    }
                    _ => {
                        firsts.push(*i);
                        mins.push(min.value(r));
                        maxs.push(max.value(r));
                        sums.push(sum.value(r));
                        counts.push(count.value(r));
                    }
                }
            }
            let firsts = UInt32Array::from(firsts);
            let mut columns = (0..4)
                .map(|c| take(col(c), &firsts, None))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            columns.push(Arc::new(Float64Array::from(mins)));
            columns.push(Arc::new(Float64Array::from(maxs)));
            columns.push(Arc::new(Float64Array::from(sums)));
            columns.push(Arc::new(UInt64Array::from(counts)));
            RecordBatch::try_new(segment::schema_of(kind), columns)
        }
        Kind::Red1m => {
            let (service, op, minute) = (strs(0)?, strs(1)?, i64s(2)?);
            let key = |i: &u32| (minute.value(at(i)), service.value(at(i)), op.value(at(i)));
            idx.sort_by(|a, b| key(a).cmp(&key(b)));
            let (count, errors, dur_sum) = (u64s(3)?, u64s(4)?, i64s(5)?);
            let hist = col(6).as_binary_opt::<i32>().ok_or_else(wrong)?;
            let mut firsts: Vec<u32> = Vec::new();
            let mut rows: Vec<RedRow> = Vec::new();
            for i in &idx {
                let r = at(i);
                let row = RedRow {
                    service: String::new(),
                    operation: String::new(),
                    minute: minute.value(r),
                    count: count.value(r),
                    errors: errors.value(r),
                    dur_sum: dur_sum.value(r),
                    hist: RedRow::hist_from(hist.value(r)),
                };
                match (firsts.last(), rows.last_mut()) {
                    (Some(f), Some(acc)) if key(f) == key(i) => acc.merge(&row),
                    _ => {
                        firsts.push(*i);
                        rows.push(row);
                    }
                }
            }
            let firsts = UInt32Array::from(firsts);
            let mut columns = (0..3)
                .map(|c| take(col(c), &firsts, None))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            columns.push(Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.count),
            )));
            columns.push(Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.errors),
            )));
            columns.push(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.dur_sum),
            )));
            columns.push(Arc::new(BinaryArray::from_iter_values(
                rows.iter().map(RedRow::hist_bytes),
            )));
            RecordBatch::try_new(segment::schema_of(kind), columns)
        }
    }
}
