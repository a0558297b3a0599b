//! `receivers: otlp:` settings, as the Collector's `otlpreceiver`.

use std::time::Duration;

use serde::Deserialize;

use crate::config::shared::size;
use crate::extensions::auth::AuthConfig;
use crate::net::server_tls::ServerTlsConfig;

/// The OTLP receiver. At least one protocol must be listed; an empty protocol body
/// (`grpc:`) means its defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OtlpReceiverConfig {
    /// Protocols to serve.
    pub protocols: Protocols,
    /// Bounds on what one request may hold and on how many are served at once, over both
    /// protocols. Lookout's addition.
    pub limits: LimitsConfig,
}

/// `limits:` — resource limits of one OTLP receiver instance.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsConfig {
    /// Deepest `AnyValue` nesting accepted (default and maximum 31): an attribute's value or a
    /// log body is at depth 1, each `kvlistValue` / `arrayValue` puts its elements one level
    /// deeper. 31 is the deepest every prost-based stage after the receiver can decode. A
    /// deeper request is refused whole: HTTP 400 / gRPC `INVALID_ARGUMENT`.
    pub max_nesting_depth: u32,
    /// Most attributes on one resource, scope, span, span event, link, log record, metric
    /// (metadata), data point or exemplar (default 4096). A request with more is refused
    /// whole: HTTP 400 / gRPC `INVALID_ARGUMENT`.
    pub max_attributes: u32,
    /// Requests in flight at once, from their headers to their response, over all connections
    /// and both protocols (default 4096). One more is refused before its body is read: HTTP
    /// 503 with `Retry-After: 1` / gRPC `UNAVAILABLE` (both retryable), counted in
    /// `lookout_receiver_over_limit_requests_total`. When full, a call whose body has sent
    /// nothing for over 1 s is ended (503 / `UNAVAILABLE`) to make room for the new one, so
    /// stalled clients cannot keep others out.
    pub max_concurrent_requests: usize,
}

/// Most `max_concurrent_requests` may be set to: far above what one collector serves, low
/// enough that the bookkeeping of in-flight requests stays small.
const MAX_CONCURRENT_REQUESTS: usize = 1 << 20;

impl Default for LimitsConfig {
    fn default() -> Self {
        let proto = lookout_proto::Limits::default();
        LimitsConfig {
            max_nesting_depth: proto.max_nesting_depth,
            max_attributes: proto.max_attributes,
            max_concurrent_requests: 4096,
        }
    }
}

impl LimitsConfig {
    /// The limits the validation pass and the JSON decoder apply.
    pub(crate) fn proto(&self) -> lookout_proto::Limits {
        lookout_proto::Limits {
            max_nesting_depth: self.max_nesting_depth,
            max_attributes: self.max_attributes,
        }
    }

    fn check(&self) -> Result<(), String> {
        let max_depth = lookout_proto::Limits::MAX_NESTING_DEPTH;
        if !(1..=max_depth).contains(&self.max_nesting_depth) {
            return Err(format!(
                "limits.max_nesting_depth must be between 1 and {max_depth} (deeper values could not be decoded by later stages), got {}",
                self.max_nesting_depth
            ));
        }
        if self.max_attributes == 0 {
            return Err("limits.max_attributes must be >= 1".into());
        }
        if !(1..=MAX_CONCURRENT_REQUESTS).contains(&self.max_concurrent_requests) {
            return Err(format!(
                "limits.max_concurrent_requests must be between 1 and {MAX_CONCURRENT_REQUESTS}, got {}",
                self.max_concurrent_requests
            ));
        }
        Ok(())
    }
}

/// `protocols:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Protocols {
    /// OTLP/gRPC.
    #[serde(deserialize_with = "crate::config::present")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP (protobuf and JSON).
    #[serde(deserialize_with = "crate::config::present")]
    pub http: Option<HttpServerConfig>,
}

