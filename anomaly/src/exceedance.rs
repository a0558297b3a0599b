//! The intermittent test's per-key baseline rates: how often a key's spans
//! actually exceed the test's two levels (the spike threshold, and the lower
//! level between it and the body), outside episodes.
//!
//! Both levels come from a margin-padded tail model: their nominal rates
//! (`spike_tail_probability` and 9 × it) were 10²–10⁴ times off on wide and
//! bimodal keys (see EVALUATION.md), so a burst's exceedances weighed too
//! little there, and too much on keys whose tail the fit underestimates.
//! Here the rates are decayed counts over a decayed exposure, shrunk towards
//! the nominal rates by a prior, and the test's log-likelihood ratios are
//! derived from them at each threshold refresh.
//!
//! Exceedances of a sequential-test excursion are held back as pending until
//! the test's statistic returns to zero (the excursion was the baseline's own
//! tail: they are counted) or the episode opens (they are the incident: they
//! are dropped), so a burst does not raise its own baseline rate.

use crate::config::DetectorConfig;

/// Half-life of the counts and the exposure, in the key's spans outside
/// episodes.
pub(crate) const HALF_LIFE_SPANS: f64 = 20_000.0;

/// Prior exposure, in spans at the nominal rates. A young key's test runs at
/// the nominal rates; a key that never exceeds a level gets at most
/// (half-life / ln 2 + prior) / prior times its nominal rate below it, not a
/// rate of zero and a log-likelihood ratio of infinity.
pub(crate) const PRIOR_SPANS: f64 = 20_000.0;

/// Constants derived once from the config.
#[derive(Debug, Clone)]
pub(crate) struct RatePlan {
    /// ln of the per-span decay.
    ln_decay: f64,
    /// 1 / (1 − decay): the exposure's limit.
    inv_one_minus_decay: f64,
    prior_n: f64,
    /// Nominal rates beyond the spike threshold, and between the lower level
    /// and it.
    prior_hit: f64,
    prior_mid: f64,
    /// Alternative rates the test is tuned to (`intermittent_rate` split at
    /// the spike threshold), added to the baseline rate of each level.
    alt_hit: f64,
    alt_mid: f64,
}

impl RatePlan {
    /// `tag_factor`: the lower level's nominal rate over the spike
    /// threshold's; `top_share`: share of `intermittent_rate` beyond the spike
    /// threshold.
    pub(crate) fn new(cfg: &DetectorConfig, tag_factor: f64, top_share: f64) -> Self {
        Self::with(cfg, tag_factor, top_share, HALF_LIFE_SPANS, PRIOR_SPANS)
    }

    pub(crate) fn with(
        cfg: &DetectorConfig,
        tag_factor: f64,
        top_share: f64,
        half_life_spans: f64,
        prior_spans: f64,
    ) -> Self {
        let ln_decay = -std::f64::consts::LN_2 / half_life_spans;
        Self {
            ln_decay,
            inv_one_minus_decay: 1.0 / -ln_decay.exp_m1(),
            prior_n: prior_spans,
            prior_hit: cfg.spike_tail_probability,
            prior_mid: (tag_factor - 1.0) * cfg.spike_tail_probability,
            alt_hit: top_share * cfg.intermittent_rate,
            alt_mid: (1.0 - top_share) * cfg.intermittent_rate,
        }
    }

    /// The log-likelihood ratios of a span beyond the spike threshold and of
    /// one between the lower level and it, at the nominal rates.
    pub(crate) fn nominal_llrs(&self) -> (f32, f32) {
        (
            (self.alt_hit / self.prior_hit).ln_1p() as f32,
            (self.alt_mid / self.prior_mid).ln_1p() as f32,
        )
    }
}

/// One key's exceedance counts and the log-likelihood ratios derived from
/// them (28 bytes, read only by spans beyond the lower level and refreshes).
#[derive(Debug, Clone, Default)]
pub(crate) struct ExceedanceRates {
    /// Decayed counts beyond the spike threshold, and between the lower
    /// level and it.
    hit: f32,
    mid: f32,
    /// Decayed exposure (spans).
    n: f32,
    /// The key's span count the counts and exposure were last brought to.
    at: u32,
    /// Exceedances of the current excursion of the test, not yet counted.
    pend_hit: u16,
    pend_mid: u16,
    /// The test's log-likelihood ratios for the two kinds of exceedance
    /// (set by [`ExceedanceRates::refresh`]; the nominal ones before).
    pub(crate) llr_hit: f32,
    pub(crate) llr_mid: f32,
}

impl ExceedanceRates {
    /// A key that has seen nothing: the nominal ratios.
    pub(crate) fn new(plan: &RatePlan) -> Self {
        let (llr_hit, llr_mid) = plan.nominal_llrs();
        Self {
            llr_hit,
            llr_mid,
            ..Self::default()
        }
    }

    /// An exceedance (`hit`: beyond the spike threshold) of the current
    /// excursion.
    pub(crate) fn pend(&mut self, hit: bool) {
        if hit {
            self.pend_hit = self.pend_hit.saturating_add(1);
        } else {
            self.pend_mid = self.pend_mid.saturating_add(1);
        }
    }

    /// The excursion ended at zero: its exceedances were the baseline's.
    pub(crate) fn commit(&mut self, plan: &RatePlan, seen: u32) {
        if self.pend_hit == 0 && self.pend_mid == 0 {
            return;
        }
        self.decay_to(plan, seen);
        self.hit += f32::from(self.pend_hit);
        self.mid += f32::from(self.pend_mid);
        self.drop_pending();
    }

