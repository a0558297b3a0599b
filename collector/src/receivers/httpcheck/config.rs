//! `receivers: httpcheck:` settings, as the Collector's `httpcheckreceiver`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::net::client::ClientTlsConfig;

/// The httpcheck receiver: HTTP endpoints probed on an interval.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HttpCheckConfig {
    /// Endpoints to probe; at least one.
    pub targets: Vec<TargetConfig>,
    /// Time between probes (default `1m`, as the Collector's).
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first probe (default `1s`).
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// Longest a probe may take before it is reported as an error (default `10s`); a target
    /// may set its own.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for HttpCheckConfig {
    fn default() -> Self {
        HttpCheckConfig {
            targets: Vec::new(),
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One `targets:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TargetConfig {
    /// URL to probe (`http://` or `https://`).
    pub endpoint: String,
    /// Further URLs probed with the same settings, as the Collector's `endpoints:`.
    pub endpoints: Vec<String>,
    /// HTTP method (default `GET`).
    pub method: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as is.
    pub body: Option<String>,
    /// This target's timeout, overriding the receiver's.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// TLS settings for `https://` endpoints. `ca_file` replaces the built-in roots, as in the
    /// Collector (it used to add to them here); `include_system_ca_certs_pool: true` keeps them.
    /// `insecure_skip_verify` still reports the certificate's expiry.
    #[serde(deserialize_with = "crate::net::client::tls::deserialize_for_url")]
    pub tls: ClientTlsConfig,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            endpoint: String::new(),
            endpoints: Vec::new(),
            method: "GET".into(),
            headers: BTreeMap::new(),
            body: None,
            timeout: None,
            tls: ClientTlsConfig::default(),
        }
    }
}
