/*
 * queue: owns the store thread, the write connection and the hand-over
 * between it and the loop: a batch (results, requeues, retries) flows in,
 * claimed tasks flow out. Claims and commits happen only here, so the
 * write connection never sees two threads.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "log/log.h"
#include "queue/queue.h"
#include "stats/stats.h"
#include "store/store.h"
#include "util/util.h"

#define QUEUE_RETRY_MIN_MS	100
#define QUEUE_RETRY_MAX_MS	5000
#define QUEUE_CHECKPOINT_S	1	/* WAL check after commits, at most */
#define QUEUE_WAL_WARN_S	60	/* one warning a minute, at most */

/* What the loop handed over for the next commit. */
struct batch {
	struct result		*results;	/* oldest first */
	struct result		**tail;
	size_t			 nresults;
	int64_t			 bytes;		/* of its results (pending_bytes) */
	struct store_ref	*requeue;
	size_t			 nrequeue;
	size_t			 requeue_cap;
	struct store_retry	*retries;
	size_t			 nretries;
	size_t			 retries_cap;
	struct store_host_release *releases;	/* hosts (owned) */
	size_t			 nreleases;
	size_t			 releases_cap;
};

/* An unanswered request for tasks. */
struct want {
	size_t		 n;
	int64_t		*jobs;
	size_t		 njobs;
	char		**hosts;
	int64_t		*host_jobs;
	size_t		 nhosts;
	int64_t		 new_hosts;	/* < 0: any */
};

/* A write run for another thread (queue_call). */
struct qcall {
	queue_call_fn	 fn;
	void		*arg;
	void		(*free_arg)(void *);	/* async calls only */
	int		 started;
	int		 done;
	int		 rc;
	char		*cause;
	struct qcall	*next;
};

struct queue {
	struct ev_loop	*loop;
	ev_async	 delivered;	/* store thread -> loop */
	queue_tasks_cb	 cb;
	void		*cb_arg;
	pthread_t	 thread;
	int		 started;
	double		 next_checkpoint;	/* store thread only */
	queue_finished_cb finished_cb;
	void		*finished_arg;
	void		(*work_cb)(void *);	/* a commit added tasks, or
						   results drained */
	void		*work_arg;
	/* Bytes of the results handed over and not yet committed, and
	 * whether the loop found them too many (it waits for work_cb). */
	_Atomic int64_t	 pending_bytes;
	atomic_int	 pending_full;
	double		 next_wal_warning;	/* store thread only */
	int		 shared;	/* a shared database: heartbeats */
	atomic_int	 healthy;	/* the last write went through */

	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	pthread_cond_t	 call_done;	/* a waited-for call ended */
	/* Everything below is guarded by lock. */
	struct qcall	*calls;		/* to run, oldest first */
	struct qcall	**calls_tail;
	struct store	*store;
	struct batch	 in;
	struct timespec	 first_result;	/* when the oldest arrived */
	struct want	 want;
	int		 stopping;
	struct conf	*conf;		/* batch_size, batch_interval_ms, ... */
	struct task	*out;		/* claimed, not yet delivered */
	struct task	**out_tail;
	size_t		 nout;
	int64_t		 next_due_ms;
	int		 answered;	/* a claim finished since delivery */
	struct timespec	 heartbeat_at;	/* shared: the next heartbeat */
	char		 why[256];	/* why it is not healthy */
};

static void
batch_init(struct batch *b)
{
	memset(b, 0, sizeof(*b));
	b->tail = &b->results;
}

static int
batch_empty(const struct batch *b)
{
	return b->nresults == 0 && b->nrequeue == 0 && b->nretries == 0 &&
	    b->nreleases == 0;
}

static void
batch_free(struct batch *b)
{
	struct result *r;
	size_t i;

	while ((r = b->results) != NULL) {
		b->results = r->next;
		result_free(r);
	}
	free(b->requeue);
	for (i = 0; i < b->nreleases; i++)
		free((char *)b->releases[i].host);
	free(b->releases);
	free(b->retries);
	batch_init(b);
}

