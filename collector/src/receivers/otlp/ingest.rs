//! The step both transports share: check a request, count it, hand it to the pipelines.

use bytes::Bytes;

use crate::pipeline::{self, Batch, Consumer, Signal};
use crate::receivers::ReceiverContext;
use crate::telemetry::ReceiverMetrics;

/// Where one transport of the receiver hands each signal.
#[derive(Clone)]
pub(super) struct Ingest {
    routes: [Option<(Consumer, ReceiverMetrics)>; 3],
}

/// Why a request was not taken.
pub(super) enum IngestError {
    /// Malformed: do not retry.
    Invalid(String),
    /// The pipelines are full: retry later.
    Full,
    /// Shutting down: retry elsewhere or later.
    Closed,
    /// No pipeline takes this signal from this receiver.
    NotServed,
}

impl Ingest {
    pub(super) fn new(ctx: &ReceiverContext, transport: &str) -> Ingest {
        let route = |signal: Signal| {
            ctx.consumer(signal).map(|consumer| {
                (
                    consumer.clone(),
                    ctx.telemetry
                        .receiver(&ctx.id.to_string(), transport, signal),
                )
            })
        };
        Ingest {
            routes: Signal::ALL.map(route),
        }
    }

    /// Whether some pipeline takes `signal`.
    pub(super) fn serves(&self, signal: Signal) -> bool {
        self.routes[signal as usize].is_some()
    }

    /// Validates and hands on an encoded export request; returns the number of items taken.
    pub(super) fn ingest(&self, signal: Signal, payload: Bytes) -> Result<usize, IngestError> {
        let Some((consumer, metrics)) = &self.routes[signal as usize] else {
            return Err(IngestError::NotServed);
        };
        let items = pipeline::validate(signal, &payload)
            .map_err(|err| IngestError::Invalid(format!("malformed {signal} request: {err}")))?;
        if items == 0 {
            return Ok(0);
        }
        match consumer.try_send(Batch::new(signal, payload, items)) {
            Ok(()) => {
                metrics.accepted.inc_by(items as u64);
                Ok(items)
            }
            Err(refused) => {
                metrics.refused.inc_by(items as u64);
                Err(if refused.is_closed() {
                    IngestError::Closed
                } else {
                    IngestError::Full
                })
            }
        }
    }
}
