//! `processors: batch:` — merges requests into batches by size or time, as the Collector's
//! `batchprocessor`. Merging is byte concatenation (see [`crate::core::Batch`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio::time::Instant;

mod factory;
pub(crate) use factory::Factory;

use super::ProcessorContext;
use crate::component::Validate;
use crate::core::{self, AckSet, Batch, Hold, Signal};

/// Batch settings, with the Collector's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BatchConfig {
    /// Send once this many items are waiting (default 8192).
    pub send_batch_size: usize,
    /// Never send more items than this in one batch; larger inputs are split (0: no limit).
    pub send_batch_max_size: usize,
    /// Send whatever is waiting after this long (default 200ms; 0 sends every input at once).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: 8192,
            send_batch_max_size: 0,
            timeout: Duration::from_millis(200),
        }
    }
}

impl Validate for BatchConfig {
    fn validate(&self) -> Result<(), String> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(format!(
                "send_batch_max_size ({}) must be 0 or at least send_batch_size ({})",
                self.send_batch_max_size, self.send_batch_size
            ));
        }
        Ok(())
    }
}

/// Runs the batch processor until its input closes, then sends what is left.
pub(crate) async fn run(config: BatchConfig, mut ctx: ProcessorContext) {
    let mut pending = Pending::default();
    let mut deadline: Option<Instant> = None;
    loop {
        let next = tokio::select! {
            biased;
            next = ctx.input.recv() => next,
            () = sleep_until(deadline) => {
                deadline = None;
                pending.flush(&ctx).await;
                continue;
            }
        };
        let Some(batch) = next else { break };
        ctx.metrics.incoming.inc_by(batch.items as u64);
        for piece in split_oversized(batch, config.send_batch_max_size) {
            if config.send_batch_max_size > 0
                && pending.items + piece.items > config.send_batch_max_size
            {
                pending.flush(&ctx).await;
                deadline = None;
            }
            pending.add(piece, config.send_batch_size);
            if pending.items >= config.send_batch_size || config.timeout.is_zero() {
                pending.flush(&ctx).await;
                deadline = None;
            } else if deadline.is_none() {
                deadline = Some(Instant::now() + config.timeout);
            }
        }
    }
    pending.flush(&ctx).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The largest buffer sized ahead for a batch (a larger one grows as it fills).
const MAX_PRESIZE: usize = 64 << 20;

#[derive(Default)]
struct Pending {
    signal: Option<Signal>,
    buf: BytesMut,
    items: usize,
    acks: AckSet,
    hold: Hold,
    /// Some of the data is [`Batch::taken_over`].
    taken_over: bool,
}

impl Pending {
    /// Appends a request. The buffer of a new batch is sized once for `send_batch_size` items
    /// at this request's bytes per item: growing by doubling would copy the batch several times
    /// and leave up to half of its memory unused — memory a queue bounded in bytes does not see.
    fn add(&mut self, batch: Batch, send_batch_size: usize) {
        if self.buf.is_empty() && batch.items > 0 {
            let per_item = batch.payload.len().div_ceil(batch.items);
            let expected = per_item
                .saturating_mul(send_batch_size.max(batch.items))
                .min(MAX_PRESIZE);
            self.buf.reserve(expected.saturating_add(expected / 16));
        }
        self.signal = Some(batch.signal);
        self.buf.extend_from_slice(&batch.payload);
        self.items += batch.items;
        self.acks.extend(batch.acks);
        self.hold.extend(batch.hold);
        self.taken_over |= batch.taken_over;
    }

    async fn flush(&mut self, ctx: &ProcessorContext) {
        let Some(signal) = self.signal else { return };
        if self.items == 0 {
            return;
        }
        let batch = Batch {
            signal,
            payload: self.buf.split().freeze(),
            items: std::mem::take(&mut self.items),
            acks: std::mem::take(&mut self.acks),
            hold: std::mem::take(&mut self.hold),
            taken_over: std::mem::take(&mut self.taken_over),
        };
        ctx.metrics.outgoing.inc_by(batch.items as u64);
        ctx.output.send(batch).await;
    }
}

/// Splits a batch larger than `max` items into pieces of at most `max` (0: no limit).
fn split_oversized(batch: Batch, max: usize) -> Vec<Batch> {
    if max == 0 || batch.items <= max {
        return vec![batch];
    }
    let chunks = match core::split(batch.signal, &batch.payload, max) {
        Ok(chunks) => chunks,
        Err(err) => {
            // Receivers validated the payload, so this means a bug: keep the data whole.
            tracing::error!(error = %err, "cannot split an oversized batch; sending it whole");
            return vec![batch];
        }
    };
    let mut pieces = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let items = core::validate(batch.signal, &chunk).unwrap_or(0);
        pieces.push(Batch {
            signal: batch.signal,
            payload: Bytes::from(chunk),
            items,
            acks: batch.acks.fork(),
            hold: batch.hold.clone(),
            taken_over: batch.taken_over,
        });
    }
    // Each piece holds its own claim; the original's is released as done.
    batch.acks.settle(true);
    pieces
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use tokio::sync::mpsc;

    use super::*;
    use crate::core::Ack;
    use crate::pipeline::Output;
    use crate::telemetry::Telemetry;
    use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn request(names: &[&str]) -> Batch {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: names
                        .iter()
                        .map(|n| Span {
                            trace_id: vec![7; 16],
                            span_id: vec![1; 8],
                            name: n.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        Batch::new(
            Signal::Traces,
            Bytes::from(request.encode_to_vec()),
            names.len(),
        )
    }

    fn names(batch: &Batch) -> Vec<String> {
        ExportTraceServiceRequest::decode(&batch.payload[..])
            .unwrap()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    }

    fn start(
        config: BatchConfig,
    ) -> (
        mpsc::Sender<Batch>,
        mpsc::Receiver<Batch>,
        tokio::task::JoinHandle<()>,
    ) {
        let (in_tx, in_rx) = mpsc::channel(16);
        let (out_tx, out_rx) = mpsc::channel(16);
        let ctx = ProcessorContext {
            id: "batch".into(),
            pipeline: "traces".into(),
            input: in_rx,
            output: Output::Next(out_tx),
            metrics: Telemetry::new().processor("batch", "traces", Signal::Traces),
        };
        (in_tx, out_rx, tokio::spawn(run(config, ctx)))
    }

    #[tokio::test]
    async fn sends_when_size_is_reached_by_concatenation() {
        let config = BatchConfig {
            send_batch_size: 3,
            timeout: Duration::from_secs(3600),
            ..Default::default()
        };
        let (tx, mut rx, _task) = start(config);
        tx.send(request(&["a", "b"])).await.unwrap();
        tx.send(request(&["c"])).await.unwrap();
        let out = rx.recv().await.unwrap();
        assert_eq!(out.items, 3);
        assert_eq!(names(&out), ["a", "b", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn sends_a_partial_batch_after_the_timeout() {
        let config = BatchConfig {
            send_batch_size: 100,
            timeout: Duration::from_millis(200),
            ..Default::default()
        };
        let (tx, mut rx, _task) = start(config);
        tx.send(request(&["a"])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(rx.try_recv().is_err(), "not before the timeout");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(names(&rx.recv().await.unwrap()), ["a"]);
    }

    #[tokio::test]
    async fn splits_inputs_larger_than_the_max_and_acks_after_all_pieces() {
        let config = BatchConfig {
            send_batch_size: 2,
            send_batch_max_size: 2,
            timeout: Duration::from_secs(3600),
        };
        let (tx, mut rx, task) = start(config);
        let (ack, delivery) = Ack::new();
        tx.send(request(&["a", "b", "c", "d", "e"]).with_ack(ack))
            .await
            .unwrap();
        drop(tx);
        let mut seen = Vec::new();
        let mut pieces = Vec::new();
        while let Some(out) = rx.recv().await {
            assert!(out.items <= 2);
            seen.extend(names(&out));
            pieces.push(out);
        }
        task.await.unwrap();
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
        let outcome = tokio::spawn(delivery.outcome());
        let last = pieces.pop().unwrap();
        for piece in pieces {
            piece.acks.settle(true);
        }
        tokio::task::yield_now().await;
        assert!(!outcome.is_finished(), "delivery waits for every piece");
        last.acks.settle(true);
        assert!(outcome.await.unwrap());
    }

    #[tokio::test]
    async fn flushes_what_is_left_when_the_input_closes() {
        let config = BatchConfig {
            send_batch_size: 100,
            timeout: Duration::from_secs(3600),
            ..Default::default()
        };
        let (tx, mut rx, task) = start(config);
        tx.send(request(&["x"])).await.unwrap();
        drop(tx);
        task.await.unwrap();
        assert_eq!(names(&rx.recv().await.unwrap()), ["x"]);
        assert!(rx.recv().await.is_none());
    }
}
