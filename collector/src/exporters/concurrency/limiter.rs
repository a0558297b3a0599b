//! The permits behind a [`Controller`]'s limit: a semaphore that can shrink while its permits
//! are out, and the self-metrics of the limit and of the requests in flight.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{Controller, Feedback};

/// An exporter's limit on requests in flight. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Limiter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// One permit per request the limit allows, less those forgotten as it shrank.
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
    limit_gauge: Gauge,
    in_flight_gauge: Gauge,
}

#[derive(Debug)]
struct State {
    controller: Controller,
    in_flight: usize,
    /// Permits to forget as they come back: the limit shrank while they were out.
    debt: usize,
}

/// A reserved slot: acquired before a sender takes a batch, counted in flight from
/// [`Permit::begin`] until it is finished or dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
    started: Option<Instant>,
    /// Requests in flight when this one began, itself included.
    concurrency: usize,
}

// === impl Limiter ===

impl Limiter {
    /// A limiter run by `controller`, reporting to the two gauges.
    pub(crate) fn new(
        controller: Controller,
        limit_gauge: Gauge,
        in_flight_gauge: Gauge,
    ) -> Limiter {
        let limit = controller.limit();
        limit_gauge.set(gauge_value(limit));
        in_flight_gauge.set(0);
        Limiter {
            shared: Arc::new(Shared {
                semaphore: Arc::new(Semaphore::new(limit)),
                state: Mutex::new(State {
                    controller,
                    in_flight: 0,
                    debt: 0,
                }),
                limit_gauge,
                in_flight_gauge,
            }),
        }
    }

    /// How many senders can use the limit at its largest.
    pub(crate) fn max(&self) -> usize {
        self.shared.state().controller.max()
    }

