/*
 * queue: the store thread. It owns the write connection to SQLite and is
 * the loop's only way to the queue on disk: it claims tasks in batches when
 * the loop asks, and group-commits finished results (one transaction per
 * batch, flushed on size or after batch_interval_ms). The loop never waits
 * on disk: every call here only takes a mutex.
 */
#ifndef HARVESTD_QUEUE_H
#define HARVESTD_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "job/job.h"

struct queue;

struct conf;

/*
 * Called on the loop thread with tasks claimed for it (ownership passes;
 * list may be empty when nothing was due) and the earliest time, in unix
 * ms, a task not yet due becomes due (0: none). Answers one queue_want().
 */
typedef void (*queue_tasks_cb)(struct task *list, size_t n,
    int64_t next_due_ms, void *arg);

/*
 * Opens the store, puts tasks a crash left running back in the queue and
 * starts the thread. -1 with *cause on failure.
 */
struct queue	*queue_start(struct ev_loop *loop, struct conf *c,
		    queue_tasks_cb cb, void *arg, char **cause);
/*
 * Asks for up to n more tasks, none of the njobs jobs, nor of host[i]
 * for job host_jobs[i] (0: for any job), all copied: the loop holds
 * enough of those; of at most new_hosts hosts this node does not hold
 * yet (a shared database; < 0: any). Replaces any request not yet
 * answered (loop thread).
 */
void		 queue_want(struct queue *q, size_t n, const int64_t *jobs,
		    size_t njobs, char *const *hosts, const int64_t *host_jobs,
		    size_t nhosts, int64_t new_hosts);
/*
 * Results handed over and not yet committed may hold this many bytes
 * (bodies, headers): past it the loop starts no transfer, so a store
 * slower than the network (big bodies) holds memory to this, not to the
 * window's worth of bodies.
 */
#define QUEUE_RESULT_BYTES_MAX	((int64_t)32 << 20)
/* Whether they do now (loop thread); the work callback (queue_on_work)
 * runs once they are down to half. */
int		 queue_results_full(struct queue *q);
/* Hands over a finished result to be committed (takes ownership). */
void		 queue_result(struct queue *q, struct result *r);
/*
 * Shared database: this node is done with host for now; its next request
 * may start at next_ms (unix ms). The lease is given up with the next
 * commit. Nothing on SQLite.
 */
void		 queue_release_host(struct queue *q, const char *host,
		    int64_t next_ms);
/*
 * Whether the store's writes go through; when not, why (copied into
 * why[len]). Thread-safe.
 */
int		 queue_healthy(struct queue *q, char *why, size_t len);
/* Puts a claimed task back without counting an attempt. */
void		 queue_requeue(struct queue *q, const struct task *t);
/* Queues a task again after a transient failure, due at due_ms. */
void		 queue_retry(struct queue *q, const struct task *t,
		    int64_t attempts, int64_t due_ms);
/*
 * Called on the store thread after a commit that finished jobs (every
 * task done): their ids, borrowed for the call.
 */
typedef void (*queue_finished_cb)(const int64_t *job_ids, size_t n,
    void *arg);
/* Called on the store thread when a commit added tasks (a crawl's). */
void		 queue_on_work(struct queue *q, void (*cb)(void *), void *arg);
/* Sets the hook; call before work flows. */
void		 queue_on_finished(struct queue *q, queue_finished_cb cb,
		    void *arg);
/* A reloaded configuration (a reference is taken; db needs a restart). */
void		 queue_set_conf(struct queue *q, struct conf *c);
/* Asks the store thread to purge jobs finished more than days ago. */
void		 queue_purge_expired(struct queue *q, int64_t days);

/*
 * The database has one writer, the store thread: other threads hand it
 * their writes (the API's submissions, cancels, purges) as calls. fn runs
 * on the store thread with its connection, before its next commit or
 * claim (and while commits fail too); it returns 0 when done, -1 with
 * *cause on failure, or 1 to run again after the store thread's other
 * work: a long write in bounded steps.
 */
struct store;
typedef int (*queue_call_fn)(struct store *s, void *arg, char **cause);
/*
 * Runs fn and waits for its end; fn's result. -1 with *cause (not run at
 * all) when the store thread did not start it within timeout_ms.
 */
int		 queue_call(struct queue *q, queue_call_fn fn, void *arg,
		    int64_t timeout_ms, char **cause);
/*
 * Runs fn without waiting; arg is taken and freed with free_arg once fn
 * is done (or at stop when it never ran to the end).
 */
int		 queue_call_async(struct queue *q, queue_call_fn fn, void *arg,
		    void (*free_arg)(void *));
/* The store thread's next step (the table is in queue.c; for tests). */
enum queue_step { QUEUE_WAIT, QUEUE_BACKOFF, QUEUE_CALL, QUEUE_WORK,
    QUEUE_EXIT };
struct queue_view {
	int	calls;		/* other threads' writes wait */
	int	heartbeat;	/* shared database: the upkeep is due */
	int	backoff;	/* commits failed; the retry time is ahead */
	int	batch_due;	/* results etc. to commit now */
	int	want;		/* the loop asked for tasks */
	int	stopping;
	int	batch_empty;	/* nothing handed over at all */
};
enum queue_step	 queue_next_step(const struct queue_view *v);

/* Commits everything handed over, stops the thread, closes the store. */
void		 queue_stop(struct queue *q);

#endif
