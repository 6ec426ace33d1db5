/*
 * Schema migrations, applied in order; migration N brings user_version from
 * N-1 to N. Never edit a released migration: append a new one. Documented
 * for users in docs/schema.md.
 */
static const char *const store_migrations[] = {
	/* 1: jobs, tasks, results and the convenience views. */
	"CREATE TABLE jobs ("
	"  id          INTEGER PRIMARY KEY,"
	"  state       TEXT NOT NULL DEFAULT 'queued'"
	"              CHECK (state IN ('queued','running','done','cancelled')),"
	"  options     TEXT NOT NULL DEFAULT '{}',"
	"  total       INTEGER NOT NULL,"
	"  created_at  TEXT NOT NULL,"
	"  finished_at TEXT"
	");"
	"CREATE TABLE tasks ("
	"  id              INTEGER PRIMARY KEY,"
	"  job_id          INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  url             TEXT NOT NULL,"
	"  host            TEXT NOT NULL,"
	"  state           TEXT NOT NULL DEFAULT 'queued'"
	"                  CHECK (state IN ('queued','running','done','failed',"
	"                                   'cancelled')),"
	"  attempts        INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at INTEGER NOT NULL DEFAULT 0,"
	"  priority        INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tasks_queued ON tasks(priority DESC, id)"
	"  WHERE state = 'queued';"
	"CREATE INDEX tasks_job_state ON tasks(job_id, state);"
	"CREATE INDEX tasks_running ON tasks(id) WHERE state = 'running';"
	"CREATE TABLE results ("
	"  id              INTEGER PRIMARY KEY,"
	"  task_id         INTEGER NOT NULL UNIQUE"
	"                  REFERENCES tasks(id) ON DELETE CASCADE,"
	"  job_id          INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  url             TEXT NOT NULL,"
	"  final_url       TEXT,"
	"  status          INTEGER,"
	"  content_type    TEXT,"
	"  headers         TEXT,"
	"  body            BLOB,"
	"  body_size       INTEGER NOT NULL DEFAULT 0,"
	"  truncated       INTEGER NOT NULL DEFAULT 0,"
	"  content_length  INTEGER,"
	"  redirect_count  INTEGER NOT NULL DEFAULT 0,"
	"  time_dns_ms     REAL,"
	"  time_connect_ms REAL,"
	"  time_tls_ms     REAL,"
	"  time_ttfb_ms    REAL,"
	"  time_total_ms   REAL,"
	"  attempts        INTEGER NOT NULL DEFAULT 1,"
	"  fetched_at      TEXT NOT NULL,"
	"  error_kind      TEXT,"
	"  error_message   TEXT"
	");"
	"CREATE INDEX results_job ON results(job_id, id);"
	"CREATE VIEW job_progress AS"
	"  SELECT j.id AS job_id, j.state, j.total,"
	"    (SELECT count(*) FROM tasks t WHERE t.job_id = j.id"
	"       AND t.state = 'queued') AS queued,"
	"    (SELECT count(*) FROM tasks t WHERE t.job_id = j.id"
	"       AND t.state = 'running') AS running,"
	"    (SELECT count(*) FROM tasks t WHERE t.job_id = j.id"
	"       AND t.state = 'done') AS done,"
	"    (SELECT count(*) FROM tasks t WHERE t.job_id = j.id"
	"       AND t.state = 'failed') AS failed,"
	"    (SELECT count(*) FROM tasks t WHERE t.job_id = j.id"
	"       AND t.state = 'cancelled') AS cancelled,"
	"    j.created_at, j.finished_at"
	"  FROM jobs j;"
	"CREATE VIEW results_brief AS"
	"  SELECT id, job_id, url, status, error_kind, content_type, body_size,"
	"         truncated, round(time_total_ms, 1) AS ms, attempts, fetched_at"
	"  FROM results;"
	"CREATE VIEW failures AS"
	"  SELECT id, job_id, url, status, error_kind, error_message, attempts,"
	"         fetched_at"
	"  FROM results WHERE error_kind IS NOT NULL;"
	"CREATE VIEW error_summary AS"
	"  SELECT job_id, error_kind, count(*) AS n FROM results"
	"  WHERE error_kind IS NOT NULL GROUP BY job_id, error_kind;",
	/* 2: job priority, for dispatch order and fair claims. */
	"ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX jobs_active ON jobs(priority DESC, id)"
	"  WHERE state IN ('queued', 'running');"
	"CREATE INDEX tasks_job_queued ON tasks(job_id, id)"
	"  WHERE state = 'queued';"
	"CREATE INDEX tasks_due ON tasks(next_attempt_at)"
	"  WHERE state = 'queued';"
	"DROP INDEX tasks_queued;",
	/* 3: claims read only due tasks, whatever the retry backlog. */
	"CREATE INDEX tasks_job_due ON tasks(job_id, next_attempt_at, id)"
	"  WHERE state = 'queued';"
	"DROP INDEX tasks_job_queued;",
	/* 4: crawls (kind, depth, parent of a task; a job's seen URLs), the
	 * extracted fields of a result, and counts by state kept on the job
	 * in the transactions that change them (status is never a count). */
	"ALTER TABLE tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'page'"
	"  CHECK (kind IN ('page','sitemap','robots'));"
	"ALTER TABLE tasks ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN parent_id INTEGER;"
	"ALTER TABLE results ADD COLUMN fields TEXT;"
	"CREATE TABLE crawl_seen ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  key    TEXT NOT NULL,"
	"  PRIMARY KEY (job_id, key)"
	") WITHOUT ROWID;"
	"ALTER TABLE jobs ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN running INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN done INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;"
	"UPDATE jobs SET"
	"  queued = (SELECT count(*) FROM tasks t WHERE t.job_id = jobs.id"
	"    AND t.state = 'queued'),"
	"  running = (SELECT count(*) FROM tasks t WHERE t.job_id = jobs.id"
	"    AND t.state = 'running'),"
	"  done = (SELECT count(*) FROM tasks t WHERE t.job_id = jobs.id"
	"    AND t.state = 'done'),"
	"  failed = (SELECT count(*) FROM tasks t WHERE t.job_id = jobs.id"
	"    AND t.state = 'failed'),"
	"  cancelled = (SELECT count(*) FROM tasks t WHERE t.job_id = jobs.id"
	"    AND t.state = 'cancelled');"
	"CREATE TRIGGER tasks_counts AFTER UPDATE OF state ON tasks"
	"  WHEN OLD.state <> NEW.state BEGIN"
	"  UPDATE jobs SET"
	"    queued = queued - (OLD.state = 'queued') + (NEW.state = 'queued'),"
	"    running = running - (OLD.state = 'running')"
	"      + (NEW.state = 'running'),"
	"    done = done - (OLD.state = 'done') + (NEW.state = 'done'),"
	"    failed = failed - (OLD.state = 'failed') + (NEW.state = 'failed'),"
	"    cancelled = cancelled - (OLD.state = 'cancelled')"
	"      + (NEW.state = 'cancelled')"
	"  WHERE id = NEW.job_id;"
	"END;"
	"DROP VIEW job_progress;"
	"CREATE VIEW job_progress AS"
	"  SELECT id AS job_id, state, total, queued, running, done, failed,"
	"    cancelled, created_at, finished_at"
	"  FROM jobs;",
	/* 5: the CHECKs on states and kinds as OR chains (sqlite.c does it:
	 * sq_checks_rewrite); nothing here. */
	"",
	/* 6: the counts by state are kept by the statements that move tasks
	 * (sqlite.c: sq_counted), a sum per job per transaction instead of
	 * an UPDATE of jobs per task; running tasks are found at start-up
	 * through their jobs, not by an index every claim and commit keeps. */
	"DROP TRIGGER tasks_counts;"
	"DROP INDEX tasks_running;",
};

/*
 * Migration 5. SQLite evaluates "x IN (three or more constants)" by
 * building a temporary b-tree each time, so these CHECKs cost a page
 * allocation and a 4 KiB memset on every task insert and state change.
 * The same constraints as OR chains cost a few comparisons. Rewritten in
 * sqlite_schema (the documented way to change a CHECK: the tables' bytes
 * do not change).
 */
static const struct {
	const char	*table;
	const char	*from;
	const char	*to;
} store_checks_rewrite[] = {
	{ "tasks",
	  "CHECK (state IN ('queued','running','done','failed',"
	  "                                   'cancelled'))",
	  "CHECK (state = 'queued' OR state = 'running' OR state = 'done'"
	  " OR state = 'failed' OR state = 'cancelled')" },
	{ "tasks",
	  "CHECK (kind IN ('page','sitemap','robots'))",
	  "CHECK (kind = 'page' OR kind = 'sitemap' OR kind = 'robots')" },
	{ "jobs",
	  "CHECK (state IN ('queued','running','done','cancelled'))",
	  "CHECK (state = 'queued' OR state = 'running' OR state = 'done'"
	  " OR state = 'cancelled')" },
};
