/*
 * api/status: the routes about the daemon rather than a job — /healthz,
 * /v1/status and /metrics (the Prometheus text format).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-int.h"
#include "queue/queue.h"
#include "stats/stats.h"
#include "store/store.h"

/* GET /healthz: liveness; touches nothing shared. */
enum MHD_Result
api_healthz(struct api_call *k)
{
	enum MHD_Result ret;
	char why[256];

	if (api_lost(k, &ret))
		return ret;
	/* A shared database out of reach: this node can fetch and hold
	 * results, but not store them or take new work. */
	if (store_db_is_shared(k->conf->db) && k->a->queue != NULL &&
	    !queue_healthy(k->a->queue, why, sizeof(why)))
		return api_error(k, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "store_unavailable", why);
	return api_reply_json(k, MHD_HTTP_OK, json_pack("{s:s}", "status",
	    "ok"), NULL, NULL);
}

/* One node of a shared database, for /v1/status. */
static int
api_node_cb(const struct store_node *n, void *arg)
{
	json_t *nodes = arg;

	return json_array_append_new(nodes, json_pack(
	    "{s:s,s:s?,s:s?,s:s?,s:I,s:b}",
	    "name", n->name, "version", n->version,
	    "started_at", n->started_at, "heartbeat_at", n->heartbeat_at,
	    "in_flight", (json_int_t)n->in_flight, "alive", n->alive)) == 0 ?
	    0 : -1;
}

/* GET /v1/status */
enum MHD_Result
api_status(struct api_call *k)
{
	struct stats_snapshot st;
	struct store_totals t;
	struct store_opts so;
	struct store *s;
	char *cause = NULL;
	json_t *kinds, *doc, *nodes;
	int i;

	if ((s = api_store(k, &cause)) == NULL ||
	    store_totals(s, &t, &cause) != 0)
		return api_store_error(k, cause);
	nodes = NULL;
	if (store_db_is_shared(k->conf->db)) {
		if ((nodes = json_array()) == NULL)
			return MHD_NO;
		if (store_nodes(s, api_node_cb, nodes, &cause) != 0) {
			json_decref(nodes);
			return api_store_error(k, cause);
		}
	}
	stats_snapshot(&st);
	if ((kinds = json_object()) == NULL) {
		json_decref(nodes);
		return MHD_NO;
	}
	for (i = 1; i < RESULT_KIND_MAX; i++)
		json_object_set_new(kinds, result_kind_name((enum result_kind)i),
		    json_integer((json_int_t)st.by_kind[i]));
	doc = json_pack(
	    "{s:s,s:f,s:I,s:I,s:I,s:I,s:I,"
	    "s:{s:I,s:I,s:I,s:o,s:I},s:{s:f,s:f},s:I}",
	    "version", PACKAGE_VERSION,
	    "uptime_s", st.uptime_s,
	    "queue_depth", (json_int_t)t.queued,
	    "claimed", (json_int_t)t.running,
	    "window", (json_int_t)st.window,
	    "in_flight", (json_int_t)st.in_flight,
	    "jobs_active", (json_int_t)t.jobs_active,
	    "totals",
	    "results", (json_int_t)st.committed,
	    "ok", (json_int_t)(st.committed - st.failed),
	    "failed", (json_int_t)st.failed,
	    "by_kind", kinds,
	    "bytes_received", (json_int_t)st.bytes,
	    "rates",
	    "results_per_s_10s", st.rate_10s,
	    "results_per_s_60s", st.rate_60s,
	    "db_size_bytes", (json_int_t)t.db_bytes);
	store_opts_init(&so, k->conf, 0);
	if (doc != NULL) {
		json_object_set_new(doc, "node", json_string(so.node));
		if (nodes != NULL)
			json_object_set(doc, "nodes", nodes);
	}
	json_decref(nodes);
	return api_reply_json(k, MHD_HTTP_OK, doc, NULL, NULL);
}

