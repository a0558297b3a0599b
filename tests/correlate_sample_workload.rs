//! Whole process: `latency_anomaly` then `correlate` in `mode: sample`, on the benchmark's
//! realistic trace shapes ([`lookout_bench::workload`]: a root and 5–50 children over several
//! services, log-normal durations per operation; after a warm-up, 3 % of traces with one child
//! 10–30 × its usual duration, 1 % with an error span, 1 % with an ERROR log record; every
//! trace with an INFO record on its root). Sent at ~1,000 traces/s over OTLP/gRPC.
//!
//! At the sink ([`lookout_bench::whole::Tally`]): every error and error-log trace arrived whole
//! (every span and record made, none twice), and at least 39 in 40 slow ones — kept because
//! `latency_anomaly` tagged them (the anomaly keep rule, counted under `reason="anomaly"`; a
//! slow trace the detector lets pass is sampled as a normal one); every tagged span
//! the detector counted reached the sink (no tagged trace was dropped); no trace arrived in
//! part; normal traces kept near `normal_percent`; and nothing was decided early (every
//! decision waited for its trace's quiet period).

mod support;

use std::time::{Duration, Instant};

use lookout_bench::whole::Tally;
use lookout_bench::workload::{Class, Mix, Workload};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::sink::Sink;
use support::{Lookout, Metrics, otlp_exporter, otlp_receiver, service};

const TRACES: usize = 4_000;
const WARMUP: u64 = 300;
const NORMAL_PERCENT: f64 = 10.0;

