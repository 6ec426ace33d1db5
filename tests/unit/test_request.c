/* Unit tests for api/request.c: submission parsing and URL validation. */
#include "config.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"

static const struct api_limits limits = { 1000, 8192 };

static int
parse(const char *body, const char *ctype, struct api_request *req,
    const char **code, char **cause)
{
	*cause = NULL;
	return api_request_parse(body, strlen(body), ctype, &limits, req, code,
	    cause);
}

static void
test_url_check(void **state)
{
	static const struct {
		const char	*url;
		const char	*host;		/* NULL: rejected */
		const char	*canon;		/* or substring of the reason */
	} cases[] = {
		{ "http://example.com/", "example.com", "http://example.com/" },
		{ "https://Example.COM:8443/a?b=c#frag", "example.com",
		    "https://example.com:8443/a?b=c" },
		{ "HTTP://127.0.0.1:80/x", "127.0.0.1", "http://127.0.0.1/x" },
		{ "https://EXAMPLE.org:443", "example.org",
		    "https://example.org/" },
		{ "http://[::1]:8080/", "[::1]", "http://[::1]:8080/" },
		{ "ftp://example.com/file", NULL, "not http or https" },
		{ "file:///etc/passwd", NULL, "" },
		{ "gopher://x/", NULL, "" },
		{ "example.com/no-scheme", NULL, "" },
		{ "http://", NULL, "" },
		{ "http://exa mple.com/", NULL, "" },
		{ "", NULL, "" },
		{ "http://a.test/\xc3\xa9", "a.test", "http://a.test/\xc3\xa9" },
		{ "http://a.test/a b", NULL, "space" },
		{ "http://a.test/\x01", NULL, "control" },
	};
	char *canon, *host, *reason;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = api_url_check(cases[i].url, 8192, &canon, &host,
		    &reason);

		if (cases[i].host != NULL) {
			if (rc != 0)
				fail_msg("%s rejected: %s", cases[i].url, reason);
			assert_string_equal(host, cases[i].host);
			assert_string_equal(canon, cases[i].canon);
			assert_null(reason);
		} else {
			if (rc == 0)
				fail_msg("%s accepted", cases[i].url);
			assert_null(host);
			assert_null(canon);
			assert_non_null(reason);
			assert_true(strlen(reason) > 0);
			assert_non_null(strstr(reason, cases[i].canon));
		}
		free(canon);
		free(host);
		free(reason);
	}
}

/*
 * International domain names: accepted in UTF-8 and %XX-encoded, shown as
 * submitted (UTF-8), with the host in punycode for politeness.
 */
static void
test_url_idn(void **state)
{
	static const struct {
		const char	*url;
		const char	*host;		/* NULL: rejected */
		const char	*canon;		/* or substring of the reason */
	} cases[] = {
		{ "http://b\xc3\xbc" "cher.example/", "xn--bcher-kva.example",
		    "http://b\xc3\xbc" "cher.example/" },
		{ "http://b%C3%BCcher.example/", "xn--bcher-kva.example",
		    "http://b\xc3\xbc" "cher.example/" },
		{ "HTTP://B\xc3\xbc" "CHER.Example:80/a#f",
		    "xn--bcher-kva.example", "http://b\xc3\xbc" "cher.example/a" },
		{ "http://xn--bcher-kva.example/", "xn--bcher-kva.example",
		    "http://xn--bcher-kva.example/" },
		{ "http://b\xc3\xbc" "cher.localhost:8080/x?q=1",
		    "xn--bcher-kva.localhost",
		    "http://b\xc3\xbc" "cher.localhost:8080/x?q=1" },
		/* Outside the host: kept, and encoded for the request. */
		{ "http://b\xc3\xbc" "cher.example/\xc3\xa9?q=\xc3\xbc",
		    "xn--bcher-kva.example",
		    "http://b\xc3\xbc" "cher.example/\xc3\xa9?q=\xc3\xbc" },
		{ "http://\xc3\xbc@a.test/", NULL, "non-ASCII" },
		/* Not UTF-8, raw or encoded. */
		{ "http://a.test/\xe9", NULL, "not UTF-8" },
		{ "http://b\xfcz.test/", NULL, "not UTF-8" },
		{ "http://b%FCz.test/", NULL, "international domain name" },
		/* Spaces and control characters stay out, encoded or not. */
		{ "http://b\xc3\xbc" "cher.example/a b", NULL, "space" },
		{ "http://b%20z.test/", NULL, "" },
		{ "http://b\xc3\xbc" "cher.example/\x7f", NULL, "control" },
	};
	char *canon, *host, *reason;
	size_t i;

	(void)state;
	assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = api_url_check(cases[i].url, 8192, &canon, &host,
		    &reason);

		if (cases[i].host != NULL) {
			if (rc != 0)
				fail_msg("%s rejected: %s", cases[i].url, reason);
			assert_string_equal(host, cases[i].host);
			assert_string_equal(canon, cases[i].canon);
			assert_null(reason);
		} else {
			if (rc == 0)
				fail_msg("%s accepted", cases[i].url);
			assert_null(host);
			assert_null(canon);
			if (strstr(reason, cases[i].canon) == NULL)
				fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].url,
				    reason, cases[i].canon);
		}
		free(canon);
		free(host);
		free(reason);
	}
}

