//! Parquet candidate: one segment file per signal and simulated hour, zstd, one row group per
//! minute for spans and logs (bloom filter on `trace_id`, delta-encoded timestamps), metric points
//! buffered for the hour and written sorted by (series, ts) in 16 Ki-row groups so that min/max
//! statistics prune a series lookup to one row group per file. Queries scan the segment files
//! with row-group pruning (min/max statistics, bloom filters); footers and bloom filters are
//! cached by the reader. A segment is readable only once closed (its footer written); until then
//! its rows are in a per-signal write-ahead log (appended on every write, truncated when the
//! segment closes), so the ingest figures include the cost of durability as the other engines'.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt8Type};
use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeBinaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, UInt8Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::bloom_filter::Sbbf;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use crate::engine::{Reader, Res, Writer};
use crate::workload::{
    HIST_BUCKETS, Log, MINUTE_NS, OPS, Point, Red, SERVICES, ServiceRed, Span, T0, bucket,
    merge_red,
};

const HOUR_NS: i64 = 60 * MINUTE_NS;

fn span_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent", DataType::FixedSizeBinary(8), false),
        Field::new("service", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::UInt8, false),
        Field::new("start", DataType::Int64, false),
        Field::new("dur", DataType::Int64, false),
        Field::new("status", DataType::UInt8, false),
        Field::new("verdict", DataType::UInt8, false),
        Field::new("attrs", DataType::Utf8, false),
    ]))
}
fn red_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("minute", DataType::Int64, false),
        Field::new("service", DataType::Int32, false),
        Field::new("count", DataType::Int64, false),
        Field::new("errors", DataType::Int64, false),
        Field::new("hist", DataType::Binary, false),
    ]))
}
fn point_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::Int32, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]))
}
fn log_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("seq", DataType::Int64, false),
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("service", DataType::Int32, false),
        Field::new("severity", DataType::UInt8, false),
        Field::new("body", DataType::Utf8, false),
    ]))
}

fn props(delta: &[&str], bloom: bool, rows: usize) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
        .set_max_row_group_row_count(Some(rows));
    for c in delta {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(*c), false)
            .set_column_encoding(ColumnPath::from(*c), Encoding::DELTA_BINARY_PACKED);
    }
    if bloom {
        let c = || ColumnPath::from("trace_id");
        b = b
            .set_column_dictionary_enabled(c(), false)
            .set_column_bloom_filter_enabled(c(), true)
            .set_column_bloom_filter_fpp(c(), 0.01)
            .set_column_bloom_filter_max_ndv(c(), 2000);
    }
    b.build()
}

/// One open segment writer (`None` between hours).
struct Seg {
    w: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
}

impl Seg {
    fn open(dir: &Path, kind: &str, hour: i64, schema: SchemaRef, p: WriterProperties) -> Res<Seg> {
        let path = dir.join(format!("{kind}-{hour:04}.parquet"));
        let tmp = dir.join(format!("{kind}-{hour:04}.parquet.tmp"));
        Ok(Seg {
            w: ArrowWriter::try_new(File::create(&tmp)?, schema, Some(p))?,
            tmp,
            path,
        })
    }
    fn close(self) -> Res<()> {
        let f = self.w.into_inner()?;
        f.sync_all()?;
        std::fs::rename(&self.tmp, &self.path)?; // readers only ever see complete segments
        Ok(())
    }
}

/// The writer: current hour's segments and the buffered points and rollups.
pub struct PqWriter {
    dir: PathBuf,
    /// Minutes written so far per signal (each write call is one minute).
    span_minutes: i64,
    log_minutes: i64,
    point_minutes: i64,
    spans: Option<Seg>,
    logs: Option<Seg>,
    points: Vec<Point>,
    red: Vec<Red>,
    /// Write-ahead logs of the rows not yet in a closed segment, one per signal (spans, points,
    /// logs): appended before the rows are buffered, truncated once their segment is closed.
    wal: [File; 3],
    buf: Vec<u8>,
}

