//! The dispatcher on paused time: grouping and its timers, resolving, routes, limits.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::*;
use crate::core::alert::AlertSink;

// === timing ===

#[tokio::test(start_paused = true)]
async fn group_wait_then_group_interval_then_repeat_interval() {
    let h = harness(
        "{notifiers: [log], group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 1h}",
        &["log"],
        Opts::default(),
    );
    let log = &h.rec["log"];
    h.sink.send("test", alert("Down", &[("instance", "a")]));
    at(29.0).await;
    assert!(log.got().is_empty(), "nothing before group_wait");
    at(2.0).await; // t = 31s
    let got = log.got();
    assert_eq!(got.len(), 1);
    assert_eq!(names(&got[0]), ["a"]);
    assert_eq!(got[0].status, GroupStatus::Firing);
    assert_eq!(got[0].group_labels["alertname"], "Down");
    assert_eq!(got[0].receiver, "log");
    // A second alert of the group waits for the group interval (30s + 5m).
    at(9.0).await; // t = 40s
    h.sink.send("test", alert("Down", &[("instance", "b")]));
    at(288.0).await; // t = 328s
    assert_eq!(log.got().len(), 1, "changes wait for group_interval");
    at(3.0).await; // t = 331s
    let got = log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(names(&got[1]), ["a", "b"]);
    assert_eq!(
        got[1].common_labels.get("alertname").map(String::as_str),
        Some("Down")
    );
    assert!(!got[1].common_labels.contains_key("instance"));
    // Unchanged: looked at every 5m but only re-sent after repeat_interval (1h after 330s).
    at(3000.0).await; // t = 3331s
    assert_eq!(
        log.got().len(),
        2,
        "unchanged groups wait for repeat_interval"
    );
    at(900.0).await; // t = 4231s > 330 + 3600 rounded up to the next group interval (4230s)
    assert_eq!(log.got().len(), 3, "re-sent after repeat_interval");
}

#[tokio::test(start_paused = true)]
async fn old_alert_skips_group_wait() {
    let h = harness(
        "{notifiers: [log], group_wait: 30s}",
        &["log"],
        Opts::default(),
    );
    let mut a = alert("Old", &[]);
    a.starts_at = SystemTime::now() - Duration::from_secs(120);
    h.sink.send("test", a);
    at(0.5).await;
    assert_eq!(h.rec["log"].got().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn resolved_is_sent_once_then_dropped_from_the_group() {
    let h = harness(
        "{notifiers: [log], group_by: [alertname], group_wait: 1s, group_interval: 10s}",
        &["log"],
        Opts::default(),
    );
    let log = &h.rec["log"];
    let a = alert("Down", &[("instance", "a")]);
    h.sink.send("test", a.clone());
    h.sink.send("test", alert("Down", &[("instance", "b")]));
    at(2.0).await;
    assert_eq!(log.got().len(), 1);
    let mut resolved = a.clone();
    resolved.ends_at = Some(SystemTime::now());
    h.sink.send("test", resolved);
    at(10.0).await; // t = 12s > 11s
    let got = log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].status, GroupStatus::Firing, "b still fires");
    assert_eq!(names(&got[1]), ["b", "a"], "firing first");
    assert!(got[1].alerts[1].is_resolved());
    // The resolved alert is gone: the next change lists b alone.
    let mut b_resolved = alert("Down", &[("instance", "b")]);
    b_resolved.ends_at = Some(SystemTime::now());
    h.sink.send("test", b_resolved);
    at(10.0).await;
    let got = log.got();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].status, GroupStatus::Resolved);
    assert_eq!(names(&got[2]), ["b"]);
    // Nothing more: the empty group was removed.
    at(3600.0).await;
    assert_eq!(log.got().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn firing_then_resolved_before_any_notification_sends_nothing() {
    let h = harness(
        "{notifiers: [log], group_wait: 5s}",
        &["log"],
        Opts::default(),
    );
    let a = alert("Blip", &[]);
    h.sink.send("test", a.clone());
    let mut r = a;
    r.ends_at = Some(SystemTime::now());
    h.sink.send("test", r);
    at(60.0).await;
    assert!(h.rec["log"].got().is_empty());
}

#[tokio::test(start_paused = true)]
async fn quiet_alerts_resolve_after_resolve_timeout_and_refreshes_are_deduplicated() {
    let h = harness(
        "{notifiers: [log], group_wait: 1s, group_interval: 10s, repeat_interval: 1h}",
        &["log"],
        Opts {
            resolve_timeout: Duration::from_secs(60),
            ..Opts::default()
        },
    );
    let log = &h.rec["log"];
    let first = alert("Down", &[("instance", "a")]);
    h.sink.send("test", first.clone());
    at(2.0).await;
    assert_eq!(log.got().len(), 1);
    // The source sends it again (a later start, a new annotation): replaced, not re-notified.
    at(48.0).await; // t = 50s
    let mut again = alert("Down", &[("instance", "a")]);
    again
        .annotations
        .insert("summary".into(), "still down".into());
    h.sink.send("test", again);
    at(55.0).await; // t = 105s: 60s after the refresh not yet passed
    assert_eq!(log.got().len(), 1, "an unchanged refresh is no news");
    at(15.0).await; // t = 120s: resolved at 110s, flushed by 121s at the latest
    at(2.0).await;
    let got = log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].status, GroupStatus::Resolved);
    let a = &got[1].alerts[0];
    assert!(a.is_resolved());
    assert_eq!(a.starts_at, first.starts_at, "keeps the first start");
    assert_eq!(
        a.annotations["summary"], "still down",
        "keeps the latest update"
    );
}

