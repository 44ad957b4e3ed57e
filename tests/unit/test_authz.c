/* Unit tests for src/authz.c: transaction records, their store life cycle
 * (single use, login binding, state index) and the redirects to clients. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "authz.h"
#include "tap.h"

static char test_dir[160];

static void
make_app(struct app *app)
{
	char path[200], err[256];

	memset(app, 0, sizeof(*app));
	config_defaults(&app->cfg);
	snprintf(app->cfg.public_url, sizeof(app->cfg.public_url), "https://as.example");
	snprintf(app->cfg.public_origin, sizeof(app->cfg.public_origin), "https://as.example");
	app->keys.nkeys = 1;
	snprintf(app->keys.keys[0].kid, sizeof(app->keys.keys[0].kid), "k1");
	crypto_random(app->keys.keys[0].key, CRYPTO_KEY_LEN);
	snprintf(path, sizeof(path), "%s/store.db", test_dir);
	app->store = store_open(path, 2000, err, sizeof(err));
	if (app->store == NULL)
		diag(err);
}

static void
fill(struct authz_txn *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->client_id, sizeof(t->client_id), "client-1");
	snprintf(t->redirect_uri, sizeof(t->redirect_uri), "https://client.example/cb?x=1");
	snprintf(t->state, sizeof(t->state), "st ate&=\"<>");
	snprintf(t->code_challenge, sizeof(t->code_challenge), "%s",
		 "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	snprintf(t->resource, sizeof(t->resource), "https://as.example/mcp");
	snprintf(t->user, sizeof(t->user), "local:alice");
	snprintf(t->name, sizeof(t->name), "Alice \xc3\xa9");
	t->scope = 3;
}

static void
test_codec(void)
{
	struct authz_txn t, u;
	struct buf b;

	fill(&t);
	snprintf(t.id, sizeof(t.id), "%s", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	t.exp = 1700000000;
	buf_init(&b, 0);
	is_int(authz_txn_encode(&t, &b), 0, "encode");
	is_int(authz_txn_decode(b.data, b.len, &u), 0, "decode what encode wrote");
	ok(memcmp(&t, &u, sizeof(t)) == 0, "round trip keeps every field");
	ok(strstr(b.data, "up_state") == NULL, "empty login fields are left out");
	is_int(authz_txn_decode(b.data, b.len - 1, &u), -1, "truncated record refused");
	buf_free(&b);

	static const struct {
		const char *json;
		const char *name;
	} bad[] = {
		{"", "empty"},
		{"[]", "not an object"},
		{"{\"v\":1,\"scope\":1,\"exp\":1}", "no id, client or redirect"},
		{"{\"v\":2,\"scope\":1,\"exp\":1,\"id\":\"a\",\"client_id\":\"c\",\"redirect_uri\":\"r\"}",
		 "unknown format version"},
		{"{\"v\":1,\"scope\":-1,\"exp\":1,\"id\":\"a\",\"client_id\":\"c\",\"redirect_uri\":\"r\"}",
		 "negative scope"},
		{"{\"v\":1,\"scope\":4294967296,\"exp\":1,\"id\":\"a\",\"client_id\":\"c\",\"redirect_uri\":\"r\"}",
		 "scope past 32 bits"},
		{"{\"v\":1,\"scope\":1,\"exp\":-5,\"id\":\"a\",\"client_id\":\"c\",\"redirect_uri\":\"r\"}",
		 "negative expiry"},
		{"{\"v\":1,\"scope\":\"1\",\"exp\":1,\"id\":\"a\",\"client_id\":\"c\",\"redirect_uri\":\"r\"}",
		 "scope as a string"},
		{"{\"v\":1,\"scope\":1,\"exp\":1,\"id\":5,\"client_id\":\"c\",\"redirect_uri\":\"r\"}",
		 "id as a number"},
		{"{\"v\":1,\"scope\":1,\"exp\":1,\"id\":\"a\",\"client_id\":\"c\",\"redirect_uri\":\"r\"} x",
		 "trailing garbage"},
		{"{\"v\":1,\"scope\":1,\"exp\":1,\"id\":\"a\\u0000b\",\"client_id\":\"c\",\"redirect_uri\":\"r\"}",
		 "embedded NUL"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(authz_txn_decode(bad[i].json, strlen(bad[i].json), &u), -1, "decode refuses %s",
		       bad[i].name);

	/* A field longer than its buffer must be refused, never truncated. */
	char *big = malloc(4096);
	int n = snprintf(big, 4096, "{\"v\":1,\"scope\":1,\"exp\":1,\"id\":\"a\",\"client_id\":\"c\","
				    "\"redirect_uri\":\"r\",\"up_state\":\"");
	memset(big + n, 'x', 64);
	snprintf(big + n + 64, 4096 - (size_t)n - 64, "\"}");
	is_int(authz_txn_decode(big, strlen(big), &u), -1, "over-long field refused");
	ok(u.id[0] == '\0', "nothing left behind after a refusal");
	free(big);
}

