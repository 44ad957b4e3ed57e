/*
 * test_bus_sse: the receiving end of the bus inside the sse process — the
 * stream registry and per-stream queues (sse.h) and the SSE event framing.
 * Order, the stream a delivery names, the per-stream and global limits (a
 * client that never reads), stop/drain, iteration that closes streams, and
 * many streams at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"
#include "tap.h"

static char *
dup_msg(const char *s)
{
	return strdup(s);
}

static void
test_basic(void)
{
	struct sse_hub *h = sse_hub_new(NULL);
	struct sse_stream *a, *b, *to = NULL;
	int owner_a, owner_b;
	char *d;
	size_t n;

	a = sse_stream_open(h, "aaaa", &owner_a);
	b = sse_stream_open(h, "bbbb", &owner_b);
	ok(a != NULL && b != NULL, "two streams open");
	ok(sse_stream_owner(a) == &owner_a && sse_stream_owner(b) == &owner_b, "owners kept");
	ok(sse_stream_open(h, "aaaa", NULL) == NULL, "a duplicate id is refused");
	ok(sse_stream_open(h, "", NULL) == NULL, "an empty id is refused");
	{
		char longid[80];

		memset(longid, 'x', sizeof(longid) - 1);
		longid[sizeof(longid) - 1] = '\0';
		ok(sse_stream_open(h, longid, NULL) == NULL, "an id over 64 characters is refused");
	}
	is_int(sse_hub_count(h), 2, "count 2");
	ok(!sse_stream_ready(a), "idle stream not ready");
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_NONE, "nothing queued");
	ok(d == NULL && n == 0, "... and nothing returned");
	is_int(sse_hub_deliver(h, "aaaa", dup_msg("one"), 3, &to), SSE_DELIVERED, "deliver one");
	ok(to == a, "delivery names the stream to flush");
	is_int(sse_hub_deliver(h, "aaaa", dup_msg("two"), 3, NULL), SSE_DELIVERED, "deliver two");
	is_int(sse_hub_queued(h), 6, "6 bytes queued in all");
	is_int(sse_hub_deliver(h, "zzzz", dup_msg("x"), 1, &to), SSE_NO_STREAM, "unknown id");
	ok(to == NULL, "... names no stream");
	ok(sse_stream_ready(a), "stream a ready");
	ok(!sse_stream_ready(b), "stream b not ready");
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_MSG, "first message");
	ok(d != NULL && n == 3 && strcmp(d, "one") == 0, "in order: one");
	free(d);
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_MSG, "second message");
	ok(d != NULL && strcmp(d, "two") == 0, "in order: two");
	free(d);
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_NONE, "queue empty again");
	ok(!sse_stream_ready(a), "no longer ready");
	is_int(sse_hub_queued(h), 0, "nothing queued in all");
	/* Closing a stream with queued messages frees them (ASan checks). */
	sse_hub_deliver(h, "bbbb", dup_msg("left"), 4, NULL);
	sse_stream_close(h, b);
	is_int(sse_hub_queued(h), 0, "a closed stream's queue leaves the total");
	is_int(sse_hub_deliver(h, "bbbb", dup_msg("late"), 4, NULL), SSE_NO_STREAM,
	       "closed stream no longer receives");
	ok(sse_stream_open(h, "bbbb", NULL) != NULL, "its id may be opened again");
	sse_stream_close(h, a);
	sse_stream_close(h, NULL);
	is_int(sse_hub_count(h), 1, "count 1");
	{
		struct sse_stream *again = NULL;

		sse_hub_deliver(h, "bbbb", dup_msg("z"), 1, &again);
		sse_stream_close(h, again);
	}
	is_int(sse_hub_count(h), 0, "count 0");
	sse_hub_free(h);
	sse_hub_free(NULL);
}

