//! One series of a rule: its labels, when it last reported, and its current value as the rule
//! reads it (the point itself, a reset-aware rate or delta, or a histogram quantile), plus the
//! samples a `predict_linear` rule fits its trend to.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use super::rule::ValueKind;

/// Samples a predictive series keeps at most; older ones are thinned to spread over the window.
const MAX_SAMPLES: usize = 240;

/// A data point, as the rules read it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Point<'a> {
    /// A gauge or sum point. `cumulative` is false for gauges and delta sums.
    Number {
        time_ns: u64,
        start_ns: u64,
        value: f64,
        cumulative: bool,
        delta: bool,
    },
    /// An explicit-bucket histogram point.
    Histogram {
        time_ns: u64,
        bounds: &'a [f64],
        counts: &'a [u64],
        cumulative: bool,
    },
}

/// One tracked series.
#[derive(Debug)]
pub(crate) struct Series {
    /// Resource and point attributes.
    pub(crate) labels: BTreeMap<String, String>,
    /// When it last reported (processor clock).
    pub(crate) last_seen: SystemTime,
    /// The time between its last two reports (processor clock).
    pub(crate) interval: Duration,
    /// The rule's value for it, once known (a rate needs two points).
    pub(crate) value: Option<f64>,
    /// Last (time, raw value) of a number series, for rates and deltas.
    prev: Option<(u64, f64)>,
    /// Time of the newest point taken in.
    last_time_ns: u64,
    /// Last cumulative bucket counts of a histogram series.
    prev_counts: Vec<u64>,
    /// (seconds since the epoch, value) for `predict_linear`, oldest first.
    pub(crate) samples: VecDeque<(f64, f64)>,
}

impl Series {
    pub(crate) fn new(labels: BTreeMap<String, String>, now: SystemTime) -> Series {
        Series {
            labels,
            last_seen: now,
            interval: Duration::ZERO,
            value: None,
            prev: None,
            last_time_ns: 0,
            prev_counts: Vec::new(),
            samples: VecDeque::new(),
        }
    }

    /// Takes in a point seen at `now`; `window` is the predictive window, if the rule has one.
    pub(crate) fn observe(
        &mut self,
        point: Point<'_>,
        kind: ValueKind,
        now: SystemTime,
        window: Option<Duration>,
    ) {
        if let Ok(d) = now.duration_since(self.last_seen)
            && !d.is_zero()
        {
            self.interval = d;
        }
        self.last_seen = now;
        // The same point again (one receiver feeding two pipelines of this instance, a
        // retry) or an older one: it says the series is alive, and nothing new.
        let time_ns = match point {
            Point::Number { time_ns, .. } | Point::Histogram { time_ns, .. } => time_ns,
        };
        if time_ns != 0 && time_ns <= self.last_time_ns {
            return;
        }
        self.last_time_ns = time_ns;
        self.value = match point {
            Point::Number {
                time_ns,
                start_ns,
                value,
                cumulative,
                delta,
            } => self.number(kind, time_ns, start_ns, value, cumulative, delta),
            Point::Histogram {
                bounds,
                counts,
                cumulative,
                ..
            } => self.histogram(kind, bounds, counts, cumulative),
        };
        if let (Some(window), Some(v)) = (window, self.value) {
            let t = secs(now);
            self.push_sample(t, v, window);
        }
    }

    fn number(
        &mut self,
        kind: ValueKind,
        time_ns: u64,
        start_ns: u64,
        value: f64,
        cumulative: bool,
        delta: bool,
    ) -> Option<f64> {
        let prev = self.prev.replace((time_ns, value));
        match kind {
            ValueKind::Gauge => Some(value),
            ValueKind::Quantile(_) => None,
            ValueKind::Rate | ValueKind::Delta if delta => {
                // A delta point is already the increase over [start, time].
                let dt = time_ns.saturating_sub(start_ns) as f64 / 1e9;
                match kind {
                    ValueKind::Delta => Some(value),
                    _ if dt > 0.0 => Some(value / dt),
                    _ => None,
                }
            }
            ValueKind::Rate | ValueKind::Delta => {
                let (t0, v0) = prev?;
                if time_ns <= t0 {
                    return None;
                }
                // A counter that went down, or restarted after the previous point, was reset:
                // it counted `value` since its restart (Prometheus' rule).
                let reset = (cumulative && value < v0) || (start_ns > t0);
                let increase = if reset { value } else { value - v0 };
                let dt = (time_ns - t0) as f64 / 1e9;
                Some(if kind == ValueKind::Rate {
                    increase / dt
                } else {
                    increase
                })
            }
        }
    }

