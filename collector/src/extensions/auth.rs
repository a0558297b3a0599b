//! Receiver authentication, as the Collector's `configauth`: a server protocol names an
//! authenticator extension (`auth: {authenticator: bearertokenauth/x}`), and every request
//! is checked against it from its headers alone, before a byte of its body is read.
//!
//! The extensions that authenticate (`bearertokenauth`, `basicauth`) offer a
//! [`ServerAuthenticator`] through [`crate::component::Host::extension`]. It is a handle: a
//! config reload that changes the extension (a rotated token, a new htpasswd) swaps the
//! checker behind it, so receivers keep their listeners and their reference.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue};
use serde::Deserialize;

use crate::Error;
use crate::component::{Extension, Host, Refs};
use crate::core::ComponentId;

/// The extension types that can authenticate receivers' requests.
const AUTHENTICATORS: &[&str] = &["bearertokenauth", "basicauth"];

/// `auth:` of a receiver protocol.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthConfig {
    /// The id of a `bearertokenauth` or `basicauth` extension listed in
    /// `service.extensions`.
    pub authenticator: ComponentId,
}

impl AuthConfig {
    /// Checks that the authenticator is defined, enabled and of a type that authenticates.
    pub(crate) fn check_refs(&self, refs: &Refs<'_>) -> Result<(), String> {
        let id = &self.authenticator;
        match refs.enabled_extension(id) {
            Ok(kind) if AUTHENTICATORS.contains(&kind) => Ok(()),
            Ok(kind) => Err(format!(
                "auth.authenticator: extension {id} is a {kind} extension; expected one of: {}",
                AUTHENTICATORS.join(", ")
            )),
            Err(e) => Err(format!("auth.authenticator: {e}")),
        }
    }

    /// The running authenticator.
    pub(crate) fn lookup(&self, host: &Host) -> Result<Arc<ServerAuthenticator>, String> {
        host.extension::<ServerAuthenticator>(&self.authenticator)
            .map_err(|e| format!("auth.authenticator: {e}"))
    }
}

/// Why a request was refused. The message never contains what the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No credentials in the request.
    Missing,
    /// Credentials that do not match.
    Invalid,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Denied::Missing => "missing credentials",
            Denied::Invalid => "invalid credentials",
        })
    }
}

/// How one kind of authenticator checks a request's headers.
pub(crate) trait Authenticate: Send + Sync {
    /// Accepts or refuses the request whose headers these are.
    fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<(), Denied>>;
    /// The `WWW-Authenticate` value sent with a 401.
    fn challenge(&self) -> HeaderValue;
}

/// What an authenticator extension offers receivers: a handle on the current checker, which
/// a reload replaces in place ([`swap`]).
pub(crate) struct ServerAuthenticator {
    /// Read once per request (an `Arc` clone under a read lock); written only by a reload.
    inner: RwLock<Arc<dyn Authenticate>>,
}

impl fmt::Debug for ServerAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAuthenticator")
            .finish_non_exhaustive()
    }
}

impl ServerAuthenticator {
    /// Wraps one kind of authenticator.
    pub(crate) fn new(inner: impl Authenticate + 'static) -> ServerAuthenticator {
        ServerAuthenticator {
            inner: RwLock::new(Arc::new(inner)),
        }
    }

    fn current(&self) -> Arc<dyn Authenticate> {
        Arc::clone(&self.inner.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// [`Authenticate::authenticate`], with the checker current when the request arrived.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let current = self.current();
        current.authenticate(headers).await
    }

    /// [`Authenticate::challenge`].
    pub(crate) fn challenge(&self) -> HeaderValue {
        self.current().challenge()
    }

    /// Exchanges the checkers of `self` and `other`.
    fn exchange(&self, other: &ServerAuthenticator) {
        if std::ptr::eq(self, other) {
            return;
        }
        let mut mine = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let mut theirs = other.inner.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *mine, &mut *theirs);
    }
}

/// The authenticator extensions' [`Swap`](crate::component::Swap): the running
/// [`ServerAuthenticator`] takes the reloaded one's checker (and the other way round).
pub(crate) fn swap(running: &(dyn Any + Send + Sync), new: &(dyn Any + Send + Sync)) -> bool {
    match (
        running.downcast_ref::<ServerAuthenticator>(),
        new.downcast_ref::<ServerAuthenticator>(),
    ) {
        (Some(running), Some(new)) => {
            running.exchange(new);
            true
        }
        _ => false,
    }
}

