/* The store tests' fixture: see store_fixture.h. */
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
#include "tests/unit/store_fixture.h"

const char *
fixture_pg_uri(void)
{
	const char *uri = getenv("HARVESTD_TEST_PG");

	return uri != NULL && *uri != '\0' ? uri : NULL;
}

void
fixture_opts(struct store_opts *so, const char *node, int64_t lease_ms)
{
	memset(so, 0, sizeof(*so));
	so->busy_timeout_ms = 1000;
	so->lease_ms = lease_ms;
	snprintf(so->node, sizeof(so->node), "%s", node);
}

struct store *
fixture_open(struct fixture *f, const char *node)
{
	struct store_opts so;
	struct store *s;
	char *cause = NULL;

	fixture_opts(&so, node, 30000);
	if ((s = store_open(f->db, &so, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	return s;
}

static struct fixture *
fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_init(LOG_LEVEL_ERROR);
	return f;
}

int
fixture_setup_sqlite(void **state)
{
	struct fixture *f = fixture_new();
	int fd;

	strcpy(f->path, "/tmp/harvestd-store-XXXXXX");
	fd = mkstemp(f->path);
	close(fd);
	unlink(f->path);
	f->db = strdup(f->path);
	f->s = fixture_open(f, "node-a");
	*state = f;
	return 0;
}

/*
 * A fresh schema per test, named after the process and a counter, and
 * the URI with search_path set to it, so every connection of the test
 * (the store's, other nodes', the listener's) sees only its tables.
 */
int
fixture_setup_pg(void **state)
{
	static int n;
	struct fixture *f = fixture_new();
	const char *uri = fixture_pg_uri();
	char sql[320];
	PGresult *res;
	size_t len;

	assert_non_null(uri);
	snprintf(f->schema, sizeof(f->schema), "t_%ld_%d", (long)getpid(),
	    ++n);
	len = strlen(uri) + sizeof(f->schema) + 64;
	f->db = malloc(len);
	assert_non_null(f->db);
	snprintf(f->db, len, "%s%coptions=-csearch_path%%3D%s", uri,
	    strchr(uri, '?') != NULL ? '&' : '?', f->schema);
	f->conn = PQconnectdb(uri);
	if (PQstatus(f->conn) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(f->conn));
	snprintf(sql, sizeof(sql), "SET client_min_messages = warning;"
	    " DROP SCHEMA IF EXISTS %s CASCADE;"
	    " CREATE SCHEMA %s; SET search_path = %s", f->schema, f->schema,
	    f->schema);
	res = PQexec(f->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(f->conn));
	PQclear(res);
	f->pg = 1;
	f->s = fixture_open(f, "node-a");
	*state = f;
	return 0;
}

int
fixture_teardown(void **state)
{
	struct fixture *f = *state;
	PGresult *res;
	char p[160];

	store_close(f->s);
	if (f->pg) {
		snprintf(p, sizeof(p), "DROP SCHEMA %s CASCADE", f->schema);
		res = PQexec(f->conn, p);
		PQclear(res);
		PQfinish(f->conn);
	} else {
		unlink(f->path);
		snprintf(p, sizeof(p), "%s-wal", f->path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", f->path);
		unlink(p);
	}
	free(f->db);
	free(f);
	return 0;
}

long long
fixture_int(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	PGresult *res;
	long long v = -1;

	if (f->pg) {
		res = PQexec(f->conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(f->conn));
		if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
			v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		return v;
	}
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

void
fixture_exec(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	PGresult *res;

	if (f->pg) {
		res = PQexec(f->conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(f->conn));
		PQclear(res);
		return;
	}
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

long long
fixture_int2(struct fixture *f, const char *sqlite_sql, const char *pg_sql)
{
	return fixture_int(f, f->pg ? pg_sql : sqlite_sql);
}

void
fixture_exec2(struct fixture *f, const char *sqlite_sql, const char *pg_sql)
{
	fixture_exec(f, f->pg ? pg_sql : sqlite_sql);
}

int64_t
fixture_job_hosts(struct store *s, size_t n, const char *const *hosts,
    size_t nhosts)
{
	struct store_url urls[64];
	struct job_opts o;
	char bufs[64][64], *cause = NULL;
	int64_t id;
	size_t i;

	assert_true(n <= 64);
	memset(urls, 0, sizeof(urls));
	job_opts_init(&o);
	o.concurrency = 2;
	for (i = 0; i < n; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "http://h%zu.test/p", i);
		urls[i].url = bufs[i];
		urls[i].host = hosts[i % nhosts];
	}
	if (store_job_create(s, &o, urls, n, &id, &cause) != 0)
		fail_msg("job_create: %s", cause);
	return id;
}

int64_t
fixture_job(struct store *s, size_t n)
{
	static const char *const hosts[] = { "h.test" };

	assert_true(n <= 8);
	return fixture_job_hosts(s, n, hosts, 1);
}

struct result *
fixture_ok(const struct task *t)
{
	struct result *r = result_new_error(t, RESULT_OK, "unused");

	assert_non_null(r);
	free(r->error_message);
	r->error_message = NULL;
	r->status = 200;
	return r;
}

void
fixture_free_tasks(struct task *list)
{
	struct task *next;

	for (; list != NULL; list = next) {
		next = list->next;
		task_free(list);
	}
}

void
fixture_free_results(struct result *list)
{
	struct result *next;

	for (; list != NULL; list = next) {
		next = list->next;
		result_free(list);
	}
}
