#!/usr/bin/env python3
"""Where harvestd's time goes, against curl --parallel on the same URLs
(bench/run profile). Against the same nginx on 127.0.0.1 as bench.py:

- callgrind (instructions, deterministic) of harvestd end to end and of
  curl --parallel, per thread (loop, store, API), self and inclusive;
- perf record -g (cpu-clock samples; hardware counters are often missing
  in VMs) of full-speed runs of the 2 KiB and 100 KiB pages, per thread;
- strace -c -f: syscalls per transfer, harvestd and curl;
- memory: /proc smaps of the daemon at the end of a run, and massif's
  peak (allocation sites).

Raw reports go to --out (bench/profiles/ by default); a markdown summary
is printed. Every run is bounded and stays on loopback."""
import argparse
import collections
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

THREADS = {1: "loop", 2: "store", 3: "notify", 4: "api"}  # by start order


def role(n):
    return THREADS.get(n, "api")


def harvestd_cmd(a, port, db, conc, prefix=()):
    return list(prefix) + [
        a.harvestd, "--db", db, "--port", str(port), "--concurrency",
        str(conc), "--set", "per_host_concurrency=%d" % conc,
        "--set", "block_private_addresses=false", "--set", "max_attempts=1",
        "--set", "max_request_bytes=400000000", "--log-level", "warn"]


class Daemon:
    """harvestd under an optional wrapper (valgrind, strace)."""

    def __init__(self, a, work, conc, prefix=(), ready=120):
        self.port = bench.free_port()
        self.db = os.path.join(work, "p-%d.db" % self.port)
        self.logf = open(os.path.join(work, "p-%d.log" % self.port), "wb")
        self.proc = subprocess.Popen(harvestd_cmd(a, self.port, self.db,
                                                  conc, prefix),
                                     stdout=self.logf, stderr=self.logf)
        self.h = bench.Harvestd.__new__(bench.Harvestd)
        self.h.port, self.h.jobs = self.port, []
        deadline = time.monotonic() + ready
        while time.monotonic() < deadline:
            try:
                self.h.get("/healthz", timeout=10)
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("harvestd did not start")

    def pid(self):
        """The daemon's pid (under valgrind it is the same process)."""
        return self.proc.pid

    def run_job(self, urls, limit=1800):
        j = self.h.post(urls)
        return self.h.wait(j["id"], limit=limit)

    def stop(self, timeout=600):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()
        for s in ("", "-wal", "-shm"):
            if os.path.exists(self.db + s):
                os.unlink(self.db + s)


def curl_cmd(urls, work, conc):
    cfg = os.path.join(work, "curl-prof.cfg")
    bench.write_curl_cfg(urls, cfg)
    return ["curl", "--parallel", "--parallel-max", str(conc), "-s",
            "--no-progress-meter", "-K", cfg]


# ------------------------------------------------------------- callgrind

def annotate(path, inclusive, n=25):
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=%s" % ("yes" if inclusive
                                                   else "no"),
         "--auto=no", "--threshold=100", path], capture_output=True, text=True,
        timeout=600).stdout
    return out


LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$")


def parse_annotate(text):
    """[(Ir, 'file:function [object]')] from callgrind_annotate."""
    rows, started = [], False
    total = 0
    for line in text.splitlines():
        if "PROGRAM TOTALS" in line:
            v = line.split()[0].replace(",", "")
            total = int(v) if v.isdigit() else 0
            continue
        if "file:function" in line:
            started = True
            continue
        if not started or line.startswith("--"):
            continue
        if not line.strip():
            if rows:
                break
            continue
        m = LINE.match(line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2)))
    return total, rows


def self_rows(total, rows):
    """Self costs, less the thread's entry frames: a dump taken while a
    thread runs charges them (main, clone, start_thread) with the whole
    thread."""
    return [(ir, fn) for ir, fn in rows if ir < total * 0.99]


def short(fn):
    """'file:function [/lib/obj.so]' -> 'function (obj)'."""
    obj = ""
    m = re.search(r"\[(.*)\]\s*$", fn)
    if m:
        obj = os.path.basename(m.group(1)).split(".so")[0]
        fn = fn[:m.start()].strip()
    name = fn.rsplit(":", 1)[-1] if ":" in fn else fn
    return "%s (%s)" % (name, obj or "?")


