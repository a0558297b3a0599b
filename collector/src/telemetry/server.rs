//! The admin listener: `GET /metrics` in the Prometheus text format, and the routes components
//! mount on it ([`AdminRoutes`]).

use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Telemetry;
use crate::Error;
use crate::component::AdminRoutes;
use crate::component::admin::MAX_BODY;
use crate::net::server_tls::{ALPN_HTTP, ServerTls, ServerTlsConfig};
use crate::net::{self, Body, ServeOptions};

/// Binds `address` and serves until `shutdown` fires, over TLS when `tls` is given.
pub(crate) async fn start(
    telemetry: Telemetry,
    routes: AdminRoutes,
    address: SocketAddr,
    tls: Option<&ServerTlsConfig>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), Error> {
    let tls = tls
        .map(|tls| ServerTls::new(tls, ALPN_HTTP).map(std::sync::Arc::new))
        .transpose()
        .map_err(|err| Error::component("service.telemetry.metrics", err.to_string()))?;
    let listener = net::bind("service.telemetry.metrics", &address.to_string()).await?;
    let bound = listener
        .local_addr()
        .map_err(|err| Error::bind("service.telemetry.metrics", address.to_string(), err))?;
    let handle = net::serve(
        listener,
        move |req| {
            let telemetry = telemetry.clone();
            let routes = routes.clone();
            async move { answer(req, &telemetry, &routes).await }
        },
        shutdown,
        ServeOptions {
            tls,
            ..ServeOptions::default()
        },
    );
    Ok((bound, handle))
}

async fn answer(
    req: Request<Incoming>,
    telemetry: &Telemetry,
    routes: &AdminRoutes,
) -> Response<Body> {
    let path = req.uri().path();
    if path == "/metrics" {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "use GET /metrics\n");
        }
        return Response::builder()
            .header(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .body(net::full(telemetry.render()))
            .unwrap_or_else(|_| Response::new(net::full("")));
    }
    let Some(handler) = routes.find(path) else {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        );
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
    };
    handler(Request::from_parts(parts, body)).await
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(net::full(text))
        .unwrap_or_else(|_| Response::new(net::full("")))
}
