/*
 * job: option validation (a table: name, field, range), the error-kind
 * names, and constructors/destructors for tasks and results.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "job/job.h"

#include <ctype.h>

#include <curl/curl.h>

enum opt_type { OPT_INT, OPT_BOOL, OPT_STRING, OPT_METHOD, OPT_HEADERS,
    OPT_PROXY, OPT_URL };

#define JOB_HEADERS_MAX	64

struct opt_def {
	const char	*name;
	enum opt_type	 type;
	size_t		 offset;
	int64_t		 min;
	int64_t		 max;	/* for strings: max length */
};

#define OFF(f) offsetof(struct job_opts, f)
static const struct opt_def opt_defs[] = {
	{ "concurrency", OPT_INT, OFF(concurrency), 1, 100000 },
	{ "timeout_ms", OPT_INT, OFF(timeout_ms), 1, 86400000 },
	{ "connect_timeout_ms", OPT_INT, OFF(connect_timeout_ms), 1, 3600000 },
	{ "low_speed_limit", OPT_INT, OFF(low_speed_limit), 0, INT32_MAX },
	{ "low_speed_time_ms", OPT_INT, OFF(low_speed_time_ms), 1000,
	    86400000 },
	{ "max_body_bytes", OPT_INT, OFF(max_body_bytes), 0,
	    (int64_t)1 << 31 },
	{ "max_redirects", OPT_INT, OFF(max_redirects), 0, 100 },
	{ "follow_redirects", OPT_BOOL, OFF(follow_redirects), 0, 1 },
	{ "user_agent", OPT_STRING, OFF(user_agent), 0, 1024 },
	{ "method", OPT_METHOD, OFF(method), 0, 1 },
	{ "priority", OPT_INT, OFF(priority), -1000, 1000 },
	{ "max_attempts", OPT_INT, OFF(max_attempts), 1, 100 },
	{ "per_host_concurrency", OPT_INT, OFF(per_host_concurrency), 1, 1000 },
	{ "per_host_delay_ms", OPT_INT, OFF(per_host_delay_ms), 0, 3600000 },
	{ "per_host_jitter_ms", OPT_INT, OFF(per_host_jitter_ms), 0, 3600000 },
	{ "obey_robots", OPT_BOOL, OFF(obey_robots), 0, 1 },
	{ "autothrottle", OPT_BOOL, OFF(autothrottle), 0, 1 },
	{ "headers", OPT_HEADERS, OFF(headers), 0, 8192 },
	{ "proxy", OPT_PROXY, OFF(proxy), 0, 2048 },
	{ "callback_url", OPT_URL, OFF(callback_url), 0, 2048 },
};
#undef OFF
#define NOPTS (sizeof(opt_defs) / sizeof(opt_defs[0]))

static int
opt_is_string(enum opt_type t)
{
	return t == OPT_STRING || t == OPT_HEADERS || t == OPT_PROXY ||
	    t == OPT_URL;
}

void
job_opts_init(struct job_opts *o)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < NOPTS; i++) {
		if (!opt_is_string(opt_defs[i].type))
			*(int64_t *)(void *)((char *)o + opt_defs[i].offset) =
			    JOB_UNSET;
	}
}

void
job_opts_clear(struct job_opts *o)
{
	free(o->user_agent);
	free(o->headers);
	free(o->proxy);
	free(o->callback_url);
	job_opts_init(o);
}

int
job_opts_copy(struct job_opts *dst, const struct job_opts *src)
{
	size_t i;

	*dst = *src;
	/* Detach every string first, so a failure frees only copies. */
	for (i = 0; i < NOPTS; i++)
		if (opt_is_string(opt_defs[i].type))
			*(char **)(void *)((char *)dst + opt_defs[i].offset) =
			    NULL;
	for (i = 0; i < NOPTS; i++) {
		char **d;
		char *const *sp;

		if (!opt_is_string(opt_defs[i].type))
			continue;
		d = (char **)(void *)((char *)dst + opt_defs[i].offset);
		sp = (char *const *)(const void *)((const char *)src +
		    opt_defs[i].offset);
		if (*sp != NULL && (*d = strdup(*sp)) == NULL) {
			job_opts_clear(dst);
			return -1;
		}
	}
	return 0;
}

static const struct opt_def *
opt_find(const char *key)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (strcmp(opt_defs[i].name, key) == 0)
			return &opt_defs[i];
	return NULL;
}

int
job_opts_known(const char *key)
{
	return opt_find(key) != NULL;
}

/* A one-line string of at most max bytes, without NUL. */
static int
job_set_string(char **field, const char *key, json_t *value, int64_t max,
    char **cause)
{
	const char *s;
	size_t len;
	char *copy;

	if (!json_is_string(value)) {
		*cause = util_asprintf("field \"%s\" must be a string", key);
		return -1;
	}
	s = json_string_value(value);
	len = json_string_length(value);
	if (len > (size_t)max || strlen(s) != len ||
	    strpbrk(s, "\r\n") != NULL) {
		*cause = util_asprintf("field \"%s\" must be one line of at most "
		    "%lld bytes", key, (long long)max);
		return -1;
	}
	if ((copy = strdup(s)) == NULL) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	free(*field);
	*field = copy;
	return 0;
}

