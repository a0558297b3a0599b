//! One pass over an encoded request: every attribute list the processor covers is read in
//! place, and what must change becomes a [`Patch`] for [`wire::splice`](splice). A request
//! with nothing to change is read once and forwarded as it came.
//!
//! Covered: resource, scope, span, span event and log record attributes, and string log
//! bodies. Only string values are scanned (as contrib does without `redact_all_types`), and
//! only at the top of an attribute: strings inside `kvlist` / `array` values and map or array
//! log bodies are not scanned (their keys are not attribute keys either). A blocked key's
//! value is masked whole whatever its type.

use std::ops::Range;

use lookout_proto::wire::reader::{Field, FieldReader, WireValue};
use lookout_proto::wire::{Patch, WireError, splice};

use super::rules::{KeyAction, Rules};
use super::summary::{Existing, Tally, summary_index};

/// What redacting one request did.
#[derive(Debug, Default)]
pub(crate) struct Redacted {
    /// The changed request; `None` when nothing changed (forward the input).
    pub(crate) payload: Option<Vec<u8>>,
    /// Values masked (attributes and log bodies).
    pub(crate) masked: u64,
    /// Attributes removed.
    pub(crate) removed: u64,
}

/// Redacts an encoded `ExportTraceServiceRequest`.
pub(crate) fn traces(rules: &Rules, buf: &[u8]) -> Result<Redacted, WireError> {
    let mut scan = Scan::new(rules);
    for rs in Msg::new(buf, 0..buf.len()) {
        let Some(rs) = rs?.payload(1) else { continue };
        for f in Msg::new(buf, rs) {
            let f = f?;
            if let Some(resource) = f.payload(1) {
                scan.list(buf, resource, 1, |_, _, _, _| Ok(()))?;
            } else if let Some(ss) = f.payload(2) {
                for f in Msg::new(buf, ss) {
                    let f = f?;
                    if let Some(scope) = f.payload(1) {
                        scan.list(buf, scope, 3, |_, _, _, _| Ok(()))?;
                    } else if let Some(span) = f.payload(2) {
                        scan.list(buf, span, 9, |scan, f, _, _| match f.payload(11) {
                            Some(event) => scan.list(buf, event, 3, |_, _, _, _| Ok(())),
                            None => Ok(()),
                        })?;
                    }
                }
            }
        }
    }
    scan.finish(buf)
}

/// Redacts an encoded `ExportLogsServiceRequest`.
pub(crate) fn logs(rules: &Rules, buf: &[u8]) -> Result<Redacted, WireError> {
    let mut scan = Scan::new(rules);
    for rl in Msg::new(buf, 0..buf.len()) {
        let Some(rl) = rl?.payload(1) else { continue };
        for f in Msg::new(buf, rl) {
            let f = f?;
            if let Some(resource) = f.payload(1) {
                scan.list(buf, resource, 1, |_, _, _, _| Ok(()))?;
            } else if let Some(sl) = f.payload(2) {
                for f in Msg::new(buf, sl) {
                    let f = f?;
                    if let Some(scope) = f.payload(1) {
                        scan.list(buf, scope, 3, |_, _, _, _| Ok(()))?;
                    } else if let Some(record) = f.payload(2) {
                        scan.list(buf, record, 6, |scan, f, patch, tally| {
                            if let Some(body) = f.payload(5) {
                                scan.body(buf, &f, body, patch, tally)?;
                            }
                            Ok(())
                        })?;
                    }
                }
            }
        }
    }
    scan.finish(buf)
}

/// One field of a message, with absolute offsets.
struct F<'b> {
    number: u32,
    /// The whole field: key, length and payload.
    whole: Range<usize>,
    value: WireValue<'b>,
    value_offset: usize,
}

impl F<'_> {
    /// The payload range, if this is length-delimited field `number`.
    fn payload(&self, number: u32) -> Option<Range<usize>> {
        match self.value {
            WireValue::Len(p) if self.number == number => {
                Some(self.value_offset..self.value_offset + p.len())
            }
            _ => None,
        }
    }
}

/// The fields of the message whose payload is `range`.
struct Msg<'b> {
    r: FieldReader<'b>,
    base: usize,
}

impl<'b> Msg<'b> {
    fn new(buf: &'b [u8], range: Range<usize>) -> Msg<'b> {
        let base = range.start;
        Msg {
            r: FieldReader::new(buf.get(range).unwrap_or_default()),
            base,
        }
    }
}

impl<'b> Iterator for Msg<'b> {
    type Item = Result<F<'b>, WireError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let f: Field<'b> = match self.r.next_field() {
            Ok(f) => f?,
            Err(e) => return Some(Err(e)),
        };
        let start = self.base + f.offset;
        Some(Ok(F {
            number: f.number,
            whole: start..start + f.raw.len(),
            value: f.value,
            value_offset: self.base + f.value_offset,
        }))
    }
}

/// A `KeyValue` read: its key, its `AnyValue`'s range, and the string if it is one.
type KeyValueParts<'b> = (&'b [u8], Option<Range<usize>>, Option<&'b [u8]>);

