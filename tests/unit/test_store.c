/* Unit tests for store/: schema, job creation, claim, commit, recovery,
 * cancellation and the exactly-once guarantee, on a temporary file. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log/log.h"
#include "store/store.h"

struct fixture {
	char		 path[64];
	struct store	*s;
};

static int
setup(void **state)
{
	struct store_opts so = { .busy_timeout_ms = 1000 };
	struct fixture *f = calloc(1, sizeof(*f));
	char *cause = NULL;
	int fd;

	log_init(LOG_LEVEL_ERROR);
	strcpy(f->path, "/tmp/harvestd-store-XXXXXX");
	fd = mkstemp(f->path);
	close(fd);
	unlink(f->path);
	f->s = store_open(f->path, &so, &cause);
	if (f->s == NULL)
		fail_msg("store_open: %s", cause);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[80];

	store_close(f->s);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	free(f);
	return 0;
}

/* A one-off query returning one integer, through the sqlite3 API. */
static long long
query_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int64_t
make_job(struct store *s, size_t n)
{
	struct store_url urls[8];
	struct job_opts o;
	char bufs[8][64], *cause = NULL;
	int64_t id;
	size_t i;

	assert_true(n <= 8);
	job_opts_init(&o);
	o.concurrency = 2;
	for (i = 0; i < n; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "http://h%zu.test/p", i);
		urls[i].url = bufs[i];
		urls[i].host = "h.test";
	}
	if (store_job_create(s, &o, urls, n, &id, &cause) != 0)
		fail_msg("job_create: %s", cause);
	return id;
}

static struct result *
ok_result(const struct task *t)
{
	struct result *r = result_new_error(t, RESULT_OK, "unused");

	assert_non_null(r);
	free(r->error_message);
	r->error_message = NULL;
	r->status = 200;
	return r;
}

