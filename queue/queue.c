/*
 * queue: owns the store thread, the write connection and the two hand-over
 * lists between it and the loop (results and requeues in, claimed tasks
 * out). Claims and commits happen only here, so the write connection never
 * sees two threads.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "queue/queue.h"
#include "stats/stats.h"
#include "store/store.h"

#define QUEUE_RETRY_MIN_MS	100
#define QUEUE_RETRY_MAX_MS	5000
#define QUEUE_CHECKPOINT_S	1	/* WAL check after commits, at most */
#define QUEUE_WAL_WARN_S	60	/* one warning a minute, at most */

struct queue {
	struct ev_loop	*loop;
	ev_async	 delivered;	/* store thread -> loop */
	queue_tasks_cb	 cb;
	void		*cb_arg;
	pthread_t	 thread;
	int		 started;

	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	/* Everything below is guarded by lock. */
	struct store	*store;
	struct result	*results;	/* to commit, oldest first */
	struct result	**results_tail;
	size_t		 nresults;
	struct timespec	 first_result;	/* when the oldest arrived */
	int64_t		*requeue;
	size_t		 nrequeue;
	size_t		 requeue_cap;
	size_t		 want;		/* tasks the loop asked for */
	int64_t		*exclude;	/* ... from jobs other than these */
	size_t		 nexclude;
	int		 stopping;
	int64_t		 batch_size;
	int64_t		 batch_interval_ms;
	int64_t		 wal_limit;
	int64_t		 purge_days;	/* retention request; -1: none */
	double		 next_checkpoint;	/* store thread only */
	double		 next_wal_warning;	/* store thread only */
	struct task	*out;		/* claimed, not yet delivered */
	struct task	**out_tail;
	size_t		 nout;
	int		 answered;	/* a claim finished since delivery */
};

static void
ts_add_ms(struct timespec *ts, int64_t ms)
{
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int
ts_passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	    (now.tv_sec == deadline->tv_sec &&
	    now.tv_nsec >= deadline->tv_nsec);
}

/* Loop thread: hands claimed tasks to the scheduler. */
static void
queue_delivered_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct queue *q = w->data;
	struct task *list;
	size_t n;
	int answered;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&q->lock);
	list = q->out;
	n = q->nout;
	answered = q->answered;
	q->out = NULL;
	q->out_tail = &q->out;
	q->nout = 0;
	q->answered = 0;
	pthread_mutex_unlock(&q->lock);
	if (answered || n > 0)
		q->cb(list, n, q->cb_arg);
}

/* Store thread, lock not held: one group commit. Returns -1 on failure. */
static int
queue_flush(struct queue *q, struct result *results, int64_t *requeue,
    size_t nrequeue)
{
	const struct result *r;
	size_t committed;
	char *cause = NULL;

	if (store_commit(q->store, results, requeue, nrequeue, &committed,
	    &cause) != 0) {
		log_warnx("queue: commit failed, will retry: %s",
		    cause != NULL ? cause : "unknown");
		free(cause);
		return -1;
	}
	for (r = results; r != NULL; r = r->next)
		stats_add_committed(r->kind, 1);
	log_debug("%s: %zu results, %zu requeued", __func__, committed,
	    nrequeue);
	return 0;
}

