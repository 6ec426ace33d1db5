#!/usr/bin/env python3
"""Side-by-side benchmark: nginx serves generated pages on loopback and the
same URL list is fetched, in alternation, by curl --parallel, harvestd (end
to end: one POST, every row committed) and an asyncio+httpx scraper; wrk
gives the server's ceiling. Then, each behind an option: HTTPS on one host
and on 100 hosts (--tls), the API's latency under load (--status), a queue
of 10M URLs (--big-queue), and harvestd's scaling with the queue size.
Prints a markdown report on stdout, progress on stderr. Everything runs on
loopback and ends by itself; --smoke runs every part on a handful of URLs,
times nothing, and exits non-zero if a contender got something wrong."""
import argparse
import http.client
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
import urllib.error
import urllib.parse
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")
TLS_HOSTS = 100             # 127.0.0.2 ... 127.0.0.101
POST_CHUNK = 100000         # URLs per POST when queueing big numbers
# Debian installs nginx in /usr/sbin, which a user's PATH may lack.
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HTTPX_OK = True
try:
    import httpx  # noqa: F401
except ImportError:
    HTTPX_OK = False


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_measured(cmd, timeout=900, **kw):
    """Runs cmd; returns (wall s, cpu s, peak RSS MiB, returncode). Killed
    after timeout seconds."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, **kw)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, \
        p.returncode


def proc_cpu(pid, tid=None):
    path = "/proc/%d/stat" % pid if tid is None else \
        "/proc/%d/task/%d/stat" % (pid, tid)
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_mem(pid, field="VmHWM"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def proc_hwm(pid):
    return proc_mem(pid, "VmHWM")


def sys_busy():
    """Busy CPU-seconds of the whole machine so far (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024

    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    nginx = subprocess.run([NGINX, "-v"], capture_output=True,
                           text=True).stderr.strip()
    return "%d vCPU (%s), %.0f GiB; %s; %s; %s; Python %s" % (
        os.cpu_count(), model, mem, ver(["curl", "--version"]).split(
            " (")[0], nginx.replace("nginx version: ", ""),
        ver(["openssl", "version"]), sys.version.split()[0])


class Noise:
    """CPU the rest of the machine used while a contender ran: all busy
    CPU minus the contender's, the server's and the bench's own."""

    def __init__(self, nginx):
        self.nginx = nginx
        self.busy0 = sys_busy()
        self.ngx0 = nginx.cpu()
        self.self0 = self.own()
        self.t0 = time.monotonic()

    @staticmethod
    def own():
        t = os.times()
        return t.user + t.system

    def other(self, contender_cpu):
        """(cores used by other processes on average, nginx CPU s); the
        bench's own CPU (its prober, its client) is not counted."""
        wall = time.monotonic() - self.t0
        busy = sys_busy() - self.busy0
        ngx = self.nginx.cpu() - self.ngx0
        own = self.own() - self.self0
        return max(0.0, busy - ngx - contender_cpu - own) / \
            max(wall, 1e-9), ngx


def gen_tls(root):
    """A CA and a server certificate (ECDSA P-256) for 127.0.0.1 ...
    127.0.0.(TLS_HOSTS + 1), made with openssl in root."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ca_key, ca = os.path.join(root, "ca.key"), os.path.join(root, "ca.pem")
    key = os.path.join(root, "server.key")
    csr = os.path.join(root, "server.csr")
    crt = os.path.join(root, "server.pem")
    ext = os.path.join(root, "server.ext")
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "2", "-subj", "/CN=harvestd bench CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=%s\n" % ",".join(
                    "IP:127.0.0.%d" % i for i in range(1, TLS_HOSTS + 2)))
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


def html_page(name, size):
    """A page to scrape: a title, a heading, a price, links back to the
    same page (the seeds of a job: a crawl finds nothing new), and
    paragraphs up to size bytes."""
    head = ("<!doctype html><html><head><title>Bench page</title></head>"
            "<body><h1>Heading</h1><p class=\"price\">12.50</p><ul>" +
            "".join('<li><a href="%s?i=%d">item %d</a></li>' % (name, i, i)
                    for i in range(40)) + "</ul>")
    para = "<p>" + "lorem ipsum dolor sit amet " * 10 + "</p>\n"
    body = head
    while len(body) + len(para) + 16 < size:
        body += para
    return (body + "</body></html>").encode()


class Nginx:
    """One nginx worker: plain HTTP on 127.0.0.1:port and, with tls, HTTPS
    on 127.0.0.1 ... 127.0.0.101, port tls_port, logging each connection's
    first request with $ssl_session_reused ("r": resumed, ".": full)."""

    def __init__(self, root, tls=False, protocols="TLSv1.2 TLSv1.3"):
        self.root = root
        self.tls = tls
        self.protocols = protocols  # nginx before 1.23.4: 1.2 by default
        self.ca = None
        with open(os.path.join(root, "2k.html"), "wb") as f:
            f.write(b"x" * 2048)
        with open(os.path.join(root, "100k.html"), "wb") as f:
            f.write(b"y" * 102400)
        for name, size in (("page-2k.html", 2048),
                           ("page-100k.html", 102400)):
            with open(os.path.join(root, name), "wb") as f:
                f.write(html_page(name, size))
        self.hslog = os.path.join(root, "handshakes.log")
        if tls:
            self.ca, crt, key = gen_tls(root)
        for attempt in range(5):
            self.port = free_port()
            self.tls_port = free_port()
            self.tls_close_port = free_port()
            if self._start(tls and crt, tls and key):
                return
        raise SystemExit("nginx did not start (see %s/error.log)" % root)

    def _start(self, crt, key):
        conf = os.path.join(self.root, "nginx.conf")
        tls = ""
        if crt:
            listens = "".join("  listen 127.0.0.%d:%d ssl;\n" % (
                i, self.tls_port) for i in range(1, TLS_HOSTS + 2))
            listens_close = "".join("  listen 127.0.0.%d:%d ssl;\n" % (
                i, self.tls_close_port) for i in range(1, TLS_HOSTS + 2))
            one = """server {
%(l)s  root %(r)s;
  ssl_certificate %(c)s; ssl_certificate_key %(k)s;
  ssl_protocols %(v)s;
  ssl_session_cache shared:SSL:10m; ssl_session_timeout 1h;
  access_log %(h)s hs if=$first_request;%(x)s
}"""
            tls = one % {"l": listens, "r": self.root, "c": crt, "k": key,
                         "h": self.hslog, "x": "", "v": self.protocols} + \
                "\n" + one % {
                "l": listens_close, "r": self.root, "c": crt, "k": key,
                "h": self.hslog, "x": "\n  keepalive_timeout 0;",
                "v": self.protocols}
        with open(conf, "w") as f:
            f.write("""daemon off; worker_processes 1; pid %(r)s/nginx.pid;
error_log %(r)s/error.log;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60;
  client_body_temp_path %(r)s; proxy_temp_path %(r)s;
  fastcgi_temp_path %(r)s; uwsgi_temp_path %(r)s; scgi_temp_path %(r)s;
  map $connection_requests $first_request { 1 1; default 0; }
  log_format hs '$ssl_session_reused $ssl_protocol $server_addr';
  server { listen 127.0.0.1:%(p)d; root %(r)s;
    access_log %(h)s hs if=$first_request; }
  %(t)s
}
""" % {"r": self.root, "p": self.port, "t": tls, "h": self.hslog})
        self.proc = subprocess.Popen([NGINX, "-c", conf, "-p", self.root],
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(self.url("2k.html"), timeout=1).read()
                return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def url(self, page, i=None):
        q = "" if i is None else "?i=%d" % i
        return "http://127.0.0.1:%d/%s%s" % (self.port, page, q)

    def tls_url(self, page, i=None, host=1, close=False):
        """close: the server that closes each connection after one
        request."""
        q = "" if i is None else "?i=%d" % i
        return "https://127.0.0.%d:%d/%s%s" % (
            host, self.tls_close_port if close else self.tls_port, page, q)

    def workers(self):
        try:
            with open("/proc/%d/task/%d/children" % (
                    self.proc.pid, self.proc.pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def cpu(self):
        return sum(proc_cpu(w) for w in self.workers())

    def hs_mark(self):
        try:
            return os.path.getsize(self.hslog)
        except OSError:
            return 0

    def protocols_seen(self, mark):
        """{protocol: connections} logged since mark."""
        seen = {}
        try:
            with open(self.hslog) as f:
                f.seek(mark)
                for line in f:
                    p = line.split()
                    if len(p) >= 2 and p[1] != "-":
                        seen[p[1]] = seen.get(p[1], 0) + 1
        except OSError:
            pass
        return seen

    def handshakes(self, mark):
        """(full, resumed) TLS handshakes logged since mark: over plain
        HTTP, the connections opened ("full")."""
        full = resumed = 0
        try:
            with open(self.hslog) as f:
                f.seek(mark)
                for line in f:
                    if line.startswith("r "):
                        resumed += 1
                    elif line.strip():     # ". ", or "- " over plain HTTP
                        full += 1
        except OSError:
            pass
        return full, resumed

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class PgTemp:
    """A throwaway PostgreSQL server (initdb/pg_ctl as the postgres user in
    a temporary directory, Unix socket only, trust authentication); each
    harvestd gets a database of its own."""

    def __init__(self, root):
        bindir = None
        for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True) \
                if os.path.isdir("/usr/lib/postgresql") else []:
            if os.path.exists("/usr/lib/postgresql/%s/bin/initdb" % d):
                bindir = "/usr/lib/postgresql/%s/bin" % d
                break
        if bindir is None:
            raise SystemExit("--db pg-temp: PostgreSQL server not installed")
        self.bindir = bindir
        self.dir = os.path.join(root, "pg")
        os.mkdir(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(root, 0o755)
        self._pg("initdb", "-D", self.dir + "/data", "-A", "trust", "-U",
                 "postgres", "--no-sync")
        self._pg("pg_ctl", "-D", self.dir + "/data", "-w", "-t", "60",
                 "-l", self.dir + "/log", "-o",
                 "-c listen_addresses='' -k %s -c fsync=on "
                 "-c max_connections=200" % self.dir, "start")
        self.n = 0

    def _pg(self, prog, *args):
        subprocess.run(["runuser", "-u", "postgres", "--",
                        os.path.join(self.bindir, prog)] + list(args),
                       check=True, timeout=120, stdout=subprocess.DEVNULL)

    def new_db(self):
        self.n += 1
        name = "bench%d" % self.n
        self._pg("createdb", "-h", self.dir, "-U", "postgres", name)
        # host= (a socket directory) overrides the URI's host for libpq
        return "postgresql://postgres@localhost/%s?host=%s" % (
            name, urllib.parse.quote(self.dir, safe="/"))

    def size(self, uri):
        name = urllib.parse.urlsplit(uri).path.lstrip("/")
        out = subprocess.run(
            ["runuser", "-u", "postgres", "--", os.path.join(
                self.bindir, "psql"), "-h", self.dir, "-At", "-c",
             "SELECT pg_database_size('%s')" % name],
            capture_output=True, text=True, timeout=60).stdout.strip()
        return int(out) if out.isdigit() else 0

    def stop(self):
        self._pg("pg_ctl", "-D", self.dir + "/data", "-m", "fast", "-w",
                 "stop")


class Harvestd:
    def __init__(self, a, work, concurrency, per_host=None, settings=(),
                 db=None, env=None, binary=None):
        self.port = free_port()
        self.a = a
        self.pg = getattr(a, "pg", None)
        if db is not None:
            self.db = db
        elif self.pg is not None and a.db == "pg-temp":
            self.db = self.pg.new_db()
        elif a.db.startswith(("postgresql://", "postgres://")):
            self.db = a.db
        else:
            self.db = os.path.join(work, "h-%d.db" % self.port)
        self.sqlite = not self.db.startswith(("postgresql:", "postgres:"))
        self.logpath = os.path.join(work, "h-%d.log" % self.port)
        self.log = open(self.logpath, "wb")
        cmd = [binary or a.harvestd, "--db", self.db, "--port",
               str(self.port),
               "--concurrency", str(concurrency),
               "--set", "per_host_concurrency=%d" % (
                   per_host if per_host else concurrency),
               "--set", "block_private_addresses=false",
               "--set", "max_attempts=1",
               "--set", "max_request_bytes=400000000",
               "--log-level", "warn"]
        for s in list(getattr(a, "harvestd_set", None) or []) + \
                list(settings):
            cmd += ["--set", s]
        penv = None
        if env:
            penv = dict(os.environ)
            penv.update(env)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     env=penv)
        self.jobs = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.02)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        with open(self.logpath, "rb") as f:
            sys.stderr.write(f.read()[-2000:].decode(errors="replace"))
        raise SystemExit("harvestd did not start")

    def get(self, path, timeout=120):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (
                self.port, path), timeout=timeout) as r:
            return json.loads(r.read())

    def post(self, urls, **opts):
        doc = dict(opts)
        doc["urls"] = urls
        body = json.dumps(doc).encode()
        req = urllib.request.Request(
            "http://127.0.0.1:%d/v1/jobs" % self.port, data=body,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            j = json.loads(r.read())
        self.jobs.append(j["id"])
        return j

    def wait(self, job, limit=3600):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            j = self.get("/v1/jobs/%d?wait=30" % job)
            if j["state"] in ("done", "cancelled"):
                return j
        raise SystemExit("job did not finish")

    def threads(self):
        """CPU s of the loop thread (the main one), the store thread, the
        workers (extract, follow) and everything else (API, notify), by
        the names harvestd gives its threads."""
        pid = self.proc.pid
        tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
        total = proc_cpu(pid)
        out = {"loop": proc_cpu(pid, tids[0]), "store": 0.0, "work": 0.0}
        for tid in tids[1:]:
            try:
                with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
                    name = f.read().strip()
            except OSError:
                continue
            for k in ("store", "work"):
                if name == "harvestd-" + k:
                    out[k] += proc_cpu(pid, tid)
        out["api"] = total - out["loop"] - out["store"] - out["work"]
        return out

    def db_size(self):
        if self.sqlite:
            return sum(os.path.getsize(self.db + s) for s in
                       ("", "-wal") if os.path.exists(self.db + s))
        if self.pg is not None:
            return self.pg.size(self.db)
        try:
            return self.get("/v1/status")["db_size_bytes"]
        except (OSError, KeyError):
            return 0

    def stop(self, timeout=300):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def cleanup(self):
        if self.sqlite:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.db + suffix):
                    os.unlink(self.db + suffix)
        elif self.pg is None:
            # A database the user named: purge what the bench left there
            # (needs a running daemon: started again for this).
            h = Harvestd(self.a, os.path.dirname(self.logpath), 1,
                         db=self.db)
            for job in self.jobs:
                for q in ("", "?purge=true"):
                    try:
                        urllib.request.urlopen(urllib.request.Request(
                            "http://127.0.0.1:%d/v1/jobs/%d%s" % (
                                h.port, job, q), method="DELETE"),
                            timeout=600).read()
                    except urllib.error.HTTPError:
                        pass
            h.stop()


class Prober(threading.Thread):
    """GETs each path in turn on one keep-alive connection, pausing
    interval s between rounds, until stopped or each has n samples;
    records each request's latency (s)."""

    def __init__(self, port, paths, n, interval=0.002, fill=None):
        super().__init__(daemon=True)
        self.port, self.paths, self.n = port, paths, n
        self.fill = fill or {}      # values for %(name)s in the paths
        self.interval = interval
        self.lat = {p: [] for p in paths}
        self.errors = 0
        self.halt = threading.Event()

    def run(self):
        con = None
        while not self.halt.is_set() and \
                min(len(v) for v in self.lat.values()) < self.n:
            for p in self.paths:
                try:
                    if con is None:
                        con = http.client.HTTPConnection(
                            "127.0.0.1", self.port, timeout=30)
                    t0 = time.perf_counter()
                    con.request("GET", p % self.fill)
                    r = con.getresponse()
                    r.read()
                    dt = time.perf_counter() - t0
                    if r.status == 200:
                        self.lat[p].append(dt)
                    else:
                        self.errors += 1
                except (OSError, http.client.HTTPException):
                    self.errors += 1
                    con = None
            self.halt.wait(self.interval)

    def done(self):
        return min(len(v) for v in self.lat.values()) >= self.n

    def stop(self):
        self.halt.set()
        self.join(timeout=60)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def write_curl_cfg(urls, path):
    with open(path, "w") as f:
        for u in urls:
            f.write('url = "%s"\noutput = "/dev/null"\n' % u)


