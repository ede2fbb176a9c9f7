//! The hosted registry's bucket in memory, with R2's multipart rules (parts but the last at
//! least 5 MiB and equal), so the core's chunking is checked against what R2 accepts.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use crate::reference::{Algorithm, Digest};
use crate::service::hosted::objects::{
    ByteRange, Listed, Listing, ObjectStore, Part, StorageError, Stored, UploadBody,
};
use crate::service::hosted::MIN_CHUNK;

use super::Mem;

/// Objects, open multipart uploads, and the request body the test sends.
#[derive(Default)]
pub struct Bucket {
    pub objects: RefCell<BTreeMap<String, (Vec<u8>, Option<String>, i64)>>,
    multipart: RefCell<HashMap<String, (String, BTreeMap<u16, Vec<u8>>)>>,
    pub body: RefCell<Option<UploadBody<Vec<u8>>>>,
    ids: Cell<u32>,
}

impl ObjectStore for Mem {
    type Upload = Vec<u8>;

    fn unique_id(&self) -> String {
        let n = self.bucket.ids.get() + 1;
        self.bucket.ids.set(n);
        format!("up-{n}")
    }

    fn take_upload(&self) -> Option<UploadBody<Vec<u8>>> {
        self.bucket.body.borrow_mut().take()
    }

    async fn read_upload(&self, body: Vec<u8>, limit: usize) -> Result<Vec<u8>, StorageError> {
        if body.len() > limit {
            return Err(StorageError("too large".into()));
        }
        Ok(body)
    }

    async fn get(&self, key: &str) -> Result<Option<Stored>, StorageError> {
        Ok(self.bucket.objects.borrow().get(key).map(|(b, t, _)| Stored { bytes: b.clone(), content_type: t.clone() }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<(), StorageError> {
        let now = crate::upstream::Transport::now(self);
        self.bucket.objects.borrow_mut().insert(key.into(), (bytes, content_type.map(Into::into), now));
        Ok(())
    }

    async fn delete(&self, keys: Vec<String>) -> Result<(), StorageError> {
        let mut objects = self.bucket.objects.borrow_mut();
        for k in keys {
            objects.remove(&k);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: u32) -> Result<Listing, StorageError> {
        let objects = self.bucket.objects.borrow();
        let matching: Vec<Listed> = objects
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && start_after.is_none_or(|a| k.as_str() > a))
            .map(|(k, (b, _, at))| Listed { key: k.clone(), size: b.len() as u64, uploaded: *at })
            .collect();
        let truncated = matching.len() > limit as usize;
        Ok(Listing { objects: matching.into_iter().take(limit as usize).collect(), truncated })
    }

    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        let objects = self.bucket.objects.borrow();
        let Some((bytes, _, _)) = objects.get(key) else { return Ok(None) };
        let body = match range {
            None => bytes.clone(),
            Some(r) => bytes[r.offset as usize..(r.offset + r.length) as usize].to_vec(),
        };
        Ok(Some((bytes.len() as u64, body)))
    }

    async fn put_stream(
        &self,
        key: &str,
        body: Vec<u8>,
        length: u64,
        algorithm: Algorithm,
    ) -> Result<String, StorageError> {
        if body.len() as u64 != length {
            return Err(StorageError("length mismatch".into()));
        }
        let hex = Digest::of_bytes(algorithm, &body).hex().to_string();
        ObjectStore::put(self, key, body, None).await?;
        Ok(hex)
    }

    async fn multipart_create(&self, key: &str) -> Result<String, StorageError> {
        let id = format!("mp-{}", self.unique_id());
        self.bucket.multipart.borrow_mut().insert(id.clone(), (key.to_string(), BTreeMap::new()));
        Ok(id)
    }

    async fn multipart_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: Vec<u8>,
        length: u64,
    ) -> Result<String, StorageError> {
        let mut uploads = self.bucket.multipart.borrow_mut();
        let (k, parts) = uploads.get_mut(upload_id).ok_or_else(|| StorageError("no such upload".into()))?;
        if k != key || body.len() as u64 != length {
            return Err(StorageError("bad part".into()));
        }
        parts.insert(number, body);
        Ok(format!("etag-{number}"))
    }

    async fn multipart_complete(&self, key: &str, upload_id: &str, parts: &[Part]) -> Result<(), StorageError> {
        let (k, stored) = self
            .bucket
            .multipart
            .borrow_mut()
            .remove(upload_id)
            .ok_or_else(|| StorageError("no such upload".into()))?;
        let sizes: Vec<u64> = parts.iter().map(|p| p.size).collect();
        let (last, rest) = sizes.split_last().ok_or_else(|| StorageError("no parts".into()))?;
        if k != key || rest.iter().any(|s| *s < MIN_CHUNK || *s != sizes[0]) || (!rest.is_empty() && *last > sizes[0]) {
            return Err(StorageError("R2 would refuse these part sizes".into()));
        }
        let mut bytes = Vec::new();
        for p in parts {
            bytes.extend(stored.get(&p.number).ok_or_else(|| StorageError("missing part".into()))?);
        }
        ObjectStore::put(self, key, bytes, None).await
    }

    async fn multipart_abort(&self, _key: &str, upload_id: &str) -> Result<(), StorageError> {
        self.bucket.multipart.borrow_mut().remove(upload_id);
        Ok(())
    }

    async fn digest(&self, key: &str, algorithm: Algorithm) -> Result<Option<(u64, String)>, StorageError> {
        Ok(self
            .bucket
            .objects
            .borrow()
            .get(key)
            .map(|(b, _, _)| (b.len() as u64, Digest::of_bytes(algorithm, b).hex().to_string())))
    }
}
