/*
 * store: the only module that speaks SQL. One struct store is one
 * connection to the database — SQLite (a path: the embedded default) or
 * PostgreSQL (a postgresql:// URI: several nodes sharing it) — with its
 * prepared statements; it is used by one thread at a time (the store
 * thread owns one, each API handler takes one from a pool).
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

#define STORE_SCHEMA_VERSION 6

struct store;

struct store_opts {
	int64_t		 busy_timeout_ms;
	int64_t		 cache_kib;	/* SQLite page cache; 0: default */
	char		 node[256];	/* shared: this node's name */
	int64_t		 lease_ms;	/* shared: task and host leases */
};
struct conf;
/*
 * The options the configuration gives a connection: busy_timeout_ms,
 * node_name (default "<hostname>:<port>") and lease_s; cache_kib is the
 * caller's.
 */
void		 store_opts_init(struct store_opts *o, const struct conf *c,
		    int64_t cache_kib);

/*
 * Process-wide SQLite settings; call once before any store_open (without
 * it everything works, a little slower).
 */
void		 store_global_init(void);
/* Whether db names a shared database (a postgresql:// URI). */
int		 store_db_is_shared(const char *db);
/*
 * db as it may be logged or shown: a URI without its password (userinfo
 * or password= parameter). Allocated; NULL on ENOMEM.
 */
char		*store_db_display(const char *db);
/* Opens (creating and migrating as needed) the database db names. */
struct store	*store_open(const char *db, const struct store_opts *o,
		    char **cause);
void		 store_close(struct store *s);
/* "sqlite" or "postgresql". */
const char	*store_backend_name(const struct store *s);
/* Schema version the file is at (PRAGMA user_version). */
int		 store_schema_version(struct store *s);

/*
 * One daemon per database file (store/lock.c): an advisory lock on the
 * file, held until store_unlock. NULL with *cause naming the process that
 * holds it. Readers (the sqlite3 shell) are not affected.
 */
struct store_lock;
struct store_lock *store_lock(const char *path, char **cause);
/*
 * Whether the path still names the locked, linked file: -1 with *cause
 * when it was deleted, moved or replaced (thread-safe).
 */
int		 store_lock_check(const struct store_lock *l, char **cause);
void		 store_unlock(struct store_lock *l);

/* Puts tasks a crash left 'running' back to 'queued'; *n gets how many. */
int		 store_recover(struct store *s, int64_t *n, char **cause);

