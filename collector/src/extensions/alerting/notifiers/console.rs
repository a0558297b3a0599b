//! `console:` — one WARN line per alert on the collector's own log.

use futures::future::BoxFuture;
use serde::Deserialize;

use super::render::annotations_with_evidence;
use super::{Notification, Notifier, NotifyError};

/// `console:` settings (none yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsoleConfig {}

/// The running notifier.
#[derive(Debug)]
pub(crate) struct ConsoleNotifier;

/// Builds the notifier.
pub(crate) fn build(_config: &ConsoleConfig) -> ConsoleNotifier {
    ConsoleNotifier
}

impl Notifier for ConsoleNotifier {
    fn kind(&self) -> &'static str {
        "console"
    }

    fn notify<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        for a in &notification.alerts {
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let annotations: Vec<String> = annotations_with_evidence(a)
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            tracing::warn!(
                notifier = %notification.receiver,
                status = if a.is_resolved() { "resolved" } else { "firing" },
                labels = %labels.join(" "),
                annotations = %annotations.join(" "),
                "alert {}",
                a.name()
            );
        }
        Box::pin(async { Ok(()) })
    }
}
