/*
 * authz: authorization transactions, the server-side state of one
 * authorization request while the browser travels
 *
 *     /oauth/authorize -> /oauth/consent -> (upstream IdP -> /oauth/callback)
 *                      -> the client's redirect_uri
 *
 * A transaction is a STORE_TXN record keyed by a random id (256 bits,
 * base64url), living at most AUTHZ_TTL seconds.  It holds everything the
 * authorization request said once it has been validated (client_id,
 * redirect_uri, state, code_challenge, scope, resource) and, in
 * identity = remote-user mode, the user the web server authenticated.
 *
 * For identity = oidc the upstream login secrets (state, nonce, PKCE
 * verifier) are added only once this browser has approved the client (the
 * MCP confused-deputy rule), together with the SHA-256 of a random value
 * held in a __Host- cookie that binds the login to this browser.  A
 * STORE_STATE record keyed by the upstream state points back at the
 * transaction so the callback can find it; the callback takes both records
 * in one store transaction, so a state is good for exactly one callback.
 *
 * This module also renders what every browser-facing OAuth program sends
 * back to a client (RFC 6749 §4.1.2): the success redirect with code and
 * the error redirect, both with state and iss (RFC 9207), so the wire
 * format lives in one place.
 */
#ifndef MCPGATE_AUTHZ_H
#define MCPGATE_AUTHZ_H

#include <stddef.h>
#include <time.h>

#include "app.h"
#include "buf.h"
#include "consent.h"
#include "http.h"
#include "oauth.h"
#include "token.h"
#include "upstream.h"

#define AUTHZ_TTL 600       /* seconds: consent plus upstream login (MCP: state <= 10 min) */
#define AUTHZ_ID_LEN 43     /* base64url of 32 random bytes */
#define AUTHZ_STATE_MAX 512 /* longest client state we carry back */
/* One login-binding cookie per browser, its value reused by every login
 * that browser starts while it lives: a cookie per login would pile up
 * past the HTTP_FIELDS_MAX cookies a request is parsed for. */
#define AUTHZ_LOGIN_COOKIE "__Host-mcpgate-login"
#define AUTHZ_COOKIE_NAME_MAX 64
/* authz_txn_take_by_state: the state is good but this browser did not
 * start that login (nothing was deleted).  Distinct from every STORE_*. */
#define AUTHZ_WRONG_BROWSER 100

struct authz_txn {
	char id[AUTHZ_ID_LEN + 1];
	char client_id[OAUTH_ID_MAX];
	char redirect_uri[OAUTH_URI_MAX];
	char state[AUTHZ_STATE_MAX + 1]; /* "" when the client sent none */
	char code_challenge[129];
	unsigned scope;
	char resource[OAUTH_URI_MAX];
	char user[TOKEN_FIELD_MAX + 1]; /* remote-user: "local:<name>"; oidc: "" */
	char name[TOKEN_FIELD_MAX + 1]; /* display name */
	time_t exp;
	/* identity = oidc, set once consent is given: */
	char up_state[sizeof(((struct upstream_login *)0)->state)];
	char up_nonce[sizeof(((struct upstream_login *)0)->nonce)];
	char up_verifier[sizeof(((struct upstream_login *)0)->verifier)];
	char login_cookie[AUTHZ_COOKIE_NAME_MAX]; /* full cookie name */
	char login_hash[CRYPTO_B64URL_LEN(CRYPTO_SHA256_LEN)]; /* b64url SHA-256 of its value */
	/* identity = oidc: the consent record id of the cookie that skipped
	 * the consent page; "" when the user approved on the page.  The
	 * callback needs that user's record to carry this id before a skip
	 * counts (the cookie is from before login: another user may have set
	 * it in this browser). */
	char consent_id[CONSENT_ID_MAX];
};

/* ---- records ---- */

/* Serialise t as compact JSON into out.  0 or -1 (out overflowed). */
int authz_txn_encode(const struct authz_txn *t, struct buf *out);
/* Parse what authz_txn_encode wrote; -1 on anything malformed or too long
 * for its field (a damaged record never overflows a field). */
int authz_txn_decode(const char *s, size_t len, struct authz_txn *out);
/* Wipe t (it holds the upstream verifier and nonce). */
void authz_txn_wipe(struct authz_txn *t);

/* Store t as a new transaction: a fresh id and expiry (now + AUTHZ_TTL) are
 * written into t.  STORE_* status. */
int authz_txn_create(struct app *app, struct authz_txn *t);
/* Read a live transaction; STORE_NOTFOUND for an unknown, expired or
 * malformed id. */
int authz_txn_get(struct app *app, const char *id, struct authz_txn *out);
/* Read and delete (with its state index) in one store transaction: exactly
 * one caller gets STORE_OK for an id. */
int authz_txn_take(struct app *app, const char *id, struct authz_txn *out);
/* authz_txn_take in two steps inside the caller's write transaction tx, so
 * that a check can sit between them and other writes can share the lock:
 * read a live transaction (STORE_NOTFOUND for an unknown, expired or
 * malformed id), then delete it with its state index. */
