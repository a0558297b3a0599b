//! Scoring one detector's tags against the ground truth of one seed.

use std::collections::{BTreeMap, HashMap};

use lookout_anomaly::{AnomalyKind, DetectorConfig};

use crate::baselines::Tagged;
use crate::synth::{CATS, CONTAMINATION_LEVELS, Cat, InjKind, Label, NONE, NS, SpanRec, World};

/// A contamination burst is a tail event when its true tail probability is
/// below the detector's default `spike_tail_probability`: only those can be
/// told from the key's own slow requests at the FP budget.
const TAIL_EVENT_P: f64 = 1e-4;

/// Per-seed results of one detector; every value is a plain number so
/// seeds can be aggregated uniformly (NaN = not applicable / no data).
pub(crate) type Row = BTreeMap<String, f64>;

/// Per-episode detection delays (spans) of one seed by episode group, to be
/// pooled over seeds: `(detector's, clairvoyant CUSUM's)`, `None` = missed.
pub(crate) type Delays = BTreeMap<String, Vec<(Option<f64>, Option<f64>)>>;

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn cat_name(c: Cat) -> &'static str {
    match c {
        Cat::Steady => "steady",
        Cat::Warmup => "warm-up",
        Cat::Diurnal => "diurnal transitions",
        Cat::Drift => "drift",
        Cat::NearEpisode => "near an episode (same or caller key)",
    }
}

/// (detected, delay spans, delay s, ramp factor at detection, chance of a
/// hit from false-positive-rate tagging alone over the episode's spans,
/// the clairvoyant CUSUM's (delay spans, factor) if it fired)
type EpOutcome = (bool, f64, f64, f64, f64, Option<(usize, f32)>);

/// Decision threshold (nats) of the clairvoyant CUSUM: at most one false
/// alarm per e^13.8 ≈ 10⁶ normal spans (Lorden's bound).
const CLAIRVOYANT_H: f64 = 13.8;

#[derive(Default)]
struct Ep {
    n: usize,
    first: Option<(usize, f64, f32)>,
    /// A clairvoyant CUSUM (shifts and ramps): it knows the key's true
    /// baseline and σ and the injected factor at every span, and sums their
    /// log-likelihood ratios from the injection's start. Its (delay in
    /// spans, factor at detection) is what any detector could achieve at
    /// ~10⁶ spans between false alarms.
    cv: f64,
    cv_first: Option<(usize, f32)>,
}

