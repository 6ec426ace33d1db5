"""A 1,000-URL job ends with exactly 1,000 rows, each with the right
status and error kind, and no URL is fetched twice."""
import collections

import harness


class Job1000Test(harness.TestCase):
    def test_thousand_urls(self):
        d = self.daemon("--concurrency", "32")
        s = self.server
        refused = harness.closed_port()
        expect = {}  # url -> (status, error_kind)
        for i in range(1000):
            if i % 50 == 7:
                url, want = s.url("/status/404?i=%d" % i), (404, "http_status")
            elif i % 50 == 13:
                url, want = s.url("/status/503?i=%d" % i), (503, "http_status")
            elif i % 50 == 21:
                url = "http://127.0.0.1:%d/x%d" % (refused, i)
                want = (None, "connect")
            elif i % 50 == 33:
                url, want = s.url("/redirect/2?i=%d" % i), (200, None)
            else:
                url, want = s.url("/size/%d?i=%d" % (i % 4000, i)), (200, None)
            expect[url] = want
        self.assertEqual(len(expect), 1000)

        # One attempt each, so every URL reaches the server exactly once
        # (retries have their own tests).
        r = d.submit(list(expect), max_attempts=1)
        self.assertEqual(r.status, 201, r.body)
        job_id = r.json()["id"]
        self.assertEqual(r.json()["accepted"], 1000)
        job = d.wait_job(job_id, timeout=120)
        self.assertEqual(job["state"], "done")
        self.assertEqual(job["counts"], {"queued": 0, "running": 0,
                                         "done": 940, "failed": 60,
                                         "cancelled": 0})

        rows = harness.sql(d.db, "SELECT url, status, error_kind, task_id, "
                           "body_size FROM results WHERE job_id = ?", job_id)
        self.assertEqual(len(rows), 1000)
        self.assertEqual(len({r[3] for r in rows}), 1000)
        kinds = collections.Counter()
        for url, status, kind, _, size in rows:
            self.assertEqual((status, kind), expect[url], url)
            kinds[kind] += 1
            if url.startswith(s.url("/size/")):
                self.assertEqual(size, int(url.split("/size/")[1]
                                           .split("?")[0]))
        self.assertEqual(kinds, {None: 940, "http_status": 40,
                                 "connect": 20})
        # Each URL reached the server once: nothing fetched twice.
        self.assertEqual(sum(s.hits.values()), 980 + 20 * 2)
        self.assertEqual(harness.sql(d.db, "SELECT count(*) FROM tasks "
                                     "WHERE state IN ('queued', 'running')"),
                         [(0,)])
        self.assertEqual(harness.sqlite_cli(
            d.db, "SELECT count(*) FROM results_brief WHERE job_id = %d"
            % job_id), "1000\n")
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
