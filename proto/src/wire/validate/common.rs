//! The messages every signal shares: `Resource`, `EntityRef`, `InstrumentationScope`,
//! `KeyValue` and `AnyValue`.

use super::Result;
use super::fields::{fixed64, len, message, string, utf8, varint};
use crate::Limits;
use crate::wire::error::{WireError, WireErrorKind};
use crate::wire::reader::{Field, FieldReader};

/// Counts one element's attributes against [`Limits::max_attributes`].
#[derive(Clone, Copy, Default)]
pub(super) struct AttributeCount(u32);

impl AttributeCount {
    /// Counts one more attribute, found at `offset`.
    #[inline]
    pub(super) fn add(&mut self, lim: &Limits, field: &'static str, offset: usize) -> Result<()> {
        self.0 = self.0.saturating_add(1);
        if self.0 > lim.max_attributes {
            return Err(WireError::new(
                WireErrorKind::TooManyAttributes {
                    field,
                    limit: lim.max_attributes,
                },
                offset,
            ));
        }
        Ok(())
    }
}

/// One attribute (a `KeyValue` field) of an element: counted, then checked.
#[inline]
pub(super) fn attribute(
    r: &FieldReader<'_>,
    f: &Field<'_>,
    field: &'static str,
    lim: &Limits,
    count: &mut AttributeCount,
) -> Result<()> {
    count.add(lim, field, f.offset)?;
    key_value(message(r, f, field)?, lim, 1)
}

pub(super) fn resource(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => attribute(&r, &f, "Resource.attributes", lim, &mut attrs)?,
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

pub(super) fn scope(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                string(&f, "InstrumentationScope.name")?;
            }
            2 => {
                string(&f, "InstrumentationScope.version")?;
            }
            3 => attribute(&r, &f, "InstrumentationScope.attributes", lim, &mut attrs)?,
            4 => {
                varint(&f, "InstrumentationScope.dropped_attributes_count")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

/// A `KeyValue` whose value sits at `depth` (1 for an element's attribute).
pub(super) fn key_value(mut r: FieldReader<'_>, lim: &Limits, depth: u32) -> Result<()> {
    loop {
        if let Some((b, off)) = r.take_short_len(0x0a) {
            utf8(b, off, "KeyValue.key")?;
            continue;
        }
        if let Some((b, off)) = r.take_short_len(0x12) {
            check_depth(lim, depth, off)?;
            any_value(r.child_at(b, off)?, lim, depth)?;
            continue;
        }
        let Some(f) = r.next_field()? else { break };
        match f.number {
            1 => {
                string(&f, "KeyValue.key")?;
            }
            2 => {
                check_depth(lim, depth, f.value_offset)?;
                any_value(message(&r, &f, "KeyValue.value")?, lim, depth)?
            }
            3 => {
                varint(&f, "KeyValue.key_strindex")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

/// Refuses an `AnyValue` at `depth` past [`Limits::max_nesting_depth`]. Checked before the
/// value's reader is made, so a value past the limit that is also past prost's recursion
/// limit is reported as over `max_nesting_depth`, the limit the user can act on.
#[inline]
pub(super) fn check_depth(lim: &Limits, depth: u32, offset: usize) -> Result<()> {
    if depth > lim.max_nesting_depth {
        return Err(WireError::new(
            WireErrorKind::NestingTooDeep {
                limit: lim.max_nesting_depth,
            },
            offset,
        ));
    }
    Ok(())
}

/// An `AnyValue` at `depth` (1 for an attribute's value or a log body), whose depth the
/// caller checked with [`check_depth`] before making its reader.
///
/// Recursion here is bounded by that limit and by the reader's depth budget: every nested
/// message costs one level, so hostile nesting ends in `NestingTooDeep` or `RecursionLimit`
/// long before the stack is at risk.
pub(super) fn any_value(mut r: FieldReader<'_>, lim: &Limits, depth: u32) -> Result<()> {
    let inner = depth.saturating_add(1);
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
                        1 => {
                            check_depth(lim, inner, g.value_offset)?;
                            any_value(message(&a, &g, "ArrayValue.values")?, lim, inner)?
                        }
                        _ => a.skip_unknown(&g)?,
                    }
                }
            }
            6 => {
                let mut l = message(&r, &f, "AnyValue.kvlist_value")?;
                while let Some(g) = l.next_field()? {
                    match g.number {
                        1 => key_value(message(&l, &g, "KeyValueList.values")?, lim, inner)?,
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
