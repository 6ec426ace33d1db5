/*
 * store/pg: the PostgreSQL backend, a database several nodes share. Owns
 * the PostgreSQL schema and its migrations (pg_schema.sql.h), every
 * statement, the connection (libpq) and its recovery, the leases of tasks
 * and hosts with their fencing tokens, the nodes table, and the NOTIFY
 * events with their listener.
 *
 * What keeps several nodes correct:
 * - A claim takes due tasks FOR UPDATE SKIP LOCKED, only of hosts no other
 *   live node leases, leases those hosts and tasks to this node, and gives
 *   each task a fresh token from a sequence.
 * - A commit finishes a task only while it is running under the token it
 *   was claimed with, and writes its result in the same statement: a node
 *   that wakes after its lease expired writes nothing.
 * - Statements that write results take one advisory lock first, so result
 *   ids are handed out in commit order (readers page by id) and two
 *   commits never both miss the end of a job.
 * - Every node's heartbeat returns the tasks and hosts whose lease expired.
 *
 * Timestamps: lease_until is the server's clock; next_attempt_at and
 * next_allowed_at are the nodes' unix milliseconds, as in SQLite.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log/log.h"
#include "store/backend.h"
#include "store/pg_schema.sql.h"
#include "util/util.h"

#define PG_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define PG_STR2(x)	#x
#define PG_STR(x)	PG_STR2(x)

/* Advisory lock keys: 'harv' and what the lock guards. */
#define PG_LOCK_CLASS	"1751216758"
#define PG_LOCK_MIGRATE	"1"
#define PG_LOCK_RESULTS	"2"

/* A timestamptz as the API shows it, the text SQLite stores. */
#define PG_TIME(col) \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* Unix milliseconds ($n, bigint) as a timestamptz, exactly. */
#define PG_FROM_MS(p) \
	"(timestamptz 'epoch' + " p "::float8 * interval '1 millisecond')"
/* A lease of $n milliseconds from now. */
#define PG_LEASE(p) \
	"(now() + " p "::float8 * interval '1 millisecond')"

/* The job columns of struct store_job, counts in enum task_state order. */
#define PG_JOB_COLUMNS \
	"SELECT j.id, j.state, j.total, j.options, " \
	PG_TIME("j.created_at") ", " PG_TIME("j.finished_at") "," \
	" c.queued, c.running, c.done, c.failed, c.cancelled" \
	" FROM jobs j CROSS JOIN LATERAL (SELECT" \
	"  count(*) FILTER (WHERE t.state = 'queued') AS queued," \
	"  count(*) FILTER (WHERE t.state = 'running') AS running," \
	"  count(*) FILTER (WHERE t.state = 'done') AS done," \
	"  count(*) FILTER (WHERE t.state = 'failed') AS failed," \
	"  count(*) FILTER (WHERE t.state = 'cancelled') AS cancelled" \
	"  FROM tasks t WHERE t.job_id = j.id) c"

/* A cancelled job's queued tasks, finished with a 'cancelled' result. */
#define PG_FINISH_CANCELS(where) \
	"WITH c AS (UPDATE tasks t SET state = 'cancelled' FROM jobs j" \
	"  WHERE j.id = t.job_id AND j.state = 'cancelled'" \
	"  AND t.state = 'queued'" where \
	"  RETURNING t.id, t.job_id, t.url, t.attempts)" \
	" INSERT INTO results (task_id, job_id, url, attempts, fetched_at," \
	"  error_kind, error_message)" \
	" SELECT id, job_id, redact_url(url), attempts, now(), 'cancelled'," \
	"  'job cancelled before this task started' FROM c ORDER BY id" \
	" ON CONFLICT (task_id) DO NOTHING"

/*
 * The end of both claims, given cand (the tasks, locked). prev: the
 * hosts of cand this node holds already; those with half a lease or more
 * to go (fresh) are taken as they are. got: the others, leased to this
 * node now — a host another node took in a race is not in it, and
 * neither are its tasks in the UPDATE, which moves the tasks to running
 * with a fresh token each. Hosts are leased in name order, so two claims
 * wait for each other in one order only. The last column is the host's
 * next allowed start when this claim acquired it, else 0.
 */
#define PG_CLAIM_LEASE \
	" prev AS (SELECT h.host, h.lease_until > now() +" \
	"  $6::float8 / 2 * interval '1 millisecond' AS fresh FROM hosts h" \
	"  WHERE h.host IN (SELECT host FROM cand) AND h.node = $4::text)," \
	" got AS (INSERT INTO hosts AS h (host, node, lease_token," \
	"  lease_until, next_allowed_at)" \
	"  SELECT d.host, $4::text, nextval('lease_tokens'), " \
	PG_LEASE("$6") ", 0" \
	"  FROM (SELECT DISTINCT host FROM cand WHERE host NOT IN" \
	"   (SELECT host FROM prev WHERE fresh)) d ORDER BY d.host" \
	"  ON CONFLICT (host) DO UPDATE SET node = excluded.node," \
	"   lease_until = excluded.lease_until," \
	"   lease_token = CASE WHEN h.node = excluded.node" \
	"    THEN h.lease_token ELSE excluded.lease_token END" \
	"  WHERE h.node IS NULL OR h.node = excluded.node" \
	"   OR h.lease_until IS NULL OR h.lease_until <= now()" \
	"  RETURNING h.host, h.next_allowed_at)" \
	" UPDATE tasks t SET state = 'running', node = $4::text," \
	"  lease_until = " PG_LEASE("$6") "," \
	"  lease_token = nextval('lease_tokens')" \
	" FROM cand c LEFT JOIN prev p ON p.host = c.host" \
	"  LEFT JOIN got g ON g.host = c.host" \
	" WHERE t.id = c.id" \
	"  AND (coalesce(p.fresh, false) OR g.host IS NOT NULL)" \
	" RETURNING t.id, t.job_id, t.url, t.host, t.attempts," \
	"  t.lease_token," \
	"  CASE WHEN p.host IS NOT NULL THEN 0 ELSE g.next_allowed_at END," \
	"  t.kind, t.depth, p.host IS NULL"

enum pg_stmt {
	PS_LOCK_RESULTS,
	PS_SCHEMA_VERSION,
	PS_JOB_INSERT,
	PS_SEEN_SEEDS,
	PS_NOTIFY_WORK,
	PS_JOB_GET,
	PS_JOB_LIST,
	PS_JOB_STATE,
	PS_CANCEL_TASKS,
	PS_JOB_CANCEL,
	PS_JOB_ACTIVE,
	PS_PURGE_RESULTS,
	PS_PURGE_TASKS,
	PS_JOB_DELETE,
	PS_JOB_EXPIRED,
	PS_JOB_OPTIONS,
	PS_JOB_FAILED,
	PS_ACTIVE_JOBS,
	PS_CLAIM,
	PS_CLAIM_MORE,
	PS_CLAIM_MINE,
	PS_CLAIM_HOSTS,
	PS_JOB_RUNNING,
	PS_NEXT_DUE,
	PS_FINISH,
	PS_ADD_LINKS,
	PS_REQUEUE,
	PS_RETRY,
	PS_JOB_DONE,
	PS_TOTALS,
	PS_RECOVER_TASKS,
	PS_RECOVER_HOSTS,
	PS_FINISH_CANCELS,
	PS_FINISH_CANCELS_JOBS,
	PS_NODE_UP,
	PS_RENEW_TASKS,
	PS_RENEW_HOSTS,
	PS_REAP,
	PS_FREE_HOSTS,
	PS_DROP_HOSTS,
	PS_RELEASE_HOSTS,
	PS_NODES,
	PS_MAX
};

