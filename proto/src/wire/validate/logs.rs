//! Log messages: `ResourceLogs` down to log records.

use super::common::{any_value, key_value, resource, scope};
use super::fields::{LastId, fixed32, fixed64, message, string, varint};
use super::{LogsSummary, Result};
use crate::wire::reader::FieldReader;

pub(super) fn resource_logs(mut r: FieldReader<'_>, s: &mut LogsSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => resource(message(&r, &f, "ResourceLogs.resource")?)?,
            2 => {
                scope_logs(message(&r, &f, "ResourceLogs.scope_logs")?, s)?;
                s.scope_logs += 1;
            }
            3 => {
                string(&f, "ResourceLogs.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn scope_logs(mut r: FieldReader<'_>, s: &mut LogsSummary) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => scope(message(&r, &f, "ScopeLogs.scope")?)?,
            2 => {
                log_record(message(&r, &f, "ScopeLogs.log_records")?)?;
                s.log_records += 1;
            }
            3 => {
                string(&f, "ScopeLogs.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn log_record(mut r: FieldReader<'_>) -> Result<()> {
    let (mut trace_id, mut span_id) = (LastId::default(), LastId::default());
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                fixed64(&f, "LogRecord.time_unix_nano")?;
            }
            11 => {
                fixed64(&f, "LogRecord.observed_time_unix_nano")?;
            }
            2 => {
                varint(&f, "LogRecord.severity_number")?;
            }
            3 => {
                string(&f, "LogRecord.severity_text")?;
            }
            5 => any_value(message(&r, &f, "LogRecord.body")?)?,
            6 => key_value(message(&r, &f, "LogRecord.attributes")?)?,
            7 => {
                varint(&f, "LogRecord.dropped_attributes_count")?;
            }
            8 => {
                fixed32(&f, "LogRecord.flags")?;
            }
            9 => trace_id.set(&f, "LogRecord.trace_id")?,
            10 => span_id.set(&f, "LogRecord.span_id")?,
            12 => {
                string(&f, "LogRecord.event_name")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("LogRecord.trace_id", 16)?;
    span_id.check("LogRecord.span_id", 8)
}
