/* Unit tests for robots/: the examples of RFC 9309 and edge cases. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "robots/robots.h"

/* RFC 9309 section 5.1 (and 2.2.2). */
static const char rfc_example[] =
    "User-Agent: *\n"
    "Disallow: *.gif$\n"
    "Disallow: /example/\n"
    "Allow: /publications/\n"
    "\n"
    "User-Agent: foobot\n"
    "Disallow:/\n"
    "Allow:/example/page.html\n"
    "Allow:/example/allowed.gif\n"
    "\n"
    "User-Agent: barbot\n"
    "User-Agent: bazbot\n"
    "Disallow: /example/page.html\n"
    "\n"
    "User-Agent: quxbot\n"
    "\n"
    "EOF\n";

struct expect {
	const char	*agent;
	const char	*path;
	int		 allowed;
};

static void
check(const char *text, const struct expect *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct robots *r = robots_parse(text, strlen(text), e[i].agent);

		assert_non_null(r);
		if (robots_allowed(r, e[i].path) != e[i].allowed)
			fail_msg("case %zu: agent %s path %s: want %s", i,
			    e[i].agent, e[i].path, e[i].allowed ? "allowed" :
			    "disallowed");
		robots_free(r);
	}
}

static void
test_rfc_example(void **state)
{
	static const struct expect e[] = {
		{ "foobot", "/example/page.html", 1 },
		{ "foobot", "/example/allowed.gif", 1 },
		{ "foobot", "/example/other.html", 0 },
		{ "foobot", "/", 0 },
		{ "FooBot", "/elsewhere", 0 },		/* case-insensitive */
		{ "barbot", "/example/page.html", 0 },
		{ "bazbot", "/example/page.html", 0 },
		{ "barbot", "/example/page.htm", 1 },
		{ "barbot", "/example/x.gif", 1 },	/* its own group only */
		{ "quxbot", "/example/page.html", 1 },	/* empty group */
		{ "otherbot", "/image.gif", 0 },
		{ "otherbot", "/image.gif?x=1", 1 },	/* "$" anchors */
		{ "otherbot", "/example/", 0 },
		{ "otherbot", "/example/deeper", 0 },
		{ "otherbot", "/publications/x", 1 },
		{ "otherbot", "/robots.txt", 1 },
		{ "harvestd", "/", 1 },
	};

	(void)state;
	check(rfc_example, e, sizeof(e) / sizeof(e[0]));
}

/* RFC 9309 section 2.2.3: special characters. */
static void
test_special_characters(void **state)
{
	static const char text[] =
	    "user-agent: *\n"
	    "disallow: /*.php$\n"
	    "disallow: /fish*.php\n"
	    "disallow: /path\n"
	    "disallow: /a%3cd.html\n";
	static const struct expect e[] = {
		{ "x", "/filename.php", 0 },
		{ "x", "/folder/filename.php", 0 },
		{ "x", "/filename.php?parameters", 1 },
		{ "x", "/filename.php5", 1 },
		{ "x", "/windows.PHP", 1 },
		{ "x", "/fish.php", 0 },
		{ "x", "/fishheads/catfish.php?parameters", 0 },
		{ "x", "/Fish.PHP", 1 },
		{ "x", "/path", 0 },
		{ "x", "/path.html", 0 },
		{ "x", "/path/", 0 },
		{ "x", "/Path", 1 },
		{ "x", "/a%3Cd.html", 0 },		/* escapes compare alike */
		{ "x", "/a%3cd.html", 0 },
	};

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
}

/* RFC 9309 section 5.2: the longest match wins; allow on a tie. */
static void
test_longest_match(void **state)
{
	static const char text[] =
	    "User-agent: *\n"
	    "allow: /example/page/\n"
	    "disallow: /example/page/disallowed.gif\n"
	    "allow: /tie\n"
	    "disallow: /tie\n"
	    "disallow: /folder/\n"
	    "allow: /folder/*.html\n";
	static const struct expect e[] = {
		{ "x", "/example/page/", 1 },
		{ "x", "/example/page/disallowed.gif", 0 },
		{ "x", "/example/page/other.gif", 1 },
		{ "x", "/tie", 1 },
		{ "x", "/folder/a.txt", 0 },
		{ "x", "/folder/a.html", 1 },
	};

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
}

