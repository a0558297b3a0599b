//! Root-cause attribution within a trace: a slow parent whose extra time is
//! explained by a slow child is tagged `propagated` and points at the span
//! where the slowness originated.
//!
//! Spans arrive in any order. Children usually end (and arrive) before their
//! parents, so the common case is resolved when the parent arrives. When a
//! child arrives after its already-tagged parent, [`Attributor::attribute`]
//! returns a [`Reattribution`] for the parent that the caller applies if the
//! parent is still in hand (e.g. in the same batch).
//!
//! Only spans that matter are buffered: tagged spans and spans that carry a
//! descendant's slowness. Normal traffic costs one hash lookup.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::config::DetectorConfig;
use crate::verdict::{AnomalyKind, SpanId, TraceId, Verdict};

/// Timing facts of one span, as the attributor needs them.
#[derive(Debug, Clone, Copy)]
pub struct SpanTiming {
    /// Trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
    /// Parent span id, `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// Span duration in ns.
    pub duration_ns: u64,
}

/// A correction for a span judged before its explaining child arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reattribution {
    /// The earlier span to re-tag as `propagated`.
    pub span_id: SpanId,
    /// Its root cause.
    pub root_span_id: SpanId,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    span_id: SpanId,
    parent: Option<SpanId>,
    /// Duration above the key's baseline median, ns.
    excess: f64,
    /// Duration, ns.
    duration: f64,
    /// Duration (ns) above which the span was tagged; 0 when unknown.
    threshold: f64,
    /// Where the slowness started (the span itself for an own anomaly).
    root: SpanId,
    /// The span is tagged (can be re-attributed by a late child).
    tagged: bool,
}

/// Trace ids are random: their first 8 bytes are already a good hash.
#[derive(Default, Clone, Copy, Debug)]
struct TraceHasher(u64);

impl Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
}

// === impl Attributor ===

/// Bounded per-trace buffer of slow span timings.
#[derive(Debug)]
pub struct Attributor {
    explain_fraction: f64,
    max_traces: usize,
    max_spans: usize,
    traces: HashMap<TraceId, Vec<Entry>, BuildHasherDefault<TraceHasher>>,
    order: VecDeque<TraceId>,
}

