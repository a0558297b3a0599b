//! The latest value of every series that passed through, by Prometheus name and labels:
//! what a scrape renders. Cumulative points replace the value; delta points of monotonic sums
//! and histograms are added up (Prometheus only knows cumulative series); a point older than
//! the one held is ignored; series not updated within `metric_expiration` are forgotten; no
//! more than `max_series` series are held (new ones beyond are refused and counted).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::{
    AggregationTemporality, DataPointFlags, HistogramDataPoint, NumberDataPoint, metric::Data,
    number_data_point,
};

use super::labels::{self, Pending};
pub(crate) use super::labels::{Labels, Naming};
use super::naming::{self, Kind};

/// One series' value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A counter or gauge.
    Number(f64),
    /// An explicit-bucket histogram: upper bounds, counts per bucket (one more than bounds).
    Histogram {
        /// Upper bounds.
        bounds: Vec<f64>,
        /// Count per bucket, not cumulative.
        counts: Vec<u64>,
        /// Sum of the observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
    /// Quantiles with their values, sum and count.
    Summary {
        /// (quantile, value).
        quantiles: Vec<(f64, f64)>,
        /// Sum of the observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// One series.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Its value.
    pub value: Value,
    /// The point's own time (`time_unix_nano`, 0 when the source gave none).
    time: u64,
    /// When it last arrived here (for `metric_expiration`).
    updated: Instant,
}

/// All series of one Prometheus name.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    /// How it is exposed.
    pub kind: Kind,
    /// `# HELP` text (the OpenTelemetry description).
    pub help: String,
    /// Series by labels.
    pub series: BTreeMap<Labels, Series>,
}

/// What an update did not keep, for self-metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// Points of a kind Prometheus text cannot carry (exponential histograms, non-monotonic
    /// delta sums, sums without a temporality), whose name is already taken by another type,
    /// or with a label the format reserves (`__name__`, `le`, `quantile`).
    pub points: u64,
    /// Points of new series refused because `max_series` series are held already.
    pub series: u64,
}

/// Every series, and the `target_info` of every resource.
#[derive(Debug)]
pub(crate) struct Store {
    /// Families by Prometheus name.
    pub families: BTreeMap<String, Family>,
    /// `target_info` label sets, keyed by themselves.
    pub targets: BTreeMap<Labels, Instant>,
    /// Series held now (a histogram or summary series counts once; `target_info` too).
    series: usize,
    /// When [`Store::sweep`] last expired series.
    swept: Option<Instant>,
    /// The most series held at once.
    max_series: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(usize::MAX)
    }
}

