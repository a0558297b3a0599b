//! Detector configuration with documented defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::key::{KeyField, default_key_fields};

/// Configuration of [`crate::Detector`] and [`crate::Attributor`].
///
/// Every field has a default; an empty YAML/JSON object is a valid config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Span fields forming the key. Default: service.name, span name,
    /// span kind, status code. Used by the caller that builds [`crate::KeyHash`]es.
    pub key_fields: Vec<KeyField>,
    /// Maximum number of keys tracked; beyond it the least recently seen of
    /// 16 randomly sampled keys is evicted (approximate LRU; exact for tables
    /// of ≤ 16 keys). Default 100 000 (~1.4 KiB each).
    pub max_keys: usize,
    /// Relative accuracy of the log-space quantile sketch (DDSketch's α).
    /// Default 0.025, i.e. buckets 5 % wide; the 256 buckets span a 360 000× range.
    pub relative_accuracy: f64,
    /// Wall-clock half-life of the baseline's exponential decay. Default 10 min:
    /// short enough that diurnal load changes are tracked without bias.
    #[serde(with = "humantime_serde")]
    pub half_life: Duration,
    /// Lower bound of the sketch's half-life in spans, so a rarely seen key
    /// keeps enough samples to estimate its tail. Default 2000 spans.
    pub min_half_life_spans: f64,
    /// Lower bound, in spans, of the half-life of the location average that
    /// places the sketch's shape (same wall-clock `half_life`). Shorter than
    /// the sketch's so trends are tracked; long enough that the sequential
    /// test wins the race against absorbing a real shift. Default 500 spans.
    pub location_min_half_life_spans: f64,
    /// Upper bound of the location average's half-life in wall time, so a
    /// rarely seen key still follows the diurnal curve. Default 1 h.
    #[serde(with = "humantime_serde")]
    pub location_max_half_life: Duration,
    /// Spans a key must have seen before the tail test may tag. Default 100.
    pub min_samples: u32,
    /// Spans a key must have seen before the sequential test runs. Default 200.
    pub sequential_min_samples: u32,
    /// A span is a spike when its estimated tail probability is below this.
    /// Default 1e-4 (the extrapolated tail is conservative, see `tail_margin`).
    pub spike_tail_probability: f64,
    /// Multiplier on the fitted scale of the extrapolated tail (a GPD whose
    /// shape is estimated per key): a margin for the noise of a fit to the
    /// top ~100 samples. Default 1.35. A key with a settled fit and a light
    /// tail (a log-normal-like body, no Pareto regime or second mode) tags
    /// spikes at 0.80 of this margin; the intermittent test and the bounded
    /// influence of tail spans keep the full margin (see EVALUATION.md).
    pub tail_margin: f64,
    /// Tail probability below which `latency.category` is `very_slow`
    /// rather than `slow`. Default 1e-6.
    pub very_slow_tail_probability: f64,
    /// Cached thresholds are recomputed from the sketch every this many
    /// spans of a key (and at once after warm-up or relearn). Default 32, at most 65,535.
    pub refresh_every: u32,
    /// CUSUM reference value k on the standardised log-duration: shifts
    /// smaller than k standard deviations are ignored. Default 0.5.
    pub cusum_k: f64,
    /// CUSUM decision threshold h. Default 12 (~1e6 spans between false
    /// alarms for a Gaussian stream).
    pub cusum_h: f64,
    /// Trend CUSUM reference value: a second mean CUSUM on the same
    /// standardised log-durations (less their slow average, when positive)
    /// with a smaller reference, so a ramp is caught while it is still
    /// small. It runs once a key has seen (3 / `trend_k`)² spans. Default 0.1.
    pub trend_k: f64,
    /// Trend CUSUM decision threshold; it opens a shift episode whose tag
    /// threshold starts higher than the mean CUSUM's. Default 33.
    pub trend_h: f64,
    /// Baseline quantile whose exceedance rate the Bernoulli CUSUM watches.
    /// Default 0.99.
    pub exceedance_quantile: f64,
    /// Exceedance rate the Bernoulli CUSUM is tuned to detect. Default 0.05.
    pub exceedance_alt_rate: f64,
    /// Decision threshold of the Bernoulli CUSUM (log-likelihood ratio). Default 12.
    pub exceedance_h: f64,
    /// Partial-shift CUSUM: the fraction ε of requests it is tuned to see
    /// slowed (a slow dependency behind a cache, one bad replica). Its
    /// per-span score is the log-likelihood ratio of the span's baseline
    /// quantile band under "ε of spans × `partial_shift_factor`" against
    /// the baseline. Default 0.1.
    pub partial_shift_fraction: f64,
    /// Slow-down factor of the affected requests the partial-shift CUSUM
    /// is tuned to. Default 2.5.
    pub partial_shift_factor: f64,
    /// Decision threshold of the partial-shift CUSUM (log-likelihood
    /// ratio). Default 12.
    pub partial_shift_h: f64,
    /// Weight in the baseline (sketch and location average), relative to a
    /// normal span, of a span beyond the spike threshold that arrives while
    /// the intermittent test holds evidence (its episode is open, or two
    /// other such spans came within the last ~800): 0 excludes it, 1 learns
    /// it (at the threshold: tail spans are always winsorized there). Below
    /// 1, intermittent slow requests cannot fatten the tail fit until they
    /// look ordinary; a real change of regime is still learned through
    /// episodes and `relearn_after`. Default 0 (see EVALUATION.md).
    pub outlier_weight: f64,
    /// Rate of slow requests the intermittent test is tuned to detect: a
    /// CUSUM on spans beyond the spike threshold and beyond a lower level
    /// (tail probability 10 × `spike_tail_probability`), each against its
    /// baseline rate, half of the slow requests assumed beyond each.
    /// Default 0.005.
    pub intermittent_rate: f64,
    /// Decision threshold (log-likelihood ratio) of the intermittent test;
    /// it opens an `intermittent` episode. Default 10 (~4 spans beyond the
    /// spike threshold, or ~8 beyond the lower level, close together; 9 and
    /// 8 opened false episodes in the evaluation).
    pub intermittent_h: f64,
    /// During an episode, spans above this quantile of the pre-episode
    /// baseline are tagged. Default 0.9.
    pub episode_tag_quantile: f64,
    /// Wall time an episode must last before its level is accepted as the
    /// new normal and the baseline is relearned. Default 30 min.
    #[serde(with = "humantime_serde")]
    pub relearn_after: Duration,
    /// A child explains its parent when the child's excess over its own
    /// baseline is at least this fraction of the parent's excess. Default 0.5.
    pub explain_fraction: f64,
    /// Traces kept in the propagation buffer (FIFO eviction). Default 4096.
    pub max_traces: usize,
    /// Span timings kept per trace in the propagation buffer. Default 16.
    pub max_spans_per_trace: usize,
    /// Emit the optional `latency.category` attribute. Default false.
    pub emit_category: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            key_fields: default_key_fields(),
            max_keys: 100_000,
            relative_accuracy: 0.025,
            half_life: Duration::from_secs(600),
            min_half_life_spans: 2000.0,
            location_min_half_life_spans: 500.0,
            location_max_half_life: Duration::from_secs(3600),
            min_samples: 100,
            sequential_min_samples: 200,
            spike_tail_probability: 1e-4,
            very_slow_tail_probability: 1e-6,
            tail_margin: 1.35,
            refresh_every: 32,
            cusum_k: 0.5,
            cusum_h: 12.0,
            trend_k: 0.1,
            trend_h: 33.0,
            exceedance_quantile: 0.99,
            exceedance_alt_rate: 0.05,
            exceedance_h: 12.0,
            partial_shift_fraction: 0.1,
            partial_shift_factor: 2.5,
            partial_shift_h: 12.0,
            outlier_weight: 0.0,
            intermittent_rate: 0.005,
            intermittent_h: 10.0,
            episode_tag_quantile: 0.9,
            relearn_after: Duration::from_secs(1800),
            explain_fraction: 0.5,
            max_traces: 4096,
            max_spans_per_trace: 16,
            emit_category: false,
        }
    }
}

