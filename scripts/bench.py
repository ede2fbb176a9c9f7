"""Benchmark body for scripts/bench: bounded request loops against loopback only."""
import base64
import concurrent.futures
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 400
CONCURRENCY = 4
ACCEPT = ("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
          "application/vnd.docker.distribution.manifest.list.v2+json, "
          "application/vnd.docker.distribution.manifest.v2+json")


def request(base, method, path, headers):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def measure(label, base, path, headers, want_status):
    """Runs REQUESTS GETs with CONCURRENCY workers; returns (req/s, p50 ms, p99 ms)."""
    def one(_):
        t0 = time.perf_counter()
        status, _, _ = request(base, "GET", path, headers)
        if status != want_status:
            raise SystemExit(f"{label}: status {status}, wanted {want_status}")
        return (time.perf_counter() - t0) * 1000
    request(base, "GET", path, headers)  # warm the isolate and its caches
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        lat = list(pool.map(one, range(REQUESTS)))
    elapsed = time.perf_counter() - t0
    lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    rps = REQUESTS / elapsed
    print(f"{label}: {rps:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms ({REQUESTS} requests, {CONCURRENCY} concurrent)")
    return rps, p50, p99


def measure_bytes(label, base, path, headers, count):
    """Runs `count` whole GETs of a large body, 2 at a time; prints MiB/s and per-request p50."""
    def one(_):
        t0 = time.perf_counter()
        status, _, body = request(base, "GET", path, headers)
        if status != 200:
            raise SystemExit(f"{label}: status {status}")
        return (time.perf_counter() - t0) * 1000, len(body)
    one(0)  # warm (and, through the edge, fill the blob cache)
    time.sleep(1)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - t0
    mib = sum(n for _, n in results) / (1024 * 1024)
    p50 = statistics.median(sorted(ms for ms, _ in results))
    print(f"{label}: {mib / elapsed:.0f} MiB/s, p50 {p50:.1f} ms per {results[0][1] / (1024 * 1024):.1f} MiB blob "
          f"({count} requests, 2 concurrent)")


def main():
    edge = os.environ["PULLGATE_URL"]
    upstream = os.environ["PULLGATE_UPSTREAM_URL"]
    license_ = os.environ["PULLGATE_LICENSE"]
    app, alias = os.environ.get("PULLGATE_DEMO_APP", "demo"), os.environ.get("PULLGATE_DEMO_ALIAS", "local")
    images = json.load(open(os.path.join(os.environ["PULLGATE_STATE"], "images.json")))
    hello = next(i for i in images["images"] if i["repo"] == "demo/hello")
    name = f"proxy/{app}/{alias}/demo/hello"
    basic = "Basic " + base64.b64encode(f"bench:{license_}".encode()).decode()
    scope = urllib.parse.quote(f"repository:{name}:pull")
    status, _, body = request(edge, "GET", f"/v2/token?service=x&scope={scope}", {"Authorization": basic})
    assert status == 200, (status, body)
    bearer = {"Authorization": "Bearer " + json.loads(body)["token"], "Accept": ACCEPT}

    measure("GET /v2/ without credentials (401: runtime + routing floor)", edge, "/v2/", {}, 401)
    measure("GET /v2/ with a token (token check, no upstream)", edge, "/v2/", bearer, 200)
    direct = measure("manifest GET, upstream directly", upstream, f"/v2/demo/hello/manifests/{hello['tag']}",
                     {"Accept": ACCEPT}, 200)
    proxied = measure("manifest GET, through the edge ", edge, f"/v2/{name}/manifests/{hello['tag']}", bearer, 200)
    print(f"edge/upstream: throughput x{proxied[0] / direct[0]:.2f}, p50 x{proxied[1] / direct[1]:.2f}, "
          f"p99 x{proxied[2] / direct[2]:.2f}; added p50 {proxied[1] - direct[1]:.2f} ms")
    blob = hello["blobs"][0]["digest"]
    measure("blob GET → 307, upstream directly", upstream, f"/v2/demo/hello/blobs/{blob}", {}, 307)
    measure("blob GET → 307, through the edge ", edge, f"/v2/{name}/blobs/{blob}", bearer, 307)

    # Stream mode (app demostream of the tests' seed): the Worker relays a 3 MiB layer, from the
    # upstream the first time and from the Cloudflare cache after that.
    stream_license = os.environ.get("PULLGATE_LICENSE_STREAM")
    if stream_license:
        big = next(i for i in images["images"] if i["repo"] == "demo/big")
        layer = max(big["blobs"], key=lambda b: b["size"])["digest"]
        stream_name = "proxy/demostream/stream/demo/big"
        stream_basic = "Basic " + base64.b64encode(f"bench:{stream_license}".encode()).decode()
        stream_scope = urllib.parse.quote(f"repository:{stream_name}:pull")
        status, _, body = request(edge, "GET", f"/v2/token?service=x&scope={stream_scope}",
                                  {"Authorization": stream_basic})
        assert status == 200, (status, body)
        stream_bearer = {"Authorization": "Bearer " + json.loads(body)["token"]}
        count = max(10, REQUESTS // 10)
        measure_bytes("layer GET, stream upstream directly", os.environ["PULLGATE_UPSTREAM_STREAM_URL"],
                      f"/v2/demo/big/blobs/{layer}", {}, count)
        measure_bytes("layer GET, streamed by the edge (cache hit)", edge, f"/v2/{stream_name}/blobs/{layer}",
                      stream_bearer, count)

    _, headers, _ = request(edge, "GET", f"/v2/{name}/manifests/{hello['tag']}", bearer)
    print(f"kv_reads_per_warm_manifest_request={headers.get('pullgate-kv-reads', 'n/a (DEBUG_HEADERS off)')}")
    _, headers, _ = request(edge, "GET", f"/v2/token?service=x&scope={scope}", {"Authorization": basic})
    print(f"kv_reads_per_warm_token_request={headers.get('pullgate-kv-reads', 'n/a')}")


if __name__ == "__main__":
    main()
