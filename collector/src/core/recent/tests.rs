use std::collections::BTreeMap;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::resource::v1::Resource;
use prost::Message;

use super::logs::{LogLine, MAX_BODY};
use super::*;

fn episode(key: &str, start: u64, end: Option<u64>) -> EpisodeRecord {
    EpisodeRecord {
        source: "latency_anomaly".into(),
        key: key.into(),
        service: "checkout".into(),
        labels: vec![("service".into(), "checkout".into())],
        kind: "shift".into(),
        baseline_ms: 10.0,
        observed_ms: 50.0,
        max_ratio: 5.0,
        example_trace_ids: vec!["ab".repeat(16)],
        starts_at_ms: start,
        ends_at_ms: end,
    }
}

fn alert(fp: &str, at: u64, end: Option<u64>, notifier: &str) -> AlertRecord {
    AlertRecord {
        fingerprint: fp.into(),
        state: if end.is_some() { "resolved" } else { "firing" },
        labels: BTreeMap::from([("alertname".to_string(), fp.to_string())]),
        annotations: BTreeMap::new(),
        starts_at_ms: at,
        ends_at_ms: end,
        updated_at_ms: at,
        notifiers: vec![notifier.into()],
        trace_ids: Vec::new(),
    }
}

#[test]
fn an_episode_opens_then_resolves_in_place_and_open_ones_list_first() {
    let mut h = EpisodeHistory::new(10);
    h.record(episode("a", 1, None));
    h.record(episode("b", 2, None));
    h.record(episode("a", 3, Some(9)));
    assert_eq!(
        h.len(),
        2,
        "the resolution closes the open record of its key"
    );
    let listed = h.listed();
    assert_eq!(listed.items[0].key, "b", "open first");
    assert_eq!(listed.items[1].key, "a");
    assert_eq!(listed.items[1].starts_at_ms, 1, "keeps when it opened");
    assert_eq!(listed.items[1].ends_at_ms, Some(9));
    // A resolution whose opening was not seen is kept, closed.
    h.record(episode("c", 4, Some(5)));
    assert_eq!(h.len(), 3);
    // The same key opening again is a new episode.
    h.record(episode("a", 10, None));
    assert_eq!(h.len(), 4);
    let keys: Vec<_> = h.listed().items.iter().map(|e| e.key.clone()).collect();
    assert_eq!(
        keys,
        ["a", "b", "c", "a"],
        "open newest first, then closed newest first"
    );
}

#[test]
fn an_open_episode_shown_again_refreshes_its_record_in_place() {
    let mut h = EpisodeHistory::new(10);
    h.record(episode("a", 1, None));
    let grown = EpisodeRecord {
        observed_ms: 2_500.0,
        max_ratio: 250.0,
        ..episode("a", 1, None)
    };
    h.record(grown);
    assert_eq!(h.len(), 1, "the same open episode, not a new one");
    let listed = h.listed();
    assert_eq!(listed.items[0].observed_ms, 2_500.0);
    assert_eq!(listed.items[0].max_ratio, 250.0);
    assert_eq!(listed.items[0].ends_at_ms, None, "still open");
}

#[test]
fn a_full_history_evicts_the_oldest_closed_record_and_counts_it() {
    let mut h = EpisodeHistory::new(3);
    h.record(episode("open", 1, None));
    h.record(episode("x", 2, Some(3)));
    h.record(episode("y", 4, Some(5)));
    h.record(episode("z", 6, Some(7)));
    let listed = h.listed();
    assert_eq!(listed.items.len(), 3);
    assert_eq!(listed.evicted, 1);
    let keys: Vec<_> = listed.items.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["open", "z", "y"],
        "the open episode outlives older closed ones"
    );
    // All open: the oldest goes.
    let mut h = EpisodeHistory::new(2);
    for (i, k) in ["a", "b", "c"].iter().enumerate() {
        h.record(episode(k, i as u64, None));
    }
    let keys: Vec<_> = h.listed().items.iter().map(|e| e.key.clone()).collect();
    assert_eq!(keys, ["c", "b"]);
    assert_eq!(h.listed().evicted, 1);
}

#[test]
fn repeated_firing_alerts_take_one_record_until_resolved() {
    let mut h = AlertHistory::new(5);
    for t in 0..100 {
        h.record(alert("high_errors", 10 + t, None, "log"));
    }
    assert_eq!(
        h.len(),
        1,
        "a source re-sending a firing alert adds nothing"
    );
    h.record(alert("high_errors", 500, Some(600), "am"));
    let listed = h.listed();
    assert_eq!(listed.items.len(), 1);
    let a = &listed.items[0];
    assert_eq!(a.state, "resolved");
    assert_eq!(a.starts_at_ms, 10);
    assert_eq!(a.ends_at_ms, Some(600));
    assert_eq!(a.notifiers, ["am", "log"]);
    // Firing again after it resolved: a new record, listed first.
    h.record(alert("high_errors", 700, None, "log"));
    h.record(alert("other", 50, Some(60), "log"));
    let listed = h.listed();
    assert_eq!(listed.items.len(), 3);
    assert_eq!(listed.items[0].state, "firing");
    assert_eq!(listed.items[0].starts_at_ms, 700);
}

