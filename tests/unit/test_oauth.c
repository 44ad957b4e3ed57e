/* Unit tests for src/oauth.c and src/ratelimit.c against a real store. */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oauth.h"
#include "ratelimit.h"
#include "scope.h"
#include "tap.h"

static struct app app;
static char tmpdir[256];

static void
setup(void)
{
	char path[600], err[256];
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_oauth.XXXXXX",
		 base != NULL && base[0] == '/' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	memset(&app, 0, sizeof(app));
	config_defaults(&app.cfg);
	snprintf(app.cfg.public_url, sizeof(app.cfg.public_url), "https://mcp.example.com");
	snprintf(app.cfg.public_origin, sizeof(app.cfg.public_origin), "https://mcp.example.com");
	snprintf(path, sizeof(path), "%s/keys", tmpdir);
	if (crypto_keyring_generate(path, "k1", err, sizeof(err)) != 0 ||
	    crypto_keyring_load(&app.keys, path, 0, err, sizeof(err)) != 0) {
		printf("Bail out! keys: %s\n", err);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/store.db", tmpdir);
	app.store = store_open(path, 5000, err, sizeof(err));
	if (app.store == NULL) {
		printf("Bail out! store: %s\n", err);
		exit(1);
	}
}

static void
teardown(void)
{
	char cmd[640];

	store_close(app.store);
	crypto_keyring_wipe(&app.keys);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove the temp dir");
}

/* ---- redirect URIs ------------------------------------------------------ */

static void
test_redirect_uri_valid(void)
{
	static const struct {
		const char *uri;
		int want;
	} t[] = {
		{"https://app.example.com/callback", 1},
		{"https://app.example.com:8443/cb?x=1", 1},
		{"https://xn--bcher-kva.example/cb", 1}, /* IDN as punycode */
		{"http://127.0.0.1/callback", 1},
		{"http://127.0.0.1:33418/callback", 1},
		{"http://[::1]:8080/cb", 1},
		{"http://localhost:6274/oauth/callback", 1},
		{"com.example.app:/oauth2redirect", 1},
		{"cursor://anysphere.cursor-mcp/oauth/callback", 1},
		{"vscode://vscode.github-authentication/did-authenticate", 1},
		/* hostile or refused */
		{"javascript:alert(1)", 0},
		{"JavaScript:alert(1)", 0},
		{"javascript://example.com/%0aalert(1)", 0},
		{"data:text/html,<script>alert(1)</script>", 0},
		{"data:text/html;base64,PHNjcmlwdD4=", 0},
		{"file:///etc/passwd", 0},
		{"vbscript:msgbox", 0},
		{"blob:https://example.com/uuid", 0},
		{"HTTPS://app.example.com/cb", 0},
		{"Https://app.example.com/cb", 0},
		{"hTTp://127.0.0.1/cb", 0},
		{"https://app.example.com/cb#frag", 0},
		{"https://app.example.com/cb#", 0},
		{"http://127.0.0.1/cb#x", 0},
		{"https://user@app.example.com/cb", 0},
		{"https://user:pw@app.example.com/cb", 0},
		{"https://app.example.com@evil.example/cb", 0},
		{"http://127.0.0.1:80@evil.example/cb", 0},
		{"http://app.example.com/cb", 0},
		{"http://evil.example/cb", 0},
		{"http://127.0.0.1.evil.example/cb", 0},
		{"http://localhost.evil.example/cb", 0},
		{"http://10.0.0.1/cb", 0},
		{"http://0.0.0.0/cb", 0},
		{"https://app.example.com\\@evil.example/cb", 0},
		{"https://evil.example\\.app.example.com/cb", 0},
		{"https:///cb", 0},
		{"https://:443/cb", 0},
		{"https://app.example.com:0/cb", 0},
		{"https://app.example.com:99999/cb", 0},
		{"https://app.example.com:44a/cb", 0},
		{"https://[::1/cb", 0},
		{"https://b\xc3\xbc" "cher.example/cb", 0}, /* raw IDN */
		{"https://app.example.com/c b", 0},
		{" https://app.example.com/cb", 0},
		{"https://app.example.com/cb ", 0},
		{"https://app.example.com/cb\t", 0},
		{"https://app.example.com/cb\r\nX: y", 0},
		{"https://app.example.com/%zz", 0},
		{"https://app%2eexample.com/cb", 0},
		{"https://app.example.com/%00", 1}, /* an escaped NUL is the client's business */
		{"//app.example.com/cb", 0},
		{"/cb", 0},
		{"cb", 0},
		{"", 0},
		{"myapp:", 0},
		{"myapp://", 0},
		{"myapp://user@host/cb", 0},
		{"ws://127.0.0.1/cb", 0},
		{"ftp://example.com/cb", 0},
		{"about:blank", 0},
		{"intent://scan/#Intent;scheme=zxing;end", 0},
	};
	char longuri[OAUTH_URI_MAX + 16];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char shown[64];
		size_t j;

		/* Keep the TAP line one line. */
		for (j = 0; t[i].uri[j] != '\0' && j + 1 < sizeof(shown); j++)
			shown[j] = (unsigned char)t[i].uri[j] < 0x20 ? '?' : t[i].uri[j];
		shown[j] = '\0';
		is_int(oauth_redirect_uri_valid(t[i].uri), t[i].want, "redirect_uri_valid %zu: %s", i,
		       shown);
	}
	memset(longuri, 'a', sizeof(longuri));
	memcpy(longuri, "https://a.example/", 18);
	longuri[sizeof(longuri) - 1] = '\0';
	is_int(oauth_redirect_uri_valid(longuri), 0, "over-long URI refused");
	is_int(oauth_redirect_uri_valid(NULL), 0, "NULL refused");
}

static void
test_redirect_allowed(void)
{
	struct oauth_client c;
	static const struct {
		const char *uri;
		int want;
	} t[] = {
		{"https://app.example.com/cb", 1},
		{"https://app.example.com/cb/", 0},
		{"https://app.example.com/CB", 0},
		{"https://app.example.com:443/cb", 0},
		{"https://app.example.com/cb?x=1", 0},
		{"https://App.example.com/cb", 0},
		{"http://127.0.0.1/callback", 1},
		{"http://127.0.0.1:51234/callback", 1},
		{"http://127.0.0.1:1/callback", 1},
		{"http://127.0.0.1:51234/callback2", 0},
		{"http://127.0.0.1:51234/callback?x", 0},
		{"http://127.0.0.1:0/callback", 0},
		{"http://127.0.0.1:70000/callback", 0},
		{"http://localhost:51234/callback", 0}, /* another host */
		{"http://[::1]:51234/callback", 0},
		{"http://[::1]:4000/v6", 1},
		{"http://localhost:9/named", 1},
		{"http://127.0.0.1:51234@evil.example/callback", 0},
		{"http://127.0.0.1:51234/callback#x", 0},
		{"https://127.0.0.1:51234/callback", 0},
		{"com.example.app:/oauth2redirect", 1},
		{"com.example.app:/oauth2redirect/", 0},
		{"", 0},
	};

	memset(&c, 0, sizeof(c));
	snprintf(c.redirect_uris[c.n_redirect_uris++], OAUTH_URI_MAX, "https://app.example.com/cb");
	snprintf(c.redirect_uris[c.n_redirect_uris++], OAUTH_URI_MAX, "http://127.0.0.1:8080/callback");
	snprintf(c.redirect_uris[c.n_redirect_uris++], OAUTH_URI_MAX, "http://[::1]/v6");
	snprintf(c.redirect_uris[c.n_redirect_uris++], OAUTH_URI_MAX, "http://localhost/named");
	snprintf(c.redirect_uris[c.n_redirect_uris++], OAUTH_URI_MAX, "com.example.app:/oauth2redirect");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(oauth_redirect_allowed(&c, t[i].uri), t[i].want, "redirect_allowed %zu: %s", i,
		       t[i].uri);
	is_int(oauth_redirect_allowed(NULL, "https://app.example.com/cb"), 0, "NULL client");
}