/// Opens a writer and a reader on `dir`.
pub fn open_pair(dir: &Path) -> Res<(Box<dyn Writer>, Box<dyn Reader>)> {
    std::fs::create_dir_all(dir)?;
    let w = PqWriter {
        dir: dir.to_path_buf(),
        span_minutes: 0,
        log_minutes: 0,
        point_minutes: 0,
        spans: None,
        logs: None,
        points: Vec::new(),
        red: Vec::new(),
        wal: [wal(dir, "spans")?, wal(dir, "points")?, wal(dir, "logs")?],
        buf: Vec::with_capacity(1 << 20),
    };
    Ok((
        Box::new(w),
        Box::new(PqReader {
            dir: dir.to_path_buf(),
            cache: HashMap::new(),
        }),
    ))
}

fn wal(dir: &Path, kind: &str) -> Res<File> {
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("wal-{kind}.log")))?)
}

impl PqWriter {
    /// Appends the encoded rows in `buf` to WAL `i` (to the OS; fsynced when the segment closes,
    /// the same durability as SQLite's `synchronous=NORMAL` and fjall's default).
    fn log(&mut self, i: usize) -> Res<()> {
        use std::io::Write;
        self.wal[i].write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
    /// Empties WAL `i` once its rows are in a closed segment.
    fn truncate(&mut self, i: usize) -> Res<()> {
        self.wal[i].set_len(0)?;
        Ok(())
    }
}

fn fsb(rows: impl Iterator<Item = Vec<u8>>) -> Res<ArrayRef> {
    Ok(Arc::new(FixedSizeBinaryArray::try_from_iter(rows)?))
}

impl PqWriter {
    fn close_spans(&mut self) -> Res<()> {
        let hour = (self.span_minutes - 1).div_euclid(60);
        if let Some(s) = self.spans.take() {
            s.close()?;
        }
        if !self.red.is_empty() {
            let r = std::mem::take(&mut self.red);
            let b = RecordBatch::try_new(
                red_schema(),
                vec![
                    Arc::new(Int64Array::from_iter_values(r.iter().map(|x| x.minute))),
                    Arc::new(Int32Array::from_iter_values(
                        r.iter().map(|x| i32::from(x.service)),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        r.iter().map(|x| x.count as i64),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        r.iter().map(|x| x.errors as i64),
                    )),
                    Arc::new(arrow_array::BinaryArray::from_iter_values(
                        r.iter().map(|x| x.hist_bytes()),
                    )),
                ],
            )?;
            let mut s = Seg::open(
                &self.dir,
                "red",
                hour,
                red_schema(),
                props(&[], false, 1 << 20),
            )?;
            s.w.write(&b)?;
            s.close()?;
        }
        self.truncate(0)
    }

    fn close_points(&mut self) -> Res<()> {
        if self.points.is_empty() {
            return Ok(());
        }
        let hour = (self.point_minutes - 1).div_euclid(60);
        let mut pts = std::mem::take(&mut self.points);
        pts.sort_unstable_by_key(|p| (p.series, p.ts));
        let b = RecordBatch::try_new(
            point_schema(),
            vec![
                Arc::new(Int32Array::from_iter_values(
                    pts.iter().map(|p| p.series as i32),
                )),
                Arc::new(Int64Array::from_iter_values(pts.iter().map(|p| p.ts))),
                Arc::new(Float64Array::from_iter_values(pts.iter().map(|p| p.value))),
            ],
        )?;
        let mut s = Seg::open(
            &self.dir,
            "points",
            hour,
            point_schema(),
            props(&["ts"], false, 16384),
        )?;
        s.w.write(&b)?;
        s.close()?;
        self.truncate(1)
    }
}

impl Writer for PqWriter {
    fn write_spans(&mut self, spans: &[Span], red: &[Red]) -> Res<()> {
        for s in spans {
            let b = &mut self.buf;
            b.extend_from_slice(&s.trace_id);
            b.extend_from_slice(&s.span_id);
            b.extend_from_slice(&s.parent);
            b.extend_from_slice(&s.service.to_le_bytes());
            b.extend_from_slice(&s.name.to_le_bytes());
            b.extend_from_slice(&[s.kind, s.status, s.verdict]);
            b.extend_from_slice(&s.start.to_le_bytes());
            b.extend_from_slice(&s.dur.to_le_bytes());
            crate::engine::codec::put_bytes(b, s.attrs.as_bytes());
        }
        self.log(0)?;
        if self.spans.is_none() {
            let p = props(&["start"], true, 1 << 20);
            self.spans = Some(Seg::open(
                &self.dir,
                "spans",
                self.span_minutes / 60,
                span_schema(),
                p,
            )?);
        }
        let b = RecordBatch::try_new(
            span_schema(),
            vec![
                fsb(spans.iter().map(|s| s.trace_id.to_vec()))?,
                fsb(spans.iter().map(|s| s.span_id.to_vec()))?,
                fsb(spans.iter().map(|s| s.parent.to_vec()))?,
                Arc::new(StringArray::from_iter_values(
                    spans.iter().map(|s| SERVICES[usize::from(s.service)]),
                )),
                Arc::new(StringArray::from_iter_values(
                    spans.iter().map(|s| OPS[usize::from(s.name)]),
                )),
                Arc::new(UInt8Array::from_iter_values(spans.iter().map(|s| s.kind))),
                Arc::new(Int64Array::from_iter_values(spans.iter().map(|s| s.start))),
                Arc::new(Int64Array::from_iter_values(spans.iter().map(|s| s.dur))),
                Arc::new(UInt8Array::from_iter_values(spans.iter().map(|s| s.status))),
                Arc::new(UInt8Array::from_iter_values(
                    spans.iter().map(|s| s.verdict),
                )),
                Arc::new(StringArray::from_iter_values(
                    spans.iter().map(|s| s.attrs.as_str()),
                )),
            ],
        )?;
        let seg = self.spans.as_mut().unwrap();
        seg.w.write(&b)?;
        seg.w.flush()?; // one row group per minute
        self.red.extend_from_slice(red);
        self.span_minutes += 1;
        if self.span_minutes % 60 == 0 {
            self.close_spans()?;
        }
        Ok(())
    }

