//! pullgate's own registry on R2: vendors push, customers pull with their license. The hosted
//! registry is an upstream of the app like any other (`UpstreamRecord::hosted`), so names,
//! entitlements and the access log are the proxy's; only where the bytes come from differs.
//!
//! ```text
//! layout     R2 key layout and the records stored there
//! objects    the storage trait (the Worker's R2 binding, or a map in tests)
//! route      push API routes; Range and Content-Range parsing
//! auth       who may push (push tokens only, never a license)
//! token      the token endpoint's grant for a push token
//! uploads    blob uploads: monolithic, chunked into R2 multipart parts, mount, status, cancel
//! manifests  manifest PUT (references checked), GET, DELETE; tags; referrers
//! serve      blob reads (streamed, with Range), blob delete
//! admin      the CLI's channel to R2 (object pages, deletes) for gc and app show
//! gc         what garbage collection deletes, decided over a snapshot of the app's objects
//! ```

pub mod admin;
pub mod auth;
pub mod gc;
pub mod layout;
pub mod manifests;
pub mod objects;
pub mod route;
pub mod serve;
pub mod token;
pub mod uploads;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RegistryError;
use crate::push_token::PushTokenError;

use super::reply::Reply;
use super::{Ctx, Runtime};
use auth::Action;
use objects::StorageError;
use route::{PushRoute, UploadVerb};

/// The `[vars]` entry bounding one request body of a push (bytes): the Workers plan's limit.
pub const BODY_LIMIT_VAR: &str = "HOSTED_BODY_LIMIT";
/// 100 MB: the Free and Pro plans' request body limit.
pub const DEFAULT_BODY_LIMIT: u64 = 100_000_000;
/// R2's smallest multipart part (all parts but the last are at least this, and equal).
pub const MIN_CHUNK: u64 = 5 * 1024 * 1024;

/// Why a hosted-registry request failed. `error.rs` maps each to its status and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostedError {
    /// A push token that is malformed, forged, expired or revoked.
    PushToken(PushTokenError),
    /// A license (or a token from one) on a push or delete.
    LicenseCannotPush,
    /// A push token used on another app's custom domain.
    WrongRegistry {
        host: String,
    },
    /// A push token of one app for another app's repository.
    WrongApp {
        app: String,
        asked: String,
    },
    /// The repository is outside the push token's patterns (or delete was not granted).
    OutsideToken {
        name: String,
    },
    /// A push to a proxied (not hosted) upstream.
    NotHosted {
        upstream: String,
    },
    BlobUnknown {
        digest: String,
    },
    ManifestUnknown {
        reference: String,
    },
    /// A manifest names a blob or child manifest the repository does not have.
    ManifestBlobUnknown {
        digest: String,
    },
    ManifestInvalid(String),
    UploadUnknown,
    /// The uploaded bytes do not hash to the digest given on close.
    DigestMismatch {
        expected: String,
        actual: String,
    },
    /// A `digest` query parameter that is not a digest, or missing on close.
    DigestParam(String),
    /// A request body over the deployment's limit.
    BodyTooLarge {
        length: u64,
        limit: u64,
    },
    /// A blob chunk without `Content-Length` (R2 takes only streams of known length).
    LengthRequired,
    /// A manifest over 4 MiB.
    ManifestTooLarge,
    /// The app's storage quota would be exceeded.
    Quota {
        used: u64,
        quota: u64,
    },
    /// The admin channel with a token that is not a short-lived admin token.
    NotAdmin,
    /// An admin request that is malformed, too big, or names another app's keys.
    AdminRequest,
    /// R2 did not answer; logged, never shown.
    Storage(String),
}

impl From<StorageError> for HostedError {
    fn from(e: StorageError) -> Self {
        HostedError::Storage(e.0)
    }
}

impl From<StorageError> for RegistryError {
    fn from(e: StorageError) -> Self {
        HostedError::from(e).into()
    }
}

/// The deployment's body limit for one push request.
pub fn body_limit<R: Runtime>(cx: &Ctx<'_, R>) -> u64 {
    cx.rt.var(BODY_LIMIT_VAR).and_then(|v| v.trim().parse().ok()).filter(|n| *n > 0).unwrap_or(DEFAULT_BODY_LIMIT)
}

/// Reads a JSON record; a record that does not parse is storage corruption.
pub async fn get_json<R: Runtime, T: DeserializeOwned>(cx: &Ctx<'_, R>, key: &str) -> Result<Option<T>, RegistryError> {
    match cx.rt.get(key).await? {
        None => Ok(None),
        Some(stored) => serde_json::from_slice(&stored.bytes)
            .map(Some)
            .map_err(|e| RegistryError::internal(format!("r2 record {key} is malformed: {e}"))),
    }
}

pub async fn put_json<R: Runtime, T: Serialize>(cx: &Ctx<'_, R>, key: &str, value: &T) -> Result<(), RegistryError> {
    let bytes = serde_json::to_vec(value).map_err(|e| RegistryError::internal(format!("json {key}: {e}")))?;
    Ok(cx.rt.put(key, bytes, Some("application/json")).await?)
}

/// Handles a push API request.
pub async fn push<R: Runtime>(cx: &Ctx<'_, R>, route: PushRoute) -> Result<Reply<R::Body>, RegistryError> {
    match route {
        PushRoute::StartUpload { name } => uploads::start(auth::authorize(cx, name, Action::Push).await?).await,
        PushRoute::Upload { name, id, verb } => {
            let push = auth::authorize(cx, name, Action::Push).await?;
            match verb {
                UploadVerb::Status => uploads::status(push, &id).await,
                UploadVerb::Chunk => uploads::chunk(push, &id).await,
                UploadVerb::Close => uploads::close(push, &id).await,
                UploadVerb::Cancel => uploads::cancel(push, &id).await,
            }
        }
        PushRoute::PutManifest { name, reference } => {
            manifests::put(auth::authorize(cx, name, Action::Push).await?, reference).await
        }
        PushRoute::DeleteManifest { name, reference } => {
            manifests::delete(auth::authorize(cx, name, Action::Delete).await?, reference).await
        }
        PushRoute::DeleteBlob { name, digest } => {
            serve::delete_blob(auth::authorize(cx, name, Action::Delete).await?, digest).await
        }
    }
}
