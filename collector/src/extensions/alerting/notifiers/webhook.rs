//! `webhook:` — one JSON POST per notification, either Alertmanager's webhook payload
//! (version 4, what Alertmanager's own `webhook_configs` send, so existing receivers work) or
//! a generic JSON document that keeps the evidence structured.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Headers, JsonPost, rfc3339};
use super::render::annotations_with_evidence;
use super::{Notification, Notifier, NotifyError};
use crate::core::alert::Alert;
use crate::net::client::ClientTlsConfig;

/// Alertmanager's "no end time" value.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `webhook:` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookConfig {
    /// URL to POST to (`http://` or `https://`).
    pub(crate) endpoint: String,
    /// Body shape. Default `alertmanager`.
    #[serde(default)]
    pub(crate) format: WebhookFormat,
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

/// `format:` of the webhook body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WebhookFormat {
    /// Alertmanager's webhook payload, version 4; evidence as annotations.
    #[default]
    Alertmanager,
    /// The notification with the evidence as JSON fields.
    Json,
}

/// The running notifier.
#[derive(Debug)]
pub(crate) struct WebhookNotifier {
    target: JsonPost,
    format: WebhookFormat,
}

/// Builds the notifier; one attempt is bounded by `timeout`.
pub(crate) fn build(config: &WebhookConfig, timeout: Duration) -> Result<WebhookNotifier, String> {
    Ok(WebhookNotifier {
        target: JsonPost::new(&config.endpoint, &config.headers, &config.tls, timeout)?,
        format: config.format,
    })
}

impl Notifier for WebhookNotifier {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let body = match self.format {
                WebhookFormat::Alertmanager => alertmanager_payload(notification),
                WebhookFormat::Json => json_payload(notification),
            };
            self.target.post(&body).await
        })
    }
}

fn alert_status(a: &Alert) -> &'static str {
    if a.is_resolved() {
        "resolved"
    } else {
        "firing"
    }
}

/// Alertmanager's webhook payload (version 4).
pub(crate) fn alertmanager_payload(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": alert_status(a),
                "labels": a.labels,
                "annotations": annotations_with_evidence(a),
                "startsAt": rfc3339(a.starts_at),
                "endsAt": a.ends_at.map_or_else(|| ZERO_TIME.to_string(), rfc3339),
                "generatorURL": a.generator_url.clone().unwrap_or_default(),
                "fingerprint": a.fingerprint().to_string(),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status.as_str(),
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels,
        "commonAnnotations": n.common_annotations,
        "externalURL": n.external_url,
        "alerts": alerts,
    })
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The generic body: the notification with structured evidence.
pub(crate) fn json_payload(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let e = &a.evidence;
            json!({
                "status": alert_status(a),
                "fingerprint": a.fingerprint().to_string(),
                "labels": a.labels,
                "annotations": a.annotations,
                "starts_at": rfc3339(a.starts_at),
                "ends_at": a.ends_at.map(rfc3339),
                "generator_url": a.generator_url,
                "evidence": {
                    "trace_ids": e.trace_ids,
                    "logs": e.logs.iter().map(|l| json!({
                        "trace_id": l.trace_id, "span_id": l.span_id,
                        "time": rfc3339(l.time), "severity": l.severity, "body": l.body,
                    })).collect::<Vec<_>>(),
                    "figures": e.figures.iter().cloned().collect::<BTreeMap<String, f64>>(),
                    "values": e.values.iter().map(|(t, v)| json!([unix_ms(*t), v])).collect::<Vec<_>>(),
                    "host": e.host.map(|h| json!({
                        "at": rfc3339(h.at), "cpu_utilization": h.cpu_utilization,
                        "memory_utilization": h.memory_utilization, "load_1m": h.load_1m,
                    })),
                },
            })
        })
        .collect();
    json!({
        "receiver": n.receiver,
        "status": n.status.as_str(),
        "group_key": n.group_key,
        "group_labels": n.group_labels,
        "common_labels": n.common_labels,
        "common_annotations": n.common_annotations,
        "external_url": n.external_url,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extensions::alerting::notifiers::GroupStatus;

    fn notification() -> Notification {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = Alert::firing("LatencyAnomaly", t0);
        a.labels.insert("service.name".into(), "checkout".into());
        a.evidence.trace_ids = vec!["ab".into()];
        a.evidence.figures = vec![("baseline_ms".into(), 2.5)];
        let mut labels = BTreeMap::new();
        labels.insert("alertname".to_string(), "LatencyAnomaly".to_string());
        Notification {
            receiver: "hook".into(),
            status: GroupStatus::Firing,
            group_key: "{}:{alertname=\"LatencyAnomaly\"}".into(),
            group_labels: labels.clone(),
            common_labels: labels,
            common_annotations: BTreeMap::new(),
            alerts: vec![a],
            external_url: String::new(),
        }
    }

    #[test]
    fn alertmanager_format_is_webhook_version_4() {
        let body = alertmanager_payload(&notification());
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "hook");
        assert_eq!(body["groupLabels"]["alertname"], "LatencyAnomaly");
        let a = &body["alerts"][0];
        assert_eq!(a["labels"]["service.name"], "checkout");
        assert_eq!(a["annotations"]["trace_ids"], "ab");
        assert_eq!(a["annotations"]["baseline_ms"], "2.5");
        assert_eq!(a["endsAt"], ZERO_TIME);
        assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn json_format_keeps_evidence_structured() {
        let body = json_payload(&notification());
        let a = &body["alerts"][0];
        assert_eq!(a["evidence"]["trace_ids"][0], "ab");
        assert_eq!(a["evidence"]["figures"]["baseline_ms"], 2.5);
        assert!(a["ends_at"].is_null());
        assert!(a["evidence"]["host"].is_null());
    }
}
