//! The configuration compiled: what happens to one attribute key, and what one string value
//! becomes.
//!
//! Everything works on bytes (`regex::bytes`): requests were validated by the receiver, so
//! strings are UTF-8 already, and a match of a UTF-8 regex on valid UTF-8 starts and ends on
//! character boundaries, so replacing it keeps the string valid. Checking a value costs one
//! `RegexSet` scan (every pattern in one automaton) and allocates nothing unless it matches.

use std::collections::HashSet;

use regex::bytes::{Regex, RegexSet};

use super::builtin::{self, Kind, Prefilter};
use super::config::{Builtin, HashFunction, RedactionConfig, Summary};
use super::summary::SUMMARY_KEYS;

/// The replacement of a masked part without `hash_function`.
pub(crate) const MASK: &[u8] = b"****";

/// What happens to one attribute, decided by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyAction {
    /// Passed through untouched (`ignored_keys`, `ignored_key_patterns`).
    Ignore,
    /// Removed (not in `allowed_keys` while `allow_all_keys` is false).
    Remove,
    /// The whole value masked (`blocked_key_patterns`, `bearer_token`'s keys).
    MaskWhole,
    /// A string value is scanned with the value patterns.
    Scan,
}

type KeySet = HashSet<Box<[u8]>, foldhash::fast::RandomState>;

/// One value pattern and how its matches are masked.
struct ValueRule {
    re: Regex,
    kind: Kind,
}

/// The compiled configuration of one processor.
pub(crate) struct Rules {
    allow_all_keys: bool,
    allowed: KeySet,
    ignored: KeySet,
    ignored_patterns: Option<RegexSet>,
    blocked_keys: Option<RegexSet>,
    /// `bearer_token`: values of `*authorization` keys are masked whole.
    authorization_keys: bool,
    /// All value patterns at once, to tell whether a value needs any work.
    values: Option<RegexSet>,
    /// Whether `blocked_values` has patterns (then every string value goes through `values`).
    user_values: bool,
    /// Run before `values` when only built-ins are configured.
    prefilter: Prefilter,
    value_rules: Vec<ValueRule>,
    allowed_values: Option<RegexSet>,
    hash: Hash,
    pub(crate) summary: Summary,
}

enum Hash {
    None,
    Digest(&'static ring::digest::Algorithm),
    Hmac(ring::hmac::Key),
}

fn set(patterns: &[String], key: &str) -> Result<Option<RegexSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    RegexSet::new(patterns)
        .map(Some)
        .map_err(|e| format!("{key}: invalid regex: {e}"))
}

impl Rules {
    /// Compiles `config` (validated: the regexes compile).
    pub(crate) fn new(config: &RedactionConfig) -> Result<Rules, String> {
        let keys = |list: &[String]| -> KeySet {
            list.iter()
                .map(|k| k.as_bytes().to_vec().into_boxed_slice())
                .collect()
        };
        let mut value_rules = Vec::new();
        let mut value_patterns = Vec::new();
        for p in &config.blocked_values {
            let re = Regex::new(p).map_err(|e| format!("blocked_values: `{p}`: {e}"))?;
            value_rules.push(ValueRule {
                re,
                kind: Kind::Whole,
            });
            value_patterns.push(p.clone());
        }
        for &b in &config.builtin_patterns {
            let pattern = builtin::pattern(b);
            let re = Regex::new(pattern.value).map_err(|e| e.to_string())?;
            value_rules.push(ValueRule {
                re,
                kind: pattern.kind,
            });
            value_patterns.push(pattern.value.to_owned());
        }
        let hash = match config.hash_function {
            HashFunction::None => Hash::None,
            HashFunction::Sha1 => Hash::Digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
            HashFunction::Sha256 => Hash::Digest(&ring::digest::SHA256),
            HashFunction::HmacSha256 | HashFunction::HmacSha512 => {
                let key = config
                    .hmac_key
                    .as_ref()
                    .ok_or("hash_function hmac-sha256 / hmac-sha512 needs hmac_key")?;
                let algorithm = if config.hash_function == HashFunction::HmacSha256 {
                    ring::hmac::HMAC_SHA256
                } else {
                    ring::hmac::HMAC_SHA512
                };
                Hash::Hmac(ring::hmac::Key::new(algorithm, key.expose().as_bytes()))
            }
        };
        let mut allowed = keys(&config.allowed_keys);
        // Summary attributes survive a second redaction processor (as in contrib).
        for k in SUMMARY_KEYS {
            allowed.insert(k.as_bytes().into());
        }
        Ok(Rules {
            allow_all_keys: config.allow_all_keys,
            allowed,
            ignored: keys(&config.ignored_keys),
            ignored_patterns: set(&config.ignored_key_patterns, "ignored_key_patterns")?,
            blocked_keys: set(&config.blocked_key_patterns, "blocked_key_patterns")?,
            authorization_keys: config.builtin_patterns.contains(&Builtin::BearerToken),
            values: set(&value_patterns, "blocked_values")?,
            user_values: !config.blocked_values.is_empty(),
            prefilter: Prefilter::new(&config.builtin_patterns),
            value_rules,
            allowed_values: set(&config.allowed_values, "allowed_values")?,
            hash,
            summary: config.summary,
        })
    }

