//! The webhook notifier: Prometheus Alertmanager webhook JSON (version 4), one POST per
//! key's event, retried with the shared client backoff on connection errors, 429 and 5xx
//! (honouring `Retry-After` up to `retry.max_interval`).

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::net::client::{self, Backoff, retry};
use crate::processors::latency_anomaly::config::WebhookConfig;
use crate::processors::latency_anomaly::episodes::EpisodeEvent;

/// The `alertname` label of every alert.
pub(crate) const ALERT_NAME: &str = "LatencyAnomaly";

/// Alertmanager's "no end time" value.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebhookError {
    /// The settings cannot produce a client.
    #[error("alerts.webhook: {0}")]
    Config(String),
    /// The endpoint answered with a status that retrying will not fix.
    #[error("webhook answered {0}")]
    Rejected(reqwest::StatusCode),
    /// Every attempt failed; the last error.
    #[error("webhook failed after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// A prepared client for one endpoint.
#[derive(Debug)]
pub(crate) struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    receiver: String,
    retry: Backoff,
}

impl Webhook {
    pub(crate) fn new(config: &WebhookConfig) -> Result<Webhook, WebhookError> {
        let err = WebhookError::Config;
        let url = reqwest::Url::parse(&config.endpoint)
            .map_err(|e| err(format!("endpoint {:?}: {e}", config.endpoint)))?;
        let headers = client::header_map(&config.headers).map_err(err)?;
        // HTTP/1.1 only, as reqwest offers without its http2 feature.
        let tls =
            client::client_config(&config.tls, &[b"http/1.1"]).map_err(|e| err(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| err(format!("cannot build HTTP client: {e}")))?;
        Ok(Webhook {
            client,
            url,
            headers,
            receiver: config.receiver.clone(),
            retry: config.retry.backoff(),
        })
    }

    /// POSTs `event`, retrying as configured. Returns the attempts made on success.
    pub(crate) async fn deliver(&self, event: &EpisodeEvent) -> Result<u32, WebhookError> {
        let body = payload(event, &self.receiver);
        let mut backoff = self.retry.start();
        loop {
            let sent = self
                .client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .json(&body)
                .send()
                .await;
            let (last, server_delay) = match sent {
                Ok(r) if r.status().is_success() => return Ok(backoff.attempts() + 1),
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => (
                    format!("status {}", r.status()),
                    retry::retry_after(r.headers()),
                ),
                Ok(r) => return Err(WebhookError::Rejected(r.status())),
                Err(e) => (e.to_string(), None),
            };
            match backoff.next_delay(server_delay) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    return Err(WebhookError::GaveUp {
                        attempts: backoff.attempts(),
                        last,
                    });
                }
            }
        }
    }
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The alert's identity: `alertname`, the key fields and the anomaly kind.
pub(crate) fn alert_labels(event: &EpisodeEvent) -> Map<String, Value> {
    let mut labels = Map::new();
    labels.insert("alertname".into(), ALERT_NAME.into());
    for (k, v) in &event.labels {
        labels.insert(k.clone(), Value::String(v.clone()));
    }
    labels.insert("kind".into(), event.kind.as_str().into());
    labels
}

/// Alertmanager's group key format: `{}:{label="value",...}` over the sorted labels.
fn group_key(labels: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = labels.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", Value::to_string(v)))
        .collect();
    format!("{{}}:{{{}}}", inner.join(","))
}

/// The webhook body for one event: a group of one alert (grouping is per key).
pub(crate) fn payload(event: &EpisodeEvent, receiver: &str) -> Value {
    let labels = alert_labels(event);
    let status = event.status.as_str();
    let annotations = json!({
        "summary": event.summary(),
        "baseline_ms": format!("{:.3}", event.baseline_ms),
        "ratio": format!("{:.3}", event.max_ratio),
        "example_trace_ids": event.example_trace_ids.join(","),
    });
    let ends_at = event
        .ends_at
        .map(rfc3339)
        .unwrap_or_else(|| ZERO_TIME.into());
    json!({
        "version": "4",
        "groupKey": group_key(&labels),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": labels.clone(),
        "commonLabels": labels.clone(),
        "commonAnnotations": annotations.clone(),
        "externalURL": "",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(event.starts_at),
            "endsAt": ends_at,
            "generatorURL": "",
            "fingerprint": format!("{:016x}", event.key.0),
        }],
    })
}
