/*
 * authz: authorization transactions and the redirects back to the client.
 * See authz.h for the contract.
 */
#include "authz.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "log.h"

#define AUTHZ_FORMAT 1
#define AUTHZ_RECORD_MAX 8192 /* a record holds a few bounded strings */

/* ---- JSON records ---- */

struct authz_strfield {
	const char *key;
	size_t off, size;
};

#define AUTHZ_F(k, f) {k, offsetof(struct authz_txn, f), sizeof(((struct authz_txn *)0)->f)}

/* The string fields of a record, one table for both directions. */
static const struct authz_strfield authz_fields[] = {
	AUTHZ_F("id", id),
	AUTHZ_F("client_id", client_id),
	AUTHZ_F("redirect_uri", redirect_uri),
	AUTHZ_F("state", state),
	AUTHZ_F("code_challenge", code_challenge),
	AUTHZ_F("resource", resource),
	AUTHZ_F("user", user),
	AUTHZ_F("name", name),
	AUTHZ_F("up_state", up_state),
	AUTHZ_F("up_nonce", up_nonce),
	AUTHZ_F("up_verifier", up_verifier),
	AUTHZ_F("login_cookie", login_cookie),
	AUTHZ_F("login_hash", login_hash),
	AUTHZ_F("consent_id", consent_id),
};

#define AUTHZ_NFIELDS (sizeof(authz_fields) / sizeof(authz_fields[0]))

static int
authz_json_str(json_object *o, const char *key, const char *val)
{
	json_object *s = json_object_new_string(val);

	if (s == NULL || json_object_object_add(o, key, s) != 0) {
		json_object_put(s);
		return -1;
	}
	return 0;
}

static int
authz_json_int(json_object *o, const char *key, int64_t val)
{
	json_object *n = json_object_new_int64(val);

	if (n == NULL || json_object_object_add(o, key, n) != 0) {
		json_object_put(n);
		return -1;
	}
	return 0;
}

int
authz_txn_encode(const struct authz_txn *t, struct buf *out)
{
	json_object *o = json_object_new_object();
	const char *s;
	int rc = -1;

	if (o == NULL)
		return -1;
	if (authz_json_int(o, "v", AUTHZ_FORMAT) != 0 || authz_json_int(o, "scope", t->scope) != 0 ||
	    authz_json_int(o, "exp", (int64_t)t->exp) != 0)
		goto out;
	for (size_t i = 0; i < AUTHZ_NFIELDS; i++) {
		const char *v = (const char *)t + authz_fields[i].off;

		/* Empty fields are left out: most records have no login yet. */
		if (v[0] != '\0' && authz_json_str(o, authz_fields[i].key, v) != 0)
			goto out;
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL && buf_puts(out, s) == 0)
		rc = 0;
out:
	json_object_put(o);
	return rc;
}

static int
authz_get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return *out < min || *out > max ? -1 : 0;
}

/* Copy one optional string field; -1 when it is not a string or does not fit. */
static int
authz_get_str(json_object *o, const struct authz_strfield *f, struct authz_txn *t)
{
	char *dst = (char *)t + f->off;
	json_object *v;
	size_t n;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, f->key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	n = (size_t)json_object_get_string_len(v);
	if (n >= f->size || memchr(json_object_get_string(v), '\0', n) != NULL)
		return -1;
	memcpy(dst, json_object_get_string(v), n);
	dst[n] = '\0';
	return 0;
}

int
authz_txn_decode(const char *s, size_t len, struct authz_txn *out)
{
	json_tokener *tok;
	json_object *o = NULL;
	int64_t v, scope, exp;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (s == NULL || len == 0 || len > AUTHZ_RECORD_MAX || (tok = json_tokener_new()) == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))
		goto out;
	if (authz_get_int(o, "v", AUTHZ_FORMAT, AUTHZ_FORMAT, &v) != 0 ||
	    authz_get_int(o, "scope", 0, 0xffffffffLL, &scope) != 0 ||
	    authz_get_int(o, "exp", 0, INT64_MAX, &exp) != 0)
		goto out;
	out->scope = (unsigned)scope;
	out->exp = (time_t)exp;
	for (size_t i = 0; i < AUTHZ_NFIELDS; i++)
		if (authz_get_str(o, &authz_fields[i], out) != 0)
			goto out;
	rc = out->id[0] != '\0' && out->client_id[0] != '\0' && out->redirect_uri[0] != '\0' ? 0 : -1;
