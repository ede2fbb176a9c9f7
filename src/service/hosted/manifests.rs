//! Hosted manifests: `PUT` checks every blob and child manifest it names is in the repository
//! (`MANIFEST_BLOB_UNKNOWN` otherwise), enforces the 4 MiB limit, stores the bytes by digest
//! with their media type, records a `subject` for the referrers API, and only then moves the
//! tag, so a failed push never leaves a tag on a missing manifest. `GET`/`HEAD` and `DELETE`.

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::reference::{Algorithm, Digest, Reference};
use crate::upstream::MAX_MANIFEST_BYTES;

use super::super::pull::Pull;
use super::super::reply::{Headers, Reply};
use super::super::Runtime;
use super::auth::Push;
use super::layout;
use super::objects::list_all;
use super::uploads::{add_usage, check_quota};
use super::{get_json, put_json, HostedError};

/// Used when a manifest says nothing about its type.
const DEFAULT_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A descriptor as manifests carry them (and as the referrers index lists them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
    /// Foreign layers live elsewhere; they are not required to be pushed.
    #[serde(default, skip_serializing)]
    pub urls: Vec<String>,
}

/// The parts of a manifest or index the registry checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parsed {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub blobs: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
    #[serde(default)]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Parses a pushed manifest; every digest it names must be valid.
pub fn parse(bytes: &[u8]) -> Result<Parsed, HostedError> {
    let parsed: Parsed = serde_json::from_slice(bytes)
        .map_err(|e| HostedError::ManifestInvalid(format!("manifest is not JSON: {e}")))?;
    let all =
        parsed.config.iter().chain(&parsed.layers).chain(&parsed.blobs).chain(&parsed.manifests).chain(&parsed.subject);
    for d in all {
        d.digest.parse::<Digest>().map_err(|e| HostedError::ManifestInvalid(format!("descriptor digest: {e}")))?;
    }
    Ok(parsed)
}

