//! The keep rules of sample mode and the trace id hash that makes every collector of a tier
//! choose the same normal traces.

use std::time::Duration;

use super::super::window::TraceId;

/// Why a trace was kept or dropped (the `reason` label of the decision counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A span carried `lookout.latency.anomaly = true`.
    Anomaly,
    /// A span had status `ERROR`.
    ErrorSpan,
    /// A log record of the trace had severity `ERROR` or higher.
    ErrorLog,
    /// The root span lasted at least `min_duration`.
    Duration,
    /// None of the above; chosen (or not) by the trace id hash.
    Normal,
}

impl Reason {
    /// Every reason, in label order.
    pub(crate) const ALL: [Reason; 5] = [
        Reason::Anomaly,
        Reason::ErrorSpan,
        Reason::ErrorLog,
        Reason::Duration,
        Reason::Normal,
    ];

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::Anomaly => "anomaly",
            Reason::ErrorSpan => "error_span",
            Reason::ErrorLog => "error_log",
            Reason::Duration => "duration",
            Reason::Normal => "normal",
        }
    }

    /// Position in [`Reason::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What was seen of a trace that the rules look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Signs {
    pub(crate) anomaly: bool,
    pub(crate) error_span: bool,
    pub(crate) error_log: bool,
    /// Duration of the root span, once it arrived.
    pub(crate) root_duration: Option<u64>,
}

impl Signs {
    /// Adds what another part of the trace showed.
    pub(crate) fn merge(&mut self, other: Signs) {
        self.anomaly |= other.anomaly;
        self.error_span |= other.error_span;
        self.error_log |= other.error_log;
        self.root_duration = self.root_duration.max(other.root_duration);
    }
}

/// A decision: keep or drop, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) keep: bool,
    pub(crate) reason: Reason,
}

/// The keep rules.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Normal traces whose hash is below this are kept (`u64::MAX` keeps all).
    threshold: u64,
    keep_all: bool,
    min_duration: Option<u64>,
    seed: u32,
}

impl Policy {
    /// The rules for `normal_percent` (0 to 100), `min_duration` (zero: off) and `seed`.
    pub(crate) fn new(normal_percent: f64, min_duration: Duration, seed: u32) -> Policy {
        let fraction = (normal_percent / 100.0).clamp(0.0, 1.0);
        // Float to integer casts saturate; the fraction of 2^64 is exact enough for percents.
        let threshold = (fraction * 18_446_744_073_709_551_616.0) as u64;
        Policy {
            threshold,
            keep_all: fraction >= 1.0,
            min_duration: (!min_duration.is_zero())
                .then(|| u64::try_from(min_duration.as_nanos()).unwrap_or(u64::MAX)),
            seed,
        }
    }

    /// Decides a trace from what was seen of it.
    pub(crate) fn decide(&self, id: &TraceId, signs: &Signs) -> Decision {
        let kept = |reason| Decision { keep: true, reason };
        if signs.anomaly {
            return kept(Reason::Anomaly);
        }
        if signs.error_span {
            return kept(Reason::ErrorSpan);
        }
        if signs.error_log {
            return kept(Reason::ErrorLog);
        }
        if let (Some(min), Some(d)) = (self.min_duration, signs.root_duration)
            && d >= min
        {
            return kept(Reason::Duration);
        }
        Decision {
            keep: self.keep_all || hash(self.seed, id) < self.threshold,
            reason: Reason::Normal,
        }
    }
}

/// FNV-1a over the seed (little endian) and the trace id, finished with MurmurHash3's
/// `fmix64` so that ids differing in a few low bits spread over the whole range. Stable
/// across versions and platforms: collectors of one tier must agree.
pub(crate) fn hash(seed: u32, id: &TraceId) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h = OFFSET;
    for b in seed.to_le_bytes().iter().chain(id.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    fmix64(h)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TraceId {
        let mut id = [0u8; 16];
        id[8..].copy_from_slice(&n.to_be_bytes());
        id
    }

    #[test]
    fn the_hash_is_stable() {
        // Pinned: changing it would make collectors of different versions disagree.
        assert_eq!(hash(0, &[0; 16]), hash(0, &[0; 16]));
        assert_eq!(
            hash(0, &id(1)),
            0x850b_a834_e4e8_4726,
            "{:#x}",
            hash(0, &id(1))
        );
        assert_ne!(hash(0, &id(1)), hash(1, &id(1)));
    }

    #[test]
    fn signs_keep_whatever_the_percent() {
        let p = Policy::new(0.0, Duration::from_secs(2), 0);
        let cases = [
            (
                Signs {
                    anomaly: true,
                    ..Signs::default()
                },
                Reason::Anomaly,
            ),
            (
                Signs {
                    error_span: true,
                    ..Signs::default()
                },
                Reason::ErrorSpan,
            ),
            (
                Signs {
                    error_log: true,
                    ..Signs::default()
                },
                Reason::ErrorLog,
            ),
            (
                Signs {
                    root_duration: Some(2_000_000_000),
                    ..Signs::default()
                },
                Reason::Duration,
            ),
        ];
        for (signs, reason) in cases {
            assert_eq!(p.decide(&id(7), &signs), Decision { keep: true, reason });
        }
        let short = Signs {
            root_duration: Some(1_999_999_999),
            ..Signs::default()
        };
        assert_eq!(
            p.decide(&id(7), &short),
            Decision {
                keep: false,
                reason: Reason::Normal
            }
        );
    }

    #[test]
    fn the_normal_fraction_is_within_a_binomial_bound() {
        for percent in [0.0, 1.0, 10.0, 50.0, 100.0] {
            let p = Policy::new(percent, Duration::ZERO, 42);
            let n = 100_000u64;
            let kept = (0..n)
                .filter(|i| p.decide(&id(*i), &Signs::default()).keep)
                .count() as f64;
            let q = percent / 100.0;
            let mean = n as f64 * q;
            let sigma = (n as f64 * q * (1.0 - q)).sqrt();
            assert!(
                (kept - mean).abs() <= 4.0 * sigma,
                "{percent}%: kept {kept} of {n}, expected {mean} ± {}",
                4.0 * sigma
            );
        }
    }

    #[test]
    fn sequential_and_random_ids_spread_alike() {
        // Ids sharing all but their last byte must not fall into one bucket.
        let p = Policy::new(50.0, Duration::ZERO, 0);
        let kept = (0..256u64)
            .filter(|i| p.decide(&id(*i), &Signs::default()).keep)
            .count();
        assert!((64..=192).contains(&kept), "{kept}");
    }
}