out:
	if (rc != 0)
		authz_txn_wipe(out);
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

void
authz_txn_wipe(struct authz_txn *t)
{
	if (t != NULL)
		crypto_wipe(t, sizeof(*t));
}

/* ---- store operations ---- */

static int
authz_id_ok(const char *id)
{
	size_t n = id != NULL ? strnlen(id, AUTHZ_ID_LEN + 1) : 0;

	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return n == AUTHZ_ID_LEN;
}

/* Read and decode transaction id inside a store transaction. */
static int
authz_read(struct store_txn *tx, const char *id, struct authz_txn *out)
{
	struct store_val v;
	int rc;

	rc = store_txn_get(tx, STORE_TXN, id, strlen(id), &v);
	if (rc != STORE_OK)
		return rc;
	if (authz_txn_decode(v.data, v.len, out) != 0 || strcmp(out->id, id) != 0) {
		log_msg(LOG_ERROR, "msg=\"authz: malformed transaction record\"");
		rc = STORE_NOTFOUND;
	}
	store_val_free(&v);
	return rc;
}

static int
authz_write(struct store_txn *tx, const struct authz_txn *t, int flags)
{
	struct buf b;
	int rc;

	buf_init(&b, AUTHZ_RECORD_MAX);
	if (authz_txn_encode(t, &b) != 0) {
		buf_free(&b);
		return STORE_ERROR;
	}
	rc = store_txn_put(tx, STORE_TXN, t->id, strlen(t->id), b.data, b.len, t->exp, flags);
	buf_free(&b);
	return rc;
}

static int
authz_op_create(struct store_txn *tx, void *arg)
{
	struct authz_txn *t = arg;

	t->exp = store_txn_now(tx) + AUTHZ_TTL;
	return authz_write(tx, t, STORE_PUT_INSERT);
}

int
authz_txn_create(struct app *app, struct authz_txn *t)
{
	char id[CRYPTO_B64URL_LEN(32)];
	int rc = STORE_EXISTS;

	/* A collision of 256-bit random ids does not happen; the retry only
	 * keeps STORE_PUT_INSERT's answer meaningful. */
	for (int tries = 0; tries < 2 && rc == STORE_EXISTS; tries++) {
		if (crypto_random_token(id, sizeof(id), 32) != 0 || strlen(id) != AUTHZ_ID_LEN)
			return STORE_ERROR;
		memcpy(t->id, id, AUTHZ_ID_LEN + 1);
		rc = store_txn(app->store, 1, authz_op_create, t);
	}
	return rc;
}

struct authz_op {
	const char *id;
	struct authz_txn *t;
	const struct upstream_login *login;
};

static int
authz_op_get(struct store_txn *tx, void *arg)
{
	struct authz_op *op = arg;

	return authz_read(tx, op->id, op->t);
}

int
authz_txn_get(struct app *app, const char *id, struct authz_txn *out)
{
	struct authz_op op = {.id = id, .t = out};

	memset(out, 0, sizeof(*out));
	if (!authz_id_ok(id))
		return STORE_NOTFOUND;
	return store_txn(app->store, 0, authz_op_get, &op);
}

/* Delete transaction t and, if a login began, its state index. */
static int
authz_delete(struct store_txn *tx, const struct authz_txn *t)
{
	int rc = store_txn_del(tx, STORE_TXN, t->id, strlen(t->id));

	if (rc == STORE_OK && t->up_state[0] != '\0') {
		int r2 = store_txn_del(tx, STORE_STATE, t->up_state, strlen(t->up_state));

		if (r2 == STORE_ERROR)
			rc = r2;
	}
	return rc;
}

int
authz_txn_read_tx(struct store_txn *tx, const char *id, struct authz_txn *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!authz_id_ok(id))
		return STORE_NOTFOUND;
	rc = authz_read(tx, id, out);
	if (rc != STORE_OK)
		authz_txn_wipe(out);
	return rc;
}

int
authz_txn_delete_tx(struct store_txn *tx, const struct authz_txn *t)
{
	return authz_delete(tx, t);
}