// === routes ===

#[tokio::test(start_paused = true)]
async fn the_console_history_gets_each_alert_once_with_its_notifiers_until_resolved() {
    let recent = Arc::new(crate::core::recent::Recent::default());
    // The alert history sinks get each state change once (not each repeat).
    let history = Arc::new(crate::core::alert_history::AlertHistory::default());
    let changes = Arc::new(Changes::default());
    let sink: Arc<dyn crate::core::alert_history::AlertHistorySink> = changes.clone();
    history.register(&sink);
    let h = harness(
        r#"
notifiers: [log]
group_wait: 1s
routes:
  - matchers: ['severity = "critical"']
    notifiers: [am]
    continue: true
  - matchers: ['severity = "critical"']
    notifiers: [hook]
"#,
        &["log", "am", "hook"],
        Opts {
            recent: Some(Arc::clone(&recent)),
            history: Some(Arc::clone(&history)),
            ..Opts::default()
        },
    );
    let mut down = alert("Down", &[("severity", "critical")]);
    down.annotations
        .insert("summary".into(), "the database is down".into());
    for _ in 0..5 {
        h.sink.send("test", down.clone());
        at(0.5).await;
    }
    h.sink.send("test", alert("Other", &[("severity", "info")]));
    at(0.5).await;
    let listed = recent.alerts().listed();
    assert_eq!(listed.items.len(), 2, "{listed:?}");
    let first = listed
        .items
        .iter()
        .find(|a| a.labels["alertname"] == "Down")
        .unwrap();
    assert_eq!(first.state, "firing");
    assert_eq!(first.notifiers, ["am", "hook"]);
    assert_eq!(first.annotations["summary"], "the database is down");
    let other = listed
        .items
        .iter()
        .find(|a| a.labels["alertname"] == "Other")
        .unwrap();
    assert_eq!(
        other.notifiers,
        ["log"],
        "the root's notifier when no route matches"
    );
    let mut resolved = down.clone();
    resolved.ends_at = Some(SystemTime::now());
    h.sink.send("test", resolved);
    at(0.5).await;
    let listed = recent.alerts().listed();
    assert_eq!(listed.items.len(), 2);
    assert_eq!(listed.items[0].labels["alertname"], "Other", "firing first");
    assert_eq!(listed.items[1].state, "resolved");
    assert!(listed.items[1].ends_at_ms.is_some());
    let kept: Vec<(String, &str, Vec<String>)> = changes
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|a| (a.labels["alertname"].clone(), a.state, a.notifiers.clone()))
        .collect();
    let n = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        kept,
        vec![
            ("Down".to_string(), "firing", n(&["am", "hook"])),
            ("Other".to_string(), "firing", n(&["log"])),
            ("Down".to_string(), "resolved", n(&["am", "hook"])),
        ]
    );
}

/// An alert history sink that keeps what it gets.
#[derive(Default)]
struct Changes(std::sync::Mutex<Vec<crate::core::recent::AlertRecord>>);

impl crate::core::alert_history::AlertHistorySink for Changes {
    fn record(&self, alert: &crate::core::recent::AlertRecord) {
        self.0.lock().unwrap().push(alert.clone());
    }
}

