/*
 * test_jsonrpc: strict parsing, classification, exact id echo, batches,
 * rendering and parameter helpers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "tap.h"

#define MAXB (1024 * 1024)

/* ---- whole-body outcomes ---- */

struct parse_case {
	const char *name;
	const char *body;
	int allow_batch;
	int rc;
};

static const struct parse_case parse_cases[] = {
	{"empty body", "", 0, JSONRPC_PARSE_ERROR},
	{"whitespace only", " \n\t ", 0, JSONRPC_PARSE_ERROR},
	{"unterminated object", "{\"jsonrpc\":\"2.0\"", 0, JSONRPC_PARSE_ERROR},
	{"single quotes", "{'jsonrpc':'2.0'}", 0, JSONRPC_PARSE_ERROR},
	{"NaN", "{\"id\":NaN}", 0, JSONRPC_PARSE_ERROR},
	{"Infinity", "{\"id\":Infinity}", 0, JSONRPC_PARSE_ERROR},
	{"-Infinity", "{\"id\":-Infinity}", 0, JSONRPC_PARSE_ERROR},
	{"trailing comma object", "{\"a\":1,}", 0, JSONRPC_PARSE_ERROR},
	{"trailing comma array", "[1,]", 1, JSONRPC_PARSE_ERROR},
	{"raw newline in string", "{\"a\":\"x\ny\"}", 0, JSONRPC_PARSE_ERROR},
	{"raw tab in string", "{\"a\":\"x\ty\"}", 0, JSONRPC_PARSE_ERROR},
	{"bad escape", "{\"a\":\"\\x\"}", 0, JSONRPC_PARSE_ERROR},
	{"short \\u escape", "{\"a\":\"\\u12\"}", 0, JSONRPC_PARSE_ERROR},
	{"lone high surrogate", "{\"a\":\"\\ud800\"}", 0, JSONRPC_PARSE_ERROR},
	{"lone low surrogate", "{\"a\":\"\\udc00\"}", 0, JSONRPC_PARSE_ERROR},
	{"high + non-low surrogate", "{\"a\":\"\\ud800\\u0041\"}", 0, JSONRPC_PARSE_ERROR},
	{"invalid UTF-8 byte", "{\"a\":\"\xff\"}", 0, JSONRPC_PARSE_ERROR},
	{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", 0, JSONRPC_PARSE_ERROR},
	{"UTF-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", 0, JSONRPC_PARSE_ERROR},
	{"truncated UTF-8", "{\"a\":\"\xe2\x82\"}", 0, JSONRPC_PARSE_ERROR},
	{"byte order mark", "\xef\xbb\xbf{}", 0, JSONRPC_PARSE_ERROR},
	{"trailing garbage", "{} x", 0, JSONRPC_PARSE_ERROR},
	{"two values", "{} {}", 0, JSONRPC_PARSE_ERROR},
	{"comment", "/*x*/{}", 0, JSONRPC_PARSE_ERROR},
	{"leading plus", "{\"id\":+1}", 0, JSONRPC_PARSE_ERROR},
	{"leading zero", "{\"id\":01}", 0, JSONRPC_PARSE_ERROR},
	{"bare dot", "{\"id\":1.}", 0, JSONRPC_PARSE_ERROR},
	{"bare exponent", "{\"id\":1e}", 0, JSONRPC_PARSE_ERROR},
	{"hex number", "{\"id\":0x10}", 0, JSONRPC_PARSE_ERROR},
	{"truncated literal", "{\"a\":tru}", 0, JSONRPC_PARSE_ERROR},
	{"NUL in member name", "{\"id\\u0000\":1}", 0, JSONRPC_PARSE_ERROR},
	{"missing colon", "{\"a\" 1}", 0, JSONRPC_PARSE_ERROR},
	{"number at top", "1", 0, JSONRPC_INVALID_REQUEST},
	{"string at top", "\"x\"", 0, JSONRPC_INVALID_REQUEST},
	{"null at top", "null", 0, JSONRPC_INVALID_REQUEST},
	{"true at top", " true ", 0, JSONRPC_INVALID_REQUEST},
	{"batch refused", "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}]", 0,
	 JSONRPC_INVALID_REQUEST},
	{"empty batch", "[]", 1, JSONRPC_INVALID_REQUEST},
	{"empty object", "{}", 0, 0},
	{"whitespace around", " \r\n{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n ", 0, 0},
	{"valid UTF-8 everywhere", "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"\xc3\xa9\":"
				   "\"\xf0\x9f\x98\x80\\ud83d\\ude00\"}}",
	 0, 0},
};

static void
test_parse_table(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct jsonrpc_body b;
		const char *why = NULL;
		int rc = jsonrpc_parse(c->body, strlen(c->body), MAXB, c->allow_batch, &b, &why);

		is_int(rc, c->rc, "parse: %s", c->name);
		if (rc != 0)
			ok(why != NULL && b.root == NULL, "parse: %s: reason given, nothing kept",
			   c->name);
		jsonrpc_body_free(&b);
	}
}

