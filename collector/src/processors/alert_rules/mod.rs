//! `processors: alert_rules:` — alert rules on any metric stream, with Prometheus alerting-rule
//! semantics, placed in a metrics pipeline. The data passes through unchanged; each request
//! only updates the rules' series (`ingest.rs`: metrics no rule reads are skipped on the wire,
//! the others decoded one by one), and every `evaluation_interval` the rules
//! are evaluated over the latest values (`eval.rs`) and their alerts go to the `alerting`
//! extension.
//!
//! ```yaml
//! processors:
//!   alert_rules:
//!     alerting: alerting          # the alerting extension's id
//!     evaluation_interval: 5s
//!     default_rules: true         # the host + httpcheck set of default_rules.yaml
//!     rules:
//!       - alert: HighCpu
//!         metric: system.cpu.utilization
//!         match: {state: idle, host.name: "=~web.*"}
//!         aggregate: {op: avg, by: [host.name]}
//!         condition: "< 0.1"
//!         for: 2m
//!         keep_firing_for: 1m
//!         severity: warning
//!         labels: {team: infra}
//!         annotations: {summary: "CPU idle {{ value }} on {{ labels['host.name'] }}"}
//!       - alert: FilesystemFullIn4h
//!         metric: system.filesystem.utilization
//!         predict_linear: {window: 1h, horizon: 4h}
//!         condition: ">= 1"
//! ```
//!
//! - **Series**: one per distinct set of resource + point attributes of a matching point, at
//!   most `max_series` per rule (more are dropped and counted). Matchers (`match:`) test those
//!   attributes: `key: value`, `key: [a, b]`, `key: "=~regex"`, `"!~regex"`, `"!=value"`
//!   (regexes anchored; an absent attribute reads as `""`).
//! - **Value** (`value:`): `gauge` (the point as is; for sums, the sum), `rate` (per-second
//!   increase between the last two points of a cumulative sum — a decrease, or a new start
//!   time, is a counter reset and counts the new value from 0 — or a delta point divided by
//!   its interval), `delta` (that increase, not per second), `pNN` (a quantile of an
//!   explicit-bucket histogram over the last interval, linearly interpolated within the
//!   bucket as Prometheus' `histogram_quantile`; exponential histograms and summaries are not
//!   supported). `gauge`, `rate` and `delta` read gauges and sums, `pNN` histograms; a
//!   series of another kind has no value.
//! - **`predict_linear: {window, horizon}`**: the value is the ordinary least-squares line
//!   through the series' samples of the last `window` (at most 240, thinned evenly), read at
//!   now + `horizon`; with fewer than `min_samples` (default 5) the series has no value yet.
//! - **`absent: true`**: a group seen once is remembered; its value is 1 while none of its
//!   series reports and 0 while one does ("a process is gone": see `default_rules.yaml`).
//! - **Aggregation** (`aggregate: {op, by}`): `avg`, `max`, `min`, `sum`, `count` across the
//!   series with the same `by` labels; without it every series is its own alert.
//! - **States**: a group whose value meets `condition` is pending; after `for:` it fires and
//!   is sent on every evaluation (the extension de-duplicates by labels); once the condition
//!   has been false for `keep_firing_for` it resolves and is sent once with `ends_at`. A
//!   series silent for `stale_after` (default 5 × `evaluation_interval`, and at least 2.5 ×
//!   its own reporting interval) is forgotten; an alert left without series resolves.
//! - **Alerts**: labels = the group's attributes (all of a series' attributes without
//!   aggregation, the `by` labels with it) + the rule's `labels` + `severity` + `alertname`;
//!   annotations are minijinja templates with `value`, `threshold`, `alertname`, `labels` and
//!   `series` (all attributes of the series with the largest value: `error.message`);
//!   evidence: `value` and `threshold` figures, and the values of the `for:` window.
//! - One instance for all the pipelines that list it (one state, one evaluation per tick).
//! - Self-metrics: `lookout_alert_rules_series`, `lookout_alert_rules_firing`,
//!   `lookout_alert_rules_evaluations_total` (rules evaluated),
//!   `lookout_alert_rules_series_dropped_total`.

mod config;
mod eval;
mod factory;
mod ingest;
mod rule;
mod series;
mod template;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub(crate) use config::AlertRulesConfig;
pub(crate) use factory::Factory;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use self::eval::RuleState;
use self::rule::Rule;
use super::ProcessorContext;
use crate::core::Signal;
use crate::core::alert::AlertSink;

