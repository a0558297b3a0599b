//! The store's self-metrics (`lookout_store_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::core::Signal;
use crate::telemetry::Telemetry;

/// What one signal's data reports.
#[derive(Debug, Clone)]
pub(crate) struct SignalMetrics {
    /// Bytes of its segments and write-ahead log.
    pub bytes: Gauge,
    /// Its closed segments.
    pub segments: Gauge,
    /// Items written (acknowledged).
    pub items: Counter,
    /// Segments deleted because they were older than `max_age`.
    pub deleted_age: Counter,
    /// Segments deleted to stay within `max_bytes`.
    pub deleted_size: Counter,
    /// Batches refused because the write-ahead log alone would exceed `max_bytes`.
    pub refused: Counter,
}

/// Everything the store reports.
#[derive(Debug, Clone)]
pub(crate) struct StoreMetrics {
    traces: SignalMetrics,
    metrics: SignalMetrics,
    logs: SignalMetrics,
    /// Segments found damaged, moved to `quarantine/`.
    pub corrupt_segments: Counter,
    /// Batches replayed from the write-ahead log at start-up.
    pub replayed: Counter,
    /// Alert state changes not kept: the alert history queue was full.
    pub dropped_alerts: Counter,
}

impl StoreMetrics {
    /// Registers the metrics of exporter `id`.
    pub(crate) fn new(telemetry: &Telemetry, id: &str) -> StoreMetrics {
        let signal = |s: Signal| {
            let labels = || {
                vec![
                    ("exporter", id.to_string()),
                    ("signal", s.as_str().to_string()),
                ]
            };
            let deleted = |reason: &str| {
                let mut l = labels();
                l.push(("reason", reason.to_string()));
                telemetry.counter(
                    "store_deleted_segments",
                    "Segments the store deleted, by reason (age: older than max_age; size: to stay within max_bytes).",
                    l,
                )
            };
            SignalMetrics {
                bytes: telemetry.gauge(
                    "store_bytes",
                    "Bytes on disk of the store's segments and write-ahead log (what retention max_bytes bounds).",
                    labels(),
                ),
                segments: telemetry.gauge("store_segments", "Closed Parquet segments in the store.", labels()),
                items: telemetry.counter(
                    "store_written_items",
                    "Spans, metric values or log records written to the store's write-ahead log.",
                    labels(),
                ),
                deleted_age: deleted("age"),
                deleted_size: deleted("size"),
                refused: telemetry.counter(
                    "store_refused_batches",
                    "Batches the store refused (retryable) because its write-ahead log alone would exceed max_bytes.",
                    labels(),
                ),
            }
        };
        let labels = || vec![("exporter", id.to_string())];
        StoreMetrics {
            traces: signal(Signal::Traces),
            metrics: signal(Signal::Metrics),
            logs: signal(Signal::Logs),
            corrupt_segments: telemetry.counter(
                "store_corrupt_segments",
                "Store segments that failed to read back, moved to quarantine/ and skipped.",
                labels(),
            ),
            replayed: telemetry.counter(
                "store_replayed_batches",
                "Batches replayed from the store's write-ahead log at start-up.",
                labels(),
            ),
            dropped_alerts: telemetry.counter(
                "store_dropped_alert_changes",
                "Alert state changes the store did not keep because its alert history queue was full.",
                labels(),
            ),
        }
    }

    /// The metrics of `signal`.
    pub(crate) fn signal(&self, signal: Signal) -> &SignalMetrics {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }
}
