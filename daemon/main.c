/*
 * harvestd: wires the modules together and owns the process lifecycle:
 * command line, configuration and its reload, signals, systemd
 * notification and the orderly shutdown.
 *
 * Threads: the libev default loop (this thread: scheduler + fetcher), the
 * store thread (queue/), and libmicrohttpd's thread (api/).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "api/api.h"
#include "conf/conf.h"
#include "fetch/fetch.h"
#include "log/log.h"
#include "notify/notify.h"
#include "queue/queue.h"
#include "sched/sched.h"
#include "stats/stats.h"
#include "store/store.h"
#include "work/work.h"

#define DAEMON_LOST_S	2.	/* 503 database_lost this long, then exit */
#define DAEMON_WORKERS	2	/* threads that parse pages */

struct override {
	const char	*key;
	const char	*value;
};

struct harvestd {
	struct ev_loop	*loop;
	struct conf	*conf;		/* the running configuration */
	const char	*config_path;
	struct override	*overrides;
	size_t		 noverrides;
	struct sched	*sched;
	struct queue	*queue;
	struct fetch	*fetch;
	struct api	*api;
	struct notify	*notify;
	struct work	*work;		/* parses pages: extract, follow */
	struct store_lock *lock;	/* one daemon per database (SQLite) */
	struct store_listener *listener; /* shared: other nodes' events */
	ev_io		 listen_io;
	ev_timer	 listen_retry;
	double		 listen_backoff;
	int		 shared;	/* a database several nodes share */
	pthread_mutex_t	 hook_lock;	/* api/notify vs the store thread */
	ev_signal	 sigint;
	ev_signal	 sigterm;
	ev_signal	 sighup;
	ev_timer	 tick;
	ev_timer	 grace;		/* ends the drain */
	unsigned	 ticks;
	int		 draining;
	int		 watchdog;
	int		 status;	/* exit status */
};

static void
daemon_notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_warnx("sd_notify: %s", strerror(-rc));
#else
	(void)state;
#endif
}

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp,
	    "usage: harvestd [options]\n"
	    "\n"
	    "  -c, --config FILE       read settings from an INI file\n"
	    "  -d, --db DB             SQLite file (default ./harvestd.db) or\n"
	    "                          postgresql:// URI (several nodes)\n"
	    "  -l, --listen ADDR       API address (default 127.0.0.1)\n"
	    "  -p, --port N            API port (default 8080)\n"
	    "  -n, --concurrency N     transfers in flight (default 64)\n"
	    "  -L, --log-level LEVEL   error, warn, info or debug\n"
	    "  -s, --set KEY=VALUE     set any configuration key\n"
	    "      --check-config      validate the configuration and exit\n"
	    "      --print-config      print the effective configuration\n"
	    "  -V, --version           print the version and exit\n"
	    "  -h, --help              print this help and exit\n"
	    "\n"
	    "Flags override the file. Configuration keys:\n");
	for (i = 0; i < conf_nkeys(); i++)
		fprintf(fp, "  %-31s %s\n", conf_key_name(i), conf_key_help(i));
}

/* Whether addr (an IP literal) is a loopback address. */
static int
daemon_is_loopback(const char *addr)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, addr, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &v6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) &&
		    v6.s6_addr[12] == 127);
	return 0;
}

/* An API reachable from other machines needs a token, or an explicit no. */
static int
daemon_check_listen(const struct conf *c, char **cause)
{
	if (daemon_is_loopback(c->listen) || *c->api_token != '\0' ||
	    c->allow_unauthenticated)
		return 0;
	if (asprintf(cause, "listen = %s is not a loopback address: set "
	    "api_token, or allow_unauthenticated = true to expose the API "
	    "without authentication", c->listen) < 0)
		*cause = NULL;
	return -1;
}

/* Says so when the configuration turns a protection off. */
static void
daemon_warn_unsafe(const struct conf *c)
{
	if (!c->block_private_addresses)
		log_warnx("block_private_addresses is off: jobs can reach "
		    "loopback, private and cloud metadata addresses");
	if (!c->tls_verify)
		log_warnx("tls_verify is false: jobs that do not set it check "
		    "no server certificates");
}

