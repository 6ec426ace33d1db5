/*
 * Unit tests for crawl/: links of pages (relative, absolute,
 * protocol-relative, <base>, fragments, nofollow, meta robots, schemes that
 * are not followed), the "follow" spec with its exact messages, allow and
 * deny with a catastrophic regex, scope by host and registrable domain, and
 * sitemaps (XML, index, namespaces, gzip, text, limits, corrupt input).
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "extract/extract.h"
#include "crawl/crawl.h"

/* What a callback saw. */
struct seen {
	char	**urls;
	size_t	  n;
	size_t	  stop_after;	/* 0: never stop */
};

static int
collect_cb(const char *url, void *arg)
{
	struct seen *s = arg;

	s->urls = realloc(s->urls, (s->n + 1) * sizeof(*s->urls));
	assert_non_null(s->urls);
	s->urls[s->n++] = strdup(url);
	return s->stop_after > 0 && s->n >= s->stop_after;
}

/* Counts without keeping: for the big sitemaps. */
static int
count_cb(const char *url, void *arg)
{
	(void)url;
	(*(size_t *)arg)++;
	return 0;
}

static void
seen_clear(struct seen *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->urls[i]);
	free(s->urls);
	memset(s, 0, sizeof(*s));
}

/* want is NULL-terminated. */
static void
seen_check(const struct seen *s, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		if (i >= s->n)
			fail_msg("missing %s (got %zu URLs)", want[i], s->n);
		if (strcmp(s->urls[i], want[i]) != 0)
			fail_msg("URL %zu: got %s, want %s", i, s->urls[i],
			    want[i]);
	}
	if (s->n != i)
		fail_msg("got %zu URLs, want %zu; extra: %s", s->n, i,
		    s->urls[i]);
}

/* Links of body against base, checked against want. */
static void
check_links(const char *body, const char *base, int with_nofollow,
    const char *const *want)
{
	struct extract_doc *doc = extract_doc_parse(body, strlen(body),
	    "text/html", base);
	struct seen s = { NULL, 0, 0 };
	size_t n = 0;

	assert_non_null(doc);
	while (want[n] != NULL)
		n++;
	assert_int_equal(crawl_links(doc, base, with_nofollow, 0, collect_cb,
	    &s), (int)n);
	seen_check(&s, want);
	seen_clear(&s);
	extract_doc_free(doc);
}

static void
test_links_resolution(void **state)
{
	static const char body[] =
	    "<html><head><title>t</title></head><body>\n"
	    "<a href=\"/abs\">a</a>\n"
	    "<a href=\"rel/x?y=1#frag\">b</a>\n"
	    "<a href=\"//cdn.example.net/p\">c</a>\n"
	    "<a href=\"HTTP://Other.EXAMPLE.org:80/a b\">d</a>\n"
	    "<a href=\"  ../up  \">e</a>\n"
	    "<a href=\"#top\">f</a>\n"
	    "<a href=\"javascript:void(0)\">g</a>\n"
	    "<a href=\"mailto:me@example.com\">h</a>\n"
	    "<a href=\"data:text/html,hi\">i</a>\n"
	    "<a href=\"tel:+123\">j</a>\n"
	    "<a href=\"ftp://files.example.com/x\">k</a>\n"
	    "<a href=\"\">l</a><a>no href</a>\n"
	    "<map><area href=\"/map\" alt=\"m\"></map>\n"
	    "<a href=\"/abs\">again</a>\n"
	    "<a href=\"?page=2\">n</a>\n"
	    "<a href=\"/a\nb\tc\">o</a>\n"
	    "<a href=\"/caf\xc3\xa9\">p</a>\n"
	    "<a href=\"https://www.example.com:8443/port#x\">q</a>\n"
	    "<a href=\"https://user:pw@www.example.com/u\">r</a>\n"
	    "<a href=\"http://[::1]:8080/v6\">s</a>\n"
	    "<a href=\"http://\">t</a>\n"
	    "<a href=\"/./x/../y/\">u</a>\n"
	    "</body></html>";
	static const char *const want[] = {
		"https://www.example.com/abs",
		"https://www.example.com/dir/rel/x?y=1",
		"https://cdn.example.net/p",
		"http://other.example.org/a%20b",
		"https://www.example.com/up",
		"https://www.example.com/map",
		"https://www.example.com/dir/page.html?page=2",
		"https://www.example.com/abc",
		"https://www.example.com/caf%c3%a9",
		"https://www.example.com:8443/port",
		"https://user:pw@www.example.com/u",
		"http://[::1]:8080/v6",
		"https://www.example.com/y/",
		NULL
	};

	(void)state;
	check_links(body, "https://www.example.com/dir/page.html?q=1#top", 0,
	    want);
}

