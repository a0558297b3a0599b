//! Decaying, relative-error quantile sketch over log-durations, and the
//! per-key thresholds derived from it.
//!
//! The sketch is DDSketch's log-bucket mapping (bucket `i` holds values in
//! `[γ^i, γ^(i+1))`, so every quantile has relative error ≤ α) with three
//! changes the `sketches-ddsketch` crate does not offer:
//! - exponential decay, needed for drift adaptation (that crate's counts are
//!   integers and cannot decay);
//! - a fixed 256-bucket inline window of `f32`s (1 KiB), so a key never
//!   allocates and stays far below the 4 KiB budget (that crate uses a
//!   growable `Vec<u64>` store of up to 2048 bins);
//! - in-bucket interpolation, which matters for the narrow keys (σ = 0.2)
//!   whose whole body spans a handful of buckets.
//!
//! Decay is applied lazily: instead of multiplying every bucket by the decay
//! factor on each insert, the weight of new samples grows by the inverse
//! factor and all buckets are rescaled once that weight exceeds 2^20.

/// Buckets per sketch.
pub(crate) const BINS: usize = 256;
/// Where the first sample lands: more room above than below because the
/// interesting direction is up.
const ANCHOR: i64 = 112;
/// The window only moves when the mass it would collapse is below this
/// fraction of the total; otherwise the outlier is clamped into the edge
/// bucket. Collapsing the body to make room for one extreme value would
/// corrupt every quantile (seen with variance inflation in the evaluation).
const MAX_SPILL: f32 = 0.01;
/// Extra buckets moved when the window shifts, so a slowly moving key does
/// not shift on every sample.
const SHIFT_SLACK: i64 = 8;
const RESCALE_AT: f32 = 1_048_576.0;

/// Baseline quantiles that split log-durations into the bands of the
/// partial-shift CUSUM (see [`Thresholds::band_llr`]).
pub(crate) const BAND_LEVELS: [f64; BANDS - 1] = [0.5, 0.9, 0.97, 0.99, 0.997];
/// Bands of the partial-shift CUSUM.
pub(crate) const BANDS: usize = 6;

// === impl LevelPlan ===

/// Most quantile levels a refresh reads: the fixed ones of a [`LevelPlan`]
/// and the two tail starts.
pub(crate) const MAX_LEVELS: usize = STATIC_LEVELS + 2;
/// p10, p50, p90, the band edges p97, p99, p99.7, the exceedance and the
/// tagging quantile (before duplicates are merged).
const STATIC_LEVELS: usize = 8;

/// The quantile levels every refresh reads, sorted and deduplicated once
/// per detector rather than sorted in every refresh, with where each
/// named level sits. The two tail starts depend on the sample count and are
/// merged in per refresh ([`LevelPlan::with_tail_starts`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LevelPlan {
    levels: [f64; STATIC_LEVELS],
    n: u8,
    idx: LevelIdx,
}

/// Positions of the named levels in a sorted level array.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LevelIdx {
    p10: u8,
    p50: u8,
    p90: u8,
    exceed: u8,
    tag: u8,
    band: [u8; BANDS - 1],
    qa: u8,
    qb: u8,
}

impl LevelPlan {
    pub(crate) fn new(exceed_q: f64, tag_q: f64) -> Self {
        let named = [
            0.1,
            0.5,
            0.9,
            BAND_LEVELS[2],
            BAND_LEVELS[3],
            BAND_LEVELS[4],
            exceed_q,
            tag_q,
        ];
        let mut levels = named;
        levels.sort_by(f64::total_cmp);
        let mut n = 0;
        for i in 0..STATIC_LEVELS {
            if n == 0 || levels[i] != levels[n - 1] {
                levels[n] = levels[i];
                n += 1;
            }
        }
        let at = |l: f64| levels[..n].iter().position(|&x| x == l).unwrap_or(0) as u8;
        Self {
            levels,
            n: n as u8,
            idx: LevelIdx {
                p10: at(0.1),
                p50: at(0.5),
                p90: at(0.9),
                exceed: at(exceed_q),
                tag: at(tag_q),
                band: BAND_LEVELS.map(at),
                qa: 0,
                qb: 0,
            },
        }
    }

    /// The sorted levels with the tail starts `qa` ≤ `qb` merged in, their
    /// count, and where every named level ended up.
    fn with_tail_starts(&self, qa: f64, qb: f64) -> ([f64; MAX_LEVELS], usize, LevelIdx) {
        let n = self.n as usize;
        let mut out = [0.0; MAX_LEVELS];
        // A fixed level moves up by the tail starts below it; a tail start
        // sits after the fixed levels ≤ it.
        let moved = |i: u8| {
            let l = self.levels[i as usize];
            i + (qa < l) as u8 + (qb < l) as u8
        };
        for (i, &l) in self.levels[..n].iter().enumerate() {
            out[moved(i as u8) as usize] = l;
        }
        let below = |q: f64| self.levels[..n].iter().filter(|&&l| l <= q).count() as u8;
        let (ia, ib) = (below(qa), below(qb) + 1);
        out[ia as usize] = qa;
        out[ib as usize] = qb;
        // Unused slots stay ascending (a plain quantile pass reads them all).
        out[n + 2..].fill(1.0);
        let s = self.idx;
        let idx = LevelIdx {
            p10: moved(s.p10),
            p50: moved(s.p50),
            p90: moved(s.p90),
            exceed: moved(s.exceed),
            tag: moved(s.tag),
            band: s.band.map(moved),
            qa: ia,
            qb: ib,
        };
        (out, n + 2, idx)
    }
}

// === impl Scan ===

/// What a threshold refresh asks of the sketch's one bucket pass.
#[derive(Clone, Debug)]
pub(crate) struct ScanSpec {
    /// Ascending quantile levels (the first `n_levels`).
    levels: [f64; MAX_LEVELS],
    n_levels: usize,
    /// Mean excess over these two log-values (tail starts).
    u: f64,
    ua: f64,
    /// Moments of the log-values clipped to `[lo, hi]`.
    lo: f64,
    hi: f64,
    /// Ascending log-values at which the pass evaluates the CDF.
    pts: [f64; BANDS - 1],
}

