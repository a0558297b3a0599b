//! The dispatcher: one task that owns every alert and group. It de-duplicates alerts by
//! fingerprint (an update replaces, a resolved one marks it resolved), resolves firing
//! alerts whose source went quiet for `resolve_timeout`, routes each alert to the groups of
//! the routes it matches, flushes the groups when due and hands their notifications to the
//! notifiers' workers without waiting. Time is tokio's, so tests run on paused time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::evidence;
use super::group::Group;
use super::host::HostSampler;
use super::route::Route;
use super::worker::WorkerHandle;
use crate::core::alert::{Alert, Fingerprint, TraceLogsRegistry};
use crate::core::alert_history::AlertHistory;
use crate::core::recent::{AlertRecord, Recent};

/// A firing alert and when its source last sent it.
#[derive(Debug)]
struct Stored {
    alert: Alert,
    last_seen: Instant,
}

/// The dispatcher's state.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    root: Route,
    /// Every route node by key, shared with its groups.
    nodes: HashMap<String, Arc<Route>>,
    groups: HashMap<String, Group>,
    firing: HashMap<Fingerprint, Stored>,
    /// When the next firing alert may expire: never later than the true earliest expiry
    /// (refreshes only move that later), so the alerts are scanned only when it is due,
    /// not on every wake-up.
    expiry_due: Option<Instant>,
    workers: HashMap<String, WorkerHandle>,
    host: Option<HostSampler>,
    resolve_timeout: Duration,
    external_url: String,
    /// Where flushed alerts find the log lines of their example traces.
    trace_logs: Arc<TraceLogsRegistry>,
    /// The collector's recent alerts (for the console), when kept.
    recent: Option<Arc<Recent>>,
    /// Where each state change is kept (the stores registered there), when given.
    history: Option<Arc<AlertHistory>>,
}

impl Dispatcher {
    /// A dispatcher routing with `root` to `workers` (by notifier name).
    pub(crate) fn new(
        root: Route,
        workers: HashMap<String, WorkerHandle>,
        host: Option<HostSampler>,
        resolve_timeout: Duration,
        external_url: String,
        trace_logs: Arc<TraceLogsRegistry>,
    ) -> Dispatcher {
        let nodes = root
            .walk()
            .into_iter()
            .map(|r| (r.key.clone(), Arc::new(r.clone())))
            .collect();
        Dispatcher {
            root,
            nodes,
            groups: HashMap::new(),
            firing: HashMap::new(),
            expiry_due: None,
            workers,
            host,
            resolve_timeout,
            external_url,
            trace_logs,
            recent: None,
            history: None,
        }
    }

    /// The same dispatcher, recording each alert it routes in `recent`.
    pub(crate) fn with_recent(mut self, recent: Arc<Recent>) -> Dispatcher {
        self.recent = Some(recent);
        self
    }

    /// The same dispatcher, handing each alert state change (newly firing, resolved) to
    /// `history`.
    pub(crate) fn with_history(mut self, history: Arc<AlertHistory>) -> Dispatcher {
        self.history = Some(history);
        self
    }

