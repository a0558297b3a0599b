//! Whether a backend is on the ring: its sends tell (a success clears a failure streak; a
//! streak of retryable failures as long as `backend_down_after` takes it off), and a probe
//! brings it back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;

use crate::core::Batch;
use crate::exporters::otlp::OtlpGrpcExporter;
use crate::exporters::{Export, ExportError};

/// One backend's health, shared by its exporter (which reports sends) and the load
/// balancer (which reads it when it builds the ring).
#[derive(Debug)]
pub(crate) struct Health {
    endpoint: String,
    down_after: Duration,
    /// Since when every send failed (`None`: the last one succeeded).
    failing_since: Mutex<Option<Instant>>,
    down: AtomicBool,
    /// Bumped on every change of any backend's state: the ring is rebuilt when it moved.
    generation: Arc<AtomicU64>,
    /// `lookout_loadbalancer_backend_down_total` for this backend.
    down_total: Counter,
}

impl Health {
    pub(crate) fn new(
        endpoint: String,
        down_after: Duration,
        generation: Arc<AtomicU64>,
        down_total: Counter,
    ) -> Health {
        Health {
            endpoint,
            down_after,
            failing_since: Mutex::new(None),
            down: AtomicBool::new(false),
            generation,
            down_total,
        }
    }

    /// Whether it is off the ring.
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A send (or a probe) succeeded: back on the ring if it was off.
    pub(crate) fn succeeded(&self) {
        *self
            .failing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        if self.down.swap(false, Ordering::AcqRel) {
            self.generation.fetch_add(1, Ordering::AcqRel);
            tracing::info!(backend = %self.endpoint, "loadbalancing: backend is back on the ring");
        }
    }

    /// A send failed in a way worth retrying; returns whether the backend is now off the ring.
    pub(crate) fn failed(&self) -> bool {
        let now = Instant::now();
        let since = *self
            .failing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(now);
        self.check(now, since)
    }

    /// Takes the backend off the ring if its failure streak is old enough (the load
    /// balancer's monitor calls it, so a backend no send reaches any more goes off too).
    pub(crate) fn check_streak(&self) {
        let since = *self
            .failing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = since {
            self.check(Instant::now(), since);
        }
    }

    fn check(&self, now: Instant, since: Instant) -> bool {
        if now.duration_since(since) >= self.down_after && !self.down.swap(true, Ordering::AcqRel) {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.down_total.inc();
            tracing::warn!(
                backend = %self.endpoint,
                failing_for = ?now.duration_since(since),
                "loadbalancing: backend taken off the ring; its share goes to the others"
            );
        }
        self.is_down()
    }
}

/// A backend's `otlp` exporter, reporting to its [`Health`]. While the backend is off the ring
/// its sends fail at once, without trying: the batches it still holds go back to the load
/// balancer, which routes them again over the backends left.
pub(crate) struct Tracked {
    pub(crate) inner: Arc<OtlpGrpcExporter>,
    pub(crate) health: Arc<Health>,
}

impl Export for Tracked {
    fn export<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            if self.health.is_down() {
                return Err(off_ring());
            }
            match self.inner.export(batch).await {
                Ok(()) => {
                    self.health.succeeded();
                    Ok(())
                }
                Err(e) if e.is_retryable() => {
                    if self.health.failed() {
                        Err(off_ring())
                    } else {
                        Err(e)
                    }
                }
                Err(e) => Err(e),
            }
        })
    }
}

fn off_ring() -> ExportError {
    ExportError::handed_back("backend is off the ring; the load balancer routes the data again")
}
