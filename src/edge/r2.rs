//! The hosted registry's `ObjectStore` over the Worker's R2 binding. Bodies are never read into
//! wasm: a request body is piped through a native `FixedLengthStream` into `put`/`uploadPart`
//! (R2 takes only streams of known length), digests come from the runtime's `DigestStream`
//! teed off the stream, and reads hand R2's body straight to the response.

use std::cell::RefCell;

use worker::crypto::{DigestStream, DigestStreamAlgorithm};
use worker::js_sys::{self, Uint8Array};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, WritableStream};
use worker::{Bucket, UploadedPart};
use worker::{Date, HttpMetadata, Response, ResponseBody};

use crate::keys::hex_encode;
use crate::reference::Algorithm;
use crate::service::hosted::objects::{
    ByteRange, Listed, Listing, ObjectStore, Part, StorageError, Stored, UploadBody,
};
use crate::store::R2_BINDING;

use super::runtime::WorkerRuntime;

/// The body of a push request, taken before the core runs.
pub type Upload = RefCell<Option<UploadBody<ReadableStream>>>;

/// A push's body and the headers that describe it (nothing for reads and the token endpoint).
pub fn upload_of(req: &worker::web_sys::Request, method: &str, path: &str) -> Upload {
    let push = matches!(method, "PUT" | "PATCH" | "POST") && path != crate::route::TOKEN_PATH;
    let Some(body) = push.then(|| req.body()).flatten() else { return RefCell::new(None) };
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let length = header("content-length").and_then(|v| v.trim().parse().ok());
    RefCell::new(Some(UploadBody {
        body,
        length,
        content_range: header("content-range"),
        content_type: header("content-type"),
    }))
}

fn err(context: &str) -> impl Fn(worker::Error) -> StorageError + '_ {
    move |e| StorageError(format!("{context}: {e}"))
}

fn js_err(context: &str) -> impl Fn(worker::wasm_bindgen::JsValue) -> StorageError + '_ {
    move |e| StorageError(format!("{context}: {e:?}"))
}

fn algorithm(a: Algorithm) -> DigestStreamAlgorithm {
    match a {
        Algorithm::Sha256 => DigestStreamAlgorithm::Sha256,
        Algorithm::Sha512 => DigestStreamAlgorithm::Sha512,
    }
}

/// `body` re-announced as exactly `length` bytes (a shorter or longer body fails the write).
fn fixed(body: &ReadableStream, length: u64) -> Result<ReadableStream, StorageError> {
    let stream = match u32::try_from(length) {
        Ok(n) => worker::worker_sys::FixedLengthStream::new(n),
        Err(_) => worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(length)),
    }
    .map_err(js_err("FixedLengthStream"))?;
    let transform: &worker::web_sys::TransformStream = stream.unchecked_ref();
    // The pipe runs as the consumer reads; its failure surfaces as the write's.
    let _ = body.pipe_to(&transform.writable());
    Ok(transform.readable())
}

/// Starts hashing a copy of `body`; returns the other copy and the digest to await.
fn tee_digest(body: &ReadableStream, a: Algorithm) -> (ReadableStream, DigestStream) {
    let branches = body.tee();
    let (hashed, kept): (ReadableStream, ReadableStream) =
        (branches.get(0).unchecked_into(), branches.get(1).unchecked_into());
    let digest = DigestStream::new(algorithm(a));
    let sink: &WritableStream = digest.raw().unchecked_ref();
    let _ = hashed.pipe_to(sink);
    (kept, digest)
}

async fn hex_of(digest: &DigestStream) -> Result<String, StorageError> {
    let bytes: Uint8Array = digest.digest().await.map_err(err("digest"))?;
    Ok(hex_encode(&bytes.to_vec()))
}

impl WorkerRuntime<'_> {
    fn bucket(&self) -> Result<Bucket, StorageError> {
        self.env.bucket(R2_BINDING).map_err(err("r2 binding"))
    }
}

