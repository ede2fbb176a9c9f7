#!/usr/bin/env python3
"""Builds the deterministic demo images, pushes them to the open demo upstream, and writes images.json.

Usage: images.py REGISTRY_URL OUT_JSON      e.g. images.py http://127.0.0.1:18701 .pullgate/images.json
Pushes with the plain registry HTTP API (no auth): blobs by POST+PUT upload, manifests by PUT.
Idempotent: blobs already present are skipped; manifests are re-put with identical bytes.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.error
import urllib.request
from urllib.parse import urljoin

REGISTRY, OUT = sys.argv[1].rstrip("/"), sys.argv[2]
MTIME = 1704067200  # 2024-01-01T00:00:00Z, for every tar entry
CREATED = "2024-01-01T00:00:00Z"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def layer(files):
    """files: [(path, str or bytes)] -> (gzip bytes, diff_id). Fixed mtimes/owners, so bytes are stable."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs = sorted({"/".join(p.split("/")[:i]) for p, _ in files for i in range(1, p.count("/") + 1)})
        for d in dirs:
            info = tarfile.TarInfo(d + "/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)
        for path, text in sorted(files):
            data = text if isinstance(text, bytes) else text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, MTIME
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, compresslevel=9, mtime=0), sha256(tar_bytes)


def image(message, arch, docker=False, variant=None, extra=()):
    """One single-platform image: (manifest bytes, media type, blobs [(bytes, media type)], platform)."""
    files = [
        ("etc/hello-version", message + "\n"),
        ("hello/message.txt", "%s\nplatform: linux/%s%s\n" % (message, arch, "/" + variant if variant else "")),
    ] + list(extra)
    gz, diff_id = layer(files)
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    config = dict(platform)
    config.update({
        "created": CREATED,
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/cat", "/hello/message.txt"],
                   "WorkingDir": "/", "Labels": {"org.opencontainers.image.title": message}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": CREATED, "created_by": "scripts/demo/images.py"}],
    })
    config_bytes = canonical(config)
    mt, cmt, lmt = (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER) if docker else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": lmt, "digest": sha256(gz), "size": len(gz)}],
    }
    return canonical(manifest), mt, [(config_bytes, cmt), (gz, lmt)], platform


def push_blob(repo, data):
    digest = sha256(data)
    status, _, _ = call("HEAD", "%s/v2/%s/blobs/%s" % (REGISTRY, repo, digest))
    if status in (200, 307):
        return
    status, headers, body = call("POST", "%s/v2/%s/blobs/uploads/" % (REGISTRY, repo), b"")
    if status != 202:
        sys.exit("images: POST upload for %s answered %s: %s" % (repo, status, body[:300]))
    loc = urljoin(REGISTRY + "/", headers["Location"])
    loc += ("&" if "?" in loc else "?") + "digest=" + digest
    status, _, body = call("PUT", loc, data, {"Content-Type": "application/octet-stream"})
    if status != 201:
        sys.exit("images: PUT blob %s to %s answered %s: %s" % (digest, repo, status, body[:300]))


def push_manifest(repo, ref, data, media_type):
    status, headers, body = call("PUT", "%s/v2/%s/manifests/%s" % (REGISTRY, repo, ref), data,
                                 {"Content-Type": media_type})
    if status != 201:
        sys.exit("images: PUT manifest %s:%s answered %s: %s" % (repo, ref, status, body[:300]))
    if headers.get("Docker-Content-Digest") != sha256(data):
        sys.exit("images: registry digest %s != ours %s" % (headers.get("Docker-Content-Digest"), sha256(data)))


def describe(data, media_type, blobs):
    doc = json.loads(data)
    return {
        "digest": sha256(data), "media_type": media_type, "size": len(data),
        "config": doc["config"], "layers": doc["layers"],
        "blobs": [{"digest": sha256(b), "size": len(b), "media_type": mt} for b, mt in blobs],
    }


def single(repo, tag, built):
    data, mt, blobs, _ = built
    for b, _ in blobs:
        push_blob(repo, b)
    push_manifest(repo, tag, data, mt)
    entry = {"repo": repo, "tag": tag, "kind": "manifest"}
    entry.update(describe(data, mt, blobs))
    return entry


def multi(repo, tag, children, docker=False):
    list_mt = DOCKER_LIST if docker else OCI_INDEX
    descs, child_entries, all_blobs = [], [], []
    for data, mt, blobs, platform in children:
        for b, _ in blobs:
            push_blob(repo, b)
        push_manifest(repo, sha256(data), data, mt)
        descs.append({"mediaType": mt, "digest": sha256(data), "size": len(data), "platform": platform})
        child = describe(data, mt, blobs)
        child["platform"] = platform
        child_entries.append(child)
        all_blobs += child["blobs"]
    index = canonical({"schemaVersion": 2, "mediaType": list_mt, "manifests": descs})
    push_manifest(repo, tag, index, list_mt)
    return {"repo": repo, "tag": tag, "kind": "index", "digest": sha256(index), "media_type": list_mt,
            "size": len(index), "children": child_entries, "blobs": all_blobs}


def main():
    images = []
    for tag in ("1.0", "1.1", "1.2", "2.0"):
        built = image("hello from pullgate demo %s" % tag, "amd64")
        images.append(single("demo/hello", tag, built))
    images.append(single("demo/hello", "latest", built))  # latest is 2.0
    images.append(multi("demo/multi", "1.0", [
        image("multi 1.0", "amd64"), image("multi 1.0", "arm64", variant="v8")]))
    images.append(single("demo/legacy", "1.0", image("legacy 1.0", "amd64", docker=True)))
    images.append(multi("demo/legacy-list", "1.0", [
        image("legacy-list 1.0", "amd64", docker=True),
        image("legacy-list 1.0", "arm64", docker=True, variant="v8")], docker=True))
    # A layer of about 3 MiB of incompressible (but fixed) bytes, for streaming and Range tests.
    noise = hashlib.shake_256(b"pullgate demo/big").digest(3 << 20)
    images.append(single("demo/big", "1.0", image("big 1.0", "amd64", extra=[("big/noise.bin", noise)])))

    seen, blobs = set(), []
    for img in images:
        for b in img["blobs"]:
            if (img["repo"], b["digest"]) not in seen:
                seen.add((img["repo"], b["digest"]))
                blobs.append(dict(b, repo=img["repo"]))
    out = {"upstream": REGISTRY, "images": images, "blobs": blobs}
    with open(OUT + ".tmp", "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    os.replace(OUT + ".tmp", OUT)
    print("images: pushed %d tags, %d blobs to %s; wrote %s" % (len(images), len(blobs), REGISTRY, OUT),
          file=sys.stderr)


if __name__ == "__main__":
    main()
