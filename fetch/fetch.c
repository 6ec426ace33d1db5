/*
 * fetch: owns the curl multi handle, the per-socket ev_io watchers, the one
 * ev_timer libcurl asks for, and every transfer in flight. The body limit
 * is enforced here, in the write callback, by counting bytes ourselves:
 * CURLOPT_MAXFILESIZE only acts on a Content-Length known up front.
 *
 * Body limit policy: a body that grows past max_body_bytes ends the
 * transfer; the result keeps the first max_body_bytes bytes, truncated = 1
 * and error kind too_large.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/conf.h"
#include "fetch/fetch.h"
#include "guard/guard.h"
#include "log/log.h"
#include "stats/stats.h"

#define FETCH_HEADERS_MAX	(64 * 1024)
#define FETCH_BODY_INITIAL	(16 * 1024)
#define FETCH_BODY_PREALLOC_MAX	((curl_off_t)1 << 20)
#define FETCH_POOL_MAX		256

struct fetch_sock;

struct xfer {
	struct fetch	*f;
	CURL		*easy;
	struct task	*task;
	unsigned char	*body;
	size_t		 body_len;
	size_t		 body_cap;
	size_t		 body_max;
	int		 too_large;
	char		*headers;
	size_t		 headers_len;
	size_t		 headers_cap;
	struct curl_slist *req_headers;	/* the job's request headers */
	fetch_aux_cb	 aux_cb;	/* set for helper transfers */
	void		*aux_arg;
	struct conf	*conf;		/* the configuration it started with */
	struct guard_conn gc;		/* its connection checks */
	char		 errbuf[CURL_ERROR_SIZE];
	struct xfer	*prev;
	struct xfer	*next;
};

struct fetch_sock {
	ev_io		 io;
	struct fetch	*f;
	curl_socket_t	 fd;
	int		 events;	/* what io is started for */
};

struct fetch {
	struct ev_loop	*loop;
	CURLM		*multi;
	CURLSH		*share;		/* TLS sessions, across transfers */
	ev_timer	 timer;
	fetch_done_cb	 cb;
	void		*cb_arg;
	struct conf	*conf;		/* for transfers starting now */
	struct xfer	*xfers;		/* in flight */
	size_t		 nxfers;	/* of which tasks, not helpers */
	CURL		*pool[FETCH_POOL_MAX];	/* idle easy handles */
	size_t		 npool;
	const char	*env_ca_file;	/* $SSL_CERT_FILE, or NULL */
	const char	*env_ca_path;	/* $SSL_CERT_DIR, or NULL */
};

static const struct {
	CURLcode		code;
	enum result_kind	kind;
} fetch_kinds[] = {
	{ CURLE_OK, RESULT_OK },
	{ CURLE_COULDNT_RESOLVE_HOST, RESULT_DNS },
	{ CURLE_COULDNT_RESOLVE_PROXY, RESULT_DNS },
	{ CURLE_COULDNT_CONNECT, RESULT_CONNECT },
	{ CURLE_SEND_ERROR, RESULT_CONNECT },
	{ CURLE_RECV_ERROR, RESULT_CONNECT },
	{ CURLE_GOT_NOTHING, RESULT_CONNECT },
	{ CURLE_PARTIAL_FILE, RESULT_CONNECT },
	{ CURLE_INTERFACE_FAILED, RESULT_CONNECT },
	{ CURLE_OPERATION_TIMEDOUT, RESULT_TIMEOUT },
	{ CURLE_SSL_CONNECT_ERROR, RESULT_TLS },
	{ CURLE_PEER_FAILED_VERIFICATION, RESULT_TLS },
	{ CURLE_SSL_CERTPROBLEM, RESULT_TLS },
	{ CURLE_SSL_CIPHER, RESULT_TLS },
	{ CURLE_SSL_CACERT_BADFILE, RESULT_TLS },
	{ CURLE_SSL_ISSUER_ERROR, RESULT_TLS },
	{ CURLE_SSL_PINNEDPUBKEYNOTMATCH, RESULT_TLS },
	{ CURLE_SSL_INVALIDCERTSTATUS, RESULT_TLS },
	{ CURLE_SSL_SHUTDOWN_FAILED, RESULT_TLS },
	{ CURLE_SSL_CRL_BADFILE, RESULT_TLS },
	{ CURLE_USE_SSL_FAILED, RESULT_TLS },
	{ CURLE_TOO_MANY_REDIRECTS, RESULT_TOO_MANY_REDIRECTS },
	{ CURLE_FILESIZE_EXCEEDED, RESULT_TOO_LARGE },
	{ CURLE_URL_MALFORMAT, RESULT_INVALID_URL },
	{ CURLE_UNSUPPORTED_PROTOCOL, RESULT_INVALID_URL },
	{ CURLE_ABORTED_BY_CALLBACK, RESULT_CANCELLED },
	{ CURLE_WEIRD_SERVER_REPLY, RESULT_PROTOCOL },
	{ CURLE_BAD_CONTENT_ENCODING, RESULT_PROTOCOL },
	{ CURLE_HTTP2, RESULT_PROTOCOL },
	{ CURLE_HTTP2_STREAM, RESULT_PROTOCOL },
	{ CURLE_HTTP3, RESULT_PROTOCOL },
	{ CURLE_RANGE_ERROR, RESULT_PROTOCOL },
	{ CURLE_BAD_DOWNLOAD_RESUME, RESULT_PROTOCOL },
};

