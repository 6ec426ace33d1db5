/*
 * sched: owns the window of claimed tasks (kept in priority order), the
 * in-flight counts per job and per host, per-host start times and
 * autothrottle delays, the robots.txt cache, retry scheduling, and the
 * ev_async the API uses to wake the loop.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "conf/conf.h"
#include "log/log.h"
#include "robots/robots.h"
#include "sched/sched.h"
#include "stats/stats.h"
#include "store/store.h"
#include "util/util.h"
#include "work/work.h"

#define ROBOTS_ERROR_TTL_S	600.	/* 5xx/unreachable: deny this long */
#define HOST_IDLE_S		60.	/* forget an idle host after this */
#define HOST_RELEASE_S		5.	/* shared db: give up an idle host */
#define GC_INTERVAL_S		10.
#define RETRY_AFTER_MAX_MS	3600000	/* Retry-After honoured up to 1 h */

/* An intrusive string-keyed hash map entry; the first member of its owner. */
struct mapent {
	char		*key;
	uint64_t	 hash;
	struct mapent	*next;
};

struct map {
	struct mapent	**b;
	size_t		 nb;
	size_t		 n;
};

struct job_slot {
	int64_t	job_id;
	int64_t	limit;		/* the job's concurrency, or JOB_UNSET */
	int64_t	held;		/* tasks in the window */
	int64_t	in_flight;
	int64_t	last_seq;	/* of its latest task in the window */
};

/* One job's tasks held for one host. */
struct host_job {
	int64_t	job_id;
	int64_t	held;
};

struct host {
	struct mapent	 ent;		/* key: host name */
	int64_t		 in_flight;
	int64_t		 held;
	int64_t		 cap;		/* per-host limit last seen */
	ev_tstamp	 next_start;	/* no request start before this */
	double		 auto_delay_ms;	/* autothrottle; < 0 until used */
	struct host_job	*jobs;		/* jobs with tasks held for it */
	size_t		 njobs;
	size_t		 jobs_cap;
	int		 released;	/* shared db: its lease given up */
	/* A dispatch walk (sched.walk) that found it waiting for its delay,
	 * or full for tasks allowing up to walk_cap transfers to it: the
	 * rest of that walk skips its tasks at once. */
	uint64_t	 walk_delay;
	uint64_t	 walk_full;
	int64_t		 walk_cap;
	uint64_t	 walk_counted;	/* counted in walk_blocked */
	int64_t		 cap_max;	/* highest limit of the tasks held
					   since it last held none */
};

struct robots_entry {
	struct mapent	 ent;		/* key: "token origin" */
	struct sched	*s;
	struct robots	*rules;		/* NULL until fetched */
	int		 fetching;
	ev_tstamp	 expires;
};

/* The jobs, and the hosts of some jobs, one claim skipped. */
struct skipset {
	int64_t		*jobs;
	size_t		 njobs;
	char		**hosts;	/* owned copies */
	int64_t		*host_jobs;	/* the job each host is skipped for */
	size_t		 nhosts;
	int64_t		 new_hosts;	/* hosts not held it may add; < 0: any */
};

struct sched {
	struct ev_loop	*loop;
	struct queue	*queue;
	struct fetch	*fetch;
	struct work	*work;		/* parses pages; may be NULL */
	struct conf	*conf;		/* a reference */

	struct task	*window;	/* claimed, not started; by key */
	struct task	**window_tail;
	size_t		 nwindow;
	size_t		 in_flight;
	uint64_t	 walk;		/* dispatch walks so far */
	size_t		 walk_blocked;	/* hosts this walk found waiting */
	size_t		 hosts_held;	/* hosts with tasks in the window */
	int64_t		 sat_held;	/* held by saturated jobs and hosts */
	int64_t		 vtime;		/* seq of the latest task started */
	enum sched_claim claim;		/* the claim protocol's state */
	struct skipset	 dry;		/* skipped by the empty answer */
	struct skipset	 pending;	/* what the outstanding claim skips */
	int		 running;
	int		 shared;	/* the database is shared by nodes */
	void		(*idle)(void *);	/* draining: nothing in flight */
	void		*idle_arg;

	struct job_slot	*slots;		/* jobs with tasks held or in flight */
	size_t		 nslots;
	size_t		 slots_cap;
	struct map	 hosts;
	struct map	 robots;
	struct util_ids	 cancelled;	/* jobs, for tasks still in transit */

	ev_timer	 delay_timer;	/* a host's delay ends */
	ev_timer	 due_timer;	/* a delayed task becomes due */
	int64_t		 due_at_ms;	/* what due_timer waits for; 0: idle */
	ev_timer	 gc_timer;

	ev_async	 wake;
	pthread_mutex_t	 lock;		/* guards the fields below */
	int		 work_posted;
	struct util_ids	 cancel_posted;
};

static void sched_dispatch(struct sched *);
static void host_free(struct mapent *);
static void sched_host_leased(struct sched *, const struct task *);

/* --- a small string map ------------------------------------------------ */

