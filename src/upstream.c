#include "upstream.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "crypto.h"
#include "jose.h"
#include "log.h"
#include "store.h"

#define UPSTREAM_EP_MAX 2048            /* one provider endpoint URL */
#define UPSTREAM_DOC_MAX (64 * 1024)    /* discovery document, token response */
#define UPSTREAM_CODE_MAX 2048
#define UPSTREAM_AUD_MAX 32             /* audiences looked at */
#define UPSTREAM_SEAL_PURPOSE "upstream-token"
#define UPSTREAM_SEAL_AAD "mcpgate-upstream-v1"
#define UPSTREAM_CALLBACK_PATH "/oauth/callback"
#define UPSTREAM_WELL_KNOWN "/.well-known/openid-configuration"

/* Token endpoint client authentication (RFC 6749 §2.3.1, OIDC Core §9). */
#define UPSTREAM_AUTH_BASIC 0x1u
#define UPSTREAM_AUTH_POST 0x2u
#define UPSTREAM_AUTH_NONE 0x4u

/* What we use of the provider's discovery document (OIDC Discovery §3). */
struct upstream_provider {
	char issuer[CONFIG_STR_MAX];
	char authorization_endpoint[UPSTREAM_EP_MAX];
	char token_endpoint[UPSTREAM_EP_MAX];
	char jwks_uri[UPSTREAM_EP_MAX];
	unsigned auth_methods; /* UPSTREAM_AUTH_* advertised; 0 when not listed */
	int iss_param;         /* authorization_response_iss_parameter_supported */
};

/* Why a step failed, for the single log line a failed login writes. */
struct upstream_err {
	const char *reason; /* static text */
	char detail[256];   /* never a secret; quoted when logged */
};

/* Test seam (see upstream_set_hooks); all zero in the programs. */
static struct upstream_hooks upstream_hooks_cur;

void
upstream_set_hooks(const struct upstream_hooks *hooks)
{
	if (hooks != NULL)
		upstream_hooks_cur = *hooks;
	else
		memset(&upstream_hooks_cur, 0, sizeof(upstream_hooks_cur));
}

static time_t
upstream_now(void)
{
	if (upstream_hooks_cur.now != NULL)
		return upstream_hooks_cur.now(upstream_hooks_cur.arg);
	return time(NULL);
}

__attribute__((format(printf, 4, 5))) static int
upstream_fail(struct upstream_err *e, int status, const char *reason, const char *fmt, ...)
{
	va_list ap;

	e->reason = reason;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	return status;
}

const char *
upstream_oauth_error(int status)
{
	switch (status) {
	case UPSTREAM_OK:
		return NULL;
	case UPSTREAM_DENIED:
		return "access_denied";
	case UPSTREAM_UNAVAILABLE:
		return "temporarily_unavailable";
	default:
		return "server_error";
	}
}

static void
upstream_log(const char *step, int status, const struct upstream_err *e)
{
	char d[300];

	log_msg(LOG_WARN, "msg=\"upstream login failed\" step=%s error=%s reason=\"%s\" detail=%s",
		step, upstream_oauth_error(status), e->reason != NULL ? e->reason : "unknown",
		log_quote(d, sizeof(d), e->detail));
}

int
upstream_callback_error(const char *error)
{
	static const char *const denied[] = {"access_denied", "login_required",
					     "consent_required", "interaction_required",
					     "account_selection_required"};

	if (error == NULL)
		return UPSTREAM_INVALID;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (strcmp(error, denied[i]) == 0)
			return UPSTREAM_DENIED;
	if (strcmp(error, "temporarily_unavailable") == 0 || strcmp(error, "server_error") == 0)
		return UPSTREAM_UNAVAILABLE;
	return UPSTREAM_INVALID;
}

/* ---- JSON helpers ---- */

static const char *
upstream_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	/* A \u0000 inside would make C string comparisons see a prefix:
	 * "iss": "https://idp\u0000x" must not pass for "https://idp". */
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return NULL;
	return json_object_get_string(v);
}

/* A JSON number member as a whole number of seconds; -1 when absent or not a number. */
static int
upstream_num(struct json_object *o, const char *name, int64_t *out)
{
	struct json_object *v;
	double d;

	if (!json_object_object_get_ex(o, name, &v))
		return -1;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 0;
	}
	if (!json_object_is_type(v, json_type_double))
		return -1;
	d = json_object_get_double(v);
	if (!isfinite(d) || d < -1e15 || d > 1e15)
		return -1;
	*out = (int64_t)d;
	return 0;
}

/* Overwrite the string members of o before it is freed: token responses. */
static void
upstream_json_wipe(struct json_object *o)
{
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, name, v)
	{
		(void)name;
		if (json_object_is_type(v, json_type_string))
			explicit_bzero((char *)(uintptr_t)json_object_get_string(v),
				       (size_t)json_object_get_string_len(v));
	}
}

/* ---- outbound requests ---- */

