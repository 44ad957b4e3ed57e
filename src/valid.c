/*
 * valid: field tables and validators.  See valid.h.
 */
#include "valid.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int
valid_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Check every occurrence of one field; *val gets the first. */
static int
valid_one(const struct http_form *f, const struct valid_field *fd, const char **val,
	  char *err, size_t errlen)
{
	size_t seen = 0;

	for (size_t j = 0; f != NULL && j < f->n; j++) {
		const struct http_kv *kv = &f->kv[j];

		if (strcmp(kv->name, fd->name) != 0)
			continue;
		/* RFC 6749 §3.1: "Parameters sent without a value MUST be
		 * treated as if they were omitted from the request." */
		if (kv->valuelen == 0 && !(fd->flags & VALID_EMPTY))
			continue;
		/* RFC 6749 §3.1: parameters "MUST NOT be included more than once". */
		if (++seen > 1 && !(fd->flags & VALID_MULTI))
			return valid_fail(err, errlen, "duplicate parameter '%s'", fd->name);
		if (fd->maxlen != 0 && kv->valuelen > fd->maxlen)
			return valid_fail(err, errlen, "parameter '%s' too long", fd->name);
		if (fd->check != NULL && !fd->check(kv->value, kv->valuelen))
			return valid_fail(err, errlen, "invalid parameter '%s'", fd->name);
		if (seen == 1)
			*val = kv->value;
	}
	if (seen == 0 && (fd->flags & VALID_REQUIRED))
		return valid_fail(err, errlen, "missing parameter '%s'", fd->name);
	return 0;
}

int
valid_form(const struct http_form *f, const struct valid_field *tbl, size_t ntbl,
	   const char **vals, char *err, size_t errlen)
{
	size_t i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (i = 0; i < ntbl; i++)
		vals[i] = NULL;
	for (i = 0; i < ntbl; i++) {
		if (valid_one(f, &tbl[i], &vals[i], err, errlen) != 0) {
			/* Half-validated output must not be usable by mistake. */
			for (i = 0; i < ntbl; i++)
				vals[i] = NULL;
			return -1;
		}
	}
	return 0;
}

static int
valid_range(const char *v, size_t len, unsigned char lo, unsigned char hi)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < lo || (unsigned char)v[i] > hi)
			return 0;
	return 1;
}

int
valid_printable_ascii(const char *v, size_t len)
{
	return valid_range(v, len, 0x20, 0x7e);
}

int
valid_vschar(const char *v, size_t len)
{
	return valid_range(v, len, 0x21, 0x7e);
}

static int
valid_alnum(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
valid_b64url_chars(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!valid_alnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_')
			return 0;
	return 1;
}

int
valid_pkce(const char *v, size_t len)
{
	if (len < 43 || len > 128)
		return 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)v[i];

		if (!valid_alnum(c) && c != '-' && c != '.' && c != '_' && c != '~')
			return 0;
	}
	return 1;
}

/* Length of the sequence a lead byte starts (0: not a lead byte) and the
 * smallest code point that length may encode (anything less is overlong). */
static size_t
valid_utf8_lead(unsigned char c, uint32_t *cp, uint32_t *min)
{
	if (c >= 0xc2 && c <= 0xdf) {
		*cp = c & 0x1fu;
		*min = 0x80;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		*cp = c & 0x0fu;
		*min = 0x800;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		*cp = c & 0x07u;
		*min = 0x10000;
		return 4;
	}
	return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
}

int
valid_utf8(const char *v, size_t len)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			if (s[i] == 0)
				return 0;
			i++;
			continue;
		}
		if ((n = valid_utf8_lead(s[i], &cp, &min)) == 0 || n > len - i)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

int
valid_uint(const char *v, size_t len)
{
	uint64_t x = 0;

	if (len == 0 || len > 10 || (len > 1 && v[0] == '0'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	return x <= UINT32_MAX;
}

/* RFC 6749 §3.3: NQCHAR = %x21 / %x23-5B / %x5D-7E (no '"', '\\' or space). */
int
valid_scope(const char *v, size_t len)
{
	int after_space = 1;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == ' ') {
			if (after_space)
				return 0; /* leading or doubled space: empty token */
			after_space = 1;
			continue;
		}
		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			return 0;
		after_space = 0;
	}
	return !after_space; /* no trailing space */
}

/* RFC 3986 §2.2-2.3: unreserved, gen-delims and sub-delims, minus '#'
 * (RFC 6749 §3.1.2: a redirection URI MUST NOT include a fragment). */
static int
valid_uri_char(int c)
{
	return valid_alnum(c) || (c != '\0' && strchr("-._~:/?[]@!$&'()*+,;=", c) != NULL);
}

static int
valid_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int
valid_absolute_uri(const char *v, size_t len)
{
	size_t i;

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (len == 0 || !((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z')))
		return 0;
	for (i = 1; i < len && v[i] != ':'; i++)
		if (!valid_alnum((unsigned char)v[i]) && v[i] != '+' && v[i] != '-' && v[i] != '.')
			return 0;
	if (i == len)
		return 0;
	for (i++; i < len; i++) {
		int c = (unsigned char)v[i];

		if (c == '%') {
			if (len - i < 3 || !valid_hex((unsigned char)v[i + 1]) ||
			    !valid_hex((unsigned char)v[i + 2]))
				return 0;
			i += 2;
		} else if (!valid_uri_char(c)) {
			return 0;
		}
	}
	return 1;
}
