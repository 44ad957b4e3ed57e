/*
 * consent: the consent page, its CSRF token and the remembered-approval
 * cookie.  See consent.h for the contract and the formats.
 */
#include "consent.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scope.h"

#define CONSENT_CSRF_PURPOSE "consent-csrf"
#define CONSENT_COOKIE_PURPOSE "consent-cookie"
#define CONSENT_NAME_HASH_CHARS 22 /* 132 bits of the name hash: names never collide */
#define CONSENT_KEY_MAX 1100       /* redirect key: a redirect URI, minus a port */

/* ---- keyed MACs ---- */

/* base64url(HMAC(purpose key i, msg)) into out (>= CONSENT_CSRF_LEN + 1). */
static int
consent_mac(const struct crypto_keyring *ring, size_t i, const char *purpose, const void *msg,
	    size_t msglen, char *out, size_t outsz)
{
	unsigned char key[CRYPTO_KEY_LEN], mac[CRYPTO_SHA256_LEN];
	int rc = -1;

	if (crypto_keyring_derive(ring, i, purpose, key) == 0 &&
	    crypto_hmac_sha256(key, sizeof(key), msg, msglen, mac) == 0 &&
	    crypto_b64url_encode(mac, sizeof(mac), out, outsz) == CONSENT_CSRF_LEN)
		rc = 0;
	crypto_wipe(key, sizeof(key));
	crypto_wipe(mac, sizeof(mac));
	return rc;
}

/* The CSRF message: a fixed label, NUL, the transaction id. */
static int
consent_csrf_msg(const char *txn_id, struct buf *m)
{
	buf_puts(m, "mcpgate-csrf-v1");
	buf_append(m, "", 1);
	buf_puts(m, txn_id);
	return m->overflow ? -1 : 0;
}

int
consent_csrf_token(const struct crypto_keyring *ring, const char *txn_id, char *out,
		   size_t outsz)
{
	struct buf m;
	int rc = -1;

	buf_init(&m, 256);
	if (txn_id != NULL && *txn_id != '\0' && consent_csrf_msg(txn_id, &m) == 0)
		rc = consent_mac(ring, 0, CONSENT_CSRF_PURPOSE, m.data, m.len, out, outsz);
	buf_free(&m);
	return rc;
}

int
consent_csrf_ok(const struct crypto_keyring *ring, const char *txn_id, const char *token)
{
	char want[CONSENT_CSRF_LEN + 1];
	struct buf m;
	int good = 0;

	if (ring == NULL || token == NULL || txn_id == NULL || *txn_id == '\0' ||
	    strlen(token) != CONSENT_CSRF_LEN)
		return 0;
	buf_init(&m, 256);
	if (consent_csrf_msg(txn_id, &m) == 0)
		for (size_t i = 0; i < ring->nkeys && !good; i++)
			if (consent_mac(ring, i, CONSENT_CSRF_PURPOSE, m.data, m.len, want,
					sizeof(want)) == 0)
				good = crypto_ct_eq(want, CONSENT_CSRF_LEN, token, CONSENT_CSRF_LEN);
	buf_free(&m);
	return good;
}

int
consent_origin_ok(const struct config *cfg, const char *origin, const char *sec_fetch_site)
{
	int have_sfs = sec_fetch_site != NULL && *sec_fetch_site != '\0';

	/* Fetch Metadata: the browser itself says where the form came from,
	 * and a page cannot forge it. */
	if (have_sfs && strcmp(sec_fetch_site, "same-origin") != 0)
		return 0;
	if (origin == NULL || *origin == '\0')
		return 1; /* not a browser, or a very old one: the CSRF token decides */
	if (strcasecmp(origin, cfg->public_origin) == 0)
		return 1;
	/* Fetch §3.1 "append a request Origin header": the page's
	 * Referrer-Policy no-referrer makes the browser send "Origin: null" on
	 * our own form's POST.  Accept that only with Sec-Fetch-Site vouching
	 * for same-origin. */
	return have_sfs && strcmp(origin, "null") == 0;
}

/* ---- remembered consent ---- */

/* Split a URL "scheme://authority/rest": offsets of the authority and its
 * end; -1 when there is no "//" authority (a private-use scheme). */
