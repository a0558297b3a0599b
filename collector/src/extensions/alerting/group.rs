//! One aggregation group: the alerts of one route with the same group labels, and when to
//! notify about them — Alertmanager's `aggrGroup` (dispatch/dispatch.go) together with the
//! de-duplication of its notification log (notify/notify.go, `DedupStage.needsUpdate`):
//!
//! - a new group notifies `group_wait` after its first alert (at once if that alert started
//!   longer than `group_wait` ago);
//! - then it is looked at every `group_interval`, and notifies when an alert started firing
//!   or resolved since the last notification, or, unchanged but firing, `repeat_interval`
//!   after the last notification;
//! - resolved alerts are dropped from the group once they were part of a flush; a group
//!   without alerts is removed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::notifiers::{GroupStatus, Notification};
use super::route::Route;
use crate::core::alert::{Alert, Fingerprint};

/// What the last notification of a group held.
#[derive(Debug, Clone)]
struct Sent {
    firing: BTreeSet<Fingerprint>,
    resolved: BTreeSet<Fingerprint>,
    at: Instant,
}

/// One aggregation group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) route: Arc<Route>,
    /// `{route key}:{label="value",...}`.
    pub(crate) key: String,
    labels: BTreeMap<String, String>,
    alerts: BTreeMap<Fingerprint, Alert>,
    /// When the group is looked at next.
    pub(crate) next_flush: Instant,
    last: Option<Sent>,
}

impl Group {
    /// An empty group of `route` for `labels`, first looked at after `group_wait`.
    pub(crate) fn new(route: Arc<Route>, labels: BTreeMap<String, String>, now: Instant) -> Group {
        let key = group_key(&route.key, &labels);
        Group {
            next_flush: now + route.timing.group_wait,
            route,
            key,
            labels,
            alerts: BTreeMap::new(),
            last: None,
        }
    }

    /// Adds or replaces an alert. An alert that started more than `group_wait` ago does not
    /// make a new group wait (Alertmanager does the same). A replacement with the same example
    /// traces keeps the log lines found for them: the window may have forgotten those traces
    /// by the next notification.
    pub(crate) fn insert(&mut self, mut alert: Alert, now: Instant, wall: SystemTime) {
        if self.last.is_none()
            && alert
                .starts_at
                .checked_add(self.route.timing.group_wait)
                .is_some_and(|t| t < wall)
        {
            self.next_flush = self.next_flush.min(now);
        }
        let fp = alert.fingerprint();
        if alert.evidence.logs.is_empty()
            && let Some(old) = self.alerts.get_mut(&fp)
            && old.evidence.trace_ids == alert.evidence.trace_ids
        {
            alert.evidence.logs = std::mem::take(&mut old.evidence.logs);
        }
        self.alerts.insert(fp, alert);
    }

    /// The alerts, to complete their evidence before a flush.
    pub(crate) fn alerts_mut(&mut self) -> impl Iterator<Item = &mut Alert> {
        self.alerts.values_mut()
    }

    /// Whether the group holds no alert.
    pub(crate) fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Looks at the group at `now` (its `next_flush`): returns the notification to send, if
    /// something changed or the repeat interval passed, and schedules the next look.
    pub(crate) fn flush(&mut self, now: Instant, external_url: &str) -> Option<Notification> {
        self.next_flush = now + self.route.timing.group_interval;
        let firing: BTreeSet<Fingerprint> = self
            .alerts
            .iter()
            .filter(|(_, a)| !a.is_resolved())
            .map(|(f, _)| *f)
            .collect();
        let resolved: BTreeSet<Fingerprint> = self
            .alerts
            .iter()
            .filter(|(_, a)| a.is_resolved())
            .map(|(f, _)| *f)
            .collect();
        let needs = match &self.last {
            // Never notified: only firing alerts are news.
            None => !firing.is_empty(),
            Some(last) => {
                if !firing.is_subset(&last.firing) {
                    true
                } else if firing.is_empty() {
                    // All resolved: tell the receiver, unless it never heard of them.
                    !last.firing.is_empty()
                } else if !resolved.is_subset(&last.resolved) {
                    true
                } else {
                    now >= last.at + self.route.timing.repeat_interval
                }
            }
        };
        let notification = needs.then(|| {
            self.last = Some(Sent {
                firing: firing.clone(),
                resolved: resolved.clone(),
                at: now,
            });
            self.notification(!firing.is_empty(), external_url)
        });
        self.alerts.retain(|_, a| !a.is_resolved());
        notification
    }

    fn notification(&self, firing: bool, external_url: &str) -> Notification {
        let mut alerts: Vec<Alert> = self.alerts.values().cloned().collect();
        // Firing first, then by start.
        alerts.sort_by_key(|a| (a.is_resolved(), a.starts_at));
        let common = |get: fn(&Alert) -> &BTreeMap<String, String>| {
            let mut it = alerts.iter();
            let mut common = it.next().map(|a| get(a).clone()).unwrap_or_default();
            for a in it {
                common.retain(|k, v| get(a).get(k) == Some(v));
            }
            common
        };
        Notification {
            receiver: String::new(),
            status: if firing {
                GroupStatus::Firing
            } else {
                GroupStatus::Resolved
            },
            group_key: self.key.clone(),
            group_labels: self.labels.clone(),
            common_labels: common(|a| &a.labels),
            common_annotations: common(|a| &a.annotations),
            alerts,
            external_url: external_url.to_string(),
        }
    }
}

/// Alertmanager's group key shape: `{route}:{label="value",...}` over sorted labels.
fn group_key(route: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{route}}}:{{{}}}", inner.join(","))
}
