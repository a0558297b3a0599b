//! The exporter: decodes a metrics batch, translates it ([`super::translate`]), splits the
//! series into requests of at most `max_batch_size_bytes`, snappy-compresses each (block
//! format, as remote write 1.0 requires) and POSTs them in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use prometheus_client::metrics::counter::Counter;
use prost::Message;

use super::PrometheusRemoteWriteConfig;
use super::proto::{TimeSeries, WriteRequest};
use super::translate::{self, Dropped, Options};
use crate::core::{Batch, Signal};
use crate::exporters::{Export, ExportError};
use crate::net::client::{self, retry};

/// The remote-write protocol version sent in `X-Prometheus-Remote-Write-Version`.
const REMOTE_WRITE_VERSION: &str = "0.1.0";

/// Counters of points not sent, one per reason.
pub(crate) struct DroppedCounters {
    /// Delta sums and histograms.
    pub delta: Counter,
    /// Exponential histograms, points without a temporality.
    pub unsupported: Counter,
    /// Points carrying a label the series uses itself.
    pub reserved_label: Counter,
}

/// Pushes metrics to one remote-write endpoint.
pub(crate) struct PrometheusRemoteWriteExporter {
    id: String,
    client: reqwest::Client,
    url: String,
    options: Options,
    max_request_bytes: usize,
    dropped: DroppedCounters,
    /// Whether the first delta drop was logged already.
    warned_delta: AtomicBool,
}

impl PrometheusRemoteWriteExporter {
    /// The HTTP client `config` describes (TLS, headers, timeout).
    pub(crate) fn client(config: &PrometheusRemoteWriteConfig) -> Result<reqwest::Client, String> {
        let tls = client::client_config(&config.tls, &[b"h2", b"http/1.1"])
            .map_err(|err| err.to_string())?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .default_headers(client::header_map(&config.headers)?)
            .timeout(config.timeout)
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("HTTP client: {err}"))
    }

    /// Builds the exporter.
    pub(crate) fn new(
        id: String,
        config: &PrometheusRemoteWriteConfig,
        dropped: DroppedCounters,
    ) -> Result<PrometheusRemoteWriteExporter, String> {
        Ok(PrometheusRemoteWriteExporter {
            id,
            client: Self::client(config)?,
            url: config.endpoint.clone(),
            options: config.options(),
            max_request_bytes: config.max_batch_size_bytes,
            dropped,
            warned_delta: AtomicBool::new(false),
        })
    }

    fn count(&self, dropped: Dropped) {
        if dropped.delta > 0 {
            self.dropped.delta.inc_by(dropped.delta);
            if !self.warned_delta.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    exporter = %self.id,
                    points = dropped.delta,
                    "prometheusremotewrite sends cumulative metrics only: delta sums and \
                     histograms are dropped (counted in \
                     lookout_exporter_prometheusremotewrite_dropped_points_total{{reason=\"delta\"}}; \
                     logged once)"
                );
            }
        }
        if dropped.unsupported > 0 {
            self.dropped.unsupported.inc_by(dropped.unsupported);
        }
        if dropped.reserved_label > 0 {
            self.dropped.reserved_label.inc_by(dropped.reserved_label);
        }
    }

    /// POSTs one request body (encoded, not yet compressed).
    async fn send(&self, body: &[u8]) -> Result<(), ExportError> {
        let compressed = snap::raw::Encoder::new()
            .compress_vec(body)
            .map_err(|err| ExportError::permanent(format!("snappy: {err}")))?;
        let url = &self.url;
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header("X-Prometheus-Remote-Write-Version", REMOTE_WRITE_VERSION)
            .body(compressed)
            .send()
            .await
            .map_err(|err| ExportError::retryable(format!("POST {url} failed: {err}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = retry::retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let message = format!(
            "POST {url}: HTTP {status}: {}",
            text.trim().chars().take(300).collect::<String>()
        );
        // The remote-write spec: retry 5xx and 429, never other 4xx (the data is at fault).
        Err(if status.is_server_error() || status.as_u16() == 429 {
            ExportError::retryable(message).with_throttle(retry_after)
        } else {
            ExportError::permanent(message)
        })
    }
}

/// Splits `series` into requests whose encoding stays within `max_bytes` (a series larger
/// than that alone goes in a request of its own), keeping their order.
pub(crate) fn split(series: Vec<TimeSeries>, max_bytes: usize) -> Vec<WriteRequest> {
    let mut requests = Vec::new();
    let mut current = WriteRequest::default();
    let mut size = 0usize;
    for ts in series {
        let len = prost::encoding::message::encoded_len(1, &ts);
        if !current.timeseries.is_empty() && size + len > max_bytes {
            requests.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.timeseries.push(ts);
    }
    if !current.timeseries.is_empty() {
        requests.push(current);
    }
    requests
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl Export for PrometheusRemoteWriteExporter {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            if batch.signal != Signal::Metrics {
                return Ok(());
            }
            let request = ExportMetricsServiceRequest::decode(batch.payload.as_ref())
                .map_err(|e| ExportError::permanent(format!("undecodable metrics: {e}")))?;
            let translated = translate::translate(&request, &self.options, now_ms());
            self.count(translated.dropped);
            // A retry sends the whole batch again: requests that got through already are
            // sent twice, which Prometheus accepts (same sample, same timestamp).
            for write in split(translated.series, self.max_request_bytes) {
                self.send(&write.encode_to_vec()).await?;
            }
            Ok(())
        })
    }
}
