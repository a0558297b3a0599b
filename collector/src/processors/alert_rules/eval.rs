//! Evaluation, on the processor's tick: stale series are forgotten, series values are
//! aggregated into groups, and each group's alert moves through inactive → pending → firing →
//! resolved (Prometheus' semantics: `for:` before firing, `keep_firing_for` before resolving).
//! Firing alerts are sent again on every evaluation; a resolved one once, with `ends_at`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use super::config::AggregateOp;
use super::rule::Rule;
use super::series::Series;
use super::template;
use crate::core::alert::{Alert, AlertSink};

/// Groups an `absent` rule remembers at most.
const MAX_KNOWN_GROUPS: usize = 10_000;

/// Values kept as an alert's evidence at most.
const MAX_EVIDENCE_VALUES: usize = 64;

type Labels = BTreeMap<String, String>;

/// A rule with its series and the alerts of its groups.
#[derive(Debug)]
pub(crate) struct RuleState {
    pub(crate) rule: Rule,
    /// Series by their attributes' key.
    pub(crate) series: HashMap<u64, Series>,
    /// Pending and firing alerts, by group labels.
    alerts: HashMap<Labels, AlertState>,
    /// Groups seen so far (`absent` rules only).
    known: HashSet<Labels>,
}

/// A pending or firing alert.
#[derive(Debug)]
struct AlertState {
    /// When the condition started holding.
    active_since: SystemTime,
    /// When it last held.
    last_true: SystemTime,
    firing: bool,
    value: f64,
    /// For templates: the labels of the group's series with the largest value (aggregations).
    series: Option<Labels>,
    /// Values at evaluations, for the evidence.
    history: VecDeque<(SystemTime, f64)>,
}

/// Accumulates one group's values.
#[derive(Debug, Clone)]
struct Acc {
    n: usize,
    sum: f64,
    min: f64,
    max: f64,
    /// The labels of the series with the largest value, for templates (`series`), when the
    /// group is an aggregation and the rule has annotations.
    top: Option<Labels>,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            top: None,
        }
    }

    fn add_from(&mut self, v: f64, series: &Labels) {
        if v > self.max || self.top.is_none() {
            self.top = Some(series.clone());
        }
        self.add(v);
    }

    fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    fn result(&self, op: Option<AggregateOp>) -> f64 {
        match op {
            None | Some(AggregateOp::Sum) => self.sum,
            Some(AggregateOp::Avg) => self.sum / self.n as f64,
            Some(AggregateOp::Max) => self.max,
            Some(AggregateOp::Min) => self.min,
            Some(AggregateOp::Count) => self.n as f64,
        }
    }
}

impl RuleState {
    pub(crate) fn new(rule: Rule) -> RuleState {
        RuleState {
            rule,
            series: HashMap::new(),
            alerts: HashMap::new(),
            known: HashSet::new(),
        }
    }

    /// The rule's value per group now.
    fn groups(&self, now: SystemTime) -> HashMap<Labels, Acc> {
        let mut groups: HashMap<Labels, Acc> = HashMap::new();
        for s in self.series.values() {
            let value = match &self.rule.predict {
                Some(p) => s.predict(now, p.window, p.horizon, p.min_samples),
                None => s.value,
            };
            let Some(v) = value.filter(|v| !v.is_nan()) else {
                continue;
            };
            let key = match &self.rule.aggregate {
                Some(a) => {
                    a.by.iter()
                        .filter_map(|k| s.labels.get(k).map(|v| (k.clone(), v.clone())))
                        .collect()
                }
                None => s.labels.clone(),
            };
            let acc = groups.entry(key).or_insert_with(Acc::new);
            if self.rule.aggregate.is_some() && !self.rule.annotations.is_empty() {
                acc.add_from(v, &s.labels);
            } else {
                acc.add(v);
            }
        }
        groups
    }

