/*
 * api/jobs: the job routes — submit, list, one job (with its long poll),
 * cancel and purge, the results export, and retrying a job's failures.
 */
#include "config.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-int.h"
#include "conf/conf.h"
#include "doc/doc.h"
#include "log/log.h"
#include "queue/queue.h"
#include "stats/stats.h"
#include "store/store.h"
#include "util/util.h"

/*
 * Answers with job id as it is now, plus the keys of extra (taken, may be
 * NULL); 201 answers carry its Location.
 */
static enum MHD_Result
api_job_reply(struct api_call *k, int64_t id, unsigned int status,
    json_t *extra)
{
	struct store_job j;
	struct store *s;
	char *cause = NULL, loc[64];
	json_t *doc;
	int rc;

	if ((s = api_store(k, &cause)) == NULL) {
		json_decref(extra);
		return api_store_error(k, cause);
	}
	rc = store_job_get(s, id, &j, &cause);
	if (rc < 0) {
		json_decref(extra);
		return api_store_error(k, cause);
	}
	if (rc == 1) {
		json_decref(extra);
		return api_error(k, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	}
	doc = doc_job(&j, k->conf);
	store_job_clear(&j);
	if (doc != NULL && extra != NULL)
		json_object_update(doc, extra);
	json_decref(extra);
	snprintf(loc, sizeof(loc), "/v1/jobs/%" PRId64, id);
	return api_reply_json(k, status, doc, status == MHD_HTTP_CREATED ?
	    MHD_HTTP_HEADER_LOCATION : NULL, loc);
}

struct api_list {
	json_t			*jobs;
	const struct conf	*conf;
};

static int
api_list_cb(const struct store_job *j, void *arg)
{
	struct api_list *l = arg;

	return json_array_append_new(l->jobs, doc_job(j, l->conf)) == 0 ?
	    0 : -1;
}

/* GET /v1/jobs?after=ID&limit=N */
enum MHD_Result
api_jobs_list(struct api_call *k)
{
	struct api_list l = { NULL, k->conf };
	struct store *s;
	char *cause = NULL;

	if ((s = api_store(k, &cause)) == NULL)
		return api_store_error(k, cause);
	if ((l.jobs = json_array()) == NULL)
		return MHD_NO;
	if (store_job_list(s, k->p[API_P_AFTER], k->p[API_P_LIMIT],
	    api_list_cb, &l, &cause) != 0) {
		json_decref(l.jobs);
		return api_store_error(k, cause);
	}
	return api_reply_json(k, MHD_HTTP_OK, json_pack("{s:o}", "jobs",
	    l.jobs), NULL, NULL);
}

static json_t *
api_rejected_json(const struct api_request *req)
{
	json_t *v, *e;
	size_t i;

	if ((v = json_array()) == NULL)
		return NULL;
	for (i = 0; i < req->nrejected; i++) {
		e = json_pack("{s:I,s:o,s:s}",
		    "index", (json_int_t)req->rejected[i].index,
		    "url", req->rejected[i].url != NULL ?
		    json_string(req->rejected[i].url) : json_null(),
		    "reason", req->rejected[i].reason);
		/* Only the start of a long URL is echoed: say so. */
		if (e != NULL && req->rejected[i].truncated)
			json_object_set_new(e, "truncated", json_true());
		json_array_append_new(v, e);
	}
	return v;
}

/*
 * The API's writes run on the store thread (queue_call), the database's
 * one writer: they never wait behind it for a lock, and its own
 * transactions are bounded, so a write is taken within one turn.
 */
struct api_submit_call {
	const struct job_opts	*opts;
	const struct store_url	*urls;
	size_t			 n;
	int64_t			 job_id;
};

static int
api_submit_cb(struct store *s, void *arg, char **cause)
{
	struct api_submit_call *c = arg;

	return store_job_create(s, c->opts, c->urls, c->n, &c->job_id, cause);
}

/* A cancel: the first step answers; the rest goes on in the background. */
struct api_cancel_call {
	int64_t	id;
	int	found;
	int	changed;
	int	more;
};

static int
api_cancel_cb(struct store *s, void *arg, char **cause)
{
	struct api_cancel_call *c = arg;
	int64_t written;
	int changed, rc;

	rc = store_job_cancel_step(s, c->id, STORE_STEP_ROWS, &changed,
	    &written, &c->more, cause);
	if (rc < 0)
		return -1;
	c->found = rc == 0;
	c->changed |= changed;
	/* Every result row counts, the cancel's too. */
	stats_add_committed(RESULT_CANCELLED, (uint64_t)written);
	return 0;
}

static int
api_cancel_rest_cb(struct store *s, void *arg, char **cause)
{
	struct api_cancel_call *c = arg;

	if (api_cancel_cb(s, c, cause) != 0)
		return -1;
	return c->found && c->more ? 1 : 0;
}

/* A purge, in bounded steps; others' writes and commits go between. */
struct api_purge_call {
	int64_t	id;
	int	rc;	/* store_job_purge_step's: 0, 1 none, 2 active */
};

static int
api_purge_cb(struct store *s, void *arg, char **cause)
{
	struct api_purge_call *c = arg;
	int more;

	if ((c->rc = store_job_purge_step(s, c->id, STORE_STEP_ROWS, &more,
	    cause)) < 0)
		return -1;
	return c->rc == 0 && more ? 1 : 0;
}

/* The HTTP status of a parse failure's code. */
static unsigned int
api_parse_status(const char *code)
{
	if (strcmp(code, "unsupported_media_type") == 0)
		return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	if (strcmp(code, "internal") == 0)
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	return MHD_HTTP_BAD_REQUEST;
}

/* POST /v1/jobs: committed before the 201 goes out. */
enum MHD_Result
api_jobs_submit(struct api_call *k)
{
	struct api_limits lim = { (size_t)k->conf->max_urls_per_job,
	    (size_t)k->conf->max_url_length };
	struct api_request req;
	struct api_submit_call call;
	struct store_url *urls = NULL;
	const char *code = NULL;
	char *cause = NULL;
	json_t *doc;
	int64_t job_id;
	enum MHD_Result ret;
	size_t i;

	if (api_request_parse(k->body, k->len, MHD_lookup_connection_value(
	    k->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), &lim, &req,
	    &code, &cause) != 0) {
		ret = api_error(k, api_parse_status(code), code, cause);
		free(cause);
		return ret;
	}
	if (req.nurls == 0) {
		doc = doc_error(req.nrejected == 0 ? "no_urls" :
		    "no_valid_urls", req.nrejected == 0 ?
		    "the submission holds no URL" :
		    "none of the submitted URLs is valid");
		if (doc != NULL)
			json_object_set_new(doc, "rejected",
			    api_rejected_json(&req));
		api_request_clear(&req);
		return api_reply_json(k, MHD_HTTP_BAD_REQUEST, doc, NULL,
		    NULL);
	}
	if ((urls = calloc(req.nurls, sizeof(*urls))) == NULL) {
		api_request_clear(&req);
		return api_error(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "out of memory");
	}
	for (i = 0; i < req.nurls; i++) {
		urls[i].url = req.urls[i].url;
		urls[i].host = req.urls[i].host;
	}
	call.opts = &req.opts;
	call.urls = urls;
	call.n = req.nurls;
	if (queue_call(k->a->queue, api_submit_cb, &call,
	    k->conf->busy_timeout_ms, &cause) != 0) {
		free(urls);
		api_request_clear(&req);
		return api_store_error(k, cause);
	}
	job_id = call.job_id;
	free(urls);
	if (api_durable(k, &ret) != 0) {
		api_request_clear(&req);
		return ret;
	}
	/* A big submission's parse used lots of memory for a moment: give
	 * it back to the system rather than keep it as the new peak. */
	if (k->len > (1 << 20))
		malloc_trim(0);
	log_info("job %" PRId64 " submitted: %zu URLs accepted, %zu "
	    "duplicates dropped, %zu rejected", job_id, req.nurls,
	    req.nduplicates, req.nrejected);
	if (!conf_eff(k->conf, &req.opts, tls_verify))
		log_warnx("job %" PRId64 ": tls_verify is false: its server "
		    "certificates and host names are not checked", job_id);
	if (k->a->hooks.submitted != NULL)
		k->a->hooks.submitted(job_id, k->a->hooks.arg);
	doc = json_pack("{s:I,s:I,s:o}", "accepted", (json_int_t)req.nurls,
	    "duplicates", (json_int_t)req.nduplicates,
	    "rejected", api_rejected_json(&req));
	api_request_clear(&req);
	return api_job_reply(k, job_id, MHD_HTTP_CREATED, doc);
}

/*
 * Whether job id has ended; -1 (with *cause) when it cannot be read, 1
 * also when it does not exist (the answer will say so).
 */
static int
api_job_ended(struct api_call *k, int64_t id, char **cause)
{
	struct store_job j;
	struct store *s;
	int rc, ended;

	if ((s = api_store(k, cause)) == NULL)
		return -1;
	rc = store_job_get(s, id, &j, cause);
	api_store_release(k);
	if (rc != 0)
		return rc < 0 ? -1 : 1;
	ended = job_state_ended(j.state_code);
	store_job_clear(&j);
	return ended;
}

/*
 * GET /v1/jobs/{id}, and with ?wait=S (at most API_WAIT_MAX_S) a long
 * poll: answers once the job has ended, or after S seconds with its state
 * then. Waits holding no store connection, woken whenever a job ends.
 */
enum MHD_Result
api_job_get(struct api_call *k)
{
	struct api *a = k->a;
	struct timespec deadline;
	char *cause = NULL;
	uint64_t gen;
	int timed_out = 0;

	deadline = util_deadline(NULL, k->p[API_P_WAIT] * 1000);
	while (k->p[API_P_WAIT] > 0 && !timed_out) {
		pthread_mutex_lock(&a->wait_lock);
		gen = a->wait_gen;
		pthread_mutex_unlock(&a->wait_lock);
		if (api_job_ended(k, k->id, &cause) != 0)
			break;
		pthread_mutex_lock(&a->wait_lock);
		while (a->wait_gen == gen && pthread_cond_timedwait(
		    &a->wait_cond, &a->wait_lock, &deadline) == 0)
			;
		timed_out = a->wait_gen == gen;
		pthread_mutex_unlock(&a->wait_lock);
	}
	free(cause);
	return api_job_reply(k, k->id, MHD_HTTP_OK, NULL);
}

/* DELETE /v1/jobs/{id}?purge=true: removes a finished job and its rows. */
static enum MHD_Result
api_job_purge(struct api_call *k)
{
	struct api_purge_call call = { k->id, 0 };
	enum MHD_Result ret;
	char *cause = NULL;
	int rc;

	if (queue_call(k->a->queue, api_purge_cb, &call,
	    k->conf->busy_timeout_ms, &cause) != 0)
		return api_store_error(k, cause);
	rc = call.rc;
	if (rc == 0 && api_durable(k, &ret) != 0)
		return ret;
	if (rc == 1)
		return api_error(k, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	if (rc == 2)
		return api_error(k, MHD_HTTP_CONFLICT, "job_active",
		    "the job has unfinished tasks: cancel it and wait until no "
		    "task is running, then purge");
	log_info("job %" PRId64 " purged", k->id);
	return api_reply_json(k, MHD_HTTP_OK, json_pack("{s:I,s:b}", "id",
	    (json_int_t)k->id, "purged", 1), NULL, NULL);
}

/* DELETE /v1/jobs/{id}: cancels the job. */
enum MHD_Result
api_job_delete(struct api_call *k)
{
	struct api_cancel_call call = { k->id, 0, 0, 0 }, *rest;
	enum MHD_Result ret;
	char *cause = NULL;

	if (k->p[API_P_PURGE])
		return api_job_purge(k);
	if (queue_call(k->a->queue, api_cancel_cb, &call,
	    k->conf->busy_timeout_ms, &cause) != 0)
		return api_store_error(k, cause);
	if (call.found && api_durable(k, &ret) != 0)
		return ret;
	if (!call.found)
		return api_error(k, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	/* The job is cancelled; a big one's remaining queued tasks follow
	 * in bounded steps (a restart finishes them should it stop). */
	if (call.more && (rest = malloc(sizeof(*rest))) != NULL) {
		*rest = call;
		queue_call_async(k->a->queue, api_cancel_rest_cb, rest, free);
	}
	if (call.changed && k->a->hooks.cancelled != NULL)
		k->a->hooks.cancelled(k->id, k->a->hooks.arg);
	if (call.changed)
		api_jobs_changed(k->a);
	return api_job_reply(k, k->id, MHD_HTTP_OK, NULL);
}

/* --- results export ------------------------------------------------------ */

#define EXPORT_RAW	(192 * 1024)	/* body bytes per read; base64 wants
					   a multiple of 3 */
#define EXPORT_OUT	(64 * 1024)	/* encoded bytes (or lines) staged */
#define EXPORT_ROWS	256		/* rows read per statement at most */
#define EXPORT_BLOCK	(32 * 1024)	/* MHD's block size hint */

enum export_state {
	EXPORT_ROW,	/* next: a row */
	EXPORT_KEY,	/* next: the body's key (the head went out) */
	EXPORT_BODY,	/* next: a piece of the body, or its line's end */
	EXPORT_END,
	EXPORT_FAILED
};

/*
 * A results page on its way out. MHD pulls it through api_export_cb as
 * the client reads, so memory is this struct whatever the page holds:
 * lines (with small bodies) about EXPORT_OUT bytes at a time, and a big
 * body in EXPORT_RAW pieces read from SQLite's blob and escaped, or
 * base64-encoded, as it goes. Each pull takes a store connection from
 * the pool for a few short statements and gives it back: a slow client
 * holds neither a read transaction (which would keep WAL checkpoints from
 * completing) nor one of the pool's connections.
 */
struct api_export {
	struct api_call		 k;	/* for the pool; a conf reference */
	enum export_state	 state;
	int64_t			 job_id;
	int64_t			 after;	/* the last row read */
	int64_t			 last;	/* the page's last row */
	int			 flags;	/* STORE_PAGE_* */
	int			 with_body;

	const char		*out;	/* staged: out[outoff..outlen) */
	size_t			 outlen;
	size_t			 outoff;
	char			*lines;	/* owned: lines, or a row's head */
	size_t			 lineslen;
	size_t			 linescap;
	int			 streamed;	/* a head: its body comes next */
	int			 oom;

	int64_t			 body_id;
	int64_t			 body_len;
	int64_t			 body_off;	/* next byte to read */
	int			 body_text;	/* "body", else "body_base64" */
	size_t			 rawlen;
	size_t			 rawoff;
	unsigned char		 raw[EXPORT_RAW];
	char			 enc[EXPORT_OUT];
};

static void
api_export_stage(struct api_export *x, const char *p, size_t len)
{
	x->out = p;
	x->outlen = len;
	x->outoff = 0;
}

static int
api_export_fail(struct api_export *x, char *cause)
{
	log_warnx("api: results of job %" PRId64 " cut after row %" PRId64
	    ": %s", x->job_id, x->after, cause != NULL ? cause : "unknown");
	free(cause);
	x->state = EXPORT_FAILED;
	return -1;
}

static int
api_export_append(struct api_export *x, const char *p, size_t len)
{
	size_t cap;
	char *nl;

	if (x->lineslen + len + 1 > x->linescap) {
		cap = x->linescap == 0 ? EXPORT_OUT : x->linescap;
		while (cap < x->lineslen + len + 1)
			cap *= 2;
		if ((nl = realloc(x->lines, cap)) == NULL)
			return -1;
		x->lines = nl;
		x->linescap = cap;
	}
	memcpy(x->lines + x->lineslen, p, len);
	x->lineslen += len;
	x->lines[x->lineslen] = '\0';
	return 0;
}

/*
 * Store connection held: the rows of the page, as lines until about
 * EXPORT_OUT bytes are staged, or one row's head when its body streams.
 */
static int
api_export_row_cb(const struct store_row *r, void *arg)
{
	struct api_export *x = arg;
	json_t *doc;
	char *text = NULL;

	if (r->id > x->last)
		return 1;	/* past the page X-Next-After announced */
	if (x->with_body && r->body == NULL && r->body_len > 0) {
		if (x->lineslen > 0)
			return 1;	/* the lines go first; it comes next */
		if ((text = doc_result_head(r)) == NULL ||
		    api_export_append(x, text, strlen(text)) != 0)
			goto nomem;
		free(text);
		x->after = r->id;
		x->body_id = r->id;
		x->streamed = 1;
		return 1;
	}
	/* No body, or a small one: the line as it always was. */
	if ((doc = doc_result(r, x->with_body)) == NULL)
		goto nomem;
	text = json_dumps(doc, DOC_JSON_FLAGS);
	json_decref(doc);
	if (text == NULL || api_export_append(x, text, strlen(text)) != 0 ||
	    api_export_append(x, "\n", 1) != 0)
		goto nomem;
	free(text);
	x->after = r->id;
	return x->lineslen >= EXPORT_OUT;
nomem:
	free(text);
	x->oom = 1;
	return -1;
}

static int
api_export_check_cb(const unsigned char *p, size_t n, void *arg)
{
	return doc_utf8_feed(arg, p, n) != 0;	/* stop at the first no */
}

/* Stages the next rows; 1 past the page's end. */
static int
api_export_row(struct api_export *x, struct store *s)
{
	struct doc_utf8 u;
	char *cause = NULL;
	int64_t after = x->after;

	x->lineslen = 0;
	x->streamed = 0;
	if (store_results_page(s, x->job_id, x->after, EXPORT_ROWS, x->flags,
	    api_export_row_cb, x, &cause) != 0)
		return api_export_fail(x, cause);
	/* A row's document that could not be made stops the page short
	 * rather than leave a gap in it. */
	if (x->oom)
		return api_export_fail(x, strdup("out of memory"));
	if (x->after == after) {
		x->state = EXPORT_END;
		return 1;
	}
	api_export_stage(x, x->lines, x->lineslen);
	if (!x->streamed)
		return 0;
	/* "body" or "body_base64" is the whole body's verdict: read it
	 * once through (a short read, nothing waits on the client). */
	doc_utf8_init(&u);
	if (store_result_body(s, x->body_id, 0, x->raw, sizeof(x->raw),
	    api_export_check_cb, &u, &x->body_len, &cause) != 0)
		return api_export_fail(x, cause);
	x->body_text = doc_utf8_end(&u) == 0;
	x->body_off = 0;
	x->rawlen = x->rawoff = 0;
	x->state = EXPORT_KEY;
	return 0;
}

static int
api_export_read_cb(const unsigned char *p, size_t n, void *arg)
{
	size_t *got = arg;

	(void)p;
	*got = n;
	return 1;	/* one piece: the client is slower than SQLite */
}

/* Stages the next piece of the body; at its end, the line's end. */
static int
api_export_body(struct api_export *x, struct store *s)
{
	static const char tail[] = DOC_RESULT_TAIL "\n";
	size_t left, got, used;
	int64_t n, size;
	char *cause = NULL;
	int last;

	for (;;) {
		last = x->body_off >= x->body_len;
		if (x->rawoff < x->rawlen) {
			if (x->body_text)
				n = doc_body_text(x->enc, sizeof(x->enc),
				    x->raw + x->rawoff, x->rawlen - x->rawoff,
				    &used);
			else
				n = (int64_t)doc_body_base64(x->enc,
				    sizeof(x->enc), x->raw + x->rawoff,
				    x->rawlen - x->rawoff, last, &used);
			if (n < 0)
				return api_export_fail(x, util_asprintf("result "
				    "%" PRId64 ": the body changed", x->body_id));
			x->rawoff += used;
			if (n > 0) {
				api_export_stage(x, x->enc, (size_t)n);
				return 0;
			}
			if (last)
				return api_export_fail(x, util_asprintf("result "
				    "%" PRId64 ": the body ends inside a "
				    "character", x->body_id));
		} else if (last) {
			api_export_stage(x, tail, sizeof(tail) - 1);
			x->state = EXPORT_ROW;
			return 0;
		}
		/* What could not be encoded yet (a character or a base64
		 * group cut by the last read) goes first. */
		left = x->rawlen - x->rawoff;
		memmove(x->raw, x->raw + x->rawoff, left);
		x->rawoff = 0;
		x->rawlen = left;
		got = 0;
		if (store_result_body(s, x->body_id, x->body_off,
		    x->raw + left, sizeof(x->raw) - left, api_export_read_cb,
		    &got, &size, &cause) != 0)
			return api_export_fail(x, cause);
		if (got == 0 || size != x->body_len)
			return api_export_fail(x, util_asprintf("result %"
			    PRId64 ": the body changed", x->body_id));
		x->rawlen += got;
		x->body_off += (int64_t)got;
	}
}

/*
 * Stages what comes next; 1 at the end of the page, -1 after a failure
 * (logged: the client sees the answer cut short).
 */
static int
api_export_next(struct api_export *x)
{
	struct store *s;
	char *cause = NULL;

	switch (x->state) {
	case EXPORT_END:
		return 1;
	case EXPORT_FAILED:
		return -1;
	case EXPORT_KEY:
		if (x->body_text)
			api_export_stage(x, DOC_BODY_TEXT,
			    sizeof(DOC_BODY_TEXT) - 1);
		else
			api_export_stage(x, DOC_BODY_BASE64,
			    sizeof(DOC_BODY_BASE64) - 1);
		x->state = EXPORT_BODY;
		return 0;
	default:
		break;
	}
	if ((s = api_store(&x->k, &cause)) == NULL)
		return api_export_fail(x, cause);
	if (x->state == EXPORT_BODY)
		return api_export_body(x, s);
	return api_export_row(x, s);
}

/* MHD's content reader, on the connection's thread. */
static ssize_t
api_export_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_export *x = cls;
	size_t done = 0, n;
	int rc = 0;

	(void)pos;
	while (done < max) {
		if (x->outoff < x->outlen) {
			n = x->outlen - x->outoff;
			if (n > max - done)
				n = max - done;
			memcpy(buf + done, x->out + x->outoff, n);
			x->outoff += n;
			done += n;
			continue;
		}
		if ((rc = api_export_next(x)) != 0)
			break;
	}
	api_store_release(&x->k);
	if (done > 0)
		return (ssize_t)done;
	return rc < 0 ? MHD_CONTENT_READER_END_WITH_ERROR :
	    MHD_CONTENT_READER_END_OF_STREAM;
}

static void
api_export_free_cb(void *cls)
{
	struct api_export *x = cls;

	api_store_release(&x->k);
	conf_unref(x->k.conf);
	free(x->lines);
	free(x);
}

/*
 * GET /v1/jobs/{id}/results: JSON lines, X-Next-After for the next page.
 * The header goes out before the first line, so the page is fixed first:
 * its last id comes from a query on ids alone, and exactly the rows up to
 * it are streamed (rows only ever get ids above those there are, so none
 * can join the page meanwhile; a purge can only take rows away).
 */
enum MHD_Result
api_job_results(struct api_call *k)
{
	struct MHD_Response *resp;
	struct api_export *x;
	struct store_job j;
	struct store *s;
	char *cause = NULL, *empty, next[32];
	enum MHD_Result ret;
	int64_t last;
	int flags = 0, rc;

	if ((s = api_store(k, &cause)) == NULL)
		return api_store_error(k, cause);
	rc = store_job_get(s, k->id, &j, &cause);
	if (rc < 0)
		return api_store_error(k, cause);
	store_job_clear(&j);
	if (rc == 1)
		return api_error(k, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	if (k->p[API_P_HEADERS])
		flags |= STORE_PAGE_HEADERS;
	if (k->p[API_P_FAILED])
		flags |= STORE_PAGE_FAILED;
	if (store_results_last(s, k->id, k->p[API_P_AFTER], k->p[API_P_PAGE],
	    flags, &last, &cause) != 0)
		return api_store_error(k, cause);
	snprintf(next, sizeof(next), "%" PRId64, last > 0 ? last :
	    k->p[API_P_AFTER]);
	if (last == 0) {
		if ((empty = strdup("")) == NULL)
			return MHD_NO;
		return api_reply_text(k, MHD_HTTP_OK, empty, 0,
		    "application/x-ndjson", "X-Next-After", next);
	}
	/* The stream takes connections from the pool as it goes. */
	api_store_release(k);
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return MHD_NO;
	x->k.a = k->a;
	x->k.c = k->c;
	x->k.conf = conf_ref(k->conf);
	x->job_id = k->id;
	x->after = k->p[API_P_AFTER];
	x->last = last;
	x->with_body = k->p[API_P_BODY] != 0;
	x->flags = flags | (x->with_body ? STORE_PAGE_BODY_SMALL : 0);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	    EXPORT_BLOCK, api_export_cb, x, api_export_free_cb);
	if (resp == NULL) {
		api_export_free_cb(x);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/x-ndjson") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Next-After", next) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(k->c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * POST /v1/jobs/{id}/retry: the failed URLs of a finished job, submitted
 * again as a new job with the same options; answered like POST /v1/jobs,
 * plus "retry_of". The new job's options are the old ones exactly: the
 * link between the two lives only in the answer and the log.
 */
enum MHD_Result
api_job_retry(struct api_call *k)
{
	struct store_failed f;
	struct api_submit_call call;
	struct store_url *urls = NULL;
	struct store *s;
	enum MHD_Result ret;
	char *cause = NULL;
	json_t *doc;
	int64_t job_id;
	size_t i;
	int rc;

	if ((s = api_store(k, &cause)) == NULL)
		return api_store_error(k, cause);
	rc = store_job_failed(s, k->id, &f, &cause);
	if (rc < 0)
		return api_store_error(k, cause);
	if (rc == 1)
		return api_error(k, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such job");
	if (rc == 2)
		return api_error(k, MHD_HTTP_CONFLICT, "job_active",
		    "the job has unfinished tasks: retry it once it has ended");
	if (f.n == 0) {
		store_failed_clear(&f);
		return api_error(k, MHD_HTTP_BAD_REQUEST, "no_failed_urls",
		    "no URL of the job failed");
	}
	if ((urls = calloc(f.n, sizeof(*urls))) == NULL) {
		store_failed_clear(&f);
		return api_error(k, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "out of memory");
	}
	for (i = 0; i < f.n; i++) {
		urls[i].url = f.urls[i];
		urls[i].host = f.hosts[i];
	}
	/* The reads above were the API's; the write is the store thread's. */
	api_store_release(k);
	call.opts = &f.opts;
	call.urls = urls;
	call.n = f.n;
	rc = queue_call(k->a->queue, api_submit_cb, &call,
	    k->conf->busy_timeout_ms, &cause);
	free(urls);
	if (rc != 0) {
		store_failed_clear(&f);
		return api_store_error(k, cause);
	}
	job_id = call.job_id;
	if (api_durable(k, &ret) != 0) {
		store_failed_clear(&f);
		return ret;
	}
	log_info("job %" PRId64 " submitted: retry of job %" PRId64 ", %zu "
	    "failed URLs", job_id, k->id, f.n);
	if (k->a->hooks.submitted != NULL)
		k->a->hooks.submitted(job_id, k->a->hooks.arg);
	doc = json_pack("{s:I,s:I,s:I,s:[]}", "retry_of", (json_int_t)k->id,
	    "accepted", (json_int_t)f.n, "duplicates", (json_int_t)0,
	    "rejected");
	store_failed_clear(&f);
	return api_job_reply(k, job_id, MHD_HTTP_CREATED, doc);
}
