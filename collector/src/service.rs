//! Lifecycle: start everything a configuration describes, replace it with another while it
//! runs (a reload), and stop it in order: receivers, then (once drained) processors,
//! connectors and exporters, then extensions and the admin listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::Error;
use crate::component::{AdminRoutes, Host};
use crate::config::{Config, ConfigError, service::MetricsLevel};
use crate::extensions::health_check::Health;
use crate::pipeline::build::{self, ReloadError, Running};
use crate::telemetry::server::Reload;
use crate::telemetry::{self, Telemetry};

/// A running collector.
#[derive(Debug)]
pub struct Service {
    running: Running,
    /// Extension tasks and the admin listener: stopped by the host's shutdown token, last.
    servers: Vec<JoinHandle<()>>,
    host: Host,
    metrics_address: Option<SocketAddr>,
    /// Reloads asked for with `POST /-/reload` (`None`: the route is off).
    reloads: Option<mpsc::Receiver<Reload>>,
    reload_metrics: ReloadMetrics,
}

/// A reload asked for over the admin listener: run [`Service::reload`] and
/// [`answer`](ReloadRequest::answer) it with the result.
#[derive(Debug)]
pub struct ReloadRequest {
    reply: Reload,
}

impl ReloadRequest {
    /// Tells the HTTP client how the reload went (200, or 400 with the error).
    pub fn answer(self, result: Result<(), String>) {
        // The client may have gone; the reload happened anyway.
        let _ = self.reply.send(result);
    }
}

/// `lookout_config_reloads_total{result}` and the last successful reload, named after
/// Prometheus's `prometheus_config_last_reload_*`.
#[derive(Debug)]
struct ReloadMetrics {
    success: Counter,
    failure: Counter,
    successful: Gauge,
    success_time: Gauge,
}

impl ReloadMetrics {
    fn new(telemetry: &Telemetry) -> ReloadMetrics {
        let count = |result: &str| {
            telemetry.counter(
                "config_reloads",
                "Configuration reloads (SIGHUP or POST /-/reload), by result.",
                vec![("result", result.to_string())],
            )
        };
        let metrics = ReloadMetrics {
            success: count("success"),
            failure: count("failure"),
            successful: telemetry.gauge(
                "config_last_reload_successful",
                "Whether the last configuration reload (or the start) succeeded.",
                Vec::new(),
            ),
            success_time: telemetry.gauge(
                "config_last_reload_success_timestamp_seconds",
                "When the running configuration was loaded (start or last successful reload), in Unix seconds.",
                Vec::new(),
            ),
        };
        metrics.record(true);
        metrics
    }

    fn record(&self, ok: bool) {
        self.successful.set(i64::from(ok));
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            self.success_time.set(now);
        }
    }
}

impl Service {
    /// Starts the admin listener, extensions, exporters, connectors, pipelines and receivers.
    pub async fn start(config: Config) -> Result<Service, Error> {
        let config = Arc::new(config);
        let telemetry = Telemetry::new();
        let host = Host::new(telemetry.clone(), Health::default(), AdminRoutes::default());
        let mut servers = Vec::new();
        let mut metrics_address = None;
        let mut reloads = None;
        let metrics = &config.service.telemetry.metrics;
        if metrics.level != MetricsLevel::None {
            let lifecycle = metrics.enable_lifecycle.then(|| {
                let (tx, rx) = mpsc::channel(1);
                reloads = Some(rx);
                tx
            });
            let (bound, handle) = telemetry::server::start(
                telemetry.clone(),
                host.admin().clone(),
                metrics.address,
                metrics.tls.as_ref(),
                lifecycle,
                host.shutdown(),
            )
            .await?;
            tracing::info!(address = %bound, tls = metrics.tls.is_some(), lifecycle = metrics.enable_lifecycle, "admin listener: self-metrics at /metrics");
            metrics_address = Some(bound);
            servers.push(handle);
        }
        let started = async {
            for id in &config.service.extensions {
                let Some(c) = config.extensions.get(id) else {
                    return Err(Error::component(id, "extension is not defined"));
                };
                let extension = c.factory.start(c.config.as_ref(), id, &host).await?;
                servers.extend(extension.tasks);
                host.add_extension(id.clone(), extension.service);
            }
            build::start(&config, &host).await
        };
        let running = match started.await {
            Ok(running) => running,
            Err(err) => {
                host.shutdown().cancel();
                return Err(err);
            }
        };
        host.health().set_ready(true);
        Ok(Service {
            running,
            servers,
            reload_metrics: ReloadMetrics::new(&telemetry),
            host,
            metrics_address,
            reloads,
        })
    }

    /// The self-metrics registry.
    #[cfg(test)]
    pub(crate) fn telemetry(&self) -> &Telemetry {
        self.host.telemetry()
    }

    /// Where the admin listener (`/metrics` and components' routes) is, if it runs.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// The next `POST /-/reload`; never resolves when `enable_lifecycle` is off.
    pub async fn reload_requested(&mut self) -> ReloadRequest {
        match self.reloads.as_mut() {
            Some(rx) => match rx.recv().await {
                Some(reply) => ReloadRequest { reply },
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// Replaces the running configuration with `config` (the configuration file read and
    /// checked again, or the error doing so): unchanged pipelines, exporters and receivers keep
    /// running, the rest is rebuilt and the replaced parts drain in the background. A refused
    /// configuration is logged and counted, and the running one stays; the error text is
    /// returned for `POST /-/reload` to answer with.
    pub async fn reload(&mut self, config: Result<Config, ConfigError>) -> Result<(), String> {
        let result = match config {
            Err(err) => Err(ReloadError::Refused(err.into())),
            Ok(config) => self.running.reload(Arc::new(config), &self.host).await,
        };
        let result = match result {
            Ok(()) => {
                self.reload_metrics.success.inc();
                tracing::info!("configuration reloaded");
                Ok(())
            }
            Err(ReloadError::Refused(error)) => {
                self.reload_metrics.failure.inc();
                tracing::error!(%error, "configuration reload refused; the previous configuration keeps running");
                Err(error.to_string())
            }
            Err(ReloadError::Partial(error)) => {
                self.reload_metrics.failure.inc();
                tracing::error!(%error, "configuration reload partly failed");
                Err(error.to_string())
            }
        };
        self.reload_metrics.record(result.is_ok());
        result
    }

    /// Stops accepting data, drains the pipelines and lets exporters flush for up to `deadline`;
    /// returns whether everything drained in time.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.host.health().set_ready(false);
        let clean = self.running.shutdown(deadline).await;
        self.host.shutdown().cancel();
        join_all(self.servers).await;
        clean
    }
}

async fn join_all(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        if let Err(err) = handle.await
            && err.is_panic()
        {
            tracing::error!(error = %err, "a task panicked");
        }
    }
}
