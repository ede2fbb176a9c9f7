//! Key material: the Worker's root secret, the keys derived from it, secrets sealed for KV, and
//! the signing keyset that licenses and bearer tokens are MACed with.
//!
//! ```text
//! root secret (Worker secret, 32 bytes)
//!   └─ kek = HMAC-SHA256(root, "pullgate/v1/kv-seal")      seals credentials and signing keys in KV
//! signing key k (32 random bytes, sealed in KV under "keys", one per kid)
//!   ├─ HMAC-SHA256(k, "pullgate/v1/license")              MACs licenses
//!   └─ HMAC-SHA256(k, "pullgate/v1/bearer")               MACs bearer tokens
//! ```
//! A KV dump alone therefore neither reveals a credential nor mints a token, and a license MAC
//! can never verify as a bearer token (different keys, different prefixes).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Name of the Worker secret (and of the CLI's environment variable) holding the root secret.
pub const ROOT_SECRET_NAME: &str = "PULLGATE_ROOT_SECRET";
/// The Worker secret that holds the replaced root secret while KV is resealed (see `RootKeyring`).
pub const PREVIOUS_ROOT_SECRET_NAME: &str = "PULLGATE_ROOT_SECRET_PREVIOUS";

const KEK_LABEL: &[u8] = b"pullgate/v1/kv-seal";
const LICENSE_LABEL: &[u8] = b"pullgate/v1/license";
const BEARER_LABEL: &[u8] = b"pullgate/v1/bearer";
const PUSH_LABEL: &[u8] = b"pullgate/v1/push-token";

/// Errors about keys and sealed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The root secret is not 64 hex characters.
    RootSecretFormat,
    /// A sealed value does not open with this root secret (wrong secret, tampering, or moved).
    Unseal,
    /// A sealed value or key record is not in the expected shape.
    Malformed(&'static str),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::RootSecretFormat => {
                write!(f, "the root secret must be 64 hexadecimal characters (32 bytes)")
            }
            KeyError::Unseal => write!(
                f,
                "a sealed value does not open with this root secret (wrong {ROOT_SECRET_NAME}, or the record was altered)"
            ),
            KeyError::Malformed(what) => write!(f, "malformed {what}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// HMAC-SHA256, the one MAC primitive of the project.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so new_from_slice cannot fail here.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time check of `tag` against HMAC-SHA256(key, message).
pub fn hmac_sha256_verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // Hmac<Sha256>::new_from_slice only fails for fixed-size-key MACs, never for HMAC.
    unreachable!("HMAC accepts every key length")
}

/// The Worker's root secret. `Debug` never prints it.
#[derive(Clone)]
pub struct RootSecret([u8; 32]);

impl std::fmt::Debug for RootSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootSecret(<redacted>)")
    }
}

impl RootSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RootSecret(bytes)
    }

    /// Parses the 64-hex-character form used in `wrangler secret put` and the CLI's env.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bytes = hex_decode(text.trim()).ok_or(KeyError::RootSecretFormat)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::RootSecretFormat)?;
        Ok(RootSecret(arr))
    }

    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    fn kek(&self) -> [u8; 32] {
        hmac_sha256(&self.0, &[KEK_LABEL])
    }

    /// Encrypts `plaintext` for KV. `context` (e.g. `credential:acme:https://ghcr.io`) is bound
    /// as associated data, so a sealed value copied to another record does not open there.
    pub fn seal(&self, context: &str, plaintext: &[u8], nonce: [u8; 24]) -> Sealed {
        let cipher = XChaCha20Poly1305::new(&self.kek().into());
        let payload = Payload { msg: plaintext, aad: context.as_bytes() };
        // Encryption of an in-memory buffer only fails on absurd lengths (> 256 GiB).
        let ciphertext = cipher.encrypt(XNonce::from_slice(&nonce), payload).unwrap_or_default();
        Sealed { alg: SEAL_ALG.to_string(), nonce: B64.encode(nonce), ciphertext: B64.encode(ciphertext) }
    }

    /// Decrypts a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &Sealed) -> Result<Vec<u8>, KeyError> {
        if sealed.alg != SEAL_ALG {
            return Err(KeyError::Malformed("sealed value (unknown algorithm)"));
        }
        let nonce = B64.decode(&sealed.nonce).map_err(|_| KeyError::Malformed("sealed nonce"))?;
        if nonce.len() != 24 {
            return Err(KeyError::Malformed("sealed nonce"));
        }
        let ciphertext = B64.decode(&sealed.ciphertext).map_err(|_| KeyError::Malformed("sealed ciphertext"))?;
        let cipher = XChaCha20Poly1305::new(&self.kek().into());
        cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: context.as_bytes() })
            .map_err(|_| KeyError::Unseal)
    }
}

