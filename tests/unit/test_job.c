/* Unit tests for job/: option validation, JSON round trip, kind names. */
#include "config.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job/job.h"

static void
test_opts_set(void **state)
{
	struct job_opts o;
	char *cause = NULL;
	json_t *v;

	(void)state;
	job_opts_init(&o);
	assert_int_equal(o.timeout_ms, JOB_UNSET);
	v = json_integer(1500);
	assert_int_equal(job_opts_set(&o, "timeout_ms", v, &cause), 0);
	assert_int_equal(o.timeout_ms, 1500);
	json_decref(v);

	v = json_string("fast");
	assert_int_equal(job_opts_set(&o, "timeout_ms", v, &cause), -1);
	assert_string_equal(cause, "field \"timeout_ms\" must be an integer");
	free(cause);
	json_decref(v);

	v = json_integer(0);
	assert_int_equal(job_opts_set(&o, "concurrency", v, &cause), -1);
	assert_non_null(strstr(cause, "between 1 and"));
	free(cause);
	json_decref(v);

	v = json_true();
	assert_int_equal(job_opts_set(&o, "follow_redirects", v, &cause), 0);
	assert_int_equal(o.follow_redirects, 1);
	assert_int_equal(job_opts_set(&o, "timeoutms", v, &cause), -1);
	assert_string_equal(cause, "unknown field \"timeoutms\"");
	free(cause);

	v = json_string("bot/1.0\r\nX-Evil: 1");
	assert_int_equal(job_opts_set(&o, "user_agent", v, &cause), -1);
	free(cause);
	json_decref(v);
	job_opts_clear(&o);
}

static void
test_opts_json_roundtrip(void **state)
{
	struct job_opts o, back, copy;
	char *cause = NULL, *text;
	json_t *obj;

	(void)state;
	job_opts_init(&o);
	o.concurrency = 3;
	o.max_redirects = 0;
	o.user_agent = strdup("ua/1");
	obj = job_opts_to_json(&o);
	assert_non_null(obj);
	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text,
	    "{\"concurrency\":3,\"max_redirects\":0,\"user_agent\":\"ua/1\"}");
	free(text);
	assert_int_equal(job_opts_from_json(&back, obj, &cause), 0);
	assert_int_equal(back.concurrency, 3);
	assert_int_equal(back.max_redirects, 0);
	assert_int_equal(back.timeout_ms, JOB_UNSET);
	assert_string_equal(back.user_agent, "ua/1");
	assert_int_equal(job_opts_copy(&copy, &back), 0);
	assert_string_equal(copy.user_agent, "ua/1");
	assert_ptr_not_equal(copy.user_agent, back.user_agent);
	json_decref(obj);
	job_opts_clear(&o);
	job_opts_clear(&back);
	job_opts_clear(&copy);
}

static void
test_kind_names(void **state)
{
	(void)state;
	assert_null(result_kind_name(RESULT_OK));
	assert_string_equal(result_kind_name(RESULT_DNS), "dns");
	assert_string_equal(result_kind_name(RESULT_TIMEOUT), "timeout");
	assert_string_equal(result_kind_name(RESULT_HTTP_STATUS),
	    "http_status");
	assert_string_equal(result_kind_name(RESULT_TOO_MANY_REDIRECTS),
	    "too_many_redirects");
	assert_string_equal(result_kind_name(RESULT_BLOCKED_ADDRESS),
	    "blocked_address");
	assert_string_equal(result_kind_name(RESULT_KIND_MAX), "internal");
	assert_string_equal(result_task_state(RESULT_OK), "done");
	assert_string_equal(result_task_state(RESULT_CANCELLED), "cancelled");
	assert_string_equal(result_task_state(RESULT_TIMEOUT), "failed");
}

static void
test_result_new_error(void **state)
{
	struct task *t = task_new(7, 3, "http://x/", "x", 2);
	struct result *r;

	(void)state;
	assert_non_null(t);
	r = result_new_error(t, RESULT_CANCELLED, "gone %d", 5);
	assert_non_null(r);
	assert_int_equal(r->task_id, 7);
	assert_int_equal(r->job_id, 3);
	assert_int_equal(r->attempts, 3);
	assert_string_equal(r->url, "http://x/");
	assert_string_equal(r->error_message, "gone 5");
	assert_int_equal(r->content_length, -1);
	result_free(r);
	task_free(t);
}

/* The request form of a URL: punycode host, non-ASCII path encoded. */
static void
test_url_ascii(void **state)
{
	static const struct {
		const char	*url;
		const char	*ascii;		/* NULL: ASCII already */
	} cases[] = {
		{ "http://example.com/a?b=c", NULL },
		{ "http://xn--bcher-kva.example/", NULL },
		{ "http://b\xc3\xbc" "cher.example/", "http://xn--bcher-kva.example/" },
		{ "https://b\xc3\xbc" "cher.example:8443/x?y=1",
		    "https://xn--bcher-kva.example:8443/x?y=1" },
		{ "http://a.test/\xc3\xa9?q=\xc3\xbc", "http://a.test/%C3%A9?q=%C3%BC" },
		{ "http://\xe2\x98\x83.net/caf\xc3\xa9%2f",
		    "http://xn--n3h.net/caf%C3%A9%2F" },
	};
	char *ascii;
	size_t i;

	(void)state;
	/* libidn2 reads names in the locale's charset (as in harvestd). */
	assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (job_url_ascii(cases[i].url, &ascii) != 0)
			fail_msg("case %zu refused", i);
		if (cases[i].ascii == NULL)
			assert_null(ascii);
		else {
			assert_non_null(ascii);
			assert_string_equal(ascii, cases[i].ascii);
		}
		free(ascii);
	}
	/* Not an IDNA name (a lone continuation byte). */
	assert_int_equal(job_url_ascii("http://b\x80z.test/", &ascii), -1);
	assert_null(ascii);
	assert_true(job_is_ascii("http://a/"));
	assert_false(job_is_ascii("http://\xc3\xa9/"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts_set),
		cmocka_unit_test(test_opts_json_roundtrip),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_result_new_error),
		cmocka_unit_test(test_url_ascii),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
