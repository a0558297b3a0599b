//! The held buffer: per undecided trace, its spans and log records as encoded, what the keep
//! rules look at, and when it became ready for a decision. Bounded in accounted bytes by its
//! owner ([`Held::due`] names the oldest traces to decide early beyond the budget).
//!
//! # Accounting
//!
//! A trace costs [`TRACE_OVERHEAD`] (its table slot at worst load and its two index entries)
//! plus, per resource and scope it came with, the headers' bytes (in full, although the
//! traces of one request share one copy) and its items' buffer capacity (see
//! [`Group::bytes`]), plus its per-span log counts.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::mem::size_of;

use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::wire::reader::{FieldReader, WireValue};
use tokio::time::{Duration, Instant};

use super::super::window::{ERROR_SEVERITY, SpanId, TraceId};
use super::group::{self, Group, Item, LogFacts, SpanFacts};
use super::policy::Signs;

/// Attribute of a released span: log records of the trace on it.
pub(crate) const ATTR_LOGS_COUNT: &str = "lookout.logs.count";
/// Attribute of a released span: those with severity `ERROR` or higher.
pub(crate) const ATTR_LOGS_ERROR_COUNT: &str = "lookout.logs.error_count";
/// Attribute of a released span: the highest severity among them (`INFO`, `ERROR`, …).
pub(crate) const ATTR_LOGS_MAX_SEVERITY: &str = "lookout.logs.max_severity";

/// Bytes a held trace costs besides its data.
const TRACE_OVERHEAD: usize = 2 * (size_of::<TraceId>() + size_of::<HeldTrace>() + 1)
    + 2 * 2 * (size_of::<u64>() + size_of::<TraceId>());

/// The log records of one span, as counted for its attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LogStats {
    pub(crate) count: u32,
    pub(crate) errors: u32,
    pub(crate) max_severity: i32,
}

/// Why a trace is due for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Its root arrived and no span followed for `quiet_period`.
    Quiet,
    /// `max_wait` after its first item.
    MaxWait,
    /// The buffer is over its byte budget and this is among the oldest traces.
    Bytes,
}

/// One undecided trace.
#[derive(Debug)]
pub(crate) struct HeldTrace {
    pub(crate) spans: Vec<Group>,
    pub(crate) logs: Vec<Group>,
    pub(crate) span_count: usize,
    pub(crate) log_count: usize,
    pub(crate) signs: Signs,
    log_stats: Vec<(SpanId, LogStats)>,
    /// When its root span arrived (a span is exported once it ended).
    pub(crate) root_at: Option<Instant>,
    pub(crate) first_seen: Instant,
    last_span: Option<Instant>,
    first_seq: u64,
    activity_seq: Option<u64>,
    bytes: usize,
}

impl HeldTrace {
    /// Accounted bytes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The trace as it leaves when kept: spans with their log counts as attributes, logs as
    /// they came.
    pub(crate) fn release(self) -> (Vec<Group>, Vec<Group>) {
        if self.log_stats.is_empty() {
            return (self.spans, self.logs);
        }
        let mut spans = self.spans;
        let mut extra = Vec::new();
        for g in &mut spans {
            let mut items = Vec::with_capacity(g.items.len() + 64);
            let mut r = FieldReader::new(&g.items);
            while let Ok(Some(f)) = r.next_field() {
                let WireValue::Len(body) = f.value else {
                    continue;
                };
                let stats = group::span_facts(body).span.and_then(|id| {
                    self.log_stats
                        .iter()
                        .find(|(s, _)| *s == id)
                        .map(|(_, stats)| *stats)
                });
                extra.clear();
                if let Some(stats) = stats {
                    log_attributes(&stats, &mut extra);
                }
                group::put_len(&mut items, 2, &[body, &extra]);
            }
            g.items = items;
        }
        (spans, self.logs)
    }
}

