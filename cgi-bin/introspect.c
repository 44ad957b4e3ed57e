/*
 * introspect: POST /oauth/introspect, OAuth 2.0 Token Introspection
 * (RFC 7662).
 *
 * Callers authenticate as confidential clients (§2.1: the endpoint MUST
 * require authorisation).  Resource servers named in introspect_clients
 * may introspect any token; any other confidential client only its own.
 * Everything else — garbage, forged, expired, revoked, rotated-out tokens,
 * and tokens the caller may not see — is {"active": false} (§2.2).
 */
#include <json-c/json.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "metadata.h"
#include "oauth.h"
#include "ratelimit.h"
#include "scope.h"
#include "valid.h"

#define INTROSPECT_BODY_MAX (16 * 1024)

enum introspect_field { F_TOKEN, F_HINT, F_CLIENT_ID, F_CLIENT_SECRET, F__MAX };

static const struct valid_field introspect_fields[F__MAX] = {
	[F_TOKEN] = {"token", TOKEN_ACCESS_MAX - 1, VALID_REQUIRED, valid_vschar},
	[F_HINT] = {"token_type_hint", 64, 0, valid_vschar},
	[F_CLIENT_ID] = {"client_id", OAUTH_ID_MAX - 1, 0, valid_vschar},
	[F_CLIENT_SECRET] = {"client_secret", 255, 0, valid_vschar},
};

/* 1 when client_id is listed in introspect_clients (space or comma separated). */
static int
introspect_privileged(const struct config *cfg, const char *client_id)
{
	return oauth_list_has(cfg->introspect_clients, client_id, 0);
}

static json_object *
introspect_active(const struct app *app, const struct oauth_token_info *t)
{
	json_object *o = json_object_new_object();
	char scope[512], resource[CONFIG_STR_MAX + 8];

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "active", json_object_new_boolean(1));
	if (scope_format(t->scope, scope, sizeof(scope)) == 0)
		json_object_object_add(o, "scope", json_object_new_string(scope));
	json_object_object_add(o, "client_id", json_object_new_string(t->client_id));
	json_object_object_add(o, "sub", json_object_new_string(t->user));
	if (t->name[0] != '\0')
		json_object_object_add(o, "username", json_object_new_string(t->name));
	json_object_object_add(o, "exp", json_object_new_int64(t->exp));
	json_object_object_add(o, "iss", json_object_new_string(app->cfg.public_url));
	if (metadata_resource(&app->cfg, resource, sizeof(resource)) == 0)
		json_object_object_add(o, "aud", json_object_new_string(resource));
	json_object_object_add(o, "token_type",
			       json_object_new_string(t->refresh ? "refresh_token" : "Bearer"));
	return o;
}

/* Authenticate a confidential caller; on failure resp holds the answer. */
static int
introspect_auth(struct app *app, const struct http_req *req, const struct http_form *form,
		const char *const *v, struct oauth_client *cl, struct http_resp *resp)
{
	const char *why = NULL;
	char qc[OAUTH_ID_MAX + 8];
	enum oauth_err e = oauth_client_authenticate(app, req, form, cl, &why);

	if (e == OAUTH_OK && cl->auth_method == OAUTH_AUTH_NONE) {
		e = OAUTH_E_CLIENT;
		why = "public clients may not introspect";
	}
	if (e == OAUTH_OK)
		return 0;
	log_msg(LOG_WARN, "msg=\"introspection refused\" client=%s reason=\"%s\"",
		log_quote(qc, sizeof(qc), v[F_CLIENT_ID] != NULL ? v[F_CLIENT_ID] : cl->client_id),
		why);
	oauth_error(resp, e, e == OAUTH_E_REQUEST ? why : NULL);
	return -1;
}

static void
introspect_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct http_form form;
	struct oauth_client cl;
	struct oauth_token_info info;
	const char *v[F__MAX];
	char err[128];
	int rc;

	memset(&form, 0, sizeof(form));
	memset(&cl, 0, sizeof(cl));
	if (oauth_preflight(req, resp, "POST"))
		return;
	if (ratelimit_check(app, req, resp, RATELIMIT_TOKEN, 0) != 0 ||
	    oauth_form_read(req, resp, INTROSPECT_BODY_MAX, &form) != 0)
		goto out;
	if (valid_form(&form, introspect_fields, F__MAX, v, err, sizeof(err)) != 0) {
		log_msg(LOG_INFO, "msg=\"introspection refused\" reason=\"%s\"", err);
		oauth_error(resp, OAUTH_E_REQUEST, err);
		goto out;
	}
	if (introspect_auth(app, req, &form, v, &cl, resp) != 0)
		goto out;
	rc = oauth_token_lookup(app, v[F_TOKEN], &info);
	if (rc != STORE_OK) {
		oauth_error(resp, oauth_err_from_store(rc), NULL);
		goto out;
	}
	if (info.active && (strcmp(info.client_id, cl.client_id) == 0 ||
			    introspect_privileged(&app->cfg, cl.client_id)))
		oauth_json_send(resp, 200, introspect_active(app, &info));
	else
		oauth_json_send(resp, 200, json_tokener_parse("{\"active\":false}"));
	crypto_wipe(&info, sizeof(info));
out:
	http_form_free(&form);
	oauth_cors(resp);
}

static const struct app_def introspect_app = {
	.name = "introspect",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = introspect_handle,
};

int
main(void)
{
	return app_main(&introspect_app);
}