pub(crate) fn score(
    w: &World,
    spans: &[SpanRec],
    tags: &[Tagged],
    cfg: &DetectorConfig,
) -> (Row, Delays) {
    let mut row = Row::new();
    // False positives on normal spans, per category.
    let mut n_cat = [0u64; 5];
    let mut fp_cat = [0u64; 5];
    // Spikes.
    let (mut n_spike, mut tp_spike) = (0u64, 0u64);
    // The same for the per-span tail test alone: spans it tagged (a parent it
    // tagged may since be `propagated`: it still counts).
    let (mut tp_spike_kind, mut fp_spike_kind) = (0u64, 0u64);
    let mut oracle_ps = Vec::new();
    // Episodes.
    let mut eps: Vec<Ep> = (0..w.injections.len()).map(|_| Ep::default()).collect();
    // Root attribution.
    let (mut prop_tagged, mut prop_right) = (0u64, 0u64);
    // Contamination bursts per injection: (all, tagged, tail events, tagged tail events).
    let mut bursts: Vec<[u64; 4]> = vec![[0; 4]; w.injections.len()];
    for (s, t) in spans.iter().zip(tags) {
        match s.label {
            Label::Burst => {
                let b = &mut bursts[s.inj as usize];
                let tail = s.oracle_p < TAIL_EVENT_P;
                b[0] += 1;
                b[1] += t.flagged as u64;
                b[2] += tail as u64;
                b[3] += (tail && t.flagged) as u64;
            }
            Label::Normal => {
                let c = CATS.iter().position(|&c| c == s.cat).unwrap_or(0);
                n_cat[c] += 1;
                fp_cat[c] += t.flagged as u64;
                fp_spike_kind += (t.flagged && t.tail_test) as u64;
            }
            Label::Spike => {
                n_spike += 1;
                tp_spike += t.flagged as u64;
                tp_spike_kind += (t.flagged && t.tail_test) as u64;
                oracle_ps.push(s.oracle_p);
            }
            Label::Affected | Label::Unaffected | Label::Propagated => {
                if s.label == Label::Propagated && t.flagged {
                    prop_tagged += 1;
                    prop_right +=
                        (t.kind == Some(AnomalyKind::Propagated) && t.root == s.root) as u64;
                }
                if s.inj == NONE {
                    continue;
                }
                let j = &w.injections[s.inj as usize];
                // Propagation episodes are judged on the ancestors only.
                let counts = match j.kind {
                    InjKind::Propagation => s.label == Label::Propagated,
                    _ => s.label != Label::Propagated,
                };
                if !counts {
                    continue;
                }
                let e = &mut eps[s.inj as usize];
                if matches!(j.kind, InjKind::Shift | InjKind::Ramp) && e.cv_first.is_none() {
                    let factor = if j.kind == InjKind::Ramp {
                        s.ramp_factor as f64
                    } else {
                        j.factor
                    };
                    let start = s.end_ns - s.dur_ns;
                    let llr = w.shift_llr(s.inj as usize, start, s.dur_ns as f64, factor);
                    e.cv = (e.cv + llr).max(0.0);
                    if e.cv >= CLAIRVOYANT_H {
                        e.cv_first = Some((e.n, s.ramp_factor));
                    }
                }
                if t.flagged && e.first.is_none() {
                    let secs = s.end_ns.saturating_sub(j.start) as f64 / NS;
                    e.first = Some((e.n, secs, s.ramp_factor));
                }
                e.n += 1;
            }
        }
    }
    // Diagnostics on stderr: LATENCY_EVAL_DEBUG=1 prints tags by (label,
    // category, kind) and the keys with most false positives;
    // LATENCY_EVAL_KEY=<hex key> adds a per-minute timeline of that key's
    // false positives and the injection schedule.
    if std::env::var_os("LATENCY_EVAL_DEBUG").is_some() {
        let mut by: BTreeMap<String, u64> = BTreeMap::new();
        for (s, t) in spans.iter().zip(tags) {
            if t.flagged {
                *by.entry(if s.label == Label::Normal {
                    format!("N/{:?}/{:?}", s.cat, t.kind)
                } else {
                    format!("{:?}/{:?}", s.label, t.kind)
                })
                .or_default() += 1;
            }
        }
        eprintln!("{by:?}");
        if let Some(k) = std::env::var("LATENCY_EVAL_KEY")
            .ok()
            .and_then(|k| u64::from_str_radix(&k, 16).ok())
        {
            let mut last_min = u64::MAX;
            for (s, t) in spans.iter().zip(tags) {
                if s.key == k && t.flagged && s.label == Label::Normal {
                    let m = s.end_ns / 60_000_000_000;
                    if m != last_min {
                        eprintln!(
                            "  min {m}: {:?} {:?} dur {:.1}ms",
                            t.kind,
                            s.cat,
                            s.dur_ns as f64 / 1e6
                        );
                        last_min = m;
                    }
                }
            }
            // How often the key appears more than once in a trace: spans
            // started together end in duration order.
            let mut per_trace: BTreeMap<u64, u32> = BTreeMap::new();
            for s in spans.iter().filter(|s| s.key == k) {
                *per_trace.entry(s.trace).or_default() += 1;
            }
            let mut hist: BTreeMap<u32, u32> = BTreeMap::new();
            for n in per_trace.values() {
                *hist.entry(*n).or_default() += 1;
            }
            eprintln!("  key {k:x}: {}", w.describe(k));
            eprintln!("  traces by the key's spans in them: {hist:?}");
            for j in &w.injections {
                eprintln!(
                    "  inj {:?} op {} {}..{} min",
                    j.kind,
                    j.op,
                    j.start / 60_000_000_000,
                    j.end / 60_000_000_000
                );
            }
        }
        // One line per episode injection: what it was and whether/when it was caught.
        for (j, e) in w.injections.iter().zip(&eps) {
            eprintln!(
                "ep {:?} ×{:.2} σ {:.2} rate {:.2}/s: {} spans, first tag {:?}",
                j.kind,
                j.factor,
                j.sigma,
                w.ops[j.op].rate,
                e.n,
                e.first.map(|f| (f.0, f.2))
            );
        }
        let mut per_key: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for (s, t) in spans.iter().zip(tags) {
            if s.label == Label::Normal {
                let e = per_key.entry(s.key).or_default();
                e.0 += 1;
                e.1 += t.flagged as u64;
            }
        }
        let mut v: Vec<_> = per_key.into_iter().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1.1));
        for (k, (n, f)) in v.iter().take(6) {
            eprintln!("key {k:x}: {f} fp / {n} normal; {}", w.describe(*k));
        }
    }
    let n_normal: u64 = n_cat.iter().sum();
    let fp: u64 = fp_cat.iter().sum();
    let fp_rate = fp as f64 / n_normal.max(1) as f64;
    for (i, c) in CATS.iter().enumerate() {
        row.insert(
            format!("FP/M normal: {}", cat_name(*c)),
            1e6 * fp_cat[i] as f64 / n_cat[i].max(1) as f64,
        );
        row.insert(format!("normal spans: {}", cat_name(*c)), n_cat[i] as f64);
    }
    row.insert("FP/M normal: overall".into(), 1e6 * fp_rate);
    let recall = tp_spike as f64 / n_spike.max(1) as f64;
    let precision = tp_spike as f64 / (tp_spike + fp).max(1) as f64;
    row.insert("spike spans".into(), n_spike as f64);
    row.insert("spike recall".into(), recall);
    row.insert("spike precision".into(), precision);
    row.insert(
        "spike F1".into(),
        2.0 * precision * recall / (precision + recall).max(1e-12),
    );
    // The oracle tags a span when its true tail probability is below t; on
    // normal spans that fires at rate t, so at our FP rate it recalls:
    let oracle_recall =
        oracle_ps.iter().filter(|&&p| p < fp_rate).count() as f64 / n_spike.max(1) as f64;
    row.insert("oracle spike recall at same FP rate".into(), oracle_recall);
    row.insert(
        "spike recall / oracle".into(),
        if oracle_recall > 0.0 {
            recall / oracle_recall
        } else {
            f64::NAN
        },
    );
    // The tail test alone against the oracle at the tail test's own false
    // positive rate (baselines have no kinds: NaN).
    let fp_rate_kind = fp_spike_kind as f64 / n_normal.max(1) as f64;
    let oracle_kind =
        oracle_ps.iter().filter(|&&p| p < fp_rate_kind).count() as f64 / n_spike.max(1) as f64;
    let (kind_fp, kind_ratio) = if tp_spike_kind + fp_spike_kind > 0 {
        (
            1e6 * fp_rate_kind,
            tp_spike_kind as f64 / n_spike.max(1) as f64 / oracle_kind.max(1e-12),
        )
    } else {
        (f64::NAN, f64::NAN)
    };
    row.insert("tail test alone: FP/M normal".into(), kind_fp);
    row.insert(
        "tail test alone: spike recall / oracle at its FP rate".into(),
        kind_ratio,
    );
    // Episodes grouped by kind (shifts by factor and σ).
    let mut groups: BTreeMap<String, Vec<EpOutcome>> = BTreeMap::new();
    for (j, e) in w.injections.iter().zip(&eps) {
        if e.n == 0 {
            continue;
        }
        let name = match j.kind {
            InjKind::Shift => {
                format!(
                    "shift ×{} σ{}0.5",
                    j.factor,
                    if j.sigma <= 0.5 { "≤" } else { ">" }
                )
            }
            InjKind::Ramp => "ramp to ×3".into(),
            InjKind::Variance => "variance ×2–3".into(),
            InjKind::Partial => "10% of requests ×2–4".into(),
            InjKind::Propagation => "propagation to ancestors".into(),
            InjKind::Contamination => continue,
        };
        let (det, d_sp, d_s, f) = match e.first {
            Some((sp, s, f)) => (true, sp as f64, s, f as f64),
            None => (false, f64::NAN, f64::NAN, f64::NAN),
        };
        let chance = 1.0 - (1.0 - fp_rate).powf(e.n as f64);
        groups
            .entry(name)
            .or_default()
            .push((det, d_sp, d_s, f, chance, e.cv_first));
    }
    let mut delays = Delays::new();
    for (name, v) in groups {
        let n = v.len() as f64;
        row.insert(format!("{name}: episodes"), n);
        row.insert(
            format!("{name}: recall"),
            v.iter().filter(|x| x.0).count() as f64 / n,
        );
        row.insert(
            format!("{name}: recall expected by chance at this FP rate"),
            v.iter().map(|x| x.4).sum::<f64>() / n,
        );
        let mut sp: Vec<f64> = v.iter().filter(|x| x.0).map(|x| x.1).collect();
        let mut ss: Vec<f64> = v.iter().filter(|x| x.0).map(|x| x.2).collect();
        row.insert(format!("{name}: median delay (spans)"), median(&mut sp));
        row.insert(format!("{name}: median delay (s)"), median(&mut ss));
        if name.starts_with("shift") || name.starts_with("ramp") {
            delays.insert(
                name.clone(),
                v.iter()
                    .map(|x| (x.0.then_some(x.1), x.5.map(|c| c.0 as f64)))
                    .collect(),
            );
            let cv: Vec<(usize, f32)> = v.iter().filter_map(|x| x.5).collect();
            row.insert(
                format!("{name}: clairvoyant CUSUM recall"),
                cv.len() as f64 / n,
            );
            let mut d: Vec<f64> = cv.iter().map(|c| c.0 as f64).collect();
            row.insert(
                format!("{name}: clairvoyant CUSUM median delay (spans)"),
                median(&mut d),
            );
            if name.starts_with("ramp") {
                let before = cv.iter().filter(|c| c.1 < 1.5).count() as f64 / n;
                row.insert(
                    format!("{name}: clairvoyant CUSUM caught before ×1.5"),
                    before,
                );
            }
        }
        if name.starts_with("ramp") {
            let before = v.iter().filter(|x| x.0 && x.3 < 1.5).count() as f64 / n;
            row.insert(format!("{name}: caught before ×1.5"), before);
            let mut f: Vec<f64> = v.iter().filter(|x| x.0).map(|x| x.3).collect();
            row.insert(
                format!("{name}: median factor at detection"),
                median(&mut f),
            );
        }
    }
    row.insert(
        "root attribution accuracy".into(),
        if prop_tagged > 0 {
            prop_right as f64 / prop_tagged as f64
        } else {
            f64::NAN
        },
    );
    row.insert("tagged propagated-truth spans".into(), prop_tagged as f64);
    let steady = CATS.iter().position(|&c| c == Cat::Steady).unwrap_or(0);
    let steady_rate = fp_cat[steady] as f64 / n_cat[steady].max(1) as f64;
    intermittent_rows(w, spans, tags, &bursts, steady_rate, cfg, &mut row);
    (row, delays)
}

