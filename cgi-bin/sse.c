/*
 * sse: GET /mcp/sse, the legacy HTTP+SSE transport (MCP 2024-11-05).
 *
 * The client opens a stream here; the first event names the URL to POST its
 * messages to (POST /mcp/message?sessionId=..., program message), and every
 * response arrives as a `message` event on this stream.  The message
 * program finds the session in the store, and with it this process's bus
 * socket (bus.h); the receiver thread here hands each message to its stream
 * (sse.h).  Nothing polls: stream threads sleep in poll() on their wake
 * eventfd and their web-server connection.
 *
 * One multi-threaded FastCGI process holds every stream, so a session lives
 * in a single known process (lighttpd/Apache start exactly one).  It cannot
 * use app_main's single-threaded loop:
 *   - N worker threads call FCGX_Accept_r under a mutex; N = streams +
 *     SSE_RESERVE, and a request beyond the stream capacity is answered 503
 *     by a reserve thread at once instead of waiting, unseen, in the listen
 *     backlog.
 *   - Signals are blocked in every thread and taken by sigwait() in main:
 *     libfcgi's own handlers only set a flag that threads blocked in
 *     accept() never look at, so the process would not exit on SIGTERM.
 *     On SIGTERM/SIGINT/SIGHUP/SIGUSR1 the process stops accepting (the
 *     thread in accept() is interrupted by a signal of its own), ends every
 *     stream (queued messages are written first), removes the sessions in
 *     one store transaction and its bus socket, and exits, well within a
 *     second even with every stream open.
 * As plain CGI (shared hosting) it serves its one stream the same way, with
 * its own bus socket.
 *
 * Settings (config file): sse_max_streams (streams per process, default 1000)
 * and sse_ping_ms (keep-alive comment interval, default 10000, at most 15000).
 */
#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "bearer.h"
#include "bus.h"
#include "log.h"
#include "session.h"
#include "sse.h"

#define SSE_STREAMS_DEFAULT 1000
#define SSE_RESERVE 4            /* threads beyond the stream capacity: 503s, 401s */
/* Keep-alive comments (at most 15 s apart, per the issue).  They are also
 * how a vanished client is noticed: lighttpd and Apache only see a client's
 * close when they next write to it, and only then close our connection. */
#define SSE_PING_MS_DEFAULT 10000
#define SSE_WRITE_TIMEOUT_S 30   /* a client that accepts nothing this long is gone */
#define SSE_DRAIN_MS 600         /* streams end by themselves within this on SIGTERM */
#define SSE_ABORT_MS 300         /* then their connections are cut; then we exit */
#define SSE_SIG_WAKE (SIGRTMIN + 1) /* interrupts the worker blocked in accept() */
#define SSE_FD_SPARE 64          /* descriptors besides the streams' (store, bus, logs) */
#ifdef __SANITIZE_ADDRESS__
#define SSE_STACK (1024 * 1024)  /* ASan's redzones need much more stack */
#else
#define SSE_STACK (256 * 1024)   /* measured peak is far below; 8 MiB default x 1000 is 8 GB of VM */
#endif

/* The per-process context: the only mutable state the program keeps. */
struct sse_ctx {
	struct app app;
	int cgi;
	pthread_t main_thread;
	struct bus_listener *bus;
	struct sse_hub *hub;
	int stop_fd;             /* eventfd: tells the receiver thread to end */
	pthread_t receiver;
	int have_receiver;
	pthread_mutex_t accept_mu;
	pthread_mutex_t acceptor_mu; /* guards acceptor/in_accept */
	pthread_t acceptor;      /* the worker blocked in accept(), if in_accept */
	int in_accept;
	pthread_mutex_t live_mu;
	pthread_cond_t live_cv;
	unsigned live;           /* worker threads still running */
	unsigned busy;           /* requests between accept and finish */
	unsigned nthreads;
	pthread_t *threads;
	unsigned max_streams;
	long ping_ms;
	atomic_uint active;      /* streams open */
	atomic_int stopping;
	/* This process's store transactions, one at a time: a burst of new
	 * streams (every client reconnecting after a restart) would otherwise
	 * have hundreds of threads retrying the store's file lock at once,
	 * and most would time out.  Queued here, they run back to back. */
	pthread_mutex_t store_mu;
	/* Sessions of streams ended by the shutdown, removed in one store
	 * transaction instead of one each. */
	pthread_mutex_t doomed_mu;
	size_t ndoomed, doomed_cap;
	char (*doomed)[SESSION_ID_LEN + 1];
	char sse_path[CONFIG_STR_MAX + 16];      /* public_path + "/mcp/sse" */
	char message_path[CONFIG_STR_MAX + 16];  /* public_path + "/mcp/message" */
};

