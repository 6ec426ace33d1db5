/*
 * store/sqlite: the SQLite backend (the embedded default). Owns the SQLite
 * schema, its migrations, the connection pragmas and every statement. Writes run in BEGIN IMMEDIATE transactions so a writer
 * waits (busy_timeout) at the start instead of failing at commit; the hot
 * statements are prepared once per connection and reused.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "util/util.h"
#include "log/log.h"
#include "store/backend.h"
#include "store/schema.sql.h"

enum store_stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_JOB_INSERT,
	ST_TASK_INSERT,
	ST_JOB_GET,
	ST_SEEN_INSERT,
	ST_LINK_TASK,
	ST_JOB_GROW,
	ST_JOB_LIST,
	ST_JOB_STATE,
	ST_JOB_CANCEL_RESULTS,
	ST_JOB_CANCEL_TASKS,
	ST_JOB_CANCEL,
	ST_ACTIVE_JOBS,
	ST_CLAIM_JOB,
	ST_NEXT_DUE,
	ST_TASK_RETRY,
	ST_JOB_OPTIONS,
	ST_JOB_RUNNING,
	ST_TASK_FINISH,
	ST_RESULT_INSERT,
	ST_TASK_REQUEUE,
	ST_JOB_COUNTS,
	ST_JOB_DONE,
	ST_RECOVER,
	ST_RECOVER_COUNTS,
	ST_TOTALS,
	ST_JOB_ACTIVE,
	ST_JOB_DELETE,
	ST_PURGE_RESULTS,
	ST_PURGE_TASKS,
	ST_RECOVER_CANCELS,
	ST_RECOVER_CANCEL_TASKS,
	ST_RECOVER_CANCEL_COUNTS,
	ST_JOB_FAILED,
	ST_JOB_EXPIRED,
	ST_MAX
};

static const char *const store_sql[ST_MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_JOB_INSERT] =
	    "INSERT INTO jobs (options, total, priority, created_at, queued)"
	    " VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?2)",
	[ST_TASK_INSERT] =
	    "INSERT INTO tasks (job_id, url, host, priority, kind)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_SEEN_INSERT] =
	    "INSERT OR IGNORE INTO crawl_seen (job_id, key) VALUES (?1, ?2)",
	/* A crawl's task, unless the job has all the pages it may. */
	[ST_LINK_TASK] =
	    "INSERT INTO tasks (job_id, url, host, priority, kind, depth,"
	    "  parent_id)"
	    " SELECT id, ?2, ?3, priority, ?4, ?5, ?6 FROM jobs"
	    " WHERE id = ?1 AND total < ?7 AND state IN ('queued', 'running')",
	[ST_JOB_GROW] =
	    "UPDATE jobs SET total = total + 1, queued = queued + 1"
	    " WHERE id = ?1",
	[ST_JOB_GET] =
	    "SELECT id, state, total, options, created_at, finished_at,"
	    "  queued, running, done, failed, cancelled"
	    " FROM jobs WHERE id = ?1",
	[ST_JOB_LIST] =
	    "SELECT id FROM jobs WHERE id > ?1 ORDER BY id LIMIT ?2",
	[ST_JOB_STATE] = "SELECT state FROM jobs WHERE id = ?1",
	[ST_JOB_CANCEL_RESULTS] =
	    "INSERT INTO results (task_id, job_id, url, attempts, fetched_at,"
	    "  error_kind, error_message)"
	    " SELECT id, job_id, redact_url(url), attempts,"
	    "  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'cancelled',"
	    "  'job cancelled before this task started'"
	    " FROM tasks WHERE job_id = ?1 AND state = 'queued'"
	    " ORDER BY id LIMIT ?2",
	[ST_JOB_CANCEL_TASKS] =
	    "UPDATE tasks SET state = 'cancelled' WHERE id IN"
	    " (SELECT id FROM tasks WHERE job_id = ?1 AND state = 'queued'"
	    "  ORDER BY id LIMIT ?2)",
	[ST_JOB_CANCEL] =
	    "UPDATE jobs SET state = 'cancelled',"
	    "  finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
	    " WHERE id = ?1 AND state IN ('queued', 'running')",
	[ST_ACTIVE_JOBS] =
	    "SELECT id, priority FROM jobs WHERE state IN ('queued', 'running')"
	    " ORDER BY priority DESC, id",
	[ST_CLAIM_JOB] =
	    "UPDATE tasks SET state = 'running' WHERE id IN"
	    " (SELECT id FROM tasks WHERE job_id = ?1 AND state = 'queued'"
	    "  AND next_attempt_at <= ?2"
	    "  AND host NOT IN (SELECT value FROM json_each(?3))"
	    "  ORDER BY next_attempt_at, id LIMIT ?4)"
	    " RETURNING id, job_id, url, host, attempts, kind, depth",
	[ST_NEXT_DUE] =
	    "SELECT min(next_attempt_at) FROM tasks"
	    " WHERE state = 'queued' AND next_attempt_at > ?1",
	[ST_TASK_RETRY] =
	    "UPDATE tasks SET state = 'queued', attempts = ?2,"
	    "  next_attempt_at = ?3 WHERE id = ?1 AND state = 'running'"
	    " RETURNING job_id",
	[ST_JOB_OPTIONS] = "SELECT options FROM jobs WHERE id = ?1",
	[ST_JOB_RUNNING] =
	    "UPDATE jobs SET state = 'running'"
	    " WHERE id = ?1 AND state = 'queued'",
	[ST_TASK_FINISH] =
	    "UPDATE tasks SET state = ?2, attempts = ?3"
	    " WHERE id = ?1 AND state = 'running'",
	[ST_RESULT_INSERT] =
	    "INSERT INTO results (task_id, job_id, url, final_url, status,"
	    "  content_type, headers, body, body_size, truncated,"
	    "  content_length, redirect_count, time_dns_ms, time_connect_ms,"
	    "  time_tls_ms, time_ttfb_ms, time_total_ms, attempts, fetched_at,"
	    "  error_kind, error_message, fields)"
	    " VALUES (?1, ?2, redact_url(?3), redact_url(?4), ?5, ?6, ?7, ?8,"
	    "  ?9, ?10, ?11, ?12, ?13,"
	    "  ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
	    " ON CONFLICT (task_id) DO NOTHING",
	[ST_TASK_REQUEUE] =
	    "UPDATE tasks SET state = 'queued'"
	    " WHERE id = ?1 AND state = 'running' RETURNING job_id",
	/* The counts by state a transaction changed, per job. */
	[ST_JOB_COUNTS] =
	    "UPDATE jobs SET queued = queued + ?2, running = running + ?3,"
	    "  done = done + ?4, failed = failed + ?5,"
	    "  cancelled = cancelled + ?6 WHERE id = ?1",
	[ST_JOB_DONE] =
	    "UPDATE jobs SET state = 'done',"
	    "  finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
	    " WHERE id = ?1 AND state IN ('queued', 'running')"
	    " AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = ?1"
	    "  AND state IN ('queued', 'running'))",
	/* Running tasks are found by their jobs' counts and the index on
	 * (job_id, state): no scan of the table. */
	[ST_RECOVER] =
	    "UPDATE tasks SET state = 'queued' WHERE state = 'running'"
	    " AND job_id IN (SELECT id FROM jobs WHERE running > 0)",
	[ST_RECOVER_COUNTS] =
	    "UPDATE jobs SET queued = queued + running, running = 0"
	    " WHERE running > 0",
	[ST_TOTALS] =
	    "SELECT coalesce(sum(queued), 0), coalesce(sum(running), 0),"
	    "  count(*) FROM jobs WHERE state IN ('queued', 'running')",
	[ST_JOB_ACTIVE] =
	    "SELECT state IN ('queued', 'running') OR queued > 0"
	    " OR running > 0 FROM jobs WHERE id = ?1",
	[ST_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
	[ST_PURGE_RESULTS] =
	    "DELETE FROM results WHERE id IN"
	    " (SELECT id FROM results WHERE job_id = ?1 LIMIT ?2)",
	[ST_PURGE_TASKS] =
	    "DELETE FROM tasks WHERE id IN"
	    " (SELECT id FROM tasks WHERE job_id = ?1 LIMIT ?2)",
	/* A crash between the steps of a cancel left queued tasks. */
	[ST_RECOVER_CANCELS] =
	    "INSERT INTO results (task_id, job_id, url, attempts, fetched_at,"
	    "  error_kind, error_message)"
	    " SELECT t.id, t.job_id, redact_url(t.url), t.attempts,"
	    "  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'cancelled',"
	    "  'job cancelled before this task started'"
	    " FROM tasks t JOIN jobs j ON j.id = t.job_id"
	    " WHERE j.state = 'cancelled' AND t.state = 'queued'",
	[ST_JOB_FAILED] =
	    "SELECT url, host FROM tasks WHERE job_id = ?1 AND state = 'failed'"
	    " ORDER BY id",
	[ST_RECOVER_CANCEL_TASKS] =
	    "UPDATE tasks SET state = 'cancelled' WHERE state = 'queued'"
	    " AND job_id IN (SELECT id FROM jobs WHERE state = 'cancelled')",
	[ST_RECOVER_CANCEL_COUNTS] =
	    "UPDATE jobs SET cancelled = cancelled + queued, queued = 0"
	    " WHERE state = 'cancelled' AND queued > 0",
	[ST_JOB_EXPIRED] =
	    "SELECT id FROM jobs WHERE state IN ('done', 'cancelled')"
	    " AND finished_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now',"
	    "  '-' || ?1 || ' days')"
	    " ORDER BY id LIMIT 1",
};

