"""Results exports with bodies stream: neither the daemon nor harvestctl
holds a page in memory, however big its bodies are."""
import base64
import hashlib
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys

import harness
from testserver import body_for

HARVESTCTL = harness.HARVESTCTL

NBODIES = 50
BODY_BYTES = 4 * 1024 * 1024
# What an export may add to a process's peak memory: a small constant
# plus one body, never the page (50 x 4 MiB here).
GROWTH_MAX = 64 * 1024 * 1024
# Runs argv[2:] with stdout to argv[1]; prints its peak RSS (KiB) and
# exit status.
MEASURE = """
import os, subprocess, sys
with open(sys.argv[1], "wb") as out:
    p = subprocess.Popen(sys.argv[2:], stdout=out)
    _, status, usage = os.wait4(p.pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def status_kib(pid, key):
    """A "VmHWM"-style line of /proc/PID/status, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def digest(row):
    """(size, sha256) of a result line's body, text or base64."""
    if "body_base64" in row:
        body = base64.b64decode(row["body_base64"], validate=True)
    else:
        body = row["body"].encode()
    return len(body), hashlib.sha256(body).hexdigest()


class ExportTest(harness.TestCase):
    def fetch_job(self):
        """A finished job of NBODIES bodies of 4 MiB, half text (with
        escapes and non-ASCII), half binary; their expected digests by
        URL. The daemon that fetched them is stopped, so what is measured
        afterwards is the export alone."""
        d = self.daemon("--set", "concurrency=2")
        urls, want = [], {}
        for i in range(NBODIES):
            kind = "text" if i % 2 == 0 else "binary"
            url = self.server.url("/bytes/%d?seed=%d&kind=%s" % (
                BODY_BYTES, i, kind))
            body = body_for(BODY_BYTES, i, kind)
            urls.append(url)
            want[url] = (len(body), hashlib.sha256(body).hexdigest())
        job = d.submit(urls).json()["id"]
        done = d.wait_job(job, timeout=120)
        self.assertEqual(done["counts"]["done"], NBODIES, done)
        self.assertEqual(d.stop(), 0)
        return d.db, job, want

    def test_daemon_streams_bodies(self):
        db, job, want = self.fetch_job()
        d = self.daemon(db=db)
        # Warm up: the route, a store connection, a page without bodies.
        self.assertEqual(len(d.results(job)), NBODIES)
        before = status_kib(d.proc.pid, "VmHWM")
        conn = http.client.HTTPConnection("127.0.0.1", d.port,
                                          timeout=120 * harness.SLOW)
        conn.request("GET", "/v1/jobs/%d/results?after=0&limit=1000&"
                     "body=true" % job)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"),
                         "application/x-ndjson")
        next_after = int(resp.getheader("X-Next-After"))
        # Line by line: the test must not hold the page either.
        rows = []
        for _ in range(NBODIES + 1):
            line = resp.readline()
            if not line:
                break
            row = json.loads(line)
            size, sha = digest(row)
            row.pop("body", None)
            row.pop("body_base64", None)
            row["_digest"] = (size, sha)
            rows.append(row)
        self.assertEqual(resp.read(), b"")
        conn.close()
        after = status_kib(d.proc.pid, "VmHWM")
        growth = (after - before) * 1024
        print("daemon VmHWM %d KiB before the export, %d KiB after: "
              "grew %.1f MiB" % (before, after, growth / 1048576.0))
        self.assertEqual(len(rows), NBODIES)
        self.assertEqual({r["url"]: r["_digest"] for r in rows}, want)
        self.assertEqual(next_after, rows[-1]["id"])
        self.assertEqual([r["id"] for r in rows],
                         sorted(r["id"] for r in rows))
        # The next page is empty and says so.
        r = d.get("/v1/jobs/%d/results?after=%d&body=true" % (job,
                                                             next_after))
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(int(r.headers["X-Next-After"]), next_after)
        self.assertLess(growth, GROWTH_MAX)

    def test_pages_of_small_and_streamed_bodies(self):
        """Rows with small bodies (sent whole) and big ones (streamed)
        share pages: every page is the rows up to its X-Next-After, in
        order, with the keys where they always were."""
        d = self.daemon()
        paths = ["/bytes/%d?seed=1&kind=text" % (300 * 1024), "/hello",
                 "/bytes/%d?seed=2&kind=binary" % (200 * 1024), "/size/0",
                 "/status/404", "/bytes/%d?seed=3&kind=text" % (70 * 1024),
                 "/bytes/10?seed=4&kind=binary"]
        job = d.submit([self.server.url(p) for p in paths],
                       concurrency=1, max_attempts=1).json()["id"]
        self.assertEqual(d.wait_job(job)["state"], "done")
        whole = d.get("/v1/jobs/%d/results?body=true&headers=true"
                      % job).body.decode()
        lines = whole.splitlines()
        self.assertEqual(len(lines), len(paths))
        for line in lines:
            # headers, then the body, last.
            key = max(line.rfind('"body":'), line.rfind('"body_base64":'))
            self.assertLess(line.index('"headers":'), key)
            self.assertTrue(line.endswith('"}') or line.endswith('null}'),
                            line[-40:])
        rows = [json.loads(l) for l in lines]
        by_path = {r["url"][len(self.server.url("")):]: r for r in rows}
        for p in paths:
            r = by_path[p]
            if p.startswith("/bytes/"):
                n = int(p.split("/")[2].split("?")[0])
                seed, kind = p.split("seed=")[1].split("&kind=")
                body = body_for(n, int(seed), kind)
                self.assertEqual(digest(r), (len(body),
                                 hashlib.sha256(body).hexdigest()), p)
        self.assertEqual(by_path["/hello"]["body"], "hello")
        self.assertEqual(by_path["/size/0"]["body"], "")
        self.assertEqual(by_path["/status/404"]["body"], "status 404\n")
        # Paged two by two, the same lines.
        got, after = [], 0
        for _ in range(len(paths) + 1):
            r = d.get("/v1/jobs/%d/results?body=true&headers=true&"
                      "limit=2&after=%d" % (job, after))
            page = r.body.decode().splitlines()
            if not page:
                self.assertEqual(int(r.headers["X-Next-After"]), after)
                break
            self.assertLessEqual(len(page), 2)
            after = int(r.headers["X-Next-After"])
            self.assertEqual(json.loads(page[-1])["id"], after)
            got += page
        self.assertEqual(got, lines)
        # failed=true: the page is the failures only.
        r = d.get("/v1/jobs/%d/results?body=true&failed=true" % job)
        failed = r.lines()
        self.assertEqual([x["error_kind"] for x in failed], ["http_status"])
        self.assertEqual(int(r.headers["X-Next-After"]), failed[0]["id"])
        # HEAD: the headers, no body.
        r = d.request("HEAD", "/v1/jobs/%d/results?body=true" % job)
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(int(r.headers["X-Next-After"]), rows[-1]["id"])

    def test_paused_reader_holds_no_transaction(self):
        """A client that stops reading in the middle of a body keeps no
        read transaction open: a checkpoint can still empty the WAL."""
        d = self.daemon()
        job = d.submit([self.server.url("/bytes/%d?seed=%d&kind=text" % (
            300 * 1024, i)) for i in range(20)]).json()["id"]
        self.assertEqual(d.wait_job(job)["state"], "done")
        sock = socket.create_connection(("127.0.0.1", d.port), timeout=30)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /v1/jobs/%d/results?body=true HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n" % job)
        self.assertTrue(sock.recv(65536).startswith(b"HTTP/1.1 200"))
        # New WAL frames, then a checkpoint that must wait for every
        # reader of the WAL to finish.
        self.assertEqual(d.submit([self.server.url("/hello")]).status, 201)
        con = sqlite3.connect(d.db, timeout=10 * harness.SLOW)
        try:
            busy, _, _ = con.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            con.close()
        self.assertEqual(busy, 0)
        self.assertEqual(os.path.getsize(d.db + "-wal"), 0)

    def test_harvestctl_streams_bodies(self):
        db, job, want = self.fetch_job()
        d = self.daemon(db=db)
        out_path = os.path.join(self.workdir, "results.jsonl")
        env = dict(os.environ, HARVESTD_URL="http://127.0.0.1:%d" % d.port)
        env.pop("HARVESTD_TOKEN", None)
        before = status_kib(d.proc.pid, "VmHWM")
        # wait4 gives a child's peak memory (ru_maxrss), but counting what
        # its parent had mapped before the exec: a fresh, small Python
        # starts harvestctl, not this big one.
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, out_path, HARVESTCTL, "results",
             str(job), "--with-body"], env=env, capture_output=True,
            text=True, timeout=300 * harness.SLOW)
        self.assertEqual(out.returncode, 0, out.stderr)
        peak_kib, code = (int(x) for x in out.stdout.split())
        self.assertEqual(code, 0, out.stderr)
        ctl_peak = peak_kib * 1024
        grew = (status_kib(d.proc.pid, "VmHWM") - before) * 1024
        print("harvestctl peak RSS %.1f MiB; daemon grew %.1f MiB" % (
            ctl_peak / 1048576.0, grew / 1048576.0))
        rows = []
        with open(out_path, "rb") as f:
            for line in f:
                row = json.loads(line)
                row["_digest"] = digest(row)
                row.pop("body", None)
                row.pop("body_base64", None)
                rows.append(row)
        self.assertEqual(len(rows), NBODIES)
        self.assertEqual({r["url"]: r["_digest"] for r in rows}, want)
        self.assertLess(ctl_peak, GROWTH_MAX)
        self.assertLess(grew, GROWTH_MAX)


if __name__ == "__main__":
    harness.main()
