/*
 * fetch: libcurl's multi interface driven by a libev loop (socket and timer
 * callbacks, as in curl's evhiperfifo example). It runs transfers it is
 * handed and turns each finished one into exactly one ScrapeResult. It
 * does not decide what to start: the scheduler gates fetch_start().
 * Everything here runs on the loop thread.
 */
#ifndef HARVESTD_FETCH_H
#define HARVESTD_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <ev.h>

#include "job/job.h"

struct fetch;

struct conf;

/*
 * Called when a transfer ends. Ownership of t and r passes to the callee.
 * r is NULL when the transfer was aborted by fetch_abort_all(): the task
 * did not finish and should go back to the queue.
 */
typedef void (*fetch_done_cb)(struct task *t, struct result *r, void *arg);

/*
 * c is the configuration (a reference is taken): defaults for every
 * transfer, a job's own options taking precedence, and the address guard.
 */
struct fetch	*fetch_create(struct ev_loop *loop, struct conf *c,
		    fetch_done_cb cb, void *arg, char **cause);
/*
 * A reloaded configuration (a reference is taken) for transfers started
 * from now on; each transfer keeps the one it started with.
 */
void		 fetch_set_conf(struct fetch *f, struct conf *c);
/*
 * Starts a transfer for t. On success t is taken; on failure (-1) t stays
 * with the caller and *cause says why.
 */
int		 fetch_start(struct fetch *f, struct task *t, char **cause);
/*
 * A helper transfer that is no task's (robots.txt): GET url with the
 * default limits and the user agent and TLS settings of a job's options o
 * (borrowed for the call), at most max_body bytes kept, redirects
 * followed up to 5.
 * cb gets the status (0: none), libcurl's code and the body (borrowed for
 * the call); code is CURLE_ABORTED_BY_CALLBACK when fetch_abort_all()
 * ended it. Returns -1 when it could not start (cb is not called).
 */
typedef void (*fetch_aux_cb)(long status, CURLcode code, const char *body,
    size_t len, void *arg);
int		 fetch_aux_start(struct fetch *f, const char *url,
		    const struct job_opts *o, size_t max_body, fetch_aux_cb cb,
		    void *arg);
/* Aborts the job's transfers; each ends with a 'cancelled' result. */
size_t		 fetch_cancel_job(struct fetch *f, int64_t job_id);
/* Aborts every transfer; each ends with r == NULL (re-queue). */
void		 fetch_abort_all(struct fetch *f);
size_t		 fetch_in_flight(const struct fetch *f);
/* Aborts what is left (as fetch_abort_all) and frees everything. */
void		 fetch_free(struct fetch *f);

/*
 * The one mapping from libcurl's outcome to an error kind: code is the
 * transfer's CURLcode, status the final HTTP status (0 if none),
 * too_large whether the body limit stopped the transfer and url the URL
 * it ended on (after redirects; NULL: the one asked for, http or https).
 */
enum result_kind fetch_classify(CURLcode code, long status, int too_large,
		    const char *url);

#endif