    fn write_points(&mut self, points: &[Point]) -> Res<()> {
        for p in points {
            self.buf.extend_from_slice(&p.series.to_le_bytes());
            self.buf.extend_from_slice(&p.ts.to_le_bytes());
            self.buf.extend_from_slice(&p.value.to_le_bytes());
        }
        self.log(1)?;
        self.points.extend_from_slice(points);
        self.point_minutes += 1;
        if self.point_minutes % 60 == 0 {
            self.close_points()?;
        }
        Ok(())
    }

    fn write_logs(&mut self, logs: &[Log]) -> Res<()> {
        for l in logs {
            let b = &mut self.buf;
            b.extend_from_slice(&l.ts.to_le_bytes());
            b.extend_from_slice(&l.trace_id);
            b.extend_from_slice(&l.span_id);
            b.extend_from_slice(&l.service.to_le_bytes());
            b.push(l.severity);
            crate::engine::codec::put_bytes(b, l.body.as_bytes());
        }
        self.log(2)?;
        if self.logs.is_none() {
            let p = props(&["ts", "seq"], true, 1 << 20);
            self.logs = Some(Seg::open(
                &self.dir,
                "logs",
                self.log_minutes / 60,
                log_schema(),
                p,
            )?);
        }
        let b = RecordBatch::try_new(
            log_schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(logs.iter().map(|l| l.ts))),
                Arc::new(Int64Array::from_iter_values(
                    logs.iter().map(|l| l.seq as i64),
                )),
                fsb(logs.iter().map(|l| l.trace_id.to_vec()))?,
                fsb(logs.iter().map(|l| l.span_id.to_vec()))?,
                Arc::new(Int32Array::from_iter_values(
                    logs.iter().map(|l| i32::from(l.service)),
                )),
                Arc::new(UInt8Array::from_iter_values(
                    logs.iter().map(|l| l.severity),
                )),
                Arc::new(StringArray::from_iter_values(
                    logs.iter().map(|l| l.body.as_str()),
                )),
            ],
        )?;
        let seg = self.logs.as_mut().unwrap();
        seg.w.write(&b)?;
        seg.w.flush()?;
        self.log_minutes += 1;
        if self.log_minutes % 60 == 0
            && let Some(s) = self.logs.take()
        {
            s.close()?;
            self.truncate(2)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Res<()> {
        self.close_spans()?;
        self.close_points()?;
        if let Some(s) = self.logs.take() {
            s.close()?;
            self.truncate(2)?;
        }
        Ok(())
    }

    fn disk_bytes(&self) -> Res<(u64, u64, u64)> {
        let mut t = (0, 0, 0);
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let n = e.file_name().to_string_lossy().into_owned();
            let len = e.metadata()?.len();
            if n.starts_with("spans-") || n.starts_with("red-") || n == "wal-spans.log" {
                t.0 += len;
            } else if n.starts_with("points-") || n == "wal-points.log" {
                t.1 += len;
            } else if n.starts_with("logs-") || n == "wal-logs.log" {
                t.2 += len;
            }
        }
        Ok(t)
    }
}

