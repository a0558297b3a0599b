//! Checks for single fields: wire type, UTF-8, OTLP id lengths and packed scalars.

use super::Result;
use crate::wire::error::{WireError, WireErrorKind};
use crate::wire::reader::{Field, FieldReader, WireValue, read_varint};

#[inline]
pub(super) fn wrong(f: &Field<'_>, field: &'static str) -> WireError {
    WireError::new(
        WireErrorKind::WrongWireType {
            field,
            found: f.value.wire_type(),
        },
        f.offset,
    )
}

#[inline]
pub(super) fn len<'a>(f: &Field<'a>, field: &'static str) -> Result<&'a [u8]> {
    match f.value {
        WireValue::Len(b) => Ok(b),
        _ => Err(wrong(f, field)),
    }
}

/// Checks a `string` field. Only validity matters here, so the common short-ASCII case is
/// answered by `is_ascii` (inlined) without calling into `from_utf8`.
#[inline]
pub(super) fn string(f: &Field<'_>, field: &'static str) -> Result<()> {
    utf8(len(f, field)?, f.value_offset, field)
}

#[inline]
pub(super) fn utf8(b: &[u8], offset: usize, field: &'static str) -> Result<()> {
    if b.is_ascii() {
        return Ok(());
    }
    std::str::from_utf8(b).map(drop).map_err(|e| {
        WireError::new(
            WireErrorKind::InvalidUtf8 { field },
            offset + e.valid_up_to(),
        )
    })
}

#[inline]
pub(super) fn varint(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Varint(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
pub(super) fn fixed64(f: &Field<'_>, field: &'static str) -> Result<u64> {
    match f.value {
        WireValue::Fixed64(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
pub(super) fn fixed32(f: &Field<'_>, field: &'static str) -> Result<u32> {
    match f.value {
        WireValue::Fixed32(v) => Ok(v),
        _ => Err(wrong(f, field)),
    }
}

#[inline]
pub(super) fn message<'a>(
    r: &FieldReader<'a>,
    f: &Field<'a>,
    field: &'static str,
) -> Result<FieldReader<'a>> {
    let b = len(f, field)?;
    r.child(f, b)
}

/// Remembers the last occurrence of an id field: prost keeps the last one, so that is the
/// value the OTLP length rule applies to.
#[derive(Clone, Copy, Default)]
pub(super) struct LastId {
    len: usize,
    offset: usize,
}

impl LastId {
    #[inline]
    pub(super) fn set(&mut self, f: &Field<'_>, field: &'static str) -> Result<()> {
        self.len = len(f, field)?.len();
        self.offset = f.value_offset;
        Ok(())
    }

    #[inline]
    pub(super) fn check(self, field: &'static str, expected: usize) -> Result<()> {
        if self.len == 0 || self.len == expected {
            Ok(())
        } else {
            Err(WireError::new(
                WireErrorKind::InvalidIdLength {
                    field,
                    len: self.len,
                    expected,
                },
                self.offset,
            ))
        }
    }
}

/// A repeated fixed-width scalar: prost accepts both the packed and the unpacked encoding.
#[inline]
pub(super) fn packed_fixed64(f: &Field<'_>, field: &'static str) -> Result<()> {
    match f.value {
        WireValue::Fixed64(_) => Ok(()),
        WireValue::Len(b) if b.len() % 8 == 0 => Ok(()),
        WireValue::Len(_) => Err(WireError::new(
            WireErrorKind::PackedLength { field },
            f.offset,
        )),
        _ => Err(wrong(f, field)),
    }
}

/// A repeated varint scalar, packed or not. Packed payloads must hold whole varints.
pub(super) fn packed_varint(f: &Field<'_>, field: &'static str) -> Result<()> {
    match f.value {
        WireValue::Varint(_) => Ok(()),
        WireValue::Len(b) => {
            let mut pos = 0;
            while pos < b.len() {
                let at = pos;
                read_varint(b, &mut pos).map_err(|k| WireError::new(k, f.value_offset + at))?;
            }
            Ok(())
        }
        _ => Err(wrong(f, field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_lengths() {
        let f = |b: &'static [u8]| Field {
            number: 6,
            value: WireValue::Len(b),
            raw: b,
            offset: 0,
            value_offset: 0,
        };
        assert!(packed_fixed64(&f(&[0; 16]), "x").is_ok());
        assert!(packed_fixed64(&f(&[0; 12]), "x").is_err());
        assert!(packed_varint(&f(&[0x01, 0x80, 0x01]), "x").is_ok());
        assert!(packed_varint(&f(&[0x01, 0x80]), "x").is_err());
    }
}
