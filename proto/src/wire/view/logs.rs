//! Log views: the request / resource / scope levels and [`LogRecordView`].

use super::any_value::{AnyValueView, KeyValues};
use super::levels::{NestedKeyValues, ResourceLevel, ScopeLevel, signal_views};
use super::{Result, ViewIter, as_fixed32, as_fixed64, as_len, as_str, as_varint, reader};

signal_views!(
    LogsView,
    "A borrowed view of an encoded `ExportLogsServiceRequest`.",
    resource_logs,
    ResourceLogsView,
    "A borrowed `ResourceLogs`.",
    scope_logs,
    ScopeLogsView,
    "A borrowed `ScopeLogs`.",
    log_records,
    LogRecordView
);

/// Where a log record sits in the buffer it was read from; hand it to
/// [`append_log_attributes`](crate::wire::append_log_attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogRecordLocation {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl LogRecordLocation {
    /// Byte range of the record's payload (after its length prefix) in the buffer.
    pub fn byte_range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// A borrowed `LogRecord`. Scalar fields and the body are read when the view is created.
#[derive(Debug, Clone, Copy)]
pub struct LogRecordView<'a> {
    body_bytes: &'a [u8],
    base: usize,
    time: u64,
    observed_time: u64,
    severity_number: i32,
    severity_text: &'a str,
    body: Option<AnyValueView<'a>>,
    flags: u32,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    event_name: &'a str,
}

impl<'a> LogRecordView<'a> {
    fn from_payload(bytes: &'a [u8], base: usize) -> Result<Self> {
        let mut l = LogRecordView {
            body_bytes: bytes,
            base,
            time: 0,
            observed_time: 0,
            severity_number: 0,
            severity_text: "",
            body: None,
            flags: 0,
            trace_id: &[],
            span_id: &[],
            event_name: "",
        };
        let mut r = reader(bytes, base);
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => l.time = as_fixed64(&f, "LogRecord.time_unix_nano")?,
                11 => l.observed_time = as_fixed64(&f, "LogRecord.observed_time_unix_nano")?,
                2 => l.severity_number = as_varint(&f, "LogRecord.severity_number")? as i32,
                3 => l.severity_text = as_str(&f, "LogRecord.severity_text")?,
                5 => {
                    l.body = Some(AnyValueView::parse(
                        as_len(&f, "LogRecord.body")?,
                        f.value_offset,
                    )?)
                }
                8 => l.flags = as_fixed32(&f, "LogRecord.flags")?,
                9 => l.trace_id = as_len(&f, "LogRecord.trace_id")?,
                10 => l.span_id = as_len(&f, "LogRecord.span_id")?,
                12 => l.event_name = as_str(&f, "LogRecord.event_name")?,
                _ => {}
            }
        }
        Ok(l)
    }
}

impl<'a> LogRecordView<'a> {
    /// `time_unix_nano` (0 = unknown).
    pub fn time_unix_nano(&self) -> u64 {
        self.time
    }
    /// `observed_time_unix_nano`.
    pub fn observed_time_unix_nano(&self) -> u64 {
        self.observed_time
    }
    /// `severity_number` as its wire value.
    pub fn severity_number(&self) -> i32 {
        self.severity_number
    }
    /// `severity_text`.
    pub fn severity_text(&self) -> &'a str {
        self.severity_text
    }
    /// The body; `None` when the record has no `body` field.
    pub fn body(&self) -> Option<AnyValueView<'a>> {
        self.body
    }
    /// `flags`.
    pub fn flags(&self) -> u32 {
        self.flags
    }
    /// `trace_id` bytes (16 or empty in valid OTLP).
    pub fn trace_id(&self) -> &'a [u8] {
        self.trace_id
    }
    /// `span_id` bytes (8 or empty in valid OTLP).
    pub fn span_id(&self) -> &'a [u8] {
        self.span_id
    }
    /// `event_name`.
    pub fn event_name(&self) -> &'a str {
        self.event_name
    }
    /// The first attribute with this key (`None` if absent or malformed).
    pub fn attribute(&self, key: &str) -> Option<AnyValueView<'a>> {
        self.attributes().find(key)
    }
    /// All attributes, in order.
    pub fn attributes(&self) -> KeyValues<'a> {
        KeyValues::new(self.body_bytes, self.base, 6, "LogRecord.attributes")
    }
    /// Handle for the editor.
    pub fn location(&self) -> LogRecordLocation {
        LogRecordLocation {
            start: self.base,
            end: self.base + self.body_bytes.len(),
        }
    }
}