/// Prefix sums a scan writes (6 KiB), owned by the detector and reused so
/// that a refresh neither allocates nor zeroes them.
#[derive(Clone, Debug)]
pub(crate) struct ScanScratch {
    mass: [f64; BINS + 1],
    m1: [f64; BINS + 1],
    m2: [f64; BINS + 1],
}

impl ScanScratch {
    pub(crate) fn new() -> Box<Self> {
        Box::new(Self {
            mass: [0.0; BINS + 1],
            m1: [0.0; BINS + 1],
            m2: [0.0; BINS + 1],
        })
    }
}

/// The results of [`LogSketch::scan`].
#[derive(Clone, Debug)]
pub(crate) struct ScanOut {
    /// Log-value quantiles, as [`LogSketch::quantiles`].
    q: [f64; MAX_LEVELS],
    /// Fraction of the mass below each of the spec's `pts`.
    cdf: [f64; BANDS - 1],
    /// Mean excess over `u` and over `ua` (as [`LogSketch::mean_excess`]).
    me_u: f64,
    me_ua: f64,
    /// Mean and standard deviation of the clipped log-values (as
    /// [`LogSketch::clipped_moments`]).
    mean: f64,
    sd: f64,
}

// === impl LogSketch ===

/// Decaying log-bucket histogram.
///
/// `repr(C)` with the header before the buckets: an insert touches the
/// header and one bucket, and the header then shares a cache line with the
/// end of the key state in front of it (see `KeyState`).
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct LogSketch {
    /// Absolute bucket index of `bins[0]`.
    base: i64,
    /// Weight given to the next sample (grows instead of old weights shrinking).
    growth: f32,
    /// Sum of `bins`, in the same (growth-scaled) units.
    total: f32,
    /// Occupied bucket range, so threshold refreshes skip empty buckets.
    lo: u16,
    hi: u16,
    anchored: bool,
    bins: [f32; BINS],
}

impl LogSketch {
    pub(crate) fn new() -> Self {
        Self {
            bins: [0.0; BINS],
            base: 0,
            growth: 1.0,
            total: 0.0,
            anchored: false,
            lo: BINS as u16,
            hi: 0,
        }
    }

    /// Address of bucket `i` (layout tests).
    #[cfg(test)]
    pub(crate) fn bucket_addr(&self, i: usize) -> usize {
        &self.bins[i] as *const f32 as usize
    }

    /// Reads the sketch header and the bucket a log-duration would go to
    /// (see [`crate::Detector::prefetch`]); returns a value built from them.
    pub(crate) fn touch(&self, ln_x: f64, inv_width: f64) -> f32 {
        let idx = ((ln_x * inv_width).floor() as i64 - self.base).clamp(0, BINS as i64 - 1);
        self.bins[idx as usize] + self.total
    }

    /// Effective (decayed) number of samples.
    pub(crate) fn weight(&self) -> f64 {
        if self.growth > 0.0 {
            (self.total / self.growth) as f64
        } else {
            0.0
        }
    }

    /// Inserts a log-duration after decaying history by `decay` ∈ (0, 1].
    pub(crate) fn insert(&mut self, ln_x: f64, inv_width: f64, decay: f64) {
        self.insert_weighted(ln_x, inv_width, decay, 1.0);
    }

    /// Like [`LogSketch::insert`], the sample counting `weight` ∈ [0, 1]
    /// of a full one (history decays all the same: time passed).
    pub(crate) fn insert_weighted(&mut self, ln_x: f64, inv_width: f64, decay: f64, weight: f32) {
        self.growth /= decay as f32;
        if self.growth > RESCALE_AT {
            let s = 1.0 / self.growth;
            for b in &mut self.bins {
                *b *= s;
            }
            self.total *= s;
            self.growth = 1.0;
        }
        // An excluded sample must not move the window either.
        if weight <= 0.0 {
            return;
        }
        let abs = (ln_x * inv_width).floor() as i64;
        if !self.anchored {
            self.base = abs - ANCHOR;
            self.anchored = true;
        }
        let mut idx = abs - self.base;
        if idx < 0 {
            let s = (-idx + SHIFT_SLACK).min(BINS as i64 - 1);
            let spill: f32 = self.bins[BINS - 1 - s as usize..].iter().sum();
            if spill <= MAX_SPILL * self.total {
                self.shift_down(s);
                idx = abs - self.base;
            }
        } else if idx >= BINS as i64 {
            let s = (idx - BINS as i64 + 1 + SHIFT_SLACK).min(BINS as i64 - 1);
            let spill: f32 = self.bins[..=s as usize].iter().sum();
            if spill <= MAX_SPILL * self.total {
                self.shift_up(s);
                idx = abs - self.base;
            }
        }
        let idx = idx.clamp(0, BINS as i64 - 1) as usize;
        self.lo = self.lo.min(idx as u16);
        self.hi = self.hi.max(idx as u16);
        self.bins[idx] += self.growth * weight;
        self.total += self.growth * weight;
    }

    /// Moves the window `s` buckets towards smaller values; the top buckets
    /// that fall off are collapsed into the new top bucket.
    fn shift_down(&mut self, s: i64) {
        let s = s.min(BINS as i64 - 1) as usize;
        let spill: f32 = self.bins[BINS - 1 - s..].iter().sum();
        self.bins.copy_within(0..BINS - s, s);
        self.bins[..s].fill(0.0);
        self.bins[BINS - 1] = spill;
        self.base -= s as i64;
        self.lo = (self.lo as usize + s).min(BINS - 1) as u16;
        self.hi = (self.hi as usize + s).min(BINS - 1) as u16;
    }

    /// Moves the window `s` buckets towards larger values; the bottom
    /// buckets are collapsed into the new bottom bucket.
    fn shift_up(&mut self, s: i64) {
        let s = s.min(BINS as i64 - 1) as usize;
        let spill: f32 = self.bins[..=s].iter().sum();
        self.bins.copy_within(s.., 0);
        self.bins[BINS - s..].fill(0.0);
        self.bins[0] = spill;
        self.base += s as i64;
        self.lo = (self.lo as usize).saturating_sub(s) as u16;
        self.hi = (self.hi as usize).saturating_sub(s) as u16;
    }