/// Encodes the `lookout.logs.*` attributes of a span (as `Span.attributes`, field 9).
pub(crate) fn log_attributes(stats: &LogStats, out: &mut Vec<u8>) {
    let int = |key: &str, v: u32| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(i64::from(v))),
        }),
        ..Default::default()
    };
    prost::encoding::message::encode(9, &int(ATTR_LOGS_COUNT, stats.count), out);
    prost::encoding::message::encode(9, &int(ATTR_LOGS_ERROR_COUNT, stats.errors), out);
    let severity = KeyValue {
        key: ATTR_LOGS_MAX_SEVERITY.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(
                severity_name(stats.max_severity).into(),
            )),
        }),
        ..Default::default()
    };
    prost::encoding::message::encode(9, &severity, out);
}

/// The short name of an OpenTelemetry severity number (`UNSPECIFIED` out of range).
fn severity_name(n: i32) -> &'static str {
    match crate::core::alert::severity_name(n) {
        "" => "UNSPECIFIED",
        name => name,
    }
}

/// The undecided traces.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Trace ids are chosen by clients: a seeded hasher.
    traces: HashMap<TraceId, HeldTrace, foldhash::fast::RandomState>,
    /// By first item (oldest first): `max_wait` and early decisions.
    by_first: BTreeMap<u64, TraceId>,
    /// By last span (least recently active first): `quiet_period`.
    by_activity: BTreeMap<u64, TraceId>,
    seq: u64,
    bytes: usize,
}

// === impl Held ===

impl Held {
    /// Accounted bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Traces held.
    pub(crate) fn len(&self) -> usize {
        self.traces.len()
    }

    /// Whether `id` is held.
    pub(crate) fn contains(&self, id: &TraceId) -> bool {
        self.traces.contains_key(id)
    }