/* ---- client metadata ------------------------------------------------------ */

static void
test_client_parse(void)
{
	static const struct {
		const char *json;
		enum oauth_err want;
	} t[] = {
		{"{\"redirect_uris\":[\"https://a.example/cb\"]}", OAUTH_OK},
		{"{\"redirect_uris\":[\"http://127.0.0.1/cb\"],\"client_name\":\"Inspector\","
		 "\"grant_types\":[\"authorization_code\",\"refresh_token\"],"
		 "\"response_types\":[\"code\"],\"token_endpoint_auth_method\":\"none\","
		 "\"scope\":\"snippets:read\",\"logo_uri\":\"https://x/y.png\",\"unknown\":{\"a\":1}}",
		 OAUTH_OK},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],"
		 "\"token_endpoint_auth_method\":\"client_secret_post\"}",
		 OAUTH_OK},
		{"{}", OAUTH_E_REDIRECT_URI},
		{"{\"redirect_uris\":[]}", OAUTH_E_REDIRECT_URI},
		{"{\"redirect_uris\":\"https://a.example/cb\"}", OAUTH_E_REDIRECT_URI},
		{"{\"redirect_uris\":[1]}", OAUTH_E_REDIRECT_URI},
		{"{\"redirect_uris\":[\"javascript:alert(1)\"]}", OAUTH_E_REDIRECT_URI},
		{"{\"redirect_uris\":[\"https://a.example/cb\",\"http://evil.example/cb\"]}",
		 OAUTH_E_REDIRECT_URI},
		{"{\"redirect_uris\":[\"https://a.example/1\",\"https://a.example/2\","
		 "\"https://a.example/3\",\"https://a.example/4\",\"https://a.example/5\","
		 "\"https://a.example/6\",\"https://a.example/7\",\"https://a.example/8\","
		 "\"https://a.example/9\"]}",
		 OAUTH_E_REDIRECT_URI},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"token_endpoint_auth_method\":"
		 "\"private_key_jwt\"}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"token_endpoint_auth_method\":5}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[\"implicit\"]}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[\"refresh_token\"]}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[\"client_credentials\","
		 "\"authorization_code\"]}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"response_types\":[\"token\"]}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"scope\":\"admin\"}", OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"scope\":7}", OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":[\"x\"]}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"a\\nb\"}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"a\\u0000b\"}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"client_uri\":\"javascript:x\"}",
		 OAUTH_E_METADATA},
		{"{\"redirect_uris\":[\"https://a.example/cb\"],\"client_uri\":\"http://a.example/\"}",
		 OAUTH_E_METADATA},
		{"[1,2]", OAUTH_E_METADATA},
	};
	struct oauth_client c;
	char why[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_object *o = json_tokener_parse(t[i].json);

		memset(&c, 0, sizeof(c));
		why[0] = '\0';
		is_int(oauth_client_parse(o, &c, why, sizeof(why)), t[i].want, "client_parse %zu (%s)",
		       i, why);
		json_object_put(o);
	}
	{
		json_object *o = json_tokener_parse(t[1].json), *back;

		memset(&c, 0, sizeof(c));
		oauth_client_parse(o, &c, why, sizeof(why));
		ok(c.grant_types == (OAUTH_GRANT_CODE | OAUTH_GRANT_REFRESH) &&
			   c.scope == SCOPE_SNIPPETS_READ && strcmp(c.client_name, "Inspector") == 0,
		   "parsed fields");
		back = oauth_client_json(&c);
		ok(back != NULL && strstr(json_object_to_json_string(back), "logo_uri") == NULL &&
			   strstr(json_object_to_json_string(back), "refresh_token") != NULL,
		   "registered metadata echoes what we keep only");
		json_object_put(back);
		json_object_put(o);
	}
}

static void
test_clients(void)
{
	struct oauth_client c, got;
	char path[512];
	FILE *fp;

	memset(&c, 0, sizeof(c));
	snprintf(c.client_id, sizeof(c.client_id), "dyn-1");
	snprintf(c.client_name, sizeof(c.client_name), "Dynamic");
	snprintf(c.redirect_uris[0], OAUTH_URI_MAX, "https://a.example/cb");
	c.n_redirect_uris = 1;
	c.auth_method = OAUTH_AUTH_SECRET_BASIC;
	c.grant_types = OAUTH_GRANT_CODE | OAUTH_GRANT_REFRESH;
	c.issued_at = 1700000000;
	crypto_token_hash(&app.keys, "s3cret", c.secret_hash, sizeof(c.secret_hash));
	is_int(oauth_client_put(&app, &c), STORE_OK, "client stored");
	is_int(oauth_client_put(&app, &c), STORE_EXISTS, "same id twice refused");
	is_int(oauth_client_get(&app, "dyn-1", &got), STORE_OK, "client read back");
	ok(strcmp(got.client_name, "Dynamic") == 0 && got.auth_method == OAUTH_AUTH_SECRET_BASIC &&
		   got.issued_at == 1700000000 && got.source == OAUTH_CLIENT_DYNAMIC &&
		   got.grant_types == c.grant_types && strcmp(got.secret_hash, c.secret_hash) == 0,
	   "round trip");
	is_int(oauth_client_secret_ok(&app, &got, "s3cret"), 1, "right secret");
	is_int(oauth_client_secret_ok(&app, &got, "s3cret "), 0, "wrong secret");
	is_int(oauth_client_secret_ok(&app, &got, ""), 0, "empty secret");
	is_int(oauth_client_get(&app, "nope", &got), STORE_NOTFOUND, "unknown client");
	is_int(oauth_client_get(&app, "", &got), STORE_NOTFOUND, "empty id");
	is_int(oauth_client_get(&app, "a b", &got), STORE_NOTFOUND, "id with a space");

	snprintf(path, sizeof(path), "%s/clients.json", tmpdir);
	fp = fopen(path, "w");
	fputs("[{\"client_id\":\"static-pub\",\"client_name\":\"CLI\","
	      "\"redirect_uris\":[\"http://127.0.0.1/cb\"],"
	      "\"grant_types\":[\"authorization_code\",\"refresh_token\"]},"
	      "{\"client_id\":\"static-conf\",\"redirect_uris\":[\"https://rs.example/cb\"],"
	      "\"token_endpoint_auth_method\":\"client_secret_post\",\"client_secret\":\"rs-secret\"}]",
	      fp);
	fclose(fp);
	snprintf(app.cfg.static_clients_file, sizeof(app.cfg.static_clients_file), "%s", path);
	is_int(oauth_client_get(&app, "static-pub", &got), STORE_OK, "static public client");
	ok(got.source == OAUTH_CLIENT_STATIC && got.auth_method == OAUTH_AUTH_NONE &&
		   oauth_redirect_allowed(&got, "http://127.0.0.1:4242/cb"),
	   "static public client fields");
	is_int(oauth_client_get(&app, "static-conf", &got), STORE_OK, "static confidential client");
	is_int(oauth_client_secret_ok(&app, &got, "rs-secret"), 1, "static secret checks");
	is_int(oauth_client_get(&app, "static-none", &got), STORE_NOTFOUND, "not in the file");
	fp = fopen(path, "w");
	fputs("[{\"client_id\":\"static-bad\",\"redirect_uris\":[\"javascript:x\"]}]", fp);
	fclose(fp);
	is_int(oauth_client_get(&app, "static-bad", &got), STORE_ERROR, "broken static entry");
	fp = fopen(path, "w");
	fputs("[{\"client_id\":\"x\",", fp);
	fclose(fp);
	is_int(oauth_client_get(&app, "x", &got), STORE_ERROR, "broken static file");
	snprintf(app.cfg.static_clients_file, sizeof(app.cfg.static_clients_file), "%s", "");
}

