//! `processors: batch:` — merges requests into batches by size or time, as the Collector's
//! `batchprocessor`. Merging is byte concatenation (see [`crate::pipeline`]).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio::time::Instant;

use super::ProcessorContext;
use crate::pipeline::{self, AckSet, Batch, Signal};

/// Batch settings, with the Collector's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
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

impl BatchConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
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
pub async fn run(config: BatchConfig, mut ctx: ProcessorContext) {
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
            pending.add(piece);
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

#[derive(Default)]
struct Pending {
    signal: Option<Signal>,
    buf: BytesMut,
    items: usize,
    acks: AckSet,
}

impl Pending {
    fn add(&mut self, batch: Batch) {
        self.signal = Some(batch.signal);
        self.buf.extend_from_slice(&batch.payload);
        self.items += batch.items;
        self.acks.extend(batch.acks);
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
    let chunks = match pipeline::split(batch.signal, &batch.payload, max) {
        Ok(chunks) => chunks,
        Err(err) => {
            // Receivers validated the payload, so this means a bug: keep the data whole.
            tracing::error!(error = %err, "cannot split an oversized batch; sending it whole");
            return vec![batch];
        }
    };
    let mut pieces = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let items = pipeline::validate(batch.signal, &chunk).unwrap_or(0);
        pieces.push(Batch {
            signal: batch.signal,
            payload: Bytes::from(chunk),
            items,
            acks: batch.acks.fork(),
        });
    }
    // Each piece holds its own claim; the original's is released as done.
    batch.acks.settle(true);
    pieces
}
