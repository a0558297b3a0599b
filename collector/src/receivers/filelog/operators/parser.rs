//! `json_parser` and `regex_parser`: read a field, write a map to `parse_to`, then run the
//! embedded `timestamp:`, `severity:` and `trace:` blocks.

use std::fmt;

use regex::Regex;
use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::entry::{Attributes, Entry, Field, Key};
use super::severity::{SeverityConfig, SeverityParser};
use super::time::{TimeConfig, TimeParser};
use super::trace::{TraceConfig, TraceParser};
use super::{OnError, OutputId};

fn body() -> Field {
    Field::body()
}

fn attributes() -> Field {
    Field::Attributes(Vec::new())
}

/// `type: json_parser`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonParserConfig {
    /// `id` (default: the type).
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
    /// `parse_from` (default `body`).
    #[serde(default = "body")]
    pub parse_from: Field,
    /// `parse_to` (default `attributes`).
    #[serde(default = "attributes")]
    pub parse_to: Field,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
    /// Embedded `timestamp:` block.
    #[serde(default)]
    pub timestamp: Option<TimeConfig>,
    /// Embedded `severity:` block.
    #[serde(default)]
    pub severity: Option<SeverityConfig>,
    /// Embedded `trace:` block.
    #[serde(default)]
    pub trace: Option<TraceConfig>,
}

/// `type: regex_parser`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegexParserConfig {
    /// `id` (default: the type).
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
    /// `regex`: named captures become keys (required).
    pub regex: String,
    /// `parse_from` (default `body`).
    #[serde(default = "body")]
    pub parse_from: Field,
    /// `parse_to` (default `attributes`).
    #[serde(default = "attributes")]
    pub parse_to: Field,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
    /// Embedded `timestamp:` block.
    #[serde(default)]
    pub timestamp: Option<TimeConfig>,
    /// Embedded `severity:` block.
    #[serde(default)]
    pub severity: Option<SeverityConfig>,
    /// Embedded `trace:` block.
    #[serde(default)]
    pub trace: Option<TraceConfig>,
}

#[derive(Debug, Clone)]
enum Kind {
    Json,
    Regex(Regex),
}

/// A built parser.
#[derive(Debug, Clone)]
pub(crate) struct Parser {
    kind: Kind,
    parse_from: Field,
    parse_to: Field,
    timestamp: Option<TimeParser>,
    severity: Option<SeverityParser>,
    trace: Option<TraceParser>,
}

/// What a parser run found besides success or failure.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParseStats {
    /// Trace or span ids that were present but invalid.
    pub invalid_trace_ids: usize,
}

impl Parser {
    /// A JSON parser.
    pub(crate) fn json(c: &JsonParserConfig) -> Result<Parser, String> {
        Parser::build(
            Kind::Json,
            c.parse_from.clone(),
            c.parse_to.clone(),
            c.timestamp.as_ref(),
            c.severity.as_ref(),
            c.trace.as_ref(),
        )
    }

    /// A regex parser.
    pub(crate) fn regex(c: &RegexParserConfig) -> Result<Parser, String> {
        let regex = Regex::new(&c.regex).map_err(|e| format!("invalid regex: {e}"))?;
        if regex.capture_names().flatten().next().is_none() {
            return Err("regex has no named capture groups ((?P<name>...))".into());
        }
        Parser::build(
            Kind::Regex(regex),
            c.parse_from.clone(),
            c.parse_to.clone(),
            c.timestamp.as_ref(),
            c.severity.as_ref(),
            c.trace.as_ref(),
        )
    }

    fn build(
        kind: Kind,
        parse_from: Field,
        parse_to: Field,
        timestamp: Option<&TimeConfig>,
        severity: Option<&SeverityConfig>,
        trace: Option<&TraceConfig>,
    ) -> Result<Parser, String> {
        Ok(Parser {
            kind,
            parse_from,
            parse_to,
            timestamp: timestamp
                .map(TimeParser::new)
                .transpose()
                .map_err(|e| format!("timestamp: {e}"))?,
            severity: severity
                .map(SeverityParser::new)
                .transpose()
                .map_err(|e| format!("severity: {e}"))?,
            trace: trace.map(TraceParser::new),
        })
    }

