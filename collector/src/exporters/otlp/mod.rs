//! `exporters: otlp:` — OTLP/gRPC out, as the Collector's `otlpexporter`. Jaeger (≥ 1.35, port
//! 4317) and Tempo ingest this directly.

mod factory;
pub(crate) use factory::Factory;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes};
use futures::future::BoxFuture;
use serde::Deserialize;

use super::grpc_client::GrpcClient;
use super::{Export, ExportError};
use crate::compression::{self, Codec};
use crate::config::shared::{
    ClientTlsConfig, Compression, CompressionParams, Headers, QueueConfig, RetryConfig,
};
use crate::core::{Batch, Signal};
use crate::net::client;

/// OTLP/gRPC exporter settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OtlpGrpcExporterConfig {
    /// `host:port`, or a URL (`http://` means plain text, `https://` TLS).
    pub endpoint: String,
    /// TLS; `insecure: true` for plain text.
    pub tls: ClientTlsConfig,
    /// Extra request headers (authentication tokens, tenant ids).
    pub headers: Headers,
    /// gzip (default), zstd or none.
    pub compression: Compression,
    /// Compression level.
    pub compression_params: CompressionParams,
    /// Per-request deadline (default 5s).
    #[serde(with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    /// Bounded in-memory queue.
    pub sending_queue: QueueConfig,
    /// Backoff and deadline for retryable failures.
    pub retry_on_failure: RetryConfig,
}

/// The exporter.
pub(crate) struct OtlpGrpcExporter {
    id: String,
    client: GrpcClient,
    codec: Codec,
    level: Option<i32>,
    timeout: Duration,
}

impl OtlpGrpcExporter {
    /// Builds the exporter (no connection is made until the first batch).
    pub(crate) fn new(
        id: String,
        config: &OtlpGrpcExporterConfig,
    ) -> Result<OtlpGrpcExporter, String> {
        let (authority, host, tls_on) = parse_endpoint(&config.endpoint, config.tls.insecure)?;
        let tls = if tls_on {
            let client_config =
                client::client_config(&config.tls, &[b"h2"]).map_err(|err| err.to_string())?;
            let name = config.tls.server_name_override.clone().unwrap_or(host);
            let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|err| format!("invalid TLS server name {name:?}: {err}"))?;
            Some((
                tokio_rustls::TlsConnector::from(Arc::new(client_config)),
                server_name,
            ))
        } else {
            None
        };
        Ok(OtlpGrpcExporter {
            id,
            client: GrpcClient::new(authority, tls, client::header_map(&config.headers)?),
            codec: config.compression.codec(),
            level: config.compression_params.level,
            timeout: config.timeout.unwrap_or(Duration::from_secs(5)),
        })
    }
}

impl Export for OtlpGrpcExporter {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            let path = match batch.signal {
                Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                Signal::Metrics => {
                    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
                }
                Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            };
            let (frame, encoding) = frame(self.codec, self.level, &batch.payload);
            let response = self
                .client
                .unary(path, frame, encoding, self.timeout)
                .await?;
            // The response message follows its 5-byte gRPC prefix. Partial success is advisory
            // (nothing to retry), so a response the server chose to compress is not inspected.
            if response.len() > 5 && response[0] == 0 {
                super::partial_success::report(&self.id, batch.signal, &response[5..]);
            }
            Ok(())
        })
    }
}

/// The gRPC length-prefixed message, compressed with `codec`.
pub(crate) fn frame(
    codec: Codec,
    level: Option<i32>,
    payload: &[u8],
) -> (Bytes, Option<&'static str>) {
    let (body, flag, encoding) = match codec {
        Codec::Identity => (None, 0u8, None),
        codec => (
            Some(compression::compress(codec, level, payload)),
            1u8,
            Some(codec.name()),
        ),
    };
    let data: &[u8] = body.as_deref().unwrap_or(payload);
    let mut out = Vec::with_capacity(5 + data.len());
    out.put_u8(flag);
    out.put_u32(data.len() as u32);
    out.extend_from_slice(data);
    (Bytes::from(out), encoding)
}

/// Splits an endpoint into `host:port`, host and whether to use TLS.
pub(crate) fn parse_endpoint(
    endpoint: &str,
    insecure: bool,
) -> Result<(String, String, bool), String> {
    if endpoint.is_empty() {
        return Err("endpoint is required (host:port)".into());
    }
    let (rest, tls) = if let Some(rest) = endpoint.strip_prefix("http://") {
        (rest, false)
    } else if let Some(rest) = endpoint.strip_prefix("https://") {
        (rest, true)
    } else if endpoint.contains("://") {
        return Err(format!(
            "endpoint {endpoint:?}: expected host:port, http:// or https://"
        ));
    } else {
        (endpoint, !insecure)
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') {
        return Err(format!(
            "endpoint {endpoint:?}: a gRPC endpoint has no path"
        ));
    }
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("endpoint {endpoint:?}: expected host:port"))?;
    port.parse::<u16>()
        .map_err(|_| format!("endpoint {endpoint:?}: {port:?} is not a port"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((authority.to_string(), host, tls))
}

impl crate::component::Validate for OtlpGrpcExporterConfig {
    /// Builds the exporter once (endpoint, TLS files, headers) without connecting.
    fn validate(&self) -> Result<(), String> {
        self.sending_queue.validate()?;
        OtlpGrpcExporter::new(String::new(), self).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("collector:4317", false).unwrap(),
            ("collector:4317".into(), "collector".into(), true)
        );
        assert!(!parse_endpoint("collector:4317", true).unwrap().2);
        assert_eq!(
            parse_endpoint("http://127.0.0.1:4317", false).unwrap(),
            ("127.0.0.1:4317".into(), "127.0.0.1".into(), false)
        );
        assert!(parse_endpoint("https://tempo:4317/", true).unwrap().2);
        assert!(parse_endpoint("tempo", true).is_err());
        assert!(parse_endpoint("grpc://tempo:4317", true).is_err());
        assert!(parse_endpoint("", true).is_err());
    }

    #[test]
    fn frames_with_prefix_and_flag() {
        let (f, enc) = frame(Codec::Identity, None, b"abc");
        assert_eq!(&f[..], b"\x00\x00\x00\x00\x03abc");
        assert_eq!(enc, None);
        let (f, enc) = frame(Codec::Gzip, None, b"abcabcabc");
        assert_eq!(f[0], 1);
        assert_eq!(
            u32::from_be_bytes([f[1], f[2], f[3], f[4]]) as usize,
            f.len() - 5
        );
        assert_eq!(enc, Some("gzip"));
    }
}
