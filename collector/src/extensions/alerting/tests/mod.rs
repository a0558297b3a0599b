//! Tests of the alerting extension: the dispatcher on paused time (`dispatch.rs`), delivery
//! against local HTTP servers (`delivery.rs`), the config (`config.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Alerting;
use super::config::RouteConfig;
use super::dispatch::Dispatcher;
use super::notifiers::{GroupStatus, Notification, Notifier, NotifyError};
use super::route::Route;
use super::worker::{WorkerHandle, WorkerMetrics, WorkerSettings};
use crate::core::alert::{Alert, TraceLogsRegistry};
use crate::net::client::Backoff;
use crate::telemetry::Telemetry;

mod config;
mod delivery;
mod dispatch;

// === harness ===

/// Records notifications; `block` makes every attempt hang.
#[derive(Debug, Default)]
struct Recorder {
    got: Mutex<Vec<Notification>>,
    block: bool,
}

impl Recorder {
    fn got(&self) -> Vec<Notification> {
        self.got.lock().unwrap().clone()
    }
}

impl Notifier for Recorder {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            if self.block {
                std::future::pending::<()>().await;
            }
            self.got.lock().unwrap().push(n.clone());
            Ok(())
        })
    }
}

struct Harness {
    sink: Alerting,
    rec: HashMap<&'static str, Arc<Recorder>>,
    telemetry: Telemetry,
    shutdown: CancellationToken,
    _stop: tokio_util::sync::DropGuard,
}

struct Opts {
    per_minute: u32,
    queue_size: usize,
    resolve_timeout: Duration,
    blocked: &'static [&'static str],
    trace_logs: Arc<TraceLogsRegistry>,
    /// Where the dispatcher records what it routes (none: not recorded).
    recent: Option<Arc<crate::core::recent::Recent>>,
    /// Where the dispatcher keeps state changes (none: not kept).
    history: Option<Arc<crate::core::alert_history::AlertHistory>>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            per_minute: 1000,
            queue_size: 100,
            resolve_timeout: Duration::from_secs(36_000),
            blocked: &[],
            trace_logs: Arc::default(),
            recent: None,
            history: None,
        }
    }
}

fn harness(route: &str, notifiers: &[&'static str], opts: Opts) -> Harness {
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let config: RouteConfig = serde_yaml_ng::from_str(route).unwrap();
    let root = Route::build(&config).unwrap();
    let mut rec = HashMap::new();
    let mut workers = HashMap::new();
    for name in notifiers {
        let block = opts.blocked.contains(name);
        let r = Arc::new(Recorder {
            block,
            ..Recorder::default()
        });
        let settings = WorkerSettings {
            timeout: Duration::from_secs(36_000),
            backoff: fast_backoff(),
            // The small queue is the stuck notifier's; the others keep up.
            queue_size: if block { opts.queue_size } else { 100 },
            per_minute: opts.per_minute,
        };
        let (h, _task) = WorkerHandle::spawn(
            name,
            Arc::clone(&r) as Arc<dyn Notifier>,
            settings,
            WorkerMetrics::new(&telemetry, name),
            shutdown.clone(),
        );
        workers.insert(name.to_string(), h);
        rec.insert(*name, r);
    }
    let d = Dispatcher::new(
        root,
        workers,
        None,
        opts.resolve_timeout,
        String::new(),
        Arc::clone(&opts.trace_logs),
    );
    let d = match &opts.recent {
        Some(recent) => d.with_recent(Arc::clone(recent)),
        None => d,
    };
    let d = match &opts.history {
        Some(history) => d.with_history(Arc::clone(history)),
        None => d,
    };
    let (tx, rx) = mpsc::channel(1000);
    tokio::spawn(d.run(rx, shutdown.clone()));
    Harness {
        sink: Alerting {
            tx,
            telemetry: telemetry.clone(),
        },
        rec,
        telemetry,
        shutdown: shutdown.clone(),
        _stop: shutdown.drop_guard(),
    }
}

fn fast_backoff() -> Backoff {
    Backoff {
        initial_interval: Duration::from_millis(10),
        multiplier: 2.0,
        randomization_factor: 0.0,
        max_interval: Duration::from_millis(50),
        max_elapsed_time: Some(Duration::from_secs(5)),
        max_attempts: None,
        max_server_delay: None,
    }
}

fn alert(name: &str, labels: &[(&str, &str)]) -> Alert {
    let mut a = Alert::firing(name, SystemTime::now());
    for (k, v) in labels {
        a.labels.insert(k.to_string(), v.to_string());
    }
    a
}

async fn at(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

fn names(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| a.labels.get("instance").cloned().unwrap_or_default())
        .collect()
}

fn metric(t: &Telemetry, line: &str) -> bool {
    t.render().lines().any(|l| l == line)
}

/// A notification of one firing alert.
fn one_notification() -> Notification {
    Notification {
        receiver: "hook".into(),
        status: GroupStatus::Firing,
        group_key: "{0}:{}".into(),
        group_labels: BTreeMap::new(),
        common_labels: BTreeMap::new(),
        common_annotations: BTreeMap::new(),
        alerts: vec![alert("Down", &[])],
        external_url: String::new(),
    }
}