static int
upstream_http(struct app *app, const char *url, const char *form, size_t formlen,
	      const char *user, const char *pass, size_t max, struct fetch_result *res,
	      struct upstream_err *e)
{
	struct fetch_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = FETCH_TIMEOUT_MAX_MS;
	o.max_bytes = max;
	o.insecure_loopback = app->cfg.insecure_loopback;
	o.allow = app->cfg.upstream_allow_private ? FETCH_ALLOW_PRIVATE : 0;
	o.accept = "application/json";
	o.basic_user = user;
	o.basic_pass = pass;
	if (upstream_hooks_cur.fetch != NULL)
		rc = upstream_hooks_cur.fetch(upstream_hooks_cur.arg, url, form, formlen, &o, res);
	else if (form != NULL)
		rc = fetch_post_form(url, form, formlen, &o, res);
	else
		rc = fetch_get(url, &o, res);
	switch (rc) {
	case FETCH_OK:
		return UPSTREAM_OK;
	case FETCH_ERESOLVE:
	case FETCH_ECONNECT:
	case FETCH_ETIMEOUT:
		return upstream_fail(e, UPSTREAM_UNAVAILABLE, "provider unreachable", "%s: %s",
				     fetch_strerror(rc), url);
	case FETCH_ERROR:
		return upstream_fail(e, UPSTREAM_ERROR, "request failed", "%s", url);
	default: /* refused by URL or address policy, or too large */
		return upstream_fail(e, UPSTREAM_INVALID, "provider request refused", "%s: %s",
				     fetch_strerror(rc), url);
	}
}

/* A non-200 answer: the provider's fault now (5xx, 429) or a bad exchange. */
static int
upstream_http_status(long status)
{
	return status >= 500 || status == 429 ? UPSTREAM_UNAVAILABLE : UPSTREAM_INVALID;
}

/* ---- cache: STORE_CACHE records "<fetched_at> <document>" ---- */

/* Key label ":" base64url(SHA-256(url)): fixed length whatever the URL. */
static int
upstream_cache_key(const char *label, const char *url, char *out, size_t outsz)
{
	unsigned char h[CRYPTO_SHA256_LEN];
	int n = snprintf(out, outsz, "%s:", label);

	if (n < 0 || (size_t)n >= outsz || crypto_sha256(url, strlen(url), h) != 0)
		return -1;
	return crypto_b64url_encode(h, sizeof(h), out + n, outsz - (size_t)n) < 0 ? -1 : 0;
}

/* Split a cache value into its fetch time and document (a view into v). */
static int
upstream_cache_split(const void *data, size_t len, time_t *fetched, const char **doc,
		     size_t *doclen)
{
	const char *p = data, *sp = memchr(data, ' ', len < 24 ? len : 24);
	char num[24];
	char *end;
	long long t;

	if (sp == NULL || sp == p)
		return -1;
	memcpy(num, p, (size_t)(sp - p));
	num[sp - p] = '\0';
	t = strtoll(num, &end, 10);
	if (*end != '\0' || t < 0)
		return -1;
	*fetched = (time_t)t;
	*doc = sp + 1;
	*doclen = len - (size_t)(sp + 1 - p);
	return 0;
}

static int
upstream_cache_read(struct app *app, const char *key, struct store_val *v, time_t *fetched,
		    const char **doc, size_t *doclen)
{
	memset(v, 0, sizeof(*v));
	if (app->store == NULL ||
	    store_get(app->store, STORE_CACHE, key, strlen(key), v) != STORE_OK)
		return -1;
	if (upstream_cache_split(v->data, v->len, fetched, doc, doclen) != 0) {
		store_val_free(v);
		return -1;
	}
	return 0;
}

/* Best effort: a store that is busy only costs a refetch next time. */
static void
upstream_cache_write(struct app *app, const char *key, time_t fetched, long max_age,
		     const char *doc, size_t len)
{
	long ttl = max_age < 0 ? UPSTREAM_CACHE_DEFAULT : max_age;
	struct buf b;

	if (app->store == NULL)
		return;
	ttl = ttl < UPSTREAM_CACHE_MIN ? UPSTREAM_CACHE_MIN
	      : ttl > UPSTREAM_CACHE_MAX ? UPSTREAM_CACHE_MAX
					 : ttl;
	buf_init(&b, len + 32);
	buf_printf(&b, "%lld ", (long long)fetched);
	buf_append(&b, doc, len);
	if (!b.overflow)
		store_put(app->store, STORE_CACHE, key, strlen(key), b.data, b.len, time(NULL) + ttl,
			  STORE_PUT_REPLACE);
	buf_free(&b);
}

/* ---- discovery ---- */

static int
upstream_endpoint(struct app *app, struct json_object *doc, const char *name, char *out,
		  size_t outsz, struct upstream_err *e)
{
	const char *v = upstream_str(doc, name);
	struct fetch_url u;

	if (v == NULL || strlen(v) >= outsz)
		return upstream_fail(e, UPSTREAM_INVALID, "bad discovery document", "%s missing",
				     name);
	/* The same policy as every fetch: https, or http to loopback in tests.
	 * The authorization endpoint is only visited by browsers, but a
	 * downgrade to http there would expose the code just the same. */
	if (fetch_url_check(v, app->cfg.insecure_loopback, &u) != FETCH_OK)
		return upstream_fail(e, UPSTREAM_INVALID, "bad discovery document",
				     "%s refused by URL policy", name);
	memcpy(out, v, strlen(v) + 1);
	return UPSTREAM_OK;
}

static unsigned
upstream_auth_methods(struct json_object *doc)
{
	struct json_object *a, *m;
	unsigned bits = 0;

	if (!json_object_object_get_ex(doc, "token_endpoint_auth_methods_supported", &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a) && i < 32; i++) {
		const char *s;
		m = json_object_array_get_idx(a, i);
		if (!json_object_is_type(m, json_type_string))
			continue;
		s = json_object_get_string(m);
		bits |= strcmp(s, "client_secret_basic") == 0  ? UPSTREAM_AUTH_BASIC
			: strcmp(s, "client_secret_post") == 0 ? UPSTREAM_AUTH_POST
			: strcmp(s, "none") == 0               ? UPSTREAM_AUTH_NONE
							       : 0;
	}
	return bits;
}