/// Self-metrics of one instance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    pub(crate) series: Gauge,
    pub(crate) firing: Gauge,
    pub(crate) evaluations: Counter,
    pub(crate) dropped: Counter,
}

/// The rules' state: series, pending and firing alerts.
#[derive(Debug)]
pub(crate) struct Engine {
    rules: Vec<RuleState>,
    /// Rule indexes by the metric they read.
    by_metric: HashMap<String, Vec<usize>>,
    /// The metric names rules read, for [`Engine::extract`] outside the lock.
    watched: Arc<HashSet<String>>,
    max_series: usize,
    stale_after: Duration,
    interval: Duration,
    last_evaluation: Option<SystemTime>,
    dropped: Counter,
    metrics: Metrics,
}

impl Engine {
    /// An engine for the configured rules (defaults included).
    pub(crate) fn new(config: &AlertRulesConfig, metrics: Metrics) -> Result<Engine, String> {
        let mut rules = Vec::new();
        let mut by_metric: HashMap<String, Vec<usize>> = HashMap::new();
        for c in config.all_rules()? {
            let rule = Rule::compile(&c).map_err(|e| format!("rule {}: {e}", c.alert))?;
            by_metric
                .entry(rule.metric.clone())
                .or_default()
                .push(rules.len());
            rules.push(RuleState::new(rule));
        }
        let watched = Arc::new(by_metric.keys().cloned().collect());
        Ok(Engine {
            rules,
            by_metric,
            watched,
            max_series: config.max_series,
            stale_after: config.stale_after(),
            interval: config.evaluation_interval,
            last_evaluation: None,
            dropped: metrics.dropped.clone(),
            metrics,
        })
    }

    /// The metric names the rules read.
    pub(crate) fn watched(&self) -> Arc<HashSet<String>> {
        Arc::clone(&self.watched)
    }

    /// Evaluates every rule at `now`, unless another pipeline's stage of the same instance
    /// just did (its ticks are not aligned with this one's).
    pub(crate) fn evaluate(&mut self, now: SystemTime, sink: &dyn AlertSink, source: &str) {
        if let Some(last) = self.last_evaluation
            && now
                .duration_since(last)
                .is_ok_and(|d| d < self.interval.mul_f64(0.5))
        {
            return;
        }
        self.evaluate_now(now, sink, source);
    }

    /// Evaluates every rule at `now`.
    pub(crate) fn evaluate_now(&mut self, now: SystemTime, sink: &dyn AlertSink, source: &str) {
        self.last_evaluation = Some(now);
        let mut firing = 0;
        for rs in &mut self.rules {
            firing += rs.evaluate(now, self.stale_after, sink, source);
        }
        let series: usize = self.rules.iter().map(|r| r.series.len()).sum();
        self.metrics
            .series
            .set(i64::try_from(series).unwrap_or(i64::MAX));
        self.metrics
            .firing
            .set(i64::try_from(firing).unwrap_or(i64::MAX));
        self.metrics.evaluations.inc_by(self.rules.len() as u64);
    }
}

/// One pipeline's stage: passes batches on, feeds metrics requests to the shared engine, and
/// evaluates on its tick.
pub(crate) async fn run(
    engine: Arc<Mutex<Engine>>,
    sink: Arc<dyn AlertSink>,
    interval: Duration,
    mut ctx: ProcessorContext,
) {
    // The sink never blocks, so sending under the lock holds it only for the evaluation.
    let evaluate = |e: &Mutex<Engine>| {
        e.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .evaluate(SystemTime::now(), &*sink, &ctx.id);
    };
    let watched = engine
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .watched();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = ctx.input.recv() => {
                let Some(batch) = next else { break };
                ctx.metrics.incoming.inc_by(batch.items as u64);
                if batch.signal == Signal::Metrics {
                    match Engine::extract(&watched, &batch.payload) {
                        Ok(w) if w.is_empty() => {}
                        Ok(w) => engine
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .apply_watched(&w, SystemTime::now()),
                        Err(e) => tracing::debug!(processor = %ctx.id, error = %e, "undecodable metrics request"),
                    }
                }
                ctx.metrics.outgoing.inc_by(batch.items as u64);
                ctx.output.send(batch).await;
            }
            _ = tick.tick() => evaluate(&engine),
        }
    }
}
