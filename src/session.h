/*
 * session: MCP transport sessions (STORE_MCPSESSION).
 *
 * A session never authenticates anything (every request carries its bearer
 * token); it only ties a transport conversation to the user who opened it,
 * so another user's session id is answered exactly like an unknown one.
 *   - Streamable HTTP: Mcp-Session-Id issued on initialize, optional.
 *   - Legacy HTTP+SSE: the sessionId in the endpoint event; the record also
 *     names the socket of the sse process that holds the stream.
 * Ids are 32 random bytes in base64url (visible ASCII, MCP 2025-11-25).
 */
#ifndef MCPGATE_SESSION_H
#define MCPGATE_SESSION_H

#include <stddef.h>
#include <time.h>

#include "store.h"
#include "token.h"

#define SESSION_ID_LEN 43
#define SESSION_SOCK_MAX 108 /* sizeof(sun_path) */

enum session_kind {
	SESSION_STREAMABLE = 1,
	SESSION_LEGACY_SSE = 2
};

struct session {
	char id[SESSION_ID_LEN + 1];
	enum session_kind kind;
	char user[TOKEN_FIELD_MAX + 1];
	char protocol_version[16]; /* negotiated at initialize, "" before */
	char sock[SESSION_SOCK_MAX]; /* legacy: the sse process's socket */
	time_t exp;
};

/* Create a session with a fresh id (written into s->id) for s->user, kind,
 * sock; expires at s->exp.  STORE_* status. */
int session_create(struct store *st, struct session *s);
/* Load session id for user: STORE_NOTFOUND when absent, expired, or owned by
 * another user (deliberately indistinguishable). */
int session_get(struct store *st, const char *id, const char *user, struct session *out);
/* Update protocol_version / exp of an existing session of user. */
int session_update(struct store *st, const struct session *s);
/* End the session (STORE_NOTFOUND as for session_get). */
int session_delete(struct store *st, const char *id, const char *user);
/* 1 when id has the shape of a session id (cheap check before any lookup). */
int session_id_valid(const char *id);

#endif