static int
upstream_provider_parse(struct app *app, const char *text, size_t len, struct upstream_provider *p,
			struct upstream_err *e)
{
	struct json_object *doc = NULL, *v;
	const char *iss;
	int rc;

	memset(p, 0, sizeof(*p));
	if (jose_json_parse(text, len, &doc) != JOSE_OK)
		return upstream_fail(e, UPSTREAM_INVALID, "bad discovery document", "not JSON");
	/* OIDC Discovery §4.3: the issuer must be exactly the one configured. */
	iss = upstream_str(doc, "issuer");
	if (iss == NULL || strcmp(iss, app->cfg.upstream_issuer) != 0) {
		rc = upstream_fail(e, UPSTREAM_INVALID, "bad discovery document", "issuer mismatch");
		goto out;
	}
	snprintf(p->issuer, sizeof(p->issuer), "%s", iss);
	if ((rc = upstream_endpoint(app, doc, "authorization_endpoint", p->authorization_endpoint,
				    sizeof(p->authorization_endpoint), e)) != UPSTREAM_OK ||
	    (rc = upstream_endpoint(app, doc, "token_endpoint", p->token_endpoint,
				    sizeof(p->token_endpoint), e)) != UPSTREAM_OK ||
	    (rc = upstream_endpoint(app, doc, "jwks_uri", p->jwks_uri, sizeof(p->jwks_uri), e)) !=
		UPSTREAM_OK)
		goto out;
	p->auth_methods = upstream_auth_methods(doc);
	p->iss_param =
	    json_object_object_get_ex(doc, "authorization_response_iss_parameter_supported", &v) &&
	    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	rc = UPSTREAM_OK;
out:
	json_object_put(doc);
	return rc;
}

/* OIDC Discovery §4: a terminating '/' of the issuer goes before the suffix. */
static int
upstream_well_known(const char *issuer, char *out, size_t outsz)
{
	size_t n = strlen(issuer);
	int w;

	if (n > 0 && issuer[n - 1] == '/')
		n--;
	w = snprintf(out, outsz, "%.*s%s", (int)n, issuer, UPSTREAM_WELL_KNOWN);
	return w < 0 || (size_t)w >= outsz ? -1 : 0;
}

static int
upstream_discover_fetch(struct app *app, const char *key, struct upstream_provider *p,
			struct upstream_err *e)
{
	char url[CONFIG_STR_MAX + sizeof(UPSTREAM_WELL_KNOWN)];
	struct fetch_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	if (upstream_well_known(app->cfg.upstream_issuer, url, sizeof(url)) != 0)
		return upstream_fail(e, UPSTREAM_ERROR, "bad upstream_issuer", "too long");
	rc = upstream_http(app, url, NULL, 0, NULL, NULL, UPSTREAM_DOC_MAX, &res, e);
	if (rc != UPSTREAM_OK)
		return rc;
	if (res.status != 200)
		rc = upstream_fail(e, upstream_http_status(res.status), "discovery failed",
				   "http %ld from %s", res.status, url);
	else
		rc = upstream_provider_parse(app, res.body, res.len, p, e);
	if (rc == UPSTREAM_OK)
		upstream_cache_write(app, key, upstream_now(), res.max_age, res.body, res.len);
	fetch_result_free(&res);
	return rc;
}

static int
upstream_discover(struct app *app, struct upstream_provider *p, struct upstream_err *e)
{
	char key[80];
	struct store_val v;
	const char *doc;
	size_t len;
	time_t fetched;

	if (app->cfg.upstream_issuer[0] == '\0' || app->cfg.upstream_client_id[0] == '\0')
		return upstream_fail(e, UPSTREAM_ERROR, "identity = oidc not configured", "%s",
				     "upstream_issuer, upstream_client_id");
	if (upstream_cache_key("oidc-config", app->cfg.upstream_issuer, key, sizeof(key)) != 0)
		return upstream_fail(e, UPSTREAM_ERROR, "cache key", "%s", "");
	if (upstream_cache_read(app, key, &v, &fetched, &doc, &len) == 0) {
		struct upstream_err ignored;
		int rc = upstream_provider_parse(app, doc, len, p, &ignored);
		store_val_free(&v);
		if (rc == UPSTREAM_OK)
			return UPSTREAM_OK;
	}
	return upstream_discover_fetch(app, key, p, e);
}

/* ---- JWKS ---- */

struct upstream_claim {
	time_t now;
	int due;
	struct buf val;
};

/* Under the store's exclusive lock: a refetch is due when the cached set is
 * at least UPSTREAM_JWKS_REFETCH_MIN old; the winner stamps it with now, so
 * other processes seeing the same unknown kid do not refetch as well. */
static int
upstream_claim_fn(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
		  void *arg)
{
	struct upstream_claim *c = arg;
	const char *doc;
	size_t len;
	time_t fetched;

	*newdata = NULL;
	if (cur == NULL || upstream_cache_split(cur->data, cur->len, &fetched, &doc, &len) != 0) {
		c->due = 1;
		return STORE_NOTFOUND; /* nothing cached: write nothing */
	}
	if (c->now >= fetched && c->now - fetched < UPSTREAM_JWKS_REFETCH_MIN)
		return STORE_EXISTS;
	buf_printf(&c->val, "%lld ", (long long)c->now);
	buf_append(&c->val, doc, len);
	if (c->val.overflow)
		return STORE_ERROR;
	*newdata = c->val.data;
	*newlen = c->val.len;
	*newexp = cur->expires;
	c->due = 1;
	return STORE_OK;
}

