//! Memory held by telemetry in flight, accounted in bytes.
//!
//! A receiver reserves room in the process-wide [`MemoryBudget`] before it buffers a request
//! body, and the [`Reservation`] then travels with the data as part of the batch's [`Hold`]
//! (next to its acknowledgements): merged by the batch processor, shared by fan-out copies,
//! released when the last copy of the data is dropped — after every exporter is done with it.
//! Exporter queues bounded in bytes put their own claims in the same [`Hold`].
//!
//! Two limits: a new request is admitted while the bytes accounted stay under the *soft* limit
//! (else the receiver refuses it with a retryable status, so the client's queue holds it); a
//! request already admitted may grow (a body still streaming in, decompression) up to the
//! *hard* limit. Above the hard limit — or while the `memory_limiter` processor measures the
//! process above it — everything is refused.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit};

/// No limit.
const UNLIMITED: u64 = u64::MAX;

/// The soft limit of a collector whose pipelines have no `memory_limiter`: with the exporters'
/// default queues (16 MiB each) it keeps the default configuration within a few hundred MiB
/// whatever the load.
pub(crate) const DEFAULT_SOFT_LIMIT: u64 = 192 << 20;

/// The hard limit of a collector whose pipelines have no `memory_limiter`.
pub(crate) const DEFAULT_HARD_LIMIT: u64 = 256 << 20;

/// How long a waiting [`MemoryBudget::reserve`] sleeps between checks when no release wakes it
/// (the limiter's measured state changes without a release).
const RECHECK: Duration = Duration::from_millis(100);

/// The process-wide budget of bytes in flight. Cheap to clone; clones share one account.
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    used: AtomicU64,
    soft: AtomicU64,
    hard: AtomicU64,
    /// Set by the memory limiter while the measured process memory is over the hard limit.
    refuse_all: AtomicBool,
    /// Whether a memory limiter set the limits (later ones can only tighten them).
    limited: AtomicBool,
    released: Notify,
}

/// Why room was not given. Every case is temporary: the client should retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    /// Admitting the request would take the bytes in flight over the soft limit.
    #[error("memory budget exhausted (soft limit); retry later")]
    Soft,
    /// Over the hard limit (accounted, or measured by the memory limiter): everything is refused.
    #[error("memory limit exceeded (hard limit); retry later")]
    Hard,
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("used", &self.used())
            .field("soft", &self.inner.soft.load(Ordering::Relaxed))
            .field("hard", &self.inner.hard.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::unlimited()
    }
}

impl MemoryBudget {
    /// A budget that only counts.
    pub(crate) fn unlimited() -> MemoryBudget {
        MemoryBudget::with_limits(UNLIMITED, UNLIMITED)
    }