fn digest_of(d: &Descriptor) -> Result<Digest, HostedError> {
    d.digest.parse().map_err(|e: crate::reference::ParseError| HostedError::ManifestInvalid(e.to_string()))
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub async fn put<R: Runtime>(push: Push<'_, '_, R>, reference: Reference) -> Result<Reply<R::Body>, RegistryError> {
    let cx = push.cx;
    let app = &push.app.slug;
    let body = cx.rt.take_upload().ok_or(HostedError::ManifestInvalid("a manifest body is required".into()))?;
    if body.length.is_some_and(|n| n > MAX_MANIFEST_BYTES) {
        return Err(HostedError::ManifestTooLarge.into());
    }
    let content_type = body.content_type.clone().filter(|t| !t.trim().is_empty());
    let bytes =
        cx.rt.read_upload(body.body, MAX_MANIFEST_BYTES as usize).await.map_err(|_| HostedError::ManifestTooLarge)?;
    let parsed = parse(&bytes)?;
    let digest = match &reference {
        Reference::Digest(d) => {
            let actual = Digest::of_bytes(d.algorithm(), &bytes);
            if actual != *d {
                return Err(HostedError::DigestMismatch { expected: d.to_string(), actual: actual.to_string() }.into());
            }
            actual
        }
        Reference::Tag(_) => Digest::of_bytes(Algorithm::Sha256, &bytes),
    };
    for d in parsed.config.iter().chain(&parsed.layers).chain(&parsed.blobs).filter(|d| d.urls.is_empty()) {
        let blob = digest_of(d)?;
        if cx.rt.get(&layout::link(app, &push.repo, &blob)).await?.is_none() {
            return Err(HostedError::ManifestBlobUnknown { digest: blob.to_string() }.into());
        }
    }
    for d in &parsed.manifests {
        let child = digest_of(d)?;
        if cx.rt.get(&layout::manifest(app, &push.repo, &child)).await?.is_none() {
            return Err(HostedError::ManifestBlobUnknown { digest: child.to_string() }.into());
        }
    }
    let media_type = content_type.or(parsed.media_type.clone()).unwrap_or_else(|| DEFAULT_MEDIA_TYPE.to_string());
    let manifest_key = layout::manifest(app, &push.repo, &digest);
    let size = bytes.len() as u64;
    if cx.rt.get(&manifest_key).await?.is_none() {
        check_quota(&push, size).await?;
        cx.rt.put(&manifest_key, bytes, Some(&media_type)).await?;
        add_usage(&push, size).await?;
    }
    let mut headers: Headers = vec![
        ("location", format!("/v2/{}/manifests/{digest}", push.name)),
        ("docker-content-digest", digest.to_string()),
        ("content-length", "0".to_string()),
    ];
    if let Some(subject) = &parsed.subject {
        let subject_digest = digest_of(subject)?;
        let descriptor = Descriptor {
            media_type: Some(media_type.clone()),
            digest: digest.to_string(),
            size,
            artifact_type: parsed
                .artifact_type
                .clone()
                .or_else(|| parsed.config.as_ref().and_then(|c| c.media_type.clone())),
            annotations: parsed.annotations.clone(),
            urls: Vec::new(),
        };
        put_json(cx, &layout::referrer(app, &push.repo, &subject_digest, &digest), &descriptor).await?;
        headers.push(("oci-subject", subject_digest.to_string()));
    }
    if let Reference::Tag(tag) = &reference {
        cx.rt
            .put(&layout::tag(app, &push.repo, tag.as_str()), digest.to_string().into_bytes(), Some("text/plain"))
            .await?;
    }
    Ok(Reply::Empty { status: 201, headers })
}

/// The digest a reference names in `repo`, if it exists.
async fn resolve<R: Runtime>(
    rt: &R,
    app: &str,
    repo: &str,
    reference: &Reference,
) -> Result<Option<Digest>, RegistryError> {
    match reference {
        Reference::Digest(d) => Ok(Some(d.clone())),
        Reference::Tag(t) => match rt.get(&layout::tag(app, repo, t.as_str())).await? {
            None => Ok(None),
            Some(stored) => {
                let text = String::from_utf8_lossy(&stored.bytes).trim().to_string();
                text.parse().map(Some).map_err(|_| RegistryError::internal(format!("tag {t} holds {text:?}")))
            }
        },
    }
}

/// `GET|HEAD /v2/<name>/manifests/<reference>` on a hosted repository.
pub async fn get<R: Runtime>(pull: Pull<'_, '_, R>, reference: Reference) -> Result<Reply<R::Body>, RegistryError> {
    let cx = pull.cx;
    let (app, repo) = (&pull.authorized.app.slug, &pull.authorized.upstream_repo);
    let unknown = || HostedError::ManifestUnknown { reference: reference.to_string() };
    let digest = resolve(cx.rt, app, repo, &reference).await?.ok_or_else(unknown)?;
    let stored = cx.rt.get(&layout::manifest(app, repo, &digest)).await?.ok_or_else(unknown)?;
    let headers: Headers = vec![
        ("content-type", stored.content_type.unwrap_or_else(|| DEFAULT_MEDIA_TYPE.to_string())),
        ("docker-content-digest", digest.to_string()),
        ("etag", format!("\"{digest}\"")),
        ("content-length", stored.bytes.len().to_string()),
    ];
    if cx.request.is_head() {
        return Ok(Reply::Empty { status: 200, headers });
    }
    Ok(Reply::Fixed { status: 200, headers, body: stored.bytes })
}

/// `DELETE /v2/<name>/manifests/<reference>`: by tag, the tag; by digest, the manifest, every
/// tag on it and its referrers entry.
pub async fn delete<R: Runtime>(push: Push<'_, '_, R>, reference: Reference) -> Result<Reply<R::Body>, RegistryError> {
    let cx = push.cx;
    let app = &push.app.slug;
    let unknown = || HostedError::ManifestUnknown { reference: reference.to_string() };
    let accepted = Reply::Empty { status: 202, headers: vec![("content-length", "0".to_string())] };
    if let Reference::Tag(tag) = &reference {
        let key = layout::tag(app, &push.repo, tag.as_str());
        cx.rt.get(&key).await?.ok_or_else(unknown)?;
        cx.rt.delete(vec![key]).await?;
        return Ok(accepted);
    }
    let digest = resolve(cx.rt, app, &push.repo, &reference).await?.ok_or_else(unknown)?;
    let manifest_key = layout::manifest(app, &push.repo, &digest);
    let stored = cx.rt.get(&manifest_key).await?.ok_or_else(unknown)?;
    let mut doomed = Vec::new();
    if let Some(subject) = parse(&stored.bytes).ok().and_then(|p| p.subject).and_then(|s| digest_of(&s).ok()) {
        doomed.push(layout::referrer(app, &push.repo, &subject, &digest));
    }
    for listed in list_all(cx.rt, &layout::tags_prefix(app, &push.repo)).await? {
        if cx.rt.get(&listed.key).await?.is_some_and(|s| s.bytes == digest.to_string().as_bytes()) {
            doomed.push(listed.key);
        }
    }
    // The manifest goes last: a failure part-way leaves tags on a manifest that still exists.
    cx.rt.delete(doomed).await?;
    cx.rt.delete(vec![manifest_key]).await?;
    Ok(accepted)
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]` on a hosted repository.
pub async fn referrers<R: Runtime>(pull: Pull<'_, '_, R>, subject: Digest) -> Result<Reply<R::Body>, RegistryError> {
    let cx = pull.cx;
    let (app, repo) = (&pull.authorized.app.slug, &pull.authorized.upstream_repo);
    let filter = cx.request.query_value("artifactType");
    let mut manifests = Vec::new();
    for listed in list_all(cx.rt, &layout::referrers_prefix(app, repo, &subject)).await? {
        let Some(d) = get_json::<R, Descriptor>(cx, &listed.key).await? else { continue };
        if filter.as_ref().is_none_or(|f| d.artifact_type.as_ref() == Some(f)) {
            manifests.push(d);
        }
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let body = serde_json::to_vec(&index).map_err(|e| RegistryError::internal(format!("referrers json: {e}")))?;
    let mut headers: Headers = vec![("content-type", "application/vnd.oci.image.index.v1+json".to_string())];
    if filter.is_some() {
        headers.push(("oci-filters-applied", "artifactType".to_string()));
    }
    Ok(Reply::Fixed { status: 200, headers, body })
}
