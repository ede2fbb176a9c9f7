"""A misbehaving upstream for the tests: answers registry paths with the failure its repository names.

Usage: faults.py PORT LOG
  /v2/                          200 (so clients see a registry)
  /v2/ratelimited/...           429 with Retry-After: 7
  /v2/unavailable/...           503
  /v2/<anything else>/...       404 MANIFEST_UNKNOWN
Every request is logged as one JSON line (method, path) to LOG, so tests can prove that a
refused client request never reached the upstream. Loopback only.
"""
import http.server
import json
import sys
import threading

PORT, LOG = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        with lock, open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path}) + "\n")
        path = self.path.split("?")[0]
        headers = {"Docker-Distribution-API-Version": "registry/2.0", "Content-Type": "application/json"}
        if path == "/v2/":
            status, body = 200, b"{}"
        elif path.startswith("/v2/ratelimited/"):
            status, body = 429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            headers["Retry-After"] = "7"
        elif path.startswith("/v2/unavailable/"):
            status, body = 503, b"<html>upstream maintenance</html>"
            headers["Content-Type"] = "text/html"
        else:
            status, body = 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}'
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = answer

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