    fn entry(&mut self, id: TraceId, now: Instant) -> &mut HeldTrace {
        match self.traces.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                self.seq += 1;
                self.by_first.insert(self.seq, id);
                self.bytes += TRACE_OVERHEAD;
                v.insert(HeldTrace {
                    spans: Vec::new(),
                    logs: Vec::new(),
                    span_count: 0,
                    log_count: 0,
                    signs: Signs::default(),
                    log_stats: Vec::new(),
                    root_at: None,
                    first_seen: now,
                    last_span: None,
                    first_seq: self.seq,
                    activity_seq: None,
                    bytes: TRACE_OVERHEAD,
                })
            }
        }
    }

    /// Holds a span of trace `id`.
    pub(crate) fn add_span(
        &mut self,
        id: TraceId,
        item: &Item<'_>,
        facts: &SpanFacts,
        now: Instant,
    ) {
        self.seq += 1;
        let seq = self.seq;
        let trace = self.entry(id, now);
        let grown = group::push(&mut trace.spans, item, &[]);
        trace.bytes += grown;
        trace.span_count += 1;
        trace.last_span = Some(now);
        trace.signs.merge(Signs {
            anomaly: facts.anomaly,
            error_span: facts.error,
            error_log: false,
            root_duration: facts.root.then_some(facts.duration),
        });
        if facts.root && trace.root_at.is_none() {
            trace.root_at = Some(now);
        }
        let old = trace.activity_seq.replace(seq);
        if let Some(old) = old {
            self.by_activity.remove(&old);
        }
        self.by_activity.insert(seq, id);
        self.bytes += grown;
    }

    /// Holds a log record of trace `id`.
    pub(crate) fn add_log(&mut self, id: TraceId, item: &Item<'_>, facts: &LogFacts, now: Instant) {
        let trace = self.entry(id, now);
        let mut grown = group::push(&mut trace.logs, item, &[]);
        trace.log_count += 1;
        let error = facts.severity >= ERROR_SEVERITY;
        trace.signs.error_log |= error;
        if let Some(span) = facts.span {
            let before = trace.log_stats.capacity();
            let stats = match trace.log_stats.iter_mut().find(|(s, _)| *s == span) {
                Some((_, stats)) => stats,
                None => {
                    trace.log_stats.push((span, LogStats::default()));
                    grown +=
                        (trace.log_stats.capacity() - before) * size_of::<(SpanId, LogStats)>();
                    match trace.log_stats.last_mut() {
                        Some((_, stats)) => stats,
                        None => return,
                    }
                }
            };
            stats.count += 1;
            stats.errors += u32::from(error);
            stats.max_severity = stats.max_severity.max(facts.severity);
        }
        trace.bytes += grown;
        self.bytes += grown;
    }

    /// The traces to decide now, oldest first: those whose root arrived and whose last span
    /// is `quiet` old, those first seen `max_wait` ago, then, while the rest is over
    /// `max_bytes`, the oldest others.
    pub(crate) fn due(
        &mut self,
        now: Instant,
        quiet: Duration,
        max_wait: Duration,
        max_bytes: usize,
    ) -> Vec<(TraceId, Due)> {
        let mut out = Vec::new();
        let mut chosen = HashSet::new();
        let mut freed = 0usize;
        for id in self.by_first.values() {
            let Some(t) = self.traces.get(id) else {
                continue;
            };
            if now.saturating_duration_since(t.first_seen) < max_wait {
                break;
            }
            chosen.insert(*id);
            freed += t.bytes;
            out.push((*id, Due::MaxWait));
        }
        let mut rootless = Vec::new();
        for (seq, id) in &self.by_activity {
            let Some(t) = self.traces.get(id) else {
                continue;
            };
            let Some(last) = t.last_span else { continue };
            if now.saturating_duration_since(last) < quiet {
                break;
            }
            if t.root_at.is_none() {
                rootless.push((*seq, *id));
            } else if chosen.insert(*id) {
                freed += t.bytes;
                out.push((*id, Due::Quiet));
            }
        }
        // A quiet trace without its root waits for its next span (which puts it back in the
        // activity index) or for max_wait: later looks need not walk over it again.
        for (seq, id) in rootless {
            self.by_activity.remove(&seq);
            if let Some(t) = self.traces.get_mut(&id) {
                t.activity_seq = None;
            }
        }
        for id in self.by_first.values() {
            if self.bytes.saturating_sub(freed) <= max_bytes {
                break;
            }
            let Some(t) = self.traces.get(id) else {
                continue;
            };
            if chosen.insert(*id) {
                freed += t.bytes;
                out.push((*id, Due::Bytes));
            }
        }
        out
    }

    /// Takes trace `id` out of the buffer.
    pub(crate) fn take(&mut self, id: &TraceId) -> Option<HeldTrace> {
        let trace = self.traces.remove(id)?;
        self.by_first.remove(&trace.first_seq);
        if let Some(seq) = trace.activity_seq {
            self.by_activity.remove(&seq);
        }
        self.bytes = self.bytes.saturating_sub(trace.bytes);
        Some(trace)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn item(body: &[u8]) -> Item<'_> {
        thread_local! {
            static HEADERS: (&'static Arc<[u8]>, &'static Arc<[u8]>) = (
                Box::leak(Box::new(Arc::from(&b"r"[..]))),
                Box::leak(Box::new(Arc::from(&b"s"[..]))),
            );
        }
        let (resource, scope) = HEADERS.with(|h| *h);
        Item {
            resource,
            scope,
            body,
        }
    }

    fn span(root: bool, error: bool) -> SpanFacts {
        SpanFacts {
            root,
            error,
            duration: 5,
            ..SpanFacts::default()
        }
    }

    const QUIET: Duration = Duration::from_secs(1);
    const WAIT: Duration = Duration::from_secs(30);

    #[test]
    fn a_trace_is_due_once_its_root_arrived_and_it_was_quiet() {
        let t0 = Instant::now();
        let mut held = Held::default();
        held.add_span([1; 16], &item(b"child"), &span(false, false), t0);
        // Quiet but rootless: not due before max_wait.
        assert!(held.due(t0 + QUIET, QUIET, WAIT, usize::MAX).is_empty());
        held.add_span([1; 16], &item(b"root"), &span(true, false), t0 + QUIET);
        let half = t0 + QUIET + QUIET / 2;
        assert!(held.due(half, QUIET, WAIT, usize::MAX).is_empty());
        // Another span restarts the quiet period.
        held.add_span([1; 16], &item(b"late"), &span(false, true), half);
        assert!(held.due(t0 + 2 * QUIET, QUIET, WAIT, usize::MAX).is_empty());
        assert_eq!(
            held.due(half + QUIET, QUIET, WAIT, usize::MAX),
            vec![([1; 16], Due::Quiet)]
        );
        let trace = held.take(&[1; 16]).unwrap();
        assert_eq!(trace.span_count, 3);
        assert!(trace.signs.error_span);
        assert_eq!(trace.signs.root_duration, Some(5));
        assert_eq!(held.bytes(), 0);
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn a_quiet_rootless_trace_is_looked_at_again_only_when_a_span_comes() {
        let t0 = Instant::now();
        let mut held = Held::default();
        held.add_span([1; 16], &item(b"child"), &span(false, false), t0);
        assert!(held.due(t0 + QUIET, QUIET, WAIT, usize::MAX).is_empty());
        assert!(held.by_activity.is_empty());
        held.add_span([1; 16], &item(b"root"), &span(true, false), t0 + 2 * QUIET);
        assert_eq!(held.by_activity.len(), 1);
        assert_eq!(
            held.due(t0 + 3 * QUIET, QUIET, WAIT, usize::MAX),
            vec![([1; 16], Due::Quiet)]
        );
        held.take(&[1; 16]);
        assert!(held.by_activity.is_empty() && held.by_first.is_empty());
    }

    #[test]
    fn max_wait_decides_a_trace_that_never_completes() {
        let t0 = Instant::now();
        let mut held = Held::default();
        held.add_span([1; 16], &item(b"a"), &span(false, false), t0);
        held.add_log([2; 16], &item(b"l"), &LogFacts::default(), t0 + QUIET);
        assert!(
            held.due(t0 + WAIT - QUIET, QUIET, WAIT, usize::MAX)
                .is_empty()
        );
        assert_eq!(
            held.due(t0 + WAIT, QUIET, WAIT, usize::MAX),
            vec![([1; 16], Due::MaxWait)]
        );
        assert_eq!(
            held.due(t0 + WAIT + QUIET, QUIET, WAIT, usize::MAX).len(),
            2
        );
    }

    #[test]
    fn over_the_budget_the_oldest_are_due_until_the_rest_fits() {
        let t0 = Instant::now();
        let mut held = Held::default();
        for n in 1..=10u8 {
            held.add_span([n; 16], &item(&[n; 100]), &span(false, false), t0);
        }
        let each = held.traces.get(&[1; 16]).unwrap().bytes();
        assert_eq!(held.bytes(), 10 * each);
        let due = held.due(t0, QUIET, WAIT, 7 * each);
        assert_eq!(
            due,
            vec![
                ([1; 16], Due::Bytes),
                ([2; 16], Due::Bytes),
                ([3; 16], Due::Bytes)
            ]
        );
    }

    #[test]
    fn released_spans_carry_their_log_counts() {
        use lookout_proto::otlp::trace::v1::Span;
        use prost::Message;
        let t0 = Instant::now();
        let mut held = Held::default();
        let s = Span {
            trace_id: vec![1; 16],
            span_id: vec![7; 8],
            ..Default::default()
        }
        .encode_to_vec();
        held.add_span([1; 16], &item(&s), &group::span_facts(&s), t0);
        for severity in [9, 17, 13] {
            let facts = LogFacts {
                trace: Some([1; 16]),
                span: Some([7; 8]),
                severity,
            };
            held.add_log([1; 16], &item(b"log"), &facts, t0);
        }
        let trace = held.take(&[1; 16]).unwrap();
        assert!(trace.signs.error_log);
        let (spans, logs) = trace.release();
        assert_eq!(logs.len(), 1);
        let mut r = FieldReader::new(&spans[0].items);
        let Some(f) = r.next_field().unwrap() else {
            panic!("no span")
        };
        let WireValue::Len(body) = f.value else {
            panic!("not a span")
        };
        let span = Span::decode(body).unwrap();
        let attr = |k: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.clone()?.value)
        };
        assert_eq!(attr(ATTR_LOGS_COUNT), Some(any_value::Value::IntValue(3)));
        assert_eq!(
            attr(ATTR_LOGS_ERROR_COUNT),
            Some(any_value::Value::IntValue(1))
        );
        assert_eq!(
            attr(ATTR_LOGS_MAX_SEVERITY),
            Some(any_value::Value::StringValue("ERROR".into()))
        );
    }
}