impl Attributor {
    /// Builds an attributor from the propagation fields of the config.
    pub fn new(cfg: &DetectorConfig) -> Self {
        Self {
            explain_fraction: cfg.explain_fraction,
            max_traces: cfg.max_traces,
            max_spans: cfg.max_spans_per_trace,
            traces: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Traces currently buffered.
    pub fn buffered_traces(&self) -> usize {
        self.traces.len()
    }

    /// Refines `verdict` (from [`crate::Detector::observe`]) of `span`: a
    /// tagged span explained by a slow child becomes `propagated` with
    /// `root_span_id`. Returns a correction for an earlier-judged parent that
    /// this span explains.
    pub fn attribute(&mut self, span: &SpanTiming, verdict: &mut Verdict) -> Option<Reattribution> {
        let known = verdict.baseline_ms > 0.0;
        let excess = if known {
            span.duration_ns as f64 - verdict.baseline_ms * 1e6
        } else {
            0.0
        };
        // An untagged span of a key in an episode is still slower than its
        // baseline because of the episode: its parent's slowness may come
        // from it (episode spans below the tagging quantile are common).
        let episode_carrier = verdict.episode_open && excess > 0.0;
        let entries = self.traces.get(&span.trace_id);
        if entries.is_none() && !verdict.is_anomalous() && !episode_carrier {
            return None;
        }
        // Only a tagged span has a threshold it crossed; an untagged one
        // carries a child's slowness by the fraction rule alone.
        let threshold = if verdict.is_anomalous() {
            verdict.threshold_ms * 1e6
        } else {
            0.0
        };
        let duration = span.duration_ns as f64;
        // Strongest buffered child that explains our excess.
        let mut carrier: Option<SpanId> = None;
        let mut late_parent: Option<(usize, Entry)> = None;
        if let Some(es) = entries {
            let mut best = 0.0;
            for (i, e) in es.iter().enumerate() {
                if e.parent == Some(span.span_id)
                    && self.explains(e.excess, excess, duration, threshold)
                    && e.excess > best
                {
                    best = e.excess;
                    carrier = Some(e.root);
                }
                if Some(e.span_id) == span.parent_span_id && e.tagged && e.root == e.span_id {
                    late_parent = Some((i, *e));
                }
            }
        }
        if let Some(root) = carrier
            && verdict.is_anomalous()
        {
            verdict.kind = Some(AnomalyKind::Propagated);
            verdict.root_span_id = Some(root);
        }
        let root = carrier.unwrap_or(span.span_id);
        let carries = verdict.is_anomalous() || carrier.is_some() || episode_carrier;
        if !carries {
            return None;
        }
        let mut fix = None;
        if let Some((i, p)) = late_parent
            && self.explains(excess, p.excess, p.duration, p.threshold)
            && let Some(es) = self.traces.get_mut(&span.trace_id)
        {
            es[i].root = root;
            fix = Some(Reattribution {
                span_id: es[i].span_id,
                root_span_id: root,
            });
        }
        self.push(
            span.trace_id,
            Entry {
                span_id: span.span_id,
                parent: span.parent_span_id,
                excess,
                duration,
                threshold,
                root,
                tagged: verdict.is_anomalous(),
            },
        );
        fix
    }

    /// A child with excess `child` explains a parent with excess `parent`,
    /// duration `duration` and tagging threshold `threshold` (0 = unknown)
    /// when it is at least `explain_fraction` of the parent's excess, or when
    /// the parent would not have been tagged without it. The second rule
    /// covers parents whose excess also holds their other children's normal
    /// variation: a ×1.5 child is then a small share of the excess and yet
    /// the reason the parent crossed its threshold.
    fn explains(&self, child: f64, parent: f64, duration: f64, threshold: f64) -> bool {
        parent > 0.0
            && child > 0.0
            && (child >= self.explain_fraction * parent
                || (threshold > 0.0 && duration - child <= threshold))
    }

    fn push(&mut self, trace: TraceId, e: Entry) {
        if let Some(es) = self.traces.get_mut(&trace) {
            if es.len() >= self.max_spans {
                es.remove(0);
            }
            es.push(e);
            return;
        }
        if self.traces.len() >= self.max_traces
            && let Some(old) = self.order.pop_front()
        {
            self.traces.remove(&old);
        }
        self.traces.insert(trace, vec![e]);
        self.order.push_back(trace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(baseline_ms: f64) -> Verdict {
        Verdict {
            kind: Some(AnomalyKind::Spike),
            score: 1e-6,
            baseline_ms,
            ratio: 5.0,
            category: None,
            root_span_id: None,
            warming_up: false,
            threshold_ms: 0.0,
            episode_open: false,
        }
    }

    fn span(id: u8, parent: Option<u8>, ms: u64) -> SpanTiming {
        SpanTiming {
            trace_id: [7; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            duration_ns: ms * 1_000_000,
        }
    }

    #[test]
    fn child_first_chain_points_at_leaf() {
        let mut a = Attributor::new(&DetectorConfig::default());
        let mut leaf = tagged(10.0);
        assert!(a.attribute(&span(3, Some(2), 110), &mut leaf).is_none());
        assert_eq!(leaf.kind, Some(AnomalyKind::Spike));
        // Middle span is not tagged itself but carries the leaf's slowness.
        let mut mid = Verdict {
            kind: None,
            ..tagged(30.0)
        };
        a.attribute(&span(2, Some(1), 135), &mut mid);
        assert_eq!(mid.kind, None);
        let mut root = tagged(50.0);
        a.attribute(&span(1, None, 160), &mut root);
        assert_eq!(root.kind, Some(AnomalyKind::Propagated));
        assert_eq!(root.root_span_id, Some([3; 8]));
    }

    #[test]
    fn child_that_pushed_parent_over_its_threshold_explains_it() {
        let mut a = Attributor::new(&DetectorConfig::default());
        // Child 10 ms over its baseline; parent 40 ms over its own (its other
        // children were slowish too), so the child is only 25 % of the excess.
        let mut child = tagged(10.0);
        a.attribute(&span(2, Some(1), 20), &mut child);
        // Tagged above 85 ms: without the child's 10 ms it would be 80 ms.
        let mut parent = Verdict {
            threshold_ms: 85.0,
            ..tagged(50.0)
        };
        a.attribute(&span(1, None, 90), &mut parent);
        assert_eq!(parent.kind, Some(AnomalyKind::Propagated));
        assert_eq!(parent.root_span_id, Some([2; 8]));
        // A parent far above its threshold is slow on its own.
        let mut a = Attributor::new(&DetectorConfig::default());
        let mut child = tagged(10.0);
        a.attribute(&span(2, Some(1), 20), &mut child);
        let mut parent = Verdict {
            threshold_ms: 60.0,
            ..tagged(50.0)
        };
        a.attribute(&span(1, None, 90), &mut parent);
        assert_eq!(parent.kind, Some(AnomalyKind::Spike));
    }

    #[test]
    fn late_child_reattributes_parent_and_small_child_does_not() {
        let mut a = Attributor::new(&DetectorConfig::default());
        let mut parent = tagged(50.0);
        a.attribute(&span(1, None, 250), &mut parent);
        assert_eq!(parent.kind, Some(AnomalyKind::Spike));
        // Child excess 20 ms of the parent's 200 ms: does not explain it.
        let mut small = tagged(10.0);
        assert!(a.attribute(&span(4, Some(1), 30), &mut small).is_none());
        let mut child = tagged(10.0);
        let fix = a.attribute(&span(2, Some(1), 190), &mut child);
        assert_eq!(
            fix,
            Some(Reattribution {
                span_id: [1; 8],
                root_span_id: [2; 8]
            })
        );
    }
}
