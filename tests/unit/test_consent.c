/* Unit tests for src/consent.c: CSRF token, Origin check, the signed
 * consent cookie (signing, verification, expiry, tampering, key rotation),
 * and the page (escaping of hostile client metadata, loopback warning,
 * security headers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "consent.h"
#include "scope.h"
#include "tap.h"

static struct crypto_keyring ring, ring2, other;

static void
make_rings(void)
{
	ring.nkeys = 1;
	snprintf(ring.keys[0].kid, sizeof(ring.keys[0].kid), "k1");
	crypto_random(ring.keys[0].key, CRYPTO_KEY_LEN);
	/* ring2: a rotated ring, new key first, the old one kept. */
	ring2.nkeys = 2;
	snprintf(ring2.keys[0].kid, sizeof(ring2.keys[0].kid), "k2");
	crypto_random(ring2.keys[0].key, CRYPTO_KEY_LEN);
	ring2.keys[1] = ring.keys[0];
	other.nkeys = 1;
	snprintf(other.keys[0].kid, sizeof(other.keys[0].kid), "k1");
	crypto_random(other.keys[0].key, CRYPTO_KEY_LEN);
}

static const char txn1[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char txn2[] = "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static void
test_csrf(void)
{
	char a[CONSENT_CSRF_LEN + 1], b[CONSENT_CSRF_LEN + 1], c[CONSENT_CSRF_LEN + 1];

	is_int(consent_csrf_token(&ring, txn1, a, sizeof(a)), 0, "token");
	is_int((int)strlen(a), CONSENT_CSRF_LEN, "43 characters");
	consent_csrf_token(&ring, txn1, b, sizeof(b));
	is_str(a, b, "stable across reloads");
	consent_csrf_token(&ring, txn2, c, sizeof(c));
	ok(strcmp(a, c) != 0, "bound to the transaction");
	is_int(consent_csrf_ok(&ring, txn1, a), 1, "accepted for its transaction");
	is_int(consent_csrf_ok(&ring, txn2, a), 0, "refused for another transaction");
	is_int(consent_csrf_ok(&other, txn1, a), 0, "refused under another key");
	is_int(consent_csrf_ok(&ring2, txn1, a), 1, "still accepted after key rotation");
	b[5] = b[5] == 'x' ? 'y' : 'x';
	is_int(consent_csrf_ok(&ring, txn1, b), 0, "one changed character refused");
	b[0] = '\0';
	is_int(consent_csrf_ok(&ring, txn1, b), 0, "empty refused");
	is_int(consent_csrf_ok(&ring, txn1, NULL), 0, "absent refused");
	memcpy(b, a, sizeof(b));
	b[42] = '\0';
	is_int(consent_csrf_ok(&ring, txn1, b), 0, "truncated refused");
	is_int(consent_csrf_ok(&ring, "", a), 0, "empty transaction refused");
	is_int(consent_csrf_token(&ring, txn1, c, 10), -1, "small buffer refused");
}

static void
test_origin(void)
{
	struct config cfg;
	static const struct {
		const char *origin, *site;
		int want;
		const char *name;
	} t[] = {
		{"https://as.example", "same-origin", 1, "own origin, same-origin"},
		{"https://AS.example", NULL, 1, "own origin, case-insensitive, no fetch metadata"},
		{NULL, NULL, 1, "no headers (not a browser): the token decides"},
		{"null", "same-origin", 1, "Origin null under no-referrer, same-origin vouched"},
		{"null", NULL, 0, "Origin null alone"},
		{"https://evil.example", NULL, 0, "other origin"},
		{"https://evil.example", "cross-site", 0, "cross-site"},
		{"https://as.example", "cross-site", 0, "own Origin but cross-site"},
		{"https://as.example", "same-site", 0, "same-site is not same-origin"},
		{NULL, "cross-site", 0, "cross-site without Origin"},
		{"null", "cross-site", 0, "null and cross-site"},
		{"https://as.example.evil.example", "same-origin", 0, "prefix of another host"},
		{"https://as.example:8443", "same-origin", 0, "other port"},
		{"http://as.example", "same-origin", 0, "other scheme"},
	};

	config_defaults(&cfg);
	snprintf(cfg.public_origin, sizeof(cfg.public_origin), "https://as.example");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(consent_origin_ok(&cfg, t[i].origin, t[i].site), t[i].want, "origin: %s",
		       t[i].name);
}

static void
test_redirect_key(void)
{
	static const struct {
		const char *uri, *key, *host;
		int kind;
	} t[] = {
		{"https://client.example/cb", "https://client.example/cb", "client.example", 0},
		{"https://Client.Example:8443/cb", "https://Client.Example:8443/cb", "client.example", 0},
		{"http://127.0.0.1:53682/callback", "http://127.0.0.1/callback", "127.0.0.1", 1},
		{"http://127.0.0.1/callback", "http://127.0.0.1/callback", "127.0.0.1", 1},
		{"http://localhost:3000/cb?x=1", "http://localhost/cb?x=1", "localhost", 1},
		{"http://[::1]:9000/cb", "http://[::1]/cb", "[::1]", 1},
		{"http://app.localhost:80/cb", "http://app.localhost:80/cb", "app.localhost", 1},
		{"https://localhost:8443/cb", "https://localhost:8443/cb", "localhost", 1},
		{"http://127.0.0.1.evil.example:80/cb", "http://127.0.0.1.evil.example:80/cb",
		 "127.0.0.1.evil.example", 0},
		{"com.example.app:/oauth", "com.example.app:/oauth", "com.example.app", 2},
		{"https://user@evil.example/cb", "https://user@evil.example/cb", "evil.example", 0},
	};
	char key[1200], host[300];
	int kind;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(consent_redirect_key(t[i].uri, key, sizeof(key)), 0, "key for %s", t[i].uri);
		is_str(key, t[i].key, "redirect key of %s", t[i].uri);
		is_int(consent_redirect_host(t[i].uri, host, sizeof(host), &kind), 0, "host of %s",
		       t[i].uri);
		is_str(host, t[i].host, "host shown for %s", t[i].uri);
		is_int(kind, t[i].kind, "kind of %s", t[i].uri);
	}
	is_int(consent_redirect_host("no-scheme-here", host, sizeof(host), &kind), -1,
	       "no scheme: no host");
	is_int(consent_redirect_host("https://[::1/cb", host, sizeof(host), &kind), -1,
	       "unclosed IPv6 literal");
}

