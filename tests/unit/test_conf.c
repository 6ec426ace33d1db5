/* Unit tests for conf/: parsing, ranges, file errors with line numbers,
 * and the documented example file staying in step with the table. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/harvestd-conf-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_defaults(void **state)
{
	struct conf c;

	(void)state;
	assert_int_equal(conf_init(&c), 0);
	assert_string_equal(c.db, "./harvestd.db");
	assert_string_equal(c.listen, "127.0.0.1");
	assert_int_equal(c.port, 8080);
	assert_int_equal(c.concurrency, 64);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	assert_int_equal(c.follow_redirects, 1);
	conf_clear(&c);
}

static void
test_set_ranges(void **state)
{
	struct conf c;
	char *cause = NULL;

	(void)state;
	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_set(&c, "port", "9000", &cause), 0);
	assert_int_equal(c.port, 9000);
	assert_int_equal(conf_set(&c, "port", "65536", &cause), -1);
	assert_non_null(strstr(cause, "port"));
	free(cause);
	assert_int_equal(conf_set(&c, "concurrency", "0", &cause), -1);
	free(cause);
	assert_int_equal(conf_set(&c, "concurrency", "12abc", &cause), -1);
	free(cause);
	assert_int_equal(conf_set(&c, "concurrency", "", &cause), -1);
	free(cause);
	assert_int_equal(conf_set(&c, "follow_redirects", "no", &cause), 0);
	assert_int_equal(c.follow_redirects, 0);
	assert_int_equal(conf_set(&c, "follow_redirects", "maybe", &cause),
	    -1);
	free(cause);
	assert_int_equal(conf_set(&c, "log_level", "debug", &cause), 0);
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(conf_set(&c, "log_level", "loud", &cause), -1);
	free(cause);
	assert_int_equal(conf_set(&c, "nonsense", "1", &cause), -1);
	assert_non_null(strstr(cause, "unknown key"));
	free(cause);
	conf_clear(&c);
}

static void
test_load_file(void **state)
{
	struct conf c;
	char *cause = NULL;
	char *path = write_tmp("; comment\nport = 9191\nconcurrency=7\n"
	    "db = /tmp/x.db\n");

	(void)state;
	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_load(&c, path, &cause), 0);
	assert_int_equal(c.port, 9191);
	assert_int_equal(c.concurrency, 7);
	assert_string_equal(c.db, "/tmp/x.db");
	conf_clear(&c);
	unlink(path);
	free(path);
}

static void
test_load_errors(void **state)
{
	struct conf c;
	char *cause = NULL, *path, expect[128];

	(void)state;
	path = write_tmp("port = 9191\n\nconcurrency = lots\n");
	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_load(&c, path, &cause), -1);
	snprintf(expect, sizeof(expect), "%s:3: concurrency", path);
	assert_non_null(strstr(cause, expect));
	free(cause);
	conf_clear(&c);
	unlink(path);
	free(path);

	path = write_tmp("[weird]\nport = 1\n");
	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_load(&c, path, &cause), -1);
	assert_non_null(strstr(cause, "unknown section"));
	free(cause);
	conf_clear(&c);
	unlink(path);
	free(path);

	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_load(&c, "/nonexistent/harvestd.conf", &cause),
	    -1);
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
	conf_clear(&c);
}

static void
test_validate(void **state)
{
	struct conf c;
	char *cause = NULL;

	(void)state;
	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_validate(&c, &cause), 0);
	c.window_size = 10;
	c.concurrency = 20;
	assert_int_equal(conf_validate(&c, &cause), -1);
	assert_non_null(strstr(cause, "window_size"));
	free(cause);
	conf_clear(&c);
}

/* Reads a file of the source tree (at most 64 KiB) into a new string. */
static char *
read_source(const char *rel)
{
	char path[1024], *text;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", HARVESTD_SRCDIR, rel);
	fp = fopen(path, "r");
	assert_non_null(fp);
	text = calloc(1, 65536);
	assert_non_null(text);
	assert_true(fread(text, 1, 65535, fp) > 0);
	fclose(fp);
	return text;
}

/* Fails unless every key appears in rel as the printf format says. */
static void
check_documented(const char *rel, const char *format)
{
	char *text = read_source(rel), line[256];
	size_t i;

	for (i = 0; i < conf_nkeys(); i++) {
		snprintf(line, sizeof(line), format, conf_key_name(i));
		if (strstr(text, line) == NULL)
			fail_msg("key %s is not documented in %s",
			    conf_key_name(i), rel);
	}
	free(text);
}

/*
 * etc/harvestd.conf documents every key with its default value, and so do
 * harvestd.conf(5) and docs/configuration.md (man/mkconfman.py).
 */
static void
test_example_file(void **state)
{
	struct conf c, d;
	char *cause = NULL, *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	FILE *ma, *mb;

	(void)state;
	check_documented("etc/harvestd.conf", "\n%s =");
	check_documented("man/harvestd.conf.5", "\n.B %s\n");
	check_documented("docs/configuration.md", "\n| `%s` |");
	assert_int_equal(conf_init(&c), 0);
	assert_int_equal(conf_init(&d), 0);
	assert_int_equal(conf_load(&c, HARVESTD_SRCDIR "/etc/harvestd.conf",
	    &cause), 0);
	ma = open_memstream(&a, &alen);
	mb = open_memstream(&b, &blen);
	conf_print(&c, ma);
	conf_print(&d, mb);
	fclose(ma);
	fclose(mb);
	/* The file shows exactly the built-in defaults. */
	assert_string_equal(a, b);
	free(a);
	free(b);
	conf_clear(&c);
	conf_clear(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_set_ranges),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_example_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
