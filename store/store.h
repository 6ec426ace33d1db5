/*
 * store: the only module that speaks SQL. One struct store is one SQLite
 * connection with its prepared statements; it is used by one thread at a
 * time (the store thread owns one, the API thread another).
 *
 * Return convention: 0 on success, -1 on failure with *cause allocated
 * (the caller frees it) where a cause argument exists.
 */
#ifndef HARVESTD_STORE_H
#define HARVESTD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "job/job.h"
#include "util/util.h"

#define STORE_SCHEMA_VERSION 2

struct store;

struct store_opts {
	int64_t	busy_timeout_ms;
	int64_t	cache_kib;	/* page cache; 0: SQLite's default (2 MiB) */
};

/*
 * Process-wide SQLite settings; call once before any store_open (without
 * it everything works, a little slower).
 */
void		 store_global_init(void);
/* Opens (creating and migrating as needed) the database at path. */
struct store	*store_open(const char *path, const struct store_opts *o,
		    char **cause);
void		 store_close(struct store *s);
/* Schema version the file is at (PRAGMA user_version). */
int		 store_schema_version(struct store *s);

/* Puts tasks a crash left 'running' back to 'queued'; *n gets how many. */
int		 store_recover(struct store *s, int64_t *n, char **cause);

/* One URL of a submission: url and host are borrowed. */
struct store_url {
	const char	*url;
	const char	*host;
};

/*
 * Inserts a job and its tasks in one transaction, durable on return.
 * opts is borrowed.
 */
int		 store_job_create(struct store *s, const struct job_opts *opts,
		    const struct store_url *urls, size_t n, int64_t *job_id,
		    char **cause);

/* Older names of the task states (enum task_state, job/job.h). */
#define STORE_TASK_QUEUED	TASK_QUEUED
#define STORE_TASK_RUNNING	TASK_RUNNING
#define STORE_TASK_DONE		TASK_DONE
#define STORE_TASK_FAILED	TASK_FAILED
#define STORE_TASK_CANCELLED	TASK_CANCELLED
#define STORE_TASK_NSTATES	TASK_NSTATES

struct store_job {
	int64_t		 id;
	enum job_state	 state_code;
	const char	*state;		/* job_state_name(state_code) */
	int64_t		 total;
	int64_t		 counts[TASK_NSTATES];
	char		*options;	/* JSON text, owned */
	char		*created_at;	/* owned */
	char		*finished_at;	/* owned, NULL while unfinished */
};
void		 store_job_clear(struct store_job *j);

/* Fills *out; returns 1 when no such job, 0 when found, -1 on error. */
int		 store_job_get(struct store *s, int64_t id,
		    struct store_job *out, char **cause);
/*
 * Calls cb for up to limit jobs with id > after, oldest first. The job is
 * borrowed for the duration of the call; a non-zero return from cb stops.
 */
typedef int (*store_job_cb)(const struct store_job *j, void *arg);
int		 store_job_list(struct store *s, int64_t after, int64_t limit,
		    store_job_cb cb, void *arg, char **cause);
/*
 * Cancels a queued or running job: its queued tasks get a 'cancelled'
 * result and state in one transaction. Returns 1 when no such job, and
 * sets *changed when the job was not already finished.
 */
int		 store_job_cancel(struct store *s, int64_t id, int *changed,
		    char **cause);

/*
 * Deletes a finished job with its tasks and results. Returns 1 when no
 * such job, 2 when it is still active (queued or running tasks left).
 */
int		 store_job_purge(struct store *s, int64_t id, char **cause);
/* Purges finished jobs that ended more than days ago; *n gets how many. */
int		 store_purge_expired(struct store *s, int64_t days, int64_t *n,
		    char **cause);
/*
 * Runs a passive checkpoint and caps the WAL file at limit bytes once it
 * restarts. *wal_bytes gets the WAL's size and *blocked whether frames are
 * left that a reader still needs (an open read transaction).
 */
int		 store_checkpoint(struct store *s, int64_t limit,
		    int64_t *wal_bytes, int *blocked, char **cause);

/* Jobs and hosts a claim skips: the caller holds enough of them. */
struct store_skip {
	const int64_t	*jobs;
	size_t		 njobs;
	char *const	*hosts;
	size_t		 nhosts;
};

