/*
 * consent: the consent page, its CSRF token, and the signed cookie that
 * remembers an approval in this browser.
 *
 * The MCP authorization spec (confused deputy, security best practices)
 * requires that before anything is forwarded to the upstream IdP the user
 * has approved this client on a page that names the client, shows the
 * redirect URI and the scopes, is CSRF-protected and cannot be framed, and
 * that a remembered approval lives in a signed __Host- cookie bound to the
 * client.  Everything about that page and that cookie lives here.
 *
 *   CSRF token  base64url(HMAC(k_csrf, "mcpgate-csrf-v1" NUL txn_id)):
 *               bound to the authorization transaction and the same on every
 *               reload (nothing to store, nothing to rotate).
 *   cookie      __Host-mcpgate-consent-<hash of client_id + redirect key> =
 *               <exp>.<scope>.<id>.<base64url HMAC(k_cookie, "mcpgate-consent-v2"
 *               NUL client_id NUL redirect key NUL user NUL scope NUL exp NUL id)>
 *               where id names the server-side consent record (oauth.h)
 *               the cookie was issued for: once that record is revoked, the
 *               cookie no longer counts anywhere the user is known.
 *               The redirect key is the redirect URI, without the port for an
 *               http loopback URI (RFC 8252 §7.3: native apps get a new port
 *               each run, and any port is accepted for them).
 *
 * Keys are purpose keys derived from the key ring; verification tries every
 * key in the ring, so rotation does not forget approvals or break pages.
 */
#ifndef MCPGATE_CONSENT_H
#define MCPGATE_CONSENT_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "http.h"

#define CONSENT_CSRF_LEN 43 /* base64url of an HMAC-SHA-256 */
#define CONSENT_COOKIE_PREFIX "__Host-mcpgate-consent-"
#define CONSENT_COOKIE_NAME_MAX 64
#define CONSENT_COOKIE_VALUE_MAX 128
#define CONSENT_ID_MAX 32       /* longest record id a cookie carries, + NUL */
#define CONSENT_SAME_NAME_MAX 8 /* cookies of one name looked at */

/* ---- CSRF ---- */

/* The token for transaction txn_id into out (>= CONSENT_CSRF_LEN + 1). */
int consent_csrf_token(const struct crypto_keyring *ring, const char *txn_id, char *out,
		       size_t outsz);
/* 1 when token is the token of txn_id under any key in the ring. */
int consent_csrf_ok(const struct crypto_keyring *ring, const char *txn_id, const char *token);
/* 1 when a POST with these Origin and Sec-Fetch-Site headers (NULL when
 * absent) may come from our own page at cfg->public_origin. */
int consent_origin_ok(const struct config *cfg, const char *origin, const char *sec_fetch_site);

/* ---- remembered consent ---- */

/* The redirect URI as the cookie binds it (see above) into out. 0 or -1. */
int consent_redirect_key(const char *redirect_uri, char *out, size_t outsz);
/* The cookie's name for client_id + redirect_uri into out
 * (>= CONSENT_COOKIE_NAME_MAX). 0 or -1. */
int consent_cookie_name(const char *client_id, const char *redirect_uri, char *out, size_t outsz);
/* The cookie's value approving scope for user ("" when not known yet)
 * until exp, naming consent record id, into out (>= CONSENT_COOKIE_VALUE_MAX).
 * 0 or -1 (also for an id that is empty, too long or not base64url). */
int consent_cookie_value(const struct crypto_keyring *ring, const char *client_id,
			 const char *redirect_uri, const char *user, unsigned scope, time_t exp,
			 const char *id, char *out, size_t outsz);
/* 1 when value is a valid, unexpired approval for client_id + redirect_uri
 * and user that covers every bit of want; an expiry later than now +
 * max_ttl (the lifetime was lowered since) does not count.  The record id
 * it names goes to id_out (may be NULL; >= CONSENT_ID_MAX).  0 otherwise. */
int consent_cookie_ok(const struct crypto_keyring *ring, const char *client_id,
		      const char *redirect_uri, const char *user, unsigned want, const char *value,
		      time_t now, long max_ttl, char *id_out, size_t idsz);
/* 1 when one of req's cookies approves as consent_cookie_ok says (the
 * record id into id_out as there).  However many cookies the request has. */
int consent_remembered(const struct crypto_keyring *ring, const struct http_req *req,
		       const char *client_id, const char *redirect_uri, const char *user,
		       unsigned want, time_t now, long max_ttl, char *id_out, size_t idsz);
/* The value of the nth (from 0) cookie called name in req's Cookie header
 * into out: 1, or 0 when there is none or it does not fit.  Reads the raw
 * header, so it is not limited to the first HTTP_FIELDS_MAX cookies. */
int consent_cookie_find(const struct http_req *req, const char *name, size_t nth, char *out,
			size_t outsz);

/* ---- the page ---- */

/* Where the redirect URI sends the browser, for display: the host
 * (lower-cased, IPv6 in brackets) or, for a private-use scheme, the scheme.
 * *kind: 0 web host, 1 loopback host (this computer), 2 app scheme.  0/-1. */
int consent_redirect_host(const char *redirect_uri, char *out, size_t outsz, int *kind);

struct consent_view {
	const char *server_name;
	const char *action;       /* absolute URL the form posts to */
	const char *txn_id;
	const char *csrf;
	const char *client_id;
	const char *client_name;  /* "" when the client gave none */
	const char *client_uri;   /* "" when the client gave none */
	const char *redirect_uri;
	unsigned scope;           /* SCOPE_* bits requested */
	const char *user;         /* who is signed in, "" when not known yet */
};

/* Render the page into out (every client-supplied string escaped, control
 * and bidi characters dropped, invalid UTF-8 replaced). 0 or -1. */
int consent_page(const struct consent_view *v, struct buf *out);
/* Content-Type and the security headers of the page: CSP without any
 * script and with frame-ancestors 'none', X-Frame-Options DENY,
 * Cache-Control no-store, Referrer-Policy no-referrer. */
void consent_page_headers(struct http_resp *resp);

/* Append s to b for HTML text or attribute context, at most maxchars
 * characters (then "…"), as consent_page does.  0 or -1. */
int consent_html_text(struct buf *b, const char *s, size_t maxchars);

#endif