/* ---- client authentication ----------------------------------------------- */

/* Authenticate with an optional Authorization header and a form body. */
static enum oauth_err
auth_try(const char *authz, const char *body, struct oauth_client *out)
{
	char hdr[512], *envp[4] = {NULL};
	struct http_req req;
	struct http_form form;
	const char *why = NULL;
	enum oauth_err e;
	size_t n = 0;

	envp[n++] = (char *)"REQUEST_METHOD=POST";
	if (authz != NULL) {
		snprintf(hdr, sizeof(hdr), "HTTP_AUTHORIZATION=%s", authz);
		envp[n++] = hdr;
	}
	http_req_init(&req, envp, NULL, NULL);
	http_form_parse(body, strlen(body), 0, &form);
	e = oauth_client_authenticate(&app, &req, &form, out, &why);
	http_form_free(&form);
	http_req_free(&req);
	return e;
}

static void
test_client_auth(void)
{
	struct oauth_client pub, post, got;
	static const char b64_ok[] = "Basic ZHluLTE6czNjcmV0";    /* dyn-1:s3cret */
	static const char b64_bad[] = "Basic ZHluLTE6d3Jvbmc=";   /* dyn-1:wrong */
	static const char b64_enc[] = "Basic ZHluJTJEMTpzM2NyZXQ="; /* dyn%2D1:s3cret */

	memset(&pub, 0, sizeof(pub));
	snprintf(pub.client_id, sizeof(pub.client_id), "pub-1");
	snprintf(pub.redirect_uris[0], OAUTH_URI_MAX, "https://a.example/cb");
	pub.n_redirect_uris = 1;
	pub.grant_types = OAUTH_GRANT_CODE;
	oauth_client_put(&app, &pub);
	post = pub;
	snprintf(post.client_id, sizeof(post.client_id), "post-1");
	post.auth_method = OAUTH_AUTH_SECRET_POST;
	crypto_token_hash(&app.keys, "p0st", post.secret_hash, sizeof(post.secret_hash));
	oauth_client_put(&app, &post);

	is_int(auth_try(NULL, "client_id=pub-1", &got), OAUTH_OK, "public client by client_id");
	is_str(got.client_id, "pub-1", "public client found");
	is_int(auth_try(NULL, "grant_type=x", &got), OAUTH_E_CLIENT, "no client at all");
	is_int(auth_try(NULL, "client_id=ghost", &got), OAUTH_E_CLIENT, "unknown client");
	is_int(auth_try(NULL, "client_id=pub-1&client_secret=x", &got), OAUTH_E_CLIENT,
	       "public client sending a secret");
	is_int(auth_try(b64_ok, "", &got), OAUTH_OK, "client_secret_basic");
	is_str(got.client_id, "dyn-1", "basic client found");
	is_int(auth_try(b64_enc, "", &got), OAUTH_OK, "basic credentials are form-decoded");
	is_int(auth_try(b64_bad, "", &got), OAUTH_E_CLIENT, "basic with a wrong secret");
	is_int(auth_try("Basic !!!", "", &got), OAUTH_E_CLIENT, "basic garbage");
	is_int(auth_try("Basic ZHluLTE=", "", &got), OAUTH_E_CLIENT, "basic without a colon");
	is_int(auth_try("Bearer abc", "client_id=pub-1", &got), OAUTH_E_CLIENT, "Bearer is not client auth");
	is_int(auth_try(b64_ok, "client_secret=s3cret", &got), OAUTH_E_REQUEST,
	       "two authentication methods");
	is_int(auth_try(b64_ok, "client_id=pub-1", &got), OAUTH_E_REQUEST,
	       "client_id differs from the header");
	is_int(auth_try(b64_ok, "client_id=dyn-1", &got), OAUTH_OK, "same client_id in both");
	is_int(auth_try(NULL, "client_id=dyn-1", &got), OAUTH_E_CLIENT,
	       "confidential client without its secret");
	is_int(auth_try(NULL, "client_id=dyn-1&client_secret=s3cret", &got), OAUTH_E_CLIENT,
	       "basic client using post");
	is_int(auth_try(NULL, "client_id=post-1&client_secret=p0st", &got), OAUTH_OK,
	       "client_secret_post");
	is_int(auth_try(NULL, "client_id=post-1&client_secret=p0sT", &got), OAUTH_E_CLIENT,
	       "post with a wrong secret");
	is_int(auth_try("Basic cG9zdC0xOnAwc3Q=", "", &got), OAUTH_E_CLIENT,
	       "post client using basic");
}

/* ---- codes ------------------------------------------------------------- */

static void
make_code_req(struct oauth_code *c, const char *client, const char *verifier)
{
	unsigned char h[32];

	memset(c, 0, sizeof(*c));
	snprintf(c->client_id, sizeof(c->client_id), "%s", client);
	snprintf(c->redirect_uri, sizeof(c->redirect_uri), "http://127.0.0.1:8080/callback");
	crypto_sha256(verifier, strlen(verifier), h);
	crypto_b64url_encode(h, sizeof(h), c->code_challenge, sizeof(c->code_challenge));
	snprintf(c->resource, sizeof(c->resource), "https://mcp.example.com/mcp");
	snprintf(c->user, sizeof(c->user), "local:alice");
	snprintf(c->name, sizeof(c->name), "Alice");
	c->scope = SCOPE_ALL;
}

static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static void
test_codes(void)
{
	struct oauth_code c, got;
	char code[OAUTH_CODE_LEN + 1], small[8];
	const char *why;
	time_t before = time(NULL);

	make_code_req(&c, "pub-1", verifier);
	is_int(oauth_code_issue(&app, &c, small, sizeof(small)), STORE_ERROR, "small buffer refused");
	is_int(oauth_code_issue(&app, &c, code, sizeof(code)), STORE_OK, "code issued");
	is_int(strlen(code), OAUTH_CODE_LEN, "code length");
	ok(c.exp >= before + app.cfg.code_ttl && c.exp <= time(NULL) + app.cfg.code_ttl,
	   "expiry set to now + code_ttl");
	is_int(oauth_code_take(&app, code, &got, &why), STORE_OK, "code redeemed");
	ok(strcmp(got.client_id, "pub-1") == 0 && strcmp(got.user, "local:alice") == 0 &&
		   strcmp(got.code_challenge, c.code_challenge) == 0 && got.scope == SCOPE_ALL &&
		   strcmp(got.redirect_uri, c.redirect_uri) == 0 && got.exp == c.exp &&
		   strlen(got.grant_id) == TOKEN_GRANT_ID_LEN,
	   "code fields round trip");
	ok(crypto_pkce_s256_check(verifier, got.code_challenge), "PKCE verifier matches");
	is_int(oauth_code_take(&app, code, &got, &why), STORE_NOTFOUND, "second redemption refused");
	ok(why != NULL && strstr(why, "replayed") != NULL, "replay reported (%s)", why);
	is_int(oauth_code_redeem(&app, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &got),
	       STORE_NOTFOUND, "unknown code");
	is_int(oauth_code_redeem(&app, "short", &got), STORE_NOTFOUND, "malformed code");
	is_int(oauth_code_redeem(&app, "", &got), STORE_NOTFOUND, "empty code");
	is_int(oauth_code_redeem(&app, NULL, &got), STORE_NOTFOUND, "NULL code");
	memset(c.user, 0, sizeof(c.user));
	is_int(oauth_code_issue(&app, &c, code, sizeof(code)), STORE_ERROR, "code without a user");
	/* An expired code reads as absent. */
	make_code_req(&c, "pub-1", verifier);
	app.cfg.code_ttl = 0;
	is_int(oauth_code_issue(&app, &c, code, sizeof(code)), STORE_OK, "code issued (ttl 0)");
	is_int(oauth_code_redeem(&app, code, &got), STORE_NOTFOUND, "expired code refused");
	app.cfg.code_ttl = 60;
}

