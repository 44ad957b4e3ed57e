/*
 * consent: GET /oauth/consent?txn=<id> shows the consent page for an
 * authorization transaction; POST /oauth/consent takes the answer.
 *
 * POST validate -> authorise -> act:
 *   form fields txn, csrf, action; Origin / Sec-Fetch-Site from our own
 *   page; CSRF token of this transaction (consent.h);
 *   the caller must be the user who started (remote-user: REMOTE_USER;
 *   oidc after login: the browser's login cookie), for Deny as for Approve;
 *   Deny    -> redirect to the client with error=access_denied;
 *   Approve -> user known (remote-user, or oidc when the callback showed
 *              the page again for the signed-in user): record the consent,
 *              issue the code, remember it in a signed __Host- cookie;
 *              oidc before login: start the upstream login (the callback
 *              records the consent and sets the cookie once the user is
 *              known).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "authz.h"
#include "consent.h"
#include "log.h"
#include "oauth.h"
#include "valid.h"

#define CONSENT_BODY_MAX 4096

static const struct valid_field consent_get_fields[] = {
	{"txn", AUTHZ_ID_LEN, VALID_REQUIRED, valid_b64url_chars},
};

enum { CF_TXN, CF_CSRF, CF_ACTION, CF__MAX };

static const struct valid_field consent_post_fields[CF__MAX] = {
	[CF_TXN] = {"txn", AUTHZ_ID_LEN, VALID_REQUIRED, valid_b64url_chars},
	[CF_CSRF] = {"csrf", CONSENT_CSRF_LEN, VALID_REQUIRED, valid_b64url_chars},
	[CF_ACTION] = {"action", 16, VALID_REQUIRED, valid_vschar},
};

static void
consent_gone(struct http_resp *resp)
{
	http_error_html(resp, 400, "This request has expired",
			"This authorization request has expired or was already answered. Go back "
			"to the application and start again.");
}

/* Only the one who started may see or answer a request.  remote-user: the
 * web server's REMOTE_USER, which must be present (an unprotected
 * /oauth/consent is a misconfiguration, not a pass) and equal.  oidc after
 * the login (the page shown again for the signed-in user): the browser
 * must hold the login cookie the transaction is bound to. */
static int
consent_caller_ok(const struct app *app, const struct http_req *req, const struct authz_txn *t)
{
	char user[TOKEN_FIELD_MAX + 1], cookie[CRYPTO_B64URL_LEN(32)];
	int good;

	if (app->cfg.identity == CONFIG_IDENTITY_REMOTE_USER)
		return authz_remote_user(http_getenv(req, "REMOTE_USER"), user, sizeof(user)) == 0 &&
		       t->user[0] != '\0' && strcmp(user, t->user) == 0;
	if (t->user[0] == '\0')
		return 1; /* before login: the CSRF token and Origin checks decide */
	good = authz_login_cookie_get(req, cookie, sizeof(cookie)) && authz_login_cookie_ok(t, cookie);
	crypto_wipe(cookie, sizeof(cookie));
	return good;
}

static void
consent_wrong_user(struct http_resp *resp)
{
	log_msg(LOG_WARN, "msg=\"consent: request of another user or browser refused\"");
	http_error_html(resp, 403, "Signed in as someone else",
			"This request was started by a different user.");
}

static void
consent_show(struct app *app, struct http_resp *resp, const struct authz_txn *t,
	     const struct oauth_client *cl)
{
	char csrf[CONSENT_CSRF_LEN + 1], action[CONFIG_STR_MAX + 32];
	struct consent_view v;

	if (consent_csrf_token(&app->keys, t->id, csrf, sizeof(csrf)) != 0) {
		http_error_html(resp, 500, NULL, NULL);
		return;
	}
	snprintf(action, sizeof(action), "%s/oauth/consent", app->cfg.public_url);
	v = (struct consent_view){
		.server_name = app->cfg.server_name, .action = action, .txn_id = t->id,
		.csrf = csrf, .client_id = t->client_id, .client_name = cl->client_name,
		.client_uri = cl->client_uri, .redirect_uri = t->redirect_uri, .scope = t->scope,
		.user = t->name};
	if (consent_page(&v, &resp->body) != 0) {
		http_error_html(resp, 500, NULL, NULL);
		return;
	}
	consent_page_headers(resp);
}

/* What the page shows, read in one store transaction (client_rc: the
 * client's lookup in the store). */
struct consent_get_op {
	const char *id;
	struct authz_txn t;
	struct oauth_client cl;
	int client_rc;
};

static int
consent_get_fn(struct store_txn *tx, void *arg)
{
	struct consent_get_op *op = arg;
	int rc = authz_txn_read_tx(tx, op->id, &op->t);

	if (rc == STORE_OK)
		op->client_rc = oauth_client_get_tx(tx, op->t.client_id, &op->cl);
	return rc;
}

/* The page for the caller's transaction.  A client not registered here (a
 * metadata document URL, a static client) is looked up only now, outside
 * the store transaction and after the caller check, since that may mean a
 * fetch. */
