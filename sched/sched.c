/*
 * sched: owns the window of claimed tasks, the in-flight counts per job,
 * the set of cancelled jobs and the ev_async the API uses to wake the loop.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "sched/sched.h"
#include "stats/stats.h"

struct job_slot {
	int64_t	job_id;
	int64_t	in_flight;
};

struct sched {
	struct ev_loop	*loop;
	struct queue	*queue;
	struct fetch	*fetch;
	struct sched_conf conf;

	struct task	*window;	/* claimed, not started; FIFO */
	struct task	**window_tail;
	size_t		 nwindow;
	size_t		 in_flight;
	int		 want_pending;	/* a claim is outstanding */
	int		 exhausted;	/* the last claim found nothing */
	int		 running;

	struct job_slot	*slots;		/* jobs with transfers in flight */
	size_t		 nslots;
	size_t		 slots_cap;
	int64_t		*cancelled;	/* job ids, for tasks still in transit */
	size_t		 ncancelled;
	size_t		 cancelled_cap;

	ev_async	 wake;
	pthread_mutex_t	 lock;		/* guards the two fields below */
	int		 work_posted;
	int64_t		*cancel_posted;
	size_t		 ncancel_posted;
	size_t		 cancel_posted_cap;
};

static void sched_wake_cb(struct ev_loop *, ev_async *, int);

static size_t
sched_window_cap(const struct sched *s)
{
	int64_t w = s->conf.window_size;

	if (w == 0)
		w = s->conf.concurrency * 4 < 64 ? 64 : s->conf.concurrency * 4;
	return (size_t)w;
}

struct sched *
sched_create(struct ev_loop *loop, const struct sched_conf *c)
{
	struct sched *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->loop = loop;
	s->conf = *c;
	s->window_tail = &s->window;
	pthread_mutex_init(&s->lock, NULL);
	ev_async_init(&s->wake, sched_wake_cb);
	s->wake.data = s;
	ev_async_start(loop, &s->wake);
	return s;
}

void
sched_attach(struct sched *s, struct queue *q, struct fetch *f)
{
	s->queue = q;
	s->fetch = f;
}

static int
push_id(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
	int64_t *nv;
	size_t ncap;

	if (*n == *cap) {
		ncap = *cap == 0 ? 16 : *cap * 2;
		if ((nv = realloc(*v, ncap * sizeof(*nv))) == NULL)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = id;
	return 0;
}

static int
sched_is_cancelled(const struct sched *s, int64_t job_id)
{
	size_t i;

	for (i = 0; i < s->ncancelled; i++)
		if (s->cancelled[i] == job_id)
			return 1;
	return 0;
}

static struct job_slot *
sched_slot(struct sched *s, int64_t job_id, int create)
{
	struct job_slot *v;
	size_t i, cap;

	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].job_id == job_id)
			return &s->slots[i];
	if (!create)
		return NULL;
	if (s->nslots == s->slots_cap) {
		cap = s->slots_cap == 0 ? 16 : s->slots_cap * 2;
		if ((v = realloc(s->slots, cap * sizeof(*v))) == NULL)
			return NULL;
		s->slots = v;
		s->slots_cap = cap;
	}
	s->slots[s->nslots].job_id = job_id;
	s->slots[s->nslots].in_flight = 0;
	return &s->slots[s->nslots++];
}

static void
sched_slot_release(struct sched *s, int64_t job_id)
{
	struct job_slot *slot = sched_slot(s, job_id, 0);

	if (slot == NULL)
		return;
	if (--slot->in_flight == 0)
		*slot = s->slots[--s->nslots];	/* swap-remove */
}

/* Whether the task's job may start one more transfer now. */
static int
sched_job_has_room(struct sched *s, const struct task *t)
{
	const struct job_slot *slot;

	if (t->opts.concurrency == JOB_UNSET)
		return 1;
	slot = sched_slot(s, t->job_id, 0);
	return slot == NULL || slot->in_flight < t->opts.concurrency;
}

static void
sched_refill(struct sched *s)
{
	size_t cap = sched_window_cap(s), low = cap / 2;

	if (!s->running || s->want_pending || s->exhausted || s->nwindow > low)
		return;
	s->want_pending = 1;
	queue_want(s->queue, cap - s->nwindow);
}

/* Ends a task without fetching it (cancelled, or cannot start). */
static void
sched_fail_task(struct sched *s, struct task *t, enum result_kind kind,
    const char *why)
{
	struct result *r;

	if ((r = result_new_error(t, kind, "%s", why)) == NULL)
		fatalx("sched: out of memory for a result");
	queue_result(s->queue, r);
	task_free(t);
}

static void
sched_start(struct sched *s, struct task *t)
{
	struct job_slot *slot;
	char *cause = NULL;

	if ((slot = sched_slot(s, t->job_id, 1)) == NULL) {
		sched_fail_task(s, t, RESULT_INTERNAL, "out of memory");
		return;
	}
	slot->in_flight++;
	s->in_flight++;
	if (fetch_start(s->fetch, t, &cause) != 0) {
		log_warnx("sched: task %lld cannot start: %s",
		    (long long)t->id, cause != NULL ? cause : "unknown");
		s->in_flight--;
		sched_slot_release(s, t->job_id);
		sched_fail_task(s, t, RESULT_INTERNAL,
		    cause != NULL ? cause : "transfer could not start");
		free(cause);
	}
}

