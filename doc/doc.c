/*
 * doc: owns the shape of every JSON document the API and the callbacks
 * send, so the two cannot drift apart.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "doc/doc.h"
#include "store/store.h"

static json_t *
doc_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* What the job's options make unsafe, as human sentences; NULL: none. */
static json_t *
doc_warnings(json_t *opts, const struct conf *c)
{
	json_t *tv = json_object_get(opts, "tls_verify");

	if (json_is_false(tv) || (tv == NULL && c != NULL && !c->tls_verify))
		return json_pack("[s]", "tls_verify is false: server "
		    "certificates and host names are not checked");
	return NULL;
}

json_t *
doc_job(const struct store_job *j, const struct conf *c)
{
	json_t *counts, *opts, *doc, *warnings;
	json_error_t jerr;
	int k;

	if ((counts = json_object()) == NULL)
		return NULL;
	for (k = 0; k < TASK_NSTATES; k++)
		json_object_set_new(counts, task_state_name((enum task_state)k),
		    json_integer(j->counts[k]));
	if ((opts = json_loads(j->options, 0, &jerr)) == NULL)
		opts = json_object();
	warnings = doc_warnings(opts, c);
	doc = json_pack("{s:I,s:s,s:I,s:o,s:o,s:s,s:o}",
	    "id", (json_int_t)j->id,
	    "state", job_state_name(j->state_code),
	    "total", (json_int_t)j->total,
	    "counts", counts,
	    "options", opts,
	    "created_at", j->created_at,
	    "finished_at", doc_str_or_null(j->finished_at));
	if (doc != NULL && warnings != NULL)
		json_object_set(doc, "warnings", warnings);
	json_decref(warnings);
	return doc;
}

json_t *
doc_error(const char *code, const char *message)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
	    message != NULL ? message : code);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
doc_base64(const unsigned char *p, size_t len)
{
	char *out, *o;
	size_t i;
	uint32_t v;

	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	o = out;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Text bodies as "body"; bodies that are not UTF-8 as "body_base64". */
static void
doc_set_body(json_t *doc, const struct store_row *r)
{
	json_t *text;
	char *enc;

	if (r->body == NULL) {
		/* "" for an empty response, null when there was none. */
		json_object_set_new(doc, "body", r->body_size == 0 &&
		    r->status > 0 ? json_string("") : json_null());
		return;
	}
	/* json_stringn fails on invalid UTF-8: then the body is binary. */
	if (memchr(r->body, '\0', r->body_len) == NULL &&
	    (text = json_stringn(r->body, r->body_len)) != NULL) {
		json_object_set_new(doc, "body", text);
		return;
	}
	if ((enc = doc_base64(r->body, r->body_len)) != NULL) {
		json_object_set_new(doc, "body_base64", json_string(enc));
		free(enc);
	}
}

json_t *
doc_result(const struct store_row *r, int with_body)
{
	json_t *doc;

	doc = json_pack("{s:I,s:I,s:I,s:s,s:o,s:o,s:o,s:I,s:b,s:o,s:I,"
	    "s:f,s:f,s:f,s:f,s:f,s:I,s:s,s:o,s:o}",
	    "id", (json_int_t)r->id,
	    "task_id", (json_int_t)r->task_id,
	    "job_id", (json_int_t)r->job_id,
	    "url", r->url != NULL ? r->url : "",
	    "final_url", doc_str_or_null(r->final_url),
	    "status", r->status > 0 ? json_integer(r->status) : json_null(),
	    "content_type", doc_str_or_null(r->content_type),
	    "body_size", (json_int_t)r->body_size,
	    "truncated", r->truncated,
	    "content_length", r->content_length >= 0 ?
	    json_integer(r->content_length) : json_null(),
	    "redirect_count", (json_int_t)r->redirect_count,
	    "time_dns_ms", r->time_dns_ms,
	    "time_connect_ms", r->time_connect_ms,
	    "time_tls_ms", r->time_tls_ms,
	    "time_ttfb_ms", r->time_ttfb_ms,
	    "time_total_ms", r->time_total_ms,
	    "attempts", (json_int_t)r->attempts,
	    "fetched_at", r->fetched_at != NULL ? r->fetched_at : "",
	    "error_kind", doc_str_or_null(r->error_kind),
	    "error_message", doc_str_or_null(r->error_message));
	if (doc == NULL)
		return NULL;
	if (r->headers != NULL)
		json_object_set_new(doc, "headers", json_string(r->headers));
	if (with_body)
		doc_set_body(doc, r);
	return doc;
}
