//! Config, matchers, aggregation and values.

use super::*;

// === config and rules ===

#[test]
fn config_parses_the_brief_example_and_refuses_unknown_keys() {
    let c: AlertRulesConfig =
        serde_yaml_ng::from_str(include_str!("../testdata/rules.yaml")).unwrap();
    crate::component::Validate::validate(&c).unwrap();
    assert_eq!(c.rules.len(), 2);
    let all = c.all_rules().unwrap();
    assert!(all.iter().any(|r| r.alert == "HttpCheckFailing"));
    assert!(all.iter().any(|r| r.alert == "HighCpu"));
    let bad = serde_yaml_ng::from_str::<AlertRulesConfig>(
        "alerting: a\nrules:\n  - {alert: X, metric: m, condition: '> 1', sevrity: x}\n",
    );
    assert!(bad.unwrap_err().to_string().contains("unknown field"));
    let c = config("alerting: a\nrules:\n  - {alert: X, metric: m, condition: '>> 1'}\n");
    let err = crate::component::Validate::validate(&c).unwrap_err();
    assert!(err.contains("rules[0] (X): condition"), "{err}");
    let c = config("rules: []\n");
    assert!(
        crate::component::Validate::validate(&c)
            .unwrap_err()
            .contains("alerting")
    );
}

#[test]
fn conditions_and_value_kinds_parse() {
    let c = Condition::parse(">= 1").unwrap();
    assert!(c.holds(1.0) && !c.holds(0.99));
    assert!(Condition::parse("!= 0").unwrap().holds(2.0));
    assert!(!Condition::parse("!= 0").unwrap().holds(f64::NAN));
    assert!(Condition::parse("<0.5").unwrap().holds(0.1));
    assert!(Condition::parse("== 3").unwrap().holds(3.0));
    assert!(Condition::parse("~ 3").is_err());
    let rule = |value: &str| {
        let c = config(&format!(
            "rules:\n  - {{alert: X, metric: m, condition: '> 1', value: '{value}'}}\n"
        ));
        Rule::compile(&c.rules[0]).map(|r| r.value)
    };
    assert_eq!(rule("p95").unwrap(), ValueKind::Quantile(0.95));
    assert_eq!(rule("rate").unwrap(), ValueKind::Rate);
    assert!(rule("p100").is_err() && rule("avg").is_err());
}

#[test]
fn default_rules_compile_and_read_metrics_lookout_produces() {
    use crate::receivers::hostmetrics::scrapers::{cpu, filesystem, load, memory};
    let produced: Vec<&str> = [
        cpu::METRICS,
        filesystem::METRICS,
        load::METRICS,
        memory::METRICS,
    ]
    .iter()
    .flat_map(|m| m.iter().map(|(n, _)| *n))
    .chain(["httpcheck.error", "httpcheck.status", "httpcheck.duration"])
    .collect();
    let rules = default_rules().unwrap();
    assert!(rules.len() >= 8);
    for r in &rules {
        Rule::compile(r).unwrap();
        assert!(
            produced.contains(&r.metric.as_str()),
            "{} reads {}",
            r.alert,
            r.metric
        );
    }
}

// === matchers ===

#[test]
fn matchers_test_resource_and_point_attributes() {
    let mut e = engine(
        "
alerting: a
rules:
  - alert: M
    metric: m
    match: {state: [idle, wait], host.name: '=~web-.*', mode: '!=ro', type: '!~tmp.*', absent: ''}
    condition: '> 0'
",
    );
    let t = at(0);
    e.apply(
        &gauge_req(
            "web-1",
            "m",
            &[("state", "idle"), ("mode", "rw"), ("type", "ext4")],
            1.0,
            t,
        ),
        t,
    );
    e.apply(&gauge_req("web-2", "m", &[("state", "wait")], 1.0, t), t);
    e.apply(&gauge_req("db-1", "m", &[("state", "idle")], 1.0, t), t);
    e.apply(&gauge_req("web-3", "m", &[("state", "user")], 1.0, t), t);
    e.apply(
        &gauge_req("web-4", "m", &[("state", "idle"), ("mode", "ro")], 1.0, t),
        t,
    );
    e.apply(
        &gauge_req(
            "web-5",
            "m",
            &[("state", "idle"), ("type", "tmpfs")],
            1.0,
            t,
        ),
        t,
    );
    e.apply(
        &gauge_req(
            "web-6",
            "m",
            &[("state", "idle"), ("absent", "here")],
            1.0,
            t,
        ),
        t,
    );
    let mut hosts: Vec<String> = e.rules[0]
        .series
        .values()
        .map(|s| s.labels["host.name"].clone())
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["web-1", "web-2"]);
}

// === aggregation ===