/* Every spelling of an international host is one URL of the job. */
static void
test_dedupe_idn(void **state)
{
	struct api_request req;
	const char *code;
	char *cause;

	(void)state;
	assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
	assert_int_equal(parse("{\"urls\": [\"http://b\xc3\xbc" "cher.example/\", "
	    "\"http://b%C3%BCcher.example/\", \"http://xn--bcher-kva.example/\", "
	    "\"http://B\xc3\xbc" "cher.EXAMPLE:80/#x\", \"http://other.example/\"]}",
	    "application/json", &req, &code, &cause), 0);
	assert_int_equal(req.nurls, 2);
	assert_int_equal(req.nduplicates, 3);
	assert_string_equal(req.urls[0].url, "http://b\xc3\xbc" "cher.example/");
	assert_string_equal(req.urls[0].host, "xn--bcher-kva.example");
	assert_string_equal(req.urls[0].ascii, "http://xn--bcher-kva.example/");
	assert_string_equal(req.urls[1].url, "http://other.example/");
	assert_null(req.urls[1].ascii);
	api_request_clear(&req);
	/* A path in UTF-8 and the same path percent-encoded. */
	assert_int_equal(parse("http://a.test/caf\xc3\xa9\n"
	    "http://a.test/caf%C3%A9\n", "text/plain", &req, &code, &cause), 0);
	assert_int_equal(req.nurls, 1);
	assert_int_equal(req.nduplicates, 1);
	assert_string_equal(req.urls[0].url, "http://a.test/caf\xc3\xa9");
	assert_string_equal(req.urls[0].ascii, "http://a.test/caf%C3%A9");
	api_request_clear(&req);
}

/* A rejected URL is echoed back bounded, cut at a UTF-8 boundary. */
static void
test_rejected_echo(void **state)
{
	struct api_request req;
	const char *code;
	char *cause, *body, *url;
	size_t n = 5 << 20;

	(void)state;
	/* 5 MB of URL, its 256th byte inside a two-byte character. */
	url = malloc(n + 1);
	assert_non_null(url);
	memcpy(url, "ftp://a.test/", 13);
	memset(url + 13, 'a', n - 13);
	memcpy(url + 255, "\xc3\xa9", 2);
	url[n] = '\0';
	body = malloc(n + 2);
	assert_non_null(body);
	snprintf(body, n + 2, "%s\n", url);
	assert_int_equal(parse(body, "text/plain", &req, &code, &cause), 0);
	assert_int_equal(req.nrejected, 1);
	assert_true(req.rejected[0].truncated);
	assert_int_equal(strlen(req.rejected[0].url), 255);
	assert_memory_equal(req.rejected[0].url, url, 255);
	api_request_clear(&req);
	/* Short ones whole; bytes that are not UTF-8 as %XX. */
	assert_int_equal(parse("{\"urls\": [\"ftp://x/\xc3\xa9\"]}",
	    "application/json", &req, &code, &cause), 0);
	assert_int_equal(req.nrejected, 1);
	assert_string_equal(req.rejected[0].url, "ftp://x/\xc3\xa9");
	assert_false(req.rejected[0].truncated);
	api_request_clear(&req);
	assert_int_equal(parse("\xff\xc3ok\xc3\xa9\n", "text/plain", &req,
	    &code, &cause), 0);
	assert_int_equal(req.nrejected, 1);
	assert_string_equal(req.rejected[0].url, "%FF%C3ok\xc3\xa9");
	api_request_clear(&req);
	free(body);
	free(url);
}

static void
test_json(void **state)
{
	struct api_request req;
	const char *code;
	char *cause;

	(void)state;
	assert_int_equal(parse("{\"urls\": [\"http://a.test/1\", \"ftp://b/\", "
	    "42, \"https://c.test/\"], \"concurrency\": 4, \"timeout_ms\": 900}",
	    "application/json; charset=utf-8", &req, &code, &cause), 0);
	assert_int_equal(req.nurls, 2);
	assert_string_equal(req.urls[0].url, "http://a.test/1");
	assert_string_equal(req.urls[0].host, "a.test");
	assert_string_equal(req.urls[1].url, "https://c.test/");
	assert_int_equal(req.nrejected, 2);
	assert_int_equal(req.rejected[0].index, 1);
	assert_string_equal(req.rejected[0].url, "ftp://b/");
	assert_int_equal(req.rejected[1].index, 2);
	assert_null(req.rejected[1].url);
	assert_string_equal(req.rejected[1].reason, "not a string");
	assert_int_equal(req.opts.concurrency, 4);
	assert_int_equal(req.opts.timeout_ms, 900);
	api_request_clear(&req);
}

