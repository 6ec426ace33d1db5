/*
 * store/backend: the boundary between the store's shared code (store.c:
 * the entry points, the claim policy) and a storage engine (sqlite.c,
 * pg.c), in the manner of OpenSMTPD's queue backends: a table of
 * operations chosen by the "db" value. Only backends speak SQL; what a
 * claim takes, and in which order, is decided above them.
 *
 * Every operation follows the matching store_* function in store.h (same
 * arguments, same results) unless said otherwise here.
 */
#ifndef HARVESTD_STORE_BACKEND_H
#define HARVESTD_STORE_BACKEND_H

#include "store/store.h"

/* What every backend's connection starts with. */
struct store {
	const struct store_ops	*ops;
	/* The claim policy's: the job a claim served last, so the next
	 * starts after it (jobs of equal priority take turns). */
	int64_t			 claim_after;
};

/* An active job as a claim sees it. */
struct store_claim_job {
	int64_t	id;
	int64_t	priority;
};

struct store_ops {
	const char	*name;
	/* NULL with *cause when the database cannot be opened or migrated. */
	struct store	*(*open)(const char *db, const struct store_opts *o,
			    char **cause);
	void		 (*close)(struct store *s);
	int		 (*schema_version)(struct store *s);
	int		 (*recover)(struct store *s, int64_t *n, char **cause);
	/* options: the job's fields as JSON text; priority: its priority. */
	/*
	 * crawl: the job follows links or sitemaps, so its page URLs are
	 * recorded as seen (store_url.key) for the links found later.
	 */
	int		 (*job_create)(struct store *s, const char *options,
			    int64_t priority, const struct store_url *urls,
			    size_t n, int crawl, int64_t *job_id, char **cause);
	int		 (*job_get)(struct store *s, int64_t id,
			    struct store_job *out, char **cause);
	int		 (*job_list)(struct store *s, int64_t after,
			    int64_t limit, store_job_cb cb, void *arg,
			    char **cause);
	int		 (*job_cancel_step)(struct store *s, int64_t id,
			    int64_t max, int *changed, int64_t *written,
			    int *more, char **cause);
	int		 (*job_purge_step)(struct store *s, int64_t id,
			    int64_t max, int *more, char **cause);
	int		 (*job_expired)(struct store *s, int64_t days,
			    int64_t *id, char **cause);
	/*
	 * store_job_failed, but the options as JSON text (allocated) and
	 * out's urls and hosts filled with store_failed_add.
	 */
	int		 (*job_failed)(struct store *s, int64_t id,
			    char **options, struct store_failed *out,
			    char **cause);

	/*
	 * A claim, in one transaction: claim_begin, then claim_jobs (every
	 * active job, highest priority first, then oldest), claim_tasks for
	 * the jobs the policy picks, claim_options for each job that got
	 * tasks, claim_next_due, and claim_end (commit when ok, else roll
	 * back; the tasks are the caller's either way).
	 */
	int		 (*claim_begin)(struct store *s, char **cause);
	int		 (*claim_jobs)(struct store *s,
			    struct store_claim_job **jobs, size_t *n,
			    char **cause);
	/*
	 * Up to max due tasks of one job (queued, next_attempt_at <= now),
	 * none of the nskip hosts, earliest due first, then oldest: each
	 * moved to running and appended to *v (grown with realloc; *n and
	 * *cap count it). Tasks come with id, job, url, host, attempts and,
	 * where the backend leases, their lease token. new_hosts (NULL: no
	 * limit): how many hosts not held yet the claim may start holding,
	 * lowered by those it took (backends without host leases ignore it).
	 */
	int		 (*claim_tasks)(struct store *s, int64_t job_id,
			    size_t max, int64_t now_ms, char *const *skip_hosts,
			    size_t nskip, int64_t *new_hosts, struct task ***v,
			    size_t *n, size_t *cap, char **cause);
	/* The job's options as JSON text (allocated); the job is running. */
	int		 (*claim_options)(struct store *s, int64_t job_id,
			    char **options, char **cause);
	int		 (*claim_next_due)(struct store *s, int64_t now_ms,
			    int64_t *next_due_ms, char **cause);
	int		 (*claim_end)(struct store *s, int ok, char **cause);

	int		 (*commit)(struct store *s,
			    const struct result *results,
			    const struct store_ref *requeue, size_t nrequeue,
			    const struct store_retry *retries, size_t nretries,
			    size_t *committed, struct util_ids *finished,
			    size_t *added, char **cause);
	int		 (*results_page)(struct store *s, int64_t job_id,
			    int64_t after, int64_t limit, int flags,
			    store_row_cb cb, void *arg, char **cause);
	int		 (*results_last)(struct store *s, int64_t job_id,
			    int64_t after, int64_t limit, int flags,
			    int64_t *last, char **cause);
	int		 (*result_body)(struct store *s, int64_t id,
			    int64_t off, unsigned char *buf, size_t len,
			    store_body_cb cb, void *arg, int64_t *size,
			    char **cause);
	int		 (*totals)(struct store *s, struct store_totals *t,
			    char **cause);
	/* SQLite's WAL upkeep; NULL where there is none. */
	int		 (*checkpoint)(struct store *s, int64_t limit,
			    int64_t *wal_bytes, int *blocked, char **cause);

	/* Shared databases; NULL where the backend has no such thing. */
	int		 (*heartbeat)(struct store *s, int64_t in_flight,
			    int64_t *reaped, char **cause);
	int		 (*release_hosts)(struct store *s,
			    const struct store_host_release *v, size_t n,
			    char **cause);
	int		 (*nodes)(struct store *s, store_node_cb cb, void *arg,
			    char **cause);
	struct store_listener *(*listen)(const char *db, char **cause);
	int		 (*listener_fd)(const struct store_listener *l);
	int		 (*listener_read)(struct store_listener *l,
			    store_event_cb cb, void *arg, char **cause);
	int		 (*listener_reset)(struct store_listener *l,
			    char **cause);
	void		 (*listener_close)(struct store_listener *l);
};

/* What every backend's listener starts with. */
struct store_listener {
	const struct store_ops	*ops;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;
/* A connection string as libpq reads it, without its password
 * (allocated; NULL when it cannot be parsed). */
char		*store_pg_display(const char *db);

/* Appends a failed task's url and host to f; -1 on ENOMEM. */
int		 store_failed_add(struct store_failed *f, size_t *cap,
		    const char *url, const char *host);

/* Process-wide SQLite settings (store_global_init). */
void		 store_sqlite_global_init(void);

#endif
