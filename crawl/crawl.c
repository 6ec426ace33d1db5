/*
 * crawl: owns link discovery in parsed pages (<base>, rel and meta robots
 * nofollow), the followable form of a URL (libcurl's URL API), the job
 * field "follow" with its PCRE2 allow and deny lists, and follow scope by
 * host or by registrable domain (libpsl). Sitemaps are in sitemap.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <libpsl.h>
#include <libxml/hash.h>
#include <libxml/tree.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/util.h"
#include "extract/extract.h"
#include "crawl/crawl.h"

#define CRAWL_SPACE	" \t\n\f\r"	/* HTML's ASCII whitespace */

struct crawl_pattern {
	char		*source;
	pcre2_code	*code;
};

struct crawl_list {
	struct crawl_pattern	*v;
	size_t			 n;
};

struct crawl_follow {
	enum crawl_scope	 scope;
	int			 max_depth;
	int64_t			 max_pages;
	int			 nofollow;
	int			 sitemaps;
	struct crawl_list	 allow;
	struct crawl_list	 deny;
	pcre2_match_context	*mctx;	/* the limits; read-only once made */
};

static const char *const crawl_scope_names[] = { "host", "domain", "any" };

static pthread_once_t	 crawl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t	*crawl_psl;	/* never freed: the process's */
static pthread_key_t	 crawl_md_key;	/* this thread's pcre2_match_data */
static int		 crawl_md_key_ok;

static void
crawl_md_free_cb(void *md)
{
	pcre2_match_data_free(md);
}

static void
crawl_init_once(void)
{
	/* psl_latest picks the packaged list when it is newer than libpsl's
	 * built-in one. Without either, "domain" compares whole hosts. */
	if ((crawl_psl = psl_latest(NULL)) == NULL)
		crawl_psl = psl_builtin();
	crawl_md_key_ok = pthread_key_create(&crawl_md_key,
	    crawl_md_free_cb) == 0;
}

void
crawl_global_init(void)
{
	pthread_once(&crawl_once, crawl_init_once);
	extract_global_init();
}

static void
crawl_ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/*
 * ref as browsers read an href: surrounding whitespace ignored, tabs and
 * newlines inside removed (the URL standard), spaces percent-encoded
 * (libcurl's CURLU_URLENCODE would make a space in a query "+"). NULL when
 * empty, only a fragment or too long.
 */