static int
consent_split(const char *uri, size_t *a, size_t *aend)
{
	const char *p = strstr(uri, "://");

	if (p == NULL || strcspn(uri, ":/?#") != (size_t)(p - uri))
		return -1;
	*a = (size_t)(p - uri) + 3;
	*aend = *a + strcspn(uri + *a, "/?#");
	return 0;
}

/* The host part of authority uri[a..aend) into out (lower-cased), and the
 * offset where a ":port" starts (aend when none). */
static int
consent_host(const char *uri, size_t a, size_t aend, char *out, size_t outsz, size_t *port)
{
	size_t h = a, e;

	/* Userinfo is refused at registration; skip it here all the same so
	 * it can never pose as the host. */
	for (size_t i = a; i < aend; i++)
		if (uri[i] == '@')
			h = i + 1;
	if (h < aend && uri[h] == '[') {
		const char *rb = memchr(uri + h, ']', aend - h);

		if (rb == NULL)
			return -1;
		e = (size_t)(rb - uri) + 1;
	} else {
		const char *c = memchr(uri + h, ':', aend - h);

		e = c != NULL ? (size_t)(c - uri) : aend;
	}
	if (e == h || e - h >= outsz)
		return -1;
	for (size_t i = h; i < e; i++)
		out[i - h] = (char)(uri[i] >= 'A' && uri[i] <= 'Z' ? uri[i] - 'A' + 'a' : uri[i]);
	out[e - h] = '\0';
	*port = e;
	return 0;
}

static int
consent_is_loopback(const char *host)
{
	size_t n = strlen(host);

	/* RFC 6761 §6.3: localhost and every name below it is this machine. */
	return config_host_is_loopback(host) || strcmp(host, "localhost.") == 0 ||
	       (n > 10 && strcmp(host + n - 10, ".localhost") == 0);
}

int
consent_redirect_host(const char *redirect_uri, char *out, size_t outsz, int *kind)
{
	size_t a, aend, port;

	*kind = 0;
	if (consent_split(redirect_uri, &a, &aend) != 0) {
		size_t n = strcspn(redirect_uri, ":");

		/* RFC 8252 §7.1: a private-use scheme opens an app on this device. */
		if (redirect_uri[n] != ':' || n == 0 || n >= outsz)
			return -1;
		memcpy(out, redirect_uri, n);
		out[n] = '\0';
		*kind = 2;
		return 0;
	}
	if (consent_host(redirect_uri, a, aend, out, outsz, &port) != 0)
		return -1;
	*kind = consent_is_loopback(out) ? 1 : 0;
	return 0;
}

int
consent_redirect_key(const char *redirect_uri, char *out, size_t outsz)
{
	char host[300];
	size_t a, aend, port, n = strlen(redirect_uri);
	int w;

	if (n >= outsz)
		return -1;
	memcpy(out, redirect_uri, n + 1);
	if (strncasecmp(redirect_uri, "http://", 7) != 0 ||
	    consent_split(redirect_uri, &a, &aend) != 0 ||
	    consent_host(redirect_uri, a, aend, host, sizeof(host), &port) != 0 ||
	    !config_host_is_loopback(host))
		return 0;
	/* RFC 8252 §7.3: the port of a loopback redirect is chosen per run. */
	w = snprintf(out, outsz, "%.*s%s", (int)port, redirect_uri, redirect_uri + aend);
	return w < 0 || (size_t)w >= outsz ? -1 : 0;
}

int
consent_cookie_name(const char *client_id, const char *redirect_uri, char *out, size_t outsz)
{
	char key[CONSENT_KEY_MAX], b64[CRYPTO_B64URL_LEN(CRYPTO_SHA256_LEN)];
	unsigned char h[CRYPTO_SHA256_LEN];
	struct buf m;
	int rc = -1, w;

	buf_init(&m, (size_t)2 * CONSENT_KEY_MAX);
	if (consent_redirect_key(redirect_uri, key, sizeof(key)) != 0)
		goto out;
	buf_puts(&m, client_id);
	buf_append(&m, "", 1);
	buf_puts(&m, key);
	if (m.overflow || crypto_sha256(m.data, m.len, h) != 0 ||
	    crypto_b64url_encode(h, sizeof(h), b64, sizeof(b64)) < 0)
		goto out;
	w = snprintf(out, outsz, "%s%.*s", CONSENT_COOKIE_PREFIX, CONSENT_NAME_HASH_CHARS, b64);
	rc = w < 0 || (size_t)w >= outsz ? -1 : 0;
out:
	buf_free(&m);
	return rc;
}