static void
test_links_base(void **state)
{
	static const char body[] =
	    "<html><head><base href=\"/other/\"><base href=\"/ignored/\">"
	    "</head><body><a href=\"x\">x</a><a href=\"/y\">y</a>"
	    "<a href=\"https://abs.example.org/z\">z</a></body></html>";
	static const char *const want[] = {
		"https://www.example.com/other/x",
		"https://www.example.com/y",
		"https://abs.example.org/z",
		NULL
	};
	static const char bad_base[] =
	    "<base href=\"javascript:alert(1)\"><a href=\"x\">x</a>";
	static const char *const want_bad[] = {
		"https://www.example.com/dir/x",
		NULL
	};
	static const char abs_base[] =
	    "<base href=\"http://mirror.example.net/m/\"><a href=\"x\">x</a>"
	    "<a href=\"//cdn.example.net/c\">c</a>";
	static const char *const want_abs[] = {
		"http://mirror.example.net/m/x",
		"http://cdn.example.net/c",
		NULL
	};

	(void)state;
	check_links(body, "https://www.example.com/dir/page.html", 0, want);
	check_links(bad_base, "https://www.example.com/dir/page.html", 0,
	    want_bad);
	check_links(abs_base, "https://www.example.com/dir/page.html", 0,
	    want_abs);
}

static void
test_links_nofollow(void **state)
{
	static const char rels[] =
	    "<a href=\"/1\" rel=\"nofollow\">1</a>"
	    "<a href=\"/2\" rel=\"noopener NoFollow\">2</a>"
	    "<a href=\"/3\" rel=\"nofollower\">3</a>"
	    "<a href=\"/4\" rel=\" \tnofollow\n\">4</a>"
	    "<a href=\"/5\" rel=\"external\">5</a>";
	static const char *const want_rels[] = {
		"http://h.example/3", "http://h.example/5", NULL
	};
	static const char *const want_all[] = {
		"http://h.example/1", "http://h.example/2", "http://h.example/3",
		"http://h.example/4", "http://h.example/5", NULL
	};
	static const char *const metas[] = {
		"<meta name=\"robots\" content=\"nofollow\">",
		"<meta name=\"ROBOTS\" content=\"noindex, NOFOLLOW\">",
		"<meta name=\"robots\" content=\"none\">",
		"<meta content=\"noarchive,nofollow\" name=\"Robots\">",
	};
	static const char *const want_none[] = { NULL };
	static const char *const want_one[] = { "http://h.example/p", NULL };
	char body[256];
	size_t i;

	(void)state;
	check_links(rels, "http://h.example/", 0, want_rels);
	check_links(rels, "http://h.example/", 1, want_all);
	for (i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
		snprintf(body, sizeof(body), "<html><head>%s</head><body>"
		    "<a href=\"/p\">p</a></body></html>", metas[i]);
		check_links(body, "http://h.example/", 0, want_none);
		check_links(body, "http://h.example/", 1, want_one);
	}
	/* Only nofollow (or none) stops following. */
	check_links("<meta name=\"robots\" content=\"noindex\"><a href=\"/p\">"
	    "p</a>", "http://h.example/", 0, want_one);
	check_links("<meta name=\"googlebot\" content=\"nofollow\">"
	    "<a href=\"/p\">p</a>", "http://h.example/", 0, want_one);
}

static void
test_links_limits(void **state)
{
	static const char body[] = "<a href=\"/1\">1</a><a href=\"/2\">2</a>"
	    "<a href=\"/3\">3</a>";
	struct extract_doc *doc = extract_doc_parse(body, strlen(body), NULL,
	    NULL);
	struct seen s = { NULL, 0, 0 };

	(void)state;
	assert_int_equal(crawl_links(doc, "http://h.example/", 0, 2,
	    collect_cb, &s), 2);
	seen_clear(&s);
	s.stop_after = 1;
	assert_int_equal(crawl_links(doc, "http://h.example/", 0, 0,
	    collect_cb, &s), 1);
	assert_string_equal(s.urls[0], "http://h.example/1");
	seen_clear(&s);
	assert_int_equal(crawl_links(doc, "ftp://h.example/", 0, 0,
	    collect_cb, &s), -1);
	assert_int_equal(crawl_links(doc, "not a url", 0, 0, collect_cb, &s),
	    -1);
	assert_int_equal(crawl_links(doc, "/relative", 0, 0, collect_cb, &s),
	    -1);
	assert_int_equal(crawl_links(NULL, "http://h.example/", 0, 0,
	    collect_cb, &s), -1);
	assert_int_equal(s.n, 0);
	extract_doc_free(doc);
}

