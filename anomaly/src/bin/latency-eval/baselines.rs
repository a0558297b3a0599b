//! The detectors Lookout is compared with, all fed the same stream.

use std::collections::HashMap;

use lookout_anomaly::{
    AnomalyKind, Attributor, Detector, DetectorConfig, KeyHash, LogQuantileSketch, SpanTiming,
};

use crate::synth::{InjKind, Label, NS, SpanRec, World};

/// One detector's output for one span.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tagged {
    pub(crate) flagged: bool,
    pub(crate) kind: Option<AnomalyKind>,
    /// The span failed the per-span tail test (its kind may since have
    /// become `propagated`).
    pub(crate) tail_test: bool,
    /// Claimed root span (propagated), 0 if none.
    pub(crate) root: u64,
    /// The span's key is in an intermittent episode after it.
    pub(crate) intermittent: bool,
    /// The detector's spike threshold when the span arrived (ms; 0 for the
    /// baselines and during warm-up).
    pub(crate) threshold_ms: f64,
}

pub(crate) trait Scorer {
    fn name(&self) -> &'static str;
    /// Scores every span in arrival order.
    fn run(&mut self, spans: &[SpanRec]) -> Vec<Tagged>;
}

fn run_simple(spans: &[SpanRec], mut f: impl FnMut(&SpanRec) -> bool) -> Vec<Tagged> {
    spans
        .iter()
        .map(|s| Tagged {
            flagged: f(s),
            ..Tagged::default()
        })
        .collect()
}

// === impl Lookout ===

pub(crate) struct Lookout {
    cfg: DetectorConfig,
    /// Oracle-clean learning: per span, true when its key's baseline must
    /// not learn it (`None`: the detector as it is).
    unlearned: Option<Vec<bool>>,
}

impl Lookout {
    pub(crate) fn new(cfg: DetectorConfig, unlearned: Option<Vec<bool>>) -> Self {
        Self { cfg, unlearned }
    }
}

/// Which labelled spans oracle-clean learning keeps out of the baseline.
/// Shifts, ramps and the other episode injections are always learned as
/// usual: a lasting change must still be relearned (`relearn_after`), and
/// that is part of what the reference measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OracleClean {
    /// Contamination bursts, and the callers' spans they slowed (labelled
    /// `Propagated` from a contamination injection): the injected intermittent
    /// failures wherever they show.
    #[value(alias = "1")]
    Bursts,
    /// Contamination bursts on their own key only.
    Leaf,
    /// `bursts`, plus the isolated background spikes (label `Spike`).
    WithSpikes,
}

impl OracleClean {
    /// Per span of `spans`, whether it stays out of its key's baseline.
    pub(crate) fn unlearned(self, w: &World, spans: &[SpanRec]) -> Vec<bool> {
        let contamination = |inj: u32| {
            w.injections
                .get(inj as usize)
                .is_some_and(|j| j.kind == InjKind::Contamination)
        };
        spans
            .iter()
            .map(|s| match s.label {
                Label::Burst => true,
                Label::Propagated => self != Self::Leaf && contamination(s.inj),
                Label::Spike => self == Self::WithSpikes,
                _ => false,
            })
            .collect()
    }
}

pub(crate) fn timing(s: &SpanRec) -> SpanTiming {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&s.trace.to_le_bytes());
    SpanTiming {
        trace_id,
        span_id: s.span_id.to_be_bytes(),
        parent_span_id: (s.parent != 0).then(|| s.parent.to_be_bytes()),
        duration_ns: s.dur_ns,
    }
}

impl Scorer for Lookout {
    fn name(&self) -> &'static str {
        "lookout"
    }

    fn run(&mut self, spans: &[SpanRec]) -> Vec<Tagged> {
        let mut det = Detector::new(self.cfg.clone()).expect("valid config");
        let mut attr = Attributor::new(&self.cfg);
        let mut out = Vec::with_capacity(spans.len());
        // Positions of the current trace's spans, to apply late re-attributions
        // as a processor holding the batch would.
        let mut pos: HashMap<u64, usize> = HashMap::new();
        let mut cur_trace = u64::MAX;
        for (i, s) in spans.iter().enumerate() {
            if s.trace != cur_trace {
                pos.clear();
                cur_trace = s.trace;
            }
            let mut v = if self.unlearned.as_ref().is_some_and(|u| u[i]) {
                det.observe_hashed_unlearned(KeyHash(s.key), s.dur_ns, s.end_ns)
            } else {
                det.observe_hashed(KeyHash(s.key), s.dur_ns, s.end_ns)
            };
            let tail_test = v.kind == Some(AnomalyKind::Spike);
            let fix = attr.attribute(&timing(s), &mut v);
            det.after_attribution(KeyHash(s.key), s.dur_ns, &mut v);
            pos.insert(s.span_id, out.len());
            if let Some(fix) = fix
                && let Some(&i) = pos.get(&u64::from_be_bytes(fix.span_id))
            {
                let t: &mut Tagged = &mut out[i];
                t.kind = Some(AnomalyKind::Propagated);
                t.root = u64::from_be_bytes(fix.root_span_id);
            }
            out.push(Tagged {
                flagged: v.is_anomalous(),
                kind: v.kind,
                tail_test: tail_test && v.is_anomalous(),
                root: v.root_span_id.map_or(0, u64::from_be_bytes),
                // Not `episode_kind`: it reports a shift open beside an intermittent
                // episode, which then looked like a new intermittent opening when the
                // shift ended.
                intermittent: det.intermittent_open(KeyHash(s.key)),
                threshold_ms: if v.warming_up { 0.0 } else { v.threshold_ms },
            });
        }
        out
    }
}

