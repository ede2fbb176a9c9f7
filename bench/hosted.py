"""Hosted-registry section of scripts/bench: push and pull one 64 MiB layer, edge against upstream.

One random layer (plus its config and an OCI manifest) is pushed with the same small client to
the demo upstream (Debian's docker-registry, the `open` one, no auth) and to the edge's hosted
registry (a bearer token for `pull,push` from the push token), both as POST + PATCH chunks of
CHUNK bytes + PUT ?digest=, over one keep-alive connection per push. The layer is then pulled
back from each: through the edge with a license's bearer token (streamed from R2), and directly
from the `stream` upstream (same storage as `open`, serves blobs itself instead of a 307 to the
CDN stand-in). Every pulled body's sha256 is checked. Rounds alternate the two sides and flip
the order each round; ratios are medians of the per-round edge ÷ direct throughput ratios.
Runs against `wrangler dev` (Miniflare's R2): plain workerd has no R2 stand-in here.
Environment: PULLGATE_URL, PULLGATE_UPSTREAM_URL, PULLGATE_UPSTREAM_STREAM_URL, PULLGATE_HOSTED,
PULLGATE_PUSH_TOKEN, PULLGATE_LICENSE, PULLGATE_LICENSE_STREAM, BENCH_ROUNDS (default 3). Ends with one `hosted_...` line.
"""
import base64
import hashlib
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

LAYER_BYTES = 64 << 20
CHUNK = 8 << 20  # `pullgate push`'s default: above R2's 5 MiB parts, under every plan's body limit
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REPO = "bench/layer64"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def fail(msg):
    sys.exit(f"bench hosted: {msg}")


class Conn:
    """One keep-alive HTTP/1.1 connection to a registry, with an optional bearer token."""

    def __init__(self, base, bearer=None):
        u = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        self.headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}

    def send(self, method, path, body=None, headers=None, want=(200,)):
        self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
        r = self.conn.getresponse()
        data = r.read()
        if r.status not in want:
            fail(f"{method} {path.split('?')[0]} answered {r.status}, wanted {want}: {data[:300]!r}")
        return r, data

    def close(self):
        self.conn.close()


def path_of(location):
    """An upload `Location` (absolute or relative) as a request path."""
    u = urllib.parse.urlsplit(location)
    return u.path + (f"?{u.query}" if u.query else "")


def with_digest(path, digest):
    return path + ("&" if "?" in path else "?") + "digest=" + urllib.parse.quote(digest)


def push_blob(conn, name, data):
    """POST a session, PATCH CHUNK-sized chunks with Content-Range, PUT ?digest= to close."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r, _ = conn.send("POST", f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"}, want=(202,))
    location = path_of(r.getheader("location"))
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        part = view[start:start + CHUNK]
        r, _ = conn.send("PATCH", location, body=part, want=(202,), headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(len(part)),
            "Content-Range": f"{start}-{start + len(part) - 1}"})
        location = path_of(r.getheader("location"))
    conn.send("PUT", with_digest(location, digest), headers={"Content-Length": "0"}, want=(201,))
    return digest


def push_image(base, name, bearer, layer, layer_digest):
    """The layer, a config and a manifest; returns the seconds it took."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    conn = Conn(base, bearer)
    t0 = time.perf_counter()
    if push_blob(conn, name, layer) != layer_digest:
        fail("layer digest changed")
    config_digest = push_blob(conn, name, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}]}).encode()
    conn.send("PUT", f"/v2/{name}/manifests/bench", body=manifest, want=(201,),
              headers={"Content-Type": MANIFEST_TYPE, "Content-Length": str(len(manifest))})
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def pull_blob(base, name, bearer, digest):
    """GET the blob, hashing as it streams; returns the seconds it took and `pullgate-cache`."""
    conn = Conn(base, bearer)
    t0 = time.perf_counter()
    conn.conn.request("GET", f"/v2/{name}/blobs/{digest}", headers=conn.headers)
    r = conn.conn.getresponse()
    if r.status != 200:
        fail(f"GET blob from {base} answered {r.status}: {r.read()[:300]!r}")
    h, size = hashlib.sha256(), 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        size += len(chunk)
    seconds = time.perf_counter() - t0
    cache = r.getheader("pullgate-cache") or "none"
    conn.close()
    got = "sha256:" + h.hexdigest()
    if got != digest or size != LAYER_BYTES:
        fail(f"pulled {size} bytes with digest {got} from {base}, wanted {LAYER_BYTES} bytes of {digest}")
    return seconds, cache


