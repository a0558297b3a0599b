//! A rule compiled from its [`RuleConfig`]: matchers with their regexes, the condition, the
//! value transform and the annotation templates, checked once at load.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;

use super::config::{AggregateConfig, MatchValue, PredictConfig, RuleConfig};
use crate::core::alert::SEVERITY;

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) metric: String,
    pub(crate) matchers: Vec<(String, Matcher)>,
    pub(crate) aggregate: Option<AggregateConfig>,
    pub(crate) value: ValueKind,
    pub(crate) predict: Option<PredictConfig>,
    pub(crate) condition: Condition,
    pub(crate) for_: Duration,
    pub(crate) keep_firing_for: Duration,
    pub(crate) absent: bool,
    /// Labels added to every alert of the rule (`severity` included).
    pub(crate) labels: BTreeMap<String, String>,
    /// Annotation templates (source text; checked at compile).
    pub(crate) annotations: BTreeMap<String, String>,
}

/// One attribute matcher.
#[derive(Debug)]
pub(crate) enum Matcher {
    Equal(String),
    NotEqual(String),
    AnyOf(Vec<String>),
    Regex(Regex),
    NotRegex(Regex),
}

impl Matcher {
    fn parse(value: &MatchValue) -> Result<Matcher, String> {
        let anchored = |re: &str| {
            Regex::new(&format!("^(?:{re})$")).map_err(|e| format!("bad regex {re:?}: {e}"))
        };
        Ok(match value {
            MatchValue::Any(list) => Matcher::AnyOf(list.clone()),
            MatchValue::One(s) => {
                if let Some(re) = s.strip_prefix("=~") {
                    Matcher::Regex(anchored(re)?)
                } else if let Some(re) = s.strip_prefix("!~") {
                    Matcher::NotRegex(anchored(re)?)
                } else if let Some(v) = s.strip_prefix("!=") {
                    Matcher::NotEqual(v.to_string())
                } else {
                    Matcher::Equal(s.strip_prefix('=').unwrap_or(s).to_string())
                }
            }
        })
    }

    /// Whether an attribute's value (`""` when absent) passes.
    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Equal(v) => value == v,
            Matcher::NotEqual(v) => value != v,
            Matcher::AnyOf(list) => list.iter().any(|v| v == value),
            Matcher::Regex(re) => re.is_match(value),
            Matcher::NotRegex(re) => !re.is_match(value),
        }
    }
}

/// How points become the rule's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueKind {
    Gauge,
    Rate,
    Delta,
    /// A quantile (0..1) of a histogram's explicit buckets.
    Quantile(f64),
}

impl ValueKind {
    fn parse(s: &str) -> Result<ValueKind, String> {
        match s {
            "" | "gauge" => Ok(ValueKind::Gauge),
            "rate" => Ok(ValueKind::Rate),
            "delta" => Ok(ValueKind::Delta),
            _ => s
                .strip_prefix('p')
                .and_then(|q| q.parse::<f64>().ok())
                .filter(|q| *q > 0.0 && *q < 100.0)
                .map(|q| ValueKind::Quantile(q / 100.0))
                .ok_or_else(|| {
                    format!("value: {s:?} is not one of gauge, rate, delta, pNN (e.g. p95)")
                }),
        }
    }
}

/// A comparison against a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Condition {
    pub(crate) op: Op,
    pub(crate) threshold: f64,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Condition {
    pub(crate) fn parse(s: &str) -> Result<Condition, String> {
        let s = s.trim();
        let ops = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ];
        let bad =
            || format!("condition {s:?}: expected an operator (> >= < <= == !=) and a number");
        let (rest, op) = ops
            .iter()
            .find_map(|(p, op)| s.strip_prefix(p).map(|r| (r, *op)))
            .ok_or_else(bad)?;
        let threshold: f64 = rest.trim().parse().map_err(|_| bad())?;
        Ok(Condition { op, threshold })
    }

    /// Whether `value` meets the condition (NaN never does).
    pub(crate) fn holds(&self, value: f64) -> bool {
        let t = self.threshold;
        match self.op {
            Op::Gt => value > t,
            Op::Ge => value >= t,
            Op::Lt => value < t,
            Op::Le => value <= t,
            Op::Eq => value == t,
            Op::Ne => !value.is_nan() && value != t,
        }
    }
}

impl Rule {
    /// Compiles and checks a rule.
    pub(crate) fn compile(c: &RuleConfig) -> Result<Rule, String> {
        if c.alert.is_empty() {
            return Err("alert: a name is required".into());
        }
        if c.metric.is_empty() {
            return Err("metric: a metric name is required".into());
        }
        let matchers = c
            .matchers
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    Matcher::parse(v).map_err(|e| format!("match.{k}: {e}"))?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let value = ValueKind::parse(&c.value)?;
        if let Some(p) = &c.predict_linear {
            if p.window.is_zero() {
                return Err("predict_linear.window must be greater than zero".into());
            }
            if p.min_samples < 2 {
                return Err("predict_linear.min_samples must be at least 2".into());
            }
        }
        let condition = Condition::parse(&c.condition)?;
        if c.absent && c.predict_linear.is_some() {
            return Err("absent and predict_linear exclude each other".into());
        }
        for (name, text) in &c.annotations {
            super::template::check(text).map_err(|e| format!("annotations.{name}: {e}"))?;
        }
        let mut labels = c.labels.clone();
        labels.insert(
            SEVERITY.to_string(),
            c.severity.clone().unwrap_or_else(|| "warning".into()),
        );
        Ok(Rule {
            name: c.alert.clone(),
            metric: c.metric.clone(),
            matchers,
            aggregate: c.aggregate.clone(),
            value,
            predict: c.predict_linear.clone(),
            condition,
            for_: c.for_,
            keep_firing_for: c.keep_firing_for,
            absent: c.absent,
            labels,
            annotations: c.annotations.clone(),
        })
    }
}
