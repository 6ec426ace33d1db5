/*
 * job: the data model every module shares: per-job options, the task the
 * loop works on, the ScrapeResult it produces, and the one enum of error
 * kinds. No I/O here; store/ persists these, api/ parses them, fetch/
 * produces them.
 */
#ifndef HARVESTD_JOB_H
#define HARVESTD_JOB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf/conf.h"

/*
 * struct job_opts (the fields a job may set) is declared by the settings
 * table in conf/; this module validates them as JSON.
 */
void	 job_opts_init(struct job_opts *o);
void	 job_opts_clear(struct job_opts *o);
/* Deep copy; -1 on allocation failure (dst is then cleared). */
int	 job_opts_copy(struct job_opts *dst, const struct job_opts *src);
/*
 * Sets one option from a JSON value. -1 with *cause (allocated, the caller
 * frees) when the key is unknown or the value has the wrong type or range.
 */
int	 job_opts_set(struct job_opts *o, const char *key, json_t *value,
	    char **cause);
/* Returns true when key names a job option. */
int	 job_opts_known(const char *key);
/* JSON object holding only the fields that are set; NULL on ENOMEM. */
json_t	*job_opts_to_json(const struct job_opts *o);
/* Parses what job_opts_to_json produced; -1 with *cause on error. */
int	 job_opts_from_json(struct job_opts *o, json_t *obj, char **cause);

/*
 * Credentials (a URL's password, the values of Authorization, Cookie and
 * Proxy-Authorization request headers) are kept only where a fetch needs
 * them: tasks.url and jobs.options. Whatever is shown, stored as a result
 * or logged passes through these first.
 */
#define JOB_REDACTED	"***"
/*
 * url with its password, if any, replaced by "***" through libcurl's URL
 * API ("http://user:***@host/"); a user name stays. Without a password,
 * or when libcurl cannot parse it, an unchanged copy. NULL on ENOMEM.
 */
char	*job_redact_url(const char *url);
/* Whether a request header (by name, any case) carries a credential. */
int	 job_header_is_secret(const char *name);
/*
 * Redacts a job's options as job_opts_to_json shapes them, in place:
 * the URL options (proxy, callback_url) and secret header values. -1 on
 * ENOMEM (then the caller must not show obj).
 */
int	 job_opts_redact(json_t *obj);

/* The one list of outcomes. Names are the stable error_kind strings. */
enum result_kind {
	RESULT_OK = 0,
	RESULT_DNS,
	RESULT_CONNECT,
	RESULT_TLS,
	RESULT_TIMEOUT,
	RESULT_HTTP_STATUS,
	RESULT_TOO_LARGE,
	RESULT_TOO_MANY_REDIRECTS,
	RESULT_ROBOTS_DENIED,
	RESULT_BLOCKED_ADDRESS,
	RESULT_INVALID_URL,
	RESULT_CANCELLED,
	RESULT_PROTOCOL,
	RESULT_INTERNAL,
	RESULT_KIND_MAX
};

/* NULL for RESULT_OK, else the error_kind string stored in results. */
const char	*result_kind_name(enum result_kind kind);

/*
 * Task and job states. The names ("queued", ...) are the public contract
 * in SQL and JSON and appear nowhere else; code compares the enums.
 */
enum task_state {
	TASK_QUEUED = 0,
	TASK_RUNNING,
	TASK_DONE,
	TASK_FAILED,
	TASK_CANCELLED,
	TASK_NSTATES
};
enum job_state {
	JOB_QUEUED = 0,
	JOB_RUNNING,
	JOB_DONE,
	JOB_CANCELLED,
	JOB_NSTATES
};
const char	*task_state_name(enum task_state st);
const char	*job_state_name(enum job_state st);
/* Parses a state name; -1 when it is none. */
int		 task_state_parse(const char *name, enum task_state *out);
int		 job_state_parse(const char *name, enum job_state *out);
/* Whether a job in st has ended (done or cancelled). */
int		 job_state_ended(enum job_state st);
/*
 * The one door for state changes: every move the store makes is asked
 * here first. 0 when from -> to is a transition of the queue's state
 * machine; -1 (logged at debug level, naming id) when it is impossible.
 */
int		 task_state_change(int64_t task_id, enum task_state from,
		    enum task_state to);
int		 job_state_change(int64_t job_id, enum job_state from,
		    enum job_state to);

/* The state a result leaves its task in: done, failed or cancelled. */
enum task_state	 result_task_end(enum result_kind kind);
/* Its name: "done", "failed" or "cancelled". */
const char	*result_task_state(enum result_kind kind);

