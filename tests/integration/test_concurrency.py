"""The global semaphore and per-job limits hold, and a tightly limited job
does not hold up the others."""
import harness


class ConcurrencyTest(harness.TestCase):
    def test_global_limit(self):
        d = self.daemon("--concurrency", "5")
        urls = [self.server.url("/slow/100?i=%d" % i) for i in range(60)]
        job = d.wait_job(d.submit(urls).json()["id"], timeout=60)
        self.assertEqual(job["counts"]["done"], 60)
        # The server saw the limit reached and never passed.
        self.assertEqual(self.server.max_in_flight, 5)

    def test_job_limit(self):
        d = self.daemon("--concurrency", "20")
        urls = [self.server.url("/slow/50?i=%d" % i) for i in range(40)]
        job = d.wait_job(d.submit(urls, concurrency=3).json()["id"],
                         timeout=60)
        self.assertEqual(job["counts"]["done"], 40)
        self.assertEqual(self.server.max_in_flight, 3)

    def test_limited_job_does_not_block_others(self):
        d = self.daemon("--concurrency", "8", "--set", "window_size=16")
        slow = [self.server.url("/slow/300?i=%d" % i) for i in range(200)]
        a = d.submit(slow, concurrency=1).json()["id"]
        fast = [self.server.url("/size/10?i=%d" % i) for i in range(50)]
        b = d.submit(fast).json()["id"]
        # b finishes in well under a's 60 s, while a is still going.
        job_b = d.wait_job(b, timeout=20)
        self.assertEqual(job_b["counts"]["done"], 50)
        job_a = d.get("/v1/jobs/%d" % a).json()
        self.assertEqual(job_a["state"], "running")
        # Claimed tasks stay bounded by the window, not by the queue.
        self.assertLessEqual(job_a["counts"]["running"], 16)
        self.assertGreater(job_a["counts"]["queued"], 100)
        # Stop now; a's tasks go back to the queue untouched.
        self.assertEqual(d.stop(), 0)
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM tasks "
                                     "WHERE state = 'running'"), [(0,)])


if __name__ == "__main__":
    harness.main()
