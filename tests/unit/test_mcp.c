/*
 * test_mcp: every method and tool through jsonrpc_parse + mcp_handle,
 * including bad params, scopes, revocation, per-user isolation and the
 * shared namespace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mcp.h"
#include "scope.h"
#include "snippets.h"
#include "tap.h"

static char dir[] = "/tmp/test_mcp.XXXXXX";

struct env {
	struct config cfg;
	struct store *st;
	struct token_access who;
	int status; /* last mcp_handle status */
};

static struct env E;

/* ---- helpers ---- */

static int
grant_new(struct token_access *who)
{
	unsigned char raw[16];
	char tmp[CRYPTO_B64URL_LEN(16)];

	if (crypto_random(raw, sizeof(raw)) != 0 ||
	    crypto_b64url_encode(raw, sizeof(raw), tmp, sizeof(tmp)) != TOKEN_GRANT_ID_LEN)
		return -1;
	memcpy(who->grant_id, tmp, TOKEN_GRANT_ID_LEN + 1);
	return store_put(E.st, STORE_GRANT, who->grant_id, strlen(who->grant_id), "{}", 2,
			 time(NULL) + 3600, STORE_PUT_REPLACE);
}

static void
user_set(struct token_access *who, const char *user, const char *name, unsigned scope)
{
	memset(who, 0, sizeof(*who));
	snprintf(who->user, sizeof(who->user), "%s", user);
	snprintf(who->name, sizeof(who->name), "%s", name);
	who->scope = scope;
	who->exp = time(NULL) + 3600;
	grant_new(who);
}

/* One body through the MCP layer as `who`; the reply parsed back (NULL
 * when nothing was written).  *negotiated (may be NULL) gets initialize's. */
static json_object *
run_as(const struct token_access *who, const char *body, char *negotiated)
{
	struct mcp_call c = {&E.cfg, E.st, who, "2025-06-18", 0, ""};
	struct jsonrpc_body b;
	struct jsonrpc_reply r;
	json_object *out = NULL;

	if (jsonrpc_parse(body, strlen(body), 1 << 20, 1, &b, NULL) != 0) {
		E.status = -100;
		return NULL;
	}
	jsonrpc_reply_init(&r, b.batch, 0);
	E.status = MCP_OK;
	for (size_t i = 0; i < b.n && E.status == MCP_OK; i++)
		E.status = mcp_handle(&c, &b.msg[i], &r);
	if (jsonrpc_reply_finish(&r) > 0)
		out = json_tokener_parse(r.body.data);
	if (negotiated != NULL)
		snprintf(negotiated, MCP_VERSION_MAX, "%s", c.negotiated);
	jsonrpc_reply_free(&r);
	jsonrpc_body_free(&b);
	return out;
}

static json_object *
run(const char *body)
{
	return run_as(&E.who, body, NULL);
}

/* Walk "a.b.0.c" through objects and arrays. */
static json_object *
jget(json_object *o, const char *path)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); o != NULL && tok != NULL;
	     tok = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			char *end;
			long i = strtol(tok, &end, 10);

			o = *end == '\0' && i >= 0 ? json_object_array_get_idx(o, (size_t)i) : NULL;
		} else if (!json_object_object_get_ex(o, tok, &o)) {
			o = NULL;
		}
	}
	return o;
}

static const char *
jstr(json_object *o, const char *path)
{
	json_object *v = jget(o, path);

	return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
								    : NULL;
}

static long long
jint(json_object *o, const char *path)
{
	json_object *v = jget(o, path);

	return v != NULL ? (long long)json_object_get_int64(v) : -999999;
}

static int
jbool(json_object *o, const char *path)
{
	json_object *v = jget(o, path);

	return v != NULL && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v)
								      : -1;
}

/* tools/call body for a tool and its arguments (JSON text or NULL). */
static const char *
call_body(const char *tool, const char *args)
{
	static char body[4096];

	if (args != NULL)
		snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
			 "{\"name\":\"%s\",\"arguments\":%s}}",
			 tool, args);
	else
		snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
			 "{\"name\":\"%s\"}}",
			 tool);
	return body;
}

static json_object *
call_as(const struct token_access *who, const char *tool, const char *args)
{
	return run_as(who, call_body(tool, args), NULL);
}

static json_object *
call(const char *tool, const char *args)
{
	return call_as(&E.who, tool, args);
}

