//! `processors: latency_anomaly:` settings: the detector's own fields (flattened, see
//! [`lookout_anomaly::DetectorConfig`]) plus episode tracking, alert notifiers, and the
//! pipelines fed with episode log records and RED metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use lookout_anomaly::DetectorConfig;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::component::Validate;
use crate::core::ComponentId;
use crate::net::client::{Backoff, ClientTlsConfig};

/// The whole processor body.
///
/// Detector fields sit at the top level, as in the examples; `episodes`, `alerts`,
/// `events` and `red_metrics` are nested. serde's `flatten` silently drops `deny_unknown_fields`, so the body is split
/// by hand (see the `Deserialize` impl) and each part keeps its own unknown-field check.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LatencyAnomalyConfig {
    /// Detector and attributor settings (key fields, `max_keys`, thresholds, `emit_category`).
    pub detector: DetectorConfig,
    /// How anomaly episodes are opened and closed for alerting.
    pub episodes: EpisodeConfig,
    /// Where episode notifications go.
    pub alerts: AlertsConfig,
    /// RED metrics settings, when a `latency_anomaly` connector of the same id feeds a
    /// metrics pipeline (set at build from the connector, not read from this body).
    pub red_metrics: Option<RedMetricsConfig>,
    /// `alerting:` — the id of an `alerting` extension that receives episodes as alerts
    /// (routed, grouped and delivered by its notifiers); independent of `alerts:`.
    pub alerting: Option<ComponentId>,
}

/// What a config that still names pipelines in the processor is told to write instead.
const MOVED_TO_CONNECTOR: &str = concat!(
    "`events` and `red_metrics` are now settings of the `latency_anomaly` connector: ",
    "remove them here and write\n",
    "  connectors:\n",
    "    latency_anomaly:            # the same id as this processor\n",
    "      red_metrics: {max_series: 2000, flush_interval: 15s}   # optional settings\n",
    "then list the connector under the exporters of the traces pipeline that runs this ",
    "processor, and under the receivers of the logs pipeline (episode records) and/or the ",
    "metrics pipeline (RED metrics) it feeds, e.g.\n",
    "    traces:       {receivers: [otlp], processors: [latency_anomaly], exporters: [otlp, latency_anomaly]}\n",
    "    logs/anomaly: {receivers: [latency_anomaly], exporters: [debug]}\n",
    "    metrics/red:  {receivers: [latency_anomaly], exporters: [otlp]}",
);

impl<'de> Deserialize<'de> for LatencyAnomalyConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let part = |map: &mut serde_json::Map<String, serde_json::Value>, name: &str| {
            map.remove(name)
                .filter(|v| !v.is_null())
                .unwrap_or_else(|| serde_json::Value::Object(Default::default()))
        };
        let episodes = serde_json::from_value(part(&mut map, "episodes"))
            .map_err(|e| D::Error::custom(format!("episodes: {e}")))?;
        let alerts = serde_json::from_value(part(&mut map, "alerts"))
            .map_err(|e| D::Error::custom(format!("alerts: {e}")))?;
        let alerting = match map.remove("alerting").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(
                serde_json::from_value::<ComponentId>(v)
                    .map_err(|e| D::Error::custom(format!("alerting: {e}")))?,
            ),
        };
        if map.contains_key("events") || map.contains_key("red_metrics") {
            return Err(D::Error::custom(MOVED_TO_CONNECTOR));
        }
        let detector: DetectorConfig = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| {
                let e = e.to_string();
                if e.starts_with("unknown field") {
                    D::Error::custom(format!("{e}, `episodes`, `alerts`, `alerting`"))
                } else {
                    D::Error::custom(e)
                }
            })?;
        Ok(LatencyAnomalyConfig {
            detector,
            episodes,
            alerts,
            red_metrics: None,
            alerting,
        })
    }
}

impl Validate for LatencyAnomalyConfig {
    fn validate(&self) -> Result<(), String> {
        self.detector.validate().map_err(|e| e.to_string())?;
        if self.episodes.resolve_after.is_zero() {
            return Err("episodes.resolve_after must be > 0".into());
        }
        if self.episodes.max_open == 0 {
            return Err("episodes.max_open must be >= 1".into());
        }
        if self.alerts.queue_size == 0 {
            return Err("alerts.queue_size must be >= 1".into());
        }
        if let Some(w) = &self.alerts.webhook {
            w.check()?;
            // Building the client reads `ca_file` and parses headers: fail at load, not later.
            super::alerts::webhook::Webhook::new(w).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// `red_metrics:` of the `latency_anomaly` connector — rate, errors and duration per
/// (service, span name, kind, status code) like the Collector-contrib `spanmetrics` connector,
/// plus anomalies by kind. Cumulative temporality.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RedMetricsConfig {
    /// Series kept (like spanmetrics' `aggregation_cardinality_limit`); spans of further keys
    /// are counted in one overflow series with the attribute `otel.metric.overflow=true`.
    /// Default 2000.
    pub max_series: usize,
    /// How often the metrics are sent (and once more at shutdown). Default 15s.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Upper bounds of the `duration` histogram buckets, increasing. Default spanmetrics'
    /// `[2ms, 4ms, 6ms, 8ms, 10ms, 50ms, 100ms, 200ms, 400ms, 800ms, 1s, 1400ms, 2s, 5s, 10s, 15s]`.
    #[serde(deserialize_with = "durations")]
    pub histogram_buckets: Vec<Duration>,
    /// Prefix of the `calls` and `duration` metric names, joined with a dot; empty for the bare
    /// names. Default `traces.span.metrics`, as spanmetrics.
    pub namespace: String,
}

/// spanmetrics' default explicit buckets, in milliseconds.
const DEFAULT_BUCKETS_MS: [u64; 16] = [
    2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000,
];

impl Default for RedMetricsConfig {
    fn default() -> Self {
        RedMetricsConfig {
            max_series: 2000,
            flush_interval: Duration::from_secs(15),
            histogram_buckets: DEFAULT_BUCKETS_MS.map(Duration::from_millis).to_vec(),
            namespace: "traces.span.metrics".into(),
        }
    }
}

impl Validate for RedMetricsConfig {
    fn validate(&self) -> Result<(), String> {
        if self.max_series == 0 {
            return Err("red_metrics.max_series must be >= 1".into());
        }
        if self.flush_interval.is_zero() {
            return Err("red_metrics.flush_interval must be > 0".into());
        }
        if self.histogram_buckets.is_empty() {
            return Err("red_metrics.histogram_buckets must list at least one bound".into());
        }
        if let Some(w) = self.histogram_buckets.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!(
                "red_metrics.histogram_buckets must increase: {:?} is followed by {:?}",
                w[0], w[1]
            ));
        }
        Ok(())
    }
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            humantime::parse_duration(s)
                .map_err(|e| D::Error::custom(format!("{s:?} is not a duration: {e}")))
        })
        .collect()
}

