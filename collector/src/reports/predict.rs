//! The report's forecasts (docs/reports.md, "Forecasts"): filesystem full per mountpoint,
//! memory and request-rate trends, p95 latency per service a week ahead. Each reads up to
//! [`HISTORY`] of hourly means before the report's end, whatever the report's own range,
//! picks its method ([`choose`]) and states the backtested error beside the forecast.

use std::collections::BTreeMap;

use super::forecast::{self, Backtest, Method};
use super::gather::{NS_PER_MS, grouped_means, label};
use super::model::{Forecast, LimitCrossing};
use crate::exporters::store::{HOUR_NS, RedRow, Store, quantile};

/// History the forecasts read.
pub(crate) const HISTORY: i64 = 14 * 24 * HOUR_NS;
/// Fewest hourly points a forecast is made from.
pub(crate) const MIN_POINTS: usize = 12;
/// Steps of Holt-Winters' season: a day of hours.
const DAY: usize = 24;
/// How far ahead `in_7_days` is, in hours.
const WEEK_H: f64 = 168.0;

/// An hourly series: (hours since the history's start, value); gaps allowed.
type Hourly = Vec<(f64, f64)>;

fn hourly(start: i64, means: &BTreeMap<i64, f64>) -> Hourly {
    means
        .iter()
        .map(|(t, v)| ((t - start) as f64 / HOUR_NS as f64, *v))
        .collect()
}

/// Every forecast, from the history before `to`.
pub(crate) fn forecasts(store: &Store, to: i64, notes: &mut Vec<String>) -> Vec<Forecast> {
    let end = to.div_euclid(HOUR_NS) * HOUR_NS;
    let start = end - HISTORY;
    let mut out = Vec::new();
    for (mount, (means, _)) in grouped_means(
        store,
        "system.filesystem.utilization",
        start,
        end,
        HOUR_NS,
        |_| true,
        |l| label(l, "mountpoint"),
    ) {
        out.push(forecast_series(
            "filesystem",
            &mount,
            "ratio",
            &hourly(start, &means),
            start,
            to,
            Some(1.0),
            false,
        ));
    }
    for (_, (means, _)) in grouped_means(
        store,
        "system.memory.utilization",
        start,
        end,
        HOUR_NS,
        |l| label(l, "state") == "used",
        |_| String::new(),
    ) {
        out.push(forecast_series(
            "memory",
            "",
            "ratio",
            &hourly(start, &means),
            start,
            to,
            Some(1.0),
            true,
        ));
    }
    let red = store.red_minutes(start, end);
    if red.is_empty() {
        notes.push("no spans in the complete hours of the forecast history: no request-rate or latency forecast".into());
    } else {
        let (rate, p95) = red_hourly(&red, start);
        out.push(forecast_series(
            "request_rate",
            "",
            "requests/s",
            &rate,
            start,
            to,
            None,
            true,
        ));
        for (service, series) in p95 {
            out.push(forecast_series(
                "p95_latency",
                &service,
                "ms",
                &series,
                start,
                to,
                None,
                true,
            ));
        }
    }
    out
}

/// Requests per second per hour (every service), and p95 per service per hour.
fn red_hourly(red: &[RedRow], start: i64) -> (Hourly, BTreeMap<String, Hourly>) {
    let mut count: BTreeMap<i64, u64> = BTreeMap::new();
    let mut hist: BTreeMap<(String, i64), RedRow> = BTreeMap::new();
    for r in red {
        let hour = r.minute.div_euclid(HOUR_NS) * HOUR_NS;
        *count.entry(hour).or_default() += r.count;
        match hist.get_mut(&(r.service.clone(), hour)) {
            Some(acc) => acc.merge(r),
            None => {
                hist.insert((r.service.clone(), hour), r.clone());
            }
        }
    }
    let x = |t: i64| (t - start) as f64 / HOUR_NS as f64;
    let rate = count
        .into_iter()
        .map(|(t, n)| (x(t), n as f64 / 3600.0))
        .collect();
    let mut p95: BTreeMap<String, Hourly> = BTreeMap::new();
    for ((service, t), r) in hist {
        p95.entry(service)
            .or_default()
            .push((x(t), quantile(&r.hist, 0.95) / 1e6));
    }
    (rate, p95)
}

/// Equally spaced, without gaps: Holt-Winters may run on it.
fn contiguous(s: &Hourly) -> bool {
    s.windows(2).all(|w| (w[1].0 - w[0].0 - 1.0).abs() < 1e-9)
}