/* One request: the connection to the web server and the HTTP view of it. */
struct sse_conn {
	struct sse_ctx *c;
	struct http_req req;
	struct http_resp *resp;
	int io_fd;              /* connection to the web server, for poll/shutdown */
	int status;             /* sent, for the log (resp is freed once streaming) */
};

static long long
sse_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the store, one transaction at a time ---- */

static int
sse_store_enter(struct sse_ctx *c)
{
	struct timespec dl;
	long ms = c->app.cfg.store_lock_timeout_ms;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&c->store_mu, &dl) == 0 ? 0 : -1;
}

static void
sse_store_leave(struct sse_ctx *c)
{
	pthread_mutex_unlock(&c->store_mu);
}

static int
sse_grant_live(struct sse_ctx *c, const char *grant_id)
{
	int rc;

	if (sse_store_enter(c) != 0)
		return STORE_BUSY;
	rc = token_grant_live(c->app.store, grant_id);
	sse_store_leave(c);
	return rc;
}

/* Open a session for the stream (after checking the grant is live). */
static int
sse_session_open(struct sse_ctx *c, const char *grant_id, struct session *s)
{
	int rc;

	if (sse_store_enter(c) != 0)
		return STORE_BUSY;
	rc = token_grant_live(c->app.store, grant_id);
	if (rc == STORE_OK)
		rc = session_create(c->app.store, s);
	sse_store_leave(c);
	return rc;
}

/* Remove the session of an ended stream: now, or with the others at
 * shutdown.  Returns what to log. */
static const char *
sse_session_close(struct sse_ctx *c, const struct session *s)
{
	int rc;

	if (atomic_load(&c->stopping)) {
		pthread_mutex_lock(&c->doomed_mu);
		if (c->ndoomed < c->doomed_cap)
			memcpy(c->doomed[c->ndoomed++], s->id, sizeof(c->doomed[0]));
		pthread_mutex_unlock(&c->doomed_mu);
		return "at exit";
	}
	if (sse_store_enter(c) != 0)
		return "busy (expires with the token)";
	rc = session_delete(c->app.store, s->id, s->user);
	sse_store_leave(c);
	/* NOTFOUND: it expired with the token a moment ago. */
	return rc == STORE_OK || rc == STORE_NOTFOUND ? "yes" : store_strerror(rc);
}