#[test]
fn aggregation_groups_by_labels() {
    let t = at(0);
    for (op, want) in [
        ("avg", 0.25),
        ("max", 0.4),
        ("min", 0.1),
        ("sum", 0.5),
        ("count", 2.0),
    ] {
        let mut e = engine(&format!(
            "alerting: a\nrules:\n  - {{alert: A, metric: cpu, aggregate: {{op: {op}, by: [host.name]}}, condition: '>= 0'}}\n"
        ));
        for (host, cpu, v) in [("a", "0", 0.1), ("a", "1", 0.4), ("b", "0", 0.9)] {
            e.apply(&gauge_req(host, "cpu", &[("cpu", cpu)], v, t), t);
        }
        let sink = TestSink::default();
        e.evaluate(t, &sink, "alert_rules");
        let alerts = sink.take();
        assert_eq!(alerts.len(), 2, "{op}");
        let a = alerts
            .iter()
            .find(|a| a.labels["host.name"] == "a")
            .unwrap();
        assert_eq!(a.evidence.figures[0], ("value".to_string(), want), "{op}");
        // Only the `by` labels, the rule's and the alert's own.
        let keys: Vec<&str> = a.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["alertname", "host.name", "severity"]);
    }
}

// === values: rate, delta, quantile ===

#[test]
fn rate_and_delta_are_reset_aware() {
    let mut s = Series::new(Default::default(), at(0));
    let cum = |t: u64, v: f64| Point::Number {
        time_ns: nanos(at(t)),
        start_ns: nanos(at(0)),
        value: v,
        cumulative: true,
        delta: false,
    };
    s.observe(cum(10, 100.0), ValueKind::Rate, at(10), None);
    assert_eq!(s.value, None, "a rate needs two points");
    s.observe(cum(20, 160.0), ValueKind::Rate, at(20), None);
    assert_eq!(s.value, Some(6.0));
    // The same point again (two pipelines of one instance, a retry) changes nothing.
    s.observe(cum(20, 160.0), ValueKind::Rate, at(21), None);
    assert_eq!(s.value, Some(6.0));
    // The counter restarted: 30 since the reset, over 10 s.
    s.observe(cum(30, 30.0), ValueKind::Rate, at(30), None);
    assert_eq!(s.value, Some(3.0));
    s.observe(cum(40, 50.0), ValueKind::Delta, at(40), None);
    assert_eq!(s.value, Some(20.0));
    // A new start time after the previous point is a reset too, even if the value grew.
    s.observe(
        Point::Number {
            time_ns: nanos(at(50)),
            start_ns: nanos(at(45)),
            value: 70.0,
            cumulative: true,
            delta: false,
        },
        ValueKind::Delta,
        at(50),
        None,
    );
    assert_eq!(s.value, Some(70.0));
    // A delta point is its own increase, over its own interval.
    let mut d = Series::new(Default::default(), at(0));
    d.observe(
        Point::Number {
            time_ns: nanos(at(10)),
            start_ns: nanos(at(5)),
            value: 20.0,
            cumulative: false,
            delta: true,
        },
        ValueKind::Rate,
        at(10),
        None,
    );
    assert_eq!(d.value, Some(4.0));
}

#[test]
fn rate_rule_fires_on_a_cumulative_sum() {
    let mut e = engine(
        "alerting: a\nevaluation_interval: 1s\nrules:\n  - {alert: Errors, metric: errors, value: rate, condition: '> 1'}\n",
    );
    let sink = TestSink::default();
    for (t, v) in [(0, 0), (10, 5), (20, 30)] {
        let req = request(
            vec![],
            vec![sum(
                "errors",
                "",
                "1",
                true,
                times(at(t)),
                vec![(vec![], Num::Int(v))],
            )],
        );
        e.apply(&req, at(t));
        e.evaluate(at(t), &sink, "x");
    }
    let alerts = sink.take();
    assert_eq!(alerts.len(), 1, "0.5/s then 2.5/s: {alerts:?}");
    assert_eq!(alerts[0].evidence.figures[0].1, 2.5);
}

#[test]
fn quantile_interpolates_within_the_bucket() {
    // Buckets (-inf,10], (10,20], (20,40], (40,+inf): 10, 60, 20, 10.
    let bounds = [10.0, 20.0, 40.0];
    let counts = [10, 60, 20, 10];
    assert_eq!(
        quantile(0.5, &bounds, &counts),
        Some(10.0 + 10.0 * 40.0 / 60.0)
    );
    assert_eq!(quantile(0.1, &bounds, &counts), Some(10.0));
    assert_eq!(
        quantile(0.95, &bounds, &counts),
        Some(40.0),
        "overflow bucket reads as the top bound"
    );
    assert_eq!(quantile(0.5, &bounds, &[0, 0, 0, 0]), None);
    // Over the last interval of a cumulative histogram.
    let mut s = Series::new(Default::default(), at(0));
    let h = |t: u64, counts: &'static [u64]| Point::Histogram {
        time_ns: nanos(at(t)),
        bounds: &[10.0, 20.0, 40.0],
        counts,
        cumulative: true,
    };
    s.observe(h(1, &[100, 0, 0, 0]), ValueKind::Quantile(0.5), at(1), None);
    assert_eq!(s.value, Some(5.0));
    s.observe(
        h(2, &[100, 0, 10, 0]),
        ValueKind::Quantile(0.5),
        at(2),
        None,
    );
    assert_eq!(s.value, Some(30.0));
}
