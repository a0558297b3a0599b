//! Probes against local servers: every outcome the receiver must report as data.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{any, get};
use lookout_proto::otlp::metrics::v1::Metric;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::check_all;
use super::config::HttpCheckConfig;
use super::probe::Target;
use crate::core::otlp_build::Num;
use crate::receivers::hostmetrics::test_support::{attr_text, data_points};

const CERT_PEM: &str = include_str!("testdata/cert.pem");
const KEY_PEM: &str = include_str!("testdata/key.pem");
/// `notAfter` of `testdata/cert.pem` (2126-11-02T00:03:55Z), from `openssl x509 -enddate`.
const CERT_NOT_AFTER: i64 = 4_949_251_435;

async fn serve_http() -> std::net::SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no") }))
        .route(
            "/unavailable",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "late"
            }),
        )
        .route(
            "/echo",
            any(
                |method: Method, headers: HeaderMap, body: String| async move {
                    let ok = method == Method::POST
                        && headers.get("x-probe").is_some_and(|v| v == "yes")
                        && body == "ping";
                    if ok {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::BAD_REQUEST
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn targets(yaml: &str) -> Vec<Target> {
    let config: HttpCheckConfig = serde_yaml_ng::from_str(yaml).unwrap();
    config.targets().unwrap()
}

/// Points of `name` by `http.url`.
fn by_url<'a>(
    metrics: &'a [Metric],
    name: &str,
) -> HashMap<String, Vec<&'a lookout_proto::otlp::metrics::v1::NumberDataPoint>> {
    let mut out: HashMap<String, Vec<_>> = HashMap::new();
    for m in metrics.iter().filter(|m| m.name == name) {
        for p in data_points(m) {
            out.entry(attr_text(p, "http.url")).or_default().push(p);
        }
    }
    out
}

fn status_of(metrics: &[Metric], url: &str) -> (String, String) {
    let statuses = by_url(metrics, "httpcheck.status");
    let points = statuses
        .get(url)
        .unwrap_or_else(|| panic!("no status for {url}"));
    assert_eq!(points.len(), 5, "one point per status class");
    let hits: Vec<_> = points
        .iter()
        .filter(|p| super::super::hostmetrics::test_support::value(p) == Num::Int(1))
        .collect();
    assert_eq!(hits.len(), 1, "exactly one class is 1");
    (
        attr_text(hits[0], "http.status_class"),
        attr_text(hits[0], "http.status_code"),
    )
}

#[tokio::test]
async fn statuses_timeouts_and_refused_connections_are_data() {
    let addr = serve_http().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let base = format!("http://{addr}");
    let yaml = format!(
        "timeout: 300ms
targets:
  - endpoint: {base}/ok
  - endpoints: [{base}/missing, {base}/unavailable]
  - endpoint: {base}/slow
  - endpoint: http://{closed}/
  - endpoint: {base}/echo
    method: post
    headers: {{x-probe: 'yes'}}
    body: ping
"
    );
    let request = check_all(&targets(&yaml)).await;
    let metrics: Vec<Metric> = request.resource_metrics[0].scope_metrics[0].metrics.clone();
    for m in &metrics {
        let unit = match m.name.as_str() {
            "httpcheck.status" => "1",
            "httpcheck.duration" => "ms",
            "httpcheck.error" => "{error}",
            other => panic!("unexpected metric {other}"),
        };
        assert_eq!(m.unit, unit, "{}", m.name);
    }
    assert_eq!(
        status_of(&metrics, &format!("{base}/ok")),
        ("2xx".into(), "200".into())
    );
    assert_eq!(
        status_of(&metrics, &format!("{base}/missing")),
        ("4xx".into(), "404".into())
    );
    assert_eq!(
        status_of(&metrics, &format!("{base}/unavailable")),
        ("5xx".into(), "503".into())
    );
    assert_eq!(
        status_of(&metrics, &format!("{base}/echo")),
        ("2xx".into(), "204".into())
    );
    let method = by_url(&metrics, "httpcheck.status")[&format!("{base}/echo")]
        .iter()
        .map(|p| attr_text(p, "http.method"))
        .next();
    assert_eq!(method.as_deref(), Some("POST"));

    let errors = by_url(&metrics, "httpcheck.error");
    assert_eq!(
        errors.len(),
        2,
        "only the slow and the closed targets fail: {errors:?}"
    );
    let slow = attr_text(errors[&format!("{base}/slow")][0], "error.message");
    assert!(slow.contains("timed out"), "{slow}");
    let refused = attr_text(errors[&format!("http://{closed}/")][0], "error.message");
    assert!(refused.to_lowercase().contains("refused"), "{refused}");
    assert!(!by_url(&metrics, "httpcheck.status").contains_key(&format!("{base}/slow")));

    let durations = by_url(&metrics, "httpcheck.duration");
    assert_eq!(durations.len(), 6, "every target reports a duration");
}

#[test]
fn bad_targets_are_config_errors() {
    for yaml in [
        "targets: []",
        "targets: [{endpoint: 'ftp://x/'}]",
        "targets: [{endpoint: 'not a url'}]",
        "targets: [{endpoint: 'http://x/', method: 'BAD METHOD'}]",
        "targets: [{method: GET}]",
        "targets: [{endpoint: 'http://x/', tls: {ca_file: /nonexistent/ca.pem}}]",
    ] {
        let config: HttpCheckConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert!(config.targets().is_err(), "{yaml} must be rejected");
    }
    assert!(
        serde_yaml_ng::from_str::<HttpCheckConfig>("targets: [{endpoint: 'http://x/', nope: 1}]")
            .is_err()
    );
}

#[test]
fn fixture_certificate_is_summarized() {
    let der = rustls_pemfile::certs(&mut CERT_PEM.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let summary = super::cert::summarize(&der).unwrap();
    assert_eq!(summary.not_after, CERT_NOT_AFTER);
    assert_eq!(summary.common_name, "localhost");
    assert_eq!(summary.issuer, "CN=localhost,O=Lookout Test,C=US");
    assert_eq!(summary.sans, ["localhost", "127.0.0.1"]);
}

async fn serve_https() -> std::net::SocketAddr {
    let certs: Vec<_> = rustls_pemfile::certs(&mut CERT_PEM.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut KEY_PEM.as_bytes())
        .unwrap()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_reports_certificate_remaining_time() {
    let addr = serve_https().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, CERT_PEM).unwrap();
    let url = format!("https://localhost:{}/", addr.port());
    let yaml = format!(
        "targets: [{{endpoint: '{url}', tls: {{ca_file: '{}'}}}}]",
        ca.display()
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let request = check_all(&targets(&yaml)).await;
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let metrics = request.resource_metrics[0].scope_metrics[0].metrics.clone();
    assert!(
        by_url(&metrics, "httpcheck.error").is_empty(),
        "{metrics:?}"
    );
    assert_eq!(status_of(&metrics, &url), ("2xx".into(), "200".into()));
    let remaining = &by_url(&metrics, "httpcheck.tls.cert_remaining")[&url];
    let Num::Int(secs) = super::super::hostmetrics::test_support::value(remaining[0]) else {
        panic!("cert_remaining must be an int")
    };
    assert!(
        (CERT_NOT_AFTER - after..=CERT_NOT_AFTER - before).contains(&secs),
        "{secs}"
    );
    assert_eq!(attr_text(remaining[0], "http.tls.cn"), "localhost");
    assert_eq!(
        attr_text(remaining[0], "http.tls.issuer"),
        "CN=localhost,O=Lookout Test,C=US"
    );
    let m = metrics
        .iter()
        .find(|m| m.name == "httpcheck.tls.cert_remaining")
        .unwrap();
    assert_eq!(m.unit, "s");
}

#[tokio::test]
async fn untrusted_certificate_is_an_error_not_a_crash() {
    let addr = serve_https().await;
    let url = format!("https://localhost:{}/", addr.port());
    let request = check_all(&targets(&format!("targets: [{{endpoint: '{url}'}}]"))).await;
    let metrics = request.resource_metrics[0].scope_metrics[0].metrics.clone();
    assert!(by_url(&metrics, "httpcheck.error").contains_key(&url));
}

/// `ca_file` replaces the built-in roots (the Collector's meaning); with
/// `include_system_ca_certs_pool: true` the test certificate is trusted all the same, and
/// `insecure` is refused because the URL's scheme decides.
#[tokio::test]
async fn ca_file_with_the_system_pool_still_trusts_the_ca() {
    let addr = serve_https().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, CERT_PEM).unwrap();
    let url = format!("https://localhost:{}/", addr.port());
    let yaml = format!(
        "targets: [{{endpoint: '{url}', tls: {{ca_file: '{}', include_system_ca_certs_pool: true}}}}]",
        ca.display()
    );
    let request = check_all(&targets(&yaml)).await;
    let metrics = request.resource_metrics[0].scope_metrics[0].metrics.clone();
    assert!(
        by_url(&metrics, "httpcheck.error").is_empty(),
        "{metrics:?}"
    );
    assert_eq!(status_of(&metrics, &url), ("2xx".into(), "200".into()));
    let err = serde_yaml_ng::from_str::<HttpCheckConfig>(
        "targets: [{endpoint: 'https://x/', tls: {insecure: true}}]",
    )
    .unwrap_err();
    assert!(err.to_string().contains("insecure"), "{err}");
}
