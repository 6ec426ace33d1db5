/*
 * Unit tests for extract/: fields of known pages, HTML against XML, entity
 * safety, recovery of broken markup, spec validation with its exact
 * messages, the bounds on values and work, and concurrent runs.
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

#include "extract/extract.h"

static const char page[] =
    "<!DOCTYPE html>\n"
    "<html><head><title>Known page</title>\n"
    "<meta name=\"description\" content=\"A page we know\">\n"
    "</head><body>\n"
    "<h1>  Spaced  heading </h1>\n"
    "<p id=\"intro\">Hello <b>world</b>!</p>\n"
    "<a href=\"/one\">One</a>\n"
    "<a href=\"https://x.test/two\">Two</a>\n"
    "<a href=\"three.html\" class=\"x\">Three</a>\n"
    "</body></html>\n";

static struct extract *
compile(const char *spec_text)
{
	json_error_t jerr;
	json_t *spec = json_loads(spec_text, 0, &jerr);
	struct extract *x;
	char *cause = NULL;

	if (spec == NULL)
		fail_msg("bad test JSON: %s", jerr.text);
	x = extract_compile(spec, &cause);
	if (x == NULL)
		fail_msg("spec %s rejected: %s", spec_text, cause);
	assert_null(cause);
	json_decref(spec);
	return x;
}

/* Runs spec on body and compares the whole result with want (JSON). */
static void
check_run(const char *body, size_t len, const char *type, const char *spec,
    const char *want_text)
{
	struct extract *x = compile(spec);
	struct extract_doc *doc;
	json_t *got, *want;
	char *g, *w;

	doc = extract_doc_parse(body, len, type, "https://x.test/page");
	assert_non_null(doc);
	got = extract_run(x, doc);
	assert_non_null(got);
	want = json_loads(want_text, 0, NULL);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		g = json_dumps(got, JSON_SORT_KEYS);
		w = json_dumps(want, JSON_SORT_KEYS);
		fail_msg("got %s\nwant %s", g, w);
	}
	json_decref(got);
	json_decref(want);
	extract_doc_free(doc);
	extract_free(x);
}

static void
test_fields_of_page(void **state)
{
	(void)state;
	check_run(page, strlen(page), "text/html; charset=utf-8",
	    "{\"title\": \"//title\","
	    " \"title_text\": \"//title/text()\","
	    " \"first_link\": \"//a/@href\","
	    " \"links\": {\"xpath\": \"//a/@href\", \"all\": true},"
	    " \"texts\": {\"xpath\": \"//a\", \"all\": true},"
	    " \"description\": \"//meta[@name='description']/@content\","
	    " \"intro\": \"//p[@id='intro']\","
	    " \"heading\": \"//h1\","
	    " \"missing\": \"//table\","
	    " \"missing_all\": {\"xpath\": \"//table//td\", \"all\": true},"
	    " \"count\": \"count(//a)\","
	    " \"half\": \"count(//a) div 2\","
	    " \"nan\": \"number('x')\","
	    " \"has_form\": \"boolean(//form)\","
	    " \"has_links\": {\"xpath\": \"count(//a) > 2\", \"all\": true},"
	    " \"string\": \"string(//a[2])\","
	    " \"concat\": \"concat(//title, '|', //a[3]/@class)\"}",
	    "{\"title\": \"Known page\","
	    " \"title_text\": \"Known page\","
	    " \"first_link\": \"/one\","
	    " \"links\": [\"/one\", \"https://x.test/two\", \"three.html\"],"
	    " \"texts\": [\"One\", \"Two\", \"Three\"],"
	    " \"description\": \"A page we know\","
	    " \"intro\": \"Hello world!\","
	    " \"heading\": \"  Spaced  heading \","
	    " \"missing\": null,"
	    " \"missing_all\": null,"
	    " \"count\": 3,"
	    " \"half\": 1.5,"
	    " \"nan\": null,"
	    " \"has_form\": false,"
	    " \"has_links\": true,"
	    " \"string\": \"Two\","
	    " \"concat\": \"Known page|x\"}");
}

