//! A minimal protobuf wire-format reader over a borrowed byte slice.
//!
//! It never allocates, checks every length against the bytes that remain *before* slicing,
//! and reproduces prost's acceptance rules exactly: varints of at most 10 bytes whose 10th
//! byte is 0 or 1, keys that fit in `u32`, field number ≥ 1, wire types 0–5, and unknown
//! groups skipped (not rejected) with the same recursion budget prost uses.

use super::error::{WireError, WireErrorKind};

/// prost's recursion limit (`prost::RECURSION_LIMIT`). Using the same budget, accounted the
/// same way, means the validator rejects exactly the nesting depths prost rejects — and it
/// bounds our own recursion (AnyValue arrays/kvlists and unknown groups) so hostile input
/// cannot overflow the stack.
pub const RECURSION_LIMIT: u32 = 100;

/// The value carried by one field, already split according to its wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1 (little-endian 8 bytes).
    Fixed64(u64),
    /// Wire type 2: the payload, without its length prefix.
    Len(&'a [u8]),
    /// Wire type 3: an (unknown-field) group, skipped; the bytes between start and end markers.
    Group(&'a [u8]),
    /// Wire type 5 (little-endian 4 bytes).
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The protobuf wire type number (0, 1, 2, 3 or 5).
    pub fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Len(_) => 2,
            WireValue::Group(_) => 3,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// One decoded field: number, value and where it sits in the input.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    /// Field number (≥ 1).
    pub number: u32,
    /// The value.
    pub value: WireValue<'a>,
    /// The whole field as encoded: key, length prefix (if any) and payload.
    pub raw: &'a [u8],
    /// Absolute offset of the key's first byte in the outermost buffer.
    pub offset: usize,
    /// Absolute offset of the payload (after the key and any length prefix).
    pub value_offset: usize,
}

/// Iterates over the fields of one message.
///
/// Offsets are absolute: a reader for a nested message is created with the absolute offset
/// of its first byte, so errors point into the original request.
#[derive(Debug, Clone)]
pub struct FieldReader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    depth_budget: u32,
}

// === varints ===

/// Decodes a varint at `*pos`, advancing it. Same rules as prost's `decode_varint`.
#[inline]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireErrorKind> {
    match buf.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            Ok(u64::from(b))
        }
        Some(_) => read_varint_slow(buf, pos),
        None => Err(WireErrorKind::InvalidVarint),
    }
}

#[cold]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> Result<u64, WireErrorKind> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos + i) else {
            return Err(WireErrorKind::InvalidVarint);
        };
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            // The 10th byte may only contribute the top bit of a u64.
            if i == 9 && b >= 2 {
                return Err(WireErrorKind::InvalidVarint);
            }
            *pos += i + 1;
            return Ok(value);
        }
    }
    Err(WireErrorKind::InvalidVarint)
}

/// Number of bytes `v` takes as a varint.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 + floor(bits/7), with 0 taking one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `v` as a varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field key for `number`.
#[inline]
pub(crate) fn put_len_key(out: &mut Vec<u8>, number: u32) {
    put_varint(out, (u64::from(number) << 3) | 2);
}

/// Encoded size of a length-delimited field with the given number and payload length.
#[inline]
pub(crate) fn len_field_size(number: u32, payload: usize) -> usize {
    varint_len((u64::from(number) << 3) | 2) + varint_len(payload as u64) + payload
}

// === impl FieldReader ===

