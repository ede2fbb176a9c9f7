//! The push API's routes and the headers it parses from clients: `Range` on blob reads and
//! `Content-Range` on upload chunks. Pure; `crate::route` sends every write verb here.

use crate::reference::{Digest, Name, Reference};
use crate::route::{Method, RouteError};

use super::objects::ByteRange;

/// A write (or upload-status) request of the OCI push API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRoute {
    /// `POST /v2/<name>/blobs/uploads/` (`?digest=` monolithic, `?mount=&from=` mount).
    StartUpload { name: Name },
    /// `GET|PATCH|PUT|DELETE /v2/<name>/blobs/uploads/<id>`.
    Upload { name: Name, id: String, verb: UploadVerb },
    /// `PUT /v2/<name>/manifests/<reference>`.
    PutManifest { name: Name, reference: Reference },
    /// `DELETE /v2/<name>/manifests/<reference>`.
    DeleteManifest { name: Name, reference: Reference },
    /// `DELETE /v2/<name>/blobs/<digest>`.
    DeleteBlob { name: Name, digest: Digest },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadVerb {
    Status,
    Chunk,
    Close,
    Cancel,
}

impl PushRoute {
    pub fn name(&self) -> &Name {
        match self {
            PushRoute::StartUpload { name }
            | PushRoute::Upload { name, .. }
            | PushRoute::PutManifest { name, .. }
            | PushRoute::DeleteManifest { name, .. }
            | PushRoute::DeleteBlob { name, .. } => name,
        }
    }

    /// Action and reference, for the access log.
    pub fn describe(&self) -> (&'static str, Option<String>) {
        match self {
            PushRoute::StartUpload { .. } => ("upload", None),
            PushRoute::Upload { id, .. } => ("upload", Some(id.clone())),
            PushRoute::PutManifest { reference, .. } => ("push_manifest", Some(reference.to_string())),
            PushRoute::DeleteManifest { reference, .. } => ("delete_manifest", Some(reference.to_string())),
            PushRoute::DeleteBlob { digest, .. } => ("delete_blob", Some(digest.to_string())),
        }
    }
}

/// Longest upload id we hand out or accept.
pub const MAX_UPLOAD_ID_LEN: usize = 64;

fn valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_UPLOAD_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Routes `rest` (the decoded path after `/v2/`) for a write verb, or a GET/HEAD of an upload.
/// `None` when the path is not an upload and the verb is a read (the pull routes decide).
pub fn parse(method: Method, rest: &str) -> Option<Result<PushRoute, RouteError>> {
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        let verb = match method {
            Method::Get | Method::Head => UploadVerb::Status,
            Method::Patch => UploadVerb::Chunk,
            Method::Put => UploadVerb::Close,
            Method::Delete => UploadVerb::Cancel,
            Method::Post if id.is_empty() => {
                return Some(name.parse().map(|name| PushRoute::StartUpload { name }).map_err(Into::into))
            }
            _ => return Some(Err(RouteError::MethodNotAllowed)),
        };
        if !valid_upload_id(id) {
            return Some(Err(RouteError::NoSuchEndpoint));
        }
        return Some(name.parse().map(|name| PushRoute::Upload { name, id: id.to_string(), verb }).map_err(Into::into));
    }
    if matches!(method, Method::Get | Method::Head) {
        return None;
    }
    let parsed = (|| {
        if let Some((name, tail)) = rest.rsplit_once("/manifests/") {
            if !tail.contains('/') {
                let name: Name = name.parse()?;
                let reference: Reference = tail.parse()?;
                return match method {
                    Method::Put => Ok(PushRoute::PutManifest { name, reference }),
                    Method::Delete => Ok(PushRoute::DeleteManifest { name, reference }),
                    _ => Err(RouteError::MethodNotAllowed),
                };
            }
        }
        if let Some((name, tail)) = rest.rsplit_once("/blobs/") {
            if !tail.contains('/') {
                let name: Name = name.parse()?;
                let digest: Digest = tail.parse()?;
                return match method {
                    Method::Delete => Ok(PushRoute::DeleteBlob { name, digest }),
                    _ => Err(RouteError::MethodNotAllowed),
                };
            }
        }
        Err(RouteError::NoSuchEndpoint)
    })();
    Some(parsed)
}

/// Why a `Range` or `Content-Range` was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// Not a single byte range in the header's syntax.
    Malformed,
    /// Well-formed, but no byte of it lies within the blob.
    Unsatisfiable,
}

/// A decimal byte position: digits only (no sign), within `u64`.
fn position(s: &str) -> Result<u64, RangeError> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Malformed);
    }
    s.parse().map_err(|_| RangeError::Malformed)
}