/// The commonest `KeyValue` shape read without the general reader: a key and a value of
/// one-byte lengths, the value holding one field (a string with a one-byte length, or any
/// other single field, which is not a string). `None` for anything else (the caller falls
/// back to the general reader, which also reports malformed input).
#[inline(always)]
fn short_kv(buf: &[u8], kv: Range<usize>) -> Option<KeyValueParts<'_>> {
    let body = buf.get(kv.clone())?;
    let (&[0x0a, key_len], rest) = body.split_first_chunk::<2>()? else {
        return None;
    };
    let key_len = usize::from(key_len);
    if key_len >= 0x80 {
        return None;
    }
    let key = rest.get(..key_len)?;
    let (&[0x12, any_len], any) = rest.get(key_len..)?.split_first_chunk::<2>()? else {
        return None;
    };
    if any_len >= 0x80 || any.len() != usize::from(any_len) {
        return None;
    }
    let any_start = kv.end - any.len();
    let any_range = Some(any_start..kv.end);
    match any.split_first_chunk::<2>() {
        // string_value, the only field.
        Some((&[0x0a, n], s)) if n < 0x80 && s.len() == usize::from(n) => {
            Some((key, any_range, Some(s)))
        }
        // A non-string scalar (bool, int, double), the only field.
        Some((&[k, _], _)) if matches!(k, 0x10 | 0x18 | 0x21) && !any_tail_has_string(any) => {
            Some((key, any_range, None))
        }
        _ => None,
    }
}

/// Whether a scalar `AnyValue` has more than its one field (a later string would win):
/// the general reader decides then.
#[inline(always)]
fn any_tail_has_string(any: &[u8]) -> bool {
    let one_field = match any.first() {
        // Varints: bool, int.
        Some(0x10 | 0x18) => any.iter().skip(1).position(|b| b & 0x80 == 0) == Some(any.len() - 2),
        // double: 8 bytes.
        Some(0x21) => any.len() == 9,
        _ => false,
    };
    !one_field
}

/// The string of an encoded `AnyValue`, if it is a `string_value` (the last value field
/// wins, as in prost).
fn string_value(buf: &[u8], any: Range<usize>) -> Result<Option<&[u8]>, WireError> {
    let mut s = None;
    for f in Msg::new(buf, any) {
        let f = f?;
        match (f.number, f.value) {
            (1, WireValue::Len(p)) => s = Some(p),
            (1..=8, _) => s = None,
            _ => {}
        }
    }
    Ok(s)
}

struct Scan<'r> {
    rules: &'r Rules,
    patches: Vec<Patch>,
    masked: u64,
    removed: u64,
}

impl<'r> Scan<'r> {
    fn new(rules: &'r Rules) -> Scan<'r> {
        Scan {
            rules,
            patches: Vec::new(),
            masked: 0,
            removed: 0,
        }
    }

    fn finish(self, buf: &[u8]) -> Result<Redacted, WireError> {
        let payload = if self.patches.is_empty() {
            None
        } else {
            Some(splice(buf, &self.patches)?)
        };
        Ok(Redacted {
            payload,
            masked: self.masked,
            removed: self.removed,
        })
    }

    /// Reads the message `container`, redacting its attributes (field `attr_field`) and
    /// handing its other fields to `other` (span events, log bodies).
    fn list<'b>(
        &mut self,
        buf: &'b [u8],
        container: Range<usize>,
        attr_field: u32,
        mut other: impl FnMut(&mut Self, F<'b>, &mut Patch, &mut Tally<'b>) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        let mut patch = Patch::new(container.clone());
        let mut tally = Tally::default();
        for f in Msg::new(buf, container.clone()) {
            let f = f?;
            match f.payload(attr_field) {
                Some(kv) => self.attribute(buf, f.whole, kv, attr_field, &mut patch, &mut tally)?,
                None => other(self, f, &mut patch, &mut tally)?,
            }
        }
        tally.finish(self.rules.summary, attr_field, container.end, &mut patch);
        if !patch.is_empty() {
            self.patches.push(patch);
        }
        Ok(())
    }

