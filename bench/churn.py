#!/usr/bin/env python3
"""The API under store load (the hardening issue, item 1).

  bench/churn.py [--urls 1000000] [--seconds 60] [--db PATH]

Two phases against one harvestd (SQLite, default settings but the
address guard):
  1. churn: a job of URLS URLs on a closed local port, default
     max_attempts, so every failure is a retry with backoff; meanwhile a
     one-URL job is POSTed every 50 ms for SECONDS s;
  2. purge: a job of URLS failed results (max_attempts 1) is purged
     (DELETE /v1/jobs/{id}?purge=true); meanwhile the same one-URL POSTs,
     until the purge ends.
Prints, per phase, the POSTs' p50 / p90 / p99 / max latency and their
status codes, as a Markdown table. Needs harvestd built (HARVESTD or
./harvestd).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from bench import free_port  # bench/bench.py

HARVESTD = os.environ.get("HARVESTD") or os.path.join(os.getcwd(), "harvestd")


class Daemon:
    def __init__(self, work, db, extra=()):
        self.port = free_port()
        self.log = open(os.path.join(work, "harvestd.log"), "ab")
        self.proc = subprocess.Popen(
            [HARVESTD, "--db", db, "--port", str(self.port),
             "--set", "block_private_addresses=false",
             "--set", "max_request_bytes=400000000",
             "--set", "max_urls_per_job=10000000",
             "--log-level", "warn"] + list(extra),
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.call("GET", "/healthz")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("harvestd did not start")

    def call(self, method, path, doc=None, timeout=600):
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.port, path), data=data,
            method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, None

    def job(self, job_id):
        return self.call("GET", "/v1/jobs/%d" % job_id)[1]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def poster(d, target, stop, out):
    """One-URL POSTs every 50 ms until stop is set."""
    i = 0
    while not stop.is_set():
        t = time.monotonic()
        try:
            code, _ = d.call("POST", "/v1/jobs", {
                "urls": ["http://127.0.0.1:%d/probe-%d" % (target, i)]},
                timeout=60)
        except OSError:
            code = 0
        out.append((time.monotonic() - t, code))
        i += 1
        stop.wait(max(0.0, 0.05 - (time.monotonic() - t)))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def row(label, lat):
    ms = [x * 1000 for x, _ in lat]
    codes = {}
    for _, c in lat:
        codes[c] = codes.get(c, 0) + 1
    return "| %s | %d | %.0f | %.0f | %.0f | %.0f | %s |" % (
        label, len(lat), pct(ms, 0.5), pct(ms, 0.9), pct(ms, 0.99),
        max(ms) if ms else float("nan"),
        ", ".join("%s: %d" % kv for kv in sorted(codes.items())))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--urls", type=int, default=1000000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--work")
    a = p.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="harvestd-churn-")
    closed = free_port()        # nothing listens there
    d = Daemon(work, os.path.join(work, "churn.db"))
    rows = []
    try:
        # 1. A job that churns retries.
        urls = ["http://127.0.0.1:%d/%d" % (closed, i)
                for i in range(a.urls)]
        t = time.monotonic()
        code, j = d.call("POST", "/v1/jobs", {"urls": urls, "priority": 0})
        print("churn job of %d URLs accepted in %.1f s (%s)" % (
            a.urls, time.monotonic() - t, code), file=sys.stderr)
        del urls
        lat, stop = [], threading.Event()
        th = threading.Thread(target=poster, args=(d, closed, stop, lat))
        th.start()
        time.sleep(a.seconds)
        stop.set()
        th.join()
        churn = d.job(j["id"])
        rows.append(row("while a job of %d tasks churns retries (%d of "
                        "them finished by then)" % (
                            a.urls, churn["counts"]["done"] +
                            churn["counts"]["failed"]), lat))
        d.call("DELETE", "/v1/jobs/%d" % j["id"])
        # 2. A job of a.urls failed results, then its purge.
        urls = ["http://127.0.0.1:%d/f%d" % (closed, i)
                for i in range(a.urls)]
        code, j = d.call("POST", "/v1/jobs", {"urls": urls,
                                              "max_attempts": 1})
        del urls
        t = time.monotonic()
        while d.job(j["id"])["state"] != "done":
            if time.monotonic() - t > 3600:
                raise SystemExit("the failing job did not end")
            time.sleep(1)
        print("%d failed results in %.0f s" % (a.urls, time.monotonic() - t),
              file=sys.stderr)
        lat, stop = [], threading.Event()
        th = threading.Thread(target=poster, args=(d, closed, stop, lat))
        th.start()
        t = time.monotonic()
        code, _ = d.call("DELETE", "/v1/jobs/%d?purge=true" % j["id"],
                         timeout=3600)
        while d.call("GET", "/v1/jobs/%d" % j["id"])[0] != 404:
            time.sleep(0.2)
        purge_s = time.monotonic() - t
        stop.set()
        th.join()
        rows.append(row("while a job of %d result rows is purged (%.1f s)"
                        % (a.urls, purge_s), lat))
    finally:
        d.stop()
    print("| one-URL POSTs | n | p50 ms | p90 ms | p99 ms | max ms | "
          "status codes |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