/* Store thread, lock not held: claims up to want tasks for the loop. */
static int
queue_claim(struct queue *q, size_t want, const int64_t *exclude,
    size_t nexclude)
{
	struct task *list = NULL, *t;
	size_t n = 0;
	char *cause = NULL;

	if (store_claim(q->store, want, exclude, nexclude, &list, &n,
	    &cause) != 0) {
		log_warnx("queue: claim failed, will retry: %s",
		    cause != NULL ? cause : "unknown");
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
	q->answered = 1;
	/* Answered: the loop asks again only after it has seen this. */
	q->want = 0;
	pthread_mutex_unlock(&q->lock);
	ev_async_send(q->loop, &q->delivered);
	return 0;
}

static double
queue_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	double now = queue_now();

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

/* Store thread, lock not held: the retention purge. */
static void
queue_purge(struct queue *q, int64_t days)
{
	int64_t n = 0;
	char *cause = NULL;

	if (store_purge_expired(q->store, days, &n, &cause) != 0) {
		log_warnx("queue: retention: %s", cause != NULL ? cause :
		    "failed");
		free(cause);
	}
	if (n > 0)
		log_info("retention: purged %lld jobs finished over %lld days "
		    "ago", (long long)n, (long long)days);
}

/* Lock held: whether pending results should be committed now. */
static int
queue_batch_due(struct queue *q)
{
	struct timespec deadline;

	if (q->nrequeue > 0 || q->stopping || q->want > 0)
		return q->nresults > 0 || q->nrequeue > 0;
	if (q->nresults == 0)
		return 0;
	if ((int64_t)q->nresults >= q->batch_size)
		return 1;
	deadline = q->first_result;
	ts_add_ms(&deadline, q->batch_interval_ms);
	return ts_passed(&deadline);
}

/* Lock held: sleeps until there is work, a batch deadline, or retry time. */
static void
queue_wait(struct queue *q, int64_t retry_ms)
{
	struct timespec deadline;

	if (retry_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		ts_add_ms(&deadline, retry_ms);
		pthread_cond_timedwait(&q->cond, &q->lock, &deadline);
		return;
	}
	if (q->nresults > 0) {
		deadline = q->first_result;
		ts_add_ms(&deadline, q->batch_interval_ms);
		pthread_cond_timedwait(&q->cond, &q->lock, &deadline);
		return;
	}
	pthread_cond_wait(&q->cond, &q->lock);
}

/* Store thread, lock held: puts a batch that failed back at the front. */
static void
queue_putback(struct queue *q, struct result *results, size_t nresults,
    int64_t *requeue, size_t nrequeue)
{
	struct result *r;
	int64_t *merged;

	if (results != NULL) {
		for (r = results; r->next != NULL; r = r->next)
			;
		r->next = q->results;
		if (q->results == NULL)
			q->results_tail = &r->next;
		q->results = results;
		q->nresults += nresults;
	}
	if (nrequeue == 0)
		return;
	if (q->nrequeue == 0) {
		free(q->requeue);
		q->requeue = requeue;
		q->nrequeue = q->requeue_cap = nrequeue;
		return;
	}
	merged = realloc(requeue, (nrequeue + q->nrequeue) * sizeof(*merged));
	if (merged == NULL)
		fatalx("queue: out of memory keeping requeued tasks");
	memcpy(merged + nrequeue, q->requeue, q->nrequeue * sizeof(*merged));
	free(q->requeue);
	q->requeue = merged;
	q->nrequeue += nrequeue;
	q->requeue_cap = q->nrequeue;
}

static void *
queue_main(void *arg)
{
	struct queue *q = arg;
	struct result *results, *r;
	int64_t *requeue, *exclude, retry_ms = 0, purge_days, wal_limit;
	size_t nresults, nrequeue, want, nexclude;
	int failed, stop_failures = 0;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		if (!queue_batch_due(q) && (q->want == 0 || retry_ms > 0) &&
		    q->purge_days < 0) {
			if (q->stopping && q->nresults == 0 &&
			    q->nrequeue == 0)
				break;
			queue_wait(q, retry_ms);
			retry_ms = 0;
			continue;
		}
		results = NULL;
		nresults = nrequeue = 0;
		requeue = NULL;
		if (queue_batch_due(q)) {
			results = q->results;
			nresults = q->nresults;
			q->results = NULL;
			q->results_tail = &q->results;
			q->nresults = 0;
			requeue = q->requeue;
			nrequeue = q->nrequeue;
			q->requeue = NULL;
			q->nrequeue = q->requeue_cap = 0;
		}
		want = q->stopping ? 0 : q->want;
		exclude = q->exclude;
		nexclude = q->nexclude;
		q->exclude = NULL;
		q->nexclude = 0;
		purge_days = q->purge_days;
		q->purge_days = -1;
		wal_limit = q->wal_limit;
		pthread_mutex_unlock(&q->lock);

		failed = 0;
		if (purge_days >= 0)
			queue_purge(q, purge_days);
		if ((results != NULL || nrequeue > 0) &&
		    queue_flush(q, results, requeue, nrequeue) != 0)
			failed = 1;
		/* Backpressure: claim nothing while commits fail. */
		if (!failed && want > 0 && queue_claim(q, want, exclude,
		    nexclude) != 0)
			failed = 1;
		if (!failed && results != NULL)
			queue_checkpoint(q, wal_limit);

		pthread_mutex_lock(&q->lock);
		if (q->exclude == NULL && (failed || want == 0)) {
			/* Not answered: keep the request as it was. */
			q->exclude = exclude;
			q->nexclude = nexclude;
		} else
			free(exclude);
		if (failed && (results != NULL || nrequeue > 0)) {
			queue_putback(q, results, nresults, requeue, nrequeue);
		} else {
			while ((r = results) != NULL) {
				results = r->next;
				result_free(r);
			}
			free(requeue);
		}
		if (failed) {
			retry_ms = retry_ms == 0 ? QUEUE_RETRY_MIN_MS :
			    retry_ms * 2;
			if (retry_ms > QUEUE_RETRY_MAX_MS)
				retry_ms = QUEUE_RETRY_MAX_MS;
			/* At stop, give up after a few tries: tasks whose
			 * results were not written stay 'running' on disk and
			 * the next start fetches them again, so none is lost. */
			if (q->stopping && ++stop_failures >= 5) {
				log_errorx("queue: giving up on %zu results at "
				    "stop; they will be fetched again on the "
				    "next start", q->nresults);
				break;
			}
		}
	}
	while ((r = q->results) != NULL) {
		q->results = r->next;
		result_free(r);
	}
	q->results_tail = &q->results;
	q->nresults = 0;
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct queue *
queue_start(struct ev_loop *loop, const struct queue_opts *o,
    queue_tasks_cb cb, void *arg, char **cause)
{
	struct store_opts so = { o->busy_timeout_ms };
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
	q->results_tail = &q->results;
	q->out_tail = &q->out;
	q->batch_size = o->batch_size;
	q->batch_interval_ms = o->batch_interval_ms;
	q->wal_limit = o->wal_limit_bytes;
	q->purge_days = -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);

	if ((q->store = store_open(o->db_path, &so, cause)) == NULL)
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
	return q;
fail:
	store_close(q->store);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
	return NULL;
}