    /// What happens to the attribute `key`, in contrib's order: ignored, then removed, then
    /// masked whole, else scanned.
    #[inline]
    pub(crate) fn key_action(&self, key: &[u8]) -> KeyAction {
        if (!self.ignored.is_empty() && self.ignored.contains(key))
            || self
                .ignored_patterns
                .as_ref()
                .is_some_and(|s| s.is_match(key))
        {
            return KeyAction::Ignore;
        }
        if !self.allow_all_keys && !self.allowed.contains(key) {
            return KeyAction::Remove;
        }
        if (self.authorization_keys && builtin::is_authorization_key(key))
            || self.blocked_keys.as_ref().is_some_and(|s| s.is_match(key))
        {
            return KeyAction::MaskWhole;
        }
        KeyAction::Scan
    }

    /// Whether `allowed_values` lets `value` through unmasked.
    pub(crate) fn allowed_value(&self, value: &[u8]) -> bool {
        self.allowed_values
            .as_ref()
            .is_some_and(|s| s.is_match(value))
    }

    /// Whether any value pattern is configured (otherwise values are never scanned).
    pub(crate) fn scans_values(&self) -> bool {
        self.values.is_some()
    }

    /// `value` with every match of the value patterns masked, or `None` if nothing is masked
    /// (no match, an allowed value, or card-like numbers failing the Luhn check).
    pub(crate) fn mask_value(&self, value: &[u8]) -> Option<Vec<u8>> {
        let set = self.values.as_ref()?;
        if !self.user_values && !self.prefilter.may_match(value) {
            return None;
        }
        if !set.is_match(value) || self.allowed_value(value) {
            return None;
        }
        let mut current = value.to_vec();
        let mut changed = false;
        for i in set.matches(value).iter() {
            let Some(rule) = self.value_rules.get(i) else {
                continue;
            };
            let mut out = Vec::with_capacity(current.len());
            let mut last = 0;
            let mut replaced = false;
            for caps in rule.re.captures_iter(&current) {
                let Some(m) = caps.get(0) else { continue };
                let masked_from = match rule.kind {
                    Kind::Whole => m.start(),
                    Kind::Luhn if builtin::luhn(m.as_bytes()) => m.start(),
                    Kind::Luhn => continue,
                    Kind::AfterGroup1 => caps.get(1).map_or(m.start(), |g| g.end()),
                };
                out.extend_from_slice(current.get(last..masked_from).unwrap_or_default());
                self.replacement(
                    current.get(masked_from..m.end()).unwrap_or_default(),
                    &mut out,
                );
                last = m.end();
                replaced = true;
            }
            if replaced {
                changed = true;
                out.extend_from_slice(current.get(last..).unwrap_or_default());
                current = out;
            }
        }
        changed.then_some(current)
    }

    /// What a value of a blocked key becomes: the mask, or the digest of the whole value.
    pub(crate) fn mask_whole(&self, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.replacement(value, &mut out);
        out
    }

    /// Appends what replaces `part`: `****` or its hex digest.
    fn replacement(&self, part: &[u8], out: &mut Vec<u8>) {
        let hex = |d: &[u8], out: &mut Vec<u8>| out.extend_from_slice(hex::encode(d).as_bytes());
        match &self.hash {
            Hash::None => out.extend_from_slice(MASK),
            Hash::Digest(a) => hex(ring::digest::digest(a, part).as_ref(), out),
            Hash::Hmac(key) => hex(ring::hmac::sign(key, part).as_ref(), out),
        }
    }
}
