/*
 * log: owns the process-wide log level and the format of every log line.
 * Lines are formatted into one buffer and written with a single write(2)
 * so lines from the loop, store and API threads never interleave.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"

static _Atomic int log_level = LOG_LEVEL_INFO;
static int log_journal;	/* stderr is the journal: use <N> prefixes */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int level_syslog[] = { 3, 4, 6, 7 };

void
log_init(enum log_level level)
{
	log_set_level(level);
	/* systemd sets JOURNAL_STREAM when stderr is connected to journald. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

int
log_level_parse(const char *name, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[level];
}

static void
log_vwrite(enum log_level level, const char *suffix, const char *fmt,
    va_list ap)
{
	char line[4096];
	size_t off = 0;
	int n;

	if ((int)level > atomic_load(&log_level))
		return;
	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>", level_syslog[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	}
	if (n > 0)
		off = (size_t)n;
	n = snprintf(line + off, sizeof(line) - off, "harvestd[%s]: ",
	    level_names[level]);
	if (n > 0 && (size_t)n < sizeof(line) - off)
		off += (size_t)n;
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	if (n > 0)
		off += (size_t)n;
	if (off >= sizeof(line) - 1)
		off = sizeof(line) - 2;
	if (suffix != NULL) {
		n = snprintf(line + off, sizeof(line) - off, ": %s", suffix);
		if (n > 0)
			off += (size_t)n;
		if (off >= sizeof(line) - 1)
			off = sizeof(line) - 2;
	}
	line[off++] = '\n';
	/* Best effort: there is nowhere to report a failed log write. */
	if (write(STDERR_FILENO, line, off) < 0)
		return;
}

#define LOG_BODY(level, suffix) do {			\
	int saved = errno;				\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_vwrite((level), (suffix), fmt, ap);		\
	va_end(ap);					\
	errno = saved;					\
} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, strerror(errno));
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, NULL);
}

void
log_errorx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, NULL);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, strerror(errno));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, NULL);
	exit(1);
}

char *
log_escape(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	const unsigned char *s;

	if (dstlen == 0)
		return dst;
	for (s = (const unsigned char *)src; *s != '\0'; s++) {
		if (*s >= 0x20 && *s < 0x7f && *s != '\\') {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)*s;
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*s >> 4];
			dst[o++] = hex[*s & 0xf];
		}
	}
	dst[o] = '\0';
	return dst;
}
