/*
 * api: owns the libmicrohttpd daemon, its routes, the API's own SQLite
 * connection and every JSON document the API answers with. Request bodies
 * are collected up to max_request_bytes; beyond that the request gets 413
 * and the rest of the body is discarded unread into memory.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>

#include "util/util.h"
#include "api/api.h"
#include "log/log.h"
#include "stats/stats.h"
#include "store/store.h"

struct api {
	struct MHD_Daemon	*mhd;
	struct store		*store;
	struct api_hooks	 hooks;
	size_t			 max_request;
	int64_t			 page_max;
	struct api_limits	 limits;
	uint16_t		 port;
	atomic_int		 draining;
	pthread_mutex_t		 token_lock;
	char			*token;		/* "Bearer <token>", or NULL */
	/* Handlers run in MHD's threads (one per connection, so a long
	 * poll blocks nobody else); db_lock serialises the one store. */
	pthread_mutex_t		 db_lock;
	pthread_mutex_t		 wait_lock;
	pthread_cond_t		 wait_cond;	/* a job ended */
	uint64_t		 wait_gen;	/* bumped on each end */
};

#define API_WAIT_MAX_S	60

/* Per-request state, from the first callback to MHD's completion notice. */
struct api_req {
	char	*body;
	size_t	 len;
	size_t	 cap;
	int	 too_large;
};

/* Queues a response with body text (taken) and the given content type. */
static enum MHD_Result
api_reply_text(struct MHD_Connection *c, unsigned int status, char *text,
    size_t len, const char *ctype, const char *extra_name,
    const char *extra_value)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    ctype) != MHD_YES ||
	    (extra_name != NULL && MHD_add_response_header(resp, extra_name,
	    extra_value) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Answers with a JSON document (reference taken). */
static enum MHD_Result
api_reply_json(struct MHD_Connection *c, unsigned int status, json_t *doc,
    const char *extra_name, const char *extra_value)
{
	char *text;

	if (doc == NULL)
		return MHD_NO;
	text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (text == NULL)
		return MHD_NO;
	return api_reply_text(c, status, text, strlen(text),
	    "application/json", extra_name, extra_value);
}

static json_t *
api_error_doc(const char *code, const char *message)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
	    message != NULL ? message : code);
}

static enum MHD_Result
api_error(struct MHD_Connection *c, unsigned int status, const char *code,
    const char *message)
{
	return api_reply_json(c, status, api_error_doc(code, message), NULL,
	    NULL);
}

static json_t *
json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
api_job_doc(const struct store_job *j)
{
	json_t *doc, *counts, *opts;
	json_error_t jerr;
	int k;

	if ((counts = json_object()) == NULL)
		return NULL;
	for (k = 0; k < STORE_TASK_NSTATES; k++)
		json_object_set_new(counts, store_task_state_name(
		    (enum store_task_state)k), json_integer(j->counts[k]));
	if ((opts = json_loads(j->options, 0, &jerr)) == NULL)
		opts = json_object();
	doc = json_pack("{s:I,s:s,s:I,s:o,s:o,s:s,s:o}",
	    "id", (json_int_t)j->id,
	    "state", j->state,
	    "total", (json_int_t)j->total,
	    "counts", counts,
	    "options", opts,
	    "created_at", j->created_at,
	    "finished_at", json_str_or_null(j->finished_at));
	return doc;
}

/* Parses a positive decimal id; -1 when s is not one. */
static int64_t
api_parse_id(const char *s, size_t len)
{
	int64_t v = 0;
	size_t i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v > 0 ? v : -1;
}

/* Reads a non-negative integer query argument; -1 when malformed. */
static int
api_query_int(struct MHD_Connection *c, const char *name, int64_t def,
    int64_t max, int64_t *out)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    name);
	char *end;
	long long n;

	if (v == NULL || *v == '\0') {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end != '\0' || errno != 0 || n < 0)
		return -1;
	*out = n > max ? max : n;
	return 0;
}

static int
api_query_bool(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    name);

	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
	    strcmp(v, "yes") == 0);
}

static enum MHD_Result
api_store_error(struct MHD_Connection *c, char *cause)
{
	log_warnx("api: store: %s", cause != NULL ? cause : "unknown");
	free(cause);
	return api_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
	    "the database is not available; try again");
}

