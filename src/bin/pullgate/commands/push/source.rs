//! What `pullgate push` uploads: an image read from an OCI layout (`index.json`, `blobs/<alg>/<hex>`)
//! or a skopeo `dir:` copy (`manifest.json`, blobs named by hex, children `<hex>.manifest.json`),
//! with every manifest's and blob's digest and size verified locally before anything is sent.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use pullgate::reference::{Algorithm, Digest};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};

use pullgate::upstream::MAX_MANIFEST_BYTES;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// An index of indexes of images is already unusual; deeper nesting is refused.
const MAX_DEPTH: usize = 4;

/// A blob to upload: where its bytes are and what they must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
    pub path: PathBuf,
}

/// A manifest to PUT, verified against its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Everything a push sends, in order: blobs, then manifests with children before their index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub blobs: Vec<Blob>,
    /// The last one is the top manifest (tagged).
    pub manifests: Vec<Manifest>,
}

impl Image {
    pub fn top(&self) -> Option<&Manifest> {
        self.manifests.last()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// Neither an OCI layout nor a `dir:` copy.
    NotAnImage(String),
    /// A docker-archive tarball: not read by this version.
    DockerArchive(String),
    Io {
        path: String,
        error: String,
    },
    Invalid {
        what: String,
        why: String,
    },
    /// The layout's index names several images and none is tagged with the target's tag.
    Ambiguous {
        tag: String,
        names: Vec<String>,
    },
    DigestMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    SizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::NotAnImage(p) => {
                write!(
                    f,
                    "{p} is neither an OCI layout (oci-layout, index.json) nor a skopeo dir: copy (manifest.json)"
                )
            }
            SourceError::DockerArchive(p) => write!(
                f,
                "{p} is a file: docker-archive tarballs are not read yet; convert it first with \
                 `skopeo copy docker-archive:{p} oci:DIR:TAG` and push DIR"
            ),
            SourceError::Io { path, error } => write!(f, "reading {path}: {error}"),
            SourceError::Invalid { what, why } => write!(f, "{what}: {why}"),
            SourceError::Ambiguous { tag, names } => write!(
                f,
                "index.json names several images and none is tagged {tag:?} (tags: {}); push one of those tags",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ),
            SourceError::DigestMismatch { path, expected, actual } => {
                write!(f, "{path} hashes to {actual}, not {expected}: the image on disk is corrupt")
            }
            SourceError::SizeMismatch { path, expected, actual } => {
                write!(f, "{path} has {actual} bytes, its descriptor says {expected}: the image on disk is corrupt")
            }
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Io { path: path.display().to_string(), error: e.to_string() }
}

fn invalid(what: impl Into<String>, why: impl Into<String>) -> SourceError {
    SourceError::Invalid { what: what.into(), why: why.into() }
}

/// The two on-disk shapes, which differ only in where a digest's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    OciLayout,
    SkopeoDir,
}

struct Reader<'a> {
    root: &'a Path,
    shape: Shape,
    image: Image,
}

impl Reader<'_> {
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        match self.shape {
            Shape::OciLayout => self.root.join("blobs").join(digest.algorithm().as_str()).join(digest.hex()),
            Shape::SkopeoDir => self.root.join(digest.hex()),
        }
    }

    /// A child manifest's bytes: skopeo's dir: keeps them as `<hex>.manifest.json`.
    fn manifest_path(&self, digest: &Digest) -> PathBuf {
        let named = self.root.join(format!("{}.manifest.json", digest.hex()));
        match self.shape {
            Shape::SkopeoDir if named.is_file() => named,
            _ => self.blob_path(digest),
        }
    }

    /// Reads the manifest `digest` (verified), then its blobs or children, children first.
    fn manifest(&mut self, digest: &Digest, media_type: Option<&str>, depth: usize) -> Result<(), SourceError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("manifest {digest}"), "indexes are nested too deeply"));
        }
        let path = self.manifest_path(digest);
        let bytes = read_small(&path)?;
        verify_bytes(&path, digest, &bytes)?;
        self.document(digest.clone(), media_type, bytes, depth)
    }

    fn document(
        &mut self,
        digest: Digest,
        media_type: Option<&str>,
        bytes: Vec<u8>,
        depth: usize,
    ) -> Result<(), SourceError> {
        let what = format!("manifest {digest}");
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(&what, format!("not JSON: {e}")))?;
        let declared = doc.get("mediaType").and_then(Value::as_str);
        let children = doc.get("manifests").and_then(Value::as_array);
        let media_type = match media_type.or(declared) {
            Some(m) => m.to_string(),
            None if children.is_some() => OCI_INDEX.to_string(),
            None => OCI_MANIFEST.to_string(),
        };
        if let Some(children) = children {
            for child in children {
                let (child_digest, child_type, _) = descriptor(child, &what)?;
                if !self.image.manifests.iter().any(|m| m.digest == child_digest) {
                    self.manifest(&child_digest, child_type.as_deref(), depth + 1)?;
                }
            }
        } else {
            let config = doc.get("config").ok_or_else(|| invalid(&what, "neither an index nor an image manifest"))?;
            let layers = doc.get("layers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for d in std::iter::once(config).chain(layers) {
                let (blob_digest, _, size) = descriptor(d, &what)?;
                if !self.image.blobs.iter().any(|b| b.digest == blob_digest) {
                    let path = self.blob_path(&blob_digest);
                    verify_file(&path, &blob_digest, size)?;
                    self.image.blobs.push(Blob { digest: blob_digest, size, path });
                }
            }
        }
        self.image.manifests.push(Manifest { digest, media_type, bytes });
        Ok(())
    }
}

