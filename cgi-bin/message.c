/*
 * message: the MCP endpoints that receive client messages.
 *
 *   POST   /mcp                        Streamable HTTP (MCP 2025-03-26 and later)
 *   DELETE /mcp                        end an Mcp-Session-Id session
 *   GET    /mcp                        405: no server-to-client stream here
 *   POST   /mcp/message?sessionId=...  legacy HTTP+SSE (2024-11-05): the reply
 *                                      goes out on the session's SSE stream
 *
 * Every request but a CORS preflight is authorised on its own (MCP
 * authorization §Token Handling): the bearer token comes only from the
 * Authorization header, must open under our resource (RFC 8707 audience)
 * and its grant must still be live.  Sessions only tie a conversation to
 * the user; they never authenticate anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "bearer.h"
#include "bus.h"
#include "jsonrpc.h"
#include "log.h"
#include "mcp.h"
#include "metadata.h"
#include "session.h"
#include "token.h"

#define MESSAGE_SESSION_TTL (24 * 3600) /* Streamable HTTP sessions */
#define MESSAGE_BUS_TIMEOUT_MS 1000u
#define MESSAGE_LEGACY_VERSION "2024-11-05"

/* Built once per process from the configuration. */
struct message_ctx {
	char path_mcp[CONFIG_STR_MAX + 8];
	char path_legacy[CONFIG_STR_MAX + 16];
};

/* One request. */
struct message_req {
	struct app *app;
	const struct message_ctx *ctx;
	struct http_req *req;
	struct http_resp *resp;
	int legacy;          /* /mcp/message */
	const char *origin;  /* an allowed Origin, for CORS; NULL otherwise */
	struct http_form query;
	struct token_access who;
	int live_checked;
	char version[MCP_VERSION_MAX];
	struct session sess; /* when the request names one */
	int have_sess;
};

static int
message_init(struct app *app)
{
	struct message_ctx *x = calloc(1, sizeof(*x));
	const struct config *cfg = &app->cfg;

	if (x == NULL)
		return -1;
	snprintf(x->path_mcp, sizeof(x->path_mcp), "%s/mcp", cfg->public_path);
	snprintf(x->path_legacy, sizeof(x->path_legacy), "%s/mcp/message", cfg->public_path);
	app->priv = x;
	return 0;
}

static void
message_fini(struct app *app)
{
	free(app->priv);
	app->priv = NULL;
}

/* ---- responses ------------------------------------------------------------ */

/* Start over: an error must not carry headers set for success. */
static void
message_restart(struct message_req *m, int status)
{
	buf_reset(&m->resp->body);
	m->resp->nhdr = 0;
	m->resp->status = status;
}

/* A transport-level refusal with a JSON-RPC error body (null id). */
static void
message_fail(struct message_req *m, int status, int code, const char *text)
{
	message_restart(m, status);
	if (jsonrpc_error_text(&m->resp->body, code, text) != 0)
		buf_reset(&m->resp->body);
	http_resp_header(m->resp, "Content-Type", "application/json");
	if (status == 503)
		http_resp_header(m->resp, "Retry-After", "1");
}

/* Store trouble: 503 + Retry-After when busy, 500 otherwise. */
static void
message_store_fail(struct message_req *m, int rc)
{
	http_error_store(m->resp, rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR, 0);
}

/* The grant must be live before we answer anything but 401.  0 when it
 * is; otherwise the response is rendered and -1 returned. */
static int
message_live(struct message_req *m)
{
	int rc;

	if (m->live_checked)
		return 0;
	rc = token_grant_live(m->app->store, m->who.grant_id);
	if (rc == STORE_OK) {
		m->live_checked = 1;
		return 0;
	}
	if (rc == STORE_NOTFOUND)
		bearer_error(m->resp, &m->app->cfg, BEARER_INVALID);
	else
		message_store_fail(m, rc);
	return -1;
}

/* An error response for an authenticated request (grant checked first). */
static void
message_refuse(struct message_req *m, int status, int code, const char *text)
{
	if (message_live(m) == 0)
		message_fail(m, status, code, text);
}

