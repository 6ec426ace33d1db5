"""Shared helpers for harvestd's integration tests.

Each test starts its own local HTTP server and its own harvestd on free
loopback ports with a database in a fresh temporary directory, and stops
both in cleanups that run even when the test fails. Every wait is bounded.
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testserver import TestServer  # noqa: E402

HARVESTD = os.environ.get("HARVESTD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "harvestd")
HARVESTCTL = os.environ.get("HARVESTCTL") or os.path.join(
    os.path.dirname(HARVESTD), "harvestctl")
SRCDIR = os.environ.get("HARVESTD_SRCDIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")
TEST_TIME_LIMIT = int(os.environ.get("HARVESTD_TEST_TIME_LIMIT", "300"))
# Sanitizer builds run slower: scale the waits, not the assertions.
SLOW = float(os.environ.get("HARVESTD_TEST_SLOW", "1"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


def _die_with_parent():
    # The daemon must not outlive a test process that is killed.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def lines(self):
        return [json.loads(l) for l in self.body.decode().splitlines() if l]


class Daemon:
    """One harvestd process on a free port and a temporary database."""

    def __init__(self, workdir, args=(), db=None, env=None, guard=False):
        self.workdir = workdir
        self.env = env
        # The test servers live on loopback, which the address guard
        # blocks: tests that are not about the guard turn it off.
        if not guard:
            args = ("--set", "block_private_addresses=false") + tuple(args)
        self.port = free_port()
        self.db = db or os.path.join(workdir, "harvestd.db")
        self.log_path = os.path.join(workdir, "harvestd-%d.log" % self.port)
        self.args = list(args)
        self.proc = None

    def start(self, wait=True):
        self._log = open(self.log_path, "ab")
        cmd = [HARVESTD, "--db", self.db, "--listen", "127.0.0.1",
               "--port", str(self.port)] + self.args
        env = None
        if self.env:
            env = dict(os.environ, **self.env)
        self.proc = subprocess.Popen(cmd, stdout=self._log, env=env,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("harvestd exited with %d:\n%s" % (
                    self.proc.returncode, self.log()))
            try:
                if self.get("/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("harvestd not ready in %ds:\n%s" % (
            timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_log(self, text, timeout=10):
        """Waits (bounded) until the daemon has logged text."""
        deadline = time.monotonic() + timeout * SLOW
        while text not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError("%r not logged:\n%s" % (text,
                                                              self.log()))
            time.sleep(0.01)

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the daemon; returns its exit status (-9 when it was
        killed for not stopping in time)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9
        finally:
            self._log.close()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self._log.close()

    token = None

    def request(self, method, path, body=None, ctype=None, headers=None,
                timeout=30):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        if isinstance(body, str):
            body = body.encode()
        req = urllib.request.Request(url, data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path):
        return self.request("GET", path)

    def submit(self, urls, ctype="application/json", **options):
        if ctype == "application/json":
            doc = dict(options)
            doc["urls"] = urls
            return self.request("POST", "/v1/jobs", json.dumps(doc), ctype)
        return self.request("POST", "/v1/jobs", "\n".join(urls) + "\n",
                            ctype)

    def wait_job(self, job_id, timeout=60, states=("done", "cancelled")):
        deadline = time.monotonic() + timeout * SLOW
        job = None
        while time.monotonic() < deadline:
            r = self.get("/v1/jobs/%d" % job_id)
            # 503: the database is out of reach for now (shared ones).
            if r.status != 503:
                job = r.json()
                if job["state"] in states:
                    return job
            time.sleep(0.05)
        raise AssertionError("job %d not finished in %ds: %s\n%s" % (
            job_id, timeout, job, self.log()[-4000:]))

    def results(self, job_id, **query):
        """Every result of a job, following the pages."""
        rows, after = [], 0
        for _ in range(100000):
            q = dict(query, after=after, limit=1000)
            qs = "&".join("%s=%s" % kv for kv in q.items())
            r = self.get("/v1/jobs/%d/results?%s" % (job_id, qs))
            assert r.status == 200, r.body
            page = r.lines()
            if not page:
                return rows
            rows.extend(page)
            after = int(r.headers["X-Next-After"])
        raise AssertionError("results did not end")


def sql(db, query, *params):
    """Reads the live database the way a user would, read-only."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def sqlite_cli(db, query):
    """Runs the sqlite3 command-line shell on the database."""
    out = subprocess.run(["sqlite3", "-readonly", db, query],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise AssertionError("sqlite3 failed: %s" % out.stderr)
    return out.stdout


class _TimeLimit(Exception):
    pass


def _alarm(signum, frame):
    raise _TimeLimit("test ran past %ds" % TEST_TIME_LIMIT)


class TestCase(unittest.TestCase):
    """Gives each test a work directory, a test server and a daemon
    factory; everything is stopped in cleanups, also on failure."""

    def setUp(self):
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(TEST_TIME_LIMIT)
        self.addCleanup(signal.alarm, 0)
        self.workdir = tempfile.mkdtemp(prefix="harvestd-test-")
        self.addCleanup(self._cleanup_workdir)
        self.server = TestServer().start()
        self.addCleanup(self.server.stop)
        self.daemons = []

    def _failed(self):
        """Whether this test has failed so far. Python 3.11 records a
        failure in the result at once and leaves _outcome.success alone;
        earlier versions set success."""
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        result = getattr(outcome, "result", None)
        if result is not None and any(
                t is self for t, _ in result.errors + result.failures):
            return True
        return not getattr(outcome, "success", True)

    def _cleanup_workdir(self):
        # Logs are shown only when the test failed.
        if self._failed():
            for d in self.daemons:
                sys.stderr.write("--- harvestd log %s ---\n%s\n" % (
                    d.log_path, d.log()[-8000:]))
        shutil.rmtree(self.workdir, ignore_errors=True)

    def daemon(self, *args, start=True, db=None, env=None, guard=False):
        d = Daemon(self.workdir, args, db=db, env=env, guard=guard)
        self.daemons.append(d)
        self.addCleanup(d.kill)
        if start:
            d.start()
        return d


def main():
    unittest.main(verbosity=2)
