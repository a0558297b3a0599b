//! The questions the console, the Jaeger API and the reports ask the store: a trace by id and
//! its logs, trace search, services and operations, one metric over a range at a step, RED
//! per service. Each merges the rows in memory with the closed segments of the range; a range
//! with no data answers empty.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::db::Store;
use super::rollup::{self, Agg, HOUR_NS, MINUTE_NS, RedRow};
use super::rows::{LogRow, SpanRow};
use super::segment::{self, Kind, Select, SpanFilter, SpanKeys};

/// How an anomalous span's verdict reads (`rows.rs` writes it without spaces).
const ANOMALOUS: &str = r#""lookout.latency.anomaly":true"#;

/// Every time.
const ALL: (i64, i64) = (i64::MIN, i64::MAX);

/// A trace search.
#[derive(Debug, Clone, Default)]
pub(crate) struct Search {
    /// Only traces with a span of this service.
    pub service: Option<String>,
    /// ... whose operation is this.
    pub operation: Option<String>,
    /// ... lasting at least this (nanoseconds).
    pub min_duration: Option<i64>,
    /// ... lasting at most this (nanoseconds).
    pub max_duration: Option<i64>,
    /// ... with error status (`Some(true)`), or without (`Some(false)`).
    pub error: Option<bool>,
    /// ... tagged anomalous by the `latency_anomaly` processor.
    pub anomalous: bool,
    /// Span start range, unix nanoseconds `[from, to)`.
    pub from: i64,
    /// See `from`.
    pub to: i64,
    /// Most traces answered.
    pub limit: usize,
}

impl Search {
    fn matches(&self, s: &SpanRow) -> bool {
        self.matches_keys(&SpanKeys {
            start: s.start,
            service: &s.service,
            name: &s.name,
            dur: s.dur,
            status: s.status,
            verdict: &s.verdict,
        })
    }

    /// What the segment reader tests (the time range apart).
    fn filter(&self) -> SpanFilter {
        SpanFilter {
            service: self.service.clone(),
            name: self.operation.clone(),
            min_dur: self.min_duration,
            max_dur: self.max_duration,
            error: self.error,
            verdict_contains: self.anomalous.then(|| ANOMALOUS.to_string()),
        }
    }

    fn matches_keys(&self, s: &SpanKeys<'_>) -> bool {
        s.start >= self.from
            && s.start < self.to
            && self.service.as_deref().is_none_or(|v| v == s.service)
            && self.operation.as_deref().is_none_or(|v| v == s.name)
            && self.min_duration.is_none_or(|d| s.dur >= d)
            && self.max_duration.is_none_or(|d| s.dur <= d)
            && self.error.is_none_or(|e| (s.status == 2) == e)
            && (!self.anomalous || s.verdict.contains(ANOMALOUS))
    }
}

/// One series of a metric over a range: its labels and one aggregate per step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// Resource and point attributes, a JSON object.
    pub labels: String,
    /// (step start in unix nanoseconds, min/max/sum/count of the values in it), in order.
    pub points: Vec<(i64, Agg)>,
}

/// RED of one service over a range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceRed {
    /// `service.name`.
    pub service: String,
    /// Spans.
    pub count: u64,
    /// Spans with error status.
    pub errors: u64,
    /// Duration sum, nanoseconds.
    pub dur_sum: i64,
    /// Percentiles (bucket upper bounds), nanoseconds.
    pub p50: f64,
    /// See `p50`.
    pub p95: f64,
    /// See `p50`.
    pub p99: f64,
}

