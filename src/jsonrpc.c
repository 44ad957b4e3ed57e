/*
 * jsonrpc: strict parsing, classification and rendering of JSON-RPC 2.0
 * messages.  See jsonrpc.h for the contract.
 */
#include "jsonrpc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "valid.h"

/* Raw text of one message's "id" value inside the body. */
struct jsonrpc_span {
	size_t off, len;
	int set;
};

/* The JSON-RPC members whose repetition we refuse (RFC 8259 §4 leaves
 * duplicates to the implementation; a second "id" or "method" read
 * differently by two parsers is how request smuggling starts). */
static const char *const jsonrpc_members[] = {"jsonrpc", "id", "method", "params", "result",
					      "error"};
#define JSONRPC_NMEMBERS (sizeof(jsonrpc_members) / sizeof(jsonrpc_members[0]))
#define JSONRPC_MEMBER_ID 1

struct jsonrpc_scan {
	const unsigned char *p;
	size_t len, pos;
	const char *why;
	size_t nelem;  /* elements of a top-level array */
	struct jsonrpc_span ids[JSONRPC_BATCH_MAX];
	unsigned seen[JSONRPC_BATCH_MAX]; /* bit i: jsonrpc_members[i] present */
	int dup[JSONRPC_BATCH_MAX];
};

static int jsonrpc_scan_value(struct jsonrpc_scan *s, int depth, long msg);

static int
jsonrpc_fail(struct jsonrpc_scan *s, const char *why)
{
	if (s->why == NULL)
		s->why = why;
	return -1;
}

static void
jsonrpc_ws(struct jsonrpc_scan *s)
{
	while (s->pos < s->len && (s->p[s->pos] == ' ' || s->p[s->pos] == '\t' ||
				   s->p[s->pos] == '\n' || s->p[s->pos] == '\r'))
		s->pos++;
}

static int
jsonrpc_hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* One \uXXXX escape at s->pos (just past the 'u'), with its low surrogate
 * when it is a high one.  Unpaired surrogates are not Unicode text
 * (RFC 8259 §8.2) and json-c would silently replace them: refuse them. */