/* Grows an array of n elements of size sz to hold one more; dies on ENOMEM
 * since losing a hand-over would lose work. */
static void *
grow(void *v, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;

	if (n < *cap)
		return v;
	ncap = *cap == 0 ? 64 : *cap * 2;
	if ((v = realloc(v, ncap * sz)) == NULL)
		fatalx("queue: out of memory");
	*cap = ncap;
	return v;
}

/* Puts a batch that failed to commit back in front of what came since. */
static void
batch_putback(struct batch *b, struct batch *failed)
{
	size_t i;

	if (failed->results != NULL) {
		*failed->tail = b->results;
		if (b->results == NULL)
			b->tail = failed->tail;
		b->results = failed->results;
		b->nresults += failed->nresults;
		b->bytes += failed->bytes;
		failed->results = NULL;
		failed->nresults = 0;
		failed->bytes = 0;
	}
	for (i = 0; i < failed->nrequeue; i++) {
		b->requeue = grow(b->requeue, &b->requeue_cap, b->nrequeue,
		    sizeof(*b->requeue));
		b->requeue[b->nrequeue++] = failed->requeue[i];
	}
	for (i = 0; i < failed->nretries; i++) {
		b->retries = grow(b->retries, &b->retries_cap, b->nretries,
		    sizeof(*b->retries));
		b->retries[b->nretries++] = failed->retries[i];
	}
	for (i = 0; i < failed->nreleases; i++) {
		b->releases = grow(b->releases, &b->releases_cap,
		    b->nreleases, sizeof(*b->releases));
		b->releases[b->nreleases++] = failed->releases[i];
	}
	failed->nreleases = 0;	/* the hosts moved */
	batch_free(failed);
}

static void
want_clear(struct want *w)
{
	size_t i;

	for (i = 0; i < w->nhosts; i++)
		free(w->hosts[i]);
	free(w->hosts);
	free(w->host_jobs);
	free(w->jobs);
	memset(w, 0, sizeof(*w));
}

/* Loop thread: hands claimed tasks to the scheduler. */
static void
queue_delivered_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct queue *q = w->data;
	struct task *list;
	size_t n;
	int64_t next_due;
	int answered;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&q->lock);
	list = q->out;
	n = q->nout;
	next_due = q->next_due_ms;
	answered = q->answered;
	q->out = NULL;
	q->out_tail = &q->out;
	q->nout = 0;
	q->answered = 0;
	pthread_mutex_unlock(&q->lock);
	if (answered || n > 0)
		q->cb(list, n, next_due, q->cb_arg);
}

/* Store thread, lock not held: says why writes fail, for /healthz too. */
static void
queue_unhealthy(struct queue *q, const char *what, const char *cause)
{
	log_warnx("queue: %s failed, will retry: %s", what, cause != NULL ?
	    cause : "unknown");
	pthread_mutex_lock(&q->lock);
	snprintf(q->why, sizeof(q->why), "%s failed: %s", what,
	    cause != NULL ? cause : "unknown");
	pthread_mutex_unlock(&q->lock);
	atomic_store(&q->healthy, 0);
}

