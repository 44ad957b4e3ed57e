/*
 * sseload: the SSE load generator for the benchmark (legacy HTTP+SSE
 * transport, MCP 2024-11-05), for mcpgate and the peer alike.  Plain
 * sockets to 127.0.0.1, HTTP/1.1, one thread, poll().
 *
 *   sseload latency PORT SSE_PATH TOKEN STREAMS SECONDS
 *       Open STREAMS streams.  On each, one request in flight at a time: POST
 *       a JSON-RPC ping to the stream's endpoint (keep-alive connection),
 *       time until the response event arrives on the stream, repeat.  Prints
 *       BENCH n=.. p50_ms=.. p99_ms=.. max_ms=.. errors=.. streams=..
 *
 *   sseload streams PORT SSE_PATH TOKEN K OPEN_SECONDS HOLD_SECONDS
 *       Open K streams (a bounded number connecting at once) and wait up to
 *       OPEN_SECONDS for their endpoint events; print
 *       READY streams=K endpoint=.. refused=.. open_s=..
 *       then keep reading them for HOLD_SECONDS and print
 *       BENCH streams=K endpoint=.. open_after_hold=.. refused=.. open_s=..
 *
 * Exit status: 0 when the run produced its figures, 1 on a failed run, 2 on
 * bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SL_READ_CHUNK 16384
#define SL_BUF_MAX (4u * 1024 * 1024) /* a peer sending more than this is broken */
#define SL_EVENT_TIMEOUT_MS 5000.0
#define SL_OPEN_WINDOW 256            /* streams connecting at once */
#define SL_OPEN_STALL_MS 10000.0      /* opening ends after this long without progress */
#define SL_SAMPLES_MAX 4000000u
#define SL_STREAMS_MAX 100000u

/* ---- utilities ------------------------------------------------------------ */

