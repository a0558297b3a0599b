//! The `basicauth` extension (the Collector contrib's, server side): a request must carry
//! `Authorization: Basic base64(user:password)` for a user of an htpasswd list.
//!
//! Supported password hashes: bcrypt (`$2y$`, `$2b$`, `$2a$`, what `htpasswd -B` writes) and
//! `{SHA}` (`htpasswd -s`). Other formats (MD5 `$apr1$`, crypt, plain text) are refused when
//! the config is loaded, naming the line. A bcrypt check costs what its cost factor says
//! (tens of milliseconds at the default 10) and runs on the blocking pool, not on the
//! threads serving connections.

mod factory;
mod htpasswd;

use std::path::PathBuf;

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;

pub(crate) use factory::Factory;
use htpasswd::Htpasswd;

use super::auth::{Authenticate, Denied, Secret};

/// `extensions: basicauth:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BasicAuthConfig {
    /// The users allowed in (required: Lookout's receivers only use the server side).
    pub htpasswd: Option<HtpasswdConfig>,
}

/// `htpasswd:`: users from a file, inline, or both (inline entries win for the same user, as
/// in the Collector).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HtpasswdConfig {
    /// An htpasswd file.
    pub file: Option<PathBuf>,
    /// htpasswd lines.
    pub inline: Option<Secret>,
}

impl crate::component::Validate for BasicAuthConfig {
    fn validate(&self) -> Result<(), String> {
        self.users().map(drop)
    }
}

impl BasicAuthConfig {
    fn users(&self) -> Result<Htpasswd, String> {
        let Some(htpasswd) = &self.htpasswd else {
            return Err(
                "no credential source provided: set htpasswd.file or htpasswd.inline".into(),
            );
        };
        let mut users = Htpasswd::default();
        if let Some(path) = &htpasswd.file {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("htpasswd.file {}: {err}", path.display()))?;
            users
                .add(&text)
                .map_err(|err| format!("htpasswd.file {}: {err}", path.display()))?;
        }
        if let Some(inline) = &htpasswd.inline {
            users
                .add(inline.expose())
                .map_err(|err| format!("htpasswd.inline: {err}"))?;
        }
        if users.is_empty() {
            return Err("htpasswd: no users".into());
        }
        Ok(users)
    }
}

/// The running authenticator.
pub(crate) struct BasicAuth {
    users: std::sync::Arc<Htpasswd>,
}

impl BasicAuth {
    pub(crate) fn new(config: &BasicAuthConfig) -> Result<BasicAuth, String> {
        Ok(BasicAuth {
            users: std::sync::Arc::new(config.users()?),
        })
    }
}

/// The user and password of an `Authorization: Basic ...` header.
fn credentials(headers: &HeaderMap) -> Result<(String, String), Denied> {
    use base64::Engine;
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(Denied::Missing)?
        .to_str()
        .map_err(|_| Denied::Invalid)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or(Denied::Invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Denied::Invalid);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Denied::Invalid)?;
    let decoded = String::from_utf8(decoded).map_err(|_| Denied::Invalid)?;
    let (user, password) = decoded.split_once(':').ok_or(Denied::Invalid)?;
    Ok((user.to_owned(), password.to_owned()))
}

impl Authenticate for BasicAuth {
    fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<(), Denied>> {
        let credentials = credentials(headers);
        let users = std::sync::Arc::clone(&self.users);
        Box::pin(async move {
            let (user, password) = credentials?;
            // bcrypt is deliberately slow: off the threads that serve connections.
            let ok = tokio::task::spawn_blocking(move || users.verify(&user, &password))
                .await
                .unwrap_or(false);
            if ok { Ok(()) } else { Err(Denied::Invalid) }
        })
    }

    fn challenge(&self) -> HeaderValue {
        HeaderValue::from_static("Basic realm=\"lookout\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::Validate;

    fn basic(user_password: &str) -> HeaderMap {
        use base64::Engine;
        let mut headers = HeaderMap::new();
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        headers
    }

    fn config(yaml: &str) -> BasicAuthConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[tokio::test]
    async fn accepts_listed_users_with_their_password() {
        let hash = bcrypt::hash("pw1", 4).unwrap();
        // `htpasswd -nbs bob pw2`
        let yaml = format!(
            "htpasswd:\n  inline: |\n    alice:{hash}\n    bob:{{SHA}}8Wyi36Noi/CMek4hVErxW9WYy3A=\n"
        );
        let auth = BasicAuth::new(&config(&yaml)).unwrap();
        assert_eq!(auth.authenticate(&basic("alice:pw1")).await, Ok(()));
        assert_eq!(auth.authenticate(&basic("bob:pw2")).await, Ok(()));
        assert_eq!(
            auth.authenticate(&basic("alice:pw2")).await,
            Err(Denied::Invalid)
        );
        assert_eq!(
            auth.authenticate(&basic("carol:pw1")).await,
            Err(Denied::Invalid)
        );
        assert_eq!(
            auth.authenticate(&HeaderMap::new()).await,
            Err(Denied::Missing)
        );
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(auth.authenticate(&bearer).await, Err(Denied::Invalid));
    }

    #[test]
    fn inline_wins_over_the_file_for_the_same_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "u:{SHA}8Wyi36Noi/CMek4hVErxW9WYy3A=\n").unwrap();
        let yaml = format!(
            "htpasswd:\n  file: {}\n  inline: \"u:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\"\n",
            path.display()
        );
        let users = config(&yaml).users().unwrap();
        assert!(users.verify("u", "test"));
        assert!(!users.verify("u", "pw2"));
    }

    #[test]
    fn validate_refuses_what_start_would() {
        assert!(
            config("{}")
                .validate()
                .unwrap_err()
                .contains("no credential source")
        );
        let err = config("htpasswd: {file: /nonexistent/htpasswd}")
            .validate()
            .unwrap_err();
        assert!(
            err.starts_with("htpasswd.file /nonexistent/htpasswd"),
            "{err}"
        );
        let err = config("htpasswd: {inline: 'u:$apr1$abc$def'}")
            .validate()
            .unwrap_err();
        assert!(err.contains("line 1") && !err.contains("abc"), "{err}");
        assert!(serde_yaml_ng::from_str::<BasicAuthConfig>("client_auth: {username: u}").is_err());
    }
}
