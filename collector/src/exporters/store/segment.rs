//! Parquet segments: one file per kind of row, hour and flush, written to a `.tmp` file,
//! fsynced and renamed (a reader never sees a partial segment), read back with row-group
//! pruning (min/max statistics of the time column, the bloom filter on `trace_id`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt8Type, UInt64Type};
use arrow_array::{
    ArrayRef, BinaryArray, FixedSizeBinaryArray, Float64Array, Int64Array, RecordBatch,
    StringArray, UInt8Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use super::rollup::{Agg, RedRow, RollupRow};
use super::rows::{LogRow, PointRow, SpanRow};
use crate::core::Signal;

/// What a segment holds; each kind has its folder under the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// Span summaries.
    Spans,
    /// RED per service, operation and minute.
    Red1m,
    /// Log records.
    Logs,
    /// Raw metric points.
    Points,
    /// Metric rollups per minute.
    Metrics1m,
    /// Metric rollups per hour.
    Metrics1h,
    /// Event records (anomaly episodes, alert state changes): `events.rs`.
    Events,
}

impl Kind {
    /// Every kind.
    pub(crate) const ALL: [Kind; 7] = [
        Kind::Spans,
        Kind::Red1m,
        Kind::Logs,
        Kind::Points,
        Kind::Metrics1m,
        Kind::Metrics1h,
        Kind::Events,
    ];

    /// Its folder's name.
    pub(crate) fn dir(self) -> &'static str {
        match self {
            Kind::Spans => "spans",
            Kind::Red1m => "red_1m",
            Kind::Logs => "logs",
            Kind::Points => "metrics_raw",
            Kind::Metrics1m => "metrics_1m",
            Kind::Metrics1h => "metrics_1h",
            Kind::Events => "events",
        }
    }

    /// The signal whose retention limits apply to it.
    pub(crate) fn signal(self) -> Signal {
        match self {
            Kind::Spans | Kind::Red1m => Signal::Traces,
            Kind::Logs | Kind::Events => Signal::Logs,
            Kind::Points | Kind::Metrics1m | Kind::Metrics1h => Signal::Metrics,
        }
    }

    /// The name of its time column (what statistics prune on).
    fn time_column(self) -> usize {
        match self {
            Kind::Spans => 6,
            Kind::Red1m => 2,
            Kind::Logs | Kind::Events => 0,
            Kind::Points => 3,
            Kind::Metrics1m | Kind::Metrics1h => 3,
        }
    }
}

/// A segment that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SegmentError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a readable Parquet segment of the expected shape.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

impl SegmentError {
    fn format(path: &Path, message: impl std::fmt::Display) -> SegmentError {
        SegmentError::Format {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    fn io(path: &Path, source: std::io::Error) -> SegmentError {
        SegmentError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the file itself is damaged (rather than the disk failing us).
    pub(crate) fn is_corrupt(&self) -> bool {
        matches!(self, SegmentError::Format { .. })
    }
}

/// A closed segment's place: its kind, its hour and the flush that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SegmentName {
    /// Unix hour (`ts / 3600 s`) of every row in it.
    pub hour: i64,
    /// The flush generation that wrote it (for a compacted segment: the newest it merged).
    pub gen_: u64,
    /// Written by compaction: it holds every row of its hour from generations up to `gen_`.
    pub compacted: bool,
}

impl SegmentName {
    /// `<hour>-<gen>.parquet`, `<hour>-<gen>-all.parquet` when compacted.
    pub(crate) fn file_name(&self) -> String {
        let all = if self.compacted { "-all" } else { "" };
        format!("{}-{:016x}{all}.parquet", self.hour, self.gen_)
    }

    /// The name back from a file name; `None` for anything else.
    pub(crate) fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(".parquet")?;
        let (stem, compacted) = match stem.strip_suffix("-all") {
            Some(s) => (s, true),
            None => (stem, false),
        };
        let (hour, gen_) = stem.split_once('-')?;
        Some(SegmentName {
            hour: hour.parse().ok()?,
            gen_: u64::from_str_radix(gen_, 16).ok()?,
            compacted,
        })
    }
}

pub(super) fn fsb<const N: usize>(rows: impl Iterator<Item = [u8; N]>) -> ArrayRef {
    let values: Vec<[u8; N]> = rows.collect();
    // Every value has the declared width: this cannot fail.
    Arc::new(
        FixedSizeBinaryArray::try_from_iter(values.into_iter())
            .unwrap_or_else(|_| FixedSizeBinaryArray::new_null(N as i32, 0)),
    )
}

pub(super) fn string(rows: impl Iterator<Item = impl AsRef<str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows))
}