static void
test_cookie(void)
{
	const char *cid = "client-1", *ru = "http://127.0.0.1:5000/cb";
	char name[CONSENT_COOKIE_NAME_MAX], name2[CONSENT_COOKIE_NAME_MAX];
	char v[CONSENT_COOKIE_VALUE_MAX], t[CONSENT_COOKIE_VALUE_MAX];
	time_t now = 1800000000;
	long ttl = 86400;

	is_int(consent_cookie_name(cid, ru, name, sizeof(name)), 0, "cookie name");
	ok(strncmp(name, "__Host-", 7) == 0, "__Host- prefix");
	consent_cookie_name(cid, "http://127.0.0.1:6000/cb", name2, sizeof(name2));
	is_str(name, name2, "same name for another loopback port");
	consent_cookie_name("client-2", ru, name2, sizeof(name2));
	ok(strcmp(name, name2) != 0, "another client, another cookie");
	consent_cookie_name(cid, "http://127.0.0.1:5000/other", name2, sizeof(name2));
	ok(strcmp(name, name2) != 0, "another path, another cookie");

	is_int(consent_cookie_value(&ring, cid, ru, "local:alice", 3, now + 3600, "rec-1", v, sizeof(v)), 0,
	       "sign");
	ok(strspn(v, "0123456789.-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
		   strlen(v),
	   "value uses cookie-safe characters only");
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, v, now, ttl, NULL, 0), 1, "verifies");
	is_int(consent_cookie_ok(&ring, cid, "http://127.0.0.1:7777/cb", "local:alice", 1, v, now, ttl, NULL, 0),
	       1, "any loopback port (RFC 8252 §7.3)");
	is_int(consent_cookie_ok(&ring, cid, "http://127.0.0.1:5000/cb2", "local:alice", 1, v, now, ttl, NULL, 0),
	       0, "other redirect path refused");
	is_int(consent_cookie_ok(&ring, cid, "https://127.0.0.1:5000/cb", "local:alice", 1, v, now, ttl, NULL, 0),
	       0, "other scheme refused");
	is_int(consent_cookie_ok(&ring, "client-2", ru, "local:alice", 1, v, now, ttl, NULL, 0), 0,
	       "other client refused");
	is_int(consent_cookie_ok(&ring, cid, ru, "local:bob", 1, v, now, ttl, NULL, 0), 0, "other user refused");
	is_int(consent_cookie_ok(&ring, cid, ru, "", 1, v, now, ttl, NULL, 0), 0, "no user refused");
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 1, v, now, ttl, NULL, 0), 1,
	       "narrower scope covered");
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 4, v, now, ttl, NULL, 0), 0,
	       "wider scope refused");
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, v, now + 3600, ttl, NULL, 0), 0,
	       "expired at exp");
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, v, now, 60, NULL, 0), 0,
	       "lifetime lowered since: refused");
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, v, now, 0, NULL, 0), 0,
	       "consent_ttl 0: never remembered");
	is_int(consent_cookie_ok(&other, cid, ru, "local:alice", 3, v, now, ttl, NULL, 0), 0,
	       "other key refused");
	is_int(consent_cookie_ok(&ring2, cid, ru, "local:alice", 3, v, now, ttl, NULL, 0), 1,
	       "old key still verifies after rotation");

	/* Tampering with any part. */
	snprintf(t, sizeof(t), "%lld%s", (long long)now + 7200, strchr(v, '.'));
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, t, now, ttl, NULL, 0), 0,
	       "extended expiry refused");
	snprintf(t, sizeof(t), "%lld.7%s", (long long)now + 3600, strchr(strchr(v, '.') + 1, '.'));
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, t, now, ttl, NULL, 0), 0,
	       "widened scope refused");
	/* Finding 2b: the record id is signed; a cookie for one record cannot
	 * be pointed at another (re-approved, after a revocation). */
	{
		const char *mac = strrchr(v, '.');
		snprintf(t, sizeof(t), "%lld.3.rec-2%s", (long long)now + 3600, mac);
		is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, t, now, ttl, NULL, 0), 0,
		       "other record id refused");
	}
	{
		char id[CONSENT_ID_MAX];
		is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, v, now, ttl, id, sizeof(id)),
		       1, "verifies and names its record");
		is_str(id, "rec-1", "record id comes back");
		is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, v, now, ttl, id, 3), 0,
		       "id that does not fit the caller's buffer: refused");
	}
	is_int(consent_cookie_value(&ring, cid, ru, "local:alice", 3, now + 3600, "", t, sizeof(t)),
	       -1, "no record id: no cookie");
	is_int(consent_cookie_value(&ring, cid, ru, "local:alice", 3, now + 3600, "a.b", t,
				    sizeof(t)),
	       -1, "record id with a dot refused");
	memcpy(t, v, sizeof(t));
	t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 3, t, now, ttl, NULL, 0), 0,
	       "changed MAC refused");

	static const char *const garbage[] = {
		"", ".", "..", "1.2.", "abc.3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"-1.3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"+1900000000.3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1900000000.99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"99999999999999999999999.3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1900000000.3.AAAA",
		"1900000000.3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1900000000 .3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1900000000.3..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1900000000.3.a b.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1900000000.3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1900000000.3.rec-1",
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 1, garbage[i], now, ttl, NULL, 0), 0,
		       "garbage cookie %zu refused", i);
	is_int(consent_cookie_ok(&ring, cid, ru, "local:alice", 1, NULL, now, ttl, NULL, 0), 0,
	       "no cookie refused");
}