/* Appends printf output to a growing text; -1 on ENOMEM. */
static int
text_add(char **t, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
text_add(char **t, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *more, *nt;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&more, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((nt = realloc(*t, *len + (size_t)n + 1)) == NULL) {
		free(more);
		return -1;
	}
	memcpy(nt + *len, more, (size_t)n + 1);
	*t = nt;
	*len += (size_t)n;
	free(more);
	return 0;
}

/* GET /metrics: the Prometheus text exposition format, version 0.0.4. */
enum MHD_Result
api_metrics(struct api_call *k)
{
	static const char *const classes[6] = { "none", "1xx", "2xx", "3xx",
	    "4xx", "5xx" };
	struct stats_snapshot st;
	struct stats_fetches f;
	struct store_totals t;
	struct store *s;
	char *cause = NULL, *text = NULL;
	size_t len = 0, i;
	uint64_t cum = 0;
	int ok = 1;

	if ((s = api_store(k, &cause)) == NULL ||
	    store_totals(s, &t, &cause) != 0)
		return api_store_error(k, cause);
	stats_snapshot(&st);
	stats_fetches(&f);
#define ADD(...) ok = ok && text_add(&text, &len, __VA_ARGS__) == 0
	ADD("# HELP harvestd_requests_total Fetch attempts by outcome "
	    "(retried attempts included).\n"
	    "# TYPE harvestd_requests_total counter\n");
	for (i = 0; i < RESULT_KIND_MAX; i++)
		ADD("harvestd_requests_total{kind=\"%s\"} %" PRIu64 "\n",
		    i == RESULT_OK ? "ok" : result_kind_name((enum result_kind)i),
		    f.by_kind[i]);
	ADD("# HELP harvestd_responses_total Fetch attempts by HTTP status "
	    "class (none: no response).\n"
	    "# TYPE harvestd_responses_total counter\n");
	for (i = 0; i < 6; i++)
		ADD("harvestd_responses_total{class=\"%s\"} %" PRIu64 "\n",
		    classes[i], f.by_class[i]);
	ADD("# HELP harvestd_retries_total Attempts scheduled again after a "
	    "transient failure.\n# TYPE harvestd_retries_total counter\n"
	    "harvestd_retries_total %" PRIu64 "\n", f.retries);
	ADD("# HELP harvestd_received_bytes_total Body bytes received "
	    "(decoded).\n# TYPE harvestd_received_bytes_total counter\n"
	    "harvestd_received_bytes_total %" PRIu64 "\n", st.bytes);
	ADD("# HELP harvestd_results_total Result rows committed.\n"
	    "# TYPE harvestd_results_total counter\n"
	    "harvestd_results_total %" PRIu64 "\n", st.committed);
	ADD("# HELP harvestd_queue_depth Tasks waiting in the queue.\n"
	    "# TYPE harvestd_queue_depth gauge\nharvestd_queue_depth %" PRId64
	    "\n", t.queued);
	ADD("# HELP harvestd_in_flight Transfers in flight.\n"
	    "# TYPE harvestd_in_flight gauge\nharvestd_in_flight %" PRIu64
	    "\n", st.in_flight);
	ADD("# HELP harvestd_window Claimed tasks held in memory.\n"
	    "# TYPE harvestd_window gauge\nharvestd_window %" PRIu64 "\n",
	    st.window);
	ADD("# HELP harvestd_active_hosts Hosts with tasks held or in "
	    "flight.\n# TYPE harvestd_active_hosts gauge\n"
	    "harvestd_active_hosts %" PRIu64 "\n", f.active_hosts);
	ADD("# HELP harvestd_jobs_active Jobs queued or running.\n"
	    "# TYPE harvestd_jobs_active gauge\nharvestd_jobs_active %" PRId64
	    "\n", t.jobs_active);
	ADD("# HELP harvestd_db_size_bytes Database file and WAL.\n"
	    "# TYPE harvestd_db_size_bytes gauge\nharvestd_db_size_bytes %"
	    PRId64 "\n", t.db_bytes);
	ADD("# HELP harvestd_uptime_seconds Seconds since start.\n"
	    "# TYPE harvestd_uptime_seconds gauge\n"
	    "harvestd_uptime_seconds %.3f\n", st.uptime_s);
	ADD("# HELP harvestd_request_duration_seconds Time of each fetch "
	    "attempt.\n# TYPE harvestd_request_duration_seconds histogram\n");
	for (i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		cum += f.latency[i];
		ADD("harvestd_request_duration_seconds_bucket{le=\"%g\"} %"
		    PRIu64 "\n", stats_latency_bounds[i], cum);
	}
	ADD("harvestd_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
	    "\nharvestd_request_duration_seconds_sum %.6f\n"
	    "harvestd_request_duration_seconds_count %" PRIu64 "\n",
	    f.latency_count, f.latency_sum, f.latency_count);
#undef ADD
	if (!ok) {
		free(text);
		return MHD_NO;
	}
	return api_reply_text(k, MHD_HTTP_OK, text, len,
	    "text/plain; version=0.0.4; charset=utf-8", NULL, NULL);
}

