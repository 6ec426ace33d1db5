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

/*
 * Options a job may set. A field left unset (JOB_UNSET, or NULL for
 * strings) follows the daemon's configuration, which can change on reload.
 */
#define JOB_UNSET (-1)

struct job_opts {
	int64_t		 concurrency;		/* in flight for this job */
	int64_t		 timeout_ms;		/* whole transfer */
	int64_t		 connect_timeout_ms;
	int64_t		 low_speed_limit;	/* bytes/s ... */
	int64_t		 low_speed_time_ms;	/* ... below which for this long */
	int64_t		 max_body_bytes;
	int64_t		 max_redirects;
	int64_t		 follow_redirects;	/* 0/1 */
	int64_t		 method;		/* JOB_METHOD_* */
	int64_t		 priority;		/* higher first; default 0 */
	int64_t		 max_attempts;		/* transient failures retried */
	int64_t		 per_host_concurrency;
	int64_t		 per_host_delay_ms;	/* between request starts */
	int64_t		 per_host_jitter_ms;	/* random extra delay */
	int64_t		 obey_robots;		/* 0/1 */
	int64_t		 autothrottle;		/* 0/1 */
	char		*user_agent;
	char		*headers;		/* "Name: value" lines, \n-separated */
	char		*proxy;
	char		*callback_url;		/* POSTed the job when it ends */
};

#define JOB_METHOD_GET	0
#define JOB_METHOD_HEAD	1

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
/* Task state a result leaves behind: "done", "failed" or "cancelled". */
const char	*result_task_state(enum result_kind kind);

/* A task claimed from the queue: one URL of one job. */
struct task {
	int64_t		 id;
	int64_t		 job_id;
	char		*url;
	char		*host;
	int64_t		 attempts;	/* attempts made before this one */
	struct job_opts	 opts;
	char		*origin;	/* scheme://host[:port], for robots */
	char		*path;		/* path and query, for robots */
	struct task	*next;		/* list link for whoever holds it */
};

struct task	*task_new(int64_t id, int64_t job_id, const char *url,
		    const char *host, int64_t attempts);
void		 task_free(struct task *t);

/* One ScrapeResult: exactly one per finished task. */
struct result {
	int64_t		 task_id;
	int64_t		 job_id;
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
	struct result	*next;
};

/* A result with no response: kind and a formatted message. NULL on ENOMEM. */
struct result	*result_new_error(const struct task *t, enum result_kind kind,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 result_free(struct result *r);
int64_t		 job_now_ms(void);

#endif
