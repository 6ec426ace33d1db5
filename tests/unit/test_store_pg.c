/*
 * What only a shared database does, on the PostgreSQL that
 * HARVESTD_TEST_PG names (tests/unit/test_store_pg.sh starts one): nodes
 * that claim apart (tasks and hosts), fencing of a stale node's commit,
 * heartbeats that renew and reap, host releases that carry the next
 * allowed start, LISTEN events, start-up recovery of one node, migrations
 * racing, and connections lost and found again. Each test has a schema
 * of its own; expiry is made with SQL, never waited for.
 */
#include "config.h"

#include <poll.h>
#include <pthread.h>
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

static int
has_host(const struct task *list, const char *host)
{
	for (; list != NULL; list = list->next)
		if (strcmp(list->host, host) == 0)
			return 1;
	return 0;
}

/* Two nodes never claim the same task, nor tasks of the same host. */
static void
test_two_nodes_claim_apart(void **state)
{
	static const char *const hosts[] = { "x.test", "y.test", "z.test",
	    "w.test" };
	struct fixture *f = *state;
	struct store *b = fixture_open(f, "node-b");
	struct task *la, *lb, *more, *t, *u;
	size_t n;
	int64_t due;
	char *cause = NULL;

	fixture_job_hosts(f->s, 8, hosts, 4);
	/* node-a takes the first three: hosts x, y and z. */
	assert_int_equal(store_claim(f->s, 3, NULL, &la, &n, &due, &cause),
	    0);
	assert_int_equal(n, 3);
	for (t = la; t != NULL; t = t->next) {
		assert_true(t->lease > 0);
		assert_int_equal(t->host_next_ms, 0);
	}
	/* node-b gets only w's tasks, whatever it asks for. */
	assert_int_equal(store_claim(b, 10, NULL, &lb, &n, &due, &cause), 0);
	assert_int_equal(n, 2);
	for (t = lb; t != NULL; t = t->next) {
		assert_string_equal(t->host, "w.test");
		assert_false(has_host(la, t->host));
		for (u = la; u != NULL; u = u->next) {
			assert_true(t->id != u->id);
			assert_true(t->lease != u->lease);
		}
	}
	/* node-a takes the rest of its own hosts' tasks. */
	assert_int_equal(store_claim(f->s, 10, NULL, &more, &n, &due, &cause),
	    0);
	assert_int_equal(n, 3);
	for (t = more; t != NULL; t = t->next)
		assert_true(has_host(la, t->host));
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-a'"), 3);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-b' AND host = 'w.test'"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE state = 'running' AND lease_until > now()"
	    " AND lease_token IS NOT NULL"), 8);
	fixture_free_tasks(la);
	fixture_free_tasks(lb);
	fixture_free_tasks(more);
	store_close(b);
}

/*
 * A claim limited to new hosts takes on no more hosts than it may, but
 * the tasks of hosts the node holds come whatever the limit.
 */