static int
sse_doomed_del(struct store_txn *tx, void *arg)
{
	struct sse_ctx *c = arg;

	for (size_t i = 0; i < c->ndoomed; i++) {
		int rc = store_txn_del(tx, STORE_MCPSESSION, c->doomed[i], strlen(c->doomed[i]));

		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_OK;
}

/* One write transaction for every session the shutdown ended.  Sessions are
 * keyed by their id in STORE_MCPSESSION (session.h); these ids were made by
 * this process, so no ownership check is needed. */
static void
sse_doomed_flush(struct sse_ctx *c)
{
	int rc;

	pthread_mutex_lock(&c->doomed_mu);
	if (c->ndoomed > 0) {
		rc = store_txn(c->app.store, 1, sse_doomed_del, c);
		log_msg(rc == STORE_OK ? LOG_INFO : LOG_WARN,
			"msg=\"sessions of ended streams removed\" count=%zu result=%s", c->ndoomed,
			store_strerror(rc));
		c->ndoomed = 0;
	}
	pthread_mutex_unlock(&c->doomed_mu);
}

/* ---- the stream ---- */

static int
sse_send_event(struct sse_conn *k, const char *event, const char *data, size_t len)
{
	struct buf b;
	int rc = -1;

	/* JSON text has no raw line breaks, so the event is data + framing;
	 * the cap still bounds a message that splits into many lines. */
	buf_init(&b, 2 * len + 64);
	if (sse_format_event(&b, event, data, len) != 0) {
		log_msg(LOG_ERROR, "msg=\"message cannot be framed as an SSE event; dropped\" "
				   "bytes=%zu",
			len);
		rc = 0;
	} else {
		rc = http_write(&k->req, b.data, b.len);
	}
	buf_free(&b);
	return rc;
}

/* Write every queued message.  Returns the reason to end the stream, or
 * NULL to go on. */
static const char *
sse_drain_queue(struct sse_conn *k, struct sse_stream *st)
{
	enum sse_next r;
	char *data;
	size_t len;
	int wrote = 0;

	while ((r = sse_stream_next(st, &data, &len)) == SSE_NEXT_MSG) {
		int rc = sse_send_event(k, "message", data, len);

		free(data);
		if (rc != 0)
			return "client gone";
		wrote = 1;
	}
	if (wrote && http_flush(&k->req) != 0)
		return "client gone";
	if (r == SSE_NEXT_OVERFLOW)
		return "client too slow (queue full)";
	if (r == SSE_NEXT_STOP)
		return "shutting down";
	return NULL;
}

/* Keep-alive comment, and a check that the grant was not revoked meanwhile. */
static const char *
sse_ping(struct sse_conn *k, const struct token_access *acc)
{
	static const char ping[] = ": ping\n\n";

	if (http_write(&k->req, ping, sizeof(ping) - 1) != 0 || http_flush(&k->req) != 0)
		return "client gone";
	if (sse_grant_live(k->c, acc->grant_id) == STORE_NOTFOUND)
		return "grant revoked";
	return NULL;
}

/* Serve the open stream until it ends; returns why it ended. */
static const char *
sse_pump(struct sse_conn *k, struct sse_stream *st, const struct token_access *acc)
{
	long long now = sse_now_ms();
	long long exp_at = now + ((long long)acc->exp - (long long)time(NULL)) * 1000;
	long long ping_at = now + k->c->ping_ms;
	const char *why = NULL;

	while (why == NULL) {
		/* FastCGI: the web server closes the connection when the client
		 * goes away.  CGI: stdout is often the same socket as stdin,
		 * whose write side the server shuts once the request is sent, so
		 * only a full hang-up counts there. */
		struct pollfd p[2] = {{.fd = sse_stream_wake_fd(st), .events = POLLIN},
				      {.fd = k->io_fd, .events = k->c->cgi ? 0 : POLLRDHUP}};
		long long until = ping_at < exp_at ? ping_at : exp_at;
		int wait = (int)(until > now ? until - now : 0);

		if (poll(p, k->io_fd >= 0 ? 2 : 1, wait) < 0 && errno != EINTR)
			return "poll failed";
		if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
			return "client gone";
		why = sse_drain_queue(k, st);
		now = sse_now_ms();
		if (why == NULL && now >= exp_at)
			why = "token expired";
		if (why == NULL && now >= ping_at) {
			why = sse_ping(k, acc);
			ping_at = now + k->c->ping_ms;
		}
	}
	return why;
}

/* CORS for browser-based clients, as on /mcp: only allowed origins (the
 * Origin check has already refused the others). */
static void
sse_cors(struct sse_conn *k)
{
	const char *origin = http_header(&k->req, "Origin");

	http_resp_header(k->resp, "Vary", "Origin");
	if (origin == NULL || !config_origin_allowed(&k->c->app.cfg, origin))
		return;
	http_resp_header(k->resp, "Access-Control-Allow-Origin", "%s", origin);
	http_resp_header(k->resp, "Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After");
}

static void
sse_preflight(struct sse_conn *k)
{
	const char *origin = http_header(&k->req, "Origin");

	if (origin != NULL && !config_origin_allowed(&k->c->app.cfg, origin)) {
		bearer_error(k->resp, &k->c->app.cfg, BEARER_ORIGIN);
		return;
	}
	k->resp->status = 204;
	http_resp_header(k->resp, "Access-Control-Allow-Methods", "GET, OPTIONS");
	http_resp_header(k->resp, "Access-Control-Allow-Headers",
			 "Authorization, Accept, Last-Event-ID, MCP-Protocol-Version");
	http_resp_header(k->resp, "Access-Control-Max-Age", "86400");
}

/* Headers and the endpoint event (MCP 2024-11-05 HTTP+SSE transport): a
 * path relative to the host, which clients resolve against the SSE URL, so
 * it works whatever host name the client used. */
static int
sse_open_stream(struct sse_conn *k, const char *id)
{
	char ep[sizeof(k->c->message_path) + SESSION_ID_LEN + 16];
	int n;

	http_resp_header(k->resp, "Content-Type", "text/event-stream");
	http_resp_header(k->resp, "Cache-Control", "no-cache");
	/* nginx in front would otherwise buffer the stream. */
	http_resp_header(k->resp, "X-Accel-Buffering", "no");
	sse_cors(k);
	k->resp->status = k->status = 200;
	if (http_send_headers(&k->req, k->resp) != 0)
		return -1;
	/* A stream may last hours; its 64 KiB of header space is done with. */
	http_resp_free(k->resp);
	free(k->resp);
	k->resp = NULL;
	n = snprintf(ep, sizeof(ep), "%s?sessionId=%s", k->c->message_path, id);
	if (n < 0 || (size_t)n >= sizeof(ep))
		return -1;
	if (sse_send_event(k, "endpoint", ep, (size_t)n) != 0 || http_flush(&k->req) != 0)
		return -1;
	return 0;
}

/* Bound how long one write may block, so a client that never reads cannot
 * pin its thread for ever (libfcgi writes with blocking I/O). */
static void
sse_write_timeout(int fd)
{
	struct timeval tv = {.tv_sec = SSE_WRITE_TIMEOUT_S, .tv_usec = 0};

	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void
sse_stream(struct sse_conn *k, const struct token_access *acc)
{
	struct sse_ctx *c = k->c;
	struct session s;
	struct sse_stream *st = NULL;
	const char *why = "could not start", *removed;
	int rc;

	memset(&s, 0, sizeof(s));
	s.kind = SESSION_LEGACY_SSE;
	s.exp = acc->exp;
	snprintf(s.user, sizeof(s.user), "%s", acc->user);
	snprintf(s.sock, sizeof(s.sock), "%s", bus_listener_path(c->bus));
	rc = sse_session_open(c, acc->grant_id, &s);
	if (rc == STORE_NOTFOUND) {
		bearer_error(k->resp, &c->app.cfg, BEARER_INVALID); /* revoked */
		return;
	}
	if (rc != STORE_OK) {
		http_error_store(k->resp, rc, 0);
		return;
	}
	/* Registered before the client learns the id: nothing sent for the
	 * session can arrive before its stream exists. */
	st = sse_stream_open(c->hub, s.id, c->cgi ? -1 : k->io_fd);
	if (st == NULL) { /* stopping, or out of descriptors */
		http_error_oauth(k->resp, 503, "temporarily_unavailable",
				 "no room for another stream right now; retry shortly");
		http_resp_header(k->resp, "Retry-After", "1");
		goto out;
	}
	sse_write_timeout(k->io_fd);
	if (sse_open_stream(k, s.id) == 0)
		why = sse_pump(k, st, acc);
out:
	removed = sse_session_close(c, &s);
	sse_stream_close(c->hub, st);
	log_msg(LOG_INFO, "msg=\"stream ended\" reason=\"%s\" session_removed=%s", why, removed);
}

/* A slot for one more stream, or 0 when every stream thread is taken. */
static int
sse_slot_take(struct sse_ctx *c)
{
	if (atomic_fetch_add(&c->active, 1) < c->max_streams)
		return 1;
	atomic_fetch_sub(&c->active, 1);
	return 0;
}

/* validate -> authorise -> act. */
static void
sse_handle(struct sse_conn *k)
{
	struct sse_ctx *c = k->c;
	struct token_access acc;
	int rc;

	if (strcmp(k->req.path, c->sse_path) != 0) {
		http_error_oauth(k->resp, 404, "not_found", "no such endpoint");
		return;
	}
	if (strcmp(k->req.method, "OPTIONS") == 0) {
		sse_preflight(k);
		return;
	}
	if (strcmp(k->req.method, "GET") != 0) {
		http_error_method(k->resp, "GET, OPTIONS", 0);
		return;
	}
	/* The grant's liveness is checked with the session's creation. */
	rc = bearer_check(&c->app.cfg, &c->app.keys, c->app.store, &k->req, 0, &acc);
	if (rc != BEARER_OK) {
		bearer_error(k->resp, &c->app.cfg, rc);
		return;
	}
	if (atomic_load(&c->stopping) || !sse_slot_take(c)) {
		http_error_oauth(k->resp, 503, "temporarily_unavailable",
				 "no room for another stream right now; retry shortly");
		http_resp_header(k->resp, "Retry-After", "5");
		return;
	}
	sse_stream(k, &acc);
	atomic_fetch_sub(&c->active, 1);
	explicit_bzero(&acc, sizeof(acc));
}

static void
sse_serve(struct sse_ctx *c, char **envp, FCGX_Stream *in, FCGX_Stream *out, int io_fd)
{
	struct sse_conn k;
	long long t0 = sse_now_ms();
	char qpath[160];

	memset(&k, 0, sizeof(k));
	k.c = c;
	k.io_fd = io_fd;
	/* struct http_resp holds 64 KiB of header space: not on a small stack. */
	k.resp = malloc(sizeof(*k.resp));
	if (k.resp == NULL)
		return;
	http_req_init(&k.req, envp, in, out);
	log_set_request_id(k.req.id);
	http_resp_init(k.resp);
	if (c->app.broken)
		http_error_html(k.resp, 500, "Service unavailable",
				"This server is not configured correctly. The administrator "
				"can find the reason in the server's error log.");
	else
		sse_handle(&k);
	if (!k.req.headers_sent) {
		if (!c->app.broken)
			sse_cors(&k);
		http_send(&k.req, k.resp);
	}
	if (k.resp != NULL)
		k.status = k.resp->status;
	log_msg(LOG_INFO, "method=%s path=%s status=%d ms=%lld",
		k.req.method[0] != '\0' ? k.req.method : "-",
		log_quote(qpath, sizeof(qpath), k.req.path), k.status, sse_now_ms() - t0);
	http_resp_free(k.resp);
	free(k.resp);
	http_req_free(&k.req);
	log_set_request_id(NULL);
}

/* ---- threads ---- */

static void
sse_worker_done(struct sse_ctx *c)
{
	pthread_mutex_lock(&c->live_mu);
	c->live--;
	pthread_cond_broadcast(&c->live_cv);
	pthread_mutex_unlock(&c->live_mu);
}

static void
sse_busy(struct sse_ctx *c, int delta)
{
	pthread_mutex_lock(&c->live_mu);
	c->busy = (unsigned)((int)c->busy + delta);
	pthread_cond_broadcast(&c->live_cv);
	pthread_mutex_unlock(&c->live_mu);
}

/* Accept the next request, recording which thread waits in accept() so
 * that the drain can interrupt it (sse_kick_acceptor). */
static int
sse_accept(struct sse_ctx *c, FCGX_Request *r)
{
	int rc = -1;

	pthread_mutex_lock(&c->accept_mu);
	if (!atomic_load(&c->stopping)) {
		pthread_mutex_lock(&c->acceptor_mu);
		c->acceptor = pthread_self();
		c->in_accept = 1;
		pthread_mutex_unlock(&c->acceptor_mu);
		rc = FCGX_Accept_r(r);
		pthread_mutex_lock(&c->acceptor_mu);
		c->in_accept = 0;
		pthread_mutex_unlock(&c->acceptor_mu);
	}
	pthread_mutex_unlock(&c->accept_mu);
	return rc;
}

static void *
sse_worker(void *arg)
{
	struct sse_ctx *c = arg;
	FCGX_Request r;

	/* FCGI_FAIL_ACCEPT_ON_INTR: accept() interrupted by SSE_SIG_WAKE
	 * returns, which is how the drain stops the thread waiting in it. */
	if (FCGX_InitRequest(&r, FCGI_LISTENSOCK_FILENO, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		sse_worker_done(c);
		return NULL;
	}
	while (!atomic_load(&c->stopping)) {
		if (sse_accept(c, &r) < 0) {
			if (!atomic_load(&c->stopping)) {
				/* EMFILE and the like: wait a little, try again. */
				log_msg(LOG_WARN, "msg=\"accept failed\" error=\"%s\"",
					strerror(errno));
				poll(NULL, 0, 100);
			}
			continue;
		}
		sse_busy(c, 1);
		/* ipcFd is below libfcgi's "don't use" line, but it is the only
		 * handle on the connection; we only poll, shutdown and set a
		 * timeout on it, never read, write or close it. */
		sse_serve(c, r.envp, r.in, r.out, r.ipcFd);
		FCGX_Finish_r(&r);
		sse_busy(c, -1);
	}
	FCGX_Free(&r, 1);
	sse_worker_done(c);
	return NULL;
}

/* Plain CGI: the one request on stdin/stdout, then tell main we are done. */
static void *
sse_cgi_worker(void *arg)
{
	struct sse_ctx *c = arg;

	sse_busy(c, 1);
	sse_serve(c, NULL, NULL, NULL, STDOUT_FILENO);
	fflush(stdout);
	sse_busy(c, -1);
	sse_worker_done(c);
	pthread_kill(c->main_thread, SIGUSR2);
	return NULL;
}

static void
sse_dispatch(struct sse_ctx *c, struct bus_msg *m)
{
	char *data = m->data;
	int rc;

	m->data = NULL;
	if (memchr(data, '\0', m->len) != NULL) {
		log_msg(LOG_WARN, "msg=\"bus message with a NUL byte dropped\"");
		free(data);
		return;
	}
	rc = sse_hub_deliver(c->hub, m->session_id, data, m->len);
	if (rc == SSE_NO_STREAM)
		log_msg(LOG_INFO, "msg=\"message for a stream that has ended; dropped\"");
	else if (rc == SSE_OVERFLOW)
		log_msg(LOG_WARN, "msg=\"stream queue full; ending the stream\"");
}

/* The one bus reader: wakes on a datagram (or the stop eventfd). */
static void *
sse_receiver(void *arg)
{
	struct sse_ctx *c = arg;
	struct pollfd p[2] = {{.fd = bus_listener_fd(c->bus), .events = POLLIN},
			      {.fd = c->stop_fd, .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			break;
		/* A bounded batch, then look at the stop fd again. */
		for (int i = 0; i < 256; i++) {
			struct bus_msg m;
			int rc = bus_recv(c->bus, &m, 0);

			if (rc == BUS_AGAIN)
				break;
			if (rc == BUS_OK)
				sse_dispatch(c, &m);
			else
				log_msg(LOG_WARN, "msg=\"malformed bus datagram dropped\"");
			bus_msg_free(&m);
		}
	}
	return NULL;
}

static int
sse_spawn(struct sse_ctx *c, void *(*fn)(void *), unsigned n)
{
	pthread_attr_t at;
	int rc = 0;

	c->threads = calloc(n, sizeof(*c->threads));
	if (c->threads == NULL)
		return -1;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, SSE_STACK);
	for (c->nthreads = 0; c->nthreads < n; c->nthreads++) {
		pthread_mutex_lock(&c->live_mu);
		c->live++;
		pthread_mutex_unlock(&c->live_mu);
		if (pthread_create(&c->threads[c->nthreads], &at, fn, c) != 0) {
			sse_worker_done(c);
			log_msg(LOG_ERROR, "msg=\"cannot create thread\" created=%u wanted=%u",
				c->nthreads, n);
			rc = c->nthreads > SSE_RESERVE ? 0 : -1;
			break;
		}
	}
	pthread_attr_destroy(&at);
	/* Fewer threads than wanted: fewer streams, still 503s beyond them. */
	if (c->nthreads < n && c->nthreads > SSE_RESERVE)
		c->max_streams = c->nthreads - SSE_RESERVE;
	return rc;
}

/* ---- start and stop ---- */

/* Everything a stream needs besides the worker threads. */
static int
sse_start(struct sse_ctx *c)
{
	const struct config *cfg = &c->app.cfg;
	char err[512];

	snprintf(c->sse_path, sizeof(c->sse_path), "%s/mcp/sse", cfg->public_path);
	snprintf(c->message_path, sizeof(c->message_path), "%s/mcp/message", cfg->public_path);
	c->bus = bus_listen(cfg->runtime_dir, 0600, err, sizeof(err));
	if (c->bus == NULL) {
		log_msg(LOG_ERROR, "msg=\"cannot open the message socket\" error=\"%s\"", err);
		return -1;
	}
	c->hub = sse_hub_new(NULL);
	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c->hub == NULL || c->stop_fd < 0 ||
	    pthread_create(&c->receiver, NULL, sse_receiver, c) != 0) {
		log_msg(LOG_ERROR, "msg=\"cannot start the message receiver\"");
		return -1;
	}
	c->have_receiver = 1;
	return 0;
}

/* Wait until *count (under live_mu) is 0 or timeout_ms passed; returns it. */
static unsigned
sse_wait_zero(struct sse_ctx *c, const unsigned *count, unsigned timeout_ms)
{
	struct timespec dl;
	unsigned n;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_nsec += (long)timeout_ms * 1000000L;
	dl.tv_sec += dl.tv_nsec / 1000000000L;
	dl.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&c->live_mu);
	while (*count > 0 && pthread_cond_timedwait(&c->live_cv, &c->live_mu, &dl) != ETIMEDOUT)
		;
	n = *count;
	pthread_mutex_unlock(&c->live_mu);
	return n;
}

/* Interrupt the worker waiting in accept().  The listening socket itself is
 * left alone: it may be shared with the process that respawns us
 * (mcpgate-backends, spawn-fcgi), and shutting it down would break our
 * successor.  A signal that lands just before accept() is missed, so the
 * caller repeats this until the workers are gone. */
static void
sse_kick_acceptor(struct sse_ctx *c)
{
	pthread_mutex_lock(&c->acceptor_mu);
	if (c->in_accept)
		pthread_kill(c->acceptor, SSE_SIG_WAKE);
	pthread_mutex_unlock(&c->acceptor_mu);
}

/* Wait up to timeout_ms for every worker thread to end; 0 when they have. */
static unsigned
sse_wait_workers(struct sse_ctx *c, unsigned timeout_ms)
{
	unsigned left = 1;

	for (unsigned waited = 0; waited < timeout_ms; waited += 5) {
		if (!c->cgi)
			sse_kick_acceptor(c);
		left = sse_wait_zero(c, &c->live, 5);
		if (left == 0)
			break;
	}
	return left;
}

/* Stop accepting, end every stream, remove their sessions and our socket.
 * Returns the number of requests that did not finish in time. */
static unsigned
sse_drain(struct sse_ctx *c)
{
	unsigned left;

	atomic_store(&c->stopping, 1);
	sse_kick_acceptor(c);
	if (c->hub != NULL)
		sse_hub_stop(c->hub);
	left = sse_wait_zero(c, &c->busy, SSE_DRAIN_MS);
	if (left > 0 && c->hub != NULL) {
		/* Streams stuck writing to clients that do not read. */
		sse_hub_abort(c->hub);
		left = sse_wait_zero(c, &c->busy, SSE_ABORT_MS);
	}
	sse_doomed_flush(c);
	if (c->have_receiver) {
		uint64_t one = 1;

		(void)!write(c->stop_fd, &one, sizeof(one));
		pthread_join(c->receiver, NULL);
		c->have_receiver = 0;
	}
	bus_listener_close(c->bus);
	c->bus = NULL;
	return left;
}

static void
sse_free(struct sse_ctx *c)
{
	for (unsigned i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	free(c->threads);
	sse_hub_free(c->hub);
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	app_fini(&c->app);
	pthread_cond_destroy(&c->live_cv);
	pthread_mutex_destroy(&c->live_mu);
	pthread_mutex_destroy(&c->accept_mu);
	pthread_mutex_destroy(&c->acceptor_mu);
	pthread_mutex_destroy(&c->store_mu);
	pthread_mutex_destroy(&c->doomed_mu);
	free(c->doomed);
	free(c);
}

/* Every stream holds two descriptors (its connection and its wake eventfd).
 * Raise the soft limit as far as allowed, then fit the stream count into
 * it: past the limit accept() would fail with EMFILE and new clients would
 * wait unseen in the listen backlog instead of getting a 503. */
static void
sse_fit_nofile(struct sse_ctx *c)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	room = rl.rlim_cur > SSE_FD_SPARE ? (rl.rlim_cur - SSE_FD_SPARE) / 2 : 1;
	if (room < c->max_streams) {
		log_msg(LOG_WARN, "msg=\"open file limit allows fewer streams\" nofile=%llu streams=%llu",
			(unsigned long long)rl.rlim_cur, (unsigned long long)room);
		c->max_streams = (unsigned)room;
	}
}

static const struct app_def sse_app = {
	.name = "sse",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
};

static struct sse_ctx *
sse_ctx_new(void)
{
	struct sse_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->stop_fd = -1;
	c->main_thread = pthread_self();
	pthread_mutex_init(&c->accept_mu, NULL);
	pthread_mutex_init(&c->acceptor_mu, NULL);
	pthread_mutex_init(&c->store_mu, NULL);
	pthread_mutex_init(&c->doomed_mu, NULL);
	pthread_mutex_init(&c->live_mu, NULL);
	pthread_cond_init(&c->live_cv, NULL);
	c->max_streams = SSE_STREAMS_DEFAULT;
	c->ping_ms = SSE_PING_MS_DEFAULT;
	return c;
}

static void
sse_on_wake(int sig)
{
	(void)sig; /* only here to interrupt accept() */
}

static void
sse_signals(sigset_t *set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* No SA_RESTART: the point is the EINTR. */
	sa.sa_handler = sse_on_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(SSE_SIG_WAKE, &sa, NULL);
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGPIPE);
	/* Inherited by every thread created from here on. */
	pthread_sigmask(SIG_BLOCK, set, NULL);
	sigdelset(set, SIGPIPE);
}

