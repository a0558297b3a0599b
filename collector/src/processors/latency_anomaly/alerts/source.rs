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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use lookout_anomaly::AnomalyKind;

    use super::*;
    use crate::core::otlp_build::{attr, attr_int};

    #[derive(Debug, Default)]
    struct Sink(Mutex<Vec<(String, Alert)>>);

    impl AlertSink for Sink {
        fn send(&self, source: &str, alert: Alert) {
            self.0.lock().unwrap().push((source.to_string(), alert));
        }
    }

    fn event(status: EpisodeStatus) -> EpisodeEvent {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        EpisodeEvent {
            status,
            key: KeyHash(7),
            service: "checkout".into(),
            labels: vec![("service".into(), "checkout".into())],
            key_attributes: vec![
                attr("service.name", "checkout"),
                attr("span.name", "GET /cart"),
                attr_int("http.status", 200),
            ],
            kind: AnomalyKind::Shift,
            baseline_ms: 12.5,
            max_ratio: 3.25,
            example_trace_ids: vec!["ab".repeat(16)],
            first_example: None,
            starts_at: t0,
            ends_at: (status == EpisodeStatus::Resolved).then(|| t0 + Duration::from_secs(60)),
        }
    }

    #[test]
    fn episode_becomes_an_alert_with_its_key_and_evidence() {
        let a = to_alert(&event(EpisodeStatus::Firing));
        assert_eq!(a.name(), "LatencyAnomaly");
        assert_eq!(a.labels["service.name"], "checkout");
        assert_eq!(a.labels["span.name"], "GET /cart");
        assert_eq!(a.labels["http.status"], "200");
        assert_eq!(a.labels["kind"], "shift");
        assert_eq!(a.labels["severity"], "warning");
        assert!(a.annotations["summary"].contains("checkout"));
        assert_eq!(a.evidence.trace_ids, vec!["ab".repeat(16)]);
        assert_eq!(
            a.evidence.figures,
            vec![("baseline_ms".into(), 12.5), ("max_ratio".into(), 3.25)]
        );
        let r = to_alert(&event(EpisodeStatus::Resolved));
        assert!(r.is_resolved() && !a.is_resolved());
        assert_eq!(r.fingerprint(), a.fingerprint(), "resolving the same alert");
    }

    #[tokio::test(start_paused = true)]
    async fn open_episodes_are_sent_again_every_minute_until_resolved() {
        let sink = Arc::new(Sink::default());
        let target = AlertTarget::new(Arc::clone(&sink) as Arc<dyn AlertSink>, "latency_anomaly/x");
        target.send(&event(EpisodeStatus::Firing));
        target.refresh();
        assert_eq!(sink.0.lock().unwrap().len(), 1, "not yet");
        tokio::time::advance(REFRESH_EVERY).await;
        target.refresh();
        assert_eq!(sink.0.lock().unwrap().len(), 2);
        target.send(&event(EpisodeStatus::Resolved));
        tokio::time::advance(REFRESH_EVERY).await;
        target.refresh();
        let sent = sink.0.lock().unwrap();
        assert_eq!(sent.len(), 3, "a resolved episode is not refreshed");
        assert!(sent[2].1.is_resolved());
        assert!(sent.iter().all(|(s, _)| s == "latency_anomaly/x"));
    }
}
