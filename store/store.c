/*
 * store: the store's entry points and what all backends share. Picks the
 * backend by the "db" value (a postgresql:// URI or a SQLite path),
 * passes each call to it, and owns the claim policy: which jobs a claim
 * takes tasks from and in which order (priority, fair shares between
 * jobs of equal priority, interleaving, skipped jobs and hosts). The
 * backends only run the SQL that policy asks for.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "conf/conf.h"
#include "log/log.h"
#include "store/backend.h"
#include "util/util.h"

void
store_opts_init(struct store_opts *o, const struct conf *c, int64_t cache_kib)
{
	char host[200];

	memset(o, 0, sizeof(*o));
	o->busy_timeout_ms = c->busy_timeout_ms;
	o->cache_kib = cache_kib;
	o->lease_ms = c->lease_s * 1000;
	if (*c->node_name != '\0') {
		snprintf(o->node, sizeof(o->node), "%s", c->node_name);
		return;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(o->node, sizeof(o->node), "%s:%lld", host,
	    (long long)c->port);
}

void
store_global_init(void)
{
	store_sqlite_global_init();
}

/* The backend a "db" value names (configure requires libpq). */
static const struct store_ops *
store_backend(const char *db)
{
	return store_db_is_shared(db) ? &store_pg_ops : &store_sqlite_ops;
}

int
store_db_is_shared(const char *db)
{
	return strncasecmp(db, "postgresql://", 13) == 0 ||
	    strncasecmp(db, "postgres://", 11) == 0;
}

char *
store_db_display(const char *db)
{
	char *out;

	if (!store_db_is_shared(db))
		return strdup(db);
	/* libpq's own reading: empty or several hosts, socket paths. */
	if ((out = store_pg_display(db)) != NULL)
		return out;
	return strdup("postgresql://(unparsable)");
}

struct store *
store_open(const char *db, const struct store_opts *o, char **cause)
{
	return store_backend(db)->open(db, o, cause);
}

void
store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

const char *
store_backend_name(const struct store *s)
{
	return s->ops->name;
}

int
store_schema_version(struct store *s)
{
	return s->ops->schema_version(s);
}

int
store_recover(struct store *s, int64_t *n, char **cause)
{
	return s->ops->recover(s, n, cause);
}

