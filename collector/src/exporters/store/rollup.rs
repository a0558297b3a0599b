//! Rollups computed when the head is written out: metric points per series and minute (and
//! hour) as min/max/sum/count, and spans per service, operation and minute as RED (count,
//! errors, duration sum and a log-scale duration histogram for percentiles). Rollup rows of
//! the same key from different flushes merge (min of mins, sums of sums), so a query merges
//! whatever rows it finds.

use std::collections::BTreeMap;

use super::rows::{PointRow, SpanRow};

/// One minute in nanoseconds.
pub(crate) const MINUTE_NS: i64 = 60_000_000_000;
/// One hour in nanoseconds.
pub(crate) const HOUR_NS: i64 = 60 * MINUTE_NS;
/// Buckets of the duration histogram: bucket `b` holds durations below `2^(b/2)` µs.
pub(crate) const HIST_BUCKETS: usize = 48;

/// min/max/sum/count of one series over one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Agg {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

impl Agg {
    /// The aggregate of one value.
    pub(crate) fn of(v: f64) -> Agg {
        Agg {
            min: v,
            max: v,
            sum: v,
            count: 1,
        }
    }

    /// Folds `other` in.
    pub(crate) fn merge(&mut self, other: &Agg) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// One rollup row: a series over the step starting at `bucket`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RollupRow {
    pub series: u64,
    pub name: String,
    pub labels: String,
    /// Start of the step, unix nanoseconds.
    pub bucket: i64,
    pub agg: Agg,
}

/// Rolls `points` up into steps of `step_ns`, sorted by (name, series, bucket).
pub(crate) fn metric_rollup<'a>(
    points: impl IntoIterator<Item = &'a PointRow>,
    step_ns: i64,
) -> Vec<RollupRow> {
    let mut acc: BTreeMap<(u64, i64), RollupRow> = BTreeMap::new();
    for p in points {
        let bucket = p.ts.div_euclid(step_ns) * step_ns;
        acc.entry((p.series, bucket))
            .and_modify(|r| r.agg.merge(&Agg::of(p.value)))
            .or_insert_with(|| RollupRow {
                series: p.series,
                name: p.name.clone(),
                labels: p.labels.clone(),
                bucket,
                agg: Agg::of(p.value),
            });
    }
    let mut out: Vec<RollupRow> = acc.into_values().collect();
    // Stable: (series, bucket) order within a name.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// RED of one service and operation over one minute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RedRow {
    pub service: String,
    pub operation: String,
    /// Start of the minute, unix nanoseconds.
    pub minute: i64,
    pub count: u64,
    pub errors: u64,
    /// Nanoseconds.
    pub dur_sum: i64,
    pub hist: [u32; HIST_BUCKETS],
}

