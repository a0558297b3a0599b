//! Splitting a request into chunks of at most N items, for the batch processor's
//! `send_batch_max_size`.
//!
//! Each chunk re-wraps its items with the resource-level and scope-level fields they came
//! from (`resource`, `scope`, `schema_url`, and any unknown fields), copied as bytes. Items are
//! copied whole, except that a metric with more data points than fit is cut between data
//! points, each piece carrying the metric's own fields (name, description, unit, metadata)
//! and its data message's fields (temporality, monotonicity).
//!
//! Field order inside a re-wrapped message may differ from the input (the copied fields come
//! first, then the children) — protobuf decoding does not depend on it, and the relative order
//! of repeated occurrences is preserved.

use super::error::WireError;
use super::reader::{Field, FieldReader, WireValue, len_field_size, put_len_key, put_varint};
use super::validate::metric_data_points;

type Result<T> = std::result::Result<T, WireError>;

/// Splits an encoded `ExportTraceServiceRequest` into chunks of at most `max_spans` spans,
/// keeping span order. Concatenating the chunks decodes to the same spans, each under the same
/// resource and scope.
///
/// `max_spans == 0` means no limit (one chunk). An empty input gives no chunks; resources or
/// scopes without spans travel in the chunk being filled when they are reached. Only the
/// framing down to the spans is read: run [`validate_traces`](super::validate_traces) first.
pub fn split_traces(buf: &[u8], max_spans: usize) -> Result<Vec<Vec<u8>>> {
    split(buf, max_spans, Signal::Counted)
}

/// Splits an encoded `ExportLogsServiceRequest` into chunks of at most `max_records` log
/// records. Same rules as [`split_traces`].
pub fn split_logs(buf: &[u8], max_records: usize) -> Result<Vec<Vec<u8>>> {
    split(buf, max_records, Signal::Counted)
}

/// Splits an encoded `ExportMetricsServiceRequest` into chunks of at most `max_points` data
/// points (summed over all metric types, as the collector counts them). A metric with more
/// points than fit is split between data points; every piece repeats the metric's name,
/// description, unit and metadata and, for sums and histograms, the aggregation temporality
/// (and `is_monotonic`). Metrics without data points travel whole in the current chunk.
pub fn split_metrics(buf: &[u8], max_points: usize) -> Result<Vec<Vec<u8>>> {
    split(buf, max_points, Signal::Metrics)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Each item counts 1 (spans, log records).
    Counted,
    /// Items are metrics counting their data points.
    Metrics,
}

enum Item<'a> {
    Raw(&'a [u8]),
    Owned(Vec<u8>),
}

impl Item<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Item::Raw(b) => b,
            Item::Owned(v) => v,
        }
    }
}

struct ScopeOut<'a> {
    meta: Vec<&'a [u8]>,
    items: Vec<Item<'a>>,
}

struct ResourceOut<'a> {
    meta: Vec<&'a [u8]>,
    scopes: Vec<ScopeOut<'a>>,
}

struct Chunker<'a> {
    max: usize,
    count: usize,
    resources: Vec<ResourceOut<'a>>,
    chunks: Vec<Vec<u8>>,
}

// === impl Chunker ===

impl<'a> Chunker<'a> {
    fn open_resource(&mut self, meta: Vec<&'a [u8]>) {
        self.resources.push(ResourceOut {
            meta,
            scopes: Vec::new(),
        });
    }

    fn open_scope(&mut self, meta: Vec<&'a [u8]>) {
        if let Some(r) = self.resources.last_mut() {
            r.scopes.push(ScopeOut {
                meta,
                items: Vec::new(),
            });
        }
    }

    fn push(&mut self, item: Item<'a>, n: usize) {
        if let Some(s) = self.resources.last_mut().and_then(|r| r.scopes.last_mut()) {
            s.items.push(item);
            self.count += n;
        }
    }

    fn room(&self) -> usize {
        self.max.saturating_sub(self.count)
    }

    /// Emits the chunk being filled and starts a new one under the same resource and scope.
    fn flush_and_reopen(&mut self) {
        let Some(r) = self.resources.last_mut() else {
            return;
        };
        let rmeta = r.meta.clone();
        let smeta = r.scopes.last().map(|s| s.meta.clone());
        // The open resource/scope is reopened in the next chunk; if nothing was put in it yet,
        // leaving an empty copy behind would only add noise to this chunk.
        if r.scopes.last().is_some_and(|s| s.items.is_empty()) {
            r.scopes.pop();
            if r.scopes.is_empty() {
                self.resources.pop();
            }
        }
        self.flush();
        self.open_resource(rmeta);
        if let Some(smeta) = smeta {
            self.open_scope(smeta);
        }
    }

    fn flush(&mut self) {
        if self.resources.is_empty() {
            return;
        }
        let mut scope_lens = Vec::new();
        let mut resource_lens = Vec::with_capacity(self.resources.len());
        let mut total = 0;
        for r in &self.resources {
            let mut rlen: usize = r.meta.iter().map(|m| m.len()).sum();
            for s in &r.scopes {
                let slen: usize = s.meta.iter().map(|m| m.len()).sum::<usize>()
                    + s.items.iter().map(|i| i.bytes().len()).sum::<usize>();
                scope_lens.push(slen);
                rlen += len_field_size(2, slen);
            }
            resource_lens.push(rlen);
            total += len_field_size(1, rlen);
        }
        let mut out = Vec::with_capacity(total);
        let mut scope_len = scope_lens.iter();
        for (r, rlen) in self.resources.iter().zip(&resource_lens) {
            put_len_key(&mut out, 1);
            put_varint(&mut out, *rlen as u64);
            r.meta.iter().for_each(|m| out.extend_from_slice(m));
            for (s, slen) in r.scopes.iter().zip(&mut scope_len) {
                put_len_key(&mut out, 2);
                put_varint(&mut out, *slen as u64);
                s.meta.iter().for_each(|m| out.extend_from_slice(m));
                s.items
                    .iter()
                    .for_each(|i| out.extend_from_slice(i.bytes()));
            }
        }
        debug_assert_eq!(out.len(), total);
        self.chunks.push(out);
        self.resources.clear();
        self.count = 0;
    }
}