/* Builds a configuration: defaults, then the file, then the flags. */
static struct conf *
daemon_load_conf(const struct harvestd *h, char **cause)
{
	struct conf *c;
	char *why = NULL;
	size_t i;

	if ((c = conf_create()) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	if (h->config_path != NULL && conf_load(c, h->config_path, cause) != 0)
		goto fail;
	for (i = 0; i < h->noverrides; i++) {
		if (conf_set(c, h->overrides[i].key, h->overrides[i].value,
		    &why) != 0) {
			if (asprintf(cause, "command line: %s", why) < 0)
				*cause = NULL;
			free(why);
			goto fail;
		}
	}
	if (conf_validate(c, cause) != 0 || daemon_check_listen(c, cause) != 0)
		goto fail;
	return c;
fail:
	conf_unref(c);
	return NULL;
}

/* Stops the API; the store thread's hook must not see it half gone. */
static void
daemon_api_stop(struct harvestd *h)
{
	struct api *a;

	pthread_mutex_lock(&h->hook_lock);
	a = h->api;
	h->api = NULL;
	pthread_mutex_unlock(&h->hook_lock);
	api_stop(a);
}

/* Ends the drain: what is still in flight goes back to the queue. */
static void
daemon_finish(struct harvestd *h)
{
	size_t left = fetch_in_flight(h->fetch);

	if (left > 0)
		log_info("shutdown grace over: %zu transfers aborted and "
		    "queued again", left);
	ev_timer_stop(h->loop, &h->grace);
	sched_stop(h->sched);
	daemon_api_stop(h);
	ev_signal_stop(h->loop, &h->sigint);
	ev_signal_stop(h->loop, &h->sigterm);
	ev_signal_stop(h->loop, &h->sighup);
	ev_timer_stop(h->loop, &h->tick);
	ev_break(h->loop, EVBREAK_ALL);
}

static void
daemon_grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	daemon_finish(w->data);
}

/* The scheduler has nothing in flight: finish on the next loop turn,
 * outside the fetcher's callbacks. */
static void
daemon_idle(void *arg)
{
	struct harvestd *h = arg;

	ev_timer_stop(h->loop, &h->grace);
	ev_timer_set(&h->grace, 0., 0.);
	ev_timer_start(h->loop, &h->grace);
}

/*
 * First signal: drain. Submissions get 503, nothing new starts, transfers
 * in flight have shutdown_grace_ms to finish. A second signal ends at once.
 */
static void
daemon_stop(struct harvestd *h, const char *why)
{
	if (h->draining) {
		log_info("%s again: stopping now", why);
		daemon_finish(h);
		return;
	}
	h->draining = 1;
	log_info("%s: stopping (grace %" PRId64 " ms)", why,
	    h->conf->shutdown_grace_ms);
	daemon_notify("STOPPING=1");
	api_set_draining(h->api, 1);
	ev_timer_init(&h->grace, daemon_grace_cb,
	    (double)h->conf->shutdown_grace_ms / 1000.0, 0.);
	h->grace.data = h;
	ev_timer_start(h->loop, &h->grace);
	sched_drain(h->sched, daemon_idle, h);
}

/*
 * SIGHUP: a new configuration from the file and the flags. What needs a
 * restart keeps its running value (the settings table says which); every
 * module gets the new snapshot, and transfers in flight keep theirs.
 */
static void
daemon_reload(struct harvestd *h)
{
	struct conf *next;
	char *cause = NULL;

	if ((next = daemon_load_conf(h, &cause)) == NULL) {
		log_warnx("reload: %s; keeping the running configuration",
		    cause != NULL ? cause : "invalid configuration");
		free(cause);
		return;
	}
	if (conf_keep_restart(next, h->conf) != 0) {
		log_warnx("reload: out of memory; keeping the running "
		    "configuration");
		conf_unref(next);
		return;
	}
	log_set_level((enum log_level)next->log_level);
	daemon_warn_unsafe(next);
	fetch_set_conf(h->fetch, next);
	sched_set_conf(h->sched, next);
	queue_set_conf(h->queue, next);
	pthread_mutex_lock(&h->hook_lock);
	if (h->notify != NULL)
		notify_set_conf(h->notify, next);
	if (h->api != NULL)
		api_set_conf(h->api, next);
	pthread_mutex_unlock(&h->hook_lock);
	conf_unref(h->conf);
	h->conf = next;
	log_info("reload: configuration applied (concurrency=%" PRId64
	    " log_level=%s)", h->conf->concurrency,
	    log_level_name((enum log_level)h->conf->log_level));
}