static void
test_url_normalise(void **state)
{
	static const struct {
		const char	*base;
		const char	*ref;
		const char	*want;
	} cases[] = {
		{ NULL, "HTTPS://Example.COM/A?b#c", "https://example.com/A?b" },
		{ NULL, "http://example.com:80", "http://example.com/" },
		{ NULL, "/relative", NULL },
		{ NULL, "example.com/x", NULL },
		{ NULL, " https://example.com/sp ace ",
		    "https://example.com/sp%20ace" },
		{ NULL, "gopher://example.com/", NULL },
		{ NULL, "", NULL },
		{ "http://a.example/b/c", "../d", "http://a.example/d" },
		{ "http://a.example/b/c", "#f", NULL },
		{ "mailto:x@y", "/p", NULL },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = crawl_url_normalise(cases[i].base, cases[i].ref);
		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got != NULL && strcmp(got, cases[i].want) != 0))
			fail_msg("case %zu: got %s, want %s", i, got,
			    cases[i].want);
		free(got);
	}
}

static struct crawl_follow *
follow(const char *text)
{
	json_t *spec = json_loads(text, 0, NULL);
	struct crawl_follow *f;
	char *cause = NULL;

	assert_non_null(spec);
	if ((f = crawl_follow_compile(spec, &cause)) == NULL)
		fail_msg("%s rejected: %s", text, cause);
	json_decref(spec);
	return f;
}

static void
test_follow_defaults(void **state)
{
	struct crawl_follow *f;
	json_t *j;
	char *s, *cause = NULL;

	(void)state;
	f = crawl_follow_compile(NULL, &cause);
	assert_non_null(f);
	assert_int_equal(crawl_follow_scope(f), CRAWL_SCOPE_HOST);
	assert_int_equal(crawl_follow_max_depth(f), 3);
	assert_int_equal(crawl_follow_max_pages(f), 10000);
	assert_int_equal(crawl_follow_nofollow(f), 0);
	assert_int_equal(crawl_follow_sitemaps(f), 0);
	assert_true(crawl_url_allowed(f, "http://any.example/x"));
	j = crawl_follow_to_json(f);
	s = json_dumps(j, 0);
	assert_string_equal(s, "{\"scope\": \"host\", \"max_depth\": 3, "
	    "\"max_pages\": 10000, \"allow\": [], \"deny\": [], "
	    "\"nofollow\": false, \"sitemaps\": false}");
	free(s);
	json_decref(j);
	crawl_follow_free(f);

	f = follow("{\"scope\": \"domain\", \"max_depth\": 0, \"max_pages\":"
	    " 10000000, \"allow\": [\"a\"], \"deny\": [\"b\", \"c\"],"
	    " \"nofollow\": true, \"sitemaps\": true}");
	assert_int_equal(crawl_follow_scope(f), CRAWL_SCOPE_DOMAIN);
	assert_int_equal(crawl_follow_max_depth(f), 0);
	assert_int_equal(crawl_follow_max_pages(f), 10000000);
	assert_int_equal(crawl_follow_nofollow(f), 1);
	assert_int_equal(crawl_follow_sitemaps(f), 1);
	j = crawl_follow_to_json(f);
	s = json_dumps(j, 0);
	assert_string_equal(s, "{\"scope\": \"domain\", \"max_depth\": 0, "
	    "\"max_pages\": 10000000, \"allow\": [\"a\"], \"deny\": [\"b\", "
	    "\"c\"], \"nofollow\": true, \"sitemaps\": true}");
	crawl_follow_free(f);
	/* What to_json gives compiles back. */
	f = crawl_follow_compile(j, &cause);
	assert_non_null(f);
	crawl_follow_free(f);
	free(s);
	json_decref(j);
}