static const char *const pg_sql[PS_MAX] = {
	[PS_LOCK_RESULTS] =
	    "SELECT pg_advisory_xact_lock(" PG_LOCK_CLASS ", "
	    PG_LOCK_RESULTS ")",
	[PS_SCHEMA_VERSION] = "SELECT version FROM harvestd_schema",
	[PS_JOB_INSERT] =
	    "INSERT INTO jobs (options, total, priority)"
	    " VALUES ($1::json, $2::bigint, $3::bigint) RETURNING id",
	/* A crawl finds its seeds again: they are seen already. */
	[PS_SEEN_SEEDS] =
	    "INSERT INTO crawl_seen (job_id, key)"
	    " SELECT $1::bigint, unnest($2::text[]) ON CONFLICT DO NOTHING",
	[PS_NOTIFY_WORK] = "SELECT pg_notify('harvest_work', '')",
	[PS_JOB_GET] = PG_JOB_COLUMNS " WHERE j.id = $1::bigint",
	[PS_JOB_LIST] =
	    PG_JOB_COLUMNS " WHERE j.id > $1::bigint ORDER BY j.id"
	    " LIMIT $2::bigint",
	[PS_JOB_STATE] = "SELECT state FROM jobs WHERE id = $1::bigint",
	/*
	 * The tasks first, under their row locks (waiting for a claim that
	 * holds one), then a result for each task that really moved: a task
	 * a claim took meanwhile is running, not cancelled.
	 */
	[PS_CANCEL_TASKS] =
	    "WITH c AS (UPDATE tasks SET state = 'cancelled'"
	    "  WHERE id IN (SELECT id FROM tasks WHERE job_id = $1::bigint"
	    "   AND state = 'queued' ORDER BY id LIMIT $2::bigint FOR UPDATE)"
	    "  AND state = 'queued'"
	    "  RETURNING id, job_id, url, attempts)"
	    " INSERT INTO results (task_id, job_id, url, attempts, fetched_at,"
	    "  error_kind, error_message)"
	    " SELECT id, job_id, redact_url(url), attempts, now(), 'cancelled',"
	    "  'job cancelled before this task started' FROM c ORDER BY id",
	[PS_JOB_CANCEL] =
	    "WITH c AS (UPDATE jobs SET state = 'cancelled', finished_at = now()"
	    "  WHERE id = $1::bigint AND state IN ('queued', 'running')"
	    "  RETURNING id)"
	    " SELECT id, pg_notify('harvest_cancel', id::text) FROM c",
	[PS_JOB_ACTIVE] =
	    "SELECT state IN ('queued', 'running') OR EXISTS (SELECT 1 FROM"
	    " tasks WHERE job_id = $1::bigint AND state IN ('queued', 'running'))"
	    " FROM jobs WHERE id = $1::bigint",
	[PS_PURGE_RESULTS] =
	    "DELETE FROM results WHERE id IN (SELECT id FROM results"
	    " WHERE job_id = $1::bigint LIMIT $2::bigint)",
	[PS_PURGE_TASKS] =
	    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks"
	    " WHERE job_id = $1::bigint LIMIT $2::bigint)",
	[PS_JOB_DELETE] = "DELETE FROM jobs WHERE id = $1::bigint",
	[PS_JOB_EXPIRED] =
	    "SELECT id FROM jobs WHERE state IN ('done', 'cancelled')"
	    " AND finished_at < now() - $1::float8 * interval '1 day'"
	    " ORDER BY id LIMIT 1",
	[PS_JOB_OPTIONS] = "SELECT options FROM jobs WHERE id = $1::bigint",
	[PS_JOB_FAILED] =
	    "SELECT url, host FROM tasks WHERE job_id = $1::bigint"
	    " AND state = 'failed' ORDER BY id",
	[PS_ACTIVE_JOBS] =
	    "SELECT id, priority FROM jobs WHERE state IN ('queued', 'running')"
	    " ORDER BY priority DESC, id",
	/*
	 * $1 job, $2 now (unix ms), $3 skipped hosts, $4 this node, $5 how
	 * many, $6 lease (ms), $7 how many due tasks to look at at most, $8
	 * how many hosts this node does not hold it may take. f: the front
	 * of the job's due tasks in claim order, read lazily; c: of those,
	 * the ones of hosts no other live node holds; nh: the first $8
	 * hosts of c this node does not hold; cand: the tasks of c of hosts
	 * it holds or of nh, locked without waiting.
	 */
	[PS_CLAIM] =
	    "WITH c AS (SELECT t.id, t.host, f.next_attempt_at AS due,"
	    "  EXISTS (SELECT 1 FROM hosts h WHERE h.host = t.host"
	    "   AND h.node = $4::text) AS mine"
	    "  FROM (SELECT id, next_attempt_at"
	    "  FROM tasks WHERE job_id = $1::bigint AND state = 'queued'"
	    "  AND next_attempt_at <= $2::bigint"
	    "  ORDER BY next_attempt_at, id LIMIT $7::bigint) f"
	    "  JOIN tasks t ON t.id = f.id"
	    "  WHERE t.state = 'queued' AND t.host <> ALL ($3::text[])"
	    "  AND NOT EXISTS (SELECT 1 FROM hosts h WHERE h.host = t.host"
	    "   AND h.node <> $4::text AND h.lease_until > now())),"
	    " nh AS (SELECT host FROM c WHERE NOT mine GROUP BY host"
	    "  ORDER BY min(due), min(id) LIMIT $8::bigint),"
	    " cand AS (SELECT t.id, t.host FROM tasks t JOIN c ON c.id = t.id"
	    "  WHERE t.state = 'queued'"
	    "  AND (c.mine OR c.host IN (SELECT host FROM nh))"
	    "  ORDER BY c.due, c.id LIMIT $5::bigint"
	    "  FOR UPDATE OF t SKIP LOCKED),"
	    PG_CLAIM_LEASE,
	/*
	 * The due tasks of the hosts this node holds, wherever they are in
	 * the job's queue (host by host: the index on job and host).
	 */
	[PS_CLAIM_MINE] =
	    "WITH cand AS (SELECT t.id, t.host FROM tasks t WHERE t.id IN"
	    "  (SELECT p.id FROM hosts h CROSS JOIN LATERAL"
	    "   (SELECT id, next_attempt_at FROM tasks"
	    "    WHERE job_id = $1::bigint AND state = 'queued'"
	    "    AND host = h.host AND next_attempt_at <= $2::bigint"
	    "    ORDER BY next_attempt_at, id LIMIT $5::bigint) p"
	    "   WHERE h.node = $4::text AND h.host <> ALL ($3::text[])"
	    "   ORDER BY p.next_attempt_at, p.id LIMIT $5::bigint)"
	    "  AND t.state = 'queued' ORDER BY t.id"
	    "  FOR UPDATE OF t SKIP LOCKED),"
	    PG_CLAIM_LEASE,
	/* Whether more than $3 due tasks are queued: the front was full. */
	[PS_CLAIM_MORE] =
	    "SELECT count(*) FROM (SELECT 1 FROM tasks"
	    " WHERE job_id = $1::bigint AND state = 'queued'"
	    " AND next_attempt_at <= $2::bigint LIMIT $3::bigint) q",
	/*
	 * When the front of the queue is all of hosts others hold: the job's
	 * hosts one by one (a loose index scan, read only as far as needed),
	 * each of the first $7 that no node holds (this one's come from
	 * PS_CLAIM_MINE) giving its earliest due tasks.
	 */
	[PS_CLAIM_HOSTS] =
	    "WITH RECURSIVE hs(host) AS ("
	    "  (SELECT t.host FROM tasks t WHERE t.job_id = $1::bigint"
	    "   AND t.state = 'queued' ORDER BY t.host LIMIT 1)"
	    "  UNION ALL"
	    "  SELECT (SELECT t.host FROM tasks t WHERE t.job_id = $1::bigint"
	    "   AND t.state = 'queued' AND t.host > hs.host"
	    "   ORDER BY t.host LIMIT 1)"
	    "  FROM hs WHERE hs.host IS NOT NULL),"
	    " pick AS (SELECT p.id FROM (SELECT hs.host FROM hs"
	    "  WHERE hs.host IS NOT NULL AND hs.host <> ALL ($3::text[])"
	    "  AND NOT EXISTS (SELECT 1 FROM hosts h WHERE h.host = hs.host"
	    "   AND (h.node = $4::text OR h.lease_until > now()))"
	    "  LIMIT $7::bigint) hh CROSS JOIN LATERAL"
	    "  (SELECT t.id FROM tasks t WHERE t.job_id = $1::bigint"
	    "   AND t.state = 'queued' AND t.host = hh.host"
	    "   AND t.next_attempt_at <= $2::bigint"
	    "   ORDER BY t.next_attempt_at, t.id LIMIT $5::bigint) p"
	    "  LIMIT $5::bigint),"
	    " cand AS (SELECT t.id, t.host FROM tasks t"
	    "  WHERE t.id IN (SELECT id FROM pick) AND t.state = 'queued'"
	    "  ORDER BY t.id FOR UPDATE OF t SKIP LOCKED),"
	    PG_CLAIM_LEASE,
	[PS_JOB_RUNNING] =
	    "UPDATE jobs SET state = 'running'"
	    " WHERE id = $1::bigint AND state = 'queued'",
	[PS_NEXT_DUE] =
	    "SELECT min(next_attempt_at) FROM tasks"
	    " WHERE state = 'queued' AND next_attempt_at > $1::bigint",
	/*
	 * The fenced group commit: a task staged with its result is
	 * finished only while running under the token it was claimed
	 * with, and only the tasks that UPDATE touched get their result,
	 * in batch order. One row per staged result says whether it was
	 * written.
	 */
	[PS_FINISH] =
	    "WITH fin AS (UPDATE tasks t SET state = s.state,"
	    "  attempts = s.attempts, lease_until = NULL"
	    "  FROM harvest_staging s"
	    "  WHERE t.id = s.task_id AND t.state = 'running'"
	    "  AND t.lease_token = s.lease"
	    "  RETURNING t.id),"
	    " ins AS (INSERT INTO results (task_id, job_id, url, final_url,"
	    "  status, content_type, headers, body, body_size, truncated,"
	    "  content_length, redirect_count, time_dns_ms, time_connect_ms,"
	    "  time_tls_ms, time_ttfb_ms, time_total_ms, attempts, fetched_at,"
	    "  error_kind, error_message, fields)"
	    "  SELECT s.task_id, s.job_id, s.url, s.final_url, s.status,"
	    "   s.content_type, s.headers, s.body, s.body_size, s.truncated,"
	    "   s.content_length, s.redirect_count, s.time_dns_ms,"
	    "   s.time_connect_ms, s.time_tls_ms, s.time_ttfb_ms,"
	    "   s.time_total_ms, s.attempts,"
	    "   " PG_FROM_MS("s.fetched_at_ms") ","
	    "   s.error_kind, s.error_message, s.fields::json"
	    "  FROM harvest_staging s JOIN fin ON fin.id = s.task_id"
	    "  ORDER BY s.seq"
	    "  ON CONFLICT (task_id) DO NOTHING RETURNING task_id)"
	    " SELECT s.task_id, ins.task_id IS NOT NULL FROM harvest_staging s"
	    "  LEFT JOIN ins ON ins.task_id = s.task_id ORDER BY s.seq",
	/*
	 * The links of the results written: new tasks of their jobs, each
	 * URL (by key) once per job, in found order while the job has fewer
	 * than its max tasks ($8) and is not over. Returns how many.
	 */
	[PS_ADD_LINKS] =
	    "WITH l AS (SELECT DISTINCT ON (job_id, key) * FROM"
	    "  unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[],"
	    "   $5::text[], $6::text[], $7::bigint[], $8::bigint[])"
	    "  WITH ORDINALITY AS u(job_id, parent_id, url, host, key, kind,"
	    "   depth, max, seq)"
	    "  ORDER BY job_id, key, seq),"
	    " seen AS (INSERT INTO crawl_seen (job_id, key)"
	    "  SELECT job_id, key FROM l ON CONFLICT DO NOTHING"
	    "  RETURNING job_id, key),"
	    " n AS (SELECT l.*, row_number() OVER (PARTITION BY l.job_id"
	    "  ORDER BY l.seq) AS rn FROM l JOIN seen USING (job_id, key)),"
	    " ins AS (INSERT INTO tasks (job_id, url, host, priority, kind,"
	    "  depth, parent_id)"
	    "  SELECT n.job_id, n.url, n.host, j.priority, n.kind, n.depth,"
	    "   n.parent_id FROM n JOIN jobs j ON j.id = n.job_id"
	    "  WHERE j.state IN ('queued', 'running') AND j.total + n.rn <= n.max"
	    "  ORDER BY n.seq RETURNING job_id),"
	    " g AS (UPDATE jobs j SET total = j.total + c.k FROM"
	    "  (SELECT job_id, count(*) AS k FROM ins GROUP BY job_id) c"
	    "  WHERE j.id = c.job_id RETURNING c.k)"
	    " SELECT coalesce(sum(k), 0) FROM g",
	[PS_REQUEUE] =
	    "UPDATE tasks t SET state = 'queued', node = NULL,"
	    "  lease_until = NULL, lease_token = NULL"
	    " FROM unnest($1::bigint[], $2::bigint[]) AS q(id, lease)"
	    " WHERE t.id = q.id AND t.state = 'running'"
	    " AND t.lease_token = q.lease",
	[PS_RETRY] =
	    "UPDATE tasks t SET state = 'queued', attempts = q.attempts,"
	    "  next_attempt_at = q.due, node = NULL, lease_until = NULL,"
	    "  lease_token = NULL"
	    " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[],"
	    "  $4::bigint[]) AS q(id, lease, attempts, due)"
	    " WHERE t.id = q.id AND t.state = 'running'"
	    " AND t.lease_token = q.lease",
	[PS_JOB_DONE] =
	    "WITH d AS (UPDATE jobs SET state = 'done', finished_at = now()"
	    "  WHERE id = ANY ($1::bigint[]) AND state IN ('queued', 'running')"
	    "  AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = jobs.id"
	    "   AND state IN ('queued', 'running'))"
	    "  RETURNING id)"
	    " SELECT id, pg_notify('harvest_done', id::text) FROM d ORDER BY id",
	[PS_TOTALS] =
	    "SELECT (SELECT count(*) FROM tasks WHERE state = 'queued'),"
	    " (SELECT count(*) FROM tasks WHERE state = 'running'),"
	    " (SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')),"
	    " pg_database_size(current_database())",
	/* At start-up: what this node held, and every expired lease. */
	[PS_RECOVER_TASKS] =
	    "UPDATE tasks SET state = 'queued', node = NULL,"
	    "  lease_until = NULL, lease_token = NULL"
	    " WHERE state = 'running' AND (node = $1::text OR node IS NULL"
	    "  OR lease_until IS NULL OR lease_until < now())",
	[PS_RECOVER_HOSTS] =
	    "UPDATE hosts SET node = NULL, lease_until = NULL,"
	    "  lease_token = NULL"
	    " WHERE node = $1::text OR lease_until < now()",
	[PS_FINISH_CANCELS] = PG_FINISH_CANCELS(""),
	[PS_FINISH_CANCELS_JOBS] =
	    PG_FINISH_CANCELS(" AND t.job_id = ANY ($1::bigint[])"),
	[PS_NODE_UP] =
	    "INSERT INTO nodes (name, version, started_at, heartbeat_at,"
	    "  in_flight)"
	    " VALUES ($1::text, $2::text, now(), now(), $3::bigint)"
	    " ON CONFLICT (name) DO UPDATE SET version = excluded.version,"
	    "  started_at = CASE WHEN $4::boolean THEN excluded.started_at"
	    "   ELSE nodes.started_at END,"
	    "  heartbeat_at = excluded.heartbeat_at,"
	    "  in_flight = excluded.in_flight",
	/*
	 * The heartbeat's statements skip rows another transaction holds
	 * instead of waiting: a heartbeat never waits for a claim or a
	 * commit, so it cannot deadlock with one, and what it skipped it
	 * does a third of a lease later.
	 */
	[PS_RENEW_TASKS] =
	    "UPDATE tasks SET lease_until = " PG_LEASE("$2")
	    " WHERE id IN (SELECT id FROM tasks WHERE node = $1::text"
	    "  AND state = 'running' FOR UPDATE SKIP LOCKED)"
	    " AND node = $1::text AND state = 'running'",
	/* Only hosts this node still has running tasks of: a host it
	 * forgot to release lapses instead of being held for ever. */
	[PS_RENEW_HOSTS] =
	    "UPDATE hosts SET lease_until = " PG_LEASE("$2")
	    " WHERE host IN (SELECT h.host FROM hosts h"
	    "  WHERE h.node = $1::text AND EXISTS (SELECT 1 FROM tasks t"
	    "   WHERE t.node = $1::text AND t.state = 'running'"
	    "   AND t.host = h.host)"
	    "  FOR UPDATE OF h SKIP LOCKED)"
	    " AND node = $1::text",
	[PS_REAP] =
	    "WITH r AS (UPDATE tasks SET state = 'queued', node = NULL,"
	    "  lease_until = NULL, lease_token = NULL"
	    "  WHERE id IN (SELECT id FROM tasks WHERE state = 'running'"
	    "   AND lease_until < now() FOR UPDATE SKIP LOCKED)"
	    "  AND state = 'running' AND lease_until < now()"
	    "  RETURNING id, job_id)"
	    " SELECT (SELECT count(*) FROM r),"
	    "  (SELECT array_agg(DISTINCT r.job_id) FROM r"
	    "   JOIN jobs j ON j.id = r.job_id WHERE j.state = 'cancelled')",
	[PS_FREE_HOSTS] =
	    "UPDATE hosts SET node = NULL, lease_until = NULL,"
	    "  lease_token = NULL"
	    " WHERE host IN (SELECT host FROM hosts WHERE node IS NOT NULL"
	    "  AND lease_until < now() FOR UPDATE SKIP LOCKED)"
	    " AND lease_until < now()",
	/* A free host whose delay has passed has nothing to hand on. */
	[PS_DROP_HOSTS] =
	    "DELETE FROM hosts"
	    " WHERE host IN (SELECT host FROM hosts WHERE node IS NULL"
	    "  AND next_allowed_at <= $1::bigint FOR UPDATE SKIP LOCKED)"
	    " AND node IS NULL",
	/* Locked in name order, as claims do; never while tasks of the
	 * host still run here. */
	[PS_RELEASE_HOSTS] =
	    "UPDATE hosts h SET node = NULL, lease_until = NULL,"
	    "  lease_token = NULL,"
	    "  next_allowed_at = greatest(h.next_allowed_at, r.next)"
	    " FROM unnest($2::text[], $3::bigint[]) AS r(host, next)"
	    " WHERE h.host = r.host AND h.node = $1::text"
	    " AND h.host IN (SELECT host FROM hosts WHERE host = ANY ($2::text[])"
	    "  AND node = $1::text ORDER BY host FOR UPDATE)"
	    " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.node = $1::text"
	    "  AND t.state = 'running' AND t.host = h.host)",
	[PS_NODES] =
	    "SELECT name, version, " PG_TIME("started_at") ", "
	    PG_TIME("heartbeat_at") ", in_flight,"
	    " heartbeat_at > now() - $1::float8 * interval '1 millisecond'"
	    "  AS alive"
	    " FROM nodes ORDER BY alive DESC, name",
};

