/*
 * robots: a robots.txt parser and matcher following RFC 9309. It only
 * parses and answers; fetching and caching robots.txt is the scheduler's.
 */
#ifndef HARVESTD_ROBOTS_H
#define HARVESTD_ROBOTS_H

#include <stddef.h>
#include <stdint.h>

/* RFC 9309 2.5: parsers must handle at least 500 KiB; the rest is ignored. */
#define ROBOTS_MAX_BYTES	(500 * 1024)
/* Bounds on the Sitemap records kept; later or longer ones are dropped. */
#define ROBOTS_MAX_SITEMAPS	64
#define ROBOTS_MAX_SITEMAP_LEN	2048

struct robots;

/*
 * Parses robots.txt and keeps the rules of the groups for agent (a product
 * token such as "harvestd", see robots_agent_token), else of the "*"
 * groups, else none (everything allowed). A user-agent line names the
 * product token it starts with, compared case-insensitively: "FooBot/2 x"
 * names "foobot". text is not kept. NULL on ENOMEM.
 */
struct robots	*robots_parse(const char *text, size_t len, const char *agent);
/* Rules that allow everything (4xx) or nothing (5xx, unreachable). */
struct robots	*robots_allow_all(void);
struct robots	*robots_disallow_all(void);
void		 robots_free(struct robots *r);

/*
 * Whether path (the URL's path and query, starting with "/") may be
 * fetched: the longest matching rule wins, Allow on a tie; "/robots.txt"
 * is always allowed. Octets outside ASCII are percent-encoded first, in
 * the path as in the rules, and escapes compare case-insensitively; no
 * escape is decoded ("%2F" is not "/").
 */
int		 robots_allowed(const struct robots *r, const char *path);
/* The group's Crawl-delay in milliseconds, -1 when it sets none. */
int64_t		 robots_crawl_delay_ms(const struct robots *r);
/*
 * The file's Sitemap URLs, as written, in file order, whichever group they
 * stand in (they belong to no user agent). Sets *urls to an array borrowed
 * from r until robots_free (NULL when there are none) and returns its
 * length: at most ROBOTS_MAX_SITEMAPS, each at most ROBOTS_MAX_SITEMAP_LEN
 * octets. Nothing checks that they are URLs.
 */
size_t		 robots_sitemaps(const struct robots *r,
		    const char *const **urls);
/* The product token of a User-Agent: "harvestd/0.1 (x)" -> "harvestd". */
void		 robots_agent_token(const char *user_agent, char *buf,
		    size_t len);

#endif