static void
test_follow_bad_specs(void **state)
{
	static const struct {
		const char	*spec;
		const char	*cause;
	} bad[] = {
		{ "[]", "field \"follow\" must be an object" },
		{ "{\"scopes\": \"host\"}", "field \"follow.scopes\" is unknown" },
		{ "{\"scope\": \"world\"}", "field \"follow.scope\" must be "
		    "\"host\", \"domain\" or \"any\"" },
		{ "{\"scope\": 1}", "field \"follow.scope\" must be \"host\", "
		    "\"domain\" or \"any\"" },
		{ "{\"max_depth\": 101}", "field \"follow.max_depth\" must be "
		    "an integer between 0 and 100" },
		{ "{\"max_depth\": -1}", "field \"follow.max_depth\" must be "
		    "an integer between 0 and 100" },
		{ "{\"max_depth\": 2.5}", "field \"follow.max_depth\" must be "
		    "an integer between 0 and 100" },
		{ "{\"max_pages\": 0}", "field \"follow.max_pages\" must be an "
		    "integer between 1 and 10000000" },
		{ "{\"max_pages\": 10000001}", "field \"follow.max_pages\" must "
		    "be an integer between 1 and 10000000" },
		{ "{\"allow\": \"x\"}", "field \"follow.allow\" must be an "
		    "array of at most 64 regular expressions" },
		{ "{\"allow\": [\"ok\", \"(unclosed\"]}", "field "
		    "\"follow.allow[1]\": missing closing parenthesis at "
		    "offset 9" },
		{ "{\"deny\": [\"a\", \"b\", \"[z-a]\"]}", "field "
		    "\"follow.deny[2]\": range out of order in character "
		    "class at offset 3" },
		{ "{\"deny\": [\"\"]}", "field \"follow.deny[0]\" must be a "
		    "string of 1 to 1024 bytes" },
		{ "{\"deny\": [7]}", "field \"follow.deny[0]\" must be a "
		    "string of 1 to 1024 bytes" },
		{ "{\"allow\": [\"\\\\C\"]}", "field \"follow.allow[0]\": using "
		    "\\C is disabled by the application at offset 2" },
		{ "{\"nofollow\": 1}", "field \"follow.nofollow\" must be true "
		    "or false" },
		{ "{\"sitemaps\": \"yes\"}", "field \"follow.sitemaps\" must be "
		    "true or false" },
	};
	json_t *spec, *list;
	char *cause, pattern[CRAWL_MAX_PATTERN + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec = json_loads(bad[i].spec, JSON_DECODE_ANY, NULL);
		assert_non_null(spec);
		cause = NULL;
		if (crawl_follow_compile(spec, &cause) != NULL)
			fail_msg("spec %s accepted", bad[i].spec);
		if (cause == NULL || strcmp(cause, bad[i].cause) != 0)
			fail_msg("spec %s: got cause '%s', want '%s'",
			    bad[i].spec, cause, bad[i].cause);
		free(cause);
		json_decref(spec);
	}
	/* 64 patterns of 1024 bytes pass; one more, or one byte more, not. */
	memset(pattern, 'a', sizeof(pattern));
	pattern[CRAWL_MAX_PATTERN] = '\0';
	list = json_array();
	for (i = 0; i < CRAWL_MAX_PATTERNS; i++)
		json_array_append_new(list, json_string(pattern));
	spec = json_pack("{s:O}", "deny", list);
	crawl_follow_free(crawl_follow_compile(spec, &cause));
	assert_null(cause);
	json_decref(spec);
	json_array_append_new(list, json_string("x"));
	spec = json_pack("{s:O}", "deny", list);
	assert_null(crawl_follow_compile(spec, &cause));
	assert_string_equal(cause, "field \"follow.deny\" must be an array of "
	    "at most 64 regular expressions");
	free(cause);
	json_decref(spec);
	json_decref(list);
	pattern[CRAWL_MAX_PATTERN] = 'a';
	pattern[CRAWL_MAX_PATTERN + 1] = '\0';
	spec = json_pack("{s:[s]}", "allow", pattern);
	assert_null(crawl_follow_compile(spec, &cause));
	assert_string_equal(cause, "field \"follow.allow[0]\" must be a "
	    "string of 1 to 1024 bytes");
	free(cause);
	json_decref(spec);
}

static void
test_allow_deny(void **state)
{
	struct crawl_follow *f = follow("{\"allow\": [\"/blog/\", "
	    "\"\\\\.html$\"], \"deny\": [\"[?&]print=\", \"(?i)/ADMIN\"]}");
	struct crawl_follow *d = follow("{\"deny\": [\"\\\\.(jpg|png)$\"]}");
	struct crawl_follow *u = follow("{\"allow\": [\"/caf\\u00e9\", "
	    "\"^https://[^/]+/[\\u00e0-\\u00ff]$\"]}");

	(void)state;
	assert_true(crawl_url_allowed(f, "https://x.example/blog/post"));
	assert_true(crawl_url_allowed(f, "https://x.example/page.html"));
	assert_false(crawl_url_allowed(f, "https://x.example/page.htm"));
	assert_false(crawl_url_allowed(f, "https://x.example/"));
	assert_false(crawl_url_allowed(f, "https://x.example/blog/p?print=1"));
	assert_false(crawl_url_allowed(f, "https://x.example/blog/p?a&print=1"));
	assert_false(crawl_url_allowed(f, "https://x.example/Admin/blog/"));
	assert_true(crawl_url_allowed(d, "https://x.example/a.jpeg"));
	assert_false(crawl_url_allowed(d, "https://x.example/a.jpg"));
	/* UTF-8 patterns mean characters; invalid UTF-8 URLs are safe. */
	assert_true(crawl_url_allowed(u, "https://x.example/caf\xc3\xa9"));
	assert_true(crawl_url_allowed(u, "https://x.example/\xc3\xa9"));
	assert_false(crawl_url_allowed(u, "https://x.example/\xe9"));
	assert_false(crawl_url_allowed(u, "https://x.example/caf\xff"));
	crawl_follow_free(f);
	crawl_follow_free(d);
	crawl_follow_free(u);
}

