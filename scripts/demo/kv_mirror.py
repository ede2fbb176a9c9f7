#!/usr/bin/env python3
"""A stand-in for `wrangler kv` (PULLGATE_WRANGLER) that keeps a JSON mirror of a local store.

Every real `wrangler kv ... --local` run starts Node and Miniflare (1-3 s); the admin CLI makes
two or three per command. Seeding and the e2e suites make dozens of commands, so they run the CLI
with this script as its wrangler:

  PULLGATE_KV_MIRROR=stage   reads and writes go to <persist-to>/pullgate-mirror.json only (made
                             empty, or from the real store when it already holds data); nothing
                             reaches the real store until `kv_mirror.py flush DIR`.
  otherwise (write-through)  with a mirror next to the store, reads come from it and each write
                             is one real `wrangler kv bulk put|delete`, then lands in the mirror;
                             without a mirror, this is the real wrangler (exec).

  PULLGATE_KV_MIRROR=batch:FILE
                             reads see the mirror plus FILE; writes go to FILE only, until
                             `kv_mirror.py commit DIR FILE` lands them all with one real bulk put
                             (and one bulk delete, if any), so a test's fixture of several CLI
                             commands costs one wrangler run.

  kv_mirror.py flush DIR [--keep]   writes the whole mirror into DIR with one real bulk put, then
                                    removes the mirror unless --keep (the e2e suites keep it).
  kv_mirror.py mirror DIR           starts a mirror of what DIR holds now (two real runs, none
                                    for a new store).

The mirror is only right while every writer of the store goes through it: the edge never
writes KV, and scripts/test gives the suites PULLGATE_WRANGLER. It implements exactly what the
CLI's local backend runs (src/bin/pullgate/kv/local.rs): `kv key list [--prefix P]` and
`kv bulk get|put|delete FILE`; anything else fails rather than letting the mirror drift, except
`d1 ...` (the events database, `pullgate logs`), which goes to the real wrangler unchanged.
"""

import fcntl
import json
import os
import subprocess
import sys
import tempfile

MIRROR_NAME = "pullgate-mirror.json"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def real_wrangler():
    return os.environ.get("PULLGATE_KV_MIRROR_WRANGLER") or os.path.join(ROOT, "node_modules", ".bin", "wrangler")


def fail(message, code=1):
    # The CLI reports wrangler's `[ERROR]` lines.
    print(f"[ERROR] kv_mirror: {message}", file=sys.stderr)
    sys.exit(code)


# The options the CLI passes (src/bin/pullgate/kv/local.rs), with a value or without.
VALUED = {"--persist-to", "--binding", "-c", "--config", "--prefix"}
FLAGS = {"--local", "--force"}


def parse(args):
    """Positional words and options of a `kv ...` command line."""
    words, options = [], {}
    rest = iter(args)
    for a in rest:
        if a in VALUED:
            value = next(rest, None)
            if value is None:
                fail(f"{a} needs a value")
            options[a] = value
        elif a in FLAGS:
            options[a] = True
        elif a.startswith("-"):
            fail(f"unsupported option {a}")
        else:
            words.append(a)
    return words, options


class Mirror:
    """The mirror of one store, under an exclusive lock while open."""

    def __init__(self, store):
        self.store = os.path.abspath(store)
        self.path = os.path.join(self.store, MIRROR_NAME)
        os.makedirs(self.store, exist_ok=True)
        self.lock = open(os.path.join(self.store, MIRROR_NAME + ".lock"), "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)

    def exists(self):
        return os.path.exists(self.path)

    def load(self):
        with open(self.path) as f:
            return json.load(f)

    def save(self, entries):
        fd, tmp = tempfile.mkstemp(dir=self.store, prefix=MIRROR_NAME + ".")
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f, sort_keys=True)
        os.replace(tmp, self.path)


def wrangler_kv(store, config, args, stdin=None):
    """One real `wrangler kv ARGS --local` run on store; exits with its output when it fails."""
    cmd = [real_wrangler(), "kv", *args, "--local", "--persist-to", store, "--binding", "PULLGATE_KV", "-c", config]
    env = dict(os.environ, WRANGLER_SEND_METRICS="false", NO_COLOR="1")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        sys.stdout.write(out.stdout)
        sys.stderr.write(out.stderr)
        sys.exit(out.returncode)
    return out.stdout


def json_after(stdout, opening):
    """The JSON document that starts on the first line opening with `opening`."""
    offset = 0
    for line in stdout.splitlines(keepends=True):
        if line.lstrip().startswith(opening):
            return json.JSONDecoder().raw_decode(stdout[offset:].lstrip())[0]
        offset += len(line)
    fail(f"no JSON in wrangler's answer: {stdout[:200]!r}")


def import_store(store, config):
    """Every key and value of the real store (two wrangler runs)."""
    names = [e["name"] for e in json_after(wrangler_kv(store, config, ["key", "list"]), "[")]
    if not names:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        keys = os.path.join(tmp, "keys.json")
        with open(keys, "w") as f:
            json.dump(names, f)
        found = json_after(wrangler_kv(store, config, ["bulk", "get", keys]), "{")
    return {k: v["value"] for k, v in found.items() if v.get("value") is not None}


