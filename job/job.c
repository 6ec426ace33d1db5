/*
 * job: validation of job fields (the job rows of the settings table) as
 * JSON, the error-kind names, the task and job state machines, and
 * constructors/destructors for tasks and results.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "crawl/crawl.h"
#include "extract/extract.h"
#include "job/job.h"
#include "log/log.h"
#include "util/util.h"

#define JOB_HEADERS_MAX	64

static int job_set_json(char **, enum conf_type, json_t *, char **);

/* The rows of the settings table a job may set, by name. */
static const struct conf_setting *
opt_find(const char *key)
{
	const struct conf_setting *d = conf_setting_find(key);

	return d != NULL && d->job_off != CONF_NOFIELD ? d : NULL;
}

/* Walks the job rows: *i from 0, NULL at the end. */
static const struct conf_setting *
opt_next(size_t *i)
{
	const struct conf_setting *d;

	while ((d = conf_setting_at((*i)++)) != NULL)
		if (d->job_off != CONF_NOFIELD)
			return d;
	return NULL;
}

static int64_t *
opt_int(struct job_opts *o, const struct conf_setting *d)
{
	return (int64_t *)(void *)((char *)o + d->job_off);
}

static char **
opt_str(struct job_opts *o, const struct conf_setting *d)
{
	return (char **)(void *)((char *)o + d->job_off);
}

void
job_opts_init(struct job_opts *o)
{
	const struct conf_setting *d;
	size_t i = 0;

	memset(o, 0, sizeof(*o));
	while ((d = opt_next(&i)) != NULL)
		if (!conf_type_is_string(d->type))
			*opt_int(o, d) = JOB_UNSET;
}

void
job_opts_clear(struct job_opts *o)
{
	const struct conf_setting *d;
	size_t i = 0;

	while ((d = opt_next(&i)) != NULL)
		if (conf_type_is_string(d->type))
			free(*opt_str(o, d));
	job_opts_init(o);
}

int
job_opts_copy(struct job_opts *dst, const struct job_opts *src)
{
	const struct conf_setting *d;
	size_t i = 0;
	char **p;

	*dst = *src;
	/* Detach every string first, so a failure frees only copies. */
	while ((d = opt_next(&i)) != NULL)
		if (conf_type_is_string(d->type))
			*opt_str(dst, d) = NULL;
	i = 0;
	while ((d = opt_next(&i)) != NULL) {
		if (!conf_type_is_string(d->type))
			continue;
		p = opt_str((struct job_opts *)(uintptr_t)src, d);
		if (*p != NULL && (*opt_str(dst, d) = strdup(*p)) == NULL) {
			job_opts_clear(dst);
			return -1;
		}
	}
	return 0;
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
	const struct conf_setting *d;
	json_int_t v;

	if ((d = opt_find(key)) == NULL) {
		*cause = util_asprintf("unknown field \"%s\"", key);
		return -1;
	}
	switch (d->type) {
	case CONF_INT:
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
		*opt_int(o, d) = v;
		return 0;
	case CONF_BOOL:
		if (!json_is_boolean(value)) {
			*cause = util_asprintf("field \"%s\" must be true or false",
			    key);
			return -1;
		}
		*opt_int(o, d) = json_is_true(value) ? 1 : 0;
		return 0;
	case CONF_METHOD: {
		const char *m = json_is_string(value) ?
		    json_string_value(value) : "";

		if (strcmp(m, "GET") == 0)
			*opt_int(o, d) = JOB_METHOD_GET;
		else if (strcmp(m, "HEAD") == 0)
			*opt_int(o, d) = JOB_METHOD_HEAD;
		else {
			*cause = util_asprintf("field \"%s\" must be \"GET\" or "
			    "\"HEAD\"", key);
			return -1;
		}
		return 0;
	}
	case CONF_HEADERS:
		return job_set_headers(opt_str(o, d), key, value, cause);
	case CONF_PROXY:
		if (!json_is_string(value) ||
		    job_check_url(json_string_value(value), proxy_schemes,
		    6) != 0) {
			*cause = util_asprintf("field \"%s\" must be a proxy URL "
			    "(http, https, socks4, socks4a, socks5 or socks5h)",
			    key);
			return -1;
		}
		return job_set_string(opt_str(o, d), key, value, d->max, cause);
	case CONF_URL:
		if (!json_is_string(value) ||
		    job_check_url(json_string_value(value), http_schemes,
		    2) != 0) {
			*cause = util_asprintf("field \"%s\" must be an http or "
			    "https URL", key);
			return -1;
		}
		return job_set_string(opt_str(o, d), key, value, d->max, cause);
	case CONF_STRING:
		return job_set_string(opt_str(o, d), key, value, d->max, cause);
	case CONF_EXTRACT:
	case CONF_FOLLOW:
	case CONF_SITEMAPS:
		return job_set_json(opt_str(o, d), d->type, value, cause);
	default:
		break;
	}
	*cause = util_asprintf("field \"%s\" has no type", key);
	return -1;
}