def token(edge, name, basic_user, secret, actions):
    """A bearer token from the edge's realm (GET /v2/ names it) for `actions` on `name`."""
    conn = Conn(edge)
    r, _ = conn.send("GET", "/v2/", want=(401,))
    challenge = r.getheader("www-authenticate") or ""
    params = dict(p.split("=", 1) for p in challenge.split(" ", 1)[-1].split(","))
    realm = urllib.parse.urlsplit(params["realm"].strip('"'))
    scope = urllib.parse.quote(f"repository:{name}:{actions}")
    service = urllib.parse.quote(params.get("service", '""').strip('"'))
    basic = base64.b64encode(f"{basic_user}:{secret}".encode()).decode()
    _, body = conn.send("GET", f"{realm.path}?service={service}&scope={scope}",
                        headers={"Authorization": f"Basic {basic}"})
    conn.close()
    doc = json.loads(body)
    return doc.get("token") or doc["access_token"]


def main():
    edge = os.environ["PULLGATE_URL"]
    push_direct, pull_direct = os.environ["PULLGATE_UPSTREAM_URL"], os.environ["PULLGATE_UPSTREAM_STREAM_URL"]
    edge_name = os.environ["PULLGATE_HOSTED"].split("/", 1)[1] + "/" + REPO
    push_bearer = token(edge, edge_name, "pullgate-push", os.environ["PULLGATE_PUSH_TOKEN"], "pull,push")
    pull_bearer = token(edge, edge_name, "bench", os.environ["PULLGATE_LICENSE"], "pull")
    # A reference for what `wrangler dev` itself costs: the same layer proxied by the same edge
    # from the stream upstream (stream mode, tests/e2e_seed's app), no R2 involved.
    proxied_name = f"proxy/demostream/stream/{REPO}"
    proxied_bearer = token(edge, proxied_name, "bench", os.environ["PULLGATE_LICENSE_STREAM"], "pull")

    layer = os.urandom(LAYER_BYTES)
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    sides = {
        "direct": (lambda: push_image(push_direct, REPO, None, layer, digest),
                   lambda: pull_blob(pull_direct, REPO, None, digest)[0]),
        "edge": (lambda: push_image(edge, edge_name, push_bearer, layer, digest),
                 lambda: pull_blob(edge, edge_name, pull_bearer, digest)[0]),
    }
    times = {(side, op): [] for side in sides for op in ("push", "pull")}
    proxied, proxied_cache = [], set()
    t0 = time.perf_counter()
    for n in range(ROUNDS):
        order = ["direct", "edge"] if n % 2 == 0 else ["edge", "direct"]
        for op, i in (("push", 0), ("pull", 1)):
            for side in order:
                times[(side, op)].append(sides[side][i]())
        seconds, cache = pull_blob(edge, proxied_name, proxied_bearer, digest)
        proxied.append(seconds)
        proxied_cache.add(cache)
    elapsed = time.perf_counter() - t0

    mib = LAYER_BYTES / (1 << 20)

    def rate(side, op):
        return statistics.median(mib / s for s in times[(side, op)])

    ratios = {op: statistics.median(d / e for d, e in zip(times[("direct", op)], times[("edge", op)]))
              for op in ("push", "pull")}
    print(f"Hosted registry, {mib:.0f} MiB random layer (sha256 checked on every pull), {ROUNDS} alternating "
          f"rounds, one Python client for both sides (POST, PATCH {CHUNK >> 20} MiB chunks, PUT; push = layer + "
          f"config + manifest). The edge runs under `wrangler dev` with Miniflare's R2 (its proxy and entry "
          f"worker are in the figures); direct is the demo docker-registry on the same storage:")
    print()
    print("| operation | edge (`wrangler dev`, R2) | upstream direct | edge ÷ direct (throughput) |")
    print("|---|---|---|---|")
    for op, label in (("push", "push (chunked upload)"), ("pull", "pull (blob GET)")):
        print(f"| {label} | {rate('edge', op):.0f} MiB/s | {rate('direct', op):.0f} MiB/s | ×{ratios[op]:.2f} |")
    print(f"Reference, the same edge proxying the layer from the stream upstream (stream mode, no R2; blob "
          f"cache: {', '.join(sorted(proxied_cache))}): {statistics.median(mib / s for s in proxied):.0f} MiB/s.")
    print(f"Measured in {elapsed:.0f} s.")
    print(f"hosted_push_ratio={ratios['push']:.2f} hosted_pull_ratio={ratios['pull']:.2f} "
          f"hosted_push_mibs={rate('edge', 'push'):.0f} hosted_pull_mibs={rate('edge', 'pull'):.0f}")


if __name__ == "__main__":
    main()
