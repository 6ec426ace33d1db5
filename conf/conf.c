/*
 * conf: owns the table of settings and their meaning. inih only splits
 * the file into key/value pairs; the table decides types, ranges and
 * defaults, so the file, the flags and --print-config cannot disagree.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "util/util.h"
#include "conf/conf.h"

enum conf_type { CONF_INT, CONF_BOOL, CONF_STRING, CONF_LOGLEVEL,
    CONF_SECRET };

struct conf_def {
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;
	int64_t		 min;
	int64_t		 max;
	const char	*def;
	const char	*help;
};

#define OFF(f) offsetof(struct conf, f)
static const struct conf_def conf_defs[] = {
	{ "db", CONF_STRING, OFF(db), 1, 4096, "./harvestd.db",
	  "SQLite database file (created if missing)" },
	{ "listen", CONF_STRING, OFF(listen), 1, 256, "127.0.0.1",
	  "API listen address (IPv4 or IPv6 literal)" },
	{ "port", CONF_INT, OFF(port), 0, 65535, "8080",
	  "API TCP port" },
	{ "concurrency", CONF_INT, OFF(concurrency), 1, 10000, "64",
	  "transfers in flight at once, over all jobs" },
	{ "log_level", CONF_LOGLEVEL, OFF(log_level), 0, 0, "info",
	  "error, warn, info or debug" },
	{ "connect_timeout_ms", CONF_INT, OFF(connect_timeout_ms), 1, 3600000,
	  "10000", "default connect timeout per request" },
	{ "timeout_ms", CONF_INT, OFF(timeout_ms), 1, 86400000, "30000",
	  "default total timeout per request" },
	{ "low_speed_limit", CONF_INT, OFF(low_speed_limit), 0, INT32_MAX,
	  "100", "abort a transfer slower than this many bytes/s ..." },
	{ "low_speed_time_ms", CONF_INT, OFF(low_speed_time_ms), 1000,
	  86400000, "15000", "... for this long (0 limit disables)" },
	{ "max_body_bytes", CONF_INT, OFF(max_body_bytes), 0, (int64_t)1 << 31,
	  "10485760", "bodies beyond this are cut and the result is too_large" },
	{ "max_redirects", CONF_INT, OFF(max_redirects), 0, 100, "10",
	  "redirects followed before too_many_redirects" },
	{ "follow_redirects", CONF_BOOL, OFF(follow_redirects), 0, 1, "true",
	  "follow HTTP redirects" },
	{ "user_agent", CONF_STRING, OFF(user_agent), 0, 1024,
	  "harvestd/" PACKAGE_VERSION, "default User-Agent header" },
	{ "max_request_bytes", CONF_INT, OFF(max_request_bytes), 1024,
	  (int64_t)1 << 31, "33554432", "largest API request body (413 beyond)" },
	{ "results_page_max", CONF_INT, OFF(results_page_max), 1, 100000,
	  "1000", "most results one GET .../results page returns" },
	{ "batch_size", CONF_INT, OFF(batch_size), 1, 100000, "256",
	  "results committed per transaction at most" },
	{ "batch_interval_ms", CONF_INT, OFF(batch_interval_ms), 1, 10000, "50",
	  "longest a finished result waits before its commit" },
	{ "busy_timeout_ms", CONF_INT, OFF(busy_timeout_ms), 0, 600000, "5000",
	  "SQLite busy timeout for each connection" },
	{ "window_size", CONF_INT, OFF(window_size), 0, 1000000, "0",
	  "tasks held in memory ahead of the fetcher (0: 4 x concurrency)" },
	{ "api_connection_timeout_s", CONF_INT, OFF(api_connection_timeout_s),
	  1, 3600, "30", "idle API connections are closed after this" },
	{ "api_connection_limit", CONF_INT, OFF(api_connection_limit), 1,
	  100000, "256", "API connections open at once" },
	{ "shutdown_grace_ms", CONF_INT, OFF(shutdown_grace_ms), 0, 3600000,
	  "10000", "on SIGTERM, how long transfers in flight may finish" },
	{ "retention_days", CONF_INT, OFF(retention_days), 0, 36500, "0",
	  "purge jobs finished this many days ago (0: keep forever)" },
	{ "wal_limit_bytes", CONF_INT, OFF(wal_limit_bytes), 1048576,
	  (int64_t)1 << 40, "67108864",
	  "WAL size kept after checkpoints; a warning past it" },
	{ "per_host_concurrency", CONF_INT, OFF(per_host_concurrency), 1, 1000,
	  "8", "transfers in flight to one host at once" },
	{ "per_host_delay_ms", CONF_INT, OFF(per_host_delay_ms), 0, 3600000,
	  "0", "least time between two request starts to one host" },
	{ "per_host_jitter_ms", CONF_INT, OFF(per_host_jitter_ms), 0, 3600000,
	  "0", "random extra delay, 0 to this, added to per_host_delay_ms" },
	{ "max_attempts", CONF_INT, OFF(max_attempts), 1, 100, "3",
	  "attempts for transient failures (timeout, connect, 408/429/5xx)" },
	{ "retry_backoff_ms", CONF_INT, OFF(retry_backoff_ms), 1, 3600000,
	  "1000", "first retry after about this; doubles each attempt" },
	{ "retry_backoff_max_ms", CONF_INT, OFF(retry_backoff_max_ms), 1,
	  86400000, "60000", "longest backoff between attempts" },
	{ "obey_robots", CONF_BOOL, OFF(obey_robots), 0, 1, "false",
	  "honour robots.txt (jobs may set obey_robots)" },
	{ "robots_ttl_s", CONF_INT, OFF(robots_ttl_s), 1, 604800, "86400",
	  "how long a fetched robots.txt is trusted" },
	{ "autothrottle", CONF_BOOL, OFF(autothrottle), 0, 1, "false",
	  "adapt per-host delays to latency (jobs may set autothrottle)" },
	{ "autothrottle_start_delay_ms", CONF_INT,
	  OFF(autothrottle_start_delay_ms), 0, 3600000, "1000",
	  "per-host delay an autothrottled host starts with" },
	{ "autothrottle_max_delay_ms", CONF_INT, OFF(autothrottle_max_delay_ms),
	  1, 3600000, "60000", "longest delay autothrottle backs off to" },
	{ "autothrottle_target_concurrency", CONF_INT,
	  OFF(autothrottle_target_concurrency), 1, 1000, "1",
	  "requests autothrottle aims to have in flight per host" },
	{ "api_per_ip_connection_limit", CONF_INT,
	  OFF(api_per_ip_connection_limit), 1, 100000, "32",
	  "API connections open at once from one client address" },
	{ "api_connection_memory_limit", CONF_INT,
	  OFF(api_connection_memory_limit), 8192, 16777216, "65536",
	  "memory one API connection may use for its request headers" },
	{ "max_urls_per_job", CONF_INT, OFF(max_urls_per_job), 1, 100000000,
	  "1000000", "URLs one submission may hold" },
	{ "max_url_length", CONF_INT, OFF(max_url_length), 16, 1048576, "8192",
	  "longest URL accepted, in bytes" },
	{ "api_token", CONF_SECRET, OFF(api_token), 0, 1024, "",
	  "when set, every route but /healthz needs Authorization: Bearer" },
	{ "allow_unauthenticated", CONF_BOOL, OFF(allow_unauthenticated), 0, 1,
	  "false", "allow a non-loopback listen address without api_token" },
	{ "block_private_addresses", CONF_BOOL, OFF(block_private_addresses), 0,
	  1, "true", "refuse connections to loopback, private, link-local, "
	  "CGNAT and other internal addresses" },
	{ "allowed_networks", CONF_STRING, OFF(allowed_networks), 0, 4096, "",
	  "CIDRs exempt from block_private_addresses, comma-separated" },
};
#undef OFF
#define NDEFS (sizeof(conf_defs) / sizeof(conf_defs[0]))

size_t
conf_nkeys(void)
{
	return NDEFS;
}

const char *
conf_key_name(size_t i)
{
	return i < NDEFS ? conf_defs[i].name : NULL;
}

const char *
conf_key_help(size_t i)
{
	return i < NDEFS ? conf_defs[i].help : NULL;
}

static const struct conf_def *
conf_find(const char *key)
{
	size_t i;

	for (i = 0; i < NDEFS; i++)
		if (strcmp(conf_defs[i].name, key) == 0)
			return &conf_defs[i];
	return NULL;
}

/* Parses a whole decimal number within [min, max] (strtonum-style). */
static int
conf_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno == ERANGE || v < min ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

