/*
 * notify: owns the callback thread, its SQLite connection (to read the
 * job), its libcurl handle and the list of jobs waiting to be announced.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "conf/conf.h"
#include "doc/doc.h"
#include "guard/guard.h"
#include "log/log.h"
#include "notify/notify.h"
#include "store/store.h"
#include "util/util.h"

#define NOTIFY_ATTEMPTS	5
#define NOTIFY_BACKOFF_MS	1000

struct notify {
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 stopping;
	struct util_ids	 ids;		/* guarded by lock */
	struct conf	*conf;		/* guarded by lock */
	struct store	*store;		/* thread only */
};

static size_t
notify_discard_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	(void)data;
	(void)userp;
	return size * nmemb;
}

/* One POST; 0 when the receiver answered 2xx. */
static int
notify_post(struct notify *n, const char *url, const char *body,
    char *why, size_t whylen)
{
	struct curl_slist *h = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	struct guard_conn gc;
	struct conf *c;
	long status = 0;
	CURL *e;

	pthread_mutex_lock(&n->lock);
	c = conf_ref(n->conf);
	pthread_mutex_unlock(&n->lock);
	gc.guard = conf_guard(c);
	gc.why[0] = '\0';
	if ((e = curl_easy_init()) == NULL ||
	    (h = curl_slist_append(NULL, "Content-Type: application/json")) ==
	    NULL)
		goto out;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
	    guard_opensocket_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &gc) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, guard_prereq_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PREREQDATA, &gc) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, notify_discard_cb) !=
	    CURLE_OK)
		goto out;
	if ((cc = curl_easy_perform(e)) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
out:
	if (cc != CURLE_OK)
		snprintf(why, whylen, "%s%s%s", curl_easy_strerror(cc),
		    gc.why[0] != '\0' ? ", blocked_address: " : "", gc.why);
	else if (status < 200 || status >= 300)
		snprintf(why, whylen, "HTTP status %ld", status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	conf_unref(c);
	return cc == CURLE_OK && status >= 200 && status < 300 ? 0 : -1;
}

/* Lock not held: sleeps ms unless stopping; returns whether to go on. */
static int
notify_sleep(struct notify *n, int64_t ms)
{
	struct timespec ts = util_deadline(NULL, ms);
	int go;

	pthread_mutex_lock(&n->lock);
	while (!n->stopping && pthread_cond_timedwait(&n->cond, &n->lock,
	    &ts) == 0)
		;
	go = !n->stopping;
	pthread_mutex_unlock(&n->lock);
	return go;
}

/* Announces one job, if it asked for it. */
static void
notify_job(struct notify *n, int64_t id)
{
	struct store_job j;
	struct conf *c;
	json_t *opts, *doc;
	json_error_t jerr;
	char *cause = NULL, *body = NULL, *url = NULL, why[256];
	int attempt;

	if (store_job_get(n->store, id, &j, &cause) != 0) {
		free(cause);
		return;
	}
	opts = json_loads(j.options, 0, &jerr);
	if (json_is_string(json_object_get(opts, "callback_url")))
		url = strdup(json_string_value(json_object_get(opts,
		    "callback_url")));
	json_decref(opts);
	if (url != NULL) {
		pthread_mutex_lock(&n->lock);
		c = conf_ref(n->conf);
		pthread_mutex_unlock(&n->lock);
		if ((doc = doc_job(&j, c)) != NULL) {
			body = json_dumps(doc, JSON_COMPACT);
			json_decref(doc);
		}
		conf_unref(c);
	}
	store_job_clear(&j);
	if (url == NULL || body == NULL)
		goto out;
	for (attempt = 1; attempt <= NOTIFY_ATTEMPTS; attempt++) {
		if (notify_post(n, url, body, why, sizeof(why)) == 0) {
			log_info("job %lld: callback delivered (attempt %d)",
			    (long long)id, attempt);
			goto out;
		}
		log_warnx("job %lld: callback attempt %d failed: %s",
		    (long long)id, attempt, why);
		if (attempt == NOTIFY_ATTEMPTS || !notify_sleep(n,
		    (int64_t)NOTIFY_BACKOFF_MS << (attempt - 1)))
			break;
	}
	log_warnx("job %lld: callback given up", (long long)id);
out:
	free(url);
	free(body);
}

static void *
notify_main(void *arg)
{
	struct notify *n = arg;
	int64_t id;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!n->stopping && n->ids.n == 0)
			pthread_cond_wait(&n->cond, &n->lock);
		if (n->stopping)
			break;
		id = n->ids.v[0];
		memmove(n->ids.v, n->ids.v + 1, --n->ids.n * sizeof(*n->ids.v));
		pthread_mutex_unlock(&n->lock);
		notify_job(n, id);
		pthread_mutex_lock(&n->lock);
	}
	if (n->ids.n > 0)
		log_warnx("notify: %zu job callbacks not sent at stop",
		    n->ids.n);
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

struct notify *
notify_start(struct conf *c, char **cause)
{
	struct store_opts so;
	pthread_condattr_t ca;
	struct notify *n;
	int rc;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	n->conf = conf_ref(c);
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	store_opts_init(&so, c, 0);
	if ((n->store = store_open(c->db, &so, cause)) == NULL)
		goto fail;
	if ((rc = pthread_create(&n->thread, NULL, notify_main, n)) != 0) {
		*cause = strdup(strerror(rc));
		goto fail;
	}
	(void)pthread_setname_np(n->thread, "harvestd-notify");
	return n;
fail:
	store_close(n->store);
	conf_unref(n->conf);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
	return NULL;
}

void
notify_jobs(struct notify *n, const int64_t *ids, size_t count)
{
	int rc;

	pthread_mutex_lock(&n->lock);
	if ((rc = util_ids_append(&n->ids, ids, count)) == 0)
		pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (rc != 0)
		log_warnx("notify: out of memory; %zu callbacks lost", count);
}

void
notify_set_conf(struct notify *n, struct conf *c)
{
	conf_replace(&n->conf, &n->lock, c);
}

void
notify_stop(struct notify *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = 1;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	store_close(n->store);
	conf_unref(n->conf);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	util_ids_free(&n->ids);
	free(n);
}