/* How a transaction changed one job's counts by state (not yet written). */
struct sq_count {
	int64_t		 job_id;
	int64_t		 d[TASK_NSTATES];
};

struct sq {
	struct store	 base;		/* first: the backend's handle */
	sqlite3		*db;
	char		*path;
	int		 busy_timeout_ms;
	sqlite3_stmt	*stmt[ST_MAX];
	struct sq_count	*counts;	/* of the open transaction */
	size_t		 ncounts;
	size_t		 counts_cap;
	int		 counts_oom;
};

/* A backend handle (the first member) as the backend's own. */
#define SQ(b)	((struct sq *)(void *)(b))

/* Sets *cause from the connection's last error, prefixed with what. */
static int
sq_fail(struct sq *s, char **cause, const char *what)
{
	if (cause != NULL)
		*cause = util_asprintf("%s: %s", what, sqlite3_errmsg(s->db));
	return -1;
}

/* Returns the prepared statement, reset and unbound, preparing it once. */
static sqlite3_stmt *
sq_stmt(struct sq *s, enum store_stmt_id id)
{
	sqlite3_stmt *st = s->stmt[id];

	if (st == NULL) {
		if (sqlite3_prepare_v3(s->db, store_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
			log_warnx("store: prepare %d: %s", (int)id,
			    sqlite3_errmsg(s->db));
			return NULL;
		}
		s->stmt[id] = st;
		return st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/*
 * The door to every statement that moves tasks or a job between states:
 * the state machine (job/) is asked first, so an impossible move never
 * reaches the database. id is the task or job (0: several). Returns the
 * statement, reset and unbound, or NULL.
 */
static sqlite3_stmt *
sq_task_move(struct sq *s, enum store_stmt_id stmt, int64_t id,
    enum task_state from, enum task_state to)
{
	if (task_state_change(id, from, to) != 0)
		return NULL;
	return sq_stmt(s, stmt);
}

static sqlite3_stmt *
sq_job_move(struct sq *s, enum store_stmt_id stmt, int64_t id,
    enum job_state from, enum job_state to)
{
	if (job_state_change(id, from, to) != 0)
		return NULL;
	return sq_stmt(s, stmt);
}

/* Runs a statement that returns no rows. */
static int
sq_exec_stmt(struct sq *s, enum store_stmt_id id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = sq_stmt(s, id)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * A job's counts by state (jobs.queued ... cancelled) are kept by the
 * statements that move its tasks: each move is noted here (n tasks of job
 * from -> to) and the transaction writes the sums once per job before it
 * commits. A trigger did it row by row: an UPDATE of jobs per task state
 * change.
 */
static void
sq_counted(struct sq *s, int64_t job_id, enum task_state from,
    enum task_state to, int64_t n)
{
	struct sq_count *c, *nc;
	size_t i, ncap;

	if (n == 0 || from == to)
		return;
	for (i = 0; i < s->ncounts; i++)
		if (s->counts[i].job_id == job_id)
			break;
	if (i == s->ncounts) {
		if (s->ncounts == s->counts_cap) {
			ncap = s->counts_cap == 0 ? 8 : s->counts_cap * 2;
			if ((nc = realloc(s->counts, ncap * sizeof(*nc))) ==
			    NULL) {
				s->counts_oom = 1;
				return;
			}
			s->counts = nc;
			s->counts_cap = ncap;
		}
		memset(&s->counts[i], 0, sizeof(s->counts[i]));
		s->counts[i].job_id = job_id;
		s->ncounts++;
	}
	c = &s->counts[i];
	c->d[from] -= n;
	c->d[to] += n;
}

/*
 * Steps a statement that moved tasks from -> to and returns the job_id of
 * each (RETURNING job_id), noting the moves; resets it. 0 when done.
 */
static int
sq_step_moved(struct sq *s, sqlite3_stmt *st, enum task_state from,
    enum task_state to)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sq_counted(s, sqlite3_column_int64(st, 0), from, to, 1);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Writes the counts noted so far (before a commit, or a read of them). */
static int
sq_counts_flush(struct sq *s, char **cause)
{
	sqlite3_stmt *st;
	size_t i;
	int k;

	if (s->counts_oom) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	for (i = 0; i < s->ncounts; i++) {
		if ((st = sq_stmt(s, ST_JOB_COUNTS)) == NULL ||
		    sqlite3_bind_int64(st, 1, s->counts[i].job_id) != SQLITE_OK)
			return sq_fail(s, cause, "job counts");
		for (k = 0; k < TASK_NSTATES; k++)
			if (sqlite3_bind_int64(st, 2 + k, s->counts[i].d[k]) !=
			    SQLITE_OK)
				return sq_fail(s, cause, "job counts");
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			return sq_fail(s, cause, "job counts");
		}
		sqlite3_reset(st);
	}
	s->ncounts = 0;
	return 0;
}

static int
sq_begin(struct sq *s, char **cause)
{
	s->ncounts = 0;
	s->counts_oom = 0;
	if (sq_exec_stmt(s, ST_BEGIN) != 0)
		return sq_fail(s, cause, "begin");
	return 0;
}

static int
sq_commit_txn(struct sq *s, char **cause)
{
	if (sq_counts_flush(s, cause) != 0)
		return -1;
	if (sq_exec_stmt(s, ST_COMMIT) != 0)
		return sq_fail(s, cause, "commit");
	return 0;
}

/* Rolls back when a transaction is open; keeps the first error message. */
static void
sq_rollback(struct sq *s)
{
	s->ncounts = 0;
	s->counts_oom = 0;
	if (!sqlite3_get_autocommit(s->db) &&
	    sq_exec_stmt(s, ST_ROLLBACK) != 0)
		log_warnx("store: rollback: %s", sqlite3_errmsg(s->db));
}

static int
sq_pragma(struct sq *s, const char *sql, const char *expect,
    char **cause)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(s, cause, sql);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sq_fail(s, cause, sql);
		sqlite3_finalize(st);
		return -1;
	}
	if (expect != NULL && (rc != SQLITE_ROW ||
	    sqlite3_column_text(st, 0) == NULL ||
	    strcmp((const char *)sqlite3_column_text(st, 0), expect) != 0)) {
		*cause = util_asprintf("%s: did not take effect", sql);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
sq_schema_version(struct store *base)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Runs one statement with text parameters; -1 (with *cause) on error. */
static int
sq_exec3(struct sq *s, const char *sql, const char *a, const char *b,
    const char *c, int *changes, char **cause)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    (a != NULL && sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) !=
	    SQLITE_OK) || (b != NULL && sqlite3_bind_text(st, 2, b, -1,
	    SQLITE_STATIC) != SQLITE_OK) || (c != NULL &&
	    sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC) != SQLITE_OK) ||
	    sqlite3_step(st) != SQLITE_DONE) {
		sq_fail(s, cause, "migration 5");
		sqlite3_finalize(st);
		return -1;
	}
	if (changes != NULL)
		*changes = sqlite3_changes(s->db);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Migration 5 (schema.sql.h: store_checks_rewrite), inside the migration's
 * transaction: the CHECK texts replaced in sqlite_schema, and the schema
 * cookie raised so every connection reads the schema again.
 */
