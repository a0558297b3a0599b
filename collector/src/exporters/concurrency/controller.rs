//! The limit on requests in flight and how it moves: AIMD on response times against a moving
//! baseline, as Vector's adaptive request concurrency does it.
//!
//! Time is cut into windows one baseline response time long. Within a window the controller
//! averages the response times of accepted requests and notes whether the limit was reached
//! and whether the destination pushed back. At the window's end it compares the average with
//! the baseline (an exponentially weighted mean and deviation of past windows): not slower
//! than the baseline while the limit was in use, the limit grows by one; slower than the
//! baseline plus `rtt_deviation_scale` deviations, or any back-pressure, it shrinks by
//! `decrease_ratio`; anything between holds it. Requests queueing at a destination that serves
//! them one at a time make the response time grow with the limit, which is what stops it.
//!
//! Three departures from Vector, measured in RELIABILITY.md:
//! - Slow start: until the first window that used the limit without growing it, the limit
//!   doubles instead of growing by one, so a fast destination is not starved while it climbs.
//! - A slower window keeps its limit when it carried more throughput than past windows
//!   (Little's law, per request: mean concurrency over mean response time): the second
//!   request in flight at a destination serving one at a time is slower and still worth it.
//! - A window that shrinks the limit feeds neither baseline, so the baseline stays the
//!   response time at a sustainable limit instead of following the queueing delay upwards
//!   (with Vector's rule the limit creeps up by one every few windows at such a destination).
//!   At a limit of 1, which cannot shrink, every window feeds it, so a destination that became
//!   slower for good sets a new baseline.

use std::time::Duration;

use tokio::time::Instant;

use super::Feedback;
use crate::config::shared::AdaptiveConcurrencyConfig;

/// Relative slack in comparisons of averages, so identical response times (averaged with
/// rounding errors) compare equal.
const EPSILON: f64 = 1e-9;

/// A window slower than the baseline does not shrink the limit if it carried this much more
/// throughput than past windows (relative): the queueing it added paid off.
const THROUGHPUT_GAIN: f64 = 0.05;

/// The limit, and with `adaptive` what it learns from responses.
#[derive(Debug, Clone)]
pub(crate) struct Controller {
    limit: usize,
    /// `None`: a fixed limit.
    adaptive: Option<Adaptive>,
}

#[derive(Debug, Clone)]
struct Adaptive {
    settings: AdaptiveConcurrencyConfig,
    baseline: Option<Ewma>,
    /// Requests per second of past windows that used the limit (Little's law: the limit over
    /// the window's mean response time).
    throughput: Option<Ewma>,
    /// Until the first window that used the limit and did not grow it, the limit doubles
    /// instead of growing by one (TCP's slow start), so a fast destination is not starved
    /// while the limit climbs from `initial`.
    slow_start: bool,
    window: Window,
}

/// What the current window saw.
#[derive(Debug, Clone)]
struct Window {
    ends: Instant,
    rtt_sum: f64,
    /// Sum over the accepted requests of the requests in flight when each started.
    concurrency_sum: f64,
    samples: u32,
    back_pressure: bool,
    reached_limit: bool,
}

impl Window {
    fn new(ends: Instant) -> Window {
        Window {
            ends,
            rtt_sum: 0.0,
            concurrency_sum: 0.0,
            samples: 0,
            back_pressure: false,
            reached_limit: false,
        }
    }

    /// The mean response time of the window's accepted requests, in seconds.
    fn mean_rtt(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.rtt_sum / f64::from(self.samples))
    }

    /// Requests per second the window's accepted requests went at (Little's law: their mean
    /// concurrency over their mean response time). Measured per request, so requests started
    /// under an older limit do not bias it.
    fn throughput(&self) -> Option<f64> {
        let rtt = self.mean_rtt().filter(|rtt| *rtt > 0.0)?;
        Some(self.concurrency_sum / f64::from(self.samples) / rtt)
    }
}

/// An exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy)]
struct Ewma {
    alpha: f64,
    mean: f64,
    variance: f64,
}

impl Ewma {
    fn new(alpha: f64, first: f64) -> Ewma {
        Ewma {
            alpha,
            mean: first,
            variance: 0.0,
        }
    }

    fn update(&mut self, point: f64) {
        let diff = point - self.mean;
        let step = self.alpha * diff;
        self.mean += step;
        self.variance = (1.0 - self.alpha) * (self.variance + diff * step);
    }

    fn deviation(&self) -> f64 {
        self.variance.max(0.0).sqrt()
    }
}

// === impl Controller ===