/* The staging table of a group commit: one per session, emptied by every
 * commit. Column types match what pg_commit_copy sends. */
static const char pg_staging_sql[] =
    "CREATE TEMP TABLE harvest_staging ("
    "  seq bigint, task_id bigint, job_id bigint, lease bigint,"
    "  state text, attempts bigint, url text, final_url text,"
    "  status bigint, content_type text, headers text, body bytea,"
    "  body_size bigint, truncated bigint, content_length bigint,"
    "  redirect_count bigint, time_dns_ms float8, time_connect_ms float8,"
    "  time_tls_ms float8, time_ttfb_ms float8, time_total_ms float8,"
    "  fetched_at_ms bigint, error_kind text, error_message text,"
    "  fields text"
    ") ON COMMIT DELETE ROWS";
#define PG_STAGING_COLUMNS	25

/* A claimed task and its token. */
struct pg_lease {
	int64_t	id;
	int64_t	token;
};

struct pg_leases {
	struct pg_lease	*v;
	size_t		 n;
	size_t		 cap;
};

struct pg {
	struct store	 base;		/* first: the backend's handle */
	PGconn		*conn;
	char		*name;		/* the database, without password */
	char		 node[256];
	int64_t		 lease_ms;
	int		 prepared[PS_MAX];
	int		 staging;	/* harvest_staging exists */
	int		 started;	/* nodes.started_at is this process's */
	struct pg_leases claimed;	/* by the claim in progress */
	/* Claims whose COMMIT was cut off: maybe claimed, given back at
	 * the next chance, fenced by their tokens. */
	struct pg_leases unsure;
	/* Cancelled jobs whose reaped tasks still need their result. */
	struct util_ids	 cancels;
};

struct pg_listener {
	struct store_listener	 base;	/* first */
	PGconn			*conn;
	char			*name;
	int			 fatal;	/* the server is closing it */
	int			 missed; /* reconnected: events were lost */
};

/* A backend handle (the first member) as the backend's own. */
#define PG(b)	((struct pg *)(void *)(b))
#define PGL(b)	((struct pg_listener *)(void *)(b))

/* A growable byte buffer: COPY data and array literals. */
struct pg_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 oom;
};

