//! The log lines of an alert's example traces, looked up when its group is flushed (not when
//! the alert arrives: a trace's log records often reach the collector after its spans, and
//! `group_wait` gives them time). The sources are the `correlate` windows of the same
//! collector, found through the [`TraceLogsRegistry`]; without any, alerts go out as they came.
//! The lines are kept in the group's alert, also when the source sends it again with the same
//! example traces, so later notifications (repeats, resolved) show them after the window
//! forgot the traces.
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
pub(crate) fn fill_logs<'a>(
    registry: &TraceLogsRegistry,
    alerts: impl IntoIterator<Item = &'a mut Alert>,
) {
    let mut sources = None;
    for alert in alerts {
        let e = &mut alert.evidence;
        if !e.logs.is_empty() || e.trace_ids.is_empty() {
            continue;
        }
        // Asked for once per flush, and only when an alert needs lines.
        let sources = sources.get_or_insert_with(|| registry.sources());
        if sources.is_empty() {
            return;
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
            for source in sources.iter() {
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
