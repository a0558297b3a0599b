//! The record operators work on, and the field paths (`body.x`, `attributes.x`, `resource.x`)
//! that name its parts, as in the Collector's stanza.

use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// One log record while it moves through the operators.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The body: the raw line until a parser replaces or extends it.
    pub body: Value,
    /// Record attributes.
    pub attributes: Map<String, Value>,
    /// Resource attributes.
    pub resource: Map<String, Value>,
    /// Event time in Unix nanoseconds, if a time parser found one.
    pub timestamp: Option<u64>,
    /// OTLP severity number (0 = unspecified).
    pub severity: i32,
    /// The severity as written in the log.
    pub severity_text: Option<String>,
    /// Trace id (16 bytes).
    pub trace_id: Option<[u8; 16]>,
    /// Span id (8 bytes).
    pub span_id: Option<[u8; 8]>,
    /// W3C trace flags.
    pub trace_flags: Option<u8>,
}

impl Entry {
    /// A record whose body is `line`.
    pub fn from_line(line: String) -> Entry {
        Entry {
            body: Value::String(line),
            ..Entry::default()
        }
    }

    /// The value at `field`, if present.
    pub fn get(&self, field: &Field) -> Option<&Value> {
        let (mut current, path) = match field {
            Field::Body(path) => (&self.body, path.as_slice()),
            Field::Attributes(path) => {
                let (first, rest) = path.split_first()?;
                (self.attributes.get(first)?, rest)
            }
            Field::Resource(path) => {
                let (first, rest) = path.split_first()?;
                (self.resource.get(first)?, rest)
            }
        };
        for key in path {
            current = current.as_object()?.get(key)?;
        }
        Some(current)
    }

    /// Sets `field`, creating intermediate maps (and replacing non-map values on the way).
    pub fn set(&mut self, field: &Field, value: Value) {
        let (map, path) = match field {
            Field::Body(path) => {
                if path.is_empty() {
                    self.body = value;
                    return;
                }
                if !self.body.is_object() {
                    self.body = Value::Object(Map::new());
                }
                let Value::Object(map) = &mut self.body else {
                    return;
                };
                (map, path.as_slice())
            }
            Field::Attributes(path) => (&mut self.attributes, path.as_slice()),
            Field::Resource(path) => (&mut self.resource, path.as_slice()),
        };
        set_in(map, path, value);
    }

    /// Removes and returns the value at `field`.
    pub fn delete(&mut self, field: &Field) -> Option<Value> {
        let (map, path) = match field {
            Field::Body(path) => {
                if path.is_empty() {
                    return Some(std::mem::replace(&mut self.body, Value::Null));
                }
                (self.body.as_object_mut()?, path.as_slice())
            }
            Field::Attributes(path) => (&mut self.attributes, path.as_slice()),
            Field::Resource(path) => (&mut self.resource, path.as_slice()),
        };
        delete_in(map, path)
    }
}

fn set_in(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        // `attributes` / `resource` as a whole: a map replaces it, anything else is merged
        // under no key and therefore ignored, as stanza does.
        if let Value::Object(new) = value {
            *map = new;
        }
        return;
    };
    let mut current = map;
    for key in parents {
        let slot = current
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        current = next;
    }
    current.insert(last.clone(), value);
}

fn delete_in(map: &mut Map<String, Value>, path: &[String]) -> Option<Value> {
    let Some((last, parents)) = path.split_last() else {
        return Some(Value::Object(std::mem::take(map)));
    };
    let mut current = map;
    for key in parents {
        current = current.get_mut(key)?.as_object_mut()?;
    }
    current.remove(last)
}

/// A path into an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `body` or `body.a.b`.
    Body(Vec<String>),
    /// `attributes` or `attributes.a.b`.
    Attributes(Vec<String>),
    /// `resource` or `resource.a.b`.
    Resource(Vec<String>),
}

impl Field {
    /// `body`.
    pub fn body() -> Field {
        Field::Body(Vec::new())
    }

    /// `attributes.<key>` for a single (possibly dotted) key.
    pub fn attribute(key: &str) -> Field {
        Field::Attributes(vec![key.to_string()])
    }

    /// Parses the Collector's field syntax: dots separate keys; `["a.b"]` quotes a key that
    /// contains dots.
    pub fn parse(s: &str) -> Result<Field, String> {
        let parts = split_path(s)?;
        let Some((root, rest)) = parts.split_first() else {
            return Err("empty field".into());
        };
        let rest = rest.to_vec();
        match root.as_str() {
            "body" => Ok(Field::Body(rest)),
            "attributes" => Ok(Field::Attributes(rest)),
            "resource" => Ok(Field::Resource(rest)),
            other => Err(format!(
                "field {s:?} must start with body, attributes or resource (found {other:?})"
            )),
        }
    }
}

fn split_path(s: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut rest = s.trim();
    let mut current = String::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[") {
            let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
            let Some(q) = quote else {
                return Err(format!("field {s:?}: expected a quoted key after '['"));
            };
            let inner = &after[1..];
            let end = inner
                .find(&format!("{q}]"))
                .ok_or_else(|| format!("field {s:?}: unterminated [\"...\"]"))?;
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            parts.push(inner[..end].to_string());
            rest = &inner[end + 2..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
            continue;
        }
        let next = rest.find(['.', '[']).unwrap_or(rest.len());
        current.push_str(&rest[..next]);
        rest = &rest[next..];
        if let Some(after) = rest.strip_prefix('.') {
            parts.push(std::mem::take(&mut current));
            rest = after;
        } else if (rest.is_empty() || rest.starts_with('[')) && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    if parts.iter().any(String::is_empty) {
        return Err(format!("field {s:?} has an empty key"));
    }
    Ok(parts)
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (root, path) = match self {
            Field::Body(p) => ("body", p),
            Field::Attributes(p) => ("attributes", p),
            Field::Resource(p) => ("resource", p),
        };
        f.write_str(root)?;
        for key in path {
            if key.contains('.') {
                write!(f, "[{key:?}]")?;
            } else {
                write!(f, ".{key}")?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Field::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The value as text, the way parsers read their input (numbers and booleans in their JSON form).
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_field_syntax() {
        assert_eq!(Field::parse("body").unwrap(), Field::Body(vec![]));
        assert_eq!(
            Field::parse("attributes.a.b").unwrap(),
            Field::Attributes(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            Field::parse(r#"attributes["log.file.name"]"#).unwrap(),
            Field::attribute("log.file.name")
        );
        assert_eq!(
            Field::parse(r#"resource["k8s.pod"].x"#).unwrap(),
            Field::Resource(vec!["k8s.pod".into(), "x".into()])
        );
        assert!(Field::parse("foo.bar").is_err());
        assert!(Field::parse("attributes..x").is_err());
        assert_eq!(Field::attribute("a.b").to_string(), r#"attributes["a.b"]"#);
    }

    #[test]
    fn get_set_delete_nested() {
        let mut e = Entry::from_line("raw".into());
        let f = Field::parse("body.msg").unwrap();
        e.set(&f, json!("hi"));
        // A string body turns into a map when a key is set in it.
        assert_eq!(e.body, json!({"msg": "hi"}));
        let a = Field::parse("attributes.http.status").unwrap();
        e.set(&a, json!(200));
        assert_eq!(e.get(&a), Some(&json!(200)));
        assert_eq!(e.attributes["http"], json!({"status": 200}));
        assert_eq!(e.delete(&a), Some(json!(200)));
        assert_eq!(e.get(&a), None);
        assert_eq!(e.delete(&Field::parse("resource.none").unwrap()), None);
    }
}