int
main(void)
{
	struct sse_ctx *c;
	sigset_t set;
	unsigned left;
	int sig = 0;

	sse_signals(&set);
	c = sse_ctx_new();
	if (c == NULL)
		return 1;
	c->cgi = FCGX_IsCGI();
	if (app_init(&c->app, &sse_app) == 0) {
		c->max_streams = (unsigned)c->app.cfg.sse_max_streams;
		c->ping_ms = c->app.cfg.sse_ping_ms;
	}
	if (c->cgi)
		c->max_streams = 1; /* one process per stream */
	c->doomed_cap = c->max_streams;
	c->doomed = calloc(c->doomed_cap, sizeof(c->doomed[0]));
	if (c->doomed == NULL)
		return 1;
	if (!c->app.broken) {
		sse_fit_nofile(c); /* logs under the program's name */
		if (sse_start(c) != 0) {
			c->app.broken = 1;
			snprintf(c->app.broken_why, sizeof(c->app.broken_why), "message socket");
		}
	}
	if (c->cgi) {
		if (sse_spawn(c, sse_cgi_worker, 1) != 0)
			return 1;
	} else if (FCGX_Init() != 0 ||
		   sse_spawn(c, sse_worker,
			     c->app.broken ? SSE_RESERVE : c->max_streams + SSE_RESERVE) != 0) {
		log_msg(LOG_ERROR, "msg=\"cannot start FastCGI workers\"");
		return 1;
	}
	log_msg(LOG_INFO, "msg=\"ready\" threads=%u streams=%u socket=%s", c->nthreads,
		c->max_streams, c->bus != NULL ? bus_listener_path(c->bus) : "-");
	while (sigwait(&set, &sig) != 0)
		;
	if (sig != SIGUSR2)
		log_msg(LOG_INFO, "msg=\"stopping\" signal=%d streams=%zu", sig,
			c->hub != NULL ? sse_hub_count(c->hub) : (size_t)0);
	left = sse_drain(c);
	if (left > 0)
		log_msg(LOG_WARN, "msg=\"exiting with unfinished requests\" requests=%u", left);
	/* Idle workers leave accept() one by one through the mutex; under a
	 * sanitizer a thousand of them take longer than a shutdown should.
	 * Everything that matters is done: exit without them if need be. */
	if (left > 0 || sse_wait_workers(c, SSE_ABORT_MS) > 0) {
		log_msg(LOG_INFO, "msg=\"stopped\" idle_threads_left=yes");
		fflush(stderr);
		_exit(0);
	}
	sse_free(c);
	log_msg(LOG_INFO, "msg=\"stopped\"");
	return 0;
}
