/*
 * sched: the dispatch window between the queue and the fetcher, on the
 * loop thread. It holds a bounded number of claimed tasks in memory (the
 * backpressure: memory stays flat however many URLs are queued), asks the
 * store thread for more below a low-water mark, and starts a transfer only
 * when the global limit (the semaphore), the job's limit and the host's
 * limit and delay allow, and robots.txt permits. Transient failures are
 * handed back to the queue as retries with backoff.
 */
#ifndef HARVESTD_SCHED_H
#define HARVESTD_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "fetch/fetch.h"
#include "job/job.h"
#include "queue/queue.h"

struct sched;

struct conf;

/* c: the configuration (a reference is taken); a job's options win. */
struct sched	*sched_create(struct ev_loop *loop, struct conf *c);
/*
 * Wires the queue, the fetcher (created with sched_tasks_cb and
 * sched_done_cb) and the workers that parse pages (may be NULL).
 */
struct work;
void		 sched_attach(struct sched *s, struct queue *q, struct fetch *f,
		    struct work *w);
/* A reloaded configuration (a reference is taken). */
void		 sched_set_conf(struct sched *s, struct conf *c);
/* Starts pulling work. */
void		 sched_run(struct sched *s);
/*
 * Starts no more transfers and hands held tasks back to the queue; calls
 * idle(arg) once nothing is in flight (maybe at once).
 */
void		 sched_drain(struct sched *s, void (*idle)(void *), void *arg);
/* Stops dispatching; every task held or in flight goes back to the queue. */
void		 sched_stop(struct sched *s);
void		 sched_free(struct sched *s);
/* Hosts with tasks held or in flight. */
size_t		 sched_active_hosts(const struct sched *s);

/* Callbacks for queue_start() and fetch_create(); arg is the sched. */
void		 sched_tasks_cb(struct task *list, size_t n, int64_t next_due_ms,
		    void *arg);
void		 sched_done_cb(struct task *t, struct result *r, void *arg);

/* Thread-safe: new work was submitted / a job was cancelled. */
void		 sched_notify_work(struct sched *s);
void		 sched_notify_cancel(struct sched *s, int64_t job_id);

/*
 * The claim protocol with the store thread, as a state machine (the
 * table is in sched.c; exposed for tests). The loop asks for tasks when
 * its window runs low; an empty answer makes it "dry" for the jobs and
 * hosts that claim skipped, until new work arrives, so a big queue is not
 * rescanned for nothing; an answer asked for before new work arrived
 * proves nothing.
 */
enum sched_claim {
	SCHED_CLAIM_READY,	/* no claim out, nothing known */
	SCHED_CLAIM_ASKED,	/* a claim out, asked after the last work */
	SCHED_CLAIM_STALE,	/* a claim out, new work came since */
	SCHED_CLAIM_DRY,	/* an empty answer is still current */
	SCHED_CLAIM_DRY_ASKED,	/* dry, and a claim skipping less is out */
	SCHED_CLAIM_NSTATES
};
enum sched_claim_event {
	SCHED_EV_LOW,		/* the window runs low */
	SCHED_EV_LOW_COVERED,	/* ... and would skip all the dry answer did */
	SCHED_EV_FOUND,		/* an answer with tasks */
	SCHED_EV_EMPTY,		/* an answer without */
	SCHED_EV_WORK,		/* new work or a due retry */
	SCHED_EV_NEVENTS
};
#define SCHED_ACT_ASK	0x1	/* send a claim */
#define SCHED_ACT_DRY	0x2	/* what it skipped is now known dry */
enum sched_claim sched_claim_step(enum sched_claim st,
		    enum sched_claim_event ev, unsigned *actions);

/* Whether a result is worth another attempt (exposed for tests). */
int		 sched_is_transient(const struct result *r);
/* Backoff before attempt n+1 after n attempts, without jitter. */
int64_t		 sched_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t n);

#endif
