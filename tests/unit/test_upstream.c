/*
 * test_upstream: OIDC login without a network.  A fake provider answers
 * through the upstream test seam (discovery, JWKS, token endpoint) and signs
 * ID tokens with keys generated here; the store is a temporary GDBM file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "jose.h"
#include "store.h"
#include "tap.h"
#include "upstream.h"

#define ISS "https://idp.test"
#define CLIENT "mcp client"
#define SECRET "s3cr&t="
#define ACCESS "UPSTREAM-ACCESS-TOKEN-d41d8cd98f00b204"
#define REFRESH "UPSTREAM-REFRESH-TOKEN-9e107d9d372bb682"

/* ---- signing helpers ---- */

static void
b64url(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	crypto_b64url_encode(in, n, out, outsz);
}

/* Use snprintf's result: a truncated JWK would make a confusing test failure. */
static void
checked(int n, char *out, size_t outsz)
{
	if (n < 0 || (size_t)n >= outsz)
		out[0] = '\0';
}

static void
b64url_bn(const BIGNUM *bn, size_t pad, char *out, size_t outsz)
{
	unsigned char b[512];
	int n = pad ? BN_bn2binpad(bn, b, (int)pad) : BN_bn2bin(bn, b);

	b64url(b, (size_t)n, out, outsz);
}

static void
jwk_of(EVP_PKEY *k, const char *kid, char *out, size_t outsz)
{
	char a[700], b[700];
	BIGNUM *x = NULL, *y = NULL;

	if (EVP_PKEY_is_a(k, "RSA")) {
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &x);
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &y);
		b64url_bn(x, 0, a, sizeof(a));
		b64url_bn(y, 0, b, sizeof(b));
		checked(snprintf(out, outsz, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}",
			 kid, a, b),
			out, outsz);
	} else {
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
		EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
		b64url_bn(x, 32, a, sizeof(a));
		b64url_bn(y, 32, b, sizeof(b));
		checked(snprintf(out, outsz,
				 "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
				 kid, a, b),
			out, outsz);
	}
	BN_free(x);
	BN_free(y);
}

static void
sign_jws(EVP_PKEY *k, const char *header, const char *payload, char *out, size_t outsz)
{
	char h[1024], p[4096], sb[1024];
	unsigned char sig[512], raw[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int n;

	b64url((const unsigned char *)header, strlen(header), h, sizeof(h));
	b64url((const unsigned char *)payload, strlen(payload), p, sizeof(p));
	n = snprintf(out, outsz, "%s.%s", h, p);
	EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL);
	EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out, (size_t)n);
	EVP_MD_CTX_free(md);
	if (EVP_PKEY_is_a(k, "EC")) {
		const unsigned char *q = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
		BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
		ECDSA_SIG_free(es);
		b64url(raw, 64, sb, sizeof(sb));
	} else {
		b64url(sig, siglen, sb, sizeof(sb));
	}
	snprintf(out + n, outsz - (size_t)n, ".%s", sb);
}

/* ---- the fake provider ---- */

enum idp_mode {
	IDP_GOOD,
	IDP_ES256,
	IDP_BAD_SIG,
	IDP_WRONG_AUD,
	IDP_WRONG_NONCE,
	IDP_WRONG_ISS,
	IDP_EXPIRED,
	IDP_ALG_NONE,
	IDP_HS256,
	IDP_NEW_KEY,   /* sign with the "rotated" key */
	IDP_ROGUE_KEY, /* sign with a key never published */
	IDP_TOKEN_400, /* invalid_grant */
	IDP_TOKEN_401, /* invalid_client */
	IDP_TOKEN_503,
	IDP_TOKEN_DOWN,
	IDP_TOKEN_NOJSON,
	IDP_TOKEN_NOIDT,
};

struct idp {
	enum idp_mode mode;
	time_t now;
	int publish_new; /* JWKS includes the rotated key */
	int disco_status;
	int disco_fetch_rc;
	const char *disco_override;
	const char *auth_methods; /* JSON array text or NULL */
	int iss_param;
	const char *auth_endpoint;
	int n_disco, n_jwks, n_token;
	char nonce[64];
	char last_form[4096];
	char last_user[256], last_pass[256];
	struct fetch_opts last_opts;
	EVP_PKEY *rsa, *ec, *rsa_new, *rogue;
};

static struct idp idp;

static time_t
idp_now(void *arg)
{
	(void)arg;
	return idp.now;
}

static int
idp_reply(struct fetch_result *res, long status, const char *body, long max_age)
{
	memset(res, 0, sizeof(*res));
	res->status = status;
	res->max_age = max_age;
	res->len = strlen(body);
	res->body = malloc(res->len + 1);
	memcpy(res->body, body, res->len + 1);
	return FETCH_OK;
}

static int
idp_discovery(struct fetch_result *res)
{
	char doc[2048];

	idp.n_disco++;
	if (idp.disco_fetch_rc != FETCH_OK)
		return idp.disco_fetch_rc;
	if (idp.disco_override != NULL)
		return idp_reply(res, idp.disco_status, idp.disco_override, -1);
	snprintf(doc, sizeof(doc),
		 "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s\","
		 "\"token_endpoint\":\"%s/token\",\"jwks_uri\":\"%s/jwks\","
		 "\"response_types_supported\":[\"code\"]%s%s%s"
		 "\"authorization_response_iss_parameter_supported\":%s}",
		 ISS, idp.auth_endpoint, ISS, ISS, idp.auth_methods ? ",\"token_endpoint_auth_methods_supported\":" : "",
		 idp.auth_methods ? idp.auth_methods : "", ",", idp.iss_param ? "true" : "false");
	return idp_reply(res, idp.disco_status, doc, 600);
}