/// A descriptor's digest, media type and size.
fn descriptor(d: &Value, within: &str) -> Result<(Digest, Option<String>, u64), SourceError> {
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(within, "a descriptor has no digest"))?
        .parse::<Digest>()
        .map_err(|e| invalid(within, e.to_string()))?;
    let size = d.get("size").and_then(Value::as_u64).ok_or_else(|| invalid(within, "a descriptor has no size"))?;
    let media_type = d.get("mediaType").and_then(Value::as_str).map(str::to_string);
    Ok((digest, media_type, size))
}

/// Reads the image at `root` that `tag` should name.
pub fn read(root: &Path, tag: &str) -> Result<Image, SourceError> {
    let shown = root.display().to_string();
    if root.is_file() {
        return Err(SourceError::DockerArchive(shown));
    }
    let empty = Image { blobs: Vec::new(), manifests: Vec::new() };
    if root.join("index.json").is_file() && root.join("oci-layout").is_file() {
        let mut reader = Reader { root, shape: Shape::OciLayout, image: empty };
        let index_path = root.join("index.json");
        let index: Value = serde_json::from_slice(&read_small(&index_path)?)
            .map_err(|e| invalid(index_path.display().to_string(), format!("not JSON: {e}")))?;
        let top = select(&index, tag)?;
        let (digest, media_type, size) = descriptor(top, "index.json")?;
        let path = reader.manifest_path(&digest);
        verify_file(&path, &digest, size)?;
        reader.manifest(&digest, media_type.as_deref(), 0)?;
        return Ok(reader.image);
    }
    if root.join("manifest.json").is_file() {
        let mut reader = Reader { root, shape: Shape::SkopeoDir, image: empty };
        let path = root.join("manifest.json");
        let bytes = read_small(&path)?;
        let digest = Digest::of_bytes(Algorithm::Sha256, &bytes);
        reader.document(digest, None, bytes, 0)?;
        return Ok(reader.image);
    }
    Err(SourceError::NotAnImage(shown))
}

/// The image of an OCI layout's index.json to push as `tag`: the only one, or the one tagged so.
fn select<'v>(index: &'v Value, tag: &str) -> Result<&'v Value, SourceError> {
    let entries = index.get("manifests").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let name = |d: &'v Value| d.get("annotations").and_then(|a| a.get(REF_NAME)).and_then(Value::as_str);
    match entries {
        [] => Err(invalid("index.json", "names no image")),
        [only] => Ok(only),
        _ => entries.iter().find(|d| name(*d) == Some(tag)).ok_or_else(|| SourceError::Ambiguous {
            tag: tag.to_string(),
            names: entries.iter().filter_map(name).map(str::to_string).collect(),
        }),
    }
}

fn read_small(path: &Path) -> Result<Vec<u8>, SourceError> {
    let file = File::open(path).map_err(|e| io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes).map_err(|e| io(path, e))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(invalid(path.display().to_string(), "larger than the 4 MiB a registry takes for a manifest"));
    }
    Ok(bytes)
}

fn verify_bytes(path: &Path, digest: &Digest, bytes: &[u8]) -> Result<(), SourceError> {
    if digest.matches(bytes) {
        return Ok(());
    }
    let actual = Digest::of_bytes(digest.algorithm(), bytes).to_string();
    Err(SourceError::DigestMismatch { path: path.display().to_string(), expected: digest.to_string(), actual })
}

/// Hashes the file as it streams (a layer is never held in memory) and checks its size.
pub fn verify_file(path: &Path, digest: &Digest, size: u64) -> Result<(), SourceError> {
    let (actual_size, actual) = hash_file(path, digest.algorithm())?;
    if actual_size != size {
        return Err(SourceError::SizeMismatch {
            path: path.display().to_string(),
            expected: size,
            actual: actual_size,
        });
    }
    if actual != *digest {
        let (path, expected, actual) = (path.display().to_string(), digest.to_string(), actual.to_string());
        return Err(SourceError::DigestMismatch { path, expected, actual });
    }
    Ok(())
}

fn hash_file(path: &Path, algorithm: Algorithm) -> Result<(u64, Digest), SourceError> {
    let mut file = File::open(path).map_err(|e| io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let (mut s256, mut s512) = (Sha256::new(), Sha512::new());
    loop {
        let n = file.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        let read = buf.get(..n).unwrap_or_default();
        match algorithm {
            Algorithm::Sha256 => s256.update(read),
            Algorithm::Sha512 => s512.update(read),
        }
        total += n as u64;
    }
    let hex = match algorithm {
        Algorithm::Sha256 => pullgate::keys::hex_encode(&s256.finalize()),
        Algorithm::Sha512 => pullgate::keys::hex_encode(&s512.finalize()),
    };
    let digest = format!("{algorithm}:{hex}")
        .parse::<Digest>()
        .map_err(|e| invalid(path.display().to_string(), e.to_string()))?;
    Ok((total, digest))
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
