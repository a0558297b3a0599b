//! `extensions: alerting:` — one shared instance that every alert source (`latency_anomaly`,
//! `alert_rules`) sends to; it routes alerts to named notifiers, groups them with
//! Alertmanager's semantics and delivers firing and resolved notifications.
//!
//! ```yaml
//! extensions:
//!   alerting:
//!     external_url: http://127.0.0.1:8888
//!     notifiers:
//!       am:   {alertmanager: {endpoints: [http://127.0.0.1:9093], timeout: 5s}}
//!       log:  {console: {}}
//!     route:
//!       notifiers: [log]
//!       group_by: [alertname]
//!       group_wait: 30s
//!       group_interval: 5m
//!       repeat_interval: 4h
//!       routes:
//!         - matchers: ['severity = "critical"']
//!           notifiers: [am]
//!           repeat_interval: 1m       # Alertmanager expires alerts not re-sent
//!     rate_limit: {max_notifications_per_minute: 60}
//! ```
//!
//! Sources get [`Alerting`] through `Host::extension` and call [`AlertSink::send`], which
//! never waits: alerts go through a bounded queue to the dispatcher task
//! ([`dispatch`]), groups ([`group`]) go to one worker per notifier ([`worker`]). A flushed
//! alert with example trace ids gets their log lines from the `correlate` windows of the same
//! collector, if any ([`evidence`]).

pub(crate) mod config;
mod dispatch;
mod evidence;
mod factory;
mod group;
mod host;
pub(crate) mod notifiers;
mod route;
pub(crate) mod source;
mod worker;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) use config::AlertingConfig;
pub(crate) use factory::Factory;
pub(crate) use source::{check_ref, sink};

use crate::core::alert::{Alert, AlertSink, TraceLogsRegistry};
use crate::telemetry::Telemetry;
use dispatch::Dispatcher;
use notifiers::config::NotifierKind;
use route::Route;
use worker::{WorkerHandle, WorkerMetrics, WorkerSettings};

/// The running extension, as sources get it from
/// [`Host::extension`](crate::component::Host::extension).
#[derive(Debug)]
pub(crate) struct Alerting {
    tx: mpsc::Sender<Alert>,
    telemetry: Telemetry,
    /// The notifiers by name, for what is sent besides alerts (scheduled reports).
    notifiers: HashMap<String, Arc<dyn notifiers::Notifier>>,
}

impl AlertSink for Alerting {
    fn send(&self, source: &str, alert: Alert) {
        let labels = || vec![("source", source.to_string())];
        self.telemetry
            .counter(
                "alerting_alerts_received",
                "Alerts received from sources, by source.",
                labels(),
            )
            .inc();
        if self.tx.try_send(alert).is_err() {
            self.telemetry
                .counter(
                    "alerting_alerts_dropped",
                    "Alerts dropped because the alerting queue was full, by source.",
                    labels(),
                )
                .inc();
        }
    }

    fn notifier(&self, name: &str) -> Option<Arc<dyn notifiers::Notifier>> {
        self.notifiers.get(name).cloned()
    }
}

/// Alertmanager's default `resolve_timeout`: it resolves a firing alert not posted again
/// within it.
const ALERTMANAGER_RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Warns about routes that feed an `alertmanager` notifier less often than Alertmanager
/// expires alerts: they would flap there (resolved, then firing again at the next repeat).
fn warn_alertmanager_expiry(config: &AlertingConfig, root: &Route) {
    for route in root.walk() {
        let feeds_am = route.notifiers.iter().any(|n| {
            config
                .notifiers
                .get(n)
                .is_some_and(|c| matches!(c.kind, NotifierKind::Alertmanager(_)))
        });
        if feeds_am && route.timing.repeat_interval > ALERTMANAGER_RESOLVE_TIMEOUT {
            tracing::warn!(
                route = %route.key,
                repeat_interval = ?route.timing.repeat_interval,
                "alerting: a route feeding an alertmanager notifier re-sends firing alerts less often than Alertmanager's default resolve_timeout (5m); set repeat_interval to 1m-4m there"
            );
        }
    }
}

/// Starts the dispatcher and one worker per notifier; they stop when `shutdown` fires.
/// `trace_logs` holds the `correlate` windows that give alerts the log lines of their example
/// traces (they register later, while pipelines are built).
pub(crate) fn start(
    config: &AlertingConfig,
    telemetry: &Telemetry,
    shutdown: &CancellationToken,
    trace_logs: Arc<TraceLogsRegistry>,
    recent: Arc<crate::core::recent::Recent>,
    history: Arc<crate::core::alert_history::AlertHistory>,
) -> Result<(Alerting, Vec<JoinHandle<()>>), String> {
    let root = Route::build(&config.route)?;
    let mut tasks = Vec::new();
    let mut workers = HashMap::new();
    let mut built = HashMap::new();
    for (name, n) in &config.notifiers {
        let notifier = n
            .kind
            .build(&n.delivery)
            .map_err(|e| format!("notifiers.{name}.{}: {e}", n.kind.name()))?;
        built.insert(name.clone(), Arc::clone(&notifier));
        let settings = WorkerSettings {
            timeout: n.delivery.timeout,
            backoff: n.delivery.retry.backoff(),
            queue_size: n.delivery.queue_size,
            per_minute: config.rate_limit.max_notifications_per_minute,
        };
        let metrics = WorkerMetrics::new(telemetry, name);
        let (handle, task) =
            WorkerHandle::spawn(name, notifier, settings, metrics, shutdown.clone());
        workers.insert(name.clone(), handle);
        tasks.push(task);
    }
    warn_alertmanager_expiry(config, &root);
    let host = config.host_snapshot.then(host::HostSampler::new);
    let dispatcher = Dispatcher::new(
        root,
        workers,
        host,
        config.resolve_timeout,
        config.external_url.clone(),
        trace_logs,
    )
    .with_recent(recent)
    .with_history(history);
    let (tx, rx) = mpsc::channel(config.queue_size);
    tasks.push(tokio::spawn(dispatcher.run(rx, shutdown.clone())));
    Ok((
        Alerting {
            tx,
            telemetry: telemetry.clone(),
            notifiers: built,
        },
        tasks,
    ))
}
