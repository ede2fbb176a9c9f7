//! Reading OCI layouts and skopeo dir: copies: what is pushed, in which order, and every way a
//! corrupt or ambiguous source is refused before anything is sent.

use std::path::Path;

use pullgate::reference::{Algorithm, Digest};
use serde_json::json;

use super::*;
use crate::commands::test_support::temp_dir;

fn digest(bytes: &[u8]) -> Digest {
    Digest::of_bytes(Algorithm::Sha256, bytes)
}

fn put_blob(root: &Path, bytes: &[u8]) -> serde_json::Value {
    let d = digest(bytes);
    let dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(d.hex()), bytes).unwrap();
    json!({ "digest": d.to_string(), "size": bytes.len() })
}

/// An image manifest with a config and `layers`, stored as a blob; returns its descriptor.
fn put_image(root: &Path, layers: &[&[u8]]) -> serde_json::Value {
    let config = put_blob(root, b"{\"architecture\":\"amd64\",\"os\":\"linux\"}");
    let layers: Vec<_> = layers.iter().map(|l| put_blob(root, l)).collect();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": layers,
    });
    let mut d = put_blob(root, manifest.to_string().as_bytes());
    d["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    d
}

fn write_index(root: &Path, manifests: Vec<serde_json::Value>) {
    std::fs::write(root.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
    std::fs::write(root.join("index.json"), json!({ "schemaVersion": 2, "manifests": manifests }).to_string()).unwrap();
}

fn tagged(mut d: serde_json::Value, tag: &str) -> serde_json::Value {
    d["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    d
}

#[test]
fn an_oci_layout_image_lists_its_blobs_then_its_manifest() {
    let dir = temp_dir();
    let top = put_image(dir.path(), &[b"layer one", b"layer two", b"layer one"]);
    write_index(dir.path(), vec![top.clone()]);
    let image = read(dir.path(), "1.0").unwrap();
    assert_eq!(image.blobs.len(), 3, "config and two distinct layers");
    assert_eq!(image.blobs[1].digest, digest(b"layer one"));
    assert_eq!(image.blobs[1].size, 9);
    assert_eq!(image.manifests.len(), 1);
    let m = image.top().unwrap();
    assert_eq!(m.digest.to_string(), top["digest"].as_str().unwrap());
    assert_eq!(m.media_type, "application/vnd.oci.image.manifest.v1+json");
}

#[test]
fn an_index_pushes_its_children_first() {
    let dir = temp_dir();
    let amd = put_image(dir.path(), &[b"amd64 layer"]);
    let arm = put_image(dir.path(), &[b"arm64 layer"]);
    let index = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd, arm],
    });
    let mut top = put_blob(dir.path(), index.to_string().as_bytes());
    top["mediaType"] = json!("application/vnd.oci.image.index.v1+json");
    write_index(dir.path(), vec![tagged(top.clone(), "multi")]);
    let image = read(dir.path(), "multi").unwrap();
    let order: Vec<String> = image.manifests.iter().map(|m| m.digest.to_string()).collect();
    assert_eq!(order, [&amd["digest"], &arm["digest"], &top["digest"]].map(|d| d.as_str().unwrap().to_string()));
    assert_eq!(image.blobs.len(), 3, "one shared config and a layer each");
    assert_eq!(image.top().unwrap().media_type, "application/vnd.oci.image.index.v1+json");
}

#[test]
fn several_images_are_told_apart_by_their_tag() {
    let dir = temp_dir();
    let a = put_image(dir.path(), &[b"a"]);
    let b = put_image(dir.path(), &[b"b"]);
    write_index(dir.path(), vec![tagged(a, "a"), tagged(b.clone(), "b")]);
    assert_eq!(read(dir.path(), "b").unwrap().top().unwrap().digest.to_string(), b["digest"].as_str().unwrap());
    match read(dir.path(), "c") {
        Err(SourceError::Ambiguous { tag, names }) => {
            assert_eq!(tag, "c");
            assert_eq!(names, ["a", "b"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_sources_are_refused() {
    // A layer whose bytes changed after the manifest was written.
    let dir = temp_dir();
    let top = put_image(dir.path(), &[b"original"]);
    write_index(dir.path(), vec![top]);
    std::fs::write(dir.path().join("blobs/sha256").join(digest(b"original").hex()), b"tampered").unwrap();
    assert!(matches!(read(dir.path(), "x"), Err(SourceError::DigestMismatch { .. })), "{:?}", read(dir.path(), "x"));

    // A descriptor whose size disagrees with the file.
    let dir = temp_dir();
    let mut top = put_image(dir.path(), &[b"layer"]);
    top["size"] = json!(3);
    write_index(dir.path(), vec![top]);
    assert!(matches!(read(dir.path(), "x"), Err(SourceError::SizeMismatch { expected: 3, .. })));

    // A missing layer, a non-JSON index, an empty index, a plain directory, a file.
    let dir = temp_dir();
    let top = put_image(dir.path(), &[b"gone"]);
    write_index(dir.path(), vec![top]);
    std::fs::remove_file(dir.path().join("blobs/sha256").join(digest(b"gone").hex())).unwrap();
    assert!(matches!(read(dir.path(), "x"), Err(SourceError::Io { .. })));
    std::fs::write(dir.path().join("index.json"), "{").unwrap();
    assert!(matches!(read(dir.path(), "x"), Err(SourceError::Invalid { .. })));
    write_index(dir.path(), vec![]);
    assert!(matches!(read(dir.path(), "x"), Err(SourceError::Invalid { .. })));
    let empty = temp_dir();
    assert!(matches!(read(empty.path(), "x"), Err(SourceError::NotAnImage(_))));
    let file = empty.path().join("image.tar");
    std::fs::write(&file, b"tar").unwrap();
    let refused = read(&file, "x").unwrap_err();
    assert!(matches!(refused, SourceError::DockerArchive(_)));
    assert!(refused.to_string().contains("skopeo copy docker-archive:"), "{refused}");
}

#[test]
fn a_skopeo_dir_copy_reads_manifest_json_and_hex_named_blobs() {
    let dir = temp_dir();
    let root = dir.path();
    let config = b"{\"os\":\"linux\"}";
    let layer = b"docker layer bytes";
    for bytes in [&config[..], &layer[..]] {
        std::fs::write(root.join(digest(bytes).hex()), bytes).unwrap();
    }
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest(config).to_string(), "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": digest(layer).to_string(), "size": layer.len() }],
    })
    .to_string();
    std::fs::write(root.join("manifest.json"), &manifest).unwrap();
    std::fs::write(root.join("version"), "Directory Transport Version: 1.1\n").unwrap();
    let image = read(root, "1").unwrap();
    assert_eq!(image.blobs.iter().map(|b| b.digest.clone()).collect::<Vec<_>>(), [digest(config), digest(layer)]);
    let top = image.top().unwrap();
    assert_eq!(top.digest, digest(manifest.as_bytes()));
    assert_eq!(top.media_type, "application/vnd.docker.distribution.manifest.v2+json");
}
