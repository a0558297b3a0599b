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
use crate::config::{Config, ConfigError};
use crate::extensions::health_check::Health;
use crate::extensions::running::Extensions;
use crate::pipeline::build::{self, ReloadError, Running};
use crate::pipeline::diff;
use crate::telemetry::Telemetry;
use crate::telemetry::listener::AdminListener;
use crate::telemetry::server::Reload;

/// Applies a `service.telemetry.logs.level` directive to the running log filter (the binary's
/// `tracing_subscriber` reload handle); the error is why the directive does not parse.
pub type LogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// A running collector.
pub struct Service {
    running: Running,
    /// The configuration that runs (extensions and telemetry compare against it).
    config: Arc<Config>,
    extensions: Extensions,
    admin: AdminListener,
    host: Host,
    /// Reloads asked for with `POST /-/reload` (only listeners with `enable_lifecycle` send).
    reloads: mpsc::Receiver<Reload>,
    reload_metrics: ReloadMetrics,
    /// Sets the log level on reload (`None`: `RUST_LOG` rules, or no subscriber to change).
    log_level: Option<LogLevel>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("running", &self.running)
            .field("extensions", &self.extensions)
            .field("admin", &self.admin)
            .field("log_level", &self.log_level.is_some())
            .finish_non_exhaustive()
    }
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
        let (reload_tx, reloads) = mpsc::channel(1);
        let started = async {
            let admin = AdminListener::start(&config, &host, reload_tx).await?;
            let extensions = Extensions::start(&config, &host).await?;
            let running = build::start(&config, &host).await?;
            Ok::<_, Error>((admin, extensions, running))
        };
        let (admin, extensions, running) = match started.await {
            Ok(started) => started,
            Err(err) => {
                host.shutdown().cancel();
                return Err(err);
            }
        };
        host.health().set_ready(true);
        Ok(Service {
            running,
            config,
            extensions,
            admin,
            reload_metrics: ReloadMetrics::new(&telemetry),
            host,
            reloads,
            log_level: None,
        })
    }

    /// Lets reloads apply `service.telemetry.logs.level` through `set` (the binary passes its
    /// log filter's reload handle, unless `RUST_LOG` decides the level).
    pub fn set_log_level(&mut self, set: LogLevel) {
        self.log_level = Some(set);
    }

    /// The self-metrics registry.
    #[cfg(test)]
    pub(crate) fn telemetry(&self) -> &Telemetry {
        self.host.telemetry()
    }

    /// Where the admin listener (`/metrics` and components' routes) is, if it runs.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.admin.address()
    }

    /// The next `POST /-/reload`; never resolves while `enable_lifecycle` is off.
    pub async fn reload_requested(&mut self) -> ReloadRequest {
        match self.reloads.recv().await {
            Some(reply) => ReloadRequest { reply },
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
            Ok(config) => self.replace(Arc::new(config)).await,
        };
        // The gauges first: a scrape that sees the counter move sees the gauges it implies.
        self.reload_metrics.record(result.is_ok());
        match result {
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
        }
    }

    /// Extensions, the admin listener and the log level first (staged: nothing stops yet),
    /// then the pipelines; what was staged is committed if the pipelines took the new
    /// configuration, and rolled back if they refused it.
    async fn replace(&mut self, config: Arc<Config>) -> Result<(), ReloadError> {
        let refused = |err: Error| ReloadError::Refused(err);
        if let Some(why) = diff::needs_restart(&self.config, &config) {
            return Err(refused(Error::component("config", why)));
        }
        let old = Arc::clone(&self.config);
        let extensions = self
            .extensions
            .reload(&old, &config, &self.host)
            .await
            .map_err(refused)?;
        let admin = match self.admin.reload(&old, &config, &self.host).await {
            Ok(admin) => admin,
            Err(err) => {
                self.extensions
                    .roll_back(extensions, &old, &self.host)
                    .await;
                return Err(refused(err));
            }
        };
        let logs_changed = old.log_level() != config.log_level();
        let mut result = Ok(());
        if logs_changed {
            match &self.log_level {
                Some(set) => {
                    result = set(config.log_level()).map_err(|e| {
                        refused(Error::component(
                            "service.telemetry.logs",
                            format!("level: {e}"),
                        ))
                    });
                }
                None => tracing::info!(
                    "service.telemetry.logs.level changed but is not applied: RUST_LOG sets the level"
                ),
            }
        }
        if result.is_ok() {
            result = self.running.reload(Arc::clone(&config), &self.host).await;
        }
        match result {
            Err(ReloadError::Refused(err)) => {
                if let (true, Some(set)) = (logs_changed, &self.log_level) {
                    let _ = set(old.log_level());
                }
                if let Some(admin) = admin {
                    self.admin.roll_back(admin, &old, &self.host).await;
                }
                self.extensions
                    .roll_back(extensions, &old, &self.host)
                    .await;
                Err(ReloadError::Refused(err))
            }
            result => {
                if let Some(admin) = admin {
                    self.admin.commit(admin);
                }
                self.extensions.commit(extensions, &self.host);
                self.admin.set_config(&config);
                self.config = config;
                result
            }
        }
    }

    /// Stops accepting data, drains the pipelines and lets exporters flush for up to `deadline`;
    /// returns whether everything drained in time.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.host.health().set_ready(false);
        let clean = self.running.shutdown(deadline).await;
        self.host.shutdown().cancel();
        join_all(self.extensions.into_tasks()).await;
        join_all(self.admin.into_tasks()).await;
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
