//! Where the hosted registry keeps things in its R2 bucket, per app:
//!
//! ```text
//! <app>/blobs/<alg>/<hex>                       BlobRecord: a blob stored once per app
//! <app>/data/<id>                               the blob's bytes (an upload's id names them)
//! <app>/repos/<repo>/_links/<alg>/<hex>         BlobRecord copy: the repository may serve the blob
//! <app>/repos/<repo>/_manifests/<alg>/<hex>     manifest bytes, content type = media type
//! <app>/repos/<repo>/_tags/<tag>                the tag's digest (text)
//! <app>/repos/<repo>/_referrers/<alg>/<hex>/<digest>  Descriptor of a manifest whose subject is <alg>:<hex>
//! <app>/uploads/<id>                            UploadState of an open upload session
//! ```
//! Repository components start with a letter or digit, so `_links` and friends never collide
//! with a nested repository. R2 reads after writes are strongly consistent: a tag pushed is
//! pullable at once everywhere (KV's 60 s propagation would not do).

use serde::{Deserialize, Serialize};

use crate::reference::Digest;

pub fn blob(app: &str, digest: &Digest) -> String {
    format!("{app}/blobs/{}/{}", digest.algorithm(), digest.hex())
}

pub fn blobs_prefix(app: &str) -> String {
    format!("{app}/blobs/")
}

pub fn data(app: &str, id: &str) -> String {
    format!("{app}/data/{id}")
}

pub fn data_prefix(app: &str) -> String {
    format!("{app}/data/")
}

pub fn repos_prefix(app: &str) -> String {
    format!("{app}/repos/")
}

fn repo_dir(app: &str, repo: &str) -> String {
    format!("{app}/repos/{repo}")
}

pub fn link(app: &str, repo: &str, digest: &Digest) -> String {
    format!("{}/_links/{}/{}", repo_dir(app, repo), digest.algorithm(), digest.hex())
}

pub fn manifest(app: &str, repo: &str, digest: &Digest) -> String {
    format!("{}/_manifests/{}/{}", repo_dir(app, repo), digest.algorithm(), digest.hex())
}

pub fn tags_prefix(app: &str, repo: &str) -> String {
    format!("{}/_tags/", repo_dir(app, repo))
}

pub fn tag(app: &str, repo: &str, tag: &str) -> String {
    format!("{}{tag}", tags_prefix(app, repo))
}

pub fn referrers_prefix(app: &str, repo: &str, subject: &Digest) -> String {
    format!("{}/_referrers/{}/{}/", repo_dir(app, repo), subject.algorithm(), subject.hex())
}

pub fn referrer(app: &str, repo: &str, subject: &Digest, digest: &Digest) -> String {
    format!("{}{digest}", referrers_prefix(app, repo, subject))
}

pub fn upload(app: &str, id: &str) -> String {
    format!("{app}/uploads/{id}")
}

pub fn uploads_prefix(app: &str) -> String {
    format!("{app}/uploads/")
}

/// The repository and kind of a key under `<app>/repos/`: (repo, "_links" | "_manifests" | …).
pub fn split_repo_key<'a>(app: &str, key: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = key.strip_prefix(app)?.strip_prefix("/repos/")?;
    for kind in ["/_links/", "/_manifests/", "/_tags/", "/_referrers/"] {
        if let Some((repo, tail)) = rest.split_once(kind) {
            return Some((repo, kind.trim_matches('/'), tail));
        }
    }
    None
}

/// A stored blob: where its bytes are and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    pub data: String,
    pub size: u64,
    /// Unix seconds it was stored; gc never collects a blob younger than its grace period.
    #[serde(default)]
    pub at: i64,
}

/// What the app's hosted registry holds, kept with each write (gc recounts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Usage {
    pub bytes: u64,
}

pub fn usage(app: &str) -> String {
    format!("{app}/usage")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_keys_split_back() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().unwrap();
        let k = link("demo", "team/app", &d);
        assert_eq!(split_repo_key("demo", &k), Some(("team/app", "_links", &k[k.len() - 71..])));
        assert_eq!(split_repo_key("demo", &tag("demo", "a/b", "v1")), Some(("a/b", "_tags", "v1")));
        assert_eq!(split_repo_key("other", &k), None);
    }
}
