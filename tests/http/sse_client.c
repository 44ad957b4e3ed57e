/*
 * sse_client: test-only helper for tests/http/sse_*.t (never installed).
 *
 *   sse_client mint CONFIG USER TTL_S [SCOPES [RESOURCE]]
 *                                                create a grant, print an access token
 *   sse_client revoke CONFIG TOKEN               delete the token's grant
 *   sse_client session CONFIG TOKEN ID           print "present" or "absent"
 *   sse_client send CONFIG TOKEN ID JSON         bus_send JSON to the session's stream
 *   sse_client flood CONFIG TOKEN ID SIZE COUNT  bus_send COUNT messages of SIZE bytes
 *                                                (JSON-RPC results with "id":"big-<n>")
 *   sse_client lazy PORT PATH TOKEN              open a stream, print its session id,
 *                                                then never read again until stdin closes
 *   sse_client streams PORT PATH TOKEN N EXTRA   open N streams, then EXTRA more;
 *                                                report, hold until stdin closes
 *   sse_client latency PORT PATH TOKEN CONFIG N bus|post
 *                                                round trips message -> event
 *
 * The HTTP client is minimal on purpose: HTTP/1.1 to 127.0.0.1, chunked or
 * Content-Length bodies, SSE events split at blank lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "config.h"
#include "crypto.h"
#include "metadata.h"
#include "scope.h"
#include "session.h"
#include "store.h"
#include "token.h"

/* ---- utilities ---- */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
die(const char *what)
{
	fprintf(stderr, "sse_client: %s\n", what);
	return 2;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct env {
	struct config cfg;
	struct crypto_keyring keys;
	struct store *st;
	char resource[CONFIG_STR_MAX + 8];
};

static int
env_open(struct env *e, const char *conf)
{
	char err[512];

	memset(e, 0, sizeof(*e));
	if (config_load(&e->cfg, conf, err, sizeof(err)) != 0 ||
	    crypto_keyring_load(&e->keys, e->cfg.key_file, 1, err, sizeof(err)) != 0 ||
	    (e->st = store_open(e->cfg.store, 2000, err, sizeof(err))) == NULL ||
	    metadata_resource(&e->cfg, e->resource, sizeof(e->resource)) != 0) {
		fprintf(stderr, "sse_client: %s\n", err);
		return -1;
	}
	return 0;
}

static void
env_close(struct env *e)
{
	store_close(e->st);
	crypto_keyring_wipe(&e->keys);
}

static int
env_verify(struct env *e, const char *tok, struct token_access *acc)
{
	return token_access_verify(&e->keys, e->resource, tok, time(NULL), acc) == TOKEN_OK ? 0 : -1;
}

/* ---- token commands ---- */

static int
cmd_mint(int argc, char **argv)
{
	struct token_access acc;
	struct env e;
	char tok[TOKEN_ACCESS_MAX];
	long ttl;
	int rc;

	if (argc < 5 || env_open(&e, argv[2]) != 0)
		return die("usage: mint CONFIG USER TTL_S [SCOPES]");
	memset(&acc, 0, sizeof(acc));
	ttl = strtol(argv[4], NULL, 10);
	snprintf(acc.user, sizeof(acc.user), "%s", argv[3]);
	snprintf(acc.name, sizeof(acc.name), "%s", argv[3]);
	snprintf(acc.client_id, sizeof(acc.client_id), "sse-test-client");
	acc.exp = time(NULL) + ttl;
	if (scope_parse(argc > 5 ? argv[5] : "snippets:read snippets:write", &acc.scope) != 0)
		return die("bad scopes");
	if (token_grant_id_new(acc.grant_id) != 0)
		return die("no grant id");
	rc = store_put(e.st, STORE_GRANT, acc.grant_id, strlen(acc.grant_id), "{}", 2,
		       acc.exp + 60, STORE_PUT_REPLACE);
	if (rc != STORE_OK) {
		fprintf(stderr, "sse_client: store: %s\n", store_strerror(rc));
		return 2;
	}
	if (argc > 6)
		snprintf(e.resource, sizeof(e.resource), "%s", argv[6]);
	if (token_access_issue(&e.keys, e.resource, &acc, tok, sizeof(tok)) != 0)
		return die("cannot issue the token");
	printf("%s\n", tok);
	env_close(&e);
	return 0;
}

static int
cmd_revoke(int argc, char **argv)
{
	struct token_access acc;
	struct env e;
	int rc;

	if (argc < 4 || env_open(&e, argv[2]) != 0 || env_verify(&e, argv[3], &acc) != 0)
		return die("usage: revoke CONFIG TOKEN");
	rc = store_del(e.st, STORE_GRANT, acc.grant_id, strlen(acc.grant_id));
	env_close(&e);
	return rc == STORE_OK ? 0 : die("revoke failed");
}

static int
cmd_session(int argc, char **argv)
{
	struct token_access acc;
	struct session s;
	struct env e;
	int rc;

	if (argc < 5 || env_open(&e, argv[2]) != 0 || env_verify(&e, argv[3], &acc) != 0)
		return die("usage: session CONFIG TOKEN ID");
	rc = session_get(e.st, argv[4], acc.user, &s);
	printf("%s\n", rc == STORE_OK ? "present" : "absent");
	if (rc == STORE_OK)
		printf("sock=%s kind=%d\n", s.sock, (int)s.kind);
	env_close(&e);
	return 0;
}

static int
cmd_send(int argc, char **argv)
{
	struct token_access acc;
	struct session s;
	struct env e;
	int rc;

	if (argc < 6 || env_open(&e, argv[2]) != 0 || env_verify(&e, argv[3], &acc) != 0)
		return die("usage: send CONFIG TOKEN ID JSON");
	rc = session_get(e.st, argv[4], acc.user, &s);
	if (rc == STORE_OK)
		rc = bus_send(s.sock, s.id, argv[5], strlen(argv[5]), 1000);
	else
		rc = BUS_GONE;
	printf("%s\n", bus_strerror(rc));
	env_close(&e);
	return rc == BUS_OK ? 0 : 1;
}

/* {"jsonrpc":"2.0","id":"big-<n>","result":{"pad":"xxx..."}} of exactly size bytes. */
static char *
big_json(size_t size, int n)
{
	char head[64];
	static const char tail[] = "\"}}";
	int h = snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"id\":\"big-%d\",\"result\":{\"pad\":\"", n);
	char *m;

	if (h < 0 || size < (size_t)h + sizeof(tail) - 1 || (m = malloc(size + 1)) == NULL)
		return NULL;
	memcpy(m, head, (size_t)h);
	memset(m + h, 'x', size - (size_t)h - (sizeof(tail) - 1));
	memcpy(m + size - (sizeof(tail) - 1), tail, sizeof(tail));
	return m;
}

