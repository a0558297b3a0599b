//! The segment reads that skip work answer as the full reads do: the trace search with its
//! predicates pushed down (row groups skipped by statistics, columns decoded only for the
//! rows the cheaper predicates kept) against the scan it replaced, and a metric read pruned
//! by name against the points that were written, on mixed data spanning several row groups
//! and hours.

use std::collections::BTreeMap;

use prost::Message;

use super::config::StoreConfig;
use super::db::Store;
use super::metrics::StoreMetrics;
use super::query::Search;
use super::rollup::{HOUR_NS, MINUTE_NS};
use super::segment::Kind;
use crate::core::Signal;
use crate::telemetry::Telemetry;
use lookout_proto::otlp::collector::{metrics, trace};
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// A fixed hour (2026-12-06 10:00 UTC).
const T0: i64 = 1_796_551_200 * 1_000_000_000;
const SERVICES: [&str; 5] = ["api", "cart", "db", "email", "web"];

/// xorshift: reproducible data.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

fn open(dir: &std::path::Path) -> (Store, Telemetry) {
    let mut c = StoreConfig {
        directory: dir.to_path_buf(),
        ..StoreConfig::default()
    };
    c.retention.max_age = None;
    let t = Telemetry::new();
    let s = Store::open(&c, StoreMetrics::new(&t, "store")).unwrap();
    (s, t)
}

