/*
 * test_valid: field tables (missing, duplicate, overlong, invalid, unknown
 * and empty fields) and every validator, including UTF-8 edge cases.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "tap.h"
#include "valid.h"

/* ---- valid_form ---- */

enum { F_GRANT, F_CODE, F_STATE, F_RESOURCE, F_SCOPE, F_CHALLENGE, F_NONCE, F__MAX };

static const struct valid_field fields[F__MAX] = {
	[F_GRANT] = {"grant_type", 32, VALID_REQUIRED, valid_vschar},
	[F_CODE] = {"code", 16, VALID_REQUIRED, valid_vschar},
	[F_STATE] = {"state", 16, 0, valid_printable_ascii},
	[F_RESOURCE] = {"resource", 64, VALID_MULTI, valid_absolute_uri},
	[F_SCOPE] = {"scope", 64, 0, valid_scope},
	[F_CHALLENGE] = {"code_challenge", 128, 0, valid_pkce},
	[F_NONCE] = {"nonce", 0, VALID_EMPTY, NULL},
};

#define BASE "grant_type=authorization_code&code=c1"

struct form_case {
	const char *form;
	int rc;
	const char *err;       /* expected message when rc == -1 */
	const char *want[F__MAX]; /* expected values when rc == 0 */
};

static const struct form_case form_cases[] = {
	{BASE, 0, "", {"authorization_code", "c1"}},
	{"code=c1", -1, "missing parameter 'grant_type'", {0}},
	{"", -1, "missing parameter 'grant_type'", {0}},
	{"grant_type=x", -1, "missing parameter 'code'", {0}},
	{"grant_type=x&code=", -1, "missing parameter 'code'", {0}},
	{"grant_type=x&grant_type=x&code=y", -1, "duplicate parameter 'grant_type'", {0}},
	{BASE "&state=a&state=b", -1, "duplicate parameter 'state'", {0}},
	{BASE "&state=&state=b", 0, "", {"authorization_code", "c1", "b"}},
	{"grant_type=x&code=12345678901234567", -1, "parameter 'code' too long", {0}},
	{"grant_type=x&code=1234567890123456", 0, "", {"x", "1234567890123456"}},
	{"grant_type=x&code=a+b", -1, "invalid parameter 'code'", {0}},
	{BASE "&state=%0A", -1, "invalid parameter 'state'", {0}},
	{BASE "&resource=https://a/&resource=https://b/", 0, "",
	 {"authorization_code", "c1", NULL, "https://a/"}},
	{BASE "&resource=https://a/&resource=bad+uri", -1, "invalid parameter 'resource'", {0}},
	{BASE "&unknown=1&unknown=2&=zz&=", 0, "", {"authorization_code", "c1"}},
	{BASE "&scope=a++b", -1, "invalid parameter 'scope'", {0}},
	{BASE "&scope=mcp%3Aread+snippets", 0, "",
	 {"authorization_code", "c1", NULL, NULL, "mcp:read snippets"}},
	{BASE "&code_challenge=short", -1, "invalid parameter 'code_challenge'", {0}},
	{BASE "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", 0, "",
	 {"authorization_code", "c1", NULL, NULL, NULL,
	  "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}},
	{BASE "&nonce=", 0, "", {"authorization_code", "c1", NULL, NULL, NULL, NULL, ""}},
	{BASE "&nonce=&nonce=", -1, "duplicate parameter 'nonce'", {0}},
	{BASE "&nonce=%C0%80", 0, "",
	 {"authorization_code", "c1", NULL, NULL, NULL, NULL, "\xc0\x80"}},
};

static void
test_form_table(void)
{
	for (size_t i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
		const struct form_case *c = &form_cases[i];
		struct http_form f;
		const char *vals[F__MAX];
		char err[128];
		int rc, allnull = 1, same = 1;

		if (http_form_parse(c->form, strlen(c->form), 0, &f) != HTTP_OK) {
			ok(0, "form %zu parses", i);
			http_form_free(&f);
			continue;
		}
		memset(err, 'x', sizeof(err));
		rc = valid_form(&f, fields, F__MAX, vals, err, sizeof(err));
		is_int(rc, c->rc, "form %zu \"%s\": rc", i, c->form);
		is_str(err, c->err, "form %zu: message", i);
		for (size_t j = 0; j < F__MAX; j++) {
			const char *w = c->want[j];

			if (vals[j] != NULL)
				allnull = 0;
			if ((w == NULL) != (vals[j] == NULL) ||
			    (w != NULL && strcmp(w, vals[j]) != 0))
				same = 0;
		}
		if (rc == 0)
			ok(same, "form %zu: values", i);
		else
			ok(allnull, "form %zu: no values on error", i);
		http_form_free(&f);
	}
}

static void
test_form_edges(void)
{
	const char *vals[F__MAX];
	char small[8];

	is_int(valid_form(NULL, fields, F__MAX, vals, small, sizeof(small)), -1, "NULL form");
	is_str(small, "missing", "message truncated to the buffer");
	is_int(valid_form(NULL, fields, F__MAX, vals, NULL, 0), -1, "no message buffer");
	is_int(valid_form(NULL, fields + F_STATE, 1, vals, NULL, 0), 0,
	       "optional field absent is fine");
	ok(vals[0] == NULL, "absent value is NULL");
	is_int(valid_form(NULL, NULL, 0, vals, NULL, 0), 0, "empty table");
}

/* ---- validators ---- */

struct vcase {
	valid_fn fn;
	const char *fname;
	const char *v;
	size_t len; /* 0: strlen(v) */
	int want;
};

#define V(fn, s, want) {fn, #fn, s, 0, want}
#define VL(fn, s, len, want) {fn, #fn, s, len, want}

#define P43 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
#define P128 P43 P43 "0123456789-._~0123456789-._~0123456789-._~"

static const struct vcase vcases[] = {
	VL(valid_printable_ascii, "", 0, 1),
	V(valid_printable_ascii, "Hello, World ~!", 1),
	V(valid_printable_ascii, "tab\there", 0),
	V(valid_printable_ascii, "\x1f", 0),
	V(valid_printable_ascii, "\x7f", 0),
	V(valid_printable_ascii, "caf\xc3\xa9", 0),
	VL(valid_printable_ascii, "a\0b", 3, 0),

	VL(valid_vschar, "", 0, 1),
	V(valid_vschar, "abc!~\"\\", 1),
	V(valid_vschar, "a b", 0),
	V(valid_vschar, "\x80", 0),
	V(valid_vschar, "a\n", 0),

	VL(valid_b64url_chars, "", 0, 1),
	V(valid_b64url_chars, "AZaz09-_", 1),
	V(valid_b64url_chars, "a+b", 0),
	V(valid_b64url_chars, "a/b", 0),
	V(valid_b64url_chars, "ab==", 0),
	V(valid_b64url_chars, "a.b", 0),

	V(valid_pkce, P43, 1),
	VL(valid_pkce, P43, 42, 0),
	V(valid_pkce, P128, 1),
	V(valid_pkce, P128 "a", 0),
	V(valid_pkce, "-._~" P43, 1),
	V(valid_pkce, "+" P43, 0),
	V(valid_pkce, "=" P43, 0),
	V(valid_pkce, " " P43, 0),
	V(valid_pkce, "%" P43, 0),
	VL(valid_pkce, "", 0, 0),

	V(valid_uint, "0", 1),
	V(valid_uint, "7", 1),
	V(valid_uint, "3600", 1),
	V(valid_uint, "4294967295", 1),
	V(valid_uint, "4294967296", 0),
	V(valid_uint, "9999999999", 0),
	V(valid_uint, "12345678901", 0),
	V(valid_uint, "99999999999999999999999", 0),
	V(valid_uint, "01", 0),
	V(valid_uint, "00", 0),
	VL(valid_uint, "", 0, 0),
	V(valid_uint, "-1", 0),
	V(valid_uint, "+1", 0),
	V(valid_uint, "1 ", 0),
	V(valid_uint, "0x10", 0),

	V(valid_scope, "openid", 1),
	V(valid_scope, "a b c", 1),
	V(valid_scope, "mcp:read snippets:write", 1),
	V(valid_scope, "!#[]~", 1),
	VL(valid_scope, "", 0, 0),
	V(valid_scope, " a", 0),
	V(valid_scope, "a ", 0),
	V(valid_scope, "a  b", 0),
	V(valid_scope, " ", 0),
	V(valid_scope, "a\"b", 0),
	V(valid_scope, "a\\b", 0),
	V(valid_scope, "a\tb", 0),
	V(valid_scope, "caf\xc3\xa9", 0),

	V(valid_absolute_uri, "https://example.com/cb", 1),
	V(valid_absolute_uri, "http://127.0.0.1:8080/cb?x=1&y=%2F", 1),
	V(valid_absolute_uri, "https://[::1]:8080/cb", 1),
	V(valid_absolute_uri, "com.example.app:/oauth2redirect", 1),
	V(valid_absolute_uri, "urn:ietf:wg:oauth:2.0:oob", 1),
	V(valid_absolute_uri, "a:", 1),
	VL(valid_absolute_uri, "", 0, 0),
	V(valid_absolute_uri, "/relative", 0),
	V(valid_absolute_uri, "//host/x", 0),
	V(valid_absolute_uri, ":nope", 0),
	V(valid_absolute_uri, "nocolon", 0),
	V(valid_absolute_uri, "1http://x", 0),
	V(valid_absolute_uri, "ht tp://x", 0),
	V(valid_absolute_uri, "ht_tp://x", 0),
	V(valid_absolute_uri, "https://x/a b", 0),
	V(valid_absolute_uri, "https://x/#frag", 0),
	V(valid_absolute_uri, "https://x/\x01", 0),
	V(valid_absolute_uri, "https://x/\r\nLocation: y", 0),
	V(valid_absolute_uri, "https://x/%zz", 0),
	V(valid_absolute_uri, "https://x/%4", 0),
	V(valid_absolute_uri, "https://x/%", 0),
	V(valid_absolute_uri, "https://x/<script>", 0),
	V(valid_absolute_uri, "https://x/\"", 0),
	V(valid_absolute_uri, "http:\\\\evil", 0),
	V(valid_absolute_uri, "https://x/caf\xc3\xa9", 0),
	VL(valid_absolute_uri, "https://x/\0y", 11, 0),

	VL(valid_utf8, "", 0, 1),
	V(valid_utf8, "plain ascii\t\n", 1),
	V(valid_utf8, "\xc2\x80", 1),             /* U+0080, smallest 2-byte */
	V(valid_utf8, "\xc3\xa9", 1),             /* U+00E9 */
	V(valid_utf8, "\xdf\xbf", 1),             /* U+07FF */
	V(valid_utf8, "\xe0\xa0\x80", 1),         /* U+0800, smallest 3-byte */
	V(valid_utf8, "\xe2\x82\xac", 1),         /* U+20AC euro */
	V(valid_utf8, "\xed\x9f\xbf", 1),         /* U+D7FF, just below surrogates */
	V(valid_utf8, "\xee\x80\x80", 1),         /* U+E000, just above */
	V(valid_utf8, "\xef\xbf\xbf", 1),         /* U+FFFF */
	V(valid_utf8, "\xf0\x90\x80\x80", 1),     /* U+10000, smallest 4-byte */
	V(valid_utf8, "\xf0\x9f\x98\x80", 1),     /* U+1F600, valid 4-byte */
	V(valid_utf8, "\xf4\x8f\xbf\xbf", 1),     /* U+10FFFF, the last */
	V(valid_utf8, "a\xc3\xa9z\xf0\x9f\x98\x80!", 1),
	V(valid_utf8, "\xc0\x80", 0),             /* overlong NUL */
	V(valid_utf8, "\xc0\xaf", 0),             /* overlong '/' */
	V(valid_utf8, "\xc1\xbf", 0),             /* overlong U+007F */
	V(valid_utf8, "\xe0\x80\xaf", 0),         /* overlong 3-byte '/' */
	V(valid_utf8, "\xe0\x9f\xbf", 0),         /* overlong U+07FF */
	V(valid_utf8, "\xf0\x80\x80\xaf", 0),     /* overlong 4-byte '/' */
	V(valid_utf8, "\xf0\x8f\xbf\xbf", 0),     /* overlong U+FFFF */
	V(valid_utf8, "\xed\xa0\x80", 0),         /* U+D800 high surrogate */
	V(valid_utf8, "\xed\xbf\xbf", 0),         /* U+DFFF low surrogate */
	V(valid_utf8, "\xed\xa0\xbd\xed\xb8\x80", 0), /* CESU-8 surrogate pair */
	V(valid_utf8, "\xf4\x90\x80\x80", 0),     /* U+110000, too big */
	V(valid_utf8, "\xf5\x80\x80\x80", 0),
	V(valid_utf8, "\xf7\xbf\xbf\xbf", 0),
	V(valid_utf8, "\xf8\x88\x80\x80\x80", 0), /* 5-byte form */
	V(valid_utf8, "\xfc\x84\x80\x80\x80\x80", 0),
	V(valid_utf8, "\xfe", 0),
	V(valid_utf8, "\xff", 0),
	V(valid_utf8, "\x80", 0),                 /* lone continuation */
	V(valid_utf8, "\xbf", 0),
	V(valid_utf8, "\xc3", 0),                 /* truncated 2-byte */
	V(valid_utf8, "\xe2\x82", 0),             /* truncated 3-byte */
	V(valid_utf8, "\xf0\x9f\x98", 0),         /* truncated 4-byte */
	V(valid_utf8, "\xf0\x9f", 0),
	V(valid_utf8, "a\xc3", 0),
	VL(valid_utf8, "\xc3\xa9", 1, 0),          /* cut by the length */
	VL(valid_utf8, "\xf0\x9f\x98\x80", 3, 0),
	V(valid_utf8, "\xc3\x28", 0),             /* bad continuation */
	V(valid_utf8, "\xe2\x28\xa1", 0),
	V(valid_utf8, "\xe2\x82\x28", 0),
	V(valid_utf8, "\xf0\x28\x8c\xbc", 0),
	V(valid_utf8, "\xf0\x9f\x98\xc3\xa9", 0),
	VL(valid_utf8, "a\0b", 3, 0),              /* NUL */
};

static void
test_validators(void)
{
	for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		const struct vcase *c = &vcases[i];
		size_t len = c->len != 0 || c->v[0] == '\0' ? c->len : strlen(c->v);

		is_int(c->fn(c->v, len), c->want, "%s case %zu (len %zu)", c->fname, i, len);
	}
}

/* Encode cp as UTF-8 (cp <= 0x10FFFF); returns the length. */
static size_t
utf8_encode(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Exhaustive: every scalar value's encoding passes, and the number of byte
 * strings of each length that pass equals the number of scalar values with
 * that encoded length, so nothing else (overlong, surrogate, too big) does. */
static void
test_utf8_exhaustive(void)
{
	unsigned char s[4];
	uint32_t cp;
	size_t bad = 0, n2 = 0, n3 = 0, n4 = 0, n1 = 0;

	for (cp = 1; cp <= 0x10ffff; cp++) {
		size_t len = utf8_encode(cp, s);
		int want = !(cp >= 0xd800 && cp <= 0xdfff);

		if (valid_utf8((const char *)s, len) != want)
			bad++;
	}
	is_int(bad, 0, "every code point: encoding valid iff not a surrogate");
	for (unsigned a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		n1 += (size_t)valid_utf8((const char *)s, 1);
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			n2 += (size_t)valid_utf8((const char *)s, 2);
		}
	}
	is_int(n1, 0x7f, "1-byte strings valid: U+0001..U+007F");
	/* 2-byte strings of two ASCII chars pass too: 127 * 127 of them. */
	is_int(n2, 0x800 - 0x80 + 127 * 127, "2-byte strings valid");
	for (unsigned a = 0xe0; a <= 0xef; a++)
		for (unsigned b = 0x80; b <= 0xbf; b++)
			for (unsigned c = 0x80; c <= 0xbf; c++) {
				s[0] = (unsigned char)a;
				s[1] = (unsigned char)b;
				s[2] = (unsigned char)c;
				n3 += (size_t)valid_utf8((const char *)s, 3);
			}
	is_int(n3, 0x10000 - 0x800 - 0x800, "3-byte sequences valid: U+0800..U+FFFF minus surrogates");
	for (unsigned a = 0xf0; a <= 0xff; a++)
		for (unsigned b = 0x80; b <= 0xbf; b++)
			for (unsigned c = 0x80; c <= 0xbf; c++)
				for (unsigned d = 0x80; d <= 0xbf; d++) {
					s[0] = (unsigned char)a;
					s[1] = (unsigned char)b;
					s[2] = (unsigned char)c;
					s[3] = (unsigned char)d;
					n4 += (size_t)valid_utf8((const char *)s, 4);
				}
	is_int(n4, 0x110000 - 0x10000, "4-byte sequences valid: U+10000..U+10FFFF");
}

int
main(void)
{
	test_form_table();
	test_form_edges();
	test_validators();
	test_utf8_exhaustive();
	return tap_done();
}