static int
idp_jwks(struct fetch_result *res)
{
	char a[1200], b[400], c[1200], doc[4096];

	idp.n_jwks++;
	jwk_of(idp.rsa, "rsa1", a, sizeof(a));
	jwk_of(idp.ec, "ec1", b, sizeof(b));
	jwk_of(idp.rsa_new, "rsa2", c, sizeof(c));
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s%s%s]}", a, b, idp.publish_new ? "," : "",
		 idp.publish_new ? c : "");
	return idp_reply(res, 200, doc, 3600);
}

static void
idp_id_token(char *out, size_t outsz)
{
	char payload[1024], hdr[128];
	EVP_PKEY *k = idp.rsa;
	const char *kid = "rsa1", *alg = "RS256";
	long now = (long)idp.now;

	snprintf(payload, sizeof(payload),
		 "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":[\"%s\",\"other\"],\"azp\":\"%s\","
		 "\"exp\":%ld,\"iat\":%ld,\"nonce\":\"%s\",\"name\":\"Alice \\u0007Example\","
		 "\"email\":\"alice@example.com\"}",
		 idp.mode == IDP_WRONG_ISS ? "https://evil.test" : ISS,
		 idp.mode == IDP_WRONG_AUD ? "someone-else" : CLIENT,
		 idp.mode == IDP_WRONG_AUD ? "someone-else" : CLIENT,
		 idp.mode == IDP_EXPIRED ? now - 3600 : now + 300,
		 idp.mode == IDP_EXPIRED ? now - 4000 : now,
		 idp.mode == IDP_WRONG_NONCE ? "not-the-nonce" : idp.nonce);
	if (idp.mode == IDP_ES256) {
		k = idp.ec;
		kid = "ec1";
		alg = "ES256";
	} else if (idp.mode == IDP_NEW_KEY) {
		k = idp.rsa_new;
		kid = "rsa2";
	} else if (idp.mode == IDP_ROGUE_KEY) {
		k = idp.rogue;
		kid = "rogue";
	}
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
	if (idp.mode == IDP_ALG_NONE || idp.mode == IDP_HS256) {
		char h[128], p[2048];
		const char *ah = idp.mode == IDP_ALG_NONE ? "{\"alg\":\"none\"}"
							  : "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}";
		b64url((const unsigned char *)ah, strlen(ah), h, sizeof(h));
		b64url((const unsigned char *)payload, strlen(payload), p, sizeof(p));
		snprintf(out, outsz, "%s.%s.%s", h, p, idp.mode == IDP_ALG_NONE ? "" : "AAAA");
		return;
	}
	sign_jws(k, hdr, payload, out, outsz);
	if (idp.mode == IDP_BAD_SIG) {
		size_t n = strlen(out);
		out[n - 5] = out[n - 5] == 'A' ? 'B' : 'A';
	}
}

static int
idp_token(const char *form, const struct fetch_opts *o, struct fetch_result *res)
{
	char idt[4096], body[8192];

	idp.n_token++;
	snprintf(idp.last_form, sizeof(idp.last_form), "%s", form);
	snprintf(idp.last_user, sizeof(idp.last_user), "%s", o->basic_user ? o->basic_user : "");
	snprintf(idp.last_pass, sizeof(idp.last_pass), "%s", o->basic_pass ? o->basic_pass : "");
	switch (idp.mode) {
	case IDP_TOKEN_400:
		return idp_reply(res, 400, "{\"error\":\"invalid_grant\"}", -1);
	case IDP_TOKEN_401:
		return idp_reply(res, 401, "{\"error\":\"invalid_client\"}", -1);
	case IDP_TOKEN_503:
		return idp_reply(res, 503, "busy", -1);
	case IDP_TOKEN_DOWN:
		return FETCH_ETIMEOUT;
	case IDP_TOKEN_NOJSON:
		return idp_reply(res, 200, "access_token=" ACCESS, -1);
	case IDP_TOKEN_NOIDT:
		return idp_reply(res, 200, "{\"access_token\":\"" ACCESS "\"}", -1);
	default:
		break;
	}
	idp_id_token(idt, sizeof(idt));
	snprintf(body, sizeof(body),
		 "{\"access_token\":\"" ACCESS "\",\"refresh_token\":\"" REFRESH "\","
		 "\"token_type\":\"Bearer\",\"expires_in\":300,\"id_token\":\"%s\"}",
		 idt);
	return idp_reply(res, 200, body, -1);
}

static int
idp_fetch(void *arg, const char *url, const char *form, size_t formlen,
	  const struct fetch_opts *o, struct fetch_result *res)
{
	(void)arg;
	(void)formlen;
	memset(res, 0, sizeof(*res));
	idp.last_opts = *o;
	if (form == NULL && strcmp(url, ISS "/.well-known/openid-configuration") == 0)
		return idp_discovery(res);
	if (form == NULL && strcmp(url, ISS "/jwks") == 0)
		return idp_jwks(res);
	if (form != NULL && strcmp(url, ISS "/token") == 0)
		return idp_token(form, o, res);
	return idp_reply(res, 404, "", -1);
}

/* ---- test fixture ---- */

static char dir[64];
static int store_n;

static void
app_setup(struct app *app)
{
	char path[128], err[256];

	memset(app, 0, sizeof(*app));
	config_defaults(&app->cfg);
	snprintf(app->cfg.public_url, sizeof(app->cfg.public_url), "https://mcp.example/gw");
	snprintf(app->cfg.upstream_issuer, sizeof(app->cfg.upstream_issuer), ISS);
	snprintf(app->cfg.upstream_client_id, sizeof(app->cfg.upstream_client_id), CLIENT);
	snprintf(app->cfg.upstream_client_secret, sizeof(app->cfg.upstream_client_secret), SECRET);
	snprintf(app->cfg.upstream_scopes, sizeof(app->cfg.upstream_scopes), "profile email");
	app->cfg.identity = CONFIG_IDENTITY_OIDC;
	app->keys.nkeys = 1;
	snprintf(app->keys.keys[0].kid, sizeof(app->keys.keys[0].kid), "t1");
	crypto_random(app->keys.keys[0].key, CRYPTO_KEY_LEN);
	snprintf(path, sizeof(path), "%s/store%d.db", dir, store_n++);
	app->store = store_open(path, 2000, err, sizeof(err));
	if (app->store == NULL)
		printf("# store_open: %s\n", err);
}

static void
app_teardown(struct app *app)
{
	store_close(app->store);
	crypto_keyring_wipe(&app->keys);
}

static void
idp_reset(void)
{
	EVP_PKEY *rsa = idp.rsa, *ec = idp.ec, *rsa_new = idp.rsa_new, *rogue = idp.rogue;

	memset(&idp, 0, sizeof(idp));
	idp.rsa = rsa;
	idp.ec = ec;
	idp.rsa_new = rsa_new;
	idp.rogue = rogue;
	idp.now = time(NULL);
	idp.disco_status = 200;
	idp.auth_endpoint = ISS "/authorize";
	idp.iss_param = 1;
}

/* Value of query parameter name in url into out ("" if absent). */
static void
query_param(const char *url, const char *name, char *out, size_t outsz)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "%s=", name);
	out[0] = '\0';
	for (p = strchr(url, '?'); p != NULL; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, pat, strlen(pat)) == 0) {
			p += 1 + strlen(pat);
			n = strcspn(p, "&");
			snprintf(out, outsz, "%.*s", (int)n, p);
			return;
		}
	}
}

