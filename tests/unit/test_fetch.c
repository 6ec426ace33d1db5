/* Unit tests for fetch/: the CURLcode + HTTP status -> error kind table. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "fetch/fetch.h"

static void
test_classify(void **state)
{
	static const struct {
		CURLcode		code;
		long			status;
		int			too_large;
		enum result_kind	kind;
		const char		*url;	/* where it ended; NULL: http */
	} cases[] = {
		{ CURLE_OK, 200, 0, RESULT_OK, NULL },
		{ CURLE_OK, 204, 0, RESULT_OK, NULL },
		{ CURLE_OK, 304, 0, RESULT_OK, NULL },
		{ CURLE_OK, 399, 0, RESULT_OK, NULL },
		{ CURLE_OK, 400, 0, RESULT_HTTP_STATUS, NULL },
		{ CURLE_OK, 404, 0, RESULT_HTTP_STATUS, NULL },
		{ CURLE_OK, 503, 0, RESULT_HTTP_STATUS, NULL },
		{ CURLE_OK, 200, 1, RESULT_TOO_LARGE, NULL },
		{ CURLE_WRITE_ERROR, 200, 1, RESULT_TOO_LARGE, NULL },
		{ CURLE_WRITE_ERROR, 200, 0, RESULT_INTERNAL, NULL },
		{ CURLE_FILESIZE_EXCEEDED, 200, 0, RESULT_TOO_LARGE, NULL },
		{ CURLE_COULDNT_RESOLVE_HOST, 0, 0, RESULT_DNS, NULL },
		{ CURLE_COULDNT_RESOLVE_PROXY, 0, 0, RESULT_DNS, NULL },
		{ CURLE_COULDNT_CONNECT, 0, 0, RESULT_CONNECT, NULL },
		{ CURLE_RECV_ERROR, 200, 0, RESULT_CONNECT, NULL },
		{ CURLE_GOT_NOTHING, 0, 0, RESULT_CONNECT, NULL },
		{ CURLE_PARTIAL_FILE, 200, 0, RESULT_CONNECT, NULL },
		{ CURLE_OPERATION_TIMEDOUT, 0, 0, RESULT_TIMEOUT, NULL },
		{ CURLE_OPERATION_TIMEDOUT, 200, 0, RESULT_TIMEOUT, NULL },
		{ CURLE_SSL_CONNECT_ERROR, 0, 0, RESULT_TLS, NULL },
		{ CURLE_PEER_FAILED_VERIFICATION, 0, 0, RESULT_TLS, NULL },
		{ CURLE_TOO_MANY_REDIRECTS, 302, 0, RESULT_TOO_MANY_REDIRECTS, NULL },
		{ CURLE_UNSUPPORTED_PROTOCOL, 302, 0, RESULT_INVALID_URL,
		    "ftp://h.test/x" },
		{ CURLE_UNSUPPORTED_PROTOCOL, 0, 0, RESULT_PROTOCOL, NULL },
		/* HTTP/0.9 after a redirect: the last status is the 302. */
		{ CURLE_UNSUPPORTED_PROTOCOL, 302, 0, RESULT_PROTOCOL,
		    "http://h.test/next" },
		{ CURLE_OUT_OF_MEMORY, 200, 0, RESULT_PROTOCOL, NULL },
		{ CURLE_URL_MALFORMAT, 0, 0, RESULT_INVALID_URL, NULL },
		{ CURLE_WEIRD_SERVER_REPLY, 0, 0, RESULT_PROTOCOL, NULL },
		{ CURLE_BAD_CONTENT_ENCODING, 200, 0, RESULT_PROTOCOL, NULL },
		{ CURLE_ABORTED_BY_CALLBACK, 0, 0, RESULT_CANCELLED, NULL },
		{ CURLE_OUT_OF_MEMORY, 0, 0, RESULT_INTERNAL, NULL },
		{ CURLE_FAILED_INIT, 0, 0, RESULT_INTERNAL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum result_kind got = fetch_classify(cases[i].code,
		    cases[i].status, cases[i].too_large, cases[i].url);

		if (got != cases[i].kind)
			fail_msg("case %zu: CURLcode %d status %ld: got %d, "
			    "want %d", i, (int)cases[i].code, cases[i].status,
			    (int)got, (int)cases[i].kind);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