/// What opens sealed values: one root secret (the CLI), or the Worker's keyring.
pub trait Unseal {
    fn unseal(&self, context: &str, sealed: &Sealed) -> Result<Vec<u8>, KeyError>;
}

impl Unseal for RootSecret {
    fn unseal(&self, context: &str, sealed: &Sealed) -> Result<Vec<u8>, KeyError> {
        self.open(context, sealed)
    }
}

/// The Worker's root secrets. A root-secret rotation gives the Worker the new secret as
/// `PULLGATE_ROOT_SECRET` and the old one as `PULLGATE_ROOT_SECRET_PREVIOUS` before KV is
/// resealed, so every record opens before, during and after the reseal; then the old one goes.
#[derive(Debug, Clone)]
pub struct RootKeyring {
    current: RootSecret,
    previous: Option<RootSecret>,
}

impl RootKeyring {
    pub fn new(current: RootSecret, previous: Option<RootSecret>) -> Self {
        RootKeyring { current, previous }
    }
}

impl Unseal for RootKeyring {
    fn unseal(&self, context: &str, sealed: &Sealed) -> Result<Vec<u8>, KeyError> {
        match (self.current.open(context, sealed), &self.previous) {
            (Err(KeyError::Unseal), Some(previous)) => previous.open(context, sealed),
            (result, _) => result,
        }
    }
}

const SEAL_ALG: &str = "xchacha20poly1305";

/// A secret encrypted with the root secret's KEK, as stored in KV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub alg: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// Where a signing key is in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Verifies, does not sign yet: every location learns it before anything is signed with it.
    Pending,
    /// Signs new licenses and bearer tokens (exactly one key), and verifies.
    Active,
    /// Verifies only: tokens it signed stay valid until they expire.
    Retiring,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
        }
    }
}

/// One signing key as stored in KV (`keys` record); the secret is sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub kid: String,
    pub state: KeyState,
    pub created_at: i64,
    pub secret: Sealed,
}

/// The `keys` KV record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KeysetRecord {
    pub keys: Vec<KeyRecord>,
}

impl KeysetRecord {
    /// The sealing context of a signing key.
    pub fn seal_context(kid: &str) -> String {
        format!("signing-key:{kid}")
    }
}

/// A usable signing key: the two purpose keys derived from its secret.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub state: KeyState,
    license: [u8; 32],
    bearer: [u8; 32],
    push: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} {})", self.kid, self.state.as_str())
    }
}

impl SigningKey {
    pub fn from_secret(kid: &str, state: KeyState, secret: &[u8]) -> Self {
        SigningKey {
            kid: kid.to_string(),
            state,
            license: hmac_sha256(secret, &[LICENSE_LABEL]),
            bearer: hmac_sha256(secret, &[BEARER_LABEL]),
            push: hmac_sha256(secret, &[PUSH_LABEL]),
        }
    }

    pub fn license_key(&self) -> &[u8; 32] {
        &self.license
    }

    pub fn bearer_key(&self) -> &[u8; 32] {
        &self.bearer
    }

    /// The key of vendor push tokens (`push_token`), apart from licenses so neither verifies as the other.
    pub fn push_key(&self) -> &[u8; 32] {
        &self.push
    }
}

