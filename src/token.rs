//! Bearer tokens issued by `/v2/token`: short-lived, bound to host, app, repositories and pull,
//! verified on every registry request without any storage read. Format: `pgb1.<kid>.<claims>.<mac>`.

use serde::{Deserialize, Serialize};

use crate::envelope::{self, EnvelopeError};
use crate::keys::{SigningKey, SigningKeys};
use crate::pattern;

/// Envelope prefix: kind `pgb`, version 1.
pub const PREFIX: &str = "pgb1";

/// Clock skew tolerated on `exp` and `nbf`, as distribution's token verifier does.
pub const LEEWAY_SECONDS: i64 = 60;

/// Shortest lifetime a token may be issued with (the token spec's floor).
pub const MIN_TTL_SECONDS: i64 = 60;

/// What a bearer token allows: `pull` for a license; `push` and `delete` too, inside the app's
/// hosted repositories, for a vendor's push token (never for a license).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The host the token was issued on (lowercase, with port if any); checked against `Host`.
    pub aud: String,
    /// The app whose images it covers.
    pub app: String,
    /// License id it was issued from, for logs.
    pub lic: String,
    /// Customer, for messages and logs.
    pub cus: String,
    /// Repository names (as the client names them on `aud`) granted pull.
    #[serde(default)]
    pub rep: Vec<String>,
    /// The license's entitlements, so a refusal can say "not in your license" without KV.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub img: Vec<String>,
    /// The license's own expiry, so the edge can warn that it is near without a KV read.
    /// Absent in tokens issued before it existed (they simply carry no warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lxp: Option<i64>,
    /// Repository names granted push (push tokens only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push: Vec<String>,
    /// Repository names granted delete (push tokens issued with `--delete` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub del: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

impl Claims {
    pub fn grants_pull(&self, name: &str) -> bool {
        self.rep.iter().any(|r| r == name)
    }

    pub fn grants_push(&self, name: &str) -> bool {
        self.push.iter().any(|r| r == name)
    }

    pub fn grants_delete(&self, name: &str) -> bool {
        self.del.iter().any(|r| r == name)
    }

    /// Whether the license behind the token covers `upstream_repo` at all.
    pub fn is_entitled(&self, upstream_repo: &str) -> bool {
        self.img.is_empty() || self.img.iter().any(|p| pattern::matches(p, upstream_repo))
    }
}

/// Why a bearer token was refused; all of these ask the client to authenticate again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BearerError::Malformed => "bearer token is malformed",
            BearerError::UnknownKey => "bearer token was signed by an unknown key",
            BearerError::BadSignature => "bearer token signature is invalid",
            BearerError::Expired => "bearer token has expired",
            BearerError::NotYetValid => "bearer token is not valid yet",
        })
    }
}

impl From<EnvelopeError> for BearerError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Malformed => BearerError::Malformed,
            EnvelopeError::UnknownKey => BearerError::UnknownKey,
            EnvelopeError::BadSignature => BearerError::BadSignature,
        }
    }
}

pub fn issue(claims: &Claims, key: &SigningKey) -> String {
    envelope::seal(PREFIX, &key.kid, key.bearer_key(), claims)
}