/* Expect a JSON-RPC error with code; message (may be NULL) a substring. */
static void
expect_error(json_object *r, int code, const char *message, const char *name)
{
	const char *m = jstr(r, "error.message");

	is_int(jint(r, "error.code"), code, "%s: error %d", name, code);
	if (message != NULL)
		ok(m != NULL && strstr(m, message) != NULL, "%s: message mentions \"%s\" (%s)", name,
		   message, m != NULL ? m : "none");
	json_object_put(r);
}

/* ---- lifecycle ---- */

static void
test_versions(void)
{
	ok(mcp_version_supported("2024-11-05") && mcp_version_supported("2025-03-26") &&
		   mcp_version_supported("2025-06-18") && mcp_version_supported("2025-11-25"),
	   "four revisions supported");
	ok(!mcp_version_supported("2025-01-01") && !mcp_version_supported("") &&
		   !mcp_version_supported(NULL) && !mcp_version_supported("2025-06-18 "),
	   "others not");
	ok(mcp_version_allows_batch("2025-03-26") && !mcp_version_allows_batch("2025-06-18") &&
		   !mcp_version_allows_batch("2025-11-25") && !mcp_version_allows_batch("2024-11-05"),
	   "batches only in 2025-03-26");
}

static void
test_initialize(void)
{
	static const char *const asked[][2] = {
		{"2024-11-05", "2024-11-05"}, {"2025-03-26", "2025-03-26"},
		{"2025-06-18", "2025-06-18"}, {"2025-11-25", "2025-11-25"},
		{"2099-01-01", MCP_VERSION_LATEST}, {"", MCP_VERSION_LATEST},
	};
	char body[512], neg[MCP_VERSION_MAX];
	json_object *r;

	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"id\":\"init\",\"method\":\"initialize\",\"params\":"
			 "{\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":"
			 "{\"name\":\"t\",\"version\":\"1\"}}}",
			 asked[i][0]);
		r = run_as(&E.who, body, neg);
		is_str(jstr(r, "result.protocolVersion"), asked[i][1], "initialize %s -> %s",
		       asked[i][0], asked[i][1]);
		is_str(neg, asked[i][1], "negotiated version reported to the transport");
		if (i == 0) {
			is_str(jstr(r, "id"), "init", "initialize: id echoed");
			is_str(jstr(r, "result.serverInfo.name"), "test server",
			       "serverInfo.name from server_name");
			ok(jstr(r, "result.serverInfo.version") != NULL, "serverInfo.version");
			ok(jstr(r, "result.instructions") != NULL, "instructions");
			is_int(jbool(r, "result.capabilities.tools.listChanged"), 0, "tools capability");
			ok(jget(r, "result.capabilities.resources") != NULL &&
				   jget(r, "result.capabilities.completions") != NULL &&
				   jget(r, "result.capabilities.logging") != NULL,
			   "resources, completions, logging capabilities");
		}
		json_object_put(r);
	}
	r = run_as(&E.who, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}",
		   neg);
	is_str(neg, "", "failed initialize negotiates nothing");
	expect_error(r, JSONRPC_INVALID_PARAMS, "'protocolVersion'", "initialize without version");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
			 "{\"protocolVersion\":20250618}}"),
		     JSONRPC_INVALID_PARAMS, "'protocolVersion' must be a string",
		     "initialize numeric version");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
			 "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":[]}}"),
		     JSONRPC_INVALID_PARAMS, "'capabilities'", "initialize capabilities array");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}"),
		     JSONRPC_INVALID_PARAMS, "'protocolVersion'", "initialize without params");
}