/* The robots.txt URL of url's origin ("" when it has none); allocated. */
static char *
store_robots_url(const char *url)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
	CURLU *u;

	if ((u = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
			port = NULL;
		out = util_asprintf("%s://%s%s%s/robots.txt", scheme, host,
		    port != NULL ? ":" : "", port != NULL ? port : "");
	} else
		out = strdup("");
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

/*
 * A job's tasks: the submitted pages and, for a crawl, a task for each
 * sitemap it names and (follow.sitemaps) one for the robots.txt of each
 * seed origin, whose Sitemap: lines lead on.
 */
static int
store_job_create_crawl(struct store *s, const struct job_opts *opts,
    const char *text, const struct store_url *urls, size_t n,
    int64_t *job_id, char **cause)
{
	struct store_url *all = NULL;
	char **own = NULL, *canon, *ascii, *host, *reason, *r;
	json_t *v, *e;
	size_t i, k, nall = n, nown = 0, extra = 0;
	int crawl = opts->follow != NULL || opts->sitemaps != NULL;
	int robots = 0, rc = -1;

	if (opts->follow != NULL && (v = json_loads(opts->follow, 0,
	    NULL)) != NULL) {
		robots = json_is_true(json_object_get(v, "sitemaps"));
		json_decref(v);
	}
	if (!crawl)
		return s->ops->job_create(s, text, opts->priority != JOB_UNSET ?
		    opts->priority : 0, urls, n, 0, job_id, cause);
	v = opts->sitemaps != NULL ? json_loads(opts->sitemaps, 0, NULL) :
	    NULL;
	extra = json_array_size(v) + (robots ? n : 0);
	if ((all = calloc(n + extra, sizeof(*all))) == NULL ||
	    (own = calloc(3 * extra + 1, sizeof(*own))) == NULL)
		goto nomem;
	memcpy(all, urls, n * sizeof(*all));
	json_array_foreach(v, i, e) {
		if (job_url_check(json_string_value(e), 8192, &canon, &ascii,
		    &host, &reason) != 0) {
			free(reason);
			continue;
		}
		own[nown++] = canon;
		own[nown++] = host;
		free(ascii);
		all[nall].url = canon;
		all[nall].host = host;
		all[nall++].kind = TASK_KIND_SITEMAP;
	}
	for (i = 0; robots && i < n; i++) {
		if ((r = store_robots_url(urls[i].url)) == NULL)
			goto nomem;
		for (k = n; k < nall; k++)
			if (strcmp(all[k].url, r) == 0)
				break;
		if (*r == '\0' || k < nall) {
			free(r);
			continue;
		}
		own[nown++] = r;
		all[nall].url = r;
		all[nall].host = urls[i].host;
		all[nall++].kind = TASK_KIND_ROBOTS;
	}
	rc = s->ops->job_create(s, text, opts->priority != JOB_UNSET ?
	    opts->priority : 0, all, nall, 1, job_id, cause);
	goto out;
nomem:
	*cause = util_asprintf("out of memory");
out:
	for (i = 0; i < nown; i++)
		free(own[i]);
	free(own);
	free(all);
	json_decref(v);
	return rc;
}

int
store_job_create(struct store *s, const struct job_opts *opts,
    const struct store_url *urls, size_t n, int64_t *job_id, char **cause)
{
	json_t *obj;
	char *text = NULL;
	int rc;

	if ((obj = job_opts_to_json(opts)) == NULL ||
	    (text = json_dumps(obj, JSON_COMPACT)) == NULL) {
		json_decref(obj);
		*cause = util_asprintf("out of memory");
		return -1;
	}
	json_decref(obj);
	rc = store_job_create_crawl(s, opts, text, urls, n, job_id, cause);
	free(text);
	return rc;
}

int
store_job_get(struct store *s, int64_t id, struct store_job *out,
    char **cause)
{
	return s->ops->job_get(s, id, out, cause);
}

void
store_job_clear(struct store_job *j)
{
	free(j->options);
	free(j->created_at);
	free(j->finished_at);
	memset(j, 0, sizeof(*j));
}

int
store_job_list(struct store *s, int64_t after, int64_t limit,
    store_job_cb cb, void *arg, char **cause)
{
	return s->ops->job_list(s, after, limit, cb, arg, cause);
}

int
store_job_cancel_step(struct store *s, int64_t id, int64_t max, int *changed,
    int64_t *written, int *more, char **cause)
{
	return s->ops->job_cancel_step(s, id, max, changed, written, more,
	    cause);
}

int
store_job_cancel(struct store *s, int64_t id, int *changed, char **cause)
{
	int64_t written;
	int more, step_changed, rc;

	*changed = 0;
	do {
		rc = store_job_cancel_step(s, id, STORE_STEP_ROWS,
		    &step_changed, &written, &more, cause);
		*changed |= step_changed;
	} while (rc == 0 && more);
	return rc;
}

int
store_job_purge_step(struct store *s, int64_t id, int64_t max, int *more,
    char **cause)
{
	return s->ops->job_purge_step(s, id, max, more, cause);
}

int
store_job_purge(struct store *s, int64_t id, char **cause)
{
	int more, rc;

	do
		rc = store_job_purge_step(s, id, STORE_STEP_ROWS, &more, cause);
	while (rc == 0 && more);
	return rc;
}

int
store_job_expired(struct store *s, int64_t days, int64_t *id, char **cause)
{
	return s->ops->job_expired(s, days, id, cause);
}

int
store_failed_add(struct store_failed *f, size_t *cap, const char *url,
    const char *host)
{
	char **nu, **nh;
	size_t ncap;

	if (f->n == *cap) {
		ncap = *cap == 0 ? 16 : *cap * 2;
		if ((nu = realloc(f->urls, ncap * sizeof(*nu))) == NULL)
			return -1;
		f->urls = nu;
		if ((nh = realloc(f->hosts, ncap * sizeof(*nh))) == NULL)
			return -1;
		f->hosts = nh;
		*cap = ncap;
	}
	f->urls[f->n] = strdup(url != NULL ? url : "");
	f->hosts[f->n] = strdup(host != NULL ? host : "");
	if (f->urls[f->n] == NULL || f->hosts[f->n] == NULL) {
		free(f->urls[f->n]);
		free(f->hosts[f->n]);
		return -1;
	}
	f->n++;
	return 0;
}

void
store_failed_clear(struct store_failed *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->urls[i]);
		free(f->hosts[i]);
	}
	free(f->urls);
	free(f->hosts);
	job_opts_clear(&f->opts);
	memset(f, 0, sizeof(*f));
	job_opts_init(&f->opts);
}

