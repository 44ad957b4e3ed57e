/*
 * jsonrpc: JSON-RPC 2.0 messages on json-c, the one place JSON-RPC errors
 * are rendered.
 *
 * Parsing is two passes over the body.  A strict RFC 8259 scanner that
 * never allocates runs first: UTF-8 (RFC 3629), grammar, nesting depth,
 * unpaired surrogate escapes and duplicate JSON-RPC members are refused
 * here, because json-c on its own accepts single quotes, NaN, raw control
 * characters and lone surrogates.  The scanner also records where each
 * message's "id" value starts and ends, so a numeric id is echoed with its
 * exact text (json-c would saturate 1e999-style integers and turn -0 into 0).
 * json-c then builds the tree with a depth-limited tokener.
 *
 * Classification (JSON-RPC 2.0 §4, §5; MCP basic protocol):
 *   request       "method" string and an "id" that is a string or number
 *   notification  "method" string and no "id"
 *   response      no "method", an "id", and exactly one of "result"/"error"
 * Anything else is an invalid request (-32600); a null request id is invalid
 * too (MCP: "the ID MUST NOT be null").
 */
#ifndef MCPGATE_JSONRPC_H
#define MCPGATE_JSONRPC_H

#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"

#define JSONRPC_DEPTH_MAX 64  /* nesting of objects and arrays in one body */
#define JSONRPC_BATCH_MAX 32  /* messages in one batch */
#define JSONRPC_METHOD_MAX 128
#define JSONRPC_MESSAGE_MAX 256 /* error message text */

/* Error codes (JSON-RPC 2.0 §5.1, and the MCP ones we use). */
enum jsonrpc_code {
	JSONRPC_PARSE_ERROR = -32700,
	JSONRPC_INVALID_REQUEST = -32600,
	JSONRPC_METHOD_NOT_FOUND = -32601,
	JSONRPC_INVALID_PARAMS = -32602,
	JSONRPC_INTERNAL_ERROR = -32603,
	JSONRPC_SERVER_ERROR = -32000,      /* transport-level refusal (HTTP 4xx/5xx body) */
	JSONRPC_SESSION_NOT_FOUND = -32001, /* unknown or ended MCP session */
	JSONRPC_RESOURCE_NOT_FOUND = -32002 /* MCP resources/read */
};

/* jsonrpc_parse results besides 0 and the negative codes above. */
#define JSONRPC_TOO_LARGE 1

enum jsonrpc_kind {
	JSONRPC_INVALID = 0, /* failed validation: answer error/why with a null id */
	JSONRPC_REQUEST,
	JSONRPC_NOTIFICATION,
	JSONRPC_RESPONSE
};

struct jsonrpc_msg {
	enum jsonrpc_kind kind;
	const char *why;      /* JSONRPC_INVALID: what was wrong (static text) */
	json_object *id;      /* owned reference; NULL when absent.  A numeric id
			       * serialises as its original text. */
	const char *method;   /* requests and notifications: NUL-free, into the tree */
	json_object *params;  /* object or array, borrowed; NULL when absent */
};

/* One parsed body: a single message or a batch. */
struct jsonrpc_body {
	json_object *root;   /* owned */
	int batch;           /* the body was an array */
	size_t n;            /* messages in msg[] (1 for a single message) */
	struct jsonrpc_msg msg[JSONRPC_BATCH_MAX];
};

/*
 * Parse body[0..len).  Returns 0 with out filled (free with
 * jsonrpc_body_free, also after an error), JSONRPC_TOO_LARGE when
 * len > max, JSONRPC_PARSE_ERROR for anything that is not strict JSON
 * (bad UTF-8, grammar, nesting past JSONRPC_DEPTH_MAX), or
 * JSONRPC_INVALID_REQUEST when the JSON is neither an object nor a
 * non-empty array, or is an array while allow_batch is 0, or holds more
 * than JSONRPC_BATCH_MAX messages.  *why (may be NULL) gets a short
 * static description on error.  Per-message problems inside a body that
 * parsed are reported as JSONRPC_INVALID messages, not as a return code.
 */
int jsonrpc_parse(const char *body, size_t len, size_t max, int allow_batch,
		  struct jsonrpc_body *out, const char **why);
void jsonrpc_body_free(struct jsonrpc_body *b);

/* The responses to one body, rendered as they are produced. */
struct jsonrpc_reply {
	struct buf body;
	int batch;    /* wrap responses in an array */
	size_t count; /* responses written */
};

/* Start an empty reply whose text may grow to max bytes (0 = buf default). */
void jsonrpc_reply_init(struct jsonrpc_reply *r, int batch, size_t max);
/* Append {"jsonrpc":"2.0","id":id,"result":result}.  Takes ownership of
 * result (even on failure); id is borrowed.  0, or -1 when out of room. */
int jsonrpc_reply_result(struct jsonrpc_reply *r, json_object *id, json_object *result);
/*
 * Append an error response.  id NULL renders as null.  message is plain
 * text and may name a parameter but must not quote client input at length;
 * for JSONRPC_INTERNAL_ERROR it is ignored and "Internal error" is sent, so
 * internals never reach the client.  0, or -1 when out of room.
 */
int jsonrpc_reply_error(struct jsonrpc_reply *r, json_object *id, int code, const char *message);
/* Close the batch array.  Returns the number of responses (0: nothing to
 * send, answer 202 with no body), or -1 if the text overflowed its cap. */
long jsonrpc_reply_finish(struct jsonrpc_reply *r);
void jsonrpc_reply_free(struct jsonrpc_reply *r);

/* Render one stand-alone error response (null id) into out, replacing its
 * contents: for transport-level refusals (406, 415, 404 ...). 0 or -1. */
int jsonrpc_error_text(struct buf *out, int code, const char *message);

/*
 * Parameter access for method handlers.  Each returns 0, or
 * JSONRPC_INVALID_PARAMS with a message naming the parameter in err:
 *   "missing parameter 'x'", "parameter 'x' must be a string", ...
 * params may be NULL (no params member).
 */
/* params must be absent or an object. */
int jsonrpc_params_object(const json_object *params, char *err, size_t errlen);
/* String member name: *out and *outlen point into the tree; NUL-free; at most
 * maxlen bytes (0: no limit).  Absent and !required: *out = NULL, 0. */
int jsonrpc_param_string(json_object *params, const char *name, int required, size_t maxlen,
			 const char **out, size_t *outlen, char *err, size_t errlen);
/* Object member name; absent and !required: *out = NULL, 0. */
int jsonrpc_param_object(json_object *params, const char *name, int required,
			 json_object **out, char *err, size_t errlen);
/* Refuse members of params not listed in allowed (NULL-terminated). */
int jsonrpc_params_only(json_object *params, const char *const *allowed, char *err,
			size_t errlen);

#endif