    /// A budget admitting new data up to `soft` bytes in flight and growth up to `hard`.
    pub(crate) fn with_limits(soft: u64, hard: u64) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::new(Inner {
                used: AtomicU64::new(0),
                soft: AtomicU64::new(soft.min(hard)),
                hard: AtomicU64::new(hard),
                refuse_all: AtomicBool::new(false),
                limited: AtomicBool::new(false),
                released: Notify::new(),
            }),
        }
    }

    /// Sets the limits (the memory limiter does so while the pipelines are built).
    pub(crate) fn set_limits(&self, soft: u64, hard: u64) {
        self.inner.hard.store(hard, Ordering::Relaxed);
        self.inner.soft.store(soft.min(hard), Ordering::Relaxed);
        self.inner.released.notify_waiters();
    }

    /// The limits a `memory_limiter` asks for. The first one replaces the defaults; with
    /// several, the tightest limits hold (there is one process to protect).
    pub(crate) fn apply_limiter(&self, soft: u64, hard: u64) {
        if self.inner.limited.swap(true, Ordering::AcqRel) {
            let (s, h) = self.limits();
            self.set_limits(soft.min(s), hard.min(h));
        } else {
            self.set_limits(soft, hard);
        }
    }

    /// The limits in force: (soft, hard); `u64::MAX` is no limit.
    pub(crate) fn limits(&self) -> (u64, u64) {
        (
            self.inner.soft.load(Ordering::Relaxed),
            self.inner.hard.load(Ordering::Relaxed),
        )
    }

    /// Bytes accounted right now.
    pub(crate) fn used(&self) -> u64 {
        self.inner.used.load(Ordering::Acquire)
    }

    /// Refuse everything (`true`) or go back to the limits (`false`): the memory limiter's
    /// verdict on the measured process memory.
    pub(crate) fn set_refuse_all(&self, refuse: bool) {
        let was = self.inner.refuse_all.swap(refuse, Ordering::AcqRel);
        if was && !refuse {
            self.inner.released.notify_waiters();
        }
    }

    /// Whether the memory limiter currently refuses everything.
    pub(crate) fn refusing_all(&self) -> bool {
        self.inner.refuse_all.load(Ordering::Acquire)
    }

    /// Room for `bytes` of new data, if it fits under the soft limit. When nothing at all is
    /// in flight a request is admitted whatever its size, so a limit smaller than one request
    /// slows data down but never wedges it.
    pub(crate) fn try_reserve(&self, bytes: u64) -> Result<Reservation, OverBudget> {
        if self.refusing_all() {
            return Err(OverBudget::Hard);
        }
        let soft = self.inner.soft.load(Ordering::Relaxed);
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let after = used.saturating_add(bytes);
                (used == 0 || after <= soft).then_some(after)
            })
            .map_err(|used| {
                if used >= self.inner.hard.load(Ordering::Relaxed) {
                    OverBudget::Hard
                } else {
                    OverBudget::Soft
                }
            })?;
        Ok(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// Room for `bytes`, waiting for it: for receivers that pull their data and can pause
    /// (filelog, scrapers).
    pub async fn reserve(&self, bytes: u64) -> Reservation {
        loop {
            let released = self.inner.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Ok(reservation) = self.try_reserve(bytes) {
                return reservation;
            }
            let _ = tokio::time::timeout(RECHECK, released).await;
        }
    }

    fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.inner.used.fetch_sub(bytes, Ordering::AcqRel);
        self.inner.released.notify_waiters();
    }
}

// === impl Reservation ===