int
store_job_failed(struct store *s, int64_t id, struct store_failed *out,
    char **cause)
{
	json_error_t jerr;
	json_t *obj;
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	job_opts_init(&out->opts);
	if ((rc = s->ops->job_failed(s, id, &text, out, cause)) != 0)
		goto out;
	if ((obj = json_loads(text != NULL ? text : "{}", 0, &jerr)) == NULL) {
		*cause = util_asprintf("job %lld: options: %s", (long long)id,
		    jerr.text);
		rc = -1;
		goto out;
	}
	rc = job_opts_from_json(&out->opts, obj, cause);
	json_decref(obj);
out:
	free(text);
	if (rc != 0)
		store_failed_clear(out);
	return rc;
}

int
store_purge_expired(struct store *s, int64_t days, int64_t *n, char **cause)
{
	int64_t id;
	int rc;

	*n = 0;
	/* One job at a time, in steps: the writer is never held for long. */
	while ((rc = store_job_expired(s, days, &id, cause)) == 0) {
		if ((rc = store_job_purge(s, id, cause)) < 0)
			return -1;
		if (rc == 2) {
			*cause = util_asprintf("job %lld is finished but has "
			    "active tasks", (long long)id);
			return -1;
		}
		(*n)++;
	}
	return rc < 0 ? -1 : 0;
}

int
store_checkpoint(struct store *s, int64_t limit, int64_t *wal_bytes,
    int *blocked, char **cause)
{
	*wal_bytes = 0;
	*blocked = 0;
	if (s->ops->checkpoint == NULL)
		return 0;
	return s->ops->checkpoint(s, limit, wal_bytes, blocked, cause);
}

int
store_commit(struct store *s, const struct result *results,
    const struct store_ref *requeue, size_t nrequeue,
    const struct store_retry *retries, size_t nretries, size_t *committed,
    struct util_ids *finished, size_t *added, char **cause)
{
	size_t dummy;

	return s->ops->commit(s, results, requeue, nrequeue, retries, nretries,
	    committed, finished, added != NULL ? added : &dummy, cause);
}

int
store_results_page(struct store *s, int64_t job_id, int64_t after,
    int64_t limit, int flags, store_row_cb cb, void *arg, char **cause)
{
	return s->ops->results_page(s, job_id, after, limit, flags, cb, arg,
	    cause);
}

int
store_results_last(struct store *s, int64_t job_id, int64_t after,
    int64_t limit, int flags, int64_t *last, char **cause)
{
	return s->ops->results_last(s, job_id, after, limit, flags, last,
	    cause);
}

int
store_result_body(struct store *s, int64_t id, int64_t off,
    unsigned char *buf, size_t len, store_body_cb cb, void *arg,
    int64_t *size, char **cause)
{
	return s->ops->result_body(s, id, off, buf, len, cb, arg, size,
	    cause);
}

int
store_totals(struct store *s, struct store_totals *t, char **cause)
{
	return s->ops->totals(s, t, cause);
}

