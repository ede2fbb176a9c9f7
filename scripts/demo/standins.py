#!/usr/bin/env python3
"""Stand-ins for the registries vendors use (ECR, GCR/Artifact Registry, Docker Hub, GHCR, an
Artifactory-like Basic registry, an anonymous-bearer registry), each fronting the demo's real
distribution registry, so the edge's upstream authentication can be proven end to end on loopback.

Usage: standins.py [--base PORT] [--state DIR] [--open URL] [--stream URL] [--log FILE]
       standins.py --self-test tests/vectors/aws-sigv4    (the SigV4 verifier against AWS's suite)
  --base    first port (default $PULLGATE_PORT_BASE + 20); flavors take base+0 .. base+7:
              +0 ecr            registry, Basic realm; accepts base64("AWS:" + password) from +1
              +1 ecr-api        GetAuthorizationToken (POST /, SigV4-verified), 12 h passwords
              +2 gcr            registry + Bearer realm /v2/token (_json_key / oauth2accesstoken);
                                blob GETs 302 to a relative /artifacts-downloads/... served here
              +3 dockerhub      registry; one-component names only as library/<x> (= demo/<x>)
              +4 dockerhub-auth Bearer realm http://localhost:<+4>/token (another loopback host name)
              +5 ghcr           registry + Bearer realm /token (username + PAT)
              +6 artifactory    Basic only; serves blob bytes itself (fronts the stream registry)
              +7 anonymous      registry + Bearer realm /token/ handing out tokens to anyone
  --state   default $PULLGATE_STATE; writes standins/standins.json (ports, URLs) and
            standins/credentials.json + standins/gcr-key.json (mode 600; the valid credentials)
  --open    registry fronted by all but artifactory (default $PULLGATE_UPSTREAM_URL)
  --stream  registry fronted by artifactory (default $PULLGATE_UPSTREAM_STREAM_URL)
  --log     default $PULLGATE_STATE/logs/standins.log: one JSON line per request (flavor, role,
            method, path, auth scheme, user/identity, status, ...), never a secret

Control (from loopback only), on any flavor's port, acting on that flavor:
  POST /_control/ratelimit[?target=registry|realm|api|all&retry_after=5]  answer 429 + Retry-After
  POST /_control/expire[?after=N]     invalidate every credential issued so far, now or after the
                                      next N authorized registry requests (ECR: passwords then get
                                      ECR's plain-text 403 "...has expired"; bearer: 401 invalid_token)
  POST /_control/foreign-realm[?realm=URL]  401s name a Bearer realm on another domain
                                      (default https://auth.example.invalid/token)
  POST /_control/reset[?all=1]        clear this flavor's faults (all=1: every flavor's)
  GET  /_control/state                faults and counters, as JSON
Python 3 standard library only; listens on 127.0.0.1 only. SIGTERM/SIGINT stop it.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

OFFSETS = {"ecr": 0, "ecr-api": 1, "gcr": 2, "dockerhub": 3, "dockerhub-auth": 4, "ghcr": 5,
           "artifactory": 6, "anonymous": 7}
FLAVORS = ("ecr", "gcr", "dockerhub", "ghcr", "artifactory", "anonymous")
BEARER = ("gcr", "dockerhub", "ghcr", "anonymous")
SERVICE = {"ecr": "ecr.amazonaws.com", "gcr": "gcr.io", "dockerhub": "registry.docker.io",
           "ghcr": "ghcr.io", "anonymous": "public.ecr.aws"}
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
ECR_EXPIRED = "Your authorization token has expired. Reauthenticate and try again."
ECR_TOKEN_SECONDS = 12 * 3600
FOREIGN_REALM = "https://auth.example.invalid/token"
TOKEN_SECONDS = {"gcr": 3600, "dockerhub": 300, "ghcr": 300, "anonymous": 300}
DOWNLOAD_SECONDS = 600
MAX_CLOCK_SKEW = 15 * 60
CHUNK = 1 << 16
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization", "date", "server"}
NAME_RE = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags|referrers)(?P<rest>/.*)?$")


def now():
    return time.time()


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    """Everything the stand-ins remember, behind one lock."""

    def __init__(self, cfg, creds):
        self.cfg, self.creds = cfg, creds
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.serial = 0
        self.faults = {f: {} for f in FLAVORS}
        self.tokens = {}         # bearer token -> {flavor, identity, repos, expires, id, valid}
        self.ecr_passwords = {}  # password -> {id, expires, valid}
        self.downloads = {}      # id -> (backing repo, digest, expires)
        self.counters = {f: {} for f in FLAVORS}

    def next_id(self, prefix):
        with self.lock:
            self.serial += 1
            return "%s-%d" % (prefix, self.serial)

    def count(self, flavor, what):
        with self.lock:
            c = self.counters[flavor]
            c[what] = c.get(what, 0) + 1

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.log_lock:
            with open(self.cfg.log, "a") as f:
                f.write(line)

    def invalidate(self, flavor):
        with self.lock:
            if flavor == "ecr":
                for p in self.ecr_passwords.values():
                    p["valid"] = False
            for t in self.tokens.values():
                if t["flavor"] == flavor:
                    t["valid"] = False
            self.counters[flavor]["expired"] = self.counters[flavor].get("expired", 0) + 1

    def authorized_request(self, flavor):
        """Counts down an `expire?after=N`; invalidates when it reaches zero."""
        with self.lock:
            left = self.faults[flavor].get("expire_after")
            if left is None:
                return
            left -= 1
            if left > 0:
                self.faults[flavor]["expire_after"] = left
                return
            del self.faults[flavor]["expire_after"]
        self.invalidate(flavor)


def b64(data):
    return base64.b64encode(data).decode()


def parse_basic(header):
    """(user, password) of a Basic Authorization header, or None."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except Exception:
        return None
    return (user, password) if sep else None


