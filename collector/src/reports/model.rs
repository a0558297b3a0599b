//! What a report holds: one [`Report`], serialised as the JSON format (its shape is
//! documented in docs/reports.md, "JSON") and rendered as HTML and CSV.

use std::collections::BTreeMap;

use serde::Serialize;

use super::forecast::Backtest;

/// One report over `[from_ms, to_ms)`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// When it was made, RFC 3339.
    pub generated_at: String,
    /// Start of the range, Unix milliseconds (inclusive).
    pub from_ms: i64,
    /// End of the range, Unix milliseconds (exclusive).
    pub to_ms: i64,
    /// RED per service, busiest first.
    pub services: Vec<ServiceSummary>,
    /// Latency anomaly episodes of the range, ranked by impact (most extra time first).
    pub episodes: Vec<EpisodeSummary>,
    /// Where ERROR and worse log records came from, most first.
    pub error_logs: Vec<LogHotSpot>,
    /// Host utilisation over the range.
    pub host: Vec<HostFigure>,
    /// Alert state changes in the range, oldest first.
    pub alerts: Vec<AlertSummary>,
    /// Forecasts, each with its method and backtested error.
    pub forecasts: Vec<Forecast>,
    /// What could not be read or computed, in words.
    pub notes: Vec<String>,
}

/// RED of one service.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServiceSummary {
    /// `service.name`.
    pub service: String,
    /// Spans in the range.
    pub requests: u64,
    /// Spans per second over the range.
    pub rate_per_s: f64,
    /// Spans with error status.
    pub errors: u64,
    /// `errors / requests`, 0–1.
    pub error_rate: f64,
    /// Percentiles of span duration, milliseconds (log-scale histogram bucket bounds).
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p95_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// The slowest operations by p95, at most five.
    pub slowest_operations: Vec<OperationSummary>,
}

/// RED of one operation of a service.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OperationSummary {
    /// Span name.
    pub operation: String,
    /// Spans.
    pub requests: u64,
    /// Spans with error status.
    pub errors: u64,
    /// Mean duration, milliseconds.
    pub mean_ms: f64,
    /// p95 duration, milliseconds.
    pub p95_ms: f64,
}

/// One latency anomaly episode and what it cost.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EpisodeSummary {
    /// 1 = fix first.
    pub rank: usize,
    /// Service of the episode's key.
    pub service: String,
    /// Operation (span name), empty when the key has none.
    pub operation: String,
    /// `shift`, `degradation`, `spike`, `intermittent`, ...
    pub kind: String,
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// End, Unix milliseconds; `None` while it is still open at the end of the range.
    pub end_ms: Option<i64>,
    /// The detector's baseline, milliseconds.
    pub baseline_ms: f64,
    /// Largest observed / baseline ratio.
    pub max_ratio: f64,
    /// Requests of the key during the episode.
    pub requests: u64,
    /// Their mean duration during the episode, milliseconds.
    pub observed_ms: f64,
    /// Impact: (observed − baseline) × requests, in seconds of added latency.
    pub extra_latency_s: f64,
    /// Example trace ids (hex).
    pub example_trace_ids: Vec<String>,
    /// The detector's summary (its root-cause attribution).
    pub summary: String,
}

/// A source of ERROR-or-worse log records.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogHotSpot {
    /// `service.name` of the records.
    pub service: String,
    /// The body (first 200 characters, digits folded to `#` so that ids group together).
    pub message: String,
    /// Records.
    pub count: u64,
    /// First record, Unix milliseconds.
    pub first_ms: i64,
    /// Last record, Unix milliseconds.
    pub last_ms: i64,
    /// A trace id of one of them (hex), empty if none carried one.
    pub example_trace_id: String,
}

/// Average and peak of one host metric.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HostFigure {
    /// `cpu`, `memory`, `filesystem`, `load_1m`.
    pub metric: String,
    /// The mountpoint for `filesystem`, else empty.
    pub subject: String,
    /// Mean over the range (utilisations 0–1).
    pub avg: f64,
    /// Largest value seen.
    pub max: f64,
}

/// One alert state change.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AlertSummary {
    /// When the state was recorded, Unix milliseconds.
    pub time_ms: i64,
    /// `alertname` label.
    pub alertname: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// Every label.
    pub labels: BTreeMap<String, String>,
    /// The `summary` (or `description`) annotation.
    pub summary: String,
}

/// A forecast of one series.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Forecast {
    /// `filesystem`, `memory`, `request_rate`, `p95_latency`.
    pub metric: String,
    /// The mountpoint, the service, or empty.
    pub subject: String,
    /// `ratio` (0–1), `requests/s` or `ms`.
    pub unit: String,
    /// `theil-sen`, `holt-winters-daily`, or `none` (history too short).
    pub method: String,
    /// Hourly points of history used.
    pub history_points: usize,
    /// Last value of the history (hourly mean).
    pub current: Option<f64>,
    /// Trend per day (Theil–Sen slope; Holt-Winters' trend term).
    pub trend_per_day: Option<f64>,
    /// Forecast value 7 days after the end of the history.
    pub in_7_days: Option<f64>,
    /// When the series reaches its limit (filesystems: full), if it is rising.
    pub limit: Option<LimitCrossing>,
    /// The method's error on the held-out end of the history.
    pub backtest: Option<Backtest>,
    /// Why there is no forecast, or a caveat.
    pub note: String,
}

/// When a rising series is forecast to reach its limit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LimitCrossing {
    /// The limit (1.0 = a full filesystem).
    pub limit: f64,
    /// Days after the end of the history.
    pub days: f64,
    /// Earliest, with the forecast raised by the backtest's MAE.
    pub days_low: f64,
    /// Latest, with the forecast lowered by the backtest's MAE (infinite: maybe never).
    pub days_high: Option<f64>,
    /// The crossing, Unix milliseconds.
    pub at_ms: i64,
}
