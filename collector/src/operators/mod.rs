//! The Collector's stanza operators (`operators:` of `filelog`), with the same names and
//! fields so existing configurations work: `json_parser`, `regex_parser`, `severity_parser`,
//! `time_parser`, `trace_parser`, `move`, `remove`, `add`, `copy`.
//!
//! Operators run in list order (`output:` routing is not supported). A failing operator never
//! loses the record: with `on_error: send` (the default) the record goes on unchanged, marked
//! with the [`PARSE_ERROR_ATTRIBUTE`] attribute.

pub mod entry;
pub mod fields;
pub mod parser;
pub mod severity;
pub mod time;
pub mod trace;

use serde::Deserialize;
use serde_json::Value;

pub use entry::{Attributes, Entry, Field, Key};

use fields::{AddConfig, CopyConfig, MoveConfig, RemoveConfig};
use parser::{JsonParserConfig, ParseStats, Parser, RegexParserConfig};
use severity::{MappingValues, SeverityConfig, SeverityParser};
use time::{LayoutType, TimeConfig, TimeParser};
use trace::{ParseFrom, TraceConfig, TraceParser};

/// The attribute that marks a record an operator failed on; its value is the error.
pub const PARSE_ERROR_ATTRIBUTE: &str = "log.parse.error";

/// `on_error`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Log the error and send the record on (default).
    #[default]
    Send,
    /// Send the record on without logging.
    SendQuiet,
    /// Log the error and drop the record.
    Drop,
    /// Drop the record without logging.
    DropQuiet,
}

/// One entry of `operators:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperatorConfig {
    /// `json_parser`.
    JsonParser(JsonParserConfig),
    /// `regex_parser`.
    RegexParser(RegexParserConfig),
    /// `severity_parser`.
    SeverityParser(SeverityParserConfig),
    /// `time_parser`.
    TimeParser(TimeParserConfig),
    /// `trace_parser`.
    TraceParser(TraceParserConfig),
    /// `move`.
    Move(MoveConfig),
    /// `remove`.
    Remove(RemoveConfig),
    /// `add`.
    Add(AddConfig),
    /// `copy`.
    Copy(CopyConfig),
}

/// `type: severity_parser`: the `severity:` fields plus `id` and `on_error`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityParserConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
    /// `parse_from` (required).
    pub parse_from: Field,
    /// `preset` (default `default`).
    #[serde(default)]
    pub preset: Option<String>,
    /// `mapping`.
    #[serde(default)]
    pub mapping: std::collections::HashMap<String, MappingValues>,
    /// `overwrite_text`.
    #[serde(default)]
    pub overwrite_text: bool,
}

/// `type: time_parser`: the `timestamp:` fields plus `id` and `on_error`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeParserConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
    /// `parse_from` (required).
    pub parse_from: Field,
    /// `layout_type` (default `strptime`).
    #[serde(default)]
    pub layout_type: LayoutType,
    /// `layout` (required).
    pub layout: String,
    /// `location` (default: local zone).
    #[serde(default)]
    pub location: Option<String>,
}

/// `type: trace_parser`: the `trace:` fields plus `id` and `on_error`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceParserConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
    /// `trace_id.parse_from`.
    #[serde(default)]
    pub trace_id: Option<ParseFrom>,
    /// `span_id.parse_from`.
    #[serde(default)]
    pub span_id: Option<ParseFrom>,
    /// `trace_flags.parse_from`.
    #[serde(default)]
    pub trace_flags: Option<ParseFrom>,
}

#[derive(Debug, Clone)]
enum Op {
    Parse(Box<Parser>),
    Severity(SeverityParser),
    Time(TimeParser),
    Trace(TraceParser),
    Move(Field, Field),
    Copy(Field, Field),
    Remove(Field),
    Add(Field, Value),
}

#[derive(Debug, Clone)]
struct Step {
    id: String,
    on_error: OnError,
    op: Op,
}

/// The built operator list.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    steps: Vec<Step>,
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// False when an operator with `on_error: drop*` failed.
    pub keep: bool,
    /// Operators that failed on this record.
    pub errors: usize,
    /// Ids that were present but invalid (left in place).
    pub invalid_trace_ids: usize,
}