/*
 * The scrape fields, validated by the modules that run them (extract/,
 * crawl/) and kept as their normalised JSON text; a bad one is refused
 * naming the field ("field \"extract.title\": invalid XPath ...").
 */
static int
job_set_json(char **field, enum conf_type type, json_t *value, char **cause)
{
	struct extract *x;
	struct crawl_follow *f;
	json_t *norm = NULL, *v;
	char *text, *canon, *ascii, *host, *reason;
	size_t i;

	switch (type) {
	case CONF_EXTRACT:
		if ((x = extract_compile(value, cause)) == NULL)
			return -1;
		norm = extract_to_json(x);
		extract_free(x);
		break;
	case CONF_FOLLOW:
		if ((f = crawl_follow_compile(value, cause)) == NULL)
			return -1;
		norm = crawl_follow_to_json(f);
		crawl_follow_free(f);
		break;
	default:
		if (!json_is_array(value) || json_array_size(value) == 0 ||
		    json_array_size(value) > JOB_SITEMAPS_MAX) {
			*cause = util_asprintf("field \"sitemaps\" must be an "
			    "array of 1 to %d URLs", JOB_SITEMAPS_MAX);
			return -1;
		}
		if ((norm = json_array()) == NULL)
			break;
		json_array_foreach(value, i, v) {
			if (!json_is_string(v) || job_url_check(
			    json_string_value(v), 8192, &canon, &ascii, &host,
			    &reason) != 0) {
				*cause = util_asprintf("field \"sitemaps[%zu]\": "
				    "%s", i, json_is_string(v) ? reason :
				    "not a string");
				if (json_is_string(v))
					free(reason);
				json_decref(norm);
				return -1;
			}
			json_array_append_new(norm, json_string(canon));
			free(canon);
			free(ascii);
			free(host);
		}
		break;
	}
	if (norm == NULL || (text = json_dumps(norm, JSON_COMPACT)) == NULL) {
		json_decref(norm);
		*cause = util_asprintf("out of memory");
		return -1;
	}
	json_decref(norm);
	free(*field);
	*field = text;
	return 0;
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
	struct job_opts *w = (struct job_opts *)(uintptr_t)o;
	const struct conf_setting *d;
	size_t i = 0;
	json_t *obj, *v;

	if ((obj = json_object()) == NULL)
		return NULL;
	while ((d = opt_next(&i)) != NULL) {
		v = NULL;
		if (conf_type_is_string(d->type)) {
			if (*opt_str(w, d) == NULL)
				continue;
			if (d->type == CONF_HEADERS)
				v = job_headers_json(*opt_str(w, d));
			else if (d->type == CONF_EXTRACT ||
			    d->type == CONF_FOLLOW || d->type == CONF_SITEMAPS)
				v = json_loads(*opt_str(w, d), 0, NULL);
			else
				v = json_string(*opt_str(w, d));
		} else if (*opt_int(w, d) != JOB_UNSET) {
			if (d->type == CONF_BOOL)
				v = json_boolean(*opt_int(w, d));
			else if (d->type == CONF_METHOD)
				v = json_string(*opt_int(w, d) ==
				    JOB_METHOD_HEAD ? "HEAD" : "GET");
			else
				v = json_integer(*opt_int(w, d));
		} else
			continue;
		if (v != NULL && json_object_set_new(obj, d->name, v) != 0) {
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

char *
job_redact_url(const char *url)
{
	char *pass = NULL, *out = NULL, *copy;
	CURLU *h;

	/* No '@', no userinfo: spares the parse for almost every URL. */
	if (strchr(url, '@') == NULL)
		return strdup(url);
	if ((h = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK || curl_url_get(h, CURLUPART_PASSWORD, &pass, 0) !=
	    CURLUE_OK || *pass == '\0') {
		/* Nothing to hide, or nothing libcurl could fetch either. */
		copy = strdup(url);
		goto out;
	}
	copy = NULL;
	if (curl_url_set(h, CURLUPART_PASSWORD, JOB_REDACTED, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_URL, &out, 0) == CURLUE_OK)
		copy = strdup(out);
out:
	curl_free(pass);
	curl_free(out);
	curl_url_cleanup(h);
	return copy;
}

int
job_header_is_secret(const char *name)
{
	return strcasecmp(name, "Authorization") == 0 ||
	    strcasecmp(name, "Cookie") == 0 ||
	    strcasecmp(name, "Proxy-Authorization") == 0;
}

/* Replaces the URL string at key of obj by its redacted form. */
static int
job_redact_url_json(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	char *red;
	int rc;

	if (!json_is_string(v))
		return 0;
	if ((red = job_redact_url(json_string_value(v))) == NULL)
		return -1;
	rc = json_object_set_new(obj, key, json_string(red));
	free(red);
	return rc;
}

int
job_opts_redact(json_t *obj)
{
	const struct conf_setting *d;
	const char *name;
	json_t *headers, *v;
	size_t i = 0;

	/* By type, so a URL or headers option added to the table is
	 * redacted without anyone remembering to. */
	while ((d = opt_next(&i)) != NULL) {
		if (d->type == CONF_PROXY || d->type == CONF_URL) {
			if (job_redact_url_json(obj, d->name) != 0)
				return -1;
			continue;
		}
		if (d->type != CONF_HEADERS ||
		    !json_is_object(headers = json_object_get(obj, d->name)))
			continue;
		json_object_foreach(headers, name, v) {
			if (job_header_is_secret(name) &&
			    json_object_set_new(headers, name,
			    json_string(JOB_REDACTED)) != 0)
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

static const char *const task_state_names[TASK_NSTATES] = {
	[TASK_QUEUED] = "queued",
	[TASK_RUNNING] = "running",
	[TASK_DONE] = "done",
	[TASK_FAILED] = "failed",
	[TASK_CANCELLED] = "cancelled",
};

static const char *const job_state_names[JOB_NSTATES] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_DONE] = "done",
	[JOB_CANCELLED] = "cancelled",
};

/*
 * The task state machine. queued -> running is a claim; running ends in
 * done, failed or cancelled with its result, or goes back to queued
 * (requeued at stop or after a crash, or a retry after a transient
 * failure); a queued task is cancelled with its job. Nothing leaves an
 * end state.
 */
static const unsigned char task_moves[TASK_NSTATES][TASK_NSTATES] = {
	[TASK_QUEUED] = { [TASK_RUNNING] = 1, [TASK_CANCELLED] = 1 },
	[TASK_RUNNING] = { [TASK_QUEUED] = 1, [TASK_DONE] = 1,
	    [TASK_FAILED] = 1, [TASK_CANCELLED] = 1 },
};

/*
 * The job state machine: its first claim makes it running; it is done
 * when no task is queued or running, cancelled by DELETE.
 */
static const unsigned char job_moves[JOB_NSTATES][JOB_NSTATES] = {
	[JOB_QUEUED] = { [JOB_RUNNING] = 1, [JOB_DONE] = 1,
	    [JOB_CANCELLED] = 1 },
	[JOB_RUNNING] = { [JOB_DONE] = 1, [JOB_CANCELLED] = 1 },
};

const char *
task_state_name(enum task_state st)
{
	return (unsigned)st < TASK_NSTATES ? task_state_names[st] : "unknown";
}

const char *
job_state_name(enum job_state st)
{
	return (unsigned)st < JOB_NSTATES ? job_state_names[st] : "unknown";
}

int
task_state_parse(const char *name, enum task_state *out)
{
	int i;

	for (i = 0; i < TASK_NSTATES; i++)
		if (strcmp(name, task_state_names[i]) == 0) {
			*out = (enum task_state)i;
			return 0;
		}
	return -1;
}

int
job_state_parse(const char *name, enum job_state *out)
{
	int i;

	for (i = 0; i < JOB_NSTATES; i++)
		if (strcmp(name, job_state_names[i]) == 0) {
			*out = (enum job_state)i;
			return 0;
		}
	return -1;
}

int
job_state_ended(enum job_state st)
{
	return st == JOB_DONE || st == JOB_CANCELLED;
}

int
task_state_change(int64_t task_id, enum task_state from, enum task_state to)
{
	if ((unsigned)from < TASK_NSTATES && (unsigned)to < TASK_NSTATES &&
	    task_moves[from][to])
		return 0;
	log_debug("%s: task %lld: %s -> %s refused", __func__,
	    (long long)task_id, task_state_name(from), task_state_name(to));
	return -1;
}

int
job_state_change(int64_t job_id, enum job_state from, enum job_state to)
{
	if ((unsigned)from < JOB_NSTATES && (unsigned)to < JOB_NSTATES &&
	    job_moves[from][to])
		return 0;
	log_debug("%s: job %lld: %s -> %s refused", __func__,
	    (long long)job_id, job_state_name(from), job_state_name(to));
	return -1;
}

enum task_state
result_task_end(enum result_kind kind)
{
	if (kind == RESULT_OK)
		return TASK_DONE;
	if (kind == RESULT_CANCELLED)
		return TASK_CANCELLED;
	return TASK_FAILED;
}

const char *
result_task_state(enum result_kind kind)
{
	return task_state_name(result_task_end(kind));
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

int
job_is_ascii(const char *s)
{
	const unsigned char *c;

	for (c = (const unsigned char *)s; *c != '\0'; c++)
		if (*c >= 0x80)
			return 0;
	return 1;
}

int
job_url_ascii(const char *url, char **ascii)
{
	CURLU *h;
	char *out = NULL, *p;
	int rc = -1;

	*ascii = NULL;
	if (job_is_ascii(url))
		return 0;
	if ((h = curl_url()) == NULL)
		return -1;
	/* CURLU_URLENCODE on a whole URL encodes the bytes outside ASCII
	 * of the path and query and leaves existing %XX alone; the host
	 * comes out in punycode with CURLU_PUNYCODE. */
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_URLENCODE) !=
	    CURLUE_OK ||
	    curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_URL, &out, CURLU_PUNYCODE) != CURLUE_OK ||
	    !job_is_ascii(out))
		goto out;
	/* libcurl writes %c3; RFC 3986 prefers %C3 (and so a client that
	 * encoded the URL itself spells it). */
	for (p = out; *p != '\0'; p++)
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])) {
			p[1] = (char)toupper((unsigned char)p[1]);
			p[2] = (char)toupper((unsigned char)p[2]);
			p += 2;
		}
	if ((*ascii = strdup(out)) != NULL)
		rc = 0;
out:
	curl_free(out);
	curl_url_cleanup(h);
	return rc;
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
	r->lease = t->lease;
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

static const char *const task_kind_names[TASK_NKINDS] = {
	[TASK_KIND_PAGE] = "page",
	[TASK_KIND_SITEMAP] = "sitemap",
	[TASK_KIND_ROBOTS] = "robots",
};

const char *
task_kind_name(enum task_kind k)
{
	return (unsigned)k < TASK_NKINDS ? task_kind_names[k] : "page";
}

int
task_kind_parse(const char *name, enum task_kind *out)
{
	int i;

	for (i = 0; name != NULL && i < TASK_NKINDS; i++)
		if (strcmp(name, task_kind_names[i]) == 0) {
			*out = (enum task_kind)i;
			return 0;
		}
	return -1;
}

int
result_add_link(struct result *r, const char *url, const char *host,
    const char *key, enum task_kind kind, int64_t depth)
{
	struct result_link *v, *l;

	if ((v = realloc(r->links, (r->nlinks + 1) * sizeof(*v))) == NULL)
		return -1;
	r->links = v;
	l = &v[r->nlinks];
	memset(l, 0, sizeof(*l));
	if ((l->url = strdup(url)) == NULL || (l->host = strdup(host)) == NULL ||
	    (l->key = strdup(key)) == NULL) {
		free(l->url);
		free(l->host);
		return -1;
	}
	l->kind = kind;
	l->depth = depth;
	r->nlinks++;
	return 0;
}

void
result_free(struct result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nlinks; i++) {
		free(r->links[i].url);
		free(r->links[i].host);
		free(r->links[i].key);
	}
	free(r->links);
	free(r->fields);
	free(r->url);
	free(r->final_url);
	free(r->content_type);
	free(r->headers);
	free(r->body);
	free(r->error_message);
	free(r);
}