/* Many processes race to redeem one code: exactly one wins. */
static void
test_code_race_processes(void)
{
	enum { N = 16 };
	struct oauth_code c, got;
	char code[OAUTH_CODE_LEN + 1];
	int gate[2], wins = 0, losses = 0, other = 0;
	pid_t pids[N];

	make_code_req(&c, "pub-1", verifier);
	oauth_code_issue(&app, &c, code, sizeof(code));
	if (pipe(gate) != 0)
		return;
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			char b;
			int rc;

			close(gate[1]);
			/* Everyone waits at the gate, then all go at once. */
			if (read(gate[0], &b, 1) < 0)
				_exit(3);
			rc = oauth_code_redeem(&app, code, &got);
			_exit(rc == STORE_OK ? 0 : rc == STORE_NOTFOUND ? 1 : 2);
		}
	}
	close(gate[0]);
	close(gate[1]);
	for (int i = 0; i < N; i++) {
		int st = 0;

		if (pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st))
			*(WEXITSTATUS(st) == 0 ? &wins : WEXITSTATUS(st) == 1 ? &losses : &other) += 1;
		else
			other++;
	}
	is_int(wins, 1, "processes: exactly one redeemer wins");
	is_int(losses, N - 1, "processes: every other one is refused");
	is_int(other, 0, "processes: no errors");
}

struct race {
	pthread_barrier_t *bar;
	const char *code;
	int rc;
};

static void *
race_thread(void *arg)
{
	struct race *r = arg;
	struct oauth_code got;

	pthread_barrier_wait(r->bar);
	r->rc = oauth_code_redeem(&app, r->code, &got);
	return NULL;
}

