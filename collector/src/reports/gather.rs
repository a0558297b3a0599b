//! Builds a [`Report`] from a store: RED per service and operation, error-log hot spots,
//! host utilisation, episodes and alerts (`events.rs`), and forecasts (`predict.rs`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};

use super::events;
use super::model::{HostFigure, LogHotSpot, OperationSummary, Report, ServiceSummary};
use super::predict;
use crate::exporters::store::{HOUR_NS, MINUTE_NS, RedRow, Store, quantile};

/// OTLP severity number of ERROR.
const ERROR_SEVERITY: u8 = 17;
/// Slowest operations listed per service.
const SLOWEST: usize = 5;
/// Error-log hot spots listed.
const HOT_SPOTS: usize = 20;
/// Characters of a log body a hot spot keeps.
const MESSAGE_CHARS: usize = 200;
/// Distinct (service, message) groups counted at most; later ones are counted as "other".
const MAX_GROUPS: usize = 10_000;

pub(crate) const NS_PER_MS: i64 = 1_000_000;

/// RFC 3339 of unix nanoseconds.
pub(crate) fn rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The report of `[from, to)` (unix nanoseconds), made at `now`.
pub(crate) fn build(store: &Store, from: i64, to: i64, now: i64) -> Report {
    let red = store.red_minutes(from, to);
    let mut notes = Vec::new();
    let services = services(&red, from, to);
    let (episodes, alerts) = events::gather(store, &red, from, to, &mut notes);
    Report {
        generated_at: rfc3339(now),
        from_ms: from / NS_PER_MS,
        to_ms: to / NS_PER_MS,
        services,
        episodes,
        error_logs: hot_spots(store, from, to),
        host: host(store, from, to),
        alerts,
        forecasts: predict::forecasts(store, to, &mut notes),
        notes,
    }
}

/// Merges rows into one per key.
fn merge_by<K: Ord>(rows: &[RedRow], key: impl Fn(&RedRow) -> K) -> BTreeMap<K, RedRow> {
    let mut out: BTreeMap<K, RedRow> = BTreeMap::new();
    for r in rows {
        match out.get_mut(&key(r)) {
            Some(acc) => acc.merge(r),
            None => {
                out.insert(key(r), r.clone());
            }
        }
    }
    out
}

fn ms(ns: f64) -> f64 {
    ns / 1e6
}

/// RED per service (busiest first), each with its slowest operations by p95.
pub(crate) fn services(red: &[RedRow], from: i64, to: i64) -> Vec<ServiceSummary> {
    let seconds = ((to - from) as f64 / 1e9).max(1.0);
    let per_op = merge_by(red, |r| (r.service.clone(), r.operation.clone()));
    let mut ops: HashMap<String, Vec<OperationSummary>> = HashMap::new();
    for ((service, operation), r) in &per_op {
        ops.entry(service.clone())
            .or_default()
            .push(OperationSummary {
                operation: operation.clone(),
                requests: r.count,
                errors: r.errors,
                mean_ms: if r.count == 0 {
                    0.0
                } else {
                    ms(r.dur_sum as f64 / r.count as f64)
                },
                p95_ms: ms(quantile(&r.hist, 0.95)),
            });
    }
    let mut out: Vec<ServiceSummary> = merge_by(red, |r| r.service.clone())
        .into_iter()
        .map(|(service, r)| {
            let mut slowest = ops.remove(&service).unwrap_or_default();
            slowest.sort_by(|a, b| {
                b.p95_ms
                    .total_cmp(&a.p95_ms)
                    .then(b.mean_ms.total_cmp(&a.mean_ms))
            });
            slowest.truncate(SLOWEST);
            ServiceSummary {
                service,
                requests: r.count,
                rate_per_s: r.count as f64 / seconds,
                errors: r.errors,
                error_rate: if r.count == 0 {
                    0.0
                } else {
                    r.errors as f64 / r.count as f64
                },
                p50_ms: ms(quantile(&r.hist, 0.5)),
                p95_ms: ms(quantile(&r.hist, 0.95)),
                p99_ms: ms(quantile(&r.hist, 0.99)),
                slowest_operations: slowest,
            }
        })
        .collect();
    out.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.service.cmp(&b.service)));
    out
}

/// A log body grouped with its kin: digits folded, cut to [`MESSAGE_CHARS`].
fn fold(body: &str) -> String {
    let mut out = String::new();
    let mut last_hash = false;
    for c in body.chars().take(MESSAGE_CHARS) {
        if c.is_ascii_digit() {
            if !last_hash {
                out.push('#');
            }
            last_hash = true;
        } else {
            out.push(c);
            last_hash = false;
        }
    }
    out
}