/* Starts every window task the limits allow, oldest first. */
static void
sched_dispatch(struct sched *s)
{
	struct task **pp, *t;

	if (!s->running)
		return;
	pp = &s->window;
	while ((t = *pp) != NULL &&
	    s->in_flight < (size_t)s->conf.concurrency) {
		if (!sched_job_has_room(s, t)) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		if (s->window_tail == &t->next)
			s->window_tail = pp;
		t->next = NULL;
		s->nwindow--;
		sched_start(s, t);
	}
	stats_set_window(s->nwindow);
	sched_refill(s);
}

void
sched_tasks_cb(struct task *list, size_t n, void *arg)
{
	struct sched *s = arg;
	struct task *t;

	s->want_pending = 0;
	if (n == 0)
		s->exhausted = 1;
	while ((t = list) != NULL) {
		list = t->next;
		t->next = NULL;
		if (!s->running) {
			queue_requeue(s->queue, t->id);
			task_free(t);
		} else if (sched_is_cancelled(s, t->job_id)) {
			sched_fail_task(s, t, RESULT_CANCELLED,
			    "job cancelled before this task started");
		} else {
			*s->window_tail = t;
			s->window_tail = &t->next;
			s->nwindow++;
		}
	}
	log_debug("%s: %zu claimed, window %zu, in flight %zu", __func__, n,
	    s->nwindow, s->in_flight);
	sched_dispatch(s);
}

void
sched_done_cb(struct task *t, struct result *r, void *arg)
{
	struct sched *s = arg;

	s->in_flight--;
	sched_slot_release(s, t->job_id);
	if (r != NULL)
		queue_result(s->queue, r);
	else
		queue_requeue(s->queue, t->id);
	task_free(t);
	sched_dispatch(s);
}

/* Loop thread: drops a cancelled job's window tasks and transfers. */
static void
sched_cancel(struct sched *s, int64_t job_id)
{
	struct task **pp, *t;
	size_t dropped = 0, aborted;

	if (!sched_is_cancelled(s, job_id) && push_id(&s->cancelled,
	    &s->ncancelled, &s->cancelled_cap, job_id) != 0)
		log_warnx("sched: out of memory remembering cancelled job");
	pp = &s->window;
	while ((t = *pp) != NULL) {
		if (t->job_id != job_id) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		if (s->window_tail == &t->next)
			s->window_tail = pp;
		s->nwindow--;
		sched_fail_task(s, t, RESULT_CANCELLED,
		    "job cancelled before this task started");
		dropped++;
	}
	aborted = fetch_cancel_job(s->fetch, job_id);
	log_info("job %lld cancelled: %zu held tasks dropped, %zu transfers "
	    "aborted", (long long)job_id, dropped, aborted);
}

static void
sched_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct sched *s = w->data;
	int64_t *cancels;
	size_t ncancels, i;
	int work;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&s->lock);
	work = s->work_posted;
	s->work_posted = 0;
	cancels = s->cancel_posted;
	ncancels = s->ncancel_posted;
	s->cancel_posted = NULL;
	s->ncancel_posted = s->cancel_posted_cap = 0;
	pthread_mutex_unlock(&s->lock);

	for (i = 0; i < ncancels; i++)
		sched_cancel(s, cancels[i]);
	free(cancels);
	if (work)
		s->exhausted = 0;
	sched_dispatch(s);
}

void
sched_notify_work(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	s->work_posted = 1;
	pthread_mutex_unlock(&s->lock);
	ev_async_send(s->loop, &s->wake);
}

void
sched_notify_cancel(struct sched *s, int64_t job_id)
{
	pthread_mutex_lock(&s->lock);
	if (push_id(&s->cancel_posted, &s->ncancel_posted,
	    &s->cancel_posted_cap, job_id) != 0)
		log_warnx("sched: out of memory posting a cancel");
	pthread_mutex_unlock(&s->lock);
	ev_async_send(s->loop, &s->wake);
}

void
sched_set_conf(struct sched *s, const struct sched_conf *c)
{
	s->conf = *c;
	sched_dispatch(s);
}

void
sched_run(struct sched *s)
{
	s->running = 1;
	s->exhausted = 0;
	sched_dispatch(s);
}

void
sched_stop(struct sched *s)
{
	struct task *t;

	s->running = 0;
	while ((t = s->window) != NULL) {
		s->window = t->next;
		queue_requeue(s->queue, t->id);
		task_free(t);
	}
	s->window_tail = &s->window;
	s->nwindow = 0;
	stats_set_window(0);
	if (s->fetch != NULL)
		fetch_abort_all(s->fetch);
}

void
sched_free(struct sched *s)
{
	struct task *t;

	if (s == NULL)
		return;
	while ((t = s->window) != NULL) {
		s->window = t->next;
		task_free(t);
	}
	ev_async_stop(s->loop, &s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s->slots);
	free(s->cancelled);
	free(s->cancel_posted);
	free(s);
}
