"""The REST API: routes, submissions, errors, paging, status."""
import http.client
import json
import os
import re
import socket
import threading

import harness


class ApiTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.d = self.daemon("--set", "max_request_bytes=4096")

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r.body)
        self.assertTrue(r.headers["Content-Type"].startswith(
            "application/json"))
        err = r.json()["error"]
        self.assertEqual(err["code"], code)
        self.assertTrue(err["message"])
        return err

    def test_healthz(self):
        r = self.d.get("/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})

    def test_unknown_route_and_method(self):
        self.assertError(self.d.get("/v2/jobs"), 404, "not_found")
        self.assertError(self.d.get("/v1/jobs/abc"), 404, "not_found")
        self.assertError(self.d.get("/v1/jobs/1/nope"), 404, "not_found")
        r = self.d.request("PUT", "/v1/jobs", "{}", "application/json")
        self.assertError(r, 405, "method_not_allowed")
        self.assertIn("POST", r.headers["Allow"])
        self.assertError(self.d.request("POST", "/v1/status", "x"), 405,
                         "method_not_allowed")
        self.assertError(self.d.request("PATCH", "/v1/jobs/1"), 405,
                         "method_not_allowed")

    def test_unknown_job(self):
        self.assertError(self.d.get("/v1/jobs/12345"), 404, "not_found")
        self.assertError(self.d.request("DELETE", "/v1/jobs/12345"), 404,
                         "not_found")
        self.assertError(self.d.get("/v1/jobs/12345/results"), 404,
                         "not_found")

    def test_malformed_json(self):
        r = self.d.request("POST", "/v1/jobs", '{"urls": ["http://a/"',
                           "application/json")
        self.assertIn("line 1", self.assertError(r, 400,
                                                 "invalid_json")["message"])
        r = self.d.submit(["http://a.test/"], colour="red")
        self.assertIn('"colour"', self.assertError(
            r, 400, "invalid_request")["message"])
        r = self.d.submit(["http://a.test/"], timeout_ms="soon")
        self.assertIn("timeout_ms", self.assertError(
            r, 400, "invalid_request")["message"])
        r = self.d.request("POST", "/v1/jobs", "<x/>", "application/xml")
        self.assertError(r, 415, "unsupported_media_type")
        # Nothing was stored by any of these.
        self.assertEqual(self.d.get("/v1/jobs").json()["jobs"], [])

    def test_too_large(self):
        big = json.dumps({"urls": ["http://a.test/%05d" % i
                                   for i in range(1000)]})
        self.assertGreater(len(big), 4096)
        r = self.d.request("POST", "/v1/jobs", big, "application/json")
        self.assertError(r, 413, "too_large")
        # Without a Content-Length (chunked), the limit still holds.
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port,
                                          timeout=30)
        conn.request("POST", "/v1/jobs", body=iter([big.encode()]),
                     headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 413)
        self.assertEqual(json.loads(resp.read())["error"]["code"],
                         "too_large")
        conn.close()
        self.assertEqual(self.d.get("/healthz").status, 200)

    def test_too_large_body_sent_before_reading(self):
        # http.client sends the whole body, then reads: it must get the
        # 413, not a reset connection.
        for chunked in (False, True):
            body = b"x" * (8 << 20)
            conn = http.client.HTTPConnection("127.0.0.1", self.d.port,
                                              timeout=30)
            self.addCleanup(conn.close)
            conn.request("POST", "/v1/jobs",
                         body=iter([body]) if chunked else body,
                         headers={"Content-Type": "text/plain"},
                         encode_chunked=chunked)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 413)
            self.assertEqual(resp.getheader("Content-Type"),
                             "application/json")
            self.assertEqual(json.loads(resp.read())["error"]["code"],
                             "too_large")
            conn.close()
        self.assertEqual(self.d.get("/v1/jobs").json()["jobs"], [])

    def _raw(self, head):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
        self.addCleanup(s.close)
        s.sendall(head.encode())
        return s

    def _read_answer(self, s):
        data = b""
        while b"\r\n\r\n" not in data:
            got = s.recv(65536)
            if not got:
                break
            data += got
        return data

    def test_too_large_expect_continue_refused_at_once(self):
        # A client that waits for 100 Continue sends nothing more: the
        # 413 comes at once, with no 100 before it.
        s = self._raw("POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: text/plain\r\n"
                      "Content-Length: 8388608\r\n"
                      "Expect: 100-continue\r\n\r\n")
        self.assertTrue(self._read_answer(s).startswith(
            b"HTTP/1.1 413 "))

    def test_too_large_discard_is_bounded(self):
        # Declared beyond what would be dropped (64 MiB here): at once.
        s = self._raw("POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: %d\r\n\r\n" % (1 << 30))
        self.assertTrue(self._read_answer(s).startswith(
            b"HTTP/1.1 413 "))
        # A chunked body that never ends: answered after at most 64 MiB
        # (plus what the socket buffers hold).
        s = self._raw("POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n")
        sent = [0]

        def pump():
            chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
            try:
                while sent[0] < (512 << 20):
                    s.sendall(chunk)
                    sent[0] += 0x10000
            except OSError:
                pass
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        self.assertTrue(self._read_answer(s).startswith(
            b"HTTP/1.1 413 "))
        t.join(timeout=60)
        self.assertFalse(t.is_alive(), "harvestd kept reading")
        self.assertLess(sent[0], 96 << 20)
        self.assertEqual(self.d.get("/healthz").status, 200)

    def test_submit_json_with_rejects(self):
        urls = [self.server.url("/hello"), "ftp://files.test/x",
                "not a url", self.server.url("/size/10")]
        r = self.d.submit(urls, concurrency=2, timeout_ms=5000)
        self.assertEqual(r.status, 201, r.body)
        job = r.json()
        self.assertEqual(r.headers["Location"], "/v1/jobs/%d" % job["id"])
        self.assertEqual(job["accepted"], 2)
        self.assertEqual(job["total"], 2)
        self.assertEqual([x["index"] for x in job["rejected"]], [1, 2])
        self.assertIn("http or https", job["rejected"][0]["reason"])
        self.assertEqual(job["options"],
                         {"concurrency": 2, "timeout_ms": 5000})
        self.assertIn(job["state"], ("queued", "running", "done"))
        self.assertEqual(sum(job["counts"].values()), 2)
        done = self.d.wait_job(job["id"])
        self.assertEqual(done["state"], "done")
        self.assertEqual(done["counts"]["done"], 2)
        self.assertIsNotNone(done["finished_at"])

    def test_submit_text_plain(self):
        body = "# comment\n%s\n\n%s\r\n" % (self.server.url("/hello"),
                                           self.server.url("/size/3"))
        r = self.d.request("POST", "/v1/jobs", body, "text/plain")
        self.assertEqual(r.status, 201, r.body)
        job = self.d.wait_job(r.json()["id"])
        self.assertEqual(job["total"], 2)
        self.assertEqual(job["counts"]["done"], 2)

    def test_no_valid_urls(self):
        r = self.d.submit(["mailto:x@y", "nope"])
        err = self.assertError(r, 400, "no_valid_urls")
        self.assertTrue(err["message"])
        self.assertEqual(len(r.json()["rejected"]), 2)
        self.assertError(self.d.submit([]), 400, "no_urls")
        self.assertError(self.d.request("POST", "/v1/jobs", "\n\n",
                                        "text/plain"), 400, "no_urls")

    def test_rejected_url_echo_is_bounded(self):
        d = self.daemon("--set", "max_request_bytes=16777216",
                        db=os.path.join(self.workdir, "big.db"))
        long_url = "http://a.test/" + "\u00e9" * (5 << 19)  # 5 MiB
        self.assertGreater(len(long_url.encode()), 5 << 20)
        r = d.submit([long_url, "ftp://short.test/\u00e9",
                      self.server.url("/hello")])
        self.assertEqual(r.status, 201, r.body[:500])
        self.assertLess(len(r.body), 4096)
        first, second = r.json()["rejected"]
        self.assertIn("longer than", first["reason"])
        self.assertIs(first["truncated"], True)
        # 256 bytes at most, cut between two characters.
        echoed = first["url"].encode()
        self.assertLessEqual(len(echoed), 256)
        self.assertGreater(len(echoed), 250)
        self.assertTrue(long_url.startswith(first["url"]))
        self.assertEqual(second["url"], "ftp://short.test/\u00e9")
        self.assertNotIn("truncated", second)

    def test_wait_above_cap_is_capped_not_refused(self):
        # ?wait= beyond its cap (60 s), even beyond 64 bits, is a long
        # poll like any other: it answers when the job ends.
        job = self.d.submit([self.server.url("/slow/1500")]).json()["id"]
        answers = {}

        def poll(w):
            answers[w] = self.d.get("/v1/jobs/%d?wait=%s" % (job, w))
        waits = ("61", "3600", "99999999999999999999999999")
        threads = [threading.Thread(target=poll, args=(w,)) for w in waits]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        for w in waits:
            self.assertEqual(answers[w].status, 200, answers[w].body)
            self.assertEqual(answers[w].json()["state"], "done")
        self.assertError(self.d.get("/v1/jobs/%d?wait=-1" % job), 400,
                         "invalid_request")

    def test_retry_failed_urls(self):
        closed = "http://127.0.0.1:%d/x" % harness.closed_port()
        urls = [self.server.url("/hello"), self.server.url("/status/404"),
                closed, self.server.url("/size/5")]
        opts = {"concurrency": 2, "max_attempts": 1, "timeout_ms": 5000,
                "priority": 3}
        job = self.d.submit(urls, **opts).json()
        self.d.wait_job(job["id"])
        r = self.d.request("POST", "/v1/jobs/%d/retry" % job["id"])
        self.assertEqual(r.status, 201, r.body)
        new = r.json()
        self.assertEqual(r.headers["Location"], "/v1/jobs/%d" % new["id"])
        self.assertNotEqual(new["id"], job["id"])
        self.assertEqual(new["retry_of"], job["id"])
        self.assertEqual((new["accepted"], new["duplicates"], new["rejected"],
                          new["total"]), (2, 0, [], 2))
        # The same options, exactly; retry_of is in the answer only.
        self.assertEqual(new["options"], opts)
        self.assertNotIn("retry_of", self.d.get(
            "/v1/jobs/%d" % new["id"]).json())
        done = self.d.wait_job(new["id"])
        self.assertEqual(done["counts"]["failed"], 2)
        self.assertEqual(sorted(x["url"] for x in self.d.results(new["id"])),
                         sorted([urls[1], closed]))
        self.assertEqual(harness.sql(
            self.d.db, "SELECT url, host FROM tasks WHERE job_id = ? "
            "ORDER BY id", new["id"]), [(urls[1], "127.0.0.1"),
                                        (closed, "127.0.0.1")])
        # The retry's own failures can be retried in turn.
        r = self.d.request("POST", "/v1/jobs/%d/retry" % new["id"])
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["retry_of"], new["id"])

    def test_retry_errors(self):
        self.assertError(self.d.request("POST", "/v1/jobs/999/retry"), 404,
                         "not_found")
        r = self.d.get("/v1/jobs/1/retry")
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["Allow"], "POST")
        ok = self.d.submit([self.server.url("/hello")]).json()["id"]
        self.d.wait_job(ok)
        self.assertError(self.d.request("POST", "/v1/jobs/%d/retry" % ok),
                         400, "no_failed_urls")
        slow = self.d.submit([self.server.url("/slow/2000"),
                              "http://127.0.0.1:%d/" % harness.closed_port()],
                             max_attempts=1).json()["id"]
        self.assertError(self.d.request("POST", "/v1/jobs/%d/retry" % slow),
                         409, "job_active")
        self.d.wait_job(slow)
        self.assertEqual(self.d.request("POST", "/v1/jobs/%d/retry" %
                                        slow).status, 201)

    def test_results_paging_and_bodies(self):
        urls = [self.server.url("/size/%d" % n) for n in range(1, 26)]
        job = self.d.submit(urls).json()
        self.d.wait_job(job["id"])
        r = self.d.get("/v1/jobs/%d/results?limit=10" % job["id"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "application/x-ndjson")
        page = r.lines()
        self.assertEqual(len(page), 10)
        self.assertNotIn("body", page[0])
        after = int(r.headers["X-Next-After"])
        self.assertEqual(after, page[-1]["id"])
        rest = self.d.results(job["id"])
        self.assertEqual(len(rest), 25)
        self.assertEqual(len({x["task_id"] for x in rest}), 25)
        with_body = self.d.results(job["id"], body="true", headers="true")
        by_url = {x["url"]: x for x in with_body}
        row = by_url[self.server.url("/size/7")]
        self.assertEqual(row["body"], "aaaaaaa")
        self.assertEqual(row["body_size"], 7)
        self.assertEqual(row["status"], 200)
        self.assertIn("Content-Length: 7", row["headers"])
        self.assertError(self.d.get("/v1/jobs/%d/results?limit=x" %
                                    job["id"]), 400, "invalid_request")

    def test_international_domain_names(self):
        # libcurl resolves *.localhost to loopback itself (no DNS), so the
        # test server is reached under an international name.
        port = self.server.port
        utf8 = "http://b\u00fccher.localhost:%d/echo" % port
        encoded = "http://b%%C3%%BCcher.localhost:%d/echo" % port
        puny = "xn--bcher-kva.localhost"
        r = self.d.submit([utf8, encoded])
        self.assertEqual(r.status, 201, r.body)
        job = r.json()
        # Both spellings are one URL.
        self.assertEqual((job["accepted"], job["duplicates"]), (1, 1))
        self.assertEqual(job["rejected"], [])
        self.d.wait_job(job["id"])
        row, = self.d.results(job["id"], body="true")
        self.assertIsNone(row["error_kind"], row)
        self.assertEqual(row["status"], 200)
        # Shown as submitted; requested under the punycode host.
        self.assertEqual(row["url"], utf8)
        self.assertRegex(row["body"], r"(?m)^Host: %s:%d\s*$" % (
            re.escape(puny), port))
        self.assertEqual(row["final_url"], "http://%s:%d/echo" % (puny, port))
        # The %XX spelling alone works too, and shares the host.
        job2 = self.d.submit([encoded]).json()
        self.d.wait_job(job2["id"])
        row2, = self.d.results(job2["id"])
        self.assertEqual(row2["status"], 200, row2)
        self.assertEqual(row2["url"], utf8)
        self.assertEqual(harness.sql(self.d.db, "SELECT DISTINCT host FROM "
                                     "tasks"), [(puny,)])
        self.assertEqual(self.server.hits["/echo"], 2)

    def test_non_ascii_path_is_encoded(self):
        url = self.server.url("/echo?q=caf\u00e9")
        r = self.d.submit([url, self.server.url("/echo?q=caf%C3%A9"),
                           self.server.url("/echo?q=a\u00a0b c")])
        self.assertEqual(r.status, 201, r.body)
        job = r.json()
        self.assertEqual((job["accepted"], job["duplicates"]), (1, 1))
        # Spaces stay refused, whatever else is accepted.
        self.assertIn("space", job["rejected"][0]["reason"])
        self.d.wait_job(job["id"])
        row, = self.d.results(job["id"], body="true")
        self.assertEqual(row["status"], 200, row)
        self.assertEqual(row["url"], url)
        self.assertTrue(row["body"].startswith("GET /echo?q=caf%C3%A9\n"),
                        row["body"])

    def test_list_jobs_and_status(self):
        ids = [self.d.submit([self.server.url("/hello")]).json()["id"]
               for _ in range(3)]
        for i in ids:
            self.d.wait_job(i)
        jobs = self.d.get("/v1/jobs").json()["jobs"]
        self.assertEqual([j["id"] for j in jobs], ids)
        jobs = self.d.get("/v1/jobs?after=%d&limit=1" % ids[0]).json()["jobs"]
        self.assertEqual([j["id"] for j in jobs], [ids[1]])
        st = self.d.get("/v1/status").json()
        for key in ("uptime_s", "queue_depth", "in_flight", "window",
                    "totals", "rates", "db_size_bytes", "version"):
            self.assertIn(key, st)
        self.assertEqual(st["queue_depth"], 0)
        self.assertEqual(st["totals"]["results"], 3)
        self.assertEqual(st["totals"]["ok"], 3)
        self.assertGreater(st["db_size_bytes"], 0)


if __name__ == "__main__":
    harness.main()
