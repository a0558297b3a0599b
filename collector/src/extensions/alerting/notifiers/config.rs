//! `notifiers:` — one entry per named notifier: its type as the only key, holding the
//! type's settings plus the settings every notifier shares (`timeout`, `retry`,
//! `queue_size`).
//!
//! ```yaml
//! notifiers:
//!   am:   {alertmanager: {endpoints: [http://127.0.0.1:9093], timeout: 5s}}
//!   hook: {webhook: {endpoint: https://hooks.example/x, format: json, retry: {max_elapsed_time: 1m}}}
//!   log:  {console: {}}
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::alertmanager::AlertmanagerConfig;
use super::console::ConsoleConfig;
use super::email::EmailConfig;
use super::sms::SmsConfig;
use super::webhook::WebhookConfig;
use super::{Notifier, alertmanager, console, email, sms, webhook};
use crate::net::client::Backoff;

/// One named notifier.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NotifierConfig {
    /// The type and its own settings.
    pub(crate) kind: NotifierKind,
    /// Delivery settings shared by every type.
    pub(crate) delivery: DeliveryConfig,
}

/// The notifier types and their settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NotifierKind {
    /// `alertmanager:` — Alertmanager's v2 API.
    Alertmanager(AlertmanagerConfig),
    /// `webhook:` — JSON POST (generic or Alertmanager's webhook payload).
    Webhook(WebhookConfig),
    /// `console:` — one log line per alert.
    Console(ConsoleConfig),
    /// `email:` — SMTP (STARTTLS, implicit TLS or a plain local relay), text + HTML bodies.
    Email(EmailConfig),
    /// `sms:` — Twilio's Messages API or a templated HTTP gateway, one line per SMS.
    Sms(SmsConfig),
}

/// The type names, for errors.
const KINDS: &str = "`alertmanager`, `webhook`, `console`, `email`, `sms`";

impl NotifierKind {
    /// The type name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            NotifierKind::Alertmanager(_) => "alertmanager",
            NotifierKind::Webhook(_) => "webhook",
            NotifierKind::Console(_) => "console",
            NotifierKind::Email(_) => "email",
            NotifierKind::Sms(_) => "sms",
        }
    }

    /// Builds the notifier; fails on settings that cannot make a client (a bad URL, a
    /// missing CA file), so `lookout validate` reports them.
    pub(crate) fn build(&self, delivery: &DeliveryConfig) -> Result<Arc<dyn Notifier>, String> {
        Ok(match self {
            NotifierKind::Alertmanager(c) => Arc::new(alertmanager::build(c, delivery.timeout)?),
            NotifierKind::Webhook(c) => Arc::new(webhook::build(c, delivery.timeout)?),
            NotifierKind::Console(c) => Arc::new(console::build(c)),
            // The shared `timeout` bounds the whole attempt (connect, TLS, every command).
            NotifierKind::Email(c) => Arc::new(email::build(&EmailConfig {
                timeout: delivery.timeout,
                ..c.clone()
            })?),
            NotifierKind::Sms(c) => Arc::new(sms::build(&SmsConfig {
                timeout: delivery.timeout,
                ..c.clone()
            })?),
        })
    }
}

/// `timeout`, `retry` and `queue_size` of any notifier.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DeliveryConfig {
    /// Time allowed for one attempt. Default 10s.
    #[serde(with = "humantime_serde")]
    pub(crate) timeout: Duration,
    /// Retries of failed attempts.
    pub(crate) retry: NotifierRetryConfig,
    /// Notifications waiting for this notifier; when full, new ones are dropped (counted).
    /// Default 100.
    pub(crate) queue_size: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: Duration::from_secs(10),
            retry: NotifierRetryConfig::default(),
            queue_size: 100,
        }
    }
}

/// `retry:` — exponential backoff with jitter, as the exporters' `retry_on_failure`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NotifierRetryConfig {
    /// Wait after the first failure. Default 1s.
    #[serde(with = "humantime_serde")]
    pub(crate) initial_interval: Duration,
    /// Longest wait. Default 30s.
    #[serde(with = "humantime_serde")]
    pub(crate) max_interval: Duration,
    /// Give up on a notification after this long. Default 5m.
    #[serde(with = "humantime_serde")]
    pub(crate) max_elapsed_time: Duration,
}

impl Default for NotifierRetryConfig {
    fn default() -> Self {
        NotifierRetryConfig {
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl NotifierRetryConfig {
    /// The shared client backoff with these settings.
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff {
            initial_interval: self.initial_interval,
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_interval: self.max_interval,
            max_elapsed_time: Some(self.max_elapsed_time),
            max_attempts: None,
            // One worker per notifier delivers in turn: a long Retry-After would hold the rest.
            max_server_delay: Some(self.max_interval),
        }
    }
}

impl DeliveryConfig {
    /// Checks the values (the key path is added by the caller).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err("timeout must be > 0".into());
        }
        if self.queue_size == 0 {
            return Err("queue_size must be >= 1".into());
        }
        if self.retry.initial_interval > self.retry.max_interval {
            return Err("retry.initial_interval must not exceed retry.max_interval".into());
        }
        Ok(())
    }
}

/// The shared keys, split off before the type's own struct (which denies unknown fields)
/// sees the rest: serde's `flatten` would silently drop `deny_unknown_fields`.
const DELIVERY_KEYS: [&str; 3] = ["timeout", "retry", "queue_size"];

impl<'de> Deserialize<'de> for NotifierConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let outer = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let mut entries = outer.into_iter();
        let (Some((kind, body)), None) = (entries.next(), entries.next()) else {
            return Err(D::Error::custom(format!(
                "a notifier has exactly one key, its type: one of {KINDS}"
            )));
        };
        let mut body = match body {
            serde_json::Value::Null => serde_json::Map::new(),
            serde_json::Value::Object(m) => m,
            other => {
                return Err(D::Error::custom(format!(
                    "{kind}: expected a map of settings, found {other}"
                )));
            }
        };
        let mut shared = serde_json::Map::new();
        for key in DELIVERY_KEYS {
            if let Some(v) = body.remove(key) {
                shared.insert(key.to_string(), v);
            }
        }
        let delivery: DeliveryConfig = serde_json::from_value(shared.into())
            .map_err(|e| D::Error::custom(format!("{kind}: {e}")))?;
        let rest = serde_json::Value::Object(body);
        let typed = |e: serde_json::Error| {
            let e = e.to_string();
            if e.starts_with("unknown field") {
                D::Error::custom(format!("{kind}: {e}, `timeout`, `retry`, `queue_size`"))
            } else {
                D::Error::custom(format!("{kind}: {e}"))
            }
        };
        let kind = match kind.as_str() {
            "alertmanager" => {
                NotifierKind::Alertmanager(serde_json::from_value(rest).map_err(typed)?)
            }
            "webhook" => NotifierKind::Webhook(serde_json::from_value(rest).map_err(typed)?),
            "console" => NotifierKind::Console(serde_json::from_value(rest).map_err(typed)?),
            "email" => NotifierKind::Email(serde_json::from_value(rest).map_err(typed)?),
            "sms" => NotifierKind::Sms(serde_json::from_value(rest).map_err(typed)?),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown notifier type `{other}`, expected one of {KINDS}"
                )));
            }
        };
        Ok(NotifierConfig { kind, delivery })
    }
}