static void
test_basics(void)
{
	json_object *r = run("{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"ping\"}");

	ok(r != NULL && json_object_is_type(jget(r, "result"), json_type_object) &&
		   json_object_object_length(jget(r, "result")) == 0,
	   "ping -> {}");
	is_int(jint(r, "id"), 42, "ping id");
	json_object_put(r);
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}"),
		     JSONRPC_METHOD_NOT_FOUND, "Method not found", "unknown method");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":[]}"),
		     JSONRPC_INVALID_PARAMS, "params must be an object", "positional params");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":5}"), JSONRPC_INVALID_REQUEST,
		     "method", "invalid request answered");
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	ok(r == NULL && E.status == MCP_OK, "notifications/initialized: no reply");
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"no/such/notification\"}");
	ok(r == NULL && E.status == MCP_OK, "unknown notification: no reply");
	r = run("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}");
	ok(r == NULL && E.status == MCP_OK, "client response: no reply");
	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\",\"params\":"
		"{\"level\":\"warning\"}}");
	ok(r != NULL && jget(r, "result") != NULL, "logging/setLevel warning");
	json_object_put(r);
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\",\"params\":"
			 "{\"level\":\"loud\"}}"),
		     JSONRPC_INVALID_PARAMS, "'level'", "logging/setLevel bad level");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\"}"),
		     JSONRPC_INVALID_PARAMS, "'level'", "logging/setLevel missing level");
	/* A batch: replies for the requests only, in order. */
	r = run("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}]");
	ok(json_object_is_type(r, json_type_array) && json_object_array_length(r) == 2 &&
		   jint(r, "0.id") == 1 && jint(r, "1.error.code") == JSONRPC_METHOD_NOT_FOUND,
	   "batch: two replies");
	json_object_put(r);
}

/* ---- tools ---- */

static void
test_tools_list(void)
{
	static const char *const names[] = {"hello_mcp", "save_snippet", "get_snippet",
					    "list_snippets", "delete_snippet"};
	json_object *r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	json_object *tools = jget(r, "result.tools");

	ok(tools != NULL && json_object_array_length(tools) == 5, "five tools");
	for (size_t i = 0; i < 5; i++) {
		json_object *t = json_object_array_get_idx(tools, i);

		is_str(jstr(t, "name"), names[i], "tool %zu is %s", i, names[i]);
		is_str(jstr(t, "inputSchema.type"), "object", "%s: inputSchema object", names[i]);
		is_int(jbool(t, "inputSchema.additionalProperties"), 0,
		       "%s: no additional properties", names[i]);
		is_str(jstr(t, "outputSchema.type"), "object", "%s: outputSchema", names[i]);
		ok(jstr(t, "description") != NULL && jstr(t, "title") != NULL,
		   "%s: description and title", names[i]);
		is_int(jbool(t, "annotations.openWorldHint"), 0, "%s: closed world", names[i]);
	}
	is_int(jbool(tools, "2.annotations.readOnlyHint"), 1, "get_snippet read-only");
	is_int(jbool(tools, "3.annotations.readOnlyHint"), 1, "list_snippets read-only");
	is_int(jbool(tools, "1.annotations.readOnlyHint"), 0, "save_snippet writes");
	is_int(jbool(tools, "1.annotations.destructiveHint"), 1, "save_snippet may overwrite");
	is_int(jbool(tools, "1.annotations.idempotentHint"), 1, "save_snippet idempotent");
	is_int(jbool(tools, "4.annotations.destructiveHint"), 1, "delete_snippet destructive");
	is_str(jstr(tools, "2.inputSchema.required.0"), "snippetname", "get_snippet requires name");
	is_int(jint(tools, "2.inputSchema.properties.snippetname.maxLength"), SNIPPET_NAME_MAX,
	       "name maxLength");
	is_int(jint(tools, "2.inputSchema.properties.snippetname.minLength"), 1, "name minLength");
	ok(jstr(tools, "2.inputSchema.properties.snippetname.pattern") != NULL, "name pattern");
	is_int(jint(tools, "1.inputSchema.properties.snippet.maxLength"), E.cfg.snippet_max,
	       "snippet maxLength from snippet_max");
	ok(jget(tools, "1.inputSchema.required.1") != NULL, "save_snippet requires both");
	json_object_put(r);
}

