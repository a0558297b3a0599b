//! `processors: latency_anomaly:` — tags spans whose duration is anomalous for their key
//! (see [`lookout_anomaly`]) by appending `lookout.latency.*` attributes with the wire-level
//! editor, reports shift/degradation/intermittent episodes to the alert notifiers and,
//! through the `latency_anomaly` connector of the same id
//! ([`crate::connectors::latency_anomaly`]), as OTLP log records to logs pipelines and as
//! spanmetrics-style RED metrics to metrics pipelines.
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
//!     alerting: alerting          # episodes as alerts to this `alerting` extension
//!     alerts:
//!       console: true
//!       webhook:
//!         endpoint: https://alertmanager.example/api/v2/hook
//!         headers: {Authorization: Bearer ...}
//!         min_interval: 1m        # per key
//!         tls: {ca_file: ca.pem}
//!         retry: {max_attempts: 5, initial_interval: 500ms, max_interval: 30s}
//! connectors:
//!   latency_anomaly:              # same id: carries what the processor derives
//!     red_metrics:
//!       max_series: 2000
//!       flush_interval: 15s
//!       histogram_buckets: [2ms, 10ms, 100ms, 1s, 10s]
//! service:
//!   pipelines:
//!     traces: {receivers: [otlp], processors: [latency_anomaly], exporters: [otlp, latency_anomaly]}
//!     logs/anomaly: {receivers: [latency_anomaly], exporters: [debug]}   # episode records
//!     metrics/red: {receivers: [latency_anomaly], exporters: [otlp]}     # RED metrics
//! ```

mod alerts;
pub(crate) mod config;
pub(crate) mod episodes;
pub(crate) mod event_log;
mod handoff;
mod metrics;
mod red;
mod tagger;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::resource::v1::Resource;
use tokio::time::{Instant, MissedTickBehavior};

use super::ProcessorContext;
use crate::core::otlp_build::{attr, unix_nanos};
use crate::core::{Batch, Signal};

mod factory;
use alerts::Notifier;
pub(crate) use config::LatencyAnomalyConfig;
use episodes::EpisodeEvent;
pub(crate) use factory::Factory;
use handoff::Link;
pub(crate) use handoff::Targets;
pub(crate) use metrics::LatencyMetrics;
use tagger::{KINDS, Tagger};

/// The detector's open-episode count scans every key: look at most this often.
const EPISODE_COUNT_EVERY: Duration = Duration::from_secs(1);

/// How long the final RED flush at shutdown waits for room in a target pipeline.
const FINAL_FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Runs the processor until its input closes, then sends the RED metrics a last time and
/// returns, releasing the pipelines in `targets`.
pub(crate) async fn run(
    config: LatencyAnomalyConfig,
    mut ctx: ProcessorContext,
    metrics: LatencyMetrics,
    targets: Targets,
) {
    let tagger = Tagger::new(
        config.detector.clone(),
        config.episodes.clone(),
        config.red_metrics.as_ref(),
    );
    let mut tagger = match tagger {
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
    let sinks = Sinks {
        notifier,
        events: Link::new(Signal::Logs, targets.events, metrics.events.clone()),
        alerting: targets.alerting,
        recent: targets.recent.map(|r| (r, ctx.id.clone())),
    };
    let red_link = Link::new(Signal::Metrics, targets.red_metrics, metrics.red.clone());
    let period = (config.episodes.resolve_after / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let every = config
        .red_metrics
        .as_ref()
        .map_or(Duration::from_secs(15), |r| r.flush_interval);
    let mut flush = tokio::time::interval_at(Instant::now() + every, every);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_count = Instant::now();
    loop {
        // Timers first: under sustained input the queue is never empty, and a timer that
        // only fires on an idle queue would never flush or resolve anything.
        tokio::select! {
            biased;
            _ = flush.tick(), if red_link.is_some() => {
                if let (Some(link), Some(request)) = (&red_link, red_request(tagger.as_ref())) {
                    link.offer(&request);
                }
            }
            _ = tick.tick() => {
                if let Some(a) = &sinks.alerting {
                    a.refresh();
                }
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
                sinks.emit(resolved);
                sinks.show(&t.episodes.grown());
            }
            next = ctx.input.recv() => {
                let Some(batch) = next else { break };
                let batch = match tagger.as_mut() {
                    Some(t) => process(t, batch, &metrics, &sinks),
                    None => batch,
                };
                ctx.metrics.incoming.inc_by(batch.items as u64);
                ctx.metrics.outgoing.inc_by(batch.items as u64);
                ctx.output.send(batch).await;
            }
        }
    }
    if let (Some(link), Some(request)) = (&red_link, red_request(tagger.as_ref())) {
        link.deliver(&request, FINAL_FLUSH_WAIT).await;
    }
    if let Some(n) = sinks.notifier {
        n.close().await;
    }
}

/// The RED metrics as of now, if kept and any span was seen.
fn red_request(tagger: Option<&Tagger>) -> Option<ExportMetricsServiceRequest> {
    tagger?.red.as_ref()?.request(unix_nanos(SystemTime::now()))
}

/// Where episode events go besides the span path.
#[derive(Debug, Default)]
struct Sinks {
    notifier: Option<Notifier>,
    /// `events.pipelines`.
    events: Option<Link>,
    /// The `alerting` extension.
    alerting: Option<alerts::source::AlertTarget>,
    /// The collector's recent episodes, and this processor's id.
    recent: Option<(std::sync::Arc<crate::core::recent::Recent>, String)>,
}

impl Sinks {
    /// Records `events` in the console's episode list: firings, resolutions, and the open
    /// episodes that grew (see [`episodes::Episodes::grown`]), which refresh their record.
    fn show(&self, events: &[EpisodeEvent]) {
        if let (Some((recent, id)), false) = (&self.recent, events.is_empty()) {
            let mut history = recent.episodes();
            events.iter().for_each(|e| history.record(e.record(id)));
        }
    }

    fn emit(&self, events: Vec<EpisodeEvent>) {
        if events.is_empty() {
            return;
        }
        if let Some(link) = &self.events {
            link.offer(&event_log::request(&events, SystemTime::now()));
        }
        if let Some(a) = &self.alerting {
            events.iter().for_each(|e| a.send(e));
        }
        self.show(&events);
        if let Some(n) = &self.notifier {
            events.into_iter().for_each(|e| n.notify(e));
        }
    }
}

/// The resource of what the processor derives for `service` (none when it is empty).
fn service_resource(service: &str) -> Resource {
    Resource {
        attributes: if service.is_empty() {
            Vec::new()
        } else {
            vec![attr("service.name", service)]
        },
        ..Default::default()
    }
}

/// Tags one batch; on a wire error the batch goes on untouched (and is counted).
fn process(
    tagger: &mut Tagger,
    mut batch: Batch,
    metrics: &LatencyMetrics,
    sinks: &Sinks,
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
    if let Some(red) = &mut tagger.red {
        metrics.red_series.set(red.len() as i64);
        metrics
            .red_overflow
            .inc_by(std::mem::take(&mut red.overflowed));
    }
    sinks.emit(tagged.events);
    if let Some(payload) = tagged.payload {
        batch.payload = Bytes::from(payload);
    }
    batch
}