static int
conf_parse_bool(const char *s, int64_t *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 ||
	    strcmp(s, "on") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 ||
	    strcmp(s, "off") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

int
conf_set(struct conf *c, const char *key, const char *value, char **cause)
{
	const struct conf_def *d;
	void *field;
	char *copy;

	if ((d = conf_find(key)) == NULL) {
		*cause = util_asprintf("unknown key \"%s\"", key);
		return -1;
	}
	field = (char *)c + d->offset;
	switch (d->type) {
	case CONF_INT:
		if (conf_parse_int(value, d->min, d->max, field) != 0) {
			*cause = util_asprintf("%s: \"%s\" is not a whole number "
			    "from %" PRId64 " to %" PRId64, key, value, d->min,
			    d->max);
			return -1;
		}
		return 0;
	case CONF_BOOL:
		if (conf_parse_bool(value, field) != 0) {
			*cause = util_asprintf("%s: \"%s\" is not true or false",
			    key, value);
			return -1;
		}
		return 0;
	case CONF_LOGLEVEL:
		if (log_level_parse(value, field) != 0) {
			*cause = util_asprintf("%s: \"%s\" is not one of error, "
			    "warn, info, debug", key, value);
			return -1;
		}
		return 0;
	case CONF_STRING:
	case CONF_SECRET:
		if (strlen(value) < (size_t)d->min ||
		    strlen(value) > (size_t)d->max) {
			*cause = util_asprintf("%s: length must be %" PRId64
			    " to %" PRId64, key, d->min, d->max);
			return -1;
		}
		if ((copy = strdup(value)) == NULL) {
			*cause = util_asprintf("out of memory");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	*cause = util_asprintf("%s: bad type", key);
	return -1;
}

int
conf_init(struct conf *c)
{
	char *cause = NULL;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NDEFS; i++) {
		if (conf_set(c, conf_defs[i].name, conf_defs[i].def,
		    &cause) != 0) {
			free(cause);
			conf_clear(c);
			return -1;
		}
	}
	return 0;
}

void
conf_clear(struct conf *c)
{
	size_t i;

	for (i = 0; i < NDEFS; i++) {
		if (conf_defs[i].type == CONF_STRING ||
		    conf_defs[i].type == CONF_SECRET) {
			char **p = (char **)(void *)((char *)c +
			    conf_defs[i].offset);
			free(*p);
			*p = NULL;
		}
	}
}

struct conf_load_ctx {
	struct conf	*conf;
	char		*cause;
};

/*
 * inih callback. Returning 0 marks the line as bad: ini_parse() then
 * returns the number of the first bad line, which makes "file:line".
 */
static int
conf_ini_cb(void *arg, const char *section, const char *name,
    const char *value)
{
	struct conf_load_ctx *ctx = arg;

	if (ctx->cause != NULL)
		return 1;
	if (section != NULL && *section != '\0') {
		ctx->cause = util_asprintf("unknown section [%s]", section);
		return 0;
	}
	if (conf_set(ctx->conf, name, value, &ctx->cause) != 0)
		return 0;
	return 1;
}

int
conf_load(struct conf *c, const char *path, char **cause)
{
	struct conf_load_ctx ctx = { c, NULL };
	int rc;

	rc = ini_parse(path, conf_ini_cb, &ctx);
	if (ctx.cause != NULL) {
		*cause = util_asprintf("%s:%d: %s", path, rc, ctx.cause);
		free(ctx.cause);
		return -1;
	}
	if (rc == -1) {
		*cause = util_asprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (rc != 0) {
		*cause = util_asprintf("%s:%d: syntax error", path, rc);
		return -1;
	}
	return 0;
}

int
conf_validate(const struct conf *c, char **cause)
{
	if (c->window_size != 0 && c->window_size < c->concurrency) {
		*cause = util_asprintf("window_size (%" PRId64 ") must be 0 or "
		    "at least concurrency (%" PRId64 ")", c->window_size,
		    c->concurrency);
		return -1;
	}
	return 0;
}

void
conf_print(const struct conf *c, FILE *fp)
{
	size_t i;

	for (i = 0; i < NDEFS; i++) {
		const void *field = (const char *)c + conf_defs[i].offset;

		fprintf(fp, "%s = ", conf_defs[i].name);
		switch (conf_defs[i].type) {
		case CONF_INT:
			fprintf(fp, "%" PRId64 "\n", *(const int64_t *)field);
			break;
		case CONF_BOOL:
			fprintf(fp, "%s\n", *(const int64_t *)field ? "true" :
			    "false");
			break;
		case CONF_LOGLEVEL:
			fprintf(fp, "%s\n",
			    log_level_name(*(const enum log_level *)field));
			break;
		case CONF_STRING:
			fprintf(fp, "%s\n", *(char *const *)field);
			break;
		case CONF_SECRET:
			/* Never echo a secret. */
			fprintf(fp, "%s\n", **(char *const *)field != '\0' ?
			    "(set)" : "");
			break;
		}
	}
}