static void
test_json_errors(void **state)
{
	static const struct {
		const char	*body;
		const char	*code;
		const char	*msg;
	} cases[] = {
		{ "{\"urls\": [", "invalid_json", "invalid JSON at line 1" },
		{ "", "invalid_json", "invalid JSON" },
		{ "[\"http://a/\"]", "invalid_request", "JSON object" },
		{ "{}", "invalid_request", "\"urls\" is required" },
		{ "{\"urls\": \"http://a/\"}", "invalid_request",
		    "must be an array" },
		{ "{\"urls\": [], \"colour\": 1}", "invalid_request",
		    "unknown field \"colour\"" },
		{ "{\"urls\": [], \"timeout_ms\": \"5s\"}", "invalid_request",
		    "\"timeout_ms\" must be an integer" },
		{ "{\"urls\": [], \"urls\": []}", "invalid_json", "duplicate" },
	};
	struct api_request req;
	const char *code;
	char *cause;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].body, "application/json", &req, &code,
		    &cause) == 0)
			fail_msg("case %zu accepted", i);
		assert_string_equal(code, cases[i].code);
		if (strstr(cause, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, cause,
			    cases[i].msg);
		free(cause);
	}
}

static void
test_text(void **state)
{
	struct api_request req;
	const char *code;
	char *cause;

	(void)state;
	assert_int_equal(parse("# my list\r\nhttp://a.test/1\r\n\r\n"
	    "   https://b.test/2   \n\nnot a url\nhttp://c.test/3", "text/plain",
	    &req, &code, &cause), 0);
	assert_int_equal(req.nurls, 3);
	assert_string_equal(req.urls[0].url, "http://a.test/1");
	assert_string_equal(req.urls[1].url, "https://b.test/2");
	assert_string_equal(req.urls[2].url, "http://c.test/3");
	assert_int_equal(req.nrejected, 1);
	assert_int_equal(req.rejected[0].index, 2);
	assert_string_equal(req.rejected[0].url, "not a url");
	api_request_clear(&req);

	/* No Content-Type: sniffed. */
	assert_int_equal(parse("http://a.test/\n", NULL, &req, &code, &cause),
	    0);
	assert_int_equal(req.nurls, 1);
	api_request_clear(&req);
	assert_int_equal(parse(" {\"urls\":[\"http://a.test/\"]}", NULL, &req,
	    &code, &cause), 0);
	assert_int_equal(req.nurls, 1);
	api_request_clear(&req);
	/* What curl -d sends unless told otherwise. */
	assert_int_equal(parse("{\"urls\":[\"http://a.test/\"]}",
	    "application/x-www-form-urlencoded", &req, &code, &cause), 0);
	assert_int_equal(req.nurls, 1);
	api_request_clear(&req);
}

static void
test_dedupe(void **state)
{
	struct api_request req;
	const char *code;
	char *cause;

	(void)state;
	assert_int_equal(parse("http://b.test/1\nHTTP://B.TEST:80/1#top\n"
	    "http://a.test/\nhttp://b.test/1\nhttp://a.test\n"
	    "http://c.test/\n", "text/plain", &req, &code, &cause), 0);
	assert_int_equal(req.nurls, 3);
	assert_int_equal(req.nduplicates, 3);
	/* Kept in submission order, first spelling's canonical form. */
	assert_string_equal(req.urls[0].url, "http://b.test/1");
	assert_string_equal(req.urls[1].url, "http://a.test/");
	assert_string_equal(req.urls[2].url, "http://c.test/");
	api_request_clear(&req);
}

