//! `processors: correlate:` settings.

use std::time::Duration;

use serde::Deserialize;

use crate::component::Validate;

/// Settings of one `correlate` instance (shared by every pipeline that lists it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CorrelateConfig {
    /// Traces held in the window; the least recently active one is evicted beyond it.
    pub(crate) num_traces: usize,
    /// Span summaries kept per trace; further spans are counted and not held (they still flow).
    pub(crate) max_spans_per_trace: usize,
    /// Log summaries kept per trace; further records are counted and not held.
    pub(crate) max_logs_per_trace: usize,
    /// Exemplars kept per trace.
    pub(crate) max_exemplars_per_trace: usize,
    /// Bytes the window may hold in total (accounted as described in the module docs); the
    /// least recently active traces are evicted beyond it.
    pub(crate) max_bytes: usize,
    /// A trace with no activity for this long is evicted.
    #[serde(with = "humantime_serde")]
    pub(crate) ttl: Duration,
    /// How long a log record whose span is not in the window yet may wait for it.
    #[serde(with = "humantime_serde")]
    pub(crate) log_wait: Duration,
    /// Log records that may be held at once (waiting for their span, or queued behind one
    /// that waits); beyond it the oldest held batch goes on as far as it can be enriched
    /// (counted).
    pub(crate) max_waiting_logs: usize,
    /// Largest answer of the trace search APIs.
    pub(crate) max_search_results: usize,
    /// Serve the trace lookup and Jaeger query APIs on the admin listener. One instance per
    /// collector may (the routes are fixed paths).
    pub(crate) api: bool,
    /// `enrich` (default): every span and record flows on, logs are enriched. `sample`: spans
    /// and the records of their trace are held until the trace is decided, then sent on
    /// (kept) or dropped (sampled out, counted).
    pub(crate) mode: Mode,
    /// Sample mode: a trace whose root span arrived is decided once no span of it arrived for
    /// this long.
    #[serde(with = "humantime_serde")]
    pub(crate) quiet_period: Duration,
    /// Sample mode: a trace is decided at the latest this long after its first span or record.
    #[serde(with = "humantime_serde")]
    pub(crate) max_wait: Duration,
    /// Sample mode: percentage (0 to 100) of the traces without an anomaly, an error span, an
    /// error log or a long root that are kept, chosen by a hash of the trace id.
    pub(crate) normal_percent: f64,
    /// Sample mode: a trace whose root span lasts at least this long is kept (0: off).
    #[serde(with = "humantime_serde")]
    pub(crate) min_duration: Duration,
    /// Sample mode: seed of the trace id hash; collectors of one tier must share it to agree.
    pub(crate) hash_seed: u32,
    /// Sample mode: bytes of spans and records held undecided; beyond it the oldest traces are
    /// decided early (counted).
    pub(crate) max_held_bytes: usize,
    /// Sample mode: decisions remembered for spans and records arriving after their trace was
    /// decided; the oldest is forgotten beyond it (counted), and a late item of a forgotten
    /// trace starts a new held trace.
    pub(crate) decision_cache: usize,
}

/// What the processor does with the data it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    /// Index and forward everything; enrich log records.
    #[default]
    Enrich,
    /// Hold each trace until it is decided, then keep or drop it whole.
    Sample,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        CorrelateConfig {
            num_traces: 50_000,
            max_spans_per_trace: 1_000,
            max_logs_per_trace: 1_000,
            max_exemplars_per_trace: 100,
            max_bytes: 256 << 20,
            ttl: Duration::from_secs(300),
            log_wait: Duration::from_secs(2),
            max_waiting_logs: 10_000,
            max_search_results: 1_000,
            api: true,
            mode: Mode::Enrich,
            quiet_period: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
            normal_percent: 10.0,
            min_duration: Duration::ZERO,
            hash_seed: 0,
            max_held_bytes: 64 << 20,
            decision_cache: 100_000,
        }
    }
}

impl Validate for CorrelateConfig {
    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("num_traces", self.num_traces),
            ("max_spans_per_trace", self.max_spans_per_trace),
            ("max_logs_per_trace", self.max_logs_per_trace),
            ("max_bytes", self.max_bytes),
            ("max_waiting_logs", self.max_waiting_logs),
            ("max_search_results", self.max_search_results),
            ("max_held_bytes", self.max_held_bytes),
            ("decision_cache", self.decision_cache),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("{key} must be >= 1"));
            }
        }
        if self.ttl.is_zero() {
            return Err("ttl must be longer than 0s".into());
        }
        if self.log_wait > Duration::from_secs(60) {
            return Err(format!(
                "log_wait must be at most 60s (got {}): records wait in memory",
                humantime::format_duration(self.log_wait)
            ));
        }
        if !(0.0..=100.0).contains(&self.normal_percent) {
            return Err(format!(
                "normal_percent must be between 0 and 100 (got {})",
                self.normal_percent
            ));
        }
        if self.quiet_period.is_zero() {
            return Err("quiet_period must be longer than 0s".into());
        }
        if self.max_wait < self.quiet_period {
            return Err(format!(
                "max_wait ({}) must be at least quiet_period ({})",
                humantime::format_duration(self.max_wait),
                humantime::format_duration(self.quiet_period)
            ));
        }
        if self.max_wait > Duration::from_secs(600) {
            return Err(format!(
                "max_wait must be at most 10m (got {}): traces wait in memory",
                humantime::format_duration(self.max_wait)
            ));
        }
        Ok(())
    }
}
