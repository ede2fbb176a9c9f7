//! Helpers shared by the fuzz targets: cutting one input into text fields, a fixed keyset, and
//! an upstream record shaped by a flags byte.
#![allow(dead_code)] // each target uses only some of these

use pullgate::keys::{KeyState, SigningKey, SigningKeys};
use pullgate::store::{CredentialKind, CredentialRecord, UpstreamRecord};

/// A fixed "now" for targets that need a clock: 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;

/// Splits `data` at 0xFF bytes (which never occur in UTF-8) into exactly `n` text fields,
/// missing ones empty, the last taking the rest. Invalid UTF-8 is replaced rather than
/// skipped, so every input reaches the parser.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> =
        data.splitn(n, |b| *b == 0xFF).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    out.resize(n, String::new());
    out
}

/// One active key and one retiring key, as a deployment mid-rotation has.
pub fn keys() -> SigningKeys {
    SigningKeys::from_keys(vec![
        SigningKey::from_secret("k1", KeyState::Active, &[1; 32]),
        SigningKey::from_secret("k0", KeyState::Retiring, &[0; 32]),
    ])
}

/// Applies edit operations read from `ops` to `bytes`, four bytes per operation:
/// `[kind, position high, position low, value]`; kind % 3 is 0 = xor the byte with value,
/// 1 = insert value, 2 = delete. Positions wrap around the current length.
pub fn mutate(bytes: &mut Vec<u8>, ops: &[u8]) {
    for op in ops.chunks_exact(4) {
        let [kind, high, low, value] = [op[0], op[1], op[2], op[3]];
        let at = usize::from(u16::from_be_bytes([high, low]));
        match kind % 3 {
            0 if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] ^= value;
            }
            1 => {
                let i = at % (bytes.len() + 1);
                bytes.insert(i, value);
            }
            2 if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes.remove(i);
            }
            _ => {}
        }
    }
}

/// An upstream at `endpoint`; `flags` bit 0 sets `insecure`, bit 2 makes it Docker Hub's kind.
pub fn upstream(endpoint: &str, flags: u8, realm_hosts: Vec<String>) -> UpstreamRecord {
    UpstreamRecord {
        endpoint: endpoint.to_string(),
        alias: None,
        repos: vec![],
        credential: CredentialRecord {
            kind: if flags & 4 != 0 { CredentialKind::Dockerhub } else { CredentialKind::Basic },
            ..CredentialRecord::default()
        },
        insecure: flags & 1 != 0,
        auth_endpoint: None,
        realm_hosts,
        hosted: false,
    }
}
