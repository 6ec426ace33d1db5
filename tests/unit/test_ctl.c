/* Unit tests for ctl/: harvestctl's argument parsing and output. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/ctl.h"

static int
parse(struct ctl_opts *o, char **err, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"harvestctl";
	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return ctl_parse_args(argc, argv, o, err);
}

static void
test_parse(void **state)
{
	struct ctl_opts o;
	char *err = NULL, *text;

	(void)state;
	setenv("HARVESTD_URL", "http://env:1", 1);
	unsetenv("HARVESTD_TOKEN");
	assert_int_equal(parse(&o, &err, "submit", "urls.txt",
	    "--concurrency", "4", "--header", "X-A: b c", "--obey-robots",
	    "--method", "HEAD", "--wait", NULL), 0);
	assert_int_equal(o.cmd, CTL_SUBMIT);
	assert_string_equal(o.file, "urls.txt");
	assert_string_equal(o.url, "http://env:1");
	assert_null(o.token);
	assert_true(o.wait);
	text = json_dumps(o.job_options, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"concurrency\":4,\"headers\":{\"X-A\":"
	    "\"b c\"},\"method\":\"HEAD\",\"obey_robots\":true}");
	free(text);
	ctl_opts_clear(&o);

	setenv("HARVESTD_TOKEN", "tok", 1);
	assert_int_equal(parse(&o, &err, "--url", "http://x:2", "results", "7",
	    "--format", "csv", "--failed-only", NULL), 0);
	assert_int_equal(o.cmd, CTL_RESULTS);
	assert_int_equal(o.job_id, 7);
	assert_int_equal(o.format, CTL_CSV);
	assert_true(o.failed_only);
	assert_string_equal(o.url, "http://x:2");
	assert_string_equal(o.token, "tok");
	ctl_opts_clear(&o);
	unsetenv("HARVESTD_URL");
	unsetenv("HARVESTD_TOKEN");
	assert_int_equal(parse(&o, &err, "status", NULL), 0);
	assert_string_equal(o.url, "http://127.0.0.1:8080");
	ctl_opts_clear(&o);
}

static void
test_parse_retry(void **state)
{
	struct ctl_opts o;
	char *err = NULL;

	(void)state;
	assert_int_equal(parse(&o, &err, "retry", "12", "--wait", NULL), 0);
	assert_int_equal(o.cmd, CTL_RETRY);
	assert_int_equal(o.job_id, 12);
	assert_true(o.wait);
	ctl_opts_clear(&o);
	assert_int_equal(parse(&o, &err, "retry", NULL), -1);
	assert_string_equal(err, "retry needs a job id");
	free(err);
	ctl_opts_clear(&o);
}

static void
test_parse_errors(void **state)
{
	static const char *const cases[][4] = {
		{ NULL },
		{ "frobnicate", NULL },
		{ "wait", NULL },
		{ "wait", "abc", NULL },
		{ "results", "3", "--format", "xml" },
		{ "submit", "--concurrency", "many", NULL },
		{ "submit", "--header", "nocolon", NULL },
		{ "status", "extra", NULL },
	};
	struct ctl_opts o;
	char *err = NULL, *argv[8];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		argv[0] = (char *)"harvestctl";
		for (k = 0; k < 4 && cases[i][k] != NULL; k++)
			argv[k + 1] = (char *)cases[i][k];
		argv[k + 1] = NULL;
		if (ctl_parse_args((int)k + 1, argv, &o, &err) == 0)
			fail_msg("case %zu accepted", i);
		assert_non_null(err);
		free(err);
		err = NULL;
		ctl_opts_clear(&o);
	}
}

static void
test_build_submission(void **state)
{
	json_t *opts = json_pack("{s:i}", "concurrency", 3);
	char *err = NULL, *s;
	const char list[] = "# urls\nhttp://a/1\r\n\n  http://b/2  \n";
	const char job[] = "{\"urls\":[\"http://c/\"],\"concurrency\":9}";

	(void)state;
	s = ctl_build_submission(list, strlen(list), opts, &err);
	assert_string_equal(s, "{\"urls\":[\"http://a/1\",\"http://b/2\"],"
	    "\"concurrency\":3}");
	free(s);
	s = ctl_build_submission(job, strlen(job), opts, &err);
	assert_non_null(strstr(s, "\"concurrency\":3"));
	assert_non_null(strstr(s, "http://c/"));
	free(s);
	assert_null(ctl_build_submission("{nope", 5, opts, &err));
	assert_non_null(err);
	free(err);
	json_decref(opts);
}

static void
test_progress(void **state)
{
	char buf[256];

	(void)state;
	ctl_format_progress(buf, sizeof(buf), 50, 200, 3, 10.0, 10);
	assert_string_equal(buf,
	    "[###-------] 50/200  25%  3 failed  10.0/s  ETA 15s");
	ctl_format_progress(buf, sizeof(buf), 200, 200, 0, 0, 0);
	assert_string_equal(buf, " 200/200 100%  0 failed  0.0/s");
}

static void
test_csv(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);
	json_t *row = json_pack("{s:i,s:s,s:n,s:i,s:s,s:s,s:n,s:i,s:b,s:i,"
	    "s:f,s:i,s:s,s:s}", "id", 5, "url", "http://a/\"q\",x", "final_url",
	    "status", 404, "error_kind", "http_status", "error_message",
	    "HTTP status 404", "content_type", "body_size", 3, "truncated", 0,
	    "redirect_count", 0, "time_total_ms", 1.5, "attempts", 1,
	    "fetched_at", "2026-01-01T00:00:00.000Z", "body", "a\nb");

	(void)state;
	ctl_csv_header(fp, 1);
	ctl_csv_row(fp, row, 1);
	fclose(fp);
	assert_string_equal(out,
	    "id,url,final_url,status,error_kind,error_message,content_type,"
	    "body_size,truncated,redirect_count,time_total_ms,attempts,"
	    "fetched_at,body\n"
	    "5,\"http://a/\"\"q\"\",x\",,404,http_status,HTTP status 404,,3,0,"
	    "0,1.500,1,2026-01-01T00:00:00.000Z,\"a\nb\"\n");
	free(out);
	json_decref(row);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_retry),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_build_submission),
		cmocka_unit_test(test_progress),
		cmocka_unit_test(test_csv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