    /// Runs until `shutdown` fires or every sender is gone; then hands what the groups hold
    /// that was not notified yet to the workers at once (instead of waiting for their timers)
    /// and returns, which closes the workers' queues.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Alert>, shutdown: CancellationToken) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    self.expire(now);
                    self.flush_due(now);
                }
                next = rx.recv() => match next {
                    Some(alert) => self.ingest(alert, Instant::now()),
                    None => break,
                },
            }
        }
        // Alerts the sources sent while their pipelines drained are still queued.
        while let Ok(alert) = rx.try_recv() {
            self.ingest(alert, Instant::now());
        }
        let now = Instant::now();
        for group in self.groups.values_mut() {
            group.next_flush = now;
        }
        self.flush_due(now);
    }

    /// Takes in one alert from a source.
    pub(crate) fn ingest(&mut self, mut alert: Alert, now: Instant) {
        let fp = alert.fingerprint();
        // A firing alert sent again is no change; anything else is.
        let changed = !self.firing.contains_key(&fp) || alert.is_resolved();
        match self.firing.get(&fp) {
            Some(old) => {
                // The same alert again: it started when it first fired, and keeps the host
                // figures of that moment.
                alert.starts_at = alert.starts_at.min(old.alert.starts_at);
                if alert.evidence.host.is_none() {
                    alert.evidence.host = old.alert.evidence.host;
                }
            }
            None => {
                if alert.evidence.host.is_none() && !alert.is_resolved() {
                    alert.evidence.host = self.host.as_mut().and_then(HostSampler::snapshot);
                }
            }
        }
        if alert.is_resolved() {
            self.firing.remove(&fp);
        } else {
            let expires = now + self.resolve_timeout;
            self.expiry_due = Some(self.expiry_due.map_or(expires, |d| d.min(expires)));
            self.firing.insert(
                fp,
                Stored {
                    alert: alert.clone(),
                    last_seen: now,
                },
            );
        }
        self.route(alert, now, changed);
    }

    /// Routes `alert`; `changed`: it is a state change (kept in the history).
    fn route(&mut self, alert: Alert, now: Instant, changed: bool) {
        let wall = SystemTime::now();
        let history = self.history.as_ref().filter(|_| changed);
        if self.recent.is_some() || history.is_some() {
            let mut notifiers: Vec<String> = self
                .root
                .matching(&alert.labels)
                .iter()
                .flat_map(|node| self.nodes[&node.key].notifiers.iter().cloned())
                .collect();
            notifiers.sort();
            notifiers.dedup();
            let r = record(&alert, notifiers, wall);
            if let Some(history) = history {
                history.record(&r);
            }
            if let Some(recent) = &self.recent {
                recent.alerts().record(r);
            }
        }
        for node in self.root.matching(&alert.labels) {
            let labels = node.group_by.group_labels(&alert.labels);
            let route = Arc::clone(&self.nodes[&node.key]);
            let group = Group::new(route, labels, now);
            let group = self.groups.entry(group.key.clone()).or_insert(group);
            group.insert(alert.clone(), now, wall);
        }
    }

    /// Resolves firing alerts not sent again within `resolve_timeout`.
    pub(crate) fn expire(&mut self, now: Instant) {
        if self.expiry_due.is_none_or(|due| due > now) {
            return;
        }
        let timeout = self.resolve_timeout;
        self.expiry_due = self
            .firing
            .values()
            .map(|s| s.last_seen + timeout)
            .filter(|at| *at > now)
            .min();
        let stale: Vec<Fingerprint> = self
            .firing
            .iter()
            .filter(|(_, s)| now >= s.last_seen + timeout)
            .map(|(f, _)| *f)
            .collect();
        for fp in stale {
            if let Some(s) = self.firing.remove(&fp) {
                let mut alert = s.alert;
                alert.ends_at = Some(SystemTime::now());
                tracing::debug!(alert = alert.name(), fingerprint = %fp, "alerting: not refreshed within resolve_timeout; resolved");
                self.route(alert, now, true);
            }
        }
    }

    /// Flushes the groups that are due.
    pub(crate) fn flush_due(&mut self, now: Instant) {
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            // Into the group's own alerts, so later notifications keep the lines.
            evidence::fill_logs(&self.trace_logs, group.alerts_mut());
            if let Some(n) = group.flush(now, &self.external_url) {
                for name in &group.route.notifiers {
                    if let Some(w) = self.workers.get_mut(name) {
                        w.offer(n.clone(), now);
                    }
                }
            }
            if group.is_empty() {
                self.groups.remove(&key);
            }
        }
    }

    /// The next group flush or alert expiry.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let flush = self.groups.values().map(|g| g.next_flush).min();
        match (flush, self.expiry_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What the console's alert list keeps of `alert`, received at `now`.
fn record(alert: &Alert, notifiers: Vec<String>, now: SystemTime) -> AlertRecord {
    let ms = |at: SystemTime| {
        at.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    AlertRecord {
        fingerprint: alert.fingerprint().to_string(),
        state: if alert.is_resolved() {
            "resolved"
        } else {
            "firing"
        },
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at_ms: ms(alert.starts_at),
        ends_at_ms: alert.ends_at.map(ms),
        updated_at_ms: ms(now),
        notifiers,
        trace_ids: alert.evidence.trace_ids.clone(),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
