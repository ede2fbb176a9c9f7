"""Measurement body of scripts/bench: starts workerd, then drives wrk against loopback only.

Each row alternates its targets round by round (pullgate, then each baseline, then again) so a
busy machine slows all of them alike; ratios are medians of the per-round ratios. Every request
count and duration is bounded. Prints markdown tables and ends with the one `bench:` line.
Environment (from scripts/bench): BENCH_WORKERD, BENCH_CONFIG, BENCH_LOG, BENCH_PORTS, BENCH_SECONDS,
BENCH_ROUNDS, BENCH_NOTE, PULLGATE_* (stack and licenses), PULLGATE_STATE.
"""
import base64
import gzip
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

ACCEPT = ("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
          "application/vnd.docker.distribution.manifest.list.v2+json, "
          "application/vnd.docker.distribution.manifest.v2+json")
CONCURRENCY = (1, 4, 16)
SECONDS = int(os.environ.get("BENCH_SECONDS", "1"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# The events rows decide a 5% question on a shared machine: more rounds, and an A/A row that
# shows how far apart two identical targets come out here. Events on and off are two isolates,
# so the A/A is two isolates too: pullgate and its cache-off copy (`nocache`), whose manifest
# path is the same code with the same settings (BLOB_CACHE_SECONDS only reaches blobs).
EVENTS_ROUNDS = max(ROUNDS, 9)
# Their rounds are longer too: at 1 s this machine's A/A rows moved by up to 9%.
EVENTS_SECONDS = max(SECONDS, 2)
RESTARTS = int(os.environ.get("BENCH_RESTARTS", "3"))
PORTS = dict(kv.split("=", 1) for kv in os.environ["BENCH_PORTS"].split())
BASE = {name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()}
BASE["upstream"] = os.environ["PULLGATE_UPSTREAM_URL"]
BASE["stream upstream"] = os.environ["PULLGATE_UPSTREAM_STREAM_URL"]
# Column order of the tables; "pullgate", "nocache" and "events" are the Worker, the rest baselines.
BASELINES = ("upstream", "stream upstream", "hello", "relay")
COLUMN = {"upstream": "upstream direct", "stream upstream": "upstream direct", "hello": "JS hello",
          "relay": "JS relay"}
# What Cloudflare's edge adds to every request a Worker sees (a ray id ending in its location,
# the country with IP geolocation on, the client's address), sent to every Worker target so the
# Worker reads what it reads in production; the upstream direct gets none.
EDGE_HEADERS = {"cf-ray": "8f1e2d3c4b5a6978-FRA", "cf-ipcountry": "DE", "cf-connecting-ip": "203.0.113.7"}


def request(base, path, headers=None, method="GET"):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


class Workerd:
    """The workerd process this script started (its own session, so stopping it stops only it)."""

    current = None  # the one running, whose CPU time the rows read

    def __init__(self):
        self.proc = None

    def cpu_seconds(self):
        """User + system CPU time of the workerd process so far (every Worker and stand-in in it)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self, config=None, ports=None, measured=True):
        """Starts workerd on `config` (the full one by default); ms until `ports` (all but the
        queue stand-in's, which sink.capnp serves) accept. `measured`: the rows read its CPU time."""
        log = open(os.environ["BENCH_LOG"], "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([os.environ["BENCH_WORKERD"], "serve", config or os.environ["BENCH_CONFIG"]],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        if measured:
            Workerd.current = self
        for port in ports or [p for name, p in PORTS.items() if name != "eventsink"]:
            while True:
                if self.proc.poll() is not None:
                    sys.exit(f"bench: workerd exited ({self.proc.returncode}); see {os.environ['BENCH_LOG']}")
                try:
                    socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
                    break
                except OSError:
                    if time.perf_counter() - t0 > 60:
                        sys.exit("bench: workerd did not listen within 60 s")
                    time.sleep(0.01)
        return (time.perf_counter() - t0) * 1000

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def wrk(url, headers, connections, seconds):
    """One bounded wrk run; returns (requests, req/s, p50 ms, p99 ms, non-2xx/3xx count, socket errors)."""
    cmd = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s", "--latency",
           "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            sys.exit(f"bench: cannot read wrk's {label}% latency:\n{out}")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if not total or not rps:
        sys.exit(f"bench: cannot read wrk's output:\n{out}")
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return (int(total.group(1)), float(rps.group(1)), ms("50"), ms("99"), int(non_ok.group(1)) if non_ok else 0,
            sum(int(g) for g in errors.groups()) if errors else 0)


def stand_in_count(name, field):
    """A count the KV or cache stand-in keeps (bench/workerd/kv.js, cache.js)."""
    _, _, body = request(BASE[name], "/", {"x-bench-count": "1"})
    return json.loads(body)[field]


def kv_reads_of(target, path, headers):
    """How many KV reads one request to `target` made."""
    before = stand_in_count("kv", "reads")
    request(BASE[target], path, headers)
    return stand_in_count("kv", "reads") - before


def cache_hits():
    return stand_in_count("cache", "hits")


class Target:
    """One thing to measure in a row: where, with which headers, and what a right answer is."""

    def __init__(self, name, path, headers, status, check=None, cache_hit=None):
        """`check(headers, body)` returns a problem or None; `cache_hit` True or False: the one
        verifying request must (or must not) be served from the cache stand-in."""
        if name not in ("upstream", "stream upstream"):
            headers = {**EDGE_HEADERS, **headers}
        self.name, self.path, self.headers, self.status, self.check = name, path, headers, status, check
        self.cache_hit = cache_hit

    def verify(self):
        hits_before = cache_hits()
        status, headers, body = request(BASE[self.name], self.path, self.headers)
        if status != self.status:
            sys.exit(f"bench: {self.name} {self.path} answered {status}, wanted {self.status}: {body[:200]!r}")
        if self.check:
            problem = self.check(headers, body)
            if problem:
                sys.exit(f"bench: {self.name} {self.path}: {problem}")
        if self.cache_hit is not None and (cache_hits() > hits_before) != self.cache_hit:
            sys.exit(f"bench: {self.name} {self.path}: expected {'a' if self.cache_hit else 'no'} blob cache hit")

    def run(self, connections, seconds):
        """(req/s, p50 ms, p99 ms, workerd CPU µs per request). Only this target is loaded while wrk
        runs, so the process's CPU time in that span is its Worker's (and the stand-ins it calls);
        unlike throughput, it hardly moves when the machine's neighbours take the cores."""
        cpu_before = Workerd.current.cpu_seconds()
        total, rps, p50, p99, non_ok, errors = wrk(BASE[self.name] + self.path, self.headers, connections, seconds)
        cpu_us = (Workerd.current.cpu_seconds() - cpu_before) * 1e6 / total if total else float("nan")
        # wrk only tells 2xx/3xx from the rest: a 401 row must be all "non-2xx", the others none.
        wanted_non_ok = total if self.status >= 400 else 0
        if abs(non_ok - wanted_non_ok) > 0 or errors:
            sys.exit(f"bench: {self.name} {self.path} at c{connections}: {non_ok} of {total} answers were not "
                     f"{self.status}-class, {errors} socket errors")
        return rps, p50, p99, cpu_us


def measure_row(label, targets, concurrency, unit_bytes=None, rounds=None, seconds=None):
    """Alternates the targets over ROUNDS (or `rounds`) of SECONDS (or `seconds`) each, in reverse
    order every other round so a machine speeding up or slowing down favours none; returns
    {name: (median rps, median p50, median p99, [rps...], [p50...], median CPU µs per request,
    [CPU...])} and the medians of the per-round ratios to the first target."""
    for t in targets:
        t.verify()
    runs = {t.name: [] for t in targets}
    for round_ in range(rounds or ROUNDS):
        for t in targets if round_ % 2 == 0 else targets[::-1]:
            runs[t.name].append(t.run(concurrency, seconds or SECONDS))
    result = {}
    for name, rs in runs.items():
        result[name] = (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
                        statistics.median(r[2] for r in rs), [r[0] for r in rs], [r[1] for r in rs],
                        statistics.median(r[3] for r in rs), [r[3] for r in rs])
    first = targets[0].name
    ratios = {name: statistics.median(a / b for a, b in zip(result[first][3], r[3]) if b)
              for name, r in result.items() if name != first}
    p50_ratios = {name: statistics.median(a / b for a, b in zip(result[first][4], r[4]) if b)
                  for name, r in result.items() if name != first}
    # The upstream direct is another process: workerd spends (almost) nothing on it, no ratio.
    cpu_ratios = {name: statistics.median(a / b for a, b in zip(result[first][6], r[6]) if b)
                  for name, r in result.items() if name != first and all(r[6])}
    return {"label": label, "c": concurrency, "result": result, "first": first, "ratios": ratios,
            "p50_ratios": p50_ratios, "cpu_ratios": cpu_ratios, "unit_bytes": unit_bytes}


def cell(row, name):
    r = row["result"].get(name)
    if r is None:
        return "—"
    if row["unit_bytes"]:
        return f"{r[0] * row['unit_bytes'] / (1 << 20):.0f} MiB/s, p50 {r[1]:.1f} ms"
    return f"{r[0]:.0f} req/s, p50 {r[1]:.2f} ms"


def print_table(rows):
    print("| measure | c | pullgate | upstream direct | JS hello | JS relay | pullgate ÷ baseline (throughput) "
          "| workerd CPU per request: pullgate, JS baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        first = row["first"]
        cols = {c: "—" for c in ("upstream direct", "JS hello", "JS relay")}
        for name in row["result"]:
            if name in COLUMN:
                cols[COLUMN[name]] = cell(row, name)
        ratios = ", ".join(f"{COLUMN[n]} ×{r:.2f}" for n, r in row["ratios"].items())
        # The upstream direct is another process; only the Workers' CPU is workerd's.
        cpu = [f"{row['result'][first][5]:.0f} µs"] + [f"{r[5]:.0f} µs" for n, r in row["result"].items()
                                                         if n in ("hello", "relay")]
        print(f"| {row['label']} | {row['c']} | {cell(row, first)} | {cols['upstream direct']} | {cols['JS hello']} "
              f"| {cols['JS relay']} | {ratios} | {', '.join(cpu)} |")


def token_for(license_, name, target="pullgate"):
    """Basic headers, the token path, and bearer headers from `target` (tokens are bound to its host)."""
    basic = {"Authorization": "Basic " + base64.b64encode(f"bench:{license_}".encode()).decode()}
    path = f"/v2/token?service=x&scope={urllib.parse.quote(f'repository:{name}:pull')}"
    status, _, body = request(BASE[target], path, basic)
    if status != 200:
        sys.exit(f"bench: token for {name} answered {status}: {body[:200]!r}")
    return basic, path, {"Authorization": "Bearer " + json.loads(body)["token"]}


def first_requests(workerd, hello_name, tag):
    """Medians over RESTARTS starts of workerd on a config holding only pullgate (and the KV and
    cache stand-ins), then one holding only the JS hello: time to listen and each first request.
    workerd opens its sockets before its Workers are ready, so a first request includes the
    Worker's start; in the full config it would also wait for every other Worker's."""
    configs = os.path.dirname(os.environ["BENCH_CONFIG"])
    listen, first_v2, second_v2, first_manifest, first_hello = [], [], [], [], []
    for _ in range(RESTARTS):
        workerd.stop()
        listen.append(workerd.start(os.path.join(configs, "first-pullgate.capnp"), [PORTS["pullgate"]]))
        for times in (first_v2, second_v2):
            t0 = time.perf_counter()
            status, _, _ = request(BASE["pullgate"], "/v2/")
            times.append((time.perf_counter() - t0) * 1000)
            if status != 401:
                sys.exit(f"bench: GET /v2/ after start answered {status}")
        # The first authorized request reads the configuration from KV and calls the upstream.
        _, _, bearer = token_for(os.environ["PULLGATE_LICENSE"], hello_name)
        t0 = time.perf_counter()
        status, _, _ = request(BASE["pullgate"], f"/v2/{hello_name}/manifests/{tag}", {**bearer, "Accept": ACCEPT})
        first_manifest.append((time.perf_counter() - t0) * 1000)
        workerd.stop()
        workerd.start(os.path.join(configs, "first-hello.capnp"), [PORTS["hello"]])
        t0 = time.perf_counter()
        request(BASE["hello"], "/")
        first_hello.append((time.perf_counter() - t0) * 1000)
    workerd.stop()
    workerd.start()
    return {k: statistics.median(v) for k, v in (("listen", listen), ("v2", first_v2), ("v2 again", second_v2),
                                                 ("manifest", first_manifest), ("hello", first_hello))}


def limiter_refuses():
    """Failed sign-ins from one (made-up) address until a 429; the count, or None if none came."""
    bad = {"Authorization": "Basic " + base64.b64encode(b"bench:not-a-license").decode(),
           "cf-connecting-ip": "198.51.100.7"}
    for n in range(1, 41):
        status, _, _ = request(BASE["pullgate"], "/v2/token?service=x", bad)
        if status == 429:
            return n
    return None


def main():
    state = os.environ["PULLGATE_STATE"]
    app, alias = os.environ.get("PULLGATE_DEMO_APP", "demo"), os.environ.get("PULLGATE_DEMO_ALIAS", "local")
    images = json.load(open(os.path.join(state, "images.json")))["images"]
    hello = next(i for i in images if i["repo"] == "demo/hello" and i.get("kind") == "manifest")
    big = next(i for i in images if i["repo"] == "demo/big")
    layer = max(big["blobs"], key=lambda b: b["size"])
    name = f"proxy/{app}/{alias}/demo/hello"
    stream_name = "proxy/demostream/stream/demo/big"

    workerd, sink_workerd = Workerd(), Workerd()
    try:
        sink_workerd.start(os.path.join(os.path.dirname(os.environ["BENCH_CONFIG"]), "sink.capnp"), [PORTS["eventsink"]],
                   measured=False)
        first = first_requests(workerd, name, hello["tag"])
        basic, token_path, bearer = token_for(os.environ["PULLGATE_LICENSE"], name)
        _, _, stream_bearer = token_for(os.environ["PULLGATE_LICENSE_STREAM"], stream_name)
        _, _, nocache_bearer = token_for(os.environ["PULLGATE_LICENSE_STREAM"], stream_name, "nocache")
        accept = {"Accept": ACCEPT}
        manifest_by = {"tag": hello["tag"], "digest": hello["digest"]}
        blob = hello["blobs"][0]["digest"]

        def is_layer(_headers, body):
            return None if len(body) == layer["size"] else f"body is {len(body)} bytes, wanted {layer['size']}"

        rows = []
        t0 = time.perf_counter()
        for c in CONCURRENCY:
            rows.append(measure_row("`GET /v2/`, no credentials (401)",
                                    [Target("pullgate", "/v2/", {}, 401), Target("hello", "/v2/", {}, 200)], c))
            rows.append(measure_row("`GET /v2/` with a bearer token",
                                    [Target("pullgate", "/v2/", bearer, 200), Target("hello", "/v2/", {}, 200)], c))
            rows.append(measure_row("token issuance (`GET /v2/token`, Basic)",
                                    [Target("pullgate", token_path, basic, 200), Target("hello", "/v2/", {}, 200)], c))
            for how, ref in manifest_by.items():
                rows.append(measure_row(f"manifest GET by {how}", [
                    Target("pullgate", f"/v2/{name}/manifests/{ref}", {**bearer, **accept}, 200),
                    Target("relay", f"/v2/demo/hello/manifests/{ref}", accept, 200),
                    Target("upstream", f"/v2/demo/hello/manifests/{ref}", accept, 200)], c))
            rows.append(measure_row("blob GET, redirect mode (307)", [
                Target("pullgate", f"/v2/{name}/blobs/{blob}", bearer, 307),
                Target("relay", f"/v2/demo/hello/blobs/{blob}", {}, 307),
                Target("upstream", f"/v2/demo/hello/blobs/{blob}", {}, 307)], c))
            layer_path = f"/v2/demo/big/blobs/{layer['digest']}"
            # The cache-on Worker's first GET fills the cache (verify() then sees the hit).
            request(BASE["pullgate"], f"/v2/{stream_name}/blobs/{layer['digest']}", stream_bearer)
            time.sleep(0.3)
            rows.append(measure_row(f"{layer['size'] / (1 << 20):.0f} MiB layer, stream mode, cache on", [
                Target("pullgate", f"/v2/{stream_name}/blobs/{layer['digest']}", stream_bearer, 200, is_layer,
                       cache_hit=True),
                Target("stream upstream", layer_path, {}, 200, is_layer)], c, layer["size"]))
            rows.append(measure_row(f"{layer['size'] / (1 << 20):.0f} MiB layer, stream mode, cache off", [
                Target("nocache", f"/v2/{stream_name}/blobs/{layer['digest']}", nocache_bearer, 200, is_layer,
                       cache_hit=False),
                Target("stream upstream", layer_path, {}, 200, is_layer)], c, layer["size"]))
        # Pull events: the same manifest GET on the Worker with the event queue bound and without,
        # alternated round by round like every row.
        events_rows, same_rows = [], []
        # That Worker's first request reads its configuration: the KV stand-in's count must show it,
        # or the warm requests' 0 below would prove nothing.
        cold_kv_reads = kv_reads_of("events", token_path, basic)
        if cold_kv_reads == 0:
            sys.exit("bench: a cold Worker's first token request read nothing from KV (BROKEN count)")
        manifest_path = f"/v2/{name}/manifests/{hello['tag']}"
        for c in CONCURRENCY:
            # Fresh tokens for each concurrency: these rows outlast a token's TTL (300 s).
            _, _, bearer = token_for(os.environ["PULLGATE_LICENSE"], name)
            _, _, events_bearer = token_for(os.environ["PULLGATE_LICENSE"], name, "events")
            _, _, other_bearer = token_for(os.environ["PULLGATE_LICENSE"], name, "nocache")
            events_rows.append(measure_row("manifest GET by tag, events on", [
                Target("events", manifest_path, {**events_bearer, **accept}, 200),
                Target("pullgate", manifest_path, {**bearer, **accept}, 200)], c, rounds=EVENTS_ROUNDS, seconds=EVENTS_SECONDS))
            same_rows.append(measure_row("manifest GET by tag, A/A", [
                Target("pullgate", manifest_path, {**bearer, **accept}, 200),
                Target("nocache", manifest_path, {**other_bearer, **accept}, 200)], c, rounds=EVENTS_ROUNDS, seconds=EVENTS_SECONDS))
        # Read before the JS rows below, whose sends go to the same stand-in.
        _, _, sink = request(BASE["eventsink"], "/count")
        sink = json.loads(sink)
        events_received, events_messages, events_sends = sink["received"], sink["messages"], sink["sends"]
        # The runtime's own price for a queued send after the response: JS hello with and without.
        send_rows = [measure_row("JS hello, one queued send after the response", [
            Target("hellosend", "/v2/", {}, 200), Target("hello", "/v2/", {}, 200)], c) for c in CONCURRENCY]
        elapsed = time.perf_counter() - t0
        # Each asked twice: the first may refresh configuration older than CONFIG_CACHE_SECONDS.
        # Read off the KV stand-in (nothing else reads it meanwhile).
        for _ in range(2):
            manifest_kv_reads = kv_reads_of("pullgate", f"/v2/{name}/manifests/{hello['tag']}", {**bearer, **accept})
            token_kv_reads = kv_reads_of("pullgate", token_path, basic)
        refused_at = limiter_refuses()
    finally:
        workerd.stop()
        sink_workerd.stop()

    # Measured concurrency by concurrency (so no row sees a calmer machine), printed row by row.
    order = list(dict.fromkeys(r["label"] for r in rows))
    print()
    print(f"Plain `workerd serve`, wrk keep-alive, {ROUNDS} alternating rounds of {SECONDS} s per target and "
          f"concurrency; {os.environ.get('BENCH_NOTE', '')}")
    print()
    print_table([r for label in order for r in rows if r["label"] == label])
    print()
    print(f"First request after start (median of {RESTARTS} starts of workerd with that Worker alone): listening after "
          f"{first['listen']:.0f} ms; first `GET /v2/` {first['v2']:.1f} ms, the second {first['v2 again']:.1f} ms; first manifest GET (KV reads, "
          f"upstream) {first['manifest']:.1f} ms; JS hello's first request {first['hello']:.1f} ms.")
    print(f"Rate limiter: SIGN_IN_FAILURES refused failed sign-in number {refused_at} from one address "
          f"(limit 20 a minute)." if refused_at else "Rate limiter: SIGN_IN_FAILURES never refused (BROKEN)")
    print(f"KV reads for a warm manifest request: {manifest_kv_reads}, for a warm token request: {token_kv_reads} "
          f"(counted by the KV stand-in; a cold Worker's first token request: {cold_kv_reads}).")
    print("Bindings: KV and the Cache API are in-memory JS services that store (bench/workerd/); both rate "
          "limiters count per key per 60 s window, TOKEN_ISSUANCE with its limit raised so the token row "
          "is never refused.")
    print()
    print("Pull events (manifest GET by tag): the same Worker with the event queue bound (on, sending each "
          "event after the response to a counting stand-in, bench/workerd/queue.js) and without (off), "
          f"{EVENTS_ROUNDS} alternating rounds of {EVENTS_SECONDS} s, ratios the medians of the per-round ratios; the A/A column is "
          "the same Worker in another isolate (its cache-off copy, the same manifest path) over as many rounds, "
          "the noise floor of comparing two isolates on this machine. CPU per request is the workerd process's "
          "CPU time while only that Worker was loaded, divided by its requests (without the "
          "queue stand-in's own CPU, which runs in a workerd process of its own as Cloudflare's queue is another service):")
    print()
    print("| c | events on | events off | throughput on ÷ off | p50 on ÷ off | CPU per request on ÷ off "
          "| A/A throughput | A/A p50 | A/A CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    events_cost = {}
    for r, same in zip(events_rows, same_rows):
        on, off = r["result"]["events"], r["result"]["pullgate"]
        events_cost[r["c"]] = (r["ratios"]["pullgate"], r["p50_ratios"]["pullgate"], r["cpu_ratios"]["pullgate"])
        print(f"| {r['c']} | {on[0]:.0f} req/s, p50 {on[1]:.2f} ms, {on[5]:.0f} µs CPU "
              f"| {off[0]:.0f} req/s, p50 {off[1]:.2f} ms, {off[5]:.0f} µs CPU "
              f"| ×{events_cost[r['c']][0]:.2f} | ×{events_cost[r['c']][1]:.2f} | ×{events_cost[r['c']][2]:.2f} "
              f"| ×{same['ratios']['nocache']:.2f} | ×{same['p50_ratios']['nocache']:.2f} "
              f"| ×{same['cpu_ratios']['nocache']:.2f} |")
    for r in send_rows:
        on, off = r["result"]["hellosend"], r["result"]["hello"]
        print(f"| {r['c']} (JS hello with a send ÷ without) | {on[0]:.0f} req/s, p50 {on[1]:.2f} ms "
              f"| {off[0]:.0f} req/s, p50 {off[1]:.2f} ms | ×{r['ratios']['hello']:.2f} "
              f"| ×{on[1] / off[1] if off[1] else float('nan'):.2f} | ×{r['cpu_ratios']['hello']:.2f} |")
    print(f"Events the queue stand-in received from the Worker: {events_received}, in {events_messages} messages "
          f"and {events_sends} sends" +
          ("." if events_received else " (BROKEN: events on sent nothing)"))
    print(f"Measured in {elapsed:.0f} s.")

    def ratio(label, c, baseline):
        r = next((r for r in rows if r["label"] == label and r["c"] == c), None)
        return r["ratios"][baseline] if r else float("nan")

    def rps(label, c):
        return next(r for r in rows if r["label"] == label and r["c"] == c)["result"]["pullgate"][0]

    wasm = next(f for f in os.listdir(os.path.dirname(os.environ["BENCH_CONFIG"]) + "/worker") if f.endswith(".wasm"))
    with open(os.path.join(os.path.dirname(os.environ["BENCH_CONFIG"]), "worker", wasm), "rb") as f:
        wasm_gzip = len(gzip.compress(f.read(), 9))
    m = "manifest GET by tag"
    print(f"bench: manifest_vs_js_relay c1={ratio(m, 1, 'relay'):.2f} c4={ratio(m, 4, 'relay'):.2f} "
          f"c16={ratio(m, 16, 'relay'):.2f} "
          f"bearer_vs_js_hello c16={ratio('`GET /v2/` with a bearer token', 16, 'hello'):.2f} "
          f"token_rps_c16={rps('token issuance (`GET /v2/token`, Basic)', 16):.0f} "
          f"first_request_ms={first['v2']:.0f} wasm_gzip_bytes={wasm_gzip} "
          f"events_rps_on_vs_off c1={events_cost[1][0]:.2f} c16={events_cost[16][0]:.2f} "
          f"events_p50_on_vs_off c1={events_cost[1][1]:.2f} c16={events_cost[16][1]:.2f} "
          f"events_cpu_on_vs_off c1={events_cost[1][2]:.2f} c16={events_cost[16][2]:.2f}")
    if not refused_at or not events_received:
        sys.exit(1)


if __name__ == "__main__":
    main()
