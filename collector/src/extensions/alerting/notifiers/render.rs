//! Evidence as text, for notifiers whose receivers only take strings (Alertmanager
//! annotations, webhook payloads, log lines).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::http::rfc3339;
use crate::core::alert::{Alert, Evidence};

/// Log lines rendered into an annotation at most.
const MAX_LOG_LINES: usize = 5;

/// The alert's annotations plus its evidence as `trace_ids`, `logs`, one entry per figure
/// (`baseline_ms`, ...), `values` and `host`. The alert's own annotations win on a clash.
pub(crate) fn annotations_with_evidence(alert: &Alert) -> BTreeMap<String, String> {
    if alert.evidence.is_empty() {
        return alert.annotations.clone();
    }
    let mut out = evidence_annotations(&alert.evidence);
    for (k, v) in &alert.annotations {
        out.insert(k.clone(), v.clone());
    }
    out
}

fn evidence_annotations(e: &Evidence) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !e.trace_ids.is_empty() {
        out.insert("trace_ids".into(), e.trace_ids.join(","));
    }
    if !e.logs.is_empty() {
        let mut text = String::new();
        for log in e.logs.iter().take(MAX_LOG_LINES) {
            let _ = writeln!(
                text,
                "{} {} trace={} {}",
                rfc3339(log.time),
                if log.severity.is_empty() {
                    "-"
                } else {
                    &log.severity
                },
                log.trace_id,
                log.body
            );
        }
        if e.logs.len() > MAX_LOG_LINES {
            let _ = writeln!(text, "(+{} more)", e.logs.len() - MAX_LOG_LINES);
        }
        out.insert("logs".into(), text.trim_end().to_string());
    }
    for (name, value) in &e.figures {
        out.insert(name.clone(), format_figure(*value));
    }
    if !e.values.is_empty() {
        let values: Vec<String> = e
            .values
            .iter()
            .map(|(t, v)| format!("{}={}", rfc3339(*t), format_figure(*v)))
            .collect();
        out.insert("values".into(), values.join(" "));
    }
    if let Some(h) = &e.host {
        out.insert(
            "host".into(),
            format!(
                "cpu {:.1}%, memory {:.1}%, load1 {:.2} at {}",
                h.cpu_utilization * 100.0,
                h.memory_utilization * 100.0,
                h.load_1m,
                rfc3339(h.at)
            ),
        );
    }
    out
}

/// Three decimals at most, no trailing zeros.
pub(crate) fn format_figure(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::core::alert::{EvidenceLog, HostSnapshot};

    #[test]
    fn evidence_becomes_annotations_and_own_annotations_win() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = Alert::firing("LatencyAnomaly", t);
        a.annotations.insert("summary".into(), "slow".into());
        a.annotations.insert("baseline_ms".into(), "mine".into());
        a.evidence.trace_ids = vec!["aa".into(), "bb".into()];
        a.evidence.figures = vec![("baseline_ms".into(), 12.5), ("max_ratio".into(), 4.0)];
        a.evidence.logs = (0..7)
            .map(|i| EvidenceLog {
                trace_id: "aa".into(),
                span_id: String::new(),
                time: t,
                severity: "ERROR".into(),
                body: format!("line {i}"),
            })
            .collect();
        a.evidence.host = Some(HostSnapshot {
            at: t,
            cpu_utilization: 0.5,
            memory_utilization: 0.25,
            load_1m: 1.5,
        });
        let ann = annotations_with_evidence(&a);
        assert_eq!(ann["summary"], "slow");
        assert_eq!(ann["baseline_ms"], "mine");
        assert_eq!(ann["max_ratio"], "4");
        assert_eq!(ann["trace_ids"], "aa,bb");
        assert_eq!(ann["logs"].lines().count(), MAX_LOG_LINES + 1);
        assert!(ann["logs"].starts_with("2023-11-14T22:13:20.000Z ERROR trace=aa line 0"));
        assert!(ann["logs"].ends_with("(+2 more)"));
        assert!(ann["host"].starts_with("cpu 50.0%, memory 25.0%, load1 1.50"));
        assert_eq!(format_figure(0.0), "0");
        assert_eq!(format_figure(1.23456), "1.235");
    }
}