enum result_kind
fetch_classify(CURLcode code, long status, int too_large, const char *url)
{
	size_t i;

	if (too_large)
		return RESULT_TOO_LARGE;
	if (code == CURLE_OK)
		return status >= 400 ? RESULT_HTTP_STATUS : RESULT_OK;
	/* Two codes that mean something else once a server has spoken:
	 * "unsupported protocol" on an http(s) URL is a reply that is not
	 * HTTP (HTTP/0.9; on another scheme it is a redirect there), and
	 * "out of memory" a header over libcurl's size limit. */
	if (code == CURLE_UNSUPPORTED_PROTOCOL && (url == NULL ||
	    strncasecmp(url, "http://", 7) == 0 ||
	    strncasecmp(url, "https://", 8) == 0))
		return RESULT_PROTOCOL;
	if (code == CURLE_OUT_OF_MEMORY && status > 0)
		return RESULT_PROTOCOL;
	for (i = 0; i < sizeof(fetch_kinds) / sizeof(fetch_kinds[0]); i++)
		if (fetch_kinds[i].code == code)
			return fetch_kinds[i].kind;
	return RESULT_INTERNAL;
}

/*
 * The connection cache. libcurl's default keeps 4 x the transfers in
 * flight, so each time the window ran low it closed connections that the
 * next transfers had to open again (and handshake again): keep as many as
 * twice the concurrency whatever is in flight.
 */
static void
fetch_maxconnects(struct fetch *f)
{
	long n = (long)f->conf->concurrency * 2;

	if (n < 64)
		n = 64;
	if (curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, n) != CURLM_OK)
		log_warnx("fetch: could not set the connection cache to %ld",
		    n);
}

void
fetch_set_conf(struct fetch *f, struct conf *c)
{
	conf_replace(&f->conf, NULL, c);
	fetch_maxconnects(f);
}

static size_t fetch_write_cb(char *, size_t, size_t, void *);

/* Options every transfer gets, task or helper. */
static int
fetch_setup_common(struct xfer *x)
{
	CURL *e = x->easy;

	x->conf = conf_ref(x->f->conf);
	x->gc.guard = conf_guard(x->conf);
	if (curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_write_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
	    guard_opensocket_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &x->gc) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, guard_prereq_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PREREQDATA, &x->gc) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SHARE, x->f->share) != CURLE_OK)
		return -1;
	return 0;
}


/*
 * Sets the URL a transfer requests. Tasks keep their URL as submitted
 * (an international host, say) for display; the request needs its ASCII
 * form (job_url_ascii). Converting here, per transfer, costs one scan for
 * the usual ASCII URL and one curl_url parse for the rare other, and
 * keeps one URL per task in the database. CURLOPT_URL copies the string.
 */
static int
fetch_set_url(CURL *e, const char *url)
{
	char *ascii;
	CURLcode cc;

	if (job_url_ascii(url, &ascii) != 0)
		return -1;
	cc = curl_easy_setopt(e, CURLOPT_URL, ascii != NULL ? ascii : url);
	free(ascii);
	return cc == CURLE_OK ? 0 : -1;
}

/* Drains finished transfers after every curl_multi_socket_action. */
static void fetch_check_done(struct fetch *f);
static int fetch_attach(struct fetch *f, struct xfer *x, char **cause);

