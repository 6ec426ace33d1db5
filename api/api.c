/*
 * api: owns the libmicrohttpd daemon, the route table, query parameters,
 * authentication, request bodies, the API's store connections and the
 * replies. Handlers (jobs.c, status.c) see one struct api_call with
 * everything parsed. Request bodies are collected up to max_request_bytes;
 * beyond that the request gets 413. Most clients send the whole body
 * before they read an answer, so the rest of the body is read and
 * dropped first (a lingering close, bounded in bytes and time): closing
 * on unread data resets the connection and the client never sees the
 * 413.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api-int.h"
#include "conf/conf.h"
#include "doc/doc.h"
#include "log/log.h"
#include "store/store.h"
#include "util/util.h"

/* What a route needs besides its handler. */
#define API_PUBLIC	0x1	/* no token needed */
#define API_READ	0x2	/* reads the store */
#define API_WRITE	0x4	/* writes, through the store thread */
#define API_SUBMIT	0x8	/* makes a job: refused while shutting down */

#define P(x)		(1u << API_P_##x)

struct api_route {
	const char	*path;		/* "{id}" matches a path segment */
	const char	*method;	/* GET also answers HEAD */
	unsigned	 flags;
	unsigned	 params;	/* P(...) it accepts */
	api_handler	 handler;
};

static const struct api_route api_routes[] = {
	{ "/healthz", "GET", API_PUBLIC, 0, api_healthz },
	{ "/metrics", "GET", API_READ, 0, api_metrics },
	{ "/v1/status", "GET", API_READ, 0, api_status },
	{ "/v1/jobs", "GET", API_READ, P(AFTER) | P(LIMIT), api_jobs_list },
	{ "/v1/jobs", "POST", API_WRITE | API_SUBMIT, 0, api_jobs_submit },
	{ "/v1/jobs/{id}", "GET", API_READ, P(WAIT), api_job_get },
	{ "/v1/jobs/{id}", "DELETE", API_WRITE, P(PURGE), api_job_delete },
	{ "/v1/jobs/{id}/results", "GET", API_READ, P(AFTER) | P(PAGE) |
	    P(BODY) | P(HEADERS) | P(FAILED), api_job_results },
	{ "/v1/jobs/{id}/retry", "POST", API_WRITE | API_SUBMIT, 0,
	    api_job_retry },
};
#define NROUTES (sizeof(api_routes) / sizeof(api_routes[0]))

enum api_ptype { API_INT, API_BOOL };

/*
 * Every query parameter: a number is a non-negative decimal, capped at
 * max (and at the configuration key at cap_off, when there is one);
 * anything else is 400. A boolean is true for "true", "1" or "yes".
 */
static const struct api_param_def {
	const char	*name;
	enum api_ptype	 type;
	int64_t		 def;
	int64_t		 max;
	size_t		 cap_off;	/* a struct conf field, or 0 */
} api_params[API_NPARAMS] = {
	[API_P_AFTER] = { "after", API_INT, 0, INT64_MAX, 0 },
	[API_P_LIMIT] = { "limit", API_INT, 100, 1000, 0 },
	[API_P_PAGE] = { "limit", API_INT, 100, INT64_MAX,
	    offsetof(struct conf, results_page_max) },
	[API_P_WAIT] = { "wait", API_INT, 0, API_WAIT_MAX_S, 0 },
	[API_P_BODY] = { "body", API_BOOL, 0, 1, 0 },
	[API_P_HEADERS] = { "headers", API_BOOL, 0, 1, 0 },
	[API_P_FAILED] = { "failed", API_BOOL, 0, 1, 0 },
	[API_P_PURGE] = { "purge", API_BOOL, 0, 1, 0 },
};

/*
 * An over-limit body is read and dropped for at most this long, and at
 * most API_DISCARD_MIN bytes or API_DISCARD_FACTOR x max_request_bytes,
 * whichever is more (nginx's lingering close has the same two caps).
 */
#define API_DISCARD_S		10.0
#define API_DISCARD_MIN		((uint64_t)64 << 20)
#define API_DISCARD_FACTOR	4

