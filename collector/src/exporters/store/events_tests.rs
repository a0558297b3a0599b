//! Episodes and alert state changes in the store: written, flushed, reopened, kept apart from
//! the other log records, retention, empty ranges, the alert history sink.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lookout_anomaly::{AnomalyKind, KeyHash};
use prost::Message;

use super::config::Limits;
use super::events::{AlertRow, EpisodeRow};
use super::rollup::{HOUR_NS, MINUTE_NS};
use super::segment::Kind;
use super::tests::{T0, config, log, open};
use super::{Store, history};
use crate::core::Signal;
use crate::core::alert_history::{AlertHistory, AlertHistorySink};
use crate::core::recent::AlertRecord;
use crate::processors::latency_anomaly::episodes::{EpisodeEvent, EpisodeStatus};
use crate::processors::latency_anomaly::event_log;

const S0: i64 = T0 / 1_000_000_000;

fn at(ns: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns as u64)
}

/// The request the `latency_anomaly` connector sends for an episode of `checkout GET /cart`
/// that starts at `start` (and ends at `end` when given).
pub(super) fn episode_at(start: i64, end: Option<i64>) -> Vec<u8> {
    episode(start, end)
}

fn episode(start: i64, end: Option<i64>) -> Vec<u8> {
    let e = EpisodeEvent {
        status: if end.is_some() {
            EpisodeStatus::Resolved
        } else {
            EpisodeStatus::Firing
        },
        key: KeyHash(9),
        service: "checkout".into(),
        labels: vec![],
        key_attributes: vec![
            crate::core::otlp_build::attr("service.name", "checkout"),
            crate::core::otlp_build::attr("span.name", "GET /cart"),
        ],
        kind: AnomalyKind::Shift,
        baseline_ms: 10.5,
        max_ratio: 3.25,
        example_trace_ids: vec!["ab".repeat(16)],
        first_example: Some(([0xab; 16], [1; 8])),
        starts_at: at(start),
        ends_at: end.map(at),
    };
    event_log::request(&[e], at(start)).encode_to_vec()
}

fn alert_record(state: &'static str, at_ms: u64) -> AlertRecord {
    AlertRecord {
        fingerprint: "00000000000000aa".into(),
        state,
        labels: [("alertname", "Down"), ("severity", "critical")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: [("summary".to_string(), "the db is down".to_string())].into(),
        starts_at_ms: 1_796_551_500_000,
        ends_at_ms: (state == "resolved").then_some(at_ms),
        updated_at_ms: at_ms,
        notifiers: vec!["hook".into()],
        trace_ids: vec!["cd".repeat(16)],
    }
}

/// The `lookout.alert` record of a state change at `at_ns`.
pub(super) fn alert_at(state: &'static str, at_ns: i64) -> Vec<u8> {
    alert(state, at_ns)
}

fn alert(state: &'static str, at_ns: i64) -> Vec<u8> {
    let ms = (at_ns / MINUTE_NS * 60_000) as u64;
    history::alert_request(&alert_record(state, ms), ms).encode_to_vec()
}

/// An episode firing at T0+5m and resolved at T0+1h10m, an alert firing at T0+7m and
/// resolved at T0+1h12m, and an ordinary log line at T0+6m.
pub(super) fn fill(s: &Store) {
    s.append(Signal::Logs, &episode(T0 + 5 * MINUTE_NS, None))
        .unwrap();
    s.append(Signal::Logs, &log(1, T0 + 6 * MINUTE_NS, "ordinary"))
        .unwrap();
    s.append(Signal::Logs, &alert("firing", T0 + 7 * MINUTE_NS))
        .unwrap();
    s.append(
        Signal::Logs,
        &episode(T0 + 5 * MINUTE_NS, Some(T0 + HOUR_NS + 10 * MINUTE_NS)),
    )
    .unwrap();
    s.append(
        Signal::Logs,
        &alert("resolved", T0 + HOUR_NS + 12 * MINUTE_NS),
    )
    .unwrap();
}

fn both(s: &Store, from: i64, to: i64, limit: usize) -> (Vec<EpisodeRow>, Vec<AlertRow>) {
    (s.episodes(from, to, limit), s.alerts(from, to, limit))
}

#[test]
fn episodes_and_alerts_answer_the_same_from_the_head_segments_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, _t) = open(&c);
    fill(&s);
    let (eps, alerts) = both(&s, S0, S0 + 7200, 100);
    assert_eq!(eps.len(), 2, "{eps:?}");
    let e = &eps[0];
    assert_eq!(e.time_ms, (T0 + 5 * MINUTE_NS) / 1_000_000);
    assert_eq!(
        (e.service.as_str(), e.operation.as_str(), e.kind.as_str()),
        ("checkout", "GET /cart", "shift")
    );
    assert_eq!(e.status, "firing");
    assert_eq!((e.baseline_ms, e.max_ratio), (10.5, 3.25));
    assert_eq!(e.example_trace_ids, vec!["ab".repeat(16)]);
    assert!(e.summary.starts_with("latency anomaly episode firing"));
    assert_eq!(eps[1].status, "resolved");
    assert_eq!(eps[1].time_ms, (T0 + HOUR_NS + 10 * MINUTE_NS) / 1_000_000);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.fingerprint, "00000000000000aa");
    assert_eq!(a.state, "firing");
    assert_eq!(a.labels["alertname"], "Down");
    assert_eq!(a.annotations["summary"], "the db is down");
    assert_eq!(a.starts_at_ms, 1_796_551_500_000);
    assert_eq!(a.ends_at_ms, None);
    assert_eq!(a.notifiers, ["hook"]);
    assert_eq!(a.trace_ids, ["cd".repeat(16)]);
    assert_eq!(a.time_ms, (T0 + 7 * MINUTE_NS) / 1_000_000);
    assert_eq!(alerts[1].state, "resolved");
    assert_eq!(alerts[1].ends_at_ms, Some(alerts[1].time_ms));
    // They are log records too: the episode's joins its example trace.
    assert_eq!(s.trace_logs(&[0xab; 16]).len(), 2);
    // Oldest first, at most `limit`; the range is [from, to).
    assert_eq!(s.episodes(S0, S0 + 7200, 1), eps[..1]);
    assert_eq!(s.alerts(S0 + 3600, S0 + 7200, 10), alerts[1..]);
    let at_5m = S0 + 5 * 60;
    assert_eq!(s.episodes(at_5m, at_5m + 1, 10), eps[..1]);
    assert!(s.episodes(S0, at_5m, 10).is_empty());

    s.flush().unwrap();
    assert_eq!(s.segments(Kind::Events, T0, T0 + 2 * HOUR_NS).len(), 2);
    assert_eq!(both(&s, S0, S0 + 7200, 100), (eps.clone(), alerts.clone()));
    drop(s);
    let (s, _t) = open(&c);
    assert_eq!(both(&s, S0, S0 + 7200, 100), (eps.clone(), alerts.clone()));
    // Compacted (both hours ended): the same again.
    s.compact(T0 + 3 * HOUR_NS).unwrap();
    assert_eq!(both(&s, S0, S0 + 7200, 100), (eps, alerts));
}