static void
fetch_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fetch_sock *fs = w->data;
	struct fetch *f = fs->f;
	int action = 0, running;
	CURLMcode mc;

	(void)loop;
	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/* fs may be freed inside socket_action; use only f from here on. */
	mc = curl_multi_socket_action(f->multi, fs->fd, action, &running);
	if (mc != CURLM_OK)
		log_warnx("fetch: socket_action: %s", curl_multi_strerror(mc));
	fetch_check_done(f);
}

static void
fetch_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fetch *f = w->data;
	int running;
	CURLMcode mc;

	(void)loop;
	(void)revents;
	mc = curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	if (mc != CURLM_OK)
		log_warnx("fetch: socket_action(timeout): %s",
		    curl_multi_strerror(mc));
	fetch_check_done(f);
}

/* CURLMOPT_TIMERFUNCTION: only arms the timer; libcurl acts when it fires. */
static int
fetch_multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fetch *f = userp;

	(void)multi;
	ev_timer_stop(f->loop, &f->timer);
	if (timeout_ms >= 0) {
		/* 1000.0: a sub-second timeout must not become 0. */
		ev_timer_set(&f->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(f->loop, &f->timer);
	}
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: keeps one ev_io per socket in step with curl. */
static int
fetch_multi_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct fetch *f = userp;
	struct fetch_sock *fs = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			ev_io_stop(f->loop, &fs->io);
			free(fs);
		}
		return 0;
	}
	if (fs == NULL) {
		if ((fs = calloc(1, sizeof(*fs))) == NULL) {
			log_warnx("fetch: out of memory for a socket watcher");
			return -1;
		}
		fs->f = f;
		fs->fd = s;
		fs->io.data = fs;
		if (curl_multi_assign(f->multi, s, fs) != CURLM_OK) {
			free(fs);
			return -1;
		}
		ev_init(&fs->io, fetch_io_cb);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	/* Unchanged interest: leave the watcher (and epoll) alone. */
	if (ev_is_active(&fs->io) && fs->events == events)
		return 0;
	ev_io_stop(f->loop, &fs->io);
	fs->events = events;
	ev_io_set(&fs->io, s, events);
	ev_io_start(f->loop, &fs->io);
	return 0;
}

struct fetch *
fetch_create(struct ev_loop *loop, struct conf *c, fetch_done_cb cb,
    void *arg, char **cause)
{
	struct fetch *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		goto nomem;
	f->loop = loop;
	f->cb = cb;
	f->cb_arg = arg;
	f->conf = conf_ref(c);
	f->env_ca_file = getenv("SSL_CERT_FILE");
	f->env_ca_path = getenv("SSL_CERT_DIR");
	if ((f->multi = curl_multi_init()) == NULL) {
		*cause = strdup("curl_multi_init failed");
		goto fail;
	}
	/* Connections and DNS are the multi handle's already; sharing TLS
	 * sessions lets a new connection to a host resume its session (an
	 * abbreviated handshake). Only the loop thread uses it: no locks. */
	if ((f->share = curl_share_init()) == NULL ||
	    curl_share_setopt(f->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
		*cause = strdup("curl_share_init failed");
		goto fail;
	}
	ev_init(&f->timer, fetch_timer_cb);
	f->timer.data = f;
	if (curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION,
	    fetch_multi_socket_cb) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION,
	    fetch_multi_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f) != CURLM_OK) {
		*cause = strdup("curl_multi_setopt failed");
		goto fail;
	}
	fetch_maxconnects(f);
	return f;
nomem:
	*cause = strdup("out of memory");
fail:
	if (f != NULL) {
		if (f->multi != NULL)
			curl_multi_cleanup(f->multi);
		if (f->share != NULL)
			curl_share_cleanup(f->share);
		conf_unref(f->conf);
		free(f);
	}
	return NULL;
}