static enum MHD_Result
api_get_job(struct api *a, struct MHD_Connection *c, int64_t id,
    unsigned int status, json_t *extra)
{
	struct store_job j;
	char *cause = NULL, loc[64];
	json_t *doc;
	int rc;

	rc = store_job_get(a->store, id, &j, &cause);
	if (rc < 0) {
		json_decref(extra);
		return api_store_error(c, cause);
	}
	if (rc == 1) {
		json_decref(extra);
		return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	}
	doc = api_job_doc(&j);
	store_job_clear(&j);
	if (doc != NULL && extra != NULL)
		json_object_update(doc, extra);
	json_decref(extra);
	snprintf(loc, sizeof(loc), "/v1/jobs/%" PRId64, id);
	return api_reply_json(c, status, doc, status ==
	    MHD_HTTP_CREATED ? MHD_HTTP_HEADER_LOCATION : NULL, loc);
}

static int
api_list_cb(const struct store_job *j, void *arg)
{
	json_t *jobs = arg;

	return json_array_append_new(jobs, api_job_doc(j)) == 0 ? 0 : -1;
}

static enum MHD_Result
api_list_jobs(struct api *a, struct MHD_Connection *c)
{
	json_t *jobs;
	int64_t after, limit;
	char *cause = NULL;

	if (api_query_int(c, "after", 0, INT64_MAX, &after) != 0 ||
	    api_query_int(c, "limit", 100, 1000, &limit) != 0)
		return api_error(c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "after and limit must be non-negative integers");
	if ((jobs = json_array()) == NULL)
		return MHD_NO;
	if (store_job_list(a->store, after, limit, api_list_cb, jobs,
	    &cause) != 0) {
		json_decref(jobs);
		return api_store_error(c, cause);
	}
	return api_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "jobs", jobs),
	    NULL, NULL);
}

static json_t *
api_rejected_json(const struct api_request *req)
{
	json_t *v;
	size_t i;

	if ((v = json_array()) == NULL)
		return NULL;
	for (i = 0; i < req->nrejected; i++)
		json_array_append_new(v, json_pack("{s:I,s:o,s:s}",
		    "index", (json_int_t)req->rejected[i].index,
		    "url", json_str_or_null(req->rejected[i].url),
		    "reason", req->rejected[i].reason));
	return v;
}

static enum MHD_Result
api_submit(struct api *a, struct MHD_Connection *c, struct api_req *r)
{
	struct api_request req;
	struct store_url *urls = NULL;
	const char *code = NULL;
	char *cause = NULL;
	json_t *doc;
	int64_t job_id;
	enum MHD_Result ret;
	size_t i;

	if (atomic_load(&a->draining))
		return api_reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    api_error_doc("shutting_down", "harvestd is shutting down; "
		    "submit again once it is back"), MHD_HTTP_HEADER_RETRY_AFTER,
		    "5");
	if (api_request_parse(r->body != NULL ? r->body : "", r->len,
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE), &a->limits, &req, &code,
	    &cause) != 0) {
		ret = api_error(c, strcmp(code, "unsupported_media_type") == 0 ?
		    MHD_HTTP_UNSUPPORTED_MEDIA_TYPE : strcmp(code,
		    "internal") == 0 ? MHD_HTTP_INTERNAL_SERVER_ERROR :
		    MHD_HTTP_BAD_REQUEST, code, cause);
		free(cause);
		return ret;
	}
	if (req.nurls == 0) {
		doc = api_error_doc(req.nrejected == 0 ? "no_urls" :
		    "no_valid_urls", req.nrejected == 0 ?
		    "the submission holds no URL" :
		    "none of the submitted URLs is valid");
		if (doc != NULL)
			json_object_set_new(doc, "rejected",
			    api_rejected_json(&req));
		api_request_clear(&req);
		return api_reply_json(c, MHD_HTTP_BAD_REQUEST, doc, NULL,
		    NULL);
	}
	if ((urls = calloc(req.nurls, sizeof(*urls))) == NULL) {
		api_request_clear(&req);
		return api_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "out of memory");
	}
	for (i = 0; i < req.nurls; i++) {
		urls[i].url = req.urls[i].url;
		urls[i].host = req.urls[i].host;
	}
	if (store_job_create(a->store, &req.opts, urls, req.nurls, &job_id,
	    &cause) != 0) {
		free(urls);
		api_request_clear(&req);
		return api_store_error(c, cause);
	}
	free(urls);
	/* A big submission's parse used lots of memory for a moment: give
	 * it back to the system rather than keep it as the new peak. */
	if (r->len > (1 << 20))
		malloc_trim(0);
	log_info("job %" PRId64 " submitted: %zu URLs accepted, %zu "
	    "duplicates dropped, %zu rejected", job_id, req.nurls,
	    req.nduplicates, req.nrejected);
	if (a->hooks.submitted != NULL)
		a->hooks.submitted(job_id, a->hooks.arg);
	doc = json_pack("{s:I,s:I,s:o}", "accepted", (json_int_t)req.nurls,
	    "duplicates", (json_int_t)req.nduplicates,
	    "rejected", api_rejected_json(&req));
	api_request_clear(&req);
	return api_get_job(a, c, job_id, MHD_HTTP_CREATED, doc);
}