    /// Occupied bucket range (inclusive); the full window when empty.
    fn range(&self) -> (usize, usize) {
        if self.lo as usize > self.hi as usize {
            (0, BINS - 1)
        } else {
            (self.lo as usize, self.hi as usize)
        }
    }

    /// Log-value quantiles for ascending `levels`, interpolated within buckets.
    pub(crate) fn quantiles<const N: usize>(&self, levels: [f64; N], width: f64) -> [f64; N] {
        let mut out = [0.0; N];
        let total = self.total as f64;
        let mut cum = 0.0f64;
        let mut li = 0;
        let (lo, hi) = self.range();
        for (j, &b) in self.bins.iter().enumerate().take(hi + 1).skip(lo) {
            let b = b as f64;
            if b <= 0.0 {
                continue;
            }
            while li < N && levels[li] * total <= cum + b {
                let frac = ((levels[li] * total - cum) / b).clamp(0.0, 1.0);
                out[li] = ((self.base + j as i64) as f64 + frac) * width;
                li += 1;
            }
            cum += b;
        }
        // Rounding can leave the top levels unassigned: they sit at the top.
        let top = self.bins[..=hi].iter().rposition(|&b| b > 0.0).unwrap_or(0);
        for o in &mut out[li..] {
            *o = ((self.base + top as i64) as f64 + 1.0) * width;
        }
        out
    }

    /// One pass over the occupied buckets computing everything a threshold
    /// refresh needs (see [`ScanSpec`]).
    ///
    /// The pass is the bulk of a refresh's cost, so it is one branch-free
    /// loop writing prefix sums (mass and the first two moments of the
    /// bucket index, unclipped) into `scratch`; everything else
    /// is read off them: quantiles by binary search, the CDF points, the
    /// clipped moments and the mean excesses by differences at their
    /// bucket. (The first version branched per bucket for each quantile,
    /// CDF point and tail bucket; the ~15 mispredictions were half its
    /// cost.) Positions are in bucket units: bucket `first + t` covers
    /// `[t, t + 1)`. The loop reads nothing but the buckets, so at 100k keys
    /// it runs while the previous refresh's anchors (the spec) are still
    /// on their way from memory.
    pub(crate) fn scan(&self, spec: &ScanSpec, width: f64, scratch: &mut ScanScratch) -> ScanOut {
        let (first, last) = self.range();
        let bins = &self.bins[first..=last];
        let n = bins.len();
        let total = self.total as f64;
        let inv_w = 1.0 / width;
        let x0 = (self.base + first as i64) as f64 * width;
        let to_t = |x: f64| (x - x0) * inv_w;
        // A bucket's midpoint clipped to [lo, hi] is clamp(t, tlo, thi) + ½.
        let (tlo, thi) = (to_t(spec.lo) - 0.5, to_t(spec.hi) - 0.5);

        // Element k: the sum over the buckets before k.
        let ScanScratch { mass, m1, m2 } = scratch;
        let (mass, m1, m2) = (&mut mass[..=n], &mut m1[..=n], &mut m2[..=n]);
        (mass[0], m1[0], m2[0]) = (0.0, 0.0, 0.0);
        let (mut c, mut a1, mut a2, mut y) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let outs = mass[1..].iter_mut().zip(&mut m1[1..]).zip(&mut m2[1..]);
        for (&b, ((om, o1), o2)) in bins.iter().zip(outs) {
            let b = b as f64;
            let by = b * y;
            c += b;
            a1 += by;
            a2 += by * y;
            y += 1.0;
            (*om, *o1, *o2) = (c, a1, a2);
        }
        let (mass, m1, m2) = (&*mass, &*m1, &*m2);

        // Quantiles: the first bucket whose end reaches level × total,
        // interpolated inside it; rounding can leave the top levels
        // unassigned: they sit at the top.
        let top = bins.iter().rposition(|&b| b > 0.0).unwrap_or(0);
        let mut q = [0.0; MAX_LEVELS];
        for (o, &level) in q.iter_mut().zip(&spec.levels[..spec.n_levels]) {
            let target = level * total;
            let k = mass[1..].partition_point(|&m| m < target);
            *o = if k < n {
                let b = bins[k] as f64;
                let frac = if b > 0.0 {
                    ((target - mass[k]) / b).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                x0 + (k as f64 + frac) * width
            } else {
                x0 + (top + 1) as f64 * width
            };
        }

        // The CDF with uniform mass inside each bucket.
        let cdf_at = |t: f64| {
            if t >= n as f64 {
                total
            } else if t <= 0.0 {
                0.0
            } else {
                let k = t as usize;
                mass[k] + bins[k] as f64 * (t - k as f64)
            }
        };
        let norm = 1.0 / total.max(f64::MIN_POSITIVE);
        let mut cdf = [0.0; BANDS - 1];
        for (c, &x) in cdf.iter_mut().zip(&spec.pts) {
            *c = (cdf_at(to_t(x)) * norm).clamp(0.0, 1.0);
        }

        // Mean excess over a tail start: the part of its bucket above it
        // (uniform mass) plus the whole buckets above, whose midpoints are
        // t + ½ with Σ b·t = m1 differences.
        let excess = |x: f64| {
            let ut = to_t(x);
            if ut >= n as f64 {
                return width;
            }
            let (k_full, w_part, s_part) = if ut < 0.0 {
                (0, 0.0, 0.0)
            } else {
                let k = ut as usize;
                let f = k as f64 + 1.0 - ut;
                let m = bins[k] as f64 * f;
                (k + 1, m, m * f * 0.5)
            };
            let w_full = mass[n] - mass[k_full];
            let s_full = m1[n] - m1[k_full] + (0.5 - ut) * w_full;
            let w = w_part + w_full;
            if w > 0.0 {
                (s_part + s_full) / w * width
            } else {
                width
            }
        };

        // Clipped moments: buckets below `k_lo` sit at tlo, from `k_hi` on
        // at thi.
        let edge = |t: f64| t.clamp(0.0, n as f64) as usize;
        let k_lo = edge(tlo.ceil());
        let k_hi = edge(thi.floor() + 1.0).max(k_lo);
        let (y_lo, y_hi) = (tlo, thi);
        let (w_lo, w_hi) = (mass[k_lo], mass[n] - mass[k_hi]);
        let w = mass[n];
        let s1 = m1[k_hi] - m1[k_lo] + w_lo * y_lo + w_hi * y_hi;
        let s2 = m2[k_hi] - m2[k_lo] + w_lo * y_lo * y_lo + w_hi * y_hi * y_hi;
        let (mean, sd) = if w > 0.0 {
            let m = s1 / w;
            (
                x0 + (0.5 + m) * width,
                (s2 / w - m * m).max(0.0).sqrt() * width,
            )
        } else {
            (0.0, 1.0)
        };
        ScanOut {
            q,
            cdf,
            me_u: excess(spec.u),
            me_ua: excess(spec.ua),
            mean,
            sd,
        }
    }

    /// Mean of `x - u` over the mass above `u` (the Hill estimator of an
    /// exponential tail's scale in log space).
    #[cfg(test)]
    pub(crate) fn mean_excess(&self, u: f64, width: f64) -> f64 {
        let (mut w, mut s) = (0.0f64, 0.0f64);
        let (lo, hi) = self.range();
        for (j, &b) in self.bins.iter().enumerate().take(hi + 1).skip(lo).rev() {
            if b <= 0.0 {
                continue;
            }
            let lo = (self.base + j as i64) as f64 * width;
            let hi = lo + width;
            if hi <= u {
                break;
            }
            // Part of the bucket above u, assuming uniform mass inside it.
            let frac = ((hi - u.max(lo)) / width).clamp(0.0, 1.0);
            let mid = (u.max(lo) + hi) * 0.5;
            let m = b as f64 * frac;
            w += m;
            s += m * (mid - u);
        }
        if w > 0.0 { s / w } else { width }
    }

    /// Mean and standard deviation of the log-values clipped to `[lo, hi]`,
    /// using bucket midpoints.
    #[cfg(test)]
    pub(crate) fn clipped_moments(&self, lo: f64, hi: f64, width: f64) -> (f64, f64) {
        let (mut w, mut s1, mut s2) = (0.0f64, 0.0f64, 0.0f64);
        let (first, last) = self.range();
        for (j, &b) in self.bins.iter().enumerate().take(last + 1).skip(first) {
            if b <= 0.0 {
                continue;
            }
            let x = (((self.base + j as i64) as f64 + 0.5) * width).clamp(lo, hi);
            let b = b as f64;
            w += b;
            s1 += b * x;
            s2 += b * x * x;
        }
        if w <= 0.0 {
            return (0.0, 1.0);
        }
        let m = s1 / w;
        // Bucket quantisation adds width²/12 of variance that is not in the data.
        let var = (s2 / w - m * m).max(0.0);
        (m, var.sqrt())
    }
}

// === impl Baseline ===

/// Per-key values derived from the sketch, refreshed every `refresh_every`
/// spans rather than per span: the thresholds every span reads and the tail
/// model behind them, which spikes, episodes and refreshes read. A key keeps
/// the two apart (see `KeyState`), so a span touches only the first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Baseline {
    pub(crate) th: Thresholds,
    pub(crate) tail: TailModel,
}

