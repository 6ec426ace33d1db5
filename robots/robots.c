/*
 * robots: owns the RFC 9309 grammar (groups, user-agent matching, allow and
 * disallow rules with "*" and "$", longest match), Crawl-delay and
 * Sitemap. Where the RFC leaves room, it answers as Google's reference
 * parser (github.com/google/robotstxt) does: that is what sites check
 * their robots.txt against.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "robots/robots.h"

struct robots_rule {
	char	*pattern;
	size_t	 len;		/* octets in the pattern: its precedence */
	int	 allow;
};

struct robots {
	struct robots_rule	*rules;
	size_t			 nrules;
	size_t			 cap;
	char			**sitemaps;
	size_t			 nsitemaps;
	size_t			 sitemaps_cap;
	int64_t			 crawl_delay_ms;
	int			 disallow_all;
};

static struct robots *
robots_new(void)
{
	struct robots *r = calloc(1, sizeof(*r));

	if (r != NULL)
		r->crawl_delay_ms = -1;
	return r;
}

struct robots *
robots_allow_all(void)
{
	return robots_new();
}

struct robots *
robots_disallow_all(void)
{
	struct robots *r = robots_new();

	if (r != NULL)
		r->disallow_all = 1;
	return r;
}

void
robots_free(struct robots *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrules; i++)
		free(r->rules[i].pattern);
	free(r->rules);
	for (i = 0; i < r->nsitemaps; i++)
		free(r->sitemaps[i]);
	free(r->sitemaps);
	free(r);
}

/* RFC 9309 2.2.1: a product token is [a-zA-Z_-]+, ASCII in any locale. */
static int
robots_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    c == '-';
}

void
robots_agent_token(const char *user_agent, char *buf, size_t len)
{
	size_t n = 0;

	while (user_agent != NULL && n + 1 < len &&
	    robots_token_char(user_agent[n])) {
		buf[n] = user_agent[n];
		n++;
	}
	if (len > 0)
		buf[n] = '\0';
}

/*
 * Whether a user-agent line's value names want (a product token, or "*"
 * when want is NULL). Only the value's leading product token counts, as
 * in the reference parser: "FOO BAR" and "foo/1.0" name "foo", and "* x"
 * is still "*".
 */
static int
robots_agent_names(const char *val, size_t vlen, const char *want)
{
	size_t n = 0;

	if (want == NULL)
		return vlen > 0 && val[0] == '*' &&
		    (vlen == 1 || isspace((unsigned char)val[1]));
	while (n < vlen && robots_token_char(val[n]))
		n++;
	return n > 0 && n == strlen(want) && strncasecmp(val, want, n) == 0;
}

/*
 * Copies s (len octets, or up to a NUL) in the form rules and paths are
 * compared in (RFC 9309 2.2.2): octets outside ASCII percent-encoded, the
 * hex digits of escapes upper-cased so that %c3 and %C3 compare alike.
 * Nothing is decoded, as in the reference parser: %2F stays apart from
 * "/", %2A from "*". NULL on ENOMEM.
 */
static char *
robots_escape(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t i, n = 0;
	char *out, *o;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;	/* n cannot overflow below */
	for (i = 0; i < len && s[i] != '\0'; i++)
		n += ((unsigned char)s[i] & 0x80) ? 3 : 1;
	len = i;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '%' && i + 2 < len &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			*o++ = '%';
			*o++ = (char)toupper((unsigned char)s[++i]);
			*o++ = (char)toupper((unsigned char)s[++i]);
		} else if (c & 0x80) {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
		} else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

static int
robots_add_rule(struct robots *r, const char *value, size_t len, int allow)
{
	struct robots_rule *v;
	size_t cap;
	char *p;

	if (len == 0)
		return 0;	/* "Disallow:" with no path allows all */
	if (r->nrules == r->cap) {
		cap = r->cap == 0 ? 16 : r->cap * 2;
		if ((v = realloc(r->rules, cap * sizeof(*v))) == NULL)
			return -1;
		r->rules = v;
		r->cap = cap;
	}
	if ((p = robots_escape(value, len)) == NULL)
		return -1;
	if (*p == '\0') {
		free(p);	/* a NUL first: as if empty, not "match all" */
		return 0;
	}
	r->rules[r->nrules].pattern = p;
	r->rules[r->nrules].len = strlen(p);
	r->rules[r->nrules].allow = allow;
	r->nrules++;
	return 0;
}

enum robots_key {
	ROBOTS_KEY_OTHER,	/* a record RFC 9309 does not define */
	ROBOTS_KEY_AGENT,
	ROBOTS_KEY_ALLOW,
	ROBOTS_KEY_DISALLOW,
	ROBOTS_KEY_DELAY,
	ROBOTS_KEY_SITEMAP
};