/* (a+)+$ against "aaa...b" backtracks exponentially: the match limit
 * ends it, and the answer fails closed both ways. */
static void
test_catastrophic_regex(void **state)
{
	struct crawl_follow *allow = follow("{\"allow\": [\"(a+)+$\"]}");
	struct crawl_follow *deny = follow("{\"deny\": [\"(a+)+$\"]}");
	struct crawl_follow *both = follow("{\"allow\": [\"^http\"], "
	    "\"deny\": [\"x\", \"(a+)+$\"]}");
	char url[5000];

	(void)state;
	memcpy(url, "http://h.example/", 17);
	memset(url + 17, 'a', sizeof(url) - 19);
	url[sizeof(url) - 2] = 'b';
	url[sizeof(url) - 1] = '\0';
	assert_false(crawl_url_allowed(allow, url));
	assert_false(crawl_url_allowed(deny, url));
	assert_false(crawl_url_allowed(both, url));
	/* And the same patterns answer normally where they can. */
	url[sizeof(url) - 2] = 'a';
	assert_true(crawl_url_allowed(allow, "http://h.example/aaa"));
	assert_false(crawl_url_allowed(deny, "http://h.example/aaa"));
	assert_true(crawl_url_allowed(deny, "http://h.example/"));
	crawl_follow_free(allow);
	crawl_follow_free(deny);
	crawl_follow_free(both);
}

/* Threads share one compiled spec; each has its own match data. */
static void *
allowed_thread(void *arg)
{
	const struct crawl_follow *f = arg;
	char url[64];
	long ok = 1;
	int i;

	for (i = 0; i < 2000 && ok; i++) {
		snprintf(url, sizeof(url), "https://x.example/%s/%d",
		    i % 2 ? "blog" : "shop", i);
		ok = crawl_url_allowed(f, url) == (i % 2) &&
		    crawl_in_scope(f, "a.example.co.uk", "b.example.co.uk");
	}
	return (void *)ok;
}

static void
test_threads(void **state)
{
	struct crawl_follow *f = follow("{\"scope\": \"domain\", "
	    "\"allow\": [\"/blog/\"], \"deny\": [\"/shop/\"]}");
	pthread_t t[4];
	void *ok;
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, allowed_thread,
		    f), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ok), 0);
		assert_true(ok == (void *)1);
	}
	crawl_follow_free(f);
}

static void
test_scope(void **state)
{
	struct crawl_follow *host = follow("{\"scope\": \"host\"}");
	struct crawl_follow *domain = follow("{\"scope\": \"domain\"}");
	struct crawl_follow *any = follow("{\"scope\": \"any\"}");
	char *rd;

	(void)state;
	assert_true(crawl_in_scope(host, "www.example.com", "WWW.Example.com."));
	assert_false(crawl_in_scope(host, "www.example.com", "example.com"));
	assert_false(crawl_in_scope(host, "www.example.com", NULL));
	assert_true(crawl_in_scope(domain, "a.example.co.uk",
	    "b.example.co.uk"));
	assert_true(crawl_in_scope(domain, "example.co.uk",
	    "deep.sub.Example.CO.UK"));
	assert_false(crawl_in_scope(domain, "example.co.uk", "other.co.uk"));
	assert_true(crawl_in_scope(domain, "www.example.com", "example.com"));
	assert_false(crawl_in_scope(domain, "example.com", "example.org"));
	/* A private suffix: each user's site is its own domain. */
	assert_false(crawl_in_scope(domain, "alice.github.io",
	    "bob.github.io"));
	/* Public suffixes and IP literals compare as whole hosts. */
	assert_true(crawl_in_scope(domain, "co.uk", "co.uk"));
	assert_false(crawl_in_scope(domain, "co.uk", "a.co.uk"));
	assert_false(crawl_in_scope(domain, "10.0.0.1", "10.0.0.2"));
	assert_true(crawl_in_scope(domain, "10.0.0.1", "10.0.0.1"));
	assert_true(crawl_in_scope(domain, "[::1]", "[::1]"));
	assert_false(crawl_in_scope(domain, "[::1]", "[::2]"));
	assert_true(crawl_in_scope(any, "example.com", "other.org"));
	assert_true(crawl_in_scope(any, NULL, NULL));

	rd = crawl_registrable_domain("A.Example.CO.UK.");
	assert_string_equal(rd, "example.co.uk");
	free(rd);
	rd = crawl_registrable_domain("www.example.com");
	assert_string_equal(rd, "example.com");
	free(rd);
	rd = crawl_registrable_domain("x.github.io");
	assert_string_equal(rd, "x.github.io");
	free(rd);
	rd = crawl_registrable_domain("192.168.0.1");
	assert_string_equal(rd, "192.168.0.1");
	free(rd);
	rd = crawl_registrable_domain("localhost");
	assert_string_equal(rd, "localhost");
	free(rd);
	assert_null(crawl_registrable_domain(""));
	assert_null(crawl_registrable_domain("."));
	crawl_follow_free(host);
	crawl_follow_free(domain);
	crawl_follow_free(any);
}

