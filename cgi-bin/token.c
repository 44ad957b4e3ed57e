/*
 * token: POST /oauth/token (RFC 6749 §3.2, OAuth 2.1 §3.2).
 *
 *   grant_type=authorization_code  code, code_verifier (PKCE S256, RFC 7636),
 *                                  redirect_uri; the code is single use and
 *                                  bound to client, redirect URI, challenge,
 *                                  resource, user and scope
 *   grant_type=refresh_token       refresh_token [scope]: rotated on every use
 *
 * The client authenticates as it registered (none, client_secret_basic or
 * client_secret_post).  `resource` (RFC 8707), when sent, must be our MCP
 * endpoint.  Answers are JSON with Cache-Control: no-store; errors follow
 * RFC 6749 §5.2.
 */
#include <json-c/json.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "oauth.h"
#include "ratelimit.h"
#include "scope.h"
#include "valid.h"

#define TOKEN_BODY_MAX (16 * 1024)

enum token_field {
	F_GRANT_TYPE,
	F_CODE,
	F_REDIRECT_URI,
	F_VERIFIER,
	F_REFRESH,
	F_SCOPE,
	F_RESOURCE,
	F_CLIENT_ID,
	F_CLIENT_SECRET,
	F__MAX
};

/* RFC 6749 §3.1: unknown parameters are ignored, none may repeat. */
static const struct valid_field token_fields[F__MAX] = {
	[F_GRANT_TYPE] = {"grant_type", 64, VALID_REQUIRED, valid_vschar},
	[F_CODE] = {"code", OAUTH_CODE_LEN, 0, valid_b64url_chars},
	[F_REDIRECT_URI] = {"redirect_uri", OAUTH_URI_MAX - 1, 0, valid_absolute_uri},
	[F_VERIFIER] = {"code_verifier", 128, 0, valid_pkce},
	[F_REFRESH] = {"refresh_token", OAUTH_REFRESH_MAX - 1, 0, valid_vschar},
	[F_SCOPE] = {"scope", 512, 0, valid_scope},
	[F_RESOURCE] = {"resource", OAUTH_URI_MAX - 1, 0, valid_absolute_uri},
	[F_CLIENT_ID] = {"client_id", OAUTH_ID_MAX - 1, 0, valid_vschar},
	[F_CLIENT_SECRET] = {"client_secret", 255, 0, valid_vschar},
};

/* What the checks of a redeemed code compare it with. */
struct token_code_ctx {
	const struct app *app;
	const struct oauth_client *cl;
	const char *const *v;
};

/* The checks RFC 6749 §4.1.3 and RFC 7636 §4.6 ask of a redeemed code. */
static const char *
token_code_mismatch(const struct oauth_code *c, void *arg)
{
	const struct token_code_ctx *x = arg;

	if (strcmp(c->client_id, x->cl->client_id) != 0)
		return "code was issued to another client";
	if (strcmp(c->redirect_uri, x->v[F_REDIRECT_URI]) != 0)
		return "redirect_uri differs from the authorization request";
	if (!crypto_pkce_s256_check(x->v[F_VERIFIER], c->code_challenge))
		return "code_verifier does not match the code_challenge";
	if (c->resource[0] != '\0' && !oauth_resource_ok(&x->app->cfg, c->resource))
		return "code was issued for another resource";
	return NULL;
}

/* Take the code, check it and create the grant in one store transaction
 * (one durable write per exchange). */
static enum oauth_err
token_by_code(struct app *app, const struct oauth_client *cl, const char *const *v,
	      struct oauth_tokens *tok, const char **why)
{
	struct token_code_ctx x = {.app = app, .cl = cl, .v = v};
	int refresh;

	if (v[F_CODE] == NULL || v[F_VERIFIER] == NULL || v[F_REDIRECT_URI] == NULL) {
		*why = "code, code_verifier and redirect_uri are required";
		return OAUTH_E_REQUEST;
	}
	refresh = (cl->grant_types & OAUTH_GRANT_REFRESH) && app->cfg.refresh_token_ttl > 0;
	return oauth_code_exchange(app, v[F_CODE], token_code_mismatch, &x, refresh, tok, why);
}

static enum oauth_err
token_by_refresh(struct app *app, const struct oauth_client *cl, const char *const *v,
		 struct oauth_tokens *tok, const char **why)
{
	unsigned scope = 0;

	if (!(cl->grant_types & OAUTH_GRANT_REFRESH)) {
		*why = "client did not register the refresh_token grant";
		return OAUTH_E_UNAUTHORIZED;
	}
	if (v[F_REFRESH] == NULL) {
		*why = "refresh_token is required";
		return OAUTH_E_REQUEST;
	}
	if (v[F_SCOPE] != NULL && scope_parse(v[F_SCOPE], &scope) != 0) {
		*why = "unknown scope";
		return OAUTH_E_SCOPE;
	}
	return oauth_grant_refresh(app, cl, v[F_REFRESH], v[F_SCOPE] != NULL, scope, tok, why);
}

