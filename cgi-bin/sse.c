/*
 * sse: GET /mcp/sse, the legacy HTTP+SSE transport (MCP 2024-11-05).
 *
 * The client opens a stream here; the first event names the URL to POST its
 * messages to (POST /mcp/message?sessionId=..., program message), and every
 * response arrives as a `message` event on this stream.  The message
 * program finds the session in the store, and with it this process's bus
 * socket (bus.h); the loop here hands each message to its stream (sse.h)
 * and writes it out at once.
 *
 * One process holds every stream, so a session lives in a single known
 * process (lighttpd/Apache start exactly one).  It is one thread around one
 * epoll loop, watching:
 *   - the FastCGI listening socket (fd 0) and every accepted connection.
 *     libfcgi can neither multiplex nor write without blocking, so the
 *     records are read and written here (fcgirec.h);
 *   - the bus socket: a message is queued on its stream and written;
 *   - a signalfd: SIGTERM/SIGINT/SIGHUP/SIGUSR1 stop accepting, write what
 *     is queued, end every stream, remove the sessions in one store
 *     transaction and the bus socket, and exit, within a second;
 *   - a timerfd tick: keep-alive comments every sse_ping_ms (with a check
 *     that the grant was not revoked), token expiry, and a write timeout for
 *     clients that accept nothing.
 * A stream costs its connection, a few hundred bytes of state and whatever
 * output the client has not taken yet: no thread, no extra descriptor.
 * Writes never block; a socket that is full is waited for (EPOLLOUT), and
 * while it is, messages wait in the stream's bounded queue.  When the web
 * server closes the connection (its client left) the stream ends at once.
 * A request beyond sse_max_streams is answered 503 at once.
 *
 * As plain CGI (shared hosting) the same loop serves the one stream, with
 * the response written raw (no FastCGI records) to stdout, and its own bus
 * socket.
 *
 * Settings (config file): sse_max_streams (streams per process, default 1000)
 * and sse_ping_ms (keep-alive comment interval, default 10000, at most 15000).
 */
#include <errno.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "bearer.h"
#include "bus.h"
#include "fcgirec.h"
#include "log.h"
#include "session.h"
#include "sse.h"

#define SSE_STREAMS_DEFAULT 1000
/* Keep-alive comments (at most 15 s apart, per the issue), which also
 * re-check the grant: a revoked grant ends its stream at the next one. */
#define SSE_PING_MS_DEFAULT 10000
#define SSE_TICK_MS 250          /* the timer: pings, expiry, timeouts */
#define SSE_WRITE_TIMEOUT_MS 30000 /* a client that accepts nothing this long is gone */
#define SSE_REQUEST_TIMEOUT_MS 30000 /* a connection that sends no complete request */
#define SSE_LINGER_MS 2000       /* at most this for the server to finish sending */
#define SSE_DRAIN_MS 600         /* on SIGTERM: time for queued output to drain */
#define SSE_FD_SPARE 64          /* descriptors besides the streams' (store, bus, logs) */
#define SSE_READ_CHUNK 16384
#define SSE_ACCEPT_BATCH 64
#define SSE_BUS_BATCH 256
#define SSE_EVENTS 256
#define SSE_SCRATCH_KEEP (256 * 1024) /* scratch buffers larger than this are freed after use */

enum sse_state {
	SSE_READING = 0, /* waiting for a complete request */
	SSE_STREAMING,   /* the stream is open */
	SSE_CLOSING,     /* the response is complete: close once written */
	SSE_LINGER       /* written and our side shut: read to EOF, then close */
};

struct sse_ctx;

/* One connection from the web server (or stdout in CGI), and its stream. */
struct sse_conn {
	struct sse_conn *prev, *next; /* every connection, for the tick */
	struct sse_conn *due;         /* tick: streams whose keep-alive is due */
	struct sse_ctx *c;
	int fd;                 /* read and polled: the connection; CGI: -1 */
	int out_fd;             /* written: the connection; CGI: stdout */
	int polled;             /* out_fd is in the epoll set */
	unsigned events;        /* as registered */
	int raw;                /* CGI: the response as is, no FastCGI records */
	int dead;               /* closed; freed at the end of the loop turn */
	int revoked;            /* tick: the grant check found it gone */
	enum sse_state state;
	struct fcgirec rd;
	struct sse_stream *st;
	char *out;              /* bytes still to write, allocated to fit */
	size_t out_off, out_len;
	long long since;        /* ms: connection accepted, or output last moved */
	long long ping_at, exp_at;
	char rid[17];           /* request id, for the log */
	char session_id[SESSION_ID_LEN + 1];
	char grant_id[TOKEN_GRANT_ID_LEN + 1];
};

/* A stream that ended: its session is removed with the others of the same
 * loop turn (or of the shutdown) in one store transaction. */
struct sse_doomed {
	char id[SESSION_ID_LEN + 1];
	char rid[17];
	const char *why;
};