/// A client's `Range` on a blob of `size` bytes: `bytes=a-b`, `bytes=a-` or `bytes=-n` (one
/// range only). `Ok(None)` without a header; `Err` when malformed or unsatisfiable (both 416).
pub fn blob_range(header: Option<&str>, size: u64) -> Result<Option<ByteRange>, RangeError> {
    let Some(value) = header.map(str::trim) else { return Ok(None) };
    let spec = value.strip_prefix("bytes=").ok_or(RangeError::Malformed)?.trim();
    if spec.contains(',') {
        return Err(RangeError::Malformed);
    }
    let (start, end) = spec.split_once('-').ok_or(RangeError::Malformed)?;
    let (offset, last) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n = position(suffix)?.min(size);
            if n == 0 {
                return Err(RangeError::Unsatisfiable);
            }
            (size - n, size - 1)
        }
        (a, "") => (position(a)?, size.saturating_sub(1)),
        (a, b) => {
            let (a, b) = (position(a)?, position(b)?);
            if b < a {
                return Err(RangeError::Malformed);
            }
            (a, b.min(size.saturating_sub(1)))
        }
    };
    if offset >= size || last < offset {
        return Err(RangeError::Unsatisfiable);
    }
    Ok(Some(ByteRange { offset, length: last - offset + 1 }))
}

/// An upload chunk's `Content-Range: <start>-<end>` (inclusive; distribution also takes a
/// `bytes ` prefix and a `/<total>` suffix). `Err` when malformed.
pub fn content_range(value: &str) -> Result<(u64, u64), RangeError> {
    let v = value.trim();
    let v = v.strip_prefix("bytes ").or_else(|| v.strip_prefix("bytes=")).unwrap_or(v);
    let v = v.split_once('/').map_or(v, |(range, _)| range);
    let (a, b) = v.split_once('-').ok_or(RangeError::Malformed)?;
    let (start, end) = (position(a.trim())?, position(b.trim())?);
    if end < start {
        return Err(RangeError::Malformed);
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn routes_push_requests() {
        let n = |s: &str| s.parse::<Name>().unwrap();
        for (method, rest, want) in [
            (
                Method::Post,
                "proxy/a/hosted/x/blobs/uploads/",
                Ok(PushRoute::StartUpload { name: n("proxy/a/hosted/x") }),
            ),
            (
                Method::Patch,
                "h/x/blobs/uploads/abc-1",
                Ok(PushRoute::Upload { name: n("h/x"), id: "abc-1".into(), verb: UploadVerb::Chunk }),
            ),
            (
                Method::Get,
                "h/x/blobs/uploads/abc",
                Ok(PushRoute::Upload { name: n("h/x"), id: "abc".into(), verb: UploadVerb::Status }),
            ),
            (
                Method::Put,
                "h/x/manifests/v1",
                Ok(PushRoute::PutManifest { name: n("h/x"), reference: "v1".parse().unwrap() }),
            ),
            (
                Method::Delete,
                &format!("h/x/blobs/{D}"),
                Ok(PushRoute::DeleteBlob { name: n("h/x"), digest: D.parse().unwrap() }),
            ),
            (Method::Put, &format!("h/x/blobs/{D}"), Err(RouteError::MethodNotAllowed)),
            (Method::Post, "h/x/blobs/uploads/abc", Err(RouteError::MethodNotAllowed)),
            (Method::Patch, "h/x/blobs/uploads/a.b", Err(RouteError::NoSuchEndpoint)),
            (Method::Put, "h/x/tags/list", Err(RouteError::NoSuchEndpoint)),
        ] {
            assert_eq!(parse(method, rest), Some(want), "{method:?} {rest}");
        }
        assert_eq!(parse(Method::Get, "h/x/manifests/v1"), None);
    }

    #[test]
    fn blob_ranges() {
        let r = |o, l| Ok(Some(ByteRange { offset: o, length: l }));
        for (header, want) in [
            (None, Ok(None)),
            (Some("bytes=0-9"), r(0, 10)),
            (Some("bytes=5-"), r(5, 5)),
            (Some("bytes=-3"), r(7, 3)),
            (Some("bytes=-30"), r(0, 10)),
            (Some("bytes=2-100"), r(2, 8)),
            (Some("bytes=10-"), Err(RangeError::Unsatisfiable)),
            (Some("bytes=10-12"), Err(RangeError::Unsatisfiable)),
            (Some("bytes=5-2"), Err(RangeError::Malformed)),
            (Some("bytes=-0"), Err(RangeError::Unsatisfiable)),
            (Some("bytes=0-1,3-4"), Err(RangeError::Malformed)),
            (Some("items=0-1"), Err(RangeError::Malformed)),
            (Some("bytes=+1-2"), Err(RangeError::Malformed)),
            (Some("bytes=99999999999999999999999-"), Err(RangeError::Malformed)),
        ] {
            assert_eq!(blob_range(header, 10), want, "{header:?}");
        }
    }

    #[test]
    fn content_ranges() {
        for (value, want) in [
            ("0-99", Ok((0, 99))),
            ("bytes 100-199/*", Ok((100, 199))),
            ("5-4", Err(RangeError::Malformed)),
            ("-4", Err(RangeError::Malformed)),
            ("a-b", Err(RangeError::Malformed)),
        ] {
            assert_eq!(content_range(value), want, "{value}");
        }
    }
}
