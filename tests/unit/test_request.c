/* Unit tests for api/request.c: submission parsing and URL validation. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"

static int
parse(const char *body, const char *ctype, struct api_request *req,
    const char **code, char **cause)
{
	*cause = NULL;
	return api_request_parse(body, strlen(body), ctype, req, code, cause);
}

static void
test_url_check(void **state)
{
	static const struct {
		const char	*url;
		const char	*host;		/* NULL: rejected */
		const char	*reason;	/* substring of the reason */
	} cases[] = {
		{ "http://example.com/", "example.com", NULL },
		{ "https://Example.COM:8443/a?b=c#frag", "Example.COM", NULL },
		{ "HTTP://127.0.0.1:9/x", "127.0.0.1", NULL },
		{ "http://[::1]:8080/", "[::1]", NULL },
		{ "ftp://example.com/file", NULL, "not http or https" },
		{ "file:///etc/passwd", NULL, "" },
		{ "gopher://x/", NULL, "" },
		{ "example.com/no-scheme", NULL, "" },
		{ "http://", NULL, "" },
		{ "http://exa mple.com/", NULL, "" },
		{ "", NULL, "" },
	};
	char *host, *reason;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = api_url_check(cases[i].url, &host, &reason);

		if (cases[i].host != NULL) {
			if (rc != 0)
				fail_msg("%s rejected: %s", cases[i].url, reason);
			assert_string_equal(host, cases[i].host);
			assert_null(reason);
		} else {
			if (rc == 0)
				fail_msg("%s accepted", cases[i].url);
			assert_null(host);
			assert_non_null(reason);
			assert_true(strlen(reason) > 0);
			assert_non_null(strstr(reason, cases[i].reason));
		}
		free(host);
		free(reason);
	}
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
test_text_errors(void **state)
{
	struct api_request req;
	const char *code;
	char *cause = NULL;

	(void)state;
	assert_int_equal(api_request_parse("http://a/\0x", 11, "text/plain",
	    &req, &code, &cause), -1);
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
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
