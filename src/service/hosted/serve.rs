//! Hosted blob reads (streamed from R2, with `Range`; a repository serves only the blobs it
//! links, so an entitlement to one repository does not reach another's layers by digest),
//! blob deletes, and tag lists with `n`/`last` straight from R2's ordered listing.

use serde::Serialize;

use crate::error::{ErrorCode, RegistryError};
use crate::reference::Digest;

use super::super::pull::Pull;
use super::super::reply::{Headers, Reply};
use super::super::Runtime;
use super::auth::Push;
use super::layout::{self, BlobRecord};
use super::{get_json, route, HostedError};

/// `GET|HEAD /v2/<name>/blobs/<digest>` on a hosted repository.
pub async fn blob<R: Runtime>(pull: Pull<'_, '_, R>, digest: Digest) -> Result<Reply<R::Body>, RegistryError> {
    let cx = pull.cx;
    let (app, repo) = (&pull.authorized.app.slug, &pull.authorized.upstream_repo);
    let unknown = || HostedError::BlobUnknown { digest: digest.to_string() };
    let record: BlobRecord = get_json(cx, &layout::link(app, repo, &digest)).await?.ok_or_else(unknown)?;
    let mut headers: Headers = vec![
        ("content-type", "application/octet-stream".to_string()),
        ("docker-content-digest", digest.to_string()),
        ("accept-ranges", "bytes".to_string()),
        ("etag", format!("\"{digest}\"")),
    ];
    let Ok(range) = route::blob_range(cx.request.range.as_deref(), record.size) else {
        let body = RegistryError::new(416, ErrorCode::BlobUnknown, "requested range not satisfiable").body();
        headers.push(("content-range", format!("bytes */{}", record.size)));
        return Ok(Reply::Fixed { status: 416, headers, body: body.into_bytes() });
    };
    if cx.request.is_head() {
        headers.push(("content-length", record.size.to_string()));
        return Ok(Reply::Empty { status: 200, headers });
    }
    let (size, body) = cx.rt.open(&record.data, range).await?.ok_or_else(unknown)?;
    let status = match range {
        Some(r) => {
            headers.push(("content-range", format!("bytes {}-{}/{size}", r.offset, r.offset + r.length - 1)));
            headers.push(("content-length", r.length.to_string()));
            206
        }
        None => {
            headers.push(("content-length", size.to_string()));
            200
        }
    };
    Ok(Reply::Relay { status, headers, body, fill_cache: None })
}

/// `DELETE /v2/<name>/blobs/<digest>`: unlinks it from the repository (gc frees the bytes).
pub async fn delete_blob<R: Runtime>(push: Push<'_, '_, R>, digest: Digest) -> Result<Reply<R::Body>, RegistryError> {
    let key = layout::link(&push.app.slug, &push.repo, &digest);
    push.cx.rt.get(&key).await?.ok_or(HostedError::BlobUnknown { digest: digest.to_string() })?;
    push.cx.rt.delete(vec![key]).await?;
    Ok(Reply::Empty { status: 202, headers: vec![("content-length", "0".to_string())] })
}

#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: Vec<String>,
}

/// `GET /v2/<name>/tags/list[?n=&last=]` on a hosted repository, in lexical order.
pub async fn tags<R: Runtime>(pull: Pull<'_, '_, R>) -> Result<Reply<R::Body>, RegistryError> {
    let cx = pull.cx;
    let (app, repo) = (&pull.authorized.app.slug, &pull.authorized.upstream_repo);
    let (n, last) = super::super::tags::page_params(&cx.request)?;
    let prefix = layout::tags_prefix(app, repo);
    let mut tags = Vec::new();
    let mut after = last.as_ref().map(|t| format!("{prefix}{}", t.as_str()));
    let mut more = false;
    loop {
        let want = n.map_or(1000, |n| (n - tags.len()).min(1000)) as u32;
        if want == 0 {
            // Asked for n: is there a next page?
            more = n.is_some() && !cx.rt.list(&prefix, after.as_deref(), 1).await?.objects.is_empty();
            break;
        }
        let page = cx.rt.list(&prefix, after.as_deref(), want).await?;
        after = page.objects.last().map(|o| o.key.clone()).or(after);
        tags.extend(page.objects.iter().filter_map(|o| o.key.strip_prefix(&prefix).map(str::to_string)));
        if !page.truncated || page.objects.is_empty() {
            break;
        }
    }
    let body = serde_json::to_vec(&TagList { name: pull.name.as_str(), tags: tags.clone() })
        .map_err(|e| RegistryError::internal(format!("tags json: {e}")))?;
    let mut reply = Reply::json(200, body);
    if let (true, Some(n), Some(last)) = (more, n, tags.last()) {
        let link = format!("</v2/{}/tags/list?n={n}&last={last}>; rel=\"next\"", pull.name);
        reply.headers_mut().push(("link", link));
    }
    Ok(reply)
}