/* Parses body and checks the URLs and is_index. */
static void
check_sitemap(const char *body, size_t len, int want_index,
    const char *const *want)
{
	struct seen s = { NULL, 0, 0 };
	char *cause = NULL;
	int is_index = -1, n = 0;

	while (want[n] != NULL)
		n++;
	if (crawl_sitemap_parse(body, len, &is_index, collect_cb, &s,
	    &cause) != n)
		fail_msg("got %zu URLs (cause %s), want %d", s.n, cause, n);
	assert_null(cause);
	assert_int_equal(is_index, want_index);
	seen_check(&s, want);
	seen_clear(&s);
}

static void
test_sitemap_urlset(void **state)
{
	static const char body[] =
	    "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"\n"
	    " xmlns:image=\"http://www.google.com/schemas/sitemap-image/1.1\">\n"
	    "<url><loc>https://example.com/</loc><lastmod>2024-01-01</lastmod>"
	    "</url>\n"
	    "<url>\n  <loc>\n   https://example.com/a?x=1&amp;y=2\n  </loc>\n"
	    "  <image:image><image:loc>https://img.example.com/i.png"
	    "</image:loc></image:image>\n</url>\n"
	    "<url><loc><![CDATA[https://example.com/c?p=1&q=2]]></loc></url>\n"
	    "<url><loc>/relative</loc></url>\n"
	    "<url><loc>ftp://example.com/f</loc></url>\n"
	    "<url><loc></loc></url>\n"
	    "<loc>https://example.com/not-in-a-url</loc>\n"
	    "<url><priority>0.5</priority></url>\n"
	    "<url><loc>https://example.com/b#frag</loc></url>\n"
	    "</urlset>\n";
	static const char *const want[] = {
		"https://example.com/",
		"https://example.com/a?x=1&y=2",
		"https://example.com/c?p=1&q=2",
		"https://example.com/b",
		NULL
	};

	(void)state;
	check_sitemap(body, sizeof(body) - 1, 0, want);
}

static void
test_sitemap_index(void **state)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?>"
	    "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
	    "<sitemap><loc>https://example.com/s1.xml.gz</loc>"
	    "<lastmod>2024-01-01</lastmod></sitemap>"
	    "<sitemap><loc> https://example.com/s2.xml </loc></sitemap>"
	    "<url><loc>https://example.com/not-a-sitemap-entry</loc></url>"
	    "</sitemapindex>";
	static const char *const want[] = {
		"https://example.com/s1.xml.gz",
		"https://example.com/s2.xml",
		NULL
	};

	(void)state;
	check_sitemap(body, sizeof(body) - 1, 1, want);
}

/* Any namespace, any prefix, none at all. */
static void
test_sitemap_namespaces(void **state)
{
	static const char *const bodies[] = {
		"<sm:urlset xmlns:sm=\"http://www.sitemaps.org/schemas/sitemap/"
		"0.9\"><sm:url><sm:loc>http://e.example/1</sm:loc></sm:url>"
		"</sm:urlset>",
		"<urlset><url><loc>http://e.example/1</loc></url></urlset>",
		"<urlset xmlns=\"http://www.google.com/schemas/sitemap/0.84\">"
		"<url><loc>http://e.example/1</loc></url></urlset>",
		"<URLSET><URL><LOC>http://e.example/1</LOC></URL></URLSET>",
		"<?xml version=\"1.0\"?>\n<!-- c -->\n<urlset><url>"
		"<loc>http://e.example/1</loc></url></urlset>",
	};
	static const char *const want[] = { "http://e.example/1", NULL };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		check_sitemap(bodies[i], strlen(bodies[i]), 0, want);
}