    /// An `absent` rule's values: 0 for the groups with series, 1 for the remembered ones
    /// without.
    fn absence(&mut self, present: HashMap<Labels, Acc>) -> HashMap<Labels, Acc> {
        let mut out = HashMap::new();
        for labels in present.into_keys() {
            if self.known.len() < MAX_KNOWN_GROUPS || self.known.contains(&labels) {
                self.known.insert(labels.clone());
            }
            let mut acc = Acc::new();
            acc.add(0.0);
            out.insert(labels, acc);
        }
        for labels in &self.known {
            out.entry(labels.clone()).or_insert_with(|| {
                let mut acc = Acc::new();
                acc.add(1.0);
                acc
            });
        }
        out
    }

    /// Evaluates the rule at `now`; returns how many of its alerts fire.
    pub(crate) fn evaluate(
        &mut self,
        now: SystemTime,
        stale_after: Duration,
        sink: &dyn AlertSink,
        source: &str,
    ) -> usize {
        self.series.retain(|_, s| !s.is_stale(now, stale_after));
        let mut op = self.rule.aggregate.as_ref().map(|a| a.op);
        let mut groups = self.groups(now);
        if self.rule.absent {
            groups = self.absence(groups);
            op = None;
        }
        let rule = &self.rule;
        let since = |t: SystemTime| now.duration_since(t).unwrap_or(Duration::ZERO);
        // Alerts whose group has no value any more (its series went stale) resolve now.
        self.alerts.retain(|labels, st| {
            if let Some(acc) = groups.get(labels) {
                let value = acc.result(op);
                st.value = value;
                if acc.top.is_some() {
                    st.series.clone_from(&acc.top);
                }
                st.history.push_back((now, value));
                if rule.condition.holds(value) {
                    st.last_true = now;
                    return true;
                }
                if st.firing && since(st.last_true) < rule.keep_firing_for {
                    return true;
                }
            }
            if st.firing {
                let mut alert = build(rule, labels, st);
                alert.ends_at = Some(now);
                sink.send(source, alert);
            }
            false
        });
        for (labels, acc) in groups.drain() {
            let value = acc.result(op);
            if self.alerts.contains_key(&labels) || !rule.condition.holds(value) {
                continue;
            }
            let mut history = VecDeque::new();
            history.push_back((now, value));
            self.alerts.insert(
                labels,
                AlertState {
                    active_since: now,
                    last_true: now,
                    firing: false,
                    value,
                    series: acc.top,
                    history,
                },
            );
        }
        let mut firing = 0;
        for (labels, st) in &mut self.alerts {
            let keep_from = now.checked_sub(rule.for_).unwrap_or(SystemTime::UNIX_EPOCH);
            while st.history.len() > 1
                && (st.history.len() > MAX_EVIDENCE_VALUES
                    || st.history.front().is_some_and(|(t, _)| *t < keep_from))
            {
                st.history.pop_front();
            }
            if !st.firing && since(st.active_since) >= rule.for_ {
                st.firing = true;
            }
            if st.firing {
                firing += 1;
                sink.send(source, build(rule, labels, st));
            }
        }
        firing
    }
}

/// The alert of a group: the group's labels, then the rule's (`severity` included), then
/// `alertname`; annotations rendered; value and threshold as figures.
fn build(rule: &Rule, group: &Labels, st: &AlertState) -> Alert {
    let mut alert = Alert::firing(&rule.name, st.active_since);
    let mut labels = group.clone();
    labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels.extend(std::mem::take(&mut alert.labels));
    alert.annotations = template::render(
        &rule.annotations,
        &rule.name,
        &labels,
        st.series.as_ref().unwrap_or(group),
        st.value,
        rule.condition.threshold,
    );
    alert.labels = labels;
    alert.evidence.figures = vec![
        ("value".to_string(), st.value),
        ("threshold".to_string(), rule.condition.threshold),
    ];
    if let Some(p) = &rule.predict {
        alert
            .evidence
            .figures
            .push(("horizon_seconds".to_string(), p.horizon.as_secs_f64()));
    }
    alert.evidence.values = st.history.iter().copied().collect();
    alert
}
