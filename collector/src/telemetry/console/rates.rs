//! Per-second rates of self-metric counters, for the console: the values now against a sample
//! taken at least [`MIN_SPACING`] and at most [`WINDOW`] ago (Prometheus's `rate()` over the
//! last half minute, without a scraper).
//!
//! Samples are taken when the console asks (no background task), at most one per
//! [`MIN_SPACING`], and at most [`MAX_SAMPLES`] are kept. The first sample is the zero of every
//! counter at the moment the console state was created (the collector's start): counters
//! start at zero, so a page opened seconds after data arrived already sees a rate.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::super::SeriesValue;

/// Rates are computed over at most this long.
pub(crate) const WINDOW: Duration = Duration::from_secs(30);
/// Samples closer together than this are not kept (a second poller adds no sample).
pub(crate) const MIN_SPACING: Duration = Duration::from_secs(1);
/// Most samples kept (`WINDOW / MIN_SPACING` and one baseline fit).
pub(crate) const MAX_SAMPLES: usize = 32;

/// A series' identity: its name and labels, rendered once.
pub(crate) type Key = (String, Vec<(&'static str, String)>);

struct Sample {
    at: Instant,
    values: HashMap<Key, f64>,
}

/// The kept samples, oldest first.
pub(crate) struct Rates {
    samples: VecDeque<Sample>,
}

/// The values now and the per-second change of each since the baseline sample.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Every series' value now.
    pub(crate) now: HashMap<Key, f64>,
    /// Seconds between the baseline and now (`None`: no baseline yet).
    pub(crate) seconds: Option<f64>,
    baseline: HashMap<Key, f64>,
}

impl Observed {
    /// The value of `key` now, if it exists.
    pub(crate) fn value(&self, key: &Key) -> Option<f64> {
        self.now.get(key).copied()
    }

    /// The per-second increase of counter `key` over the window (a series younger than the
    /// baseline counts from zero; a counter that went down counts from its new value).
    pub(crate) fn rate(&self, key: &Key) -> Option<f64> {
        let now = *self.now.get(key)?;
        let seconds = self.seconds?;
        let before = self.baseline.get(key).copied().unwrap_or(0.0);
        let increase = if now >= before { now - before } else { now };
        Some(increase / seconds)
    }
}

impl Rates {
    /// Starts with the all-zero sample at `start`.
    pub(crate) fn new(start: Instant) -> Rates {
        let mut samples = VecDeque::with_capacity(MAX_SAMPLES);
        samples.push_back(Sample {
            at: start,
            values: HashMap::new(),
        });
        Rates { samples }
    }

    /// Records `values` taken at `now` and returns them with the oldest sample within
    /// [`WINDOW`] (or the newest older one, when none is) as the baseline.
    pub(crate) fn observe(&mut self, now: Instant, values: Vec<SeriesValue>) -> Observed {
        let values: HashMap<Key, f64> = values
            .into_iter()
            .map(|v| ((v.name, v.labels), v.value))
            .collect();
        // Keep one sample at or just past the window's start as the baseline.
        while self.samples.len() > 1
            && self
                .samples
                .get(1)
                .is_some_and(|s| now.saturating_duration_since(s.at) >= WINDOW)
        {
            self.samples.pop_front();
        }
        let baseline = self
            .samples
            .iter()
            .find(|s| now.saturating_duration_since(s.at) >= MIN_SPACING);
        let observed = Observed {
            seconds: baseline.map(|s| now.saturating_duration_since(s.at).as_secs_f64()),
            baseline: baseline.map(|s| s.values.clone()).unwrap_or_default(),
            now: values.clone(),
        };
        let spaced = self
            .samples
            .back()
            .is_none_or(|last| now.saturating_duration_since(last.at) >= MIN_SPACING);
        if spaced {
            if self.samples.len() >= MAX_SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back(Sample { at: now, values });
        }
        observed
    }

    /// Samples kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.samples.len()
    }
}
