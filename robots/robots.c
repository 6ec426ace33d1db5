/*
 * robots: owns the RFC 9309 grammar (groups, user-agent matching, allow and
 * disallow rules with "*" and "$", longest match) and Crawl-delay.
 */
#include "config.h"

#include <ctype.h>
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
	free(r);
}

void
robots_agent_token(const char *user_agent, char *buf, size_t len)
{
	size_t n = 0;

	/* RFC 9309 2.2.1: the product token is [a-zA-Z_-]+. */
	while (user_agent != NULL && n + 1 < len &&
	    (isalpha((unsigned char)user_agent[n]) || user_agent[n] == '_' ||
	    user_agent[n] == '-')) {
		buf[n] = user_agent[n];
		n++;
	}
	if (len > 0)
		buf[n] = '\0';
}

/* Upper-cases the hex digits of %xx escapes so both sides compare alike. */
static void
robots_norm_escapes(char *s)
{
	for (; *s != '\0'; s++) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2])) {
			s[1] = (char)toupper((unsigned char)s[1]);
			s[2] = (char)toupper((unsigned char)s[2]);
			s += 2;
		}
	}
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
	if ((p = strndup(value, len)) == NULL)
		return -1;
	robots_norm_escapes(p);
	r->rules[r->nrules].pattern = p;
	r->rules[r->nrules].len = strlen(p);
	r->rules[r->nrules].allow = allow;
	r->nrules++;
	return 0;
}

/* Splits "key: value # comment" into trimmed key and value. */
static int
robots_line(const char *line, size_t len, const char **key, size_t *klen,
    const char **val, size_t *vlen)
{
	const char *end = line + len, *colon, *hash;

	if ((hash = memchr(line, '#', len)) != NULL)
		end = hash;
	if ((colon = memchr(line, ':', (size_t)(end - line))) == NULL)
		return -1;
	*key = line;
	while (*key < colon && isspace((unsigned char)**key))
		(*key)++;
	*klen = (size_t)(colon - *key);
	while (*klen > 0 && isspace((unsigned char)(*key)[*klen - 1]))
		(*klen)--;
	*val = colon + 1;
	while (*val < end && isspace((unsigned char)**val))
		(*val)++;
	*vlen = (size_t)(end - *val);
	while (*vlen > 0 && isspace((unsigned char)(*val)[*vlen - 1]))
		(*vlen)--;
	return 0;
}

static int
key_is(const char *key, size_t klen, const char *name)
{
	return klen == strlen(name) && strncasecmp(key, name, klen) == 0;
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
 * user-agent lines match want ("*" when star is set). Returns whether any
 * group matched, -1 on ENOMEM.
 */
static int
robots_collect(struct robots *r, const char *text, size_t len,
    const char *want, int star)
{
	const char *p = text, *end = text + len, *nl, *key, *val;
	size_t klen, vlen;
	int in_agents = 0, selected = 0, matched = 0;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (robots_line(p, (size_t)(nl - p), &key, &klen, &val,
		    &vlen) == 0) {
			if (key_is(key, klen, "user-agent")) {
				/* A user-agent after rules starts a group. */
				if (!in_agents)
					selected = 0;
				in_agents = 1;
				if (star ? (vlen == 1 && *val == '*') :
				    (vlen == strlen(want) &&
				    strncasecmp(val, want, vlen) == 0))
					selected = matched = 1;
			} else if (key_is(key, klen, "allow") ||
			    key_is(key, klen, "disallow")) {
				in_agents = 0;
				if (selected && robots_add_rule(r, val, vlen,
				    key_is(key, klen, "allow")) != 0)
					return -1;
			} else if (key_is(key, klen, "crawl-delay")) {
				in_agents = 0;
				if (selected && r->crawl_delay_ms < 0)
					r->crawl_delay_ms =
					    robots_parse_delay(val, vlen);
			} else
				in_agents = 0;	/* sitemap etc. */
		}
		p = nl + 1;
	}
	return matched;
}

struct robots *
robots_parse(const char *text, size_t len, const char *agent)
{
	struct robots *r;
	int rc = 0;

	if ((r = robots_new()) == NULL)
		return NULL;
	if (len > ROBOTS_MAX_BYTES)
		len = ROBOTS_MAX_BYTES;
	if (agent != NULL && *agent != '\0')
		rc = robots_collect(r, text, len, agent, 0);
	if (rc == 0)
		rc = robots_collect(r, text, len, NULL, 1);
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
	if ((norm = strdup(path)) == NULL)
		return 0;	/* fail closed */
	robots_norm_escapes(norm);
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
