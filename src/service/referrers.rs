//! `GET /v2/<name>/referrers/<digest>[?artifactType=]`: the upstream's referrers index, relayed.

use crate::error::RegistryError;
use crate::reference::Digest;
use crate::upstream::{self, Resource};

use super::pull::Pull;
use super::reply::{relay_headers, Reply};
use super::Runtime;

pub const REFERRERS_HEADERS: [&str; 3] = ["content-type", "content-length", "oci-filters-applied"];

/// Longest `artifactType` passed on (a media type is at most 255 characters, RFC 6838).
const MAX_ARTIFACT_TYPE_LEN: usize = 255;

fn is_media_type(t: &str) -> bool {
    t.len() <= MAX_ARTIFACT_TYPE_LEN
        && !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"./+-_".contains(&b))
}

pub async fn referrers<R: Runtime>(pull: Pull<'_, '_, R>, digest: Digest) -> Result<Reply<R::Body>, RegistryError> {
    let mut tail = format!("referrers/{digest}");
    if let Some(t) = pull.cx.request.query_value("artifactType").filter(|t| is_media_type(t)) {
        tail = format!("{tail}?artifactType={t}");
    }
    let up = upstream::Request::new("GET", pull.url(&tail)).header("accept", "application/vnd.oci.image.index.v1+json");
    let (head, body) = pull.send(up).await?;
    if let Some(e) = upstream::classify(Resource::Referrers, &head, &pull.upstream(), pull.name.as_str()) {
        return Err(e.into());
    }
    let headers = relay_headers(&head, &REFERRERS_HEADERS);
    Ok(Reply::Relay { status: head.status, headers, body, fill_cache: None })
}