pub(super) fn i64s(rows: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows))
}

fn u64s(rows: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(rows))
}

fn u8s(rows: impl Iterator<Item = u8>) -> ArrayRef {
    Arc::new(UInt8Array::from_iter_values(rows))
}

fn f64s(rows: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(rows))
}

pub(super) fn schema(fields: &[(&str, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), false))
            .collect::<Vec<_>>(),
    ))
}

fn span_schema() -> SchemaRef {
    schema(&[
        ("trace_id", DataType::FixedSizeBinary(16)),
        ("span_id", DataType::FixedSizeBinary(8)),
        ("parent", DataType::FixedSizeBinary(8)),
        ("service", DataType::Utf8),
        ("name", DataType::Utf8),
        ("kind", DataType::UInt8),
        ("start", DataType::Int64),
        ("dur", DataType::Int64),
        ("status", DataType::UInt8),
        ("verdict", DataType::Utf8),
        ("attrs", DataType::Utf8),
    ])
}

fn log_schema() -> SchemaRef {
    schema(&[
        ("ts", DataType::Int64),
        ("trace_id", DataType::FixedSizeBinary(16)),
        ("span_id", DataType::FixedSizeBinary(8)),
        ("service", DataType::Utf8),
        ("severity", DataType::UInt8),
        ("severity_text", DataType::Utf8),
        ("body", DataType::Utf8),
        ("attrs", DataType::Utf8),
    ])
}

fn point_schema() -> SchemaRef {
    schema(&[
        ("series", DataType::UInt64),
        ("name", DataType::Utf8),
        ("labels", DataType::Utf8),
        ("ts", DataType::Int64),
        ("value", DataType::Float64),
    ])
}

fn rollup_schema() -> SchemaRef {
    schema(&[
        ("series", DataType::UInt64),
        ("name", DataType::Utf8),
        ("labels", DataType::Utf8),
        ("bucket", DataType::Int64),
        ("min", DataType::Float64),
        ("max", DataType::Float64),
        ("sum", DataType::Float64),
        ("count", DataType::UInt64),
    ])
}

fn red_schema() -> SchemaRef {
    schema(&[
        ("service", DataType::Utf8),
        ("operation", DataType::Utf8),
        ("minute", DataType::Int64),
        ("count", DataType::UInt64),
        ("errors", DataType::UInt64),
        ("dur_sum", DataType::Int64),
        ("hist", DataType::Binary),
    ])
}

/// zstd pages; delta-encoded time columns; a bloom filter on `trace_id` when asked, sized
/// for the rows of a group (`rows`, at most `rows_per_group`: a small segment gets a small
/// filter).
pub(super) fn props(
    time: &str,
    bloom: bool,
    rows_per_group: usize,
    rows: usize,
) -> WriterProperties {
    let level = ZstdLevel::try_new(3).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(rows_per_group))
        .set_column_dictionary_enabled(ColumnPath::from(time), false)
        .set_column_encoding(ColumnPath::from(time), Encoding::DELTA_BINARY_PACKED);
    if bloom {
        let c = || ColumnPath::from("trace_id");
        b = b
            .set_column_dictionary_enabled(c(), false)
            .set_column_bloom_filter_enabled(c(), true)
            .set_column_bloom_filter_fpp(c(), 0.01)
            .set_column_bloom_filter_max_ndv(c(), rows.clamp(1, rows_per_group) as u64);
    }
    b.build()
}