def bench_curl(urls, work, conc, nginx, cacert=None, check=False):
    cfg = os.path.join(work, "curl.cfg")
    write_curl_cfg(urls, cfg)
    cmd = ["curl", "--parallel", "--parallel-max", str(conc), "-s",
           "--no-progress-meter", "-K", cfg]
    if cacert:
        cmd += ["--cacert", cacert]
    if check:  # one line per transfer: its status (smoke runs only)
        cmd += ["-w", "%{http_code}\\n"]
    mark = nginx.hs_mark()
    noise = Noise(nginx)
    out = os.path.join(work, "curl.out")
    with open(out, "w") as f:
        wall, cpu, rss, rc = run_measured(cmd, stdout=f,
                                          stderr=subprocess.DEVNULL)
    other, ngx = noise.other(cpu)
    ok = rc == 0
    if check:
        with open(out) as f:
            codes = f.read().split()
        ok = ok and codes.count("200") == len(urls)
    return {"wall": wall, "cpu": cpu, "rss": rss, "ok": ok, "other": other,
            "nginx_cpu": ngx, "hs": nginx.handshakes(mark)}


def bench_httpx(a, urls, work, conc, nginx):
    lst = os.path.join(work, "urls.txt")
    with open(lst, "w") as f:
        f.write("\n".join(urls) + "\n")
    db = os.path.join(work, "httpx-%d.db" % time.monotonic_ns())
    mark = nginx.hs_mark()
    noise = Noise(nginx)
    wall, cpu, rss, rc = run_measured(
        [sys.executable, os.path.join(a.srcdir, "bench", "scrape_httpx.py"),
         lst, db, str(conc)])
    other, ngx = noise.other(cpu)
    n = sqlite3.connect(db).execute("SELECT count(*) FROM results "
                                    "WHERE status = 200").fetchone()[0]
    os.unlink(db)
    return {"wall": wall, "cpu": cpu, "rss": rss, "ok": rc == 0 and
            n == len(urls), "other": other, "nginx_cpu": ngx,
            "hs": nginx.handshakes(mark)}