impl ObjectStore for WorkerRuntime<'_> {
    type Upload = ReadableStream;

    fn unique_id(&self) -> String {
        let (a, b) = (js_sys::Math::random(), js_sys::Math::random());
        format!("{:x}-{:012x}-{:012x}", Date::now().as_millis(), (a * 2f64.powi(48)) as u64, (b * 2f64.powi(48)) as u64)
    }

    fn take_upload(&self) -> Option<UploadBody<ReadableStream>> {
        self.upload.borrow_mut().take()
    }

    async fn read_upload(&self, body: ReadableStream, limit: usize) -> Result<Vec<u8>, StorageError> {
        let mut response = Response::from_body(ResponseBody::Stream(body)).map_err(err("read body"))?;
        let bytes = response.bytes().await.map_err(err("read body"))?;
        if bytes.len() > limit {
            return Err(StorageError("body over its limit".into()));
        }
        Ok(bytes)
    }

    async fn get(&self, key: &str) -> Result<Option<Stored>, StorageError> {
        let Some(object) = self.bucket()?.get(key).execute().await.map_err(err("r2 get"))? else { return Ok(None) };
        let content_type = object.http_metadata().content_type;
        let bytes = match object.body() {
            Some(body) => body.bytes().await.map_err(err("r2 get body"))?,
            None => Vec::new(),
        };
        Ok(Some(Stored { bytes, content_type }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<(), StorageError> {
        let metadata = HttpMetadata { content_type: content_type.map(str::to_string), ..HttpMetadata::default() };
        self.bucket()?.put(key, bytes).http_metadata(metadata).execute().await.map_err(err("r2 put"))?;
        Ok(())
    }

    async fn delete(&self, keys: Vec<String>) -> Result<(), StorageError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.bucket()?.delete_multiple(keys).await.map_err(err("r2 delete"))
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Result<Listing, StorageError> {
        let bucket = self.bucket()?;
        let mut list = bucket.list().prefix(prefix).limit(limit.clamp(1, 1000));
        if let Some(after) = start_after {
            list = list.start_after(after);
        }
        let page = list.execute().await.map_err(err("r2 list"))?;
        let objects = page
            .objects()
            .into_iter()
            .map(|o| Listed { key: o.key(), size: o.size(), uploaded: (o.uploaded().as_millis() / 1000) as i64 })
            .collect();
        Ok(Listing { objects, truncated: page.truncated() })
    }

    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<Option<(u64, Response)>, StorageError> {
        let bucket = self.bucket()?;
        let mut get = bucket.get(key);
        if let Some(r) = range {
            get = get.range(worker::Range::OffsetWithLength { offset: r.offset, length: r.length });
        }
        let Some(object) = get.execute().await.map_err(err("r2 get"))? else { return Ok(None) };
        let size = object.size();
        let body = object.body().ok_or_else(|| StorageError("r2 object without a body".into()))?;
        let response =
            Response::from_body(body.response_body().map_err(err("r2 body"))?).map_err(err("r2 response"))?;
        Ok(Some((size, response)))
    }

    async fn put_stream(
        &self,
        key: &str,
        body: ReadableStream,
        length: u64,
        a: Algorithm,
    ) -> Result<String, StorageError> {
        let (kept, digest) = tee_digest(&body, a);
        let stream = fixed(&kept, length)?;
        self.bucket()?.put(key, stream).execute().await.map_err(err("r2 put stream"))?;
        hex_of(&digest).await
    }

    async fn multipart_create(&self, key: &str) -> Result<String, StorageError> {
        let upload = self.bucket()?.create_multipart_upload(key).execute().await.map_err(err("r2 multipart"))?;
        Ok(upload.upload_id().await)
    }

    async fn multipart_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: ReadableStream,
        length: u64,
    ) -> Result<String, StorageError> {
        let upload = self.bucket()?.resume_multipart_upload(key, upload_id).map_err(err("r2 multipart"))?;
        let part = upload.upload_part(number, fixed(&body, length)?).await.map_err(err("r2 upload part"))?;
        Ok(part.etag())
    }

    async fn multipart_complete(&self, key: &str, upload_id: &str, parts: &[Part]) -> Result<(), StorageError> {
        let upload = self.bucket()?.resume_multipart_upload(key, upload_id).map_err(err("r2 multipart"))?;
        let parts: Vec<UploadedPart> = parts.iter().map(|p| UploadedPart::new(p.number, p.etag.clone())).collect();
        upload.complete(parts).await.map_err(err("r2 complete"))?;
        Ok(())
    }

    async fn multipart_abort(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        let upload = self.bucket()?.resume_multipart_upload(key, upload_id).map_err(err("r2 multipart"))?;
        upload.abort().await.map_err(err("r2 abort"))
    }

    async fn digest(&self, key: &str, a: Algorithm) -> Result<Option<(u64, String)>, StorageError> {
        let Some(object) = self.bucket()?.get(key).execute().await.map_err(err("r2 get"))? else { return Ok(None) };
        let size = object.size();
        let digest = DigestStream::new(algorithm(a));
        if let Some(body) = object.body() {
            let ResponseBody::Stream(stream) = body.response_body().map_err(err("r2 body"))? else {
                return Err(StorageError("r2 body is not a stream".into()));
            };
            let sink: &WritableStream = digest.raw().unchecked_ref();
            JsFuture::from(stream.pipe_to(sink)).await.map_err(js_err("digest pipe"))?;
        }
        Ok(Some((size, hex_of(&digest).await?)))
    }
}
