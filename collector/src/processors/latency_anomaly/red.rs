//! RED metrics per key, shaped like the Collector-contrib `spanmetrics` connector's: `calls` (a
//! monotonic sum; errors are the points with `status.code=STATUS_CODE_ERROR`) and a `duration`
//! histogram in milliseconds, plus `lookout.latency.anomalies` by kind.
//!
//! Cumulative temporality: every series keeps the time of its first span as its start time, so
//! successive flushes report (start, t1), (start, t2), ... At most `max_series` series are kept;
//! spans of further keys are counted in one overflow series whose only attribute is
//! `otel.metric.overflow=true`, as OpenTelemetry SDKs do at their cardinality limit.

use std::collections::{BTreeMap, HashMap};

use lookout_anomaly::{AnomalyKind, KeyHash};
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::metrics::v1::{HistogramDataPoint, ResourceMetrics, ScopeMetrics};

use super::config::RedMetricsConfig;
use super::service_resource;
use super::tagger::{KINDS, kind_index, kv};
use crate::core::otlp_build::{Num, Times, attr, histogram, number_point, scope, sum_of};

/// The instrumentation scope of everything the processor produces.
pub(crate) const SCOPE: &str = "lookout.latency_anomaly";
/// The anomaly counter's name.
pub(crate) const ANOMALIES: &str = "lookout.latency.anomalies";
/// The attribute marking the overflow series.
pub(crate) const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

/// One series: a key's counters since its first span.
#[derive(Debug)]
struct Series {
    /// `service.name` of the resource the series is reported under (empty: none).
    service: String,
    attributes: Vec<KeyValue>,
    /// Unix nanoseconds of the first span: the cumulative start time.
    start: u64,
    calls: u64,
    /// Per bucket of [`Red::bounds_ms`], plus the one above the last bound.
    buckets: Vec<u64>,
    sum_ms: f64,
    /// Tagged spans by kind, in [`kind_index`] order.
    anomalies: [u64; 5],
}

/// The RED aggregation of one processor instance. Owned by its task; no locks.
#[derive(Debug)]
pub(crate) struct Red {
    bounds_ms: Vec<f64>,
    max_series: usize,
    calls_name: String,
    duration_name: String,
    index: HashMap<KeyHash, usize>,
    series: Vec<Series>,
    overflow: Option<usize>,
    /// Spans counted in the overflow series.
    pub(crate) overflowed: u64,
}

impl Red {
    pub(crate) fn new(config: &RedMetricsConfig) -> Red {
        let name = |n: &str| {
            if config.namespace.is_empty() {
                n.to_owned()
            } else {
                format!("{}.{n}", config.namespace)
            }
        };
        Red {
            bounds_ms: config
                .histogram_buckets
                .iter()
                .map(|d| d.as_secs_f64() * 1e3)
                .collect(),
            max_series: config.max_series,
            calls_name: name("calls"),
            duration_name: name("duration"),
            index: HashMap::new(),
            series: Vec::new(),
            overflow: None,
            overflowed: 0,
        }
    }

