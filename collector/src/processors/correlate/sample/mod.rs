//! `mode: sample` — verdict-driven trace sampling.
//!
//! Spans, and the log records that carry their trace id, are held per trace ([`held`]) until
//! the trace is decided: once its root span arrived and no span followed for `quiet_period`,
//! at `max_wait` after its first item at the latest, or earlier when the held bytes pass
//! `max_held_bytes` (oldest first). The rules ([`policy`]) keep every trace with an anomaly
//! verdict, an error span, an error log or a root of at least `min_duration`, and
//! `normal_percent` of the others by a hash of the trace id. A kept trace leaves whole (its
//! spans with `lookout.logs.*` counts); a dropped one is counted. Items arriving after the
//! decision follow it through a bounded decision cache ([`cache`]).
//!
//! Acknowledgements are settled when a batch is taken into the buffer: a client never waits
//! for a decision, and what sampling drops afterwards is a counted, documented drop. The
//! buffer is bounded; while it and the decided data waiting to be sent are over
//! `max_held_bytes` the stage stops reading, so its queue fills and receivers refuse with a
//! retryable error as everywhere else in the pipeline.
//!
//! One instance serves a traces and a logs pipeline: whichever stage runs a decision puts
//! the released spans and logs in per-signal outboxes; each stage sends its own signal's.
//! The window (lookup APIs, log enrichment) holds what is sent on: kept traces, late items
//! of kept traces and items without a trace id — not the traces sampled out.

mod cache;
mod group;
mod held;
mod policy;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use lookout_proto::wire::WireError;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::time::{Duration, Instant, MissedTickBehavior};

use self::cache::DecisionCache;
use self::group::{Group, Headers};
use self::held::{Due, Held};
use self::policy::{Policy, Reason};
use super::{CorrelateConfig, Correlator};
use crate::core::{Batch, Signal};
use crate::processors::ProcessorContext;
use crate::telemetry::Telemetry;

/// Upper bounds (seconds) of the decision delay buckets (root arrival to decision).
const DELAY_BUCKETS: [f64; 10] = [
    0.5,
    1.0,
    1.05,
    1.1,
    1.25,
    1.5,
    2.0,
    5.0,
    30.0,
    f64::INFINITY,
];

/// Self-metrics of sample mode (`lookout_correlate_sample_*`).
#[derive(Debug, Clone)]
struct Metrics {
    /// Traces decided: `[kept, dropped]` × reason.
    traces: [[Counter; 5]; 2],
    /// Decisions before the trace was quiet: `[max_wait, max_held_bytes, shutdown]`.
    early: [Counter; 3],
    /// Items dropped with their trace: `[spans, log records]`.
    dropped: [Counter; 2],
    /// Items arriving after their trace's decision: `[spans, logs]` × `[kept, dropped]`.
    late: [[Counter; 2]; 2],
    /// Decisions forgotten to make room in the cache.
    cache_evicted: Counter,
    /// Traces decided after their root arrived, by delay bucket (cumulative).
    delay: [Counter; 10],
    /// Sum of those delays, in microseconds.
    delay_sum_us: Counter,
    held_bytes: Gauge,
    held_traces: Gauge,
}