static void
test_too_large(void)
{
	struct jsonrpc_body b;
	const char *body = "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}";

	is_int(jsonrpc_parse(body, strlen(body), strlen(body) - 1, 0, &b, NULL), JSONRPC_TOO_LARGE,
	       "body one byte over the cap");
	jsonrpc_body_free(&b);
	is_int(jsonrpc_parse(body, strlen(body), strlen(body), 0, &b, NULL), 0,
	       "body exactly at the cap");
	jsonrpc_body_free(&b);
	is_int(jsonrpc_parse("{\"a\":\"\0\"}", 9, MAXB, 0, &b, NULL), JSONRPC_PARSE_ERROR,
	       "raw NUL byte");
	jsonrpc_body_free(&b);
}

static char *
nested(size_t depth, int arrays)
{
	char *s = malloc(8 * depth + 64);
	size_t o = 0;

	/* A message whose params nest depth - 1 more levels. */
	o += (size_t)snprintf(s, 64, "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":");
	for (size_t i = 1; i < depth; i++)
		o += (size_t)snprintf(s + o, 8, "%s", arrays ? "[" : "{\"a\":");
	s[o++] = '1';
	for (size_t i = 1; i < depth; i++)
		s[o++] = arrays ? ']' : '}';
	s[o++] = '}';
	s[o] = '\0';
	return s;
}

static void
test_depth(void)
{
	struct jsonrpc_body b;
	char *s;

	for (int arrays = 0; arrays <= 1; arrays++) {
		s = nested(JSONRPC_DEPTH_MAX, arrays);
		is_int(jsonrpc_parse(s, strlen(s), MAXB, 0, &b, NULL), 0, "depth %d (%s) accepted",
		       JSONRPC_DEPTH_MAX, arrays ? "arrays" : "objects");
		ok(b.n == 1 && b.msg[0].kind == JSONRPC_NOTIFICATION, "deep message classified");
		jsonrpc_body_free(&b);
		free(s);
		s = nested(JSONRPC_DEPTH_MAX + 1, arrays);
		is_int(jsonrpc_parse(s, strlen(s), MAXB, 0, &b, NULL), JSONRPC_PARSE_ERROR,
		       "depth %d (%s) refused", JSONRPC_DEPTH_MAX + 1, arrays ? "arrays" : "objects");
		jsonrpc_body_free(&b);
		free(s);
	}
	/* Hostile: a megabyte of '[' must fail fast without recursing deeply. */
	s = malloc(MAXB + 1);
	memset(s, '[', MAXB);
	s[MAXB] = '\0';
	is_int(jsonrpc_parse(s, MAXB, MAXB, 1, &b, NULL), JSONRPC_PARSE_ERROR, "1 MiB of '['");
	jsonrpc_body_free(&b);
	free(s);
}

/* ---- classification ---- */

struct kind_case {
	const char *name;
	const char *body;
	enum jsonrpc_kind kind;
	const char *method; /* NULL: not checked */
	const char *id;     /* the id as echoed in a reply; NULL: null */
};

static const struct kind_case kind_cases[] = {
	{"request, int id", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", JSONRPC_REQUEST,
	 "ping", "1"},
	{"request, zero id", "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}", JSONRPC_REQUEST,
	 "ping", "0"},
	{"request, negative zero id", "{\"jsonrpc\":\"2.0\",\"id\":-0,\"method\":\"ping\"}",
	 JSONRPC_REQUEST, "ping", "-0"},
	{"request, string id", "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"ping\"}",
	 JSONRPC_REQUEST, "ping", "\"abc\""},
	{"request, empty string id", "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"ping\"}",
	 JSONRPC_REQUEST, "ping", "\"\""},
	{"request, unicode string id", "{\"jsonrpc\":\"2.0\",\"id\":\"\\u00e9\\n\",\"method\":\"p\"}",
	 JSONRPC_REQUEST, "p", "\"\xc3\xa9\\n\""},
	{"request, int64 max id",
	 "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"ping\"}", JSONRPC_REQUEST,
	 "ping", "9223372036854775807"},
	{"request, past uint64 id",
	 "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"method\":\"ping\"}",
	 JSONRPC_REQUEST, "ping", "123456789012345678901234567890"},
	{"request, below int64 id",
	 "{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775809,\"method\":\"ping\"}", JSONRPC_REQUEST,
	 "ping", "-9223372036854775809"},
	{"request, float id", "{\"jsonrpc\":\"2.0\",\"id\":1.50,\"method\":\"ping\"}",
	 JSONRPC_REQUEST, "ping", "1.50"},
	{"request, exponent id", "{\"jsonrpc\":\"2.0\",\"id\":1E+400,\"method\":\"ping\"}",
	 JSONRPC_REQUEST, "ping", "1E+400"},
	{"request, id after method", "{\"method\":\"ping\", \"jsonrpc\":\"2.0\", \"id\" : 7 }",
	 JSONRPC_REQUEST, "ping", "7"},
	{"request, object params", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{}}",
	 JSONRPC_REQUEST, "m", "1"},
	{"request, array params", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":[1]}",
	 JSONRPC_REQUEST, "m", "1"},
	{"request, extra member", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"x\":1,\"x\":2}",
	 JSONRPC_REQUEST, "m", "1"},
	{"notification", "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
	 JSONRPC_NOTIFICATION, "notifications/initialized", NULL},
	{"response, result", "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", JSONRPC_RESPONSE, NULL,
	 "5"},
	{"response, error", "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":1}}",
	 JSONRPC_RESPONSE, NULL, "\"a\""},
	{"response, null id", "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{}}", JSONRPC_RESPONSE,
	 NULL, NULL},
	{"invalid: no jsonrpc", "{\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID, NULL, "1"},
	{"invalid: jsonrpc 1.0", "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: jsonrpc number", "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: method number", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", JSONRPC_INVALID,
	 NULL, "1"},
	{"invalid: method empty", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", JSONRPC_INVALID,
	 NULL, "1"},
	{"invalid: method with NUL", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pi\\u0000ng\"}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: params string", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":\"x\"}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: params null", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":null}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: id object", "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"m\"}", JSONRPC_INVALID,
	 NULL, NULL},
	{"invalid: id array", "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}", JSONRPC_INVALID,
	 NULL, NULL},
	{"invalid: id bool", "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"m\"}", JSONRPC_INVALID,
	 NULL, NULL},
	{"invalid: null request id", "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}",
	 JSONRPC_INVALID, NULL, NULL},
	{"invalid: request with result", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"result\":1}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: result and error", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: response without id", "{\"jsonrpc\":\"2.0\",\"result\":1}", JSONRPC_INVALID, NULL,
	 NULL},
	{"invalid: nothing", "{\"jsonrpc\":\"2.0\"}", JSONRPC_INVALID, NULL, NULL},
	{"invalid: duplicate id", "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"m\"}",
	 JSONRPC_INVALID, NULL, "2"},
	{"invalid: duplicate method", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"method\":\"b\"}",
	 JSONRPC_INVALID, NULL, "1"},
	{"invalid: escaped duplicate id",
	 "{\"jsonrpc\":\"2.0\",\"id\":1,\"\\u0069d\":2,\"method\":\"m\"}", JSONRPC_INVALID, NULL,
	 "2"},
	{"invalid: method too long",
	 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	 JSONRPC_INVALID, NULL, "1"},
};

/* The reply text a message's id produces. */
static void
check_echo(const struct jsonrpc_msg *m, const char *want_id, const char *name)
{
	struct jsonrpc_reply r;
	char want[512];

	jsonrpc_reply_init(&r, 0, 0);
	if (m->kind == JSONRPC_INVALID)
		jsonrpc_reply_error(&r, m->id, JSONRPC_INVALID_REQUEST, "Invalid Request");
	else
		jsonrpc_reply_result(&r, m->id, json_object_new_object());
	is_int(jsonrpc_reply_finish(&r), 1, "%s: one reply", name);
	if (m->kind == JSONRPC_INVALID)
		snprintf(want, sizeof(want),
			 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32600,\"message\":"
			 "\"Invalid Request\"}}",
			 want_id != NULL ? want_id : "null");
	else
		snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}",
			 want_id != NULL ? want_id : "null");
	is_str(r.body.data, want, "%s: id echoed exactly", name);
	jsonrpc_reply_free(&r);
}