static int
authz_op_take(struct store_txn *tx, void *arg)
{
	struct authz_op *op = arg;
	int rc = authz_read(tx, op->id, op->t);

	return rc == STORE_OK ? authz_delete(tx, op->t) : rc;
}

int
authz_txn_take(struct app *app, const char *id, struct authz_txn *out)
{
	struct authz_op op = {.id = id, .t = out};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!authz_id_ok(id))
		return STORE_NOTFOUND;
	rc = store_txn(app->store, 1, authz_op_take, &op);
	if (rc != STORE_OK)
		authz_txn_wipe(out);
	return rc;
}

static int
authz_op_begin(struct store_txn *tx, void *arg)
{
	struct authz_op *op = arg;
	struct authz_txn cur;
	int rc = authz_read(tx, op->id, &cur);

	if (rc == STORE_OK && cur.up_state[0] != '\0')
		rc = STORE_EXISTS; /* a second Approve, or a replayed form */
	if (rc == STORE_OK) {
		/* Keep the binding fields generated by the caller. */
		memcpy(cur.login_cookie, op->t->login_cookie, sizeof(cur.login_cookie));
		memcpy(cur.login_hash, op->t->login_hash, sizeof(cur.login_hash));
		snprintf(cur.up_state, sizeof(cur.up_state), "%s", op->login->state);
		snprintf(cur.up_nonce, sizeof(cur.up_nonce), "%s", op->login->nonce);
		snprintf(cur.up_verifier, sizeof(cur.up_verifier), "%s", op->login->verifier);
		/* No rollback in GDBM: the state index goes first (alone it leads
		 * to a transaction whose up_state does not match, i.e. nowhere);
		 * the transaction, which makes the login real, goes last, and if
		 * it cannot be written the index is taken back. */
		rc = store_txn_put(tx, STORE_STATE, cur.up_state, strlen(cur.up_state), cur.id,
				   strlen(cur.id), cur.exp, STORE_PUT_INSERT);
		if (rc == STORE_OK) {
			rc = authz_write(tx, &cur, STORE_PUT_REPLACE);
			if (rc != STORE_OK)
				store_txn_del(tx, STORE_STATE, cur.up_state, strlen(cur.up_state));
		}
		if (rc == STORE_OK)
			*op->t = cur;
	}
	authz_txn_wipe(&cur);
	return rc;
}

/* 1 when v is what authz_binding_new makes: 43 base64url characters. */
static int
authz_binding_value_ok(const char *v)
{
	return v != NULL && strlen(v) == AUTHZ_ID_LEN && authz_id_ok(v);
}

/* The browser binding: the browser's login cookie value (have, when it is
 * well-formed; else a new random one) and its hash. */
static int
authz_binding_new(struct authz_txn *t, const char *have, char *value, size_t vsz)
{
	unsigned char h[CRYPTO_SHA256_LEN];

	if (authz_binding_value_ok(have) && vsz > AUTHZ_ID_LEN)
		memcpy(value, have, AUTHZ_ID_LEN + 1);
	else if (crypto_random_token(value, vsz, 32) != 0)
		return -1;
	if (crypto_sha256(value, strlen(value), h) != 0 ||
	    crypto_b64url_encode(h, sizeof(h), t->login_hash, sizeof(t->login_hash)) < 0)
		return -1;
	snprintf(t->login_cookie, sizeof(t->login_cookie), "%s", AUTHZ_LOGIN_COOKIE);
	return 0;
}

int
authz_txn_begin_login(struct app *app, const char *id, const struct upstream_login *login,
		      const char *have, struct authz_txn *out, char *cookie_value, size_t cvsz)
{
	struct authz_op op = {.id = id, .t = out, .login = login};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!authz_id_ok(id) || login->state[0] == '\0')
		return STORE_NOTFOUND;
	if (authz_binding_new(out, have, cookie_value, cvsz) != 0)
		return STORE_ERROR;
	rc = store_txn(app->store, 1, authz_op_begin, &op);
	if (rc != STORE_OK) {
		authz_txn_wipe(out);
		crypto_wipe(cookie_value, cvsz);
	}
	return rc;
}

