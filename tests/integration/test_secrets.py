"""Credentials in a job (URL userinfo, proxy password, Authorization,
Cookie and Proxy-Authorization headers, callback URL) are used to fetch
but never shown: not by the API, not in the results table, not in the
log."""
import base64
import json
import time

import harness

# Distinctive, so that no timestamp, id or temporary path matches them.
PASSWORD = "s3cret-Aq7K"
TOKEN = "tok-Zr8wY"
COOKIE = "a=b-cook-Ln4t"
PROXY_PASSWORD = "pw-Hy3xT"
PROXY_AUTH = "Basic pa-Xc2jM"
CALLBACK_PASSWORD = "cb-Wd9eR"
SECRETS = (PASSWORD, TOKEN, COOKIE, PROXY_PASSWORD, PROXY_AUTH,
           CALLBACK_PASSWORD)


def basic(user, password):
    return "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()


class SecretsTest(harness.TestCase):
    def assertNoSecret(self, text, where):
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        for s in SECRETS:
            self.assertNotIn(s, text, "%s shows %r" % (where, s))

    def headers_of(self, path):
        with self.server.lock:
            return [dict(h) for p, h in self.server.requests if p == path]

    def wait_request(self, path, timeout=20):
        deadline = time.monotonic() + timeout * harness.SLOW
        while not self.headers_of(path):
            if time.monotonic() > deadline:
                self.fail("no request for %s" % path)
            time.sleep(0.02)

    def test_credentials_used_but_never_shown(self):
        d = self.daemon("--log-level", "debug")
        port = self.server.port
        # The test server is also the job's (HTTP) proxy.
        proxied = d.submit(
            ["http://alice:%s@127.0.0.1:%d/hello" % (PASSWORD, port)],
            headers={"Authorization": "Bearer " + TOKEN, "Cookie": COOKIE,
                     "X-Other": "v"},
            proxy="http://bob:%s@127.0.0.1:%d" % (PROXY_PASSWORD, port),
            callback_url="http://carol:%s@127.0.0.1:%d/cb" % (
                CALLBACK_PASSWORD, port))
        self.assertEqual(proxied.status, 201, proxied.body)
        self.assertNoSecret(proxied.body, "the 201 answer")
        direct = d.submit(
            ["http://alice:%s@127.0.0.1:%d/size/5" % (PASSWORD, port),
             "http://dave@127.0.0.1:%d/size/6" % port],
            headers={"Proxy-Authorization": PROXY_AUTH})
        self.assertEqual(direct.status, 201, direct.body)
        # A proxy that refuses: the error message names no password.
        refused = d.submit(
            ["http://alice:%s@127.0.0.1:%d/size/7" % (PASSWORD, port)],
            proxy="socks5h://bob:%s@127.0.0.1:%d" % (
                PROXY_PASSWORD, harness.closed_port()), max_attempts=1)
        self.assertEqual(refused.status, 201, refused.body)
        ids = [r.json()["id"] for r in (proxied, direct, refused)]
        for i in ids:
            self.assertEqual(d.wait_job(i)["state"], "done")

        # The fetches used the real credentials.
        hello = self.headers_of("/hello")
        self.assertEqual(len(hello), 1, self.server.requests)
        self.assertEqual(hello[0]["Authorization"], "Bearer " + TOKEN)
        self.assertEqual(hello[0]["Cookie"], COOKIE)
        self.assertEqual(hello[0]["X-Other"], "v")
        self.assertEqual(hello[0]["Proxy-Authorization"],
                         basic("bob", PROXY_PASSWORD))
        self.assertEqual(len(self.server.proxied), 1)
        size5 = self.headers_of("/size/5")
        self.assertEqual(size5[0]["Authorization"], basic("alice", PASSWORD))
        self.assertEqual(self.headers_of("/size/6")[0]["Authorization"],
                         basic("dave", ""))
        self.assertEqual(self.headers_of("/size/7"), [])
        # The callback went to its URL with its credentials...
        self.wait_request("/cb")
        self.assertEqual(self.headers_of("/cb")[0]["Authorization"],
                         basic("carol", CALLBACK_PASSWORD))
        # ...and its document shows none.
        self.assertNoSecret(json.dumps(self.server.posts), "the callback")

        # The API shows who, never the password or the header values.
        job = d.get("/v1/jobs/%d" % ids[0])
        self.assertNoSecret(job.body, "GET /v1/jobs/{id}")
        opts = job.json()["options"]
        self.assertEqual(opts["headers"], {"Authorization": "***",
                                           "Cookie": "***", "X-Other": "v"})
        self.assertTrue(opts["proxy"].startswith(
            "http://bob:***@127.0.0.1:%d" % port), opts)
        self.assertTrue(opts["callback_url"].startswith(
            "http://carol:***@127.0.0.1:%d/cb" % port), opts)
        opts = d.get("/v1/jobs/%d" % ids[1]).json()["options"]
        self.assertEqual(opts["headers"], {"Proxy-Authorization": "***"})
        self.assertTrue(d.get("/v1/jobs/%d" % ids[2]).json()["options"][
            "proxy"].startswith("socks5h://bob:***@127.0.0.1:"))
        self.assertNoSecret(d.get("/v1/jobs").body, "GET /v1/jobs")
        urls = []
        for i in ids:
            r = d.get("/v1/jobs/%d/results?body=true&headers=true" % i)
            self.assertEqual(r.status, 200)
            self.assertNoSecret(r.body, "the results of job %d" % i)
            urls += [(x["url"], x["final_url"]) for x in r.lines()]
        self.assertIn(("http://alice:***@127.0.0.1:%d/hello" % port,
                       "http://alice:***@127.0.0.1:%d/hello" % port), urls)
        # A user without a password is no secret: it stays.
        self.assertIn(("http://dave@127.0.0.1:%d/size/6" % port,
                       "http://dave@127.0.0.1:%d/size/6" % port), urls)
        failed = d.results(ids[2])[0]
        self.assertEqual(failed["error_kind"], "connect", failed)

        # The results table, as its readers see it, holds none either.
        self.assertNoSecret(harness.sqlite_cli(
            d.db, "SELECT url, final_url FROM results"), "results.url")
        self.assertNoSecret(harness.sqlite_cli(
            d.db, "SELECT * FROM results"), "the results table")
        # The queue keeps what the fetch needs.
        self.assertIn(PASSWORD, harness.sqlite_cli(
            d.db, "SELECT url FROM tasks"))
        self.assertIn(PROXY_PASSWORD, harness.sqlite_cli(
            d.db, "SELECT options FROM jobs"))

        # The debug log names every URL it fetched, without the password.
        self.assertEqual(d.stop(), 0)
        log = d.log()
        self.assertIn("alice:***@127.0.0.1:%d/hello" % port, log)
        self.assertNoSecret(log, "the log")


if __name__ == "__main__":
    harness.main()
