//! `GET|HEAD /v2/<name>/blobs/<digest>`: HEAD answered from the upstream's metadata; GET
//! redirected to the upstream's signed URL, or streamed (app in stream mode, or an upstream
//! that serves the bytes itself), and in stream mode kept in the blob cache.

use crate::blob_cache;
use crate::error::RegistryError;
use crate::reference::Digest;
use crate::store::BlobMode;
use crate::upstream::{self, Resource, TransportError, UpstreamError};

use super::pull::Pull;
use super::reply::{relay_headers, set_header, Headers, Reply};
use super::Runtime;

/// Redirect hops followed (without credentials) when the edge itself must reach the bytes.
const MAX_HOPS: usize = 3;

/// Longest `Range` passed on.
const MAX_RANGE_LEN: usize = 256;

pub const BLOB_HEADERS: [&str; 6] =
    ["content-type", "content-length", "content-range", "accept-ranges", "docker-content-digest", "etag"];

pub async fn blob<R: Runtime>(pull: Pull<'_, '_, R>, digest: Digest) -> Result<Reply<R::Body>, RegistryError> {
    let cx = pull.cx;
    let head_only = cx.request.is_head();
    let range = cx.request.range.clone().filter(|r| r.len() <= MAX_RANGE_LEN && r.starts_with("bytes="));
    let mut up = upstream::Request::new(if head_only { "HEAD" } else { "GET" }, pull.url(&format!("blobs/{digest}")));
    if let Some(r) = &range {
        up = up.header("range", r.clone());
    }
    let stream_mode = pull.authorized.app.blob_mode == BlobMode::Stream;
    let cache_key = match (stream_mode && !head_only, cx.settings.blob_cache_seconds) {
        (true, ttl) if ttl > 0 => blob_cache::key(
            &cx.origin.host,
            &pull.authorized.app.slug,
            &pull.authorized.upstream.endpoint,
            &pull.authorized.upstream_repo,
            &digest.to_string(),
        ),
        _ => None,
    };
    // Looked up only now, after authorization for this repository (security.md T9).
    if let Some(key) = &cache_key {
        if let Some((head, body)) = cx.rt.cached_blob(key, range.as_deref()).await {
            if matches!(head.status, 200 | 206) {
                let mut headers = relay_headers(&head, &BLOB_HEADERS);
                debug_cache_header(cx.settings.debug_headers, &mut headers, "hit");
                return Ok(Reply::Relay { status: head.status, headers, body, fill_cache: None });
            }
        }
    }
    let (mut head, mut body) = pull.send(up.clone()).await?;
    let mut url = up.url.clone();
    let mut hops = 0;
    while matches!(head.status, 301 | 302 | 303 | 307 | 308) {
        let location = head.header("location").unwrap_or_default().to_string();
        let target = upstream::redirect_target(&url, &location, &pull.upstream())?;
        if !head_only && !stream_mode {
            let headers: Headers = vec![("location", target), ("cache-control", "no-store".to_string())];
            return Ok(Reply::Fixed { status: 307, headers, body: Vec::new() });
        }
        hops += 1;
        if hops > MAX_HOPS {
            return Err(UpstreamError::BadRedirect { upstream: pull.upstream().describe() }.into());
        }
        // Signed URLs carry their own authorization: never send the vendor's credentials there.
        let mut next = upstream::Request::new(up.method, target.clone());
        if let Some(r) = &range {
            next = next.header("range", r.clone());
        }
        let (h, b) = cx.rt.send(next).await.map_err(|e| match e {
            TransportError::Timeout => UpstreamError::Timeout { upstream: pull.upstream().describe() },
            other => UpstreamError::Unreachable { upstream: pull.upstream().describe(), detail: format!("{other:?}") },
        })?;
        (head, body, url) = (h, b, target);
    }
    if let Some(e) = upstream::classify(Resource::Blob, &head, &pull.upstream(), &digest.to_string()) {
        return Err(e.into());
    }
    let mut headers = relay_headers(&head, &BLOB_HEADERS);
    if head.header("docker-content-digest").is_none() {
        set_header(&mut headers, "docker-content-digest", digest.to_string());
    }
    if head_only {
        return Ok(Reply::Empty { status: 200, headers });
    }
    if cache_key.is_some() {
        debug_cache_header(cx.settings.debug_headers, &mut headers, "miss");
    }
    let fill_cache = cache_key
        .filter(|_| blob_cache::storable(head.status, head.content_length(), range.is_some()))
        .map(|key| (key, cx.settings.blob_cache_seconds));
    Ok(Reply::Relay { status: head.status, headers, body, fill_cache })
}

fn debug_cache_header(on: bool, headers: &mut Headers, value: &str) {
    if on {
        set_header(headers, "pullgate-cache", value);
    }
}
