/*
 * oauth: the authorization server's records and rules, shared by the
 * register, authorize, consent, callback, token, revoke and introspect
 * programs.  Every record lives in the store as compact JSON.
 *
 *   clients   STORE_CLIENT  key client_id     (dynamic registration, RFC 7591)
 *             + Client ID Metadata Documents (https client_id, fetched, cached)
 *             + static clients from the configuration
 *   codes     STORE_CODE    key H(code)       single use, <= code_ttl
 *   grants    STORE_GRANT   key grant_id      one per authorization; exists
 *                                             while the grant is live
 *   refresh   STORE_TOKEN   key H(refresh)    -> grant_id (rotation state in the grant)
 *   consents  STORE_CONSENT key user NUL SHA-256(client_id NUL redirect key)
 *
 * H() is crypto_token_hash: the store never holds a code or token in clear.
 */
#ifndef MCPGATE_OAUTH_H
#define MCPGATE_OAUTH_H

#include <stddef.h>
#include <time.h>

#include "app.h"
#include "token.h"

struct json_object;

#define OAUTH_REDIRECTS_MAX 8
#define OAUTH_URI_MAX 1024
#define OAUTH_ID_MAX 256
#define OAUTH_NAME_MAX 256
#define OAUTH_CODE_LEN 43 /* base64url of 32 random bytes */

enum oauth_auth_method {
	OAUTH_AUTH_NONE,        /* public client: PKCE only */
	OAUTH_AUTH_SECRET_BASIC,
	OAUTH_AUTH_SECRET_POST
};

enum oauth_client_source {
	OAUTH_CLIENT_DYNAMIC, /* RFC 7591 */
	OAUTH_CLIENT_CIMD,    /* client_id is an https URL to its metadata document */
	OAUTH_CLIENT_STATIC   /* pre-registered in the configuration */
};

/* Grant types a client registered (RFC 7591 §2 grant_types). */
#define OAUTH_GRANT_CODE 0x1u    /* authorization_code */
#define OAUTH_GRANT_REFRESH 0x2u /* refresh_token */

struct oauth_client {
	char client_id[OAUTH_ID_MAX];
	char client_name[OAUTH_NAME_MAX];
	char client_uri[OAUTH_URI_MAX];
	size_t n_redirect_uris;
	char redirect_uris[OAUTH_REDIRECTS_MAX][OAUTH_URI_MAX];
	enum oauth_auth_method auth_method;
	char secret_hash[65];  /* crypto_token_hash of the secret; "" for public clients */
	unsigned scope;        /* SCOPE_* bits the client may ask for (0 = all) */
	time_t issued_at;
	enum oauth_client_source source;
	unsigned grant_types;  /* OAUTH_GRANT_* */
};

/* Look a client up by id: store, then (https URL ids) its metadata document,
 * then the static list.  STORE_OK, STORE_NOTFOUND (unknown or document
 * refused), STORE_BUSY or STORE_ERROR. */
int oauth_client_get(struct app *app, const char *client_id, struct oauth_client *out);
/* The registered (STORE_CLIENT) part of oauth_client_get, inside the
 * caller's transaction tx: STORE_OK, STORE_NOTFOUND (then ask
 * oauth_client_get, outside any transaction, for the other sources) or
 * STORE_ERROR (a damaged record). */
int oauth_client_get_tx(struct store_txn *tx, const char *client_id, struct oauth_client *out);
/* 1 when redirect_uri is registered for c: exact string match, except that
 * for an http loopback redirect URI the port may differ (RFC 8252 §7.3). */
int oauth_redirect_allowed(const struct oauth_client *c, const char *redirect_uri);
/* 1 when uri is an acceptable redirect URI for registration: https, http on
 * a loopback host, or a private-use scheme (RFC 8252 §7.1); never
 * javascript:, data:, file:, fragments or userinfo. */
int oauth_redirect_uri_valid(const char *uri);

/* What an authorization code stands for. */
struct oauth_code {
	char client_id[OAUTH_ID_MAX];
	char redirect_uri[OAUTH_URI_MAX];
	char code_challenge[129];
	char resource[OAUTH_URI_MAX];
	char user[TOKEN_FIELD_MAX + 1];
	char name[TOKEN_FIELD_MAX + 1];
	unsigned scope;
	time_t exp;
	/* Set by oauth_code_redeem: the grant this code may create, recorded
	 * with the used code so a replay can revoke it. */
	char grant_id[TOKEN_GRANT_ID_LEN + 1];
};

