//! The HTML format: one self-contained page (inline CSS, utilisation bars as inline SVG, no
//! script, no external fetch), every value escaped.

use std::fmt::Write;

use super::gather::{NS_PER_MS, rfc3339};
use super::model::{Forecast, Report};

const CSS: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;\
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.muted{color:#777}.warn{color:#b00}";

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(ms: i64) -> String {
    rfc3339(ms.saturating_mul(NS_PER_MS))
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn pct(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// A 0–1 bar as inline SVG.
fn bar(v: f64) -> String {
    let w = (v.clamp(0.0, 1.0) * 100.0).round();
    let colour = if v >= 0.9 { "#c33" } else { "#4a7" };
    format!(
        "<svg width=\"100\" height=\"10\" role=\"img\"><rect width=\"100\" height=\"10\" fill=\"#eee\"/><rect width=\"{w}\" height=\"10\" fill=\"{colour}\"/></svg>"
    )
}

fn value(f: &Forecast, v: f64) -> String {
    if f.unit == "ratio" {
        pct(v)
    } else {
        format!("{} {}", num(v), esc(&f.unit))
    }
}

/// The report as one HTML document.
pub(crate) fn render(r: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lookout report {} – {}</title><style>{CSS}</style></head><body>",
        time(r.from_ms),
        time(r.to_ms)
    );
    let _ = write!(
        h,
        "<h1>Lookout report</h1><p>{} – {} <span class=\"muted\">(generated {})</span></p>",
        time(r.from_ms),
        time(r.to_ms),
        esc(&r.generated_at)
    );
    for n in &r.notes {
        let _ = write!(h, "<p class=\"muted\">{}</p>", esc(n));
    }

    h.push_str("<h2>Services</h2>");
    if r.services.is_empty() {
        h.push_str("<p class=\"muted\">No spans in this range.</p>");
    } else {
        h.push_str("<table><tr><th>service</th><th>requests</th><th>rate /s</th><th>errors</th><th>error rate</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>slowest operations (p95 ms)</th></tr>");
        for s in &r.services {
            let ops: Vec<String> = s
                .slowest_operations
                .iter()
                .map(|o| format!("{} ({})", esc(&o.operation), num(o.p95_ms)))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
                esc(&s.service),
                s.requests,
                num(s.rate_per_s),
                s.errors,
                pct(s.error_rate),
                num(s.p50_ms),
                num(s.p95_ms),
                num(s.p99_ms),
                ops.join("<br>")
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Anomaly episodes — fix first</h2>");
    if r.episodes.is_empty() {
        h.push_str("<p class=\"muted\">No latency anomaly episodes in this range.</p>");
    } else {
        h.push_str("<table><tr><th>#</th><th>service / operation</th><th>kind</th><th>start</th><th>end</th><th>baseline ms</th><th>observed ms</th><th>requests</th><th>extra latency s</th><th>root cause</th></tr>");
        for e in &r.episodes {
            let _ = write!(
                h,
                "<tr><td class=n>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
                e.rank,
                esc(&e.service),
                esc(&e.operation),
                esc(&e.kind),
                time(e.start_ms),
                e.end_ms.map_or_else(|| "open".into(), time),
                num(e.baseline_ms),
                num(e.observed_ms),
                e.requests,
                num(e.extra_latency_s),
                esc(&e.summary)
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Error-log hot spots</h2>");
    if r.error_logs.is_empty() {
        h.push_str("<p class=\"muted\">No ERROR log records in this range.</p>");
    } else {
        h.push_str("<table><tr><th>service</th><th>message</th><th>records</th><th>first</th><th>last</th><th>example trace</th></tr>");
        for l in &r.error_logs {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&l.service),
                esc(&l.message),
                l.count,
                time(l.first_ms),
                time(l.last_ms),
                esc(&l.example_trace_id)
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Host utilisation</h2>");
    if r.host.is_empty() {
        h.push_str("<p class=\"muted\">No host metrics in this range.</p>");
    } else {
        h.push_str(
            "<table><tr><th>metric</th><th></th><th>average</th><th>peak</th><th></th></tr>",
        );
        for f in &r.host {
            let ratio = f.metric != "load_1m";
            let show = |v: f64| if ratio { pct(v) } else { num(v) };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
                esc(&f.metric),
                esc(&f.subject),
                show(f.avg),
                show(f.max),
                if ratio { bar(f.avg) } else { String::new() }
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Alerts</h2>");
    if r.alerts.is_empty() {
        h.push_str("<p class=\"muted\">No alerts in this range.</p>");
    } else {
        h.push_str("<table><tr><th>time</th><th>alert</th><th>state</th><th>summary</th></tr>");
        for a in &r.alerts {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                time(a.time_ms),
                esc(&a.alertname),
                esc(&a.state),
                esc(&a.summary)
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Forecasts</h2><p class=\"muted\">From up to 14 days of hourly means before the end of the range. Backtest: the last quarter of that history forecast from the rest; MAE in the forecast's unit, MAPE in percent.</p>");
    if r.forecasts.is_empty() {
        h.push_str("<p class=\"muted\">Nothing to forecast.</p>");
    } else {
        h.push_str("<table><tr><th>forecast</th><th>method</th><th>now</th><th>trend / day</th><th>in 7 days</th><th>limit</th><th>backtest MAE</th><th>MAPE</th><th>history (h)</th></tr>");
        for f in &r.forecasts {
            let limit = match &f.limit {
                Some(c) => format!(
                    "<span class=\"warn\">full in {:.1} days</span> ({:.1}–{} days; {})",
                    c.days,
                    c.days_low,
                    c.days_high
                        .map_or_else(|| "never".into(), |d| format!("{d:.1}")),
                    time(c.at_ms)
                ),
                None => String::new(),
            };
            let what = format!("{} {}", esc(&f.metric), esc(&f.subject));
            if f.method == "none" {
                let _ = write!(
                    h,
                    "<tr><td>{what}</td><td colspan=8 class=muted>{}</td></tr>",
                    esc(&f.note)
                );
                continue;
            }
            let _ = write!(
                h,
                "<tr><td>{what}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{limit}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                esc(&f.method),
                f.current.map_or_else(String::new, |v| value(f, v)),
                f.trend_per_day.map_or_else(String::new, |v| value(f, v)),
                f.in_7_days.map_or_else(String::new, |v| value(f, v)),
                f.backtest.map_or_else(|| "–".into(), |b| value(f, b.mae)),
                f.backtest
                    .and_then(|b| b.mape)
                    .map_or_else(|| "–".into(), |m| format!("{m:.1} %")),
                f.history_points
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}
