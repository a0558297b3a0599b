//! `processors: alert_rules:` settings: the processor's own knobs and the rules, as written in
//! YAML. [`super::rule`] compiles them (regexes, templates) once at load.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::component::Validate;
use crate::core::ComponentId;

/// The default rule set, embedded (documented in `default_rules.yaml` itself).
pub(crate) const DEFAULT_RULES: &str = include_str!("default_rules.yaml");

/// The `alert_rules` processor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertRulesConfig {
    /// The `alerting` extension alerts are sent to (required).
    pub alerting: Option<ComponentId>,
    /// Rules are evaluated on this tick over the latest values (default `5s`); data only
    /// updates state.
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// Include the built-in host and HTTP-check rules (default `true`).
    pub default_rules: bool,
    /// More rules; a rule with the name of a default rule replaces it.
    pub rules: Vec<RuleConfig>,
    /// Series tracked per rule at most (default 10 000); new series beyond are dropped and
    /// counted in `lookout_alert_rules_series_dropped_total`.
    pub max_series: usize,
    /// A series that has not reported for this long is forgotten and its alert resolves
    /// (default: 5 × `evaluation_interval`; never less than 2.5 × the series' own reporting
    /// interval, so slow scrapes do not flap).
    #[serde(with = "humantime_serde")]
    pub stale_after: Option<Duration>,
}

impl Default for AlertRulesConfig {
    fn default() -> Self {
        AlertRulesConfig {
            alerting: None,
            evaluation_interval: Duration::from_secs(5),
            default_rules: true,
            rules: Vec::new(),
            max_series: 10_000,
            stale_after: None,
        }
    }
}

impl AlertRulesConfig {
    /// The default rules (when enabled) with the configured ones replacing or added to them.
    pub(crate) fn all_rules(&self) -> Result<Vec<RuleConfig>, String> {
        let mut rules: Vec<RuleConfig> = if self.default_rules {
            default_rules()?
        } else {
            Vec::new()
        };
        for rule in &self.rules {
            match rules.iter_mut().find(|r| r.alert == rule.alert) {
                Some(slot) => *slot = rule.clone(),
                None => rules.push(rule.clone()),
            }
        }
        Ok(rules)
    }

    /// `stale_after`, or its default.
    pub(crate) fn stale_after(&self) -> Duration {
        self.stale_after.unwrap_or(self.evaluation_interval * 5)
    }
}

/// The embedded default rule set.
pub(crate) fn default_rules() -> Result<Vec<RuleConfig>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        rules: Vec<RuleConfig>,
    }
    serde_yaml_ng::from_str::<File>(DEFAULT_RULES)
        .map(|f| f.rules)
        .map_err(|e| format!("internal error: default_rules.yaml: {e}"))
}

impl Validate for AlertRulesConfig {
    fn validate(&self) -> Result<(), String> {
        if self.alerting.is_none() {
            return Err("alerting: the id of the alerting extension is required".into());
        }
        if self.evaluation_interval.is_zero() {
            return Err("evaluation_interval must be greater than zero".into());
        }
        if self.max_series == 0 {
            return Err("max_series must be greater than zero".into());
        }
        for (i, rule) in self.rules.iter().enumerate() {
            super::rule::Rule::compile(rule)
                .map_err(|e| format!("rules[{i}] ({}): {e}", rule.alert))?;
        }
        for rule in self.all_rules()? {
            super::rule::Rule::compile(&rule).map_err(|e| format!("rule {}: {e}", rule.alert))?;
        }
        Ok(())
    }
}

/// One rule, Prometheus alerting-rule semantics.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleConfig {
    /// The alert's name (its `alertname` label).
    pub alert: String,
    /// The metric the rule reads (exact OTLP name, `system.cpu.utilization`).
    pub metric: String,
    /// Attribute matchers over resource and point attributes (point attributes win on a
    /// clash): `key: value` (equal), `key: [a, b]` (any of), `key: "=~re"` / `"!~re"` (regex,
    /// anchored, matches / does not), `key: "!=value"`. A missing attribute reads as `""`.
    #[serde(default, rename = "match")]
    pub matchers: BTreeMap<String, MatchValue>,
    /// Aggregation across series (none: every series is its own alert).
    #[serde(default)]
    pub aggregate: Option<AggregateConfig>,
    /// How a point becomes the rule's value: `gauge` (the value as is, default), `rate` (per
    /// second increase of a sum; counter resets read as restarts from 0), `delta` (increase
    /// since the previous point), `pNN` (quantile of a histogram's explicit buckets over the
    /// last interval, e.g. `p95`, `p99.9`).
    #[serde(default)]
    pub value: String,
    /// Predict the value at now + `horizon` from the trend over `window` instead of reading it.
    #[serde(default)]
    pub predict_linear: Option<PredictConfig>,
    /// `> 0.9`, `>= 1`, `< 10`, `<= 10`, `== 0`, `!= 0`.
    pub condition: String,
    /// How long the condition must hold before the alert fires (default 0: at once).
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub for_: Duration,
    /// How long a firing alert keeps firing after the condition stopped holding.
    #[serde(default, with = "humantime_serde")]
    pub keep_firing_for: Duration,
    /// Absence instead of a value: every group (`aggregate.by` labels, or a series' labels)
    /// seen once is remembered, and its value is 1 while it has no reporting series, 0 while
    /// it has some (write `condition: "== 1"`). For "this process is gone".
    #[serde(default)]
    pub absent: bool,
    /// The `severity` label (default `warning`).
    #[serde(default)]
    pub severity: Option<String>,
    /// More labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations, as minijinja templates with `value`, `threshold`, `labels`, `series` (the
    /// attributes of the series, or of the group's largest) and `alertname` in scope.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A matcher's right-hand side: one string (with an optional operator prefix) or a list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum MatchValue {
    /// `value`, `=~re`, `!~re`, `!=value`.
    One(String),
    /// Any of these values.
    Any(Vec<String>),
}

/// `aggregate:`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct AggregateConfig {
    /// `avg`, `max`, `min`, `sum` or `count`.
    pub op: AggregateOp,
    /// Labels kept; series with the same values form one group (none: one group).
    #[serde(default)]
    pub by: Vec<String>,
}

/// An aggregation across series.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AggregateOp {
    /// Mean.
    Avg,
    /// Largest.
    Max,
    /// Smallest.
    Min,
    /// Total.
    Sum,
    /// Number of series.
    Count,
}

/// `predict_linear:`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PredictConfig {
    /// Samples of the last `window` make the trend.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How far ahead the value is predicted.
    #[serde(with = "humantime_serde")]
    pub horizon: Duration,
    /// Fewer samples in the window predict nothing (default 5).
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
}

fn default_min_samples() -> usize {
    5
}