/* DELETE ...?purge=true: removes a finished job and all its rows. */
static enum MHD_Result
api_purge(struct api *a, struct MHD_Connection *c, int64_t id)
{
	char *cause = NULL;
	int rc;

	rc = store_job_purge(a->store, id, &cause);
	if (rc < 0)
		return api_store_error(c, cause);
	if (rc == 1)
		return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	if (rc == 2)
		return api_error(c, MHD_HTTP_CONFLICT, "job_active",
		    "the job has unfinished tasks: cancel it and wait until no "
		    "task is running, then purge");
	log_info("job %" PRId64 " purged", id);
	return api_reply_json(c, MHD_HTTP_OK, json_pack("{s:I,s:b}", "id",
	    (json_int_t)id, "purged", 1), NULL, NULL);
}

static enum MHD_Result
api_cancel(struct api *a, struct MHD_Connection *c, int64_t id)
{
	char *cause = NULL;
	int changed, rc;

	if (api_query_bool(c, "purge"))
		return api_purge(a, c, id);
	rc = store_job_cancel(a->store, id, &changed, &cause);
	if (rc < 0)
		return api_store_error(c, cause);
	if (rc == 1)
		return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	if (changed && a->hooks.cancelled != NULL)
		a->hooks.cancelled(id, a->hooks.arg);
	if (changed)
		api_jobs_changed(a);
	return api_get_job(a, c, id, MHD_HTTP_OK, NULL);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of a body that is not valid UTF-8 text; NULL on ENOMEM. */
static char *
api_base64(const unsigned char *p, size_t len)
{
	char *out, *o;
	size_t i;
	uint32_t v;

	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	o = out;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

struct page {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	int64_t	 last_id;
	size_t	 rows;
	int	 with_body;
	int	 failed;
};

static int
page_append(struct page *p, const char *s, size_t len)
{
	size_t cap;
	char *nb;

	if (p->len + len + 1 > p->cap) {
		cap = p->cap == 0 ? 4096 : p->cap;
		while (cap < p->len + len + 1)
			cap *= 2;
		if ((nb = realloc(p->buf, cap)) == NULL)
			return -1;
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, len);
	p->len += len;
	p->buf[p->len] = '\0';
	return 0;
}

/* Text bodies as "body"; bodies that are not UTF-8 as "body_base64". */
static void
api_set_body(json_t *doc, const struct store_row *r)
{
	json_t *text;
	char *enc;

	if (r->body == NULL) {
		/* "" for an empty response, null when there was none. */
		json_object_set_new(doc, "body", r->body_size == 0 &&
		    r->status > 0 ? json_string("") : json_null());
		return;
	}
	/* json_stringn fails on invalid UTF-8: then the body is binary. */
	if (memchr(r->body, '\0', r->body_len) == NULL &&
	    (text = json_stringn(r->body, r->body_len)) != NULL) {
		json_object_set_new(doc, "body", text);
		return;
	}
	if ((enc = api_base64(r->body, r->body_len)) != NULL) {
		json_object_set_new(doc, "body_base64", json_string(enc));
		free(enc);
	}
}

/* One results row as JSON; the keys are the column names. */
static json_t *
api_row_json(const struct store_row *r)
{
	return json_pack("{s:I,s:I,s:I,s:s,s:o,s:o,s:o,s:I,s:b,s:o,s:I,"
	    "s:f,s:f,s:f,s:f,s:f,s:I,s:s,s:o,s:o}",
	    "id", (json_int_t)r->id,
	    "task_id", (json_int_t)r->task_id,
	    "job_id", (json_int_t)r->job_id,
	    "url", r->url != NULL ? r->url : "",
	    "final_url", json_str_or_null(r->final_url),
	    "status", r->status > 0 ? json_integer(r->status) : json_null(),
	    "content_type", json_str_or_null(r->content_type),
	    "body_size", (json_int_t)r->body_size,
	    "truncated", r->truncated,
	    "content_length", r->content_length >= 0 ?
	    json_integer(r->content_length) : json_null(),
	    "redirect_count", (json_int_t)r->redirect_count,
	    "time_dns_ms", r->time_dns_ms,
	    "time_connect_ms", r->time_connect_ms,
	    "time_tls_ms", r->time_tls_ms,
	    "time_ttfb_ms", r->time_ttfb_ms,
	    "time_total_ms", r->time_total_ms,
	    "attempts", (json_int_t)r->attempts,
	    "fetched_at", r->fetched_at != NULL ? r->fetched_at : "",
	    "error_kind", json_str_or_null(r->error_kind),
	    "error_message", json_str_or_null(r->error_message));
}

static int
api_row_cb(const struct store_row *r, void *arg)
{
	struct page *p = arg;
	json_t *doc;
	char *line;
	int rc;

	if ((doc = api_row_json(r)) == NULL) {
		p->failed = 1;
		return -1;
	}
	if (r->headers != NULL)
		json_object_set_new(doc, "headers", json_string(r->headers));
	if (p->with_body)
		api_set_body(doc, r);
	line = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (line == NULL) {
		p->failed = 1;
		return -1;
	}
	rc = page_append(p, line, strlen(line)) == 0 &&
	    page_append(p, "\n", 1) == 0 ? 0 : -1;
	free(line);
	if (rc != 0) {
		p->failed = 1;
		return -1;
	}
	p->last_id = r->id;
	p->rows++;
	return 0;
}

static enum MHD_Result
api_results(struct api *a, struct MHD_Connection *c, int64_t id)
{
	struct store_job j;
	struct page p = { 0 };
	char *cause = NULL, next[32];
	int64_t after, limit;
	int flags = 0, rc;

	if (api_query_int(c, "after", 0, INT64_MAX, &after) != 0 ||
	    api_query_int(c, "limit", a->page_max < 100 ? a->page_max : 100,
	    a->page_max, &limit) != 0)
		return api_error(c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "after and limit must be non-negative integers");
	rc = store_job_get(a->store, id, &j, &cause);
	if (rc < 0)
		return api_store_error(c, cause);
	store_job_clear(&j);
	if (rc == 1)
		return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	if (api_query_bool(c, "body")) {
		flags |= STORE_PAGE_BODY;
		p.with_body = 1;
	}
	if (api_query_bool(c, "headers"))
		flags |= STORE_PAGE_HEADERS;
	if (api_query_bool(c, "failed"))
		flags |= STORE_PAGE_FAILED;
	if (store_results_page(a->store, id, after, limit, flags,
	    api_row_cb, &p, &cause) != 0) {
		free(p.buf);
		return api_store_error(c, cause);
	}
	if (p.failed) {
		free(p.buf);
		return api_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "out of memory");
	}
	snprintf(next, sizeof(next), "%" PRId64, p.rows > 0 ? p.last_id :
	    after);
	if (p.buf == NULL && (p.buf = strdup("")) == NULL)
		return MHD_NO;
	return api_reply_text(c, MHD_HTTP_OK, p.buf, p.len,
	    "application/x-ndjson", "X-Next-After", next);
}

static enum MHD_Result
api_status(struct api *a, struct MHD_Connection *c)
{
	struct stats_snapshot st;
	struct store_totals t;
	char *cause = NULL;
	json_t *kinds;
	int k;

	if (store_totals(a->store, &t, &cause) != 0)
		return api_store_error(c, cause);
	stats_snapshot(&st);
	if ((kinds = json_object()) == NULL)
		return MHD_NO;
	for (k = 1; k < RESULT_KIND_MAX; k++)
		json_object_set_new(kinds, result_kind_name((enum result_kind)k),
		    json_integer((json_int_t)st.by_kind[k]));
	return api_reply_json(c, MHD_HTTP_OK, json_pack(
	    "{s:s,s:f,s:I,s:I,s:I,s:I,s:I,"
	    "s:{s:I,s:I,s:I,s:o,s:I},s:{s:f,s:f},s:I}",
	    "version", PACKAGE_VERSION,
	    "uptime_s", st.uptime_s,
	    "queue_depth", (json_int_t)t.queued,
	    "claimed", (json_int_t)t.running,
	    "window", (json_int_t)st.window,
	    "in_flight", (json_int_t)st.in_flight,
	    "jobs_active", (json_int_t)t.jobs_active,
	    "totals",
	    "results", (json_int_t)st.committed,
	    "ok", (json_int_t)(st.committed - st.failed),
	    "failed", (json_int_t)st.failed,
	    "by_kind", kinds,
	    "bytes_received", (json_int_t)st.bytes,
	    "rates",
	    "results_per_s_10s", st.rate_10s,
	    "results_per_s_60s", st.rate_60s,
	    "db_size_bytes", (json_int_t)t.db_bytes), NULL, NULL);
}

/* Appends printf output to a growing text; -1 on ENOMEM. */
static int
text_add(char **t, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
text_add(char **t, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *more, *nt;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&more, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((nt = realloc(*t, *len + (size_t)n + 1)) == NULL) {
		free(more);
		return -1;
	}
	memcpy(nt + *len, more, (size_t)n + 1);
	*t = nt;
	*len += (size_t)n;
	free(more);
	return 0;
}

/* GET /metrics: the Prometheus text exposition format, version 0.0.4. */
static enum MHD_Result
api_metrics(struct api *a, struct MHD_Connection *c)
{
	static const char *const classes[6] = { "none", "1xx", "2xx", "3xx",
	    "4xx", "5xx" };
	struct stats_snapshot st;
	struct stats_fetches f;
	struct store_totals t;
	char *cause = NULL, *text = NULL;
	size_t len = 0, i;
	uint64_t cum = 0;
	int ok = 1;

	if (store_totals(a->store, &t, &cause) != 0)
		return api_store_error(c, cause);
	stats_snapshot(&st);
	stats_fetches(&f);
#define ADD(...) ok = ok && text_add(&text, &len, __VA_ARGS__) == 0
	ADD("# HELP harvestd_requests_total Fetch attempts by outcome "
	    "(retried attempts included).\n"
	    "# TYPE harvestd_requests_total counter\n");
	for (i = 0; i < RESULT_KIND_MAX; i++)
		ADD("harvestd_requests_total{kind=\"%s\"} %" PRIu64 "\n",
		    i == RESULT_OK ? "ok" : result_kind_name((enum result_kind)i),
		    f.by_kind[i]);
	ADD("# HELP harvestd_responses_total Fetch attempts by HTTP status "
	    "class (none: no response).\n"
	    "# TYPE harvestd_responses_total counter\n");
	for (i = 0; i < 6; i++)
		ADD("harvestd_responses_total{class=\"%s\"} %" PRIu64 "\n",
		    classes[i], f.by_class[i]);
	ADD("# HELP harvestd_retries_total Attempts scheduled again after a "
	    "transient failure.\n# TYPE harvestd_retries_total counter\n"
	    "harvestd_retries_total %" PRIu64 "\n", f.retries);
	ADD("# HELP harvestd_received_bytes_total Body bytes received "
	    "(decoded).\n# TYPE harvestd_received_bytes_total counter\n"
	    "harvestd_received_bytes_total %" PRIu64 "\n", st.bytes);
	ADD("# HELP harvestd_results_total Result rows committed.\n"
	    "# TYPE harvestd_results_total counter\n"
	    "harvestd_results_total %" PRIu64 "\n", st.committed);
	ADD("# HELP harvestd_queue_depth Tasks waiting in the queue.\n"
	    "# TYPE harvestd_queue_depth gauge\nharvestd_queue_depth %" PRId64
	    "\n", t.queued);
	ADD("# HELP harvestd_in_flight Transfers in flight.\n"
	    "# TYPE harvestd_in_flight gauge\nharvestd_in_flight %" PRIu64
	    "\n", st.in_flight);
	ADD("# HELP harvestd_window Claimed tasks held in memory.\n"
	    "# TYPE harvestd_window gauge\nharvestd_window %" PRIu64 "\n",
	    st.window);
	ADD("# HELP harvestd_active_hosts Hosts with tasks held or in "
	    "flight.\n# TYPE harvestd_active_hosts gauge\n"
	    "harvestd_active_hosts %" PRIu64 "\n", f.active_hosts);
	ADD("# HELP harvestd_jobs_active Jobs queued or running.\n"
	    "# TYPE harvestd_jobs_active gauge\nharvestd_jobs_active %" PRId64
	    "\n", t.jobs_active);
	ADD("# HELP harvestd_db_size_bytes Database file and WAL.\n"
	    "# TYPE harvestd_db_size_bytes gauge\nharvestd_db_size_bytes %"
	    PRId64 "\n", t.db_bytes);
	ADD("# HELP harvestd_uptime_seconds Seconds since start.\n"
	    "# TYPE harvestd_uptime_seconds gauge\n"
	    "harvestd_uptime_seconds %.3f\n", st.uptime_s);
	ADD("# HELP harvestd_request_duration_seconds Time of each fetch "
	    "attempt.\n# TYPE harvestd_request_duration_seconds histogram\n");
	for (i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		cum += f.latency[i];
		ADD("harvestd_request_duration_seconds_bucket{le=\"%g\"} %"
		    PRIu64 "\n", stats_latency_bounds[i], cum);
	}
	ADD("harvestd_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
	    "\nharvestd_request_duration_seconds_sum %.6f\n"
	    "harvestd_request_duration_seconds_count %" PRIu64 "\n",
	    f.latency_count, f.latency_sum, f.latency_count);
#undef ADD
	if (!ok) {
		free(text);
		return MHD_NO;
	}
	return api_reply_text(c, MHD_HTTP_OK, text, len,
	    "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
}

static enum MHD_Result
api_method_not_allowed(struct MHD_Connection *c, const char *allow)
{
	char *msg = util_asprintf("allowed methods: %s", allow);
	json_t *doc = api_error_doc("method_not_allowed", msg);

	free(msg);
	return api_reply_json(c, MHD_HTTP_METHOD_NOT_ALLOWED, doc,
	    MHD_HTTP_HEADER_ALLOW, allow);
}

void
api_jobs_changed(struct api *a)
{
	pthread_mutex_lock(&a->wait_lock);
	a->wait_gen++;
	pthread_cond_broadcast(&a->wait_cond);
	pthread_mutex_unlock(&a->wait_lock);
}

/*
 * GET /v1/jobs/{id}?wait=S: answers once the job has ended, or after S
 * seconds (at most 60) with its state then. Waits without holding the
 * store, woken whenever any job ends.
 */
static enum MHD_Result
api_wait_job(struct api *a, struct MHD_Connection *c, int64_t id,
    int64_t wait_s)
{
	struct store_job j;
	struct timespec deadline;
	char *cause = NULL;
	uint64_t gen;
	int rc, ended;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(wait_s > API_WAIT_MAX_S ? API_WAIT_MAX_S :
	    wait_s);
	for (;;) {
		pthread_mutex_lock(&a->wait_lock);
		gen = a->wait_gen;
		pthread_mutex_unlock(&a->wait_lock);
		pthread_mutex_lock(&a->db_lock);
		rc = store_job_get(a->store, id, &j, &cause);
		pthread_mutex_unlock(&a->db_lock);
		if (rc != 0)
			break;
		ended = strcmp(j.state, "done") == 0 ||
		    strcmp(j.state, "cancelled") == 0;
		store_job_clear(&j);
		if (ended)
			break;
		pthread_mutex_lock(&a->wait_lock);
		while (a->wait_gen == gen && pthread_cond_timedwait(
		    &a->wait_cond, &a->wait_lock, &deadline) == 0)
			;
		rc = a->wait_gen == gen;	/* timed out */
		pthread_mutex_unlock(&a->wait_lock);
		if (rc)
			break;
	}
	free(cause);
	pthread_mutex_lock(&a->db_lock);
	rc = api_get_job(a, c, id, MHD_HTTP_OK, NULL);
	pthread_mutex_unlock(&a->db_lock);
	return rc;
}

/* Routes a complete request (body collected) to its handler. */
static enum MHD_Result
api_route(struct api *a, struct MHD_Connection *c, const char *url,
    const char *method, struct api_req *r)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	const char *rest, *slash;
	int64_t id;

	if (strcmp(url, "/healthz") == 0) {
		if (!get)
			return api_method_not_allowed(c, "GET, HEAD");
		return api_reply_json(c, MHD_HTTP_OK,
		    json_pack("{s:s}", "status", "ok"), NULL, NULL);
	}
	if (strcmp(url, "/metrics") == 0) {
		if (!get)
			return api_method_not_allowed(c, "GET, HEAD");
		return api_metrics(a, c);
	}
	if (strcmp(url, "/v1/status") == 0) {
		if (!get)
			return api_method_not_allowed(c, "GET, HEAD");
		return api_status(a, c);
	}
	if (strcmp(url, "/v1/jobs") == 0 || strcmp(url, "/v1/jobs/") == 0) {
		if (strcmp(method, "POST") == 0)
			return api_submit(a, c, r);
		if (get)
			return api_list_jobs(a, c);
		return api_method_not_allowed(c, "GET, HEAD, POST");
	}
	if (strncmp(url, "/v1/jobs/", 9) != 0)
		return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such route");
	rest = url + 9;
	slash = strchr(rest, '/');
	id = api_parse_id(rest, slash != NULL ? (size_t)(slash - rest) :
	    strlen(rest));
	if (id < 0)
		return api_error(c, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	if (slash == NULL) {
		int64_t wait_s;

		if (get && api_query_int(c, "wait", 0, INT64_MAX, &wait_s) != 0)
			return api_error(c, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", "wait must be a number of "
			    "seconds");
		if (get)
			return api_get_job(a, c, id, MHD_HTTP_OK, NULL);
		if (strcmp(method, "DELETE") == 0)
			return api_cancel(a, c, id);
		return api_method_not_allowed(c, "GET, HEAD, DELETE");
	}
	if (strcmp(slash, "/results") == 0) {
		if (get)
			return api_results(a, c, id);
		return api_method_not_allowed(c, "GET, HEAD");
	}
	return api_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such route");
}

/*
 * Compares the Authorization header with the token in constant time, so
 * the time taken says nothing about how much of a guess was right.
 */
static int
api_authorized(struct api *a, struct MHD_Connection *c)
{
	const char *got = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t i, glen, wlen;
	unsigned char diff;
	int ok;

	pthread_mutex_lock(&a->token_lock);
	if (a->token == NULL) {
		pthread_mutex_unlock(&a->token_lock);
		return 1;
	}
	if (got == NULL)
		got = "";
	glen = strlen(got);
	wlen = strlen(a->token);
	diff = glen != wlen;
	for (i = 0; i < wlen; i++)
		diff |= (unsigned char)(a->token[i] ^ (i < glen ? got[i] : 0));
	ok = diff == 0;
	pthread_mutex_unlock(&a->token_lock);
	return ok;
}

int
api_set_token(struct api *a, const char *token)
{
	char *bearer = NULL;

	if (token != NULL && *token != '\0' &&
	    asprintf(&bearer, "Bearer %s", token) < 0)
		return -1;
	pthread_mutex_lock(&a->token_lock);
	if (a->token != NULL)
		explicit_bzero(a->token, strlen(a->token));
	free(a->token);
	a->token = bearer;
	pthread_mutex_unlock(&a->token_lock);
	return 0;
}

/* Runs a route under the store lock; long polls take it only briefly. */
static enum MHD_Result
api_route_locked(struct api *a, struct MHD_Connection *c, const char *url,
    const char *method, struct api_req *r)
{
	const char *w = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    "wait");
	enum MHD_Result ret;
	int64_t id, wait_s;
	char *end;

	if (w != NULL && strcmp(method, "GET") == 0 &&
	    strncmp(url, "/v1/jobs/", 9) == 0 && strchr(url + 9, '/') == NULL &&
	    (id = api_parse_id(url + 9, strlen(url + 9))) > 0) {
		wait_s = strtoll(w, &end, 10);
		if (*w != '\0' && *end == '\0' && wait_s > 0)
			return api_wait_job(a, c, id, wait_s);
	}
	pthread_mutex_lock(&a->db_lock);
	ret = api_route(a, c, url, method, r);
	pthread_mutex_unlock(&a->db_lock);
	return ret;
}

/* Collects a body chunk; past the limit only counts it as too large. */
static void
api_collect(struct api *a, struct api_req *r, const char *data, size_t len)
{
	size_t cap;
	char *nb;

	if (r->too_large)
		return;
	if (len > a->max_request - r->len) {
		r->too_large = 1;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return;
	}
	if (r->len + len + 1 > r->cap) {
		cap = r->cap == 0 ? 8192 : r->cap;
		while (cap < r->len + len + 1)
			cap *= 2;
		if ((nb = realloc(r->body, cap)) == NULL) {
			r->too_large = 1;
			return;
		}
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
}

static enum MHD_Result
api_handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct api_req *r = *con_cls;
	const char *clen;
	char *end;
	unsigned long long declared;

	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*con_cls = r;
		/* Before reading any body: who is asking? */
		if (strcmp(url, "/healthz") != 0 && !api_authorized(a, c)) {
			r->too_large = 1;	/* discard any body */
			return api_reply_json(c, MHD_HTTP_UNAUTHORIZED,
			    api_error_doc("unauthorized", "this route needs "
			    "Authorization: Bearer <api_token>"),
			    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		}
		/* Refuse a declared oversize body before reading any of it. */
		clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen != NULL) {
			declared = strtoull(clen, &end, 10);
			if (*end == '\0' && declared > a->max_request) {
				r->too_large = 1;
				return api_error(c,
				    MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				    "request body exceeds max_request_bytes");
			}
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		api_collect(a, r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_large)
		return api_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
		    "request body exceeds max_request_bytes");
	return api_route_locked(a, c, url, method, r);
}

static void
api_completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct api_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r != NULL) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

static void
api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_warnx("api: %s", buf);
}