/* Store a new single-use code for c (expiry now + code_ttl, set here) and
 * write the code into out (>= OAUTH_CODE_LEN + 1).  STORE_* status. */
int oauth_code_issue(struct app *app, struct oauth_code *c, char *out, size_t outsz);
/* oauth_code_issue inside the caller's write transaction tx, so that the
 * code can be stored together with other writes (one lock, one sync). */
int oauth_code_issue_tx(struct app *app, struct store_txn *tx, struct oauth_code *c, char *out,
			size_t outsz);
/* Atomically take the code: exactly one caller ever gets STORE_OK for a code.
 * A second attempt gets STORE_NOTFOUND and revokes every token issued from
 * that code (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3). */
int oauth_code_redeem(struct app *app, const char *code, struct oauth_code *out);
/* oauth_code_redeem that also says why a code was refused (*why, static
 * text, may be NULL): unknown or expired, or replayed (grant revoked). */
int oauth_code_take(struct app *app, const char *code, struct oauth_code *out, const char **why);

/* ---- consents ---------------------------------------------------------- */

#define OAUTH_CONSENT_ID_LEN 22 /* base64url of 16 random bytes */

/* One remembered approval of a user.  The redirect key is the redirect URI
 * without the port of an http loopback URI (consent_redirect_key).  id is
 * random per record and is signed into the consent cookie, so a cookie is
 * good only while the very record it was issued for exists. */
struct oauth_consent {
	char id[OAUTH_CONSENT_ID_LEN + 1];
	char client_id[OAUTH_ID_MAX];
	char redirect_key[OAUTH_URI_MAX];
	unsigned scope;
	time_t at;  /* last approved */
	time_t exp;
};

/* Remember that user approved client_id + redirect_uri for scope until
 * now + consent_ttl: creates the record, or renews an existing one (which
 * keeps its id and gains scope).  out (may be NULL) receives the record;
 * with consent_ttl 0 nothing is stored and out->id is "".  STORE_OK,
 * STORE_BUSY, or STORE_ERROR (also for an empty or too long argument). */
int oauth_consent_record(struct app *app, const char *user, const char *client_id,
			 const char *redirect_uri, unsigned scope, struct oauth_consent *out);
/* oauth_consent_record inside the caller's write transaction tx. */
int oauth_consent_record_tx(struct app *app, struct store_txn *tx, const char *user,
			    const char *client_id, const char *redirect_uri, unsigned scope,
			    struct oauth_consent *out);
/* The live record of user for client_id + redirect_uri.  STORE_OK,
 * STORE_NOTFOUND (none, expired, damaged, bad arguments), STORE_BUSY,
 * STORE_ERROR. */
int oauth_consent_get(struct app *app, const char *user, const char *client_id,
		      const char *redirect_uri, struct oauth_consent *out);
/* STORE_OK when the record exists, has this id (from a consent cookie) and
 * covers every bit of want; STORE_NOTFOUND when not; BUSY/ERROR. */
int oauth_consent_covers(struct app *app, const char *user, const char *client_id,
			 const char *redirect_uri, const char *id, unsigned want);
/* Up to max of user's live records into out (*n of them; *total, may be
 * NULL, counts all).  STORE_OK, STORE_NOTFOUND (bad user), BUSY, ERROR. */
int oauth_consent_list(struct app *app, const char *user, struct oauth_consent *out, size_t max,
		       size_t *n, size_t *total);
/* Delete user's records, of client_id only unless it is NULL; *removed
 * (may be NULL) gets the count.  Every cookie naming them stops counting.
 * STORE_OK, STORE_NOTFOUND (bad user), STORE_BUSY, STORE_ERROR. */
int oauth_consent_revoke(struct app *app, const char *user, const char *client_id,
			 size_t *removed);

/* ---- word lists ---------------------------------------------------------- */

/* Separators of the lists in configuration values and OAuth parameters
 * (scope and prompt are space-separated; config lists allow commas). */
#define OAUTH_LIST_SEPS " ,\t"

/* The next element of a list at or after p: its start, length in *len;
 * NULL at the end.  Iterate with p = oauth_list_next(p + len, &len). */
const char *oauth_list_next(const char *p, size_t *len);
/* 1 when word is an element of list (NULL: empty), compared exactly or,
 * with icase, ignoring ASCII case. */
