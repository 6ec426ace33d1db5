#!/usr/bin/env python3
"""Several harvestd nodes on one PostgreSQL (issue 12's measurements).

  bench/cluster.py [--nodes 1,2,3] [--hosts 200] [--per-host 50]
                   [--latency-ms 100] [--concurrency 16] [--lease-s 30]
                   [--kill] [--out FILE]

Latency-bound scaling: HOSTS host names (h<i>.localhost: libcurl sends
them to 127.0.0.1 without DNS) on one local asyncio server that answers
every request after LATENCY ms; per_host_concurrency 1, CONCURRENCY per
node. For each node count, a fresh database of a throwaway PostgreSQL
server (tests/pgserver.sh), the nodes, one job of HOSTS x PER_HOST URLs
submitted to the first node; the rate is URLs / (submission to the job's
end), and the steady rate between 10% and 90% of the results.

--kill: with the most nodes, SIGKILL the last node at a third of the job
and measure how long until every task it held has its result row (the
lease, lease_s, and the heartbeat that finds it expired).

Needs: harvestd built (HARVESTD or ./harvestd), PostgreSQL installed.
"""
import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import pg  # noqa: E402
from bench import free_port, log  # noqa: E402  (bench/bench.py)

HARVESTD = os.environ.get("HARVESTD") or os.path.join(os.getcwd(), "harvestd")


