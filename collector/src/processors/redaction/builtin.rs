//! The value patterns Lookout ships (`builtin_patterns`), and the Luhn check.
//!
//! The regexes use ASCII classes and word boundaries (`(?-u:\b)`, `[0-9]`): Unicode word
//! boundaries would keep the regex engine off its DFA on non-ASCII input, and card numbers,
//! addresses and tokens are ASCII anyway.

use super::config::Builtin;

/// What a matching part of a value becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The whole match is masked.
    Whole,
    /// The whole match is masked if its digits pass the Luhn check.
    Luhn,
    /// Capture group 1 (a prefix such as `Bearer `) is kept, the rest masked.
    AfterGroup1,
}

/// A built-in pattern: the value regex, how a match is masked, and a key regex whose values
/// are masked whole.
pub(crate) struct Pattern {
    pub(crate) value: &'static str,
    pub(crate) kind: Kind,
    pub(crate) key: Option<&'static str>,
}

/// The pattern of a built-in.
pub(crate) fn pattern(b: Builtin) -> Pattern {
    match b {
        // 13 to 19 digits, single spaces or dashes between them (`4111 1111 1111 1111`).
        Builtin::CreditCard => Pattern {
            value: r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
            kind: Kind::Luhn,
            key: None,
        },
        Builtin::Email => Pattern {
            value: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            kind: Kind::Whole,
            key: None,
        },
        // RFC 6750's b64token characters.
        Builtin::BearerToken => Pattern {
            value: r"(?i-u)(bearer[ \t]+)[A-Za-z0-9._~+/-]+=*",
            kind: Kind::AfterGroup1,
            key: Some(r"(?i-u)(?:^|[._-])authorization$"),
        },
    }
}

/// Whether the ASCII digits of `text` (other bytes skipped) form a number of 13 to 19
/// digits that passes the Luhn check, as every payment card number does.
pub(crate) fn luhn(text: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut n = 0usize;
    for &b in text.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let d = u32::from(b - b'0');
        sum += if n % 2 == 1 {
            let d2 = d * 2;
            if d2 > 9 { d2 - 9 } else { d2 }
        } else {
            d
        };
        n += 1;
    }
    (13..=19).contains(&n) && sum % 10 == 0
}