static void
buf_add(struct pg_buf *b, const void *p, size_t n)
{
	size_t ncap;
	char *np;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap == 0 ? 256 : b->cap;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct pg_buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_i64(struct pg_buf *b, int64_t v)
{
	char t[24];

	snprintf(t, sizeof(t), "%lld", (long long)v);
	buf_str(b, t);
}

static void
buf_free(struct pg_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Big-endian integers, as binary COPY wants them. */
static void
buf_be(struct pg_buf *b, uint64_t v, size_t n)
{
	unsigned char t[8];
	size_t i;

	for (i = 0; i < n; i++)
		t[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	buf_add(b, t, n);
}

/*
 * An element of a text array literal, quoted with \ and " escaped;
 * the caller writes the braces and the commas.
 */
static void
buf_text_elem(struct pg_buf *b, const char *t)
{
	const char *p;

	buf_str(b, "\"");
	for (p = t != NULL ? t : ""; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_add(b, "\\", 1);
		buf_add(b, p, 1);
	}
	buf_str(b, "\"");
}

static const char *
pg_i64(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%lld", (long long)v);
	return buf;
}

static int64_t
pg_get_i64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *
pg_get_strdup(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return strdup(PQgetvalue(res, row, col));
}

/* Binary results (results_page): int8 and float8, big-endian. */
static uint64_t
pg_bin_u64(const PGresult *res, int row, int col, int *null)
{
	const unsigned char *p;
	uint64_t v = 0;
	int i;

	*null = PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8;
	if (*null)
		return 0;
	p = (const unsigned char *)PQgetvalue(res, row, col);
	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int64_t
pg_bin_i64(const PGresult *res, int row, int col, int64_t ifnull)
{
	int null;
	uint64_t v = pg_bin_u64(res, row, col, &null);

	return null ? ifnull : (int64_t)v;
}

static double
pg_bin_f64(const PGresult *res, int row, int col)
{
	int null;
	uint64_t v = pg_bin_u64(res, row, col, &null);
	double d;

	if (null)
		return 0.0;
	memcpy(&d, &v, sizeof(d));
	return d;
}

static const char *
pg_bin_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* libpq's message on one line, without its trailing newline. */
static char *
pg_flatten(const char *m)
{
	char *t, *p;
	size_t n;

	if ((t = strdup(m != NULL && *m != '\0' ? m : "unknown error")) ==
	    NULL)
		return NULL;
	for (p = t; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	n = strlen(t);
	while (n > 0 && t[n - 1] == ' ')
		t[--n] = '\0';
	return t;
}

/*
 * Sets *cause (when cause is not NULL) from res or the connection, saying
 * plainly when the connection itself is gone. Returns -1.
 */
static int
pg_fail(struct pg *s, char **cause, const char *what, const PGresult *res)
{
	const char *m = NULL;
	char *text;

	if (cause == NULL)
		return -1;
	if (res != NULL)
		m = PQresultErrorMessage(res);
	if (m == NULL || *m == '\0')
		m = PQerrorMessage(s->conn);
	text = pg_flatten(m);
	if (PQstatus(s->conn) == CONNECTION_BAD)
		*cause = util_asprintf("%s: lost the connection to PostgreSQL "
		    "(%s): %s", what, s->name, text != NULL ? text : "");
	else
		*cause = util_asprintf("%s: %s", what,
		    text != NULL ? text : "");
	free(text);
	return -1;
}

static int
pg_nomem(char **cause)
{
	if (cause != NULL)
		*cause = util_asprintf("out of memory");
	return -1;
}

/*
 * The door to every statement that moves tasks or a job between states:
 * the state machine (job/) is asked first, so an impossible move never
 * reaches the database. id is the task or job (0: several).
 */
static int
pg_task_move(int64_t id, enum task_state from, enum task_state to,
    char **cause)
{
	if (task_state_change(id, from, to) == 0)
		return 0;
	if (cause != NULL)
		*cause = util_asprintf("task %lld: %s -> %s refused",
		    (long long)id, task_state_name(from), task_state_name(to));
	return -1;
}

static int
pg_job_move(int64_t id, enum job_state from, enum job_state to,
    char **cause)
{
	if (job_state_change(id, from, to) == 0)
		return 0;
	if (cause != NULL)
		*cause = util_asprintf("job %lld: %s -> %s refused",
		    (long long)id, job_state_name(from), job_state_name(to));
	return -1;
}

/*
 * How a connection string is shown: its host, port, database and user,
 * never its password. NULL when it cannot be parsed (libpq's message
 * is not shown either: it may quote the password).
 */
char *
store_pg_display(const char *db)
{
	static const char *const keys[] = { "host", "hostaddr", "port",
	    "dbname", "user" };
	PQconninfoOption *opts, *o;
	struct pg_buf b = { 0 };
	char *err = NULL;
	size_t i;

	if ((opts = PQconninfoParse(db, &err)) == NULL) {
		PQfreemem(err);
		return NULL;
	}
	for (i = 0; i < PG_NITEMS(keys); i++) {
		for (o = opts; o->keyword != NULL; o++) {
			if (strcmp(o->keyword, keys[i]) != 0 ||
			    o->val == NULL || *o->val == '\0')
				continue;
			if (b.len > 0)
				buf_str(&b, " ");
			buf_str(&b, o->keyword);
			buf_str(&b, "=");
			buf_str(&b, o->val);
		}
	}
	PQconninfoFree(opts);
	if (b.oom) {
		buf_free(&b);
		return NULL;
	}
	if (b.p == NULL)
		return strdup("(libpq defaults)");
	return b.p;
}

/*
 * The server's notices go to the log, not to stderr. A FATAL one means
 * the server is about to close the connection (it was terminated, or is
 * shutting down): *fatal is set when fatal is not NULL, for a listener
 * that would otherwise learn it only at the next read.
 */
static void
pg_notice_cb(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res,
	    PG_DIAG_SEVERITY_NONLOCALIZED);
	int *fatal = arg;
	char *text;

	if ((text = pg_flatten(PQresultErrorMessage(res))) == NULL)
		return;
	if (sev != NULL && (strcmp(sev, "FATAL") == 0 ||
	    strcmp(sev, "PANIC") == 0)) {
		if (fatal != NULL)
			*fatal = 1;
		log_warnx("store: PostgreSQL: %s", text);
	} else if (sev != NULL && strcmp(sev, "WARNING") == 0)
		log_warnx("store: PostgreSQL: %s", text);
	else
		log_debug("store: PostgreSQL: %s", text);
	free(text);
}

/*
 * Connects to the database db names. Defaults come before the URI so
 * that it may override each: a bounded connect, keepalives that notice
 * a dead server on an idle connection (the listener's), UTF-8. fatal is
 * the flag pg_notice_cb sets.
 */
static PGconn *
pg_connect(const char *db, int *fatal, char **name, char **cause)
{
	static const char *const keys[] = { "fallback_application_name",
	    "connect_timeout", "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "client_encoding", "dbname", NULL };
	const char *vals[] = { "harvestd", "10", "30", "10", "3", "UTF8",
	    db, NULL };
	PGconn *conn;
	char *text;

	*name = NULL;
	if ((*name = store_pg_display(db)) == NULL) {
		*cause = util_asprintf("the database is not a valid PostgreSQL "
		    "connection URI (not shown: it may hold a password)");
		return NULL;
	}
	if ((conn = PQconnectdbParams(keys, vals, 1)) == NULL) {
		*cause = util_asprintf("PostgreSQL %s: out of memory", *name);
		goto fail;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		text = pg_flatten(PQerrorMessage(conn));
		*cause = util_asprintf("cannot connect to PostgreSQL (%s): %s",
		    *name, text != NULL ? text : "");
		free(text);
		goto fail;
	}
	PQsetNoticeReceiver(conn, pg_notice_cb, fatal);
	if (PQserverVersion(conn) < 120000) {
		*cause = util_asprintf("PostgreSQL %s is version %d; harvestd "
		    "needs 12 or later", *name, PQserverVersion(conn));
		goto fail;
	}
	return conn;
fail:
	PQfinish(conn);
	free(*name);
	*name = NULL;
	return NULL;
}

/* Runs a statement without parameters (PQexec): BEGIN, COMMIT, DDL. */
static int
pg_simple(struct pg *s, const char *sql, char **cause, const char *what)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_fail(s, cause, what, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/*
 * Runs a statement of the table, preparing it once per session, with
 * text parameters. Returns its result (the caller clears it) or NULL
 * with *cause.
 */
static PGresult *
pg_run(struct pg *s, enum pg_stmt id, int nparams,
    const char *const *params, char **cause, const char *what)
{
	PGresult *res;
	ExecStatusType st;
	char name[16];

	snprintf(name, sizeof(name), "h%d", (int)id);
	if (!s->prepared[id]) {
		res = PQprepare(s->conn, name, pg_sql[id], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_fail(s, cause, what, res);
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		s->prepared[id] = 1;
	}
	res = PQexecPrepared(s->conn, name, nparams, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_fail(s, cause, what, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* pg_run for statements whose rows do not matter; *n gets the count. */
static int
pg_run_n(struct pg *s, enum pg_stmt id, int nparams,
    const char *const *params, int64_t *n, char **cause, const char *what)
{
	PGresult *res;

	if ((res = pg_run(s, id, nparams, params, cause, what)) == NULL)
		return -1;
	if (n != NULL)
		*n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

static int
pg_begin(struct pg *s, char **cause)
{
	return pg_simple(s, "BEGIN", cause, "begin");
}

/* COMMIT, and a failed transaction's COMMIT (which rolls back) fails. */
static int
pg_commit_txn(struct pg *s, char **cause)
{
	PGresult *res = PQexec(s->conn, "COMMIT");

	if (PQresultStatus(res) != PGRES_COMMAND_OK ||
	    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		pg_fail(s, cause, "commit", res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Rolls back when a transaction is open; keeps the first error. */
static void
pg_rollback(struct pg *s)
{
	PGTransactionStatusType ts = PQtransactionStatus(s->conn);
	PGresult *res;

	if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR)
		return;
	res = PQexec(s->conn, "ROLLBACK");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warnx("store: rollback: %s", PQerrorMessage(s->conn));
	PQclear(res);
}

/* Appends a task's lease to a list; -1 on ENOMEM. */
static int
pg_leases_add(struct pg_leases *l, int64_t id, int64_t token)
{
	struct pg_lease *nv;
	size_t ncap;

	if (l->n == l->cap) {
		ncap = l->cap == 0 ? 64 : l->cap * 2;
		if ((nv = realloc(l->v, ncap * sizeof(*nv))) == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].id = id;
	l->v[l->n].token = token;
	l->n++;
	return 0;
}

/* Array literals of ids and tokens for PS_REQUEUE. */
static int
pg_leases_arrays(const struct pg_leases *l, struct pg_buf *ids,
    struct pg_buf *tokens)
{
	size_t i;

	buf_str(ids, "{");
	buf_str(tokens, "{");
	for (i = 0; i < l->n; i++) {
		if (i > 0) {
			buf_str(ids, ",");
			buf_str(tokens, ",");
		}
		buf_i64(ids, l->v[i].id);
		buf_i64(tokens, l->v[i].token);
	}
	buf_str(ids, "}");
	buf_str(tokens, "}");
	return ids->oom || tokens->oom ? -1 : 0;
}

/*
 * What every session of ours sets. A node that vanishes inside a
 * transaction (power loss, partition: no FIN reaches the server) would
 * hold its row locks, and maybe the results lock every commit waits
 * for, until the server's TCP keepalive gives up, hours by default. Our
 * transactions never wait for anything but the database, so one idle
 * for a lease (10 s at least: a paused process is not a dead one) is
 * dead; the server's keepalives find a dead peer inside a COPY or a
 * LISTEN in about a minute. idle_ms 0: no limit.
 */
static int
pg_session(PGconn *conn, int64_t idle_ms, const char *name, char **cause)
{
	PGresult *res;
	char sql[256], *text;

	snprintf(sql, sizeof(sql), "SET idle_in_transaction_session_timeout"
	    " = %lld; SET tcp_keepalives_idle = 30;"
	    " SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3",
	    (long long)(idle_ms > 0 && idle_ms < 10000 ? 10000 : idle_ms));
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		text = pg_flatten(PQerrorMessage(conn));
		if (cause != NULL)
			*cause = util_asprintf("session settings (%s): %s",
			    name, text != NULL ? text : "");
		free(text);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/*
 * Gives back the tasks of claims whose COMMIT was cut off, in case it
 * went through: fenced by token, so a task that is someone else's now,
 * or never was claimed, is left alone.
 */
static void
pg_give_back_unsure(struct pg *s)
{
	struct pg_buf ids = { 0 }, tokens = { 0 };
	const char *params[2];
	char *cause = NULL;
	int64_t n = 0;

	if (pg_task_move(0, TASK_RUNNING, TASK_QUEUED, NULL) != 0)
		return;
	if (pg_leases_arrays(&s->unsure, &ids, &tokens) != 0) {
		buf_free(&ids);
		buf_free(&tokens);
		return;
	}
	params[0] = ids.p;
	params[1] = tokens.p;
	if (pg_run_n(s, PS_REQUEUE, 2, params, &n, &cause,
	    "give back unsure claims") != 0) {
		log_warnx("store: %s", cause);
		free(cause);
	} else {
		log_info("store: %lld tasks of an interrupted claim given back",
		    (long long)n);
		s->unsure.n = 0;
	}
	buf_free(&ids);
	buf_free(&tokens);
}

/*
 * Before every operation: a connection that was lost is reset once (the
 * caller retries later when the server is still away), with what the
 * session had — prepared statements, the staging table — made again.
 */
static int
pg_ready(struct pg *s, char **cause)
{
	char *text;

	if (PQstatus(s->conn) != CONNECTION_OK) {
		PQreset(s->conn);
		if (PQstatus(s->conn) != CONNECTION_OK) {
			text = pg_flatten(PQerrorMessage(s->conn));
			if (cause != NULL)
				*cause = util_asprintf("cannot reconnect to "
				    "PostgreSQL (%s): %s", s->name,
				    text != NULL ? text : "");
			free(text);
			return -1;
		}
		log_info("store: reconnected to PostgreSQL (%s)", s->name);
		memset(s->prepared, 0, sizeof(s->prepared));
		s->staging = 0;
		if (pg_session(s->conn, s->lease_ms, s->name, cause) != 0)
			return -1;
	}
	pg_rollback(s);
	if (s->unsure.n > 0)
		pg_give_back_unsure(s);
	return 0;
}

static int
pg_schema_version(struct store *base)
{
	struct pg *s = PG(base);
	PGresult *res;
	int v = -1;

	if (pg_ready(s, NULL) != 0)
		return -1;
	if ((res = pg_run(s, PS_SCHEMA_VERSION, 0, NULL, NULL,
	    "schema version")) == NULL)
		return -1;
	if (PQntuples(res) == 1)
		v = (int)pg_get_i64(res, 0, 0);
	PQclear(res);
	return v;
}

/*
 * Brings the schema to STORE_PG_SCHEMA_VERSION in one transaction, under
 * an advisory lock: two nodes starting together migrate once.
 */
static int
pg_migrate(struct pg *s, char **cause)
{
	int version = 0, n = (int)PG_NITEMS(pg_migrations);
	PGresult *res;
	char sql[96];

	if (pg_begin(s, cause) != 0)
		return -1;
	if (pg_simple(s, "SELECT pg_advisory_xact_lock(" PG_LOCK_CLASS ", "
	    PG_LOCK_MIGRATE ")", cause, "lock for migrations") != 0)
		goto fail;
	res = PQexec(s->conn, "SELECT to_regclass('harvestd_schema') IS NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pg_fail(s, cause, "read the schema version", res);
		PQclear(res);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "f") == 0) {
		PQclear(res);
		res = PQexec(s->conn, pg_sql[PS_SCHEMA_VERSION]);
		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1) {
			pg_fail(s, cause, "read the schema version", res);
			PQclear(res);
			goto fail;
		}
		version = (int)pg_get_i64(res, 0, 0);
	}
	PQclear(res);
	if (version > n) {
		*cause = util_asprintf("database schema version %d is newer "
		    "than this harvestd understands (%d)", version, n);
		goto fail;
	}
	for (; version < n; version++) {
		snprintf(sql, sizeof(sql), "migration %d", version + 1);
		if (pg_simple(s, pg_migrations[version], cause, sql) != 0)
			goto fail;
		snprintf(sql, sizeof(sql),
		    "UPDATE harvestd_schema SET version = %d", version + 1);
		if (pg_simple(s, sql, cause, "set the schema version") != 0)
			goto fail;
		log_info("store: PostgreSQL schema migrated to version %d",
		    version + 1);
	}
	return pg_commit_txn(s, cause);
fail:
	pg_rollback(s);
	return -1;
}

static void pg_close(struct pg *);

static struct pg *
pg_open(const char *db, const struct store_opts *o, char **cause)
{
	struct pg *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		*cause = util_asprintf("out of memory");
		return NULL;
	}
	s->base.ops = &store_pg_ops;
	memcpy(s->node, o->node, sizeof(s->node));
	/* Callers that set no node or lease (tools, tests) get the
	 * defaults of the configuration. */
	if (*s->node == '\0' && gethostname(s->node, sizeof(s->node)) != 0)
		snprintf(s->node, sizeof(s->node), "localhost");
	s->node[sizeof(s->node) - 1] = '\0';
	s->lease_ms = o->lease_ms > 0 ? o->lease_ms : 30000;
	if ((s->conn = pg_connect(db, NULL, &s->name, cause)) == NULL ||
	    pg_session(s->conn, s->lease_ms, s->name, cause) != 0)
		goto fail;
	if (pg_migrate(s, cause) != 0)
		goto fail;
	log_debug("%s: PostgreSQL %s, node %s", __func__, s->name, s->node);
	return s;
fail:
	pg_close(s);
	return NULL;
}

static void
pg_close(struct pg *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL && s->unsure.n > 0 &&
	    PQstatus(s->conn) == CONNECTION_OK)
		pg_give_back_unsure(s);
	PQfinish(s->conn);
	free(s->name);
	free(s->claimed.v);
	free(s->unsure.v);
	util_ids_free(&s->cancels);
	free(s);
}

/* This node's row in nodes; fresh says the process just started. */
static int
pg_node_up(struct pg *s, int64_t in_flight, int fresh, char **cause)
{
	const char *params[4];
	char a[24];

	params[0] = s->node;
	params[1] = PACKAGE_VERSION;
	params[2] = pg_i64(a, in_flight);
	params[3] = fresh ? "true" : "false";
	return pg_run_n(s, PS_NODE_UP, 4, params, NULL, cause, "node");
}

/*
 * At start-up: tasks and hosts this node held before it restarted, and
 * any whose lease expired, go back; cancels a crash cut short are
 * finished. Tasks other live nodes hold are theirs.
 */
static int
pg_recover(struct store *base, int64_t *n, char **cause)
{
	struct pg *s = PG(base);
	const char *params[1] = { s->node };

	*n = 0;
	if (pg_ready(s, cause) != 0 || pg_begin(s, cause) != 0)
		return -1;
	if (pg_run_n(s, PS_LOCK_RESULTS, 0, NULL, NULL, cause,
	    "recover") != 0)
		goto fail;
	if (pg_task_move(0, TASK_RUNNING, TASK_QUEUED, cause) != 0 ||
	    pg_run_n(s, PS_RECOVER_TASKS, 1, params, n, cause,
	    "recover tasks") != 0)
		goto fail;
	if (pg_run_n(s, PS_RECOVER_HOSTS, 1, params, NULL, cause,
	    "recover hosts") != 0)
		goto fail;
	if (pg_task_move(0, TASK_QUEUED, TASK_CANCELLED, cause) != 0 ||
	    pg_run_n(s, PS_FINISH_CANCELS, 0, NULL, NULL, cause,
	    "finish cancels") != 0)
		goto fail;
	if (pg_node_up(s, 0, 1, cause) != 0)
		goto fail;
	if (*n > 0 && pg_run_n(s, PS_NOTIFY_WORK, 0, NULL, NULL, cause,
	    "notify") != 0)
		goto fail;
	if (pg_commit_txn(s, cause) != 0)
		goto fail;
	s->started = 1;
	return 0;
fail:
	pg_rollback(s);
	*n = 0;
	return -1;
}

/*
 * Ends a COPY: sends what the buffer holds and the end, or an abort when
 * aborting (the caller then has its own cause; cause may be NULL), and
 * reads the outcome.
 */
static int
pg_copy_end(struct pg *s, struct pg_buf *b, int aborting, char **cause,
    const char *what)
{
	PGresult *res;
	int sent = !aborting, failed = 0;

	if (sent && b->len > 0 &&
	    PQputCopyData(s->conn, b->p, (int)b->len) != 1)
		sent = 0;
	b->len = 0;
	if (PQputCopyEnd(s->conn, sent ? NULL : "harvestd: aborted") != 1)
		sent = 0;
	while ((res = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed) {
			if (!aborting)
				pg_fail(s, cause, what, res);
			failed = 1;
		}
		PQclear(res);
	}
	if (!sent && !failed && !aborting)
		pg_fail(s, cause, what, NULL);
	return sent && !failed ? 0 : -1;
}

/* Starts a binary COPY: the statement, then the file header. */
static int
pg_copy_begin(struct pg *s, const char *sql, struct pg_buf *b,
    char **cause, const char *what)
{
	static const char sig[] = "PGCOPY\n\377\r\n";
	PGresult *res = PQexec(s->conn, sql);

	if (PQresultStatus(res) != PGRES_COPY_IN) {
		pg_fail(s, cause, what, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	b->len = 0;
	buf_add(b, sig, sizeof(sig));		/* with its NUL */
	buf_be(b, 0, 4);			/* flags */
	buf_be(b, 0, 4);			/* header extension */
	return 0;
}

/* Sends what the buffer holds once it is big enough. */
static int
pg_copy_flush(struct pg *s, struct pg_buf *b, size_t at)
{
	if (b->oom || b->len < at)
		return 0;
	if (PQputCopyData(s->conn, b->p, (int)b->len) != 1)
		return -1;
	b->len = 0;
	return 0;
}

static void
copy_text(struct pg_buf *b, const char *t)
{
	size_t n;

	if (t == NULL) {
		buf_be(b, (uint32_t)-1, 4);
		return;
	}
	n = strlen(t);
	buf_be(b, n, 4);
	buf_add(b, t, n);
}

static void
copy_i64(struct pg_buf *b, int64_t v)
{
	buf_be(b, 8, 4);
	buf_be(b, (uint64_t)v, 8);
}

static void
copy_i64_or_null(struct pg_buf *b, int64_t v, int null)
{
	if (null)
		buf_be(b, (uint32_t)-1, 4);
	else
		copy_i64(b, v);
}

static void
copy_f64(struct pg_buf *b, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	buf_be(b, 8, 4);
	buf_be(b, v, 8);
}

/*
 * A crawl's seeds (its page URLs) as seen, by their keys, so the links
 * that lead back to them add nothing.
 */
static int
pg_seen_seeds(struct pg *s, int64_t job_id, const struct store_url *urls,
    size_t n, char **cause)
{
	struct pg_buf keys = { 0 };
	const char *params[2];
	char a[24];
	size_t i;
	int first = 1, rc;

	buf_str(&keys, "{");
	for (i = 0; i < n; i++) {
		if (urls[i].kind != TASK_KIND_PAGE)
			continue;
		if (!first)
			buf_str(&keys, ",");
		first = 0;
		buf_text_elem(&keys, urls[i].key != NULL ? urls[i].key :
		    urls[i].url);
	}
	buf_str(&keys, "}");
	if (keys.oom) {
		buf_free(&keys);
		return pg_nomem(cause);
	}
	params[0] = pg_i64(a, job_id);
	params[1] = keys.p;
	rc = pg_run_n(s, PS_SEEN_SEEDS, 2, params, NULL, cause,
	    "record seeds");
	buf_free(&keys);
	return rc;
}

static int
pg_job_create(struct store *base, const char *text, int64_t priority,
    const struct store_url *urls, size_t n, int crawl, int64_t *job_id,
    char **cause)
{
	struct pg *s = PG(base);
	struct pg_buf b = { 0 };
	const char *params[3];
	char a[24], c[24];
	PGresult *res;
	size_t i;
	int failed = 0;

	*job_id = 0;
	if (pg_ready(s, cause) != 0 || pg_begin(s, cause) != 0)
		return -1;
	params[0] = text;
	params[1] = pg_i64(a, (int64_t)n);
	params[2] = pg_i64(c, priority);
	if ((res = pg_run(s, PS_JOB_INSERT, 3, params, cause,
	    "insert job")) == NULL)
		goto fail;
	*job_id = pg_get_i64(res, 0, 0);
	PQclear(res);
	/* The tasks through one COPY: one round trip however many. */
	if (pg_copy_begin(s, "COPY tasks (job_id, url, host, priority, kind)"
	    " FROM STDIN (FORMAT binary)", &b, cause, "insert tasks") != 0)
		goto fail;
	for (i = 0; i < n && !failed; i++) {
		buf_be(&b, 5, 2);
		copy_i64(&b, *job_id);
		copy_text(&b, urls[i].url);
		copy_text(&b, urls[i].host != NULL ? urls[i].host : "");
		copy_i64(&b, priority);
		copy_text(&b, task_kind_name(urls[i].kind));
		failed = pg_copy_flush(s, &b, 65536) != 0;
	}
	buf_be(&b, (uint16_t)-1, 2);
	if (b.oom || failed) {
		pg_copy_end(s, &b, 1, NULL, "insert tasks");
		if (b.oom)
			pg_nomem(cause);
		else
			pg_fail(s, cause, "insert tasks", NULL);
		goto fail;
	}
	if (pg_copy_end(s, &b, 0, cause, "insert tasks") != 0)
		goto fail;
	if (crawl && pg_seen_seeds(s, *job_id, urls, n, cause) != 0)
		goto fail;
	if (pg_run_n(s, PS_NOTIFY_WORK, 0, NULL, NULL, cause, "notify") != 0)
		goto fail;
	if (pg_commit_txn(s, cause) != 0)
		goto fail;
	buf_free(&b);
	return 0;
fail:
	pg_rollback(s);
	buf_free(&b);
	*job_id = 0;
	return -1;
}

/* Fills a struct store_job from a row of PG_JOB_COLUMNS. */
static int
pg_job_row(const PGresult *res, int row, struct store_job *out)
{
	enum task_state k;

	memset(out, 0, sizeof(*out));
	out->id = pg_get_i64(res, row, 0);
	if (job_state_parse(PQgetvalue(res, row, 1), &out->state_code) != 0)
		out->state_code = JOB_QUEUED;	/* the CHECK forbids it */
	out->state = job_state_name(out->state_code);
	out->total = pg_get_i64(res, row, 2);
	out->options = pg_get_strdup(res, row, 3);
	out->created_at = pg_get_strdup(res, row, 4);
	out->finished_at = pg_get_strdup(res, row, 5);
	for (k = TASK_QUEUED; k < TASK_NSTATES; k++)
		out->counts[k] = pg_get_i64(res, row, 6 + (int)k);
	if (out->options == NULL || out->created_at == NULL ||
	    (out->finished_at == NULL && !PQgetisnull(res, row, 5))) {
		store_job_clear(out);
		return -1;
	}
	return 0;
}

/* One statement: the job and its counts come from one snapshot. */
static int
pg_job_get(struct store *base, int64_t id, struct store_job *out,
    char **cause)
{
	struct pg *s = PG(base);
	const char *params[1];
	PGresult *res;
	char a[24];
	int rc;

	memset(out, 0, sizeof(*out));
	if (pg_ready(s, cause) != 0)
		return -1;
	params[0] = pg_i64(a, id);
	if ((res = pg_run(s, PS_JOB_GET, 1, params, cause,
	    "read job")) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		rc = 1;
	else if ((rc = pg_job_row(res, 0, out)) != 0)
		pg_nomem(cause);
	PQclear(res);
	return rc;
}

static int
pg_job_list(struct store *base, int64_t after, int64_t limit, store_job_cb cb,
    void *arg, char **cause)
{
	struct pg *s = PG(base);
	const char *params[2];
	struct store_job j;
	PGresult *res;
	char a[24], b[24];
	int i, n, rc = 0;

	if (limit <= 0)
		return 0;
	if (pg_ready(s, cause) != 0)
		return -1;
	params[0] = pg_i64(a, after);
	params[1] = pg_i64(b, limit);
	if ((res = pg_run(s, PS_JOB_LIST, 2, params, cause,
	    "list jobs")) == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if (pg_job_row(res, i, &j) != 0) {
			rc = pg_nomem(cause);
			break;
		}
		rc = cb(&j, arg);
		store_job_clear(&j);
		if (rc != 0) {
			rc = 0;
			break;
		}
	}
	PQclear(res);
	return rc;
}

/*
 * One step of a cancel. Writes results, so it takes the results lock
 * first (before any row lock: commits do the same, no deadlock). The
 * first step also cancels the job and tells the other nodes.
 */
static int
pg_job_cancel_step(struct store *base, int64_t id, int64_t max, int *changed,
    int64_t *written, int *more, char **cause)
{
	struct pg *s = PG(base);
	const char *params[2];
	PGresult *res;
	char a[24], b[24];

	*changed = *more = 0;
	*written = 0;
	if (pg_ready(s, cause) != 0 || pg_begin(s, cause) != 0)
		return -1;
	params[0] = pg_i64(a, id);
	params[1] = pg_i64(b, max);
	if (pg_run_n(s, PS_LOCK_RESULTS, 0, NULL, NULL, cause,
	    "cancel job") != 0)
		goto fail;
	if ((res = pg_run(s, PS_JOB_STATE, 1, params, cause,
	    "cancel job")) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		pg_rollback(s);
		return 1;
	}
	PQclear(res);
	if (pg_task_move(0, TASK_QUEUED, TASK_CANCELLED, cause) != 0 ||
	    pg_run_n(s, PS_CANCEL_TASKS, 2, params, written, cause,
	    "cancel tasks") != 0)
		goto fail;
	*more = *written == max;
	if (pg_job_move(id, JOB_RUNNING, JOB_CANCELLED, cause) != 0 ||
	    (res = pg_run(s, PS_JOB_CANCEL, 1, params, cause,
	    "cancel job")) == NULL)
		goto fail;
	*changed = PQntuples(res) > 0;
	PQclear(res);
	if (pg_commit_txn(s, cause) != 0)
		goto fail;
	return 0;
fail:
	pg_rollback(s);
	*changed = *more = 0;
	*written = 0;
	return -1;
}

/* Whether the job is still active: 1 none, 2 active, 0 finished. */
static int
pg_job_active(struct pg *s, const char *const *params, char **cause,
    const char *what)
{
	PGresult *res;
	int rc;

	if ((res = pg_run(s, PS_JOB_ACTIVE, 1, params, cause, what)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		rc = 1;
	else
		rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? 2 : 0;
	PQclear(res);
	return rc;
}

static int
pg_job_purge_step(struct store *base, int64_t id, int64_t max, int *more,
    char **cause)
{
	struct pg *s = PG(base);
	const char *params[2];
	char a[24], b[24];
	int64_t n = 0, m = 0;
	int rc;

	*more = 0;
	if (pg_ready(s, cause) != 0 || pg_begin(s, cause) != 0)
		return -1;
	params[0] = pg_i64(a, id);
	params[1] = pg_i64(b, max);
	if ((rc = pg_job_active(s, params, cause, "purge job")) < 0)
		goto fail;
	if (rc > 0) {
		pg_rollback(s);
		return rc;
	}
	/* Results, then tasks, a bounded number of rows per transaction;
	 * the job row goes last. */
	if (pg_run_n(s, PS_PURGE_RESULTS, 2, params, &n, cause,
	    "purge results") != 0)
		goto fail;
	if (n < max) {
		params[1] = pg_i64(b, max - n);
		if (pg_run_n(s, PS_PURGE_TASKS, 2, params, &m, cause,
		    "purge tasks") != 0)
			goto fail;
		n += m;
	}
	if (n < max) {
		if (pg_run_n(s, PS_JOB_DELETE, 1, params, NULL, cause,
		    "purge job") != 0)
			goto fail;
	} else
		*more = 1;
	if (pg_commit_txn(s, cause) != 0)
		goto fail;
	return 0;
fail:
	pg_rollback(s);
	*more = 0;
	return -1;
}

static int
pg_job_expired(struct store *base, int64_t days, int64_t *id, char **cause)
{
	struct pg *s = PG(base);
	const char *params[1];
	PGresult *res;
	char a[24];
	int rc;

	*id = 0;
	if (pg_ready(s, cause) != 0)
		return -1;
	params[0] = pg_i64(a, days);
	if ((res = pg_run(s, PS_JOB_EXPIRED, 1, params, cause,
	    "expired jobs")) == NULL)
		return -1;
	rc = PQntuples(res) > 0 ? 0 : 1;
	if (rc == 0)
		*id = pg_get_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

/* A job's options and failed tasks, from one snapshot. */
static int
pg_job_failed(struct store *base, int64_t id, char **options,
    struct store_failed *out, char **cause)
{
	struct pg *s = PG(base);
	const char *params[1];
	PGresult *res;
	size_t cap = 0;
	char a[24];
	int rc, i, n;

	*options = NULL;
	if (pg_ready(s, cause) != 0 || pg_simple(s,
	    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", cause,
	    "begin") != 0)
		return -1;
	params[0] = pg_i64(a, id);
	if ((rc = pg_job_active(s, params, cause, "read failed tasks")) < 0)
		goto fail;
	if (rc > 0) {
		pg_rollback(s);
		return rc;
	}
	if ((res = pg_run(s, PS_JOB_OPTIONS, 1, params, cause,
	    "read job options")) == NULL)
		goto fail;
	if (PQntuples(res) == 1)
		*options = pg_get_strdup(res, 0, 0);
	PQclear(res);
	if (*options == NULL && (*options = strdup("{}")) == NULL)
		goto nomem;
	if ((res = pg_run(s, PS_JOB_FAILED, 1, params, cause,
	    "read failed tasks")) == NULL)
		goto fail;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if (store_failed_add(out, &cap, PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1)) != 0) {
			PQclear(res);
			goto nomem;
		}
	}
	PQclear(res);
	if (pg_commit_txn(s, cause) != 0)
		goto fail;
	return 0;
nomem:
	pg_nomem(cause);
fail:
	pg_rollback(s);
	free(*options);
	*options = NULL;
	return -1;
}

/* --- claims: the primitives the policy in store.c runs ------------------- */

static int
pg_claim_begin(struct store *base, char **cause)
{
	struct pg *s = PG(base);

	s->claimed.n = 0;
	if (pg_ready(s, cause) != 0)
		return -1;
	return pg_begin(s, cause);
}

/*
 * A COMMIT cut off by a lost connection may or may not have claimed the
 * tasks; the caller drops them, and they are given back (fenced) once
 * the connection is back, instead of being renewed by every heartbeat.
 */
static int
pg_claim_end(struct store *base, int ok, char **cause)
{
	struct pg *s = PG(base);
	size_t i;

	if (!ok) {
		pg_rollback(s);
		s->claimed.n = 0;
		return 0;
	}
	if (pg_commit_txn(s, cause) == 0) {
		s->claimed.n = 0;
		return 0;
	}
	if (PQstatus(s->conn) == CONNECTION_BAD) {
		for (i = 0; i < s->claimed.n; i++)
			if (pg_leases_add(&s->unsure, s->claimed.v[i].id,
			    s->claimed.v[i].token) != 0)
				log_warnx("store: out of memory: task %lld "
				    "stays leased until its lease expires",
				    (long long)s->claimed.v[i].id);
	}
	s->claimed.n = 0;
	return -1;
}

static int
pg_claim_jobs(struct store *base, struct store_claim_job **jobs, size_t *njobs,
    char **cause)
{
	struct pg *s = PG(base);
	PGresult *res;
	int i, n;

	*jobs = NULL;
	*njobs = 0;
	if ((res = pg_run(s, PS_ACTIVE_JOBS, 0, NULL, cause,
	    "active jobs")) == NULL)
		return -1;
	n = PQntuples(res);
	if (n > 0 && (*jobs = calloc((size_t)n, sizeof(**jobs))) == NULL) {
		PQclear(res);
		return pg_nomem(cause);
	}
	for (i = 0; i < n; i++) {
		(*jobs)[i].id = pg_get_i64(res, i, 0);
		(*jobs)[i].priority = pg_get_i64(res, i, 1);
	}
	*njobs = (size_t)n;
	PQclear(res);
	return 0;
}

static int
pg_strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Runs one of the claim statements; appends its tasks to *v and adds to
 * *newh the hosts it started holding (a row says whether its host is
 * new; the hosts of those rows, sorted, count each host once).
 */
static int
pg_claim_run(struct pg *s, enum pg_stmt id, int nparams,
    const char *const *params, size_t max, struct task ***v, size_t *n,
    size_t *cap, int64_t *newh, char **cause)
{
	struct task *t, **nv;
	const char **hosts = NULL;
	size_t nhosts = 0, k;
	PGresult *res;
	int i, rows;

	if ((res = pg_run(s, id, nparams, params, cause, "claim")) == NULL)
		return -1;
	rows = PQntuples(res);
	if (rows > 0 && (hosts = calloc((size_t)rows, sizeof(*hosts))) == NULL)
		goto nomem;
	for (i = 0; i < rows; i++) {
		if (*n == *cap) {
			*cap = *cap == 0 ? (max > 0 ? max : 16) : *cap * 2;
			if ((nv = realloc(*v, *cap * sizeof(*nv))) == NULL)
				goto nomem;
			*v = nv;
		}
		t = task_new(pg_get_i64(res, i, 0), pg_get_i64(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    pg_get_i64(res, i, 4));
		if (t == NULL)
			goto nomem;
		t->lease = pg_get_i64(res, i, 5);
		t->host_next_ms = pg_get_i64(res, i, 6);
		if (task_kind_parse(PQgetvalue(res, i, 7), &t->kind) != 0)
			t->kind = TASK_KIND_PAGE;	/* the CHECK forbids it */
		t->depth = pg_get_i64(res, i, 8);
		if (strcmp(PQgetvalue(res, i, 9), "t") == 0)
			hosts[nhosts++] = PQgetvalue(res, i, 3);
		(*v)[(*n)++] = t;
		if (pg_leases_add(&s->claimed, t->id, t->lease) != 0)
			goto nomem;
	}
	if (nhosts > 1)
		qsort(hosts, nhosts, sizeof(*hosts), pg_strp_cmp);
	for (k = 0; k < nhosts; k++)
		*newh += k == 0 || strcmp(hosts[k - 1], hosts[k]) != 0;
	free(hosts);
	PQclear(res);
	return 0;
nomem:
	free(hosts);
	PQclear(res);
	return pg_nomem(cause);
}

/*
 * Up to max due tasks of a job, of hosts no other live node holds. The
 * claim order (earliest due, then oldest) is read from the front of
 * the job's queue, a bounded number of tasks; when that front is full
 * and gave too few — its hosts are held elsewhere, or skipped — the
 * rest comes host by host, so one node working through a big host
 * never makes the others scan its tasks on every claim.
 */
static int
pg_claim_tasks(struct store *base, int64_t job_id, size_t max, int64_t now,
    char *const *skip, size_t nskip, int64_t *new_hosts, struct task ***v,
    size_t *n, size_t *cap, char **cause)
{
	struct pg *s = PG(base);
	struct pg_buf hosts = { 0 };
	const char *params[8];
	char a[24], b[24], c[24], d[24], e[24], f[24];
	/* The front: enough to fill the claim past a few hosts held
	 * elsewhere; beyond it, host by host. */
	size_t i, before = *n, front = max * 2 < 256 ? 256 : max * 2, got;
	int64_t budget = new_hosts != NULL ? *new_hosts : INT64_MAX, newh = 0;
	PGresult *res;
	int full, rc = -1;

	if (pg_task_move(0, TASK_QUEUED, TASK_RUNNING, cause) != 0)
		return -1;
	buf_str(&hosts, "{");
	for (i = 0; i < nskip; i++) {
		if (i > 0)
			buf_str(&hosts, ",");
		buf_text_elem(&hosts, skip[i]);
	}
	buf_str(&hosts, "}");
	if (hosts.oom) {
		buf_free(&hosts);
		return pg_nomem(cause);
	}
	params[0] = pg_i64(a, job_id);
	params[1] = pg_i64(b, now);
	params[2] = hosts.p;
	params[3] = s->node;
	params[4] = pg_i64(c, (int64_t)max);
	params[5] = pg_i64(d, s->lease_ms);
	params[6] = pg_i64(e, (int64_t)front);
	params[7] = pg_i64(f, budget);
	if (pg_claim_run(s, PS_CLAIM, 8, params, max, v, n, cap, &newh,
	    cause) != 0)
		goto out;
	if ((got = *n - before) >= max) {
		rc = 0;
		goto out;
	}
	/* More due tasks than the front held? Then look host by host: those
	 * of the hosts this node holds, then of hosts nobody holds. */
	params[2] = pg_i64(e, (int64_t)(front - got + 1));
	if ((res = pg_run(s, PS_CLAIM_MORE, 3, params, cause,
	    "claim")) == NULL)
		goto out;
	full = pg_get_i64(res, 0, 0) == (int64_t)(front - got + 1);
	PQclear(res);
	params[2] = hosts.p;
	if (full) {
		params[4] = pg_i64(c, (int64_t)(max - got));
		if (pg_claim_run(s, PS_CLAIM_MINE, 6, params, max - got, v, n,
		    cap, &newh, cause) != 0)
			goto out;
		got = *n - before;
	}
	if (full && got < max && budget - newh > 0) {
		params[4] = pg_i64(c, (int64_t)(max - got));
		params[6] = pg_i64(e, budget - newh);
		if (pg_claim_run(s, PS_CLAIM_HOSTS, 7, params, max - got, v,
		    n, cap, &newh, cause) != 0)
			goto out;
	}
	rc = 0;
out:
	if (rc == 0 && new_hosts != NULL)
		*new_hosts = budget > newh ? budget - newh : 0;
	buf_free(&hosts);
	return rc;
}

static int
pg_claim_options(struct store *base, int64_t job_id, char **options,
    char **cause)
{
	struct pg *s = PG(base);
	const char *params[1];
	PGresult *res;
	char a[24];

	*options = NULL;
	params[0] = pg_i64(a, job_id);
	if ((res = pg_run(s, PS_JOB_OPTIONS, 1, params, cause,
	    "read job options")) == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		*cause = util_asprintf("job %lld: gone", (long long)job_id);
		return -1;
	}
	*options = pg_get_strdup(res, 0, 0);
	PQclear(res);
	if (*options == NULL)
		return pg_nomem(cause);
	if (pg_job_move(job_id, JOB_QUEUED, JOB_RUNNING, cause) != 0 ||
	    pg_run_n(s, PS_JOB_RUNNING, 1, params, NULL, cause,
	    "mark job running") != 0) {
		free(*options);
		*options = NULL;
		return -1;
	}
	return 0;
}

static int
pg_claim_next_due(struct store *base, int64_t now, int64_t *next_due_ms,
    char **cause)
{
	struct pg *s = PG(base);
	const char *params[1];
	PGresult *res;
	char a[24];

	*next_due_ms = 0;
	params[0] = pg_i64(a, now);
	if ((res = pg_run(s, PS_NEXT_DUE, 1, params, cause,
	    "next due")) == NULL)
		return -1;
	if (PQntuples(res) == 1)
		*next_due_ms = pg_get_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* --- the group commit ------------------------------------------------------ */

/*
 * Sends the batch's results into the session's staging table with one
 * binary COPY. Bodies of some size go to libpq straight from the
 * result, not through the buffer.
 */
static int
pg_commit_copy(struct pg *s, const struct result *results, char **cause)
{
	struct pg_buf b = { 0 };
	const struct result *r;
	char *url = NULL, *final_url = NULL;
	int64_t seq = 0;
	int local = 0, failed = 0;

	if (pg_copy_begin(s, "COPY harvest_staging FROM STDIN"
	    " (FORMAT binary)", &b, cause, "stage results") != 0) {
		buf_free(&b);
		return -1;
	}
	for (r = results; r != NULL && !local && !failed; r = r->next) {
		if (pg_task_move(r->task_id, TASK_RUNNING,
		    result_task_end(r->kind), cause) != 0) {
			local = 1;
			break;
		}
		if (r->body_len > INT_MAX) {
			*cause = util_asprintf("task %lld: body too large",
			    (long long)r->task_id);
			local = 1;
			break;
		}
		/* Results never hold a URL's password; the task keeps it. */
		if ((url = job_redact_url(r->url != NULL ? r->url : "")) ==
		    NULL || (r->final_url != NULL &&
		    (final_url = job_redact_url(r->final_url)) == NULL)) {
			pg_nomem(cause);
			local = 1;
			break;
		}
		buf_be(&b, PG_STAGING_COLUMNS, 2);
		copy_i64(&b, seq++);
		copy_i64(&b, r->task_id);
		copy_i64(&b, r->job_id);
		copy_i64(&b, r->lease);
		copy_text(&b, result_task_state(r->kind));
		copy_i64(&b, r->attempts);
		copy_text(&b, url);
		copy_text(&b, final_url);
		free(url);
		free(final_url);
		url = final_url = NULL;
		copy_i64_or_null(&b, r->status, r->status <= 0);
		copy_text(&b, r->content_type);
		copy_text(&b, r->headers);
		if (r->body == NULL)
			buf_be(&b, (uint32_t)-1, 4);
		else {
			buf_be(&b, r->body_len, 4);
			if (r->body_len < 4096)
				buf_add(&b, r->body, r->body_len);
			else if (pg_copy_flush(s, &b, 0) != 0 ||
			    PQputCopyData(s->conn, (const char *)r->body,
			    (int)r->body_len) != 1)
				failed = 1;
		}
		copy_i64(&b, (int64_t)r->body_len);
		copy_i64(&b, r->truncated);
		copy_i64_or_null(&b, r->content_length,
		    r->content_length < 0);
		copy_i64(&b, r->redirect_count);
		copy_f64(&b, r->time_dns_ms);
		copy_f64(&b, r->time_connect_ms);
		copy_f64(&b, r->time_tls_ms);
		copy_f64(&b, r->time_ttfb_ms);
		copy_f64(&b, r->time_total_ms);
		copy_i64(&b, r->fetched_at_ms);
		copy_text(&b, result_kind_name(r->kind));
		copy_text(&b, r->error_message);
		copy_text(&b, r->fields);
		if (pg_copy_flush(s, &b, 65536) != 0)
			failed = 1;
	}
	free(url);
	free(final_url);
	buf_be(&b, (uint16_t)-1, 2);
	if (!local && b.oom) {
		pg_nomem(cause);
		local = 1;
	}
	if (local || failed) {
		pg_copy_end(s, &b, 1, NULL, "stage results");
		if (!local)
			pg_fail(s, cause, "stage results", NULL);
		buf_free(&b);
		return -1;
	}
	if (pg_copy_end(s, &b, 0, cause, "stage results") != 0) {
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	return 0;
}

/* Requeues and retries, fenced like results by their lease tokens. */
static int
pg_commit_back(struct pg *s, const struct store_ref *requeue,
    size_t nrequeue, const struct store_retry *retries, size_t nretries,
    int64_t *requeued, char **cause)
{
	struct pg_buf a[4] = { { 0 } };
	const char *params[4];
	size_t i, k;
	int rc = -1;

	*requeued = 0;
	if (nrequeue > 0) {
		for (i = 0; i < nrequeue; i++)
			if (pg_task_move(requeue[i].task_id, TASK_RUNNING,
			    TASK_QUEUED, cause) != 0)
				goto out;
		for (k = 0; k < 2; k++)
			buf_str(&a[k], "{");
		for (i = 0; i < nrequeue; i++) {
			for (k = 0; k < 2 && i > 0; k++)
				buf_str(&a[k], ",");
			buf_i64(&a[0], requeue[i].task_id);
			buf_i64(&a[1], requeue[i].lease);
		}
		for (k = 0; k < 2; k++) {
			buf_str(&a[k], "}");
			params[k] = a[k].p;
		}
		if (a[0].oom || a[1].oom) {
			pg_nomem(cause);
			goto out;
		}
		if (pg_run_n(s, PS_REQUEUE, 2, params, requeued, cause,
		    "requeue tasks") != 0)
			goto out;
		for (k = 0; k < 2; k++)
			a[k].len = 0;
	}
	if (nretries > 0) {
		for (i = 0; i < nretries; i++)
			if (pg_task_move(retries[i].task_id, TASK_RUNNING,
			    TASK_QUEUED, cause) != 0)
				goto out;
		for (k = 0; k < 4; k++) {
			a[k].len = 0;
			buf_str(&a[k], "{");
		}
		for (i = 0; i < nretries; i++) {
			for (k = 0; k < 4 && i > 0; k++)
				buf_str(&a[k], ",");
			buf_i64(&a[0], retries[i].task_id);
			buf_i64(&a[1], retries[i].lease);
			buf_i64(&a[2], retries[i].attempts);
			buf_i64(&a[3], retries[i].due_ms);
		}
		for (k = 0; k < 4; k++) {
			buf_str(&a[k], "}");
			params[k] = a[k].p;
		}
		if (a[0].oom || a[1].oom || a[2].oom || a[3].oom) {
			pg_nomem(cause);
			goto out;
		}
		if (pg_run_n(s, PS_RETRY, 4, params, NULL, cause,
		    "schedule retries") != 0)
			goto out;
	}
	rc = 0;
out:
	for (k = 0; k < 4; k++)
		buf_free(&a[k]);
	return rc;
}

/* Jobs of the batch with nothing left queued or running become done. */
static int
pg_commit_jobs(struct pg *s, const struct result *results,
    struct util_ids *finished, char **cause)
{
	struct util_ids jobs = { 0 };
	const struct result *r;
	struct pg_buf b = { 0 };
	const char *params[1];
	PGresult *res;
	size_t i;
	int n, rc = -1;

	for (r = results; r != NULL; r = r->next)
		if (!util_ids_has(&jobs, r->job_id) &&
		    util_ids_push(&jobs, r->job_id) != 0) {
			pg_nomem(cause);
			goto out;
		}
	if (jobs.n == 0)
		return 0;
	buf_str(&b, "{");
	for (i = 0; i < jobs.n; i++) {
		if (pg_job_move(jobs.v[i], JOB_RUNNING, JOB_DONE, cause) != 0)
			goto out;
		if (i > 0)
			buf_str(&b, ",");
		buf_i64(&b, jobs.v[i]);
	}
	buf_str(&b, "}");
	if (b.oom) {
		pg_nomem(cause);
		goto out;
	}
	params[0] = b.p;
	if ((res = pg_run(s, PS_JOB_DONE, 1, params, cause,
	    "finish jobs")) == NULL)
		goto out;
	n = PQntuples(res);
	for (i = 0; i < (size_t)n; i++)
		if (finished != NULL &&
		    util_ids_push(finished, pg_get_i64(res, (int)i, 0)) != 0) {
			PQclear(res);
			pg_nomem(cause);
			goto out;
		}
	PQclear(res);
	rc = 0;
out:
	util_ids_free(&jobs);
	buf_free(&b);
	return rc;
}

/*
 * The links of the results written (written[i]: the i-th result's task
 * was finished by this commit) become tasks: one statement over arrays.
 */
static int
pg_commit_links(struct pg *s, const struct result *results,
    const char *written, size_t *added, char **cause)
{
	struct pg_buf a[8] = { { 0 } };
	const struct result *r;
	const struct result_link *l;
	const char *params[8];
	PGresult *res;
	size_t i, k, n = 0, nlinks = 0;
	int rc = -1;

	*added = 0;
	for (r = results, i = 0; r != NULL; r = r->next, i++)
		if (written[i])
			nlinks += r->nlinks;
	if (nlinks == 0)
		return 0;
	for (k = 0; k < 8; k++)
		buf_str(&a[k], "{");
	for (r = results, i = 0; r != NULL; r = r->next, i++) {
		if (!written[i])
			continue;
		for (l = r->links; l < r->links + r->nlinks; l++, n++) {
			for (k = 0; k < 8 && n > 0; k++)
				buf_str(&a[k], ",");
			buf_i64(&a[0], r->job_id);
			buf_i64(&a[1], r->task_id);
			buf_text_elem(&a[2], l->url);
			buf_text_elem(&a[3], l->host);
			buf_text_elem(&a[4], l->key != NULL ? l->key : l->url);
			buf_text_elem(&a[5], task_kind_name(l->kind));
			buf_i64(&a[6], l->depth);
			buf_i64(&a[7], r->links_max > 0 ? r->links_max :
			    STORE_LINKS_MAX);
		}
	}
	for (k = 0; k < 8; k++) {
		buf_str(&a[k], "}");
		if (a[k].oom) {
			pg_nomem(cause);
			goto out;
		}
		params[k] = a[k].p;
	}
	if ((res = pg_run(s, PS_ADD_LINKS, 8, params, cause,
	    "add found links")) == NULL)
		goto out;
	*added = (size_t)pg_get_i64(res, 0, 0);
	PQclear(res);
	rc = 0;
out:
	for (k = 0; k < 8; k++)
		buf_free(&a[k]);
	return rc;
}

/*
 * The group commit, one transaction: results are staged first (COPY,
 * no lock held), then the results lock (when there are results), the
 * fenced finish, requeues and retries, and the jobs that ended. Retrying a commit whose outcome was
 * lost is harmless: the fence finds the tasks finished and writes
 * nothing twice.
 */
static int
pg_commit(struct store *base, const struct result *results,
    const struct store_ref *requeue, size_t nrequeue,
    const struct store_retry *retries, size_t nretries, size_t *committed,
    struct util_ids *finished, size_t *added, char **cause)
{
	struct pg *s = PG(base);
	size_t nfinished = finished != NULL ? finished->n : 0, n = 0, nres = 0;
	const struct result *r;
	char *written = NULL;
	int64_t requeued = 0;
	PGresult *res;
	int i, rows;

	*committed = 0;
	*added = 0;
	for (r = results; r != NULL; r = r->next)
		nres++;
	if (nres > 0 && (written = calloc(nres, 1)) == NULL)
		return pg_nomem(cause);
	if (pg_ready(s, cause) != 0)
		return -1;
	/* Outside the transaction: a rollback would take it away. */
	if (results != NULL && !s->staging) {
		if (pg_simple(s, pg_staging_sql, cause, "staging table") != 0)
			goto out;
		s->staging = 1;
	}
	if (pg_begin(s, cause) != 0)
		goto out;
	if (results != NULL && pg_commit_copy(s, results, cause) != 0)
		goto fail;
	if (results != NULL) {
		if (pg_run_n(s, PS_LOCK_RESULTS, 0, NULL, NULL, cause,
		    "commit") != 0)
			goto fail;
		if ((res = pg_run(s, PS_FINISH, 0, NULL, cause,
		    "write results")) == NULL)
			goto fail;
		/* One row per staged result, in batch order. */
		rows = PQntuples(res);
		for (i = 0; i < rows; i++) {
			if (strcmp(PQgetvalue(res, i, 1), "t") == 0) {
				if ((size_t)i < nres)
					written[i] = 1;
				n++;
			} else
				log_warnx("store: task %s is not running "
				    "under this lease; result dropped",
				    PQgetvalue(res, i, 0));
		}
		PQclear(res);
		if (pg_commit_links(s, results, written, added, cause) != 0)
			goto fail;
	}
	if (pg_commit_back(s, requeue, nrequeue, retries, nretries,
	    &requeued, cause) != 0)
		goto fail;
	if (pg_commit_jobs(s, results, finished, cause) != 0)
		goto fail;
	/* Tasks given back or found are work for any node. */
	if ((requeued > 0 || *added > 0) && pg_run_n(s, PS_NOTIFY_WORK, 0,
	    NULL, NULL, cause, "notify") != 0)
		goto fail;
	if (pg_commit_txn(s, cause) != 0)
		goto fail;
	*committed = n;
	free(written);
	return 0;
fail:
	pg_rollback(s);
	if (finished != NULL)
		finished->n = nfinished;	/* nothing was finished after all */
	*added = 0;
out:
	free(written);
	return -1;
}

/*
 * A page of results. Binary results, so bodies arrive as bytes (no hex
 * to decode), and one row at a time, so a page of large bodies is never
 * all in memory.
 */
static int
pg_results_page(struct store *base, int64_t job_id, int64_t after,
    int64_t limit, int flags, store_row_cb cb, void *arg, char **cause)
{
	struct pg *s = PG(base);
	const char *params[3];
	struct store_row row;
	char sql[1024], a[24], b[24], c[24];
	PGresult *res;
	ExecStatusType st;
	int i, stop = 0, failed = 0;

	if (pg_ready(s, cause) != 0)
		return -1;
	if (limit < 0)
		limit = INT64_MAX;	/* as SQLite's LIMIT -1 */
	snprintf(sql, sizeof(sql),
	    "SELECT id, task_id, job_id, url, final_url, status, content_type,"
	    " %s, %s, body_size, truncated, content_length, redirect_count,"
	    " time_dns_ms, time_connect_ms, time_tls_ms, time_ttfb_ms,"
	    " time_total_ms, attempts, " PG_TIME("fetched_at") ","
	    " error_kind, error_message, %s, fields::text"
	    " FROM results WHERE job_id = $1::bigint AND id > $2::bigint %s"
	    " ORDER BY id LIMIT $3::bigint",
	    (flags & STORE_PAGE_HEADERS) ? "headers" : "NULL::text",
	    /* octet_length() of a toasted value reads its size only. */
	    (flags & STORE_PAGE_BODY) ? "body" :
	    (flags & STORE_PAGE_BODY_SMALL) ? "CASE WHEN octet_length(body) <= "
	    PG_STR(STORE_BODY_SMALL) " THEN body END" : "NULL::bytea",
	    (flags & STORE_PAGE_BODY_SMALL) ? "octet_length(body)::bigint" :
	    "NULL::bigint",
	    (flags & STORE_PAGE_FAILED) ? "AND error_kind IS NOT NULL" : "");
	params[0] = pg_i64(a, job_id);
	params[1] = pg_i64(b, after);
	params[2] = pg_i64(c, limit);
	if (!PQsendQueryParams(s->conn, sql, 3, NULL, params, NULL, NULL, 1))
		return pg_fail(s, cause, "read results", NULL);
	if (!PQsetSingleRowMode(s->conn))
		log_debug("%s: single-row mode refused", __func__);
	while ((res = PQgetResult(s->conn)) != NULL) {
		st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
			/* One row each in single-row mode. */
			for (i = 0; i < PQntuples(res) && !stop && !failed;
			    i++) {
				memset(&row, 0, sizeof(row));
				row.id = pg_bin_i64(res, i, 0, 0);
				row.task_id = pg_bin_i64(res, i, 1, 0);
				row.job_id = pg_bin_i64(res, i, 2, 0);
				row.url = pg_bin_text(res, i, 3);
				row.final_url = pg_bin_text(res, i, 4);
				row.status = pg_bin_i64(res, i, 5, 0);
				row.content_type = pg_bin_text(res, i, 6);
				row.headers = pg_bin_text(res, i, 7);
				if (!PQgetisnull(res, i, 8) &&
				    PQgetlength(res, i, 8) > 0) {
					row.body = PQgetvalue(res, i, 8);
					row.body_len =
					    (size_t)PQgetlength(res, i, 8);
				}
				row.body_size = pg_bin_i64(res, i, 9, 0);
				row.truncated = (int)pg_bin_i64(res, i, 10, 0);
				row.content_length = pg_bin_i64(res, i, 11, -1);
				row.redirect_count = pg_bin_i64(res, i, 12, 0);
				row.time_dns_ms = pg_bin_f64(res, i, 13);
				row.time_connect_ms = pg_bin_f64(res, i, 14);
				row.time_tls_ms = pg_bin_f64(res, i, 15);
				row.time_ttfb_ms = pg_bin_f64(res, i, 16);
				row.time_total_ms = pg_bin_f64(res, i, 17);
				row.attempts = pg_bin_i64(res, i, 18, 0);
				row.fetched_at = pg_bin_text(res, i, 19);
				row.error_kind = pg_bin_text(res, i, 20);
				row.error_message = pg_bin_text(res, i, 21);
				if (flags & STORE_PAGE_BODY_SMALL)
					row.body_len = (size_t)pg_bin_i64(res,
					    i, 22, 0);
				row.fields = pg_bin_text(res, i, 23);
				/* The rest of the page still arrives and
				 * is read, unused. */
				if (cb(&row, arg) != 0)
					stop = 1;
			}
		} else if (!failed) {
			pg_fail(s, cause, "read results", res);
			failed = 1;
		}
		PQclear(res);
	}
	return failed ? -1 : 0;
}

static int
pg_results_last(struct store *base, int64_t job_id, int64_t after,
    int64_t limit, int flags, int64_t *last, char **cause)
{
	struct pg *s = PG(base);
	const char *params[3];
	char sql[256], a[24], b[24], c[24];
	PGresult *res;

	*last = 0;
	if (pg_ready(s, cause) != 0)
		return -1;
	if (limit < 0)
		limit = INT64_MAX;
	/* results_job (job_id, id) answers it from the index alone, unless
	 * failed=true asks for each row's error_kind. */
	snprintf(sql, sizeof(sql),
	    "SELECT max(id) FROM (SELECT id FROM results"
	    " WHERE job_id = $1::bigint AND id > $2::bigint %s"
	    " ORDER BY id LIMIT $3::bigint) p",
	    (flags & STORE_PAGE_FAILED) ? "AND error_kind IS NOT NULL" : "");
	params[0] = pg_i64(a, job_id);
	params[1] = pg_i64(b, after);
	params[2] = pg_i64(c, limit);
	res = PQexecParams(s->conn, sql, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pg_fail(s, cause, "read results", res);
		PQclear(res);
		return -1;
	}
	*last = pg_get_i64(res, 0, 0);		/* NULL (empty) reads 0 */
	PQclear(res);
	return 0;
}

/* Slices of a body read per statement: big enough to be few round trips,
 * small enough that a big body is never all in memory. */
#define PG_BODY_SLICE	(4 * 1024 * 1024)

static int
pg_result_body(struct store *base, int64_t id, int64_t off, unsigned char *buf,
    size_t len, store_body_cb cb, void *arg, int64_t *size, char **cause)
{
	struct pg *s = PG(base);
	const char *params[3];
	char a[24], b[24], c[24];
	const unsigned char *p;
	PGresult *res;
	int64_t total = -1, got;
	size_t k, n;
	int stop = 0;

	(void)buf;	/* the slice's memory is libpq's */
	*size = 0;
	if (pg_ready(s, cause) != 0)
		return -1;
	params[0] = pg_i64(a, id);
	while (!stop) {
		/* Binary: bytes, not hex. The size comes with the first. */
		params[1] = pg_i64(b, off + 1);
		params[2] = pg_i64(c, PG_BODY_SLICE);
		res = PQexecParams(s->conn, "SELECT octet_length(body)::bigint,"
		    " substring(body FROM $2::int8::int4 FOR $3::int4)"
		    " FROM results WHERE id = $1::bigint", 3, NULL, params,
		    NULL, NULL, 1);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			pg_fail(s, cause, "read body", res);
			PQclear(res);
			return -1;
		}
		if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
			PQclear(res);
			*cause = util_asprintf("result %lld has no body",
			    (long long)id);
			return -1;
		}
		total = pg_bin_i64(res, 0, 0, 0);
		*size = total;
		p = (const unsigned char *)PQgetvalue(res, 0, 1);
		got = PQgetisnull(res, 0, 1) ? 0 : PQgetlength(res, 0, 1);
		for (k = 0; k < (size_t)got && !stop; k += n) {
			n = (size_t)got - k < len ? (size_t)got - k : len;
			if (cb(p + k, n, arg) != 0)
				stop = 1;
		}
		PQclear(res);
		off += got;
		if (got == 0 || off >= total)
			break;
	}
	return 0;
}

static int
pg_totals(struct store *base, struct store_totals *t, char **cause)
{
	struct pg *s = PG(base);
	PGresult *res;

	memset(t, 0, sizeof(*t));
	if (pg_ready(s, cause) != 0)
		return -1;
	if ((res = pg_run(s, PS_TOTALS, 0, NULL, cause, "totals")) == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		t->queued = pg_get_i64(res, 0, 0);
		t->running = pg_get_i64(res, 0, 1);
		t->jobs_active = pg_get_i64(res, 0, 2);
		t->db_bytes = pg_get_i64(res, 0, 3);
	}
	PQclear(res);
	return 0;
}

/* --- shared-database upkeep ---------------------------------------------- */

/* Parses an int8[] in text form ("{1,2}") into ids. */
static int
pg_parse_ids(const char *text, struct util_ids *ids)
{
	const char *p = text;
	char *end;
	long long v;

	if (*p == '{')
		p++;
	while (*p != '\0' && *p != '}') {
		v = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		if (!util_ids_has(ids, v) && util_ids_push(ids, v) != 0)
			return -1;
		p = end;
		if (*p == ',')
			p++;
	}
	return 0;
}

/*
 * Tasks the reaper sent back whose job was cancelled meanwhile get
 * their 'cancelled' result. Writes results, so it is a transaction of
 * its own that takes the results lock first.
 */
static int
pg_finish_cancels(struct pg *s, char **cause)
{
	struct pg_buf b = { 0 };
	const char *params[1];
	size_t i;

	buf_str(&b, "{");
	for (i = 0; i < s->cancels.n; i++) {
		if (i > 0)
			buf_str(&b, ",");
		buf_i64(&b, s->cancels.v[i]);
	}
	buf_str(&b, "}");
	if (b.oom) {
		buf_free(&b);
		return pg_nomem(cause);
	}
	params[0] = b.p;
	if (pg_begin(s, cause) != 0)
		goto fail;
	if (pg_run_n(s, PS_LOCK_RESULTS, 0, NULL, NULL, cause,
	    "finish cancels") != 0 ||
	    pg_task_move(0, TASK_QUEUED, TASK_CANCELLED, cause) != 0 ||
	    pg_run_n(s, PS_FINISH_CANCELS_JOBS, 1, params, NULL, cause,
	    "finish cancels") != 0 ||
	    pg_commit_txn(s, cause) != 0)
		goto fail;
	buf_free(&b);
	s->cancels.n = 0;
	return 0;
fail:
	pg_rollback(s);
	buf_free(&b);
	return -1;
}

/*
 * The heartbeat, one transaction: this node's row, its leases renewed,
 * then every expired task and host lease (any node's) returned. None of
 * its statements waits for a row lock.
 */
static int
pg_heartbeat(struct store *base, int64_t in_flight, int64_t *reaped,
    char **cause)
{
	struct pg *s = PG(base);
	const char *params[2];
	char a[24], b[24];
	PGresult *res;
	int64_t n = 0;

	*reaped = 0;
	if (pg_ready(s, cause) != 0 || pg_begin(s, cause) != 0)
		return -1;
	if (pg_node_up(s, in_flight, !s->started, cause) != 0)
		goto fail;
	params[0] = s->node;
	params[1] = pg_i64(a, s->lease_ms);
	if (pg_run_n(s, PS_RENEW_TASKS, 2, params, NULL, cause,
	    "renew task leases") != 0 ||
	    pg_run_n(s, PS_RENEW_HOSTS, 2, params, NULL, cause,
	    "renew host leases") != 0)
		goto fail;
	if (pg_task_move(0, TASK_RUNNING, TASK_QUEUED, cause) != 0)
		goto fail;
	if ((res = pg_run(s, PS_REAP, 0, NULL, cause, "reap")) == NULL)
		goto fail;
	n = pg_get_i64(res, 0, 0);
	if (!PQgetisnull(res, 0, 1) &&
	    pg_parse_ids(PQgetvalue(res, 0, 1), &s->cancels) != 0) {
		PQclear(res);
		pg_nomem(cause);
		goto fail;
	}
	PQclear(res);
	params[0] = pg_i64(b, job_now_ms());
	if (pg_run_n(s, PS_FREE_HOSTS, 0, NULL, NULL, cause,
	    "free hosts") != 0 ||
	    pg_run_n(s, PS_DROP_HOSTS, 1, params, NULL, cause,
	    "drop hosts") != 0)
		goto fail;
	if (n > 0 && pg_run_n(s, PS_NOTIFY_WORK, 0, NULL, NULL, cause,
	    "notify") != 0)
		goto fail;
	if (pg_commit_txn(s, cause) != 0)
		goto fail;
	s->started = 1;
	*reaped = n;
	if (n > 0)
		log_info("store: %lld tasks of expired leases back in the "
		    "queue", (long long)n);
	/* Kept until it works: the tasks are no longer expired leases. */
	if (s->cancels.n > 0 && pg_finish_cancels(s, cause) != 0)
		return -1;
	return 0;
fail:
	pg_rollback(s);
	return -1;
}

static int
pg_release_hosts(struct store *base, const struct store_host_release *v,
    size_t n, char **cause)
{
	struct pg *s = PG(base);
	struct pg_buf hosts = { 0 }, next = { 0 };
	const char *params[3];
	size_t i;
	int rc = -1;

	if (pg_ready(s, cause) != 0)
		return -1;
	buf_str(&hosts, "{");
	buf_str(&next, "{");
	for (i = 0; i < n; i++) {
		if (i > 0) {
			buf_str(&hosts, ",");
			buf_str(&next, ",");
		}
		buf_text_elem(&hosts, v[i].host);
		buf_i64(&next, v[i].next_allowed_ms);
	}
	buf_str(&hosts, "}");
	buf_str(&next, "}");
	if (hosts.oom || next.oom) {
		pg_nomem(cause);
		goto out;
	}
	params[0] = s->node;
	params[1] = hosts.p;
	params[2] = next.p;
	rc = pg_run_n(s, PS_RELEASE_HOSTS, 3, params, NULL, cause,
	    "release hosts");
out:
	buf_free(&hosts);
	buf_free(&next);
	return rc;
}

static int
pg_nodes(struct store *base, store_node_cb cb, void *arg, char **cause)
{
	struct pg *s = PG(base);
	struct store_node node;
	const char *params[1];
	PGresult *res;
	char a[24];
	int i, n;

	if (pg_ready(s, cause) != 0)
		return -1;
	params[0] = pg_i64(a, s->lease_ms);
	if ((res = pg_run(s, PS_NODES, 1, params, cause, "nodes")) == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		node.name = PQgetvalue(res, i, 0);
		node.version = PQgetvalue(res, i, 1);
		node.started_at = PQgetvalue(res, i, 2);
		node.heartbeat_at = PQgetvalue(res, i, 3);
		node.in_flight = pg_get_i64(res, i, 4);
		node.alive = strcmp(PQgetvalue(res, i, 5), "t") == 0;
		if (cb(&node, arg) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

/* --- LISTEN ---------------------------------------------------------------- */

static int
pg_listen_all(PGconn *conn, const char *name, char **cause)
{
	PGresult *res;
	char *text;

	if (pg_session(conn, 0, name, cause) != 0)
		return -1;
	res = PQexec(conn, "LISTEN harvest_work; LISTEN harvest_cancel;"
	    " LISTEN harvest_done");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		text = pg_flatten(PQerrorMessage(conn));
		*cause = util_asprintf("LISTEN (%s): %s", name,
		    text != NULL ? text : "");
		free(text);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

static void
pg_listener_close(struct pg_listener *l)
{
	if (l == NULL)
		return;
	PQfinish(l->conn);
	free(l->name);
	free(l);
}

static struct pg_listener *
pg_listen(const char *db, char **cause)
{
	struct pg_listener *l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		*cause = util_asprintf("out of memory");
		return NULL;
	}
	l->base.ops = &store_pg_ops;
	if ((l->conn = pg_connect(db, &l->fatal, &l->name, cause)) == NULL ||
	    pg_listen_all(l->conn, l->name, cause) != 0) {
		pg_listener_close(l);
		return NULL;
	}
	return l;
}

static int
pg_listener_fd(const struct pg_listener *l)
{
	if (PQstatus(l->conn) != CONNECTION_OK)
		return -1;
	return PQsocket(l->conn);
}

/* An event's job id: the payload, a decimal id; 0 when it is none. */
static int64_t
pg_payload_id(const char *p)
{
	char *end;
	long long v;

	if (p == NULL || *p == '\0')
		return 0;
	v = strtoll(p, &end, 10);
	if (*end != '\0' || v <= 0)
		return 0;
	return v;
}

static int
pg_listener_read(struct pg_listener *l, store_event_cb cb, void *arg,
    char **cause)
{
	PGnotify *n;
	int64_t id;
	char *text;

	if (PQconsumeInput(l->conn) == 0 ||
	    PQstatus(l->conn) != CONNECTION_OK) {
		text = pg_flatten(PQerrorMessage(l->conn));
		*cause = util_asprintf("lost the connection to PostgreSQL "
		    "(%s) that listens for events: %s", l->name,
		    text != NULL ? text : "");
		free(text);
		return -1;
	}
	/* Work sent while it was away is found by looking again. */
	if (l->missed) {
		l->missed = 0;
		cb(STORE_EV_WORK, 0, arg);
	}
	/* What arrived before the end is still delivered. */
	while ((n = PQnotifies(l->conn)) != NULL) {
		id = pg_payload_id(n->extra);
		if (strcmp(n->relname, "harvest_work") == 0)
			cb(STORE_EV_WORK, 0, arg);
		else if (strcmp(n->relname, "harvest_cancel") == 0 && id > 0)
			cb(STORE_EV_CANCEL, id, arg);
		else if (strcmp(n->relname, "harvest_done") == 0 && id > 0)
			cb(STORE_EV_DONE, id, arg);
		else
			log_debug("%s: ignored %s", __func__, n->relname);
		PQfreemem(n);
	}
	if (l->fatal) {
		*cause = util_asprintf("lost the connection to PostgreSQL "
		    "(%s) that listens for events: the server closed it",
		    l->name);
		return -1;
	}
	return 0;
}

static int
pg_listener_reset(struct pg_listener *l, char **cause)
{
	char *text;

	l->fatal = 0;
	PQreset(l->conn);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		text = pg_flatten(PQerrorMessage(l->conn));
		*cause = util_asprintf("cannot reconnect to PostgreSQL (%s): "
		    "%s", l->name, text != NULL ? text : "");
		free(text);
		return -1;
	}
	if (pg_listen_all(l->conn, l->name, cause) != 0)
		return -1;
	l->missed = 1;
	return 0;
}

/* --- the operations table ------------------------------------------------ */


_Static_assert(PG_NITEMS(pg_migrations) == STORE_PG_SCHEMA_VERSION,
    "STORE_PG_SCHEMA_VERSION is the number of PostgreSQL migrations");
_Static_assert(TASK_NSTATES == 5, "PG_JOB_COLUMNS counts five states");

static struct store *
op_open(const char *db, const struct store_opts *o, char **cause)
{
	struct pg *s = pg_open(db, o, cause);

	return s != NULL ? &s->base : NULL;
}

static void
op_close(struct store *b)
{
	pg_close(PG(b));
}

static struct store_listener *
op_listen(const char *db, char **cause)
{
	struct pg_listener *l = pg_listen(db, cause);

	return l != NULL ? &l->base : NULL;
}

static int
op_listener_fd(const struct store_listener *l)
{
	return pg_listener_fd((const struct pg_listener *)(const void *)l);
}

static int
op_listener_read(struct store_listener *l, store_event_cb cb, void *arg,
    char **cause)
{
	return pg_listener_read(PGL(l), cb, arg, cause);
}

static int
op_listener_reset(struct store_listener *l, char **cause)
{
	return pg_listener_reset(PGL(l), cause);
}

static void
op_listener_close(struct store_listener *l)
{
	pg_listener_close(PGL(l));
}

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.open = op_open,
	.close = op_close,
	.schema_version = pg_schema_version,
	.recover = pg_recover,
	.job_create = pg_job_create,
	.job_get = pg_job_get,
	.job_list = pg_job_list,
	.job_cancel_step = pg_job_cancel_step,
	.job_purge_step = pg_job_purge_step,
	.job_expired = pg_job_expired,
	.job_failed = pg_job_failed,
	.claim_begin = pg_claim_begin,
	.claim_jobs = pg_claim_jobs,
	.claim_tasks = pg_claim_tasks,
	.claim_options = pg_claim_options,
	.claim_next_due = pg_claim_next_due,
	.claim_end = pg_claim_end,
	.commit = pg_commit,
	.results_page = pg_results_page,
	.results_last = pg_results_last,
	.result_body = pg_result_body,
	.totals = pg_totals,
	.checkpoint = NULL,
	.heartbeat = pg_heartbeat,
	.release_hosts = pg_release_hosts,
	.nodes = pg_nodes,
	.listen = op_listen,
	.listener_fd = op_listener_fd,
	.listener_read = op_listener_read,
	.listener_reset = op_listener_reset,
	.listener_close = op_listener_close,
};
