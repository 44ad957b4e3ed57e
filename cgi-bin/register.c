/*
 * register: POST /oauth/register, OAuth 2.0 Dynamic Client Registration
 * (RFC 7591).
 *
 * The body is a JSON object of client metadata (at most 64 KiB).  We keep
 * redirect_uris (required; https, http on a loopback host, or a private-use
 * scheme), token_endpoint_auth_method (none by default, client_secret_basic,
 * client_secret_post), grant_types (authorization_code [+ refresh_token]),
 * client_name, client_uri and scope; other members are ignored (§2).  The
 * answer is 201 with what was registered, a random client_id and, for a
 * confidential client only, a client_secret that is stored only as a keyed
 * hash.  Browser-based clients may call this cross-origin (no cookies are
 * involved), and every client IP is rate limited.
 */
#include <json-c/json.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "log.h"
#include "oauth.h"
#include "ratelimit.h"

#define REGISTER_BODY_MAX (64 * 1024)
#define REGISTER_ID_BYTES 16
#define REGISTER_SECRET_BYTES 32

/* Body checks before any metadata is looked at: method, media type, size. */
static int
register_read(struct http_req *req, struct http_resp *resp)
{
	const char *why = NULL;
	int rc, status = 400;

	if (strcmp(req->method, "POST") != 0) {
		http_error_method(resp, "POST, OPTIONS", 0);
		return -1;
	}
	if (!http_content_type_is(req, "application/json")) {
		why = "Content-Type must be application/json";
	} else if ((rc = http_read_body(req, REGISTER_BODY_MAX)) == HTTP_E_TOO_LARGE) {
		why = "request body too large";
		status = 413;
	} else if (rc != HTTP_OK) {
		why = "cannot read the request body";
	}
	if (why == NULL)
		return 0;
	log_msg(LOG_INFO, "msg=\"registration refused\" reason=\"%s\"", why);
	http_error_oauth(resp, status, "invalid_client_metadata", why);
	return -1;
}

/* Strict JSON: valid UTF-8, bounded nesting, one value and nothing after it. */
static json_object *
register_parse(const struct http_req *req)
{
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *o = NULL;

	if (tok == NULL || req->bodylen > REGISTER_BODY_MAX)
		goto out;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, req->body, (int)req->bodylen);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
			  json_tokener_get_parse_end(tok) != req->bodylen ||
			  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
out:
	json_tokener_free(tok);
	return o;
}

/* Give c its identity and, if confidential, a secret (into secret). */
static int
register_credentials(struct app *app, struct oauth_client *c, char *secret, size_t secretsz)
{
	secret[0] = '\0';
	if (crypto_random_token(c->client_id, sizeof(c->client_id), REGISTER_ID_BYTES) != 0)
		return -1;
	c->issued_at = time(NULL);
	c->source = OAUTH_CLIENT_DYNAMIC;
	if (c->auth_method == OAUTH_AUTH_NONE)
		return 0;
	if (crypto_random_token(secret, secretsz, REGISTER_SECRET_BYTES) != 0 ||
	    crypto_token_hash(&app->keys, secret, c->secret_hash, sizeof(c->secret_hash)) != 0)
		return -1;
	return 0;
}

static void
register_respond(struct http_resp *resp, const struct oauth_client *c, const char *secret)
{
	json_object *o = oauth_client_json(c);

	/* RFC 7591 §3.2.1: the secret is returned once, here, and never expires. */
	if (o != NULL && secret[0] != '\0') {
		json_object_object_add(o, "client_secret", json_object_new_string(secret));
		json_object_object_add(o, "client_secret_expires_at", json_object_new_int(0));
	}
	oauth_json_send(resp, 201, o);
}

static void
register_refuse(struct http_resp *resp, enum oauth_err e, const char *why)
{
	log_msg(LOG_INFO, "msg=\"registration refused\" reason=\"%s\"", why);
	oauth_error(resp, e, why);
}

static void
register_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct oauth_client c;
	json_object *o = NULL;
	char why[256], secret[CRYPTO_B64URL_LEN(REGISTER_SECRET_BYTES)], qn[96], qc[64];
	enum oauth_err e;
	int rc;

	memset(&c, 0, sizeof(c));
	secret[0] = '\0';
	if (oauth_preflight(req, resp, "POST"))
		return;
	if (ratelimit_check(app, req, resp, RATELIMIT_REGISTER, 0) != 0 ||
	    register_read(req, resp) != 0)
		goto out;
	if ((o = register_parse(req)) == NULL) {
		register_refuse(resp, OAUTH_E_METADATA, "body is not a JSON object");
		goto out;
	}
	if ((e = oauth_client_parse(o, &c, why, sizeof(why))) != OAUTH_OK) {
		register_refuse(resp, e, why);
		goto out;
	}
	if (register_credentials(app, &c, secret, sizeof(secret)) != 0) {
		oauth_error(resp, OAUTH_E_SERVER, NULL);
		goto out;
	}
	rc = oauth_client_put(app, &c);
	if (rc != STORE_OK) {
		/* STORE_EXISTS would mean 128 random bits collided. */
		oauth_error(resp, oauth_err_from_store(rc == STORE_EXISTS ? STORE_ERROR : rc), NULL);
		goto out;
	}
	log_msg(LOG_INFO, "msg=\"client registered\" client=%s name=%s auth=%s redirect_uris=%zu",
		log_quote(qc, sizeof(qc), c.client_id), log_quote(qn, sizeof(qn), c.client_name),
		c.auth_method == OAUTH_AUTH_NONE ? "none" : "secret", c.n_redirect_uris);
	register_respond(resp, &c, secret);
out:
	crypto_wipe(secret, sizeof(secret));
	json_object_put(o);
	oauth_cors(resp);
}

static const struct app_def register_app = {
	.name = "register",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = register_handle,
};

int
main(void)
{
	return app_main(&register_app);
}
