//! Which contamination tail events a detector misses: recall of the bursts
//! whose true tail probability is below 1e-4, broken down by the key's σ and
//! shape, the burst's magnitude and true tail probability, its position in
//! its window, how many earlier tail events of the window went untagged
//! (learned by the baseline unless bounded), the key's age, whether the key's
//! intermittent episode was open, and where the detector's spike threshold
//! stood in true-tail-probability terms.

use std::collections::{BTreeMap, HashMap};

use crate::baselines::Tagged;
use crate::synth::{Cat, Label, SpanRec, World};

/// Same definition as the contamination rows (see `metrics.rs`).
const TAIL_EVENT_P: f64 = 1e-4;

/// (dimension, value) → [tail events, tagged ones], pooled over seeds.
pub(crate) type Diag = BTreeMap<(String, String), [u64; 2]>;

fn band(v: f64, edges: &[(f64, &'static str)], last: &'static str) -> &'static str {
    edges.iter().find(|e| v < e.0).map_or(last, |e| e.1)
}

/// Adds one seed's tail events to `diag`.
pub(crate) fn tail_events(w: &World, spans: &[SpanRec], tags: &[Tagged], diag: &mut Diag) {
    let mut op_of: HashMap<u64, usize> = HashMap::new();
    for (i, o) in w.ops.iter().enumerate() {
        op_of.insert(o.key_ok, i);
    }
    let mut age: HashMap<u64, u64> = HashMap::new();
    // Per window: (tail events so far, of them untagged).
    let mut window: HashMap<u32, (u64, u64)> = HashMap::new();
    // The key's intermittent state after its previous span.
    let mut inter: HashMap<u64, bool> = HashMap::new();
    for (s, t) in spans.iter().zip(tags) {
        let seen = age.entry(s.key).or_default();
        *seen += 1;
        let seen = *seen;
        let was_open = inter.insert(s.key, t.intermittent).unwrap_or(false);
        if s.label != Label::Burst || s.oracle_p >= TAIL_EVENT_P {
            continue;
        }
        let Some(&op) = op_of.get(&s.key) else {
            continue;
        };
        let o = &w.ops[op];
        let win = window.entry(s.inj).or_default();
        let (nth, missed_before) = (win.0 + 1, win.1);
        win.0 += 1;
        win.1 += (!t.flagged) as u64;
        let start = s.end_ns - s.dur_ns;
        let th_p = if t.threshold_ms > 0.0 {
            w.oracle_tail(op, start, t.threshold_ms * 1e6)
        } else {
            f64::NAN
        };
        if std::env::var_os("LATENCY_EVAL_DEBUG").is_some() {
            // The spike threshold's true tail probability is the baseline
            // rate the intermittent test assumes to be `spike_tail_probability`.
            eprintln!(
                "tail event: window {} level {} n {nth} age {seen} σ {:.2} pareto {:.3} bimodal {} ×{:.1} true p {:.1e} threshold {:.0} ms (true p {:.1e}) tagged {} open {}",
                s.inj,
                w.injections[s.inj as usize].factor,
                o.sigma,
                o.pareto_p,
                o.bimodal.is_some(),
                s.ramp_factor,
                s.oracle_p,
                t.threshold_ms,
                th_p,
                t.flagged,
                was_open
            );
        }
        let dims: [(&str, &str); 10] = [
            ("all", "all"),
            (
                "key σ",
                band(
                    o.sigma,
                    &[(0.35, "≤ 0.35"), (0.6, "0.35–0.6"), (0.8, "0.6–0.8")],
                    "> 0.8",
                ),
            ),
            (
                "key shape",
                if o.bimodal.is_some() {
                    "bimodal"
                } else if o.pareto_p >= 0.01 {
                    "Pareto tail ≥ 1 %"
                } else {
                    "log-normal (Pareto < 1 %)"
                },
            ),
            (
                "magnitude (× normal duration)",
                band(
                    f64::from(s.ramp_factor),
                    &[(10.0, "5–10"), (20.0, "10–20")],
                    "20–50",
                ),
            ),
            (
                "true tail probability",
                band(
                    s.oracle_p,
                    &[(1e-6, "< 1e-6"), (1e-5, "1e-6–1e-5")],
                    "1e-5–1e-4",
                ),
            ),
            (
                "n-th tail event of its window",
                band(
                    nth as f64,
                    &[(2.0, "1st"), (4.0, "2nd–3rd"), (11.0, "4th–10th")],
                    "11th+",
                ),
            ),
            (
                "earlier tail events of the window untagged",
                band(missed_before as f64, &[(1.0, "0"), (3.0, "1–2")], "≥ 3"),
            ),
            (
                "key age (spans seen)",
                band(
                    seen as f64,
                    &[(3_000.0, "< 3,000"), (30_000.0, "3,000–30,000")],
                    "≥ 30,000",
                ),
            ),
            (
                "intermittent episode open before it",
                if was_open { "yes" } else { "no" },
            ),
            (
                "spike threshold's true tail probability",
                if th_p.is_nan() {
                    "warm-up"
                } else {
                    band(
                        th_p,
                        &[(1e-6, "< 1e-6"), (1e-5, "1e-6–1e-5"), (1e-4, "1e-5–1e-4")],
                        "≥ 1e-4",
                    )
                },
            ),
        ];
        let level = w.injections[s.inj as usize].factor;
        let level_name = format!("{} %", level * 100.0);
        let sigma_band = dims[1].1;
        let extra = [
            ("contamination level".to_string(), level_name.clone()),
            (
                format!("key σ, {level_name} windows"),
                sigma_band.to_string(),
            ),
        ];
        for (d, v) in extra {
            let e = diag.entry((d, v)).or_default();
            e[0] += 1;
            e[1] += t.flagged as u64;
        }
        for (d, v) in dims {
            let e = diag.entry((d.to_string(), v.to_string())).or_default();
            e[0] += 1;
            e[1] += t.flagged as u64;
        }
    }
}

/// With `LATENCY_EVAL_DEBUG`, prints on stderr the false positives on steady
/// normal spans (more than 15 minutes after any window of the key: before,
/// they count as near an episode) of three groups of keys: those that host a
/// contamination window, their callers, and the others. Shows whether
/// contamination learned as normal keeps a key's threshold high after its
/// windows.
pub(crate) fn steady_fp_split(w: &World, spans: &[SpanRec], tags: &[Tagged]) {
    if std::env::var_os("LATENCY_EVAL_DEBUG").is_none() {
        return;
    }
    let (hosts, callers) = w.contamination_keys();
    // [hosts, callers, other keys] × [normal spans, false positives]
    let mut n = [[0u64; 2]; 3];
    for (s, t) in spans.iter().zip(tags) {
        if s.label == Label::Normal && s.cat == Cat::Steady {
            let k = if hosts.contains(&s.key) {
                0
            } else if callers.contains(&s.key) {
                1
            } else {
                2
            };
            n[k][0] += 1;
            n[k][1] += u64::from(t.flagged);
        }
    }
    eprintln!(
        "steady FP: contamination hosts {} / {} spans, their callers {} / {} spans, other keys {} / {} spans",
        n[0][1], n[0][0], n[1][1], n[1][0], n[2][1], n[2][0]
    );
}

/// Prints `diag` as a Markdown table (events, tagged, recall, missed).
pub(crate) fn print(diag: &Diag) {
    println!(
        "\n## Contamination tail events (true p < 1e-4) by circumstance, lookout, seeds pooled\n"
    );
    println!("| dimension | value | tail events | tagged | recall | missed |");
    println!("|---|---|---|---|---|---|");
    for ((d, v), [n, k]) in diag {
        println!(
            "| {d} | {v} | {n} | {k} | {:.2} | {} |",
            *k as f64 / (*n).max(1) as f64,
            n - k
        );
    }
}
