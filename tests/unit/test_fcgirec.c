/*
 * test_fcgirec: FastCGI record parsing and encoding (fcgirec.h).
 *
 * Every case is a byte string built from records, parsed in one piece, then
 * again split at every byte boundary and byte by byte: the events (as a
 * trace), the parameters and the standard input must come out the same.
 * Hostile input: bad versions, short and oversized parameters, lengths that
 * run past their record, names that could pose as other names, too many
 * pairs, multiplexing, unknown roles and types, and random bytes.
 */
#include <fastcgi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fcgirec.h"
#include "tap.h"

#define WIRE_MAX (80 * 1024)

struct wire {
	unsigned char b[WIRE_MAX];
	size_t n;
};

static void
w_bytes(struct wire *w, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (w->n + n > sizeof(w->b))
		abort();
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
w_rec(struct wire *w, unsigned version, unsigned type, unsigned id, const void *c, size_t clen,
      unsigned pad)
{
	unsigned char h[8] = {(unsigned char)version, (unsigned char)type,
			      (unsigned char)(id >> 8), (unsigned char)id,
			      (unsigned char)(clen >> 8), (unsigned char)clen,
			      (unsigned char)pad, 0};
	unsigned char zeros[255] = {0};

	w_bytes(w, h, 8);
	w_bytes(w, c, clen);
	w_bytes(w, zeros, pad);
}

static void
w_begin(struct wire *w, unsigned id, unsigned role, unsigned flags)
{
	unsigned char b[8] = {(unsigned char)(role >> 8), (unsigned char)role, (unsigned char)flags};

	w_rec(w, 1, FCGI_BEGIN_REQUEST, id, b, 8, 0);
}

/* One name-value pair in p (1- or 4-byte lengths as the sizes need, or
 * forced long with force4). */
static size_t
nv(unsigned char *p, const char *name, size_t nl, const char *value, size_t vl, int force4)
{
	size_t k = 0;
	size_t lens[2] = {nl, vl};

	for (int i = 0; i < 2; i++) {
		if (lens[i] < 128 && !force4) {
			p[k++] = (unsigned char)lens[i];
		} else {
			p[k++] = (unsigned char)(0x80 | (lens[i] >> 24));
			p[k++] = (unsigned char)(lens[i] >> 16);
			p[k++] = (unsigned char)(lens[i] >> 8);
			p[k++] = (unsigned char)lens[i];
		}
	}
	memcpy(p + k, name, nl);
	memcpy(p + k + nl, value, vl);
	return k + nl + vl;
}

static void
w_params(struct wire *w, unsigned id, const char *const *pairs, size_t npairs)
{
	unsigned char c[4096];
	size_t n = 0;

	for (size_t i = 0; i < npairs; i++)
		n += nv(c + n, pairs[2 * i], strlen(pairs[2 * i]), pairs[2 * i + 1],
			strlen(pairs[2 * i + 1]), 0);
	w_rec(w, 1, FCGI_PARAMS, id, c, n, 0);
}

/* A typical request: begin, parameters, their end, empty stdin. */
static void
w_request(struct wire *w, unsigned id, unsigned flags)
{
	static const char *const p[] = {"REQUEST_METHOD", "GET", "REQUEST_URI",
					"/mcp/sse?x=1", "HTTP_AUTHORIZATION", "Bearer abc"};

	w_begin(w, id, FCGI_RESPONDER, flags);
	w_params(w, id, p, 3);
	w_rec(w, 1, FCGI_PARAMS, id, NULL, 0, 0);
	w_rec(w, 1, FCGI_STDIN, id, NULL, 0, 0);
}

/* What a parse produced: the events as text, and the standard input. */
struct trace {
	struct buf t;
	struct buf in;
};

static void
trace_ev(struct trace *tr, struct fcgirec *p, const struct fcgirec_ev *ev)
{
	switch (ev->type) {
	case FCGIREC_PARAMS: {
		char **env = fcgirec_env(p);

		buf_printf(&tr->t, "P%u%s[", ev->id, fcgirec_keep_conn(p) ? "k" : "");
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			buf_printf(&tr->t, "%s;", env[i]);
		buf_puts(&tr->t, "] ");
		break;
	}
	case FCGIREC_STDIN:
		if (ev->len == 0)
			buf_printf(&tr->t, "E%u ", ev->id);
		else
			buf_append(&tr->in, ev->data, ev->len);
		break;
	case FCGIREC_ABORT:
		buf_printf(&tr->t, "A%u ", ev->id);
		break;
	case FCGIREC_REPLY:
		buf_puts(&tr->t, "R");
		for (size_t i = 0; i < ev->reply_len; i++)
			buf_printf(&tr->t, "%02x", ev->reply[i]);
		buf_puts(&tr->t, " ");
		break;
	case FCGIREC_ERROR:
		buf_printf(&tr->t, "X(%s) ", ev->error != NULL ? ev->error : "?");
		break;
	default:
		break;
	}
}

/* Feed in[0..n); 0, or -1 when the parser broke its contract. */
static int
feed_all(struct fcgirec *p, const unsigned char *in, size_t n, struct trace *tr)
{
	size_t off = 0;

	for (int guard = 0; guard < 100000; guard++) {
		struct fcgirec_ev ev;
		size_t used = 0;
		enum fcgirec_event r = fcgirec_feed(p, in + off, n - off, &used, &ev);

		if (used > n - off || r != ev.type)
			return -1;
		off += used;
		if (r == FCGIREC_NONE)
			return off == n ? 0 : -1;
		trace_ev(tr, p, &ev);
		if (r == FCGIREC_ERROR)
			return 0;
	}
	return -1;
}

static void
trace_init(struct trace *tr)
{
	buf_init(&tr->t, 0);
	buf_init(&tr->in, 0);
}

static void
trace_free(struct trace *tr)
{
	buf_free(&tr->t);
	buf_free(&tr->in);
}

static const char *
str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One error event and nothing else. */
static int
just_error(const char *s)
{
	size_t n = strlen(s);

	return starts(s, "X(") && n > 3 && strcmp(s + n - 2, ") ") == 0 && strstr(s + 1, "X(") == NULL;
}

static void
hex(char *out, size_t outsz, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && 2 * i + 2 < outsz; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Parse whole, then split at every boundary, then byte by byte; all must
 * give want (events) and want_in (stdin). */
static void
check(const char *name, const struct wire *w, const char *want, const char *want_in)
{
	struct trace one;
	struct fcgirec p;
	int same = 1, contract = 1;
	size_t bad_at = 0;

	trace_init(&one);
	fcgirec_init(&p);
	contract &= feed_all(&p, w->b, w->n, &one) == 0;
	fcgirec_free(&p);
	is_str(str(&one.t), want, "%s: events", name);
	is_str(str(&one.in), want_in, "%s: standard input", name);
	for (size_t cut = 1; cut < w->n && same; cut++) {
		struct trace tr;

		trace_init(&tr);
		fcgirec_init(&p);
		contract &= feed_all(&p, w->b, cut, &tr) == 0;
		contract &= feed_all(&p, w->b + cut, w->n - cut, &tr) == 0;
		if (strcmp(str(&tr.t), str(&one.t)) != 0 || strcmp(str(&tr.in), str(&one.in)) != 0) {
			same = 0;
			bad_at = cut;
		}
		fcgirec_free(&p);
		trace_free(&tr);
	}
	ok(same, "%s: the same when split at any byte (first difference at %zu)", name, bad_at);
	{
		struct trace tr;

		trace_init(&tr);
		fcgirec_init(&p);
		for (size_t i = 0; i < w->n; i++)
			contract &= feed_all(&p, w->b + i, 1, &tr) == 0;
		ok(strcmp(str(&tr.t), str(&one.t)) == 0 && strcmp(str(&tr.in), str(&one.in)) == 0,
		   "%s: the same byte by byte", name);
		fcgirec_free(&p);
		trace_free(&tr);
	}
	ok(contract, "%s: used <= len, one event per call, all input consumed", name);
	trace_free(&one);
}

static const char happy_env[] =
	"[REQUEST_METHOD=GET;REQUEST_URI=/mcp/sse?x=1;HTTP_AUTHORIZATION=Bearer abc;] ";

static void
test_happy(void)
{
	struct wire w = {.n = 0};
	char want[512];

	w_request(&w, 1, 0);
	snprintf(want, sizeof(want), "P1%sE1 ", happy_env);
	check("GET request", &w, want, "");

	w.n = 0;
	w_request(&w, 7, FCGI_KEEP_CONN);
	snprintf(want, sizeof(want), "P7k%sE7 ", happy_env);
	check("keep_conn flag", &w, want, "");

	/* Parameters spread over several records, padding, long lengths. */
	w.n = 0;
	w_begin(&w, 2, FCGI_RESPONDER, 0);
	{
		unsigned char c[1024];
		char v[300];
		size_t n;

		memset(v, 'v', sizeof(v));
		n = nv(c, "A", 1, "1", 1, 1);
		w_rec(&w, 1, FCGI_PARAMS, 2, c, n, 3);
		n = nv(c, "LONG", 4, v, sizeof(v), 0);
		w_rec(&w, 1, FCGI_PARAMS, 2, c, 5, 0);          /* pair split over records */
		w_rec(&w, 1, FCGI_PARAMS, 2, c + 5, n - 5, 7);
		n = nv(c, "EMPTY", 5, "", 0, 0);
		w_rec(&w, 1, FCGI_PARAMS, 2, c, n, 0);
	}
	w_rec(&w, 1, FCGI_PARAMS, 2, NULL, 0, 0);
	w_rec(&w, 1, FCGI_STDIN, 2, "hello ", 6, 2);
	w_rec(&w, 1, FCGI_STDIN, 2, "world", 5, 0);
	w_rec(&w, 1, FCGI_DATA, 2, "ignored", 7, 0);
	w_rec(&w, 1, FCGI_STDIN, 2, NULL, 0, 0);
	{
		char v[301];
		char want2[1024];

		memset(v, 'v', 300);
		v[300] = '\0';
		snprintf(want2, sizeof(want2), "P2[A=1;LONG=%s;EMPTY=;] E2 ", v);
		check("split pairs, padding, 4-byte lengths, stdin", &w, want2, "hello world");
	}
}

static void
test_management(void)
{
	struct wire w = {.n = 0};
	char want[1024];

	/* Records of other requests are ignored; an abort of ours is seen. */
	w_request(&w, 3, 0);
	w_rec(&w, 1, FCGI_STDIN, 4, "other", 5, 0);
	w_rec(&w, 1, FCGI_PARAMS, 4, "\x01\x01" "AB", 4, 0);
	w_rec(&w, 1, FCGI_ABORT_REQUEST, 4, NULL, 0, 0);
	w_rec(&w, 1, FCGI_ABORT_REQUEST, 3, NULL, 0, 0);
	snprintf(want, sizeof(want), "P3%sE3 A3 ", happy_env);
	check("abort, other ids ignored", &w, want, "");

	/* A second request meanwhile: FCGI_CANT_MPX_CONN (§5.1). */
	w.n = 0;
	w_request(&w, 1, 0);
	w_begin(&w, 2, FCGI_RESPONDER, 0);
	snprintf(want, sizeof(want), "P1%sE1 R01030002000800000000000001000000 ", happy_env);
	check("second request refused", &w, want, "");

	/* Another role: FCGI_UNKNOWN_ROLE, and no request starts. */
	w.n = 0;
	w_begin(&w, 5, FCGI_AUTHORIZER, 0);
	w_rec(&w, 1, FCGI_PARAMS, 5, NULL, 0, 0);
	check("authorizer role refused", &w, "R01030005000800000000000003000000 ", "");

	/* Management: values, and unknown types (inbound STDOUT included). */
	{
		static const unsigned char vals[] =
			"\x01\x0a\x00\x00\x00\x33\x00\x00"
			"\x0e\x01" "FCGI_MAX_CONNS" "1"
			"\x0d\x01" "FCGI_MAX_REQS" "1"
			"\x0f\x01" "FCGI_MPXS_CONNS" "0";
		char h[256];

		hex(h, sizeof(h), vals, sizeof(vals) - 1);
		snprintf(want, sizeof(want),
			 "R%s R010b0000000800006300000000000000 R010b0000000800000600000000000000 ",
			 h);
	}
	w.n = 0;
	w_rec(&w, 1, FCGI_GET_VALUES, 0, "\x0e\x00" "FCGI_MAX_CONNS", 16, 0);
	w_rec(&w, 1, 99, 0, "xyz", 3, 5);
	w_rec(&w, 1, FCGI_STDOUT, 1, NULL, 0, 0);
	check("get values, unknown types", &w, want, "");
}

/* The GET_VALUES answer with the caller's connection count. */
static void
test_values(void)
{
	struct fcgirec p;
	struct fcgirec_ev ev;
	struct wire w = {.n = 0};
	size_t used;
	static const unsigned char want[] =
		"\x01\x0a\x00\x00\x00\x33\x00\x00"
		"\x0e\x01" "FCGI_MAX_CONNS" "5"
		"\x0d\x01" "FCGI_MAX_REQS" "5"
		"\x0f\x01" "FCGI_MPXS_CONNS" "0";

	fcgirec_init(&p);
	p.max_conns = 5;
	w_rec(&w, 1, FCGI_GET_VALUES, 0, NULL, 0, 0);
	is_int(fcgirec_feed(&p, w.b, w.n, &used, &ev), FCGIREC_REPLY, "GET_VALUES answered");
	is_int(ev.reply_len, sizeof(want) - 1, "result length");
	ok(ev.reply_len == sizeof(want) - 1 && memcmp(ev.reply, want, sizeof(want) - 1) == 0,
	   "FCGI_MAX_CONNS=5 FCGI_MAX_REQS=5 FCGI_MPXS_CONNS=0");
	fcgirec_free(&p);
}

static void
test_hostile(void)
{
	static const struct {
		const char *name;
		unsigned char bytes[64];
		size_t n;
	} raw[] = {
		{"version 0", {0, 1, 0, 1, 0, 8, 0, 0}, 8},
		{"version 2", {2, 1, 0, 1, 0, 8, 0, 0}, 8},
		{"begin with 7 bytes", {1, 1, 0, 1, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0}, 15},
		{"begin with id 0", {1, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, 16},
	};
	struct wire w;
	char longname[40000];

	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		w.n = 0;
		w_bytes(&w, raw[i].bytes, raw[i].n);
		/* Anything after an error is never parsed. */
		w_request(&w, 1, 0);
		{
			struct trace tr;
			struct fcgirec p;

			trace_init(&tr);
			fcgirec_init(&p);
			feed_all(&p, w.b, w.n, &tr);
			ok(just_error(str(&tr.t)), "%s: one error, nothing after (%s)", raw[i].name,
			   str(&tr.t));
			fcgirec_free(&p);
			trace_free(&tr);
		}
	}

	/* Pair lengths that run past the parameters. */
	static const struct {
		const char *name;
		const char *c;
		size_t n;
	} bad[] = {
		{"name length past the end", "\x05\x01" "AB", 4},
		{"value length past the end", "\x01\x05" "AB", 4},
		{"4-byte length cut short", "\x80\x00", 2},
		{"huge 4-byte length", "\xff\xff\xff\xff\x01" "A", 6},
		{"empty name", "\x00\x01" "x", 3},
		{"'=' in a name", "\x03\x01" "A=BC", 5},
		{"NUL in a name", "\x02\x01" "A\0C", 5},
		{"NUL in a value", "\x01\x02" "AB\0", 5},
		{"lone length byte", "\x01", 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w.n = 0;
		w_begin(&w, 1, FCGI_RESPONDER, 0);
		w_rec(&w, 1, FCGI_PARAMS, 1, bad[i].c, bad[i].n, 0);
		w_rec(&w, 1, FCGI_PARAMS, 1, NULL, 0, 0);
		check(bad[i].name, &w, "X(malformed request parameters) ", "");
	}

	/* Over 32 KiB of parameters in all, across records. */
	memset(longname, 'N', sizeof(longname));
	w.n = 0;
	w_begin(&w, 1, FCGI_RESPONDER, 0);
	for (int r = 0; r < 2; r++) {
		unsigned char c[20000];
		size_t n = nv(c, longname, 17000, "v", 1, 0);

		w_rec(&w, 1, FCGI_PARAMS, 1, c, n, 0);
	}
	{
		struct trace tr;
		struct fcgirec p;

		trace_init(&tr);
		fcgirec_init(&p);
		feed_all(&p, w.b, w.n, &tr);
		is_str(str(&tr.t), "X(request parameters over the limit) ", "parameters over 32 KiB");
		fcgirec_free(&p);
		trace_free(&tr);
	}

	/* Too many pairs, each small. */
	w.n = 0;
	w_begin(&w, 1, FCGI_RESPONDER, 0);
	{
		unsigned char c[4096];
		size_t n = 0;

		for (int i = 0; i < FCGIREC_ENV_MAX + 1; i++)
			n += nv(c + n, "K", 1, "", 0, 0);
		w_rec(&w, 1, FCGI_PARAMS, 1, c, n, 0);
		w_rec(&w, 1, FCGI_PARAMS, 1, NULL, 0, 0);
		check("more pairs than FCGIREC_ENV_MAX", &w, "X(malformed request parameters) ", "");
	}
	/* Exactly the maximum is fine. */
	w.n = 0;
	w_begin(&w, 1, FCGI_RESPONDER, 0);
	{
		unsigned char c[4096];
		size_t n = 0;
		struct trace tr;
		struct fcgirec p;

		for (int i = 0; i < FCGIREC_ENV_MAX; i++)
			n += nv(c + n, "K", 1, "", 0, 0);
		w_rec(&w, 1, FCGI_PARAMS, 1, c, n, 0);
		w_rec(&w, 1, FCGI_PARAMS, 1, NULL, 0, 0);
		trace_init(&tr);
		fcgirec_init(&p);
		feed_all(&p, w.b, w.n, &tr);
		ok(starts(str(&tr.t), "P1["), "FCGIREC_ENV_MAX pairs accepted");
		fcgirec_free(&p);
		trace_free(&tr);
	}
}

/* A connection that carries a second request after the first ends. */
static void
test_keep_conn(void)
{
	struct wire w = {.n = 0};
	struct fcgirec p;
	struct trace tr;

	w_request(&w, 1, FCGI_KEEP_CONN);
	trace_init(&tr);
	fcgirec_init(&p);
	feed_all(&p, w.b, w.n, &tr);
	is_int(fcgirec_request_id(&p), 1, "request 1 active");
	fcgirec_drop_env(&p);
	ok(fcgirec_env(&p) == NULL, "environment dropped early");
	is_int(fcgirec_request_id(&p), 1, "... the request stays active");
	fcgirec_end_request(&p);
	is_int(fcgirec_request_id(&p), 0, "ended");
	w.n = 0;
	w_request(&w, 2, 0);
	buf_reset(&tr.t);
	feed_all(&p, w.b, w.n, &tr);
	ok(starts(str(&tr.t), "P2[REQUEST_METHOD=GET;"), "the next request on the same connection");
	is_int(fcgirec_keep_conn(&p), 0, "... without keep_conn");
	fcgirec_free(&p);
	fcgirec_free(NULL);
	trace_free(&tr);
}

/* Decode records from b, checking each header; returns the STDOUT bytes. */
static int
decode(const struct buf *b, unsigned id, struct buf *out, int *ended, size_t *records)
{
	size_t i = 0;

	*ended = 0;
	*records = 0;
	while (i < b->len) {
		const unsigned char *h = (const unsigned char *)b->data + i;
		size_t clen;

		if (b->len - i < 8 || h[0] != 1 || ((unsigned)h[2] << 8 | h[3]) != id)
			return -1;
		clen = (size_t)h[4] << 8 | h[5];
		if (b->len - i - 8 < clen + h[6])
			return -1;
		if (h[1] == FCGI_STDOUT)
			buf_append(out, h + 8, clen);
		else if (h[1] == FCGI_END_REQUEST && clen == 8 && h[12] == FCGI_REQUEST_COMPLETE)
			*ended = 1;
		else
			return -1;
		i += 8 + clen + h[6];
		(*records)++;
	}
	return 0;
}

static void
test_encode(void)
{
	struct buf b, out;
	size_t n = 70000, records;
	char *data = malloc(n);
	int ended;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	buf_init(&b, 0);
	buf_init(&out, 0);
	is_int(fcgirec_stdout(&b, 258, data, n), 0, "70000 bytes encoded");
	is_int(b.len, n + fcgirec_overhead(n), "... with %zu bytes of headers", fcgirec_overhead(n));
	is_int(fcgirec_overhead(n), 16, "two records");
	is_int(decode(&b, 258, &out, &ended, &records), 0, "records decode");
	ok(out.len == n && memcmp(out.data, data, n) == 0, "data round-trips");
	is_int(records, 2, "split at 65535");
	buf_reset(&b);
	is_int(fcgirec_stdout(&b, 1, data, 0), 0, "nothing to send");
	is_int(b.len, 0, "... adds no record (an empty one would end the stream)");
	is_int(fcgirec_end(&b, 1, 0), 0, "end encoded");
	buf_reset(&out);
	is_int(decode(&b, 1, &out, &ended, &records), 0, "end decodes");
	ok(ended && out.len == 0 && records == 2, "empty STDOUT then END_REQUEST complete");
	buf_free(&b);
	buf_init(&b, 100);
	is_int(fcgirec_stdout(&b, 1, data, 200), -1, "a full buffer is an error");
	buf_free(&b);
	buf_free(&out);
	free(data);
}

/* Random bytes, and random mutations of a valid request: no crash, no
 * contract breach (ASan/UBSan watch the rest). */
static void
test_random(void)
{
	unsigned long long s = 0x9e3779b97f4a7c15ull;
	int contract = 1;

	for (int round = 0; round < 3000; round++) {
		struct wire w = {.n = 0};
		struct fcgirec p;
		struct trace tr;

		w_request(&w, 1, FCGI_KEEP_CONN);
		w_rec(&w, 1, FCGI_STDIN, 1, "abc", 3, 1);
		for (int k = 0; k < 1 + round % 8; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			w.b[(s >> 33) % w.n] = (unsigned char)(s >> 25);
		}
		if (round % 3 == 0) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			w.n = (s >> 33) % w.n + 1;
		}
		trace_init(&tr);
		fcgirec_init(&p);
		for (size_t i = 0; i < w.n; i += 1 + (size_t)(round % 5)) {
			size_t n = w.n - i < 1 + (size_t)(round % 5) ? w.n - i : 1 + (size_t)(round % 5);

			contract &= feed_all(&p, w.b + i, n, &tr) == 0;
		}
		fcgirec_free(&p);
		trace_free(&tr);
	}
	ok(contract, "3000 mutated requests parse within the contract");
}

int
main(void)
{
	test_happy();
	test_management();
	test_values();
	test_hostile();
	test_keep_conn();
	test_encode();
	test_random();
	return tap_done();
}