int
queue_healthy(struct queue *q, char *why, size_t len)
{
	if (atomic_load(&q->healthy))
		return 1;
	pthread_mutex_lock(&q->lock);
	snprintf(why, len, "%s", q->why);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/*
 * Store thread, lock not held: a shared database's upkeep (renewing this
 * node's leases, reaping expired ones). -1 on failure.
 */
static int
queue_heartbeat(struct queue *q)
{
	struct stats_snapshot st;
	int64_t reaped = 0;
	char *cause = NULL;

	stats_snapshot(&st);
	if (store_heartbeat(q->store, (int64_t)st.in_flight, &reaped,
	    &cause) != 0) {
		queue_unhealthy(q, "heartbeat", cause);
		free(cause);
		return -1;
	}
	if (reaped > 0)
		log_info("queue: %lld tasks whose lease expired are queued "
		    "again", (long long)reaped);
	return 0;
}

/* What a result weighs while it waits for its commit. */
static int64_t
result_bytes(const struct result *r)
{
	return (int64_t)r->body_len + (int64_t)(r->headers != NULL ?
	    strlen(r->headers) : 0) + (int64_t)sizeof(*r);
}

/* Store thread, lock not held: one group commit. Returns -1 on failure. */
static int
queue_flush(struct queue *q, struct batch *b)
{
	const struct result *r;
	struct util_ids finished = { NULL, 0, 0 };
	size_t committed, added = 0;
	char *cause = NULL;

	if (store_commit(q->store, b->results, b->requeue, b->nrequeue,
	    b->retries, b->nretries, &committed, &finished, &added,
	    &cause) != 0 ||
	    store_release_hosts(q->store, b->releases, b->nreleases,
	    &cause) != 0) {
		queue_unhealthy(q, "commit", cause);
		free(cause);
		util_ids_free(&finished);
		return -1;
	}
	if (finished.n > 0 && q->finished_cb != NULL)
		q->finished_cb(finished.v, finished.n, q->finished_arg);
	/* Written: their bytes no longer hold the loop back. */
	if (atomic_fetch_sub(&q->pending_bytes, b->bytes) - b->bytes <
	    QUEUE_RESULT_BYTES_MAX / 2 && atomic_exchange(&q->pending_full,
	    0) != 0)
		added++;	/* wake the loop as for new work */
	/* A crawl's pages added tasks: the loop may claim them. */
	if (added > 0 && q->work_cb != NULL)
		q->work_cb(q->work_arg);
	util_ids_free(&finished);
	for (r = b->results; r != NULL; r = r->next)
		stats_add_committed(r->kind, 1);
	log_debug("%s: %zu results, %zu requeued, %zu retries", __func__,
	    committed, b->nrequeue, b->nretries);
	return 0;
}

/* Store thread, lock not held: claims tasks for the loop. */
static int
queue_claim(struct queue *q, const struct want *w)
{
	struct store_skip skip = { w->jobs, w->njobs, w->hosts, w->nhosts,
	    w->host_jobs, w->new_hosts >= 0, w->new_hosts };
	struct task *list = NULL, *t;
	size_t n = 0;
	int64_t next_due = 0;
	char *cause = NULL;

	if (store_claim(q->store, w->n, &skip, &list, &n, &next_due,
	    &cause) != 0) {
		queue_unhealthy(q, "claim", cause);
		free(cause);
		return -1;
	}
	pthread_mutex_lock(&q->lock);
	while ((t = list) != NULL) {
		list = t->next;
		t->next = NULL;
		*q->out_tail = t;
		q->out_tail = &t->next;
	}
	q->nout += n;
	q->next_due_ms = next_due;
	q->answered = 1;
	pthread_mutex_unlock(&q->lock);
	ev_async_send(q->loop, &q->delivered);
	return 0;
}

/*
 * Store thread, lock not held: keeps the WAL in check after commits. A
 * checkpoint cannot pass frames that an open read transaction still needs,
 * so a long-lived reader makes the WAL grow: say so, once a minute.
 */
static void
queue_checkpoint(struct queue *q, int64_t limit)
{
	int64_t wal;
	char *cause = NULL;
	int blocked;
	double now = util_mono_s();

	if (now < q->next_checkpoint)
		return;
	q->next_checkpoint = now + QUEUE_CHECKPOINT_S;
	if (store_checkpoint(q->store, limit, &wal, &blocked, &cause) != 0) {
		log_warnx("queue: %s", cause != NULL ? cause : "checkpoint");
		free(cause);
		return;
	}
	if (wal > limit && blocked && now >= q->next_wal_warning) {
		q->next_wal_warning = now + QUEUE_WAL_WARN_S;
		log_warnx("queue: WAL is %lld MiB (wal_limit_bytes %lld MiB): "
		    "a reader keeps a transaction open, so checkpoints cannot "
		    "finish; it shrinks once that reader ends",
		    (long long)(wal >> 20), (long long)(limit >> 20));
	}
}

/* The retention purge, as a call: one bounded step each time. */
struct retention {
	int64_t	days;
	int64_t	job;		/* being purged; 0: find the next one */
	int64_t	purged;
};

static int
queue_retention_cb(struct store *s, void *arg, char **cause)
{
	struct retention *r = arg;
	int rc, more;

	if (r->job == 0) {
		if ((rc = store_job_expired(s, r->days, &r->job, cause)) < 0)
			return -1;
		if (rc == 1) {
			if (r->purged > 0)
				log_info("retention: purged %lld jobs finished "
				    "over %lld days ago", (long long)r->purged,
				    (long long)r->days);
			return 0;
		}
	}
	if ((rc = store_job_purge_step(s, r->job, STORE_STEP_ROWS, &more,
	    cause)) < 0)
		return -1;
	if (rc == 2) {
		*cause = util_asprintf("retention: job %lld is finished but "
		    "has active tasks", (long long)r->job);
		return -1;
	}
	if (!more) {
		r->job = 0;
		r->purged++;
	}
	return 1;
}

/* Lock held: whether what was handed over should be committed now. */
static int
queue_batch_due(struct queue *q)
{
	struct timespec deadline;

	if (batch_empty(&q->in))
		return 0;
	if (q->in.nrequeue > 0 || q->in.nretries > 0 || q->stopping ||
	    q->want.n > 0 || (int64_t)q->in.nresults >= q->conf->batch_size)
		return 1;
	deadline = util_deadline(&q->first_result,
	    q->conf->batch_interval_ms);
	return util_passed(&deadline);
}

static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec &&
	    a->tv_nsec < b->tv_nsec);
}

