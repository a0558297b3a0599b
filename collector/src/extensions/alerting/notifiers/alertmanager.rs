//! `alertmanager:` — posts the group's alerts to Alertmanager's v2 API
//! (`POST {endpoint}/api/v2/alerts`), to every endpoint of an HA cluster; an attempt succeeds
//! when one endpoint accepted them (Alertmanager's peers gossip the rest).
//!
//! Alertmanager takes over grouping and de-duplication from there; Lookout's route decides
//! only which alerts go to it and how often. Alertmanager resolves a firing alert that is
//! not re-posted within its own `resolve_timeout` (5m by default), so give the route that
//! feeds it a `repeat_interval` below that (Prometheus re-sends every minute).
//!
//! Label and annotation names: Alertmanager 0.25 (Debian's) accepts only
//! `[a-zA-Z_][a-zA-Z0-9_]*`, so other characters become `_` (`service.name` →
//! `service_name`), as the OpenTelemetry → Prometheus naming rules do.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Headers, JsonPost, rfc3339};
use super::render::annotations_with_evidence;
use super::{Notification, Notifier, NotifyError};
use crate::core::alert::Alert;
use crate::net::client::ClientTlsConfig;

/// `alertmanager:` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertmanagerConfig {
    /// Base URLs of the Alertmanager instances (`http://host:9093`), one or more for HA.
    pub(crate) endpoints: Vec<String>,
    /// Extra request headers (e.g. `Authorization`); never logged.
    #[serde(default)]
    pub(crate) headers: Headers,
    /// TLS for `https://` endpoints.
    #[serde(
        default,
        deserialize_with = "crate::net::client::tls::deserialize_for_url"
    )]
    pub(crate) tls: ClientTlsConfig,
}

/// The running notifier.
#[derive(Debug)]
pub(crate) struct AlertmanagerNotifier {
    targets: Vec<JsonPost>,
}

/// Builds the notifier; one attempt is bounded by `timeout` per endpoint (posted in parallel).
pub(crate) fn build(
    config: &AlertmanagerConfig,
    timeout: Duration,
) -> Result<AlertmanagerNotifier, String> {
    if config.endpoints.is_empty() {
        return Err("endpoints: list at least one Alertmanager URL".into());
    }
    let targets = config
        .endpoints
        .iter()
        .map(|e| {
            let url = format!("{}/api/v2/alerts", e.trim_end_matches('/'));
            JsonPost::new(&url, &config.headers, &config.tls, timeout)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AlertmanagerNotifier { targets })
}

impl Notifier for AlertmanagerNotifier {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }

    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let body = payload(notification, SystemTime::now());
            let results =
                futures::future::join_all(self.targets.iter().map(|t| t.post(&body))).await;
            let mut retryable = false;
            let mut errors = Vec::new();
            for r in results {
                match r {
                    Ok(()) => return Ok(()),
                    Err(NotifyError::Retryable(e)) => {
                        retryable = true;
                        errors.push(e);
                    }
                    Err(NotifyError::Permanent(e)) => errors.push(e),
                }
            }
            let msg = errors.join("; ");
            Err(if retryable {
                NotifyError::Retryable(msg)
            } else {
                NotifyError::Permanent(msg)
            })
        })
    }
}

/// The v2 `postableAlerts` body. A resolved alert's `endsAt` is when it ended (never later
/// than `now`, so Alertmanager takes it as resolved); a firing one has none.
pub(crate) fn payload(n: &Notification, now: SystemTime) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| alert(a, now, &n.external_url))
        .collect();
    Value::Array(alerts)
}

fn alert(a: &Alert, now: SystemTime, external_url: &str) -> Value {
    let labels: BTreeMap<String, String> = a
        .labels
        .iter()
        .map(|(k, v)| (sanitize(k), v.clone()))
        .collect();
    let annotations: BTreeMap<String, String> = annotations_with_evidence(a)
        .into_iter()
        .map(|(k, v)| (sanitize(&k), v))
        .collect();
    let mut out = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(a.starts_at),
    });
    if let Some(end) = a.ends_at {
        out["endsAt"] = rfc3339(end.min(now)).into();
    }
    let url = a
        .generator_url
        .clone()
        .unwrap_or_else(|| external_url.to_string());
    if !url.is_empty() {
        out["generatorURL"] = url.into();
    }
    out
}

/// A name Alertmanager's legacy validation accepts.
pub(crate) fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extensions::alerting::notifiers::GroupStatus;

    #[test]
    fn payload_has_the_v2_shape_with_sanitised_names_and_resolved_end() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut firing = Alert::firing("LatencyAnomaly", t0);
        firing
            .labels
            .insert("service.name".into(), "checkout".into());
        firing.evidence.trace_ids = vec!["ab".into()];
        let mut resolved = firing.clone();
        resolved.labels.insert("9x".into(), "y".into());
        resolved.ends_at = Some(t0 + Duration::from_secs(3600));
        let n = Notification {
            receiver: "am".into(),
            status: GroupStatus::Firing,
            group_key: "k".into(),
            group_labels: BTreeMap::new(),
            common_labels: BTreeMap::new(),
            common_annotations: BTreeMap::new(),
            alerts: vec![firing, resolved],
            external_url: "http://127.0.0.1:8888".into(),
        };
        let now = t0 + Duration::from_secs(60);
        let body = payload(&n, now);
        assert_eq!(body[0]["labels"]["service_name"], "checkout");
        assert_eq!(body[0]["labels"]["alertname"], "LatencyAnomaly");
        assert_eq!(body[0]["annotations"]["trace_ids"], "ab");
        assert_eq!(body[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert!(body[0].get("endsAt").is_none());
        assert_eq!(body[0]["generatorURL"], "http://127.0.0.1:8888");
        // An end in the future would read as firing: clamped to now.
        assert_eq!(body[1]["endsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(body[1]["labels"]["_9x"], "y");
    }
}