/// A closed segment's footer and its row groups' `trace_id` bloom filters, loaded once.
struct Cached {
    meta: ArrowReaderMetadata,
    /// Loaded on the first lookup by trace id.
    blooms: Option<Vec<Option<Sbbf>>>,
}

/// The reader: lists closed segments, caches their footers.
pub struct PqReader {
    dir: PathBuf,
    cache: HashMap<PathBuf, Cached>,
}

fn i64_stats(s: Option<&Statistics>) -> Option<(i64, i64)> {
    match s? {
        Statistics::Int64(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        Statistics::Int32(v) => Some((i64::from(*v.min_opt()?), i64::from(*v.max_opt()?))),
        _ => None,
    }
}

impl PqReader {
    /// Closed segments of `kind` whose hour overlaps `[from, to)`, newest first.
    fn segments(&self, kind: &str, from: i64, to: i64) -> Res<Vec<PathBuf>> {
        let (h0, h1) = (
            (from - T0).div_euclid(HOUR_NS),
            (to - 1 - T0).div_euclid(HOUR_NS),
        );
        let mut v: Vec<(i64, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let n = e?.file_name().to_string_lossy().into_owned();
            if let Some(h) = n
                .strip_prefix(kind)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.strip_suffix(".parquet"))
                && let Ok(h) = h.parse::<i64>()
                && h >= h0
                && h <= h1
            {
                v.push((h, self.dir.join(n)));
            }
        }
        v.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(v.into_iter().map(|x| x.1).collect())
    }

    fn cached(&mut self, p: &Path, bloom_col: Option<usize>) -> Res<&Cached> {
        if !self.cache.contains_key(p) {
            let meta = ArrowReaderMetadata::load(&File::open(p)?, Default::default())?;
            self.cache
                .insert(p.to_path_buf(), Cached { meta, blooms: None });
        }
        let c = self.cache.get_mut(p).unwrap();
        if let Some(col) = bloom_col
            && c.blooms.is_none()
        {
            let b =
                ParquetRecordBatchReaderBuilder::new_with_metadata(File::open(p)?, c.meta.clone());
            let mut blooms = Vec::new();
            for rg in 0..c.meta.metadata().num_row_groups() {
                blooms.push(b.get_row_group_column_bloom_filter(rg, col)?);
            }
            c.blooms = Some(blooms);
        }
        Ok(&self.cache[p])
    }

    /// Reads `cols` of the row groups `rgs` of segment `p`.
    fn read(&mut self, p: &Path, cols: &[usize], rgs: Vec<usize>) -> Res<Vec<RecordBatch>> {
        if rgs.is_empty() {
            return Ok(Vec::new());
        }
        let meta = self.cached(p, None)?.meta.clone();
        let mask = ProjectionMask::roots(
            meta.metadata().file_metadata().schema_descr(),
            cols.iter().copied(),
        );
        let r = ParquetRecordBatchReaderBuilder::new_with_metadata(File::open(p)?, meta)
            .with_projection(mask)
            .with_row_groups(rgs)
            .with_batch_size(8192)
            .build()?;
        Ok(r.collect::<Result<Vec<_>, _>>()?)
    }

    /// Row groups of `p` whose `col` statistics overlap `[lo, hi]`.
    fn prune(&mut self, p: &Path, col: usize, lo: i64, hi: i64) -> Res<Vec<usize>> {
        let c = self.cached(p, None)?;
        let md = c.meta.metadata();
        Ok((0..md.num_row_groups())
            .filter(
                |&i| match i64_stats(md.row_group(i).column(col).statistics()) {
                    Some((a, b)) => b >= lo && a <= hi,
                    None => true,
                },
            )
            .collect())
    }

    /// Row groups of `p` whose bloom filter on column `col` may hold `id`.
    fn bloom(&mut self, p: &Path, col: usize, id: &[u8; 16]) -> Res<Vec<usize>> {
        let c = self.cached(p, Some(col))?;
        Ok(c.blooms
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, b)| b.as_ref().is_none_or(|b| b.check(&id[..])))
            .map(|x| x.0)
            .collect())
    }
}

