/*
 * work: the worker threads that do the CPU work on fetched pages — parse
 * HTML or XML (libxml2), extract fields (extract/), find links to follow
 * and read sitemaps (crawl/) — so the loop thread never does. The loop
 * hands over a finished task with its final result; a worker fills in
 * result->fields and result->links and passes the result on to the store
 * thread. A job without extract, follow or sitemaps never comes here.
 */
#ifndef HARVESTD_WORK_H
#define HARVESTD_WORK_H

#include <stddef.h>

#include "job/job.h"

struct work;
struct queue;

/* Results waiting for a worker beyond which the loop starts no more
 * transfers that would need one. */
#define WORK_BACKLOG_MAX	256

/*
 * Starts nthreads workers handing results to q. ready(arg) is called
 * (from a worker) when a full backlog has drained to half.
 */
struct work	*work_start(size_t nthreads, struct queue *q,
		    void (*ready)(void *), void *arg, char **cause);
/* Whether a task's result needs a worker. */
int		 work_wanted(const struct task *t);
/* Results waiting or being worked on (thread-safe). */
size_t		 work_backlog(struct work *w);
/* Takes t and r (loop thread). */
void		 work_submit(struct work *w, struct task *t, struct result *r);
/* Works off what was handed over, every result on to the queue, then
 * stops the threads. NULL is fine. */
void		 work_stop(struct work *w);

/*
 * What a worker does to one result, exposed for tests: fields, links and
 * sitemap entries of task t's result r.
 */
void		 work_result(struct task *t, struct result *r);

#endif