static const struct {
	const char	*name;
	enum robots_key	 key;
} robots_keys[] = {
	{ "user-agent",		ROBOTS_KEY_AGENT },
	{ "allow",		ROBOTS_KEY_ALLOW },
	{ "disallow",		ROBOTS_KEY_DISALLOW },
	{ "crawl-delay",	ROBOTS_KEY_DELAY },
	{ "sitemap",		ROBOTS_KEY_SITEMAP },
};

/* One line of the file: which record it is and its trimmed value. */
struct robots_record {
	enum robots_key	 key;
	const char	*val;
	size_t		 vlen;
};

static enum robots_key
robots_key_of(const char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < sizeof(robots_keys) / sizeof(robots_keys[0]); i++) {
		if (klen == strlen(robots_keys[i].name) &&
		    strncasecmp(key, robots_keys[i].name, klen) == 0)
			return robots_keys[i].key;
	}
	return ROBOTS_KEY_OTHER;
}

static int
robots_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Splits "key: value # comment" into a record; -1 when the line is none.
 * Some files forget the colon ("disallow /x"); as the reference parser
 * does, a line of exactly two words is then read as key and value.
 */
static int
robots_split(const char *line, size_t len, struct robots_record *rec)
{
	const char *key = line, *end = line + len, *kend, *val, *p;

	if ((p = memchr(line, '#', len)) != NULL)
		end = p;
	while (key < end && isspace((unsigned char)*key))
		key++;
	while (end > key && isspace((unsigned char)end[-1]))
		end--;
	if ((kend = memchr(key, ':', (size_t)(end - key))) != NULL)
		val = kend + 1;
	else {
		for (kend = key; kend < end && !robots_blank(*kend); kend++)
			;
		for (val = kend; val < end && robots_blank(*val); val++)
			;
		if (val == end)
			return -1;	/* one word */
		for (p = val; p < end; p++) {
			if (robots_blank(*p))
				return -1;	/* three or more */
		}
	}
	while (kend > key && isspace((unsigned char)kend[-1]))
		kend--;
	while (val < end && isspace((unsigned char)*val))
		val++;
	if (kend == key)
		return -1;
	rec->key = robots_key_of(key, (size_t)(kend - key));
	rec->val = val;
	rec->vlen = (size_t)(end - val);
	return 0;
}

/*
 * Reads the line at *p into rec and moves *p past it; 0 at the end. A
 * line that is no record reads as ROBOTS_KEY_OTHER. RFC 9309 ends lines
 * with CR, LF or CR LF: splitting at either octet reads CR LF as a line
 * and an empty one, and empty lines mean nothing.
 */
static int
robots_next(const char **p, const char *end, struct robots_record *rec)
{
	const char *line = *p, *eol = *p;

	if (line >= end)
		return 0;
	while (eol < end && *eol != '\n' && *eol != '\r')
		eol++;
	*p = eol < end ? eol + 1 : end;
	if (robots_split(line, (size_t)(eol - line), rec) != 0)
		rec->key = ROBOTS_KEY_OTHER;
	return 1;
}

/* Parses a Crawl-delay value in seconds (may be fractional). */
static int64_t
robots_parse_delay(const char *v, size_t len)
{
	char buf[32], *end;
	double d;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	d = strtod(buf, &end);
	if (*end != '\0' || d < 0 || d > 86400)
		return -1;
	return (int64_t)(d * 1000.0);
}

/*
 * One pass over the file collecting the rules of the groups whose
 * user-agent lines name want ("*" when want is NULL). Returns whether any
 * group matched, -1 on ENOMEM.
 */
static int
robots_collect(struct robots *r, const char *text, size_t len,
    const char *want)
{
	const char *p = text, *end = text + len;
	struct robots_record rec;
	int64_t pending = -1;
	int in_agents = 0, selected = 0, matched = 0;

	while (robots_next(&p, end, &rec)) {
		switch (rec.key) {
		case ROBOTS_KEY_AGENT:
			/* A user-agent after rules starts a group. */
			if (!in_agents)
				selected = 0;
			in_agents = 1;
			if (robots_agent_names(rec.val, rec.vlen, want))
				selected = matched = 1;
			break;
		case ROBOTS_KEY_ALLOW:
		case ROBOTS_KEY_DISALLOW:
			if (in_agents && selected && r->crawl_delay_ms < 0)
				r->crawl_delay_ms = pending;
			in_agents = 0;
			pending = -1;
			if (selected && robots_add_rule(r, rec.val, rec.vlen,
			    rec.key == ROBOTS_KEY_ALLOW) != 0)
				return -1;
			break;
		case ROBOTS_KEY_DELAY:
			/*
			 * Among the user-agent lines, whether the group is
			 * ours is known only once they end.
			 */
			if (in_agents) {
				if (pending < 0)
					pending = robots_parse_delay(rec.val,
					    rec.vlen);
			} else if (selected && r->crawl_delay_ms < 0)
				r->crawl_delay_ms = robots_parse_delay(rec.val,
				    rec.vlen);
			break;
		default:
			/*
			 * RFC 9309 2.2.4: other records (Sitemap, unknown
			 * keys, lines that are none) must not end a group.
			 */
			break;
		}
	}
	if (in_agents && selected && r->crawl_delay_ms < 0)
		r->crawl_delay_ms = pending;	/* a group without rules */
	return matched;
}

