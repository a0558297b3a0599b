//! The log lines of an alert's example traces, looked up when its group is flushed (not when
//! the alert arrives: a trace's log records often reach the collector after its spans, and
//! `group_wait` gives them time). The sources are the `correlate` windows of the same
//! collector, found through the [`TraceLogsRegistry`]; without any, alerts go out as they came.
//!
//! Bounds, so a flush stays cheap and a notification small: at most [`MAX_TRACES`] example
//! traces are looked up per alert and at most [`MAX_LINES`] lines kept per alert, shared out
//! between those traces (a trace with fewer lines leaves the rest to the next); bodies are cut
//! to [`EVIDENCE_BODY_MAX`](crate::core::alert::EVIDENCE_BODY_MAX) bytes. Each lookup holds
//! one window's lock only to pick and copy those few records.

use crate::core::alert::{Alert, TraceLogsRegistry};

/// Example traces looked up per alert.
pub(crate) const MAX_TRACES: usize = 3;
/// Log lines kept per alert.
pub(crate) const MAX_LINES: usize = 10;

/// Fills `evidence.logs` of the alerts that have example trace ids and no log lines yet.
pub(crate) fn fill_logs(registry: &TraceLogsRegistry, alerts: &mut [Alert]) {
    if !alerts
        .iter()
        .any(|a| a.evidence.logs.is_empty() && !a.evidence.trace_ids.is_empty())
    {
        return;
    }
    let sources = registry.sources();
    if sources.is_empty() {
        return;
    }
    for alert in alerts {
        let e = &mut alert.evidence;
        if !e.logs.is_empty() {
            continue;
        }
        let ids: Vec<[u8; 16]> = e
            .trace_ids
            .iter()
            .filter_map(|t| {
                let mut id = [0u8; 16];
                hex::decode_to_slice(t, &mut id).ok().map(|()| id)
            })
            .take(MAX_TRACES)
            .collect();
        for (i, id) in ids.iter().enumerate() {
            // An even share of what is left, so one chatty trace cannot take every line.
            let mut budget = MAX_LINES.saturating_sub(e.logs.len()) / (ids.len() - i);
            for source in &sources {
                if budget == 0 {
                    break;
                }
                let mut found = source.logs(id, budget);
                found.truncate(budget);
                budget -= found.len();
                e.logs.extend(found);
            }
        }
    }
}