static uint64_t
map_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct mapent *
map_get(const struct map *m, const char *key)
{
	struct mapent *e;
	uint64_t h;

	if (m->nb == 0)
		return NULL;
	h = map_hash(key);
	for (e = m->b[h % m->nb]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void
map_put(struct map *m, struct mapent *e)
{
	struct mapent **nb, *x, *next;
	size_t i, n;

	if (m->n >= m->nb * 2) {
		n = m->nb == 0 ? 64 : m->nb * 4;
		if ((nb = calloc(n, sizeof(*nb))) == NULL)
			fatalx("sched: out of memory");
		for (i = 0; i < m->nb; i++)
			for (x = m->b[i]; x != NULL; x = next) {
				next = x->next;
				x->next = nb[x->hash % n];
				nb[x->hash % n] = x;
			}
		free(m->b);
		m->b = nb;
		m->nb = n;
	}
	e->hash = map_hash(e->key);
	e->next = m->b[e->hash % m->nb];
	m->b[e->hash % m->nb] = e;
	m->n++;
}

/* --- settings ------------------------------------------------------------ */

static int64_t
opt(int64_t job, int64_t def)
{
	return job != JOB_UNSET ? job : def;
}

static size_t
sched_window_cap(const struct sched *s)
{
	int64_t w = s->conf->window_size;

	if (w == 0)
		w = s->conf->concurrency * 4 < 64 ? 64 : s->conf->concurrency * 4;
	return (size_t)w;
}

/* --- per-job and per-host accounting -------------------------------------- */

/*
 * A job with its own concurrency limit, or a host, is "saturated" once the
 * window holds twice its limit: claims then skip it, so a slow, tightly
 * limited job or host cannot fill the window and hold up the others.
 */
static int
slot_saturated(const struct job_slot *slot)
{
	return slot->limit != JOB_UNSET && slot->held >= 2 * slot->limit;
}

/*
 * A job's tasks for one host are saturated likewise: claims skip that
 * host for that job only, so another job's tasks for the host (or a
 * higher priority's) still reach the window and take their turn.
 */
static int
host_job_saturated(const struct host *h, const struct host_job *hj)
{
	return hj->held >= 2 * h->cap;
}

/* The job's entry of a host, created when add is set; NULL if none. */
static struct host_job *
host_job_get(struct host *h, int64_t job_id, int add)
{
	struct host_job *v;
	size_t i, cap;

	for (i = 0; i < h->njobs; i++)
		if (h->jobs[i].job_id == job_id)
			return &h->jobs[i];
	if (!add)
		return NULL;
	if (h->njobs == h->jobs_cap) {
		cap = h->jobs_cap == 0 ? 4 : h->jobs_cap * 2;
		if ((v = realloc(h->jobs, cap * sizeof(*v))) == NULL)
			fatalx("sched: out of memory tracking hosts");
		h->jobs = v;
		h->jobs_cap = cap;
	}
	v = &h->jobs[h->njobs++];
	v->job_id = job_id;
	v->held = 0;
	return v;
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
	v->last_seq = 0;
	return v;
}

static struct host *
sched_host(struct sched *s, const char *name)
{
	struct host *h = (struct host *)map_get(&s->hosts, name);

	if (h != NULL)
		return h;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->ent.key = strdup(name)) == NULL)
		fatalx("sched: out of memory tracking hosts");
	h->cap = s->conf->per_host_concurrency;
	h->auto_delay_ms = -1;
	map_put(&s->hosts, &h->ent);
	return h;
}

/* Applies a change to a task's job and host counts. */
/*
 * A task's host entry, found once per task: an entry lives while it has
 * tasks held or in flight, so the pointer stays good while the task is
 * the scheduler's. (A cache in the task: const for everything else.)
 */
static struct host *
sched_task_host(struct sched *s, const struct task *t)
{
	struct task *w = (struct task *)(uintptr_t)t;

	if (w->sched_host == NULL)
		w->sched_host = sched_host(s, t->host);
	return w->sched_host;
}

static void
sched_count(struct sched *s, const struct task *t, int64_t dheld,
    int64_t dflight)
{
	struct job_slot *slot = sched_slot(s, t);
	struct host *h = sched_task_host(s, t);
	struct host_job *hj = host_job_get(h, t->job_id, dheld != 0);
	int was_slot = slot_saturated(slot);
	int was_hj = hj != NULL && host_job_saturated(h, hj);

	s->sat_held -= (was_slot ? slot->held : 0) + (was_hj ? hj->held : 0);
	slot->held += dheld;
	slot->in_flight += dflight;
	if (h->held == 0 && dheld > 0) {
		s->hosts_held++;
		h->cap_max = 0;
	} else if (h->held > 0 && h->held + dheld == 0)
		s->hosts_held--;
	h->held += dheld;
	h->in_flight += dflight;
	if (dheld > 0) {
		h->cap = conf_eff(s->conf, &t->opts, per_host_concurrency);
		if (h->cap > h->cap_max)
			h->cap_max = h->cap;
	}
	if (hj != NULL)
		hj->held += dheld;
	assert(slot->held >= 0 && slot->in_flight >= 0);
	assert(h->held >= 0 && h->in_flight >= 0);
	s->sat_held += (slot_saturated(slot) ? slot->held : 0) +
	    (hj != NULL && host_job_saturated(h, hj) ? hj->held : 0);
	if (hj != NULL && hj->held == 0)
		*hj = h->jobs[--h->njobs];	/* swap-remove */
	if (slot->held == 0 && slot->in_flight == 0)
		*slot = s->slots[--s->nslots];	/* swap-remove */
}

/* --- the window ----------------------------------------------------------- */

