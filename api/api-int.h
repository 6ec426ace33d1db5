/*
 * api-int: what the API's own files share (api.c: the server, routes and
 * replies; jobs.c and status.c: the handlers). Not for other modules.
 */
#ifndef HARVESTD_API_INT_H
#define HARVESTD_API_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"

struct conf;
struct store;

#define API_POOL_MAX	4	/* read connections */
#define API_WAIT_MAX_S	60	/* longest long poll */

struct api {
	struct MHD_Daemon	*mhd;
	struct queue		*queue;		/* the one writer */
	int			 listen_fd;	/* ours until api_start */
	struct api_hooks	 hooks;
	uint16_t		 port;
	atomic_int		 draining;
	atomic_int		 lost;		/* the database is gone */
	char			 lost_why[256];	/* set before lost */
	pthread_mutex_t		 conf_lock;
	struct conf		*conf;		/* guarded by conf_lock */
	char			*token;		/* "Bearer <t>"; conf_lock */

	/* Read connections: a handler takes any idle one. Writes are
	 * the store thread's (queue_call). */
	pthread_mutex_t		 pool_lock;
	pthread_cond_t		 pool_cond;
	struct store		*idle[API_POOL_MAX];
	size_t			 nidle;
	size_t			 nopen;

	pthread_mutex_t		 wait_lock;
	pthread_cond_t		 wait_cond;	/* a job ended */
	uint64_t		 wait_gen;	/* bumped on each end */
};

/* Query parameters, parsed and bounded in one place (api.c). */
enum api_param {
	API_P_AFTER,	/* ?after=ID */
	API_P_LIMIT,	/* ?limit=N of a job list */
	API_P_PAGE,	/* ?limit=N of a results page */
	API_P_WAIT,	/* ?wait=S */
	API_P_BODY,	/* ?body=true */
	API_P_HEADERS,	/* ?headers=true */
	API_P_FAILED,	/* ?failed=true */
	API_P_PURGE,	/* ?purge=true */
	API_NPARAMS
};

/* One request, as its handler sees it. */
struct api_call {
	struct api		*a;
	struct MHD_Connection	*c;
	struct conf		*conf;		/* a reference for the call */
	int64_t			 id;		/* {id} in the path */
	int64_t			 p[API_NPARAMS];
	const char		*body;		/* collected, NUL-terminated */
	size_t			 len;
	struct store		*store;		/* while held */
};

typedef enum MHD_Result (*api_handler)(struct api_call *);

/* Answers with a JSON document (reference taken); one extra header. */
enum MHD_Result	 api_reply_json(struct api_call *k, unsigned int status,
		    json_t *doc, const char *hname, const char *hvalue);
/* Answers with text (taken) of the given content type. */
enum MHD_Result	 api_reply_text(struct api_call *k, unsigned int status,
		    char *text, size_t len, const char *ctype,
		    const char *hname, const char *hvalue);
enum MHD_Result	 api_error(struct api_call *k, unsigned int status,
		    const char *code, const char *message);
/* 503 store_unavailable, the cause (taken) logged. */
enum MHD_Result	 api_store_error(struct api_call *k, char *cause);
/* 503 database_lost when the database is gone; MHD_NO (go on) if not. */
int		 api_lost(struct api_call *k, enum MHD_Result *ret);
/*
 * After a committed write, before its answer: 0 when it is durable, else
 * -1 having answered 503 database_lost in *ret.
 */
int		 api_durable(struct api_call *k, enum MHD_Result *ret);
/*
 * A store connection for the call's reads, held until the call ends or
 * api_store_release(). NULL (with *cause) when none can be opened.
 */
struct store	*api_store(struct api_call *k, char **cause);
void		 api_store_release(struct api_call *k);

/* The handlers (jobs.c, status.c). */
enum MHD_Result	 api_healthz(struct api_call *k);
enum MHD_Result	 api_status(struct api_call *k);
enum MHD_Result	 api_metrics(struct api_call *k);
enum MHD_Result	 api_jobs_list(struct api_call *k);
enum MHD_Result	 api_jobs_submit(struct api_call *k);
enum MHD_Result	 api_job_get(struct api_call *k);
enum MHD_Result	 api_job_delete(struct api_call *k);
enum MHD_Result	 api_job_results(struct api_call *k);
enum MHD_Result	 api_job_retry(struct api_call *k);

#endif