static void
daemon_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct harvestd *h = w->data;

	(void)loop;
	(void)revents;
	switch (w->signum) {
	case SIGHUP:
		if (h->draining)
			break;
		daemon_notify("RELOADING=1");
		daemon_reload(h);
		daemon_notify("READY=1");
		break;
	default:
		daemon_stop(h, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		break;
	}
}

/*
 * The database file was deleted or replaced: nothing written from now on
 * would survive a restart. Say so everywhere (log, /healthz, writes),
 * fetch nothing more, and exit non-zero a moment later (so a probe can
 * see why) for systemd to restart harvestd on the real file.
 */
static void
daemon_lost(struct harvestd *h, const char *why)
{
	if (h->status != 0)
		return;
	log_errorx("%s: nothing more can be stored; stopping", why);
	h->status = 1;
	pthread_mutex_lock(&h->hook_lock);
	if (h->api != NULL)
		api_set_lost(h->api, why);
	pthread_mutex_unlock(&h->hook_lock);
	h->draining = 1;
	daemon_notify("STOPPING=1");
	sched_stop(h->sched);
	ev_timer_stop(h->loop, &h->grace);
	ev_timer_init(&h->grace, daemon_grace_cb, DAEMON_LOST_S, 0.);
	h->grace.data = h;
	ev_timer_start(h->loop, &h->grace);
}

/* API threads: whether a committed write is durable. */
static int
daemon_durable(char **cause, void *arg)
{
	struct harvestd *h = arg;

	return h->lock == NULL ? 0 : store_lock_check(h->lock, cause);
}

/* Once a second: rate samples, systemd status and watchdog. */
static void
daemon_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct harvestd *h = w->data;
	struct stats_snapshot st;
	char status[256], *cause = NULL;

	(void)loop;
	(void)revents;
	if (h->lock != NULL && store_lock_check(h->lock, &cause) != 0) {
		daemon_lost(h, cause != NULL ? cause : "database lost");
		free(cause);
		return;
	}
	/* Work added by any means shows up within two seconds, whatever
	 * happens to the events. */
	if (h->shared && h->ticks % 2 == 0)
		sched_notify_work(h->sched);
	stats_tick();
	/* Retention: a second after start, then hourly. */
	h->ticks++;
	if (h->conf->retention_days > 0 && h->ticks % 3600 == 2)
		queue_purge_expired(h->queue, h->conf->retention_days);
	stats_snapshot(&st);
	snprintf(status, sizeof(status), "STATUS=%" PRIu64 " in flight, %"
	    PRIu64 " held, %" PRIu64 " results (%" PRIu64 " failed), %.1f/s",
	    st.in_flight, st.window, st.committed, st.failed, st.rate_10s);
	daemon_notify(status);
	if (h->watchdog)
		daemon_notify("WATCHDOG=1");
}

/* Store thread: jobs ended; wake long polls and send callbacks. */
static void
daemon_jobs_finished(const int64_t *ids, size_t n, void *arg)
{
	struct harvestd *h = arg;

	pthread_mutex_lock(&h->hook_lock);
	if (h->api != NULL)
		api_jobs_changed(h->api);
	if (h->notify != NULL)
		notify_jobs(h->notify, ids, n);
	pthread_mutex_unlock(&h->hook_lock);
}

static void
daemon_api_submitted(int64_t job_id, void *arg)
{
	struct harvestd *h = arg;

	(void)job_id;
	sched_notify_work(h->sched);
}

static void
daemon_api_cancelled(int64_t job_id, void *arg)
{
	struct harvestd *h = arg;

	sched_notify_cancel(h->sched, job_id);
	pthread_mutex_lock(&h->hook_lock);
	if (h->notify != NULL)
		notify_jobs(h->notify, &job_id, 1);
	pthread_mutex_unlock(&h->hook_lock);
}

/*
 * More work for the loop (any thread): a crawl's commit added tasks, or
 * the workers caught up with their backlog.
 */