fn svc_index(s: &str) -> u16 {
    SERVICES.iter().position(|x| *x == s).unwrap_or(0) as u16
}

impl Reader for PqReader {
    fn red(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>> {
        let (m0, m1) = (
            (from - T0).div_euclid(MINUTE_NS),
            (to - T0).div_euclid(MINUTE_NS),
        );
        let mut rows = Vec::new();
        for p in self.segments("red", from, to)? {
            let rgs = self.prune(&p, 0, m0, m1 - 1)?;
            for b in self.read(&p, &[0, 1, 2, 3, 4], rgs)? {
                let (m, s) = (
                    b.column(0).as_primitive::<Int64Type>(),
                    b.column(1).as_primitive::<Int32Type>(),
                );
                let (c, e, h) = (
                    b.column(2).as_primitive::<Int64Type>(),
                    b.column(3).as_primitive::<Int64Type>(),
                    b.column(4).as_binary::<i32>(),
                );
                for i in 0..b.num_rows() {
                    if m.value(i) >= m0 && m.value(i) < m1 {
                        rows.push((
                            s.value(i) as u16,
                            c.value(i) as u64,
                            e.value(i) as u64,
                            Red::hist_from(h.value(i)),
                        ));
                    }
                }
            }
        }
        Ok(merge_red(rows.into_iter()))
    }

    fn red_raw(&mut self, from: i64, to: i64) -> Res<Vec<ServiceRed>> {
        let mut acc: Vec<(u16, u64, u64, [u32; HIST_BUCKETS])> = (0..SERVICES.len() as u16)
            .map(|s| (s, 0, 0, [0; HIST_BUCKETS]))
            .collect();
        for p in self.segments("spans", from, to)? {
            let rgs = self.prune(&p, 6, from, to - 1)?;
            for b in self.read(&p, &[3, 6, 7, 8], rgs)? {
                let svc = b.column(0).as_string::<i32>();
                let (st, d, s) = (
                    b.column(1).as_primitive::<Int64Type>(),
                    b.column(2).as_primitive::<Int64Type>(),
                    b.column(3).as_primitive::<UInt8Type>(),
                );
                for i in 0..b.num_rows() {
                    if st.value(i) >= from && st.value(i) < to {
                        let a = &mut acc[usize::from(svc_index(svc.value(i)))];
                        a.1 += 1;
                        a.2 += u64::from(s.value(i) == 2);
                        a.3[bucket(d.value(i))] += 1;
                    }
                }
            }
        }
        Ok(merge_red(acc.into_iter()))
    }

    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Span>> {
        let mut out = Vec::new();
        for p in self.segments("spans", T0, i64::MAX / 2)? {
            let rgs = self.bloom(&p, 0, trace_id)?;
            for b in self.read(&p, &(0..11).collect::<Vec<_>>(), rgs)? {
                let t = b.column(0).as_fixed_size_binary();
                for i in 0..b.num_rows() {
                    if t.value(i) == trace_id {
                        let fb = |c: usize| b.column(c).as_fixed_size_binary().value(i).to_vec();
                        let u8c = |c: usize| b.column(c).as_primitive::<UInt8Type>().value(i);
                        let i64c = |c: usize| b.column(c).as_primitive::<Int64Type>().value(i);
                        let name = b.column(4).as_string::<i32>().value(i);
                        out.push(Span {
                            trace_id: *trace_id,
                            span_id: fb(1).try_into().unwrap(),
                            parent: fb(2).try_into().unwrap(),
                            service: svc_index(b.column(3).as_string::<i32>().value(i)),
                            name: OPS.iter().position(|x| *x == name).unwrap_or(0) as u16,
                            kind: u8c(5),
                            start: i64c(6),
                            dur: i64c(7),
                            status: u8c(8),
                            verdict: u8c(9),
                            attrs: b.column(10).as_string::<i32>().value(i).to_string(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    fn search(
        &mut self,
        service: u16,
        min_dur: i64,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Res<Vec<[u8; 16]>> {
        let want = SERVICES[usize::from(service)];
        let mut out: Vec<[u8; 16]> = Vec::new();
        for p in self.segments("spans", from, to)? {
            let rgs = self.prune(&p, 6, from, to - 1)?;
            if rgs.is_empty() {
                continue;
            }
            let meta = self.cached(&p, None)?.meta.clone();
            let sd = meta.metadata().file_metadata().schema_descr_ptr();
            // Predicate pushdown: only rows with status = error, dur >= min and start in range
            // decode the trace id and service columns.
            let pred = ArrowPredicateFn::new(
                ProjectionMask::roots(&sd, [6, 7, 8]),
                move |b: RecordBatch| {
                    let (st, d, s) = (
                        b.column(0).as_primitive::<Int64Type>(),
                        b.column(1).as_primitive::<Int64Type>(),
                        b.column(2).as_primitive::<UInt8Type>(),
                    );
                    Ok(BooleanArray::from_iter((0..b.num_rows()).map(|i| {
                        Some(
                            s.value(i) == 2
                                && d.value(i) >= min_dur
                                && st.value(i) >= from
                                && st.value(i) < to,
                        )
                    })))
                },
            );
            let r = ParquetRecordBatchReaderBuilder::new_with_metadata(File::open(&p)?, meta)
                .with_projection(ProjectionMask::roots(&sd, [0, 3, 6]))
                .with_row_groups(rgs)
                .with_row_filter(RowFilter::new(vec![Box::new(pred)]))
                .build()?;
            let mut hits: Vec<(i64, [u8; 16])> = Vec::new();
            for b in r {
                let b = b?;
                let (t, svc, st) = (
                    b.column(0).as_fixed_size_binary(),
                    b.column(1).as_string::<i32>(),
                    b.column(2).as_primitive::<Int64Type>(),
                );
                for i in 0..b.num_rows() {
                    if svc.value(i) == want {
                        hits.push((st.value(i), t.value(i).try_into().unwrap()));
                    }
                }
            }
            hits.sort_by(|a, b| b.0.cmp(&a.0));
            for (_, id) in hits {
                if !out.contains(&id) {
                    out.push(id);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    fn series(&mut self, series: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        let mut acc: std::collections::BTreeMap<i64, (f64, u32)> = Default::default();
        for p in self.segments("points", from, to)? {
            let rgs = self.prune(&p, 0, i64::from(series), i64::from(series))?;
            for b in self.read(&p, &[0, 1, 2], rgs)? {
                let (s, t, v) = (
                    b.column(0).as_primitive::<Int32Type>(),
                    b.column(1).as_primitive::<Int64Type>(),
                    b.column(2).as_primitive::<Float64Type>(),
                );
                for i in 0..b.num_rows() {
                    if s.value(i) as u32 == series && t.value(i) >= from && t.value(i) < to {
                        let e = acc
                            .entry(t.value(i).div_euclid(MINUTE_NS) * MINUTE_NS)
                            .or_default();
                        e.0 += v.value(i);
                        e.1 += 1;
                    }
                }
            }
        }
        Ok(acc
            .into_iter()
            .map(|(m, (s, n))| (m, s / f64::from(n)))
            .collect())
    }

    fn trace_logs(&mut self, trace_id: &[u8; 16]) -> Res<Vec<Log>> {
        let mut out = Vec::new();
        for p in self.segments("logs", T0, i64::MAX / 2)? {
            let rgs = self.bloom(&p, 2, trace_id)?;
            for b in self.read(&p, &(0..7).collect::<Vec<_>>(), rgs)? {
                let t = b.column(2).as_fixed_size_binary();
                for i in 0..b.num_rows() {
                    if t.value(i) == trace_id {
                        out.push(Log {
                            ts: b.column(0).as_primitive::<Int64Type>().value(i),
                            seq: b.column(1).as_primitive::<Int64Type>().value(i) as u64,
                            trace_id: *trace_id,
                            span_id: b
                                .column(3)
                                .as_fixed_size_binary()
                                .value(i)
                                .try_into()
                                .unwrap(),
                            service: b.column(4).as_primitive::<Int32Type>().value(i) as u16,
                            severity: b.column(5).as_primitive::<UInt8Type>().value(i),
                            body: b.column(6).as_string::<i32>().value(i).to_string(),
                        });
                    }
                }
            }
        }
        out.sort_by_key(|l| (l.ts, l.seq));
        Ok(out)
    }
}
