"""Writes a `workerd serve` config for scripts/bench from the built Worker and wrangler.toml.

The Worker comes from `wrangler deploy --dry-run --outdir` (exactly what would be uploaded); its
bindings get local implementations that store and count (bench/workerd/*.js), and the two JS
baselines run in the same process. Nothing in the config can reach past loopback.

Usage: workerd_config.py OUT_DIR --dry-run DIR --wrangler-toml FILE --dev-vars FILE --kv-seed FILE
       --upstream URL --port NAME=PORT... [--var NAME=VALUE...] [--limit NAME=N...]
"""
import argparse
import json
import os
import re
import shutil
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
RATELIMIT_MODULE = "pullgate-bench:ratelimit"


def capnp_str(value):
    return json.dumps(value)  # capnp text strings take the same escapes as JSON


def worker_modules(dry_run):
    """(name, kind, file) for each module wrangler would upload; the main module (the one
    script wrangler bundled from wrangler.toml's `main`) first."""
    modules = []
    for name in sorted(os.listdir(dry_run)):
        if name.endswith(".js"):
            modules.append((name, "esModule", name))
        elif name.endswith(".wasm"):
            modules.append((name, "wasm", name))
    scripts = [m for m in modules if m[1] == "esModule"]
    if len(scripts) != 1:
        sys.exit(f"workerd_config: want one bundled script in {dry_run}, found {[m[0] for m in scripts]}")
    modules.sort(key=lambda m: m[1] != "esModule")
    return modules


def read_dev_vars(path):
    secrets = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Z0-9_]+)=(.*)$", line.strip())
            if m:
                secrets[m.group(1)] = m.group(2)
    return secrets


def pullgate_worker(const, modules, toml, secrets, overrides, limits, blob_cache_seconds, events=False):
    """The Worker; `events`: with the event queue bound (to bench/workerd/queue.js), else none."""
    vars_ = {k: str(v) for k, v in toml.get("vars", {}).items()}
    vars_.update(overrides)
    vars_["EVENTS"] = "true" if events else "false"
    if blob_cache_seconds is not None:
        vars_["BLOB_CACHE_SECONDS"] = blob_cache_seconds
    bindings = [f"(name = {capnp_str(k)}, text = {capnp_str(v)})" for k, v in sorted(vars_.items())]
    bindings += [f"(name = {capnp_str(k)}, text = {capnp_str(v)})" for k, v in sorted(secrets.items())]
    for ns in toml.get("kv_namespaces", []):
        bindings.append(f'(name = {capnp_str(ns["binding"])}, kvNamespace = "kv")')
    for rl in toml.get("ratelimits", []):
        limit = limits.get(rl["name"], rl["simple"]["limit"])
        inner = (f'(name = "name", text = {capnp_str(rl["name"])}), (name = "limit", json = "{int(limit)}"), '
                 f'(name = "period", json = "{int(rl["simple"]["period"])}")')
        bindings.append(f'(name = {capnp_str(rl["name"])}, wrapped = (moduleName = "{RATELIMIT_MODULE}", '
                        f'innerBindings = [{inner}]))')
    if events:
        for producer in toml.get("queues", {}).get("producers", []):
            bindings.append(f'(name = {capnp_str(producer["binding"])}, queue = "eventsink")')
    mods = ",\n    ".join(f'(name = {capnp_str(n)}, {kind} = embed {capnp_str("worker/" + f)})'
                           for n, kind, f in modules)
    flags = ", ".join(capnp_str(f) for f in toml.get("compatibility_flags", []))
    return f"""const {const} :Workerd.Worker = (
  modules = [
    {mods}
  ],
  compatibilityDate = {capnp_str(toml["compatibility_date"])},
  compatibilityFlags = [{flags}],
  bindings = [
    {(","+chr(10)+"    ").join(bindings)}
  ],
  globalOutbound = "loopback",
  cacheApiOutbound = "cache",
);
"""


