/*
 * upstream: login federated to an OpenID Connect provider (identity = oidc).
 *
 * Discovery (<upstream_issuer>/.well-known/openid-configuration) and the JWKS
 * are fetched with libcurl and cached in the store (STORE_CACHE).  The
 * redirect to the provider uses our own PKCE S256, state and nonce; the
 * callback exchanges the code (client_secret_basic or _post as the provider's
 * metadata allows) and verifies the ID token (RS256, ES256; signature against
 * the JWKS with a bounded refetch on an unknown kid; iss, aud, azp, exp, iat
 * with small skew, nonce).  Upstream tokens are sealed (AES-GCM) into
 * STORE_UPSTREAM and never leave this module: never sent to MCP clients,
 * never logged.  TLS verification is always on; plain http is allowed only
 * for a loopback issuer when insecure_loopback = true.
 */
#ifndef MCPGATE_UPSTREAM_H
#define MCPGATE_UPSTREAM_H

#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "app.h"
#include "fetch.h"
#include "token.h"

#define UPSTREAM_URL_MAX 4096

enum upstream_status {
	UPSTREAM_OK = 0,
	UPSTREAM_DENIED = -1,      /* user cancelled / provider refused: access_denied */
	UPSTREAM_UNAVAILABLE = -2, /* provider down, timeout, 5xx: temporarily_unavailable */
	UPSTREAM_INVALID = -3,     /* bad response, bad ID token: server_error */
	UPSTREAM_ERROR = -4        /* our side (store, memory): server_error */
};

/* Secrets for one login attempt; the caller stores them server-side (bound
 * to the browser) until the callback. */
struct upstream_login {
	char state[64];
	char nonce[64];
	char verifier[96];
	char url[UPSTREAM_URL_MAX]; /* where to send the browser */
};

struct upstream_identity {
	char user[TOKEN_FIELD_MAX + 1];  /* "oidc:" iss "#" sub, truncated safely */
	char name[TOKEN_FIELD_MAX + 1];  /* name / preferred_username / email, for display */
	char email[TOKEN_FIELD_MAX + 1];
};

/* Generate state, nonce and PKCE verifier, and the provider's authorization
 * URL (redirect_uri = <public_url>/oauth/callback, scope upstream_scopes). */
int upstream_begin(struct app *app, struct upstream_login *out);
/* Exchange code (with the login's verifier) and verify the ID token against
 * nonce; fill who.  Logs one line on failure (never a token). */
int upstream_finish(struct app *app, const char *code, const char *verifier, const char *nonce,
		    struct upstream_identity *who);

/*
 * The provider's tokens from a user's last login are kept, for server-side
 * use only, as STORE_UPSTREAM key user (no NUL), value
 *   crypto_seal(purpose "upstream-token", aad "mcpgate-upstream-v1" NUL user,
 *               JSON {access_token, refresh_token, id_token, token_type,
 *                     scope: strings, each only if the provider sent it;
 *                     expires_at: number})
 * expiring with the access token, or after refresh_token_ttl when there is a
 * refresh token.  No function hands them out.
 */

/*
 * For the callback: the provider redirected back with ?error=...  Maps its
 * error code (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6) to a status:
 * access_denied, login_required, consent_required, interaction_required,
 * account_selection_required -> UPSTREAM_DENIED; temporarily_unavailable,
 * server_error -> UPSTREAM_UNAVAILABLE; anything else -> UPSTREAM_INVALID.
 */
int upstream_callback_error(const char *error);
/* The OAuth error code we send our client for a status: "access_denied",
 * "temporarily_unavailable" or "server_error" (UPSTREAM_OK gives NULL). */
const char *upstream_oauth_error(int status);
/*
 * RFC 9207 mix-up defence for the callback: iss is the callback's `iss`
 * parameter (NULL when absent).  UPSTREAM_OK when it equals the provider's
 * issuer, or is absent and the provider does not advertise
 * authorization_response_iss_parameter_supported; UPSTREAM_INVALID
 * otherwise; UPSTREAM_UNAVAILABLE / _ERROR when discovery fails.
 */
int upstream_response_iss_check(struct app *app, const char *iss);

/*
 * The ID token claim checks of OIDC Core §3.1.3.7, on claims whose signature
 * was verified: iss equals issuer exactly; aud is client_id or an array
 * holding it; azp, when present, is client_id; exp > now - skew; iat within
 * [now - UPSTREAM_IAT_MAX_AGE - skew, now + skew]; nbf, when present,
 * <= now + skew; nonce equals (constant time); sub a non-empty string of at
 * most 255 printable characters.  Fills who.  UPSTREAM_OK, or
 * UPSTREAM_INVALID with *why naming the failed check (static string).
 */
#define UPSTREAM_SKEW 60
#define UPSTREAM_IAT_MAX_AGE 600
int upstream_id_token_check(struct json_object *claims, const char *issuer,
			    const char *client_id, const char *nonce, time_t now,
			    struct upstream_identity *who, const char **why);

/* The stable user id for iss + sub into out (TOKEN_FIELD_MAX + 1):
 * "oidc:" iss "#" sub when it fits; otherwise, and for a sub starting with
 * ":h:", "oidc:" iss "#:h:" base64url(SHA-256(sub)) (or, if even that does
 * not fit, "oidc:#:h:" base64url(SHA-256(iss NUL sub))), so that distinct
 * users never share an id, as plain truncation could make them.  0 or -1. */
int upstream_user_id(const char *iss, const char *sub, char *out, size_t outsz);

/*
 * Test seam: every outbound request and every reading of the clock go
 * through these when set (NULL restores the real ones).  Programs never set
 * it; unit tests use it to play a provider without a network.  fetch: form
 * is NULL for GET, else the urlencoded POST body.
 */
struct upstream_hooks {
	int (*fetch)(void *arg, const char *url, const char *form, size_t formlen,
		     const struct fetch_opts *opts, struct fetch_result *res);
	time_t (*now)(void *arg);
	void *arg;
};
void upstream_set_hooks(const struct upstream_hooks *hooks);

/* Cache (STORE_CACHE) lifetimes, in seconds: a provider's Cache-Control
 * max-age is clamped to [MIN, MAX]; DEFAULT applies without one.  An unknown
 * kid triggers at most one JWKS refetch per UPSTREAM_JWKS_REFETCH_MIN
 * seconds across all processes. */
#define UPSTREAM_CACHE_MIN 60
#define UPSTREAM_CACHE_MAX 86400
#define UPSTREAM_CACHE_DEFAULT 3600
#define UPSTREAM_JWKS_REFETCH_MIN 60

#endif
