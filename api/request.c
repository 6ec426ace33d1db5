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

#include <curl/curl.h>
#include <jansson.h>

#include "api/api.h"

#define API_URL_MAX 8192

static char *
req_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
req_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

int
api_url_check(const char *url, char **host, char **reason)
{
	CURLU *h;
	CURLUcode uc;
	char *scheme = NULL;

	*host = NULL;
	*reason = NULL;
	if (strlen(url) > API_URL_MAX) {
		*reason = req_asprintf("URL longer than %d bytes", API_URL_MAX);
		return -1;
	}
	if ((h = curl_url()) == NULL) {
		*reason = req_asprintf("out of memory");
		return -1;
	}
	if ((uc = curl_url_set(h, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		*reason = req_asprintf("%s", curl_url_strerror(uc));
		goto fail;
	}
	if ((uc = curl_url_get(h, CURLUPART_SCHEME, &scheme, 0)) != CURLUE_OK) {
		*reason = req_asprintf("%s", curl_url_strerror(uc));
		goto fail;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		*reason = req_asprintf("scheme \"%s\" is not http or https",
		    scheme);
		goto fail;
	}
	if ((uc = curl_url_get(h, CURLUPART_HOST, host, 0)) != CURLUE_OK ||
	    **host == '\0') {
		*reason = req_asprintf("URL has no host");
		goto fail;
	}
	curl_free(scheme);
	curl_url_cleanup(h);
	/* Hand back memory from malloc, not libcurl's allocator. */
	{
		char *copy = strdup(*host);

		curl_free(*host);
		*host = copy;
		if (copy == NULL) {
			*reason = req_asprintf("out of memory");
			return -1;
		}
	}
	return 0;
fail:
	curl_free(scheme);
	if (*host != NULL) {
		curl_free(*host);
		*host = NULL;
	}
	curl_url_cleanup(h);
	if (*reason == NULL)
		*reason = strdup("invalid URL");
	return -1;
}

void
api_request_clear(struct api_request *req)
{
	size_t i;

	for (i = 0; i < req->nurls; i++) {
		free(req->urls[i].url);
		free(req->urls[i].host);
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

/* Adds one submitted URL, accepted or rejected. -1 only on ENOMEM. */
static int
req_add_url(struct api_request *req, size_t index, const char *url,
    size_t len, size_t cap)
{
	char *copy = NULL, *host = NULL, *reason = NULL;

	if (url != NULL && (copy = strndup(url, len)) == NULL)
		return -1;
	if (copy == NULL)
		reason = strdup("not a string");
	else if (strlen(copy) != len)
		reason = strdup("URL contains a NUL byte");
	else
		(void)api_url_check(copy, &host, &reason);
	if (reason == NULL && host == NULL) {
		free(copy);
		return -1;
	}
	if (reason != NULL) {
		req->rejected[req->nrejected].index = index;
		req->rejected[req->nrejected].url = copy;
		req->rejected[req->nrejected].reason = reason;
		req->nrejected++;
		return 0;
	}
	(void)cap;
	req->urls[req->nurls].url = copy;
	req->urls[req->nurls].host = host;
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
req_parse_text(const char *body, size_t len, struct api_request *req,
    const char **code, char **cause)
{
	const char *p = body, *end = body + len, *nl, *s, *e;
	size_t lines = 0, index = 0;

	for (s = body; s < end; s++)
		if (*s == '\n')
			lines++;
	if (req_alloc(req, lines + 1) != 0)
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
		if (req_add_url(req, index++, s, (size_t)(e - s),
		    lines + 1) != 0)
			goto nomem;
	}
	return 0;
nomem:
	*code = "internal";
	*cause = req_asprintf("out of memory");
	return -1;
}

static int
req_parse_json(const char *body, size_t len, struct api_request *req,
    const char **code, char **cause)
{
	json_error_t jerr;
	json_t *root, *urls = NULL, *value;
	const char *key;
	size_t i;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		*code = "invalid_json";
		*cause = req_asprintf("invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return -1;
	}
	*code = "invalid_request";
	if (!json_is_object(root)) {
		*cause = req_asprintf("the body must be a JSON object");
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
		*cause = req_asprintf("field \"urls\" is required");
		goto fail;
	}
	if (!json_is_array(urls)) {
		*cause = req_asprintf("field \"urls\" must be an array of "
		    "strings");
		goto fail;
	}
	if (req_alloc(req, json_array_size(urls)) != 0)
		goto nomem;
	json_array_foreach(urls, i, value) {
		if (req_add_url(req, i, json_is_string(value) ?
		    json_string_value(value) : NULL, json_is_string(value) ?
		    json_string_length(value) : 0, json_array_size(urls)) != 0)
			goto nomem;
	}
	json_decref(root);
	return 0;
nomem:
	*code = "internal";
	*cause = req_asprintf("out of memory");
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

int
api_request_parse(const char *body, size_t len, const char *content_type,
    struct api_request *req, const char **code, char **cause)
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
		*cause = req_asprintf("Content-Type must be application/json "
		    "or text/plain");
		return -1;
	}
	if (!json && memchr(body, '\0', len) != NULL) {
		*code = "invalid_request";
		*cause = req_asprintf("the body contains a NUL byte");
		return -1;
	}
	if ((json ? req_parse_json(body, len, req, code, cause) :
	    req_parse_text(body, len, req, code, cause)) != 0) {
		api_request_clear(req);
		return -1;
	}
	return 0;
}
