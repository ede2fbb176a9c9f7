//! Licenses: the signed credential a customer types into `docker login`, verified at the edge
//! without any storage read. Format: `pgl1.<kid>.<claims>.<mac>` (see `envelope`).

use serde::{Deserialize, Serialize};

use crate::envelope::{self, EnvelopeError};
use crate::keys::{SigningKey, SigningKeys};
use crate::pattern;
use crate::time::format_date;

/// Envelope prefix: kind `pgl`, version 1.
pub const PREFIX: &str = "pgl1";

/// What a license grants, signed by the vendor's active key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// License id (`lic_` + 24 hex); names its KV records, never a secret.
    pub id: String,
    /// App slug the license is for.
    pub app: String,
    /// Customer name, shown in messages and logs.
    #[serde(rename = "cus")]
    pub customer: String,
    #[serde(rename = "iat")]
    pub issued_at: i64,
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// Upstream repository patterns the license is limited to; empty means every image of the app.
    #[serde(rename = "img", default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

impl Claims {
    /// Whether `upstream_repo` (the repository path at the upstream) is within the entitlements.
    pub fn is_entitled(&self, upstream_repo: &str) -> bool {
        self.images.is_empty() || self.images.iter().any(|p| pattern::matches(p, upstream_repo))
    }
}

/// Why a license was refused. `Display` is the message the customer sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseError {
    /// Not a pullgate license at all, or damaged.
    Malformed,
    /// Signed by a key this deployment does not (or no longer) know.
    UnknownKey,
    /// Forged or altered.
    BadSignature,
    Expired {
        customer: String,
        expired_at: i64,
    },
    Revoked {
        customer: String,
        revoked_at: i64,
    },
}

impl std::fmt::Display for LicenseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LicenseError::Malformed | LicenseError::UnknownKey | LicenseError::BadSignature => {
                write!(f, "invalid license: use the license your vendor issued as the password")
            }
            LicenseError::Expired { customer, expired_at } => {
                write!(f, "license for {customer} expired on {}; ask your vendor to renew it", format_date(*expired_at))
            }
            LicenseError::Revoked { customer, revoked_at } => write!(
                f,
                "license for {customer} was revoked on {}; ask your vendor for a new one",
                format_date(*revoked_at)
            ),
        }
    }
}

impl From<EnvelopeError> for LicenseError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Malformed => LicenseError::Malformed,
            EnvelopeError::UnknownKey => LicenseError::UnknownKey,
            EnvelopeError::BadSignature => LicenseError::BadSignature,
        }
    }
}

/// Default of `LICENSE_WARNING_DAYS`: how long before expiry pulls start carrying a warning.
pub const DEFAULT_WARNING_DAYS: i64 = 14;

/// The `Warning` header value for a license that expires within `window` seconds of `now`
/// (`299 - "<text>"`, the form the distribution spec names for registry warnings), or `None`.
/// One comparison when the license is far from expiry: this runs on every pull.
pub fn expiry_warning(customer: &str, expires_at: i64, now: i64, window: i64) -> Option<String> {
    if expires_at.saturating_sub(now) > window || now >= expires_at {
        return None;
    }
    // A quoted-string may not hold `"` or `\`; the customer name is the vendor's free text.
    let customer: String = customer.chars().filter(|c| !matches!(c, '"' | '\\') && !c.is_control()).collect();
    Some(format!(
        "299 - \"license for {customer} expires on {}; ask your vendor to renew it\"",
        format_date(expires_at)
    ))
}

/// Signs a license with `key` (the keyset's active key).
pub fn issue(claims: &Claims, key: &SigningKey) -> String {
    envelope::seal(PREFIX, &key.kid, key.license_key(), claims)
}

/// Checks signature and expiry at `now` (unix seconds). Revocation is the caller's KV check.
pub fn verify(license: &str, keys: &SigningKeys, now: i64) -> Result<Claims, LicenseError> {
    let claims = verify_signature(license, keys)?;
    if now >= claims.expires_at {
        return Err(LicenseError::Expired { customer: claims.customer, expired_at: claims.expires_at });
    }
    Ok(claims)
}

/// Checks only the signature: for `license inspect`, which reports expiry itself.
pub fn verify_signature(license: &str, keys: &SigningKeys) -> Result<Claims, LicenseError> {
    let kid = envelope::key_id(PREFIX, license.trim())?;
    let key = keys.verifier(kid).ok_or(LicenseError::UnknownKey)?;
    Ok(envelope::open(PREFIX, license.trim(), key.license_key())?)
}