static int
sq_checks_rewrite(struct sq *s, char **cause)
{
	sqlite3_stmt *st = NULL;
	char pragma[64];
	size_t i;
	int cookie = -1, changed, rc = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA schema_version", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		cookie = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (cookie < 0) {
		sq_fail(s, cause, "read schema_version");
		return -1;
	}
	if (sqlite3_exec(s->db, "PRAGMA writable_schema = ON", NULL, NULL,
	    NULL) != SQLITE_OK) {
		sq_fail(s, cause, "writable_schema");
		return -1;
	}
	for (i = 0; i < sizeof(store_checks_rewrite) /
	    sizeof(store_checks_rewrite[0]); i++) {
		if (sq_exec3(s, "UPDATE sqlite_schema SET sql = replace(sql,"
		    " ?2, ?3) WHERE type = 'table' AND name = ?1 AND"
		    " instr(sql, ?2) > 0", store_checks_rewrite[i].table,
		    store_checks_rewrite[i].from, store_checks_rewrite[i].to,
		    &changed, cause) != 0)
			goto out;
		if (changed == 0)	/* not ours as written: left alone */
			log_warnx("store: migration 5: %s has no CHECK \"%s\"",
			    store_checks_rewrite[i].table,
			    store_checks_rewrite[i].from);
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA schema_version = %d",
	    cookie + 1);
	if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
		sq_fail(s, cause, "schema_version");
		goto out;
	}
	rc = 0;
out:
	sqlite3_exec(s->db, "PRAGMA writable_schema = OFF", NULL, NULL, NULL);
	return rc;
}

/*
 * Migrations that SQL alone cannot write run C after their SQL, in the
 * same transaction; by migration number.
 */
static int (*const sq_migration_steps[])(struct sq *, char **) = {
	[5] = sq_checks_rewrite,
};

/* Brings the schema to STORE_SCHEMA_VERSION, one transaction per step. */
static int
sq_migrate(struct sq *s, char **cause)
{
	int version, n = (int)(sizeof(store_migrations) /
	    sizeof(store_migrations[0]));
	char *err = NULL, pragma[64];

	if (sq_begin(s, cause) != 0)
		return -1;
	if ((version = sq_schema_version(&s->base)) < 0) {
		sq_fail(s, cause, "read user_version");
		goto fail;
	}
	if (version > n) {
		*cause = util_asprintf("database schema version %d is newer "
		    "than this harvestd understands (%d)", version, n);
		goto fail;
	}
	for (; version < n; version++) {
		if (sqlite3_exec(s->db, store_migrations[version], NULL, NULL,
		    &err) != SQLITE_OK) {
			*cause = util_asprintf("migration %d: %s",
			    version + 1, err != NULL ? err : "failed");
			sqlite3_free(err);
			goto fail;
		}
		if ((size_t)version + 1 < sizeof(sq_migration_steps) /
		    sizeof(sq_migration_steps[0]) &&
		    sq_migration_steps[version + 1] != NULL &&
		    sq_migration_steps[version + 1](s, cause) != 0)
			goto fail;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
		    version + 1);
		if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
			sq_fail(s, cause, pragma);
			goto fail;
		}
		log_info("store: schema migrated to version %d", version + 1);
	}
	return sq_commit_txn(s, cause);
fail:
	sq_rollback(s);
	return -1;
}

static void sq_close(struct sq *);

/*
 * redact_url(url), for the statements that write results: tasks.url
 * keeps a URL's password for the fetch; results, which the API exports
 * and scripts read, never get it (job_redact_url).
 */
static void
sq_redact_url_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *url;
	char *red;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	if ((url = sqlite3_value_text(argv[0])) == NULL ||
	    (red = job_redact_url((const char *)url)) == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_text(ctx, red, -1, free);
}