/* Open a user's sealed provider tokens as upstream.h documents the record:
 * STORE_OK, STORE_NOTFOUND, or STORE_ERROR when it does not open. */
static int
tokens_open(struct app *app, const char *user, struct json_object **out)
{
	char aad[300];
	struct store_val v;
	char *pt = NULL;
	int n, st, aadlen = snprintf(aad, sizeof(aad), "mcpgate-upstream-v1%c%s", '\0', user);

	*out = NULL;
	memset(&v, 0, sizeof(v));
	if (aadlen < 0 || (size_t)aadlen >= sizeof(aad))
		return STORE_ERROR;
	if ((st = store_get(app->store, STORE_UPSTREAM, user, strlen(user), &v)) != STORE_OK)
		return st;
	st = STORE_ERROR;
	pt = malloc(v.len + 1);
	n = pt == NULL ? -1
		       : crypto_open(&app->keys, "upstream-token", aad, (size_t)aadlen, v.data,
				     v.len, pt, v.len);
	if (n > 0 && jose_json_parse(pt, (size_t)n, out) == JOSE_OK)
		st = STORE_OK;
	free(pt);
	store_val_free(&v);
	return st;
}

/* begin, then finish with the login's secrets; returns finish's status. */
static int
login(struct app *app, enum idp_mode mode, struct upstream_identity *who)
{
	struct upstream_login l;
	int rc = upstream_begin(app, &l);

	if (rc != UPSTREAM_OK)
		return 100 + rc;
	snprintf(idp.nonce, sizeof(idp.nonce), "%s", l.nonce);
	idp.mode = mode;
	rc = upstream_finish(app, "the-code", l.verifier, l.nonce, who);
	idp.mode = IDP_GOOD;
	return rc;
}