void
queue_want(struct queue *q, size_t n, const int64_t *exclude,
    size_t nexclude)
{
	int64_t *copy = NULL;

	if (nexclude > 0) {
		if ((copy = calloc(nexclude, sizeof(*copy))) == NULL)
			fatalx("queue: out of memory asking for tasks");
		memcpy(copy, exclude, nexclude * sizeof(*copy));
	}
	pthread_mutex_lock(&q->lock);
	q->want = n;
	free(q->exclude);
	q->exclude = copy;
	q->nexclude = nexclude;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_result(struct queue *q, struct result *r)
{
	r->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->nresults == 0)
		clock_gettime(CLOCK_MONOTONIC, &q->first_result);
	*q->results_tail = r;
	q->results_tail = &r->next;
	q->nresults++;
	if ((int64_t)q->nresults >= q->batch_size || q->nresults == 1)
		pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_requeue(struct queue *q, int64_t task_id)
{
	int64_t *v;
	size_t cap;

	pthread_mutex_lock(&q->lock);
	if (q->nrequeue == q->requeue_cap) {
		cap = q->requeue_cap == 0 ? 64 : q->requeue_cap * 2;
		if ((v = realloc(q->requeue, cap * sizeof(*v))) == NULL)
			fatalx("queue: out of memory requeueing a task");
		q->requeue = v;
		q->requeue_cap = cap;
	}
	q->requeue[q->nrequeue++] = task_id;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_reconfigure(struct queue *q, const struct queue_opts *o)
{
	pthread_mutex_lock(&q->lock);
	q->batch_size = o->batch_size;
	q->batch_interval_ms = o->batch_interval_ms;
	q->wal_limit = o->wal_limit_bytes;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void
queue_purge_expired(struct queue *q, int64_t days)
{
	pthread_mutex_lock(&q->lock);
	q->purge_days = days;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* After the thread has ended: claimed tasks the loop never saw go back. */
static void
queue_return_undelivered(struct queue *q)
{
	const struct task *t;
	int64_t *ids;
	size_t n = 0, committed;
	char *cause = NULL;

	for (t = q->out; t != NULL; t = t->next)
		n++;
	if ((ids = calloc(n, sizeof(*ids))) == NULL) {
		log_warnx("queue: out of memory; %zu claimed tasks stay running "
		    "until the next start", n);
		return;
	}
	n = 0;
	for (t = q->out; t != NULL; t = t->next)
		ids[n++] = t->id;
	if (store_commit(q->store, NULL, ids, n, &committed, &cause) != 0) {
		log_warnx("queue: requeue at stop: %s; the next start will "
		    "requeue them", cause != NULL ? cause : "unknown");
		free(cause);
	}
	free(ids);
}

void
queue_stop(struct queue *q)
{
	struct task *t;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	q->want = 0;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (q->started)
		pthread_join(q->thread, NULL);
	ev_async_stop(q->loop, &q->delivered);
	/* Claimed but never delivered: back to the queue on disk. */
	if (q->out != NULL)
		queue_return_undelivered(q);
	while ((t = q->out) != NULL) {
		q->out = t->next;
		task_free(t);
	}
	store_close(q->store);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->requeue);
	free(q->exclude);
	free(q);
}
