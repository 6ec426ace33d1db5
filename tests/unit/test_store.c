/*
 * The store conformance suite: every test runs against SQLite (a
 * temporary file) and, when HARVESTD_TEST_PG names a PostgreSQL database
 * (tests/unit/test_store_pg.sh starts one), against PostgreSQL too, each
 * test in a fresh schema — with the same assertions. Schema, job
 * creation, claims, commits, recovery, cancellation, purges and the
 * exactly-once guarantee. What only a shared database does (leases
 * between nodes, events) is in test_store_pg.c.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log/log.h"
#include "store/store.h"
#include "tests/unit/store_fixture.h"

static void
test_schema(void **state)
{
	struct fixture *f = *state;
	int version = f->pg ? STORE_PG_SCHEMA_VERSION : STORE_SCHEMA_VERSION;
	struct store *again;

	assert_string_equal(store_backend_name(f->s),
	    f->pg ? "postgresql" : "sqlite");
	assert_int_equal(store_schema_version(f->s), version);
	if (!f->pg)
		assert_true(fixture_int(f, "PRAGMA journal_mode = WAL") >= 0);
	/* Opening again migrates nothing and keeps the version. */
	again = fixture_open(f, "node-a");
	assert_int_equal(store_schema_version(again), version);
	store_close(again);
	assert_int_equal(fixture_int2(f,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'view'",
	    "SELECT count(*) FROM information_schema.views"
	    " WHERE table_schema = current_schema()"), 4);
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct store_opts so;
	char *cause = NULL;

	fixture_exec2(f, "PRAGMA user_version = 99",
	    "UPDATE harvestd_schema SET version = 99");
	fixture_opts(&so, "node-a", 30000);
	assert_null(store_open(f->db, &so, &cause));
	assert_non_null(strstr(cause, "newer"));
	free(cause);
}

static void
test_create_and_get(void **state)
{
	struct fixture *f = *state;
	struct store_job j;
	char *cause = NULL;
	int64_t id = fixture_job(f->s, 3);

	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_int_equal(j.id, id);
	assert_string_equal(j.state, "queued");
	assert_int_equal(j.total, 3);
	assert_int_equal(j.counts[STORE_TASK_QUEUED], 3);
	assert_string_equal(j.options, "{\"concurrency\":2}");
	assert_null(j.finished_at);
	store_job_clear(&j);
	assert_int_equal(store_job_get(f->s, id + 100, &j, &cause), 1);
}

static void
test_claim_commit_done(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t, *next;
	struct result *r1, *r2;
	struct store_job j;
	size_t n, committed;
	char *cause = NULL;
	int64_t id = fixture_job(f->s, 3), due;
	struct store_ref requeue;

	assert_int_equal(store_claim(f->s, 2, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 2);
	assert_non_null(list);
	assert_true(list->id < list->next->id);
	assert_int_equal(list->opts.concurrency, 2);
	assert_string_equal(list->url, "http://h0.test/p");
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_string_equal(j.state, "running");
	assert_int_equal(j.counts[STORE_TASK_RUNNING], 2);
	store_job_clear(&j);

	/* First task succeeds; the second goes back without an attempt. */
	r1 = fixture_ok(list);
	requeue.task_id = list->next->id;
	requeue.lease = list->next->lease;
	assert_int_equal(store_commit(f->s, r1, &requeue, 1, NULL, 0, &committed, NULL, NULL,
	    &cause), 0);
	assert_int_equal(committed, 1);
	result_free(r1);
	for (t = list; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}
	assert_int_equal(fixture_int(f,
	    "SELECT count(*) FROM tasks WHERE state = 'queued'"), 2);
	assert_int_equal(fixture_int(f,
	    "SELECT attempts FROM tasks WHERE state = 'done'"), 1);

	/* The last two: one failure, one success; then the job is done. */
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list->attempts, 0);
	r1 = result_new_error(list, RESULT_TIMEOUT, "too slow");
	r2 = fixture_ok(list->next);
	r1->next = r2;
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause),
	    0);
	assert_int_equal(committed, 2);
	result_free(r1);
	result_free(r2);
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_string_equal(j.state, "done");
	assert_int_equal(j.counts[STORE_TASK_DONE], 2);
	assert_int_equal(j.counts[STORE_TASK_FAILED], 1);
	assert_non_null(j.finished_at);
	store_job_clear(&j);
	assert_int_equal(fixture_int(f,
	    "SELECT count(*) FROM failures WHERE error_kind = 'timeout'"), 1);

	/* A second result for a finished task is refused: exactly once. */
	r1 = fixture_ok(list);
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause),
	    0);
	assert_int_equal(committed, 0);
	result_free(r1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 3);
	for (t = list; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 0);
	assert_null(list);
}

