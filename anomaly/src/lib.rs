//! Streaming latency-anomaly tagging for spans.
//!
//! Two detectors share one per-key baseline: a decaying log-space quantile
//! sketch for the *shape* of the duration distribution, placed at a *level*
//! tracked by a faster average so diurnal trends do not look like shifts
//! (see [`Detector`]). Keys are 64-bit hashes ([`KeyRef::hash`]) in a table
//! bounded by `max_keys` (sampled LRU), ~1.4 KiB per key.
//! - a per-span **tail test** against cached thresholds extrapolated from the
//!   sketch's tail: catches spikes;
//! - per-key **sequential tests** (a CUSUM on standardised log-duration and a
//!   Bernoulli CUSUM on exceedances of the baseline p99, and a banded CUSUM
//!   for a fraction of requests slowed): catch step shifts,
//!   ramps, variance inflation and partial shifts. An alarm opens an
//!   *episode*: the baseline is frozen and every span slow against it is
//!   tagged until the key returns to the old level, or until the new level
//!   has held for `relearn_after` of wall time and becomes the baseline.
//!
//! [`Attributor`] then re-labels tagged parents whose extra time is explained
//! by a tagged descendant as `propagated`, with the root span id.
//!
//! The `latency-eval` binary holds the synthetic trace generator, the
//! baselines and the metrics; `EVALUATION.md` has its results.

mod config;
mod detector;
mod error;
mod key;
mod propagation;
mod sketch;
mod verdict;

pub use config::DetectorConfig;
pub use detector::Detector;
pub use error::ConfigError;
pub use key::{KeyField, KeyHash, KeyHasher, KeyRef, default_key_fields};
pub use propagation::{Attributor, Reattribution, SpanTiming};
pub use sketch::LogQuantileSketch;
pub use verdict::{
    ATTR_ANOMALY, ATTR_BASELINE_MS, ATTR_CATEGORY, ATTR_KIND, ATTR_RATIO, ATTR_ROOT_SPAN_ID,
    ATTR_SCORE, AnomalyKind, Category, SpanId, TraceId, Verdict,
};
