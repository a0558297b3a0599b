//! Event records kept apart from the other log records so that the console and the reports
//! find them without scanning a day of logs: latency anomaly episodes (log records with event
//! name `lookout.latency.anomaly`, written by the `latency_anomaly` connector) and alert state
//! changes (event name `lookout.alert`, written by the `alerting` extension through the alert
//! history sink, `history.rs`). Each such record is stored twice: as a log record like any
//! other, and as a row of the small `events/<hour>-<gen>.parquet` segments read here.
//! Retention is the logs signal's.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::DataType;
use serde::Serialize;
use serde_json::Value as Json;

use super::db::Store;
use super::segment::{self, Kind, Pack, SegmentError, Select};
use crate::processors::latency_anomaly::event_log::EVENT_NAME as EPISODE_EVENT;

/// The event name of an alert state change record.
pub(crate) const ALERT_EVENT: &str = "lookout.alert";

/// Whether a log record with this event name is also kept as an event row.
pub(crate) fn is_event(name: &str) -> bool {
    name == EPISODE_EVENT || name == ALERT_EVENT
}

/// A log record kept as an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRow {
    /// Unix nanoseconds (the observed time when the record has no time).
    pub ts: i64,
    /// The record's event name.
    pub name: String,
    /// `service.name` of its resource.
    pub service: String,
    /// All zeroes when the record names no trace.
    pub trace_id: [u8; 16],
    /// The body as text.
    pub body: String,
    /// The attributes, a JSON object.
    pub attrs: String,
}

/// One latency anomaly episode event as stored (a firing or a resolved record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct EpisodeRow {
    /// The record's time, ms since the Unix epoch (start when firing, end when resolved).
    pub(crate) time_ms: i64,
    /// The key's service.
    pub(crate) service: String,
    /// Span name of the key (`""` when the key has none).
    pub(crate) operation: String,
    /// `shift`, `degradation`, `spike`, `intermittent`, ...
    pub(crate) kind: String,
    /// `firing` or `resolved`.
    pub(crate) status: String,
    /// The baseline latency, ms.
    pub(crate) baseline_ms: f64,
    /// The largest observed / baseline ratio.
    pub(crate) max_ratio: f64,
    /// Example trace ids, hex.
    pub(crate) example_trace_ids: Vec<String>,
    /// The record's body.
    pub(crate) summary: String,
}

/// One alert state change as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AlertRow {
    /// When this state was recorded, ms since the Unix epoch.
    pub(crate) time_ms: i64,
    /// Hex fingerprint of its labels.
    pub(crate) fingerprint: String,
    /// `firing` or `resolved`.
    pub(crate) state: String,
    /// Its labels.
    pub(crate) labels: BTreeMap<String, String>,
    /// Its annotations.
    pub(crate) annotations: BTreeMap<String, String>,
    /// When it started firing, ms.
    pub(crate) starts_at_ms: i64,
    /// When it resolved, ms.
    pub(crate) ends_at_ms: Option<i64>,
    /// The notifiers its routes name.
    pub(crate) notifiers: Vec<String>,
    /// Example trace ids, hex.
    pub(crate) trace_ids: Vec<String>,
}

const NS_PER_S: i64 = 1_000_000_000;
const NS_PER_MS: i64 = 1_000_000;

impl Store {
    /// Episode events whose time is in [from_s, to_s) (Unix seconds), oldest first, at most `limit`.
    pub(crate) fn episodes(&self, from_s: i64, to_s: i64, limit: usize) -> Vec<EpisodeRow> {
        self.events(EPISODE_EVENT, from_s, to_s, limit)
            .iter()
            .map(episode)
            .collect()
    }

    /// Alert state changes in [from_s, to_s), oldest first, at most `limit`.
    pub(crate) fn alerts(&self, from_s: i64, to_s: i64, limit: usize) -> Vec<AlertRow> {
        self.events(ALERT_EVENT, from_s, to_s, limit)
            .iter()
            .map(alert)
            .collect()
    }

    /// The event rows named `name` in `[from_s, to_s)`, oldest first, at most `limit`: the
    /// heads' and those of the event segments of the hours the range touches.
    fn events(&self, name: &str, from_s: i64, to_s: i64, limit: usize) -> Vec<EventRow> {
        let (from, to) = (
            from_s.saturating_mul(NS_PER_S),
            to_s.saturating_mul(NS_PER_S),
        );
        if from >= to || limit == 0 {
            return Vec::new();
        }
        let keep = |e: &EventRow| e.name == name && e.ts >= from && e.ts < to;
        let mut out: Vec<EventRow> = self
            .with_heads(|rows| {
                rows.events
                    .iter()
                    .filter(|e| keep(e))
                    .cloned()
                    .collect::<Vec<EventRow>>()
            })
            .into_iter()
            .flatten()
            .collect::<Vec<EventRow>>();
        let select = Select {
            from,
            to,
            trace_id: None,
            footers: Some(self.footers()),
        };
        out.extend(
            self.read(Kind::Events, from, to, |p| read_events(p, &select))
                .into_iter()
                .filter(|e| keep(e)),
        );
        out.sort_by_key(|e| e.ts);
        out.truncate(limit);
        out
    }
}

