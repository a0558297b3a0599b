//! The store as an alert history sink (`core/alert_history.rs`): each alert state change the
//! `alerting` extension hands over is queued (bounded; a full queue drops the change, counts
//! it and logs it) and appended by one task as an OTLP log record with event name
//! `lookout.alert` ([`alert_request`]; `events.rs` reads it back), through the write-ahead log
//! like any batch: it is kept with the logs signal's retention and answered by
//! `Store::alerts`.

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};

use super::db::Store;
use super::events::{
    A_ANNOTATIONS, A_ENDS, A_FINGERPRINT, A_LABELS, A_NOTIFIERS, A_STARTS, A_STATE, A_TRACE_IDS,
    ALERT_EVENT,
};
use crate::core::Signal;
use crate::core::alert_history::AlertHistorySink;
use crate::core::recent::AlertRecord;

/// State changes waiting to be written, at most.
const QUEUE: usize = 1024;

/// The sink a store registers.
pub(crate) struct StoreAlertSink {
    tx: mpsc::Sender<AlertRecord>,
    dropped: Counter,
}

impl AlertHistorySink for StoreAlertSink {
    fn record(&self, alert: &AlertRecord) {
        if self.tx.try_send(alert.clone()).is_err() {
            self.dropped.inc();
            tracing::warn!(
                fingerprint = %alert.fingerprint,
                "store: the alert history queue is full (or the store stopped); an alert state change is not kept"
            );
        }
    }
}

/// A sink writing to `store` until `stop`; `dropped` counts what a full queue refused.
pub(crate) fn spawn(
    store: Arc<Store>,
    dropped: Counter,
    stop: CancellationToken,
) -> Arc<StoreAlertSink> {
    let (tx, mut rx) = mpsc::channel::<AlertRecord>(QUEUE);
    tokio::spawn(async move {
        loop {
            let alert = tokio::select! {
                () = stop.cancelled() => return,
                next = rx.recv() => match next {
                    Some(a) => a,
                    None => return,
                },
            };
            let payload = alert_request(&alert, alert.updated_at_ms).encode_to_vec();
            let s = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || s.append(Signal::Logs, &payload)).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    tracing::warn!(%err, fingerprint = %alert.fingerprint, "store: an alert state change could not be written")
                }
                Err(err) => tracing::warn!(%err, "store: the alert history task failed"),
            }
        }
    });
    Arc::new(StoreAlertSink { tx, dropped })
}

fn string_value(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(s.to_string())),
    })
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn kvlist(map: &BTreeMap<String, String>) -> Value {
    Value::KvlistValue(KeyValueList {
        values: map
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: string_value(v),
                ..Default::default()
            })
            .collect(),
    })
}

fn array(items: &[String]) -> Value {
    Value::ArrayValue(ArrayValue {
        values: items
            .iter()
            .map(|s| string_value(s).unwrap_or_default())
            .collect(),
    })
}

fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The OTLP log record of one alert state change, recorded at `at_ms`: event name
/// `lookout.alert`, WARN when firing and INFO when resolved, the alert as
/// `lookout.alert.*` attributes, its first example trace as the record's trace id, and the
/// resource `service.name = lookout` (the collector itself reports it).
pub(crate) fn alert_request(alert: &AlertRecord, at_ms: u64) -> ExportLogsServiceRequest {
    let firing = alert.state == "firing";
    let name = alert.labels.get("alertname").map_or("", String::as_str);
    let summary = alert
        .annotations
        .get("summary")
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    let mut attributes = vec![
        kv(A_FINGERPRINT, Value::StringValue(alert.fingerprint.clone())),
        kv(A_STATE, Value::StringValue(alert.state.to_string())),
        kv(A_LABELS, kvlist(&alert.labels)),
        kv(A_ANNOTATIONS, kvlist(&alert.annotations)),
        kv(A_STARTS, Value::IntValue(ms_i64(alert.starts_at_ms))),
        kv(A_NOTIFIERS, array(&alert.notifiers)),
        kv(A_TRACE_IDS, array(&alert.trace_ids)),
    ];
    if let Some(end) = alert.ends_at_ms {
        attributes.push(kv(A_ENDS, Value::IntValue(ms_i64(end))));
    }
    let trace_id = alert
        .trace_ids
        .first()
        .and_then(|t| hex::decode(t).ok())
        .filter(|t| t.len() == 16)
        .unwrap_or_default();
    let at_ns = at_ms.saturating_mul(1_000_000);
    let record = LogRecord {
        time_unix_nano: at_ns,
        observed_time_unix_nano: at_ns,
        severity_number: if firing {
            SeverityNumber::Warn
        } else {
            SeverityNumber::Info
        } as i32,
        severity_text: if firing { "WARN" } else { "INFO" }.into(),
        body: string_value(&format!("alert {name} {}{summary}", alert.state)),
        attributes,
        trace_id,
        event_name: ALERT_EVENT.into(),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(lookout_proto::otlp::resource::v1::Resource {
                attributes: vec![kv("service.name", Value::StringValue("lookout".into()))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(crate::core::otlp_build::scope("lookout.alerting")),
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