static void
test_job_options(void **state)
{
	struct api_request req;
	const char *code;
	char *cause;

	(void)state;
	assert_int_equal(parse("{\"urls\":[\"http://a.test/\"],"
	    "\"method\":\"HEAD\",\"priority\":5,\"max_attempts\":4,"
	    "\"per_host_concurrency\":2,\"per_host_delay_ms\":250,"
	    "\"obey_robots\":true,\"autothrottle\":false,"
	    "\"headers\":{\"X-Token\":\"abc\",\"Accept\":\"text/html\"},"
	    "\"proxy\":\"socks5h://127.0.0.1:1080\"}", "application/json",
	    &req, &code, &cause), 0);
	assert_int_equal(req.opts.method, JOB_METHOD_HEAD);
	assert_int_equal(req.opts.priority, 5);
	assert_int_equal(req.opts.max_attempts, 4);
	assert_int_equal(req.opts.per_host_concurrency, 2);
	assert_int_equal(req.opts.per_host_delay_ms, 250);
	assert_int_equal(req.opts.obey_robots, 1);
	assert_int_equal(req.opts.autothrottle, 0);
	assert_string_equal(req.opts.headers,
	    "X-Token: abc\nAccept: text/html");
	assert_string_equal(req.opts.proxy, "socks5h://127.0.0.1:1080");
	api_request_clear(&req);

	static const struct {
		const char *body;
		const char *msg;
	} bad[] = {
		{ "{\"urls\":[],\"method\":\"POST\"}", "\"method\"" },
		{ "{\"urls\":[],\"headers\":{\"Bad Name\":\"x\"}}",
		    "\"Bad Name\"" },
		{ "{\"urls\":[],\"headers\":{\"X\":\"a\\r\\nB: c\"}}",
		    "\"headers\"" },
		{ "{\"urls\":[],\"headers\":[\"X: y\"]}", "\"headers\"" },
		{ "{\"urls\":[],\"proxy\":\"ftp://p:21\"}", "\"proxy\"" },
		{ "{\"urls\":[],\"max_attempts\":0}", "\"max_attempts\"" },
		{ "{\"urls\":[],\"priority\":1.5}", "\"priority\"" },
		{ "{\"urls\":[],\"obey_robots\":\"yes\"}", "\"obey_robots\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i].body, "application/json", &req, &code,
		    &cause) == 0)
			fail_msg("case %zu accepted", i);
		assert_string_equal(code, "invalid_request");
		if (strstr(cause, bad[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks %s", i, cause,
			    bad[i].msg);
		free(cause);
	}
}

static void
test_limits(void **state)
{
	static const struct api_limits tight = { 3, 24 };
	struct api_request req;
	const char *code;
	char *cause = NULL;
	const char *four = "{\"urls\":[\"http://a/1\",\"http://a/2\","
	    "\"http://a/3\",\"http://a/4\"]}";

	(void)state;
	assert_int_equal(api_request_parse(four, strlen(four), NULL, &tight,
	    &req, &code, &cause), -1);
	assert_string_equal(code, "too_many_urls");
	assert_non_null(strstr(cause, "max_urls_per_job"));
	free(cause);
	assert_int_equal(api_request_parse("http://a/1\nhttp://a/2\n"
	    "http://a/3\nhttp://a/4\n", 44, "text/plain", &tight, &req, &code,
	    &cause), -1);
	assert_string_equal(code, "too_many_urls");
	free(cause);
	assert_int_equal(api_request_parse("http://a.test/short\n"
	    "http://a.test/much-too-long-for-it\n", 55, "text/plain", &tight,
	    &req, &code, &cause), 0);
	assert_int_equal(req.nurls, 1);
	assert_int_equal(req.nrejected, 1);
	assert_non_null(strstr(req.rejected[0].reason, "longer than 24"));
	api_request_clear(&req);
	/* Deep nesting, invalid UTF-8 and escaped NULs are invalid JSON. */
	{
		char deep[5000];

		memset(deep, '[', sizeof(deep) - 1);
		deep[sizeof(deep) - 1] = '\0';
		assert_int_equal(parse(deep, "application/json", &req, &code,
		    &cause), -1);
		assert_string_equal(code, "invalid_json");
		free(cause);
	}
	assert_int_equal(parse("{\"urls\":[\"http://a/\xff\"]}",
	    "application/json", &req, &code, &cause), -1);
	assert_string_equal(code, "invalid_json");
	free(cause);
	assert_int_equal(parse("{\"urls\":[\"http://a/\\u0000x\"]}",
	    "application/json", &req, &code, &cause), -1);
	assert_string_equal(code, "invalid_json");
	free(cause);
}

static void
test_text_errors(void **state)
{
	struct api_request req;
	const char *code;
	char *cause = NULL;

	(void)state;
	assert_int_equal(api_request_parse("http://a/\0x", 11, "text/plain",
	    &limits, &req, &code, &cause), -1);
	assert_string_equal(code, "invalid_request");
	assert_non_null(strstr(cause, "NUL"));
	free(cause);
	assert_int_equal(parse("<urls/>", "application/xml", &req, &code,
	    &cause), -1);
	assert_string_equal(code, "unsupported_media_type");
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_check),
		cmocka_unit_test(test_url_idn),
		cmocka_unit_test(test_dedupe_idn),
		cmocka_unit_test(test_rejected_echo),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_errors),
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_job_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
