//! `exporters: loadbalancing:` — routes each trace (its spans and its log records) to one of
//! several OTLP backends by consistent hashing, as the contrib `loadbalancingexporter` does for
//! an agent tier in front of a gateway tier.
//!
//! * [`route`] cuts each request into one piece per backend on the wire (a request that goes
//!   whole to one backend is forwarded as is); [`ring`] is the consistent-hash ring.
//! * [`backends`] keeps one `otlp` exporter per backend, each behind its own sending queue
//!   and retry, builds the ring over those that are up, and runs the resolver (`static` or
//!   `dns`) and the probes; [`health`] decides when a backend is off the ring.
//! * [`LoadBalancer::export`] hands the pieces to the backends' queues, each with its own
//!   acknowledgement, and returns once every piece is delivered: the batch's own
//!   acknowledgements (and the receiver's, with a persistent queue upstream) settle only then.
//!   A piece that fails (the backend's retries ran out, or it went off the ring while holding
//!   the piece) is routed again over the ring without that backend; nothing is given up
//!   before `protocol.otlp.retry_on_failure.max_elapsed_time` (0: never; with retries
//!   disabled, `backend_down_after` + 1s).

mod backends;
mod config;
mod factory;
mod health;
mod ring;
mod route;

pub(crate) use factory::Factory;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use prometheus_client::metrics::counter::Counter;
use tokio_util::sync::CancellationToken;

use self::backends::Backends;
use self::config::{LoadBalancingConfig, RoutingKey};
use super::{Export, ExportError};
use crate::core::{Ack, Batch};
use crate::pipeline::output::enqueue;
use crate::telemetry::Telemetry;

/// How long an export waits before trying again when no backend is on the ring.
const NO_BACKEND_WAIT: Duration = Duration::from_millis(200);
/// The pause before routing failed pieces again (a backend failing at once is not hammered).
const REROUTE_WAIT: Duration = Duration::from_millis(20);

/// The exporter.
pub(crate) struct LoadBalancer {
    id: String,
    key: RoutingKey,
    backends: Arc<Backends>,
    /// Give up a batch after this long (`None`: never).
    give_up_after: Option<Duration>,
    /// `lookout_loadbalancer_rerouted_items_total`.
    rerouted: Counter,
    /// Stops the background task and the backends' retries when the exporter is dropped.
    stop: CancellationToken,
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A part of a batch still to deliver, and the backends that already failed it.
struct Pending {
    payload: Bytes,
    items: usize,
    failed_on: Vec<String>,
}

impl LoadBalancer {
    /// Starts the backends of `config` and the background task (resolver, health, probes),
    /// which stops when the exporter is dropped or `shutdown` fires.
    pub(crate) fn start(
        config: &LoadBalancingConfig,
        id: String,
        telemetry: &Telemetry,
        shutdown: CancellationToken,
    ) -> LoadBalancer {
        let stop = CancellationToken::new();
        let backends = Arc::new(Backends::new(
            id.clone(),
            config.clone(),
            telemetry.clone(),
            stop.clone(),
        ));
        if let Some(s) = &config.resolver.static_ {
            backends.set(s.hostnames.clone());
        }
        let task_stop = stop.clone();
        let task = Arc::clone(&backends).run(config.resolver.dns.clone(), task_stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                () = shutdown.cancelled() => task_stop.cancel(),
            }
        });
        // A batch is given up no earlier than a backend can leave the ring (so that its pieces
        // get routed to the others once); with retries disabled, no later either.
        let retry = &config.protocol.otlp.retry_on_failure;
        let floor = config.backend_down_after + Duration::from_secs(1);
        let give_up_after = if !retry.enabled {
            Some(floor)
        } else if retry.max_elapsed_time.is_zero() {
            None
        } else {
            Some(retry.max_elapsed_time.max(floor))
        };
        LoadBalancer {
            rerouted: telemetry.counter(
                "loadbalancer_rerouted_items",
                "Items a loadbalancing exporter routed again after a backend failed them.",
                vec![("exporter", id.clone())],
            ),
            id,
            key: config.routing_key,
            backends,
            give_up_after,
            stop,
        }
    }

    async fn deliver(&self, batch: &Batch) -> Result<(), ExportError> {
        let started = Instant::now();
        let mut warned = false;
        let mut pending = vec![Pending {
            payload: batch.payload.clone(),
            items: batch.items,
            failed_on: Vec::new(),
        }];
        loop {
            let members = self.backends.members();
            let mut sends = FuturesUnordered::new();
            let mut again = Vec::new();
            for mut part in pending.drain(..) {
                let mut ring = Cow::Borrowed(&members.ring);
                if !part.failed_on.is_empty() {
                    let without =
                        ring.without(|i| part.failed_on.contains(&members.list[i].endpoint));
                    if without.is_empty() {
                        // Every backend up has failed it once: start over with all of them.
                        part.failed_on.clear();
                    } else {
                        ring = Cow::Owned(without);
                    }
                }
                if ring.is_empty() {
                    again.push(part);
                    continue;
                }
                let pieces = route::route(batch.signal, self.key, &part.payload, part.items, |h| {
                    ring.member(h).unwrap_or(0)
                })
                .map_err(|e| ExportError::permanent(format!("unroutable request: {e}")))?;
                for piece in pieces {
                    let backend = Arc::clone(&members.list[piece.backend]);
                    let (ack, delivery) = Ack::new();
                    let mut sub =
                        Batch::new(batch.signal, piece.payload.clone(), piece.items).with_ack(ack);
                    sub.hold = batch.hold.clone();
                    enqueue(&backend.input, sub).await;
                    let failed_on = part.failed_on.clone();
                    sends.push(async move {
                        let delivered = delivery.outcome().await;
                        (delivered, backend, piece, failed_on)
                    });
                }
            }
            while let Some((delivered, backend, piece, mut failed_on)) = sends.next().await {
                backend.count(delivered);
                if !delivered {
                    self.rerouted.inc_by(piece.items as u64);
                    failed_on.push(backend.endpoint.clone());
                    again.push(Pending {
                        payload: piece.payload,
                        items: piece.items,
                        failed_on,
                    });
                }
            }
            if again.is_empty() {
                return Ok(());
            }
            let items: usize = again.iter().map(|p| p.items).sum();
            if self
                .give_up_after
                .is_some_and(|limit| started.elapsed() >= limit)
            {
                return Err(ExportError::permanent(format!(
                    "{items} items could not be delivered to any backend within retry_on_failure.max_elapsed_time"
                )));
            }
            let wait = if members.ring.is_empty() {
                if !warned {
                    warned = true;
                    tracing::warn!(exporter = %self.id, items, "loadbalancing: no backend is up; waiting");
                }
                NO_BACKEND_WAIT
            } else {
                REROUTE_WAIT
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.stop.cancelled() => {
                    return Err(ExportError::permanent("shutting down with data not delivered"));
                }
            }
            pending = again;
        }
    }
}

impl Export for LoadBalancer {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(self.deliver(batch))
    }
}

#[cfg(test)]
mod tests;