static void
test_limits(void)
{
	struct sse_limits lim = {.stream_bytes = 100, .stream_msgs = 4, .total_bytes = 1000};
	struct sse_hub *h = sse_hub_new(&lim);
	struct sse_stream *a, *b, *c, *to;
	char big[300], *d;
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	a = sse_stream_open(h, "a", NULL);
	/* An empty queue takes one message of any size. */
	is_int(sse_hub_deliver(h, "a", dup_msg(big), 299, NULL), SSE_DELIVERED,
	       "a message over stream_bytes fits an empty queue");
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_MSG, "and comes out");
	free(d);
	for (int i = 0; i < 4; i++)
		sse_hub_deliver(h, "a", dup_msg("12345"), 5, NULL);
	to = NULL;
	is_int(sse_hub_deliver(h, "a", dup_msg("12345"), 5, &to), SSE_OVERFLOW,
	       "fifth queued message is over stream_msgs");
	ok(to == a, "overflow names the stream to end");
	is_int(sse_hub_queued(h), 0, "its queue is dropped at once");
	ok(sse_stream_ready(a), "overflowed stream ready");
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_OVERFLOW, "stream told to end");
	is_int(sse_hub_deliver(h, "a", dup_msg("1"), 1, NULL), SSE_OVERFLOW, "stays overflowed");
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_OVERFLOW, "still told to end");
	sse_stream_close(h, a);

	b = sse_stream_open(h, "b", NULL);
	is_int(sse_hub_deliver(h, "b", dup_msg(big), 60, NULL), SSE_DELIVERED, "60 bytes queued");
	is_int(sse_hub_deliver(h, "b", dup_msg(big), 41, NULL), SSE_OVERFLOW,
	       "101 bytes is over stream_bytes");
	sse_stream_close(h, b);

	sse_hub_free(h);

	/* The global cap: streams that each stay under their own limit. */
	lim = (struct sse_limits){.stream_bytes = 400, .stream_msgs = 100, .total_bytes = 1000};
	h = sse_hub_new(&lim);
	c = sse_stream_open(h, "c", NULL);
	b = sse_stream_open(h, "b", NULL);
	a = sse_stream_open(h, "a", NULL);
	{
		int r = SSE_DELIVERED, k = 0;
		const char *ids[] = {"a", "b", "c"};

		for (k = 0; k < 30 && r == SSE_DELIVERED; k++)
			r = sse_hub_deliver(h, ids[k % 3], dup_msg(big), 95, NULL);
		is_int(r, SSE_OVERFLOW, "total_bytes bounds all streams together");
		is_int(k, 11, "the 11th message (1045 bytes queued in all) is refused");
		ok(sse_hub_queued(h) <= 1000, "queued stays within total_bytes (%zu)",
		   sse_hub_queued(h));
	}
	sse_stream_close(h, a);
	sse_stream_close(h, b);
	sse_stream_close(h, c);
	is_int(sse_hub_queued(h), 0, "every byte accounted for after close");
	sse_hub_free(h);
}

struct each_arg {
	struct sse_hub *h;
	int seen, closed;
};

static void
each_close_odd(struct sse_stream *s, void *arg)
{
	struct each_arg *e = arg;

	e->seen++;
	if (*(int *)sse_stream_owner(s) % 2) {
		sse_stream_close(e->h, s);
		e->closed++;
	}
}

static void
test_stop(void)
{
	struct sse_hub *h = sse_hub_new(NULL);
	struct sse_stream *a = sse_stream_open(h, "a", NULL);
	char *d;
	size_t n;

	sse_hub_deliver(h, "a", dup_msg("pending"), 7, NULL);
	sse_hub_stop(h);
	ok(sse_stream_open(h, "b", NULL) == NULL, "no new stream after stop");
	ok(sse_stream_ready(a), "open stream ready after stop");
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_MSG, "queued message still delivered");
	free(d);
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_STOP, "then told to stop");
	is_int(sse_stream_next(a, &d, &n), SSE_NEXT_STOP, "... every time it asks");
	sse_stream_close(h, a);
	is_int(sse_hub_count(h), 0, "closed");
	sse_hub_free(h);
}

/* Thousands of streams: each gets exactly its own messages, in order, and
 * iteration may close the stream it is given. */