    fn histogram(
        &mut self,
        kind: ValueKind,
        bounds: &[f64],
        counts: &[u64],
        cumulative: bool,
    ) -> Option<f64> {
        let ValueKind::Quantile(q) = kind else {
            return None;
        };
        // Over the last interval: the difference from the previous cumulative point, unless
        // the buckets changed or a count went down (a reset).
        let window: Vec<u64> = if cumulative
            && self.prev_counts.len() == counts.len()
            && self.prev_counts.iter().zip(counts).all(|(p, c)| c >= p)
        {
            counts
                .iter()
                .zip(&self.prev_counts)
                .map(|(c, p)| c - p)
                .collect()
        } else {
            counts.to_vec()
        };
        if cumulative {
            self.prev_counts.clear();
            self.prev_counts.extend_from_slice(counts);
        }
        quantile(q, bounds, &window)
    }

    fn push_sample(&mut self, t: f64, v: f64, window: Duration) {
        let spacing = window.as_secs_f64() / MAX_SAMPLES as f64;
        if self.samples.len() >= 2
            && let Some(last) = self.samples.back_mut()
            && t - last.0 < spacing
        {
            *last = (t, v);
        } else {
            self.samples.push_back((t, v));
        }
        let oldest = t - window.as_secs_f64();
        while self.samples.front().is_some_and(|s| s.0 < oldest) || self.samples.len() > MAX_SAMPLES
        {
            self.samples.pop_front();
        }
    }

    /// Whether the series stopped reporting: silent for `stale_after`, or for 2.5 times its
    /// own reporting interval when that is longer.
    pub(crate) fn is_stale(&self, now: SystemTime, stale_after: Duration) -> bool {
        let limit = stale_after.max(self.interval.mul_f64(2.5));
        now.duration_since(self.last_seen).is_ok_and(|d| d > limit)
    }

    /// `predict_linear`: the least-squares line through the samples of the last `window`,
    /// read at `now + horizon`. `None` with fewer than `min_samples` samples or no spread in
    /// time.
    pub(crate) fn predict(
        &self,
        now: SystemTime,
        window: Duration,
        horizon: Duration,
        min_samples: usize,
    ) -> Option<f64> {
        let now = secs(now);
        let from = now - window.as_secs_f64();
        let points = self.samples.iter().filter(|s| s.0 >= from);
        let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(t, v) in points {
            // Centred on `now` so squares of epoch seconds do not eat the precision.
            let x = t - now;
            n += 1.0;
            sx += x;
            sy += v;
            sxx += x * x;
            sxy += x * v;
        }
        if n < min_samples as f64 {
            return None;
        }
        let denom = n * sxx - sx * sx;
        if denom.abs() < f64::EPSILON {
            return None;
        }
        let slope = (n * sxy - sx * sy) / denom;
        let intercept = (sy - slope * sx) / n;
        Some(intercept + slope * horizon.as_secs_f64())
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The `q` quantile of explicit-bucket counts, interpolated linearly inside the bucket it
/// falls in (Prometheus' `histogram_quantile`): the first bucket starts at 0 (or at its bound
/// when that is negative); a quantile in the overflow bucket reads as the highest bound.
pub(crate) fn quantile(q: f64, bounds: &[f64], counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        if c > 0 && (below + c) as f64 >= rank {
            let Some(&upper) = bounds.get(i) else {
                return bounds.last().copied();
            };
            let lower = if i == 0 {
                upper.min(0.0)
            } else {
                bounds[i - 1]
            };
            return Some(lower + (upper - lower) * (rank - below as f64) / c as f64);
        }
        below += c;
    }
    bounds.last().copied()
}
