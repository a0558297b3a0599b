//! Which traces of a [`crate::workload`] arrived whole: spans and log records counted per
//! trace id against what the root span says was made, by class, plus the delay from each
//! root's end to its arrival (the sampling decision's delay, and the pipeline's).

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

use crate::workload::{ATTR_CLASS, ATTR_LOGS, ATTR_SPANS, Class};

/// The attribute `latency_anomaly` sets on the spans it tags.
pub const ATTR_ANOMALY: &str = "lookout.latency.anomaly";
/// Traces tracked at most; items of further traces are counted in `untracked`.
const MAX_TRACES: usize = 4_000_000;

/// What arrived of one trace.
#[derive(Debug, Default, Clone)]
struct Seen {
    spans: u64,
    logs: u64,
    /// From the root: class, spans and records made.
    root: Option<(Class, u64, u64)>,
    tagged: bool,
}

/// Counts of arrived traces and items.
#[derive(Debug, Default)]
pub struct Tally {
    traces: HashMap<Vec<u8>, Seen>,
    /// Root end → root arrival, µs.
    delays_us: Vec<u64>,
    tagged_spans: u64,
    untracked: u64,
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally::default()
    }

    fn seen(&mut self, trace_id: &[u8]) -> Option<&mut Seen> {
        if !self.traces.contains_key(trace_id) && self.traces.len() >= MAX_TRACES {
            self.untracked += 1;
            return None;
        }
        Some(self.traces.entry(trace_id.to_vec()).or_default())
    }

    /// Counts the spans of `request`, which arrived at `arrival_ns` (ns since the epoch).
    pub fn add_traces(&mut self, request: &ExportTraceServiceRequest, arrival_ns: u64) {
        for span in request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let tagged = matches!(
                attr(&span.attributes, ATTR_ANOMALY),
                Some(Value::BoolValue(true))
            );
            self.tagged_spans += u64::from(tagged);
            let int = |key| match attr(&span.attributes, key) {
                Some(Value::IntValue(v)) => u64::try_from(*v).ok(),
                _ => None,
            };
            let class = match attr(&span.attributes, ATTR_CLASS) {
                Some(Value::StringValue(s)) => Class::from_label(s),
                _ => None,
            };
            let root = match (class, int(ATTR_SPANS), int(ATTR_LOGS)) {
                (Some(c), Some(s), Some(l)) if span.parent_span_id.is_empty() => Some((c, s, l)),
                _ => None,
            };
            if root.is_some() {
                let delay = arrival_ns.saturating_sub(span.end_time_unix_nano) / 1_000;
                self.delays_us.push(delay);
            }
            let Some(seen) = self.seen(&span.trace_id) else {
                continue;
            };
            seen.spans += 1;
            seen.tagged |= tagged;
            if root.is_some() {
                seen.root = root;
            }
        }
    }

    /// Counts the log records of `request` that carry a trace id.
    pub fn add_logs(&mut self, request: &ExportLogsServiceRequest) {
        for record in request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            if record.trace_id.len() == 16
                && let Some(seen) = self.seen(&record.trace_id)
            {
                seen.logs += 1;
            }
        }
    }

    /// The report: per class the traces seen, whole (every span and record made arrived,
    /// none twice) and partial; the same for traces with a tagged span; traces whose root
    /// never came; the root end → arrival delay in ms.
    pub fn report(&self) -> serde_json::Value {
        let mut by_class: HashMap<&str, [u64; 3]> = HashMap::new();
        let mut tagged = [0u64; 3];
        let mut rootless = 0u64;
        for seen in self.traces.values() {
            let Some((class, spans, logs)) = seen.root else {
                rootless += 1;
                continue;
            };
            let whole = seen.spans == spans && seen.logs == logs;
            let slot = by_class.entry(class.label()).or_default();
            slot[0] += 1;
            slot[usize::from(!whole) + 1] += 1;
            if seen.tagged {
                tagged[0] += 1;
                tagged[usize::from(!whole) + 1] += 1;
            }
        }
        let counts =
            |c: [u64; 3]| serde_json::json!({"seen": c[0], "whole": c[1], "partial": c[2]});
        let classes: serde_json::Map<String, serde_json::Value> = Class::ALL
            .iter()
            .map(|c| {
                let v = by_class.get(c.label()).copied().unwrap_or_default();
                (c.label().to_owned(), counts(v))
            })
            .collect();
        let mut d = self.delays_us.clone();
        d.sort_unstable();
        let q = |p: f64| {
            d.get(((d.len().max(1) - 1) as f64 * p).round() as usize)
                .map_or(0.0, |v| *v as f64 / 1000.0)
        };
        serde_json::json!({
            "classes": classes,
            "tagged": counts(tagged),
            "tagged_spans": self.tagged_spans,
            "rootless_traces": rootless,
            "untracked_items": self.untracked,
            "delay_ms": {"count": d.len(), "min": q(0.0), "p50": q(0.5), "p99": q(0.99), "max": q(1.0)},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Mix, Workload};

    #[test]
    fn whole_and_partial_traces_are_told_apart() {
        let mix = Mix {
            slow_percent: 0.0,
            error_percent: 50.0,
            error_log_percent: 0.0,
            logs: true,
            warmup_traces: 0,
        };
        let mut w = Workload::new(mix, 1);
        let (mut traces, logs, made) = w.batch(200, 1_000_000_000);
        let logs = logs.expect("logs");
        let mut tally = Tally::new();
        tally.add_logs(&logs);
        // Drop the last span of the last resource (a child: the roots are in `frontend`'s, first).
        let last = traces.resource_spans.len() - 1;
        let dropped = traces.resource_spans[last].scope_spans[0]
            .spans
            .pop()
            .expect("a span");
        tally.add_traces(&traces, 1_500_000_000);
        let r = tally.report();
        let seen: u64 = Class::ALL
            .iter()
            .map(|c| r["classes"][c.label()]["seen"].as_u64().unwrap_or(0))
            .sum();
        let partial: u64 = Class::ALL
            .iter()
            .map(|c| r["classes"][c.label()]["partial"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(seen, made.len() as u64);
        assert_eq!(partial, 1, "only the trace that lost a span: {r}");
        assert!(made.iter().any(|m| m.trace_id == dropped.trace_id));
        assert_eq!(r["delay_ms"]["p50"].as_f64(), Some(500.0));
    }
}
