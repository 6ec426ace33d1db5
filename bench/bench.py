#!/usr/bin/env python3
"""Side-by-side benchmark: nginx serves generated pages on 127.0.0.1 and
the same URL list is fetched, in alternation, by curl --parallel, harvestd
(end to end: one POST, every row committed) and an asyncio+httpx scraper;
wrk gives the server's ceiling. Then harvestd's scaling with the queue
size and its status latency under load. Prints a markdown report.
Everything runs on loopback and ends by itself."""
import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_measured(cmd, **kw):
    """Runs cmd; returns (wall s, cpu s, peak RSS MiB, returncode)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, \
        p.returncode


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_mem(pid, field="VmHWM"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def proc_hwm(pid):
    return proc_mem(pid, "VmHWM")


class Nginx:
    def __init__(self, root):
        self.root = root
        self.port = free_port()
        with open(os.path.join(root, "2k.html"), "wb") as f:
            f.write(b"x" * 2048)
        with open(os.path.join(root, "100k.html"), "wb") as f:
            f.write(b"y" * 102400)
        conf = os.path.join(root, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""daemon off; worker_processes 1; pid %(r)s/nginx.pid;
error_log %(r)s/error.log;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60;
  client_body_temp_path %(r)s; proxy_temp_path %(r)s;
  fastcgi_temp_path %(r)s; uwsgi_temp_path %(r)s; scgi_temp_path %(r)s;
  server { listen 127.0.0.1:%(p)d; root %(r)s; } }
""" % {"r": root, "p": self.port})
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", root],
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("2k.html"), timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("nginx did not start")

    def url(self, page, i=None):
        q = "" if i is None else "?i=%d" % i
        return "http://127.0.0.1:%d/%s%s" % (self.port, page, q)

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(timeout=10)


class Harvestd:
    def __init__(self, top, work, concurrency, extra=()):
        self.port = free_port()
        self.db = os.path.join(work, "h-%d.db" % self.port)
        self.log = open(os.path.join(work, "h-%d.log" % self.port), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(top, "harvestd"), "--db", self.db, "--port",
             str(self.port), "--concurrency", str(concurrency),
             "--set", "per_host_concurrency=%d" % concurrency,
             "--set", "block_private_addresses=false",
             "--set", "max_attempts=1", "--set", "max_request_bytes=400000000",
             "--log-level", "warn"] + list(extra),
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("harvestd did not start")

    def get(self, path, timeout=120):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (
                self.port, path), timeout=timeout) as r:
            return json.loads(r.read())

    def post(self, urls):
        body = json.dumps({"urls": urls}).encode()
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/jobs" % self.port, data=body,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())

    def wait(self, job, limit=3600):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            j = self.get("/v1/jobs/%d?wait=30" % job)
            if j["state"] in ("done", "cancelled"):
                return j
        raise SystemExit("job did not finish")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        self.log.close()


def bench_curl(urls, work, conc):
    cfg = os.path.join(work, "curl.cfg")
    with open(cfg, "w") as f:
        for u in urls:
            f.write('url = "%s"\noutput = "/dev/null"\n' % u)
    wall, cpu, rss, rc = run_measured(
        ["curl", "--parallel", "--parallel-max", str(conc), "-s",
         "--no-progress-meter", "-K", cfg], stderr=subprocess.DEVNULL)
    return {"wall": wall, "cpu": cpu, "rss": rss, "ok": rc == 0}


def bench_httpx(top, urls, work, conc):
    lst = os.path.join(work, "urls.txt")
    with open(lst, "w") as f:
        f.write("\n".join(urls) + "\n")
    db = os.path.join(work, "httpx-%d.db" % time.monotonic_ns())
    wall, cpu, rss, rc = run_measured(
        ["/usr/bin/python3", os.path.join(top, "bench", "scrape_httpx.py"),
         lst, db, str(conc)])
    n = sqlite3.connect(db).execute("SELECT count(*) FROM results "
                                    "WHERE status = 200").fetchone()[0]
    os.unlink(db)
    return {"wall": wall, "cpu": cpu, "rss": rss, "ok": rc == 0 and
            n == len(urls)}


