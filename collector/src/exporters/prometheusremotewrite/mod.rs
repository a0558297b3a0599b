//! `exporters: prometheusremotewrite:` — pushes metrics to a Prometheus remote-write 1.0
//! endpoint (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos receive,
//! VictoriaMetrics, Cortex): snappy-compressed `prometheus.WriteRequest` protobuf bodies, as
//! the Collector's `prometheusremotewriteexporter`.
//!
//! Names and labels follow the same OpenTelemetry → Prometheus rules as the `prometheus`
//! exporter ([`translate`]). Remote write carries cumulative series only: **delta sums and
//! delta histograms are dropped**, counted in
//! `lookout_exporter_prometheusremotewrite_dropped_points_total{reason="delta"}` and logged
//! once, as the Collector does; exponential histograms and points without a temporality are
//! dropped and counted the same way (`reason="unsupported"`).
//!
//! Each batch becomes one or more requests of at most `max_batch_size_bytes` (uncompressed);
//! HTTP 429 and 5xx answers are retried by the sending queue (after `Retry-After` when given),
//! other answers are permanent failures, counted and logged by the queue, not retried.

mod exporter;
mod factory;
mod proto;
#[cfg(test)]
mod tests;
mod translate;

pub(crate) use factory::Factory;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::shared::{ClientTlsConfig, Headers, NumConsumers, QueueConfig, RetryConfig};
use crate::exporters::prometheus::ResourceToTelemetry;
use crate::exporters::prometheus::labels::Naming;
use crate::exporters::prometheus::naming;
use translate::Options;

/// The Collector's default `max_batch_size_bytes`.
const DEFAULT_MAX_BATCH_SIZE_BYTES: usize = 3_000_000;

/// Remote-write exporter settings (the Collector's keys, with `sending_queue` as the other
/// Lookout exporters have it instead of the Collector's `remote_write_queue`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PrometheusRemoteWriteConfig {
    /// The remote-write URL, e.g. `http://127.0.0.1:9090/api/v1/write` (required).
    pub endpoint: String,
    /// Extra request headers (e.g. `Authorization`, `X-Scope-OrgID`).
    pub headers: Headers,
    /// TLS for `https://` endpoints.
    pub tls: ClientTlsConfig,
    /// Per-request deadline (default 5s, as the Collector).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Prefix of every metric name (`target_info` included).
    pub namespace: String,
    /// Labels added to every series.
    pub external_labels: BTreeMap<String, String>,
    /// Every resource attribute becomes a label of every series of that resource.
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Unit and type suffixes (`_seconds`, `_total`, `_ratio`) on metric names (default on).
    pub add_metric_suffixes: bool,
    /// `target_info:`.
    pub target_info: TargetInfo,
    /// The most bytes of one request before compression (default 3000000); a batch above it
    /// is sent as several requests.
    pub max_batch_size_bytes: usize,
    /// Bounded queue. Without this block one consumer sends, so the samples of a series reach
    /// the endpoint in order (Prometheus refuses out-of-order samples with HTTP 400).
    pub sending_queue: QueueConfig,
    /// Backoff and deadline for retryable failures.
    pub retry_on_failure: RetryConfig,
}

/// `target_info:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TargetInfo {
    /// Send a `target_info` series per resource (default on).
    pub enabled: bool,
}

impl Default for TargetInfo {
    fn default() -> Self {
        TargetInfo { enabled: true }
    }
}

impl Default for PrometheusRemoteWriteConfig {
    fn default() -> Self {
        PrometheusRemoteWriteConfig {
            endpoint: String::new(),
            headers: Headers::default(),
            tls: ClientTlsConfig::default(),
            timeout: Duration::from_secs(5),
            namespace: String::new(),
            external_labels: BTreeMap::new(),
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            add_metric_suffixes: true,
            target_info: TargetInfo::default(),
            max_batch_size_bytes: DEFAULT_MAX_BATCH_SIZE_BYTES,
            sending_queue: QueueConfig {
                num_consumers: NumConsumers::Fixed(1),
                ..QueueConfig::default()
            },
            retry_on_failure: RetryConfig::default(),
        }
    }
}

impl PrometheusRemoteWriteConfig {
    /// How points become series.
    fn options(&self) -> Options {
        Options {
            naming: Naming {
                namespace: self.namespace.clone(),
                const_labels: self
                    .external_labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                resource_labels: self.resource_to_telemetry_conversion.enabled,
                suffixes: self.add_metric_suffixes,
            },
            target_info: self.target_info.enabled,
        }
    }
}

impl crate::component::Validate for PrometheusRemoteWriteConfig {
    /// Checks the keys, then builds the exporter once (URL, TLS files, headers) without
    /// connecting.
    fn validate(&self) -> Result<(), String> {
        if self.endpoint.is_empty() {
            return Err(
                "endpoint is required (the remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write)"
                    .into(),
            );
        }
        let url = reqwest::Url::parse(&self.endpoint)
            .map_err(|err| format!("endpoint {:?}: {err}", self.endpoint))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "endpoint {:?} must be an http:// or https:// URL with a host",
                self.endpoint
            ));
        }
        if self.timeout.is_zero() {
            return Err("timeout must be more than 0".into());
        }
        if self.max_batch_size_bytes == 0 {
            return Err("max_batch_size_bytes must be at least 1".into());
        }
        for name in self.external_labels.keys() {
            if naming::label_name(name).as_deref() != Some(name.as_str()) || name.starts_with("__")
            {
                return Err(format!(
                    "external_labels: {name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                ));
            }
        }
        self.sending_queue.validate()?;
        exporter::PrometheusRemoteWriteExporter::client(self).map(drop)
    }
}
