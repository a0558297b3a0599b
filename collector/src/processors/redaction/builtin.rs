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

/// A built-in pattern: the value regex, and how a match is masked.
pub(crate) struct Pattern {
    pub(crate) value: &'static str,
    pub(crate) kind: Kind,
}

/// The pattern of a built-in.
pub(crate) fn pattern(b: Builtin) -> Pattern {
    match b {
        // 13 to 19 digits, single spaces or dashes between them (`4111 1111 1111 1111`).
        Builtin::CreditCard => Pattern {
            value: r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
            kind: Kind::Luhn,
        },
        Builtin::Email => Pattern {
            value: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            kind: Kind::Whole,
        },
        // RFC 6750's b64token characters.
        Builtin::BearerToken => Pattern {
            value: r"(?i-u)(bearer[ \t]+)[A-Za-z0-9._~+/-]+=*",
            kind: Kind::AfterGroup1,
        },
    }
}

/// Whether `key` names an `Authorization` header or field (`bearer_token` masks its value
/// whole): it is `authorization`, or ends with `.authorization`, `_authorization` or
/// `-authorization`, in any ASCII case. Code rather than a regex: it runs on every key.
#[inline]
pub(crate) fn is_authorization_key(key: &[u8]) -> bool {
    const NAME: &[u8] = b"authorization";
    let Some(split) = key.len().checked_sub(NAME.len()) else {
        return false;
    };
    let (head, tail) = key.split_at(split);
    tail.eq_ignore_ascii_case(NAME) && head.last().is_none_or(|b| matches!(b, b'.' | b'_' | b'-'))
}

/// A necessary condition for the built-in patterns, checked before the regexes: most values
/// fail it in one pass over their bytes, so a request with nothing to redact costs little
/// more than reading it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Prefilter {
    /// `credit_card`: at least 13 ASCII digits.
    pub(crate) digits: bool,
    /// `email`: an `@`.
    pub(crate) at: bool,
    /// `bearer_token`: `bearer` in any ASCII case.
    pub(crate) bearer: bool,
}

impl Prefilter {
    /// The prefilter of these built-ins.
    pub(crate) fn new(builtins: &[Builtin]) -> Prefilter {
        Prefilter {
            digits: builtins.contains(&Builtin::CreditCard),
            at: builtins.contains(&Builtin::Email),
            bearer: builtins.contains(&Builtin::BearerToken),
        }
    }

    /// Whether some built-in could match `value`. Each check is a SIMD-friendly scan (a
    /// counting loop the compiler vectorises, `memchr`), cheapest first.
    #[inline]
    pub(crate) fn may_match(&self, value: &[u8]) -> bool {
        (self.at && memchr::memchr(b'@', value).is_some())
            || (self.bearer
                && value.len() >= 6
                && memchr::memchr2_iter(b'b', b'B', value).any(|i| {
                    value
                        .get(i..i + 6)
                        .is_some_and(|w| w.eq_ignore_ascii_case(b"bearer"))
                }))
            || (self.digits
                && value.len() >= 13
                && value.iter().filter(|c| c.is_ascii_digit()).count() >= 13
                && has_digit_run(value))
    }
}

/// Whether `value` holds 13 digits in a row, single spaces or dashes between them allowed
/// (what the card regex needs): values with many scattered digits (user agents, versions)
/// stop here instead of reaching the regex.
fn has_digit_run(value: &[u8]) -> bool {
    let mut run = 0;
    let mut after_separator = false;
    for &c in value {
        if c.is_ascii_digit() {
            run += 1;
            after_separator = false;
            if run >= 13 {
                return true;
            }
        } else if matches!(c, b' ' | b'-') && run > 0 && !after_separator {
            after_separator = true;
        } else {
            run = 0;
            after_separator = false;
        }
    }
    false
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
    (13..=19).contains(&n) && sum.is_multiple_of(10)
}
