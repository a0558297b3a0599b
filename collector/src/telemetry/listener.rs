//! The admin listener's lifecycle (`service.telemetry.metrics`): started with the service, and
//! moved by a config reload that changes its settings — address, TLS, `enable_lifecycle`,
//! `level: none` — with every route it serves (`/metrics`, `/-/reload`, components' APIs:
//! they live in the host's [`AdminRoutes`](crate::component::AdminRoutes), not in the
//! listener).
//!
//! A reload starts the new listener beside the old one; if the new one cannot bind on the
//! address the old one holds (same address, other TLS or `enable_lifecycle`), the old one is
//! closed first and the bind retried. The old listener
//! closes at [`commit`](AdminListener::commit): its open connections finish the requests they
//! carry (the `POST /-/reload` that asked for the reload gets its answer).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::console::Console;
use super::server::{self, Reload};
use crate::Error;
use crate::component::Host;
use crate::config::Config;
use crate::config::service::{MetricsLevel, TelemetryMetricsConfig};
use crate::core::recent::{RECENT_KEY, Recent};

/// How long a bind is retried after the old listener was closed.
const REBIND_PATIENCE: Duration = Duration::from_secs(2);
/// Pause between those attempts.
const REBIND_PAUSE: Duration = Duration::from_millis(25);

/// The admin listener, if `level` is not `none`.
#[derive(Debug)]
pub(crate) struct AdminListener {
    current: Option<Listening>,
    /// Where `POST /-/reload` asks for a reload (given to listeners with `enable_lifecycle`).
    reloads: mpsc::Sender<Reload>,
    /// Tasks of closed listeners, joined at shutdown.
    retired: Vec<JoinHandle<()>>,
    /// The console every listener serves (its rates and graph outlive a move).
    console: Console,
}

#[derive(Debug)]
struct Listening {
    address: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What [`AdminListener::reload`] changed, for [`AdminListener::commit`] or
/// [`AdminListener::roll_back`].
#[derive(Debug)]
#[must_use = "commit or roll back a staged admin listener reload"]
pub(crate) struct Staged {
    /// The listener the reload started (`None`: the new config has none).
    new: Option<Listening>,
    /// Whether the old listener was closed already to free its address.
    old_closed: bool,
}

async fn listen(
    metrics: &TelemetryMetricsConfig,
    host: &Host,
    console: &Console,
    reloads: &mpsc::Sender<Reload>,
) -> Result<Option<Listening>, Error> {
    if metrics.level == MetricsLevel::None {
        return Ok(None);
    }
    let stop = host.shutdown().child_token();
    let started = server::start(
        host.telemetry().clone(),
        console.clone(),
        host.admin().clone(),
        metrics.address,
        metrics.tls.as_ref(),
        metrics.auth.clone().map(|config| server::AdminAuth {
            config,
            host: host.clone(),
        }),
        metrics.enable_lifecycle.then(|| reloads.clone()),
        stop.clone(),
    )
    .await;
    match started {
        Ok((address, task)) => {
            let auth = metrics.auth.as_ref().map(|a| a.authenticator.to_string());
            tracing::info!(%address, tls = metrics.tls.is_some(), auth, lifecycle = metrics.enable_lifecycle, "admin listener: console at /, self-metrics at /metrics");
            Ok(Some(Listening {
                address,
                stop,
                task,
            }))
        }
        Err(err) => {
            stop.cancel();
            Err(err)
        }
    }
}

async fn listen_with_patience(
    metrics: &TelemetryMetricsConfig,
    host: &Host,
    console: &Console,
    reloads: &mpsc::Sender<Reload>,
) -> Result<Option<Listening>, Error> {
    let started = tokio::time::Instant::now();
    loop {
        match listen(metrics, host, console, reloads).await {
            Ok(listening) => return Ok(listening),
            Err(err) if started.elapsed() >= REBIND_PATIENCE => return Err(err),
            Err(_) => tokio::time::sleep(REBIND_PAUSE).await,
        }
    }
}

impl AdminListener {
    /// Starts the listener `config` describes; `POST /-/reload` requests go to `reloads`.
    pub(crate) async fn start(
        config: &Config,
        host: &Host,
        reloads: mpsc::Sender<Reload>,
    ) -> Result<AdminListener, Error> {
        let recent = host.shared(RECENT_KEY, || Ok(Recent::default()))?;
        let console = Console::new(host.telemetry().clone(), config, recent);
        let current = listen(&config.service.telemetry.metrics, host, &console, &reloads).await?;
        Ok(AdminListener {
            current,
            reloads,
            retired: Vec::new(),
            console,
        })
    }

