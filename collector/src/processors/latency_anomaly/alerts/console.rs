//! The console notifier: one WARN line per episode event on the collector's own log.

use crate::processors::latency_anomaly::episodes::EpisodeEvent;

/// Logs `event`.
pub(crate) fn log(event: &EpisodeEvent) {
    let key: Vec<String> = event
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    tracing::warn!(
        status = event.status.as_str(),
        kind = event.kind.as_str(),
        key = %key.join(" "),
        baseline_ms = event.baseline_ms,
        max_ratio = event.max_ratio,
        example_trace_ids = %event.example_trace_ids.join(","),
        "latency anomaly episode {}",
        event.status.as_str()
    );
}