static int
upstream_jwks_due(struct app *app, const char *key)
{
	struct upstream_claim c;

	if (app->store == NULL)
		return 0;
	memset(&c, 0, sizeof(c));
	c.now = upstream_now();
	buf_init(&c.val, STORE_VALUE_MAX);
	store_update(app->store, STORE_CACHE, key, strlen(key), upstream_claim_fn, &c);
	buf_free(&c.val);
	return c.due;
}

static int
upstream_jwks_fetch(struct app *app, const struct upstream_provider *p, const char *key,
		    struct jose_jwks **out, struct upstream_err *e)
{
	struct fetch_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = upstream_http(app, p->jwks_uri, NULL, 0, NULL, NULL, JOSE_JWKS_MAX, &res, e);
	if (rc != UPSTREAM_OK)
		return rc;
	if (res.status != 200)
		rc = upstream_fail(e, upstream_http_status(res.status), "jwks fetch failed",
				   "http %ld", res.status);
	else if (jose_jwks_parse(res.body, res.len, out) != JOSE_OK)
		rc = upstream_fail(e, UPSTREAM_INVALID, "bad jwks", "%s", "not a JWK Set");
	if (rc == UPSTREAM_OK)
		upstream_cache_write(app, key, upstream_now(), res.max_age, res.body, res.len);
	fetch_result_free(&res);
	return rc;
}

/* The provider's keys: from the cache unless refetch, then from jwks_uri. */
static int
upstream_jwks(struct app *app, const struct upstream_provider *p, int refetch,
	      struct jose_jwks **out, struct upstream_err *e)
{
	char key[80];
	struct store_val v;
	const char *doc;
	size_t len;
	time_t fetched;

	*out = NULL;
	if (upstream_cache_key("oidc-jwks", p->jwks_uri, key, sizeof(key)) != 0)
		return upstream_fail(e, UPSTREAM_ERROR, "cache key", "%s", "");
	if (refetch && !upstream_jwks_due(app, key))
		return upstream_fail(e, UPSTREAM_INVALID, "id token rejected",
				     "unknown signing key, jwks refetched less than %d s ago",
				     UPSTREAM_JWKS_REFETCH_MIN);
	if (!refetch && upstream_cache_read(app, key, &v, &fetched, &doc, &len) == 0) {
		int rc = jose_jwks_parse(doc, len, out);
		store_val_free(&v);
		if (rc == JOSE_OK)
			return UPSTREAM_OK;
	}
	return upstream_jwks_fetch(app, p, key, out, e);
}

static int
upstream_verify_id_token(struct app *app, const struct upstream_provider *p, const char *jwt,
			 struct json_object **claims, struct upstream_err *e)
{
	struct jose_jwks *jwks = NULL;
	char alg[16], kid[64];
	int rc, jr;

	if ((rc = upstream_jwks(app, p, 0, &jwks, e)) != UPSTREAM_OK)
		return rc;
	jr = jose_jws_verify(jwks, jwt, strlen(jwt), claims, alg, sizeof(alg), kid, sizeof(kid));
	if (jr == JOSE_ENOKEY) {
		/* The provider may have rotated its keys since we cached them. */
		jose_jwks_free(jwks);
		if ((rc = upstream_jwks(app, p, 1, &jwks, e)) != UPSTREAM_OK)
			return rc;
		jr = jose_jws_verify(jwks, jwt, strlen(jwt), claims, alg, sizeof(alg), kid,
				     sizeof(kid));
	}
	jose_jwks_free(jwks);
	if (jr == JOSE_OK)
		return UPSTREAM_OK;
	return upstream_fail(e, jr == JOSE_ERROR ? UPSTREAM_ERROR : UPSTREAM_INVALID,
			     "id token rejected", "%s alg=%s kid=%s", jose_strerror(jr), alg, kid);
}

/* ---- the authorization request ---- */

