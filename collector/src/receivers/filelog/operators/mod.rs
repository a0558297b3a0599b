//! The Collector's stanza operators (`operators:` of `filelog`), with the same names and
//! fields so existing configurations work: `json_parser`, `regex_parser`, `severity_parser`,
//! `time_parser`, `trace_parser`, `move`, `remove`, `add`, `copy`, and `router`.
//!
//! Operators run in list order unless one names another in `output:` (a later one: the list
//! is a chain, as stanza requires it to be acyclic) or a `router` sends the record to the first
//! route whose `expr` is true. `if:` skips an operator for records the expression is false for
//! (see [`expr`] for the expression subset). A failing operator never loses the record: with
//! `on_error: send` (the default) the record goes on unchanged, marked with the
//! [`PARSE_ERROR_ATTRIBUTE`] attribute.

pub(crate) mod entry;
pub(crate) mod expr;
pub(crate) mod fields;
pub(crate) mod parser;
pub(crate) mod severity;
pub(crate) mod time;
pub(crate) mod trace;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub(crate) use entry::{Attributes, Entry, Field};
use expr::Expr;

use fields::{AddConfig, CopyConfig, MoveConfig, RemoveConfig};
use parser::{JsonParserConfig, ParseStats, Parser, RegexParserConfig};
use severity::{MappingValues, SeverityConfig, SeverityParser};
use time::{LayoutType, TimeConfig, TimeParser};
use trace::{ParseFrom, TraceConfig, TraceParser};

/// The attribute that marks a record an operator failed on; its value is the error.
pub(crate) const PARSE_ERROR_ATTRIBUTE: &str = "log.parse.error";

/// `on_error`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnError {
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
pub(crate) enum OperatorConfig {
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
    /// `router`.
    Router(RouterConfig),
}

/// `output:`: one operator id (stanza also accepts a one-element list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputId(pub String);

impl<'de> Deserialize<'de> for OutputId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        match Raw::deserialize(deserializer)? {
            Raw::One(id) => Ok(OutputId(id)),
            Raw::Many(mut ids) if ids.len() == 1 => Ok(OutputId(ids.remove(0))),
            Raw::Many(_) => Err(serde::de::Error::custom(
                "output: exactly one operator id (sending a record to several operators is not supported)",
            )),
        }
    }
}

/// `type: router`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `routes`: tried in order; the first whose `expr` is true decides where the record goes.
    pub routes: Vec<RouteConfig>,
    /// `default`: where records no route matches go; without it they are dropped, as in stanza.
    #[serde(default)]
    pub default: Option<OutputId>,
}

/// One entry of a router's `routes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteConfig {
    /// `expr` (required).
    pub expr: String,
    /// `output`: the operator id records of this route go to (required).
    pub output: OutputId,
    /// `attributes`: added to records of this route.
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
}

/// `type: severity_parser`: the `severity:` fields plus `id` and `on_error`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeverityParserConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
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
pub(crate) struct TimeParserConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
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
pub(crate) struct TraceParserConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
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
    /// (condition, target step, attributes to add) per route; the default target.
    Router(Vec<Route>, Option<usize>),
}

#[derive(Debug, Clone)]
struct Route {
    expr: Expr,
    target: usize,
    attributes: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
struct Step {
    id: String,
    on_error: OnError,
    op: Op,
    /// `if:`.
    cond: Option<Expr>,
    /// `output:` resolved to a step index; `None` is the next step.
    next: Option<usize>,
}

/// The built operator list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pipeline {
    steps: Vec<Step>,
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// False when an operator with `on_error: drop*` failed.
    pub keep: bool,
    /// Operators that failed on this record.
    pub errors: usize,
    /// Ids that were present but invalid (left in place).
    pub invalid_trace_ids: usize,
}

/// Where a step sends the record: by index into the list, or to the end of the list.
fn resolve(ids: &[String], from: usize, target: &OutputId) -> Result<usize, String> {
    let found: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| **id == target.0)
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [] => Err(format!(
            "output {:?} names no operator (ids: {})",
            target.0,
            ids.join(", ")
        )),
        [i] if *i > from => Ok(*i),
        [_] => Err(format!(
            "output {:?} points back to an earlier operator; operators form a chain without cycles",
            target.0
        )),
        _ => Err(format!(
            "output {:?} is ambiguous: several operators have that id (give them distinct `id`s)",
            target.0
        )),
    }
}