/// Services and messages with the most ERROR-or-worse records.
fn hot_spots(store: &Store, from: i64, to: i64) -> Vec<LogHotSpot> {
    let mut groups: HashMap<(String, String), LogHotSpot> = HashMap::new();
    for l in store.logs_at_least(from, to, ERROR_SEVERITY) {
        let mut key = (l.service.clone(), fold(&l.body));
        if groups.len() >= MAX_GROUPS && !groups.contains_key(&key) {
            key.1 = "(other messages)".into();
        }
        let t = l.ts / NS_PER_MS;
        let spot = groups.entry(key.clone()).or_insert_with(|| LogHotSpot {
            service: key.0.clone(),
            message: key.1.clone(),
            count: 0,
            first_ms: t,
            last_ms: t,
            example_trace_id: String::new(),
        });
        spot.count += 1;
        spot.first_ms = spot.first_ms.min(t);
        spot.last_ms = spot.last_ms.max(t);
        if spot.example_trace_id.is_empty() && l.trace_id != [0; 16] {
            spot.example_trace_id = hex::encode(l.trace_id);
        }
    }
    let mut out: Vec<LogHotSpot> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.service.cmp(&b.service))
            .then(a.message.cmp(&b.message))
    });
    out.truncate(HOT_SPOTS);
    out
}

/// The step host metrics are read at over `[from, to)`.
pub(crate) fn step_for(from: i64, to: i64) -> i64 {
    if to - from >= 6 * HOUR_NS {
        HOUR_NS
    } else {
        MINUTE_NS
    }
}

/// A label of a series' JSON labels.
pub(crate) fn label(labels: &str, key: &str) -> String {
    serde_json::from_str::<serde_json::Value>(labels)
        .ok()
        .and_then(|v| v.get(key).and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// Per step, the mean of `name`'s series that `keep` accepts, grouped by `group`:
/// group → (step start → mean), and group → the largest single value.
pub(crate) fn grouped_means(
    store: &Store,
    name: &str,
    from: i64,
    to: i64,
    step: i64,
    keep: impl Fn(&str) -> bool,
    group: impl Fn(&str) -> String,
) -> BTreeMap<String, (BTreeMap<i64, f64>, f64)> {
    // group → (step → (sum, count)), largest value.
    type Acc = (BTreeMap<i64, (f64, u64)>, f64);
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    for s in store.series(name, from, to, step) {
        if !keep(&s.labels) {
            continue;
        }
        let entry = acc
            .entry(group(&s.labels))
            .or_insert_with(|| (BTreeMap::new(), f64::NEG_INFINITY));
        for (t, agg) in &s.points {
            let cell = entry.0.entry(*t).or_insert((0.0, 0));
            cell.0 += agg.sum;
            cell.1 += agg.count;
            entry.1 = entry.1.max(agg.max);
        }
    }
    acc.into_iter()
        .map(|(k, (steps, max))| {
            let means = steps
                .into_iter()
                .filter(|(_, (_, n))| *n > 0)
                .map(|(t, (sum, n))| (t, sum / n as f64))
                .collect();
            (k, (means, max))
        })
        .collect()
}

fn figure(metric: &str, subject: &str, means: &BTreeMap<i64, f64>, max: f64) -> Option<HostFigure> {
    if means.is_empty() {
        return None;
    }
    Some(HostFigure {
        metric: metric.into(),
        subject: subject.into(),
        avg: means.values().sum::<f64>() / means.len() as f64,
        max,
    })
}

/// CPU busy (1 − mean idle over every CPU), memory used, filesystem used per mountpoint,
/// 1-minute load: each averaged over the range, with its peak.
fn host(store: &Store, from: i64, to: i64) -> Vec<HostFigure> {
    let step = step_for(from, to);
    let mut out = Vec::new();
    // CPU: the idle share per step, averaged over CPUs; its peak is the busiest step.
    let idle = grouped_means(
        store,
        "system.cpu.utilization",
        from,
        to,
        step,
        |l| label(l, "state") == "idle",
        |_| String::new(),
    );
    if let Some((means, _)) = idle.get("") {
        let busy: BTreeMap<i64, f64> = means.iter().map(|(t, v)| (*t, 1.0 - v)).collect();
        let peak = busy.values().copied().fold(f64::NEG_INFINITY, f64::max);
        out.extend(figure("cpu", "", &busy, peak));
    }
    let used = |l: &str| label(l, "state") == "used";
    for (metric, name) in [("memory", "system.memory.utilization")] {
        for (_, (means, max)) in grouped_means(store, name, from, to, step, used, |_| String::new())
        {
            out.extend(figure(metric, "", &means, max));
        }
    }
    for (mount, (means, max)) in grouped_means(
        store,
        "system.filesystem.utilization",
        from,
        to,
        step,
        |_| true,
        |l| label(l, "mountpoint"),
    ) {
        out.extend(figure("filesystem", &mount, &means, max));
    }
    for (_, (means, max)) in grouped_means(
        store,
        "system.cpu.load_average.1m",
        from,
        to,
        step,
        |_| true,
        |_| String::new(),
    ) {
        out.extend(figure("load_1m", "", &means, max));
    }
    out
}
