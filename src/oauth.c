/*
 * oauth: clients, redirect URIs, codes, consents, grants and refresh
 * rotation.  See oauth.h for the record layout.  The programs in cgi-bin/
 * only validate their input and call these.
 */
#include "oauth.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "consent.h"
#include "fetch.h"
#include "log.h"
#include "metadata.h"
#include "scope.h"
#include "valid.h"

#define OAUTH_HASH_LEN 64 /* crypto_token_hash hex */
#define OAUTH_REFRESH_RAND 32
#define OAUTH_REFRESH_LEN (sizeof(OAUTH_REFRESH_PREFIX) - 1 + 43)
#define OAUTH_STATIC_MAX (256 * 1024) /* static_clients_file size cap */
#define OAUTH_RECORD_MAX (64 * 1024)  /* any JSON record we read back */
#define OAUTH_PAIR_MAX 2048           /* sealed token pair, base64url */
#define OAUTH_JSON_DEPTH 8

static const char oauth_pair_purpose[] = "refresh-retry";

/* ---- errors -------------------------------------------------------------- */

static const struct {
	int status;
	const char *error;
	const char *description;
} oauth_errs[OAUTH_E__MAX] = {
	[OAUTH_OK] = {200, "", ""},
	[OAUTH_E_REQUEST] = {400, "invalid_request", "malformed request"},
	[OAUTH_E_CLIENT] = {401, "invalid_client", "client authentication failed"},
	[OAUTH_E_GRANT] = {400, "invalid_grant", "the grant is invalid, expired or revoked"},
	[OAUTH_E_UNAUTHORIZED] = {400, "unauthorized_client",
				  "the client is not registered for this grant type"},
	[OAUTH_E_GRANT_TYPE] = {400, "unsupported_grant_type", "unsupported grant_type"},
	[OAUTH_E_SCOPE] = {400, "invalid_scope", "invalid scope"},
	[OAUTH_E_TARGET] = {400, "invalid_target", "resource is not this server's MCP endpoint"},
	[OAUTH_E_REDIRECT_URI] = {400, "invalid_redirect_uri", "invalid redirect URI"},
	[OAUTH_E_METADATA] = {400, "invalid_client_metadata", "invalid client metadata"},
	[OAUTH_E_BUSY] = {503, "temporarily_unavailable", "the server is busy, retry shortly"},
	[OAUTH_E_SERVER] = {500, "server_error", "internal error"},
};

void
oauth_error(struct http_resp *resp, enum oauth_err e, const char *description)
{
	if ((unsigned)e >= OAUTH_E__MAX || e == OAUTH_OK)
		e = OAUTH_E_SERVER;
	if (e == OAUTH_E_BUSY || e == OAUTH_E_SERVER) {
		/* One renderer for store trouble (and its Retry-After). */
		http_error_store(resp, e == OAUTH_E_BUSY ? STORE_BUSY : STORE_ERROR, 0);
		return;
	}
	http_error_oauth(resp, oauth_errs[e].status, oauth_errs[e].error,
			 description != NULL ? description : oauth_errs[e].description);
	http_resp_header(resp, "Pragma", "no-cache");
}

enum oauth_err
oauth_err_from_store(int store_status)
{
	if (store_status == STORE_OK)
		return OAUTH_OK;
	return store_status == STORE_BUSY ? OAUTH_E_BUSY : OAUTH_E_SERVER;
}

/* ---- request plumbing -------------------------------------------------- */

void
oauth_cors(struct http_resp *resp)
{
	http_resp_header(resp, "Access-Control-Allow-Origin", "*");
}

int
oauth_preflight(const struct http_req *req, struct http_resp *resp, const char *methods)
{
	if (strcmp(req->method, "OPTIONS") != 0)
		return 0;
	resp->status = 204;
	oauth_cors(resp);
	http_resp_header(resp, "Access-Control-Allow-Methods", "%s, OPTIONS", methods);
	http_resp_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
	http_resp_header(resp, "Access-Control-Max-Age", "86400");
	return 1;
}

/* Render a refused request body, with its one log line. */
static int
oauth_form_refuse(struct http_resp *resp, int status, const char *why)
{
	log_msg(LOG_INFO, "msg=\"request refused\" status=%d reason=\"%s\"", status, why);
	http_error_oauth(resp, status, "invalid_request", why);
	return -1;
}

int
oauth_form_read(struct http_req *req, struct http_resp *resp, size_t max, struct http_form *form)
{
	int rc;

	memset(form, 0, sizeof(*form));
	if (strcmp(req->method, "POST") != 0) {
		http_error_method(resp, "POST, OPTIONS", 0);
		return -1;
	}
	/* RFC 6749 §3.2: parameters in an application/x-www-form-urlencoded body. */
	if (!http_content_type_is(req, "application/x-www-form-urlencoded"))
		return oauth_form_refuse(resp, 400,
					 "Content-Type must be application/x-www-form-urlencoded");
	rc = http_read_body(req, max);
	if (rc == HTTP_E_TOO_LARGE)
		return oauth_form_refuse(resp, 413, "request body too large");
	if (rc == HTTP_OK)
		rc = http_form_parse(req->body, req->bodylen, 0, form);
	if (rc != HTTP_OK)
		return oauth_form_refuse(resp, 400,
					 rc == HTTP_E_TOO_MANY ? "too many parameters" : "malformed body");
	return 0;
}

int
oauth_json_send(struct http_resp *resp, int status, struct json_object *o)
{
	const char *s = o != NULL ? json_object_to_json_string_ext(
					    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
				  : NULL;
	int rc = -1;

	if (s != NULL && buf_puts(&resp->body, s) == 0) {
		resp->status = status;
		http_resp_header(resp, "Content-Type", "application/json");
		/* RFC 6749 §5.1: token responses MUST NOT be cached. */
		http_resp_header(resp, "Cache-Control", "no-store");
		http_resp_header(resp, "Pragma", "no-cache");
		rc = 0;
	} else {
		oauth_error(resp, OAUTH_E_SERVER, NULL);
	}
	json_object_put(o);
	return rc;
}

/* Lowercase scheme and host of an absolute http(s) URL into out. */
static int
oauth_canon_url(const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in), i, end;
	const char *auth = strstr(in, "://");

	if (auth == NULL || n >= outsz)
		return -1;
	end = (size_t)(auth - in) + 3;
	end += strcspn(in + end, "/?#");
	for (i = 0; i < n; i++)
		out[i] = i < end ? (char)tolower((unsigned char)in[i]) : in[i];
	out[n] = '\0';
	return 0;
}

int
oauth_resource_ok(const struct config *cfg, const char *value)
{
	char ours[CONFIG_STR_MAX + 8], theirs[OAUTH_URI_MAX];

	/* RFC 8707 §2 / MCP: clients send the canonical URI; accept an
	 * uppercase scheme or host, nothing else. */
	return value != NULL && metadata_resource(cfg, ours, sizeof(ours)) == 0 &&
	       oauth_canon_url(value, theirs, sizeof(theirs)) == 0 && strcmp(ours, theirs) == 0;
}

/* ---- word lists -------------------------------------------------------- */

const char *
oauth_list_next(const char *p, size_t *len)
{
	*len = 0;
	if (p == NULL)
		return NULL;
	p += strspn(p, OAUTH_LIST_SEPS);
	if (*p == '\0')
		return NULL;
	*len = strcspn(p, OAUTH_LIST_SEPS);
	return p;
}

int
oauth_list_has(const char *list, const char *word, int icase)
{
	size_t n = word != NULL ? strlen(word) : 0, len;

	if (n == 0)
		return 0;
	/* Each step consumes at least one character: bounded by strlen(list). */
	for (const char *p = oauth_list_next(list, &len); p != NULL;
	     p = oauth_list_next(p + len, &len))
		if (len == n && (icase ? strncasecmp(p, word, n) : strncmp(p, word, n)) == 0)
			return 1;
	return 0;
}

/* ---- redirect URIs ------------------------------------------------------- */

/* The parts of a URI that the redirect rules look at (views into it). */
struct oauth_uri {
	const char *scheme, *host, *port, *rest;
	size_t scheme_len, host_len, port_len;
	int authority; /* "scheme://" form */
};

static int
oauth_uri_split(const char *uri, struct oauth_uri *u)
{
	const char *p = strchr(uri, ':'), *a, *end;

	memset(u, 0, sizeof(*u));
	if (p == NULL || p == uri)
		return -1;
	u->scheme = uri;
	u->scheme_len = (size_t)(p - uri);
	u->rest = p + 1;
	if (strncmp(p + 1, "//", 2) != 0)
		return 0;
	u->authority = 1;
	a = p + 3;
	end = a + strcspn(a, "/?");
	u->rest = end;
	if (memchr(a, '@', (size_t)(end - a)) != NULL)
		return -1; /* userinfo: https://good.example@evil.example/ */
	u->host = a;
	if (*a == '[') {
		const char *close = memchr(a, ']', (size_t)(end - a));
		if (close == NULL)
			return -1;
		u->host_len = (size_t)(close - a) + 1;
	} else {
		const char *colon = memchr(a, ':', (size_t)(end - a));
		u->host_len = (size_t)((colon != NULL ? colon : end) - a);
	}
	p = a + u->host_len;
	if (p < end) {
		if (*p != ':')
			return -1;
		u->port = p + 1;
		u->port_len = (size_t)(end - p - 1);
	}
	return 0;
}

