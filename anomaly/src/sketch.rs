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

/// Quantile levels a threshold refresh reads (p10, p50, p90, the upper band
/// edges p97 and p99.7, the two tail starts, the exceedance and the tagging
/// quantile).
pub(crate) const SCAN_LEVELS: usize = 9;

/// Baseline quantiles that split log-durations into the bands of the
/// partial-shift CUSUM (see [`Thresholds::band_llr`]).
pub(crate) const BAND_LEVELS: [f64; BANDS - 1] = [0.5, 0.9, 0.97, 0.99, 0.997];
/// Bands of the partial-shift CUSUM.
pub(crate) const BANDS: usize = 6;

// === impl Scan ===

/// A threshold refresh's bucket pass in progress (see [`LogSketch::scan_begin`]).
#[derive(Clone, Debug)]
pub(crate) struct Scan {
    levels: [f64; SCAN_LEVELS],
    out: [f64; SCAN_LEVELS],
    u: f64,
    lo: f64,
    hi: f64,
    total: f64,
    cum: f64,
    ew: f64,
    es: f64,
    w: f64,
    s1: f64,
    s2: f64,
    base: i64,
    growth: f32,
    next: u16,
    last: u16,
    top: u16,
    li: u8,
    /// Level of the tail start (one of `levels`).
    qb: f64,
    /// A lower tail start (level `qa`, log-value `ua`) and the mean excess
    /// over it: with the one over `u`, the slope of the mean-excess line.
    qa: f64,
    ua: f64,
    ewa: f64,
    esa: f64,
    /// Ascending log-values at which the pass also evaluates the CDF.
    pts: [f64; BANDS - 1],
    cdf: [f64; BANDS - 1],
    pi: u8,
}

impl Scan {
    fn excess(&self, width: f64) -> f64 {
        if self.ew > 0.0 {
            self.es / self.ew
        } else {
            width
        }
    }

    fn excess_a(&self, width: f64) -> f64 {
        if self.ewa > 0.0 {
            self.esa / self.ewa
        } else {
            width
        }
    }

