//! Tests of the alert_rules processor: each part on the engine with an injected clock, and the
//! whole path (a real httpcheck receiver probing a local server that stops and comes back).
//! `rules.rs`: config, matchers, aggregation, values; `states.rs`: for / keep_firing_for /
//! stale / predict_linear / bound / absent; `pipeline.rs`: the wire path and the whole path.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use lookout_proto::otlp::resource::v1::Resource;

use super::config::{AlertRulesConfig, default_rules};
use super::rule::{Condition, Rule, ValueKind};
use super::series::{Point, Series, quantile};
use super::{Engine, Metrics};
use crate::core::alert::{Alert, AlertSink};
use crate::core::otlp_build::{Num, Times, attr, gauge, sum};

// === helpers ===

#[derive(Debug, Default)]
struct TestSink(Mutex<Vec<Alert>>);

impl AlertSink for TestSink {
    fn send(&self, _source: &str, alert: Alert) {
        self.0.lock().unwrap().push(alert);
    }
}

impl TestSink {
    fn take(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn nanos(t: SystemTime) -> u64 {
    crate::core::otlp_build::unix_nanos(t)
}

fn config(yaml: &str) -> AlertRulesConfig {
    let mut c: AlertRulesConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.default_rules = false;
    c
}

fn engine(yaml: &str) -> Engine {
    Engine::new(&config(yaml), Metrics::default()).unwrap()
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn times(t: SystemTime) -> Times {
    Times {
        start: nanos(at(0)),
        now: nanos(t),
    }
}

/// One gauge point `value` of `metric` with `attrs` on host `host`, at `t`.
fn gauge_req(
    host: &str,
    metric: &str,
    attrs: &[(&str, &str)],
    value: f64,
    t: SystemTime,
) -> ExportMetricsServiceRequest {
    let attrs = attrs.iter().map(|(k, v)| attr(k, *v)).collect();
    request(
        vec![attr("host.name", host)],
        vec![gauge(
            metric,
            "",
            "1",
            times(t),
            vec![(attrs, Num::Double(value))],
        )],
    )
}

const FOR_RULE: &str = "
alerting: a
evaluation_interval: 1s
rules:
  - alert: TooHigh
    metric: m
    condition: '> 5'
    for: 10s
    keep_firing_for: 5s
    severity: critical
    labels: {team: infra}
    annotations: {summary: '{{ value }} above {{ threshold }} on {{ labels[\"host.name\"] }}'}
";

mod pipeline;
mod rules;
mod states;
