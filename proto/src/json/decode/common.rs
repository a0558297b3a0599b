//! The messages every signal shares: `AnyValue` and its array and kvlist forms, `KeyValue`,
//! `EntityRef`, `Resource` and `InstrumentationScope`.

use serde_json::Value;

use super::scalar::{boolean, bytes, double, int32, int64, string, uint32};
use super::{Path, R, claim_oneof, fields, list};
use crate::json::error::JsonErrorKind;
use crate::otlp::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use crate::otlp::resource::v1::Resource;

/// A log body: an `AnyValue` at depth 1.
pub(super) fn body(v: &Value, p: &Path<'_>) -> R<AnyValue> {
    any_value(v, p, 1, p.limits().max_nesting_depth)
}

/// An `AnyValue` at `depth`, refused deeper than `max` (`Limits::max_nesting_depth`, read once
/// per attribute list rather than from the path at every level).
fn any_value(v: &Value, p: &Path<'_>, depth: u32, max: u32) -> R<AnyValue> {
    if depth > max {
        return Err(p.err(JsonErrorKind::TooDeep { limit: max }));
    }
    let mut out = AnyValue::default();
    let mut seen = None;
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        let value = match k {
            "stringValue" | "string_value" => any_value::Value::StringValue(string(val, &fp)?),
            "boolValue" | "bool_value" => any_value::Value::BoolValue(boolean(val, &fp)?),
            "intValue" | "int_value" => any_value::Value::IntValue(int64(val, &fp)?),
            "doubleValue" | "double_value" => any_value::Value::DoubleValue(double(val, &fp)?),
            "arrayValue" | "array_value" => {
                any_value::Value::ArrayValue(array_value(val, &fp, depth, max)?)
            }
            "kvlistValue" | "kvlist_value" => {
                any_value::Value::KvlistValue(kvlist_value(val, &fp, depth, max)?)
            }
            "bytesValue" | "bytes_value" => any_value::Value::BytesValue(bytes(val, &fp)?),
            "stringValueStrindex" | "string_value_strindex" => {
                any_value::Value::StringValueStrindex(int32(val, &fp)?)
            }
            _ => continue,
        };
        claim_oneof(&mut seen, k, &fp)?;
        out.value = Some(value);
    }
    Ok(out)
}

fn array_value(v: &Value, p: &Path<'_>, depth: u32, max: u32) -> R<ArrayValue> {
    let mut out = ArrayValue::default();
    for (k, val) in fields(v, p)? {
        if k == "values" {
            out.values = list(val, &p.key(k), |v, p| any_value(v, p, depth + 1, max))?;
        }
    }
    Ok(out)
}

fn kvlist_value(v: &Value, p: &Path<'_>, depth: u32, max: u32) -> R<KeyValueList> {
    let mut out = KeyValueList::default();
    for (k, val) in fields(v, p)? {
        if k == "values" {
            out.values = list(val, &p.key(k), |v, p| key_value(v, p, depth + 1, max))?;
        }
    }
    Ok(out)
}

fn key_value(v: &Value, p: &Path<'_>, depth: u32, max: u32) -> R<KeyValue> {
    let mut out = KeyValue::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "key" => out.key = string(val, &fp)?,
            "value" => out.value = Some(any_value(val, &fp, depth, max)?),
            "keyStrindex" | "key_strindex" => out.key_strindex = int32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

/// An element's attributes, refused whole when there are more than
/// `Limits::max_attributes` (before any is decoded).
pub(super) fn attributes(v: &Value, p: &Path<'_>) -> R<Vec<KeyValue>> {
    let limits = p.limits();
    if let Value::Array(items) = v
        && items.len() > limits.max_attributes as usize
    {
        return Err(p.err(JsonErrorKind::TooManyAttributes {
            limit: limits.max_attributes,
        }));
    }
    let max = limits.max_nesting_depth;
    list(v, p, |v, p| key_value(v, p, 1, max))
}

fn strings(v: &Value, p: &Path<'_>) -> R<Vec<String>> {
    list(v, p, string)
}

fn entity_ref(v: &Value, p: &Path<'_>) -> R<EntityRef> {
    let mut out = EntityRef::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            "type" => out.r#type = string(val, &fp)?,
            "idKeys" | "id_keys" => out.id_keys = strings(val, &fp)?,
            "descriptionKeys" | "description_keys" => out.description_keys = strings(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

pub(super) fn resource(v: &Value, p: &Path<'_>) -> R<Resource> {
    let mut out = Resource::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "entityRefs" | "entity_refs" => out.entity_refs = list(val, &fp, entity_ref)?,
            _ => {}
        }
    }
    Ok(out)
}

pub(super) fn scope(v: &Value, p: &Path<'_>) -> R<InstrumentationScope> {
    let mut out = InstrumentationScope::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "name" => out.name = string(val, &fp)?,
            "version" => out.version = string(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            _ => {}
        }
    }
    Ok(out)
}