impl<'a> FieldReader<'a> {
    /// A reader over a top-level message (a whole request), with prost's full recursion budget.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::nested(buf, 0, RECURSION_LIMIT)
    }

    /// A reader over a message whose first byte sits at absolute offset `base`, and which may
    /// still nest `depth_budget` levels (prost's `DecodeContext` for that message's fields).
    pub(crate) fn nested(buf: &'a [u8], base: usize, depth_budget: u32) -> Self {
        Self {
            buf,
            pos: 0,
            base,
            depth_budget,
        }
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Reads the next field, or `Ok(None)` at the end of the message.
    #[inline(always)]
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>, WireError> {
        let buf = self.buf;
        let start = self.pos;
        if start >= buf.len() {
            return Ok(None);
        }
        let err = |kind, at: usize| WireError::new(kind, self.base + at);
        let mut pos = start;
        let key = read_varint(buf, &mut pos).map_err(|k| err(k, start))?;
        if key > u64::from(u32::MAX) {
            return Err(err(WireErrorKind::InvalidKey, start));
        }
        let wire_type = (key & 7) as u8;
        let number = (key as u32) >> 3;
        if wire_type > 5 {
            return Err(err(WireErrorKind::InvalidWireType(wire_type), start));
        }
        if number == 0 {
            return Err(err(WireErrorKind::InvalidTag, start));
        }
        let mut value_start = pos;
        let value = match wire_type {
            0 => WireValue::Varint(read_varint(buf, &mut pos).map_err(|k| err(k, value_start))?),
            1 => {
                let bytes =
                    take::<8>(buf, pos).ok_or_else(|| err(WireErrorKind::Truncated, pos))?;
                pos += 8;
                WireValue::Fixed64(u64::from_le_bytes(bytes))
            }
            2 => {
                let len = read_varint(buf, &mut pos).map_err(|k| err(k, value_start))?;
                // One checked slice both bounds the claimed length and yields the payload.
                let payload = usize::try_from(len)
                    .ok()
                    .and_then(|len| buf.get(pos..)?.get(..len))
                    .ok_or_else(|| err(WireErrorKind::Truncated, value_start))?;
                value_start = pos;
                pos += payload.len();
                WireValue::Len(payload)
            }
            5 => {
                let bytes =
                    take::<4>(buf, pos).ok_or_else(|| err(WireErrorKind::Truncated, pos))?;
                pos += 4;
                WireValue::Fixed32(u32::from_le_bytes(bytes))
            }
            3 => {
                let end_marker = skip_group(buf, &mut pos, number, self.depth_budget)
                    .map_err(|(k, at)| err(k, at))?;
                WireValue::Group(buf.get(value_start..end_marker).unwrap_or_default())
            }
            _ => return Err(err(WireErrorKind::UnexpectedEndGroup, start)),
        };
        // Every arm above only advanced `pos` over bytes it read from `buf`.
        let raw = buf
            .get(start..pos)
            .ok_or_else(|| err(WireErrorKind::Truncated, start))?;
        self.pos = pos;
        Ok(Some(Field {
            number,
            value,
            raw,
            offset: self.base + start,
            value_offset: self.base + value_start,
        }))
    }

    /// Fast path for the commonest shape: a length-delimited field whose one-byte key is `key`
    /// and whose length fits one byte. Returns the payload and its absolute offset, or `None`
    /// (consuming nothing) so the caller falls back to [`Self::next_field`], which handles —
    /// and reports errors for — everything else.
    #[inline(always)]
    pub(crate) fn take_short_len(&mut self, key: u8) -> Option<(&'a [u8], usize)> {
        let (&[k, len], rest) = self.buf.get(self.pos..)?.split_first_chunk::<2>()?;
        if k != key || len >= 0x80 {
            return None;
        }
        let start = self.pos + 2;
        let payload = rest.get(..usize::from(len))?;
        self.pos = start + payload.len();
        Some((payload, self.base + start))
    }

    /// Like [`Self::child`] for a payload found by [`Self::take_short_len`].
    #[inline]
    pub(crate) fn child_at(
        &self,
        payload: &'a [u8],
        offset: usize,
    ) -> Result<FieldReader<'a>, WireError> {
        if self.depth_budget == 0 {
            return Err(WireError::new(WireErrorKind::RecursionLimit, offset));
        }
        Ok(FieldReader::nested(payload, offset, self.depth_budget - 1))
    }

    /// Depth budget for fields of this message (prost's `DecodeContext` value).
    #[inline]
    pub(crate) fn depth_budget(&self) -> u32 {
        self.depth_budget
    }

    /// A reader over the length-delimited payload of `field`, one nesting level deeper.
    ///
    /// Fails like prost does when the budget is exhausted.
    #[inline]
    pub(crate) fn child(
        &self,
        field: &Field<'a>,
        payload: &'a [u8],
    ) -> Result<FieldReader<'a>, WireError> {
        if self.depth_budget == 0 {
            return Err(WireError::new(WireErrorKind::RecursionLimit, field.offset));
        }
        Ok(FieldReader::nested(
            payload,
            field.value_offset,
            self.depth_budget - 1,
        ))
    }

    /// Accepts a field this message does not know, as prost's `skip_field` does.
    #[inline]
    pub(crate) fn skip_unknown(&self, field: &Field<'a>) -> Result<(), WireError> {
        if self.depth_budget == 0 {
            return Err(WireError::new(WireErrorKind::RecursionLimit, field.offset));
        }
        Ok(())
    }
}

impl<'a> Iterator for FieldReader<'a> {
    type Item = Result<Field<'a>, WireError>;

    /// Yields fields until the end, or one error after which iteration stops.
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_field() {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => None,
            Err(e) => {
                // Fuse: a second call must not re-read garbage at the same position.
                self.pos = self.buf.len();
                Some(Err(e))
            }
        }
    }
}

#[inline]
fn take<const N: usize>(buf: &[u8], pos: usize) -> Option<[u8; N]> {
    buf.get(pos..pos.checked_add(N)?)?.try_into().ok()
}