/* The per-process context: the only mutable state the program keeps. */
struct sse_ctx {
	struct app app;
	int cgi;
	int ep;                  /* epoll */
	int listen_fd;           /* FastCGI: 0; CGI: -1 */
	int listening;           /* listen_fd is in the epoll set */
	int sig_fd, tick_fd;
	struct bus_listener *bus;
	struct sse_hub *hub;
	struct sse_conn *conns;  /* every live connection */
	struct sse_conn *grave;  /* closed this loop turn, freed at its end */
	size_t nconns;
	unsigned max_streams;
	unsigned active;         /* streams open */
	long ping_ms;
	int stopping;
	long long drain_until;
	int cut;                 /* connections cut at the drain deadline */
	int quiet;               /* quiet ticks still to see before app_idle */
	struct sse_doomed *doomed;
	size_t ndoomed, doomed_cap;
	struct http_resp *resp;  /* 64 KiB of header space: one, reused */
	struct buf ev, frame;    /* scratch: an event, and its records */
	unsigned char rbuf[SSE_READ_CHUNK];
	char tag_listen, tag_bus, tag_sig, tag_tick; /* epoll identities */
	char sse_path[CONFIG_STR_MAX + 16];      /* public_path + "/mcp/sse" */
	char message_path[CONFIG_STR_MAX + 16];  /* public_path + "/mcp/message" */
};

static void sse_end_stream(struct sse_conn *k, const char *why);

static long long
sse_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- epoll ---- */

static int
sse_ep_set(struct sse_ctx *c, int op, int fd, unsigned events, void *ptr)
{
	struct epoll_event e = {.events = events, .data.ptr = ptr};

	return epoll_ctl(c->ep, op, fd, &e);
}

/* Register the events a connection waits for now: input (FastCGI), and
 * room to write while output is pending. */
static void
sse_conn_watch(struct sse_conn *k)
{
	unsigned want = k->fd >= 0 ? EPOLLIN | EPOLLRDHUP : 0;

	if (k->out_len > k->out_off)
		want |= EPOLLOUT;
	if (!k->polled || want == k->events)
		return;
	if (sse_ep_set(k->c, EPOLL_CTL_MOD, k->out_fd, want, k) == 0)
		k->events = want;
}

/* ---- connections ---- */

static struct sse_conn *
sse_conn_new(struct sse_ctx *c, int fd, int out_fd, int raw)
{
	struct sse_conn *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	k->c = c;
	k->fd = fd;
	k->out_fd = out_fd;
	k->raw = raw;
	k->since = sse_now_ms();
	fcgirec_init(&k->rd);
	k->rd.max_conns = c->max_streams; /* FCGI_MAX_CONNS, if the server asks */
	k->events = fd >= 0 ? EPOLLIN | EPOLLRDHUP : 0;
	/* CGI's stdout may be a file, which epoll refuses: then writes simply
	 * block, which a file never does for long. */
	k->polled = sse_ep_set(c, EPOLL_CTL_ADD, out_fd, k->events, k) == 0;
	if (!k->polled && fd >= 0) {
		free(k);
		return NULL;
	}
	k->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = k;
	c->conns = k;
	c->nconns++;
	return k;
}

/* Close now; the memory goes at the end of the loop turn, since events for
 * k may still be waiting in this turn's batch. */
static void
sse_conn_close(struct sse_conn *k)
{
	struct sse_ctx *c = k->c;

	if (k->dead)
		return;
	if (k->st != NULL)
		sse_end_stream(k, "connection closed");
	k->dead = 1;
	if (k->polled)
		epoll_ctl(c->ep, EPOLL_CTL_DEL, k->out_fd, NULL);
	if (k->fd >= 0)
		close(k->fd);
	free(k->out);
	k->out = NULL;
	k->out_off = k->out_len = 0;
	/* The parser (and the request's parameters) go with the memory: a
	 * request being served may still look at them. */
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		c->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	c->nconns--;
	k->next = c->grave;
	c->grave = k;
}

static void
sse_bury(struct sse_ctx *c)
{
	while (c->grave != NULL) {
		struct sse_conn *k = c->grave;

		c->grave = k->next;
		fcgirec_free(&k->rd);
		free(k);
	}
}

/* ---- output ---- */

/* Keep n bytes that could not be written yet (p may point into k->out). */
static int
sse_keep(struct sse_conn *k, const char *p, size_t n)
{
	size_t pend = k->out_len - k->out_off;
	char *o = malloc(pend + n);

	if (o == NULL)
		return -1;
	if (pend > 0)
		memcpy(o, k->out + k->out_off, pend);
	memcpy(o + pend, p, n);
	free(k->out);
	k->out = o;
	k->out_off = 0;
	k->out_len = pend + n;
	return 0;
}