/*
 * The window's order: higher priority first; within a priority, by seq,
 * which interleaves jobs (start-time fair queueing). A task's seq is one
 * more than its job's previous one, but never behind the seq of the
 * latest task started: a job that arrives late is not owed the past,
 * and one that arrives early cannot keep the others waiting. So jobs of
 * equal priority share the fetcher, and a host they share, evenly.
 */
static int
sched_before(const struct task *a, const struct task *b)
{
	int64_t pa = opt(a->opts.priority, 0), pb = opt(b->opts.priority, 0);

	return pa != pb ? pa > pb : a->seq < b->seq;
}

static int
sched_key_cmp(const void *x, const void *y)
{
	const struct task *a = *(struct task *const *)x;
	const struct task *b = *(struct task *const *)y;

	return sched_before(a, b) ? -1 : sched_before(b, a);
}

/* Counts t in and gives it its seq (see sched_before). */
static void
sched_window_key(struct sched *s, struct task *t)
{
	struct job_slot *slot;

	sched_count(s, t, 1, 0);
	sched_host_leased(s, t);
	slot = sched_slot(s, t);
	t->seq = (slot->last_seq > s->vtime ? slot->last_seq : s->vtime) + 1;
	slot->last_seq = t->seq;
	s->nwindow++;
}

/*
 * A shared database leases hosts to one node at a time: a task that came
 * with its host's lease carries the host's next allowed start from the
 * node that had it, so delays hold across the cluster.
 */
static void
sched_host_leased(struct sched *s, const struct task *t)
{
	struct host *h = sched_task_host(s, t);
	double next = (double)t->host_next_ms / 1000.0;

	h->released = 0;
	if (t->host_next_ms > 0 && next > h->next_start)
		h->next_start = next;
}

/* Merges n tasks (in any order) into the window, in one pass. */
static void
sched_window_merge(struct sched *s, struct task **v, size_t n)
{
	struct task **pp = &s->window;
	size_t i;

	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), sched_key_cmp);
	for (i = 0; i < n; i++) {
		while (*pp != NULL && !sched_before(v[i], *pp))
			pp = &(*pp)->next;
		v[i]->next = *pp;
		*pp = v[i];
		pp = &v[i]->next;
	}
	/* The tail moves only when the last arrival went last. */
	if (*pp == NULL)
		s->window_tail = pp;
	while (*s->window_tail != NULL)
		s->window_tail = &(*s->window_tail)->next;
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
	sched_count(s, t, -1, 0);
	return t;
}

/* Ends a task without fetching it (cancelled, denied, cannot start). */
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

/* --- claims --------------------------------------------------------------- */

static void
skipset_clear(struct skipset *k)
{
	size_t i;

	for (i = 0; i < k->nhosts; i++)
		free(k->hosts[i]);
	free(k->hosts);
	free(k->jobs);
	free(k->host_jobs);
	memset(k, 0, sizeof(*k));
}

/* Whether skipping big also skips everything small skipped. */
static int
skipset_covers(const struct skipset *big, const struct skipset *small)
{
	size_t i, j;

	for (i = 0; i < small->njobs; i++) {
		for (j = 0; j < big->njobs; j++)
			if (big->jobs[j] == small->jobs[i])
				break;
		if (j == big->njobs)
			return 0;
	}
	for (i = 0; i < small->nhosts; i++) {
		for (j = 0; j < big->nhosts; j++)
			if (big->host_jobs[j] == small->host_jobs[i] &&
			    strcmp(big->hosts[j], small->hosts[i]) == 0)
				break;
		if (j == big->nhosts)
			return 0;
	}
	/* Room for more new hosts than the empty answer had may find some. */
	if (small->new_hosts >= 0 && (big->new_hosts < 0 ||
	    big->new_hosts > small->new_hosts))
		return 0;
	return 1;
}

/* Appends host h, skipped for job, to k. */
static void
skipset_add_host(struct skipset *k, size_t *cap, const char *h, int64_t job)
{
	char **hv;
	int64_t *jv;
	size_t ncap;

	if (k->nhosts == *cap) {
		ncap = *cap == 0 ? 16 : *cap * 2;
		if ((hv = realloc(k->hosts, ncap * sizeof(*hv))) == NULL)
			fatalx("sched: out of memory asking for tasks");
		k->hosts = hv;
		if ((jv = realloc(k->host_jobs, ncap * sizeof(*jv))) == NULL)
			fatalx("sched: out of memory asking for tasks");
		k->host_jobs = jv;
		*cap = ncap;
	}
	if ((k->hosts[k->nhosts] = strdup(h)) == NULL)
		fatalx("sched: out of memory asking for tasks");
	k->host_jobs[k->nhosts++] = job;
}

/*
 * How many hosts it does not hold yet a claim may add (a shared
 * database; -1: any). Transfer slots the window cannot fill now, each new
 * host taking up to per_host_concurrency of them: a node takes on hosts
 * as fast as it can fetch from them (more while per-host delays keep its
 * slots idle), and leaves the rest to the other nodes instead of leasing
 * every host of a job at its first claim.
 */
static int64_t
sched_new_hosts(const struct sched *s)
{
	int64_t idle, per = s->conf->per_host_concurrency;

	if (!s->shared)
		return -1;
	idle = s->conf->concurrency - (int64_t)s->in_flight;
	if (idle <= 0)
		return 0;
	if (per < 1)
		per = 1;
	return (idle + per - 1) / per;
}