def by_object(rows):
    acc = collections.Counter()
    for ir, fn in rows:
        m = re.search(r"\[(.*)\]\s*$", fn)
        obj = os.path.basename(m.group(1)).split(".so")[0] if m else "?"
        acc[obj] += ir
    return acc


def section_callgrind(a, nginx, work, outdir):
    out = []
    for page in a.callgrind_pages.split(","):
        out += callgrind_page(a, nginx, work, outdir, page)
    return out


def callgrind_page(a, nginx, work, outdir, page):
    tag = page.split(".")[0]
    n = a.callgrind_urls if tag == "2k" else a.callgrind_urls_100k
    urls = [nginx.url(page, i) for i in range(n)]
    out = ["\n## callgrind: %d URLs of %s, concurrency %d\n" %
           (n, page, a.concurrency)]
    # harvestd: counters zeroed just before the POST, dumped at the job's
    # end (part 1: the job only; start-up and shutdown are left out).
    base = "callgrind.harvestd-%s" % tag
    for old in glob.glob(os.path.join(outdir, base + ".*")):
        os.unlink(old)
    prefix = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
              "--callgrind-out-file=%s" %
              os.path.join(outdir, base + ".%p")]
    d = Daemon(a, work, a.concurrency, prefix=prefix, ready=300)
    subprocess.run(["callgrind_control", "-z", str(d.pid())],
                   capture_output=True, timeout=120)
    t0 = time.monotonic()
    j = d.run_job(urls)
    wall = time.monotonic() - t0
    subprocess.run(["callgrind_control", "-d", str(d.pid())],
                   capture_output=True, timeout=300)
    d.stop()
    bench.log("callgrind harvestd: %d URLs in %.0f s, %s" % (
        n, wall, j["counts"]))
    files = sorted(glob.glob(os.path.join(
        outdir, base + ".%d.1-*" % d.pid())),
        key=lambda p: int(p.rsplit("-", 1)[1]))
    if not files:
        raise SystemExit("callgrind: no dump of the job")
    threads = []
    for path in files:
        tno = int(path.rsplit("-", 1)[1])
        txt_self = annotate(path, False)
        txt_incl = annotate(path, True)
        with open(path + ".self.txt", "w") as f:
            f.write(txt_self)
        with open(path + ".incl.txt", "w") as f:
            f.write(txt_incl)
        total, rows_self = parse_annotate(txt_self)
        rows_self = self_rows(total, rows_self)
        _, rows_incl = parse_annotate(txt_incl)
        threads.append((tno, total, rows_self, rows_incl))
    # curl on the same URLs
    cpath = os.path.join(outdir, "callgrind.curl-%s" % tag)
    subprocess.run(["valgrind", "--tool=callgrind",
                    "--callgrind-out-file=%s" % cpath] +
                   curl_cmd(urls, work, a.concurrency),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=3600)
    c_self, c_incl = annotate(cpath, False), annotate(cpath, True)
    with open(cpath + ".self.txt", "w") as f:
        f.write(c_self)
    with open(cpath + ".incl.txt", "w") as f:
        f.write(c_incl)
    ctotal, crows = parse_annotate(c_self)
    crows = self_rows(ctotal, crows)
    _, crows_incl = parse_annotate(c_incl)

    # totals per thread and per URL
    htotal = sum(t[1] for t in threads)
    out.append("Instructions per URL (Ir / %d): harvestd %.0f (all "
               "threads), curl --parallel %.0f: **%.2f×**.\n" % (
                   n, htotal / n, ctotal / n, htotal / max(ctotal, 1)))
    out.append("| thread | Ir per URL | share | top objects (self) |")
    out.append("|---|---|---|---|")
    per_role = collections.Counter()
    for tno, total, rows_self, _ in threads:
        per_role[role(tno)] += total
    for tno, total, rows_self, _ in threads:
        if total == 0:
            continue
        objs = by_object(rows_self)
        tops = ", ".join("%s %.0f%%" % (o, 100 * v / total)
                         for o, v in objs.most_common(5))
        out.append("| %d (%s) | %.0f | %.1f%% | %s |" % (
            tno, role(tno), total / n, 100 * total / max(htotal, 1), tops))
    objs = by_object(crows)
    out.append("| curl (one thread) | %.0f | | %s |" % (
        ctotal / n, ", ".join("%s %.0f%%" % (o, 100 * v / ctotal)
                              for o, v in objs.most_common(5))))
    # top 25 per role, self and inclusive
    for tno, total, rows_self, rows_incl in threads:
        if total < htotal * 0.02:
            continue
        for kind, rows in (("self", rows_self), ("inclusive", rows_incl)):
            out.append("\n### thread %d (%s), top 25 by %s cost (Ir per "
                       "URL, %% of the thread)\n" % (tno, role(tno), kind))
            out.append("| Ir/URL | % | function (object) |")
            out.append("|---|---|---|")
            for ir, fn in rows[:25]:
                out.append("| %.0f | %.1f | %s |" % (
                    ir / n, 100 * ir / total, short(fn)))
    for kind, rows in (("self", crows), ("inclusive", crows_incl)):
        out.append("\n### curl --parallel, top 25 by %s cost\n" % kind)
        out.append("| Ir/URL | % | function (object) |")
        out.append("|---|---|---|")
        for ir, fn in rows[:25]:
            out.append("| %.0f | %.1f | %s |" % (ir / n, 100 * ir / ctotal,
                                                 short(fn)))
    return out