int
authz_login_cookie_get(const struct http_req *req, char *out, size_t outsz)
{
	if (outsz > 0)
		out[0] = '\0';
	for (size_t i = 0; i < CONSENT_SAME_NAME_MAX; i++)
		if (!consent_cookie_find(req, AUTHZ_LOGIN_COOKIE, i, out, outsz))
			break;
		else if (authz_binding_value_ok(out))
			return 1;
	if (outsz > 0)
		out[0] = '\0';
	return 0;
}

struct authz_state_op {
	const char *up_state;
	const char *cookie;
	struct authz_txn *t;
};

static int
authz_op_take_state(struct store_txn *tx, void *arg)
{
	struct authz_state_op *op = arg;
	char id[AUTHZ_ID_LEN + 1];
	struct store_val v;
	int rc;

	rc = store_txn_get(tx, STORE_STATE, op->up_state, strlen(op->up_state), &v);
	if (rc != STORE_OK)
		return rc;
	if (v.len != AUTHZ_ID_LEN) {
		store_val_free(&v);
		return STORE_NOTFOUND;
	}
	memcpy(id, v.data, AUTHZ_ID_LEN);
	id[AUTHZ_ID_LEN] = '\0';
	store_val_free(&v);
	rc = authz_read(tx, id, op->t);
	if (rc == STORE_OK && !crypto_ct_eq(op->t->up_state, strlen(op->t->up_state), op->up_state,
					    strlen(op->up_state)))
		rc = STORE_NOTFOUND;
	/* Checked before anything is deleted: a callback URL seen by someone
	 * else (logs, history, a shoulder) must not end the real user's login. */
	if (rc == STORE_OK && !authz_login_cookie_ok(op->t, op->cookie))
		return AUTHZ_WRONG_BROWSER;
	if (rc != STORE_OK)
		return rc;
	/* A state is used once: the index and the transaction go together. */
	rc = store_txn_del(tx, STORE_STATE, op->up_state, strlen(op->up_state));
	if (rc == STORE_OK)
		rc = store_txn_del(tx, STORE_TXN, id, strlen(id));
	return rc;
}

int
authz_txn_take_by_state(struct app *app, const char *up_state, const char *cookie_value,
			struct authz_txn *out)
{
	struct authz_state_op op = {.up_state = up_state, .cookie = cookie_value, .t = out};
	size_t n = up_state != NULL ? strnlen(up_state, sizeof(out->up_state)) : 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(out->up_state))
		return STORE_NOTFOUND;
	rc = store_txn(app->store, 1, authz_op_take_state, &op);
	if (rc != STORE_OK)
		authz_txn_wipe(out);
	return rc;
}

int
authz_login_cookie_ok(const struct authz_txn *t, const char *cookie_value)
{
	unsigned char h[CRYPTO_SHA256_LEN];
	char hb[CRYPTO_B64URL_LEN(CRYPTO_SHA256_LEN)];

	if (cookie_value == NULL || cookie_value[0] == '\0' || t->login_hash[0] == '\0' ||
	    strlen(cookie_value) > 128 || crypto_sha256(cookie_value, strlen(cookie_value), h) != 0 ||
	    crypto_b64url_encode(h, sizeof(h), hb, sizeof(hb)) < 0)
		return 0;
	return crypto_ct_eq(hb, strlen(hb), t->login_hash, strlen(t->login_hash));
}

/* ---- redirects to the client ---- */

static void
authz_param(struct buf *b, const char *name, const char *value)
{
	buf_puts(b, "&");
	buf_puts(b, name);
	buf_puts(b, "=");
	buf_urlenc(b, value);
}

int
authz_location(const struct config *cfg, const char *redirect_uri, const char *state,
	       const char *code, const char *error, const char *description, struct buf *out)
{
	size_t start;

	buf_reset(out);
	buf_puts(out, redirect_uri);
	start = out->len;
	/* RFC 6749 §3.1.2: keep the redirect URI's own query and add ours. */
	if (error != NULL) {
		authz_param(out, "error", error);
		if (description != NULL && *description != '\0')
			authz_param(out, "error_description", description);
	} else {
		authz_param(out, "code", code != NULL ? code : "");
	}
	if (state != NULL && *state != '\0')
		authz_param(out, "state", state);
	/* RFC 9207 §2: iss in every authorization response, errors included. */
	authz_param(out, "iss", cfg->public_url);
	if (out->overflow || out->data == NULL || out->len <= start)
		return -1;
	out->data[start] = strchr(redirect_uri, '?') != NULL ? '&' : '?';
	/* "Location: " + value must fit one response header line. */
	return out->len + 12 < HTTP_HEADER_LEN ? 0 : -1;
}

