//! Log messages: `ResourceLogs` down to log records.

use super::common::{AttributeCount, any_value, attribute, check_depth, resource, scope};
use super::fields::{LastId, fixed32, fixed64, message, string, varint};
use super::{LogsSummary, Result};
use crate::Limits;
use crate::wire::reader::FieldReader;

pub(super) fn resource_logs(
    mut r: FieldReader<'_>,
    s: &mut LogsSummary,
    lim: &Limits,
) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => resource(message(&r, &f, "ResourceLogs.resource")?, lim)?,
            2 => {
                scope_logs(message(&r, &f, "ResourceLogs.scope_logs")?, s, lim)?;
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

fn scope_logs(mut r: FieldReader<'_>, s: &mut LogsSummary, lim: &Limits) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => scope(message(&r, &f, "ScopeLogs.scope")?, lim)?,
            2 => {
                log_record(message(&r, &f, "ScopeLogs.log_records")?, lim)?;
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

fn log_record(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let (mut trace_id, mut span_id) = (LastId::default(), LastId::default());
    let mut attrs = AttributeCount::default();
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
            5 => {
                check_depth(lim, 1, f.value_offset)?;
                any_value(message(&r, &f, "LogRecord.body")?, lim, 1)?
            }
            6 => attribute(&r, &f, "LogRecord.attributes", lim, &mut attrs)?,
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
