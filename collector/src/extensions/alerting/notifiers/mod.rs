//! Notifiers: where a group of alerts is delivered (Alertmanager, email, SMS, webhook,
//! console). A notifier makes one delivery attempt per call; the alerting extension wraps
//! each in a bounded queue with a timeout, retries with backoff, and self-metrics.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::BoxFuture;

use crate::core::alert::Alert;

pub(crate) mod alertmanager;
pub(crate) mod config;
pub(crate) mod console;
pub(crate) mod email;
mod http;
pub(crate) mod render;
pub(crate) mod sms;
pub(crate) mod webhook;

/// Whether a notification reports trouble or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupStatus {
    /// At least one alert of the group fires.
    Firing,
    /// Every alert of the group is resolved.
    Resolved,
}

impl GroupStatus {
    /// Alertmanager's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Firing => "firing",
            GroupStatus::Resolved => "resolved",
        }
    }
}

/// One delivery: a group of alerts for one notifier (Alertmanager's webhook payload model).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notification {
    /// The notifier's configured name.
    pub(crate) receiver: String,
    /// Firing if any alert fires.
    pub(crate) status: GroupStatus,
    /// Identifies the group (route + group labels), stable across notifications.
    pub(crate) group_key: String,
    /// The values of the route's `group_by` labels.
    pub(crate) group_labels: BTreeMap<String, String>,
    /// Labels every alert of the group shares.
    pub(crate) common_labels: BTreeMap<String, String>,
    /// Annotations every alert of the group shares.
    pub(crate) common_annotations: BTreeMap<String, String>,
    /// The alerts, firing first, each with its evidence.
    pub(crate) alerts: Vec<Alert>,
    /// Base URL for links back to the collector (the admin listener), empty if unknown.
    pub(crate) external_url: String,
}

/// Why one delivery attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum NotifyError {
    /// Worth another attempt (connection refused, timeout, 429, 5xx, SMTP 4xx).
    #[error("{0}")]
    Retryable(String),
    /// Retrying will not help (4xx, SMTP 5xx such as a refused login).
    #[error("{0}")]
    Permanent(String),
}

/// A document sent on its own rather than an alert: a scheduled report (docs/reports.md).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    /// The subject line.
    pub(crate) subject: String,
    /// A short plain-text body.
    pub(crate) text: String,
    /// The attachment's file name.
    pub(crate) file_name: String,
    /// The attachment's media type (`text/html; charset=utf-8`, ...).
    pub(crate) content_type: String,
    /// The attachment.
    pub(crate) content: Vec<u8>,
}

/// One configured destination.
pub(crate) trait Notifier: Send + Sync + fmt::Debug {
    /// The notifier type (`email`, `sms`, ...), for logs and self-metrics.
    fn kind(&self) -> &'static str;

    /// Makes one delivery attempt of `notification`.
    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>>;

    /// Makes one delivery attempt of `document`, if this notifier type can carry one
    /// (`None`: it cannot; only `email` does).
    fn send_document<'a>(
        &'a self,
        _document: &'a Document,
    ) -> Option<BoxFuture<'a, Result<(), NotifyError>>> {
        None
    }
}