static size_t
fetch_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t len = size * nmemb, room, cap;
	curl_off_t declared = -1;
	unsigned char *nb;

	stats_add_bytes(len);
	room = x->body_max - x->body_len;
	if (len > room) {
		/* Keep what fits, then stop: the result says too_large. */
		x->too_large = 1;
		len = room;
	}
	if (x->body_len + len > x->body_cap) {
		cap = x->body_cap == 0 ? FETCH_BODY_INITIAL : x->body_cap;
		/* The declared length, when there is one, is the first size:
		 * a body copied once, not once per doubling. (Encoded bytes:
		 * a compressed body still grows from there.) Up to 1 MiB: a
		 * server's word is not worth more memory than that. */
		if (x->body_cap == 0 && curl_easy_getinfo(x->easy,
		    CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &declared) ==
		    CURLE_OK && declared > (curl_off_t)cap)
			cap = declared > FETCH_BODY_PREALLOC_MAX ?
			    FETCH_BODY_PREALLOC_MAX : (size_t)declared;
		if (cap > x->body_max)
			cap = x->body_max;
		while (cap < x->body_len + len)
			cap *= 2;
		if (cap > x->body_max)
			cap = x->body_max;
		if ((nb = realloc(x->body, cap)) == NULL) {
			snprintf(x->errbuf, sizeof(x->errbuf),
			    "out of memory for a %zu byte body", cap);
			return 0;
		}
		x->body = nb;
		x->body_cap = cap;
	}
	if (len > 0)
		memcpy(x->body + x->body_len, data, len);
	x->body_len += len;
	return x->too_large ? 0 : size * nmemb;
}

static size_t
fetch_header_cb(char *data, size_t size, size_t nitems, void *userp)
{
	struct xfer *x = userp;
	size_t len = size * nitems, cap;
	char *nh;

	/* A new status line starts a new response (redirect, 1xx): keep
	 * only the final response's headers. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
		x->headers_len = 0;
	if (x->headers_len + len + 1 > FETCH_HEADERS_MAX)
		return len;	/* keep the first 64 KiB */
	if (x->headers_len + len + 1 > x->headers_cap) {
		cap = x->headers_cap == 0 ? 1024 : x->headers_cap;
		while (cap < x->headers_len + len + 1)
			cap *= 2;
		if ((nh = realloc(x->headers, cap)) == NULL)
			return len;
		x->headers = nh;
		x->headers_cap = cap;
	}
	memcpy(x->headers + x->headers_len, data, len);
	x->headers_len += len;
	x->headers[x->headers_len] = '\0';
	return len;
}

/* Turns "Name: value" lines into a curl_slist. */
static int
fetch_header_list(const char *text, struct curl_slist **list)
{
	struct curl_slist *l;
	char *copy, *line, *save = NULL;

	if ((copy = strdup(text)) == NULL)
		return -1;
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((l = curl_slist_append(*list, line)) == NULL) {
			free(copy);
			return -1;
		}
		*list = l;
	}
	free(copy);
	return 0;
}

/*
 * TLS for a transfer of a job with options o: its CA certificates,
 * client certificate and verification, else the configuration's. When
 * neither names CA certificates, $SSL_CERT_FILE and $SSL_CERT_DIR do, as
 * for other OpenSSL programs (libcurl itself reads neither).
 */
static int
fetch_setup_tls(struct xfer *x, const struct job_opts *o)
{
	const struct conf *c = x->conf;
	const char *ca = conf_eff(c, o, ca_file), *dir = conf_eff(c, o, ca_path);
	const char *cert = conf_eff(c, o, client_cert);
	const char *key = conf_eff(c, o, client_key);
	CURL *e = x->easy;

	if (*ca == '\0' && *dir == '\0') {
		ca = x->f->env_ca_file != NULL ? x->f->env_ca_file : "";
		dir = x->f->env_ca_path != NULL ? x->f->env_ca_path : "";
	}
	if ((*ca != '\0' && curl_easy_setopt(e, CURLOPT_CAINFO, ca) !=
	    CURLE_OK) || (*dir != '\0' && curl_easy_setopt(e,
	    CURLOPT_CAPATH, dir) != CURLE_OK) || (*cert != '\0' &&
	    curl_easy_setopt(e, CURLOPT_SSLCERT, cert) != CURLE_OK) ||
	    (*key != '\0' && curl_easy_setopt(e, CURLOPT_SSLKEY, key) !=
	    CURLE_OK))
		return -1;
	if (!conf_eff(c, o, tls_verify) &&
	    (curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK))
		return -1;
	return 0;
}