/* 1 when id looks like a consent record id (base64url, bounded). */
static int
consent_id_ok(const char *id, size_t n)
{
	if (n == 0 || n >= CONSENT_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return 0;
	return 1;
}

/* The signed message for a cookie. */
static int
consent_cookie_msg(const char *client_id, const char *redirect_uri, const char *user,
		   unsigned scope, long long exp, const char *id, struct buf *m)
{
	char key[CONSENT_KEY_MAX];

	if (consent_redirect_key(redirect_uri, key, sizeof(key)) != 0)
		return -1;
	/* v2: the consent record's id is signed too, so deleting the record
	 * (revocation) retires every cookie that named it. */
	buf_puts(m, "mcpgate-consent-v2");
	buf_append(m, "", 1);
	buf_puts(m, client_id);
	buf_append(m, "", 1);
	buf_puts(m, key);
	buf_append(m, "", 1);
	buf_puts(m, user != NULL ? user : "");
	buf_append(m, "", 1);
	buf_printf(m, "%u", scope);
	buf_append(m, "", 1);
	buf_printf(m, "%lld", exp);
	buf_append(m, "", 1);
	buf_puts(m, id);
	return m->overflow ? -1 : 0;
}

int
consent_cookie_value(const struct crypto_keyring *ring, const char *client_id,
		     const char *redirect_uri, const char *user, unsigned scope, time_t exp,
		     const char *id, char *out, size_t outsz)
{
	char mac[CONSENT_CSRF_LEN + 1];
	struct buf m;
	int rc = -1, w;

	if (id == NULL || !consent_id_ok(id, strlen(id)))
		return -1;
	buf_init(&m, 4096);
	if (consent_cookie_msg(client_id, redirect_uri, user, scope, (long long)exp, id, &m) == 0 &&
	    consent_mac(ring, 0, CONSENT_COOKIE_PURPOSE, m.data, m.len, mac, sizeof(mac)) == 0) {
		w = snprintf(out, outsz, "%lld.%u.%s.%s", (long long)exp, scope, id, mac);
		rc = w < 0 || (size_t)w >= outsz ? -1 : 0;
	}
	buf_free(&m);
	return rc;
}

/* Parse "<digits>." at *p into *v (range checked); advances *p. */
static int
consent_number(const char **p, unsigned long long max, unsigned long long *v)
{
	char *end;

	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno != 0 || *v > max || *end != '.' || end - *p > 20)
		return -1;
	*p = end + 1;
	return 0;
}

/* Parse "<id>." at *p into id; advances *p. */
static int
consent_id_field(const char **p, char id[CONSENT_ID_MAX])
{
	size_t n = strcspn(*p, ".");

	if ((*p)[n] != '.' || !consent_id_ok(*p, n))
		return -1;
	memcpy(id, *p, n);
	id[n] = '\0';
	*p += n + 1;
	return 0;
}

int
consent_cookie_ok(const struct crypto_keyring *ring, const char *client_id,
		  const char *redirect_uri, const char *user, unsigned want, const char *value,
		  time_t now, long max_ttl, char *id_out, size_t idsz)
{
	unsigned long long exp, scope;
	char mac[CONSENT_CSRF_LEN + 1], id[CONSENT_ID_MAX];
	const char *p = value;
	struct buf m;
	int good = 0;

	if (ring == NULL || value == NULL || strlen(value) >= CONSENT_COOKIE_VALUE_MAX ||
	    consent_number(&p, (unsigned long long)INT64_MAX, &exp) != 0 ||
	    consent_number(&p, 0xffffffffULL, &scope) != 0 || consent_id_field(&p, id) != 0 ||
	    strlen(p) != CONSENT_CSRF_LEN)
		return 0;
	/* Expired, granted for less than is asked now, or older than the
	 * configured lifetime allows: ask again. */
	if ((long long)exp <= (long long)now || (long long)exp > (long long)now + max_ttl ||
	    (want & ~(unsigned)scope) != 0)
		return 0;
	buf_init(&m, 4096);
	if (consent_cookie_msg(client_id, redirect_uri, user, (unsigned)scope, (long long)exp, id,
			       &m) == 0)
		for (size_t i = 0; i < ring->nkeys && !good; i++)
			if (consent_mac(ring, i, CONSENT_COOKIE_PURPOSE, m.data, m.len, mac,
					sizeof(mac)) == 0)
				good = crypto_ct_eq(mac, CONSENT_CSRF_LEN, p, CONSENT_CSRF_LEN);
	buf_free(&m);
	if (good && id_out != NULL) {
		if (strlen(id) >= idsz)
			return 0;
		memcpy(id_out, id, strlen(id) + 1);
	}
	return good;
}