def read_json_file(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")


def put_pairs(path):
    pairs = read_json_file(path)
    if not isinstance(pairs, list):
        fail(f"{path}: want an array of {{key, value}}")
    out = {}
    for p in pairs:
        if not isinstance(p, dict) or set(p) - {"key", "value"} or not isinstance(p.get("value"), str):
            fail(f"{path}: only {{key, value}} string pairs are mirrored, not {p!r}")
        out[p["key"]] = p["value"]
    return out


def delete_keys(path):
    keys = read_json_file(path)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        fail(f"{path}: want an array of key names")
    return keys


def kv(argv):
    words, options = parse(argv[1:])
    store, config = options.get("--persist-to"), options.get("-c") or options.get("--config")
    if not options.get("--local") or store is None or config is None:
        fail("only `kv ... --local --persist-to DIR -c CONFIG` runs are mirrored")
    mode = os.environ.get("PULLGATE_KV_MIRROR", "")
    staging = mode == "stage"
    batch = Batch(mode[len("batch:"):]) if mode.startswith("batch:") else None
    mirror = Mirror(store)
    if not mirror.exists():
        if batch:
            fail(f"no mirror in {mirror.store} to batch against")
        if not staging:
            mirror.lock.close()
            os.execv(real_wrangler(), [real_wrangler(), *argv])
        has_data = os.path.isdir(os.path.join(mirror.store, "v3"))
        mirror.save(import_store(mirror.store, config) if has_data else {})
    entries = mirror.load()
    if batch:
        entries.update(batch.puts)
        for k in batch.deletes:
            entries.pop(k, None)
    verb = words[:2]
    if verb == ["key", "list"] and len(words) == 2:
        prefix = options.get("--prefix") or ""
        print(json.dumps([{"name": k} for k in sorted(entries) if k.startswith(prefix)]))
    elif verb == ["bulk", "get"] and len(words) == 3:
        keys = delete_keys(words[2])
        print(json.dumps({k: {"value": entries.get(k)} for k in keys}))
    elif verb == ["bulk", "put"] and len(words) == 3:
        pairs = put_pairs(words[2])
        if batch:
            batch.put(pairs)
        else:
            if not staging:
                wrangler_kv(mirror.store, config, ["bulk", "put", words[2]])
            entries.update(pairs)
            mirror.save(entries)
        print("Success!")
    elif verb == ["bulk", "delete"] and len(words) == 3 and options.get("--force"):
        keys = delete_keys(words[2])
        if batch:
            batch.delete(keys)
        else:
            if not staging:
                wrangler_kv(mirror.store, config, ["bulk", "delete", words[2], "--force"])
            for k in keys:
                entries.pop(k, None)
            mirror.save(entries)
        print("Success!")
    else:
        fail(f"unsupported command: wrangler {' '.join(argv)}")


class Batch:
    """Writes held back for one `commit`: puts, and deletes of keys the batch did not put."""

    def __init__(self, path):
        self.path = path
        doc = read_json_file(path) if os.path.exists(path) else {}
        self.puts, self.deletes = doc.get("put", {}), doc.get("delete", [])

    def put(self, pairs):
        self.puts.update(pairs)
        self.deletes = [k for k in self.deletes if k not in pairs]
        self.save()

    def delete(self, keys):
        for k in keys:
            self.puts.pop(k, None)
        self.deletes = sorted(set(self.deletes) | set(keys))
        self.save()

    def save(self):
        with open(self.path, "w") as f:
            json.dump({"put": self.puts, "delete": self.deletes}, f)


def write_real(mirror, config, puts, deletes):
    """Lands puts and deletes in the real store (one wrangler run each, if any) and the mirror."""
    with tempfile.TemporaryDirectory() as tmp:
        if puts:
            path = os.path.join(tmp, "put.json")
            with open(path, "w") as f:
                json.dump([{"key": k, "value": v} for k, v in sorted(puts.items())], f)
            wrangler_kv(mirror.store, config, ["bulk", "put", path])
        if deletes:
            path = os.path.join(tmp, "delete.json")
            with open(path, "w") as f:
                json.dump(sorted(deletes), f)
            wrangler_kv(mirror.store, config, ["bulk", "delete", path, "--force"])


def default_config():
    return os.environ.get("PULLGATE_WRANGLER_CONFIG") or os.path.join(ROOT, "wrangler.toml")


def commit(args):
    if len(args) != 2:
        fail("usage: kv_mirror.py commit DIR BATCH_FILE")
    mirror = Mirror(args[0])
    if not mirror.exists():
        fail(f"no mirror in {mirror.store}")
    batch = Batch(args[1])
    write_real(mirror, default_config(), batch.puts, batch.deletes)
    entries = mirror.load()
    entries.update(batch.puts)
    for k in batch.deletes:
        entries.pop(k, None)
    mirror.save(entries)
    os.unlink(args[1])


def start_mirror(args):
    if len(args) != 1:
        fail("usage: kv_mirror.py mirror DIR")
    mirror = Mirror(args[0])
    has_data = os.path.isdir(os.path.join(mirror.store, "v3"))
    mirror.save(import_store(mirror.store, default_config()) if has_data else {})


def flush(args):
    keep = "--keep" in args
    dirs = [a for a in args if a != "--keep"]
    if len(dirs) != 1:
        fail("usage: kv_mirror.py flush DIR [--keep]")
    mirror = Mirror(dirs[0])
    if not mirror.exists():
        return
    entries = mirror.load()
    write_real(mirror, default_config(), entries, [])
    if not keep:
        os.unlink(mirror.path)
    print(f"kv_mirror: wrote {len(entries)} keys to {mirror.store} in one bulk put", file=sys.stderr)


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["kv"]:
        kv(argv)
    elif argv[:1] == ["d1"]:
        # The events database is written by the edge, never mirrored: the real wrangler.
        os.execv(real_wrangler(), [real_wrangler(), *argv])
    elif argv[:1] == ["flush"]:
        flush(argv[1:])
    elif argv[:1] == ["commit"]:
        commit(argv[1:])
    elif argv[:1] == ["mirror"]:
        start_mirror(argv[1:])
    else:
        fail("usage: kv_mirror.py kv ... | flush DIR [--keep] | commit DIR BATCH_FILE | mirror DIR", 2)


if __name__ == "__main__":
    main()