static void
test_recover(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t, *next;
	size_t n;
	int64_t recovered, due;
	char *cause = NULL;

	fixture_job(f->s, 4);
	assert_int_equal(store_claim(f->s, 3, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 3);
	for (t = list; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}
	/* As if the process died here. */
	assert_int_equal(store_recover(f->s, &recovered, &cause), 0);
	assert_int_equal(recovered, 3);
	assert_int_equal(fixture_int(f,
	    "SELECT count(*) FROM tasks WHERE state = 'queued'"), 4);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct task *list;
	struct result *r;
	struct store_job j;
	size_t n, committed;
	char *cause = NULL;
	int changed;
	int64_t id = fixture_job(f->s, 3), due;

	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(store_job_cancel(f->s, id, &changed, &cause), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_string_equal(j.state, "cancelled");
	assert_int_equal(j.counts[STORE_TASK_CANCELLED], 2);
	assert_int_equal(j.counts[STORE_TASK_RUNNING], 1);
	store_job_clear(&j);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results "
	    "WHERE error_kind = 'cancelled'"), 2);
	/* The in-flight one ends later; the job stays cancelled. */
	r = result_new_error(list, RESULT_CANCELLED, "aborted");
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause),
	    0);
	result_free(r);
	task_free(list);
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_string_equal(j.state, "cancelled");
	assert_int_equal(j.counts[STORE_TASK_CANCELLED], 3);
	store_job_clear(&j);
	assert_int_equal(store_job_cancel(f->s, id, &changed, &cause), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(store_job_cancel(f->s, id + 9, &changed, &cause), 1);
}

static void
test_claim_skips_jobs_and_hosts(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t;
	size_t n;
	char *cause = NULL;
	int64_t a = fixture_job(f->s, 4), b = fixture_job(f->s, 2), due;
	char *const hosts[] = { "h.test" };
	struct store_skip skip_a = { &a, 1, NULL, 0, NULL, 0, 0 };
	struct store_skip skip_host = { NULL, 0, hosts, 1, NULL, 0, 0 };

	/* Every task of make_job is on h.test: skipping it claims nothing. */
	assert_int_equal(store_claim(f->s, 10, &skip_host, &list, &n, &due,
	    &cause), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_claim(f->s, 3, &skip_a, &list, &n, &due,
	    &cause), 0);
	assert_int_equal(n, 2);
	for (t = list; t != NULL; t = t->next) {
		assert_int_equal(t->job_id, b);
		assert_string_equal(t->host, "h.test");
	}
	fixture_free_tasks(list);
}

static void
test_claim_fair_and_by_priority(void **state)
{
	struct fixture *f = *state;
	struct store_url urls[6];
	struct job_opts o;
	struct task *list, *t;
	char bufs[6][32], *cause = NULL;
	int64_t a, b, hi, due;
	size_t n, i;

	memset(urls, 0, sizeof(urls));
	a = fixture_job(f->s, 6);
	b = fixture_job(f->s, 6);
	/* a and b share evenly, interleaved: a b a b ... */
	assert_int_equal(store_claim(f->s, 6, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 6);
	for (i = 0, t = list; t != NULL; t = t->next, i++)
		assert_int_equal(t->job_id, i % 2 == 0 ? a : b);
	fixture_free_tasks(list);
	/* A later job of higher priority comes first. */
	job_opts_init(&o);
	o.priority = 5;
	for (i = 0; i < 2; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "http://p%zu.test/", i);
		urls[i].url = bufs[i];
		urls[i].host = "p.test";
	}
	assert_int_equal(store_job_create(f->s, &o, urls, 2, &hi, &cause), 0);
	assert_int_equal(store_claim(f->s, 3, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 3);
	assert_int_equal(list->job_id, hi);
	assert_int_equal(list->next->job_id, hi);
	assert_int_equal(list->opts.priority, 5);
	assert_true(list->next->next->job_id == a ||
	    list->next->next->job_id == b);
	fixture_free_tasks(list);
}

/*
 * Many jobs of one priority: a claim serves a few of them, the next
 * claim the ones after, so every job gets its turn and a claim stays a
 * few statements.
 */
static void
test_claim_jobs_take_turns(void **state)
{
	struct fixture *f = *state;
	int64_t ids[12], due;
	struct task *list, *t;
	size_t n, i, seen[12];
	char *cause = NULL;

	for (i = 0; i < 12; i++)
		ids[i] = fixture_job(f->s, 4);
	memset(seen, 0, sizeof(seen));
	/* 16 tasks: two of each of the first eight jobs. */
	assert_int_equal(store_claim(f->s, 16, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 16);
	for (t = list; t != NULL; t = t->next)
		seen[t->job_id - ids[0]]++;
	for (i = 0; i < 12; i++)
		assert_int_equal(seen[i], i < 8 ? 2 : 0);
	fixture_free_tasks(list);
	/* The next: the last four jobs, then the first four again. */
	memset(seen, 0, sizeof(seen));
	assert_int_equal(store_claim(f->s, 16, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 16);
	for (t = list; t != NULL; t = t->next)
		seen[t->job_id - ids[0]]++;
	for (i = 0; i < 12; i++)
		assert_int_equal(seen[i], i < 4 || i >= 8 ? 2 : 0);
	fixture_free_tasks(list);
}

/* The job's counts by state, as job_get says, against the tasks table. */
static void
assert_counts(struct fixture *f, int64_t job)
{
	static const char *const names[TASK_NSTATES] = { "queued",
	    "running", "done", "failed", "cancelled" };
	struct store_job j;
	char sql[160], *cause = NULL;
	int k;

	assert_int_equal(store_job_get(f->s, job, &j, &cause), 0);
	for (k = 0; k < TASK_NSTATES; k++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM tasks WHERE"
		    " job_id = %lld AND state = '%s'", (long long)job,
		    names[k]);
		if (j.counts[k] != fixture_int(f, sql))
			fail_msg("%s: job says %lld, tasks %lld", names[k],
			    (long long)j.counts[k], fixture_int(f, sql));
	}
	store_job_clear(&j);
}

/*
 * The counts by state follow every move: claims, results of each end
 * state, requeues, retries, a cancel, a recovery.
 */
static void
test_counts_kept(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t;
	struct result *r1, *r2;
	struct store_ref requeue;
	struct store_retry retry;
	size_t n, committed;
	char *cause = NULL;
	int64_t id = fixture_job(f->s, 8), due, back;
	int changed;

	assert_counts(f, id);
	assert_int_equal(store_claim(f->s, 6, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 6);
	assert_counts(f, id);
	t = list;
	r1 = fixture_ok(t);
	r2 = result_new_error(t->next, RESULT_HTTP_STATUS, "404");
	r1->next = r2;
	requeue.task_id = t->next->next->id;
	requeue.lease = t->next->next->lease;
	memset(&retry, 0, sizeof(retry));
	retry.task_id = t->next->next->next->id;
	retry.lease = t->next->next->next->lease;
	retry.attempts = 1;
	retry.due_ms = 1;
	assert_int_equal(store_commit(f->s, r1, &requeue, 1, &retry, 1,
	    &committed, NULL, NULL, &cause), 0);
	assert_int_equal(committed, 2);
	assert_counts(f, id);
	fixture_free_results(r1);
	/* A cancel: the queued ones; two stay running. */
	assert_int_equal(store_job_cancel(f->s, id, &changed, &cause), 0);
	assert_counts(f, id);
	/* A restart puts the running ones back (and cancels them). */
	assert_int_equal(store_recover(f->s, &back, &cause), 0);
	assert_counts(f, id);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks WHERE"
	    " state IN ('queued', 'running')"), 0);
	fixture_free_tasks(list);
}

static void
test_retry_is_delayed(void **state)
{
	struct fixture *f = *state;
	struct task *list;
	struct store_retry retry;
	size_t n, committed;
	char *cause = NULL;
	int64_t due, when = job_now_ms() + 60000;

	fixture_job(f->s, 1);
	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 1);
	retry.task_id = list->id;
	retry.lease = list->lease;
	retry.attempts = 1;
	retry.due_ms = when;
	assert_int_equal(store_commit(f->s, NULL, NULL, 0, &retry, 1,
	    &committed, NULL, NULL, &cause), 0);
	task_free(list);
	/* Not claimable before it is due, and the claim says when. */
	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 0);
	assert_int_equal(due, when);
	assert_int_equal(fixture_int(f, "SELECT attempts FROM tasks"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 0);
}