static int
jsonrpc_scan_uescape(struct jsonrpc_scan *s, int *nul)
{
	unsigned u, lo;

	if (s->len - s->pos < 4 || jsonrpc_hex4(s->p + s->pos, &u) != 0)
		return jsonrpc_fail(s, "bad \\u escape");
	s->pos += 4;
	if (u == 0)
		*nul = 1;
	if (u >= 0xdc00 && u <= 0xdfff)
		return jsonrpc_fail(s, "unpaired surrogate escape");
	if (u < 0xd800 || u > 0xdbff)
		return 0;
	if (s->len - s->pos < 6 || s->p[s->pos] != '\\' || s->p[s->pos + 1] != 'u' ||
	    jsonrpc_hex4(s->p + s->pos + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
		return jsonrpc_fail(s, "unpaired surrogate escape");
	s->pos += 6;
	return 0;
}

/* A string at s->pos (on the opening quote).  *start and *n get the raw
 * content between the quotes; *nul is set when it escapes a NUL. */
static int
jsonrpc_scan_string(struct jsonrpc_scan *s, size_t *start, size_t *n, int *nul)
{
	*nul = 0;
	*start = ++s->pos;
	while (s->pos < s->len) {
		unsigned char c = s->p[s->pos++];

		if (c == '"') {
			*n = s->pos - 1 - *start;
			return 0;
		}
		if (c < 0x20)
			return jsonrpc_fail(s, "control character in string");
		if (c != '\\')
			continue;
		if (s->pos >= s->len)
			break;
		c = s->p[s->pos++];
		if (c == 'u') {
			if (jsonrpc_scan_uescape(s, nul) != 0)
				return -1;
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
			return jsonrpc_fail(s, "bad escape");
		}
	}
	return jsonrpc_fail(s, "unterminated string");
}

static size_t
jsonrpc_digits(struct jsonrpc_scan *s)
{
	size_t n = 0;

	while (s->pos < s->len && s->p[s->pos] >= '0' && s->p[s->pos] <= '9') {
		s->pos++;
		n++;
	}
	return n;
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int
jsonrpc_scan_number(struct jsonrpc_scan *s)
{
	if (s->p[s->pos] == '-')
		s->pos++;
	if (s->pos < s->len && s->p[s->pos] == '0')
		s->pos++;
	else if (jsonrpc_digits(s) == 0)
		return jsonrpc_fail(s, "bad number");
	if (s->pos < s->len && s->p[s->pos] == '.') {
		s->pos++;
		if (jsonrpc_digits(s) == 0)
			return jsonrpc_fail(s, "bad number");
	}
	if (s->pos < s->len && (s->p[s->pos] == 'e' || s->p[s->pos] == 'E')) {
		s->pos++;
		if (s->pos < s->len && (s->p[s->pos] == '+' || s->p[s->pos] == '-'))
			s->pos++;
		if (jsonrpc_digits(s) == 0)
			return jsonrpc_fail(s, "bad number");
	}
	return 0;
}

static int
jsonrpc_scan_literal(struct jsonrpc_scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if (s->len - s->pos < n || memcmp(s->p + s->pos, lit, n) != 0)
		return jsonrpc_fail(s, "unexpected character");
	s->pos += n;
	return 0;
}

/* Which JSON-RPC member a raw key names (-1: none).  Escaped keys are
 * decoded first so "\u0069d" cannot hide a second "id". */
static int
jsonrpc_member(const unsigned char *k, size_t n)
{
	char dec[16] = "";
	size_t i = 0, o = 0;

	while (i < n && o < sizeof(dec)) {
		unsigned u;

		if (k[i] != '\\') {
			dec[o++] = (char)k[i++];
			continue;
		}
		if (k[i + 1] != 'u' || jsonrpc_hex4(k + i + 2, &u) != 0 || u == 0 || u > 0x7f)
			return -1; /* no member name holds other escapes */
		dec[o++] = (char)u;
		i += 6;
	}
	if (i < n)
		return -1;
	for (size_t m = 0; m < JSONRPC_NMEMBERS; m++)
		if (strlen(jsonrpc_members[m]) == o && memcmp(jsonrpc_members[m], dec, o) == 0)
			return (int)m;
	return -1;
}

/* Note member key of message msg (-1: not a message object); record where
 * the id value lies once it is scanned. */
static void
jsonrpc_note_member(struct jsonrpc_scan *s, long msg, int m, size_t voff)
{
	if (msg < 0 || m < 0)
		return;
	if (s->seen[msg] & (1u << m))
		s->dup[msg] = 1;
	s->seen[msg] |= 1u << m;
	if (m == JSONRPC_MEMBER_ID) {
		s->ids[msg].off = voff;
		s->ids[msg].len = s->pos - voff;
		s->ids[msg].set = 1;
	}
}

static int
jsonrpc_scan_member(struct jsonrpc_scan *s, int depth, long msg)
{
	size_t kstart, klen, voff;
	int nul, m;

	if (s->pos >= s->len || s->p[s->pos] != '"')
		return jsonrpc_fail(s, "expected member name");
	if (jsonrpc_scan_string(s, &kstart, &klen, &nul) != 0)
		return -1;
	/* json-c keys are C strings: "a\u0000b" would become "a". */
	if (nul)
		return jsonrpc_fail(s, "NUL in member name");
	jsonrpc_ws(s);
	if (s->pos >= s->len || s->p[s->pos] != ':')
		return jsonrpc_fail(s, "expected ':'");
	s->pos++;
	jsonrpc_ws(s);
	voff = s->pos;
	if (jsonrpc_scan_value(s, depth, -1) != 0)
		return -1;
	m = msg >= 0 ? jsonrpc_member(s->p + kstart, klen) : -1;
	jsonrpc_note_member(s, msg, m, voff);
	return 0;
}

static int
jsonrpc_scan_object(struct jsonrpc_scan *s, int depth, long msg)
{
	s->pos++;
	jsonrpc_ws(s);
	if (s->pos < s->len && s->p[s->pos] == '}') {
		s->pos++;
		return 0;
	}
	for (;;) {
		if (jsonrpc_scan_member(s, depth, msg) != 0)
			return -1;
		jsonrpc_ws(s);
		if (s->pos >= s->len)
			return jsonrpc_fail(s, "unterminated object");
		if (s->p[s->pos++] == '}')
			return 0;
		if (s->p[s->pos - 1] != ',')
			return jsonrpc_fail(s, "expected ',' or '}'");
		jsonrpc_ws(s);
	}
}

/* top: this is the body's top-level array, whose elements are messages. */
static int
jsonrpc_scan_array(struct jsonrpc_scan *s, int depth, int top)
{
	s->pos++;
	jsonrpc_ws(s);
	if (s->pos < s->len && s->p[s->pos] == ']') {
		s->pos++;
		return 0;
	}
	for (;;) {
		long msg = top && s->nelem < JSONRPC_BATCH_MAX ? (long)s->nelem : -1;

		if (jsonrpc_scan_value(s, depth, msg) != 0)
			return -1;
		if (top)
			s->nelem++;
		jsonrpc_ws(s);
		if (s->pos >= s->len)
			return jsonrpc_fail(s, "unterminated array");
		if (s->p[s->pos++] == ']')
			return 0;
		if (s->p[s->pos - 1] != ',')
			return jsonrpc_fail(s, "expected ',' or ']'");
		jsonrpc_ws(s);
	}
}

/* A value at s->pos; depth counts the containers around it.  msg >= 0 when
 * the value is a message (an object there gets its members noted). */
static int
jsonrpc_scan_value(struct jsonrpc_scan *s, int depth, long msg)
{
	size_t a, b;
	int nul;

	if (s->pos >= s->len)
		return jsonrpc_fail(s, "unexpected end of input");
	switch (s->p[s->pos]) {
	case '{':
		if (depth >= JSONRPC_DEPTH_MAX)
			return jsonrpc_fail(s, "nesting too deep");
		return jsonrpc_scan_object(s, depth + 1, msg);
	case '[':
		if (depth >= JSONRPC_DEPTH_MAX)
			return jsonrpc_fail(s, "nesting too deep");
		return jsonrpc_scan_array(s, depth + 1, depth == 0);
	case '"':
		return jsonrpc_scan_string(s, &a, &b, &nul);
	case 't':
		return jsonrpc_scan_literal(s, "true");
	case 'f':
		return jsonrpc_scan_literal(s, "false");
	case 'n':
		return jsonrpc_scan_literal(s, "null");
	default:
		if (s->p[s->pos] == '-' || (s->p[s->pos] >= '0' && s->p[s->pos] <= '9'))
			return jsonrpc_scan_number(s);
		return jsonrpc_fail(s, "unexpected character");
	}
}

/* The whole body: UTF-8 first (RFC 8259 §8.1), then the grammar. */
static int
jsonrpc_scan(struct jsonrpc_scan *s, const char *body, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->p = (const unsigned char *)body;
	s->len = len;
	if (!valid_utf8(body, len))
		return jsonrpc_fail(s, "invalid UTF-8");
	jsonrpc_ws(s);
	if (jsonrpc_scan_value(s, 0, 0) != 0)
		return -1;
	jsonrpc_ws(s);
	if (s->pos != s->len)
		return jsonrpc_fail(s, "trailing data");
	return 0;
}

/* ---- classification ---------------------------------------------------- */

/* A numeric id keeps its exact text: json-c stores integers in 64 bits
 * (saturating larger ones) and prints -0 as 0. */
static json_object *
jsonrpc_id_ref(json_object *id, const char *body, const struct jsonrpc_span *sp)
{
	char *txt;
	json_object *o;

	if (!json_object_is_type(id, json_type_int) && !json_object_is_type(id, json_type_double))
		return json_object_get(id);
	if (!sp->set)
		return json_object_get(id);
	txt = strndup(body + sp->off, sp->len);
	if (txt == NULL)
		return NULL;
	o = json_object_new_double_s(json_object_get_double(id), txt);
	free(txt);
	return o;
}

static int
jsonrpc_is_id(json_object *id)
{
	return json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_int) ||
	       json_object_is_type(id, json_type_double);
}

static int
jsonrpc_invalid(struct jsonrpc_msg *m, const char *why)
{
	m->kind = JSONRPC_INVALID;
	m->why = why;
	m->method = NULL;
	m->params = NULL;
	return -1;
}

static int
jsonrpc_classify_call(struct jsonrpc_msg *m, json_object *o, json_object *method, int has_id)
{
	const char *name;
	size_t n;

	if (!json_object_is_type(method, json_type_string))
		return jsonrpc_invalid(m, "method must be a string");
	name = json_object_get_string(method);
	n = (size_t)json_object_get_string_len(method);
	if (n == 0 || n > JSONRPC_METHOD_MAX || strlen(name) != n)
		return jsonrpc_invalid(m, "invalid method name");
	if (json_object_object_get_ex(o, "result", NULL) ||
	    json_object_object_get_ex(o, "error", NULL))
		return jsonrpc_invalid(m, "a request carries no result or error");
	if (json_object_object_get_ex(o, "params", &m->params) &&
	    !json_object_is_type(m->params, json_type_object) &&
	    !json_object_is_type(m->params, json_type_array))
		return jsonrpc_invalid(m, "params must be an object or an array");
	m->method = name;
	m->kind = has_id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
	return 0;
}

static void
jsonrpc_classify(struct jsonrpc_msg *m, json_object *o, const char *body,
		 const struct jsonrpc_span *sp, int dup)
{
	json_object *v, *id = NULL, *method;
	int has_id, has_result, has_error;

	memset(m, 0, sizeof(*m));
	if (!json_object_is_type(o, json_type_object)) {
		jsonrpc_invalid(m, "a message must be an object");
		return;
	}
	has_id = json_object_object_get_ex(o, "id", &id);
	/* Echo a usable id even in an error, so the client can match it. */
	if (has_id && jsonrpc_is_id(id))
		m->id = jsonrpc_id_ref(id, body, sp);
	if (dup) {
		jsonrpc_invalid(m, "duplicate member");
		return;
	}
	if (!json_object_object_get_ex(o, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0") != 0) {
		jsonrpc_invalid(m, "jsonrpc must be \"2.0\"");
		return;
	}
	if (json_object_object_get_ex(o, "method", &method)) {
		if (has_id && !jsonrpc_is_id(id))
			jsonrpc_invalid(m, "id must be a string or a number");
		else
			jsonrpc_classify_call(m, o, method, has_id);
		return;
	}
	has_result = json_object_object_get_ex(o, "result", NULL);
	has_error = json_object_object_get_ex(o, "error", NULL);
	/* A response may carry a null id (the peer could not read ours). */
	if (!has_id || (!jsonrpc_is_id(id) && !json_object_is_type(id, json_type_null)) ||
	    has_result == has_error) {
		jsonrpc_invalid(m, "missing method");
		return;
	}
	m->kind = JSONRPC_RESPONSE;
}

static int
jsonrpc_build(struct jsonrpc_body *out, const char *body, size_t len,
	      const struct jsonrpc_scan *s)
{
	json_tokener *tok = json_tokener_new_ex(JSONRPC_DEPTH_MAX + 1);

	if (tok == NULL)
		return -1;
	out->root = json_tokener_parse_ex(tok, body, (int)len);
	if (out->root == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		json_tokener_free(tok);
		json_object_put(out->root);
		out->root = NULL;
		return -1;
	}
	json_tokener_free(tok);
	if (!out->batch) {
		jsonrpc_classify(&out->msg[0], out->root, body, &s->ids[0], s->dup[0]);
		out->n = 1;
		return 0;
	}
	out->n = json_object_array_length(out->root);
	for (size_t i = 0; i < out->n; i++)
		jsonrpc_classify(&out->msg[i], json_object_array_get_idx(out->root, i), body,
				 &s->ids[i], s->dup[i]);
	return 0;
}

static int
jsonrpc_parse_fail(const char **why, const char *text, int code)
{
	if (why != NULL)
		*why = text;
	return code;
}

int
jsonrpc_parse(const char *body, size_t len, size_t max, int allow_batch,
	      struct jsonrpc_body *out, const char **why)
{
	struct jsonrpc_scan s;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (len > max || len > INT32_MAX)
		return jsonrpc_parse_fail(why, "body too large", JSONRPC_TOO_LARGE);
	if (body == NULL || jsonrpc_scan(&s, body, len) != 0)
		return jsonrpc_parse_fail(why, body == NULL ? "empty body" : s.why,
					  JSONRPC_PARSE_ERROR);
	for (i = 0; i < len && strchr(" \t\r\n", body[i]) != NULL; i++)
		;
	if (body[i] != '{' && body[i] != '[')
		return jsonrpc_parse_fail(why, "a message must be an object", JSONRPC_INVALID_REQUEST);
	out->batch = body[i] == '[';
	if (out->batch && !allow_batch)
		return jsonrpc_parse_fail(why, "batches are not supported", JSONRPC_INVALID_REQUEST);
	if (out->batch && (s.nelem == 0 || s.nelem > JSONRPC_BATCH_MAX))
		return jsonrpc_parse_fail(why, s.nelem == 0 ? "empty batch" : "batch too large",
					  JSONRPC_INVALID_REQUEST);
	if (jsonrpc_build(out, body, len, &s) != 0)
		return jsonrpc_parse_fail(why, "parse error", JSONRPC_PARSE_ERROR);
	return 0;
}

void
jsonrpc_body_free(struct jsonrpc_body *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n && i < JSONRPC_BATCH_MAX; i++)
		json_object_put(b->msg[i].id);
	json_object_put(b->root);
	memset(b, 0, sizeof(*b));
}

/* ---- rendering ----------------------------------------------------------- */

void
jsonrpc_reply_init(struct jsonrpc_reply *r, int batch, size_t max)
{
	buf_init(&r->body, max);
	r->batch = batch;
	r->count = 0;
}

/* Serialise o (consumed) as the next response of r. */
static int
jsonrpc_reply_add(struct jsonrpc_reply *r, json_object *o)
{
	const char *s;
	size_t n = 0;
	int rc = -1;

	if (o == NULL)
		return -1;
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
					      &n);
	if (s != NULL) {
		if (r->batch)
			buf_puts(&r->body, r->count == 0 ? "[" : ",");
		rc = buf_append(&r->body, s, n);
	}
	json_object_put(o);
	if (rc == 0)
		r->count++;
	return r->body.overflow ? -1 : rc;
}

/* {"jsonrpc":"2.0","id":id} with the id borrowed (a null id when NULL). */
static json_object *
jsonrpc_envelope(json_object *id)
{
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (json_object_object_add(o, "jsonrpc", json_object_new_string("2.0")) != 0 ||
	    json_object_object_add(o, "id", id != NULL ? json_object_get(id) : NULL) != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int
jsonrpc_reply_result(struct jsonrpc_reply *r, json_object *id, json_object *result)
{
	json_object *o = jsonrpc_envelope(id);

	if (o == NULL || result == NULL || json_object_object_add(o, "result", result) != 0) {
		json_object_put(result);
		json_object_put(o);
		return -1;
	}
	return jsonrpc_reply_add(r, o);
}

static json_object *
jsonrpc_error_object(json_object *id, int code, const char *message)
{
	json_object *o = jsonrpc_envelope(id), *e = json_object_new_object();

	/* JSON-RPC 2.0 §5.1: -32603 is for our failures; what failed stays in
	 * the log, never in the response. */
	if (code == JSONRPC_INTERNAL_ERROR || message == NULL || *message == '\0')
		message = code == JSONRPC_INTERNAL_ERROR ? "Internal error" : "Error";
	if (o == NULL || e == NULL || json_object_object_add(e, "code", json_object_new_int(code)) != 0 ||
	    json_object_object_add(e, "message", json_object_new_string(message)) != 0 ||
	    json_object_object_add(o, "error", e) != 0) {
		json_object_put(e);
		json_object_put(o);
		return NULL;
	}
	return o;
}

int
jsonrpc_reply_error(struct jsonrpc_reply *r, json_object *id, int code, const char *message)
{
	return jsonrpc_reply_add(r, jsonrpc_error_object(id, code, message));
}

long
jsonrpc_reply_finish(struct jsonrpc_reply *r)
{
	if (r->body.overflow)
		return -1;
	if (r->batch && r->count > 0)
		buf_puts(&r->body, "]");
	return r->body.overflow ? -1 : (long)r->count;
}

void
jsonrpc_reply_free(struct jsonrpc_reply *r)
{
	if (r == NULL)
		return;
	buf_free(&r->body);
	r->count = 0;
}

int
jsonrpc_error_text(struct buf *out, int code, const char *message)
{
	struct jsonrpc_reply r;
	int rc;

	jsonrpc_reply_init(&r, 0, 0);
	rc = jsonrpc_reply_error(&r, NULL, code, message);
	buf_reset(out);
	if (rc == 0)
		rc = buf_append(out, r.body.data, r.body.len);
	jsonrpc_reply_free(&r);
	return rc;
}

/* ---- parameters ---------------------------------------------------------- */

/* "<pre> '<name>'<post>", e.g. "missing parameter 'uri'". */
static int
jsonrpc_param_fail(char *err, size_t errlen, const char *pre, const char *name, const char *post)
{
	snprintf(err, errlen, "%s '%s'%s", pre, name, post);
	return JSONRPC_INVALID_PARAMS;
}

int
jsonrpc_params_object(const json_object *params, char *err, size_t errlen)
{
	if (params == NULL || json_object_is_type(params, json_type_object))
		return 0;
	snprintf(err, errlen, "params must be an object");
	return JSONRPC_INVALID_PARAMS;
}

static int
jsonrpc_member_get(json_object *params, const char *name, json_object **v)
{
	*v = NULL;
	return params != NULL && json_object_is_type(params, json_type_object) &&
	       json_object_object_get_ex(params, name, v);
}

int
jsonrpc_param_string(json_object *params, const char *name, int required, size_t maxlen,
		     const char **out, size_t *outlen, char *err, size_t errlen)
{
	json_object *v;
	size_t n;

	*out = NULL;
	*outlen = 0;
	if (!jsonrpc_member_get(params, name, &v))
		return required ? jsonrpc_param_fail(err, errlen, "missing parameter", name, "") : 0;
	if (!json_object_is_type(v, json_type_string))
		return jsonrpc_param_fail(err, errlen, "parameter", name, " must be a string");
	n = (size_t)json_object_get_string_len(v);
	if (memchr(json_object_get_string(v), '\0', n) != NULL)
		return jsonrpc_param_fail(err, errlen, "parameter", name, " must not contain NUL");
	if (maxlen > 0 && n > maxlen) {
		snprintf(err, errlen, "parameter '%s' is too long (at most %zu bytes)", name, maxlen);
		return JSONRPC_INVALID_PARAMS;
	}
	*out = json_object_get_string(v);
	*outlen = n;
	return 0;
}

int
jsonrpc_param_object(json_object *params, const char *name, int required, json_object **out,
		     char *err, size_t errlen)
{
	json_object *v;

	*out = NULL;
	if (!jsonrpc_member_get(params, name, &v))
		return required ? jsonrpc_param_fail(err, errlen, "missing parameter", name, "") : 0;
	if (!json_object_is_type(v, json_type_object))
		return jsonrpc_param_fail(err, errlen, "parameter", name, " must be an object");
	*out = v;
	return 0;
}

/* A client-chosen name is quoted only when short and plain, so the error
 * text stays readable and can never carry a payload. */
static int
jsonrpc_quotable(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\'')
			return 0;
	return 1;
}

int
jsonrpc_params_only(json_object *params, const char *const *allowed, char *err, size_t errlen)
{
	if (params == NULL || !json_object_is_type(params, json_type_object))
		return 0;
	json_object_object_foreach(params, key, val) {
		const char *const *a;

		(void)val;
		for (a = allowed; *a != NULL && strcmp(*a, key) != 0; a++)
			;
		if (*a != NULL)
			continue;
		if (jsonrpc_quotable(key))
			return jsonrpc_param_fail(err, errlen, "unexpected parameter", key, "");
		snprintf(err, errlen, "unexpected parameter");
		return JSONRPC_INVALID_PARAMS;
	}
	return 0;
}