def scheme_of(header):
    return header.split(" ", 1)[0].lower() if header else "none"


def eq(a, b):
    return hmac.compare_digest(a.encode(), b.encode())


# ---------------------------------------------------------------- SigV4 verification (ECR API)

def sigv4_verify(method, raw_path, query, headers, body, creds, expected_service="ecr",
                 required=("host", "x-amz-date", "x-amz-target")):
    """Verifies an AWS Signature Version 4 Authorization header. Returns (ok, error_type, message,
    detail dict for the log). `headers` is a list of (name, value) as received."""
    detail = {}
    auth = next((v for k, v in headers if k.lower() == "authorization"), "")
    if not auth:
        return False, "MissingAuthenticationTokenException", "Missing Authentication Token", detail
    m = re.match(r"^AWS4-HMAC-SHA256\s+(.*)$", auth.strip())
    if not m:
        return False, "IncompleteSignatureException", "Authorization header is not AWS4-HMAC-SHA256", detail
    parts = {}
    for item in m.group(1).split(","):
        k, _, v = item.strip().partition("=")
        parts[k] = v
    try:
        key_id, date, region, service, terminator = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        signature = parts["Signature"]
    except (KeyError, ValueError):
        return False, "IncompleteSignatureException", "Authorization header lacks Credential, SignedHeaders or Signature", detail
    detail.update({"access_key_id": key_id, "region": region, "service": service})
    if key_id != creds["access_key_id"]:
        return False, "UnrecognizedClientException", "The security token included in the request is invalid.", detail
    if terminator != "aws4_request" or service != expected_service:
        return False, "InvalidSignatureException", "Credential should be scoped to correct service: '%s'." % expected_service, detail
    if region != creds["region"]:
        return False, "InvalidSignatureException", "Credential should be scoped to a valid region, not '%s'." % region, detail
    names = {k.lower() for k, _ in headers}
    for must in required:
        if must not in signed or must not in names:
            return False, "InvalidSignatureException", "'%s' must be a signed header" % must, detail
    if signed != sorted(signed) or any(h != h.lower() for h in signed):
        return False, "InvalidSignatureException", "SignedHeaders must be lowercase and sorted", detail
    amz_date = next(v for k, v in headers if k.lower() == "x-amz-date").strip()
    try:
        t = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return False, "IncompleteSignatureException", "X-Amz-Date %r is not YYYYMMDDTHHMMSSZ" % amz_date, detail
    if abs(now() - t) > MAX_CLOCK_SKEW:
        return False, "InvalidSignatureException", "Signature expired: %s is not within 15 minutes of %s" % (
            amz_date, datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")), detail
    if amz_date[:8] != date:
        return False, "InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from X-Amz-Date", detail
    # Canonical request (every service but S3: normalized path, encoded once more).
    segments = []
    for s in raw_path.split("/"):
        if s == "..":
            segments = segments[:-1]
        elif s not in ("", "."):
            segments.append(s)
    canonical_uri = "/" + "/".join(quote(s, safe="-_.~") for s in segments)
    if raw_path.endswith("/") and segments:
        canonical_uri += "/"
    pairs = []
    for item in query.split("&") if query else []:
        k, _, v = item.partition("=")
        pairs.append((quote(k, safe="-_.~%"), quote(v, safe="-_.~%")))
    canonical_query = "&".join("%s=%s" % kv for kv in sorted(pairs))
    values = {}
    for k, v in headers:
        values.setdefault(k.lower(), []).append(" ".join(v.strip().split()))
    canonical_headers = "".join("%s:%s\n" % (h, ",".join(values.get(h, []))) for h in signed)
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method, canonical_uri, canonical_query, canonical_headers, ";".join(signed), payload_hash])
    scope = "/".join([date, region, service, terminator])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + creds["secret_access_key"]).encode()
    for part in (date, region, service, terminator):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    detail["signed_headers"] = ";".join(signed)
    if not hmac.compare_digest(want, signature):
        return False, "InvalidSignatureException", (
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details."), detail
    return True, None, None, detail


def self_test(vectors):
    """Checks sigv4_verify against the AWS SigV4 test suite (tests/vectors/aws-sigv4): every
    normalized-path vector's signed request verifies, and fails once its body is changed.
    Independent of the Worker's signer, so the two cannot share a mistake unnoticed."""
    checked, failed = 0, []
    for name in sorted(os.listdir(vectors)):
        d = os.path.join(vectors, name)
        if not os.path.isfile(os.path.join(d, "context.json")):
            continue
        with open(os.path.join(d, "context.json")) as f:
            ctx = json.load(f)
        if not ctx.get("normalize", True) or ctx.get("sign_body"):
            continue  # S3-style vectors: not what ECR's API does
        with open(os.path.join(d, "header-signed-request.txt"), "rb") as f:
            head, _, body = f.read().decode().partition("\n\n")
        lines = head.split("\n")
        method, rest = lines[0].split(" ", 1)
        path, _, query = rest.rsplit(" ", 1)[0].partition("?")
        headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:
                headers[-1] = (headers[-1][0], headers[-1][1] + "\n" + line)
            else:
                k, _, v = line.partition(":")
                headers.append((k, v))
        creds = dict(ctx["credentials"], region=ctx["region"])
        t = datetime.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        global now
        real_now, now = now, lambda: t
        try:
            args = (method, path, query, headers)
            good = sigv4_verify(*args, body.encode(), creds, ctx["service"], ("host", "x-amz-date"))
            tampered = sigv4_verify(*args, body.encode() + b"!", creds, ctx["service"], ("host", "x-amz-date"))
        finally:
            now = real_now
        checked += 1
        if not good[0]:
            failed.append("%s: %s" % (name, good[2]))
        if tampered[0]:
            failed.append("%s: a changed body still verified" % name)
    for f in failed:
        sys.stderr.write("standins self-test: %s\n" % f)
    print("standins self-test: %d SigV4 vectors, %d failures" % (checked, len(failed)))
    return checked > 0 and not failed


# ---------------------------------------------------------------- HTTP handling

def make_handler(state, flavor, role_default):
    cfg = state.cfg
    # The flavor whose faults and counters this port shares (the ECR API and Hub realm ports).
    base_flavor = {"ecr-api": "ecr", "dockerhub-auth": "dockerhub"}.get(flavor, flavor)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "pullgate-standin-" + flavor

        def log_message(self, fmt, *args):
            pass  # one JSON line per request instead (State.log)

        # -- plumbing

        def begin(self, role):
            auth = self.headers.get("Authorization", "")
            self.entry = {"time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                          "flavor": base_flavor, "role": role, "port": self.server.server_address[1],
                          "method": self.command, "path": self.path, "auth": scheme_of(auth)}
            basic = parse_basic(auth)
            if basic:
                self.entry["user"] = basic[0]

        def finish_log(self, status):
            self.entry["status"] = status
            state.log(self.entry)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""

        def send(self, status, body=b"", headers=(), content_type="application/json"):
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            # Logged before the first byte of the answer: a client that acts on the status line
            # (the edge reads a 401's challenge, asks the realm and retries) cannot get its next
            # request logged ahead of this one, and a client reading the log after its answer finds it.
            self.finish_log(status)
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if role_default != "api":
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def oci_error(self, status, code, message, headers=()):
            self.send(status, {"errors": [{"code": code, "message": message, "detail": None}]}, headers)

        def do_GET(self):
            self.dispatch()

        def do_HEAD(self):
            self.dispatch()

        def do_POST(self):
            self.dispatch()

        def do_PUT(self):
            self.dispatch()

        def do_DELETE(self):
            self.dispatch()

        def do_PATCH(self):
            self.dispatch()

        def dispatch(self):
            self.entry = None
            path = urlsplit(self.path).path
            try:
                if path.startswith("/_control/"):
                    return self.control(path[len("/_control/"):])
                if role_default == "api":
                    return self.ecr_api()
                if role_default == "realm":
                    return self.realm()
                if flavor == "gcr" and path == "/v2/token":
                    return self.realm()
                if flavor in ("ghcr", "anonymous") and path in ("/token", "/token/"):
                    return self.realm()
                if flavor == "gcr" and path.startswith("/artifacts-downloads/"):
                    return self.download()
                return self.registry()
            except (BrokenPipeError, ConnectionResetError):
                if self.entry is not None and "status" not in self.entry:
                    self.entry["note"] = "client went away"
                    self.finish_log(499)
            except Exception as e:  # a bug here must show as 500 in the log, not a hung client
                sys.stderr.write("standins: %s %s: %r\n" % (self.command, self.path, e))
                if self.entry is None:
                    self.begin("error")
                self.entry["error"] = repr(e)[:300]
                try:
                    self.send(500, {"errors": [{"code": "UNKNOWN", "message": "stand-in error"}]})
                except Exception:
                    pass

        # -- control

        def control(self, action):
            self.begin("control")
            self.entry["auth"] = "none"
            host = self.client_address[0]
            if not (host.startswith("127.") or host == "::1"):
                return self.send(403, {"error": "loopback only"})
            q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
            raw = self.body()
            if raw:
                try:
                    q.update({k: str(v) for k, v in json.loads(raw).items()})
                except Exception:
                    return self.send(400, {"error": "body must be a JSON object"})
            fl = base_flavor
            if action == "state" and self.command == "GET":
                with state.lock:
                    doc = {"flavor": fl, "faults": state.faults, "counters": state.counters,
                           "ecr_passwords_valid": sum(1 for p in state.ecr_passwords.values() if p["valid"]),
                           "tokens_valid": sum(1 for t in state.tokens.values() if t["valid"])}
                    body = json.dumps(doc)
                return self.send(200, body)
            if self.command != "POST":
                return self.send(405, {"error": "POST /_control/<action>"})
            if action == "ratelimit":
                target = q.get("target", "registry")
                if target not in ("registry", "realm", "api", "all"):
                    return self.send(400, {"error": "target must be registry, realm, api or all"})
                with state.lock:
                    state.faults[fl]["ratelimit"] = {"target": target, "retry_after": int(q.get("retry_after", 5))}
            elif action == "expire":
                after = int(q.get("after", 0))
                if after <= 0:
                    state.invalidate(fl)
                else:
                    with state.lock:
                        state.faults[fl]["expire_after"] = after
            elif action == "foreign-realm":
                with state.lock:
                    state.faults[fl]["foreign_realm"] = q.get("realm", FOREIGN_REALM)
            elif action == "reset":
                with state.lock:
                    for f in (FLAVORS if q.get("all") in ("1", "true") else (fl,)):
                        state.faults[f] = {}
            else:
                return self.send(404, {"error": "unknown control action %r" % action})
            self.entry["control"] = action
            with state.lock:
                body = json.dumps({"flavor": fl, "faults": state.faults[fl]})
            self.send(200, body)

        def rate_limited(self, target):
            fl = base_flavor
            with state.lock:
                rl = state.faults[fl].get("ratelimit")
            if not rl or rl["target"] not in (target, "all"):
                return False
            self.entry["fault"] = "ratelimit"
            self.oci_error(429, "TOOMANYREQUESTS",
                           "You have reached your pull rate limit. (stand-in %s)" % fl,
                           [("Retry-After", str(rl["retry_after"]))])
            return True

        # -- registry

        def challenge(self, repo=None, error=None):
            with state.lock:
                foreign = state.faults[flavor].get("foreign_realm")
            port = cfg.port(flavor)
            if foreign:
                value = 'Bearer realm="%s",service="%s"' % (foreign, SERVICE.get(flavor, flavor))
            elif flavor == "ecr":
                value = 'Basic realm="http://127.0.0.1:%d/",service="ecr.amazonaws.com"' % port
            elif flavor == "artifactory":
                value = 'Basic realm="Artifactory Realm"'
            else:
                realm = {"gcr": "http://127.0.0.1:%d/v2/token" % port,
                         "dockerhub": "http://localhost:%d/token" % cfg.port("dockerhub-auth"),
                         "ghcr": "http://127.0.0.1:%d/token" % port,
                         "anonymous": "http://127.0.0.1:%d/token/" % port}[flavor]
                value = 'Bearer realm="%s",service="%s"' % (realm, SERVICE[flavor])
                if flavor == "anonymous":
                    value += ',scope="aws"'
                elif repo and flavor in ("dockerhub", "ghcr"):
                    value += ',scope="repository:%s:pull"' % repo
                if error:
                    value += ',error="%s"' % error
            self.entry["challenge"] = value
            return [("WWW-Authenticate", value)]

        def unauthorized(self, repo=None, error=None, message="authentication required"):
            headers = self.challenge(repo, error)
            if flavor == "ecr":
                return self.send(401, "Not Authorized\n", headers, content_type="text/plain; charset=utf-8")
            if flavor == "artifactory":
                return self.send(401, {"errors": [{"status": 401, "message": "Bad credentials"}]}, headers)
            self.oci_error(401, "UNAUTHORIZED", message, headers)

        def check_credentials(self, repo):
            """True when the request carries this flavor's credentials for `repo` (None: /v2/)."""
            auth = self.headers.get("Authorization", "")
            with state.lock:
                foreign = state.faults[flavor].get("foreign_realm")
            if foreign:
                self.unauthorized(repo)
                return False
            if flavor in ("ecr", "artifactory"):
                basic = parse_basic(auth)
                if flavor == "ecr":
                    if not basic or basic[0] != "AWS":
                        self.unauthorized(repo)
                        return False
                    with state.lock:
                        p = state.ecr_passwords.get(basic[1])
                        p = dict(p) if p else None
                    if p is None:
                        self.entry["note"] = "unknown ECR password"
                        self.unauthorized(repo)
                        return False
                    self.entry["identity"] = p["id"]
                    if not p["valid"] or p["expires"] <= now():
                        self.entry["note"] = "expired ECR password"
                        self.send(403, ECR_EXPIRED, content_type="text/plain; charset=utf-8")
                        return False
                    return True
                want = state.creds["artifactory"]
                if not basic or not (eq(basic[0], want["username"]) & eq(basic[1], want["password"])):
                    if basic:
                        self.entry["note"] = "wrong username or password"
                    self.unauthorized(repo)
                    return False
                self.entry["identity"] = basic[0]
                return True
            if scheme_of(auth) != "bearer":
                self.unauthorized(repo)
                return False
            token = auth.split(" ", 1)[1].strip() if " " in auth else ""
            with state.lock:
                t = state.tokens.get(token)
                t = dict(t, repos=set(t["repos"])) if t else None
            if t is None or t["flavor"] != flavor:
                self.entry["note"] = "unknown token"
                self.unauthorized(repo, "invalid_token", "invalid token")
                return False
            self.entry["identity"], self.entry["token"] = t["identity"], t["id"]
            if not t["valid"] or t["expires"] <= now():
                self.entry["note"] = "expired token"
                self.unauthorized(repo, "invalid_token", "token expired")
                return False
            if repo is not None and repo not in t["repos"]:
                self.entry["note"] = "token does not cover %s" % repo
                self.unauthorized(repo, "insufficient_scope", "insufficient scope")
                return False
            return True

        def registry(self):
            self.begin("registry")
            path = urlsplit(self.path).path
            if not path.startswith("/v2/"):
                return self.oci_error(404, "NOT_FOUND", "not a registry path")
            if self.rate_limited("registry"):
                return
            m = NAME_RE.match(path)
            repo = m.group("name") if m else None
            if path != "/v2/" and not m:
                return self.oci_error(404, "NOT_FOUND", "unknown registry path")
            if not self.check_credentials(repo):
                return
            state.authorized_request(flavor)
            if self.command not in ("GET", "HEAD"):
                return self.oci_error(405, "UNSUPPORTED", "this stand-in is read-only")
            if path == "/v2/":
                return self.send(200, b"{}")
            backing_repo = repo
            if flavor == "dockerhub":
                if "/" not in repo:
                    # Unreachable with a Hub token (one-component scopes are never granted); kept explicit.
                    return self.oci_error(404, "NAME_UNKNOWN", "repository name not known to registry")
                if repo.startswith("library/"):
                    backing_repo = "demo/" + repo[len("library/"):]
                    self.entry["backing_repo"] = backing_repo
            rest = path[len("/v2/") + len(repo):]
            query = urlsplit(self.path).query
            if flavor == "gcr" and m.group("kind") == "blobs" and (m.group("rest") or "").startswith("/sha256:"):
                return self.gcr_blob_redirect(backing_repo, m.group("rest")[1:])
            base = cfg.stream if flavor == "artifactory" else cfg.open
            self.proxy(base, "/v2/" + backing_repo + rest + ("?" + query if query else ""))

        def proxy(self, base, target, follow=0):
            """Relays `target` on `base` (status, headers incl. Location, and bytes)."""
            u = urlsplit(base)
            headers = {}
            for name in ("Accept", "Range", "If-None-Match", "If-Range"):
                if self.headers.get(name):
                    headers[name] = self.headers.get(name)
            for _ in range(follow + 1):
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                conn.request(self.command, target, headers=headers)
                resp = conn.getresponse()
                location = resp.getheader("Location")
                if follow and resp.status in (301, 302, 303, 307, 308) and location:
                    resp.read()
                    conn.close()
                    u = urlsplit(location)
                    target = u.path + ("?" + u.query if u.query else "")
                    follow -= 1
                    continue
                break
            self.entry["backend_status"] = resp.status
            if location and resp.status in (301, 302, 303, 307, 308):
                self.entry["location"] = location
            length = resp.getheader("Content-Length")
            data = None
            if self.command != "HEAD" and length is None and resp.status not in (204, 304):
                data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() in HOP_BY_HOP or (data is not None and k.lower() == "content-length"):
                    continue
                self.send_header(k, v)
            if data is not None:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            sent = 0
            if self.command != "HEAD":
                if data is not None:
                    self.wfile.write(data)
                    sent = len(data)
                else:
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
            conn.close()
            self.entry["bytes"] = sent
            self.finish_log(resp.status)

        def gcr_blob_redirect(self, backing_repo, digest):
            """Artifact Registry answers blob GETs with a 302 to a download URL on its own host."""
            u = urlsplit(cfg.open)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            conn.request("HEAD", "/v2/%s/blobs/%s" % (backing_repo, digest))
            status = conn.getresponse().status
            conn.close()
            if status not in (200, 307):
                return self.oci_error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            download = secrets.token_urlsafe(18)
            with state.lock:
                state.downloads[download] = (backing_repo, digest, now() + DOWNLOAD_SECONDS)
            location = "/artifacts-downloads/namespaces/pullgate-demo/repositories/%s/downloads/%s" % (
                backing_repo.replace("/", "%2F"), download)
            self.entry["location"] = location
            self.send(302, b"", [("Location", location)], content_type=None)

        def download(self):
            self.begin("download")
            download = urlsplit(self.path).path.rsplit("/", 1)[-1]
            with state.lock:
                found = state.downloads.get(download)
            if not found or found[2] <= now():
                return self.send(404, "download link unknown or expired\n", content_type="text/plain")
            backing_repo, digest, _ = found
            self.entry["backing_repo"], self.entry["digest"] = backing_repo, digest
            self.proxy(cfg.open, "/v2/%s/blobs/%s" % (backing_repo, digest), follow=2)

        # -- token realms

        def realm(self):
            self.begin("realm")
            fl = base_flavor
            self.entry["flavor"] = fl
            if flavor == "dockerhub-auth" and urlsplit(self.path).path != "/token":
                return self.send(404, {"details": "GET /token"})
            if self.rate_limited("realm"):
                return
            if self.command not in ("GET",):
                return self.oci_error(405, "UNSUPPORTED", "use GET")
            q = parse_qs(urlsplit(self.path).query)
            service = q.get("service", [""])[0]
            scopes = " ".join(q.get("scope", [])).split()
            self.entry["service"], self.entry["scope"] = service, scopes
            if service != SERVICE[fl]:
                self.entry["note"] = "wrong service"
                return self.send(400, {"details": "service %r is not %r" % (service, SERVICE[fl])})
            auth = self.headers.get("Authorization", "")
            basic = parse_basic(auth)
            identity = None
            if fl == "anonymous":
                identity = "anonymous"
            elif fl == "gcr" and basic and basic[0] == "_json_key":
                want = state.creds["gcr"]["json_key"]
                try:
                    key = json.loads(basic[1])
                except ValueError:
                    key = None
                if (isinstance(key, dict) and key.get("type") == "service_account"
                        and isinstance(key.get("client_email"), str) and isinstance(key.get("private_key"), str)):
                    self.entry["client_email"] = key["client_email"]
                    if eq(key["client_email"], want["client_email"]) & eq(key["private_key"], want["private_key"]):
                        identity = key["client_email"]
                    else:
                        self.entry["note"] = "service-account key not valid"
                else:
                    self.entry["note"] = "_json_key is not a service-account key"
            elif fl == "gcr" and basic and basic[0] == "oauth2accesstoken":
                if eq(basic[1], state.creds["gcr"]["oauth2_token"]):
                    identity = "oauth2accesstoken"
                else:
                    self.entry["note"] = "access token not valid"
            elif fl in ("dockerhub", "ghcr") and basic:
                want = state.creds[fl]
                secret = want["password"] if fl == "dockerhub" else want["token"]
                if eq(basic[0], want["username"]) & eq(basic[1], secret):
                    identity = basic[0]
                else:
                    self.entry["note"] = "wrong username or %s" % ("password" if fl == "dockerhub" else "token")
            if identity is None:
                if fl == "gcr":
                    return self.oci_error(401, "UNAUTHORIZED", "Not Authorized.")
                if fl == "ghcr":
                    return self.oci_error(403, "DENIED", "denied: denied")
                return self.send(401, {"details": "incorrect username or password"})
            repos, refused = [], []
            for s in scopes:
                parts = s.split(":")
                if len(parts) >= 3 and parts[0] == "repository" and "pull" in parts[-1].split(","):
                    name = ":".join(parts[1:-1])
                    if fl == "dockerhub" and "/" not in name:
                        refused.append(name)  # Hub grants nothing for `hello`: it must be library/hello
                    else:
                        repos.append(name)
            if refused:
                self.entry["refused_scope"] = refused
            tok = secrets.token_urlsafe(32)
            tid = state.next_id("%s-token" % fl)
            issued = now()
            with state.lock:
                state.tokens[tok] = {"flavor": fl, "identity": identity, "repos": repos, "id": tid,
                                     "expires": issued + TOKEN_SECONDS[fl], "valid": True}
            state.count(fl, "tokens_issued")
            self.entry["identity"], self.entry["token"], self.entry["granted"] = identity, tid, repos
            if fl == "gcr":
                body = {"expires_in": TOKEN_SECONDS[fl], "issued_at": iso(issued), "token": tok}
            elif fl == "dockerhub":
                body = {"token": tok, "access_token": tok, "expires_in": TOKEN_SECONDS[fl], "issued_at": iso(issued)}
            else:
                body = {"token": tok}
            self.send(200, body)

        # -- ECR API

        def ecr_api(self):
            self.begin("api")
            self.entry["flavor"] = "ecr"
            body = self.body()
            auth = self.headers.get("Authorization", "")
            self.entry["auth"] = scheme_of(auth)
            target = self.headers.get("X-Amz-Target", "")
            self.entry["action"] = target.rsplit(".", 1)[-1] if target else None
            if self.rate_limited("api"):
                return
            def aws_error(kind, message, status=400):
                self.entry["error"] = kind
                self.send(status, {"__type": kind, "message": message}, content_type="application/x-amz-json-1.1")
            if self.command != "POST" or urlsplit(self.path).path != "/":
                return aws_error("UnknownOperationException", "POST / only", 404)
            ok, kind, message, detail = sigv4_verify(
                "POST", urlsplit(self.path).path, urlsplit(self.path).query, self.headers.items(), body,
                state.creds["ecr"])
            self.entry.update(detail)
            if "access_key_id" in detail:
                self.entry["identity"] = detail["access_key_id"]
            self.entry["sigv4"] = "verified" if ok else kind
            if not ok:
                return aws_error(kind, message, 403 if kind == "MissingAuthenticationTokenException" else 400)
            if target != ECR_TARGET:
                return aws_error("UnknownOperationException", "unknown X-Amz-Target %r" % target)
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-amz-json-1.1":
                return aws_error("SerializationException", "Content-Type must be application/x-amz-json-1.1")
            try:
                json.loads(body or b"{}")
            except ValueError:
                return aws_error("SerializationException", "body is not JSON")
            password = secrets.token_urlsafe(48)
            pid = state.next_id("ecr-password")
            expires = now() + ECR_TOKEN_SECONDS
            with state.lock:
                state.ecr_passwords[password] = {"id": pid, "expires": expires, "valid": True}
            state.count("ecr", "get_authorization_token")
            self.entry["issued"] = pid
            self.send(200, {"authorizationData": [{
                "authorizationToken": b64(("AWS:" + password).encode()),
                "expiresAt": expires,
                "proxyEndpoint": "http://127.0.0.1:%d" % cfg.port("ecr"),
            }]}, content_type="application/x-amz-json-1.1")

    return Handler


# ---------------------------------------------------------------- setup

class Config:
    def __init__(self, args):
        self.base, self.state, self.log = args.base, args.state, args.log
        self.open, self.stream = args.open.rstrip("/"), args.stream.rstrip("/")

    def port(self, flavor):
        return self.base + OFFSETS[flavor]


def write_private(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def load_or_make_credentials(directory):
    """The stand-ins' valid credentials, made once per state dir (mode 600)."""
    path = os.path.join(directory, "credentials.json")
    if os.path.exists(path):
        with open(path) as f:
            creds = json.load(f)
    else:
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        pem_body = base64.encodebytes(secrets.token_bytes(96)).decode()
        creds = {
            "ecr": {"access_key_id": "AKIA" + "".join(secrets.choice(alnum) for _ in range(16)),
                    "secret_access_key": secrets.token_urlsafe(30)[:40], "region": "us-east-1"},
            "gcr": {"json_key": {
                "type": "service_account", "project_id": "pullgate-demo",
                "private_key_id": secrets.token_hex(20),
                "private_key": "-----BEGIN PRIVATE KEY-----\n%s-----END PRIVATE KEY-----\n" % pem_body,
                "client_email": "puller@pullgate-demo.iam.gserviceaccount.com",
                "client_id": str(secrets.randbelow(10 ** 20)),
                "token_uri": "https://oauth2.googleapis.com/token"},
                "oauth2_token": "ya29." + secrets.token_urlsafe(40)},
            "dockerhub": {"username": "pullgatedemo", "password": "dckr_pat_" + secrets.token_urlsafe(24)},
            "ghcr": {"username": "pullgate-bot", "token": "ghp_" + secrets.token_urlsafe(27)},
            "artifactory": {"username": "deployer", "password": secrets.token_urlsafe(18)},
        }
        creds["gcr"]["client_email"] = creds["gcr"]["json_key"]["client_email"]
        creds["gcr"]["private_key"] = creds["gcr"]["json_key"]["private_key"]
        write_private(path, json.dumps(creds, indent=2) + "\n")
    key_path = os.path.join(directory, "gcr-key.json")
    if not os.path.exists(key_path):
        write_private(key_path, json.dumps(creds["gcr"]["json_key"], indent=2) + "\n")
    return creds


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=int, default=int(env("PULLGATE_PORT_BASE") or 18700) + 20)
    p.add_argument("--state", default=env("PULLGATE_STATE"))
    p.add_argument("--open", default=env("PULLGATE_UPSTREAM_URL"))
    p.add_argument("--stream", default=env("PULLGATE_UPSTREAM_STREAM_URL"))
    p.add_argument("--log")
    p.add_argument("--self-test", metavar="VECTORS",
                   help="check the SigV4 verifier against tests/vectors/aws-sigv4, then exit")
    args = p.parse_args()
    if args.self_test:
        sys.exit(0 if self_test(args.self_test) else 1)
    for name in ("state", "open", "stream"):
        if not getattr(args, name):
            p.error("--%s is required (or run under scripts/dev's environment)" % name)
    args.state = os.path.abspath(args.state)
    args.log = args.log or os.path.join(args.state, "logs", "standins.log")
    directory = os.path.join(args.state, "standins")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.makedirs(os.path.dirname(args.log), exist_ok=True)
    cfg = Config(args)
    state = State(cfg, load_or_make_credentials(directory))

    servers = []
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    for name, offset in OFFSETS.items():
        role = {"ecr-api": "api", "dockerhub-auth": "realm"}.get(name, "registry")
        try:
            srv = ThreadingHTTPServer(("127.0.0.1", cfg.base + offset), make_handler(state, name, role))
        except OSError as e:
            sys.exit("standins: cannot listen on 127.0.0.1:%d for %s: %s" % (cfg.base + offset, name, e))
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, name=name, daemon=True).start()

    url = lambda f: "http://127.0.0.1:%d" % cfg.port(f)
    doc = {
        "pid": os.getpid(), "base": cfg.base, "log": cfg.log, "open": cfg.open, "stream": cfg.stream,
        "credentials": os.path.join(directory, "credentials.json"),
        "gcr_json_key": os.path.join(directory, "gcr-key.json"),
        "flavors": {
            "ecr": {"url": url("ecr"), "api": url("ecr-api") + "/", "region": state.creds["ecr"]["region"],
                    "service": SERVICE["ecr"]},
            "gcr": {"url": url("gcr"), "realm": url("gcr") + "/v2/token", "service": SERVICE["gcr"]},
            "dockerhub": {"url": url("dockerhub"), "realm": "http://localhost:%d/token" % cfg.port("dockerhub-auth"),
                          "auth_url": url("dockerhub-auth"), "service": SERVICE["dockerhub"],
                          "library": "library/<x> is served from demo/<x>"},
            "ghcr": {"url": url("ghcr"), "realm": url("ghcr") + "/token", "service": SERVICE["ghcr"]},
            "artifactory": {"url": url("artifactory")},
            "anonymous": {"url": url("anonymous"), "realm": url("anonymous") + "/token/",
                          "service": SERVICE["anonymous"]},
        },
    }
    with open(os.path.join(directory, "standins.json.tmp"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(os.path.join(directory, "standins.json.tmp"), os.path.join(directory, "standins.json"))
    sys.stderr.write("standins: %s on 127.0.0.1:%d-%d, fronting %s (artifactory: %s); log %s\n" % (
        ", ".join(OFFSETS), cfg.base, cfg.base + len(OFFSETS) - 1, cfg.open, cfg.stream, cfg.log))
    sys.stderr.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    for srv in servers:
        srv.shutdown()


if __name__ == "__main__":
    main()