/// The method of a series and its backtest: Theil–Sen always qualifies; Holt-Winters
/// with a daily season when the series has no gaps and the part the backtest fits from
/// holds two days, and it wins when its backtest error is the smaller.
pub(crate) fn choose(s: &Hourly, seasonal: bool) -> (Method, Option<Backtest>) {
    let y: Vec<f64> = s.iter().map(|p| p.1).collect();
    let line = backtest_xy(s);
    if seasonal && contiguous(s) && y.len().saturating_sub((y.len() / 4).max(1)) >= 2 * DAY {
        let hw = forecast::backtest(Method::HoltWinters(DAY), &y);
        if let (Some(h), Some(l)) = (hw, line)
            && h.mae < l.mae
        {
            return (Method::HoltWinters(DAY), Some(h));
        }
    }
    (Method::TheilSen, line)
}

/// [`forecast::backtest`] of Theil–Sen on points with gaps: the fit sees the real x.
fn backtest_xy(s: &Hourly) -> Option<Backtest> {
    let holdout = (s.len() / 4).max(1);
    if s.len() < holdout + 2 {
        return None;
    }
    let (train, test) = s.split_at(s.len() - holdout);
    let line = forecast::theil_sen(train)?;
    let mae = test
        .iter()
        .map(|(x, y)| (y - line.at(*x)).abs())
        .sum::<f64>()
        / holdout as f64;
    let pct: Vec<f64> = test
        .iter()
        .filter(|(_, y)| y.abs() > f64::EPSILON)
        .map(|(x, y)| ((y - line.at(*x)) / y).abs() * 100.0)
        .collect();
    Some(Backtest {
        holdout_points: holdout,
        mae,
        mape: (!pct.is_empty()).then(|| pct.iter().sum::<f64>() / pct.len() as f64),
    })
}

/// One forecast. Points are hourly means of the hour starting at `x` (hours since
/// `start`): the line is fitted at the hour's middle. `limit`: the value at which a rising
/// series is full.
#[allow(clippy::too_many_arguments)]
fn forecast_series(
    metric: &str,
    subject: &str,
    unit: &str,
    series: &Hourly,
    start: i64,
    to: i64,
    limit: Option<f64>,
    seasonal: bool,
) -> Forecast {
    let mut f = Forecast {
        metric: metric.into(),
        subject: subject.into(),
        unit: unit.into(),
        method: "none".into(),
        history_points: series.len(),
        current: series.last().map(|p| p.1),
        trend_per_day: None,
        in_7_days: None,
        limit: None,
        backtest: None,
        note: String::new(),
    };
    if series.len() < MIN_POINTS {
        f.note = format!(
            "history too short: {} hourly points, a forecast needs {MIN_POINTS}",
            series.len()
        );
        return f;
    }
    let mid: Hourly = series.iter().map(|(x, y)| (x + 0.5, *y)).collect();
    let (method, backtest) = choose(&mid, seasonal);
    f.method = method.name().into();
    f.backtest = backtest;
    // Hours since `start` at the report's end.
    let now_x = (to - start) as f64 / HOUR_NS as f64;
    match method {
        Method::HoltWinters(p) => {
            let y: Vec<f64> = mid.iter().map(|p| p.1).collect();
            if let Some(m) = forecast::holt_winters(&y, p) {
                let last_x = mid.last().map_or(now_x, |p| p.0);
                let h = (now_x + WEEK_H - last_x).round().max(1.0) as usize;
                f.in_7_days = Some(m.forecast(h));
                f.trend_per_day = Some(m.trend() * 24.0);
            }
        }
        Method::TheilSen => {
            if let Some(line) = forecast::theil_sen(&mid) {
                f.trend_per_day = Some(line.slope * 24.0);
                f.in_7_days = Some(line.at(now_x + WEEK_H));
                if let Some(limit) = limit {
                    f.limit = crossing(&line, limit, now_x, start, backtest.map_or(0.0, |b| b.mae));
                }
            }
        }
    }
    if unit == "ratio"
        && let Some(v) = f.in_7_days
    {
        f.in_7_days = Some(v.clamp(0.0, 1.0));
    }
    f
}

/// When `line` reaches `limit`, counted from `now_x`, and the range the backtest's MAE
/// gives it: the line raised by the MAE reaches the limit first, lowered by it last.
fn crossing(
    line: &forecast::Line,
    limit: f64,
    now_x: f64,
    start: i64,
    mae: f64,
) -> Option<LimitCrossing> {
    if line.slope <= 0.0 {
        return None;
    }
    let at = |level: f64| ((limit - level - line.intercept) / line.slope - now_x).max(0.0) / 24.0;
    let days = at(0.0);
    let at_x = now_x + days * 24.0;
    Some(LimitCrossing {
        limit,
        days,
        days_low: at(mae),
        days_high: Some(at(-mae)),
        at_ms: (start + (at_x * HOUR_NS as f64) as i64) / NS_PER_MS,
    })
}
