//! The storage the hosted registry needs, as a trait: small objects (records, manifests, tags),
//! listings, streamed reads with a range, and streamed writes (a plain put or an R2 multipart
//! upload) whose digest the store computes as the bytes pass. The Worker implements it over its
//! R2 binding (`src/edge/r2.rs`); the native tests over a map.

use crate::reference::Algorithm;
use crate::upstream::Transport;

/// The storage did not answer or refused; the text is for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError(pub String);

/// A small object read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// Unix seconds.
    pub uploaded: i64,
}

/// A page of keys in lexicographic order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub objects: Vec<Listed>,
    pub truncated: bool,
}

/// A byte range to read, already checked against the object's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

/// One finished part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub number: u16,
    pub etag: String,
    pub size: u64,
}

/// The request body of a push, as the edge hands it over (never read whole for blobs).
pub struct UploadBody<U> {
    pub body: U,
    /// `Content-Length`, when the client sent one.
    pub length: Option<u64>,
    pub content_range: Option<String>,
    pub content_type: Option<String>,
}

/// The hosted registry's bucket.
#[allow(async_fn_in_trait)]
pub trait ObjectStore: Transport {
    /// A request body stream.
    type Upload;
    /// A fresh id for an upload (unique, not secret: every use is authorized by name).
    fn unique_id(&self) -> String;
    /// The request's body, once (the core takes it for push requests only).
    fn take_upload(&self) -> Option<UploadBody<Self::Upload>>;
    /// Reads a small body (a manifest) whole, failing past `limit` bytes.
    async fn read_upload(&self, body: Self::Upload, limit: usize) -> Result<Vec<u8>, StorageError>;
    async fn get(&self, key: &str) -> Result<Option<Stored>, StorageError>;
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<(), StorageError>;
    async fn delete(&self, keys: Vec<String>) -> Result<(), StorageError>;
    /// At most `limit` objects under `prefix` whose key sorts after `start_after`.
    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Result<Listing, StorageError>;
    /// A stored object's body (or `range` of it) as a stream, with the object's full size.
    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<Option<(u64, Self::Body)>, StorageError>;
    /// Streams exactly `length` bytes into `key`, returning their digest (hex) under `algorithm`.
    async fn put_stream(
        &self,
        key: &str,
        body: Self::Upload,
        length: u64,
        algorithm: Algorithm,
    ) -> Result<String, StorageError>;
    /// Starts a multipart upload into `key`, returning its id.
    async fn multipart_create(&self, key: &str) -> Result<String, StorageError>;
    /// Streams exactly `length` bytes as part `number`, returning its etag.
    async fn multipart_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: Self::Upload,
        length: u64,
    ) -> Result<String, StorageError>;
    async fn multipart_complete(&self, key: &str, upload_id: &str, parts: &[Part]) -> Result<(), StorageError>;
    async fn multipart_abort(&self, key: &str, upload_id: &str) -> Result<(), StorageError>;
    /// Size and digest (hex) of a stored object, hashed as it streams out of the store.
    async fn digest(&self, key: &str, algorithm: Algorithm) -> Result<Option<(u64, String)>, StorageError>;
}

/// Lists every object under `prefix` (page after page).
pub async fn list_all<S: ObjectStore>(store: &S, prefix: &str) -> Result<Vec<Listed>, StorageError> {
    let mut all: Vec<Listed> = Vec::new();
    loop {
        let after = all.last().map(|l| l.key.clone());
        let page = store.list(prefix, after.as_deref(), 1000).await?;
        let more = page.truncated && !page.objects.is_empty();
        all.extend(page.objects);
        if !more {
            return Ok(all);
        }
    }
}