static void
test_groups_and_syntax(void **state)
{
	/* Groups for the same agent merge; comments, odd spacing, CRLF,
	 * unknown keys and a missing "*" group. */
	static const char text[] =
	    "# comment\r\n"
	    "User-agent: harvestd # us\r\n"
	    "Disallow: /a\r\n"
	    "Sitemap: https://x.test/sitemap.xml\r\n"
	    "  USER-AGENT :   other\r\n"
	    "Disallow: /\r\n"
	    "user-agent: harvestd\r\n"
	    "disallow: /b\r\n"
	    "crawl-delay: 2.5\r\n"
	    "nonsense line\r\n";
	static const struct expect e[] = {
		{ "harvestd", "/a", 0 },
		{ "harvestd", "/b", 0 },
		{ "harvestd", "/c", 1 },
		{ "other", "/c", 0 },
		{ "nobody", "/anything", 1 },	/* no group, no "*": allow */
	};
	struct robots *r;

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
	r = robots_parse(text, strlen(text), "harvestd");
	assert_int_equal(robots_crawl_delay_ms(r), 2500);
	robots_free(r);
	r = robots_parse(text, strlen(text), "other");
	assert_int_equal(robots_crawl_delay_ms(r), -1);
	robots_free(r);
}

/* RFC 9309 section 2.2.1: groups for the same product token are merged. */
static void
test_rfc_group_merge(void **state)
{
	static const char merged[] =
	    "user-agent: ExampleBot\n"
	    "disallow: /foo\n"
	    "disallow: /bar\n"
	    "\n"
	    "user-agent: ExampleBot\n"
	    "disallow: /baz\n";
	static const char star[] =
	    "user-agent: *\n"
	    "disallow: /foo\n"
	    "disallow: /bar\n"
	    "\n"
	    "user-agent: BazBot\n"
	    "disallow: /baz\n";
	static const struct expect em[] = {
		{ "ExampleBot", "/foo", 0 },
		{ "ExampleBot", "/bar", 0 },
		{ "ExampleBot", "/baz", 0 },
		{ "examplebot", "/baz/x", 0 },
		{ "ExampleBot", "/qux", 1 },
		{ "OtherBot", "/foo", 1 },	/* no group, no "*" */
	};
	static const struct expect es[] = {
		{ "ExampleBot", "/foo", 0 },	/* the "*" group applies */
		{ "ExampleBot", "/bar", 0 },
		{ "ExampleBot", "/baz", 1 },
		{ "BazBot", "/baz", 0 },
		{ "BazBot", "/foo", 1 },	/* its own group only */
	};

	(void)state;
	check(merged, em, sizeof(em) / sizeof(em[0]));
	check(star, es, sizeof(es) / sizeof(es[0]));
}

/* RFC 9309 section 5.2 as written: the longer rule is used. */
static void
test_rfc_longest_match(void **state)
{
	static const char text[] =
	    "User-Agent: foobot\n"
	    "Allow: /example/page/\n"
	    "Disallow: /example/page/disallowed.gif\n";
	static const struct expect e[] = {
		{ "foobot", "/example/page/disallowed.gif", 0 },
		{ "foobot", "/example/page/disallowed.gif?x", 0 },
		{ "foobot", "/example/page/allowed.gif", 1 },
		{ "foobot", "/example/page/", 1 },
		{ "foobot", "/example/", 1 },
	};

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
}

/*
 * RFC 9309 section 2.2.2: the rule with the most octets wins ("*" and "$"
 * count too), allow wins a tie, and a matching group without a matching
 * rule allows even where "*" would not.
 */