/* Sets every per-transfer option; -1 when libcurl refuses one. */
static int
fetch_setup(struct fetch *f, struct xfer *x)
{
	const struct job_opts *o = &x->task->opts;
	const struct conf *c;
	CURL *e = x->easy;
	int64_t low_time_ms;

	(void)f;
#define SET(opt, val) if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
	return -1
	if (fetch_setup_common(x) != 0)
		return -1;
	c = x->conf;
	low_time_ms = conf_eff(c, o, low_speed_time_ms);
	x->body_max = (size_t)conf_eff(c, o, max_body_bytes);
	if (fetch_set_url(e, x->task->url) != 0)
		return -1;
	SET(CURLOPT_HEADERFUNCTION, fetch_header_cb);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_FOLLOWLOCATION, (long)conf_eff(c, o, follow_redirects));
	SET(CURLOPT_MAXREDIRS, (long)conf_eff(c, o, max_redirects));
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)conf_eff(c, o, connect_timeout_ms));
	SET(CURLOPT_TIMEOUT_MS, (long)conf_eff(c, o, timeout_ms));
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)conf_eff(c, o, low_speed_limit));
	SET(CURLOPT_LOW_SPEED_TIME, (long)((low_time_ms + 999) / 1000));
	SET(CURLOPT_USERAGENT, conf_eff(c, o, user_agent));
	if (fetch_setup_tls(x, o) != 0)
		return -1;
	/* Over TLS, wait to learn whether the connection multiplexes (HTTP/2
	 * by ALPN) rather than opening one more to the same host. Plain http
	 * is HTTP/1.1: waiting would only serialise the first requests. */
	if (strncasecmp(x->task->url, "https:", 6) == 0)
		SET(CURLOPT_PIPEWAIT, 1L);
	if (o->method == JOB_METHOD_HEAD)
		SET(CURLOPT_NOBODY, 1L);
	if (o->proxy != NULL)
		SET(CURLOPT_PROXY, o->proxy);
	if (o->headers != NULL) {
		if (fetch_header_list(o->headers, &x->req_headers) != 0)
			return -1;
		SET(CURLOPT_HTTPHEADER, x->req_headers);
	}
#undef SET
	return 0;
}

static void
xfer_free(struct xfer *x)
{
	struct fetch *f = x->f;

	if (x->easy != NULL) {
		if (f->npool < FETCH_POOL_MAX) {
			curl_easy_reset(x->easy);
			f->pool[f->npool++] = x->easy;
		} else
			curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->req_headers);
	conf_unref(x->conf);
	free(x->body);
	free(x->headers);
	free(x);
}

int
fetch_start(struct fetch *f, struct task *t, char **cause)
{
	struct xfer *x;

	if ((x = calloc(1, sizeof(*x))) == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	x->f = f;
	x->task = t;
	x->easy = f->npool > 0 ? f->pool[--f->npool] : curl_easy_init();
	if (x->easy == NULL) {
		*cause = strdup("curl_easy_init failed");
		goto fail;
	}
	if (fetch_setup(f, x) != 0) {
		*cause = strdup("curl_easy_setopt failed");
		goto fail;
	}
	if (fetch_attach(f, x, cause) != 0)
		goto fail;
	return 0;
fail:
	x->task = NULL;
	xfer_free(x);
	return -1;
}

/* Puts x in the in-flight list and hands it to libcurl. */
static int
fetch_attach(struct fetch *f, struct xfer *x, char **cause)
{
	CURLMcode mc;

	if ((mc = curl_multi_add_handle(f->multi, x->easy)) != CURLM_OK) {
		*cause = strdup(curl_multi_strerror(mc));
		return -1;
	}
	x->next = f->xfers;
	if (f->xfers != NULL)
		f->xfers->prev = x;
	f->xfers = x;
	if (x->task != NULL) {
		f->nxfers++;
		stats_set_in_flight(f->nxfers);
	}
	return 0;
}

int
fetch_aux_start(struct fetch *f, const char *url, const struct job_opts *o,
    size_t max_body, fetch_aux_cb cb, void *arg)
{
	struct xfer *x;
	char *cause = NULL;
	CURL *e;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return -1;
	x->f = f;
	x->aux_cb = cb;
	x->aux_arg = arg;
	x->body_max = max_body;
	x->easy = e = f->npool > 0 ? f->pool[--f->npool] : curl_easy_init();
	if (e == NULL)
		goto fail;
	if (fetch_setup_common(x) != 0)
		goto fail;
#define SET(opt, val) if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
	goto fail
	if (fetch_set_url(e, url) != 0)
		goto fail;
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 5L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)x->conf->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)x->conf->timeout_ms);
	SET(CURLOPT_USERAGENT, conf_eff(x->conf, o, user_agent));
#undef SET
	if (fetch_setup_tls(x, o) != 0)
		goto fail;
	if (fetch_attach(f, x, &cause) != 0)
		goto fail;
	return 0;
