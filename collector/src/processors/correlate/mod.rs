//! `processors: correlate:` — joins spans, log records and metric exemplars by trace id in
//! one bounded window shared by every pipeline that lists the processor, enriches log records
//! with their span, and answers trace lookups on the admin listener.
//!
//! One instance per id: the factory is called once per pipeline (traces, logs, metrics) and
//! takes the one [`Correlator`] from [`Host::shared`](crate::component::Host::shared). Each
//! pipeline's stage indexes what passes and forwards it:
//!
//! * traces: span summaries (read with the wire views, no message trees) into the window,
//!   then the request unchanged; a new generation is announced to waiting log stages;
//! * metrics: exemplars carrying a trace id, then the request unchanged;
//! * logs: log summaries into the window; the request then waits (in arrival order, so
//!   records are never reordered) until every record with a trace id finds its span, or
//!   `log_wait` passed, or more than `max_waiting_logs` records wait; it is then enriched
//!   ([`enrich`]) and sent on with its acknowledgements.
//!
//! The window also answers the `alerting` extension: the log lines of an alert's example
//! traces ([`evidence`]; each instance adds itself to the host's `TraceLogsRegistry`).
//!
//! With `mode: sample` the traces and logs stages hold spans and trace-carrying records per
//! trace until the trace is decided, and send on only kept traces ([`sample`]).
//!
//! ```yaml
//! processors:
//!   correlate:
//!     num_traces: 50000
//!     max_spans_per_trace: 1000
//!     max_logs_per_trace: 1000
//!     max_bytes: 268435456        # 256 MiB, accounted (see window.rs)
//!     ttl: 5m
//!     log_wait: 2s
//! service:
//!   pipelines:
//!     traces: {receivers: [otlp], processors: [latency_anomaly, correlate], exporters: [otlp]}
//!     logs:   {receivers: [filelog, otlp], processors: [correlate], exporters: [otlp]}
//! ```

mod api;
mod config;
mod enrich;
mod evidence;
mod exemplars;
mod factory;
mod sample;
mod trace;
mod window;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;
use tokio::time::Instant;

pub(crate) use config::{CorrelateConfig, Mode};
pub(crate) use factory::Factory;
pub(crate) use window::{Limits, Now, Window, WindowMetrics};

use super::ProcessorContext;
use crate::core::{Batch, Signal};
use crate::telemetry::Telemetry;

/// The state one `correlate` id shares across its pipelines.
#[derive(Debug)]
pub(crate) struct Correlator {
    config: CorrelateConfig,
    window: Mutex<Window>,
    /// Bumped after each traces request is indexed; log stages waiting for spans watch it.
    spans: watch::Sender<u64>,
    metrics: Metrics,
    /// Sample mode's state (`None` in enrichment mode).
    sampler: Option<Mutex<sample::Sampler>>,
    /// The collector's live log tail, fed with every log record as it is sent on (enriched:
    /// a record without `service.name` has its span's), or in sample mode as it arrives.
    recent: Option<std::sync::Arc<crate::core::recent::Recent>>,
}

/// Counters of the log stages (`lookout_correlate_*`).
#[derive(Debug, Clone)]
struct Metrics {
    /// Log records that got attributes from their span.
    enriched: Counter,
    /// Log records whose span was not in the window when they arrived (they wait for it).
    waited: Counter,
    /// Log records sent on without their span after `log_wait`.
    timed_out: Counter,
    /// Log records sent on early because `max_waiting_logs` records waited.
    released_early: Counter,
    /// Requests that could not be read (forwarded unchanged).
    errors: Counter,
}

impl Metrics {
    fn new(telemetry: &Telemetry, id: &str) -> Metrics {
        let labels = || vec![("processor", id.to_string())];
        Metrics {
            enriched: telemetry.counter(
                "correlate_enriched_log_records",
                "Log records enriched with their span's resource, name or verdict.",
                labels(),
            ),
            waited: telemetry.counter(
                "correlate_waiting_log_records",
                "Log records whose span was not in the window when they arrived; they wait for it up to log_wait.",
                labels(),
            ),
            timed_out: telemetry.counter(
                "correlate_log_wait_expired_log_records",
                "Log records sent on un-enriched because their span did not arrive within log_wait.",
                labels(),
            ),
            released_early: telemetry.counter(
                "correlate_log_wait_overflow_log_records",
                "Log records sent on before log_wait because max_waiting_logs records were waiting.",
                labels(),
            ),
            errors: telemetry.counter(
                "correlate_unreadable_requests",
                "Requests the correlate processor could not read (forwarded unchanged).",
                labels(),
            ),
        }
    }
}