class SlowServer:
    """HTTP/1.1 keep-alive server answering each request after a delay,
    in its own thread's asyncio loop: thousands of waiting requests cost
    no threads."""

    def __init__(self, latency_s):
        self.latency = latency_s
        self.port = free_port()
        self.count = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _client(self, reader, writer):
        body = b"x" * 512
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                await asyncio.sleep(self.latency)
                self.count += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html"
                             b"\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError,
                asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        srv = self.loop.run_until_complete(asyncio.start_server(
            self._client, "127.0.0.1", self.port, backlog=4096))
        self.ready.set()
        self.loop.run_forever()
        srv.close()

    def start(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Node:
    def __init__(self, work, db, args):
        self.port = free_port()
        self.log_path = os.path.join(work, "node-%d.log" % self.port)
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [HARVESTD, "--db", db, "--listen", "127.0.0.1",
             "--port", str(self.port)] + list(args),
            stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("/healthz", raw=True) == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("node did not start:\n" +
                                 open(self.log_path).read())
            time.sleep(0.05)
        self.name = self.get("/v1/status")["node"]

    def get(self, path, raw=False):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                return r.status if raw else json.loads(r.read())
        except urllib.error.HTTPError as e:
            if raw:
                return e.code
            raise

    def post(self, doc):
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/jobs" % self.port,
            data=json.dumps(doc).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.logf.close()


def run(a, server, pgs, nodes_n, kill=False):
    db = pgs.database("bench_%d%s" % (nodes_n, "_kill" if kill else ""))
    work = os.path.join(a.work, "n%d" % nodes_n)
    os.makedirs(work, exist_ok=True)
    args = ["--set", "concurrency=%d" % a.concurrency,
            "--set", "per_host_concurrency=1",
            "--set", "per_host_delay_ms=0",
            "--set", "obey_robots=false",
            "--set", "block_private_addresses=false",
            "--set", "lease_s=%d" % a.lease_s,
            "--set", "log_level=warning"]
    nodes = [Node(work, db, args) for _ in range(nodes_n)]
    urls = ["http://h%d.localhost:%d/p%d" % (i % a.hosts, server.port, i)
            for i in range(a.hosts * a.per_host)]
    total = len(urls)
    try:
        t0 = time.monotonic()
        job = nodes[0].post({"urls": urls})["id"]
        marks = {}
        killed = None
        held = []
        while True:
            done = int(pgs.value(db, "SELECT count(*) FROM results "
                                 "WHERE job_id = %d" % job))
            now = time.monotonic()
            for f in (0.1, 0.9):
                if f not in marks and done >= f * total:
                    marks[f] = (now, done)
            if kill and killed is None and done >= total / 3:
                # Once it holds work: what it holds is what is lost.
                victim = nodes[-1]
                held = [r[0] for r in pgs.query(db, (
                    "SELECT id FROM tasks WHERE state = 'running' AND "
                    "node = '%s'" % victim.name))]
                if held:
                    victim.kill()
                    killed = time.monotonic()
                    log("  killed %s holding %d tasks" % (victim.name,
                                                           len(held)))
            if killed is not None and held and "back" not in marks:
                left = int(pgs.value(db, (
                    "SELECT count(*) FROM unnest('{%s}'::bigint[]) AS h(id)"
                    " WHERE NOT EXISTS (SELECT 1 FROM results r WHERE "
                    "r.task_id = h.id)") % ",".join(held)))
                if left == 0:
                    marks["back"] = (now, done)
            if done >= total:
                break
            if now - t0 > 3600:
                raise SystemExit("job did not finish in an hour")
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        rows = pgs.query(db, "SELECT count(*), count(DISTINCT task_id) "
                         "FROM results WHERE job_id = %d" % job)
        by = pgs.query(db, "SELECT node, count(*) FROM tasks WHERE "
                       "job_id = %d GROUP BY node ORDER BY node" % job)
        (t1, d1), (t9, d9) = marks[0.1], marks[0.9]
        out = {
            "nodes": nodes_n, "urls": total, "seconds": round(elapsed, 2),
            "rate": round(total / elapsed, 1),
            "steady_rate": round((d9 - d1) / (t9 - t1), 1),
            "rows": int(rows[0][0]), "distinct_tasks": int(rows[0][1]),
            "by_node": {r[0]: int(r[1]) for r in by},
        }
        if kill:
            out["killed_holding"] = len(held)
            out["recovered_s"] = (round(marks["back"][0] - killed, 2)
                                  if "back" in marks else None)
        return out
    finally:
        for n in nodes:
            if n.proc.poll() is None:
                n.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", default="1,2,3")
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--per-host", type=int, default=50)
    p.add_argument("--latency-ms", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--lease-s", type=int, default=30)
    p.add_argument("--kill", action="store_true")
    p.add_argument("--work", default="/tmp/harvestd-cluster-bench")
    p.add_argument("--out")
    a = p.parse_args()
    if not os.access(HARVESTD, os.X_OK):
        raise SystemExit("no harvestd at %s (build it, or set HARVESTD)"
                         % HARVESTD)
    os.makedirs(a.work, exist_ok=True)
    counts = [int(x) for x in a.nodes.split(",")]
    server = SlowServer(a.latency_ms / 1000.0).start()
    results = []
    with pg.Server() as pgs:
        for n in counts:
            log("%d node(s)..." % n)
            r = run(a, server, pgs, n)
            log("  %s" % r)
            results.append(r)
        if a.kill:
            log("%d nodes, one killed..." % max(counts))
            r = run(a, server, pgs, max(counts), kill=True)
            log("  %s" % r)
            results.append(r)
    server.stop()
    base = next((r for r in results if r["nodes"] == 1 and
                 "killed_holding" not in r), None)
    print("| nodes | URLs | s | URLs/s | steady URLs/s | × one node "
          "(steady) | rows (distinct tasks) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        ratio = ("%.2f×" % (r["steady_rate"] / base["steady_rate"])
                 if base else "")
        label = str(r["nodes"]) + (" (one SIGKILLed)"
                                   if "killed_holding" in r else "")
        print("| %s | %d | %.1f | %.0f | %.0f | %s | %d (%d) |" % (
            label, r["urls"], r["seconds"], r["rate"], r["steady_rate"],
            ratio, r["rows"], r["distinct_tasks"]))
    for r in results:
        if "killed_holding" in r:
            print("\nSIGKILL with %d tasks held: all of them had their row "
                  "%s s later (lease_s %d)." % (
                      r["killed_holding"], r["recovered_s"], a.lease_s))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
