//! The live tail: the most recent log records, bounded by bytes, each numbered so a reader can
//! ask for what came after the last one it saw (`after=<seq>`) with filters.

use std::collections::VecDeque;

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::collections::HashMap;

use serde::Serialize;

/// Bodies are cut to this many bytes (on a character boundary, marked with `…`).
pub(crate) const MAX_BODY: usize = 2_048;
/// Service names and severity texts are cut to this many bytes.
const MAX_NAME: usize = 128;
/// What a record costs besides its text (the struct and the queue's slot).
const RECORD_OVERHEAD: usize = std::mem::size_of::<LogLine>();
/// Lines one answer holds at most.
pub(crate) const MAX_LIMIT: usize = 1_000;
/// Lines one answer holds when the reader does not say.
pub(crate) const DEFAULT_LIMIT: usize = 200;

/// One log record as the tail keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LogLine {
    /// Its number: one more than the record before it, from 1.
    pub(crate) seq: u64,
    /// `time_unix_nano`, or the observed time when unset, in ms since the Unix epoch.
    pub(crate) time_ms: u64,
    /// `service.name` of its resource (empty when none).
    pub(crate) service: String,
    /// The severity number (1-24), derived from the text when the record has none (0 when
    /// neither says).
    pub(crate) severity_number: i32,
    /// The severity text, or the number's name.
    pub(crate) severity: String,
    /// The body as text, cut to [`MAX_BODY`].
    pub(crate) body: String,
    /// Hex trace id, when it has one.
    pub(crate) trace_id: Option<String>,
    /// Hex span id, when it has one.
    pub(crate) span_id: Option<String>,
}

impl LogLine {
    fn bytes(&self) -> usize {
        RECORD_OVERHEAD
            + self.service.len()
            + self.severity.len()
            + self.body.len()
            + self.trace_id.as_ref().map_or(0, String::len)
            + self.span_id.as_ref().map_or(0, String::len)
    }
}

/// `GET /api/v1/logs/tail` parameters.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct TailQuery {
    /// Only lines numbered above this (the newest `limit` of them); absent: the last `limit`
    /// matching lines.
    pub(crate) after: Option<u64>,
    /// Only this service (exact; empty: any).
    pub(crate) service: String,
    /// Only this severity or above: a name (`warn`) or a number (13); empty: any.
    pub(crate) severity: String,
    /// Only bodies containing this text, ignoring case (empty: any).
    pub(crate) contains: String,
    /// Lines at most (default 200, at most 1,000).
    pub(crate) limit: Option<usize>,
}

impl TailQuery {
    /// The query of a request's parameters; an unknown parameter or a malformed number is an
    /// error (a typo would otherwise silently show everything).
    pub(crate) fn from_params(params: HashMap<String, String>) -> Result<TailQuery, String> {
        let mut q = TailQuery::default();
        for (key, value) in params {
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{key}: not a number: {v:?}"))
            };
            match key.as_str() {
                "after" if value.is_empty() => {}
                "after" => q.after = Some(number(&value)?),
                "limit" if value.is_empty() => {}
                "limit" => q.limit = Some(usize::try_from(number(&value)?).unwrap_or(MAX_LIMIT)),
                "service" => q.service = value,
                "severity" => q.severity = value,
                "contains" => q.contains = value,
                other => {
                    return Err(format!(
                        "unknown parameter {other:?} (after, service, severity, contains, limit)"
                    ));
                }
            }
        }
        Ok(q)
    }
}

/// The answer to a [`TailQuery`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TailAnswer {
    /// Matching lines, oldest first.
    pub(crate) lines: Vec<LogLine>,
    /// The cursor for the next request (`after=`): the number of the newest line held.
    pub(crate) next: u64,
    /// Lines after `after` that matched but were left out because more than `limit` did: the
    /// newest `limit` are returned (a live tail shows the latest, as Loki's tail drops what
    /// it cannot send).
    pub(crate) skipped: u64,
    /// The oldest line still held (`None` when empty): a reader whose `after` is below
    /// `oldest - 1` missed lines that were evicted.
    pub(crate) oldest: Option<u64>,
    /// Lines evicted to stay under the byte bound since start.
    pub(crate) evicted: u64,
    /// Bytes held, and the most it holds.
    pub(crate) bytes: usize,
    /// The byte bound.
    pub(crate) max_bytes: usize,
}

/// The most recent log records, at most `max_bytes`.
#[derive(Debug)]
pub(crate) struct LogTail {
    lines: VecDeque<LogLine>,
    bytes: usize,
    max_bytes: usize,
    last_seq: u64,
    evicted: u64,
}

impl LogTail {
    /// An empty tail holding at most `max_bytes`.
    pub(crate) fn new(max_bytes: usize) -> LogTail {
        LogTail {
            lines: VecDeque::new(),
            bytes: 0,
            max_bytes,
            last_seq: 0,
            evicted: 0,
        }
    }