/// The per-span part of a [`Baseline`] (104 bytes; the band tables are
/// `f32`, which is ample for log-durations and CUSUM scores).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct Thresholds {
    /// Spans above this (ns) fail the tail test.
    pub(crate) spike_ns: u64,
    /// The median, ns.
    pub(crate) median_ns: f64,
    /// CUSUM standardisation: clip range, mean and 1/sd of clipped values.
    pub(crate) clip_lo: f64,
    pub(crate) clip_hi: f64,
    pub(crate) mean_c: f64,
    pub(crate) inv_sd_c: f64,
    /// Upper edges of the partial-shift CUSUM's bands (log; the baseline
    /// quantiles [`BAND_LEVELS`]); the last band is open-ended.
    pub(crate) band_ln: [f32; BANDS - 1],
    /// Per-band log-likelihood ratio of "a fraction ε of spans is slower by
    /// a factor c" against the baseline: ln((1 − ε) + ε · P₀(band − ln c) / P₀(band)).
    /// Bounded (≤ ln(1 + ε / P₀(top band))) and computed from the sketch
    /// itself, so a heavy or bimodal tail cannot inflate it.
    pub(crate) band_llr: [f32; BANDS],
    /// The intermittent test's lower level (log): where the tail model
    /// gives `ThresholdParams::inter_p`. In the struct's tail padding.
    pub(crate) inter_ln: f32,
    /// Exceedance quantile (log) watched by the Bernoulli CUSUM (an `f32`
    /// beside the other levels, so that `tag_spike_ln` fits in the struct's
    /// 104 bytes).
    pub(crate) exceed_ln: f32,
    /// Spans above this (log) are tagged `spike`: the spike threshold
    /// itself, or for a mature key with a light fitted tail a less padded
    /// one (see [`MATURE_TAG_MARGIN`]). `spike_ns` stays the level the
    /// intermittent test counts and the bounded influence guards.
    pub(crate) tag_spike_ln: f32,
}

/// The part of a [`Baseline`] that spikes, episodes and refreshes read.
#[derive(Clone, Debug, Default)]
pub(crate) struct TailModel {
    /// Median log-duration.
    pub(crate) median_ln: f64,
    /// Robust log-scale (from the 10–90 % range).
    pub(crate) scale_ln: f64,
    /// A generalised Pareto distribution of the log-excess:
    /// P(X > x) = tail_mass · (1 + tail_xi · (x − tail_at) / tail_beta)^(−1/tail_xi)
    /// for x ≥ tail_at (exponential when tail_xi = 0).
    pub(crate) tail_at: f64,
    pub(crate) tail_mass: f64,
    pub(crate) tail_beta: f64,
    pub(crate) tail_xi: f64,
    /// Episode tagging quantile (log).
    pub(crate) tag_ln: f64,
    /// Where the next refresh's single pass starts from (see [`Anchors`]).
    anchors: Option<Anchors>,
    /// The tail fit averaged over refreshes (mean excess over the tail start, shape, fits
    /// averaged): see [`FIT_RATE`].
    fit: (f32, f32, u32),
}