static void
test_many(void)
{
	enum { N = 5000 };
	struct sse_hub *h = sse_hub_new(NULL);
	static int owners[N];
	struct each_arg e = {h, 0, 0};
	char id[32], m[32];
	int opened = 0, right = 1;

	for (int i = 0; i < N; i++) {
		owners[i] = i;
		snprintf(id, sizeof(id), "sess-%d", i);
		opened += sse_stream_open(h, id, &owners[i]) != NULL;
	}
	is_int(opened, N, "%d streams open", N);
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < N; i++) {
			struct sse_stream *to = NULL;

			snprintf(id, sizeof(id), "sess-%d", i);
			snprintf(m, sizeof(m), "%d:%d", i, r);
			if (sse_hub_deliver(h, id, dup_msg(m), strlen(m), &to) != SSE_DELIVERED ||
			    to == NULL || *(int *)sse_stream_owner(to) != i)
				right = 0;
		}
	ok(right, "each delivery names its own stream");
	sse_hub_each(h, each_close_odd, &e);
	is_int(e.seen, N, "each visits every stream");
	is_int(e.closed, N / 2, "and may close the one it visits");
	is_int(sse_hub_count(h), N - N / 2, "count follows");
	for (int i = 0; i < N && right; i += 2) {
		struct sse_stream *to = NULL;

		snprintf(id, sizeof(id), "sess-%d", i);
		sse_hub_deliver(h, id, dup_msg("last"), 4, &to);
		for (int r = 0; r < 3 && to != NULL; r++) {
			char *d;
			size_t n;

			snprintf(m, sizeof(m), "%d:%d", i, r);
			right &= sse_stream_next(to, &d, &n) == SSE_NEXT_MSG && strcmp(d, m) == 0;
			free(d);
		}
		sse_stream_close(h, to);
	}
	ok(right, "every remaining stream has its messages in order");
	is_int(sse_hub_count(h), 0, "all closed");
	is_int(sse_hub_queued(h), 0, "nothing queued");
	sse_hub_free(h);
}

static void
test_format(void)
{
	static const struct {
		const char *event;
		const char *data;
		const char *want; /* NULL: refused */
	} cases[] = {
		{"endpoint", "/mcp/message?sessionId=abc",
		 "event: endpoint\ndata: /mcp/message?sessionId=abc\n\n"},
		{"message", "{\"jsonrpc\":\"2.0\",\"id\":1}",
		 "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1}\n\n"},
		{NULL, "x", "data: x\n\n"},
		{"message", "", "event: message\ndata: \n\n"},
		{"message", "a\nb", "event: message\ndata: a\ndata: b\n\n"},
		{"message", "a\r\nb", "event: message\ndata: a\ndata: b\n\n"},
		{"message", "a\rb", "event: message\ndata: a\ndata: b\n\n"},
		{"message", "a\n\nevent: evil\n",
		 "event: message\ndata: a\ndata: \ndata: event: evil\ndata: \n\n"},
		{"message", "a\r", "event: message\ndata: a\ndata: \n\n"},
		{"bad\nname", "x", NULL},
		{"bad\rname", "x", NULL},
		{"", "x", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		int rc;

		buf_init(&b, 0);
		rc = sse_format_event(&b, cases[i].event, cases[i].data, strlen(cases[i].data));
		if (cases[i].want == NULL)
			is_int(rc, -1, "format case %zu refused", i);
		else
			ok(rc == 0 && b.data != NULL && strcmp(b.data, cases[i].want) == 0,
			   "format case %zu", i);
		buf_free(&b);
	}
	{
		struct buf b;

		buf_init(&b, 0);
		is_int(sse_format_event(&b, "message", "a\0b", 3), -1, "NUL in data refused");
		buf_free(&b);
		buf_init(&b, 10);
		is_int(sse_format_event(&b, "message", "0123456789", 10), -1,
		       "buffer cap respected");
		buf_free(&b);
	}
}

int
main(void)
{
	test_basic();
	test_limits();
	test_stop();
	test_many();
	test_format();
	return tap_done();
}