/// The running extension `id` offering `built` to receivers (or the reason it cannot start).
pub(crate) fn extension(
    id: &ComponentId,
    built: Result<impl Authenticate + 'static, String>,
) -> Result<Extension, Error> {
    let auth = built.map_err(|m| Error::component(format!("extensions.{id}"), m))?;
    Ok(Extension {
        service: Some(Arc::new(ServerAuthenticator::new(auth))),
        tasks: Vec::new(),
        swap: Some(swap),
    })
}

/// A configured secret (token, password file contents): read from the config like a string,
/// never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

impl Secret {
    /// The secret itself, for the code that checks credentials.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// SHA-256 of `bytes`: credentials are compared as digests, so comparing takes the same time
/// whatever their length and wherever they first differ.
pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// Whether `presented` is one of `expected`, in time independent of which (every candidate is
/// compared, without early exit).
pub(crate) fn matches_any(presented: &[u8; 32], expected: &[[u8; 32]]) -> bool {
    use subtle::ConstantTimeEq;
    let mut found = subtle::Choice::from(0);
    for candidate in expected {
        found |= presented.ct_eq(candidate);
    }
    found.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_shown() {
        let secret: Secret = serde_yaml_ng::from_str("hunter2").unwrap();
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(secret.expose(), "hunter2");
    }

    fn parse(text: &str) -> Result<crate::config::Config, String> {
        crate::config::Config::parse("test.yaml", text).map_err(|e| e.to_string())
    }

    #[test]
    fn example_configs_load() {
        parse(include_str!("bearertokenauth/testdata/config.yaml")).unwrap();
        parse(include_str!("basicauth/testdata/config.yaml")).unwrap();
    }

    #[test]
    fn the_authenticator_must_be_an_enabled_auth_extension() {
        let config = |auth: &str, enabled: &str| {
            format!(
                "extensions:\n  bearertokenauth: {{token: t}}\n  file_storage: {{directory: /tmp}}\n\
                 receivers:\n  otlp:\n    protocols:\n      grpc:\n        auth: {{authenticator: {auth}}}\n\
                 exporters:\n  debug:\nservice:\n  extensions: [{enabled}]\n  pipelines:\n    \
                 traces: {{receivers: [otlp], exporters: [debug]}}\n"
            )
        };
        parse(&config("bearertokenauth", "bearertokenauth")).unwrap();
        let err = parse(&config("bearertokenauth/x", "bearertokenauth")).unwrap_err();
        assert!(
            err.contains(
                "protocols.grpc.auth.authenticator: extension bearertokenauth/x is not defined"
            ),
            "{err}"
        );
        let err = parse(&config("bearertokenauth", "file_storage")).unwrap_err();
        assert!(err.contains("not enabled in service.extensions"), "{err}");
        let err = parse(&config("file_storage", "file_storage")).unwrap_err();
        assert!(
            err.contains(
                "is a file_storage extension; expected one of: bearertokenauth, basicauth"
            ),
            "{err}"
        );
    }

    struct Fixed(Result<(), Denied>);

    impl Authenticate for Fixed {
        fn authenticate<'a>(&'a self, _: &'a HeaderMap) -> BoxFuture<'a, Result<(), Denied>> {
            let verdict = self.0;
            Box::pin(async move { verdict })
        }
        fn challenge(&self) -> HeaderValue {
            HeaderValue::from_static("Bearer")
        }
    }

    #[tokio::test]
    async fn swap_replaces_the_checker_behind_a_held_handle() {
        let running = Arc::new(ServerAuthenticator::new(Fixed(Err(Denied::Invalid))));
        let held = Arc::clone(&running);
        let new = ServerAuthenticator::new(Fixed(Ok(())));
        let headers = HeaderMap::new();
        assert_eq!(held.authenticate(&headers).await, Err(Denied::Invalid));
        assert!(swap(running.as_ref(), &new));
        assert_eq!(held.authenticate(&headers).await, Ok(()));
        // Swapping back undoes it (a reload refused later).
        assert!(swap(running.as_ref(), &new));
        assert_eq!(held.authenticate(&headers).await, Err(Denied::Invalid));
        assert!(!swap(running.as_ref(), &"not an authenticator"));
    }

    #[test]
    fn matches_any_compares_digests() {
        let expected = [digest(b"a"), digest(b"b")];
        assert!(matches_any(&digest(b"b"), &expected));
        assert!(!matches_any(&digest(b"c"), &expected));
        assert!(!matches_any(&digest(b"a"), &[]));
    }
}
