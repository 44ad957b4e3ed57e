/*
 * bus: event-driven delivery of messages from the process that handles a
 * POST (message) to the process that holds the client's SSE stream (sse).
 *
 * Each sse process binds one Unix datagram socket in runtime_dir and records
 * its path in every legacy session it opens (session.h).  A sender looks the
 * session up, then bus_send()s the complete JSON-RPC message; the sse process
 * wakes (no polling), finds the stream by session id and writes an SSE
 * `message` event.  The kernel caps a datagram near 200 KB and queues only a
 * few per socket (net.unix.max_dgram_qlen = 10), so larger messages and full
 * queues are handled here, not by callers: bus_send either delivers or fails
 * with a status the caller can turn into an HTTP error.
 *
 * Wire format (one datagram per message, same host only):
 *   "MGB1" | kind (1 inline, 2 memfd) | id length | 0 0 | payload length (u32 BE)
 *   | session id | payload (inline only)
 * A payload over BUS_INLINE_MAX travels in a sealed memfd passed with
 * SCM_RIGHTS: no file name to clean up, nothing left behind if either side
 * dies, and only the receiving process can read it.
 *
 * The delivery path is general on purpose: the same call carries responses,
 * notifications and (later) server-to-client requests to any stream.
 */
#ifndef MCPGATE_BUS_H
#define MCPGATE_BUS_H

#include <stddef.h>

enum bus_status {
	BUS_OK = 0,
	BUS_GONE = -1,     /* no such socket / stream: the session is over (404) */
	BUS_BUSY = -2,     /* receiver did not drain in time (503) */
	BUS_TOOBIG = -3,   /* message over BUS_MSG_MAX (413/500) */
	BUS_ERROR = -4,
	BUS_AGAIN = -5     /* bus_recv: nothing arrived before the timeout */
};

#define BUS_MSG_MAX (4 * 1024 * 1024)
/* Largest payload sent inline in the datagram.  Measured: 212,000 B fits
 * under the default net.core.wmem_default (212992); this leaves room for the
 * header and kernel overhead.  Anything larger (or refused with EMSGSIZE on a
 * host with smaller buffers) goes by memfd. */
#define BUS_INLINE_MAX (192 * 1024)
/* Longest session id carried (session ids are 43 characters). */
#define BUS_ID_MAX 64

/* Deliver msg (len bytes, one JSON-RPC message) for session_id to the sse
 * process listening on sock_path.  Waits at most timeout_ms for queue space.
 * BUS_OK, BUS_GONE (no listener at sock_path), BUS_BUSY (queue still full at
 * the deadline), BUS_TOOBIG, or BUS_ERROR (bad argument, path that is not a
 * bus socket, out of resources).  Thread-safe; keeps no state. */
int bus_send(const char *sock_path, const char *session_id, const void *msg, size_t len,
	     unsigned timeout_ms);

/* ---- receiving side (the sse process) ---- */

struct bus_listener; /* opaque */

/* One received message.  data is malloc'd, NUL-terminated, owned by the
 * caller (bus_msg_free wipes and frees it). */
struct bus_msg {
	char session_id[BUS_ID_MAX + 1];
	char *data;
	size_t len;
};

/*
 * Bind this process's socket <dir>/bus-<pid>.sock with the given mode (0600,
 * or 0660 when the senders run under another user of the same group).  The
 * socket appears under its final name only once its mode is set.  Sockets of
 * earlier processes that nobody listens on any more are removed first.
 * Returns NULL with a message in err on failure.
 */
struct bus_listener *bus_listen(const char *dir, unsigned mode, char *err, size_t errlen);
/* The bound path, for session records. */
const char *bus_listener_path(const struct bus_listener *l);
/* The socket, readable (POLLIN) when a message waits; for the caller's poll(). */
int bus_listener_fd(const struct bus_listener *l);
/*
 * Receive one message, waiting at most timeout_ms (0: do not wait, -1: no
 * limit).  BUS_OK with *out filled; BUS_AGAIN when nothing arrived;
 * BUS_ERROR for a malformed datagram (dropped; any descriptor it carried is
 * closed; the caller should log and go on).  Only one thread may receive.
 */
int bus_recv(struct bus_listener *l, struct bus_msg *out, int timeout_ms);
void bus_msg_free(struct bus_msg *m);
/* Close the socket and remove its name.  Accepts NULL. */
void bus_listener_close(struct bus_listener *l);

/* Name of a status for logs. */
const char *bus_strerror(int status);

#endif
