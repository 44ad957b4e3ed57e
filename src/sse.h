/*
 * sse: the streams of the legacy HTTP+SSE transport inside the one sse
 * process, which serves every stream from a single event loop.
 *
 * The loop reads the bus (bus.h) and hands each message to its stream
 * through the hub, then writes what the stream has queued:
 *
 *   bus readable:  bus_recv -> sse_hub_deliver(id, msg, &stream) -> flush(stream)
 *   flush:         sse_stream_next -> write the event (until the socket is full)
 *
 * The hub is not thread-safe: one thread owns it.  Each stream carries an
 * owner pointer (the caller's connection) so that a delivery leads straight
 * to the connection to flush; nothing sleeps or polls per stream.
 *
 * Memory is bounded: a stream queues at most SSE limits' bytes and messages,
 * and all streams together at most total_bytes.  A message that does not fit
 * ends its stream (a client that never reads must not grow the process): the
 * stream is marked overflowed, its queue dropped, and the caller told.
 */
#ifndef MCPGATE_SSE_H
#define MCPGATE_SSE_H

#include <stddef.h>

#include "buf.h"

struct sse_hub;    /* opaque: the registry of this process's streams */
struct sse_stream; /* opaque: one open stream */

struct sse_limits {
	size_t stream_bytes; /* queued bytes per stream (one message of any size fits an empty queue) */
	size_t stream_msgs;  /* queued messages per stream */
	size_t total_bytes;  /* queued bytes over all streams */
};

/* Defaults: 4 MiB and 1024 messages per stream, 64 MiB in all. */
void sse_limits_default(struct sse_limits *lim);

/* New empty hub (NULL: out of memory); lim NULL means the defaults. */
struct sse_hub *sse_hub_new(const struct sse_limits *lim);
/* Free the hub; every stream must be closed first.  Accepts NULL. */
void sse_hub_free(struct sse_hub *h);

/* Register a stream for session_id, with the caller's owner pointer
 * (returned by sse_stream_owner).  NULL when out of memory, the id is
 * empty, too long or already registered, or the hub is stopping. */
struct sse_stream *sse_stream_open(struct sse_hub *h, const char *session_id, void *owner);
void *sse_stream_owner(const struct sse_stream *s);
/* 1 when sse_stream_next has something other than SSE_NEXT_NONE to say. */
int sse_stream_ready(const struct sse_stream *s);

enum sse_next {
	SSE_NEXT_MSG = 0,  /* *data (malloc'd, NUL-terminated, caller frees) and *len set */
	SSE_NEXT_NONE,     /* nothing queued */
	SSE_NEXT_OVERFLOW, /* the client fell too far behind: end the stream */
	SSE_NEXT_STOP      /* the process is shutting down: end the stream */
};
/* Take the next message, in delivery order.  After sse_hub_stop, the
 * messages already queued come first, then SSE_NEXT_STOP. */
enum sse_next sse_stream_next(struct sse_stream *s, char **data, size_t *len);
/* Unregister and free s, dropping anything still queued.  Accepts NULL. */
void sse_stream_close(struct sse_hub *h, struct sse_stream *s);

enum sse_deliver {
	SSE_DELIVERED = 0,
	SSE_NO_STREAM,  /* no stream with that id in this process */
	SSE_OVERFLOW    /* over a limit: the stream is ended, the message dropped */
};
/* Queue data (len bytes, malloc'd, NUL-terminated) for session_id's stream.
 * Takes ownership of data whatever the result.  *to (may be NULL) gets the
 * stream to flush (SSE_DELIVERED) or to end (SSE_OVERFLOW), else NULL. */
enum sse_deliver sse_hub_deliver(struct sse_hub *h, const char *session_id, char *data,
				 size_t len, struct sse_stream **to);

/* Refuse new streams; every open stream gets SSE_NEXT_STOP once its queue
 * is written.  The caller then flushes each stream (sse_hub_each). */
void sse_hub_stop(struct sse_hub *h);
/* Call fn(stream, arg) for every open stream; fn may close the stream it
 * is given (and no other). */
void sse_hub_each(struct sse_hub *h, void (*fn)(struct sse_stream *, void *), void *arg);
/* Number of open streams, and bytes queued over all of them. */
size_t sse_hub_count(const struct sse_hub *h);
size_t sse_hub_queued(const struct sse_hub *h);

/* Append one SSE event (WHATWG HTML "server-sent events") to b: an
 * "event:" line unless event is NULL, one "data:" line per line of data (so
 * CR, LF or CRLF inside data can never end the event early), and the blank
 * line.  -1 if event holds CR/LF/NUL, data holds NUL, or b overflows. */
int sse_format_event(struct buf *b, const char *event, const char *data, size_t len);

#endif