static void
test_code_race_threads(void)
{
	enum { N = 12 };
	pthread_barrier_t bar;
	pthread_t th[N];
	struct race r[N];
	struct oauth_code c;
	char code[OAUTH_CODE_LEN + 1];
	int wins = 0, losses = 0;

	make_code_req(&c, "pub-1", verifier);
	oauth_code_issue(&app, &c, code, sizeof(code));
	pthread_barrier_init(&bar, NULL, N);
	for (int i = 0; i < N; i++) {
		r[i] = (struct race){.bar = &bar, .code = code, .rc = -99};
		pthread_create(&th[i], NULL, race_thread, &r[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		wins += r[i].rc == STORE_OK;
		losses += r[i].rc == STORE_NOTFOUND;
	}
	pthread_barrier_destroy(&bar);
	is_int(wins, 1, "threads: exactly one redeemer wins");
	is_int(losses, N - 1, "threads: the others are refused");
}

/* ---- grants -------------------------------------------------------------- */

static struct oauth_client
make_client(const char *id)
{
	struct oauth_client cl;

	memset(&cl, 0, sizeof(cl));
	snprintf(cl.client_id, sizeof(cl.client_id), "%s", id);
	cl.grant_types = OAUTH_GRANT_CODE | OAUTH_GRANT_REFRESH;
	return cl;
}

/* Code -> grant -> first tokens, as the token endpoint does it. */
static int
new_grant(const char *client, struct oauth_tokens *t, char *grant_id, char *code_out)
{
	struct oauth_code c, got;
	char code[OAUTH_CODE_LEN + 1];

	make_code_req(&c, client, verifier);
	if (oauth_code_issue(&app, &c, code, sizeof(code)) != STORE_OK ||
	    oauth_code_redeem(&app, code, &got) != STORE_OK)
		return -1;
	if (grant_id != NULL)
		memcpy(grant_id, got.grant_id, TOKEN_GRANT_ID_LEN + 1);
	if (code_out != NULL)
		memcpy(code_out, code, sizeof(code));
	return oauth_grant_from_code(&app, code, &got, 1, t) == OAUTH_OK ? 0 : -1;
}

static int
access_live(const char *access)
{
	struct token_access acc;

	if (token_access_verify(&app.keys, "https://mcp.example.com/mcp", access, time(NULL), &acc) !=
	    TOKEN_OK)
		return 0;
	return token_grant_live(app.store, acc.grant_id) == STORE_OK;
}

static void
test_grant_from_code(void)
{
	struct oauth_tokens t, t2;
	struct oauth_code c, got;
	struct token_access acc;
	char code[OAUTH_CODE_LEN + 1], gid[TOKEN_GRANT_ID_LEN + 1];
	struct oauth_client cl = make_client("pub-1");

	is_int(new_grant("pub-1", &t, gid, code), 0, "grant from code");
	ok(strncmp(t.access, "mga_", 4) == 0 && strncmp(t.refresh, "mgr_", 4) == 0, "token prefixes");
	is_int(t.expires_in, app.cfg.access_token_ttl, "expires_in");
	is_int(t.scope, SCOPE_ALL, "scope");
	is_int(token_access_verify(&app.keys, "https://mcp.example.com/mcp", t.access, time(NULL),
				   &acc),
	       TOKEN_OK, "access token opens for our resource");
	ok(strcmp(acc.grant_id, gid) == 0 && strcmp(acc.user, "local:alice") == 0 &&
		   strcmp(acc.client_id, "pub-1") == 0,
	   "access token carries the grant");
	is_int(token_access_verify(&app.keys, "https://other.example/mcp", t.access, time(NULL), &acc),
	       TOKEN_MALFORMED, "access token bound to the resource");
	ok(access_live(t.access), "grant live");

	/* A replayed code revokes what it gave. */
	is_int(oauth_code_redeem(&app, code, &got), STORE_NOTFOUND, "replayed code refused");
	ok(!access_live(t.access), "replay revoked the grant");
	is_int(oauth_grant_refresh(&app, &cl, t.refresh, 0, 0, &t2, NULL), OAUTH_E_GRANT,
	       "refresh token of the revoked grant refused");

	/* A replay between redemption and grant creation stops the grant. */
	make_code_req(&c, "pub-1", verifier);
	oauth_code_issue(&app, &c, code, sizeof(code));
	is_int(oauth_code_redeem(&app, code, &got), STORE_OK, "code taken");
	is_int(oauth_code_redeem(&app, code, &c), STORE_NOTFOUND, "replayed before the grant exists");
	is_int(oauth_grant_from_code(&app, code, &got, 1, &t), OAUTH_E_GRANT,
	       "grant refused after the replay");
	is_int(token_grant_live(app.store, got.grant_id), STORE_NOTFOUND, "no grant record");

	/* No refresh token when not asked for. */
	make_code_req(&c, "pub-1", verifier);
	oauth_code_issue(&app, &c, code, sizeof(code));
	oauth_code_redeem(&app, code, &got);
	is_int(oauth_grant_from_code(&app, code, &got, 0, &t), OAUTH_OK, "grant without refresh");
	is_str(t.refresh, "", "no refresh token");
}

/* ---- the code exchange in one transaction -------------------------------- */

struct exchange_check {
	const char *client;
	int calls;
};

/* What the token endpoint checks, reduced to the client. */
static const char *
exchange_check_fn(const struct oauth_code *c, void *arg)
{
	struct exchange_check *x = arg;

	x->calls++;
	return strcmp(c->client_id, x->client) == 0 ? NULL : "code was issued to another client";
}

static void
test_code_exchange(void)
{
	static const char *const bad[] = {
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* well-formed, unknown */
		"short", "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 44 characters */
	};
	struct exchange_check chk = {.client = "pub-1"};
	struct oauth_code c;
	struct oauth_tokens t, t2;
	struct token_access acc;
	struct oauth_client cl = make_client("pub-1");
	char code[OAUTH_CODE_LEN + 1];
	const char *why;

	make_code_req(&c, "pub-1", verifier);
	is_int(oauth_code_issue(&app, &c, code, sizeof(code)), STORE_OK, "exchange: code issued");
	is_int(oauth_code_exchange(&app, code, exchange_check_fn, &chk, 1, &t, &why), OAUTH_OK,
	       "exchange: code -> tokens");
	ok(why == NULL && chk.calls == 1, "exchange: checked once, no reason");
	ok(strncmp(t.access, "mga_", 4) == 0 && strncmp(t.refresh, "mgr_", 4) == 0 &&
		   t.scope == SCOPE_ALL && t.expires_in == app.cfg.access_token_ttl,
	   "exchange: access and refresh token");
	is_int(token_access_verify(&app.keys, "https://mcp.example.com/mcp", t.access, time(NULL),
				   &acc),
	       TOKEN_OK, "exchange: access token opens");
	ok(strcmp(acc.user, "local:alice") == 0 && strcmp(acc.client_id, "pub-1") == 0,
	   "exchange: access token carries user and client");
	ok(access_live(t.access), "exchange: grant live");
	is_int(oauth_grant_refresh(&app, &cl, t.refresh, 0, 0, &t2, &why), OAUTH_OK,
	       "exchange: refresh token rotates");
	/* RFC 6749 §4.1.2: a second use revokes everything the code gave. */
	is_int(oauth_code_exchange(&app, code, exchange_check_fn, &chk, 1, &t, &why), OAUTH_E_GRANT,
	       "exchange: replay refused");
	ok(why != NULL && strstr(why, "revoked") != NULL, "exchange: replay revoked (%s)", why);
	ok(t.access[0] == '\0' && t.refresh[0] == '\0', "exchange: nothing handed out on replay");
	ok(!access_live(t2.access), "exchange: the grant is gone");
	is_int(chk.calls, 1, "exchange: a replay is not checked");

	/* A code that fails the check is used up all the same. */
	chk.client = "pub-2";
	oauth_code_issue(&app, &c, code, sizeof(code));
	is_int(oauth_code_exchange(&app, code, exchange_check_fn, &chk, 1, &t, &why), OAUTH_E_GRANT,
	       "exchange: check refuses");
	is_str(why, "code was issued to another client", "exchange: the check's reason");
	chk.client = "pub-1";
	is_int(oauth_code_exchange(&app, code, exchange_check_fn, &chk, 1, &t, &why), OAUTH_E_GRANT,
	       "exchange: refused code cannot be retried");
	ok(why != NULL && strstr(why, "no grant") != NULL, "exchange: no grant to revoke (%s)", why);

	/* No check, no refresh token. */
	oauth_code_issue(&app, &c, code, sizeof(code));
	is_int(oauth_code_exchange(&app, code, NULL, NULL, 0, &t, &why), OAUTH_OK,
	       "exchange: without check and refresh");
	is_str(t.refresh, "", "exchange: no refresh token");
	ok(access_live(t.access), "exchange: grant without refresh live");

	/* The same record format as the two-step API: a code taken by the
	 * exchange is a replay for oauth_code_take, and the other way round. */
	oauth_code_issue(&app, &c, code, sizeof(code));
	is_int(oauth_code_exchange(&app, code, NULL, NULL, 1, &t, &why), OAUTH_OK, "exchange: again");
	is_int(oauth_code_redeem(&app, code, &c), STORE_NOTFOUND, "exchange: then redeem is a replay");
	ok(!access_live(t.access), "exchange: and revokes the grant");
	make_code_req(&c, "pub-1", verifier);
	oauth_code_issue(&app, &c, code, sizeof(code));
	is_int(oauth_code_take(&app, code, &c, &why), STORE_OK, "exchange: taken the old way");
	is_int(oauth_code_exchange(&app, code, NULL, NULL, 1, &t, &why), OAUTH_E_GRANT,
	       "exchange: then exchange is a replay");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(oauth_code_exchange(&app, bad[i], NULL, NULL, 1, &t, &why), OAUTH_E_GRANT,
		       "exchange: bad code %zu refused", i);
		ok(why != NULL && t.access[0] == '\0', "exchange: bad code %zu has a reason", i);
	}
	is_int(oauth_code_exchange(&app, NULL, NULL, NULL, 1, &t, &why), OAUTH_E_GRANT,
	       "exchange: NULL code refused");
	/* An expired code reads as absent. */
	make_code_req(&c, "pub-1", verifier);
	app.cfg.code_ttl = 0;
	oauth_code_issue(&app, &c, code, sizeof(code));
	app.cfg.code_ttl = 60;
	is_int(oauth_code_exchange(&app, code, NULL, NULL, 1, &t, &why), OAUTH_E_GRANT,
	       "exchange: expired code refused");
}

/* Many processes exchange one code at once: exactly one gets tokens, and
 * the others are replays, which revoke the winner's grant. */
static void
test_code_exchange_race(void)
{
	enum { N = 12 };
	struct oauth_code c;
	char code[OAUTH_CODE_LEN + 1];
	int gate[2], res[2], wins = 0, losses = 0, other = 0;
	pid_t pids[N];
	char access[TOKEN_ACCESS_MAX] = "";

	make_code_req(&c, "pub-1", verifier);
	oauth_code_issue(&app, &c, code, sizeof(code));
	if (pipe(gate) != 0 || pipe(res) != 0)
		return;
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct oauth_tokens t;
			const char *why;
			char b;
			enum oauth_err e;

			close(gate[1]);
			close(res[0]);
			if (read(gate[0], &b, 1) < 0)
				_exit(3);
			e = oauth_code_exchange(&app, code, NULL, NULL, 1, &t, &why);
			if (e == OAUTH_OK && write(res[1], t.access, strlen(t.access) + 1) < 0)
				_exit(3);
			_exit(e == OAUTH_OK ? 0 : e == OAUTH_E_GRANT ? 1 : 2);
		}
	}
	close(gate[0]);
	close(gate[1]);
	close(res[1]);
	for (int i = 0; i < N; i++) {
		int st = 0;

		if (pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st))
			*(WEXITSTATUS(st) == 0 ? &wins : WEXITSTATUS(st) == 1 ? &losses : &other) += 1;
		else
			other++;
	}
	if (read(res[0], access, sizeof(access) - 1) < 0)
		access[0] = '\0';
	close(res[0]);
	is_int(wins, 1, "exchange race: exactly one process gets tokens");
	is_int(losses, N - 1, "exchange race: every other one is refused");
	is_int(other, 0, "exchange race: no errors");
	ok(access[0] != '\0' && !access_live(access), "exchange race: the replays revoked the grant");
}

/* Several writes of one request in one transaction. */
struct combo {
	struct oauth_code c;
	char code[OAUTH_CODE_LEN + 1];
	struct oauth_consent rec;
	struct oauth_client cl;
	int rc_client, rc_consent, rc_code;
};

static int
combo_fn(struct store_txn *tx, void *arg)
{
	struct combo *k = arg;

	k->rc_client = oauth_client_get_tx(tx, "dyn-tx", &k->cl);
	k->rc_consent = oauth_consent_record_tx(&app, tx, "local:carol", "pub-1",
						"https://a.example/cb", SCOPE_ALL, &k->rec);
	k->rc_code = oauth_code_issue_tx(&app, tx, &k->c, k->code, sizeof(k->code));
	return k->rc_code;
}

static int
combo_missing_fn(struct store_txn *tx, void *arg)
{
	struct combo *k = arg;

	k->rc_client = oauth_client_get_tx(tx, "no-such-client", &k->cl);
	k->rc_consent = oauth_consent_record_tx(&app, tx, "", "pub-1", "https://a.example/cb", 1,
						&k->rec);
	return STORE_OK;
}

