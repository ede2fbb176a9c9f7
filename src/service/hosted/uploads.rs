//! Blob uploads, as the OCI distribution spec writes them: `POST` (monolithic with `?digest=`,
//! a cross-repository mount with `?mount=&from=`, or a session), `PATCH` chunks with
//! `Content-Range`, `PUT` to close with the digest, `GET` status, `DELETE` to cancel.
//!
//! A session is an R2 multipart upload: each chunk streams into R2 as one part, so the Worker
//! never holds a layer. R2 wants every part but the last to be at least 5 MiB and all the same
//! size, so chunks must be too (`OCI-Chunk-Min-Length` says so; `pullgate push` complies). On
//! close the assembled object is hashed as it streams out of R2 (the runtime's native
//! `DigestStream`, no wasm CPU); a monolithic upload is hashed as it streams in.

use serde::{Deserialize, Serialize};

use crate::access;
use crate::error::{ErrorCode, RegistryError};
use crate::reference::{Digest, Name};

use super::super::auth as client_auth;
use super::super::reply::{Headers, Reply};
use super::super::Runtime;
use super::auth::Push;
use super::layout::{self, BlobRecord, Usage};
use super::objects::{Part, UploadBody};
use super::{body_limit, get_json, put_json, route, HostedError, MIN_CHUNK};

/// An open upload session (`<app>/uploads/<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub repo: String,
    /// Where the bytes go.
    pub data: String,
    /// The R2 multipart upload id.
    pub multipart: String,
    #[serde(default)]
    pub parts: Vec<Part>,
    pub offset: u64,
    /// Unix seconds; gc aborts sessions older than its grace period.
    pub started: i64,
}

impl UploadState {
    /// Whether another chunk may follow the parts so far (R2's part rules).
    fn takes_more(&self) -> bool {
        let first = self.parts.first().map_or(0, |p| p.size);
        self.parts.iter().all(|p| p.size == first && p.size >= MIN_CHUNK)
    }
}