static void
test_tool_calls(void)
{
	json_object *r;
	char *big;
	char args[512];

	r = call("hello_mcp", NULL);
	ok(jstr(r, "result.content.0.text") != NULL &&
		   strstr(jstr(r, "result.content.0.text"), "Alice Example") != NULL,
	   "hello names the user");
	is_str(jstr(r, "result.structuredContent.user"), "Alice Example", "hello structured");
	is_int(jbool(r, "result.isError"), 0, "hello not an error");
	json_object_put(r);
	expect_error(call("hello_mcp", "{\"x\":1}"), JSONRPC_INVALID_PARAMS,
		     "unexpected parameter 'x'", "hello with an argument");

	r = call("save_snippet", "{\"snippetname\":\"greeting\",\"snippet\":\"SECRET-CONTENT\"}");
	is_int(jbool(r, "result.isError"), 0, "save ok");
	ok(strstr(jstr(r, "result.content.0.text"), "greeting") != NULL &&
		   strstr(jstr(r, "result.content.0.text"), "SECRET-CONTENT") == NULL,
	   "save names the snippet, never echoes the content");
	is_str(jstr(r, "result.structuredContent.snippetname"), "greeting", "save structured name");
	is_int(jint(r, "result.structuredContent.bytes"), 14, "save structured bytes");
	is_int(jbool(r, "result.structuredContent.created"), 1, "save created");
	json_object_put(r);
	r = call("save_snippet", "{\"snippetname\":\"greeting\",\"snippet\":\"h\\u00e9llo\"}");
	is_int(jbool(r, "result.structuredContent.created"), 0, "save again replaces");
	json_object_put(r);

	r = call("get_snippet", "{\"snippetname\":\"greeting\"}");
	is_str(jstr(r, "result.content.0.text"), "h\xc3\xa9llo", "get returns the text");
	is_str(jstr(r, "result.structuredContent.snippet"), "h\xc3\xa9llo", "get structured");
	is_int(jint(r, "result.structuredContent.bytes"), 6, "get bytes");
	is_int(jbool(r, "result.isError"), 0, "get not an error");
	json_object_put(r);

	r = call("get_snippet", "{\"snippetname\":\"nope\"}");
	is_int(jbool(r, "result.isError"), 1, "get missing: isError");
	is_str(jstr(r, "result.content.0.text"), "no snippet named 'nope'", "get missing message");
	ok(jget(r, "error") == NULL, "get missing is not a protocol error");
	json_object_put(r);

	expect_error(call("get_snippet", "{}"), JSONRPC_INVALID_PARAMS, "'snippetname'",
		     "get without name");
	expect_error(call("get_snippet", NULL), JSONRPC_INVALID_PARAMS, "'snippetname'",
		     "get without arguments");
	expect_error(call("get_snippet", "{\"snippetname\":5}"), JSONRPC_INVALID_PARAMS,
		     "'snippetname' must be a string", "get numeric name");
	expect_error(call("get_snippet", "{\"snippetname\":\"../etc/passwd\"}"),
		     JSONRPC_INVALID_PARAMS, "'snippetname'", "get path name");
	expect_error(call("get_snippet", "{\"snippetname\":\".hidden\"}"), JSONRPC_INVALID_PARAMS,
		     "'snippetname'", "get dot name");
	expect_error(call("get_snippet", "{\"snippetname\":\"\"}"), JSONRPC_INVALID_PARAMS,
		     "'snippetname'", "get empty name");
	expect_error(call("get_snippet", "{\"snippetname\":\"a\\u0000b\"}"),
		     JSONRPC_INVALID_PARAMS, "'snippetname'", "get NUL name");
	expect_error(call("get_snippet", "{\"snippetname\":\"x\",\"extra\":1}"),
		     JSONRPC_INVALID_PARAMS, "'extra'", "get extra argument");
	expect_error(call("get_snippet", "[1]"), JSONRPC_INVALID_PARAMS, "'arguments'",
		     "arguments not an object");
	expect_error(call("save_snippet", "{\"snippetname\":\"x\"}"), JSONRPC_INVALID_PARAMS,
		     "'snippet'", "save without content");
	expect_error(call("save_snippet", "{\"snippetname\":\"x\",\"snippet\":[]}"),
		     JSONRPC_INVALID_PARAMS, "'snippet' must be a string", "save array content");
	expect_error(call("save_snippet", "{\"snippetname\":\"x\",\"snippet\":\"a\\u0000\"}"),
		     JSONRPC_INVALID_PARAMS, "'snippet'", "save NUL content");
	expect_error(call("no_such_tool", NULL), JSONRPC_INVALID_PARAMS, "unknown tool",
		     "unknown tool");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}"),
		     JSONRPC_INVALID_PARAMS, "'name'", "tools/call without name");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
			 "{\"name\":7}}"),
		     JSONRPC_INVALID_PARAMS, "'name' must be a string", "tools/call numeric name");

	/* Size bound: snippet_max bytes pass, one more does not. */
	big = malloc((size_t)E.cfg.snippet_max + 64);
	memset(big, 'x', (size_t)E.cfg.snippet_max + 1);
	big[E.cfg.snippet_max] = '\0';
	{
		size_t n = (size_t)E.cfg.snippet_max * 2 + 512;
		char *body = malloc(n);

		snprintf(body, n,
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
			 "\"save_snippet\",\"arguments\":{\"snippetname\":\"big\",\"snippet\":\"%s\"}}}",
			 big);
		r = run(body);
		is_int(jbool(r, "result.isError"), 0, "content of exactly snippet_max saved");
		json_object_put(r);
		big[E.cfg.snippet_max] = 'x';
		big[E.cfg.snippet_max + 1] = '\0';
		snprintf(body, n,
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
			 "\"save_snippet\",\"arguments\":{\"snippetname\":\"big2\",\"snippet\":\"%s\"}}}",
			 big);
		expect_error(run(body), JSONRPC_INVALID_PARAMS, "'snippet' is too long",
			     "content one byte over snippet_max");
		free(body);
	}
	free(big);
	r = call("get_snippet", "{\"snippetname\":\"big2\"}");
	is_int(jbool(r, "result.isError"), 1, "oversized snippet was not saved");
	json_object_put(r);

	r = call("list_snippets", NULL);
	is_str(jstr(r, "result.structuredContent.snippets.0"), "big", "list: big");
	is_str(jstr(r, "result.structuredContent.snippets.1"), "greeting", "list: greeting");
	is_int(jbool(r, "result.structuredContent.truncated"), 0, "list not truncated");
	is_str(jstr(r, "result.content.0.text"), "big\ngreeting", "list text");
	json_object_put(r);
	expect_error(call("list_snippets", "{\"all\":true}"), JSONRPC_INVALID_PARAMS, "'all'",
		     "list with an argument");

	snprintf(args, sizeof(args), "{\"snippetname\":\"big\"}");
	r = call("delete_snippet", args);
	is_int(jbool(r, "result.isError"), 0, "delete ok");
	is_int(jbool(r, "result.structuredContent.deleted"), 1, "delete structured");
	json_object_put(r);
	r = call("delete_snippet", args);
	is_int(jbool(r, "result.isError"), 1, "delete again: isError");
	is_str(jstr(r, "result.content.0.text"), "no snippet named 'big'", "delete missing message");
	json_object_put(r);
	expect_error(call("delete_snippet", "{\"snippetname\":\"a/b\"}"), JSONRPC_INVALID_PARAMS,
		     "'snippetname'", "delete bad name");
}