static int
count_row(const struct store_row *r, void *arg)
{
	int *n = arg;

	assert_non_null(r->url);
	(*n)++;
	return 0;
}

static void
test_results_page(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t, *next;
	struct result *head = NULL, *r, **tail = &head;
	size_t n, committed;
	char *cause = NULL;
	int rows = 0;
	int64_t id = fixture_job(f->s, 5), due;

	assert_int_equal(store_claim(f->s, 5, NULL, &list, &n, &due, &cause), 0);
	for (t = list; t != NULL; t = t->next) {
		r = t->id % 2 ? fixture_ok(t) :
		    result_new_error(t, RESULT_DNS, "no such host");
		*tail = r;
		tail = &r->next;
	}
	assert_int_equal(store_commit(f->s, head, NULL, 0, NULL, 0, &committed, NULL, NULL,
	    &cause), 0);
	while ((r = head) != NULL) {
		head = r->next;
		result_free(r);
	}
	for (t = list; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}
	assert_int_equal(store_results_page(f->s, id, 0, 3, 0, count_row,
	    &rows, &cause), 0);
	assert_int_equal(rows, 3);
	rows = 0;
	assert_int_equal(store_results_page(f->s, id, 0, 100,
	    STORE_PAGE_FAILED, count_row, &rows, &cause), 0);
	assert_int_equal(rows, 2);
}

/* A finished job's failed tasks and options, for a retry. */
static void
test_job_failed(void **state)
{
	struct fixture *f = *state;
	struct store_failed fl;
	struct task *list, *t, *next;
	struct result *r1, *r2, *r3;
	size_t n, committed;
	char *cause = NULL;
	int64_t id = fixture_job(f->s, 3), due;

	assert_int_equal(store_job_failed(f->s, id + 1, &fl, &cause), 1);
	/* Queued, then running: still active. */
	assert_int_equal(store_job_failed(f->s, id, &fl, &cause), 2);
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_job_failed(f->s, id, &fl, &cause), 2);
	r1 = result_new_error(list, RESULT_TIMEOUT, "too slow");
	r2 = fixture_ok(list->next);
	r3 = result_new_error(list->next->next, RESULT_HTTP_STATUS, "404");
	r1->next = r2;
	r2->next = r3;
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	assert_int_equal(committed, 3);
	result_free(r1);
	result_free(r2);
	result_free(r3);
	for (t = list; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}
	if (store_job_failed(f->s, id, &fl, &cause) != 0)
		fail_msg("store_job_failed: %s", cause);
	assert_int_equal(fl.n, 2);
	assert_string_equal(fl.urls[0], "http://h0.test/p");
	assert_string_equal(fl.urls[1], "http://h2.test/p");
	assert_string_equal(fl.hosts[1], "h.test");
	assert_int_equal(fl.opts.concurrency, 2);
	store_failed_clear(&fl);
	/* A job with nothing failed: found, empty. */
	id = fixture_job(f->s, 1);
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause), 0);
	r1 = fixture_ok(list);
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	result_free(r1);
	task_free(list);
	assert_int_equal(store_job_failed(f->s, id, &fl, &cause), 0);
	assert_int_equal(fl.n, 0);
	store_failed_clear(&fl);
}