int oauth_list_has(const char *list, const char *word, int icase);

/* The issuer identifier (RFC 9207 `iss`) is app->cfg.public_url; the MCP
 * resource is metadata_resource(). */

/* ---- errors ------------------------------------------------------------ */

/* What went wrong, independent of the wire; oauth_error() is the one place
 * that turns it into an RFC 6749 §5.2 / RFC 7591 §3.2.2 JSON answer. */
enum oauth_err {
	OAUTH_OK = 0,
	OAUTH_E_REQUEST,        /* invalid_request              400 */
	OAUTH_E_CLIENT,         /* invalid_client               401 + WWW-Authenticate */
	OAUTH_E_GRANT,          /* invalid_grant                400 */
	OAUTH_E_UNAUTHORIZED,   /* unauthorized_client          400 */
	OAUTH_E_GRANT_TYPE,     /* unsupported_grant_type       400 */
	OAUTH_E_SCOPE,          /* invalid_scope                400 */
	OAUTH_E_TARGET,         /* invalid_target (RFC 8707)    400 */
	OAUTH_E_REDIRECT_URI,   /* invalid_redirect_uri (7591)  400 */
	OAUTH_E_METADATA,       /* invalid_client_metadata      400 */
	OAUTH_E_BUSY,           /* temporarily_unavailable      503 + Retry-After */
	OAUTH_E_SERVER,         /* server_error                 500 */
	OAUTH_E__MAX
};

/* Render e (not OAUTH_OK) into resp; description is plain text, never a
 * secret (NULL: a generic one). */
void oauth_error(struct http_resp *resp, enum oauth_err e, const char *description);
/* STORE_BUSY -> OAUTH_E_BUSY, STORE_OK -> OAUTH_OK, anything else -> OAUTH_E_SERVER. */
enum oauth_err oauth_err_from_store(int store_status);

/* ---- request plumbing shared by the JSON endpoints ----------------------- */

/* CORS for browser-based clients: these endpoints use no cookies, so any
 * origin may call them; Authorization is allowed for client_secret_basic. */
void oauth_cors(struct http_resp *resp);
/* Answer an OPTIONS preflight (204) for methods; 1 when req was one. */
int oauth_preflight(const struct http_req *req, struct http_resp *resp, const char *methods);
/* Read an application/x-www-form-urlencoded POST body of at most max bytes
 * and parse it into form (free with http_form_free even on error).  0, or
 * -1 with the error (405, 413, 400 invalid_request) rendered into resp. */
int oauth_form_read(struct http_req *req, struct http_resp *resp, size_t max,
		    struct http_form *form);
/* Fill resp with a JSON body (status as given) and no-store caching; takes
 * ownership of o.  0, or -1 with a 500 rendered. */
int oauth_json_send(struct http_resp *resp, int status, struct json_object *o);

/* 1 when value names our MCP resource (RFC 8707): equal to
 * metadata_resource() once scheme and host are lowercased. */
int oauth_resource_ok(const struct config *cfg, const char *value);

/* ---- clients ----------------------------------------------------------- */

/* Check client metadata (RFC 7591 §2) in the JSON object o and fill out's
 * name, uri, redirect URIs, auth method, grant types and scope (client_id,
 * secret and issue time are left alone).  OAUTH_OK, OAUTH_E_REDIRECT_URI or
 * OAUTH_E_METADATA with a reason (no input quoted) in why. */
enum oauth_err oauth_client_parse(struct json_object *o, struct oauth_client *out, char *why,
				  size_t whylen);
/* The client's registered metadata as a new JSON object (no secret, no
 * hash): for the registration response.  NULL when out of memory. */
struct json_object *oauth_client_json(const struct oauth_client *c);
/* Store a newly registered client (STORE_PUT_INSERT).  STORE_* status. */
int oauth_client_put(struct app *app, const struct oauth_client *c);
/* 1 when secret is c's client secret (keyed hash, constant time, every key). */
int oauth_client_secret_ok(const struct app *app, const struct oauth_client *c,
			   const char *secret);
/* Authenticate the caller of the token, revocation or introspection
 * endpoint as its registration says (RFC 6749 §2.3): client_secret_basic
 * (Authorization header), client_secret_post (form), or none (client_id
 * in the form).  On OAUTH_OK out is the client.  OAUTH_E_REQUEST (two
 * methods, malformed header), OAUTH_E_CLIENT (unknown, wrong secret, wrong
 * method), OAUTH_E_BUSY, OAUTH_E_SERVER; *why gets a static reason. */
