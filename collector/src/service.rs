//! Lifecycle: start everything a configuration describes, and stop it in order.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::config::{Config, ExtensionConfig, service::MetricsLevel};
use crate::extensions::health_check::{self, Health};
use crate::pipeline::build::{self, Running};
use crate::telemetry::{self, Telemetry};

/// A running collector.
#[derive(Debug)]
pub struct Service {
    running: Running,
    servers: Vec<JoinHandle<()>>,
    servers_shutdown: CancellationToken,
    health: Health,
    telemetry: Telemetry,
    metrics_address: Option<SocketAddr>,
}

impl Service {
    /// Starts extensions, self-telemetry, exporters, pipelines and receivers.
    pub async fn start(config: &Config) -> Result<Service, Error> {
        let telemetry = Telemetry::new();
        let servers_shutdown = CancellationToken::new();
        let health = Health::default();
        let mut servers = Vec::new();
        let mut metrics_address = None;
        let metrics = &config.service.telemetry.metrics;
        if metrics.level != MetricsLevel::None {
            let (bound, handle) = telemetry::server::start(
                telemetry.clone(),
                metrics.address,
                servers_shutdown.clone(),
            )
            .await?;
            tracing::info!(address = %bound, "self-metrics at /metrics");
            metrics_address = Some(bound);
            servers.push(handle);
        }
        for id in &config.service.extensions {
            match config.extensions.get(id) {
                Some(ExtensionConfig::HealthCheck(c)) => {
                    servers.push(
                        health_check::start(c, health.clone(), servers_shutdown.clone()).await?,
                    );
                    tracing::info!(extension = %id, endpoint = %c.endpoint, "health check listening");
                }
                // Passive: the receivers naming it in `storage:` open it themselves.
                Some(ExtensionConfig::FileStorage(_)) => {}
                None => return Err(Error::component(id, "extension is not defined")),
            }
        }
        let running = match build::start(config, &telemetry).await {
            Ok(running) => running,
            Err(err) => {
                servers_shutdown.cancel();
                return Err(err);
            }
        };
        health.set_ready(true);
        Ok(Service {
            running,
            servers,
            servers_shutdown,
            health,
            telemetry,
            metrics_address,
        })
    }

    /// The self-metrics registry.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Stops accepting data, drains the pipelines and lets exporters flush for up to `deadline`;
    /// returns whether everything drained in time.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.health.set_ready(false);
        let Running {
            receivers,
            receivers_shutdown,
            processors,
            exporters,
            exporters_abort,
        } = self.running;
        receivers_shutdown.cancel();
        join_all(receivers).await;
        let drained = tokio::time::timeout(deadline, async {
            join_all(processors).await;
            join_all(exporters).await;
        });
        let mut clean = true;
        // The drain future owns the handles; on timeout, exporters are told to give up
        // (counting what they held as failed) and the process exits without waiting longer.
        if drained.await.is_err() {
            clean = false;
            tracing::warn!(
                ?deadline,
                "exporters did not drain before the shutdown deadline"
            );
            exporters_abort.cancel();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.servers_shutdown.cancel();
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