/// All keys of a keyset, opened with the root secret.
#[derive(Debug, Clone, Default)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl SigningKeys {
    pub fn open(root: &impl Unseal, record: &KeysetRecord) -> Result<Self, KeyError> {
        let mut keys = Vec::with_capacity(record.keys.len());
        for k in &record.keys {
            let secret = root.unseal(&KeysetRecord::seal_context(&k.kid), &k.secret)?;
            if secret.len() != 32 {
                return Err(KeyError::Malformed("signing key length"));
            }
            keys.push(SigningKey::from_secret(&k.kid, k.state, &secret));
        }
        Ok(SigningKeys { keys })
    }

    pub fn from_keys(keys: Vec<SigningKey>) -> Self {
        SigningKeys { keys }
    }

    /// The key that signs now, if the keyset has one.
    pub fn signer(&self) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.state == KeyState::Active)
    }

    /// Any key that may verify: every state verifies.
    pub fn verifier(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some(nibble(*high)? << 4 | nibble(*low)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> RootSecret {
        RootSecret::parse(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn the_keyring_opens_with_the_current_or_the_previous_secret() {
        let (old, new, other) =
            (root(), RootSecret::parse(&"22".repeat(32)).unwrap(), RootSecret::parse(&"33".repeat(32)).unwrap());
        let by_old = old.seal("ctx", b"sealed before", [1; 24]);
        let by_new = new.seal("ctx", b"sealed after", [2; 24]);
        let rotating = RootKeyring::new(new.clone(), Some(old.clone()));
        let rotated = RootKeyring::new(new.clone(), None);
        type Case<'a> = (&'a RootKeyring, &'a Sealed, &'a str, Result<&'a [u8], KeyError>);
        let cases: [Case<'_>; 7] = [
            (&rotating, &by_old, "ctx", Ok(b"sealed before")),
            (&rotating, &by_new, "ctx", Ok(b"sealed after")),
            (&rotated, &by_new, "ctx", Ok(b"sealed after")),
            (&rotated, &by_old, "ctx", Err(KeyError::Unseal)),
            // The context still binds, whichever secret is tried.
            (&rotating, &by_old, "other-ctx", Err(KeyError::Unseal)),
            (&rotating, &by_new, "other-ctx", Err(KeyError::Unseal)),
            (&RootKeyring::new(other, Some(new.clone())), &by_old, "ctx", Err(KeyError::Unseal)),
        ];
        for (i, (keyring, sealed, context, want)) in cases.into_iter().enumerate() {
            assert_eq!(keyring.unseal(context, sealed), want.map(<[u8]>::to_vec), "case {i}");
        }
        // A malformed value is reported as such, not retried as a wrong secret.
        let mut bad = by_old.clone();
        bad.alg = "rot13".into();
        assert_eq!(rotating.unseal("ctx", &bad), Err(KeyError::Malformed("sealed value (unknown algorithm)")));
    }

    /// RFC 4231 HMAC-SHA256 test cases 1-4, 6 and 7.
    #[test]
    fn hmac_matches_rfc4231() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (vec![0x0b; 20], b"Hi There".to_vec(),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (vec![0xaa; 20], vec![0xdd; 50],
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            ((1u8..=25).collect(), vec![0xcd; 50],
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (vec![0xaa; 131],
             b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ];
        for (key, data, want) in cases {
            assert_eq!(hex_encode(&hmac_sha256(&key, &[&data])), want);
            assert!(hmac_sha256_verify(&key, &data, &hex_decode(want).unwrap()));
        }
    }

    #[test]
    fn sealed_values_open_only_in_their_context_with_their_secret() {
        let sealed = root().seal("credential:acme:https://ghcr.io", b"hunter2", [7; 24]);
        assert!(!sealed.ciphertext.contains("hunter2"));
        assert_eq!(root().open("credential:acme:https://ghcr.io", &sealed).unwrap(), b"hunter2");
        assert_eq!(root().open("credential:other:https://ghcr.io", &sealed), Err(KeyError::Unseal));
        let other = RootSecret::parse(&"22".repeat(32)).unwrap();
        assert_eq!(other.open("credential:acme:https://ghcr.io", &sealed), Err(KeyError::Unseal));
        let mut tampered = sealed.clone();
        tampered.ciphertext = B64.encode(b"not the ciphertext at all, really");
        assert_eq!(root().open("credential:acme:https://ghcr.io", &tampered), Err(KeyError::Unseal));
    }

    #[test]
    fn root_secret_format_is_checked() {
        for bad in ["", "zz", &"1".repeat(63), &"1".repeat(66), &"g".repeat(64)] {
            assert_eq!(RootSecret::parse(bad).unwrap_err(), KeyError::RootSecretFormat, "{bad}");
        }
        assert_eq!(RootSecret::parse(&"Ab".repeat(32)).unwrap().to_hex(), "ab".repeat(32));
        assert_eq!(format!("{:?}", root()), "RootSecret(<redacted>)");
    }

    #[test]
    fn keyset_opens_and_picks_the_active_signer() {
        let r = root();
        let record = KeysetRecord {
            keys: vec![
                KeyRecord {
                    kid: "k1".into(),
                    state: KeyState::Retiring,
                    created_at: 1,
                    secret: r.seal(&KeysetRecord::seal_context("k1"), &[1; 32], [1; 24]),
                },
                KeyRecord {
                    kid: "k2".into(),
                    state: KeyState::Active,
                    created_at: 2,
                    secret: r.seal(&KeysetRecord::seal_context("k2"), &[2; 32], [2; 24]),
                },
            ],
        };
        let keys = SigningKeys::open(&r, &record).unwrap();
        assert_eq!(keys.signer().unwrap().kid, "k2");
        assert!(keys.verifier("k1").is_some());
        assert!(keys.verifier("k3").is_none());
        let k2 = keys.verifier("k2").unwrap();
        assert_ne!(k2.license_key(), k2.bearer_key());
        // A key record moved under another kid does not open.
        let mut moved = record.clone();
        moved.keys[0].kid = "k9".into();
        assert_eq!(SigningKeys::open(&r, &moved).unwrap_err(), KeyError::Unseal);
    }
}