/* The integral count is a JSON integer, not 3.0. */
static void
test_number_types(void **state)
{
	struct extract *x = compile("{\"n\": \"count(//a)\", \"f\": \"1 div 4\","
	    " \"big\": \"1e300\", \"inf\": \"1 div 0\"}");
	struct extract_doc *doc = extract_doc_parse(page, strlen(page), NULL,
	    NULL);
	json_t *out = extract_run(x, doc);

	(void)state;
	assert_true(json_is_integer(json_object_get(out, "n")));
	assert_int_equal(json_integer_value(json_object_get(out, "n")), 3);
	assert_true(json_is_real(json_object_get(out, "f")));
	assert_true(json_real_value(json_object_get(out, "f")) == 0.25);
	assert_true(json_is_real(json_object_get(out, "big")));
	assert_true(json_is_null(json_object_get(out, "inf")));
	json_decref(out);
	extract_doc_free(doc);
	extract_free(x);
}

static void
test_xml_or_html(void **state)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?><Root><Item>x</Item><item>y</item></Root>";
	static const char *const xml_types[] = { "application/xml",
	    "text/xml", "application/rss+xml; charset=utf-8",
	    "APPLICATION/ATOM+XML", " application/xml ; q=1" };
	static const char *const html_types[] = { "text/html",
	    "application/xhtml+xml", "text/plain", "", "xml", NULL };
	struct extract_doc *doc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(xml_types) / sizeof(xml_types[0]); i++) {
		doc = extract_doc_parse(body, strlen(body), xml_types[i], NULL);
		assert_non_null(doc);
		if (!extract_doc_is_xml(doc))
			fail_msg("%s not parsed as XML", xml_types[i]);
		extract_doc_free(doc);
	}
	for (i = 0; i < sizeof(html_types) / sizeof(html_types[0]); i++) {
		doc = extract_doc_parse(body, strlen(body), html_types[i], NULL);
		assert_non_null(doc);
		if (extract_doc_is_xml(doc))
			fail_msg("%s parsed as XML", html_types[i] != NULL ?
			    html_types[i] : "NULL");
		extract_doc_free(doc);
	}
	/* XML keeps case; HTML folds element names to lower case. */
	check_run(body, strlen(body), "text/xml",
	    "{\"upper\": \"//Item\", \"lower\": \"//item\"}",
	    "{\"upper\": \"x\", \"lower\": \"y\"}");
	check_run(body, strlen(body), "text/html",
	    "{\"upper\": \"//Item\", \"lower\": {\"xpath\": \"//item\","
	    " \"all\": true}}",
	    "{\"upper\": null, \"lower\": [\"x\", \"y\"]}");
}

/* XHTML goes through the HTML parser: no namespace prefix needed. */
static void
test_xhtml(void **state)
{
	static const char body[] =
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head>"
	    "<title>X</title></head><body><a href=\"/a\">a</a></body></html>";

	(void)state;
	check_run(body, strlen(body), "application/xhtml+xml",
	    "{\"t\": \"//title\", \"h\": \"//a/@href\"}",
	    "{\"t\": \"X\", \"h\": \"/a\"}");
}

/* Prefixes declared on an XML root work in expressions; the default
 * namespace needs local-name(). */
static void
test_xml_namespaces(void **state)
{
	static const char feed[] =
	    "<feed xmlns=\"http://www.w3.org/2005/Atom\""
	    " xmlns:media=\"http://search.yahoo.com/mrss/\">"
	    "<entry><title>A</title><media:thumbnail url=\"u.jpg\"/></entry>"
	    "<entry><title><![CDATA[B & <b>]]></title></entry></feed>";

	(void)state;
	check_run(feed, strlen(feed), "application/atom+xml",
	    "{\"thumb\": \"//media:thumbnail/@url\","
	    " \"plain\": \"//title\","
	    " \"titles\": {\"xpath\": \"//*[local-name()='title']\","
	    " \"all\": true},"
	    " \"unknown_prefix\": \"//zz:title\"}",
	    "{\"thumb\": \"u.jpg\", \"plain\": null,"
	    " \"titles\": [\"A\", \"B & <b>\"], \"unknown_prefix\": null}");
}

