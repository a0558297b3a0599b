//! Forecasting methods of the reports and their backtest (docs/reports.md, "Forecasts").
//!
//! - [`theil_sen`]: the robust linear trend — the median of the slopes between every pair
//!   of points, and the median intercept. Unlike the least-squares line of `alert_rules`'
//!   `predict_linear` (fine over its short window), one outlier (a log rotation freeing a
//!   disk, a restart emptying memory) barely moves it: it tolerates up to 29 % of bad points.
//! - [`holt_winters`]: additive Holt-Winters (level, trend and a seasonal term per step of
//!   the period), for series with a daily pattern and at least two periods of history; its
//!   smoothing factors are chosen from a small grid by the one-step-ahead error on the
//!   history itself.
//! - [`backtest`]: holds out the last quarter of the history, forecasts it from the rest
//!   with the same method, and reports the mean absolute error (MAE) and the mean absolute
//!   percentage error (MAPE) of that forecast.

/// Points compared pairwise at most by [`theil_sen`] (longer histories are thinned evenly).
const MAX_PAIRWISE: usize = 600;

/// A straight line `y = intercept + slope * x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Line {
    /// Per unit of x.
    pub slope: f64,
    /// At x = 0.
    pub intercept: f64,
}

impl Line {
    /// The line's value at `x`.
    pub(crate) fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The Theil–Sen line through `points` (x, y); `None` with fewer than two distinct x.
pub(crate) fn theil_sen(points: &[(f64, f64)]) -> Option<Line> {
    let pts: Vec<(f64, f64)> = if points.len() > MAX_PAIRWISE {
        let step = points.len() as f64 / MAX_PAIRWISE as f64;
        (0..MAX_PAIRWISE)
            .map(|i| points[((i as f64 * step) as usize).min(points.len() - 1)])
            .collect()
    } else {
        points.to_vec()
    };
    let mut slopes = Vec::with_capacity(pts.len() * pts.len() / 2);
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            let dx = b.0 - a.0;
            if dx != 0.0 {
                slopes.push((b.1 - a.1) / dx);
            }
        }
    }
    let slope = median(&mut slopes)?;
    let mut intercepts: Vec<f64> = points.iter().map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut intercepts)?;
    Some(Line { slope, intercept })
}

/// Additive Holt-Winters fitted to `y` (equally spaced, `period` steps per season).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HoltWinters {
    level: f64,
    trend: f64,
    /// Seasonal terms, indexed by the step's position in the period, aligned so that
    /// `season[(n + h) % period]` belongs to step `n + h` (`n` = the history's length).
    season: Vec<f64>,
    n: usize,
    /// The smoothing factors chosen (level, trend, season).
    pub factors: (f64, f64, f64),
}

impl HoltWinters {
    /// The forecast `h` steps (h ≥ 1) after the last point of the history.
    pub(crate) fn forecast(&self, h: usize) -> f64 {
        let p = self.season.len();
        self.level + h as f64 * self.trend + self.season[(self.n + h - 1) % p]
    }

    /// The trend term: change per step.
    pub(crate) fn trend(&self) -> f64 {
        self.trend
    }
}

/// One pass of the recursions; returns the model and its one-step-ahead squared error.
fn hw_pass(y: &[f64], period: usize, a: f64, b: f64, g: f64) -> (HoltWinters, f64) {
    let first: f64 = y[..period].iter().sum::<f64>() / period as f64;
    let second: f64 = y[period..2 * period].iter().sum::<f64>() / period as f64;
    let mut level = first;
    let mut trend = (second - first) / period as f64;
    let mut season: Vec<f64> = y[..period].iter().map(|v| v - first).collect();
    let mut sse = 0.0;
    for (t, &v) in y.iter().enumerate().skip(period) {
        let s = season[t % period];
        let predicted = level + trend + s;
        sse += (v - predicted).powi(2);
        let prev = level;
        level = a * (v - s) + (1.0 - a) * (level + trend);
        trend = b * (level - prev) + (1.0 - b) * trend;
        season[t % period] = g * (v - level) + (1.0 - g) * s;
    }
    (
        HoltWinters {
            level,
            trend,
            season,
            n: y.len(),
            factors: (a, b, g),
        },
        sse,
    )
}

/// Additive Holt-Winters over `y`, the factors picked from a grid by one-step-ahead error;
/// `None` with less than two periods of history.
pub(crate) fn holt_winters(y: &[f64], period: usize) -> Option<HoltWinters> {
    if period < 2 || y.len() < 2 * period {
        return None;
    }
    let mut best: Option<(HoltWinters, f64)> = None;
    for a in [0.05, 0.2, 0.5] {
        for b in [0.0, 0.01, 0.1] {
            for g in [0.05, 0.2, 0.5] {
                let (m, sse) = hw_pass(y, period, a, b, g);
                if best.as_ref().is_none_or(|(_, e)| sse < *e) {
                    best = Some((m, sse));
                }
            }
        }
    }
    best.map(|(m, _)| m)
}

