//! One task per notifier: takes notifications from a bounded queue and makes the attempts,
//! each bounded by the notifier's `timeout`, retrying retryable failures with backoff. The
//! dispatcher only ever `try_send`s, so a slow or dead destination delays nothing else: its
//! queue fills and further notifications to it are dropped (counted).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::notifiers::{Notification, Notifier, NotifyError};
use crate::net::client::Backoff;
use crate::telemetry::Telemetry;

/// The rate limit window.
const WINDOW: Duration = Duration::from_secs(60);

/// How long a worker may go on delivering after the collector was told to stop.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Counters of one notifier.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerMetrics {
    /// Notifications delivered.
    pub(crate) sent: Counter,
    /// Notifications given up on (permanent error, retries used up, or the queue was full).
    pub(crate) failed: Counter,
    /// Notifications dropped by the rate limit.
    pub(crate) rate_limited: Counter,
}

impl WorkerMetrics {
    /// Registers the series of notifier `name`.
    pub(crate) fn new(telemetry: &Telemetry, name: &str) -> WorkerMetrics {
        let c = |metric: &str, help: &str| {
            telemetry.counter(metric, help, vec![("notifier", name.to_string())])
        };
        WorkerMetrics {
            sent: c(
                "alerting_notifications_sent",
                "Alert notifications delivered, by notifier.",
            ),
            failed: c(
                "alerting_notifications_failed",
                "Alert notifications given up on (rejected, retries used up, or the notifier's queue was full), by notifier.",
            ),
            rate_limited: c(
                "alerting_notifications_rate_limited",
                "Alert notifications dropped by rate_limit, by notifier.",
            ),
        }
    }
}

/// What the dispatcher holds of one notifier.
#[derive(Debug)]
pub(crate) struct WorkerHandle {
    name: String,
    tx: mpsc::Sender<Notification>,
    limit: RateLimit,
    metrics: WorkerMetrics,
}

/// Settings of one worker.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSettings {
    /// Time allowed for one attempt.
    pub(crate) timeout: Duration,
    /// Between attempts.
    pub(crate) backoff: Backoff,
    /// Queue capacity.
    pub(crate) queue_size: usize,
    /// Notifications per minute.
    pub(crate) per_minute: u32,
}

impl WorkerHandle {
    /// Starts the worker of notifier `name`. It stops when its queue is closed and drained,
    /// or [`SHUTDOWN_GRACE`] after `shutdown` fired, whichever comes first.
    pub(crate) fn spawn(
        name: &str,
        notifier: Arc<dyn Notifier>,
        settings: WorkerSettings,
        metrics: WorkerMetrics,
        shutdown: CancellationToken,
    ) -> (WorkerHandle, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(settings.queue_size);
        let task = tokio::spawn(run(
            name.to_string(),
            notifier,
            rx,
            settings.timeout,
            settings.backoff,
            metrics.clone(),
            shutdown,
        ));
        let handle = WorkerHandle {
            name: name.to_string(),
            tx,
            limit: RateLimit::new(settings.per_minute),
            metrics,
        };
        (handle, task)
    }

    /// Queues `notification` (addressed to this notifier) without waiting.
    pub(crate) fn offer(&mut self, mut notification: Notification, now: Instant) {
        if !self.limit.allow(now) {
            self.metrics.rate_limited.inc();
            tracing::warn!(notifier = %self.name, group = %notification.group_key, "alerting: rate limit reached; notification dropped");
            return;
        }
        notification.receiver.clone_from(&self.name);
        if self.tx.try_send(notification).is_err() {
            self.metrics.failed.inc();
            tracing::warn!(notifier = %self.name, "alerting: notifier queue full; notification dropped");
        }
    }
}

async fn run(
    name: String,
    notifier: Arc<dyn Notifier>,
    mut rx: mpsc::Receiver<Notification>,
    timeout: Duration,
    backoff: Backoff,
    metrics: WorkerMetrics,
    shutdown: CancellationToken,
) {
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::pin!(grace);
    loop {
        let next = tokio::select! {
            () = &mut grace => return,
            n = rx.recv() => n,
        };
        let Some(notification) = next else { return };
        let delivered = tokio::select! {
            () = &mut grace => {
                metrics.failed.inc();
                tracing::warn!(notifier = %name, group = %notification.group_key, "alerting: notification abandoned at shutdown");
                return;
            }
            r = deliver(notifier.as_ref(), &notification, timeout, &backoff) => r,
        };
        match delivered {
            Ok(attempts) => {
                metrics.sent.inc();
                tracing::debug!(notifier = %name, attempts, group = %notification.group_key, "alerting: notification delivered");
            }
            Err(err) => {
                metrics.failed.inc();
                tracing::warn!(notifier = %name, kind = notifier.kind(), error = %err, group = %notification.group_key, "alerting: notification failed");
            }
        }
    }
}

/// Attempts until success, a permanent error, or the backoff gives up. Returns the
/// attempts made on success.
pub(crate) async fn deliver(
    notifier: &dyn Notifier,
    notification: &Notification,
    timeout: Duration,
    backoff: &Backoff,
) -> Result<u32, NotifyError> {
    let mut retry = backoff.start();
    loop {
        let attempt = match tokio::time::timeout(timeout, notifier.notify(notification)).await {
            Ok(r) => r,
            Err(_) => Err(NotifyError::Retryable(format!(
                "attempt timed out after {timeout:?}"
            ))),
        };
        match attempt {
            Ok(()) => return Ok(retry.attempts() + 1),
            Err(NotifyError::Permanent(e)) => return Err(NotifyError::Permanent(e)),
            Err(NotifyError::Retryable(e)) => match retry.next_delay(None) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    return Err(NotifyError::Retryable(format!(
                        "gave up after {} attempts: {e}",
                        retry.attempts()
                    )));
                }
            },
        }
    }
}

/// At most `per_minute` notifications in any 60 s window.
#[derive(Debug)]
struct RateLimit {
    per_minute: usize,
    sent: VecDeque<Instant>,
}

impl RateLimit {
    fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute: per_minute.max(1) as usize,
            sent: VecDeque::new(),
        }
    }

    fn allow(&mut self, now: Instant) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.per_minute {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}
