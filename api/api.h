/*
 * api: the REST API on libmicrohttpd. Handlers run in MHD's threads with
 * their own SQLite connections: a submission is committed before 201 is
 * answered, then the loop is woken through the hooks. Also exposes the
 * request parser so it can be tested without a server.
 */
#ifndef HARVESTD_API_H
#define HARVESTD_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "job/job.h"

struct api;

struct conf;

/* Called on the API thread after the change is committed. */
struct api_hooks {
	void	(*submitted)(int64_t job_id, void *arg);
	void	(*cancelled)(int64_t job_id, void *arg);
	/*
	 * Before a write is acknowledged: whether what was committed is
	 * durable (the database file is still there); -1 with *cause when
	 * not. NULL: always.
	 */
	int	(*durable)(char **cause, void *arg);
	void	*arg;
};

/*
 * Binds c's listen address and port (a reference to c is taken: limits,
 * token, database) and listens. Start-up does this first, so that a port
 * in use stops harvestd before anything else is created. NULL with *cause
 * ("cannot listen on ADDR port N: ...") on failure.
 */
struct api	*api_create(struct conf *c, const struct api_hooks *h,
		    char **cause);
/*
 * Serves the bound socket: opens a store connection (the database must
 * exist: the store thread creates it) and starts libmicrohttpd. Its
 * writes go through the store thread of q (one writer). -1 with *cause
 * on failure; api_stop() then frees a.
 */
struct queue;
int		 api_start(struct api *a, struct queue *q, char **cause);
/* A reloaded configuration (a reference is taken; thread-safe). */
void		 api_set_conf(struct api *a, struct conf *c);
/*
 * The database is gone (deleted, replaced): /healthz and every route that
 * needs it answer 503 "database_lost" with why (copied; thread-safe).
 */
void		 api_set_lost(struct api *a, const char *why);
/* While draining, submissions get 503 "shutting_down" (thread-safe). */
void		 api_set_draining(struct api *a, int draining);
/* Jobs ended (thread-safe): wakes long polls (GET /v1/jobs/{id}?wait=). */
void		 api_jobs_changed(struct api *a);
/* The port actually bound (useful with port 0). */
uint16_t	 api_port(const struct api *a);
void		 api_stop(struct api *a);

/* A parsed POST /v1/jobs body. */
struct api_url {
	char	*url;		/* canonical, as submitted: may be UTF-8 */
	char	*host;		/* ASCII (punycode): the politeness key */
	char	*ascii;		/* request form when url is not ASCII, or NULL */
};

/* At most this much of a rejected URL is shown back (API_ECHO_MAX bytes). */
#define API_ECHO_MAX	256

struct api_reject {
	size_t	 index;		/* position in the submission, from 0 */
	char	*url;		/* as submitted, at most API_ECHO_MAX bytes of
				   it (cut at a UTF-8 boundary, bytes that are
				   not UTF-8 as %XX); NULL: not a string */
	int	 truncated;	/* url is only the start of it */
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
 * and have a host, which may be an international domain name (UTF-8 or
 * %XX-encoded UTF-8). Returns 0 with its canonical form (scheme and host
 * lower case, default port and fragment dropped, an international host in
 * UTF-8) and its host in ASCII (punycode), or -1 and a reason. All three
 * strings are allocated.
 */
int	 api_url_check(const char *url, size_t max_length, char **canonical,
	    char **host, char **reason);

#endif