/* Bare ampersands, entities, a broken end: what can be read is. */
static void
test_sitemap_broken(void **state)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE urlset [<!ENTITY ext SYSTEM \"file:///etc/hostname\">"
	    "<!ENTITY big \"xxxxxxxxxx\"><!ENTITY two \"&big;&big;\">]>\n"
	    "<urlset>"
	    "<url><loc>http://e.example/a?x=1&y=2</loc></url>"
	    "<url><loc>http://e.example/b?x=1&amp;y=2&#38;z=&#x33;</loc></url>"
	    "<url><loc>http://e.example/c/&ext;&big;&two;</loc></url>"
	    "<url><loc>http://e.example/d?<![CDATA[a&amp;b]]></loc></url>"
	    "<url><loc>http://e.example/e";
	static const char *const want[] = {
		"http://e.example/a?x=1&y=2",
		"http://e.example/b?x=1&y=2&z=3",
		"http://e.example/c/",
		"http://e.example/d?a&amp;b",
		NULL
	};

	(void)state;
	check_sitemap(body, sizeof(body) - 1, 0, want);
}

static void
test_sitemap_text(void **state)
{
	static const char body[] =
	    "http://t.example/1\r\n"
	    "\n"
	    "   https://t.example/2   \n"
	    "not a url\n"
	    "/relative\n"
	    "ftp://t.example/3\n"
	    "https://t.example/4#x";
	static const char *const want[] = {
		"http://t.example/1",
		"https://t.example/2",
		"https://t.example/4",
		NULL
	};
	static const char *const none[] = { NULL };

	(void)state;
	check_sitemap(body, sizeof(body) - 1, 0, want);
	check_sitemap("", 0, 0, none);
	check_sitemap(NULL, 0, 0, none);
}

/* gzip of len bytes at data, in members of at most member bytes. */
static char *
gzip(const char *data, size_t len, size_t member, size_t *outlen)
{
	size_t cap = len / 2 + 1024 * (len / member + 2), n = 0, off, chunk;
	char *out = malloc(cap);
	z_stream zs;

	assert_non_null(out);
	for (off = 0; off < len || off == 0; off += chunk) {
		chunk = len - off < member ? len - off : member;
		memset(&zs, 0, sizeof(zs));
		assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED,
		    16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
		zs.next_in = (Bytef *)(uintptr_t)(data + off);
		zs.avail_in = (uInt)chunk;
		zs.next_out = (Bytef *)out + n;
		zs.avail_out = (uInt)(cap - n);
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		n = cap - zs.avail_out;
		deflateEnd(&zs);
		if (len == 0)
			break;
	}
	*outlen = n;
	return out;
}

static void
test_sitemap_gzip(void **state)
{
	static const char xml[] =
	    "<urlset><url><loc>https://z.example/1</loc></url>"
	    "<url><loc>https://z.example/2</loc></url></urlset>";
	static const char text[] = "https://z.example/a\nhttps://z.example/b\n";
	static const char *const want[] = {
		"https://z.example/1", "https://z.example/2", NULL
	};
	static const char *const want_text[] = {
		"https://z.example/a", "https://z.example/b", NULL
	};
	struct seen s = { NULL, 0, 0 };
	char *gz, *cause = NULL;
	size_t n;

	(void)state;
	gz = gzip(xml, sizeof(xml) - 1, 1 << 20, &n);
	check_sitemap(gz, n, 0, want);
	free(gz);
	/* Two members, split inside a line: one stream to the reader. */
	gz = gzip(text, sizeof(text) - 1, 25, &n);
	check_sitemap(gz, n, 0, want_text);
	/* Truncated: an error, and nothing passed on. */
	assert_int_equal(crawl_sitemap_parse(gz, n - 10, NULL, collect_cb, &s,
	    &cause), -1);
	assert_string_equal(cause, "gzip data is truncated");
	assert_int_equal(s.n, 0);
	free(cause);
	/* Corrupt. */
	memset(gz + 12, 0xff, 8);
	assert_int_equal(crawl_sitemap_parse(gz, n, NULL, collect_cb, &s,
	    &cause), -1);
	assert_true(strncmp(cause, "corrupt gzip data (", 19) == 0);
	assert_int_equal(s.n, 0);
	free(cause);
	free(gz);
	assert_int_equal(crawl_sitemap_parse("\x1f\x8b garbage", 10, NULL,
	    collect_cb, &s, &cause), -1);
	assert_true(strncmp(cause, "corrupt gzip data (", 19) == 0);
	free(cause);
}

