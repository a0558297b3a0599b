//! TLS and mutual TLS on the OTLP receiver's gRPC and HTTP endpoints, with certificates made
//! by each test: real TLS clients (the Python SDK's exporters, reqwest, a hand-made HTTP/2
//! client over tokio-rustls) get in; plain text, a client without a certificate, one signed by
//! another CA and an expired one are refused; replaced certificate files are served to new
//! handshakes; `lookout validate` refuses a missing certificate file.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`); fails without it.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};
use support::{
    GRPC_TRACES, Lookout, Ports, encode, grpc_call_on, grpc_frame, otlp_receiver, run_send_py,
    service, trace_request, validate,
};

/// `requests` (under the SDK's HTTP exporter) lets these variables override the CA file the
/// exporter configures; emptied, the SDK's own OTEL_EXPORTER_OTLP_CERTIFICATE is used.
const NO_REQUESTS_BUNDLE: [(&str, &str); 2] = [("REQUESTS_CA_BUNDLE", ""), ("CURL_CA_BUNDLE", "")];

/// A certificate authority of the test.
struct Ca(CertifiedIssuer<'static, KeyPair>);

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca(CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA"))
    }

    /// A certificate for `localhost` and 127.0.0.1, valid until the start of `until_year`.
    fn leaf(&self, until_year: i32) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(until_year, 1, 1);
        // What strict verifiers (Python 3.13's default X509_STRICT) want of a leaf.
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.0).expect("sign");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn pem(&self) -> String {
        self.0.pem()
    }
}

/// Writes `text` to `dir/name` the way certificate managers replace files: a temp file
/// renamed over the old one.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

/// The server's and the clients' certificates, in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    server_ca: Ca,
    client_ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().expect("temp dir"),
            server_ca: Ca::new("server CA"),
            client_ca: Ca::new("client CA"),
        };
        pki.replace_server_cert();
        write(pki.dir.path(), "ca.pem", &pki.server_ca.pem());
        write(pki.dir.path(), "client-ca.pem", &pki.client_ca.pem());
        pki
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A new server certificate in `server.pem` / `server.key`; returns its DER.
    fn replace_server_cert(&self) -> Vec<u8> {
        let leaf = self.server_ca.leaf(4000);
        // Key first: the reload must not pair the new certificate with the old key for long.
        write(self.dir.path(), "server.key", &leaf.key);
        write(self.dir.path(), "server.pem", &leaf.cert);
        der(&leaf.cert)
    }

    /// A `tls:` block (indented for a protocol) with `extra` lines.
    fn tls_block(&self, extra: &str) -> String {
        format!(
            "        tls:\n          cert_file: {}\n          key_file: {}\n{extra}",
            self.path("server.pem"),
            self.path("server.key")
        )
    }

    fn mtls_block(&self) -> String {
        self.tls_block(&format!(
            "          client_ca_file: {}\n",
            self.path("client-ca.pem")
        ))
    }
}

fn der(pem: &str) -> Vec<u8> {
    let mut reader = pem.as_bytes();
    rustls_pemfile::certs(&mut reader)
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

fn config(p: &Ports, tls: &str) -> String {
    format!(
        "{}exporters:\n  debug:\n{}",
        otlp_receiver(p, tls, tls),
        service(
            p,
            "    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"
        )
    )
}

/// A rustls client trusting `ca`, presenting `identity` if given, offering `alpn`.
fn client_config(ca: &str, identity: Option<&Leaf>, alpn: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(der(ca)))
        .expect("trust the CA");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            let key = rustls_pemfile::private_key(&mut leaf.key.as_bytes())
                .expect("PEM")
                .expect("a key");
            builder
                .with_client_auth_cert(vec![CertificateDer::from(der(&leaf.cert))], key)
                .expect("client certificate")
        }
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}