/// Writes `batch` to `path` through `path.tmp`, fsynced, then renamed; returns its size.
pub(super) fn write_file(
    path: &Path,
    batch: &RecordBatch,
    props: WriterProperties,
) -> Result<u64, SegmentError> {
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| SegmentError::io(&tmp, e))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))
        .map_err(|e| SegmentError::format(&tmp, e))?;
    w.write(batch).map_err(|e| SegmentError::format(&tmp, e))?;
    let file = w.into_inner().map_err(|e| SegmentError::format(&tmp, e))?;
    file.sync_all().map_err(|e| SegmentError::io(&tmp, e))?;
    let len = file
        .metadata()
        .map_err(|e| SegmentError::io(&tmp, e))?
        .len();
    std::fs::rename(&tmp, path).map_err(|e| SegmentError::io(path, e))?;
    Ok(len)
}

pub(super) fn batch(
    path: &Path,
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
) -> Result<RecordBatch, SegmentError> {
    RecordBatch::try_new(schema, columns).map_err(|e| SegmentError::format(path, e))
}

/// Writes span rows (sorted by start) to `path`.
pub(crate) fn write_spans(path: &Path, rows: &[SpanRow]) -> Result<u64, SegmentError> {
    let b = batch(
        path,
        span_schema(),
        vec![
            fsb(rows.iter().map(|r| r.trace_id)),
            fsb(rows.iter().map(|r| r.span_id)),
            fsb(rows.iter().map(|r| r.parent)),
            string(rows.iter().map(|r| &r.service)),
            string(rows.iter().map(|r| &r.name)),
            u8s(rows.iter().map(|r| r.kind)),
            i64s(rows.iter().map(|r| r.start)),
            i64s(rows.iter().map(|r| r.dur)),
            u8s(rows.iter().map(|r| r.status)),
            string(rows.iter().map(|r| &r.verdict)),
            string(rows.iter().map(|r| &r.attrs)),
        ],
    )?;
    write_file(path, &b, props("start", true, 8192, rows.len()))
}

/// Writes log rows (sorted by time) to `path`.
pub(crate) fn write_logs(path: &Path, rows: &[LogRow]) -> Result<u64, SegmentError> {
    let b = batch(
        path,
        log_schema(),
        vec![
            i64s(rows.iter().map(|r| r.ts)),
            fsb(rows.iter().map(|r| r.trace_id)),
            fsb(rows.iter().map(|r| r.span_id)),
            string(rows.iter().map(|r| &r.service)),
            u8s(rows.iter().map(|r| r.severity)),
            string(rows.iter().map(|r| &r.severity_text)),
            string(rows.iter().map(|r| &r.body)),
            string(rows.iter().map(|r| &r.attrs)),
        ],
    )?;
    write_file(path, &b, props("ts", true, 8192, rows.len()))
}

/// Writes points (sorted by series then time) to `path`.
pub(crate) fn write_points(path: &Path, rows: &[PointRow]) -> Result<u64, SegmentError> {
    let b = batch(
        path,
        point_schema(),
        vec![
            u64s(rows.iter().map(|r| r.series)),
            string(rows.iter().map(|r| &r.name)),
            string(rows.iter().map(|r| &r.labels)),
            i64s(rows.iter().map(|r| r.ts)),
            f64s(rows.iter().map(|r| r.value)),
        ],
    )?;
    write_file(path, &b, props("ts", false, 16384, rows.len()))
}

