//! Detector keys: the span fields that decide which spans share a baseline.
//!
//! Keys are never stored as strings: the hot path hashes the borrowed fields
//! into a 64-bit [`KeyHash`] and the detector stores only that. A collision
//! between two keys merges their baselines; with 64-bit hashes and at most
//! a few hundred thousand live keys the probability is ~1e-9 and accepted.

use serde::{Deserialize, Serialize};

/// A span field that can be part of the detector key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyField {
    /// Resource attribute `service.name`.
    ServiceName,
    /// The span name (operation).
    SpanName,
    /// The span kind (server, client, ...).
    SpanKind,
    /// The span status code (unset, ok, error).
    StatusCode,
    /// Any span or resource attribute, looked up by name by the caller.
    Attribute(String),
}

/// The default key: `(service.name, span name, span kind, status code)`.
pub fn default_key_fields() -> Vec<KeyField> {
    vec![
        KeyField::ServiceName,
        KeyField::SpanName,
        KeyField::SpanKind,
        KeyField::StatusCode,
    ]
}

/// A 64-bit key identity, produced by [`KeyRef::hash`] or [`KeyHasher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub u64);

/// Borrowed view of the default key fields of one span.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    /// `service.name` of the span's resource.
    pub service: &'a str,
    /// Span name.
    pub span_name: &'a str,
    /// OTLP span kind as its protobuf integer.
    pub span_kind: i32,
    /// OTLP status code as its protobuf integer.
    pub status_code: i32,
}

impl KeyRef<'_> {
    /// Hashes the four default fields.
    pub fn hash(&self) -> KeyHash {
        let mut h = KeyHasher::new();
        h.write_str(self.service);
        h.write_str(self.span_name);
        h.write_u64(self.span_kind as u64);
        h.write_u64(self.status_code as u64);
        h.finish()
    }
}

/// Incremental hasher for custom key layouts (see [`KeyField`]).
///
/// Each field is length-prefixed so that `("ab","c")` and `("a","bc")`
/// differ. The mixing is a multiply-xorshift in the style of FxHash with a
/// final avalanche; it is not DoS-resistant, which is acceptable because
/// an attacker who controls span names can already create unbounded keys
/// and the LRU bounds the damage.
#[derive(Debug, Clone)]
pub struct KeyHasher {
    state: u64,
}

impl Default for KeyHasher {
    fn default() -> Self {
        Self::new()
    }
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl KeyHasher {
    /// Starts a new key hash.
    pub fn new() -> Self {
        Self {
            state: 0x243F_6A88_85A3_08D3,
        }
    }

    #[inline]
    fn mix(&mut self, v: u64) {
        self.state = (self.state.rotate_left(5) ^ v).wrapping_mul(MUL);
    }

    /// Adds a string field.
    pub fn write_str(&mut self, s: &str) {
        self.mix(s.len() as u64);
        let mut chunks = s.as_bytes().chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rem = chunks.remainder();
        if !rem.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rem.len()].copy_from_slice(rem);
            self.mix(u64::from_le_bytes(buf));
        }
    }

    /// Adds an integer field.
    pub fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    /// Finishes the hash.
    pub fn finish(&self) -> KeyHash {
        // splitmix64 finaliser: the map uses the low bits directly.
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        KeyHash(z ^ (z >> 31))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_matter() {
        let a = KeyRef {
            service: "ab",
            span_name: "c",
            span_kind: 1,
            status_code: 0,
        };
        let b = KeyRef {
            service: "a",
            span_name: "bc",
            span_kind: 1,
            status_code: 0,
        };
        assert_ne!(a.hash(), b.hash());
        let c = KeyRef {
            status_code: 2,
            ..a
        };
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.hash(), KeyRef { ..a }.hash());
    }
}
