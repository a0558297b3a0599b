//! OTLP metrics to remote-write series, by the OpenTelemetry → Prometheus compatibility rules
//! the `prometheus` exporter follows (names, labels, `job`/`instance`, `target_info`, scope
//! labels): gauges, cumulative monotonic sums (`_total`) and non-monotonic cumulative sums
//! (as gauges) become one series each; cumulative histograms become `_bucket{le}` (cumulative
//! counts, `+Inf` included), `_sum` and `_count`; summaries become `{quantile}`, `_sum` and
//! `_count`. Points flagged "no recorded value" become Prometheus staleness markers.
//!
//! Remote write carries cumulative series only and Lookout sends what passes without keeping
//! state, so delta sums and delta histograms are dropped and counted, as the Collector's
//! `prometheusremotewriteexporter` does (put a delta-to-cumulative step in front, or use the
//! `prometheus` exporter, which adds deltas up). Exponential histograms (native histograms in
//! Prometheus, a different remote-write message) and points without a temporality are
//! dropped and counted too.

use std::collections::BTreeMap;

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::{AggregationTemporality, Metric, metric::Data};

use super::proto::{Label, Sample, TimeSeries};
use crate::exporters::prometheus::labels::{self, Labels, Naming, Pending};
use crate::exporters::prometheus::naming::{self, Kind};
use crate::exporters::prometheus::render::bound;
use crate::exporters::prometheus::store::{no_value, number};

/// The value Prometheus reads as "this series ended" (its `value.StaleNaN`).
pub(crate) const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// How points become series.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Names and labels, as for the `prometheus` exporter.
    pub naming: Naming,
    /// Send a `target_info` series per resource.
    pub target_info: bool,
}

/// Points not sent, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// Delta sums and delta histograms.
    pub delta: u64,
    /// Exponential histograms and points without a temporality.
    pub unsupported: u64,
    /// Points with a label the series uses itself (`__name__`, `le`, `quantile`).
    pub reserved_label: u64,
}

/// The series of one request, with the points left out.
#[derive(Debug, Default)]
pub(crate) struct Translated {
    /// One entry per label set, samples in time order.
    pub series: Vec<TimeSeries>,
    /// What was not sent.
    pub dropped: Dropped,
}

/// Samples by full label set (`__name__` included), merged across the request so one
/// series is sent once with all its samples.
#[derive(Default)]
struct Collect {
    series: BTreeMap<Labels, Vec<Sample>>,
}

impl Collect {
    fn push(&mut self, name: &str, labels: &Labels, extra: Option<(&str, String)>, sample: Sample) {
        let mut all = Vec::with_capacity(labels.len() + 2);
        all.push(("__name__".to_string(), name.to_string()));
        all.extend(labels.iter().cloned());
        if let Some((k, v)) = extra {
            all.push((k.to_string(), v));
        }
        all.sort();
        self.series.entry(all).or_default().push(sample);
    }

    fn finish(self) -> Vec<TimeSeries> {
        self.series
            .into_iter()
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|s| s.timestamp);
                TimeSeries {
                    labels: labels
                        .into_iter()
                        .map(|(name, value)| Label { name, value })
                        .collect(),
                    samples,
                }
            })
            .collect()
    }
}

