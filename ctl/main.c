/*
 * harvestctl: talks to harvestd's REST API with libcurl. Commands map to
 * routes; errors from the daemon are shown as it sent them, and a daemon
 * that is not there is said so plainly.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl/ctl.h"

#define CTL_EXIT_ERROR		1
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_FAILURES	3

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

struct reply {
	long		 status;
	struct buf	 body;			/* unless streamed */
	char		 next_after[32];	/* X-Next-After */
	/* With sink, a 2xx answer's body goes there as it arrives and is
	 * not kept: an export can be far bigger than memory. */
	size_t		(*sink)(const char *data, size_t len, void *arg);
	void		*sink_arg;
	int		 sink_failed;	/* it said why */
	CURL		*easy;
};

static const struct ctl_opts *opts;

/* Appends n bytes, keeping the buffer NUL-terminated; -1 on ENOMEM. */
static int
ctl_buf_append(struct buf *b, const char *data, size_t n)
{
	size_t cap;
	char *nb;

	if (b->len + n + 1 > b->cap) {
		cap = b->cap == 0 ? 4096 : b->cap;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((nb = realloc(b->data, cap)) == NULL)
			return -1;
		b->data = nb;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static size_t
ctl_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct reply *r = userp;
	size_t n = size * nmemb;

	if (r->sink != NULL && r->status == 0 &&
	    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status) !=
	    CURLE_OK)
		r->status = 0;
	/* An error's JSON is small and wanted whole. */
	if (r->sink != NULL && r->status > 0 && r->status < 400) {
		if (r->sink(data, n, r->sink_arg) == n)
			return n;
		r->sink_failed = 1;
		return 0;
	}
	return ctl_buf_append(&r->body, data, n) == 0 ? n : 0;
}

static size_t
ctl_header_cb(char *data, size_t size, size_t nitems, void *userp)
{
	struct reply *r = userp;
	size_t n = size * nitems;
	static const char name[] = "x-next-after:";

	if (n > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0)
		snprintf(r->next_after, sizeof(r->next_after), "%.*s",
		    (int)strcspn(data + sizeof(name) - 1 + 1, "\r\n"),
		    data + sizeof(name));
	return n;
}

/*
 * One API call. Returns 0 with the reply, or -1 after printing why the
 * daemon could not be reached. With sink, a 2xx answer streams (see
 * struct reply); timeout_s 0 then lets it take as long as it flows.
 */
static int
ctl_call_sink(const char *method, const char *path, const char *body,
    const char *ctype, long timeout_s, size_t (*sink)(const char *, size_t,
    void *), void *sink_arg, struct reply *r)
{
	struct curl_slist *hdrs = NULL;
	char *url = NULL, *auth = NULL, *ct = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	CURL *e;

	memset(r, 0, sizeof(*r));
	r->sink = sink;
	r->sink_arg = sink_arg;
	if ((r->easy = e = curl_easy_init()) == NULL ||
	    asprintf(&url, "%s%s", opts->url, path) < 0)
		goto out;
	if (opts->token != NULL && (asprintf(&auth, "Authorization: Bearer %s",
	    opts->token) < 0 || (hdrs = curl_slist_append(hdrs, auth)) == NULL))
		goto out;
	if (ctype != NULL && (asprintf(&ct, "Content-Type: %s", ctype) < 0 ||
	    (hdrs = curl_slist_append(hdrs, ct)) == NULL))
		goto out;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ctl_write_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, ctl_header_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 5L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s) != CURLE_OK ||
	    /* A stream may take long, but not stand still. */
	    (sink != NULL && (curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
	    1L) != CURLE_OK || curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
	    120L) != CURLE_OK)) ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    (body != NULL && (curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) !=
	    CURLE_OK || curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body)) != CURLE_OK)))
		goto out;
	if ((cc = curl_easy_perform(e)) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
out:
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->sink_failed)) {
		if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
			fprintf(stderr, "harvestctl: cannot reach harvestd at "
			    "%s: %s (is it running? see --url or "
			    "HARVESTD_URL)\n", opts->url, curl_easy_strerror(cc));
		else
			fprintf(stderr, "harvestctl: %s %s: %s\n", method, url !=
			    NULL ? url : path, curl_easy_strerror(cc));
		free(r->body.data);
		r->body.data = NULL;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(e);
	r->easy = NULL;
	free(url);
	free(auth);
	free(ct);
	return cc == CURLE_OK ? 0 : -1;
}

static int
ctl_call(const char *method, const char *path, const char *body,
    const char *ctype, long timeout_s, struct reply *r)
{
	return ctl_call_sink(method, path, body, ctype, timeout_s, NULL, NULL,
	    r);
}