fn lock(window: &Mutex<Window>) -> MutexGuard<'_, Window> {
    // Window operations leave it consistent between statements that could panic.
    window.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Correlator {
    /// A correlator with an empty window.
    pub(crate) fn new(config: CorrelateConfig, telemetry: &Telemetry, id: &str) -> Correlator {
        let window = Window::new(Limits::from(&config), WindowMetrics::new(telemetry, id));
        let sampler = (config.mode == Mode::Sample)
            .then(|| Mutex::new(sample::Sampler::new(&config, telemetry, id)));
        Correlator {
            sampler,
            config,
            window: Mutex::new(window),
            spans: watch::Sender::new(0),
            metrics: Metrics::new(telemetry, id),
            recent: None,
        }
    }

    /// The same correlator, adding the log records it receives to `recent`'s live tail.
    pub(crate) fn with_recent(
        mut self,
        recent: std::sync::Arc<crate::core::recent::Recent>,
    ) -> Correlator {
        self.recent = Some(recent);
        self
    }

    /// Adds a logs request's records to the live tail, if kept (read before the tail's lock
    /// is taken; an unreadable request is counted by the window's indexing, not added).
    fn tap_logs(&self, payload: &[u8]) {
        if let Some(recent) = &self.recent
            && let Ok(lines) = crate::core::recent::logs::lines(payload)
        {
            recent.logs().extend(lines);
        }
    }

    /// The window, locked.
    pub(crate) fn window(&self) -> MutexGuard<'_, Window> {
        lock(&self.window)
    }

    /// Indexes a batch of any signal.
    fn index(&self, batch: &Batch) {
        let now = Now::current();
        let result = match batch.signal {
            Signal::Traces => {
                let r = self.window().add_spans(&batch.payload, now);
                self.spans.send_modify(|g| *g = g.wrapping_add(1));
                r
            }
            Signal::Logs => self.window().add_logs(&batch.payload, now),
            Signal::Metrics => exemplars::exemplars(&batch.payload)
                .map(|found| self.window().add_exemplars(found, now)),
        };
        if let Err(err) = result {
            self.metrics.errors.inc();
            tracing::debug!(error = %err, "correlate: unreadable request forwarded unchanged");
        }
    }

    /// Indexes the spans of an encoded traces request (sample mode: what it sends on).
    fn index_spans(&self, payload: &[u8]) {
        if let Err(err) = self.window().add_spans(payload, Now::current()) {
            self.metrics.errors.inc();
            tracing::debug!(error = %err, "correlate: unreadable spans not indexed");
        }
    }
}

/// A logs batch waiting for spans.
struct Waiting {
    batch: Batch,
    needs: Vec<enrich::Need>,
    deadline: Instant,
}

/// Runs one pipeline's stage until its input closes; waiting log batches are then sent on.
pub(crate) async fn run(shared: std::sync::Arc<Correlator>, mut ctx: ProcessorContext) {
    let signal = ctx.pipeline.split('/').next().and_then(Signal::parse);
    if shared.sampler.is_some()
        && let Some(signal @ (Signal::Traces | Signal::Logs)) = signal
    {
        return sample::run(shared, ctx, signal).await;
    }
    let mut spans = shared.spans.subscribe();
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    let mut waiting_records = 0usize;
    let wait = shared.config.log_wait;
    loop {
        // Send on every head that is ready, in order.
        while let Some(head) = waiting.front() {
            let full = waiting_records > shared.config.max_waiting_logs;
            let expired = Instant::now() >= head.deadline;
            let ready = {
                let window = shared.window();
                head.needs.iter().all(|n| enrich::resolvable(&window, n))
            };
            if !(ready || expired || full) {
                break;
            }
            let Some(head) = waiting.pop_front() else {
                break;
            };
            waiting_records = waiting_records.saturating_sub(held(&head.batch));
            if !ready {
                let counter = if full {
                    &shared.metrics.released_early
                } else {
                    &shared.metrics.timed_out
                };
                let window = shared.window();
                let unresolved = head
                    .needs
                    .iter()
                    .filter(|n| !enrich::resolvable(&window, n))
                    .count();
                counter.inc_by(unresolved as u64);
            }
            send_enriched(&shared, &ctx, head.batch).await;
        }
        let deadline = waiting.front().map(|w| w.deadline);
        tokio::select! {
            biased;
            changed = spans.changed(), if deadline.is_some() => {
                if changed.is_err() {
                    // The correlator is gone: only happens at shutdown; stop waiting.
                    for w in waiting.iter_mut() {
                        w.deadline = Instant::now();
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
            next = ctx.input.recv() => {
                let Some(batch) = next else { break };
                ctx.metrics.incoming.inc_by(batch.items as u64);
                shared.index(&batch);
                if batch.signal != Signal::Logs {
                    ctx.metrics.outgoing.inc_by(batch.items as u64);
                    ctx.output.send(batch).await;
                    continue;
                }
                let needs = enrich::needs(&batch.payload).unwrap_or_default();
                if needs.is_empty() && waiting.is_empty() {
                    shared.tap_logs(&batch.payload);
                    ctx.metrics.outgoing.inc_by(batch.items as u64);
                    ctx.output.send(batch).await;
                    continue;
                }
                let unresolved = {
                    let window = shared.window();
                    needs.iter().filter(|n| !enrich::resolvable(&window, n)).count()
                };
                shared.metrics.waited.inc_by(unresolved as u64);
                // Every record held counts, with or without a trace id: batches queued behind
                // a waiting one are held too.
                waiting_records += held(&batch);
                waiting.push_back(Waiting {
                    batch,
                    needs,
                    deadline: Instant::now() + wait,
                });
            }
        }
    }
    // Input closed: nothing more will arrive before these; send them on as they are enriched now.
    while let Some(w) = waiting.pop_front() {
        send_enriched(&shared, &ctx, w.batch).await;
    }
}

/// Records a held batch counts against `max_waiting_logs`.
fn held(batch: &Batch) -> usize {
    batch.items.max(1)
}

/// Enriches a logs batch from the window and sends it on, acknowledgements attached.
async fn send_enriched(shared: &Correlator, ctx: &ProcessorContext, mut batch: Batch) {
    let result = {
        let window = shared.window();
        enrich::enrich(&batch.payload, &window)
    };
    match result {
        Ok(done) => {
            shared.metrics.enriched.inc_by(done.records as u64);
            if let Some(payload) = done.payload {
                batch.payload = Bytes::from(payload);
            }
        }
        Err(err) => {
            shared.metrics.errors.inc();
            tracing::debug!(error = %err, "correlate: logs forwarded un-enriched");
        }
    }
    shared.tap_logs(&batch.payload);
    ctx.metrics.outgoing.inc_by(batch.items as u64);
    ctx.output.send(batch).await;
}
