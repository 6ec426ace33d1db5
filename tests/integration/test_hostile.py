"""Hostile servers become result rows; hostile clients get clear errors;
the address guard keeps jobs away from internal addresses; the daemon
stays responsive through all of it."""
import http.client
import json
import socket
import subprocess
import threading
import time

import harness
from hostile import HostileServer
from testserver import TestServer


class HostileServersTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.evil = HostileServer().start()
        self.addCleanup(self.evil.stop)

    def assertResponsive(self, d):
        self.assertEqual(d.get("/healthz").status, 200)
        job = d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
        self.assertEqual(job["counts"]["done"], 1)

    def test_faults_become_rows(self):
        d = self.daemon("--concurrency", "16")
        e = self.evil
        expect = {
            e.url("/drip"): ("timeout", None),
            e.url("/endless"): ("too_large", 200),
            e.url("/huge-headers"): ("protocol", 200),
            e.url("/bad-status"): ("protocol", None),
            e.url("/reset"): ("connect", 200),
            e.url("/silent"): ("timeout", None),
            e.url("/bad-chunked"): ("protocol", 200),
            e.url("/loop"): ("too_many_redirects", 302),
            e.url("/gzip-bomb"): ("too_large", 200),
        }
        t0 = time.monotonic()
        r = d.submit(list(expect), timeout_ms=3000, max_body_bytes=1 << 20,
                     max_attempts=1)
        self.assertEqual(r.status, 201, r.body)
        job_id = r.json()["id"]
        # While the faults run, the API answers at once.
        st = time.monotonic()
        self.assertEqual(d.get("/v1/status").status, 200)
        self.assertLess(time.monotonic() - st, 1.0)
        job = d.wait_job(job_id, timeout=30)
        took = time.monotonic() - t0
        rows = {x["url"]: x for x in d.results(job_id)}
        self.assertEqual(len(rows), len(expect))
        for url, (kind, status) in expect.items():
            row = rows[url]
            print("%-14s -> error_kind=%s status=%s body_size=%d (%s)" % (
                url.rsplit("/", 1)[1], row["error_kind"], row["status"],
                row["body_size"], row["error_message"]))
            self.assertIsNotNone(row["error_kind"], row)
            if kind is not None:
                self.assertEqual(row["error_kind"], kind, row)
            if status is not None:
                self.assertEqual(row["status"], status, row)
        # The timeouts fired at the configured limit, not later.
        self.assertLess(rows[e.url("/drip")]["time_total_ms"], 4000)
        self.assertLess(rows[e.url("/silent")]["time_total_ms"], 4000)
        self.assertLess(took, 20)
        # Bodies stayed within the cap, decompressed bytes counted.
        self.assertLessEqual(rows[e.url("/endless")]["body_size"], 1 << 20)
        self.assertEqual(rows[e.url("/gzip-bomb")]["body_size"], 1 << 20)
        self.assertTrue(rows[e.url("/gzip-bomb")]["truncated"])
        self.assertResponsive(d)
        self.assertEqual(d.stop(), 0)


class GuardTest(harness.TestCase):
    def test_blocks_internal_addresses(self):
        d = self.daemon(guard=True)
        port = self.server.port
        urls = [
            "http://127.0.0.1:%d/hello" % port,
            "http://localhost:%d/hello" % port,
            "http://[::1]:%d/hello" % port,
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]:%d/hello" % port,
            "http://0.0.0.0:%d/hello" % port,
            "http://10.0.0.1/",
        ]
        r = d.submit(urls, max_attempts=1, connect_timeout_ms=2000)
        self.assertEqual(r.status, 201, r.body)
        job = d.wait_job(r.json()["id"])
        rows = d.results(job["id"])
        self.assertEqual(len(rows), len(urls))
        for row in rows:
            print("%-45s -> %s (%s)" % (row["url"], row["error_kind"],
                                        row["error_message"]))
            self.assertEqual(row["error_kind"], "blocked_address", row)
            self.assertIn("block_private_addresses", row["error_message"])
        self.assertEqual(self.server.hits["/hello"], 0)

    def test_redirect_into_loopback(self):
        relay = TestServer("127.0.0.2").start()
        self.addCleanup(relay.stop)
        relay.redirect_to = self.server.url("/hello")
        d = self.daemon("--set", "allowed_networks=127.0.0.2/32",
                        guard=True)
        url = relay.url("/goto")
        job = d.wait_job(d.submit([url], max_attempts=1).json()["id"])
        row = d.results(job["id"])[0]
        print("redirect from an allowed host into 127.0.0.1: %s (%s)" % (
            row["error_kind"], row["error_message"]))
        self.assertEqual(relay.hits["/goto"], 1)
        self.assertEqual(row["error_kind"], "blocked_address")
        self.assertEqual(self.server.hits["/hello"], 0)


