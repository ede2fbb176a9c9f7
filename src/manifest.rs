//! Checks on a manifest fetched from an upstream before it is relayed: its bytes hash to the
//! digest the client asked for (the hash computed here is authoritative, never the upstream's
//! `Docker-Content-Digest`), it is JSON, and its `mediaType` agrees with its `Content-Type`.
//! See <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests>.

use serde::Deserialize;

use crate::reference::Digest;

/// Why a fetched manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// The bytes do not hash to the digest the client asked for.
    DigestMismatch { expected: String, actual: String },
    /// The upstream's `Docker-Content-Digest` names another digest than the one asked for.
    HeaderDigestMismatch { expected: String, header: String },
    /// Not a JSON object.
    NotJson,
    /// The document's `mediaType` and the answer's `Content-Type` disagree.
    MediaTypeMismatch { media_type: String, content_type: String },
    /// Larger than `upstream::MAX_MANIFEST_BYTES`.
    TooLarge,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestError::DigestMismatch { expected, actual } => {
                write!(f, "the manifest received for {expected} hashes to {actual}; refused")
            }
            ManifestError::HeaderDigestMismatch { expected, header } => {
                write!(f, "the upstream answered manifest {header} when {expected} was asked for; refused")
            }
            ManifestError::NotJson => f.write_str("the upstream's manifest is not a JSON document; refused"),
            ManifestError::MediaTypeMismatch { media_type, content_type } => write!(
                f,
                "the upstream's manifest says mediaType {media_type} but was served as {content_type}; refused"
            ),
            ManifestError::TooLarge => f.write_str("the upstream's manifest is larger than 4 MiB; refused"),
        }
    }
}

/// The part of a manifest (image manifest, index, Docker schema 2, manifest list) checked here.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

/// `Content-Type` without parameters, lowercase.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Checks a manifest's bytes. `expected` is the digest the client asked for, if it asked by
/// digest. Returns the digest of the bytes (sha256 unless the client asked for another).
pub fn verify(bytes: &[u8], expected: Option<&Digest>, content_type: Option<&str>) -> Result<Digest, ManifestError> {
    let actual = match expected {
        Some(want) => {
            let actual = Digest::of_bytes(want.algorithm(), bytes);
            if &actual != want {
                return Err(ManifestError::DigestMismatch { expected: want.to_string(), actual: actual.to_string() });
            }
            actual
        }
        None => Digest::of_bytes(crate::reference::Algorithm::Sha256, bytes),
    };
    let envelope: Envelope = serde_json::from_slice(bytes).map_err(|_| ManifestError::NotJson)?;
    if let (Some(media_type), Some(content_type)) = (envelope.media_type.as_deref(), content_type) {
        let content_type = essence(content_type);
        // Registries answer an unknown type as application/json or octet-stream; only a
        // claim of a different manifest type is a contradiction.
        let generic = matches!(content_type.as_str(), "" | "application/json" | "application/octet-stream");
        if !generic && content_type != media_type.to_ascii_lowercase() {
            return Err(ManifestError::MediaTypeMismatch { media_type: media_type.to_string(), content_type });
        }
    }
    Ok(actual)
}

/// Checks the upstream's `Docker-Content-Digest` on an answer that carries no body (HEAD, 304).
pub fn check_header_digest(header: Option<&str>, expected: &Digest) -> Result<(), ManifestError> {
    match header.map(str::trim) {
        Some(h) if !h.is_empty() && h != expected.to_string() => {
            Err(ManifestError::HeaderDigestMismatch { expected: expected.to_string(), header: h.to_string() })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Algorithm;

    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    const BODY: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;

    fn digest_of(bytes: &[u8]) -> Digest {
        Digest::of_bytes(Algorithm::Sha256, bytes)
    }

    #[test]
    fn a_manifest_matching_its_digest_passes() {
        let d = digest_of(BODY);
        assert_eq!(verify(BODY, Some(&d), Some(OCI)), Ok(d.clone()));
        assert_eq!(verify(BODY, None, Some(OCI)), Ok(d));
        let sha512 = Digest::of_bytes(Algorithm::Sha512, BODY);
        assert_eq!(verify(BODY, Some(&sha512), Some(OCI)), Ok(sha512));
    }

    #[test]
    fn another_manifest_under_the_asked_digest_is_refused() {
        let asked = digest_of(b"{\"schemaVersion\":2}");
        let e = verify(BODY, Some(&asked), Some(OCI)).unwrap_err();
        assert_eq!(
            e,
            ManifestError::DigestMismatch { expected: asked.to_string(), actual: digest_of(BODY).to_string() }
        );
    }

    #[test]
    fn content_that_is_not_a_manifest_is_refused() {
        for (bytes, content_type, want) in [
            (&b"not json"[..], Some(OCI), ManifestError::NotJson),
            (&b"[1,2]"[..], Some(OCI), ManifestError::NotJson),
            (&b""[..], None, ManifestError::NotJson),
            (
                BODY,
                Some("application/vnd.docker.distribution.manifest.v2+json"),
                ManifestError::MediaTypeMismatch {
                    media_type: OCI.into(),
                    content_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
                },
            ),
        ] {
            assert_eq!(verify(bytes, None, content_type), Err(want), "{content_type:?}");
        }
    }

    #[test]
    fn generic_or_parameterised_content_types_are_not_contradictions() {
        for content_type in [
            None,
            Some("application/json"),
            Some(""),
            Some("Application/Vnd.OCI.Image.Manifest.v1+json; charset=utf-8"),
        ] {
            assert!(verify(BODY, None, content_type).is_ok(), "{content_type:?}");
        }
        // A document without mediaType (OCI allows it) is checked by digest and JSON only.
        assert!(verify(br#"{"schemaVersion":2}"#, None, Some(OCI)).is_ok());
    }

    #[test]
    fn header_digests_must_match_the_asked_one() {
        let d = digest_of(BODY);
        assert_eq!(check_header_digest(None, &d), Ok(()));
        assert_eq!(check_header_digest(Some(&d.to_string()), &d), Ok(()));
        let other = digest_of(b"x").to_string();
        assert_eq!(
            check_header_digest(Some(&other), &d),
            Err(ManifestError::HeaderDigestMismatch { expected: d.to_string(), header: other })
        );
    }
}
