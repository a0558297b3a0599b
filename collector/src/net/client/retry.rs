//! Exponential backoff with jitter between attempts of one request, honouring a delay the
//! server asked for (HTTP `Retry-After`, gRPC `RetryInfo`). The exporters' sending queue and
//! the alert webhook each map their own config keys onto a [`Backoff`].

use std::time::{Duration, Instant, SystemTime};

use rand::Rng;

/// How to wait between attempts, and when to give up.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub initial_interval: Duration,
    /// Growth of the wait after each failure (values below 1 are taken as 1).
    pub multiplier: f64,
    /// Jitter: each wait is drawn from interval × [1 − f, 1 + f] (f clamped to 0..=1), so that
    /// clients failing together do not retry together.
    pub randomization_factor: f64,
    /// Longest backoff wait (a server-requested delay may be longer, see `max_server_delay`).
    pub max_interval: Duration,
    /// Give up when the next wait would end later than this after the first attempt.
    pub max_elapsed_time: Option<Duration>,
    /// Give up after this many attempts, the first included.
    pub max_attempts: Option<u32>,
    /// Shorten a server-requested delay to this; `None` honours it as asked (bounded only by
    /// `max_elapsed_time`).
    pub max_server_delay: Option<Duration>,
}

impl Backoff {
    /// Starts counting attempts and elapsed time for one request.
    pub fn start(&self) -> Retry {
        Retry {
            backoff: self.clone(),
            started: Instant::now(),
            interval: self.initial_interval,
            attempts: 0,
        }
    }
}

/// The retry state of one request.
#[derive(Debug)]
pub struct Retry {
    backoff: Backoff,
    started: Instant,
    interval: Duration,
    attempts: u32,
}

impl Retry {
    /// Records a failed attempt and returns the wait before the next one, or `None` when the
    /// attempts or the time allowed are used up. `server_delay` (from `Retry-After` or gRPC
    /// `RetryInfo`) replaces the backoff wait.
    pub fn next_delay(&mut self, server_delay: Option<Duration>) -> Option<Duration> {
        self.next_delay_after(self.started.elapsed(), server_delay)
    }

    /// Failed attempts recorded so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn next_delay_after(
        &mut self,
        elapsed: Duration,
        server_delay: Option<Duration>,
    ) -> Option<Duration> {
        self.attempts = self.attempts.saturating_add(1);
        if self
            .backoff
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
        {
            return None;
        }
        let wait = match server_delay {
            Some(asked) => self
                .backoff
                .max_server_delay
                .map_or(asked, |cap| asked.min(cap)),
            None => jitter(self.interval, self.backoff.randomization_factor),
        };
        if self
            .backoff
            .max_elapsed_time
            .is_some_and(|max| elapsed.saturating_add(wait) > max)
        {
            return None;
        }
        self.interval =
            scale(self.interval, self.backoff.multiplier.max(1.0)).min(self.backoff.max_interval);
        Some(wait)
    }
}