    fn moments(&self) -> (f64, f64) {
        if self.w > 0.0 {
            let m = self.s1 / self.w;
            (m, (self.s2 / self.w - m * m).max(0.0).sqrt())
        } else {
            (0.0, 1.0)
        }
    }
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
        self.growth /= decay as f32;
        if self.growth > RESCALE_AT {
            let s = 1.0 / self.growth;
            for b in &mut self.bins {
                *b *= s;
            }
            self.total *= s;
            self.growth = 1.0;
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
        self.bins[idx] += self.growth;
        self.total += self.growth;
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

    /// Starts a bucket pass computing what a threshold refresh needs:
    /// log-value quantiles for ascending `levels` (as
    /// [`LogSketch::quantiles`]), the mean excess over `u` (as
    /// [`LogSketch::mean_excess`]) and the moments clipped to `[lo, hi]` (as
    /// [`LogSketch::clipped_moments`]). The pass is resumable so a refresh
    /// can be spread over several spans (see [`LogSketch::scan_step`]).
    pub(crate) fn scan_begin(
        &self,
        levels: [f64; SCAN_LEVELS],
        u: f64,
        lo: f64,
        hi: f64,
        pts: [f64; BANDS - 1],
    ) -> Scan {
        let (first, last) = self.range();
        Scan {
            pts,
            cdf: [0.0; BANDS - 1],
            pi: 0,
            levels,
            out: [0.0; SCAN_LEVELS],
            u,
            lo,
            hi,
            total: self.total as f64,
            cum: 0.0,
            ew: 0.0,
            es: 0.0,
            qa: 1.0,
            ua: f64::INFINITY,
            ewa: 0.0,
            esa: 0.0,
            w: 0.0,
            s1: 0.0,
            s2: 0.0,
            base: self.base,
            growth: self.growth,
            next: first as u16,
            last: last as u16,
            top: first as u16,
            li: 0,
            qb: 1.0,
        }
    }

    /// Advances `sc` by at most `max_buckets` buckets; true when the pass is
    /// complete. A pass that the window shift or the lazy-decay rescale
    /// invalidated (its bucket indices or units changed) starts over.
    pub(crate) fn scan_step(&self, sc: &mut Scan, width: f64, max_buckets: usize) -> bool {
        if sc.base != self.base || self.growth < sc.growth {
            let (qb, qa, ua) = (sc.qb, sc.qa, sc.ua);
            *sc = self.scan_begin(sc.levels, sc.u, sc.lo, sc.hi, sc.pts);
            (sc.qb, sc.qa, sc.ua) = (qb, qa, ua);
        }
        let start = sc.next as usize;
        let end = (start + max_buckets).min(sc.last as usize + 1);
        // Accumulators in locals and the next quantile target precomputed:
        // this loop is the whole cost of a refresh.
        let (u, lo, hi) = (sc.u, sc.lo, sc.hi);
        let (mut cum, mut ew, mut es) = (sc.cum, sc.ew, sc.es);
        let (ua, mut ewa, mut esa) = (sc.ua, sc.ewa, sc.esa);
        let (mut w, mut s1, mut s2) = (sc.w, sc.s1, sc.s2);
        let mut li = sc.li as usize;
        let mut target = if li < SCAN_LEVELS {
            sc.levels[li] * sc.total
        } else {
            f64::INFINITY
        };
        let mut top = sc.top;
        let mut pi = sc.pi as usize;
        let mut next_pt = if pi < BANDS - 1 {
            sc.pts[pi]
        } else {
            f64::INFINITY
        };
        let mut blo = (self.base + start as i64) as f64 * width;
        for (j, &b) in self.bins[..end].iter().enumerate().skip(start) {
            let here = blo;
            blo += width;
            if b <= 0.0 {
                continue;
            }
            top = j as u16;
            let b = b as f64;
            while target <= cum + b {
                let frac = ((target - cum) / b).clamp(0.0, 1.0);
                sc.out[li] = here + frac * width;
                li += 1;
                target = if li < SCAN_LEVELS {
                    sc.levels[li] * sc.total
                } else {
                    f64::INFINITY
                };
            }
            let bhi = here + width;
            while next_pt < bhi {
                sc.cdf[pi] = cum + b * ((next_pt - here) / width).clamp(0.0, 1.0);
                pi += 1;
                next_pt = if pi < BANDS - 1 {
                    sc.pts[pi]
                } else {
                    f64::INFINITY
                };
            }
            cum += b;
            if bhi > u {
                let from = u.max(here);
                let m = b * ((bhi - from) / width).clamp(0.0, 1.0);
                ew += m;
                es += m * ((from + bhi) * 0.5 - u);
            }
            if bhi > ua {
                let from = ua.max(here);
                let m = b * ((bhi - from) / width).clamp(0.0, 1.0);
                ewa += m;
                esa += m * ((from + bhi) * 0.5 - ua);
            }
            let x = (here + 0.5 * width).clamp(lo, hi);
            w += b;
            s1 += b * x;
            s2 += b * x * x;
        }
        (sc.cum, sc.ew, sc.es, sc.w, sc.s1, sc.s2) = (cum, ew, es, w, s1, s2);
        (sc.ewa, sc.esa) = (ewa, esa);
        sc.li = li as u8;
        sc.pi = pi as u8;
        sc.top = top;
        sc.next = end as u16;
        if end <= sc.last as usize {
            return false;
        }
        // Rounding can leave the top levels unassigned: they sit at the top.
        let top = ((self.base + sc.top as i64) as f64 + 1.0) * width;
        for o in &mut sc.out[sc.li as usize..] {
            *o = top;
        }
        sc.li = SCAN_LEVELS as u8;
        for c in &mut sc.cdf[sc.pi as usize..] {
            *c = sc.total;
        }
        sc.pi = (BANDS - 1) as u8;
        true
    }

    /// A complete pass at once: (quantiles, mean excess, clipped mean and sd).
    #[cfg(test)]
    pub(crate) fn scan(
        &self,
        levels: [f64; SCAN_LEVELS],
        width: f64,
        u: f64,
        lo: f64,
        hi: f64,
    ) -> ([f64; SCAN_LEVELS], f64, (f64, f64)) {
        let mut sc = self.scan_begin(levels, u, lo, hi, [f64::INFINITY; BANDS - 1]);
        self.scan_step(&mut sc, width, BINS);
        (sc.out, sc.excess(width), sc.moments())
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

// === impl Thresholds ===

/// Per-key values derived from the sketch; refreshed every
/// `refresh_every` spans rather than per span.
///
/// `repr(C)`: the fields every span reads come first (one cache line).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct Thresholds {
    /// Spans above this (ns) fail the tail test.
    pub(crate) spike_ns: u64,
    /// `exp(median_ln)`, ns.
    pub(crate) median_ns: f64,
    /// Exceedance quantile (log) watched by the Bernoulli CUSUM.
    pub(crate) exceed_ln: f64,
    /// CUSUM standardisation: clip range, mean and 1/sd of clipped values.
    pub(crate) clip_lo: f64,
    pub(crate) clip_hi: f64,
    pub(crate) mean_c: f64,
    pub(crate) inv_sd_c: f64,
    /// Median log-duration.
    pub(crate) median_ln: f64,
    /// Robust log-scale (from the 10–90 % range).
    pub(crate) scale_ln: f64,
    /// The same threshold in log space.
    pub(crate) spike_ln: f64,
    /// Tail model, a generalised Pareto distribution of the log-excess:
    /// P(X > x) = tail_mass · (1 + tail_xi · (x − tail_at) / tail_beta)^(−1/tail_xi)
    /// for x ≥ tail_at (exponential when tail_xi = 0).
    pub(crate) tail_at: f64,
    pub(crate) tail_mass: f64,
    pub(crate) tail_beta: f64,
    pub(crate) tail_xi: f64,
    /// Episode tagging quantile (log).
    pub(crate) tag_ln: f64,
    /// Upper edges of the partial-shift CUSUM's bands (log; the baseline
    /// quantiles [`BAND_LEVELS`]); the last band is open-ended.
    pub(crate) band_ln: [f64; BANDS - 1],
    /// Per-band log-likelihood ratio of "a fraction ε of spans is slower by
    /// a factor c" against the baseline: ln((1 − ε) + ε · P₀(band − ln c) / P₀(band)).
    /// Bounded (≤ ln(1 + ε / P₀(top band))) and computed from the sketch
    /// itself, so a heavy or bimodal tail cannot inflate it.
    pub(crate) band_llr: [f64; BANDS],
    /// Tail start and clip range in the sketch's own coordinates (not moved
    /// by [`Thresholds::shifted`]): the next refresh's single pass uses them.
    pub(crate) src_valid: bool,
    pub(crate) src_tail_at: f64,
    pub(crate) src_tail_at_a: f64,
    pub(crate) src_clip_lo: f64,
    pub(crate) src_clip_hi: f64,
    pub(crate) src_band: [f64; BANDS - 1],
}

/// Fixed parameters the threshold computation needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThresholdParams {
    pub(crate) width: f64,
    pub(crate) spike_p: f64,
    pub(crate) tail_margin: f64,
    pub(crate) exceed_q: f64,
    pub(crate) tag_q: f64,
    /// Partial-shift alternative: fraction ε of spans slower by ln c.
    pub(crate) mix_eps: f64,
    pub(crate) mix_ln_factor: f64,
}

/// Range the GPD shape of the log tail is clamped to: beyond it the
/// mean-excess slope of ~100 tail samples is noise (measured: −0.4 raised
/// the false positives with no recall gained; 0.5 changed nothing).
const XI_MIN: f64 = -0.2;
const XI_MAX: f64 = 0.3;

impl Thresholds {
    /// Starts a refresh. `prev` (the last thresholds of the same key, if
    /// any) supplies the tail start and clip range the single bucket pass
    /// uses; they lag one refresh (≤ `refresh_every` spans of a sketch whose
    /// half-life is ≥ 2000 spans), which changes them negligibly. Without
    /// them a quantile pass comes first.
    pub(crate) fn begin(sk: &LogSketch, p: &ThresholdParams, prev: Option<&Thresholds>) -> Scan {
        let n = sk.weight().max(1.0);
        // Beyond the top ~40 samples the tail is extrapolated as exponential
        // in log space (a Pareto tail in raw space), with its scale from the
        // Hill estimator: the mean log-excess over the tail start. That uses
        // all tail samples, so it is far less noisy than a two-quantile fit;
        // at small n the tail starts at p90, which gives a conservative
        // (high) threshold rather than a noisy one.
        let qb = (1.0 - 40.0 / n).clamp(0.9, 0.995);
        let qa = (1.0 - 120.0 / n).clamp(0.7, 0.985);
        let mut lv = [0.1, 0.5, 0.9, 0.97, 0.997, qa, qb, p.exceed_q, p.tag_q];
        lv.sort_by(f64::total_cmp);
        let (u, ua, lo, hi, band) = match prev {
            Some(t) if t.src_valid => (
                t.src_tail_at,
                t.src_tail_at_a,
                t.src_clip_lo,
                t.src_clip_hi,
                t.src_band,
            ),
            _ => {
                let qs = sk.quantiles(lv, p.width);
                let at = |level: f64| qs[lv.iter().position(|&l| l == level).unwrap_or(0)];
                let (q10, med, q90) = (at(0.1), at(0.5), at(0.9));
                let scale = ((q90 - q10) / 2.563).max(p.width);
                (
                    at(qb),
                    at(qa),
                    med - 3.0 * scale,
                    med + 3.0 * scale,
                    BAND_LEVELS.map(at),
                )
            }
        };
        // The CDF at the band edges moved down by ln c: the mass a slowed
        // span would put in each band.
        let pts = band.map(|e| e - p.mix_ln_factor);
        let mut sc = sk.scan_begin(lv, u, lo, hi, pts);
        // The tail start's level travels in the scan (levels are sorted, so
        // its position is looked up again in `finish`).
        sc.qb = qb;
        (sc.qa, sc.ua) = (qa, ua);
        sc
    }