/* Copies a libcurl string into malloc'd memory and frees the original. */
static char *
job_url_take(char *curl_string)
{
	char *copy = curl_string != NULL ? strdup(curl_string) : NULL;

	curl_free(curl_string);
	return copy;
}

int
job_utf8_valid(const char *s)
{
	const unsigned char *c = (const unsigned char *)s;
	unsigned int cp, min;
	int n, i;

	while (*c != '\0') {
		if (*c < 0x80) {
			c++;
			continue;
		}
		if ((*c & 0xe0) == 0xc0) {
			n = 1;
			cp = *c & 0x1f;
			min = 0x80;
		} else if ((*c & 0xf0) == 0xe0) {
			n = 2;
			cp = *c & 0x0f;
			min = 0x800;
		} else if ((*c & 0xf8) == 0xf0) {
			n = 3;
			cp = *c & 0x07;
			min = 0x10000;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((c[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (c[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		c += n + 1;
	}
	return 1;
}

/* Lower-cases the ASCII letters of s in place (never a UTF-8 byte). */
static void
job_ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int
job_url_check(const char *url, size_t max_length, char **canonical,
    char **ascii, char **host, char **reason)
{
	CURLU *h;
	CURLUcode uc;
	char *scheme = NULL, *chost = NULL, *curl = NULL, *ahost = NULL;
	const unsigned char *c;

	*canonical = *ascii = *host = *reason = NULL;
	if (strlen(url) > max_length) {
		*reason = util_asprintf("URL longer than %zu bytes", max_length);
		return -1;
	}
	for (c = (const unsigned char *)url; *c != '\0'; c++) {
		if (*c <= 0x20 || *c == 0x7f) {
			*reason = util_asprintf("URL contains a space or a "
			    "control character (percent-encode it)");
			return -1;
		}
	}
	/* Text beyond ASCII is UTF-8 (an international domain name): it
	 * is shown back as JSON, which has no other encoding. */
	if (!job_utf8_valid(url)) {
		*reason = util_asprintf("URL contains a non-ASCII byte that is "
		    "not UTF-8 (percent-encode it)");
		return -1;
	}
	if ((h = curl_url()) == NULL) {
		*reason = util_asprintf("out of memory");
		return -1;
	}
	if ((uc = curl_url_set(h, CURLUPART_URL, url, 0)) != CURLUE_OK ||
	    (uc = curl_url_get(h, CURLUPART_SCHEME, &scheme, 0)) != CURLUE_OK) {
		*reason = util_asprintf("%s", curl_url_strerror(uc));
		goto fail;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		*reason = util_asprintf("scheme \"%s\" is not http or https",
		    scheme);
		goto fail;
	}
	/* The host comes back %XX-decoded: b%C3%BCcher and bücher are one
	 * host, spelt in UTF-8. */
	if (curl_url_get(h, CURLUPART_HOST, &chost, 0) != CURLUE_OK ||
	    *chost == '\0') {
		*reason = util_asprintf("URL has no host");
		goto fail;
	}
	/* Canonical form: one URL, one task, whatever its spelling. */
	job_ascii_lower(chost);
	if (curl_url_set(h, CURLUPART_HOST, chost, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_URL, &curl, CURLU_NO_DEFAULT_PORT) !=
	    CURLUE_OK) {
		*reason = util_asprintf("URL cannot be normalised");
		goto fail;
	}
	/* Politeness is per host as requests name it: punycode. */
	if (curl_url_get(h, CURLUPART_HOST, &ahost, CURLU_PUNYCODE) !=
	    CURLUE_OK || !job_is_ascii(ahost)) {
		*reason = util_asprintf("host name is not a valid "
		    "international domain name");
		goto fail;
	}
	job_ascii_lower(ahost);
	/* Bytes outside ASCII in the path and query are kept as submitted
	 * and percent-encoded for the request; the user part cannot be. */
	if (job_url_ascii(curl, ascii) != 0) {
		*reason = util_asprintf("URL has a non-ASCII byte in its user "
		    "name or password (percent-encode it)");
		goto fail;
	}
	curl_free(scheme);
	curl_free(chost);
	curl_url_cleanup(h);
	*canonical = job_url_take(curl);
	*host = job_url_take(ahost);
	if (*canonical == NULL || *host == NULL) {
		free(*canonical);
		free(*host);
		free(*ascii);
		*canonical = *ascii = *host = NULL;
		*reason = util_asprintf("out of memory");
		return -1;
	}
	return 0;
fail:
	curl_free(scheme);
	curl_free(chost);
	curl_free(ahost);
	curl_free(curl);
	curl_url_cleanup(h);
	if (*reason == NULL)
		*reason = strdup("invalid URL");
	return -1;
}