static void
message_cors(struct message_req *m)
{
	http_resp_header(m->resp, "Vary", "Origin");
	if (m->origin == NULL)
		return;
	http_resp_header(m->resp, "Access-Control-Allow-Origin", "%s", m->origin);
	http_resp_header(m->resp, "Access-Control-Expose-Headers",
			 "Mcp-Session-Id, WWW-Authenticate, Retry-After");
}

static void
message_preflight(struct message_req *m)
{
	message_restart(m, 204);
	http_resp_header(m->resp, "Access-Control-Allow-Methods", "%s",
			 m->legacy ? "POST, OPTIONS" : "POST, GET, DELETE, OPTIONS");
	http_resp_header(m->resp, "Access-Control-Allow-Headers",
			 "Authorization, Content-Type, Accept, Mcp-Session-Id, "
			 "MCP-Protocol-Version, Last-Event-ID");
	http_resp_header(m->resp, "Access-Control-Max-Age", "86400");
}

/* ---- authentication --------------------------------------------------------- */

/* bearer_check leaves the grant's liveness to us: a single message checks
 * it inside the store transaction its method runs anyway. */
static int
message_authenticate(struct message_req *m)
{
	int rc = bearer_check(&m->app->cfg, &m->app->keys, m->app->store, m->req, 0, &m->who);

	if (rc == BEARER_OK && m->who.user[0] == '\0')
		rc = BEARER_INVALID;
	if (rc != BEARER_OK) {
		bearer_error(m->resp, &m->app->cfg, rc);
		return -1;
	}
	if (http_form_parse(m->req->query, strlen(m->req->query), 0, &m->query) != HTTP_OK) {
		message_refuse(m, 400, JSONRPC_SERVER_ERROR, "Malformed query string");
		return -1;
	}
	return 0;
}

/* ---- request checks ------------------------------------------------------------ */

/* 1 unless the weight "q=..." at v is zero (RFC 9110 §12.4.2: qvalue is
 * "0" ["." 0*3DIGIT] or "1" ["." 0*3("0")]). */
static int
message_qvalue_nonzero(const char *v)
{
	if (*v != '0')
		return 1;
	v++;
	if (*v == '.')
		v++;
	while (*v == '0')
		v++;
	return *v >= '1' && *v <= '9';
}

/* 1 when one media range (NUL-terminated) is type with a non-zero weight. */
static int
message_range_is(const char *r, const char *type)
{
	size_t tl, e;
	const char *q;

	r += strspn(r, " \t");
	tl = strcspn(r, ";");
	for (e = tl; e > 0 && (r[e - 1] == ' ' || r[e - 1] == '\t'); e--)
		;
	if (e != strlen(type) || strncasecmp(r, type, e) != 0)
		return 0;
	for (q = r + tl; *q == ';'; q += strcspn(q, ";")) {
		q++;
		q += strspn(q, " \t");
		if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
			return message_qvalue_nonzero(q + 2);
	}
	return 1;
}

/* 1 when the Accept header lists type (RFC 9110 §12.5.1). */
static int
message_accepts(const char *accept, const char *type)
{
	char range[256];

	/* Bounded: each pass consumes at least one byte. */
	while (accept != NULL && *accept != '\0') {
		size_t n = strcspn(accept, ",");

		if (n < sizeof(range)) {
			memcpy(range, accept, n);
			range[n] = '\0';
			if (message_range_is(range, type))
				return 1;
		}
		accept += n;
		if (*accept == ',')
			accept++;
	}
	return 0;
}

/* MCP-Protocol-Version (Streamable HTTP §Protocol Version Header): absent
 * means the session's revision, else 2025-03-26; unsupported is 400. */
static int
message_version(struct message_req *m)
{
	const char *v = http_header(m->req, "MCP-Protocol-Version");

	if (v != NULL && !mcp_version_supported(v)) {
		message_refuse(m, 400, JSONRPC_SERVER_ERROR, "Unsupported MCP-Protocol-Version");
		return -1;
	}
	if (v == NULL && m->have_sess && mcp_version_supported(m->sess.protocol_version))
		v = m->sess.protocol_version;
	if (v == NULL)
		v = m->legacy ? MESSAGE_LEGACY_VERSION : MCP_VERSION_ASSUMED;
	snprintf(m->version, sizeof(m->version), "%s", v);
	return 0;
}