    fn attribute<'b>(
        &mut self,
        buf: &'b [u8],
        whole: Range<usize>,
        kv: Range<usize>,
        attr_field: u32,
        patch: &mut Patch,
        tally: &mut Tally<'b>,
    ) -> Result<(), WireError> {
        let (key, any, value) = match short_kv(buf, kv.clone()) {
            Some(parsed) => parsed,
            None => {
                let mut key: &[u8] = &[];
                let mut any = None;
                for f in Msg::new(buf, kv) {
                    let f = f?;
                    if let (1, WireValue::Len(k)) = (f.number, f.value) {
                        key = k;
                    } else if let Some(a) = f.payload(2) {
                        any = Some(a);
                    }
                }
                let value = match &any {
                    Some(a) => string_value(buf, a.clone())?,
                    None => None,
                };
                (key, any, value)
            }
        };
        if let Some(i) = summary_index(key) {
            let int = match any {
                Some(a) => int_value(buf, a)?,
                None => 0,
            };
            if let Some(slot) = tally.existing.get_mut(i) {
                *slot = Some(Existing {
                    field: whole,
                    int,
                    text: value
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .unwrap_or(""),
                });
            }
            return Ok(());
        }
        let debug = self.rules.summary == super::config::Summary::Debug;
        let key_str = || std::str::from_utf8(key).unwrap_or("");
        let new = match self.rules.key_action(key) {
            KeyAction::Ignore => {
                tally.ignored += 1;
                return Ok(());
            }
            KeyAction::Remove => {
                patch.splices.push((whole, Vec::new()));
                self.removed += 1;
                tally.redacted += 1;
                if debug {
                    tally.redacted_keys.push(key_str());
                }
                return Ok(());
            }
            KeyAction::MaskWhole => {
                if value.is_some_and(|v| self.rules.allowed_value(v)) {
                    return Ok(());
                }
                self.rules.mask_whole(value.unwrap_or_default())
            }
            KeyAction::Scan => {
                let Some(v) = value.filter(|_| self.rules.scans_values()) else {
                    return Ok(());
                };
                let Some(new) = self.rules.mask_value(v) else {
                    return Ok(());
                };
                new
            }
        };
        patch
            .splices
            .push((whole, encode_kv(attr_field, key, &new)));
        self.masked += 1;
        tally.masked += 1;
        if debug {
            tally.masked_keys.push(key_str());
        }
        Ok(())
    }

    /// Masks a string log body (`field`, whose `AnyValue` payload is `body`).
    fn body<'b>(
        &mut self,
        buf: &'b [u8],
        field: &F<'b>,
        body: Range<usize>,
        patch: &mut Patch,
        tally: &mut Tally<'b>,
    ) -> Result<(), WireError> {
        let Some(text) = string_value(buf, body)? else {
            return Ok(());
        };
        let Some(new) = self.rules.mask_value(text) else {
            return Ok(());
        };
        let mut any = Vec::with_capacity(new.len() + 4);
        len_field(1, &new, &mut any);
        let mut out = Vec::with_capacity(any.len() + 4);
        len_field(5, &any, &mut out);
        patch.splices.push((field.whole.clone(), out));
        self.masked += 1;
        tally.body_masked = true;
        Ok(())
    }
}

/// The `int_value` of an encoded `AnyValue` (0 if it has none): a previous summary count.
fn int_value(buf: &[u8], any: Range<usize>) -> Result<i64, WireError> {
    let mut i = 0;
    for f in Msg::new(buf, any) {
        if let (3, WireValue::Varint(v)) = (f.as_ref().map_or(0, |f| f.number), f?.value) {
            i = v as i64;
        }
    }
    Ok(i)
}

/// Appends a length-delimited field.
fn len_field(number: u32, payload: &[u8], out: &mut Vec<u8>) {
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// A `KeyValue` with a string value, as attributes field `field`.
fn encode_kv(field: u32, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut any = Vec::with_capacity(value.len() + 4);
    len_field(1, value, &mut any);
    let mut kv = Vec::with_capacity(key.len() + any.len() + 8);
    len_field(1, key, &mut kv);
    len_field(2, &any, &mut kv);
    let mut out = Vec::with_capacity(kv.len() + 4);
    len_field(field, &kv, &mut out);
    out
}

#[cfg(test)]
// In a test a failed unwrap is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use lookout_proto::otlp::common::v1::{AnyValue, KeyValue, KeyValueList, any_value::Value};
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    fn general(buf: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut key = Vec::new();
        let mut value = None;
        for f in Msg::new(buf, 0..buf.len()) {
            let f = f.unwrap();
            if let (1, WireValue::Len(k)) = (f.number, f.value) {
                key = k.to_vec();
            } else if let Some(a) = f.payload(2) {
                value = string_value(buf, a).unwrap().map(<[u8]>::to_vec);
            }
        }
        (key, value)
    }

    fn value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            ".{0,200}".prop_map(|s| Some(Value::StringValue(s))),
            any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
            any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
            any::<f64>().prop_map(|d| Some(Value::DoubleValue(d))),
            ".{0,20}".prop_map(|s| Some(Value::BytesValue(s.into_bytes()))),
            ".{0,20}".prop_map(|s| Some(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: s,
                    ..Default::default()
                }],
            }))),
        ]
    }

    proptest! {
        /// The fast path reads every `KeyValue` it accepts as the general reader does.
        #[test]
        fn short_kv_agrees_with_the_general_reader(key in ".{0,150}", v in value(), extra in ".{0,3}") {
            let kv = KeyValue {
                key,
                value: Some(AnyValue { value: v }),
                ..Default::default()
            };
            let mut buf = kv.encode_to_vec();
            // Sometimes a second, later string value: the last one wins.
            if !extra.is_empty() {
                let mut any = Vec::new();
                prost::encoding::string::encode(1, &extra, &mut any);
                len_field(2, &any, &mut buf);
            }
            if let Some((k, _, s)) = short_kv(&buf, 0..buf.len()) {
                let (gk, gs) = general(&buf);
                prop_assert_eq!(k, &gk[..]);
                prop_assert_eq!(s.map(<[u8]>::to_vec), gs);
            }
        }
    }
}