/* External entities are neither loaded nor expanded, internal ones are not
 * expanded either, and a billion laughs costs nothing. */
static void
test_entities(void **state)
{
	char path[] = "/tmp/test_extract_XXXXXX", body[1024];
	struct extract_doc *doc;
	int fd, n;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "SECRET-XYZ", 10), 10);
	close(fd);
	n = snprintf(body, sizeof(body),
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE r [\n"
	    "<!ENTITY ext SYSTEM \"file://%s\">\n"
	    "<!ENTITY %% pe SYSTEM \"file://%s\">\n"
	    "<!ENTITY int \"internal\">\n"
	    "%%pe;\n"
	    "]>\n"
	    "<r><a>[&ext;]</a><b>[&int;]</b><c>&amp;&#65;&lt;</c></r>",
	    path, path);
	check_run(body, (size_t)n, "application/xml",
	    "{\"a\": \"//a\", \"b\": \"//b\", \"c\": \"//c\","
	    " \"all\": \"string(/)\"}",
	    "{\"a\": \"[]\", \"b\": \"[]\", \"c\": \"&A<\","
	    " \"all\": \"[][]&A<\"}");
	/* The same through the HTML parser (a mislabelled feed). */
	doc = extract_doc_parse(body, (size_t)n, "text/html", NULL);
	if (doc != NULL) {
		struct extract *x = compile("{\"s\": \"string(/)\"}");
		json_t *out = extract_run(x, doc);
		char *s = json_dumps(out, 0);

		assert_null(strstr(s, "SECRET"));
		free(s);
		json_decref(out);
		extract_free(x);
		extract_doc_free(doc);
	}
	unlink(path);
}

static void
test_billion_laughs(void **state)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
	    "<!ENTITY lol \"lol\">\n"
	    "<!ENTITY l1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	    "<!ENTITY l2 \"&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;\">\n"
	    "<!ENTITY l3 \"&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;\">\n"
	    "<!ENTITY l4 \"&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;\">\n"
	    "<!ENTITY l5 \"&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;\">\n"
	    "<!ENTITY l6 \"&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;\">\n"
	    "<!ENTITY l7 \"&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;\">\n"
	    "<!ENTITY l8 \"&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;\">\n"
	    "<!ENTITY l9 \"&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;\">\n"
	    "]>\n<lolz><a>x&l9;y</a><b>after</b></lolz>";

	(void)state;
	check_run(body, sizeof(body) - 1, "text/xml",
	    "{\"a\": \"//a\", \"b\": \"//b\"}",
	    "{\"a\": \"xy\", \"b\": \"after\"}");
}

static void
test_broken_html(void **state)
{
	static const char broken[] =
	    "<html><body><div><p>one<p>two</div>"
	    "<table><tr><td>cell</table>"
	    "<a href=x>unterminated <b>bold";
	struct extract_doc *doc;
	char *big;
	size_t i, n = 0;

	(void)state;
	check_run(broken, strlen(broken), "text/html",
	    "{\"p\": \"count(//p)\", \"second\": \"//p[2]\","
	    " \"td\": \"//td\", \"href\": \"//a/@href\", \"a\": \"//a\"}",
	    "{\"p\": 2, \"second\": \"two\", \"td\": \"cell\","
	    " \"href\": \"x\", \"a\": \"unterminated bold\"}");
	/* Not a page at all, and nothing. */
	check_run("just text", 9, NULL, "{\"p\": \"//p\"}",
	    "{\"p\": \"just text\"}");
	assert_null(extract_doc_parse("", 0, "text/html", NULL));
	assert_null(extract_doc_parse("<?xml version='1.0'?>", 21,
	    "text/xml", NULL));
	/* 100,000 nested unclosed elements and garbage: recovered. */
	big = malloc(1100000);
	assert_non_null(big);
	memcpy(big, "<<>x</y><a href=deep>z", 22);
	n = 22;
	for (i = 0; i < 100000; i++, n += 5)
		memcpy(big + n, "<div>", 5);
	/* libxml2 stops at 256 levels of nesting: the rest is lost. */
	check_run(big, n, "text/html",
	    "{\"href\": \"//a/@href\", \"some\": \"count(//div) > 200\"}",
	    "{\"href\": \"deep\", \"some\": true}");
	free(big);
	/* Over the cap: not parsed at all. */
	big = malloc(EXTRACT_MAX_BODY + 1);
	assert_non_null(big);
	memset(big, 'a', EXTRACT_MAX_BODY + 1);
	memcpy(big, "<p>", 3);
	assert_null(extract_doc_parse(big, EXTRACT_MAX_BODY + 1, NULL, NULL));
	doc = extract_doc_parse(big, 1000, NULL, NULL);
	assert_non_null(doc);
	extract_doc_free(doc);
	free(big);
}