/// Default bound on the time a request body may take to arrive.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// `protocols: grpc:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GrpcServerConfig {
    /// `host:port` to listen on. Default `127.0.0.1:4317` (the Collector's `localhost:4317`).
    pub endpoint: String,
    /// Largest request accepted, in MiB, after decompression (default 4, as gRPC's).
    pub max_recv_msg_size_mib: u64,
    /// Concurrent streams per HTTP/2 connection (default 100; the Collector has the same key,
    /// whose default is gRPC-Go's, unlimited). A stream opened beyond it is refused
    /// (`RST_STREAM REFUSED_STREAM`), so one connection holds at most this many calls.
    pub max_concurrent_streams: u32,
    /// Longest a request's message may take to arrive once its call started (default 60s).
    /// A client that sends slower is answered `DEADLINE_EXCEEDED` and the memory its announced
    /// size reserved is released, so slow or stalled uploads cannot hold the budget that other
    /// clients need. Lookout's addition (the Collector's gRPC server has no such bound).
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Connections served at once (default 4096); more are closed as they arrive, so a flood
    /// of idle connections costs bounded memory (about 19 KiB each). Lookout's addition.
    pub max_connections: usize,
    /// A connection with no call in flight for this long is closed gracefully (GOAWAY; gRPC
    /// clients reconnect when they next export). Default 5m; the Collector's equivalent is
    /// gRPC's `keepalive.server_parameters.max_connection_idle`.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Only `tcp` is supported.
    pub transport: Transport,
    /// Serve TLS (mutual TLS with `client_ca_file`).
    pub tls: Option<ServerTlsConfig>,
    /// Authenticate every call with an authenticator extension.
    pub auth: Option<AuthConfig>,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: "127.0.0.1:4317".into(),
            max_recv_msg_size_mib: 4,
            max_concurrent_streams: 100,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_connections: crate::net::DEFAULT_MAX_CONNECTIONS,
            idle_timeout: Duration::from_secs(300),
            transport: Transport::Tcp,
            tls: None,
            auth: None,
        }
    }
}

/// Listener transport.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// TCP.
    #[default]
    Tcp,
}

/// `protocols: http:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HttpServerConfig {
    /// `host:port` to listen on. Default `127.0.0.1:4318`.
    pub endpoint: String,
    /// Largest body accepted, compressed or not (default 20 MiB, as the Collector's).
    #[serde(deserialize_with = "size::deserialize")]
    pub max_request_body_size: u64,
    /// Longest a request body may take to arrive once its headers are in (default 60s; the
    /// Collector's `read_timeout`, which there has no default). A slower client gets 408 and
    /// the memory its `Content-Length` reserved is released. Headers themselves must arrive
    /// within 30 s (hyper's header read timeout).
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Connections served at once (default 4096); more are closed as they arrive. Lookout's
    /// addition.
    pub max_connections: usize,
    /// Concurrent streams per HTTP/2 (h2c or TLS with ALPN `h2`) connection (default 100, as
    /// on the gRPC protocol); a stream opened beyond it is refused (`RST_STREAM
    /// REFUSED_STREAM`). Lookout's addition (the Collector's HTTP server leaves Go's default
    /// of 250).
    pub max_concurrent_streams: u32,
    /// A keep-alive connection with no request in flight for this long is closed (default
    /// 60s, the Collector's `idle_timeout`). This also ends connections that opened and never
    /// sent a request.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Path for traces (default `/v1/traces`).
    pub traces_url_path: String,
    /// Path for metrics (default `/v1/metrics`).
    pub metrics_url_path: String,
    /// Path for logs (default `/v1/logs`).
    pub logs_url_path: String,
    /// Serve TLS (mutual TLS with `client_ca_file`).
    pub tls: Option<ServerTlsConfig>,
    /// Authenticate every request with an authenticator extension.
    pub auth: Option<AuthConfig>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: "127.0.0.1:4318".into(),
            max_request_body_size: 20 << 20,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_connections: crate::net::DEFAULT_MAX_CONNECTIONS,
            max_concurrent_streams: 100,
            idle_timeout: crate::net::DEFAULT_IDLE_TIMEOUT,
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
            tls: None,
            auth: None,
        }
    }
}