/* The session the request names, if any; 404 when unknown, ended, of
 * another user (session_get cannot tell these apart) or of the other
 * transport. */
static int
message_session(struct message_req *m)
{
	enum session_kind kind = m->legacy ? SESSION_LEGACY_SSE : SESSION_STREAMABLE;
	const char *id = m->legacy ? http_form_get(&m->query, "sessionId", NULL)
				   : http_header(m->req, "Mcp-Session-Id");
	int rc;

	if (id == NULL && m->legacy) {
		message_refuse(m, 400, JSONRPC_SERVER_ERROR, "Missing sessionId");
		return -1;
	}
	if (id == NULL)
		return 0; /* sessions are optional: stateless clients work */
	rc = session_get(m->app->store, id, m->who.user, &m->sess);
	if (rc == STORE_OK && m->sess.kind == kind) {
		m->have_sess = 1;
		return 0;
	}
	if (rc == STORE_OK || rc == STORE_NOTFOUND)
		message_refuse(m, 404, JSONRPC_SESSION_NOT_FOUND, "Session not found");
	else
		message_store_fail(m, rc);
	return -1;
}

/* Headers and body of a POST, in the order the spec lists the errors. */
static int
message_post_checks(struct message_req *m)
{
	const char *accept = http_header(m->req, "Accept");
	int rc;

	if (!http_content_type_is(m->req, "application/json")) {
		message_refuse(m, 415, JSONRPC_SERVER_ERROR, "Content-Type must be application/json");
		return -1;
	}
	/* Streamable HTTP §Sending Messages: the client lists both types.
	 * Legacy clients were never asked to. */
	if (!m->legacy && (!message_accepts(accept, "application/json") ||
			   !message_accepts(accept, "text/event-stream"))) {
		message_refuse(m, 406, JSONRPC_SERVER_ERROR,
			       "Accept must list application/json and text/event-stream");
		return -1;
	}
	if (message_session(m) != 0 || message_version(m) != 0)
		return -1;
	rc = http_read_body(m->req, (size_t)m->app->cfg.max_body);
	if (rc == HTTP_E_TOO_LARGE)
		message_refuse(m, 413, JSONRPC_SERVER_ERROR, "Request body too large");
	else if (rc != HTTP_OK)
		message_refuse(m, 400, JSONRPC_SERVER_ERROR, "Could not read the request body");
	return rc == HTTP_OK ? 0 : -1;
}

/* 403 with the step-up challenge (MCP authorization §Scope Challenge
 * Handling): the scopes to ask for are those held plus those missing, so
 * re-authorising does not lose any. */
static int
message_scopes(struct message_req *m, const struct jsonrpc_body *b)
{
	unsigned need = 0;

	for (size_t i = 0; i < b->n; i++)
		need |= mcp_scope_needed(&b->msg[i]);
	if ((need & ~m->who.scope) == 0)
		return 0;
	if (message_live(m) == 0)
		bearer_insufficient_scope(m->resp, &m->app->cfg, need | m->who.scope);
	return -1;
}

/* ---- dispatch ------------------------------------------------------------------- */

/* A 2025-03-26 batch must not hold initialize (lifecycle §Initialization). */
static int
message_batch_ok(const struct jsonrpc_body *b)
{
	for (size_t i = 0; b->batch && i < b->n; i++)
		if (b->msg[i].method != NULL && strcmp(b->msg[i].method, "initialize") == 0)
			return 0;
	return 1;
}

static int
message_parse(struct message_req *m, struct jsonrpc_body *b)
{
	const char *why = NULL;
	int rc = jsonrpc_parse(m->req->body, m->req->bodylen, (size_t)m->app->cfg.max_body,
			       mcp_version_allows_batch(m->version), b, &why);

	if (rc == 0 && !message_batch_ok(b)) {
		rc = JSONRPC_INVALID_REQUEST;
		why = "initialize must not be part of a batch";
	}
	if (rc == JSONRPC_TOO_LARGE)
		message_refuse(m, 413, JSONRPC_SERVER_ERROR, "Request body too large");
	else if (rc == JSONRPC_PARSE_ERROR)
		message_refuse(m, 400, JSONRPC_PARSE_ERROR, why != NULL ? why : "Parse error");
	else if (rc != 0)
		message_refuse(m, 400, JSONRPC_INVALID_REQUEST, why);
	return rc == 0 ? 0 : -1;
}