/* consent_remembered reads the Cookie header of a request. */
static void
test_remembered(void)
{
	const char *cid = "client-1", *ru = "https://client.example/cb";
	char name[CONSENT_COOKIE_NAME_MAX], v[CONSENT_COOKIE_VALUE_MAX], hdr[512];
	char *envp[4];
	struct http_req req;
	time_t now = time(NULL);

	consent_cookie_name(cid, ru, name, sizeof(name));
	consent_cookie_value(&ring, cid, ru, "", 1, now + 600, "rec-1", v, sizeof(v));
	snprintf(hdr, sizeof(hdr), "HTTP_COOKIE=a=b; %s=%s; c=d", name, v);
	envp[0] = hdr;
	envp[1] = (char *)"REQUEST_METHOD=GET";
	envp[2] = NULL;
	http_req_init(&req, envp, NULL, NULL);
	is_int(consent_remembered(&ring, &req, cid, ru, "", 1, now, 86400, NULL, 0), 1,
	       "remembered from the Cookie header");
	is_int(consent_remembered(&ring, &req, cid, ru, "", 3, now, 86400, NULL, 0), 0,
	       "not for more scope than approved");
	is_int(consent_remembered(&ring, &req, "client-2", ru, "", 1, now, 86400, NULL, 0), 0,
	       "not for another client");
	is_int(consent_remembered(&ring, &req, cid, ru, "", 1, now, 0, NULL, 0), 0, "not when consent_ttl is 0");
	{
		/* Finding 8: more cookies than the request parser keeps; the one
		 * asked for comes last and is still found. */
		struct buf big;
		char id[CONSENT_ID_MAX], got[CONSENT_COOKIE_VALUE_MAX];
		buf_init(&big, 16384);
		buf_puts(&big, "HTTP_COOKIE=");
		for (int i = 0; i < 100; i++)
			buf_printf(&big, "__Host-mcpgate-consent-x%d=%d; ", i, i);
		buf_printf(&big, "%s=%s", name, v);
		envp[0] = big.data;
		http_req_init(&req, envp, NULL, NULL);
		is_int(consent_remembered(&ring, &req, cid, ru, "", 1, now, 86400, id, sizeof(id)), 1,
		       "found behind 100 other cookies");
		is_str(id, "rec-1", "with its record id");
		is_int(consent_cookie_find(&req, "__Host-mcpgate-consent-x99", 0, got, sizeof(got)), 1,
		       "cookie_find: the 100th cookie");
		is_str(got, "99", "cookie_find: its value");
		is_int(consent_cookie_find(&req, "__Host-mcpgate-consent-x9", 1, got, sizeof(got)), 0,
		       "cookie_find: no second cookie of a name, and no prefix match");
		is_int(consent_cookie_find(&req, "__Host-mcpgate-consent-x1", 0, got, 1), 0,
		       "cookie_find: value that does not fit");
		buf_free(&big);
		envp[0] = hdr;
	}
	snprintf(hdr, sizeof(hdr), "HTTP_COOKIE=%s=%s; %s=%s", name, "1.1.x.forged", name, v);
	http_req_init(&req, envp, NULL, NULL);
	is_int(consent_remembered(&ring, &req, cid, ru, "", 1, now, 86400, NULL, 0), 1,
	       "a forged cookie of the same name does not hide the good one");
	snprintf(hdr, sizeof(hdr), "HTTP_COOKIE=%s=%s", name, "1.1.forged");
	http_req_init(&req, envp, NULL, NULL);
	is_int(consent_remembered(&ring, &req, cid, ru, "", 1, now, 86400, NULL, 0), 0, "forged cookie");
	envp[0] = (char *)"REQUEST_METHOD=GET";
	envp[1] = NULL;
	http_req_init(&req, envp, NULL, NULL);
	is_int(consent_remembered(&ring, &req, cid, ru, "", 1, now, 86400, NULL, 0), 0, "no cookie");
}