/* Parses a JSON reply; prints the daemon's error and returns NULL on
 * a status >= 400. */
static json_t *
ctl_json(struct reply *r)
{
	json_error_t jerr;
	json_t *doc, *err;

	doc = json_loads(r->body.data != NULL ? r->body.data : "", 0, &jerr);
	if (r->status >= 400) {
		err = json_object_get(doc, "error");
		fprintf(stderr, "harvestctl: %ld %s: %s\n", r->status,
		    json_string_value(json_object_get(err, "code")) != NULL ?
		    json_string_value(json_object_get(err, "code")) : "error",
		    json_string_value(json_object_get(err, "message")) != NULL ?
		    json_string_value(json_object_get(err, "message")) :
		    (r->body.data != NULL ? r->body.data : ""));
		json_decref(doc);
		return NULL;
	}
	if (doc == NULL)
		fprintf(stderr, "harvestctl: the daemon's answer is not JSON: %s\n",
		    jerr.text);
	return doc;
}

static json_int_t
jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void
ctl_print_job(json_t *job)
{
	json_t *c = json_object_get(job, "counts");
	const char *fin = json_string_value(json_object_get(job,
	    "finished_at"));

	printf("job %" JSON_INTEGER_FORMAT ": %s, %" JSON_INTEGER_FORMAT
	    " URLs: %" JSON_INTEGER_FORMAT " done, %" JSON_INTEGER_FORMAT
	    " failed, %" JSON_INTEGER_FORMAT " cancelled, %"
	    JSON_INTEGER_FORMAT " queued, %" JSON_INTEGER_FORMAT " running\n",
	    jint(job, "id"), json_string_value(json_object_get(job, "state")),
	    jint(job, "total"), jint(c, "done"), jint(c, "failed"),
	    jint(c, "cancelled"), jint(c, "queued"), jint(c, "running"));
	printf("  created %s%s%s\n", json_string_value(json_object_get(job,
	    "created_at")), fin != NULL ? ", finished " : "",
	    fin != NULL ? fin : "");
}

static int
ctl_print_json(json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s != NULL)
		puts(s);
	free(s);
	return 0;
}

static int
cmd_wait(int64_t id);

