"""More than one machine (issue 12): three harvestd nodes sharing one
throwaway PostgreSQL server (tests/pgserver.sh), fetching from the local
test server under several host names (*.localhost resolves to loopback
in libcurl). Every task ends with exactly one row, whoever fetched it,
whatever failed.

Needs PostgreSQL (.ci/run installs it): without it these tests fail,
they do not skip."""
import signal
import threading
import time

import harness
import pg

NODES = 3


class ClusterTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg.Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def setUp(self):
        super().setUp()
        self.db = self.pg.database(self.id().rsplit(".", 1)[-1].lower())

    def nodes(self, *args, n=NODES, start=True):
        return [self.daemon("--set", "lease_s=3", *args, db=self.db,
                            start=start) for _ in range(n)]

    def wait_fetching(self, node):
        """Waits (bounded) until node has transfers in flight."""
        deadline = time.monotonic() + 60 * harness.SLOW
        while node.get("/v1/status").json()["in_flight"] == 0:
            self.assertLess(time.monotonic(), deadline, "never fetched")
            time.sleep(0.01)

    def value(self, sql):
        return self.pg.value(self.db, sql)

    def host(self, i):
        return "h%d.localhost:%d" % (i, self.server.port)

    def urls(self, n, hosts, path):
        return ["http://%s%s?%d" % (self.host(i % hosts), path, i)
                for i in range(n)]

    def submit(self, node, urls, **options):
        r = node.submit(urls, **options)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["accepted"], len(urls))
        return r.json()["id"]

    def wait_rows(self, job, n, timeout=60):
        """Waits (bounded) until the job has at least n result rows."""
        deadline = time.monotonic() + timeout * harness.SLOW
        got = 0
        while time.monotonic() < deadline:
            got = int(self.value("SELECT count(*) FROM results WHERE "
                                 "job_id = %d" % job))
            if got >= n:
                return got
            time.sleep(0.05)
        raise AssertionError("job %d: %d rows of %d in %ds" % (
            job, got, n, timeout))

    def assert_one_row_per_task(self, job, total):
        rows = self.pg.query(self.db, (
            "SELECT count(*), count(DISTINCT task_id) FROM results "
            "WHERE job_id = %d" % job))
        self.assertEqual(rows, [[str(total), str(total)]])
        missing = self.value("SELECT count(*) FROM tasks t WHERE job_id = "
                             "%d AND NOT EXISTS (SELECT 1 FROM results r "
                             "WHERE r.task_id = t.id)" % job)
        self.assertEqual(missing, "0")

    def fetched_by(self, job):
        return {r[0]: int(r[1]) for r in self.pg.query(self.db, (
            "SELECT node, count(*) FROM tasks WHERE job_id = %d "
            "GROUP BY node" % job))}

    def test_every_task_one_row_fetched_by_all_nodes(self):
        a, b, c = self.nodes("--set", "per_host_delay_ms=0",
                             "--set", "concurrency=4")
        urls = self.urls(3000, 30, "/slow/5")
        job = self.submit(a, urls)
        # A long poll on B answers when the job ends, whoever ended it.
        polled = {}

        def poll():
            t0 = time.monotonic()
            r = b.request("GET", "/v1/jobs/%d?wait=170" % job, timeout=180)
            polled.update(status=r.status, job=r.json(),
                          at=time.monotonic(), took=time.monotonic() - t0)
        th = threading.Thread(target=poll)
        th.start()
        done = c.wait_job(job, timeout=180)
        seen_done = time.monotonic()
        th.join(timeout=30)
        self.assertEqual(polled.get("status"), 200, polled)
        self.assertEqual(polled["job"]["state"], "done")
        # Within a second of the end (the NOTIFY), not at the 170 s cap.
        self.assertLess(polled["at"] - seen_done, 1.0 * harness.SLOW)
        self.assertLess(polled["took"], 170)
        self.assertEqual(done["state"], "done")
        self.assertEqual(done["total"], 3000)
        self.assertEqual(done["counts"]["done"], 3000)
        self.assert_one_row_per_task(job, 3000)
        self.assertEqual(self.value(
            "SELECT count(*) FROM results WHERE job_id = %d AND "
            "status = 200" % job), "3000")
        # Each node did part of it.
        by = self.fetched_by(job)
        self.assertEqual(len(by), NODES, by)
        self.assertEqual(sum(by.values()), 3000)
        # The API gives the same answers on every node.
        self.assertEqual(len(b.results(job)), 3000)
        for d in (a, b, c):
            self.assertEqual(d.get("/v1/jobs/%d" % job).json()["counts"],
                             done["counts"])
        status = b.get("/v1/status").json()
        self.assertEqual(len(status["nodes"]), NODES)

    def test_per_host_limits_hold_across_nodes(self):
        # Delay: one request at a time per host, 250 ms apart, whichever
        # node holds the host.
        delay = 0.25
        nodes = self.nodes("--set", "per_host_delay_ms=%d" % (delay * 1000),
                           "--set", "per_host_concurrency=1")
        job = self.submit(nodes[0], self.urls(24, 3, "/hello"))
        nodes[1].wait_job(job, timeout=60)
        self.assert_one_row_per_task(job, 24)
        for i in range(3):
            times = sorted(self.server.host_arrivals(self.host(i)))
            self.assertEqual(len(times), 8)
            gaps = [b - a for a, b in zip(times, times[1:])]
            # Arrivals are measured at the server: allow a little jitter.
            self.assertGreaterEqual(min(gaps), delay - 0.02, gaps)
        # In flight: per_host_concurrency, never more, over all nodes.
        db2 = self.pg.database("limits_in_flight")
        for d in nodes:
            d.stop()
        nodes = [self.daemon("--set", "lease_s=3", "--set",
                             "per_host_delay_ms=0", "--set",
                             "per_host_concurrency=2", db=db2)
                 for _ in range(NODES)]
        urls = self.urls(60, 3, "/slow/100")
        r = nodes[2].submit(urls)
        self.assertEqual(r.status, 201, r.body)
        nodes[0].wait_job(r.json()["id"], timeout=60)
        for i in range(3):
            self.assertEqual(self.server.host_max_in_flight[self.host(i)],
                             2)

    def test_killed_node_tasks_come_back(self):
        a, b, c = self.nodes("--set", "per_host_delay_ms=0",
                             "--set", "concurrency=4", start=False)
        # C starts alone and claims work; A and B join; C is killed
        # holding it.
        c.start()
        job = self.submit(c, self.urls(600, 12, "/slow/20"))
        self.wait_fetching(c)
        a.start()
        b.start()
        self.wait_rows(job, 50)
        c.kill()
        done = a.wait_job(job, timeout=120)
        self.assertEqual(done["state"], "done")
        self.assert_one_row_per_task(job, 600)
        self.assertEqual(self.value(
            "SELECT count(*) FROM results WHERE job_id = %d AND "
            "status = 200" % job), "600")

    def test_stalled_node_late_commit_is_refused(self):
        a, b, c = self.nodes("--set", "per_host_delay_ms=0", start=False)
        # C alone claims every task (one long request per host), then A
        # and B join and C stalls past its lease.
        c.start()
        job = self.submit(c, self.urls(6, 6, "/slow/1500"))
        self.wait_fetching(c)
        a.start()
        b.start()
        mine = [r[0] for r in self.pg.query(self.db, (
            "SELECT id FROM tasks WHERE job_id = %d AND state = 'running' "
            "AND node = '%s'" % (job, self.node_name(c))))]
        self.assertTrue(mine)
        c.send(signal.SIGSTOP)
        try:
            # Its lease runs out; another node fetches its tasks again and
            # writes their rows.
            a.wait_job(job, timeout=60)
        finally:
            c.send(signal.SIGCONT)
        self.assert_one_row_per_task(job, 6)
        # C wakes, its transfers end, its commit is fenced off.
        c.wait_log("not running under this lease; result dropped",
                   timeout=30)
        self.assert_one_row_per_task(job, 6)
        again = self.value("SELECT count(*) FROM tasks WHERE id IN (%s) "
                           "AND node <> '%s'" % (",".join(mine),
                                                 self.node_name(c)))
        self.assertEqual(again, str(len(mine)))

    def node_name(self, d):
        return d.get("/v1/status").json()["node"]

    def test_cancel_through_one_node_stops_the_others(self):
        a, b, c = self.nodes("--set", "per_host_delay_ms=0", start=False)
        c.start()
        job = self.submit(c, self.urls(60, 30, "/slow/20000"))
        self.wait_fetching(c)
        a.start()
        b.start()
        r = b.request("DELETE", "/v1/jobs/%d" % job)
        self.assertEqual(r.status, 200, r.body)
        t0 = time.monotonic()
        while c.get("/v1/status").json()["in_flight"] > 0:
            self.assertLess(time.monotonic() - t0, 1.0 * harness.SLOW,
                            "C still fetching a second after the cancel")
            time.sleep(0.01)
        done = c.wait_job(job, timeout=10)
        self.assertEqual(done["state"], "cancelled")
        self.assertEqual(self.value(
            "SELECT count(*) FROM results WHERE job_id = %d AND "
            "status = 200" % job), "0")

    def test_database_restart_mid_job(self):
        a, b, c = self.nodes("--set", "per_host_delay_ms=0",
                             "--set", "concurrency=4")
        job = self.submit(b, self.urls(900, 9, "/slow/20"))
        self.wait_rows(job, 100)
        self.pg.restart()
        done = a.wait_job(job, timeout=180)
        self.assertEqual(done["state"], "done")
        self.assert_one_row_per_task(job, 900)
        self.assertEqual(self.value(
            "SELECT count(*) FROM results WHERE job_id = %d AND "
            "status = 200" % job), "900")
        for d in (a, b, c):
            self.assertEqual(d.get("/healthz").status, 200)


if __name__ == "__main__":
    harness.main()