static int
upstream_redirect_uri(const struct config *cfg, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s%s", cfg->public_url, UPSTREAM_CALLBACK_PATH);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* The configured scopes, with "openid" added if missing: without it there
 * is no ID token and so no verified identity. */
static int
upstream_scope(const struct config *cfg, char *out, size_t outsz)
{
	const char *s = cfg->upstream_scopes;
	int n;

	for (const char *p = s; (p = strstr(p, "openid")) != NULL; p += 6)
		if ((p == s || p[-1] == ' ') && (p[6] == '\0' || p[6] == ' '))
			return snprintf(out, outsz, "%s", s) >= (int)outsz ? -1 : 0;
	n = snprintf(out, outsz, "openid%s%s", s[0] != '\0' ? " " : "", s);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int
upstream_secrets(struct upstream_login *l, struct upstream_err *e)
{
	/* 256 bits each for state and nonce; a 512-bit PKCE verifier (86 chars,
	 * inside RFC 7636's 43..128). */
	if (crypto_random_token(l->state, sizeof(l->state), 32) != 0 ||
	    crypto_random_token(l->nonce, sizeof(l->nonce), 32) != 0 ||
	    crypto_random_token(l->verifier, sizeof(l->verifier), 64) != 0)
		return upstream_fail(e, UPSTREAM_ERROR, "random generator failed", "%s", "");
	return UPSTREAM_OK;
}

static int
upstream_auth_url(struct app *app, const struct upstream_provider *p, struct upstream_login *l,
		  struct upstream_err *e)
{
	unsigned char h[CRYPTO_SHA256_LEN];
	char challenge[CRYPTO_B64URL_LEN(CRYPTO_SHA256_LEN)], redir[CONFIG_STR_MAX + 32],
	    scope[CONFIG_STR_MAX + 8];
	struct buf b;
	int rc = UPSTREAM_OK;

	if (crypto_sha256(l->verifier, strlen(l->verifier), h) != 0 ||
	    crypto_b64url_encode(h, sizeof(h), challenge, sizeof(challenge)) < 0 ||
	    upstream_redirect_uri(&app->cfg, redir, sizeof(redir)) != 0 ||
	    upstream_scope(&app->cfg, scope, sizeof(scope)) != 0)
		return upstream_fail(e, UPSTREAM_ERROR, "authorization request", "%s", "setup");
	buf_init(&b, sizeof(l->url) - 1);
	buf_puts(&b, p->authorization_endpoint);
	buf_puts(&b, strchr(p->authorization_endpoint, '?') != NULL ? "&" : "?");
	buf_puts(&b, "response_type=code&client_id=");
	buf_urlenc(&b, app->cfg.upstream_client_id);
	buf_puts(&b, "&redirect_uri=");
	buf_urlenc(&b, redir);
	buf_puts(&b, "&scope=");
	buf_urlenc(&b, scope);
	buf_printf(&b, "&state=%s&nonce=%s&code_challenge=%s&code_challenge_method=S256", l->state,
		   l->nonce, challenge);
	if (b.overflow || b.data == NULL)
		rc = upstream_fail(e, UPSTREAM_ERROR, "authorization request", "%s",
				   "URL too long");
	else
		memcpy(l->url, b.data, b.len + 1);
	buf_free(&b);
	return rc;
}

int
upstream_begin(struct app *app, struct upstream_login *out)
{
	struct upstream_provider p;
	struct upstream_err e;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&e, 0, sizeof(e));
	rc = upstream_discover(app, &p, &e);
	if (rc == UPSTREAM_OK)
		rc = upstream_secrets(out, &e);
	if (rc == UPSTREAM_OK)
		rc = upstream_auth_url(app, &p, out, &e);
	if (rc != UPSTREAM_OK) {
		upstream_log("begin", rc, &e);
		crypto_wipe(out, sizeof(*out));
	}
	return rc;
}

/* ---- the token exchange ---- */

static int
upstream_auth_method(const struct config *cfg, const struct upstream_provider *p, unsigned *m,
		     struct upstream_err *e)
{
	const char *want = cfg->upstream_token_auth;
	int secret = cfg->upstream_client_secret[0] != '\0';

	if (want[0] == '\0') {
		/* OIDC Discovery §3: absent means client_secret_basic. */
		unsigned adv = p->auth_methods != 0 ? p->auth_methods : UPSTREAM_AUTH_BASIC;
		*m = !secret                          ? UPSTREAM_AUTH_NONE
		     : (adv & UPSTREAM_AUTH_BASIC) != 0 ? UPSTREAM_AUTH_BASIC
		     : (adv & UPSTREAM_AUTH_POST) != 0  ? UPSTREAM_AUTH_POST
							: 0;
		if (*m == 0)
			return upstream_fail(e, UPSTREAM_ERROR, "no usable token endpoint auth",
					     "%s", "provider offers neither basic nor post");
		return UPSTREAM_OK;
	}
	*m = strcmp(want, "client_secret_basic") == 0  ? UPSTREAM_AUTH_BASIC
	     : strcmp(want, "client_secret_post") == 0 ? UPSTREAM_AUTH_POST
	     : strcmp(want, "none") == 0               ? UPSTREAM_AUTH_NONE
							: 0;
	if (*m == 0)
		return upstream_fail(e, UPSTREAM_ERROR, "bad upstream_token_auth", "%s", want);
	if (*m != UPSTREAM_AUTH_NONE && !secret)
		return upstream_fail(e, UPSTREAM_ERROR, "upstream_client_secret missing", "%s",
				     want);
	return UPSTREAM_OK;
}

static int
upstream_token_form(const struct config *cfg, unsigned method, const char *code,
		    const char *verifier, struct buf *b)
{
	char redir[CONFIG_STR_MAX + 32];

	if (upstream_redirect_uri(cfg, redir, sizeof(redir)) != 0)
		return -1;
	buf_puts(b, "grant_type=authorization_code&code=");
	buf_urlenc(b, code);
	buf_puts(b, "&redirect_uri=");
	buf_urlenc(b, redir);
	buf_puts(b, "&code_verifier=");
	buf_urlenc(b, verifier);
	/* RFC 6749 §4.1.3: client_id in the body unless the client authenticates
	 * with Basic; §2.3.1: the secret in the body only for _post. */
	if (method != UPSTREAM_AUTH_BASIC) {
		buf_puts(b, "&client_id=");
		buf_urlenc(b, cfg->upstream_client_id);
	}
	if (method == UPSTREAM_AUTH_POST) {
		buf_puts(b, "&client_secret=");
		buf_urlenc(b, cfg->upstream_client_secret);
	}
	return b->overflow || b->data == NULL ? -1 : 0;
}

static int
upstream_token_response(const struct fetch_result *res, struct json_object **resp,
			struct upstream_err *e)
{
	struct json_object *o = NULL;
	const char *err;
	int rc;

	if (res->body != NULL)
		jose_json_parse(res->body, res->len, &o);
	if (res->status == 200) {
		if (o == NULL || upstream_str(o, "id_token") == NULL) {
			upstream_json_wipe(o);
			json_object_put(o);
			return upstream_fail(e, UPSTREAM_INVALID, "bad token response", "%s",
					     o == NULL ? "not JSON" : "no id_token");
		}
		*resp = o;
		return UPSTREAM_OK;
	}
	/* RFC 6749 §5.2: invalid_grant is a code the provider will not honour
	 * (expired, used, wrong verifier): the user's login did not happen. */
	err = upstream_str(o, "error");
	rc = upstream_http_status(res->status);
	if (rc == UPSTREAM_INVALID && err != NULL && strcmp(err, "invalid_grant") == 0)
		rc = UPSTREAM_DENIED;
	rc = upstream_fail(e, rc, "token exchange refused", "http %ld error=%.64s", res->status,
			   err != NULL ? err : "-");
	upstream_json_wipe(o);
	json_object_put(o);
	return rc;
}

static int
upstream_exchange(struct app *app, const struct upstream_provider *p, const char *code,
		  const char *verifier, struct json_object **resp, struct upstream_err *e)
{
	struct buf form, user, pass;
	struct fetch_result res;
	unsigned method;
	int rc;

	memset(&res, 0, sizeof(res));
	buf_init(&form, 16 * 1024);
	buf_init(&user, 2048);
	buf_init(&pass, 2048);
	if ((rc = upstream_auth_method(&app->cfg, p, &method, e)) != UPSTREAM_OK)
		goto out;
	/* RFC 6749 §2.3.1: Basic credentials are form-urlencoded first. */
	buf_urlenc(&user, app->cfg.upstream_client_id);
	buf_urlenc(&pass, app->cfg.upstream_client_secret);
	if (upstream_token_form(&app->cfg, method, code, verifier, &form) != 0 || user.overflow ||
	    pass.overflow) {
		rc = upstream_fail(e, UPSTREAM_ERROR, "token request", "%s", "too long");
		goto out;
	}
	rc = upstream_http(app, p->token_endpoint, form.data, form.len,
			   method == UPSTREAM_AUTH_BASIC ? user.data : NULL,
			   method == UPSTREAM_AUTH_BASIC ? (pass.data != NULL ? pass.data : "") : NULL,
			   UPSTREAM_DOC_MAX, &res, e);
	if (rc == UPSTREAM_OK)
		rc = upstream_token_response(&res, resp, e);
out:
	buf_free(&form);
	buf_free(&user);
	buf_free(&pass);
	fetch_result_free(&res);
	return rc;
}

/* ---- ID token claims ---- */

int
upstream_user_id(const char *iss, const char *sub, char *out, size_t outsz)
{
	unsigned char h[CRYPTO_SHA256_LEN];
	char hb[CRYPTO_B64URL_LEN(CRYPTO_SHA256_LEN)];
	struct buf b;
	int n;

	if (iss == NULL || sub == NULL || outsz == 0)
		return -1;
	if (strncmp(sub, ":h:", 3) != 0) {
		n = snprintf(out, outsz, "oidc:%s#%s", iss, sub);
		if (n >= 0 && (size_t)n < outsz)
			return 0;
	}
	if (crypto_sha256(sub, strlen(sub), h) != 0 ||
	    crypto_b64url_encode(h, sizeof(h), hb, sizeof(hb)) < 0)
		return -1;
	n = snprintf(out, outsz, "oidc:%s#:h:%s", iss, hb);
	if (n >= 0 && (size_t)n < outsz)
		return 0;
	buf_init(&b, 2 * TOKEN_FIELD_MAX + 2);
	buf_puts(&b, iss);
	buf_append(&b, "", 1);
	buf_puts(&b, sub);
	n = b.overflow || crypto_sha256(b.data, b.len, h) != 0 ||
	    crypto_b64url_encode(h, sizeof(h), hb, sizeof(hb)) < 0;
	buf_free(&b);
	if (n)
		return -1;
	n = snprintf(out, outsz, "oidc:#:h:%s", hb);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* Copy a display string: no control characters, cut on a UTF-8 boundary. */
static void
upstream_display(char *out, size_t outsz, const char *s)
{
	size_t o = 0, j;

	for (size_t i = 0; s != NULL && s[i] != '\0' && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != 0x7f)
			out[o++] = (char)c;
	}
	/* Back up over continuation bytes to the last character's lead byte;
	 * if the cut left that character incomplete, drop it. */
	j = o;
	while (j > 0 && o - j < 3 && ((unsigned char)out[j - 1] & 0xc0) == 0x80)
		j--;
	if (j > 0 && ((unsigned char)out[j - 1] & 0xc0) == 0xc0) {
		unsigned char lead = (unsigned char)out[j - 1];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
		if (o - (j - 1) < need)
			o = j - 1;
	}
	out[o] = '\0';
}

/* A JSON string equal to s, whole length compared (no \u0000 prefix games). */
static int
upstream_json_eq(struct json_object *v, const char *s)
{
	size_t n = strlen(s);

	return json_object_is_type(v, json_type_string) &&
	       (size_t)json_object_get_string_len(v) == n &&
	       memcmp(json_object_get_string(v), s, n) == 0;
}

static int
upstream_aud_ok(struct json_object *claims, const char *client_id)
{
	struct json_object *aud, *a;
	size_t n;
	int found = 0;

	if (!json_object_object_get_ex(claims, "aud", &aud))
		return 0;
	if (json_object_is_type(aud, json_type_string))
		return upstream_json_eq(aud, client_id);
	if (!json_object_is_type(aud, json_type_array))
		return 0;
	n = json_object_array_length(aud);
	if (n == 0 || n > UPSTREAM_AUD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		a = json_object_array_get_idx(aud, i);
		if (!json_object_is_type(a, json_type_string))
			return 0;
		found |= upstream_json_eq(a, client_id);
	}
	return found;
}

/* iss, aud, azp, nonce: who issued the token, for whom, for which login. */
static const char *
upstream_check_parties(struct json_object *claims, const char *issuer, const char *client_id,
		       const char *nonce)
{
	struct json_object *azp;
	const char *iss = upstream_str(claims, "iss"), *n = upstream_str(claims, "nonce");

	if (iss == NULL || strcmp(iss, issuer) != 0)
		return "iss";
	if (!upstream_aud_ok(claims, client_id))
		return "aud";
	/* OIDC Core §3.1.3.7 step 5: an azp, if present, must be us. */
	if (json_object_object_get_ex(claims, "azp", &azp) && !upstream_json_eq(azp, client_id))
		return "azp";
	if (n == NULL || nonce == NULL || nonce[0] == '\0' ||
	    !crypto_ct_eq(n, strlen(n), nonce, strlen(nonce)))
		return "nonce";
	return NULL;
}

static const char *
upstream_check_times(struct json_object *claims, time_t now)
{
	int64_t exp, iat, nbf;
	struct json_object *v;

	if (upstream_num(claims, "exp", &exp) != 0)
		return "exp missing";
	if (exp <= (int64_t)now - UPSTREAM_SKEW)
		return "expired";
	if (upstream_num(claims, "iat", &iat) != 0)
		return "iat missing";
	if (iat > (int64_t)now + UPSTREAM_SKEW)
		return "iat in the future";
	if (iat < (int64_t)now - UPSTREAM_IAT_MAX_AGE - UPSTREAM_SKEW)
		return "iat too old";
	if (json_object_object_get_ex(claims, "nbf", &v) &&
	    (upstream_num(claims, "nbf", &nbf) != 0 || nbf > (int64_t)now + UPSTREAM_SKEW))
		return "nbf";
	return NULL;
}

static int
upstream_sub_ok(const char *sub)
{
	size_t n = sub != NULL ? strlen(sub) : 0;

	if (n == 0 || n > 255) /* OIDC Core §2: at most 255 ASCII characters */
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)sub[i] < 0x20 || (unsigned char)sub[i] == 0x7f)
			return 0;
	return 1;
}