static void
test_kinds(void)
{
	for (size_t i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
		const struct kind_case *c = &kind_cases[i];
		struct jsonrpc_body b;
		int rc = jsonrpc_parse(c->body, strlen(c->body), MAXB, 0, &b, NULL);

		is_int(rc, 0, "%s: parses", c->name);
		if (rc != 0)
			continue;
		is_int(b.n, 1, "%s: one message", c->name);
		is_int(b.msg[0].kind, c->kind, "%s: kind", c->name);
		if (c->method != NULL)
			is_str(b.msg[0].method, c->method, "%s: method", c->name);
		if (c->kind == JSONRPC_INVALID)
			ok(b.msg[0].why != NULL && b.msg[0].method == NULL, "%s: reason, no method",
			   c->name);
		if (c->kind != JSONRPC_NOTIFICATION)
			check_echo(&b.msg[0], c->id, c->name);
		else
			ok(b.msg[0].id == NULL, "%s: no id", c->name);
		jsonrpc_body_free(&b);
	}
}

/* ---- batches ---- */

static void
test_batches(void)
{
	const char *body = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
			   "5,"
			   "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890123,\"method\":\"b\"},"
			   "{\"jsonrpc\":\"2.0\",\"id\":2,\"id\":3,\"method\":\"c\"}]";
	struct jsonrpc_body b;
	struct jsonrpc_reply r;
	struct buf big;

	is_int(jsonrpc_parse(body, strlen(body), MAXB, 1, &b, NULL), 0, "batch parses");
	ok(b.batch && b.n == 5, "batch of 5");
	is_int(b.msg[0].kind, JSONRPC_REQUEST, "batch[0] request");
	is_int(b.msg[1].kind, JSONRPC_NOTIFICATION, "batch[1] notification");
	is_int(b.msg[2].kind, JSONRPC_INVALID, "batch[2] not an object");
	is_int(b.msg[3].kind, JSONRPC_REQUEST, "batch[3] request");
	is_int(b.msg[4].kind, JSONRPC_INVALID, "batch[4] duplicate id");
	jsonrpc_reply_init(&r, 1, 0);
	jsonrpc_reply_result(&r, b.msg[0].id, json_object_new_object());
	jsonrpc_reply_error(&r, b.msg[2].id, JSONRPC_INVALID_REQUEST, "x");
	jsonrpc_reply_result(&r, b.msg[3].id, json_object_new_int(1));
	is_int(jsonrpc_reply_finish(&r), 3, "three replies");
	is_str(r.body.data,
	       "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"x\"}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890123,\"result\":1}]",
	       "batch reply is an array with exact ids");
	jsonrpc_reply_free(&r);
	jsonrpc_body_free(&b);

	jsonrpc_reply_init(&r, 1, 0);
	is_int(jsonrpc_reply_finish(&r), 0, "batch of notifications: nothing to send");
	ok(r.body.len == 0, "and no body");
	jsonrpc_reply_free(&r);

	/* JSONRPC_BATCH_MAX + 1 messages. */
	buf_init(&big, 0);
	buf_puts(&big, "[");
	for (int i = 0; i <= JSONRPC_BATCH_MAX; i++)
		buf_printf(&big, "%s{\"jsonrpc\":\"2.0\",\"method\":\"n\"}", i ? "," : "");
	buf_puts(&big, "]");
	is_int(jsonrpc_parse(big.data, big.len, MAXB, 1, &b, NULL), JSONRPC_INVALID_REQUEST,
	       "batch over %d refused", JSONRPC_BATCH_MAX);
	jsonrpc_body_free(&b);
	buf_free(&big);
}