def js_worker(const, module, compat_date, bindings=""):
    return f"""const {const} :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed {capnp_str(module)})],
  compatibilityDate = {capnp_str(compat_date)},
  bindings = [{bindings}],
  globalOutbound = "loopback",
);
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--dry-run", required=True)
    p.add_argument("--wrangler-toml", required=True)
    p.add_argument("--dev-vars", required=True)
    p.add_argument("--kv-seed", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", action="append", default=[], help="pullgate|nocache|events|eventsink|hello|hellosend|relay|kv|cache=PORT")
    p.add_argument("--var", action="append", default=[])
    p.add_argument("--limit", action="append", default=[])
    a = p.parse_args()

    ports = dict(kv.split("=", 1) for kv in a.port)
    overrides = dict(kv.split("=", 1) for kv in a.var)
    limits = {k: int(v) for k, v in (kv.split("=", 1) for kv in a.limit)}
    with open(a.wrangler_toml, "rb") as f:
        toml = tomllib.load(f)

    out = a.out_dir
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "worker"))
    os.chmod(out, 0o700)  # the config holds the root secret
    modules = worker_modules(a.dry_run)
    for _, _, f in modules:
        shutil.copy(os.path.join(a.dry_run, f), os.path.join(out, "worker", f))
    for f in ("kv.js", "cache.js", "ratelimit.js", "queue.js"):
        shutil.copy(os.path.join(HERE, "workerd", f), os.path.join(out, f))
    shutil.copy(os.path.join(HERE, "js-hello", "worker.js"), os.path.join(out, "js-hello.js"))
    shutil.copy(os.path.join(HERE, "js-hello-send", "worker.js"), os.path.join(out, "js-hello-send.js"))
    shutil.copy(os.path.join(HERE, "js-relay", "worker.js"), os.path.join(out, "js-relay.js"))
    shutil.copy(a.kv_seed, os.path.join(out, "kv-seed.json"))

    date = toml["compatibility_date"]
    secrets = read_dev_vars(a.dev_vars)
    # The queue stand-in runs in a workerd process of its own (sink.capnp), reached over loopback as
    # Cloudflare's queue is another service: the CPU time the bench reads off the main process is
    # then the Workers' own, without the stand-in's receiving of every send.
    all_services = ["pullgate", "nocache", "events", "hello", "hellosend", "relay", "kv", "cache"]
    main_ports = {k: v for k, v in ports.items() if k != "eventsink"}
    # The first-request configs start one Worker by itself: in the full config, workerd opens its
    # sockets before it has compiled every Worker, so a first request there would also wait for
    # the other two copies of pullgate and the baselines.
    for file, names, listen in (("config.capnp", all_services, main_ports),
                                ("sink.capnp", ["eventsink"], {"eventsink": ports["eventsink"]}),
                                ("first-pullgate.capnp", ["pullgate", "kv", "cache"], {"pullgate": ports["pullgate"]}),
                                ("first-hello.capnp", ["hello"], {"hello": ports["hello"]})):
        write_config(os.path.join(out, file),
                     render(toml, modules, secrets, overrides, limits, a.upstream, names, listen, ports["eventsink"]))


def render(toml, modules, secrets, overrides, limits, upstream, names, ports, sink_port):
    """A config with the services `names` (and the loopback network), listening on `ports`; the
    queue stand-in, when not among `names`, is the external service on `sink_port`."""
    comments = {"events": "# The same Worker with pull events on, sending to the counting queue stand-in.\n    ",
                "hellosend": "# JS hello that also queues one event after each response, to the same stand-in.\n    "}
    workers = {"pullgate": "pullgateWorker", "nocache": "pullgateNoCacheWorker", "events": "pullgateEventsWorker",
               "eventsink": "eventSinkWorker", "hello": "helloWorker", "hellosend": "helloSendWorker",
               "relay": "relayWorker", "kv": "kvWorker", "cache": "cacheWorker"}
    services = "".join(f'{comments.get(n, "")}(name = "{n}", worker = .{workers[n]}),\n    ' for n in names)
    if "eventsink" not in names:
        services += ("# The queue stand-in, in its own workerd process (sink.capnp).\n    "
                     f'(name = "eventsink", external = (address = "127.0.0.1:{sink_port}", http = ())),\n    ')
    date = toml["compatibility_date"]
    sockets = ",\n    ".join(
        f'(name = "{name}", address = "127.0.0.1:{port}", http = (), service = "{name}")'
        for name, port in sorted(ports.items()))
    config = f"""# Generated by bench/workerd_config.py for scripts/bench; holds secrets, never commit it.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    {services}# Every fetch a Worker makes goes here: loopback only, nothing leaves the machine.
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [
    {sockets}
  ],
  extensions = [(modules = [(name = "{RATELIMIT_MODULE}", internal = true, esModule = embed "ratelimit.js")])],
);

{pullgate_worker("pullgateWorker", modules, toml, secrets, overrides, limits, None)}
{pullgate_worker("pullgateNoCacheWorker", modules, toml, secrets, overrides, limits, "0")}
{pullgate_worker("pullgateEventsWorker", modules, toml, secrets, overrides, limits, None, events=True)}
{js_worker("helloWorker", "js-hello.js", date)}
{js_worker("helloSendWorker", "js-hello-send.js", date, '(name = "PULLGATE_EVENTS", queue = "eventsink")')}
{js_worker("relayWorker", "js-relay.js", date, f'(name = "UPSTREAM", text = {capnp_str(upstream)})')}
const kvWorker :Workerd.Worker = (
  modules = [(name = "kv.js", esModule = embed "kv.js"), (name = "kv-seed.json", json = embed "kv-seed.json")],
  compatibilityDate = {capnp_str(date)},
);

const eventSinkWorker :Workerd.Worker = (
  modules = [(name = "queue.js", esModule = embed "queue.js")],
  compatibilityDate = {capnp_str(date)},
);

const cacheWorker :Workerd.Worker = (
  modules = [(name = "cache.js", esModule = embed "cache.js")],
  compatibilityDate = {capnp_str(date)},
);
"""
    return config


def write_config(path, config):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(config)


if __name__ == "__main__":
    main()