/* A run on no document (a body that did not parse) gives nulls. */
static void
test_no_document(void **state)
{
	struct extract *x = compile("{\"a\": \"//a\", \"n\": \"count(//a)\"}");
	json_t *out = extract_run(x, NULL);
	char *s = json_dumps(out, JSON_SORT_KEYS);

	(void)state;
	assert_string_equal(s, "{\"a\": null, \"n\": null}");
	free(s);
	json_decref(out);
	extract_free(x);
}

struct bad_spec {
	const char	*spec;
	const char	*cause;
};

static void
test_bad_specs(void **state)
{
	static const struct bad_spec bad[] = {
		{ "[\"//a\"]", "field \"extract\" must be an object of field "
		    "names and XPath expressions" },
		{ "{\"title\": \"//[\"}", "field \"extract.title\": invalid "
		    "XPath expression \"//[\"" },
		{ "{\"links\": {\"xpath\": \"//a\", \"all\": \"yes\"}}",
		    "field \"extract.links\": \"all\" must be true or false" },
		{ "{\"links\": {\"all\": true}}",
		    "field \"extract.links\": \"xpath\" is required" },
		{ "{\"links\": {\"xpath\": 3}}",
		    "field \"extract.links\": \"xpath\" must be a string" },
		{ "{\"links\": {\"xpath\": \"//a\", \"first\": true}}",
		    "field \"extract.links\" accepts only \"xpath\" and "
		    "\"all\"" },
		{ "{\"n\": 5}", "field \"extract.n\" must be an XPath string or "
		    "{\"xpath\": ..., \"all\": ...}" },
		{ "{\"t\": \"\"}", "field \"extract.t\": the XPath expression "
		    "must be 1 to 2048 bytes" },
		{ "{\"t\": \"//a[\\u0000]\"}", "field \"extract.t\": the XPath "
		    "expression must be 1 to 2048 bytes" },
		{ "{\"\": \"//a\"}", "field \"extract\": names must be 1 to 64 "
		    "bytes without control characters" },
		{ "{\"a\\nb\": \"//a\"}", "field \"extract\": names must be 1 "
		    "to 64 bytes without control characters" },
		{ "{\"t\": \"//a[@href\"}", "field \"extract.t\": invalid XPath "
		    "expression \"//a[@href\"" },
	};
	json_t *spec;
	char *cause;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec = json_loads(bad[i].spec, JSON_ALLOW_NUL, NULL);
		assert_non_null(spec);
		cause = NULL;
		if (extract_compile(spec, &cause) != NULL)
			fail_msg("spec %s accepted", bad[i].spec);
		if (cause == NULL || strcmp(cause, bad[i].cause) != 0)
			fail_msg("spec %s: got cause '%s', want '%s'",
			    bad[i].spec, cause, bad[i].cause);
		free(cause);
		json_decref(spec);
	}
}