/// Writes metric rollup rows to `path`.
pub(crate) fn write_rollups(path: &Path, rows: &[RollupRow]) -> Result<u64, SegmentError> {
    let b = batch(
        path,
        rollup_schema(),
        vec![
            u64s(rows.iter().map(|r| r.series)),
            string(rows.iter().map(|r| &r.name)),
            string(rows.iter().map(|r| &r.labels)),
            i64s(rows.iter().map(|r| r.bucket)),
            f64s(rows.iter().map(|r| r.agg.min)),
            f64s(rows.iter().map(|r| r.agg.max)),
            f64s(rows.iter().map(|r| r.agg.sum)),
            u64s(rows.iter().map(|r| r.agg.count)),
        ],
    )?;
    write_file(path, &b, props("bucket", false, 16384, rows.len()))
}

/// Writes RED rows to `path`.
pub(crate) fn write_red(path: &Path, rows: &[RedRow]) -> Result<u64, SegmentError> {
    let b = batch(
        path,
        red_schema(),
        vec![
            string(rows.iter().map(|r| &r.service)),
            string(rows.iter().map(|r| &r.operation)),
            i64s(rows.iter().map(|r| r.minute)),
            u64s(rows.iter().map(|r| r.count)),
            u64s(rows.iter().map(|r| r.errors)),
            i64s(rows.iter().map(|r| r.dur_sum)),
            Arc::new(BinaryArray::from_iter_values(
                rows.iter().map(RedRow::hist_bytes),
            )),
        ],
    )?;
    write_file(path, &b, props("minute", false, 16384, rows.len()))
}

// === reading ===

/// Parsed footers of the segments read so far, so that a query does not parse each
/// segment's footer again. Segment names are never reused, and the store forgets a path when
/// it deletes the file.
#[derive(Debug, Default)]
pub(crate) struct Footers {
    cache: std::sync::Mutex<std::collections::HashMap<PathBuf, ArrowReaderMetadata>>,
}

/// Footers kept at most (a whole cache is dropped when full).
const MAX_FOOTERS: usize = 8192;

impl Footers {
    fn get(&self, path: &Path) -> Result<ArrowReaderMetadata, SegmentError> {
        let lock = || {
            self.cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(meta) = lock().get(path) {
            return Ok(meta.clone());
        }
        let meta = check(path)?;
        let mut cache = lock();
        if cache.len() >= MAX_FOOTERS {
            cache.clear();
        }
        cache.insert(path.to_path_buf(), meta.clone());
        Ok(meta)
    }

    /// Drops the footer of `path` (deleted or moved).
    pub(crate) fn forget(&self, path: &Path) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(path);
    }
}

/// Which rows of a segment a query wants.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Select<'a> {
    /// Unix nanoseconds, inclusive.
    pub from: i64,
    /// Unix nanoseconds, exclusive.
    pub to: i64,
    /// Only row groups whose bloom filter may hold this trace id.
    pub trace_id: Option<&'a [u8; 16]>,
    /// Where footers already parsed are (`None`: parse them).
    pub footers: Option<&'a Footers>,
}

/// Loads and checks a segment's footer (what start-up does to every segment).
pub(crate) fn check(path: &Path) -> Result<ArrowReaderMetadata, SegmentError> {
    let file = File::open(path).map_err(|e| SegmentError::io(path, e))?;
    ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| SegmentError::format(path, e))
}

