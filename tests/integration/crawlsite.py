"""A small web site of several hosts for the crawl tests, served by the
test server to any request whose Host ends in ".localhost" (libcurl
resolves *.localhost to loopback itself: no DNS needed).

Hosts: www.site.localhost (the seed), blog.site.localhost (same
registrable domain), other.localhost (another domain). It has links
relative and absolute, within and across hosts, a <base href>, a
rel=nofollow link, an image map's <area href>, a fragment, a redirect
into another host, a calendar trap of endless pages, a blog archive of
BLOG_POSTS posts, and a sitemap index pointing at a gzip sitemap,
announced by robots.txt.
"""
import gzip

BLOG_POSTS = 26


def _page(title, links=(), extra=""):
    body = "".join('<a href="%s">%s</a>\n' % (h, h) for h in links)
    return ("<!doctype html><html><head><title>%s</title>%s</head>"
            "<body><h1>%s</h1>\n%s</body></html>" % (title, extra, title,
                                                     body)).encode()


def route(handler, host, path):
    """Answers a request for host (without port) and path; returns False
    when the host is not part of the site."""
    port = handler.server.port
    www = "http://www.site.localhost:%d" % port
    other = "http://other.localhost:%d" % port
    send = handler._send
    html = "text/html; charset=utf-8"
    if host == "www.site.localhost":
        if path == "/":
            extra = ""
            return send(200, _page("Home", [
                "/a", www + "/b", "c#frag", "/c",
                "http://blog.site.localhost:%d/" % port, other + "/",
                "/redir", "/cal/2026/1", "mailto:x@y.z",
                "javascript:void(0)"]).replace(
                    b"</body>", b'<a rel="nofollow" href="/nofollow">nf'
                    b'</a></body>') + extra.encode(), html)
        if path == "/a":
            return send(200, _page("A", ["/a/deep"]), html)
        if path == "/a/deep":
            return send(200, _page("Deep", ["/a/deep/deeper"]), html)
        if path == "/a/deep/deeper":
            return send(200, _page("Deeper"), html)
        if path == "/b":
            return send(200, _page("B", ["rel"], extra='<base href="%s/'
                                   'base/">' % www), html)
        if path in ("/c", "/base/rel", "/nofollow", "/from-sitemap-1",
                    "/from-sitemap-2"):
            return send(200, _page(path.strip("/")), html)
        if path == "/redir":
            return send(302, b"", headers={"Location": other + "/landing"})
        if path.startswith("/cal/"):
            # A calendar trap: every month links to the next, forever.
            try:
                _, _, y, m = path.split("/")
                y, m = int(y), int(m)
            except ValueError:
                return send(404, b"no\n")
            ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
            return send(200, _page("%d-%02d" % (y, m),
                                   ["/cal/%d/%d" % (ny, nm)]), html)
        if path == "/robots.txt":
            return send(200, ("User-agent: *\nAllow: /\nSitemap: %s"
                              "/sitemap_index.xml\n" % www).encode())
        if path == "/sitemap_index.xml":
            return send(200, (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/'
                'sitemap/0.9"><sitemap><loc>%s/sitemap1.xml.gz</loc>'
                '</sitemap></sitemapindex>\n' % www).encode(),
                "application/xml")
        if path == "/sitemap1.xml.gz":
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns='
                   '"http://www.sitemaps.org/schemas/sitemap/0.9">'
                   '<url><loc>%s/from-sitemap-1</loc></url>'
                   '<url><loc>%s/from-sitemap-2</loc></url>'
                   '<url><loc>%s/elsewhere</loc></url>'
                   '</urlset>\n' % (www, www, other))
            return send(200, gzip.compress(xml.encode()), "application/gzip")
        return send(404, b"no such page\n")
    if host == "blog.site.localhost":
        if path == "/":
            return send(200, _page("Blog", ["/post1"]).replace(
                b"</body>", b'<map name="m"><area href="/post2" alt="2">'
                b'</map></body>'), html)
        if path == "/archive":
            return send(200, _page("Archive", [
                "/post%d" % i for i in range(1, BLOG_POSTS + 1)]), html)
        if path.startswith("/post"):
            try:
                n = int(path[5:])
            except ValueError:
                n = 0
            if 1 <= n <= BLOG_POSTS:
                return send(200, _page("Post %d" % n, ["/archive", "/"]),
                            html)
        return send(404, b"no such page\n")
    if host == "other.localhost":
        if path == "/":
            return send(200, _page("Other"), html)
        if path == "/landing":
            return send(200, _page("Landing", ["/x"]), html)
        if path in ("/x", "/elsewhere"):
            return send(200, _page(path.strip("/")), html)
        return send(404, b"no such page\n")
    return False