static void
test_rfc_precedence(void **state)
{
	static const char text[] =
	    "user-agent: *\n"
	    "disallow: /\n"
	    "\n"
	    "user-agent: FooBot\n"
	    "disallow: /x/page.html\n"
	    "allow: /x/\n"
	    "allow: /folder\n"
	    "disallow: /folder\n"
	    "allow: /page\n"
	    "disallow: /*.htm\n"
	    "allow: /y/page.\n"
	    "disallow: /*.html\n";
	static const char anchored[] =
	    "user-agent: FooBot\n"
	    "allow: /$\n"
	    "disallow: /\n";
	static const struct expect e[] = {
		{ "FooBot", "/x/page.html", 0 },	/* 12 octets beat 3 */
		{ "FooBot", "/x/page.txt", 1 },
		{ "FooBot", "/x/other.html", 0 },	/* 7 octets beat 3 */
		{ "FooBot", "/folder/page", 1 },	/* tie: allow */
		{ "FooBot", "/page.htm", 0 },		/* 6 octets beat 5 */
		{ "FooBot", "/page", 1 },
		{ "FooBot", "/y/page.html", 1 },	/* 8 octets beat 7 */
		{ "FooBot", "/y/x.html", 0 },
		{ "FooBot", "/q", 1 },			/* no rule matches */
		{ "BarBot", "/q", 0 },			/* the "*" group */
	};
	static const struct expect ea[] = {
		{ "FooBot", "/", 1 },			/* 2 octets beat 1 */
		{ "FooBot", "/page.html", 0 },
	};

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
	check(anchored, ea, sizeof(ea) / sizeof(ea[0]));
}

/* RFC 9309 section 2.2.3: "#" comments, "$" ends and "*" spans. */
static void
test_rfc_special_characters(void **state)
{
	static const char text[] =
	    "# comment on its own line\n"
	    "user-agent: FooBot\n"
	    "disallow: /\n"
	    "allow: /this/path/exactly$\n"
	    "allow: /that/*/exactly\n"
	    "allow: /open/ # comment in line\n"
	    "disallow: /open/q#uz\n";
	static const struct expect e[] = {
		{ "FooBot", "/this/path/exactly", 1 },
		{ "FooBot", "/this/path/exactly/", 0 },
		{ "FooBot", "/this/path/exactly?x", 0 },
		{ "FooBot", "/that/a/b/exactly", 1 },
		{ "FooBot", "/that//exactly", 1 },
		{ "FooBot", "/that/exactly", 0 },
		{ "FooBot", "/open/x", 1 },
		{ "FooBot", "/open/quz", 0 },	/* "/open/q", 7 octets */
		{ "FooBot", "/elsewhere", 0 },
	};

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
}

/*
 * RFC 9309 section 2.2.4: other records (Sitemap, Crawl-delay, unknown
 * keys) neither end a group nor split its user-agent lines or rules.
 */
static void
test_other_records_keep_group(void **state)
{
	static const char sitemap[] =
	    "User-agent: a\n"
	    "Sitemap: http://x/s.xml\n"
	    "User-agent: b\n"
	    "Disallow: /p\n";
	static const char unknown[] =
	    "User-agent: FooBot\n"
	    "Invalid-Unknown-Line: unknown\n"
	    "User-agent: *\n"
	    "Disallow: /\n";
	static const char rules[] =
	    "User-agent: a\n"
	    "Disallow: /x\n"
	    "Sitemap: http://x/s.xml\n"
	    "Whatever: 1\n"
	    "Crawl-delay: 1\n"
	    "Disallow: /y\n"
	    "User-agent: b\n"
	    "Disallow: /z\n";
	static const struct expect es[] = {
		{ "a", "/p", 0 },
		{ "b", "/p", 0 },
		{ "a", "/q", 1 },
		{ "c", "/p", 1 },
	};
	static const struct expect eu[] = {
		{ "FooBot", "/", 0 },
		{ "BarBot", "/", 0 },
	};
	static const struct expect er[] = {
		{ "a", "/x", 0 },
		{ "a", "/y", 0 },
		{ "a", "/z", 1 },
		{ "b", "/z", 0 },
		{ "b", "/y", 1 },
	};

	(void)state;
	check(sitemap, es, sizeof(es) / sizeof(es[0]));
	check(unknown, eu, sizeof(eu) / sizeof(eu[0]));
	check(rules, er, sizeof(er) / sizeof(er[0]));
}

/*
 * Crawl-delay belongs to the group it is in, wherever in the group it
 * stands: among the user-agent lines it is the group's too.
 */