static void
test_begin(void)
{
	struct app app;
	struct upstream_login a, b;
	char v[512], want[64];
	unsigned char h[32];

	idp_reset();
	app_setup(&app);
	is_int(upstream_begin(&app, &a), UPSTREAM_OK, "begin");
	ok(strncmp(a.url, ISS "/authorize?response_type=code&client_id=mcp%20client&", 56) == 0,
	   "URL starts with endpoint, code flow, client id: %.80s", a.url);
	query_param(a.url, "redirect_uri", v, sizeof(v));
	is_str(v, "https%3A%2F%2Fmcp.example%2Fgw%2Foauth%2Fcallback", "redirect_uri");
	query_param(a.url, "scope", v, sizeof(v));
	is_str(v, "openid%20profile%20email", "openid added to scopes");
	query_param(a.url, "state", v, sizeof(v));
	is_str(v, a.state, "state in URL");
	query_param(a.url, "nonce", v, sizeof(v));
	is_str(v, a.nonce, "nonce in URL");
	query_param(a.url, "code_challenge_method", v, sizeof(v));
	is_str(v, "S256", "S256");
	crypto_sha256(a.verifier, strlen(a.verifier), h);
	crypto_b64url_encode(h, 32, want, sizeof(want));
	query_param(a.url, "code_challenge", v, sizeof(v));
	is_str(v, want, "code_challenge = S256(verifier)");
	ok(strstr(a.url, a.verifier) == NULL, "verifier not in URL");
	is_int(strlen(a.state), 43, "state 256 bits");
	is_int(strlen(a.nonce), 43, "nonce 256 bits");
	is_int(strlen(a.verifier), 86, "verifier 512 bits");
	ok(idp.last_opts.insecure_loopback == 0 && idp.last_opts.allow == 0 &&
	       idp.last_opts.timeout_ms == FETCH_TIMEOUT_MAX_MS,
	   "fetch policy: https only, public addresses, 5 s");
	is_int(upstream_begin(&app, &b), UPSTREAM_OK, "begin again");
	ok(strcmp(a.state, b.state) != 0 && strcmp(a.nonce, b.nonce) != 0 &&
	       strcmp(a.verifier, b.verifier) != 0,
	   "fresh secrets each time");
	is_int(idp.n_disco, 1, "discovery cached between logins");
	app_teardown(&app);

	idp_reset();
	idp.auth_endpoint = ISS "/authorize?tenant=x";
	app_setup(&app);
	snprintf(app.cfg.upstream_scopes, sizeof(app.cfg.upstream_scopes), "openid groups");
	is_int(upstream_begin(&app, &a), UPSTREAM_OK, "begin with query in endpoint");
	ok(strncmp(a.url, ISS "/authorize?tenant=x&response_type=code", 38) == 0,
	   "existing query kept, '&' used");
	query_param(a.url, "scope", v, sizeof(v));
	is_str(v, "openid%20groups", "scopes with openid kept as they are");
	app_teardown(&app);
}

static void
test_discovery_errors(void)
{
	static const struct {
		const char *name;
		int status, fetch_rc;
		const char *doc;
		int want;
	} t[] = {
	    {"issuer mismatch", 200, FETCH_OK,
	     "{\"issuer\":\"https://idp.test/\",\"authorization_endpoint\":\"https://idp.test/a\","
	     "\"token_endpoint\":\"https://idp.test/t\",\"jwks_uri\":\"https://idp.test/j\"}",
	     UPSTREAM_INVALID},
	    {"http endpoint", 200, FETCH_OK,
	     "{\"issuer\":\"https://idp.test\",\"authorization_endpoint\":\"http://idp.test/a\","
	     "\"token_endpoint\":\"https://idp.test/t\",\"jwks_uri\":\"https://idp.test/j\"}",
	     UPSTREAM_INVALID},
	    {"no jwks_uri", 200, FETCH_OK,
	     "{\"issuer\":\"https://idp.test\",\"authorization_endpoint\":\"https://idp.test/a\","
	     "\"token_endpoint\":\"https://idp.test/t\"}",
	     UPSTREAM_INVALID},
	    {"fragment in endpoint", 200, FETCH_OK,
	     "{\"issuer\":\"https://idp.test\",\"authorization_endpoint\":\"https://idp.test/a#x\","
	     "\"token_endpoint\":\"https://idp.test/t\",\"jwks_uri\":\"https://idp.test/j\"}",
	     UPSTREAM_INVALID},
	    {"not JSON", 200, FETCH_OK, "<html>", UPSTREAM_INVALID},
	    {"404", 404, FETCH_OK, "{}", UPSTREAM_INVALID},
	    {"503", 503, FETCH_OK, "{}", UPSTREAM_UNAVAILABLE},
	    {"connection refused", 200, FETCH_ECONNECT, NULL, UPSTREAM_UNAVAILABLE},
	    {"timeout", 200, FETCH_ETIMEOUT, NULL, UPSTREAM_UNAVAILABLE},
	    {"too large", 200, FETCH_ETOOBIG, NULL, UPSTREAM_INVALID},
	    {"blocked address", 200, FETCH_EBLOCKED, NULL, UPSTREAM_INVALID},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct app app;
		struct upstream_login l;
		idp_reset();
		idp.disco_status = t[i].status;
		idp.disco_fetch_rc = t[i].fetch_rc;
		idp.disco_override = t[i].doc;
		app_setup(&app);
		is_int(upstream_begin(&app, &l), t[i].want, "discovery: %s", t[i].name);
		is_int(l.url[0], 0, "discovery: %s: no URL", t[i].name);
		upstream_begin(&app, &l);
		is_int(idp.n_disco, 2, "discovery: %s: failure not cached", t[i].name);
		app_teardown(&app);
	}
	{
		struct app app;
		struct upstream_login l;
		idp_reset();
		app_setup(&app);
		app.cfg.upstream_client_id[0] = '\0';
		is_int(upstream_begin(&app, &l), UPSTREAM_ERROR, "not configured: server error");
		app_teardown(&app);
	}
}

