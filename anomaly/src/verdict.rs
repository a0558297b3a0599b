//! What the detector says about one span, and the attribute names the
//! processor writes.

use std::fmt;

/// `lookout.latency.anomaly` (bool).
pub const ATTR_ANOMALY: &str = "lookout.latency.anomaly";
/// `lookout.latency.score` (f64): tail probability for `spike`, robust z otherwise.
pub const ATTR_SCORE: &str = "lookout.latency.score";
/// `lookout.latency.kind` (string): see [`AnomalyKind`].
pub const ATTR_KIND: &str = "lookout.latency.kind";
/// `lookout.latency.baseline_ms` (f64): the key's baseline median.
pub const ATTR_BASELINE_MS: &str = "lookout.latency.baseline_ms";
/// `lookout.latency.ratio` (f64): duration / baseline median.
pub const ATTR_RATIO: &str = "lookout.latency.ratio";
/// `lookout.latency.root_span_id` (hex string), on `propagated` spans.
pub const ATTR_ROOT_SPAN_ID: &str = "lookout.latency.root_span_id";
/// Optional `latency.category` (`slow` | `very_slow`).
pub const ATTR_CATEGORY: &str = "latency.category";

/// Why a span was tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// The span alone is improbably slow for its key (tail test).
    Spike,
    /// The key's typical duration moved up (mean CUSUM episode).
    Shift,
    /// The key's tail got heavier without (much) median change: variance
    /// inflation, a fraction of requests slowed (exceedance CUSUM episode).
    Degradation,
    /// The span is slow because a descendant in the same trace is.
    Propagated,
    /// The span lies beyond the spike threshold while such spans arrive far
    /// more often than the baseline's tail allows (a sequential test on
    /// their count): an intermittent failure, e.g. a downstream timeout hit
    /// by a few percent of requests.
    Intermittent,
}

impl AnomalyKind {
    /// Attribute value for `lookout.latency.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::Shift => "shift",
            Self::Degradation => "degradation",
            Self::Propagated => "propagated",
            Self::Intermittent => "intermittent",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Value of the optional `latency.category` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Tagged, tail probability above `very_slow_tail_probability`.
    Slow,
    /// Tail probability below `very_slow_tail_probability`.
    VerySlow,
}

impl Category {
    /// Attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slow => "slow",
            Self::VerySlow => "very_slow",
        }
    }
}

/// An 8-byte OTLP span id.
pub type SpanId = [u8; 8];
/// A 16-byte OTLP trace id.
pub type TraceId = [u8; 16];

/// Result of [`crate::Detector::observe`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// `None` for a normal span.
    pub kind: Option<AnomalyKind>,
    /// Tail probability (spikes) or robust z against the pre-episode baseline.
    pub score: f64,
    /// Baseline median of the key in ms (0 while the key is warming up).
    pub baseline_ms: f64,
    /// Duration / baseline median (0 while warming up).
    pub ratio: f64,
    /// Optional coarse category (set only when tagged).
    pub category: Option<Category>,
    /// Span whose own anomaly explains this one (set by [`crate::Attributor`]).
    pub root_span_id: Option<SpanId>,
    /// The key has fewer than `min_samples` spans: no judgement was made.
    pub warming_up: bool,
    /// Duration (ms) above which the rule that judged this span tags it: the
    /// spike threshold (for a mature key with a light tail, the less padded
    /// one it tags at), or the episode's tagging quantile while an episode
    /// is open (0 while warming up). [`crate::Attributor`] uses it to ask
    /// whether a span would still be tagged without its child's excess.
    pub threshold_ms: f64,
    /// The key has an open episode (shift or degradation) at this span, so
    /// even an untagged span may carry the episode's slowness to its parent.
    pub episode_open: bool,
}

impl Verdict {
    /// A verdict for a span of a key still warming up.
    pub(crate) fn warmup() -> Self {
        Self {
            kind: None,
            score: 0.0,
            baseline_ms: 0.0,
            ratio: 0.0,
            category: None,
            root_span_id: None,
            warming_up: true,
            threshold_ms: 0.0,
            episode_open: false,
        }
    }

    /// True when the span should carry `lookout.latency.anomaly=true`.
    pub fn is_anomalous(&self) -> bool {
        self.kind.is_some()
    }
}
