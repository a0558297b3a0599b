//! The `tls:` block of every listener (the Collector's `configtls.ServerConfig`): the OTLP
//! receiver's gRPC and HTTP endpoints and the admin listener. With `client_ca_file`, clients
//! must present a certificate signed by one of its CAs (mutual TLS).
//!
//! Certificates are reloaded without a restart: with `reload_interval` set, the first
//! handshake after each interval looks at the files (size, modification time, inode) and, if
//! one changed, builds a new rustls configuration for this and later handshakes. A new file
//! that does not load (a half-written key, a certificate that does not match its key) is
//! logged and the previous configuration stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;

use super::client::tls::{TlsError, TlsVersion, certs, origin, private_key, read};

/// ALPN of a gRPC listener.
pub(crate) const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN of an HTTP listener (HTTP/2 or HTTP/1.1).
pub(crate) const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Server-side TLS, as the Collector's `configtls.ServerConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM certificate chain the server presents (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key of that certificate.
    pub key_file: PathBuf,
    /// PEM CA certificates that client certificates must chain to. When set, a client
    /// without a valid certificate is refused during the handshake (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Lowest TLS version accepted: `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version accepted (default `"1.3"`).
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
    /// How often the files are checked for changes (on the next handshake); unset: never.
    #[serde(default, with = "humantime_serde")]
    pub reload_interval: Option<Duration>,
}

impl ServerTlsConfig {
    /// Loads every file and builds the configuration once, so `lookout validate` refuses a
    /// missing or unusable certificate, key or CA file as `run` would.
    pub(crate) fn check(&self) -> Result<(), TlsError> {
        build(self, &[]).map(drop)
    }
}

/// A listener's TLS: the current rustls configuration, rebuilt when the files change.
pub(crate) struct ServerTls {
    config: ServerTlsConfig,
    alpn: Vec<Vec<u8>>,
    state: Mutex<Loaded>,
}

struct Loaded {
    server: Arc<ServerConfig>,
    stamps: Vec<Option<Stamp>>,
    checked: Instant,
}

/// What tells a file changed without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads `config`'s files; `alpn` are the protocols offered (`h2` for gRPC, `h2` and
    /// `http/1.1` for HTTP listeners).
    pub(crate) fn new(config: &ServerTlsConfig, alpn: &[&[u8]]) -> Result<ServerTls, TlsError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let stamps = stamps(config);
        let server = Arc::new(build(config, &alpn)?);
        Ok(ServerTls {
            config: config.clone(),
            alpn,
            state: Mutex::new(Loaded {
                server,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The configuration for a new handshake, reloaded first if `reload_interval` passed and a
    /// file changed.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(interval) = self.config.reload_interval
            && state.checked.elapsed() >= interval
        {
            state.checked = Instant::now();
            let now = stamps(&self.config);
            if now != state.stamps {
                match build(&self.config, &self.alpn) {
                    Ok(server) => {
                        tracing::info!(cert_file = %self.config.cert_file.display(), "TLS certificates reloaded");
                        state.server = Arc::new(server);
                        state.stamps = now;
                    }
                    // The stamps stay old, so the next check tries again (the files may be
                    // half-written).
                    Err(err) => {
                        tracing::warn!(error = %err, "TLS certificates not reloaded; keeping the previous ones")
                    }
                }
            }
        }
        Arc::clone(&state.server)
    }
}

fn stamps(config: &ServerTlsConfig) -> Vec<Option<Stamp>> {
    let files = [
        Some(config.cert_file.as_path()),
        Some(config.key_file.as_path()),
        config.client_ca_file.as_deref(),
    ];
    files.into_iter().flatten().map(stamp).collect()
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: meta.ino(),
    })
}

/// The rustls configuration for `config`.
fn build(config: &ServerTlsConfig, alpn: &[Vec<u8>]) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let min = config.min_version.unwrap_or(TlsVersion::Tls12);
    let max = config.max_version.unwrap_or(TlsVersion::Tls13);
    if min > max {
        return Err(TlsError::Setup(
            "tls.min_version is above tls.max_version".into(),
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls13, &rustls::version::TLS13),
        (TlsVersion::Tls12, &rustls::version::TLS12),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, v)| v)
    .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|err| TlsError::Setup(err.to_string()))?;
    let builder = match &config.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let origin = origin("client_ca_file", path);
            let mut roots = RootCertStore::empty();
            for cert in certs(&read("client_ca_file", path)?, &origin)? {
                roots.add(cert).map_err(|err| TlsError::Pem {
                    origin: origin.clone(),
                    reason: err.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|err| TlsError::Setup(format!("{origin}: {err}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let chain = certs(
        &read("cert_file", &config.cert_file)?,
        &origin("cert_file", &config.cert_file),
    )?;
    let key = private_key(&config.key_file)?;
    let mut server = builder.with_single_cert(chain, key).map_err(|err| {
        TlsError::Setup(format!(
            "tls.cert_file {} with tls.key_file {}: {err}",
            config.cert_file.display(),
            config.key_file.display()
        ))
    })?;
    server.alpn_protocols = alpn.to_vec();
    Ok(server)
}

#[cfg(test)]
mod tests;