impl RedRow {
    /// Folds `other` (same key) in.
    pub(crate) fn merge(&mut self, other: &RedRow) {
        self.count += other.count;
        self.errors += other.errors;
        self.dur_sum = self.dur_sum.saturating_add(other.dur_sum);
        for (a, b) in self.hist.iter_mut().zip(other.hist.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// The histogram as little-endian bytes (how a segment stores it).
    pub(crate) fn hist_bytes(&self) -> Vec<u8> {
        self.hist.iter().flat_map(|c| c.to_le_bytes()).collect()
    }

    /// The histogram back from [`RedRow::hist_bytes`] (zeroes where bytes are missing).
    pub(crate) fn hist_from(bytes: &[u8]) -> [u32; HIST_BUCKETS] {
        let mut hist = [0; HIST_BUCKETS];
        for (slot, chunk) in hist.iter_mut().zip(bytes.chunks_exact(4)) {
            *slot = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        hist
    }
}

/// The histogram bucket of a duration in nanoseconds.
pub(crate) fn bucket(dur_ns: i64) -> usize {
    let us = (dur_ns / 1000).max(1) as f64;
    ((us.log2() * 2.0).floor() as usize + 1).min(HIST_BUCKETS - 1)
}

/// Upper bound of bucket `b`, in nanoseconds.
pub(crate) fn bucket_upper_ns(b: usize) -> f64 {
    2f64.powf(b as f64 / 2.0) * 1000.0
}

/// The `q` quantile (0..=1) of a histogram, as its bucket's upper bound in nanoseconds; 0
/// when empty.
pub(crate) fn quantile(hist: &[u32; HIST_BUCKETS], q: f64) -> f64 {
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return 0.0;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, &c) in hist.iter().enumerate() {
        seen += u64::from(c);
        if seen >= rank {
            return bucket_upper_ns(b);
        }
    }
    bucket_upper_ns(HIST_BUCKETS - 1)
}

/// RED rows of `spans` per service, operation and minute, sorted by (minute, service,
/// operation).
pub(crate) fn red_rollup<'a>(spans: impl IntoIterator<Item = &'a SpanRow>) -> Vec<RedRow> {
    let mut acc: BTreeMap<(i64, &str, &str), RedRow> = BTreeMap::new();
    for s in spans {
        let minute = s.start.div_euclid(MINUTE_NS) * MINUTE_NS;
        let row = acc
            .entry((minute, &s.service, &s.name))
            .or_insert_with(|| RedRow {
                service: s.service.clone(),
                operation: s.name.clone(),
                minute,
                count: 0,
                errors: 0,
                dur_sum: 0,
                hist: [0; HIST_BUCKETS],
            });
        row.count += 1;
        row.errors += u64::from(s.status == 2);
        row.dur_sum = row.dur_sum.saturating_add(s.dur);
        row.hist[bucket(s.dur)] += 1;
    }
    acc.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(series: u64, ts: i64, value: f64) -> PointRow {
        PointRow {
            series,
            name: format!("m{series}"),
            labels: "{}".into(),
            ts,
            value,
        }
    }

    #[test]
    fn metric_rollup_aggregates_per_series_and_step() {
        let t0 = 10 * HOUR_NS;
        let points = [
            point(1, t0, 5.0),
            point(1, t0 + 10_000_000_000, 1.0),
            point(1, t0 + 59_000_000_000, 9.0),
            point(1, t0 + MINUTE_NS, 4.0),
            point(2, t0, 7.0),
        ];
        let m = metric_rollup(&points, MINUTE_NS);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].series, m[0].bucket), (1, t0));
        assert_eq!(
            m[0].agg,
            Agg {
                min: 1.0,
                max: 9.0,
                sum: 15.0,
                count: 3
            }
        );
        assert_eq!((m[1].bucket, m[1].agg.count), (t0 + MINUTE_NS, 1));
        assert_eq!((m[2].series, m[2].agg.sum), (2, 7.0));
        let h = metric_rollup(&points, HOUR_NS);
        assert_eq!(h.len(), 2);
        assert_eq!(
            h[0].agg,
            Agg {
                min: 1.0,
                max: 9.0,
                sum: 19.0,
                count: 4
            }
        );
    }

    #[test]
    fn red_rollup_counts_errors_and_quantiles() {
        let span = |name: &str, start: i64, dur_ms: i64, status: u8| SpanRow {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: [0; 8],
            service: "api".into(),
            name: name.into(),
            kind: 2,
            start,
            dur: dur_ms * 1_000_000,
            status,
            verdict: "{}".into(),
            attrs: "{}".into(),
        };
        let mut spans: Vec<SpanRow> = (0..19).map(|_| span("GET", 0, 10, 0)).collect();
        spans.push(span("GET", 1, 1000, 2));
        spans.push(span("POST", MINUTE_NS + 5, 3, 2));
        let red = red_rollup(&spans);
        assert_eq!(red.len(), 2);
        assert_eq!((red[0].count, red[0].errors), (20, 1));
        assert_eq!(red[0].dur_sum, (19 * 10 + 1000) * 1_000_000);
        // p50 is in the 10 ms bucket, p99 in the 1 s one.
        let p50 = quantile(&red[0].hist, 0.5);
        assert!((10e6..=10e6 * 1.5).contains(&p50), "{p50}");
        let p99 = quantile(&red[0].hist, 0.99);
        assert!((1e9..=1.5e9).contains(&p99), "{p99}");
        assert_eq!(
            (red[1].operation.as_str(), red[1].minute),
            ("POST", MINUTE_NS)
        );
        let mut merged = red[0].clone();
        merged.merge(&red[0]);
        assert_eq!((merged.count, merged.errors), (40, 2));
        assert_eq!(RedRow::hist_from(&red[0].hist_bytes()), red[0].hist);
    }
}
