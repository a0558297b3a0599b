//! `extensions: health_check:` — 200 while every pipeline runs, 503 otherwise, as the
//! Collector's `healthcheckextension`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::{Response, StatusCode, header};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::component::Validate;
use crate::net::{self, ServeOptions};

mod factory;
pub(crate) use factory::Factory;

/// Health-check settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HealthCheckConfig {
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

/// Whether the collector is up: set once every pipeline runs, cleared when shutdown begins,
/// and not ready while any supervised component is down.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    down: Arc<Mutex<BTreeSet<String>>>,
}

impl Health {
    /// Marks the collector ready or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Records that component `id` stopped (`false`) or runs again (`true`).
    pub fn set_component(&self, id: &str, up: bool) {
        let mut down = self
            .down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if up {
            down.remove(id);
        } else {
            down.insert(id.to_string());
        }
    }

    /// Whether the collector is ready: started, not stopping, and no component down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && self.down.lock().map(|d| d.is_empty()).unwrap_or(false)
    }
}

impl Validate for HealthCheckConfig {
    fn validate(&self) -> Result<(), String> {
        crate::net::check_endpoint(&self.endpoint)?;
        if !self.path.starts_with('/') {
            return Err(format!("path {:?} must start with '/'", self.path));
        }
        Ok(())
    }
}

/// Binds and serves the health endpoint until `shutdown` fires.
pub(crate) async fn start(
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