impl crate::component::Validate for OtlpReceiverConfig {
    fn validate(&self) -> Result<(), String> {
        if self.protocols.grpc.is_none() && self.protocols.http.is_none() {
            return Err(
                "no protocols enabled; add `protocols: grpc:` and/or `protocols: http:`".into(),
            );
        }
        self.limits.check()?;
        if let Some(grpc) = &self.protocols.grpc {
            crate::net::check_endpoint(&grpc.endpoint)
                .map_err(|e| format!("protocols.grpc: {e}"))?;
            if grpc.read_timeout.is_zero() {
                return Err("protocols.grpc: read_timeout must be > 0".into());
            }
            if grpc.max_connections == 0 {
                return Err("protocols.grpc: max_connections must be >= 1".into());
            }
            if grpc.idle_timeout.is_zero() {
                return Err("protocols.grpc: idle_timeout must be > 0".into());
            }
            if grpc.max_concurrent_streams == 0 {
                return Err("protocols.grpc: max_concurrent_streams must be >= 1".into());
            }
            if let Some(tls) = &grpc.tls {
                tls.check().map_err(|e| format!("protocols.grpc: {e}"))?;
            }
        }
        if let Some(http) = &self.protocols.http {
            crate::net::check_endpoint(&http.endpoint)
                .map_err(|e| format!("protocols.http: {e}"))?;
            if http.read_timeout.is_zero() {
                return Err("protocols.http: read_timeout must be > 0".into());
            }
            if http.max_connections == 0 {
                return Err("protocols.http: max_connections must be >= 1".into());
            }
            if http.idle_timeout.is_zero() {
                return Err("protocols.http: idle_timeout must be > 0".into());
            }
            if http.max_concurrent_streams == 0 {
                return Err("protocols.http: max_concurrent_streams must be >= 1".into());
            }
            if let Some(tls) = &http.tls {
                tls.check().map_err(|e| format!("protocols.http: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
// In a test a failed unwrap is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::component::Validate;

    fn parse(yaml: &str) -> Result<OtlpReceiverConfig, String> {
        let config: OtlpReceiverConfig =
            serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn limits_default_and_parse() {
        let config = parse("protocols: {http: {}}").unwrap();
        assert_eq!(config.limits.max_nesting_depth, 31);
        assert_eq!(config.limits.max_attributes, 4096);
        assert_eq!(config.limits.max_concurrent_requests, 4096);
        let config = parse(
            "protocols: {grpc: {}}\nlimits: {max_nesting_depth: 8, max_attributes: 128, max_concurrent_requests: 1000}",
        )
        .unwrap();
        assert_eq!(
            config.limits.proto(),
            lookout_proto::Limits {
                max_nesting_depth: 8,
                max_attributes: 128
            }
        );
        assert_eq!(config.limits.max_concurrent_requests, 1000);
    }

    #[test]
    fn out_of_range_limits_are_refused_at_load() {
        let err = |limits: &str| {
            parse(&format!("protocols: {{http: {{}}}}\nlimits: {limits}")).unwrap_err()
        };
        let e = err("{max_nesting_depth: 32}");
        assert!(
            e.contains("limits.max_nesting_depth must be between 1 and 31"),
            "{e}"
        );
        assert!(e.contains("got 32"), "{e}");
        assert!(err("{max_nesting_depth: 0}").contains("max_nesting_depth"));
        assert!(err("{max_attributes: 0}").contains("limits.max_attributes must be >= 1"));
        assert!(err("{max_concurrent_requests: 0}").contains("limits.max_concurrent_requests"));
        assert!(err("{max_concurrent_requests: 2000000}").contains("got 2000000"));
        assert!(err("{max_attributes: -1}").contains("max_attributes"));
        assert!(err("{max_attribute: 10}").contains("unknown field"));
        parse("protocols: {http: {}}\nlimits: {max_nesting_depth: 31, max_concurrent_requests: 1}")
            .unwrap();
    }
}