/*
 * The saturated jobs, and each job's saturated hosts, which a claim now
 * should skip, and how many new hosts it may take on.
 */
static void
sched_skipset(struct sched *s, struct skipset *k)
{
	struct mapent *e;
	struct host *h;
	size_t i, j, cap = 0;

	memset(k, 0, sizeof(*k));
	k->new_hosts = sched_new_hosts(s);
	if (s->nslots > 0 && (k->jobs = calloc(s->nslots,
	    sizeof(*k->jobs))) == NULL)
		fatalx("sched: out of memory asking for tasks");
	for (i = 0; i < s->nslots; i++)
		if (slot_saturated(&s->slots[i]))
			k->jobs[k->njobs++] = s->slots[i].job_id;
	for (i = 0; i < s->hosts.nb; i++) {
		for (e = s->hosts.b[i]; e != NULL; e = e->next) {
			h = (struct host *)e;
			for (j = 0; j < h->njobs; j++)
				if (host_job_saturated(h, &h->jobs[j]))
					skipset_add_host(k, &cap, e->key,
					    h->jobs[j].job_id);
		}
	}
}

/*
 * The claim protocol. Tasks join the queue only as new work or due
 * retries, so after an empty answer a claim skipping the same jobs and
 * hosts or more would find nothing either: it would only rescan the
 * queue. An answer to a claim asked before new work arrived proves
 * nothing (treating it as dry lost a wake-up once).
 *
 *              LOW         LOW_COVERED  FOUND   EMPTY        WORK
 *  READY       ASKED+ask   ASKED+ask    -       -            READY
 *  ASKED       ASKED       ASKED        READY   DRY+dry      STALE
 *  STALE       STALE       STALE        READY   READY        STALE
 *  DRY         DRY_ASKED+  DRY          -       -            READY
 *              ask
 *  DRY_ASKED   DRY_ASKED   DRY_ASKED    DRY     DRY+dry      STALE
 *
 * "-": no claim is out, so no answer comes; the state stays.
 */
static const struct {
	unsigned char	next;
	unsigned char	act;
} sched_claim_table[SCHED_CLAIM_NSTATES][SCHED_EV_NEVENTS] = {
#define T(n, a)	{ SCHED_CLAIM_##n, a }
	[SCHED_CLAIM_READY] = { T(ASKED, SCHED_ACT_ASK),
	    T(ASKED, SCHED_ACT_ASK), T(READY, 0), T(READY, 0), T(READY, 0) },
	[SCHED_CLAIM_ASKED] = { T(ASKED, 0), T(ASKED, 0), T(READY, 0),
	    T(DRY, SCHED_ACT_DRY), T(STALE, 0) },
	[SCHED_CLAIM_STALE] = { T(STALE, 0), T(STALE, 0), T(READY, 0),
	    T(READY, 0), T(STALE, 0) },
	[SCHED_CLAIM_DRY] = { T(DRY_ASKED, SCHED_ACT_ASK), T(DRY, 0),
	    T(DRY, 0), T(DRY, 0), T(READY, 0) },
	[SCHED_CLAIM_DRY_ASKED] = { T(DRY_ASKED, 0), T(DRY_ASKED, 0),
	    T(DRY, 0), T(DRY, SCHED_ACT_DRY), T(STALE, 0) },
#undef T
};

enum sched_claim
sched_claim_step(enum sched_claim st, enum sched_claim_event ev,
    unsigned *actions)
{
	*actions = 0;
	if ((unsigned)st >= SCHED_CLAIM_NSTATES ||
	    (unsigned)ev >= SCHED_EV_NEVENTS)
		return st;
	*actions = sched_claim_table[st][ev].act;
	return (enum sched_claim)sched_claim_table[st][ev].next;
}

/* Feeds an event to the claim protocol; true when it says to ask. */
static int
sched_claim_event(struct sched *s, enum sched_claim_event ev)
{
	enum sched_claim next;
	unsigned act;

	next = sched_claim_step(s->claim, ev, &act);
	if (next != s->claim)
		log_debug("%s: claim %d -> %d (event %d)", __func__,
		    (int)s->claim, (int)next, (int)ev);
	s->claim = next;
	if (act & SCHED_ACT_DRY) {
		skipset_clear(&s->dry);
		s->dry = s->pending;
		memset(&s->pending, 0, sizeof(s->pending));
	}
	return (act & SCHED_ACT_ASK) != 0;
}

/*
 * Asks for more tasks when the window's unsaturated part runs low, telling
 * the store thread which saturated jobs and hosts to skip.
 */
static void
sched_refill(struct sched *s)
{
	size_t cap = sched_window_cap(s), low = cap / 2, held;
	struct skipset k;

	if (!s->running)
		return;
	held = s->sat_held >= (int64_t)s->nwindow ? 0 :
	    s->nwindow - (size_t)s->sat_held;
	if (held > low)
		return;
	/* Only a claim's first ask needs the skip set. */
	if (s->claim == SCHED_CLAIM_ASKED || s->claim == SCHED_CLAIM_STALE ||
	    s->claim == SCHED_CLAIM_DRY_ASKED)
		return;
	sched_skipset(s, &k);
	if (!sched_claim_event(s, s->claim == SCHED_CLAIM_DRY &&
	    skipset_covers(&k, &s->dry) ? SCHED_EV_LOW_COVERED :
	    SCHED_EV_LOW)) {
		skipset_clear(&k);
		return;
	}
	queue_want(s->queue, cap - held, k.jobs, k.njobs, k.hosts, k.host_jobs,
	    k.nhosts, k.new_hosts);
	skipset_clear(&s->pending);
	s->pending = k;
}

