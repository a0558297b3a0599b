//! The `alerting` extension: one shared instance that every alert source (`latency_anomaly`,
//! `alert_rules`) sends to; it routes alerts to named notifiers, groups them with
//! Alertmanager's semantics and delivers firing and resolved notifications.

#[allow(dead_code, reason = "the dispatcher lands next; remove then")]
pub(crate) mod notifiers;