/* The limits on the number of fields and on lengths, at and past them. */
static void
test_spec_limits(void **state)
{
	char name[EXTRACT_MAX_NAME + 2], xpath[EXTRACT_MAX_XPATH + 2];
	struct extract *x;
	json_t *spec;
	char *cause = NULL, key[16];
	int i;

	(void)state;
	spec = json_object();
	for (i = 0; i < EXTRACT_MAX_FIELDS; i++) {
		snprintf(key, sizeof(key), "f%d", i);
		json_object_set_new(spec, key, json_string("//a"));
	}
	x = extract_compile(spec, &cause);
	assert_non_null(x);
	extract_free(x);
	json_object_set_new(spec, "one_more", json_string("//a"));
	assert_null(extract_compile(spec, &cause));
	assert_string_equal(cause, "field \"extract\": at most 64 fields");
	free(cause);
	json_decref(spec);

	memset(name, 'n', sizeof(name));
	name[EXTRACT_MAX_NAME] = '\0';
	memset(xpath, ' ', sizeof(xpath));
	memcpy(xpath, "//a", 3);
	xpath[EXTRACT_MAX_XPATH] = '\0';
	spec = json_pack("{s:s}", name, xpath);
	x = extract_compile(spec, &cause);
	assert_non_null(x);
	extract_free(x);
	json_decref(spec);
	name[EXTRACT_MAX_NAME] = 'n';
	name[EXTRACT_MAX_NAME + 1] = '\0';
	spec = json_pack("{s:s}", name, "//a");
	assert_null(extract_compile(spec, &cause));
	assert_string_equal(cause, "field \"extract\": names must be 1 to 64 "
	    "bytes without control characters");
	free(cause);
	json_decref(spec);
	xpath[EXTRACT_MAX_XPATH] = ' ';
	xpath[EXTRACT_MAX_XPATH + 1] = '\0';
	spec = json_pack("{s:s}", "t", xpath);
	assert_null(extract_compile(spec, &cause));
	assert_string_equal(cause, "field \"extract.t\": the XPath "
	    "expression must be 1 to 2048 bytes");
	free(cause);
	json_decref(spec);
}

/* Nesting deep enough to hurt is refused by libxml2's compile limit, not
 * by the stack. */
static void
test_deep_expression(void **state)
{
	char xpath[EXTRACT_MAX_XPATH + 1];
	json_t *spec;
	char *cause = NULL;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		xpath[i] = '(';
		xpath[1001 + i] = ')';
	}
	xpath[1000] = '1';
	xpath[2001] = '\0';
	spec = json_pack("{s:s}", "deep", xpath);
	assert_null(extract_compile(spec, &cause));
	assert_non_null(cause);
	assert_true(strncmp(cause, "field \"extract.deep\": invalid XPath "
	    "expression \"((((", 40) == 0);
	free(cause);
	json_decref(spec);
}

/* An unknown function compiles (libxml2 resolves functions when it
 * evaluates) and gives null. */
static void
test_eval_errors(void **state)
{
	(void)state;
	check_run(page, strlen(page), NULL,
	    "{\"f\": \"nosuch(//a)\", \"ok\": \"//title\"}",
	    "{\"f\": null, \"ok\": \"Known page\"}");
}

static void
test_to_json(void **state)
{
	struct extract *x = compile("{\"t\": \"//title\", \"l\": {\"xpath\":"
	    " \"//a/@href\", \"all\": true}, \"f\": {\"xpath\": \"//p\"}}");
	struct extract *again;
	json_t *spec;
	char *s, *cause = NULL;

	(void)state;
	spec = extract_to_json(x);
	s = json_dumps(spec, 0);
	assert_string_equal(s, "{\"t\": {\"xpath\": \"//title\", \"all\": "
	    "false}, \"l\": {\"xpath\": \"//a/@href\", \"all\": true}, "
	    "\"f\": {\"xpath\": \"//p\", \"all\": false}}");
	again = extract_compile(spec, &cause);
	assert_non_null(again);
	extract_free(again);
	free(s);
	json_decref(spec);
	extract_free(x);
}