static void
test_tx_forms(void)
{
	struct combo *k = calloc(1, sizeof(*k));
	struct oauth_client reg;
	struct oauth_consent got;
	struct oauth_code taken;

	if (k == NULL)
		return;
	memset(&reg, 0, sizeof(reg));
	snprintf(reg.client_id, sizeof(reg.client_id), "dyn-tx");
	snprintf(reg.client_name, sizeof(reg.client_name), "In a transaction");
	snprintf(reg.redirect_uris[0], OAUTH_URI_MAX, "https://a.example/cb");
	reg.n_redirect_uris = 1;
	reg.grant_types = OAUTH_GRANT_CODE;
	is_int(oauth_client_put(&app, &reg), STORE_OK, "tx: client registered");
	make_code_req(&k->c, "pub-1", verifier);
	is_int(store_txn(app.store, 1, combo_fn, k), STORE_OK, "tx: one write transaction");
	is_int(k->rc_client, STORE_OK, "tx: client read inside it");
	is_str(k->cl.client_name, "In a transaction", "tx: client fields");
	is_int(k->rc_consent, STORE_OK, "tx: consent recorded inside it");
	is_int(strlen(k->rec.id), OAUTH_CONSENT_ID_LEN, "tx: consent id");
	is_int(oauth_consent_get(&app, "local:carol", "pub-1", "https://a.example/cb", &got), STORE_OK,
	       "tx: consent readable afterwards");
	is_str(got.id, k->rec.id, "tx: the same record");
	is_int(oauth_code_take(&app, k->code, &taken, NULL), STORE_OK, "tx: code redeemable");
	is_str(taken.user, "local:alice", "tx: code fields");
	is_int(store_txn(app.store, 1, combo_missing_fn, k), STORE_OK, "tx: bad arguments");
	is_int(k->rc_client, STORE_NOTFOUND, "tx: unknown client");
	is_int(k->rc_consent, STORE_ERROR, "tx: consent without a user refused");
	ok(k->rec.id[0] == '\0', "tx: and nothing returned");
	free(k);
}

static void
test_rotation(void)
{
	struct oauth_client cl = make_client("pub-1"), other = make_client("pub-2");
	struct oauth_tokens t1, t2, t2b, t3, tx;
	char gid[TOKEN_GRANT_ID_LEN + 1];
	const char *why;

	app.cfg.refresh_grace = 30;
	is_int(new_grant("pub-1", &t1, gid, NULL), 0, "grant");
	is_int(oauth_grant_refresh(&app, &other, t1.refresh, 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "another client's refresh token refused");
	ok(access_live(t1.access), "and the grant survives that");
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 1, SCOPE_ALL | 0x100, &tx, &why),
	       OAUTH_E_SCOPE, "wider scope refused");
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &t2, &why), OAUTH_OK, "rotation");
	ok(strcmp(t2.refresh, t1.refresh) != 0 && strcmp(t2.access, t1.access) != 0,
	   "new pair differs");
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &t2b, &why), OAUTH_OK,
	       "retry inside grace");
	ok(strcmp(t2b.refresh, t2.refresh) == 0 && strcmp(t2b.access, t2.access) == 0 &&
		   t2b.scope == t2.scope && t2b.expires_in > 0,
	   "retry returns the same pair");
	/* Finding 10: the same pair answers the same request only. */
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 1, SCOPE_SNIPPETS_READ, &tx, &why),
	       OAUTH_E_GRANT, "retry inside grace with a narrower scope refused");
	ok(tx.access[0] == '\0' && tx.refresh[0] == '\0', "and nothing handed out");
	ok(access_live(t2.access), "the grant survives a refused retry");
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 1, SCOPE_ALL, &t2b, &why), OAUTH_OK,
	       "retry inside grace naming the same scope");
	is_str(t2b.refresh, t2.refresh, "same pair for the same scope");
	is_int(oauth_grant_refresh(&app, &cl, t2.refresh, 1, SCOPE_SNIPPETS_READ, &t3, &why),
	       OAUTH_OK, "rotation with a narrower scope");
	is_int(oauth_grant_refresh(&app, &cl, t2.refresh, 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "retry of a narrowed rotation without scope (= the grant's) refused");
	is_int(oauth_grant_refresh(&app, &cl, t2.refresh, 1, SCOPE_SNIPPETS_READ, &tx, &why),
	       OAUTH_OK, "retry of a narrowed rotation with the same scope");
	is_str(tx.access, t3.access, "same narrowed pair");
	is_int(t3.scope, SCOPE_SNIPPETS_READ, "narrowed access token");
	ok(access_live(t1.access) && access_live(t3.access), "grant still live");
	/* t1 is two generations old now: reuse means theft. */
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "old generation reused");
	ok(why != NULL && strstr(why, "revoked") != NULL, "reason says revoked (%s)", why);
	ok(!access_live(t3.access), "reuse revoked the grant");
	is_int(oauth_grant_refresh(&app, &cl, t3.refresh, 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "current token of the revoked grant refused");

	/* Outside the grace window the just-rotated token revokes too. */
	is_int(new_grant("pub-1", &t1, gid, NULL), 0, "grant 2");
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &t2, &why), OAUTH_OK, "rotate");
	app.cfg.refresh_grace = 1;
	sleep(2);
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "retry after the grace window");
	ok(!access_live(t2.access), "grant revoked");
	app.cfg.refresh_grace = 0;
	is_int(new_grant("pub-1", &t1, gid, NULL), 0, "grant 3");
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &t2, &why), OAUTH_OK, "rotate");
	is_int(oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "grace 0: any reuse revokes");
	app.cfg.refresh_grace = 30;

	is_int(oauth_grant_refresh(&app, &cl, "mgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, 0,
				   &tx, &why),
	       OAUTH_E_GRANT, "unknown refresh token");
	is_int(oauth_grant_refresh(&app, &cl, "mgr_short", 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "malformed refresh token");
	is_int(oauth_grant_refresh(&app, &cl, t2.access, 0, 0, &tx, &why), OAUTH_E_GRANT,
	       "access token is not a refresh token");
}

