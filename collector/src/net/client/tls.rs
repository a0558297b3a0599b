//! The `tls:` block of every outbound client (the Collector's `configtls.ClientConfig`) and the
//! one function that turns it into a rustls client configuration; also the PEM readers and
//! [`TlsVersion`] that the server side ([`crate::net::server_tls`]) shares.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Deserializer};

/// Client-side TLS, as the Collector's `configtls.ClientConfig`: the `tls:` of the `otlp` and
/// `otlphttp` exporters, of httpcheck targets and of the latency_anomaly alert webhook.
///
/// `ca_file` and `ca_pem` **replace** the trusted roots, as in the Collector: with either set,
/// only those CAs are trusted, unless `include_system_ca_certs_pool: true` keeps the built-in
/// roots as well. (Before Lookout had one client module, httpcheck and the alert webhook added
/// `ca_file` to the built-in roots; configs relying on that need
/// `include_system_ca_certs_pool: true`.) Lookout's system pool is the Mozilla root set built
/// into the binary (`webpki-roots`), so the trust of a container does not depend on its image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTlsConfig {
    /// Plain-text connection (no TLS). Only meaningful for gRPC endpoints given as `host:port`;
    /// for URLs the scheme decides.
    pub insecure: bool,
    /// Skip verifying the server's certificate (testing only).
    pub insecure_skip_verify: bool,
    /// PEM file with the CA certificates to trust, instead of the system pool.
    pub ca_file: Option<PathBuf>,
    /// The same as `ca_file`, inline.
    pub ca_pem: Option<String>,
    /// Trust the system pool too when `ca_file` or `ca_pem` is set.
    pub include_system_ca_certs_pool: bool,
    /// PEM client certificate for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key for mutual TLS.
    pub key_file: Option<PathBuf>,
    /// Name to verify the server's certificate against (and, for gRPC, to send as SNI),
    /// instead of the endpoint's host.
    pub server_name_override: Option<String>,
    /// Lowest TLS version offered: `"1.2"` (default) or `"1.3"`.
    pub min_version: Option<TlsVersion>,
}

/// A TLS protocol version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    Tls13,
}

/// Why a `tls:` block cannot produce a client configuration.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// A configured file cannot be read.
    #[error("tls.{key} {}: {source}", .path.display())]
    Read {
        /// The key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The read error.
        source: std::io::Error,
    },
    /// A certificate or key is not usable PEM.
    #[error("{origin}: {reason}")]
    Pem {
        /// The key and, for files, the path.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Only one of `cert_file` and `key_file` is set.
    #[error("tls.cert_file and tls.key_file must be given together")]
    HalfKeyPair,
    /// `server_name_override` is neither a DNS name nor an IP address.
    #[error("tls.server_name_override {0:?} is not a DNS name or an IP address")]
    ServerName(String),
    /// rustls refused the settings.
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// Builds the rustls client configuration for `tls`, offering the `alpn` protocols. Whether to
/// use TLS at all (`insecure`, the URL's scheme) is the caller's decision.
pub(crate) fn client_config(
    tls: &ClientTlsConfig,
    alpn: &[&[u8]],
) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match tls.min_version {
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
        Some(TlsVersion::Tls12) | None => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|err| TlsError::Setup(err.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(NoVerify(Arc::clone(&provider)))
    } else {
        WebPkiServerVerifier::builder_with_provider(Arc::new(root_store(tls)?), provider)
            .build()
            .map_err(|err| TlsError::Setup(err.to_string()))?
    };
    let verifier = match &tls.server_name_override {
        Some(name) => Arc::new(VerifyAs {
            name: ServerName::try_from(name.clone())
                .map_err(|_| TlsError::ServerName(name.clone()))?,
            inner: verifier,
        }),
        None => verifier,
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key_path)) => {
            let certs = certs(&read("cert_file", cert)?, &origin("cert_file", cert))?;
            let key = private_key(key_path)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|err| TlsError::Setup(format!("client certificate: {err}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::HalfKeyPair),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The roots `tls` trusts: its own CAs, the system pool, or both.
fn root_store(tls: &ClientTlsConfig) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let mut own = Vec::new();
    if let Some(path) = &tls.ca_file {
        own.push((read("ca_file", path)?, origin("ca_file", path)));
    }
    if let Some(pem) = &tls.ca_pem {
        own.push((pem.clone().into_bytes(), "tls.ca_pem".to_owned()));
    }
    for (pem, origin) in &own {
        for cert in certs(pem, origin)? {
            roots.add(cert).map_err(|err| TlsError::Pem {
                origin: origin.clone(),
                reason: err.to_string(),
            })?;
        }
    }
    if own.is_empty() || tls.include_system_ca_certs_pool {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(roots)
}

/// The private key in the PEM file `path` (the `key_file` of a client or a server).
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut read("key_file", path)?.as_slice())
        .map_err(|err| pem_error("key_file", path, err.to_string()))?
        .ok_or_else(|| pem_error("key_file", path, "no PEM private key found".into()))
}

/// `tls.<key> <path>`, naming a file in errors.
pub(crate) fn origin(key: &str, path: &Path) -> String {
    format!("tls.{key} {}", path.display())
}

fn pem_error(key: &str, path: &Path, reason: String) -> TlsError {
    TlsError::Pem {
        origin: origin(key, path),
        reason,
    }
}

/// The bytes of the file `path`, configured as `tls.<key>`.
pub(crate) fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

/// The certificates of a PEM bundle; none at all is an error, since an empty trust list or
/// certificate chain can only be a wrong file.
pub(crate) fn certs(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::Pem {
            origin: origin.to_owned(),
            reason: format!("bad PEM: {err}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            origin: origin.to_owned(),
            reason: "no PEM certificate found".into(),
        });
    }
    Ok(certs)
}

/// Serde `deserialize_with` for the `tls:` of clients whose endpoint is a URL (httpcheck
/// targets, the alert webhook). There the scheme decides between plain text and TLS, so
/// `insecure: true` is refused rather than silently ignored, as before these clients shared
/// [`ClientTlsConfig`].
pub(crate) fn deserialize_for_url<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<ClientTlsConfig, D::Error> {
    let tls = ClientTlsConfig::deserialize(d)?;
    if tls.insecure {
        return Err(serde::de::Error::custom(
            "unknown field `insecure` for a URL endpoint: its scheme decides (http:// is plain \
             text, https:// is TLS)",
        ));
    }
    Ok(tls)
}

/// `server_name_override` for clients that send the URL's host as SNI (reqwest): the
/// certificate is still checked against the configured name.
#[derive(Debug)]
struct VerifyAs {
    name: ServerName<'static>,
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for VerifyAs {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify: true`: accept any certificate (signatures are still checked, and
/// httpcheck still reads the certificate's expiry).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
pub(crate) mod tests;
