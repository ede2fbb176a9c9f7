//! The blob sizes an image manifest states (its config and layers), carried by the manifest's
//! pull event so that a blob download the edge redirects, whose bytes it never sees, is still
//! counted with its size (`events`, the consumer's `blob_sizes` table).

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::reference::Digest;

/// Most sizes one event carries: real images have tens of layers, and the event stays well
/// under a queue message's limit (about 90 bytes each).
pub const MAX_NOTED: usize = 128;

/// Largest size noted: exact as a JSON number and in D1's integer column.
const MAX_SIZE: u64 = (1 << 53) - 1;

/// One descriptor's digest and size, as the manifest states them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSize {
    pub digest: String,
    pub size: u64,
}

/// Manifest types whose descriptors are blobs (not indexes, whose entries are manifests).
pub fn lists_blobs(content_type: Option<&str>) -> bool {
    matches!(
        content_type.map(crate::manifest::essence).as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json" | "application/vnd.docker.distribution.manifest.v2+json")
    )
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct ImageManifest {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The config's and layers' sizes, each digest once, at most `MAX_NOTED`. Anything that is not
/// such a manifest, or a descriptor without a valid digest or size, gives nothing: a wrong
/// size must not be counted, and a missing one only leaves a redirect's bytes unknown.
pub fn of_manifest(bytes: &[u8]) -> Vec<BlobSize> {
    let Ok(manifest) = serde_json::from_slice::<ImageManifest>(bytes) else { return Vec::new() };
    let mut noted: Vec<BlobSize> = Vec::new();
    for d in manifest.config.into_iter().chain(manifest.layers) {
        if noted.len() == MAX_NOTED {
            break;
        }
        let valid = d.size <= MAX_SIZE && d.digest.parse::<Digest>().is_ok();
        if valid && !noted.iter().any(|n| n.digest == d.digest) {
            noted.push(BlobSize { digest: d.digest, size: d.size });
        }
    }
    noted
}

/// Manifests (app and digest) whose sizes an isolate already sent: their sizes do not change,
/// so a tag's manifest is read whole, rather than streamed, only the first time, and its later
/// events carry none. The consumer keeps sizes per app in D1; a new isolate sends them again.
#[derive(Debug, Default)]
pub struct Noted {
    seen: HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

/// Manifests an isolate remembers; the oldest are forgotten first (and would be sent again).
pub const MAX_REMEMBERED: usize = 4096;

impl Noted {
    pub fn contains(&self, app: &str, digest: &str) -> bool {
        self.seen.contains(&(app.to_string(), digest.to_string()))
    }

    pub fn insert(&mut self, app: &str, digest: &str) {
        let key = (app.to_string(), digest.to_string());
        if !self.seen.insert(key.clone()) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > MAX_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn sizes(list: &[(String, u64)]) -> Vec<BlobSize> {
        list.iter().map(|(digest, size)| BlobSize { digest: digest.clone(), size: *size }).collect()
    }

    #[test]
    fn image_manifests_list_their_config_and_layers() {
        let (config, a, b) = (digest('c'), digest('a'), digest('b'));
        let oci = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
                "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":1469}},
                "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{a}","size":3145728,
                            "annotations":{{"org.opencontainers.image.title":"a.tgz"}}}},
                          {{"digest":"{b}","size":0}},
                          {{"digest":"{a}","size":3145728}}]}}"#
        );
        assert_eq!(
            of_manifest(oci.as_bytes()),
            sizes(&[(config.clone(), 1469), (a.clone(), 3_145_728), (b.clone(), 0)])
        );
        // Docker schema 2 has the same shape.
        let docker = format!(r#"{{"schemaVersion":2,"config":{{"digest":"{config}","size":7}},"layers":[]}}"#);
        assert_eq!(of_manifest(docker.as_bytes()), sizes(&[(config, 7)]));
    }

    #[test]
    fn anything_else_lists_nothing() {
        let a = digest('a');
        for body in [
            String::new(),
            "not json".into(),
            "[]".into(),
            // An index: its entries are manifests, fetched (and counted) as manifests.
            format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{a}","size":500}}]}}"#),
            // A size that is not a size, or a layer whose digest is not a digest.
            format!(r#"{{"layers":[{{"digest":"{a}","size":-1}}]}}"#),
            format!(r#"{{"layers":[{{"digest":"{a}","size":"12"}}]}}"#),
            r#"{"layers":[{"digest":"sha256:short","size":12}]}"#.into(),
            format!(r#"{{"layers":[{{"digest":"{a}","size":9007199254740992}}]}}"#),
        ] {
            let listed = of_manifest(body.as_bytes());
            assert!(listed.is_empty(), "{body}: {listed:?}");
        }
    }

    #[test]
    fn at_most_max_noted_sizes() {
        let layers: Vec<String> =
            (0..MAX_NOTED + 5).map(|i| format!(r#"{{"digest":"sha256:{i:064x}","size":{i}}}"#)).collect();
        let body = format!(r#"{{"layers":[{}]}}"#, layers.join(","));
        let listed = of_manifest(body.as_bytes());
        assert_eq!(listed.len(), MAX_NOTED);
        assert_eq!(listed[MAX_NOTED - 1].size, (MAX_NOTED - 1) as u64);
    }

    #[test]
    fn an_isolate_remembers_the_newest_noted_manifests_per_app() {
        let mut noted = Noted::default();
        let d = digest('a');
        assert!(!noted.contains("demo", &d));
        noted.insert("demo", &d);
        noted.insert("demo", &d);
        assert!(noted.contains("demo", &d) && !noted.contains("other", &d), "per app");
        for i in 0..MAX_REMEMBERED {
            noted.insert("demo", &format!("sha256:{i:064x}"));
        }
        assert!(!noted.contains("demo", &d), "the oldest is forgotten first");
        assert!(noted.contains("demo", &format!("sha256:{:064x}", MAX_REMEMBERED - 1)));
        assert_eq!((noted.seen.len(), noted.order.len()), (MAX_REMEMBERED, MAX_REMEMBERED));
    }

    #[test]
    fn only_image_manifest_types_list_blobs() {
        for (content_type, want) in [
            (Some("application/vnd.oci.image.manifest.v1+json"), true),
            (Some("Application/Vnd.Docker.Distribution.Manifest.V2+json; charset=utf-8"), true),
            (Some("application/vnd.oci.image.index.v1+json"), false),
            (Some("application/vnd.docker.distribution.manifest.list.v2+json"), false),
            (Some("application/json"), false),
            (Some(""), false),
            (None, false),
        ] {
            assert_eq!(lists_blobs(content_type), want, "{content_type:?}");
        }
    }
}
