/*
 * work: owns the worker threads and the list of results waiting for them.
 * Each worker keeps the compiled extract and follow specs of the jobs it
 * met last: a job's options never change, and compiling them again per
 * page would cost more than the page.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crawl/crawl.h"
#include "extract/extract.h"
#include "log/log.h"
#include "queue/queue.h"
#include "robots/robots.h"
#include "work/work.h"

#define WORK_CACHE	16	/* jobs' specs a worker keeps */
#define WORK_LINKS_MAX	10000	/* links taken from one page */

struct item {
	struct task	*task;
	struct result	*result;
	struct item	*next;
};

struct work {
	struct queue	*queue;
	void		(*ready)(void *);
	void		*ready_arg;
	pthread_t	*threads;
	size_t		 nthreads;
	atomic_size_t	 backlog;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct item	*head;		/* guarded by lock */
	struct item	**tail;
	int		 stopping;
};

/* A job's compiled specs, kept by one worker. */
struct spec {
	int64_t			 job_id;
	struct extract		*extract;
	struct crawl_follow	*follow;
};

struct worker {
	struct spec	 cache[WORK_CACHE];
	size_t		 next;		/* the slot to reuse */
};

int
work_wanted(const struct task *t)
{
	return t->kind != TASK_KIND_PAGE || t->opts.extract != NULL ||
	    t->opts.follow != NULL;
}

static void
spec_clear(struct spec *sp)
{
	extract_free(sp->extract);
	crawl_follow_free(sp->follow);
	memset(sp, 0, sizeof(*sp));
}

/* Compiles one of a job's JSON fields (already validated at submission). */
static void
spec_compile(const char *text, struct extract **x, struct crawl_follow **f)
{
	json_t *v;
	char *cause = NULL;

	if (text == NULL || (v = json_loads(text, 0, NULL)) == NULL)
		return;
	if (x != NULL)
		*x = extract_compile(v, &cause);
	else
		*f = crawl_follow_compile(v, &cause);
	if (cause != NULL) {
		log_warnx("work: a stored spec does not compile: %s", cause);
		free(cause);
	}
	json_decref(v);
}

/* The compiled specs of t's job, from the cache or compiled now. */
static struct spec *
worker_spec(struct worker *wk, const struct task *t)
{
	struct spec *sp;
	size_t i;

	for (i = 0; i < WORK_CACHE; i++)
		if (wk->cache[i].job_id == t->job_id)
			return &wk->cache[i];
	sp = &wk->cache[wk->next];
	wk->next = (wk->next + 1) % WORK_CACHE;
	spec_clear(sp);
	sp->job_id = t->job_id;
	spec_compile(t->opts.extract, &sp->extract, NULL);
	spec_compile(t->opts.follow, NULL, &sp->follow);
	return sp;
}

/* What a link callback needs. */
struct found {
	struct task		*task;
	struct result		*result;
	const struct crawl_follow *follow;	/* NULL: no scope or regexes */
	enum task_kind		 kind;
	int64_t			 depth;
	int			 failed;
};

/* One URL a page or sitemap led to: canonical, in scope, allowed. */
static int
work_found_cb(const char *url, void *arg)
{
	struct found *fd = arg;
	char *canon = NULL, *ascii = NULL, *host = NULL, *reason = NULL;

	if (job_url_check(url, CRAWL_MAX_URL, &canon, &ascii, &host,
	    &reason) != 0) {
		free(reason);
		return 0;
	}
	if (fd->follow == NULL || (crawl_in_scope(fd->follow, fd->task->host,
	    host) && crawl_url_allowed(fd->follow, canon))) {
		if (result_add_link(fd->result, canon, host, ascii != NULL ?
		    ascii : canon, fd->kind, fd->depth) != 0)
			fd->failed = 1;
	}
	free(canon);
	free(ascii);
	free(host);
	return fd->failed;
}

/* A sitemap: its entries (or, in an index, its sitemaps) join the job. */
static void
work_sitemap(struct task *t, struct result *r, const struct spec *sp)
{
	struct found fd = { t, r, sp->follow, TASK_KIND_PAGE, t->depth, 0 };
	char *cause = NULL;
	int is_index = 0;

	/* The kind is known only once the file is read: collect the URLs,
	 * then mark them. */
	if (crawl_sitemap_parse((const char *)r->body, r->body_len, &is_index,
	    work_found_cb, &fd, &cause) < 0) {
		log_info("job %lld: sitemap %s: %s", (long long)t->job_id,
		    t->url, cause != NULL ? cause : "unreadable");
		free(cause);
		return;
	}
	if (is_index) {
		size_t i;

		for (i = 0; i < r->nlinks; i++)
			r->links[i].kind = TASK_KIND_SITEMAP;
	}
}

/* A robots.txt fetched for follow.sitemaps: its Sitemap: lines. */
static void
work_robots(struct task *t, struct result *r)
{
	struct found fd = { t, r, NULL, TASK_KIND_SITEMAP, t->depth, 0 };
	const char *const *urls;
	struct robots *rules;
	size_t i, n;

	if ((rules = robots_parse((const char *)r->body, r->body_len,
	    "harvestd")) == NULL)
		return;
	n = robots_sitemaps(rules, &urls);
	for (i = 0; i < n && !fd.failed; i++)
		work_found_cb(urls[i], &fd);
	robots_free(rules);
}