/* ---- resources and completion ---- */

static void
test_resources(void)
{
	json_object *r;
	char name[32], body[256];
	const char *cursor;
	size_t seen = 0;
	int pages = 0;

	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/templates/list\"}");
	is_str(jstr(r, "result.resourceTemplates.0.uriTemplate"), "snippet:///{name}",
	       "template uri");
	json_object_put(r);

	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":"
		"{\"uri\":\"snippet:///greeting\"}}");
	is_str(jstr(r, "result.contents.0.uri"), "snippet:///greeting", "read uri");
	is_str(jstr(r, "result.contents.0.text"), "h\xc3\xa9llo", "read text");
	is_str(jstr(r, "result.contents.0.mimeType"), "text/plain", "read mime type");
	json_object_put(r);
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":"
			 "{\"uri\":\"snippet:///missing\"}}"),
		     JSONRPC_RESOURCE_NOT_FOUND, "not found", "read missing");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":"
			 "{\"uri\":\"file:///etc/passwd\"}}"),
		     JSONRPC_INVALID_PARAMS, "'uri'", "read foreign scheme");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":"
			 "{\"uri\":\"snippet:///../x\"}}"),
		     JSONRPC_INVALID_PARAMS, "'uri'", "read traversal");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\"}"),
		     JSONRPC_INVALID_PARAMS, "'uri'", "read without uri");

	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "r%03d", i);
		snippet_put(E.st, NULL, E.who.user, name, "x", 1, 10, NULL);
	}
	/* greeting + r000..r149 = 151 resources, pages of 100. */
	snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}");
	do {
		r = run(body);
		seen += json_object_array_length(jget(r, "result.resources"));
		if (pages == 0)
			is_str(jstr(r, "result.resources.0.uri"), "snippet:///greeting",
			       "resources sorted, with uris");
		cursor = jstr(r, "result.nextCursor");
		if (cursor != NULL)
			snprintf(body, sizeof(body),
				 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\","
				 "\"params\":{\"cursor\":\"%s\"}}",
				 cursor);
		pages++;
		json_object_put(r);
	} while (cursor != NULL && pages < 10);
	is_int(seen, 151, "resources/list pages cover everything");
	is_int(pages, 2, "two pages");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\",\"params\":"
			 "{\"cursor\":\"../x\"}}"),
		     JSONRPC_INVALID_PARAMS, "'cursor'", "bad cursor");

	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\",\"params\":"
		"{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"snippet:///{name}\"},"
		"\"argument\":{\"name\":\"name\",\"value\":\"r14\"}}}");
	is_int(json_object_array_length(jget(r, "result.completion.values")), 10,
	       "completion r14: ten values");
	is_str(jstr(r, "result.completion.values.0"), "r140", "completion sorted");
	is_int(jint(r, "result.completion.total"), 10, "completion total");
	is_int(jbool(r, "result.completion.hasMore"), 0, "completion no more");
	json_object_put(r);
	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\",\"params\":"
		"{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"snippet:///{name}\"},"
		"\"argument\":{\"name\":\"name\",\"value\":\"\"}}}");
	is_int(json_object_array_length(jget(r, "result.completion.values")), 100,
	       "completion capped at 100");
	is_int(jbool(r, "result.completion.hasMore"), 1, "completion hasMore");
	json_object_put(r);
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\","
			 "\"params\":{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"p\"},"
			 "\"argument\":{\"name\":\"a\",\"value\":\"\"}}}"),
		     JSONRPC_INVALID_PARAMS, "'ref'", "completion for a prompt");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\","
			 "\"params\":{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"other:///{x}\"},"
			 "\"argument\":{\"name\":\"x\",\"value\":\"\"}}}"),
		     JSONRPC_INVALID_PARAMS, "'ref'", "completion for another template");
	expect_error(run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\","
			 "\"params\":{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"snippet:///{name}\"}}}"),
		     JSONRPC_INVALID_PARAMS, "'argument'", "completion without argument");
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "r%03d", i);
		snippet_delete(E.st, NULL, E.who.user, name);
	}
}