impl Pipeline {
    /// Builds and checks every operator; errors name the operator.
    pub fn new(configs: &[OperatorConfig]) -> Result<Pipeline, String> {
        let mut steps = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let (id, on_error, op) = build(config).map_err(|e| format!("operators[{i}]: {e}"))?;
            steps.push(Step { id, on_error, op });
        }
        Ok(Pipeline { steps })
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs every operator on `entry`.
    pub fn process(&self, entry: &mut Entry) -> Outcome {
        let mut outcome = Outcome {
            keep: true,
            ..Outcome::default()
        };
        for step in &self.steps {
            let result = match &step.op {
                Op::Parse(p) => p.apply(entry).map(|s: ParseStats| s.invalid_trace_ids),
                Op::Severity(p) => p.apply(entry).map(|()| 0),
                Op::Time(p) => p.apply(entry).map(|()| 0),
                Op::Trace(p) => Ok(p.apply(entry)),
                Op::Move(from, to) => fields::move_field(entry, from, to).map(|()| 0),
                Op::Copy(from, to) => fields::copy_field(entry, from, to).map(|()| 0),
                Op::Remove(field) => fields::remove_field(entry, field).map(|()| 0),
                Op::Add(field, value) => {
                    entry.set(field, value.clone());
                    Ok(0)
                }
            };
            match result {
                Ok(invalid) => outcome.invalid_trace_ids += invalid,
                Err(message) => {
                    outcome.errors += 1;
                    if matches!(step.on_error, OnError::Send | OnError::Drop) {
                        tracing::debug!(operator = %step.id, error = %message, "operator failed");
                    }
                    if matches!(step.on_error, OnError::Drop | OnError::DropQuiet) {
                        outcome.keep = false;
                        return outcome;
                    }
                    entry.attributes.insert(
                        PARSE_ERROR_ATTRIBUTE.into(),
                        Value::String(format!("{}: {message}", step.id)),
                    );
                }
            }
        }
        outcome
    }
}

