//! Seeded synthetic trace generator with labelled injections and an oracle.
//!
//! World: 10–50 services at call depths 0–3, 1–4 operations each. Entry
//! operations get Zipf(1.1) traffic; each call edge fires with probability
//! 0.5–1. A span lasts its own work plus its children (sequential sum or
//! parallel max). Own work is log-normal (σ 0.2–1.0) times a Pareto(α 1.5–3)
//! factor on 0.1–2 % of spans; 20 % of operations are bimodal (cache
//! hit/miss, miss ×4–×20); errors fail fast (5 % of the work, no children)
//! under their own key. Load follows a 24 h diurnal curve (0.2–1.0) and own
//! work grows with it (×1.28 trough to peak); 30 % of services drift slowly
//! (−25 %…+35 % over the run); some entry operations and call edges appear
//! mid-stream (new keys).
//!
//! Injections (on leaf operations, whose own work is their duration, so the
//! injected factor is the observed one): isolated spikes ×3–×30, step shifts
//! ×1.2/1.5/2/3, linear ramps to ×3, variance-only inflation (log-σ ×2–×3),
//! ×2–×4 on 10 % of requests, and slow leaf dependencies ×3–×5 whose
//! ancestors carry the delay (ground truth records the root span).
//! Contamination: for a window, 0.5/1/2/5 % of a leaf operation's requests
//! are ×5–×50 (log-uniform; bimodal keys included, one window per level
//! laid over a shift of the same key), drawn from a separate stream so the
//! rest of the world is the same as without them.

use std::collections::HashMap;

use lookout_anomaly::KeyRef;

use crate::rng::{Rng, norm_sf};

pub(crate) const NS: f64 = 1e9;
const DAY_S: f64 = 86_400.0;
pub(crate) const NONE: u32 = u32::MAX;

/// Ground-truth label of one span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Label {
    Normal,
    Spike,
    /// One of a contamination window's slow requests.
    Burst,
    /// Own work changed by an episode injection.
    Affected,
    /// Span of an injected key inside the window but not slowed (the 90 %
    /// of a partial shift, the faster half of a variance inflation).
    Unaffected,
    /// Slower only because a descendant was injected.
    Propagated,
}

/// Where a normal span sits, for splitting false positives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cat {
    Steady,
    Warmup,
    Diurnal,
    Drift,
    /// Key of the injected operation or of a caller of it, inside or up to
    /// 15 min after an injection window.
    NearEpisode,
}

pub(crate) const CATS: [Cat; 5] = [
    Cat::Steady,
    Cat::Warmup,
    Cat::Diurnal,
    Cat::Drift,
    Cat::NearEpisode,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InjKind {
    Shift,
    Ramp,
    Variance,
    Partial,
    Propagation,
    /// A fraction (`factor`) of requests ×5–×50: intermittent failures.
    Contamination,
}

/// Contamination levels (fraction of the key's requests).
pub(crate) const CONTAMINATION_LEVELS: [f64; 4] = [0.005, 0.01, 0.02, 0.05];
/// Expected slow requests per contamination window (sets its length).
const BURSTS_PER_WINDOW: f64 = 30.0;

#[derive(Clone, Debug)]
pub(crate) struct Injection {
    pub(crate) kind: InjKind,
    pub(crate) op: usize,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) factor: f64,
    pub(crate) sigma: f64,
}

