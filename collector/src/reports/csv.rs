//! The CSV format: the report's tables one after another, each headed by a `# table` line
//! and its column names (RFC 4180 quoting).

use super::model::Report;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn row(out: &mut String, cells: &[String]) {
    let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
    out.push_str(&line.join(","));
    out.push('\n');
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// The report's tables as CSV.
pub(crate) fn render(r: &Report) -> String {
    let mut o = String::new();
    let head = |o: &mut String, name: &str, cols: &[&str]| {
        o.push_str(&format!("# {name}\n"));
        row(o, &cols.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    };
    head(
        &mut o,
        "services",
        &[
            "service",
            "requests",
            "rate_per_s",
            "errors",
            "error_rate",
            "p50_ms",
            "p95_ms",
            "p99_ms",
        ],
    );
    for s in &r.services {
        row(
            &mut o,
            &[
                s.service.clone(),
                s.requests.to_string(),
                s.rate_per_s.to_string(),
                s.errors.to_string(),
                s.error_rate.to_string(),
                s.p50_ms.to_string(),
                s.p95_ms.to_string(),
                s.p99_ms.to_string(),
            ],
        );
    }
    o.push('\n');
    head(
        &mut o,
        "operations",
        &[
            "service",
            "operation",
            "requests",
            "errors",
            "mean_ms",
            "p95_ms",
        ],
    );
    for s in &r.services {
        for op in &s.slowest_operations {
            row(
                &mut o,
                &[
                    s.service.clone(),
                    op.operation.clone(),
                    op.requests.to_string(),
                    op.errors.to_string(),
                    op.mean_ms.to_string(),
                    op.p95_ms.to_string(),
                ],
            );
        }
    }
    o.push('\n');
    head(
        &mut o,
        "episodes",
        &[
            "rank",
            "service",
            "operation",
            "kind",
            "start_ms",
            "end_ms",
            "baseline_ms",
            "observed_ms",
            "requests",
            "extra_latency_s",
            "summary",
        ],
    );
    for e in &r.episodes {
        row(
            &mut o,
            &[
                e.rank.to_string(),
                e.service.clone(),
                e.operation.clone(),
                e.kind.clone(),
                e.start_ms.to_string(),
                e.end_ms.map_or_else(String::new, |v| v.to_string()),
                e.baseline_ms.to_string(),
                e.observed_ms.to_string(),
                e.requests.to_string(),
                e.extra_latency_s.to_string(),
                e.summary.clone(),
            ],
        );
    }
    o.push('\n');
    head(
        &mut o,
        "error_logs",
        &[
            "service",
            "message",
            "count",
            "first_ms",
            "last_ms",
            "example_trace_id",
        ],
    );
    for l in &r.error_logs {
        row(
            &mut o,
            &[
                l.service.clone(),
                l.message.clone(),
                l.count.to_string(),
                l.first_ms.to_string(),
                l.last_ms.to_string(),
                l.example_trace_id.clone(),
            ],
        );
    }
    o.push('\n');
    head(&mut o, "host", &["metric", "subject", "avg", "max"]);
    for f in &r.host {
        row(
            &mut o,
            &[
                f.metric.clone(),
                f.subject.clone(),
                f.avg.to_string(),
                f.max.to_string(),
            ],
        );
    }
    o.push('\n');
    head(
        &mut o,
        "alerts",
        &["time_ms", "alertname", "state", "summary"],
    );
    for a in &r.alerts {
        row(
            &mut o,
            &[
                a.time_ms.to_string(),
                a.alertname.clone(),
                a.state.clone(),
                a.summary.clone(),
            ],
        );
    }
    o.push('\n');
    head(
        &mut o,
        "forecasts",
        &[
            "metric",
            "subject",
            "unit",
            "method",
            "history_points",
            "current",
            "trend_per_day",
            "in_7_days",
            "limit_days",
            "limit_days_low",
            "limit_days_high",
            "backtest_mae",
            "backtest_mape",
            "note",
        ],
    );
    for f in &r.forecasts {
        row(
            &mut o,
            &[
                f.metric.clone(),
                f.subject.clone(),
                f.unit.clone(),
                f.method.clone(),
                f.history_points.to_string(),
                opt(f.current),
                opt(f.trend_per_day),
                opt(f.in_7_days),
                opt(f.limit.as_ref().map(|c| c.days)),
                opt(f.limit.as_ref().map(|c| c.days_low)),
                opt(f.limit.as_ref().and_then(|c| c.days_high)),
                opt(f.backtest.map(|b| b.mae)),
                opt(f.backtest.and_then(|b| b.mape)),
                f.note.clone(),
            ],
        );
    }
    o
}
