#!/usr/bin/env python3
"""Demo token server for the bearer upstream: GET /token with Basic creds -> RS256 JWT that distribution trusts.

Usage: token_server.py PORT KEY_PEM CERT_PEM PASSWORD_FILE ISSUER SERVICE
The JWT carries the signing cert in `x5c`; distribution verifies it against its `rootcertbundle`
(the same cert) and grants exactly the `access` listed, which is every requested scope.
Each request is logged to stdout as one JSON line (method, path, auth scheme present, status), never a secret.
"""
import base64
import hmac
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT, KEY, CERT, PASSWORD_FILE, ISSUER, SERVICE = sys.argv[1:7]
USER = "vendor"
TTL = 300


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64():
    pem = open(CERT).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())  # x5c is standard base64 of the DER, which is the PEM body


X5C = cert_der_b64()


def parse_scopes(values):
    """['repository:demo/hello:pull repository:a/b:pull,push'] -> access entries."""
    access = []
    for value in values:
        for item in value.split():
            if item.count(":") < 2:
                continue
            typ, rest = item.split(":", 1)
            name, actions = rest.rsplit(":", 1)
            access.append({"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]})
    return access


def sign_jwt(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    return signing_input + "." + b64url(sig)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pullgate-demo-token"

    def log_message(self, fmt, *args):
        pass  # one structured line per request instead, in _send

    def _send(self, status, obj, extra=()):
        # Logged before answering, so a client that reads the log after its answer finds the line.
        auth = self.headers.get("Authorization", "")
        line = {
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "method": self.command,
            "path": self.path,
            "auth": auth.split(" ", 1)[0].lower() if auth else "none",
            "status": status,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self):
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except Exception:
            return False
        want = open(PASSWORD_FILE).read().strip()
        return hmac.compare_digest(user, USER) & hmac.compare_digest(password, want)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/token":
            return self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "only GET /token"}]})
        if not self._authorized():
            return self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad or missing credentials"}]},
                              [("WWW-Authenticate", 'Basic realm="pullgate-demo-token"')])
        query = parse_qs(url.query)
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": USER,
            "aud": query.get("service", [SERVICE])[0],
            "exp": now + TTL,
            "nbf": now - 1,
            "iat": now,
            "jti": b64url(os.urandom(12)),
            "access": parse_scopes(query.get("scope", [])),
        }
        token = sign_jwt(claims)
        issued = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._send(200, {"token": token, "access_token": token, "expires_in": TTL, "issued_at": issued})

    def do_POST(self):
        # No OAuth2 password grant here: 405 makes clients such as containerd fall back to GET.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(405, {"errors": [{"code": "UNSUPPORTED", "message": "use GET /token"}]})


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