/*
 * Lock held: sleeps until there is work, the batch deadline or (shared
 * database) the next heartbeat.
 */
static void
queue_wait(struct queue *q)
{
	struct timespec deadline;
	int timed = 0;

	if (q->in.nresults > 0) {
		deadline = util_deadline(&q->first_result,
		    q->conf->batch_interval_ms);
		timed = 1;
	}
	if (q->shared && (!timed || ts_before(&q->heartbeat_at, &deadline))) {
		deadline = q->heartbeat_at;
		timed = 1;
	}
	if (timed)
		pthread_cond_timedwait(&q->cond, &q->lock, &deadline);
	else
		pthread_cond_wait(&q->cond, &q->lock);
}

/*
 * What the store thread does next, from what it can see (under the lock).
 * Other threads' writes (calls) go first, one per turn, even while
 * failing commits back off (they may succeed; the API must not starve);
 * a due batch or a claim request (not at stop) is work; at stop, once
 * everything handed over is written, the thread ends.
 *
 *  calls  backoff  batch due  claim wanted  stopping  batch empty | step
 *  yes    yes      -          -             -         -           | CALL
 *  no     yes      -          -             -         -           | BACKOFF
 *  yes    no       -          -             -         -           | WORK
 *  -      no       yes        -             -         -           | WORK
 *  -      no       -          yes           no        -           | WORK
 *  no     no       otherwise                yes       yes         | EXIT
 *  no     no       otherwise                                      | WAIT
 *
 * CALL runs one call; WORK runs one call (if any), then commits the due
 * batch and answers the claim.
 */
enum queue_step
queue_next_step(const struct queue_view *v)
{
	if (v->backoff)
		return v->calls ? QUEUE_CALL : QUEUE_BACKOFF;
	if (v->calls || v->heartbeat || v->batch_due ||
	    (v->want && !v->stopping))
		return QUEUE_WORK;
	if (v->stopping && v->batch_empty)
		return QUEUE_EXIT;
	return QUEUE_WAIT;
}

