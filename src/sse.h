/*
 * sse: the streams of the legacy HTTP+SSE transport inside the one
 * multi-threaded sse process.
 *
 * One thread holds each open stream; one receiver thread reads the bus
 * (bus.h) and hands each message to its stream through the hub:
 *
 *   receiver:  bus_recv -> sse_hub_deliver(session id, message)
 *   stream:    poll(sse_stream_wake_fd, connection) -> sse_stream_next -> write event
 *
 * Every stream has an eventfd that becomes readable when it has something to
 * do, so a stream thread sleeps in poll() (together with its web-server
 * connection, to notice a client that went away) and never polls on a timer.
 *
 * Memory is bounded: a stream queues at most SSE limits' bytes and messages,
 * and all streams together at most total_bytes.  A message that does not fit
 * ends its stream (a client that never reads must not grow the process); the
 * stream's connection is shut down so that its thread, even when blocked
 * writing to that client, returns at once.
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

/* New empty hub (NULL: out of memory).  Thread-safe once created. */
struct sse_hub *sse_hub_new(const struct sse_limits *lim);
/* Free the hub; every stream must be closed first.  Accepts NULL. */
void sse_hub_free(struct sse_hub *h);

/* Register a stream for session_id.  io_fd is its connection to the web
 * server (shut down to abort the stream; -1 for none).  NULL when out of
 * memory or resources, the id is already registered, or the hub is
 * stopping. */
struct sse_stream *sse_stream_open(struct sse_hub *h, const char *session_id, int io_fd);
/* Readable (POLLIN) whenever sse_stream_next has something to return. */
int sse_stream_wake_fd(const struct sse_stream *s);

enum sse_next {
	SSE_NEXT_MSG = 0,  /* *data (malloc'd, NUL-terminated, caller frees) and *len set */
	SSE_NEXT_NONE,     /* nothing queued; sleep on the wake fd */
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
 * Takes ownership of data whatever the result. */
enum sse_deliver sse_hub_deliver(struct sse_hub *h, const char *session_id, char *data,
				 size_t len);

/* Refuse new streams and tell every open stream to end (SSE_NEXT_STOP). */
void sse_hub_stop(struct sse_hub *h);
/* Shut down the connection of every open stream, unblocking any thread
 * stuck writing to a client that does not read. */
void sse_hub_abort(struct sse_hub *h);
/* Number of open streams. */
size_t sse_hub_count(struct sse_hub *h);
/* Wait until no stream is open or timeout_ms passed; returns the number
 * still open. */
size_t sse_hub_wait_empty(struct sse_hub *h, unsigned timeout_ms);

/* Append one SSE event (WHATWG HTML "server-sent events") to b: an
 * "event:" line unless event is NULL, one "data:" line per line of data (so
 * CR, LF or CRLF inside data can never end the event early), and the blank
 * line.  -1 if event holds CR/LF/NUL, data holds NUL, or b overflows. */
int sse_format_event(struct buf *b, const char *event, const char *data, size_t len);

#endif