void
store_format_time(int64_t ms, char buf[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	/* strftime bounds the year's width, which snprintf cannot prove. */
	if (strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		buf[0] = '\0';
	snprintf(buf + strlen(buf), 6, ".%03uZ", (unsigned)(ms % 1000) % 1000u);
}

/* --- shared databases ------------------------------------------------------ */

int
store_heartbeat(struct store *s, int64_t in_flight, int64_t *reaped,
    char **cause)
{
	*reaped = 0;
	if (s->ops->heartbeat == NULL)
		return 0;
	return s->ops->heartbeat(s, in_flight, reaped, cause);
}

int
store_release_hosts(struct store *s, const struct store_host_release *v,
    size_t n, char **cause)
{
	if (s->ops->release_hosts == NULL || n == 0)
		return 0;
	return s->ops->release_hosts(s, v, n, cause);
}

int
store_nodes(struct store *s, store_node_cb cb, void *arg, char **cause)
{
	if (s->ops->nodes == NULL)
		return 0;
	return s->ops->nodes(s, cb, arg, cause);
}

struct store_listener *
store_listen(const char *db, char **cause)
{
	const struct store_ops *ops = store_backend(db);

	if (ops == NULL || ops->listen == NULL)
		return NULL;
	return ops->listen(db, cause);
}

int
store_listener_fd(const struct store_listener *l)
{
	return l->ops->listener_fd(l);
}

int
store_listener_read(struct store_listener *l, store_event_cb cb, void *arg,
    char **cause)
{
	return l->ops->listener_read(l, cb, arg, cause);
}

int
store_listener_reset(struct store_listener *l, char **cause)
{
	return l->ops->listener_reset(l, cause);
}

void
store_listener_close(struct store_listener *l)
{
	if (l != NULL)
		l->ops->listener_close(l);
}

/* --- the claim policy ---------------------------------------------------- */

/* An active job met by a claim, with what it got. */
struct claim_job {
	int64_t		 id;
	int64_t		 priority;
	char		**skip;		/* hosts skipped for it (borrowed) */
	size_t		 nskip;
	int		 dry;		/* nothing more due */
	struct task	**got;
	size_t		 ngot;
	size_t		 cap;
};

static int
store_skip_job(const struct store_skip *skip, int64_t id)
{
	size_t i;

	for (i = 0; skip != NULL && i < skip->njobs; i++)
		if (skip->jobs[i] == id)
			return 1;
	return 0;
}

/* The hosts skip has for job j (host_jobs[i] 0 or NULL: every job). */
static int
store_skip_hosts(const struct store_skip *skip, struct claim_job *j)
{
	size_t i;

	if (skip == NULL || skip->nhosts == 0)
		return 0;
	if ((j->skip = calloc(skip->nhosts, sizeof(*j->skip))) == NULL)
		return -1;
	for (i = 0; i < skip->nhosts; i++)
		if (skip->host_jobs == NULL || skip->host_jobs[i] == 0 ||
		    skip->host_jobs[i] == j->id)
			j->skip[j->nskip++] = skip->hosts[i];
	return 0;
}

/* The active jobs, highest priority first, leaving out skipped ones. */
static int
store_claim_jobs(struct store *s, const struct store_skip *skip,
    struct claim_job **jobs, size_t *njobs, char **cause)
{
	struct store_claim_job *v = NULL;
	size_t n = 0, i;

	*jobs = NULL;
	*njobs = 0;
	if (s->ops->claim_jobs(s, &v, &n, cause) != 0)
		return -1;
	if (n > 0 && (*jobs = calloc(n, sizeof(**jobs))) == NULL) {
		free(v);
		*cause = util_asprintf("out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (store_skip_job(skip, v[i].id))
			continue;
		(*jobs)[*njobs].id = v[i].id;
		(*jobs)[*njobs].priority = v[i].priority;
		if (store_skip_hosts(skip, &(*jobs)[*njobs]) != 0) {
			free(v);
			*cause = util_asprintf("out of memory");
			return -1;
		}
		(*njobs)++;
	}
	free(v);
	return 0;
}

/* Claims up to n due tasks of one job (new_hosts: see struct store_skip). */
static int
store_claim_one(struct store *s, struct claim_job *j, size_t n, int64_t now,
    int64_t *new_hosts, char **cause)
{
	size_t before = j->ngot;

	if (s->ops->claim_tasks(s, j->id, n, now, j->skip, j->nskip,
	    new_hosts, &j->got, &j->ngot, &j->cap, cause) != 0)
		return -1;
	if (j->ngot - before < n)
		j->dry = 1;
	return 0;
}

/* Jobs one claim shares out among at most: a statement each. */
#define STORE_CLAIM_JOBS	8

/*
 * Shares max among the jobs of the highest priority that have due tasks,
 * evenly, handing what one job cannot use to the others; only what is left
 * goes to the next priority. With many jobs of one priority a claim serves
 * STORE_CLAIM_JOBS of them, starting after the one the previous claim
 * served last: they take turns, and a claim costs a few statements however
 * many jobs are active.
 */
static int
store_claim_share(struct store *s, struct claim_job *jobs, size_t njobs,
    size_t max, int64_t now, int64_t *new_hosts, char **cause)
{
	size_t left = max, first = 0, last, i, k, n, start, live, share;
	size_t before, picked;

	while (left > 0 && first < njobs) {
		for (last = first; last < njobs &&
		    jobs[last].priority == jobs[first].priority; last++)
			;
		n = last - first;
		for (start = first; start < last &&
		    jobs[start].id <= s->claim_after; start++)
			;
		if (start == last)
			start = first;
		for (;;) {
			for (live = 0, i = first; i < last; i++)
				live += !jobs[i].dry;
			if (live == 0 || left == 0)
				break;
			if (live > STORE_CLAIM_JOBS)
				live = STORE_CLAIM_JOBS;
			share = (left + live - 1) / live;
			for (k = 0, picked = 0; k < n && left > 0 &&
			    picked < live; k++) {
				i = first + (start - first + k) % n;
				if (jobs[i].dry)
					continue;
				picked++;
				before = jobs[i].ngot;
				if (store_claim_one(s, &jobs[i], share < left ?
				    share : left, now, new_hosts, cause) != 0)
					return -1;
				left -= jobs[i].ngot - before;
				s->claim_after = jobs[i].id;
			}
		}
		first = last;
	}
	return 0;
}

static int
task_id_cmp(const void *a, const void *b)
{
	const struct task *x = *(struct task *const *)a;
	const struct task *y = *(struct task *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Round-robin over the claims of jobs of equal priority, so no job's tasks
 * all come first; higher priorities stay in front.
 */
static void
store_interleave(struct claim_job *jobs, size_t njobs, struct task **list,
    size_t *n)
{
	struct task **tail = list;
	size_t round, i, first, last;
	int more;

	*list = NULL;
	*n = 0;
	for (i = 0; i < njobs; i++)
		if (jobs[i].ngot > 1)
			qsort(jobs[i].got, jobs[i].ngot, sizeof(*jobs[i].got),
			    task_id_cmp);
	for (first = 0; first < njobs; first = last) {
		for (last = first; last < njobs &&
		    jobs[last].priority == jobs[first].priority; last++)
			;
		for (round = 0, more = 1; more; round++) {
			more = 0;
			for (i = first; i < last; i++) {
				if (round >= jobs[i].ngot)
					continue;
				more = 1;
				*tail = jobs[i].got[round];
				tail = &(*tail)->next;
				(*n)++;
			}
		}
	}
}

/* Gives every task of a job that got some its job's options. */
static int
store_claim_opts(struct store *s, struct claim_job *j, char **cause)
{
	struct job_opts o;
	json_error_t jerr;
	json_t *obj;
	char *text = NULL;
	size_t i;
	int rc;

	if (j->ngot == 0)
		return 0;
	if (s->ops->claim_options(s, j->id, &text, cause) != 0)
		return -1;
	obj = json_loads(text, 0, &jerr);
	free(text);
	if (obj == NULL) {
		*cause = util_asprintf("job %lld: options: %s",
		    (long long)j->id, jerr.text);
		return -1;
	}
	rc = job_opts_from_json(&o, obj, cause);
	json_decref(obj);
	if (rc != 0)
		return -1;
	for (i = 0; i < j->ngot && rc == 0; i++)
		if (job_opts_copy(&j->got[i]->opts, &o) != 0) {
			*cause = util_asprintf("out of memory");
			rc = -1;
		}
	job_opts_clear(&o);
	return rc;
}

int
store_claim(struct store *s, size_t max, const struct store_skip *skip,
    struct task **list, size_t *n, int64_t *next_due_ms, char **cause)
{
	struct claim_job *jobs = NULL;
	size_t njobs = 0, i, k;
	int64_t now = job_now_ms(), budget = 0;
	int64_t *new_hosts = NULL;
	int rc = -1;

	*list = NULL;
	*n = 0;
	*next_due_ms = 0;
	if (s->ops->claim_begin(s, cause) != 0)
		return -1;
	if (store_claim_jobs(s, skip, &jobs, &njobs, cause) != 0)
		goto out;
	if (skip != NULL && skip->limit_hosts) {
		budget = skip->new_hosts > 0 ? skip->new_hosts : 0;
		new_hosts = &budget;
	}
	if (max > 0 && store_claim_share(s, jobs, njobs, max, now, new_hosts,
	    cause) != 0)
		goto out;
	if (s->ops->claim_next_due(s, now, next_due_ms, cause) != 0)
		goto out;
	for (i = 0; i < njobs; i++)
		if (store_claim_opts(s, &jobs[i], cause) != 0)
			goto out;
	if (s->ops->claim_end(s, 1, cause) != 0)
		goto out;
	store_interleave(jobs, njobs, list, n);
	rc = 0;
out:
	if (rc != 0) {
		s->ops->claim_end(s, 0, NULL);
		for (i = 0; i < njobs; i++)
			for (k = 0; k < jobs[i].ngot; k++)
				task_free(jobs[i].got[k]);
	}
	for (i = 0; i < njobs; i++) {
		free(jobs[i].got);
		free(jobs[i].skip);
	}
	free(jobs);
	return rc;
}
