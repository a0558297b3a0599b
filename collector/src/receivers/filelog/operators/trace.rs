//! `trace_parser` and the embedded `trace:` block: trace id, span id and flags into the
//! record's trace fields, so logs join their spans.
//!
//! Beyond the Collector's fields, the usual spellings are recognised when the default field
//! is absent (`traceId`, `trace.id`, `dd.trace_id` in decimal, `spanId`, `span.id`,
//! `dd.span_id`) and a W3C `traceparent` value fills all three. Invalid ids stay where they
//! were and are counted, never fatal.

use serde::Deserialize;
use serde_json::Value;

use super::entry::{Entry, Field, value_text};

/// `trace:` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TraceConfig {
    /// `trace_id.parse_from` (default `attributes.trace_id`).
    pub trace_id: Option<ParseFrom>,
    /// `span_id.parse_from` (default `attributes.span_id`).
    pub span_id: Option<ParseFrom>,
    /// `trace_flags.parse_from` (default `attributes.trace_flags`).
    pub trace_flags: Option<ParseFrom>,
}

/// `{ parse_from: <field> }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParseFrom {
    /// The field to read.
    pub parse_from: Field,
}

/// A built trace parser.
#[derive(Debug, Clone)]
pub(crate) struct TraceParser {
    trace_id: Vec<(Field, IdForm)>,
    span_id: Vec<(Field, IdForm)>,
    trace_flags: Field,
    traceparent: Option<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdForm {
    Hex,
    /// Datadog writes the low 64 bits as a decimal number.
    Decimal,
}

impl TraceParser {
    /// Builds the field lists; explicit fields turn off the alias search.
    pub(crate) fn new(config: &TraceConfig) -> TraceParser {
        let attr = |k: &str| Field::attribute(k);
        let trace_id = match &config.trace_id {
            Some(p) => vec![(p.parse_from.clone(), IdForm::Hex)],
            None => vec![
                (attr("trace_id"), IdForm::Hex),
                (attr("traceId"), IdForm::Hex),
                (attr("trace.id"), IdForm::Hex),
                (
                    Field::Attributes(vec!["trace".into(), "id".into()]),
                    IdForm::Hex,
                ),
                (attr("dd.trace_id"), IdForm::Decimal),
                (
                    Field::Attributes(vec!["dd".into(), "trace_id".into()]),
                    IdForm::Decimal,
                ),
            ],
        };
        let span_id = match &config.span_id {
            Some(p) => vec![(p.parse_from.clone(), IdForm::Hex)],
            None => vec![
                (attr("span_id"), IdForm::Hex),
                (attr("spanId"), IdForm::Hex),
                (attr("span.id"), IdForm::Hex),
                (
                    Field::Attributes(vec!["span".into(), "id".into()]),
                    IdForm::Hex,
                ),
                (attr("dd.span_id"), IdForm::Decimal),
                (
                    Field::Attributes(vec!["dd".into(), "span_id".into()]),
                    IdForm::Decimal,
                ),
            ],
        };
        let explicit = config.trace_id.is_some() || config.span_id.is_some();
        TraceParser {
            trace_id,
            span_id,
            trace_flags: config
                .trace_flags
                .as_ref()
                .map(|p| p.parse_from.clone())
                .unwrap_or_else(|| attr("trace_flags")),
            traceparent: (!explicit).then(|| attr("traceparent")),
        }
    }

    /// Sets the trace fields; returns how many ids were present but invalid.
    pub(crate) fn apply(&self, entry: &mut Entry) -> usize {
        let mut invalid = 0;
        if let Some(field) = &self.traceparent
            && let Some(value) = entry.get(field).and_then(value_text)
        {
            match parse_traceparent(&value) {
                Some((t, s, f)) => {
                    entry.trace_id = Some(t);
                    entry.span_id = Some(s);
                    entry.trace_flags = Some(f);
                    entry.delete(field);
                }
                None => invalid += 1,
            }
        }
        let found = self
            .trace_id
            .iter()
            .find_map(|(f, form)| entry.get(f).map(|v| (f, decode_id::<16>(v, *form))));
        if let Some((field, decoded)) = found {
            match decoded {
                Some(id) => {
                    entry.trace_id = Some(id);
                    entry.delete(field);
                }
                None => invalid += 1,
            }
        }
        let found = self
            .span_id
            .iter()
            .find_map(|(f, form)| entry.get(f).map(|v| (f, decode_id::<8>(v, *form))));
        if let Some((field, decoded)) = found {
            match decoded {
                Some(id) => {
                    entry.span_id = Some(id);
                    entry.delete(field);
                }
                None => invalid += 1,
            }
        }
        if let Some(value) = entry.get(&self.trace_flags) {
            let flags = match value {
                Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
                Value::String(s) => decode_hex::<1>(s).map(|b| b[0]),
                _ => None,
            };
            match flags {
                Some(f) => {
                    entry.trace_flags = Some(f);
                    let field = self.trace_flags.clone();
                    entry.delete(&field);
                }
                None => invalid += 1,
            }
        }
        invalid
    }
}

fn decode_id<const N: usize>(value: &Value, form: IdForm) -> Option<[u8; N]> {
    // Ids are almost always strings: read them in place instead of copying.
    let owned;
    let text = match value {
        Value::String(s) => s.as_str(),
        other => {
            owned = value_text(other)?;
            owned.as_str()
        }
    };
    let id = match form {
        IdForm::Hex => decode_hex::<N>(text.trim())?,
        IdForm::Decimal => {
            let n: u64 = text.trim().parse().ok()?;
            let mut id = [0u8; N];
            id.last_chunk_mut::<8>()?.copy_from_slice(&n.to_be_bytes());
            id
        }
    };
    // All-zero ids are invalid in W3C and OTLP.
    id.iter().any(|b| *b != 0).then_some(id)
}

/// Decodes exactly `N` bytes of hex; shorter ids are left-padded with zeros as the Collector does.
fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.is_empty() || s.len() > N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    let digits = s.as_bytes();
    if digits.len() == N * 2 {
        let (pairs, _) = digits.as_chunks::<2>();
        for (byte, &[hi, lo]) in out.iter_mut().zip(pairs) {
            *byte = (hex_value(hi)? << 4) | hex_value(lo)?;
        }
        return Some(out);
    }
    // Right-aligned: an odd or short id gets leading zero nibbles.
    let skip = N * 2 - digits.len();
    for (i, d) in digits.iter().enumerate() {
        let nibble = hex_value(*d)?;
        let at = skip + i;
        // `at` is below `N * 2`, so `?` never returns here.
        *out.get_mut(at / 2)? |= if at.is_multiple_of(2) {
            nibble << 4
        } else {
            nibble
        };
    }
    Some(out)
}