/* Lock held: what the store thread sees. */
static void
queue_view(struct queue *q, const struct timespec *retry_at,
    struct queue_view *v)
{
	v->calls = q->calls != NULL;
	v->heartbeat = q->shared && !q->stopping &&
	    util_passed(&q->heartbeat_at);
	v->backoff = retry_at->tv_sec != 0 && !util_passed(retry_at);
	v->batch_due = queue_batch_due(q);
	v->want = q->want.n > 0;
	v->stopping = q->stopping;
	v->batch_empty = batch_empty(&q->in);
}

/*
 * Lock held: runs the oldest call (unlocking meanwhile). One that asks to
 * run again goes to the back, behind the other calls and the next turn's
 * commits and claims.
 */
static void
queue_run_call(struct queue *q)
{
	struct qcall *c = q->calls;
	char *cause = NULL;
	int rc;

	if (c == NULL)
		return;
	if ((q->calls = c->next) == NULL)
		q->calls_tail = &q->calls;
	c->next = NULL;
	c->started = 1;
	pthread_mutex_unlock(&q->lock);
	rc = c->fn(q->store, c->arg, &cause);
	pthread_mutex_lock(&q->lock);
	if (rc == 1) {
		*q->calls_tail = c;
		q->calls_tail = &c->next;
		return;
	}
	if (c->free_arg != NULL) {
		if (rc != 0)
			log_warnx("queue: %s", cause != NULL ? cause :
			    "a background write failed");
		free(cause);
		c->free_arg(c->arg);
		free(c);
		return;
	}
	c->rc = rc;
	c->cause = cause;
	c->done = 1;
	pthread_cond_broadcast(&q->call_done);
}

/* Lock held: takes what this turn works on out of the shared state. */
static void
queue_take(struct queue *q, struct batch *b, struct want *w)
{
	batch_init(b);
	if (queue_batch_due(q)) {
		*b = q->in;
		if (b->results == NULL)
			b->tail = &b->results;
		batch_init(&q->in);
	}
	memset(w, 0, sizeof(*w));
	if (!q->stopping) {
		*w = q->want;
		memset(&q->want, 0, sizeof(q->want));
	}
}

/* Lock held: after a failed turn, what was taken goes back. */
static void
queue_give_back(struct queue *q, struct batch *b, struct want *w)
{
	if (w->n > 0 && q->want.n == 0) {
		q->want = *w;	/* not answered: ask again later */
		memset(w, 0, sizeof(*w));
	}
	if (!batch_empty(b))
		batch_putback(&q->in, b);
}

static void *
queue_main(void *arg)
{
	struct queue *q = arg;
	struct queue_view v;
	struct timespec retry_at = { 0, 0 };
	struct batch b;
	struct want w;
	int64_t retry_ms = 0, wal_limit;
	int failed, stop_failures = 0;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		/* Stopping: no claim is answered any more. */
		if (q->stopping && q->want.n > 0)
			want_clear(&q->want);
		queue_view(q, &retry_at, &v);
		switch (queue_next_step(&v)) {
		case QUEUE_EXIT:
			goto out;
		case QUEUE_BACKOFF:
			pthread_cond_timedwait(&q->cond, &q->lock, &retry_at);
			continue;
		case QUEUE_WAIT:
			queue_wait(q);
			continue;
		case QUEUE_CALL:
			queue_run_call(q);
			continue;
		case QUEUE_WORK:
			queue_run_call(q);
			break;
		}
		queue_take(q, &b, &w);
		wal_limit = q->conf->wal_limit_bytes;
		pthread_mutex_unlock(&q->lock);

		failed = !batch_empty(&b) && queue_flush(q, &b) != 0;
		if (!failed && v.heartbeat) {
			if (queue_heartbeat(q) != 0)
				failed = 1;
			else
				q->heartbeat_at = util_deadline(NULL,
				    q->conf->lease_s * 1000 / 3);
		}
		/* Backpressure: claim nothing while commits fail. */
		if (!failed && w.n > 0 && queue_claim(q, &w) != 0)
			failed = 1;
		if (!failed && b.results != NULL)
			queue_checkpoint(q, wal_limit);

		pthread_mutex_lock(&q->lock);
		if (failed)
			queue_give_back(q, &b, &w);
		want_clear(&w);
		batch_free(&b);
		if (!failed) {
			retry_ms = 0;
			retry_at.tv_sec = 0;
			atomic_store(&q->healthy, 1);
			continue;
		}
		retry_ms = retry_ms == 0 ? QUEUE_RETRY_MIN_MS : retry_ms * 2;
		if (retry_ms > QUEUE_RETRY_MAX_MS)
			retry_ms = QUEUE_RETRY_MAX_MS;
		retry_at = util_deadline(NULL, retry_ms);
		/* At stop, give up after a few tries: tasks whose results
		 * were not written stay 'running' on disk and the next start
		 * fetches them again, so none is lost. */
		if (q->stopping && ++stop_failures >= 5) {
			log_errorx("queue: giving up on %zu results at stop; "
			    "they will be fetched again on the next start",
			    q->in.nresults);
			break;
		}
	}