/*
 * Keeps the file's Sitemap records, whichever group they are in. Ones
 * past the bounds, empty or holding a NUL are dropped rather than cut:
 * a shortened URL would name another resource. -1 on ENOMEM.
 */
static int
robots_collect_sitemaps(struct robots *r, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	struct robots_record rec;
	char **v;
	size_t cap;

	while (r->nsitemaps < ROBOTS_MAX_SITEMAPS &&
	    robots_next(&p, end, &rec)) {
		if (rec.key != ROBOTS_KEY_SITEMAP || rec.vlen == 0 ||
		    rec.vlen > ROBOTS_MAX_SITEMAP_LEN ||
		    memchr(rec.val, '\0', rec.vlen) != NULL)
			continue;
		if (r->nsitemaps == r->sitemaps_cap) {
			cap = r->sitemaps_cap == 0 ? 4 : r->sitemaps_cap * 2;
			if ((v = realloc(r->sitemaps, cap * sizeof(*v))) ==
			    NULL)
				return -1;
			r->sitemaps = v;
			r->sitemaps_cap = cap;
		}
		if ((r->sitemaps[r->nsitemaps] = strndup(rec.val,
		    rec.vlen)) == NULL)
			return -1;
		r->nsitemaps++;
	}
	return 0;
}

/*
 * How much of a UTF-8 byte-order mark starts the file. RFC 9309 files
 * have none, but some do; like the reference parser, skip as much of one
 * as is there, so a lone 0xEF or 0xEF 0xBB goes as well.
 */
static size_t
robots_bom_len(const char *text, size_t len)
{
	static const char bom[] = "\xEF\xBB\xBF";
	size_t n = 0;

	while (n < len && n < sizeof(bom) - 1 && text[n] == bom[n])
		n++;
	return n;
}

struct robots *
robots_parse(const char *text, size_t len, const char *agent)
{
	struct robots *r;
	size_t bom;
	int rc = 0;

	if ((r = robots_new()) == NULL)
		return NULL;
	if (len > ROBOTS_MAX_BYTES)
		len = ROBOTS_MAX_BYTES;
	bom = robots_bom_len(text, len);
	text += bom;
	len -= bom;
	if (agent != NULL && *agent != '\0')
		rc = robots_collect(r, text, len, agent);
	if (rc == 0)
		rc = robots_collect(r, text, len, NULL);
	if (rc >= 0)
		rc = robots_collect_sitemaps(r, text, len);
	if (rc < 0) {
		robots_free(r);
		return NULL;
	}
	return r;
}

/*
 * Matches pattern ("*" any run, "$" at the end anchors) against a path, as
 * a prefix unless anchored. Greedy with one backtrack point (the last "*"),
 * so hostile patterns cost at most O(pattern x path), never exponential
 * time (the fuzzer found that a naive recursion could be made to hang).
 */
static int
robots_match(const char *pat, const char *path)
{
	const char *star = NULL, *resume = NULL;

	while (*path != '\0') {
		if (*pat == '*') {
			star = pat++;
			resume = path;
			continue;
		}
		if (*pat == '\0')
			return 1;	/* the pattern is a prefix of the path */
		if (!(*pat == '$' && pat[1] == '\0') && *pat == *path) {
			pat++;
			path++;
			continue;
		}
		if (star == NULL)
			return 0;
		/* Let the last "*" swallow one more character. */
		pat = star + 1;
		path = ++resume;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0' || (*pat == '$' && pat[1] == '\0');
}

int
robots_allowed(const struct robots *r, const char *path)
{
	const struct robots_rule *best = NULL;
	char *norm;
	size_t i;
	int allowed;

	if (strcmp(path, "/robots.txt") == 0)
		return 1;
	if (r->disallow_all)
		return 0;
	if ((norm = robots_escape(path, strlen(path))) == NULL)
		return 0;	/* fail closed */
	for (i = 0; i < r->nrules; i++) {
		const struct robots_rule *rule = &r->rules[i];

		if (!robots_match(rule->pattern, norm))
			continue;
		if (best == NULL || rule->len > best->len ||
		    (rule->len == best->len && rule->allow && !best->allow))
			best = rule;
	}
	allowed = best == NULL || best->allow;
	free(norm);
	return allowed;
}

int64_t
robots_crawl_delay_ms(const struct robots *r)
{
	return r->crawl_delay_ms;
}

size_t
robots_sitemaps(const struct robots *r, const char *const **urls)
{
	*urls = (const char *const *)r->sitemaps;
	return r->nsitemaps;
}