/// Contamination recall per level, how many tail events each window's
/// intermittent episode took to open, and intermittent episodes opened away
/// from any injection (false ones), by the key's shape.
fn intermittent_rows(
    w: &World,
    spans: &[SpanRec],
    tags: &[Tagged],
    bursts: &[[u64; 4]],
    steady_rate: f64,
    cfg: &DetectorConfig,
    row: &mut Row,
) {
    // The clairvoyant per-span reference: a test that knows every span's
    // true tail probability and tags below `steady_rate` spends the same
    // false positives on steady normal spans as the detector does; per
    // contamination injection, the tail events it would tag.
    let mut oracle_tagged = vec![0u64; w.injections.len()];
    for s in spans {
        if s.label == Label::Burst && s.oracle_p < TAIL_EVENT_P.min(steady_rate) {
            oracle_tagged[s.inj as usize] += 1;
        }
    }
    let mut op_of: HashMap<u64, usize> = HashMap::new();
    for (i, o) in w.ops.iter().enumerate() {
        op_of.insert(o.key_ok, i);
    }
    let debug = std::env::var_os("LATENCY_EVAL_DEBUG").is_some();
    let flags: Vec<bool> = tags.iter().map(|t| t.intermittent).collect();
    let Openings {
        at: opened,
        false_open,
        in_windows: true_open,
        near_other: other_open,
    } = intermittent_openings(w, spans, &flags, &op_of, debug);
    let clairvoyant = clairvoyant_intermittent(w, spans, &op_of, cfg);
    let Openings {
        at: cv_opened,
        false_open: cv_false,
        ..
    } = intermittent_openings(w, spans, &clairvoyant, &op_of, false);
    if debug {
        for (id, j) in w.injections.iter().enumerate() {
            if j.kind == InjKind::Contamination {
                eprintln!(
                    "contamination {:.3}: bursts {:?} opened at {:?}; {}",
                    j.factor,
                    bursts[id],
                    opened[id],
                    w.describe(w.ops[j.op].key_ok)
                );
            }
        }
    }
    for &level in &CONTAMINATION_LEVELS {
        let ids: Vec<usize> = (0..w.injections.len())
            .filter(|&i| {
                let j = &w.injections[i];
                j.kind == InjKind::Contamination && j.factor == level
            })
            .collect();
        if ids.is_empty() {
            continue;
        }
        let name = format!("burst {}% ×5–50", level * 100.0);
        let sum = |k: usize| ids.iter().map(|&i| bursts[i][k]).sum::<u64>() as f64;
        // A seed without such spans or windows has no value (NaN), not 0.
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        row.insert(format!("{name}: windows"), ids.len() as f64);
        row.insert(format!("{name}: burst spans"), sum(0));
        row.insert(format!("{name}: recall"), ratio(sum(1), sum(0)));
        row.insert(
            format!("{name}: recall on tail events (true p < 1e-4)"),
            ratio(sum(3), sum(2)),
        );
        row.insert(
            format!(
                "{name}: recall on tail events, clairvoyant per-span test at the same steady FP rate"
            ),
            ratio(
                ids.iter().map(|&i| oracle_tagged[i]).sum::<u64>() as f64,
                sum(2),
            ),
        );
        let n = ids.len() as f64;
        let open: Vec<(u64, u64)> = ids.iter().filter_map(|&i| opened[i]).collect();
        row.insert(
            format!("{name}: intermittent episode opened"),
            open.len() as f64 / n,
        );
        // Judged on the windows that hold at least 10 tail events.
        let enough: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|&i| bursts[i][2] >= 10)
            .collect();
        row.insert(
            format!("{name}: windows with ≥ 10 tail events"),
            enough.len() as f64,
        );
        row.insert(
            format!("{name}: opened within 10 tail events (of those)"),
            ratio(
                enough
                    .iter()
                    .filter(|&&i| opened[i].is_some_and(|o| o.1 <= 10))
                    .count() as f64,
                enough.len() as f64,
            ),
        );
        row.insert(
            format!(
                "{name}: opened within 10 tail events (of those), clairvoyant intermittent test"
            ),
            ratio(
                enough
                    .iter()
                    .filter(|&&i| cv_opened[i].is_some_and(|o| o.1 <= 10))
                    .count() as f64,
                enough.len() as f64,
            ),
        );
        let mut tails: Vec<f64> = open.iter().map(|o| o.1 as f64).collect();
        row.insert(
            format!("{name}: tail events before opening (median)"),
            median(&mut tails),
        );
        row.insert(
            format!("{name}: tail events before opening (max)"),
            tails.iter().copied().fold(f64::NAN, f64::max),
        );
    }
    row.insert(
        "intermittent episodes: opened in contamination windows".into(),
        true_open as f64,
    );
    row.insert(
        "intermittent episodes: opened near other injections (same or caller key)".into(),
        other_open as f64,
    );
    for (i, shape) in ["bimodal", "heavy-tailed", "other"].iter().enumerate() {
        row.insert(
            format!("intermittent episodes: opened elsewhere (false), {shape} keys"),
            false_open[i] as f64,
        );
        row.insert(
            format!(
                "intermittent episodes: opened elsewhere (false), {shape} keys, clairvoyant intermittent test"
            ),
            cv_false[i] as f64,
        );
    }
}