int
upstream_id_token_check(struct json_object *claims, const char *issuer, const char *client_id,
			const char *nonce, time_t now, struct upstream_identity *who,
			const char **why)
{
	const char *sub, *name;

	memset(who, 0, sizeof(*who));
	*why = NULL;
	if (claims == NULL || !json_object_is_type(claims, json_type_object)) {
		*why = "claims";
		return UPSTREAM_INVALID;
	}
	if ((*why = upstream_check_parties(claims, issuer, client_id, nonce)) != NULL ||
	    (*why = upstream_check_times(claims, now)) != NULL)
		return UPSTREAM_INVALID;
	sub = upstream_str(claims, "sub");
	if (!upstream_sub_ok(sub) || upstream_user_id(issuer, sub, who->user, sizeof(who->user)) != 0) {
		*why = "sub";
		return UPSTREAM_INVALID;
	}
	name = upstream_str(claims, "name");
	if (name == NULL || name[0] == '\0')
		name = upstream_str(claims, "preferred_username");
	if (name == NULL || name[0] == '\0')
		name = upstream_str(claims, "email");
	upstream_display(who->name, sizeof(who->name), name);
	upstream_display(who->email, sizeof(who->email), upstream_str(claims, "email"));
	return UPSTREAM_OK;
}

/* ---- the provider's tokens, sealed ---- */

