"""Nothing is lost across a stop: SIGTERM puts work back in the queue, a
crash (SIGKILL) is recovered at the next start, and every task ends with
exactly one result."""
import signal
import time

import harness


class RestartTest(harness.TestCase):
    def wait_server_busy(self, n):
        deadline = time.monotonic() + 10 * harness.SLOW
        while self.server.in_flight < n and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertGreaterEqual(self.server.in_flight, n)

    def check_exactly_once(self, db, job_id, total):
        rows = harness.sql(db, "SELECT count(*), count(DISTINCT task_id) "
                           "FROM results WHERE job_id = ?", job_id)
        self.assertEqual(rows, [(total, total)])
        self.assertEqual(harness.sql(db, "PRAGMA integrity_check"),
                         [("ok",)])

    def test_sigterm_requeues_and_restart_finishes(self):
        d = self.daemon("--concurrency", "4")
        urls = [self.server.url("/slow/1500?i=%d" % i) for i in range(12)]
        job_id = d.submit(urls).json()["id"]
        self.wait_server_busy(4)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        self.assertLess(time.monotonic() - t0, 5)
        # Aborted transfers went back to the queue without an attempt.
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM tasks "
                                     "WHERE state = 'running'"), [(0,)])
        self.assertEqual(harness.sql(d.db, "SELECT max(attempts) FROM tasks "
                                     "WHERE state = 'queued'"), [(0,)])
        d2 = self.daemon("--concurrency", "12", db=d.db)
        job = d2.wait_job(job_id, timeout=60)
        self.assertEqual(job["counts"]["done"], 12)
        self.check_exactly_once(d.db, job_id, 12)
        self.assertEqual(d2.stop(), 0)

    def test_crash_is_recovered(self):
        d = self.daemon("--concurrency", "4")
        urls = [self.server.url("/slow/800?i=%d" % i) for i in range(8)] + \
            [self.server.url("/size/%d" % i) for i in range(1, 200)]
        total = len(urls)
        job_id = d.submit(urls, concurrency=4).json()["id"]
        self.wait_server_busy(4)
        d.kill()  # SIGKILL: no chance to clean up
        running = harness.sql(d.db, "SELECT count(*) FROM tasks "
                              "WHERE state = 'running'")[0][0]
        self.assertGreater(running, 0)
        d2 = self.daemon("--concurrency", "16", db=d.db)
        self.assertIn("queued again", d2.log())
        job = d2.wait_job(job_id, timeout=60)
        self.assertEqual(job["state"], "done")
        self.assertEqual(job["counts"]["done"], total)
        self.check_exactly_once(d.db, job_id, total)
        self.assertEqual(d2.stop(), 0)


if __name__ == "__main__":
    harness.main()