static char *
crawl_clean_ref(const char *ref)
{
	size_t len, i, n = 0;
	char *out;

	ref += strspn(ref, CRAWL_SPACE);
	len = strlen(ref);
	while (len > 0 && strchr(CRAWL_SPACE, ref[len - 1]) != NULL)
		len--;
	if (len == 0 || ref[0] == '#' || len > CRAWL_MAX_URL)
		return NULL;
	if ((out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (ref[i] == '\t' || ref[i] == '\n' || ref[i] == '\r')
			continue;
		if (ref[i] == ' ') {
			memcpy(out + n, "%20", 3);
			n += 3;
		} else
			out[n++] = ref[i];
	}
	out[n] = '\0';
	return out;
}

/* The followable form of ref against base (NULL: ref must be absolute). */
static char *
crawl_resolve(CURLU *base, const char *ref)
{
	char *clean, *scheme = NULL, *host = NULL, *url = NULL, *out = NULL;
	const unsigned char *c;
	CURLU *h = NULL;

	if ((clean = crawl_clean_ref(ref)) == NULL)
		return NULL;
	if ((h = base != NULL ? curl_url_dup(base) : curl_url()) == NULL)
		goto out;
	/* NON_SUPPORT_SCHEME so that ftp: and the like parse, then fail the
	 * scheme test below rather than libcurl's. */
	if (curl_url_set(h, CURLUPART_URL, clean, CURLU_NON_SUPPORT_SCHEME |
	    CURLU_URLENCODE) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0) ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0')
		goto out;
	crawl_ascii_lower(host);
	if (curl_url_set(h, CURLUPART_HOST, host, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_URL, &url, CURLU_NO_DEFAULT_PORT |
	    CURLU_PUNYCODE) != CURLUE_OK || strlen(url) > CRAWL_MAX_URL)
		goto out;
	/* What the API accepts as a task's URL: printable ASCII. */
	for (c = (const unsigned char *)url; *c != '\0'; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			goto out;
	out = strdup(url);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(url);
	curl_url_cleanup(h);
	free(clean);
	return out;
}

/* A libcurl handle on an http(s) base URL, NULL when it is not one. */
static CURLU *
crawl_base(const char *base_url)
{
	char *url;
	CURLU *h;

	if ((url = crawl_resolve(NULL, base_url)) == NULL)
		return NULL;
	if ((h = curl_url()) != NULL &&
	    curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(h);
		h = NULL;
	}
	free(url);
	return h;
}

char *
crawl_url_normalise(const char *base_url, const char *ref)
{
	CURLU *base = NULL;
	char *url;

	if (ref == NULL ||
	    (base_url != NULL && (base = crawl_base(base_url)) == NULL))
		return NULL;
	url = crawl_resolve(base, ref);
	curl_url_cleanup(base);
	return url;
}

/* The next node in document order below top: iterative, so that a deeply
 * nested page does not grow the stack. Entity references are not entered. */
static xmlNodePtr
crawl_next(xmlNodePtr cur, xmlNodePtr top)
{
	if (cur->type == XML_ELEMENT_NODE && cur->children != NULL)
		return cur->children;
	while (cur != top && cur->next == NULL)
		cur = cur->parent;
	return cur == top ? NULL : cur->next;
}

static int
crawl_is(xmlNodePtr node, const char *name)
{
	return node->type == XML_ELEMENT_NODE &&
	    xmlStrcasecmp(node->name, (const xmlChar *)name) == 0;
}

/* Whether list, split at any of seps, has the token tok (ASCII case
 * folded), as in rel="noopener nofollow" or content="noindex, nofollow". */
static int
crawl_has_token(const xmlChar *list, const char *seps, const char *tok)
{
	const char *s = (const char *)list;
	size_t n, len = strlen(tok);

	while (*s != '\0') {
		s += strspn(s, seps);
		n = strcspn(s, seps);
		if (n == len && strncasecmp(s, tok, len) == 0)
			return 1;
		s += n;
	}
	return 0;
}

/* <meta name="robots" content="..."> with "nofollow" or "none". */
static int
crawl_meta_nofollow(xmlNodePtr node)
{
	xmlChar *name, *content;
	int nofollow = 0;

	if ((name = xmlGetNoNsProp(node, (const xmlChar *)"name")) == NULL)
		return 0;
	if (xmlStrcasecmp(name, (const xmlChar *)"robots") == 0 &&
	    (content = xmlGetNoNsProp(node, (const xmlChar *)"content")) !=
	    NULL) {
		nofollow = crawl_has_token(content, "," CRAWL_SPACE,
		    "nofollow") || crawl_has_token(content, "," CRAWL_SPACE,
		    "none");
		xmlFree(content);
	}
	xmlFree(name);
	return nofollow;
}

/*
 * The page's base: its first <base href> resolved against base (HTML: only
 * the first counts, and one that does not resolve leaves the page's URL).
 * Also says whether a meta robots forbids following. NULL on ENOMEM.
 */
static CURLU *
crawl_page_base(xmlNodePtr top, CURLU *base, int *nofollow)
{
	xmlNodePtr cur;
	xmlChar *href;
	int have_base = 0;
	char *url;
	CURLU *h;

	*nofollow = 0;
	for (cur = top->children; cur != NULL; cur = crawl_next(cur, top)) {
		if (crawl_is(cur, "meta") && crawl_meta_nofollow(cur))
			*nofollow = 1;
		if (have_base || !crawl_is(cur, "base") ||
		    (href = xmlGetNoNsProp(cur, (const xmlChar *)"href")) ==
		    NULL)
			continue;
		have_base = 1;
		url = crawl_resolve(base, (const char *)href);
		xmlFree(href);
		if (url == NULL)
			continue;
		if ((h = curl_url()) != NULL &&
		    curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK) {
			curl_url_cleanup(base);
			base = h;
		} else
			curl_url_cleanup(h);
		free(url);
	}
	return base;
}

int
crawl_links(struct extract_doc *doc, const char *base_url, int with_nofollow,
    size_t max_links, crawl_link_cb cb, void *arg)
{
	xmlHashTablePtr seen = NULL;
	xmlNodePtr top, cur;
	xmlChar *href, *rel;
	CURLU *base;
	char *url;
	int count = 0, nofollow, skip, stop = 0;

	crawl_global_init();
	if (doc == NULL || base_url == NULL ||
	    (base = crawl_base(base_url)) == NULL)
		return -1;
	top = (xmlNodePtr)extract_doc_tree(doc);
	base = crawl_page_base(top, base, &nofollow);
	if (nofollow && !with_nofollow)
		goto out;
	if ((seen = xmlHashCreate(64)) == NULL) {
		count = -1;
		goto out;
	}
	for (cur = top->children; cur != NULL && !stop;
	    cur = crawl_next(cur, top)) {
		if (!crawl_is(cur, "a") && !crawl_is(cur, "area"))
			continue;
		if ((href = xmlGetNoNsProp(cur, (const xmlChar *)"href")) ==
		    NULL)
			continue;
		skip = 0;
		if (!with_nofollow && (rel = xmlGetNoNsProp(cur,
		    (const xmlChar *)"rel")) != NULL) {
			skip = crawl_has_token(rel, CRAWL_SPACE, "nofollow");
			xmlFree(rel);
		}
		url = skip ? NULL : crawl_resolve(base, (const char *)href);
		xmlFree(href);
		if (url == NULL)
			continue;
		/* -1 for a duplicate (and ENOMEM: the link is dropped). */
		if (xmlHashAddEntry(seen, (const xmlChar *)url, seen) == 0) {
			count++;
			stop = cb(url, arg) != 0 ||
			    (max_links > 0 && (size_t)count >= max_links);
		}
		free(url);
	}
out:
	xmlHashFree(seen, NULL);
	curl_url_cleanup(base);
	return count;
}

static void
crawl_list_clear(struct crawl_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].source);
		pcre2_code_free(l->v[i].code);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
crawl_follow_free(struct crawl_follow *f)
{
	if (f == NULL)
		return;
	crawl_list_clear(&f->allow);
	crawl_list_clear(&f->deny);
	pcre2_match_context_free(f->mctx);
	free(f);
}

/*
 * Compiles "allow" or "deny". UTF mode so that a class like [é] means a
 * character; MATCH_INVALID_UTF so that any URL bytes are safe to match;
 * no \C, which could split a character.
 */
static int
crawl_compile_list(struct crawl_list *l, const char *key, json_t *v,
    char **cause)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE offset;
	const char *s;
	json_t *item;
	size_t i, len;
	int err;

	if (!json_is_array(v) || json_array_size(v) > CRAWL_MAX_PATTERNS) {
		*cause = util_asprintf("field \"follow.%s\" must be an array "
		    "of at most %d regular expressions", key,
		    CRAWL_MAX_PATTERNS);
		return -1;
	}
	crawl_list_clear(l);
	if ((l->v = calloc(json_array_size(v) + 1, sizeof(*l->v))) == NULL) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	json_array_foreach(v, i, item) {
		s = json_string_value(item);
		len = json_string_length(item);
		if (s == NULL || len < 1 || len > CRAWL_MAX_PATTERN ||
		    strlen(s) != len) {
			*cause = util_asprintf("field \"follow.%s[%zu]\" must "
			    "be a string of 1 to %d bytes", key, i,
			    CRAWL_MAX_PATTERN);
			return -1;
		}
		l->v[l->n].code = pcre2_compile((PCRE2_SPTR)s, len, PCRE2_UTF |
		    PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &err,
		    &offset, NULL);
		if (l->v[l->n].code == NULL) {
			if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0)
				strcpy((char *)msg, "invalid pattern");
			*cause = util_asprintf("field \"follow.%s[%zu]\": %s "
			    "at offset %zu", key, i, (const char *)msg,
			    (size_t)offset);
			return -1;
		}
		if ((l->v[l->n].source = strdup(s)) == NULL) {
			pcre2_code_free(l->v[l->n].code);
			*cause = util_asprintf("out of memory");
			return -1;
		}
		l->n++;
	}
	return 0;
}