def bench_harvestd(top, urls, work, conc, status_probe=False):
    h = Harvestd(top, work, conc)
    lat, stop = [], threading.Event()

    def probe():
        while not stop.is_set():
            t0 = time.perf_counter()
            h.get("/v1/status")
            lat.append(time.perf_counter() - t0)
            stop.wait(0.01)

    cpu0 = proc_cpu(h.proc.pid)
    t0 = time.monotonic()
    job = h.post(urls)
    t_accept = time.monotonic() - t0
    th = None
    if status_probe:
        th = threading.Thread(target=probe, daemon=True)
        th.start()
    j = h.wait(job["id"])
    wall = time.monotonic() - t0
    stop.set()
    if th:
        th.join()
    cpu = proc_cpu(h.proc.pid) - cpu0
    rss = proc_hwm(h.proc.pid)
    h.stop()
    con = sqlite3.connect(h.db)
    rows, ok = con.execute("SELECT count(*), sum(status = 200 AND body_size "
                           "> 0) FROM results").fetchone()
    con.close()
    dbsize = os.path.getsize(h.db)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(h.db + suffix):
            os.unlink(h.db + suffix)
    return {"wall": wall, "cpu": cpu, "rss": rss, "accept": t_accept,
            "ok": rows == len(urls) and ok == len(urls) and
            j["counts"]["done"] == len(urls),
            "db_per_1000": dbsize / len(urls) * 1000, "status_lat": lat}