/* 50,000 URLs and 50 MiB, then the rest is ignored without an error. */
static void
test_sitemap_limits(void **state)
{
	size_t n = 0, i, len, count = 0, gzlen;
	char *body, *gz, *cause = NULL;

	(void)state;
	body = malloc(CRAWL_SITEMAP_MAX_BYTES + 4096);
	assert_non_null(body);
	n += (size_t)sprintf(body, "<urlset>");
	for (i = 0; i < CRAWL_SITEMAP_MAX_URLS + 10; i++)
		n += (size_t)sprintf(body + n,
		    "<url><loc>http://l.example/%zu</loc></url>", i);
	n += (size_t)sprintf(body + n, "</urlset>");
	assert_int_equal(crawl_sitemap_parse(body, n, NULL, count_cb, &count,
	    &cause), CRAWL_SITEMAP_MAX_URLS);
	assert_int_equal(count, CRAWL_SITEMAP_MAX_URLS);
	n = 0;
	for (i = 0; i < CRAWL_SITEMAP_MAX_URLS + 10; i++)
		n += (size_t)sprintf(body + n, "http://l.example/%zu\n", i);
	count = 0;
	assert_int_equal(crawl_sitemap_parse(body, n, NULL, count_cb, &count,
	    &cause), CRAWL_SITEMAP_MAX_URLS);
	assert_int_equal(count, CRAWL_SITEMAP_MAX_URLS);

	/* A URL past 50 MiB of blank lines is not read, plain or gzip (a
	 * gzip bomb stops there too); one cut by the limit neither. */
	len = CRAWL_SITEMAP_MAX_BYTES - 10;
	memset(body, '\n', len);
	memcpy(body, "http://l.example/first\n", 23);
	n = len + (size_t)sprintf(body + len, "http://l.example/cut\n"
	    "http://l.example/late\n");
	count = 0;
	assert_int_equal(crawl_sitemap_parse(body, n, NULL, count_cb, &count,
	    &cause), 1);
	gz = gzip(body, n, n, &gzlen);
	assert_true(gzlen < 200000);
	count = 0;
	assert_int_equal(crawl_sitemap_parse(gz, gzlen, NULL, count_cb, &count,
	    &cause), 1);
	assert_null(cause);
	free(gz);
	free(body);
}

static void
test_sitemap_not_a_sitemap(void **state)
{
	static const char html[] = "<!DOCTYPE html><html><body>"
	    "<a href=\"http://x.example/\">x</a></body></html>";
	static const char leak[] = "<?xm\x94\xdf\x89\x96rsion=\"1.0\"?>"
	    "<!DOCTYPE urlset [<!ENTITY a \"&b;&\x01\0\0\0\0\0\0\x1d"
	    "b;\"><!ENTITY b \"xx\">]><urlset><url><loc>http://e.example/&a;"
	    "</loc></url></urlset>";
	static const char two[] = "<urlset><url><loc>http://a.b/1</loc></url>"
	    "<url><loc>http://a.b/2</loc></url></urlset>";
	struct seen s = { NULL, 0, 0 };
	char *cause = NULL;
	int is_index = -1;

	(void)state;
	assert_int_equal(crawl_sitemap_parse(html, sizeof(html) - 1,
	    &is_index, collect_cb, &s, &cause), -1);
	assert_string_equal(cause, "not a sitemap: the root element is "
	    "<html>, not <urlset> or <sitemapindex>");
	assert_int_equal(is_index, 0);
	free(cause);
	assert_int_equal(crawl_sitemap_parse("<<<>>>", 6, NULL, collect_cb,
	    &s, &cause), -1);
	assert_string_equal(cause, "not a sitemap: no <urlset> or "
	    "<sitemapindex> root element");
	free(cause);
	/* Found by the fuzzer: after a broken declaration libxml2 kept the
	 * entities in a document of its own, which leaked. */
	assert_int_equal(crawl_sitemap_parse(leak, sizeof(leak) - 1, NULL,
	    collect_cb, &s, &cause), -1);
	free(cause);
	assert_int_equal(s.n, 0);
	/* A callback that stops: one URL, no error. */
	s.stop_after = 1;
	assert_int_equal(crawl_sitemap_parse(two, sizeof(two) - 1, NULL,
	    collect_cb, &s, &cause), 1);
	assert_null(cause);
	assert_int_equal(s.n, 1);
	seen_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_links_resolution),
		cmocka_unit_test(test_links_base),
		cmocka_unit_test(test_links_nofollow),
		cmocka_unit_test(test_links_limits),
		cmocka_unit_test(test_url_normalise),
		cmocka_unit_test(test_follow_defaults),
		cmocka_unit_test(test_follow_bad_specs),
		cmocka_unit_test(test_allow_deny),
		cmocka_unit_test(test_catastrophic_regex),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_sitemap_urlset),
		cmocka_unit_test(test_sitemap_index),
		cmocka_unit_test(test_sitemap_namespaces),
		cmocka_unit_test(test_sitemap_broken),
		cmocka_unit_test(test_sitemap_text),
		cmocka_unit_test(test_sitemap_gzip),
		cmocka_unit_test(test_sitemap_limits),
		cmocka_unit_test(test_sitemap_not_a_sitemap),
	};

	crawl_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