/* ---- rendering ---- */

static void
test_render(void)
{
	struct jsonrpc_reply r;
	struct buf out;

	jsonrpc_reply_init(&r, 0, 0);
	jsonrpc_reply_error(&r, NULL, JSONRPC_INTERNAL_ERROR, "gdbm: /var/lib/x: corrupt");
	jsonrpc_reply_finish(&r);
	is_str(r.body.data,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":"
	       "\"Internal error\"}}",
	       "-32603 never carries internals");
	jsonrpc_reply_free(&r);

	jsonrpc_reply_init(&r, 0, 0);
	jsonrpc_reply_error(&r, NULL, JSONRPC_INVALID_PARAMS, "bad \"x\"\n</script>");
	jsonrpc_reply_finish(&r);
	is_str(r.body.data,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32602,\"message\":"
	       "\"bad \\\"x\\\"\\n</script>\"}}",
	       "messages are JSON-escaped");
	jsonrpc_reply_free(&r);

	jsonrpc_reply_init(&r, 0, 64);
	ok(jsonrpc_reply_result(&r, NULL, json_object_new_string("a long result that will not "
								 "fit in sixty-four bytes")) != 0,
	   "result over the cap fails");
	is_int(jsonrpc_reply_finish(&r), -1, "finish reports the overflow");
	jsonrpc_reply_free(&r);

	buf_init(&out, 0);
	buf_puts(&out, "junk");
	is_int(jsonrpc_error_text(&out, JSONRPC_SERVER_ERROR, "Not Acceptable"), 0, "error_text");
	is_str(out.data,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,\"message\":"
	       "\"Not Acceptable\"}}",
	       "error_text replaces the buffer");
	buf_free(&out);
}

