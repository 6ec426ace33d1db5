"""A local HTTP test server for harvestd's integration tests.

Runs in a thread of the test process on 127.0.0.1 and a free port. It
counts requests per path (so tests can prove what was and was not fetched)
and serves:

  /size/N           200, N bytes of text
  /status/N         status N with a short body
  /slow/MS          waits MS milliseconds, then 200
  /redirect/N       302 to /redirect/N-1; /redirect/0 answers 200 "end"
  /gzip/N           N bytes, gzip-compressed when the client accepts it
  /hello            200 "hello"
  /flaky/N?k=KEY    503 for the first N requests with that key, then 200
  /retry-after/S?k=KEY  503 with Retry-After: S the first time, then 200
  /echo             the request line and headers, as the body
  /robots.txt       server.robots (text), or server.robots_status
  /goto             302 to server.redirect_to
  /bytes/N?seed=K&kind=text|binary
                    200, N bytes from body_for(N, K, kind): varied, and
                    reproducible by the test that asks for them
Every request's arrival time is kept in server.log as (time, path), and
its headers in server.requests as (path, [(name, value), ...]). It also
acts as an HTTP proxy: a request for an absolute URL (http://host/path)
is answered as if for its path, and the URL is kept in server.proxied.
"""
import collections
import json
import gzip
import http.server
import random
import threading
import time
import urllib.parse

import crawlsite  # noqa: E402

# Characters of the text bodies: plain ASCII, what JSON escapes, and
# UTF-8 of two, three and four bytes.
_TEXT = ("abcdefghijklmnopqrstuvwxyz0123456789 .,<>&/" * 3 +
         '"\\\n\t\r\b\f\x01\x1f\x7f\u00e9\u00df\u20ac\u4e2d\U0001f600')


def body_for(n, seed, kind):
    """N bytes (text: at most N, cut at a character) of the given kind,
    the same for the same arguments."""
    rng = random.Random("%d-%s" % (seed, kind))
    if kind == "binary":
        # Not UTF-8 (0xff never is), so it travels as body_base64.
        return b"\xff" + rng.randbytes(max(n - 1, 0))
    block = "".join(rng.choice(_TEXT) for _ in range(16384)).encode()
    body = block * (n // len(block) + 1)
    return body[:n].decode(errors="ignore").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "harvestd-testserver"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _send(self, status, body, ctype="text/plain", headers=None):
        # 204 and 304 have no body (RFC 9110): sending one would be read
        # as the start of the next response on the connection.
        if status in (204, 304):
            body = b""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def _target(self):
        """The path asked for; an absolute URL (a proxy request) is kept
        in server.proxied and answered as its path."""
        if self.path.startswith("http://"):
            u = urllib.parse.urlsplit(self.path)
            with self.server.lock:
                self.server.proxied.append(self.path)
            self.path = u.path + ("?" + u.query if u.query else "")
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.requests.append((path, list(self.headers.items())))
        return path

    def do_POST(self):
        srv = self.server
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        path = self._target()
        with srv.lock:
            srv.hits[path] += 1
            try:
                srv.posts.append((path, json.loads(body)))
            except ValueError:
                srv.posts.append((path, body))
        self._send(200, b"thanks\n")

    def do_GET(self):
        srv = self.server
        path = self._target()
        host = self.headers.get("Host", "")
        with srv.lock:
            now = time.monotonic()
            srv.hits[path] += 1
            srv.log.append((now, self.path))
            srv.host_log.append((now, host, self.path))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            srv.host_in_flight[host] += 1
            srv.host_max_in_flight[host] = max(
                srv.host_max_in_flight[host], srv.host_in_flight[host])
        try:
            self._route(path)
        finally:
            with srv.lock:
                srv.in_flight -= 1
                srv.host_in_flight[host] -= 1

    def _route(self, path):
        host = self.headers.get("Host", "").rsplit(":", 1)[0]
        if host.endswith(".localhost"):
            with self.server.lock:
                self.server.site_hits.append((host, path))
            if crawlsite.route(self, host, path) is not False:
                return None
        parts = path.strip("/").split("/")
        try:
            arg = int(parts[1]) if len(parts) > 1 else 0
        except ValueError:
            return self._send(400, b"bad argument\n")
        head = parts[0]
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        srv = self.server
        if head == "robots.txt":
            if srv.robots is None:
                return self._send(srv.robots_status, b"no robots\n")
            return self._send(200, srv.robots.encode())
        if head == "echo":
            text = "%s %s\n%s" % (self.command, self.path, self.headers)
            return self._send(200, text.encode())
        if head in ("flaky", "retry-after"):
            with srv.lock:
                srv.keyed[query] += 1
                n = srv.keyed[query]
            if head == "flaky" and n <= arg:
                return self._send(503, b"try again\n")
            if head == "retry-after" and n == 1:
                return self._send(503, b"later\n",
                                  headers={"Retry-After": str(arg)})
            return self._send(200, b"ok after %d\n" % n)
        if head == "goto":
            return self._send(302, b"", headers={"Location": srv.redirect_to})
        if head == "hello":
            return self._send(200, b"hello")
        if head == "bytes":
            q = urllib.parse.parse_qs(query)
            return self._send(200, body_for(
                arg, int(q.get("seed", ["0"])[0]),
                q.get("kind", ["text"])[0]),
                ctype="application/octet-stream")
        if head == "size":
            return self._send(200, b"a" * min(arg, 50 * 1024 * 1024))
        if head == "status":
            return self._send(arg, ("status %d\n" % arg).encode())
        if head == "slow":
            time.sleep(arg / 1000.0)
            return self._send(200, b"slow done\n")
        if head == "redirect":
            if arg <= 0:
                return self._send(200, b"end")
            return self._send(302, b"", headers={
                "Location": "/redirect/%d" % (arg - 1)})
        if head == "gzip":
            body = b"z" * arg
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                return self._send(200, gzip.compress(body),
                                  headers={"Content-Encoding": "gzip"})
            return self._send(200, body)
        return self._send(404, b"no such endpoint\n")


class TestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, host="127.0.0.1"):
        super().__init__((host, 0), _Handler)
        self.lock = threading.Lock()
        self.hits = collections.Counter()
        self.keyed = collections.Counter()
        self.log = []
        self.robots = None
        self.robots_status = 404
        self.redirect_to = "/hello"
        self.posts = []
        self.site_hits = []     # (host, path) of the crawl test site
        self.requests = []
        self.proxied = []
        self.in_flight = 0
        self.max_in_flight = 0
        # By Host header (with port): arrivals, requests in flight and
        # the most ever in flight at once.
        self.host_log = []
        self.host_in_flight = collections.Counter()
        self.host_max_in_flight = collections.Counter()
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def handle_error(self, request, client_address):
        # Clients that hang up early (a body limit, a timeout) are expected.
        pass

    @property
    def port(self):
        return self.server_address[1]

    def url(self, path):
        return "http://%s:%d%s" % (self.server_address[0], self.port, path)

    def arrivals(self, prefix):
        """Arrival times of the requests whose path starts with prefix."""
        with self.lock:
            return [t for t, p in self.log if p.startswith(prefix)]

    def host_arrivals(self, host):
        """Arrival times of the requests whose Host header is host."""
        with self.lock:
            return [t for t, h, _ in self.host_log if h == host]

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