enum oauth_err oauth_client_authenticate(struct app *app, const struct http_req *req,
					 const struct http_form *form, struct oauth_client *out,
					 const char **why);

/* ---- grants and tokens ------------------------------------------------- */

#define OAUTH_REFRESH_PREFIX "mgr_"
#define OAUTH_REFRESH_MAX 64 /* "mgr_" + 43 + NUL fits */

/* What the token endpoint hands out. */
struct oauth_tokens {
	char access[TOKEN_ACCESS_MAX];
	char refresh[OAUTH_REFRESH_MAX]; /* "" when no refresh token is issued */
	unsigned scope;                  /* of the access token */
	long expires_in;                 /* seconds */
};

/* Create the grant c->grant_id for a code oauth_code_redeem just took
 * (code is the code string, to find its used-code record) and mint the
 * first tokens; with_refresh 0 issues no refresh token.  Refused
 * (OAUTH_E_GRANT) if the code was replayed meanwhile.  OAUTH_OK, OAUTH_E_GRANT,
 * OAUTH_E_BUSY or OAUTH_E_SERVER. */
enum oauth_err oauth_grant_from_code(struct app *app, const char *code,
				     const struct oauth_code *c, int with_refresh,
				     struct oauth_tokens *out);
/* What the token endpoint checks of a code it redeems (client, redirect
 * URI, PKCE, resource): NULL to go on, or a static reason to refuse. */
typedef const char *(*oauth_code_check_fn)(const struct oauth_code *c, void *arg);
/* The whole authorization_code grant in ONE store write transaction:
 * oauth_code_take (single use; a replayed code revokes the grant it gave),
 * then check(c, arg) (may be NULL), then oauth_grant_from_code.  A code that
 * fails the check is used up all the same.  OAUTH_OK with out filled;
 * OAUTH_E_GRANT (unknown, expired, replayed, refused by check),
 * OAUTH_E_BUSY or OAUTH_E_SERVER, with a static reason in *why (why may
 * be NULL). */
enum oauth_err oauth_code_exchange(struct app *app, const char *code, oauth_code_check_fn check,
				   void *arg, int with_refresh, struct oauth_tokens *out,
				   const char **why);
/* Rotate refresh token rt of client (RFC 6749 §6, OAuth 2.1 §4.3.1):
 * new access + refresh pair, the old token retired.  A retired token
 * presented again revokes the grant (RFC 9700 §4.14.2) unless it is the one
 * rotated out at most refresh_grace seconds ago, which gets the same new
 * pair again.  scope (has_scope) may narrow the grant's scope, never widen
 * it.  OAUTH_OK, OAUTH_E_GRANT, OAUTH_E_SCOPE, OAUTH_E_BUSY, OAUTH_E_SERVER;
 * *why gets a static reason for the caller's log line. */
enum oauth_err oauth_grant_refresh(struct app *app, const struct oauth_client *client,
				   const char *rt, int has_scope, unsigned scope,
				   struct oauth_tokens *out, const char **why);
/* End a grant: delete its record and its refresh token entries, so every
 * access and refresh token issued from it stops working.  STORE_OK,
 * STORE_NOTFOUND (already gone), STORE_BUSY, STORE_ERROR. */
int oauth_grant_revoke(struct app *app, const char *grant_id);

/* What a presented token (access "mga_…" or refresh "mgr_…") stands for. */
struct oauth_token_info {
	int active;     /* 1: live token of a live grant */
	int refresh;    /* 1: a refresh token */
	char grant_id[TOKEN_GRANT_ID_LEN + 1]; /* "" when the token is not ours at all */
	char client_id[OAUTH_ID_MAX];
	char user[TOKEN_FIELD_MAX + 1];
	char name[TOKEN_FIELD_MAX + 1];
	unsigned scope;
	time_t exp;
};

/* Look token up (never fails on hostile input: unknown means inactive).
 * grant_id is filled for an authentic token even when inactive (expired
 * access token, rotated refresh token) so that revocation can end its
 * grant.  STORE_OK, STORE_BUSY or STORE_ERROR. */
int oauth_token_lookup(struct app *app, const char *token, struct oauth_token_info *out);

#endif