/// How a series is forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// [`theil_sen`].
    TheilSen,
    /// [`holt_winters`] with this many steps per season.
    HoltWinters(usize),
}

impl Method {
    /// Its name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::TheilSen => "theil-sen",
            Method::HoltWinters(_) => "holt-winters-daily",
        }
    }

    /// Forecasts of `y` (equally spaced, step 1) for the `h` steps after it.
    pub(crate) fn predict(self, y: &[f64], h: usize) -> Option<Vec<f64>> {
        match self {
            Method::TheilSen => {
                let pts: Vec<(f64, f64)> =
                    y.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect();
                let line = theil_sen(&pts)?;
                Some((0..h).map(|k| line.at((y.len() + k) as f64)).collect())
            }
            Method::HoltWinters(p) => {
                let m = holt_winters(y, p)?;
                Some((1..=h).map(|k| m.forecast(k)).collect())
            }
        }
    }
}

/// The error of a method's forecast of the held-out end of a history.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub(crate) struct Backtest {
    /// Points held out (the last quarter of the history).
    pub holdout_points: usize,
    /// Mean absolute error, in the series' unit.
    pub mae: f64,
    /// Mean absolute percentage error, in percent (`None` when every held-out value is 0).
    pub mape: Option<f64>,
}

/// Forecasts the last quarter of `y` from the rest with `method` and measures the error;
/// `None` when the rest is too short for the method.
pub(crate) fn backtest(method: Method, y: &[f64]) -> Option<Backtest> {
    let holdout = (y.len() / 4).max(1);
    if y.len() < holdout + 2 {
        return None;
    }
    let (train, test) = y.split_at(y.len() - holdout);
    let predicted = method.predict(train, holdout)?;
    let mae = test
        .iter()
        .zip(&predicted)
        .map(|(a, p)| (a - p).abs())
        .sum::<f64>()
        / holdout as f64;
    let pct: Vec<f64> = test
        .iter()
        .zip(&predicted)
        .filter(|(a, _)| a.abs() > f64::EPSILON)
        .map(|(a, p)| ((a - p) / a).abs() * 100.0)
        .collect();
    let mape = (!pct.is_empty()).then(|| pct.iter().sum::<f64>() / pct.len() as f64);
    Some(Backtest {
        holdout_points: holdout,
        mae,
        mape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic noise in [-1, 1) (xorshift), so tests need no random crate.
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2_000_001) as f64 / 1_000_000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn theil_sen_finds_the_line_through_outliers() {
        let mut pts: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 3.0 + 0.5 * i as f64)).collect();
        // A fifth of the points far off (least squares would tilt).
        for p in pts.iter_mut().step_by(5) {
            p.1 += 1000.0;
        }
        let line = theil_sen(&pts).unwrap();
        assert!((line.slope - 0.5).abs() < 1e-9, "{line:?}");
        assert!((line.intercept - 3.0).abs() < 1e-9, "{line:?}");
        assert!(theil_sen(&[(1.0, 1.0)]).is_none());
    }

    #[test]
    fn holt_winters_follows_a_daily_pattern_a_line_cannot() {
        let day = 24;
        let y: Vec<f64> = (0..day * 5)
            .map(|t| 100.0 + 40.0 * (2.0 * std::f64::consts::PI * t as f64 / day as f64).sin())
            .collect();
        let hw = backtest(Method::HoltWinters(day), &y).unwrap();
        let line = backtest(Method::TheilSen, &y).unwrap();
        assert!(hw.mae < 1.0, "{hw:?}");
        assert!(line.mae > 10.0 * hw.mae, "{line:?} vs {hw:?}");
        assert!(holt_winters(&y[..day * 2 - 1], day).is_none());
    }

    /// On a line plus uniform noise in [-a, a], a forecast of the exact line has an error of
    /// a/2 on average: the backtest must find about that, and its MAPE must be the MAE over
    /// the level.
    #[test]
    fn backtest_measures_known_noise() {
        let amplitude = 4.0;
        let y: Vec<f64> = noise(400, 7)
            .iter()
            .enumerate()
            .map(|(i, e)| 1000.0 + 0.1 * i as f64 + amplitude * e)
            .collect();
        let b = backtest(Method::TheilSen, &y).unwrap();
        assert_eq!(b.holdout_points, 100);
        assert!((b.mae - amplitude / 2.0).abs() < 0.4, "{b:?}");
        // The held-out values are about 1035; MAPE ≈ MAE / 1035 · 100.
        let mape = b.mape.unwrap();
        assert!((mape - b.mae / 1035.0 * 100.0).abs() < 0.01, "{b:?}");
        // Without noise the error vanishes.
        let clean: Vec<f64> = (0..400).map(|i| 1000.0 + 0.1 * i as f64).collect();
        assert!(backtest(Method::TheilSen, &clean).unwrap().mae < 1e-9);
    }
}