    /// Parses; on error the entry is unchanged.
    pub(crate) fn apply(&self, entry: &mut Entry) -> Result<ParseStats, String> {
        let value = entry
            .get(&self.parse_from)
            .ok_or_else(|| format!("field {} is missing", self.parse_from))?;
        let map = match &self.kind {
            Kind::Json => parse_json(value)?,
            Kind::Regex(regex) => parse_regex(regex, value)?,
        };
        merge(entry, &self.parse_to, map);
        let mut stats = ParseStats::default();
        // Embedded blocks run after the fields exist; their failures fail the parser, as in
        // the Collector, but the parsed fields stay.
        if let Some(t) = &self.timestamp {
            t.apply(entry)?;
        }
        if let Some(s) = &self.severity {
            s.apply(entry)?;
        }
        if let Some(t) = &self.trace {
            stats.invalid_trace_ids += t.apply(entry);
        }
        Ok(stats)
    }
}

fn parse_json(value: &Value) -> Result<Attributes, String> {
    let Value::String(text) = value else {
        if let Value::Object(map) = value {
            return Ok(map.iter().map(|(k, v)| (k, v.clone())).collect());
        }
        return Err(format!("expected a JSON string, found {value}"));
    };
    match serde_json::from_str::<TopLevel>(text) {
        Ok(TopLevel::Object(map)) => Ok(map),
        Ok(TopLevel::Other(kind)) => Err(format!("expected a JSON object, found {kind}")),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// A parsed line: the object's keys go straight into [`Attributes`] (no `String` per key, no
/// intermediate `serde_json::Map`); anything else only reports its kind.
enum TopLevel {
    Object(Attributes),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("a string"))
    }

    fn visit_unit<E>(self) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
        // Read to the end so that invalid JSON inside is still reported as invalid, as when
        // the whole value was parsed.
        while seq.next_element::<Value>()?.is_some() {}
        Ok(TopLevel::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<TopLevel, A::Error> {
        let mut items = Vec::with_capacity(access.size_hint().unwrap_or(16));
        while let Some(key) = access.next_key::<KeyIn>()? {
            items.push((key.0, access.next_value()?));
        }
        Ok(TopLevel::Object(Attributes::from_unsorted(items)))
    }
}

/// A key read from borrowed or transient text, without an intermediate `String`.
struct KeyIn(Key);

impl<'de> Deserialize<'de> for KeyIn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = KeyIn;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, s: &str) -> Result<KeyIn, E> {
        Ok(KeyIn(Key::from(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<KeyIn, E> {
        Ok(KeyIn(Key::from(s)))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_regex(regex: &Regex, value: &Value) -> Result<Attributes, String> {
    let Value::String(text) = value else {
        return Err(format!("expected a string, found {}", json_kind(value)));
    };
    let captures = regex
        .captures(text)
        .ok_or_else(|| "regex pattern does not match".to_string())?;
    let mut map = Attributes::new();
    for name in regex.capture_names().flatten() {
        if let Some(m) = captures.name(name) {
            map.insert(Key::from(name), Value::String(m.as_str().to_string()));
        }
    }
    Ok(map)
}

/// Parsed keys are merged into an existing map at `parse_to` (attributes keep other keys).
fn merge(entry: &mut Entry, parse_to: &Field, map: Attributes) {
    let target = match parse_to {
        Field::Attributes(p) if p.is_empty() => Some(&mut entry.attributes),
        Field::Resource(p) if p.is_empty() => Some(&mut entry.resource),
        _ => None,
    };
    match target {
        // Parsed keys win over existing ones either way; inserting the smaller map into the
        // larger one gives the same map with fewer insertions (usually only the file name is
        // already there).
        Some(target) if target.len() < map.len() => {
            let mut map = map;
            for (key, value) in std::mem::take(target) {
                map.insert_if_absent(key, value);
            }
            *target = map;
        }
        Some(target) => target.extend(map),
        None => entry.set(parse_to, Value::Object(map.into_json())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_into_attributes_with_embedded_blocks() {
        let c: JsonParserConfig = serde_yaml_ng::from_str(
            "timestamp:\n  parse_from: attributes.ts\n  layout_type: epoch\n  layout: s\nseverity:\n  parse_from: attributes.level\ntrace:\n  trace_id:\n    parse_from: attributes.tid\n",
        )
        .unwrap();
        let p = Parser::json(&c).unwrap();
        let mut e = Entry::from_line(
            r#"{"msg":"hi","ts":10,"level":"warn","tid":"4bf92f3577b34da6a3ce929d0e0e4736","n":{"a":1}}"#.into(),
        );
        assert_eq!(p.apply(&mut e), Ok(ParseStats::default()));
        assert_eq!(e.attributes["msg"], json!("hi"));
        assert_eq!(e.attributes["n"], json!({"a": 1}));
        assert_eq!(e.timestamp, Some(10_000_000_000));
        assert_eq!(e.severity, 13);
        assert!(e.trace_id.is_some());
        assert!(e.body.is_string(), "the body stays the raw line");
    }

    #[test]
    fn json_error_messages_name_the_kind() {
        let cases = [
            ("[1,2]", "expected a JSON object, found an array"),
            ("\"x\"", "expected a JSON object, found a string"),
            ("1.5", "expected a JSON object, found a number"),
            ("-1", "expected a JSON object, found a number"),
            ("true", "expected a JSON object, found a boolean"),
            ("null", "expected a JSON object, found null"),
        ];
        for (line, message) in cases {
            assert_eq!(parse_json(&json!(line)).unwrap_err(), message);
        }
        for line in ["[1,", "{\"a\":1} x", "{1:2}", "[{\"a\":}]"] {
            let expected = serde_json::from_str::<Value>(line).unwrap_err().to_string();
            assert_eq!(
                parse_json(&json!(line)).unwrap_err(),
                format!("invalid JSON: {expected}")
            );
        }
        let parsed = parse_json(&json!(
            r#"{"b":1,"a":{"x":[1]},"b":"two","a.very.long.key.name.here":null}"#
        ));
        let expected = json!({"b":"two","a":{"x":[1]},"a.very.long.key.name.here":null});
        assert_eq!(Value::Object(parsed.unwrap().into_json()), expected);
    }

    #[test]
    fn json_errors_leave_entry_unchanged() {
        let p = Parser::json(&serde_yaml_ng::from_str("{}").unwrap()).unwrap();
        for line in ["not json", "[1,2]", r#"{"a":"#] {
            let mut e = Entry::from_line(line.into());
            let before = e.clone();
            assert!(p.apply(&mut e).is_err());
            assert_eq!(e, before);
        }
    }

    #[test]
    fn regex_named_captures_to_body_map() {
        let c: RegexParserConfig = serde_yaml_ng::from_str(
            "regex: '^(?P<time>\\S+) (?P<sev>[A-Z]+)(?: (?P<opt>\\d+))? (?P<msg>.*)$'\nparse_to: body.parsed",
        )
        .unwrap();
        let p = Parser::regex(&c).unwrap();
        let mut e = Entry::from_line("2024-01-01 INFO hello world".into());
        p.apply(&mut e).unwrap();
        assert_eq!(
            e.body,
            json!({"parsed": {"time": "2024-01-01", "sev": "INFO", "msg": "hello world"}})
        );
        let mut e = Entry::from_line("nope".into());
        assert!(p.apply(&mut e).is_err());
    }

    #[test]
    fn regex_without_names_or_invalid_is_a_config_error() {
        let c: RegexParserConfig = serde_yaml_ng::from_str("regex: '(a)'").unwrap();
        assert!(Parser::regex(&c).is_err());
        let c: RegexParserConfig = serde_yaml_ng::from_str("regex: '(?P<a>'").unwrap();
        assert!(Parser::regex(&c).is_err());
    }
}