/* A page: its fields, and the links to follow from it. */
static void
work_page(struct task *t, struct result *r, const struct spec *sp)
{
	struct found fd = { t, r, sp->follow, TASK_KIND_PAGE, t->depth + 1, 0 };
	struct extract_doc *doc;
	json_t *fields;

	doc = extract_doc_parse((const char *)r->body, r->body_len,
	    r->content_type, r->final_url != NULL ? r->final_url : r->url);
	if (sp->extract != NULL &&
	    (fields = extract_run(sp->extract, doc)) != NULL) {
		r->fields = json_dumps(fields, JSON_COMPACT |
		    JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10));
		json_decref(fields);
	}
	/* Links are resolved against the final URL (after redirects), but
	 * scope is judged against the task's own host: a redirect cannot
	 * carry a crawl off its hosts. */
	if (sp->follow != NULL && doc != NULL && !extract_doc_is_xml(doc) &&
	    t->depth < crawl_follow_max_depth(sp->follow)) {
		r->links_max = crawl_follow_max_pages(sp->follow);
		if (crawl_links(doc, r->final_url != NULL ? r->final_url :
		    r->url, crawl_follow_nofollow(sp->follow), WORK_LINKS_MAX,
		    work_found_cb, &fd) < 0 || fd.failed)
			log_warnx("work: job %lld: links of %s: out of memory",
			    (long long)t->job_id, t->url);
	}
	extract_doc_free(doc);
}

/* Everything one result needs, with wk's compiled specs. */
static void
work_one(struct worker *wk, struct task *t, struct result *r)
{
	const struct spec *sp;

	/* Only a page that came is worth reading. */
	if (r->kind != RESULT_OK || r->body == NULL)
		return;
	sp = worker_spec(wk, t);
	if (sp->follow != NULL)
		r->links_max = crawl_follow_max_pages(sp->follow);
	switch (t->kind) {
	case TASK_KIND_SITEMAP:
		work_sitemap(t, r, sp);
		break;
	case TASK_KIND_ROBOTS:
		work_robots(t, r);
		break;
	default:
		if (sp->extract != NULL || sp->follow != NULL)
			work_page(t, r, sp);
		break;
	}
}

static void
worker_clear(struct worker *wk)
{
	size_t i;

	for (i = 0; i < WORK_CACHE; i++)
		spec_clear(&wk->cache[i]);
}

void
work_result(struct task *t, struct result *r)
{
	struct worker wk;

	memset(&wk, 0, sizeof(wk));
	work_one(&wk, t, r);
	worker_clear(&wk);
}

static void *
work_main(void *arg)
{
	struct work *w = arg;
	struct worker wk;
	struct item *it;
	size_t left;

	memset(&wk, 0, sizeof(wk));
	/* libxml2 must be silent on this thread too. */
	extract_global_init();
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if ((it = w->head) == NULL)
			break;		/* stopping, and nothing left */
		if ((w->head = it->next) == NULL)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->lock);

		work_one(&wk, it->task, it->result);
		queue_result(w->queue, it->result);
		task_free(it->task);
		free(it);
		left = atomic_fetch_sub(&w->backlog, 1) - 1;
		if (left == WORK_BACKLOG_MAX / 2 && w->ready != NULL)
			w->ready(w->ready_arg);

		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	worker_clear(&wk);
	return NULL;
}

struct work *
work_start(size_t nthreads, struct queue *q, void (*ready)(void *),
    void *arg, char **cause)
{
	struct work *w;
	size_t i;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->threads = calloc(nthreads, sizeof(*w->threads))) == NULL) {
		free(w);
		*cause = strdup("out of memory");
		return NULL;
	}
	w->queue = q;
	w->ready = ready;
	w->ready_arg = arg;
	w->tail = &w->head;
	atomic_init(&w->backlog, 0);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	/* The suffix list and libxml2, once, before any worker runs. */
	crawl_global_init();
	for (i = 0; i < nthreads; i++) {
		if ((rc = pthread_create(&w->threads[i], NULL, work_main,
		    w)) != 0) {
			*cause = strdup(strerror(rc));
			w->nthreads = i;
			work_stop(w);
			return NULL;
		}
		w->nthreads++;
		/* For top -H and the journal: which thread is busy. */
		(void)pthread_setname_np(w->threads[i], "harvestd-work");
	}
	return w;
}

size_t
work_backlog(struct work *w)
{
	return atomic_load(&w->backlog);
}

void
work_submit(struct work *w, struct task *t, struct result *r)
{
	struct item *it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		fatalx("work: out of memory");
	it->task = t;
	it->result = r;
	atomic_fetch_add(&w->backlog, 1);
	pthread_mutex_lock(&w->lock);
	*w->tail = it;
	w->tail = &it->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void
work_stop(struct work *w)
{
	size_t i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->threads);
	free(w);
}
