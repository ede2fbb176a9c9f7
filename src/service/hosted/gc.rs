//! Garbage collection of an app's hosted registry, as a pure decision over a snapshot of its
//! objects (key, size, upload time, and the bodies of tags, manifests, blob records and upload
//! sessions): what no tag reaches is deleted, unless it was written within the grace period.
//!
//! ```text
//! per repository: tags → manifests → (index) child manifests, (subject) their referrers → blobs linked
//! app-wide:       blob records no kept link names → record and data; data no record or session names
//! uploads:        sessions older than the grace period → aborted, with their data
//! ```
//! Anything written within `min_age` is kept, and so is everything it reaches: a push still
//! running (its blobs, its child manifests) is never collected from under it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::reference::Digest;

use super::layout::{self, BlobRecord};
use super::manifests;
use super::uploads::UploadState;

/// One object of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub size: u64,
    /// Unix seconds it was written.
    pub uploaded: i64,
    /// The body, for the records the decision reads (see `wants_body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Whether the decision needs the body of the object at `key` (tags, manifests, blob records,
/// upload sessions); links, referrer entries and data are decided by key alone.
pub fn wants_body(app: &str, key: &str) -> bool {
    match layout::split_repo_key(app, key) {
        Some((_, kind, _)) => matches!(kind, "_tags" | "_manifests"),
        None => key.starts_with(&layout::blobs_prefix(app)) || key.starts_with(&layout::uploads_prefix(app)),
    }
}

/// An upload session to abort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abort {
    pub key: String,
    pub data: String,
    pub multipart: String,
}

/// What gc does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Keys to delete, grouped so that nothing kept ever points at a deleted key first: repository
    /// entries (tags never; manifests, referrer entries, links), then blob records, then data.
    pub delete: Vec<String>,
    pub aborts: Vec<Abort>,
    /// Bytes of blobs and manifests deleted.
    pub freed: u64,
    /// Bytes of blobs and manifests kept: the app's usage after gc.
    pub kept: u64,
    pub manifests_deleted: usize,
    pub blobs_deleted: usize,
}

#[derive(Default)]
struct Repo<'a> {
    tags: Vec<&'a Entry>,
    manifests: BTreeMap<String, &'a Entry>,
    links: BTreeMap<String, &'a Entry>,
    /// (subject digest, referrer digest, entry)
    referrers: Vec<(String, String, &'a Entry)>,
}

/// `<alg>/<hex>` (a layout key tail) as a digest string.
fn tail_digest(tail: &str) -> Option<String> {
    let (alg, hex) = tail.split_once('/')?;
    format!("{alg}:{hex}").parse::<Digest>().ok().map(|d| d.to_string())
}