/* authz_txn_take in two steps inside one caller transaction. */
struct two_step {
	const char *id;
	int check; /* 1: refuse between read and delete */
	struct authz_txn t;
	int rc_read, rc_del;
};

static int
two_step_fn(struct store_txn *tx, void *arg)
{
	struct two_step *op = arg;

	op->rc_del = -99;
	op->rc_read = authz_txn_read_tx(tx, op->id, &op->t);
	if (op->rc_read != STORE_OK || op->check)
		return op->rc_read;
	op->rc_del = authz_txn_delete_tx(tx, &op->t);
	return op->rc_del;
}

static void
test_store_tx(struct app *app)
{
	static const char *const bad[] = {"", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
					  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
	struct two_step op;
	struct authz_txn t, a;

	fill(&t);
	is_int(authz_txn_create(app, &t), STORE_OK, "tx: create");
	memset(&op, 0, sizeof(op));
	op.id = t.id;
	op.check = 1;
	is_int(store_txn(app->store, 1, two_step_fn, &op), STORE_OK, "tx: read only");
	is_str(op.t.state, t.state, "tx: read the record");
	is_int(op.rc_del, -99, "tx: nothing deleted");
	is_int(authz_txn_get(app, t.id, &a), STORE_OK, "tx: still there after a refused check");
	op.check = 0;
	is_int(store_txn(app->store, 1, two_step_fn, &op), STORE_OK, "tx: read and delete");
	is_int(authz_txn_get(app, t.id, &a), STORE_NOTFOUND, "tx: gone after the delete");
	is_int(store_txn(app->store, 1, two_step_fn, &op), STORE_NOTFOUND, "tx: single use");
	ok(op.t.id[0] == '\0' && op.t.client_id[0] == '\0', "tx: nothing read the second time");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		op.id = bad[i];
		is_int(store_txn(app->store, 0, two_step_fn, &op), STORE_NOTFOUND,
		       "tx: bad id %zu not found", i);
	}
	authz_txn_wipe(&t);
}

