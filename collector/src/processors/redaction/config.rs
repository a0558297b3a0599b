//! `processors: redaction:` settings, with the Collector contrib's names where they exist.

use serde::Deserialize;

use crate::component::Validate;
use crate::extensions::auth::Secret;

/// `redaction` settings. The keys are contrib's `redactionprocessor`'s, plus
/// `builtin_patterns`; contrib's URL and database sanitizers and `redact_all_types` are not
/// offered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RedactionConfig {
    /// Keep every attribute key (default `false`, as in contrib: only `allowed_keys`, ignored
    /// keys and the summary attributes are kept; every other attribute is removed).
    pub allow_all_keys: bool,
    /// Attribute keys kept when `allow_all_keys` is false.
    pub allowed_keys: Vec<String>,
    /// Attribute keys passed through untouched: neither removed nor masked.
    pub ignored_keys: Vec<String>,
    /// Regexes: attribute keys matching any are passed through untouched, as `ignored_keys`.
    pub ignored_key_patterns: Vec<String>,
    /// Regexes: the whole value of an attribute whose key matches any is masked.
    pub blocked_key_patterns: Vec<String>,
    /// Regexes: the parts of string values (attributes and string log bodies) matching any are
    /// masked.
    pub blocked_values: Vec<String>,
    /// Regexes: a string value matching any is never masked (it may still be removed by the
    /// key rules).
    pub allowed_values: Vec<String>,
    /// Value patterns Lookout ships, by name, masked like `blocked_values`: `credit_card`
    /// (13 to 19 digits, spaces or dashes between them allowed, masked only when the Luhn
    /// check passes), `email`, `bearer_token` (the token after `Bearer `, and the whole value
    /// of keys ending in `authorization`).
    pub builtin_patterns: Vec<Builtin>,
    /// What replaces a masked part: `none` (default: `****`), or its hex digest: `sha1`,
    /// `sha256`, `hmac-sha256`, `hmac-sha512` (the HMACs keyed with `hmac_key`). Contrib's
    /// `md5` and `sha3` are not offered (no digest crate beyond `ring` in this build; md5 is
    /// broken anyway).
    pub hash_function: HashFunction,
    /// The key of `hmac-sha256` / `hmac-sha512`. Never shown in logs or `validate` output.
    pub hmac_key: Option<Secret>,
    /// What the processor records on each changed attribute list: `silent` (default: nothing),
    /// `info` (`redaction.{redacted,masked,ignored}.count`), `debug` (the counts and
    /// `redaction.{redacted,masked}.keys`, comma-joined, sorted).
    pub summary: Summary,
}

/// A named built-in value pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Builtin {
    /// Payment card numbers that pass the Luhn check.
    CreditCard,
    /// Email addresses.
    Email,
    /// `Bearer <token>` and `*authorization` values.
    BearerToken,
}

/// How a masked part is replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum HashFunction {
    /// `****`.
    #[default]
    None,
    /// SHA-1, hex.
    Sha1,
    /// SHA-256, hex.
    Sha256,
    /// HMAC-SHA-256 with `hmac_key`, hex.
    HmacSha256,
    /// HMAC-SHA-512 with `hmac_key`, hex.
    HmacSha512,
}

/// Which summary attributes are added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Summary {
    /// None.
    #[default]
    Silent,
    /// Counts.
    Info,
    /// Counts and keys.
    Debug,
}

impl Validate for RedactionConfig {
    fn validate(&self) -> Result<(), String> {
        for (key, patterns) in self.regex_lists() {
            for (i, p) in patterns.iter().enumerate() {
                if let Err(e) = regex::bytes::Regex::new(p) {
                    return Err(format!("{key}[{i}]: invalid regex `{p}`: {e}"));
                }
            }
        }
        let keyed = matches!(
            self.hash_function,
            HashFunction::HmacSha256 | HashFunction::HmacSha512
        );
        let has_key = self
            .hmac_key
            .as_ref()
            .is_some_and(|k| !k.expose().is_empty());
        if keyed && !has_key {
            return Err("hash_function hmac-sha256 / hmac-sha512 needs hmac_key".into());
        }
        if !keyed && self.hmac_key.is_some() {
            return Err(
                "hmac_key is only used with hash_function hmac-sha256 or hmac-sha512".into(),
            );
        }
        Ok(())
    }
}

impl RedactionConfig {
    /// Every list of regexes, with its key.
    pub(crate) fn regex_lists(&self) -> [(&'static str, &[String]); 4] {
        [
            ("ignored_key_patterns", &self.ignored_key_patterns),
            ("blocked_key_patterns", &self.blocked_key_patterns),
            ("blocked_values", &self.blocked_values),
            ("allowed_values", &self.allowed_values),
        ]
    }
}