static void
test_finish_ok(void)
{
	struct app app;
	struct upstream_identity who;
	struct json_object *tok = NULL;
	struct store_val v;

	idp_reset();
	app_setup(&app);
	is_int(login(&app, IDP_GOOD, &who), UPSTREAM_OK, "RS256 login");
	is_str(who.user, "oidc:" ISS "#alice", "identity oidc:iss#sub");
	is_str(who.name, "Alice Example", "display name, control character dropped");
	is_str(who.email, "alice@example.com", "email kept");
	is_str(idp.last_user, "mcp%20client", "Basic user form-urlencoded (RFC 6749 2.3.1)");
	is_str(idp.last_pass, "s3cr%26t%3D", "Basic password form-urlencoded");
	ok(strstr(idp.last_form, "grant_type=authorization_code&code=the-code&") == idp.last_form,
	   "form: grant type and code");
	ok(strstr(idp.last_form, "&redirect_uri=https%3A%2F%2Fmcp.example%2Fgw%2Foauth%2Fcallback") !=
	       NULL,
	   "form: redirect_uri");
	ok(strstr(idp.last_form, "&code_verifier=") != NULL, "form: code_verifier");
	ok(strstr(idp.last_form, "client_secret") == NULL && strstr(idp.last_form, "client_id") == NULL,
	   "form: no client credentials with Basic");

	/* The provider's tokens are sealed in the store. */
	is_int(tokens_open(&app, who.user, &tok), STORE_OK, "tokens stored");
	is_str(tok ? json_object_get_string(json_object_object_get(tok, "access_token")) : NULL,
	       ACCESS, "access token opens");
	is_str(tok ? json_object_get_string(json_object_object_get(tok, "refresh_token")) : NULL,
	       REFRESH, "refresh token opens");
	json_object_put(tok);
	memset(&v, 0, sizeof(v));
	is_int(store_get(app.store, STORE_UPSTREAM, who.user, strlen(who.user), &v), STORE_OK,
	       "raw record");
	ok(v.data != NULL && memmem(v.data, v.len, ACCESS, strlen(ACCESS)) == NULL &&
	       memmem(v.data, v.len, REFRESH, strlen(REFRESH)) == NULL,
	   "record holds no token in clear");
	ok(v.expires > time(NULL) + 86400, "record kept for the refresh token's life");
	{
		/* The same sealed bytes under another user do not open (AAD binds the user). */
		const char *other = "oidc:" ISS "#mallory";
		store_put(app.store, STORE_UPSTREAM, other, strlen(other), v.data, v.len, 0, 0);
		is_int(tokens_open(&app, other, &tok), STORE_ERROR, "record bound to user");
		ok(tok == NULL, "nothing returned");
	}
	store_val_free(&v);
	is_int(tokens_open(&app, "oidc:nobody", &tok), STORE_NOTFOUND, "no tokens: not found");

	is_int(login(&app, IDP_ES256, &who), UPSTREAM_OK, "ES256 login");
	is_str(who.user, "oidc:" ISS "#alice", "ES256 identity");
	app_teardown(&app);

	/* client_secret_post when that is all the provider offers. */
	idp_reset();
	idp.auth_methods = "[\"private_key_jwt\",\"client_secret_post\"]";
	app_setup(&app);
	is_int(login(&app, IDP_GOOD, &who), UPSTREAM_OK, "login with client_secret_post");
	ok(strstr(idp.last_form, "&client_id=mcp%20client&client_secret=s3cr%26t%3D") != NULL,
	   "form carries id and secret");
	is_str(idp.last_user, "", "no Basic header with post");
	app_teardown(&app);

	/* Config overrides; public client. */
	idp_reset();
	app_setup(&app);
	snprintf(app.cfg.upstream_token_auth, sizeof(app.cfg.upstream_token_auth), "none");
	is_int(login(&app, IDP_GOOD, &who), UPSTREAM_OK, "login as a public client (none)");
	ok(strstr(idp.last_form, "&client_id=mcp%20client") != NULL &&
	       strstr(idp.last_form, "client_secret") == NULL && idp.last_user[0] == '\0',
	   "none: client_id only");
	snprintf(app.cfg.upstream_token_auth, sizeof(app.cfg.upstream_token_auth), "client_secret_post");
	is_int(login(&app, IDP_GOOD, &who), UPSTREAM_OK, "config forces client_secret_post");
	ok(strstr(idp.last_form, "client_secret=") != NULL, "post: secret in body");
	snprintf(app.cfg.upstream_token_auth, sizeof(app.cfg.upstream_token_auth), "private_key_jwt");
	is_int(login(&app, IDP_GOOD, &who), UPSTREAM_ERROR, "unknown upstream_token_auth: server error");
	snprintf(app.cfg.upstream_token_auth, sizeof(app.cfg.upstream_token_auth), "client_secret_basic");
	app.cfg.upstream_client_secret[0] = '\0';
	is_int(login(&app, IDP_GOOD, &who), UPSTREAM_ERROR, "basic without a secret: server error");
	app_teardown(&app);
}