static void
test_html_text(void)
{
	static const struct {
		const char *in;
		size_t max;
		const char *out, *name;
	} t[] = {
		{"<script>alert(1)</script>", 100, "&lt;script&gt;alert(1)&lt;/script&gt;", "tags"},
		{"a\"b'c&d", 100, "a&quot;b&#39;c&amp;d", "quotes and ampersand"},
		{"line\nbreak\ttab", 100, "line break tab", "whitespace controls become spaces"},
		{"bell\x07 esc\x1b", 100, "bell esc", "other controls dropped"},
		{"abc\xe2\x80\xae" "fdp.exe", 100, "abcfdp.exe", "bidi override dropped"},
		{"x\xe2\x81\xa6y\xe2\x80\x8bz\xef\xbb\xbf", 100, "xyz", "isolates, zero-width, BOM dropped"},
		{"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", 100, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
		 "UTF-8 kept"},
		{"bad\xff\xc3", 100, "bad\xef\xbf\xbd\xef\xbf\xbd", "invalid UTF-8 replaced"},
		{"\xc0\xaf", 100, "\xef\xbf\xbd\xef\xbf\xbd", "overlong replaced"},
		{"\xed\xa0\x80", 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate replaced"},
		{"abcdef", 3, "abc\xe2\x80\xa6", "truncated with an ellipsis"},
		{"\xc2\x85x", 100, "x", "C1 control dropped"},
	};
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		consent_html_text(&b, t[i].in, t[i].max);
		is_str(b.data != NULL ? b.data : "", t[i].out, "html text: %s", t[i].name);
	}
	buf_free(&b);
}