static int
message_run(struct message_req *m, const struct jsonrpc_body *b, struct jsonrpc_reply *reply,
	    char *negotiated, size_t negsz)
{
	struct mcp_call c = {&m->app->cfg, m->app->store, &m->who, m->version, m->live_checked, ""};
	int rc = MCP_OK;

	/* One message: mcp_handle checks the grant in the same transaction as
	 * the work.  A batch: check once up front. */
	if (b->batch && message_live(m) != 0)
		return -1;
	c.live_checked = m->live_checked;
	for (size_t i = 0; i < b->n && rc == MCP_OK; i++)
		rc = mcp_handle(&c, &b->msg[i], reply);
	m->live_checked = c.live_checked;
	if (rc == MCP_REVOKED)
		bearer_error(m->resp, &m->app->cfg, BEARER_INVALID);
	else if (rc == MCP_BUSY)
		message_store_fail(m, STORE_BUSY);
	else if (rc != MCP_OK)
		message_fail(m, 500, JSONRPC_INTERNAL_ERROR, NULL);
	snprintf(negotiated, negsz, "%s", c.negotiated);
	return rc == MCP_OK ? 0 : -1;
}

/* Streamable HTTP: a new session on initialize.  Optional by design, so a
 * failure to store one costs the client nothing but the header. */
static void
message_new_session(struct message_req *m, const char *version)
{
	struct session s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.kind = SESSION_STREAMABLE;
	snprintf(s.user, sizeof(s.user), "%s", m->who.user);
	snprintf(s.protocol_version, sizeof(s.protocol_version), "%s", version);
	s.exp = time(NULL) + MESSAGE_SESSION_TTL;
	rc = session_create(m->app->store, &s);
	if (rc == STORE_OK)
		http_resp_header(m->resp, "Mcp-Session-Id", "%s", s.id);
	else
		log_msg(LOG_WARN, "msg=\"session not created\" store=\"%s\"", store_strerror(rc));
}

/* Legacy: the reply travels on the session's SSE stream; the POST gets 202. */
static void
message_deliver(struct message_req *m, const struct jsonrpc_reply *reply, const char *negotiated)
{
	int rc;

	if (negotiated[0] != '\0') {
		snprintf(m->sess.protocol_version, sizeof(m->sess.protocol_version), "%s", negotiated);
		if ((rc = session_update(m->app->store, &m->sess)) != STORE_OK)
			log_msg(LOG_WARN, "msg=\"session not updated\" store=\"%s\"", store_strerror(rc));
	}
	rc = bus_send(m->sess.sock, m->sess.id, reply->body.data, reply->body.len,
		      MESSAGE_BUS_TIMEOUT_MS);
	if (rc == BUS_OK)
		message_restart(m, 202);
	else if (rc == BUS_GONE)
		message_fail(m, 404, JSONRPC_SESSION_NOT_FOUND, "Session not found");
	else if (rc == BUS_BUSY)
		message_fail(m, 503, JSONRPC_SERVER_ERROR, "The event stream is not being read");
	else
		message_fail(m, 500, JSONRPC_INTERNAL_ERROR, NULL);
}

static void
message_respond(struct message_req *m, const struct jsonrpc_body *b, struct jsonrpc_reply *reply,
		const char *negotiated)
{
	long n = jsonrpc_reply_finish(reply);

	if (n < 0) {
		log_msg(LOG_ERROR, "msg=\"reply over its cap\"");
		message_fail(m, 500, JSONRPC_INTERNAL_ERROR, NULL);
	} else if (n == 0) {
		message_restart(m, 202); /* notifications and responses only */
	} else if (!b->batch && b->msg[0].kind == JSONRPC_INVALID) {
		/* Streamable HTTP: input the server cannot accept gets a 4xx. */
		message_restart(m, 400);
		http_resp_header(m->resp, "Content-Type", "application/json");
		buf_append(&m->resp->body, reply->body.data, reply->body.len);
	} else if (m->legacy) {
		message_deliver(m, reply, negotiated);
	} else {
		message_restart(m, 200);
		http_resp_header(m->resp, "Content-Type", "application/json");
		buf_append(&m->resp->body, reply->body.data, reply->body.len);
		if (negotiated[0] != '\0')
			message_new_session(m, negotiated);
	}
}

