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
#include "job/job.h"
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
	/* The stored options keep credentials for the fetch; no one else
	 * sees them. */
	if (opts == NULL || job_opts_redact(opts) != 0) {
		json_decref(opts);
		json_decref(counts);
		json_decref(warnings);
		return NULL;
	}
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

char *
doc_base64(const unsigned char *p, size_t len)
{
	size_t n, used;
	char *out;

	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	n = doc_body_base64(out, (len + 2) / 3 * 4, p, len, 1, &used);
	out[n] = '\0';
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
	char *url, *final_url = NULL;
	json_t *doc = NULL;

	/* Results are stored redacted; rows older than that may not be. */
	if ((url = job_redact_url(r->url != NULL ? r->url : "")) == NULL ||
	    (r->final_url != NULL &&
	    (final_url = job_redact_url(r->final_url)) == NULL))
		goto out;
	doc = json_pack("{s:I,s:I,s:I,s:s,s:o,s:o,s:o,s:I,s:b,s:o,s:I,"
	    "s:f,s:f,s:f,s:f,s:f,s:I,s:s,s:o,s:o}",
	    "id", (json_int_t)r->id,
	    "task_id", (json_int_t)r->task_id,
	    "job_id", (json_int_t)r->job_id,
	    "url", url,
	    "final_url", doc_str_or_null(final_url),
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
		goto out;
	if (r->headers != NULL)
		json_object_set_new(doc, "headers", json_string(r->headers));
	/* Only jobs with extract have fields: other rows stay as they were. */
	if (r->fields != NULL)
		json_object_set_new(doc, "fields", json_loads(r->fields, 0,
		    NULL));
	if (with_body)
		doc_set_body(doc, r);
out:
	free(url);
	free(final_url);
	return doc;
}

/* --- streamed results lines --------------------------------------------- */

char *
doc_result_head(const struct store_row *r)
{
	json_t *doc;
	char *line;
	size_t len;

	if ((doc = doc_result(r, 0)) == NULL)
		return NULL;
	line = json_dumps(doc, DOC_JSON_FLAGS);
	json_decref(doc);
	/* doc_set_body adds the body last: it goes where the brace is. */
	if (line != NULL && (len = strlen(line)) > 0 && line[len - 1] == '}')
		line[len - 1] = '\0';
	return line;
}

void
doc_utf8_init(struct doc_utf8 *u)
{
	memset(u, 0, sizeof(*u));
}

/*
 * jansson's check (json_stringn refuses what fails it) plus doc_set_body's
 * own: no NUL byte. One byte at a time, so a character may span pieces.
 */
int
doc_utf8_feed(struct doc_utf8 *u, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len;
	unsigned char c;

	for (; p < end && !u->bad; p++) {
		c = *p;
		if (u->need == 0) {
			if (c >= 0x01 && c <= 0x7f)
				continue;
			if (c >= 0xc2 && c <= 0xdf) {
				u->need = 1;
				u->cp = c & 0x1f;
				u->min = 0x80;
			} else if (c >= 0xe0 && c <= 0xef) {
				u->need = 2;
				u->cp = c & 0x0f;
				u->min = 0x800;
			} else if (c >= 0xf0 && c <= 0xf4) {
				u->need = 3;
				u->cp = c & 0x07;
				u->min = 0x10000;
			} else
				u->bad = 1;	/* NUL, continuation, C0, C1, F5+ */
			continue;
		}
		if ((c & 0xc0) != 0x80) {
			u->bad = 1;
			continue;
		}
		u->cp = u->cp << 6 | (c & 0x3f);
		if (--u->need == 0 && (u->cp < u->min || u->cp > 0x10ffff ||
		    (u->cp >= 0xd800 && u->cp <= 0xdfff)))
			u->bad = 1;
	}
	return u->bad ? -1 : 0;
}

int
doc_utf8_end(const struct doc_utf8 *u)
{
	return !u->bad && u->need == 0 ? 0 : -1;
}

/* jansson's escape of one character (dump_string, JSON_ENSURE_ASCII). */
static size_t
doc_escape(char seq[12], uint32_t cp)
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t units[2];
	size_t n = 0, i;
	int k;

	switch (cp) {
	case '"':
		memcpy(seq, "\\\"", 2);
		return 2;
	case '\\':
		memcpy(seq, "\\\\", 2);
		return 2;
	case '\b':
		memcpy(seq, "\\b", 2);
		return 2;
	case '\f':
		memcpy(seq, "\\f", 2);
		return 2;
	case '\n':
		memcpy(seq, "\\n", 2);
		return 2;
	case '\r':
		memcpy(seq, "\\r", 2);
		return 2;
	case '\t':
		memcpy(seq, "\\t", 2);
		return 2;
	}
	if (cp < 0x10000)
		units[n++] = cp;
	else {
		/* Beyond the BMP: a UTF-16 surrogate pair. */
		cp -= 0x10000;
		units[n++] = 0xd800 | (cp >> 10 & 0x3ff);
		units[n++] = 0xdc00 | (cp & 0x3ff);
	}
	for (i = 0; i < n; i++) {
		seq[i * 6] = '\\';
		seq[i * 6 + 1] = 'u';
		for (k = 0; k < 4; k++)
			seq[i * 6 + 2 + (size_t)k] =
			    hex[units[i] >> (12 - 4 * k) & 0xf];
	}
	return n * 6;
}

int64_t
doc_body_text(char *out, size_t outlen, const unsigned char *in,
    size_t inlen, size_t *used)
{
	size_t i = 0, o = 0, n, k, len;
	uint32_t cp;
	unsigned char c;
	char seq[12];

	while (i < inlen) {
		c = in[i];
		/* Most of a body: ASCII that JSON takes as it is. */
		if (c >= 0x20 && c <= 0x7f && c != '"' && c != '\\') {
			if (o == outlen)
				break;
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {
			n = 1;
			cp = c;
		} else {
			if (c < 0xc2 || c > 0xf4)
				return -1;
			n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (inlen - i < n)
				break;		/* the rest comes next time */
			cp = c & (0x7fu >> n);
			for (k = 1; k < n; k++) {
				if ((in[i + k] & 0xc0) != 0x80)
					return -1;
				cp = cp << 6 | (in[i + k] & 0x3f);
			}
		}
		len = doc_escape(seq, cp);
		if (outlen - o < len)
			break;
		memcpy(out + o, seq, len);
		o += len;
		i += n;
	}
	*used = i;
	return (int64_t)o;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
doc_body_base64(char *out, size_t outlen, const unsigned char *p,
    size_t len, int last, size_t *used)
{
	size_t i = 0, o = 0;
	uint32_t v;

	for (; len - i >= 3 && outlen - o >= 4; i += 3, o += 4) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o] = b64[v >> 18 & 63];
		out[o + 1] = b64[v >> 12 & 63];
		out[o + 2] = b64[v >> 6 & 63];
		out[o + 3] = b64[v & 63];
	}
	if (last && len - i > 0 && len - i < 3 && outlen - o >= 4) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		out[o] = b64[v >> 18 & 63];
		out[o + 1] = b64[v >> 12 & 63];
		out[o + 2] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o + 3] = '=';
		o += 4;
		i = len;
	}
	*used = i;
	return o;
}