/* Whether t looks like 2026-01-02T03:04:05.678Z. */
static int
is_time(const char *t)
{
	return t != NULL && strlen(t) == 24 && t[4] == '-' && t[10] == 'T' &&
	    t[19] == '.' && t[23] == 'Z';
}

struct row_copy {
	int		 n;
	struct store_row row;
	char		 url[64];
	char		 fetched_at[32];
	char		 headers[64];
	unsigned char	 body[16];
	size_t		 body_len;
	int		 body_null;
	char		 kind[32];
};

static int
copy_row(const struct store_row *r, void *arg)
{
	struct row_copy *c = arg;

	c->n++;
	c->row = *r;
	snprintf(c->url, sizeof(c->url), "%s", r->url);
	snprintf(c->fetched_at, sizeof(c->fetched_at), "%s",
	    r->fetched_at != NULL ? r->fetched_at : "(null)");
	snprintf(c->headers, sizeof(c->headers), "%s",
	    r->headers != NULL ? r->headers : "(null)");
	snprintf(c->kind, sizeof(c->kind), "%s",
	    r->error_kind != NULL ? r->error_kind : "(null)");
	c->body_null = r->body == NULL;
	c->body_len = r->body_len;
	if (r->body != NULL && r->body_len <= sizeof(c->body))
		memcpy(c->body, r->body, r->body_len);
	c->row.url = c->row.headers = c->row.fetched_at = NULL;
	c->row.error_kind = c->row.error_message = NULL;
	c->row.final_url = c->row.content_type = NULL;
	c->row.body = NULL;
	return 0;
}

