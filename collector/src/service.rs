//! Lifecycle: start everything a configuration describes, and stop it in order: receivers,
//! then (once drained) processors, connectors and exporters, then extensions and the admin
//! listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::Error;
use crate::component::{AdminRoutes, Host};
use crate::config::{Config, service::MetricsLevel};
use crate::extensions::health_check::Health;
use crate::pipeline::build::{self, Running};
use crate::telemetry::{self, Telemetry};

/// A running collector.
#[derive(Debug)]
pub struct Service {
    running: Running,
    /// Extension tasks and the admin listener: stopped by the host's shutdown token, last.
    servers: Vec<JoinHandle<()>>,
    host: Host,
    metrics_address: Option<SocketAddr>,
}

impl Service {
    /// Starts the admin listener, extensions, exporters, connectors, pipelines and receivers.
    pub async fn start(config: Config) -> Result<Service, Error> {
        let config = Arc::new(config);
        let telemetry = Telemetry::new();
        let host = Host::new(telemetry.clone(), Health::default(), AdminRoutes::default());
        let mut servers = Vec::new();
        let mut metrics_address = None;
        let metrics = &config.service.telemetry.metrics;
        if metrics.level != MetricsLevel::None {
            let (bound, handle) = telemetry::server::start(
                telemetry.clone(),
                host.admin().clone(),
                metrics.address,
                metrics.tls.as_ref(),
                host.shutdown(),
            )
            .await?;
            tracing::info!(address = %bound, tls = metrics.tls.is_some(), "admin listener: self-metrics at /metrics");
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
            host,
            metrics_address,
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

    /// Stops accepting data, drains the pipelines and lets exporters flush for up to `deadline`;
    /// returns whether everything drained in time.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.host.health().set_ready(false);
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