static void
test_store(struct app *app)
{
	struct authz_txn t, t2, a, b, c;
	struct upstream_login login, login2;
	char cookie[64], cookie2[64], forged[64];
	int wins = 0;

	memset(&login2, 0, sizeof(login2));

	fill(&t);
	is_int(authz_txn_create(app, &t), STORE_OK, "create");
	is_int((int)strlen(t.id), AUTHZ_ID_LEN, "id is 43 characters");
	ok(t.exp > time(NULL) && t.exp <= time(NULL) + AUTHZ_TTL, "expiry within 10 minutes");
	is_int(authz_txn_get(app, t.id, &a), STORE_OK, "get");
	is_str(a.state, t.state, "state stored untouched");
	is_str(a.user, "local:alice", "user stored");
	is_int(authz_txn_get(app, "short", &a), STORE_NOTFOUND, "malformed id is not found");
	is_int(authz_txn_get(app, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!", &a), STORE_NOTFOUND,
	       "id with a bad character is not found");

	for (int i = 0; i < 3; i++)
		if (authz_txn_take(app, t.id, &b) == STORE_OK)
			wins++;
	is_int(wins, 1, "take: exactly one winner");
	is_int(authz_txn_get(app, t.id, &a), STORE_NOTFOUND, "gone after take");

	/* Upstream login: state index, single use, browser binding. */
	fill(&t);
	is_int(authz_txn_create(app, &t), STORE_OK, "create for a login");
	memset(&login, 0, sizeof(login));
	snprintf(login.state, sizeof(login.state), "upstate-%s", t.id);
	snprintf(login.nonce, sizeof(login.nonce), "nonce-1");
	snprintf(login.verifier, sizeof(login.verifier), "verifier-1");
	is_int(authz_txn_begin_login(app, t.id, &login, NULL, &a, cookie, sizeof(cookie)), STORE_OK,
	       "begin login");
	is_str(a.login_cookie, AUTHZ_LOGIN_COOKIE, "one login cookie name per browser");
	ok(strncmp(a.login_cookie, "__Host-", 7) == 0, "login cookie is a __Host- cookie");
	ok(strlen(cookie) == 43, "cookie value is 256 random bits");
	is_int(authz_txn_begin_login(app, t.id, &login, NULL, &b, cookie2, sizeof(cookie2)),
	       STORE_EXISTS, "second begin refused (Approve posted twice)");
	is_int(authz_txn_get(app, t.id, &b), STORE_OK, "transaction still there");
	is_str(b.up_nonce, "nonce-1", "nonce stored after consent");
	ok(b.login_hash[0] != '\0' && strstr(b.login_hash, cookie) == NULL,
	   "only a hash of the cookie is stored");
	is_int(authz_login_cookie_ok(&b, cookie), 1, "binding cookie accepted");
	snprintf(forged, sizeof(forged), "%s", cookie);
	forged[0] = forged[0] == 'A' ? 'B' : 'A';
	is_int(authz_login_cookie_ok(&b, forged), 0, "forged cookie refused");
	is_int(authz_login_cookie_ok(&b, ""), 0, "empty cookie refused");
	is_int(authz_login_cookie_ok(&b, NULL), 0, "no cookie refused");

	/* A second login in the same browser reuses its cookie value: one
	 * cookie however many logins are under way. */
	fill(&t2);
	authz_txn_create(app, &t2);
	snprintf(login2.state, sizeof(login2.state), "upstate-b-%s", t2.id);
	snprintf(login2.nonce, sizeof(login2.nonce), "nonce-2");
	snprintf(login2.verifier, sizeof(login2.verifier), "verifier-2");
	is_int(authz_txn_begin_login(app, t2.id, &login2, cookie, &c, cookie2, sizeof(cookie2)),
	       STORE_OK, "second login of the browser");
	is_str(cookie2, cookie, "the browser's cookie value is reused");
	is_int(authz_txn_begin_login(app, "", &login2, "short", &c, cookie2, sizeof(cookie2)),
	       STORE_NOTFOUND, "bad id");

	/* Finding 4: the cookie is checked before anything is deleted. */
	is_int(authz_txn_take_by_state(app, "nope", cookie, &c), STORE_NOTFOUND, "unknown state");
	is_int(authz_txn_take_by_state(app, "", cookie, &c), STORE_NOTFOUND, "empty state");
	is_int(authz_txn_take_by_state(app, login.state, forged, &c), AUTHZ_WRONG_BROWSER,
	       "take by state with a wrong cookie refused");
	is_int(authz_txn_take_by_state(app, login.state, NULL, &c), AUTHZ_WRONG_BROWSER,
	       "take by state without a cookie refused");
	ok(c.up_verifier[0] == '\0', "nothing handed out to the wrong browser");
	is_int(authz_txn_get(app, t.id, &c), STORE_OK,
	       "a wrong-browser callback does not burn the login");
	is_int(authz_txn_take_by_state(app, login.state, cookie, &c), STORE_OK,
	       "the right browser still completes");
	is_str(c.id, t.id, "the right transaction");
	is_str(c.up_verifier, "verifier-1", "verifier comes back");
	is_int(authz_txn_take_by_state(app, login.state, cookie, &c), STORE_NOTFOUND,
	       "replayed state refused");
	is_int(authz_txn_get(app, t.id, &c), STORE_NOTFOUND, "transaction gone with its state");
	is_int(authz_txn_take_by_state(app, login2.state, cookie, &c), STORE_OK,
	       "the parallel login completes with the same cookie");

	/* Deny after Approve (oidc): taking the transaction drops its index too. */
	fill(&t);
	authz_txn_create(app, &t);
	snprintf(login.state, sizeof(login.state), "upstate2-%s", t.id);
	authz_txn_begin_login(app, t.id, &login, NULL, &a, cookie, sizeof(cookie));
	is_int(authz_txn_take(app, t.id, &b), STORE_OK, "take a transaction with a login");
	is_int(authz_txn_take_by_state(app, login.state, cookie, &c), STORE_NOTFOUND,
	       "its state no longer works");
	is_int(authz_txn_begin_login(app, t.id, &login, NULL, &a, cookie, sizeof(cookie)),
	       STORE_NOTFOUND, "no login for a taken transaction");

	/* consent_id travels with the record. */
	fill(&t);
	snprintf(t.consent_id, sizeof(t.consent_id), "cid_123");
	authz_txn_create(app, &t);
	is_int(authz_txn_get(app, t.id, &a), STORE_OK, "record with a consent id");
	is_str(a.consent_id, "cid_123", "consent id stored");

	/* Expired records read as absent. */
	fill(&t);
	snprintf(t.id, sizeof(t.id), "%s", "EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE");
	t.exp = time(NULL) - 1;
	struct buf enc;
	buf_init(&enc, 0);
	authz_txn_encode(&t, &enc);
	store_put(app->store, STORE_TXN, t.id, strlen(t.id), enc.data, enc.len, t.exp, 0);
	buf_free(&enc);
	is_int(authz_txn_get(app, t.id, &a), STORE_NOTFOUND, "expired transaction is not found");
	/* A damaged record is refused, not trusted. */
	store_put(app->store, STORE_TXN, t.id, strlen(t.id), "{\"v\":1}", 7, time(NULL) + 60, 0);
	is_int(authz_txn_get(app, t.id, &a), STORE_NOTFOUND, "damaged record is not found");
}

static void
test_location(struct app *app)
{
	struct buf b;
	char *big;

	buf_init(&b, HTTP_HEADER_LEN);
	is_int(authz_location(&app->cfg, "https://c.example/cb", "xyz", "CODE", NULL, NULL, &b), 0,
	       "success location");
	is_str(b.data, "https://c.example/cb?code=CODE&state=xyz&iss=https%3A%2F%2Fas.example",
	       "code, state, iss");
	authz_location(&app->cfg, "https://c.example/cb?a=1", "", NULL, "access_denied",
		       "the user said no & left", &b);
	is_str(b.data,
	       "https://c.example/cb?a=1&error=access_denied&error_description=the%20user%20said%20no%20%26%20left&iss=https%3A%2F%2Fas.example",
	       "error appended to an existing query, no empty state");
	authz_location(&app->cfg, "myapp:/cb", "a&b=c#d", NULL, "invalid_scope", NULL, &b);
	is_str(b.data, "myapp:/cb?error=invalid_scope&state=a%26b%3Dc%23d&iss=https%3A%2F%2Fas.example",
	       "state encoded so it cannot add parameters");
	big = malloc(2100);
	memset(big, 's', 2099);
	big[2099] = '\0';
	is_int(authz_location(&app->cfg, "https://c.example/cb", big, "CODE", NULL, NULL, &b), -1,
	       "too long for a Location header");
	free(big);
	buf_free(&b);
}

static const char *
header(const struct http_resp *r, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->nhdr; i++)
		if (strncasecmp(r->hdr[i], name, n) == 0 && r->hdr[i][n] == ':')
			return r->hdr[i] + n + 2;
	return NULL;
}

