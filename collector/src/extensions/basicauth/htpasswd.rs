//! htpasswd lines (`user:hash`) and checking a password against them.

use std::collections::HashMap;

use base64::Engine;

use crate::extensions::auth::{Secret, matches_any};

/// A password hash of a supported format.
#[derive(Clone)]
enum Hash {
    /// `$2y$...` and its siblings.
    Bcrypt(Secret),
    /// `{SHA}base64(sha1(password))`.
    Sha1([u8; 20]),
}

/// Users and their password hashes.
#[derive(Default)]
pub(super) struct Htpasswd {
    users: HashMap<String, Hash>,
}

impl Htpasswd {
    /// Adds the users of htpasswd `text` (blank lines and `#` comments skipped); a user seen
    /// before is replaced. Errors name the line, never its hash.
    pub(super) fn add(&mut self, text: &str) -> Result<(), String> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| format!("line {n}: expected user:hash"))?;
            let hash = if hash.starts_with("$2y$")
                || hash.starts_with("$2b$")
                || hash.starts_with("$2a$")
            {
                Hash::Bcrypt(Secret::from(hash.to_owned()))
            } else if let Some(encoded) = hash.strip_prefix("{SHA}") {
                let digest = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|d| <[u8; 20]>::try_from(d).ok())
                    .ok_or_else(|| format!("line {n}: {{SHA}} hash is not base64 of 20 bytes"))?;
                Hash::Sha1(digest)
            } else {
                return Err(format!(
                    "line {n} (user {user:?}): unsupported password hash; use bcrypt \
                     (htpasswd -B) or SHA-1 (htpasswd -s)"
                ));
            };
            self.users.insert(user.to_owned(), hash);
        }
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `user`'s.
    pub(super) fn verify(&self, user: &str, password: &str) -> bool {
        match self.users.get(user) {
            None => false,
            Some(Hash::Bcrypt(hash)) => bcrypt::verify(password, hash.expose()).unwrap_or(false),
            Some(Hash::Sha1(expected)) => {
                let digest = ring::digest::digest(
                    &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    password.as_bytes(),
                );
                let mut presented = [0u8; 32];
                let mut wanted = [0u8; 32];
                presented[..20].copy_from_slice(digest.as_ref());
                wanted[..20].copy_from_slice(expected);
                matches_any(&presented, &[wanted])
            }
        }
    }
}