    /// The console draws `config`'s pipelines from now on (a reload committed it).
    pub(crate) fn set_config(&self, config: &Config) {
        self.console.set_config(config);
    }

    /// Where it listens, if it does.
    pub(crate) fn address(&self) -> Option<SocketAddr> {
        self.current.as_ref().map(|l| l.address)
    }

    /// Starts the listener `new` describes if its settings differ from `old`'s (`None`: they
    /// do not). On error the old listener serves as before.
    pub(crate) async fn reload(
        &mut self,
        old: &Config,
        new: &Config,
        host: &Host,
    ) -> Result<Option<Staged>, Error> {
        self.retired.retain(|h| !h.is_finished());
        let path = ["service", "telemetry", "metrics"];
        if old.raw(&path, None) == new.raw(&path, None) {
            return Ok(None);
        }
        let metrics = &new.service.telemetry.metrics;
        match listen(metrics, host, &self.console, &self.reloads).await {
            Ok(listening) => {
                return Ok(Some(Staged {
                    new: listening,
                    old_closed: false,
                }));
            }
            // The old listener holds nothing the new one needs: the new settings are at fault.
            Err(err)
                if self.current.is_none()
                    || old.service.telemetry.metrics.address != metrics.address =>
            {
                return Err(err);
            }
            Err(_) => {}
        }
        // The new listener wants what the old one holds (its address): close it first.
        if let Some(current) = &self.current {
            current.stop.cancel();
        }
        match listen_with_patience(metrics, host, &self.console, &self.reloads).await {
            Ok(listening) => Ok(Some(Staged {
                new: listening,
                old_closed: true,
            })),
            Err(err) => {
                self.restore(old, host).await;
                Err(err)
            }
        }
    }

    /// Starts the old configuration's listener again after it was closed for nothing.
    async fn restore(&mut self, old: &Config, host: &Host) {
        if let Some(closed) = self.current.take() {
            self.retired.push(closed.task);
        }
        match listen_with_patience(
            &old.service.telemetry.metrics,
            host,
            &self.console,
            &self.reloads,
        )
        .await
        {
            Ok(listening) => self.current = listening,
            Err(err) => {
                tracing::error!(error = %err, "the previous admin listener did not start again");
            }
        }
    }

    /// The new listener serves from now on; the old one closes.
    pub(crate) fn commit(&mut self, staged: Staged) {
        if let Some(old) = self.current.take() {
            old.stop.cancel();
            self.retired.push(old.task);
        }
        self.current = staged.new;
        match &self.current {
            Some(l) => tracing::info!(address = %l.address, "admin listener moved"),
            None => tracing::info!("admin listener closed (service.telemetry.metrics.level: none)"),
        }
    }

    /// The old listener serves on; the new one closes.
    pub(crate) async fn roll_back(&mut self, staged: Staged, old: &Config, host: &Host) {
        if let Some(new) = staged.new {
            new.stop.cancel();
            self.retired.push(new.task);
        }
        if staged.old_closed {
            self.restore(old, host).await;
        }
    }

    /// Every listener task, for the service to join once the host's shutdown token fired.
    pub(crate) fn into_tasks(self) -> Vec<JoinHandle<()>> {
        let mut tasks = self.retired;
        tasks.extend(self.current.map(|l| l.task));
        tasks
    }
}
