//! The signed-token envelope shared by licenses and bearer tokens:
//! `<prefix>.<kid>.<b64url(payload JSON)>.<b64url(HMAC-SHA256(key, "<prefix>.<kid>.<payload>"))>`.
//!
//! The algorithm is fixed (no header chooses it) and the key is looked up by `kid` in our own
//! keyset only. The prefix names the token kind and version, and each kind has its own key, so
//! one kind never verifies as another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keys::{hmac_sha256, hmac_sha256_verify};

/// Longest token we look at; anything longer is refused before any work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not `<prefix>.<kid>.<payload>.<mac>`, or not valid base64/JSON.
    Malformed,
    /// Names a key we do not have.
    UnknownKey,
    /// The MAC does not match.
    BadSignature,
}

/// Signs `claims` under `prefix` with `key` (already the purpose key).
pub fn seal<T: Serialize>(prefix: &str, kid: &str, key: &[u8], claims: &T) -> String {
    // Claims are plain structs of strings and integers; serialisation cannot fail.
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signed = format!("{prefix}.{kid}.{}", B64URL.encode(payload));
    let mac = hmac_sha256(key, &[signed.as_bytes()]);
    format!("{signed}.{}", B64URL.encode(mac))
}

/// Splits a token of kind `prefix` and returns its key id, without trusting anything yet.
pub fn key_id<'a>(prefix: &str, token: &'a str) -> Result<&'a str, EnvelopeError> {
    let (kid, _, _) = split(prefix, token)?;
    Ok(kid)
}

/// Checks the MAC with `key` (constant time), then decodes the claims.
pub fn open<T: DeserializeOwned>(prefix: &str, token: &str, key: &[u8]) -> Result<T, EnvelopeError> {
    let (_, payload, mac) = split(prefix, token)?;
    let mac = B64URL.decode(mac).map_err(|_| EnvelopeError::Malformed)?;
    let signed = token.rsplit_once('.').map_or("", |(signed, _)| signed);
    if !hmac_sha256_verify(key, signed.as_bytes(), &mac) {
        return Err(EnvelopeError::BadSignature);
    }
    let json = B64URL.decode(payload).map_err(|_| EnvelopeError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| EnvelopeError::Malformed)
}

fn split<'a>(prefix: &str, token: &'a str) -> Result<(&'a str, &'a str, &'a str), EnvelopeError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(p), Some(kid), Some(payload), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(EnvelopeError::Malformed);
    };
    let kid_ok =
        !kid.is_empty() && kid.len() <= 64 && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if p != prefix || !kid_ok || payload.is_empty() || mac.is_empty() {
        return Err(EnvelopeError::Malformed);
    }
    Ok((kid, payload, mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        n: i64,
    }

    #[test]
    fn round_trips_and_rejects_every_single_byte_change() {
        let claims = Claims { sub: "acme".into(), n: 42 };
        let token = seal("pgt1", "k1", b"key", &claims);
        assert_eq!(key_id("pgt1", &token), Ok("k1"));
        assert_eq!(open::<Claims>("pgt1", &token, b"key"), Ok(claims));
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(mutated) = String::from_utf8(bytes) else { continue };
            if mutated == token {
                continue;
            }
            assert!(open::<Claims>("pgt1", &mutated, b"key").is_err(), "accepted change at {i}");
        }
    }

    #[test]
    fn refuses_other_kinds_keys_and_shapes() {
        let token = seal("pgt1", "k1", b"key", &Claims { sub: "a".into(), n: 1 });
        assert_eq!(open::<Claims>("pgx1", &token, b"key"), Err(EnvelopeError::Malformed));
        assert_eq!(open::<Claims>("pgt1", &token, b"other"), Err(EnvelopeError::BadSignature));
        for bad in [
            "",
            "pgt1",
            "pgt1.k1.e30",
            "pgt1.k1.e30.AA.AA",
            "pgt1..e30.AA",
            "pgt1.k 1.e30.AA",
            "pgt1.k1..AA",
            "pgt1.k1.e30.",
        ] {
            assert_eq!(open::<Claims>("pgt1", bad, b"key"), Err(EnvelopeError::Malformed), "{bad}");
        }
        let huge = format!("pgt1.k1.{}.AA", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(open::<Claims>("pgt1", &huge, b"key"), Err(EnvelopeError::Malformed));
    }
}