static void
test_claim_new_hosts_limit(void **state)
{
	static const char *const hosts[] = { "x.test", "y.test", "z.test",
	    "w.test" };
	struct fixture *f = *state;
	struct store_skip one = { NULL, 0, NULL, 0, NULL, 1, 1 };
	struct store_skip none = { NULL, 0, NULL, 0, NULL, 1, 0 };
	struct task *l1, *l2, *l3, *t;
	size_t n;
	int64_t due;
	char *cause = NULL;

	fixture_job_hosts(f->s, 16, hosts, 4);
	/* One new host: its four tasks only, though ten were asked for. */
	assert_int_equal(store_claim(f->s, 10, &one, &l1, &n, &due, &cause),
	    0);
	assert_int_equal(n, 4);
	for (t = l1; t != NULL; t = t->next)
		assert_string_equal(t->host, "x.test");
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-a'"), 1);
	/* None new: nothing, since x.test has no task left. */
	assert_int_equal(store_claim(f->s, 10, &none, &l2, &n, &due, &cause),
	    0);
	assert_int_equal(n, 0);
	/* Another: y.test's. */
	assert_int_equal(store_claim(f->s, 2, &one, &l3, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	for (t = l3; t != NULL; t = t->next)
		assert_string_equal(t->host, "y.test");
	fixture_free_tasks(l3);
	/* y.test is held now: the rest of its tasks come with none new. */
	assert_int_equal(store_claim(f->s, 10, &none, &l3, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	for (t = l3; t != NULL; t = t->next)
		assert_string_equal(t->host, "y.test");
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-a'"), 2);
	fixture_free_tasks(l1);
	fixture_free_tasks(l2);
	fixture_free_tasks(l3);
}

/*
 * A job sorted by host, its front all of a host node-a holds: node-b
 * still gets the other host's tasks (host by host, past the front).
 */
static void
test_claim_past_foreign_front(void **state)
{
	struct fixture *f = *state;
	struct store *b = fixture_open(f, "node-b");
	struct store_url urls[600];
	struct job_opts o;
	struct task *la, *lb, *t;
	char (*bufs)[48] = calloc(600, sizeof(*bufs)), *cause = NULL;
	size_t i, n;
	int64_t id, due;

	assert_non_null(bufs);
	memset(urls, 0, sizeof(urls));
	job_opts_init(&o);
	for (i = 0; i < 600; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "http://%s/%zu",
		    i < 500 ? "a.test" : "b.test", i);
		urls[i].url = bufs[i];
		urls[i].host = i < 500 ? "a.test" : "b.test";
	}
	assert_int_equal(store_job_create(f->s, &o, urls, 600, &id, &cause),
	    0);
	assert_int_equal(store_claim(f->s, 1, NULL, &la, &n, &due, &cause),
	    0);
	assert_string_equal(la->host, "a.test");
	assert_int_equal(store_claim(b, 10, NULL, &lb, &n, &due, &cause), 0);
	assert_int_equal(n, 10);
	for (t = lb; t != NULL; t = t->next)
		assert_string_equal(t->host, "b.test");
	/* And again, now that it holds b.test. */
	fixture_free_tasks(lb);
	assert_int_equal(store_claim(b, 10, NULL, &lb, &n, &due, &cause), 0);
	assert_int_equal(n, 10);
	for (t = lb; t != NULL; t = t->next) {
		assert_string_equal(t->host, "b.test");
		assert_int_equal(t->host_next_ms, 0);
	}
	fixture_free_tasks(la);
	fixture_free_tasks(lb);
	free(bufs);
	store_close(b);
}

/* Two threads, two nodes, claiming at the same time until all is done. */
#define RACE_TASKS	64
#define RACE_HOSTS	8

struct race {
	struct fixture	*f;
	pthread_mutex_t	 lock;
	int		 holder[RACE_HOSTS];	/* 0: nobody, else node 1 or 2 */
	int		 claimed[RACE_TASKS + 1];
	int		 overlap;
	int64_t		 first_id;
};

struct racer {
	struct race	*race;
	int		 me;
	int		 claims;
	char		*error;
};

static int
race_host(const char *host)
{
	return host[1] - '0';	/* "h3.test" */
}

static void *
race_run(void *arg)
{
	struct racer *r = arg;
	struct race *race = r->race;
	struct store *s = fixture_open(race->f, r->me == 1 ? "node-1" :
	    "node-2");
	struct store_host_release rel[RACE_HOSTS];
	struct store_totals tot;
	struct result *head, *res, **tail;
	struct task *list, *t;
	size_t n, committed, nrel;
	int64_t due, i;
	int h, rounds;

	for (rounds = 0; rounds < 100000 && r->error == NULL; rounds++) {
		if (store_claim(s, 4, NULL, &list, &n, &due, &r->error) != 0)
			break;
		if (n == 0) {
			if (store_totals(s, &tot, &r->error) != 0)
				break;
			if (tot.queued == 0)
				break;
			continue;
		}
		head = NULL;
		tail = &head;
		pthread_mutex_lock(&race->lock);
		for (t = list; t != NULL; t = t->next) {
			h = race_host(t->host);
			if (race->holder[h] != 0 && race->holder[h] != r->me)
				race->overlap++;
			race->holder[h] = r->me;
			i = t->id - race->first_id;
			if (i < 0 || i >= RACE_TASKS)
				race->overlap++;
			else
				race->claimed[i]++;
		}
		pthread_mutex_unlock(&race->lock);
		r->claims += (int)n;
		for (t = list; t != NULL; t = t->next) {
			*tail = res = fixture_ok(t);
			tail = &res->next;
		}
		if (store_commit(s, head, NULL, 0, NULL, 0, &committed, NULL, NULL,
		    &r->error) != 0)
			break;
		if (committed != n)
			r->error = strdup("a commit lost results");
		/* Let go locally before the database does. */
		nrel = 0;
		pthread_mutex_lock(&race->lock);
		for (t = list; t != NULL; t = t->next) {
			h = race_host(t->host);
			if (race->holder[h] == r->me) {
				race->holder[h] = 0;
				rel[nrel].host = t->host;
				rel[nrel].next_allowed_ms = 0;
				nrel++;
			}
		}
		pthread_mutex_unlock(&race->lock);
		if (store_release_hosts(s, rel, nrel, &r->error) != 0)
			break;
		fixture_free_results(head);
		fixture_free_tasks(list);
	}
	store_close(s);
	return NULL;
}

static void
test_claim_race(void **state)
{
	static const char *const hosts[RACE_HOSTS] = { "h0.test", "h1.test",
	    "h2.test", "h3.test", "h4.test", "h5.test", "h6.test", "h7.test" };
	struct fixture *f = *state;
	struct race race;
	struct racer r1, r2;
	pthread_t t1, t2;
	int64_t job;
	int i;

	memset(&race, 0, sizeof(race));
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	race.f = f;
	pthread_mutex_init(&race.lock, NULL);
	job = fixture_job_hosts(f->s, RACE_TASKS, hosts, RACE_HOSTS);
	race.first_id = fixture_int(f, "SELECT min(id) FROM tasks");
	r1.race = r2.race = &race;
	r1.me = 1;
	r2.me = 2;
	assert_int_equal(pthread_create(&t1, NULL, race_run, &r1), 0);
	assert_int_equal(pthread_create(&t2, NULL, race_run, &r2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (r1.error != NULL || r2.error != NULL)
		fail_msg("%s / %s", r1.error != NULL ? r1.error : "-",
		    r2.error != NULL ? r2.error : "-");
	assert_int_equal(race.overlap, 0);
	for (i = 0; i < RACE_TASKS; i++)
		assert_int_equal(race.claimed[i], 1);
	assert_int_equal(r1.claims + r2.claims, RACE_TASKS);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"),
	    RACE_TASKS);
	assert_int_equal(fixture_int(f, "SELECT count(DISTINCT task_id)"
	    " FROM results"), RACE_TASKS);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM jobs"
	    " WHERE state = 'done'"), 1);
	(void)job;
	pthread_mutex_destroy(&race.lock);
}

/*
 * A node that stalls past its lease and wakes up writes nothing: its
 * task was reaped and claimed again, and only the new holder's result
 * is kept.
 */
static void
test_stale_commit_fenced(void **state)
{
	struct fixture *f = *state;
	struct store *b = fixture_open(f, "node-b");
	struct task *la, *lb;
	struct result *ra, *rb;
	struct store_ref ref;
	struct store_retry retry;
	struct util_ids finished = { 0 };
	size_t n, committed;
	int64_t due, reaped, job = fixture_job(f->s, 1);
	char *cause = NULL;

	assert_int_equal(store_claim(f->s, 1, NULL, &la, &n, &due, &cause),
	    0);
	assert_int_equal(n, 1);
	/* node-a stalls; its lease runs out. */
	fixture_exec(f, "UPDATE tasks SET lease_until = now() - interval"
	    " '1 second'; UPDATE hosts SET lease_until = now() - interval"
	    " '1 second'");
	assert_int_equal(store_heartbeat(b, 0, &reaped, &cause), 0);
	assert_int_equal(reaped, 1);
	assert_int_equal(store_claim(b, 1, NULL, &lb, &n, &due, &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(lb->id, la->id);
	assert_true(lb->lease != la->lease);
	/* node-a wakes: its result, requeue and retry change nothing. */
	ra = result_new_error(la, RESULT_TIMEOUT, "late");
	assert_int_equal(store_commit(f->s, ra, NULL, 0, NULL, 0, &committed,
	    &finished, NULL, &cause), 0);
	assert_int_equal(committed, 0);
	assert_int_equal(finished.n, 0);
	ref.task_id = la->id;
	ref.lease = la->lease;
	retry.task_id = la->id;
	retry.lease = la->lease;
	retry.attempts = 5;
	retry.due_ms = 1;
	assert_int_equal(store_commit(f->s, NULL, &ref, 1, &retry, 1,
	    &committed, NULL, NULL, &cause), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE state = 'running' AND node = 'node-b' AND attempts = 0"),
	    1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 0);
	/* node-b's result is the one. */
	rb = fixture_ok(lb);
	assert_int_equal(store_commit(b, rb, NULL, 0, NULL, 0, &committed,
	    &finished, NULL, &cause), 0);
	assert_int_equal(committed, 1);
	assert_int_equal(finished.n, 1);
	assert_int_equal(finished.v[0], job);
	/* A second try of node-a's, after the end: still nothing. */
	assert_int_equal(store_commit(f->s, ra, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	assert_int_equal(committed, 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 1);
	assert_int_equal(fixture_int(f, "SELECT status FROM results"), 200);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE state = 'done' AND node = 'node-b'"), 1);
	result_free(ra);
	result_free(rb);
	fixture_free_tasks(la);
	fixture_free_tasks(lb);
	util_ids_free(&finished);
	store_close(b);
}

static int
find_node(const struct store_node *n, void *arg)
{
	struct store_node *out = arg;

	if (strcmp(n->name, "node-a") == 0) {
		out->alive = n->alive;
		out->in_flight = n->in_flight;
		out->name = "node-a";
		assert_string_equal(n->version, PACKAGE_VERSION);
		assert_int_equal(strlen(n->started_at), 24);
		assert_int_equal(strlen(n->heartbeat_at), 24);
	}
	return 0;
}

/*
 * A heartbeat renews its own leases and returns everyone's expired ones;
 * a reaped task of a job cancelled meanwhile gets its 'cancelled' result.
 */
static void
test_heartbeat_renews_and_reaps(void **state)
{
	static const char *const ha[] = { "a.test" }, *const hb[] = {
	    "b.test" }, *const hc[] = { "c.test" };
	struct fixture *f = *state;
	struct store *b = fixture_open(f, "node-b");
	struct store_node node;
	struct task *la, *lb, *lc;
	size_t n;
	int64_t due, reaped, jc;
	char *cause = NULL;
	int changed;

	fixture_job_hosts(f->s, 2, ha, 1);
	assert_int_equal(store_claim(f->s, 2, NULL, &la, &n, &due, &cause),
	    0);
	assert_int_equal(n, 2);
	fixture_job_hosts(b, 1, hb, 1);
	assert_int_equal(store_claim(b, 5, NULL, &lb, &n, &due, &cause), 0);
	assert_int_equal(n, 1);
	assert_string_equal(lb->host, "b.test");
	jc = fixture_job_hosts(b, 1, hc, 1);
	assert_int_equal(store_claim(b, 5, NULL, &lc, &n, &due, &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_job_cancel(f->s, jc, &changed, &cause), 0);
	/* node-a's leases near their end, node-b's past it. */
	fixture_exec(f, "UPDATE tasks SET lease_until = now() +"
	    " interval '1 second' WHERE node = 'node-a';"
	    " UPDATE hosts SET lease_until = now() + interval '1 second'"
	    " WHERE node = 'node-a';"
	    " UPDATE tasks SET lease_until = now() - interval '1 second'"
	    " WHERE node = 'node-b';"
	    " UPDATE hosts SET lease_until = now() - interval '1 second'"
	    " WHERE node = 'node-b'");
	assert_int_equal(store_heartbeat(f->s, 2, &reaped, &cause), 0);
	assert_int_equal(reaped, 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE node = 'node-a' AND state = 'running'"
	    " AND lease_until > now() + interval '20 seconds'"), 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE host = 'a.test' AND node = 'node-a'"
	    " AND lease_until > now() + interval '20 seconds'"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE host = 'b.test' AND state = 'queued' AND node IS NULL"
	    " AND lease_token IS NULL"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-b'"), 0);
	/* The cancelled job's task is finished, not queued. */
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE host = 'c.test' AND state = 'cancelled'"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"
	    " WHERE error_kind = 'cancelled'"), 1);
	/* node-a is alive with two in flight; node-b never beat. */
	memset(&node, 0, sizeof(node));
	assert_int_equal(store_nodes(b, find_node, &node, &cause), 0);
	assert_non_null(node.name);
	assert_true(node.alive);
	assert_int_equal(node.in_flight, 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM nodes"), 1);
	/* A node whose heartbeat is a lease old is not alive. */
	fixture_exec(f, "UPDATE nodes SET heartbeat_at = now() -"
	    " interval '1 minute'");
	memset(&node, 0, sizeof(node));
	assert_int_equal(store_nodes(b, find_node, &node, &cause), 0);
	assert_false(node.alive);
	fixture_free_tasks(la);
	fixture_free_tasks(lb);
	fixture_free_tasks(lc);
	store_close(b);
}

/*
 * A released host keeps its next allowed start for the next node that
 * takes it; a host is not released while its tasks run here, nor by a
 * node that does not hold it.
 */
static void
test_release_hosts(void **state)
{
	static const char *const hr[] = { "r.test" };
	struct fixture *f = *state;
	struct store *b = fixture_open(f, "node-b");
	struct store_host_release rel;
	struct task *la, *lb, *lb2, *none;
	struct result *r;
	size_t n, committed;
	int64_t due, next = job_now_ms() + 60000;
	char *cause = NULL;

	fixture_job_hosts(f->s, 1, hr, 1);
	assert_int_equal(store_claim(f->s, 1, NULL, &la, &n, &due, &cause),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(la->host_next_ms, 0);
	rel.host = "r.test";
	rel.next_allowed_ms = next;
	/* Still running here: kept. */
	assert_int_equal(store_release_hosts(f->s, &rel, 1, &cause), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-a'"), 1);
	r = fixture_ok(la);
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	result_free(r);
	/* Not node-b's to release. */
	assert_int_equal(store_release_hosts(b, &rel, 1, &cause), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-a'"), 1);
	assert_int_equal(store_release_hosts(f->s, &rel, 1, &cause), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE host = 'r.test' AND node IS NULL"), 1);
	/* node-b takes it, with the delay node-a left. */
	fixture_job_hosts(b, 2, hr, 1);
	assert_int_equal(store_claim(b, 1, NULL, &lb, &n, &due, &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(lb->host_next_ms, next);
	assert_int_equal(store_claim(b, 1, NULL, &lb2, &n, &due, &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(lb2->host_next_ms, 0);	/* held already */
	/* node-a gets none of r.test's tasks while node-b holds it. */
	assert_int_equal(store_claim(f->s, 5, NULL, &none, &n, &due, &cause),
	    0);
	assert_int_equal(n, 0);
	fixture_free_tasks(la);
	fixture_free_tasks(lb);
	fixture_free_tasks(lb2);
	store_close(b);
}

/* What a heartbeat does with free hosts: drops them once due. */
static void
test_free_hosts_dropped(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	int64_t reaped;

	fixture_exec(f, "INSERT INTO hosts (host, next_allowed_at) VALUES"
	    " ('past.test', 1), ('future.test', 9999999999999)");
	assert_int_equal(store_heartbeat(f->s, 0, &reaped, &cause), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE host = 'past.test'"), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE host = 'future.test'"), 1);
}

/* Start-up gives back what this node held and expired leases only. */
static void
test_recover_own_and_expired(void **state)
{
	static const char *const ha[] = { "a.test" }, *const hb[] = {
	    "b.test" }, *const hc[] = { "c.test" };
	struct fixture *f = *state;
	struct store *b = fixture_open(f, "node-b");
	struct store *c = fixture_open(f, "node-c");
	struct task *la, *lb, *lc;
	size_t n;
	int64_t due, recovered;
	char *cause = NULL;

	fixture_job_hosts(f->s, 2, ha, 1);
	assert_int_equal(store_claim(f->s, 2, NULL, &la, &n, &due, &cause),
	    0);
	fixture_job_hosts(b, 1, hb, 1);
	assert_int_equal(store_claim(b, 1, NULL, &lb, &n, &due, &cause), 0);
	assert_string_equal(lb->host, "b.test");
	fixture_job_hosts(c, 1, hc, 1);
	assert_int_equal(store_claim(c, 1, NULL, &lc, &n, &due, &cause), 0);
	assert_string_equal(lc->host, "c.test");
	fixture_exec(f, "UPDATE tasks SET lease_until = now() - interval"
	    " '1 second' WHERE node = 'node-c'");
	/* node-a restarts. */
	assert_int_equal(store_recover(f->s, &recovered, &cause), 0);
	assert_int_equal(recovered, 3);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE state = 'running'"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM tasks"
	    " WHERE state = 'running' AND node = 'node-b'"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node IS NOT NULL"), 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM hosts"
	    " WHERE node = 'node-a'"), 0);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM nodes"
	    " WHERE name = 'node-a'"), 1);
	fixture_free_tasks(la);
	fixture_free_tasks(lb);
	fixture_free_tasks(lc);
	store_close(b);
	store_close(c);
}

struct seen {
	enum store_event ev;
	int64_t		 id;
	int		 found;
};

static void
on_event(enum store_event ev, int64_t id, void *arg)
{
	struct seen *s = arg;

	if (ev == s->ev && (ev == STORE_EV_WORK || id == s->id))
		s->found = 1;
}

/* Reads events until the one wanted arrives; fails after 10 s. */
static void
wait_event(struct store_listener *l, enum store_event ev, int64_t id)
{
	struct seen s = { ev, id, 0 };
	struct pollfd p;
	char *cause = NULL;
	int i;

	for (i = 0; i < 100 && !s.found; i++) {
		p.fd = store_listener_fd(l);
		p.events = POLLIN;
		p.revents = 0;
		assert_true(p.fd >= 0);
		if (poll(&p, 1, 10000) <= 0)
			fail_msg("no event %d for job %lld", (int)ev,
			    (long long)id);
		if (store_listener_read(l, on_event, &s, &cause) != 0)
			fail_msg("listener: %s", cause);
	}
	assert_true(s.found);
}

static void
test_events(void **state)
{
	struct fixture *f = *state;
	struct seen sw = { STORE_EV_WORK, 0, 0 };
	struct store_listener *l;
	struct task *list;
	struct result *r;
	struct pollfd p;
	size_t n, committed;
	int64_t job, due;
	char *cause = NULL;
	int changed, rc;

	if ((l = store_listen(f->db, &cause)) == NULL)
		fail_msg("listen: %s", cause);
	job = fixture_job(f->s, 1);
	wait_event(l, STORE_EV_WORK, 0);
	assert_int_equal(store_claim(f->s, 1, NULL, &list, &n, &due, &cause),
	    0);
	r = fixture_ok(list);
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	result_free(r);
	task_free(list);
	wait_event(l, STORE_EV_DONE, job);
	job = fixture_job(f->s, 2);
	assert_int_equal(store_job_cancel(f->s, job, &changed, &cause), 0);
	wait_event(l, STORE_EV_CANCEL, job);

	/* The listener's connection is cut: read fails, reset recovers. */
	fixture_exec(f, "SELECT pg_terminate_backend(pid)"
	    " FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
	    " AND query LIKE 'LISTEN%'");
	p.fd = store_listener_fd(l);
	p.events = POLLIN;
	p.revents = 0;
	assert_true(poll(&p, 1, 10000) > 0);
	rc = store_listener_read(l, on_event, NULL, &cause);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(cause, "lost the connection"));
	free(cause);
	cause = NULL;
	if (store_listener_reset(l, &cause) != 0)
		fail_msg("reset: %s", cause);
	assert_true(store_listener_fd(l) >= 0);
	/* What was missed while away comes as work, at the first read. */
	assert_int_equal(store_listener_read(l, on_event, &sw, &cause), 0);
	assert_true(sw.found);
	job = fixture_job(f->s, 1);
	assert_int_equal(store_job_cancel(f->s, job, &changed, &cause), 0);
	wait_event(l, STORE_EV_CANCEL, job);
	store_listener_close(l);
}

/*
 * A lost connection: the operation fails with a clear cause, the next
 * one connects again, and nothing of a failed commit is lost.
 */
static void
test_connection_lost(void **state)
{
	struct fixture *f = *state;
	struct store_job j;
	struct task *list;
	struct result *r;
	size_t n, committed;
	int64_t due, job = fixture_job(f->s, 2);
	char *cause = NULL;

	assert_int_equal(store_claim(f->s, 2, NULL, &list, &n, &due, &cause),
	    0);
	r = fixture_ok(list);
	/* A first commit sets up the session (statements, staging). */
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), 0);
	result_free(r);
	fixture_exec(f, "SELECT pg_terminate_backend(pid)"
	    " FROM pg_stat_activity WHERE application_name = 'harvestd'");
	r = fixture_ok(list->next);
	assert_int_equal(store_commit(f->s, r, NULL, 0, NULL, 0, &committed,
	    NULL, NULL, &cause), -1);
	assert_non_null(strstr(cause, "lost the connection"));
	assert_null(strstr(cause, "password"));
	free(cause);
	cause = NULL;
	/* Retried: reconnects, stages again, writes it once. */
	if (store_commit(f->s, r, NULL, 0, NULL, 0, &committed, NULL, NULL,
	    &cause) != 0)
		fail_msg("commit after reconnect: %s", cause);
	assert_int_equal(committed, 1);
	result_free(r);
	fixture_free_tasks(list);
	assert_int_equal(store_job_get(f->s, job, &j, &cause), 0);
	assert_string_equal(j.state, "done");
	store_job_clear(&j);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM results"), 2);
}

/* Nothing that fails to connect shows a password. */
static void
test_open_errors(void **state)
{
	struct store_opts so;
	char *cause = NULL;

	(void)state;
	fixture_opts(&so, "node-x", 30000);
	assert_null(store_open("postgresql://u:sekrit@/harvest"
	    "?host=/nonexistent-harvestd&connect_timeout=2", &so, &cause));
	assert_non_null(strstr(cause, "cannot connect"));
	assert_non_null(strstr(cause, "/nonexistent-harvestd"));
	assert_null(strstr(cause, "sekrit"));
	free(cause);
	cause = NULL;
	assert_null(store_open("postgresql://u:sek%zzrit@/harvest", &so,
	    &cause));
	assert_null(strstr(cause, "sek"));
	free(cause);
	cause = NULL;
	assert_null(store_open("postgresql:///harvest?host=/nonexistent-"
	    "harvestd&password=sekrit", &so, &cause));
	assert_null(strstr(cause, "sekrit"));
	free(cause);
	/* Named by host, port, database and user. */
	cause = NULL;
	assert_null(store_open("postgresql://u:sekrit@/harvest?port=1"
	    "&host=/nonexistent-harvestd", &so, &cause));
	assert_non_null(strstr(cause, "host=/nonexistent-harvestd port=1"
	    " dbname=harvest user=u"));
	assert_null(strstr(cause, "sekrit"));
	free(cause);
}

/* Two nodes starting together on an empty schema migrate it once. */
struct opener {
	const char	*db;
	struct store	*s;
	char		*cause;
};

static void *
open_run(void *arg)
{
	struct opener *o = arg;
	struct store_opts so;

	fixture_opts(&so, "node-m", 30000);
	o->s = store_open(o->db, &so, &o->cause);
	return NULL;
}

static void
test_migrations_race(void **state)
{
	struct fixture *f = *state;
	struct opener o1 = { 0 }, o2 = { 0 };
	pthread_t t1, t2;
	char sql[256], *db;
	size_t len;

	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s_m", f->schema);
	fixture_exec(f, sql);
	len = strlen(fixture_pg_uri()) + 128;
	db = malloc(len);
	assert_non_null(db);
	snprintf(db, len, "%s%coptions=-csearch_path%%3D%s_m",
	    fixture_pg_uri(), strchr(fixture_pg_uri(), '?') != NULL ? '&' :
	    '?', f->schema);
	o1.db = o2.db = db;
	assert_int_equal(pthread_create(&t1, NULL, open_run, &o1), 0);
	assert_int_equal(pthread_create(&t2, NULL, open_run, &o2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (o1.s == NULL || o2.s == NULL)
		fail_msg("%s / %s", o1.cause != NULL ? o1.cause : "-",
		    o2.cause != NULL ? o2.cause : "-");
	assert_int_equal(store_schema_version(o1.s), STORE_PG_SCHEMA_VERSION);
	assert_int_equal(store_schema_version(o2.s), STORE_PG_SCHEMA_VERSION);
	store_close(o1.s);
	store_close(o2.s);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s_m.harvestd_schema",
	    f->schema);
	assert_int_equal(fixture_int(f, sql), 1);
	snprintf(sql, sizeof(sql), "DROP SCHEMA %s_m CASCADE", f->schema);
	fixture_exec(f, sql);
	free(db);
}

/* The example queries of docs/schema.md run as written. */
static void
test_doc_queries(void **state)
{
	struct fixture *f = *state;
	struct task *list, *t;
	struct result *head = NULL, *r, **tail = &head;
	size_t n, committed;
	int64_t due;
	char *cause = NULL;

	fixture_job(f->s, 3);
	assert_int_equal(store_claim(f->s, 3, NULL, &list, &n, &due, &cause),
	    0);
	for (t = list; t != NULL; t = t->next) {
		*tail = r = t == list ? result_new_error(t, RESULT_DNS, "x") :
		    fixture_ok(t);
		r->time_total_ms = 10.26;
		tail = &r->next;
	}
	assert_int_equal(store_commit(f->s, head, NULL, 0, NULL, 0,
	    &committed, NULL, NULL, &cause), 0);
	fixture_free_results(head);
	fixture_free_tasks(list);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM"
	    " (SELECT * FROM job_progress) q"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM (SELECT"
	    " error_kind, count(*) FROM failures WHERE job_id = 1 GROUP BY 1"
	    " ORDER BY 2 DESC) q"), 1);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM (SELECT url,"
	    " error_kind, error_message FROM failures WHERE job_id = 1) q"),
	    1);
	assert_int_equal(fixture_int(f, "SELECT (avg_ms * 100)::bigint FROM"
	    " (SELECT t.host, count(*) AS n,"
	    " round(avg(r.time_total_ms), 1) AS avg_ms"
	    " FROM results r JOIN tasks t ON t.id = r.task_id"
	    " WHERE r.error_kind IS NULL GROUP BY t.host ORDER BY avg_ms DESC"
	    " LIMIT 20) q"), 1030);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM (SELECT status,"
	    " count(*) FROM results WHERE job_id = 1 GROUP BY 1) q"), 2);
	assert_int_equal(fixture_int(f, "SELECT count(*) FROM (SELECT id, url,"
	    " status FROM results_brief WHERE id > 0 ORDER BY id LIMIT 500) q"),
	    3);
	assert_int_equal(fixture_int(f, "SELECT (ms * 100)::bigint FROM"
	    " results_brief ORDER BY id LIMIT 1"), 1030);
	assert_int_equal(fixture_int(f, "SELECT n FROM error_summary"
	    " WHERE error_kind = 'dns'"), 1);
}

int
main(void)
{
#define PG_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup_pg, \
	fixture_teardown)
	const struct CMUnitTest tests[] = {
		PG_TEST(test_two_nodes_claim_apart),
		PG_TEST(test_claim_new_hosts_limit),
		PG_TEST(test_claim_past_foreign_front),
		PG_TEST(test_claim_race),
		PG_TEST(test_stale_commit_fenced),
		PG_TEST(test_heartbeat_renews_and_reaps),
		PG_TEST(test_release_hosts),
		PG_TEST(test_free_hosts_dropped),
		PG_TEST(test_recover_own_and_expired),
		PG_TEST(test_events),
		PG_TEST(test_connection_lost),
		PG_TEST(test_migrations_race),
		PG_TEST(test_doc_queries),
		cmocka_unit_test(test_open_errors),
	};

	if (fixture_pg_uri() == NULL) {
		fprintf(stderr, "test_store_pg: HARVESTD_TEST_PG is not set "
		    "(tests/unit/test_store_pg.sh sets it)\n");
		return 77;
	}
	return cmocka_run_group_tests_name("postgresql", tests, NULL, NULL);
}
