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
struct guard;

struct notify_conf {
	const char	*db_path;
	int64_t		 busy_timeout_ms;
	int64_t		 timeout_ms;		/* per POST */
	const char	*user_agent;
};

/* Starts the thread; guard is taken (NULL: no guard). */
struct notify	*notify_start(const struct notify_conf *c, struct guard *g,
		    char **cause);
/* Jobs that ended (thread-safe; copied). Jobs without a URL are skipped. */
void		 notify_jobs(struct notify *n, const int64_t *ids, size_t count);
/* Replaces the guard (taken). */
void		 notify_set_guard(struct notify *n, struct guard *g);
/* Stops after the POST under way; callbacks still waiting are logged. */
void		 notify_stop(struct notify *n);

#endif