/// Episode tracking. The detector opens an episode (shift, degradation or intermittent) per
/// key; it does not report when one closes, so the processor considers an episode over once no span of the
/// key has been tagged with the episode's kind for `resolve_after`, or at once when the
/// detector has no open episode left.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EpisodeConfig {
    /// Quiet time after which an open episode is reported resolved. Default 2m.
    #[serde(with = "humantime_serde")]
    pub resolve_after: Duration,
    /// Episodes tracked at once; further ones are not reported (counted). Default 1000.
    pub max_open: usize,
    /// Example trace ids kept per episode. Default 5.
    pub max_examples: usize,
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        EpisodeConfig {
            resolve_after: Duration::from_secs(120),
            max_open: 1000,
            max_examples: 5,
        }
    }
}

/// `alerts:` — notifiers for episode start and end.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertsConfig {
    /// POST Alertmanager-style webhook JSON to this endpoint.
    pub webhook: Option<WebhookConfig>,
    /// Log every episode event at WARN level on the collector's own log.
    pub console: bool,
    /// Events waiting for the notifier; when full, new events are dropped (counted) so the
    /// span path never waits on a slow webhook. Default 1024.
    pub queue_size: usize,
    /// How long shutdown waits for the notifier to deliver what is pending. Default 5s.
    #[serde(with = "humantime_serde")]
    pub flush_timeout: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook: None,
            console: false,
            queue_size: 1024,
            flush_timeout: Duration::from_secs(5),
        }
    }
}

impl AlertsConfig {
    /// True when some notifier is configured.
    pub(crate) fn enabled(&self) -> bool {
        self.webhook.is_some() || self.console
    }
}

/// `alerts: webhook:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookConfig {
    /// URL to POST to (`http://` or `https://`).
    pub endpoint: String,
    /// Extra request headers (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout. Default 10s.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// TLS for `https://` endpoints. `ca_file` replaces the built-in roots, as in the
    /// Collector (it used to add to them here); `include_system_ca_certs_pool: true` keeps them.
    #[serde(
        default,
        deserialize_with = "crate::net::client::tls::deserialize_for_url"
    )]
    pub tls: ClientTlsConfig,
    /// At most one POST per key per this interval; events in between are coalesced and the
    /// latest state is sent when the interval has passed (or at shutdown). Default 1m.
    #[serde(default = "default_min_interval", with = "humantime_serde")]
    pub min_interval: Duration,
    /// `receiver` field of the payload. Default `lookout`.
    #[serde(default = "default_receiver")]
    pub receiver: String,
    /// Retries of failed POSTs (connection errors, 429, 5xx).
    #[serde(default)]
    pub retry: WebhookRetryConfig,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_min_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_receiver() -> String {
    "lookout".into()
}

impl WebhookConfig {
    fn check(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.endpoint)
            .map_err(|e| format!("alerts.webhook.endpoint {:?}: {e}", self.endpoint))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "alerts.webhook.endpoint {:?}: scheme must be http or https",
                self.endpoint
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err("alerts.webhook.retry.max_attempts must be >= 1".into());
        }
        if self.retry.initial_interval > self.retry.max_interval {
            return Err(
                "alerts.webhook.retry.initial_interval must not exceed max_interval".into(),
            );
        }
        Ok(())
    }
}

/// `alerts: webhook: retry:` — exponential backoff.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebhookRetryConfig {
    /// Attempts per notification, the first included. Default 5.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each failure. Default 500ms.
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    /// Upper bound of the wait. Default 30s.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
}

impl WebhookRetryConfig {
    /// The shared client backoff with these settings: doubling waits without jitter, as this
    /// notifier always had, and a server's `Retry-After` honoured up to `max_interval`.
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff {
            initial_interval: self.initial_interval,
            multiplier: 2.0,
            randomization_factor: 0.0,
            max_interval: self.max_interval,
            max_elapsed_time: None,
            max_attempts: Some(self.max_attempts),
            // One notifier task posts every alert in turn: a long Retry-After would hold them all.
            max_server_delay: Some(self.max_interval),
        }
    }
}

impl Default for WebhookRetryConfig {
    fn default() -> Self {
        WebhookRetryConfig {
            max_attempts: 5,
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(30),
        }
    }
}
