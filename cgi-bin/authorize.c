/*
 * authorize: GET /oauth/authorize, the authorization endpoint
 * (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207).
 *
 * validate -> authorise -> act:
 *   1. rate limit per client address;
 *   2. client_id and redirect_uri: until both are known good, nothing may
 *      redirect (RFC 6749 §4.1.2.1), so their errors are HTML pages;
 *   3. every other parameter: errors are redirects to the client with
 *      error, error_description, state and iss;
 *   4. a new authorization transaction, then the consent page, or, when
 *      this browser already approved this client and redirect URI, straight
 *      on: the code (identity = remote-user) or the upstream login
 *      (identity = oidc).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "authz.h"
#include "consent.h"
#include "log.h"
#include "metadata.h"
#include "oauth.h"
#include "ratelimit.h"
#include "scope.h"
#include "valid.h"

#define AUTHORIZE_QUERY_MAX 8192

/* Step 2: client_id and redirect_uri. */
static const struct valid_field authorize_client_fields[] = {
	{"client_id", OAUTH_ID_MAX - 1, VALID_REQUIRED, valid_vschar},
	{"redirect_uri", OAUTH_URI_MAX - 1, VALID_REQUIRED, valid_absolute_uri},
};

/* Step 3, checked one by one so each failure maps to its own error code
 * (missing and duplicate parameters are always invalid_request). */
enum authorize_field {
	AF_STATE,
	AF_RESPONSE_TYPE,
	AF_RESPONSE_MODE,
	AF_CHALLENGE,
	AF_METHOD,
	AF_SCOPE,
	AF_RESOURCE,
	AF_PROMPT,
	AF__MAX
};

static const struct authorize_param {
	struct valid_field f;
	const char *error; /* when the value is bad */
} authorize_params[AF__MAX] = {
	[AF_STATE] = {{"state", AUTHZ_STATE_MAX, 0, valid_vschar}, "invalid_request"},
	[AF_RESPONSE_TYPE] = {{"response_type", 64, VALID_REQUIRED, valid_vschar},
			      "unsupported_response_type"},
	[AF_RESPONSE_MODE] = {{"response_mode", 32, 0, valid_vschar}, "invalid_request"},
	/* RFC 7636 §4.2: 43-128 unreserved characters; OAuth 2.1 requires it. */
	[AF_CHALLENGE] = {{"code_challenge", 128, VALID_REQUIRED, valid_pkce}, "invalid_request"},
	[AF_METHOD] = {{"code_challenge_method", 16, VALID_REQUIRED, valid_vschar},
		       "invalid_request"},
	[AF_SCOPE] = {{"scope", 1024, 0, valid_scope}, "invalid_scope"},
	/* RFC 8707 §2: resource may repeat; each one is checked below. */
	[AF_RESOURCE] = {{"resource", OAUTH_URI_MAX - 1, VALID_MULTI, valid_absolute_uri},
			 "invalid_target"},
	/* OIDC Core §3.1.2.1, which some MCP clients send: "consent" (or
	 * "login") asks for the page even when the approval is remembered. */
	[AF_PROMPT] = {{"prompt", 128, 0, valid_printable_ascii}, "invalid_request"},
};

/* Everything one request needs, so the steps stay small. */
struct authorize_ctx {
	struct app *app;
	struct http_req *req;
	struct http_resp *resp;
	struct http_form q;
	struct oauth_client client;
	struct authz_txn t;
	const char *v[AF__MAX];
};

static void
authorize_html_error(struct authorize_ctx *c, int status, const char *title, const char *detail,
		     const char *why)
{
	char q[96];

	log_msg(LOG_INFO, "msg=\"authorization request refused\" why=\"%s\" client=%s", why,
		log_quote(q, sizeof(q), c->t.client_id));
	http_error_html(c->resp, status, title, detail);
}

/* Step 2.  0 when client and redirect URI are good (copied into c->t). */
static int
authorize_client(struct authorize_ctx *c)
{
	const char *v[2];
	char err[128];
	int rc;

	if (valid_form(&c->q, authorize_client_fields, 2, v, err, sizeof(err)) != 0) {
		authorize_html_error(c, 400, "Invalid authorization request",
				     "The application sent an invalid request, so you were not "
				     "sent back to it. Please report this to its developers.",
				     err);
		return -1;
	}
	snprintf(c->t.client_id, sizeof(c->t.client_id), "%s", v[0]);
	rc = oauth_client_get(c->app, v[0], &c->client);
	if (rc == STORE_BUSY || rc == STORE_ERROR) {
		http_error_store(c->resp, rc, 1);
		return -1;
	}
	if (rc != STORE_OK) {
		authorize_html_error(c, 400, "Unknown application",
				     "The application that sent you here is not registered with "
				     "this server. Nothing was shared with it.",
				     "unknown client");
		return -1;
	}
	if (!oauth_redirect_allowed(&c->client, v[1])) {
		authorize_html_error(c, 400, "Unregistered redirect address",
				     "The application asked to send you to an address it has not "
				     "registered. For your safety you were not redirected.",
				     "redirect_uri not registered");
		return -1;
	}
	snprintf(c->t.redirect_uri, sizeof(c->t.redirect_uri), "%s", v[1]);
	return 0;
}