/// `n` spans per service over three hours from `T0`: names, durations (1–400 ms), status
/// codes (0, 1, 2) and anomaly verdicts mixed, a trace id per 4 spans.
fn mixed_spans(s: &Store, n: usize) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (si, svc) in SERVICES.iter().enumerate() {
        let spans: Vec<Span> = (0..n)
            .map(|i| {
                let start = T0 + rng.below(3 * HOUR_NS as u64) as i64;
                let dur = 1_000_000 + rng.below(400_000_000) as i64;
                let mut tid = vec![si as u8 + 1; 16];
                tid[8..].copy_from_slice(&((i / 4) as u64).to_be_bytes());
                let mut attributes = vec![kv(
                    "http.route",
                    any_value::Value::StringValue(format!("/r{}", i % 7)),
                )];
                if rng.below(10) == 0 {
                    attributes.push(kv(
                        "lookout.latency.anomaly",
                        any_value::Value::BoolValue(true),
                    ));
                }
                Span {
                    trace_id: tid,
                    span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                    name: format!("op{}", rng.below(5)),
                    kind: 2,
                    start_time_unix_nano: start as u64,
                    end_time_unix_nano: (start + dur) as u64,
                    attributes,
                    status: Some(Status {
                        code: rng.below(3) as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            })
            .collect();
        let req = trace::v1::ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(vec![kv(
                    "service.name",
                    any_value::Value::StringValue(svc.to_string()),
                )]),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        s.append(Signal::Traces, &req.encode_to_vec()).unwrap();
    }
}

#[test]
fn the_pushed_down_search_answers_as_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _t) = open(dir.path());
    // 5 × 8,000 spans over 3 hours: ~13,300 an hour, two row groups of 8,192 each.
    mixed_spans(&s, 8_000);
    s.flush().unwrap();
    assert_eq!(s.segments(Kind::Spans, T0, T0 + 3 * HOUR_NS).len(), 3);
    assert!(
        s.with_heads(|r| r.spans.len()).iter().all(|&n| n == 0),
        "every span is in a segment"
    );

    let ranges = [
        (T0, T0 + 3 * HOUR_NS),
        // Cuts through row groups in the first and the last hour it touches.
        (T0 + 17 * MINUTE_NS + 3, T0 + 2 * HOUR_NS + 9 * MINUTE_NS),
        (T0 - HOUR_NS, T0),
    ];
    let mut compared = 0;
    let mut nonempty = 0;
    for (from, to) in ranges {
        for service in [None, Some("db"), Some("none")] {
            for operation in [None, Some("op3")] {
                for (min_duration, max_duration) in [
                    (None, None),
                    (Some(300_000_000), None),
                    (None, Some(20_000_000)),
                    (Some(50_000_000), Some(60_000_000)),
                ] {
                    for error in [None, Some(true), Some(false)] {
                        for anomalous in [false, true] {
                            for limit in [7, 1000] {
                                if limit == 7 && (from, to) != ranges[1] {
                                    continue;
                                }
                                let q = Search {
                                    service: service.map(str::to_string),
                                    operation: operation.map(str::to_string),
                                    min_duration,
                                    max_duration,
                                    error,
                                    anomalous,
                                    from,
                                    to,
                                    limit,
                                };
                                let pushed = s.search(&q);
                                assert_eq!(pushed, s.search_scan(&q), "{q:?}");
                                compared += 1;
                                nonempty += usize::from(!pushed.is_empty());
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(compared, 4 * 3 * 2 * 4 * 3 * 2);
    // Most searches find something: the comparison is not of empty answers.
    assert!(nonempty > compared / 3, "{nonempty} of {compared}");

    // One search checked against the rows themselves.
    let q = Search {
        service: Some("cart".into()),
        operation: Some("op1".into()),
        min_duration: Some(390_000_000),
        error: Some(true),
        from: T0,
        to: T0 + 3 * HOUR_NS,
        limit: 1000,
        ..Search::default()
    };
    let found = s.search(&q);
    assert!(!found.is_empty());
    let mut spans = Vec::new();
    for id in &found {
        spans.extend(s.trace(id));
    }
    assert!(found.iter().all(|id| spans.iter().any(|r| &r.trace_id == id
        && r.service == "cart"
        && r.name == "op1"
        && r.dur >= 390_000_000
        && r.status == 2)));
}

#[test]
fn a_metric_read_pruned_by_name_answers_every_point_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _t) = open(dir.path());
    // 200 metrics × 2 hosts × one point a minute for an hour: 24,000 rows per file, two row
    // groups of 16,384, names sorted across them.
    let mut expected: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for host in ["h1", "h2"] {
        let metrics = (0..200)
            .map(|m| {
                let name = format!("m{m:03}");
                let values: Vec<f64> = (0..60).map(|i| (m * 100 + i) as f64).collect();
                expected.insert((name.clone(), host.to_string()), values.clone());
                Metric {
                    name,
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| NumberDataPoint {
                                time_unix_nano: (T0 + i as i64 * MINUTE_NS) as u64,
                                value: Some(number_data_point::Value::AsDouble(*v)),
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }
            })
            .collect();
        let req = metrics::v1::ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(vec![kv(
                    "host.name",
                    any_value::Value::StringValue(host.into()),
                )]),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        s.append(Signal::Metrics, &req.encode_to_vec()).unwrap();
    }
    s.flush().unwrap();
    // Names at both ends and in the middle (where the row groups meet), at each tier.
    for m in [0, 1, 98, 99, 136, 137, 138, 150, 199] {
        let name = format!("m{m:03}");
        for step in [30_000_000_000, MINUTE_NS, HOUR_NS] {
            let series = s.series(&name, T0, T0 + HOUR_NS, step);
            assert_eq!(series.len(), 2, "{name} at {step}");
            for (sr, host) in series.iter().zip(["h1", "h2"]) {
                assert!(sr.labels.contains(host), "{sr:?}");
                let want = &expected[&(name.clone(), host.to_string())];
                let count: u64 = sr.points.iter().map(|p| p.1.count).sum();
                let sum: f64 = sr.points.iter().map(|p| p.1.sum).sum();
                assert_eq!(count, 60, "{name} {host} at {step}");
                assert_eq!(sum, want.iter().sum::<f64>(), "{name} {host} at {step}");
            }
        }
    }
    assert!(s.series("m200", T0, T0 + HOUR_NS, MINUTE_NS).is_empty());
    assert!(s.series("a", T0, T0 + HOUR_NS, MINUTE_NS).is_empty());
}