impl Metrics {
    fn new(telemetry: &Telemetry, id: &str) -> Metrics {
        let labels = |extra: &[(&'static str, &str)]| {
            let mut l = vec![("processor", id.to_string())];
            l.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            l
        };
        let traces = ["kept", "dropped"].map(|decision| {
            Reason::ALL.map(|reason| {
                telemetry.counter(
                    "correlate_sample_traces",
                    "Traces decided in sample mode, by decision (kept, dropped) and reason (anomaly, error_span, error_log, duration, normal).",
                    labels(&[("decision", decision), ("reason", reason.label())]),
                )
            })
        });
        let early = ["max_wait", "max_held_bytes", "shutdown"].map(|why| {
            telemetry.counter(
                "correlate_sample_early_decisions",
                "Traces decided before they were complete and quiet: at max_wait, because max_held_bytes was reached, or at shutdown.",
                labels(&[("reason", why)]),
            )
        });
        let dropped = ["spans", "log_records"].map(|signal| {
            telemetry.counter(
                "correlate_sample_dropped_items",
                "Spans and log records dropped because their trace was sampled out.",
                labels(&[("item", signal)]),
            )
        });
        let late = ["spans", "log_records"].map(|item| {
            ["kept", "dropped"].map(|decision| {
                telemetry.counter(
                    "correlate_sample_late_items",
                    "Spans and log records that arrived after their trace was decided and followed the decision.",
                    labels(&[("item", item), ("decision", decision)]),
                )
            })
        });
        let delay = DELAY_BUCKETS.map(|le| {
            let le = if le.is_finite() { le.to_string() } else { "+Inf".into() };
            telemetry.counter(
                "correlate_sample_decision_delay_bucket",
                "Traces decided after their root span arrived, by delay from the root's arrival to the decision (cumulative buckets, le in seconds).",
                labels(&[("le", &le)]),
            )
        });
        Metrics {
            traces,
            early,
            dropped,
            late,
            cache_evicted: telemetry.counter(
                "correlate_sample_cache_evictions",
                "Decisions forgotten to make room in decision_cache; a later item of such a trace is held as a new trace.",
                labels(&[]),
            ),
            delay,
            delay_sum_us: telemetry.counter(
                "correlate_sample_decision_delay_microseconds",
                "Sum of the delays from root span arrival to decision, in microseconds.",
                labels(&[]),
            ),
            held_bytes: telemetry.gauge(
                "correlate_sample_held_bytes",
                "Bytes held by undecided traces, as accounted against max_held_bytes.",
                labels(&[]),
            ),
            held_traces: telemetry.gauge(
                "correlate_sample_held_traces",
                "Undecided traces held.",
                labels(&[]),
            ),
        }
    }
}

/// Released items of one signal waiting for their stage.
#[derive(Debug, Default)]
struct Outbox {
    groups: Vec<Group>,
    items: usize,
    bytes: usize,
    /// The stage of this signal stopped: nothing goes in any more.
    closed: bool,
}

impl Outbox {
    /// Queues released items; `false` when the stage stopped and they cannot be sent.
    fn put(&mut self, groups: Vec<Group>, items: usize) -> bool {
        if items == 0 {
            return true;
        }
        if self.closed {
            return false;
        }
        self.bytes += groups.iter().map(Group::bytes).sum::<usize>();
        self.groups.extend(groups);
        self.items += items;
        true
    }

    fn take(&mut self) -> Option<(Vec<u8>, usize)> {
        if self.items == 0 {
            return None;
        }
        let payload = group::encode(&self.groups);
        let items = self.items;
        self.groups.clear();
        self.items = 0;
        self.bytes = 0;
        Some((payload, items))
    }
}

/// The sampling state one `correlate` instance shares across its pipelines.
#[derive(Debug)]
pub(crate) struct Sampler {
    held: Held,
    cache: DecisionCache,
    policy: Policy,
    quiet: Duration,
    max_wait: Duration,
    max_bytes: usize,
    headers: Headers,
    /// `[spans, logs]`.
    out: [Outbox; 2],
    /// Kept traces' spans, encoded, for the window (indexed before anything of them is sent,
    /// so their released logs are enriched from them).
    to_index: Vec<Vec<u8>>,
    metrics: Metrics,
}

fn slot(signal: Signal) -> usize {
    usize::from(signal == Signal::Logs)
}

// === impl Sampler ===

impl Sampler {
    /// An empty sampler.
    pub(crate) fn new(config: &CorrelateConfig, telemetry: &Telemetry, id: &str) -> Sampler {
        Sampler {
            held: Held::default(),
            cache: DecisionCache::new(config.decision_cache),
            policy: Policy::new(config.normal_percent, config.min_duration, config.hash_seed),
            quiet: config.quiet_period,
            max_wait: config.max_wait,
            max_bytes: config.max_held_bytes,
            headers: Headers::default(),
            out: [Outbox::default(), Outbox::default()],
            to_index: Vec::new(),
            metrics: Metrics::new(telemetry, id),
        }
    }

    /// Whether held and released-but-unsent data are over the byte budget (the stages stop
    /// reading until it is sent).
    fn full(&self) -> bool {
        self.held.bytes() + self.out.iter().map(|o| o.bytes).sum::<usize>() > self.max_bytes
    }