/// Weight of a refresh's tail fit in its running average, once the key has ≥ 1000 samples:
/// a time constant of ~10,000 spans at one refresh per 32. The sketch remembers ~3,000
/// spans, so the average spans several of its windows: the tail's scale and shape in log
/// space do not move with the level (diurnal load, drift, the location follows those), and a
/// fit to the top ~40 samples has a ~16 % sampling error that the average divides.
const FIT_RATE: f64 = 32.0 / 10_000.0;

/// Tail starts, clip range and band edges in the sketch's own coordinates
/// (not moved to the tracked level): the next refresh's single pass uses
/// them. They lag one refresh (≤ `refresh_every` spans of a sketch whose
/// half-life is ≥ 2000 spans), which changes them negligibly.
#[derive(Clone, Copy, Debug)]
struct Anchors {
    tail_at: f64,
    tail_at_a: f64,
    clip_lo: f64,
    clip_hi: f64,
    band: [f64; BANDS - 1],
}

/// Fixed parameters the threshold computation needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThresholdParams {
    pub(crate) width: f64,
    pub(crate) spike_p: f64,
    /// Tail probability of the intermittent test's lower level (below the
    /// spike threshold's `spike_p`).
    pub(crate) inter_p: f64,
    pub(crate) tail_margin: f64,
    /// Quantile levels of a refresh (exceedance and tagging quantile
    /// included).
    pub(crate) levels: LevelPlan,
    /// Partial-shift alternative: fraction ε of spans slower by ln c.
    pub(crate) mix_eps: f64,
    pub(crate) mix_ln_factor: f64,
    /// ε / P₀(band) for each band of the partial-shift CUSUM.
    pub(crate) eps_per_band_mass: [f64; BANDS],
}

impl ThresholdParams {
    /// ε / P₀(band) for each band (the bands' baseline masses are fixed by
    /// [`BAND_LEVELS`]).
    pub(crate) fn eps_per_band_mass(eps: f64) -> [f64; BANDS] {
        let mut out = [0.0; BANDS];
        let mut lo = 0.0;
        for (j, o) in out.iter_mut().enumerate() {
            let hi = BAND_LEVELS.get(j).copied().unwrap_or(1.0);
            *o = eps / (hi - lo);
            lo = hi;
        }
        out
    }
}

/// Range the GPD shape of the log tail is clamped to: beyond it the
/// mean-excess slope of ~100 tail samples is noise (measured: −0.4 raised
/// the false positives with no recall gained; 0.5 changed nothing).
const XI_MIN: f64 = -0.2;

/// The tagging threshold's share of `tail_margin` for a mature key with a
/// light fitted tail (see [`mature_tag_factor`]). Chosen on seeds 1–5 of the
/// evaluation (1.0, 0.85, 0.78, 0.7; see EVALUATION.md): at 0.7 the steady
/// false-positive rate reached the 100 per million budget. Moved from 0.78
/// to 0.80 when the location average stopped weighing spans by the gap
/// before them (see `anomaly/notes-deg300.md`): 0.78 had been chosen with
/// a level that sat high on some callers, and on seeds 1–5 0.80 gives back
/// the steady rate of before (0.78: 73.0 per million, 0.80: 63.9, 0.84:
/// 58.6 with 0.5 % tail-event recall 0.78).
pub(crate) const MATURE_TAG_MARGIN: f64 = 0.80;

/// Averaged fits a key needs before its tagging threshold drops to
/// [`MATURE_TAG_MARGIN`] (a refresh every `refresh_every` spans).
const MATURE_TAG_FITS: u32 = 64;

/// The smallest ratio of the unpadded tail scale to the body's robust scale
/// at which the tagging threshold drops: a log-normal's is ~0.4, a cache's
/// (two modes, the tail that of the slow one) ~0.17. On such a stream the
/// lower threshold tagged 53 spans per 400,000 (bound 40).
const MIN_TAIL_TO_BODY: f64 = 0.25;

/// How much of the padding the tagging threshold keeps: all of it on a key
/// whose averaged fit is still settling, whose tail bends up (ξ > 0: a Pareto
/// regime, where a heavy-tailed stream's tags went past its bound) or whose
/// tail is narrow beside its body (a second mode); [`MATURE_TAG_MARGIN`] of
/// it otherwise. The padded threshold stays what the intermittent test counts
/// and the bounded influence guards: lowering it there opened false
/// intermittent episodes (`tail_margin` 1.1 and 1.2: 4 and 1 on seeds 1–5).
fn mature_tag_factor(fits: u32, xi: f64, tail_to_body: f64) -> f64 {
    if fits >= MATURE_TAG_FITS && xi <= 0.0 && tail_to_body >= MIN_TAIL_TO_BODY {
        MATURE_TAG_MARGIN
    } else {
        1.0
    }
}

/// 1 + 1/√40: the relative error of a tail scale fitted on the full 40 tail samples.
const YOUNG_KEY_NORM: f64 = 1.158_113_883_008_419;
const XI_MAX: f64 = 0.3;

