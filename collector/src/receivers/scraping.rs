//! The loop every scraping receiver runs: wait `initial_delay`, then every
//! `collection_interval` take one scrape and hand it to the metrics pipelines, until shutdown.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::core::{self, Batch, Consumer, Signal};
use crate::telemetry::ReceiverMetrics;

/// When to scrape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Time between scrapes.
    pub(crate) interval: Duration,
    /// Wait before the first scrape.
    pub(crate) initial_delay: Duration,
}

/// Runs `scrape` on `schedule` and sends what it returns until `shutdown` fires.
///
/// A scrape that is still running when shutdown fires is abandoned; a slow pipeline delays the
/// next scrape (ticks missed meanwhile are skipped, not bunched) rather than piling up data.
pub(crate) async fn run<F, Fut>(
    schedule: Schedule,
    consumer: Consumer,
    metrics: ReceiverMetrics,
    shutdown: CancellationToken,
    mut scrape: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ExportMetricsServiceRequest>,
{
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::sleep(schedule.initial_delay) => {}
    }
    // tokio panics on a zero period; config checks reject it, this keeps the loop total.
    let mut ticker = tokio::time::interval(schedule.interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let request = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            request = scrape() => request,
        };
        let payload = Bytes::from(request.encode_to_vec());
        let items = match core::validate(Signal::Metrics, &payload) {
            Ok(0) => continue,
            Ok(items) => items,
            Err(err) => {
                // Our own encoding: failing here is a bug, not bad input; report, keep running.
                tracing::error!(error = %err, "scraper produced an invalid metrics request");
                continue;
            }
        };
        let batch = Batch::new(Signal::Metrics, payload, items);
        let sent = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                metrics.refused.inc_by(items as u64);
                return;
            }
            sent = consumer.send(batch) => sent,
        };
        match sent {
            Ok(()) => {
                metrics.accepted.inc_by(items as u64);
            }
            Err(refused) => {
                metrics.refused.inc_by(items as u64);
                if refused.is_closed() {
                    return;
                }
            }
        }
    }
}