impl Pipeline {
    /// Builds and checks every operator; errors name the operator.
    pub(crate) fn new(configs: &[OperatorConfig]) -> Result<Pipeline, String> {
        let mut built = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            built.push(build(config).map_err(|e| format!("operators[{i}]: {e}"))?);
        }
        let ids: Vec<String> = built.iter().map(|b| b.id.clone()).collect();
        let mut steps = Vec::with_capacity(built.len());
        for (i, b) in built.into_iter().enumerate() {
            let err = |e: String| format!("operators[{i}] ({}): {e}", b.id);
            let cond = b
                .cond
                .as_deref()
                .map(Expr::parse)
                .transpose()
                .map_err(|e| err(format!("if: {e}")))?;
            let next = b
                .output
                .as_ref()
                .map(|o| resolve(&ids, i, o))
                .transpose()
                .map_err(err)?;
            let op = match b.op {
                BuiltOp::Op(op) => op,
                BuiltOp::Router(config) => {
                    let mut routes = Vec::with_capacity(config.routes.len());
                    for (r, route) in config.routes.iter().enumerate() {
                        let expr = Expr::parse(&route.expr)
                            .map_err(|e| err(format!("routes[{r}].expr: {e}")))?;
                        let target = resolve(&ids, i, &route.output)
                            .map_err(|e| err(format!("routes[{r}]: {e}")))?;
                        let attributes = route
                            .attributes
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        routes.push(Route {
                            expr,
                            target,
                            attributes,
                        });
                    }
                    let default = config
                        .default
                        .as_ref()
                        .map(|o| resolve(&ids, i, o))
                        .transpose()
                        .map_err(|e| err(format!("default: {e}")))?;
                    Op::Router(routes, default)
                }
            };
            steps.push(Step {
                id: b.id,
                on_error: b.on_error,
                op,
                cond,
                next,
            });
        }
        Ok(Pipeline { steps })
    }

    /// Runs the operators on `entry`, following `if`, `output` and routers.
    pub(crate) fn process(&self, entry: &mut Entry) -> Outcome {
        let mut outcome = Outcome {
            keep: true,
            ..Outcome::default()
        };
        let mut i = 0;
        while let Some(step) = self.steps.get(i) {
            let after = step.next.unwrap_or(i + 1);
            if step.cond.as_ref().is_some_and(|c| !c.is_true(entry)) {
                i = after;
                continue;
            }
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
                Op::Router(routes, default) => {
                    match routes.iter().find(|r| r.expr.is_true(entry)) {
                        Some(route) => {
                            for (k, v) in &route.attributes {
                                entry.attributes.insert(k.as_str().into(), v.clone());
                            }
                            i = route.target;
                        }
                        None => match default {
                            Some(target) => i = *target,
                            None => {
                                outcome.keep = false;
                                return outcome;
                            }
                        },
                    }
                    continue;
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
            i = after;
        }
        outcome
    }
}

/// One operator before `output` ids are resolved.
struct Built {
    id: String,
    on_error: OnError,
    cond: Option<String>,
    output: Option<OutputId>,
    op: BuiltOp,
}

enum BuiltOp {
    Op(Op),
    Router(RouterConfig),
}

fn build(config: &OperatorConfig) -> Result<Built, String> {
    let (cond, output) = match config {
        OperatorConfig::JsonParser(c) => (&c.if_expr, &c.output),
        OperatorConfig::RegexParser(c) => (&c.if_expr, &c.output),
        OperatorConfig::SeverityParser(c) => (&c.if_expr, &c.output),
        OperatorConfig::TimeParser(c) => (&c.if_expr, &c.output),
        OperatorConfig::TraceParser(c) => (&c.if_expr, &c.output),
        OperatorConfig::Move(c) => (&c.if_expr, &c.output),
        OperatorConfig::Copy(c) => (&c.if_expr, &c.output),
        OperatorConfig::Remove(c) => (&c.if_expr, &c.output),
        OperatorConfig::Add(c) => (&c.if_expr, &c.output),
        // A router's routes are its outputs; it has no `if`.
        OperatorConfig::Router(_) => (&None, &None),
    };
    let (id, on_error, op) = build_op(config)?;
    Ok(Built {
        id,
        on_error,
        cond: cond.clone(),
        output: output.clone(),
        op,
    })
}