/* An integer member between min and max. */
static int
crawl_int(const char *key, json_t *v, json_int_t min, json_int_t max,
    json_int_t *out, char **cause)
{
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		*cause = util_asprintf("field \"follow.%s\" must be an integer "
		    "between %lld and %lld", key, (long long)min,
		    (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
crawl_bool(const char *key, json_t *v, int *out, char **cause)
{
	if (!json_is_boolean(v)) {
		*cause = util_asprintf("field \"follow.%s\" must be true or "
		    "false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* One member of "follow". */
static int
crawl_follow_set(struct crawl_follow *f, const char *key, json_t *v,
    char **cause)
{
	const char *s;
	json_int_t n;
	size_t i;

	if (strcmp(key, "scope") == 0) {
		s = json_is_string(v) ? json_string_value(v) : "";
		for (i = 0; i < 3; i++) {
			if (strcmp(s, crawl_scope_names[i]) == 0) {
				f->scope = (enum crawl_scope)i;
				return 0;
			}
		}
		*cause = util_asprintf("field \"follow.scope\" must be "
		    "\"host\", \"domain\" or \"any\"");
		return -1;
	}
	if (strcmp(key, "max_depth") == 0) {
		if (crawl_int(key, v, 0, CRAWL_MAX_DEPTH_MAX, &n, cause) != 0)
			return -1;
		f->max_depth = (int)n;
		return 0;
	}
	if (strcmp(key, "max_pages") == 0) {
		if (crawl_int(key, v, 1, CRAWL_MAX_PAGES_MAX, &n, cause) != 0)
			return -1;
		f->max_pages = (int64_t)n;
		return 0;
	}
	if (strcmp(key, "allow") == 0)
		return crawl_compile_list(&f->allow, key, v, cause);
	if (strcmp(key, "deny") == 0)
		return crawl_compile_list(&f->deny, key, v, cause);
	if (strcmp(key, "nofollow") == 0)
		return crawl_bool(key, v, &f->nofollow, cause);
	if (strcmp(key, "sitemaps") == 0)
		return crawl_bool(key, v, &f->sitemaps, cause);
	*cause = util_asprintf("field \"follow.%s\" is unknown", key);
	return -1;
}

struct crawl_follow *
crawl_follow_compile(json_t *spec, char **cause)
{
	struct crawl_follow *f;
	const char *key;
	json_t *v;

	*cause = NULL;
	crawl_global_init();
	if ((f = calloc(1, sizeof(*f))) == NULL)
		goto fail;
	f->scope = CRAWL_SCOPE_HOST;
	f->max_depth = CRAWL_MAX_DEPTH_DEFAULT;
	f->max_pages = CRAWL_MAX_PAGES_DEFAULT;
	if ((f->mctx = pcre2_match_context_create(NULL)) == NULL)
		goto fail;
	/* Users' patterns: a catastrophic one must end, not stall a worker
	 * (a pattern's own (*LIMIT_MATCH=) can only lower these). */
	pcre2_set_match_limit(f->mctx, CRAWL_MATCH_LIMIT);
	pcre2_set_depth_limit(f->mctx, CRAWL_DEPTH_LIMIT);
	pcre2_set_heap_limit(f->mctx, CRAWL_HEAP_LIMIT_KIB);
	if (spec == NULL)
		return f;
	if (!json_is_object(spec)) {
		*cause = util_asprintf("field \"follow\" must be an object");
		goto fail;
	}
	json_object_foreach(spec, key, v) {
		if (crawl_follow_set(f, key, v, cause) != 0)
			goto fail;
	}
	return f;
fail:
	crawl_follow_free(f);
	if (*cause == NULL)
		*cause = util_asprintf("out of memory");
	return NULL;
}

static json_t *
crawl_list_json(const struct crawl_list *l)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < l->n; i++) {
		if (json_array_append_new(a, json_string(l->v[i].source)) !=
		    0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
crawl_follow_to_json(const struct crawl_follow *f)
{
	return json_pack("{s:s, s:i, s:I, s:o, s:o, s:b, s:b}",
	    "scope", crawl_scope_names[f->scope],
	    "max_depth", f->max_depth,
	    "max_pages", (json_int_t)f->max_pages,
	    "allow", crawl_list_json(&f->allow),
	    "deny", crawl_list_json(&f->deny),
	    "nofollow", f->nofollow,
	    "sitemaps", f->sitemaps);
}

enum crawl_scope
crawl_follow_scope(const struct crawl_follow *f)
{
	return f->scope;
}

int
crawl_follow_max_depth(const struct crawl_follow *f)
{
	return f->max_depth;
}

int64_t
crawl_follow_max_pages(const struct crawl_follow *f)
{
	return f->max_pages;
}

int
crawl_follow_nofollow(const struct crawl_follow *f)
{
	return f->nofollow;
}

int
crawl_follow_sitemaps(const struct crawl_follow *f)
{
	return f->sitemaps;
}

/* This thread's match data: pcre2_match writes to it, so threads cannot
 * share one; the key's destructor frees it when the thread ends. */
static pcre2_match_data *
crawl_match_data(void)
{
	pcre2_match_data *md;

	if (!crawl_md_key_ok)
		return NULL;
	if ((md = pthread_getspecific(crawl_md_key)) != NULL)
		return md;
	if ((md = pcre2_match_data_create(1, NULL)) == NULL)
		return NULL;
	if (pthread_setspecific(crawl_md_key, md) != 0) {
		pcre2_match_data_free(md);
		return NULL;
	}
	return md;
}

/* Whether a pattern of l matches; a match that fails (a limit reached)
 * counts as failed_is. */
static int
crawl_list_hits(const struct crawl_follow *f, const struct crawl_list *l,
    const char *url, size_t len, pcre2_match_data *md, int failed_is)
{
	size_t i;
	int rc;

	for (i = 0; i < l->n; i++) {
		/* 0 is a match whose offsets did not fit: still a match. */
		rc = pcre2_match(l->v[i].code, (PCRE2_SPTR)url, len, 0, 0, md,
		    f->mctx);
		if (rc >= 0 || (rc != PCRE2_ERROR_NOMATCH && failed_is))
			return 1;
	}
	return 0;
}

int
crawl_url_allowed(const struct crawl_follow *f, const char *url)
{
	pcre2_match_data *md;
	size_t len;

	if (f->allow.n == 0 && f->deny.n == 0)
		return 1;
	crawl_global_init();
	if (url == NULL || (md = crawl_match_data()) == NULL)
		return 0;	/* fail closed */
	len = strlen(url);
	if (f->allow.n > 0 && !crawl_list_hits(f, &f->allow, url, len, md, 0))
		return 0;
	return !crawl_list_hits(f, &f->deny, url, len, md, 1);
}

/* host lowercased, without one trailing dot; NULL when empty or ENOMEM. */
static char *
crawl_host_norm(const char *host)
{
	size_t len;
	char *h;

	if (host == NULL || (len = strlen(host)) == 0)
		return NULL;
	if (host[len - 1] == '.')
		len--;
	if (len == 0 || (h = strndup(host, len)) == NULL)
		return NULL;
	crawl_ascii_lower(h);
	return h;
}

char *
crawl_registrable_domain(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *rd;
	char *h, *out;

	crawl_global_init();
	if ((h = crawl_host_norm(host)) == NULL)
		return NULL;
	/* IP literals have no registrable domain: they compare whole. */
	if (crawl_psl == NULL || h[0] == '[' ||
	    inet_pton(AF_INET, h, addr) == 1 ||
	    inet_pton(AF_INET6, h, addr) == 1)
		return h;
	/* NULL for a public suffix itself ("co.uk"): the host stays. */
	if ((rd = psl_registrable_domain(crawl_psl, h)) == NULL || rd == h)
		return h;
	out = strdup(rd);
	free(h);
	return out;
}

int
crawl_in_scope(const struct crawl_follow *f, const char *seed_host,
    const char *host)
{
	char *a = NULL, *b = NULL;
	int same;

	if (f->scope == CRAWL_SCOPE_ANY)
		return 1;
	if (f->scope == CRAWL_SCOPE_HOST) {
		a = crawl_host_norm(seed_host);
		b = crawl_host_norm(host);
	} else {
		a = crawl_registrable_domain(seed_host);
		b = crawl_registrable_domain(host);
	}
	same = a != NULL && b != NULL && strcmp(a, b) == 0;
	free(a);
	free(b);
	return same;
}
