//! Parquet segments: one file per kind of row, hour and flush, written to a `.tmp` file,
//! fsynced and renamed (a reader never sees a partial segment), read back with row-group
//! pruning (min/max statistics of the time column, the bloom filter on `trace_id`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::BooleanArray;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt8Type, UInt64Type};
use arrow_array::{
    ArrayRef, BinaryArray, FixedSizeBinaryArray, Float64Array, Int64Array, RecordBatch,
    StringArray, UInt8Array, UInt64Array,
};
use arrow_schema::ArrowError;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReaderBuilder,
    RowFilter,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use parquet::schema::types::SchemaDescriptor;

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

    /// The index of its time column (what statistics prune on).
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

/// How hard a segment's pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pack {
    /// zstd level 1: a flush's segment, usually merged by compaction once its hour ends.
    /// Not uncompressed: retention makes room for a flush's segments by the size of the
    /// write-ahead log they replace, which an uncompressed segment can exceed (the disk then
    /// went past `max_bytes` until the flush committed: `tests/store_retention.rs`).
    Fast,
    /// zstd level 3: a compacted segment, kept until retention deletes it.
    Small,
}

/// The Arrow schema of `kind`'s segments.
pub(crate) fn schema_of(kind: Kind) -> SchemaRef {
    match kind {
        Kind::Spans => span_schema(),
        Kind::Red1m => red_schema(),
        Kind::Logs => log_schema(),
        Kind::Points => point_schema(),
        Kind::Metrics1m | Kind::Metrics1h => rollup_schema(),
        Kind::Events => super::events::event_schema(),
    }
}

/// Columns (nearly) every value of which differs: written without a dictionary, which would
/// only be built, outgrow its page limit and be dropped.
fn unique_columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Spans => &["span_id", "parent", "attrs"],
        Kind::Logs => &["span_id", "body", "attrs"],
        Kind::Events => &["body", "attrs"],
        Kind::Red1m | Kind::Points | Kind::Metrics1m | Kind::Metrics1h => &[],
    }
}

/// zstd pages (level 1 for a flush's segment, 3 once compacted); the time column delta-encoded; spans and logs in row groups of 8,192 rows
/// with a bloom filter on `trace_id` sized for the rows of a group (`rows`, at most a
/// group: a small segment gets a small filter), metrics in groups of 16,384.
fn props(kind: Kind, rows: usize, pack: Pack) -> WriterProperties {
    let compression = match pack {
        Pack::Fast => Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()),
        Pack::Small => Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
    };
    let time = schema_of(kind).field(kind.time_column()).name().clone();
    let bloom = matches!(kind, Kind::Spans | Kind::Logs);
    let rows_per_group = if bloom { 8192 } else { 16384 };
    let mut b = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(rows_per_group))
        .set_column_dictionary_enabled(ColumnPath::from(time.as_str()), false)
        .set_column_encoding(
            ColumnPath::from(time.as_str()),
            Encoding::DELTA_BINARY_PACKED,
        );
    for c in unique_columns(kind) {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*c), false);
    }
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

/// Writes `batch`, rows of `kind` sorted as its segments are, to `path` (see
/// [`write_file`]).
pub(crate) fn write_batch(
    path: &Path,
    kind: Kind,
    batch: &RecordBatch,
    pack: Pack,
) -> Result<u64, SegmentError> {
    write_batches(path, kind, std::slice::from_ref(batch), pack)
}

/// Writes `batches` one after the other, their rows (all together) of `kind` sorted as its
/// segments are, to `path` (see [`write_file`]).
pub(crate) fn write_batches(
    path: &Path,
    kind: Kind,
    batches: &[RecordBatch],
    pack: Pack,
) -> Result<u64, SegmentError> {
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    write_file(path, &schema_of(kind), batches, props(kind, rows, pack))
}

