//! Episode starts and ends as OTLP log records: event name `lookout.latency.anomaly`, the key
//! as spanmetrics-named attributes, and the first example span as the record's trace and span
//! id so a backend can join the record to the trace.

use std::collections::BTreeMap;
use std::time::SystemTime;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::common::v1::{AnyValue, ArrayValue};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};

use super::episodes::{EpisodeEvent, EpisodeStatus};
use super::red::SCOPE;
use super::service_resource;
use super::tagger::kv;
use crate::core::otlp_build::{attr, scope, unix_nanos};

/// The `event_name` of every record.
pub(crate) const EVENT_NAME: &str = "lookout.latency.anomaly";

/// One request holding a record per event, grouped by the key's service; `observed` is when
/// the processor saw them.
pub(crate) fn request(events: &[EpisodeEvent], observed: SystemTime) -> ExportLogsServiceRequest {
    let observed = unix_nanos(observed);
    let mut by_service: BTreeMap<&str, Vec<LogRecord>> = BTreeMap::new();
    for event in events {
        by_service
            .entry(&event.service)
            .or_default()
            .push(record(event, observed));
    }
    let resource_logs = by_service
        .into_iter()
        .map(|(service, log_records)| ResourceLogs {
            resource: Some(service_resource(service)),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope(SCOPE)),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

/// The record of one event: WARN when it fires, INFO when it resolves, timed at that moment.
pub(crate) fn record(event: &EpisodeEvent, observed: u64) -> LogRecord {
    let (severity, at) = match event.status {
        EpisodeStatus::Firing => (SeverityNumber::Warn, event.starts_at),
        EpisodeStatus::Resolved => (
            SeverityNumber::Info,
            event.ends_at.unwrap_or(event.starts_at),
        ),
    };
    let mut attributes = event.key_attributes.clone();
    attributes.extend([
        attr(lookout_anomaly::ATTR_KIND, event.kind.as_str()),
        attr("lookout.latency.status", event.status.as_str()),
        kv(
            lookout_anomaly::ATTR_BASELINE_MS,
            Value::DoubleValue(event.baseline_ms),
        ),
        kv(
            "lookout.latency.max_ratio",
            Value::DoubleValue(event.max_ratio),
        ),
        kv(
            "lookout.latency.example_trace_ids",
            Value::ArrayValue(ArrayValue {
                values: event
                    .example_trace_ids
                    .iter()
                    .map(|id| AnyValue {
                        value: Some(Value::StringValue(id.clone())),
                    })
                    .collect(),
            }),
        ),
    ]);
    let (trace_id, span_id) = match event.first_example {
        Some((t, s)) => (t.to_vec(), s.to_vec()),
        None => (Vec::new(), Vec::new()),
    };
    LogRecord {
        time_unix_nano: unix_nanos(at),
        observed_time_unix_nano: observed,
        severity_number: severity as i32,
        severity_text: match event.status {
            EpisodeStatus::Firing => "WARN",
            EpisodeStatus::Resolved => "INFO",
        }
        .into(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(format!(
                "latency anomaly episode {}: {}",
                event.status.as_str(),
                event.summary()
            ))),
        }),
        attributes,
        trace_id,
        span_id,
        event_name: EVENT_NAME.into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lookout_anomaly::{AnomalyKind, KeyHash};
    use lookout_proto::otlp::common::v1::KeyValue;

    use super::*;

    fn event(service: &str, status: EpisodeStatus) -> EpisodeEvent {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        EpisodeEvent {
            status,
            key: KeyHash(9),
            service: service.into(),
            labels: vec![
                ("service".into(), service.into()),
                ("span_name".into(), "GET /cart".into()),
            ],
            key_attributes: vec![
                attr("service.name", service),
                attr("span.name", "GET /cart"),
            ],
            kind: AnomalyKind::Shift,
            baseline_ms: 10.5,
            max_ratio: 3.25,
            example_trace_ids: vec!["ab".repeat(16), "cd".repeat(16)],
            first_example: Some(([0xab; 16], [0x01; 8])),
            starts_at: start,
            ends_at: (status == EpisodeStatus::Resolved).then(|| start + Duration::from_secs(60)),
        }
    }

    #[test]
    fn the_console_record_of_an_episode_has_baseline_observed_and_times() {
        let open = event("cart", EpisodeStatus::Firing).record("latency_anomaly/a");
        assert_eq!(open.source, "latency_anomaly/a");
        assert_eq!(open.key, "0000000000000009");
        assert_eq!(open.service, "cart");
        assert_eq!(open.kind, "shift");
        assert_eq!(open.baseline_ms, 10.5);
        assert_eq!(open.observed_ms, 10.5 * 3.25);
        assert_eq!(open.example_trace_ids.len(), 2);
        assert_eq!(open.starts_at_ms, 1_700_000_000_000);
        assert_eq!(open.ends_at_ms, None);
        let closed = event("cart", EpisodeStatus::Resolved).record("latency_anomaly/a");
        assert_eq!(closed.ends_at_ms, Some(1_700_000_060_000));
        // Recorded in turn, the resolution closes the open record.
        let mut history = crate::core::recent::EpisodeHistory::new(10);
        history.record(open);
        history.record(closed);
        let listed = history.listed();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].ends_at_ms, Some(1_700_000_060_000));
    }

    fn value<'a>(attrs: &'a [KeyValue], key: &str) -> &'a Value {
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .unwrap_or_else(|| panic!("no {key} in {attrs:?}"))
    }

    #[test]
    fn latency_firing_record_carries_event_name_key_ids_and_warn() {
        let r = record(&event("checkout", EpisodeStatus::Firing), 42);
        assert_eq!(r.event_name, EVENT_NAME);
        assert_eq!(r.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(r.severity_text, "WARN");
        assert_eq!(r.time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(r.observed_time_unix_nano, 42);
        assert_eq!(r.trace_id, [0xab; 16]);
        assert_eq!(r.span_id, [0x01; 8]);
        let a = &r.attributes;
        assert_eq!(
            value(a, "service.name"),
            &Value::StringValue("checkout".into())
        );
        assert_eq!(
            value(a, "span.name"),
            &Value::StringValue("GET /cart".into())
        );
        assert_eq!(
            value(a, "lookout.latency.kind"),
            &Value::StringValue("shift".into())
        );
        assert_eq!(
            value(a, "lookout.latency.status"),
            &Value::StringValue("firing".into())
        );
        assert_eq!(
            value(a, "lookout.latency.baseline_ms"),
            &Value::DoubleValue(10.5)
        );
        assert_eq!(
            value(a, "lookout.latency.max_ratio"),
            &Value::DoubleValue(3.25)
        );
        let Value::ArrayValue(ids) = value(a, "lookout.latency.example_trace_ids") else {
            panic!("example_trace_ids is not an array")
        };
        assert_eq!(ids.values.len(), 2);
        assert_eq!(
            ids.values[1].value,
            Some(Value::StringValue("cd".repeat(16)))
        );
        let Some(Value::StringValue(body)) = r.body.and_then(|b| b.value) else {
            panic!("no string body")
        };
        assert!(
            body.starts_with("latency anomaly episode firing: checkout GET /cart latency shift"),
            "{body}"
        );
    }

    #[test]
    fn latency_resolved_record_is_info_at_the_end_and_records_group_by_service() {
        let mut resolved = event("checkout", EpisodeStatus::Resolved);
        resolved.first_example = None;
        let r = record(&resolved, 0);
        assert_eq!(r.severity_number, SeverityNumber::Info as i32);
        assert_eq!(r.time_unix_nano, 1_700_000_060_000_000_000);
        assert_eq!(
            value(&r.attributes, "lookout.latency.status"),
            &Value::StringValue("resolved".into())
        );
        assert!(r.trace_id.is_empty() && r.span_id.is_empty());

        let events = [
            event("checkout", EpisodeStatus::Firing),
            event("auth", EpisodeStatus::Firing),
            resolved,
        ];
        let req = request(&events, SystemTime::UNIX_EPOCH);
        let grouped: Vec<(&Value, usize)> = req
            .resource_logs
            .iter()
            .map(|rl| {
                let resource = rl.resource.as_ref().unwrap();
                assert_eq!(rl.scope_logs[0].scope.as_ref().unwrap().name, SCOPE);
                (
                    value(&resource.attributes, "service.name"),
                    rl.scope_logs[0].log_records.len(),
                )
            })
            .collect();
        assert_eq!(
            grouped,
            [
                (&Value::StringValue("auth".into()), 1),
                (&Value::StringValue("checkout".into()), 2)
            ]
        );
    }
}