    /// Series kept, the overflow series not included.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Counts one span of `key` lasting `duration_ns`, seen at `now` (Unix nanoseconds); returns
    /// its series for [`Red::anomaly`]. `describe` gives a new series' service and attributes
    /// and is called only when the span opens one.
    pub(crate) fn record(
        &mut self,
        key: KeyHash,
        duration_ns: u64,
        now: u64,
        describe: impl FnOnce() -> (String, Vec<KeyValue>),
    ) -> usize {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None if self.index.len() < self.max_series => {
                let (service, attributes) = describe();
                let i = self.open(service, attributes, now);
                self.index.insert(key, i);
                i
            }
            None => {
                self.overflowed += 1;
                match self.overflow {
                    Some(i) => i,
                    None => {
                        let marker = kv(OVERFLOW_ATTRIBUTE, Value::BoolValue(true));
                        let i = self.open(String::new(), vec![marker], now);
                        self.overflow = Some(i);
                        i
                    }
                }
            }
        };
        let ms = duration_ns as f64 / 1e6;
        let s = &mut self.series[i];
        s.calls += 1;
        s.sum_ms += ms;
        // Explicit buckets are upper-inclusive: bucket i holds (bounds[i-1], bounds[i]].
        s.buckets[self.bounds_ms.partition_point(|&b| b < ms)] += 1;
        i
    }

    /// Counts a span of `series` tagged `kind`.
    pub(crate) fn anomaly(&mut self, series: usize, kind: AnomalyKind) {
        if let Some(s) = self.series.get_mut(series) {
            s.anomalies[kind_index(kind)] += 1;
        }
    }

    fn open(&mut self, service: String, attributes: Vec<KeyValue>, now: u64) -> usize {
        self.series.push(Series {
            service,
            attributes,
            start: now,
            calls: 0,
            buckets: vec![0; self.bounds_ms.len() + 1],
            sum_ms: 0.0,
            anomalies: [0; 5],
        });
        self.series.len() - 1
    }

    /// Every series as of `now` (Unix nanoseconds), one resource per service; `None` before the
    /// first span.
    pub(crate) fn request(&self, now: u64) -> Option<ExportMetricsServiceRequest> {
        if self.series.is_empty() {
            return None;
        }
        let mut by_service: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
        for s in &self.series {
            by_service.entry(&s.service).or_default().push(s);
        }
        let resource_metrics = by_service
            .into_iter()
            .map(|(service, series)| ResourceMetrics {
                resource: Some(service_resource(service)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope(SCOPE)),
                    metrics: self.metrics(&series, now),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        Some(ExportMetricsServiceRequest { resource_metrics })
    }

    fn metrics(
        &self,
        series: &[&Series],
        now: u64,
    ) -> Vec<lookout_proto::otlp::metrics::v1::Metric> {
        let times = |s: &Series| Times {
            start: s.start,
            now,
        };
        let calls = series
            .iter()
            .map(|s| number_point(s.attributes.clone(), times(s), Num::from_u64(s.calls)))
            .collect();
        let durations = series
            .iter()
            .map(|s| HistogramDataPoint {
                attributes: s.attributes.clone(),
                start_time_unix_nano: s.start,
                time_unix_nano: now,
                count: s.calls,
                sum: Some(s.sum_ms),
                bucket_counts: s.buckets.clone(),
                explicit_bounds: self.bounds_ms.clone(),
                ..Default::default()
            })
            .collect();
        let mut out = vec![
            sum_of(
                &self.calls_name,
                "Spans per key, errors included (status.code).",
                "",
                true,
                calls,
            ),
            histogram(
                &self.duration_name,
                "Span durations per key.",
                "ms",
                durations,
            ),
        ];
        let anomalies: Vec<_> = series
            .iter()
            .flat_map(|s| {
                KINDS
                    .into_iter()
                    .filter(|&k| s.anomalies[kind_index(k)] > 0)
                    .map(move |k| {
                        let mut attributes = s.attributes.clone();
                        attributes.push(attr(lookout_anomaly::ATTR_KIND, k.as_str()));
                        let n = Num::from_u64(s.anomalies[kind_index(k)]);
                        number_point(attributes, times(s), n)
                    })
            })
            .collect();
        if !anomalies.is_empty() {
            out.push(sum_of(
                ANOMALIES,
                "Spans tagged as latency anomalies per key, by kind.",
                "",
                true,
                anomalies,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lookout_proto::otlp::metrics::v1::metric::Data;
    use lookout_proto::otlp::metrics::v1::{Metric, NumberDataPoint, number_data_point};

    use super::*;

    const T0: u64 = 1_700_000_000_000_000_000;
    const MS: u64 = 1_000_000;

    fn red(max_series: usize, buckets_ms: &[u64]) -> Red {
        Red::new(&RedMetricsConfig {
            max_series,
            histogram_buckets: buckets_ms
                .iter()
                .map(|&b| Duration::from_millis(b))
                .collect(),
            ..RedMetricsConfig::default()
        })
    }

    fn dims(service: &str, name: &str) -> impl FnOnce() -> (String, Vec<KeyValue>) {
        let (service, name) = (service.to_owned(), name.to_owned());
        move || {
            (
                service.clone(),
                vec![attr("service.name", service), attr("span.name", name)],
            )
        }
    }

    fn metric<'a>(rm: &'a ResourceMetrics, name: &str) -> &'a Metric {
        rm.scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    fn sum_points(m: &Metric) -> &[NumberDataPoint] {
        match &m.data {
            Some(Data::Sum(s)) => {
                assert!(s.is_monotonic);
                assert_eq!(s.aggregation_temporality, 2, "cumulative");
                &s.data_points
            }
            other => panic!("{} is not a sum: {other:?}", m.name),
        }
    }

    fn int(p: &NumberDataPoint) -> i64 {
        match p.value {
            Some(number_data_point::Value::AsInt(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
        attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    #[test]
    fn red_calls_histogram_and_anomalies_per_series() {
        let mut r = red(10, &[10, 100]);
        let (a, b) = (KeyHash(1), KeyHash(2));
        // 10 ms sits in the first bucket (upper bounds are inclusive), 10.000001 ms in the second.
        let a1 = r.record(a, 10 * MS, T0, dims("shop", "GET /a"));
        r.record(a, 10 * MS + 1, T0 + 1, || unreachable!("series exists"));
        r.record(a, 500 * MS, T0 + 2, || unreachable!("series exists"));
        let b1 = r.record(b, 3 * MS, T0 + 3, dims("auth", "login"));
        r.anomaly(a1, AnomalyKind::Spike);
        r.anomaly(a1, AnomalyKind::Spike);
        r.anomaly(a1, AnomalyKind::Shift);
        assert_ne!(a1, b1);
        assert_eq!(r.len(), 2);

        let req = r.request(T0 + 10).unwrap();
        let services: Vec<_> = req
            .resource_metrics
            .iter()
            .map(|rm| string_attr(&rm.resource.as_ref().unwrap().attributes, "service.name"))
            .collect();
        assert_eq!(services, [Some("auth"), Some("shop")]);
        let shop = &req.resource_metrics[1];
        assert_eq!(shop.scope_metrics[0].scope.as_ref().unwrap().name, SCOPE);

        let calls = sum_points(metric(shop, "traces.span.metrics.calls"));
        assert_eq!(calls.len(), 1);
        assert_eq!(int(&calls[0]), 3);
        assert_eq!(
            string_attr(&calls[0].attributes, "span.name"),
            Some("GET /a")
        );
        assert_eq!(
            (calls[0].start_time_unix_nano, calls[0].time_unix_nano),
            (T0, T0 + 10)
        );

        let duration = metric(shop, "traces.span.metrics.duration");
        assert_eq!(duration.unit, "ms");
        let Some(Data::Histogram(h)) = &duration.data else {
            panic!("duration is not a histogram")
        };
        assert_eq!(h.aggregation_temporality, 2);
        let p = &h.data_points[0];
        assert_eq!(p.explicit_bounds, [10.0, 100.0]);
        assert_eq!(p.bucket_counts, [1, 1, 1]);
        assert_eq!(p.count, 3);
        assert!((p.sum.unwrap() - 520.000001).abs() < 1e-6, "{:?}", p.sum);
        assert_eq!(p.start_time_unix_nano, T0);

        let anomalies = sum_points(metric(shop, ANOMALIES));
        let by_kind: Vec<(&str, i64)> = anomalies
            .iter()
            .map(|p| {
                (
                    string_attr(&p.attributes, "lookout.latency.kind").unwrap(),
                    int(p),
                )
            })
            .collect();
        assert_eq!(by_kind, [("spike", 2), ("shift", 1)]);
        assert_eq!(
            string_attr(&anomalies[0].attributes, "span.name"),
            Some("GET /a")
        );
        // No anomaly in `auth`: no anomaly metric there.
        let auth = &req.resource_metrics[0];
        assert!(
            auth.scope_metrics[0]
                .metrics
                .iter()
                .all(|m| m.name != ANOMALIES)
        );
    }

    #[test]
    fn red_start_time_stays_and_counts_accumulate_across_flushes() {
        let mut r = red(10, &[10]);
        r.record(KeyHash(7), MS, T0, dims("shop", "op"));
        let first = r.request(T0 + 100).unwrap();
        r.record(KeyHash(7), MS, T0 + 200, || unreachable!());
        r.record(KeyHash(7), MS, T0 + 300, || unreachable!());
        let second = r.request(T0 + 400).unwrap();
        let point = |req: &ExportMetricsServiceRequest| {
            let calls = sum_points(metric(
                &req.resource_metrics[0],
                "traces.span.metrics.calls",
            ));
            (
                calls[0].start_time_unix_nano,
                calls[0].time_unix_nano,
                int(&calls[0]),
            )
        };
        assert_eq!(point(&first), (T0, T0 + 100, 1));
        assert_eq!(point(&second), (T0, T0 + 400, 3));
    }

    #[test]
    fn red_keys_beyond_max_series_fold_into_one_overflow_series() {
        let mut r = red(2, &[10]);
        r.record(KeyHash(1), MS, T0, dims("shop", "a"));
        r.record(KeyHash(2), MS, T0, dims("shop", "b"));
        let over = r.record(KeyHash(3), MS, T0 + 5, || {
            unreachable!("no series beyond the limit")
        });
        assert_eq!(r.record(KeyHash(4), MS, T0 + 6, || unreachable!()), over);
        assert_eq!(r.record(KeyHash(3), MS, T0 + 7, || unreachable!()), over);
        // Keys that have a series keep it.
        r.record(KeyHash(1), MS, T0 + 8, || unreachable!());
        assert_eq!((r.len(), r.overflowed), (2, 3));

        let req = r.request(T0 + 10).unwrap();
        // The overflow series has no service: its own resource without attributes.
        let overflow = req
            .resource_metrics
            .iter()
            .find(|rm| rm.resource.as_ref().unwrap().attributes.is_empty())
            .expect("an overflow resource");
        let calls = sum_points(metric(overflow, "traces.span.metrics.calls"));
        assert_eq!(calls.len(), 1);
        assert_eq!(int(&calls[0]), 3);
        assert_eq!(calls[0].start_time_unix_nano, T0 + 5);
        assert_eq!(
            calls[0].attributes,
            [kv(OVERFLOW_ATTRIBUTE, Value::BoolValue(true))]
        );
        let total: i64 = req
            .resource_metrics
            .iter()
            .flat_map(|rm| sum_points(metric(rm, "traces.span.metrics.calls")))
            .map(int)
            .sum();
        assert_eq!(total, 6);
    }

    #[test]
    fn red_namespace_prefixes_the_spanmetrics_names() {
        let mut r = Red::new(&RedMetricsConfig {
            namespace: String::new(),
            ..RedMetricsConfig::default()
        });
        assert!(r.request(T0).is_none(), "nothing before the first span");
        r.record(KeyHash(1), MS, T0, dims("shop", "op"));
        let req = r.request(T0).unwrap();
        let names: Vec<&str> = req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["calls", "duration"]);
        let Some(Data::Histogram(h)) = &metric(&req.resource_metrics[0], "duration").data else {
            panic!()
        };
        // spanmetrics' default buckets.
        assert_eq!(h.data_points[0].explicit_bounds.len(), 16);
        assert_eq!(h.data_points[0].explicit_bounds[15], 15_000.0);
    }
}