/// Where intermittent episodes opened (see [`intermittent_openings`]).
struct Openings {
    /// Per contamination injection: (bursts, tail events) seen when an episode first held in it.
    at: Vec<Option<(u64, u64)>>,
    /// Openings away from any injection, by the key's shape: [bimodal, heavy-tailed (Pareto on
    /// ≥ 1 %), other].
    false_open: [u64; 3],
    /// Openings in contamination windows.
    in_windows: u64,
    /// Openings near other injections (same or caller key).
    near_other: u64,
}

/// Where the intermittent episodes of `flags` opened (`flags[i]`: span `i`'s key was in an
/// intermittent episode after it).
fn intermittent_openings(
    w: &World,
    spans: &[SpanRec],
    flags: &[bool],
    op_of: &HashMap<u64, usize>,
    debug: bool,
) -> Openings {
    let near = (15.0 * 60.0 * NS) as u64;
    let mut by_op: HashMap<usize, Vec<usize>> = HashMap::new();
    for (id, j) in w.injections.iter().enumerate() {
        by_op.entry(j.op).or_default().push(id);
    }
    // Per contamination injection: (bursts, tail events) seen when its
    // intermittent episode opened.
    let mut opened: Vec<Option<(u64, u64)>> = vec![None; w.injections.len()];
    let mut seen: Vec<(u64, u64)> = vec![(0, 0); w.injections.len()];
    let mut was: HashMap<u64, bool> = HashMap::new();
    // False openings: [bimodal, heavy-tailed (Pareto on ≥ 1 %), other].
    let mut false_open = [0u64; 3];
    let mut true_open = 0u64;
    let mut other_open = 0u64;
    for (s, &open) in spans.iter().zip(flags) {
        let prev = was.insert(s.key, open).unwrap_or(false);
        let Some(&op) = op_of.get(&s.key) else {
            continue;
        };
        let start = s.end_ns - s.dur_ns;
        let mut in_contamination = false;
        let mut near_other = false;
        for &id in by_op.get(&op).map_or(&[][..], |v| v.as_slice()) {
            let j = &w.injections[id];
            if start + 1 < j.start || start >= j.end + near {
                continue;
            }
            if j.kind != InjKind::Contamination {
                near_other = true;
                continue;
            }
            in_contamination = true;
            if start >= j.end {
                continue;
            }
            if s.label == Label::Burst && s.inj as usize == id {
                seen[id].0 += 1;
                seen[id].1 += (s.oracle_p < TAIL_EVENT_P) as u64;
            }
            if open && opened[id].is_none() {
                opened[id] = Some(seen[id]);
            }
        }
        if open && !prev {
            if in_contamination {
                true_open += 1;
            } else if near_other || s.cat == Cat::NearEpisode {
                other_open += 1;
            } else {
                let o = &w.ops[op];
                let shape = if o.bimodal.is_some() {
                    0
                } else if o.pareto_p >= 0.01 {
                    1
                } else {
                    2
                };
                false_open[shape] += 1;
                if debug {
                    eprintln!(
                        "false intermittent: key {:x} at {:.2} h, {:?}; {}",
                        s.key,
                        s.end_ns as f64 / NS / 3600.0,
                        s.cat,
                        w.describe(s.key)
                    );
                }
            }
        }
    }
    Openings {
        at: opened,
        false_open,
        in_windows: true_open,
        near_other: other_open,
    }
}