def bench_harvestd(a, urls, work, conc, nginx, per_host=None, settings=(),
                   probe_paths=None, probe_n=0, env=None, job=None, db=None,
                   binary=None):
    h = Harvestd(a, work, conc, per_host=per_host, settings=settings,
                 env=env, db=db, binary=binary)
    try:
        mark = nginx.hs_mark()
        th0 = h.threads()
        cpu0 = proc_cpu(h.proc.pid)
        noise = Noise(nginx)
        t0 = time.monotonic()
        job = h.post(urls, **(job or {}))
        t_accept = time.monotonic() - t0
        pr = None
        if probe_paths:
            pr = Prober(h.port, probe_paths, probe_n,
                        fill={"job": job["id"]})
            pr.start()
        j = h.wait(job["id"])
        wall = time.monotonic() - t0
        if pr:
            pr.stop()
        cpu = proc_cpu(h.proc.pid) - cpu0
        th1 = h.threads()
        other, ngx = noise.other(cpu)
        rss = proc_hwm(h.proc.pid)
        dbsize = h.db_size()
    finally:
        h.stop()
    ok = j["counts"]["done"] == len(urls)
    if h.sqlite:
        con = sqlite3.connect(h.db)
        rows, good = con.execute("SELECT count(*), sum(status = 200 AND "
                                 "body_size > 0) FROM results").fetchone()
        con.close()
        ok = ok and rows == len(urls) and good == len(urls)
    h.cleanup()
    return {"wall": wall, "cpu": cpu, "rss": rss, "accept": t_accept,
            "ok": ok, "db_per_1000": dbsize / len(urls) * 1000,
            "other": other, "nginx_cpu": ngx, "hs": nginx.handshakes(mark),
            "threads": {k: th1[k] - th0[k] for k in th1},
            "probe": pr.lat if pr else None}


