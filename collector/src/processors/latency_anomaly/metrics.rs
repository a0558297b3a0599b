//! Self-metrics of the processor (`lookout_latency_anomaly_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::alerts::AlertMetrics;
use super::handoff::HandoffMetrics;
use super::tagger::KINDS;
use crate::telemetry::Telemetry;

/// Counters and gauges of one processor instance in one pipeline.
#[derive(Debug, Clone)]
pub(crate) struct LatencyMetrics {
    /// Tagged spans by kind (spike, shift, degradation, propagated, intermittent).
    pub(crate) tagged: [Counter; 5],
    /// Requests forwarded untagged because they could not be read.
    pub(crate) errors: Counter,
    /// Keys tracked by the detector.
    pub(crate) keys: Gauge,
    /// Keys evicted by the detector's LRU so far.
    pub(crate) evictions: Gauge,
    /// Episodes opened.
    pub(crate) episodes_fired: Counter,
    /// Episodes closed.
    pub(crate) episodes_resolved: Counter,
    /// Episodes open now.
    pub(crate) episodes_open: Gauge,
    /// Episodes not tracked because `episodes.max_open` were open.
    pub(crate) episode_overflow: Gauge,
    /// Notifier counters.
    pub(crate) alerts: AlertMetrics,
    /// Episode log records handed to `events.pipelines`.
    pub(crate) events: HandoffMetrics,
    /// RED data points handed to `red_metrics.pipelines`.
    pub(crate) red: HandoffMetrics,
    /// RED series kept (the overflow series not included).
    pub(crate) red_series: Gauge,
    /// Spans counted in the RED overflow series.
    pub(crate) red_overflow: Counter,
}

impl LatencyMetrics {
    /// Registers the series for `processor` in `pipeline`.
    pub(crate) fn new(telemetry: &Telemetry, processor: &str, pipeline: &str) -> LatencyMetrics {
        let labels = || {
            vec![
                ("processor", processor.to_string()),
                ("pipeline", pipeline.to_string()),
            ]
        };
        let with = |k: &'static str, v: &str| {
            let mut l = labels();
            l.push((k, v.to_string()));
            l
        };
        let tagged = KINDS.map(|kind| {
            telemetry.counter(
                "latency_anomaly_tagged_spans",
                "Spans tagged as latency anomalies, by kind.",
                with("kind", kind.as_str()),
            )
        });
        let alert =
            |name: &str, help: &str| telemetry.counter(name, help, with("notifier", "webhook"));
        let handoff = |signal: &str| {
            HandoffMetrics {
            sent: telemetry.counter(
                "latency_anomaly_emitted_items",
                "Episode log records and RED data points handed to the pipelines named in events.pipelines and red_metrics.pipelines, counted per pipeline.",
                with("signal", signal),
            ),
            dropped: telemetry.counter(
                "latency_anomaly_emit_dropped_items",
                "Episode log records and RED data points dropped because a target pipeline was full or closed.",
                with("signal", signal),
            ),
        }
        };
        LatencyMetrics {
            tagged,
            errors: telemetry.counter(
                "latency_anomaly_errors",
                "Trace requests forwarded untagged because they could not be read.",
                labels(),
            ),
            keys: telemetry.gauge(
                "latency_anomaly_keys",
                "Keys tracked by the latency detector.",
                labels(),
            ),
            evictions: telemetry.gauge(
                "latency_anomaly_key_evictions",
                "Keys evicted by the detector's LRU since start.",
                labels(),
            ),
            episodes_fired: telemetry.counter(
                "latency_anomaly_episodes",
                "Latency anomaly episodes, by status.",
                with("status", "firing"),
            ),
            episodes_resolved: telemetry.counter(
                "latency_anomaly_episodes",
                "Latency anomaly episodes, by status.",
                with("status", "resolved"),
            ),
            episodes_open: telemetry.gauge(
                "latency_anomaly_open_episodes",
                "Latency anomaly episodes open now.",
                labels(),
            ),
            episode_overflow: telemetry.gauge(
                "latency_anomaly_untracked_episodes",
                "Episodes not tracked because episodes.max_open were open.",
                labels(),
            ),
            alerts: AlertMetrics {
                sent: alert(
                    "latency_anomaly_alerts_sent",
                    "Alert notifications delivered.",
                ),
                failed: alert(
                    "latency_anomaly_alerts_failed",
                    "Alert notifications given up on after retries.",
                ),
                dropped: telemetry.counter(
                    "latency_anomaly_alerts_dropped",
                    "Episode events dropped because the notifier queue was full.",
                    labels(),
                ),
                coalesced: alert(
                    "latency_anomaly_alerts_coalesced",
                    "Alert notifications replaced by a later one within min_interval.",
                ),
            },
            events: handoff("logs"),
            red: handoff("metrics"),
            red_series: telemetry.gauge(
                "latency_anomaly_red_series",
                "RED metric series kept (the overflow series not included).",
                labels(),
            ),
            red_overflow: telemetry.counter(
                "latency_anomaly_red_overflow_spans",
                "Spans counted in the RED overflow series because red_metrics.max_series were kept.",
                labels(),
            ),
        }
    }
}
