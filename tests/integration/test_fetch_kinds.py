"""Each kind of outcome becomes the right result row."""
import harness


class FetchKindsTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.d = self.daemon("--concurrency", "16")

    def run_job(self, urls, **options):
        r = self.d.submit(urls, **options)
        self.assertEqual(r.status, 201, r.body)
        job = self.d.wait_job(r.json()["id"])
        rows = self.d.results(job["id"], body="true")
        self.assertEqual(len(rows), len(urls))
        return job, {row["url"]: row for row in rows}

    def test_success_statuses_and_connect(self):
        s = self.server
        refused = "http://127.0.0.1:%d/" % harness.closed_port()
        urls = [s.url("/size/100"), s.url("/status/404"),
                s.url("/status/500"), s.url("/status/204"),
                s.url("/redirect/3"), s.url("/gzip/5000"), refused]
        job, rows = self.run_job(urls)
        ok = rows[s.url("/size/100")]
        self.assertEqual(ok["status"], 200)
        self.assertIsNone(ok["error_kind"])
        self.assertEqual(ok["body"], "a" * 100)
        self.assertEqual(ok["body_size"], 100)
        self.assertEqual(ok["content_type"], "text/plain")
        self.assertGreater(ok["time_total_ms"], 0)
        self.assertEqual(ok["attempts"], 1)
        for code in (404, 500):
            row = rows[s.url("/status/%d" % code)]
            self.assertEqual(row["status"], code)
            self.assertEqual(row["error_kind"], "http_status")
            self.assertIn(str(code), row["error_message"])
        self.assertEqual(rows[s.url("/status/204")]["error_kind"], None)
        red = rows[s.url("/redirect/3")]
        self.assertEqual(red["status"], 200)
        self.assertEqual(red["redirect_count"], 3)
        self.assertEqual(red["final_url"], s.url("/redirect/0"))
        self.assertEqual(red["body"], "end")
        gz = rows[s.url("/gzip/5000")]
        self.assertEqual(gz["body"], "z" * 5000)
        self.assertEqual(gz["body_size"], 5000)
        conn = rows[refused]
        self.assertEqual(conn["error_kind"], "connect")
        self.assertIsNone(conn["status"])
        self.assertIsNone(conn["body"])
        self.assertEqual(job["counts"]["done"], 4)
        self.assertEqual(job["counts"]["failed"], 3)
        # The same rows, read by a user with the sqlite3 shell.
        out = harness.sqlite_cli(
            self.d.db, "SELECT error_kind, count(*) FROM results "
            "WHERE job_id = %d GROUP BY 1 ORDER BY 1" % job["id"])
        self.assertEqual(out, "|4\nconnect|1\nhttp_status|2\n")

    def test_timeout(self):
        url = self.server.url("/slow/3000")
        job, rows = self.run_job([url], timeout_ms=300)
        row = rows[url]
        self.assertEqual(row["error_kind"], "timeout")
        self.assertLess(row["time_total_ms"], 2500)
        self.assertGreaterEqual(row["time_total_ms"], 250)

    def test_too_many_redirects(self):
        url = self.server.url("/redirect/8")
        job, rows = self.run_job([url], max_redirects=3)
        self.assertEqual(rows[url]["error_kind"], "too_many_redirects")
        # 8 -> 7 -> 6 -> 5 are three redirects; the fourth is refused.
        self.assertEqual(self.server.hits["/redirect/5"], 1)
        self.assertEqual(self.server.hits["/redirect/4"], 0)

    def test_no_follow(self):
        url = self.server.url("/redirect/2")
        job, rows = self.run_job([url], follow_redirects=False)
        self.assertEqual(rows[url]["status"], 302)
        self.assertIsNone(rows[url]["error_kind"])

    def test_too_large(self):
        big = self.server.url("/size/200000")
        bomb = self.server.url("/gzip/3000000")
        job, rows = self.run_job([big, bomb], max_body_bytes=1000)
        for url in (big, bomb):
            row = rows[url]
            self.assertEqual(row["error_kind"], "too_large", row)
            self.assertTrue(row["truncated"])
            self.assertLessEqual(row["body_size"], 1000)
        # The decompressed body is counted, not the compressed one.
        self.assertEqual(rows[bomb]["body_size"], 1000)
        self.assertEqual(rows[bomb]["body"], "z" * 1000)

    def test_user_agent(self):
        url = self.server.url("/hello")
        job, rows = self.run_job([url], user_agent="probe/1.0")
        self.assertEqual(rows[url]["status"], 200)


if __name__ == "__main__":
    harness.main()