def bench_wrk(url, conc):
    out = subprocess.run(["wrk", "-t1", "-c%d" % conc, "-d5s", url],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return 0.0


def scaling(top, nginx, work, sizes, seconds, conc):
    """Queues n URLs (in POSTs of at most 100k), then fetches for a fixed
    time: throughput, and memory while the queue holds (almost) n."""
    rows = []
    for n in sizes:
        h = Harvestd(top, work, conc)
        accept = 0.0
        for start in range(0, n, 100000):
            urls = [nginx.url("2k.html", i) for i in
                    range(start, min(n, start + 100000))]
            t0 = time.monotonic()
            h.post(urls)
            if start == 0:
                accept = time.monotonic() - t0   # the first (largest) POST
        del urls
        post_hwm = proc_mem(h.proc.pid, "VmHWM")
        st = h.get("/v1/status")
        st0 = st["totals"]["results"]
        t1 = time.monotonic()
        rss = 0.0
        while time.monotonic() - t1 < seconds:
            time.sleep(0.5)
            rss = max(rss, proc_mem(h.proc.pid, "VmRSS"))
            st = h.get("/v1/status")
            if st["queue_depth"] == 0 and st["in_flight"] == 0:
                break
        rate = (st["totals"]["results"] - st0) / (time.monotonic() - t1)
        h.stop()
        rows.append((n, accept, rate, rss, post_hwm))
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(h.db + suffix):
                os.unlink(h.db + suffix)
        print("  scaling %d: first POST accepted in %.2f s, %.0f URLs/s, "
              "RSS while fetching %.1f MiB (peak incl. POSTs %.1f)" % (
                  n, accept, rate, rss, post_hwm), file=sys.stderr)
    return rows


def med(xs):
    return statistics.median(xs)


def spread(xs):
    return "%.0f–%.0f" % (min(xs), max(xs)) if len(xs) > 1 else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--urls", type=int, default=20000)
    ap.add_argument("--httpx-urls", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--page", default="2k.html")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--scaling-sizes", default="10000,100000,1000000")
    ap.add_argument("--scaling-seconds", type=float, default=10)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="harvestd-bench-")
    nginx = Nginx(work)
    try:
        urls = [nginx.url(a.page, i) for i in range(a.urls)]
        hurls = urls[:a.httpx_urls]
        res = {"curl": [], "harvestd": [], "httpx": []}
        ceiling = bench_wrk(nginx.url(a.page), a.concurrency)
        for r in range(a.runs):
            order = ["curl", "harvestd", "httpx"]
            order = order[r % 3:] + order[:r % 3]
            for name in order:
                if name == "curl":
                    m = bench_curl(urls, work, a.concurrency)
                    m["n"] = len(urls)
                elif name == "harvestd":
                    m = bench_harvestd(a.top, urls, work, a.concurrency,
                                       status_probe=True)
                    m["n"] = len(urls)
                else:
                    m = bench_httpx(a.top, hurls, work, a.concurrency)
                    m["n"] = len(hurls)
                m["rate"] = m["n"] / m["wall"]
                m["cpu_per_1000"] = m["cpu"] / m["n"] * 1000
                res[name].append(m)
                print("run %d %-8s %7.0f URLs/s  cpu %.3f s/1000  rss %.1f "
                      "MiB  %s" % (r + 1, name, m["rate"], m["cpu_per_1000"],
                                   m["rss"], "ok" if m["ok"] else "FAILED"),
                      file=sys.stderr)
        curl_rate = med([m["rate"] for m in res["curl"]])
        print("\n## Results (%s page, %d URLs, concurrency %d, %d runs, "
              "medians)\n" % (a.page, a.urls, a.concurrency, a.runs))
        print("| contender | URLs/s (median, spread) | CPU s / 1000 URLs | "
              "peak RSS MiB | vs curl --parallel |")
        print("|---|---|---|---|---|")
        print("| wrk (server ceiling, req/s) | %.0f | | | %.2f× |" % (
            ceiling, ceiling / curl_rate))
        for name, label in (("curl", "curl --parallel (fetch only)"),
                            ("harvestd", "harvestd end to end (rows "
                             "committed)"),
                            ("httpx", "asyncio + httpx + SQLite")):
            ms = res[name]
            rates = [m["rate"] for m in ms]
            print("| %s | %.0f (%s) | %.3f | %.1f | %.2f× |" % (
                label, med(rates), spread(rates),
                med([m["cpu_per_1000"] for m in ms]),
                max(m["rss"] for m in ms), med(rates) / curl_rate))
        lat = sorted(x for m in res["harvestd"] for x in m["status_lat"])
        if lat:
            print("\nGET /v1/status under load: p50 %.2f ms, p99 %.2f ms "
                  "(%d requests)" % (lat[len(lat) // 2] * 1000,
                                     lat[int(len(lat) * 0.99)] * 1000,
                                     len(lat)))
        h = res["harvestd"]
        print("harvestd: POST of %d URLs accepted in %.2f s (median); DB "
              "%.0f KiB per 1000 results" % (a.urls, med([m["accept"] for m
                                                        in h]),
                                             med([m["db_per_1000"] for m in
                                                  h]) / 1024))
        print("all runs correct: %s" % all(m["ok"] for ms in res.values()
                                           for m in ms))
        if not a.no_scaling:
            sizes = [int(x) for x in a.scaling_sizes.split(",")]
            rows = scaling(a.top, nginx, work, sizes, a.scaling_seconds,
                           a.concurrency)
            print("\n## Scaling (harvestd, %.0f s of fetching at each queue "
                  "size)\n" % a.scaling_seconds)
            print("| URLs queued | first POST (<= 100k URLs) accepted in "
                  "| URLs/s | RSS while fetching, MiB | peak RSS incl. the "
                  "POSTs, MiB |")
            print("|---|---|---|---|---|")
            for n, acc, rate, rss, hwm in rows:
                print("| %d | %.2f s | %.0f | %.1f | %.1f |" % (
                    n, acc, rate, rss, hwm))
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