static void
test_crawl_delay_group(void **state)
{
	static const char text[] =
	    "User-agent: a\n"
	    "Crawl-delay: 3\n"
	    "User-agent: b\n"
	    "Disallow: /p\n"
	    "\n"
	    "User-agent: c\n"
	    "Disallow: /q\n"
	    "Crawl-delay: 0.5\n"
	    "User-agent: d\n"
	    "Disallow: /r\n"
	    "\n"
	    "User-agent: e\n"
	    "Crawl-delay: 7\n";
	static const struct {
		const char	*agent;
		int64_t		 ms;
	} e[] = {
		{ "a", 3000 }, { "b", 3000 }, { "c", 500 }, { "d", -1 },
		{ "e", 7000 }, { "f", -1 },
	};
	struct robots *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		r = robots_parse(text, strlen(text), e[i].agent);
		assert_non_null(r);
		if (robots_crawl_delay_ms(r) != e[i].ms)
			fail_msg("agent %s: delay %lld, want %lld", e[i].agent,
			    (long long)robots_crawl_delay_ms(r),
			    (long long)e[i].ms);
		robots_free(r);
	}
}

/*
 * RFC 9309 2.2.1: a user-agent line names a product token, [a-zA-Z_-]+;
 * what follows it ("FOO BAR", "foo/1.0") is not compared.
 */
static void
test_agent_product_token(void **state)
{
	static const char spaced[] =
	    "User-Agent: *\n"
	    "Disallow: /\n"
	    "User-Agent: FOO BAR\n"
	    "Allow: /x/\n"
	    "Disallow: /\n";
	static const char versioned[] =
	    "User-agent: harvestd/0.1 (+https://x.test)\n"
	    "Disallow: /private\n"
	    "User-agent: harv\n"
	    "User-agent: harvestdx\n"
	    "User-agent: -\n"
	    "Disallow: /\n"
	    "User-agent: * everyone\n"
	    "Disallow: /all\n";
	static const struct expect es[] = {
		{ "foo", "/x/y", 1 },
		{ "FOO", "/x/y", 1 },
		{ "Foo", "/a/b", 0 },
		{ "bar", "/x/y", 0 },		/* the "*" group */
	};
	static const struct expect ev[] = {
		{ "harvestd", "/private", 0 },
		{ "harvestd", "/public", 1 },	/* not harv, harvestdx */
		{ "HarvestD", "/private", 0 },
		{ "harv", "/public", 0 },
		{ "harvestdx", "/public", 0 },
		{ "other", "/all", 0 },		/* "* everyone" is "*" */
		{ "other", "/public", 1 },
	};

	(void)state;
	check(spaced, es, sizeof(es) / sizeof(es[0]));
	check(versioned, ev, sizeof(ev) / sizeof(ev[0]));
}