/// A TLS connection to `port`, verified for `localhost`.
async fn tls_connect(
    port: u16,
    config: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

/// An OTLP/gRPC export over TLS with `config`: the gRPC code, or the error that stopped it.
async fn grpc_export(port: u16, config: rustls::ClientConfig) -> Result<tonic::Code, String> {
    let tls = tls_connect(port, config)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let body = grpc_frame(&encode(&trace_request("tls", 1, 0)), false);
    let reply = grpc_call_on(
        tls,
        GRPC_TRACES,
        &[("content-type", "application/grpc")],
        body,
    )
    .await?;
    Ok(reply.code())
}

/// An OTLP/HTTP export with reqwest over `https://` (or `http://` when `ca` is `None`).
async fn http_export(port: u16, ca: Option<&str>, identity: Option<&Leaf>) -> Result<u16, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        builder = builder
            .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"));
    }
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert, leaf.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    let scheme = if ca.is_some() { "https" } else { "http" };
    let response = builder
        .build()
        .expect("client")
        .post(format!("{scheme}://localhost:{port}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(encode(&trace_request("tls", 1, 0)))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn tls_clients_get_in_and_plain_text_is_refused() {
    let pki = Pki::new();
    let lookout = Lookout::start(|p| config(p, &pki.tls_block(""))).await;
    let ca = pki.server_ca.pem();
    let ports = lookout.ports;

    assert_eq!(
        grpc_export(ports.grpc, client_config(&ca, None, b"h2")).await,
        Ok(tonic::Code::Ok)
    );
    assert_eq!(http_export(ports.http, Some(&ca), None).await, Ok(200));

    // Plain text on the TLS ports: no HTTP answer at all.
    let plain = tokio::net::TcpStream::connect(("127.0.0.1", ports.grpc))
        .await
        .expect("connect");
    let body = grpc_frame(&encode(&trace_request("plain", 1, 0)), false);
    let refused = grpc_call_on(
        plain,
        GRPC_TRACES,
        &[("content-type", "application/grpc")],
        body,
    )
    .await;
    assert!(refused.is_err(), "h2c on the TLS gRPC port: {refused:?}");
    let refused = http_export(ports.http, None, None).await;
    assert!(
        refused.is_err(),
        "http:// on the TLS HTTP port: {refused:?}"
    );

    // A client trusting another CA refuses the server.
    let other = Ca::new("someone else").pem();
    assert!(
        grpc_export(ports.grpc, client_config(&other, None, b"h2"))
            .await
            .is_err()
    );

    // The real SDK, trusting the test CA through its own variable.
    let ca_path = pki.path("ca.pem");
    let env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path.as_str()),
        NO_REQUESTS_BUNDLE[0],
        NO_REQUESTS_BUNDLE[1],
    ];
    for (protocol, port) in [("grpc", ports.grpc), ("http", ports.http)] {
        let endpoint = format!("https://localhost:{port}");
        run_send_py(protocol, &endpoint, "traces", &lookout, &env).await;
    }
    let accepted = lookout
        .metrics()
        .await
        .get(
            "lookout_receiver_accepted_spans_total",
            &[("transport", "grpc")],
        )
        .unwrap_or(0.0);
    assert!(
        accepted > 1.0,
        "the SDK's spans arrived over gRPC: {accepted}"
    );
    lookout.stop_ok().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_valid_client_certificate() {
    let pki = Pki::new();
    let lookout = Lookout::start(|p| config(p, &pki.mtls_block())).await;
    let ca = pki.server_ca.pem();
    let ports = lookout.ports;
    let good = pki.client_ca.leaf(4000);
    let expired = pki.client_ca.leaf(2001);
    let stranger = Ca::new("client CA").leaf(4000);

    assert_eq!(
        grpc_export(ports.grpc, client_config(&ca, Some(&good), b"h2")).await,
        Ok(tonic::Code::Ok)
    );
    assert_eq!(
        http_export(ports.http, Some(&ca), Some(&good)).await,
        Ok(200)
    );

    for (what, identity) in [
        ("no client certificate", None),
        ("a certificate of another CA", Some(&stranger)),
        ("an expired certificate", Some(&expired)),
    ] {
        let grpc = grpc_export(ports.grpc, client_config(&ca, identity, b"h2")).await;
        assert!(grpc.is_err(), "gRPC with {what}: {grpc:?}");
        let http = http_export(ports.http, Some(&ca), identity).await;
        assert!(http.is_err(), "HTTP with {what}: {http:?}");
    }

    // The real SDK with a client certificate, through its own variables.
    let good_cert = write(pki.dir.path(), "client.pem", &good.cert);
    let good_key = write(pki.dir.path(), "client.key", &good.key);
    let (ca_path, cert, key) = (
        pki.path("ca.pem"),
        good_cert.display().to_string(),
        good_key.display().to_string(),
    );
    let env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path.as_str()),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert.as_str()),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.as_str()),
        NO_REQUESTS_BUNDLE[0],
        NO_REQUESTS_BUNDLE[1],
    ];
    for (protocol, port) in [("grpc", ports.grpc), ("http", ports.http)] {
        let endpoint = format!("https://localhost:{port}");
        run_send_py(protocol, &endpoint, "traces", &lookout, &env).await;
    }
    lookout.stop_ok().await;
}