static struct sq *
sq_open(const char *path, const struct store_opts *o, char **cause)
{
	struct sq *s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->path = strdup(path)) == NULL) {
		*cause = util_asprintf("out of memory");
		free(s);
		return NULL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*cause = util_asprintf("%s: %s", path, s->db != NULL ?
		    sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* DIRECTONLY: our statements may call it, no view or trigger (the
	 * sqlite3 shell has no such function). */
	if (sqlite3_create_function_v2(s->db, "redact_url", 1, SQLITE_UTF8 |
	    SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
	    sq_redact_url_fn, NULL, NULL, NULL) != SQLITE_OK) {
		sq_fail(s, cause, "redact_url");
		goto fail;
	}
	s->busy_timeout_ms = (int)o->busy_timeout_ms;
	if (sqlite3_busy_timeout(s->db, s->busy_timeout_ms) != SQLITE_OK) {
		sq_fail(s, cause, "busy_timeout");
		goto fail;
	}
	/* WAL lets sqlite3 readers work beside the writer; FULL survives
	 * power loss, and group commit makes its fsync affordable. */
	if (sq_pragma(s, "PRAGMA journal_mode = WAL", "wal", cause) != 0 ||
	    sq_pragma(s, "PRAGMA synchronous = FULL", NULL, cause) != 0 ||
	    sq_pragma(s, "PRAGMA foreign_keys = ON", NULL, cause) != 0 ||
	    /* Checkpoints are run by the store thread once a second, so
	     * SQLite's own (every 4 MiB, with an fsync each) only steps in if
	     * that falls behind. */
	    sq_pragma(s, "PRAGMA wal_autocheckpoint = 16384", NULL,
	    cause) != 0 ||
	    sq_migrate(s, cause) != 0)
		goto fail;
	/* The writer's bigger page cache spares it most pread() calls. */
	if (o->cache_kib > 0) {
		char pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%lld",
		    (long long)o->cache_kib);
		if (sq_pragma(s, pragma, NULL, cause) != 0)
			goto fail;
	}
	s->base.ops = &store_sqlite_ops;
	return s;
fail:
	sq_close(s);
	return NULL;
}

static void
sq_close(struct sq *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("store: close %s: %s", s->path,
		    sqlite3_errmsg(s->db));
	free(s->counts);
	free(s->path);
	free(s);
}

static int
sq_recover(struct store *base, int64_t *n, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;

	if (sq_begin(s, cause) != 0)
		return -1;
	/* Every running task goes back, so every job's running count
	 * joins its queued one. */
	if ((st = sq_task_move(s, ST_RECOVER, 0, TASK_RUNNING,
	    TASK_QUEUED)) == NULL || sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	*n = sqlite3_changes64(s->db);
	sqlite3_reset(st);
	if (sq_exec_stmt(s, ST_RECOVER_COUNTS) != 0)
		goto fail;
	if ((st = sq_stmt(s, ST_RECOVER_CANCELS)) == NULL ||
	    sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	if ((st = sq_task_move(s, ST_RECOVER_CANCEL_TASKS, 0, TASK_QUEUED,
	    TASK_CANCELLED)) == NULL || sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(st);
	if (sq_exec_stmt(s, ST_RECOVER_CANCEL_COUNTS) != 0)
		goto fail;
	return sq_commit_txn(s, cause);
fail:
	sq_fail(s, cause, "recover");
	sq_rollback(s);
	return -1;
}

static int
sq_job_create(struct store *base, const char *text, int64_t priority,
    const struct store_url *urls, size_t n, int crawl, int64_t *job_id,
    char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	size_t i;

	if (sq_begin(s, cause) != 0)
		return -1;
	if ((st = sq_stmt(s, ST_JOB_INSERT)) == NULL ||
	    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)n) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, priority) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		sq_fail(s, cause, "insert job");
		goto fail;
	}
	*job_id = sqlite3_last_insert_rowid(s->db);
	for (i = 0; i < n; i++) {
		if ((st = sq_stmt(s, ST_TASK_INSERT)) == NULL ||
		    sqlite3_bind_int64(st, 1, *job_id) != SQLITE_OK ||
		    sqlite3_bind_text(st, 2, urls[i].url, -1,
		    SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_text(st, 3, urls[i].host, -1,
		    SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 4, priority) != SQLITE_OK ||
		    sqlite3_bind_text(st, 5, task_kind_name(urls[i].kind), -1,
		    SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE) {
			sq_fail(s, cause, "insert task");
			goto fail;
		}
		/* A crawl finds its seeds again: they are seen already. */
		if (crawl && urls[i].kind == TASK_KIND_PAGE &&
		    ((st = sq_stmt(s, ST_SEEN_INSERT)) == NULL ||
		    sqlite3_bind_int64(st, 1, *job_id) != SQLITE_OK ||
		    sqlite3_bind_text(st, 2, urls[i].key != NULL ? urls[i].key :
		    urls[i].url, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)) {
			sq_fail(s, cause, "insert task");
			goto fail;
		}
	}
	if (sq_commit_txn(s, cause) != 0)
		goto fail;
	sqlite3_reset(s->stmt[ST_JOB_INSERT]);
	return 0;
fail:
	sq_rollback(s);
	return -1;
}

static char *
sq_col_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t != NULL ? strdup((const char *)t) : NULL;
}

static int
sq_job_get(struct store *base, int64_t id, struct store_job *out,
    char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	/* The counts are the job row's, kept with every state change:
	 * one row, whatever the job's size. */
	if ((st = sq_stmt(s, ST_JOB_GET)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 1;
	}
	if (rc != SQLITE_ROW)
		goto fail;
	out->id = sqlite3_column_int64(st, 0);
	if (job_state_parse((const char *)sqlite3_column_text(st, 1),
	    &out->state_code) != 0)
		out->state_code = JOB_QUEUED;	/* the CHECK forbids it */
	out->state = job_state_name(out->state_code);
	out->total = sqlite3_column_int64(st, 2);
	out->options = sq_col_strdup(st, 3);
	out->created_at = sq_col_strdup(st, 4);
	out->finished_at = sq_col_strdup(st, 5);
	out->counts[TASK_QUEUED] = sqlite3_column_int64(st, 6);
	out->counts[TASK_RUNNING] = sqlite3_column_int64(st, 7);
	out->counts[TASK_DONE] = sqlite3_column_int64(st, 8);
	out->counts[TASK_FAILED] = sqlite3_column_int64(st, 9);
	out->counts[TASK_CANCELLED] = sqlite3_column_int64(st, 10);
	sqlite3_reset(st);
	if (out->options == NULL || out->created_at == NULL)
		goto fail;
	return 0;
fail:
	sq_fail(s, cause, "read job");
	store_job_clear(out);
	return -1;
}

static int
sq_job_list(struct store *base, int64_t after, int64_t limit,
    store_job_cb cb, void *arg, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	int64_t *ids = NULL;
	size_t n = 0, i;
	struct store_job j;
	int rc;

	if (limit <= 0)
		return 0;
	if ((ids = calloc((size_t)limit, sizeof(*ids))) == NULL) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	if ((st = sq_stmt(s, ST_JOB_LIST)) == NULL ||
	    sqlite3_bind_int64(st, 1, after) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, limit) != SQLITE_OK) {
		free(ids);
		return sq_fail(s, cause, "list jobs");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)limit)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(ids);
		return sq_fail(s, cause, "list jobs");
	}
	for (i = 0; i < n; i++) {
		rc = sq_job_get(&s->base, ids[i], &j, cause);
		if (rc < 0) {
			free(ids);
			return -1;
		}
		if (rc == 1)
			continue;	/* purged meanwhile */
		rc = cb(&j, arg);
		store_job_clear(&j);
		if (rc != 0)
			break;
	}
	free(ids);
	return 0;
}

