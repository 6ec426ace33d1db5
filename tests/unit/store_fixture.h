/*
 * The store tests' fixture: a fresh database per test, SQLite (a
 * temporary file) or PostgreSQL (a fresh schema of the database
 * HARVESTD_TEST_PG names, e.g. what tests/pgserver.sh start prints), and
 * a side connection of the test's own for checks in SQL.
 */
#ifndef HARVESTD_STORE_FIXTURE_H
#define HARVESTD_STORE_FIXTURE_H

#include <libpq-fe.h>

#include "store/store.h"

struct fixture {
	int		 pg;		/* PostgreSQL, else SQLite */
	char		 path[64];	/* SQLite: the file */
	char		 schema[64];	/* PostgreSQL: this test's schema */
	char		*db;		/* what store_open is given */
	PGconn		*conn;		/* PostgreSQL: the side connection */
	struct store	*s;		/* opened as node "node-a" */
};

/* The PostgreSQL URI of the environment, NULL when none. */
const char	*fixture_pg_uri(void);

/* cmocka setups (*state gets a struct fixture) and the teardown. */
int		 fixture_setup_sqlite(void **state);
int		 fixture_setup_pg(void **state);
int		 fixture_teardown(void **state);

/* Store options for a node of that name, leases of lease_ms. */
void		 fixture_opts(struct store_opts *so, const char *node,
		    int64_t lease_ms);
/* Another connection to the fixture's database, as node; fails the test
 * when it cannot be opened. */
struct store	*fixture_open(struct fixture *f, const char *node);

/* One integer a query returns (-1 when no row), on the side connection. */
long long	 fixture_int(struct fixture *f, const char *sql);
/* A statement that must succeed, on the side connection. */
void		 fixture_exec(struct fixture *f, const char *sql);
/* fixture_int and fixture_exec with the SQL for each backend. */
long long	 fixture_int2(struct fixture *f, const char *sqlite_sql,
		    const char *pg_sql);
void		 fixture_exec2(struct fixture *f, const char *sqlite_sql,
		    const char *pg_sql);

/* Test data: a job of n URLs (at most 8) on host h.test. */
int64_t		 fixture_job(struct store *s, size_t n);
/* A job of n URLs (at most 64), URL i on hosts[i % nhosts]. */
int64_t		 fixture_job_hosts(struct store *s, size_t n,
		    const char *const *hosts, size_t nhosts);
/* A successful result for t (status 200). */
struct result	*fixture_ok(const struct task *t);
void		 fixture_free_tasks(struct task *list);
void		 fixture_free_results(struct result *list);

#endif