/* Every field of a result comes back as it went in, bytes and times. */
static void
test_result_fields(void **state)
{
	static const unsigned char body[] = { 'a', 0, 'b', 0xff, '\n' };
	struct fixture *f = *state;
	struct task *list;
	struct result *r1, *r2;
	struct row_copy c;
	struct store_job j;
	size_t n, committed;
	char *cause = NULL;
	int64_t id = fixture_job(f->s, 2), due;

	assert_int_equal(store_claim(f->s, 2, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	r1 = fixture_ok(list);
	r1->fetched_at_ms = 1767323045678LL;	/* 2026-01-02T03:04:05.678Z */
	r1->final_url = strdup("http://h0.test/q");
	r1->content_type = strdup("text/html");
	r1->headers = strdup("HTTP/1.1 200 OK\r\n\r\n");
	r1->body = malloc(sizeof(body));
	assert_non_null(r1->body);
	memcpy(r1->body, body, sizeof(body));
	r1->body_len = sizeof(body);
	r1->content_length = 5;
	r1->redirect_count = 2;
	r1->time_total_ms = 12.25;
	r1->time_dns_ms = 0.5;
	r2 = result_new_error(list->next, RESULT_DNS, "no such host");
	assert_non_null(r2);
	r1->next = r2;
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	assert_int_equal(committed, 2);
	fixture_free_results(r1);
	fixture_free_tasks(list);

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_results_page(f->s, id, 0, 1,
	    STORE_PAGE_BODY | STORE_PAGE_HEADERS, copy_row, &c, &cause), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.url, "http://h0.test/p");
	assert_string_equal(c.fetched_at, "2026-01-02T03:04:05.678Z");
	assert_string_equal(c.headers, "HTTP/1.1 200 OK\r\n\r\n");
	assert_string_equal(c.kind, "(null)");
	assert_int_equal(c.body_len, sizeof(body));
	assert_memory_equal(c.body, body, sizeof(body));
	assert_int_equal(c.row.status, 200);
	assert_int_equal(c.row.body_size, sizeof(body));
	assert_int_equal(c.row.content_length, 5);
	assert_int_equal(c.row.redirect_count, 2);
	assert_int_equal(c.row.attempts, 1);
	assert_true(c.row.time_total_ms == 12.25);
	assert_true(c.row.time_dns_ms == 0.5);
	assert_int_equal(c.row.job_id, id);
	/* Without the flags: no headers, no body. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_results_page(f->s, id, 0, 1, 0, copy_row, &c,
	    &cause), 0);
	assert_string_equal(c.headers, "(null)");
	assert_true(c.body_null);
	/* The failure: no status, unknown length, its kind. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_results_page(f->s, id, 0, 10,
	    STORE_PAGE_FAILED | STORE_PAGE_BODY, copy_row, &c, &cause), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.kind, "dns");
	assert_int_equal(c.row.status, 0);
	assert_int_equal(c.row.content_length, -1);
	assert_true(c.body_null);
	assert_true(is_time(c.fetched_at));

	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_string_equal(j.state, "done");
	assert_true(is_time(j.created_at));
	assert_true(is_time(j.finished_at));
	assert_true(strcmp(j.created_at, j.finished_at) <= 0);
	store_job_clear(&j);
}

/* A cancel in steps of two: every queued task gets one result. */
static void
test_cancel_steps(void **state)
{
	struct fixture *f = *state;
	struct store_job j;
	char *cause = NULL;
	int changed, more;
	int64_t written, id = fixture_job(f->s, 5);

	assert_int_equal(store_job_cancel_step(f->s, id, 2, &changed,
	    &written, &more, &cause), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(written, 2);
	assert_int_equal(more, 1);
	assert_int_equal(store_job_cancel_step(f->s, id, 2, &changed,
	    &written, &more, &cause), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(written, 2);
	assert_int_equal(more, 1);
	assert_int_equal(store_job_cancel_step(f->s, id, 2, &changed,
	    &written, &more, &cause), 0);
	assert_int_equal(written, 1);
	assert_int_equal(more, 0);
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_string_equal(j.state, "cancelled");
	assert_int_equal(j.counts[STORE_TASK_CANCELLED], 5);
	assert_true(is_time(j.finished_at));
	store_job_clear(&j);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"
	    " WHERE error_kind = 'cancelled'"), 5);
	assert_int_equal(store_job_cancel_step(f->s, id + 1, 2, &changed,
	    &written, &more, &cause), 1);
}

/* A cancel cut short between steps is finished by recover. */
static void
test_recover_finishes_cancel(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	int changed, more;
	int64_t written, n, id = fixture_job(f->s, 5);

	assert_int_equal(store_job_cancel_step(f->s, id, 2, &changed,
	    &written, &more, &cause), 0);
	assert_int_equal(more, 1);
	/* As if the process died here. */
	assert_int_equal(store_recover(f->s, &n, &cause), 0);
	assert_int_equal(n, 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE state = 'cancelled'"), 5);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 5);
}

static void
test_purge(void **state)
{
	struct fixture *f = *state;
	struct task *list;
	struct result *r, *head = NULL, **tail = &head;
	struct store_job j;
	const struct task *t;
	size_t n, committed;
	char *cause = NULL;
	int more, steps = 0;
	int64_t id = fixture_job(f->s, 3), other = fixture_job(f->s, 1), due;
	int64_t expired;

	/* Active: refused. */
	assert_int_equal(store_job_purge_step(f->s, id, 2, &more, &cause), 2);
	assert_int_equal(store_job_purge(f->s, id + 10, &cause), 1);
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 4);
	for (t = list; t != NULL; t = t->next) {
		if (t->job_id != id)
			continue;
		*tail = r = fixture_ok(t);
		tail = &r->next;
	}
	assert_int_equal(store_commit(f->s, head, NULL, 0, NULL, 0,
	    &committed, NULL, NULL, &cause), 0);
	fixture_free_results(head);
	fixture_free_tasks(list);
	/* Three results and three tasks, two rows a step. */
	do {
		assert_int_equal(store_job_purge_step(f->s, id, 2, &more,
		    &cause), 0);
		steps++;
	} while (more);
	assert_int_equal(steps, 4);
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"), 1);
	assert_int_equal(store_job_get(f->s, other, &j, &cause), 0);
	store_job_clear(&j);
	assert_int_equal(store_job_expired(f->s, 1, &expired, &cause), 1);
}

static int
collect_job(const struct store_job *j, void *arg)
{
	int64_t *ids = arg;

	assert_true(j->total > 0);
	ids[ids[0] + 1] = j->id;
	ids[0]++;
	return ids[0] == 2;	/* stops after two */
}

static void
test_job_list(void **state)
{
	struct fixture *f = *state;
	int64_t a = fixture_job(f->s, 1), b = fixture_job(f->s, 2);
	int64_t c = fixture_job(f->s, 3), ids[8];
	char *cause = NULL;

	memset(ids, 0, sizeof(ids));
	assert_int_equal(store_job_list(f->s, 0, 10, collect_job, ids,
	    &cause), 0);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], a);
	assert_int_equal(ids[2], b);
	memset(ids, 0, sizeof(ids));
	assert_int_equal(store_job_list(f->s, b, 10, collect_job, ids,
	    &cause), 0);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], c);
	memset(ids, 0, sizeof(ids));
	assert_int_equal(store_job_list(f->s, 0, 1, collect_job, ids,
	    &cause), 0);
	assert_int_equal(ids[0], 1);
}

static void
test_totals(void **state)
{
	struct fixture *f = *state;
	struct store_totals t;
	struct task *list;
	size_t n;
	int64_t due;
	char *cause = NULL;

	fixture_job(f->s, 3);
	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause),
	    0);
	fixture_free_tasks(list);
	assert_int_equal(store_totals(f->s, &t, &cause), 0);
	assert_int_equal(t.queued, 2);
	assert_int_equal(t.running, 1);
	assert_int_equal(t.jobs_active, 1);
	assert_true(t.db_bytes > 0);
}

static int
count_node(const struct store_node *n, void *arg)
{
	int *count = arg;

	assert_string_equal(n->name, "node-a");
	assert_true(n->alive);
	assert_int_equal(n->in_flight, 7);
	(*count)++;
	return 0;
}

/*
 * The shared-database calls work on both: on SQLite they do nothing,
 * and there are no nodes and no events.
 */