#[tokio::test]
async fn replaced_certificates_are_served_to_new_handshakes() {
    let pki = Pki::new();
    let lookout =
        Lookout::start(|p| config(p, &pki.tls_block("          reload_interval: 100ms\n"))).await;
    let ca = pki.server_ca.pem();
    let presented = |port| {
        let config = client_config(&ca, None, b"h2");
        async move {
            let tls = tls_connect(port, config).await.expect("TLS handshake");
            tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
        }
    };
    let first = presented(lookout.ports.grpc).await;
    assert_eq!(presented(lookout.ports.http).await, first);

    let second = pki.replace_server_cert();
    assert_ne!(first, second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for port in [lookout.ports.grpc, lookout.ports.http] {
        // The first handshake after the interval sees the change.
        assert_eq!(presented(port).await, second, "port {port}");
    }
    assert_eq!(
        grpc_export(lookout.ports.grpc, client_config(&ca, None, b"h2")).await,
        Ok(tonic::Code::Ok)
    );
    lookout.stop_ok().await;
}

#[test]
fn validate_refuses_a_missing_certificate_file() {
    let pki = Pki::new();
    let ports = Ports {
        grpc: 4317,
        http: 4318,
        health: 13133,
        metrics: 8888,
    };
    let mut tls = pki.tls_block("");
    tls = tls.replace("server.pem", "missing.pem");
    let (_dir, _path, output) = validate(&config(&ports, &tls));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "validate accepted it: {stderr}");
    assert!(
        stderr.contains("protocols.grpc: tls.cert_file") && stderr.contains("missing.pem"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_admin_listener_serves_tls() {
    let pki = Pki::new();
    let tls = format!(
        "      tls:\n        cert_file: {}\n        key_file: {}\n",
        pki.path("server.pem"),
        pki.path("server.key")
    );
    let lookout = Lookout::start(|p| {
        config(p, "").replace(
            &format!("      address: 127.0.0.1:{}\n", p.metrics),
            &format!("      address: 127.0.0.1:{}\n{tls}", p.metrics),
        )
    })
    .await;
    let ca = reqwest::Certificate::from_pem(pki.server_ca.pem().as_bytes()).expect("CA");
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let port = lookout.ports.metrics;
    let metrics = client
        .get(format!("https://localhost:{port}/metrics"))
        .send()
        .await
        .expect("GET /metrics over TLS");
    assert_eq!(metrics.status().as_u16(), 200);
    let plain = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain text on the admin TLS port: {plain:?}"
    );
    lookout.stop_ok().await;
}