struct api *
api_start(const struct api_conf *c, const struct api_hooks *h, char **cause)
{
	struct store_opts so = { c->busy_timeout_ms, 0 };
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	pthread_condattr_t ca;
	struct api *a;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, c->listen, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)c->port);
	} else if (inet_pton(AF_INET6, c->listen, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)c->port);
		flags |= MHD_USE_IPv6;
	} else {
		*cause = util_asprintf("listen: \"%s\" is not an IPv4 or IPv6 "
		    "address", c->listen);
		return NULL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		*cause = util_asprintf("out of memory");
		return NULL;
	}
	a->hooks = *h;
	a->max_request = (size_t)c->max_request_bytes;
	a->page_max = c->results_page_max;
	a->limits.max_urls = (size_t)c->max_urls_per_job;
	a->limits.max_url_length = (size_t)c->max_url_length;
	pthread_mutex_init(&a->token_lock, NULL);
	pthread_mutex_init(&a->db_lock, NULL);
	pthread_mutex_init(&a->wait_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wait_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (api_set_token(a, c->token) != 0) {
		*cause = util_asprintf("out of memory");
		goto fail;
	}
	if ((a->store = store_open(c->db_path, &so, cause)) == NULL)
		goto fail;
	a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, api_handler, a,
	    MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, a,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)c->connection_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)c->connection_limit,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)c->per_ip_connection_limit,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)c->connection_memory_limit,
	    MHD_OPTION_NOTIFY_COMPLETED, api_completed_cb, a,
	    MHD_OPTION_END);
	if (a->mhd == NULL) {
		*cause = util_asprintf("cannot listen on %s port %lld: %s",
		    c->listen, (long long)c->port, strerror(errno));
		goto fail;
	}
	info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
	a->port = info != NULL ? info->port : (uint16_t)c->port;
	return a;
fail:
	store_close(a->store);
	api_set_token(a, NULL);
	pthread_mutex_destroy(&a->token_lock);
	pthread_mutex_destroy(&a->db_lock);
	pthread_mutex_destroy(&a->wait_lock);
	pthread_cond_destroy(&a->wait_cond);
	free(a);
	return NULL;
}

void
api_set_draining(struct api *a, int draining)
{
	atomic_store(&a->draining, draining);
}

uint16_t
api_port(const struct api *a)
{
	return a->port;
}

void
api_stop(struct api *a)
{
	if (a == NULL)
		return;
	if (a->mhd != NULL)
		MHD_stop_daemon(a->mhd);
	store_close(a->store);
	api_set_token(a, NULL);
	pthread_mutex_destroy(&a->token_lock);
	pthread_mutex_destroy(&a->db_lock);
	pthread_mutex_destroy(&a->wait_lock);
	pthread_cond_destroy(&a->wait_cond);
	free(a);
}
