"""SIGTERM drains: submissions get 503, transfers in flight finish within
shutdown_grace_ms, the rest go back to the queue uncounted, exit 0."""
import signal
import time

import harness


class ShutdownTest(harness.TestCase):
    def wait_server_busy(self, n):
        deadline = time.monotonic() + 10 * harness.SLOW
        while self.server.in_flight < n and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(self.server.in_flight, n)

    def test_in_flight_finish_within_grace(self):
        d = self.daemon("--concurrency", "3", "--set",
                        "shutdown_grace_ms=20000")
        urls = [self.server.url("/slow/1500?i=%d" % i) for i in range(9)]
        job_id = d.submit(urls).json()["id"]
        self.wait_server_busy(3)
        d.send(signal.SIGTERM)
        d.wait_log("draining: 3 transfers in flight")
        # While draining the API answers, but takes no new work.
        r = d.submit([self.server.url("/hello")])
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.headers["Retry-After"], "5")
        self.assertEqual(d.get("/healthz").status, 200)
        self.assertEqual(r.json()["error"]["code"], "shutting_down")
        self.assertEqual(d.proc.wait(timeout=20 * harness.SLOW), 0, d.log())
        self.assertIn("stopped cleanly", d.log())
        # The three transfers in flight finished and were committed; the
        # other six were never started and wait in the queue.
        rows = harness.sql(d.db, "SELECT state, count(*), max(attempts) "
                           "FROM tasks WHERE job_id = ? GROUP BY state "
                           "ORDER BY state", job_id)
        self.assertEqual(rows, [("done", 3, 1), ("queued", 6, 0)])
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM results"),
                         [(3,)])
        # Only the job submitted before the signal exists.
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM jobs"),
                         [(1,)])

    def test_grace_expires(self):
        d = self.daemon("--concurrency", "4", "--set",
                        "shutdown_grace_ms=300")
        urls = [self.server.url("/slow/8000?i=%d" % i) for i in range(4)]
        job_id = d.submit(urls).json()["id"]
        self.wait_server_busy(4)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("4 transfers aborted and queued again", d.log())
        self.assertEqual(harness.sql(
            d.db, "SELECT state, attempts, count(*) FROM tasks "
            "WHERE job_id = ? GROUP BY 1, 2", job_id), [("queued", 0, 4)])
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM results"),
                         [(0,)])

    def test_second_signal_stops_at_once(self):
        d = self.daemon("--concurrency", "2", "--set",
                        "shutdown_grace_ms=60000")
        urls = [self.server.url("/slow/8000?i=%d" % i) for i in range(2)]
        d.submit(urls)
        self.wait_server_busy(2)
        t0 = time.monotonic()
        d.send(signal.SIGTERM)
        d.wait_log("draining: 2 transfers in flight")
        self.assertEqual(d.stop(signal.SIGINT), 0, d.log())
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("SIGINT again: stopping now", d.log())
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM tasks "
                                     "WHERE state = 'queued'"), [(2,)])

    def test_reload_mid_job_neither_drops_nor_repeats(self):
        import os
        conf = os.path.join(self.workdir, "h.conf")
        with open(conf, "w") as f:
            f.write("concurrency = 2\n")
        d = self.daemon("--config", conf)
        urls = [self.server.url("/slow/40?i=%d" % i) for i in range(300)]
        job_id = d.submit(urls).json()["id"]
        self.wait_server_busy(2)
        self.assertEqual(self.server.max_in_flight, 2)
        with open(conf, "w") as f:
            f.write("concurrency = 12\ntimeout_ms = 20000\n")
        d.send(signal.SIGHUP)
        d.wait_log("reload: configuration applied (concurrency=12")
        job = d.wait_job(job_id, timeout=60)
        self.assertEqual(job["counts"]["done"], 300)
        # The new limit was used, and no URL was fetched twice.
        self.assertGreater(self.server.max_in_flight, 2)
        self.assertLessEqual(self.server.max_in_flight, 12)
        self.assertEqual(sum(self.server.hits.values()), 300)
        self.assertEqual(harness.sql(d.db, "SELECT count(*), count(DISTINCT "
                                     "task_id) FROM results"), [(300, 300)])

    def test_stop_with_a_big_queue(self):
        """SIGTERM while the loop is asking for more of a big queue."""
        d = self.daemon("--concurrency", "8", "--set",
                        "per_host_concurrency=8", "--set",
                        "shutdown_grace_ms=2000")
        urls = [self.server.url("/size/10?i=%d" % i) for i in range(20000)]
        job_id = d.submit(urls, max_attempts=1).json()["id"]
        deadline = time.monotonic() + 20 * harness.SLOW
        while d.get("/v1/jobs/%d" % job_id).json()["counts"]["done"] < 200:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=20), 0, d.log())
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM tasks "
                                     "WHERE state = 'running'"), [(0,)])


if __name__ == "__main__":
    harness.main()
