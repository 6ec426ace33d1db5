/*
 * log: leveled logging to stderr, one line per call, safe from any thread.
 * systemd's journal captures stderr; each line starts with a <N> syslog
 * priority prefix when stderr is the journal, so levels survive.
 */
#ifndef HARVESTD_LOG_H
#define HARVESTD_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/* log_warn appends strerror(errno); the x variants do not. errno is kept. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_errorx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

/*
 * Copies untrusted text (URLs, headers) into dst with control and non-ASCII
 * bytes escaped as \xNN, truncated to fit; returns dst.
 */
char *log_escape(char *dst, size_t dstlen, const char *src);

#endif