static void
test_revoke_lookup(void)
{
	struct oauth_tokens t1, t2;
	struct oauth_token_info info;
	struct oauth_client cl = make_client("pub-1");
	char gid[TOKEN_GRANT_ID_LEN + 1];

	is_int(new_grant("pub-1", &t1, gid, NULL), 0, "grant");
	is_int(oauth_token_lookup(&app, t1.access, &info), STORE_OK, "lookup access");
	ok(info.active && !info.refresh && strcmp(info.grant_id, gid) == 0 &&
		   strcmp(info.client_id, "pub-1") == 0 && info.scope == SCOPE_ALL,
	   "access token active");
	is_int(oauth_token_lookup(&app, t1.refresh, &info), STORE_OK, "lookup refresh");
	ok(info.active && info.refresh && strcmp(info.grant_id, gid) == 0 &&
		   strcmp(info.user, "local:alice") == 0,
	   "refresh token active");
	oauth_grant_refresh(&app, &cl, t1.refresh, 0, 0, &t2, NULL);
	oauth_token_lookup(&app, t1.refresh, &info);
	ok(!info.active && strcmp(info.grant_id, gid) == 0, "rotated token inactive, grant known");
	oauth_token_lookup(&app, "mga_garbage", &info);
	ok(!info.active && info.grant_id[0] == '\0', "garbage access token");
	oauth_token_lookup(&app, "hello", &info);
	ok(!info.active && info.grant_id[0] == '\0', "not a token");
	oauth_token_lookup(&app, "mgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &info);
	ok(!info.active && info.grant_id[0] == '\0', "unknown refresh token");

	is_int(oauth_grant_revoke(&app, gid), STORE_OK, "revoke");
	is_int(oauth_grant_revoke(&app, gid), STORE_NOTFOUND, "revoke twice");
	is_int(oauth_grant_revoke(&app, "../../etc"), STORE_NOTFOUND, "revoke a bad id");
	oauth_token_lookup(&app, t2.access, &info);
	ok(!info.active && strcmp(info.grant_id, gid) == 0, "access token inactive after revocation");
	oauth_token_lookup(&app, t2.refresh, &info);
	ok(!info.active, "refresh token inactive after revocation");
	is_int(oauth_grant_refresh(&app, &cl, t2.refresh, 0, 0, &t1, NULL), OAUTH_E_GRANT,
	       "revoked refresh token refused");
}

static void
test_consent(void)
{
	struct oauth_consent c, c2, list[8];
	struct store_val v = {0};
	char longuri[OAUTH_URI_MAX], longid[OAUTH_ID_MAX], user[300];
	size_t n, total, removed;

	is_int(oauth_consent_record(&app, "local:alice", "pub-1", "https://a.example/cb", 1, &c),
	       STORE_OK, "consent recorded");
	is_int((int)strlen(c.id), OAUTH_CONSENT_ID_LEN, "with a record id");
	is_int(oauth_consent_get(&app, "local:alice", "pub-1", "https://a.example/cb", &c2), STORE_OK,
	       "readable by user + client + redirect");
	ok(strcmp(c2.id, c.id) == 0 && c2.scope == 1 && c2.exp > time(NULL), "id, scope, expiry");
	is_str(c2.client_id, "pub-1", "client stored");
	is_int(oauth_consent_record(&app, "local:alice", "pub-1", "https://a.example/cb", 2, &c2),
	       STORE_OK, "approved again");
	is_str(c2.id, c.id, "renewal keeps the id (other browsers' cookies stay good)");
	is_int(c2.scope, 3, "and adds the scope");
	is_int(oauth_consent_covers(&app, "local:alice", "pub-1", "https://a.example/cb", c.id, 3),
	       STORE_OK, "covers: right id and scope");
	is_int(oauth_consent_covers(&app, "local:alice", "pub-1", "https://a.example/cb", c.id, 4),
	       STORE_NOTFOUND, "covers: wider scope");
	is_int(oauth_consent_covers(&app, "local:alice", "pub-1", "https://a.example/cb", "other", 1),
	       STORE_NOTFOUND, "covers: another record's id");
	is_int(oauth_consent_covers(&app, "local:bob", "pub-1", "https://a.example/cb", c.id, 1),
	       STORE_NOTFOUND, "covers: another user (finding 2: no inherited approval)");
	is_int(oauth_consent_covers(&app, "local:alice", "pub-1", "https://a.example/cb", "", 1),
	       STORE_NOTFOUND, "covers: no id");

	/* Finding 1: loopback ports share a record; the key is fixed-length. */
	is_int(oauth_consent_record(&app, "local:alice", "pub-1", "http://127.0.0.1:5000/cb", 1, &c),
	       STORE_OK, "loopback consent");
	is_int(oauth_consent_record(&app, "local:alice", "pub-1", "http://127.0.0.1:6000/cb", 1, &c2),
	       STORE_OK, "same app, next run, new port");
	is_str(c2.id, c.id, "one record for every loopback port");
	is_str(c2.redirect_key, "http://127.0.0.1/cb", "stored without the port");
	memcpy(longuri, "https://a.example/", 18);
	memset(longuri + 18, 'x', sizeof(longuri) - 19);
	longuri[sizeof(longuri) - 1] = '\0';
	memset(longid, 'c', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	memset(user, 'u', TOKEN_FIELD_MAX);
	user[TOKEN_FIELD_MAX] = '\0';
	is_int(oauth_consent_record(&app, user, longid, longuri, 1, &c), STORE_OK,
	       "1023-byte redirect URI, 255-byte client id and user: recorded");
	is_int(oauth_consent_get(&app, user, longid, longuri, &c2), STORE_OK, "and found again");
	ok(store_get(app.store, STORE_CONSENT, "local:alice\0pub-1\0https://a.example/cb", 38, &v) ==
		   STORE_NOTFOUND,
	   "no redirect URI in the key");
	store_val_free(&v);

	is_int(oauth_consent_record(&app, "", "pub-1", "https://a.example/cb", 1, NULL), STORE_ERROR,
	       "no user, no consent");
	user[TOKEN_FIELD_MAX] = 'u';
	user[TOKEN_FIELD_MAX + 1] = '\0';
	is_int(oauth_consent_record(&app, user, "pub-1", "https://a.example/cb", 1, NULL),
	       STORE_ERROR, "user too long");

	/* Finding 2b: list and revoke. */
	oauth_consent_record(&app, "local:alice", "pub-2", "https://b.example/cb", 1, NULL);
	oauth_consent_record(&app, "local:alicia", "pub-1", "https://a.example/cb", 1, NULL);
	oauth_consent_record(&app, "local:bob", "pub-1", "https://a.example/cb", 1, NULL);
	is_int(oauth_consent_list(&app, "local:alice", list, 8, &n, &total), STORE_OK, "list");
	is_int((int)n, 3, "alice has three (not alicia's: the prefix ends in NUL)");
	is_int(oauth_consent_list(&app, "local:alice", list, 1, &n, &total), STORE_OK, "list capped");
	ok(n == 1 && total == 3, "one shown, three counted");
	is_int(oauth_consent_revoke(&app, "local:alice", "pub-1", &removed), STORE_OK,
	       "revoke one client");
	is_int((int)removed, 2, "both of its redirect URIs");
	is_int(oauth_consent_get(&app, "local:alice", "pub-1", "https://a.example/cb", &c2),
	       STORE_NOTFOUND, "gone");
	is_int(oauth_consent_get(&app, "local:alice", "pub-2", "https://b.example/cb", &c2), STORE_OK,
	       "the other client stays");
	is_int(oauth_consent_record(&app, "local:alice", "pub-1", "https://a.example/cb", 1, &c2),
	       STORE_OK, "approved again after revocation");
	ok(strcmp(c2.id, c.id) != 0, "with a new id: old cookies stay revoked");
	is_int(oauth_consent_revoke(&app, "local:alice", NULL, &removed), STORE_OK, "revoke all");
	is_int((int)removed, 2, "every client");
	oauth_consent_list(&app, "local:alice", list, 8, &n, &total);
	is_int((int)n, 0, "nothing left");
	is_int(oauth_consent_get(&app, "local:bob", "pub-1", "https://a.example/cb", &c2), STORE_OK,
	       "bob's record untouched");
	is_int(oauth_consent_get(&app, "local:alicia", "pub-1", "https://a.example/cb", &c2),
	       STORE_OK, "alicia's record untouched");
	is_int(oauth_consent_revoke(&app, "", NULL, &removed), STORE_NOTFOUND, "revoke: no user");
	/* More than one scan batch. */
	for (int i = 0; i < 300; i++) {
		char cid[32];
		snprintf(cid, sizeof(cid), "many-%d", i);
		oauth_consent_record(&app, "local:many", cid, "https://m.example/cb", 1, NULL);
	}
	is_int(oauth_consent_revoke(&app, "local:many", NULL, &removed), STORE_OK, "revoke 300");
	is_int((int)removed, 300, "all 300 removed");
	{
		long ttl = app.cfg.consent_ttl;
		app.cfg.consent_ttl = 0;
		is_int(oauth_consent_record(&app, "local:zed", "pub-1", "https://a.example/cb", 1, &c2),
		       STORE_OK, "consent_ttl 0: nothing to do");
		is_str(c2.id, "", "and no id");
		app.cfg.consent_ttl = ttl;
	}
}

static void
test_lists(void)
{
	static const struct {
		const char *list, *word;
		int icase, want;
	} t[] = {
		{"consent login", "login", 0, 1},   {"consent", "consent", 0, 1},
		{" a,b\tc ", "c", 0, 1},            {"consents", "consent", 0, 0},
		{"consent", "consents", 0, 0},      {"Login", "login", 0, 0},
		{"Login", "login", 1, 1},           {"", "x", 0, 0},
		{NULL, "x", 0, 0},                  {"a b", "", 0, 0},
		{",,,", "x", 0, 0},                 {"x", "x", 0, 1},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(oauth_list_has(t[i].list, t[i].word, t[i].icase), t[i].want, "list_has %zu", i);
}

static void
test_ratelimit(void)
{
	static const struct {
		const char *in, *want;
	} keys[] = {
		{"192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"", "other"},
		{"garbage", "other"},
	};
	char out[80];
	unsigned long n = 0;
	long retry = 0;
	time_t now = time(NULL);
	int rc = RATELIMIT_OK, i;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		ratelimit_client_key(keys[k].in, out, sizeof(out));
		is_str(out, keys[k].want, "client key for '%s'", keys[k].in);
	}
	app.cfg.rate_limit_window = 60;
	app.cfg.rate_limit_token = 5;
	for (i = 0; i < 5 && rc == RATELIMIT_OK; i++)
		rc = ratelimit_hit(&app, RATELIMIT_TOKEN, "192.0.2.1", now, &n, &retry);
	is_int(rc, RATELIMIT_OK, "five requests pass");
	is_int(n, 5, "counted");
	is_int(ratelimit_hit(&app, RATELIMIT_TOKEN, "192.0.2.1", now, &n, &retry), RATELIMIT_LIMITED,
	       "sixth is limited");
	ok(retry >= 1 && retry <= 60, "retry_after %ld within the window", retry);
	is_int(ratelimit_hit(&app, RATELIMIT_TOKEN, "192.0.2.2", now, &n, &retry), RATELIMIT_OK,
	       "another address has its own count");
	is_int(ratelimit_hit(&app, RATELIMIT_REGISTER, "192.0.2.1", now, &n, &retry), RATELIMIT_OK,
	       "another kind has its own count");
	is_int(ratelimit_hit(&app, RATELIMIT_TOKEN, "192.0.2.1", now - now % 60 + 60, &n, &retry),
	       RATELIMIT_OK, "the next window starts over");
	app.cfg.rate_limit_token = 0;
	for (i = 0; i < 20; i++)
		rc = ratelimit_hit(&app, RATELIMIT_TOKEN, "192.0.2.1", now, &n, &retry);
	is_int(rc, RATELIMIT_OK, "limit 0 is off");
	is_int(ratelimit_hit(&app, RATELIMIT__MAX, "192.0.2.1", now, &n, &retry), RATELIMIT_ERROR,
	       "bad kind");
	app.cfg.rate_limit_token = 300;
}

/* ---- Client ID Metadata Documents (over a loopback HTTP server) ---------- */

struct doc_server {
	int fd;
	unsigned short port;
	int hits;
	volatile int stop;
};

static void
doc_answer(struct doc_server *s, int c, const char *path)
{
	char body[8192], resp[9000], id[320];
	const char *ctype = "application/json", *status = "200 OK";
	int n;

	snprintf(id, sizeof(id), "http://127.0.0.1:%u%s", s->port, path);
	if (strcmp(path, "/mismatch.json") == 0)
		snprintf(id, sizeof(id), "http://127.0.0.1:%u/other.json", s->port);
	snprintf(body, sizeof(body),
		 "{\"client_id\":\"%s\",\"client_name\":\"Doc Client\",\"redirect_uris\":"
		 "[\"http://127.0.0.1/cb\"]%s}",
		 id, strcmp(path, "/secret.json") == 0 ? ",\"token_endpoint_auth_method\":\"client_secret_basic\"" : "");
	if (strcmp(path, "/missing.json") == 0)
		status = "404 Not Found";
	if (strcmp(path, "/text.json") == 0)
		ctype = "text/plain";
	if (strcmp(path, "/big.json") == 0) {
		memset(body, ' ', 6000);
		body[0] = '{';
		snprintf(body + 6000, sizeof(body) - 6000, "}");
	}
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\nCache-Control: max-age=120\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     status, ctype, strlen(body), body);
	if (write(c, resp, (size_t)n) < 0)
		diag("doc server: write failed");
}

static void *
doc_serve(void *arg)
{
	struct doc_server *s = arg;

	while (!s->stop) {
		char req[2048], path[256] = "/";
		ssize_t n;
		int c = accept(s->fd, NULL, NULL);

		if (c < 0)
			break;
		n = read(c, req, sizeof(req) - 1);
		if (n > 0) {
			req[n] = '\0';
			if (sscanf(req, "GET %255s ", path) == 1) {
				s->hits++;
				doc_answer(s, c, path);
			}
		}
		close(c);
	}
	return NULL;
}

static void
test_cimd(void)
{
	struct doc_server s = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct oauth_client got;
	pthread_t th;
	char url[512];
	int hits;
	static const char *const bad[] = {"/mismatch.json", "/missing.json", "/text.json",
					  "/big.json", "/secret.json"};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s.fd < 0 || bind(s.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s.fd, 16) != 0 ||
	    getsockname(s.fd, (struct sockaddr *)&sa, &sl) != 0) {
		ok(0, "doc server starts");
		return;
	}
	s.port = ntohs(sa.sin_port);
	pthread_create(&th, NULL, doc_serve, &s);

	app.cfg.insecure_loopback = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/good.json", s.port);
	is_int(oauth_client_get(&app, url, &got), STORE_NOTFOUND,
	       "plain http document refused without insecure_loopback");
	is_int(s.hits, 0, "and not fetched");
	app.cfg.insecure_loopback = 1;
	is_int(oauth_client_get(&app, url, &got), STORE_OK, "metadata document fetched");
	ok(got.source == OAUTH_CLIENT_CIMD && strcmp(got.client_id, url) == 0 &&
		   strcmp(got.client_name, "Doc Client") == 0 && got.auth_method == OAUTH_AUTH_NONE &&
		   oauth_redirect_allowed(&got, "http://127.0.0.1:5555/cb"),
	   "document client fields");
	hits = s.hits;
	is_int(oauth_client_get(&app, url, &got), STORE_OK, "second lookup");
	is_int(s.hits, hits, "served from the cache");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", s.port, bad[i]);
		is_int(oauth_client_get(&app, url, &got), STORE_NOTFOUND, "refused: %s", bad[i]);
		hits = s.hits;
		oauth_client_get(&app, url, &got);
		is_int(s.hits, hits, "failure cached: %s", bad[i]);
	}
	hits = s.hits;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/a/../good.json", s.port);
	is_int(oauth_client_get(&app, url, &got), STORE_NOTFOUND, "dot segment refused");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	is_int(oauth_client_get(&app, url, &got), STORE_NOTFOUND, "URL without a path refused");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/good.json#x", s.port);
	is_int(oauth_client_get(&app, url, &got), STORE_NOTFOUND, "fragment refused");
	snprintf(app.cfg.client_metadata_hosts, sizeof(app.cfg.client_metadata_hosts),
		 ".example.org trusted.example");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/other-good.json", s.port);
	is_int(oauth_client_get(&app, url, &got), STORE_NOTFOUND, "host not on the allowlist");
	is_int(s.hits, hits, "refused URLs were never fetched");
	app.cfg.client_metadata_hosts[0] = '\0';
	is_int(oauth_client_get(&app, "https://10.0.0.1/client.json", &got), STORE_NOTFOUND,
	       "private address refused (SSRF)");
	is_int(oauth_client_get(&app, "https://169.254.169.254/latest/meta-data", &got),
	       STORE_NOTFOUND, "link-local address refused (SSRF)");
	app.cfg.insecure_loopback = 0;
	s.stop = 1;
	shutdown(s.fd, SHUT_RDWR);
	close(s.fd);
	pthread_join(th, NULL);
}

int
main(void)
{
	setup();
	test_redirect_uri_valid();
	test_redirect_allowed();
	test_client_parse();
	test_clients();
	test_client_auth();
	test_codes();
	test_code_race_processes();
	test_code_race_threads();
	test_grant_from_code();
	test_code_exchange();
	test_code_exchange_race();
	test_tx_forms();
	test_rotation();
	test_revoke_lookup();
	test_consent();
	test_lists();
	test_ratelimit();
	test_cimd();
	teardown();
	return tap_done();
}
