//! The messages every signal shares: `Resource`, `EntityRef`, `InstrumentationScope`,
//! `KeyValue` and `AnyValue`.

use super::Result;
use super::fields::{fixed64, len, message, string, utf8, varint};
use crate::wire::reader::FieldReader;

pub(super) fn resource(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => key_value(message(&r, &f, "Resource.attributes")?)?,
            2 => {
                varint(&f, "Resource.dropped_attributes_count")?;
            }
            3 => entity_ref(message(&r, &f, "Resource.entity_refs")?)?,
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn entity_ref(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                string(&f, "EntityRef.schema_url")?;
            }
            2 => {
                string(&f, "EntityRef.type")?;
            }
            3 => {
                string(&f, "EntityRef.id_keys")?;
            }
            4 => {
                string(&f, "EntityRef.description_keys")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

pub(super) fn scope(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                string(&f, "InstrumentationScope.name")?;
            }
            2 => {
                string(&f, "InstrumentationScope.version")?;
            }
            3 => key_value(message(&r, &f, "InstrumentationScope.attributes")?)?,
            4 => {
                varint(&f, "InstrumentationScope.dropped_attributes_count")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

pub(super) fn key_value(mut r: FieldReader<'_>) -> Result<()> {
    loop {
        if let Some((b, off)) = r.take_short_len(0x0a) {
            utf8(b, off, "KeyValue.key")?;
            continue;
        }
        if let Some((b, off)) = r.take_short_len(0x12) {
            any_value(r.child_at(b, off)?)?;
            continue;
        }
        let Some(f) = r.next_field()? else { break };
        match f.number {
            1 => {
                string(&f, "KeyValue.key")?;
            }
            2 => any_value(message(&r, &f, "KeyValue.value")?)?,
            3 => {
                varint(&f, "KeyValue.key_strindex")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

/// Recursion here is bounded by the reader's depth budget: every nested message costs one
/// level, so hostile nesting ends in `RecursionLimit` long before the stack is at risk.
pub(super) fn any_value(mut r: FieldReader<'_>) -> Result<()> {
    loop {
        if let Some((b, off)) = r.take_short_len(0x0a) {
            utf8(b, off, "AnyValue.string_value")?;
            continue;
        }
        let Some(f) = r.next_field()? else { break };
        match f.number {
            1 => {
                string(&f, "AnyValue.string_value")?;
            }
            2 => {
                varint(&f, "AnyValue.bool_value")?;
            }
            3 => {
                varint(&f, "AnyValue.int_value")?;
            }
            4 => {
                fixed64(&f, "AnyValue.double_value")?;
            }
            5 => {
                let mut a = message(&r, &f, "AnyValue.array_value")?;
                while let Some(g) = a.next_field()? {
                    match g.number {
                        1 => any_value(message(&a, &g, "ArrayValue.values")?)?,
                        _ => a.skip_unknown(&g)?,
                    }
                }
            }
            6 => {
                let mut l = message(&r, &f, "AnyValue.kvlist_value")?;
                while let Some(g) = l.next_field()? {
                    match g.number {
                        1 => key_value(message(&l, &g, "KeyValueList.values")?)?,
                        _ => l.skip_unknown(&g)?,
                    }
                }
            }
            7 => {
                len(&f, "AnyValue.bytes_value")?;
            }
            8 => {
                varint(&f, "AnyValue.string_value_strindex")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}