/// Verifies signature and validity window at `now`, with `LEEWAY_SECONDS` either side.
pub fn verify(token: &str, keys: &SigningKeys, now: i64) -> Result<Claims, BearerError> {
    let kid = envelope::key_id(PREFIX, token)?;
    let key = keys.verifier(kid).ok_or(BearerError::UnknownKey)?;
    let claims: Claims = envelope::open(PREFIX, token, key.bearer_key())?;
    // Saturating: the claims come from our own signature, but a window at the ends of `i64`
    // must still mean "never expires" / "not before the dawn of time", not overflow.
    if now >= claims.exp.saturating_add(LEEWAY_SECONDS) {
        return Err(BearerError::Expired);
    }
    if now < claims.nbf.saturating_sub(LEEWAY_SECONDS) {
        return Err(BearerError::NotYetValid);
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

    fn claims(now: i64) -> Claims {
        Claims {
            aud: "images.acme.test".into(),
            app: "acme".into(),
            lic: "lic_1".into(),
            cus: "globex".into(),
            rep: vec!["local/acme/app".into()],
            img: vec![],
            lxp: Some(now + 86_400),
            push: vec![],
            del: vec![],
            iat: now,
            nbf: now,
            exp: now + 300,
        }
    }

    /// The leeway edges as distribution's TestLeeway checks them.
    #[test]
    fn leeway_edges() {
        let now = 1_800_000_000;
        let token = issue(&claims(now), keys().signer().unwrap());
        for (at, ok) in [
            (now, true),
            (now - 59, true),        // nbf 59 s in the future: accepted
            (now - 60, true),        // exactly at the leeway
            (now - 61, false),       // nbf 61 s in the future: refused
            (now + 300 + 59, true),  // expired 59 s ago: accepted
            (now + 300 + 60, false), // expired 60 s ago: refused
        ] {
            assert_eq!(verify(&token, &keys(), at).is_ok(), ok, "at {at}");
        }
        assert_eq!(verify(&token, &keys(), now + 360), Err(BearerError::Expired));
        assert_eq!(verify(&token, &keys(), now - 61), Err(BearerError::NotYetValid));
    }

    #[test]
    fn windows_at_the_ends_of_time_do_not_overflow() {
        let signer = keys();
        let with = |nbf: i64, exp: i64| issue(&Claims { nbf, exp, ..claims(0) }, signer.signer().unwrap());
        for (nbf, exp, now, want) in [
            (i64::MIN, i64::MAX, 0, Ok(())),
            (i64::MIN, i64::MAX, i64::MAX - 1, Ok(())),
            (i64::MIN, i64::MAX, i64::MIN, Ok(())),
            (i64::MIN, i64::MIN, 0, Err(BearerError::Expired)),
            (i64::MAX, i64::MAX, 0, Err(BearerError::NotYetValid)),
            (i64::MIN, i64::MAX - 30, i64::MAX, Err(BearerError::Expired)),
        ] {
            let got = verify(&with(nbf, exp), &signer, now).map(|_| ());
            assert_eq!(got, want, "nbf {nbf} exp {exp} now {now}");
        }
    }

    #[test]
    fn a_license_is_not_a_bearer_token() {
        let k = &SigningKey::from_secret("k1", KeyState::Active, &[1; 32]);
        let lic = crate::license::issue(
            &crate::license::Claims {
                id: "lic_1".into(),
                app: "acme".into(),
                customer: "globex".into(),
                issued_at: 0,
                expires_at: i64::MAX,
                images: vec![],
            },
            k,
        );
        assert_eq!(verify(&lic, &keys(), 0), Err(BearerError::Malformed));
        let relabelled = lic.replacen(crate::license::PREFIX, PREFIX, 1);
        assert!(verify(&relabelled, &keys(), 0).is_err());
    }

    /// A token signed before `lxp` existed still verifies, and reads as "no license expiry known".
    #[test]
    fn tokens_without_license_expiry_still_verify() {
        let key = SigningKey::from_secret("k1", KeyState::Active, &[1; 32]);
        let old = serde_json::json!({
            "aud": "images.acme.test", "app": "acme", "lic": "lic_1", "cus": "globex",
            "rep": ["local/acme/app"], "iat": 0, "nbf": 0, "exp": 300,
        });
        let token = crate::envelope::seal(PREFIX, "k1", key.bearer_key(), &old);
        let claims = verify(&token, &keys(), 100).unwrap();
        assert_eq!(claims.lxp, None);
        assert_eq!(claims.cus, "globex");
    }

    #[test]
    fn grants_only_listed_names() {
        let c = claims(0);
        assert!(c.grants_pull("local/acme/app"));
        assert!(!c.grants_pull("local/acme/other"));
        assert!(!c.grants_pull("local/acme"));
    }
}
