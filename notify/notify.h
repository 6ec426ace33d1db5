/*
 * notify: completion callbacks. When a job with a callback_url ends (done
 * or cancelled), its final JSON is POSTed there from this module's own
 * thread, retried with backoff, through the same address guard as fetches.
 */
#ifndef HARVESTD_NOTIFY_H
#define HARVESTD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct notify;
struct conf;

/*
 * Starts the thread. c is the configuration (a reference is taken): the
 * database, the POST timeout (timeout_ms), user_agent and the guard.
 */
struct notify	*notify_start(struct conf *c, char **cause);
/* Jobs that ended (thread-safe; copied). Jobs without a URL are skipped. */
void		 notify_jobs(struct notify *n, const int64_t *ids, size_t count);
/* A reloaded configuration (a reference is taken; thread-safe). */
void		 notify_set_conf(struct notify *n, struct conf *c);
/* Stops after the POST under way; callbacks still waiting are logged. */
void		 notify_stop(struct notify *n);

#endif