/// Sum of every series of `name` whose labels include all of `labels`.
fn total(m: &Metrics, name: &str, labels: &[&str]) -> f64 {
    m.text()
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[tokio::test]
async fn slow_error_and_error_log_traces_of_the_workload_are_kept_whole() {
    let sink = Sink::start().await;
    let port = sink.port;
    let lookout = Lookout::start(|p| {
        format!(
            "{}processors:\n  latency_anomaly:\n    min_samples: 50\n    sequential_min_samples: 100\n\
             \x20 correlate:\n    mode: sample\n    quiet_period: 1s\n    max_wait: 20s\n    normal_percent: {NORMAL_PERCENT}\n\
             exporters:\n{}{}",
            otlp_receiver(p, "", ""),
            otlp_exporter("otlp", port, "none"),
            service(
                p,
                "    traces:\n      receivers: [otlp]\n      processors: [latency_anomaly, correlate]\n      exporters: [otlp]\n\
                 \x20   logs:\n      receivers: [otlp]\n      processors: [correlate]\n      exporters: [otlp]\n"
            )
        )
    })
    .await;

    let channel = tonic::transport::Endpoint::from_shared(lookout.grpc_url())
        .expect("endpoint")
        .timeout(Duration::from_secs(20))
        .connect()
        .await
        .expect("connect");
    let mut traces = TraceServiceClient::new(channel.clone());
    let mut logs = LogsServiceClient::new(channel);
    let mix = Mix {
        slow_percent: 3.0,
        error_percent: 1.0,
        error_log_percent: 1.0,
        logs: true,
        warmup_traces: WARMUP,
    };
    let mut workload = Workload::new(mix, 12);
    let mut made = Vec::new();
    let started = Instant::now();
    while made.len() < TRACES {
        // ~10 traces per request, one request every 10 ms.
        let due = started + Duration::from_millis(10 * (made.len() / 10) as u64);
        tokio::time::sleep_until(due.into()).await;
        let (t, l, m) = workload.batch(250, now_ns());
        traces.export(t).await.expect("trace export accepted");
        logs.export(l.expect("logs"))
            .await
            .expect("logs export accepted");
        made.extend(m);
    }
    let count = |c: Class| made.iter().filter(|m| m.class == c).count();
    let spans: usize = made.iter().map(|m| m.spans).sum();
    eprintln!(
        "made {} traces ({spans} spans): {} slow, {} error, {} error-log",
        made.len(),
        count(Class::Slow),
        count(Class::Error),
        count(Class::ErrorLog)
    );
    assert!(count(Class::Slow) >= 50 && count(Class::Error) >= 15 && count(Class::ErrorLog) >= 15);

    let decided = "lookout_correlate_sample_traces_total";
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let m = lookout.metrics().await;
        if total(&m, decided, &[]) >= made.len() as f64
            && total(&m, "lookout_correlate_sample_held_traces", &[]) == 0.0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every trace decided in time\n{}\n{}",
            m.text(),
            lookout.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the exporter deliver what was kept.
    let m = lookout.metrics().await;
    let dropped = total(
        &m,
        "lookout_correlate_sample_dropped_items_total",
        &["item=\"spans\""],
    );
    let expected = spans as f64 - dropped;
    let deadline = Instant::now() + Duration::from_secs(30);
    while (sink.span_count() as f64) < expected {
        assert!(
            Instant::now() < deadline,
            "{} of {expected} kept spans delivered",
            sink.span_count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = lookout.metrics().await;

    let mut tally = Tally::new();
    for r in sink.traces() {
        // The test sink keeps no arrival times: only completeness is checked here (the
        // benchmark's sink times each root's arrival).
        tally.add_traces(&r, now_ns());
    }
    for r in sink.logs() {
        tally.add_logs(&r);
    }
    let report = tally.report();
    eprintln!("{report:#}");
    let class = |c: Class, k: &str| report["classes"][c.label()][k].as_u64().unwrap_or(0);
    // A slow trace is kept because the detector tagged it; the detector is a statistical
    // test and may let one in forty pass as normal (the detector of 2026-12-06 tags 120 of
    // this workload's 121): those are sampled like normal traces, never cut.
    let slow = count(Class::Slow) as u64;
    assert!(
        class(Class::Slow, "whole") >= slow - slow / 40,
        "slow traces kept whole: {} of {slow}: {report:#}",
        class(Class::Slow, "whole")
    );
    for c in [Class::Error, Class::ErrorLog] {
        assert_eq!(
            class(c, "whole"),
            count(c) as u64,
            "every {} trace kept whole: {report:#}",
            c.label()
        );
    }
    for c in Class::ALL {
        assert_eq!(class(c, "partial"), 0, "no {} trace in part", c.label());
    }
    assert_eq!(report["rootless_traces"], 0);
    assert_eq!(report["tagged"]["partial"], 0);
    assert!(
        report["tagged"]["whole"].as_u64().unwrap_or(0) >= class(Class::Slow, "whole"),
        "the slow traces kept were tagged by latency_anomaly: {report:#}"
    );
    let tagged = total(&m, "lookout_latency_anomaly_tagged_spans_total", &[]);
    assert_eq!(
        report["tagged_spans"].as_f64(),
        Some(tagged),
        "every span latency_anomaly tagged reached the sink"
    );
    let by_anomaly = total(&m, decided, &["decision=\"kept\"", "reason=\"anomaly\""]);
    assert!(
        by_anomaly >= count(Class::Slow) as f64,
        "{by_anomaly} traces kept by the anomaly rule"
    );
    assert_eq!(
        total(&m, "lookout_correlate_sample_early_decisions_total", &[]),
        0.0,
        "nothing decided early"
    );
    let normal = count(Class::Normal) as f64;
    let kept_normal = class(Class::Normal, "whole") as f64;
    let p = NORMAL_PERCENT / 100.0;
    let sigma = (normal * p * (1.0 - p)).sqrt();
    // Normal traces tagged by the detector (false positives) are kept too, by the anomaly rule.
    let tagged_normal = by_anomaly - count(Class::Slow) as f64;
    assert!(
        (kept_normal - tagged_normal.max(0.0) - normal * p).abs() <= 4.0 * sigma + 1.0,
        "{kept_normal} of {normal} normal traces kept ({tagged_normal} by anomaly)"
    );
    let delay_sum = total(
        &m,
        "lookout_correlate_sample_decision_delay_microseconds_total",
        &[],
    );
    eprintln!(
        "kept {kept_normal} of {normal} normal; mean decision delay after the root's arrival {:.3} s",
        delay_sum / 1e6 / total(&m, decided, &[])
    );
    lookout.stop_ok().await;
}