static void
consent_show_client(struct app *app, struct http_resp *resp, struct consent_get_op *op)
{
	int rc = op->client_rc;

	if (rc == STORE_NOTFOUND)
		rc = oauth_client_get(app, op->t.client_id, &op->cl);
	if (rc == STORE_BUSY || rc == STORE_ERROR)
		http_error_store(resp, rc, 1);
	else if (rc != STORE_OK)
		http_error_html(resp, 400, "Unknown application",
				"The application is no longer registered with this server.");
	else
		consent_show(app, resp, &op->t, &op->cl);
}

static void
consent_get(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct consent_get_op *op = calloc(1, sizeof(*op));
	struct http_form q;
	char err[96];
	int rc;

	memset(&q, 0, sizeof(q));
	if (op == NULL) {
		http_error_html(resp, 500, NULL, NULL);
		return;
	}
	if (http_form_parse(req->query, strlen(req->query), 8, &q) != HTTP_OK ||
	    valid_form(&q, consent_get_fields, 1, &op->id, err, sizeof(err)) != 0) {
		http_error_html(resp, 400, "Invalid request", "This address is not complete.");
		goto out;
	}
	rc = store_txn(app->store, 0, consent_get_fn, op);
	if (rc == STORE_BUSY || rc == STORE_ERROR)
		http_error_store(resp, rc, 1);
	else if (rc != STORE_OK || op->t.up_state[0] != '\0')
		consent_gone(resp);
	else if (!consent_caller_ok(app, req, &op->t))
		consent_wrong_user(resp);
	else
		consent_show_client(app, resp, op);
out:
	crypto_wipe(op, sizeof(*op));
	free(op);
	http_form_free(&q);
}

/* oidc, before login: the login begins; the consent is recorded and the
 * cookie set by the callback, once the login succeeded and the user is
 * known (a failed login remembers nothing). */
static int
consent_approve_login(struct app *app, struct http_req *req, struct http_resp *resp,
		      const char *id)
{
	struct authz_txn t;
	int rc = authz_txn_get(app, id, &t);

	if (rc == STORE_OK && (t.up_state[0] != '\0' || t.user[0] != '\0'))
		rc = STORE_NOTFOUND; /* Approve sent twice */
	if (rc == STORE_OK)
		authz_start_login(app, req, resp, 303, &t);
	authz_txn_wipe(&t);
	return rc;
}

/* consent_finish_fn: the caller is not the user who started (nothing was
 * written).  Distinct from every STORE_* status. */
#define CONSENT_NOT_CALLER 101

struct consent_finish_op {
	struct app *app;
	const struct http_req *req;
	const char *id;
	int approve;
	struct authz_txn t;
	int taken;          /* the transaction was deleted: answer by redirect */
	const char *failed; /* what could not be stored after that */
	struct oauth_consent rec;
	char code[OAUTH_CODE_LEN + 1];
};

/*
 * Deny, or Approve with the user known, in one store write transaction (one
 * lock, one sync): check the caller, end the authorization transaction
 * (once), and for Approve record the consent and issue the code.  The check
 * comes before the take, so another user cannot use up (and so deny) someone
 * else's request.  GDBM cannot roll back, so the writes go in the order that
 * is safe to stop after: the take (single use), the consent, then the code
 * that makes the approval usable.  Only a form carrying this transaction's
 * CSRF token gets this far, so strangers cannot queue for the write lock.
 */
static int
consent_finish_fn(struct store_txn *tx, void *arg)
{
	struct consent_finish_op *op = arg;
	const struct authz_txn *t = &op->t;
	struct oauth_code c;
	int rc = authz_txn_read_tx(tx, op->id, &op->t);

	if (rc != STORE_OK)
		return rc;
	if (!consent_caller_ok(op->app, op->req, t))
		return CONSENT_NOT_CALLER;
	rc = authz_txn_delete_tx(tx, t);
	if (rc != STORE_OK || !op->approve)
		return rc;
	op->taken = 1;
	op->failed = "could not record the consent";
	rc = oauth_consent_record_tx(op->app, tx, t->user, t->client_id, t->redirect_uri, t->scope,
				     &op->rec);
	if (rc != STORE_OK)
		return rc;
	op->failed = "could not issue the authorization code";
	authz_code_init(t, t->user, t->name, &c);
	rc = oauth_code_issue_tx(op->app, tx, &c, op->code, sizeof(op->code));
	crypto_wipe(&c, sizeof(c));
	if (rc == STORE_OK)
		op->failed = NULL;
	return rc;
}