fn build_op(config: &OperatorConfig) -> Result<(String, OnError, BuiltOp), String> {
    let name = |id: &Option<String>, kind: &str| id.clone().unwrap_or_else(|| kind.to_string());
    Ok(match config {
        OperatorConfig::JsonParser(c) => (
            name(&c.id, "json_parser"),
            c.on_error,
            BuiltOp::Op(Op::Parse(Box::new(Parser::json(c)?))),
        ),
        OperatorConfig::RegexParser(c) => (
            name(&c.id, "regex_parser"),
            c.on_error,
            BuiltOp::Op(Op::Parse(Box::new(Parser::regex(c)?))),
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
                BuiltOp::Op(Op::Severity(SeverityParser::new(&inner)?)),
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
                BuiltOp::Op(Op::Time(TimeParser::new(&inner)?)),
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
                BuiltOp::Op(Op::Trace(TraceParser::new(&inner))),
            )
        }
        OperatorConfig::Move(c) => (
            name(&c.id, "move"),
            c.on_error,
            BuiltOp::Op(Op::Move(c.from.clone(), c.to.clone())),
        ),
        OperatorConfig::Copy(c) => (
            name(&c.id, "copy"),
            c.on_error,
            BuiltOp::Op(Op::Copy(c.from.clone(), c.to.clone())),
        ),
        OperatorConfig::Remove(c) => (
            name(&c.id, "remove"),
            c.on_error,
            BuiltOp::Op(Op::Remove(c.field.clone())),
        ),
        OperatorConfig::Router(c) => {
            if c.routes.is_empty() {
                return Err("router: routes must list at least one route".into());
            }
            (
                name(&c.id, "router"),
                OnError::Send,
                BuiltOp::Router(c.clone()),
            )
        }
        OperatorConfig::Add(c) => {
            fields::check_add_value(&c.value)?;
            (
                name(&c.id, "add"),
                c.on_error,
                BuiltOp::Op(Op::Add(c.field.clone(), c.value.clone())),
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

    #[test]
    fn router_if_and_output_route_records_like_stanza() {
        // The container-log layout: JSON lines go to the JSON parser, others to a regex one,
        // and both continue at the common tail.
        let p = pipeline(
            r#"
- type: router
  id: format
  routes:
    - output: json
      expr: 'body matches "^\\{"'
      attributes: { format: json }
    - output: text
      expr: 'body startsWith "T "'
  default: tail
- type: json_parser
  id: json
  output: tail
- type: regex_parser
  id: text
  regex: '^T (?P<msg>.*)$'
- type: add
  id: tail
  field: attributes.seen
  value: true
- type: add
  if: 'attributes.level == "error"'
  field: attributes.alert
  value: yes
"#,
        );
        let mut e = Entry::from_line(r#"{"level":"error"}"#.into());
        assert!(p.process(&mut e).keep);
        assert_eq!(e.attributes["format"], json!("json"));
        assert_eq!(e.attributes["level"], json!("error"));
        assert!(
            !e.attributes.contains_key("msg"),
            "the regex parser was skipped"
        );
        assert_eq!(e.attributes["seen"], json!(true));
        assert_eq!(e.attributes["alert"], json!("yes"));

        let mut e = Entry::from_line("T hello".into());
        let out = p.process(&mut e);
        assert_eq!(out.errors, 0, "{:?}", e.attributes);
        assert_eq!(e.attributes["msg"], json!("hello"));
        assert!(!e.attributes.contains_key("format"));
        assert!(!e.attributes.contains_key("alert"), "if was false");

        // No route: the default.
        let mut e = Entry::from_line("plain".into());
        let out = p.process(&mut e);
        assert!(out.keep && out.errors == 0);
        assert_eq!(e.attributes["seen"], json!(true));
        assert!(!e.attributes.contains_key(PARSE_ERROR_ATTRIBUTE));

        // Without a default, unmatched records are dropped (stanza's behaviour), not as errors.
        let p = pipeline(
            "- type: router\n  routes:\n    - output: j\n      expr: 'body matches \"^x\"'\n- type: json_parser\n  id: j\n",
        );
        let out = p.process(&mut Entry::from_line("y".into()));
        assert!(!out.keep && out.errors == 0);
    }

    #[test]
    fn bad_routing_is_refused_naming_the_operator() {
        let err = |yaml: &str| {
            let configs: Vec<OperatorConfig> = serde_yaml_ng::from_str(yaml).unwrap();
            Pipeline::new(&configs).unwrap_err()
        };
        let e = err("- type: json_parser\n  output: nowhere\n");
        assert!(
            e.contains("operators[0] (json_parser)") && e.contains("names no operator"),
            "{e}"
        );
        let e = err("- type: json_parser\n  id: a\n- type: json_parser\n  output: a\n");
        assert!(e.contains("points back"), "{e}");
        let e = err(
            "- type: router\n  routes:\n    - {output: p, expr: 'x == 1'}\n- type: json_parser\n  id: p\n",
        );
        assert!(
            e.contains("routes[0].expr") && e.contains("not supported"),
            "{e}"
        );
        let e = err("- type: router\n  routes: []\n");
        assert!(e.contains("at least one route"), "{e}");
        let e = err("- type: json_parser\n  if: 'body matches'\n");
        assert!(e.contains("if:") && e.contains("string literal"), "{e}");
        let bad: Result<Vec<OperatorConfig>, _> =
            serde_yaml_ng::from_str("- type: json_parser\n  output: [a, b]\n");
        assert!(bad.is_err());
    }
}