/// Hex digit values; 0xFF marks a byte that is not a hex digit.
// Indexed only during constant evaluation, where an out-of-range index fails the build.
#[allow(clippy::indexing_slicing)]
const HEX: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

fn hex_value(d: u8) -> Option<u8> {
    HEX.get(usize::from(d)).copied().filter(|v| *v != 0xFF)
}

/// `version-traceid-spanid-flags`, version 00 (later versions: the first four fields).
fn parse_traceparent(s: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    let mut parts = s.trim().split('-');
    let version = parts.next()?;
    if version.len() != 2 || version.eq_ignore_ascii_case("ff") {
        return None;
    }
    let trace = parts.next().filter(|p| p.len() == 32)?;
    let span = parts.next().filter(|p| p.len() == 16)?;
    let flags = parts.next().filter(|p| p.len() == 2)?;
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let t = decode_hex::<16>(trace).filter(|t| t.iter().any(|b| *b != 0))?;
    let sp = decode_hex::<8>(span).filter(|s| s.iter().any(|b| *b != 0))?;
    let [f] = decode_hex::<1>(flags)?;
    Some((t, sp, f))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn entry(attrs: Value) -> Entry {
        let mut e = Entry::default();
        e.set(&Field::Attributes(vec![]), attrs);
        e
    }

    #[test]
    fn default_fields_and_aliases() {
        let p = TraceParser::new(&TraceConfig::default());
        for attrs in [
            json!({"trace_id": TRACE, "span_id": SPAN, "trace_flags": "01"}),
            json!({"traceId": TRACE, "spanId": SPAN, "trace_flags": 1}),
            json!({"trace.id": TRACE, "span.id": SPAN, "trace_flags": "01"}),
        ] {
            let mut e = entry(attrs);
            assert_eq!(p.apply(&mut e), 0);
            assert_eq!(hex::encode(e.trace_id.unwrap()), TRACE);
            assert_eq!(hex::encode(e.span_id.unwrap()), SPAN);
            assert_eq!(e.trace_flags, Some(1));
            assert!(e.attributes.is_empty(), "{:?}", e.attributes);
        }
    }

    #[test]
    fn hex_ids_of_any_length_case_and_invalid_digits() {
        assert_eq!(decode_hex::<2>("abCD"), Some([0xab, 0xcd]));
        assert_eq!(decode_hex::<2>("bcd"), Some([0x0b, 0xcd]));
        assert_eq!(decode_hex::<2>("1"), Some([0, 1]));
        assert_eq!(decode_hex::<2>("0g00"), None);
        assert_eq!(decode_hex::<2>("x"), None);
        assert_eq!(decode_hex::<2>("12345"), None);
        assert_eq!(decode_hex::<2>(""), None);
    }

    #[test]
    fn datadog_decimal_ids() {
        let p = TraceParser::new(&TraceConfig::default());
        let mut e = entry(json!({"dd.trace_id": "1234567890123456789", "dd.span_id": 42}));
        assert_eq!(p.apply(&mut e), 0);
        assert_eq!(
            hex::encode(e.trace_id.unwrap()),
            "0000000000000000112210f47de98115"
        );
        assert_eq!(hex::encode(e.span_id.unwrap()), "000000000000002a");
    }

    #[test]
    fn w3c_traceparent() {
        let p = TraceParser::new(&TraceConfig::default());
        let mut e = entry(json!({"traceparent": format!("00-{TRACE}-{SPAN}-01")}));
        assert_eq!(p.apply(&mut e), 0);
        assert_eq!(hex::encode(e.trace_id.unwrap()), TRACE);
        assert_eq!(e.trace_flags, Some(1));
        assert!(e.attributes.is_empty());
    }

    #[test]
    fn invalid_ids_stay_and_are_counted() {
        let p = TraceParser::new(&TraceConfig::default());
        let mut e = entry(
            json!({"trace_id": "not-hex", "span_id": "0000000000000000", "traceparent": "garbage"}),
        );
        assert_eq!(p.apply(&mut e), 3);
        assert_eq!(e.trace_id, None);
        assert_eq!(e.attributes["trace_id"], json!("not-hex"));
        assert_eq!(e.attributes["traceparent"], json!("garbage"));
    }

    #[test]
    fn explicit_fields() {
        let config: TraceConfig = serde_yaml_ng::from_str(
            "trace_id:\n  parse_from: body.t\nspan_id:\n  parse_from: body.s",
        )
        .unwrap();
        let p = TraceParser::new(&config);
        let mut e = Entry {
            body: json!({"t": TRACE, "s": SPAN}),
            ..Entry::default()
        };
        assert_eq!(p.apply(&mut e), 0);
        assert!(e.trace_id.is_some() && e.span_id.is_some());
    }
}
