//! Episode notifiers. The processor hands events to a background task through a bounded
//! queue and never waits: a full queue drops the event (counted). The task logs to the
//! console and/or posts to the webhook, rate-limited per key.

mod console;
mod limiter;
pub(crate) mod source;
pub(crate) mod webhook;

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::AlertsConfig;
use super::episodes::EpisodeEvent;
use limiter::Limiter;
use webhook::{Webhook, WebhookError};

/// Counters of the notifier.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlertMetrics {
    /// Webhook notifications delivered.
    pub(crate) sent: Counter,
    /// Webhook notifications given up on.
    pub(crate) failed: Counter,
    /// Events dropped at a full queue.
    pub(crate) dropped: Counter,
    /// Events replaced by a later event of the same key within `min_interval`.
    pub(crate) coalesced: Counter,
}

/// The processor's handle on the notifier task.
#[derive(Debug)]
pub(crate) struct Notifier {
    tx: mpsc::Sender<EpisodeEvent>,
    task: JoinHandle<()>,
    dropped: Counter,
    flush_timeout: Duration,
}

impl Notifier {
    /// Starts the notifier task, or returns `None` when no notifier is configured.
    pub(crate) fn spawn(
        config: &AlertsConfig,
        metrics: AlertMetrics,
    ) -> Result<Option<Notifier>, WebhookError> {
        if !config.enabled() {
            return Ok(None);
        }
        let webhook = match &config.webhook {
            Some(w) => Some((Webhook::new(w)?, w.min_interval)),
            None => None,
        };
        let (tx, rx) = mpsc::channel(config.queue_size);
        let dropped = metrics.dropped.clone();
        let task = tokio::spawn(run(rx, config.console, webhook, metrics));
        Ok(Some(Notifier {
            tx,
            task,
            dropped,
            flush_timeout: config.flush_timeout,
        }))
    }

    /// Queues `event` without waiting.
    pub(crate) fn notify(&self, event: EpisodeEvent) {
        if self.tx.try_send(event).is_err() {
            self.dropped.inc();
        }
    }

    /// Closes the queue and waits (at most `flush_timeout`) for pending deliveries.
    pub(crate) async fn close(self) {
        drop(self.tx);
        let mut task = self.task;
        if tokio::time::timeout(self.flush_timeout, &mut task)
            .await
            .is_err()
        {
            tracing::warn!("latency_anomaly: alert notifier did not finish in time; aborting it");
            task.abort();
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<EpisodeEvent>,
    console: bool,
    webhook: Option<(Webhook, Duration)>,
    metrics: AlertMetrics,
) {
    let Some((webhook, min_interval)) = webhook else {
        while let Some(event) = rx.recv().await {
            if console {
                console::log(&event);
            }
        }
        return;
    };
    let mut limiter = Limiter::new(min_interval);
    loop {
        let due = limiter.next_due();
        let ready = tokio::select! {
            next = rx.recv() => {
                let Some(event) = next else { break };
                if console {
                    console::log(&event);
                }
                limiter.offer(event, Instant::now().into_std()).into_iter().collect()
            }
            () = sleep_until(due) => limiter.due(Instant::now().into_std()),
        };
        deliver_all(&webhook, ready, &metrics, &mut limiter).await;
    }
    let rest = limiter.drain();
    deliver_all(&webhook, rest, &metrics, &mut limiter).await;
}

async fn deliver_all(
    webhook: &Webhook,
    events: Vec<EpisodeEvent>,
    metrics: &AlertMetrics,
    limiter: &mut Limiter,
) {
    metrics
        .coalesced
        .inc_by(std::mem::take(&mut limiter.coalesced));
    for event in events {
        match webhook.deliver(&event).await {
            Ok(_) => {
                metrics.sent.inc();
            }
            Err(err) => {
                metrics.failed.inc();
                tracing::warn!(error = %err, "latency_anomaly: alert webhook failed");
            }
        }
    }
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