#[derive(Clone, Debug)]
pub(crate) struct Call {
    op: usize,
    p: f64,
    active_from: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Op {
    service: usize,
    level: usize,
    mu: f64,
    pub(crate) sigma: f64,
    pub(crate) pareto_p: f64,
    alpha: f64,
    /// (hit probability, ln of the miss multiplier)
    pub(crate) bimodal: Option<(f64, f64)>,
    error_p: f64,
    parallel: bool,
    children: Vec<Call>,
    pub(crate) key_ok: u64,
    key_err: u64,
    /// Expected spans/s at mean load.
    pub(crate) rate: f64,
    active_from: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanRec {
    pub(crate) key: u64,
    pub(crate) trace: u64,
    pub(crate) span_id: u64,
    /// 0 for a root span.
    pub(crate) parent: u64,
    pub(crate) end_ns: u64,
    pub(crate) dur_ns: u64,
    pub(crate) label: Label,
    /// Injection id (episode labels and propagated-from-episode), else NONE.
    pub(crate) inj: u32,
    /// True root span for Propagated (0 otherwise).
    pub(crate) root: u64,
    /// True tail probability under the normal model (spikes only).
    pub(crate) oracle_p: f64,
    pub(crate) cat: Cat,
    /// Current injected factor (ramps), the burst's multiplier (contamination
    /// bursts), 1 otherwise.
    pub(crate) ramp_factor: f32,
}

pub(crate) struct World {
    pub(crate) ops: Vec<Op>,
    entries: Vec<(usize, f64)>,
    drift: Vec<f64>,
    pub(crate) injections: Vec<Injection>,
    inj_by_op: HashMap<usize, Vec<u32>>,
    pub(crate) horizon_ns: u64,
    rate_mean: f64,
    spike_rate: f64,
    pub(crate) n_services: usize,
}

fn load(t_ns: u64) -> f64 {
    0.6 - 0.4 * (std::f64::consts::TAU * t_ns as f64 / NS / DAY_S).cos()
}

fn latency_factor(t_ns: u64) -> f64 {
    (0.25 * (load(t_ns) - 0.2) / 0.8).exp()
}

impl World {
    pub(crate) fn new(seed: u64, hours: f64, spans_target: f64) -> Self {
        let mut r = Rng::new(seed);
        let horizon_ns = (hours * 3600.0 * NS) as u64;
        let t_frac = |f: f64| (f * horizon_ns as f64) as u64;
        let n_services = 10 + r.below(41);
        let n_front = (n_services / 5).max(2);
        let mut levels = Vec::new();
        let mut drift = Vec::new();
        for s in 0..n_services {
            levels.push(if s < n_front { 0 } else { 1 + r.below(3) });
            drift.push(if r.chance(0.3) {
                r.uniform(-0.25, 0.35)
            } else {
                0.0
            });
        }
        let mut ops = Vec::new();
        for (s, &level) in levels.iter().enumerate() {
            for j in 0..1 + r.below(4) {
                let kind = if level == 0 { 2 } else { 1 + (j as i32 % 3) };
                let name = format!("op{j}");
                let svc = format!("svc{s}");
                let key = |status| {
                    KeyRef {
                        service: &svc,
                        span_name: &name,
                        span_kind: kind,
                        status_code: status,
                    }
                    .hash()
                    .0
                };
                ops.push(Op {
                    service: s,
                    level,
                    mu: (r.log_uniform(0.3, 20.0) * 1e6).ln(),
                    sigma: r.uniform(0.2, 1.0),
                    pareto_p: r.log_uniform(0.001, 0.02),
                    alpha: r.uniform(1.5, 3.0),
                    bimodal: if r.chance(0.2) {
                        Some((r.uniform(0.6, 0.9), r.log_uniform(4.0, 20.0).ln()))
                    } else {
                        None
                    },
                    error_p: if r.chance(0.3) {
                        r.uniform(0.005, 0.03)
                    } else {
                        0.001
                    },
                    parallel: r.chance(0.4),
                    children: Vec::new(),
                    key_ok: key(0),
                    key_err: key(2),
                    rate: 0.0,
                    active_from: 0,
                });
            }
        }
        // Call graph: only to deeper levels, so traces are finite.
        let n_ops = ops.len();
        for i in 0..n_ops {
            let lvl = ops[i].level;
            if lvl >= 3 || (lvl > 0 && r.chance(0.3)) {
                continue;
            }
            let deeper: Vec<usize> = (0..n_ops).filter(|&c| ops[c].level > lvl).collect();
            if deeper.is_empty() {
                continue;
            }
            let n_calls = if lvl == 0 {
                1 + r.below(3)
            } else {
                1 + r.below(2)
            };
            for _ in 0..n_calls {
                let c = deeper[r.below(deeper.len())];
                // New edges would legitimately shift the caller (a deploy), which the
                // labels could not tell from an injection; new keys come from new entries.
                let active_from = 0;
                ops[i].children.push(Call {
                    op: c,
                    p: r.uniform(0.5, 1.0),
                    active_from,
                });
            }
        }
        // Zipf traffic over entry operations in random rank order.
        let mut entries: Vec<usize> = (0..n_ops).filter(|&i| ops[i].level == 0).collect();
        for i in (1..entries.len()).rev() {
            entries.swap(i, r.below(i + 1));
        }
        let zsum: f64 = (1..=entries.len()).map(|k| (k as f64).powf(-1.1)).sum();
        let entries: Vec<(usize, f64)> = entries
            .iter()
            .enumerate()
            .map(|(k, &e)| (e, ((k + 1) as f64).powf(-1.1) / zsum))
            .collect();
        for &(e, _) in entries.iter().skip(1) {
            if r.chance(0.2) {
                ops[e].active_from = t_frac(r.uniform(0.15, 0.6));
            }
        }
        // Expected spans per trace (bottom-up) and per-op rates (top-down).
        let mut spans = vec![1.0f64; n_ops];
        for lvl in (0..=3).rev() {
            for i in 0..n_ops {
                if ops[i].level == lvl {
                    let kids: f64 = ops[i].children.iter().map(|c| c.p * spans[c.op]).sum();
                    spans[i] = 1.0 + (1.0 - ops[i].error_p) * kids;
                }
            }
        }
        let per_trace: f64 = entries.iter().map(|&(e, w)| w * spans[e]).sum();
        let rate_mean = spans_target / (hours * 3600.0) / per_trace;
        for &(e, w) in &entries {
            ops[e].rate = rate_mean * w;
        }
        for lvl in 0..3 {
            for i in 0..n_ops {
                if ops[i].level == lvl {
                    let out = ops[i].rate * (1.0 - ops[i].error_p);
                    for c in ops[i].children.clone() {
                        ops[c.op].rate += out * c.p;
                    }
                }
            }
        }
        let mut w = World {
            ops,
            entries,
            drift,
            injections: Vec::new(),
            inj_by_op: HashMap::new(),
            horizon_ns,
            rate_mean,
            spike_rate: 3e-4,
            n_services,
        };
        w.inject(&mut r);
        w
    }

    fn inject(&mut self, r: &mut Rng) {
        let h = self.horizon_ns;
        let has_parent: Vec<bool> = {
            let mut v = vec![false; self.ops.len()];
            for o in &self.ops {
                for c in &o.children {
                    v[c.op] = true;
                }
            }
            v
        };
        let mut plan: Vec<(InjKind, f64, Option<bool>)> = Vec::new();
        for f in [1.2, 1.5, 2.0, 3.0] {
            for i in 0..8 {
                plan.push((InjKind::Shift, f, Some(i % 2 == 0)));
            }
        }
        for _ in 0..8 {
            plan.push((InjKind::Ramp, 3.0, None));
            plan.push((InjKind::Variance, r.uniform(2.0, 3.0), None));
            plan.push((InjKind::Partial, r.uniform(2.0, 4.0), None));
            plan.push((InjKind::Propagation, r.uniform(3.0, 5.0), None));
        }
        for (kind, factor, narrow) in plan {
            let cands: Vec<usize> = (0..self.ops.len())
                .filter(|&i| {
                    let o = &self.ops[i];
                    o.children.is_empty()
                        && o.rate >= 0.2
                        && o.bimodal.is_none()
                        && (kind != InjKind::Propagation || has_parent[i])
                        && narrow.is_none_or(|n| (o.sigma <= 0.5) == n)
                })
                .collect();
            if cands.is_empty() {
                continue;
            }
            for _ in 0..50 {
                let op = cands[r.below(cands.len())];
                let secs = (300.0 / self.ops[op].rate).clamp(180.0, 1200.0);
                let secs = if kind == InjKind::Ramp {
                    secs.max(600.0)
                } else {
                    secs
                };
                let start = (r.uniform(2.0 * 3600.0, h as f64 / NS - secs - 1800.0) * NS) as u64;
                let end = start + (secs * NS) as u64;
                let gap = (45.0 * 60.0 * NS) as u64;
                let clash = self.inj_by_op.get(&op).is_some_and(|ids| {
                    ids.iter().any(|&id| {
                        let j = &self.injections[id as usize];
                        start < j.end + gap && j.start < end + gap
                    })
                });
                if clash {
                    continue;
                }
                let id = self.injections.len() as u32;
                self.injections.push(Injection {
                    kind,
                    op,
                    start,
                    end,
                    factor,
                    sigma: self.ops[op].sigma,
                });
                self.inj_by_op.entry(op).or_default().push(id);
                break;
            }
        }
        self.contaminate(r);
    }

    /// Contamination windows, four per level: one on a bimodal key, one
    /// laid over a shift of the same key, two on any leaf key.
    fn contaminate(&mut self, r: &mut Rng) {
        let h = self.horizon_ns as f64 / NS;
        // Keys busy enough that a window at 0.5 % holds ~30 slow requests
        // in under two hours (a looser bound when a world has none).
        let busy = |w: &Self, min: f64| -> Vec<usize> {
            (0..w.ops.len())
                .filter(|&i| w.ops[i].children.is_empty() && w.ops[i].rate >= min)
                .collect()
        };
        let mut leaves = busy(self, 1.0);
        if leaves.len() < 4 {
            leaves = busy(self, 0.2);
        }
        if leaves.is_empty() {
            return;
        }
        let shifts: Vec<usize> = (0..self.injections.len())
            .filter(|&i| {
                let j = &self.injections[i];
                j.kind == InjKind::Shift && leaves.contains(&j.op)
            })
            .collect();
        for &frac in &CONTAMINATION_LEVELS {
            for slot in 0..4 {
                for _ in 0..50 {
                    let (op, over) = match slot {
                        0 => {
                            let b: Vec<usize> = leaves
                                .iter()
                                .copied()
                                .filter(|&i| self.ops[i].bimodal.is_some())
                                .collect();
                            if b.is_empty() {
                                (leaves[r.below(leaves.len())], None)
                            } else {
                                (b[r.below(b.len())], None)
                            }
                        }
                        1 if !shifts.is_empty() => {
                            let j = shifts[r.below(shifts.len())];
                            (self.injections[j].op, Some(j))
                        }
                        _ => (leaves[r.below(leaves.len())], None),
                    };
                    let secs =
                        (BURSTS_PER_WINDOW / frac / self.ops[op].rate).clamp(600.0, 4.0 * 3600.0);
                    let (start, end) = match over {
                        Some(j) => {
                            let sh = &self.injections[j];
                            let start = (sh.start as f64 / NS - secs / 3.0).max(2.0 * 3600.0);
                            let end = (start + secs).max(sh.end as f64 / NS + 600.0);
                            (start, end)
                        }
                        None => {
                            if h - secs - 1800.0 <= 2.0 * 3600.0 {
                                continue;
                            }
                            let start = r.uniform(2.0 * 3600.0, h - secs - 1800.0);
                            (start, start + secs)
                        }
                    };
                    if end > h {
                        continue;
                    }
                    let (start, end) = ((start * NS) as u64, (end * NS) as u64);
                    let gap = (45.0 * 60.0 * NS) as u64;
                    let clash = self.inj_by_op.get(&op).is_some_and(|ids| {
                        ids.iter().any(|&id| {
                            let j = &self.injections[id as usize];
                            j.kind == InjKind::Contamination
                                && start < j.end + gap
                                && j.start < end + gap
                        })
                    });
                    if clash {
                        continue;
                    }
                    let id = self.injections.len() as u32;
                    self.injections.push(Injection {
                        kind: InjKind::Contamination,
                        op,
                        start,
                        end,
                        factor: frac,
                        sigma: self.ops[op].sigma,
                    });
                    self.inj_by_op.entry(op).or_default().push(id);
                    break;
                }
            }
        }
    }

    pub(crate) fn describe(&self, key: u64) -> String {
        self.ops
            .iter()
            .enumerate()
            .find(|(_, o)| o.key_ok == key || o.key_err == key)
            .map(|(i, o)| {
                let kids: Vec<String> = o
                    .children
                    .iter()
                    .map(|c| {
                        let k = &self.ops[c.op];
                        format!(
                            "op {} p {:.2} med {:.1}ms σ {:.2} pareto {:.3}/α{:.1}",
                            c.op,
                            c.p,
                            k.mu.exp() / 1e6,
                            k.sigma,
                            k.pareto_p,
                            k.alpha
                        )
                    })
                    .collect();
                let mut desc = Vec::new();
                let mut stack: Vec<usize> = o.children.iter().map(|c| c.op).collect();
                while let Some(d) = stack.pop() {
                    desc.push(d);
                    stack.extend(self.ops[d].children.iter().map(|c| c.op));
                }
                desc.sort_unstable();
                desc.dedup();
                // Callers, with how many of their calls go to this operation.
                let callers: Vec<String> = self
                    .ops
                    .iter()
                    .enumerate()
                    .filter_map(|(j, p)| {
                        let n = p.children.iter().filter(|c| c.op == i).count();
                        (n > 0).then(|| format!("op {j} ×{n} par {}", p.parallel))
                    })
                    .collect();
                format!(
                    "level {} σ {:.2} pareto {:.3}/α{:.1} bimodal {:?} kids {} par {} err {} rate {:.2} drift {:.2}; op {i} median {:.1}ms calls {kids:?} descendants {desc:?} called by {callers:?}",
                    o.level,
                    o.sigma,
                    o.pareto_p,
                    o.alpha,
                    o.bimodal,
                    o.children.len(),
                    o.parallel,
                    o.key_err == key,
                    o.rate,
                    self.drift[o.service],
                    o.mu.exp() / 1e6,
                )
            })
            .unwrap_or_default()
    }

    fn base_ln(&self, op: usize, t: u64) -> f64 {
        let o = &self.ops[op];
        let drift = self.drift[o.service] * t as f64 / self.horizon_ns as f64;
        o.mu + latency_factor(t).ln() + drift
    }

    /// Per-span log-likelihood ratio, under the true normal model of
    /// injection `inj`'s operation, of "own work slowed by `factor`"
    /// against "normal", for a span of it that started at `start` and
    /// lasted `dur_ns`. The model is the log-normal body (both components
    /// of a bimodal operation); the residual is clipped to 3σ beyond them,
    /// so a Pareto-tail span counts as a 3σ one.
    pub(crate) fn shift_llr(&self, inj: usize, start: u64, dur_ns: f64, factor: f64) -> f64 {
        let o = &self.ops[self.injections[inj].op];
        let s = o.sigma;
        let (hit, miss) = o.bimodal.unwrap_or((1.0, 0.0));
        let y = (dur_ns.ln() - self.base_ln(self.injections[inj].op, start))
            .clamp(-3.0 * s, miss + 3.0 * s);
        let dens = |u: f64| {
            let g = |v: f64| (-0.5 * (v / s) * (v / s)).exp();
            hit * g(u) + (1.0 - hit) * g(u - miss)
        };
        let m = factor.ln();
        (dens(y - m).max(1e-300) / dens(y).max(1e-300)).ln()
    }

    /// True P(duration ≥ d) of a leaf span under the normal model at time t.
    /// Whether `op` calls no other operation: its span's duration is its own work, the
    /// quantity [`World::oracle_tail`] models.
    pub(crate) fn is_leaf(&self, op: usize) -> bool {
        self.ops[op].children.is_empty()
    }

    pub(crate) fn oracle_tail(&self, op: usize, t: u64, dur_ns: f64) -> f64 {
        let o = &self.ops[op];
        let y = dur_ns.ln() - self.base_ln(op, t);
        let comps: [(f64, f64); 2] = match o.bimodal {
            Some((hit, miss)) => [(hit, 0.0), (1.0 - hit, miss)],
            None => [(1.0, 0.0), (0.0, 0.0)],
        };
        let (s, a) = (o.sigma, o.alpha);
        comps
            .iter()
            .filter(|c| c.0 > 0.0)
            .map(|&(w, shift)| {
                let u = y - shift;
                // P(σZ + E ≥ u) for E ~ Exp(α): ex-Gaussian tail, closed form.
                let exg = norm_sf(u / s)
                    + (-a * u + a * a * s * s / 2.0).exp() * (1.0 - norm_sf(u / s - a * s));
                w * ((1.0 - o.pareto_p) * norm_sf(u / s) + o.pareto_p * exg.min(1.0))
            })
            .sum()
    }

    pub(crate) fn generate(&self, seed: u64) -> Vec<SpanRec> {
        let mut g = Gen {
            w: self,
            r: Rng::new(seed ^ 0xA5A5_5A5A),
            rc: Rng::new(seed ^ 0xC0C0_0C0C),
            next_id: 1,
            trace: Vec::new(),
        };
        let mut out = Vec::with_capacity(1 << 21);
        let mut t = 0u64;
        let mut trace_no = 0u64;
        loop {
            let rate = self.rate_mean * load(t) / 0.6;
            t += (g.r.exp(rate) * NS) as u64;
            if t >= self.horizon_ns {
                break;
            }
            // Zipf pick among entry operations live at t.
            let live: f64 = self
                .entries
                .iter()
                .filter(|e| self.ops[e.0].active_from <= t)
                .map(|e| e.1)
                .sum();
            let mut x = g.r.unit() * live;
            let mut entry = self.entries[0].0;
            for &(e, w) in &self.entries {
                if self.ops[e].active_from > t {
                    continue;
                }
                entry = e;
                x -= w;
                if x <= 0.0 {
                    break;
                }
            }
            trace_no += 1;
            g.trace.clear();
            g.span(entry, t, 0, trace_no);
            let mut spans = std::mem::take(&mut g.trace);
            spans.sort_by_key(|s| s.end_ns);
            // 10 % of traces deliver one child after its parent.
            if spans.len() > 1 && g.r.chance(0.1) {
                let i = g.r.below(spans.len() - 1);
                let child = spans.remove(i);
                let p = spans
                    .iter()
                    .position(|s| s.span_id == child.parent)
                    .unwrap_or(spans.len() - 1);
                spans.insert(p + 1, child);
            }
            out.extend_from_slice(&spans);
            g.trace = spans;
        }
        self.categorise(&mut out);
        out
    }

    /// Per operation, the operations that call it (one entry per call).
    fn callers(&self) -> Vec<Vec<usize>> {
        let mut callers: Vec<Vec<usize>> = vec![Vec::new(); self.ops.len()];
        for (i, o) in self.ops.iter().enumerate() {
            for c in &o.children {
                callers[c.op].push(i);
            }
        }
        callers
    }

    /// Keys of the operations that host a contamination window (the first
    /// set), and of their callers up the tree, whose durations the bursts
    /// also reach (the second).
    pub(crate) fn contamination_keys(
        &self,
    ) -> (
        std::collections::HashSet<u64>,
        std::collections::HashSet<u64>,
    ) {
        let callers = self.callers();
        let hosts: std::collections::HashSet<usize> = self
            .injections
            .iter()
            .filter(|j| j.kind == InjKind::Contamination)
            .map(|j| j.op)
            .collect();
        let mut stack: Vec<usize> = hosts.iter().flat_map(|&o| &callers[o]).copied().collect();
        let mut up = std::collections::HashSet::new();
        while let Some(o) = stack.pop() {
            if up.insert(o) {
                stack.extend(&callers[o]);
            }
        }
        let keys = |ops: &mut dyn Iterator<Item = usize>| {
            ops.flat_map(|o| [self.ops[o].key_ok, self.ops[o].key_err])
                .collect()
        };
        let host_keys = keys(&mut hosts.iter().copied());
        let caller_keys = keys(&mut up.difference(&hosts).copied());
        (host_keys, caller_keys)
    }

    fn categorise(&self, spans: &mut [SpanRec]) {
        let mut seen: HashMap<u64, u32> = HashMap::new();
        let mut op_of: HashMap<u64, usize> = HashMap::new();
        for (i, o) in self.ops.iter().enumerate() {
            op_of.insert(o.key_ok, i);
            op_of.insert(o.key_err, i);
        }
        let near = (15.0 * 60.0 * NS) as u64;
        // An injection also moves the durations of every caller up the tree.
        let callers = self.callers();
        let mut near_ops: HashMap<usize, Vec<u32>> = HashMap::new();
        for (id, j) in self.injections.iter().enumerate() {
            let mut stack = vec![j.op];
            let mut seen_ops = std::collections::HashSet::new();
            while let Some(o) = stack.pop() {
                if seen_ops.insert(o) {
                    near_ops.entry(o).or_default().push(id as u32);
                    stack.extend(&callers[o]);
                }
            }
        }
        for s in spans {
            let n = seen.entry(s.key).or_default();
            *n += 1;
            let op = op_of[&s.key];
            let t = s.end_ns;
            let near_ep = near_ops.get(&op).is_some_and(|ids| {
                ids.iter().any(|&id| {
                    let j = &self.injections[id as usize];
                    t + 1 >= j.start && t < j.end + near
                })
            });
            let phase = (std::f64::consts::TAU * t as f64 / NS / DAY_S).sin().abs();
            s.cat = if *n <= 500 {
                Cat::Warmup
            } else if near_ep {
                Cat::NearEpisode
            } else if self.drift[self.ops[op].service] != 0.0 {
                Cat::Drift
            } else if phase > 0.7 {
                Cat::Diurnal
            } else {
                Cat::Steady
            };
        }
    }
}

// === impl Gen ===

struct Gen<'a> {
    w: &'a World,
    r: Rng,
    /// Contamination's own stream: the other spans are as without it.
    rc: Rng,
    next_id: u64,
    trace: Vec<SpanRec>,
}

/// What a subtree returns: actual and counterfactual (no injection) duration,
/// and the injected span that explains most of the difference.
struct Sub {
    dur: f64,
    normal: f64,
    root: u64,
    root_inj: u32,
}

impl Gen<'_> {
    fn span(&mut self, op: usize, start: u64, parent: u64, trace: u64) -> Sub {
        let w = self.w;
        let o = &w.ops[op];
        let id = self.next_id;
        self.next_id += 1;
        let err = self.r.chance(o.error_p);
        let z = self.r.normal();
        let miss = match o.bimodal {
            Some((hit, m)) if !self.r.chance(hit) => m,
            _ => 0.0,
        };
        let tail = if self.r.chance(o.pareto_p) {
            self.r.exp(o.alpha)
        } else {
            0.0
        };
        let base = w.base_ln(op, start) + miss + tail;
        let normal_own = (base + o.sigma * z).exp() * if err { 0.05 } else { 1.0 };
        let mut own = normal_own;
        let mut label = Label::Normal;
        let mut inj = NONE;
        let mut ramp_factor = 1.0f32;
        let mut oracle_p = 0.0;
        if !err && let Some(ids) = w.inj_by_op.get(&op) {
            for &jid in ids {
                let j = &w.injections[jid as usize];
                if start < j.start || start >= j.end || j.kind == InjKind::Contamination {
                    continue;
                }
                own = match j.kind {
                    InjKind::Shift | InjKind::Propagation => own * j.factor,
                    InjKind::Ramp => {
                        let f = 1.0
                            + (j.factor - 1.0) * (start - j.start) as f64
                                / (j.end - j.start) as f64;
                        ramp_factor = f as f32;
                        own * f
                    }
                    InjKind::Variance => (base + j.factor * o.sigma * z).exp(),
                    InjKind::Partial => {
                        if self.r.chance(0.1) {
                            own * j.factor
                        } else {
                            own
                        }
                    }
                    InjKind::Contamination => own,
                };
                inj = jid;
                label = if own > normal_own * 1.0001 {
                    Label::Affected
                } else {
                    Label::Unaffected
                };
            }
        }
        if !err && inj == NONE && o.children.is_empty() && self.r.chance(w.spike_rate) {
            own *= self.r.log_uniform(3.0, 30.0);
            label = Label::Spike;
            oracle_p = w.oracle_tail(op, start, own);
        }
        // After the isolated spikes, whose draws keep the main stream as it was.
        if !err
            && label != Label::Spike
            && o.children.is_empty()
            && let Some(ids) = w.inj_by_op.get(&op)
        {
            for &jid in ids {
                let j = &w.injections[jid as usize];
                if j.kind == InjKind::Contamination
                    && start >= j.start
                    && start < j.end
                    && self.rc.chance(j.factor)
                {
                    let m = self.rc.log_uniform(5.0, 50.0);
                    own *= m;
                    // A burst span carries its multiplier here (the
                    // tail-event diagnostics group by magnitude).
                    ramp_factor = m as f32;
                    label = Label::Burst;
                    inj = jid;
                    oracle_p = w.oracle_tail(op, start, own);
                }
            }
        }
        let (mut kids, mut kids_normal) = (0.0f64, 0.0f64);
        let mut best: Option<(f64, u64, u32)> = None;
        if !err {
            let mut cursor = start + (own * 0.5) as u64;
            for c in &o.children {
                if start < c.active_from || !self.r.chance(c.p) {
                    continue;
                }
                let sub = self.span(c.op, cursor, id, trace);
                if o.parallel {
                    kids = kids.max(sub.dur);
                    kids_normal = kids_normal.max(sub.normal);
                } else {
                    kids += sub.dur;
                    kids_normal += sub.normal;
                    cursor += sub.dur as u64;
                }
                let extra = sub.dur - sub.normal;
                if sub.root != 0 && extra > 0.0 && best.is_none_or(|b| extra > b.0) {
                    best = Some((extra, sub.root, sub.root_inj));
                }
            }
        }
        let dur = own + kids;
        let normal = normal_own + kids_normal;
        let (mut root, mut root_inj) = (0, NONE);
        if matches!(label, Label::Spike | Label::Burst | Label::Affected) {
            root = id;
            root_inj = inj;
        } else if let Some((_, r, ri)) = best
            && dur > normal * 1.0001
        {
            root = r;
            root_inj = ri;
            if label == Label::Normal {
                label = Label::Propagated;
                inj = ri;
            }
        }
        self.trace.push(SpanRec {
            key: if err { o.key_err } else { o.key_ok },
            trace,
            span_id: id,
            parent,
            end_ns: start + dur as u64,
            dur_ns: dur.max(1.0) as u64,
            label,
            inj,
            root: if label == Label::Propagated { root } else { 0 },
            oracle_p,
            cat: Cat::Steady,
            ramp_factor,
        });
        Sub {
            dur,
            normal,
            root,
            root_inj,
        }
    }
}