/* ---- scopes, isolation, revocation ---- */

static unsigned
scope_of(const char *body)
{
	struct jsonrpc_body b;
	unsigned s;

	if (jsonrpc_parse(body, strlen(body), 1 << 20, 0, &b, NULL) != 0)
		return 0xdead;
	s = mcp_scope_needed(&b.msg[0]);
	jsonrpc_body_free(&b);
	return s;
}

static void
test_scopes(void)
{
	is_int(scope_of(call_body("get_snippet", "{}")), SCOPE_SNIPPETS_READ, "get needs read");
	is_int(scope_of(call_body("list_snippets", NULL)), SCOPE_SNIPPETS_READ, "list needs read");
	is_int(scope_of(call_body("save_snippet", "{}")), SCOPE_SNIPPETS_WRITE, "save needs write");
	is_int(scope_of(call_body("delete_snippet", "{}")), SCOPE_SNIPPETS_WRITE,
	       "delete needs write");
	is_int(scope_of(call_body("hello_mcp", NULL)), 0, "hello needs none");
	is_int(scope_of(call_body("nope", NULL)), 0, "unknown tool needs none");
	is_int(scope_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\"}"),
	       SCOPE_SNIPPETS_READ, "resources/read needs read");
	is_int(scope_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}"),
	       SCOPE_SNIPPETS_READ, "resources/list needs read");
	is_int(scope_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\"}"),
	       SCOPE_SNIPPETS_READ, "completion needs read");
	is_int(scope_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"), 0,
	       "tools/list needs none");
	is_int(scope_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}"), 0,
	       "initialize needs none");
	is_int(scope_of("{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":"
			"{\"name\":\"save_snippet\"}}"),
	       0, "a notification needs none (it is not executed)");
}

