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
        Ok(())
    }
}