static void
authz_redirect(struct http_resp *resp, int status, const struct buf *loc)
{
	resp->status = status;
	http_resp_header(resp, "Location", "%s", loc->data);
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "Referrer-Policy", "no-referrer");
}

void
authz_redirect_error(struct app *app, struct http_resp *resp, int status,
		     const struct authz_txn *t, const char *error, const char *description)
{
	char qc[96], qd[160];

	log_msg(LOG_INFO, "msg=\"authorization refused\" error=%s client=%s why=%s", error,
		log_quote(qc, sizeof(qc), t->client_id), log_quote(qd, sizeof(qd), description));
	authz_redirect_error_logged(app, resp, status, t, error, description);
}

void
authz_redirect_error_logged(struct app *app, struct http_resp *resp, int status,
			    const struct authz_txn *t, const char *error, const char *description)
{
	struct buf loc;

	if (error == NULL)
		error = "server_error";
	buf_init(&loc, HTTP_HEADER_LEN);
	if (authz_location(&app->cfg, t->redirect_uri, t->state, NULL, error, description, &loc) ==
		    0 ||
	    authz_location(&app->cfg, t->redirect_uri, NULL, NULL, error, NULL, &loc) == 0) {
		authz_redirect(resp, status, &loc);
	} else {
		http_error_html(resp, 400, "Authorization failed", description);
	}
	buf_free(&loc);
}

/* Map a store failure to the OAuth error a client can act on. */
static const char *
authz_store_error(int rc)
{
	return rc == STORE_BUSY ? "temporarily_unavailable" : "server_error";
}

void
authz_code_init(const struct authz_txn *t, const char *user, const char *name,
		struct oauth_code *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->client_id, sizeof(c->client_id), "%s", t->client_id);
	snprintf(c->redirect_uri, sizeof(c->redirect_uri), "%s", t->redirect_uri);
	snprintf(c->code_challenge, sizeof(c->code_challenge), "%s", t->code_challenge);
	snprintf(c->resource, sizeof(c->resource), "%s", t->resource);
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->name, sizeof(c->name), "%s", name != NULL ? name : "");
	c->scope = t->scope;
}

int
authz_redirect_issued(struct app *app, struct http_resp *resp, int status,
		      const struct authz_txn *t, const char *code, const char *user)
{
	char qc[96], qu[96];
	struct buf loc;
	int ret = -1;

	buf_init(&loc, HTTP_HEADER_LEN);
	if (authz_location(&app->cfg, t->redirect_uri, t->state, code, NULL, NULL, &loc) == 0) {
		authz_redirect(resp, status, &loc);
		log_msg(LOG_INFO, "msg=\"authorization code issued\" client=%s user=%s",
			log_quote(qc, sizeof(qc), t->client_id), log_quote(qu, sizeof(qu), user));
		ret = 0;
	} else {
		/* Checked at /oauth/authorize, so this is a bug, not a client error. */
		http_error_html(resp, 500, NULL, "The redirect address is too long.");
	}
	buf_free(&loc);
	return ret;
}

int
authz_redirect_code(struct app *app, struct http_resp *resp, int status,
		    const struct authz_txn *t, const char *user, const char *name)
{
	struct oauth_code c;
	char code[OAUTH_CODE_LEN + 1];
	int rc, ret;

	authz_code_init(t, user, name, &c);
	rc = oauth_code_issue(app, &c, code, sizeof(code));
	crypto_wipe(&c, sizeof(c));
	if (rc != STORE_OK) {
		authz_redirect_error(app, resp, status, t, authz_store_error(rc),
				     "could not issue the authorization code");
		return -1;
	}
	ret = authz_redirect_issued(app, resp, status, t, code, user);
	crypto_wipe(code, sizeof(code));
	return ret;
}

