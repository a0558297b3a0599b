//! Driving one served connection to its end: it is shut down gracefully (in-flight requests
//! finish, HTTP/2 sends GOAWAY) when the server stops, or when no request has been in flight
//! on it for the idle timeout — so clients that connect and send nothing do not hold a
//! connection (and its buffers) forever.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Requests in flight on one connection, and when the last one ended.
#[derive(Debug)]
pub(super) struct Activity {
    base: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `base` when the last request ended (or the connection opened).
    last_ms: AtomicU64,
}

impl Activity {
    /// A connection that just opened.
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request in flight until the guard drops.
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// How long no request has been in flight; `None` while one is.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        Some(self.base.elapsed().saturating_sub(last))
    }
}

/// A request in flight (see [`Activity::begin`]).
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = u64::try_from(self.0.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_ms.store(now, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Longest a connection may take to finish after its graceful shutdown started (HTTP/2's
/// GOAWAY waits for the client to answer a PING, which a stalled client never does).
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Runs `conn` until it ends. `close` starts its graceful shutdown, called once: when
/// `shutdown` fires or when `activity` has been idle for `idle_timeout`. A connection still
/// open 10 s after the shutdown began — `min(idle_timeout, 10 s)` after an idle close — is
/// dropped (its socket closed).
pub(super) async fn drive<C, E>(
    conn: C,
    close: impl Fn(Pin<&mut C>),
    shutdown: CancellationToken,
    activity: Arc<Activity>,
    idle_timeout: Duration,
) where
    C: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut conn = std::pin::pin!(conn);
    let tick = (idle_timeout / 4).max(Duration::from_millis(10));
    let grace = idle_timeout.min(CLOSE_GRACE);
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(err) = ended {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if closing.is_none() => {
                close(conn.as_mut());
                closing = Some(Instant::now() + CLOSE_GRACE);
            }
            () = tokio::time::sleep(tick), if closing.is_none() => {
                if activity.idle_for().is_some_and(|idle| idle >= idle_timeout) {
                    tracing::debug!(?idle_timeout, "closing an idle connection");
                    close(conn.as_mut());
                    closing = Some(Instant::now() + grace);
                }
            }
            () = tokio::time::sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => {
                tracing::debug!("connection did not finish after its shutdown began; dropping it");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_is_counted_from_the_last_request_and_not_while_one_is_in_flight() {
        let activity = Activity::new();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(activity.idle_for(), Some(Duration::from_secs(3)));
        let request = activity.begin();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(activity.idle_for(), None);
        drop(request);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(activity.idle_for(), Some(Duration::from_secs(2)));
    }
}
