"""Scrape, not just fetch (issue 14): extraction with XPath into the
fields column, link following by scope and limits, sitemaps (index, gzip,
robots.txt's Sitemap: lines), over the local site in crawlsite.py."""
import crawlsite
import harness


class CrawlTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.d = self.daemon("--set", "per_host_delay_ms=0")
        self.www = "http://www.site.localhost:%d" % self.server.port
        self.blog = "http://blog.site.localhost:%d" % self.server.port
        self.other = "http://other.localhost:%d" % self.server.port

    def crawl(self, urls, **fields):
        r = self.d.submit(urls, **fields)
        self.assertEqual(r.status, 201, r.body)
        job = self.d.wait_job(r.json()["id"], timeout=60)
        rows = self.d.results(job["id"])
        return job, rows

    def fetched(self, rows):
        return sorted(r["url"] for r in rows)

    def test_host_scope_and_depth(self):
        job, rows = self.crawl([self.www + "/"],
                               follow={"scope": "host", "max_depth": 2})
        w = self.www
        self.assertEqual(self.fetched(rows), sorted([
            w + "/", w + "/a", w + "/b", w + "/c", w + "/redir",
            w + "/cal/2026/1",
            w + "/a/deep", w + "/base/rel", w + "/cal/2026/2"]))
        # One row per task, the job's total grew with the crawl.
        self.assertEqual(job["total"], 9)
        self.assertEqual(job["counts"]["done"], 9)
        # depth and parent in the tasks table.
        depth = dict(harness.sql(self.d.db, "SELECT url, depth FROM tasks "
                                 "WHERE job_id = ?", job["id"]))
        self.assertEqual(depth[w + "/"], 0)
        self.assertEqual(depth[w + "/a"], 1)
        self.assertEqual(depth[w + "/a/deep"], 2)
        parent = harness.sql(self.d.db, "SELECT p.url FROM tasks t JOIN "
                             "tasks p ON p.id = t.parent_id WHERE t.url = ?",
                             w + "/base/rel")
        self.assertEqual(parent, [(w + "/b",)])
        # The redirect into another host is fetched (it is a www task)
        # but its page's links are not followed out of scope.
        self.assertNotIn(self.other + "/x", self.fetched(rows))

    def test_domain_scope(self):
        job, rows = self.crawl([self.www + "/"],
                               follow={"scope": "domain", "max_depth": 2})
        w, b = self.www, self.blog
        # www to depth 2 as with host scope, and the blog (same
        # registrable domain) from depth 1: post2 is an <area href>.
        self.assertEqual(self.fetched(rows), sorted([
            w + "/", w + "/a", w + "/b", w + "/c", w + "/redir",
            w + "/cal/2026/1", w + "/a/deep", w + "/base/rel",
            w + "/cal/2026/2", b + "/", b + "/post1", b + "/post2"]))

    def test_any_scope(self):
        job, rows = self.crawl([self.www + "/"],
                               follow={"scope": "any", "max_depth": 2})
        w, b, o = self.www, self.blog, self.other
        # Also other.localhost: its home page, and /x found on the page
        # that www's /redir landed on.
        self.assertEqual(self.fetched(rows), sorted([
            w + "/", w + "/a", w + "/b", w + "/c", w + "/redir",
            w + "/cal/2026/1", w + "/a/deep", w + "/base/rel",
            w + "/cal/2026/2", b + "/", b + "/post1", b + "/post2",
            o + "/", o + "/x"]))

    def test_crawl_with_extract(self):
        # The whole blog: its home, the archive, every post, each page's
        # fields; links back to pages already queued add nothing.
        job, rows = self.crawl([self.blog + "/"], follow={"scope": "host"},
                               extract={"title": "//title", "h1": "//h1",
                                        "links": "count(//a | //area)"})
        b = self.blog
        n = crawlsite.BLOG_POSTS
        want = [b + "/", b + "/archive"] + [b + "/post%d" % i
                                            for i in range(1, n + 1)]
        self.assertEqual(self.fetched(rows), sorted(want))
        self.assertEqual(job["total"], len(want))
        self.assertEqual(job["state"], "done")
        by = {r["url"]: r["fields"] for r in rows}
        self.assertEqual(by[b + "/"], {"title": "Blog", "h1": "Blog",
                                       "links": 2})
        self.assertEqual(by[b + "/archive"]["links"], n)
        for i in range(1, n + 1):
            self.assertEqual(by[b + "/post%d" % i],
                             {"title": "Post %d" % i, "h1": "Post %d" % i,
                              "links": 2})
        out = harness.sqlite_cli(self.d.db, "SELECT count(*) FROM results "
                                 "WHERE job_id = %d AND json_extract(fields,"
                                 " '$.title') LIKE 'Post %%'" % job["id"])
        self.assertEqual(out.strip(), str(n))

    def test_trap_stops_at_max_pages_and_depth(self):
        job, rows = self.crawl([self.www + "/cal/2026/1"],
                               follow={"max_depth": 100, "max_pages": 20})
        self.assertEqual(len(rows), 20)
        self.assertEqual(job["total"], 20)
        job, rows = self.crawl([self.www + "/cal/2030/1"],
                               follow={"max_depth": 5})
        self.assertEqual(len(rows), 6)      # depths 0 to 5

    def test_nofollow_allow_deny(self):
        job, rows = self.crawl([self.www + "/"], follow={
            "max_depth": 1, "nofollow": True, "deny": ["/cal/"]})
        got = self.fetched(rows)
        self.assertIn(self.www + "/nofollow", got)
        self.assertFalse([u for u in got if "/cal/" in u])
        job, rows = self.crawl([self.www + "/"], follow={
            "max_depth": 1, "allow": [r"/[ab]$"]})
        self.assertEqual(self.fetched(rows), sorted([
            self.www + "/", self.www + "/a", self.www + "/b"]))

    def test_extract_fields(self):
        job, rows = self.crawl([self.www + "/", self.www + "/a"], extract={
            "title": "//title",
            "links": {"xpath": "//a/@href", "all": True},
            "missing": "//table"})
        by = {r["url"]: r for r in rows}
        home = by[self.www + "/"]["fields"]
        self.assertEqual(home["title"], "Home")
        self.assertIn("/a", home["links"])
        self.assertIn("/nofollow", home["links"])
        self.assertIsNone(home["missing"])
        self.assertEqual(by[self.www + "/a"]["fields"]["links"],
                         ["/a/deep"])
        # One SQL query away.
        out = harness.sqlite_cli(self.d.db, "SELECT json_extract(fields, "
                                 "'$.title') FROM results WHERE job_id = %d"
                                 " ORDER BY id" % job["id"])
        self.assertEqual(sorted(out.split()), ["A", "Home"])

    def test_harvestctl_fields(self):
        import os
        import subprocess
        job, rows = self.crawl([self.www + "/", self.www + "/a"], extract={
            "title": "//title", "n": "count(//a)"})
        out = subprocess.run([harness.HARVESTCTL, "results", str(job["id"]),
                              "--fields", "--url",
                              "http://127.0.0.1:%d" % self.d.port],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertTrue(lines[0].endswith(",title,n"), lines[0])
        body = sorted(lines[1:])
        self.assertEqual(len(body), 2)
        # Home has ten links plus the rel=nofollow one.
        self.assertTrue(any(l.endswith(",Home,11") for l in body), body)
        self.assertTrue(any(l.endswith(",A,1") for l in body), body)

    def test_bad_fields_are_refused(self):
        r = self.d.submit([self.www + "/"], extract={"title": "//["})
        self.assertEqual(r.status, 400)
        self.assertIn("extract.title", r.json()["error"]["message"])
        r = self.d.submit([self.www + "/"], follow={"scope": "planet"})
        self.assertEqual(r.status, 400)
        self.assertIn("follow.scope", r.json()["error"]["message"])
        r = self.d.submit([self.www + "/"], follow={"allow": ["(a"]})
        self.assertEqual(r.status, 400)
        self.assertIn("follow.allow[0]", r.json()["error"]["message"])

    def test_sitemaps(self):
        job, rows = self.crawl([self.www + "/"],
                               sitemaps=[self.www + "/sitemap_index.xml"])
        got = self.fetched(rows)
        self.assertIn(self.www + "/sitemap_index.xml", got)
        self.assertIn(self.www + "/sitemap1.xml.gz", got)
        self.assertIn(self.www + "/from-sitemap-1", got)
        self.assertIn(self.www + "/from-sitemap-2", got)
        # Without follow, no scope applies to the sitemap's entries.
        self.assertIn(self.other + "/elsewhere", got)
        kinds = dict(harness.sql(self.d.db, "SELECT url, kind FROM tasks "
                                 "WHERE job_id = ?", job["id"]))
        self.assertEqual(kinds[self.www + "/sitemap1.xml.gz"], "sitemap")
        self.assertEqual(kinds[self.www + "/from-sitemap-1"], "page")

    def test_robots_sitemaps(self):
        job, rows = self.crawl([self.www + "/c"], follow={
            "max_depth": 0, "sitemaps": True})
        got = self.fetched(rows)
        self.assertIn(self.www + "/robots.txt", got)
        self.assertIn(self.www + "/from-sitemap-2", got)
        # follow's host scope applies to sitemap entries.
        self.assertNotIn(self.other + "/elsewhere", got)

    def test_plain_job_unchanged(self):
        job, rows = self.crawl([self.www + "/"])
        self.assertEqual(len(rows), 1)
        self.assertNotIn("fields", rows[0])
        self.assertEqual(job["total"], 1)


if __name__ == "__main__":
    harness.main()
