"""Nothing is lost across a stop: SIGTERM puts work back in the queue, a
crash (SIGKILL) is recovered at the next start, and every task ends with
exactly one result."""
import random
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

    def test_kill9_loop_exactly_once(self):
        """SIGKILL at random moments during a 5,000-URL job, restart each
        time: every task ends with exactly one result."""
        rnd = random.Random(int(time.time()))
        total, kills = 5000, 6
        urls = [self.server.url("/size/%d?i=%d" % (i % 3000, i))
                for i in range(total)]
        d = self.daemon("--concurrency", "32")
        job_id = d.submit(urls).json()["id"]
        db, rows_at_kill = d.db, []
        for k in range(kills):
            # Kill somewhere between "just started" and "well under way".
            deadline = time.monotonic() + rnd.uniform(0.05, 0.6)
            while time.monotonic() < deadline:
                time.sleep(0.01)
            d.kill()
            rows_at_kill.append(harness.sql(
                db, "SELECT count(*) FROM results")[0][0])
            self.assertEqual(harness.sql(db, "PRAGMA integrity_check"),
                             [("ok",)])
            d = self.daemon("--concurrency", "32", db=db)
        job = d.wait_job(job_id, timeout=120)
        self.assertEqual(job["state"], "done")
        self.assertEqual(job["counts"]["done"], total)
        rows, distinct = harness.sql(
            db, "SELECT count(*), count(DISTINCT task_id) FROM results")[0]
        orphans = harness.sql(
            db, "SELECT count(*) FROM tasks t WHERE NOT EXISTS "
            "(SELECT 1 FROM results r WHERE r.task_id = t.id)")[0][0]
        print("kill -9 test: kills=%d tasks=%d rows=%d duplicates=%d "
              "missing=%d rows-at-each-kill=%s" % (
                  kills, total, rows, rows - distinct, orphans,
                  rows_at_kill))
        self.assertEqual((rows, distinct, orphans), (total, total, 0))
        self.assertEqual(harness.sql(db, "PRAGMA integrity_check"),
                         [("ok",)])
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
