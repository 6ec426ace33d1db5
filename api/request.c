/*
 * api/request: turns a submission body into a job: options validated by
 * the job module's table, URLs validated one by one with curl_url so one
 * bad URL is rejected with a reason while the rest are accepted.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include <curl/curl.h>
#include <jansson.h>

#include "util/util.h"
#include "api/api.h"


int
api_url_check(const char *url, size_t max_length, char **canonical,
    char **host, char **reason)
{
	char *ascii;
	int rc;

	rc = job_url_check(url, max_length, canonical, &ascii, host, reason);
	free(ascii);
	return rc;
}

void
api_request_clear(struct api_request *req)
{
	size_t i;

	for (i = 0; i < req->nurls; i++) {
		free(req->urls[i].url);
		free(req->urls[i].host);
		free(req->urls[i].ascii);
	}
	for (i = 0; i < req->nrejected; i++) {
		free(req->rejected[i].url);
		free(req->rejected[i].reason);
	}
	free(req->urls);
	free(req->rejected);
	job_opts_clear(&req->opts);
	memset(req, 0, sizeof(*req));
	job_opts_init(&req->opts);
}

/* The length of the UTF-8 sequence at s (at most len bytes), 0 if none. */
static size_t
req_utf8_len(const unsigned char *s, size_t len)
{
	char buf[5];
	size_t n;

	if (s[0] < 0x80)
		return 1;
	n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 :
	    (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || n > len)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return job_utf8_valid(buf) ? n : 0;
}

/*
 * What a rejected URL is shown back as: a URL can be megabytes long, so at
 * most API_ECHO_MAX bytes of it, cut at a UTF-8 boundary; bytes that are
 * not UTF-8 (or NUL) become %XX, as a JSON string holds only UTF-8.
 */
static char *
req_echo(const char *url, size_t len, int *truncated)
{
	const unsigned char *s = (const unsigned char *)url;
	size_t i = 0, o = 0, n;
	char *out;

	*truncated = 0;
	if ((out = malloc(API_ECHO_MAX * 3 + 1)) == NULL)
		return NULL;
	while (i < len) {
		n = s[i] != 0 ? req_utf8_len(s + i, len - i) : 0;
		if (i + (n == 0 ? 1 : n) > API_ECHO_MAX) {
			*truncated = 1;
			break;
		}
		if (n == 0) {
			snprintf(out + o, 4, "%%%02X", s[i]);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	return out;
}

/* Adds one submitted URL, accepted or rejected. -1 only on ENOMEM. */
static int
req_add_url(struct api_request *req, const struct api_limits *lim,
    size_t index, const char *url, size_t len, size_t cap)
{
	char *copy = NULL, *canon = NULL, *host = NULL, *reason = NULL;
	char *ascii = NULL;
	struct api_reject *r;

	(void)cap;
	if (url != NULL && (copy = strndup(url, len)) == NULL)
		return -1;
	if (copy == NULL)
		reason = strdup("not a string");
	else if (strlen(copy) != len)
		reason = strdup("URL contains a NUL byte");
	else
		(void)job_url_check(copy, lim->max_url_length, &canon,
		    &ascii, &host, &reason);
	if (reason == NULL && host == NULL) {
		free(copy);
		return -1;
	}
	if (reason != NULL) {
		free(copy);
		r = &req->rejected[req->nrejected];
		if (url != NULL && (r->url = req_echo(url, len,
		    &r->truncated)) == NULL) {
			free(reason);
			return -1;
		}
		r->index = index;
		r->reason = reason;
		req->nrejected++;
		return 0;
	}
	free(copy);
	req->urls[req->nurls].url = canon;
	req->urls[req->nurls].host = host;
	req->urls[req->nurls].ascii = ascii;
	req->nurls++;
	return 0;
}

static int
req_alloc(struct api_request *req, size_t n)
{
	if (n == 0)
		n = 1;
	req->urls = calloc(n, sizeof(*req->urls));
	req->rejected = calloc(n, sizeof(*req->rejected));
	return req->urls != NULL && req->rejected != NULL ? 0 : -1;
}

static int
req_too_many(size_t n, const struct api_limits *lim, const char **code,
    char **cause)
{
	if (n <= lim->max_urls)
		return 0;
	*code = "too_many_urls";
	*cause = util_asprintf("%zu URLs in one job; max_urls_per_job is %zu",
	    n, lim->max_urls);
	return -1;
}

static int
req_parse_text(const char *body, size_t len, const struct api_limits *lim,
    struct api_request *req, const char **code, char **cause)
{
	const char *p = body, *end = body + len, *nl, *s, *e;
	size_t lines = 0, index = 0;

	for (s = body; s < end; s++)
		if (*s == '\n')
			lines++;
	/* Bounded by the limit, not by what a client claims to send. */
	if (req_alloc(req, lines + 1 < lim->max_urls ? lines + 1 :
	    lim->max_urls) != 0)
		goto nomem;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		s = p;
		e = nl;
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' ||
		    e[-1] == '\r'))
			e--;
		p = nl + 1;
		if (s == e || *s == '#')
			continue;
		if (req_too_many(index + 1, lim, code, cause) != 0)
			return -1;
		if (req_add_url(req, lim, index++, s, (size_t)(e - s),
		    lines + 1) != 0)
			goto nomem;
	}
	return 0;