#[test]
fn episodes_replay_after_a_crash_and_an_empty_range_answers_empty() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, _t) = open(&c);
    fill(&s);
    let before = both(&s, S0, S0 + 7200, 100);
    drop(s); // no flush: the rows are only in the write-ahead log
    let (s, _t) = open(&c);
    assert_eq!(both(&s, S0, S0 + 7200, 100), before);
    s.flush().unwrap();
    assert_eq!(
        both(&s, S0 + 86_400, S0 + 2 * 86_400, 100),
        (vec![], vec![])
    );
    assert_eq!(both(&s, S0 - 86_400, S0, 100), (vec![], vec![]));
    assert_eq!(both(&s, S0 + 10, S0, 100), (vec![], vec![]), "reversed");
    assert_eq!(both(&s, S0, S0 + 7200, 0), (vec![], vec![]), "limit 0");
}

#[test]
fn episodes_are_found_without_reading_the_log_segments() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, t) = open(&c);
    fill(&s);
    s.flush().unwrap();
    // Garbage in every log segment: an episode query that read one would quarantine it.
    for p in s.segments(Kind::Logs, i64::MIN, i64::MAX) {
        std::fs::write(&p, b"not parquet").unwrap();
    }
    assert_eq!(s.episodes(S0, S0 + 7200, 100).len(), 2);
    assert_eq!(s.alerts(S0, S0 + 7200, 100).len(), 2);
    assert_eq!(
        super::tests::metric(&t, "lookout_store_corrupt_segments_total"),
        0.0
    );
    assert_eq!(s.segments(Kind::Logs, i64::MIN, i64::MAX).len(), 2);
}

#[test]
fn episodes_and_alerts_follow_the_logs_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention.logs = Limits {
        max_age: Some(Duration::from_secs(3600)),
        max_bytes: None,
    };
    let (s, _t) = open(&c);
    fill(&s);
    // At T0+2h+1s, the first hour ended more than an hour ago: its events go.
    s.flush_at(T0 + 2 * HOUR_NS + 1_000_000_000).unwrap();
    let (eps, alerts) = both(&s, S0 - 7200, S0 + 7200, 100);
    assert_eq!(
        eps.iter().map(|e| e.status.as_str()).collect::<Vec<_>>(),
        ["resolved"]
    );
    assert_eq!(
        alerts.iter().map(|a| a.state.as_str()).collect::<Vec<_>>(),
        ["resolved"]
    );
    assert_eq!(s.segments(Kind::Events, i64::MIN, i64::MAX).len(), 1);
}

#[tokio::test]
async fn the_store_keeps_what_the_alert_history_hands_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (s, t) = open(&c);
    let s = Arc::new(s);
    let stop = tokio_util::sync::CancellationToken::new();
    let registry = AlertHistory::default();
    let counter = prometheus_client::metrics::counter::Counter::default();
    let sink: Arc<dyn AlertHistorySink> = history::spawn(Arc::clone(&s), counter, stop.clone());
    registry.register(&sink);
    let ms = (T0 / 1_000_000) as u64;
    registry.record(&alert_record("firing", ms + 1000));
    registry.record(&alert_record("resolved", ms + 2000));
    // Written by the sink's task: wait (bounded) until both are there.
    let mut got = Vec::new();
    for _ in 0..1000 {
        got = s.alerts(S0, S0 + 10, 10);
        if got.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        got.iter()
            .map(|a| (a.state.as_str(), a.time_ms))
            .collect::<Vec<_>>(),
        [
            ("firing", T0 / 1_000_000 + 1000),
            ("resolved", T0 / 1_000_000 + 2000)
        ]
    );
    assert_eq!(
        super::tests::metric(
            &t,
            "lookout_store_written_items_total{exporter=\"store\",signal=\"logs\"}"
        ),
        2.0
    );
    stop.cancel();
}
