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
	} cases[] = {
		{ CURLE_OK, 200, 0, RESULT_OK },
		{ CURLE_OK, 204, 0, RESULT_OK },
		{ CURLE_OK, 304, 0, RESULT_OK },
		{ CURLE_OK, 399, 0, RESULT_OK },
		{ CURLE_OK, 400, 0, RESULT_HTTP_STATUS },
		{ CURLE_OK, 404, 0, RESULT_HTTP_STATUS },
		{ CURLE_OK, 503, 0, RESULT_HTTP_STATUS },
		{ CURLE_OK, 200, 1, RESULT_TOO_LARGE },
		{ CURLE_WRITE_ERROR, 200, 1, RESULT_TOO_LARGE },
		{ CURLE_WRITE_ERROR, 200, 0, RESULT_INTERNAL },
		{ CURLE_FILESIZE_EXCEEDED, 200, 0, RESULT_TOO_LARGE },
		{ CURLE_COULDNT_RESOLVE_HOST, 0, 0, RESULT_DNS },
		{ CURLE_COULDNT_RESOLVE_PROXY, 0, 0, RESULT_DNS },
		{ CURLE_COULDNT_CONNECT, 0, 0, RESULT_CONNECT },
		{ CURLE_RECV_ERROR, 200, 0, RESULT_CONNECT },
		{ CURLE_GOT_NOTHING, 0, 0, RESULT_CONNECT },
		{ CURLE_PARTIAL_FILE, 200, 0, RESULT_CONNECT },
		{ CURLE_OPERATION_TIMEDOUT, 0, 0, RESULT_TIMEOUT },
		{ CURLE_OPERATION_TIMEDOUT, 200, 0, RESULT_TIMEOUT },
		{ CURLE_SSL_CONNECT_ERROR, 0, 0, RESULT_TLS },
		{ CURLE_PEER_FAILED_VERIFICATION, 0, 0, RESULT_TLS },
		{ CURLE_TOO_MANY_REDIRECTS, 302, 0, RESULT_TOO_MANY_REDIRECTS },
		{ CURLE_UNSUPPORTED_PROTOCOL, 302, 0, RESULT_INVALID_URL },
		{ CURLE_UNSUPPORTED_PROTOCOL, 0, 0, RESULT_PROTOCOL },
		{ CURLE_OUT_OF_MEMORY, 200, 0, RESULT_PROTOCOL },
		{ CURLE_URL_MALFORMAT, 0, 0, RESULT_INVALID_URL },
		{ CURLE_WEIRD_SERVER_REPLY, 0, 0, RESULT_PROTOCOL },
		{ CURLE_BAD_CONTENT_ENCODING, 200, 0, RESULT_PROTOCOL },
		{ CURLE_ABORTED_BY_CALLBACK, 0, 0, RESULT_CANCELLED },
		{ CURLE_OUT_OF_MEMORY, 0, 0, RESULT_INTERNAL },
		{ CURLE_FAILED_INIT, 0, 0, RESULT_INTERNAL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum result_kind got = fetch_classify(cases[i].code,
		    cases[i].status, cases[i].too_large);

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