static int
cmd_flood(int argc, char **argv)
{
	struct token_access acc;
	struct session s;
	struct env e;
	size_t size;
	long count, sent = 0;
	int rc = BUS_OK;

	if (argc < 7 || env_open(&e, argv[2]) != 0 || env_verify(&e, argv[3], &acc) != 0)
		return die("usage: flood CONFIG TOKEN ID SIZE COUNT");
	size = strtoul(argv[5], NULL, 10);
	count = strtol(argv[6], NULL, 10);
	if (session_get(e.st, argv[4], acc.user, &s) != STORE_OK)
		return die("no such session");
	for (long i = 0; i < count && rc == BUS_OK; i++) {
		char *m = big_json(size, (int)i);

		if (m == NULL)
			return die("bad size");
		rc = bus_send(s.sock, s.id, m, size, 2000);
		free(m);
		sent += rc == BUS_OK;
	}
	printf("sent=%ld last=%s\n", sent, bus_strerror(rc));
	env_close(&e);
	return 0;
}

/* ---- a minimal HTTP/1.1 + SSE client ---- */

struct conn {
	int fd;
	int status;       /* 0 until the status line is in */
	int chunked;
	long clen;        /* Content-Length, -1 if none */
	long chunk_left;  /* bytes left in the current chunk; -1: need a size line */
	int eof;
	char *raw;        /* bytes read, not yet decoded */
	size_t rawlen, rawcap;
	char *body;       /* decoded body not yet consumed as events */
	size_t bodylen, bodycap;
	double t_open, t_first_event;
	char endpoint[512];
};

static int
grow(char **p, size_t *cap, size_t need)
{
	char *n;
	size_t c = *cap ? *cap : 4096;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*p, c);
	if (n == NULL)
		return -1;
	*p = n;
	*cap = c;
	return 0;
}

static int
conn_open(struct conn *c, int port, const char *req, size_t reqlen)
{
	struct sockaddr_in sa;
	int one = 1;
	size_t off = 0;

	memset(c, 0, sizeof(*c));
	c->clen = -1;
	c->chunk_left = -1;
	c->t_open = now_ms();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (off < reqlen) {
		ssize_t n = write(c->fd, req + off, reqlen - off);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->raw);
	free(c->body);
	c->raw = c->body = NULL;
}