#[tokio::test(start_paused = true)]
async fn routes_pick_notifiers_and_continue_goes_on() {
    let h = harness(
        r#"
notifiers: [log]
group_wait: 1s
routes:
  - matchers: ['severity = "critical"']
    notifiers: [am]
    continue: true
  - matchers: ['service.name =~ "check.*"']
    notifiers: [hook]
  - matchers: ['service.name = "checkout"']
    notifiers: [log]
"#,
        &["log", "am", "hook"],
        Opts::default(),
    );
    h.sink.send(
        "test",
        alert(
            "Slow",
            &[("severity", "critical"), ("service.name", "checkout")],
        ),
    );
    at(2.0).await;
    assert_eq!(h.rec["am"].got().len(), 1);
    assert_eq!(h.rec["hook"].got().len(), 1);
    assert!(
        h.rec["log"].got().is_empty(),
        "first match without continue stops"
    );
    assert_ne!(
        h.rec["am"].got()[0].group_key,
        h.rec["hook"].got()[0].group_key
    );
    h.sink.send("test", alert("Other", &[("severity", "info")]));
    at(2.0).await;
    assert_eq!(
        h.rec["log"].got().len(),
        1,
        "no child matched: the root takes it"
    );
    assert_eq!(h.rec["am"].got().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn group_by_everything_makes_one_group_per_alert() {
    let h = harness(
        "{notifiers: [log], group_by: ['...'], group_wait: 1s}",
        &["log"],
        Opts::default(),
    );
    for i in ["a", "b", "c"] {
        h.sink.send("test", alert("Down", &[("instance", i)]));
    }
    at(2.0).await;
    let got = h.rec["log"].got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|n| n.alerts.len() == 1));
}

// === limits ===

#[tokio::test(start_paused = true)]
async fn rate_limit_drops_and_counts() {
    let h = harness(
        "{notifiers: [log], group_by: ['...'], group_wait: 0s}",
        &["log"],
        Opts {
            per_minute: 2,
            ..Opts::default()
        },
    );
    for i in 0..5 {
        h.sink
            .send("src", alert("Down", &[("instance", &i.to_string())]));
    }
    at(1.0).await;
    assert_eq!(h.rec["log"].got().len(), 2);
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_notifications_rate_limited_total{notifier="log"} 3"#
    ));
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_notifications_sent_total{notifier="log"} 2"#
    ));
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_alerts_received_total{source="src"} 5"#
    ));
    at(60.0).await;
    h.sink.send("src", alert("Down", &[("instance", "late")]));
    at(1.0).await;
    assert_eq!(h.rec["log"].got().len(), 3, "the window moved on");
}