static void
test_shared_calls(void **state)
{
	struct fixture *f = *state;
	struct store_host_release rel = { "h.test", 0 };
	struct store_listener *l;
	char *cause = NULL;
	int64_t reaped = -1;
	int nodes = 0;

	assert_int_equal(store_heartbeat(f->s, 7, &reaped, &cause), 0);
	assert_int_equal(reaped, 0);
	assert_int_equal(store_release_hosts(f->s, &rel, 1, &cause), 0);
	assert_int_equal(store_nodes(f->s, count_node, &nodes, &cause), 0);
	assert_int_equal(nodes, f->pg ? 1 : 0);
	l = store_listen(f->db, &cause);
	if (f->pg) {
		assert_non_null(l);
		assert_true(store_listener_fd(l) >= 0);
	} else
		assert_null(l);
	store_listener_close(l);
}

/* Retries and requeues give the task back with its attempts. */
static void
test_requeue_keeps_attempts(void **state)
{
	struct fixture *f = *state;
	struct task *list;
	struct store_ref ref;
	struct store_retry retry;
	size_t n, committed;
	char *cause = NULL;
	int64_t due;

	fixture_job(f->s, 2);
	assert_int_equal(store_claim(f->s, 2, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	ref.task_id = list->id;
	ref.lease = list->lease;
	retry.task_id = list->next->id;
	retry.lease = list->next->lease;
	retry.attempts = 2;
	retry.due_ms = 1;	/* due at once */
	assert_int_equal(store_commit(f->s, NULL, &ref, 1, &retry, 1,
	    &committed, NULL, NULL, &cause), 0);
	assert_int_equal(committed, 0);
	fixture_free_tasks(list);
	assert_int_equal(store_claim(f->s, 5, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	assert_int_equal(list->attempts + list->next->attempts, 2);
	fixture_free_tasks(list);
}


/*
 * A commit that fails (here a result whose job does not exist) leaves
 * everything as it was, and the same batch committed again works.
 */
static void
test_failed_commit_retried(void **state)
{
	struct fixture *f = *state;
	struct task *list;
	struct result *r1, *r2;
	struct util_ids finished = { 0 };
	size_t n, committed;
	char *cause = NULL;
	int64_t due, job = fixture_job(f->s, 2);

	assert_int_equal(store_claim(f->s, 2, NULL, &list, &n, &due, &cause),
	    0);
	r1 = fixture_ok(list);
	r2 = fixture_ok(list->next);
	r1->next = r2;
	r2->job_id = job + 100;
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    &finished, NULL, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_int_equal(committed, 0);
	assert_int_equal(finished.n, 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE state = 'running'"), 2);
	r2->job_id = job;
	if (store_commit(f->s, r1, NULL, 0, NULL, 0, &committed, &finished, NULL,
	    &cause) != 0)
		fail_msg("commit: %s", cause);
	assert_int_equal(committed, 2);
	assert_int_equal(finished.n, 1);
	assert_int_equal(finished.v[0], job);
	util_ids_free(&finished);
	fixture_free_results(r1);
	fixture_free_tasks(list);
}

/*
 * Results never hold a URL's password, whether the fetcher wrote them or
 * a cancel did in SQL; the tasks keep it for the fetch.
 */
static void
test_results_redacted(void **state)
{
	struct fixture *f = *state;
	struct store_url urls[2] = {
		{ "http://alice:s3cret@h.test/a", "h.test", NULL,
		    TASK_KIND_PAGE },
		{ "http://alice:s3cret@h.test/b", "h.test", NULL,
		    TASK_KIND_PAGE },
	};
	struct job_opts o;
	struct task *list;
	struct result *r;
	size_t n, committed;
	char *cause = NULL;
	int64_t id, due;
	int changed;

	job_opts_init(&o);
	assert_int_equal(store_job_create(f->s, &o, urls, 2, &id, &cause), 0);
	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 1);
	r = fixture_ok(list);
	r->final_url = strdup("http://alice:s3cret@h.test/a?final");
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	result_free(r);
	fixture_free_tasks(list);
	/* The second task is still queued: the cancel writes its result. */
	assert_int_equal(store_job_cancel(f->s, id, &changed, &cause), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"
	    " WHERE url LIKE '%s3cret%' OR final_url LIKE '%s3cret%'"), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results WHERE"
	    " url IN ('http://alice:***@h.test/a',"
	    " 'http://alice:***@h.test/b')"), 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results WHERE"
	    " final_url = 'http://alice:***@h.test/a?final'"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE url LIKE '%s3cret%'"), 2);
}

struct body_read {
	unsigned char	*got;
	size_t		 len;
	size_t		 pieces;
	size_t		 stop;		/* pieces, then stop; 0: all */
};

static int
body_piece(const unsigned char *p, size_t n, void *arg)
{
	struct body_read *b = arg;

	memcpy(b->got + b->len, p, n);
	b->len += n;
	return ++b->pieces == b->stop;
}

struct page_rows {
	int64_t		 ids[8];
	size_t		 lens[8];
	int		 loaded[8];
	size_t		 n;
};

static int
page_row(const struct store_row *r, void *arg)
{
	struct page_rows *p = arg;

	p->ids[p->n] = r->id;
	p->lens[p->n] = r->body_len;
	p->loaded[p->n++] = r->body != NULL;
	return 0;
}

/* What the streaming export reads: page ends, body sizes, body pieces. */
static void
test_results_stream_reads(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t;
	struct result *head = NULL, **tail = &head, *r;
	struct body_read b;
	struct page_rows p;
	size_t n, committed, big = STORE_BODY_SMALL + 12345, i;
	char *cause = NULL;
	int64_t id = fixture_job(f->s, 3), due, last, size, first;

	assert_int_equal(store_claim(f->s, 3, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 3);
	for (i = 0, t = list; t != NULL; t = t->next, i++) {
		r = fixture_ok(t);
		if (i == 0) {		/* big, and failed */
			r->kind = RESULT_HTTP_STATUS;
			r->body_len = big;
			r->body = malloc(big);
			for (n = 0; n < big; n++)
				r->body[n] = (unsigned char)(n * 7);
		} else if (i == 1) {	/* small */
			r->body_len = 5;
			r->body = (unsigned char *)strdup("hello");
		}			/* and none */
		*tail = r;
		tail = &r->next;
	}
	assert_int_equal(store_commit(f->s, head, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	assert_int_equal(committed, 3);
	fixture_free_results(head);
	fixture_free_tasks(list);
	first = fixture_int(f, "SELECT min(id) FROM results");

	/* The last id of a page, from ids alone; 0 for an empty page. */
	assert_int_equal(store_results_last(f->s, id, 0, 2, 0, &last, &cause),
	    0);
	assert_int_equal(last, first + 1);
	assert_int_equal(store_results_last(f->s, id, 0, 100, 0, &last,
	    &cause), 0);
	assert_int_equal(last, first + 2);
	assert_int_equal(store_results_last(f->s, id, first + 2, 100, 0,
	    &last, &cause), 0);
	assert_int_equal(last, 0);
	assert_int_equal(store_results_last(f->s, id, 0, 100,
	    STORE_PAGE_FAILED, &last, &cause), 0);
	assert_int_equal(last, first);
	assert_int_equal(store_results_last(f->s, id + 1, 0, 100, 0, &last,
	    &cause), 0);
	assert_int_equal(last, 0);

	/* Small bodies come with the row, big ones only as a size. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(store_results_page(f->s, id, 0, 10,
	    STORE_PAGE_BODY_SMALL, page_row, &p, &cause), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.lens[0], big);
	assert_false(p.loaded[0]);
	assert_int_equal(p.lens[1], 5);
	assert_true(p.loaded[1]);
	assert_int_equal(p.lens[2], 0);
	assert_false(p.loaded[2]);

	/* A body read whole in pieces, or from an offset, or stopped. */
	memset(&b, 0, sizeof(b));
	b.got = malloc(big);
	assert_int_equal(store_result_body(f->s, first, 0,
	    (unsigned char[1000]){0}, 1000, body_piece, &b, &size, &cause), 0);
	assert_int_equal(size, big);
	assert_int_equal(b.len, big);
	assert_int_equal(b.pieces, (big + 999) / 1000);
	for (n = 0; n < big; n++)
		if (b.got[n] != (unsigned char)(n * 7))
			fail_msg("byte %zu differs", n);
	memset(b.got, 0, big);
	b.len = b.pieces = 0;
	b.stop = 2;
	assert_int_equal(store_result_body(f->s, first, (int64_t)big - 1500,
	    (unsigned char[1000]){0}, 1000, body_piece, &b, &size, &cause), 0);
	assert_int_equal(b.len, 1500);
	assert_int_equal(b.got[0], (unsigned char)((big - 1500) * 7));
	b.len = b.pieces = 0;
	b.stop = 1;
	assert_int_equal(store_result_body(f->s, first, 0,
	    (unsigned char[1000]){0}, 1000, body_piece, &b, &size, &cause), 0);
	assert_int_equal(b.len, 1000);
	free(b.got);
	/* No body, no row: an error, not a crash. */
	assert_int_equal(store_result_body(f->s, first + 2, 0,
	    (unsigned char[16]){0}, 16, body_piece, &b, &size, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_int_equal(store_result_body(f->s, first + 99, 0,
	    (unsigned char[16]){0}, 16, body_piece, &b, &size, &cause), -1);
	free(cause);
}

/*
 * A crawl: seeds are seen, found links become tasks of the job with kind,
 * depth and parent, each key once, within the job's max; a job's counts
 * and its end see them; a result's fields are kept as written.
 */
static void
test_crawl_links(void **state)
{
	struct fixture *f = *state;
	struct store_url urls[2] = {
		{ "http://h.test/", "h.test", NULL, TASK_KIND_PAGE },
		{ "http://h.test/sitemap.xml", "h.test", NULL,
		    TASK_KIND_SITEMAP },
	};
	struct job_opts o;
	struct store_job j;
	struct task *list, *t, *page = NULL;
	struct result *r;
	size_t n, committed, added;
	char *cause = NULL;
	int64_t id, due;
	char sql[256];

	job_opts_init(&o);
	o.follow = strdup("{\"scope\":\"host\"}");
	assert_int_equal(store_job_create(f->s, &o, urls, 2, &id, &cause), 0);
	job_opts_clear(&o);
	assert_int_equal(store_claim(f->s, 2, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	for (t = list; t != NULL; t = t->next)
		if (t->kind == TASK_KIND_PAGE)
			page = t;
	assert_non_null(page);
	assert_int_equal(page->depth, 0);
	r = fixture_ok(page);
	r->fields = strdup("{\"title\":\"Home\",\"n\":2}");
	r->links_max = 4;	/* two tasks now: room for two more */
	/* The seed again (seen), a link twice, then two more than fit. */
	assert_int_equal(result_add_link(r, "http://h.test/", "h.test",
	    "http://h.test/", TASK_KIND_PAGE, 1), 0);
	assert_int_equal(result_add_link(r, "http://h.test/a", "h.test",
	    "http://h.test/a", TASK_KIND_PAGE, 1), 0);
	assert_int_equal(result_add_link(r, "http://h.test/a", "h.test",
	    "http://h.test/a", TASK_KIND_PAGE, 1), 0);
	assert_int_equal(result_add_link(r, "http://h.test/s2.xml", "h.test",
	    "http://h.test/s2.xml", TASK_KIND_SITEMAP, 1), 0);
	assert_int_equal(result_add_link(r, "http://h.test/c", "h.test",
	    "http://h.test/c", TASK_KIND_PAGE, 1), 0);
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, &added, &cause), 0);
	assert_int_equal(committed, 1);
	assert_int_equal(added, 2);
	result_free(r);
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_int_equal(j.total, 4);
	assert_int_equal(j.counts[TASK_QUEUED], 2);
	assert_int_equal(j.counts[TASK_RUNNING], 1);
	assert_int_equal(j.counts[TASK_DONE], 1);
	store_job_clear(&j);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM tasks WHERE"
	    " parent_id = %lld AND depth = 1 AND ((url = 'http://h.test/a'"
	    " AND kind = 'page') OR (url = 'http://h.test/s2.xml' AND"
	    " kind = 'sitemap'))", (long long)page->id);
	assert_int_equal(fixture_int(f, sql), 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks WHERE"
	    " url = 'http://h.test/c'"), 0);
	assert_int_equal(fixture_int2(f, "SELECT count(*) FROM results WHERE"
	    " json_extract(fields, '$.title') = 'Home' AND"
	    " json_extract(fields, '$.n') = 2",
	    "SELECT count(*) FROM results WHERE"
	    " json_extract(fields, '$.title') = 'Home' AND"
	    " json_extract(fields, '$.n') = '2'"), 1);
	fixture_free_tasks(list);
	/* The new tasks are claimed with their kind and depth. */
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	for (t = list; t != NULL; t = t->next) {
		assert_int_equal(t->depth, 1);
		assert_int_equal(t->kind, strcmp(t->url, "http://h.test/a") == 0 ?
		    TASK_KIND_PAGE : TASK_KIND_SITEMAP);
	}
	fixture_free_tasks(list);
}

/* How a database is named in logs and /v1/status: never a password. */
static void
test_db_display(void **state)
{
	static const struct {
		const char	*db;
		const char	*want;
	} cases[] = {
		{ "/var/lib/harvestd/harvestd.db", "/var/lib/harvestd/harvestd.db" },
		{ "postgresql://harvestd:s3cret@db.example:5433/harvest",
		    "host=db.example port=5433 dbname=harvest user=harvestd" },
		{ "postgres://db.example/harvest?password=s3cret&user=h",
		    "host=db.example dbname=harvest user=h" },
		{ "postgresql:///harvest?host=%2Ftmp%2Fpg&user=postgres",
		    "host=/tmp/pg dbname=harvest user=postgres" },
		{ "postgresql://a,b:5433/x", "host=a,b port=,5433 dbname=x" },
		{ "postgresql://[", "postgresql://(unparsable)" },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = store_db_display(cases[i].db);
		assert_non_null(got);
		assert_string_equal(got, cases[i].want);
		assert_null(strstr(got, "s3cret"));
		free(got);
	}
}

/* Every test, with a fixture of one backend. */
#define STORE_TESTS(setup) \
	cmocka_unit_test_setup_teardown(test_schema, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_create_and_get, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_claim_commit_done, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_recover, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_claim_skips_jobs_and_hosts, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_claim_fair_and_by_priority, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_claim_jobs_take_turns, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_counts_kept, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_retry_is_delayed, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_cancel, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_job_failed, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_results_page, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_result_fields, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_cancel_steps, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_recover_finishes_cancel, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_purge, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_job_list, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_totals, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_shared_calls, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_requeue_keeps_attempts, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_failed_commit_retried, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_results_redacted, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_results_stream_reads, setup, fixture_teardown), \
	cmocka_unit_test_setup_teardown(test_crawl_links, setup, fixture_teardown),

int
main(void)
{
	const struct CMUnitTest sqlite[] = { STORE_TESTS(fixture_setup_sqlite) };
	const struct CMUnitTest pg[] = { STORE_TESTS(fixture_setup_pg) };
	int failed;

	const struct CMUnitTest plain[] = { cmocka_unit_test(test_db_display) };

	failed = cmocka_run_group_tests_name("any", plain, NULL, NULL);
	failed += cmocka_run_group_tests_name("sqlite", sqlite, NULL, NULL);
	if (fixture_pg_uri() != NULL)
		failed += cmocka_run_group_tests_name("postgresql", pg, NULL,
		    NULL);
	return failed;
}
