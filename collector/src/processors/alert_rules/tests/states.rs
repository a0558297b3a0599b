//! Alert states over time, predictions, the series bound and absence.

use super::*;

// === states: for, keep_firing_for, stale ===

#[test]
fn for_then_keep_firing_for_then_resolved_once() {
    let mut e = engine(FOR_RULE);
    let sink = TestSink::default();
    let step = |e: &mut Engine, t: u64, v: f64| {
        e.apply(&gauge_req("h1", "m", &[], v, at(t)), at(t));
        e.evaluate(at(t), &sink, "alert_rules");
        sink.take()
    };
    assert!(step(&mut e, 0, 6.0).is_empty(), "pending");
    assert!(step(&mut e, 5, 7.0).is_empty(), "still pending");
    let fired = step(&mut e, 10, 8.0);
    assert_eq!(fired.len(), 1);
    let a = &fired[0];
    assert_eq!(a.name(), "TooHigh");
    assert_eq!(a.starts_at, at(0));
    assert!(a.ends_at.is_none());
    assert_eq!(a.labels["severity"], "critical");
    assert_eq!(a.labels["team"], "infra");
    assert_eq!(a.labels["host.name"], "h1");
    assert_eq!(a.annotations["summary"], "8.0 above 5.0 on h1");
    assert_eq!(
        a.evidence.figures,
        vec![("value".into(), 8.0), ("threshold".into(), 5.0)]
    );
    let values: Vec<f64> = a.evidence.values.iter().map(|v| v.1).collect();
    assert_eq!(values, [6.0, 7.0, 8.0], "the for: window's values");
    assert_eq!(step(&mut e, 11, 9.0).len(), 1, "re-sent while firing");
    // Condition false: keeps firing for 5 s after it last held (11).
    assert!(step(&mut e, 12, 1.0)[0].ends_at.is_none());
    assert!(step(&mut e, 15, 1.0)[0].ends_at.is_none());
    let resolved = step(&mut e, 16, 1.0);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].ends_at, Some(at(16)));
    assert!(step(&mut e, 17, 1.0).is_empty(), "resolved is sent once");
    // A pending alert whose condition stops holding is never sent.
    assert!(step(&mut e, 18, 6.0).is_empty());
    assert!(step(&mut e, 19, 1.0).is_empty());
    assert!(
        step(&mut e, 30, 6.0).is_empty(),
        "pending starts over at 30"
    );
}

#[test]
fn a_series_that_stops_reporting_resolves() {
    let mut e = engine(
        "alerting: a\nevaluation_interval: 1s\nstale_after: 5s\nrules:\n  - {alert: Up, metric: m, condition: '> 0'}\n",
    );
    let sink = TestSink::default();
    for t in 0..3 {
        e.apply(&gauge_req("h", "m", &[], 1.0, at(t)), at(t));
        e.evaluate(at(t), &sink, "x");
    }
    assert_eq!(sink.take().len(), 3);
    e.evaluate(at(7), &sink, "x");
    assert!(
        sink.take()[0].ends_at.is_none(),
        "silent for 5 s: not stale yet"
    );
    e.evaluate(at(8), &sink, "x");
    let alerts = sink.take();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].ends_at, Some(at(8)));
    assert!(e.rules[0].series.is_empty());
}

#[test]
fn stale_after_stretches_to_the_series_own_interval() {
    let mut s = Series::new(Default::default(), at(0));
    let p = Point::Number {
        time_ns: 0,
        start_ns: 0,
        value: 1.0,
        cumulative: false,
        delta: false,
    };
    s.observe(p, ValueKind::Gauge, at(60), None);
    assert!(
        !s.is_stale(at(140), Duration::from_secs(25)),
        "reports every 60 s"
    );
    assert!(s.is_stale(at(211), Duration::from_secs(25)));
}

// === predict_linear ===

