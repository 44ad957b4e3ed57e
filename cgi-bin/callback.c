/*
 * callback: GET /oauth/callback, where the upstream OpenID provider sends
 * the browser back (identity = oidc only).
 *
 * validate -> authorise -> act:
 *   state names an authorization transaction whose login began after
 *   consent; the browser must hold that login's __Host- cookie, and only
 *   then is the transaction taken, in the same store transaction (single
 *   use, <= 10 min); then the provider's answer: an error, or a code that
 *   upstream_finish() exchanges and whose ID token it verifies.  Success:
 *   approved on the page -> record the consent for the user; skipped by a
 *   cookie -> the user's record must be the one the cookie names, else the
 *   consent page is shown again for this user; then issue our code and
 *   redirect to the client.  Every failure after the transaction
 *   is known goes back to the client as access_denied /
 *   temporarily_unavailable / server_error, with state and iss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "authz.h"
#include "crypto.h"
#include "log.h"
#include "oauth.h"
#include "upstream.h"
#include "valid.h"

#define CALLBACK_QUERY_MAX 8192

enum { CB_STATE, CB_CODE, CB_ERROR, CB_ERROR_DESC, CB_ISS, CB__MAX };

/* RFC 6749 §4.1.2 and §4.1.2.1 responses, plus RFC 9207 iss. */
static const struct valid_field callback_fields[CB__MAX] = {
	[CB_STATE] = {"state", 63, VALID_REQUIRED, valid_vschar},
	[CB_CODE] = {"code", 2048, 0, valid_vschar},
	[CB_ERROR] = {"error", 128, 0, valid_vschar},
	[CB_ERROR_DESC] = {"error_description", 1024, 0, NULL},
	[CB_ISS] = {"iss", 1024, 0, valid_vschar},
};

/* The approval came from a cookie set before login, and who has no
 * record it names: show the consent page again, now for who.  A new
 * transaction carries the request on, with the user and the same browser
 * binding (the consent POST checks it); the login cookie is renewed so it
 * outlives the new transaction's page. */
static void
callback_reconsent(struct app *app, const struct http_req *req, struct http_resp *resp,
		   const struct authz_txn *t, const struct upstream_identity *who)
{
	struct authz_txn *n = calloc(1, sizeof(*n));
	char cookie[CRYPTO_B64URL_LEN(32)];
	int rc = STORE_ERROR;

	if (n != NULL) {
		*n = *t;
		memset(n->up_state, 0, sizeof(n->up_state));
		memset(n->up_nonce, 0, sizeof(n->up_nonce));
		memset(n->up_verifier, 0, sizeof(n->up_verifier));
		memset(n->consent_id, 0, sizeof(n->consent_id));
		snprintf(n->user, sizeof(n->user), "%s", who->user);
		snprintf(n->name, sizeof(n->name), "%s", who->name[0] != '\0' ? who->name : who->email);
		rc = authz_txn_create(app, n);
	}
	if (rc != STORE_OK) {
		authz_redirect_error(app, resp, 302, t,
				     rc == STORE_BUSY ? "temporarily_unavailable" : "server_error",
				     "could not store the authorization request");
	} else {
		log_msg(LOG_INFO, "msg=\"consent asked again: no approval of the signed-in user\"");
		resp->status = 302;
		http_resp_header(resp, "Location", "%s/oauth/consent?txn=%s", app->cfg.public_url,
				 n->id);
		http_resp_header(resp, "Cache-Control", "no-store");
		http_resp_header(resp, "Referrer-Policy", "no-referrer");
		if (authz_login_cookie_get(req, cookie, sizeof(cookie)))
			authz_set_cookie(resp, AUTHZ_LOGIN_COOKIE, cookie, AUTHZ_TTL);
		crypto_wipe(cookie, sizeof(cookie));
	}
	authz_txn_wipe(n);
	free(n);
}