fail:
	free(cause);
	xfer_free(x);
	return -1;
}

/* Takes x out of the multi handle and the in-flight list. */
static void
fetch_detach(struct fetch *f, struct xfer *x)
{
	CURLMcode mc;

	if ((mc = curl_multi_remove_handle(f->multi, x->easy)) != CURLM_OK)
		log_warnx("fetch: remove_handle: %s", curl_multi_strerror(mc));
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		f->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	if (x->task != NULL) {
		f->nxfers--;
		stats_set_in_flight(f->nxfers);
	}
}

static double
info_ms(CURL *e, CURLINFO what)
{
	curl_off_t us = 0;

	if (curl_easy_getinfo(e, what, &us) != CURLE_OK)
		return 0.0;
	return (double)us / 1000.0;
}

static char *
info_strdup(CURL *e, CURLINFO what)
{
	char *s = NULL;

	if (curl_easy_getinfo(e, what, &s) != CURLE_OK || s == NULL)
		return NULL;
	return strdup(s);
}

/* Builds the ScrapeResult of a finished transfer; NULL on ENOMEM. */
static struct result *
fetch_result(struct xfer *x, CURLcode code)
{
	struct result *r;
	curl_off_t clen = -1, retry_after = 0;
	long status = 0, redirects = 0;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->task_id = x->task->id;
	r->job_id = x->task->job_id;
	r->lease = x->task->lease;
	r->attempts = x->task->attempts + 1;
	r->fetched_at_ms = job_now_ms();
	if ((r->url = strdup(x->task->url)) == NULL) {
		free(r);
		return NULL;
	}
	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK)
		status = 0;
	if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_COUNT, &redirects) !=
	    CURLE_OK)
		redirects = 0;
	if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
	    &clen) != CURLE_OK)
		clen = -1;
	if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &retry_after) !=
	    CURLE_OK)
		retry_after = 0;
	r->retry_after_s = retry_after;
	r->status = status;
	r->redirect_count = redirects;
	r->content_length = clen;
	r->final_url = info_strdup(x->easy, CURLINFO_EFFECTIVE_URL);
	r->content_type = info_strdup(x->easy, CURLINFO_CONTENT_TYPE);
	r->time_dns_ms = info_ms(x->easy, CURLINFO_NAMELOOKUP_TIME_T);
	r->time_connect_ms = info_ms(x->easy, CURLINFO_CONNECT_TIME_T);
	r->time_tls_ms = info_ms(x->easy, CURLINFO_APPCONNECT_TIME_T);
	r->time_ttfb_ms = info_ms(x->easy, CURLINFO_STARTTRANSFER_TIME_T);
	r->time_total_ms = info_ms(x->easy, CURLINFO_TOTAL_TIME_T);
	r->kind = fetch_classify(code, status, x->too_large ||
	    code == CURLE_FILESIZE_EXCEEDED, r->final_url);
	if (x->gc.why[0] != '\0' && (code == CURLE_COULDNT_CONNECT ||
	    code == CURLE_ABORTED_BY_CALLBACK))
		r->kind = RESULT_BLOCKED_ADDRESS;
	/* A receive error from a malformed chunked body is the server
	 * breaking the protocol, not the connection failing. */
	if (code == CURLE_RECV_ERROR && strstr(x->errbuf, "chunk") != NULL)
		r->kind = RESULT_PROTOCOL;
	r->truncated = r->kind == RESULT_TOO_LARGE;
	/* The body moves to the result: no copy. */
	r->body = x->body;
	r->body_len = x->body_len;
	x->body = NULL;
	r->headers = x->headers;
	x->headers = NULL;
	if (r->kind == RESULT_BLOCKED_ADDRESS)
		r->error_message = strdup(x->gc.why);
	else if (r->kind == RESULT_TOO_LARGE)
		r->error_message = x->too_large ? strdup("body larger than "
		    "max_body_bytes; first max_body_bytes bytes kept") :
		    strdup("declared Content-Length exceeds max_body_bytes");
	else if (r->kind == RESULT_HTTP_STATUS) {
		if (asprintf(&r->error_message, "HTTP status %ld", status) < 0)
			r->error_message = NULL;
	} else if (r->kind == RESULT_PROTOCOL && code == CURLE_OUT_OF_MEMORY)
		r->error_message = strdup("response header larger than "
		    "libcurl accepts");
	else if (r->kind != RESULT_OK)
		r->error_message = strdup(x->errbuf[0] != '\0' ? x->errbuf :
		    curl_easy_strerror(code));
	return r;
}