int
consent_cookie_find(const struct http_req *req, const char *name, size_t nth, char *out,
		    size_t outsz)
{
	const char *s = http_header(req, "Cookie");
	size_t nl = name != NULL ? strlen(name) : 0, seen = 0;

	/* Read the header itself rather than http_cookies_parse: that stops at
	 * HTTP_FIELDS_MAX cookies, and a browser with many remembered
	 * approvals must still find the one cookie asked for.  Each step
	 * moves past one ';', so the loop is bounded by the header length. */
	while (s != NULL && *s != '\0' && nl > 0) {
		size_t n = strcspn(s, ";"), b = 0, e;

		while (b < n && (s[b] == ' ' || s[b] == '\t'))
			b++;
		e = n;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e - b > nl && memcmp(s + b, name, nl) == 0 && s[b + nl] == '=' &&
		    seen++ == nth) {
			size_t vl = e - b - nl - 1;

			if (vl >= outsz || memchr(s + b + nl + 1, '\0', vl) != NULL)
				return 0;
			memcpy(out, s + b + nl + 1, vl);
			out[vl] = '\0';
			return 1;
		}
		s += n;
		if (*s == ';')
			s++;
	}
	return 0;
}

int
consent_remembered(const struct crypto_keyring *ring, const struct http_req *req,
		   const char *client_id, const char *redirect_uri, const char *user,
		   unsigned want, time_t now, long max_ttl, char *id_out, size_t idsz)
{
	char name[CONSENT_COOKIE_NAME_MAX], value[CONSENT_COOKIE_VALUE_MAX];
	int found = 0;

	if (max_ttl <= 0 || consent_cookie_name(client_id, redirect_uri, name, sizeof(name)) != 0)
		return 0;
	/* A few cookies of one name can arrive (RFC 6265 §5.4 does not
	 * forbid it); any one valid approval counts. */
	for (size_t i = 0; i < CONSENT_SAME_NAME_MAX && !found; i++) {
		if (!consent_cookie_find(req, name, i, value, sizeof(value)))
			break;
		found = consent_cookie_ok(ring, client_id, redirect_uri, user, want, value, now,
					  max_ttl, id_out, idsz);
	}
	return found;
}

/* ---- the page ---- */

/*
 * The whole stylesheet.  It is inline (no external assets) and allowed by
 * its hash in the CSP, so neither 'unsafe-inline' nor any script is needed.
 */
