//! The step both transports share: check a request, count it, hand it to the pipelines.

use bytes::Bytes;

use super::salvage;
use crate::core::{self, Ack, Batch, Consumer, MemoryBudget, OverBudget, Reservation, Signal};
use crate::receivers::ReceiverContext;
use crate::telemetry::ReceiverMetrics;

/// Where one transport of the receiver hands each signal.
#[derive(Clone)]
pub(super) struct Ingest {
    routes: [Option<(Consumer, ReceiverMetrics)>; 3],
    budget: MemoryBudget,
    limits: lookout_proto::Limits,
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
    /// A persistent sending queue did not take the data (full, or a write failed): retry later.
    NotQueued,
    /// Over the memory budget: retry later.
    OverBudget(OverBudget),
    /// Shutting down: retry elsewhere or later.
    Closed,
    /// No pipeline takes this signal from this receiver.
    NotServed,
}

impl Ingest {
    /// `limits` (nesting depth, attributes per element) are checked in the validation pass.
    pub(super) fn new(
        ctx: &ReceiverContext,
        transport: &str,
        limits: lookout_proto::Limits,
    ) -> Ingest {
        let route = |signal: Signal| {
            ctx.consumer(signal).map(|consumer| {
                (
                    consumer.clone(),
                    ctx.telemetry
                        .receiver(&ctx.id.to_string(), transport, signal),
                )
            })
        };
        let routes = Signal::ALL.map(route);
        // Every consumer of a collector holds the one process-wide budget.
        let budget = routes
            .iter()
            .flatten()
            .next()
            .map(|(consumer, _)| consumer.budget().clone())
            .unwrap_or_default();
        Ingest {
            routes,
            budget,
            limits,
        }
    }

    /// Counts a request of `signal` refused with a retryable status.
    pub(super) fn count_retryable_refusal(&self, signal: Signal) {
        if let Some((_, metrics)) = self.routes.get(signal as usize).and_then(Option::as_ref) {
            metrics.refused_requests.inc();
        }
    }

    /// The memory budget request bodies are read under.
    pub(super) fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Whether some pipeline takes `signal`.
    pub(super) fn serves(&self, signal: Signal) -> bool {
        self.routes
            .get(signal as usize)
            .is_some_and(Option::is_some)
    }

    /// Validates and hands on an encoded export request, with the room it holds in the memory
    /// budget. Items with wrong-length ids are dropped and reported back (partial success); any
    /// other fault rejects the request.
    ///
    /// When the pipelines end in a persistent sending queue, this returns only once the data
    /// is written there (the batch's acknowledgement resolved), so the client's success means
    /// the data survives a crash.
    pub(super) async fn ingest(
        &self,
        signal: Signal,
        payload: Bytes,
        mut reservation: Reservation,
    ) -> Result<Accepted, IngestError> {
        let Some((consumer, metrics)) = self.routes.get(signal as usize).and_then(Option::as_ref)
        else {
            return Err(IngestError::NotServed);
        };
        let invalid = |err: &dyn std::fmt::Display| {
            IngestError::Invalid(format!("malformed {signal} request: {err}"))
        };
        let (payload, items, rejected) = match core::validate_with(signal, &payload, &self.limits) {
            Ok(items) => (payload, items, None),
            Err(err) if err.is_semantic() => {
                let salvaged = salvage::salvage(signal, &payload).ok_or_else(|| invalid(&err))?;
                let items = core::validate_with(signal, &salvaged.payload, &self.limits)
                    .map_err(|e| invalid(&e))?;
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
        reservation.shrink_to(payload.len() as u64);
        if let Err(over) = reservation.try_grow_to(payload.len() as u64) {
            metrics.refused.inc_by(items as u64);
            return Err(IngestError::OverBudget(over));
        }
        let mut batch = Batch::new(signal, payload, items);
        batch.hold.push_reservation(reservation);
        let delivery = consumer.waits_for_queues().then(|| {
            let (ack, delivery) = Ack::new();
            batch.acks.push(ack);
            delivery
        });
        match consumer.try_send(batch) {
            Ok(()) => {
                if let Some(delivery) = delivery
                    && !delivery.outcome().await
                {
                    metrics.refused.inc_by(items as u64);
                    return Err(IngestError::NotQueued);
                }
                metrics.accepted.inc_by(items as u64);
                Ok(Accepted { rejected })
            }
            Err(refused) => {
                metrics.refused.inc_by(items as u64);
                Err(if refused.is_closed() {
                    IngestError::Closed
                } else if let Some(over) = refused.over_budget() {
                    IngestError::OverBudget(over)
                } else {
                    IngestError::Full
                })
            }
        }
    }
}
