//! `exporters: loadbalancing:` settings, shaped as the contrib `loadbalancingexporter`'s.

use std::time::Duration;

use serde::Deserialize;

use crate::exporters::otlp::{OtlpGrpcExporter, OtlpGrpcExporterConfig};

/// The load-balancing exporter's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LoadBalancingConfig {
    /// What keeps data together on one backend: `traceID` (default: spans and log records
    /// by trace id; metrics by `service.name`) or `service` (everything by the resource's
    /// `service.name`).
    pub routing_key: RoutingKey,
    /// How each backend is reached.
    pub protocol: Protocol,
    /// Where the list of backends comes from: `static` or `dns` (exactly one).
    pub resolver: Resolver,
    /// Lookout's addition: a backend whose sends have failed for this long (default 30s) is
    /// taken off the ring, so that its keys — and what it held queued — go to the others; it
    /// rejoins once a probe (an empty export, every `backend_down_after / 4`, between 100ms and
    /// 5s apart) is answered. Each removal is counted in `lookout_loadbalancer_backend_down_total`.
    #[serde(with = "humantime_serde")]
    pub backend_down_after: Duration,
}

impl Default for LoadBalancingConfig {
    fn default() -> Self {
        LoadBalancingConfig {
            routing_key: RoutingKey::TraceId,
            protocol: Protocol::default(),
            resolver: Resolver::default(),
            backend_down_after: Duration::from_secs(30),
        }
    }
}

/// `routing_key:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub(crate) enum RoutingKey {
    /// `traceID`: a trace's spans and logs on one backend.
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    /// `service`: a service's data on one backend.
    #[serde(rename = "service")]
    Service,
}

/// `protocol:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Protocol {
    /// The settings of the `otlp` exporter, applied to every backend (each gets its own
    /// exporter, sending queue and retry); `endpoint` is left out: the resolver gives it.
    /// `sending_queue.storage` is not supported here.
    pub otlp: OtlpGrpcExporterConfig,
}

/// `resolver:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Resolver {
    /// A fixed list of backends.
    #[serde(rename = "static")]
    pub static_: Option<StaticResolver>,
    /// A hostname whose addresses are the backends, resolved again every `interval`.
    pub dns: Option<DnsResolver>,
}

/// `resolver: static:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StaticResolver {
    /// The backends' OTLP/gRPC endpoints (`host:port`).
    pub hostnames: Vec<String>,
}

/// `resolver: dns:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DnsResolver {
    /// The name to resolve; every address it resolves to is a backend.
    pub hostname: String,
    /// The backends' OTLP/gRPC port (default 4317).
    pub port: u16,
    /// How often to resolve again (default 5s).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How long one resolution may take (default 1s); on failure or timeout the backends stay
    /// as they were.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for DnsResolver {
    fn default() -> Self {
        DnsResolver {
            hostname: String::new(),
            port: 4317,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        }
    }
}

impl LoadBalancingConfig {
    /// The `otlp` settings for one backend.
    pub(crate) fn backend(&self, endpoint: &str) -> OtlpGrpcExporterConfig {
        OtlpGrpcExporterConfig {
            endpoint: endpoint.to_string(),
            ..self.protocol.otlp.clone()
        }
    }
}

impl crate::component::Validate for LoadBalancingConfig {
    fn validate(&self) -> Result<(), String> {
        let otlp = &self.protocol.otlp;
        if !otlp.endpoint.is_empty() {
            return Err(
                "protocol.otlp.endpoint: not allowed here, the resolver gives the endpoints".into(),
            );
        }
        if otlp.sending_queue.storage.is_some() {
            return Err("protocol.otlp.sending_queue.storage is not supported by the loadbalancing exporter".into());
        }
        otlp.sending_queue
            .validate()
            .map_err(|e| format!("protocol.otlp.{e}"))?;
        if self.backend_down_after.is_zero() {
            return Err("backend_down_after must be more than 0".into());
        }
        match (&self.resolver.static_, &self.resolver.dns) {
            (Some(s), None) => {
                if s.hostnames.is_empty() {
                    return Err("resolver.static.hostnames: at least one backend is needed".into());
                }
                for h in &s.hostnames {
                    OtlpGrpcExporter::new(String::new(), &self.backend(h))
                        .map_err(|e| format!("resolver.static.hostnames: {e}"))?;
                }
            }
            (None, Some(d)) => {
                if d.hostname.is_empty() {
                    return Err("resolver.dns.hostname is required".into());
                }
                if d.interval.is_zero() || d.timeout.is_zero() {
                    return Err("resolver.dns.interval and timeout must be more than 0".into());
                }
                OtlpGrpcExporter::new(
                    String::new(),
                    &self.backend(&format!("{}:{}", d.hostname, d.port)),
                )
                .map_err(|e| format!("protocol.otlp: {e}"))?;
            }
            _ => {
                return Err(
                    "resolver: exactly one of static (hostnames) or dns (hostname) is expected"
                        .into(),
                );
            }
        }
        Ok(())
    }
}