/* Ends a helper transfer: the callback sees the body, then it is freed. */
static void
fetch_aux_finish(struct fetch *f, struct xfer *x, CURLcode code)
{
	long status = 0;

	fetch_detach(f, x);
	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK)
		status = 0;
	/* A body cut at the limit is still a body (robots.txt: RFC 9309
	 * asks to parse the first 500 KiB). */
	if (x->too_large && code == CURLE_WRITE_ERROR)
		code = CURLE_OK;
	x->aux_cb(status, code, x->body != NULL ? (const char *)x->body : "",
	    x->body_len, x->aux_arg);
	xfer_free(x);
}

/* Ends a transfer: detaches it, hands task and result to the callback. */
static void
fetch_finish(struct fetch *f, struct xfer *x, CURLcode code)
{
	struct task *t = x->task;
	struct result *r;
	char esc[512], *url;

	if (x->aux_cb != NULL) {
		fetch_aux_finish(f, x, code);
		return;
	}
	fetch_detach(f, x);
	if ((r = fetch_result(x, code)) == NULL)
		r = result_new_error(t, RESULT_INTERNAL, "out of memory");
	if (r == NULL)
		fatalx("fetch: out of memory for a result");
	if (log_get_level() >= LOG_LEVEL_DEBUG) {
		/* The log is no place for the URL's password. */
		url = job_redact_url(t->url);
		log_debug("%s: task=%lld status=%ld kind=%s url=%s", __func__,
		    (long long)t->id, r->status,
		    r->kind == RESULT_OK ? "ok" : result_kind_name(r->kind),
		    url != NULL ? log_escape(esc, sizeof(esc), url) : "?");
		free(url);
	}
	x->task = NULL;
	xfer_free(x);
	f->cb(t, r, f->cb_arg);
}

static void
fetch_check_done(struct fetch *f)
{
	CURLMsg *msg;
	struct xfer *x;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&x) != CURLE_OK || x == NULL) {
			log_warnx("fetch: finished transfer without context");
			continue;
		}
		fetch_finish(f, x, msg->data.result);
	}
}

size_t
fetch_cancel_job(struct fetch *f, int64_t job_id)
{
	struct xfer *x, *next;
	struct task *t;
	struct result *r;
	size_t n = 0;

	for (x = f->xfers; x != NULL; x = next) {
		next = x->next;
		if (x->task == NULL || x->task->job_id != job_id)
			continue;
		fetch_detach(f, x);
		t = x->task;
		x->task = NULL;
		xfer_free(x);
		r = result_new_error(t, RESULT_CANCELLED,
		    "job cancelled while the transfer was in flight");
		if (r == NULL)
			fatalx("fetch: out of memory for a result");
		n++;
		/* The callback may start transfers: they go to the list head
		 * and are not this job's, so the walk stays valid. */
		f->cb(t, r, f->cb_arg);
	}
	return n;
}

void
fetch_abort_all(struct fetch *f)
{
	struct xfer *x;
	struct task *t;

	while ((x = f->xfers) != NULL) {
		if (x->aux_cb != NULL) {
			fetch_detach(f, x);
			x->aux_cb(0, CURLE_ABORTED_BY_CALLBACK, "", 0,
			    x->aux_arg);
			xfer_free(x);
			continue;
		}
		fetch_detach(f, x);
		t = x->task;
		x->task = NULL;
		xfer_free(x);
		f->cb(t, NULL, f->cb_arg);
	}
}

size_t
fetch_in_flight(const struct fetch *f)
{
	return f->nxfers;
}

void
fetch_free(struct fetch *f)
{
	CURLMcode mc;

	if (f == NULL)
		return;
	fetch_abort_all(f);
	while (f->npool > 0)
		curl_easy_cleanup(f->pool[--f->npool]);
	ev_timer_stop(f->loop, &f->timer);
	if ((mc = curl_multi_cleanup(f->multi)) != CURLM_OK)
		log_warnx("fetch: multi_cleanup: %s", curl_multi_strerror(mc));
	/* After every easy handle that used it is gone (the pool above). */
	if (curl_share_cleanup(f->share) != CURLSHE_OK)
		log_warnx("fetch: share_cleanup failed");
	conf_unref(f->conf);
	free(f);
}