    /// The current limit.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.shared.state().controller.limit()
    }

    /// Requests in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.shared.state().in_flight
    }

    /// Waits for a slot under the limit.
    pub(crate) async fn acquire(&self) -> Permit {
        // The semaphore is never closed, so this only fails in theory; a permit without a
        // semaphore permit behind it still reports its request.
        let permit = Arc::clone(&self.shared.semaphore)
            .acquire_owned()
            .await
            .ok();
        Permit {
            shared: Arc::clone(&self.shared),
            permit,
            started: None,
            concurrency: 0,
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent before anything that could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// === impl Permit ===

impl Permit {
    /// The request starts now.
    pub(crate) fn begin(&mut self) {
        if self.started.is_some() {
            return;
        }
        self.started = Some(Instant::now());
        let mut state = self.shared.state();
        state.in_flight += 1;
        let in_flight = state.in_flight;
        self.concurrency = in_flight;
        state.controller.started(in_flight);
        self.shared.in_flight_gauge.set(gauge_value(in_flight));
    }

    /// The request ended with `feedback`: the controller learns from it, and the slot is
    /// given back (or forgotten, if the limit shrank meanwhile).
    pub(crate) fn finish(mut self, feedback: Feedback) {
        self.release(Some(feedback));
    }

    fn release(&mut self, feedback: Option<Feedback>) {
        let permit = self.permit.take();
        let started = self.started.take();
        let mut state = self.shared.state();
        if started.is_some() {
            state.in_flight = state.in_flight.saturating_sub(1);
            self.shared
                .in_flight_gauge
                .set(gauge_value(state.in_flight));
        }
        if let (Some(started), Some(feedback)) = (started, feedback) {
            let now = Instant::now();
            let before = state.controller.limit();
            let after = state
                .controller
                .finished(now, now - started, self.concurrency, feedback);
            if after > before {
                let grow = after - before;
                let repaid = grow.min(state.debt);
                state.debt -= repaid;
                self.shared.semaphore.add_permits(grow - repaid);
            } else if after < before {
                let shrink = before - after;
                let forgotten = self.shared.semaphore.forget_permits(shrink);
                state.debt += shrink - forgotten;
            }
            if after != before {
                self.shared.limit_gauge.set(gauge_value(after));
                tracing::debug!(
                    limit = after,
                    baseline_rtt = ?state.controller.baseline(),
                    ?feedback,
                    "concurrency limit changed"
                );
            }
        }
        if let Some(permit) = permit
            && state.debt > 0
        {
            state.debt -= 1;
            permit.forget();
        }
    }
}

impl Drop for Permit {
    /// A slot given back without a report (shutdown, a sender that never sent).
    fn drop(&mut self) {
        if self.permit.is_some() || self.started.is_some() {
            self.release(None);
        }
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::shared::AdaptiveConcurrencyConfig;

    fn limiter(initial: usize, ratio: f64) -> (Limiter, Gauge, Gauge) {
        let (limit, in_flight) = (Gauge::default(), Gauge::default());
        let settings = AdaptiveConcurrencyConfig {
            initial,
            max: 8,
            decrease_ratio: ratio,
            ..AdaptiveConcurrencyConfig::default()
        };
        let controller = Controller::adaptive(settings, Instant::now());
        let limiter = Limiter::new(controller, limit.clone(), in_flight.clone());
        (limiter, limit, in_flight)
    }

    /// Whether a permit is free right now.
    async fn free(limiter: &Limiter) -> bool {
        tokio::time::timeout(Duration::ZERO, limiter.acquire())
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn permits_follow_the_limit_and_the_gauges_follow_both() {
        let (limiter, limit, in_flight) = limiter(2, 0.5);
        assert_eq!(limit.get(), 2);
        let mut a = limiter.acquire().await;
        let mut b = limiter.acquire().await;
        assert!(!free(&limiter).await, "the limit is 2");
        a.begin();
        b.begin();
        assert_eq!(in_flight.get(), 2);
        tokio::time::advance(Duration::from_millis(10)).await;
        // The first response sets the baseline (10 ms) and a window as long.
        a.finish(Feedback::Accepted);
        assert_eq!(in_flight.get(), 1);
        b.finish(Feedback::Accepted);
        let mut c = limiter.acquire().await;
        let mut d = limiter.acquire().await;
        c.begin();
        d.begin();
        tokio::time::advance(Duration::from_millis(10)).await;
        // The window ends: responses at the baseline with the limit in use grow it (doubling
        // while in slow start).
        c.finish(Feedback::Accepted);
        assert_eq!((limiter.limit(), limit.get()), (4, 4));
        d.finish(Feedback::Accepted);
        assert_eq!(limiter.in_flight(), 0);
        let _held: Vec<Permit> = vec![
            limiter.acquire().await,
            limiter.acquire().await,
            limiter.acquire().await,
            limiter.acquire().await,
        ];
        assert!(!free(&limiter).await, "the limit is 4");
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_that_shrinks_while_permits_are_out_forgets_them_as_they_come_back() {
        let (limiter, limit, _) = limiter(4, 0.5);
        let mut permits = Vec::new();
        for _ in 0..4 {
            let mut p = limiter.acquire().await;
            p.begin();
            permits.push(p);
        }
        tokio::time::advance(Duration::from_millis(10)).await;
        let mut permits = permits.into_iter();
        // The first sets the baseline, the second comes back after a window of back-pressure.
        permits.next().unwrap().finish(Feedback::Accepted);
        tokio::time::advance(Duration::from_millis(10)).await;
        permits.next().unwrap().finish(Feedback::BackPressure);
        assert_eq!((limiter.limit(), limit.get()), (2, 2));
        // Two out, two returned: two of the returned ones were forgotten, so nothing is free.
        assert!(!free(&limiter).await);
        drop(permits);
        assert!(free(&limiter).await);
        let _a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        assert!(!free(&limiter).await, "the limit is 2 now");
        assert_eq!(limiter.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_not_begun_is_not_in_flight() {
        let (limiter, _, in_flight) = limiter(1, 0.5);
        let p = limiter.acquire().await;
        assert_eq!((limiter.in_flight(), in_flight.get()), (0, 0));
        drop(p);
        assert!(free(&limiter).await);
    }
}