static int
sq_job_cancel_step(struct store *base, int64_t id, int64_t max, int *changed,
    int64_t *written, int *more, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	int rc;

	*changed = *more = 0;
	*written = 0;
	if (sq_begin(s, cause) != 0)
		return -1;
	if ((st = sq_stmt(s, ST_JOB_STATE)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		sq_rollback(s);
		return 1;
	}
	if (rc != SQLITE_ROW)
		goto fail;
	if ((st = sq_stmt(s, ST_JOB_CANCEL_RESULTS)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, max) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	*written = sqlite3_changes64(s->db);
	if ((st = sq_task_move(s, ST_JOB_CANCEL_TASKS, 0, TASK_QUEUED,
	    TASK_CANCELLED)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, max) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	*more = sqlite3_changes64(s->db) == max;
	sq_counted(s, id, TASK_QUEUED, TASK_CANCELLED,
	    sqlite3_changes64(s->db));
	if ((st = sq_job_move(s, ST_JOB_CANCEL, id, JOB_RUNNING,
	    JOB_CANCELLED)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	*changed = sqlite3_changes(s->db) > 0;
	sqlite3_reset(st);
	return sq_commit_txn(s, cause) == 0 ? 0 : -1;
fail:
	sq_fail(s, cause, "cancel job");
	sq_rollback(s);
	*changed = *more = 0;
	*written = 0;
	return -1;
}

/* 0 when job id has ended, 1 when there is no such job, 2 while it is
 * queued or running; -1 on error. */
static int
sq_job_ended(struct sq *s, int64_t id)
{
	sqlite3_stmt *st;
	int rc, active;

	if ((st = sq_stmt(s, ST_JOB_ACTIVE)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	active = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return -1;
	return active ? 2 : 0;
}

static int
sq_job_purge_step(struct store *base, int64_t id, int64_t max, int *more,
    char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc;

	*more = 0;
	if (sq_begin(s, cause) != 0)
		return -1;
	if ((rc = sq_job_ended(s, id)) < 0)
		goto fail;
	if (rc > 0) {
		sq_rollback(s);
		return rc;
	}
	/* Results, then tasks, a bounded number of rows per transaction so
	 * the writer is never held for long; the job row goes last. */
	if ((st = sq_stmt(s, ST_PURGE_RESULTS)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, max) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	n = sqlite3_changes64(s->db);
	if (n < max) {
		if ((st = sq_stmt(s, ST_PURGE_TASKS)) == NULL ||
		    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, max - n) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			goto fail;
		n += sqlite3_changes64(s->db);
	}
	if (n < max) {
		if ((st = sq_stmt(s, ST_JOB_DELETE)) == NULL ||
		    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	} else
		*more = 1;
	sqlite3_reset(st);
	return sq_commit_txn(s, cause);
fail:
	sq_fail(s, cause, "purge job");
	sq_rollback(s);
	*more = 0;
	return -1;
}

static int
sq_job_expired(struct store *base, int64_t days, int64_t *id, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	int rc;

	if ((st = sq_stmt(s, ST_JOB_EXPIRED)) == NULL ||
	    sqlite3_bind_int64(st, 1, days) != SQLITE_OK)
		return sq_fail(s, cause, "expired jobs");
	rc = sqlite3_step(st);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(s, cause, "expired jobs");
	return rc == SQLITE_ROW ? 0 : 1;
}

static int
sq_checkpoint(struct store *base, int64_t limit, int64_t *wal_bytes,
    int *blocked, char **cause)
{
	struct sq *s = SQ(base);
	char pragma[64];
	int log = 0, done = 0;
	struct stat sb;
	char *wal;

	snprintf(pragma, sizeof(pragma), "PRAGMA journal_size_limit = %lld",
	    (long long)limit);
	if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(s, cause, "journal_size_limit");
	if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    &log, &done) != SQLITE_OK)
		return sq_fail(s, cause, "checkpoint");
	*blocked = log > done;
	*wal_bytes = 0;
	if ((wal = util_asprintf("%s-wal", s->path)) == NULL)
		return 0;
	if (stat(wal, &sb) == 0)
		*wal_bytes = sb.st_size;
	/* Everything is in the database file but the WAL file stayed large:
	 * cut it, without waiting should a reader be between statements. */
	if (!*blocked && *wal_bytes > limit) {
		sqlite3_busy_timeout(s->db, 0);
		if (sqlite3_wal_checkpoint_v2(s->db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) == SQLITE_OK &&
		    stat(wal, &sb) == 0)
			*wal_bytes = sb.st_size;
		sqlite3_busy_timeout(s->db, s->busy_timeout_ms);
	}
	free(wal);
	return 0;
}

static int
bind_text_or_null(sqlite3_stmt *st, int col, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, col);
	return sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

static int
sq_insert_result(struct sq *s, const struct result *r)
{
	sqlite3_stmt *st;
	char when[32];
	int ok;

	store_format_time(r->fetched_at_ms, when);
	if ((st = sq_stmt(s, ST_RESULT_INSERT)) == NULL)
		return -1;
	ok = sqlite3_bind_int64(st, 1, r->task_id) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 2, r->job_id) == SQLITE_OK &&
	    bind_text_or_null(st, 3, r->url) == SQLITE_OK &&
	    bind_text_or_null(st, 4, r->final_url) == SQLITE_OK &&
	    (r->status > 0 ? sqlite3_bind_int64(st, 5, r->status) :
	    sqlite3_bind_null(st, 5)) == SQLITE_OK &&
	    bind_text_or_null(st, 6, r->content_type) == SQLITE_OK &&
	    bind_text_or_null(st, 7, r->headers) == SQLITE_OK &&
	    (r->body != NULL ? sqlite3_bind_blob64(st, 8, r->body,
	    r->body_len, SQLITE_STATIC) : sqlite3_bind_null(st, 8)) ==
	    SQLITE_OK &&
	    sqlite3_bind_int64(st, 9, (sqlite3_int64)r->body_len) == SQLITE_OK &&
	    sqlite3_bind_int(st, 10, r->truncated) == SQLITE_OK &&
	    (r->content_length >= 0 ? sqlite3_bind_int64(st, 11,
	    r->content_length) : sqlite3_bind_null(st, 11)) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 12, r->redirect_count) == SQLITE_OK &&
	    sqlite3_bind_double(st, 13, r->time_dns_ms) == SQLITE_OK &&
	    sqlite3_bind_double(st, 14, r->time_connect_ms) == SQLITE_OK &&
	    sqlite3_bind_double(st, 15, r->time_tls_ms) == SQLITE_OK &&
	    sqlite3_bind_double(st, 16, r->time_ttfb_ms) == SQLITE_OK &&
	    sqlite3_bind_double(st, 17, r->time_total_ms) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 18, r->attempts) == SQLITE_OK &&
	    sqlite3_bind_text(st, 19, when, -1, SQLITE_TRANSIENT) ==
	    SQLITE_OK &&
	    bind_text_or_null(st, 20, result_kind_name(r->kind)) ==
	    SQLITE_OK &&
	    bind_text_or_null(st, 21, r->error_message) == SQLITE_OK &&
	    bind_text_or_null(st, 22, r->fields) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_DONE;
	sqlite3_reset(st);
	return ok ? 0 : -1;
}

/*
 * Moves the task to its final state and writes its result; the task must
 * still be 'running', which makes a second result for it impossible.
 */
/*
 * The URLs a result led to become tasks of its job, each once per job
 * (crawl_seen) and while the job has fewer than links_max tasks.
 */
static int
sq_add_links(struct sq *s, const struct result *r, size_t *added)
{
	const struct result_link *l;
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < r->nlinks; i++) {
		l = &r->links[i];
		if ((st = sq_stmt(s, ST_SEEN_INSERT)) == NULL ||
		    sqlite3_bind_int64(st, 1, r->job_id) != SQLITE_OK ||
		    sqlite3_bind_text(st, 2, l->key, -1, SQLITE_STATIC) !=
		    SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
			return -1;
		if (sqlite3_changes(s->db) == 0)
			continue;	/* seen */
		if ((st = sq_stmt(s, ST_LINK_TASK)) == NULL ||
		    sqlite3_bind_int64(st, 1, r->job_id) != SQLITE_OK ||
		    sqlite3_bind_text(st, 2, l->url, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
		    sqlite3_bind_text(st, 3, l->host, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
		    sqlite3_bind_text(st, 4, task_kind_name(l->kind), -1,
		    SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 5, l->depth) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 6, r->task_id) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 7, r->links_max > 0 ? r->links_max :
		    STORE_LINKS_MAX) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			return -1;
		if (sqlite3_changes(s->db) == 0)
			break;		/* the job has all it may have */
		if ((st = sq_stmt(s, ST_JOB_GROW)) == NULL ||
		    sqlite3_bind_int64(st, 1, r->job_id) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			return -1;
		(*added)++;
	}
	return 0;
}

static int
sq_finish_task(struct sq *s, const struct result *r, int *written,
    size_t *added)
{
	sqlite3_stmt *st;

	*written = 0;
	if ((st = sq_task_move(s, ST_TASK_FINISH, r->task_id, TASK_RUNNING,
	    result_task_end(r->kind))) == NULL ||
	    sqlite3_bind_int64(st, 1, r->task_id) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, result_task_state(r->kind), -1,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, r->attempts) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE)
		return -1;
	sqlite3_reset(st);
	if (sqlite3_changes(s->db) == 0) {
		log_warnx("store: task %lld is not running; result dropped",
		    (long long)r->task_id);
		return 0;
	}
	sq_counted(s, r->job_id, TASK_RUNNING, result_task_end(r->kind), 1);
	if (sq_insert_result(s, r) != 0 || sq_add_links(s, r, added) != 0)
		return -1;
	*written = 1;
	return 0;
}

static int
sq_job_done(struct sq *s, int64_t job_id, struct util_ids *finished)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = sq_job_move(s, ST_JOB_DONE, job_id, JOB_RUNNING,
	    JOB_DONE)) == NULL ||
	    sqlite3_bind_int64(st, 1, job_id) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (finished != NULL && sqlite3_changes(s->db) > 0 &&
	    util_ids_push(finished, job_id) != 0)
		return -1;
	return 0;
}

static int
sq_commit(struct store *base, const struct result *results,
    const struct store_ref *requeue, size_t nrequeue,
    const struct store_retry *retries, size_t nretries, size_t *committed,
    struct util_ids *finished, size_t *added, char **cause)
{
	struct sq *s = SQ(base);
	size_t nfinished = finished != NULL ? finished->n : 0;
	const struct result *r, *q;
	sqlite3_stmt *st;
	size_t i, n = 0;
	int written;

	*committed = 0;
	*added = 0;
	if (sq_begin(s, cause) != 0)
		return -1;
	for (r = results; r != NULL; r = r->next) {
		if (sq_finish_task(s, r, &written, added) != 0) {
			sq_fail(s, cause, "write result");
			goto fail;
		}
		n += (size_t)written;
	}
	for (i = 0; i < nrequeue; i++) {
		if ((st = sq_task_move(s, ST_TASK_REQUEUE, requeue[i].task_id,
		    TASK_RUNNING, TASK_QUEUED)) == NULL ||
		    sqlite3_bind_int64(st, 1, requeue[i].task_id) != SQLITE_OK ||
		    sq_step_moved(s, st, TASK_RUNNING, TASK_QUEUED) != 0) {
			sq_fail(s, cause, "requeue task");
			goto fail;
		}
	}
	for (i = 0; i < nretries; i++) {
		if ((st = sq_task_move(s, ST_TASK_RETRY, retries[i].task_id,
		    TASK_RUNNING, TASK_QUEUED)) == NULL ||
		    sqlite3_bind_int64(st, 1, retries[i].task_id) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, retries[i].attempts) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 3, retries[i].due_ms) != SQLITE_OK ||
		    sq_step_moved(s, st, TASK_RUNNING, TASK_QUEUED) != 0) {
			sq_fail(s, cause, "schedule retry");
			goto fail;
		}
	}
	/* The checks below read the counts. */
	if (sq_counts_flush(s, cause) != 0)
		goto fail;
	/* Each job once: a batch is usually long runs of one job. */
	for (r = results; r != NULL; r = r->next) {
		for (q = results; q != r; q = q->next)
			if (q->job_id == r->job_id)
				break;
		if (q != r)
			continue;
		if (sq_job_done(s, r->job_id, finished) != 0) {
			sq_fail(s, cause, "finish job");
			goto fail;
		}
	}
	if (sq_commit_txn(s, cause) != 0)
		goto fail;
	*committed = n;
	return 0;
fail:
	sq_rollback(s);
	if (finished != NULL)
		finished->n = nfinished;	/* nothing was finished after all */
	*added = 0;
	return -1;
}

#define SQ_STR(x)	SQ_STR2(x)
#define SQ_STR2(x)	#x

static double
col_double(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? 0.0 :
	    sqlite3_column_double(st, col);
}

static int
sq_results_page(struct store *base, int64_t job_id, int64_t after,
    int64_t limit, int flags, store_row_cb cb, void *arg, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st = NULL;
	struct store_row row;
	char sql[1024];
	int rc;

	snprintf(sql, sizeof(sql),
	    "SELECT id, task_id, job_id, url, final_url, status, content_type,"
	    " %s, %s, body_size, truncated, content_length, redirect_count,"
	    " time_dns_ms, time_connect_ms, time_tls_ms, time_ttfb_ms,"
	    " time_total_ms, attempts, fetched_at, error_kind, error_message,"
	    " %s, fields FROM results WHERE job_id = ?1 AND id > ?2 %s"
	    " ORDER BY id LIMIT ?3",
	    (flags & STORE_PAGE_HEADERS) ? "headers" : "NULL",
	    /* length() of a blob reads none of it, nor does a CASE that
	     * leaves it out. */
	    (flags & STORE_PAGE_BODY) ? "body" :
	    (flags & STORE_PAGE_BODY_SMALL) ? "CASE WHEN length(body) <= "
	    SQ_STR(STORE_BODY_SMALL) " THEN body END" : "NULL",
	    (flags & STORE_PAGE_BODY_SMALL) ? "length(body)" : "NULL",
	    (flags & STORE_PAGE_FAILED) ? "AND error_kind IS NOT NULL" : "");
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, job_id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, after) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, limit) != SQLITE_OK) {
		sq_fail(s, cause, "read results");
		sqlite3_finalize(st);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		row.id = sqlite3_column_int64(st, 0);
		row.task_id = sqlite3_column_int64(st, 1);
		row.job_id = sqlite3_column_int64(st, 2);
		row.url = (const char *)sqlite3_column_text(st, 3);
		row.final_url = (const char *)sqlite3_column_text(st, 4);
		row.status = sqlite3_column_int64(st, 5);
		row.content_type = (const char *)sqlite3_column_text(st, 6);
		row.headers = (const char *)sqlite3_column_text(st, 7);
		row.body = sqlite3_column_blob(st, 8);
		row.body_len = (size_t)sqlite3_column_bytes(st, 8);
		if (flags & STORE_PAGE_BODY_SMALL)
			row.body_len = (size_t)sqlite3_column_int64(st, 22);
		row.fields = (const char *)sqlite3_column_text(st, 23);
		row.body_size = sqlite3_column_int64(st, 9);
		row.truncated = sqlite3_column_int(st, 10);
		row.content_length = sqlite3_column_type(st, 11) ==
		    SQLITE_NULL ? -1 : sqlite3_column_int64(st, 11);
		row.redirect_count = sqlite3_column_int64(st, 12);
		row.time_dns_ms = col_double(st, 13);
		row.time_connect_ms = col_double(st, 14);
		row.time_tls_ms = col_double(st, 15);
		row.time_ttfb_ms = col_double(st, 16);
		row.time_total_ms = col_double(st, 17);
		row.attempts = sqlite3_column_int64(st, 18);
		row.fetched_at = (const char *)sqlite3_column_text(st, 19);
		row.error_kind = (const char *)sqlite3_column_text(st, 20);
		row.error_message = (const char *)sqlite3_column_text(st, 21);
		if (cb(&row, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sq_fail(s, cause, "read results");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
sq_totals(struct store *base, struct store_totals *t, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	struct stat sb;
	char *wal;

	memset(t, 0, sizeof(*t));
	if ((st = sq_stmt(s, ST_TOTALS)) == NULL ||
	    sqlite3_step(st) != SQLITE_ROW) {
		if (st != NULL)
			sqlite3_reset(st);
		return sq_fail(s, cause, "totals");
	}
	t->queued = sqlite3_column_int64(st, 0);
	t->running = sqlite3_column_int64(st, 1);
	t->jobs_active = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	if (stat(s->path, &sb) == 0)
		t->db_bytes += sb.st_size;
	if ((wal = util_asprintf("%s-wal", s->path)) != NULL) {
		if (stat(wal, &sb) == 0)
			t->db_bytes += sb.st_size;
		free(wal);
	}
	return 0;
}

/* A job's options and failed tasks, in one read transaction. */
static int
sq_job_failed(struct store *base, int64_t id, char **options,
    struct store_failed *out, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	const unsigned char *text;
	size_t cap = 0;
	int rc;

	*options = NULL;
	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(s, cause, "begin");
	if ((rc = sq_job_ended(s, id)) < 0)
		goto fail;
	if (rc > 0) {
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		return rc;
	}
	if ((st = sq_stmt(s, ST_JOB_OPTIONS)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	text = sqlite3_column_text(st, 0);
	*options = strdup(text != NULL ? (const char *)text : "{}");
	sqlite3_reset(st);
	if (*options == NULL)
		goto nomem;
	if ((st = sq_stmt(s, ST_JOB_FAILED)) == NULL ||
	    sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (store_failed_add(out, &cap,
		    (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1)) != 0) {
			sqlite3_reset(st);
			goto nomem;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE ||
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
nomem:
	*cause = util_asprintf("out of memory");
	sq_rollback(s);
	return -1;
fail:
	sq_fail(s, cause, "read failed tasks");
	sq_rollback(s);
	return -1;
}

static int
sq_results_last(struct store *base, int64_t job_id, int64_t after,
    int64_t limit, int flags, int64_t *last, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st = NULL;
	char sql[256];

	*last = 0;
	/* The index results_job (job_id, id) answers it without the rows,
	 * unless failed=true asks for each row's error_kind. */
	snprintf(sql, sizeof(sql),
	    "SELECT max(id) FROM (SELECT id FROM results"
	    " WHERE job_id = ?1 AND id > ?2 %s ORDER BY id LIMIT ?3)",
	    (flags & STORE_PAGE_FAILED) ? "AND error_kind IS NOT NULL" : "");
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, job_id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, after) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, limit) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sq_fail(s, cause, "read results");
		sqlite3_finalize(st);
		return -1;
	}
	*last = sqlite3_column_int64(st, 0);	/* NULL (empty) reads 0 */
	sqlite3_finalize(st);
	return 0;
}

static int
sq_result_body(struct store *base, int64_t id, int64_t off, unsigned char *buf,
    size_t len, store_body_cb cb, void *arg, int64_t *size, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_blob *b = NULL;
	int total, n;

	*size = 0;
	if (sqlite3_blob_open(s->db, "main", "results", "body", id, 0, &b) !=
	    SQLITE_OK) {
		sq_fail(s, cause, "read body");
		sqlite3_blob_close(b);
		return -1;
	}
	total = sqlite3_blob_bytes(b);
	*size = total;
	while (off < total) {
		n = total - off > (int64_t)len ? (int)len : (int)(total - off);
		if (sqlite3_blob_read(b, buf, n, (int)off) != SQLITE_OK) {
			sq_fail(s, cause, "read body");
			sqlite3_blob_close(b);
			return -1;
		}
		off += n;
		if (cb(buf, (size_t)n, arg) != 0)
			break;
	}
	sqlite3_blob_close(b);
	return 0;
}

void
store_sqlite_global_init(void)
{
	/* Memory statistics take a global mutex on every allocation; nothing
	 * reads them, and the API and store threads allocate a lot. */
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		log_warnx("store: could not turn SQLite memory statistics off");
}

/* --- claims: the primitives the policy in store.c runs ------------------- */

static int
sq_claim_begin(struct store *base, char **cause)
{
	struct sq *s = SQ(base);

	return sq_begin(s, cause);
}

static int
sq_claim_end(struct store *base, int ok, char **cause)
{
	struct sq *s = SQ(base);

	if (ok)
		return sq_commit_txn(s, cause);
	sq_rollback(s);
	return 0;
}

static int
sq_claim_jobs(struct store *base, struct store_claim_job **jobs, size_t *njobs,
    char **cause)
{
	struct sq *s = SQ(base);
	struct store_claim_job *v;
	sqlite3_stmt *st;
	size_t n = 0, cap = 0;
	int rc;

	*jobs = NULL;
	*njobs = 0;
	if ((st = sq_stmt(s, ST_ACTIVE_JOBS)) == NULL)
		return sq_fail(s, cause, "active jobs");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((v = realloc(*jobs, cap * sizeof(*v))) == NULL) {
				sqlite3_reset(st);
				*cause = util_asprintf("out of memory");
				return -1;
			}
			*jobs = v;
		}
		(*jobs)[n].id = sqlite3_column_int64(st, 0);
		(*jobs)[n].priority = sqlite3_column_int64(st, 1);
		n++;
	}
	sqlite3_reset(st);
	*njobs = n;
	if (rc != SQLITE_DONE)
		return sq_fail(s, cause, "active jobs");
	return 0;
}

/* The skipped hosts as a JSON list, for json_each(); NULL on ENOMEM. */
static char *
sq_json_hosts(char *const *hosts, size_t n)
{
	json_t *a;
	size_t i;
	char *text;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(a, json_string(hosts[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return text;
}

static int
sq_claim_tasks(struct store *base, int64_t job_id, size_t max, int64_t now,
    char *const *skip, size_t nskip, int64_t *new_hosts, struct task ***v,
    size_t *n, size_t *cap, char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	struct task *t, **nv;
	char *hosts;
	int rc;

	(void)new_hosts;	/* one process: no host leases */
	if ((hosts = sq_json_hosts(skip, nskip)) == NULL) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	if ((st = sq_task_move(s, ST_CLAIM_JOB, 0, TASK_QUEUED,
	    TASK_RUNNING)) == NULL ||
	    sqlite3_bind_int64(st, 1, job_id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, hosts, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, (sqlite3_int64)max) != SQLITE_OK) {
		free(hosts);
		return sq_fail(s, cause, "claim");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == *cap) {
			*cap = *cap == 0 ? max : *cap * 2;
			if ((nv = realloc(*v, *cap * sizeof(*nv))) == NULL)
				goto nomem;
			*v = nv;
		}
		t = task_new(sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    (const char *)sqlite3_column_text(st, 3),
		    sqlite3_column_int64(st, 4));
		if (t == NULL)
			goto nomem;
		(void)task_kind_parse((const char *)sqlite3_column_text(st, 5),
		    &t->kind);
		t->depth = sqlite3_column_int64(st, 6);
		(*v)[(*n)++] = t;
		sq_counted(s, job_id, TASK_QUEUED, TASK_RUNNING, 1);
	}
	sqlite3_reset(st);
	free(hosts);
	if (rc != SQLITE_DONE)
		return sq_fail(s, cause, "claim");
	return 0;
nomem:
	sqlite3_reset(st);
	free(hosts);
	*cause = util_asprintf("out of memory");
	return -1;
}

static int
sq_claim_options(struct store *base, int64_t job_id, char **options,
    char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	const unsigned char *text;

	*options = NULL;
	if ((st = sq_stmt(s, ST_JOB_OPTIONS)) == NULL ||
	    sqlite3_bind_int64(st, 1, job_id) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		if (st != NULL)
			sqlite3_reset(st);
		return sq_fail(s, cause, "read job options");
	}
	text = sqlite3_column_text(st, 0);
	*options = strdup(text != NULL ? (const char *)text : "{}");
	sqlite3_reset(st);
	if (*options == NULL) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	if ((st = sq_job_move(s, ST_JOB_RUNNING, job_id, JOB_QUEUED,
	    JOB_RUNNING)) == NULL ||
	    sqlite3_bind_int64(st, 1, job_id) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		free(*options);
		*options = NULL;
		return sq_fail(s, cause, "mark job running");
	}
	sqlite3_reset(st);
	return 0;
}

static int
sq_claim_next_due(struct store *base, int64_t now, int64_t *next_due_ms,
    char **cause)
{
	struct sq *s = SQ(base);
	sqlite3_stmt *st;
	int rc;

	*next_due_ms = 0;
	if ((st = sq_stmt(s, ST_NEXT_DUE)) == NULL ||
	    sqlite3_bind_int64(st, 1, now) != SQLITE_OK)
		return sq_fail(s, cause, "next due");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*next_due_ms = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(s, cause, "next due");
	return 0;
}

/* --- the operations table ------------------------------------------------ */


static struct store *
op_open(const char *db, const struct store_opts *o, char **cause)
{
	struct sq *s = sq_open(db, o, cause);

	return s != NULL ? &s->base : NULL;
}

static void
op_close(struct store *b)
{
	sq_close(SQ(b));
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = op_open,
	.close = op_close,
	.schema_version = sq_schema_version,
	.recover = sq_recover,
	.job_create = sq_job_create,
	.job_get = sq_job_get,
	.job_list = sq_job_list,
	.job_cancel_step = sq_job_cancel_step,
	.job_purge_step = sq_job_purge_step,
	.job_expired = sq_job_expired,
	.job_failed = sq_job_failed,
	.claim_begin = sq_claim_begin,
	.claim_jobs = sq_claim_jobs,
	.claim_tasks = sq_claim_tasks,
	.claim_options = sq_claim_options,
	.claim_next_due = sq_claim_next_due,
	.claim_end = sq_claim_end,
	.commit = sq_commit,
	.results_page = sq_results_page,
	.results_last = sq_results_last,
	.result_body = sq_result_body,
	.totals = sq_totals,
	.checkpoint = sq_checkpoint,
};