fn attrs(e: &EventRow) -> serde_json::Map<String, Json> {
    match serde_json::from_str(&e.attrs) {
        Ok(Json::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn text(map: &serde_json::Map<String, Json>, key: &str) -> String {
    match map.get(key) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn number(map: &serde_json::Map<String, Json>, key: &str) -> Option<f64> {
    map.get(key).and_then(Json::as_f64)
}

fn strings(map: &serde_json::Map<String, Json>, key: &str) -> Vec<String> {
    match map.get(key) {
        Some(Json::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn string_map(map: &serde_json::Map<String, Json>, key: &str) -> BTreeMap<String, String> {
    match map.get(key) {
        Some(Json::Object(o)) => o
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), v)
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn episode(e: &EventRow) -> EpisodeRow {
    let a = attrs(e);
    let service = match text(&a, "service.name") {
        s if s.is_empty() => e.service.clone(),
        s => s,
    };
    EpisodeRow {
        time_ms: e.ts.div_euclid(NS_PER_MS),
        service,
        operation: text(&a, "span.name"),
        kind: text(&a, lookout_anomaly::ATTR_KIND),
        status: text(&a, "lookout.latency.status"),
        baseline_ms: number(&a, lookout_anomaly::ATTR_BASELINE_MS).unwrap_or(0.0),
        max_ratio: number(&a, "lookout.latency.max_ratio").unwrap_or(0.0),
        example_trace_ids: strings(&a, "lookout.latency.example_trace_ids"),
        summary: e.body.clone(),
    }
}

// Attributes of an alert record (`history.rs` writes them).
pub(super) const A_FINGERPRINT: &str = "lookout.alert.fingerprint";
pub(super) const A_STATE: &str = "lookout.alert.state";
pub(super) const A_LABELS: &str = "lookout.alert.labels";
pub(super) const A_ANNOTATIONS: &str = "lookout.alert.annotations";
pub(super) const A_STARTS: &str = "lookout.alert.starts_at_ms";
pub(super) const A_ENDS: &str = "lookout.alert.ends_at_ms";
pub(super) const A_NOTIFIERS: &str = "lookout.alert.notifiers";
pub(super) const A_TRACE_IDS: &str = "lookout.alert.trace_ids";

fn alert(e: &EventRow) -> AlertRow {
    let a = attrs(e);
    let ms = |key: &str| a.get(key).and_then(Json::as_i64);
    AlertRow {
        time_ms: e.ts.div_euclid(NS_PER_MS),
        fingerprint: text(&a, A_FINGERPRINT),
        state: text(&a, A_STATE),
        labels: string_map(&a, A_LABELS),
        annotations: string_map(&a, A_ANNOTATIONS),
        starts_at_ms: ms(A_STARTS).unwrap_or(0),
        ends_at_ms: ms(A_ENDS),
        notifiers: strings(&a, A_NOTIFIERS),
        trace_ids: strings(&a, A_TRACE_IDS),
    }
}

// === segments ===

pub(super) fn event_schema() -> arrow_schema::SchemaRef {
    segment::schema(&[
        ("ts", DataType::Int64),
        ("name", DataType::Utf8),
        ("service", DataType::Utf8),
        ("trace_id", DataType::FixedSizeBinary(16)),
        ("body", DataType::Utf8),
        ("attrs", DataType::Utf8),
    ])
}

/// Writes event rows (sorted by time) to `path`.
pub(crate) fn write_events(path: &Path, rows: &[&EventRow]) -> Result<u64, SegmentError> {
    let b = segment::batch(
        path,
        event_schema(),
        vec![
            segment::i64s(rows.iter().map(|r| r.ts)),
            segment::string(rows.iter().map(|r| &r.name)),
            segment::string(rows.iter().map(|r| &r.service)),
            segment::fsb(rows.iter().map(|r| r.trace_id)),
            segment::string(rows.iter().map(|r| &r.body)),
            segment::string(rows.iter().map(|r| &r.attrs)),
        ],
    )?;
    segment::write_batch(path, Kind::Events, &b, Pack::Fast)
}

/// Event rows of `path` in `select`'s range.
pub(crate) fn read_events(path: &Path, select: &Select<'_>) -> Result<Vec<EventRow>, SegmentError> {
    let mut out = Vec::new();
    for b in segment::read(path, Kind::Events, select)? {
        if b.num_columns() != 6 {
            return Err(SegmentError::Format {
                path: path.to_path_buf(),
                message: "not an event segment".into(),
            });
        }
        let c = |i: usize| b.column(i);
        let ts = segment::expect(path, c(0).as_primitive_opt::<Int64Type>())?;
        let name = segment::expect(path, c(1).as_string_opt::<i32>())?;
        let svc = segment::expect(path, c(2).as_string_opt::<i32>())?;
        let tid = segment::expect(path, c(3).as_fixed_size_binary_opt())?;
        let body = segment::expect(path, c(4).as_string_opt::<i32>())?;
        let attrs = segment::expect(path, c(5).as_string_opt::<i32>())?;
        for i in 0..b.num_rows() {
            let t = ts.value(i);
            if t < select.from || t >= select.to {
                continue;
            }
            out.push(EventRow {
                ts: t,
                name: name.value(i).to_string(),
                service: svc.value(i).to_string(),
                trace_id: tid.value(i).try_into().unwrap_or([0; 16]),
                body: body.value(i).to_string(),
                attrs: attrs.value(i).to_string(),
            });
        }
    }
    Ok(out)
}