/// Splits one resource-level or scope-level message into its copied fields and its children
/// (field 2).
fn partition<'a>(
    payload: &'a [u8],
    base: usize,
    budget: u32,
) -> Result<(Vec<&'a [u8]>, Vec<Field<'a>>)> {
    let mut meta = Vec::new();
    let mut children = Vec::new();
    let mut r = FieldReader::nested(payload, base, budget);
    while let Some(f) = r.next_field()? {
        match f.value {
            WireValue::Len(_) if f.number == 2 => children.push(f),
            _ => meta.push(f.raw),
        }
    }
    Ok((meta, children))
}

fn split(buf: &[u8], max: usize, signal: Signal) -> Result<Vec<Vec<u8>>> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    if max == 0 {
        return Ok(vec![buf.to_vec()]);
    }
    let mut c = Chunker {
        max,
        count: 0,
        resources: Vec::new(),
        chunks: Vec::new(),
    };
    let mut top = FieldReader::new(buf);
    // Unknown top-level fields are dropped: prost ignores them when decoding anyway.
    while let Some(rf) = top.next_field()? {
        let WireValue::Len(rpayload) = rf.value else {
            continue;
        };
        if rf.number != 1 {
            continue;
        }
        let (rmeta, scopes) = partition(rpayload, rf.value_offset, 99)?;
        c.open_resource(rmeta);
        for sf in scopes {
            let WireValue::Len(spayload) = sf.value else {
                continue;
            };
            let (smeta, items) = partition(spayload, sf.value_offset, 98)?;
            c.open_scope(smeta);
            for item in items {
                match signal {
                    Signal::Counted => {
                        if c.room() == 0 {
                            c.flush_and_reopen();
                        }
                        c.push(Item::Raw(item.raw), 1);
                    }
                    Signal::Metrics => push_metric(&mut c, &item)?,
                }
            }
        }
    }
    c.flush();
    Ok(c.chunks)
}

/// Non-point fields and point fields of a data message.
type RawFieldsPair<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

const DATA_FIELDS: [u32; 5] = [5, 7, 9, 10, 11];

fn push_metric<'a>(c: &mut Chunker<'a>, item: &Field<'a>) -> Result<()> {
    let WireValue::Len(payload) = item.value else {
        return Ok(());
    };
    let n = metric_data_points(FieldReader::nested(payload, item.value_offset, 97))?;
    if n <= c.room() {
        c.push(Item::Raw(item.raw), n);
        return Ok(());
    }
    if c.room() == 0 {
        c.flush_and_reopen();
        if n <= c.room() {
            c.push(Item::Raw(item.raw), n);
            return Ok(());
        }
    }

    // Too many points: cut between data points. Only the trailing run of the final oneof
    // variant survives prost's decoding, so only it is split; earlier variants are dropped.
    let mut meta = Vec::new();
    let mut data: Vec<Field<'a>> = Vec::new();
    let mut r = FieldReader::nested(payload, item.value_offset, 97);
    while let Some(f) = r.next_field()? {
        if DATA_FIELDS.contains(&f.number) {
            if data.last().is_some_and(|d| d.number != f.number) {
                data.clear();
            }
            data.push(f);
        } else {
            meta.push(f.raw);
        }
    }
    let Some(variant) = data.first().map(|d| d.number) else {
        c.push(Item::Raw(item.raw), n);
        return Ok(());
    };
    let mut data_meta = Vec::new();
    let mut points = Vec::new();
    for d in &data {
        let WireValue::Len(dp) = d.value else {
            continue;
        };
        let (m, p) = partition_points(dp, d.value_offset)?;
        data_meta.extend(m);
        points.extend(p);
    }

    let meta_len: usize = meta.iter().map(|m| m.len()).sum();
    let data_meta_len: usize = data_meta.iter().map(|m| m.len()).sum();
    let mut rest = &points[..];
    while !rest.is_empty() {
        if c.room() == 0 {
            c.flush_and_reopen();
        }
        let take = c.room().min(rest.len());
        let (piece, tail) = rest.split_at(take);
        rest = tail;
        let data_len = data_meta_len + piece.iter().map(|p| p.len()).sum::<usize>();
        let metric_len = meta_len + len_field_size(variant, data_len);
        let mut out = Vec::with_capacity(len_field_size(2, metric_len));
        put_len_key(&mut out, 2);
        put_varint(&mut out, metric_len as u64);
        meta.iter().for_each(|m| out.extend_from_slice(m));
        put_len_key(&mut out, variant);
        put_varint(&mut out, data_len as u64);
        data_meta.iter().for_each(|m| out.extend_from_slice(m));
        piece.iter().for_each(|p| out.extend_from_slice(p));
        c.push(Item::Owned(out), take);
    }
    Ok(())
}

/// Splits a data message (`Gauge`, `Sum`, ...) into its non-point fields and its data points
/// (field 1), both as raw field bytes.
fn partition_points(payload: &[u8], base: usize) -> Result<RawFieldsPair<'_>> {
    let mut meta = Vec::new();
    let mut points = Vec::new();
    let mut r = FieldReader::nested(payload, base, 96);
    while let Some(f) = r.next_field()? {
        if f.number == 1 {
            points.push(f.raw);
        } else {
            meta.push(f.raw);
        }
    }
    Ok((meta, points))
}