static void
daemon_work_ready(void *arg)
{
	struct harvestd *h = arg;

	sched_notify_work(h->sched);
}

/* Events from the other nodes of a shared database. */
static void
daemon_event_cb(enum store_event ev, int64_t job_id, void *arg)
{
	struct harvestd *h = arg;

	switch (ev) {
	case STORE_EV_WORK:
		sched_notify_work(h->sched);
		break;
	case STORE_EV_CANCEL:
		sched_notify_cancel(h->sched, job_id);
		break;
	case STORE_EV_DONE:
		pthread_mutex_lock(&h->hook_lock);
		if (h->api != NULL)
			api_jobs_changed(h->api);
		pthread_mutex_unlock(&h->hook_lock);
		break;
	}
}

static void daemon_listen_lost(struct harvestd *, const char *);

static void
daemon_listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct harvestd *h = w->data;
	char *cause = NULL;

	(void)loop;
	(void)revents;
	if (store_listener_read(h->listener, daemon_event_cb, h,
	    &cause) != 0) {
		daemon_listen_lost(h, cause);
		free(cause);
	}
}

/* Watches the listener's socket (again, after a reconnect). */
static void
daemon_listen_watch(struct harvestd *h)
{
	ev_io_stop(h->loop, &h->listen_io);
	ev_io_init(&h->listen_io, daemon_listen_cb,
	    store_listener_fd(h->listener), EV_READ);
	h->listen_io.data = h;
	ev_io_start(h->loop, &h->listen_io);
	h->listen_backoff = 1.;
	/* Events may have been missed meanwhile: look for work. */
	sched_notify_work(h->sched);
}

static void
daemon_listen_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct harvestd *h = w->data;
	char *cause = NULL;

	(void)loop;
	(void)revents;
	if (store_listener_reset(h->listener, &cause) == 0) {
		log_info("listening for other nodes' events again");
		daemon_listen_watch(h);
		return;
	}
	daemon_listen_lost(h, cause);
	free(cause);
}

/* The listener's connection is gone: try again, backing off to 30 s. */
static void
daemon_listen_lost(struct harvestd *h, const char *why)
{
	ev_io_stop(h->loop, &h->listen_io);
	log_warnx("listener: %s; reconnecting in %.0f s", why != NULL ? why :
	    "connection lost", h->listen_backoff);
	ev_timer_stop(h->loop, &h->listen_retry);
	ev_timer_set(&h->listen_retry, h->listen_backoff, 0.);
	ev_timer_start(h->loop, &h->listen_retry);
	h->listen_backoff = h->listen_backoff * 2 > 30. ? 30. :
	    h->listen_backoff * 2;
}

/*
 * A shared database tells every node of new work, cancels and ended jobs
 * (NOTIFY on its socket, under an ev_io); the tick's periodic re-check is
 * the fallback. Nothing for SQLite.
 */
static void
daemon_listen(struct harvestd *h)
{
	char *cause = NULL;

	ev_init(&h->listen_io, daemon_listen_cb);
	ev_init(&h->listen_retry, daemon_listen_retry_cb);
	h->listen_retry.data = h;
	h->listen_backoff = 1.;
	if (!h->shared)
		return;
	if ((h->listener = store_listen(h->conf->db, &cause)) == NULL) {
		log_warnx("listener: %s; new work is found by the periodic "
		    "re-check only", cause != NULL ? cause : "none");
		free(cause);
		return;
	}
	if (store_listener_fd(h->listener) == -1)
		daemon_listen_lost(h, "not connected");
	else
		daemon_listen_watch(h);
}

/*
 * Starts the store thread. A shared database that cannot be reached yet
 * is tried again, backing off to 30 s and saying so, until it answers or
 * SIGTERM/SIGINT ends the wait (a start-up, not a failure: exit 0).
 */
