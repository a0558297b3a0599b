//! `processors: latency_anomaly:` — tags spans whose duration is anomalous for their key
//! (see [`lookout_anomaly`]) by appending `lookout.latency.*` attributes with the wire-level
//! editor, and reports shift/degradation episodes to the alert notifiers.
//!
//! The detector state is owned by the processor task: no locks on the span path. Requests
//! without a tagged span are forwarded as the very same bytes.
//!
//! ```yaml
//! processors:
//!   latency_anomaly:
//!     min_samples: 100            # any lookout_anomaly::DetectorConfig field
//!     key_fields: [service_name, span_name, span_kind, status_code]
//!     emit_category: true         # also write latency.category=slow|very_slow
//!     episodes: {resolve_after: 2m}
//!     alerts:
//!       console: true
//!       webhook:
//!         endpoint: https://alertmanager.example/api/v2/hook
//!         headers: {Authorization: Bearer ...}
//!         min_interval: 1m        # per key
//!         tls: {ca_file: ca.pem}
//!         retry: {max_attempts: 5, initial_interval: 500ms, max_interval: 30s}
//! ```

mod alerts;
pub mod config;
mod episodes;
mod metrics;
mod tagger;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::{Instant, MissedTickBehavior};

use super::ProcessorContext;
use crate::pipeline::{Batch, Signal};
use alerts::Notifier;
pub use config::LatencyAnomalyConfig;
pub use metrics::LatencyMetrics;
use tagger::{KINDS, Tagger};

/// The detector's open-episode count scans every key: look at most this often.
const EPISODE_COUNT_EVERY: Duration = Duration::from_secs(1);

/// Runs the processor until its input closes.
pub async fn run(config: LatencyAnomalyConfig, mut ctx: ProcessorContext, metrics: LatencyMetrics) {
    let mut tagger = match Tagger::new(config.detector.clone(), config.episodes.clone()) {
        Ok(t) => Some(t),
        Err(err) => {
            // Checked at config load, so unreachable in practice; keep the data flowing.
            tracing::error!(error = %err, "latency_anomaly: invalid detector config; passing spans through");
            None
        }
    };
    let notifier = match Notifier::spawn(&config.alerts, metrics.alerts.clone()) {
        Ok(n) => n,
        Err(err) => {
            tracing::error!(error = %err, "latency_anomaly: alerts disabled");
            None
        }
    };
    let period = (config.episodes.resolve_after / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_count = Instant::now();
    loop {
        tokio::select! {
            biased;
            next = ctx.input.recv() => {
                let Some(batch) = next else { break };
                let batch = match tagger.as_mut() {
                    Some(t) => process(t, batch, &metrics, notifier.as_ref()),
                    None => batch,
                };
                ctx.metrics.incoming.inc_by(batch.items as u64);
                ctx.metrics.outgoing.inc_by(batch.items as u64);
                ctx.output.send(batch).await;
            }
            _ = tick.tick() => {
                let Some(t) = tagger.as_mut() else { continue };
                if t.episodes.len() == 0 {
                    continue;
                }
                let count = (last_count.elapsed() >= EPISODE_COUNT_EVERY).then(|| {
                    last_count = Instant::now();
                    t.detector().open_episodes()
                });
                let resolved = t.episodes.sweep(std::time::Instant::now(), SystemTime::now(), count);
                metrics.episodes_resolved.inc_by(resolved.len() as u64);
                metrics.episodes_open.set(t.episodes.len() as i64);
                if let Some(n) = &notifier {
                    resolved.into_iter().for_each(|e| n.notify(e));
                }
            }
        }
    }
    if let Some(n) = notifier {
        n.close().await;
    }
}

/// Tags one batch; on a wire error the batch goes on untouched (and is counted).
fn process(
    tagger: &mut Tagger,
    mut batch: Batch,
    metrics: &LatencyMetrics,
    notifier: Option<&Notifier>,
) -> Batch {
    if batch.signal != Signal::Traces {
        return batch;
    }
    let tagged = match tagger.tag(&batch.payload, std::time::Instant::now(), SystemTime::now()) {
        Ok(t) => t,
        Err(err) => {
            metrics.errors.inc();
            tracing::warn!(error = %err, "latency_anomaly: cannot read a traces request; forwarding it untagged");
            return batch;
        }
    };
    for kind in KINDS {
        let n = tagged.by_kind[tagger::kind_index(kind)];
        if n > 0 {
            metrics.tagged[tagger::kind_index(kind)].inc_by(n);
        }
    }
    metrics.keys.set(tagger.detector().len() as i64);
    metrics.evictions.set(tagger.detector().evictions() as i64);
    metrics.episodes_fired.inc_by(tagged.events.len() as u64);
    metrics.episodes_open.set(tagger.episodes.len() as i64);
    metrics
        .episode_overflow
        .set(tagger.episodes.overflow as i64);
    if let Some(n) = notifier {
        tagged.events.into_iter().for_each(|e| n.notify(e));
    }
    if let Some(payload) = tagged.payload {
        batch.payload = Bytes::from(payload);
    }
    batch
}