    /// Takes the items of a traces or logs request: items of held or unknown traces are
    /// held, late items of decided traces follow the decision, items without a trace id go
    /// on. Returns what goes on now, as a request, and its item count.
    pub(crate) fn accept(
        &mut self,
        signal: Signal,
        payload: &[u8],
        now: Instant,
    ) -> Result<Option<(Vec<u8>, usize)>, WireError> {
        let mut through = Vec::new();
        let mut through_items = 0;
        let mut headers = std::mem::take(&mut self.headers);
        let s = slot(signal);
        let result = group::items(payload, &mut headers, |item| {
            let (trace, span_facts, log_facts) = if signal == Signal::Traces {
                let f = group::span_facts(item.body);
                (f.trace, Some(f), None)
            } else {
                let f = group::log_facts(item.body);
                (f.trace, None, Some(f))
            };
            let Some(id) = trace else {
                group::push(&mut through, &item, &[]);
                through_items += 1;
                return;
            };
            if !self.held.contains(&id)
                && let Some(keep) = self.cache.get(&id)
            {
                if let Some(late) = self
                    .metrics
                    .late
                    .get(s)
                    .and_then(|l| l.get(usize::from(!keep)))
                {
                    late.inc();
                }
                if keep {
                    group::push(&mut through, &item, &[]);
                    through_items += 1;
                } else if let Some(c) = self.metrics.dropped.get(s) {
                    c.inc();
                }
                return;
            }
            match (span_facts, log_facts) {
                (Some(f), _) => self.held.add_span(id, &item, &f, now),
                (_, Some(f)) => self.held.add_log(id, &item, &f, now),
                _ => {}
            }
        });
        self.headers = headers;
        result?;
        if self.held.bytes() > self.max_bytes {
            self.decide(now);
        }
        self.update_gauges();
        Ok((through_items > 0).then(|| (group::encode(&through), through_items)))
    }

    /// Decides every trace that is due; kept ones go to the outboxes.
    pub(crate) fn decide(&mut self, now: Instant) {
        for (id, due) in self
            .held
            .due(now, self.quiet, self.max_wait, self.max_bytes)
        {
            self.decide_one(&id, now, Some(due));
        }
        self.update_gauges();
    }

    /// Decides every trace held (the input closed).
    fn decide_all(&mut self, now: Instant) {
        for (id, _) in self.held.due(now, self.quiet, self.max_wait, 0) {
            self.decide_one(&id, now, None);
        }
        self.update_gauges();
    }

    fn decide_one(&mut self, id: &[u8; 16], now: Instant, due: Option<Due>) {
        let Some(trace) = self.held.take(id) else {
            return;
        };
        let decision = self.policy.decide(id, &trace.signs);
        let evicted = self.cache.insert(*id, decision.keep);
        self.metrics.cache_evicted.inc_by(evicted as u64);
        let m = &self.metrics;
        if let Some(c) = m
            .traces
            .get(usize::from(!decision.keep))
            .and_then(|r| r.get(decision.reason.index()))
        {
            c.inc();
        }
        let early = match due {
            Some(Due::Quiet) => None,
            Some(Due::MaxWait) => Some(0),
            Some(Due::Bytes) => Some(1),
            None => Some(2),
        };
        if let Some(c) = early.and_then(|i| m.early.get(i)) {
            c.inc();
        }
        if let Some(root) = trace.root_at {
            let delay = now.saturating_duration_since(root);
            m.delay_sum_us
                .inc_by(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX));
            let secs = delay.as_secs_f64();
            for (bucket, le) in m.delay.iter().zip(DELAY_BUCKETS) {
                if secs <= le {
                    bucket.inc();
                }
            }
        }
        if decision.keep {
            let (spans, logs) = (trace.span_count, trace.log_count);
            let (span_groups, log_groups) = trace.release();
            if spans > 0 {
                self.to_index.push(group::encode(&span_groups));
            }
            let [traces_out, logs_out] = &mut self.out;
            let [spans_dropped, logs_dropped] = &m.dropped;
            // A kept item whose stage already stopped (shutdown) cannot leave: counted.
            if !traces_out.put(span_groups, spans) {
                spans_dropped.inc_by(spans as u64);
            }
            if !logs_out.put(log_groups, logs) {
                logs_dropped.inc_by(logs as u64);
            }
        } else {
            let [spans, logs] = &m.dropped;
            spans.inc_by(trace.span_count as u64);
            logs.inc_by(trace.log_count as u64);
        }
    }

    fn update_gauges(&self) {
        self.metrics.held_bytes.set(self.held.bytes() as i64);
        self.metrics.held_traces.set(self.held.len() as i64);
    }

