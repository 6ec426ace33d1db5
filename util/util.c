/*
 * util: shared helpers (see util.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

char *
util_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

int
util_ids_append(struct util_ids *a, const int64_t *ids, size_t n)
{
	int64_t *v;
	size_t cap;

	if (a->n + n > a->cap) {
		cap = a->cap == 0 ? 16 : a->cap;
		while (cap < a->n + n)
			cap *= 2;
		if ((v = realloc(a->v, cap * sizeof(*v))) == NULL)
			return -1;
		a->v = v;
		a->cap = cap;
	}
	if (n > 0)
		memcpy(a->v + a->n, ids, n * sizeof(*ids));
	a->n += n;
	return 0;
}

int
util_ids_push(struct util_ids *a, int64_t id)
{
	return util_ids_append(a, &id, 1);
}

int
util_ids_has(const struct util_ids *a, int64_t id)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (a->v[i] == id)
			return 1;
	return 0;
}

void
util_ids_free(struct util_ids *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}

double
util_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct timespec
util_deadline(const struct timespec *from, int64_t ms)
{
	struct timespec ts;

	if (from != NULL)
		ts = *from;
	else
		clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int
util_passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	    (now.tv_sec == deadline->tv_sec &&
	    now.tv_nsec >= deadline->tv_nsec);
}