fn filesystem_fill(horizon: &str) -> Vec<Alert> {
    let mut e = engine(&format!(
        "
alerting: a
evaluation_interval: 1s
stale_after: 5m
rules:
  - alert: FilesystemFullIn
    metric: system.filesystem.utilization
    predict_linear: {{window: 1h, horizon: {horizon}}}
    condition: '>= 1'
"
    ));
    let sink = TestSink::default();
    // A linear fill from 0.6 an hour ago to 0.7 now: 0.1/h, so full (1.0) in 3 h.
    for minute in 0..=60u64 {
        let t = at(minute * 60);
        let v = 0.6 + 0.1 * minute as f64 / 60.0;
        e.apply(
            &gauge_req(
                "h",
                "system.filesystem.utilization",
                &[("mountpoint", "/")],
                v,
                t,
            ),
            t,
        );
        e.evaluate(t, &sink, "x");
    }
    sink.take()
        .into_iter()
        .filter(|a| a.ends_at.is_none())
        .collect()
}

#[test]
fn predict_linear_fires_when_the_trend_crosses_within_the_horizon() {
    let fired = filesystem_fill("4h");
    let last = fired.last().expect("fills within 4 h: fires");
    assert_eq!(last.labels["mountpoint"], "/");
    let predicted = last.evidence.figures[0].1;
    assert!(
        (predicted - 1.1).abs() < 1e-6,
        "0.7 + 4 × 0.1 = {predicted}"
    );
    assert!(
        filesystem_fill("2h").is_empty(),
        "0.9 in 2 h: does not fire"
    );
    // Too few samples predict nothing.
    let s = Series::new(Default::default(), at(0));
    assert_eq!(
        s.predict(at(0), Duration::from_secs(60), Duration::from_secs(60), 5),
        None
    );
}

// === bound ===

#[test]
fn series_beyond_max_series_are_dropped_and_counted() {
    let metrics = Metrics::default();
    let mut c =
        config("alerting: a\nmax_series: 2\nrules:\n  - {alert: B, metric: m, condition: '> 0'}\n");
    c.max_series = 2;
    let mut e = Engine::new(&c, metrics.clone()).unwrap();
    for host in ["a", "b", "c", "d"] {
        e.apply(&gauge_req(host, "m", &[], 1.0, at(0)), at(0));
    }
    // Known series still update.
    e.apply(&gauge_req("a", "m", &[], 2.0, at(1)), at(1));
    assert_eq!(e.rules[0].series.len(), 2);
    assert_eq!(metrics.dropped.get(), 2);
    let sink = TestSink::default();
    e.evaluate(at(1), &sink, "x");
    assert_eq!(metrics.series.get(), 2);
    assert_eq!(metrics.firing.get(), 2);
    assert_eq!(metrics.evaluations.get(), 1);
}

#[test]
fn an_absent_rule_fires_when_a_remembered_group_stops_reporting() {
    let mut e = engine(
        "
alerting: a
evaluation_interval: 1s
stale_after: 3s
rules:
  - alert: ProcessGone
    metric: process.memory.usage
    match: {process.executable.name: [nginx, postgres]}
    aggregate: {op: count, by: [host.name, process.executable.name]}
    absent: true
    condition: '== 1'
    for: 2s
",
    );
    let sink = TestSink::default();
    let report = |e: &mut Engine, t: u64, names: &[&str]| {
        for n in names {
            e.apply(
                &gauge_req(
                    "h1",
                    "process.memory.usage",
                    &[("process.executable.name", n)],
                    1e6,
                    at(t),
                ),
                at(t),
            );
        }
        e.evaluate(at(t), &sink, "x");
        sink.take()
    };
    for t in 0..3 {
        assert!(report(&mut e, t, &["nginx", "postgres", "bash"]).is_empty());
    }
    // nginx exits at 3: stale after 3 s (at 6), then `for: 2s`.
    for t in 3..8 {
        assert!(report(&mut e, t, &["postgres"]).is_empty(), "at {t}");
    }
    let fired = report(&mut e, 8, &["postgres"]);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].labels["process.executable.name"], "nginx");
    assert_eq!(fired[0].labels["host.name"], "h1");
    // Back: resolved.
    let back = report(&mut e, 9, &["postgres", "nginx"]);
    assert_eq!(back.len(), 1);
    assert!(back[0].ends_at.is_some());
    assert!(report(&mut e, 10, &["postgres", "nginx"]).is_empty());
}
