//! The cap on requests in flight over both protocols of one OTLP receiver
//! (`limits: max_concurrent_requests`), and the eviction of stalled uploads that keeps it from
//! being held by clients that send nothing.
//!
//! A request holds a [`Call`] from its headers to its response. When the cap is reached, a new
//! request ends the call that has gone longest without a body byte, if that is over
//! [`STALLED_AFTER`]: slowloris clients can fill the cap, but not keep it from clients that
//! send. Only calls reading their body can be ended; a call whose body is in (validating,
//! waiting for the pipelines or a persistent queue) is never a victim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A call whose body has sent nothing for longer than this may be ended to make room.
pub(super) const STALLED_AFTER: Duration = Duration::from_secs(1);

/// `last_byte` of a call that is not reading its body.
const NOT_READING: u64 = u64::MAX;

/// The requests in flight of one receiver instance (cheap to clone: one shared count).
#[derive(Clone)]
pub(super) struct InFlight {
    inner: Arc<Inner>,
}

struct Inner {
    limit: usize,
    epoch: Instant,
    next_id: AtomicU64,
    calls: Mutex<HashMap<u64, Arc<CallState>>>,
}

struct CallState {
    /// Milliseconds since `epoch` of the last body byte (or of the read's start), or
    /// `NOT_READING`.
    last_byte: AtomicU64,
    /// Cancelled when the call is ended to make room for another.
    ended: CancellationToken,
}

/// One admitted request; dropping it gives its place back.
pub(super) struct Call {
    id: u64,
    state: Arc<CallState>,
    inner: Arc<Inner>,
}

/// Why [`InFlight::admit`] refused a request.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OverLimit {
    /// The configured cap.
    pub(super) limit: usize,
}

// === impl InFlight ===

impl InFlight {
    /// At most `limit` requests in flight at once.
    pub(super) fn new(limit: usize) -> InFlight {
        InFlight {
            inner: Arc::new(Inner {
                limit,
                epoch: Instant::now(),
                next_id: AtomicU64::new(0),
                calls: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Admits a request, ending a stalled call when the cap is reached; refuses it when none is
    /// stalled.
    pub(super) fn admit(&self) -> Result<Call, OverLimit> {
        let inner = &self.inner;
        let mut calls = lock(&inner.calls);
        if calls.len() >= inner.limit {
            let now = inner.now_ms();
            let stalled = STALLED_AFTER.as_millis() as u64;
            let victim = calls
                .iter()
                .map(|(id, call)| (*id, call.last_byte.load(Ordering::Relaxed)))
                .filter(|(_, last)| *last != NOT_READING && now.saturating_sub(*last) > stalled)
                .min_by_key(|(_, last)| *last)
                .map(|(id, _)| id);
            let Some(victim) = victim.and_then(|id| calls.remove(&id)) else {
                return Err(OverLimit { limit: inner.limit });
            };
            victim.ended.cancel();
        }
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(CallState {
            last_byte: AtomicU64::new(NOT_READING),
            ended: CancellationToken::new(),
        });
        calls.insert(id, Arc::clone(&state));
        drop(calls);
        Ok(Call {
            id,
            state,
            inner: Arc::clone(inner),
        })
    }

    /// Requests in flight now.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.inner.calls).len()
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        // Never NOT_READING: that would take 584 million years.
        self.epoch.elapsed().as_millis() as u64
    }
}

// === impl Call ===

impl Call {
    /// The body is being read and a byte (or the read's start) just came: the call is not
    /// stalled for another [`STALLED_AFTER`].
    pub(super) fn progress(&self) {
        self.state
            .last_byte
            .store(self.inner.now_ms(), Ordering::Relaxed);
    }

    /// The body is in: from now on the call is never ended to make room.
    pub(super) fn done_reading(&self) {
        self.state.last_byte.store(NOT_READING, Ordering::Relaxed);
    }

    /// Resolves when the call was ended to make room for another.
    pub(super) async fn ended(&self) {
        self.state.ended.cancelled().await;
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let mut calls = lock(&self.inner.calls);
        // An ended call was already removed, and its id is never reused.
        calls.remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain inserts and removes: a panic cannot leave the map inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
// In a test a failed unwrap is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_cap_refuses_the_one_over_and_dropping_gives_room_back() {
        let in_flight = InFlight::new(2);
        let a = in_flight.admit().unwrap();
        let b = in_flight.admit().unwrap();
        assert_eq!(in_flight.admit().err(), Some(OverLimit { limit: 2 }));
        assert_eq!(in_flight.len(), 2);
        drop(a);
        let c = in_flight.admit().unwrap();
        assert_eq!(in_flight.len(), 2);
        drop((b, c));
        assert_eq!(in_flight.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_stalled_in_its_body_is_ended_for_a_new_one() {
        let in_flight = InFlight::new(2);
        let stalled = in_flight.admit().unwrap();
        let sending = in_flight.admit().unwrap();
        stalled.progress();
        sending.progress();
        // Nobody stalled long enough yet.
        tokio::time::advance(STALLED_AFTER).await;
        sending.progress();
        assert!(in_flight.admit().is_err());
        tokio::time::advance(Duration::from_millis(10)).await;
        // `stalled` has sent nothing for over STALLED_AFTER; `sending` just did.
        let newcomer = in_flight.admit().unwrap();
        tokio::time::timeout(Duration::ZERO, stalled.ended())
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::ZERO, sending.ended())
                .await
                .is_err()
        );
        assert_eq!(in_flight.len(), 2);
        // The ended call's drop does not free the newcomer's place.
        drop(stalled);
        assert_eq!(in_flight.len(), 2);
        assert!(in_flight.admit().is_err());
        drop(newcomer);
        assert_eq!(in_flight.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_past_their_body_are_never_ended() {
        let in_flight = InFlight::new(2);
        let waiting = in_flight.admit().unwrap();
        let before_body = in_flight.admit().unwrap();
        waiting.progress();
        waiting.done_reading();
        tokio::time::advance(STALLED_AFTER * 10).await;
        // One is waiting for the pipelines, the other has not started reading: neither is a
        // stalled upload.
        assert!(in_flight.admit().is_err());
        drop((waiting, before_body));
    }
}