/* Write what the socket takes; *done gets the count.  -1: the peer is gone. */
static int
sse_write_some(struct sse_conn *k, const char *p, size_t n, size_t *done)
{
	*done = 0;
	while (*done < n) {
		ssize_t w = write(k->out_fd, p + *done, n - *done);

		if (w > 0) {
			*done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1; /* EPIPE, ECONNRESET, ... */
	}
	return 0;
}

/* Send bytes in order after anything pending.  -1: the peer is gone (the
 * caller ends the connection). */
static int
sse_send(struct sse_conn *k, const void *data, size_t n)
{
	size_t done = 0;

	if (k->dead)
		return -1;
	if (k->out_len > k->out_off)
		return sse_keep(k, data, n);
	if (sse_write_some(k, data, n, &done) != 0)
		return -1;
	if (done < n) {
		if (sse_keep(k, (const char *)data + done, n - done) != 0)
			return -1;
		k->since = sse_now_ms();
		sse_conn_watch(k);
	}
	return 0;
}

/* Response bytes: in FastCGI STDOUT records, or raw (CGI). */
static int
sse_send_body(struct sse_conn *k, const void *data, size_t n)
{
	struct buf *f = &k->c->frame;
	int rc;

	if (k->raw)
		return sse_send(k, data, n);
	buf_reset(f);
	if (fcgirec_stdout(f, fcgirec_request_id(&k->rd), data, n) != 0)
		return -1;
	rc = sse_send(k, f->data, f->len);
	if (f->cap > SSE_SCRATCH_KEEP) {
		buf_free(f);
		buf_init(f, 0);
	}
	return rc;
}

/* The response is written out: wait for the next request on the same
 * connection (FCGI_KEEP_CONN) or close it. */
static void
sse_closed_out(struct sse_conn *k)
{
	if (!k->raw && fcgirec_keep_conn(&k->rd) && !k->c->stopping) {
		fcgirec_end_request(&k->rd);
		k->state = SSE_READING;
		k->since = sse_now_ms();
	} else if (!k->raw && k->fd >= 0 && shutdown(k->fd, SHUT_WR) == 0) {
		/* An answer given as soon as the parameters are in (a 401, a 503)
		 * can be complete before the web server has sent the request's
		 * empty stdin record.  Closing now would make that write fail, and
		 * Apache's mod_proxy_fcgi then answers 503 in place of ours.  So
		 * shut our side only and close when the server closes its side
		 * (or after SSE_LINGER_MS), as libfcgi does. */
		k->state = SSE_LINGER;
		k->since = sse_now_ms();
	} else {
		sse_conn_close(k);
	}
}

/* The end of the response (once); then sse_closed_out when written. */
static void
sse_finish(struct sse_conn *k)
{
	struct buf *f = &k->c->frame;

	if (k->dead || k->state == SSE_CLOSING || k->state == SSE_LINGER)
		return;
	k->state = SSE_CLOSING;
	if (!k->raw) {
		buf_reset(f);
		if (fcgirec_end(f, fcgirec_request_id(&k->rd), 0) != 0 ||
		    sse_send(k, f->data, f->len) != 0) {
			sse_conn_close(k);
			return;
		}
	}
	if (k->out_len == k->out_off)
		sse_closed_out(k);
}

/* ---- sessions ---- */

/* Open a session for the stream (after checking the grant is live). */
static int
sse_session_open(struct sse_ctx *c, const char *grant_id, struct session *s)
{
	int rc = token_grant_live(c->app.store, grant_id);

	if (rc == STORE_OK)
		rc = session_create(c->app.store, s);
	return rc;
}

static int
sse_doomed_del(struct store_txn *tx, void *arg)
{
	struct sse_ctx *c = arg;

	for (size_t i = 0; i < c->ndoomed; i++) {
		int rc = store_txn_del(tx, STORE_MCPSESSION, c->doomed[i].id,
				       strlen(c->doomed[i].id));

		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_OK;
}

/* One write transaction for the sessions of every stream that ended since
 * the last one.  Sessions are keyed by their id in STORE_MCPSESSION
 * (session.h); these ids were made by this process, so no ownership check
 * is needed.  (NOTFOUND: one expired with its token a moment ago.) */
static void
sse_doomed_flush(struct sse_ctx *c)
{
	int rc;

	if (c->ndoomed == 0)
		return;
	rc = store_txn(c->app.store, 1, sse_doomed_del, c);
	if (c->stopping) {
		log_msg(rc == STORE_OK ? LOG_INFO : LOG_WARN,
			"msg=\"sessions of ended streams removed\" count=%zu result=%s", c->ndoomed,
			store_strerror(rc));
	} else {
		for (size_t i = 0; i < c->ndoomed; i++) {
			log_set_request_id(c->doomed[i].rid);
			log_msg(LOG_INFO, "msg=\"stream ended\" reason=\"%s\" session_removed=%s",
				c->doomed[i].why,
				rc == STORE_OK ? "yes" : rc == STORE_BUSY ? "busy (expires with the token)"
									 : store_strerror(rc));
		}
		log_set_request_id(NULL);
	}
	c->ndoomed = 0;
}

static void
sse_doom(struct sse_conn *k, const char *why)
{
	struct sse_ctx *c = k->c;

	if (c->ndoomed == c->doomed_cap) {
		size_t cap = c->doomed_cap ? 2 * c->doomed_cap : 64;
		struct sse_doomed *d = realloc(c->doomed, cap * sizeof(*d));

		if (d == NULL) {
			log_msg(LOG_WARN, "msg=\"stream ended\" reason=\"%s\" "
					  "session_removed=\"no (out of memory; expires with the token)\"",
				why);
			return;
		}
		c->doomed = d;
		c->doomed_cap = cap;
	}
	memcpy(c->doomed[c->ndoomed].id, k->session_id, sizeof(k->session_id));
	memcpy(c->doomed[c->ndoomed].rid, k->rid, sizeof(k->rid));
	c->doomed[c->ndoomed].why = why;
	c->ndoomed++;
	if (c->stopping) {
		log_set_request_id(k->rid);
		log_msg(LOG_INFO, "msg=\"stream ended\" reason=\"%s\" session_removed=at exit", why);
		log_set_request_id(NULL);
	}
}

/* Take k's stream out of the hub; its session goes with the next flush. */
static void
sse_end_stream(struct sse_conn *k, const char *why)
{
	struct sse_ctx *c = k->c;

	if (k->st == NULL)
		return;
	sse_stream_close(c->hub, k->st);
	k->st = NULL;
	c->active--;
	sse_doom(k, why);
	explicit_bzero(k->grant_id, sizeof(k->grant_id));
}

/* End k's stream.  writable: the connection can still take the end of the
 * response (else it is closed at once). */
static void
sse_end(struct sse_conn *k, const char *why, int writable)
{
	if (k->st == NULL)
		return;
	sse_end_stream(k, why);
	if (writable)
		sse_finish(k);
	else
		sse_conn_close(k);
}

/* ---- the stream ---- */

static int
sse_send_event(struct sse_conn *k, const char *event, const char *data, size_t len)
{
	struct buf *b = &k->c->ev;
	int rc;

	/* JSON text has no raw line breaks, so the event is data + framing;
	 * the cap still bounds a message that splits into many lines. */
	buf_free(b);
	buf_init(b, 2 * len + 64);
	if (sse_format_event(b, event, data, len) != 0) {
		log_msg(LOG_ERROR, "msg=\"message cannot be framed as an SSE event; dropped\" "
				   "bytes=%zu",
			len);
		rc = 0;
	} else {
		rc = sse_send_body(k, b->data, b->len);
	}
	if (b->cap > SSE_SCRATCH_KEEP) {
		buf_free(b);
		buf_init(b, 0);
	}
	return rc;
}

/* Write queued messages while the connection takes them; end the stream
 * when the hub says so. */
static void
sse_flush(struct sse_conn *k)
{
	enum sse_next r = SSE_NEXT_NONE;
	char *data;
	size_t len;

	while (k->st != NULL && !k->dead && k->out_len == k->out_off) {
		r = sse_stream_next(k->st, &data, &len);
		if (r != SSE_NEXT_MSG)
			break;
		if (sse_send_event(k, "message", data, len) != 0) {
			free(data);
			sse_end(k, "client gone", 0);
			return;
		}
		free(data);
	}
	if (k->st == NULL || k->out_len != k->out_off)
		return;
	if (r == SSE_NEXT_OVERFLOW)
		sse_end(k, "client too slow (queue full)", 0);
	else if (r == SSE_NEXT_STOP)
		sse_end(k, "shutting down", 1);
}

/* The socket took more: write the rest, then what is queued. */
static void
sse_on_writable(struct sse_conn *k)
{
	size_t done = 0, n = k->out_len - k->out_off;

	if (sse_write_some(k, k->out + k->out_off, n, &done) != 0) {
		if (k->st != NULL)
			sse_end(k, "client gone", 0);
		else
			sse_conn_close(k);
		return;
	}
	k->out_off += done;
	if (done > 0)
		k->since = sse_now_ms();
	if (k->out_off < k->out_len)
		return;
	free(k->out);
	k->out = NULL;
	k->out_off = k->out_len = 0;
	sse_conn_watch(k);
	if (k->state == SSE_STREAMING)
		sse_flush(k);
	else if (k->state == SSE_CLOSING)
		sse_closed_out(k);
}

/* CORS for browser-based clients, as on /mcp: only allowed origins (the
 * Origin check has already refused the others). */
static void
sse_cors(struct sse_ctx *c, const struct http_req *req, struct http_resp *resp)
{
	const char *origin = http_header(req, "Origin");

	http_resp_header(resp, "Vary", "Origin");
	if (origin == NULL || !config_origin_allowed(&c->app.cfg, origin))
		return;
	http_resp_header(resp, "Access-Control-Allow-Origin", "%s", origin);
	http_resp_header(resp, "Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After");
}

static void
sse_preflight(struct sse_ctx *c, const struct http_req *req, struct http_resp *resp)
{
	const char *origin = http_header(req, "Origin");

	if (origin != NULL && !config_origin_allowed(&c->app.cfg, origin)) {
		bearer_error(resp, &c->app.cfg, BEARER_ORIGIN);
		return;
	}
	resp->status = 204;
	http_resp_header(resp, "Access-Control-Allow-Methods", "GET, OPTIONS");
	http_resp_header(resp, "Access-Control-Allow-Headers",
			 "Authorization, Accept, Last-Event-ID, MCP-Protocol-Version");
	http_resp_header(resp, "Access-Control-Max-Age", "86400");
}

static void
sse_unavailable(struct http_resp *resp, const char *retry)
{
	http_error_oauth(resp, 503, "temporarily_unavailable",
			 "no room for another stream right now; retry shortly");
	http_resp_header(resp, "Retry-After", "%s", retry);
}

/* Headers and the endpoint event (MCP 2024-11-05 HTTP+SSE transport): a
 * path relative to the host, which clients resolve against the SSE URL, so
 * it works whatever host name the client used.  One write for both. */
static int
sse_start_stream(struct sse_conn *k, struct http_req *req, struct http_resp *resp)
{
	struct sse_ctx *c = k->c;
	char ep[sizeof(c->message_path) + SESSION_ID_LEN + 16];
	struct buf *b = &c->ev;
	int n, rc = -1;

	http_resp_header(resp, "Content-Type", "text/event-stream");
	http_resp_header(resp, "Cache-Control", "no-cache");
	/* nginx in front would otherwise buffer the stream. */
	http_resp_header(resp, "X-Accel-Buffering", "no");
	sse_cors(c, req, resp);
	resp->status = 200;
	n = snprintf(ep, sizeof(ep), "%s?sessionId=%s", c->message_path, k->session_id);
	buf_free(b);
	buf_init(b, 0);
	if (n >= 0 && (size_t)n < sizeof(ep) && http_render_headers(req, resp, b) == 0 &&
	    sse_format_event(b, "endpoint", ep, (size_t)n) == 0)
		rc = sse_send_body(k, b->data, b->len);
	buf_free(b);
	buf_init(b, 0);
	return rc;
}

/* The stream: a session, a place in the hub, the head and first event. */
static void
sse_open(struct sse_conn *k, struct http_req *req, struct http_resp *resp,
	 const struct token_access *acc)
{
	struct sse_ctx *c = k->c;
	struct session s;
	long long now = sse_now_ms();
	int rc;

	memset(&s, 0, sizeof(s));
	s.kind = SESSION_LEGACY_SSE;
	s.exp = acc->exp;
	snprintf(s.user, sizeof(s.user), "%s", acc->user);
	snprintf(s.sock, sizeof(s.sock), "%s", bus_listener_path(c->bus));
	rc = sse_session_open(c, acc->grant_id, &s);
	if (rc == STORE_NOTFOUND) {
		bearer_error(resp, &c->app.cfg, BEARER_INVALID); /* revoked */
		return;
	}
	if (rc != STORE_OK) {
		http_error_store(resp, rc, 0);
		return;
	}
	memcpy(k->session_id, s.id, sizeof(k->session_id));
	memcpy(k->grant_id, acc->grant_id, sizeof(k->grant_id));
	/* Registered before the client learns the id: nothing sent for the
	 * session can arrive before its stream exists. */
	k->st = sse_stream_open(c->hub, s.id, k);
	if (k->st == NULL) { /* stopping, or out of memory */
		session_delete(c->app.store, s.id, s.user);
		sse_unavailable(resp, "1");
		return;
	}
	c->active++;
	k->state = SSE_STREAMING;
	k->ping_at = now + c->ping_ms;
	k->exp_at = now + ((long long)acc->exp - (long long)time(NULL)) * 1000;
	if (sse_start_stream(k, req, resp) != 0)
		sse_end(k, "client gone", 0);
}

/* validate -> authorise -> act.  Leaves resp to send unless the stream opened. */
static void
sse_handle(struct sse_conn *k, struct http_req *req, struct http_resp *resp)
{
	struct sse_ctx *c = k->c;
	struct token_access acc;
	int rc;

	if (strcmp(req->path, c->sse_path) != 0) {
		http_error_oauth(resp, 404, "not_found", "no such endpoint");
		return;
	}
	if (strcmp(req->method, "OPTIONS") == 0) {
		sse_preflight(c, req, resp);
		return;
	}
	if (strcmp(req->method, "GET") != 0) {
		http_error_method(resp, "GET, OPTIONS", 0);
		return;
	}
	/* The grant's liveness is checked with the session's creation. */
	rc = bearer_check(&c->app.cfg, &c->app.keys, c->app.store, req, 0, &acc);
	if (rc != BEARER_OK) {
		bearer_error(resp, &c->app.cfg, rc);
		return;
	}
	if (c->stopping || c->active >= c->max_streams)
		sse_unavailable(resp, "5");
	else
		sse_open(k, req, resp, &acc);
	explicit_bzero(&acc, sizeof(acc));
}

/* One complete request: env is its parameters (NULL for CGI: environ). */
static void
sse_serve(struct sse_conn *k, char **env)
{
	struct sse_ctx *c = k->c;
	struct http_resp *resp = c->resp;
	struct http_req req;
	long long t0 = sse_now_ms();
	char qpath[160];
	int status;

	http_req_init(&req, env, NULL, NULL);
	memcpy(k->rid, req.id, sizeof(k->rid));
	log_set_request_id(req.id);
	http_resp_init(resp);
	if (c->app.broken)
		http_error_html(resp, 500, "Service unavailable",
				"This server is not configured correctly. The administrator "
				"can find the reason in the server's error log.");
	else
		sse_handle(k, &req, resp);
	status = resp->status;
	buf_free(&c->ev);
	buf_init(&c->ev, 0);
	if (!req.headers_sent) {
		if (!c->app.broken)
			sse_cors(c, &req, resp);
		status = http_render(&req, resp, &c->ev) == 0 ? resp->status : 500;
	}
	/* Logged before anything is sent: finishing the response may end the
	 * request, and with it the parameters req points into. */
	log_msg(LOG_INFO, "method=%s path=%s status=%d ms=%lld",
		req.method[0] != '\0' ? req.method : "-", log_quote(qpath, sizeof(qpath), req.path),
		status, sse_now_ms() - t0);
	http_resp_free(resp);
	http_req_free(&req);
	if (k->state == SSE_READING && !k->dead) {
		if (c->ev.len > 0 && sse_send_body(k, c->ev.data, c->ev.len) != 0)
			sse_conn_close(k);
		else
			sse_finish(k);
	}
	buf_free(&c->ev);
	buf_init(&c->ev, 0);
	if (!k->dead && !k->raw)
		fcgirec_drop_env(&k->rd); /* a stream may last hours */
	log_set_request_id(NULL);
}

/* ---- reading FastCGI records ---- */

/* Act on one parser event; 0 to go on, -1 when k was closed. */
static int
sse_on_record(struct sse_conn *k, struct fcgirec_ev *ev)
{
	switch (ev->type) {
	case FCGIREC_PARAMS:
		if (k->state == SSE_READING)
			sse_serve(k, fcgirec_env(&k->rd));
		break;
	case FCGIREC_REPLY:
		if (sse_send(k, ev->reply, ev->reply_len) != 0)
			sse_conn_close(k);
		break;
	case FCGIREC_ABORT:
		/* The web server's client went away (FCGI_ABORT_REQUEST, §5.4). */
		if (k->st != NULL)
			sse_end(k, "client gone", 1);
		else
			sse_finish(k);
		break;
	case FCGIREC_ERROR:
		log_msg(LOG_WARN, "msg=\"FastCGI protocol error; connection closed\" error=\"%s\"",
			ev->error);
		sse_conn_close(k);
		break;
	default:
		break; /* standard input: a GET has none; anything sent is ignored */
	}
	return k->dead ? -1 : 0;
}

static void
sse_on_readable(struct sse_conn *k)
{
	struct sse_ctx *c = k->c;
	ssize_t n;

	for (int round = 0; round < 4 && !k->dead; round++) {
		size_t off = 0;

		n = read(k->fd, c->rbuf, sizeof(c->rbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n > 0 && k->state == SSE_LINGER)
			continue; /* the rest of a request already answered */
		if (n <= 0) {
			/* The web server closed the connection: its client left. */
			if (k->st != NULL)
				sse_end(k, "client gone", 0);
			else
				sse_conn_close(k);
			return;
		}
		while (off < (size_t)n && !k->dead) {
			struct fcgirec_ev ev;
			size_t used;

			if (fcgirec_feed(&k->rd, c->rbuf + off, (size_t)n - off, &used, &ev) ==
			    FCGIREC_NONE) {
				off = (size_t)n;
				break;
			}
			off += used;
			if (sse_on_record(k, &ev) != 0)
				return;
		}
	}
}

static void
sse_on_conn(struct sse_conn *k, unsigned events)
{
	if (k->dead)
		return;
	if (events & EPOLLOUT)
		sse_on_writable(k);
	if (k->dead)
		return;
	if (k->fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		sse_on_readable(k);
		/* Peer shut its side: read what it sent (an abort, say), then
		 * treat it as gone even if read() did not say EOF yet. */
		if (!k->dead && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
			if (k->st != NULL)
				sse_end(k, "client gone", 0);
			else
				sse_conn_close(k);
		}
		return;
	}
	/* CGI stdout: only a full hang-up counts (the server may shut the
	 * read side of a shared socket once the request is sent). */
	if (events & (EPOLLHUP | EPOLLERR)) {
		if (k->st != NULL)
			sse_end(k, "client gone", 0);
		else
			sse_conn_close(k);
	}
}

static void
sse_accept(struct sse_ctx *c)
{
	for (int i = 0; i < SSE_ACCEPT_BATCH; i++) {
		/* The listening socket is blocking and shared with whoever
		 * respawns us: never make it non-blocking, look first. */
		struct pollfd p = {.fd = c->listen_fd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
			return;
		fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EMFILE and the like: stop listening until the next tick. */
			log_msg(LOG_WARN, "msg=\"accept failed\" error=\"%s\"", strerror(errno));
			if (epoll_ctl(c->ep, EPOLL_CTL_DEL, c->listen_fd, NULL) == 0)
				c->listening = 0;
			return;
		}
		if (sse_conn_new(c, fd, fd, 0) == NULL) {
			log_msg(LOG_WARN, "msg=\"cannot take a connection\"");
			close(fd);
		}
	}
}

/* ---- the bus ---- */

static void
sse_dispatch(struct sse_ctx *c, struct bus_msg *m)
{
	struct sse_stream *st;
	char *data = m->data;
	int rc;

	m->data = NULL;
	if (memchr(data, '\0', m->len) != NULL) {
		log_msg(LOG_WARN, "msg=\"bus message with a NUL byte dropped\"");
		free(data);
		return;
	}
	rc = sse_hub_deliver(c->hub, m->session_id, data, m->len, &st);
	if (rc == SSE_NO_STREAM) {
		log_msg(LOG_INFO, "msg=\"message for a stream that has ended; dropped\"");
	} else if (rc == SSE_OVERFLOW) {
		/* Its output is stuck: nothing more can be written to it. */
		log_msg(LOG_WARN, "msg=\"stream queue full; ending the stream\"");
		sse_end(sse_stream_owner(st), "client too slow (queue full)", 0);
	} else {
		sse_flush(sse_stream_owner(st));
	}
}

static void
sse_on_bus(struct sse_ctx *c)
{
	for (int i = 0; i < SSE_BUS_BATCH; i++) {
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

/* ---- the tick ---- */

static int
sse_grants_check(struct store_txn *tx, void *arg)
{
	for (struct sse_conn *k = arg; k != NULL; k = k->due)
		k->revoked = token_grant_live_tx(tx, k->grant_id) == STORE_NOTFOUND;
	return STORE_OK;
}

/* Keep-alive comments for the streams in the due list, after one store
 * read for all their grants. */
static void
sse_pings(struct sse_ctx *c, struct sse_conn *due)
{
	static const char ping[] = ": ping\n\n";

	if (due == NULL)
		return;
	/* A busy store is no reason to end a stream: check again next time. */
	if (store_txn(c->app.store, 0, sse_grants_check, due) != STORE_OK)
		for (struct sse_conn *k = due; k != NULL; k = k->due)
			k->revoked = 0;
	c->quiet = 2; /* the read kept a store handle: let it go when all is quiet */
	while (due != NULL) {
		struct sse_conn *k = due;

		due = k->due;
		k->due = NULL;
		if (k->dead || k->st == NULL)
			continue;
		if (k->revoked)
			sse_end(k, "grant revoked", 1);
		else if (k->out_len == k->out_off && sse_send_body(k, ping, sizeof(ping) - 1) != 0)
			sse_end(k, "client gone", 0);
	}
}

/* Timeouts of one connection; adds a stream whose keep-alive is due to *due. */
static void
sse_tick_one(struct sse_conn *k, long long now, struct sse_conn **due)
{
	int pending = k->out_len > k->out_off;

	if (pending && now - k->since >= SSE_WRITE_TIMEOUT_MS) {
		if (k->st != NULL)
			sse_end(k, "client not reading (write timeout)", 0);
		else
			sse_conn_close(k);
		return;
	}
	if (k->state == SSE_LINGER && now - k->since >= SSE_LINGER_MS) {
		sse_conn_close(k);
		return;
	}
	if (k->state == SSE_READING && k->fd >= 0 && now - k->since >= SSE_REQUEST_TIMEOUT_MS) {
		sse_conn_close(k);
		return;
	}
	if (k->st == NULL)
		return;
	if (now >= k->exp_at) {
		sse_end(k, "token expired", 1);
		return;
	}
	if (now >= k->ping_at) {
		k->ping_at = now + k->c->ping_ms;
		k->due = *due;
		*due = k;
	}
}

static void
sse_on_tick(struct sse_ctx *c)
{
	uint64_t ticks;
	long long now = sse_now_ms();
	struct sse_conn *k, *next, *due = NULL;

	(void)!read(c->tick_fd, &ticks, sizeof(ticks));
	for (k = c->conns; k != NULL; k = next) {
		next = k->next; /* k may be closed (unlinked) here */
		sse_tick_one(k, now, &due);
	}
	sse_pings(c, due);
	if (!c->listening && !c->stopping && c->listen_fd >= 0 &&
	    sse_ep_set(c, EPOLL_CTL_ADD, c->listen_fd, EPOLLIN, &c->tag_listen) == 0)
		c->listening = 1;
}

/* ---- stop ---- */

static void
sse_stop_one(struct sse_stream *st, void *arg)
{
	(void)arg;
	sse_flush(sse_stream_owner(st));
}

/* Stop accepting; every stream writes what is queued, then ends. */
static void
sse_begin_drain(struct sse_ctx *c, int sig)
{
	struct sse_conn *k, *next;

	log_msg(LOG_INFO, "msg=\"stopping\" signal=%d streams=%u", sig, c->active);
	c->stopping = 1;
	c->drain_until = sse_now_ms() + SSE_DRAIN_MS;
	/* The listening socket itself is left open: it may be shared with
	 * the process that respawns us (mcpgate-backends, spawn-fcgi). */
	if (c->listening && epoll_ctl(c->ep, EPOLL_CTL_DEL, c->listen_fd, NULL) == 0)
		c->listening = 0;
	sse_hub_stop(c->hub);
	sse_hub_each(c->hub, sse_stop_one, NULL);
	for (k = c->conns; k != NULL; k = next) {
		next = k->next;
		if (k->state == SSE_READING && k->fd >= 0)
			sse_conn_close(k);
	}
}

static void
sse_on_signal(struct sse_ctx *c)
{
	struct signalfd_siginfo si;

	if (read(c->sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (!c->stopping)
		sse_begin_drain(c, (int)si.ssi_signo);
}

/* Past the drain deadline: cut what is left. */
static void
sse_cut_all(struct sse_ctx *c)
{
	while (c->conns != NULL) {
		c->cut++;
		if (c->conns->st != NULL)
			sse_end(c->conns, "shutting down (output cut)", 0);
		else
			sse_conn_close(c->conns);
	}
}

/* ---- the loop ---- */

static void
sse_dispatch_event(struct sse_ctx *c, const struct epoll_event *e)
{
	void *p = e->data.ptr;

	if (p == &c->tag_listen)
		sse_accept(c);
	else if (p == &c->tag_bus)
		sse_on_bus(c);
	else if (p == &c->tag_sig)
		sse_on_signal(c);
	else if (p == &c->tag_tick)
		sse_on_tick(c);
	else
		sse_on_conn(p, e->events);
}

/* Run until stopped and drained (FastCGI), or until the one stream ends (CGI). */
static void
sse_loop(struct sse_ctx *c)
{
	struct epoll_event evs[SSE_EVENTS];

	for (;;) {
		int timeout = -1, n;

		if (c->stopping) {
			long long left = c->drain_until - sse_now_ms();

			if (c->nconns == 0)
				break;
			if (left <= 0) {
				sse_cut_all(c);
				break;
			}
			timeout = (int)left;
		} else if (c->cgi && c->nconns == 0) {
			break;
		}
		n = epoll_wait(c->ep, evs, SSE_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			log_msg(LOG_ERROR, "msg=\"epoll_wait failed\" error=\"%s\"", strerror(errno));
			break;
		}
		/* Two ticks in a row with nothing else: at least one whole tick
		 * without a request, a message or a client's byte. */
		if (n == 1 && evs[0].data.ptr == &c->tag_tick) {
			if (c->quiet > 0 && --c->quiet == 0)
				app_idle(&c->app);
		} else if (n > 0) {
			c->quiet = 2;
		}
		for (int i = 0; i < n; i++)
			sse_dispatch_event(c, &evs[i]);
		if (!c->stopping)
			sse_doomed_flush(c);
		sse_bury(c);
	}
	sse_bury(c);
}

/* ---- start ---- */

/* Every stream holds one descriptor (its connection).  Raise the soft
 * limit as far as allowed, then fit the stream count into it: past the
 * limit accept() would fail with EMFILE and new clients would wait unseen
 * in the listen backlog instead of getting a 503. */
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
	room = rl.rlim_cur > 2 * SSE_FD_SPARE ? rl.rlim_cur - SSE_FD_SPARE : 1;
	if (room < c->max_streams) {
		log_msg(LOG_WARN, "msg=\"open file limit allows fewer streams\" nofile=%llu streams=%llu",
			(unsigned long long)rl.rlim_cur, (unsigned long long)room);
		c->max_streams = (unsigned)room;
	}
}

/* FastCGI when fd 0 is a listening socket (not connected), as libfcgi's
 * FCGX_IsCGI decides. */
static int
sse_is_cgi(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return !(getpeername(FCGI_LISTENSOCK_FILENO, (struct sockaddr *)&ss, &len) != 0 && errno == ENOTCONN);
}

/* The bus socket and the hub: what a stream needs. */
static int
sse_start_bus(struct sse_ctx *c)
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
	if (sse_ep_set(c, EPOLL_CTL_ADD, bus_listener_fd(c->bus), EPOLLIN, &c->tag_bus) != 0)
		return -1;
	return 0;
}

/* epoll, the signalfd and the timer. */
static int
sse_start_loop(struct sse_ctx *c)
{
	long tick = c->ping_ms < SSE_TICK_MS ? c->ping_ms : SSE_TICK_MS;
	struct itimerspec its = {
		.it_interval = {.tv_sec = tick / 1000, .tv_nsec = (tick % 1000) * 1000000L},
		.it_value = {.tv_sec = tick / 1000, .tv_nsec = (tick % 1000) * 1000000L},
	};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	c->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->ep < 0 || c->sig_fd < 0 || c->tick_fd < 0 ||
	    timerfd_settime(c->tick_fd, 0, &its, NULL) != 0 ||
	    sse_ep_set(c, EPOLL_CTL_ADD, c->sig_fd, EPOLLIN, &c->tag_sig) != 0 ||
	    sse_ep_set(c, EPOLL_CTL_ADD, c->tick_fd, EPOLLIN, &c->tag_tick) != 0)
		return -1;
	return 0;
}

static struct sse_ctx *
sse_ctx_new(void)
{
	struct sse_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ep = c->sig_fd = c->tick_fd = c->listen_fd = -1;
	c->max_streams = SSE_STREAMS_DEFAULT;
	c->ping_ms = SSE_PING_MS_DEFAULT;
	buf_init(&c->ev, 0);
	buf_init(&c->frame, 0);
	c->resp = calloc(1, sizeof(*c->resp));
	c->hub = sse_hub_new(NULL);
	if (c->resp == NULL || c->hub == NULL) {
		free(c->resp);
		sse_hub_free(c->hub);
		free(c);
		return NULL;
	}
	return c;
}

static void
sse_free(struct sse_ctx *c)
{
	bus_listener_close(c->bus);
	sse_hub_free(c->hub);
	if (c->ep >= 0)
		close(c->ep);
	if (c->sig_fd >= 0)
		close(c->sig_fd);
	if (c->tick_fd >= 0)
		close(c->tick_fd);
	buf_free(&c->ev);
	buf_free(&c->frame);
	free(c->resp);
	free(c->doomed);
	app_fini(&c->app);
	free(c);
}

static const struct app_def sse_app = {
	.name = "sse",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
};

/* Set everything up; 0, or -1 when the process cannot serve at all. */
static int
sse_setup(struct sse_ctx *c)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	c->cgi = sse_is_cgi();
	if (app_init(&c->app, &sse_app) == 0) {
		c->max_streams = (unsigned)c->app.cfg.sse_max_streams;
		c->ping_ms = c->app.cfg.sse_ping_ms;
	}
	if (c->cgi)
		c->max_streams = 1; /* one process per stream */
	if (sse_start_loop(c) != 0) {
		log_msg(LOG_ERROR, "msg=\"cannot set up the event loop\" error=\"%s\"", strerror(errno));
		return -1;
	}
	if (!c->app.broken) {
		sse_fit_nofile(c); /* logs under the program's name */
		if (sse_start_bus(c) != 0) {
			c->app.broken = 1;
			snprintf(c->app.broken_why, sizeof(c->app.broken_why), "message socket");
		}
	}
	if (c->cgi)
		return 0;
	c->listen_fd = FCGI_LISTENSOCK_FILENO;
	if (sse_ep_set(c, EPOLL_CTL_ADD, c->listen_fd, EPOLLIN, &c->tag_listen) != 0) {
		log_msg(LOG_ERROR, "msg=\"cannot watch the FastCGI socket\" error=\"%s\"",
			strerror(errno));
		return -1;
	}
	c->listening = 1;
	return 0;
}

/* Plain CGI: the one request from the environment, the response on stdout. */
static int
sse_cgi_start(struct sse_ctx *c)
{
	struct sse_conn *k;
	int fl = fcntl(STDOUT_FILENO, F_GETFL);

	if (fl >= 0)
		(void)fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK);
	k = sse_conn_new(c, -1, STDOUT_FILENO, 1);
	if (k == NULL)
		return -1;
	sse_serve(k, NULL);
	return 0;
}

int
main(void)
{
	struct sse_ctx *c = sse_ctx_new();

	if (c == NULL)
		return 1;
	if (sse_setup(c) != 0)
		return 1;
	log_msg(LOG_INFO, "msg=\"ready\" streams=%u socket=%s", c->max_streams,
		c->bus != NULL ? bus_listener_path(c->bus) : "-");
	if (c->cgi && sse_cgi_start(c) != 0)
		return 1;
	sse_loop(c);
	sse_doomed_flush(c);
	if (c->cut > 0)
		log_msg(LOG_WARN, "msg=\"exiting with unfinished requests\" requests=%d", c->cut);
	if (c->stopping)
		log_msg(LOG_INFO, "msg=\"stopped\"");
	sse_free(c);
	return 0;
}