out:
	batch_free(&q->in);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct queue *
queue_start(struct ev_loop *loop, struct conf *c, queue_tasks_cb cb,
    void *arg, char **cause)
{
	struct store_opts so;
	pthread_condattr_t ca;
	struct queue *q;
	int64_t recovered;
	int rc;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	q->loop = loop;
	q->cb = cb;
	q->cb_arg = arg;
	batch_init(&q->in);
	q->out_tail = &q->out;
	q->calls_tail = &q->calls;
	q->conf = conf_ref(c);
	q->shared = store_db_is_shared(c->db);
	atomic_init(&q->healthy, 1);
	/* The first heartbeat at once: it announces this node. */
	clock_gettime(CLOCK_MONOTONIC, &q->heartbeat_at);
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_cond_init(&q->call_done, &ca);
	pthread_condattr_destroy(&ca);

	/* The writer's bigger page cache spares it most reads. */
	store_opts_init(&so, c, 16384);
	if ((q->store = store_open(c->db, &so, cause)) == NULL)
		goto fail;
	if (store_recover(q->store, &recovered, cause) != 0)
		goto fail;
	if (recovered > 0)
		log_info("queue: %lld tasks left running by an earlier run "
		    "are queued again", (long long)recovered);
	ev_async_init(&q->delivered, queue_delivered_cb);
	q->delivered.data = q;
	ev_async_start(loop, &q->delivered);
	if ((rc = pthread_create(&q->thread, NULL, queue_main, q)) != 0) {
		*cause = strdup(strerror(rc));
		ev_async_stop(loop, &q->delivered);
		goto fail;
	}
	q->started = 1;
	(void)pthread_setname_np(q->thread, "harvestd-store");
	return q;
fail:
	store_close(q->store);
	conf_unref(q->conf);
	pthread_cond_destroy(&q->cond);
	pthread_cond_destroy(&q->call_done);
	pthread_mutex_destroy(&q->lock);
	free(q);
	return NULL;
}

