//! Records to an encoded `ExportLogsServiceRequest`.

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};

use crate::operators::Entry;

/// Encodes entries, one `ResourceLogs` per run of entries with the same resource.
pub fn encode(entries: Vec<Entry>, observed_unix_nano: u64) -> Vec<u8> {
    let mut resource_logs: Vec<ResourceLogs> = Vec::new();
    let mut current: Option<Map<String, Value>> = None;
    for entry in entries {
        let Entry {
            body,
            attributes,
            resource,
            timestamp,
            severity,
            severity_text,
            trace_id,
            span_id,
            trace_flags,
        } = entry;
        let record = LogRecord {
            time_unix_nano: timestamp.unwrap_or(0),
            observed_time_unix_nano: observed_unix_nano,
            severity_number: severity,
            severity_text: severity_text.unwrap_or_default(),
            body: (!body.is_null()).then(|| any_value(body)),
            attributes: key_values(attributes),
            dropped_attributes_count: 0,
            flags: trace_flags.map(u32::from).unwrap_or(0),
            trace_id: trace_id.map(|t| t.to_vec()).unwrap_or_default(),
            span_id: span_id.map(|s| s.to_vec()).unwrap_or_default(),
            ..LogRecord::default()
        };
        if current.as_ref() != Some(&resource) || resource_logs.is_empty() {
            resource_logs.push(ResourceLogs {
                resource: Some(Resource {
                    attributes: key_values(resource.clone()),
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope::default()),
                    log_records: Vec::new(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
            current = Some(resource);
        }
        if let Some(scope) = resource_logs
            .last_mut()
            .and_then(|r| r.scope_logs.last_mut())
        {
            scope.log_records.push(record);
        }
    }
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

fn key_values(map: Map<String, Value>) -> Vec<KeyValue> {
    map.into_iter()
        .map(|(key, value)| KeyValue {
            key,
            value: Some(any_value(value)),
            ..KeyValue::default()
        })
        .collect()
}

fn any_value(value: Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s)),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(any_value).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: key_values(map),
        })),
    };
    AnyValue { value }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn groups_by_resource_and_maps_fields() {
        let mut a = Entry::from_line("one".into());
        a.attributes
            .insert("n".into(), json!({"x": [1, 2.5, true]}));
        a.trace_id = Some([1; 16]);
        a.trace_flags = Some(1);
        a.severity = 9;
        let mut b = Entry::from_line("two".into());
        b.resource.insert("service.name".into(), json!("svc"));
        let c = b.clone();
        let bytes = encode(vec![a, b, c], 5);
        let req = ExportLogsServiceRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(req.resource_logs.len(), 2);
        let first = &req.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(first.trace_id, vec![1; 16]);
        assert_eq!(first.flags, 1);
        assert_eq!(first.observed_time_unix_nano, 5);
        assert_eq!(req.resource_logs[1].scope_logs[0].log_records.len(), 2);
        assert_eq!(
            crate::pipeline::validate(crate::pipeline::Signal::Logs, &bytes).unwrap(),
            3
        );
    }
}