static void
test_redirects(struct app *app)
{
	struct http_resp r;
	struct authz_txn t;
	const char *loc;

	fill(&t);
	http_resp_init(&r);
	authz_redirect_error(app, &r, 302, &t, "invalid_scope", "bad scope");
	is_int(r.status, 302, "error redirect status");
	loc = header(&r, "Location");
	ok(loc != NULL && strncmp(loc, "https://client.example/cb?x=1&error=invalid_scope&", 50) == 0,
	   "error goes to the registered redirect URI");
	ok(loc != NULL && strstr(loc, "&state=st%20ate%26%3D%22%3C%3E&") != NULL, "state carried back");
	ok(loc != NULL && strstr(loc, "&iss=https%3A%2F%2Fas.example") != NULL, "iss (RFC 9207)");
	http_resp_free(&r);

	http_resp_init(&r);
	is_int(authz_redirect_code(app, &r, 303, &t, t.user, t.name), 0, "code redirect");
	is_int(r.status, 303, "303 after a POST");
	loc = header(&r, "Location");
	ok(loc != NULL && strncmp(loc, "https://client.example/cb?x=1&code=", 35) == 0,
	   "code goes to the redirect URI");
	ok(loc != NULL && strstr(loc, "&state=") != NULL && strstr(loc, "&iss=") != NULL,
	   "with state and iss");
	is_str(header(&r, "Cache-Control"), "no-store", "no-store");
	http_resp_free(&r);

	/* A code issued elsewhere (inside a bigger store transaction). */
	http_resp_init(&r);
	is_int(authz_redirect_issued(app, &r, 303, &t, "CODE-x", t.user), 0, "issued code redirect");
	loc = header(&r, "Location");
	ok(loc != NULL && strncmp(loc, "https://client.example/cb?x=1&code=CODE-x&state=", 48) == 0,
	   "issued code goes to the redirect URI with state");
	is_str(header(&r, "Referrer-Policy"), "no-referrer", "issued code: no referrer");
	http_resp_free(&r);
	{
		struct oauth_code c;

		authz_code_init(&t, "local:bob", NULL, &c);
		ok(strcmp(c.client_id, t.client_id) == 0 && strcmp(c.redirect_uri, t.redirect_uri) == 0 &&
			   strcmp(c.code_challenge, t.code_challenge) == 0 &&
			   strcmp(c.resource, t.resource) == 0 && c.scope == t.scope,
		   "code_init copies the transaction");
		ok(strcmp(c.user, "local:bob") == 0 && c.name[0] == '\0' && c.grant_id[0] == '\0',
		   "code_init: user, no name, no grant yet");
	}

	http_resp_init(&r);
	is_int(authz_set_cookie(&r, "__Host-x", "v", 60), 0, "set cookie");
	is_str(header(&r, "Set-Cookie"), "__Host-x=v; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Lax",
	       "cookie attributes");
	http_resp_free(&r);
	http_resp_init(&r);
	authz_set_cookie(&r, "__Host-x", "v", 0);
	is_str(header(&r, "Set-Cookie"), "__Host-x=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax",
	       "cookie deletion carries no value");
	http_resp_free(&r);
}