/// Reads the claims without verifying: only for showing what a refused license says.
pub fn peek(license: &str) -> Option<(String, Claims)> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine as _;
    let mut parts = license.trim().split('.');
    let (Some(PREFIX), Some(kid), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let json = B64URL.decode(payload).ok()?;
    Some((kid.to_string(), serde_json::from_slice(&json).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyState;

    fn keys() -> SigningKeys {
        SigningKeys::from_keys(vec![
            SigningKey::from_secret("k1", KeyState::Active, &[1; 32]),
            SigningKey::from_secret("k0", KeyState::Retiring, &[0; 32]),
        ])
    }

    fn claims() -> Claims {
        Claims {
            id: "lic_0123456789abcdef01234567".into(),
            app: "acme".into(),
            customer: "globex".into(),
            issued_at: 1_790_000_000,
            expires_at: 1_790_812_800,
            images: vec![],
        }
    }

    #[test]
    fn issued_license_verifies_until_it_expires() {
        let keys = keys();
        let lic = issue(&claims(), keys.signer().unwrap());
        assert!(lic.starts_with("pgl1.k1."));
        assert_eq!(verify(&lic, &keys, 1_790_812_799), Ok(claims()));
        let err = verify(&lic, &keys, 1_790_812_800).unwrap_err();
        assert_eq!(err.to_string(), "license for globex expired on 2026-10-01; ask your vendor to renew it");
    }

    #[test]
    fn retiring_keys_still_verify_and_unknown_keys_do_not() {
        let old = SigningKey::from_secret("k0", KeyState::Active, &[0; 32]);
        let lic = issue(&claims(), &old);
        assert!(verify(&lic, &keys(), 1_790_000_001).is_ok());
        let stranger = SigningKey::from_secret("k7", KeyState::Active, &[7; 32]);
        assert_eq!(verify(&issue(&claims(), &stranger), &keys(), 0), Err(LicenseError::UnknownKey));
        let forged = SigningKey::from_secret("k1", KeyState::Active, &[9; 32]);
        assert_eq!(verify(&issue(&claims(), &forged), &keys(), 0), Err(LicenseError::BadSignature));
    }

    #[test]
    fn bearer_key_material_cannot_sign_a_license() {
        let k = SigningKey::from_secret("k1", KeyState::Active, &[1; 32]);
        let wrong = crate::envelope::seal(PREFIX, "k1", k.bearer_key(), &claims());
        assert_eq!(verify(&wrong, &keys(), 0), Err(LicenseError::BadSignature));
    }

    #[test]
    fn entitlements_limit_images() {
        let mut c = claims();
        assert!(c.is_entitled("anything/at-all"));
        c.images = vec!["acme/*".into()];
        assert!(c.is_entitled("acme/app"));
        assert!(!c.is_entitled("other/app"));
    }

    #[test]
    fn expiry_warning_appears_only_within_the_window() {
        let day = 86_400;
        let expires = 1_797_724_800; // 2026-12-20
        let want = "299 - \"license for globex expires on 2026-12-20; ask your vendor to renew it\"";
        for (now, window, warned) in [
            (expires - 15 * day, 14 * day, false),
            (expires - 14 * day - 1, 14 * day, false),
            (expires - 14 * day, 14 * day, true),
            (expires - 1, 14 * day, true),
            (expires, 14 * day, false), // expired: refused, not warned
            (expires - day, 0, false),  // window 0 turns warnings off
            (i64::MIN, 14 * day, false),
        ] {
            let got = expiry_warning("globex", expires, now, window);
            assert_eq!(got.as_deref(), warned.then_some(want), "now {now} window {window}");
        }
        let odd = expiry_warning("a \"b\\\n", expires, expires - 1, day).unwrap();
        assert_eq!(odd, "299 - \"license for a b expires on 2026-12-20; ask your vendor to renew it\"");
    }

    #[test]
    fn peek_reads_unverified_claims() {
        let lic = issue(&claims(), keys().signer().unwrap());
        assert_eq!(peek(&lic), Some(("k1".to_string(), claims())));
        assert_eq!(peek("nonsense"), None);
    }
}