/* What a task fetches: a page, or a file that lists more URLs. */
enum task_kind {
	TASK_KIND_PAGE = 0,	/* "page" */
	TASK_KIND_SITEMAP,	/* "sitemap": its entries join the job */
	TASK_KIND_ROBOTS,	/* "robots": its Sitemap: lines do */
	TASK_NKINDS
};
const char	*task_kind_name(enum task_kind k);
int		 task_kind_parse(const char *name, enum task_kind *out);

/* A task claimed from the queue: one URL of one job. */
struct task {
	int64_t		 id;
	int64_t		 job_id;
	char		*url;
	char		*host;
	int64_t		 attempts;	/* attempts made before this one */
	int64_t		 lease;		/* the claim's lease token (shared db) */
	int64_t		 host_next_ms;	/* shared db: the host's next allowed
					   start when its lease came with it */
	enum task_kind	 kind;
	int64_t		 depth;		/* links followed from a seed */
	struct job_opts	 opts;
	char		*origin;	/* scheme://host[:port], for robots */
	char		*path;		/* path and query, for robots */
	int64_t		 seq;		/* its place among its priority (sched) */
	void		*sched_host;	/* sched's host entry, while it holds
					   or runs the task (a cache) */
	struct task	*next;		/* list link for whoever holds it */
};

struct task	*task_new(int64_t id, int64_t job_id, const char *url,
		    const char *host, int64_t attempts);
void		 task_free(struct task *t);

/*
 * The form of a URL a request goes out with: an international host name
 * as IDNA punycode ("xn--..."), bytes outside ASCII in the path and query
 * percent-encoded, the fragment dropped. A URL that is plain ASCII is its
 * own request form: *ascii is then NULL and nothing is allocated, so the
 * common case costs one scan. Otherwise *ascii is allocated. -1 when the
 * URL cannot be converted: not a valid international name, or a process
 * whose LC_CTYPE is not UTF-8 (libidn2, under libcurl, reads host names
 * in the locale's charset; harvestd sets C.UTF-8 at start-up).
 */
int		 job_url_ascii(const char *url, char **ascii);
/* Whether s holds only ASCII bytes. */
int		 job_is_ascii(const char *s);
/* Sitemaps one job may list. */
#define JOB_SITEMAPS_MAX	1000

/* Whether s is valid UTF-8 (shortest forms, no surrogates, <= U+10FFFF). */
int		 job_utf8_valid(const char *s);
/*
 * The canonical form of a URL, as every task's URL is (submitted or found
 * by a crawl): it must parse, be http or https, have a host and be at
 * most max_length bytes; scheme and host lower case, default port and
 * fragment dropped. 0 with *canonical, *host (punycode: politeness is per
 * host as requests name it) and *ascii (the request form, job_url_ascii;
 * NULL when it is the canonical one), or -1 with *reason. All allocated.
 */
int		 job_url_check(const char *url, size_t max_length,
		    char **canonical, char **ascii, char **host, char **reason);

/* One ScrapeResult: exactly one per finished task. */
struct result {
	int64_t		 task_id;
	int64_t		 job_id;
	int64_t		 lease;			/* its task's, fencing the commit */
	char		*url;
	char		*final_url;
	long		 status;		/* 0: no HTTP response */
	char		*content_type;
	char		*headers;		/* raw header block, final response */
	unsigned char	*body;
	size_t		 body_len;
	int		 truncated;
	int64_t		 content_length;	/* declared; -1 unknown */
	long		 redirect_count;
	double		 time_dns_ms;
	double		 time_connect_ms;
	double		 time_tls_ms;
	double		 time_ttfb_ms;
	double		 time_total_ms;
	int64_t		 attempts;
	int64_t		 fetched_at_ms;	/* unix time */
	enum result_kind kind;
	char		*error_message;
	int64_t		 retry_after_s;		/* Retry-After, 0 if none */
	char		*fields;		/* extract: a JSON object */
	struct result_link *links;		/* found: tasks to add */
	size_t		 nlinks;
	int64_t		 links_max;		/* the job's max_pages */
	struct result	*next;
};

/* A URL a page or sitemap led to, to become a task of the same job. */
struct result_link {
	char		*url;		/* canonical (job_url_check) */
	char		*host;		/* punycode */
	char		*key;		/* what dedupes it: the request form */
	enum task_kind	 kind;
	int64_t		 depth;
};
/* Appends a link to r (strings copied); -1 on ENOMEM. */
int		 result_add_link(struct result *r, const char *url,
		    const char *host, const char *key, enum task_kind kind,
		    int64_t depth);

/* A result with no response: kind and a formatted message. NULL on ENOMEM. */
struct result	*result_new_error(const struct task *t, enum result_kind kind,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 result_free(struct result *r);
int64_t		 job_now_ms(void);

#endif
