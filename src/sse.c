/*
 * sse: stream registry and per-stream queues.  See sse.h.
 *
 * Single-threaded: the sse program's event loop is the only user, so there
 * is no lock and no wake-up descriptor per stream; a delivery returns the
 * stream, and the loop writes to its connection at once.  Every operation
 * is O(1) but sse_hub_each (a hash lookup, a list append or pop).
 */
#include "sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SSE_BUCKETS 4096 /* power of two; ~2 streams a chain at 10,000 */
#define SSE_ID_MAX 64

struct sse_item {
	struct sse_item *next;
	char *data;
	size_t len;
};

struct sse_stream {
	struct sse_stream *next; /* hash chain */
	struct sse_hub *hub;
	void *owner;
	struct sse_item *head, *tail;
	size_t qbytes, qmsgs;
	int overflow;
	int stopping;            /* set by sse_hub_stop */
	char id[SSE_ID_MAX + 1];
};

struct sse_hub {
	struct sse_limits lim;
	size_t total;   /* queued bytes, all streams */
	size_t count;   /* open streams */
	int stopping;
	struct sse_stream *bucket[SSE_BUCKETS];
};

void
sse_limits_default(struct sse_limits *lim)
{
	lim->stream_bytes = (size_t)4 * 1024 * 1024;
	lim->stream_msgs = 1024;
	lim->total_bytes = (size_t)64 * 1024 * 1024;
}

/* FNV-1a: ids are random, so anything that spreads bytes will do. */
static size_t
sse_hash(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h & (SSE_BUCKETS - 1);
}

static struct sse_stream **
sse_find(struct sse_hub *h, const char *id)
{
	struct sse_stream **pp = &h->bucket[sse_hash(id)];

	while (*pp != NULL && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
}

struct sse_hub *
sse_hub_new(const struct sse_limits *lim)
{
	struct sse_hub *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if (lim != NULL)
		h->lim = *lim;
	else
		sse_limits_default(&h->lim);
	return h;
}

void
sse_hub_free(struct sse_hub *h)
{
	free(h);
}

struct sse_stream *
sse_stream_open(struct sse_hub *h, const char *session_id, void *owner)
{
	struct sse_stream *s, **pp;
	size_t n = strlen(session_id);

	if (n == 0 || n > SSE_ID_MAX || h->stopping)
		return NULL;
	pp = sse_find(h, session_id);
	if (*pp != NULL || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	memcpy(s->id, session_id, n + 1);
	s->owner = owner;
	s->hub = h;
	*pp = s;
	h->count++;
	return s;
}

void *
sse_stream_owner(const struct sse_stream *s)
{
	return s->owner;
}

int
sse_stream_ready(const struct sse_stream *s)
{
	return s->head != NULL || s->overflow || s->stopping;
}

/* Drop s's queue. */
static void
sse_queue_clear(struct sse_hub *h, struct sse_stream *s)
{
	while (s->head != NULL) {
		struct sse_item *it = s->head;

		s->head = it->next;
		h->total -= it->len;
		free(it->data);
		free(it);
	}
	s->tail = NULL;
	s->qbytes = s->qmsgs = 0;
}

enum sse_next
sse_stream_next(struct sse_stream *s, char **data, size_t *len)
{
	struct sse_item *it = s->head;

	*data = NULL;
	*len = 0;
	if (s->overflow)
		return SSE_NEXT_OVERFLOW;
	if (it == NULL)
		return s->stopping ? SSE_NEXT_STOP : SSE_NEXT_NONE;
	s->head = it->next;
	if (s->head == NULL)
		s->tail = NULL;
	s->qbytes -= it->len;
	s->qmsgs--;
	s->hub->total -= it->len;
	*data = it->data;
	*len = it->len;
	free(it);
	return SSE_NEXT_MSG;
}

void
sse_stream_close(struct sse_hub *h, struct sse_stream *s)
{
	struct sse_stream **pp;

	if (s == NULL)
		return;
	pp = sse_find(h, s->id);
	if (*pp == s) {
		*pp = s->next;
		h->count--;
	}
	sse_queue_clear(h, s);
	free(s);
}

/* Would queuing len more bytes for s break a limit?  An empty queue takes
 * one message of any size (the bus already caps it), so a single large
 * response is never refused on its own. */
static int
sse_over(const struct sse_hub *h, const struct sse_stream *s, size_t len)
{
	if (s->qmsgs >= h->lim.stream_msgs)
		return 1;
	if (len > h->lim.total_bytes - (h->total < h->lim.total_bytes ? h->total : h->lim.total_bytes))
		return 1;
	return s->qmsgs > 0 &&
	       (s->qbytes >= h->lim.stream_bytes || len > h->lim.stream_bytes - s->qbytes);
}

enum sse_deliver
sse_hub_deliver(struct sse_hub *h, const char *session_id, char *data, size_t len,
		struct sse_stream **to)
{
	struct sse_stream *s = *sse_find(h, session_id);
	struct sse_item *it;

	if (to != NULL)
		*to = s;
	if (s == NULL) {
		free(data);
		return SSE_NO_STREAM;
	}
	it = s->overflow || sse_over(h, s, len) ? NULL : malloc(sizeof(*it));
	if (it == NULL) {
		s->overflow = 1;
		sse_queue_clear(h, s);
		free(data);
		return SSE_OVERFLOW;
	}
	it->next = NULL;
	it->data = data;
	it->len = len;
	if (s->tail != NULL)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	s->qbytes += len;
	s->qmsgs++;
	h->total += len;
	return SSE_DELIVERED;
}

void
sse_hub_each(struct sse_hub *h, void (*fn)(struct sse_stream *, void *), void *arg)
{
	for (size_t i = 0; i < SSE_BUCKETS; i++) {
		struct sse_stream *s = h->bucket[i], *next;

		for (; s != NULL; s = next) {
			next = s->next; /* fn may close s */
			fn(s, arg);
		}
	}
}

static void
sse_stop_one(struct sse_stream *s, void *arg)
{
	(void)arg;
	s->stopping = 1;
}

void
sse_hub_stop(struct sse_hub *h)
{
	h->stopping = 1;
	sse_hub_each(h, sse_stop_one, NULL);
}

size_t
sse_hub_count(const struct sse_hub *h)
{
	return h->count;
}

size_t
sse_hub_queued(const struct sse_hub *h)
{
	return h->total;
}

/* Append data[0..n) as "data: " lines split at CR, LF and CRLF: n
 * terminators make n + 1 lines, so the client rebuilds data exactly. */
static int
sse_data_lines(struct buf *b, const char *data, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t j = i;

		while (j < n && data[j] != '\r' && data[j] != '\n')
			j++;
		if (buf_puts(b, "data: ") != 0 || buf_append(b, data + i, j - i) != 0 ||
		    buf_puts(b, "\n") != 0)
			return -1;
		if (j == n)
			return 0;
		if (data[j] == '\r' && j + 1 < n && data[j + 1] == '\n')
			j++;
		i = j + 1;
	}
}

int
sse_format_event(struct buf *b, const char *event, const char *data, size_t len)
{
	if (data == NULL || memchr(data, '\0', len) != NULL)
		return -1;
	if (event != NULL) {
		if (event[0] == '\0' || strpbrk(event, "\r\n") != NULL)
			return -1;
		if (buf_printf(b, "event: %s\n", event) != 0)
			return -1;
	}
	if (sse_data_lines(b, data, len) != 0 || buf_puts(b, "\n") != 0)
		return -1;
	return 0;
}