static void
test_remote_user(void)
{
	char out[TOKEN_FIELD_MAX + 1], big[400];

	is_int(authz_remote_user("alice", out, sizeof(out)), 0, "remote user");
	is_str(out, "local:alice", "user id");
	is_int(authz_remote_user("", out, sizeof(out)), -1, "empty refused");
	is_int(authz_remote_user(NULL, out, sizeof(out)), -1, "absent refused");
	is_int(authz_remote_user("al\nice", out, sizeof(out)), -1, "newline refused");
	is_int(authz_remote_user("al\x7fice", out, sizeof(out)), -1, "DEL refused");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(authz_remote_user(big, out, sizeof(out)), -1, "too long refused");
	big[TOKEN_FIELD_MAX - 6] = '\0';
	is_int(authz_remote_user(big, out, sizeof(out)), 0, "longest accepted");
}

/* Remove the store and its lock files. */
static void
cleanup(void)
{
	DIR *d = opendir(test_dir);
	struct dirent *e;
	char p[512];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", test_dir, e->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(test_dir);
}

int
main(void)
{
	struct app app;

	const char *tmp = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/mcpgate-test-authz.XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(test_dir) == NULL)
		return 1;
	make_app(&app);
	test_codec();
	if (app.store != NULL) {
		test_store(&app);
		test_store_tx(&app);
		test_redirects(&app);
	} else {
		ok(0, "store opened");
	}
	test_location(&app);
	test_remote_user();
	store_close(app.store);
	cleanup();
	return tap_done();
}