impl Controller {
    /// A limit that never moves (`num_consumers: <n>`).
    pub(crate) fn fixed(limit: usize) -> Controller {
        Controller {
            limit: limit.max(1),
            adaptive: None,
        }
    }

    /// An adaptive limit starting at `settings.initial` (`num_consumers: adaptive`).
    pub(crate) fn adaptive(settings: AdaptiveConcurrencyConfig, now: Instant) -> Controller {
        let max = settings.max.max(1);
        Controller {
            limit: settings.initial.clamp(1, max),
            adaptive: Some(Adaptive {
                settings,
                baseline: None,
                throughput: None,
                slow_start: true,
                window: Window::new(now),
            }),
        }
    }

    /// The current limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The most the limit can be: how many senders to start.
    pub(crate) fn max(&self) -> usize {
        match &self.adaptive {
            Some(adaptive) => adaptive.settings.max.max(self.limit),
            None => self.limit,
        }
    }

    /// The baseline response time, once there is one.
    pub(crate) fn baseline(&self) -> Option<Duration> {
        let mean = self.adaptive.as_ref()?.baseline?.mean;
        Some(Duration::from_secs_f64(mean.max(0.0)))
    }

    /// A request started; `in_flight` counts it.
    pub(crate) fn started(&mut self, in_flight: usize) {
        if let Some(adaptive) = &mut self.adaptive
            && in_flight >= self.limit
        {
            adaptive.window.reached_limit = true;
        }
    }

    /// A request that took `rtt`, started with `concurrency` requests in flight (itself
    /// included), finished with `feedback` at `now`; returns the new limit.
    pub(crate) fn finished(
        &mut self,
        now: Instant,
        rtt: Duration,
        concurrency: usize,
        feedback: Feedback,
    ) -> usize {
        let Some(adaptive) = &mut self.adaptive else {
            return self.limit;
        };
        let window = &mut adaptive.window;
        match feedback {
            Feedback::Accepted => {
                window.rtt_sum += rtt.as_secs_f64();
                window.concurrency_sum += concurrency as f64;
                window.samples += 1;
            }
            Feedback::BackPressure => window.back_pressure = true,
            Feedback::Failed => {}
        }
        let current = window.mean_rtt();
        match adaptive.baseline {
            None => {
                if let Some(first) = current {
                    // The first response sets the baseline and the window length.
                    adaptive.baseline = Some(Ewma::new(adaptive.settings.ewma_alpha, first));
                    adaptive.window = Window::new(now + Duration::from_secs_f64(first));
                } else if window.back_pressure && now >= window.ends {
                    // Pushed back before any response: back off anyway, one step per
                    // failed attempt's duration.
                    self.limit = decrease(self.limit, adaptive.settings.decrease_ratio);
                    adaptive.slow_start = false;
                    adaptive.window = Window::new(now + rtt);
                }
            }
            Some(mut baseline) => {
                if now >= window.ends {
                    let rate = window.throughput().filter(|_| window.reached_limit);
                    let gained = rate
                        .zip(adaptive.throughput)
                        .is_some_and(|(rate, past)| rate > past.mean * (1.0 + THROUGHPUT_GAIN));
                    let mut next =
                        next_limit(self.limit, &adaptive.settings, &baseline, window, gained);
                    if adaptive.slow_start && window.reached_limit {
                        if next > self.limit {
                            next = (self.limit * 2).min(adaptive.settings.max).max(next);
                        } else {
                            adaptive.slow_start = false;
                        }
                    }
                    // A window that shrank the limit was not at a sustainable concurrency: it
                    // moves neither baseline. Otherwise queueing at the destination would
                    // raise the baseline step by step, and the limit with it.
                    if next >= self.limit {
                        if let Some(current) = current {
                            baseline.update(current);
                        }
                        if let Some(rate) = rate {
                            let alpha = adaptive.settings.ewma_alpha;
                            match &mut adaptive.throughput {
                                Some(past) => past.update(rate),
                                None => adaptive.throughput = Some(Ewma::new(alpha, rate)),
                            }
                        }
                    }
                    self.limit = next;
                    adaptive.baseline = Some(baseline);
                    adaptive.window =
                        Window::new(now + Duration::from_secs_f64(baseline.mean.max(0.0)));
                }
            }
        }
        self.limit
    }
}