static int
upstream_aad(const char *user, char *out, size_t outsz, size_t *len)
{
	int n = snprintf(out, outsz, "%s%c%s", UPSTREAM_SEAL_AAD, '\0', user);

	if (n < 0 || (size_t)n >= outsz)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* The record to seal: only the members we know, plus an absolute expiry. */
static struct json_object *
upstream_tokens_record(struct json_object *resp, time_t now, long *lifetime)
{
	static const char *const keep[] = {"access_token", "refresh_token", "id_token",
					   "token_type", "scope"};
	struct json_object *o = json_object_new_object();
	int64_t expires_in = UPSTREAM_CACHE_DEFAULT;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char *v = upstream_str(resp, keep[i]);
		if (v != NULL)
			json_object_object_add(o, keep[i], json_object_new_string(v));
	}
	if (upstream_num(resp, "expires_in", &expires_in) != 0)
		expires_in = UPSTREAM_CACHE_DEFAULT;
	if (expires_in < 60)
		expires_in = 60;
	else if (expires_in > 86400)
		expires_in = 86400;
	json_object_object_add(o, "expires_at", json_object_new_int64((int64_t)now + expires_in));
	*lifetime = (long)expires_in;
	return o;
}

static int
upstream_store_tokens(struct app *app, const char *user, struct json_object *resp,
		      struct upstream_err *e)
{
	char aad[sizeof(UPSTREAM_SEAL_AAD) + TOKEN_FIELD_MAX + 2];
	struct json_object *rec = NULL;
	unsigned char *sealed = NULL;
	const char *pt;
	size_t aadlen, ptlen;
	long life;
	int n, st, rc = UPSTREAM_ERROR;

