//! `GET|HEAD /v2/<name>/manifests/<reference>`: the upstream's manifest, relayed byte for byte.
//!
//! By tag the body is streamed as it comes. By digest it is read (bounded by the 4 MiB manifest
//! limit), hashed here and refused unless it matches: the hash computed here is authoritative.

use crate::blob_sizes;
use crate::error::RegistryError;
use crate::manifest::{self, ManifestError};
use crate::reference::Reference;
use crate::upstream::{self, Resource, TransportError, UpstreamError, DEFAULT_MANIFEST_ACCEPT, MAX_MANIFEST_BYTES};

use super::pull::Pull;
use super::reply::{relay_headers, set_header, Reply};
use super::Runtime;

pub const MANIFEST_HEADERS: [&str; 4] = ["content-type", "docker-content-digest", "content-length", "etag"];

/// Longest client `Accept` or `If-None-Match` passed on.
const MAX_ACCEPT_LEN: usize = 4096;
const MAX_ETAG_LEN: usize = 1024;

pub async fn manifest<R: Runtime>(
    pull: Pull<'_, '_, R>,
    reference: Reference,
) -> Result<Reply<R::Body>, RegistryError> {
    let request = &pull.cx.request;
    let head_only = request.is_head();
    let accept = request.accept.clone().filter(|a| !a.trim().is_empty() && a.len() <= MAX_ACCEPT_LEN);
    let mut up =
        upstream::Request::new(if head_only { "HEAD" } else { "GET" }, pull.url(&format!("manifests/{reference}")))
            .header("accept", accept.unwrap_or_else(|| DEFAULT_MANIFEST_ACCEPT.to_string()));
    if let Some(etag) = request.if_none_match.clone().filter(|v| v.len() <= MAX_ETAG_LEN) {
        up = up.header("if-none-match", etag);
    }
    let (head, body) = pull.send(up).await?;
    if let Some(e) = upstream::classify(Resource::Manifest, &head, &pull.upstream(), &reference.to_string()) {
        return Err(e.into());
    }
    if (300..400).contains(&head.status) && head.status != 304 {
        // Registries serve manifests themselves; a redirect is not followed with credentials.
        return Err(
            UpstreamError::UnexpectedStatus { upstream: pull.upstream().describe(), status: head.status }.into()
        );
    }
    let mut headers = relay_headers(&head, &MANIFEST_HEADERS);
    let digest = match &reference {
        Reference::Digest(d) => Some(d),
        Reference::Tag(_) => None,
    };
    if head_only || head.status == 304 {
        if let Some(d) = digest {
            manifest::check_header_digest(head.header("docker-content-digest"), d)?;
            set_header(&mut headers, "docker-content-digest", d.to_string());
        }
        return Ok(Reply::Empty { status: head.status, headers });
    }
    if head.content_length().is_some_and(|n| n > MAX_MANIFEST_BYTES) {
        return Err(ManifestError::TooLarge.into());
    }
    // A tag's image manifest is read whole, not streamed, when its event notes the sizes of
    // its blobs (`blob_sizes`): redirected downloads of those blobs are counted by them. Once
    // per isolate and manifest: its sizes do not change.
    let note_sizes = pull.cx.records_event()
        && blob_sizes::lists_blobs(head.header("content-type"))
        && !head
            .header("docker-content-digest")
            .is_some_and(|d| pull.cx.isolate.noted_sizes.borrow().contains(&pull.authorized.app.slug, d.trim()));
    if digest.is_none() && head.content_length().is_some() && !note_sizes {
        return Ok(Reply::Relay { status: head.status, headers, body, fill_cache: None });
    }
    // By digest, or with no length announced: read it here, bounded, so the cap holds and
    // the bytes can be checked.
    let bytes = pull.cx.rt.read(body, MAX_MANIFEST_BYTES as usize).await.map_err(|e| match e {
        TransportError::TooLarge => RegistryError::from(ManifestError::TooLarge),
        other => {
            UpstreamError::Unreachable { upstream: pull.upstream().describe(), detail: format!("{other:?}") }.into()
        }
    })?;
    if let Some(d) = digest {
        let actual = manifest::verify(&bytes, Some(d), head.header("content-type"))?;
        set_header(&mut headers, "docker-content-digest", actual.to_string());
    }
    set_header(&mut headers, "content-length", bytes.len().to_string());
    Ok(Reply::Fixed { status: head.status, headers, body: bytes })
}