/* ---- parameter helpers ---- */

static void
test_params(void)
{
	json_object *p = json_tokener_parse(
		"{\"s\":\"abc\",\"n\":5,\"o\":{},\"z\":\"a\\u0000b\",\"long\":\"0123456789\"}");
	json_object *o;
	const char *s;
	size_t n;
	char err[JSONRPC_MESSAGE_MAX];

	is_int(jsonrpc_param_string(p, "s", 1, 0, &s, &n, err, sizeof(err)), 0, "string ok");
	ok(s != NULL && n == 3 && strcmp(s, "abc") == 0, "string value");
	is_int(jsonrpc_param_string(p, "missing", 0, 0, &s, &n, err, sizeof(err)), 0,
	       "optional absent ok");
	ok(s == NULL, "optional absent is NULL");
	is_int(jsonrpc_param_string(p, "missing", 1, 0, &s, &n, err, sizeof(err)),
	       JSONRPC_INVALID_PARAMS, "required absent");
	is_str(err, "missing parameter 'missing'", "names the parameter");
	is_int(jsonrpc_param_string(p, "n", 1, 0, &s, &n, err, sizeof(err)),
	       JSONRPC_INVALID_PARAMS, "number is not a string");
	is_str(err, "parameter 'n' must be a string", "wrong type message");
	is_int(jsonrpc_param_string(p, "z", 1, 0, &s, &n, err, sizeof(err)),
	       JSONRPC_INVALID_PARAMS, "embedded NUL refused");
	is_int(jsonrpc_param_string(p, "long", 1, 9, &s, &n, err, sizeof(err)),
	       JSONRPC_INVALID_PARAMS, "over maxlen refused");
	is_str(err, "parameter 'long' is too long (at most 9 bytes)", "too long message");
	is_int(jsonrpc_param_string(p, "long", 1, 10, &s, &n, err, sizeof(err)), 0,
	       "at maxlen accepted");
	is_int(jsonrpc_param_string(NULL, "s", 1, 0, &s, &n, err, sizeof(err)),
	       JSONRPC_INVALID_PARAMS, "no params at all");
	is_int(jsonrpc_param_object(p, "o", 1, &o, err, sizeof(err)), 0, "object ok");
	is_int(jsonrpc_param_object(p, "s", 1, &o, err, sizeof(err)), JSONRPC_INVALID_PARAMS,
	       "string is not an object");
	is_str(err, "parameter 's' must be an object", "object type message");
	is_int(jsonrpc_params_object(p, err, sizeof(err)), 0, "params object");
	is_int(jsonrpc_params_object(NULL, err, sizeof(err)), 0, "params absent");
	o = json_object_new_array();
	is_int(jsonrpc_params_object(o, err, sizeof(err)), JSONRPC_INVALID_PARAMS,
	       "params array refused");
	json_object_put(o);
	{
		static const char *const allowed[] = {"s", "n", "o", "z", "long", NULL};
		static const char *const fewer[] = {"s", NULL};
		json_object *q = json_tokener_parse("{\"s\":1,\"this key is far too long to be quoted "
						    "back to the client in an error text\":1}");

		is_int(jsonrpc_params_only(p, allowed, err, sizeof(err)), 0, "all known");
		is_int(jsonrpc_params_only(p, fewer, err, sizeof(err)), JSONRPC_INVALID_PARAMS,
		       "unknown member refused");
		is_str(err, "unexpected parameter 'n'", "short unknown name quoted");
		is_int(jsonrpc_params_only(q, fewer, err, sizeof(err)), JSONRPC_INVALID_PARAMS,
		       "long unknown member refused");
		is_str(err, "unexpected parameter", "long unknown name not quoted");
		json_object_put(q);
	}
	json_object_put(p);
}

int
main(void)
{
	test_parse_table();
	test_too_large();
	test_depth();
	test_kinds();
	test_batches();
	test_render();
	test_params();
	return tap_done();
}
