"""Operator experience: harvestctl against the real daemon, long polls,
completion callbacks, Prometheus metrics."""
import os
import re
import shutil
import subprocess
import threading
import time

import harness

HARVESTCTL = harness.HARVESTCTL


class OperatorTest(harness.TestCase):
    def ctl(self, d, *args, stdin=None, env=None, timeout=60):
        e = dict(os.environ, HARVESTD_URL="http://127.0.0.1:%d" % d.port)
        e.pop("HARVESTD_TOKEN", None)
        e.update(env or {})
        return subprocess.run([HARVESTCTL] + list(args), input=stdin,
                              capture_output=True, text=True,
                              timeout=timeout * harness.SLOW, env=e)

    def test_harvestctl_end_to_end(self):
        d = self.daemon()
        urls = "\n".join([self.server.url("/size/%d" % i)
                          for i in range(1, 21)] +
                         [self.server.url("/status/404"), "ftp://x/"]) + "\n"
        out = self.ctl(d, "submit", "-", "--concurrency", "4",
                       "--max-attempts", "1", stdin=urls)
        self.assertEqual(out.returncode, 0, out.stderr)
        m = re.match(r"job (\d+) submitted: 21 accepted, 0 duplicates "
                     r"dropped, 1 rejected", out.stdout)
        self.assertIsNotNone(m, out.stdout)
        self.assertIn("ftp://x/", out.stderr)
        job = int(m.group(1))
        # Not a terminal: plain lines, and exit 3 on failures if asked.
        out = self.ctl(d, "wait", str(job), "--fail-on-errors")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertRegex(out.stdout, r"job %d done: +21/21 100%%  1 failed"
                         % job)
        self.assertEqual(self.ctl(d, "wait", str(job)).returncode, 0)
        out = self.ctl(d, "jobs")
        self.assertRegex(out.stdout, r"\s%d\s+done\s+21\s+20\s+1" % job)
        out = self.ctl(d, "job", str(job))
        self.assertIn("20 done, 1 failed", out.stdout)
        out = self.ctl(d, "results", str(job), "--failed-only", "--format",
                       "csv")
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0].split(",")[:5],
                         ["id", "url", "final_url", "status", "error_kind"])
        self.assertEqual(len(lines), 2)
        self.assertIn(",404,http_status,", lines[1])
        out = self.ctl(d, "results", str(job), "--with-body")
        rows = [l for l in out.stdout.splitlines() if l]
        self.assertEqual(len(rows), 21)
        self.assertIn('"body":"aaa"', "".join(rows))
        out = self.ctl(d, "status")
        self.assertIn("results: 21 (20 ok, 1 failed)", out.stdout)
        out = self.ctl(d, "cancel", str(job), "--purge")
        self.assertEqual(out.stdout, "job %d purged\n" % job)

    def test_harvestctl_retry(self):
        d = self.daemon()
        closed = "http://127.0.0.1:%d/" % harness.closed_port()
        job = d.submit([self.server.url("/slow/1500"), closed,
                        self.server.url("/status/404")],
                       max_attempts=1, concurrency=3).json()["id"]
        out = self.ctl(d, "retry", str(job))
        self.assertEqual(out.returncode, 1)
        self.assertIn("409 job_active", out.stderr)
        d.wait_job(job)
        out = self.ctl(d, "retry", str(job), "--wait")
        self.assertEqual(out.returncode, 0, out.stderr)
        m = re.match(r"job (\d+) submitted: retry of job %d, 2 failed URLs\n"
                     % job, out.stdout)
        self.assertIsNotNone(m, out.stdout)
        new = int(m.group(1))
        self.assertRegex(out.stdout, r"job %d done: +2/2 100%%  2 failed"
                         % new)
        job_doc = d.get("/v1/jobs/%d" % new).json()
        self.assertEqual(job_doc["options"],
                         {"max_attempts": 1, "concurrency": 3})
        out = self.ctl(d, "retry", "999")
        self.assertEqual(out.returncode, 1)
        self.assertIn("404 not_found", out.stderr)
        ok = d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
        out = self.ctl(d, "retry", str(ok["id"]))
        self.assertEqual(out.returncode, 1)
        self.assertIn("400 no_failed_urls", out.stderr)
        out = self.ctl(d, "retry", str(new), "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"retry_of": %d' % new, out.stdout)

    def test_harvestctl_errors(self):
        d = self.daemon("--set", "api_token=tok")
        out = self.ctl(d, "status")
        self.assertEqual(out.returncode, 1)
        self.assertIn("401 unauthorized", out.stderr)
        self.assertEqual(self.ctl(d, "status", env={"HARVESTD_TOKEN": "tok"})
                         .returncode, 0)
        self.assertEqual(self.ctl(d, "--token", "tok", "job", "99")
                         .returncode, 1)
        out = self.ctl(d, "bogus")
        self.assertEqual(out.returncode, 2)
        self.assertIn("unknown command", out.stderr)
        port = harness.closed_port()
        out = self.ctl(d, "status", env={
            "HARVESTD_URL": "http://127.0.0.1:%d" % port})
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot reach harvestd", out.stderr)

    def test_long_poll(self):
        d = self.daemon()
        job = d.submit([self.server.url("/slow/1500")]).json()["id"]
        t0 = time.monotonic()
        r = d.get("/v1/jobs/%d?wait=1" % job)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertIn(r.json()["state"], ("queued", "running"))
        # Answers as soon as the job ends, not at the end of the wait.
        t0 = time.monotonic()
        r = d.get("/v1/jobs/%d?wait=30" % job)
        took = time.monotonic() - t0
        self.assertEqual(r.json()["state"], "done")
        self.assertLess(took, 5)
        # Other requests are served while a long poll waits.
        slow = d.submit([self.server.url("/slow/3000")]).json()["id"]
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "r", d.get("/v1/jobs/%d?wait=20" % slow)))
        t.start()
        time.sleep(0.2)  # let the long poll start (bounded)
        t0 = time.monotonic()
        self.assertEqual(d.get("/v1/status").status, 200)
        self.assertLess(time.monotonic() - t0, 1)
        t.join(30)
        self.assertEqual(result["r"].json()["state"], "done")

    def test_callback(self):
        self.server.posts = []
        d = self.daemon()
        hook = self.server.url("/hook")
        r = d.submit([self.server.url("/hello")], callback_url=hook)
        self.assertEqual(r.status, 201, r.body)
        job = r.json()["id"]
        deadline = time.monotonic() + 15 * harness.SLOW
        while not self.server.posts:
            self.assertLess(time.monotonic(), deadline, d.log())
            time.sleep(0.02)
        path, body = self.server.posts[0]
        self.assertEqual(path, "/hook")
        self.assertEqual(body["id"], job)
        self.assertEqual(body["state"], "done")
        self.assertEqual(body["counts"]["done"], 1)
        r = d.submit([self.server.url("/hello")], callback_url="ftp://x/")
        self.assertEqual(r.status, 400)

    def test_callback_guarded(self):
        d = self.daemon(guard=True)
        r = d.submit(["http://192.0.2.1/"],
                     callback_url=self.server.url("/hook"),
                     connect_timeout_ms=500, max_attempts=1)
        job = r.json()["id"]
        d.wait_job(job)
        d.wait_log("callback attempt 1 failed")
        self.assertIn("blocked_address", d.log())
        self.assertEqual(self.server.hits["/hook"], 0)

    def test_metrics(self):
        d = self.daemon()
        d.wait_job(d.submit([self.server.url("/hello"),
                             self.server.url("/status/404")],
                            max_attempts=1).json()["id"])
        r = d.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        text = r.body.decode()
        for line in ('harvestd_requests_total{kind="ok"} 1',
                     'harvestd_requests_total{kind="http_status"} 1',
                     'harvestd_responses_total{class="4xx"} 1',
                     'harvestd_request_duration_seconds_count 2',
                     'harvestd_queue_depth 0', 'harvestd_in_flight 0'):
            self.assertIn(line + "\n", text)
        self.assertRegex(text, r"harvestd_db_size_bytes \d+")
        promtool = shutil.which("promtool")
        if promtool is None:
            print("promtool not installed: format checked by the "
                  "assertions above only")
            return
        out = subprocess.run([promtool, "check", "metrics"], input=text,
                             capture_output=True, text=True, timeout=60)
        print("promtool check metrics: rc=%d %s" % (out.returncode,
                                                   out.stdout + out.stderr))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


if __name__ == "__main__":
    harness.main()
