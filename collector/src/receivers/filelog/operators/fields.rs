//! `move`, `remove`, `add` and `copy`: reshaping fields between body, attributes and resource.

use serde::Deserialize;
use serde_json::Value;

use super::entry::{Entry, Field};
use super::{OnError, OutputId};

/// `type: move`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
    /// `from` (required).
    pub from: Field,
    /// `to` (required).
    pub to: Field,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
}

/// `type: copy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CopyConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
    /// `from` (required).
    pub from: Field,
    /// `to` (required).
    pub to: Field,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
}

/// `type: remove`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
    /// `field` (required).
    pub field: Field,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
}

/// `type: add`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddConfig {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `if`: the operator runs only on records for which this expression is true.
    #[serde(default, rename = "if")]
    pub if_expr: Option<String>,
    /// `output`: the id of the operator that runs next (default: the next in the list).
    #[serde(default)]
    pub output: Option<OutputId>,
    /// `field` (required).
    pub field: Field,
    /// `value`: a string, number, map or list (`EXPR(...)` is not supported).
    pub value: Value,
    /// `on_error` (default `send`).
    #[serde(default)]
    pub on_error: OnError,
}

/// `move`: fails when `from` is missing.
pub(crate) fn move_field(entry: &mut Entry, from: &Field, to: &Field) -> Result<(), String> {
    let value = entry
        .delete(from)
        .ok_or_else(|| format!("field {from} is missing"))?;
    entry.set(to, value);
    Ok(())
}

/// `copy`: fails when `from` is missing.
pub(crate) fn copy_field(entry: &mut Entry, from: &Field, to: &Field) -> Result<(), String> {
    let value = entry
        .get(from)
        .cloned()
        .ok_or_else(|| format!("field {from} is missing"))?;
    entry.set(to, value);
    Ok(())
}

/// `remove`: fails when the field is missing, as the Collector's does.
pub(crate) fn remove_field(entry: &mut Entry, field: &Field) -> Result<(), String> {
    entry
        .delete(field)
        .map(|_| ())
        .ok_or_else(|| format!("field {field} is missing"))
}

/// Rejects values the Collector would evaluate as expressions.
pub(crate) fn check_add_value(value: &Value) -> Result<(), String> {
    if let Value::String(s) = value
        && s.starts_with("EXPR(")
    {
        return Err("EXPR(...) values are not supported".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(s: &str) -> Field {
        Field::parse(s).unwrap()
    }

    #[test]
    fn move_copy_remove_add() {
        let mut e = Entry::from_line("line".into());
        move_field(&mut e, &f("body"), &f("attributes.original")).unwrap();
        assert_eq!(e.attributes["original"], json!("line"));
        assert_eq!(e.body, Value::Null);
        copy_field(&mut e, &f("attributes.original"), &f("resource.copy")).unwrap();
        assert_eq!(e.resource["copy"], json!("line"));
        assert_eq!(e.attributes["original"], json!("line"));
        remove_field(&mut e, &f("attributes.original")).unwrap();
        assert!(e.attributes.is_empty());
        e.set(&f("body.k"), json!({"n": 1}));
        assert_eq!(e.body, json!({"k": {"n": 1}}));
        assert!(move_field(&mut e, &f("attributes.none"), &f("body.x")).is_err());
        assert!(remove_field(&mut e, &f("attributes.none")).is_err());
        assert!(check_add_value(&json!("EXPR(now())")).is_err());
        assert!(check_add_value(&json!("plain")).is_ok());
    }
}