static int
authorize_fail(struct authorize_ctx *c, const char *error, const char *description)
{
	authz_redirect_error(c->app, c->resp, 302, &c->t, error, description);
	return -1;
}

/* Step 3a: each parameter's syntax.  state first, so that later errors can
 * carry it back. */
static int
authorize_syntax(struct authorize_ctx *c)
{
	char err[128];

	for (int i = 0; i < AF__MAX; i++) {
		if (valid_form(&c->q, &authorize_params[i].f, 1, &c->v[i], err, sizeof(err)) == 0) {
			if (i == AF_STATE && c->v[i] != NULL)
				snprintf(c->t.state, sizeof(c->t.state), "%s", c->v[i]);
			continue;
		}
		return authorize_fail(c,
				      strncmp(err, "missing", 7) == 0 ||
						      strncmp(err, "duplicate", 9) == 0
					      ? "invalid_request"
					      : authorize_params[i].error,
				      err);
	}
	return 0;
}

/* Step 3b: what the values mean. */
static int
authorize_semantics(struct authorize_ctx *c)
{
	unsigned allowed = c->client.scope != 0 ? c->client.scope : SCOPE_ALL;

	if (strcmp(c->v[AF_RESPONSE_TYPE], "code") != 0)
		return authorize_fail(c, "unsupported_response_type",
				      "only response_type=code is supported");
	if (c->v[AF_RESPONSE_MODE] != NULL && strcmp(c->v[AF_RESPONSE_MODE], "query") != 0)
		return authorize_fail(c, "invalid_request", "only response_mode=query is supported");
	/* RFC 7636 §4.4.1 / OAuth 2.1 §4.1.1: plain is not accepted. */
	if (strcmp(c->v[AF_METHOD], "S256") != 0)
		return authorize_fail(c, "invalid_request", "code_challenge_method must be S256");
	snprintf(c->t.code_challenge, sizeof(c->t.code_challenge), "%s", c->v[AF_CHALLENGE]);
	/* RFC 6749 §3.3: no scope means the client's default, all it may have. */
	c->t.scope = allowed;
	if (c->v[AF_SCOPE] != NULL &&
	    (scope_parse(c->v[AF_SCOPE], &c->t.scope) != 0 || (c->t.scope & ~allowed) != 0 ||
	     c->t.scope == 0))
		return authorize_fail(c, "invalid_scope", "unknown or not allowed scope");
	/* RFC 8707 §2: every resource must be one we serve; we serve one, the
	 * MCP endpoint, which is also the default for older clients. */
	for (size_t i = 0; i < c->q.n; i++)
		if (strcmp(c->q.kv[i].name, "resource") == 0 && c->q.kv[i].valuelen > 0 &&
		    !oauth_resource_ok(&c->app->cfg, c->q.kv[i].value))
			return authorize_fail(c, "invalid_target", "unknown resource");
	if (metadata_resource(&c->app->cfg, c->t.resource, sizeof(c->t.resource)) != 0)
		return authorize_fail(c, "server_error", "resource name too long");
	return 0;
}

/* Step 3c: the answer must fit one Location header; check now rather than
 * after the user has consented. */
static int
authorize_fits(struct authorize_ctx *c)
{
	static const char dummy[OAUTH_CODE_LEN + 1] =
		"ccccccccccccccccccccccccccccccccccccccccccc";
	struct buf b;
	int rc;

	buf_init(&b, HTTP_HEADER_LEN);
	rc = authz_location(&c->app->cfg, c->t.redirect_uri, c->t.state, dummy, NULL, NULL, &b);
	buf_free(&b);
	if (rc != 0) {
		c->t.state[0] = '\0'; /* the part that made it too long */
		return authorize_fail(c, "invalid_request", "state is too long");
	}
	return 0;
}