static double
sl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
sl_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A decimal argument in [lo, hi], or -1. */
static long
sl_arg(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

static void
sl_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- a growable byte buffer ---------------------------------------------------- */

struct sl_buf {
	char *p;
	size_t len, cap;
};

static int
sl_buf_reserve(struct sl_buf *b, size_t extra)
{
	size_t cap = b->cap != 0 ? b->cap : 1024;
	char *n;

	if (b->len + extra + 1 > SL_BUF_MAX)
		return -1;
	while (cap < b->len + extra + 1)
		cap *= 2;
	if (cap != b->cap) {
		n = realloc(b->p, cap);
		if (n == NULL)
			return -1;
		b->p = n;
		b->cap = cap;
	}
	b->p[b->len] = '\0'; /* the parsers below use string functions */
	return 0;
}

static int
sl_buf_add(struct sl_buf *b, const char *p, size_t n)
{
	if (sl_buf_reserve(b, n) != 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void
sl_buf_drop(struct sl_buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

static void
sl_buf_free(struct sl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- one HTTP/1.1 connection ------------------------------------------------------ */

struct sl_conn {
	int fd;
	int status;      /* 0 until the header block is in; -1 garbage */
	int chunked;
	long clen;       /* Content-Length, -1 if none */
	long chunk_left; /* -1: a chunk-size line is next; -2: the CRLF after a chunk */
	int close;       /* Connection: close: the server ends it after this response */
	int done;        /* the (non-streaming) response is complete */
	int eof;
	struct sl_buf raw;  /* bytes read, not yet decoded */
	struct sl_buf body; /* decoded body, not yet consumed */
};

static void
sl_conn_init(struct sl_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->clen = -1;
	c->chunk_left = -1;
}

static void
sl_conn_close(struct sl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	sl_buf_free(&c->raw);
	sl_buf_free(&c->body);
	sl_conn_init(c);
}

/* Ready for the next response on a keep-alive connection. */
static void
sl_conn_next(struct sl_conn *c)
{
	c->status = 0;
	c->chunked = 0;
	c->clen = -1;
	c->chunk_left = -1;
	c->close = 0;
	c->done = 0;
	c->body.len = 0;
	if (c->body.p != NULL)
		c->body.p[0] = '\0';
}

static int
sl_write_all(int fd, const char *p, size_t n)
{
	double deadline = sl_now_ms() + SL_EVENT_TIMEOUT_MS;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};

			if (sl_now_ms() > deadline)
				return -1;
			(void)poll(&pf, 1, 100);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sl_connect(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Status line and headers, once complete. */
static void
sl_conn_headers(struct sl_conn *c)
{
	char *end = strstr(c->raw.p, "\r\n\r\n"), *line;

	if (end == NULL)
		return;
	*end = '\0';
	if (sscanf(c->raw.p, "HTTP/1.%*d %d", &c->status) != 1 || c->status <= 0)
		c->status = -1;
	for (line = strstr(c->raw.p, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2;

		if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strstr(h, "chunked") != NULL)
			c->chunked = 1;
		else if (strncasecmp(h, "Content-Length:", 15) == 0)
			c->clen = strtol(h + 15, NULL, 10);
		else if (strncasecmp(h, "Connection:", 11) == 0 && strcasestr(h, "close") != NULL)
			c->close = 1;
	}
	sl_buf_drop(&c->raw, (size_t)(end + 4 - c->raw.p));
	if (!c->chunked && c->clen == 0)
		c->done = 1;
}

/* One step of chunked decoding; 0 when it needs more bytes. */
static int
sl_dechunk_step(struct sl_conn *c)
{
	char *nl;

	if (c->chunk_left == -2) {
		if (c->raw.len < 2)
			return 0;
		sl_buf_drop(&c->raw, 2);
		c->chunk_left = -1;
		return 1;
	}
	if (c->chunk_left == -1) {
		nl = strstr(c->raw.p, "\r\n");
		if (nl == NULL)
			return 0;
		c->chunk_left = strtol(c->raw.p, NULL, 16);
		sl_buf_drop(&c->raw, (size_t)(nl + 2 - c->raw.p));
		if (c->chunk_left <= 0) {
			c->chunk_left = -2; /* the empty line after the last chunk */
			c->done = 1;
		}
		return 1;
	}
	{
		size_t n = c->raw.len < (size_t)c->chunk_left ? c->raw.len : (size_t)c->chunk_left;

		if (n == 0 || sl_buf_add(&c->body, c->raw.p, n) != 0)
			return 0;
		sl_buf_drop(&c->raw, n);
		c->chunk_left -= (long)n;
		if (c->chunk_left == 0)
			c->chunk_left = -2;
		return 1;
	}
}

static int
sl_conn_decode(struct sl_conn *c)
{
	if (c->status == 0)
		sl_conn_headers(c);
	if (c->status == 0)
		return 0;
	if (!c->chunked) {
		size_t n = c->raw.len;

		if (c->clen >= 0 && n > (size_t)c->clen - c->body.len)
			n = (size_t)c->clen - c->body.len;
		if (n > 0 && sl_buf_add(&c->body, c->raw.p, n) != 0)
			return -1;
		sl_buf_drop(&c->raw, n);
		if (c->clen >= 0 && c->body.len >= (size_t)c->clen)
			c->done = 1;
		return 0;
	}
	while (!(c->done && c->chunk_left != -2) && c->raw.len > 0 && sl_dechunk_step(c))
		;
	return 0;
}

/* Read what is there and decode it.  -1 at EOF or error. */
static int
sl_conn_read(struct sl_conn *c)
{
	for (;;) {
		ssize_t n;

		if (sl_buf_reserve(&c->raw, SL_READ_CHUNK) != 0)
			return -1;
		n = read(c->fd, c->raw.p + c->raw.len, SL_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->eof = 1;
			break;
		}
		c->raw.len += (size_t)n;
		c->raw.p[c->raw.len] = '\0';
	}
	if (sl_conn_decode(c) != 0)
		return -1;
	/* Neither length nor chunks: the body ends with the connection. */
	if (c->eof && c->status > 0 && !c->chunked && c->clen < 0)
		c->done = 1;
	return c->eof ? -1 : 0;
}

/* The next complete SSE event: its name and first data line (truncated to
 * the buffers).  1 when one was taken, 0 when none is complete. */
static int
sl_event(struct sl_conn *c, char *name, size_t namesz, char *data, size_t datasz)
{
	char *end, *p;

	if (c->body.p == NULL || (end = strstr(c->body.p, "\n\n")) == NULL)
		return 0;
	*end = '\0';
	name[0] = data[0] = '\0';
	for (p = c->body.p; p != NULL && *p != '\0';) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (strncmp(p, "event:", 6) == 0)
			snprintf(name, namesz, "%s", p + 6 + (p[6] == ' '));
		else if (strncmp(p, "data:", 5) == 0 && data[0] == '\0')
			snprintf(data, datasz, "%s", p + 5 + (p[5] == ' '));
		p = nl != NULL ? nl + 1 : NULL;
	}
	sl_buf_drop(&c->body, (size_t)(end + 2 - c->body.p));
	return 1;
}

/* ---- streams -------------------------------------------------------------------- */

struct sl_target {
	int port;
	const char *sse_path;
	const char *token;
};

struct sl_stream {
	struct sl_conn sse;
	char endpoint[512]; /* path + query to POST to */
	double t_open, t_endpoint;
	int refused;        /* final status other than 200 */
	/* latency mode */
	struct sl_conn post;
	long id;            /* id of the request in flight; 0 when idle */
	int got_event, got_post;
	double t_sent;
};

static int
sl_stream_open(struct sl_stream *s, const struct sl_target *t)
{
	char req[4096];
	int n;

	sl_conn_init(&s->sse);
	sl_conn_init(&s->post);
	s->t_open = sl_now_ms();
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n"
		     "Authorization: Bearer %s\r\n\r\n",
		     t->sse_path, t->port, t->token);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -1;
	s->sse.fd = sl_connect(t->port);
	if (s->sse.fd < 0)
		return -1;
	return sl_write_all(s->sse.fd, req, (size_t)n);
}

/* Keep the path of an absolute endpoint URL. */
static void
sl_set_endpoint(struct sl_stream *s, const char *data)
{
	const char *p = data;

	if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
		p = strchr(strstr(p, "//") + 2, '/');
		if (p == NULL)
			p = "/";
	}
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", p);
	s->t_endpoint = sl_now_ms();
}

/* Stream input while opening: 1 once it has its endpoint, -1 when it ended
 * or was refused, 0 while waiting. */
static int
sl_stream_opening(struct sl_stream *s)
{
	char name[64], data[512];
	int rc = sl_conn_read(&s->sse);

	if (s->sse.status != 0 && s->sse.status != 200) {
		s->refused = 1;
		return -1;
	}
	while (sl_event(&s->sse, name, sizeof(name), data, sizeof(data)))
		if (strcmp(name, "endpoint") == 0 && s->endpoint[0] == '\0')
			sl_set_endpoint(s, data);
	if (s->endpoint[0] != '\0')
		return 1;
	return rc != 0 ? -1 : 0;
}

struct sl_open_result {
	size_t endpoint, refused, failed;
	double secs;
};

/* Drive the streams [0, n) until each has its endpoint or ended, or until
 * the deadline; at most SL_OPEN_WINDOW are waiting at any time. */
static int
sl_open_all(struct sl_stream *ss, size_t n, const struct sl_target *t, double deadline,
	    struct sl_open_result *res)
{
	struct pollfd *pf = calloc(SL_OPEN_WINDOW, sizeof(*pf));
	size_t *idx = calloc(SL_OPEN_WINDOW, sizeof(*idx));
	size_t next = 0, waiting = 0;
	double t0 = sl_now_ms(), progress = t0;

	if (pf == NULL || idx == NULL) {
		free(pf);
		free(idx);
		return -1;
	}
	memset(res, 0, sizeof(*res));
	/* A server that stops accepting (out of descriptors, say) leaves the
	 * rest waiting in its backlog: give up on them after a while. */
	while (sl_now_ms() < deadline && sl_now_ms() - progress < SL_OPEN_STALL_MS &&
	       (next < n || waiting > 0)) {
		while (next < n && waiting < SL_OPEN_WINDOW) {
			if (sl_stream_open(&ss[next], t) != 0) {
				res->failed++;
				sl_conn_close(&ss[next].sse);
			} else {
				idx[waiting] = next;
				pf[waiting].fd = ss[next].sse.fd;
				pf[waiting].events = POLLIN;
				waiting++;
			}
			next++;
		}
		if (waiting == 0 || poll(pf, waiting, 50) <= 0)
			continue;
		for (size_t i = 0; i < waiting;) {
			int rc = pf[i].revents != 0 ? sl_stream_opening(&ss[idx[i]]) : 0;

			if (rc == 0) {
				i++;
				continue;
			}
			progress = sl_now_ms();
			if (rc > 0)
				res->endpoint++;
			else if (ss[idx[i]].refused)
				res->refused++;
			else
				res->failed++;
			if (rc < 0)
				sl_conn_close(&ss[idx[i]].sse);
			waiting--;
			idx[i] = idx[waiting];
			pf[i] = pf[waiting];
		}
	}
	res->failed += (n - next) + waiting;
	res->secs = (sl_now_ms() - t0) / 1e3;
	free(pf);
	free(idx);
	return 0;
}

/* ---- streams command --------------------------------------------------------------- */

/* Read every open stream until the deadline; returns how many are still
 * open then. */
static size_t
sl_hold(struct sl_stream *ss, size_t n, double deadline)
{
	struct pollfd *pf = calloc(n, sizeof(*pf));
	size_t open = 0;

	if (pf == NULL)
		return 0;
	while (sl_now_ms() < deadline) {
		for (size_t i = 0; i < n; i++)
			pf[i] = (struct pollfd){.fd = ss[i].sse.fd, .events = POLLIN};
		if (poll(pf, n, 200) <= 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (pf[i].revents == 0)
				continue;
			if (sl_conn_read(&ss[i].sse) != 0)
				sl_conn_close(&ss[i].sse);
			else if (ss[i].sse.body.p != NULL) /* keep-alive comments: nothing to keep */
				sl_buf_drop(&ss[i].sse.body, ss[i].sse.body.len);
		}
	}
	for (size_t i = 0; i < n; i++)
		open += ss[i].sse.fd >= 0;
	free(pf);
	return open;
}

static int
sl_cmd_streams(const struct sl_target *t, long k, long open_s, long hold_s)
{
	struct sl_stream *ss = calloc((size_t)k, sizeof(*ss));
	struct sl_open_result r;
	size_t open;

	if (ss == NULL)
		return 1;
	sl_raise_nofile();
	if (sl_open_all(ss, (size_t)k, t, sl_now_ms() + (double)open_s * 1e3, &r) != 0)
		return 1;
	printf("READY streams=%ld endpoint=%zu refused=%zu failed=%zu open_s=%.3f\n", k, r.endpoint,
	       r.refused, r.failed, r.secs);
	fflush(stdout);
	open = sl_hold(ss, (size_t)k, sl_now_ms() + (double)hold_s * 1e3);
	printf("BENCH streams=%ld endpoint=%zu open_after_hold=%zu refused=%zu failed=%zu "
	       "open_s=%.3f\n",
	       k, r.endpoint, open, r.refused, r.failed, r.secs);
	for (long i = 0; i < k; i++)
		sl_conn_close(&ss[i].sse);
	free(ss);
	return 0;
}

/* ---- latency command ------------------------------------------------------------------ */

struct sl_lat {
	double *v;
	size_t n, cap;
	long next_id;
	size_t errors;
};

static int
sl_post_send(struct sl_stream *s, const struct sl_target *t, struct sl_lat *L)
{
	char req[4096], body[128];
	int bn, n;

	if (s->post.fd < 0 && (s->post.fd = sl_connect(t->port)) < 0)
		return -1;
	s->id = ++L->next_id;
	bn = snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"ping\"}", s->id);
	n = snprintf(req, sizeof(req),
		     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
		     "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		     s->endpoint, t->port, t->token, bn, body);
	if (bn < 0 || n < 0 || (size_t)n >= sizeof(req))
		return -1;
	sl_conn_next(&s->post);
	s->got_event = s->got_post = 0;
	s->t_sent = sl_now_ms();
	return sl_write_all(s->post.fd, req, (size_t)n);
}

/* The id in a JSON-RPC message's data, or -1. */
static long
sl_data_id(const char *data)
{
	const char *p = strstr(data, "\"id\":");

	return p != NULL ? strtol(p + 5, NULL, 10) : -1;
}

static void
sl_lat_record(struct sl_lat *L, double ms)
{
	if (L->n < L->cap)
		L->v[L->n++] = ms;
}

/* Input on a stream: the event for the request in flight? */
static int
sl_lat_sse(struct sl_stream *s, struct sl_lat *L)
{
	char name[64], data[512];

	if (sl_conn_read(&s->sse) != 0)
		return -1;
	while (sl_event(&s->sse, name, sizeof(name), data, sizeof(data)))
		if (strcmp(name, "message") == 0 && s->id != 0 && sl_data_id(data) == s->id &&
		    !s->got_event) {
			s->got_event = 1;
			sl_lat_record(L, sl_now_ms() - s->t_sent);
		}
	return 0;
}

static int
sl_lat_post(struct sl_stream *s, struct sl_lat *L)
{
	int rc = sl_conn_read(&s->post);

	if (s->post.done) {
		s->got_post = 1;
		if (s->post.status < 200 || s->post.status > 299) {
			L->errors++;
			s->got_event = 1; /* refused: no event will come */
		}
		/* The server ends the connection after this answer (lighttpd
		 * does after server.max-keep-alive-requests): reconnect next time. */
		if (rc != 0 || s->post.close)
			sl_conn_close(&s->post);
		return 0;
	}
	if (rc != 0) {
		/* Closed before answering (a keep-alive connection the server
		 * had just timed out, say): count it and start over. */
		fprintf(stderr, "sseload: request %ld: connection closed unanswered\n", s->id);
		L->errors++;
		sl_conn_close(&s->post);
		s->id = 0;
	}
	return 0;
}

/* One poll round over every stream and POST connection. */
static int
sl_lat_round(struct sl_stream *ss, size_t n, struct pollfd *pf, struct sl_lat *L,
	     const struct sl_target *t, int sending)
{
	for (size_t i = 0; i < n; i++) {
		pf[2 * i] = (struct pollfd){.fd = ss[i].sse.fd, .events = POLLIN};
		pf[2 * i + 1] = (struct pollfd){.fd = ss[i].post.fd, .events = POLLIN};
	}
	if (poll(pf, 2 * n, 100) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct sl_stream *s = &ss[i];

		if (pf[2 * i].revents != 0 && sl_lat_sse(s, L) != 0) {
			fprintf(stderr, "sseload: stream %zu ended\n", i);
			return -1;
		}
		if (pf[2 * i + 1].revents != 0 && sl_lat_post(s, L) != 0) {
			fprintf(stderr, "sseload: POST connection %zu failed\n", i);
			return -1;
		}
		if (s->id != 0 && !(s->got_event && s->got_post) &&
		    sl_now_ms() - s->t_sent > SL_EVENT_TIMEOUT_MS) {
			/* Lost: count it, forget it, go on. */
			fprintf(stderr, "sseload: request %ld: no %s in %.0f ms\n", s->id,
				s->got_event ? "POST response" : "event", SL_EVENT_TIMEOUT_MS);
			L->errors++;
			sl_conn_close(&s->post);
			s->id = 0;
		}
		if (s->id != 0 && s->got_event && s->got_post)
			s->id = 0;
		if (s->id == 0 && sending && sl_post_send(s, t, L) != 0)
			return -1;
	}
	return 0;
}

static int
sl_lat_report(struct sl_lat *L, size_t streams, double secs)
{
	if (L->n == 0) {
		printf("BENCH n=0 errors=%zu streams=%zu\n", L->errors, streams);
		return 1;
	}
	qsort(L->v, L->n, sizeof(*L->v), sl_cmp_double);
	printf("BENCH n=%zu duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "errors=%zu streams=%zu\n",
	       L->n, secs, (double)L->n / secs, L->v[L->n / 2], L->v[L->n * 99 / 100],
	       L->v[L->n - 1], L->errors, streams);
	return 0;
}

static int
sl_cmd_latency(const struct sl_target *t, long streams, long seconds)
{
	struct sl_stream *ss = calloc((size_t)streams, sizeof(*ss));
	struct pollfd *pf = calloc(2 * (size_t)streams, sizeof(*pf));
	struct sl_lat L = {.cap = SL_SAMPLES_MAX};
	struct sl_open_result r;
	double t0, end, drain;
	int rc = 1;

	L.v = calloc(L.cap, sizeof(*L.v));
	if (ss == NULL || pf == NULL || L.v == NULL)
		goto out;
	if (sl_open_all(ss, (size_t)streams, t, sl_now_ms() + 10000, &r) != 0 ||
	    r.endpoint != (size_t)streams) {
		fprintf(stderr, "sseload: %zu of %ld streams opened\n", r.endpoint, streams);
		goto out;
	}
	t0 = sl_now_ms();
	end = t0 + (double)seconds * 1e3;
	while (sl_now_ms() < end && L.n < L.cap)
		if (sl_lat_round(ss, (size_t)streams, pf, &L, t, 1) != 0)
			goto out;
	/* Let the requests in flight finish, sending no more. */
	drain = sl_now_ms() + SL_EVENT_TIMEOUT_MS;
	for (long busy = 1; busy && sl_now_ms() < drain;) {
		if (sl_lat_round(ss, (size_t)streams, pf, &L, t, 0) != 0)
			goto out;
		busy = 0;
		for (long i = 0; i < streams; i++)
			busy |= ss[i].id != 0;
	}
	rc = sl_lat_report(&L, (size_t)streams, (sl_now_ms() - t0) / 1e3);
out:
	for (long i = 0; ss != NULL && i < streams; i++) {
		sl_conn_close(&ss[i].sse);
		sl_conn_close(&ss[i].post);
	}
	free(ss);
	free(pf);
	free(L.v);
	return rc;
}

/* ---- main -------------------------------------------------------------------------------- */

static int
sl_usage(void)
{
	fprintf(stderr, "usage: sseload latency PORT SSE_PATH TOKEN STREAMS SECONDS\n"
			"       sseload streams PORT SSE_PATH TOKEN K OPEN_SECONDS HOLD_SECONDS\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct sl_target t;
	long a, b, c = 0;

	if (argc < 7)
		return sl_usage();
	t.port = (int)sl_arg(argv[2], 1, 65535);
	t.sse_path = argv[3];
	t.token = argv[4];
	a = sl_arg(argv[5], 1, SL_STREAMS_MAX);
	b = sl_arg(argv[6], 1, 3600);
	if (argc > 7)
		c = sl_arg(argv[7], 0, 3600);
	if (t.port < 0 || a < 0 || b < 0 || c < 0 || strlen(t.token) > 2048 ||
	    strlen(t.sse_path) > 1024)
		return sl_usage();
	/* A server that closes first must not kill us: write() reports it. */
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "latency") == 0 && argc == 7)
		return sl_cmd_latency(&t, a, b);
	if (strcmp(argv[1], "streams") == 0 && argc == 8)
		return sl_cmd_streams(&t, a, b, c);
	return sl_usage();
}