#[tokio::test]
async fn full_input_queue_drops_and_counts() {
    let telemetry = Telemetry::new();
    let (tx, _rx) = mpsc::channel(2);
    let sink = Alerting {
        tx,
        telemetry: telemetry.clone(),
    };
    for _ in 0..5 {
        sink.send("src", alert("Down", &[]));
    }
    assert!(metric(
        &telemetry,
        r#"lookout_alerting_alerts_received_total{source="src"} 5"#
    ));
    assert!(metric(
        &telemetry,
        r#"lookout_alerting_alerts_dropped_total{source="src"} 3"#
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stuck_notifier_does_not_hold_the_others() {
    let h = harness(
        "{notifiers: [stuck, log], group_by: ['...'], group_wait: 0s}",
        &["stuck", "log"],
        Opts {
            queue_size: 2,
            blocked: &["stuck"],
            ..Opts::default()
        },
    );
    for i in 0..10 {
        h.sink
            .send("src", alert("Down", &[("instance", &i.to_string())]));
    }
    at(1.0).await;
    assert_eq!(h.rec["log"].got().len(), 10);
    // The ten groups flush in one pass of the dispatcher: two fit the queue, eight are
    // dropped at once, and nothing waits for the stuck attempt.
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_notifications_failed_total{notifier="stuck"} 8"#
    ));
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_what_the_groups_hold_and_then_stops() {
    let h = harness(
        "{notifiers: [log, stuck], group_wait: 1h}",
        &["log", "stuck"],
        Opts {
            blocked: &["stuck"],
            ..Opts::default()
        },
    );
    h.sink.send("test", alert("Down", &[]));
    at(1.0).await;
    assert!(h.rec["log"].got().is_empty());
    h.shutdown.cancel();
    at(0.1).await;
    assert_eq!(
        h.rec["log"].got().len(),
        1,
        "flushed at shutdown, not after group_wait"
    );
    // The stuck delivery is abandoned after the grace period, and counted.
    at(super::super::worker::SHUTDOWN_GRACE.as_secs_f64()).await;
    assert!(metric(
        &h.telemetry,
        r#"lookout_alerting_notifications_failed_total{notifier="stuck"} 1"#
    ));
}

// === evidence ===

/// A trace log source answering `lines` lines for every trace id, and recording what it was
/// asked for.
#[derive(Debug, Default)]
struct Lines {
    lines: usize,
    asked: std::sync::Mutex<Vec<(String, usize)>>,
}

impl crate::core::alert::TraceLogs for Lines {
    fn logs(&self, trace_id: &[u8; 16], max: usize) -> Vec<crate::core::alert::EvidenceLog> {
        let trace = hex::encode(trace_id);
        self.asked.lock().unwrap().push((trace.clone(), max));
        (0..self.lines.min(max))
            .map(|i| crate::core::alert::EvidenceLog {
                trace_id: trace.clone(),
                span_id: String::new(),
                time: SystemTime::UNIX_EPOCH,
                severity: "ERROR".into(),
                body: format!("line {i}"),
            })
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_flushed_alert_carries_the_log_lines_of_its_example_traces_within_bounds() {
    use crate::core::alert::{EvidenceLog, TraceLogs};
    let registry: Arc<TraceLogsRegistry> = Arc::default();
    let source: Arc<dyn TraceLogs> = Arc::new(Lines {
        lines: 100,
        ..Lines::default()
    });
    registry.register(&source);
    let h = harness(
        "{notifiers: [log], group_by: ['...'], group_wait: 1s, group_interval: 10s, repeat_interval: 1m}",
        &["log"],
        Opts {
            trace_logs: Arc::clone(&registry),
            ..Opts::default()
        },
    );
    let ids: Vec<String> = (1..=4u8).map(|i| hex::encode([i; 16])).collect();
    let mut slow = alert("LatencyAnomaly", &[("instance", "slow")]);
    slow.evidence.trace_ids = ids.clone();
    slow.evidence.trace_ids.push("not hex".into());
    let mut kept = alert("LatencyAnomaly", &[("instance", "kept")]);
    kept.evidence.trace_ids = vec![ids[0].clone()];
    kept.evidence.logs = vec![EvidenceLog {
        trace_id: ids[0].clone(),
        span_id: String::new(),
        time: SystemTime::UNIX_EPOCH,
        severity: String::new(),
        body: "from the source".into(),
    }];
    h.sink.send("test", slow.clone());
    h.sink.send("test", kept);
    h.sink.send("test", alert("Down", &[("instance", "bare")]));
    at(2.0).await;
    let got = h.rec["log"].got();
    let find = |instance: &str| {
        got.iter()
            .flat_map(|n| &n.alerts)
            .find(|a| a.labels["instance"] == instance)
            .unwrap_or_else(|| panic!("{instance} notified: {got:#?}"))
            .clone()
    };
    let slow = find("slow");
    let per_trace: Vec<(String, usize)> = ids[..3]
        .iter()
        .map(|t| {
            let n = slow
                .evidence
                .logs
                .iter()
                .filter(|l| &l.trace_id == t)
                .count();
            (t.clone(), n)
        })
        .collect();
    // Ten lines shared out over the first three traces; the fourth is not looked up.
    assert_eq!(
        per_trace,
        [
            (ids[0].clone(), 3),
            (ids[1].clone(), 3),
            (ids[2].clone(), 4)
        ]
    );
    assert_eq!(slow.evidence.logs.len(), 10);
    assert_eq!(
        find("kept").evidence.logs.len(),
        1,
        "a source's own lines stay"
    );
    assert_eq!(find("kept").evidence.logs[0].body, "from the source");
    assert!(find("bare").evidence.logs.is_empty());

    // Without a source (the window's pipelines stopped), alerts go out as they came.
    drop(source);
    let mut later = alert("LatencyAnomaly", &[("instance", "later")]);
    later.evidence.trace_ids = vec![ids[0].clone()];
    h.sink.send("test", later);
    at(2.0).await;
    let got = h.rec["log"].got();
    let later = got
        .iter()
        .flat_map(|n| &n.alerts)
        .find(|a| a.labels["instance"] == "later")
        .expect("later notified");
    assert!(later.evidence.logs.is_empty());
    assert_eq!(later.evidence.trace_ids.len(), 1);

    // The source refreshes the first alert; its repeat notification still shows the lines
    // found while the window held the traces.
    h.sink.send("test", slow);
    at(70.0).await;
    let got = h.rec["log"].got();
    let repeats: Vec<usize> = got
        .iter()
        .flat_map(|n| &n.alerts)
        .filter(|a| a.labels["instance"] == "slow")
        .map(|a| a.evidence.logs.len())
        .collect();
    assert_eq!(repeats, [10, 10], "first and repeat notification");
}