static void
message_post(struct message_req *m)
{
	struct jsonrpc_body b;
	struct jsonrpc_reply reply;
	char negotiated[MCP_VERSION_MAX] = "";

	memset(&b, 0, sizeof(b));
	if (message_post_checks(m) != 0 || message_parse(m, &b) != 0 || message_scopes(m, &b) != 0)
		goto out;
	jsonrpc_reply_init(&reply, b.batch, m->legacy ? BUS_MSG_MAX : 0);
	if (message_run(m, &b, &reply, negotiated, sizeof(negotiated)) == 0)
		message_respond(m, &b, &reply, negotiated);
	jsonrpc_reply_free(&reply);
out:
	jsonrpc_body_free(&b);
}

/* DELETE /mcp: the client ends its session (Streamable HTTP §Session Management). */
static void
message_delete(struct message_req *m)
{
	int rc;

	if (message_live(m) != 0)
		return;
	if (http_header(m->req, "Mcp-Session-Id") == NULL) {
		message_fail(m, 400, JSONRPC_SERVER_ERROR, "Missing Mcp-Session-Id");
		return;
	}
	if (message_session(m) != 0)
		return;
	rc = session_delete(m->app->store, m->sess.id, m->who.user);
	if (rc == STORE_OK)
		message_restart(m, 204);
	else if (rc == STORE_NOTFOUND)
		message_fail(m, 404, JSONRPC_SESSION_NOT_FOUND, "Session not found");
	else
		message_store_fail(m, rc);
}

static void
message_method(struct message_req *m)
{
	const char *allow = m->legacy ? "POST, OPTIONS" : "POST, DELETE, OPTIONS";

	if (strcmp(m->req->method, "POST") == 0) {
		message_post(m);
	} else if (strcmp(m->req->method, "DELETE") == 0 && !m->legacy) {
		message_delete(m);
	} else if (message_live(m) == 0) {
		/* GET would open a server-to-client stream; we have none to
		 * offer on /mcp (Streamable HTTP §Listening for Messages). */
		message_fail(m, 405, JSONRPC_SERVER_ERROR, "Method not allowed");
		http_resp_header(m->resp, "Allow", "%s", allow);
	}
}

static void
message_handle(struct app *app, struct http_req *req, struct http_resp *resp)
{
	struct message_req m;
	const char *origin = http_header(req, "Origin");

	memset(&m, 0, sizeof(m));
	m.app = app;
	m.ctx = app->priv;
	m.req = req;
	m.resp = resp;
	m.legacy = strcmp(req->path, m.ctx->path_legacy) == 0;
	if (!m.legacy && strcmp(req->path, m.ctx->path_mcp) != 0) {
		message_fail(&m, 404, JSONRPC_SERVER_ERROR, "Not found");
		goto out;
	}
	/* DNS rebinding (Streamable HTTP §Security Warning): a browser page
	 * of another origin must not reach a local server.  bearer_check
	 * refuses it too; the preflight needs no token, so check here. */
	if (origin != NULL && !config_origin_allowed(&app->cfg, origin)) {
		bearer_error(resp, &app->cfg, BEARER_ORIGIN);
		goto out;
	}
	m.origin = origin;
	if (strcmp(req->method, "OPTIONS") == 0)
		message_preflight(&m);
	else if (message_authenticate(&m) == 0)
		message_method(&m);
out:
	message_cors(&m);
	http_form_free(&m.query);
	crypto_wipe(&m.who, sizeof(m.who));
}

static const struct app_def message_app = {
	.name = "message",
	.needs = APP_NEEDS_KEYS | APP_NEEDS_STORE,
	.handle = message_handle,
	.init = message_init,
	.fini = message_fini,
};

int
main(void)
{
	return app_main(&message_app);
}