impl Store {
    /// Every span of trace `id`, by start time.
    pub(crate) fn trace(&self, id: &[u8; 16]) -> Vec<SpanRow> {
        let mut out: Vec<SpanRow> = self
            .with_heads(|r| {
                r.spans
                    .iter()
                    .filter(|s| &s.trace_id == id)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
        let select = Select {
            from: ALL.0,
            to: ALL.1,
            trace_id: Some(id),
            footers: Some(self.footers()),
        };
        out.extend(self.read(Kind::Spans, ALL.0, ALL.1, |p| {
            segment::read_spans(p, &select)
        }));
        out.sort_by_key(|s| (s.start, s.span_id));
        out.dedup_by(|a, b| a.span_id == b.span_id && a.start == b.start);
        out
    }

    /// The log records of trace `id`, by time.
    pub(crate) fn trace_logs(&self, id: &[u8; 16]) -> Vec<LogRow> {
        let mut out: Vec<LogRow> = self
            .with_heads(|r| {
                r.logs
                    .iter()
                    .filter(|l| &l.trace_id == id)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
        let select = Select {
            from: ALL.0,
            to: ALL.1,
            trace_id: Some(id),
            footers: Some(self.footers()),
        };
        out.extend(self.read(Kind::Logs, ALL.0, ALL.1, |p| segment::read_logs(p, &select)));
        out.sort_by_key(|l| l.ts);
        out
    }

    /// Ids of the traces with a span matching `q`, newest match first, at most `q.limit`.
    /// Segments are read with the predicates pushed down ([`segment::search_spans`]).
    pub(crate) fn search(&self, q: &Search) -> Vec<[u8; 16]> {
        let filter = q.filter();
        self.search_with(q, |p, select| segment::search_spans(p, select, &filter))
    }

    /// [`Store::search`] reading the segments without pushdown (the path it replaced), to
    /// check and measure it against.
    #[cfg(test)]
    pub(crate) fn search_scan(&self, q: &Search) -> Vec<[u8; 16]> {
        self.search_with(q, |p, select| {
            segment::scan_spans(p, select, |s| q.matches_keys(s))
        })
    }

    /// [`Store::search`] with `hits` reading one segment's matches.
    fn search_with(
        &self,
        q: &Search,
        hits: impl Fn(
            &std::path::Path,
            &Select<'_>,
        ) -> Result<Vec<(i64, [u8; 16])>, segment::SegmentError>,
    ) -> Vec<[u8; 16]> {
        let mut heads: Vec<(i64, [u8; 16])> = self
            .with_heads(|r| {
                r.spans
                    .iter()
                    .filter(|s| q.matches(s))
                    .map(|s| (s.start, s.trace_id))
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
        let mut out: Vec<[u8; 16]> = Vec::new();
        let mut seen: BTreeSet<[u8; 16]> = BTreeSet::new();
        let mut take = |hits: &mut Vec<(i64, [u8; 16])>, out: &mut Vec<[u8; 16]>| {
            hits.sort_by_key(|h| std::cmp::Reverse(h.0));
            for (_, id) in hits.drain(..) {
                if out.len() < q.limit && seen.insert(id) {
                    out.push(id);
                }
            }
        };
        // The heads are newer than every segment; segments come newest hour first, so the
        // search stops as soon as it has enough.
        take(&mut heads, &mut out);
        let select = Select {
            from: q.from,
            to: q.to,
            trace_id: None,
            footers: Some(self.footers()),
        };
        for path in self.segments(Kind::Spans, q.from, q.to) {
            if out.len() >= q.limit {
                break;
            }
            let one = std::slice::from_ref(&path);
            let mut h = self.read_paths(Kind::Spans, one, |p| hits(p, &select));
            take(&mut h, &mut out);
        }
        out
    }

    /// Services seen, with their operations.
    pub(crate) fn services(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for part in self.with_heads(|r| {
            r.spans
                .iter()
                .map(|s| (s.service.clone(), s.name.clone()))
                .collect::<BTreeSet<_>>()
        }) {
            for (svc, op) in part {
                out.entry(svc).or_default().insert(op);
            }
        }
        let select = Select {
            from: ALL.0,
            to: ALL.1,
            trace_id: None,
            footers: Some(self.footers()),
        };
        for r in self.read(Kind::Red1m, ALL.0, ALL.1, |p| segment::read_red(p, &select)) {
            out.entry(r.service).or_default().insert(r.operation);
        }
        out
    }

    /// Metric `name` over `[from, to)` at `step` nanoseconds: from the hourly rollups when
    /// the step is a whole number of hours, the minute rollups when it is a whole number of
    /// minutes, else the raw points.
    pub(crate) fn series(&self, name: &str, from: i64, to: i64, step: i64) -> Vec<Series> {
        let step = step.max(1);
        let select = Select {
            from,
            to,
            trace_id: None,
            footers: Some(self.footers()),
        };
        let tier = if step % HOUR_NS == 0 {
            Some((Kind::Metrics1h, HOUR_NS))
        } else if step % MINUTE_NS == 0 {
            Some((Kind::Metrics1m, MINUTE_NS))
        } else {
            None
        };
        // (labels, bucket) rows from every source.
        let mut rows: Vec<(u64, String, i64, Agg)> = Vec::new();
        for part in self.with_heads(|r| {
            r.points
                .iter()
                .filter(|p| p.name == name && p.ts >= from && p.ts < to)
                .cloned()
                .collect::<Vec<_>>()
        }) {
            rows.extend(
                part.into_iter()
                    .map(|p| (p.series, p.labels, p.ts, Agg::of(p.value))),
            );
        }
        match tier {
            Some((kind, _)) => {
                // A rollup row's bucket starts at or after `from` rounded down.
                let lo = from.div_euclid(if kind == Kind::Metrics1h {
                    HOUR_NS
                } else {
                    MINUTE_NS
                }) * if kind == Kind::Metrics1h {
                    HOUR_NS
                } else {
                    MINUTE_NS
                };
                let sel = Select { from: lo, ..select };
                for r in self.read(kind, from, to, |p| {
                    segment::read_rollups(p, kind, &sel, Some(name))
                }) {
                    rows.push((r.series, r.labels, r.bucket, r.agg));
                }
            }
            None => {
                for p in self.read(Kind::Points, from, to, |p| {
                    segment::read_points(p, &select, Some(name))
                }) {
                    rows.push((p.series, p.labels, p.ts, Agg::of(p.value)));
                }
            }
        }
        let mut by_series: HashMap<u64, (String, BTreeMap<i64, Agg>)> = HashMap::new();
        for (series, labels, ts, agg) in rows {
            let bucket = from + (ts.max(from) - from).div_euclid(step) * step;
            let entry = by_series
                .entry(series)
                .or_insert_with(|| (labels, BTreeMap::new()));
            entry
                .1
                .entry(bucket)
                .and_modify(|a| a.merge(&agg))
                .or_insert(agg);
        }
        let mut out: Vec<Series> = by_series
            .into_values()
            .map(|(labels, points)| Series {
                labels,
                points: points.into_iter().collect(),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// RED per service over `[from, to)`, from the minute rollups (whole minutes: a minute
    /// counts when it starts in the range).
    pub(crate) fn red(&self, from: i64, to: i64) -> Vec<ServiceRed> {
        let select = Select {
            from,
            to,
            trace_id: None,
            footers: Some(self.footers()),
        };
        let mut rows: Vec<RedRow> =
            self.read(Kind::Red1m, from, to, |p| segment::read_red(p, &select));
        for part in self.with_heads(|r| rollup::red_rollup(&r.spans)) {
            rows.extend(
                part.into_iter()
                    .filter(|r| r.minute >= from && r.minute < to),
            );
        }
        let mut by_service: BTreeMap<String, RedRow> = BTreeMap::new();
        for r in rows {
            match by_service.get_mut(&r.service) {
                Some(acc) => acc.merge(&r),
                None => {
                    by_service.insert(r.service.clone(), r);
                }
            }
        }
        by_service
            .into_iter()
            .map(|(service, r)| ServiceRed {
                service,
                count: r.count,
                errors: r.errors,
                dur_sum: r.dur_sum,
                p50: rollup::quantile(&r.hist, 0.5),
                p95: rollup::quantile(&r.hist, 0.95),
                p99: rollup::quantile(&r.hist, 0.99),
            })
            .collect()
    }
}