static void
test_isolation(void)
{
	struct token_access bob;
	json_object *r;

	user_set(&bob, "local:bob", "", SCOPE_ALL);
	r = call_as(&bob, "get_snippet", "{\"snippetname\":\"greeting\"}");
	is_int(jbool(r, "result.isError"), 1, "bob cannot read alice's snippet");
	json_object_put(r);
	r = call_as(&bob, "list_snippets", NULL);
	is_int(json_object_array_length(jget(r, "result.structuredContent.snippets")), 0,
	       "bob lists nothing");
	json_object_put(r);
	r = call_as(&bob, "hello_mcp", NULL);
	is_str(jstr(r, "result.structuredContent.user"), "local:bob",
	       "hello falls back to the user id without a display name");
	json_object_put(r);
	r = call_as(&bob, "save_snippet", "{\"snippetname\":\"greeting\",\"snippet\":\"bob\"}");
	json_object_put(r);
	r = call("get_snippet", "{\"snippetname\":\"greeting\"}");
	is_str(jstr(r, "result.structuredContent.snippet"), "h\xc3\xa9llo",
	       "bob's save did not touch alice's");
	json_object_put(r);

	/* Team namespace: everyone sees the same snippets. */
	E.cfg.shared_snippets = 1;
	r = call_as(&bob, "save_snippet", "{\"snippetname\":\"team\",\"snippet\":\"shared\"}");
	json_object_put(r);
	r = call("get_snippet", "{\"snippetname\":\"team\"}");
	is_str(jstr(r, "result.structuredContent.snippet"), "shared",
	       "shared namespace: alice reads bob's");
	json_object_put(r);
	r = call("get_snippet", "{\"snippetname\":\"greeting\"}");
	is_int(jbool(r, "result.isError"), 1, "shared namespace does not expose private ones");
	json_object_put(r);
	r = run("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
		"{\"protocolVersion\":\"2025-06-18\"}}");
	ok(strstr(jstr(r, "result.instructions"), "shares") != NULL, "instructions say shared");
	json_object_put(r);
	E.cfg.shared_snippets = 0;
	r = call("get_snippet", "{\"snippetname\":\"team\"}");
	is_int(jbool(r, "result.isError"), 1, "private again: team snippet not visible");
	json_object_put(r);
}

static void
test_revoked(void)
{
	struct token_access eve;
	json_object *r;
	struct snippet s;

	user_set(&eve, "local:eve", "Eve", SCOPE_ALL);
	r = call_as(&eve, "save_snippet", "{\"snippetname\":\"k\",\"snippet\":\"v\"}");
	is_int(jbool(r, "result.isError"), 0, "live grant works");
	json_object_put(r);
	store_del(E.st, STORE_GRANT, eve.grant_id, strlen(eve.grant_id));
	r = call_as(&eve, "get_snippet", "{\"snippetname\":\"k\"}");
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: get answers nothing, MCP_REVOKED");
	r = call_as(&eve, "save_snippet", "{\"snippetname\":\"k2\",\"snippet\":\"v\"}");
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: save refused");
	is_int(snippet_get(E.st, NULL, "local:eve", "k2", &s), SNIPPET_NOTFOUND,
	       "revoked: nothing saved");
	r = call_as(&eve, "delete_snippet", "{\"snippetname\":\"k\"}");
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: delete refused");
	is_int(snippet_get(E.st, NULL, "local:eve", "k", &s), SNIPPET_OK, "revoked: nothing deleted");
	snippet_free(&s);
	r = call_as(&eve, "hello_mcp", NULL);
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: hello refused");
	r = run_as(&eve, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", NULL);
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: ping refused");
	r = run_as(&eve, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}", NULL);
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: unknown method refused");
	r = run_as(&eve, "{\"jsonrpc\":\"2.0\",\"id\":1}", NULL);
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: invalid request refused");
	r = call_as(&eve, "get_snippet", "{\"snippetname\":\"../x\"}");
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: bad params refused");
	r = run_as(&eve, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", NULL);
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: notification refused");
	r = run_as(&eve, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}", NULL);
	ok(r == NULL && E.status == MCP_REVOKED, "revoked: resources/list refused");
}

int
main(void)
{
	char err[256], path[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	log_set_level(LOG_WARN); /* keep the TAP output readable */
	snprintf(path, sizeof(path), "%s/store.db", dir);
	config_defaults(&E.cfg);
	snprintf(E.cfg.server_name, sizeof(E.cfg.server_name), "test server");
	E.cfg.snippet_max = 1000;
	E.st = store_open(path, 2000, err, sizeof(err));
	ok(E.st != NULL, "store opens");
	if (E.st == NULL)
		return tap_done();
	user_set(&E.who, "local:alice", "Alice Example", SCOPE_ALL);
	test_versions();
	test_initialize();
	test_basics();
	test_tools_list();
	test_tool_calls();
	test_resources();
	test_scopes();
	test_isolation();
	test_revoked();
	store_close(E.st);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store.db.lock", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store.db.turn", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