/// Bytes reserved in a [`MemoryBudget`], given back when dropped.
pub struct Reservation {
    budget: MemoryBudget,
    bytes: u64,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Reservation {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grows the reservation to hold `bytes` in all (it never shrinks here): allowed while the
    /// budget stays under its hard limit, since the request was already admitted.
    pub(crate) fn try_grow_to(&mut self, bytes: u64) -> Result<(), OverBudget> {
        let extra = bytes.saturating_sub(self.bytes);
        if extra == 0 {
            return Ok(());
        }
        let inner = &self.budget.inner;
        if inner.refuse_all.load(Ordering::Acquire) {
            return Err(OverBudget::Hard);
        }
        let hard = inner.hard.load(Ordering::Relaxed);
        inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let after = used.saturating_add(extra);
                (after <= hard).then_some(after)
            })
            .map_err(|_| OverBudget::Hard)?;
        self.bytes = bytes;
        Ok(())
    }

    /// Shrinks the reservation to `bytes` (a body that turned out smaller than announced, a
    /// compressed buffer freed after decompression).
    pub(crate) fn shrink_to(&mut self, bytes: u64) {
        if bytes < self.bytes {
            self.budget.release(self.bytes - bytes);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

// === impl Hold ===

/// What a batch holds room in: the memory budget its receiver reserved, and the byte-bounded
/// queues of the exporters it sits in. Shared by every fan-out copy and piece of the data;
/// each claim is given back when the last holder is dropped.
#[derive(Debug, Default, Clone)]
pub struct Hold {
    claims: Vec<Arc<Claim>>,
}

#[derive(Debug)]
enum Claim {
    Budget(#[allow(dead_code)] Reservation),
    Queue(#[allow(dead_code)] OwnedSemaphorePermit),
}

impl Hold {
    /// A hold on a budget reservation.
    pub(crate) fn reserved(reservation: Reservation) -> Hold {
        Hold {
            claims: vec![Arc::new(Claim::Budget(reservation))],
        }
    }

    /// Whether room in the memory budget is held.
    pub(crate) fn is_reserved(&self) -> bool {
        self.claims.iter().any(|c| matches!(**c, Claim::Budget(_)))
    }

    /// Adds a budget reservation.
    pub(crate) fn push_reservation(&mut self, reservation: Reservation) {
        self.claims.push(Arc::new(Claim::Budget(reservation)));
    }

    /// Adds room in an exporter's queue (held until that exporter is done with the data).
    pub(crate) fn push_queue_permit(&mut self, permit: OwnedSemaphorePermit) {
        self.claims.push(Arc::new(Claim::Queue(permit)));
    }

    /// Takes over every claim of `other` (batches merged into one).
    pub(crate) fn extend(&mut self, other: Hold) {
        self.claims.extend(other.claims);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_under_the_soft_limit_and_refuses_over_it() {
        let budget = MemoryBudget::with_limits(100, 150);
        let a = budget.try_reserve(60).unwrap();
        assert_eq!(budget.try_reserve(41).unwrap_err(), OverBudget::Soft);
        let b = budget.try_reserve(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn an_empty_budget_admits_one_request_larger_than_the_limit() {
        let budget = MemoryBudget::with_limits(10, 20);
        let big = budget.try_reserve(1_000).unwrap();
        assert_eq!(budget.try_reserve(1).unwrap_err(), OverBudget::Hard);
        drop(big);
        assert!(budget.try_reserve(1).is_ok());
    }

    #[test]
    fn admitted_requests_grow_to_the_hard_limit_only() {
        let budget = MemoryBudget::with_limits(100, 150);
        let mut r = budget.try_reserve(50).unwrap();
        let other = budget.try_reserve(50).unwrap();
        r.try_grow_to(100).unwrap();
        assert_eq!(budget.used(), 150);
        assert_eq!(r.try_grow_to(101).unwrap_err(), OverBudget::Hard);
        assert_eq!(
            r.bytes(),
            100,
            "a refused growth leaves the reservation as it was"
        );
        r.shrink_to(10);
        assert_eq!(budget.used(), 60);
        drop((r, other));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn refusing_all_refuses_even_small_requests_and_growth() {
        let budget = MemoryBudget::with_limits(100, 150);
        let mut r = budget.try_reserve(10).unwrap();
        budget.set_refuse_all(true);
        assert_eq!(budget.try_reserve(1).unwrap_err(), OverBudget::Hard);
        assert_eq!(r.try_grow_to(11).unwrap_err(), OverBudget::Hard);
        budget.set_refuse_all(false);
        assert!(budget.try_reserve(1).is_ok());
    }

    #[test]
    fn the_first_limiter_replaces_the_defaults_and_later_ones_only_tighten() {
        let budget = MemoryBudget::with_limits(DEFAULT_SOFT_LIMIT, DEFAULT_HARD_LIMIT);
        budget.apply_limiter(800 << 20, 1000 << 20);
        assert_eq!(budget.limits(), (800 << 20, 1000 << 20));
        budget.apply_limiter(900 << 20, 500 << 20);
        assert_eq!(budget.limits(), (500 << 20, 500 << 20));
    }

    #[test]
    fn a_hold_releases_when_the_last_copy_is_dropped() {
        let budget = MemoryBudget::unlimited();
        let hold = Hold::reserved(budget.try_reserve(64).unwrap());
        let copy = hold.clone();
        let mut merged = Hold::default();
        merged.extend(copy);
        assert!(merged.is_reserved());
        drop(hold);
        assert_eq!(budget.used(), 64, "the merged copy still holds the bytes");
        drop(merged);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn a_waiting_reserve_resumes_when_room_is_released() {
        let budget = MemoryBudget::with_limits(100, 100);
        let first = budget.try_reserve(80).unwrap();
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(50).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        assert_eq!(waiter.await.unwrap(), 50);
    }
}
