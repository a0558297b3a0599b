//! The window as a [`TraceLogs`] source: the log lines of an alert's example traces, for the
//! `alerting` extension. Under the window's lock a lookup only picks at most `max` records of
//! one trace and copies their (cut) bodies; hex and times are made after the lock is released.

use std::cmp::Reverse;
use std::time::{Duration, SystemTime};

use super::Correlator;
use super::window::{LogSummary, SpanId};
use crate::core::alert::{EvidenceLog, TraceLogs, evidence_body, severity_name};

/// What a lookup copies out of the window.
struct Picked {
    time: u64,
    severity: i32,
    severity_text: String,
    body: String,
    span_id: Option<SpanId>,
}

impl TraceLogs for Correlator {
    fn logs(&self, trace_id: &[u8; 16], max: usize) -> Vec<EvidenceLog> {
        if max == 0 {
            return Vec::new();
        }
        let mut picked: Vec<Picked> = {
            let window = self.window();
            let Some(trace) = window.get(trace_id) else {
                return Vec::new();
            };
            let mut logs: Vec<&LogSummary> = trace.logs.iter().collect();
            if logs.len() > max {
                // The most severe, and among equals the earliest.
                logs.select_nth_unstable_by_key(max - 1, |l| (Reverse(l.severity), l.time));
                logs.truncate(max);
            }
            logs.into_iter()
                .map(|l| Picked {
                    time: l.time,
                    severity: l.severity,
                    severity_text: l.severity_text.to_string(),
                    body: evidence_body(&l.body),
                    span_id: l.span_id,
                })
                .collect()
        };
        picked.sort_by_key(|p| p.time);
        let trace = hex::encode(trace_id);
        picked
            .into_iter()
            .map(|p| EvidenceLog {
                trace_id: trace.clone(),
                span_id: p.span_id.map(hex::encode).unwrap_or_default(),
                time: SystemTime::UNIX_EPOCH + Duration::from_nanos(p.time),
                severity: if p.severity_text.is_empty() {
                    severity_name(p.severity).to_string()
                } else {
                    p.severity_text
                },
                body: p.body,
            })
            .collect()
    }
}
