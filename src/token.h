/*
 * token: our access tokens.  Clients never see upstream tokens; they get
 * these, which are opaque to them:
 *
 *   "mga_" base64url( crypto_seal(purpose "access-token",
 *                                 aad = "mcpgate-access-v1" NUL resource,
 *                                 plaintext) )
 *
 * The plaintext carries the grant id, user, display name, client, scopes and
 * expiry.  AES-256-GCM means a forged, garbled or truncated token fails to
 * open before any store lookup, and binding the resource (RFC 8707 audience)
 * into the AAD means a token minted for another resource never opens here.
 * Revocation: a grant is live while its STORE_GRANT record exists; revoking
 * deletes the record, so the one store read per request is a shared-lock
 * lookup (token_grant_live), never an exclusive lock.
 */
#ifndef MCPGATE_TOKEN_H
#define MCPGATE_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "crypto.h"
#include "store.h"

#define TOKEN_GRANT_ID_LEN 22 /* base64url of 16 random bytes */
#define TOKEN_FIELD_MAX 255
#define TOKEN_ACCESS_MAX 1536 /* longest access token string + NUL (3 fields of 255 fit) */
#define TOKEN_ACCESS_PREFIX "mga_"

struct token_access {
	char grant_id[TOKEN_GRANT_ID_LEN + 1];
	char user[TOKEN_FIELD_MAX + 1];      /* stable id: "oidc:<iss>#<sub>" or "local:<name>" */
	char name[TOKEN_FIELD_MAX + 1];      /* display name, may be "" */
	char client_id[TOKEN_FIELD_MAX + 1];
	unsigned scope;                      /* SCOPE_* bits */
	time_t exp;                          /* absolute expiry */
};

/* Seal acc for resource into out (outsz >= TOKEN_ACCESS_MAX). 0 or -1. */
int token_access_issue(const struct crypto_keyring *ring, const char *resource,
		       const struct token_access *acc, char *out, size_t outsz);

enum token_status {
	TOKEN_OK = 0,
	TOKEN_MALFORMED = -1, /* not one of ours, garbled, forged, wrong resource */
	TOKEN_EXPIRED = -2
};

/* Open and check a presented access token (the string after "Bearer ").
 * Never touches the store. */
int token_access_verify(const struct crypto_keyring *ring, const char *resource,
			const char *token, time_t now, struct token_access *out);

/* New random grant id into out (TOKEN_GRANT_ID_LEN + 1). */
int token_grant_id_new(char out[TOKEN_GRANT_ID_LEN + 1]);

/* STORE_OK when the grant record exists (not revoked, not expired),
 * STORE_NOTFOUND when it does not, STORE_BUSY/STORE_ERROR otherwise. */
int token_grant_live(struct store *st, const char *grant_id);
/* The same check inside a running transaction. */
int token_grant_live_tx(struct store_txn *tx, const char *grant_id);

/* Extract the token from an Authorization header value: "Bearer <token68>"
 * (scheme case-insensitive, RFC 6750 §2.1).  Returns a pointer into header,
 * or NULL when the header is absent or not a well-formed Bearer credential. */
const char *token_from_authorization(const char *header);

#endif