static const char consent_css[] =
	":root{--bg:#f3f4f6;--card:#fff;--fg:#111827;--muted:#6b7280;--line:#e5e7eb;"
	"--soft:#f9fafb;--accent:#2563eb;--accent2:#1d4ed8;--ok:#dcfce7;--okfg:#166534;"
	"--wbg:#fffbeb;--wline:#f59e0b;--wfg:#78350f}\n"
	"@media (prefers-color-scheme:dark){:root{--bg:#0b0f17;--card:#151a23;--fg:#e5e7eb;"
	"--muted:#9ca3af;--line:#2a3140;--soft:#1b2130;--accent:#3b82f6;--accent2:#60a5fa;"
	"--ok:#123524;--okfg:#86efac;--wbg:#2a2113;--wline:#b45309;--wfg:#fcd34d}}\n"
	"*{box-sizing:border-box}\n"
	"html{-webkit-text-size-adjust:100%;text-size-adjust:100%}\n"
	"body{margin:0;min-height:100vh;display:flex;justify-content:center;align-items:flex-start;"
	"padding:6vh 16px;background:var(--bg);color:var(--fg);"
	"font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,"
	"sans-serif}\n"
	"main{width:100%;max-width:27rem;background:var(--card);border:1px solid var(--line);"
	"border-radius:16px;padding:28px;box-shadow:0 1px 2px rgba(0,0,0,.05),"
	"0 10px 30px rgba(0,0,0,.07)}\n"
	".brand{display:flex;align-items:center;gap:10px;margin:0 0 22px;color:var(--muted);"
	"font-size:.875rem;font-weight:600}\n"
	".mark{width:28px;height:28px;border-radius:8px;background:var(--accent);color:#fff;"
	"display:flex;align-items:center;justify-content:center;font-weight:700}\n"
	"h1{font-size:1.3rem;line-height:1.35;margin:0 0 6px;font-weight:650;"
	"overflow-wrap:anywhere}\n"
	".sub{margin:0 0 20px;color:var(--muted);font-size:.875rem}\n"
	".who{margin:0 0 20px;font-size:.875rem}\n"
	".dest{margin:0 0 16px;padding:12px 14px;border:1px solid var(--line);border-radius:12px;"
	"background:var(--soft)}\n"
	".label{font-size:.75rem;font-weight:600;letter-spacing:.04em;text-transform:uppercase;"
	"color:var(--muted)}\n"
	".host{font-size:1.15rem;font-weight:700;overflow-wrap:anywhere;"
	"font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\n"
	".uri{font-size:.8rem;color:var(--muted);overflow-wrap:anywhere}\n"
	".warn{margin:0 0 16px;padding:12px 14px;border:1px solid var(--wline);border-radius:12px;"
	"background:var(--wbg);color:var(--wfg);font-size:.875rem}\n"
	".warn strong{display:block}\n"
	"h2{margin:20px 0 6px;font-size:.875rem;font-weight:600;color:var(--muted)}\n"
	"ul{list-style:none;margin:0 0 18px;padding:0}\n"
	"li{display:flex;gap:10px;align-items:flex-start;padding:9px 0;"
	"border-top:1px solid var(--line)}\n"
	"li:first-child{border-top:0}\n"
	".tick{flex:none;width:22px;height:22px;margin-top:1px;border-radius:50%;"
	"background:var(--ok);color:var(--okfg);display:flex;align-items:center;"
	"justify-content:center;font-size:.75rem;font-weight:700}\n"
	"code{font:.75rem ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
	"color:var(--muted)}\n"
	"li code{display:block}\n"
	"dl{display:grid;grid-template-columns:auto 1fr;gap:4px 14px;margin:0 0 22px;"
	"font-size:.8rem}\n"
	"dt{color:var(--muted)}\n"
	"dd{margin:0;overflow-wrap:anywhere}\n"
	"a{color:var(--accent)}\n"
	".actions{display:flex;gap:12px}\n"
	"button{flex:1;min-height:44px;padding:10px 16px;border-radius:10px;font:inherit;"
	"font-weight:600;cursor:pointer;border:1px solid var(--line);background:var(--card);"
	"color:var(--fg)}\n"
	"button:hover{background:var(--soft)}\n"
	"button.approve{background:var(--accent);border-color:var(--accent);color:#fff}\n"
	"button.approve:hover{background:var(--accent2);border-color:var(--accent2)}\n"
	"button:focus-visible{outline:3px solid var(--accent2);outline-offset:2px}\n"
	".fine{margin:16px 0 0;text-align:center;font-size:.75rem;color:var(--muted)}\n"
	"@media (max-width:30rem){body{padding:0}main{min-height:100vh;border:0;"
	"border-radius:0;box-shadow:none;padding:24px 20px}}\n";

/* Decode one UTF-8 sequence at s (RFC 3629); returns its length and the
 * code point in *cp, or 0 when the bytes are not well-formed UTF-8. */
static size_t
consent_utf8(const unsigned char *s, uint32_t *cp)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (n == 0 || s[0] >= 0xf5)
		return 0;
	v = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Characters a hostile name could use to hide or reorder what the user
 * reads: C0/C1 controls, bidi overrides and isolates, zero-width and
 * invisible formatting characters. */