int authz_txn_read_tx(struct store_txn *tx, const char *id, struct authz_txn *out);
int authz_txn_delete_tx(struct store_txn *tx, const struct authz_txn *t);
/* After consent (identity = oidc): bind the login to this browser, record
 * login's secrets in transaction id and add the state index, atomically and
 * only once (STORE_EXISTS if a login already began).  The binding is the
 * browser's login cookie: have (the value of its AUTHZ_LOGIN_COOKIE, NULL
 * or "" when none) is reused when well-formed, so parallel logins in one
 * browser share one cookie; otherwise a new random value is made.  out
 * receives the updated transaction; cookie_value (>= CRYPTO_B64URL_LEN(32))
 * the value to (re)set for the cookie named out->login_cookie. */
int authz_txn_begin_login(struct app *app, const char *id, const struct upstream_login *login,
			  const char *have, struct authz_txn *out, char *cookie_value,
			  size_t cvsz);
/* Callback: find the transaction by upstream state, check that
 * cookie_value is its browser binding, and only then delete it and the
 * index, all in one store transaction (single use).  STORE_NOTFOUND when
 * the state is unknown, expired or already used; AUTHZ_WRONG_BROWSER
 * (nothing deleted: someone who merely saw the state cannot burn the
 * login) when the cookie is missing or wrong; STORE_BUSY, STORE_ERROR. */
int authz_txn_take_by_state(struct app *app, const char *up_state, const char *cookie_value,
			    struct authz_txn *out);
/* 1 when cookie_value is the browser binding of t (constant time). */
int authz_login_cookie_ok(const struct authz_txn *t, const char *cookie_value);

/* ---- responses to the client ---- */

/*
 * Build the redirect back to the client into out: redirect_uri plus
 * ("?" or "&") the given parameters, then state (if any) and iss.  error
 * NULL means success (code must be set).  -1 if it does not fit a Location
 * header.
 */
int authz_location(const struct config *cfg, const char *redirect_uri, const char *state,
		   const char *code, const char *error, const char *description, struct buf *out);
/* Fill resp with a redirect (status 302 for GET, 303 after a POST) to the
 * client carrying error.  Falls back to an HTML error page when the URL
 * cannot be built.  Logs one line. */
void authz_redirect_error(struct app *app, struct http_resp *resp, int status,
			  const struct authz_txn *t, const char *error, const char *description);
/* The same without the log line, when the failure was logged already (by
 * the caller, or by upstream_* which logs its own failures). */
void authz_redirect_error_logged(struct app *app, struct http_resp *resp, int status,
				 const struct authz_txn *t, const char *error,
				 const char *description);
/* Issue our authorization code for t to user (display name) and redirect to
 * the client with code, state and iss: 0.  Store failures become an error
 * redirect (temporarily_unavailable / server_error): -1. */
int authz_redirect_code(struct app *app, struct http_resp *resp, int status,
			 const struct authz_txn *t, const char *user, const char *name);
/* Fill c with what a code for t says, issued to user (display name). */
void authz_code_init(const struct authz_txn *t, const char *user, const char *name,
		     struct oauth_code *c);
/* The success redirect of authz_redirect_code for a code already issued
 * (oauth_code_issue_tx): 0, or -1 with a 500 page. */
int authz_redirect_issued(struct app *app, struct http_resp *resp, int status,
			  const struct authz_txn *t, const char *code, const char *user);
/* identity = oidc, consent already given: begin the upstream login for
 * transaction t->id, set the binding cookie and redirect to the provider: 0.
 * Errors become error redirects to the client (or an HTML page when the
 * transaction is gone or its login already began): -1. */
int authz_start_login(struct app *app, const struct http_req *req, struct http_resp *resp,
		      int status, const struct authz_txn *t);
/* The value of req's login cookie into out (>= CRYPTO_B64URL_LEN(32)):
 * 1, or 0 when there is none (out = ""). */
int authz_login_cookie_get(const struct http_req *req, char *out, size_t outsz);
/* Add "Set-Cookie: name=value; Max-Age=..; Path=/; Secure; HttpOnly;
 * SameSite=Lax" (max_age 0 deletes the cookie).  0 or -1. */
int authz_set_cookie(struct http_resp *resp, const char *name, const char *value, long max_age);

/* Remember in this browser that the user approved t (its client,
 * redirect URI and scope) as consent record id: the signed consent cookie
 * of consent.h, for consent_ttl.  Nothing when consent_ttl is 0 or id is
 * "".  A failure is logged, not fatal: the page is simply shown again. */
void authz_remember_consent(struct app *app, struct http_resp *resp, const struct authz_txn *t,
			    const char *id);

/* The user id for a REMOTE_USER value: "local:<name>" into out; -1 when
 * remote_user is empty, too long or holds control characters. */
int authz_remote_user(const char *remote_user, char *out, size_t outsz);

#endif