static int
body_add(struct conn *c, const char *p, size_t n)
{
	if (grow(&c->body, &c->bodycap, c->bodylen + n + 1) != 0)
		return -1;
	memcpy(c->body + c->bodylen, p, n);
	c->bodylen += n;
	c->body[c->bodylen] = '\0';
	return 0;
}

static void
raw_consume(struct conn *c, size_t n)
{
	memmove(c->raw, c->raw + n, c->rawlen - n);
	c->rawlen -= n;
}

static void
conn_headers(struct conn *c)
{
	char *end, *line;

	if (c->rawlen < 4)
		return;
	c->raw[c->rawlen] = '\0';
	end = strstr(c->raw, "\r\n\r\n");
	if (end == NULL)
		return;
	*end = '\0';
	sscanf(c->raw, "HTTP/1.%*d %d", &c->status);
	for (line = strstr(c->raw, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, "Transfer-Encoding: chunked", 26) == 0)
			c->chunked = 1;
		if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
			c->clen = strtol(line + 17, NULL, 10);
	}
	raw_consume(c, (size_t)(end + 4 - c->raw));
	if (c->status == 0)
		c->status = -1;
}

/* Decode what raw holds into body. */
static void
conn_decode(struct conn *c)
{
	while (c->rawlen > 0) {
		if (!c->chunked) {
			body_add(c, c->raw, c->rawlen);
			c->rawlen = 0;
			return;
		}
		if (c->chunk_left < 0) {
			char *nl;

			c->raw[c->rawlen] = '\0';
			nl = strstr(c->raw, "\r\n");
			if (nl == NULL)
				return;
			c->chunk_left = strtol(c->raw, NULL, 16);
			raw_consume(c, (size_t)(nl + 2 - c->raw));
			if (c->chunk_left == 0) {
				c->eof = 1;
				return;
			}
			continue;
		}
		if (c->chunk_left > 0) {
			size_t n = c->rawlen < (size_t)c->chunk_left ? c->rawlen
								     : (size_t)c->chunk_left;

			body_add(c, c->raw, n);
			raw_consume(c, n);
			c->chunk_left -= (long)n;
			continue;
		}
		/* chunk_left == 0 after data: the CRLF that ends the chunk */
		if (c->rawlen < 2)
			return;
		raw_consume(c, 2);
		c->chunk_left = -1;
	}
}

/* Read what is available.  0, or -1 at EOF/error. */
static int
conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (grow(&c->raw, &c->rawcap, c->rawlen + 65536 + 1) != 0)
			return -1;
		n = read(c->fd, c->raw + c->rawlen, 65536);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			c->eof = 1;
			break;
		}
		c->rawlen += (size_t)n;
	}
	if (c->status == 0)
		conn_headers(c);
	if (c->status != 0)
		conn_decode(c);
	return c->eof ? -1 : 0;
}

/* Next complete SSE event from body: name and data (first data line). */
static int
conn_event(struct conn *c, char *name, size_t namesz, char *data, size_t datasz)
{
	char *end, *p;

	if (c->body == NULL)
		return 0;
	end = strstr(c->body, "\n\n");
	if (end == NULL)
		return 0;
	*end = '\0';
	name[0] = data[0] = '\0';
	for (p = c->body; p != NULL && *p != '\0';) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (strncmp(p, "event: ", 7) == 0)
			snprintf(name, namesz, "%s", p + 7);
		else if (strncmp(p, "data: ", 6) == 0 && data[0] == '\0')
			snprintf(data, datasz, "%s", p + 6);
		else if (p[0] == ':')
			snprintf(name, namesz, ":comment");
		p = nl != NULL ? nl + 1 : NULL;
	}
	c->bodylen -= (size_t)(end + 2 - c->body);
	memmove(c->body, end + 2, c->bodylen + 1);
	return 1;
}

static size_t
sse_request(char *out, size_t outsz, const char *path, const char *token)
{
	int n = snprintf(out, outsz,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
			 "Authorization: Bearer %s\r\n\r\n",
			 path, token);

	return n > 0 && (size_t)n < outsz ? (size_t)n : 0;
}

/* Drive conns[0..n) until each has an endpoint event or a final status;
 * returns the number with an endpoint. */