static int
consent_invisible(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad ||
	       (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

int
consent_html_text(struct buf *b, const char *s, size_t maxchars)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t shown = 0;

	while (*p != '\0') {
		uint32_t cp = 0;
		size_t n = consent_utf8(p, &cp);
		char one[2] = {(char)*p, '\0'};

		if (shown == maxchars) {
			buf_puts(b, "\xe2\x80\xa6"); /* … */
			break;
		}
		if (n == 0) {
			buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD for a malformed byte */
			p++;
			shown++;
			continue;
		}
		if (cp == '\t' || cp == '\n' || cp == '\r') {
			buf_puts(b, " ");
			shown++;
		} else if (!consent_invisible(cp)) {
			if (n == 1)
				buf_html(b, one);
			else
				buf_append(b, p, n);
			shown++;
		}
		p += n;
	}
	return b->overflow ? -1 : 0;
}

static void
consent_scopes(struct buf *b, unsigned scope)
{
	buf_puts(b, "<h2>It will be able to</h2>\n<ul>\n");
	for (size_t i = 0; i < scope_count; i++) {
		if ((scope & scope_table[i].bit) == 0)
			continue;
		buf_puts(b, "<li><span class=\"tick\" aria-hidden=\"true\">\xe2\x9c\x93</span>"
			    "<span>");
		buf_html(b, scope_table[i].description);
		buf_puts(b, "<code>");
		buf_html(b, scope_table[i].name);
		buf_puts(b, "</code></span></li>\n");
	}
	if ((scope & SCOPE_ALL) == 0)
		buf_puts(b, "<li><span class=\"tick\" aria-hidden=\"true\">\xe2\x9c\x93</span>"
			    "<span>See that you have an account here</span></li>\n");
	buf_puts(b, "</ul>\n");
}

static void
consent_destination(struct buf *b, const struct consent_view *v)
{
	char host[300];
	int kind = 0;

	if (consent_redirect_host(v->redirect_uri, host, sizeof(host), &kind) != 0)
		snprintf(host, sizeof(host), "%s", "(unknown)");
	buf_puts(b, "<section class=\"dest\">\n<div class=\"label\">");
	buf_puts(b, kind == 2 ? "Then it opens the app" : "Then you will be sent to");
	buf_puts(b, "</div>\n<div class=\"host\">");
	consent_html_text(b, host, 120);
	buf_puts(b, "</div>\n<div class=\"uri\">");
	consent_html_text(b, v->redirect_uri, 300);
	buf_puts(b, "</div>\n</section>\n");
	if (kind == 1)
		/* MCP 2025-11-25 (client ID metadata documents): warn when the
		 * code goes to this computer, where any program can listen. */
		buf_puts(b, "<div class=\"warn\" role=\"note\"><strong>This application runs on "
			    "your own computer.</strong>Only approve if you just started it "
			    "yourself, such as a desktop app or a command-line tool. Any program "
			    "on this computer could receive this access.</div>\n");
	else if (kind == 2)
		buf_puts(b, "<div class=\"warn\" role=\"note\"><strong>This is an app installed "
			    "on your device.</strong>Only approve if you just started it "
			    "yourself.</div>\n");
}

static void
consent_details(struct buf *b, const struct consent_view *v)
{
	buf_puts(b, "<dl>\n");
	if (v->client_uri != NULL && *v->client_uri != '\0') {
		buf_puts(b, "<dt>Website</dt><dd>");
		/* Only an https address becomes a link: javascript:, data: and
		 * friends stay inert text. */
		if (strncasecmp(v->client_uri, "https://", 8) == 0 &&
		    strpbrk(v->client_uri, "\"'<> \\") == NULL) {
			buf_puts(b, "<a href=\"");
			buf_html(b, v->client_uri);
			buf_puts(b, "\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">");
			consent_html_text(b, v->client_uri, 120);
			buf_puts(b, "</a>");
		} else {
			consent_html_text(b, v->client_uri, 120);
		}
		buf_puts(b, "</dd>\n");
	}
	buf_puts(b, "<dt>Client ID</dt><dd><code>");
	consent_html_text(b, v->client_id, 200);
	buf_puts(b, "</code></dd>\n</dl>\n");
}

static void
consent_form(struct buf *b, const struct consent_view *v)
{
	buf_puts(b, "<form method=\"post\" action=\"");
	buf_html(b, v->action);
	buf_puts(b, "\">\n<input type=\"hidden\" name=\"txn\" value=\"");
	buf_html(b, v->txn_id);
	buf_puts(b, "\">\n<input type=\"hidden\" name=\"csrf\" value=\"");
	buf_html(b, v->csrf);
	buf_puts(b, "\">\n<div class=\"actions\">\n"
		    "<button type=\"submit\" name=\"action\" value=\"deny\" class=\"deny\">"
		    "Deny</button>\n"
		    "<button type=\"submit\" name=\"action\" value=\"approve\" class=\"approve\">"
		    "Approve</button>\n</div>\n</form>\n");
}

static void
consent_heading(struct buf *b, const struct consent_view *v)
{
	const char *name = v->client_name != NULL && *v->client_name != '\0' ? v->client_name
									      : v->client_id;
	char mark = v->server_name[0];

	if (!((mark >= 'a' && mark <= 'z') || (mark >= 'A' && mark <= 'Z')))
		mark = 'M';
	else if (mark >= 'a')
		mark = (char)(mark - 'a' + 'A');
	buf_printf(b, "<div class=\"brand\"><span class=\"mark\" aria-hidden=\"true\">%c</span>"
		      "<span>", mark);
	consent_html_text(b, v->server_name, 60);
	buf_puts(b, "</span></div>\n<h1>");
	consent_html_text(b, name, 80);
	buf_puts(b, " wants to access your ");
	consent_html_text(b, v->server_name, 60);
	buf_puts(b, " account</h1>\n<p class=\"sub\">");
	buf_puts(b, v->client_name != NULL && *v->client_name != '\0'
			    ? "The application chose this name itself. Check where it sends you "
			      "before you approve."
			    : "This application did not give a name.");
	buf_puts(b, "</p>\n");
	if (v->user != NULL && *v->user != '\0') {
		buf_puts(b, "<p class=\"who\">Signed in as <strong>");
		consent_html_text(b, v->user, 80);
		buf_puts(b, "</strong></p>\n");
	}
}

int
consent_page(const struct consent_view *v, struct buf *b)
{
	const char *name = v->client_name != NULL && *v->client_name != '\0' ? v->client_name
									      : v->client_id;

	buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		    "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>Authorize ");
	consent_html_text(b, name, 60);
	buf_puts(b, " \xe2\x80\x93 ");
	consent_html_text(b, v->server_name, 60);
	buf_puts(b, "</title>\n<style>");
	buf_puts(b, consent_css);
	buf_puts(b, "</style>\n</head>\n<body>\n<main>\n");
	consent_heading(b, v);
	consent_destination(b, v);
	consent_scopes(b, v->scope);
	consent_details(b, v);
	consent_form(b, v);
	buf_puts(b, "<p class=\"fine\">If you did not start this, choose Deny.</p>\n"
		    "</main>\n</body>\n</html>\n");
	return b->overflow ? -1 : 0;
}

/* CSP hash-source for the stylesheet: 'sha256-<base64 with padding>'. */
static int
consent_css_hash(char *out, size_t outsz)
{
	unsigned char h[CRYPTO_SHA256_LEN];
	char b64[CRYPTO_B64URL_LEN(CRYPTO_SHA256_LEN) + 2];
	int n;

	if (crypto_sha256(consent_css, sizeof(consent_css) - 1, h) != 0 ||
	    (n = crypto_b64url_encode(h, sizeof(h), b64, sizeof(b64) - 1)) != 43)
		return -1;
	/* CSP hashes use base64 (RFC 4648 §4), not base64url. */
	for (int i = 0; i < n; i++)
		b64[i] = (char)(b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i]);
	b64[n] = '=';
	b64[n + 1] = '\0';
	n = snprintf(out, outsz, "'sha256-%s'", b64);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

void
consent_page_headers(struct http_resp *resp)
{
	char style[80];

	if (consent_css_hash(style, sizeof(style)) != 0)
		snprintf(style, sizeof(style), "'none'");
	http_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
	/* No script at all; the one stylesheet by hash; no framing
	 * (clickjacking on the Approve button); nothing loaded from anywhere.
	 * form-action is left out on purpose: browsers apply it to the
	 * redirects after the POST too, and those go to the client's redirect
	 * URI or the identity provider, which are not known here. */
	http_resp_header(resp, "Content-Security-Policy",
			 "default-src 'none'; style-src %s; base-uri 'none'; "
			 "frame-ancestors 'none'",
			 style);
	http_resp_header(resp, "X-Frame-Options", "DENY");
	http_resp_header(resp, "Cache-Control", "no-store");
	http_resp_header(resp, "Referrer-Policy", "no-referrer");
	http_resp_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
}
