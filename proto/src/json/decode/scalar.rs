//! proto3 JSON scalars: strings, booleans, 32/64-bit integers in either number or string
//! form, doubles with their named specials, enums by name or number, hex ids and base64.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

use super::{Path, R, snippet};
use crate::json::error::{JsonError, JsonErrorKind};

pub(super) fn string(v: &Value, p: &Path<'_>) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(p.wrong_type("string", other)),
    }
}

pub(super) fn boolean(v: &Value, p: &Path<'_>) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(p.wrong_type("boolean", other)),
    }
}

/// Integer-valued floats (`3.0`, `1e3`) are valid proto3 JSON for integer fields, so both
/// number forms and their string spellings funnel through here.
fn integral_f64(f: f64, lo: f64, hi_exclusive: f64) -> Option<f64> {
    (f.is_finite() && f.fract() == 0.0 && f >= lo && f < hi_exclusive).then_some(f)
}

const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

fn bad_number(p: &Path<'_>, expected: &'static str, v: &Value) -> JsonError {
    p.err(JsonErrorKind::InvalidNumber {
        expected,
        got: snippet(v),
    })
}

pub(super) fn uint64(v: &Value, p: &Path<'_>) -> R<u64> {
    let parsed = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .and_then(|f| integral_f64(f, 0.0, TWO_POW_64))
                .map(|f| f as u64)
        }),
        Value::String(s) => s.parse::<u64>().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|f| integral_f64(f, 0.0, TWO_POW_64))
                .map(|f| f as u64)
        }),
        other => return Err(p.wrong_type("uint64 as number or string", other)),
    };
    parsed.ok_or_else(|| bad_number(p, "uint64", v))
}

pub(super) fn int64(v: &Value, p: &Path<'_>) -> R<i64> {
    let parsed = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .and_then(|f| integral_f64(f, -TWO_POW_63, TWO_POW_63))
                .map(|f| f as i64)
        }),
        Value::String(s) => s.parse::<i64>().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|f| integral_f64(f, -TWO_POW_63, TWO_POW_63))
                .map(|f| f as i64)
        }),
        other => return Err(p.wrong_type("int64 as number or string", other)),
    };
    parsed.ok_or_else(|| bad_number(p, "int64", v))
}

pub(super) fn uint32(v: &Value, p: &Path<'_>) -> R<u32> {
    let wide = match v {
        Value::Number(_) | Value::String(_) => {
            int64(v, p).map_err(|_| bad_number(p, "uint32", v))?
        }
        other => return Err(p.wrong_type("uint32 as number or string", other)),
    };
    u32::try_from(wide).map_err(|_| bad_number(p, "uint32", v))
}

pub(super) fn int32(v: &Value, p: &Path<'_>) -> R<i32> {
    let wide = match v {
        Value::Number(_) | Value::String(_) => {
            int64(v, p).map_err(|_| bad_number(p, "int32", v))?
        }
        other => return Err(p.wrong_type("int32 as number or string", other)),
    };
    i32::try_from(wide).map_err(|_| bad_number(p, "int32", v))
}

pub(super) fn double(v: &Value, p: &Path<'_>) -> R<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad_number(p, "double", v)),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            // Rust also accepts "inf"/"nan" spellings, which proto3 JSON does not.
            other
                if other
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                    && !other.is_empty() =>
            {
                other.parse::<f64>().map_err(|_| bad_number(p, "double", v))
            }
            _ => Err(bad_number(p, "double", v)),
        },
        other => Err(p.wrong_type("double as number or string", other)),
    }
}

pub(super) fn enumeration(
    v: &Value,
    p: &Path<'_>,
    enum_name: &'static str,
    from_name: fn(&str) -> Option<i32>,
) -> R<i32> {
    match v {
        Value::String(s) => match from_name(s) {
            Some(n) => Ok(n),
            None => int32(v, p).map_err(|_| {
                p.err(JsonErrorKind::UnknownEnum {
                    enum_name,
                    got: snippet(v),
                })
            }),
        },
        Value::Number(_) => int32(v, p),
        other => Err(p.wrong_type("enum as integer or name", other)),
    }
}

/// Decodes a hex trace or span id; `bytes` is the required decoded length.
fn id(v: &Value, p: &Path<'_>, bytes: usize) -> R<Vec<u8>> {
    let s = match v {
        Value::String(s) => s,
        other => return Err(p.wrong_type("hex string", other)),
    };
    if s.is_empty() {
        return Ok(Vec::new());
    }
    if s.len() != bytes * 2 && !(p.any_id_length() && s.len() % 2 == 0) {
        return Err(p.err(JsonErrorKind::IdLength {
            expected: bytes * 2,
            got: s.chars().count(),
        }));
    }
    hex::decode(s).map_err(|_| p.err(JsonErrorKind::InvalidHex))
}

pub(super) fn trace_id(v: &Value, p: &Path<'_>) -> R<Vec<u8>> {
    id(v, p, 16)
}

pub(super) fn span_id(v: &Value, p: &Path<'_>) -> R<Vec<u8>> {
    id(v, p, 8)
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

pub(super) fn bytes(v: &Value, p: &Path<'_>) -> R<Vec<u8>> {
    let s = match v {
        Value::String(s) => s,
        other => return Err(p.wrong_type("base64 string", other)),
    };
    // proto3 JSON parsers must accept both alphabets; the two never share a character
    // that means different things, so the presence of '-' or '_' picks the alphabet.
    let engine = if s.bytes().any(|b| b == b'-' || b == b'_') {
        &URL_SAFE_LENIENT
    } else {
        &STANDARD_LENIENT
    };
    engine
        .decode(s)
        .map_err(|e| p.err(JsonErrorKind::InvalidBase64(e.to_string())))
}
