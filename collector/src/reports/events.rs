//! Anomaly episodes ranked by impact, and alerts fired, from the store's event records
//! (`Store::episodes`, `Store::alerts`).
//!
//! An episode's impact is the latency it added: (mean duration of its key's requests
//! during the episode − the detector's baseline) × those requests, from the minute RED
//! rollups of its service and operation. The largest impact is "fix this first".

use std::collections::BTreeMap;

use super::gather::NS_PER_MS;
use super::model::{AlertSummary, EpisodeSummary};
use crate::exporters::store::{HOUR_NS, MINUTE_NS, RedRow, Store};

/// How far before the range episode records are read (an episode open at its start).
const EPISODE_LOOKBACK: i64 = HOUR_NS;

/// Episodes and alert records read at most.
pub(crate) const MAX_EVENTS: usize = 10_000;

/// One stored episode record (a firing or a resolved one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EpisodeEvent {
    pub time_ms: i64,
    pub service: String,
    pub operation: String,
    pub kind: String,
    pub status: String,
    pub baseline_ms: f64,
    pub max_ratio: f64,
    pub example_trace_ids: Vec<String>,
    pub summary: String,
}

/// Pairs firing and resolved records per (service, operation, kind) into episodes, measures
/// their impact from `red` and ranks them, largest first. An episode still firing at
/// `to_ms` ends there for its impact.
pub(crate) fn rank(events: &[EpisodeEvent], red: &[RedRow], to_ms: i64) -> Vec<EpisodeSummary> {
    let mut open: BTreeMap<(String, String, String), EpisodeSummary> = BTreeMap::new();
    let mut done: Vec<EpisodeSummary> = Vec::new();
    for e in events {
        let key = (e.service.clone(), e.operation.clone(), e.kind.clone());
        if e.status == "resolved" {
            let mut ep = open.remove(&key).unwrap_or_else(|| summary(e, None));
            ep.end_ms = Some(e.time_ms);
            ep.max_ratio = ep.max_ratio.max(e.max_ratio);
            if !e.summary.is_empty() {
                ep.summary = e.summary.clone();
            }
            done.push(ep);
        } else if let Some(ep) = open.get_mut(&key) {
            ep.max_ratio = ep.max_ratio.max(e.max_ratio);
        } else {
            open.insert(key, summary(e, Some(e.time_ms)));
        }
    }
    done.extend(open.into_values());
    for ep in &mut done {
        let end = ep.end_ms.unwrap_or(to_ms);
        let (count, sum_ns) = red
            .iter()
            .filter(|r| {
                r.service == ep.service
                    && (ep.operation.is_empty() || r.operation == ep.operation)
                    && r.minute + MINUTE_NS > ep.start_ms * NS_PER_MS
                    && r.minute < end * NS_PER_MS
            })
            .fold((0u64, 0i64), |(c, s), r| {
                (c + r.count, s.saturating_add(r.dur_sum))
            });
        ep.requests = count;
        if count > 0 {
            ep.observed_ms = sum_ns as f64 / count as f64 / 1e6;
            ep.extra_latency_s = (ep.observed_ms - ep.baseline_ms).max(0.0) * count as f64 / 1e3;
        }
    }
    done.sort_by(|a, b| {
        b.extra_latency_s
            .total_cmp(&a.extra_latency_s)
            .then(a.start_ms.cmp(&b.start_ms))
    });
    for (i, ep) in done.iter_mut().enumerate() {
        ep.rank = i + 1;
    }
    done
}

fn summary(e: &EpisodeEvent, start: Option<i64>) -> EpisodeSummary {
    EpisodeSummary {
        rank: 0,
        service: e.service.clone(),
        operation: e.operation.clone(),
        kind: e.kind.clone(),
        // A resolved record without its firing one: the episode began before the range.
        start_ms: start.unwrap_or(e.time_ms),
        end_ms: None,
        baseline_ms: e.baseline_ms,
        max_ratio: e.max_ratio,
        requests: 0,
        observed_ms: 0.0,
        extra_latency_s: 0.0,
        example_trace_ids: e.example_trace_ids.clone(),
        summary: e.summary.clone(),
    }
}

/// One alert record as the report lists it.
pub(crate) fn alert(
    time_ms: i64,
    state: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> AlertSummary {
    AlertSummary {
        time_ms,
        alertname: labels.get("alertname").cloned().unwrap_or_default(),
        state: state.to_string(),
        labels: labels.clone(),
        summary: annotations
            .get("summary")
            .or_else(|| annotations.get("description"))
            .cloned()
            .unwrap_or_default(),
    }
}

/// Episodes and alerts of `[from, to)` (unix nanoseconds) from the store. The episodes
/// are read from an hour before `from`, so that one already firing when the range starts
/// counts from where the range starts.
pub(crate) fn gather(
    store: &Store,
    red: &[RedRow],
    from: i64,
    to: i64,
    notes: &mut Vec<String>,
) -> (Vec<EpisodeSummary>, Vec<AlertSummary>) {
    let s = |ns: i64| ns.div_euclid(1_000_000_000);
    let (from_ms, to_ms) = (from / NS_PER_MS, to / NS_PER_MS);
    let rows = store.episodes(s(from - EPISODE_LOOKBACK), s(to), MAX_EVENTS);
    if rows.len() >= MAX_EVENTS {
        notes.push(format!(
            "more than {MAX_EVENTS} episode records: the first {MAX_EVENTS} are ranked"
        ));
    }
    let events: Vec<EpisodeEvent> = rows
        .into_iter()
        .map(|r| EpisodeEvent {
            time_ms: r.time_ms,
            service: r.service,
            operation: r.operation,
            kind: r.kind,
            status: r.status,
            baseline_ms: r.baseline_ms,
            max_ratio: r.max_ratio,
            example_trace_ids: r.example_trace_ids,
            summary: r.summary,
        })
        .collect();
    let episodes = rank(&events, red, to_ms)
        .into_iter()
        .filter(|e| e.end_ms.is_none_or(|end| end >= from_ms))
        .map(|mut e| {
            e.start_ms = e.start_ms.max(from_ms);
            e
        })
        .collect::<Vec<_>>();
    // Ranks again after the range cut.
    let mut episodes = episodes;
    for (i, e) in episodes.iter_mut().enumerate() {
        e.rank = i + 1;
    }
    let alerts = store
        .alerts(s(from), s(to), MAX_EVENTS)
        .iter()
        .map(|a| alert(a.time_ms, &a.state, &a.labels, &a.annotations))
        .collect();
    (episodes, alerts)
}