/* RFC 9309 2.2 (NL): "\r", "\n" and "\r\n" all end a line, mixed too. */
static void
test_line_endings(void **state)
{
	static const char *const texts[] = {
	    "User-agent: a\rDisallow: /x\rUser-agent: b\r\rDisallow: /y\r",
	    "User-agent: a\r\nDisallow: /x\r\nUser-agent: b\r\n\r\n"
	    "Disallow: /y",
	    "User-agent: a\nDisallow: /x\r\nUser-agent: b\r\r\nDisallow: /y",
	};
	static const struct expect e[] = {
		{ "a", "/x", 0 },
		{ "a", "/y", 1 },
		{ "b", "/y", 0 },
		{ "b", "/x", 1 },
		{ "c", "/x", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check(texts[i], e, sizeof(e) / sizeof(e[0]));
}

/*
 * A UTF-8 byte-order mark at the start of the file is skipped, as are
 * its first one or two octets alone (as the reference parser does); one
 * anywhere else spoils its line.
 */
static void
test_byte_order_mark(void **state)
{
	static const char *const texts[] = {
	    "\xEF\xBB\xBFUser-agent: a\nDisallow: /x\n",
	    "\xEF\xBBUser-agent: a\nDisallow: /x\n",
	    "\xEFUser-agent: a\nDisallow: /x\n",
	};
	static const char middle[] =
	    "User-agent: a\n\xEF\xBB\xBF" "Disallow: /x\nDisallow: /y\n";
	static const char broken[] =
	    "\xEF\x11\xBFUser-agent: a\nDisallow: /x\n";
	static const struct expect e[] = {
		{ "a", "/x", 0 },
		{ "a", "/y", 1 },
	};
	static const struct expect em[] = {
		{ "a", "/x", 1 },
		{ "a", "/y", 0 },
	};
	static const struct expect eb[] = {
		{ "a", "/x", 1 },	/* rules outside a group */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check(texts[i], e, sizeof(e) / sizeof(e[0]));
	check(middle, em, sizeof(em) / sizeof(em[0]));
	check(broken, eb, sizeof(eb) / sizeof(eb[0]));
}

/*
 * "disallow /x": a known key, whitespace and a value with no colon is
 * read as if the colon were there, as the reference parser does; only
 * when the line is exactly those two words.
 */
static void
test_missing_colon(void **state)
{
	static const char text[] =
	    "user-agent FooBot\n"
	    "disallow /\n"
	    "Allow\t/x/  # comment\n"
	    "allow /y/ /z/\n"
	    "crawl-delay 4\n"
	    "\n"
	    "foo BarBot\n"
	    "bar /\n"
	    "user-agent BazBot\n"
	    "disallow\n"
	    "disallow: /baz\n";
	static const struct expect e[] = {
		{ "FooBot", "/a", 0 },
		{ "FooBot", "/x/y", 1 },
		{ "FooBot", "/y/", 0 },		/* three words: not a rule */
		{ "BarBot", "/a", 1 },		/* unknown keys */
		{ "BazBot", "/a", 1 },		/* one word: not a rule */
		{ "BazBot", "/baz", 0 },
	};
	struct robots *r;

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
	r = robots_parse(text, strlen(text), "FooBot");
	assert_non_null(r);
	assert_int_equal(robots_crawl_delay_ms(r), 4000);
	robots_free(r);
}

/*
 * RFC 9309 2.2.2: octets outside ASCII are percent-encoded before
 * comparison, in rules and in the path alike, and the case of an escape's
 * hex digits does not matter; other escapes (%2F) are left as they are,
 * so "/a%2Fb" and "/a/b" differ. Precedence counts the encoded octets.
 */
static void
test_non_ascii_paths(void **state)
{
	static const char text[] =
	    "User-agent: *\n"
	    "Disallow: /\xC3\xA4\n"
	    "Disallow: /%c3%b6\n"
	    "Disallow: /a%2Fb\n"
	    "Disallow: /c/d\n"
	    "Disallow: /%zz%4\n"
	    "Allow: /\xC3\xA9\n"
	    "Disallow: /%C3%A9\n";
	static const struct expect e[] = {
		{ "x", "/%C3%A4", 0 },
		{ "x", "/%c3%a4", 0 },
		{ "x", "/%C3%a4/more", 0 },
		{ "x", "/\xC3\xA4", 0 },
		{ "x", "/a", 1 },
		{ "x", "/\xC3\xB6", 0 },
		{ "x", "/%C3%B6", 0 },
		{ "x", "/%C3%B", 1 },
		{ "x", "/a%2Fb", 0 },
		{ "x", "/a%2fb", 0 },
		{ "x", "/a/b", 1 },
		{ "x", "/c%2Fd", 1 },
		{ "x", "/%zz%4", 0 },		/* not escapes: as written */
		{ "x", "/%ZZ%4", 1 },
		{ "x", "/%C3%A9", 1 },		/* 7 octets each: allow */
		{ "x", "/\xC3\xA9", 1 },
	};

	(void)state;
	check(text, e, sizeof(e) / sizeof(e[0]));
}

/*
 * The table of percent-encoded paths in RFC 9309 2.2.2, one rule at a
 * time. Where the table and the reference parser disagree (rows 2 and 5)
 * we answer as the reference parser, which never decodes an escape nor
 * encodes a reserved character: those cases are pinned down below. So is
 * the reference answer to 2.2.3's "%2A" and "%24" table: an escape
 * matches only itself, not the character it stands for.
 */
static void
test_rfc_encoding_table(void **state)
{
	static const struct {
		const char	*rule;
		const char	*path;
		int		 allowed;
	} e[] = {
		/* Row 1. */
		{ "/foo/bar?baz=quz", "/foo/bar?baz=quz", 1 },
		/* Row 2: the rule's reserved characters stay as written. */
		{ "/foo/bar?baz=https://foo.bar",
		    "/foo/bar?baz=https://foo.bar", 1 },
		{ "/foo/bar?baz=https%3A%2F%2Ffoo.bar",
		    "/foo/bar?baz=https%3A%2F%2Ffoo.bar", 1 },
		{ "/foo/bar?baz=https://foo.bar",
		    "/foo/bar?baz=https%3A%2F%2Ffoo.bar", 0 },
		/* Row 3: U+30C4, encoded on both sides. */
		{ "/foo/bar/\xE3\x83\x84", "/foo/bar/%E3%83%84", 1 },
		{ "/foo/bar/\xE3\x83\x84", "/foo/bar/\xE3\x83\x84", 1 },
		/* Row 4. */
		{ "/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84", 1 },
		{ "/foo/bar/%E3%83%84", "/foo/bar/\xE3\x83\x84", 1 },
		{ "/foo/bar/%e3%83%84", "/foo/bar/%E3%83%84", 1 },
		/* Row 5: escaped unreserved octets are not decoded. */
		{ "/foo/bar/%62%61%7A", "/foo/bar/%62%61%7A", 1 },
		{ "/foo/bar/%62%61%7A", "/foo/bar/baz", 0 },
		/* 2.2.3. */
		{ "/path/file-with-a-%2A.html",
		    "/path/file-with-a-%2A.html", 1 },
		{ "/path/file-with-a-%2A.html",
		    "/path/file-with-a-*.html", 0 },
		{ "/path/foo-%24", "/path/foo-%24", 1 },
		{ "/path/foo-%24", "/path/foo-$", 0 },
	};
	char text[256];
	struct robots *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
		snprintf(text, sizeof(text),
		    "User-agent: FooBot\nDisallow: /\nAllow: %s\n", e[i].rule);
		r = robots_parse(text, strlen(text), "FooBot");
		assert_non_null(r);
		if (robots_allowed(r, e[i].path) != e[i].allowed)
			fail_msg("case %zu: rule %s path %s: want %s", i,
			    e[i].rule, e[i].path, e[i].allowed ? "allowed" :
			    "disallowed");
		robots_free(r);
	}
}

/*
 * Sitemap records anywhere in the file are kept for every agent, in file
 * order; past 64 of them, or past 2048 octets, they are dropped.
 */
static void
test_sitemaps(void **state)
{
	static const char text[] =
	    "Sitemap: https://x.test/first.xml\n"
	    "User-agent: a\n"
	    "SITEMAP:https://x.test/in-a.xml # comment\n"
	    "Disallow: /p\n"
	    "Sitemap:\n"
	    "User-agent: b\n"
	    "Disallow: /q\n"
	    "  sitemap :  https://x.test/last.xml  \n";
	static const char *const want[] = { "https://x.test/first.xml",
	    "https://x.test/in-a.xml", "https://x.test/last.xml" };
	static const char *const agents[] = { "a", "b", "c", "" };
	const char *const *urls;
	struct robots *r;
	char *big, *p, url[2100];
	size_t i, j, n;

	(void)state;
	for (i = 0; i < sizeof(agents) / sizeof(agents[0]); i++) {
		r = robots_parse(text, strlen(text), agents[i]);
		assert_non_null(r);
		urls = NULL;
		assert_int_equal(robots_sitemaps(r, &urls), 3);
		for (j = 0; j < 3; j++)
			assert_string_equal(urls[j], want[j]);
		robots_free(r);
	}

	r = robots_parse("User-agent: *\nDisallow: /\n", 26, "a");
	assert_int_equal(robots_sitemaps(r, &urls), 0);
	robots_free(r);
	r = robots_allow_all();
	assert_int_equal(robots_sitemaps(r, &urls), 0);
	robots_free(r);
	r = robots_disallow_all();
	assert_int_equal(robots_sitemaps(r, &urls), 0);
	robots_free(r);

	/* 70 records with a 2049-octet URL among them: 64 kept. */
	big = malloc(80 * sizeof(url));
	assert_non_null(big);
	p = big;
	for (i = 0; i < 70; i++) {
		if (i == 1) {
			memset(url, 'a', 2049);
			memcpy(url, "https://x.test/", 15);
			url[2049] = '\0';
		} else if (i == 2) {
			memset(url, 'b', 2048);
			memcpy(url, "https://x.test/", 15);
			url[2048] = '\0';
		} else
			snprintf(url, sizeof(url), "https://x.test/%zu.xml",
			    i);
		p += sprintf(p, "Sitemap: %s\n", url);
	}
	r = robots_parse(big, (size_t)(p - big), "a");
	assert_non_null(r);
	n = robots_sitemaps(r, &urls);
	assert_int_equal(n, 64);
	assert_string_equal(urls[0], "https://x.test/0.xml");
	assert_int_equal(strlen(urls[1]), 2048);	/* 2049 dropped */
	assert_string_equal(urls[2], "https://x.test/3.xml");
	assert_string_equal(urls[63], "https://x.test/64.xml");
	robots_free(r);
	free(big);
}

static void
test_allow_disallow_all(void **state)
{
	struct robots *r;

	(void)state;
	r = robots_allow_all();
	assert_true(robots_allowed(r, "/private"));
	robots_free(r);
	r = robots_disallow_all();
	assert_false(robots_allowed(r, "/"));
	assert_true(robots_allowed(r, "/robots.txt"));
	robots_free(r);
	r = robots_parse("User-agent: *\nDisallow:\n", 25, "x");
	assert_true(robots_allowed(r, "/anything"));
	robots_free(r);
	/* A value cut short by a NUL is empty, not a rule matching all. */
	r = robots_parse("User-agent: *\nDisallow: \0/x\n", 28, "x");
	assert_non_null(r);
	assert_true(robots_allowed(r, "/anything"));
	robots_free(r);
}

/* Many "*" against a long path: linear work, not exponential (found by
 * the fuzzer, which saw the naive recursion hang). */
static void
test_pathological_wildcards(void **state)
{
	char text[256], path[512];
	struct robots *r;
	size_t n = 0, i;

	(void)state;
	n += (size_t)snprintf(text, sizeof(text), "User-agent: *\nDisallow: /");
	for (i = 0; i < 40; i++)
		text[n++] = '*', text[n++] = 'a';
	text[n++] = 'b';
	text[n++] = '$';
	text[n++] = '\n';
	text[n] = '\0';
	path[0] = '/';
	memset(path + 1, 'a', 400);
	path[401] = '\0';
	r = robots_parse(text, n, "x");
	assert_non_null(r);
	assert_true(robots_allowed(r, path));		/* no "b" at the end */
	path[400] = 'b';
	assert_false(robots_allowed(r, path));
	robots_free(r);
}

static void
test_agent_token(void **state)
{
	char buf[32];

	(void)state;
	robots_agent_token("harvestd/0.1.0 (+https://x.test)", buf,
	    sizeof(buf));
	assert_string_equal(buf, "harvestd");
	robots_agent_token("Mozilla/5.0", buf, sizeof(buf));
	assert_string_equal(buf, "Mozilla");
	robots_agent_token("my_bot-2", buf, sizeof(buf));
	assert_string_equal(buf, "my_bot-");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_special_characters),
		cmocka_unit_test(test_longest_match),
		cmocka_unit_test(test_groups_and_syntax),
		cmocka_unit_test(test_rfc_group_merge),
		cmocka_unit_test(test_rfc_longest_match),
		cmocka_unit_test(test_rfc_precedence),
		cmocka_unit_test(test_rfc_special_characters),
		cmocka_unit_test(test_other_records_keep_group),
		cmocka_unit_test(test_crawl_delay_group),
		cmocka_unit_test(test_agent_product_token),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_byte_order_mark),
		cmocka_unit_test(test_missing_colon),
		cmocka_unit_test(test_non_ascii_paths),
		cmocka_unit_test(test_rfc_encoding_table),
		cmocka_unit_test(test_sitemaps),
		cmocka_unit_test(test_allow_disallow_all),
		cmocka_unit_test(test_pathological_wildcards),
		cmocka_unit_test(test_agent_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
