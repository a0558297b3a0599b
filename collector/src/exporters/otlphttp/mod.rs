//! `exporters: otlphttp:` — OTLP/HTTP with protobuf bodies, as the Collector's
//! `otlphttpexporter`. Jaeger (port 4318) and Tempo ingest this directly.

mod factory;
pub(crate) use factory::Factory;

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{Export, ExportError};
use crate::compression::{self, Codec};
use crate::config::shared::{
    ClientTlsConfig, Compression, CompressionParams, Headers, QueueConfig, RetryConfig,
};
use crate::core::Batch;
use crate::net::client::{self, retry};

/// OTLP/HTTP exporter settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OtlpHttpExporterConfig {
    /// Base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended.
    pub endpoint: String,
    /// Full URL for traces, instead of `endpoint` + `/v1/traces`.
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics.
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs.
    pub logs_endpoint: Option<String>,
    /// TLS for `https://` URLs.
    pub tls: ClientTlsConfig,
    /// Extra request headers.
    pub headers: Headers,
    /// gzip (default), zstd or none.
    pub compression: Compression,
    /// Compression level.
    pub compression_params: CompressionParams,
    /// Per-request deadline (default 30s).
    #[serde(with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    /// Bounded in-memory queue.
    pub sending_queue: QueueConfig,
    /// Backoff and deadline for retryable failures.
    pub retry_on_failure: RetryConfig,
}

/// The exporter.
pub(crate) struct OtlpHttpExporter {
    id: String,
    client: reqwest::Client,
    urls: [String; 3],
    codec: Codec,
    level: Option<i32>,
}

impl OtlpHttpExporter {
    /// Builds the exporter.
    pub(crate) fn new(
        id: String,
        config: &OtlpHttpExporterConfig,
    ) -> Result<OtlpHttpExporter, String> {
        let base = config.endpoint.trim_end_matches('/');
        let url = |own: &Option<String>, path: &str| -> Result<String, String> {
            match own {
                Some(url) => Ok(url.clone()),
                None if base.is_empty() => Err(format!(
                    "endpoint is required (or a per-signal {path} endpoint)"
                )),
                None => Ok(format!("{base}{path}")),
            }
        };
        let urls = [
            url(&config.traces_endpoint, "/v1/traces")?,
            url(&config.metrics_endpoint, "/v1/metrics")?,
            url(&config.logs_endpoint, "/v1/logs")?,
        ];
        for u in &urls {
            reqwest::Url::parse(u).map_err(|err| format!("endpoint {u:?}: {err}"))?;
        }
        let tls = client::client_config(&config.tls, &[b"h2", b"http/1.1"])
            .map_err(|err| err.to_string())?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .default_headers(client::header_map(&config.headers)?)
            .timeout(config.timeout.unwrap_or(Duration::from_secs(30)))
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("HTTP client: {err}"))?;
        Ok(OtlpHttpExporter {
            id,
            client,
            urls,
            codec: config.compression.codec(),
            level: config.compression_params.level,
        })
    }
}

impl Export for OtlpHttpExporter {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            let url = &self.urls[batch.signal as usize];
            let mut request = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
            request = match self.codec {
                Codec::Identity => request.body(batch.payload.clone()),
                codec => request
                    .header(reqwest::header::CONTENT_ENCODING, codec.name())
                    .body(compression::compress(codec, self.level, &batch.payload)),
            };
            let response = request.send().await.map_err(|err| {
                let message = format!("POST {url} failed: {err}");
                if err.is_timeout() {
                    ExportError::timed_out(message)
                } else {
                    ExportError::retryable(message)
                }
            })?;
            let status = response.status();
            if status.is_success() {
                if let Ok(body) = response.bytes().await {
                    super::partial_success::report(&self.id, batch.signal, &body);
                }
                return Ok(());
            }
            let retry_after = retry::retry_after(response.headers());
            let body = response.text().await.unwrap_or_default();
            let message = format!(
                "POST {url}: HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            );
            Err(super::status::http(status.as_u16(), message, retry_after))
        })
    }
}

#[cfg(test)]
impl OtlpHttpExporter {
    /// The URL used for `signal`.
    fn url(&self, signal: crate::core::Signal) -> &str {
        &self.urls[signal as usize]
    }
}

impl crate::component::Validate for OtlpHttpExporterConfig {
    /// Builds the exporter once (URLs, TLS files, headers) without connecting.
    fn validate(&self) -> Result<(), String> {
        self.sending_queue.validate()?;
        OtlpHttpExporter::new(String::new(), self).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Signal;

    #[test]
    fn urls_from_base_or_per_signal() {
        let exporter = OtlpHttpExporter::new(
            "otlphttp".into(),
            &OtlpHttpExporterConfig {
                endpoint: "http://127.0.0.1:4318/".into(),
                logs_endpoint: Some("http://logs:9000/custom".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            exporter.url(Signal::Traces),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(exporter.url(Signal::Logs), "http://logs:9000/custom");
        assert!(
            OtlpHttpExporter::new("otlphttp".into(), &OtlpHttpExporterConfig::default()).is_err()
        );
    }
}
