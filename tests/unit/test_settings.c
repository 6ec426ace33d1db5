/* Unit tests for the settings table (conf/settings.def): every row is
 * consistent, a job's field overrides the daemon's value, and a reload
 * keeps what needs a restart. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "job/job.h"

/* Each row: its default parses, its fields are where its scope says. */
static void
test_rows(void **state)
{
	const struct conf_setting *d;
	struct conf c;
	size_t i, n = 0;

	(void)state;
	assert_int_equal(conf_init(&c), 0);
	for (i = 0; (d = conf_setting_at(i)) != NULL; i++) {
		assert_non_null(d->summary);
		assert_true(strlen(d->summary) > 0);
		assert_int_equal(d->conf_off == CONF_NOFIELD,
		    d->scope == CONF_SCOPE_JOBONLY);
		assert_int_equal(d->job_off == CONF_NOFIELD,
		    d->scope == CONF_SCOPE_DAEMON);
		assert_ptr_equal(conf_setting_find(d->name), d);
		n += d->conf_off != CONF_NOFIELD;
	}
	assert_int_equal(n, conf_nkeys());
	conf_clear(&c);
}

/* Every job row takes its range as a job field and refuses beyond it. */
static void
test_job_rows(void **state)
{
	const struct conf_setting *d;
	struct job_opts o;
	char *cause = NULL;
	json_t *v;
	size_t i;

	(void)state;
	job_opts_init(&o);
	for (i = 0; (d = conf_setting_at(i)) != NULL; i++) {
		if (d->job_off == CONF_NOFIELD || d->type != CONF_INT)
			continue;
		v = json_integer(d->max);
		assert_int_equal(job_opts_set(&o, d->name, v, &cause), 0);
		json_decref(v);
		v = json_integer(d->max + 1);
		assert_int_equal(job_opts_set(&o, d->name, v, &cause), -1);
		assert_non_null(strstr(cause, d->name));
		free(cause);
		cause = NULL;
		json_decref(v);
	}
	/* A daemon-only key is not a job field. */
	v = json_integer(1);
	assert_int_equal(job_opts_set(&o, "batch_size", v, &cause), -1);
	assert_string_equal(cause, "unknown field \"batch_size\"");
	free(cause);
	json_decref(v);
	job_opts_clear(&o);
}

static void
test_effective(void **state)
{
	struct conf c;
	struct job_opts o;

	(void)state;
	assert_int_equal(conf_init(&c), 0);
	job_opts_init(&o);
	assert_int_equal(conf_eff(&c, &o, timeout_ms), 30000);
	assert_string_equal(conf_eff(&c, &o, user_agent), c.user_agent);
	o.timeout_ms = 1500;
	o.user_agent = strdup("bot/2");
	assert_int_equal(conf_eff(&c, &o, timeout_ms), 1500);
	assert_string_equal(conf_eff(&c, &o, user_agent), "bot/2");
	/* 0 is a value, not "unset". */
	o.max_redirects = 0;
	assert_int_equal(conf_eff(&c, &o, max_redirects), 0);
	job_opts_clear(&o);
	conf_clear(&c);
}

/* A reload keeps the running value of every RESTART key. */
static void
test_keep_restart(void **state)
{
	struct conf *run, *next;
	char *cause = NULL;

	(void)state;
	run = conf_create();
	next = conf_create();
	assert_non_null(run);
	assert_non_null(next);
	assert_int_equal(conf_set(next, "port", "9999", &cause), 0);
	assert_int_equal(conf_set(next, "db", "/tmp/other.db", &cause), 0);
	assert_int_equal(conf_set(next, "concurrency", "7", &cause), 0);
	assert_int_equal(conf_keep_restart(next, run), 0);
	assert_int_equal(next->port, run->port);
	assert_string_equal(next->db, run->db);
	assert_int_equal(next->concurrency, 7);
	conf_unref(conf_ref(next));
	assert_int_equal(next->concurrency, 7);	/* still referenced */
	conf_unref(next);
	conf_unref(run);
}

/* The guard follows block_private_addresses; a bad list is refused. */
static void
test_guard(void **state)
{
	struct conf c;
	char *cause = NULL;

	(void)state;
	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_validate(&c, &cause), 0);
	assert_non_null(conf_guard(&c));
	assert_int_equal(conf_set(&c, "block_private_addresses", "false",
	    &cause), 0);
	assert_int_equal(conf_validate(&c, &cause), 0);
	assert_null(conf_guard(&c));
	assert_int_equal(conf_set(&c, "allowed_networks", "10.0.0.0/99",
	    &cause), 0);
	assert_int_equal(conf_validate(&c, &cause), -1);
	assert_non_null(strstr(cause, "allowed_networks"));
	free(cause);
	conf_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_job_rows),
		cmocka_unit_test(test_effective),
		cmocka_unit_test(test_keep_restart),
		cmocka_unit_test(test_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
