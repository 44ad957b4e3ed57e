/*
 * sse: stream registry and per-stream queues.  See sse.h.
 *
 * One mutex guards the registry, every queue and the byte counters.  Every
 * operation under it is O(1) (a hash lookup, a list append or pop), and the
 * only threads that take it are the one bus receiver and the stream threads,
 * each for a few instructions per message, so a finer scheme would buy
 * nothing measurable at hundreds of streams.
 */
#include "sse.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SSE_BUCKETS 1024 /* power of two */
#define SSE_ID_MAX 64

struct sse_item {
	struct sse_item *next;
	char *data;
	size_t len;
};

struct sse_stream {
	struct sse_hub *hub;
	struct sse_stream *next; /* hash chain */
	char id[SSE_ID_MAX + 1];
	int wake;                /* eventfd */
	int io_fd;
	struct sse_item *head, *tail;
	size_t qbytes, qmsgs;
	int overflow;
};

struct sse_hub {
	pthread_mutex_t mu;
	pthread_cond_t emptied;
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

static void
sse_wake(const struct sse_stream *s)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow, i.e. already readable. */
	(void)!write(s->wake, &one, sizeof(one));
}

static void
sse_unwake(const struct sse_stream *s)
{
	uint64_t v;

	(void)!read(s->wake, &v, sizeof(v));
}

struct sse_hub *
sse_hub_new(const struct sse_limits *lim)
{
	struct sse_hub *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;

	if (h == NULL)
		return NULL;
	if (lim != NULL)
		h->lim = *lim;
	else
		sse_limits_default(&h->lim);
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->emptied, &ca);
	pthread_condattr_destroy(&ca);
	return h;
}

void
sse_hub_free(struct sse_hub *h)
{
	if (h == NULL)
		return;
	pthread_cond_destroy(&h->emptied);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

struct sse_stream *
sse_stream_open(struct sse_hub *h, const char *session_id, int io_fd)
{
	struct sse_stream *s, **pp;
	size_t n = strlen(session_id);

	if (n == 0 || n > SSE_ID_MAX || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	memcpy(s->id, session_id, n + 1);
	s->hub = h;
	s->io_fd = io_fd;
	s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake < 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&h->mu);
	pp = sse_find(h, s->id);
	if (h->stopping || *pp != NULL) {
		pthread_mutex_unlock(&h->mu);
		close(s->wake);
		free(s);
		return NULL;
	}
	*pp = s;
	h->count++;
	pthread_mutex_unlock(&h->mu);
	return s;
}

int
sse_stream_wake_fd(const struct sse_stream *s)
{
	return s->wake;
}

/* Drop s's queue (hub lock held). */
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
	struct sse_hub *h = s->hub;
	struct sse_item *it;
	enum sse_next r = SSE_NEXT_MSG;

	*data = NULL;
	*len = 0;
	pthread_mutex_lock(&h->mu);
	it = s->head;
	if (s->overflow) {
		r = SSE_NEXT_OVERFLOW;
	} else if (it != NULL) {
		s->head = it->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->qbytes -= it->len;
		s->qmsgs--;
		h->total -= it->len;
		*data = it->data;
		*len = it->len;
		free(it);
	} else {
		/* Reset the wake-up under the lock: a producer appends and
		 * wakes under the same lock, so no wake-up can be lost. */
		sse_unwake(s);
		r = h->stopping ? SSE_NEXT_STOP : SSE_NEXT_NONE;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

void
sse_stream_close(struct sse_hub *h, struct sse_stream *s)
{
	struct sse_stream **pp;

	if (s == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	pp = sse_find(h, s->id);
	if (*pp == s) {
		*pp = s->next;
		h->count--;
	}
	sse_queue_clear(h, s);
	if (h->count == 0)
		pthread_cond_broadcast(&h->emptied);
	pthread_mutex_unlock(&h->mu);
	close(s->wake);
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
sse_hub_deliver(struct sse_hub *h, const char *session_id, char *data, size_t len)
{
	struct sse_item *it = malloc(sizeof(*it));
	struct sse_stream *s;
	enum sse_deliver r = SSE_DELIVERED;

	pthread_mutex_lock(&h->mu);
	s = *sse_find(h, session_id);
	if (s == NULL) {
		r = SSE_NO_STREAM;
	} else if (it == NULL || s->overflow || sse_over(h, s, len)) {
		r = SSE_OVERFLOW;
		s->overflow = 1;
		sse_queue_clear(h, s);
		/* The stream thread may be blocked writing to this very client. */
		if (s->io_fd >= 0)
			shutdown(s->io_fd, SHUT_RDWR);
		sse_wake(s);
	} else {
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
		sse_wake(s);
		data = NULL;
		it = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	free(it);
	free(data);
	return r;
}

/* Call fn on every open stream (hub lock held). */
static void
sse_each(struct sse_hub *h, void (*fn)(struct sse_stream *))
{
	for (size_t i = 0; i < SSE_BUCKETS; i++)
		for (struct sse_stream *s = h->bucket[i]; s != NULL; s = s->next)
			fn(s);
}

static void
sse_wake_one(struct sse_stream *s)
{
	sse_wake(s);
}

static void
sse_abort_one(struct sse_stream *s)
{
	if (s->io_fd >= 0)
		shutdown(s->io_fd, SHUT_RDWR);
	sse_wake(s);
}

void
sse_hub_stop(struct sse_hub *h)
{
	pthread_mutex_lock(&h->mu);
	h->stopping = 1;
	sse_each(h, sse_wake_one);
	pthread_mutex_unlock(&h->mu);
}

void
sse_hub_abort(struct sse_hub *h)
{
	pthread_mutex_lock(&h->mu);
	sse_each(h, sse_abort_one);
	pthread_mutex_unlock(&h->mu);
}

size_t
sse_hub_count(struct sse_hub *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = h->count;
	pthread_mutex_unlock(&h->mu);
	return n;
}

size_t
sse_hub_wait_empty(struct sse_hub *h, unsigned timeout_ms)
{
	struct timespec dl;
	size_t n;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->mu);
	while (h->count > 0 && pthread_cond_timedwait(&h->emptied, &h->mu, &dl) != ETIMEDOUT)
		;
	n = h->count;
	pthread_mutex_unlock(&h->mu);
	return n;
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