fn upload_location(name: &Name, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// `Range: 0-<last byte>` as distribution writes it (`0-0` before any byte).
fn range_header(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

fn session_headers(name: &Name, id: &str, offset: u64) -> Headers {
    vec![
        ("location", upload_location(name, id)),
        ("range", range_header(offset)),
        ("docker-upload-uuid", id.to_string()),
        ("oci-chunk-min-length", MIN_CHUNK.to_string()),
        ("content-length", "0".to_string()),
    ]
}

/// 416 with the session's `Range`, so the client can resume from the right offset.
fn range_refusal<B>(name: &Name, id: &str, offset: u64, message: String) -> Reply<B> {
    let body = RegistryError::new(416, ErrorCode::BlobUploadInvalid, message).body().into_bytes();
    let mut headers = session_headers(name, id, offset);
    headers.retain(|(n, _)| *n != "content-length");
    headers.push(("content-type", "application/json".to_string()));
    Reply::Fixed { status: 416, headers, body }
}

/// The body's length, within the deployment's limit.
fn checked_length<R: Runtime, U>(push: &Push<'_, '_, R>, body: &UploadBody<U>) -> Result<u64, RegistryError> {
    let length = body.length.ok_or(HostedError::LengthRequired)?;
    let limit = body_limit(push.cx);
    if length > limit {
        return Err(HostedError::BodyTooLarge { length, limit }.into());
    }
    Ok(length)
}

/// Refuses `extra` more bytes when they would take the app past its quota.
pub async fn check_quota<R: Runtime>(push: &Push<'_, '_, R>, extra: u64) -> Result<(), RegistryError> {
    let Some(quota) = push.app.hosted_quota else { return Ok(()) };
    let used = get_json::<R, Usage>(push.cx, &layout::usage(&push.app.slug)).await?.unwrap_or_default().bytes;
    if used.saturating_add(extra) > quota {
        return Err(HostedError::Quota { used, quota }.into());
    }
    Ok(())
}

/// Adds `delta` to the app's usage record. Not atomic with concurrent pushes: `gc` recounts.
pub async fn add_usage<R: Runtime>(push: &Push<'_, '_, R>, delta: u64) -> Result<(), RegistryError> {
    let key = layout::usage(&push.app.slug);
    let mut usage: Usage = get_json(push.cx, &key).await?.unwrap_or_default();
    usage.bytes = usage.bytes.saturating_add(delta);
    put_json(push.cx, &key, &usage).await
}

fn digest_param<R: Runtime>(push: &Push<'_, '_, R>) -> Result<Option<Digest>, RegistryError> {
    match push.cx.request.query_value("digest") {
        None => Ok(None),
        Some(v) => v.parse::<Digest>().map(Some).map_err(|e| HostedError::DigestParam(e.to_string()).into()),
    }
}

/// The blob is in: stored once per app (a second copy is dropped) and linked into the repository.
async fn commit<R: Runtime>(
    push: &Push<'_, '_, R>,
    digest: &Digest,
    data: &str,
    size: u64,
) -> Result<Reply<R::Body>, RegistryError> {
    let cx = push.cx;
    let app = &push.app.slug;
    let blob_key = layout::blob(app, digest);
    let record = match get_json::<R, BlobRecord>(cx, &blob_key).await? {
        Some(existing) => {
            if existing.data != data {
                cx.rt.delete(vec![data.to_string()]).await?;
            }
            existing
        }
        None => {
            if let Err(e) = check_quota(push, size).await {
                cx.rt.delete(vec![data.to_string()]).await?;
                return Err(e);
            }
            let record = BlobRecord { data: data.to_string(), size, at: cx.now };
            put_json(cx, &blob_key, &record).await?;
            add_usage(push, size).await?;
            record
        }
    };
    put_json(cx, &layout::link(app, &push.repo, digest), &record).await?;
    Ok(created(&push.name, digest))
}

fn created<B>(name: &Name, digest: &Digest) -> Reply<B> {
    Reply::Empty {
        status: 201,
        headers: vec![
            ("location", format!("/v2/{name}/blobs/{digest}")),
            ("docker-content-digest", digest.to_string()),
            ("content-length", "0".to_string()),
        ],
    }
}

/// `POST /v2/<name>/blobs/uploads/`.
pub async fn start<R: Runtime>(push: Push<'_, '_, R>) -> Result<Reply<R::Body>, RegistryError> {
    let cx = push.cx;
    if let Some(reply) = mount(&push).await? {
        return Ok(reply);
    }
    let id = cx.rt.unique_id();
    let data = layout::data(&push.app.slug, &id);
    if let Some(digest) = digest_param(&push)? {
        let body = cx.rt.take_upload().ok_or(HostedError::LengthRequired)?;
        let length = checked_length(&push, &body)?;
        if cx.rt.get(&layout::blob(&push.app.slug, &digest)).await?.is_none() {
            check_quota(&push, length).await?;
        }
        let actual = cx.rt.put_stream(&data, body.body, length, digest.algorithm()).await?;
        if actual != digest.hex() {
            cx.rt.delete(vec![data]).await?;
            let actual = format!("{}:{actual}", digest.algorithm());
            return Err(HostedError::DigestMismatch { expected: digest.to_string(), actual }.into());
        }
        return commit(&push, &digest, &data, length).await;
    }
    let multipart = cx.rt.multipart_create(&data).await?;
    let state = UploadState { repo: push.repo.clone(), data, multipart, parts: Vec::new(), offset: 0, started: cx.now };
    put_json(cx, &layout::upload(&push.app.slug, &id), &state).await?;
    Ok(Reply::Empty { status: 202, headers: session_headers(&push.name, &id, 0) })
}

/// `?mount=<digest>&from=<name>`: links a blob the actor may read in another repository of the
/// same app. Anything that does not mount starts an ordinary session, as the spec asks.
async fn mount<R: Runtime>(push: &Push<'_, '_, R>) -> Result<Option<Reply<R::Body>>, RegistryError> {
    let cx = push.cx;
    let (Some(mount), Some(from)) = (cx.request.query_value("mount"), cx.request.query_value("from")) else {
        return Ok(None);
    };
    let (Ok(digest), Ok(from)) = (mount.parse::<Digest>(), from.parse::<Name>()) else { return Ok(None) };
    let binding = client_auth::host_binding(cx, false).await?;
    let Ok(source) = access::resolve_name(&from, &binding) else { return Ok(None) };
    let hosted = push.app.upstream_named(&source.upstream).is_some_and(|u| u.hosted);
    if source.app != push.app.slug || !hosted || !push.actor.may_pull(from.as_str(), &source.repo) {
        return Ok(None);
    }
    let app = &push.app.slug;
    let Some(record) = get_json::<R, BlobRecord>(cx, &layout::link(app, &source.repo, &digest)).await? else {
        return Ok(None);
    };
    put_json(cx, &layout::link(app, &push.repo, &digest), &record).await?;
    Ok(Some(created(&push.name, &digest)))
}

async fn session<R: Runtime>(push: &Push<'_, '_, R>, id: &str) -> Result<UploadState, RegistryError> {
    match get_json::<R, UploadState>(push.cx, &layout::upload(&push.app.slug, id)).await? {
        Some(state) if state.repo == push.repo => Ok(state),
        _ => Err(HostedError::UploadUnknown.into()),
    }
}

/// Streams one chunk into the session as the next part. `Err(reply)` is a 416 to send.
async fn append<R: Runtime>(
    push: &Push<'_, '_, R>,
    id: &str,
    state: &mut UploadState,
    body: UploadBody<R::Upload>,
    length: u64,
) -> Result<Result<(), Reply<R::Body>>, RegistryError> {
    if let Some(value) = &body.content_range {
        let fits =
            route::content_range(value).is_ok_and(|(start, end)| start == state.offset && end - start + 1 == length);
        if !fits {
            let message = format!("Content-Range {value:?} does not continue the upload at byte {}", state.offset);
            return Ok(Err(range_refusal(&push.name, id, state.offset, message)));
        }
    }
    if !state.takes_more() {
        let message = format!(
            "chunks must be at least {MIN_CHUNK} bytes and all the same size, except the last \
             (R2 multipart parts); this upload's last chunk was the last it can take"
        );
        return Ok(Err(range_refusal(&push.name, id, state.offset, message)));
    }
    check_quota(push, state.offset.saturating_add(length)).await?;
    let number = u16::try_from(state.parts.len() + 1).map_err(|_| HostedError::BodyTooLarge { length, limit: 0 })?;
    let etag = push.cx.rt.multipart_part(&state.data, &state.multipart, number, body.body, length).await?;
    state.parts.push(Part { number, etag, size: length });
    state.offset += length;
    put_json(push.cx, &layout::upload(&push.app.slug, id), state).await?;
    Ok(Ok(()))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`.
pub async fn chunk<R: Runtime>(push: Push<'_, '_, R>, id: &str) -> Result<Reply<R::Body>, RegistryError> {
    let mut state = session(&push, id).await?;
    let body = push.cx.rt.take_upload().ok_or(HostedError::LengthRequired)?;
    let length = checked_length(&push, &body)?;
    if length > 0 {
        if let Err(refusal) = append(&push, id, &mut state, body, length).await? {
            return Ok(refusal);
        }
    }
    Ok(Reply::Empty { status: 202, headers: session_headers(&push.name, id, state.offset) })
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (optional), then verification.
pub async fn close<R: Runtime>(push: Push<'_, '_, R>, id: &str) -> Result<Reply<R::Body>, RegistryError> {
    let cx = push.cx;
    let digest = digest_param(&push)?.ok_or_else(|| HostedError::DigestParam("digest is required on close".into()))?;
    let mut state = session(&push, id).await?;
    if let Some(body) = cx.rt.take_upload() {
        let length = checked_length(&push, &body)?;
        if length > 0 {
            if let Err(refusal) = append(&push, id, &mut state, body, length).await? {
                return Ok(refusal);
            }
        }
    }
    if state.parts.is_empty() {
        cx.rt.multipart_abort(&state.data, &state.multipart).await?;
        cx.rt.put(&state.data, Vec::new(), None).await?;
    } else {
        cx.rt.multipart_complete(&state.data, &state.multipart, &state.parts).await?;
    }
    let upload_key = layout::upload(&push.app.slug, id);
    let (size, hex) = cx
        .rt
        .digest(&state.data, digest.algorithm())
        .await?
        .ok_or_else(|| RegistryError::internal(format!("completed upload {} is missing", state.data)))?;
    if hex != digest.hex() {
        cx.rt.delete(vec![state.data.clone(), upload_key]).await?;
        let actual = format!("{}:{hex}", digest.algorithm());
        return Err(HostedError::DigestMismatch { expected: digest.to_string(), actual }.into());
    }
    let reply = commit(&push, &digest, &state.data, size).await?;
    cx.rt.delete(vec![upload_key]).await?;
    Ok(reply)
}

/// `GET /v2/<name>/blobs/uploads/<id>`: where to resume.
pub async fn status<R: Runtime>(push: Push<'_, '_, R>, id: &str) -> Result<Reply<R::Body>, RegistryError> {
    let state = session(&push, id).await?;
    Ok(Reply::Empty { status: 204, headers: session_headers(&push.name, id, state.offset) })
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`.
pub async fn cancel<R: Runtime>(push: Push<'_, '_, R>, id: &str) -> Result<Reply<R::Body>, RegistryError> {
    let cx = push.cx;
    let state = session(&push, id).await?;
    cx.rt.multipart_abort(&state.data, &state.multipart).await?;
    cx.rt.delete(vec![state.data, layout::upload(&push.app.slug, id)]).await?;
    Ok(Reply::Empty { status: 204, headers: vec![("content-length", "0".to_string())] })
}