/* Approved on the page: the consent record and the code in one store
 * write transaction (one lock, one sync); the consent first, since the
 * code is what makes the approval usable. */
struct callback_approve_op {
	struct app *app;
	const struct authz_txn *t;
	const struct upstream_identity *who;
	const char *name;
	struct oauth_consent rec;
	char code[OAUTH_CODE_LEN + 1];
	const char *failed;
};

static int
callback_approve_fn(struct store_txn *tx, void *arg)
{
	struct callback_approve_op *op = arg;
	const struct authz_txn *t = op->t;
	struct oauth_code c;
	int rc;

	op->failed = "could not record the consent";
	rc = oauth_consent_record_tx(op->app, tx, op->who->user, t->client_id, t->redirect_uri,
				     t->scope, &op->rec);
	if (rc != STORE_OK)
		return rc;
	op->failed = "could not issue the authorization code";
	authz_code_init(t, op->who->user, op->name, &c);
	rc = oauth_code_issue_tx(op->app, tx, &c, op->code, sizeof(op->code));
	crypto_wipe(&c, sizeof(c));
	if (rc == STORE_OK)
		op->failed = NULL;
	return rc;
}

static void
callback_approved(struct app *app, struct http_resp *resp, const struct authz_txn *t,
		  const struct upstream_identity *who, const char *name)
{
	struct callback_approve_op op = {.app = app, .t = t, .who = who, .name = name};
	int rc = store_txn(app->store, 1, callback_approve_fn, &op);

	if (rc != STORE_OK)
		authz_redirect_error(app, resp, 302, t,
				     rc == STORE_BUSY ? "temporarily_unavailable" : "server_error",
				     op.failed != NULL ? op.failed : "could not store the approval");
	else if (authz_redirect_issued(app, resp, 302, t, op.code, who->user) == 0)
		authz_remember_consent(app, resp, t, op.rec.id);
	crypto_wipe(&op, sizeof(op));
}

/* The user who is signed in now.  Approved on the page in this
 * transaction: record it (find or create) and remember it in this
 * browser.  Skipped by a cookie: only if who's record is the one the
 * cookie names, else the page again (the cookie may be another user's). */
static void
callback_consent(struct app *app, const struct http_req *req, struct http_resp *resp,
		 const struct authz_txn *t, const struct upstream_identity *who)
{
	const char *name = who->name[0] != '\0' ? who->name : who->email;
	int rc;

	if (t->consent_id[0] == '\0') {
		callback_approved(app, resp, t, who, name);
		return;
	}
	rc = oauth_consent_covers(app, who->user, t->client_id, t->redirect_uri, t->consent_id,
				  t->scope);
	if (rc == STORE_NOTFOUND) {
		callback_reconsent(app, req, resp, t, who);
		return;
	}
	if (rc != STORE_OK) {
		authz_redirect_error(app, resp, 302, t,
				     rc == STORE_BUSY ? "temporarily_unavailable" : "server_error",
				     "could not record the consent");
		return;
	}
	/* The cookie that skipped the page stays as it is. */
	authz_redirect_code(app, resp, 302, t, who->user, name);
}