fn i64_stats(s: Option<&Statistics>) -> Option<(i64, i64)> {
    match s? {
        Statistics::Int64(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        _ => None,
    }
}

/// The record batches of the row groups of `path` that `select` may match.
pub(super) fn read(
    path: &Path,
    kind: Kind,
    select: &Select<'_>,
) -> Result<Vec<RecordBatch>, SegmentError> {
    read_columns(path, kind, select, None)
}

/// [`read`], decoding only the columns `columns` (indexes into the segment's schema, in
/// order; `None`: all of them).
fn read_columns(
    path: &Path,
    kind: Kind,
    select: &Select<'_>,
    columns: Option<&[usize]>,
) -> Result<Vec<RecordBatch>, SegmentError> {
    let meta = match select.footers {
        Some(footers) => footers.get(path)?,
        None => check(path)?,
    };
    let md = meta.metadata().clone();
    let time = kind.time_column();
    let file = File::open(path).map_err(|e| SegmentError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
    let mut groups = Vec::new();
    for rg in 0..md.num_row_groups() {
        let in_range = match i64_stats(md.row_group(rg).column(time).statistics()) {
            Some((lo, hi)) => hi >= select.from && lo < select.to,
            None => true,
        };
        if !in_range {
            continue;
        }
        if let Some(id) = select.trace_id {
            let col = if kind == Kind::Logs { 1 } else { 0 };
            let bloom = builder
                .get_row_group_column_bloom_filter(rg, col)
                .map_err(|e| SegmentError::format(path, e))?;
            if bloom.is_some_and(|b| !b.check(&id[..])) {
                continue;
            }
        }
        groups.push(rg);
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let builder = match columns {
        Some(columns) => {
            let mask = ProjectionMask::leaves(md.file_metadata().schema_descr(), columns.to_vec());
            builder.with_projection(mask)
        }
        None => builder,
    };
    let reader = builder
        .with_row_groups(groups)
        .with_batch_size(8192)
        .build()
        .map_err(|e| SegmentError::format(path, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SegmentError::format(path, e))
}

pub(super) fn expect<'a, T: 'static>(path: &Path, v: Option<&'a T>) -> Result<&'a T, SegmentError> {
    v.ok_or_else(|| SegmentError::format(path, "unexpected column type"))
}

/// Span rows of `path` matching `select`.
pub(crate) fn read_spans(path: &Path, select: &Select<'_>) -> Result<Vec<SpanRow>, SegmentError> {
    let mut out = Vec::new();
    for b in read(path, Kind::Spans, select)? {
        if b.num_columns() != 11 {
            return Err(SegmentError::format(path, "not a span segment"));
        }
        let c = |i: usize| b.column(i);
        let tid = expect(path, c(0).as_fixed_size_binary_opt())?;
        let sid = expect(path, c(1).as_fixed_size_binary_opt())?;
        let par = expect(path, c(2).as_fixed_size_binary_opt())?;
        let svc = expect(path, c(3).as_string_opt::<i32>())?;
        let name = expect(path, c(4).as_string_opt::<i32>())?;
        let kind = expect(path, c(5).as_primitive_opt::<UInt8Type>())?;
        let start = expect(path, c(6).as_primitive_opt::<Int64Type>())?;
        let dur = expect(path, c(7).as_primitive_opt::<Int64Type>())?;
        let status = expect(path, c(8).as_primitive_opt::<UInt8Type>())?;
        let verdict = expect(path, c(9).as_string_opt::<i32>())?;
        let attrs = expect(path, c(10).as_string_opt::<i32>())?;
        for i in 0..b.num_rows() {
            let t = start.value(i);
            if t < select.from || t >= select.to {
                continue;
            }
            if let Some(id) = select.trace_id
                && tid.value(i) != &id[..]
            {
                continue;
            }
            out.push(SpanRow {
                trace_id: tid.value(i).try_into().unwrap_or([0; 16]),
                span_id: sid.value(i).try_into().unwrap_or([0; 8]),
                parent: par.value(i).try_into().unwrap_or([0; 8]),
                service: svc.value(i).to_string(),
                name: name.value(i).to_string(),
                kind: kind.value(i),
                start: t,
                dur: dur.value(i),
                status: status.value(i),
                verdict: verdict.value(i).to_string(),
                attrs: attrs.value(i).to_string(),
            });
        }
    }
    Ok(out)
}

/// The fields of a span row a trace search tests.
pub(crate) struct SpanKeys<'r> {
    /// Unix nanoseconds.
    pub start: i64,
    /// `service.name`.
    pub service: &'r str,
    /// Span name.
    pub name: &'r str,
    /// Nanoseconds.
    pub dur: i64,
    /// OTLP status code.
    pub status: u8,
    /// The `lookout.latency.*` verdict text.
    pub verdict: &'r str,
}

/// (start, trace id) of the span rows of `path` in `select`'s range that `keep` accepts,
/// decoding only the columns a search tests (not ids, parents or attributes).
pub(crate) fn search_spans(
    path: &Path,
    select: &Select<'_>,
    keep: impl Fn(&SpanKeys<'_>) -> bool,
) -> Result<Vec<(i64, [u8; 16])>, SegmentError> {
    const COLUMNS: [usize; 7] = [0, 3, 4, 6, 7, 8, 9];
    let mut out = Vec::new();
    for b in read_columns(path, Kind::Spans, select, Some(&COLUMNS))? {
        if b.num_columns() != COLUMNS.len() {
            return Err(SegmentError::format(path, "not a span segment"));
        }
        let c = |i: usize| b.column(i);
        let tid = expect(path, c(0).as_fixed_size_binary_opt())?;
        let svc = expect(path, c(1).as_string_opt::<i32>())?;
        let name = expect(path, c(2).as_string_opt::<i32>())?;
        let start = expect(path, c(3).as_primitive_opt::<Int64Type>())?;
        let dur = expect(path, c(4).as_primitive_opt::<Int64Type>())?;
        let status = expect(path, c(5).as_primitive_opt::<UInt8Type>())?;
        let verdict = expect(path, c(6).as_string_opt::<i32>())?;
        for i in 0..b.num_rows() {
            let t = start.value(i);
            if t < select.from || t >= select.to {
                continue;
            }
            let keys = SpanKeys {
                start: t,
                service: svc.value(i),
                name: name.value(i),
                dur: dur.value(i),
                status: status.value(i),
                verdict: verdict.value(i),
            };
            if keep(&keys) {
                out.push((t, tid.value(i).try_into().unwrap_or([0; 16])));
            }
        }
    }
    Ok(out)
}

/// Log rows of `path` matching `select`.
pub(crate) fn read_logs(path: &Path, select: &Select<'_>) -> Result<Vec<LogRow>, SegmentError> {
    let mut out = Vec::new();
    for b in read(path, Kind::Logs, select)? {
        if b.num_columns() != 8 {
            return Err(SegmentError::format(path, "not a log segment"));
        }
        let c = |i: usize| b.column(i);
        let ts = expect(path, c(0).as_primitive_opt::<Int64Type>())?;
        let tid = expect(path, c(1).as_fixed_size_binary_opt())?;
        let sid = expect(path, c(2).as_fixed_size_binary_opt())?;
        let svc = expect(path, c(3).as_string_opt::<i32>())?;
        let sev = expect(path, c(4).as_primitive_opt::<UInt8Type>())?;
        let sev_text = expect(path, c(5).as_string_opt::<i32>())?;
        let body = expect(path, c(6).as_string_opt::<i32>())?;
        let attrs = expect(path, c(7).as_string_opt::<i32>())?;
        for i in 0..b.num_rows() {
            let t = ts.value(i);
            if t < select.from || t >= select.to {
                continue;
            }
            if let Some(id) = select.trace_id
                && tid.value(i) != &id[..]
            {
                continue;
            }
            out.push(LogRow {
                ts: t,
                trace_id: tid.value(i).try_into().unwrap_or([0; 16]),
                span_id: sid.value(i).try_into().unwrap_or([0; 8]),
                service: svc.value(i).to_string(),
                severity: sev.value(i),
                severity_text: sev_text.value(i).to_string(),
                body: body.value(i).to_string(),
                attrs: attrs.value(i).to_string(),
            });
        }
    }
    Ok(out)
}

/// Points of `path` in range whose metric is `name` (every metric with `None`).
pub(crate) fn read_points(
    path: &Path,
    select: &Select<'_>,
    name: Option<&str>,
) -> Result<Vec<PointRow>, SegmentError> {
    let mut out = Vec::new();
    for b in read(path, Kind::Points, select)? {
        if b.num_columns() != 5 {
            return Err(SegmentError::format(path, "not a point segment"));
        }
        let c = |i: usize| b.column(i);
        let series = expect(path, c(0).as_primitive_opt::<UInt64Type>())?;
        let names = expect(path, c(1).as_string_opt::<i32>())?;
        let labels = expect(path, c(2).as_string_opt::<i32>())?;
        let ts = expect(path, c(3).as_primitive_opt::<Int64Type>())?;
        let value = expect(path, c(4).as_primitive_opt::<Float64Type>())?;
        for i in 0..b.num_rows() {
            let t = ts.value(i);
            if t < select.from || t >= select.to || name.is_some_and(|n| names.value(i) != n) {
                continue;
            }
            out.push(PointRow {
                series: series.value(i),
                name: names.value(i).to_string(),
                labels: labels.value(i).to_string(),
                ts: t,
                value: value.value(i),
            });
        }
    }
    Ok(out)
}

/// Rollup rows of `path` in range whose metric is `name` (every metric with `None`).
pub(crate) fn read_rollups(
    path: &Path,
    kind: Kind,
    select: &Select<'_>,
    name: Option<&str>,
) -> Result<Vec<RollupRow>, SegmentError> {
    let mut out = Vec::new();
    for b in read(path, kind, select)? {
        if b.num_columns() != 8 {
            return Err(SegmentError::format(path, "not a rollup segment"));
        }
        let c = |i: usize| b.column(i);
        let series = expect(path, c(0).as_primitive_opt::<UInt64Type>())?;
        let names = expect(path, c(1).as_string_opt::<i32>())?;
        let labels = expect(path, c(2).as_string_opt::<i32>())?;
        let bucket = expect(path, c(3).as_primitive_opt::<Int64Type>())?;
        let min = expect(path, c(4).as_primitive_opt::<Float64Type>())?;
        let max = expect(path, c(5).as_primitive_opt::<Float64Type>())?;
        let sum = expect(path, c(6).as_primitive_opt::<Float64Type>())?;
        let count = expect(path, c(7).as_primitive_opt::<UInt64Type>())?;
        for i in 0..b.num_rows() {
            let t = bucket.value(i);
            if t < select.from || t >= select.to || name.is_some_and(|n| names.value(i) != n) {
                continue;
            }
            out.push(RollupRow {
                series: series.value(i),
                name: names.value(i).to_string(),
                labels: labels.value(i).to_string(),
                bucket: t,
                agg: Agg {
                    min: min.value(i),
                    max: max.value(i),
                    sum: sum.value(i),
                    count: count.value(i),
                },
            });
        }
    }
    Ok(out)
}

/// RED rows of `path` in range.
pub(crate) fn read_red(path: &Path, select: &Select<'_>) -> Result<Vec<RedRow>, SegmentError> {
    let mut out = Vec::new();
    for b in read(path, Kind::Red1m, select)? {
        if b.num_columns() != 7 {
            return Err(SegmentError::format(path, "not a RED segment"));
        }
        let c = |i: usize| b.column(i);
        let svc = expect(path, c(0).as_string_opt::<i32>())?;
        let op = expect(path, c(1).as_string_opt::<i32>())?;
        let minute = expect(path, c(2).as_primitive_opt::<Int64Type>())?;
        let count = expect(path, c(3).as_primitive_opt::<UInt64Type>())?;
        let errors = expect(path, c(4).as_primitive_opt::<UInt64Type>())?;
        let dur_sum = expect(path, c(5).as_primitive_opt::<Int64Type>())?;
        let hist = expect(path, c(6).as_binary_opt::<i32>())?;
        for i in 0..b.num_rows() {
            let t = minute.value(i);
            if t < select.from || t >= select.to {
                continue;
            }
            out.push(RedRow {
                service: svc.value(i).to_string(),
                operation: op.value(i).to_string(),
                minute: t,
                count: count.value(i),
                errors: errors.value(i),
                dur_sum: dur_sum.value(i),
                hist: RedRow::hist_from(hist.value(i)),
            });
        }
    }
    Ok(out)
}