    /// Thresholds from a completed pass.
    pub(crate) fn finish(sc: &Scan, p: &ThresholdParams) -> Self {
        let lv = sc.levels;
        let qs = sc.out;
        let qb = sc.qb;
        let at = |level: f64| qs[lv.iter().position(|&l| l == level).unwrap_or(0)];
        let (q10, med, q90, qb_ln, qa_ln) = (at(0.1), at(0.5), at(0.9), at(qb), at(sc.qa));
        let scale = ((q90 - q10) / 2.563).max(p.width);
        let (mean_c, sd_c) = sc.moments();
        // GPD shape from the slope of the mean-excess line between the two
        // tail starts (ME(u) = (β + ξu) / (1 − ξ) for a GPD): a log-normal
        // body's tail bends down (ξ < 0), a Pareto regime taking over from it
        // bends up (ξ > 0), which a plain exponential (Hill) fit misses in
        // both directions.
        let (me_a, me_b) = (sc.excess_a(p.width), sc.excess(p.width));
        let slope = (me_b - me_a) / (qb_ln - qa_ln).max(p.width);
        // Only once the sketch holds ≥ 1000 samples (the top 40 are ≤ 4 %):
        // on fewer, the slope is noise (a shape fitted from the first
        // hundreds of spans quadrupled the warm-up false positives).
        let xi = if qb >= 0.96 {
            (slope / (1.0 + slope).max(0.5)).clamp(XI_MIN, XI_MAX)
        } else {
            0.0
        };
        let beta = (p.tail_margin * me_b * (1.0 - xi)).max(p.width);
        let tail_mass = 1.0 - qb;
        let ratio = (tail_mass / p.spike_p).max(1.0);
        let spike_ln = qb_ln
            + if xi.abs() > 1e-6 {
                beta * (ratio.powf(xi) - 1.0) / xi
            } else {
                beta * ratio.ln()
            };
        let clip_lo = med - 3.0 * scale;
        let clip_hi = med + 3.0 * scale;
        let band_ln = BAND_LEVELS.map(at);
        let total = sc.total.max(f64::MIN_POSITIVE);
        let mut band_llr = [0.0; BANDS];
        let (mut lvl_lo, mut cdf_lo) = (0.0, 0.0);
        for (j, llr) in band_llr.iter_mut().enumerate() {
            let (lvl_hi, cdf_hi) = if j + 1 < BANDS {
                (BAND_LEVELS[j], (sc.cdf[j] / total).clamp(0.0, 1.0))
            } else {
                (1.0, 1.0)
            };
            let p0 = lvl_hi - lvl_lo;
            let p_slow = (cdf_hi - cdf_lo).max(0.0);
            *llr = ((1.0 - p.mix_eps) + p.mix_eps * p_slow / p0).ln();
            (lvl_lo, cdf_lo) = (lvl_hi, cdf_hi.max(cdf_lo));
        }
        Self {
            band_ln,
            band_llr,
            src_band: band_ln,
            median_ln: med,
            median_ns: med.exp(),
            scale_ln: scale,
            spike_ns: spike_ln.exp().min(u64::MAX as f64 / 2.0) as u64,
            spike_ln,
            tail_at: qb_ln,
            tail_mass,
            tail_beta: beta,
            tail_xi: xi,
            exceed_ln: at(p.exceed_q),
            tag_ln: at(p.tag_q),
            clip_lo,
            clip_hi,
            mean_c,
            inv_sd_c: 1.0 / sd_c.max(p.width * 0.5),
            src_valid: true,
            src_tail_at: qb_ln,
            src_tail_at_a: qa_ln,
            src_clip_lo: clip_lo,
            src_clip_hi: clip_hi,
        }
    }

