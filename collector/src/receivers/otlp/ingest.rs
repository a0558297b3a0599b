//! The step both transports share: check a request, count it, hand it to the pipelines.

use bytes::Bytes;

use super::salvage;
use crate::core::{self, Batch, Consumer, Signal};
use crate::receivers::ReceiverContext;
use crate::telemetry::ReceiverMetrics;

/// Where one transport of the receiver hands each signal.
#[derive(Clone)]
pub(super) struct Ingest {
    routes: [Option<(Consumer, ReceiverMetrics)>; 3],
}

/// A request that was taken, possibly only in part.
pub(super) struct Accepted {
    /// Items rejected (and why), to report as an OTLP partial success.
    pub(super) rejected: Option<(i64, String)>,
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
        self.routes
            .get(signal as usize)
            .is_some_and(Option::is_some)
    }

    /// Validates and hands on an encoded export request. Items with wrong-length ids are
    /// dropped and reported back (partial success); any other fault rejects the request.
    pub(super) fn ingest(&self, signal: Signal, payload: Bytes) -> Result<Accepted, IngestError> {
        let Some((consumer, metrics)) = self.routes.get(signal as usize).and_then(Option::as_ref)
        else {
            return Err(IngestError::NotServed);
        };
        let invalid = |err: &dyn std::fmt::Display| {
            IngestError::Invalid(format!("malformed {signal} request: {err}"))
        };
        let (payload, items, rejected) = match core::validate(signal, &payload) {
            Ok(items) => (payload, items, None),
            Err(err) if err.is_semantic() => {
                let salvaged = salvage::salvage(signal, &payload).ok_or_else(|| invalid(&err))?;
                let items = core::validate(signal, &salvaged.payload).map_err(|e| invalid(&e))?;
                metrics.refused.inc_by(salvaged.rejected as u64);
                (
                    salvaged.payload,
                    items,
                    Some((salvaged.rejected, salvaged.message)),
                )
            }
            Err(err) => return Err(invalid(&err)),
        };
        if items == 0 {
            return Ok(Accepted { rejected });
        }
        match consumer.try_send(Batch::new(signal, payload, items)) {
            Ok(()) => {
                metrics.accepted.inc_by(items as u64);
                Ok(Accepted { rejected })
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
