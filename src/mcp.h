/*
 * mcp: the Model Context Protocol methods, transport-independent.
 *
 * The transports (cgi-bin/message.c for Streamable HTTP and the legacy
 * POST /mcp/message) authenticate the bearer token, parse the body with
 * jsonrpc_parse, check mcp_scope_needed against the token's scopes (403
 * with step-up when short), then call mcp_handle for each message.
 *
 * Methods: initialize (version negotiation), ping, tools/list, tools/call,
 * resources/list, resources/read, resources/templates/list,
 * completion/complete, logging/setLevel; notifications are accepted and
 * need no reply.  Tools: hello_mcp, save_snippet, get_snippet,
 * list_snippets, delete_snippet (snippets.h).  A tool that fails (e.g. no
 * such snippet) answers a result with isError true; malformed arguments
 * are -32602 naming the parameter.
 *
 * Grant liveness: mcp_handle guarantees the token's grant was found live
 * before it replies, checking it inside the store transaction the method
 * needs anyway (one shared-lock transaction for get_snippet), or on its
 * own for methods that touch no snippet.
 */
#ifndef MCPGATE_MCP_H
#define MCPGATE_MCP_H

#include <stddef.h>

#include "config.h"
#include "jsonrpc.h"
#include "store.h"
#include "token.h"

#define MCP_VERSION_LATEST "2025-11-25"
/* Streamable HTTP: the revision assumed without an MCP-Protocol-Version header. */
#define MCP_VERSION_ASSUMED "2025-03-26"
#define MCP_VERSION_MAX 16
#define MCP_SERVER_VERSION "0.1.0" /* serverInfo.version */
#define MCP_URI_SCHEME "snippet:///"
#define MCP_PAGE_SIZE 100 /* resources/list page; completion values (spec max 100) */

enum mcp_status {
	MCP_OK = 0,      /* handled; a request's response is in the reply */
	MCP_REVOKED = 1, /* the token's grant is gone: answer 401, send nothing else */
	MCP_BUSY = 2,    /* store busy: answer 503 + Retry-After */
	MCP_ERROR = -1   /* could not even render an error (out of memory) */
};

/* One HTTP request's view: who is calling, under which revision. */
struct mcp_call {
	const struct config *cfg;
	struct store *store;
	const struct token_access *who; /* verified token (user, scopes, grant) */
	const char *version;            /* revision in effect for this request */
	int live_checked;               /* grant liveness already confirmed */
	char negotiated[MCP_VERSION_MAX]; /* out: set by a successful initialize */
};

/* 1 when v names a revision we speak (2024-11-05 .. 2025-11-25). */
int mcp_version_supported(const char *v);
/* 1 when revision v allows JSON-RPC batches (2025-03-26 only: added there,
 * removed in 2025-06-18). */
int mcp_version_allows_batch(const char *v);

/* SCOPE_* bits msg needs; 0 for methods open to any valid token and for
 * unknown tools (they fail with -32602 instead). */
unsigned mcp_scope_needed(const struct jsonrpc_msg *msg);

/* Handle one message.  Requests (and invalid messages) append exactly one
 * response to reply; notifications and responses append nothing. */
int mcp_handle(struct mcp_call *c, const struct jsonrpc_msg *msg, struct jsonrpc_reply *reply);

#endif