void
queue_want(struct queue *q, size_t n, const int64_t *jobs, size_t njobs,
    char *const *hosts, const int64_t *host_jobs, size_t nhosts,
    int64_t new_hosts)
{
	struct want w;
	size_t i;

	memset(&w, 0, sizeof(w));
	w.n = n;
	w.new_hosts = new_hosts;
	if (njobs > 0) {
		if ((w.jobs = calloc(njobs, sizeof(*w.jobs))) == NULL)
			fatalx("queue: out of memory asking for tasks");
		memcpy(w.jobs, jobs, njobs * sizeof(*w.jobs));
		w.njobs = njobs;
	}
	if (nhosts > 0 && ((w.hosts = calloc(nhosts, sizeof(*w.hosts))) ==
	    NULL || (w.host_jobs = calloc(nhosts, sizeof(*w.host_jobs))) ==
	    NULL))
		fatalx("queue: out of memory asking for tasks");
	if (nhosts > 0 && host_jobs != NULL)
		memcpy(w.host_jobs, host_jobs, nhosts * sizeof(*host_jobs));
	for (i = 0; i < nhosts; i++) {
		if ((w.hosts[i] = strdup(hosts[i])) == NULL)
			fatalx("queue: out of memory asking for tasks");
		w.nhosts++;
	}
	pthread_mutex_lock(&q->lock);
	want_clear(&q->want);
	q->want = w;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

int
queue_results_full(struct queue *q)
{
	if (atomic_load(&q->pending_bytes) < QUEUE_RESULT_BYTES_MAX)
		return 0;
	atomic_store(&q->pending_full, 1);
	return 1;
}

void
queue_result(struct queue *q, struct result *r)
{
	int64_t bytes = result_bytes(r);

	atomic_fetch_add(&q->pending_bytes, bytes);
	r->next = NULL;
	pthread_mutex_lock(&q->lock);
	q->in.bytes += bytes;
	if (q->in.nresults == 0)
		clock_gettime(CLOCK_MONOTONIC, &q->first_result);
	*q->in.tail = r;
	q->in.tail = &r->next;
	q->in.nresults++;
	if ((int64_t)q->in.nresults >= q->conf->batch_size ||
	    q->in.nresults == 1)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_requeue(struct queue *q, const struct task *t)
{
	pthread_mutex_lock(&q->lock);
	q->in.requeue = grow(q->in.requeue, &q->in.requeue_cap,
	    q->in.nrequeue, sizeof(*q->in.requeue));
	q->in.requeue[q->in.nrequeue].task_id = t->id;
	q->in.requeue[q->in.nrequeue++].lease = t->lease;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_release_host(struct queue *q, const char *host, int64_t next_ms)
{
	struct store_host_release *r;
	char *copy;

	if (!q->shared)
		return;
	if ((copy = strdup(host)) == NULL)
		fatalx("queue: out of memory");
	pthread_mutex_lock(&q->lock);
	q->in.releases = grow(q->in.releases, &q->in.releases_cap,
	    q->in.nreleases, sizeof(*q->in.releases));
	r = &q->in.releases[q->in.nreleases++];
	r->host = copy;
	r->next_allowed_ms = next_ms;
	pthread_mutex_unlock(&q->lock);
}

void
queue_retry(struct queue *q, const struct task *t, int64_t attempts,
    int64_t due_ms)
{
	struct store_retry *r;

	pthread_mutex_lock(&q->lock);
	q->in.retries = grow(q->in.retries, &q->in.retries_cap,
	    q->in.nretries, sizeof(*q->in.retries));
	r = &q->in.retries[q->in.nretries++];
	r->task_id = t->id;
	r->lease = t->lease;
	r->attempts = attempts;
	r->due_ms = due_ms;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_on_work(struct queue *q, void (*cb)(void *), void *arg)
{
	pthread_mutex_lock(&q->lock);
	q->work_cb = cb;
	q->work_arg = arg;
	pthread_mutex_unlock(&q->lock);
}

void
queue_on_finished(struct queue *q, queue_finished_cb cb, void *arg)
{
	pthread_mutex_lock(&q->lock);
	q->finished_cb = cb;
	q->finished_arg = arg;
	pthread_mutex_unlock(&q->lock);
}

void
queue_set_conf(struct queue *q, struct conf *c)
{
	conf_replace(&q->conf, &q->lock, c);
	pthread_mutex_lock(&q->lock);
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_purge_expired(struct queue *q, int64_t days)
{
	struct retention *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warnx("queue: out of memory; retention purge skipped");
		return;
	}
	r->days = days;
	queue_call_async(q, queue_retention_cb, r, free);
}

/* After the thread has ended: claimed tasks the loop never saw go back. */
static void
queue_return_undelivered(struct queue *q)
{
	struct store_ref *refs = NULL;
	const struct task *t;
	size_t n = 0, cap = 0, committed;
	char *cause = NULL;

	for (t = q->out; t != NULL; t = t->next) {
		refs = grow(refs, &cap, n, sizeof(*refs));
		refs[n].task_id = t->id;
		refs[n++].lease = t->lease;
	}
	if (store_commit(q->store, NULL, refs, n, NULL, 0, &committed,
	    NULL, NULL, &cause) != 0) {
		log_warnx("queue: requeue at stop: %s; the next start will "
		    "requeue them", cause != NULL ? cause : "unknown");
		free(cause);
	}
	free(refs);
}

/*
 * After the thread has ended: calls it never finished. Background steps
 * (a big cancel) are finished by the next start's recovery; nobody waits
 * for a call at stop (the API stops first), but should one, it is told.
 */
static void
queue_drop_calls(struct queue *q)
{
	struct qcall *c;

	pthread_mutex_lock(&q->lock);
	while ((c = q->calls) != NULL) {
		q->calls = c->next;
		if (c->free_arg != NULL) {
			c->free_arg(c->arg);
			free(c);
			continue;
		}
		c->rc = -1;
		c->cause = strdup("harvestd is stopping");
		c->done = 1;
	}
	q->calls_tail = &q->calls;
	pthread_cond_broadcast(&q->call_done);
	pthread_mutex_unlock(&q->lock);
}

int
queue_call(struct queue *q, queue_call_fn fn, void *arg, int64_t timeout_ms,
    char **cause)
{
	struct qcall c, **pp;
	struct timespec deadline = util_deadline(NULL, timeout_ms);

	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.arg = arg;
	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		pthread_mutex_unlock(&q->lock);
		*cause = strdup("harvestd is stopping");
		return -1;
	}
	*q->calls_tail = &c;
	q->calls_tail = &c.next;
	pthread_cond_signal(&q->cond);
	while (!c.done) {
		/* Once started, a call runs to its end, however long. */
		if (c.started) {
			pthread_cond_wait(&q->call_done, &q->lock);
			continue;
		}
		if (pthread_cond_timedwait(&q->call_done, &q->lock,
		    &deadline) == 0 || c.started || c.done)
			continue;
		for (pp = &q->calls; *pp != NULL && *pp != &c;
		    pp = &(*pp)->next)
			;
		if (*pp == &c) {
			if ((*pp = c.next) == NULL)
				q->calls_tail = pp;
		}
		pthread_mutex_unlock(&q->lock);
		*cause = util_asprintf("the store thread did not take the "
		    "write within %lld ms", (long long)timeout_ms);
		return -1;
	}
	pthread_mutex_unlock(&q->lock);
	if (c.rc != 0 && c.cause != NULL)
		*cause = c.cause;
	else
		free(c.cause);
	return c.rc;
}

int
queue_call_async(struct queue *q, queue_call_fn fn, void *arg,
    void (*free_arg)(void *))
{
	struct qcall *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free_arg(arg);
		return -1;
	}
	c->fn = fn;
	c->arg = arg;
	c->free_arg = free_arg;
	pthread_mutex_lock(&q->lock);
	*q->calls_tail = c;
	q->calls_tail = &c->next;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void
queue_stop(struct queue *q)
{
	struct task *t;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (q->started)
		pthread_join(q->thread, NULL);
	ev_async_stop(q->loop, &q->delivered);
	queue_drop_calls(q);
	if (q->out != NULL)
		queue_return_undelivered(q);
	while ((t = q->out) != NULL) {
		q->out = t->next;
		task_free(t);
	}
	want_clear(&q->want);
	store_close(q->store);
	conf_unref(q->conf);
	pthread_cond_destroy(&q->cond);
	pthread_cond_destroy(&q->call_done);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