/// Writes `batches` (of `schema`) to `path` through `path.tmp`, fsynced, then renamed;
/// returns its size.
pub(super) fn write_file(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<u64, SegmentError> {
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| SegmentError::io(&tmp, e))?;
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .map_err(|e| SegmentError::format(&tmp, e))?;
    for batch in batches {
        w.write(batch).map_err(|e| SegmentError::format(&tmp, e))?;
    }
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
pub(crate) fn write_spans(path: &Path, rows: &[&SpanRow], pack: Pack) -> Result<u64, SegmentError> {
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
    write_batch(path, Kind::Spans, &b, pack)
}

/// Writes log rows (sorted by time) to `path`.
pub(crate) fn write_logs(path: &Path, rows: &[&LogRow], pack: Pack) -> Result<u64, SegmentError> {
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
    write_batch(path, Kind::Logs, &b, pack)
}

/// Writes points (sorted by name, series, then time) to `path`.
pub(crate) fn write_points(
    path: &Path,
    rows: &[&PointRow],
    pack: Pack,
) -> Result<u64, SegmentError> {
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
    write_batch(path, Kind::Points, &b, pack)
}

/// Writes metric rollup rows (sorted by name, series, then bucket) to `path`.
pub(crate) fn write_rollups(
    path: &Path,
    kind: Kind,
    rows: &[RollupRow],
    pack: Pack,
) -> Result<u64, SegmentError> {
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
    write_batch(path, kind, &b, pack)
}

/// Writes RED rows to `path`.
pub(crate) fn write_red(path: &Path, rows: &[RedRow], pack: Pack) -> Result<u64, SegmentError> {
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
    write_batch(path, Kind::Red1m, &b, pack)
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

/// Min and max of an integer column of any width (a `UInt8` is stored as INT32).
fn int_stats(s: Option<&Statistics>) -> Option<(i64, i64)> {
    match s? {
        Statistics::Int32(v) => Some((i64::from(*v.min_opt()?), i64::from(*v.max_opt()?))),
        Statistics::Int64(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        _ => None,
    }
}

/// Min and max of a string column (bounds: a truncated max is rounded up).
fn bytes_stats(s: Option<&Statistics>) -> Option<(&[u8], &[u8])> {
    match s? {
        Statistics::ByteArray(v) => Some((v.min_opt()?.data(), v.max_opt()?.data())),
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

/// A segment opened for reading: its footer, a reader builder, and the row groups a query
/// may need.
struct Opened {
    md: Arc<ParquetMetaData>,
    builder: ParquetRecordBatchReaderBuilder<File>,
    groups: Vec<usize>,
}

/// Opens `path` and picks the row groups `select` may match (time statistics, the trace id's
/// bloom filter) that `keep` accepts too; `None` when there are none.
fn open_groups(
    path: &Path,
    kind: Kind,
    select: &Select<'_>,
    keep: impl Fn(&RowGroupMetaData) -> bool,
) -> Result<Option<Opened>, SegmentError> {
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
        if !in_range || !keep(md.row_group(rg)) {
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
        return Ok(None);
    }
    Ok(Some(Opened {
        md,
        builder,
        groups,
    }))
}

/// [`read`], decoding only the columns `columns` (indexes into the segment's schema, in
/// order; `None`: all of them).
fn read_columns(
    path: &Path,
    kind: Kind,
    select: &Select<'_>,
    columns: Option<&[usize]>,
) -> Result<Vec<RecordBatch>, SegmentError> {
    read_groups(path, kind, select, columns, |_| true)
}

/// [`read_columns`] of the row groups `keep` accepts.
fn read_groups(
    path: &Path,
    kind: Kind,
    select: &Select<'_>,
    columns: Option<&[usize]>,
    keep: impl Fn(&RowGroupMetaData) -> bool,
) -> Result<Vec<RecordBatch>, SegmentError> {
    let Some(open) = open_groups(path, kind, select, keep)? else {
        return Ok(Vec::new());
    };
    let builder = match columns {
        Some(columns) => {
            let mask =
                ProjectionMask::leaves(open.md.file_metadata().schema_descr(), columns.to_vec());
            open.builder.with_projection(mask)
        }
        None => open.builder,
    };
    let reader = builder
        .with_row_groups(open.groups)
        .with_batch_size(8192)
        .build()
        .map_err(|e| SegmentError::format(path, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SegmentError::format(path, e))
}

/// Column of the metric name in point and rollup segments.
const METRIC_NAME: usize = 1;

/// The record batches of a point or rollup segment in `select`'s range whose metric is `name`
/// (every metric with `None`). Segments are sorted by name: row groups whose name statistics
/// exclude it are skipped, and in the others the other columns are decoded only for the
/// rows of that name.
fn read_named(
    path: &Path,
    kind: Kind,
    select: &Select<'_>,
    name: Option<&str>,
) -> Result<Vec<RecordBatch>, SegmentError> {
    let Some(name) = name else {
        return read(path, kind, select);
    };
    let keep = |rg: &RowGroupMetaData| {
        bytes_stats(rg.column(METRIC_NAME).statistics())
            .is_none_or(|(lo, hi)| lo <= name.as_bytes() && name.as_bytes() <= hi)
    };
    let Some(open) = open_groups(path, kind, select, keep)? else {
        return Ok(Vec::new());
    };
    let schema = open.md.file_metadata().schema_descr_ptr();
    let want = name.to_string();
    let pred = ArrowPredicateFn::new(ProjectionMask::leaves(&schema, [METRIC_NAME]), move |b| {
        let c = strings(&b)?;
        Ok(bools(c.iter().map(|s| s == Some(want.as_str()))))
    });
    let reader = open
        .builder
        .with_row_groups(open.groups)
        .with_row_filter(RowFilter::new(vec![Box::new(pred)]))
        .with_batch_size(8192)
        .build()
        .map_err(|e| SegmentError::format(path, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SegmentError::format(path, e))
}

/// Every row of `path` as record batches of its kind's schema (what compaction merges).
pub(crate) fn read_batches(
    path: &Path,
    kind: Kind,
    footers: Option<&Footers>,
) -> Result<Vec<RecordBatch>, SegmentError> {
    let select = Select {
        from: i64::MIN,
        to: i64::MAX,
        trace_id: None,
        footers,
    };
    let want = schema_of(kind);
    let batches = read(path, kind, &select)?;
    for b in &batches {
        let same = b.num_columns() == want.fields().len()
            && b.schema()
                .fields()
                .iter()
                .zip(want.fields())
                .all(|(a, w)| a.data_type() == w.data_type());
        if !same {
            return Err(SegmentError::format(
                path,
                format!("not a {} segment", kind.dir()),
            ));
        }
    }
    Ok(batches)
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

/// What a trace search asks of single span rows, pushed down into the segment reader
/// (every `None` accepts anything). The time range is the [`Select`]'s.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanFilter {
    /// `service.name` equals this.
    pub service: Option<String>,
    /// The span name equals this.
    pub name: Option<String>,
    /// Duration at least this (nanoseconds).
    pub min_dur: Option<i64>,
    /// Duration at most this (nanoseconds).
    pub max_dur: Option<i64>,
    /// Status is error (`Some(true)`) or not (`Some(false)`).
    pub error: Option<bool>,
    /// The verdict text contains this.
    pub verdict_contains: Option<String>,
}

/// OTLP's error status code.
const STATUS_ERROR: u8 = 2;

impl SpanFilter {
    /// Whether a row group whose statistics are those of `rg` may hold a matching row.
    fn may_match(&self, rg: &RowGroupMetaData) -> bool {
        let dur = i64_stats(rg.column(SPAN_DUR).statistics());
        if let (Some(min), Some((_, hi))) = (self.min_dur, dur)
            && hi < min
        {
            return false;
        }
        if let (Some(max), Some((lo, _))) = (self.max_dur, dur)
            && lo > max
        {
            return false;
        }
        if let (Some(e), Some((lo, hi))) =
            (self.error, int_stats(rg.column(SPAN_STATUS).statistics()))
        {
            let (lo, hi) = (lo == i64::from(STATUS_ERROR), hi == i64::from(STATUS_ERROR));
            // All errors, or none (the status codes are 0, 1, 2).
            let may = if e { hi } else { !(lo && hi) };
            if !may {
                return false;
            }
        }
        for (want, col) in [(&self.service, SPAN_SERVICE), (&self.name, SPAN_NAME)] {
            if let (Some(v), Some((lo, hi))) = (want, bytes_stats(rg.column(col).statistics()))
                && (v.as_bytes() < lo || v.as_bytes() > hi)
            {
                return false;
            }
        }
        true
    }

    /// The row filter: the cheapest columns first, each predicate decoding its column only
    /// for the rows the ones before it kept (a row group none of whose rows is left is not
    /// read further). Status, service, name and verdict are small (few distinct values:
    /// dictionary pages); duration and start are 8 bytes a row, read last.
    fn row_filter(&self, schema: &SchemaDescriptor, from: i64, to: i64, time: bool) -> RowFilter {
        let mut preds: Vec<Box<dyn ArrowPredicate>> = Vec::new();
        let mask = |col: usize| ProjectionMask::leaves(schema, [col]);
        if let Some(e) = self.error {
            preds.push(Box::new(ArrowPredicateFn::new(
                mask(SPAN_STATUS),
                move |b| {
                    let c = column::<UInt8Type>(&b)?;
                    Ok(bools(c.values().iter().map(|&s| (s == STATUS_ERROR) == e)))
                },
            )));
        }
        for (want, col) in [(&self.service, SPAN_SERVICE), (&self.name, SPAN_NAME)] {
            if let Some(v) = want.clone() {
                preds.push(Box::new(ArrowPredicateFn::new(mask(col), move |b| {
                    let c = strings(&b)?;
                    Ok(bools(c.iter().map(|s| s == Some(v.as_str()))))
                })));
            }
        }
        if let Some(v) = self.verdict_contains.clone() {
            preds.push(Box::new(ArrowPredicateFn::new(
                mask(SPAN_VERDICT),
                move |b| {
                    let c = strings(&b)?;
                    Ok(bools(
                        c.iter().map(|s| s.is_some_and(|s| s.contains(v.as_str()))),
                    ))
                },
            )));
        }
        if self.min_dur.is_some() || self.max_dur.is_some() {
            let (lo, hi) = (
                self.min_dur.unwrap_or(i64::MIN),
                self.max_dur.unwrap_or(i64::MAX),
            );
            preds.push(Box::new(ArrowPredicateFn::new(mask(SPAN_DUR), move |b| {
                let c = column::<Int64Type>(&b)?;
                Ok(bools(c.values().iter().map(|&d| d >= lo && d <= hi)))
            })));
        }
        if time {
            preds.push(Box::new(ArrowPredicateFn::new(
                mask(SPAN_START),
                move |b| {
                    let c = column::<Int64Type>(&b)?;
                    Ok(bools(c.values().iter().map(|&t| t >= from && t < to)))
                },
            )));
        }
        RowFilter::new(preds)
    }
}

fn bools(values: impl Iterator<Item = bool>) -> BooleanArray {
    BooleanArray::from_iter(values.map(Some))
}

fn wrong_type() -> ArrowError {
    ArrowError::SchemaError("unexpected column type".into())
}

fn column<T: arrow_array::ArrowPrimitiveType>(
    b: &RecordBatch,
) -> Result<&arrow_array::PrimitiveArray<T>, ArrowError> {
    b.column(0).as_primitive_opt::<T>().ok_or_else(wrong_type)
}

fn strings(b: &RecordBatch) -> Result<&StringArray, ArrowError> {
    b.column(0).as_string_opt::<i32>().ok_or_else(wrong_type)
}

// Columns of a span segment.
const SPAN_TRACE_ID: usize = 0;
const SPAN_SERVICE: usize = 3;
const SPAN_NAME: usize = 4;
const SPAN_START: usize = 6;
const SPAN_DUR: usize = 7;
const SPAN_STATUS: usize = 8;
const SPAN_VERDICT: usize = 9;

/// (start, trace id) of the span rows of `path` in `select`'s range that `filter` accepts.
/// Row groups whose statistics exclude a match are skipped; in the others the predicate
/// columns are decoded first (status, service, name, verdict, duration, start: each only
/// for the rows the ones before kept), then the trace id and start of the matching rows.
pub(crate) fn search_spans(
    path: &Path,
    select: &Select<'_>,
    filter: &SpanFilter,
) -> Result<Vec<(i64, [u8; 16])>, SegmentError> {
    let Some(open) = open_groups(path, Kind::Spans, select, |rg| filter.may_match(rg))? else {
        return Ok(Vec::new());
    };
    let schema = open.md.file_metadata().schema_descr_ptr();
    // The time predicate only where a row group reaches out of the range.
    let time = open.groups.iter().any(|&rg| {
        i64_stats(open.md.row_group(rg).column(SPAN_START).statistics())
            .is_none_or(|(lo, hi)| lo < select.from || hi >= select.to)
    });
    let reader = open
        .builder
        .with_row_groups(open.groups)
        .with_row_filter(filter.row_filter(&schema, select.from, select.to, time))
        .with_projection(ProjectionMask::leaves(&schema, [SPAN_TRACE_ID, SPAN_START]))
        .with_batch_size(8192)
        .build()
        .map_err(|e| SegmentError::format(path, e))?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| SegmentError::format(path, e))?;
        if b.num_columns() != 2 {
            return Err(SegmentError::format(path, "not a span segment"));
        }
        let tid = expect(path, b.column(0).as_fixed_size_binary_opt())?;
        let start = expect(path, b.column(1).as_primitive_opt::<Int64Type>())?;
        for i in 0..b.num_rows() {
            out.push((start.value(i), tid.value(i).try_into().unwrap_or([0; 16])));
        }
    }
    Ok(out)
}

/// [`search_spans`] without pushdown, for comparison: decodes the tested columns of every
/// row group in range and filters the rows with `keep`.
#[cfg(test)]
pub(crate) fn scan_spans(
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
    for b in read_named(path, Kind::Points, select, name)? {
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
    for b in read_named(path, kind, select, name)? {
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