static void
test_schema(void **state)
{
	struct fixture *f = *state;
	struct store_opts so = { .busy_timeout_ms = 1000 };
	char *cause = NULL;
	struct store *again;

	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	assert_int_equal(query_int(f->path, "PRAGMA journal_mode = WAL") >= 0,
	    1);
	/* Opening again migrates nothing and keeps the version. */
	again = store_open(f->path, &so, &cause);
	assert_non_null(again);
	assert_int_equal(store_schema_version(again), STORE_SCHEMA_VERSION);
	store_close(again);
	assert_int_equal(query_int(f->path,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'view'"), 4);
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct store_opts so = { .busy_timeout_ms = 1000 };
	char *cause = NULL;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(f->path, &so, &cause));
	assert_non_null(strstr(cause, "newer"));
	free(cause);
}

static void
test_create_and_get(void **state)
{
	struct fixture *f = *state;
	struct store_job j;
	char *cause = NULL;
	int64_t id = make_job(f->s, 3);

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
	int64_t id = make_job(f->s, 3), due;
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
	r1 = ok_result(list);
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
	assert_int_equal(query_int(f->path,
	    "SELECT count(*) FROM tasks WHERE state = 'queued'"), 2);
	assert_int_equal(query_int(f->path,
	    "SELECT attempts FROM tasks WHERE state = 'done'"), 1);

	/* The last two: one failure, one success; then the job is done. */
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list->attempts, 0);
	r1 = result_new_error(list, RESULT_TIMEOUT, "too slow");
	r2 = ok_result(list->next);
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
	assert_int_equal(query_int(f->path,
	    "SELECT count(*) FROM failures WHERE error_kind = 'timeout'"), 1);

	/* A second result for a finished task is refused: exactly once. */
	r1 = ok_result(list);
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause),
	    0);
	assert_int_equal(committed, 0);
	result_free(r1);
	assert_int_equal(query_int(f->path, "SELECT count(*) FROM results"), 3);
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

	make_job(f->s, 4);
	assert_int_equal(store_claim(f->s, 3, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 3);
	for (t = list; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}
	/* As if the process died here. */
	assert_int_equal(store_recover(f->s, &recovered, &cause), 0);
	assert_int_equal(recovered, 3);
	assert_int_equal(query_int(f->path,
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
	int64_t id = make_job(f->s, 3), due;

	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(store_job_cancel(f->s, id, &changed, &cause), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(store_job_get(f->s, id, &j, &cause), 0);
	assert_string_equal(j.state, "cancelled");
	assert_int_equal(j.counts[STORE_TASK_CANCELLED], 2);
	assert_int_equal(j.counts[STORE_TASK_RUNNING], 1);
	store_job_clear(&j);
	assert_int_equal(query_int(f->path, "SELECT count(*) FROM results "
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
free_list(struct task *list)
{
	struct task *next;

	for (; list != NULL; list = next) {
		next = list->next;
		task_free(list);
	}
}

static void
test_claim_skips_jobs_and_hosts(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t;
	size_t n;
	char *cause = NULL;
	int64_t a = make_job(f->s, 4), b = make_job(f->s, 2), due;
	char *const hosts[] = { "h.test" };
	struct store_skip skip_a = { &a, 1, NULL, 0, NULL };
	struct store_skip skip_host = { NULL, 0, hosts, 1, NULL };

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
	free_list(list);
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

	a = make_job(f->s, 6);
	b = make_job(f->s, 6);
	/* a and b share evenly, interleaved: a b a b ... */
	assert_int_equal(store_claim(f->s, 6, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 6);
	for (i = 0, t = list; t != NULL; t = t->next, i++)
		assert_int_equal(t->job_id, i % 2 == 0 ? a : b);
	free_list(list);
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
	free_list(list);
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

	make_job(f->s, 1);
	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 1);
	retry.task_id = list->id;
	retry.attempts = 1;
	retry.due_ms = when;
	assert_int_equal(store_commit(f->s, NULL, NULL, 0, &retry, 1,
	    &committed, NULL, NULL, &cause), 0);
	task_free(list);
	/* Not claimable before it is due, and the claim says when. */
	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 0);
	assert_int_equal(due, when);
	assert_int_equal(query_int(f->path, "SELECT attempts FROM tasks"), 1);
	assert_int_equal(query_int(f->path, "SELECT count(*) FROM results"), 0);
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
	int64_t id = make_job(f->s, 5), due;

	assert_int_equal(store_claim(f->s, 5, NULL, &list, &n, &due, &cause), 0);
	for (t = list; t != NULL; t = t->next) {
		r = t->id % 2 ? ok_result(t) :
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
	int64_t id = make_job(f->s, 3), due;

	assert_int_equal(store_job_failed(f->s, id + 1, &fl, &cause), 1);
	/* Queued, then running: still active. */
	assert_int_equal(store_job_failed(f->s, id, &fl, &cause), 2);
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_job_failed(f->s, id, &fl, &cause), 2);
	r1 = result_new_error(list, RESULT_TIMEOUT, "too slow");
	r2 = ok_result(list->next);
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
	id = make_job(f->s, 1);
	assert_int_equal(store_claim(f->s, 10, NULL, &list, &n, &due, &cause), 0);
	r1 = ok_result(list);
	assert_int_equal(store_commit(f->s, r1, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	result_free(r1);
	task_free(list);
	assert_int_equal(store_job_failed(f->s, id, &fl, &cause), 0);
	assert_int_equal(fl.n, 0);
	store_failed_clear(&fl);
}

/* A one-off query returning one text value (allocated), read-only. */
static char *
query_text(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *v = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
assert_query_text(const char *path, const char *sql, const char *want)
{
	char *got = query_text(path, sql);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
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
		{ "http://alice:s3cret@h.test/a", "h.test" },
		{ "http://alice:s3cret@h.test/b", "h.test" },
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
	r = ok_result(list);
	r->final_url = strdup("http://alice:s3cret@h.test/a?final");
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	result_free(r);
	task_free(list);
	/* The second task is still queued: the cancel writes its result. */
	assert_int_equal(store_job_cancel(f->s, id, &changed, &cause), 0);
	assert_int_equal(query_int(f->path, "SELECT count(*) FROM results"),
	    2);
	assert_int_equal(query_int(f->path, "SELECT count(*) FROM results"
	    " WHERE url LIKE '%s3cret%' OR final_url LIKE '%s3cret%'"), 0);
	assert_query_text(f->path, "SELECT group_concat(url, ' ') FROM"
	    " (SELECT url FROM results ORDER BY id)",
	    "http://alice:***@h.test/a http://alice:***@h.test/b");
	assert_query_text(f->path, "SELECT final_url FROM results WHERE"
	    " final_url IS NOT NULL", "http://alice:***@h.test/a?final");
	assert_int_equal(query_int(f->path, "SELECT count(*) FROM tasks"
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
	struct task *list, *t, *next;
	struct result *head = NULL, **tail = &head, *r;
	struct body_read b;
	struct page_rows p;
	size_t n, committed, big = STORE_BODY_SMALL + 12345, i;
	char *cause = NULL;
	int64_t id = make_job(f->s, 3), due, last, size;

	assert_int_equal(store_claim(f->s, 3, NULL, &list, &n, &due, &cause),
	    0);
	assert_int_equal(n, 3);
	for (i = 0, t = list; t != NULL; t = t->next, i++) {
		r = ok_result(t);
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
	while ((r = head) != NULL) {
		head = r->next;
		result_free(r);
	}
	for (t = list; t != NULL; t = next) {
		next = t->next;
		task_free(t);
	}

	/* The last id of a page, from ids alone; 0 for an empty page. */
	assert_int_equal(store_results_last(f->s, id, 0, 2, 0, &last, &cause),
	    0);
	assert_int_equal(last, 2);
	assert_int_equal(store_results_last(f->s, id, 0, 100, 0, &last,
	    &cause), 0);
	assert_int_equal(last, 3);
	assert_int_equal(store_results_last(f->s, id, 3, 100, 0, &last,
	    &cause), 0);
	assert_int_equal(last, 0);
	assert_int_equal(store_results_last(f->s, id, 0, 100,
	    STORE_PAGE_FAILED, &last, &cause), 0);
	assert_int_equal(last, 1);
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
	assert_int_equal(store_result_body(f->s, 1, 0, (unsigned char[1000]){0},
	    1000, body_piece, &b, &size, &cause), 0);
	assert_int_equal(size, big);
	assert_int_equal(b.len, big);
	assert_int_equal(b.pieces, (big + 999) / 1000);
	for (n = 0; n < big; n++)
		if (b.got[n] != (unsigned char)(n * 7))
			fail_msg("byte %zu differs", n);
	memset(b.got, 0, big);
	b.len = b.pieces = 0;
	b.stop = 2;
	assert_int_equal(store_result_body(f->s, 1, big - 1500,
	    (unsigned char[1000]){0}, 1000, body_piece, &b, &size, &cause), 0);
	assert_int_equal(b.len, 1500);
	assert_int_equal(b.got[0], (unsigned char)((big - 1500) * 7));
	b.len = b.pieces = 0;
	b.stop = 1;
	assert_int_equal(store_result_body(f->s, 1, 0,
	    (unsigned char[1000]){0}, 1000, body_piece, &b, &size, &cause), 0);
	assert_int_equal(b.len, 1000);
	free(b.got);
	/* No body, no row: an error, not a crash. */
	assert_int_equal(store_result_body(f->s, 3, 0, (unsigned char[16]){0},
	    16, body_piece, &b, &size, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_int_equal(store_result_body(f->s, 99, 0, (unsigned char[16]){0},
	    16, body_piece, &b, &size, &cause), -1);
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_and_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claim_commit_done, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_skips_jobs_and_hosts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_fair_and_by_priority,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_is_delayed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_results_redacted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_results_stream_reads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_job_failed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_results_page, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