static void
test_finish_errors(void)
{
	static const struct {
		enum idp_mode mode;
		const char *name;
		int want;
	} t[] = {
	    {IDP_BAD_SIG, "bad signature", UPSTREAM_INVALID},
	    {IDP_WRONG_AUD, "wrong aud", UPSTREAM_INVALID},
	    {IDP_WRONG_NONCE, "wrong nonce", UPSTREAM_INVALID},
	    {IDP_WRONG_ISS, "wrong iss", UPSTREAM_INVALID},
	    {IDP_EXPIRED, "expired", UPSTREAM_INVALID},
	    {IDP_ALG_NONE, "alg none", UPSTREAM_INVALID},
	    {IDP_HS256, "HS256", UPSTREAM_INVALID},
	    {IDP_TOKEN_400, "invalid_grant", UPSTREAM_DENIED},
	    {IDP_TOKEN_401, "invalid_client", UPSTREAM_INVALID},
	    {IDP_TOKEN_503, "token endpoint 503", UPSTREAM_UNAVAILABLE},
	    {IDP_TOKEN_DOWN, "token endpoint timeout", UPSTREAM_UNAVAILABLE},
	    {IDP_TOKEN_NOJSON, "token response not JSON", UPSTREAM_INVALID},
	    {IDP_TOKEN_NOIDT, "no id_token", UPSTREAM_INVALID},
	};
	struct app app;
	struct upstream_identity who;
	struct json_object *tok = NULL;

	idp_reset();
	app_setup(&app);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&who, 'x', sizeof(who));
		is_int(login(&app, t[i].mode, &who), t[i].want, "finish: %s", t[i].name);
		ok(who.user[0] == '\0' && who.name[0] == '\0', "finish: %s: no identity", t[i].name);
	}
	is_int(tokens_open(&app, "oidc:" ISS "#alice", &tok), STORE_NOTFOUND,
	       "no tokens stored by failed logins");
	{
		static const struct {
			const char *code, *verifier, *nonce;
			int want;
		} a[] = {
		    {"", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "n", UPSTREAM_INVALID},
		    {NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "n", UPSTREAM_INVALID},
		    {"a\nb", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "n", UPSTREAM_INVALID},
		    {"c", "short", "n", UPSTREAM_ERROR},
		    {"c", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+a", "n", UPSTREAM_ERROR},
		    {"c", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", UPSTREAM_ERROR},
		    {"c", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, UPSTREAM_ERROR},
		};
		int before = idp.n_token;
		for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
			is_int(upstream_finish(&app, a[i].code, a[i].verifier, a[i].nonce, &who),
			       a[i].want, "finish arguments %zu refused", i);
		is_int(idp.n_token, before, "refused arguments never reach the provider");
	}
	app_teardown(&app);
}

static void
test_key_rotation(void)
{
	struct app app;
	struct upstream_identity who;

	idp_reset();
	app_setup(&app);
	is_int(login(&app, IDP_NEW_KEY, &who), UPSTREAM_INVALID,
	       "unknown kid right after a JWKS fetch: refused");
	is_int(idp.n_jwks, 1, "no refetch within the minimum interval");
	idp.publish_new = 1;
	is_int(login(&app, IDP_NEW_KEY, &who), UPSTREAM_INVALID, "still within the interval");
	is_int(idp.n_jwks, 1, "still no refetch");
	idp.now += UPSTREAM_JWKS_REFETCH_MIN + 1;
	is_int(login(&app, IDP_NEW_KEY, &who), UPSTREAM_OK, "rotated key found after refetch");
	is_int(idp.n_jwks, 2, "one refetch");
	is_int(login(&app, IDP_GOOD, &who), UPSTREAM_OK, "old key still works from cache");
	is_int(login(&app, IDP_ROGUE_KEY, &who), UPSTREAM_INVALID, "rogue kid refused");
	is_int(idp.n_jwks, 2, "rogue kid cannot force a refetch within the interval");
	idp.now += UPSTREAM_JWKS_REFETCH_MIN + 1;
	is_int(login(&app, IDP_ROGUE_KEY, &who), UPSTREAM_INVALID, "rogue kid refused after refetch");
	is_int(idp.n_jwks, 3, "at most one refetch per interval");
	is_int(login(&app, IDP_ROGUE_KEY, &who), UPSTREAM_INVALID, "and again");
	is_int(idp.n_jwks, 3, "no second refetch");
	app_teardown(&app);
}

static struct json_object *
claims_of(const char *json)
{
	struct json_object *o = NULL;

	if (jose_json_parse(json, strlen(json), &o) != JOSE_OK)
		printf("# bad test JSON: %s\n", json);
	return o;
}

static void
test_claims(void)
{
	static const struct {
		const char *json;
		const char *why; /* NULL: accepted */
	} t[] = {
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", NULL},
	    {"{\"iss\":\"I\",\"aud\":[\"x\",\"C\"],\"azp\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", NULL},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100.5,\"iat\":999.9,\"nonce\":\"N\",\"sub\":\"s\"}", NULL},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":941,\"iat\":941,\"nonce\":\"N\",\"sub\":\"s\"}", NULL},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1059,\"nonce\":\"N\",\"sub\":\"s\"}", NULL},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nbf\":1059,\"nonce\":\"N\",\"sub\":\"s\"}", NULL},
	    {"{\"iss\":\"I/\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "iss"},
	    {"{\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "iss"},
	    {"{\"iss\":[\"I\"],\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "iss"},
	    {"{\"iss\":\"I\",\"aud\":\"c\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "aud"},
	    {"{\"iss\":\"I\",\"aud\":[\"x\"],\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "aud"},
	    {"{\"iss\":\"I\",\"aud\":[],\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "aud"},
	    {"{\"iss\":\"I\",\"aud\":[\"C\",1],\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "aud"},
	    {"{\"iss\":\"I\",\"aud\":1,\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "aud"},
	    {"{\"iss\":\"I\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "aud"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"azp\":\"x\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "azp"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"azp\":null,\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "azp"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"n\",\"sub\":\"s\"}", "nonce"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"NN\",\"sub\":\"s\"}", "nonce"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"sub\":\"s\"}", "nonce"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "exp missing"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":\"1100\",\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "exp missing"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":940,\"iat\":900,\"nonce\":\"N\",\"sub\":\"s\"}", "expired"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"nonce\":\"N\",\"sub\":\"s\"}", "iat missing"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1061,\"nonce\":\"N\",\"sub\":\"s\"}", "iat in the future"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":339,\"nonce\":\"N\",\"sub\":\"s\"}", "iat too old"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nbf\":1061,\"nonce\":\"N\",\"sub\":\"s\"}", "nbf"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nbf\":true,\"nonce\":\"N\",\"sub\":\"s\"}", "nbf"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\"}", "sub"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"\"}", "sub"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":42}", "sub"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"a\\nb\"}", "sub"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"a\\u0000b\"}", "sub"},
	    {"{\"iss\":\"I\\u0000x\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "iss"},
	    {"{\"iss\":\"I\",\"aud\":\"C\\u0000x\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"s\"}", "aud"},
	    {"{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\\u0000x\",\"sub\":\"s\"}", "nonce"},
	};
	struct upstream_identity who;
	const char *why;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *c = claims_of(t[i].json);
		int rc = upstream_id_token_check(c, "I", "C", "N", 1000, &who, &why);
		is_int(rc, t[i].why == NULL ? UPSTREAM_OK : UPSTREAM_INVALID, "claims %zu", i);
		is_str(why, t[i].why, "claims %zu: reason", i);
		json_object_put(c);
	}
	is_int(upstream_id_token_check(NULL, "I", "C", "N", 1000, &who, &why), UPSTREAM_INVALID,
	       "no claims");
	{
		char sub[300], json[700];
		memset(sub, 'x', 256);
		sub[256] = '\0';
		snprintf(json, sizeof(json),
			 "{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\",\"sub\":\"%s\"}",
			 sub);
		struct json_object *c = claims_of(json);
		is_int(upstream_id_token_check(c, "I", "C", "N", 1000, &who, &why), UPSTREAM_INVALID,
		       "sub over 255 refused");
		json_object_put(c);
	}
}

static void
test_display(void)
{
	static const struct {
		const char *json, *name, *email;
	} t[] = {
	    {"\"name\":\"Zoë Q\",\"preferred_username\":\"zq\",\"email\":\"z@x\"", "Zoë Q", "z@x"},
	    {"\"name\":\"\",\"preferred_username\":\"zq\"", "zq", ""},
	    {"\"email\":\"z@x\"", "z@x", "z@x"},
	    {"\"name\":7,\"email\":[1]", "", ""},
	    {"\"name\":\"a\\u001b[31mred\\u007f\"", "a[31mred", ""},
	};
	struct upstream_identity who;
	const char *why;
	char json[2048];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *c;
		snprintf(json, sizeof(json),
			 "{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\","
			 "\"sub\":\"s\",%s}",
			 t[i].json);
		c = claims_of(json);
		is_int(upstream_id_token_check(c, "I", "C", "N", 1000, &who, &why), UPSTREAM_OK,
		       "display %zu accepted", i);
		is_str(who.name, t[i].name, "display %zu name", i);
		is_str(who.email, t[i].email, "display %zu email", i);
		json_object_put(c);
	}
	{
		/* 254 ASCII bytes then a 3-byte character: the cut must not split it. */
		char name[300], json2[800];
		struct json_object *c;
		memset(name, 'n', 254);
		memcpy(name + 254, "\xe2\x82\xac\xe2\x82\xac", 7);
		snprintf(json2, sizeof(json2),
			 "{\"iss\":\"I\",\"aud\":\"C\",\"exp\":1100,\"iat\":1000,\"nonce\":\"N\","
			 "\"sub\":\"s\",\"name\":\"%s\"}",
			 name);
		c = claims_of(json2);
		upstream_id_token_check(c, "I", "C", "N", 1000, &who, &why);
		is_int(strlen(who.name), 254, "long name cut before a split UTF-8 character");
		json_object_put(c);
	}
}

static void
test_user_id(void)
{
	char a[TOKEN_FIELD_MAX + 1], b[TOKEN_FIELD_MAX + 1], c[TOKEN_FIELD_MAX + 1], iss[300],
	    sub[256], fake[64];
	unsigned char h[32];

	is_int(upstream_user_id("https://i", "alice", a, sizeof(a)), 0, "short id");
	is_str(a, "oidc:https://i#alice", "short id is literal");
	memset(iss, 'i', 200);
	iss[200] = '\0';
	memset(sub, 's', 200);
	sub[200] = '\0';
	is_int(upstream_user_id(iss, sub, a, sizeof(a)), 0, "long id");
	ok(strlen(a) <= TOKEN_FIELD_MAX && strstr(a, "#:h:") != NULL, "long sub hashed: %s", a);
	sub[199] = 't';
	upstream_user_id(iss, sub, b, sizeof(b));
	ok(strcmp(a, b) != 0, "long subs differing in the last byte stay distinct");
	/* A sub that spells the hashed form of another sub gets hashed itself. */
	sub[199] = 's';
	crypto_sha256(sub, strlen(sub), h);
	crypto_b64url_encode(h, 32, fake + 3, sizeof(fake) - 3);
	memcpy(fake, ":h:", 3);
	upstream_user_id(iss, fake, c, sizeof(c));
	ok(strcmp(a, c) != 0, "sub \":h:...\" cannot impersonate a hashed id");
	memset(iss, 'i', 290);
	iss[290] = '\0';
	is_int(upstream_user_id(iss, "alice", a, sizeof(a)), 0, "very long issuer");
	ok(strncmp(a, "oidc:#:h:", 9) == 0 && strlen(a) < TOKEN_FIELD_MAX, "issuer and sub hashed");
	upstream_user_id(iss, "bob", b, sizeof(b));
	ok(strcmp(a, b) != 0, "distinct users under a very long issuer");
}

static void
test_iss_param(void)
{
	struct app app;

	idp_reset();
	app_setup(&app);
	is_int(upstream_response_iss_check(&app, ISS), UPSTREAM_OK, "RFC 9207 iss matches");
	is_int(upstream_response_iss_check(&app, "https://evil.test"), UPSTREAM_INVALID,
	       "RFC 9207 iss mismatch");
	is_int(upstream_response_iss_check(&app, NULL), UPSTREAM_INVALID,
	       "RFC 9207 iss required when advertised");
	app_teardown(&app);
	idp_reset();
	idp.iss_param = 0;
	app_setup(&app);
	is_int(upstream_response_iss_check(&app, NULL), UPSTREAM_OK,
	       "iss may be absent when not advertised");
	is_int(upstream_response_iss_check(&app, ISS "x"), UPSTREAM_INVALID,
	       "iss checked whenever present");
	app_teardown(&app);
}

static void
test_error_maps(void)
{
	static const struct {
		const char *error;
		int want;
	} t[] = {
	    {"access_denied", UPSTREAM_DENIED},        {"login_required", UPSTREAM_DENIED},
	    {"consent_required", UPSTREAM_DENIED},     {"interaction_required", UPSTREAM_DENIED},
	    {"account_selection_required", UPSTREAM_DENIED},
	    {"temporarily_unavailable", UPSTREAM_UNAVAILABLE},
	    {"server_error", UPSTREAM_UNAVAILABLE},    {"invalid_request", UPSTREAM_INVALID},
	    {"unauthorized_client", UPSTREAM_INVALID}, {"ACCESS_DENIED", UPSTREAM_INVALID},
	    {"", UPSTREAM_INVALID},                    {NULL, UPSTREAM_INVALID},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(upstream_callback_error(t[i].error), t[i].want, "callback error %s",
		       t[i].error ? t[i].error : "(null)");
	is_str(upstream_oauth_error(UPSTREAM_DENIED), "access_denied", "oauth error: denied");
	is_str(upstream_oauth_error(UPSTREAM_UNAVAILABLE), "temporarily_unavailable",
	       "oauth error: unavailable");
	is_str(upstream_oauth_error(UPSTREAM_INVALID), "server_error", "oauth error: invalid");
	is_str(upstream_oauth_error(UPSTREAM_ERROR), "server_error", "oauth error: ours");
	is_str(upstream_oauth_error(UPSTREAM_OK), NULL, "oauth error: none");
}

/* Every failure above logged one line; none may carry a secret. */
static void
check_log(const char *path)
{
	static char text[1 << 20];
	FILE *fp = fopen(path, "r");
	size_t n = fp != NULL ? fread(text, 1, sizeof(text) - 1, fp) : 0;
	static const char *const secrets[] = {ACCESS, REFRESH, SECRET, "s3cr%26t", "the-code",
					      "eyJ"};

	if (fp != NULL)
		fclose(fp);
	text[n] = '\0';
	ok(strstr(text, "upstream login failed") != NULL, "failures were logged");
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		ok(strstr(text, secrets[i]) == NULL, "log holds no secret %zu", i);
}

static void
cleanup_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

int
main(void)
{
	struct upstream_hooks hooks = {idp_fetch, idp_now, NULL};
	char logpath[128];
	int saved, fd;

	snprintf(dir, sizeof(dir), "/tmp/test_upstream.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	idp.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	idp.rsa_new = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	idp.rogue = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	idp.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	upstream_set_hooks(&hooks);

	/* Capture the log (stderr) to check what failures write. */
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);

	test_begin();
	test_discovery_errors();
	test_finish_ok();
	test_finish_errors();
	test_key_rotation();
	test_claims();
	test_display();
	test_user_id();
	test_iss_param();
	test_error_maps();

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	check_log(logpath);

	upstream_set_hooks(NULL);
	EVP_PKEY_free(idp.rsa);
	EVP_PKEY_free(idp.rsa_new);
	EVP_PKEY_free(idp.rogue);
	EVP_PKEY_free(idp.ec);
	cleanup_dir();
	return tap_done();
}