class ClientsTest(harness.TestCase):
    def test_auth(self):
        d = self.daemon("--set", "api_token=s3cret-token")
        r = d.get("/v1/jobs")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"]["code"], "unauthorized")
        self.assertEqual(r.headers["WWW-Authenticate"], "Bearer")
        r = d.request("GET", "/v1/jobs",
                      headers={"Authorization": "Bearer wrong"})
        self.assertEqual(r.status, 401)
        r = d.request("POST", "/v1/jobs", '{"urls":["http://a.test/"]}',
                      "application/json")
        self.assertEqual(r.status, 401)
        self.assertEqual(d.get("/healthz").status, 200)
        d.token = "s3cret-token"
        self.assertEqual(d.get("/v1/jobs").status, 200)
        self.assertEqual(d.submit([self.server.url("/hello")]).status, 201)
        self.assertNotIn("s3cret-token", d.log())

    def test_non_loopback_needs_token(self):
        run = lambda *a: subprocess.run(  # noqa: E731
            [harness.HARVESTD, "--listen", "0.0.0.0", "--check-config"] +
            list(a), capture_output=True, text=True, timeout=30)
        out = run()
        self.assertEqual(out.returncode, 1)
        self.assertIn("api_token", out.stderr)
        self.assertEqual(run("--set", "api_token=x").returncode, 0)
        self.assertEqual(run("--set", "allow_unauthenticated=true")
                         .returncode, 0)

    def test_limits(self):
        d = self.daemon("--set", "max_urls_per_job=5", "--set",
                        "max_url_length=64")
        r = d.submit([self.server.url("/hello?%d" % i) for i in range(6)])
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["code"], "too_many_urls")
        r = d.submit([self.server.url("/hello"),
                      self.server.url("/" + "x" * 80)])
        self.assertEqual(r.status, 201)
        self.assertIn("longer than 64", r.json()["rejected"][0]["reason"])
        bad = [
            (b'{"urls": [], "urls": []}', "invalid_json"),
            (b'{"urls": ["http://a/\xff"]}', "invalid_json"),
            (b'{"urls": ["http://a/\\u0000"]}', "invalid_json"),
            (b"[" * 5000, "invalid_json"),
            (b'{"urls": "x"}', "invalid_request"),
            (b'{"urls": [], "depth": {"a": {"b": 1}}}', "invalid_request"),
        ]
        for body, code in bad:
            r = d.request("POST", "/v1/jobs", body, "application/json")
            print("%-40r -> %d %s" % (body[:40], r.status,
                                      r.json()["error"]["code"]))
            self.assertEqual(r.status, 400)
            self.assertEqual(r.json()["error"]["code"], code)
        r = d.request("POST", "/v1/jobs", b"http://a.test/\x00x\n",
                      "text/plain")
        self.assertEqual(r.status, 400)

    def test_slowloris_does_not_starve_clients(self):
        d = self.daemon("--set", "api_per_ip_connection_limit=16")
        stop = threading.Event()
        held = []

        def attack():
            # From 127.0.0.2, 64 connections that never finish their
            # headers, one byte every half second, for at most 6 s.
            for _ in range(64):
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                try:
                    s.connect(("127.0.0.1", d.port))
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                except OSError:
                    s.close()
                    continue
                held.append(s)
            end = time.monotonic() + 6
            while not stop.is_set() and time.monotonic() < end:
                for s in list(held):
                    try:
                        s.sendall(b"X")
                    except OSError:
                        held.remove(s)
                        s.close()
                stop.wait(0.5)
            for s in held:
                s.close()

        t = threading.Thread(target=attack, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        self.addCleanup(stop.set)
        time.sleep(1.0)  # let the attack get under way (bounded)
        for _ in range(5):
            t0 = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
            conn.request("GET", "/v1/status")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            json.loads(resp.read())
            conn.close()
            self.assertLess(time.monotonic() - t0, 1.0)
        print("slowloris: %d attacker connections open; normal clients "
              "served" % len(held))
        job = d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
        self.assertEqual(job["counts"]["done"], 1)


if __name__ == "__main__":
    harness.main()