    /// Adds the records of an encoded OTLP logs request; an unreadable request adds nothing
    /// (the caller counts it). Returns how many records were added.
    #[cfg(test)]
    pub(crate) fn add_request(&mut self, payload: &[u8]) -> Result<usize, prost::DecodeError> {
        let lines = lines(payload)?;
        let added = lines.len();
        self.extend(lines);
        Ok(added)
    }

    /// Adds lines read with [`lines`] (outside the tail's lock), in order.
    pub(crate) fn extend(&mut self, lines: Vec<LogLine>) {
        lines.into_iter().for_each(|l| self.push(l));
    }

    /// Adds one line (numbered here), evicting the oldest until it fits.
    pub(crate) fn push(&mut self, mut line: LogLine) {
        self.last_seq += 1;
        line.seq = self.last_seq;
        let size = line.bytes();
        while self.bytes + size > self.max_bytes {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.bytes();
            self.evicted += 1;
        }
        if size > self.max_bytes {
            // Larger than the whole tail (a tiny bound): counted, not kept.
            self.evicted += 1;
            return;
        }
        self.bytes += size;
        self.lines.push_back(line);
    }

    /// The lines `query` asks for.
    pub(crate) fn query(&self, query: &TailQuery) -> TailAnswer {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let min_severity = parse_severity(&query.severity);
        let needle = query.contains.to_lowercase();
        let matches = |l: &LogLine| {
            (query.service.is_empty() || l.service == query.service)
                && l.severity_number >= min_severity
                && (needle.is_empty() || l.body.to_lowercase().contains(&needle))
        };
        let start = query
            .after
            .map_or(0, |after| self.lines.partition_point(|l| l.seq <= after));
        // Newest first, so that a reader that fell behind gets the latest lines.
        let mut lines = Vec::new();
        let mut skipped = 0;
        for l in self.lines.range(start..).rev().filter(|l| matches(l)) {
            if lines.len() < limit {
                lines.push(l.clone());
            } else if query.after.is_some() {
                skipped += 1;
            } else {
                break;
            }
        }
        lines.reverse();
        TailAnswer {
            lines,
            next: self.last_seq,
            skipped,
            oldest: self.lines.front().map(|l| l.seq),
            evicted: self.evicted,
            bytes: self.bytes,
            max_bytes: self.max_bytes,
        }
    }

    /// How many lines it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }
}

/// The records of an encoded OTLP logs request as tail lines (not numbered yet).
pub(crate) fn lines(payload: &[u8]) -> Result<Vec<LogLine>, prost::DecodeError> {
    let request = ExportLogsServiceRequest::decode(payload)?;
    let mut lines = Vec::new();
    for rl in request.resource_logs {
        let service = rl
            .resource
            .as_ref()
            .and_then(|r| string_attr(&r.attributes, "service.name"))
            .map(|s| cut(s, MAX_NAME))
            .unwrap_or_default();
        for sl in rl.scope_logs {
            for r in sl.log_records {
                let time = match r.time_unix_nano {
                    0 => r.observed_time_unix_nano,
                    t => t,
                };
                let severity_number = match r.severity_number {
                    0 => severity_of_text(&r.severity_text),
                    n => n,
                };
                let severity = if r.severity_text.is_empty() {
                    crate::core::alert::severity_name(severity_number).to_string()
                } else {
                    cut(&r.severity_text, MAX_NAME)
                };
                lines.push(LogLine {
                    seq: 0,
                    time_ms: time / 1_000_000,
                    service: service.clone(),
                    severity_number,
                    severity,
                    body: r.body.as_ref().map(body_text).unwrap_or_default(),
                    trace_id: id_hex(&r.trace_id, 16),
                    span_id: id_hex(&r.span_id, 8),
                });
            }
        }
    }
    Ok(lines)
}

/// A minimum severity from a name (`warn`, `ERROR`) or a number; 0 (any) when empty or unknown.
fn parse_severity(text: &str) -> i32 {
    let text = text.trim();
    text.parse::<i32>()
        .unwrap_or_else(|_| severity_of_text(text))
        .clamp(0, 24)
}

/// The lowest severity number of a severity text's range (`WARNING` → 13); 0 when unknown.
fn severity_of_text(text: &str) -> i32 {
    let upper = text.trim().to_ascii_uppercase();
    [
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("ERR", 17),
        ("FATAL", 21),
        ("CRIT", 21),
    ]
    .iter()
    .find(|(name, _)| upper.starts_with(name))
    .map_or(0, |(_, n)| *n)
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn body_text(body: &AnyValue) -> String {
    let text = match body.value.as_ref() {
        Some(any_value::Value::StringValue(s)) => return cut(s, MAX_BODY),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(_)) => "[array]".to_string(),
        Some(any_value::Value::KvlistValue(_)) => "[map]".to_string(),
        Some(_) => "[value]".to_string(),
        None => String::new(),
    };
    cut(&text, MAX_BODY)
}

fn id_hex(id: &[u8], len: usize) -> Option<String> {
    (id.len() == len && id.iter().any(|b| *b != 0)).then(|| hex(id))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `text` cut to at most `max` bytes on a character boundary, `…` appended when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