static void
token_respond(struct http_resp *resp, const struct oauth_tokens *t)
{
	json_object *o = json_object_new_object();
	char scope[512];

	if (o != NULL) {
		json_object_object_add(o, "access_token", json_object_new_string(t->access));
		json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
		json_object_object_add(o, "expires_in", json_object_new_int64(t->expires_in));
		if (t->refresh[0] != '\0')
			json_object_object_add(o, "refresh_token",
					       json_object_new_string(t->refresh));
		if (scope_format(t->scope, scope, sizeof(scope)) == 0)
			json_object_object_add(o, "scope", json_object_new_string(scope));
	}
	oauth_json_send(resp, 200, o);
}

/* Which grant, who is asking, may they: everything before the grant is used. */
static enum oauth_err
token_check(struct app *app, const struct http_req *req, const struct http_form *form,
	    const char *const *v, struct oauth_client *cl, const char **why)
{
	enum oauth_err e;

	if (strcmp(v[F_GRANT_TYPE], "authorization_code") != 0 &&
	    strcmp(v[F_GRANT_TYPE], "refresh_token") != 0) {
		*why = "unsupported grant_type";
		return OAUTH_E_GRANT_TYPE;
	}
	e = oauth_client_authenticate(app, req, form, cl, why);
	if (e != OAUTH_OK)
		return e;
	/* RFC 8707 §2: we serve one resource; anything else is not ours to grant. */
	if (v[F_RESOURCE] != NULL && !oauth_resource_ok(&app->cfg, v[F_RESOURCE])) {
		*why = "resource is not this server's MCP endpoint";
		return OAUTH_E_TARGET;
	}
	return OAUTH_OK;
}

static void
token_refuse(struct http_resp *resp, enum oauth_err e, const char *why, const char *grant,
	     const char *client)
{
	char qc[OAUTH_ID_MAX + 8], qg[80];

	/* One line per refusal; grant and invalid_client failures are the
	 * ones an operator may need to look into. */
	log_msg(e == OAUTH_E_GRANT || e == OAUTH_E_CLIENT ? LOG_WARN : LOG_INFO,
		"msg=\"token request refused\" grant_type=%s client=%s reason=\"%s\"",
		log_quote(qg, sizeof(qg), grant != NULL ? grant : "-"),
		log_quote(qc, sizeof(qc), client != NULL && client[0] != '\0' ? client : "-"),
		why != NULL ? why : "-");
	/* invalid_client says no more than that; the other reasons help the
	 * client's developer and carry no secret. */
	oauth_error(resp, e, e == OAUTH_E_CLIENT || e == OAUTH_E_SERVER ? NULL : why);
}

static void
token_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct http_form form;
	struct oauth_client cl;
	struct oauth_tokens tok;
	const char *v[F__MAX], *why = NULL;
	char err[128], qc[OAUTH_ID_MAX + 8];
	enum oauth_err e;

	memset(&cl, 0, sizeof(cl));
	memset(&form, 0, sizeof(form));
	if (oauth_preflight(req, resp, "POST"))
		return;
	if (ratelimit_check(app, req, resp, RATELIMIT_TOKEN, 0) != 0 ||
	    oauth_form_read(req, resp, TOKEN_BODY_MAX, &form) != 0)
		goto out;
	if (valid_form(&form, token_fields, F__MAX, v, err, sizeof(err)) != 0) {
		token_refuse(resp, OAUTH_E_REQUEST, err, NULL, NULL);
		goto out;
	}
	e = token_check(app, req, &form, v, &cl, &why);
	if (e == OAUTH_OK && strcmp(v[F_GRANT_TYPE], "authorization_code") == 0)
		e = token_by_code(app, &cl, v, &tok, &why);
	else if (e == OAUTH_OK)
		e = token_by_refresh(app, &cl, v, &tok, &why);
	if (e != OAUTH_OK) {
		token_refuse(resp, e, why, v[F_GRANT_TYPE],
			     cl.client_id[0] != '\0' ? cl.client_id : v[F_CLIENT_ID]);
		goto out;
	}
	log_msg(LOG_INFO, "msg=\"tokens issued\" grant_type=%s client=%s", v[F_GRANT_TYPE],
		log_quote(qc, sizeof(qc), cl.client_id));
	token_respond(resp, &tok);
	crypto_wipe(&tok, sizeof(tok));
out:
	http_form_free(&form);
	oauth_cors(resp);
}

static const struct app_def token_app = {
	.name = "token",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = token_handle,
};

int
main(void)
{
	return app_main(&token_app);
}