/* identity = remote-user: the web server authenticated this request. */
static int
authorize_user(struct authorize_ctx *c)
{
	const char *ru = http_getenv(c->req, "REMOTE_USER");

	if (c->app->cfg.identity != CONFIG_IDENTITY_REMOTE_USER)
		return 0;
	if (authz_remote_user(ru, c->t.user, sizeof(c->t.user)) != 0) {
		log_msg(LOG_ERROR, "msg=\"identity = remote-user but no usable REMOTE_USER: "
				   "is /oauth/authorize behind the web server's login?\"");
		return authorize_fail(c, "server_error", "login is not configured on this server");
	}
	snprintf(c->t.name, sizeof(c->t.name), "%s", ru);
	return 0;
}

/* Is the approval remembered?  The consent cookie says this browser
 * approved.  Where the user is known (remote-user), the server-side record
 * the cookie names must exist too, so that revoking it takes effect.  For
 * oidc the user is not known yet: the cookie may skip the page, and the
 * callback checks the record for whoever signs in (t->consent_id). */
static int
authorize_known(struct authorize_ctx *c)
{
	struct app *app = c->app;
	const char *prompt = c->v[AF_PROMPT];
	char id[CONSENT_ID_MAX];

	if (oauth_list_has(prompt, "consent", 0) || oauth_list_has(prompt, "login", 0) ||
	    !consent_remembered(&app->keys, c->req, c->t.client_id, c->t.redirect_uri, c->t.user,
				c->t.scope, time(NULL), app->cfg.consent_ttl, id, sizeof(id)))
		return 0;
	if (app->cfg.identity != CONFIG_IDENTITY_REMOTE_USER) {
		snprintf(c->t.consent_id, sizeof(c->t.consent_id), "%s", id);
		return 1;
	}
	return oauth_consent_covers(app, c->t.user, c->t.client_id, c->t.redirect_uri, id,
				    c->t.scope) == STORE_OK;
}

/* Step 4. */
static void
authorize_act(struct authorize_ctx *c)
{
	struct app *app = c->app;
	int remote = app->cfg.identity == CONFIG_IDENTITY_REMOTE_USER;
	int known = authorize_known(c);
	int rc;

	if (known && remote) {
		/* Nothing to remember between requests: the code is the answer. */
		authz_redirect_code(app, c->resp, 302, &c->t, c->t.user, c->t.name);
		return;
	}
	rc = authz_txn_create(app, &c->t);
	if (rc != STORE_OK) {
		authz_redirect_error(app, c->resp, 302, &c->t,
				     rc == STORE_BUSY ? "temporarily_unavailable" : "server_error",
				     "could not store the authorization request");
		return;
	}
	if (known) {
		authz_start_login(app, c->req, c->resp, 302, &c->t);
		return;
	}
	c->resp->status = 302;
	http_resp_header(c->resp, "Location", "%s/oauth/consent?txn=%s", app->cfg.public_url,
			 c->t.id);
	/* The URL carries the transaction id: no cache may keep it. */
	http_resp_header(c->resp, "Cache-Control", "no-store");
	http_resp_header(c->resp, "Referrer-Policy", "no-referrer");
}

static void
authorize_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct authorize_ctx *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		http_error_html(resp, 500, NULL, NULL);
		return;
	}
	c->app = app;
	c->req = req;
	c->resp = resp;
	if (strcmp(req->method, "GET") != 0) {
		http_error_method(resp, "GET", 1);
		goto out;
	}
	if (ratelimit_check(app, req, resp, RATELIMIT_AUTHORIZE, 1) != 0)
		goto out;
	if (strlen(req->query) > AUTHORIZE_QUERY_MAX) {
		authorize_html_error(c, 414, NULL, "The authorization request is too long.",
				     "query too long");
		goto out;
	}
	rc = http_form_parse(req->query, strlen(req->query), HTTP_FIELDS_MAX, &c->q);
	if (rc != HTTP_OK) {
		authorize_html_error(c, 400, "Invalid authorization request",
				     "The request could not be read.", "malformed query");
		goto out;
	}
	if (authorize_client(c) == 0 && authorize_syntax(c) == 0 &&
	    authorize_semantics(c) == 0 && authorize_fits(c) == 0 && authorize_user(c) == 0)
		authorize_act(c);
out:
	http_form_free(&c->q);
	authz_txn_wipe(&c->t);
	crypto_wipe(&c->client, sizeof(c->client));
	free(c);
}

static const struct app_def authorize_app = {
	.name = "authorize",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = authorize_handle,
};

int
main(void)
{
	return app_main(&authorize_app);
}