impl Baseline {
    /// Recomputes the baseline from the sketch in one bucket pass, with
    /// the sketch's shape placed at the log-level `loc` (the mean of the
    /// clipped log-durations; `None`: where the sketch has it). `prev` (the
    /// last thresholds of the same key, if any) supplies the pass's
    /// [`Anchors`]; without them a quantile pass comes first.
    pub(crate) fn compute(
        sk: &LogSketch,
        p: &ThresholdParams,
        prev: Option<&TailModel>,
        loc: Option<f64>,
        scratch: &mut ScanScratch,
    ) -> Self {
        let n = sk.weight().max(1.0);
        // Beyond the top ~40 samples the tail is extrapolated (a GPD in log
        // space, see `finish`); its scale and shape come from the mean
        // excesses over the top ~40 and ~120 samples. At small n the tail
        // starts at p90, which gives a conservative (high) threshold rather
        // than a noisy one.
        let qb = (1.0 - 40.0 / n).clamp(0.9, 0.995);
        let qa = (1.0 - 120.0 / n).clamp(0.7, 0.985).min(qb);
        let (levels, n_levels, idx) = p.levels.with_tail_starts(qa, qb);
        let anchors = match prev.and_then(|t| t.anchors) {
            Some(a) => a,
            None => {
                let qs = sk.quantiles(levels, p.width);
                let (q10, med, q90) = (
                    qs[idx.p10 as usize],
                    qs[idx.p50 as usize],
                    qs[idx.p90 as usize],
                );
                let scale = ((q90 - q10) / 2.563).max(p.width);
                Anchors {
                    tail_at: qs[idx.qb as usize],
                    tail_at_a: qs[idx.qa as usize],
                    clip_lo: med - 3.0 * scale,
                    clip_hi: med + 3.0 * scale,
                    band: idx.band.map(|i| qs[i as usize]),
                }
            }
        };
        let spec = ScanSpec {
            levels,
            n_levels,
            u: anchors.tail_at,
            ua: anchors.tail_at_a,
            lo: anchors.clip_lo,
            hi: anchors.clip_hi,
            // The CDF at the band edges moved down by ln c: the mass a
            // slowed span would put in each band.
            pts: anchors.band.map(|e| e - p.mix_ln_factor),
        };
        let out = sk.scan(&spec, p.width, scratch);
        Self::finish(&out, &idx, (n, qb), p, loc, prev.map(|t| t.fit))
    }

    /// Thresholds from a completed pass.
    fn finish(
        sc: &ScanOut,
        idx: &LevelIdx,
        (n, qb): (f64, f64),
        p: &ThresholdParams,
        loc: Option<f64>,
        prev_fit: Option<(f32, f32, u32)>,
    ) -> Self {
        let at = |i: u8| sc.q[i as usize];
        let (q10, med, q90, qb_ln, qa_ln) = (
            at(idx.p10),
            at(idx.p50),
            at(idx.p90),
            at(idx.qb),
            at(idx.qa),
        );
        let scale = ((q90 - q10) / 2.563).max(p.width);
        // GPD shape from the slope of the mean-excess line between the two
        // tail starts (ME(u) = (β + ξu) / (1 − ξ) for a GPD): a log-normal
        // body's tail bends down (ξ < 0), a Pareto regime taking over from it
        // bends up (ξ > 0), which a plain exponential (Hill) fit misses in
        // both directions.
        let slope = (sc.me_u - sc.me_ua) / (qb_ln - qa_ln).max(p.width);
        // Only once the sketch holds ≥ 1000 samples (the top 40 are ≤ 4 %):
        // on fewer, the slope is noise (a shape fitted from the first
        // hundreds of spans quadrupled the warm-up false positives).
        let xi = if qb >= 0.96 {
            (slope / (1.0 + slope).max(0.5)).clamp(XI_MIN, XI_MAX)
        } else {
            0.0
        };
        // The scale is a mean over the k = n·(1 − qb) tail samples, with a relative standard
        // error of ~1/√k: on young keys (k down to 5 at `min_samples` 50) the margin widens by
        // that error, normalised so that a key with the full 40 tail samples keeps
        // `tail_margin` (a 2.8σ span of a σ = 0.3 key was a "spike" after 100 samples).
        // Mature keys: the running average of the fits (young keys' fits change with n).
        let (me, xi, fit) = match prev_fit {
            Some((pm, px, pn)) if qb >= 0.96 && pn > 0 => {
                let w = (1.0 / (pn as f64 + 1.0)).max(FIT_RATE);
                let me = pm as f64 + w * (sc.me_u - pm as f64);
                let xi = px as f64 + w * (xi - px as f64);
                (me, xi, (me as f32, xi as f32, pn.saturating_add(1)))
            }
            _ => (
                sc.me_u,
                xi,
                (sc.me_u as f32, xi as f32, u32::from(qb >= 0.96)),
            ),
        };
        let k = (n * (1.0 - qb)).max(1.0);
        let margin = p.tail_margin * ((1.0 + k.sqrt().recip()) / YOUNG_KEY_NORM).max(1.0);
        let beta = (margin * me * (1.0 - xi)).max(p.width);
        let tail_mass = 1.0 - qb;
        let ln_ratio = (tail_mass / p.spike_p).max(1.0).ln();
        // (ratio^ξ − 1) / ξ, → ln(ratio) as ξ → 0 (`powf` and `exp_m1`
        // cost 2–3 times an `exp`; for |ξ| > 1e-6 the cancellation in
        // exp − 1 leaves < 1e-10 relative error).
        let spike_excess = if xi.abs() > 1e-6 {
            ((xi * ln_ratio).exp() - 1.0) / xi
        } else {
            ln_ratio
        };
        let spike_ln = qb_ln + beta * spike_excess;
        let tag_factor = mature_tag_factor(fit.2, xi, me * (1.0 - xi) / scale);
        let tag_spike_ln = qb_ln + (beta * tag_factor).max(p.width) * spike_excess;
        let inter_ratio = (tail_mass / p.inter_p).max(1.0).ln();
        let inter_excess = if xi.abs() > 1e-6 {
            ((xi * inter_ratio).exp() - 1.0) / xi
        } else {
            inter_ratio
        };
        let inter_ln = qb_ln + beta * inter_excess;
        let clip_lo = med - 3.0 * scale;
        let clip_hi = med + 3.0 * scale;
        // A location correction: the shape comes from the slow sketch, the
        // level from a faster average.
        let s = loc.map_or(0.0, |l| l - sc.mean);
        let mut band = [0.0; BANDS - 1];
        let mut band_ln = [0.0f32; BANDS - 1];
        for ((e, e_ln), &i) in band.iter_mut().zip(&mut band_ln).zip(&idx.band) {
            *e = at(i);
            *e_ln = (*e + s) as f32;
        }
        let mut band_llr = [0.0f32; BANDS];
        let mut cdf_lo = 0.0f64;
        for (j, llr) in band_llr.iter_mut().enumerate() {
            let cdf_hi = if j + 1 < BANDS { sc.cdf[j] } else { 1.0 };
            let p_slow = (cdf_hi - cdf_lo).max(0.0);
            *llr = ((1.0 - p.mix_eps) + p.eps_per_band_mass[j] * p_slow).ln() as f32;
            cdf_lo = cdf_hi.max(cdf_lo);
        }
        let anchors = Anchors {
            tail_at: qb_ln,
            tail_at_a: qa_ln,
            clip_lo,
            clip_hi,
            band,
        };
        let median_ln = med + s;
        let spike_ln = spike_ln + s;
        Self {
            th: Thresholds {
                spike_ns: spike_ln.exp().min(u64::MAX as f64 / 2.0) as u64,
                median_ns: median_ln.exp(),
                clip_lo: clip_lo + s,
                clip_hi: clip_hi + s,
                mean_c: sc.mean + s,
                inv_sd_c: 1.0 / sc.sd.max(p.width * 0.5),
                band_ln,
                band_llr,
                inter_ln: (inter_ln + s) as f32,
                exceed_ln: (at(idx.exceed) + s) as f32,
                tag_spike_ln: (tag_spike_ln + s).min(spike_ln) as f32,
            },
            tail: TailModel {
                median_ln,
                scale_ln: scale,
                tail_at: qb_ln + s,
                tail_mass,
                tail_beta: beta,
                tail_xi: xi,
                tag_ln: at(idx.tag) + s,
                anchors: Some(anchors),
                fit,
            },
        }
    }
}