/* The provider answered for transaction t: finish the login. */
static void
callback_finish(struct app *app, const struct http_req *req, struct http_resp *resp,
		const struct authz_txn *t, const char **v)
{
	struct upstream_identity who;
	char q0[96], q1[64], q2[160];
	int rc;

	memset(&who, 0, sizeof(who));
	if (v[CB_ERROR] != NULL) {
		const char *e = upstream_oauth_error(upstream_callback_error(v[CB_ERROR]));

		log_msg(LOG_INFO, "msg=\"identity provider refused the login\" error=%s client=%s "
				  "upstream_error=%s detail=%s",
			e, log_quote(q0, sizeof(q0), t->client_id),
			log_quote(q1, sizeof(q1), v[CB_ERROR]),
			log_quote(q2, sizeof(q2), v[CB_ERROR_DESC]));
		authz_redirect_error_logged(app, resp, 302, t, e,
					    "the identity provider did not sign you in");
		return;
	}
	if (v[CB_CODE] == NULL) {
		authz_redirect_error(app, resp, 302, t, "server_error",
				     "the identity provider sent neither code nor error");
		return;
	}
	/* RFC 9207 §2.4: the answer must come from the provider we sent the
	 * user to (mix-up defence). */
	rc = upstream_response_iss_check(app, v[CB_ISS]);
	if (rc == UPSTREAM_OK)
		rc = upstream_finish(app, v[CB_CODE], t->up_verifier, t->up_nonce, &who);
	if (rc != UPSTREAM_OK)
		/* upstream_* logged the reason: one line per failed login. */
		authz_redirect_error_logged(app, resp, 302, t, upstream_oauth_error(rc),
					    "the login with the identity provider failed");
	else
		callback_consent(app, req, resp, t, &who);
	crypto_wipe(&who, sizeof(who));
}

static void
callback_run(struct app *app, struct http_req *req, struct http_resp *resp,
	     const struct http_form *q)
{
	const char *v[CB__MAX];
	struct authz_txn *t = calloc(1, sizeof(*t));
	char err[96], cookie[CRYPTO_B64URL_LEN(32)];
	int rc;

	if (t == NULL) {
		http_error_html(resp, 500, NULL, NULL);
		return;
	}
	if (valid_form(q, callback_fields, CB__MAX, v, err, sizeof(err)) != 0) {
		log_msg(LOG_INFO, "msg=\"callback refused\" why=\"%s\"", err);
		http_error_html(resp, 400, "Invalid sign-in response",
				"The identity provider's answer could not be read.");
		goto out;
	}
	/* The cookie is checked inside the store transaction that takes the
	 * state, so only the browser that began the login can use it up. */
	authz_login_cookie_get(req, cookie, sizeof(cookie));
	rc = authz_txn_take_by_state(app, v[CB_STATE], cookie, t);
	crypto_wipe(cookie, sizeof(cookie));
	if (rc == STORE_BUSY || rc == STORE_ERROR) {
		http_error_store(resp, rc, 1);
	} else if (rc == AUTHZ_WRONG_BROWSER) {
		/* Login CSRF: an answer meant for another browser. */
		log_msg(LOG_WARN, "msg=\"callback refused\" why=\"login cookie missing or wrong\"");
		http_error_html(resp, 400, "Sign-in started elsewhere",
				"This sign-in was not started in this browser. Go back to the "
				"application and start again.");
	} else if (rc != STORE_OK) {
		log_msg(LOG_INFO, "msg=\"callback refused\" why=\"unknown, expired or used state\"");
		http_error_html(resp, 400, "This sign-in has expired",
				"This sign-in link has expired or was already used. Go back to "
				"the application and start again.");
	} else {
		/* The login cookie stays: other logins of this browser may be
		 * under way with it; it expires with them (AUTHZ_TTL). */
		callback_finish(app, req, resp, t, v);
	}
out:
	authz_txn_wipe(t);
	free(t);
}

static void
callback_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct http_form q;

	memset(&q, 0, sizeof(q));
	if (strcmp(req->method, "GET") != 0) {
		http_error_method(resp, "GET", 1);
		return;
	}
	if (app->cfg.identity != CONFIG_IDENTITY_OIDC) {
		http_error_html(resp, 404, NULL, "Sign-in is not federated on this server.");
		return;
	}
	if (strlen(req->query) > CALLBACK_QUERY_MAX ||
	    http_form_parse(req->query, strlen(req->query), 16, &q) != HTTP_OK)
		http_error_html(resp, 400, "Invalid sign-in response",
				"The identity provider's answer could not be read.");
	else
		callback_run(app, req, resp, &q);
	http_form_free(&q);
}

static const struct app_def callback_app = {
	.name = "callback",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = callback_handle,
};

int
main(void)
{
	return app_main(&callback_app);
}