    /// The same distribution moved by `s` in log space (a location
    /// correction: the shape comes from the slow sketch, the level from a
    /// faster average).
    pub(crate) fn shifted(mut self, s: f64) -> Self {
        self.median_ln += s;
        self.median_ns = self.median_ln.exp();
        self.spike_ln += s;
        self.spike_ns = self.spike_ln.exp().min(u64::MAX as f64 / 2.0) as u64;
        self.tail_at += s;
        self.exceed_ln += s;
        self.tag_ln += s;
        for b in &mut self.band_ln {
            *b += s;
        }
        self.clip_lo += s;
        self.clip_hi += s;
        self.mean_c += s;
        self
    }

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
            // Beyond the end point of a bounded (ξ < 0) tail.
            return 0.0;
        }
        self.tail_mass * base.powf(-1.0 / self.tail_xi)
    }

    /// Partial-shift CUSUM increment of a log-duration.
    #[inline]
    pub(crate) fn band_score(&self, ln_x: f64) -> f64 {
        let j = self.band_ln.iter().take_while(|&&e| ln_x > e).count();
        self.band_llr[j]
    }

    /// Standardised, clipped log-duration for the mean CUSUM.
    #[inline]
    pub(crate) fn z(&self, ln_x: f64) -> f64 {
        (ln_x.clamp(self.clip_lo, self.clip_hi) - self.mean_c) * self.inv_sd_c
    }

    /// Robust z-score reported for episode spans.
    pub(crate) fn robust_z(&self, ln_x: f64) -> f64 {
        (ln_x - self.median_ln) / self.scale_ln
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
            // Deterministic spread of values over ~3 decades.
            x = (x * 3.9 * (1.0 - x)).clamp(1e-6, 1.0 - 1e-6);
            sk.insert(
                (1e3 * (1.0 + 1e3 * x * x)).ln() + (i % 7) as f64 * 0.01,
                1.0 / w,
                0.999,
            );
        }
        let lv = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99];
        let (u, lo, hi) = (9.0, 7.5, 12.0);
        let (qs, ex, (m, sd)) = sk.scan(lv, w, u, lo, hi);
        // Spread over several steps, as the detector does, it is the same pass.
        let mut sc = sk.scan_begin(lv, u, lo, hi, [f64::INFINITY; BANDS - 1]);
        let mut steps = 1;
        while !sk.scan_step(&mut sc, w, 16) {
            steps += 1;
        }
        assert!(steps > 2, "{steps}");
        for (a, b) in sc.out.iter().zip(qs) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let qs2 = sk.quantiles(lv, w);
        let ex2 = sk.mean_excess(u, w);
        let (m2, sd2) = sk.clipped_moments(lo, hi, w);
        for (a, b) in qs.iter().zip(qs2) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert!((ex - ex2).abs() < 1e-9 && (m - m2).abs() < 1e-9 && (sd - sd2).abs() < 1e-9);
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
