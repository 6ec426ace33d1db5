"""A slow or failing store loses nothing: an open reader, a locked
database, a full disk. Also purge and retention."""
import os
import sqlite3
import subprocess
import time

import harness


class StoreFaultsTest(harness.TestCase):
    def test_purge(self):
        d = self.daemon()
        done = d.submit([self.server.url("/hello")]).json()["id"]
        d.wait_job(done)
        busy = d.submit([self.server.url("/slow/5000")]).json()["id"]
        r = d.request("DELETE", "/v1/jobs/%d?purge=true" % busy)
        self.assertEqual(r.status, 409, r.body)
        self.assertEqual(r.json()["error"]["code"], "job_active")
        r = d.request("DELETE", "/v1/jobs/%d?purge=true" % done)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"id": done, "purged": True})
        self.assertEqual(d.get("/v1/jobs/%d" % done).status, 404)
        self.assertEqual(d.request("DELETE", "/v1/jobs/%d?purge=true" %
                                   done).status, 404)
        for table in ("jobs", "tasks", "results"):
            col = "id" if table == "jobs" else "job_id"
            self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM %s "
                                         "WHERE %s = ?" % (table, col),
                                         done), [(0,)])

    def test_retention(self):
        d = self.daemon()
        old = d.submit([self.server.url("/hello")]).json()["id"]
        new = d.submit([self.server.url("/hello")]).json()["id"]
        d.wait_job(old)
        d.wait_job(new)
        self.assertEqual(d.stop(), 0)
        con = sqlite3.connect(d.db)
        con.execute("UPDATE jobs SET finished_at = "
                    "'2020-01-01T00:00:00.000Z' WHERE id = ?", (old,))
        con.commit()
        con.close()
        d2 = self.daemon("--set", "retention_days=30", db=d.db)
        d2.wait_log("retention: purged 1 jobs")
        self.assertEqual(d2.get("/v1/jobs/%d" % old).status, 404)
        self.assertEqual(d2.get("/v1/jobs/%d" % new).status, 200)
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM results"),
                         [(1,)])

    def test_open_reader_does_not_stop_writes(self):
        limit = 1 << 20
        d = self.daemon("--set", "wal_limit_bytes=%d" % limit)
        reader = sqlite3.connect(d.db, isolation_level=None, timeout=10)
        self.addCleanup(reader.close)
        reader.execute("BEGIN")
        self.assertEqual(reader.execute(
            "SELECT count(*) FROM results").fetchone(), (0,))
        urls = [self.server.url("/size/20000?i=%d" % i) for i in range(150)]
        job = d.wait_job(d.submit(urls).json()["id"])
        self.assertEqual(job["counts"]["done"], 150)
        # The reader still sees its snapshot; the writer went on.
        self.assertEqual(reader.execute(
            "SELECT count(*) FROM results").fetchone(), (0,))
        wal = d.db + "-wal"
        self.assertGreater(os.path.getsize(wal), limit)
        # The WAL is checked after commits (at most once a second): keep
        # writing until the warning shows.
        deadline = time.monotonic() + 20 * harness.SLOW
        while "a reader keeps a transaction open" not in d.log():
            self.assertLess(time.monotonic(), deadline, d.log())
            d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
        reader.execute("COMMIT")
        # Once the reader is gone, checkpoints catch up and the WAL is cut
        # back to wal_limit_bytes.
        deadline = time.monotonic() + 20 * harness.SLOW
        while os.path.getsize(wal) > limit:
            self.assertLess(time.monotonic(), deadline,
                            "WAL stayed at %d" % os.path.getsize(wal))
            d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
            time.sleep(0.2)
        self.assertEqual(harness.sql(d.db, "PRAGMA integrity_check"),
                         [("ok",)])

    def test_locked_database(self):
        # A window smaller than the job, so the backpressure shows.
        d = self.daemon("--concurrency", "8", "--set", "busy_timeout_ms=100",
                        "--set", "window_size=64")
        # Slow enough (300 x 100 ms at 8 at once: about 4 s) that the lock
        # below lands well before the job could finish, even under ASan.
        urls = [self.server.url("/slow/100?i=%d" % i) for i in range(300)]
        job_id = d.submit(urls).json()["id"]
        deadline = time.monotonic() + 10 * harness.SLOW
        while sum(self.server.hits.values()) < 20:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        locker = sqlite3.connect(d.db, isolation_level=None, timeout=10)
        self.addCleanup(locker.close)
        locker.execute("BEGIN IMMEDIATE")  # holds the write lock
        d.wait_log("commit failed, will retry")
        # Reads still work; a submission cannot be made durable: 503.
        self.assertEqual(d.get("/v1/status").status, 200)
        r = d.submit([self.server.url("/hello")])
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["error"]["code"], "store_unavailable")
        # Backpressure: with the store down, fetching stops after the
        # window and in-flight transfers are spent.
        # (Observed over time by nature: the count must settle and stay.)
        hits, deadline = -1, time.monotonic() + 10 * harness.SLOW
        while hits != sum(self.server.hits.values()):
            self.assertLess(time.monotonic(), deadline)
            hits = sum(self.server.hits.values())
            time.sleep(0.5)
        time.sleep(0.5)
        self.assertEqual(sum(self.server.hits.values()), hits)
        self.assertLess(hits, 300)
        locker.execute("ROLLBACK")
        job = d.wait_job(job_id, timeout=60)
        self.assertEqual(job["counts"]["done"], 300)
        self.assertEqual(harness.sql(d.db, "SELECT count(*), count(DISTINCT "
                                     "task_id) FROM results"), [(300, 300)])
        self.assertEqual(sum(self.server.hits.values()), 300)

    def test_disk_full(self):
        mnt = os.path.join(self.workdir, "small")
        os.mkdir(mnt)
        if os.geteuid() != 0 or subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                capture_output=True).returncode != 0:
            self.skipTest("needs root to mount a small tmpfs")
        self.addCleanup(subprocess.run, ["umount", "-l", mnt],
                        capture_output=True)
        d = self.daemon("--concurrency", "8", db=os.path.join(mnt, "h.db"))
        urls = [self.server.url("/size/60000?i=%d" % i) for i in range(100)]
        job_id = d.submit(urls).json()["id"]
        d.wait_log("commit failed, will retry", timeout=30)
        self.assertIn("full", d.log())
        self.assertEqual(d.get("/healthz").status, 200)
        # The operator makes room; everything held is written.
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
        job = d.wait_job(job_id, timeout=60)
        self.assertEqual(job["counts"]["done"], 100)
        self.assertEqual(harness.sql(d.db, "SELECT count(*), count(DISTINCT "
                                     "task_id), sum(body_size) FROM results"),
                         [(100, 100, 100 * 60000)])
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