/// Nanoseconds since the epoch to the milliseconds remote write wants; a point without a
/// time gets `now_ms`.
fn millis(time_unix_nano: u64, now_ms: i64) -> i64 {
    if time_unix_nano == 0 {
        now_ms
    } else {
        i64::try_from(time_unix_nano / 1_000_000).unwrap_or(i64::MAX)
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A sample of `value`, or a staleness marker when the point has no recorded value.
fn sample(value: f64, flags: u32, timestamp: i64) -> Sample {
    let value = if no_value(flags) {
        f64::from_bits(STALE_NAN)
    } else {
        value
    };
    Sample { value, timestamp }
}

#[allow(clippy::cast_precision_loss)]
fn float(n: u64) -> f64 {
    n as f64
}

/// Translates one OTLP request; `now_ms` stamps points that carry no time.
pub(crate) fn translate(
    request: &ExportMetricsServiceRequest,
    options: &Options,
    now_ms: i64,
) -> Translated {
    let mut out = Collect::default();
    let mut dropped = Dropped::default();
    for rm in &request.resource_metrics {
        let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let mut latest: Option<i64> = None;
        for sm in &rm.scope_metrics {
            let base = labels::scope_labels(resource, sm.scope.as_ref(), &options.naming);
            for metric in &sm.metrics {
                if let Some(t) = add_metric(&mut out, &mut dropped, metric, &base, options, now_ms)
                {
                    latest = Some(latest.map_or(t, |l| l.max(t)));
                }
            }
        }
        // As the Collector: one `target_info` sample per resource, at its latest point's time,
        // and only for a resource identified by `job` or `instance`.
        if options.target_info
            && let Some(at) = latest
            && let Some(target) = labels::target_info(resource, &options.naming.const_labels)
            && target.iter().any(|(k, _)| k == "job" || k == "instance")
        {
            let name = target_info_name(&options.naming.namespace);
            out.push(
                &name,
                &target,
                None,
                Sample {
                    value: 1.0,
                    timestamp: at,
                },
            );
        }
    }
    Translated {
        series: out.finish(),
        dropped,
    }
}

/// `target_info`, with the namespace before it as the Collector's remote-write exporter has it.
fn target_info_name(namespace: &str) -> String {
    let namespace = naming::metric_name(namespace, "", Kind::Gauge, false, "", false);
    if namespace.is_empty() || namespace == "_" {
        "target_info".to_string()
    } else {
        format!("{namespace}_target_info")
    }
}

/// Whether points of this temporality can be sent (cumulative); counts `points` as dropped
/// for a delta or an unspecified temporality otherwise.
fn cumulative_only(temporality: i32, points: usize, dropped: &mut Dropped) -> bool {
    if temporality == AggregationTemporality::Cumulative as i32 {
        return true;
    }
    if temporality == AggregationTemporality::Delta as i32 {
        dropped.delta += count(points);
    } else {
        dropped.unsupported += count(points);
    }
    false
}

/// Adds one metric's points; returns the latest sample time sent, if any.
fn add_metric(
    out: &mut Collect,
    dropped: &mut Dropped,
    metric: &Metric,
    base: &Pending,
    options: &Options,
    now_ms: i64,
) -> Option<i64> {
    let naming = &options.naming;
    let name = |kind: Kind| {
        naming::metric_name(
            &metric.name,
            &metric.unit,
            kind,
            matches!(metric.data, Some(Data::Gauge(_))),
            &naming.namespace,
            naming.suffixes,
        )
    };
    let reserved = |labels: &Labels, extra: &str| {
        labels
            .iter()
            .any(|(k, _)| k == "__name__" || (!extra.is_empty() && k == extra))
    };
    let mut latest: Option<i64> = None;
    let mut seen = |t: i64| latest = Some(latest.map_or(t, |l: i64| l.max(t)));
    match &metric.data {
        Some(Data::Gauge(_) | Data::Sum(_)) => {
            let (kind, points) = match &metric.data {
                Some(Data::Sum(s)) => {
                    if !cumulative_only(s.aggregation_temporality, s.data_points.len(), dropped) {
                        return None;
                    }
                    let kind = if s.is_monotonic {
                        Kind::Counter
                    } else {
                        Kind::Gauge
                    };
                    (kind, &s.data_points)
                }
                Some(Data::Gauge(g)) => (Kind::Gauge, &g.data_points),
                _ => return None,
            };
            let name = name(kind);
            for p in points {
                let labels = labels::point_labels(base, &p.attributes);
                if reserved(&labels, "") {
                    dropped.reserved_label += 1;
                    continue;
                }
                let t = millis(p.time_unix_nano, now_ms);
                out.push(&name, &labels, None, sample(number(p), p.flags, t));
                seen(t);
            }
        }
        Some(Data::Histogram(h)) => {
            if !cumulative_only(h.aggregation_temporality, h.data_points.len(), dropped) {
                return None;
            }
            let name = name(Kind::Histogram);
            let (bucket, sum, total) = (
                format!("{name}_bucket"),
                format!("{name}_sum"),
                format!("{name}_count"),
            );
            for p in &h.data_points {
                let labels = labels::point_labels(base, &p.attributes);
                if reserved(&labels, "le") {
                    dropped.reserved_label += 1;
                    continue;
                }
                let t = millis(p.time_unix_nano, now_ms);
                let mut running = 0u64;
                for (bound_value, n) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                    running = running.saturating_add(*n);
                    let le = Some(("le", bound(*bound_value)));
                    out.push(&bucket, &labels, le, sample(float(running), p.flags, t));
                }
                let inf = Some(("le", "+Inf".to_string()));
                out.push(&bucket, &labels, inf, sample(float(p.count), p.flags, t));
                if let Some(s) = p.sum {
                    out.push(&sum, &labels, None, sample(s, p.flags, t));
                }
                out.push(&total, &labels, None, sample(float(p.count), p.flags, t));
                seen(t);
            }
        }
        Some(Data::Summary(s)) => {
            let name = name(Kind::Summary);
            let (sum, total) = (format!("{name}_sum"), format!("{name}_count"));
            for p in &s.data_points {
                let labels = labels::point_labels(base, &p.attributes);
                if reserved(&labels, "quantile") {
                    dropped.reserved_label += 1;
                    continue;
                }
                let t = millis(p.time_unix_nano, now_ms);
                for q in &p.quantile_values {
                    let quantile = Some(("quantile", bound(q.quantile)));
                    out.push(&name, &labels, quantile, sample(q.value, p.flags, t));
                }
                out.push(&sum, &labels, None, sample(p.sum, p.flags, t));
                out.push(&total, &labels, None, sample(float(p.count), p.flags, t));
                seen(t);
            }
        }
        Some(Data::ExponentialHistogram(e)) => {
            dropped.unsupported += count(e.data_points.len());
        }
        None => {}
    }
    latest
}
