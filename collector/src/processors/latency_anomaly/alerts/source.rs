//! Episodes as alerts for the `alerting` extension (`alerting: <extension id>`): each
//! episode event becomes an [`Alert`] named `LatencyAnomaly`, labelled with the key's fields
//! (`service.name`, `span.name`, ...) and the anomaly `kind`, with the example trace ids and
//! the baseline and worst ratio as evidence.
//!
//! The processor reports an episode once when it opens and once when it closes; the
//! extension resolves alerts that are not sent again within its `resolve_timeout`, so the
//! firing alerts of open episodes are sent again every [`REFRESH_EVERY`] (as Prometheus
//! re-sends firing alerts to Alertmanager every minute).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_anomaly::KeyHash;
use lookout_proto::otlp::common::v1::any_value::Value;
use tokio::time::Instant;

use super::super::episodes::{EpisodeEvent, EpisodeStatus};
use super::webhook::ALERT_NAME;
use crate::core::alert::{Alert, AlertSink, SEVERITY};

/// How often the firing alerts of open episodes are sent again.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// The extension and what was sent to it.
#[derive(Debug)]
pub(crate) struct AlertTarget {
    sink: Arc<dyn AlertSink>,
    /// The processor id, for the extension's `source` label.
    source: String,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Firing alerts of open episodes, bounded by `episodes.max_open`.
    open: HashMap<KeyHash, Alert>,
    last_refresh: Instant,
}

impl AlertTarget {
    /// Sends to `sink` as `source`.
    pub(crate) fn new(sink: Arc<dyn AlertSink>, source: &str) -> AlertTarget {
        AlertTarget {
            sink,
            source: source.to_string(),
            state: Mutex::new(State {
                open: HashMap::new(),
                last_refresh: Instant::now(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the alert of `event`.
    pub(crate) fn send(&self, event: &EpisodeEvent) {
        let alert = to_alert(event);
        {
            let mut state = self.state();
            match event.status {
                EpisodeStatus::Firing => state.open.insert(event.key, alert.clone()),
                EpisodeStatus::Resolved => state.open.remove(&event.key),
            };
        }
        self.sink.send(&self.source, alert);
    }

    /// Sends the firing alerts again when [`REFRESH_EVERY`] has passed.
    pub(crate) fn refresh(&self) {
        let mut state = self.state();
        if state.last_refresh.elapsed() < REFRESH_EVERY {
            return;
        }
        state.last_refresh = Instant::now();
        for alert in state.open.values() {
            self.sink.send(&self.source, alert.clone());
        }
    }
}

/// The alert of one episode event.
pub(crate) fn to_alert(event: &EpisodeEvent) -> Alert {
    let mut alert = Alert::firing(ALERT_NAME, event.starts_at);
    for kv in &event.key_attributes {
        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            Some(Value::IntValue(i)) => i.to_string(),
            Some(Value::BoolValue(b)) => b.to_string(),
            Some(Value::DoubleValue(d)) => d.to_string(),
            _ => continue,
        };
        alert.labels.insert(kv.key.clone(), value);
    }
    alert
        .labels
        .insert("kind".into(), event.kind.as_str().into());
    alert.labels.insert(SEVERITY.into(), "warning".into());
    alert.annotations.insert("summary".into(), event.summary());
    alert.ends_at = event.ends_at;
    alert
        .evidence
        .trace_ids
        .clone_from(&event.example_trace_ids);
    alert.evidence.figures = vec![
        ("baseline_ms".into(), event.baseline_ms),
        ("max_ratio".into(), event.max_ratio),
    ];
    alert
}