/* An RFC 9110 token: a header name. */
static int
job_is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) &&
		    strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return 0;
	return 1;
}

/* {"Name": "value", ...} kept as "Name: value" lines. */
static int
job_set_headers(char **field, const char *key, json_t *value, char **cause)
{
	const char *name;
	json_t *v;
	char *text = NULL, *line;
	size_t n = 0, len = 0, add;

	if (!json_is_object(value)) {
		*cause = util_asprintf("field \"%s\" must be an object of header "
		    "names and string values", key);
		return -1;
	}
	json_object_foreach(value, name, v) {
		const char *val = json_is_string(v) ? json_string_value(v) :
		    NULL;

		if (!job_is_token(name) || val == NULL ||
		    strlen(val) != json_string_length(v) ||
		    strpbrk(val, "\r\n") != NULL) {
			*cause = util_asprintf("field \"%s\": header \"%s\" needs a "
			    "token name and a one-line string value", key,
			    name);
			goto fail;
		}
		if (++n > JOB_HEADERS_MAX || len + strlen(name) + strlen(val) +
		    4 > 8192) {
			*cause = util_asprintf("field \"%s\": at most %d headers and "
			    "8192 bytes", key, JOB_HEADERS_MAX);
			goto fail;
		}
		add = strlen(name) + strlen(val) + 3;
		if ((line = realloc(text, len + add + 1)) == NULL) {
			*cause = util_asprintf("out of memory");
			goto fail;
		}
		text = line;
		snprintf(text + len, add + 1, "%s%s: %s", len > 0 ? "\n" : "",
		    name, val);
		len += strlen(text + len);
	}
	free(*field);
	*field = text;
	return 0;
fail:
	free(text);
	return -1;
}

/* A URL of one of the schemes, with a host. */
static int
job_check_url(const char *url, const char *const *schemes, size_t nschemes)
{
	char *scheme = NULL, *host = NULL;
	CURLU *h;
	size_t i;
	int ok = 0;

	if ((h = curl_url()) == NULL)
		return -1;
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ==
	    CURLUE_OK &&
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		for (i = 0; i < nschemes; i++)
			if (strcmp(scheme, schemes[i]) == 0)
				ok = 1;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(h);
	return ok ? 0 : -1;
}

static const char *const proxy_schemes[] = { "http", "https", "socks4",
    "socks4a", "socks5", "socks5h" };
static const char *const http_schemes[] = { "http", "https" };

int
job_opts_set(struct job_opts *o, const char *key, json_t *value, char **cause)
{
	const struct opt_def *d;
	void *field;
	json_int_t v;

	if ((d = opt_find(key)) == NULL) {
		*cause = util_asprintf("unknown field \"%s\"", key);
		return -1;
	}
	field = (char *)o + d->offset;
	switch (d->type) {
	case OPT_INT:
		if (!json_is_integer(value)) {
			*cause = util_asprintf("field \"%s\" must be an integer",
			    key);
			return -1;
		}
		v = json_integer_value(value);
		if (v < d->min || v > d->max) {
			*cause = util_asprintf("field \"%s\" must be between %lld "
			    "and %lld", key, (long long)d->min,
			    (long long)d->max);
			return -1;
		}
		*(int64_t *)field = v;
		return 0;
	case OPT_BOOL:
		if (!json_is_boolean(value)) {
			*cause = util_asprintf("field \"%s\" must be true or false",
			    key);
			return -1;
		}
		*(int64_t *)field = json_is_true(value) ? 1 : 0;
		return 0;
	case OPT_METHOD: {
		const char *m = json_is_string(value) ?
		    json_string_value(value) : "";

		if (strcmp(m, "GET") == 0)
			*(int64_t *)field = JOB_METHOD_GET;
		else if (strcmp(m, "HEAD") == 0)
			*(int64_t *)field = JOB_METHOD_HEAD;
		else {
			*cause = util_asprintf("field \"%s\" must be \"GET\" or "
			    "\"HEAD\"", key);
			return -1;
		}
		return 0;
	}
	case OPT_HEADERS:
		return job_set_headers(field, key, value, cause);
	case OPT_PROXY:
		if (!json_is_string(value) ||
		    job_check_url(json_string_value(value), proxy_schemes,
		    6) != 0) {
			*cause = util_asprintf("field \"%s\" must be a proxy URL "
			    "(http, https, socks4, socks4a, socks5 or socks5h)",
			    key);
			return -1;
		}
		return job_set_string(field, key, value, d->max, cause);
	case OPT_URL:
		if (!json_is_string(value) ||
		    job_check_url(json_string_value(value), http_schemes,
		    2) != 0) {
			*cause = util_asprintf("field \"%s\" must be an http or "
			    "https URL", key);
			return -1;
		}
		return job_set_string(field, key, value, d->max, cause);
	case OPT_STRING:
		return job_set_string(field, key, value, d->max, cause);
	}
	*cause = util_asprintf("field \"%s\" has no type", key);
	return -1;
}

