/*
 * util: shared helpers (see util.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

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