// === impl StaticThreshold ===

/// Per-key threshold set once at deploy time: 3 × the p99 of the key's
/// first 500 spans, never updated (how static latency alerts are set).
pub(crate) struct StaticThreshold;

impl Scorer for StaticThreshold {
    fn name(&self) -> &'static str {
        "static 3×p99(first 500)"
    }

    fn run(&mut self, spans: &[SpanRec]) -> Vec<Tagged> {
        enum St {
            Learning(Vec<u64>),
            Fixed(u64),
        }
        let mut m: HashMap<u64, St> = HashMap::new();
        run_simple(spans, |s| {
            let st = m.entry(s.key).or_insert_with(|| St::Learning(Vec::new()));
            match st {
                St::Learning(v) => {
                    v.push(s.dur_ns);
                    if v.len() == 500 {
                        v.sort_unstable();
                        *st = St::Fixed(3 * v[494]);
                    }
                    false
                }
                St::Fixed(t) => s.dur_ns > *t,
            }
        })
    }
}

// === impl ContribEwma ===

/// The Collector-contrib rollingspanlatencyprocessor's algorithm: EWMA mean
/// and variance of raw ns, α = 1 − exp(−ln2·Δt/half-life) floored at 1/count,
/// scored before the update, 30-span warm-up, σ floored at 1 ms, tagged
/// above mean + 3σ ("slow"; "very_slow" at 4σ is a subset).
pub(crate) struct Ewma {
    pub(crate) log_space: bool,
    pub(crate) half_life_s: f64,
    pub(crate) k_sigma: f64,
}

impl Scorer for Ewma {
    fn name(&self) -> &'static str {
        if self.log_space {
            "EWMA log-space 3σ, 2h"
        } else {
            "contrib EWMA raw 3σ, 2h"
        }
    }

    fn run(&mut self, spans: &[SpanRec]) -> Vec<Tagged> {
        #[derive(Default)]
        struct St {
            mean: f64,
            var: f64,
            n: u64,
            last: u64,
        }
        let mut m: HashMap<u64, St> = HashMap::new();
        let (log, hl, k) = (self.log_space, self.half_life_s, self.k_sigma);
        run_simple(spans, |s| {
            let x = if log {
                (s.dur_ns as f64).ln()
            } else {
                s.dur_ns as f64
            };
            let st = m.entry(s.key).or_default();
            // Raw: the contrib 1 ms floor. Log: the same floor relative to a
            // 10 ms span, so neither variant flags noise of a constant key.
            let floor = if log { 0.1 } else { 1e6 };
            let flagged = st.n >= 30 && x > st.mean + k * st.var.sqrt().max(floor);
            st.n += 1;
            if st.n == 1 {
                st.mean = x;
                st.var = 0.0;
            } else {
                let dt = s.end_ns.saturating_sub(st.last) as f64 / NS;
                let a = (1.0 - (-std::f64::consts::LN_2 * dt / hl).exp()).max(1.0 / st.n as f64);
                let d = x - st.mean;
                st.mean += a * d;
                st.var = (1.0 - a) * (st.var + a * d * d);
            }
            st.last = st.last.max(s.end_ns);
            flagged
        })
    }
}

// === impl SketchP99 ===

/// Decaying sketch per key (same sketch and half-life as Lookout), tagged
/// above k × p99 after 100 spans.
pub(crate) struct SketchP99 {
    pub(crate) k: f64,
}

impl Scorer for SketchP99 {
    fn name(&self) -> &'static str {
        "sketch p99×2"
    }

    fn run(&mut self, spans: &[SpanRec]) -> Vec<Tagged> {
        let mut m: HashMap<u64, (LogQuantileSketch, u64, u32, f64)> = HashMap::new();
        let k = self.k;
        run_simple(spans, |s| {
            let e = m
                .entry(s.key)
                .or_insert_with(|| (LogQuantileSketch::new(0.025), s.end_ns, 0, 0.0));
            let dt = s.end_ns.saturating_sub(e.1) as f64 / NS;
            let decay = (-std::f64::consts::LN_2 * dt / 600.0)
                .exp()
                .max(0.5f64.powf(1.0 / 200.0));
            e.1 = e.1.max(s.end_ns);
            let flagged = e.2 >= 100 && s.dur_ns as f64 > k * e.3;
            e.0.insert(s.dur_ns as f64, decay);
            e.2 += 1;
            // Cached like Lookout's thresholds: refreshed every 32 spans.
            if e.2 % 32 == 4 || e.2 == 100 {
                e.3 = e.0.quantile(0.99);
            }
            flagged
        })
    }
}