    /// The spans of the traces kept since the last call, encoded, for the window.
    fn take_index(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.to_index)
    }

    /// The released items of `signal` to send, as one request.
    fn take_out(&mut self, signal: Signal) -> Option<(Vec<u8>, usize)> {
        self.out.get_mut(slot(signal)).and_then(Outbox::take)
    }

    /// The stage of `signal` stopped: its outbox is emptied and closed.
    fn close(&mut self, signal: Signal) {
        if let Some(o) = self.out.get_mut(slot(signal)) {
            o.closed = true;
            if let Some(c) = self.metrics.dropped.get(slot(signal)) {
                c.inc_by(o.items as u64);
            }
            o.groups.clear();
            o.items = 0;
            o.bytes = 0;
        }
    }
}

fn lock(sampler: &Mutex<Sampler>) -> MutexGuard<'_, Sampler> {
    // Sampler operations leave it consistent between statements that could panic.
    sampler.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often a stage looks for traces to decide: a small fraction of `quiet_period`, so a
/// decision comes at most that late.
fn tick(quiet: Duration) -> Duration {
    (quiet / 20).clamp(Duration::from_millis(5), Duration::from_millis(100))
}

/// Runs one traces or logs stage of a `correlate` instance in sample mode until its input
/// closes; then every trace still held is decided and this stage's outbox sent.
pub(crate) async fn run(shared: Arc<Correlator>, mut ctx: ProcessorContext, signal: Signal) {
    let Some(sampler) = shared.sampler.as_ref() else {
        return;
    };
    let mut ticks = tokio::time::interval(tick(shared.config.quiet_period));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let full = lock(sampler).full();
        tokio::select! {
            biased;
            _ = ticks.tick() => {
                let out = {
                    let mut s = lock(sampler);
                    s.decide(Instant::now());
                    index_kept(&shared, &mut s);
                    s.take_out(signal)
                };
                send(&shared, &ctx, signal, out).await;
            }
            next = ctx.input.recv(), if !full => {
                let Some(batch) = next else { break };
                ctx.metrics.incoming.inc_by(batch.items as u64);
                if signal == Signal::Logs {
                    shared.tap_logs(&batch.payload);
                }
                if batch.signal != signal {
                    shared.index(&batch);
                    ctx.metrics.outgoing.inc_by(batch.items as u64);
                    ctx.output.send(batch).await;
                    continue;
                }
                let (through, out) = {
                    let mut s = lock(sampler);
                    let through = s.accept(signal, &batch.payload, Instant::now());
                    if signal == Signal::Traces
                        && let Ok(Some((payload, _))) = &through
                    {
                        shared.index_spans(payload);
                    }
                    index_kept(&shared, &mut s);
                    (through, s.take_out(signal))
                };
                match through {
                    Ok(through) => {
                        // Held data is the processor's now: the client does not wait for the decision.
                        let Batch { acks, .. } = batch;
                        acks.settle(true);
                        send(&shared, &ctx, signal, through).await;
                    }
                    Err(err) => {
                        shared.metrics.errors.inc();
                        tracing::debug!(error = %err, "correlate: unreadable request forwarded unchanged");
                        ctx.metrics.outgoing.inc_by(batch.items as u64);
                        ctx.output.send(batch).await;
                    }
                }
                send(&shared, &ctx, signal, out).await;
            }
        }
    }
    let out = {
        let mut s = lock(sampler);
        s.decide_all(Instant::now());
        index_kept(&shared, &mut s);
        let out = s.take_out(signal);
        s.close(signal);
        out
    };
    send(&shared, &ctx, signal, out).await;
}

/// Indexes the spans of the traces just kept in the window (under the sampler's lock, so no
/// stage sends their logs before their spans are in the window).
fn index_kept(shared: &Correlator, sampler: &mut Sampler) {
    for payload in sampler.take_index() {
        shared.index_spans(&payload);
    }
}

async fn send(
    shared: &Correlator,
    ctx: &ProcessorContext,
    signal: Signal,
    out: Option<(Vec<u8>, usize)>,
) {
    let Some((payload, items)) = out else { return };
    // Its acknowledgements were settled on receipt: no one upstream can send it again.
    let batch = Batch::new(signal, Bytes::from(payload), items).taken_over();
    if signal == Signal::Logs {
        shared.index(&batch);
        super::send_enriched(shared, ctx, batch).await;
    } else {
        ctx.metrics.outgoing.inc_by(items as u64);
        ctx.output.send(batch).await;
    }
}
