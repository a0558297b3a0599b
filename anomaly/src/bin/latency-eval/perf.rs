//! Hot-path cost of the detector (+ attributor) per span.

use std::hint::black_box;
use std::time::Instant;

use lookout_anomaly::{Attributor, Detector, DetectorConfig, KeyHash};

use crate::baselines::timing;
use crate::rng::Rng;
use crate::synth::{Cat, Label, SpanRec};

pub(crate) struct Perf {
    pub(crate) keys: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) mean: f64,
    pub(crate) timer_overhead: f64,
}

/// `n` spans over `keys` keys (Zipf 0.8 popularity, log-normal durations),
/// after a warm pass that gives every key its full state, with `base`'s
/// detector settings. `batch` 0: each span is timed on its own; else spans go
/// in batches that [`Detector::prefetch`] runs over first, and each span's
/// time is its own plus an equal share of its batch's prefetch pass. The
/// timer's own cost is measured and reported separately.
pub(crate) fn measure(
    base: &DetectorConfig,
    keys: usize,
    n: usize,
    batch: usize,
    seed: u64,
) -> Perf {
    let mut r = Rng::new(seed);
    let cfg = DetectorConfig {
        max_keys: keys,
        ..base.clone()
    };
    let mut det = Detector::new(cfg.clone()).expect("valid");
    let mut attr = Attributor::new(&cfg);
    let medians: Vec<f64> = (0..keys).map(|_| r.log_uniform(1e5, 1e8)).collect();
    // Zipf(0.8) via inverse CDF on a continuous approximation.
    let zipf_s = 0.8f64;
    let hmax = (keys as f64).powf(1.0 - zipf_s);
    // Past `sequential_min_samples`, so every key runs both tests.
    let warm_per_key = cfg.sequential_min_samples as usize + 10;
    let mut t = 0u64;
    let mut make = |i: usize, k: usize, r: &mut Rng| {
        t += 10_000;
        SpanRec {
            key: (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            trace: i as u64 / 6,
            span_id: i as u64 + 1,
            parent: if i % 6 == 5 { 0 } else { i as u64 + 2 },
            end_ns: t,
            dur_ns: (medians[k] * (0.5 * r.normal()).exp()) as u64,
            label: Label::Normal,
            inj: 0,
            root: 0,
            oracle_p: 0.0,
            cat: Cat::Steady,
            ramp_factor: 1.0,
        }
    };
    for i in 0..keys * warm_per_key {
        let s = make(i, i % keys, &mut r);
        let mut v = det.observe_hashed(KeyHash(s.key), s.dur_ns, s.end_ns);
        attr.attribute(&timing(&s), &mut v);
        det.after_attribution(KeyHash(s.key), s.dur_ns, &mut v);
    }
    let timed: Vec<SpanRec> = (0..n)
        .map(|i| {
            let k = ((r.unit() * hmax).powf(1.0 / (1.0 - zipf_s)) as usize).min(keys - 1);
            make(keys * warm_per_key + i, k, &mut r)
        })
        .collect();
    let mut ns = Vec::with_capacity(timed.len());
    let mut overhead = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let a = Instant::now();
        overhead.push(a.elapsed().as_nanos() as f64);
    }
    let all = Instant::now();
    let one = |det: &mut Detector, attr: &mut Attributor, s: &SpanRec| {
        let mut v = det.observe_hashed(KeyHash(s.key), s.dur_ns, s.end_ns);
        black_box(attr.attribute(&timing(s), &mut v));
        det.after_attribution(KeyHash(s.key), s.dur_ns, &mut v);
        black_box(v);
    };
    if batch == 0 {
        for s in &timed {
            let a = Instant::now();
            one(&mut det, &mut attr, s);
            ns.push(a.elapsed().as_nanos() as f64);
        }
    } else {
        for chunk in timed.chunks(batch) {
            let a = Instant::now();
            for s in chunk {
                det.prefetch(KeyHash(s.key), s.dur_ns);
            }
            let share = a.elapsed().as_nanos() as f64 / chunk.len() as f64;
            for s in chunk {
                let a = Instant::now();
                one(&mut det, &mut attr, s);
                ns.push(a.elapsed().as_nanos() as f64 + share);
            }
        }
    }
    let mean = all.elapsed().as_nanos() as f64 / timed.len() as f64;
    ns.sort_by(f64::total_cmp);
    overhead.sort_by(f64::total_cmp);
    Perf {
        keys,
        p50: ns[ns.len() / 2],
        p99: ns[ns.len() * 99 / 100],
        mean,
        timer_overhead: overhead[500],
    }
}
