//! The summary attributes contrib's processor adds to each list it changed
//! (`redaction.masked.count`, …), merged with those a previous redaction processor left.

use std::ops::Range;

use lookout_proto::wire::Patch;

use super::config::Summary;

/// `redaction.redacted.keys`: removed keys, comma-joined, sorted (`debug`).
pub(crate) const REDACTED_KEYS: &str = "redaction.redacted.keys";
/// `redaction.redacted.count`: how many attributes were removed.
pub(crate) const REDACTED_COUNT: &str = "redaction.redacted.count";
/// `redaction.masked.keys`: keys whose values were masked (`debug`).
pub(crate) const MASKED_KEYS: &str = "redaction.masked.keys";
/// `redaction.masked.count`: how many values were masked.
pub(crate) const MASKED_COUNT: &str = "redaction.masked.count";
/// `redaction.ignored.count`: how many attributes were ignored.
pub(crate) const IGNORED_COUNT: &str = "redaction.ignored.count";
/// `redaction.body.masked.keys`: `body` when a log body was masked (`debug`).
pub(crate) const BODY_MASKED_KEYS: &str = "redaction.body.masked.keys";
/// `redaction.body.masked.count`: 1 when a log body was masked.
pub(crate) const BODY_MASKED_COUNT: &str = "redaction.body.masked.count";

/// Every summary key, in the order they are appended.
pub(crate) const SUMMARY_KEYS: [&str; 7] = [
    REDACTED_KEYS,
    REDACTED_COUNT,
    MASKED_KEYS,
    MASKED_COUNT,
    IGNORED_COUNT,
    BODY_MASKED_KEYS,
    BODY_MASKED_COUNT,
];

/// A summary attribute already on the list: where it is and its value.
#[derive(Debug, Clone)]
pub(crate) struct Existing<'a> {
    pub(crate) field: Range<usize>,
    pub(crate) int: i64,
    pub(crate) text: &'a str,
}

/// What the processor did to one attribute list (and its log body).
#[derive(Debug, Default)]
pub(crate) struct Tally<'a> {
    /// Removed attributes, and their keys with `summary: debug`.
    pub(crate) redacted: u64,
    pub(crate) redacted_keys: Vec<&'a str>,
    /// Masked values, and their keys with `summary: debug`.
    pub(crate) masked: u64,
    pub(crate) masked_keys: Vec<&'a str>,
    /// Ignored attributes.
    pub(crate) ignored: u64,
    /// Whether the log body was masked.
    pub(crate) body_masked: bool,
    /// Summary attributes already present, by index in [`SUMMARY_KEYS`].
    pub(crate) existing: [Option<Existing<'a>>; 7],
}

/// The index of `key` in [`SUMMARY_KEYS`].
#[inline]
pub(crate) fn summary_index(key: &[u8]) -> Option<usize> {
    if !key.starts_with(b"redaction.") {
        return None;
    }
    SUMMARY_KEYS.iter().position(|k| k.as_bytes() == key)
}

enum Value {
    Int(i64),
    Str(String),
}

impl Tally<'_> {
    /// Adds the summary attributes to `patch` (whose container ends at `end`): each replaces
    /// the same attribute of a previous redaction processor, merged with it, or is appended.
    pub(crate) fn finish(self, summary: Summary, attr_field: u32, end: usize, patch: &mut Patch) {
        if summary == Summary::Silent {
            return;
        }
        let debug = summary == Summary::Debug;
        let keys = |new: Vec<&str>, old: Option<&Existing<'_>>| {
            let mut all: Vec<&str> = new;
            if let Some(old) = old.filter(|o| !o.text.is_empty()) {
                all.extend(old.text.split(','));
            }
            all.sort_unstable();
            Value::Str(all.join(","))
        };
        let count =
            |n: u64, old: Option<&Existing<'_>>| Value::Int(n as i64 + old.map_or(0, |o| o.int));
        let [rk, rc, mk, mc, ic, bk, bc] = &self.existing;
        let body = u64::from(self.body_masked);
        let mut out: Vec<(usize, Value)> = Vec::new();
        if self.redacted > 0 {
            if debug {
                out.push((0, keys(self.redacted_keys, rk.as_ref())));
            }
            out.push((1, count(self.redacted, rc.as_ref())));
        }
        if self.masked > 0 {
            if debug {
                out.push((2, keys(self.masked_keys, mk.as_ref())));
            }
            out.push((3, count(self.masked, mc.as_ref())));
        }
        if self.ignored > 0 {
            out.push((4, count(self.ignored, ic.as_ref())));
        }
        if body > 0 {
            if debug {
                out.push((5, keys(vec!["body"], bk.as_ref())));
            }
            out.push((6, count(body, bc.as_ref())));
        }
        if out.is_empty() {
            return;
        }
        for (i, value) in out {
            let key = SUMMARY_KEYS.get(i).copied().unwrap_or_default();
            let bytes = encode(attr_field, key, &value);
            let at = match self.existing.get(i).and_then(Option::as_ref) {
                Some(old) => old.field.clone(),
                None => end..end,
            };
            patch.splices.push((at, bytes));
        }
        // Replacements of earlier summary attributes go back in their place.
        patch.splices.sort_by_key(|(r, _)| r.start);
    }
}

/// One `KeyValue` as the repeated attributes field `field`.
fn encode(field: u32, key: &str, value: &Value) -> Vec<u8> {
    use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, any_value};
    let value = match value {
        Value::Int(i) => any_value::Value::IntValue(*i),
        Value::Str(s) => any_value::Value::StringValue(s.clone()),
    };
    let kv = KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    };
    let mut out = Vec::new();
    prost::encoding::message::encode(field, &kv, &mut out);
    out
}
