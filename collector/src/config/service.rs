//! The `service:` section.

use std::net::SocketAddr;

use serde::Deserialize;

use super::Pipelines;
use crate::core::ComponentId;
use crate::extensions::auth::AuthConfig;
use crate::net::server_tls::ServerTlsConfig;

/// `service:` — what actually runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Extensions to start, by id.
    #[serde(default, deserialize_with = "ids")]
    pub extensions: Vec<ComponentId>,
    /// Self-telemetry settings.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Pipelines by id (`traces`, `metrics/2`, ...).
    #[serde(default, deserialize_with = "pipelines")]
    pub pipelines: Pipelines,
}

/// One pipeline: receivers → processors (in order) → exporters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Receivers feeding this pipeline.
    #[serde(default, deserialize_with = "ids")]
    pub receivers: Vec<ComponentId>,
    /// Processors, applied in order.
    #[serde(default, deserialize_with = "ids")]
    pub processors: Vec<ComponentId>,
    /// Exporters, each fed every batch.
    #[serde(default, deserialize_with = "ids")]
    pub exporters: Vec<ComponentId>,
}

/// `service.telemetry:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Lookout's own log output.
    pub logs: TelemetryLogsConfig,
    /// Lookout's own metrics, served in the Prometheus text format.
    pub metrics: TelemetryMetricsConfig,
}

/// `service.telemetry.logs:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryLogsConfig {
    /// Level filter (a `RUST_LOG`-style directive). A reload applies it live; `RUST_LOG`, when
    /// set and not empty, overrides it (and a reload then leaves the level alone).
    pub level: String,
}

impl Default for TelemetryLogsConfig {
    fn default() -> Self {
        TelemetryLogsConfig {
            level: "info".into(),
        }
    }
}

/// `service.telemetry.metrics:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryMetricsConfig {
    /// Where `/metrics` is served (the Collector's default is port 8888).
    pub address: SocketAddr,
    /// `none` turns self-metrics off; `basic`, `normal` and `detailed` serve them.
    pub level: MetricsLevel,
    /// Serve the admin listener (`/metrics` and components' routes) over TLS, as the OTLP
    /// receiver's `tls:` (mutual TLS with `client_ca_file`).
    pub tls: Option<ServerTlsConfig>,
    /// Answer `POST /-/reload` on the admin listener (re-read the config file, as SIGHUP
    /// does); off by default, as Prometheus's `--web.enable-lifecycle`.
    pub enable_lifecycle: bool,
    /// Every request to the admin listener (`/metrics`, the console, the APIs) is checked by
    /// this authenticator extension (`basicauth`, `bearertokenauth`), as a receiver's
    /// `auth:`. Required when `address` is not a loopback address, unless
    /// `insecure_no_auth` is set.
    pub(crate) auth: Option<AuthConfig>,
    /// Serve the admin listener without authentication on a non-loopback address: anyone who
    /// reaches the port reads the self-metrics, the console, the stored traces and logs, and
    /// can reload the config when `enable_lifecycle` is on (SECURITY.md).
    pub insecure_no_auth: bool,
}

impl TelemetryMetricsConfig {
    /// Refuses a listener off loopback without `auth` (unless `insecure_no_auth`); checks that
    /// `auth` names an enabled authenticator. Errors are (the dotted path under
    /// `service.telemetry.metrics`, message).
    pub(crate) fn check(&self, refs: &crate::component::Refs<'_>) -> Result<(), (String, String)> {
        if let Some(auth) = &self.auth {
            return auth.check_refs(refs).map_err(|m| ("auth".to_string(), m));
        }
        if self.level != MetricsLevel::None
            && !self.address.ip().is_loopback()
            && !self.insecure_no_auth
        {
            return Err((
                "address".to_string(),
                format!(
                    "the admin listener (/metrics, the console, the query APIs) on {} is reachable from other machines, so it needs authentication: set service.telemetry.metrics.auth: {{authenticator: basicauth/<name>}} (or bearertokenauth), bind a loopback address such as 127.0.0.1:{}, or set insecure_no_auth: true to serve it to anyone who can reach the port",
                    self.address,
                    self.address.port()
                ),
            ));
        }
        Ok(())
    }
}

impl Default for TelemetryMetricsConfig {
    fn default() -> Self {
        TelemetryMetricsConfig {
            address: SocketAddr::from(([127, 0, 0, 1], 8888)),
            level: MetricsLevel::Normal,
            tls: None,
            enable_lifecycle: false,
            auth: None,
            insecure_no_auth: false,
        }
    }
}

/// Self-metrics verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsLevel {
    /// No self-metrics endpoint.
    None,
    /// Served.
    Basic,
    /// Served.
    Normal,
    /// Served.
    Detailed,
}

fn ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ComponentId>, D::Error> {
    let raw = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        let id = ComponentId::parse(&s).map_err(serde::de::Error::custom)?;
        if out.contains(&id) {
            return Err(serde::de::Error::custom(format!("{id} is listed twice")));
        }
        out.push(id);
    }
    Ok(out)
}

fn pipelines<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Pipelines, D::Error> {
    let raw = Option::<std::collections::BTreeMap<String, PipelineConfig>>::deserialize(d)?
        .unwrap_or_default();
    let mut out = Pipelines::new();
    for (key, pipeline) in raw {
        let id = ComponentId::parse(&key).map_err(serde::de::Error::custom)?;
        out.insert(id, pipeline);
    }
    Ok(out)
}