# ---------------------------------------------------------------- strace

def parse_strace(path):
    """{syscall: calls} and total from strace -c output."""
    calls, total = {}, 0
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 5 and p[0].replace(".", "").isdigit():
                name = p[-1]
                if name == "total":
                    total = int(p[3])
                    continue
                calls[name] = int(p[3])
    return calls, total or sum(calls.values())


def section_strace(a, nginx, work, outdir):
    n = a.strace_urls
    urls = [nginx.url("2k.html", i) for i in range(n)]
    hpath = os.path.join(outdir, "strace.harvestd.txt")
    d = Daemon(a, work, a.concurrency)
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(d.pid()), "-o",
                           hpath], stderr=subprocess.DEVNULL)
    time.sleep(1)
    d.run_job(urls)
    st.send_signal(signal.SIGINT)
    st.wait(timeout=120)
    d.stop()
    cpath = os.path.join(outdir, "strace.curl.txt")
    subprocess.run(["strace", "-c", "-f", "-o", cpath] +
                   curl_cmd(urls, work, a.concurrency),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=1800)
    hc, ht = parse_strace(hpath)
    cc, ct = parse_strace(cpath)
    out = ["\n## Syscalls per transfer (strace -c -f, %d URLs of the 2 KiB "
           "page)\n" % n,
           "harvestd %.1f per URL, curl --parallel %.1f.\n" % (ht / n,
                                                              ct / n),
           "| syscall | harvestd per URL | curl per URL |", "|---|---|---|"]
    names = sorted(set(hc) | set(cc), key=lambda k: -max(hc.get(k, 0),
                                                         cc.get(k, 0)))
    for k in names[:20]:
        out.append("| %s | %.2f | %.2f |" % (k, hc.get(k, 0) / n,
                                             cc.get(k, 0) / n))
    return out


# ------------------------------------------------------------------ perf

