//! The questions the console, the Jaeger API and the reports ask the store: a trace by id and
//! its logs, trace search, services and operations, one metric over a range at a step, RED
//! per service (or per operation of one service, over the range or per step). Each merges the
//! rows in memory with the closed segments of the range; a range with no data answers empty.

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

/// RED of one service over a range (the tests' and the benchmark's short form of
/// [`Store::red_query`]).
#[cfg(test)]
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
    #[cfg(test)]
    pub(crate) fn red(&self, from: i64, to: i64) -> Vec<ServiceRed> {
        self.red_query(&RedQuery {
            from,
            to,
            service: None,
            step: None,
        })
        .services
        .into_iter()
        .map(|r| ServiceRed {
            service: r.name,
            count: r.count,
            errors: r.errors,
            dur_sum: r.dur_sum,
            p50: r.p50,
            p95: r.p95,
            p99: r.p99,
        })
        .collect()
    }

    /// RED over `q`'s range per service (only `q.service` when set, and then per operation
    /// of it too), with one point per `q.step` when set; from the minute rollups (a minute
    /// counts when it starts in the range).
    pub(crate) fn red_query(&self, q: &RedQuery) -> RedAnswer {
        let (from, to) = (q.from, q.to);
        let select = Select {
            from,
            to,
            trace_id: None,
            footers: Some(self.footers()),
        };
        let wanted = |r: &RedRow| {
            r.minute >= from && r.minute < to && q.service.as_deref().is_none_or(|s| s == r.service)
        };
        let mut rows: Vec<RedRow> = self
            .read(Kind::Red1m, from, to, |p| segment::read_red(p, &select))
            .into_iter()
            .filter(|r| wanted(r))
            .collect();
        for part in self.with_heads(|r| rollup::red_rollup(&r.spans)) {
            rows.extend(part.into_iter().filter(|r| wanted(r)));
        }
        let step = q.step.map(|s| s.max(MINUTE_NS));
        let services = red_by(&rows, |r| &r.service, from, step);
        let operations = if q.service.is_some() {
            red_by(&rows, |r| &r.operation, from, step)
        } else {
            Vec::new()
        };
        RedAnswer {
            services,
            operations,
        }
    }
}

/// A RED question: a range, maybe one service, maybe a step.
#[derive(Debug, Clone)]
pub(crate) struct RedQuery {
    /// Range start, unix nanoseconds.
    pub from: i64,
    /// Range end (exclusive).
    pub to: i64,
    /// Only this service, and then per operation too.
    pub service: Option<String>,
    /// One point per this many nanoseconds (raised to a minute at least).
    pub step: Option<i64>,
}

/// The answer to a [`RedQuery`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RedAnswer {
    /// Per service, by name.
    pub services: Vec<Red>,
    /// Per operation of the asked service, by name (empty when no service was asked).
    pub operations: Vec<Red>,
}

/// RED of one service or operation over the range, and per step when asked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Red {
    /// The service or operation.
    pub name: String,
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
    /// One per step that has spans, in order (empty without a step).
    pub points: Vec<RedPoint>,
}

/// RED over one step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RedPoint {
    /// Step start, unix nanoseconds (`from + k * step`).
    pub t: i64,
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

/// Merges `rows` per `key` (and per step from `from` when `step` is set).
fn red_by(
    rows: &[RedRow],
    key: impl Fn(&RedRow) -> &String,
    from: i64,
    step: Option<i64>,
) -> Vec<Red> {
    type Acc = (RedRow, BTreeMap<i64, RedRow>);
    let mut by: BTreeMap<&String, Acc> = BTreeMap::new();
    for r in rows {
        let entry = by
            .entry(key(r))
            .or_insert_with(|| (empty_red(r), BTreeMap::new()));
        entry.0.merge(r);
        if let Some(step) = step {
            let t = from + (r.minute - from).div_euclid(step) * step;
            entry.1.entry(t).or_insert_with(|| empty_red(r)).merge(r);
        }
    }
    by.into_iter()
        .map(|(name, (total, steps))| Red {
            name: name.clone(),
            count: total.count,
            errors: total.errors,
            dur_sum: total.dur_sum,
            p50: rollup::quantile(&total.hist, 0.5),
            p95: rollup::quantile(&total.hist, 0.95),
            p99: rollup::quantile(&total.hist, 0.99),
            points: steps
                .into_iter()
                .map(|(t, r)| RedPoint {
                    t,
                    count: r.count,
                    errors: r.errors,
                    dur_sum: r.dur_sum,
                    p50: rollup::quantile(&r.hist, 0.5),
                    p95: rollup::quantile(&r.hist, 0.95),
                    p99: rollup::quantile(&r.hist, 0.99),
                })
                .collect(),
        })
        .collect()
}

/// A row with `r`'s key and nothing counted.
fn empty_red(r: &RedRow) -> RedRow {
    RedRow {
        service: r.service.clone(),
        operation: r.operation.clone(),
        minute: r.minute,
        count: 0,
        errors: 0,
        dur_sum: 0,
        hist: [0; rollup::HIST_BUCKETS],
    }
}

impl Store {
    /// The minute RED rows of every service and operation over `[from, to)` (a minute counts
    /// when it starts in the range), rows of the same key and minute merged: what the reports
    /// aggregate and forecast.
    pub(crate) fn red_minutes(&self, from: i64, to: i64) -> Vec<RedRow> {
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
        let mut merged: BTreeMap<(String, String, i64), RedRow> = BTreeMap::new();
        for r in rows {
            let key = (r.service.clone(), r.operation.clone(), r.minute);
            match merged.get_mut(&key) {
                Some(acc) => acc.merge(&r),
                None => {
                    merged.insert(key, r);
                }
            }
        }
        merged.into_values().collect()
    }

    /// Log records of `[from, to)` whose severity number is at least `min_severity`, by
    /// time.
    pub(crate) fn logs_at_least(&self, from: i64, to: i64, min_severity: u8) -> Vec<LogRow> {
        let keep = |l: &LogRow| l.ts >= from && l.ts < to && l.severity >= min_severity;
        let mut out: Vec<LogRow> = self
            .with_heads(|r| {
                r.logs
                    .iter()
                    .filter(|l| keep(l))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
        let select = Select {
            from,
            to,
            trace_id: None,
            footers: Some(self.footers()),
        };
        out.extend(self.read(Kind::Logs, from, to, |p| {
            segment::read_logs(p, &select).map(|v| v.into_iter().filter(|l| keep(l)).collect())
        }));
        out.sort_by_key(|l| l.ts);
        out
    }
}