fn build(config: &OperatorConfig) -> Result<(String, OnError, Op), String> {
    let name = |id: &Option<String>, kind: &str| id.clone().unwrap_or_else(|| kind.to_string());
    Ok(match config {
        OperatorConfig::JsonParser(c) => (
            name(&c.id, "json_parser"),
            c.on_error,
            Op::Parse(Box::new(Parser::json(c)?)),
        ),
        OperatorConfig::RegexParser(c) => (
            name(&c.id, "regex_parser"),
            c.on_error,
            Op::Parse(Box::new(Parser::regex(c)?)),
        ),
        OperatorConfig::SeverityParser(c) => {
            let inner = SeverityConfig {
                parse_from: c.parse_from.clone(),
                preset: c.preset.clone().unwrap_or_else(|| "default".into()),
                mapping: c.mapping.clone(),
                overwrite_text: c.overwrite_text,
            };
            (
                name(&c.id, "severity_parser"),
                c.on_error,
                Op::Severity(SeverityParser::new(&inner)?),
            )
        }
        OperatorConfig::TimeParser(c) => {
            let inner = TimeConfig {
                parse_from: c.parse_from.clone(),
                layout_type: c.layout_type,
                layout: c.layout.clone(),
                location: c.location.clone(),
            };
            (
                name(&c.id, "time_parser"),
                c.on_error,
                Op::Time(TimeParser::new(&inner)?),
            )
        }
        OperatorConfig::TraceParser(c) => {
            let inner = TraceConfig {
                trace_id: c.trace_id.clone(),
                span_id: c.span_id.clone(),
                trace_flags: c.trace_flags.clone(),
            };
            (
                name(&c.id, "trace_parser"),
                c.on_error,
                Op::Trace(TraceParser::new(&inner)),
            )
        }
        OperatorConfig::Move(c) => (
            name(&c.id, "move"),
            c.on_error,
            Op::Move(c.from.clone(), c.to.clone()),
        ),
        OperatorConfig::Copy(c) => (
            name(&c.id, "copy"),
            c.on_error,
            Op::Copy(c.from.clone(), c.to.clone()),
        ),
        OperatorConfig::Remove(c) => (
            name(&c.id, "remove"),
            c.on_error,
            Op::Remove(c.field.clone()),
        ),
        OperatorConfig::Add(c) => {
            fields::check_add_value(&c.value)?;
            (
                name(&c.id, "add"),
                c.on_error,
                Op::Add(c.field.clone(), c.value.clone()),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pipeline(yaml: &str) -> Pipeline {
        let configs: Vec<OperatorConfig> = serde_yaml_ng::from_str(yaml).unwrap();
        Pipeline::new(&configs).unwrap()
    }

    #[test]
    fn collector_style_config_runs_in_order() {
        let p = pipeline(
            r#"
- type: regex_parser
  regex: '^(?P<time>[^ ]+) (?P<sev>[A-Z]+) (?P<msg>.*)$'
  timestamp:
    parse_from: attributes.time
    layout: '%Y-%m-%dT%H:%M:%SZ'
    location: UTC
  severity:
    parse_from: attributes.sev
- type: move
  from: attributes.msg
  to: body
- type: remove
  field: attributes.time
- type: add
  field: resource["service.name"]
  value: checkout
- type: copy
  from: attributes.sev
  to: attributes.level
"#,
        );
        let mut e = Entry::from_line("2024-01-02T03:04:05Z ERROR disk full".into());
        let out = p.process(&mut e);
        assert_eq!(
            out,
            Outcome {
                keep: true,
                errors: 0,
                invalid_trace_ids: 0
            }
        );
        assert_eq!(e.body, json!("disk full"));
        assert_eq!(e.severity, 17);
        assert_eq!(e.timestamp, Some(1_704_164_645_000_000_000));
        assert_eq!(e.resource["service.name"], json!("checkout"));
        assert_eq!(e.attributes["level"], json!("ERROR"));
        assert!(!e.attributes.contains_key("time"));
    }

    #[test]
    fn failed_parse_keeps_raw_line_and_marks_it() {
        let p =
            pipeline("- type: json_parser\n- type: add\n  field: attributes.after\n  value: 1\n");
        let mut e = Entry::from_line("not json".into());
        let out = p.process(&mut e);
        assert!(out.keep);
        assert_eq!(out.errors, 1);
        assert_eq!(e.body, json!("not json"));
        assert!(
            e.attributes[PARSE_ERROR_ATTRIBUTE]
                .as_str()
                .unwrap()
                .starts_with("json_parser: invalid JSON")
        );
        // Later operators still run.
        assert_eq!(e.attributes["after"], json!(1));
    }

    #[test]
    fn on_error_drop_is_honoured() {
        let p = pipeline("- type: json_parser\n  on_error: drop_quiet\n");
        let mut e = Entry::from_line("x".into());
        assert!(!p.process(&mut e).keep);
    }

    #[test]
    fn standalone_parsers_and_unknown_keys() {
        let p = pipeline(
            "- type: json_parser\n- type: time_parser\n  parse_from: attributes.ts\n  layout_type: epoch\n  layout: ms\n- type: severity_parser\n  parse_from: attributes.lvl\n- type: trace_parser\n",
        );
        let mut e = Entry::from_line(
            r#"{"ts":1000,"lvl":"debug","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#.into(),
        );
        let out = p.process(&mut e);
        assert_eq!(out.errors, 0);
        assert_eq!(e.timestamp, Some(1_000_000_000));
        assert_eq!(e.severity, 5);
        assert_eq!(e.trace_flags, Some(1));
        let bad: Result<Vec<OperatorConfig>, _> =
            serde_yaml_ng::from_str("- type: json_parser\n  bogus: 1\n");
        assert!(bad.is_err());
        let bad: Result<Vec<OperatorConfig>, _> =
            serde_yaml_ng::from_str("- type: key_value_parser\n");
        assert!(bad.is_err());
        let configs: Vec<OperatorConfig> =
            serde_yaml_ng::from_str("- type: add\n  field: body\n  value: EXPR(x)\n").unwrap();
        assert!(Pipeline::new(&configs).is_err());
    }
}