/// `interval × factor`, saturating where `Duration::mul_f64` would panic (a huge multiplier).
fn scale(interval: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(interval.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

fn jitter(interval: Duration, factor: f64) -> Duration {
    // NaN would make `random_range` panic.
    if factor.is_nan() || factor <= 0.0 {
        return interval;
    }
    let factor = factor.min(1.0);
    let drawn = rand::rng().random_range(1.0 - factor..=1.0 + factor);
    scale(interval, drawn)
}

/// The delay an HTTP response asks for in `Retry-After`, if any and well formed.
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// `Retry-After` as delta-seconds or an HTTP date (a date in the past means no wait).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = http_date(value)?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

fn http_date(value: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(value).ok().or_else(|| {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
        let parts: Vec<&str> = value.split_whitespace().collect();
        let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
            return None;
        };
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .iter()
        .position(|m| m == month)?
            + 1;
        humantime::parse_rfc3339(&format!("{year}-{month:02}-{day:0>2}T{time}Z")).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            initial_interval: Duration::from_secs(1),
            multiplier: 2.0,
            randomization_factor: 0.0,
            max_interval: Duration::from_secs(5),
            max_elapsed_time: None,
            max_attempts: None,
            max_server_delay: None,
        }
    }

    fn waits(retry: &mut Retry, n: usize) -> Vec<Option<u64>> {
        (0..n)
            .map(|_| {
                retry
                    .next_delay_after(Duration::ZERO, None)
                    .map(|d| d.as_secs())
            })
            .collect()
    }

    #[test]
    fn grows_by_the_multiplier_up_to_max_interval() {
        let mut retry = backoff().start();
        assert_eq!(
            waits(&mut retry, 5),
            [Some(1), Some(2), Some(4), Some(5), Some(5)]
        );
        assert_eq!(retry.attempts(), 5);
    }

    #[test]
    fn multipliers_below_one_and_huge_ones_do_not_shrink_or_panic() {
        let mut retry = Backoff {
            multiplier: 0.1,
            ..backoff()
        }
        .start();
        assert_eq!(waits(&mut retry, 2), [Some(1), Some(1)]);
        let mut retry = Backoff {
            multiplier: 1e300,
            ..backoff()
        }
        .start();
        assert_eq!(waits(&mut retry, 2), [Some(1), Some(5)]);
    }

    #[test]
    fn jitter_stays_within_the_factor() {
        let policy = Backoff {
            randomization_factor: 0.5,
            initial_interval: Duration::from_millis(1000),
            max_interval: Duration::from_millis(1000),
            ..backoff()
        };
        let mut retry = policy.start();
        let drawn: Vec<Duration> = (0..200)
            .filter_map(|_| retry.next_delay_after(Duration::ZERO, None))
            .collect();
        assert_eq!(drawn.len(), 200);
        assert!(
            drawn
                .iter()
                .all(|d| (Duration::from_millis(500)..=Duration::from_millis(1500)).contains(d))
        );
        assert!(drawn.iter().any(|d| *d != drawn[0]), "waits are randomized");
        for factor in [f64::NAN, -1.0] {
            assert_eq!(
                jitter(Duration::from_secs(1), factor),
                Duration::from_secs(1)
            );
        }
    }

    #[test]
    fn server_delay_replaces_the_backoff_and_may_be_capped() {
        let mut retry = backoff().start();
        assert_eq!(
            retry.next_delay_after(Duration::ZERO, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(60))
        );
        // The backoff still grew behind the server's delay.
        assert_eq!(
            retry.next_delay_after(Duration::ZERO, None),
            Some(Duration::from_secs(2))
        );
        let mut capped = Backoff {
            max_server_delay: Some(Duration::from_secs(5)),
            ..backoff()
        }
        .start();
        assert_eq!(
            capped.next_delay_after(Duration::ZERO, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let mut retry = Backoff {
            max_attempts: Some(3),
            ..backoff()
        }
        .start();
        assert_eq!(waits(&mut retry, 3), [Some(1), Some(2), None]);
        assert_eq!(retry.attempts(), 3);
    }

    #[test]
    fn gives_up_when_the_wait_would_pass_max_elapsed_time() {
        let mut retry = Backoff {
            max_elapsed_time: Some(Duration::from_secs(10)),
            ..backoff()
        }
        .start();
        assert_eq!(
            retry.next_delay_after(Duration::from_secs(8), None),
            Some(Duration::from_secs(1))
        );
        assert_eq!(retry.next_delay_after(Duration::from_secs(9), None), None);
        let mut retry = Backoff {
            max_elapsed_time: Some(Duration::from_secs(10)),
            ..backoff()
        }
        .start();
        assert_eq!(
            retry.next_delay_after(Duration::ZERO, Some(Duration::from_secs(11))),
            None,
            "a server delay past the deadline gives up at once"
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("3"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    }
}