/* The JSON form of a headers field: lines back into an object. */
static json_t *
job_headers_json(const char *text)
{
	json_t *obj = json_object();
	const char *p = text, *nl, *colon;
	char *name;

	while (obj != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		colon = memchr(p, ':', (size_t)(nl - p));
		if (colon != NULL && (name = strndup(p,
		    (size_t)(colon - p))) != NULL) {
			json_object_set_new(obj, name, json_stringn(colon + 2,
			    (size_t)(nl - colon - 2)));
			free(name);
		}
		p = *nl == '\n' ? nl + 1 : nl;
	}
	return obj;
}

json_t *
job_opts_to_json(const struct job_opts *o)
{
	json_t *obj, *v;
	size_t i;

	if ((obj = json_object()) == NULL)
		return NULL;
	for (i = 0; i < NOPTS; i++) {
		const void *field = (const char *)o + opt_defs[i].offset;

		v = NULL;
		switch (opt_defs[i].type) {
		case OPT_INT:
			if (*(const int64_t *)field != JOB_UNSET)
				v = json_integer(*(const int64_t *)field);
			break;
		case OPT_BOOL:
			if (*(const int64_t *)field != JOB_UNSET)
				v = json_boolean(*(const int64_t *)field);
			break;
		case OPT_STRING:
		case OPT_PROXY:
		case OPT_URL:
			if (*(char *const *)field != NULL)
				v = json_string(*(char *const *)field);
			break;
		case OPT_HEADERS:
			if (*(char *const *)field != NULL)
				v = job_headers_json(*(char *const *)field);
			break;
		case OPT_METHOD:
			if (*(const int64_t *)field != JOB_UNSET)
				v = json_string(*(const int64_t *)field ==
				    JOB_METHOD_HEAD ? "HEAD" : "GET");
			break;
		}
		if (v != NULL && json_object_set_new(obj, opt_defs[i].name,
		    v) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

int
job_opts_from_json(struct job_opts *o, json_t *obj, char **cause)
{
	const char *key;
	json_t *value;

	job_opts_init(o);
	if (!json_is_object(obj)) {
		*cause = util_asprintf("options must be a JSON object");
		return -1;
	}
	json_object_foreach(obj, key, value) {
		if (job_opts_set(o, key, value, cause) != 0) {
			job_opts_clear(o);
			return -1;
		}
	}
	return 0;
}

static const char *const kind_names[RESULT_KIND_MAX] = {
	[RESULT_OK] = NULL,
	[RESULT_DNS] = "dns",
	[RESULT_CONNECT] = "connect",
	[RESULT_TLS] = "tls",
	[RESULT_TIMEOUT] = "timeout",
	[RESULT_HTTP_STATUS] = "http_status",
	[RESULT_TOO_LARGE] = "too_large",
	[RESULT_TOO_MANY_REDIRECTS] = "too_many_redirects",
	[RESULT_ROBOTS_DENIED] = "robots_denied",
	[RESULT_BLOCKED_ADDRESS] = "blocked_address",
	[RESULT_INVALID_URL] = "invalid_url",
	[RESULT_CANCELLED] = "cancelled",
	[RESULT_PROTOCOL] = "protocol",
	[RESULT_INTERNAL] = "internal",
};

const char *
result_kind_name(enum result_kind kind)
{
	if ((unsigned)kind >= RESULT_KIND_MAX)
		return "internal";
	return kind_names[kind];
}

const char *
result_task_state(enum result_kind kind)
{
	if (kind == RESULT_OK)
		return "done";
	if (kind == RESULT_CANCELLED)
		return "cancelled";
	return "failed";
}

struct task *
task_new(int64_t id, int64_t job_id, const char *url, const char *host,
    int64_t attempts)
{
	struct task *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->url = strdup(url)) == NULL ||
	    (t->host = strdup(host != NULL ? host : "")) == NULL) {
		free(t->url);
		free(t);
		return NULL;
	}
	t->id = id;
	t->job_id = job_id;
	t->attempts = attempts;
	job_opts_init(&t->opts);
	return t;
}

void
task_free(struct task *t)
{
	if (t == NULL)
		return;
	free(t->url);
	free(t->host);
	free(t->origin);
	free(t->path);
	job_opts_clear(&t->opts);
	free(t);
}

int64_t
job_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct result *
result_new_error(const struct task *t, enum result_kind kind,
    const char *fmt, ...)
{
	struct result *r;
	va_list ap;
	int n;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->task_id = t->id;
	r->job_id = t->job_id;
	r->content_length = -1;
	r->attempts = t->attempts + 1;
	r->fetched_at_ms = job_now_ms();
	r->kind = kind;
	va_start(ap, fmt);
	n = vasprintf(&r->error_message, fmt, ap);
	va_end(ap);
	if (n < 0 || (r->url = strdup(t->url)) == NULL) {
		if (n < 0)
			r->error_message = NULL;
		result_free(r);
		return NULL;
	}
	return r;
}

void
result_free(struct result *r)
{
	if (r == NULL)
		return;
	free(r->url);
	free(r->final_url);
	free(r->content_type);
	free(r->headers);
	free(r->body);
	free(r->error_message);
	free(r);
}