/* Per-request state, from the first callback to MHD's completion notice. */
struct api_req {
	const struct api_route *route;	/* NULL: no route for this path */
	int64_t	 id;
	char	*body;
	size_t	 len;
	size_t	 cap;
	int	 too_large;	/* the body is dropped; the answer is 413 */
	int	 answered;	/* a response is queued */
	uint64_t seen;		/* body bytes received */
	double	 discard_since;	/* when too_large began (monotonic s) */
};

/* --- replies ------------------------------------------------------------ */

enum MHD_Result
api_reply_text(struct api_call *k, unsigned int status, char *text,
    size_t len, const char *ctype, const char *hname, const char *hvalue)
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
	    ctype) != MHD_YES || (hname != NULL &&
	    MHD_add_response_header(resp, hname, hvalue) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(k->c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result
api_reply_json(struct api_call *k, unsigned int status, json_t *doc,
    const char *hname, const char *hvalue)
{
	char *text;

	if (doc == NULL)
		return MHD_NO;
	text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (text == NULL)
		return MHD_NO;
	return api_reply_text(k, status, text, strlen(text),
	    "application/json", hname, hvalue);
}

enum MHD_Result
api_error(struct api_call *k, unsigned int status, const char *code,
    const char *message)
{
	return api_reply_json(k, status, doc_error(code, message), NULL, NULL);
}

enum MHD_Result
api_store_error(struct api_call *k, char *cause)
{
	log_warnx("api: store: %s", cause != NULL ? cause : "unknown");
	free(cause);
	return api_error(k, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
	    "the database is not available; try again");
}

int
api_lost(struct api_call *k, enum MHD_Result *ret)
{
	if (!atomic_load(&k->a->lost))
		return 0;
	*ret = api_error(k, MHD_HTTP_SERVICE_UNAVAILABLE, "database_lost",
	    k->a->lost_why);
	return 1;
}

/* Shutting down: a new job could not be fetched; said once, here. */
static int
api_draining(struct api_call *k, enum MHD_Result *ret)
{
	if (!atomic_load(&k->a->draining))
		return 0;
	*ret = api_reply_json(k, MHD_HTTP_SERVICE_UNAVAILABLE,
	    doc_error("shutting_down", "harvestd is shutting down; submit "
	    "again once it is back"), MHD_HTTP_HEADER_RETRY_AFTER, "5");
	return 1;
}

void
api_set_lost(struct api *a, const char *why)
{
	if (atomic_load(&a->lost))
		return;
	snprintf(a->lost_why, sizeof(a->lost_why), "%s; harvestd is "
	    "stopping", why);
	atomic_store(&a->lost, 1);
}

int
api_durable(struct api_call *k, enum MHD_Result *ret)
{
	char *cause = NULL;

	if (k->a->hooks.durable == NULL ||
	    k->a->hooks.durable(&cause, k->a->hooks.arg) == 0)
		return 0;
	api_set_lost(k->a, cause != NULL ? cause : "the database is gone");
	free(cause);
	api_lost(k, ret);
	return -1;
}

/* --- store connections --------------------------------------------------- */

struct store *
api_store(struct api_call *k, char **cause)
{
	struct api *a = k->a;
	struct store_opts so;
	struct store *s = NULL;

	if (k->store != NULL)
		return k->store;
	pthread_mutex_lock(&a->pool_lock);
	while (a->nidle == 0 && a->nopen >= API_POOL_MAX)
		pthread_cond_wait(&a->pool_cond, &a->pool_lock);
	if (a->nidle > 0)
		s = a->idle[--a->nidle];
	else
		a->nopen++;
	pthread_mutex_unlock(&a->pool_lock);
	if (s == NULL)
		store_opts_init(&so, k->conf, 0);
	if (s == NULL && (s = store_open(k->conf->db, &so, cause)) == NULL) {
		pthread_mutex_lock(&a->pool_lock);
		a->nopen--;
		pthread_cond_signal(&a->pool_cond);
		pthread_mutex_unlock(&a->pool_lock);
		return NULL;
	}
	k->store = s;
	return s;
}

void
api_store_release(struct api_call *k)
{
	struct api *a = k->a;

	if (k->store == NULL)
		return;
	pthread_mutex_lock(&a->pool_lock);
	a->idle[a->nidle++] = k->store;
	pthread_cond_signal(&a->pool_cond);
	pthread_mutex_unlock(&a->pool_lock);
	k->store = NULL;
}

/* --- routes -------------------------------------------------------------- */

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

/*
 * Whether url matches a route's path ("/v1/jobs/" is "/v1/jobs"). *id
 * gets the {id} segment, -1 when it is not a job id.
 */
static int
api_path_match(const char *pattern, const char *url, int64_t *id)
{
	const char *p = pattern, *u = url, *end;

	while (*p != '\0') {
		if (strncmp(p, "{id}", 4) == 0) {
			for (end = u; *end != '\0' && *end != '/'; end++)
				;
			if (end == u)
				return 0;
			*id = api_parse_id(u, (size_t)(end - u));
			u = end;
			p += 4;
			continue;
		}
		if (*p++ != *u++)
			return 0;
	}
	return *u == '\0' || strcmp(u, "/") == 0;
}

static int
api_method_is(const struct api_route *r, const char *method)
{
	return strcmp(r->method, method) == 0 ||
	    (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/*
 * The route for a request. *allow gets the methods the path has when it
 * has routes but none for this method ("" when the path has none).
 */
static const struct api_route *
api_route_find(const char *url, const char *method, int64_t *id,
    char *allow, size_t allowlen)
{
	const struct api_route *r;
	size_t i;

	*allow = '\0';
	*id = 0;
	for (i = 0; i < NROUTES; i++) {
		r = &api_routes[i];
		if (!api_path_match(r->path, url, id))
			continue;
		if (api_method_is(r, method))
			return r;
		snprintf(allow + strlen(allow), allowlen - strlen(allow),
		    "%s%s%s", *allow != '\0' ? ", " : "", r->method,
		    strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
	}
	return NULL;
}

/* Reads a route's query parameters into k->p; -1 after answering 400. */
static int
api_params_parse(struct api_call *k, unsigned accepted, enum MHD_Result *ret)
{
	const struct api_param_def *d;
	const char *v, *s;
	int64_t n, cap;
	char msg[128];
	int i;

	for (i = 0; i < API_NPARAMS; i++) {
		d = &api_params[i];
		k->p[i] = d->def;
		cap = d->max;
		if (d->cap_off != 0)
			cap = *(const int64_t *)(const void *)
			    ((const char *)k->conf + d->cap_off);
		if (k->p[i] > cap)
			k->p[i] = cap;
		if (!(accepted & (1u << i)) || (v = MHD_lookup_connection_value(
		    k->c, MHD_GET_ARGUMENT_KIND, d->name)) == NULL ||
		    *v == '\0')
			continue;
		if (d->type == API_BOOL) {
			k->p[i] = strcmp(v, "true") == 0 ||
			    strcmp(v, "1") == 0 || strcmp(v, "yes") == 0;
			continue;
		}
		/* Digits only; a huge number is capped like any other. */
		for (n = 0, s = v; *s >= '0' && *s <= '9'; s++)
			n = n > (INT64_MAX - 9) / 10 ? INT64_MAX :
			    n * 10 + (*s - '0');
		if (*s != '\0') {
			snprintf(msg, sizeof(msg), "%s must be a non-negative "
			    "integer", d->name);
			*ret = api_error(k, MHD_HTTP_BAD_REQUEST,
			    "invalid_request", msg);
			return -1;
		}
		k->p[i] = n > cap ? cap : n;
	}
	return 0;
}

/* Runs a complete request (body collected) through its route. */
static enum MHD_Result
api_dispatch(struct api *a, struct MHD_Connection *c, struct api_req *r)
{
	struct api_call k;
	enum MHD_Result ret;

	memset(&k, 0, sizeof(k));
	k.a = a;
	k.c = c;
	k.id = r->id;
	k.body = r->body != NULL ? r->body : "";
	k.len = r->len;
	pthread_mutex_lock(&a->conf_lock);
	k.conf = conf_ref(a->conf);
	pthread_mutex_unlock(&a->conf_lock);
	if ((r->route->flags & (API_READ | API_WRITE)) && api_lost(&k, &ret))
		;	/* answered */
	else if ((r->route->flags & API_SUBMIT) && api_draining(&k, &ret))
		;	/* answered */
	else if (strstr(r->route->path, "{id}") != NULL && k.id < 0)
		ret = api_error(&k, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	else if (api_params_parse(&k, r->route->params, &ret) == 0)
		ret = r->route->handler(&k);
	api_store_release(&k);
	conf_unref(k.conf);
	return ret;
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

	pthread_mutex_lock(&a->conf_lock);
	if (a->token == NULL) {
		pthread_mutex_unlock(&a->conf_lock);
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
	pthread_mutex_unlock(&a->conf_lock);
	return ok;
}

/* conf_lock held: the bearer token of the configuration. */
static int
api_token_locked(struct api *a, const char *token)
{
	char *bearer = NULL;

	if (token != NULL && *token != '\0' &&
	    asprintf(&bearer, "Bearer %s", token) < 0)
		return -1;
	if (a->token != NULL)
		explicit_bzero(a->token, strlen(a->token));
	free(a->token);
	a->token = bearer;
	return 0;
}

void
api_set_conf(struct api *a, struct conf *c)
{
	conf_replace(&a->conf, &a->conf_lock, c);
	pthread_mutex_lock(&a->conf_lock);
	if (api_token_locked(a, c->api_token) != 0)
		log_warnx("api: out of memory setting api_token");
	pthread_mutex_unlock(&a->conf_lock);
}

/* The configured request body limit. */
static size_t
api_max_request(struct api *a)
{
	size_t max;

	pthread_mutex_lock(&a->conf_lock);
	max = (size_t)a->conf->max_request_bytes;
	pthread_mutex_unlock(&a->conf_lock);
	return max;
}

/* How many body bytes an over-limit request may make us read. */
static uint64_t
api_discard_cap(size_t max)
{
	uint64_t cap = (uint64_t)max * API_DISCARD_FACTOR;

	return cap > API_DISCARD_MIN ? cap : API_DISCARD_MIN;
}

/* From now on the body is dropped and the answer is 413. */
static void
api_drop_body(struct api_req *r)
{
	r->too_large = 1;
	r->discard_since = util_mono_s();
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
}

/* Whether a body being dropped has cost enough: answer without the rest. */
static int
api_discard_done(struct api *a, const struct api_req *r)
{
	return r->seen > api_discard_cap(api_max_request(a)) ||
	    util_mono_s() - r->discard_since > API_DISCARD_S;
}

/* Collects a body chunk; past the limit only counts it as too large. */
static void
api_collect(struct api *a, struct api_req *r, const char *data, size_t len)
{
	size_t cap, max = api_max_request(a);
	char *nb;

	r->seen += len;
	if (r->too_large)
		return;
	if (len > max - r->len) {
		api_drop_body(r);
		return;
	}
	if (r->len + len + 1 > r->cap) {
		cap = r->cap == 0 ? 8192 : r->cap;
		while (cap < r->len + len + 1)
			cap *= 2;
		if ((nb = realloc(r->body, cap)) == NULL) {
			api_drop_body(r);
			return;
		}
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
}

/* Whether the client waits for 100 Continue before sending its body. */
static int
api_expects_continue(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_EXPECT);

	return v != NULL && strcasecmp(v, "100-continue") == 0;
}

/* 413; MHD closes the connection after it when body is left unread. */
static enum MHD_Result
api_too_large(struct api_call *k, struct api_req *r)
{
	r->answered = 1;
	return api_error(k, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
	    "request body exceeds max_request_bytes");
}

/*
 * 413 in the middle of a body, then the connection is closed (MHD_NO).
 * libmicrohttpd queues no response while a body is still arriving, so the
 * answer is written to the socket directly: safe in the connection's own
 * thread (one per connection), where nothing else writes, and before any
 * response of ours. A client reading while it sends sees the 413; one that
 * only reads at the end sees the connection reset, as after any cap.
 */
static enum MHD_Result
api_too_large_raw(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info;
	json_t *doc;
	char *body = NULL, *text = NULL;
	int fd;

	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info == NULL)
		return MHD_NO;
	fd = info->connect_fd;
	if ((doc = doc_error("too_large", "request body exceeds "
	    "max_request_bytes")) != NULL)
		body = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (body != NULL && (text = util_asprintf("HTTP/1.1 413 Content Too "
	    "Large\r\nContent-Type: application/json\r\nContent-Length: "
	    "%zu\r\nConnection: close\r\n\r\n%s", strlen(body), body)) !=
	    NULL) {
		/* Small, into an empty send buffer: one send is enough. */
		(void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)shutdown(fd, SHUT_WR);
	}
	free(text);
	free(body);
	log_info("api: request body over max_request_bytes dropped up to its "
	    "bound; answered 413 and closed");
	return MHD_NO;
}

/* The first callback of a request: route, auth, declared size. */
static enum MHD_Result
api_begin(struct api *a, struct MHD_Connection *c, const char *url,
    const char *method, struct api_req *r)
{
	struct api_call k = { .a = a, .c = c };
	char allow[64], *msg;
	const char *clen;
	char *end;
	unsigned long long declared;
	enum MHD_Result ret;

	r->route = api_route_find(url, method, &r->id, allow, sizeof(allow));
	/* Before reading any body: who is asking? Unknown routes too, so
	 * they say nothing to a stranger. */
	if ((r->route == NULL || !(r->route->flags & API_PUBLIC)) &&
	    !api_authorized(a, c)) {
		r->too_large = r->answered = 1;	/* discard any body */
		return api_reply_json(&k, MHD_HTTP_UNAUTHORIZED,
		    doc_error("unauthorized", "this route needs "
		    "Authorization: Bearer <api_token>"),
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	}
	if (r->route == NULL) {
		r->too_large = r->answered = 1;
		if (*allow == '\0')
			return api_error(&k, MHD_HTTP_NOT_FOUND, "not_found",
			    "no such route");
		msg = util_asprintf("allowed methods: %s", allow);
		ret = api_reply_json(&k, MHD_HTTP_METHOD_NOT_ALLOWED,
		    doc_error("method_not_allowed", msg),
		    MHD_HTTP_HEADER_ALLOW, allow);
		free(msg);
		return ret;
	}
	/*
	 * A declared oversize body. A client that asked before sending it
	 * (Expect: 100-continue) is refused at once, and so is one whose body
	 * is more than we would drop anyway. Others send the whole body
	 * before reading (Python's http.client and requests do): dropping it
	 * first lets them read the 413.
	 */
	clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen != NULL) {
		declared = strtoull(clen, &end, 10);
		if (*end == '\0' && declared > api_max_request(a)) {
			api_drop_body(r);
			if (api_expects_continue(c) ||
			    declared > api_discard_cap(api_max_request(a)))
				return api_too_large(&k, r);
		}
	}
	return MHD_YES;
}

static enum MHD_Result
api_handler_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct api_req *r = *con_cls;
	struct api_call k = { .a = a, .c = c };

	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*con_cls = r;
		return api_begin(a, c, url, method, r);
	}
	if (*upload_data_size > 0) {
		api_collect(a, r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		/* Enough dropped: answer, and close on the rest. */
		if (r->too_large && !r->answered && api_discard_done(a, r)) {
			r->answered = 1;
			return api_too_large_raw(c);
		}
		return MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	if (r->too_large)
		return api_too_large(&k, r);
	return api_dispatch(a, c, r);
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

/* --- lifecycle ------------------------------------------------------------ */

void
api_jobs_changed(struct api *a)
{
	pthread_mutex_lock(&a->wait_lock);
	a->wait_gen++;
	pthread_cond_broadcast(&a->wait_cond);
	pthread_mutex_unlock(&a->wait_lock);
}

/* Frees what api_create and api_start set up; MHD is stopped or was
 * never started. */
static void
api_free(struct api *a)
{
	if (a->listen_fd != -1)
		close(a->listen_fd);
	while (a->nidle > 0)
		store_close(a->idle[--a->nidle]);
	pthread_mutex_lock(&a->conf_lock);
	api_token_locked(a, NULL);
	pthread_mutex_unlock(&a->conf_lock);
	conf_unref(a->conf);
	pthread_mutex_destroy(&a->conf_lock);
	pthread_mutex_destroy(&a->pool_lock);
	pthread_cond_destroy(&a->pool_cond);
	pthread_mutex_destroy(&a->wait_lock);
	pthread_cond_destroy(&a->wait_cond);
	free(a);
}

/* The listen address of c as a socket address; -1 if it is not one. */
static int
api_sockaddr(const struct conf *c, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, c->listen, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)c->port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, c->listen, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)c->port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/*
 * A listening socket on c's address and port, made as libmicrohttpd makes
 * its own (SO_REUSEADDR, IPv6 only for an IPv6 address, non-blocking).
 * *port gets the port bound (c's, or the kernel's choice for 0).
 */
static int
api_listen(const struct conf *c, uint16_t *port, char **cause)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	if (api_sockaddr(c, &ss, &len) != 0) {
		*cause = util_asprintf("listen: \"%s\" is not an IPv4 or IPv6 "
		    "address", c->listen);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		goto fail;
	*port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
fail:
	*cause = util_asprintf("cannot listen on %s port %lld: %s",
	    c->listen, (long long)c->port, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

struct api *
api_create(struct conf *c, const struct api_hooks *h, char **cause)
{
	pthread_condattr_t ca;
	struct api *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		*cause = util_asprintf("out of memory");
		return NULL;
	}
	a->listen_fd = -1;
	a->hooks = *h;
	a->conf = conf_ref(c);
	pthread_mutex_init(&a->conf_lock, NULL);
	pthread_mutex_init(&a->pool_lock, NULL);
	pthread_cond_init(&a->pool_cond, NULL);
	pthread_mutex_init(&a->wait_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wait_cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((a->listen_fd = api_listen(c, &a->port, cause)) == -1)
		goto fail;
	if (api_token_locked(a, c->api_token) != 0) {
		*cause = util_asprintf("out of memory");
		goto fail;
	}
	return a;
fail:
	api_free(a);
	return NULL;
}

int
api_start(struct api *a, struct queue *q, char **cause)
{
	struct store_opts so;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	struct conf *c;
	int fd = a->listen_fd, rc = -1;

	a->queue = q;

	pthread_mutex_lock(&a->conf_lock);
	c = conf_ref(a->conf);
	pthread_mutex_unlock(&a->conf_lock);
	store_opts_init(&so, c, 0);
	/* One connection now, so a database that cannot be opened stops
	 * the start rather than the first request. */
	if ((a->idle[0] = store_open(c->db, &so, cause)) == NULL)
		goto out;
	a->nidle = a->nopen = 1;
	/* The socket is libmicrohttpd's from here, started or not: it
	 * closes it in MHD_stop_daemon. */
	a->listen_fd = -1;
	a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, api_handler_cb, a,
	    MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, a,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)c->api_connection_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)c->api_connection_limit,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)c->api_per_ip_connection_limit,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)c->api_connection_memory_limit,
	    MHD_OPTION_NOTIFY_COMPLETED, api_completed_cb, a,
	    MHD_OPTION_END);
	if (a->mhd == NULL) {
		*cause = util_asprintf("cannot start the API on %s port %u: %s",
		    c->listen, (unsigned)a->port, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	conf_unref(c);
	return rc;
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
	api_free(a);
}
