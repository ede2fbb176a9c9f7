//! Vendor push tokens: the `docker login` password of a vendor's CI, never a customer license.
//! A push token is signed like a license (`pgp1.<kid>.<claims>.<mac>`, its own purpose key) and
//! grants push, pull and, when issued with delete, delete, only inside its app's hosted
//! repositories, optionally narrowed to repository patterns. Revoked through `revoked:<id>`.

use serde::{Deserialize, Serialize};

use crate::envelope::{self, EnvelopeError};
use crate::keys::{SigningKey, SigningKeys};
use crate::pattern;

/// Envelope prefix: kind `pgp`, version 1.
pub const PREFIX: &str = "pgp1";

/// What a push token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `pt_` + 24 hex; names its KV records.
    pub id: String,
    pub app: String,
    /// Hosted repository patterns (inside the hosted upstream); empty means every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<String>,
    /// Whether manifests, tags and blob links may be deleted with it.
    #[serde(default)]
    pub delete: bool,
    /// A short-lived token for the hosted admin channel (`gc`, `app show`); it never pushes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// Whether `repo` (the repository path inside the hosted registry) is covered.
    pub fn covers(&self, repo: &str) -> bool {
        self.repos.is_empty() || self.repos.iter().any(|p| pattern::matches(p, repo))
    }
}

/// Why a push token was refused. `Display` is the message the vendor sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTokenError {
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    Revoked,
}

impl std::fmt::Display for PushTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PushTokenError::Malformed | PushTokenError::UnknownKey | PushTokenError::BadSignature => {
                "invalid push token: use a token from `pullgate push-token issue` as the password"
            }
            PushTokenError::Expired => "push token has expired: issue a new one with `pullgate push-token issue`",
            PushTokenError::Revoked => "push token was revoked: issue a new one with `pullgate push-token issue`",
        })
    }
}

impl From<EnvelopeError> for PushTokenError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Malformed => PushTokenError::Malformed,
            EnvelopeError::UnknownKey => PushTokenError::UnknownKey,
            EnvelopeError::BadSignature => PushTokenError::BadSignature,
        }
    }
}

/// Whether a password is meant as a push token (decides which verifier sees it).
pub fn looks_like(text: &str) -> bool {
    text.starts_with(PREFIX) && text.as_bytes().get(PREFIX.len()) == Some(&b'.')
}

pub fn issue(claims: &Claims, key: &SigningKey) -> String {
    envelope::seal(PREFIX, &key.kid, key.push_key(), claims)
}

/// Verifies signature and expiry at `now` (revocation is the caller's KV read).
pub fn verify(token: &str, keys: &SigningKeys, now: i64) -> Result<Claims, PushTokenError> {
    let kid = envelope::key_id(PREFIX, token)?;
    let key = keys.verifier(kid).ok_or(PushTokenError::UnknownKey)?;
    let claims: Claims = envelope::open(PREFIX, token, key.push_key())?;
    if now >= claims.exp {
        return Err(PushTokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyState;

    fn keys() -> SigningKeys {
        SigningKeys::from_keys(vec![SigningKey::from_secret("k1", KeyState::Active, &[1; 32])])
    }

    fn claims() -> Claims {
        Claims {
            id: "pt_1".into(),
            app: "acme".into(),
            repos: vec!["app/*".into()],
            delete: false,
            admin: false,
            iat: 0,
            exp: 100,
        }
    }

    #[test]
    fn verifies_and_expires() {
        let t = issue(&claims(), keys().signer().unwrap());
        assert!(looks_like(&t));
        assert_eq!(verify(&t, &keys(), 99), Ok(claims()));
        assert_eq!(verify(&t, &keys(), 100), Err(PushTokenError::Expired));
    }

    #[test]
    fn is_neither_a_license_nor_a_bearer_token() {
        let k = keys();
        let t = issue(&claims(), k.signer().unwrap());
        for prefix in [crate::license::PREFIX, crate::token::PREFIX] {
            let relabelled = t.replacen(PREFIX, prefix, 1);
            assert!(crate::license::verify(&relabelled, &k, 0).is_err());
            assert!(crate::token::verify(&relabelled, &k, 0).is_err());
        }
        let lic = crate::license::issue(
            &crate::license::Claims {
                id: "lic_1".into(),
                app: "acme".into(),
                customer: "c".into(),
                issued_at: 0,
                expires_at: 100,
                images: vec![],
            },
            k.signer().unwrap(),
        );
        assert!(!looks_like(&lic));
        assert_eq!(verify(&lic.replacen(crate::license::PREFIX, PREFIX, 1), &k, 0), Err(PushTokenError::BadSignature));
    }

    #[test]
    fn covers_patterns() {
        let c = claims();
        assert!(c.covers("app/web"));
        assert!(!c.covers("other/web"));
        assert!(Claims { repos: vec![], ..c }.covers("anything"));
    }
}