/* Arms the timer that makes delayed tasks claimable at due_ms. */
static void
sched_due_at(struct sched *s, int64_t due_ms)
{
	int64_t now = job_now_ms();

	if (due_ms <= 0 || (s->due_at_ms != 0 && s->due_at_ms <= due_ms))
		return;
	s->due_at_ms = due_ms;
	ev_timer_stop(s->loop, &s->due_timer);
	ev_timer_set(&s->due_timer, due_ms > now ?
	    (double)(due_ms - now) / 1000.0 : 0., 0.);
	ev_timer_start(s->loop, &s->due_timer);
}

static void
sched_due_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sched *s = w->data;

	(void)loop;
	(void)revents;
	s->due_at_ms = 0;
	sched_claim_event(s, SCHED_EV_WORK);
	sched_dispatch(s);
}

/* --- robots.txt ------------------------------------------------------------ */

/* Fills t->origin and t->path from its URL; -1 if it does not parse. */
static int
sched_task_origin(struct task *t)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	char *query = NULL;
	CURLU *h;
	int rc = -1;

	if (t->origin != NULL)
		return 0;
	if ((h = curl_url()) == NULL)
		return -1;
	if (curl_url_set(h, CURLUPART_URL, t->url, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK &&
	    curl_url_get(h, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		if (curl_url_get(h, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL;
		if (asprintf(&t->origin, "%s://%s:%s", scheme, host, port) < 0)
			t->origin = NULL;
		if (asprintf(&t->path, "%s%s%s", path, query != NULL ? "?" : "",
		    query != NULL ? query : "") < 0)
			t->path = NULL;
		rc = t->origin != NULL && t->path != NULL ? 0 : -1;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);
	return rc;
}

static void
sched_robots_cb(long status, CURLcode code, const char *body, size_t len,
    void *arg)
{
	struct robots_entry *e = arg;
	struct sched *s = e->s;
	const char *token = strchr(e->ent.key, ' ');
	char agent[64];
	ev_tstamp now = ev_now(s->loop);

	e->fetching = 0;
	if (code == CURLE_ABORTED_BY_CALLBACK)
		return;		/* stopping */
	snprintf(agent, sizeof(agent), "%.*s", token != NULL ?
	    (int)(token - e->ent.key) : 0, e->ent.key);
	robots_free(e->rules);
	if (code != CURLE_OK || status >= 500 || status == 0) {
		/* RFC 9309 2.3.1.4: unreachable means complete disallow. */
		e->rules = robots_disallow_all();
		e->expires = now + ROBOTS_ERROR_TTL_S;
	} else if (status >= 400 || status < 200 || status >= 300) {
		/* 2.3.1.3: unavailable (4xx) means no restrictions. */
		e->rules = robots_allow_all();
		e->expires = now + (double)s->conf->robots_ttl_s;
	} else {
		e->rules = robots_parse(body, len, agent);
		e->expires = now + (double)s->conf->robots_ttl_s;
	}
	if (e->rules == NULL)
		fatalx("sched: out of memory for robots.txt rules");
	log_info("robots.txt of %s: status %ld%s%s", token != NULL ? token + 1 :
	    e->ent.key, status, code != CURLE_OK ? ", " : "",
	    code != CURLE_OK ? curl_easy_strerror(code) : "");
	sched_dispatch(s);
}

/*
 * The robots.txt rules for a task, fetching them first if needed. NULL
 * while they are being fetched.
 */
static struct robots *
sched_robots(struct sched *s, struct task *t, ev_tstamp now)
{
	struct robots_entry *e;
	char token[64], *key = NULL, *url = NULL;

	if (sched_task_origin(t) != 0)
		return NULL;
	robots_agent_token(conf_eff(s->conf, &t->opts, user_agent), token,
	    sizeof(token));
	if (asprintf(&key, "%s %s", token, t->origin) < 0)
		fatalx("sched: out of memory");
	if ((e = (struct robots_entry *)map_get(&s->robots, key)) != NULL) {
		free(key);
		if (e->fetching)
			return NULL;
		if (e->rules != NULL && now < e->expires)
			return e->rules;
	} else {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			fatalx("sched: out of memory");
		e->ent.key = key;
		e->s = s;
		map_put(&s->robots, &e->ent);
	}
	if (asprintf(&url, "%s/robots.txt", t->origin) < 0)
		fatalx("sched: out of memory");
	e->fetching = 1;
	if (fetch_aux_start(s->fetch, url, &t->opts, ROBOTS_MAX_BYTES,
	    sched_robots_cb, e) != 0) {
		e->fetching = 0;
		robots_free(e->rules);
		e->rules = robots_disallow_all();
		e->expires = now + ROBOTS_ERROR_TTL_S;
		log_warnx("robots.txt of %s cannot be fetched; denying for now",
		    t->origin);
	}
	free(url);
	return e->fetching ? NULL : e->rules;
}

/* --- dispatch ------------------------------------------------------------- */

enum ready { READY_WAIT, READY_GO, READY_DENIED };

/*
 * Whether t may start now. *crawl_ms gets robots.txt's Crawl-delay (-1 if
 * none); *wake the earliest time a host delay ends.
 */
/* Counts a host the walk found waiting for all its tasks, once. */
static void
sched_walk_blocked(struct sched *s, struct host *h)
{
	if (h->walk_counted == s->walk)
		return;
	h->walk_counted = s->walk;
	s->walk_blocked++;
}

static enum ready
sched_ready(struct sched *s, struct task *t, ev_tstamp now, int64_t *crawl_ms,
    ev_tstamp *wake)
{
	struct host *h = sched_task_host(s, t);
	int64_t cap = conf_eff(s->conf, &t->opts, per_host_concurrency);
	const struct job_slot *slot;
	struct robots *rules;

	*crawl_ms = -1;
	/* Known to wait this walk: a window of one busy host's tasks costs
	 * a comparison each, not a lookup. */
	if (h->walk_delay == s->walk ||
	    (h->walk_full == s->walk && cap <= h->walk_cap))
		return READY_WAIT;
	slot = sched_slot(s, t);
	if (slot->limit != JOB_UNSET && slot->in_flight >= slot->limit)
		return READY_WAIT;
	/* The workers are behind: pages needing them wait (backpressure);
	 * the workers wake the loop when they catch up. */
	if (s->work != NULL && work_wanted(t) &&
	    work_backlog(s->work) >= WORK_BACKLOG_MAX)
		return READY_WAIT;
	if (conf_eff(s->conf, &t->opts, obey_robots)) {
		if ((rules = sched_robots(s, t, now)) == NULL)
			return t->origin == NULL ? READY_GO : READY_WAIT;
		if (!robots_allowed(rules, t->path))
			return READY_DENIED;
		*crawl_ms = robots_crawl_delay_ms(rules);
	}
	if (h->in_flight >= cap) {
		if (h->walk_full != s->walk || cap > h->walk_cap)
			h->walk_cap = cap;
		h->walk_full = s->walk;
		/* Full for every task it holds. */
		if (cap >= h->cap_max)
			sched_walk_blocked(s, h);
		return READY_WAIT;
	}
	if (now < h->next_start) {
		if (*wake == 0 || h->next_start < *wake)
			*wake = h->next_start;
		h->walk_delay = s->walk;
		sched_walk_blocked(s, h);
		return READY_WAIT;
	}
	return READY_GO;
}

/* The gap to keep before the host's next request start. */
static double
sched_gap_ms(struct sched *s, const struct task *t, const struct host *h,
    int64_t crawl_ms)
{
	double gap = (double)conf_eff(s->conf, &t->opts, per_host_delay_ms);
	int64_t jitter = conf_eff(s->conf, &t->opts, per_host_jitter_ms);

	if ((double)crawl_ms > gap)
		gap = (double)crawl_ms;
	if (conf_eff(s->conf, &t->opts, autothrottle) &&
	    h->auto_delay_ms > gap)
		gap = h->auto_delay_ms;
	if (jitter > 0)
		gap += (double)(random() % (jitter + 1));
	return gap;
}

static void
sched_start(struct sched *s, struct task *t, int64_t crawl_ms, ev_tstamp now)
{
	struct host *h = sched_task_host(s, t);
	char *cause = NULL;

	if (conf_eff(s->conf, &t->opts, autothrottle) &&
	    h->auto_delay_ms < 0)
		h->auto_delay_ms = (double)s->conf->autothrottle_start_delay_ms;
	h->next_start = now + sched_gap_ms(s, t, h, crawl_ms) / 1000.0;
	sched_count(s, t, 0, 1);
	s->in_flight++;
	if (t->seq > s->vtime)
		s->vtime = t->seq;
	if (fetch_start(s->fetch, t, &cause) != 0) {
		log_warnx("sched: task %lld cannot start: %s",
		    (long long)t->id, cause != NULL ? cause : "unknown");
		s->in_flight--;
		sched_count(s, t, 0, -1);
		sched_fail_task(s, t, RESULT_INTERNAL,
		    cause != NULL ? cause : "transfer could not start");
		free(cause);
	}
}

/* Starts every window task the limits allow, in priority order. */
static void
sched_dispatch(struct sched *s)
{
	struct task **pp, *t;
	ev_tstamp now, wake = 0;
	int64_t crawl_ms;

	if (!s->running)
		return;
	now = ev_now(s->loop);
	s->walk++;		/* what waits, waits for the whole walk */
	s->walk_blocked = 0;
	pp = &s->window;
	/* Ends early once every host with tasks here is known to wait, and
	 * starts nothing while the results not yet committed weigh too much
	 * (the queue says when they are down again). */
	while ((t = *pp) != NULL &&
	    s->in_flight < (size_t)s->conf->concurrency &&
	    s->walk_blocked < s->hosts_held &&
	    (s->queue == NULL || !queue_results_full(s->queue))) {
		switch (sched_ready(s, t, now, &crawl_ms, &wake)) {
		case READY_GO:
			sched_start(s, sched_window_take(s, pp), crawl_ms, now);
			break;
		case READY_DENIED:
			sched_fail_task(s, sched_window_take(s, pp),
			    RESULT_ROBOTS_DENIED, "disallowed by robots.txt");
			break;
		case READY_WAIT:
			pp = &t->next;
			break;
		}
	}
	if (wake > 0) {
		ev_timer_stop(s->loop, &s->delay_timer);
		ev_timer_set(&s->delay_timer, wake - now, 0.);
		ev_timer_start(s->loop, &s->delay_timer);
	}
	stats_set_window(s->nwindow);
	stats_set_active_hosts(s->hosts.n);
	sched_refill(s);
}

static void
sched_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sched_dispatch(w->data);
}

/* --- results ---------------------------------------------------------------- */

int
sched_is_transient(const struct result *r)
{
	switch (r->kind) {
	case RESULT_TIMEOUT:
	case RESULT_CONNECT:
		return 1;
	case RESULT_HTTP_STATUS:
		return r->status == 408 || r->status == 429 ||
		    r->status == 500 || r->status == 502 || r->status == 503 ||
		    r->status == 504;
	default:
		return 0;
	}
}

int64_t
sched_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t n)
{
	int64_t d = base_ms;

	while (--n > 0 && d < max_ms)
		d *= 2;
	return d < max_ms ? d : max_ms;
}

/*
 * Autothrottle: the host's delay moves halfway toward latency / target
 * concurrency; errors never shorten it, 429 and 503 double it.
 */
static void
sched_autothrottle(struct sched *s, const struct task *t,
    const struct result *r)
{
	struct host *h = sched_task_host(s, t);
	double floor = (double)conf_eff(s->conf, &t->opts, per_host_delay_ms);
	double ceil = (double)s->conf->autothrottle_max_delay_ms;
	double target = r->time_ttfb_ms /
	    (double)s->conf->autothrottle_target_concurrency;
	double next = (h->auto_delay_ms + target) / 2.0;

	if (r->status == 429 || r->status == 503)
		next = fmax(h->auto_delay_ms * 2.0, target);
	else if (r->kind != RESULT_OK)
		next = fmax(h->auto_delay_ms, next);
	h->auto_delay_ms = fmin(fmax(next, floor), ceil);
	log_debug("%s: %s delay %.0f ms (latency %.0f ms, status %ld)",
	    __func__, t->host, h->auto_delay_ms, r->time_ttfb_ms, r->status);
}

/* Schedules another attempt for a transient failure; false if none left. */
static int
sched_retry(struct sched *s, const struct task *t, const struct result *r)
{
	int64_t base = sched_backoff_ms(s->conf->retry_backoff_ms,
	    s->conf->retry_backoff_max_ms, r->attempts), delay, due;

	if (!sched_is_transient(r) || r->attempts >=
	    conf_eff(s->conf, &t->opts, max_attempts))
		return 0;
	/* Equal jitter: half fixed, half random, so gaps still grow. */
	delay = base / 2 + (base > 1 ? random() % (base / 2 + 1) : 0);
	if (r->retry_after_s > 0)
		delay = r->retry_after_s * 1000 > RETRY_AFTER_MAX_MS ?
		    RETRY_AFTER_MAX_MS : (delay > r->retry_after_s * 1000 ?
		    delay : r->retry_after_s * 1000);
	due = job_now_ms() + delay;
	log_debug("%s: task %lld attempt %lld failed (%s), next in %lld ms",
	    __func__, (long long)t->id, (long long)r->attempts,
	    result_kind_name(r->kind), (long long)delay);
	queue_retry(s->queue, t, r->attempts, due);
	stats_add_retry();
	sched_due_at(s, due);
	return 1;
}

void
sched_tasks_cb(struct task *list, size_t n, int64_t next_due_ms, void *arg)
{
	struct sched *s = arg;
	struct task *t, **v = NULL;
	size_t k = 0;

	sched_claim_event(s, n > 0 ? SCHED_EV_FOUND : SCHED_EV_EMPTY);
	sched_due_at(s, next_due_ms);
	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL)
		fatalx("sched: out of memory taking tasks");
	while ((t = list) != NULL) {
		list = t->next;
		t->next = NULL;
		if (!s->running) {
			queue_requeue(s->queue, t);
			task_free(t);
		} else if (util_ids_has(&s->cancelled, t->job_id))
			sched_fail_task(s, t, RESULT_CANCELLED,
			    "job cancelled before this task started");
		else if (k < n) {
			sched_window_key(s, t);
			v[k++] = t;
		}
	}
	if (n > 0) {
		sched_window_merge(s, v, k);
		free(v);
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
	sched_count(s, t, 0, -1);
	if (r == NULL)
		queue_requeue(s->queue, t);
	else {
		if (r->kind != RESULT_CANCELLED)
			stats_record_fetch(r->kind, r->status,
			    r->time_total_ms / 1000.0);
		if (conf_eff(s->conf, &t->opts, autothrottle) &&
		    r->kind != RESULT_CANCELLED)
			sched_autothrottle(s, t, r);
		if (r->kind != RESULT_CANCELLED && sched_retry(s, t, r))
			result_free(r);
		else if (s->work != NULL && r->kind == RESULT_OK &&
		    work_wanted(t)) {
			/* Parsing is a worker's; it passes r on. */
			work_submit(s->work, t, r);
			t = NULL;
		} else
			queue_result(s->queue, r);
	}
	task_free(t);
	sched_dispatch(s);
	if (s->idle != NULL && s->in_flight == 0)
		sched_idle(s);
}

/* --- cancellation, wake-ups, lifecycle ------------------------------------ */

/* Loop thread: drops a cancelled job's window tasks and transfers. */
static void
sched_cancel(struct sched *s, int64_t job_id)
{
	struct task **pp, *t;
	size_t dropped = 0, aborted;

	if (!util_ids_has(&s->cancelled, job_id) &&
	    util_ids_push(&s->cancelled, job_id) != 0)
		log_warnx("sched: out of memory remembering cancelled job");
	pp = &s->window;
	while ((t = *pp) != NULL) {
		if (t->job_id != job_id) {
			pp = &t->next;
			continue;
		}
		sched_fail_task(s, sched_window_take(s, pp), RESULT_CANCELLED,
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
	struct util_ids cancels;
	size_t i;
	int work;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&s->lock);
	work = s->work_posted;
	s->work_posted = 0;
	cancels = s->cancel_posted;
	memset(&s->cancel_posted, 0, sizeof(s->cancel_posted));
	pthread_mutex_unlock(&s->lock);

	for (i = 0; i < cancels.n; i++)
		sched_cancel(s, cancels.v[i]);
	util_ids_free(&cancels);
	if (work)
		sched_claim_event(s, SCHED_EV_WORK);
	sched_dispatch(s);
}

/* Forgets idle hosts and expired robots.txt rules. */
static void
sched_gc_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sched *s = w->data;
	ev_tstamp now = ev_now(loop);
	struct mapent **pp, *e;
	size_t i;

	(void)revents;
	for (i = 0; i < s->hosts.nb; i++) {
		for (pp = &s->hosts.b[i]; (e = *pp) != NULL;) {
			struct host *h = (struct host *)e;

			/* Idle for a while: in a shared database another node
			 * may take it (nothing happens on SQLite). */
			if (h->held == 0 && h->in_flight == 0 && !h->released &&
			    h->next_start + HOST_RELEASE_S < now) {
				queue_release_host(s->queue, e->key,
				    (int64_t)(h->next_start * 1000.0));
				h->released = 1;
			}
			if (h->held == 0 && h->in_flight == 0 &&
			    h->next_start + HOST_IDLE_S < now) {
				*pp = e->next;
				s->hosts.n--;
				host_free(e);
			} else
				pp = &e->next;
		}
	}
	for (i = 0; i < s->robots.nb; i++) {
		for (pp = &s->robots.b[i]; (e = *pp) != NULL;) {
			struct robots_entry *r = (struct robots_entry *)e;

			if (!r->fetching && r->expires < now) {
				*pp = e->next;
				s->robots.n--;
				robots_free(r->rules);
				free(e->key);
				free(r);
			} else
				pp = &e->next;
		}
	}
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
	if (util_ids_push(&s->cancel_posted, job_id) != 0)
		log_warnx("sched: out of memory posting a cancel");
	pthread_mutex_unlock(&s->lock);
	ev_async_send(s->loop, &s->wake);
}

struct sched *
sched_create(struct ev_loop *loop, struct conf *c)
{
	struct sched *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->loop = loop;
	s->conf = conf_ref(c);
	s->shared = store_db_is_shared(c->db);
	s->window_tail = &s->window;
	pthread_mutex_init(&s->lock, NULL);
	ev_async_init(&s->wake, sched_wake_cb);
	s->wake.data = s;
	ev_async_start(loop, &s->wake);
	ev_init(&s->delay_timer, sched_delay_cb);
	s->delay_timer.data = s;
	ev_init(&s->due_timer, sched_due_cb);
	s->due_timer.data = s;
	ev_timer_init(&s->gc_timer, sched_gc_cb, GC_INTERVAL_S, GC_INTERVAL_S);
	s->gc_timer.data = s;
	ev_timer_start(loop, &s->gc_timer);
	return s;
}

void
sched_attach(struct sched *s, struct queue *q, struct fetch *f,
    struct work *w)
{
	s->queue = q;
	s->fetch = f;
	s->work = w;
}

void
sched_set_conf(struct sched *s, struct conf *c)
{
	conf_replace(&s->conf, NULL, c);
	sched_dispatch(s);
}

size_t
sched_active_hosts(const struct sched *s)
{
	return s->hosts.n;
}

void
sched_run(struct sched *s)
{
	s->running = 1;
	sched_claim_event(s, SCHED_EV_WORK);
	sched_dispatch(s);
}

/* Hands every held task back to the queue. */
static void
sched_release_window(struct sched *s)
{
	struct task *t;

	while (s->window != NULL) {
		t = sched_window_take(s, &s->window);
		queue_requeue(s->queue, t);
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

static void
map_free_all(struct map *m, void (*free_ent)(struct mapent *))
{
	struct mapent *e, *next;
	size_t i;

	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			free_ent(e);
		}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

static void
host_free(struct mapent *e)
{
	free(((struct host *)e)->jobs);
	free(e->key);
	free(e);
}

static void
robots_entry_free(struct mapent *e)
{
	robots_free(((struct robots_entry *)e)->rules);
	free(e->key);
	free(e);
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
	ev_timer_stop(s->loop, &s->delay_timer);
	ev_timer_stop(s->loop, &s->due_timer);
	ev_timer_stop(s->loop, &s->gc_timer);
	pthread_mutex_destroy(&s->lock);
	map_free_all(&s->hosts, host_free);
	map_free_all(&s->robots, robots_entry_free);
	free(s->slots);
	util_ids_free(&s->cancelled);
	util_ids_free(&s->cancel_posted);
	conf_unref(s->conf);
	skipset_clear(&s->dry);
	skipset_clear(&s->pending);
	free(s);
}
