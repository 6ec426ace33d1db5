/*
 * sched: owns the window of claimed tasks, the in-flight counts per job,
 * the set of cancelled jobs and the ev_async the API uses to wake the loop.
 */
#include "config.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "sched/sched.h"
#include "stats/stats.h"

/*
 * A job with tasks in the window or in flight. A job with its own
 * concurrency limit is "saturated" once the window holds twice that many
 * of its tasks: claims then skip it, so a slow, tightly limited job cannot
 * fill the window and starve the others.
 */
struct job_slot {
	int64_t	job_id;
	int64_t	limit;		/* the job's concurrency, or JOB_UNSET */
	int64_t	held;		/* tasks in the window */
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
	int		 exhausted;	/* the last claim found nothing ... */
	uint64_t	 exhausted_gen;	/* ... while these jobs were skipped */
	uint64_t	 sat_gen;	/* bumped when a job stops being saturated */
	int		 running;
	void		(*idle)(void *);	/* draining: nothing in flight */
	void		*idle_arg;

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
sched_slot(struct sched *s, const struct task *t)
{
	struct job_slot *v;
	size_t i, cap;

	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].job_id == t->job_id)
			return &s->slots[i];
	if (s->nslots == s->slots_cap) {
		cap = s->slots_cap == 0 ? 16 : s->slots_cap * 2;
		if ((v = realloc(s->slots, cap * sizeof(*v))) == NULL)
			fatalx("sched: out of memory tracking jobs");
		s->slots = v;
		s->slots_cap = cap;
	}
	v = &s->slots[s->nslots++];
	v->job_id = t->job_id;
	v->limit = t->opts.concurrency;
	v->held = 0;
	v->in_flight = 0;
	return v;
}

static int
slot_saturated(const struct job_slot *slot)
{
	return slot->limit != JOB_UNSET && slot->held >= 2 * slot->limit;
}

/* Applies a change to a job's held/in-flight counts, dropping idle slots. */
static void
sched_slot_add(struct sched *s, const struct task *t, int64_t dheld,
    int64_t dflight)
{
	struct job_slot *slot = sched_slot(s, t);
	int was = slot_saturated(slot);

	slot->held += dheld;
	slot->in_flight += dflight;
	assert(slot->held >= 0 && slot->in_flight >= 0);
	if (was && !slot_saturated(slot))
		s->sat_gen++;
	if (slot->held == 0 && slot->in_flight == 0)
		*slot = s->slots[--s->nslots];	/* swap-remove */
}

/* Whether the task's job may start one more transfer now. */
static int
sched_job_has_room(struct sched *s, const struct task *t)
{
	const struct job_slot *slot;

	if (t->opts.concurrency == JOB_UNSET)
		return 1;
	slot = sched_slot(s, t);
	return slot->in_flight < slot->limit;
}

static void
sched_window_add(struct sched *s, struct task *t)
{
	*s->window_tail = t;
	s->window_tail = &t->next;
	s->nwindow++;
	sched_slot_add(s, t, 1, 0);
}

/* Unlinks *pp (a window task) and returns it. */
static struct task *
sched_window_take(struct sched *s, struct task **pp)
{
	struct task *t = *pp;

	*pp = t->next;
	if (s->window_tail == &t->next)
		s->window_tail = pp;
	t->next = NULL;
	s->nwindow--;
	sched_slot_add(s, t, -1, 0);
	return t;
}

/*
 * Asks for more tasks when the window's unsaturated part runs low, telling
 * the store thread which saturated jobs to skip.
 */
static void
sched_refill(struct sched *s)
{
	size_t cap = sched_window_cap(s), low = cap / 2, held = s->nwindow;
	int64_t *skip = NULL;
	size_t nskip = 0, i;

	if (!s->running || s->want_pending ||
	    (s->exhausted && s->exhausted_gen == s->sat_gen))
		return;
	for (i = 0; i < s->nslots; i++)
		if (slot_saturated(&s->slots[i]))
			held -= (size_t)s->slots[i].held;
	if (held > low)
		return;
	if (s->nslots > 0 && (skip = calloc(s->nslots, sizeof(*skip))) == NULL)
		fatalx("sched: out of memory asking for tasks");
	for (i = 0; i < s->nslots; i++)
		if (slot_saturated(&s->slots[i]))
			skip[nskip++] = s->slots[i].job_id;
	s->want_pending = 1;
	s->exhausted = 0;
	s->exhausted_gen = s->sat_gen;
	queue_want(s->queue, cap - held, skip, nskip);
	free(skip);
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
	char *cause = NULL;

	sched_slot_add(s, t, 0, 1);
	s->in_flight++;
	if (fetch_start(s->fetch, t, &cause) != 0) {
		log_warnx("sched: task %lld cannot start: %s",
		    (long long)t->id, cause != NULL ? cause : "unknown");
		s->in_flight--;
		sched_slot_add(s, t, 0, -1);
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
		sched_start(s, sched_window_take(s, pp));
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
		s->exhausted = 1;	/* until new work or a job unsaturates */
	while ((t = list) != NULL) {
		list = t->next;
		t->next = NULL;
		if (!s->running) {
			queue_requeue(s->queue, t->id);
			task_free(t);
		} else if (sched_is_cancelled(s, t->job_id)) {
			sched_fail_task(s, t, RESULT_CANCELLED,
			    "job cancelled before this task started");
		} else
			sched_window_add(s, t);
	}
	log_debug("%s: %zu claimed, window %zu, in flight %zu", __func__, n,
	    s->nwindow, s->in_flight);
	sched_dispatch(s);
}

/* Draining and nothing in flight: tell the daemon, once. */
static void
sched_idle(struct sched *s)
{
	void (*idle)(void *) = s->idle;

	s->idle = NULL;
	idle(s->idle_arg);
}

void
sched_done_cb(struct task *t, struct result *r, void *arg)
{
	struct sched *s = arg;

	s->in_flight--;
	sched_slot_add(s, t, 0, -1);
	if (r != NULL)
		queue_result(s->queue, r);
	else
		queue_requeue(s->queue, t->id);
	task_free(t);
	sched_dispatch(s);
	if (s->idle != NULL && s->in_flight == 0)
		sched_idle(s);
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
		t = sched_window_take(s, pp);
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

/* Hands every held task back to the queue. */
static void
sched_release_window(struct sched *s)
{
	struct task *t;

	while (s->window != NULL) {
		t = sched_window_take(s, &s->window);
		queue_requeue(s->queue, t->id);
		task_free(t);
	}
	stats_set_window(0);
}

void
sched_drain(struct sched *s, void (*idle)(void *), void *arg)
{
	s->running = 0;
	sched_release_window(s);
	s->idle = idle;
	s->idle_arg = arg;
	log_info("draining: %zu transfers in flight", s->in_flight);
	if (s->in_flight == 0)
		sched_idle(s);
}

void
sched_stop(struct sched *s)
{
	s->running = 0;
	s->idle = NULL;
	sched_release_window(s);
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