def bench_wrk(url, conc, seconds=5):
    out = subprocess.run(["wrk", "-t1", "-c%d" % conc, "-d%ds" % seconds,
                          url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return 0.0


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    return "%.0f–%.0f" % (min(xs), max(xs)) if len(xs) > 1 else "-"


def finish(m, n):
    m["n"] = n
    m["rate"] = n / m["wall"]
    m["cpu_per_1000"] = m["cpu"] / n * 1000
    return m


def show(label, r, m):
    extra = ""
    if m.get("threads"):
        t = m["threads"]
        extra = " (loop %.3f store %.3f api %.3f)" % tuple(
            t[k] / m["n"] * 1000 for k in ("loop", "store", "api"))
    if m.get("hs") and sum(m["hs"]):
        extra += " connections: full handshake or plain %d, resumed %d" % m["hs"]
    log("run %d %-16s %7.0f URLs/s  cpu %.3f s/1000%s  rss %.1f MiB  "
        "nginx %.2f s  other load %.2f cores  %s" % (
            r + 1, label, m["rate"], m["cpu_per_1000"], extra, m["rss"],
            m["nginx_cpu"], m["other"], "ok" if m["ok"] else "FAILED"))


def row(label, ms, ref_rate, extra_cols=()):
    rates = [m["rate"] for m in ms]
    cols = [label, "%.0f (%s)" % (med(rates), spread(rates)),
            "%.3f" % med([m["cpu_per_1000"] for m in ms]),
            "%.1f" % max(m["rss"] for m in ms),
            "%.2f×" % (med(rates) / ref_rate)]
    return "| " + " | ".join(cols + list(extra_cols)) + " |"


def thread_split(ms):
    """Median loop/store/api CPU ms per URL."""
    ts = [m["threads"] for m in ms if m.get("threads")]
    if not ts:
        return ""
    return "loop %.3f, store %.3f, workers %.3f, API %.3f" % tuple(
        med([t.get(k, 0.0) / m["n"] * 1000 for t, m in zip(ts, ms)])
        for k in ("loop", "store", "work", "api"))


def noise_note(all_ms):
    o = [m["other"] for m in all_ms]
    return "other processes used %.2f cores on average during the runs " \
        "(median; %.2f–%.2f)" % (med(o), min(o), max(o))


# ---------------------------------------------------------------- sections

def section_main(a, nginx, work):
    """wrk, curl, harvestd, httpx on the plain HTTP page, alternated."""
    urls = [nginx.url(a.page, i) for i in range(a.urls)]
    hurls = urls[:a.httpx_urls]
    res = {"curl": [], "harvestd": [], "httpx": []}
    variants = {}
    for v in a.variant or []:
        settings, env, db, binary = [], {}, None, None
        for kv in v.split(","):
            if kv.startswith("bin:"):
                binary = kv[4:]     # another build: before and after
            elif kv.startswith("env:"):
                k, val = kv[4:].split("=", 1)
                env[k] = val
            elif kv == "db:pg-temp":
                # The same run on a throwaway PostgreSQL, side by side.
                if a.pg is None:
                    a.pg = PgTemp(work)
                db = "pg-temp"
            else:
                settings.append(kv)
        variants["harvestd " + v] = (settings, env, db, binary)
        res["harvestd " + v] = []
    ceiling = 0.0 if a.smoke else bench_wrk(nginx.url(a.page),
                                            a.concurrency)
    names = ["curl", "harvestd"] + list(variants) + \
        (["httpx"] if HTTPX_OK else [])
    for r in range(a.runs):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if name == "curl":
                m = finish(bench_curl(urls, work, a.concurrency, nginx,
                                      check=a.smoke), len(urls))
            elif name == "harvestd":
                m = finish(bench_harvestd(a, urls, work, a.concurrency,
                                          nginx), len(urls))
            elif name in variants:
                settings, env, db, binary = variants[name]
                m = finish(bench_harvestd(
                    a, urls, work, a.concurrency, nginx, settings=settings,
                    env=env, db=a.pg.new_db() if db else None,
                    binary=binary), len(urls))
            else:
                m = finish(bench_httpx(a, hurls, work, a.concurrency, nginx),
                           len(hurls))
            res[name].append(m)
            show(name, r, m)
    out = []
    curl_rate = med([m["rate"] for m in res["curl"]])
    out.append("\n## Plain HTTP, one host (%s, %d URLs, httpx %d, "
               "concurrency %d, %d runs, medians)\n" % (
                   a.page, a.urls, len(hurls), a.concurrency, a.runs))
    out.append("| contender | URLs/s (median, spread) | CPU s / 1000 URLs | "
               "peak RSS MiB | vs curl --parallel | connections opened |")
    out.append("|---|---|---|---|---|---|")
    out.append("| wrk (server ceiling, req/s) | %.0f | | | %.2f× | |" % (
        ceiling, ceiling / curl_rate))
    for name, label in (("curl", "curl --parallel (fetch only)"),
                        ("harvestd", "harvestd end to end (rows "
                         "committed)"),
                        ("httpx", "asyncio + httpx + SQLite")) + tuple(
                            (v, v.replace("harvestd ", "harvestd with "))
                            for v in variants):
        if res[name]:
            out.append(row(label, res[name], curl_rate, [
                "%d" % med([m["hs"][0] + m["hs"][1] for m in res[name]])]))
    h = res["harvestd"]
    out.append("\n- harvestd CPU ms per URL by thread: %s" % thread_split(h))
    for v in variants:
        out.append("- %s: CPU ms per URL by thread: %s" % (
            v, thread_split(res[v])))
    if res["httpx"]:
        ratios = [hm["rate"] / xm["rate"] for hm, xm in
                  zip(res["harvestd"], res["httpx"])]
        out.append("- harvestd / httpx, run by run: %s (goal ≥ 20× every "
                   "run: %s)" % (", ".join("%.1f×" % x for x in ratios),
                                 "met" if min(ratios) >= 20 else "NOT met"))
    out.append("- POST of %d URLs accepted in %.2f s (median); database "
               "%.0f KiB per 1,000 results" % (
                   a.urls, med([m["accept"] for m in h]),
                   med([m["db_per_1000"] for m in h]) / 1024))
    out.append("- noise: " + noise_note([m for ms in res.values()
                                          for m in ms]))
    return out, [m for ms in res.values() for m in ms]


SCRAPE_EXTRACT = {"title": "//title", "price": "//p[@class='price']",
                  "links": {"xpath": "//a/@href", "all": True}}


def section_scrape(a, nginx, work):
    """Issue 14: the same HTML pages fetched plainly, with three XPath
    fields (extract), and with follow (links parsed, resolved, checked
    against the job's seen URLs: they are the job's own seeds, so the job
    does not grow), alternated run by run."""
    out = []
    allms = []
    for page, n in (("page-2k.html", a.urls), ("page-100k.html",
                                                max(a.urls // 4, 100))):
        if a.smoke:
            n = 40  # the 40 links of a page are seeds too
        urls = [nginx.url(page, i) for i in range(n)]
        kinds = (("plain", None),
                 ("extract (3 XPath fields)", {"extract": SCRAPE_EXTRACT}),
                 ("follow (scope host)", {"follow": {"scope": "host",
                                                     "max_depth": 1}}))
        res = {k: [] for k, _ in kinds}
        for r in range(a.runs):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for name, job in order:
                m = finish(bench_harvestd(a, urls, work, a.concurrency,
                                          nginx, job=job), len(urls))
                res[name].append(m)
                allms.append(m)
                show("%s %s" % (page, name), r, m)
        base = med([m["rate"] for m in res["plain"]])
        out.append("\n## Scraping: %s, %d URLs, concurrency %d, %d runs "
                   "(medians)\n" % (page, n, a.concurrency, a.runs))
        out.append("| job | URLs/s (median, spread) | CPU s / 1000 URLs | "
                   "peak RSS MiB | vs plain |")
        out.append("|---|---|---|---|---|")
        for name, _ in kinds:
            out.append(row(name, res[name], base))
        for name, _ in kinds:
            out.append("- %s: CPU ms per URL by thread: %s" % (
                name, thread_split(res[name])))
    return out, allms


def section_tls(a, nginx, work):
    """HTTPS: keep-alive throughput on one host, then new connections on
    TLS_HOSTS hosts (per_host_concurrency 1), and the same hosts on a
    server that closes every connection after one request; curl as the
    reference."""
    out, allm = [], []
    ca = nginx.ca
    settings = ["ca_file=%s" % ca]
    hosts = a.tls_hosts
    variants = [
        ("keep-alive, 1 host", a.tls_per_host,
         [nginx.tls_url(a.page, i) for i in range(a.urls)]),
        ("%d hosts" % hosts, 1,
         [nginx.tls_url(a.page, i, host=2 + i % hosts)
          for i in range(a.urls)])]
    if not a.no_tls_close:
        variants.append((
            "%d hosts, server closes after each request" % hosts, 1,
            [nginx.tls_url(a.page, i, host=2 + i % hosts, close=True)
             for i in range(a.tls_close_urls)]))
    res = {(v, c): [] for v in range(len(variants)) for c in ("curl", "h")}
    mark0 = nginx.hs_mark()
    for r in range(a.runs):
        for v, (label, per_host, urls) in enumerate(variants):
            for c in (("curl", "h") if (r + v) % 2 == 0 else ("h", "curl")):
                if c == "curl":
                    m = bench_curl(urls, work, a.concurrency, nginx,
                                   cacert=ca, check=a.smoke)
                else:
                    m = bench_harvestd(a, urls, work, a.concurrency, nginx,
                                       per_host=per_host, settings=settings)
                res[(v, c)].append(finish(m, len(urls)))
                show("%s %s" % (c, label[:12]), r, m)
                allm.append(m)
    out.append("\n## HTTPS (%s, concurrency %d, %d runs, medians)\n" % (
        a.page, a.concurrency, a.runs))
    seen = nginx.protocols_seen(mark0)
    out.append("ECDSA P-256 certificate from a CA made at run time, nginx "
               "`ssl_protocols %s` (connections by protocol: %s), HTTP/1.1, "
               "one worker with a shared session cache; harvestd `--set "
               "ca_file=`, curl `--cacert`; URLs spread round-robin over "
               "the hosts (127.0.0.2 …). Handshakes counted from nginx's "
               "`$ssl_session_reused` on each connection's first request.\n"
               % (a.tls_protocols, ", ".join("%s %d" % kv for kv in
                                            sorted(seen.items()))))
    out.append("| run | contender | URLs/s (median, spread) | CPU s / 1000 "
               "URLs | peak RSS MiB | vs curl | TLS handshakes full / "
               "resumed (median) |")
    out.append("|---|---|---|---|---|---|---|")
    for v, (label, per_host, urls) in enumerate(variants):
        cr = med([m["rate"] for m in res[(v, "curl")]])
        for c, name in (("curl", "curl --parallel-max %d" % a.concurrency),
                        ("h", "harvestd, per_host_concurrency %d" %
                         per_host)):
            ms = res[(v, c)]
            hs = "%d / %d" % (med([m["hs"][0] for m in ms]),
                              med([m["hs"][1] for m in ms]))
            out.append(row("%s, %d URLs | %s" % (label, len(urls), name),
                           ms, cr, [hs]))
    for v, (label, per_host, urls) in enumerate(variants):
        out.append("\n- %s: harvestd CPU ms per URL by thread: %s; nginx CPU "
                   "s per run: curl %.2f, harvestd %.2f" % (
                       label, thread_split(res[(v, "h")]),
                       med([m["nginx_cpu"] for m in res[(v, "curl")]]),
                       med([m["nginx_cpu"] for m in res[(v, "h")]])))
    out.append("- noise: " + noise_note(allm))
    return out, allm


def queue_filler(h, nginx, n, chunk, **opts):
    """Queues n URLs that are not fetched meanwhile, in POSTs of chunk:
    returns [(queued before, accept s)]."""
    acc = []
    queued = 0
    for start in range(0, n, chunk):
        urls = ["http://127.0.0.2:%d/q/%d" % (nginx.port, i) for i in
                range(start, min(n, start + chunk))]
        t0 = time.monotonic()
        h.post(urls, **opts)
        acc.append((queued, time.monotonic() - t0))
        queued += len(urls)
    return acc


def section_status(a, nginx, work):
    """API latency while fetching at full speed, alone and beside a big
    job that is queued but not fetched."""
    paths = ["/v1/status", "/v1/jobs/%(job)d", "/healthz"]
    urls = [nginx.url(a.page, i) for i in range(a.status_urls)]
    out, allm = [], []
    rows = []
    # The idle job: lowest priority, one host that may start a request an
    # hour apart (127.0.0.2, where nothing listens on nginx's port).
    idle_opts = {"priority": -1000, "per_host_concurrency": 1,
                 "per_host_delay_ms": 3600000}
    for big in (0, a.status_big):
        for r in range(a.status_runs):
            h = Harvestd(a, work, a.concurrency)
            try:
                acc = queue_filler(h, nginx, big, min(POST_CHUNK, big or 1),
                                   **idle_opts) if big else []
                th0 = h.threads()
                cpu0 = proc_cpu(h.proc.pid)
                noise = Noise(nginx)
                # Fetching jobs one after the other until the prober has
                # its samples (or status_max_s): the probed job is the
                # one being fetched.
                t0 = time.monotonic()
                fill = {}
                pr, done, ok, fetch_wall = None, 0, True, 0.0
                while True:
                    job = h.post(urls)
                    t1 = time.monotonic()
                    fill["job"] = job["id"]
                    if pr is None:
                        pr = Prober(h.port, paths, a.status_n, fill=fill)
                        pr.start()
                    j = h.wait(job["id"])
                    fetch_wall += time.monotonic() - t1
                    done += len(urls)
                    ok = ok and j["counts"]["done"] == len(urls)
                    if pr.done() or time.monotonic() - t0 > a.status_max_s:
                        break
                wall = time.monotonic() - t0
                pr.stop()
                cpu = proc_cpu(h.proc.pid) - cpu0
                other, ngx = noise.other(cpu)
                th1 = h.threads()
                st = h.get("/v1/status")
            finally:
                h.stop()
            h.cleanup()
            m = finish({"wall": wall, "cpu": cpu, "rss": 0.0, "ok": ok,
                        "other": other, "nginx_cpu": ngx,
                        "threads": {k: th1[k] - th0[k] for k in th1}},
                       done)
            # URLs/s from POST answered to job done (POSTs left out)
            m["rate"] = done / fetch_wall
            m["probe"], m["errors"] = pr.lat, pr.errors
            m["queued_after"] = st["queue_depth"]
            show("status+%d" % big, r, m)
            log("  " + ", ".join("%s n=%d p50 %.2f p99 %.2f ms" % (
                p, len(v), pct(v, .5) * 1000, pct(v, .99) * 1000)
                for p, v in pr.lat.items()) + " errors %d" % pr.errors)
            if acc:
                log("  idle-job POSTs accepted in %s s" % ", ".join(
                    "%.2f" % x[1] for x in acc))
            allm.append(m)
            rows.append((big, m, acc))
    out.append("\n## API latency while fetching (jobs of %d URLs of %s "
               "one after the other, concurrency %d; %d runs per case, "
               "latencies pooled)\n" % (len(urls), a.page, a.concurrency,
                                        a.status_runs))
    out.append("One keep-alive client, the three GETs in turn, 2 ms apart; "
               "the idle job is %d URLs in POSTs of %d (priority -1000, one "
               "host with a 1 h per-host delay, so it stays queued).\n" % (
                   a.status_big, POST_CHUNK))
    out.append("| beside the fetching job | fetching URLs/s (median; POSTs "
               "excluded) | "
               "/v1/status p50 / p99 ms | /v1/jobs/{id} p50 / p99 ms | "
               "/healthz p50 / p99 ms | requests each |")
    out.append("|---|---|---|---|---|---|")
    goals = []
    for big in (0, a.status_big):
        ms = [m for b, m, _ in rows if b == big]
        pooled = {}
        for m in ms:
            for k, v in m["probe"].items():
                key = "job" if k.startswith("/v1/jobs/") else k
                pooled.setdefault(key, []).extend(v)
        cells = ["%.2f / %.2f" % (pct(pooled.get(k, []), .5) * 1000,
                                  pct(pooled.get(k, []), .99) * 1000)
                 for k in ("/v1/status", "job", "/healthz")]
        label = "nothing" if big == 0 else "%d queued URLs (idle job)" % big
        out.append("| %s | %.0f (%s) | %s | %d |" % (
            label, med([m["rate"] for m in ms]),
            spread([m["rate"] for m in ms]), " | ".join(cells),
            min(len(v) for v in pooled.values()) if pooled else 0))
        goals.append((label, pct(pooled.get("/v1/status", []), .99) * 1000,
                      pct(pooled.get("job", []), .99) * 1000,
                      pct(pooled.get("/healthz", []), .99) * 1000))
    for label, s, jb, hz in goals:
        out.append("\n- %s: status p99 %.2f ms and job p99 %.2f ms (goal "
                   "< 2 ms: %s), /healthz p99 %.2f ms (goal < 1 ms: %s)" % (
                       label, s, jb, "met" if max(s, jb) < 2 else "NOT met",
                       hz, "met" if hz < 1 else "NOT met"))
    accs = [x[1] for _, _, acc in rows for x in acc]
    if accs:
        out.append("- idle job's 100k POSTs accepted in %.2f–%.2f s "
                   "(median %.2f)" % (min(accs), max(accs), med(accs)))
    out.append("- noise: " + noise_note(allm))
    return out, allm


def fetch_for(h, seconds, series=None):
    """Fetches for seconds: (URLs/s, max RSS MiB seen). With a list as
    series, appends the rate of every 5 s to it. Polls /v1/status once a
    second (its own cost is in the figures)."""
    st = h.get("/v1/status")
    n0, t1, rss = st["totals"]["results"], time.monotonic(), 0.0
    last_n, last_t = n0, t1
    while time.monotonic() - t1 < seconds:
        time.sleep(1 if series is not None else 0.5)
        rss = max(rss, proc_mem(h.proc.pid, "VmRSS"))
        st = h.get("/v1/status")
        now = time.monotonic()
        if series is not None and now - last_t >= 5:
            series.append((st["totals"]["results"] - last_n) /
                          (now - last_t))
            last_n, last_t = st["totals"]["results"], now
        if st["queue_depth"] == 0 and st["in_flight"] == 0:
            break
    return (st["totals"]["results"] - n0) / (time.monotonic() - t1), rss


def section_scaling(a, nginx, work):
    """Queues n URLs (in POSTs of at most 100k), then fetches for a fixed
    time: throughput, and memory while the queue holds (almost) n."""
    rows = []
    for n in [int(x) for x in a.scaling_sizes.split(",")]:
        h = Harvestd(a, work, a.concurrency)
        try:
            accept = 0.0
            for start in range(0, n, POST_CHUNK):
                urls = [nginx.url(a.page, i) for i in
                        range(start, min(n, start + POST_CHUNK))]
                t0 = time.monotonic()
                h.post(urls)
                if start == 0:
                    accept = time.monotonic() - t0
            del urls
            post_hwm = proc_hwm(h.proc.pid)
            rate, rss = fetch_for(h, a.scaling_seconds)
        finally:
            h.stop()
        h.cleanup()
        rows.append((n, accept, rate, rss, post_hwm))
        log("  scaling %d: first POST accepted in %.2f s, %.0f URLs/s, RSS "
            "while fetching %.1f MiB (peak incl. POSTs %.1f)" % (
                n, accept, rate, rss, post_hwm))
    out = ["\n## Scaling (harvestd, %.0f s of fetching at each queue size)"
           "\n" % a.scaling_seconds,
           "| URLs queued | first POST (<= 100k URLs) accepted in | URLs/s "
           "| RSS while fetching, MiB | peak RSS incl. the POSTs, MiB |",
           "|---|---|---|---|---|"]
    for n, acc, rate, rss, hwm in rows:
        out.append("| %d | %.2f s | %.0f | %.1f | %.1f |" % (n, acc, rate,
                                                           rss, hwm))
    return out


def section_big_queue(a, nginx, work):
    """10M URLs in POSTs of 100k: each POST's accept time, peak RSS,
    throughput against the 100k case, duration and database size."""
    t_start = time.monotonic()
    res = {}
    for n in (POST_CHUNK if not a.smoke else a.big_queue // 10, a.big_queue):
        chunk = min(POST_CHUNK, n)
        h = Harvestd(a, work, a.concurrency)
        try:
            accs = []
            t0 = time.monotonic()
            queued = 0
            for start in range(0, n, chunk):
                urls = [nginx.url(a.page, i) for i in
                        range(start, min(n, start + chunk))]
                t1 = time.monotonic()
                h.post(urls)
                accs.append((queued, time.monotonic() - t1))
                queued += len(urls)
                if len(accs) % 10 == 0:
                    log("  big queue: %d queued, last POST %.2f s, RSS %.1f "
                        "MiB (peak %.1f)" % (
                            queued, accs[-1][1],
                            proc_mem(h.proc.pid, "VmRSS"),
                            proc_hwm(h.proc.pid)))
            del urls
            t_queue = time.monotonic() - t0
            post_hwm = proc_hwm(h.proc.pid)
            db_queued = h.db_size()
            series = []
            rate, rss = fetch_for(h, a.big_seconds, series)
            hwm = proc_hwm(h.proc.pid)
            dbsize = h.db_size()
        finally:
            h.stop(timeout=600)
        h.cleanup()
        res[n] = {"accs": accs, "t_queue": t_queue, "post_hwm": post_hwm,
                  "rate": rate, "rss": rss, "hwm": hwm, "db": dbsize,
                  "db_queued": db_queued,
                  "series": series}
        log("  queue %d: queued in %.0f s, %.0f URLs/s, RSS fetching %.1f, "
            "peak %.1f MiB, DB %.0f MiB" % (n, t_queue, rate, rss, hwm,
                                             dbsize / 2**20))
    took = time.monotonic() - t_start
    small, big = res[min(res)], res[max(res)]
    out = ["\n## A big queue: %d URLs in POSTs of %d\n" % (a.big_queue,
                                                          POST_CHUNK)]
    out.append("| URLs queued | time to queue | URLs/s over %.0f s after | "
               "RSS while fetching MiB | peak RSS MiB (incl. POSTs) | "
               "database queued / after fetching |" % a.big_seconds)
    out.append("|---|---|---|---|---|---|")
    for n in sorted(res):
        x = res[n]
        out.append("| %d | %.0f s | %.0f | %.1f | %.1f | %.0f / %.0f MiB |"
                   % (n, x["t_queue"], x["rate"], x["rss"], x["hwm"],
                      x["db_queued"] / 2**20, x["db"] / 2**20))
    accs = [s for _, s in big["accs"]]
    out.append("\nEach POST's accept time (s), by the number of URLs "
               "already queued (%d POSTs):\n" % len(accs))
    per = 10
    out.append("| queued before | " + " | ".join(
        "+%d" % (i * POST_CHUNK // 1000) + "k" for i in range(per)) + " |")
    out.append("|---" * (per + 1) + "|")
    for i in range(0, len(accs), per):
        out.append("| %d | %s |" % (big["accs"][i][0], " | ".join(
            "%.2f" % s for s in accs[i:i + per])))
    for n in sorted(res):
        out.append("\n- %d queued: URLs/s in each 5 s: %s" % (
            n, ", ".join("%.0f" % x for x in res[n]["series"])))
    ratio = big["rate"] / small["rate"] if small["rate"] else 0
    out.append("\n- peak RSS %.1f MiB with %d queued (goal ≤ 64 MiB: %s)" % (
        big["hwm"], a.big_queue, "met" if big["hwm"] <= 64 else "NOT met"))
    out.append("- throughput with %d queued: %.0f URLs/s, %.0f%% of the "
               "%d case (%.0f) (goal within 10%%: %s)" % (
                   a.big_queue, big["rate"], ratio * 100, min(res),
                   small["rate"], "met" if ratio >= 0.9 else "NOT met"))
    out.append("- POST accept times %.2f–%.2f s, median %.2f (goal < 1 s "
               "each: %s)" % (min(accs), max(accs), med(accs),
                             "met" if max(accs) < 1 else "NOT met (%d of "
                             "%d over)" % (sum(s >= 1 for s in accs),
                                           len(accs))))
    out.append("- the whole section took %.0f s; database %.0f MiB with "
               "%d queued (%.0f bytes per queued URL), %.0f MiB after "
               "fetching" % (took, big["db_queued"] / 2**20, a.big_queue,
                             big["db_queued"] / a.big_queue,
                             big["db"] / 2**20))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", default=os.path.dirname(here),
                    help="the build tree (where harvestd is)")
    ap.add_argument("--harvestd", help="the daemon (default TOP/harvestd)")
    ap.add_argument("--urls", type=int, default=20000)
    ap.add_argument("--httpx-urls", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--page", default="2k.html")
    ap.add_argument("--db", default="sqlite",
                    help="harvestd's database: sqlite (a new file per run), "
                    "a postgresql:// URI (jobs purged after), or pg-temp (a "
                    "throwaway local PostgreSQL server, a database per run)")
    ap.add_argument("--no-main", action="store_true",
                    help="skip the plain-HTTP comparison")
    ap.add_argument("--harvestd-set", action="append", metavar="KEY=VALUE",
                    help="a setting for every harvestd the bench starts")
    ap.add_argument("--variant", action="append", metavar="K=V[,K=V]",
                    help="one more harvestd contender in the plain-HTTP "
                    "comparison, with these settings (env:NAME=VALUE: an "
                    "environment variable; db:pg-temp: on a throwaway "
                    "PostgreSQL; bin:PATH: another harvestd build), e.g. "
                    "window_size=4096")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--scaling-sizes", default="10000,100000,1000000")
    ap.add_argument("--scaling-seconds", type=float, default=10)
    ap.add_argument("--tls", action="store_true",
                    help="HTTPS: one host keep-alive, and many hosts")
    ap.add_argument("--tls-hosts", type=int, default=TLS_HOSTS)
    ap.add_argument("--tls-close-urls", type=int, default=10000,
                    help="URLs in the run whose server closes every "
                    "connection (one handshake per URL)")
    ap.add_argument("--no-tls-close", action="store_true")
    ap.add_argument("--tls-protocols", default="TLSv1.2 TLSv1.3",
                    help="nginx's ssl_protocols (the clients pick the "
                    "newest)")
    ap.add_argument("--tls-per-host", type=int, default=0,
                    help="harvestd's per_host_concurrency in the one-host "
                    "HTTPS run (default: the concurrency)")
    ap.add_argument("--scrape", action="store_true",
                    help="HTML pages plain, with extract and with follow")
    ap.add_argument("--status", action="store_true",
                    help="API latency under load, with and without a big "
                    "idle job")
    ap.add_argument("--status-urls", type=int, default=100000)
    ap.add_argument("--status-big", type=int, default=1000000)
    ap.add_argument("--status-n", type=int, default=500)
    ap.add_argument("--status-runs", type=int, default=2)
    ap.add_argument("--status-max-s", type=float, default=180,
                    help="stop probing after this long even with fewer "
                    "samples")
    ap.add_argument("--big-queue", type=int, nargs="?", const=10000000,
                    default=0, help="queue this many URLs (10M) in POSTs "
                    "of 100k; slow")
    ap.add_argument("--big-seconds", type=float, default=30)
    ap.add_argument("--smoke", action="store_true",
                    help="every part on a few URLs; times nothing")
    a = ap.parse_args()
    a.srcdir = os.path.dirname(here)
    a.harvestd = a.harvestd or os.path.join(a.top, "harvestd")
    a.tls_per_host = a.tls_per_host or a.concurrency
    if a.smoke:
        a.urls, a.httpx_urls, a.runs, a.concurrency = 40, 20, 1, 8
        a.no_scaling = True
        a.tls = a.status = a.scrape = True
        a.tls_hosts, a.tls_per_host, a.tls_close_urls = 4, 8, 20
        a.status_urls, a.status_big, a.status_n, a.status_runs = 300, 50, 5, 1
        a.big_queue, a.big_seconds = 30, 0.5

    work = tempfile.mkdtemp(prefix="harvestd-bench-")
    a.pg = None
    nginx = None
    allm = []
    try:
        if a.db == "pg-temp":
            a.pg = PgTemp(work)
        nginx = Nginx(work, tls=a.tls, protocols=a.tls_protocols)
        print("# harvestd bench, %s\n" % time.strftime("%Y-%m-%d %H:%M "
                                                         "UTC", time.gmtime()))
        print("Machine: %s. Database: %s. Load average at start: %.2f.\n" % (
            machine(), a.db, loadavg()))
        sections = []
        if not a.no_main:
            sections.append(lambda: section_main(a, nginx, work))
        if a.tls:
            sections.append(lambda: section_tls(a, nginx, work))
        if a.status:
            sections.append(lambda: section_status(a, nginx, work))
        if a.scrape:
            sections.append(lambda: section_scrape(a, nginx, work))
        for s in sections:
            lines, ms = s()
            allm += ms
            print("\n".join(lines), flush=True)
        if not a.no_scaling:
            print("\n".join(section_scaling(a, nginx, work)), flush=True)
        if a.big_queue:
            print("\n".join(section_big_queue(a, nginx, work)), flush=True)
        print("\nLoad average at the end: %.2f." % loadavg())
        ok = all(m["ok"] for m in allm)
        print("all runs correct: %s" % ok)
        if not ok:
            sys.exit(1)
    finally:
        if nginx is not None:
            nginx.stop()
        if a.pg is not None:
            a.pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
