//! `processors: redaction:` — contrib's `redactionprocessor` on the wire format: removes
//! attributes whose keys are not allowed, masks the values of blocked keys, and masks the
//! parts of string values (attributes and log bodies) that match `blocked_values` or the
//! built-in patterns (Luhn-checked card numbers, emails, bearer tokens).
//!
//! Requests are not decoded: `scan.rs` reads each attribute list in place and only the
//! attributes that change are re-encoded and spliced in ([`lookout_proto::wire::splice`]);
//! a request with nothing to redact is forwarded as the same bytes. Traces and logs;
//! metrics pass through untouched (not listed in the processor's signals).
//!
//! | file | job |
//! |---|---|
//! | `config.rs` | the settings and their validation |
//! | `builtin.rs` | the built-in patterns and the Luhn check |
//! | `rules.rs` | the settings compiled: a key's fate, a value masked |
//! | `scan.rs` | the walk over a request that finds what to change |
//! | `summary.rs` | the `redaction.*` summary attributes |

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;

#[cfg(test)]
mod bench;
mod builtin;
mod config;
mod factory;
mod rules;
mod scan;
mod summary;
#[cfg(test)]
mod tests;

pub(crate) use config::RedactionConfig;
pub(crate) use factory::Factory;
pub(crate) use rules::Rules;
pub(crate) use scan::{Redacted, logs, traces};

use super::ProcessorContext;
use crate::component::Host;
use crate::core::{Batch, Signal};

/// Counters of one processor instance in one pipeline (`lookout_redaction_*`).
#[derive(Debug, Clone)]
pub(crate) struct RedactionMetrics {
    /// Values masked.
    masked: Counter,
    /// Attributes removed.
    removed: Counter,
    /// Requests forwarded unredacted because they could not be read.
    errors: Counter,
}

impl RedactionMetrics {
    /// Registers the series for `processor` in `pipeline`.
    pub(crate) fn new(host: &Host, processor: &str, pipeline: &str) -> RedactionMetrics {
        let telemetry = host.telemetry();
        let labels = || {
            vec![
                ("processor", processor.to_string()),
                ("pipeline", pipeline.to_string()),
            ]
        };
        RedactionMetrics {
            masked: telemetry.counter(
                "redaction_masked_values",
                "Attribute values and log bodies masked by the redaction processor.",
                labels(),
            ),
            removed: telemetry.counter(
                "redaction_removed_attributes",
                "Attributes removed by the redaction processor (keys not allowed).",
                labels(),
            ),
            errors: telemetry.counter(
                "redaction_errors",
                "Requests the redaction processor could not read; they are dropped.",
                labels(),
            ),
        }
    }
}

/// Redacts every batch until the input closes.
pub(crate) async fn run(rules: Rules, mut ctx: ProcessorContext, metrics: RedactionMetrics) {
    while let Some(batch) = ctx.input.recv().await {
        let items = batch.items as u64;
        ctx.metrics.incoming.inc_by(items);
        let Some(batch) = process(&rules, batch, &metrics) else {
            continue;
        };
        ctx.metrics.outgoing.inc_by(items);
        ctx.output.send(batch).await;
    }
}

/// Redacts one batch. A request that cannot be read is dropped (and counted), not forwarded:
/// passing it on would let through what the processor is there to stop. Receivers validate
/// every request, so this means a bug upstream.
fn process(rules: &Rules, mut batch: Batch, metrics: &RedactionMetrics) -> Option<Batch> {
    let result = match batch.signal {
        Signal::Traces => traces(rules, &batch.payload),
        Signal::Logs => logs(rules, &batch.payload),
        _ => return Some(batch),
    };
    match result {
        Ok(Redacted {
            payload,
            masked,
            removed,
        }) => {
            metrics.masked.inc_by(masked);
            metrics.removed.inc_by(removed);
            if let Some(p) = payload {
                batch.payload = Bytes::from(p);
            }
            Some(batch)
        }
        Err(err) => {
            metrics.errors.inc();
            tracing::warn!(error = %err, "redaction: cannot read a request; dropping it");
            None
        }
    }
}