    /// The excursion opened an episode, or a shift explained it.
    pub(crate) fn drop_pending(&mut self) {
        self.pend_hit = 0;
        self.pend_mid = 0;
    }

    /// Counts the spans up to `seen` as exposure (decaying the counts).
    pub(crate) fn decay_to(&mut self, plan: &RatePlan, seen: u32) {
        let k = seen.saturating_sub(self.at);
        if k > 0 {
            let f = (f64::from(k) * plan.ln_decay).exp();
            self.hit = (f64::from(self.hit) * f) as f32;
            self.mid = (f64::from(self.mid) * f) as f32;
            self.n = (f64::from(self.n) * f + (1.0 - f) * plan.inv_one_minus_decay) as f32;
        }
        self.at = seen;
    }

    /// Spans up to `seen` are not exposure (an episode's: their exceedances
    /// were not counted).
    pub(crate) fn skip_to(&mut self, seen: u32) {
        self.at = seen;
    }

    /// Brings the counts to `seen` (as exposure when `counting`) and derives
    /// the log-likelihood ratios from the rates.
    pub(crate) fn refresh(&mut self, plan: &RatePlan, seen: u32, counting: bool) {
        if counting {
            self.decay_to(plan, seen);
        } else {
            self.skip_to(seen);
        }
        let (n, pn) = (f64::from(self.n), plan.prior_n);
        let p_hit = (f64::from(self.hit) + pn * plan.prior_hit) / (n + pn);
        let p_mid = (f64::from(self.mid) + pn * plan.prior_mid) / (n + pn);
        self.llr_hit = (plan.alt_hit / p_hit).ln_1p() as f32;
        self.llr_mid = (plan.alt_mid / p_mid).ln_1p() as f32;
    }

    /// Forgets the counts (a relearned baseline: its levels are new).
    pub(crate) fn reset(&mut self, plan: &RatePlan, seen: u32) {
        *self = Self::new(plan);
        self.at = seen;
    }

    /// The current rate estimates (beyond the spike threshold, between the
    /// levels), for tests.
    #[cfg(test)]
    pub(crate) fn rates(&self, plan: &RatePlan) -> (f64, f64) {
        let (n, pn) = (f64::from(self.n), plan.prior_n);
        (
            (f64::from(self.hit) + pn * plan.prior_hit) / (n + pn),
            (f64::from(self.mid) + pn * plan.prior_mid) / (n + pn),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RatePlan {
        RatePlan::new(&DetectorConfig::default(), 10.0, 0.5)
    }

    #[test]
    fn a_young_key_runs_at_the_nominal_rates() {
        let plan = plan();
        let mut r = ExceedanceRates::new(&plan);
        let nominal = (r.llr_hit, r.llr_mid);
        r.refresh(&plan, 0, true);
        assert_eq!((r.llr_hit, r.llr_mid), nominal);
        assert!((r.rates(&plan).0 - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn rates_follow_the_counted_exceedances_within_the_prior_floor() {
        let plan = plan();
        // A key exceeding its spike threshold once per 1,000 spans (10×
        // nominal), nothing between the levels.
        let mut r = ExceedanceRates::new(&plan);
        let nominal = r.llr_hit;
        for i in 1..=200u32 {
            r.pend(true);
            r.commit(&plan, i * 1000);
        }
        r.refresh(&plan, 200_000, true);
        let (hit, mid) = r.rates(&plan);
        // The exposure is at its limit: 1e-3 over it, shrunk towards 1e-4 by the prior.
        let n = HALF_LIFE_SPANS / std::f64::consts::LN_2;
        let want = (n * 1e-3 + PRIOR_SPANS * 1e-4) / (n + PRIOR_SPANS);
        assert!((hit / want - 1.0).abs() < 0.1, "{hit} vs {want}");
        assert!(r.llr_hit < nominal);
        // Only the prior's spans × 9e-4 are left between the levels.
        let floor = PRIOR_SPANS * 9e-4 / (HALF_LIFE_SPANS / std::f64::consts::LN_2 + PRIOR_SPANS);
        assert!((mid / floor - 1.0).abs() < 0.01, "{mid} vs {floor}");
        let bound = (0.5 * 0.005 / floor).ln_1p() as f32;
        assert!((r.llr_mid - bound).abs() < 1e-3, "{} {bound}", r.llr_mid);
    }

    #[test]
    fn dropped_and_skipped_spans_do_not_count() {
        let plan = plan();
        let mut a = ExceedanceRates::new(&plan);
        a.decay_to(&plan, 10_000);
        let mut b = a.clone();
        // An episode's exceedances are dropped and its spans skipped.
        for _ in 0..50 {
            b.pend(true);
        }
        b.drop_pending();
        b.skip_to(30_000);
        b.refresh(&plan, 30_000, true);
        a.refresh(&plan, 10_000, true);
        assert_eq!(a.rates(&plan), b.rates(&plan));
        // Committed, they would have raised the rate.
        for _ in 0..50 {
            b.pend(true);
        }
        b.commit(&plan, 30_000);
        b.refresh(&plan, 30_000, true);
        assert!(b.rates(&plan).0 > 10.0 * a.rates(&plan).0);
    }
}
