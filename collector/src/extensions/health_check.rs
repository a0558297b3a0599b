//! `extensions: health_check:` — 200 while every pipeline runs, 503 otherwise, as the
//! Collector's `healthcheckextension`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Response, StatusCode, header};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::net::{self, ServeOptions};

/// Health-check settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// `host:port` to listen on (default `127.0.0.1:13133`).
    pub endpoint: String,
    /// Path answered (default `/`).
    pub path: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: "127.0.0.1:13133".into(),
            path: "/".into(),
        }
    }
}

/// Whether the collector is up: set once every pipeline runs, cleared when shutdown begins.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Marks the collector ready or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether the collector is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// Binds and serves the health endpoint until `shutdown` fires.
pub async fn start(
    config: &HealthCheckConfig,
    health: Health,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, Error> {
    let listener = net::bind("extensions.health_check", &config.endpoint).await?;
    let path = config.path.clone();
    Ok(net::serve(
        listener,
        move |req| {
            let ok = req.uri().path() == path;
            let ready = health.is_ready();
            async move {
                let (status, body) = match (ok, ready) {
                    (false, _) => (StatusCode::NOT_FOUND, "{\"status\":\"not found\"}"),
                    (true, true) => (StatusCode::OK, "{\"status\":\"Server available\"}"),
                    (true, false) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "{\"status\":\"Server not available\"}",
                    ),
                };
                Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(net::full(body))
                    .unwrap_or_else(|_| Response::new(net::full("")))
            }
        },
        shutdown,
        ServeOptions::default(),
    ))
}
