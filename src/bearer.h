/*
 * bearer: who may call the MCP endpoints (/mcp, /mcp/message, /mcp/sse).
 *
 * Every request is authorised on its own (MCP authorization; RFC 6750):
 *   1. Origin, when sent, must be allowed (config_origin_allowed): a page on
 *      another site must not reach a server on the user's machine through
 *      DNS rebinding (MCP transports, "Security Warning").  -> 403
 *   2. The token only from the Authorization header.  A token in the URL
 *      (RFC 6750 §2.3) ends up in logs and browser history; it is refused
 *      even when a header is sent too.  -> 400 invalid_request
 *   3. The token must open for this resource (token_access_verify with
 *      metadata_resource(), RFC 8707 audience) and not be expired.  -> 401
 *   4. Optionally, its grant must still exist (not revoked).  -> 401
 * Each 401 carries the challenge that starts discovery (RFC 9728 §5.1):
 *   WWW-Authenticate: Bearer resource_metadata="<prm url>", scope="..."
 * with error="invalid_token" when a token was sent.
 */
#ifndef MCPGATE_BEARER_H
#define MCPGATE_BEARER_H

#include <stddef.h>

#include "config.h"
#include "crypto.h"
#include "http.h"
#include "store.h"
#include "token.h"

enum bearer_status {
	BEARER_OK = 0,
	BEARER_NO_TOKEN,  /* no (Bearer) Authorization header: 401, no error code */
	BEARER_INVALID,   /* malformed, forged, other resource, expired or revoked: 401 */
	BEARER_IN_QUERY,  /* access_token in the query string: 400 */
	BEARER_ORIGIN,    /* Origin not allowed: 403 */
	BEARER_BUSY,      /* store busy while checking the grant: 503 */
	BEARER_ERROR      /* store error: 500 */
};

/* Authorise req.  check_live: also confirm the grant is live (one shared-lock
 * store read; pass 0 when the caller checks it inside its own transaction).
 * On BEARER_OK *out holds the verified token. */
int bearer_check(const struct config *cfg, const struct crypto_keyring *keys, struct store *st,
		 const struct http_req *req, int check_live, struct token_access *out);

/* The protected resource metadata URL for the MCP resource, RFC 9728 §3.1:
 * origin + "/.well-known/oauth-protected-resource" + path of the resource
 * (public_path + "/mcp").  -1 if it does not fit. */
int bearer_metadata_url(const struct config *cfg, char *out, size_t outsz);

/* Render the response for a status other than BEARER_OK (JSON body, RFC
 * 6749 §5.2 shape; WWW-Authenticate on 400/401). */
void bearer_error(struct http_resp *resp, const struct config *cfg, int status);

/* 403 insufficient_scope naming the scopes needed (step-up, RFC 6750 §3.1). */
void bearer_insufficient_scope(struct http_resp *resp, const struct config *cfg,
			       unsigned needed);

#endif