fn request(service: &str, records: Vec<LogRecord>) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn record(body: &str, severity_text: &str, trace: Option<u8>) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_700_000_000_123_000_000,
        severity_text: severity_text.into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        trace_id: trace.map(|b| vec![b; 16]).unwrap_or_default(),
        span_id: trace.map(|b| vec![b; 8]).unwrap_or_default(),
        ..Default::default()
    }
}

#[test]
fn the_tail_reads_records_with_service_severity_and_trace() {
    let mut tail = LogTail::new(1 << 20);
    let added = tail
        .add_request(&request(
            "checkout",
            vec![
                record("charged card", "INFO", Some(0xab)),
                record("db timeout", "Error", None),
            ],
        ))
        .unwrap();
    assert_eq!(added, 2);
    let answer = tail.query(&TailQuery::default());
    assert_eq!(answer.lines.len(), 2);
    let first = &answer.lines[0];
    assert_eq!(first.seq, 1);
    assert_eq!(first.service, "checkout");
    assert_eq!(first.time_ms, 1_700_000_000_123);
    assert_eq!(first.severity_number, 9, "derived from the text");
    assert_eq!(first.trace_id.as_deref(), Some("ab".repeat(16).as_str()));
    assert_eq!(first.span_id.as_deref(), Some("ab".repeat(8).as_str()));
    assert_eq!(answer.lines[1].trace_id, None);
    assert_eq!(answer.lines[1].severity_number, 17);
    assert_eq!(answer.next, 2);
    assert!(
        tail.add_request(b"\xff\xff\xff").is_err(),
        "garbage is refused"
    );
    assert_eq!(tail.len(), 2);
}

#[test]
fn the_cursor_returns_only_later_lines_and_filters_apply() {
    let mut tail = LogTail::new(1 << 20);
    tail.add_request(&request("a", vec![record("one", "INFO", None)]))
        .unwrap();
    let first = tail.query(&TailQuery::default());
    tail.add_request(&request(
        "a",
        vec![
            record("Two failed", "ERROR", Some(1)),
            record("three", "DEBUG", None),
        ],
    ))
    .unwrap();
    tail.add_request(&request("b", vec![record("four FAILED", "WARN", None)]))
        .unwrap();
    let after = |q: TailQuery| {
        tail.query(&TailQuery {
            after: Some(first.next),
            ..q
        })
    };
    let all = after(TailQuery::default());
    let bodies: Vec<_> = all.lines.iter().map(|l| l.body.as_str()).collect();
    assert_eq!(bodies, ["Two failed", "three", "four FAILED"]);
    assert_eq!(all.next, 4);
    let service = after(TailQuery {
        service: "b".into(),
        ..Default::default()
    });
    assert_eq!(service.lines.len(), 1);
    assert_eq!(
        service.next, 4,
        "lines filtered out are passed, not asked again"
    );
    let severe = after(TailQuery {
        severity: "warn".into(),
        ..Default::default()
    });
    assert_eq!(severe.lines.len(), 2);
    let text = after(TailQuery {
        contains: "failed".into(),
        severity: "17".into(),
        ..Default::default()
    });
    assert_eq!(text.lines.len(), 1);
    assert_eq!(text.lines[0].body, "Two failed");
    let limited = after(TailQuery {
        limit: Some(1),
        ..Default::default()
    });
    assert_eq!(limited.lines.len(), 1);
    assert_eq!(limited.lines[0].body, "four FAILED", "the newest");
    assert_eq!(limited.skipped, 2, "the older matching lines are counted");
    assert_eq!(limited.next, 4);
    assert_eq!(all.skipped, 0);
    let none = tail.query(&TailQuery {
        after: Some(4),
        ..Default::default()
    });
    assert!(none.lines.is_empty());
    assert_eq!(none.next, 4);
}

#[test]
fn the_tail_stays_under_its_bytes_and_counts_evictions() {
    let line = |body: &str| LogLine {
        seq: 0,
        time_ms: 0,
        service: String::new(),
        severity_number: 0,
        severity: String::new(),
        body: body.into(),
        trace_id: None,
        span_id: None,
    };
    let one = std::mem::size_of::<LogLine>() + 100;
    let mut tail = LogTail::new(one * 10);
    for _ in 0..25 {
        tail.push(line(&"x".repeat(100)));
    }
    let answer = tail.query(&TailQuery {
        after: Some(0),
        limit: Some(1_000),
        ..Default::default()
    });
    assert_eq!(answer.lines.len(), 10);
    assert!(answer.bytes <= answer.max_bytes);
    assert_eq!(answer.evicted, 15);
    assert_eq!(answer.oldest, Some(16));
    assert_eq!(answer.lines[0].seq, 16);
    // A body over the cap is cut.
    let mut tail = LogTail::new(1 << 20);
    tail.add_request(&request("a", vec![record(&"é".repeat(MAX_BODY), "", None)]))
        .unwrap();
    let body = &tail.query(&TailQuery::default()).lines[0].body;
    assert!(body.len() <= MAX_BODY && body.ends_with('…'));
}