int
authz_start_login(struct app *app, const struct http_req *req, struct http_resp *resp,
		  int status, const struct authz_txn *t)
{
	struct upstream_login login;
	struct authz_txn cur;
	char value[CRYPTO_B64URL_LEN(32)], have[CRYPTO_B64URL_LEN(32)];
	int rc, ret = -1;

	memset(&login, 0, sizeof(login));
	memset(&cur, 0, sizeof(cur));
	rc = upstream_begin(app, &login);
	if (rc != UPSTREAM_OK) {
		authz_redirect_error_logged(app, resp, status, t, upstream_oauth_error(rc),
					    "the identity provider is not available");
		goto out;
	}
	authz_login_cookie_get(req, have, sizeof(have));
	rc = authz_txn_begin_login(app, t->id, &login, have, &cur, value, sizeof(value));
	if (rc == STORE_OK && strlen(login.url) + 12 < HTTP_HEADER_LEN) {
		resp->status = status;
		http_resp_header(resp, "Location", "%s", login.url);
		http_resp_header(resp, "Cache-Control", "no-store");
		http_resp_header(resp, "Referrer-Policy", "no-referrer");
		if (authz_set_cookie(resp, cur.login_cookie, value, AUTHZ_TTL) == 0)
			ret = 0;
		else
			http_error_html(resp, 500, NULL, "Could not set the login cookie.");
	} else if (rc == STORE_OK) {
		authz_redirect_error(app, resp, status, t, "server_error",
				     "the identity provider's login URL is too long");
	} else if (rc == STORE_EXISTS || rc == STORE_NOTFOUND) {
		http_error_html(resp, 400, "Request already answered",
				"This authorization request was already answered or has "
				"expired. Go back to the application and start again.");
	} else {
		authz_redirect_error(app, resp, status, t, authz_store_error(rc),
				     "could not start the login");
	}
	authz_txn_wipe(&cur);
	crypto_wipe(value, sizeof(value));
	crypto_wipe(have, sizeof(have));
out:
	crypto_wipe(&login, sizeof(login));
	return ret;
}

int
authz_set_cookie(struct http_resp *resp, const char *name, const char *value, long max_age)
{
	/* __Host- (RFC 6265bis §4.1.3.2): Secure, Path=/, no Domain, so only
	 * this origin can set or read it.  Lax: the IdP's redirect back to
	 * /oauth/callback is a top-level GET and still carries it. */
	return http_resp_header(resp, "Set-Cookie",
				"%s=%s; Max-Age=%ld; Path=/; Secure; HttpOnly; SameSite=Lax", name,
				max_age > 0 ? value : "", max_age > 0 ? max_age : 0L);
}

/* Remember the approval of record id in this browser (consent_ttl 0:
 * never).  The cookie names the user where /oauth/authorize knows it
 * (remote-user); for oidc it is this browser's approval, and the record of
 * whoever signs in is checked by the callback. */
void
authz_remember_consent(struct app *app, struct http_resp *resp, const struct authz_txn *t,
		       const char *id)
{
	char name[CONSENT_COOKIE_NAME_MAX], value[CONSENT_COOKIE_VALUE_MAX];
	const char *user = app->cfg.identity == CONFIG_IDENTITY_REMOTE_USER ? t->user : "";
	long ttl = app->cfg.consent_ttl;

	if (ttl <= 0 || id == NULL || *id == '\0')
		return;
	if (consent_cookie_name(t->client_id, t->redirect_uri, name, sizeof(name)) != 0 ||
	    consent_cookie_value(&app->keys, t->client_id, t->redirect_uri, user, t->scope,
				 time(NULL) + ttl, id, value, sizeof(value)) != 0 ||
	    authz_set_cookie(resp, name, value, ttl) != 0)
		log_msg(LOG_WARN, "msg=\"could not set the consent cookie\"");
}

int
authz_remote_user(const char *remote_user, char *out, size_t outsz)
{
	size_t n = remote_user != NULL ? strlen(remote_user) : 0;
	int w;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)remote_user[i] < 0x20 || (unsigned char)remote_user[i] == 0x7f)
			return -1;
	w = snprintf(out, outsz, "local:%s", remote_user);
	if (w < 0 || (size_t)w >= outsz || (size_t)w > TOKEN_FIELD_MAX) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}