	if (app->store == NULL || upstream_aad(user, aad, sizeof(aad), &aadlen) != 0 ||
	    (rec = upstream_tokens_record(resp, upstream_now(), &life)) == NULL)
		return upstream_fail(e, UPSTREAM_ERROR, "cannot keep provider tokens", "%s", "setup");
	pt = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	ptlen = strlen(pt);
	if ((sealed = malloc(ptlen + CRYPTO_SEAL_OVERHEAD)) == NULL ||
	    (n = crypto_seal(&app->keys, UPSTREAM_SEAL_PURPOSE, aad, aadlen, pt, ptlen, sealed,
			     ptlen + CRYPTO_SEAL_OVERHEAD)) < 0) {
		upstream_fail(e, UPSTREAM_ERROR, "cannot keep provider tokens", "%s", "seal");
		goto out;
	}
	/* Kept as long as a refresh token could be of use, else until expiry. */
	if (upstream_str(resp, "refresh_token") != NULL && app->cfg.refresh_token_ttl > life)
		life = app->cfg.refresh_token_ttl;
	st = store_put(app->store, STORE_UPSTREAM, user, strlen(user), sealed, (size_t)n,
		       time(NULL) + life, STORE_PUT_REPLACE);
	rc = st == STORE_OK ? UPSTREAM_OK
	     : upstream_fail(e, st == STORE_BUSY ? UPSTREAM_UNAVAILABLE : UPSTREAM_ERROR,
			     "cannot keep provider tokens", "store: %s", store_strerror(st));
out:
	explicit_bzero((char *)(uintptr_t)pt, ptlen);
	upstream_json_wipe(rec);
	json_object_put(rec);
	free(sealed);
	return rc;
}

/* ---- the callback ---- */

static int
upstream_visible(const char *s, size_t min, size_t max, int space_ok)
{
	size_t n = s != NULL ? strnlen(s, max + 1) : 0;

	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < (space_ok ? 0x20 : 0x21) || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
upstream_finish_args(const char *code, const char *verifier, const char *nonce,
		     struct upstream_err *e)
{
	/* RFC 6749 A.11: code is 1*VSCHAR; RFC 7636 §4.1: verifier 43..128. */
	if (!upstream_visible(code, 1, UPSTREAM_CODE_MAX, 1))
		return upstream_fail(e, UPSTREAM_INVALID, "bad callback", "%s", "code");
	if (!upstream_visible(verifier, 43, 128, 0) ||
	    strspn(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") !=
		strlen(verifier))
		return upstream_fail(e, UPSTREAM_ERROR, "bad login state", "%s", "verifier");
	if (!upstream_visible(nonce, 1, sizeof(((struct upstream_login *)0)->nonce) - 1, 0))
		return upstream_fail(e, UPSTREAM_ERROR, "bad login state", "%s", "nonce");
	return UPSTREAM_OK;
}

static int
upstream_claims(struct app *app, const struct upstream_provider *p, struct json_object *claims,
		const char *nonce, struct upstream_identity *who, struct upstream_err *e)
{
	const char *why = NULL;

	if (upstream_id_token_check(claims, p->issuer, app->cfg.upstream_client_id, nonce,
				    upstream_now(), who, &why) != UPSTREAM_OK)
		return upstream_fail(e, UPSTREAM_INVALID, "id token rejected", "claim %s", why);
	return UPSTREAM_OK;
}

int
upstream_finish(struct app *app, const char *code, const char *verifier, const char *nonce,
		struct upstream_identity *who)
{
	struct upstream_provider p;
	struct upstream_err e;
	struct json_object *resp = NULL, *claims = NULL;
	int rc;

	memset(who, 0, sizeof(*who));
	memset(&e, 0, sizeof(e));
	rc = upstream_finish_args(code, verifier, nonce, &e);
	if (rc == UPSTREAM_OK)
		rc = upstream_discover(app, &p, &e);
	if (rc == UPSTREAM_OK)
		rc = upstream_exchange(app, &p, code, verifier, &resp, &e);
	if (rc == UPSTREAM_OK)
		rc = upstream_verify_id_token(app, &p, upstream_str(resp, "id_token"), &claims, &e);
	if (rc == UPSTREAM_OK)
		rc = upstream_claims(app, &p, claims, nonce, who, &e);
	if (rc == UPSTREAM_OK)
		rc = upstream_store_tokens(app, who->user, resp, &e);
	if (rc != UPSTREAM_OK) {
		upstream_log("finish", rc, &e);
		memset(who, 0, sizeof(*who));
	}
	upstream_json_wipe(resp);
	json_object_put(resp);
	json_object_put(claims);
	return rc;
}

int
upstream_response_iss_check(struct app *app, const char *iss)
{
	struct upstream_provider p;
	struct upstream_err e;
	int rc;

	memset(&e, 0, sizeof(e));
	rc = upstream_discover(app, &p, &e);
	if (rc == UPSTREAM_OK && iss == NULL && p.iss_param)
		rc = upstream_fail(&e, UPSTREAM_INVALID, "authorization response", "%s",
				   "iss missing (RFC 9207)");
	else if (rc == UPSTREAM_OK && iss != NULL && strcmp(iss, p.issuer) != 0)
		rc = upstream_fail(&e, UPSTREAM_INVALID, "authorization response", "%s",
				   "iss mismatch (RFC 9207)");
	if (rc != UPSTREAM_OK)
		upstream_log("callback", rc, &e);
	return rc;
}