fn check(
    ok: bool,
    field: &'static str,
    value: f64,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value: value.to_string(),
            expected,
        })
    }
}

impl DetectorConfig {
    /// Rejects values the detector cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(self.max_keys >= 1, "max_keys", self.max_keys as f64, ">= 1")?;
        check(
            self.max_keys < u32::MAX as usize,
            "max_keys",
            self.max_keys as f64,
            "< 2^32 - 1",
        )?;
        let a = self.relative_accuracy;
        check(
            (0.005..=0.1).contains(&a),
            "relative_accuracy",
            a,
            "in [0.005, 0.1]",
        )?;
        let hl = self.half_life.as_secs_f64();
        check(hl > 0.0, "half_life", hl, "> 0")?;
        let mhs = self.min_half_life_spans;
        check(mhs >= 1.0, "min_half_life_spans", mhs, ">= 1")?;
        let lhs = self.location_min_half_life_spans;
        check(lhs >= 1.0, "location_min_half_life_spans", lhs, ">= 1")?;
        let lmh = self.location_max_half_life.as_secs_f64();
        check(lmh >= hl, "location_max_half_life", lmh, ">= half_life")?;
        let mins = self.min_samples as f64;
        check(mins >= 10.0, "min_samples", mins, ">= 10")?;
        let p = self.spike_tail_probability;
        check(
            p > 0.0 && p < 0.5,
            "spike_tail_probability",
            p,
            "in (0, 0.5)",
        )?;
        let vp = self.very_slow_tail_probability;
        check(
            vp > 0.0 && vp <= p,
            "very_slow_tail_probability",
            vp,
            "in (0, spike_tail_probability]",
        )?;
        let tm = self.tail_margin;
        check((1.0..=4.0).contains(&tm), "tail_margin", tm, "in [1, 4]")?;
        let r = self.refresh_every as f64;
        check(
            (1.0..=f64::from(u16::MAX)).contains(&r),
            "refresh_every",
            r,
            "in [1, 65535]",
        )?;
        check(self.cusum_k >= 0.0, "cusum_k", self.cusum_k, ">= 0")?;
        check(self.cusum_h > 0.0, "cusum_h", self.cusum_h, "> 0")?;
        check(self.trend_k >= 0.0, "trend_k", self.trend_k, ">= 0")?;
        check(self.trend_h > 0.0, "trend_h", self.trend_h, "> 0")?;
        let q = self.exceedance_quantile;
        check(q > 0.5 && q < 1.0, "exceedance_quantile", q, "in (0.5, 1)")?;
        let alt = self.exceedance_alt_rate;
        check(
            alt > 1.0 - q && alt < 1.0,
            "exceedance_alt_rate",
            alt,
            "in (1 - exceedance_quantile, 1)",
        )?;
        check(
            self.exceedance_h > 0.0,
            "exceedance_h",
            self.exceedance_h,
            "> 0",
        )?;
        let pf = self.partial_shift_fraction;
        check(
            pf > 0.0 && pf <= 1.0,
            "partial_shift_fraction",
            pf,
            "in (0, 1]",
        )?;
        let pc = self.partial_shift_factor;
        check(pc > 1.0, "partial_shift_factor", pc, "> 1")?;
        let ph = self.partial_shift_h;
        check(ph > 0.0, "partial_shift_h", ph, "> 0")?;
        let ow = self.outlier_weight;
        check((0.0..=1.0).contains(&ow), "outlier_weight", ow, "in [0, 1]")?;
        let ir = self.intermittent_rate;
        check(
            ir > p && ir < 1.0,
            "intermittent_rate",
            ir,
            "in (spike_tail_probability, 1)",
        )?;
        let ih = self.intermittent_h;
        check(ih > 0.0, "intermittent_h", ih, "> 0")?;
        let tq = self.episode_tag_quantile;
        check(
            tq > 0.0 && tq < 1.0,
            "episode_tag_quantile",
            tq,
            "in (0, 1)",
        )?;
        let ef = self.explain_fraction;
        check(ef > 0.0 && ef <= 1.0, "explain_fraction", ef, "in (0, 1]")?;
        check(
            self.max_traces >= 1,
            "max_traces",
            self.max_traces as f64,
            ">= 1",
        )?;
        let mst = self.max_spans_per_trace as f64;
        check(mst >= 1.0, "max_spans_per_trace", mst, ">= 1")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_is_default_and_valid() {
        let c: DetectorConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, DetectorConfig::default());
        c.validate().unwrap();
    }

    #[test]
    fn outlier_and_intermittent_settings_are_range_checked() {
        let bad = [
            r#"{"outlier_weight": 1.5}"#,
            r#"{"outlier_weight": -0.1}"#,
            r#"{"intermittent_rate": 0.00005}"#,
            r#"{"intermittent_rate": 1.0}"#,
            r#"{"intermittent_h": 0}"#,
        ];
        for json in bad {
            let c: DetectorConfig = serde_json::from_str(json).unwrap();
            assert!(
                matches!(c.validate(), Err(ConfigError::OutOfRange { .. })),
                "{json}"
            );
        }
        let ok: DetectorConfig =
            serde_json::from_str(r#"{"outlier_weight": 1, "intermittent_rate": 0.02}"#).unwrap();
        ok.validate().unwrap();
    }

    #[test]
    fn unknown_fields_and_bad_ranges_are_rejected() {
        assert!(serde_json::from_str::<DetectorConfig>(r#"{"max_kyes": 3}"#).is_err());
        let c: DetectorConfig =
            serde_json::from_str(r#"{"relearn_after": "45m", "spike_tail_probability": 0.7}"#)
                .unwrap();
        assert_eq!(c.relearn_after, Duration::from_secs(2700));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                field: "spike_tail_probability",
                ..
            })
        ));
        let c: DetectorConfig = serde_json::from_str(r#"{"refresh_every": 70000}"#).unwrap();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                field: "refresh_every",
                ..
            })
        ));
    }
}