static char *
ctl_read_all(const char *file, size_t *len)
{
	FILE *fp = file == NULL || strcmp(file, "-") == 0 ? stdin :
	    fopen(file, "r");
	struct buf b = { NULL, 0, 0 };
	char chunk[65536];
	size_t n;

	if (fp == NULL) {
		fprintf(stderr, "harvestctl: %s: %s\n", file, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (ctl_buf_append(&b, chunk, n) != 0) {
			free(b.data);
			b.data = NULL;
			break;
		}
	if (fp != stdin)
		fclose(fp);
	*len = b.len;
	return b.data != NULL ? b.data : strdup("");
}

/* Lists the URLs the daemon refused, with its reasons, on stderr. */
static void
ctl_print_rejected(json_t *doc)
{
	const char *url;
	json_t *rej;
	size_t i;

	json_array_foreach(json_object_get(doc, "rejected"), i, rej) {
		url = json_string_value(json_object_get(rej, "url"));
		fprintf(stderr, "  rejected #%" JSON_INTEGER_FORMAT " %s: %s\n",
		    jint(rej, "index"), url != NULL ? url : "(not a string)",
		    json_string_value(json_object_get(rej, "reason")));
	}
}

static int
cmd_submit(void)
{
	struct reply r;
	char *text, *body, *err = NULL;
	size_t len = 0;
	json_t *doc;
	int rc = CTL_EXIT_ERROR;
	int64_t id;

	if ((text = ctl_read_all(opts->file, &len)) == NULL)
		return CTL_EXIT_ERROR;
	body = ctl_build_submission(text, len, opts->job_options, &err);
	free(text);
	if (body == NULL) {
		fprintf(stderr, "harvestctl: %s\n", err);
		free(err);
		return CTL_EXIT_USAGE;
	}
	if (ctl_call("POST", "/v1/jobs", body, "application/json", 300,
	    &r) != 0) {
		free(body);
		return CTL_EXIT_ERROR;
	}
	free(body);
	if ((doc = ctl_json(&r)) == NULL) {
		/* No valid URL: the daemon's list says why. */
		json_error_t jerr;
		json_t *e = json_loads(r.body.data != NULL ? r.body.data : "", 0,
		    &jerr);

		ctl_print_rejected(e);
		json_decref(e);
		goto out;
	}
	id = jint(doc, "id");
	if (opts->json_out)
		ctl_print_json(doc);
	else {
		printf("job %" PRId64 " submitted: %" JSON_INTEGER_FORMAT
		    " accepted, %" JSON_INTEGER_FORMAT " duplicates dropped, %zu "
		    "rejected\n", id, jint(doc, "accepted"),
		    jint(doc, "duplicates"),
		    json_array_size(json_object_get(doc, "rejected")));
		ctl_print_rejected(doc);
	}
	json_decref(doc);
	rc = opts->wait ? cmd_wait(id) : 0;
out:
	free(r.body.data);
	return rc;
}

static int
cmd_get(const char *path, void (*print)(json_t *))
{
	struct reply r;
	json_t *doc;

	if (ctl_call("GET", path, NULL, NULL, 60, &r) != 0)
		return CTL_EXIT_ERROR;
	doc = ctl_json(&r);
	free(r.body.data);
	if (doc == NULL)
		return CTL_EXIT_ERROR;
	if (opts->json_out || print == NULL)
		ctl_print_json(doc);
	else
		print(doc);
	json_decref(doc);
	return 0;
}

static void
print_jobs(json_t *doc)
{
	json_t *j, *c;
	size_t i;

	printf("%6s  %-9s  %8s  %8s  %8s  %9s  %s\n", "ID", "STATE", "TOTAL",
	    "DONE", "FAILED", "CANCELLED", "CREATED");
	json_array_foreach(json_object_get(doc, "jobs"), i, j) {
		c = json_object_get(j, "counts");
		printf("%6" JSON_INTEGER_FORMAT "  %-9s  %8" JSON_INTEGER_FORMAT
		    "  %8" JSON_INTEGER_FORMAT "  %8" JSON_INTEGER_FORMAT "  %9"
		    JSON_INTEGER_FORMAT "  %s\n", jint(j, "id"),
		    json_string_value(json_object_get(j, "state")),
		    jint(j, "total"), jint(c, "done"), jint(c, "failed"),
		    jint(c, "cancelled"),
		    json_string_value(json_object_get(j, "created_at")));
	}
}

static void
print_status(json_t *doc)
{
	json_t *t = json_object_get(doc, "totals");
	json_t *r = json_object_get(doc, "rates");

	printf("harvestd %s, up %.0f s\n",
	    json_string_value(json_object_get(doc, "version")),
	    json_real_value(json_object_get(doc, "uptime_s")));
	printf("queue: %" JSON_INTEGER_FORMAT " queued, %" JSON_INTEGER_FORMAT
	    " in flight, %" JSON_INTEGER_FORMAT " active jobs\n",
	    jint(doc, "queue_depth"), jint(doc, "in_flight"),
	    jint(doc, "jobs_active"));
	printf("results: %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
	    " ok, %" JSON_INTEGER_FORMAT " failed), %.1f/s over 10 s\n",
	    jint(t, "results"), jint(t, "ok"), jint(t, "failed"),
	    json_real_value(json_object_get(r, "results_per_s_10s")));
	printf("database: %" JSON_INTEGER_FORMAT " bytes\n",
	    jint(doc, "db_size_bytes"));
}

static double
ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Follows a job through long polls of a second; prints progress. */
static int
cmd_wait(int64_t id)
{
	struct reply r;
	json_t *job = NULL, *c;
	char path[96], line[256];
	double start = ctl_now(), last_print = 0, now, rate;
	int64_t done, total, failed, first_done = -1;
	int tty = isatty(STDOUT_FILENO), finished = 0, rc = 0;
	const char *state;

	for (;;) {
		snprintf(path, sizeof(path), "/v1/jobs/%" PRId64 "?wait=1", id);
		if (ctl_call("GET", path, NULL, NULL, 30, &r) != 0)
			return CTL_EXIT_ERROR;
		json_decref(job);
		job = ctl_json(&r);
		free(r.body.data);
		if (job == NULL)
			return CTL_EXIT_ERROR;
		c = json_object_get(job, "counts");
		state = json_string_value(json_object_get(job, "state"));
		total = jint(job, "total");
		failed = jint(c, "failed");
		done = jint(c, "done") + failed + jint(c, "cancelled");
		finished = strcmp(state, "done") == 0 ||
		    strcmp(state, "cancelled") == 0;
		now = ctl_now();
		if (first_done < 0)
			first_done = done;
		rate = now - start > 0.5 ? (double)(done - first_done) /
		    (now - start) : 0;
		ctl_format_progress(line, sizeof(line), done, total, failed,
		    rate, tty ? 30 : 0);
		if (tty) {
			printf("\r\033[Kjob %" PRId64 " %s", id, line);
			fflush(stdout);
		} else if (finished || now - last_print >= 5) {
			printf("job %" PRId64 " %s: %s\n", id, state, line);
			fflush(stdout);
			last_print = now;
		}
		if (finished)
			break;
		if (opts->wait_timeout_s > 0 && now - start >=
		    (double)opts->wait_timeout_s) {
			if (tty)
				putchar('\n');
			fprintf(stderr, "harvestctl: job %" PRId64 " still %s "
			    "after %" PRId64 " s\n", id, state,
			    opts->wait_timeout_s);
			json_decref(job);
			return CTL_EXIT_ERROR;
		}
	}
	if (tty)
		printf("\njob %" PRId64 " %s\n", id, state);
	if (opts->fail_on_errors && failed > 0)
		rc = CTL_EXIT_FAILURES;
	json_decref(job);
	return rc;
}

static int
cmd_cancel(void)
{
	struct reply r;
	char path[96];
	json_t *doc;

	snprintf(path, sizeof(path), "/v1/jobs/%" PRId64 "%s", opts->job_id,
	    opts->purge ? "?purge=true" : "");
	if (ctl_call("DELETE", path, NULL, NULL, 60, &r) != 0)
		return CTL_EXIT_ERROR;
	doc = ctl_json(&r);
	free(r.body.data);
	if (doc == NULL)
		return CTL_EXIT_ERROR;
	if (opts->json_out)
		ctl_print_json(doc);
	else if (opts->purge)
		printf("job %" PRId64 " purged\n", opts->job_id);
	else
		ctl_print_job(doc);
	json_decref(doc);
	return 0;
}

/* POST /v1/jobs/ID/retry: a job's failed URLs again, as a new job. */
static int
cmd_retry(void)
{
	struct reply r;
	char path[96];
	json_t *doc;
	int64_t id;

	snprintf(path, sizeof(path), "/v1/jobs/%" PRId64 "/retry",
	    opts->job_id);
	if (ctl_call("POST", path, "", NULL, 60, &r) != 0)
		return CTL_EXIT_ERROR;
	doc = ctl_json(&r);
	free(r.body.data);
	if (doc == NULL)
		return CTL_EXIT_ERROR;
	id = jint(doc, "id");
	if (opts->json_out)
		ctl_print_json(doc);
	else
		printf("job %" PRId64 " submitted: retry of job %" PRId64 ", %"
		    JSON_INTEGER_FORMAT " failed URLs\n", id, opts->job_id,
		    jint(doc, "accepted"));
	json_decref(doc);
	return opts->wait ? cmd_wait(id) : 0;
}

/* The lines of a results page as they arrive. */
struct ctl_rows {
	char		**names;	/* --fields: the job's extract fields */
	size_t		 nnames;
	size_t		 n;		/* lines */
	struct buf	 line;		/* CSV: the line being collected */
	int		 werr;		/* errno of a failed write */
};

static void
ctl_csv_line(struct ctl_rows *w)
{
	json_error_t jerr;
	json_t *row;

	if (w->line.len == 0)
		return;
	if ((row = json_loadb(w->line.data, w->line.len, 0, &jerr)) != NULL) {
		ctl_csv_row_fields(stdout, row, opts->with_body,
		    (const char *const *)w->names, w->nnames);
		json_decref(row);
	}
	w->n++;
	w->line.len = 0;
}

/*
 * JSON lines go to stdout as they come, holding nothing; CSV needs each
 * line whole to parse it, one at a time.
 */
static size_t
ctl_rows_cb(const char *data, size_t len, void *arg)
{
	struct ctl_rows *w = arg;
	const char *p, *end = data + len, *nl;

	if (opts->format == CTL_JSONL) {
		if (fwrite(data, 1, len, stdout) != len) {
			w->werr = errno;
			return 0;
		}
		for (p = data; (nl = memchr(p, '\n', (size_t)(end - p))) !=
		    NULL; p = nl + 1)
			w->n++;
		return len;
	}
	for (p = data; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			if (ctl_buf_append(&w->line, p, (size_t)(end - p)) != 0)
				goto nomem;
			break;
		}
		if (ctl_buf_append(&w->line, p, (size_t)(nl - p)) != 0)
			goto nomem;
		ctl_csv_line(w);
		if (ferror(stdout)) {
			w->werr = errno;
			return 0;
		}
	}
	return len;
nomem:
	w->werr = ENOMEM;
	return 0;
}

/* The names of the job's extract fields, in its options' order. */
static int
ctl_field_names(struct ctl_rows *w)
{
	struct reply r;
	char path[64];
	json_t *doc, *ex, *v;
	const char *name;

	snprintf(path, sizeof(path), "/v1/jobs/%" PRId64, opts->job_id);
	if (ctl_call("GET", path, NULL, NULL, 30, &r) != 0)
		return -1;
	doc = ctl_json(&r);
	free(r.body.data);
	if (doc == NULL)
		return -1;
	ex = json_object_get(json_object_get(doc, "options"), "extract");
	if (!json_is_object(ex) || json_object_size(ex) == 0) {
		fprintf(stderr, "harvestctl: job %" PRId64 " extracts no "
		    "fields\n", opts->job_id);
		json_decref(doc);
		return -1;
	}
	if ((w->names = calloc(json_object_size(ex), sizeof(*w->names))) ==
	    NULL) {
		json_decref(doc);
		return -1;
	}
	json_object_foreach(ex, name, v)
		if ((w->names[w->nnames] = strdup(name)) != NULL)
			w->nnames++;
	json_decref(doc);
	return 0;
}

/* Pages through the results, printing JSON lines or CSV. */
static int
cmd_results(void)
{
	struct ctl_rows w = { NULL, 0, 0, { NULL, 0, 0 }, 0 };
	struct reply r;
	char path[160];
	int64_t after = 0;
	size_t i;
	int rc = CTL_EXIT_ERROR;

	if (opts->fields && ctl_field_names(&w) != 0)
		return CTL_EXIT_ERROR;
	if (opts->format == CTL_CSV)
		ctl_csv_header_fields(stdout, opts->with_body,
		    (const char *const *)w.names, w.nnames);
	for (;;) {
		snprintf(path, sizeof(path), "/v1/jobs/%" PRId64 "/results?"
		    "after=%" PRId64 "&limit=1000%s%s", opts->job_id, after,
		    opts->with_body ? "&body=true" : "",
		    opts->failed_only ? "&failed=true" : "");
		w.n = 0;
		w.line.len = 0;
		if (ctl_call_sink("GET", path, NULL, NULL, 0, ctl_rows_cb, &w,
		    &r) != 0)
			goto out;	/* said why, unless stdout failed */
		if (r.status >= 400) {
			json_decref(ctl_json(&r));
			free(r.body.data);
			goto out;
		}
		free(r.body.data);
		ctl_csv_line(&w);	/* a last line without its newline */
		if (w.n == 0)
			break;
		after = strtoll(r.next_after, NULL, 10);
		if (after <= 0)
			break;
	}
	if (fflush(stdout) != 0)
		w.werr = errno;
	rc = w.werr == 0 ? 0 : CTL_EXIT_ERROR;
out:
	/* A reader that had enough (| head) is no error. */
	if (w.werr == EPIPE)
		rc = 0;
	else if (w.werr != 0)
		fprintf(stderr, "harvestctl: writing the results: %s\n",
		    strerror(w.werr));
	free(w.line.data);
	for (i = 0; i < w.nnames; i++)
		free(w.names[i]);
	free(w.names);
	return rc;
}

int
main(int argc, char **argv)
{
	struct ctl_opts o;
	char *err = NULL, path[64];
	int rc;

	if (ctl_parse_args(argc, argv, &o, &err) != 0) {
		fprintf(stderr, "harvestctl: %s\n", err != NULL ? err :
		    "bad arguments");
		free(err);
		ctl_usage(stderr);
		ctl_opts_clear(&o);
		return CTL_EXIT_USAGE;
	}
	if (o.cmd == CTL_NONE) {
		ctl_usage(stdout);
		ctl_opts_clear(&o);
		return 0;
	}
	opts = &o;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "harvestctl: libcurl failed to start\n");
		return CTL_EXIT_ERROR;
	}
	signal(SIGPIPE, SIG_IGN);
	switch (o.cmd) {
	case CTL_SUBMIT:
		rc = cmd_submit();
		break;
	case CTL_JOBS:
		rc = cmd_get("/v1/jobs?limit=1000", print_jobs);
		break;
	case CTL_JOB:
		snprintf(path, sizeof(path), "/v1/jobs/%" PRId64, o.job_id);
		rc = cmd_get(path, ctl_print_job);
		break;
	case CTL_WAIT:
		rc = cmd_wait(o.job_id);
		break;
	case CTL_CANCEL:
		rc = cmd_cancel();
		break;
	case CTL_RESULTS:
		rc = cmd_results();
		break;
	case CTL_STATUS:
		rc = cmd_get("/v1/status", print_status);
		break;
	case CTL_RETRY:
		rc = cmd_retry();
		break;
	default:
		rc = CTL_EXIT_USAGE;
	}
	curl_global_cleanup();
	ctl_opts_clear(&o);
	return rc;
}