static int
oauth_port_ok(const struct oauth_uri *u)
{
	unsigned long v = 0;

	if (u->port == NULL)
		return 1;
	if (u->port_len == 0 || u->port_len > 5 || u->port[0] == '0')
		return 0;
	for (size_t i = 0; i < u->port_len; i++) {
		if (!isdigit((unsigned char)u->port[i]))
			return 0;
		v = v * 10 + (unsigned long)(u->port[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* A DNS name (LDH labels; IDNs only as punycode) or a bracketed IPv6 literal. */
static int
oauth_host_ok(const char *h, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	if (h[0] == '[') {
		for (size_t i = 1; i + 1 < n; i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
				return 0;
		return n > 2 && h[n - 1] == ']';
	}
	if (h[0] == '.' || h[0] == '-' || h[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
			return 0;
	return 1;
}

static int
oauth_host_is_loopback(const char *h, size_t n)
{
	char host[64];

	/* RFC 8252 §7.3 and §8.3: the loopback literals, and localhost; the
	 * one definition is the configuration's. */
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	return config_host_is_loopback(host);
}

static int
oauth_scheme_is(const struct oauth_uri *u, const char *s)
{
	return u->scheme_len == strlen(s) && memcmp(u->scheme, s, u->scheme_len) == 0;
}

/* Schemes a browser or OS would act on in a harmful way, or that are not
 * redirect targets at all; never accepted as a private-use scheme. */
static int
oauth_scheme_denied(const struct oauth_uri *u)
{
	static const char *const deny[] = {
		"javascript", "data",   "file", "vbscript", "blob",   "about", "filesystem",
		"view-source", "ftp",   "ws",   "wss",      "mailto", "tel",   "sms",
		"jar",        "intent", "urn",  "http",     "https",
	};

	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
		if (u->scheme_len == strlen(deny[i]) &&
		    strncasecmp(u->scheme, deny[i], u->scheme_len) == 0)
			return 1;
	return 0;
}

/* An http(s) URL with a host we accept; http only on loopback. */
static int
oauth_web_url_ok(const struct oauth_uri *u)
{
	int https = oauth_scheme_is(u, "https");

	if (!https && !oauth_scheme_is(u, "http"))
		return 0;
	if (!u->authority || !oauth_host_ok(u->host, u->host_len) || !oauth_port_ok(u))
		return 0;
	return https || oauth_host_is_loopback(u->host, u->host_len);
}

/* Common shape checks: printable ASCII URI syntax, no fragment, no
 * backslash (browsers read it as '/'), lowercase scheme. */
static int
oauth_uri_shape_ok(const char *uri, struct oauth_uri *u)
{
	size_t n = uri != NULL ? strlen(uri) : 0;

	if (n == 0 || n >= OAUTH_URI_MAX || !valid_absolute_uri(uri, n) ||
	    strpbrk(uri, "#\\") != NULL || oauth_uri_split(uri, u) != 0)
		return 0;
	/* Schemes compare case-insensitively, but we match redirect URIs as
	 * strings; "HTTPS:" or "JavaScript:" only ever serve to dodge a check. */
	for (size_t i = 0; i < u->scheme_len; i++)
		if (isupper((unsigned char)u->scheme[i]))
			return 0;
	return 1;
}

int
oauth_redirect_uri_valid(const char *uri)
{
	struct oauth_uri u;

	if (!oauth_uri_shape_ok(uri, &u))
		return 0;
	if (oauth_scheme_is(&u, "https") || oauth_scheme_is(&u, "http"))
		return oauth_web_url_ok(&u);
	/* RFC 8252 §7.1 private-use scheme: not a well-known one, something
	 * after the colon, and a clean authority if it has one. */
	if (oauth_scheme_denied(&u) || (u.host_len == 0 && *u.rest == '\0'))
		return 0;
	return !u.authority || u.host_len == 0 ||
	       (oauth_host_ok(u.host, u.host_len) && oauth_port_ok(&u));
}

/* 1 when uri is an http loopback URI; u gets its parts. */
static int
oauth_loopback_split(const char *uri, struct oauth_uri *u)
{
	return oauth_uri_shape_ok(uri, u) && oauth_scheme_is(u, "http") && oauth_web_url_ok(u);
}

int
oauth_redirect_allowed(const struct oauth_client *c, const char *redirect_uri)
{
	struct oauth_uri want, reg;
	int loop;

	if (c == NULL || redirect_uri == NULL)
		return 0;
	for (size_t i = 0; i < c->n_redirect_uris; i++)
		if (strcmp(c->redirect_uris[i], redirect_uri) == 0)
			return 1;
	/* RFC 8252 §7.3: for loopback IP redirects the port is chosen by the
	 * native app at run time; everything but the port must match. */
	loop = oauth_loopback_split(redirect_uri, &want);
	for (size_t i = 0; loop && i < c->n_redirect_uris; i++) {
		if (!oauth_loopback_split(c->redirect_uris[i], &reg))
			continue;
		if (reg.host_len == want.host_len && memcmp(reg.host, want.host, reg.host_len) == 0 &&
		    strcmp(reg.rest, want.rest) == 0)
			return 1;
	}
	return 0;
}

/* ---- JSON helpers ------------------------------------------------------ */

/* Copy string member k of o into out.  1 copied, 0 absent (out = ""),
 * -1 not a string, too long or holding a NUL. */
static int
oauth_jstr(json_object *o, const char *k, char *out, size_t outsz)
{
	json_object *v;
	size_t n;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	n = (size_t)json_object_get_string_len(v);
	if (n >= outsz || memchr(json_object_get_string(v), '\0', n) != NULL)
		return -1;
	memcpy(out, json_object_get_string(v), n + 1);
	return 1;
}

/* Integer member k of o (0 when absent or not an integer). */
static int64_t
oauth_jint(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

static void
oauth_jadd_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* Parse len bytes of strict JSON (valid UTF-8, bounded depth, nothing
 * after the value).  NULL when it is not. */
static json_object *
oauth_json_parse(const char *s, size_t len)
{
	json_tokener *tok;
	json_object *o = NULL;

	if (len > INT32_MAX || (tok = json_tokener_new_ex(OAUTH_JSON_DEPTH)) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Serialise o (which is released) into a malloc'd string. */
static char *
oauth_json_take(json_object *o, size_t *len)
{
	const char *s = o != NULL ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
	char *out = s != NULL ? strdup(s) : NULL;

	*len = out != NULL ? strlen(out) : 0;
	json_object_put(o);
	return out;
}

static json_object *
oauth_record_parse(const struct store_val *v)
{
	json_object *o;

	if (v == NULL || v->len > OAUTH_RECORD_MAX)
		return NULL;
	o = oauth_json_parse(v->data, v->len);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* ---- client metadata --------------------------------------------------- */

static const struct {
	const char *name;
	enum oauth_auth_method m;
} oauth_methods[] = {
	{"none", OAUTH_AUTH_NONE},
	{"client_secret_basic", OAUTH_AUTH_SECRET_BASIC},
	{"client_secret_post", OAUTH_AUTH_SECRET_POST},
};

static const char *
oauth_method_name(enum oauth_auth_method m)
{
	for (size_t i = 0; i < sizeof(oauth_methods) / sizeof(oauth_methods[0]); i++)
		if (oauth_methods[i].m == m)
			return oauth_methods[i].name;
	return "none";
}

static enum oauth_err
oauth_meta_fail(char *why, size_t whylen, enum oauth_err e, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return e;
}

static enum oauth_err
oauth_parse_redirects(json_object *o, struct oauth_client *out, char *why, size_t whylen)
{
	json_object *a;
	size_t n;

	if (!json_object_object_get_ex(o, "redirect_uris", &a) ||
	    !json_object_is_type(a, json_type_array) || (n = json_object_array_length(a)) == 0)
		return oauth_meta_fail(why, whylen, OAUTH_E_REDIRECT_URI,
				       "redirect_uris must be a non-empty array");
	if (n > OAUTH_REDIRECTS_MAX)
		return oauth_meta_fail(why, whylen, OAUTH_E_REDIRECT_URI, "too many redirect_uris");
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		const char *s = json_object_get_string(v);

		if (!json_object_is_type(v, json_type_string) ||
		    strlen(s) != (size_t)json_object_get_string_len(v) ||
		    !oauth_redirect_uri_valid(s)) {
			snprintf(why, whylen,
				 "redirect_uris[%zu] must be an https URL, an http URL on a loopback "
				 "host, or a private-use scheme; no fragment or userinfo",
				 i);
			return OAUTH_E_REDIRECT_URI;
		}
		memcpy(out->redirect_uris[i], s, strlen(s) + 1);
	}
	out->n_redirect_uris = n;
	return OAUTH_OK;
}

/* Array member k of o whose strings are each one of names[]: bits in *bits.
 * 0, or -1 (wrong type, unknown value).  Absent: *bits = dflt. */
static int
oauth_parse_set(json_object *o, const char *k, const char *const *names, size_t nnames,
		unsigned dflt, unsigned *bits)
{
	json_object *a;
	size_t n;

	*bits = dflt;
	if (!json_object_object_get_ex(o, k, &a))
		return 0;
	if (!json_object_is_type(a, json_type_array) || (n = json_object_array_length(a)) == 0 ||
	    n > 8)
		return -1;
	*bits = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		size_t j;

		if (!json_object_is_type(v, json_type_string))
			return -1;
		for (j = 0; j < nnames; j++)
			if (strcmp(json_object_get_string(v), names[j]) == 0)
				break;
		if (j == nnames)
			return -1;
		*bits |= 1u << j;
	}
	return 0;
}

static enum oauth_err
oauth_parse_types(json_object *o, struct oauth_client *out, char *why, size_t whylen)
{
	static const char *const grants[] = {"authorization_code", "refresh_token"};
	static const char *const responses[] = {"code"};
	char method[32];
	unsigned resp;
	size_t i;

	/* RFC 7591 §2: grant_types defaults to authorization_code. */
	if (oauth_parse_set(o, "grant_types", grants, 2, OAUTH_GRANT_CODE, &out->grant_types) != 0 ||
	    !(out->grant_types & OAUTH_GRANT_CODE))
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "grant_types must include authorization_code and may add "
				       "refresh_token only");
	if (oauth_parse_set(o, "response_types", responses, 1, 1, &resp) != 0)
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "response_types may only be [\"code\"]");
	if (oauth_jstr(o, "token_endpoint_auth_method", method, sizeof(method)) < 0)
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "unsupported token_endpoint_auth_method");
	out->auth_method = OAUTH_AUTH_NONE; /* RFC 7591 §2 leaves the default to us */
	for (i = 0; method[0] != '\0' && i < sizeof(oauth_methods) / sizeof(oauth_methods[0]); i++)
		if (strcmp(method, oauth_methods[i].name) == 0)
			break;
	if (method[0] != '\0' && i == sizeof(oauth_methods) / sizeof(oauth_methods[0]))
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "token_endpoint_auth_method must be none, client_secret_basic "
				       "or client_secret_post");
	if (method[0] != '\0')
		out->auth_method = oauth_methods[i].m;
	return OAUTH_OK;
}

static int
oauth_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static enum oauth_err
oauth_parse_about(json_object *o, struct oauth_client *out, char *why, size_t whylen)
{
	char scope[512];
	struct oauth_uri u;
	int rc;

	if (oauth_jstr(o, "client_name", out->client_name, sizeof(out->client_name)) < 0 ||
	    !oauth_text_ok(out->client_name) ||
	    !valid_utf8(out->client_name, strlen(out->client_name)))
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "client_name must be a string of at most 255 bytes");
	/* client_uri becomes a link on the consent page: web URLs only. */
	rc = oauth_jstr(o, "client_uri", out->client_uri, sizeof(out->client_uri));
	if (rc < 0 || (rc > 0 && (!oauth_uri_shape_ok(out->client_uri, &u) ||
				  !oauth_web_url_ok(&u))))
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "client_uri must be an https URL");
	rc = oauth_jstr(o, "scope", scope, sizeof(scope));
	if (rc < 0 || (rc > 0 && (!valid_scope(scope, strlen(scope)) ||
				  scope_parse(scope, &out->scope) != 0)))
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "scope must list only scopes this server supports");
	return OAUTH_OK;
}

enum oauth_err
oauth_client_parse(json_object *o, struct oauth_client *out, char *why, size_t whylen)
{
	enum oauth_err e;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return oauth_meta_fail(why, whylen, OAUTH_E_METADATA,
				       "client metadata must be a JSON object");
	out->n_redirect_uris = 0;
	out->scope = 0;
	if ((e = oauth_parse_redirects(o, out, why, whylen)) != OAUTH_OK ||
	    (e = oauth_parse_types(o, out, why, whylen)) != OAUTH_OK ||
	    (e = oauth_parse_about(o, out, why, whylen)) != OAUTH_OK)
		return e;
	return OAUTH_OK;
}

json_object *
oauth_client_json(const struct oauth_client *c)
{
	json_object *o = json_object_new_object(), *a, *g;
	char scope[512];

	if (o == NULL)
		return NULL;
	oauth_jadd_str(o, "client_id", c->client_id);
	if (c->issued_at > 0)
		json_object_object_add(o, "client_id_issued_at", json_object_new_int64(c->issued_at));
	if (c->client_name[0] != '\0')
		oauth_jadd_str(o, "client_name", c->client_name);
	if (c->client_uri[0] != '\0')
		oauth_jadd_str(o, "client_uri", c->client_uri);
	a = json_object_new_array();
	for (size_t i = 0; a != NULL && i < c->n_redirect_uris; i++)
		json_object_array_add(a, json_object_new_string(c->redirect_uris[i]));
	json_object_object_add(o, "redirect_uris", a);
	g = json_object_new_array();
	json_object_array_add(g, json_object_new_string("authorization_code"));
	if (c->grant_types & OAUTH_GRANT_REFRESH)
		json_object_array_add(g, json_object_new_string("refresh_token"));
	json_object_object_add(o, "grant_types", g);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("code"));
	json_object_object_add(o, "response_types", a);
	oauth_jadd_str(o, "token_endpoint_auth_method", oauth_method_name(c->auth_method));
	if (c->scope != 0 && scope_format(c->scope, scope, sizeof(scope)) == 0)
		oauth_jadd_str(o, "scope", scope);
	return o;
}

/* ---- client records ------------------------------------------------------ */

int
oauth_client_put(struct app *app, const struct oauth_client *c)
{
	json_object *o = oauth_client_json(c);
	char *s;
	size_t len;
	int rc;

	if (o == NULL)
		return STORE_ERROR;
	if (c->secret_hash[0] != '\0')
		oauth_jadd_str(o, "secret_hash", c->secret_hash);
	s = oauth_json_take(o, &len);
	if (s == NULL)
		return STORE_ERROR;
	rc = store_put(app->store, STORE_CLIENT, c->client_id, strlen(c->client_id), s, len, 0,
		       STORE_PUT_INSERT);
	free(s);
	return rc;
}

/* A stored record back into a client: the same metadata rules as at
 * registration, so a damaged record cannot smuggle in a bad redirect URI. */
static int
oauth_client_decode(const struct store_val *v, const char *client_id, struct oauth_client *out)
{
	json_object *o = oauth_record_parse(v);
	char why[160];
	int rc = STORE_ERROR;

	memset(out, 0, sizeof(*out));
	if (o == NULL || oauth_client_parse(o, out, why, sizeof(why)) != OAUTH_OK ||
	    oauth_jstr(o, "secret_hash", out->secret_hash, sizeof(out->secret_hash)) < 0)
		goto out;
	snprintf(out->client_id, sizeof(out->client_id), "%s", client_id);
	out->issued_at = (time_t)oauth_jint(o, "client_id_issued_at");
	out->source = OAUTH_CLIENT_DYNAMIC;
	if ((out->auth_method == OAUTH_AUTH_NONE) != (out->secret_hash[0] == '\0'))
		goto out;
	rc = STORE_OK;
out:
	if (rc != STORE_OK)
		log_msg(LOG_ERROR, "msg=\"stored client record is invalid\"");
	json_object_put(o);
	return rc;
}

int
oauth_client_get_tx(struct store_txn *tx, const char *client_id, struct oauth_client *out)
{
	size_t n = client_id != NULL ? strlen(client_id) : 0;
	struct store_val v = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= OAUTH_ID_MAX || !valid_vschar(client_id, n))
		return STORE_NOTFOUND;
	rc = store_txn_get(tx, STORE_CLIENT, client_id, n, &v);
	if (rc == STORE_OK)
		rc = oauth_client_decode(&v, client_id, out);
	store_val_free(&v);
	if (rc != STORE_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

static int
oauth_client_from_store(struct app *app, const char *client_id, struct oauth_client *out)
{
	struct store_val v = {0};
	int rc = store_get(app->store, STORE_CLIENT, client_id, strlen(client_id), &v);

	if (rc == STORE_OK)
		rc = oauth_client_decode(&v, client_id, out);
	store_val_free(&v);
	return rc;
}

/* Read the whole static clients file (at most OAUTH_STATIC_MAX bytes). */
static char *
oauth_static_read(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	size_t n;

	if (fp == NULL || (buf = malloc(OAUTH_STATIC_MAX + 1)) == NULL)
		goto fail;
	n = fread(buf, 1, OAUTH_STATIC_MAX + 1, fp);
	if (ferror(fp) || n > OAUTH_STATIC_MAX)
		goto fail;
	buf[n] = '\0';
	*len = n;
	fclose(fp);
	return buf;
fail:
	if (fp != NULL)
		fclose(fp);
	free(buf);
	return NULL;
}

/* One entry of the static file; 1 when it is client_id (out filled), 0 when
 * not, -1 when it is broken. */
static int
oauth_static_entry(struct app *app, json_object *e, const char *client_id,
		   struct oauth_client *out)
{
	char id[OAUTH_ID_MAX], secret[256], why[160];
	int rc = -1;

	if (oauth_jstr(e, "client_id", id, sizeof(id)) <= 0)
		return -1;
	if (strcmp(id, client_id) != 0)
		return 0;
	memset(out, 0, sizeof(*out));
	if (oauth_client_parse(e, out, why, sizeof(why)) != OAUTH_OK ||
	    oauth_jstr(e, "client_secret", secret, sizeof(secret)) < 0 ||
	    (out->auth_method == OAUTH_AUTH_NONE) != (secret[0] == '\0'))
		goto out;
	if (secret[0] != '\0' &&
	    crypto_token_hash(&app->keys, secret, out->secret_hash, sizeof(out->secret_hash)) != 0)
		goto out;
	memcpy(out->client_id, id, strlen(id) + 1);
	out->source = OAUTH_CLIENT_STATIC;
	rc = 1;
out:
	crypto_wipe(secret, sizeof(secret));
	return rc;
}

static int
oauth_client_from_static(struct app *app, const char *client_id, struct oauth_client *out)
{
	const char *path = app->cfg.static_clients_file;
	json_object *a = NULL;
	char *text = NULL, q[256];
	size_t len = 0, n;
	int rc = STORE_ERROR, hit = 0;

	if (path[0] == '\0')
		return STORE_NOTFOUND;
	if ((text = oauth_static_read(path, &len)) == NULL ||
	    (a = oauth_json_parse(text, len)) == NULL || !json_object_is_type(a, json_type_array))
		goto out;
	n = json_object_array_length(a);
	for (size_t i = 0; i < n && hit == 0; i++)
		hit = oauth_static_entry(app, json_object_array_get_idx(a, i), client_id, out);
	if (hit >= 0)
		rc = hit == 1 ? STORE_OK : STORE_NOTFOUND;
out:
	if (rc == STORE_ERROR)
		log_msg(LOG_ERROR,
			"msg=\"static_clients_file unreadable or invalid\" file=%s", log_quote(q, sizeof(q), path));
	if (text != NULL)
		crypto_wipe(text, len);
	free(text);
	json_object_put(a);
	return rc;
}

/* ---- Client ID Metadata Documents -------------------------------------- */

/*
 * draft-ietf-oauth-client-id-metadata-document: a client_id that is an
 * https URL names a JSON document describing the client.  Fetched through
 * fetch.c (https only, no redirects, SSRF guard, time and size caps),
 * checked like a registration, and cached in STORE_CACHE for as long as
 * its Cache-Control allows, within bounds.  Failures are cached briefly so
 * a bad client_id cannot make us fetch on every request.
 */
#define OAUTH_CIMD_MAX 5120          /* bytes */
#define OAUTH_CIMD_TIMEOUT_MS 5000L
#define OAUTH_CIMD_TTL_DEFAULT 300L  /* no Cache-Control max-age */
#define OAUTH_CIMD_TTL_MAX 86400L
#define OAUTH_CIMD_FAIL_TTL 60L
#define OAUTH_CIMD_KEY "cimd:"

/* 1 when host is named by the client_metadata_hosts list (exact host, or
 * ".example.com" for any host below it); an empty list allows any. */
static int
oauth_cimd_host_allowed(const struct config *cfg, const char *host)
{
	size_t hl = strlen(host), n;

	if (oauth_list_next(cfg->client_metadata_hosts, &n) == NULL)
		return 1;
	if (oauth_list_has(cfg->client_metadata_hosts, host, 1))
		return 1;
	for (const char *p = oauth_list_next(cfg->client_metadata_hosts, &n); p != NULL;
	     p = oauth_list_next(p + n, &n))
		if (p[0] == '.' && hl > n && strncasecmp(host + hl - n, p, n) == 0)
			return 1;
	return 0;
}

/* The draft's URL rules: a path, no dot segments, no fragment or userinfo
 * (fetch_url_check refuses those and any scheme but https). */
static int
oauth_cimd_url_ok(const struct config *cfg, const char *url)
{
	struct fetch_url fu;
	const char *path;

	if (fetch_url_check(url, cfg->insecure_loopback, &fu) != FETCH_OK ||
	    !oauth_cimd_host_allowed(cfg, fu.host))
		return 0;
	path = strchr(strstr(url, "://") + 3, '/');
	if (path == NULL || path[1] == '\0' || path[1] == '?')
		return 0;
	/* Refuse "." and ".." segments: the URL must be the document's own name. */
	while (*path == '/') {
		size_t n = strcspn(path + 1, "/?");

		if ((n == 1 && path[1] == '.') || (n == 2 && path[1] == '.' && path[2] == '.'))
			return 0;
		path += 1 + n;
	}
	return 1;
}

/* Check a fetched document: valid metadata whose client_id is the URL. */
static int
oauth_cimd_parse(const char *url, const char *text, size_t len, struct oauth_client *out,
		 const char **why)
{
	json_object *o = oauth_json_parse(text, len);
	char id[OAUTH_ID_MAX], whybuf[160];
	json_object *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		*why = "not a JSON object";
	} else if (oauth_jstr(o, "client_id", id, sizeof(id)) <= 0 || strcmp(id, url) != 0) {
		*why = "client_id differs from the document URL";
	} else if (oauth_client_parse(o, out, whybuf, sizeof(whybuf)) != OAUTH_OK) {
		*why = "invalid client metadata";
	} else if (out->auth_method != OAUTH_AUTH_NONE ||
		   json_object_object_get_ex(o, "client_secret", &v)) {
		/* A published document cannot carry a shared secret. */
		*why = "token_endpoint_auth_method must be none";
	} else {
		memcpy(out->client_id, url, strlen(url) + 1);
		out->source = OAUTH_CLIENT_CIMD;
		rc = 0;
	}
	json_object_put(o);
	return rc;
}

static int
oauth_cimd_cache_put(struct app *app, const char *key, size_t klen, const char *doc,
		     size_t len, long ttl)
{
	if (ttl <= 0)
		return STORE_OK;
	return store_put(app->store, STORE_CACHE, key, klen, doc, len, time(NULL) + ttl,
			 STORE_PUT_REPLACE);
}

/* Fetch url; on success *doc (malloc'd) and *ttl for the cache. */
static int
oauth_cimd_fetch(struct app *app, const char *url, char **doc, size_t *len, long *ttl,
		 const char **why)
{
	struct fetch_opts opts = {.timeout_ms = OAUTH_CIMD_TIMEOUT_MS,
				  .max_bytes = OAUTH_CIMD_MAX,
				  .insecure_loopback = app->cfg.insecure_loopback,
				  .accept = "application/json"};
	struct fetch_result res;
	int rc = fetch_get(url, &opts, &res);

	*doc = NULL;
	if (rc != FETCH_OK) {
		*why = fetch_strerror(rc);
	} else if (res.status != 200) {
		*why = "status is not 200";
	} else if (strcmp(res.content_type, "application/json") != 0) {
		*why = "Content-Type is not application/json";
	} else if (res.body == NULL || res.len == 0) {
		*why = "empty document";
	} else {
		*doc = res.body;
		*len = res.len;
		res.body = NULL;
		*ttl = res.max_age < 0 ? OAUTH_CIMD_TTL_DEFAULT
					: res.max_age > OAUTH_CIMD_TTL_MAX ? OAUTH_CIMD_TTL_MAX
									   : res.max_age;
	}
	fetch_result_free(&res);
	return *doc != NULL ? 0 : -1;
}

static int
oauth_client_cimd(struct app *app, const char *url, struct oauth_client *out)
{
	char key[sizeof(OAUTH_CIMD_KEY) + OAUTH_ID_MAX], q[OAUTH_ID_MAX + 8];
	struct store_val v = {0};
	const char *why = NULL;
	char *doc = NULL;
	size_t klen, len = 0;
	long ttl = 0;
	int rc;

	if (!oauth_cimd_url_ok(&app->cfg, url))
		return STORE_NOTFOUND;
	klen = (size_t)snprintf(key, sizeof(key), "%s%s", OAUTH_CIMD_KEY, url);
	rc = store_get(app->store, STORE_CACHE, key, klen, &v);
	if (rc == STORE_OK) {
		/* A cached failure is an empty record. */
		rc = v.len > 0 && oauth_cimd_parse(url, v.data, v.len, out, &why) == 0
			     ? STORE_OK
			     : STORE_NOTFOUND;
		store_val_free(&v);
		return rc;
	}
	if (rc != STORE_NOTFOUND)
		return rc;
	if (oauth_cimd_fetch(app, url, &doc, &len, &ttl, &why) != 0 ||
	    oauth_cimd_parse(url, doc, len, out, &why) != 0) {
		log_msg(LOG_WARN, "msg=\"client metadata document refused\" client=%s reason=\"%s\"",
			log_quote(q, sizeof(q), url), why != NULL ? why : "?");
		rc = oauth_cimd_cache_put(app, key, klen, "", 0, OAUTH_CIMD_FAIL_TTL);
		free(doc);
		return rc == STORE_BUSY ? rc : STORE_NOTFOUND;
	}
	/* The document checked out; a failed cache write only costs a refetch. */
	(void)oauth_cimd_cache_put(app, key, klen, doc, len, ttl);
	free(doc);
	return STORE_OK;
}


int
oauth_client_get(struct app *app, const char *client_id, struct oauth_client *out)
{
	size_t n = client_id != NULL ? strlen(client_id) : 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= OAUTH_ID_MAX || !valid_vschar(client_id, n))
		return STORE_NOTFOUND;
	rc = oauth_client_from_store(app, client_id, out);
	if (rc == STORE_NOTFOUND && (strncmp(client_id, "https://", 8) == 0 ||
				     strncmp(client_id, "http://", 7) == 0))
		rc = oauth_client_cimd(app, client_id, out);
	if (rc == STORE_NOTFOUND)
		rc = oauth_client_from_static(app, client_id, out);
	if (rc != STORE_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
oauth_client_secret_ok(const struct app *app, const struct oauth_client *c, const char *secret)
{
	char h[OAUTH_HASH_LEN + 1];
	int match = 0;

	if (c->secret_hash[0] == '\0' || secret == NULL || secret[0] == '\0')
		return 0;
	/* Hashes made before a key rotation were made with an older key. */
	for (size_t i = 0; i < app->keys.nkeys && !match; i++)
		if (crypto_token_hash_i(&app->keys, i, secret, h, sizeof(h)) == 0)
			match = crypto_ct_eq(h, strlen(h), c->secret_hash, strlen(c->secret_hash));
	crypto_wipe(h, sizeof(h));
	return match;
}

/* ---- client authentication -------------------------------------------- */

static int
oauth_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* application/x-www-form-urlencoded decoding of s[0..n) (RFC 6749 §2.3.1
 * applies it inside Basic credentials).  0, or -1 on a bad escape, a NUL,
 * or no room. */
static int
oauth_formdecode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = oauth_hexval((unsigned char)s[i + 1]);
			lo = oauth_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || o + 1 >= outsz)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* "Basic <base64(id:secret)>" (RFC 7617, RFC 6749 §2.3.1) into id and secret. */
static int
oauth_basic_parse(const char *h, char *id, size_t idsz, char *secret, size_t secretsz)
{
	char b64[1024], raw[768];
	const char *colon;
	size_t n = 0;
	int len = -1, rc = -1;

	h += 6;
	while (*h == ' ')
		h++;
	/* Standard base64 into base64url for the one decoder we have. */
	for (; h[n] != '\0' && h[n] != '='; n++) {
		if (n + 1 >= sizeof(b64) || h[n] == '-' || h[n] == '_')
			goto out;
		b64[n] = h[n] == '+' ? '-' : h[n] == '/' ? '_' : h[n];
	}
	len = crypto_b64url_decode(b64, n, raw, sizeof(raw) - 1);
	while (h[n] == '=')
		n++;
	if (h[n] != '\0')
		goto out;
	if (len <= 0 || memchr(raw, '\0', (size_t)len) != NULL)
		goto out;
	raw[len] = '\0';
	colon = strchr(raw, ':');
	if (colon != NULL && colon != raw &&
	    oauth_formdecode(raw, (size_t)(colon - raw), id, idsz) == 0 &&
	    oauth_formdecode(colon + 1, strlen(colon + 1), secret, secretsz) == 0)
		rc = 0;
out:
	crypto_wipe(b64, sizeof(b64));
	crypto_wipe(raw, sizeof(raw));
	return rc;
}

/* The method the request used and the credentials it carried. */
static enum oauth_err
oauth_auth_creds(const struct http_req *req, const struct http_form *form, char *id,
		 size_t idsz, char *secret, size_t secretsz, enum oauth_auth_method *m,
		 const char **why)
{
	const char *hdr = http_header(req, "Authorization");
	const char *fid = http_form_get(form, "client_id", NULL);
	const char *fsec = http_form_get(form, "client_secret", NULL);

	fid = fid != NULL && fid[0] != '\0' ? fid : NULL;
	fsec = fsec != NULL && fsec[0] != '\0' ? fsec : NULL;
	if (hdr != NULL && hdr[0] != '\0') {
		*m = OAUTH_AUTH_SECRET_BASIC;
		if (strncasecmp(hdr, "Basic ", 6) != 0 ||
		    oauth_basic_parse(hdr, id, idsz, secret, secretsz) != 0)
			return *why = "malformed Basic credentials", OAUTH_E_CLIENT;
		/* RFC 6749 §2.3: one authentication method per request. */
		if (fsec != NULL)
			return *why = "more than one client authentication method", OAUTH_E_REQUEST;
		if (fid != NULL && strcmp(fid, id) != 0)
			return *why = "client_id differs from the Authorization header", OAUTH_E_REQUEST;
		return OAUTH_OK;
	}
	if (fid == NULL)
		return *why = "no client authentication", OAUTH_E_CLIENT;
	if (strlen(fid) >= idsz || (fsec != NULL && strlen(fsec) >= secretsz))
		return *why = "client credentials too long", OAUTH_E_CLIENT;
	memcpy(id, fid, strlen(fid) + 1);
	*m = OAUTH_AUTH_NONE;
	if (fsec != NULL) {
		memcpy(secret, fsec, strlen(fsec) + 1);
		*m = OAUTH_AUTH_SECRET_POST;
	}
	return OAUTH_OK;
}

enum oauth_err
oauth_client_authenticate(struct app *app, const struct http_req *req,
			  const struct http_form *form, struct oauth_client *out, const char **why)
{
	char id[OAUTH_ID_MAX] = "", secret[256] = "";
	enum oauth_auth_method m = OAUTH_AUTH_NONE;
	enum oauth_err e;
	int rc;

	memset(out, 0, sizeof(*out));
	e = oauth_auth_creds(req, form, id, sizeof(id), secret, sizeof(secret), &m, why);
	if (e != OAUTH_OK)
		goto out;
	rc = oauth_client_get(app, id, out);
	if (rc != STORE_OK) {
		e = rc == STORE_NOTFOUND ? OAUTH_E_CLIENT : oauth_err_from_store(rc);
		*why = rc == STORE_NOTFOUND ? "unknown client" : "store unavailable";
		goto out;
	}
	/* Authenticate exactly as registered: a confidential client that
	 * sends no secret must not pass as a public one. */
	if (out->auth_method != m) {
		e = OAUTH_E_CLIENT;
		*why = "client authentication method differs from the registration";
	} else if (m != OAUTH_AUTH_NONE && !oauth_client_secret_ok(app, out, secret)) {
		e = OAUTH_E_CLIENT;
		*why = "wrong client secret";
	}
out:
	crypto_wipe(secret, sizeof(secret));
	if (e != OAUTH_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

/* ---- authorization codes ------------------------------------------------ */

static int
oauth_hash(const struct app *app, const char *secret, char out[OAUTH_HASH_LEN + 1])
{
	return crypto_token_hash(&app->keys, secret, out, OAUTH_HASH_LEN + 1) == 0 ? 0 : -1;
}

struct oauth_issue {
	struct app *app;
	struct oauth_code *c;
	char *out;
	size_t outsz;
};

static int
oauth_issue_fn(struct store_txn *tx, void *arg)
{
	struct oauth_issue *is = arg;

	return oauth_code_issue_tx(is->app, tx, is->c, is->out, is->outsz);
}

int
oauth_code_issue(struct app *app, struct oauth_code *c, char *out, size_t outsz)
{
	struct oauth_issue is = {.app = app, .c = c, .out = out, .outsz = outsz};

	if (outsz < OAUTH_CODE_LEN + 1 || c->client_id[0] == '\0' || c->user[0] == '\0')
		return STORE_ERROR;
	return store_txn(app->store, 1, oauth_issue_fn, &is);
}

int
oauth_code_issue_tx(struct app *app, struct store_txn *tx, struct oauth_code *c, char *out,
		    size_t outsz)
{
	/* crypto_random_token wants room for the padded length; the code is 43 chars. */
	char code[CRYPTO_B64URL_LEN(32)], h[OAUTH_HASH_LEN + 1], *s = NULL;
	json_object *o;
	size_t len;
	int rc = STORE_ERROR;

	if (outsz < OAUTH_CODE_LEN + 1 || c->client_id[0] == '\0' || c->user[0] == '\0' ||
	    crypto_random_token(code, sizeof(code), 32) != 0 ||
	    oauth_hash(app, code, h) != 0 || (o = json_object_new_object()) == NULL)
		goto out;
	c->exp = store_txn_now(tx) + app->cfg.code_ttl;
	oauth_jadd_str(o, "c", c->client_id);
	oauth_jadd_str(o, "r", c->redirect_uri);
	oauth_jadd_str(o, "pc", c->code_challenge);
	oauth_jadd_str(o, "res", c->resource);
	oauth_jadd_str(o, "u", c->user);
	oauth_jadd_str(o, "n", c->name);
	json_object_object_add(o, "s", json_object_new_int64(c->scope));
	if ((s = oauth_json_take(o, &len)) == NULL)
		goto out;
	rc = store_txn_put(tx, STORE_CODE, h, OAUTH_HASH_LEN, s, len, c->exp, STORE_PUT_INSERT);
	if (rc == STORE_EXISTS) /* 256 random bits collided: the CSPRNG is broken */
		rc = STORE_ERROR;
	if (rc == STORE_OK)
		memcpy(out, code, OAUTH_CODE_LEN + 1);
out:
	crypto_wipe(code, sizeof(code));
	free(s);
	return rc;
}

static int
oauth_code_decode(json_object *o, struct oauth_code *out)
{
	if (oauth_jstr(o, "c", out->client_id, sizeof(out->client_id)) <= 0 ||
	    oauth_jstr(o, "u", out->user, sizeof(out->user)) <= 0)
		return -1;
	if (oauth_jstr(o, "r", out->redirect_uri, sizeof(out->redirect_uri)) < 0 ||
	    oauth_jstr(o, "pc", out->code_challenge, sizeof(out->code_challenge)) < 0 ||
	    oauth_jstr(o, "res", out->resource, sizeof(out->resource)) < 0 ||
	    oauth_jstr(o, "n", out->name, sizeof(out->name)) < 0)
		return -1;
	return 0;
}

struct oauth_redeem {
	struct oauth_code *out;
	char grant[TOKEN_GRANT_ID_LEN + 1]; /* new grant id, or the replayed code's */
	time_t tomb_exp;
	int replayed;
	char tomb[128]; /* the used-code record written back */
};

/*
 * The used-code record ("tombstone") replaces the code in the same atomic
 * step that hands the code out, so exactly one caller ever sees it live.
 * It names the grant the code may create; a replay marks it, which both
 * tells oauth_grant_from_code not to create that grant (if the winner has
 * not yet) and lets the replayer's request revoke it (if it has).
 */
static int
oauth_redeem_fn(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
		void *arg)
{
	struct oauth_redeem *r = arg;
	json_object *o = oauth_record_parse(cur);
	int n, rc = STORE_ERROR;

	if (cur == NULL)
		return STORE_NOTFOUND;
	if (o == NULL)
		goto out;
	if (oauth_jint(o, "used") == 1) {
		r->replayed = 1;
		if (oauth_jstr(o, "g", r->grant, sizeof(r->grant)) <= 0)
			goto out;
	} else {
		if (oauth_code_decode(o, r->out) != 0)
			goto out;
		r->out->scope = (unsigned)oauth_jint(o, "s");
		r->out->exp = cur->expires;
		*newexp = r->tomb_exp;
	}
	n = snprintf(r->tomb, sizeof(r->tomb), "{\"used\":1,\"g\":\"%s\",\"rp\":%d}", r->grant,
		     r->replayed);
	if (n < 0 || (size_t)n >= sizeof(r->tomb))
		goto out;
	*newdata = r->tomb;
	*newlen = (size_t)n;
	rc = STORE_OK;
out:
	if (rc == STORE_ERROR)
		log_msg(LOG_ERROR, "msg=\"stored authorization code record is invalid\"");
	json_object_put(o);
	return rc;
}

/* How long grants from one authorization can live; the used-code record
 * is kept that long so a late replay still finds what to revoke. */
static long
oauth_grant_ttl(const struct config *cfg)
{
	return cfg->refresh_token_ttl > cfg->access_token_ttl ? cfg->refresh_token_ttl
							       : cfg->access_token_ttl;
}

int
oauth_code_take(struct app *app, const char *code, struct oauth_code *out, const char **why)
{
	struct oauth_redeem r = {.out = out};
	char h[OAUTH_HASH_LEN + 1];
	size_t n = code != NULL ? strlen(code) : 0;
	const char *dummy = NULL;
	int rc;

	why = why != NULL ? why : &dummy;
	*why = "unknown or expired code";
	memset(out, 0, sizeof(*out));
	if (n != OAUTH_CODE_LEN || !valid_b64url_chars(code, n))
		return STORE_NOTFOUND;
	if (oauth_hash(app, code, h) != 0 || token_grant_id_new(r.grant) != 0)
		return STORE_ERROR;
	r.tomb_exp = time(NULL) + oauth_grant_ttl(&app->cfg);
	rc = store_update(app->store, STORE_CODE, h, OAUTH_HASH_LEN, oauth_redeem_fn, &r);
	if (rc == STORE_OK && r.replayed) {
		/* RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: revoke what the code gave. */
		rc = oauth_grant_revoke(app, r.grant);
		*why = rc == STORE_OK ? "code replayed; its grant was revoked"
				      : "code replayed; no grant had been issued from it";
		memset(out, 0, sizeof(*out));
		return rc == STORE_BUSY || rc == STORE_ERROR ? rc : STORE_NOTFOUND;
	}
	if (rc != STORE_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	memcpy(out->grant_id, r.grant, sizeof(r.grant));
	*why = NULL;
	return STORE_OK;
}

int
oauth_code_redeem(struct app *app, const char *code, struct oauth_code *out)
{
	return oauth_code_take(app, code, out, NULL);
}

/* ---- consents -------------------------------------------------------- */

/*
 * Key: user NUL SHA-256(client_id NUL redirect key), a fixed 33 bytes after
 * the user however long the client's URIs are (a registration may carry
 * 1023-byte redirect URIs; the store key is capped at STORE_KEY_MAX).  The
 * redirect key drops the port of an http loopback URI (RFC 8252 §7.3), so a
 * native app that picks a new port each run keeps one record.  The user
 * comes first so that a user's consents are one prefix scan.
 */
#define OAUTH_CONSENT_KEY_MAX (TOKEN_FIELD_MAX + 1 + CRYPTO_SHA256_LEN)
#define OAUTH_CONSENT_SCAN_MAX 256 /* records collected per pass of a revocation */

static int
oauth_consent_key(const char *user, const char *client_id, const char *redirect_uri,
		  unsigned char key[OAUTH_CONSENT_KEY_MAX], size_t *keylen,
		  char rkey[OAUTH_URI_MAX])
{
	size_t lu = user != NULL ? strlen(user) : 0, lc, lr;
	unsigned char msg[OAUTH_ID_MAX + OAUTH_URI_MAX];

	if (lu == 0 || lu > TOKEN_FIELD_MAX || client_id == NULL || redirect_uri == NULL ||
	    consent_redirect_key(redirect_uri, rkey, OAUTH_URI_MAX) != 0)
		return -1;
	lc = strlen(client_id);
	lr = strlen(rkey);
	if (lc == 0 || lr == 0 || lc >= OAUTH_ID_MAX)
		return -1;
	memcpy(msg, client_id, lc);
	msg[lc] = '\0';
	memcpy(msg + lc + 1, rkey, lr);
	memcpy(key, user, lu);
	key[lu] = '\0';
	if (crypto_sha256(msg, lc + 1 + lr, key + lu + 1) != 0)
		return -1;
	*keylen = lu + 1 + CRYPTO_SHA256_LEN;
	return 0;
}

static char *
oauth_consent_encode(const struct oauth_consent *c, size_t *len)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	oauth_jadd_str(o, "id", c->id);
	oauth_jadd_str(o, "c", c->client_id);
	oauth_jadd_str(o, "r", c->redirect_key);
	json_object_object_add(o, "s", json_object_new_int64(c->scope));
	json_object_object_add(o, "at", json_object_new_int64(c->at));
	return oauth_json_take(o, len);
}

static int
oauth_consent_decode(const struct store_val *v, struct oauth_consent *out)
{
	json_object *o = oauth_record_parse(v);
	int ok;

	memset(out, 0, sizeof(*out));
	ok = o != NULL && oauth_jstr(o, "id", out->id, sizeof(out->id)) > 0 &&
	     oauth_jstr(o, "c", out->client_id, sizeof(out->client_id)) > 0 &&
	     oauth_jstr(o, "r", out->redirect_key, sizeof(out->redirect_key)) > 0;
	if (ok) {
		out->scope = (unsigned)oauth_jint(o, "s");
		out->at = (time_t)oauth_jint(o, "at");
		out->exp = v->expires;
	} else {
		memset(out, 0, sizeof(*out));
	}
	json_object_put(o);
	return ok ? STORE_OK : STORE_ERROR;
}

struct oauth_consent_op {
	unsigned char key[OAUTH_CONSENT_KEY_MAX];
	size_t keylen;
	long ttl;
	struct oauth_consent *c;
};

static int
oauth_consent_get_fn(struct store_txn *tx, void *arg)
{
	struct oauth_consent_op *op = arg;
	struct store_val v = {0};
	int rc = store_txn_get(tx, STORE_CONSENT, op->key, op->keylen, &v);

	if (rc == STORE_OK && oauth_consent_decode(&v, op->c) != STORE_OK) {
		log_msg(LOG_ERROR, "msg=\"stored consent record is invalid\"");
		rc = STORE_NOTFOUND; /* asked again, and the next approval replaces it */
	}
	store_val_free(&v);
	return rc;
}

/* Find or create, in one transaction: an existing record keeps its id (the
 * cookies that name it stay good) and gains the new scope. */
static int
oauth_consent_put_fn(struct store_txn *tx, void *arg)
{
	struct oauth_consent_op *op = arg;
	struct oauth_consent old;
	struct oauth_consent_op get = *op;
	size_t len;
	char *s;
	int rc;

	get.c = &old;
	rc = oauth_consent_get_fn(tx, &get);
	if (rc == STORE_BUSY || rc == STORE_ERROR)
		return rc;
	if (rc == STORE_OK) {
		memcpy(op->c->id, old.id, sizeof(op->c->id));
		op->c->scope |= old.scope;
	} else if (crypto_random_token(op->c->id, sizeof(op->c->id), 16) != 0) {
		return STORE_ERROR;
	}
	op->c->at = store_txn_now(tx);
	op->c->exp = op->c->at + op->ttl;
	if ((s = oauth_consent_encode(op->c, &len)) == NULL)
		return STORE_ERROR;
	rc = store_txn_put(tx, STORE_CONSENT, op->key, op->keylen, s, len, op->c->exp,
			   STORE_PUT_REPLACE);
	free(s);
	return rc;
}

/* The record's key and the fields known before the store is read. */
static int
oauth_consent_prepare(struct app *app, const char *user, const char *client_id,
		      const char *redirect_uri, unsigned scope, struct oauth_consent_op *op)
{
	memset(op->c, 0, sizeof(*op->c));
	op->ttl = app->cfg.consent_ttl;
	if (oauth_consent_key(user, client_id, redirect_uri, op->key, &op->keylen,
			      op->c->redirect_key) != 0)
		return STORE_ERROR;
	snprintf(op->c->client_id, sizeof(op->c->client_id), "%s", client_id);
	op->c->scope = scope;
	return STORE_OK;
}

/* Record a consent in tx, or in a transaction of its own when tx is NULL. */
static int
oauth_consent_record_in(struct app *app, struct store_txn *tx, const char *user,
			const char *client_id, const char *redirect_uri, unsigned scope,
			struct oauth_consent *out)
{
	struct oauth_consent_op op;
	struct oauth_consent tmp = {0};
	int rc;

	op.c = out != NULL ? out : &tmp;
	if (oauth_consent_prepare(app, user, client_id, redirect_uri, scope, &op) != STORE_OK) {
		memset(op.c, 0, sizeof(*op.c));
		return STORE_ERROR;
	}
	/* consent_ttl = 0: never remember a consent (id stays ""). */
	if (op.ttl <= 0)
		return STORE_OK;
	rc = tx != NULL ? oauth_consent_put_fn(tx, &op)
			: store_txn(app->store, 1, oauth_consent_put_fn, &op);
	if (rc != STORE_OK)
		memset(op.c, 0, sizeof(*op.c));
	return rc;
}

int
oauth_consent_record(struct app *app, const char *user, const char *client_id,
		     const char *redirect_uri, unsigned scope, struct oauth_consent *out)
{
	return oauth_consent_record_in(app, NULL, user, client_id, redirect_uri, scope, out);
}

int
oauth_consent_record_tx(struct app *app, struct store_txn *tx, const char *user,
			const char *client_id, const char *redirect_uri, unsigned scope,
			struct oauth_consent *out)
{
	return oauth_consent_record_in(app, tx, user, client_id, redirect_uri, scope, out);
}

int
oauth_consent_get(struct app *app, const char *user, const char *client_id,
		  const char *redirect_uri, struct oauth_consent *out)
{
	struct oauth_consent_op op = {.c = out};
	char rkey[OAUTH_URI_MAX];

	memset(out, 0, sizeof(*out));
	if (oauth_consent_key(user, client_id, redirect_uri, op.key, &op.keylen, rkey) != 0)
		return STORE_NOTFOUND;
	return store_txn(app->store, 0, oauth_consent_get_fn, &op);
}

int
oauth_consent_covers(struct app *app, const char *user, const char *client_id,
		     const char *redirect_uri, const char *id, unsigned want)
{
	struct oauth_consent c;
	int rc;

	if (id == NULL || *id == '\0')
		return STORE_NOTFOUND;
	rc = oauth_consent_get(app, user, client_id, redirect_uri, &c);
	/* A cookie names the record it was issued for: a revoked record (even
	 * one approved again since, with a new id) does not count. */
	if (rc == STORE_OK && (!crypto_ct_eq(c.id, strlen(c.id), id, strlen(id)) ||
			       (want & ~c.scope) != 0))
		rc = STORE_NOTFOUND;
	return rc;
}

/* Scan state shared by listing and revocation. */
struct oauth_consent_scan {
	size_t prefixlen;
	const char *client_id;       /* NULL: every client */
	struct oauth_consent *list;  /* listing: where to copy */
	size_t max, n, total;
	unsigned char (*keys)[CRYPTO_SHA256_LEN]; /* revocation: the hashes to delete */
};

static int
oauth_consent_scan_fn(const void *key, size_t keylen, const struct store_val *val, void *arg)
{
	struct oauth_consent_scan *sc = arg;
	struct oauth_consent c;
	int good;

	if (keylen != sc->prefixlen + CRYPTO_SHA256_LEN)
		return 0;
	good = oauth_consent_decode(val, &c) == STORE_OK;
	/* A damaged record is not listed, but revoking everything removes it. */
	if (!good && !(sc->keys != NULL && sc->client_id == NULL))
		return 0;
	if (sc->client_id != NULL && strcmp(c.client_id, sc->client_id) != 0)
		return 0;
	sc->total++;
	if (sc->list != NULL && sc->n < sc->max)
		sc->list[sc->n++] = c;
	if (sc->keys != NULL && sc->n < sc->max)
		memcpy(sc->keys[sc->n++], (const unsigned char *)key + sc->prefixlen,
		       CRYPTO_SHA256_LEN);
	/* Revocation collects a batch, deletes it, and scans again. */
	return sc->keys != NULL && sc->n == sc->max ? 1 : 0;
}

/* The scan prefix "user NUL" into key. */
static int
oauth_consent_prefix(const char *user, unsigned char key[OAUTH_CONSENT_KEY_MAX], size_t *len)
{
	size_t lu = user != NULL ? strlen(user) : 0;

	if (lu == 0 || lu > TOKEN_FIELD_MAX)
		return -1;
	memcpy(key, user, lu);
	key[lu] = '\0';
	*len = lu + 1;
	return 0;
}

struct oauth_consent_listop {
	unsigned char key[OAUTH_CONSENT_KEY_MAX];
	struct oauth_consent_scan sc;
};

static int
oauth_consent_list_fn(struct store_txn *tx, void *arg)
{
	struct oauth_consent_listop *op = arg;
	int rc = store_txn_each(tx, STORE_CONSENT, op->key, op->sc.prefixlen,
				oauth_consent_scan_fn, &op->sc);

	return rc == STORE_ERROR || rc == STORE_BUSY ? rc : STORE_OK;
}

int
oauth_consent_list(struct app *app, const char *user, struct oauth_consent *out, size_t max,
		   size_t *n, size_t *total)
{
	struct oauth_consent_listop op;
	int rc;

	memset(&op, 0, sizeof(op));
	*n = 0;
	if (total != NULL)
		*total = 0;
	if (oauth_consent_prefix(user, op.key, &op.sc.prefixlen) != 0)
		return STORE_NOTFOUND;
	op.sc.list = out;
	op.sc.max = max;
	rc = store_txn(app->store, 0, oauth_consent_list_fn, &op);
	if (rc == STORE_OK) {
		*n = op.sc.n;
		if (total != NULL)
			*total = op.sc.total;
	}
	return rc;
}

static int
oauth_consent_revoke_fn(struct store_txn *tx, void *arg)
{
	struct oauth_consent_listop *op = arg;
	size_t removed = 0;
	int rc, passes = 0;

	/* The scan callback may not write: collect a batch, delete it, repeat.
	 * Each full pass deletes max records, so the loop ends. */
	do {
		op->sc.n = 0;
		rc = store_txn_each(tx, STORE_CONSENT, op->key, op->sc.prefixlen,
				    oauth_consent_scan_fn, &op->sc);
		if (rc == STORE_ERROR || rc == STORE_BUSY)
			return rc;
		for (size_t i = 0; i < op->sc.n; i++) {
			memcpy(op->key + op->sc.prefixlen, op->sc.keys[i], CRYPTO_SHA256_LEN);
			if (store_txn_del(tx, STORE_CONSENT, op->key,
					  op->sc.prefixlen + CRYPTO_SHA256_LEN) == STORE_OK)
				removed++;
		}
	} while (op->sc.n == op->sc.max && ++passes < 4096);
	op->sc.total = removed;
	return STORE_OK;
}

int
oauth_consent_revoke(struct app *app, const char *user, const char *client_id, size_t *removed)
{
	struct oauth_consent_listop op;
	int rc;

	memset(&op, 0, sizeof(op));
	if (removed != NULL)
		*removed = 0;
	if (oauth_consent_prefix(user, op.key, &op.sc.prefixlen) != 0)
		return STORE_NOTFOUND;
	op.sc.client_id = client_id;
	op.sc.max = OAUTH_CONSENT_SCAN_MAX;
	op.sc.keys = calloc(OAUTH_CONSENT_SCAN_MAX, sizeof(*op.sc.keys));
	if (op.sc.keys == NULL)
		return STORE_ERROR;
	rc = store_txn(app->store, 1, oauth_consent_revoke_fn, &op);
	if (rc == STORE_OK && removed != NULL)
		*removed = op.sc.total;
	free(op.sc.keys);
	return rc;
}

/* ---- grants ------------------------------------------------------------ */

/* A grant record in memory. */
struct oauth_grant {
	char id[TOKEN_GRANT_ID_LEN + 1];
	char user[TOKEN_FIELD_MAX + 1];
	char name[TOKEN_FIELD_MAX + 1];
	char client_id[OAUTH_ID_MAX];
	char resource[OAUTH_URI_MAX];
	unsigned scope;
	char rh[OAUTH_HASH_LEN + 1]; /* current refresh token hash, "" none */
	char ph[OAUTH_HASH_LEN + 1]; /* the one rotated out last, "" none */
	time_t rotated_at;
	char pair[OAUTH_PAIR_MAX];   /* sealed tokens issued at that rotation */
	time_t created, exp;
};

static char *
oauth_grant_encode(const struct oauth_grant *g, size_t *len)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	oauth_jadd_str(o, "u", g->user);
	oauth_jadd_str(o, "n", g->name);
	oauth_jadd_str(o, "c", g->client_id);
	oauth_jadd_str(o, "res", g->resource);
	json_object_object_add(o, "s", json_object_new_int64(g->scope));
	oauth_jadd_str(o, "rh", g->rh);
	oauth_jadd_str(o, "ph", g->ph);
	json_object_object_add(o, "rt", json_object_new_int64(g->rotated_at));
	oauth_jadd_str(o, "pair", g->pair);
	json_object_object_add(o, "ct", json_object_new_int64(g->created));
	return oauth_json_take(o, len);
}

static int
oauth_grant_decode(const struct store_val *v, const char *id, struct oauth_grant *g)
{
	json_object *o = oauth_record_parse(v);
	int ok;

	memset(g, 0, sizeof(*g));
	ok = o != NULL && oauth_jstr(o, "u", g->user, sizeof(g->user)) > 0 &&
	     oauth_jstr(o, "n", g->name, sizeof(g->name)) >= 0 &&
	     oauth_jstr(o, "c", g->client_id, sizeof(g->client_id)) > 0 &&
	     oauth_jstr(o, "res", g->resource, sizeof(g->resource)) > 0 &&
	     oauth_jstr(o, "rh", g->rh, sizeof(g->rh)) >= 0 &&
	     oauth_jstr(o, "ph", g->ph, sizeof(g->ph)) >= 0 &&
	     oauth_jstr(o, "pair", g->pair, sizeof(g->pair)) >= 0;
	if (ok) {
		g->scope = (unsigned)oauth_jint(o, "s");
		g->rotated_at = (time_t)oauth_jint(o, "rt");
		g->created = (time_t)oauth_jint(o, "ct");
		g->exp = v->expires;
		snprintf(g->id, sizeof(g->id), "%s", id);
	} else {
		log_msg(LOG_ERROR, "msg=\"stored grant record is invalid\"");
	}
	json_object_put(o);
	return ok ? STORE_OK : STORE_ERROR;
}

static int
oauth_grant_get_tx(struct store_txn *tx, const char *id, struct oauth_grant *g)
{
	struct store_val v = {0};
	int rc = store_txn_get(tx, STORE_GRANT, id, strlen(id), &v);

	if (rc == STORE_OK)
		rc = oauth_grant_decode(&v, id, g);
	store_val_free(&v);
	return rc;
}

static int
oauth_grant_put_tx(struct store_txn *tx, const struct oauth_grant *g, int flags)
{
	size_t len;
	char *s = oauth_grant_encode(g, &len);
	int rc;

	if (s == NULL)
		return STORE_ERROR;
	rc = store_txn_put(tx, STORE_GRANT, g->id, strlen(g->id), s, len, g->exp, flags);
	crypto_wipe(s, len);
	free(s);
	return rc;
}

/* Delete grant id and the refresh entries it knows of.  Entries of older
 * generations point to a grant that no longer exists and expire on their
 * own; until then they still resolve to "revoked". */
static int
oauth_grant_revoke_tx(struct store_txn *tx, const char *id)
{
	struct oauth_grant g;
	int rc = oauth_grant_get_tx(tx, id, &g);

	if (rc == STORE_NOTFOUND || rc == STORE_BUSY)
		return rc;
	if (rc == STORE_OK && g.rh[0] != '\0' &&
	    store_txn_del(tx, STORE_TOKEN, g.rh, strlen(g.rh)) == STORE_ERROR)
		rc = STORE_ERROR;
	if (rc == STORE_OK && g.ph[0] != '\0' &&
	    store_txn_del(tx, STORE_TOKEN, g.ph, strlen(g.ph)) == STORE_ERROR)
		rc = STORE_ERROR;
	/* Even a damaged record goes: revocation must not fail open. */
	if (store_txn_del(tx, STORE_GRANT, id, strlen(id)) == STORE_ERROR)
		rc = STORE_ERROR;
	crypto_wipe(&g, sizeof(g));
	return rc == STORE_ERROR ? STORE_ERROR : STORE_OK;
}

static int
oauth_revoke_fn(struct store_txn *tx, void *arg)
{
	return oauth_grant_revoke_tx(tx, arg);
}

int
oauth_grant_revoke(struct app *app, const char *grant_id)
{
	size_t n = grant_id != NULL ? strlen(grant_id) : 0;

	if (n != TOKEN_GRANT_ID_LEN || !valid_b64url_chars(grant_id, n))
		return STORE_NOTFOUND;
	return store_txn(app->store, 1, oauth_revoke_fn, (void *)(uintptr_t)grant_id);
}

/* Mint an access token (scope, expiry capped by the grant's) and, when
 * refresh, a new refresh token, into out; sets the grant's new hashes. */
static int
oauth_mint(struct app *app, struct oauth_grant *g, unsigned scope, time_t now, int refresh,
	   struct oauth_tokens *out, time_t *access_exp)
{
	struct token_access acc;
	char resource[CONFIG_STR_MAX + 8];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&acc, 0, sizeof(acc));
	if (metadata_resource(&app->cfg, resource, sizeof(resource)) != 0)
		return -1;
	memcpy(acc.grant_id, g->id, sizeof(acc.grant_id));
	snprintf(acc.user, sizeof(acc.user), "%s", g->user);
	snprintf(acc.name, sizeof(acc.name), "%s", g->name);
	if (strlen(g->client_id) > TOKEN_FIELD_MAX)
		return -1;
	memcpy(acc.client_id, g->client_id, strlen(g->client_id) + 1);
	acc.scope = scope;
	acc.exp = now + app->cfg.access_token_ttl;
	if (acc.exp > g->exp)
		acc.exp = g->exp;
	if (token_access_issue(&app->keys, resource, &acc, out->access, sizeof(out->access)) != 0)
		goto out;
	if (refresh) {
		memcpy(out->refresh, OAUTH_REFRESH_PREFIX, sizeof(OAUTH_REFRESH_PREFIX) - 1);
		if (crypto_random_token(out->refresh + sizeof(OAUTH_REFRESH_PREFIX) - 1,
					sizeof(out->refresh) - sizeof(OAUTH_REFRESH_PREFIX) + 1,
					OAUTH_REFRESH_RAND) != 0 ||
		    oauth_hash(app, out->refresh, g->rh) != 0)
			goto out;
	}
	out->scope = scope;
	out->expires_in = (long)(acc.exp - now);
	*access_exp = acc.exp;
	rc = 0;
out:
	crypto_wipe(&acc, sizeof(acc));
	if (rc != 0)
		crypto_wipe(out, sizeof(*out));
	return rc;
}

/* Write a new grant g and its refresh index entry (g->rh, if any). */
static int
oauth_grant_write_tx(struct store_txn *tx, const struct oauth_grant *g)
{
	int rc = STORE_OK;

	/* No rollback in GDBM: the grant record is what makes the access and
	 * refresh tokens valid, so it is written last; the refresh index entry
	 * before it is harmless alone (its token was never handed out) and is
	 * removed again if the grant cannot be written. */
	if (g->rh[0] != '\0')
		rc = store_txn_put(tx, STORE_TOKEN, g->rh, OAUTH_HASH_LEN, g->id, strlen(g->id),
				   g->exp, STORE_PUT_INSERT);
	if (rc == STORE_OK) {
		rc = oauth_grant_put_tx(tx, g, STORE_PUT_INSERT);
		if (rc != STORE_OK && g->rh[0] != '\0')
			store_txn_del(tx, STORE_TOKEN, g->rh, OAUTH_HASH_LEN);
	}
	return rc == STORE_EXISTS ? STORE_ERROR : rc;
}

/* The grant a redeemed code c creates at now, and its first tokens. */
static int
oauth_grant_prepare(struct app *app, const struct oauth_code *c, int with_refresh, time_t now,
		    struct oauth_grant *g, struct oauth_tokens *out)
{
	time_t aexp;

	snprintf(g->id, sizeof(g->id), "%s", c->grant_id);
	snprintf(g->user, sizeof(g->user), "%s", c->user);
	snprintf(g->name, sizeof(g->name), "%s", c->name);
	snprintf(g->client_id, sizeof(g->client_id), "%s", c->client_id);
	if (metadata_resource(&app->cfg, g->resource, sizeof(g->resource)) != 0)
		return -1;
	g->scope = c->scope;
	g->created = now;
	/* Without a refresh token the grant ends with its access token. */
	g->exp = now + (with_refresh ? oauth_grant_ttl(&app->cfg) : app->cfg.access_token_ttl);
	return oauth_mint(app, g, c->scope, now, with_refresh, out, &aexp);
}

struct oauth_create {
	const char *code_hash;
	struct oauth_grant *g;
};

static int
oauth_create_fn(struct store_txn *tx, void *arg)
{
	struct oauth_create *c = arg;
	struct store_val v = {0};
	json_object *o = NULL;
	char gid[TOKEN_GRANT_ID_LEN + 1];
	int rc = store_txn_get(tx, STORE_CODE, c->code_hash, OAUTH_HASH_LEN, &v);

	/* Only while the used-code record still names this grant, unreplayed. */
	if (rc == STORE_OK) {
		o = oauth_record_parse(&v);
		rc = o != NULL && oauth_jint(o, "used") == 1 && oauth_jint(o, "rp") == 0 &&
				     oauth_jstr(o, "g", gid, sizeof(gid)) > 0 &&
				     strcmp(gid, c->g->id) == 0
			     ? STORE_OK
			     : STORE_NOTFOUND;
	}
	json_object_put(o);
	store_val_free(&v);
	return rc != STORE_OK ? rc : oauth_grant_write_tx(tx, c->g);
}

enum oauth_err
oauth_grant_from_code(struct app *app, const char *code, const struct oauth_code *c,
		      int with_refresh, struct oauth_tokens *out)
{
	struct oauth_grant *g = calloc(1, sizeof(*g));
	struct oauth_create cr = {.g = g};
	char h[OAUTH_HASH_LEN + 1];
	enum oauth_err e = OAUTH_E_SERVER;
	int rc;

	memset(out, 0, sizeof(*out));
	if (g == NULL || oauth_hash(app, code, h) != 0 ||
	    oauth_grant_prepare(app, c, with_refresh, time(NULL), g, out) != 0)
		goto out;
	cr.code_hash = h;
	rc = store_txn(app->store, 1, oauth_create_fn, &cr);
	e = rc == STORE_NOTFOUND ? OAUTH_E_GRANT : oauth_err_from_store(rc);
out:
	if (e != OAUTH_OK)
		crypto_wipe(out, sizeof(*out));
	if (g != NULL)
		crypto_wipe(g, sizeof(*g));
	free(g);
	return e;
}

/* ---- code exchange in one transaction ----------------------------------- */

struct oauth_exchange {
	struct app *app;
	const char *code_hash;
	struct oauth_redeem r;
	struct oauth_code code;
	oauth_code_check_fn check;
	void *arg;
	int with_refresh;
	struct oauth_grant g;
	struct oauth_tokens *out;
	enum oauth_err err; /* for a refusal (the callback then returns STORE_NOTFOUND) */
	const char *why;
};

/* A replayed code: its used-code record is marked (already done by the
 * caller) and the grant it created, if any, ends now. */
static int
oauth_exchange_replay(struct store_txn *tx, struct oauth_exchange *x)
{
	int rc = oauth_grant_revoke_tx(tx, x->r.grant);

	if (rc == STORE_ERROR)
		return rc;
	/* RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: revoke what the code gave. */
	x->why = rc == STORE_OK ? "code replayed; its grant was revoked"
				: "code replayed; no grant had been issued from it";
	return STORE_NOTFOUND;
}

/*
 * Take the code (the used-code record replaces it, exactly as
 * oauth_code_take does), check it, create the grant: all under one lock, so
 * one durable write covers the whole exchange and no replay can slip in
 * between the take and the grant.  The code is used up even when the check
 * refuses it (RFC 6749 §4.1.2: a code is good for one attempt).
 */
static int
oauth_exchange_fn(struct store_txn *tx, void *arg)
{
	struct oauth_exchange *x = arg;
	struct store_val v = {0};
	void *newdata = NULL;
	size_t newlen = 0;
	time_t newexp;
	int rc = store_txn_get(tx, STORE_CODE, x->code_hash, OAUTH_HASH_LEN, &v);

	if (rc != STORE_OK)
		return rc;
	newexp = v.expires;
	x->r.tomb_exp = store_txn_now(tx) + oauth_grant_ttl(&x->app->cfg);
	rc = oauth_redeem_fn(&v, &newdata, &newlen, &newexp, &x->r);
	store_val_free(&v);
	if (rc == STORE_OK)
		rc = store_txn_put(tx, STORE_CODE, x->code_hash, OAUTH_HASH_LEN, newdata, newlen,
				   newexp, STORE_PUT_REPLACE);
	if (rc != STORE_OK)
		return rc;
	if (x->r.replayed)
		return oauth_exchange_replay(tx, x);
	memcpy(x->code.grant_id, x->r.grant, sizeof(x->r.grant));
	if (x->check != NULL && (x->why = x->check(&x->code, x->arg)) != NULL)
		return STORE_NOTFOUND;
	if (oauth_grant_prepare(x->app, &x->code, x->with_refresh, store_txn_now(tx), &x->g,
				x->out) != 0) {
		x->err = OAUTH_E_SERVER;
		x->why = "could not mint the tokens";
		return STORE_ERROR;
	}
	return oauth_grant_write_tx(tx, &x->g);
}

enum oauth_err
oauth_code_exchange(struct app *app, const char *code, oauth_code_check_fn check, void *arg,
		    int with_refresh, struct oauth_tokens *out, const char **why)
{
	struct oauth_exchange *x = calloc(1, sizeof(*x));
	char h[OAUTH_HASH_LEN + 1];
	size_t n = code != NULL ? strlen(code) : 0;
	const char *dummy = NULL;
	enum oauth_err e = OAUTH_E_SERVER;
	int rc;

	why = why != NULL ? why : &dummy;
	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (x == NULL)
		return OAUTH_E_SERVER;
	x->why = "unknown or expired code";
	if (n != OAUTH_CODE_LEN || !valid_b64url_chars(code, n)) {
		e = OAUTH_E_GRANT;
		goto out;
	}
	if (oauth_hash(app, code, h) != 0 || token_grant_id_new(x->r.grant) != 0)
		goto out;
	x->app = app;
	x->code_hash = h;
	x->r.out = &x->code;
	x->check = check;
	x->arg = arg;
	x->with_refresh = with_refresh;
	x->out = out;
	x->err = OAUTH_E_GRANT;
	rc = store_txn(app->store, 1, oauth_exchange_fn, x);
	e = rc == STORE_NOTFOUND ? x->err : oauth_err_from_store(rc);
out:
	*why = e == OAUTH_OK ? NULL : x->why;
	if (e != OAUTH_OK)
		crypto_wipe(out, sizeof(*out));
	crypto_wipe(x, sizeof(*x));
	free(x);
	return e;
}

/* ---- refresh rotation -------------------------------------------------- */

static int
oauth_refresh_shape_ok(const char *rt)
{
	size_t n = rt != NULL ? strlen(rt) : 0, p = sizeof(OAUTH_REFRESH_PREFIX) - 1;

	return n == OAUTH_REFRESH_LEN && memcmp(rt, OAUTH_REFRESH_PREFIX, p) == 0 &&
	       valid_b64url_chars(rt + p, n - p);
}

/* The token's hash under every key (index i = key i) and the grant it maps to. */
struct oauth_rt_find {
	size_t nh;
	char h[CRYPTO_KEYS_MAX][OAUTH_HASH_LEN + 1];
	size_t hit;                            /* index of the hash that was found */
	char gid[TOKEN_GRANT_ID_LEN + 1];
};

static int
oauth_rt_hashes(const struct app *app, const char *rt, struct oauth_rt_find *f)
{
	memset(f, 0, sizeof(*f));
	for (f->nh = 0; f->nh < app->keys.nkeys && f->nh < CRYPTO_KEYS_MAX; f->nh++)
		if (crypto_token_hash_i(&app->keys, f->nh, rt, f->h[f->nh], OAUTH_HASH_LEN + 1) != 0)
			return -1;
	return f->nh > 0 ? 0 : -1;
}

static int
oauth_rt_find_tx(struct store_txn *tx, struct oauth_rt_find *f)
{
	for (size_t i = 0; i < f->nh; i++) {
		struct store_val v = {0};
		int rc = store_txn_get(tx, STORE_TOKEN, f->h[i], OAUTH_HASH_LEN, &v);

		if (rc == STORE_OK && (v.len != TOKEN_GRANT_ID_LEN ||
				       !valid_b64url_chars(v.data, v.len)))
			rc = STORE_ERROR;
		if (rc == STORE_OK) {
			memcpy(f->gid, v.data, v.len);
			f->gid[v.len] = '\0';
			f->hit = i;
		}
		store_val_free(&v);
		if (rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_NOTFOUND;
}

struct oauth_refresh {
	struct app *app;
	const struct oauth_client *client;
	struct oauth_rt_find f;
	int has_scope;
	unsigned scope;
	struct oauth_tokens *out;
	struct oauth_grant g;
	enum oauth_err err;
	const char *why;
};

static int
oauth_hash_eq(const char *a, const char *b)
{
	return a[0] != '\0' && crypto_ct_eq(a, strlen(a), b, strlen(b));
}

/* The pair issued at the last rotation, sealed so that a retry inside the
 * grace window can be answered with exactly the same tokens. */
static int
oauth_pair_seal(struct app *app, struct oauth_grant *g, const struct oauth_tokens *t,
		time_t access_exp)
{
	unsigned char sealed[OAUTH_PAIR_MAX];
	char pt[TOKEN_ACCESS_MAX + OAUTH_REFRESH_MAX + 64];
	int n, m, rc = -1;

	n = snprintf(pt, sizeof(pt), "%lld %u %s %s", (long long)access_exp, t->scope, t->access,
		     t->refresh);
	if (n < 0 || (size_t)n >= sizeof(pt))
		goto out;
	m = crypto_seal(&app->keys, oauth_pair_purpose, g->id, strlen(g->id), pt, (size_t)n,
			sealed, sizeof(sealed));
	if (m < 0 || crypto_b64url_encode(sealed, (size_t)m, g->pair, sizeof(g->pair)) < 0)
		goto out;
	rc = 0;
out:
	crypto_wipe(pt, sizeof(pt));
	return rc;
}

static int
oauth_pair_open(struct app *app, const struct oauth_grant *g, time_t now, struct oauth_tokens *t)
{
	unsigned char sealed[OAUTH_PAIR_MAX];
	char pt[TOKEN_ACCESS_MAX + OAUTH_REFRESH_MAX + 64];
	char *sp1, *sp2, *sp3, *end;
	long long aexp;
	int n, m, rc = -1;

	memset(t, 0, sizeof(*t));
	n = crypto_b64url_decode(g->pair, strlen(g->pair), sealed, sizeof(sealed));
	if (n < 0)
		return -1;
	m = crypto_open(&app->keys, oauth_pair_purpose, g->id, strlen(g->id), sealed, (size_t)n, pt,
			sizeof(pt) - 1);
	if (m < 0)
		goto out;
	pt[m] = '\0';
	if ((sp1 = strchr(pt, ' ')) == NULL || (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
	    (sp3 = strchr(sp2 + 1, ' ')) == NULL)
		goto out;
	*sp1 = *sp2 = *sp3 = '\0';
	aexp = strtoll(pt, &end, 10);
	if (*end != '\0' || strlen(sp2 + 1) >= sizeof(t->access) ||
	    strlen(sp3 + 1) >= sizeof(t->refresh))
		goto out;
	t->scope = (unsigned)strtoul(sp1 + 1, &end, 10);
	if (*end != '\0' || t->scope > SCOPE_ALL)
		goto out;
	memcpy(t->access, sp2 + 1, strlen(sp2 + 1) + 1);
	memcpy(t->refresh, sp3 + 1, strlen(sp3 + 1) + 1);
	t->expires_in = aexp > (long long)now ? (long)(aexp - now) : 0;
	rc = 0;
out:
	crypto_wipe(pt, sizeof(pt));
	return rc;
}

static int
oauth_refresh_fail(struct oauth_refresh *r, enum oauth_err e, const char *why, int rc)
{
	r->err = e;
	r->why = why;
	return rc;
}

/* Rotate: the presented token becomes "previous", a fresh one current. */
static int
oauth_rotate_tx(struct store_txn *tx, struct oauth_refresh *r, time_t now)
{
	struct oauth_grant *g = &r->g;
	unsigned scope = r->has_scope ? r->scope : g->scope;
	time_t aexp;
	int rc;

	/* RFC 6749 §6: the new scope MUST NOT include any scope not originally granted. */
	if (r->has_scope && (r->scope & ~g->scope) != 0)
		return oauth_refresh_fail(r, OAUTH_E_SCOPE, "scope wider than the grant",
					  STORE_NOTFOUND);
	memcpy(g->ph, g->rh, sizeof(g->ph));
	g->rotated_at = now;
	g->exp = now + oauth_grant_ttl(&r->app->cfg); /* the grant lives while it is used */
	if (oauth_mint(r->app, g, scope, now, 1, r->out, &aexp) != 0 ||
	    oauth_pair_seal(r->app, g, r->out, aexp) != 0)
		return oauth_refresh_fail(r, OAUTH_E_SERVER, "cannot mint tokens", STORE_ERROR);
	/* GDBM cannot roll back, so the write that makes the rotation real
	 * goes last: first the index entry of the new token (unreachable on
	 * its own: nobody holds that token yet, and a token counts only while
	 * the grant's rh names it), then the grant.  If the grant write fails
	 * the old token is still current and the stray entry is removed. */
	rc = store_txn_put(tx, STORE_TOKEN, g->rh, OAUTH_HASH_LEN, g->id, strlen(g->id), g->exp,
			   STORE_PUT_INSERT);
	if (rc == STORE_OK) {
		rc = oauth_grant_put_tx(tx, g, STORE_PUT_REPLACE);
		if (rc != STORE_OK)
			store_txn_del(tx, STORE_TOKEN, g->rh, OAUTH_HASH_LEN);
	}
	if (rc == STORE_EXISTS) /* 256 random bits collided: the CSPRNG is broken */
		rc = STORE_ERROR;
	if (rc != STORE_OK)
		return oauth_refresh_fail(r, oauth_err_from_store(rc), "store", rc);
	return STORE_OK;
}

static int
oauth_refresh_fn(struct store_txn *tx, void *arg)
{
	struct oauth_refresh *r = arg;
	const char *h;
	time_t now = store_txn_now(tx);
	int rc = oauth_rt_find_tx(tx, &r->f);

	if (rc == STORE_OK)
		rc = oauth_grant_get_tx(tx, r->f.gid, &r->g);
	if (rc == STORE_NOTFOUND)
		return oauth_refresh_fail(r, OAUTH_E_GRANT, "unknown or revoked refresh token", rc);
	if (rc != STORE_OK)
		return oauth_refresh_fail(r, oauth_err_from_store(rc), "store", rc);
	if (strcmp(r->g.client_id, r->client->client_id) != 0)
		return oauth_refresh_fail(r, OAUTH_E_GRANT, "refresh token of another client",
					  STORE_NOTFOUND);
	h = r->f.h[r->f.hit];
	if (oauth_hash_eq(r->g.rh, h))
		return oauth_rotate_tx(tx, r, now);
	/* A client that lost the response retries with the token just rotated
	 * out: within the grace window it gets the same pair again. */
	if (oauth_hash_eq(r->g.ph, h) && r->app->cfg.refresh_grace > 0 &&
	    now - r->g.rotated_at <= r->app->cfg.refresh_grace &&
	    r->g.pair[0] != '\0' && oauth_pair_open(r->app, &r->g, now, r->out) == 0) {
		/* The same pair is the answer to the same request only: a retry
		 * asking for another scope (RFC 6749 §6: none means the grant's)
		 * is refused rather than answered with tokens of the wrong scope.
		 * The grant stays: this is still the one client, retrying. */
		if ((r->has_scope ? r->scope : r->g.scope) != r->out->scope) {
			crypto_wipe(r->out, sizeof(*r->out));
			return oauth_refresh_fail(r, OAUTH_E_GRANT,
						  "retry of a rotated token with another scope",
						  STORE_NOTFOUND);
		}
		return STORE_OK;
	}
	/* RFC 9700 §4.14.2: a retired token is in two hands; end the grant. */
	rc = oauth_grant_revoke_tx(tx, r->g.id);
	if (rc == STORE_OK || rc == STORE_NOTFOUND)
		store_txn_del(tx, STORE_TOKEN, h, OAUTH_HASH_LEN);
	return oauth_refresh_fail(r, rc == STORE_ERROR ? OAUTH_E_SERVER : OAUTH_E_GRANT,
				  "rotated refresh token reused; grant revoked",
				  rc == STORE_ERROR ? STORE_ERROR : STORE_OK);
}

enum oauth_err
oauth_grant_refresh(struct app *app, const struct oauth_client *client, const char *rt,
		    int has_scope, unsigned scope, struct oauth_tokens *out, const char **why)
{
	struct oauth_refresh *r;
	const char *dummy = NULL;
	enum oauth_err e = OAUTH_E_SERVER;
	int rc;

	why = why != NULL ? why : &dummy;
	*why = "internal error";
	memset(out, 0, sizeof(*out));
	if (!oauth_refresh_shape_ok(rt)) {
		*why = "malformed refresh token";
		return OAUTH_E_GRANT;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return OAUTH_E_SERVER;
	*r = (struct oauth_refresh){.app = app, .client = client, .has_scope = has_scope,
				    .scope = scope, .out = out, .err = OAUTH_OK};
	if (oauth_rt_hashes(app, rt, &r->f) != 0)
		goto out;
	rc = store_txn(app->store, 1, oauth_refresh_fn, r);
	e = r->err != OAUTH_OK ? r->err : oauth_err_from_store(rc);
	*why = e == OAUTH_OK ? NULL : r->why != NULL ? r->why : "store unavailable";
out:
	if (e != OAUTH_OK)
		crypto_wipe(out, sizeof(*out));
	crypto_wipe(r, sizeof(*r));
	free(r);
	return e;
}

/* ---- token lookup (revocation, introspection) ------------------------------ */

static void
oauth_info_from_grant(const struct oauth_grant *g, struct oauth_token_info *out)
{
	memcpy(out->grant_id, g->id, sizeof(out->grant_id));
	snprintf(out->client_id, sizeof(out->client_id), "%s", g->client_id);
	snprintf(out->user, sizeof(out->user), "%s", g->user);
	snprintf(out->name, sizeof(out->name), "%s", g->name);
	out->scope = g->scope;
	out->exp = g->exp;
}

struct oauth_lookup {
	struct oauth_rt_find f;
	struct oauth_grant g;
	struct oauth_token_info *out;
};

static int
oauth_lookup_fn(struct store_txn *tx, void *arg)
{
	struct oauth_lookup *l = arg;
	int rc = oauth_rt_find_tx(tx, &l->f);

	if (rc == STORE_OK) {
		/* Known token whose grant may be gone: still name the grant. */
		memcpy(l->out->grant_id, l->f.gid, sizeof(l->out->grant_id));
		rc = oauth_grant_get_tx(tx, l->f.gid, &l->g);
	}
	if (rc == STORE_OK) {
		oauth_info_from_grant(&l->g, l->out);
		l->out->active = oauth_hash_eq(l->g.rh, l->f.h[l->f.hit]);
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static int
oauth_lookup_access(struct app *app, const char *token, struct oauth_token_info *out)
{
	struct token_access acc;
	char resource[CONFIG_STR_MAX + 8];
	int v, rc = STORE_OK;

	if (metadata_resource(&app->cfg, resource, sizeof(resource)) != 0)
		return STORE_ERROR;
	v = token_access_verify(&app->keys, resource, token, time(NULL), &acc);
	if (v == TOKEN_MALFORMED)
		return STORE_OK;
	memcpy(out->grant_id, acc.grant_id, sizeof(out->grant_id));
	snprintf(out->client_id, sizeof(out->client_id), "%s", acc.client_id);
	snprintf(out->user, sizeof(out->user), "%s", acc.user);
	snprintf(out->name, sizeof(out->name), "%s", acc.name);
	out->scope = acc.scope;
	out->exp = acc.exp;
	if (v == TOKEN_OK) {
		rc = token_grant_live(app->store, acc.grant_id);
		out->active = rc == STORE_OK;
		rc = rc == STORE_NOTFOUND ? STORE_OK : rc;
	}
	crypto_wipe(&acc, sizeof(acc));
	return rc;
}

int
oauth_token_lookup(struct app *app, const char *token, struct oauth_token_info *out)
{
	struct oauth_lookup *l;
	int rc = STORE_ERROR;

	memset(out, 0, sizeof(*out));
	if (token == NULL)
		return STORE_OK;
	if (strncmp(token, TOKEN_ACCESS_PREFIX, sizeof(TOKEN_ACCESS_PREFIX) - 1) == 0)
		rc = oauth_lookup_access(app, token, out);
	else if (!oauth_refresh_shape_ok(token))
		return STORE_OK;
	else if ((l = calloc(1, sizeof(*l))) != NULL) {
		out->refresh = 1;
		l->out = out;
		rc = oauth_rt_hashes(app, token, &l->f) == 0
			     ? store_txn(app->store, 0, oauth_lookup_fn, l)
			     : STORE_ERROR;
		crypto_wipe(l, sizeof(*l));
		free(l);
	}
	if (rc != STORE_OK) {
		int refresh = out->refresh;
		memset(out, 0, sizeof(*out));
		out->refresh = refresh;
	}
	return rc;
}
