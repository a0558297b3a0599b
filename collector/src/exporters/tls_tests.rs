//! The OTLP exporters over TLS against a local rustls server (self-signed test certificate).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::Export;
use super::otlp::{OtlpGrpcExporter, OtlpGrpcExporterConfig};
use super::otlphttp::{OtlpHttpExporter, OtlpHttpExporterConfig};
use crate::config::shared::ClientTlsConfig;
use crate::core::{Batch, Signal};
use crate::net::{self, Body};

const CERT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/receivers/httpcheck/testdata/cert.pem"
);
const KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/receivers/httpcheck/testdata/key.pem"
);

/// A TLS server answering every gRPC call OK and every HTTP POST 200, counting request bytes
/// (the remote-write exporter's tests use it too).
pub(super) async fn tls_server(received: Arc<AtomicUsize>) -> u16 {
    let certs = rustls_pemfile::certs(&mut std::fs::read(CERT).unwrap().as_slice())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut std::fs::read(KEY).unwrap().as_slice())
        .unwrap()
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let received = Arc::clone(&received);
                    async move {
                        let grpc = req
                            .headers()
                            .get("content-type")
                            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        received.fetch_add(body.len(), Ordering::SeqCst);
                        let response: Response<Body> = if grpc {
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                            let frames = [
                                Ok(hyper::body::Frame::data(Bytes::from_static(&[
                                    0, 0, 0, 0, 0,
                                ]))),
                                Ok(hyper::body::Frame::trailers(trailers)),
                            ];
                            let mut r = Response::new(
                                http_body_util::StreamBody::new(futures::stream::iter(frames))
                                    .boxed_unsync(),
                            );
                            r.headers_mut().insert(
                                "content-type",
                                http::HeaderValue::from_static("application/grpc"),
                            );
                            r
                        } else {
                            Response::new(net::full(""))
                        };
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    port
}

fn batch() -> Batch {
    Batch::new(Signal::Traces, Bytes::from_static(b""), 0)
}

pub(super) fn trusted() -> ClientTlsConfig {
    ClientTlsConfig {
        ca_file: Some(CERT.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_exporter_speaks_tls_with_a_configured_ca() {
    let received = Arc::new(AtomicUsize::new(0));
    let port = tls_server(Arc::clone(&received)).await;
    let exporter = OtlpGrpcExporter::new(
        "otlp".into(),
        &OtlpGrpcExporterConfig {
            endpoint: format!("localhost:{port}"),
            tls: trusted(),
            ..Default::default()
        },
    )
    .unwrap();
    exporter.export(&batch()).await.unwrap();
    assert!(
        received.load(Ordering::SeqCst) >= 5,
        "a gRPC frame arrived over TLS"
    );
}

#[tokio::test]
async fn grpc_exporter_refuses_an_untrusted_certificate() {
    let port = tls_server(Arc::new(AtomicUsize::new(0))).await;
    // Default roots (the web PKI) do not include the self-signed test certificate.
    let exporter = OtlpGrpcExporter::new(
        "otlp".into(),
        &OtlpGrpcExporterConfig {
            endpoint: format!("localhost:{port}"),
            ..Default::default()
        },
    )
    .unwrap();
    let err = exporter.export(&batch()).await.unwrap_err();
    assert!(err.to_string().contains("TLS handshake"), "{err}");
}

#[tokio::test]
async fn http_exporter_speaks_tls_with_a_configured_ca() {
    let received = Arc::new(AtomicUsize::new(0));
    let port = tls_server(Arc::clone(&received)).await;
    let exporter = OtlpHttpExporter::new(
        "otlphttp".into(),
        &OtlpHttpExporterConfig {
            endpoint: format!("https://localhost:{port}"),
            tls: trusted(),
            ..Default::default()
        },
    )
    .unwrap();
    exporter.export(&batch()).await.unwrap();
    assert!(
        received.load(Ordering::SeqCst) > 0,
        "a gzip body arrived over TLS"
    );
}