/// Skips a group started with field `number`, leaving `pos` after its end marker, and returns
/// the position of the end marker. Mirrors prost's `skip_field`, including the depth budget
/// check on entry and one level deeper for every field inside.
fn skip_group(
    buf: &[u8],
    pos: &mut usize,
    number: u32,
    budget: u32,
) -> Result<usize, (WireErrorKind, usize)> {
    if budget == 0 {
        return Err((WireErrorKind::RecursionLimit, *pos));
    }
    loop {
        let key_at = *pos;
        let key = read_varint(buf, pos).map_err(|k| (k, key_at))?;
        if key > u64::from(u32::MAX) {
            return Err((WireErrorKind::InvalidKey, key_at));
        }
        let wire_type = (key & 7) as u8;
        let inner = (key as u32) >> 3;
        if wire_type > 5 {
            return Err((WireErrorKind::InvalidWireType(wire_type), key_at));
        }
        if inner == 0 {
            return Err((WireErrorKind::InvalidTag, key_at));
        }
        if wire_type == 4 {
            if inner != number {
                return Err((WireErrorKind::UnexpectedEndGroup, key_at));
            }
            return Ok(key_at);
        }
        // Every field inside the group is skipped one level deeper.
        let inner_budget = budget - 1;
        if inner_budget == 0 {
            return Err((WireErrorKind::RecursionLimit, key_at));
        }
        match wire_type {
            0 => {
                let at = *pos;
                read_varint(buf, pos).map_err(|k| (k, at))?;
            }
            1 | 5 => {
                let n = if wire_type == 1 { 8 } else { 4 };
                if buf.len() - *pos < n {
                    return Err((WireErrorKind::Truncated, *pos));
                }
                *pos += n;
            }
            2 => {
                let at = *pos;
                let len = read_varint(buf, pos).map_err(|k| (k, at))?;
                if len > (buf.len() - *pos) as u64 {
                    return Err((WireErrorKind::Truncated, at));
                }
                *pos += len as usize;
            }
            _ => {
                skip_group(buf, pos, inner, inner_budget)?;
            }
        }
    }
}

#[cfg(test)]
// In a test a failed unwrap is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<(u32, u8)>, WireError> {
        FieldReader::new(buf)
            .map(|f| f.map(|f| (f.number, f.value.wire_type())))
            .collect()
    }

    #[test]
    fn varint_limits_match_prost() {
        let mut ten = vec![0xff; 9];
        ten.push(0x01);
        assert_eq!(read_varint(&ten, &mut 0), Ok(u64::MAX));
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(
            read_varint(&over, &mut 0),
            Err(WireErrorKind::InvalidVarint)
        );
        assert_eq!(
            read_varint(&[0x80; 11], &mut 0),
            Err(WireErrorKind::InvalidVarint)
        );
        assert_eq!(
            read_varint(&[0x80], &mut 0),
            Err(WireErrorKind::InvalidVarint)
        );
        // Non-canonical (padded) varints are accepted, as prost does.
        assert_eq!(read_varint(&[0x81, 0x00], &mut 0), Ok(1));
    }

    #[test]
    fn varint_len_and_put_agree() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            assert_eq!(read_varint(&out, &mut 0), Ok(v));
        }
    }

    #[test]
    fn rejects_bad_keys_and_wire_types() {
        assert_eq!(fields(&[0x08, 0x01, 0x0e]).unwrap_err().offset(), 2);
        assert_eq!(fields(&[0x08, 0x01, 0x11]).unwrap_err().offset(), 3);
        assert!(fields(&[0x0e]).is_err(), "wire type 6");
        assert!(fields(&[0x07]).is_err(), "wire type 7");
        assert!(fields(&[0x02, 0x00]).is_err(), "field number 0");
        assert!(fields(&[0x0c]).is_err(), "lone end group");
        assert!(
            fields(&[0x80, 0x80, 0x80, 0x80, 0x10, 0x00]).is_err(),
            "key > u32"
        );
    }

    #[test]
    fn length_checked_before_slicing() {
        // Claims 2^32 bytes with 1 present: must fail without allocating or panicking.
        assert!(fields(&[0x0a, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00]).is_err());
        assert!(fields(&[0x0a, 0x02, 0x00]).is_err());
        assert!(fields(&[0x09, 0, 0, 0]).is_err());
        assert!(fields(&[0x0d, 0, 0, 0]).is_err());
    }

    #[test]
    fn unknown_groups_are_skipped_with_matching_end() {
        // field 1 varint, group 2 { field 3 varint }, field 4 len "".
        assert_eq!(
            fields(&[0x08, 0x01, 0x13, 0x18, 0x05, 0x14, 0x22, 0x00]).unwrap(),
            vec![(1, 0), (2, 3), (4, 2)]
        );
        assert!(
            fields(&[0x13, 0x18, 0x05, 0x1c]).is_err(),
            "mismatched end group"
        );
        assert!(fields(&[0x13, 0x18, 0x05]).is_err(), "unterminated group");
    }

    #[test]
    fn deep_groups_hit_the_budget() {
        let mut buf = vec![0x13; 200];
        buf.extend_from_slice(&[0x14; 200]);
        let err = fields(&buf).unwrap_err();
        assert_eq!(err.kind(), &WireErrorKind::RecursionLimit);
    }
}