/// A number point's value as a float (integers converted).
pub(crate) fn number(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        #[allow(clippy::cast_precision_loss)]
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// Whether a point's flags say the series ended (no recorded value).
pub(crate) fn no_value(flags: u32) -> bool {
    flags & (DataPointFlags::NoRecordedValueMask as u32) != 0
}

fn histogram(point: &HistogramDataPoint) -> Value {
    Value::Histogram {
        bounds: point.explicit_bounds.clone(),
        counts: point.bucket_counts.clone(),
        sum: point.sum.unwrap_or(0.0),
        count: point.count,
    }
}

impl Store {
    /// An empty store that holds at most `max_series` series.
    pub(crate) fn new(max_series: usize) -> Store {
        Store {
            families: BTreeMap::new(),
            targets: BTreeMap::new(),
            series: 0,
            max_series,
            swept: None,
        }
    }

    /// [`Store::expire`], at most once a second (a full pass over the series), or whenever
    /// the store is full.
    pub(crate) fn sweep(&mut self, now: Instant, ttl: Duration) {
        let due = self
            .swept
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1));
        if due || self.series >= self.max_series {
            self.expire(now, ttl);
        }
    }

    /// Takes in one export request at `now`.
    pub(crate) fn update(
        &mut self,
        request: &ExportMetricsServiceRequest,
        naming: &Naming,
        now: Instant,
    ) -> Dropped {
        let mut dropped = Dropped::default();
        for rm in &request.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            if let Some(target) = labels::target_info(resource, &naming.const_labels) {
                if let Some(seen) = self.targets.get_mut(&target) {
                    *seen = now;
                } else if self.series < self.max_series {
                    self.targets.insert(target, now);
                    self.series += 1;
                } else {
                    dropped.series += 1;
                }
            }
            for sm in &rm.scope_metrics {
                let base = labels::scope_labels(resource, sm.scope.as_ref(), naming);
                for metric in &sm.metrics {
                    self.metric(metric, &base, naming, now, &mut dropped);
                }
            }
        }
        dropped
    }

    /// Takes in one metric's points, counting in `dropped` what it does not keep.
    fn metric(
        &mut self,
        metric: &lookout_proto::otlp::metrics::v1::Metric,
        base: &Pending,
        naming: &Naming,
        now: Instant,
        dropped: &mut Dropped,
    ) {
        let labels = |attributes: &[KeyValue]| labels::point_labels(base, attributes);
        let cumulative = AggregationTemporality::Cumulative as i32;
        let delta = AggregationTemporality::Delta as i32;
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let numbers = |points: &[NumberDataPoint]| -> Vec<Point> {
            points
                .iter()
                .map(|p| Point {
                    labels: labels(&p.attributes),
                    flags: p.flags,
                    time: p.time_unix_nano,
                    value: Value::Number(number(p)),
                })
                .collect()
        };
        // (kind, accumulate deltas, points)
        let (kind, delta, points): (Kind, bool, Vec<Point>) = match &metric.data {
            Some(Data::Gauge(g)) => (Kind::Gauge, false, numbers(&g.data_points)),
            Some(Data::Sum(s)) => {
                let is_delta = s.aggregation_temporality == delta;
                // Without a temporality nothing can be said; a delta up-down sum could be
                // added up, but the Collector drops those, and so do we.
                if (s.aggregation_temporality != cumulative && !is_delta)
                    || (is_delta && !s.is_monotonic)
                {
                    dropped.points += count(s.data_points.len());
                    return;
                }
                let kind = if s.is_monotonic {
                    Kind::Counter
                } else {
                    Kind::Gauge
                };
                (kind, is_delta, numbers(&s.data_points))
            }
            Some(Data::Histogram(h)) => {
                if h.aggregation_temporality != cumulative && h.aggregation_temporality != delta {
                    dropped.points += count(h.data_points.len());
                    return;
                }
                (
                    Kind::Histogram,
                    h.aggregation_temporality == delta,
                    h.data_points
                        .iter()
                        .map(|p| Point {
                            labels: labels(&p.attributes),
                            flags: p.flags,
                            time: p.time_unix_nano,
                            value: histogram(p),
                        })
                        .collect(),
                )
            }
            Some(Data::Summary(s)) => (
                Kind::Summary,
                false,
                s.data_points
                    .iter()
                    .map(|p| {
                        let value = Value::Summary {
                            quantiles: p
                                .quantile_values
                                .iter()
                                .map(|q| (q.quantile, q.value))
                                .collect(),
                            sum: p.sum,
                            count: p.count,
                        };
                        Point {
                            labels: labels(&p.attributes),
                            flags: p.flags,
                            time: p.time_unix_nano,
                            value,
                        }
                    })
                    .collect(),
            ),
            Some(Data::ExponentialHistogram(e)) => {
                dropped.points += count(e.data_points.len());
                return;
            }
            None => return,
        };
        // A label the exposition uses itself would make the series unreadable to Prometheus
        // (which then refuses the whole scrape): such points are dropped and counted.
        let reserved: &[&str] = match kind {
            Kind::Histogram => &["__name__", "le"],
            Kind::Summary => &["__name__", "quantile"],
            Kind::Counter | Kind::Gauge => &["__name__"],
        };
        let before = points.len();
        let points: Vec<Point> = points
            .into_iter()
            .filter(|p| !p.labels.iter().any(|(k, _)| reserved.contains(&k.as_str())))
            .collect();
        dropped.points += count(before - points.len());
        let name = naming::metric_name(
            &metric.name,
            &metric.unit,
            kind,
            matches!(metric.data, Some(Data::Gauge(_))),
            &naming.namespace,
            naming.suffixes,
        );
        let family = self.families.entry(name).or_insert_with(|| Family {
            kind,
            help: metric.description.clone(),
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            dropped.points += count(points.len());
            return;
        }
        if !metric.description.is_empty() {
            family.help.clone_from(&metric.description);
        }
        for point in points {
            if no_value(point.flags) {
                // The source says the series ended: stop exposing it.
                if family.series.remove(&point.labels).is_some() {
                    self.series = self.series.saturating_sub(1);
                }
                continue;
            }
            match family.series.get_mut(&point.labels) {
                Some(old) => {
                    // Out of order (or, for a delta, seen already): what is held is newer.
                    let stale = point.time != 0
                        && old.time != 0
                        && (point.time < old.time || (delta && point.time == old.time));
                    if stale {
                        continue;
                    }
                    old.value = if delta {
                        accumulate(&old.value, point.value)
                    } else {
                        point.value
                    };
                    old.time = point.time;
                    old.updated = now;
                }
                None if self.series >= self.max_series => dropped.series += 1,
                None => {
                    family.series.insert(
                        point.labels,
                        Series {
                            value: point.value,
                            time: point.time,
                            updated: now,
                        },
                    );
                    self.series += 1;
                }
            }
        }
    }

    /// Forgets series and targets not updated for `ttl` before `now`.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) {
        self.swept = Some(now);
        let fresh = |t: &Instant| now.saturating_duration_since(*t) <= ttl;
        for family in self.families.values_mut() {
            family.series.retain(|_, s| fresh(&s.updated));
        }
        self.families.retain(|_, f| !f.series.is_empty());
        self.targets.retain(|_, t| fresh(t));
        self.series = self.targets.len()
            + self
                .families
                .values()
                .map(|f| f.series.len())
                .sum::<usize>();
    }

    /// Number of series held (histogram and summary series count once, so does each
    /// `target_info`).
    pub(crate) fn series_count(&self) -> usize {
        self.series
    }
}

/// One point on its way into the store.
struct Point {
    labels: Labels,
    flags: u32,
    time: u64,
    value: Value,
}

/// A delta point added to the running total (histograms with other bounds start over).
fn accumulate(old: &Value, delta: Value) -> Value {
    match (old, delta) {
        (Value::Number(a), Value::Number(b)) => Value::Number(a + b),
        (
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            Value::Histogram {
                bounds: new_bounds,
                counts: new_counts,
                sum: new_sum,
                count: new_count,
            },
        ) if *bounds == new_bounds && counts.len() == new_counts.len() => Value::Histogram {
            bounds: new_bounds,
            counts: counts.iter().zip(&new_counts).map(|(a, b)| a + b).collect(),
            sum: sum + new_sum,
            count: count + new_count,
        },
        (_, delta) => delta,
    }
}
