"""What a week of real use broke (issue 11): each test failed on the
daemon before the fix."""
import os
import signal
import time

import harness


class ReloadGuardTest(harness.TestCase):
    def test_reload_guard_holds_for_reused_connections(self):
        """After SIGHUP turns block_private_addresses on, a loopback
        origin harvestd still has a keep-alive connection to is refused
        like a new one (it was fetched before: 200)."""
        path = os.path.join(self.workdir, "h.conf")
        with open(path, "w") as f:
            f.write("block_private_addresses = false\n")
        d = self.daemon("--config", path, guard=True)
        job = d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
        self.assertEqual(job["counts"]["done"], 1)
        with open(path, "w") as f:
            f.write("block_private_addresses = true\n")
        d.send(signal.SIGHUP)
        d.wait_log("reload: configuration applied")
        job = d.wait_job(d.submit([self.server.url("/hello?again")])
                         .json()["id"])
        (row,) = d.results(job["id"])
        self.assertEqual(row["error_kind"], "blocked_address", row)
        self.assertIn("127.0.0.1", row["error_message"])
        self.assertEqual(self.server.hits["/hello"], 1)
        # And back: the allowed network exempts it again.
        with open(path, "w") as f:
            f.write("block_private_addresses = true\n"
                    "allowed_networks = 127.0.0.0/8\n")
        d.send(signal.SIGHUP)
        d.wait_log("reload: configuration applied", timeout=10)
        job = d.wait_job(d.submit([self.server.url("/hello?third")])
                         .json()["id"])
        self.assertEqual(job["counts"]["done"], 1)
        self.assertEqual(self.server.hits["/hello"], 2)


class OneDaemonPerDatabaseTest(harness.TestCase):
    def test_second_daemon_refused(self):
        """A second harvestd on the same database used to start, requeue
        the first one's tasks and fetch them twice; now it refuses to
        start, exits non-zero and names the holder."""
        d1 = self.daemon()
        r = d1.submit([self.server.url("/slow/300?%d" % i)
                       for i in range(20)], concurrency=2)
        job = r.json()["id"]
        d2 = self.daemon(start=False, db=d1.db)
        d2.start(wait=False)
        self.assertNotEqual(d2.proc.wait(timeout=30), 0)
        self.assertIn("in use by another harvestd (pid %d)" % d1.proc.pid,
                      d2.log())
        # Readers still work beside the daemon holding the lock.
        self.assertIn("|", harness.sqlite_cli(
            d1.db, "SELECT id, state FROM jobs"))
        done = d1.wait_job(job)
        self.assertEqual(done["counts"]["done"], 20)
        # Each URL was fetched once: nobody else requeued them.
        self.assertEqual(sum(n for p, n in self.server.hits.items()
                             if p.startswith("/slow/")), 20)
        # Once the first one is gone, the database is free again.
        self.assertEqual(d1.stop(), 0)
        d3 = self.daemon(db=d1.db)
        self.assertEqual(d3.get("/v1/jobs/%d" % job).json()["state"], "done")


class DatabaseVanishesTest(harness.TestCase):
    def test_deleted_database_is_noticed(self):
        """Deleting harvestd.db* while a job ran went unnoticed (201s,
        /healthz 200, everything gone after a restart). Now writes are
        refused at once, and harvestd logs it and exits non-zero within
        a few seconds."""
        d = self.daemon()
        d.submit([self.server.url("/slow/200?%d" % i) for i in range(50)],
                 concurrency=1)
        for name in os.listdir(self.workdir):
            if name.startswith("harvestd.db"):
                os.unlink(os.path.join(self.workdir, name))
        r = d.submit([self.server.url("/hello")])
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["error"]["code"], "database_lost")
        status = d.proc.wait(timeout=10 * harness.SLOW)
        self.assertNotEqual(status, 0)
        self.assertIn("was deleted", d.log())

    def test_healthz_reports_a_replaced_database(self):
        d = self.daemon()
        os.rename(d.db, d.db + ".moved")
        # Within the next tick /healthz says so, then harvestd exits.
        codes = set()
        for _ in range(200):
            try:
                r = d.get("/healthz")
            except OSError:
                break
            codes.add((r.status, r.json().get("error", {}).get("code")))
            if d.proc.poll() is not None:
                break
            if r.status == 503:
                break
            time.sleep(0.05)
        self.assertIn((503, "database_lost"), codes)
        self.assertNotEqual(d.proc.wait(timeout=10 * harness.SLOW), 0)
        self.assertIn("replaced or moved away", d.log())


if __name__ == "__main__":
    harness.main()
