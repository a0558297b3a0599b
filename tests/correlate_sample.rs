//! Whole process: `correlate` in `mode: sample` between the OpenTelemetry Python SDK (spans
//! over OTLP/gRPC) and an OTLP sink, with error log lines tailed from a file.
//!
//! 1000 traces of four spans: every 20th has an error span, every 20th (others) an error log
//! line on its root, written before the spans exist. After every trace is decided, one late
//! span is sent for each error trace and for 100 normal ones. At the sink: every error and
//! error-log trace whole (its late span included, its log line too, its root counting the
//! line), every normal trace whole or absent (its late span with it), and the kept fraction of
//! normal traces within 4 sigma of `normal_percent`.
//!
//! Needs `LOOKOUT_PYTHON` (set by `.ci/run`); fails without it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use lookout_proto::otlp::common::v1::any_value::Value;
use support::sink::Sink;
use support::{Lookout, otlp_exporter, otlp_receiver, python, python_dir, service};

const TRACES: u64 = 1000;
const EVERY: u64 = 20;
const NORMAL_PERCENT: f64 = 10.0;

fn trace_id(i: u64) -> Vec<u8> {
    let mut id = 0x5A4D_0000_0000_0000u64.to_be_bytes().to_vec();
    id.extend((i + 1).to_be_bytes());
    id
}