// === impl TailModel ===

impl TailModel {
    /// Estimated tail probability of a log-duration (only meaningful in the tail).
    pub(crate) fn tail_probability(&self, ln_x: f64) -> f64 {
        if ln_x <= self.tail_at {
            return self.tail_mass;
        }
        let y = (ln_x - self.tail_at) / self.tail_beta;
        if self.tail_xi.abs() <= 1e-6 {
            return self.tail_mass * (-y).exp();
        }
        let base = 1.0 + self.tail_xi * y;
        if base <= 0.0 {
            // Beyond the end point of a bounded (ξ < 0) tail: rarer than anything the fit can
            // express, yet never reported as a probability of exactly 0.
            return f64::MIN_POSITIVE;
        }
        self.tail_mass * base.powf(-1.0 / self.tail_xi)
    }

    /// Robust z-score reported for episode spans.
    pub(crate) fn robust_z(&self, ln_x: f64) -> f64 {
        (ln_x - self.median_ln) / self.scale_ln
    }

    /// Forgets the [`Anchors`] and the averaged tail fit: the next refresh reads a
    /// different sketch.
    pub(crate) fn drop_anchors(&mut self) {
        self.anchors = None;
        self.fit = (0.0, 0.0, 0);
    }
}

// === impl Thresholds ===

impl Thresholds {
    /// Partial-shift CUSUM increment of a log-duration: a count of the band
    /// edges below it (no branches) and a table lookup.
    #[inline]
    pub(crate) fn band_score(&self, ln_x: f64) -> f64 {
        let x = ln_x as f32;
        let j: usize = self.band_ln.iter().map(|&e| (x > e) as usize).sum();
        self.band_llr[j] as f64
    }

    /// The spike threshold in log space.
    #[inline]
    pub(crate) fn spike_ln(&self) -> f64 {
        (self.spike_ns as f64).ln()
    }

    /// Standardised, clipped log-duration for the mean CUSUM.
    #[inline]
    pub(crate) fn z(&self, ln_x: f64) -> f64 {
        (ln_x.clamp(self.clip_lo, self.clip_hi) - self.mean_c) * self.inv_sd_c
    }
}

// === impl LogQuantileSketch ===

/// Public face of the decaying log-bucket sketch, for callers (and the
/// evaluation's baselines) that want quantiles of raw values.
#[derive(Clone, Debug)]
pub struct LogQuantileSketch {
    inner: LogSketch,
    width: f64,
}

impl LogQuantileSketch {
    /// A sketch with the given relative accuracy α (clamped to [0.005, 0.1]).
    pub fn new(relative_accuracy: f64) -> Self {
        let a = relative_accuracy.clamp(0.005, 0.1);
        Self {
            inner: LogSketch::new(),
            width: ((1.0 + a) / (1.0 - a)).ln(),
        }
    }

    /// Adds a positive value after multiplying past weights by `decay` ∈ (0, 1].
    pub fn insert(&mut self, value: f64, decay: f64) {
        self.inner.insert(
            value.max(f64::MIN_POSITIVE).ln(),
            1.0 / self.width,
            decay.clamp(1e-9, 1.0),
        );
    }

