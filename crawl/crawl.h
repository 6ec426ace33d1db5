/*
 * crawl: what a crawl needs to decide where to go next, without going
 * there: the links of a parsed HTML page, the job field "follow" (scope,
 * limits, allow and deny regexes), registrable domains, and sitemaps
 * (sitemaps.org: XML, gzip, plain text). Pure: no I/O but reading the
 * public suffix list once; every function is thread-safe.
 */
#ifndef HARVESTD_CRAWL_H
#define HARVESTD_CRAWL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct extract_doc;
struct crawl_follow;

/* Called with each URL (borrowed, valid during the call); non-zero stops. */
typedef int	(*crawl_link_cb)(const char *url, void *arg);

/* Longer links are not followed. */
#define CRAWL_MAX_URL		8192

enum crawl_scope {
	CRAWL_SCOPE_HOST,	/* the same host, exactly (the default) */
	CRAWL_SCOPE_DOMAIN,	/* the same registrable domain (libpsl) */
	CRAWL_SCOPE_ANY
};

#define CRAWL_MAX_DEPTH_DEFAULT	3
#define CRAWL_MAX_DEPTH_MAX	100
#define CRAWL_MAX_PAGES_DEFAULT	10000
#define CRAWL_MAX_PAGES_MAX	10000000
#define CRAWL_MAX_PATTERNS	64	/* in each of allow and deny */
#define CRAWL_MAX_PATTERN	1024	/* bytes in one pattern */
/* PCRE2 limits of one match: a pattern that needs more fails closed. */
#define CRAWL_MATCH_LIMIT	100000
#define CRAWL_DEPTH_LIMIT	10000
#define CRAWL_HEAP_LIMIT_KIB	16384

/* The sitemaps.org limits of one file; past them the rest is ignored. */
#define CRAWL_SITEMAP_MAX_URLS	50000
#define CRAWL_SITEMAP_MAX_BYTES	(50 * 1024 * 1024)	/* uncompressed */

/*
 * Loads the public suffix list (psl_latest: the publicsuffix package's
 * file, else libpsl's built-in list) and initialises libxml2. Done on
 * first use otherwise; the daemon calls it at start-up so that no worker
 * reads the file. Any thread, any number of times.
 */
void		 crawl_global_init(void);

/*
 * The followable form of ref resolved against base_url (NULL: ref must be
 * absolute): http or https only, fragment removed, host lowercased, default
 * port dropped, spaces and non-ASCII percent-encoded (IDN hosts in
 * punycode when libcurl can), printable ASCII only, at most CRAWL_MAX_URL
 * bytes. Leading and trailing whitespace of ref is ignored and tabs and
 * newlines inside it removed, as browsers do. NULL when ref is empty, only
 * a fragment ("#top": the page itself), not http(s) (javascript:,
 * mailto:, data:, ftp: ...) or unparsable. Allocated; the caller frees.
 */
char		*crawl_url_normalise(const char *base_url, const char *ref);

/*
 * Passes the links of an HTML page to cb, each once, in document order:
 * the href of every <a> and <area>, normalised as crawl_url_normalise does
 * against the page's first <base href> (itself resolved against base_url)
 * or else base_url, the page's final URL. Unless with_nofollow, links whose
 * rel has the token "nofollow" are skipped, and so are all links when a
 * <meta name="robots"> says "nofollow" or "none". At most max_links are
 * passed (0: no limit). doc is borrowed. Returns the number of links passed
 * (including one whose cb stopped the walk), -1 when base_url is not an
 * http(s) URL or on ENOMEM.
 */
int		 crawl_links(struct extract_doc *doc, const char *base_url,
		    int with_nofollow, size_t max_links, crawl_link_cb cb,
		    void *arg);

/*
 * Validates the job field "follow" (borrowed; NULL gives the defaults):
 *   {"scope": "host" | "domain" | "any",	default "host"
 *    "max_depth": 0..100,			default 3 (0: the seeds only)
 *    "max_pages": 1..10000000,			default 10000
 *    "allow": ["regex", ...],			default none: everything
 *    "deny": ["regex", ...],			default none
 *    "nofollow": bool,	follow rel=nofollow links too, default false
 *    "sitemaps": bool}	discover URLs from sitemaps, default false
 * Regexes are PCRE2, UTF-8, case-sensitive unless (?i), unanchored (a
 * match anywhere in the absolute URL counts). NULL with *cause set (the
 * caller frees it) when invalid, e.g. field "follow.scopes" is unknown,
 * field "follow.allow[1]": missing closing parenthesis at offset 9.
 */
struct crawl_follow *crawl_follow_compile(json_t *spec, char **cause);
/* The normalised spec, every key present (new reference). */
json_t		*crawl_follow_to_json(const struct crawl_follow *f);
void		 crawl_follow_free(struct crawl_follow *f);

enum crawl_scope crawl_follow_scope(const struct crawl_follow *f);
int		 crawl_follow_max_depth(const struct crawl_follow *f);
int64_t		 crawl_follow_max_pages(const struct crawl_follow *f);
/* Whether links marked nofollow are followed too: crawl_links's
 * with_nofollow. */
int		 crawl_follow_nofollow(const struct crawl_follow *f);
int		 crawl_follow_sitemaps(const struct crawl_follow *f);

/*
 * Whether the absolute url passes "allow" (when given, at least one must
 * match) and "deny" (none may match). A match that reaches PCRE2's limits
 * fails closed: it does not allow, and it denies.
 */
int		 crawl_url_allowed(const struct crawl_follow *f,
		    const char *url);

/*
 * Whether host is in the follow scope of seed_host (the caller chooses the
 * seed): "any" always; "host" the same host; "domain" the same registrable
 * domain. Hosts compare case-insensitively, without a trailing dot.
 */
int		 crawl_in_scope(const struct crawl_follow *f,
		    const char *seed_host, const char *host);

/*
 * The registrable domain of host ("a.example.co.uk" -> "example.co.uk",
 * "x.github.io" -> "x.github.io"), lowercased; for an IP literal, a public
 * suffix itself or without a suffix list, the lowercased host. Allocated;
 * NULL on ENOMEM or an empty host.
 */
char		*crawl_registrable_domain(const char *host);

/*
 * Parses one sitemap file (body borrowed): gzip-compressed or not (the
 * magic 1f 8b decides), XML (<urlset> of <url><loc>, or <sitemapindex> of
 * <sitemap><loc>: *is_index 1, else 0; in any namespace), or
 * plain text (one URL per line) when the body does not start with "<".
 * XML is parsed without network, DTD or entities (a reference to one is
 * dropped); a bare "&" is read as "&amp;". Each loc is trimmed and
 * normalised as crawl_url_normalise does; only absolute http(s) URLs are
 * passed to cb. At most CRAWL_SITEMAP_MAX_URLS URLs and
 * CRAWL_SITEMAP_MAX_BYTES uncompressed bytes are read: the rest is
 * ignored. Returns the number of URLs passed, -1 with *cause set (the
 * caller frees it) for corrupt or truncated gzip, an XML root that is not
 * a sitemap's (nothing was passed to cb then), or ENOMEM. is_index may be
 * NULL.
 */
int		 crawl_sitemap_parse(const char *body, size_t len,
		    int *is_index, crawl_link_cb cb, void *arg, char **cause);

#endif
