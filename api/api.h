/*
 * api: the REST API on libmicrohttpd. It runs in MHD's own thread with its
 * own SQLite connection: a submission is committed before 201 is answered,
 * then the loop is woken through the hooks. Also exposes the request
 * parser so it can be tested without a server.
 */
#ifndef HARVESTD_API_H
#define HARVESTD_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "job/job.h"

struct api;

struct api_conf {
	const char	*listen;		/* IPv4 or IPv6 literal */
	int64_t		 port;
	const char	*db_path;
	int64_t		 busy_timeout_ms;
	int64_t		 max_request_bytes;
	int64_t		 results_page_max;
	int64_t		 connection_timeout_s;
	int64_t		 connection_limit;
	int64_t		 per_ip_connection_limit;
	int64_t		 connection_memory_limit;
	int64_t		 max_urls_per_job;
	int64_t		 max_url_length;
	const char	*token;			/* "": no authentication */
};

/* Called on the API thread after the change is committed. */
struct api_hooks {
	void	(*submitted)(int64_t job_id, void *arg);
	void	(*cancelled)(int64_t job_id, void *arg);
	void	*arg;
};

struct api	*api_start(const struct api_conf *c, const struct api_hooks *h,
		    char **cause);
/* Replaces the bearer token ("" turns authentication off; thread-safe). */
int		 api_set_token(struct api *a, const char *token);
/* While draining, submissions get 503 "shutting_down" (thread-safe). */
void		 api_set_draining(struct api *a, int draining);
/* Jobs ended (thread-safe): wakes long polls (GET /v1/jobs/{id}?wait=). */
void		 api_jobs_changed(struct api *a);
/* A job as the API shows it (new reference; NULL on ENOMEM). */
struct store_job;
json_t		*api_job_doc(const struct store_job *j);
/* The port actually bound (useful with port 0). */
uint16_t	 api_port(const struct api *a);
void		 api_stop(struct api *a);

/* A parsed POST /v1/jobs body. */
struct api_url {
	char	*url;
	char	*host;
};

struct api_reject {
	size_t	 index;		/* position in the submission, from 0 */
	char	*url;		/* as submitted (may be NULL: not a string) */
	char	*reason;
};

struct api_request {
	struct job_opts		 opts;
	struct api_url		*urls;		/* canonical, unique */
	size_t			 nurls;
	size_t			 nduplicates;	/* dropped as repeats */
	struct api_reject	*rejected;
	size_t			 nrejected;
};

struct api_limits {
	size_t	max_urls;		/* per submission */
	size_t	max_url_length;		/* bytes */
};

/*
 * Parses a submission: JSON ({"urls": [...], options...}) or text/plain
 * (one URL per line, blank lines and # comments skipped). content_type
 * may be NULL (the body is sniffed). On failure returns -1 with *code (a
 * static string: "invalid_json", "invalid_request", "too_many_urls",
 * "unsupported_media_type") and *cause (allocated). Invalid URLs are not a
 * failure: they are listed in req->rejected.
 */
int	 api_request_parse(const char *body, size_t len,
	    const char *content_type, const struct api_limits *lim,
	    struct api_request *req, const char **code, char **cause);
void	 api_request_clear(struct api_request *req);

/*
 * Checks one URL with libcurl's URL API: it must parse, be http or https
 * and have a host. Returns 0 with its canonical form (scheme and host lower
 * case, default port and fragment dropped) and host, or -1 and a reason.
 * All three strings are allocated.
 */
int	 api_url_check(const char *url, size_t max_length, char **canonical,
	    char **host, char **reason);

#endif
