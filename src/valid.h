/*
 * valid: check a parsed form against one table of the fields a handler
 * accepts, so the handler only ever sees values that passed.
 *
 *   static const struct valid_field token_fields[] = {
 *       {"grant_type", 64, VALID_REQUIRED, valid_vschar},
 *       {"code", 512, 0, valid_vschar},
 *       {"code_verifier", 128, 0, valid_pkce},
 *   };
 *   const char *v[3];
 *   if (valid_form(&form, token_fields, 3, v, err, sizeof(err)) != 0) -> 400 err
 *
 * Rules (RFC 6749 §3.1, which every OAuth endpoint follows): unknown fields
 * are ignored; a field sent with an empty value counts as omitted; a known
 * field may appear at most once unless VALID_MULTI.
 */
#ifndef MCPGATE_VALID_H
#define MCPGATE_VALID_H

#include <stddef.h>

#include "http.h"

#define VALID_REQUIRED 0x1u /* absent (or empty) is an error */
#define VALID_MULTI 0x2u    /* may repeat (e.g. RFC 8707 resource); each is checked */
#define VALID_EMPTY 0x4u    /* an empty value counts as present and is checked */

/* A validator returns 1 when v[0..len) is acceptable, 0 otherwise. */
typedef int (*valid_fn)(const char *v, size_t len);

struct valid_field {
	const char *name;
	size_t maxlen;  /* longest accepted value in bytes; 0 = no limit but the body cap */
	unsigned flags; /* VALID_* */
	valid_fn check; /* NULL: any value (still length-checked) */
};

/*
 * Check f against tbl[0..ntbl).  vals[i] (ntbl entries, written by this
 * call) gets the first value of tbl[i] (a pointer into f) or NULL when
 * absent.  Returns 0, or -1 with every vals[i] NULL and a message naming the
 * first bad field in err: "missing parameter 'x'", "duplicate parameter 'x'",
 * "parameter 'x' too long", "invalid parameter 'x'".  The message never
 * quotes a value, so it is safe as an OAuth error_description.
 */
int valid_form(const struct http_form *f, const struct valid_field *tbl, size_t ntbl,
	       const char **vals, char *err, size_t errlen);

/* Validators.  Character-class checks accept the empty string; the others
 * say when they do not.  All reject NUL. */
int valid_printable_ascii(const char *v, size_t len); /* 0x20-0x7e */
int valid_vschar(const char *v, size_t len);          /* 0x21-0x7e (RFC 6749 App. A) */
int valid_b64url_chars(const char *v, size_t len);    /* [A-Za-z0-9_-], no padding */
/* RFC 7636 §4.1: 43-128 of [A-Za-z0-9-._~] (code_verifier; fits code_challenge). */
int valid_pkce(const char *v, size_t len);
/* RFC 3629 §4 strict: no overlongs, surrogates, code points past U+10FFFF,
 * truncated sequences or NUL. */
int valid_utf8(const char *v, size_t len);
/* Decimal 0..4294967295: digits only, no sign, no leading zero. */
int valid_uint(const char *v, size_t len);
/* RFC 6749 §3.3: one or more NQCHAR tokens separated by single spaces. */
int valid_scope(const char *v, size_t len);
/* RFC 3986 §4.3 absolute-URI: scheme ":" then URI characters only (no
 * spaces, controls, non-ASCII or '#' fragment), %-escapes well formed. */
int valid_absolute_uri(const char *v, size_t len);

#endif
