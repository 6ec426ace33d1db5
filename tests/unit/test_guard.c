/* Unit tests for guard/: blocked ranges, mapped forms, allowed networks. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/guard.h"

static const char *
check(const struct guard *g, const char *addr)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return guard_check(g, (struct sockaddr *)&sin);
	}
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
	sin6.sin6_family = AF_INET6;
	return guard_check(g, (struct sockaddr *)&sin6);
}

static void
test_blocked(void **state)
{
	static const char *const blocked[] = {
		"127.0.0.1", "127.255.0.9", "10.0.0.1", "172.16.0.1",
		"172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"100.127.255.254", "0.0.0.0", "0.1.2.3", "224.0.0.1",
		"255.255.255.255", "::1", "::", "fc00::1", "fd12:3456::1",
		"fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
		"::ffff:10.1.2.3", "::127.0.0.1", "64:ff9b::7f00:1",
		"64:ff9b::a9fe:a9fe",
	};
	static const char *const open[] = {
		"93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1",
		"100.128.0.1", "169.255.0.1", "2606:4700::1111",
		"::ffff:93.184.216.34", "64:ff9b::808:808",
	};
	char *cause = NULL;
	struct guard *g = guard_create("", &cause);
	size_t i;

	(void)state;
	assert_non_null(g);
	for (i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		if (check(g, blocked[i]) == NULL)
			fail_msg("%s was allowed", blocked[i]);
	for (i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		if (check(g, open[i]) != NULL)
			fail_msg("%s was blocked: %s", open[i],
			    check(g, open[i]));
	assert_string_equal(check(g, "127.0.0.1"), "loopback address");
	assert_string_equal(check(g, "::ffff:169.254.169.254"),
	    "link-local address (cloud metadata)");
	guard_free(g);
}

static void
test_allowed_networks(void **state)
{
	char *cause = NULL;
	struct guard *g = guard_create(" 127.0.0.2/32, 10.1.0.0/16 ,fd00::/8",
	    &cause);

	(void)state;
	assert_non_null(g);
	assert_null(check(g, "127.0.0.2"));
	assert_null(check(g, "::ffff:127.0.0.2"));
	assert_non_null(check(g, "127.0.0.1"));
	assert_null(check(g, "10.1.200.3"));
	assert_non_null(check(g, "10.2.0.1"));
	assert_null(check(g, "fd00::5"));
	assert_non_null(check(g, "fc00::5"));
	guard_free(g);
	assert_null(guard_create("10.0.0.0/33", &cause));
	assert_non_null(strstr(cause, "10.0.0.0/33"));
	free(cause);
	assert_null(guard_create("example.com", &cause));
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked),
		cmocka_unit_test(test_allowed_networks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
