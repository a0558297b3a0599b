//! `GET /metrics` in the Prometheus text format.

use std::net::SocketAddr;

use http::{Method, Response, StatusCode, header};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Telemetry;
use crate::Error;
use crate::net::{self, ServeOptions};

/// Binds `address` and serves the registry until `shutdown` fires.
pub async fn start(
    telemetry: Telemetry,
    address: SocketAddr,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), Error> {
    let listener = net::bind("service.telemetry.metrics", &address.to_string()).await?;
    let bound = listener
        .local_addr()
        .map_err(|err| Error::bind("service.telemetry.metrics", address.to_string(), err))?;
    let handle = net::serve(
        listener,
        move |req| {
            let telemetry = telemetry.clone();
            async move {
                let response = if req.method() == Method::GET && req.uri().path() == "/metrics" {
                    Response::builder()
                        .header(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )
                        .body(net::full(telemetry.render()))
                } else {
                    Response::builder()
                        .status(StatusCode::NOT_FOUND)
                        .body(net::full("not found; metrics are at /metrics\n"))
                };
                response.unwrap_or_else(|_| Response::new(net::full("")))
            }
        },
        shutdown,
        ServeOptions::default(),
    );
    Ok((bound, handle))
}