static int
daemon_queue_start(struct harvestd *h, char **cause)
{
	struct timespec ts;
	sigset_t set, old;
	double wait = 1.;
	char *db;

	for (;;) {
		if ((h->queue = queue_start(h->loop, h->conf, sched_tasks_cb,
		    h->sched, cause)) != NULL)
			return 0;
		if (!h->shared)
			return -1;
		db = store_db_display(h->conf->db);
		log_warnx("database %s: %s; trying again in %.0f s",
		    db != NULL ? db : "?", *cause != NULL ? *cause :
		    "cannot open", wait);
		free(db);
		free(*cause);
		*cause = NULL;
		daemon_notify("STATUS=waiting for the database");
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = 0;
		if (sigtimedwait(&set, NULL, &ts) > 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			log_info("stopped while waiting for the database");
			h->status = 0;
			*cause = NULL;
			return 1;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		wait = wait * 2 > 30. ? 30. : wait * 2;
	}
}

static int
daemon_start(struct harvestd *h)
{
	struct api_hooks hooks;
	char *cause = NULL, *db;
	uint64_t usec = 0;
	int rc;

	hooks.submitted = daemon_api_submitted;
	hooks.cancelled = daemon_api_cancelled;
	hooks.durable = daemon_durable;
	hooks.arg = h;
	/* The port first: one in use stops harvestd before anything is
	 * created, the database included. */
	if ((h->api = api_create(h->conf, &hooks, &cause)) == NULL)
		goto fail;
	h->shared = store_db_is_shared(h->conf->db);
	/* One daemon per SQLite file; a shared database takes many. */
	if (!h->shared &&
	    (h->lock = store_lock(h->conf->db, &cause)) == NULL)
		goto fail;
	if ((h->sched = sched_create(h->loop, h->conf)) == NULL) {
		log_errorx("out of memory");
		return -1;
	}
	if ((rc = daemon_queue_start(h, &cause)) != 0) {
		if (rc > 0)
			return 1;	/* stopped while waiting */
		goto fail;
	}
	if ((h->fetch = fetch_create(h->loop, h->conf, sched_done_cb, h->sched,
	    &cause)) == NULL)
		goto fail;
	daemon_warn_unsafe(h->conf);
	if ((h->work = work_start(DAEMON_WORKERS, h->queue, daemon_work_ready,
	    h, &cause)) == NULL)
		goto fail;
	sched_attach(h->sched, h->queue, h->fetch, h->work);
	queue_on_work(h->queue, daemon_work_ready, h);

	if ((h->notify = notify_start(h->conf, &cause)) == NULL)
		goto fail;
	queue_on_finished(h->queue, daemon_jobs_finished, h);
	if (api_start(h->api, h->queue, &cause) != 0)
		goto fail;
	daemon_listen(h);

	ev_signal_init(&h->sigint, daemon_signal_cb, SIGINT);
	ev_signal_init(&h->sigterm, daemon_signal_cb, SIGTERM);
	ev_signal_init(&h->sighup, daemon_signal_cb, SIGHUP);
	h->sigint.data = h->sigterm.data = h->sighup.data = h;
	ev_signal_start(h->loop, &h->sigint);
	ev_signal_start(h->loop, &h->sigterm);
	ev_signal_start(h->loop, &h->sighup);
	ev_timer_init(&h->tick, daemon_tick_cb, 1., 1.);
	h->tick.data = h;
	ev_timer_start(h->loop, &h->tick);
#ifdef HAVE_LIBSYSTEMD
	h->watchdog = sd_watchdog_enabled(0, &usec) > 0;
#endif
	(void)usec;

	sched_run(h->sched);
	db = store_db_display(h->conf->db);
	log_info("harvestd %s listening on %s port %u, database %s, "
	    "concurrency %" PRId64, PACKAGE_VERSION, h->conf->listen,
	    (unsigned)api_port(h->api), db != NULL ? db : "?",
	    h->conf->concurrency);
	free(db);
	daemon_notify("READY=1");
	return 0;
fail:
	log_errorx("%s", cause != NULL ? cause : "start-up failed");
	free(cause);
	return -1;
}

static void
daemon_teardown(struct harvestd *h)
{
	daemon_api_stop(h);
	if (h->sched != NULL)
		sched_stop(h->sched);
	/* The workers pass on every result they hold, then the store thread
	 * commits everything handed over and closes. */
	work_stop(h->work);
	h->work = NULL;
	queue_stop(h->queue);
	pthread_mutex_lock(&h->hook_lock);
	notify_stop(h->notify);
	h->notify = NULL;
	pthread_mutex_unlock(&h->hook_lock);
	fetch_free(h->fetch);
	sched_free(h->sched);
	/* Every SQLite connection is closed: the lock can go. */
	store_unlock(h->lock);
	h->lock = NULL;
	if (h->listener != NULL) {
		ev_io_stop(h->loop, &h->listen_io);
		ev_timer_stop(h->loop, &h->listen_retry);
		store_listener_close(h->listener);
		h->listener = NULL;
	}
	h->queue = NULL;
	h->fetch = NULL;
	h->sched = NULL;
}

static int
add_override(struct harvestd *h, const char *key, const char *value)
{
	struct override *v;

	v = realloc(h->overrides, (h->noverrides + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	h->overrides = v;
	v[h->noverrides].key = key;
	v[h->noverrides].value = value;
	h->noverrides++;
	return 0;
}

enum { OPT_CHECK_CONFIG = 256, OPT_PRINT_CONFIG };

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "set", required_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct harvestd h;
	char *cause = NULL, *eq;
	int ch, check = 0, print = 0, rc = 1;
	CURLcode cc;

	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.hook_lock, NULL);
	log_init(LOG_LEVEL_INFO);
	/*
	 * libidn2, which turns international host names into punycode for
	 * libcurl (CURLU_PUNYCODE, and redirects), reads names in the
	 * locale's charset: make it UTF-8 whatever the environment says.
	 * Only the character type changes, before any thread starts;
	 * byte-wise <ctype.h> answers are the same as in "C".
	 */
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		log_warnx("no C.UTF-8 locale: URLs with international domain "
		    "names will be rejected");
	while ((ch = getopt_long(argc, argv, "c:d:l:p:n:L:s:Vh", longopts,
	    NULL)) != -1) {
		const char *key = NULL;

		switch (ch) {
		case 'c':
			h.config_path = optarg;
			continue;
		case 'd':
			key = "db";
			break;
		case 'l':
			key = "listen";
			break;
		case 'p':
			key = "port";
			break;
		case 'n':
			key = "concurrency";
			break;
		case 'L':
			key = "log_level";
			break;
		case 's':
			if ((eq = strchr(optarg, '=')) == NULL) {
				fprintf(stderr, "harvestd: --set takes "
				    "KEY=VALUE\n");
				goto out;
			}
			*eq = '\0';
			if (add_override(&h, optarg, eq + 1) != 0)
				fatalx("out of memory");
			continue;
		case OPT_CHECK_CONFIG:
			check = 1;
			continue;
		case OPT_PRINT_CONFIG:
			print = 1;
			continue;
		case 'V':
			printf("harvestd %s\n", PACKAGE_VERSION);
			rc = 0;
			goto out;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			rc = 2;
			goto out;
		}
		if (add_override(&h, key, optarg) != 0)
			fatalx("out of memory");
	}
	if (optind != argc) {
		fprintf(stderr, "harvestd: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		rc = 2;
		goto out;
	}
	if ((h.conf = daemon_load_conf(&h, &cause)) == NULL) {
		fprintf(stderr, "harvestd: %s\n", cause != NULL ? cause :
		    "invalid configuration");
		free(cause);
		goto out;
	}
	if (check || print) {
		if (print)
			conf_print(h.conf, stdout);
		if (check)
			printf("configuration OK\n");
		rc = 0;
		goto out_conf;
	}
	log_set_level((enum log_level)h.conf->log_level);
	stats_init();
	store_global_init();

	/* Writes to a closed peer must fail with EPIPE, not kill us. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal(SIGPIPE)");
	if ((cc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK)
		fatalx("curl_global_init: %s", curl_easy_strerror(cc));
	if ((h.loop = ev_default_loop(EVFLAG_AUTO)) == NULL)
		fatalx("cannot initialise the libev loop");
	if ((rc = daemon_start(&h)) == 0) {
		ev_run(h.loop, 0);
		rc = h.status;
	} else
		rc = rc > 0 ? 0 : 1;
	daemon_teardown(&h);
	ev_loop_destroy(h.loop);
	curl_global_cleanup();
	if (rc == 0)
		log_info("stopped cleanly");
out_conf:
	conf_unref(h.conf);
out:
	free(h.overrides);
	return rc;
}
