"""Fetching like a good citizen: per-host caps and delays, no head-of-line
blocking, priorities, retries with backoff and Retry-After, robots.txt,
autothrottle, dedupe and per-job request options."""
import time

import harness
from testserver import TestServer


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


class PolitenessTest(harness.TestCase):
    def other_server(self):
        """A second host: the test server on 127.0.0.2."""
        srv = TestServer("127.0.0.2").start()
        self.addCleanup(srv.stop)
        return srv

    def run_job(self, d, urls, timeout=60, **options):
        r = d.submit(urls, **options)
        self.assertEqual(r.status, 201, r.body)
        job = d.wait_job(r.json()["id"], timeout=timeout)
        return job, {row["url"]: row for row in d.results(job["id"])}

    def test_per_host_cap(self):
        d = self.daemon("--concurrency", "20")
        urls = [self.server.url("/slow/100?i=%d" % i) for i in range(30)]
        job, _ = self.run_job(d, urls, per_host_concurrency=3)
        self.assertEqual(job["counts"]["done"], 30)
        print("per-host cap 3: server saw at most %d at once" %
              self.server.max_in_flight)
        self.assertEqual(self.server.max_in_flight, 3)

    def test_per_host_delay(self):
        d = self.daemon("--concurrency", "20")
        urls = [self.server.url("/hello?i=%d" % i) for i in range(6)]
        self.run_job(d, urls, per_host_delay_ms=250)
        g = gaps(self.server.arrivals("/hello"))
        print("per-host delay 250 ms: gaps %s" % ["%.3f" % x for x in g])
        self.assertEqual(len(g), 5)
        self.assertGreaterEqual(min(g), 0.24)

    def test_small_host_not_blocked_by_big_one(self):
        b = self.other_server()
        d = self.daemon("--concurrency", "16")
        big = [self.server.url("/slow/50?i=%d" % i) for i in range(3000)]
        small = [b.url("/hello?i=%d" % i) for i in range(10)]
        job_id = d.submit(big + small, per_host_concurrency=2).json()["id"]
        t0 = time.monotonic()
        deadline = t0 + 20 * harness.SLOW
        while b.hits["/hello"] < 10:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        took = time.monotonic() - t0
        big_done = self.server.hits["/slow/50"]
        print("two hosts: the 10 small-host URLs done in %.2f s, while "
              "%d of 3000 big-host URLs were fetched" % (took, big_done))
        self.assertLess(big_done, 1000)
        d.request("DELETE", "/v1/jobs/%d" % job_id)

    def test_priority(self):
        d = self.daemon("--concurrency", "1")
        low = d.submit([self.server.url("/slow/20?l=%d" % i)
                        for i in range(150)]).json()["id"]
        high = d.submit([self.server.url("/slow/20?h=%d" % i)
                         for i in range(5)], priority=10).json()["id"]
        h = d.wait_job(high)
        lo = d.get("/v1/jobs/%d" % low).json()
        self.assertEqual(h["counts"]["done"], 5)
        print("priority: high job done while the low one had %d of 150 "
              "done" % lo["counts"]["done"])
        # The low job's tasks already held in memory (the window, 64 at
        # concurrency 1) may go first; the rest wait for the high job.
        self.assertEqual(lo["state"], "running")
        self.assertLess(lo["counts"]["done"], 110)
        d.wait_job(low)

    def test_retries_grow_and_stop(self):
        d = self.daemon("--set", "retry_backoff_ms=200")
        flaky = self.server.url("/flaky/2?k=a")
        dead = self.server.url("/status/503")
        gone = self.server.url("/status/404")
        job, rows = self.run_job(d, [flaky, dead, gone], max_attempts=4)
        self.assertEqual(rows[flaky]["status"], 200)
        self.assertEqual(rows[flaky]["attempts"], 3)
        self.assertEqual(rows[dead]["error_kind"], "http_status")
        self.assertEqual(rows[dead]["attempts"], 4)
        self.assertEqual(self.server.hits["/status/503"], 4)
        # Permanent failures are not retried.
        self.assertEqual(rows[gone]["attempts"], 1)
        self.assertEqual(self.server.hits["/status/404"], 1)
        g = gaps(self.server.arrivals("/status/503"))
        print("retries of a 503 (backoff 200 ms): gaps %s" %
              ["%.3f" % x for x in g])
        self.assertEqual(len(g), 3)
        self.assertGreaterEqual(g[0], 0.09)
        self.assertGreaterEqual(g[1], g[0] * 0.99)
        self.assertGreaterEqual(g[2], g[1] * 0.99)
        self.assertGreater(g[2], g[0])

    def test_retry_after(self):
        d = self.daemon("--set", "retry_backoff_ms=50")
        url = self.server.url("/retry-after/2?k=b")
        job, rows = self.run_job(d, [url])
        self.assertEqual(rows[url]["status"], 200)
        self.assertEqual(rows[url]["attempts"], 2)
        g = gaps(self.server.arrivals("/retry-after/"))
        print("Retry-After: 2 -> gap %.3f s" % g[0])
        self.assertGreaterEqual(g[0], 1.95)

    def test_robots(self):
        self.server.robots = ("User-agent: *\nDisallow: /private\n"
                              "Crawl-delay: 0.3\n")
        d = self.daemon()
        urls = [self.server.url(p) for p in
                ("/private/a", "/private/b?x=1", "/hello?1", "/hello?2",
                 "/hello?3")]
        job, rows = self.run_job(d, urls, obey_robots=True)
        for u in urls[:2]:
            self.assertEqual(rows[u]["error_kind"], "robots_denied")
            self.assertEqual(rows[u]["attempts"], 1)
        for u in urls[2:]:
            self.assertEqual(rows[u]["status"], 200)
        self.assertEqual(self.server.hits["/private/a"], 0)
        self.assertEqual(self.server.hits["/private/b"], 0)
        self.assertEqual(self.server.hits["/robots.txt"], 1)
        g = gaps(self.server.arrivals("/hello"))
        print("robots.txt Crawl-delay 0.3: gaps %s" % ["%.3f" % x for x in g])
        self.assertGreaterEqual(min(g), 0.29)
        # A second job reuses the cached robots.txt.
        self.run_job(d, [self.server.url("/private/c")], obey_robots=True)
        self.assertEqual(self.server.hits["/robots.txt"], 1)

    def test_robots_unavailable_and_unreachable(self):
        self.server.robots_status = 404
        b = self.other_server()
        b.robots_status = 503
        d = self.daemon()
        ok, down = self.server.url("/hello"), b.url("/hello")
        job, rows = self.run_job(d, [ok, down], obey_robots=True)
        self.assertEqual(rows[ok]["status"], 200)
        self.assertEqual(rows[down]["error_kind"], "robots_denied")
        self.assertEqual(b.hits["/hello"], 0)

    def test_autothrottle(self):
        d = self.daemon("--set", "autothrottle_start_delay_ms=50")
        urls = [self.server.url("/slow/300?i=%d" % i) for i in range(10)]
        job, rows = self.run_job(d, urls, autothrottle=True,
                                 per_host_concurrency=4)
        self.assertEqual(job["counts"]["done"], 10)
        g = gaps(self.server.arrivals("/slow/300"))
        print("autothrottle, latency 300 ms: gaps %s" %
              ["%.3f" % x for x in g])
        # The delay climbs from 50 ms toward the 300 ms latency.
        self.assertLess(g[0], 0.15)
        self.assertGreater(g[-1], 0.2)

    def test_dedupe_and_request_options(self):
        d = self.daemon()
        echo = self.server.url("/echo")
        r = d.submit([echo, echo + "#frag", echo.replace("http:", "HTTP:"),
                      self.server.url("/hello")],
                     headers={"X-Token": "s3cret"}, user_agent="probe/2")
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["accepted"], 2)
        self.assertEqual(r.json()["duplicates"], 2)
        job = d.wait_job(r.json()["id"])
        rows = {x["url"]: x for x in d.results(job["id"], body="true")}
        body = rows[echo]["body"]
        self.assertTrue(body.startswith("GET /echo"))
        self.assertIn("X-Token: s3cret", body)
        self.assertIn("User-Agent: probe/2", body)
        self.assertEqual(self.server.hits["/echo"], 1)
        job, rows = self.run_job(d, [self.server.url("/size/50")],
                                 method="HEAD")
        row = list(rows.values())[0]
        self.assertEqual(row["status"], 200)
        self.assertEqual(row["body_size"], 0)
        self.assertEqual(row["content_length"], 50)


if __name__ == "__main__":
    harness.main()