/* Every element in page is one the page template uses, no tag carries an
 * on* attribute and nothing loads from elsewhere (src, link, script). */
static int
tags_ok(const char *page)
{
	static const char *const allowed[] = {
		"!DOCTYPE", "html", "head", "meta", "title", "style", "body", "main", "div",
		"span", "h1", "h2", "p", "strong", "section", "ul", "li", "code", "dl", "dt",
		"dd", "a", "form", "input", "button"};
	const char *p = page;

	while ((p = strchr(p, '<')) != NULL) {
		const char *end = strchr(p, '>'), *q;
		size_t n, i;

		if (end == NULL)
			return 0;
		p += p[1] == '/' ? 2 : 1;
		n = strcspn(p, " >");
		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			if (strlen(allowed[i]) == n && strncmp(allowed[i], p, n) == 0)
				break;
		if (i == sizeof(allowed) / sizeof(allowed[0])) {
			printf("# unexpected element <%.*s>\n", (int)n, p);
			return 0;
		}
		for (q = p; q < end; q++)
			if ((q[0] == ' ' && strncasecmp(q + 1, "on", 2) == 0) ||
			    strncasecmp(q, " src=", 5) == 0) {
				printf("# unexpected attribute in <%.*s>\n", (int)(end - p), p);
				return 0;
			}
		p = end + 1;
	}
	return 1;
}

static struct consent_view
view(const char *name, const char *uri, const char *redirect)
{
	return (struct consent_view){.server_name = "mcpgate",
				     .action = "https://as.example/oauth/consent",
				     .txn_id = txn1,
				     .csrf = "CSRFCSRFCSRFCSRFCSRFCSRFCSRFCSRFCSRFCSRFCSR",
				     .client_id = "cid-\"<x>",
				     .client_name = name,
				     .client_uri = uri,
				     .redirect_uri = redirect,
				     .scope = SCOPE_ALL,
				     .user = "alice"};
}

