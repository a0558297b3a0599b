//! The `bearertokenauth` extension (the Collector contrib's, server side): a request must
//! carry `<header>: <scheme> <token>` with one of the configured tokens.
//!
//! Tokens are compared as SHA-256 digests in constant time. A token file is read when the
//! extension starts and again on a config reload when its contents changed (the Collector
//! watches it; here a rewritten file applies at the next SIGHUP or `POST /-/reload`).

mod factory;

use std::path::PathBuf;

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

pub(crate) use factory::Factory;

use super::auth::{Authenticate, Denied, Secret, digest, matches_any};

/// `extensions: bearertokenauth:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BearerTokenAuthConfig {
    /// Header carrying the token (default `Authorization`).
    pub header: Option<String>,
    /// Auth scheme before the token (default `Bearer`; empty: the token alone).
    pub scheme: Option<String>,
    /// The token.
    pub token: Option<Secret>,
    /// Several tokens, any of which is accepted.
    pub tokens: Vec<Secret>,
    /// A file holding the token (surrounding whitespace ignored); takes precedence over
    /// `token` and `tokens`, as in the Collector.
    pub filename: Option<PathBuf>,
}

impl crate::component::Validate for BearerTokenAuthConfig {
    fn validate(&self) -> Result<(), String> {
        if let Some(header) = &self.header {
            HeaderName::try_from(header.as_str())
                .map_err(|_| format!("header {header:?} is not a valid HTTP header name"))?;
        }
        self.tokens().map(drop)
    }
}

impl BearerTokenAuthConfig {
    /// The accepted tokens (reading `filename`).
    fn tokens(&self) -> Result<Vec<Secret>, String> {
        let tokens = match &self.filename {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| format!("filename {}: {err}", path.display()))?;
                vec![Secret::from(text.trim().to_owned())]
            }
            None => self.token.iter().chain(&self.tokens).cloned().collect(),
        };
        if tokens.iter().all(|t| t.expose().is_empty()) {
            return Err("no bearer token provided: set token, tokens or filename".into());
        }
        Ok(tokens)
    }
}

/// The running authenticator.
pub(crate) struct BearerTokenAuth {
    header: HeaderName,
    scheme: String,
    /// Digests of every accepted header value (`<scheme> <token>`).
    expected: Vec<[u8; 32]>,
}

impl BearerTokenAuth {
    pub(crate) fn new(config: &BearerTokenAuthConfig) -> Result<BearerTokenAuth, String> {
        let header = HeaderName::try_from(config.header.as_deref().unwrap_or("authorization"))
            .map_err(|err| format!("header: {err}"))?;
        let scheme = config.scheme.clone().unwrap_or_else(|| "Bearer".into());
        let expected = config
            .tokens()?
            .iter()
            .filter(|t| !t.expose().is_empty())
            .map(|t| {
                let value = if scheme.is_empty() {
                    t.expose().to_owned()
                } else {
                    format!("{scheme} {}", t.expose())
                };
                digest(value.as_bytes())
            })
            .collect();
        Ok(BearerTokenAuth {
            header,
            scheme,
            expected,
        })
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let mut values = headers.get_all(&self.header).iter().peekable();
        if values.peek().is_none() {
            return Err(Denied::Missing);
        }
        // Every value is compared, so the time taken does not tell which one matched.
        let mut ok = false;
        for value in values {
            ok |= matches_any(&digest(value.as_bytes()), &self.expected);
        }
        if ok { Ok(()) } else { Err(Denied::Invalid) }
    }
}

impl Authenticate for BearerTokenAuth {
    fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<(), Denied>> {
        let verdict = self.check(headers);
        Box::pin(async move { verdict })
    }

    fn challenge(&self) -> HeaderValue {
        let scheme = if self.scheme.is_empty() {
            "Bearer"
        } else {
            &self.scheme
        };
        HeaderValue::from_str(scheme).unwrap_or(HeaderValue::from_static("Bearer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::Validate;

    fn parse(yaml: &str) -> BearerTokenAuthConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::try_from(*k).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn accepts_the_token_after_the_scheme() {
        let auth = BearerTokenAuth::new(&parse("token: s3cret")).unwrap();
        assert_eq!(
            auth.check(&headers(&[("authorization", "Bearer s3cret")])),
            Ok(())
        );
        assert_eq!(
            auth.check(&headers(&[("authorization", "Bearer s3cre")])),
            Err(Denied::Invalid)
        );
        assert_eq!(
            auth.check(&headers(&[("authorization", "s3cret")])),
            Err(Denied::Invalid)
        );
        assert_eq!(auth.check(&headers(&[])), Err(Denied::Missing));
    }

    #[test]
    fn any_of_tokens_custom_header_and_scheme() {
        let auth =
            BearerTokenAuth::new(&parse("header: x-api-key\nscheme: Key\ntokens: [a, b]")).unwrap();
        assert_eq!(auth.check(&headers(&[("x-api-key", "Key b")])), Ok(()));
        assert_eq!(
            auth.check(&headers(&[("authorization", "Key a")])),
            Err(Denied::Missing)
        );
        let bare = BearerTokenAuth::new(&parse("scheme: ''\ntoken: t")).unwrap();
        assert_eq!(bare.check(&headers(&[("authorization", "t")])), Ok(()));
    }

    #[test]
    fn the_file_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\n").unwrap();
        let config = parse(&format!("token: inline\nfilename: {}", path.display()));
        let auth = BearerTokenAuth::new(&config).unwrap();
        assert_eq!(
            auth.check(&headers(&[("authorization", "Bearer from-file")])),
            Ok(())
        );
        assert_eq!(
            auth.check(&headers(&[("authorization", "Bearer inline")])),
            Err(Denied::Invalid)
        );
    }

    #[test]
    fn validate_refuses_no_token_and_a_missing_file() {
        assert!(
            parse("scheme: Bearer")
                .validate()
                .unwrap_err()
                .contains("no bearer token")
        );
        let err = parse("filename: /nonexistent/token")
            .validate()
            .unwrap_err();
        assert!(err.starts_with("filename /nonexistent/token"), "{err}");
        assert!(parse("header: 'bad header'").validate().is_err());
    }

    #[test]
    fn debug_hides_tokens() {
        let shown = format!("{:?}", parse("token: hunter2\ntokens: [swordfish]"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
    }
}