/* Bytes that are not UTF-8 become U+FFFD and the JSON stays valid (the
 * encoded surrogate libxml2 drops itself). */
static void
test_invalid_utf8(void **state)
{
	static const char body[] = "<title>caf\xe9 \xff\xc0\xaf "
	    "\xed\xa0\x80 ok \xe2\x82\xac</title>";

	(void)state;
	check_run(body, sizeof(body) - 1, "text/html; charset=utf-8",
	    "{\"t\": \"//title\", \"a\": \"//title/text()\"}",
	    "{\"t\": \"caf\\ufffd \\ufffd\\ufffd\\ufffd  ok \\u20ac\","
	    " \"a\": \"caf\\ufffd \\ufffd\\ufffd\\ufffd  ok \\u20ac\"}");
	/* Without a charset libxml2 falls back to Latin-1: valid either way. */
	check_run(body, sizeof(body) - 1, NULL, "{\"t\": \"//title\"}",
	    "{\"t\": \"caf\\u00e9 \\u00ff\\u00c0\\u00af \\u00ed\\u00a0"
	    "\\u0080 ok \\u00e2\\u0082\\u00ac\"}");
}

/* One value is cut at EXTRACT_MAX_VALUE on a character boundary, and an
 * "all" array at EXTRACT_MAX_ALL entries. */
static void
test_value_bounds(void **state)
{
	struct extract *x = compile("{\"p\": \"//p\", \"attr\": \"//p/@title\","
	    " \"is\": {\"xpath\": \"//i\", \"all\": true}}");
	struct extract_doc *doc;
	size_t n = 0, i;
	json_t *out;
	char *body;

	(void)state;
	body = malloc(3 * 100000 + 100 + 10 * (EXTRACT_MAX_ALL + 1));
	assert_non_null(body);
	n += (size_t)sprintf(body, "<p title=\"");
	for (i = 0; i < 30000; i++, n += 3)
		memcpy(body + n, "\xe2\x82\xac", 3);		/* € */
	n += (size_t)sprintf(body + n, "\">");
	for (i = 0; i < 30000; i++, n += 3)
		memcpy(body + n, "\xe2\x82\xac", 3);
	n += (size_t)sprintf(body + n, "</p>");
	for (i = 0; i < EXTRACT_MAX_ALL + 1; i++)
		n += (size_t)sprintf(body + n, "<i>x</i>");
	doc = extract_doc_parse(body, n, "text/html; charset=utf-8", NULL);
	assert_non_null(doc);
	out = extract_run(x, doc);
	assert_non_null(out);
	/* 65536 / 3: 21845 whole characters. */
	assert_int_equal(json_string_length(json_object_get(out, "p")),
	    21845 * 3);
	assert_int_equal(json_string_length(json_object_get(out, "attr")),
	    21845 * 3);
	assert_int_equal(json_array_size(json_object_get(out, "is")),
	    EXTRACT_MAX_ALL);
	json_decref(out);
	extract_doc_free(doc);
	extract_free(x);
	free(body);
}

/* The values of one run add up to at most EXTRACT_MAX_OUTPUT bytes. */
static void
test_output_budget(void **state)
{
	struct extract *x = compile("{\"a\": {\"xpath\": \"//p\", \"all\": true},"
	    " \"b\": {\"xpath\": \"//p\", \"all\": true}, \"c\": \"//p\","
	    " \"n\": \"count(//p)\"}");
	struct extract_doc *doc;
	size_t n = 0, i, total = 0, len = 60000, np = 200;
	json_t *out, *v;
	char *body;

	(void)state;
	body = malloc(np * (len + 7));
	assert_non_null(body);
	for (i = 0; i < np; i++) {
		memcpy(body + n, "<p>", 3);
		memset(body + n + 3, 'v', len);
		memcpy(body + n + 3 + len, "</p>", 4);
		n += len + 7;
	}
	doc = extract_doc_parse(body, n, NULL, NULL);
	assert_non_null(doc);
	out = extract_run(x, doc);
	assert_non_null(out);
	assert_int_equal(json_array_size(json_object_get(out, "a")), np);
	json_array_foreach(json_object_get(out, "a"), i, v)
		total += json_string_length(v);
	assert_int_equal(total, np * len);
	json_array_foreach(json_object_get(out, "b"), i, v)
		total += json_string_length(v);
	assert_true(json_array_size(json_object_get(out, "b")) < np);
	assert_int_equal(total, EXTRACT_MAX_OUTPUT);
	/* Spent: later strings are empty, numbers still come. */
	assert_string_equal(json_string_value(json_object_get(out, "c")), "");
	assert_int_equal(json_integer_value(json_object_get(out, "n")), np);
	json_decref(out);
	extract_doc_free(doc);
	extract_free(x);
	free(body);
}

