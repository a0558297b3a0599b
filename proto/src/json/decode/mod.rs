//! OTLP/JSON → prost. Parses into `serde_json::Value` first, then walks the tree with a
//! stack-allocated path so that successful decodes never pay for path strings.
//!
//! One file per job: this module holds the path and the JSON-shape helpers, `scalar` the
//! proto3 JSON scalar rules (integers, doubles, enums, hex ids, base64), `common` the
//! messages every signal shares, and `traces`, `logs` and `metrics` the signal messages.

mod common;
mod logs;
mod metrics;
mod scalar;
mod traces;

pub(crate) use logs::logs;
pub(crate) use metrics::metrics;
pub(crate) use traces::traces;

use serde_json::{Map, Value};

use super::DecodeOptions;
use super::error::{JsonError, JsonErrorKind};
use crate::Limits;

type R<T> = Result<T, JsonError>;

/// Location of the value being decoded, as a linked list living on the call stack.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// `any_id_length`: accept hex ids of any even length (the lenient entry points);
    /// `limits`: how deep `AnyValue`s nest and how many attributes an element holds.
    Root {
        any_id_length: bool,
        limits: Limits,
    },
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn key(&'a self, k: &'a str) -> Path<'a> {
        Path::Key(self, k)
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    fn any_id_length(&self) -> bool {
        match self {
            Path::Root { any_id_length, .. } => *any_id_length,
            Path::Key(parent, _) | Path::Index(parent, _) => parent.any_id_length(),
        }
    }

    fn limits(&self) -> &Limits {
        match self {
            Path::Root { limits, .. } => limits,
            Path::Key(parent, _) | Path::Index(parent, _) => parent.limits(),
        }
    }

    fn render(&self) -> String {
        let mut s = String::new();
        self.render_into(&mut s);
        s
    }

    fn render_into(&self, s: &mut String) {
        match self {
            Path::Root { .. } => {}
            Path::Key(parent, k) => {
                parent.render_into(s);
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Path::Index(parent, i) => {
                parent.render_into(s);
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }

    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError::new(kind, self.render())
    }

    fn wrong_type(&self, expected: &'static str, got: &Value) -> JsonError {
        self.err(JsonErrorKind::WrongType {
            expected,
            got: type_name(got),
        })
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Quotes and truncates an offending value so error messages stay bounded.
fn snippet(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push_str("...");
        t
    } else {
        s
    }
}

fn parse(bytes: &[u8]) -> R<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| JsonError::new(JsonErrorKind::Syntax(e.to_string()), String::new()))
}

/// Iterates an object's members, skipping `null` members because proto3 JSON treats
/// `null` as "field not set". A `null` object is an unset message.
fn fields<'v>(v: &'v Value, p: &Path<'_>) -> R<impl Iterator<Item = (&'v str, &'v Value)>> {
    let map: Option<&Map<String, Value>> = match v {
        Value::Object(m) => Some(m),
        Value::Null => None,
        other => return Err(p.wrong_type("object", other)),
    };
    Ok(map
        .into_iter()
        .flat_map(|m| m.iter())
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str(), v)))
}

fn list<T>(v: &Value, p: &Path<'_>, mut f: impl FnMut(&Value, &Path<'_>) -> R<T>) -> R<Vec<T>> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| f(item, &p.index(i)))
            .collect(),
        other => Err(p.wrong_type("array", other)),
    }
}

/// Records which member of a oneof has been seen so a second one is rejected, as proto3 JSON requires.
fn claim_oneof<'k>(seen: &mut Option<&'k str>, key: &'k str, p: &Path<'_>) -> R<()> {
    if let Some(other) = seen {
        return Err(p.err(JsonErrorKind::OneofConflict {
            other: (*other).to_owned(),
        }));
    }
    *seen = Some(key);
    Ok(())
}