    /// The `q`-quantile of the (decayed) values; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.inner.weight() <= 0.0 {
            return 0.0;
        }
        self.inner.quantiles([q.clamp(0.0, 1.0)], self.width)[0].exp()
    }

    /// Effective number of values.
    pub fn weight(&self) -> f64 {
        self.inner.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn width() -> f64 {
        (1.025f64 / 0.975).ln()
    }

    #[test]
    fn quantiles_have_bounded_relative_error() {
        let w = width();
        let mut sk = LogSketch::new();
        // Uniform 1..=10000 (ns): quantile q is ~10000 q.
        for v in 1..=10_000u32 {
            sk.insert((v as f64).ln(), 1.0 / w, 1.0);
        }
        let qs = sk.quantiles([0.1, 0.5, 0.9, 0.99], w);
        for (q, ln) in [0.1, 0.5, 0.9, 0.99].iter().zip(qs) {
            let rel = (ln.exp() / (q * 10_000.0) - 1.0).abs();
            assert!(rel < 0.03, "q{q}: {} rel err {rel}", ln.exp());
        }
    }

    #[test]
    fn single_pass_scan_matches_separate_passes() {
        let w = width();
        let mut sk = LogSketch::new();
        let mut x = 0.5f64;
        for i in 0..5000u32 {
            // Deterministic spread of values over ~3 decades, with gaps.
            x = (x * 3.9 * (1.0 - x)).clamp(1e-6, 1.0 - 1e-6);
            sk.insert(
                (1e3 * (1.0 + 1e3 * x * x)).ln() + (i % 7) as f64 * 0.01,
                1.0 / w,
                0.999,
            );
            if i % 500 == 0 {
                // Isolated far values leave empty buckets below them.
                sk.insert(16.0 + (i / 500) as f64 * 0.3, 1.0 / w, 0.999);
            }
        }
        let (first, last) = sk.range();
        let empty = sk.bins[first..=last].iter().filter(|&&b| b == 0.0).count();
        assert!(empty > 3, "the sketch should have gaps: {empty}");
        let mut levels = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0];
        let n_levels = 9;
        let pts = [9.0, 11.01, 12.5, 16.44, 20.0];
        let spec = ScanSpec {
            levels,
            n_levels,
            u: 13.7,
            ua: 12.9,
            lo: 10.5,
            hi: 13.5,
            pts,
        };
        let out = sk.scan(&spec, w, &mut ScanScratch::new());
        levels[n_levels..].fill(1.0);
        let qs = sk.quantiles(levels, w);
        for (a, b) in out.q[..n_levels].iter().zip(qs) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        close(out.me_u, sk.mean_excess(spec.u, w));
        close(out.me_ua, sk.mean_excess(spec.ua, w));
        let (m, sd) = sk.clipped_moments(spec.lo, spec.hi, w);
        close(out.mean, m);
        close(out.sd, sd);
        // The CDF with uniform mass inside each bucket.
        for (&pt, &c) in pts.iter().zip(&out.cdf) {
            let below: f64 = (first..=last)
                .map(|j| {
                    let lo = (sk.base + j as i64) as f64 * w;
                    sk.bins[j] as f64 * ((pt - lo) / w).clamp(0.0, 1.0)
                })
                .sum();
            close(c, (below / sk.total as f64).min(1.0));
        }
    }

    #[test]
    fn level_plan_places_every_named_level() {
        for (exceed, tag) in [(0.99, 0.9), (0.95, 0.8), (0.999, 0.97)] {
            let plan = LevelPlan::new(exceed, tag);
            for (qa, qb) in [(0.7, 0.9), (0.97, 0.99), (0.985, 0.995), (0.95, 0.95)] {
                let (lv, n, idx) = plan.with_tail_starts(qa, qb);
                assert!(lv.windows(2).all(|p| p[0] <= p[1]), "{lv:?}");
                assert!(n <= MAX_LEVELS);
                let named = [
                    (idx.p10, 0.1),
                    (idx.p50, 0.5),
                    (idx.p90, 0.9),
                    (idx.exceed, exceed),
                    (idx.tag, tag),
                    (idx.qa, qa),
                    (idx.qb, qb),
                ];
                let bands = idx.band.into_iter().zip(BAND_LEVELS);
                for (i, l) in named.into_iter().chain(bands) {
                    assert!(
                        (i as usize) < n && lv[i as usize] == l,
                        "{l} at {i}: {lv:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn averaged_tail_fit_steadies_the_spike_threshold_without_moving_it() {
        // A stationary log-normal (σ 0.4) stream with a 1 % Pareto(α 2) tail in a sketch
        // with a 2000-span half-life, refreshed every 32 spans: the spike threshold from the
        // running average of the fits against the one from each refresh's own fit.
        let w = width();
        let p = ThresholdParams {
            width: w,
            spike_p: 1e-4,
            inter_p: 1e-3,
            tail_margin: 1.35,
            levels: LevelPlan::new(0.99, 0.9),
            mix_eps: 0.1,
            mix_ln_factor: 2.5f64.ln(),
            eps_per_band_mass: ThresholdParams::eps_per_band_mass(0.1),
        };
        let mut state = 7u64;
        let mut unit = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let decay = (-std::f64::consts::LN_2 / 2000.0).exp();
        let mut sk = LogSketch::new();
        let mut scratch = ScanScratch::new();
        let mut avg: Option<TailModel> = None;
        let (mut raw_ln, mut avg_ln) = (Vec::new(), Vec::new());
        for i in 0..300_000 {
            let z = (-2.0 * unit().ln()).sqrt() * (std::f64::consts::TAU * unit()).cos();
            let tail = if unit() < 0.01 {
                -unit().ln() / 2.0
            } else {
                0.0
            };
            sk.insert(3.0 + 0.4 * z + tail, 1.0 / w, decay);
            if i >= 10_000 && i % 32 == 0 {
                let mut fresh = avg.clone().unwrap_or_default();
                fresh.fit = (0.0, 0.0, 0);
                let raw = Baseline::compute(&sk, &p, Some(&fresh), None, &mut scratch);
                let b = Baseline::compute(&sk, &p, avg.as_ref(), None, &mut scratch);
                if i >= 50_000 {
                    raw_ln.push((raw.th.spike_ns as f64).ln());
                    avg_ln.push((b.th.spike_ns as f64).ln());
                }
                avg = Some(b.tail);
            }
        }
        let stats = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt();
            (m, sd)
        };
        let ((m_raw, sd_raw), (m_avg, sd_avg)) = (stats(&raw_ln), stats(&avg_ln));
        assert!(
            sd_avg < 0.6 * sd_raw,
            "sd of ln threshold: {sd_avg} vs {sd_raw}"
        );
        assert!(
            (m_avg - m_raw).abs() < 0.3 * sd_raw,
            "mean {m_avg} vs {m_raw}"
        );
    }

    #[test]
    fn decay_forgets_old_level_and_window_shifts() {
        let w = width();
        let mut sk = LogSketch::new();
        for _ in 0..2000 {
            sk.insert(1000f64.ln(), 1.0 / w, 0.99);
        }
        // A new level 10^5 times lower forces the window down.
        for _ in 0..2000 {
            sk.insert(0.01f64.ln(), 1.0 / w, 0.99);
        }
        let [med] = sk.quantiles([0.5], w);
        assert!(
            (med.exp() / 0.01 - 1.0).abs() < 0.06,
            "median {}",
            med.exp()
        );
        assert!(sk.weight() < 101.0, "decayed weight {}", sk.weight());
    }
}