static int
wait_streams(struct conn *cs, size_t n, double deadline)
{
	struct pollfd *p = calloc(n, sizeof(*p));
	int done = 0;

	if (p == NULL)
		return -1;
	while (now_ms() < deadline) {
		size_t np = 0, pending = 0;

		for (size_t i = 0; i < n; i++) {
			p[i].fd = -1;
			if (cs[i].fd < 0 || cs[i].endpoint[0] != '\0' ||
			    (cs[i].status != 0 && cs[i].status != 200))
				continue;
			p[i].fd = cs[i].fd;
			p[i].events = POLLIN;
			pending++;
		}
		if (pending == 0)
			break;
		if (poll(p, n, (int)(deadline - now_ms()) + 1) <= 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			char name[64], data[512];

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			np++;
			conn_read(&cs[i]);
			while (cs[i].status == 200 &&
			       conn_event(&cs[i], name, sizeof(name), data, sizeof(data)))
				if (strcmp(name, "endpoint") == 0 && cs[i].endpoint[0] == '\0') {
					snprintf(cs[i].endpoint, sizeof(cs[i].endpoint), "%s",
						 data);
					cs[i].t_first_event = now_ms();
				}
		}
		(void)np;
	}
	for (size_t i = 0; i < n; i++)
		done += cs[i].endpoint[0] != '\0';
	free(p);
	return done;
}

static int
cmd_streams(int argc, char **argv)
{
	size_t n, extra, i;
	struct conn *cs;
	char req[2048];
	size_t reqlen;
	double t0, *lat;
	int port, got, s503 = 0, sother = 0;

	if (argc < 7)
		return die("usage: streams PORT PATH TOKEN N EXTRA");
	port = (int)strtol(argv[2], NULL, 10);
	n = strtoul(argv[5], NULL, 10);
	extra = strtoul(argv[6], NULL, 10);
	reqlen = sse_request(req, sizeof(req), argv[3], argv[4]);
	cs = calloc(n + extra, sizeof(*cs));
	lat = calloc(n + 1, sizeof(*lat));
	if (cs == NULL || lat == NULL || reqlen == 0)
		return die("out of memory");
	t0 = now_ms();
	for (i = 0; i < n; i++)
		if (conn_open(&cs[i], port, req, reqlen) != 0)
			return die("connect failed");
	got = wait_streams(cs, n, t0 + 30000);
	for (i = 0; i < n; i++)
		lat[i] = cs[i].endpoint[0] ? cs[i].t_first_event - cs[i].t_open : 1e9;
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("streams=%zu endpoint=%d all_ms=%.0f endpoint_p50_ms=%.2f endpoint_max_ms=%.2f\n", n,
	       got, now_ms() - t0, n ? lat[n / 2] : 0.0, n ? lat[n - 1] : 0.0);
	for (i = n; i < n + extra; i++) {
		double t1 = now_ms();

		if (conn_open(&cs[i], port, req, reqlen) != 0)
			return die("connect failed");
		wait_streams(&cs[i], 1, t1 + 10000);
		if (cs[i].status == 503)
			s503++;
		else
			sother++;
		printf("extra status=%d ms=%.1f\n", cs[i].status, now_ms() - t1);
	}
	printf("extra_503=%d extra_other=%d\n", s503, sother);
	printf("holding\n");
	fflush(stdout);
	/* Hold every stream open until the test closes our stdin. */
	{
		char b[64];

		while (read(STDIN_FILENO, b, sizeof(b)) > 0)
			;
	}
	for (i = 0; i < n + extra; i++)
		conn_close(&cs[i]);
	free(cs);
	free(lat);
	return 0;
}

/* ---- latency ---- */

static int
post_message(struct conn *pc, int port, const char *endpoint, const char *token,
	     const char *body)
{
	char req[4096];
	int n;

	n = snprintf(req, sizeof(req),
		     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		     "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n%s",
		     endpoint, token, strlen(body), body);
	if (n <= 0 || (size_t)n >= sizeof(req))
		return -1;
	return conn_open(pc, port, req, (size_t)n);
}

/* Wait for the event whose data contains want on stream c.  Also drains
 * pc (the POST's connection) if open; *post_status gets its status. */
static int
wait_event(struct conn *c, struct conn *pc, const char *want, double deadline, int *post_status)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
				      {.fd = pc != NULL ? pc->fd : -1, .events = POLLIN}};
		char name[64], data[512];

		while (conn_event(c, name, sizeof(name), data, sizeof(data)))
			if (strcmp(name, "message") == 0 && strstr(data, want) != NULL)
				return 0;
		if (now_ms() > deadline)
			return -1;
		if (poll(p, 2, (int)(deadline - now_ms()) + 1) < 0)
			return -1;
		if (p[0].revents && conn_read(c) != 0 && c->bodylen == 0)
			return -1;
		if (pc != NULL && pc->fd >= 0 && p[1].revents) {
			conn_read(pc);
			if (pc->status != 0) {
				*post_status = pc->status;
				conn_close(pc);
			}
		}
	}
}