/// Decides what to collect of `app` at `now`, keeping whatever is younger than `min_age` seconds.
pub fn plan(app: &str, entries: &[Entry], now: i64, min_age: i64) -> Plan {
    let young = |e: &Entry| now.saturating_sub(e.uploaded) < min_age;
    let mut repos: BTreeMap<&str, Repo> = BTreeMap::new();
    let (mut blobs, mut data, mut uploads) = (Vec::new(), Vec::new(), Vec::new());
    for e in entries {
        if let Some((repo, kind, tail)) = layout::split_repo_key(app, &e.key) {
            let r = repos.entry(repo).or_default();
            match kind {
                "_tags" => r.tags.push(e),
                "_manifests" => {
                    if let Some(d) = tail_digest(tail) {
                        r.manifests.insert(d, e);
                    }
                }
                "_links" => {
                    if let Some(d) = tail_digest(tail) {
                        r.links.insert(d, e);
                    }
                }
                _ => {
                    // `<alg>/<hex>/<alg>:<hex>`
                    let mut parts = tail.rsplitn(2, '/');
                    if let (Some(referrer), Some(subject)) = (parts.next(), parts.next()) {
                        if let (Some(s), Ok(r2)) = (tail_digest(subject), referrer.parse::<Digest>()) {
                            r.referrers.push((s, r2.to_string(), e));
                        }
                    }
                }
            }
        } else if e.key.starts_with(&layout::blobs_prefix(app)) {
            blobs.push(e);
        } else if e.key.starts_with(&layout::data_prefix(app)) {
            data.push(e);
        } else if e.key.starts_with(&layout::uploads_prefix(app)) {
            uploads.push(e);
        }
    }

    let mut out = Plan::default();
    let mut linked: BTreeSet<String> = BTreeSet::new();
    for r in repos.values() {
        let (kept_manifests, kept_blobs) = mark(r, &young);
        for (digest, e) in &r.manifests {
            if kept_manifests.contains(digest) {
                out.kept += e.size;
            } else {
                out.delete.push(e.key.clone());
                out.freed += e.size;
                out.manifests_deleted += 1;
            }
        }
        for (_, referrer, e) in &r.referrers {
            if !kept_manifests.contains(referrer) {
                out.delete.push(e.key.clone());
            }
        }
        for (digest, e) in &r.links {
            if kept_blobs.contains(digest) || young(e) {
                linked.insert(digest.clone());
            } else {
                out.delete.push(e.key.clone());
            }
        }
    }

    let mut kept_data: BTreeSet<String> = BTreeSet::new();
    let mut doomed_data = Vec::new();
    for e in blobs {
        let Some(digest) = e.key.strip_prefix(&layout::blobs_prefix(app)).and_then(tail_digest) else { continue };
        let record = e.body.as_deref().and_then(|b| serde_json::from_str::<BlobRecord>(b).ok());
        if linked.contains(&digest) || young(e) || record.is_none() {
            // A record that does not parse is kept with its data: gc deletes only what it understands.
            if let Some(r) = &record {
                out.kept += r.size;
                kept_data.insert(r.data.clone());
            }
            continue;
        }
        if let Some(r) = record {
            out.delete.push(e.key.clone());
            out.freed += r.size;
            out.blobs_deleted += 1;
            doomed_data.push(r.data);
        }
    }
    for e in uploads {
        let Some(state) = e.body.as_deref().and_then(|b| serde_json::from_str::<UploadState>(b).ok()) else {
            continue;
        };
        if young(e) || now.saturating_sub(state.started) < min_age {
            kept_data.insert(state.data);
        } else {
            out.aborts.push(Abort { key: e.key.clone(), data: state.data, multipart: state.multipart });
        }
    }
    let aborted: BTreeSet<&str> = out.aborts.iter().map(|a| a.data.as_str()).collect();
    for key in doomed_data {
        if !kept_data.contains(&key) && !aborted.contains(key.as_str()) {
            out.delete.push(key);
        }
    }
    // Data no record or session names: a monolithic upload that failed after writing it.
    let named: BTreeSet<&str> = out.delete.iter().map(String::as_str).collect();
    let orphans: Vec<String> = data
        .iter()
        .filter(|e| !young(e) && !kept_data.contains(&e.key) && !aborted.contains(e.key.as_str()))
        .filter(|e| !named.contains(e.key.as_str()))
        .map(|e| e.key.clone())
        .collect();
    out.delete.extend(orphans);
    // Whatever points at it, an object written within the grace period stays.
    let young_keys: BTreeSet<&str> = entries.iter().filter(|e| young(e)).map(|e| e.key.as_str()).collect();
    out.delete.retain(|k| !young_keys.contains(k.as_str()));
    out
}

/// Bytes each hosted repository holds (its manifests and the blobs it links; a blob linked into
/// two repositories counts in both), from a snapshot with bodies, in key order.
pub fn repo_sizes(app: &str, entries: &[Entry]) -> Vec<(String, u64)> {
    let blob_sizes: BTreeMap<String, u64> = entries
        .iter()
        .filter_map(|e| {
            let digest = e.key.strip_prefix(&layout::blobs_prefix(app)).and_then(tail_digest)?;
            let record = serde_json::from_str::<BlobRecord>(e.body.as_deref()?).ok()?;
            Some((digest, record.size))
        })
        .collect();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for e in entries {
        let Some((repo, kind, tail)) = layout::split_repo_key(app, &e.key) else { continue };
        let add = match kind {
            "_manifests" => e.size,
            "_links" => tail_digest(tail).and_then(|d| blob_sizes.get(&d).copied()).unwrap_or(0),
            _ => 0,
        };
        *sizes.entry(repo.to_string()).or_default() += add;
    }
    sizes.into_iter().collect()
}

/// The manifests and blobs a repository keeps: what its tags reach, and what is young.
fn mark(r: &Repo<'_>, young: &impl Fn(&Entry) -> bool) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut work: Vec<String> = r.tags.iter().filter_map(|t| t.body.as_deref()).map(|b| b.trim().to_string()).collect();
    work.extend(r.manifests.iter().filter(|(_, e)| young(e)).map(|(d, _)| d.clone()));
    let (mut kept, mut blobs) = (BTreeSet::new(), BTreeSet::new());
    while let Some(digest) = work.pop() {
        let Some(e) = r.manifests.get(&digest) else { continue };
        if !kept.insert(digest.clone()) {
            continue;
        }
        work.extend(r.referrers.iter().filter(|(s, _, _)| *s == digest).map(|(_, d, _)| d.clone()));
        // A manifest that does not parse keeps nothing else (the registry never stored one).
        let Some(parsed) = e.body.as_deref().and_then(|b| manifests::parse(b.as_bytes()).ok()) else { continue };
        work.extend(parsed.manifests.iter().map(|d| d.digest.clone()));
        blobs.extend(parsed.config.iter().chain(&parsed.layers).chain(&parsed.blobs).map(|d| d.digest.clone()));
    }
    (kept, blobs)
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