/* Answer what consent_finish_fn did; the store status for consent_answer. */
static int
consent_finish_answer(struct app *app, struct http_resp *resp, struct consent_finish_op *op,
		      int rc)
{
	const struct authz_txn *t = &op->t;

	if (rc == CONSENT_NOT_CALLER) {
		consent_wrong_user(resp);
		return STORE_OK;
	}
	if (rc == STORE_OK && !op->approve) {
		authz_redirect_error(app, resp, 303, t, "access_denied", "the user denied access");
	} else if (rc == STORE_OK) {
		/* The approval is remembered in this browser only once the code
		 * is on its way. */
		if (authz_redirect_issued(app, resp, 303, t, op->code, t->user) == 0)
			authz_remember_consent(app, resp, t, op->rec.id);
	} else if (op->taken) {
		authz_redirect_error(app, resp, 303, t,
				     rc == STORE_BUSY ? "temporarily_unavailable" : "server_error",
				     op->failed != NULL ? op->failed : "could not store the answer");
		return STORE_OK;
	}
	return rc;
}

static int
consent_finish(struct app *app, struct http_req *req, struct http_resp *resp, const char *id,
	       int approve)
{
	struct consent_finish_op *op = calloc(1, sizeof(*op));
	int rc;

	if (op == NULL)
		return STORE_ERROR;
	*op = (struct consent_finish_op){.app = app, .req = req, .id = id, .approve = approve};
	rc = store_txn(app->store, 1, consent_finish_fn, op);
	rc = consent_finish_answer(app, resp, op, rc);
	crypto_wipe(op, sizeof(*op));
	free(op);
	return rc;
}

static void
consent_answer(struct app *app, struct http_req *req, struct http_resp *resp, const char *id,
	       const char *action)
{
	int approve = strcmp(action, "approve") == 0;
	struct authz_txn t;
	int rc;

	if (!approve && strcmp(action, "deny") != 0) {
		http_error_html(resp, 400, "Invalid request", "Choose Approve or Deny.");
		return;
	}
	/* Approve in oidc mode before login keeps the transaction for the
	 * callback (the login is added to it once); every other answer ends
	 * it here, once.  remote-user: the user is always known, so there is
	 * nothing to look at before consent_finish's own read. */
	memset(&t, 0, sizeof(t));
	if (app->cfg.identity == CONFIG_IDENTITY_REMOTE_USER)
		rc = consent_finish(app, req, resp, id, approve);
	else if ((rc = authz_txn_get(app, id, &t)) == STORE_OK && approve && t.user[0] == '\0')
		rc = consent_approve_login(app, req, resp, id);
	else if (rc == STORE_OK)
		rc = consent_finish(app, req, resp, id, approve);
	authz_txn_wipe(&t);
	if (rc == STORE_BUSY || rc == STORE_ERROR)
		http_error_store(resp, rc, 1);
	else if (rc != STORE_OK)
		consent_gone(resp);
}

static void
consent_post(struct app *app, struct http_req *req, struct http_resp *resp)
{
	const char *v[CF__MAX];
	struct http_form f;
	char err[96], q1[64], q2[64];
	int rc;

	memset(&f, 0, sizeof(f));
	if (!http_content_type_is(req, "application/x-www-form-urlencoded")) {
		http_error_html(resp, 415, NULL, "The form was not sent as a form.");
		goto out;
	}
	rc = http_read_body(req, CONSENT_BODY_MAX);
	if (rc != HTTP_OK) {
		http_error_html(resp, rc == HTTP_E_TOO_LARGE ? 413 : 400, NULL, NULL);
		goto out;
	}
	if (http_form_parse(req->body, req->bodylen, 8, &f) != HTTP_OK ||
	    valid_form(&f, consent_post_fields, CF__MAX, v, err, sizeof(err)) != 0) {
		http_error_html(resp, 400, "Invalid request", "The form was not complete.");
		goto out;
	}
	/* Cross-site form posts are refused twice over: by the browser's own
	 * Origin / Sec-Fetch-Site, and by the token only our page carries. */
	if (!consent_origin_ok(&app->cfg, http_header(req, "Origin"),
			       http_header(req, "Sec-Fetch-Site"))) {
		log_msg(LOG_WARN, "msg=\"consent: cross-origin post refused\" origin=%s site=%s",
			log_quote(q1, sizeof(q1), http_header(req, "Origin")),
			log_quote(q2, sizeof(q2), http_header(req, "Sec-Fetch-Site")));
		http_error_html(resp, 403, NULL, "This form can only be sent from its own page.");
		goto out;
	}
	if (!consent_csrf_ok(&app->keys, v[CF_TXN], v[CF_CSRF])) {
		log_msg(LOG_WARN, "msg=\"consent: bad CSRF token\"");
		http_error_html(resp, 403, NULL, "This form has expired. Go back and try again.");
		goto out;
	}
	consent_answer(app, req, resp, v[CF_TXN], v[CF_ACTION]);
out:
	http_form_free(&f);
}

static void
consent_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	if (strcmp(req->method, "GET") == 0)
		consent_get(app, req, resp);
	else if (strcmp(req->method, "POST") == 0)
		consent_post(app, req, resp);
	else
		http_error_method(resp, "GET, POST", 1);
}

static const struct app_def consent_app = {
	.name = "consent",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = consent_handle,
};

int
main(void)
{
	return app_main(&consent_app);
}
