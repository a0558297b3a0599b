//! Alerts as the `alerting` extension received them from their sources (`latency_anomaly`,
//! `alert_rules`), with the notifiers its routes sent them to.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ring::{Listed, Openable, Ring};

/// One alert (one fingerprint) from when it fired until it resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AlertRecord {
    /// Hex fingerprint of its labels (Alertmanager's identity of an alert).
    pub(crate) fingerprint: String,
    /// `firing` or `resolved`.
    pub(crate) state: &'static str,
    /// Its labels (`alertname`, `severity`, ...).
    pub(crate) labels: BTreeMap<String, String>,
    /// Its annotations as last received (`summary`, `description`, ...).
    pub(crate) annotations: BTreeMap<String, String>,
    /// When it started firing, ms since the Unix epoch.
    pub(crate) starts_at_ms: u64,
    /// When it resolved.
    pub(crate) ends_at_ms: Option<u64>,
    /// When its source last sent it.
    pub(crate) updated_at_ms: u64,
    /// The notifiers the matching routes name (what it is, or will be, notified through).
    pub(crate) notifiers: Vec<String>,
    /// Example trace ids from its evidence.
    pub(crate) trace_ids: Vec<String>,
}

impl Openable for AlertRecord {
    fn is_open(&self) -> bool {
        self.ends_at_ms.is_none()
    }
}

/// The most recent alerts, bounded.
#[derive(Debug)]
pub(crate) struct AlertHistory {
    ring: Ring<AlertRecord>,
}

impl AlertHistory {
    /// An empty history of at most `capacity` alerts.
    pub(crate) fn new(capacity: usize) -> AlertHistory {
        AlertHistory {
            ring: Ring::new(capacity),
        }
    }

    /// Records an alert as received: a firing alert already open (sources send firing alerts
    /// again at each evaluation) is updated in place, so repeats take no room; a resolved one
    /// closes it.
    pub(crate) fn record(&mut self, alert: AlertRecord) {
        let open = self
            .ring
            .newest_open_mut(|r| r.fingerprint == alert.fingerprint);
        match open {
            Some(record) => {
                let starts_at_ms = record.starts_at_ms.min(alert.starts_at_ms);
                let mut notifiers = std::mem::take(&mut record.notifiers);
                notifiers.extend(alert.notifiers.iter().cloned());
                notifiers.sort();
                notifiers.dedup();
                *record = AlertRecord {
                    starts_at_ms,
                    notifiers,
                    ..alert
                };
            }
            None => self.ring.push(alert),
        }
    }

    /// How many alerts it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Firing alerts first, then resolved ones, newest first.
    pub(crate) fn listed(&self) -> Listed<AlertRecord> {
        self.ring.listed()
    }
}