static void
test_page(void)
{
	struct consent_view v;
	struct buf b;

	buf_init(&b, 0);
	v = view("<script>alert('x')</script><img src=x onerror=alert(1)>",
		 "javascript:alert(document.cookie)", "https://client.example/cb?a=<b>");
	is_int(consent_page(&v, &b), 0, "page renders");
	ok(strstr(b.data, "<script") == NULL, "no script element from a hostile name");
	ok(strstr(b.data, "<img") == NULL, "no img element from a hostile name");
	ok(strstr(b.data, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") != NULL,
	   "hostile name shown as text");
	ok(strstr(b.data, "href=\"javascript") == NULL, "javascript: client_uri is not a link");
	ok(strstr(b.data, "javascript:alert(document.cookie)") != NULL, "but is shown as text");
	ok(strstr(b.data, "cid-&quot;&lt;x&gt;") != NULL, "client_id escaped");
	ok(strstr(b.data, "client.example/cb?a=&lt;b&gt;") != NULL, "redirect URI escaped");
	ok(strstr(b.data, "<div class=\"host\">client.example</div>") != NULL,
	   "redirect host shown prominently");
	ok(strstr(b.data, "class=\"warn\"") == NULL, "no loopback warning for a web host");
	for (size_t i = 0; i < scope_count; i++)
		ok(strstr(b.data, scope_table[i].description) != NULL, "scope in plain words: %s",
		   scope_table[i].name);
	ok(strstr(b.data, "name=\"csrf\" value=\"CSRFCSRFCSRFCSRFCSRFCSRFCSRFCSRFCSRFCSRFCSR\"") !=
		   NULL,
	   "CSRF token in the form");
	ok(strstr(b.data, "name=\"txn\" value=\"AAAA") != NULL, "transaction in the form");
	ok(strstr(b.data, "value=\"approve\"") != NULL && strstr(b.data, "value=\"deny\"") != NULL,
	   "Approve and Deny");
	ok(strstr(b.data, "action=\"https://as.example/oauth/consent\"") != NULL,
	   "posts to the consent endpoint");
	ok(strstr(b.data, "Signed in as <strong>alice</strong>") != NULL, "signed-in user shown");
	ok(tags_ok(b.data), "only the page's own elements, no event handlers, no external assets");

	buf_reset(&b);
	v = view("Good App", "https://good.example/about", "http://127.0.0.1:33418/callback");
	consent_page(&v, &b);
	ok(strstr(b.data, "class=\"warn\"") != NULL, "loopback warning for 127.0.0.1");
	ok(strstr(b.data, "href=\"https://good.example/about\"") != NULL, "https client_uri linked");
	ok(strstr(b.data, "rel=\"noopener noreferrer nofollow\"") != NULL, "link without opener");
	buf_reset(&b);
	v = view("", "", "http://localhost:8080/cb");
	consent_page(&v, &b);
	ok(strstr(b.data, "class=\"warn\"") != NULL, "loopback warning for localhost");
	ok(strstr(b.data, "<h1>cid-&quot;&lt;x&gt; wants") != NULL, "no name: client_id instead");
	buf_reset(&b);
	v = view("x", "", "http://[::1]:8080/cb");
	consent_page(&v, &b);
	ok(strstr(b.data, "class=\"warn\"") != NULL, "loopback warning for [::1]");
	buf_reset(&b);
	v = view("x", "https://a\"onmouseover=\"alert(1)", "https://c.example/cb");
	consent_page(&v, &b);
	ok(strstr(b.data, "href=") == NULL, "a client_uri with quotes is not linked");
	ok(strstr(b.data, "\"onmouseover") == NULL, "and cannot break out of an attribute");

	/* A huge hostile name is truncated, not allowed to flood the page. */
	char *big = malloc(20000);
	memset(big, 'A', 19999);
	big[19999] = '\0';
	buf_reset(&b);
	v = view(big, "", "https://c.example/cb");
	is_int(consent_page(&v, &b), 0, "page with a 20 KB name renders");
	ok(b.len < 12000, "name truncated (%zu bytes)", b.len);
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
test_headers(void)
{
	struct http_resp r;
	struct consent_view v = view("n", "", "https://c.example/cb");
	const char *csp;
	char *s, *e;
	unsigned char h[CRYPTO_SHA256_LEN];
	char b64[64], want[100];

	http_resp_init(&r);
	consent_page(&v, &r.body);
	consent_page_headers(&r);
	csp = header(&r, "Content-Security-Policy");
	ok(csp != NULL, "CSP present");
	ok(csp != NULL && strstr(csp, "frame-ancestors 'none'") != NULL, "frame-ancestors 'none'");
	ok(csp != NULL && strstr(csp, "default-src 'none'") != NULL, "default-src 'none'");
	ok(csp != NULL && strstr(csp, "unsafe-inline") == NULL, "no unsafe-inline");
	ok(csp != NULL && strstr(csp, "script-src") == NULL, "no script source at all");
	is_str(header(&r, "X-Frame-Options"), "DENY", "X-Frame-Options DENY");
	is_str(header(&r, "Cache-Control"), "no-store", "Cache-Control no-store");
	is_str(header(&r, "Referrer-Policy"), "no-referrer", "Referrer-Policy no-referrer");
	is_str(header(&r, "Content-Type"), "text/html; charset=utf-8", "HTML");
	/* The hash in the CSP must be that of the page's one style element. */
	s = strstr(r.body.data, "<style>");
	e = strstr(r.body.data, "</style>");
	ok(s != NULL && e != NULL && strstr(e + 1, "<style") == NULL, "one style element");
	if (s != NULL && e != NULL && csp != NULL) {
		s += 7;
		crypto_sha256(s, (size_t)(e - s), h);
		crypto_b64url_encode(h, sizeof(h), b64, sizeof(b64));
		for (char *p = b64; *p != '\0'; p++)
			*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
		snprintf(want, sizeof(want), "style-src 'sha256-%s='", b64);
		ok(strstr(csp, want) != NULL, "CSP style hash matches the stylesheet");
	}
	http_resp_free(&r);
}

int
main(void)
{
	make_rings();
	test_csrf();
	test_origin();
	test_redirect_key();
	test_cookie();
	test_remembered();
	test_html_text();
	test_page();
	test_headers();
	crypto_keyring_wipe(&ring);
	crypto_keyring_wipe(&ring2);
	crypto_keyring_wipe(&other);
	return tap_done();
}