/// The limit after a window, given the baseline before it; `gained`: the window carried more
/// throughput than past ones.
fn next_limit(
    limit: usize,
    settings: &AdaptiveConcurrencyConfig,
    baseline: &Ewma,
    window: &Window,
    gained: bool,
) -> usize {
    let current = window.mean_rtt();
    let not_slower = current.is_some_and(|c| c <= baseline.mean * (1.0 + EPSILON));
    let threshold = baseline.mean + settings.rtt_deviation_scale * baseline.deviation();
    let slower = current.is_some_and(|c| c > threshold * (1.0 + EPSILON));
    if limit < settings.max && window.reached_limit && !window.back_pressure && not_slower {
        limit + 1
    } else if window.back_pressure || (slower && !gained) {
        decrease(limit, settings.decrease_ratio)
    } else {
        limit
    }
}

/// `limit` × `ratio`, rounded down: always smaller, never below 1.
fn decrease(limit: usize, ratio: f64) -> usize {
    // The limit is at most MAX_ADAPTIVE_CONCURRENCY, exact in an f64.
    let scaled = (limit as f64 * ratio).floor();
    if scaled < 1.0 {
        1
    } else {
        (scaled as usize).min(limit.saturating_sub(1)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn settings() -> AdaptiveConcurrencyConfig {
        AdaptiveConcurrencyConfig {
            initial: 1,
            max: 10,
            ..AdaptiveConcurrencyConfig::default()
        }
    }

    /// Runs one window: `limit` requests start together, each takes `rtt(limit)` and ends
    /// with `feedback`; the clock moves by the response time. Returns the clock.
    fn window(
        c: &mut Controller,
        now: Instant,
        rtt: impl Fn(usize) -> Duration,
        feedback: Feedback,
    ) -> Instant {
        let limit = c.limit();
        let took = rtt(limit);
        for i in 1..=limit {
            c.started(i);
        }
        let now = now + took;
        for _ in 0..limit {
            c.finished(now, took, limit, feedback);
        }
        now
    }

    fn limits(
        c: &mut Controller,
        windows: usize,
        rtt: impl Fn(usize) -> Duration + Copy,
    ) -> Vec<usize> {
        let mut now = Instant::now();
        (0..windows)
            .map(|_| {
                now = window(c, now, rtt, Feedback::Accepted);
                c.limit()
            })
            .collect()
    }

    #[test]
    fn a_flat_response_time_with_the_limit_in_use_doubles_it_per_window_up_to_max() {
        let mut c = Controller::adaptive(settings(), Instant::now());
        let seen = limits(&mut c, 8, |_| 10 * MS);
        // The first window only sets the baseline.
        assert_eq!(seen, [1, 2, 4, 8, 10, 10, 10, 10]);
        assert_eq!(c.baseline(), Some(10 * MS));
    }

    #[test]
    fn after_slow_start_the_limit_grows_by_one_per_window() {
        // Flat up to 4 in flight, slower beyond: slow start stops at 4 × 2 = 8, backs off,
        // and from then on each window adds one at most.
        let mut c = Controller::adaptive(settings(), Instant::now());
        let seen = limits(&mut c, 60, |limit| 10 * MS * (limit.max(4) as u32 - 3));
        let first_hold = seen.windows(2).position(|w| w[1] <= w[0]).unwrap();
        for w in seen[first_hold..].windows(2) {
            assert!(w[1] <= w[0] + 1, "{seen:?}");
        }
    }

    #[test]
    fn an_unused_limit_does_not_grow() {
        let mut c = Controller::adaptive(
            AdaptiveConcurrencyConfig {
                initial: 4,
                ..settings()
            },
            Instant::now(),
        );
        let mut now = Instant::now();
        for _ in 0..10 {
            // One request at a time against a limit of 4.
            c.started(1);
            now += 10 * MS;
            c.finished(now, 10 * MS, 1, Feedback::Accepted);
        }
        assert_eq!(c.limit(), 4);
    }

    #[test]
    fn a_destination_serving_one_request_at_a_time_keeps_the_limit_low() {
        // Requests queue at the destination: the response time is the limit × 20 ms.
        let mut c = Controller::adaptive(settings(), Instant::now());
        let seen = limits(&mut c, 200, |limit| 20 * MS * limit as u32);
        assert!(seen.iter().all(|&l| l <= 3), "{seen:?}");
        assert!(seen.contains(&2), "it tried more: {seen:?}");
    }

    #[test]
    fn queueing_that_buys_throughput_is_kept_and_queueing_that_does_not_is_undone() {
        // One request at a time, 20 ms each, and 10 ms of the sender's own work per request:
        // a second request in flight keeps the destination busy (throughput × 1.5), a third
        // only queues. The response time is the limit over the throughput (Little's law).
        let rtt = |limit: usize| {
            let per_second = (limit as f64 / 0.030).min(1.0 / 0.020);
            Duration::from_secs_f64(limit as f64 / per_second)
        };
        let mut c = Controller::adaptive(settings(), Instant::now());
        let seen = limits(&mut c, 200, rtt);
        let settled = &seen[20..];
        assert!(settled.iter().all(|&l| (1..=3).contains(&l)), "{seen:?}");
        let busy = settled.iter().filter(|&&l| l >= 2).count();
        assert!(busy * 10 >= settled.len() * 9, "mostly 2 or 3: {seen:?}");
    }

    #[test]
    fn a_destination_that_scales_lets_the_limit_reach_max() {
        // Flat up to 6 in flight, then queueing.
        let mut c = Controller::adaptive(settings(), Instant::now());
        let seen = limits(&mut c, 100, |limit| 10 * MS * (limit.max(6) as u32 - 5));
        let tail = &seen[50..];
        assert!(tail.iter().all(|&l| (5..=8).contains(&l)), "{seen:?}");
    }

    #[test]
    fn response_times_above_the_baseline_and_deviation_shrink_the_limit() {
        let mut c = Controller::adaptive(
            AdaptiveConcurrencyConfig {
                initial: 10,
                decrease_ratio: 0.5,
                ..settings()
            },
            Instant::now(),
        );
        let mut now = Instant::now();
        now = window(&mut c, now, |_| 10 * MS, Feedback::Accepted);
        assert_eq!(c.limit(), 10);
        now = window(&mut c, now, |_| 50 * MS, Feedback::Accepted);
        assert_eq!(c.limit(), 5);
        window(&mut c, now, |_| 200 * MS, Feedback::Accepted);
        assert_eq!(c.limit(), 2);
    }

    #[test]
    fn back_pressure_shrinks_the_limit_once_per_window_down_to_one() {
        let mut c = Controller::adaptive(
            AdaptiveConcurrencyConfig {
                initial: 8,
                decrease_ratio: 0.5,
                ..settings()
            },
            Instant::now(),
        );
        let mut now = window(&mut c, Instant::now(), |_| 10 * MS, Feedback::Accepted);
        // Eight timeouts in one window: one step down, not eight.
        now = window(&mut c, now, |_| 10 * MS, Feedback::BackPressure);
        assert_eq!(c.limit(), 4);
        for _ in 0..5 {
            now = window(&mut c, now, |_| 10 * MS, Feedback::BackPressure);
        }
        assert_eq!(c.limit(), 1);
    }

    #[test]
    fn back_pressure_before_any_response_still_backs_off() {
        let mut c = Controller::adaptive(
            AdaptiveConcurrencyConfig {
                initial: 8,
                decrease_ratio: 0.5,
                ..settings()
            },
            Instant::now(),
        );
        let now = Instant::now() + 5 * MS;
        c.finished(now, 5 * MS, 8, Feedback::BackPressure);
        assert_eq!(c.limit(), 4);
        // Within that attempt's duration: no further step.
        c.finished(now + MS, 5 * MS, 8, Feedback::BackPressure);
        assert_eq!(c.limit(), 4);
        c.finished(now + 5 * MS, 5 * MS, 8, Feedback::BackPressure);
        assert_eq!(c.limit(), 2);
    }

    #[test]
    fn failures_that_say_nothing_about_load_neither_grow_nor_shrink_it() {
        let mut c = Controller::adaptive(
            AdaptiveConcurrencyConfig {
                initial: 3,
                ..settings()
            },
            Instant::now(),
        );
        let mut now = Instant::now() + 10 * MS;
        c.started(1);
        c.finished(now, 10 * MS, 1, Feedback::Accepted);
        for _ in 0..5 {
            now = window(&mut c, now, |_| 10 * MS, Feedback::Failed);
        }
        assert_eq!(c.limit(), 3);
    }

    #[test]
    fn a_fixed_limit_never_moves() {
        let mut c = Controller::fixed(4);
        let mut now = Instant::now();
        for feedback in [Feedback::Accepted, Feedback::BackPressure] {
            for _ in 0..5 {
                now = window(&mut c, now, |_| 10 * MS, feedback);
            }
        }
        assert_eq!((c.limit(), c.max()), (4, 4));
    }

    #[test]
    fn decrease_always_shrinks_and_stays_above_zero() {
        assert_eq!(decrease(10, 0.9), 9);
        assert_eq!(decrease(2, 0.9), 1);
        assert_eq!(decrease(1, 0.9), 1);
        assert_eq!(decrease(5, 0.99), 4);
        assert_eq!(decrease(100, 0.5), 50);
    }
}