nomem:
	*code = "internal";
	*cause = util_asprintf("out of memory");
	return -1;
}

static int
req_parse_json(const char *body, size_t len, const struct api_limits *lim,
    struct api_request *req, const char **code, char **cause)
{
	json_error_t jerr;
	json_t *root, *urls = NULL, *value;
	const char *key;
	size_t i;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		*code = "invalid_json";
		*cause = util_asprintf("invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return -1;
	}
	*code = "invalid_request";
	if (!json_is_object(root)) {
		*cause = util_asprintf("the body must be a JSON object");
		goto fail;
	}
	json_object_foreach(root, key, value) {
		if (strcmp(key, "urls") == 0) {
			urls = value;
			continue;
		}
		if (job_opts_set(&req->opts, key, value, cause) != 0)
			goto fail;
	}
	if (urls == NULL) {
		*cause = util_asprintf("field \"urls\" is required");
		goto fail;
	}
	if (!json_is_array(urls)) {
		*cause = util_asprintf("field \"urls\" must be an array of "
		    "strings");
		goto fail;
	}
	if (req_too_many(json_array_size(urls), lim, code, cause) != 0)
		goto fail;
	if (req_alloc(req, json_array_size(urls)) != 0)
		goto nomem;
	json_array_foreach(urls, i, value) {
		if (req_add_url(req, lim, i, json_is_string(value) ?
		    json_string_value(value) : NULL, json_is_string(value) ?
		    json_string_length(value) : 0, json_array_size(urls)) != 0)
			goto nomem;
	}
	json_decref(root);
	return 0;
nomem:
	*code = "internal";
	*cause = util_asprintf("out of memory");
fail:
	json_decref(root);
	return -1;
}

/* "application/json; charset=utf-8" -> compares "application/json". */
static int
media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, type, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static const struct api_url *dedupe_base;

/*
 * What dedupe compares: the request form, so that an international host
 * spelt in UTF-8, %XX-encoded or in punycode is one URL.
 */
static const char *
dedupe_key(const struct api_url *u)
{
	return u->ascii != NULL ? u->ascii : u->url;
}

static int
dedupe_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(dedupe_key(&dedupe_base[x]),
	    dedupe_key(&dedupe_base[y]));

	/* Equal URLs: the first submitted sorts first and is kept. */
	return c != 0 ? c : (x < y ? -1 : x > y);
}

/* Drops repeated URLs (after canonicalisation), keeping submission order. */
static int
req_dedupe(struct api_request *req)
{
	size_t *idx, i, n = 0;
	char *keep;

	if (req->nurls < 2)
		return 0;
	idx = calloc(req->nurls, sizeof(*idx));
	keep = calloc(req->nurls, 1);
	if (idx == NULL || keep == NULL) {
		free(idx);
		free(keep);
		return -1;
	}
	for (i = 0; i < req->nurls; i++)
		idx[i] = i;
	/* The parser runs on the API thread only: a static base is safe. */
	dedupe_base = req->urls;
	qsort(idx, req->nurls, sizeof(*idx), dedupe_cmp);
	for (i = 0; i < req->nurls; i++)
		keep[idx[i]] = i == 0 || strcmp(dedupe_key(&req->urls[idx[i]]),
		    dedupe_key(&req->urls[idx[i - 1]])) != 0;
	for (i = 0; i < req->nurls; i++) {
		if (keep[i])
			req->urls[n++] = req->urls[i];
		else {
			free(req->urls[i].url);
			free(req->urls[i].host);
			free(req->urls[i].ascii);
		}
	}
	req->nduplicates = req->nurls - n;
	req->nurls = n;
	free(idx);
	free(keep);
	return 0;
}

int
api_request_parse(const char *body, size_t len, const char *content_type,
    const struct api_limits *lim, struct api_request *req, const char **code,
    char **cause)
{
	size_t i;
	int json;

	memset(req, 0, sizeof(*req));
	job_opts_init(&req->opts);
	*cause = NULL;
	/* curl -d sends form-urlencoded by default: treat it as unlabelled. */
	if (content_type == NULL || *content_type == '\0' ||
	    media_is(content_type, "application/x-www-form-urlencoded")) {
		for (i = 0; i < len && (body[i] == ' ' || body[i] == '\t' ||
		    body[i] == '\r' || body[i] == '\n'); i++)
			;
		json = i < len && (body[i] == '{' || body[i] == '[');
	} else if (media_is(content_type, "application/json"))
		json = 1;
	else if (media_is(content_type, "text/plain"))
		json = 0;
	else {
		*code = "unsupported_media_type";
		*cause = util_asprintf("Content-Type must be application/json "
		    "or text/plain");
		return -1;
	}
	if (!json && memchr(body, '\0', len) != NULL) {
		*code = "invalid_request";
		*cause = util_asprintf("the body contains a NUL byte");
		return -1;
	}
	if ((json ? req_parse_json(body, len, lim, req, code, cause) :
	    req_parse_text(body, len, lim, req, code, cause)) != 0) {
		api_request_clear(req);
		return -1;
	}
	if (req_dedupe(req) != 0) {
		api_request_clear(req);
		*code = "internal";
		*cause = util_asprintf("out of memory");
		return -1;
	}
	return 0;
}