fn span_id(i: u64, k: u64) -> Vec<u8> {
    (0x2000 + 16 * i + k).to_be_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn is_error(i: u64) -> bool {
    i.is_multiple_of(EVERY)
}

fn has_error_log(i: u64) -> bool {
    i % EVERY == EVERY / 2
}

/// Sum of every series of a counter.
fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn run_python(args: &[String]) {
    let output = tokio::process::Command::new(python(false))
        .arg(python_dir().join("sample_spans.py"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run sample_spans.py");
    assert!(
        output.status.success(),
        "sample_spans.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn wait_metric(lookout: &Lookout, what: &str, done: impl Fn(&str) -> bool) {
    for _ in 0..600 {
        let metrics = lookout.metrics().await;
        if done(metrics.text()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for {what}\n{}\n{}",
        lookout.metrics().await.text(),
        lookout.logs()
    );
}

#[tokio::test]
async fn anomalous_and_error_traces_are_kept_whole_and_normal_ones_sampled() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let include = log.display().to_string();
    let sink_port = sink.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}  filelog:\n    include: [{include}]\n    start_at: beginning\n    poll_interval: 50ms\n    operators:\n      - type: json_parser\n        severity: {{parse_from: attributes.level}}\n      - type: trace_parser\n\
             processors:\n  correlate:\n    mode: sample\n    quiet_period: 1s\n    max_wait: 20s\n    normal_percent: {NORMAL_PERCENT}\n\
             exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", sink_port, "none"),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [otlp]\n\
                 \x20   logs:\n      receivers: [filelog]\n      processors: [correlate]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;

    // Error lines first: their traces are held, waiting for spans.
    let logged: Vec<u64> = (0..TRACES).filter(|i| has_error_log(*i)).collect();
    {
        let mut file = std::fs::File::create(&log).expect("create the log");
        for i in &logged {
            let line = serde_json::json!({
                "msg": format!("failed {i}"),
                "level": "error",
                "trace_id": hex(&trace_id(*i)),
                "span_id": hex(&span_id(*i, 1)),
            });
            writeln!(file, "{line}").expect("write a line");
        }
    }
    let held = "lookout_correlate_sample_held_traces";
    wait_metric(&lookout, "the error lines held", |m| {
        total(m, held) >= logged.len() as f64
    })
    .await;
    assert_eq!(sink.log_count(), 0, "lines wait for their trace's decision");

    let endpoint = format!("127.0.0.1:{}", lookout.ports.grpc);
    run_python(&[
        "--endpoint".into(),
        endpoint.clone(),
        "--traces".into(),
        TRACES.to_string(),
        "--error-every".into(),
        EVERY.to_string(),
    ])
    .await;
    let decided = "lookout_correlate_sample_traces_total";
    wait_metric(&lookout, "every trace decided", |m| {
        total(m, decided) >= TRACES as f64 && total(m, held) == 0.0
    })
    .await;

    // Late spans, after the decisions.
    let late: Vec<u64> = (0..TRACES)
        .filter(|i| is_error(*i) || has_error_log(*i) || *i % 9 == 1)
        .collect();
    let list: Vec<String> = late.iter().map(u64::to_string).collect();
    run_python(&[
        "--endpoint".into(),
        endpoint,
        "--late".into(),
        list.join(","),
    ])
    .await;
    wait_metric(&lookout, "the late spans", |m| {
        total(m, "lookout_correlate_sample_late_items_total") >= late.len() as f64
    })
    .await;
    let metrics = lookout.metrics().await;
    let kept_late = metrics.value(
        "lookout_correlate_sample_late_items_total",
        &[
            ("processor", "correlate"),
            ("item", "spans"),
            ("decision", "kept"),
        ],
    );

    // Spans at the sink, by trace.
    let mut by_trace: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> = BTreeMap::new();
    let mut root_logs: BTreeMap<Vec<u8>, (i64, i64)> = BTreeMap::new();
    let mut waited = 0;
    loop {
        by_trace.clear();
        let mut count = 0;
        for request in sink.traces() {
            for rs in request.resource_spans {
                for ss in rs.scope_spans {
                    for s in ss.spans {
                        count += 1;
                        let int = |k: &str| {
                            s.attributes.iter().find(|kv| kv.key == k).and_then(|kv| {
                                match kv.value.as_ref()?.value {
                                    Some(Value::IntValue(v)) => Some(v),
                                    _ => None,
                                }
                            })
                        };
                        if let (Some(n), Some(e)) =
                            (int("lookout.logs.count"), int("lookout.logs.error_count"))
                        {
                            root_logs.insert(s.span_id.clone(), (n, e));
                        }
                        by_trace
                            .entry(s.trace_id.clone())
                            .or_default()
                            .insert(s.span_id);
                    }
                }
            }
        }
        let kept_traces_spans: usize = by_trace.values().map(BTreeSet::len).sum();
        let expected = by_trace.len() * 4 + kept_late as usize;
        if kept_traces_spans == expected && count == expected || waited >= 100 {
            assert_eq!(count, kept_traces_spans, "no span twice");
            break;
        }
        waited += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut normal = 0u64;
    let mut normal_kept = 0u64;
    for i in 0..TRACES {
        let whole: BTreeSet<Vec<u8>> = (1..=4).map(|k| span_id(i, k)).collect();
        let mut with_late = whole.clone();
        if late.contains(&i) {
            with_late.insert(span_id(i, 9));
        }
        let got = by_trace.get(&trace_id(i));
        if is_error(i) || has_error_log(i) {
            assert_eq!(
                got,
                Some(&with_late),
                "trace {i} kept whole, its late span too"
            );
        } else {
            normal += 1;
            match got {
                None => {}
                Some(spans) => {
                    assert_eq!(spans, &with_late, "normal trace {i} kept whole");
                    normal_kept += 1;
                }
            }
        }
    }
    for i in &logged {
        assert_eq!(
            root_logs.get(&span_id(*i, 1)),
            Some(&(1, 1)),
            "root of trace {i} counts its error line"
        );
    }
    let q = NORMAL_PERCENT / 100.0;
    let mean = normal as f64 * q;
    let sigma = (normal as f64 * q * (1.0 - q)).sqrt();
    assert!(
        (normal_kept as f64 - mean).abs() <= 4.0 * sigma,
        "normal traces kept: {normal_kept} of {normal}, expected {mean} ± {}",
        4.0 * sigma
    );

    // The error lines left with their traces.
    assert_eq!(sink.log_count(), logged.len(), "{}", lookout.logs());
    let mut log_traces = BTreeSet::new();
    for request in sink.logs() {
        for rl in request.resource_logs {
            let service = rl
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref()?.value.clone());
            assert_eq!(
                service,
                Some(Value::StringValue("cart".into())),
                "a released line is enriched from its kept spans"
            );
            for sl in rl.scope_logs {
                for r in sl.log_records {
                    log_traces.insert(r.trace_id);
                }
            }
        }
    }
    let expected: BTreeSet<Vec<u8>> = logged.iter().map(|i| trace_id(*i)).collect();
    assert_eq!(log_traces, expected);

    let metrics = lookout.metrics().await;
    let kept = total(metrics.text(), decided)
        - metrics.value(
            decided,
            &[
                ("processor", "correlate"),
                ("decision", "dropped"),
                ("reason", "normal"),
            ],
        );
    let delay_sum = metrics.value(
        "lookout_correlate_sample_decision_delay_microseconds_total",
        &[("processor", "correlate")],
    );
    let delayed = metrics.value(
        "lookout_correlate_sample_decision_delay_bucket_total",
        &[("processor", "correlate"), ("le", "+Inf")],
    );
    eprintln!(
        "kept {kept} of {TRACES} traces ({normal_kept} of {normal} normal); mean decision delay after the root {:.3} s",
        delay_sum / delayed.max(1.0) / 1e6
    );
    lookout.stop_ok().await;
}
