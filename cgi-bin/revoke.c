/*
 * revoke: POST /oauth/revoke, OAuth 2.0 Token Revocation (RFC 7009).
 *
 * `token` is one of our access tokens ("mga_…") or refresh tokens
 * ("mgr_…"); revoking either ends its whole grant, so every token issued
 * from the same authorization stops working (§2.1 allows this).  The client
 * authenticates as registered and may revoke only its own tokens.  The
 * answer is 200 for anything that is not a live token of the caller too
 * (§2.2): revocation must not tell anyone which tokens exist.
 */
#include <string.h>

#include "app.h"
#include "log.h"
#include "oauth.h"
#include "ratelimit.h"
#include "valid.h"

#define REVOKE_BODY_MAX (16 * 1024)

enum revoke_field { F_TOKEN, F_HINT, F_CLIENT_ID, F_CLIENT_SECRET, F__MAX };

static const struct valid_field revoke_fields[F__MAX] = {
	[F_TOKEN] = {"token", TOKEN_ACCESS_MAX - 1, VALID_REQUIRED, valid_vschar},
	/* §2.1: a hint we may ignore; we tell the two kinds apart ourselves. */
	[F_HINT] = {"token_type_hint", 64, 0, valid_vschar},
	[F_CLIENT_ID] = {"client_id", OAUTH_ID_MAX - 1, 0, valid_vschar},
	[F_CLIENT_SECRET] = {"client_secret", 255, 0, valid_vschar},
};

/* Revoke what token stands for, if it is the caller's.  STORE_* status. */
static int
revoke_token(struct app *app, const struct oauth_client *cl, const char *token)
{
	struct oauth_token_info info;
	char qc[OAUTH_ID_MAX + 8];
	int rc = oauth_token_lookup(app, token, &info);

	/* Not ours, or its grant is already gone: nothing to do (§2.2). */
	if (rc != STORE_OK || info.grant_id[0] == '\0' || info.client_id[0] == '\0')
		return rc;
	if (strcmp(info.client_id, cl->client_id) != 0) {
		/* §2.1 says refuse; refusing silently gives no oracle. */
		log_msg(LOG_WARN, "msg=\"revocation of another client's token ignored\" client=%s",
			log_quote(qc, sizeof(qc), cl->client_id));
		return STORE_OK;
	}
	rc = oauth_grant_revoke(app, info.grant_id);
	if (rc == STORE_OK)
		log_msg(LOG_INFO, "msg=\"grant revoked\" client=%s via=%s",
			log_quote(qc, sizeof(qc), cl->client_id),
			info.refresh ? "refresh_token" : "access_token");
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static void
revoke_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct http_form form;
	struct oauth_client cl;
	const char *v[F__MAX], *why = NULL;
	char err[128], qc[OAUTH_ID_MAX + 8];
	enum oauth_err e;
	int rc;

	memset(&form, 0, sizeof(form));
	if (oauth_preflight(req, resp, "POST"))
		return;
	if (ratelimit_check(app, req, resp, RATELIMIT_TOKEN, 0) != 0 ||
	    oauth_form_read(req, resp, REVOKE_BODY_MAX, &form) != 0)
		goto out;
	if (valid_form(&form, revoke_fields, F__MAX, v, err, sizeof(err)) != 0) {
		log_msg(LOG_INFO, "msg=\"revocation refused\" reason=\"%s\"", err);
		oauth_error(resp, OAUTH_E_REQUEST, err);
		goto out;
	}
	e = oauth_client_authenticate(app, req, &form, &cl, &why);
	if (e != OAUTH_OK) {
		log_msg(LOG_WARN, "msg=\"revocation refused\" client=%s reason=\"%s\"",
			log_quote(qc, sizeof(qc), v[F_CLIENT_ID] != NULL ? v[F_CLIENT_ID] : "-"),
			why);
		oauth_error(resp, e, e == OAUTH_E_REQUEST ? why : NULL);
		goto out;
	}
	rc = revoke_token(app, &cl, v[F_TOKEN]);
	if (rc != STORE_OK) {
		oauth_error(resp, oauth_err_from_store(rc), NULL);
		goto out;
	}
	resp->status = 200;
	http_resp_header(resp, "Cache-Control", "no-store");
out:
	http_form_free(&form);
	oauth_cors(resp);
}

static const struct app_def revoke_app = {
	.name = "revoke",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = revoke_handle,
};

int
main(void)
{
	return app_main(&revoke_app);
}