def section_perf(a, nginx, work, outdir):
    out = ["\n## perf record -g (cpu-clock, 999 Hz), full speed\n"]
    ok = subprocess.run(["perf", "stat", "-e", "instructions", "true"],
                        capture_output=True, text=True)
    hw = "<not supported>" not in ok.stderr and ok.returncode == 0
    out.append("`perf stat -e instructions true`: hardware counters %s; "
               "sampling on the cpu-clock software event.\n" % (
                   "available" if hw else "NOT available in this VM "
                   "(instruction counts come from callgrind above)"))
    out.append("| page | contender | URLs/s | CPU s / 1000 URLs | loop | "
               "store | API | samples: top 8 self (all threads) |")
    out.append("|---|---|---|---|---|---|---|---|")
    for page in a.perf_pages.split(","):
        n = a.perf_urls if page.startswith("2k") else a.perf_urls_100k
        urls = [nginx.url(page, i) for i in range(n)]
        tag = page.split(".")[0]
        # harvestd
        d = Daemon(a, work, a.concurrency)
        hfile = os.path.join(outdir, "perf.harvestd.%s.data" % tag)
        pr = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F",
                               "999", "-g", "-p", str(d.pid()), "-o",
                               hfile], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        time.sleep(1)
        tids = sorted(int(t) for t in os.listdir("/proc/%d/task" %
                                                 d.pid()))
        th0 = {t: bench.proc_cpu(d.pid(), t) for t in tids}
        cpu0 = bench.proc_cpu(d.pid())
        t0 = time.monotonic()
        d.run_job(urls)
        wall = time.monotonic() - t0
        cpu = bench.proc_cpu(d.pid()) - cpu0
        th = {t: bench.proc_cpu(d.pid(), t) - th0[t] for t in tids}
        smaps = smaps_summary(d.pid())
        hwm = bench.proc_hwm(d.pid())
        pr.send_signal(signal.SIGINT)
        pr.wait(timeout=120)
        d.stop()
        with open(os.path.join(outdir, "smaps.harvestd.%s.txt" % tag),
                  "w") as f:
            f.write("VmHWM %.1f MiB\n" % hwm)
            for k, v in smaps:
                f.write("%-40s %8.1f MiB\n" % (k, v / 1024))
        roles = collections.Counter()
        for i, t in enumerate(tids):
            roles[role(i + 1)] += th[t]
        roles["api"] += cpu - sum(th.values())
        rep = perf_report(hfile, tids)
        with open(hfile + ".txt", "w") as f:
            f.write(rep["text"])
        out.append("| %s | harvestd | %.0f | %.3f | %.3f | %.3f | %.3f | %s "
                   "|" % (page, n / wall, cpu / n * 1000,
                          roles["loop"] / n * 1000,
                          roles["store"] / n * 1000,
                          (roles["api"] + roles["notify"]) / n * 1000,
                          rep["top"]))
        # curl
        cfile = os.path.join(outdir, "perf.curl.%s.data" % tag)
        wall, ccpu, rss, rc = bench.run_measured(
            ["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o",
             cfile, "--"] + curl_cmd(urls, work, a.concurrency),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the same run again without perf for its CPU
        wall, ccpu, rss, rc = bench.run_measured(
            curl_cmd(urls, work, a.concurrency), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        crep = perf_report(cfile, None)
        with open(cfile + ".txt", "w") as f:
            f.write(crep["text"])
        out.append("| %s | curl --parallel | %.0f | %.3f | | | | %s |" % (
            page, n / wall, ccpu / n * 1000, crep["top"]))
        out.append("| %s | harvestd − curl | | %.3f | | | | |" % (
            page, (cpu - ccpu) / n * 1000))
        bench.log("perf %s done" % page)
    return out


def perf_report(path, tids):
    """Text reports (self and children, per thread) and the top 8 self
    symbols over all threads."""
    def rep(*args):
        return subprocess.run(["perf", "report", "-i", path, "--stdio",
                               "--percent-limit", "0.5"] + list(args),
                              capture_output=True, text=True,
                              timeout=900).stdout
    text = ""
    flat = rep("--no-children", "-g", "none", "--sort", "dso,sym")
    text += "## all threads, self\n" + flat
    if tids:
        for i, t in enumerate(tids[:4]):
            text += "\n## thread %d (%s) tid %d, self\n" % (
                i + 1, role(i + 1), t)
            text += rep("--no-children", "-g", "none", "--sort", "dso,sym",
                        "--tid", str(t))
            text += "\n## thread %d (%s) tid %d, inclusive (children)\n" % (
                i + 1, role(i + 1), t)
            text += rep("--children", "-g", "none", "--sort", "sym",
                        "--tid", str(t))
    else:
        text += "\n## inclusive (children)\n" + rep("--children", "-g",
                                                    "none", "--sort", "sym")
    top = []
    for line in flat.splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)$", line)
        if m:
            top.append("%s %s%%" % (m.group(3).strip()[:40], m.group(1)))
        if len(top) == 8:
            break
    return {"text": text, "top": "; ".join(top)}


# ---------------------------------------------------------------- memory

def smaps_summary(pid):
    acc = collections.Counter()
    name = None
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                p = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    name = p[5] if len(p) > 5 else "[anon]"
                    name = os.path.basename(name) if name.startswith(
                        "/") else name
                    name = re.sub(r"\.so[.\d]*$", ".so", name)
                elif p and p[0] == "Rss:":
                    acc[name] += int(p[1])
    except OSError:
        pass
    return acc.most_common(15)


def section_memory(a, nginx, work, outdir):
    n = a.massif_urls
    urls = [nginx.url("2k.html", i) for i in range(n)]
    mpath = os.path.join(outdir, "massif.harvestd.out")
    d = Daemon(a, work, a.concurrency, prefix=[
        "valgrind", "--tool=massif", "--massif-out-file=%s" % mpath,
        "--threshold=0.5", "--max-snapshots=200"], ready=300)
    d.run_job(urls)
    d.stop()
    txt = subprocess.run(["ms_print", mpath], capture_output=True,
                         text=True, timeout=600).stdout
    with open(mpath + ".txt", "w") as f:
        f.write(txt)
    out = ["\n## Memory\n"]
    for tag in ("2k", "100k"):
        p = os.path.join(outdir, "smaps.harvestd.%s.txt" % tag)
        if os.path.exists(p):
            with open(p) as f:
                lines = f.read().splitlines()
            out.append("RSS by mapping at the end of the %s perf run (%s): "
                       "%s.\n" % (tag, lines[0], "; ".join(
                           " ".join(x.split()[:2]) + " MiB"
                           for x in lines[1:9])))
    out.append("massif (%d URLs), heap at the peak snapshot, largest "
               "allocation sites:\n" % n)
    out.append("```")
    out += massif_peak(txt)
    out.append("```")
    return out


def massif_peak(txt):
    """The detailed snapshot of the peak, cut to its top entries."""
    lines = txt.splitlines()
    peak = None
    for i, l in enumerate(lines):
        if "(peak)" in l:
            peak = i
    if peak is None:
        return ["(no peak snapshot)"]
    j = peak
    while j > 0 and not lines[j].startswith(" n "):
        j -= 1
    block = []
    for l in lines[peak:]:
        if l.startswith("---") and block:
            break
        if re.match(r"^(->|\| ->|\d+\.\d+%)", l.strip()) or \
                l.strip().startswith("->") or "%" in l:
            block.append(l[:160])
        if len(block) >= 40:
            break
    return block


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", default=os.path.dirname(here))
    ap.add_argument("--harvestd")
    ap.add_argument("--out", default=os.path.join(here, "profiles"))
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--callgrind-urls", type=int, default=5000)
    ap.add_argument("--callgrind-urls-100k", type=int, default=1000)
    ap.add_argument("--callgrind-pages", default="2k.html,100k.html")
    ap.add_argument("--strace-urls", type=int, default=5000)
    ap.add_argument("--perf-urls", type=int, default=20000)
    ap.add_argument("--perf-urls-100k", type=int, default=5000)
    ap.add_argument("--perf-pages", default="2k.html,100k.html")
    ap.add_argument("--massif-urls", type=int, default=5000)
    ap.add_argument("--only", default="perf,strace,callgrind,memory")
    a = ap.parse_args()
    a.harvestd = a.harvestd or os.path.join(a.top, "harvestd")
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="harvestd-prof-")
    nginx = bench.Nginx(work)
    try:
        print("# harvestd profile, %s\n" % time.strftime(
            "%Y-%m-%d %H:%M UTC", time.gmtime()))
        print("Machine: %s. Load average at start: %.2f.\n" % (
            bench.machine(), bench.loadavg()))
        only = a.only.split(",")
        for name, fn in (("perf", section_perf),
                         ("strace", section_strace),
                         ("callgrind", section_callgrind),
                         ("memory", section_memory)):
            if name in only:
                t0 = time.monotonic()
                print("\n".join(fn(a, nginx, work, a.out)), flush=True)
                bench.log("%s: %.0f s" % (name, time.monotonic() - t0))
        print("\nLoad average at the end: %.2f." % bench.loadavg())
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