/*
 * Claims up to max queued tasks that are due (queued -> running) in one
 * transaction, each with its job's options. Higher priority jobs first;
 * jobs of equal priority share the claim evenly and their tasks are
 * interleaved in *list. *next_due_ms gets the earliest time a queued task
 * not yet due becomes due (0: none). skip may be NULL.
 */
int		 store_claim(struct store *s, size_t max,
		    const struct store_skip *skip, struct task **list,
		    size_t *n, int64_t *next_due_ms, char **cause);

/* A task to try again later (a transient failure). */
struct store_retry {
	int64_t	task_id;
	int64_t	attempts;	/* made so far */
	int64_t	due_ms;		/* unix ms */
};

/*
 * Commits, in one transaction, a batch of results (each with its task's
 * final state), task ids to put back in the queue without counting an
 * attempt, and retries to schedule. Marks jobs with no task left as done
 * and adds their ids to finished (may be NULL). All lists are borrowed.
 * *committed gets how many results were written.
 */
int		 store_commit(struct store *s, const struct result *results,
		    const int64_t *requeue, size_t nrequeue,
		    const struct store_retry *retries, size_t nretries,
		    size_t *committed, struct util_ids *finished,
		    char **cause);

/* A results row, borrowed for the duration of a store_results_page cb. */
struct store_row {
	int64_t		 id;
	int64_t		 task_id;
	int64_t		 job_id;
	const char	*url;
	const char	*final_url;
	int64_t		 status;
	const char	*content_type;
	const char	*headers;		/* NULL unless asked for */
	const void	*body;			/* NULL unless asked for */
	size_t		 body_len;		/* (STORE_PAGE_BODY_SMALL: also
						   when body is left unread) */
	int64_t		 body_size;
	int		 truncated;
	int64_t		 content_length;	/* -1: unknown */
	int64_t		 redirect_count;
	double		 time_dns_ms;
	double		 time_connect_ms;
	double		 time_tls_ms;
	double		 time_ttfb_ms;
	double		 time_total_ms;
	int64_t		 attempts;
	const char	*fetched_at;
	const char	*error_kind;		/* NULL on success */
	const char	*error_message;
};
typedef int (*store_row_cb)(const struct store_row *r, void *arg);

#define STORE_PAGE_BODY		0x1
#define STORE_PAGE_HEADERS	0x2
#define STORE_PAGE_FAILED	0x4	/* only rows with an error kind */
/*
 * The body only when it is at most STORE_BODY_SMALL bytes, body_len
 * always: a bigger body is left unread (store_result_body streams it).
 */
#define STORE_PAGE_BODY_SMALL	0x8
#define STORE_BODY_SMALL	(64 * 1024)
/*
 * Calls cb for up to limit results of job_id with id > after, in id
 * order, in one statement (one read transaction while it runs); a
 * non-zero return from cb stops.
 */
int		 store_results_page(struct store *s, int64_t job_id,
		    int64_t after, int64_t limit, int flags, store_row_cb cb,
		    void *arg, char **cause);
/*
 * The id of the last row of that page (flags: STORE_PAGE_FAILED), 0 when
 * it is empty. Reads ids only.
 */
int		 store_results_last(struct store *s, int64_t job_id,
		    int64_t after, int64_t limit, int flags, int64_t *last,
		    char **cause);
/*
 * Reads the body of result id from byte off on into buf, len bytes at a
 * time, calling cb with each piece until the end or until cb returns
 * non-zero. One blob handle: one read transaction, as short as the
 * reading (and cb) is. *size gets the body's length in bytes. -1 with
 * *cause when it cannot be read (no such row, no body).
 */
typedef int (*store_body_cb)(const unsigned char *p, size_t n, void *arg);
int		 store_result_body(struct store *s, int64_t id, int64_t off,
		    unsigned char *buf, size_t len, store_body_cb cb, void *arg,
		    int64_t *size, char **cause);

struct store_totals {
	int64_t	queued;		/* tasks waiting */
	int64_t	running;	/* tasks claimed */
	int64_t	jobs_active;	/* jobs queued or running */
	int64_t	db_bytes;	/* main file + WAL */
};
int		 store_totals(struct store *s, struct store_totals *t,
		    char **cause);

/* Formats unix milliseconds as 2026-01-02T03:04:05.678Z into buf[32]. */
void		 store_format_time(int64_t ms, char buf[32]);

#endif