/* One URL of a submission: url and host are borrowed. */
struct store_url {
	const char	*url;
	const char	*host;
	const char	*key;		/* what dedupes it (NULL: url) */
	enum task_kind	 kind;
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
/* Rows one step of a long write changes at most (one transaction). */
#define STORE_STEP_ROWS		10000

/*
 * Cancels a queued or running job: its queued tasks get a 'cancelled'
 * result and state. Returns 1 when no such job, and sets *changed when
 * the job was not already finished. One step changes at most max tasks
 * in one transaction, the first also the job (a restart finishes what
 * the steps left); *written counts the results written and *more says
 * whether queued tasks are left. store_job_cancel takes every step.
 */
int		 store_job_cancel_step(struct store *s, int64_t id,
		    int64_t max, int *changed, int64_t *written, int *more,
		    char **cause);
int		 store_job_cancel(struct store *s, int64_t id, int *changed,
		    char **cause);

/*
 * Deletes a finished job with its tasks and results. Returns 1 when no
 * such job, 2 when it is still active (queued or running tasks left). A
 * step deletes at most max rows in one transaction and sets *more until
 * the job itself is gone; store_job_purge takes every step.
 */
int		 store_job_purge_step(struct store *s, int64_t id, int64_t max,
		    int *more, char **cause);
int		 store_job_purge(struct store *s, int64_t id, char **cause);
/* The oldest job finished more than days ago: 0 with *id, 1 if none. */
int		 store_job_expired(struct store *s, int64_t days, int64_t *id,
		    char **cause);
/* A job's failed tasks, for a retry: everything owned. */
struct store_failed {
	struct job_opts	 opts;		/* the job's options */
	char		**urls;		/* each failed task's url ... */
	char		**hosts;	/* ... and host, in task order */
	size_t		 n;
};
/*
 * Reads job id's options and the url and host of each of its failed
 * tasks, in one read transaction. Returns 1 when no such job, 2 when it
 * is still active (queued or running tasks left), 0 otherwise (out->n
 * may be 0). Clear out with store_failed_clear after 0.
 */
int		 store_job_failed(struct store *s, int64_t id,
		    struct store_failed *out, char **cause);
void		 store_failed_clear(struct store_failed *f);

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

/*
 * Jobs and hosts a claim skips: the caller holds enough of them. Host i
 * is skipped for job host_jobs[i] only, or for every job when host_jobs
 * is NULL or host_jobs[i] is 0.
 */
struct store_skip {
	const int64_t	*jobs;
	size_t		 njobs;
	char *const	*hosts;
	size_t		 nhosts;
	const int64_t	*host_jobs;
	/*
	 * A shared database: with limit_hosts, the claim starts holding at
	 * most new_hosts hosts this node does not hold yet (tasks of hosts
	 * it holds come whatever the limit), so one node cannot take every
	 * host while the others idle. Ignored by SQLite.
	 */
	int		 limit_hosts;
	int64_t		 new_hosts;
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

/* A claimed task given back: its id and the lease it was claimed with. */
struct store_ref {
	int64_t	task_id;
	int64_t	lease;
};

/* A task to try again later (a transient failure). */
struct store_retry {
	int64_t	task_id;
	int64_t	attempts;	/* made so far */
	int64_t	due_ms;		/* unix ms */
	int64_t	lease;		/* as claimed */
};

/*
 * Commits, in one transaction, a batch of results (each with its task's
 * final state), task ids to put back in the queue without counting an
 * attempt, and retries to schedule. Marks jobs with no task left as done
 * and adds their ids to finished (may be NULL). All lists are borrowed.
 * *committed gets how many results were written; the links of a result
 * (a crawl's) become tasks of its job, *added how many.
 */
int		 store_commit(struct store *s, const struct result *results,
		    const struct store_ref *requeue, size_t nrequeue,
		    const struct store_retry *retries, size_t nretries,
		    size_t *committed, struct util_ids *finished,
		    size_t *added, char **cause);
/* Tasks a crawl may add to a job that sets no max_pages (sitemaps). */
#define STORE_LINKS_MAX		1000000

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
	const char	*fields;		/* extract's JSON, or NULL */
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

/* The PostgreSQL schema's version (its own migrations: store/pg.c). */
#define STORE_PG_SCHEMA_VERSION 1

/*
 * A shared database (PostgreSQL) is used by several nodes at once; the
 * calls below are how they share it. On SQLite each does nothing and
 * succeeds.
 *
 * Claims (store_claim) there take only tasks of hosts that no other
 * live node holds, and lease those hosts and tasks to this node (struct
 * task's lease, host_next_ms). The leases last lease_ms; a node renews
 * them with store_heartbeat every third of that.
 */

/*
 * The upkeep every live node does every lease_ms / 3, in one
 * transaction: renews its task and host leases and its row of the nodes
 * table (in_flight transfers), and returns to the queue the tasks and
 * hosts whose lease expired, whichever node held them. *reaped gets how
 * many tasks went back.
 */
int		 store_heartbeat(struct store *s, int64_t in_flight,
		    int64_t *reaped, char **cause);

/* A host this node is done with, and when its next request may start. */
struct store_host_release {
	const char	*host;
	int64_t		 next_allowed_ms;	/* unix ms */
};
/*
 * Gives up the leases of hosts this node no longer has tasks of, keeping
 * each host's next allowed start for whichever node takes it next.
 */
int		 store_release_hosts(struct store *s,
		    const struct store_host_release *v, size_t n, char **cause);

/* A node sharing the database, borrowed for the callback. */
struct store_node {
	const char	*name;
	const char	*version;
	const char	*started_at;
	const char	*heartbeat_at;
	int64_t		 in_flight;
	int		 alive;		/* heartbeat within a lease */
};
typedef int (*store_node_cb)(const struct store_node *n, void *arg);
/* Every node that ever used the database, alive first. */
int		 store_nodes(struct store *s, store_node_cb cb, void *arg,
		    char **cause);

/*
 * Events from other nodes: a connection of its own that LISTENs for new
 * work, cancelled jobs and ended jobs (NOTIFY, sent by the backend in
 * the transactions that cause them). store_listen gives NULL without an
 * error for a database that has no such events (SQLite).
 */
enum store_event {
	STORE_EV_WORK,		/* tasks were added or became due */
	STORE_EV_CANCEL,	/* job_id was cancelled */
	STORE_EV_DONE		/* job_id ended */
};
typedef void (*store_event_cb)(enum store_event ev, int64_t job_id,
    void *arg);
struct store_listener;
struct store_listener *store_listen(const char *db, char **cause);
/* The socket to watch for reading; -1 while disconnected. */
int		 store_listener_fd(const struct store_listener *l);
/*
 * Reads what arrived and calls cb for each event. -1 with *cause when the
 * connection is lost: then store_listener_reset (with a backoff) until it
 * succeeds. The socket may change with a reset; events sent meanwhile
 * are lost, so the first read after a reset reports STORE_EV_WORK.
 * libpq may hold events it read along with a reply: read once after
 * store_listen and after each reset, not only when the socket is ready.
 */
int		 store_listener_read(struct store_listener *l, store_event_cb cb,
		    void *arg, char **cause);
int		 store_listener_reset(struct store_listener *l, char **cause);
void		 store_listener_close(struct store_listener *l);

/* Formats unix milliseconds as 2026-01-02T03:04:05.678Z into buf[32]. */
void		 store_format_time(int64_t ms, char buf[32]);

#endif