/* A quadratic expression stops at EXTRACT_MAX_OPS; the rest of the run's
 * budget is gone with it. */
static void
test_ops_budget(void **state)
{
	struct extract *x = compile("{\"slow\": \"count(//a[count("
	    "preceding::a) >= 0])\", \"after\": \"count(//a)\"}");
	struct extract_doc *doc;
	size_t n = 0, i;
	json_t *out;
	char *body;

	(void)state;
	body = malloc(12000 * 7);
	assert_non_null(body);
	for (i = 0; i < 12000; i++, n += 7)
		memcpy(body + n, "<a></a>", 7);
	doc = extract_doc_parse(body, n, "text/html", NULL);
	assert_non_null(doc);
	out = extract_run(x, doc);
	assert_true(json_is_null(json_object_get(out, "slow")));
	assert_true(json_is_null(json_object_get(out, "after")));
	json_decref(out);
	extract_doc_free(doc);
	extract_free(x);
	free(body);
}

/* Several threads run one compiled spec on their own documents. */
#define THREADS	4
#define ROUNDS	100

static void *
run_thread(void *arg)
{
	const struct extract *x = arg;
	char body[256], want[64];
	struct extract_doc *doc;
	json_t *out;
	long ok = 1;
	int i, n;

	for (i = 0; i < ROUNDS && ok; i++) {
		n = snprintf(body, sizeof(body), "<title>t%d</title>"
		    "<a href=\"/%d\">a</a><a href=\"/b\">b</a>", i, i);
		doc = extract_doc_parse(body, (size_t)n, NULL, NULL);
		out = doc != NULL ? extract_run(x, doc) : NULL;
		snprintf(want, sizeof(want), "t%d", i);
		ok = out != NULL && strcmp(json_string_value(json_object_get(
		    out, "title")), want) == 0 && json_integer_value(
		    json_object_get(out, "n")) == 2 && json_array_size(
		    json_object_get(out, "links")) == 2 && strcmp(
		    json_string_value(json_object_get(out, "up")), want) == 0;
		json_decref(out);
		extract_doc_free(doc);
	}
	return (void *)ok;
}

static void
test_threads(void **state)
{
	struct extract *x = compile("{\"title\": \"//title\", \"n\": "
	    "\"count(//a)\", \"links\": {\"xpath\": \"//a/@href\", \"all\":"
	    " true}, \"up\": \"normalize-space(translate(//title, 'T', "
	    "'T'))\"}");
	pthread_t t[THREADS];
	void *ok;
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, run_thread, x), 0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &ok), 0);
		assert_true(ok == (void *)1);
	}
	extract_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_of_page),
		cmocka_unit_test(test_number_types),
		cmocka_unit_test(test_xml_or_html),
		cmocka_unit_test(test_xhtml),
		cmocka_unit_test(test_xml_namespaces),
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_broken_html),
		cmocka_unit_test(test_no_document),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_spec_limits),
		cmocka_unit_test(test_deep_expression),
		cmocka_unit_test(test_eval_errors),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_value_bounds),
		cmocka_unit_test(test_output_budget),
		cmocka_unit_test(test_ops_budget),
		cmocka_unit_test(test_threads),
	};

	extract_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
