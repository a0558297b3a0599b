//! Log messages: the request down to log records.

use serde_json::Value;

use super::common::{attributes, body, resource, scope};
use super::scalar::{enumeration, span_id, string, trace_id, uint32, uint64};
use super::{DecodeOptions, Path, R, fields, list, parse};
use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};

pub(crate) fn logs(input: &[u8], options: &DecodeOptions) -> R<ExportLogsServiceRequest> {
    let v = parse(input)?;
    let root = Path::Root {
        any_id_length: options.any_id_length,
        limits: options.limits,
    };
    let mut out = ExportLogsServiceRequest::default();
    for (k, val) in fields(&v, &root)? {
        if matches!(k, "resourceLogs" | "resource_logs") {
            out.resource_logs = list(val, &root.key(k), resource_logs)?;
        }
    }
    Ok(out)
}

fn resource_logs(v: &Value, p: &Path<'_>) -> R<ResourceLogs> {
    let mut out = ResourceLogs::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "resource" => out.resource = Some(resource(val, &fp)?),
            "scopeLogs" | "scope_logs" => out.scope_logs = list(val, &fp, scope_logs)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_logs(v: &Value, p: &Path<'_>) -> R<ScopeLogs> {
    let mut out = ScopeLogs::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "scope" => out.scope = Some(scope(val, &fp)?),
            "logRecords" | "log_records" => out.log_records = list(val, &fp, log_record)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn severity_number(name: &str) -> Option<i32> {
    SeverityNumber::from_str_name(name).map(|s| s as i32)
}

fn log_record(v: &Value, p: &Path<'_>) -> R<LogRecord> {
    let mut out = LogRecord::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "observedTimeUnixNano" | "observed_time_unix_nano" => {
                out.observed_time_unix_nano = uint64(val, &fp)?
            }
            "severityNumber" | "severity_number" => {
                out.severity_number = enumeration(val, &fp, "SeverityNumber", severity_number)?
            }
            "severityText" | "severity_text" => out.severity_text = string(val, &fp)?,
            "body" => out.body = Some(body(val, &fp)?),
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "flags" => out.flags = uint32(val, &fp)?,
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "eventName" | "event_name" => out.event_name = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}