static int
cmd_latency(int argc, char **argv)
{
	struct env e;
	struct token_access acc;
	struct conn c, pc;
	struct session s;
	char req[2048], msg[256], want[64];
	double *lat;
	int port, n, okn = 0, post = 0, bad_status = 0;
	const char *q;

	if (argc < 8 || env_open(&e, argv[5]) != 0 || env_verify(&e, argv[4], &acc) != 0)
		return die("usage: latency PORT PATH TOKEN CONFIG N bus|post");
	port = (int)strtol(argv[2], NULL, 10);
	n = (int)strtol(argv[6], NULL, 10);
	post = strcmp(argv[7], "post") == 0;
	lat = calloc((size_t)n + 1, sizeof(*lat));
	if (lat == NULL)
		return die("out of memory");
	if (conn_open(&c, port, req, sse_request(req, sizeof(req), argv[3], argv[4])) != 0 ||
	    wait_streams(&c, 1, now_ms() + 5000) != 1) {
		free(lat);
		return die("stream did not open");
	}
	q = strstr(c.endpoint, "sessionId=");
	if (q == NULL || (!post && session_get(e.st, q + 10, acc.user, &s) != STORE_OK)) {
		free(lat);
		return die("no session for the stream");
	}
	for (int i = 0; i < n; i++) {
		double t0;
		int st = 0, rc;

		snprintf(want, sizeof(want), "\"id\":%d", 1000 + i);
		if (post)
			snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}",
				 1000 + i);
		else
			snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}",
				 1000 + i);
		t0 = now_ms();
		if (post)
			rc = post_message(&pc, port, c.endpoint, argv[4], msg);
		else
			rc = bus_send(s.sock, s.id, msg, strlen(msg), 1000) == BUS_OK ? 0 : -1;
		if (rc != 0)
			break;
		if (wait_event(&c, post ? &pc : NULL, want, t0 + 5000, &st) != 0)
			break;
		lat[okn++] = now_ms() - t0;
		if (post) {
			/* The 202 may come after the event; collect it. */
			double dl = now_ms() + 2000;

			while (pc.fd >= 0 && pc.status == 0 && now_ms() < dl) {
				struct pollfd p = {.fd = pc.fd, .events = POLLIN};

				poll(&p, 1, 100);
				conn_read(&pc);
			}
			st = pc.status;
			conn_close(&pc);
			bad_status += st != 202;
		}
	}
	qsort(lat, (size_t)okn, sizeof(*lat), cmp_double);
	printf("n=%d ok=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f bad_post_status=%d\n", n, okn,
	       okn ? lat[okn / 2] : 0.0, okn ? lat[okn * 99 / 100] : 0.0,
	       okn ? lat[okn - 1] : 0.0, bad_status);
	conn_close(&c);
	env_close(&e);
	free(lat);
	return okn == n ? 0 : 1;
}

/* A client that stops reading after the endpoint event: small receive
 * buffer, then nothing until stdin closes. */
static int
cmd_lazy(int argc, char **argv)
{
	struct conn c;
	char req[2048];
	const char *q;
	int small = 4096;

	if (argc < 5)
		return die("usage: lazy PORT PATH TOKEN");
	if (conn_open(&c, (int)strtol(argv[2], NULL, 10), req,
		      sse_request(req, sizeof(req), argv[3], argv[4])) != 0)
		return die("connect failed");
	setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (wait_streams(&c, 1, now_ms() + 5000) != 1 ||
	    (q = strstr(c.endpoint, "sessionId=")) == NULL)
		return die("stream did not open");
	printf("%s\n", q + 10);
	fflush(stdout);
	{
		char b[64];

		while (read(STDIN_FILENO, b, sizeof(b)) > 0)
			;
	}
	conn_close(&c);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return die("usage: sse_client mint|revoke|session|send|streams|latency ...");
	if (strcmp(argv[1], "mint") == 0)
		return cmd_mint(argc, argv);
	if (strcmp(argv[1], "revoke") == 0)
		return cmd_revoke(argc, argv);
	if (strcmp(argv[1], "session") == 0)
		return cmd_session(argc, argv);
	if (strcmp(argv[1], "send") == 0)
		return cmd_send(argc, argv);
	if (strcmp(argv[1], "flood") == 0)
		return cmd_flood(argc, argv);
	if (strcmp(argv[1], "lazy") == 0)
		return cmd_lazy(argc, argv);
	if (strcmp(argv[1], "streams") == 0)
		return cmd_streams(argc, argv);
	if (strcmp(argv[1], "latency") == 0)
		return cmd_latency(argc, argv);
	return die("unknown command");
}