/// The detector's intermittent test (its rates, the 1:1 split of the
/// alternative between the two levels, `intermittent_h`) run on the oracle's levels: a span
/// counts beyond the spike level when its true tail probability is below
/// `spike_tail_probability`, beyond the lower level when below 10 times that. It knows each
/// leaf key's true distribution, so it shows what the test's rates and threshold allow when the
/// levels are exact, as the clairvoyant CUSUM does for shifts (keys that call others are left
/// out: their spans hold their children's time, which the oracle does not model).
fn clairvoyant_intermittent(
    w: &World,
    spans: &[SpanRec],
    op_of: &HashMap<u64, usize>,
    cfg: &DetectorConfig,
) -> Vec<bool> {
    let (p_top, rate, h) = (
        cfg.spike_tail_probability,
        cfg.intermittent_rate,
        cfg.intermittent_h,
    );
    let p_low = 10.0 * p_top;
    let hit = ((p_top + 0.5 * rate) / p_top).ln();
    let mid = ((p_low - p_top + 0.5 * rate) / (p_low - p_top)).ln();
    let miss = ((1.0 - p_low - rate) / (1.0 - p_low)).ln();
    // Per key: spans seen, the opening CUSUM, open, the closing CUSUM.
    let mut state: HashMap<u64, (u32, f64, bool, f64)> = HashMap::new();
    spans
        .iter()
        .map(|s| {
            let Some(&op) = op_of.get(&s.key) else {
                return false;
            };
            if !w.is_leaf(op) {
                return false;
            }
            let st = state.entry(s.key).or_insert((0, 0.0, false, 0.0));
            st.0 = st.0.saturating_add(1);
            if st.0 <= cfg.sequential_min_samples {
                return false;
            }
            let p = w.oracle_tail(op, s.end_ns - s.dur_ns, s.dur_ns as f64);
            let llr = if p < p_top {
                hit
            } else if p < p_low {
                mid
            } else {
                miss
            };
            if st.2 {
                st.3 = (st.3 - llr).max(0.0);
                if st.3 >= h {
                    *st = (st.0, 0.0, false, 0.0);
                }
            } else {
                st.1 = (st.1 + llr).max(0.0);
                if st.1 >= h {
                    *st = (st.0, 0.0, true, 0.0);
                }
            }
            st.2
        })
        .collect()
}
